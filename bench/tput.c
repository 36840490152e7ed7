/*
 * kitls-bench, record throughput and the raw libcrypto limits: per cipher
 * suite and write size (1 KiB, 16 KiB, 1 MiB), a client writes and the
 * server of the same library reads, in memory, encrypt + decrypt; and the
 * upper bounds: EVP AEAD seal+open of the same records and the public-key
 * work of one handshake.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench.h"

/* ------------------------------------------------------------------ */
/* Record throughput                                                   */
/* ------------------------------------------------------------------ */

const size_t tput_size[NSIZES] = {1024, 16384, 1048576};
const char *const tput_size_name[NSIZES] = {"1k", "16k", "1m"};
int tput_on[NSIZES] = {1, 1, 1};
#define TPUT_SLICES 8 /* connections per library and measurement, taking turns */

struct tput_result tput_res[2][NSUITES][NSIZES];

static uint8_t *wbuf, *rbuf;
#define BUF_LEN (1048576u + 64u) /* wbuf/rbuf: the largest write size */

void tput_buffers_init(void)
{
    wbuf = malloc(BUF_LEN);
    rbuf = malloc(BUF_LEN);
    if (wbuf == NULL || rbuf == NULL)
        die("oom");
    for (size_t i = 0; i < BUF_LEN; i++)
        wbuf[i] = (uint8_t)(i * 131 + 7);
    wbuf[REC_LEN] = 23; /* inner content type for the raw AEAD runs */
}

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

/* One write of wlen bytes of wbuf by the client of a pair, all of it read
 * into rbuf by the server; 0 or -1 with err set. */
typedef int tput_write_fn(void *pair, size_t wlen, char *err, size_t errn);

/* Writes wlen bytes at a time until total bytes are done, after a first
 * write that is a check and a warm-up (buffers grow to their size), not
 * timed; adds the time of the rest to *secs and *secs_cpu. */
static int tput_loop(tput_write_fn *write1, void *pair, int lib, size_t wlen, size_t total,
                     double *secs, double *secs_cpu, char *err, size_t errn)
{
    double t0, t1, c0, c1;
    if (write1(pair, wlen, err, errn) < 0)
        return -1;
    if (memcmp(wbuf, rbuf, wlen) != 0) {
        set_err(err, errn, "%s: data mismatch", lib_name[lib]);
        return -1;
    }
    c0 = now_cpu();
    t0 = now();
    for (size_t done = 0; done < total; done += wlen)
        if (write1(pair, wlen, err, errn) < 0)
            return -1;
    t1 = now();
    c1 = now_cpu();
    *secs += t1 - t0;
    *secs_cpu += c1 - c0;
    return 0;
}

/* tput_write_fn of libssl */
static int ossl_write1(void *pair, size_t wlen, char *err, size_t errn)
{
    struct ossl_pair *p = pair;
    size_t got = 0;
    /* a write larger than the BIO pair holds returns WANT_WRITE: the
     * server reads, then the same SSL_write is retried (it resumes) */
    for (;;) {
        int w = SSL_write(p->c, wbuf, (int)wlen);
        if (w == (int)wlen)
            break;
        if (w > 0 || SSL_get_error(p->c, w) != SSL_ERROR_WANT_WRITE) {
            set_err(err, errn, "SSL_write: %d", SSL_get_error(p->c, w));
            return -1;
        }
        if (ossl_drain(p->s, &got, wlen, err, errn) < 0)
            return -1;
    }
    if (ossl_drain(p->s, &got, wlen, err, errn) < 0)
        return -1;
    if (got != wlen) {
        set_err(err, errn, "openssl: short read (%zu of %zu)", got, wlen);
        return -1;
    }
    return 0;
}

static int tput_ossl(int si, int zi, size_t total, double *secs, double *secs_cpu, char *err,
                     size_t errn)
{
    SSL_CTX *cctx = ossl_ctx(0, suites[si].name, 0);
    struct ossl_pair p;
    int rc = -1;
    /* room for one full record plus header/tag in each direction */
    if (ossl_pair_new(&p, cctx, 64 * 1024) < 0 || ossl_handshake(&p, err, errn) < 0)
        goto out;
    if (SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(p.c)) != suites[si].id) {
        set_err(err, errn, "openssl negotiated the wrong suite");
        goto out;
    }
    rc = tput_loop(ossl_write1, &p, L_OSSL, tput_size[zi], total, secs, secs_cpu, err, errn);
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
            set_err(err, errn, "kitls_conn_feed: %s (%d)", kitls_strerror(r), r);
            return -1;
        }
        kitls_conn_out_consume(p->c, n);
        while (*got < want) {
            r = kitls_conn_read(p->s, rbuf + *got, want - *got);
            if (r == KITLS_E_WANT_READ)
                break;
            if (r <= 0) {
                set_err(err, errn, "kitls_conn_read: %s (%d) after %zu bytes", kitls_strerror(r), r,
                        *got);
                return -1;
            }
            *got += (size_t)r;
        }
    }
    return 0;
}

/* tput_write_fn of kitls */
static int k_write1(void *pair, size_t wlen, char *err, size_t errn)
{
    struct k_pair *p = pair;
    size_t got = 0, dummy = 0;
    int w = kitls_conn_write(p->c, wbuf, wlen);
    if (w != (int)wlen) {
        set_err(err, errn, "kitls_conn_write: %s (%d)", kitls_strerror(w), w);
        return -1;
    }
    if (k_pump(p, &got, wlen, err, errn) < 0)
        return -1;
    if (got != wlen) {
        set_err(err, errn, "kitls: short read (%zu of %zu)", got, wlen);
        return -1;
    }
    /* the server may have queued something (e.g. tickets); drop it */
    if (kitls_conn_out_peek(p->s, &(const uint8_t *){NULL}) > 0)
        (void)k_move(p->s, p->c, &dummy);
    return 0;
}

static int tput_kitls(int si, int zi, size_t total, double *secs, double *secs_cpu, char *err,
                      size_t errn)
{
    kitls_config *ccfg = k_cfg(0, suites[si].id, 0, err, errn);
    struct k_pair p = {0};
    int rc = -1;
    if (ccfg == NULL)
        return -1;
    if (k_pair_new(&p, ccfg, err, errn) < 0 || k_handshake(&p, err, errn) < 0)
        goto out;
    if (kitls_conn_suite(p.c) != suites[si].id || kitls_conn_suite(p.s) != suites[si].id) {
        set_err(err, errn, "kitls negotiated the wrong suite (%04x)", kitls_conn_suite(p.c));
        goto out;
    }
    rc = tput_loop(k_write1, &p, L_KITLS, tput_size[zi], total, secs, secs_cpu, err, errn);
out:
    k_pair_free(&p);
    kitls_config_free(ccfg);
    return rc;
}
#endif

void bench_tput(void)
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

struct raw_figures raw;

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
    uint8_t key[32], iv[12], aad[5] = {23, 3, 3, (uint8_t)((rlen + 17) >> 8), (uint8_t)(rlen + 17)},
                             tag[16];
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
            !EVP_EncryptUpdate(e, ct, &outl, wbuf, (int)rlen + 1) ||                               \
            !EVP_EncryptFinal_ex(e, ct + outl, &outl) ||                                           \
            !EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_GET_TAG, 16, tag))                               \
            die("seal");                                                                           \
    } while (0)
#define OPEN()                                                                                     \
    do {                                                                                           \
        if (!EVP_DecryptInit_ex2(d, NULL, NULL, iv, NULL) ||                                       \
            !EVP_DecryptUpdate(d, NULL, &outl, aad, 5) ||                                          \
            !EVP_DecryptUpdate(d, pt, &outl, ct, (int)rlen + 1) ||                                 \
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

void bench_raw(void)
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
