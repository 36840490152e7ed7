/*
 * kitls-bench, the peers table (issue 16): kitls, OpenSSL libssl, GnuTLS
 * and rustls measured by the same code in one process, on one core, in
 * memory, each through its own transport hook (bench/libs.h).
 *
 * PKI: an ECDSA P-256 root, an intermediate and "localhost" leaves; the
 * server sends leaf + intermediate, the client trusts the root.  X25519
 * only, TLS_AES_128_GCM_SHA256 for the handshakes.
 *
 * Rows (every library):
 *   full_cv        full handshake, CertificateVerify checked, chain not verified
 *   full_chain     full handshake, chain verified to the root + hostname
 *   first_contact  as full_chain, but each handshake presents a leaf of a
 *                  rotation of PEER_LEAVES (more than kitls's cache of
 *                  parsed peer certificates), so the client has not seen it
 *   resumed        psk_dhe_ke, exactly 1 ticket per handshake, each
 *                  connection resuming with the previous one's ticket
 *   aes128gcm, chacha20   bulk: 16 KiB writes by the client, read by the
 *                  server (encrypt + decrypt), one established pair
 * plus heap per established and per idle connection (1000 pairs, malloc
 * accounting of bench.c, averaged over client and server, the bench's own
 * transport buffers freed first) and allocations per handshake.
 *
 * Method: per round and row, the libraries take turns in 20 ms slices,
 * the order alternating forward and backward (A B C D D C B A A B ...),
 * so that each follows each other one as often (a fixed cycle biased the
 * one after OpenSSL by 3-4%); rates are per thread CPU second; ratios are
 * taken per round, then the median [min..max] over rounds is reported.
 *
 * Proofs: before the rounds and after each round, one handshake per row
 * and library is checked (struct bl_proof): one ClientHello with one
 * X25519 key share and a ServerHello selecting X25519, no
 * HelloRetryRequest (parsed from the bytes on the wire, peers_pki.c), the
 * suite, the tickets received, resumption on both sides, the chain
 * verified or not as the row says.  A failed proof makes the bench exit 2.
 * The PKI is made by bench/peers_pki.c.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "libs.h"

#ifdef KITLS_BENCH_PEERS
int peers_built = 1;
#else
int peers_built = 0;
#endif

enum { LI_OSSL, LI_GNUTLS, LI_RUSTLS, LI_KITLS, NLIB };
static const char *const lib_names[NLIB] = {"openssl", "gnutls", "rustls", "kitls"};
static const struct bench_lib *const libs_all[NLIB] = {
    &bl_openssl,
#ifdef KITLS_BENCH_PEERS
    &bl_gnutls,
    &bl_rustls,
#else
    NULL,
    NULL,
#endif
#ifndef KITLS_BENCH_NO_KITLS
    &bl_kitls,
#else
    NULL,
#endif
};
static int lib_on[NLIB] = {1, 1, 1, 1}; /* --lib */
static int lib_ok[NLIB];                /* set up */
static char lib_err[NLIB][256];

enum { R_CV, R_CHAIN, R_FIRST, R_RESUMED, R_AES, R_CHACHA, NROW };
static const struct prow_def {
    const char *key, *desc;
    int cfg, bulk;
} rows[NROW] = {
    {"full_cv", "full handshakes (CertificateVerify checked, chain not verified)", CFG_CV, 0},
    {"full_chain", "full handshakes, chain verified to the root + hostname", CFG_CHAIN, 0},
    {"first_contact", "first-contact full handshakes (chain verified, leaf never seen)", CFG_CHAIN,
     0},
    {"resumed", "resumed (psk_dhe_ke, 1 ticket, chained)", CFG_RESUMED, 0},
    {"aes128gcm", "AES-128-GCM bulk (16 KiB writes, enc+dec)", CFG_AES, 1},
    {"chacha20", "ChaCha20-Poly1305 bulk (16 KiB writes, enc+dec)", CFG_CHACHA, 1},
};

struct prow_res {
    int ok[NLIB];
    char err[NLIB][256];
    double rate[NLIB][16]; /* per round: handshakes or MB per CPU second */
    double med[NLIB];
    long n[NLIB];
    double ratio_o[NLIB][3];       /* lib / OpenSSL per round: median, min, max */
    double best[3];                /* kitls / best peer per round: median, min, max */
    int best_lib;                  /* the peer best in most rounds */
    double us_c[NLIB], us_s[NLIB]; /* P50 CPU µs per handshake, client and server */
};
static struct prow_res res[NROW];
static int proofs_failed, ran;

/* Memory and allocations per library. */
struct pmem {
    int ok;
    char err[256];
    int pairs;
    double est, idle; /* bytes per connection, averaged over client and server */
    int idle_released;
    double hook_est, hook_idle; /* kitls by its allocator hook */
    int have_hook;
    double allocs_full, allocs_resumed; /* per handshake, client + server */
};
static struct pmem mem[NLIB];

static unsigned long first_leaf[NLIB]; /* first_contact rotation */
/* Bulk rows: NBULK established pairs per library and suite, one per
 * slice in turn, and the data read from and written to a moving offset:
 * an A/A run (three OpenSSL copies) with one pair and fixed buffers
 * showed one copy 30% slower on ChaCha20 in every run, from where its
 * buffers happened to land (4 KiB aliasing between them); spreading the
 * placements makes the rows compare the libraries, not the heap layout. */
#define NBULK 4
static struct bl_pair *bulk[NLIB][2][NBULK];
static unsigned bulk_slice[NLIB];
static uint8_t *xbuf, *ybuf;
#define XLEN 16384u
#define XPAD 4096u
#define SLICE 0.02

/*
 * The bulk rows' libcrypto bound, measured like kitls's figure: raw EVP
 * seal+open of the same TLS 1.3 record (XLEN bytes of data + the content
 * type byte, 5-byte header as AAD, per-record nonce) from xbuf to a
 * ciphertext buffer to ybuf at the same moving offsets, as one more
 * participant of the row's interleaved 20 ms slices, per CPU second, the
 * median of the rounds.  The raw part's figure (tput.c raw_aead: one hot
 * loop on fixed buffers, wall time, best round) is kept as the "hot loop"
 * figure: it compared a best round with an interleaved median.
 */
#define RAWB NLIB /* the raw participant's index in row_round */
static struct {
    EVP_CIPHER_CTX *e, *d;
    uint8_t *ct, iv[12];
    double rate[16], med;
    int ok;
} rawb[2];

static void rawb_setup(void)
{
    static const char *const name[2] = {"AES-128-GCM", "ChaCha20-Poly1305"};
    for (int i = 0; i < 2; i++) {
        uint8_t key[32];
        EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name[i], NULL);
        rawb[i].e = EVP_CIPHER_CTX_new();
        rawb[i].d = EVP_CIPHER_CTX_new();
        rawb[i].ct = malloc(XLEN + 64);
        rawb[i].ok = c && rawb[i].e && rawb[i].d && rawb[i].ct &&
                     RAND_bytes(key, sizeof(key)) == 1 &&
                     RAND_bytes(rawb[i].iv, sizeof(rawb[i].iv)) == 1 &&
                     EVP_EncryptInit_ex2(rawb[i].e, c, key, NULL, NULL) &&
                     EVP_DecryptInit_ex2(rawb[i].d, c, key, NULL, NULL);
        EVP_CIPHER_free(c);
    }
}

static void rawb_free(void)
{
    for (int i = 0; i < 2; i++) {
        EVP_CIPHER_CTX_free(rawb[i].e);
        EVP_CIPHER_CTX_free(rawb[i].d);
        free(rawb[i].ct);
        rawb[i].e = rawb[i].d = NULL;
        rawb[i].ct = NULL;
    }
}

/* One record sealed from x and opened into y; -1 if it does not open to
 * the same bytes (checked on the first byte and the last, every time). */
static int rawb_xfer(int i, const uint8_t *x, uint8_t *y)
{
    EVP_CIPHER_CTX *e = rawb[i].e, *d = rawb[i].d;
    uint8_t aad[5] = {23, 3, 3, (XLEN + 17) >> 8, (uint8_t)(XLEN + 17)}, tag[16];
    int n, m;
    rawb[i].iv[11]++;
    if (!EVP_EncryptInit_ex2(e, NULL, NULL, rawb[i].iv, NULL) ||
        !EVP_EncryptUpdate(e, NULL, &n, aad, 5) ||
        !EVP_EncryptUpdate(e, rawb[i].ct, &n, x, (int)XLEN + 1) ||
        !EVP_EncryptFinal_ex(e, rawb[i].ct + n, &m) ||
        !EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_GET_TAG, 16, tag) ||
        !EVP_DecryptInit_ex2(d, NULL, NULL, rawb[i].iv, NULL) ||
        !EVP_DecryptUpdate(d, NULL, &n, aad, 5) ||
        !EVP_DecryptUpdate(d, y, &n, rawb[i].ct, (int)XLEN + 1) ||
        !EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_AEAD_SET_TAG, 16, tag) ||
        EVP_DecryptFinal_ex(d, y + n, &m) != 1)
        return -1;
    return y[0] == x[0] && y[XLEN] == x[XLEN] ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Libraries                                                           */
/* ------------------------------------------------------------------ */

int peers_parse_libs(const char *list)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", list);
    memset(lib_on, 0, sizeof(lib_on));
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        if (strcmp(t, "both") == 0) {
            lib_on[LI_KITLS] = lib_on[LI_OSSL] = found = 1;
            continue;
        }
        for (int i = 0; i < NLIB; i++)
            if (strcmp(t, lib_names[i]) == 0) {
                if (libs_all[i] == NULL) {
                    fprintf(stderr,
                            "kitls-bench: peers missing: %s was not built (configure "
                            "--enable-bench-peers)\n",
                            t);
                    return -1;
                }
                lib_on[i] = found = 1;
            }
        if (!found) {
            fprintf(stderr, "kitls-bench: unknown library '%s' (kitls, openssl, gnutls, rustls)\n",
                    t);
            return -1;
        }
    }
    return 0;
}

int peers_lib_on(const char *name)
{
    for (int i = 0; i < NLIB; i++)
        if (strcmp(name, lib_names[i]) == 0)
            return lib_on[i] && libs_all[i] != NULL;
    return 0;
}

static int active(int li)
{
    return lib_on[li] && libs_all[li] != NULL && lib_ok[li];
}

/* ------------------------------------------------------------------ */
/* One handshake                                                       */
/* ------------------------------------------------------------------ */

static double side_t0;

static void tick(void)
{
    side_t0 = now_cpu();
}

static void tock(double *acc)
{
    if (acc != NULL)
        *acc += now_cpu() - side_t0;
}

/*
 * One handshake of library L with config cfg and leaf; with us != NULL
 * each side's CPU time is added to us[0] (client) and us[1] (server):
 * creating, turns (a turn delivers the other side's bytes: receiving
 * counts for the receiver), the client's post-handshake read and freeing.
 * With keep != NULL the established pair is returned instead of freed.
 */
static int hs_once(const struct bench_lib *L, int cfg, int leaf, int flags, struct bl_proof *pr,
                   double *us, struct bl_pair **keep, char *err, size_t errn)
{
    struct bl_pair *p = L->pair_new(cfg, flags | (pr != NULL ? BL_SNIFF : 0));
    int cd = 0, sd = 0, r = 0, rc = -1;
    if (us != NULL)
        tick();
    r = L->side_new(p, 0, leaf, err, errn);
    if (us != NULL)
        tock(&us[0]), tick();
    if (r == 0)
        r = L->side_new(p, 1, leaf, err, errn);
    if (us != NULL)
        tock(&us[1]);
    for (int i = 0; r >= 0 && i < 32 && !(cd && sd); i++) {
        if (!cd) {
            if (us != NULL)
                tick();
            r = L->turn(p, 0, err, errn);
            if (us != NULL)
                tock(&us[0]);
            cd = r == 1;
        }
        if (r >= 0 && !sd) {
            if (us != NULL)
                tick();
            r = L->turn(p, 1, err, errn);
            if (us != NULL)
                tock(&us[1]);
            sd = r == 1;
        }
    }
    if (r >= 0 && !(cd && sd))
        set_err(err, errn, "%s: handshake did not complete", L->name);
    else if (r >= 0) {
        if (us != NULL)
            tick();
        rc = L->settle(p, err, errn);
        if (us != NULL)
            tock(&us[0]);
    }
    if (rc == 0 && pr != NULL)
        L->proof(p, pr);
    if (rc == 0 && keep != NULL) {
        *keep = p;
        return 0;
    }
    if (us != NULL)
        tick();
    L->side_free(p, 0);
    if (us != NULL)
        tock(&us[0]), tick();
    L->side_free(p, 1);
    if (us != NULL)
        tock(&us[1]);
    L->pair_free(p);
    return rc;
}

static int row_leaf(int ri, int li)
{
    return ri == R_FIRST ? (int)(first_leaf[li]++ % PEER_LEAVES) : 0;
}

/* What row ri must show; "" or the first thing that is wrong. */
static const char *proof_problem(int ri, const struct bl_proof *o, int first)
{
    int cfg = rows[ri].cfg;
    if (o->client_hellos != 1)
        return "not exactly one ClientHello (HelloRetryRequest?)";
    if (o->shares != 1 || !o->share_x25519)
        return "not exactly one X25519 key share";
    if (o->hrr || o->server_hellos != 1)
        return "a HelloRetryRequest";
    if (!o->sh_x25519)
        return "the ServerHello did not select X25519";
    if (o->lib_x25519 == 0)
        return "the library did not negotiate X25519";
    if (!o->suite_ok)
        return "unexpected cipher suite";
    if (cfg == CFG_RESUMED) {
        if (o->tickets != 1)
            return "not exactly 1 ticket";
        if (!first && (!o->resumed_c || !o->resumed_s))
            return "not resumed on both sides";
        return "";
    }
    if (o->tickets != 0)
        return "a ticket in a full-handshake row";
    if (o->resumed_c || o->resumed_s)
        return "resumed in a full-handshake row";
    if (o->chain != (cfg != CFG_CV))
        return cfg == CFG_CV ? "the chain was verified" : "the chain was not verified";
    return "";
}

/* One checked handshake (or, for bulk rows, a checked new pair). */
static int prove(int ri, int li, int first)
{
    const struct bench_lib *L = libs_all[li];
    struct prow_res *R = &res[ri];
    struct bl_proof o;
    const char *why;
    if (hs_once(L, rows[ri].cfg, row_leaf(ri, li), 0, &o, NULL, NULL, R->err[li],
                sizeof(R->err[li])) < 0) {
        R->ok[li] = 0;
        return -1;
    }
    why = proof_problem(ri, &o, first);
    if (*why) {
        set_err(R->err[li], sizeof(R->err[li]),
                "PROOF FAILED: %s (ClientHellos %d, shares %d x25519 %d/%d, ServerHellos %d, "
                "HRR %d, selected x25519 %d, suite %d, tickets %d, resumed %d/%d, chain %d)",
                why, o.client_hellos, o.shares, o.share_x25519, o.lib_x25519, o.server_hellos,
                o.hrr, o.sh_x25519, o.suite_ok, o.tickets, o.resumed_c, o.resumed_s, o.chain);
        R->ok[li] = 0;
        proofs_failed++;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

#ifdef KITLS_HAVE_ALLOCATOR
/* kitls's own allocations through its hook (issue 16 item 4): installed
 * once at start (kitls_set_allocator() refuses while kitls objects are
 * alive), forwarded to malloc so bench.c's accounting sees them too, and
 * counted only during the memory runs (hook_track). */
static long long hook_live;
static int hook_set;   /* kitls_set_allocator took our hooks */
static int hook_track; /* count now */
static void *h_malloc(size_t n, void *u)
{
    void *p = malloc(n);
    (void)u;
    if (p != NULL && hook_track)
        hook_live += (long long)malloc_usable_size(p);
    return p;
}
static void *h_realloc(void *old, size_t n, void *u)
{
    long long o = old != NULL && hook_track ? (long long)malloc_usable_size(old) : 0;
    void *p = realloc(old, n);
    (void)u;
    if (hook_track && (p != NULL || n == 0))
        hook_live += (p != NULL ? (long long)malloc_usable_size(p) : 0) - o;
    return p;
}
static void h_free(void *p, void *u)
{
    (void)u;
    if (p != NULL && hook_track)
        hook_live -= (long long)malloc_usable_size(p);
    free(p);
}
#endif

void peers_hook_install(void)
{
#ifdef KITLS_HAVE_ALLOCATOR
    static const kitls_allocator a = {h_malloc, h_realloc, h_free, NULL};
    hook_set = kitls_set_allocator(&a) == 0;
#endif
}

static void peers_setup(void)
{
    wire_selftest();
    make_peer_pki();
    if ((xbuf = malloc(XLEN + XPAD)) == NULL || (ybuf = malloc(XLEN + XPAD)) == NULL)
        die("oom");
    for (size_t i = 0; i < XLEN + XPAD; i++)
        xbuf[i] = (uint8_t)(i * 131 + 7);
    rawb_setup();
    for (int li = 0; li < NLIB; li++) {
        if (!lib_on[li] || libs_all[li] == NULL)
            continue;
        lib_ok[li] = libs_all[li]->setup(lib_err[li], sizeof(lib_err[li])) == 0;
    }
    for (int ri = 0; ri < NROW; ri++)
        for (int li = 0; li < NLIB; li++) {
            struct prow_res *R = &res[ri];
            if (!active(li)) {
                if (lib_on[li] && libs_all[li] != NULL)
                    set_err(R->err[li], sizeof(R->err[li]), "%s", lib_err[li]);
                continue;
            }
            R->ok[li] = 1;
            /* warm-up; the resumed row's first handshake is full */
            for (int i = 0; R->ok[li] && i < 4; i++)
                if (prove(ri, li, ri == R_RESUMED && i == 0) < 0)
                    R->ok[li] = 0;
            for (int k = 0; R->ok[li] && rows[ri].bulk && k < NBULK; k++) {
                struct bl_pair **bp = &bulk[li][ri - R_AES][k];
                const struct bench_lib *L = libs_all[li];
                if (hs_once(L, rows[ri].cfg, 0, 0, NULL, NULL, bp, R->err[li], sizeof(R->err[li])) <
                        0 ||
                    L->xfer(*bp, xbuf, ybuf, XLEN, R->err[li], sizeof(R->err[li])) < 0)
                    R->ok[li] = 0;
                else if (memcmp(xbuf, ybuf, XLEN) != 0) {
                    set_err(R->err[li], sizeof(R->err[li]), "bulk: data mismatch");
                    R->ok[li] = 0;
                }
            }
        }
}

/* ------------------------------------------------------------------ */
/* Rounds                                                              */
/* ------------------------------------------------------------------ */

static int work(int ri, int li)
{
    struct prow_res *R = &res[ri];
    const struct bench_lib *L = libs_all[li];
    if (rows[ri].bulk) {
        unsigned k = bulk_slice[li];
        size_t xo = k % 7 * 576, yo = k % 5 * 704; /* multiples of 64, < XPAD */
        return L->xfer(bulk[li][ri - R_AES][k % NBULK], xbuf + xo, ybuf + yo, XLEN, R->err[li],
                       sizeof(R->err[li]));
    }
    return hs_once(L, rows[ri].cfg, row_leaf(ri, li), 0, NULL, NULL, NULL, R->err[li],
                   sizeof(R->err[li]));
}

/* The raw participant's unit: one record, at the libraries' offsets. */
static int rawb_work(int ri, unsigned k)
{
    size_t xo = k % 7 * 576, yo = k % 5 * 704;
    return rawb_xfer(ri - R_AES, xbuf + xo, ybuf + yo);
}

/*
 * One round of row ri: slices of SLICE wall seconds per library, cycles
 * alternating forward and backward (and the first cycle's direction
 * alternating per round), for 2 x --seconds or until every library did
 * --count units.
 */
static void row_round(int ri, int round)
{
    struct prow_res *R = &res[ri];
    int order[NLIB + 1], n_on = 0;
    long n[NLIB + 1] = {0};
    double cpu[NLIB + 1] = {0}, t0 = now();
    unsigned raw_slice = 0;
    for (int li = 0; li < NLIB; li++)
        if (active(li))
            order[n_on++] = li;
    if (rows[ri].bulk && rawb[ri - R_AES].ok)
        order[n_on++] = RAWB; /* the libcrypto bound, in the same slices */
    for (int cyc = 0;; cyc++) {
        int more = 0;
        if (opt.count <= 0 && now() - t0 >= 2 * opt.seconds)
            break;
        for (int k = 0; k < n_on; k++) {
            int li = order[((cyc + round) & 1) ? n_on - 1 - k : k];
            double ts, c0;
            if (li == RAWB ? !rawb[ri - R_AES].ok
                           : !R->ok[li] || (opt.count > 0 && n[li] >= opt.count))
                continue;
            if (li == RAWB && opt.count > 0 && n[li] >= opt.count)
                continue;
            more |= li != RAWB;
            /* the raw participant takes the slice count of the libraries'
             * (same buffer offsets), kept apart so theirs do not move */
            if (li == RAWB)
                raw_slice++;
            else
                bulk_slice[li]++;
            ts = now();
            c0 = now_cpu();
            do {
                if (li == RAWB ? rawb_work(ri, raw_slice) < 0 : work(ri, li) < 0) {
                    if (li == RAWB)
                        rawb[ri - R_AES].ok = 0;
                    else
                        R->ok[li] = 0;
                    break;
                }
                n[li]++;
            } while (now() - ts < SLICE && !(opt.count > 0 && n[li] >= opt.count));
            cpu[li] += now_cpu() - c0;
        }
        if (!more)
            break;
    }
    for (int li = 0; li < NLIB; li++) {
        double units = rows[ri].bulk ? (double)n[li] * XLEN / 1e6 : (double)n[li];
        R->rate[li][round] = cpu[li] > 0 ? units / cpu[li] : 0;
        R->n[li] += n[li];
    }
    if (rows[ri].bulk)
        rawb[ri - R_AES].rate[round] = cpu[RAWB] > 0 ? (double)n[RAWB] * XLEN / 1e6 / cpu[RAWB] : 0;
}

static void spread(double *v, int n, double out[3])
{
    double tmp[16];
    memcpy(tmp, v, (size_t)n * sizeof(double));
    out[0] = median(tmp, n);
    out[1] = tmp[0];
    out[2] = tmp[n - 1];
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* P50 CPU µs per side of row ri's handshakes, one library after the other
 * (not part of the rates). */
static void row_sides(int ri, int li)
{
    struct prow_res *R = &res[ri];
    int n = opt.count > 0 && opt.count < 100 ? (int)opt.count : 100;
    double *c = calloc((size_t)n, sizeof(double)), *s = calloc((size_t)n, sizeof(double));
    if (c == NULL || s == NULL)
        die("oom");
    for (int i = 0; i < n && R->ok[li]; i++) {
        double us[2] = {0, 0};
        if (hs_once(libs_all[li], rows[ri].cfg, row_leaf(ri, li), 0, NULL, us, NULL, R->err[li],
                    sizeof(R->err[li])) < 0)
            R->ok[li] = 0;
        c[i] = us[0] * 1e6;
        s[i] = us[1] * 1e6;
    }
    qsort(c, (size_t)n, sizeof(double), cmp_dbl);
    qsort(s, (size_t)n, sizeof(double), cmp_dbl);
    R->us_c[li] = c[n / 2];
    R->us_s[li] = s[n / 2];
    free(c);
    free(s);
}

static void row_ratios(int ri)
{
    struct prow_res *R = &res[ri];
    int wins[NLIB] = {0}, nb = 0;
    double best[16];
    for (int li = 0; li < NLIB; li++) {
        double v[16];
        if (!R->ok[li])
            continue;
        memcpy(v, R->rate[li], sizeof(v));
        R->med[li] = median(v, opt.rounds);
        if (R->ok[LI_OSSL]) {
            for (int k = 0; k < opt.rounds; k++)
                v[k] = R->rate[LI_OSSL][k] > 0 ? R->rate[li][k] / R->rate[LI_OSSL][k] : 0;
            spread(v, opt.rounds, R->ratio_o[li]);
        }
    }
    R->best_lib = -1;
    if (!R->ok[LI_KITLS])
        return;
    for (int k = 0; k < opt.rounds; k++) {
        int b = -1;
        for (int li = 0; li < LI_KITLS; li++)
            if (R->ok[li] && (b < 0 || R->rate[li][k] > R->rate[b][k]))
                b = li;
        if (b < 0)
            return;
        wins[b]++;
        best[nb++] = R->rate[b][k] > 0 ? R->rate[LI_KITLS][k] / R->rate[b][k] : 0;
    }
    spread(best, nb, R->best);
    for (int li = 0; li < LI_KITLS; li++)
        if (R->best_lib < 0 || wins[li] > wins[R->best_lib])
            R->best_lib = li;
}

/* ------------------------------------------------------------------ */
/* Memory and allocations                                              */
/* ------------------------------------------------------------------ */

#ifdef KITLS_HAVE_ALLOCATOR
#define HOOK_LIVE() hook_live
#else
#define HOOK_LIVE() 0LL
#endif

/* Heap per connection of n established pairs (idle: buffers released
 * where the library can), averaged over client and server. */
static int mem_run(int li, int idle, int n, double *per_conn, double *per_conn_hook)
{
    const struct bench_lib *L = libs_all[li];
    struct pmem *M = &mem[li];
    struct bl_pair **p = calloc((size_t)n, sizeof(*p));
    long long live0, hook0;
    int rc = 0;
    if (p == NULL)
        die("oom");
    g_heap_track = 1;
    /* warm-up under accounting: lazily made shared objects */
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = hs_once(L, CFG_CHAIN, 0, 0, NULL, NULL, NULL, M->err, sizeof(M->err));
    for (int i = 0; i < n; i++)
        p[i] = L->pair_new(CFG_CHAIN, idle ? BL_IDLE : 0);
    live0 = heap_live();
    hook0 = HOOK_LIVE();
    for (int i = 0; i < n && rc == 0; i++) {
        int cd = 0, sd = 0, r = L->side_new(p[i], 0, 0, M->err, sizeof(M->err));
        if (r == 0)
            r = L->side_new(p[i], 1, 0, M->err, sizeof(M->err));
        for (int k = 0; r >= 0 && k < 32 && !(cd && sd); k++) {
            if (!cd && (r = L->turn(p[i], 0, M->err, sizeof(M->err))) == 1)
                cd = 1;
            if (r >= 0 && !sd && (r = L->turn(p[i], 1, M->err, sizeof(M->err))) == 1)
                sd = 1;
        }
        rc = r < 0 || !(cd && sd) ? -1 : L->settle(p[i], M->err, sizeof(M->err));
        /* release first: OpenSSL frees its buffers on a read that finds
         * nothing, which needs the transport */
        if (rc == 0 && idle && L->release != NULL)
            L->release(p[i]);
        L->drop_transport(p[i]);
    }
    *per_conn = (double)(heap_live() - live0) / (2.0 * n);
    *per_conn_hook = (double)(HOOK_LIVE() - hook0) / (2.0 * n);
    for (int i = 0; i < n; i++)
        L->pair_free(p[i]);
    g_heap_track = 0;
    free(p);
    return rc;
}

static int alloc_run(int li, int cfg, int n, double *out)
{
    const struct bench_lib *L = libs_all[li];
    unsigned long long a0;
    int rc = 0;
    g_heap_track = 1;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = hs_once(L, cfg, 0, 0, NULL, NULL, NULL, mem[li].err, sizeof(mem[li].err));
    a0 = heap_allocs();
    for (int i = 0; i < n && rc == 0; i++)
        rc = hs_once(L, cfg, 0, 0, NULL, NULL, NULL, mem[li].err, sizeof(mem[li].err));
    *out = (double)(heap_allocs() - a0) / n;
    g_heap_track = 0;
    return rc;
}

static void peers_mem(void)
{
    int n = opt.count > 0 && opt.count < 1000 ? (int)opt.count : 1000;
    if (!g_heap_hooked)
        return;
    if (n < 10)
        n = 10;
#ifdef KITLS_HAVE_ALLOCATOR
    hook_track = 1;
#endif
    for (int li = 0; li < NLIB; li++) {
        struct pmem *M = &mem[li];
        if (!active(li))
            continue;
        M->pairs = n;
        M->ok = mem_run(li, 0, n, &M->est, &M->hook_est) == 0 &&
                mem_run(li, 1, n, &M->idle, &M->hook_idle) == 0 &&
                alloc_run(li, CFG_CHAIN, n < 200 ? n : 200, &M->allocs_full) == 0 &&
                alloc_run(li, CFG_RESUMED, n < 200 ? n : 200, &M->allocs_resumed) == 0;
        M->idle_released = libs_all[li]->release != NULL;
#ifdef KITLS_HAVE_ALLOCATOR
        M->have_hook = li == LI_KITLS && hook_set;
#endif
    }
#ifdef KITLS_HAVE_ALLOCATOR
    hook_track = 0;
#endif
}

/* ------------------------------------------------------------------ */
/* The part                                                            */
/* ------------------------------------------------------------------ */

void peers_bench(void)
{
    if (opt.rounds > 16)
        opt.rounds = 16;
    peers_setup();
    for (int round = 0; round < opt.rounds; round++)
        for (int ri = 0; ri < NROW; ri++) {
            row_round(ri, round);
            /* each round ends with a checked handshake per library */
            for (int li = 0; li < NLIB; li++)
                if (active(li) && res[ri].ok[li])
                    (void)prove(ri, li, 0);
        }
    for (int ri = 0; ri < NROW; ri++) {
        for (int li = 0; li < NLIB; li++)
            if (!rows[ri].bulk && active(li) && res[ri].ok[li])
                row_sides(ri, li);
        row_ratios(ri);
        if (rows[ri].bulk && rawb[ri - R_AES].ok) {
            double tmp[16];
            memcpy(tmp, rawb[ri - R_AES].rate, (size_t)opt.rounds * sizeof(double));
            rawb[ri - R_AES].med = median(tmp, opt.rounds);
        }
    }
    peers_mem();
    ran = 1;
}

int peers_failed(void)
{
    int bad = proofs_failed;
    if (!ran)
        return 0;
    for (int ri = 0; ri < NROW; ri++)
        for (int li = 0; li < NLIB; li++)
            if (lib_on[li] && libs_all[li] != NULL && !res[ri].ok[li])
                bad++;
    return bad;
}

void peers_free(void)
{
    for (int li = 0; li < NLIB; li++) {
        for (int k = 0; k < 2 * NBULK; k++)
            if (bulk[li][k / NBULK][k % NBULK] != NULL) {
                libs_all[li]->pair_free(bulk[li][k / NBULK][k % NBULK]);
                bulk[li][k / NBULK][k % NBULK] = NULL;
            }
        if (lib_ok[li])
            libs_all[li]->teardown();
        lib_ok[li] = 0;
    }
    free(xbuf);
    free(ybuf);
    xbuf = ybuf = NULL;
    rawb_free();
    if (ppki.root != NULL)
        free_peer_pki();
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/* Public-key work of one handshake from the raw part: 2 X25519 keygen +
 * 2 derive, 1 ECDSA sign + 1 verify, and with chain 2 X509 signatures
 * (leaf by the intermediate, intermediate by the root). */
static double bound_hs(int chain)
{
    double us = 2 * raw.x25519_keygen_us + 2 * raw.x25519_derive_us + raw.ecdsa_sign_us +
                raw.ecdsa_verify_us + (chain ? 2 * raw.x509_verify_us : 0);
    return raw.done && us > 0 ? 1e6 / us : 0;
}

static double row_bound(int ri)
{
    if (ri == R_AES || ri == R_CHACHA)
        return rawb[ri - R_AES].ok ? rawb[ri - R_AES].med : 0;
    if (ri == R_RESUMED) /* psk_dhe_ke: the X25519 exchange only */
        return raw.done ? 1e6 / (2 * raw.x25519_keygen_us + 2 * raw.x25519_derive_us) : 0;
    return bound_hs(ri != R_CV);
}

/* The bulk rows' bound by the raw part's method (hot loop, best round). */
static double row_bound_hot(int ri)
{
    if (ri == R_AES)
        return raw.done ? raw.aead_mbs[0] : 0;
    return ri == R_CHACHA && raw.done ? raw.aead_mbs[2] : 0;
}

static const char *missing_peers(void)
{
    return peers_built ? "" : "gnutls, rustls (built without --enable-bench-peers)";
}

void peers_print_table(void)
{
    int shown[NLIB], ns = 0;
    if (!ran)
        return;
    for (int li = 0; li < NLIB; li++)
        if (lib_on[li] && libs_all[li] != NULL)
            shown[ns++] = li;
    printf("\npeers: one process, in memory, one core; X25519, ECDSA P-256 leaf + intermediate;\n"
           "%d rounds of %s, 20 ms slices, forward/backward order; per CPU second;\n"
           "ratios to OpenSSL per round: median [min..max]\n",
           opt.rounds, opt.count > 0 ? "--count units" : "2 x --seconds");
    for (int k = 0; k < ns; k++)
        printf("  %-8s %s\n", lib_names[shown[k]], libs_all[shown[k]]->version());
    if (!peers_built)
        printf("  peers missing: %s\n", missing_peers());
    printf("\n| per second / per connection |");
    for (int k = 0; k < ns; k++)
        printf(" %s |", lib_names[shown[k]]);
    printf(" kitls ÷ best peer | crypto-only bound |\n|---|");
    for (int k = 0; k < ns; k++)
        printf("---|");
    printf("---|---|\n");
    for (int ri = 0; ri < NROW; ri++) {
        struct prow_res *R = &res[ri];
        double b = row_bound(ri);
        printf("| %s |", rows[ri].desc);
        for (int k = 0; k < ns; k++) {
            int li = shown[k];
            if (!R->ok[li])
                printf(" FAIL |");
            else if (li == LI_OSSL || !R->ok[LI_OSSL])
                printf(" %.0f%s |", R->med[li], rows[ri].bulk ? " MB/s" : "/s");
            else
                printf(" %.2f [%.2f..%.2f] |", R->ratio_o[li][0], R->ratio_o[li][1],
                       R->ratio_o[li][2]);
        }
        if (R->best_lib >= 0)
            printf(" %.2f [%.2f..%.2f] (%s) |", R->best[0], R->best[1], R->best[2],
                   lib_names[R->best_lib]);
        else
            printf(" - |");
        if (b > 0 && R->ok[LI_KITLS])
            printf(" %.0f%s: kitls %.0f%% |\n", b, rows[ri].bulk ? " MB/s" : "/s",
                   100 * R->med[LI_KITLS] / b);
        else
            printf(" %s |\n", b > 0 ? (rows[ri].bulk ? "EVP seal+open" : "pk ops") : "-");
    }
    if (g_heap_hooked) {
        static const char *const mrow[4] = {
            "heap per established connection (malloc, avg of client and server)",
            "heap per idle connection (buffers released where the library can)",
            "allocations per full handshake (client + server, chain verified)",
            "allocations per resumed handshake (client + server)"};
        for (int m = 0; m < 4; m++) {
            double kv = 0, best = 0;
            int bl = -1;
            printf("| %s |", mrow[m]);
            for (int k = 0; k < ns; k++) {
                int li = shown[k];
                const struct pmem *M = &mem[li];
                double v = m == 0   ? M->est
                           : m == 1 ? M->idle
                           : m == 2 ? M->allocs_full
                                    : M->allocs_resumed;
                if (!M->ok) {
                    printf(" FAIL |");
                    continue;
                }
                if (m < 2)
                    printf(" %.1f KB%s |", v / 1000,
                           m == 1 && !M->idle_released ? " (cannot release)" : "");
                else
                    printf(" %.0f |", v);
                if (li == LI_KITLS)
                    kv = v;
                else if (bl < 0 || v < best)
                    best = v, bl = li;
            }
            if (mem[LI_KITLS].ok && bl >= 0 && best > 0)
                printf(" %.2f× (%s; lower is better) | |\n", kv / best, lib_names[bl]);
            else
                printf(" - | |\n");
        }
#ifdef KITLS_HAVE_ALLOCATOR
        if (mem[LI_KITLS].ok)
            printf("\nkitls heap per connection by its allocator hook: established %.1f KB, "
                   "idle %.1f KB (by malloc: %.1f / %.1f KB)\n",
                   mem[LI_KITLS].hook_est / 1000, mem[LI_KITLS].hook_idle / 1000,
                   mem[LI_KITLS].est / 1000, mem[LI_KITLS].idle / 1000);
#endif
    }
    for (int ri = R_AES; ri <= R_CHACHA; ri++) {
        double b = row_bound(ri), h = row_bound_hot(ri), k = res[ri].med[LI_KITLS];
        if (!res[ri].ok[LI_KITLS] || b <= 0)
            continue;
        printf("\n%s bound: EVP seal+open in the row's slices %.0f MB/s (kitls %.1f%%)",
               rows[ri].key, b, 100 * k / b);
        if (h > 0)
            printf("; raw part's hot loop, best round %.0f MB/s (kitls %.1f%%)", h, 100 * k / h);
    }
    printf("\n");
    if (!raw.done)
        printf("\n(crypto-only bound: run with the raw part, e.g. --only raw,peers)\n");
    printf("\nP50 CPU µs per handshake, client / server:\n");
    for (int ri = 0; ri < NROW; ri++) {
        if (rows[ri].bulk)
            continue;
        printf("  %-14s", rows[ri].key);
        for (int k = 0; k < ns; k++)
            if (res[ri].ok[shown[k]])
                printf("  %s %.0f / %.0f", lib_names[shown[k]], res[ri].us_c[shown[k]],
                       res[ri].us_s[shown[k]]);
        printf("\n");
    }
    for (int ri = 0; ri < NROW; ri++)
        for (int li = 0; li < NLIB; li++)
            if (lib_on[li] && libs_all[li] != NULL && !res[ri].ok[li])
                printf("%s %s: %s\n", rows[ri].key, lib_names[li], res[ri].err[li]);
    for (int li = 0; li < NLIB; li++)
        if (active(li) && g_heap_hooked && !mem[li].ok)
            printf("memory %s: %s\n", lib_names[li], mem[li].err);
    printf("proofs: %s\n", peers_failed() ? "FAILED" : "all verified");
}

static void json_spread(const char *key, const double v[3], int ok, const char *sep)
{
    if (ok)
        fprintf(jout, "\"%s\": [%.3f, %.3f, %.3f]%s", key, v[0], v[1], v[2], sep);
    else
        fprintf(jout, "\"%s\": null%s", key, sep);
}

void peers_print_json(void)
{
    if (!ran)
        return;
    fprintf(jout,
            "  \"peers\": {\n    \"built\": %s, \"missing\": ", peers_built ? "true" : "false");
    json_str(missing_peers());
    fprintf(jout, ", \"proofs_ok\": %s,\n    \"libs\": {", peers_failed() ? "false" : "true");
    for (int li = 0, first = 1; li < NLIB; li++)
        if (lib_on[li] && libs_all[li] != NULL) {
            fprintf(jout, "%s\"%s\": ", first ? "" : ", ", lib_names[li]);
            json_str(libs_all[li]->version());
            first = 0;
        }
    fprintf(jout, "},\n    \"rows\": {\n");
    for (int ri = 0; ri < NROW; ri++) {
        struct prow_res *R = &res[ri];
        fprintf(jout, "      \"%s\": {\"unit\": \"%s\", \"better\": \"higher\", ", rows[ri].key,
                rows[ri].bulk ? "MB per CPU second" : "handshakes per CPU second");
        for (int li = 0; li < NLIB; li++) {
            if (!lib_on[li] || libs_all[li] == NULL)
                continue;
            fprintf(jout, "\"%s\": {", lib_names[li]);
            json_num("median", R->med[li], R->ok[li], ", ");
            fprintf(jout, "\"rounds\": [");
            for (int k = 0; k < opt.rounds; k++)
                fprintf(jout, "%.1f%s", R->rate[li][k], k + 1 < opt.rounds ? ", " : "");
            fprintf(jout, "], ");
            json_spread("ratio_openssl", R->ratio_o[li], R->ok[li] && R->ok[LI_OSSL], ", ");
            json_num("p50_client_us", R->us_c[li], R->ok[li] && !rows[ri].bulk, ", ");
            json_num("p50_server_us", R->us_s[li], R->ok[li] && !rows[ri].bulk, "");
            if (!R->ok[li]) {
                fprintf(jout, ", \"error\": ");
                json_str(R->err[li]);
            }
            fprintf(jout, "}, ");
        }
        json_spread("kitls_over_best_peer", R->best, R->best_lib >= 0, ", ");
        fprintf(jout, "\"best_peer\": ");
        json_str(R->best_lib >= 0 ? lib_names[R->best_lib] : "");
        fprintf(jout, ", ");
        json_num("crypto_bound", row_bound(ri), row_bound(ri) > 0, ", ");
        json_num("crypto_bound_hot_loop", row_bound_hot(ri), row_bound_hot(ri) > 0, "");
        fprintf(jout, "},\n");
    }
    /* memory rows: lower is better; kitls_over_best_peer = kitls / lowest peer */
    for (int m = 0; m < 4 && g_heap_hooked; m++) {
        static const char *const key[4] = {"heap_established", "heap_idle", "allocs_full",
                                           "allocs_resumed"};
        double kv = 0, best = 0;
        int bl = -1;
        fprintf(jout, "      \"%s\": {\"unit\": \"%s\", \"better\": \"lower\", ", key[m],
                m < 2 ? "bytes per connection" : "allocations per handshake");
        for (int li = 0; li < NLIB; li++) {
            const struct pmem *M = &mem[li];
            double v = m == 0   ? M->est
                       : m == 1 ? M->idle
                       : m == 2 ? M->allocs_full
                                : M->allocs_resumed;
            if (!lib_on[li] || libs_all[li] == NULL)
                continue;
            fprintf(jout, "\"%s\": {", lib_names[li]);
            json_num("value", v, M->ok, "");
            if (m == 1)
                fprintf(jout, ", \"released\": %s", M->idle_released ? "true" : "false");
            if (li == LI_KITLS && M->have_hook && m < 2)
                fprintf(jout, ", \"by_hook\": %.1f", m == 0 ? M->hook_est : M->hook_idle);
            fprintf(jout, ", \"pairs\": %d}, ", M->pairs);
            if (!M->ok)
                continue;
            if (li == LI_KITLS)
                kv = v;
            else if (bl < 0 || v < best)
                best = v, bl = li;
        }
        json_num("kitls_over_best_peer", best > 0 ? kv / best : 0,
                 mem[LI_KITLS].ok && bl >= 0 && best > 0, ", ");
        fprintf(jout, "\"best_peer\": ");
        json_str(bl >= 0 ? lib_names[bl] : "");
        fprintf(jout, "}%s\n", m < 3 ? "," : "");
    }
    if (!g_heap_hooked)
        fprintf(jout, "      \"memory\": null\n");
    fprintf(jout, "    }\n  },\n");
}
