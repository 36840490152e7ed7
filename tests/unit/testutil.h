/*
 * Helpers for the public-API unit tests: an in-memory PKI made with
 * libcrypto (PEM strings for kitls_config_add_cert_pem and
 * kitls_config_load_ca_pem), config builders, a bounded pump that moves
 * bytes between two connections, and record-level helpers.
 */
#ifndef KITLS_TESTUTIL_H
#define KITLS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kitls/kitls.h"

enum tu_key { TU_P256 = 0, TU_P384, TU_RSA2048, TU_ED25519, TU_NKEYS };

/* A certificate (PEM, leaf first) and its private key (PEM). */
struct tu_cred {
    char *chain;
    size_t chain_len;
    char *key;
    size_t key_len;
};

/* The process-wide fixture, built once by tu_pki_init() before forking. */
struct tu_pki {
    char *ca; /* trusted root (PEM) */
    size_t ca_len;
    char *other_ca; /* a root nobody trusts */
    size_t other_ca_len;
    struct tu_cred server[TU_NKEYS]; /* SAN DNS:localhost, IP:127.0.0.1, serverAuth */
    struct tu_cred client;           /* P-256, clientAuth EKU */
    struct tu_cred client_noeku;     /* P-256, serverAuth EKU only */
    struct tu_cred untrusted;        /* P-256 server cert issued by other_ca */
    int64_t now;                     /* the fixture's "now" (certs valid now-1d .. now+30d) */
};

extern struct tu_pki tu_pki;

/** Build the PKI once (call from main() before srunner_run_all). */
void tu_pki_init(void);

/* The fixture's roots and their keys (owned by testutil: do not free), for
 * tests that issue their own certificates or sign OCSP responses. */
X509 *tu_ca_cert(void);
EVP_PKEY *tu_ca_key(void);
X509 *tu_other_ca_cert(void);
EVP_PKEY *tu_other_ca_key(void);

/** A fresh key of type k (caller frees). */
EVP_PKEY *tu_keygen(enum tu_key k);
/**
 * Issue a certificate for `key` (valid now-1d .. now+30d, a fresh serial)
 * signed by (issuer, issuer_key), or self-signed when issuer is NULL.
 * `exts` is a NULL-terminated list of "name=value" extensions in
 * openssl.cnf syntax ("subjectAltName=DNS:a.test", "tlsfeature=status_request",
 * "extendedKeyUsage=OCSPSigning"); NULL for none.  Caller frees.
 */
X509 *tu_issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
               const char *const *exts);
/** PEM text of a certificate / private key (malloc'd, NUL-terminated). */
char *tu_x509_pem(X509 *c, size_t *len);
char *tu_pkey_pem(EVP_PKEY *k, size_t *len);

/** Time hook returning *(int64_t *)ctx. */
int64_t tu_time_fixed(void *ctx);

/** Server config with the leaf of key type k (and the CA loaded for client auth). */
kitls_config *tu_server_config(enum tu_key k);
/** Client config trusting the fixture CA. */
kitls_config *tu_client_config(void);

/** New client connection for "localhost" (name may be NULL: no SNI). */
kitls_conn *tu_client(kitls_config *cfg, const char *name);
kitls_conn *tu_server(kitls_config *cfg);

/** Move all pending output of `from` into `to`.  Returns bytes moved. */
size_t tu_move(kitls_conn *from, kitls_conn *to);

/**
 * Run the handshake between client c and server s, moving bytes both ways
 * until both complete or one fails (at most 64 rounds).  *cret / *sret get
 * the last kitls_conn_handshake() result of each side.  Returns 0 when both
 * completed.
 */
int tu_handshake(kitls_conn *c, kitls_conn *s, int *cret, int *sret);

/** Copy the pending output of c into a malloc'd buffer (not consumed). */
uint8_t *tu_out_copy(kitls_conn *c, size_t *len);

/** Find the first plaintext alert record in buf: returns its description or -1. */
int tu_find_alert(const uint8_t *buf, size_t len);
/** Number of records in buf, and the offsets (up to max) of each. */
size_t tu_records(const uint8_t *buf, size_t len, size_t *off, size_t max);

/* Minimal byte builder for hand-made messages. */
struct tu_buf {
    uint8_t b[70000 + 1024];
    size_t n;
};
void tu_put(struct tu_buf *b, const void *p, size_t n);
void tu_u8(struct tu_buf *b, unsigned v);
void tu_u16(struct tu_buf *b, unsigned v);
void tu_u24(struct tu_buf *b, unsigned v);
/** Reserve an n-byte length prefix; returns its offset. */
size_t tu_begin(struct tu_buf *b, int n);
void tu_end(struct tu_buf *b, size_t at, int n);

#endif
