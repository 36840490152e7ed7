/*
 * kitls-bench: what bench/scenarios.c (scenarios, configs, the timed
 * handshake driver, latency and memory runs) shares with
 * bench/scen_report.c (the scenarios' raw public-key figures and output).
 */
#ifndef KITLS_BENCH_SCENARIOS_H
#define KITLS_BENCH_SCENARIOS_H

#include "bench.h"

enum { CK_ECDSA, CK_RSA, CK_ED25519, NCK };
enum { KX_X25519, KX_P256 };

struct scen {
    const char *name;
    const char *desc;
    int kx;           /* negotiated group */
    int hrr;          /* client's first share is P-256, server wants X25519 */
    int cert;         /* CK_* */
    int resume;       /* psk_dhe_ke resumption */
    uint16_t sigalg;  /* kitls: expected CertificateVerify scheme (IANA) */
    int ossl_sig_nid; /* OpenSSL: expected peer signature type */
};

#define NSCEN 6
extern const struct scen scens[NSCEN];

extern int scen_on[NSCEN];

/* Per-handshake CPU seconds, both sides; grown as needed. */
struct samples {
    double *tot, *cli, *srv;
    long n, cap;
};

struct lat_result {
    int ok;
    char err[200];
    double rate_cpu[16]; /* per round: handshakes per (client + server) CPU second */
    double med_cpu;
    long round_end[16];   /* sm.n at the end of each round */
    double p50_round[16]; /* P50 per round, µs */
    struct samples sm;
    double p[3], pc[3], ps[3]; /* P50/P95/P99, µs: total, client, server */
};

struct mem_result {
    int ok;
    char err[200];
    long long peak[3], live[3], idle[3]; /* index 1 client, 2 server */
};

struct scen_state {
    SSL_CTX *oc, *os;
    SSL_SESSION *osess;
#ifndef KITLS_BENCH_NO_KITLS
    kitls_config *kc, *ks;
    kitls_session *ksess;
#endif
    int ready[2];
    char setup_err[2][200];
    struct lat_result lat[2];
    struct mem_result mem[2];
    /* medians of per-round kitls/openssl ratios: handshakes/s and P50 */
    double paired_rate, paired_p50;
};
extern struct scen_state st[NSCEN];

/* One CA and one "localhost" leaf per key type (ECDSA: bench.c's). */
struct ck {
    EVP_PKEY *ca_key, *key;
    X509 *ca, *leaf;
    char *ca_pem, *pem, *key_pem;
    size_t ca_pem_len, pem_len, key_pem_len;
};
extern struct ck cks[NCK];

#define MEM_RUNS 7 /* handshakes per memory figure (median) */

/* Public-key work of one handshake of scenario si, µs (raw figures). */
double scen_pk_us(int si);

#endif
