/*
 * C ABI of the rustls peer staticlib (bench/peers/rustls/src/lib.rs,
 * issue 16 groundwork): in-memory rustls client+server pairs.
 */
#ifndef KITLS_PEER_RUSTLS_H
#define KITLS_PEER_RUSTLS_H

#include <stddef.h>
#include <stdint.h>

struct kpeer_rustls;

/* mode: 0 full + chain verified, 1 full (CertificateVerify only), 2 resumed
 * (1 ticket, chained).  PKCS#8 key.  NULL on error (message in err). */
struct kpeer_rustls *kpeer_rustls_new(const uint8_t *chain_pem, size_t chain_len,
                                      const uint8_t *key_pem, size_t key_len,
                                      const uint8_t *root_pem, size_t root_len, int mode, char *err,
                                      size_t errn);
/* n complete handshakes; n or -1. */
long kpeer_rustls_run(struct kpeer_rustls *p, long n, char *err, size_t errn);
/* n more established pairs kept alive; n or -1. */
long kpeer_rustls_hold(struct kpeer_rustls *p, long n, char *err, size_t errn);
void kpeer_rustls_drop(struct kpeer_rustls *p);
/* out[6]: handshakes, tickets issued, tickets accepted, chain checks, c2s, s2c bytes */
void kpeer_rustls_stats(const struct kpeer_rustls *p, uint64_t out[6]);
void kpeer_rustls_free(struct kpeer_rustls *p);

#endif
