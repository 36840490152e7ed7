/*
 * kitls-bench, the peers table (issue 16): every TLS library of the bench
 * (kitls, OpenSSL libssl, GnuTLS, rustls) as one row of a vtable, so that
 * bench/peers.c measures them all with the same code: the same PKI (root,
 * intermediate, ECDSA P-256 leaves), the same rows, interleaved slices and
 * the same proofs.  Each library keeps its own in-memory transport hook
 * (kitls out_peek/feed, an OpenSSL BIO pair, GnuTLS push/pull functions,
 * rustls write_tls/read_tls).
 */
#ifndef KITLS_BENCH_LIBS_H
#define KITLS_BENCH_LIBS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Configs every library sets up (bench_lib.setup); a pair is made from
 * one of them. */
enum {
    CFG_CV,      /* full handshake, CertificateVerify checked, chain not verified */
    CFG_CHAIN,   /* full handshake, chain verified to the root + hostname */
    CFG_RESUMED, /* psk_dhe_ke resumption, exactly 1 ticket, chained */
    CFG_AES,     /* bulk: TLS_AES_128_GCM_SHA256 */
    CFG_CHACHA,  /* bulk: TLS_CHACHA20_POLY1305_SHA256 */
    NCFG
};

/* Distinct server leaves of the first-contact row: more than kitls's
 * per-config cache of parsed peer certificates (64 entries). */
#define PEER_LEAVES 100

/* Root -> intermediate -> "localhost" leaves, all ECDSA P-256 (peers.c).
 * chain_pem is the leaf then the intermediate: what every server sends. */
struct peer_leaf {
    EVP_PKEY *key;
    X509 *x;
    char *chain_pem, *key_pem;
    size_t chain_len, key_len;
};
struct peer_pki {
    EVP_PKEY *root_key, *inter_key;
    X509 *root, *inter;
    char *root_pem;
    size_t root_len;
    struct peer_leaf leaf[PEER_LEAVES];
};
extern struct peer_pki ppki;

/* Pair flags (bench_lib.pair_new). */
#define BL_SNIFF 1 /* keep both sides' bytes for the wire proof */
#define BL_IDLE 2  /* the connections will be asked to release their buffers */

/* What one handshake proved.  The wire fields come from the bench's own
 * parse of the plaintext records each side sent (peers.c wire_scan), the
 * rest from the library. */
struct bl_proof {
    int client_hellos; /* plaintext handshake records the client sent: 1 = no HRR */
    int shares;        /* key shares in the first ClientHello */
    int share_x25519;  /* 1 if every share is X25519 (0x001d) */
    int server_hellos; /* plaintext handshake records the server sent */
    int hrr;           /* one of them is a HelloRetryRequest */
    int sh_x25519;     /* the ServerHello's key_share selected X25519 */
    int lib_x25519;    /* the library reports X25519 (-1: it cannot tell) */
    int suite_ok;      /* the suite of the config was negotiated */
    int tickets;       /* NewSessionTickets received by the client (issued by the server) */
    int resumed_c, resumed_s;
    int chain; /* 1: the client verified the chain (and name); 0: it did not */
};

struct bl_pair; /* a library's pair: client, server and transport */

struct bench_lib {
    const char *name;
    const char *(*version)(void);
    /* configs for every CFG_*, one server config per leaf; 0 or -1 */
    int (*setup)(char *err, size_t errn);
    void (*teardown)(void);
    /* a pair with its transport and no connection yet (not timed) */
    struct bl_pair *(*pair_new)(int cfg, int flags);
    /* side 0: the client; side 1: the server with leaf `leaf`; 0 or -1 */
    int (*side_new)(struct bl_pair *p, int side, int leaf, char *err, size_t errn);
    /* deliver the other side's bytes to `side` and drive its handshake:
     * 1 done, 0 waiting for the peer, -1 error */
    int (*turn)(struct bl_pair *p, int side, char *err, size_t errn);
    /* after both are done: the client reads what the server sent last
     * (tickets) and keeps the newest ticket for the next pair; 0 or -1 */
    int (*settle)(struct bl_pair *p, char *err, size_t errn);
    void (*proof)(struct bl_pair *p, struct bl_proof *out);
    /* bulk: the client writes len bytes, the server reads all of them into
     * out, which has one more byte writable past len (kitls_conn_read_from
     * decrypts a record's content type byte there too) */
    int (*xfer)(struct bl_pair *p, const uint8_t *data, uint8_t *out, size_t len, char *err,
                size_t errn);
    /* release both sides' buffers while idle; NULL: the library cannot */
    void (*release)(struct bl_pair *p);
    /* free the bench's transport buffers (not the connections' memory) */
    void (*drop_transport)(struct bl_pair *p);
    void (*side_free)(struct bl_pair *p, int side);
    void (*pair_free)(struct bl_pair *p);
};

extern const struct bench_lib bl_openssl, bl_kitls;
#ifdef KITLS_BENCH_PEERS
extern const struct bench_lib bl_gnutls, bl_rustls;
#endif

/* Collects a side's bytes for the wire proof (peers.c). */
struct sniff {
    uint8_t *b;
    size_t n, cap;
};
void sniff_add(struct sniff *s, const uint8_t *data, size_t n);
void sniff_free(struct sniff *s);
/* The PKI (peers_pki.c): made once, freed by free_peer_pki. */
void make_peer_pki(void);
void free_peer_pki(void);
/* Dies unless wire_scan reads a known ClientHello and HelloRetryRequest. */
void wire_selftest(void);
/* Fills the wire fields of out from the bytes each side sent. */
void wire_scan(const uint8_t *c2s, size_t n, const uint8_t *s2c, size_t m, struct bl_proof *out);

/* The peers part (peers.c). */
int peers_parse_libs(const char *list); /* --lib; -1 on an unknown or unbuilt name */
int peers_lib_on(const char *name);
void peers_bench(void);
/* Install kitls's allocator hook; before any kitls object exists. */
void peers_hook_install(void);
void peers_print_table(void);
void peers_print_json(void); /* writes "peers": {...}, with a trailing comma */
void peers_free(void);
int peers_failed(void); /* rows failed or proofs that did not hold */
extern int peers_built; /* GnuTLS and rustls were built in */

#endif
