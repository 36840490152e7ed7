/*
 * kitls-bench: kitls against OpenSSL's libssl (same libcrypto), in one
 * process, in memory, on one core.
 *
 *   - full handshakes per second (X25519, ECDSA P-256 server certificate
 *     verified by the client against an in-memory CA, SNI "localhost",
 *     no tickets, no resumption), both sides in-process;
 *   - record throughput per cipher suite for 1 KiB, 16 KiB and 1 MiB writes
 *     (client writes, server reads), encrypt + decrypt;
 *   - the raw libcrypto limit: EVP AEAD seal+open of 1 KiB and 16 KiB
 *     records and the public-key work of one handshake (2x X25519 keygen,
 *     2x X25519 derive, 1x ECDSA P-256 sign, 2x ECDSA P-256 verify), i.e.
 *     upper bounds;
 *   - heap allocations per handshake and live heap per connection pair
 *     (process-wide malloc interposition; libcrypto/libssl allocations are
 *     also counted separately through CRYPTO_set_mem_functions);
 *   - bench/scenarios.c: handshake latency per scenario with client and
 *     server CPU time apart, heap per connection, and their raw figures.
 *
 * This file: options, heap accounting, the P-256 PKI, the handshake and
 * allocation parts and main.  bench/pairs.c: both libraries' configs and
 * connection pairs; bench/tput.c: throughput and the raw libcrypto limits;
 * bench/report.c: the table and the JSON.
 *
 * Usage: kitls-bench [--seconds S] [--rounds N] [--mib M] [--count N]
 *                    [--certs N] [--only hs,tput,raw,alloc,lat,mem]
 *                    [--scenarios LIST] [--sizes 1k,16k,1m]
 *                    [--lib kitls|openssl|both] [--json] [--json-file FILE]
 *
 * Rates are reported per wall clock (CLOCK_MONOTONIC) and per thread CPU
 * time; see docs/performance.md for the method and the figures.
 *
 * Build without kitls (baseline and raw parts only) with
 * -DKITLS_BENCH_NO_KITLS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bench.h"
#include "libs.h"

int n_leaves = 1; /* --certs */

/* ------------------------------------------------------------------ */
/* Heap accounting                                                     */
/* ------------------------------------------------------------------ */

/*
 * Process-wide: malloc & co. are interposed (the executable's definitions
 * win over libc's for every shared object) and forwarded to glibc's
 * __libc_* entry points.  This counts kitls, libssl and libcrypto alike.
 * Disabled with -DKITLS_BENCH_NO_MALLOC_HOOK (e.g. under ASan).
 */
struct heapstat {
    unsigned long long allocs; /* malloc/calloc/realloc/memalign calls */
    unsigned long long frees;
    long long live; /* usable bytes currently allocated */
    long long peak;
};
static struct heapstat g_heap;
int g_heap_hooked;
int g_side;
long long g_side_live[3], g_side_peak[3];
/* Accounting is only on during the allocation phase, so that the timed
 * runs pay no malloc_usable_size() cost (that would penalise the library
 * that allocates more). */
int g_heap_track;
/* libcrypto/libssl only (OPENSSL_malloc & co.) */
static unsigned long long g_ossl_allocs;
int g_ossl_hooked;

#if defined(__GLIBC__) && !defined(KITLS_BENCH_NO_MALLOC_HOOK) && !defined(__SANITIZE_ADDRESS__)
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);
extern void __libc_free(void *p);

static inline void heap_add(void *p)
{
    if (g_heap_track && p != NULL) {
        long long sz = (long long)malloc_usable_size(p);
        g_heap.allocs++;
        g_heap.live += sz;
        if (g_heap.live > g_heap.peak)
            g_heap.peak = g_heap.live;
        g_side_live[g_side] += sz;
        if (g_side_live[g_side] > g_side_peak[g_side])
            g_side_peak[g_side] = g_side_live[g_side];
    }
}

static inline void heap_sub(void *p)
{
    if (g_heap_track && p != NULL) {
        long long sz = (long long)malloc_usable_size(p);
        g_heap.frees++;
        g_heap.live -= sz;
        g_side_live[g_side] -= sz;
    }
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    g_heap_hooked = 1;
    heap_add(p);
    return p;
}

void *calloc(size_t n, size_t m)
{
    void *p = __libc_calloc(n, m);
    heap_add(p);
    return p;
}

void *realloc(void *old, size_t n)
{
    long long oldsz = g_heap_track && old != NULL ? (long long)malloc_usable_size(old) : 0;
    void *p = __libc_realloc(old, n);
    if (g_heap_track && (p != NULL || n == 0)) {
        g_heap.live -= oldsz;
        g_side_live[g_side] -= oldsz;
        if (old != NULL)
            g_heap.frees++;
        heap_add(p);
    }
    return p;
}

void free(void *p)
{
    heap_sub(p);
    __libc_free(p);
}

void *memalign(size_t a, size_t n)
{
    void *p = __libc_memalign(a, n);
    heap_add(p);
    return p;
}

void *aligned_alloc(size_t a, size_t n)
{
    return memalign(a, n);
}

int posix_memalign(void **out, size_t a, size_t n)
{
    void *p;
    if (a < sizeof(void *) || (a & (a - 1)) != 0)
        return EINVAL;
    p = memalign(a, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}
#endif

unsigned long long heap_allocs(void)
{
    return g_heap.allocs;
}

long long heap_live(void)
{
    return g_heap.live;
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
    g_ossl_allocs += (unsigned)g_heap_track;
    return malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    g_ossl_allocs += (unsigned)g_heap_track;
    return realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
    free(p);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: unlike wall time it does not grow while other
 * processes hold the core, so it is the steadier figure on a shared box. */
double now_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kitls-bench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    ERR_print_errors_fp(stderr);
    exit(2);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

struct bench_opt opt = {1.0, 3, 256, 0, 0, NULL, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, "X25519"};

static void usage(void)
{
    printf("usage: kitls-bench [options]\n"
           "  --seconds S   wall time per handshake measurement and round (default 1;\n"
           "                raw-crypto measurements run S/2 per round, best round kept;\n"
           "                lat: the libraries alternate in 20 ms slices for 2 S)\n"
           "  --rounds N    rounds, alternating libraries; the median is reported (default 3)\n"
           "  --mib M       MiB written per suite, write size and round for throughput\n"
           "                (default 256), in 8 connections per library taking turns\n"
           "  --count N     fixed number of handshakes per round instead of --seconds\n"
           "  --certs N     rotate N distinct server leaves (default 1; N > the client's\n"
           "                certificate cache size measures first-contact handshakes)\n"
           "  --only LIST   comma list of hs,tput,raw,alloc,lat,mem,peers (default all)\n"
           "                hs: full handshakes/s; tput: record throughput; raw: libcrypto\n"
           "                limits; alloc: allocations per handshake; lat: handshake latency\n"
           "                per scenario, client and server CPU; mem: heap per connection;\n"
           "                peers: every library (kitls, openssl, gnutls, rustls) in one\n"
           "                table, interleaved, each row's proofs checked (exit 2 if one fails)\n"
           "  --scenarios L comma list of lat/mem scenarios (default all; --list-scenarios)\n"
           "  --sizes L     comma list of throughput write sizes 1k,16k,1m (default all;\n"
           "                1 KiB writes move --mib/4)\n"
           "  --lib L       comma list of kitls,openssl,gnutls,rustls (both = kitls,openssl;\n"
           "                default: all built; hs/tput/alloc/lat/mem use kitls and openssl)\n"
           "  --group G     key exchange group of the kitls and openssl pairs (default\n"
           "                X25519; X25519MLKEM768 needs ML-KEM, OpenSSL 3.5)\n"
           "  --json        print JSON instead of the table\n"
           "  --json-file F also write the JSON to file F\n");
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            opt.json = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
        } else if (strcmp(a, "--list-scenarios") == 0) {
            scen_list(stdout);
            exit(0);
        } else if (v == NULL) {
            usage();
            exit(2);
        } else if (strcmp(a, "--json-file") == 0) {
            opt.json_file = v, i++;
        } else if (strcmp(a, "--seconds") == 0) {
            opt.seconds = atof(v), i++;
        } else if (strcmp(a, "--rounds") == 0) {
            opt.rounds = atoi(v), i++;
        } else if (strcmp(a, "--mib") == 0) {
            opt.mib = (unsigned)atoi(v), i++;
        } else if (strcmp(a, "--certs") == 0) {
            n_leaves = atoi(v), i++;
            if (n_leaves < 1 || n_leaves > MAX_LEAVES) {
                fprintf(stderr, "kitls-bench: --certs must be 1..%d\n", MAX_LEAVES);
                exit(2);
            }
        } else if (strcmp(a, "--count") == 0) {
            opt.count = atol(v), i++;
        } else if (strcmp(a, "--only") == 0) {
            opt.do_hs = strstr(v, "hs") != NULL;
            opt.do_tput = strstr(v, "tput") != NULL;
            opt.do_raw = strstr(v, "raw") != NULL;
            opt.do_alloc = strstr(v, "alloc") != NULL;
            opt.do_lat = strstr(v, "lat") != NULL;
            opt.do_mem = strstr(v, "mem") != NULL;
            opt.do_peers = strstr(v, "peers") != NULL;
            i++;
        } else if (strcmp(a, "--scenarios") == 0) {
            if (scen_parse(v) < 0) {
                fprintf(stderr, "kitls-bench: unknown scenario in '%s'; known:\n", v);
                scen_list(stderr);
                exit(2);
            }
            i++;
        } else if (strcmp(a, "--sizes") == 0) {
            for (int zi = 0; zi < NSIZES; zi++)
                tput_on[zi] = strstr(v, tput_size_name[zi]) != NULL;
            i++;
        } else if (strcmp(a, "--group") == 0) {
            opt.group = v;
            i++;
        } else if (strcmp(a, "--lib") == 0) {
            if (peers_parse_libs(v) < 0)
                exit(2);
            opt.lib_kitls = peers_lib_on("kitls");
            opt.lib_ossl = peers_lib_on("openssl");
            i++;
        } else {
            usage();
            exit(2);
        }
    }
    if (opt.rounds < 1)
        opt.rounds = 1;
    if (opt.seconds <= 0)
        opt.seconds = 1;
    if (opt.mib < 1)
        opt.mib = 1;
}

/* ------------------------------------------------------------------ */
/* Certificates (ECDSA P-256 CA -> leaf "localhost"), in memory        */
/* ------------------------------------------------------------------ */

struct pki_ca pki;

/* Server leaves: one by default; --certs N rotates N distinct leaves so
 * that per-config caches of parsed peer certificates miss (first contact). */
struct leaf leaves[MAX_LEAVES];
int cur_leaf; /* server leaf of the pair being created */
static unsigned long hs_counter;

static EVP_PKEY *gen_p256(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (k == NULL)
        die("EVP_EC_gen failed");
    return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL || !X509_add_ext(cert, ext, -1))
        die("extension %d", nid);
    X509_EXTENSION_free(ext);
}

X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial,
                int is_ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (x == NULL || name == NULL)
        die("X509_new");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400L);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    if (is_ca) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(x, x, NID_subject_key_identifier, "hash");
    } else {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
        add_ext(x, issuer, NID_subject_alt_name, "DNS:localhost");
        add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    }
    /* Ed25519 signs the message itself: no digest */
    if (!X509_sign(x, issuer_key,
                   EVP_PKEY_get_id(issuer_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()))
        die("X509_sign");
    X509_NAME_free(name);
    return x;
}

char *bio_to_str(BIO *b, size_t *len)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        die("oom");
    memcpy(s, data, (size_t)n);
    s[n] = 0;
    *len = (size_t)n;
    BIO_free(b);
    return s;
}

static void make_pki(void)
{
    BIO *b;
    pki.ca_key = gen_p256();
    pki.ca = make_cert(pki.ca_key, "kitls bench CA", NULL, pki.ca_key, 1, 1);

    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, pki.ca);
    pki.ca_pem = bio_to_str(b, &pki.ca_pem_len);
    b = BIO_new(BIO_s_mem());
    for (int i = 0; i < n_leaves; i++) {
        struct leaf *l = &leaves[i];
        l->key = gen_p256();
        l->x = make_cert(l->key, "localhost", pki.ca, pki.ca_key, 2 + i, 0);
        PEM_write_bio_X509(b, l->x);
        l->pem = bio_to_str(b, &l->pem_len);
        b = BIO_new(BIO_s_mem());
        PEM_write_bio_PrivateKey(b, l->key, NULL, NULL, 0, NULL, NULL);
        l->key_pem = bio_to_str(b, &l->key_pem_len);
        b = BIO_new(BIO_s_mem());
    }
    BIO_free(b);
}

/* ------------------------------------------------------------------ */
/* Suites                                                              */
/* ------------------------------------------------------------------ */

const struct suite suites[NSUITES] = {
    {0x1301, "TLS_AES_128_GCM_SHA256", "AES-128-GCM", "aes128gcm"},
    {0x1302, "TLS_AES_256_GCM_SHA384", "AES-256-GCM", "aes256gcm"},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256", "ChaCha20-Poly1305", "chacha20"},
};

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

const char *lib_name[2] = {"kitls", "openssl"};

struct hs_result hs_res[2];
double hs_paired_ratio;
double hs_paired_ratio_cpu;

void set_err(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Handshake benchmark                                                 */
/* ------------------------------------------------------------------ */

/* One full handshake with a fresh connection pair; returns 0 or -1. */
__attribute__((noinline)) static int one_handshake(int lib, char *err, size_t errn, size_t *c2s,
                                                   size_t *s2c)
{
    cur_leaf = (int)(hs_counter++ % (unsigned long)n_leaves);
    if (lib == L_OSSL) {
        struct ossl_pair p;
        int r = -1;
        if (ossl_pair_new(&p, ossl_cctx, 0) == 0)
            r = ossl_handshake(&p, err, errn);
        else
            set_err(err, errn, "SSL_new failed");
        if (r == 0 && c2s != NULL) {
            BIO *b = SSL_get_wbio(p.c), *bs = SSL_get_wbio(p.s);
            *c2s = (size_t)BIO_number_written(b);
            *s2c = (size_t)BIO_number_written(bs);
        }
        if (r == 0 &&
            (SSL_get_verify_result(p.c) != X509_V_OK ||
             SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(p.c)) != suites[HS_SUITE].id)) {
            set_err(err, errn, "openssl: unexpected verify result or suite");
            r = -1;
        }
        ossl_pair_free(&p);
        return r;
    }
#ifndef KITLS_BENCH_NO_KITLS
    {
        struct k_pair p;
        int r = -1;
        if (k_pair_new(&p, k_ccfg, err, errn) == 0)
            r = k_handshake(&p, err, errn);
        if (r == 0 && c2s != NULL) {
            *c2s = p.c2s;
            *s2c = p.s2c;
        }
        if (r == 0 && (!kitls_conn_is_established(p.c) || !kitls_conn_is_established(p.s) ||
                       kitls_conn_suite(p.c) != suites[HS_SUITE].id ||
                       kitls_conn_group(p.c) != kitls_group_by_name(opt.group) ||
                       !kitls_conn_peer_authenticated(p.c))) {
            set_err(err, errn,
                    "kitls: unexpected state after handshake (suite %04x group %04x auth %d)",
                    kitls_conn_suite(p.c), kitls_conn_group(p.c),
                    kitls_conn_peer_authenticated(p.c));
            r = -1;
        }
        k_pair_free(&p);
        return r;
    }
#else
    set_err(err, errn, "built without kitls");
    return -1;
#endif
}

int lib_enabled(int lib)
{
    return lib == L_KITLS ? opt.lib_kitls : opt.lib_ossl;
}

static void bench_handshakes(void)
{
    for (int lib = 0; lib < 2; lib++) {
        struct hs_result *r = &hs_res[lib];
        if (!lib_enabled(lib))
            continue;
        r->ok = lib_setup(lib, r->err, sizeof(r->err)) == 0;
        /* warm-up and functional check */
        for (int i = 0; r->ok && i < 20; i++)
            if (one_handshake(lib, r->err, sizeof(r->err), NULL, NULL) < 0)
                r->ok = 0;
    }
    for (int round = 0; round < opt.rounds; round++) {
        for (int l = 0; l < 2; l++) {
            /* alternate which library goes first */
            int lib = (round & 1) ? 1 - l : l;
            struct hs_result *r = &hs_res[lib];
            double t0, t1, c0, c1;
            long n = 0;
            if (!lib_enabled(lib) || !r->ok)
                continue;
            c0 = now_cpu();
            t0 = now();
            for (;;) {
                if (one_handshake(lib, r->err, sizeof(r->err), NULL, NULL) < 0) {
                    r->ok = 0;
                    break;
                }
                n++;
                if (opt.count > 0) {
                    if (n >= opt.count)
                        break;
                } else if ((n & 7) == 0 && now() - t0 >= opt.seconds) {
                    break;
                }
            }
            t1 = now();
            c1 = now_cpu();
            r->rate[round] = (double)n / (t1 - t0);
            r->rate_cpu[round] = (double)n / (c1 - c0);
            r->n_total += n;
        }
    }
    /* per-round ratios: both libraries ran back to back in each round, so
     * their ratio is less sensitive to slow drifts in machine load */
    if (hs_res[0].ok && hs_res[1].ok) {
        double rr[16];
        for (int i = 0; i < opt.rounds; i++)
            rr[i] = hs_res[1].rate[i] > 0 ? hs_res[0].rate[i] / hs_res[1].rate[i] : 0;
        hs_paired_ratio = median(rr, opt.rounds);
        for (int i = 0; i < opt.rounds; i++)
            rr[i] = hs_res[1].rate_cpu[i] > 0 ? hs_res[0].rate_cpu[i] / hs_res[1].rate_cpu[i] : 0;
        hs_paired_ratio_cpu = median(rr, opt.rounds);
    }
    for (int lib = 0; lib < 2; lib++) {
        if (hs_res[lib].ok) {
            /* median() sorts: keep the per-round order for the JSON */
            double tmp[16];
            memcpy(tmp, hs_res[lib].rate, sizeof(tmp));
            hs_res[lib].med = median(tmp, opt.rounds);
            memcpy(tmp, hs_res[lib].rate_cpu, sizeof(tmp));
            hs_res[lib].med_cpu = median(tmp, opt.rounds);
        }
    }
}

/* Allocations per handshake and live heap per established pair. */
static void bench_alloc(void)
{
    const int n = 200;
    for (int lib = 0; lib < 2; lib++) {
        struct hs_result *r = &hs_res[lib];
        unsigned long long a0, o0;
        long long live0, peak_growth = 0;
        size_t c2s = 0, s2c = 0;
        int ok = 1;
        if (!lib_enabled(lib))
            continue;
        if (!opt.do_hs) {
            r->ok = lib_setup(lib, r->err, sizeof(r->err)) == 0;
            for (int i = 0; r->ok && i < 20; i++)
                if (one_handshake(lib, r->err, sizeof(r->err), NULL, NULL) < 0)
                    r->ok = 0;
        }
        if (!r->ok)
            continue;
        g_heap_track = 1;
        /* warm up under accounting: objects allocated before it was on and
         * freed now would otherwise skew the live-byte deltas */
        for (int i = 0; i < 5 && ok; i++)
            ok = one_handshake(lib, r->err, sizeof(r->err), NULL, NULL) == 0;
        a0 = g_heap.allocs;
        o0 = g_ossl_allocs;
        for (int i = 0; i < n && ok; i++) {
            live0 = g_heap.live;
            g_heap.peak = g_heap.live;
            ok = one_handshake(lib, r->err, sizeof(r->err), &c2s, &s2c) == 0;
            if (g_heap.peak - live0 > peak_growth)
                peak_growth = g_heap.peak - live0;
        }
        if (!ok) {
            r->ok = 0;
            continue;
        }
        r->allocs = (double)(g_heap.allocs - a0) / n;
        r->ossl_allocs = (double)(g_ossl_allocs - o0) / n;
        r->hs_peak = peak_growth;
        r->c2s = c2s;
        r->s2c = s2c;
        r->have_alloc = 1;
        /* live heap of one established pair (after the handshake) */
        live0 = g_heap.live;
        if (lib == L_OSSL) {
            struct ossl_pair p;
            if (ossl_pair_new(&p, ossl_cctx, 0) == 0 &&
                ossl_handshake(&p, r->err, sizeof(r->err)) == 0)
                r->pair_live = g_heap.live - live0;
            ossl_pair_free(&p);
        }
#ifndef KITLS_BENCH_NO_KITLS
        else {
            struct k_pair p;
            if (k_pair_new(&p, k_ccfg, r->err, sizeof(r->err)) == 0 &&
                k_handshake(&p, r->err, sizeof(r->err)) == 0)
                r->pair_live = g_heap.live - live0;
            k_pair_free(&p);
        }
#endif
        g_heap_track = 0;
    }
    g_heap_track = 0;
}

int main(int argc, char **argv)
{
    /* must precede every other libcrypto call */
    g_ossl_hooked = CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
    peers_hook_install(); /* likewise before any kitls object */
    parse_args(argc, argv);
    read_cpu_model();
    if (opt.rounds > 16)
        opt.rounds = 16;

    tput_buffers_init();

    make_pki();
    if (opt.do_raw || opt.do_lat || opt.do_mem)
        scen_setup();

    if (opt.do_raw)
        bench_raw();
    if (opt.do_hs)
        bench_handshakes();
    if (opt.do_alloc)
        bench_alloc();
    if (opt.do_tput)
        bench_tput();
    if (opt.do_lat)
        scen_bench_lat();
    if (opt.do_mem)
        scen_bench_mem();
    if (opt.do_peers)
        peers_bench();

    if (opt.json) {
        jout = stdout;
        print_json();
    } else {
        print_table();
        if (opt.do_lat || opt.do_mem)
            scen_print_table();
        if (opt.do_peers)
            peers_print_table();
    }
    if (opt.json_file != NULL) {
        jout = fopen(opt.json_file, "w");
        if (jout == NULL)
            die("cannot write %s: %s", opt.json_file, strerror(errno));
        print_json();
        fclose(jout);
    }

    lib_free();
    scen_free();
    if (opt.do_peers && peers_failed()) {
        fprintf(stderr, "kitls-bench: a peers row failed or a proof did not hold\n");
        peers_free();
        return 2;
    }
    peers_free();
    return 0;
}
