/*
 * kitls-bench: what bench/bench.c (options, heap accounting, the P-256 PKI,
 * the original handshake/throughput/raw parts, output) shares with
 * bench/scenarios.c (the handshake latency matrix, per-connection memory and
 * the extra raw public-key figures).
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
    unsigned mib;   /* per suite and round for throughput */
    long count;     /* fixed handshake count instead of seconds (0 = off) */
    int json;
    const char *json_file; /* also write JSON here */
    int do_hs, do_tput, do_raw, do_alloc, do_lat, do_mem;
    int lib_kitls, lib_ossl;
    const char *scenarios; /* --scenarios: comma list of names, NULL = all */
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
X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial,
                int is_ca);
char *bio_to_str(BIO *b, size_t *len);

int ossl_step(SSL *s, int *done, char *err, size_t errn);
#ifndef KITLS_BENCH_NO_KITLS
int k_move(kitls_conn *from, kitls_conn *to, size_t *count);
int k_step(kitls_conn *c, int *done);
#endif

/* Raw libcrypto figures (µs per operation, thread CPU time, best round). */
struct raw_figures {
    int done;
    double aead_mbs[3];     /* seal+open of 16 KiB records, MB/s of plaintext */
    double aead_seal[3];    /* seal only */
    double aead_mbs_1k[3];  /* seal+open of 1 KiB records */
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

/* JSON output helpers (bench.c). */
extern FILE *jout;
void json_num(const char *key, double v, int ok, const char *sep);
void json_str(const char *s);

/* scenarios.c */
int scen_parse(const char *list); /* --scenarios; 0 or -1 on an unknown name */
void scen_list(FILE *f);
void scen_setup(void);            /* PKI and configs; before raw/lat/mem */
void scen_raw(void);              /* one round of the extra raw figures */
void scen_bench_lat(void);
void scen_bench_mem(void);
void scen_print_table(void);
void scen_print_json(void); /* writes "latency": {...}, "memory": {...}, with trailing commas */
void scen_free(void);

#endif
