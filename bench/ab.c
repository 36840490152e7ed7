/*
 * kitls-ab: the A/B regression gate's driver.  Two copies of kitls live in
 * this one process: the tree's and the baseline commit's (bench/ab-build.sh,
 * every symbol renamed kb_*), both linked statically and driven by the same
 * code (bench/ab-lib.c, compiled twice).  bench/ab.sh runs it and judges.
 *
 *   kitls-ab det [--n N] [--n-rec N]
 *       deterministic figures per copy: allocations and heap per
 *       handshake (malloc interposed, one process), bytes on the wire;
 *       under valgrind --tool=callgrind --collect-atstart=no also one
 *       callgrind dump per measured block (client requests), from which
 *       ab.sh sums instructions per handshake and per record.
 *   kitls-ab timed [--rounds R] [--seconds S]
 *       CPU-time rates, tree / base / base again (A/A), in 20 ms slices
 *       whose order flips every cycle; one ratio per round.
 *
 * Output: one "key value" line per figure (keys: <metric>.<copy>).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define AB_HAVE_CALLGRIND 1
#endif
#endif
#ifndef AB_HAVE_CALLGRIND
#define AB_HAVE_CALLGRIND 0
#define RUNNING_ON_VALGRIND 0
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#define CALLGRIND_ZERO_STATS
#endif

#include "ab.h"

static const struct ab_ops *const copies[2] = {&ab_ops_tree, &ab_ops_base};
static const char *const hs_name[2] = {"full", "resumed"};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kitls-ab: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ------------------------------------------------------------------ */
/* malloc accounting: the executable's definitions are interposed for  */
/* every object (both kitls copies, libcrypto) and forward to glibc.   */
/* ------------------------------------------------------------------ */

static int track;                  /* counting on (only while measuring) */
static unsigned long long n_alloc; /* malloc/calloc/realloc/memalign calls */
static long long live;             /* usable bytes allocated */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);
extern void __libc_free(void *p);

static void add(void *p)
{
    if (track && p != NULL) {
        n_alloc++;
        live += (long long)malloc_usable_size(p);
    }
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    add(p);
    return p;
}

void *calloc(size_t n, size_t m)
{
    void *p = __libc_calloc(n, m);
    add(p);
    return p;
}

void *realloc(void *old, size_t n)
{
    long long oldsz = track && old != NULL ? (long long)malloc_usable_size(old) : 0;
    void *p = __libc_realloc(old, n);
    if (track && (p != NULL || n == 0)) {
        live -= oldsz;
        add(p);
    }
    return p;
}

void free(void *p)
{
    if (track && p != NULL)
        live -= (long long)malloc_usable_size(p);
    __libc_free(p);
}

void *memalign(size_t a, size_t n)
{
    void *p = __libc_memalign(a, n);
    add(p);
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
    if ((p = memalign(a, n)) == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

/* ------------------------------------------------------------------ */
/* PKI: P-256 root -> intermediate -> leaf "localhost", in memory      */
/* ------------------------------------------------------------------ */

static void ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL || !X509_add_ext(x, e, -1))
        die("certificate extension %d", nid);
    X509_EXTENSION_free(e);
}

/* A certificate for key named cn, signed by issuer (NULL: self-signed). */
static X509 *cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, long serial, int ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (x == NULL || name == NULL)
        die("X509_new");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400L);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    if (issuer == NULL)
        issuer = x;
    if (ca) {
        ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        ext(x, issuer, NID_ext_key_usage, "serverAuth");
        ext(x, issuer, NID_subject_alt_name, "DNS:localhost");
    }
    ext(x, issuer, NID_subject_key_identifier, "hash");
    if (issuer != x)
        ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    if (!X509_sign(x, ikey, EVP_sha256()))
        die("X509_sign");
    X509_NAME_free(name);
    return x;
}

/* The BIO's contents as a string the caller keeps (never freed: the PKI
 * lives as long as the process). */
static const char *take(BIO *b, size_t *len)
{
    char *data, *s;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || (s = malloc((size_t)n + 1)) == NULL)
        die("PEM");
    memcpy(s, data, (size_t)n);
    s[n] = 0;
    *len = (size_t)n;
    BIO_free(b);
    return s;
}

static void make_pki(struct ab_pki *p)
{
    EVP_PKEY *rk = EVP_EC_gen("P-256"), *ik = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-256");
    X509 *root, *inter, *leaf;
    BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem()), *b3 = BIO_new(BIO_s_mem());
    if (rk == NULL || ik == NULL || lk == NULL || b1 == NULL || b2 == NULL || b3 == NULL)
        die("PKI keys");
    root = cert(rk, "kitls-ab root", NULL, rk, 1, 1);
    inter = cert(ik, "kitls-ab intermediate", root, rk, 2, 1);
    leaf = cert(lk, "localhost", inter, ik, 3, 0);
    if (!PEM_write_bio_X509(b1, root) || !PEM_write_bio_X509(b2, leaf) ||
        !PEM_write_bio_X509(b2, inter) ||
        !PEM_write_bio_PrivateKey(b3, lk, NULL, NULL, 0, NULL, NULL))
        die("PEM_write");
    p->root_pem = take(b1, &p->root_len);
    p->chain_pem = take(b2, &p->chain_len);
    p->key_pem = take(b3, &p->key_len);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(lk);
}

/* ------------------------------------------------------------------ */
/* Deterministic figures                                               */
/* ------------------------------------------------------------------ */

static char err[512];

static void hs_or_die(const struct ab_ops *o, enum ab_hs kind, struct ab_wire *w)
{
    if (o->hs(kind, w, err, sizeof(err)) < 0)
        die("%s", err);
}

static void warm_up(void)
{
    struct ab_wire w;
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < 5; i++) {
            hs_or_die(copies[c], AB_FULL, &w);
            hs_or_die(copies[c], AB_RESUMED, &w);
        }
        hs_or_die(copies[c], AB_FULL, &w);
        if (copies[c]->records(20, AB_REC_LEN, err, sizeof(err)) < 0 ||
            copies[c]->records(20, AB_REC_SMALL, err, sizeof(err)) < 0)
            die("%s", err);
        copies[c]->drop();
    }
}

/* Allocations, heap held by the established pair and bytes on the wire of
 * n handshakes of one kind, for one copy: per-handshake min/max/mean. */
static void alloc_figures(int c, enum ab_hs kind, long n)
{
    const struct ab_ops *o = copies[c];
    unsigned long long amin = ~0ull, amax = 0, asum = 0;
    long long hmin = -1, hmax = 0, hsum = 0, isum = 0;
    size_t wmin = (size_t)-1, wmax = 0, wsum = 0;
    for (long i = 0; i < n; i++) {
        struct ab_wire w;
        o->drop();
        n_alloc = 0;
        live = 0;
        track = 1;
        hs_or_die(o, kind, &w);
        asum += n_alloc;
        amin = n_alloc < amin ? n_alloc : amin;
        amax = n_alloc > amax ? n_alloc : amax;
        hsum += live;
        hmin = hmin < 0 || live < hmin ? live : hmin;
        hmax = live > hmax ? live : hmax;
        o->idle();
        track = 0;
        isum += live;
        wsum += w.c2s + w.s2c;
        wmin = w.c2s + w.s2c < wmin ? w.c2s + w.s2c : wmin;
        wmax = w.c2s + w.s2c > wmax ? w.c2s + w.s2c : wmax;
    }
    o->drop();
    printf("allocs.%s.%s %.2f\n", hs_name[kind], o->name, (double)asum / (double)n);
    printf("allocs_min.%s.%s %llu\nallocs_max.%s.%s %llu\n", hs_name[kind], o->name, amin,
           hs_name[kind], o->name, amax);
    /* the pair holds two connections: report per connection */
    printf("heap_conn.%s.%s %.1f\n", hs_name[kind], o->name, (double)hsum / (double)n / 2);
    printf("heap_conn_min.%s.%s %.1f\nheap_conn_max.%s.%s %.1f\n", hs_name[kind], o->name,
           (double)hmin / 2, hs_name[kind], o->name, (double)hmax / 2);
    printf("heap_idle.%s.%s %.1f\n", hs_name[kind], o->name, (double)isum / (double)n / 2);
    printf("wire.%s.%s %.2f\nwire_min.%s.%s %zu\nwire_max.%s.%s %zu\n", hs_name[kind], o->name,
           (double)wsum / (double)n, hs_name[kind], o->name, wmin, hs_name[kind], o->name, wmax);
}

/* One callgrind block: collection on around exactly the measured work,
 * then a dump labelled "<what> <copy> <handshakes or records>". */
static void cg_block(int c, int what, long n)
{
    const struct ab_ops *o = copies[c];
    struct ab_wire w;
    char label[64];
    o->drop();
    if (what >= 2) {
        hs_or_die(o, AB_FULL, &w);
        CALLGRIND_ZERO_STATS;
        CALLGRIND_TOGGLE_COLLECT;
        if (o->records(n, what == 2 ? AB_REC_LEN : AB_REC_SMALL, err, sizeof(err)) < 0)
            die("%s", err);
        CALLGRIND_TOGGLE_COLLECT;
        o->drop();
    } else {
        CALLGRIND_ZERO_STATS;
        CALLGRIND_TOGGLE_COLLECT;
        for (long i = 0; i < n; i++)
            hs_or_die(o, (enum ab_hs)what, &w);
        o->drop();
        CALLGRIND_TOGGLE_COLLECT;
    }
    snprintf(label, sizeof(label), "ab %s %s %ld",
             what == 3   ? "record1k"
             : what == 2 ? "record"
                         : hs_name[what],
             o->name, n);
    CALLGRIND_DUMP_STATS_AT(label);
}

static int det(long n, long n_rec)
{
    printf("valgrind %d\n", RUNNING_ON_VALGRIND ? 1 : 0);
    warm_up();
    for (int kind = 0; kind < 2; kind++)
        for (int c = 0; c < 2; c++)
            alloc_figures(c, (enum ab_hs)kind, n);
    if (RUNNING_ON_VALGRIND) {
        /* tree, base, base, tree: anything that drifts along the run
         * (heap layout, caches of libcrypto) weighs on both alike */
        static const int order[4] = {0, 1, 1, 0};
        for (int what = 0; what < 4; what++)
            for (int k = 0; k < 4; k++)
                cg_block(order[k], what, (what >= 2 ? n_rec : n) / 2);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Timed figures                                                       */
/* ------------------------------------------------------------------ */

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[64];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* One 20 ms slice (thread CPU time) of one kind of work; adds operations
 * and CPU seconds. */
static void slice(const struct ab_ops *o, int what, long *ops, double *cpu)
{
    struct ab_wire w;
    double t0 = cpu_now(), t;
    long k = 0;
    do {
        if (what >= 2) {
            if (o->records(1, what == 2 ? AB_REC_LEN : AB_REC_SMALL, err, sizeof(err)) < 0)
                die("%s", err);
        } else {
            hs_or_die(o, (enum ab_hs)what, &w);
        }
        k++;
    } while ((t = cpu_now()) - t0 < 0.020);
    *ops += k;
    *cpu += t - t0;
}

static int timed(int rounds, double seconds)
{
    /* slot 2 runs the baseline again: its ratio to slot 1 is the noise of
     * this very run (A/A) */
    static const int slot_copy[3] = {0, 1, 1};
    static const char *const what_name[4] = {"full", "resumed", "record", "record1k"};
    struct ab_wire w;
    long cycles = (long)(seconds / 0.020 + 0.5);
    if (rounds > 64)
        rounds = 64;
    if (cycles < 2)
        cycles = 2;
    warm_up();
    printf("timed.rounds %d\ntimed.slices_per_round %ld\n", rounds, cycles);
    for (int what = 0; what < 4; what++) {
        double ab[64], aa[64];
        for (int r = 0; r < rounds; r++) {
            long ops[3] = {0, 0, 0};
            double cpu[3] = {0, 0, 0};
            if (what >= 2)
                for (int c = 0; c < 2; c++)
                    hs_or_die(copies[c], AB_FULL, &w);
            for (long k = 0; k < cycles; k++)
                for (int j = 0; j < 3; j++) {
                    /* forward, backward, forward...; every round starts
                     * on the other side too */
                    int s = (k + r) % 2 ? 2 - j : j;
                    slice(copies[slot_copy[s]], what, &ops[s], &cpu[s]);
                }
            ab[r] = (ops[0] / cpu[0]) / (ops[1] / cpu[1]);
            aa[r] = (ops[2] / cpu[2]) / (ops[1] / cpu[1]);
            printf("timed.%s.rate.tree.%d %.1f\ntimed.%s.rate.base.%d %.1f\n", what_name[what], r,
                   ops[0] / cpu[0], what_name[what], r, ops[1] / cpu[1]);
            printf("timed.%s.ratio.%d %.4f\ntimed.%s.aa.%d %.4f\n", what_name[what], r, ab[r],
                   what_name[what], r, aa[r]);
            fflush(stdout);
        }
        printf("timed.%s.ratio %.4f\ntimed.%s.aa %.4f\n", what_name[what], median(ab, rounds),
               what_name[what], median(aa, rounds));
        for (int c = 0; c < 2; c++)
            copies[c]->drop();
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ab_pki pki;
    long n = 40, n_rec = 200;
    int rounds = 5, rc;
    double seconds = 0.4;
    const char *mode = argc > 1 ? argv[1] : "";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            n = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--n-rec") == 0)
            n_rec = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else
            die("unknown option %s", argv[i]);
    }
    if (strcmp(mode, "det") != 0 && strcmp(mode, "timed") != 0)
        die("usage: kitls-ab det [--n N] [--n-rec N] | timed [--rounds R] [--seconds S]");
    if (n < 2 || n_rec < 2 || rounds < 1 || seconds <= 0)
        die("bad count");
    if (!AB_HAVE_CALLGRIND && strcmp(mode, "det") == 0)
        printf("callgrind_requests 0\n");
    make_pki(&pki);
    for (int c = 0; c < 2; c++)
        if (copies[c]->setup(&pki, err, sizeof(err)) < 0)
            die("setup: %s", err);
    rc = strcmp(mode, "det") == 0 ? det(n, n_rec) : timed(rounds, seconds);
    for (int c = 0; c < 2; c++)
        copies[c]->teardown();
    return rc;
}
