/*
 * GnuTLS peer for kitls-bench (issue 16 groundwork prototype): in-memory
 * client+server pairs of GnuTLS, see gnutls.c.
 */
#ifndef KITLS_GNUTLS_PEER_H
#define KITLS_GNUTLS_PEER_H

#include <stddef.h>
#include <stdint.h>

struct gpeer;

/* What a peer did since gpeer_new: proof of what was measured. */
struct gpeer_stats {
    uint64_t handshakes;
    uint64_t tickets;  /* NewSessionTicket messages the clients received (mode 2) */
    uint64_t resumed;  /* handshakes resumed on both sides (mode 2) */
    uint64_t c2s, s2c; /* bytes each way */
};

/* mode: 0 full + chain verified, 1 full (CertificateVerify only), 2 resumed.
 * NULL on error (message in err). */
struct gpeer *gpeer_new(const char *chain_pem, size_t chain_len, const char *key_pem,
                        size_t key_len, const char *root_pem, size_t root_len, int mode, char *err,
                        size_t errn);
/* n complete handshakes; n or -1. */
long gpeer_run(struct gpeer *g, long n, char *err, size_t errn);
/* n more established pairs kept alive (heap per connection); n or -1. */
long gpeer_hold(struct gpeer *g, long n, char *err, size_t errn);
void gpeer_drop(struct gpeer *g);
void gpeer_stats(const struct gpeer *g, struct gpeer_stats *out);
void gpeer_free(struct gpeer *g);

#endif
