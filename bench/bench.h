/*
 * kitls-bench: what its files share: bench/bench.c (options, heap
 * accounting, the P-256 PKI, the handshake and allocation parts, main),
 * bench/pairs.c (both libraries' configs and in-memory connection pairs),
 * bench/tput.c (record throughput and the raw libcrypto limits),
 * bench/report.c (the table and the JSON), bench/scenarios.c and
 * bench/scen_report.c (the handshake latency matrix, per-connection memory
 * and the extra raw public-key figures), bench/peers.c and bench/lib_*.c
 * (the peers table: every library through one vtable, bench/libs.h).
 */
#ifndef KITLS_BENCH_H
#define KITLS_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#ifndef KITLS_BENCH_NO_KITLS
#include "kitls/kitls.h"
#endif

#define REC_LEN 16384u
#define MAX_LEAVES 256

enum { L_KITLS = 0, L_OSSL = 1 };
extern const char *lib_name[2];

struct bench_opt {
    double seconds; /* per measurement and round */
    int rounds;
    unsigned mib; /* per suite and round for throughput */
    long count;   /* fixed handshake count instead of seconds (0 = off) */
    int json;
    const char *json_file; /* also write JSON here */
    int do_hs, do_tput, do_raw, do_alloc, do_lat, do_mem;
    int lib_kitls, lib_ossl;
    const char *scenarios; /* --scenarios: comma list of names, NULL = all */
    int do_peers;          /* the peers table (peers.c) */
    const char *group;     /* --group: key exchange of kitls and libssl (default X25519) */
};
extern struct bench_opt opt;

/* Heap accounting (bench.c interposes malloc & co.).  While g_heap_track is
 * set, every allocation and free is also charged to g_side (0 = neither
 * connection, 1 = client, 2 = server): g_side_live/g_side_peak are the
 * usable bytes a side holds (frees are charged to the side that runs when
 * they happen, so this is exact only for memory a side frees itself). */
extern int g_heap_track, g_heap_hooked;
extern int g_side;
extern long long g_side_live[3], g_side_peak[3];
extern int g_ossl_hooked;             /* CRYPTO_set_mem_functions took: libcrypto/libssl counted */
unsigned long long heap_allocs(void); /* allocations counted while g_heap_track */
long long heap_live(void);            /* live bytes counted while g_heap_track */

double now(void);
double now_cpu(void);
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void set_err(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
double median(double *v, int n);
int lib_enabled(int lib);

/* The P-256 CA and the first leaf of bench.c (also used by scenarios.c). */
struct pki_ca {
    EVP_PKEY *ca_key;
    X509 *ca;
    char *ca_pem;
    size_t ca_pem_len;
};
struct leaf {
    EVP_PKEY *key;
    X509 *x;
    char *pem, *key_pem;
    size_t pem_len, key_pem_len;
};
extern struct pki_ca pki;
extern struct leaf leaves[MAX_LEAVES];
extern int n_leaves; /* --certs: server leaves in rotation */
extern int cur_leaf; /* server leaf of the pair being created */
X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial,
                int is_ca);
char *bio_to_str(BIO *b, size_t *len);

/* The TLS 1.3 cipher suites measured (bench.c). */
struct suite {
    uint16_t id;
    const char *name;   /* IANA / OpenSSL TLS 1.3 name */
    const char *cipher; /* libcrypto cipher */
    const char *short_name;
};
#define NSUITES 3
#define HS_SUITE 0 /* the suite used for the handshake benchmark */
extern const struct suite suites[NSUITES];

/* Write sizes of the throughput test (tput.c); index TPUT_16K is the
 * original figure. */
#define NSIZES 3
#define TPUT_16K 1
extern const size_t tput_size[NSIZES];
extern const char *const tput_size_name[NSIZES];
extern int tput_on[NSIZES]; /* --sizes */

/* Connection pairs of both libraries, in memory (pairs.c).  lib_setup()
 * makes the server configs (one per leaf) and the handshake client's;
 * lib_free() frees them. */
struct ossl_pair {
    SSL *c, *s;
};
extern SSL_CTX *ossl_cctx; /* handshake client (suite HS_SUITE) */
SSL_CTX *ossl_ctx(int server, const char *suites_list, int leaf);
int ossl_pair_new(struct ossl_pair *p, SSL_CTX *cctx, size_t bufsz); /* server: cur_leaf */
void ossl_pair_free(struct ossl_pair *p);
int ossl_step(SSL *s, int *done, char *err, size_t errn);
int ossl_handshake(struct ossl_pair *p, char *err, size_t errn);
#ifndef KITLS_BENCH_NO_KITLS
struct k_pair {
    kitls_conn *c, *s;
    size_t c2s, s2c; /* bytes moved each way */
};
extern kitls_config *k_ccfg; /* handshake client (suite HS_SUITE) */
kitls_config *k_cfg(int server, uint16_t suite, int leaf, char *err, size_t errn);
int k_pair_new(struct k_pair *p, kitls_config *ccfg, char *err, size_t errn); /* server: cur_leaf */
void k_pair_free(struct k_pair *p);
int k_move(kitls_conn *from, kitls_conn *to, size_t *count);
int k_step(kitls_conn *c, int *done);
int k_handshake(struct k_pair *p, char *err, size_t errn);
#endif
int lib_setup(int lib, char *err, size_t errn);
void lib_free(void);

/* Handshake results (bench.c). */
struct hs_result {
    int ok;
    char err[200];
    double rate[16];     /* per round, wall clock (CLOCK_MONOTONIC) */
    double rate_cpu[16]; /* per round, thread CPU time */
    double med, med_cpu;
    long n_total;
    /* per handshake, from the allocation run */
    int have_alloc;
    double allocs, ossl_allocs;
    long long pair_live; /* live heap of one established pair */
    long long hs_peak;   /* peak heap growth during one handshake */
    size_t c2s, s2c;     /* bytes on the wire */
};
extern struct hs_result hs_res[2];
extern double hs_paired_ratio;     /* median of per-round kitls/openssl ratios (wall) */
extern double hs_paired_ratio_cpu; /* the same from CPU-time rates (the gate's) */

/* Throughput results (tput.c), per library, suite and write size. */
struct tput_result {
    int ok;
    char err[200];
    double mbs[16], mbs_cpu[16];
    double med, med_cpu;
    double paired_cpu; /* [L_KITLS] only: median of per-round kitls/openssl CPU ratios */
};
extern struct tput_result tput_res[2][NSUITES][NSIZES];
void tput_buffers_init(void); /* the write and read buffers; before bench_raw/bench_tput */
void bench_tput(void);
void bench_raw(void);

/* Raw libcrypto figures (tput.c; µs per operation, thread CPU time, best round). */
struct raw_figures {
    int done;
    double aead_mbs[3];    /* seal+open of 16 KiB records, MB/s of plaintext */
    double aead_seal[3];   /* seal only */
    double aead_mbs_1k[3]; /* seal+open of 1 KiB records */
    double x25519_keygen_us, x25519_derive_us, ecdsa_sign_us, ecdsa_verify_us, x509_verify_us;
    double hs_pk_us, hs_bound;
    double x509_parse_us;     /* d2i_X509 of the leaf (not part of the bound) */
    double hs_pk_parse_bound; /* bound if the peer leaf must also be parsed */
    /* scenarios.c: P-256 ECDHE, RSA-2048 (PSS) and Ed25519 certificates */
    double p256_keygen_us, p256_derive_us;
    double rsa_sign_us, rsa_verify_us, rsa_x509_verify_us;
    double ed_sign_us, ed_verify_us, ed_x509_verify_us;
};
extern struct raw_figures raw;
extern double raw_secs;
void keep_min(double *dst, double v);

/* Runs body for raw_secs of wall time; stores thread CPU µs per call. */
#define TIME_LOOP(us_out, body)                                                                    \
    do {                                                                                           \
        long n_ = 0;                                                                               \
        double t0_ = now(), c0_ = now_cpu();                                                       \
        for (;;) {                                                                                 \
            body;                                                                                  \
            n_++;                                                                                  \
            if ((n_ & 15) == 0 && now() - t0_ >= raw_secs)                                         \
                break;                                                                             \
        }                                                                                          \
        (us_out) = (now_cpu() - c0_) * 1e6 / (double)n_;                                           \
    } while (0)

/* Output (report.c). */
void read_cpu_model(void);
void print_table(void);
void print_json(void); /* to jout */
extern FILE *jout;
void json_num(const char *key, double v, int ok, const char *sep);
void json_str(const char *s);

/* scenarios.c */
int scen_parse(const char *list); /* --scenarios; 0 or -1 on an unknown name */
void scen_list(FILE *f);
void scen_setup(void); /* PKI and configs; before raw/lat/mem */
void scen_raw(void);   /* one round of the extra raw figures */
void scen_bench_lat(void);
void scen_bench_mem(void);
void scen_print_table(void);
void scen_print_json(void); /* writes "latency": {...}, "memory": {...}, with trailing commas */
void scen_free(void);

#endif
