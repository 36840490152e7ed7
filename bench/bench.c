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
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bench.h"

static int n_leaves = 1; /* --certs */

/* write sizes of the throughput test; index TPUT_16K is the original figure */
static const size_t tput_size[] = {1024, 16384, 1048576};
static const char *const tput_size_name[] = {"1k", "16k", "1m"};
#define NSIZES 3
#define TPUT_16K 1
static int tput_on[NSIZES] = {1, 1, 1}; /* --sizes */
#define TPUT_SLICES 8 /* connections per library and measurement, taking turns */

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
    long long live;            /* usable bytes currently allocated */
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
static int g_ossl_hooked;

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

struct bench_opt opt = {1.0, 3, 256, 0, 0, NULL, 1, 1, 1, 1, 1, 1, 1, 1, NULL};

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
           "  --only LIST   comma list of hs,tput,raw,alloc,lat,mem (default all)\n"
           "                hs: full handshakes/s; tput: record throughput; raw: libcrypto\n"
           "                limits; alloc: allocations per handshake; lat: handshake latency\n"
           "                per scenario, client and server CPU; mem: heap per connection\n"
           "  --scenarios L comma list of lat/mem scenarios (default all; --list-scenarios)\n"
           "  --sizes L     comma list of throughput write sizes 1k,16k,1m (default all;\n"
           "                1 KiB writes move --mib/4)\n"
           "  --lib L       kitls, openssl or both (default both)\n"
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
        } else if (strcmp(a, "--lib") == 0) {
            opt.lib_kitls = strcmp(v, "kitls") == 0 || strcmp(v, "both") == 0;
            opt.lib_ossl = strcmp(v, "openssl") == 0 || strcmp(v, "both") == 0;
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
static int cur_leaf;            /* server leaf of the pair being created */
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

X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long serial, int is_ca)
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

static const struct suite {
    uint16_t id;
    const char *name;   /* IANA / OpenSSL TLS 1.3 name */
    const char *cipher; /* libcrypto cipher */
    const char *short_name;
} suites[] = {
    {0x1301, "TLS_AES_128_GCM_SHA256", "AES-128-GCM", "aes128gcm"},
    {0x1302, "TLS_AES_256_GCM_SHA384", "AES-256-GCM", "aes256gcm"},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256", "ChaCha20-Poly1305", "chacha20"},
};
#define NSUITES 3
#define HS_SUITE 0 /* the suite used for the handshake benchmark */

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

const char *lib_name[2] = {"kitls", "openssl"};

struct hs_result {
    int ok;
    char err[200];
    double rate[16]; /* per round, wall clock (CLOCK_MONOTONIC) */
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

struct tput_result {
    int ok;
    char err[200];
    double mbs[16], mbs_cpu[16];
    double med, med_cpu;
    double paired_cpu; /* [L_KITLS] only: median of per-round kitls/openssl CPU ratios */
};

static struct hs_result hs_res[2];
static double hs_paired_ratio;     /* median of per-round kitls/openssl ratios (wall) */
static double hs_paired_ratio_cpu; /* the same from CPU-time rates (the gate's) */
static struct tput_result tput_res[2][NSUITES][NSIZES];

struct raw_figures raw;

void set_err(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* OpenSSL (libssl) side                                               */
/* ------------------------------------------------------------------ */

static SSL_CTX *ossl_sctx[MAX_LEAVES], *ossl_cctx;

static SSL_CTX *ossl_ctx(int server, const char *suites_list, int leaf)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL)
        die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    if (!SSL_CTX_set1_groups_list(ctx, "X25519"))
        die("groups");
    if (!SSL_CTX_set_ciphersuites(ctx, suites_list))
        die("ciphersuites");
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (server) {
        if (SSL_CTX_use_certificate(ctx, leaves[leaf].x) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, leaves[leaf].key) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
            die("server cert");
    } else {
        X509_STORE *st = SSL_CTX_get_cert_store(ctx);
        if (!X509_STORE_add_cert(st, pki.ca))
            die("ca");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

struct ossl_pair {
    SSL *c, *s;
};

static int ossl_pair_new(struct ossl_pair *p, SSL_CTX *cctx, size_t bufsz)
{
    BIO *bc = NULL, *bs = NULL;
    p->c = SSL_new(cctx);
    p->s = SSL_new(ossl_sctx[cur_leaf]);
    if (p->c == NULL || p->s == NULL || !BIO_new_bio_pair(&bc, bufsz, &bs, bufsz))
        return -1;
    SSL_set_bio(p->c, bc, bc);
    SSL_set_bio(p->s, bs, bs);
    SSL_set_connect_state(p->c);
    SSL_set_accept_state(p->s);
    if (!SSL_set_tlsext_host_name(p->c, "localhost") || !SSL_set1_host(p->c, "localhost"))
        return -1;
    return 0;
}

static void ossl_pair_free(struct ossl_pair *p)
{
    SSL_free(p->c);
    SSL_free(p->s);
    p->c = p->s = NULL;
}

int ossl_step(SSL *s, int *done, char *err, size_t errn)
{
    int r, e;
    if (*done)
        return 0;
    r = SSL_do_handshake(s);
    if (r == 1) {
        *done = 1;
        return 0;
    }
    e = SSL_get_error(s, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    set_err(err, errn, "SSL_do_handshake: error %d (%s), verify %ld", e,
            ERR_reason_error_string(ERR_peek_error()), SSL_get_verify_result(s));
    ERR_clear_error();
    return -1;
}

static int ossl_handshake(struct ossl_pair *p, char *err, size_t errn)
{
    int cd = 0, sd = 0;
    for (int i = 0; i < 64 && !(cd && sd); i++) {
        if (ossl_step(p->c, &cd, err, errn) < 0 || ossl_step(p->s, &sd, err, errn) < 0)
            return -1;
    }
    if (!(cd && sd)) {
        set_err(err, errn, "handshake did not complete");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* kitls side                                                          */
/* ------------------------------------------------------------------ */

#ifndef KITLS_BENCH_NO_KITLS
static kitls_config *k_scfg[MAX_LEAVES], *k_ccfg;

static kitls_config *k_cfg(int server, uint16_t suite, int leaf, char *err, size_t errn)
{
    static const uint16_t groups[] = {KITLS_GROUP_X25519};
    kitls_config *cfg = kitls_config_new(server ? KITLS_ROLE_SERVER : KITLS_ROLE_CLIENT);
    int r;
    if (cfg == NULL) {
        set_err(err, errn, "kitls_config_new failed");
        return NULL;
    }
    if ((r = kitls_config_set_groups(cfg, groups, 1)) < 0)
        goto fail;
    if (suite != 0 && (r = kitls_config_set_suites(cfg, &suite, 1)) < 0)
        goto fail;
    if (server) {
        /* like the OpenSSL side (SSL_OP_NO_TICKET, num_tickets 0): no
         * NewSessionTicket, so both do the same work */
        if ((r = kitls_config_set_tickets(cfg, 0, 7200)) < 0)
            goto fail;
        if ((r = kitls_config_add_cert_pem(cfg, leaves[leaf].pem, leaves[leaf].pem_len,
                                           leaves[leaf].key_pem, leaves[leaf].key_pem_len)) < 0)
            goto fail;
    } else {
        if ((r = kitls_config_load_ca_pem(cfg, pki.ca_pem, pki.ca_pem_len)) < 0)
            goto fail;
        if ((r = kitls_config_set_verify(cfg, KITLS_VERIFY_REQUIRE)) < 0)
            goto fail;
    }
    return cfg;
fail:
    set_err(err, errn, "config: %s (%d)", kitls_error_string(r), r);
    kitls_config_free(cfg);
    return NULL;
}

struct k_pair {
    kitls_conn *c, *s;
    size_t c2s, s2c;
};

static int k_pair_new(struct k_pair *p, kitls_config *ccfg, char *err, size_t errn)
{
    int r;
    p->c2s = p->s2c = 0;
    p->c = kitls_conn_new(ccfg);
    p->s = kitls_conn_new(k_scfg[cur_leaf]);
    if (p->c == NULL || p->s == NULL) {
        set_err(err, errn, "kitls_conn_new failed");
        return -1;
    }
    if ((r = kitls_conn_set_server_name(p->c, "localhost")) < 0) {
        set_err(err, errn, "set_server_name: %s", kitls_error_string(r));
        return -1;
    }
    return 0;
}

static void k_pair_free(struct k_pair *p)
{
    kitls_conn_free(p->c);
    kitls_conn_free(p->s);
    p->c = p->s = NULL;
}

/* Move all pending output of from into to. */
int k_move(kitls_conn *from, kitls_conn *to, size_t *count)
{
    const uint8_t *buf;
    size_t n;
    while ((n = kitls_conn_out_peek(from, &buf)) > 0) {
        int r = kitls_conn_feed(to, buf, n);
        if (r < 0)
            return r;
        kitls_conn_out_consume(from, n);
        *count += n;
    }
    return 0;
}

int k_step(kitls_conn *c, int *done)
{
    int r;
    if (*done)
        return 0;
    r = kitls_conn_handshake(c);
    if (r == 0)
        *done = 1;
    else if (r != KITLS_E_WANT_READ)
        return r;
    return 0;
}

static void k_fail(struct k_pair *p, int r, char *err, size_t errn)
{
    const char *d1 = kitls_conn_verify_detail(p->c);
    set_err(err, errn, "kitls handshake: %s (%d); client err %d, server err %d, peer alerts c=%d s=%d%s%s",
            kitls_error_string(r), r, kitls_conn_error(p->c), kitls_conn_error(p->s),
            kitls_conn_peer_alert(p->c), kitls_conn_peer_alert(p->s), d1 && *d1 ? "; verify: " : "",
            d1 ? d1 : "");
}

static int k_handshake(struct k_pair *p, char *err, size_t errn)
{
    int cd = 0, sd = 0, r = 0;
    for (int i = 0; i < 64; i++) {
        if ((r = k_step(p->c, &cd)) < 0)
            break;
        if ((r = k_move(p->c, p->s, &p->c2s)) < 0)
            break;
        if ((r = k_step(p->s, &sd)) < 0)
            break;
        if ((r = k_move(p->s, p->c, &p->s2c)) < 0)
            break;
        if (cd && sd)
            return 0;
    }
    if (r == 0)
        r = KITLS_E_STATE;
    k_fail(p, r, err, errn);
    return -1;
}
#endif

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
        if (r == 0 && (SSL_get_verify_result(p.c) != X509_V_OK ||
                       SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(p.c)) !=
                           suites[HS_SUITE].id)) {
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
                       kitls_conn_group(p.c) != KITLS_GROUP_X25519 ||
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

static int lib_setup(int lib, char *err, size_t errn)
{
    if (lib == L_OSSL) {
        if (ossl_cctx == NULL) {
            for (int i = 0; i < n_leaves; i++) {
                ossl_sctx[i] = ossl_ctx(1, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                           "TLS_CHACHA20_POLY1305_SHA256", i);
                SSL_CTX_set_options(ossl_sctx[i], SSL_OP_CIPHER_SERVER_PREFERENCE);
            }
            ossl_cctx = ossl_ctx(0, suites[HS_SUITE].name, 0);
        }
        return 0;
    }
#ifndef KITLS_BENCH_NO_KITLS
    if (k_ccfg == NULL) {
        for (int i = 0; i < n_leaves; i++)
            if ((k_scfg[i] = k_cfg(1, 0, i, err, errn)) == NULL)
                return -1;
        k_ccfg = k_cfg(0, suites[HS_SUITE].id, 0, err, errn);
        if (k_ccfg == NULL)
            return -1;
    }
    return 0;
#else
    set_err(err, errn, "built without kitls");
    return -1;
#endif
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
            if (ossl_pair_new(&p, ossl_cctx, 0) == 0 && ossl_handshake(&p, r->err, sizeof(r->err)) == 0)
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

/* ------------------------------------------------------------------ */
/* Record throughput                                                   */
/* ------------------------------------------------------------------ */

static uint8_t *wbuf, *rbuf;
#define BUF_LEN (1048576u + 64u) /* wbuf/rbuf: the largest write size */

/* Bytes to write per suite, size and round: --mib, a quarter of it for
 * 1 KiB writes (4x the per-byte cost), and at least one write. */
static size_t tput_total(int zi)
{
    size_t total = (size_t)opt.mib << 20;
    if (tput_size[zi] < REC_LEN)
        total /= 4;
    return total < tput_size[zi] ? tput_size[zi] : total;
}

/* Server: read until `want` bytes arrived; WANT_READ ends it early. */
static int ossl_drain(SSL *s, size_t *got, size_t want, char *err, size_t errn)
{
    while (*got < want) {
        int r = SSL_read(s, rbuf + *got, (int)(want - *got));
        if (r <= 0) {
            int e = SSL_get_error(s, r);
            if (e == SSL_ERROR_WANT_READ)
                return 0;
            set_err(err, errn, "SSL_read: %d", e);
            return -1;
        }
        *got += (size_t)r;
    }
    return 0;
}

static int tput_ossl(int si, int zi, size_t total, double *secs, double *secs_cpu, char *err,
                     size_t errn)
{
    SSL_CTX *cctx = ossl_ctx(0, suites[si].name, 0);
    struct ossl_pair p;
    size_t wlen = tput_size[zi], done = 0;
    double t0 = 0, t1, c0 = 0, c1;
    int warm = 1;
    int rc = -1;
    /* room for one full record plus header/tag in each direction */
    if (ossl_pair_new(&p, cctx, 64 * 1024) < 0 || ossl_handshake(&p, err, errn) < 0)
        goto out;
    if (SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(p.c)) != suites[si].id) {
        set_err(err, errn, "openssl negotiated the wrong suite");
        goto out;
    }
    while (done < total) {
        size_t got = 0;
        /* a write larger than the BIO pair holds returns WANT_WRITE: the
         * server reads, then the same SSL_write is retried (it resumes) */
        for (;;) {
            int w = SSL_write(p.c, wbuf, (int)wlen);
            if (w == (int)wlen)
                break;
            if (w > 0 || SSL_get_error(p.c, w) != SSL_ERROR_WANT_WRITE) {
                set_err(err, errn, "SSL_write: %d", SSL_get_error(p.c, w));
                goto out;
            }
            if (ossl_drain(p.s, &got, wlen, err, errn) < 0)
                goto out;
        }
        if (ossl_drain(p.s, &got, wlen, err, errn) < 0)
            goto out;
        if (got != wlen) {
            set_err(err, errn, "openssl: short read (%zu of %zu)", got, wlen);
            goto out;
        }
        /* the first write is a check and a warm-up (buffers grow to
         * their size), not timed */
        if (warm) {
            if (memcmp(wbuf, rbuf, wlen) != 0) {
                set_err(err, errn, "openssl: data mismatch");
                goto out;
            }
            warm = 0;
            c0 = now_cpu();
            t0 = now();
            continue;
        }
        done += wlen;
    }
    t1 = now();
    c1 = now_cpu();
    *secs += t1 - t0;
    *secs_cpu += c1 - c0;
    rc = 0;
out:
    ossl_pair_free(&p);
    SSL_CTX_free(cctx);
    return rc;
}

#ifndef KITLS_BENCH_NO_KITLS
/* Move the client's output to the server at most one 16 KiB record (plus
 * header and tag) per feed, reading what arrived after each feed, like a
 * socket delivering records.  For 16 KiB writes this is one feed per write,
 * as before the write sizes were added. */
static int k_pump(struct k_pair *p, size_t *got, size_t want, char *err, size_t errn)
{
    const uint8_t *buf;
    size_t n;
    while ((n = kitls_conn_out_peek(p->c, &buf)) > 0) {
        int r;
        if (n > REC_LEN + 256)
            n = REC_LEN + 256;
        if ((r = kitls_conn_feed(p->s, buf, n)) < 0) {
            set_err(err, errn, "kitls_conn_feed: %s (%d)", kitls_error_string(r), r);
            return -1;
        }
        kitls_conn_out_consume(p->c, n);
        while (*got < want) {
            r = kitls_conn_read(p->s, rbuf + *got, want - *got);
            if (r == KITLS_E_WANT_READ)
                break;
            if (r <= 0) {
                set_err(err, errn, "kitls_conn_read: %s (%d) after %zu bytes",
                        kitls_error_string(r), r, *got);
                return -1;
            }
            *got += (size_t)r;
        }
    }
    return 0;
}

static int tput_kitls(int si, int zi, size_t total, double *secs, double *secs_cpu, char *err,
                      size_t errn)
{
    kitls_config *ccfg = k_cfg(0, suites[si].id, 0, err, errn);
    struct k_pair p = {0};
    size_t wlen = tput_size[zi], done = 0, dummy = 0;
    double t0 = 0, t1, c0 = 0, c1;
    int warm = 1;
    int rc = -1;
    if (ccfg == NULL)
        return -1;
    if (k_pair_new(&p, ccfg, err, errn) < 0 || k_handshake(&p, err, errn) < 0)
        goto out;
    if (kitls_conn_suite(p.c) != suites[si].id || kitls_conn_suite(p.s) != suites[si].id) {
        set_err(err, errn, "kitls negotiated the wrong suite (%04x)", kitls_conn_suite(p.c));
        goto out;
    }
    while (done < total) {
        size_t got = 0;
        int w = kitls_conn_write(p.c, wbuf, wlen);
        if (w != (int)wlen) {
            set_err(err, errn, "kitls_conn_write: %s (%d)", kitls_error_string(w), w);
            goto out;
        }
        if (k_pump(&p, &got, wlen, err, errn) < 0)
            goto out;
        if (got != wlen) {
            set_err(err, errn, "kitls: short read (%zu of %zu)", got, wlen);
            goto out;
        }
        /* the server may have queued something (e.g. tickets); drop it */
        if (kitls_conn_out_peek(p.s, &(const uint8_t *){NULL}) > 0)
            (void)k_move(p.s, p.c, &dummy);
        if (warm) {
            if (memcmp(wbuf, rbuf, wlen) != 0) {
                set_err(err, errn, "kitls: data mismatch");
                goto out;
            }
            warm = 0;
            c0 = now_cpu();
            t0 = now();
            continue;
        }
        done += wlen;
    }
    t1 = now();
    c1 = now_cpu();
    *secs += t1 - t0;
    *secs_cpu += c1 - c0;
    rc = 0;
out:
    k_pair_free(&p);
    kitls_config_free(ccfg);
    return rc;
}
#endif

static void bench_tput(void)
{
    char err[200];
    for (int lib = 0; lib < 2; lib++) {
        if (lib_enabled(lib)) {
            int ok = lib_setup(lib, err, sizeof(err)) == 0;
            for (int si = 0; si < NSUITES; si++)
                for (int zi = 0; zi < NSIZES; zi++) {
                    struct tput_result *r = &tput_res[lib][si][zi];
                    r->ok = ok && tput_on[zi];
                    if (!ok)
                        set_err(r->err, sizeof(r->err), "%s", err);
                }
        }
    }
    /* Each measurement is TPUT_SLICES connections per library, taking
     * turns (the order flips every round), each moving 1/TPUT_SLICES of
     * the bytes after an untimed first write: a disturbance of the
     * machine then slows both libraries alike rather than one of them. */
    for (int round = 0; round < opt.rounds; round++) {
        for (int si = 0; si < NSUITES; si++) {
            for (int zi = 0; zi < NSIZES; zi++) {
                double secs[2] = {0, 0}, cpu[2] = {0, 0};
                size_t part = tput_total(zi) / TPUT_SLICES;
                if (part < tput_size[zi])
                    part = tput_size[zi];
                part -= part % tput_size[zi];
                for (int k = 0; k < TPUT_SLICES; k++) {
                    for (int l = 0; l < 2; l++) {
                        int lib = (round & 1) ? 1 - l : l;
                        struct tput_result *r = &tput_res[lib][si][zi];
                        int rc;
                        if (!lib_enabled(lib) || !r->ok)
                            continue;
                        if (lib == L_OSSL)
                            rc = tput_ossl(si, zi, part, &secs[lib], &cpu[lib], r->err,
                                           sizeof(r->err));
                        else
#ifndef KITLS_BENCH_NO_KITLS
                            rc = tput_kitls(si, zi, part, &secs[lib], &cpu[lib], r->err,
                                            sizeof(r->err));
#else
                            rc = -1;
#endif
                        if (rc < 0)
                            r->ok = 0;
                    }
                }
                for (int lib = 0; lib < 2; lib++) {
                    struct tput_result *r = &tput_res[lib][si][zi];
                    if (r->ok && secs[lib] > 0 && cpu[lib] > 0) {
                        r->mbs[round] = (double)part * TPUT_SLICES / secs[lib] / 1e6;
                        r->mbs_cpu[round] = (double)part * TPUT_SLICES / cpu[lib] / 1e6;
                    }
                }
            }
        }
    }
    /* per-round ratios first (median() sorts): the libraries ran back to
     * back in each round, so a round disturbed for one of them is one
     * outlier among the ratios rather than a shift of one median */
    for (int si = 0; si < NSUITES; si++)
        for (int zi = 0; zi < NSIZES; zi++) {
            struct tput_result *k = &tput_res[0][si][zi], *o = &tput_res[1][si][zi];
            double rr[16];
            if (!k->ok || !o->ok)
                continue;
            for (int i = 0; i < opt.rounds; i++)
                rr[i] = o->mbs_cpu[i] > 0 ? k->mbs_cpu[i] / o->mbs_cpu[i] : 0;
            k->paired_cpu = median(rr, opt.rounds);
        }
    for (int lib = 0; lib < 2; lib++)
        for (int si = 0; si < NSUITES; si++)
            for (int zi = 0; zi < NSIZES; zi++) {
                struct tput_result *r = &tput_res[lib][si][zi];
                if (r->ok) {
                    r->med = median(r->mbs, opt.rounds);
                    r->med_cpu = median(r->mbs_cpu, opt.rounds);
                }
            }
}

/* ------------------------------------------------------------------ */
/* Raw libcrypto limits                                                */
/* ------------------------------------------------------------------ */

/* Raw measurements are upper bounds: each runs opt.rounds times for
 * raw_secs and the best round is kept. */
double raw_secs = 0.5;

static void keep_max(double *dst, double v)
{
    if (v > *dst)
        *dst = v;
}

void keep_min(double *dst, double v)
{
    if (*dst == 0 || v < *dst)
        *dst = v;
}

/* EVP seal+open (and seal alone) of records of rlen bytes of data. */
static void raw_aead(int si, size_t rlen)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, suites[si].cipher, NULL);
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
    uint8_t key[32], iv[12], aad[5] = {23, 3, 3, (uint8_t)((rlen + 17) >> 8), (uint8_t)(rlen + 17)}, tag[16];
    static uint8_t ct[REC_LEN + 64], pt[REC_LEN + 64];
    double us_both, us_seal;
    int outl;
    if (c == NULL || e == NULL || d == NULL)
        die("cipher %s", suites[si].cipher);
    RAND_bytes(key, sizeof(key));
    RAND_bytes(iv, sizeof(iv));
    if (!EVP_EncryptInit_ex2(e, c, key, iv, NULL) || !EVP_DecryptInit_ex2(d, c, key, iv, NULL))
        die("aead init");
    /* TLS 1.3 record: rlen bytes of data + 1 content type byte, 5-byte AAD
     * (wbuf[rlen] is data here, standing in for the content type) */
#define SEAL()                                                                                     \
    do {                                                                                           \
        iv[11]++;                                                                                  \
        if (!EVP_EncryptInit_ex2(e, NULL, NULL, iv, NULL) ||                                       \
            !EVP_EncryptUpdate(e, NULL, &outl, aad, 5) ||                                          \
            !EVP_EncryptUpdate(e, ct, &outl, wbuf, (int)rlen + 1) ||                                 \
            !EVP_EncryptFinal_ex(e, ct + outl, &outl) ||                                           \
            !EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_GET_TAG, 16, tag))                               \
            die("seal");                                                                           \
    } while (0)
#define OPEN()                                                                                     \
    do {                                                                                           \
        if (!EVP_DecryptInit_ex2(d, NULL, NULL, iv, NULL) ||                                       \
            !EVP_DecryptUpdate(d, NULL, &outl, aad, 5) ||                                          \
            !EVP_DecryptUpdate(d, pt, &outl, ct, (int)rlen + 1) ||                                   \
            !EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_AEAD_SET_TAG, 16, tag) ||                             \
            EVP_DecryptFinal_ex(d, pt + outl, &outl) != 1)                                         \
            die("open");                                                                           \
    } while (0)
    TIME_LOOP(us_both, SEAL(); OPEN());
    if (memcmp(pt, wbuf, rlen) != 0)
        die("aead mismatch");
    if (rlen < REC_LEN) {
        keep_max(&raw.aead_mbs_1k[si], (double)rlen / us_both);
    } else {
        TIME_LOOP(us_seal, SEAL());
        keep_max(&raw.aead_mbs[si], (double)rlen / us_both);
        keep_max(&raw.aead_seal[si], (double)rlen / us_seal);
    }
#undef SEAL
#undef OPEN
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
    EVP_CIPHER_free(c);
}

static void raw_pk(void)
{
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
    EVP_PKEY *a = NULL, *b = NULL;
    uint8_t pub[32], secret[32], tbs[130], sig[80];
    size_t len;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY *leaf_pub = X509_get0_pubkey(leaves[0].x), *ca_pub = X509_get0_pubkey(pki.ca);
    double kg_us, dr_us, sg_us, vf_us, xv_us, xp_us;
    if (kctx == NULL || EVP_PKEY_keygen_init(kctx) <= 0 || md == NULL)
        die("x25519 ctx");

    /* keygen + export of the public share */
    TIME_LOOP(kg_us, {
        EVP_PKEY *k = NULL;
        len = sizeof(pub);
        if (EVP_PKEY_keygen(kctx, &k) <= 0 || !EVP_PKEY_get_raw_public_key(k, pub, &len))
            die("x25519 keygen");
        EVP_PKEY_free(k);
    });
    if (EVP_PKEY_keygen(kctx, &a) <= 0 || EVP_PKEY_keygen(kctx, &b) <= 0)
        die("x25519 keygen");
    len = sizeof(pub);
    EVP_PKEY_get_raw_public_key(b, pub, &len);
    /* import the peer share + derive */
    TIME_LOOP(dr_us, {
        EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
        EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(a, NULL);
        size_t sl = sizeof(secret);
        if (peer == NULL || dctx == NULL || EVP_PKEY_derive_init(dctx) <= 0 ||
            EVP_PKEY_derive_set_peer(dctx, peer) <= 0 || EVP_PKEY_derive(dctx, secret, &sl) <= 0)
            die("x25519 derive");
        EVP_PKEY_CTX_free(dctx);
        EVP_PKEY_free(peer);
    });

    /* CertificateVerify: 64 spaces, context string, 0, transcript hash */
    memset(tbs, 0x20, 64);
    memcpy(tbs + 64, "TLS 1.3, server CertificateVerify", 34);
    RAND_bytes(tbs + 98, 32);
    TIME_LOOP(sg_us, {
        len = sizeof(sig);
        if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, leaves[0].key) <= 0 ||
            EVP_DigestSign(md, sig, &len, tbs, sizeof(tbs)) <= 0)
            die("ecdsa sign");
        EVP_MD_CTX_reset(md);
    });
    TIME_LOOP(vf_us, {
        if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, leaf_pub) <= 0 ||
            EVP_DigestVerify(md, sig, len, tbs, sizeof(tbs)) != 1)
            die("ecdsa verify");
        EVP_MD_CTX_reset(md);
    });
    /* chain: the leaf's signature by the CA (the anchor's self-signature
     * is not checked by default, by either library) */
    TIME_LOOP(xv_us, {
        if (X509_verify(leaves[0].x, ca_pub) != 1)
            die("X509_verify");
    });
    /* parsing the peer's leaf: both libraries do it once per handshake */
    {
        uint8_t *der = NULL;
        int dl = i2d_X509(leaves[0].x, &der);
        if (dl <= 0)
            die("i2d_X509");
        TIME_LOOP(xp_us, {
            const uint8_t *p = der;
            X509 *x = d2i_X509(NULL, &p, dl);
            if (x == NULL)
                die("d2i_X509");
            X509_free(x);
        });
        OPENSSL_free(der);
    }
    keep_min(&raw.x25519_keygen_us, kg_us);
    keep_min(&raw.x25519_derive_us, dr_us);
    keep_min(&raw.ecdsa_sign_us, sg_us);
    keep_min(&raw.ecdsa_verify_us, vf_us);
    keep_min(&raw.x509_verify_us, xv_us);
    keep_min(&raw.x509_parse_us, xp_us);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_CTX_free(kctx);
    EVP_MD_CTX_free(md);
}

static void bench_raw(void)
{
    for (int round = 0; round < opt.rounds; round++) {
        raw_secs = opt.seconds / 2;
        for (int si = 0; si < NSUITES; si++)
            raw_aead(si, REC_LEN);
        raw_pk();
        /* the figures added with the write sizes and the scenario matrix
         * run half as long, to keep a default run short */
        raw_secs = opt.seconds / 4;
        for (int si = 0; si < NSUITES; si++)
            raw_aead(si, 1024);
        scen_raw();
    }
    raw.hs_pk_us = 2 * raw.x25519_keygen_us + 2 * raw.x25519_derive_us + raw.ecdsa_sign_us +
                   raw.ecdsa_verify_us + raw.x509_verify_us;
    raw.hs_bound = 1e6 / raw.hs_pk_us;
    raw.hs_pk_parse_bound = 1e6 / (raw.hs_pk_us + raw.x509_parse_us);
    raw.done = 1;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static char cpu_model[128] = "unknown";

static void read_cpu_model(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                p[strcspn(p, "\n")] = 0;
                snprintf(cpu_model, sizeof(cpu_model), "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

static const char *kitls_ver(void)
{
#ifndef KITLS_BENCH_NO_KITLS
    return kitls_version();
#else
    return "(not built)";
#endif
}

static void print_ratio(double a, double b)
{
    if (a > 0 && b > 0)
        printf("%8.2fx", a / b);
    else
        printf("%9s", "-");
}

/* raw EVP seal+open MB/s for the records a write of size zi makes: 1 KiB
 * records, or 16 KiB records (a 1 MiB write is 64 of them) */
static double raw_for_size(int si, int zi)
{
    return tput_size[zi] < REC_LEN ? raw.aead_mbs_1k[si] : raw.aead_mbs[si];
}

static void print_tput_sizes(void)
{
    printf("Record throughput by write size, cpu time (MB/s); raw = EVP seal+open of the same\n"
           "records (a 1 MiB write is 64 records of 16 KiB):\n");
    printf("  %-28s %5s %9s %9s %6s | %9s %7s %7s\n", "suite", "write", "kitls", "openssl", "k/o",
           "raw EVP", "kitls", "ossl");
    for (int si = 0; si < NSUITES; si++)
        for (int zi = 0; zi < NSIZES; zi++) {
            struct tput_result *k = &tput_res[0][si][zi], *o = &tput_res[1][si][zi];
            double rw = raw.done ? raw_for_size(si, zi) : 0;
            if (!tput_on[zi])
                continue;
            printf("  %-28s %5s %9.1f %9.1f", suites[si].name, tput_size_name[zi],
                   k->ok ? k->med_cpu : 0, o->ok ? o->med_cpu : 0);
            if (k->ok && o->ok)
                printf(" %5.2fx |", k->med_cpu / o->med_cpu);
            else
                printf(" %6s |", "-");
            if (rw > 0)
                printf(" %9.1f %6.1f%% %6.1f%%\n", rw, k->ok ? 100 * k->med_cpu / rw : 0,
                       o->ok ? 100 * o->med_cpu / rw : 0);
            else
                printf(" %9s\n", "-");
        }
    printf("  target (issue #9): kitls >= 90%% of raw AEAD at 16 KiB\n\n");
}

static void print_table(void)
{
    printf("kitls-bench: kitls %s vs %s\n", kitls_ver(), OpenSSL_version(OPENSSL_VERSION));
    printf("cpu: %s; rounds %d (median), %.2f s per measurement%s, %u MiB per suite\n\n",
           cpu_model, opt.rounds, opt.seconds, opt.count ? " (or --count)" : "", opt.mib);
    if (opt.do_hs) {
        printf("Full handshakes (X25519, ECDSA P-256, %s, verify on, no tickets), both sides",
               suites[HS_SUITE].name);
        if (n_leaves > 1)
            printf(", %d distinct server leaves in rotation", n_leaves);
        printf(":\n");
        printf("  %-8s %12s %16s\n", "library", "hs/s (wall)", "hs/s (cpu time)");
        for (int lib = 0; lib < 2; lib++) {
            if (!lib_enabled(lib))
                continue;
            if (hs_res[lib].ok)
                printf("  %-8s %12.1f %16.1f\n", lib_name[lib], hs_res[lib].med, hs_res[lib].med_cpu);
            else
                printf("  %-8s %12s  (%s)\n", lib_name[lib], "FAIL", hs_res[lib].err);
        }
        printf("  ratio kitls/openssl: ");
        print_ratio(hs_res[0].med, hs_res[1].med);
        printf(" (cpu time: ");
        print_ratio(hs_res[0].med_cpu, hs_res[1].med_cpu);
        printf(")");
        if (hs_paired_ratio > 0)
            printf("   (median of per-round ratios %.2fx; issue #9 target >= 3.00x)\n", hs_paired_ratio);
        else
            printf("   (issue #9 target >= 3.00x)\n");
        if (raw.done) {
            printf("  libcrypto public-key bound: %.1f hs/s (%.1f us per handshake)\n",
                   raw.hs_bound, raw.hs_pk_us);
            for (int lib = 0; lib < 2; lib++)
                if (lib_enabled(lib) && hs_res[lib].ok)
                    printf("  %-8s fraction of bound (cpu time): %.1f%%; of the bound with an "
                           "uncached leaf parse: %.1f%%\n",
                           lib_name[lib], 100 * hs_res[lib].med_cpu / raw.hs_bound,
                           100 * hs_res[lib].med_cpu / raw.hs_pk_parse_bound);
        }
        printf("\n");
    }
    if (opt.do_alloc) {
        printf("Heap per handshake (whole process; libcrypto+libssl part via CRYPTO_set_mem_functions%s):\n",
               g_ossl_hooked ? "" : " - NOT available");
        printf("  %-8s %10s %12s %14s %14s %12s\n", "library", "allocs/hs", "of which ossl",
               "peak bytes/hs", "live/est.pair", "wire c>s/s>c");
        for (int lib = 0; lib < 2; lib++) {
            struct hs_result *r = &hs_res[lib];
            if (!lib_enabled(lib))
                continue;
            if (r->have_alloc && g_heap_hooked)
                printf("  %-8s %10.1f %12.1f %14lld %14lld %6zu/%zu\n", lib_name[lib], r->allocs,
                       r->ossl_allocs, r->hs_peak, r->pair_live, r->c2s, r->s2c);
            else if (r->have_alloc)
                printf("  %-8s %10s %12.1f %14s %14s %6zu/%zu\n", lib_name[lib], "n/a",
                       r->ossl_allocs, "n/a", "n/a", r->c2s, r->s2c);
            else
                printf("  %-8s %10s  (%s)\n", lib_name[lib], "FAIL", r->err);
        }
        printf("\n");
    }
    if (opt.do_tput) {
        printf("Record throughput, 16 KiB writes, client->server, encrypt+decrypt (MB/s, 1e6 B):\n");
        printf("  %-28s %8s %8s %6s | %8s %8s %6s", "", "wall", "", "", "cpu time", "", "");
        if (raw.done)
            printf(" | %8s %6s %6s", "raw EVP", "of raw", "");
        printf("\n  %-28s %8s %8s %6s | %8s %8s %6s", "suite", "kitls", "openssl", "k/o", "kitls",
               "openssl", "k/o");
        if (raw.done)
            printf(" | %8s %6s %6s", "cpu", "kitls", "ossl");
        printf("\n");
        for (int si = 0; si < NSUITES; si++) {
            struct tput_result *k = &tput_res[0][si][TPUT_16K], *o = &tput_res[1][si][TPUT_16K];
            printf("  %-28s", suites[si].name);
            if (k->ok)
                printf(" %8.1f", k->med);
            else
                printf(" %8s", lib_enabled(0) ? "FAIL" : "-");
            if (o->ok)
                printf(" %8.1f", o->med);
            else
                printf(" %8s", lib_enabled(1) ? "FAIL" : "-");
            if (k->ok && o->ok)
                printf(" %5.2fx |", k->med / o->med);
            else
                printf(" %6s |", "-");
            printf(" %8.1f %8.1f", k->ok ? k->med_cpu : 0, o->ok ? o->med_cpu : 0);
            if (k->ok && o->ok)
                printf(" %5.2fx", k->med_cpu / o->med_cpu);
            else
                printf(" %6s", "-");
            if (raw.done) {
                printf(" | %8.1f", raw.aead_mbs[si]);
                if (k->ok)
                    printf(" %5.1f%%", 100 * k->med_cpu / raw.aead_mbs[si]);
                else
                    printf(" %6s", "-");
                if (o->ok)
                    printf(" %5.1f%%", 100 * o->med_cpu / raw.aead_mbs[si]);
                else
                    printf(" %6s", "-");
            }
            printf("\n");
        }
        for (int si = 0; si < NSUITES; si++)
            for (int lib = 0; lib < 2; lib++)
                if (lib_enabled(lib) && !tput_res[lib][si][TPUT_16K].ok && tput_res[lib][si][TPUT_16K].err[0])
                    printf("  note: %s %s: %s\n", lib_name[lib], suites[si].short_name,
                           tput_res[lib][si][TPUT_16K].err);
        printf("  target: kitls >= openssl for every suite; \"of raw\" = cpu-time MB/s / raw EVP\n\n");
        print_tput_sizes();
    }
    if (raw.done) {
        printf("Raw libcrypto (EVP), one core, thread CPU time, best of %d rounds:\n", opt.rounds);
        for (int si = 0; si < NSUITES; si++)
            printf("  %-18s seal+open 16 KiB: %8.1f MB/s   seal only: %8.1f MB/s   "
                   "seal+open 1 KiB: %8.1f MB/s\n",
                   suites[si].cipher, raw.aead_mbs[si], raw.aead_seal[si], raw.aead_mbs_1k[si]);
        printf("  X25519 keygen          %8.1f us\n", raw.x25519_keygen_us);
        printf("  X25519 import+derive   %8.1f us\n", raw.x25519_derive_us);
        printf("  ECDSA P-256 sign       %8.1f us\n", raw.ecdsa_sign_us);
        printf("  ECDSA P-256 verify     %8.1f us\n", raw.ecdsa_verify_us);
        printf("  X509_verify (chain)    %8.1f us\n", raw.x509_verify_us);
        printf("  per handshake: 2 keygen + 2 derive + sign + 2 verify = %.1f us -> <= %.1f hs/s\n",
               raw.hs_pk_us, raw.hs_bound);
        printf("  d2i_X509 (leaf parse)  %8.1f us  (not in the bound; with it: <= %.1f hs/s)\n",
               raw.x509_parse_us, raw.hs_pk_parse_bound);
    }
}

FILE *jout;

void json_num(const char *key, double v, int ok, const char *sep)
{
    if (ok)
        fprintf(jout, "\"%s\": %.3f%s", key, v, sep);
    else
        fprintf(jout, "\"%s\": null%s", key, sep);
}

void json_str(const char *s)
{
    fputc('"', jout);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(jout, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(jout, "\\u%04x", *s);
        else
            fputc(*s, jout);
    }
    fputc('"', jout);
}

static void print_json(void)
{
    fprintf(jout, "{\n  \"kitls_version\": ");
    json_str(kitls_ver());
    fprintf(jout, ",\n  \"openssl_version\": ");
    json_str(OpenSSL_version(OPENSSL_VERSION));
    fprintf(jout, ",\n  \"cpu\": ");
    json_str(cpu_model);
    fprintf(jout, ",\n  \"rounds\": %d, \"seconds\": %.3f, \"mib\": %u, \"count\": %ld, \"certs\": %d,\n",
           opt.rounds, opt.seconds, opt.mib, opt.count, n_leaves);
    if (opt.do_hs || opt.do_alloc) {
        fprintf(jout, "  \"handshake\": {\n    \"suite\": \"%s\", \"group\": \"x25519\", "
               "\"sigalg\": \"ecdsa_secp256r1_sha256\",\n",
               suites[HS_SUITE].name);
        for (int lib = 0; lib < 2; lib++) {
            struct hs_result *r = &hs_res[lib];
            fprintf(jout, "    \"%s\": {", lib_name[lib]);
            if (!lib_enabled(lib)) {
                fprintf(jout, "\"enabled\": false},\n");
                continue;
            }
            fprintf(jout, "\"ok\": %s, ", r->ok ? "true" : "false");
            if (!r->ok) {
                fprintf(jout, "\"error\": ");
                json_str(r->err);
                fprintf(jout, ", ");
            }
            json_num("per_sec", r->med, r->ok && opt.do_hs, ", ");
            json_num("per_cpu_sec", r->med_cpu, r->ok && opt.do_hs, ", ");
            fprintf(jout, "\"rounds\": [");
            for (int i = 0; i < opt.rounds; i++)
                fprintf(jout, "%.1f%s", opt.do_hs ? r->rate[i] : 0.0, i + 1 < opt.rounds ? ", " : "");
            fprintf(jout, "], \"rounds_cpu\": [");
            for (int i = 0; i < opt.rounds; i++)
                fprintf(jout, "%.1f%s", opt.do_hs ? r->rate_cpu[i] : 0.0,
                        i + 1 < opt.rounds ? ", " : "");
            fprintf(jout, "], ");
            json_num("allocs", r->allocs, r->have_alloc && g_heap_hooked, ", ");
            json_num("ossl_allocs", r->ossl_allocs, r->have_alloc && g_ossl_hooked, ", ");
            json_num("peak_bytes", (double)r->hs_peak, r->have_alloc && g_heap_hooked, ", ");
            json_num("live_bytes_established_pair", (double)r->pair_live,
                     r->have_alloc && g_heap_hooked, ", ");
            json_num("wire_c2s", (double)r->c2s, r->have_alloc, ", ");
            json_num("wire_s2c", (double)r->s2c, r->have_alloc, "");
            fprintf(jout, "},\n");
        }
        fprintf(jout, "    ");
        json_num("ratio", hs_res[0].med / (hs_res[1].med > 0 ? hs_res[1].med : 1),
                 hs_res[0].ok && hs_res[1].ok && opt.do_hs, ",\n    ");
        json_num("paired_ratio", hs_paired_ratio, hs_paired_ratio > 0, ",\n    ");
        json_num("paired_ratio_cpu", hs_paired_ratio_cpu, hs_paired_ratio_cpu > 0, ",\n    ");
        json_num("ratio_cpu", hs_res[0].med_cpu / (hs_res[1].med_cpu > 0 ? hs_res[1].med_cpu : 1),
                 hs_res[0].ok && hs_res[1].ok && opt.do_hs, ",\n    ");
        json_num("pk_bound_per_sec", raw.hs_bound, raw.done, ",\n    ");
        json_num("pk_parse_bound_per_sec", raw.hs_pk_parse_bound, raw.done, "");
        fprintf(jout, "\n  },\n");
    }
    if (opt.do_tput) {
        fprintf(jout, "  \"throughput_mbs\": {\n");
        for (int si = 0; si < NSUITES; si++) {
            struct tput_result *k = &tput_res[0][si][TPUT_16K], *o = &tput_res[1][si][TPUT_16K];
            fprintf(jout, "    \"%s\": {", suites[si].name);
            json_num("kitls", k->med, k->ok, ", ");
            json_num("openssl", o->med, o->ok, ", ");
            json_num("ratio", k->med / (o->med > 0 ? o->med : 1), k->ok && o->ok, ", ");
            json_num("kitls_cpu", k->med_cpu, k->ok, ", ");
            json_num("openssl_cpu", o->med_cpu, o->ok, ", ");
            json_num("ratio_cpu_paired", k->paired_cpu, k->ok && o->ok, ", ");
            json_num("raw_evp", raw.done ? raw.aead_mbs[si] : 0, raw.done, "");
            if (!k->ok && k->err[0]) {
                fprintf(jout, ", \"kitls_error\": ");
                json_str(k->err);
            }
            if (!o->ok && o->err[0]) {
                fprintf(jout, ", \"openssl_error\": ");
                json_str(o->err);
            }
            fprintf(jout, "}%s\n", si + 1 < NSUITES ? "," : "");
        }
        fprintf(jout, "  },\n  \"throughput_sizes\": {\n");
        for (int si = 0; si < NSUITES; si++) {
            fprintf(jout, "    \"%s\": {\n", suites[si].name);
            for (int zi = 0; zi < NSIZES; zi++) {
                struct tput_result *k = &tput_res[0][si][zi], *o = &tput_res[1][si][zi];
                fprintf(jout, "      \"%s\": {\"bytes\": %zu, ", tput_size_name[zi], tput_size[zi]);
                json_num("kitls", k->med, k->ok, ", ");
                json_num("openssl", o->med, o->ok, ", ");
                json_num("kitls_cpu", k->med_cpu, k->ok, ", ");
                json_num("openssl_cpu", o->med_cpu, o->ok, ", ");
                json_num("ratio_cpu", k->med_cpu / (o->med_cpu > 0 ? o->med_cpu : 1), k->ok && o->ok,
                         ", ");
                json_num("ratio_cpu_paired", k->paired_cpu, k->ok && o->ok, ", ");
                json_num("raw_evp", raw.done ? raw_for_size(si, zi) : 0, raw.done, ", ");
                json_num("kitls_of_raw", raw.done && k->ok ? k->med_cpu / raw_for_size(si, zi) : 0,
                         raw.done && k->ok, "");
                fprintf(jout, "}%s\n", zi + 1 < NSIZES ? "," : "");
            }
            fprintf(jout, "    }%s\n", si + 1 < NSUITES ? "," : "");
        }
        fprintf(jout, "  },\n");
    }
    if (opt.do_lat || opt.do_mem)
        scen_print_json();
    fprintf(jout, "  \"raw\": {");
    if (raw.done) {
        fprintf(jout, "\n    \"aead_seal_open_mbs\": {");
        for (int si = 0; si < NSUITES; si++)
            fprintf(jout, "\"%s\": %.1f%s", suites[si].cipher, raw.aead_mbs[si],
                   si + 1 < NSUITES ? ", " : "");
        fprintf(jout, "},\n    \"aead_seal_mbs\": {");
        for (int si = 0; si < NSUITES; si++)
            fprintf(jout, "\"%s\": %.1f%s", suites[si].cipher, raw.aead_seal[si],
                   si + 1 < NSUITES ? ", " : "");
        fprintf(jout, "},\n    \"aead_seal_open_1k_mbs\": {");
        for (int si = 0; si < NSUITES; si++)
            fprintf(jout, "\"%s\": %.1f%s", suites[si].cipher, raw.aead_mbs_1k[si],
                    si + 1 < NSUITES ? ", " : "");
        fprintf(jout, "},\n    \"p256_keygen_us\": %.2f, \"p256_derive_us\": %.2f, "
                "\"rsa2048_pss_sign_us\": %.2f, \"rsa2048_pss_verify_us\": %.2f, "
                "\"rsa2048_x509_verify_us\": %.2f, \"ed25519_sign_us\": %.2f, "
                "\"ed25519_verify_us\": %.2f, \"ed25519_x509_verify_us\": %.2f",
                raw.p256_keygen_us, raw.p256_derive_us, raw.rsa_sign_us, raw.rsa_verify_us,
                raw.rsa_x509_verify_us, raw.ed_sign_us, raw.ed_verify_us, raw.ed_x509_verify_us);
        fprintf(jout, ",\n    \"x25519_keygen_us\": %.2f, \"x25519_derive_us\": %.2f, "
               "\"ecdsa_p256_sign_us\": %.2f, \"ecdsa_p256_verify_us\": %.2f, "
               "\"x509_verify_us\": %.2f,\n    \"handshake_pk_us\": %.2f, "
               "\"handshake_bound_per_sec\": %.1f, \"x509_parse_us\": %.2f, "
               "\"handshake_bound_with_parse_per_sec\": %.1f\n  ",
               raw.x25519_keygen_us, raw.x25519_derive_us, raw.ecdsa_sign_us,
               raw.ecdsa_verify_us, raw.x509_verify_us, raw.hs_pk_us, raw.hs_bound,
               raw.x509_parse_us, raw.hs_pk_parse_bound);
    }
    fprintf(jout, "}\n}\n");
}

int main(int argc, char **argv)
{
    /* must precede every other libcrypto call */
    g_ossl_hooked = CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
    parse_args(argc, argv);
    read_cpu_model();
    if (opt.rounds > 16)
        opt.rounds = 16;

    wbuf = malloc(BUF_LEN);
    rbuf = malloc(BUF_LEN);
    if (wbuf == NULL || rbuf == NULL)
        die("oom");
    for (size_t i = 0; i < BUF_LEN; i++)
        wbuf[i] = (uint8_t)(i * 131 + 7);
    wbuf[REC_LEN] = 23; /* inner content type for the raw AEAD runs */

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

    if (opt.json) {
        jout = stdout;
        print_json();
    } else {
        print_table();
        if (opt.do_lat || opt.do_mem)
            scen_print_table();
    }
    if (opt.json_file != NULL) {
        jout = fopen(opt.json_file, "w");
        if (jout == NULL)
            die("cannot write %s: %s", opt.json_file, strerror(errno));
        print_json();
        fclose(jout);
    }

#ifndef KITLS_BENCH_NO_KITLS
    for (int i = 0; i < n_leaves; i++)
        kitls_config_free(k_scfg[i]);
    kitls_config_free(k_ccfg);
#endif
    for (int i = 0; i < n_leaves; i++)
        SSL_CTX_free(ossl_sctx[i]);
    SSL_CTX_free(ossl_cctx);
    scen_free();
    return 0;
}
