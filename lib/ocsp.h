/* OCSP stapling and signed certificate timestamps (RFC 6066 §8, RFC 8446
 * §4.4.2.1, RFC 6962 §3.3): the connection's state of them and ocsp.c's
 * functions. */
#ifndef KITLS_OCSP_H
#define KITLS_OCSP_H

#include "internal.h"

/* Embedded in struct kitls_conn as `ocsp`.  Written only by ocsp.c and its
 * extension rows (lib/ext/status.c); conn.c frees it. */
struct kitls_ocsp_state {
    int status_requested;  /* server: client sent status_request */
    const uint8_t *staple; /* client: leaf's stapled response, during Certificate */
    size_t staple_len;
    int status;        /* client: enum kitls_ocsp_status of the staple */
    int sct_requested; /* server: client sent signed_certificate_timestamp */
    uint8_t *resp;     /* client: raw staple kept for the application */
    size_t resp_len;
    uint8_t *sct_list; /* client: raw SCT list */
    size_t sct_list_len;
};

/* ocsp.c */
/** Client: check the stapled response (c->ocsp.staple) for leaf/issuer. */
int kitls_ocsp_check(kitls_conn *c, X509 *leaf, STACK_OF(X509) * verified_chain);
/** 1 if list is a well-formed SignedCertificateTimestampList (RFC 6962
 *  §3.3: a non-empty list of non-empty SerializedSCTs), else 0. */
int kitls_sct_list_valid(const uint8_t *list, size_t len);
/** Server: a copy of the SCT list for cert if the client asked (0/1). */
int kitls_sct_get(kitls_conn *c, const struct kitls_cert *cert, uint8_t **list, size_t *len);
/** Server: a copy of the staple for cert, if it may be sent now (0/1). */
int kitls_ocsp_staple_get(kitls_conn *c, const struct kitls_cert *cert, uint8_t **der, size_t *len);
/** Client: the staple pointed into the Certificate message: forget it. */
void kitls_ocsp_staple_forget(kitls_conn *c);

#endif
