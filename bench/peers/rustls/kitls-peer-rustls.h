/*
 * C ABI of the rustls staticlib (bench/peers/rustls/src/lib.rs): in-memory
 * rustls 0.20 clients and servers, one step at a time, for kitls-bench.
 */
#ifndef KITLS_PEER_RUSTLS_H
#define KITLS_PEER_RUSTLS_H

#include <stddef.h>
#include <stdint.h>

struct kpeer_rustls_ctx;
struct kpeer_rustls_pair;

/* mode: 0 full + chain verified, 1 full (CertificateVerify only), 2 resumed
 * (1 ticket, chained); chacha: 0 TLS_AES_128_GCM_SHA256, 1
 * TLS_CHACHA20_POLY1305_SHA256.  NULL on error (message in err). */
struct kpeer_rustls_ctx *kpeer_rustls_ctx_new(const uint8_t *root_pem, size_t root_len, int mode,
                                              int chacha, char *err, size_t errn);
/* One server config per leaf (PEM chain leaf first, PKCS#8 key); 0 or -1. */
int kpeer_rustls_ctx_add_leaf(struct kpeer_rustls_ctx *ctx, const uint8_t *chain_pem,
                              size_t chain_len, const uint8_t *key_pem, size_t key_len, char *err,
                              size_t errn);
void kpeer_rustls_ctx_free(struct kpeer_rustls_ctx *ctx);
/* An empty pair; sniff: keep both sides' bytes for kpeer_rustls_sent. */
struct kpeer_rustls_pair *kpeer_rustls_pair_new(const struct kpeer_rustls_ctx *ctx, int sniff);
/* side 0: the client; side 1: the server with leaf `leaf`.  0 or -1. */
int kpeer_rustls_side_new(struct kpeer_rustls_pair *p, const struct kpeer_rustls_ctx *ctx, int side,
                          int leaf, char *err, size_t errn);
/* Delivers the other side's bytes to `side` and processes them: 1 its
 * handshake is done, 0 it waits, -1 error. */
int kpeer_rustls_turn(struct kpeer_rustls_pair *p, int side, char *err, size_t errn);
/* The client writes len bytes of data, the server reads them into out. */
int kpeer_rustls_xfer(struct kpeer_rustls_pair *p, const uint8_t *data, uint8_t *out, size_t len,
                      char *err, size_t errn);
/* out[5]: tickets issued, tickets accepted, chain verifier calls, chains
 * verified (all since pair_new), suite as configured (1/0). */
void kpeer_rustls_proof(const struct kpeer_rustls_pair *p, const struct kpeer_rustls_ctx *ctx,
                        uint64_t out[5]);
/* The bytes side 0 (client) or 1 (server) sent so far (sniffing pairs). */
size_t kpeer_rustls_sent(const struct kpeer_rustls_pair *p, int side, const uint8_t **buf);
void kpeer_rustls_drop_transport(struct kpeer_rustls_pair *p);
void kpeer_rustls_side_free(struct kpeer_rustls_pair *p, int side);
void kpeer_rustls_pair_free(struct kpeer_rustls_pair *p);

#endif
