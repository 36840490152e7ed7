/*
 * kitls-ab, the A/B regression gate's driver: what bench/ab.c (main,
 * PKI, malloc accounting, measurements) and bench/ab-lib.c (the kitls
 * side, compiled twice: against the tree and against the baseline commit
 * whose symbols carry the kb_ prefix) share.
 */
#ifndef KITLS_BENCH_AB_H
#define KITLS_BENCH_AB_H

#include <stddef.h>

#define AB_REC_LEN 16384u  /* the record loop's write size: one full record */
#define AB_REC_SMALL 1024u /* and a small record's */

/* The in-memory PKI both copies use (PEM, made once by ab.c): a P-256 root
 * the client trusts, and the server's chain leaf + intermediate. */
struct ab_pki {
    const char *root_pem, *chain_pem, *key_pem;
    size_t root_len, chain_len, key_len;
};

/* Bytes moved each way by one handshake (client to server, server to
 * client), up to and including the client's read of the tickets. */
struct ab_wire {
    size_t c2s, s2c;
};

enum ab_hs { AB_FULL = 0, AB_RESUMED = 1 };

/* One copy of kitls as the driver sees it.  Each copy holds one connection
 * pair at a time ("the pair"). */
struct ab_ops {
    const char *name;
    /* Configs (client verifies the chain to the root and the name
     * "localhost"; the full scenario's server sends no ticket, the resumed
     * scenario's sends 1) and a first session from a priming handshake. */
    int (*setup)(const struct ab_pki *pki, char *err, size_t errn);
    /* Make the pair and run one handshake to the end (client has read the
     * server's last flight), checking what it proves: X25519, no HRR,
     * chain verified (full) or the ticket accepted on both sides (resumed;
     * the new ticket becomes the next handshake's session: chained). */
    int (*hs)(enum ab_hs kind, struct ab_wire *w, char *err, size_t errn);
    /* Free the pair. */
    void (*drop)(void);
    /* The pair goes idle: both sides release their record buffers. */
    void (*idle)(void);
    /* On an established pair: n records of AB_REC_LEN bytes, the client
     * encrypts, the server decrypts and checks them. */
    int (*records)(long n, size_t len, char *err, size_t errn);
    void (*teardown)(void);
};

extern const struct ab_ops ab_ops_tree, ab_ops_base;

#endif
