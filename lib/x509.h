/* Peer certificates (x509.c): chain verification by the trust policy
 * (docs/trust-policy.md) and who the peer proved to be. */
#ifndef KITLS_X509_H
#define KITLS_X509_H

#include "internal.h"

/* Embedded in struct kitls_conn as `peer`.  Written only by x509.c (conn.c
 * initialises and frees it). */
struct kitls_peer_state {
    X509 *leaf;
    struct kitls_der *cert; /* peer's leaf (verified, or restored from the session) */
    EVP_PKEY *key;
    int authenticated;
    int64_t auth_time; /* when the peer was authenticated (struct kitls_session) */
    int64_t not_after; /* earliest notAfter of its chain, INT64_MAX: none */
    int chain_cached;  /* the library's verdict came from the verified-chain cache */
    int key_warm;      /* the leaf came from a cache: key seen before (kitls_sig_verify) */
};

/* x509.c */
struct kitls_cert_cache *kitls_cert_cache_new(void);
void kitls_cert_cache_free(struct kitls_cert_cache *cc);
/** The trust store changed: a new generation, the verified chains dropped. */
void kitls_cert_cache_store_changed(struct kitls_cert_cache *cc);
/** The trust store's generation (tests). */
uint64_t kitls_cert_cache_store_gen(struct kitls_cert_cache *cc);
/** Verified-chain cache size (0: off); drops what it holds. */
void kitls_cert_cache_set_verify_size(struct kitls_cert_cache *cc, size_t entries);
/** Verify a peer chain (DER list, leaf first); sets c->peer. */
int kitls_x509_verify_chain(kitls_conn *c, const uint8_t *const *der, const size_t *len, size_t n);
/** The peer proved it holds its certificate's key (CertificateVerify):
 *  authenticated if we verified the chain or it is a client. */
void kitls_x509_peer_signed(kitls_conn *c);
/** Resumed: the peer as the session's connection saw it (certificate,
 *  verdict, age of the authentication, notAfter). */
void kitls_x509_peer_restore(kitls_conn *c, const kitls_session *s);
/** Handshake done: a full handshake without a peer certificate counts the
 *  age of its sessions from now (RFC 8446 §4.6.1). */
void kitls_x509_peer_done(kitls_conn *c);

#endif
