/*
 * Issue 16 groundwork: OpenSSL libssl, GnuTLS and rustls (Debian's 0.20.8,
 * through the C ABI of bench/peers/rustls as a staticlib) in ONE process,
 * in memory, interleaved in 20 ms slices, per-round ratios to OpenSSL.
 * A prototype of the method for kitls-bench, not the bench itself.
 *
 *   peers-demo CERTDIR [seconds-per-round] [rounds]
 *
 * CERTDIR from bench/peers/gen-certs.sh (P-256 root, intermediate, leaf).
 * Rows: full (chain not verified, CertificateVerify checked), full (chain
 * verified to the root + hostname), resumed (psk_dhe_ke, 1 ticket,
 * chained); then heap per established connection (mallinfo2, 1000 pairs).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "gnutls-peer.h"
#include "kitls-peer-rustls.h"

enum { P_OSSL, P_GNUTLS, P_RUSTLS, NPEER };
static const char *peer_name[NPEER] = {"OpenSSL", "GnuTLS", "rustls"};

/* PEERS_AB=aa: the GnuTLS slot runs a second OpenSSL (A/A noise);
 * PEERS_AB=slow: that second OpenSSL does one extra HKDF (fetched each
 * time) per handshake: can interleaved A/B see a small regression? */
static int ab_mode;
#define IS_OSSL(l) ((l) == P_OSSL || (ab_mode && (l) == P_GNUTLS))
static const char *const mode_name[3] = {"full, chain verified", "full, CV only",
                                         "resumed, 1 ticket"};

static char *chain_pem, *key_pem, *root_pem;
static size_t chain_len, key_len, root_len;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "peers-demo: %s: %s\n", what, err);
    exit(1);
}

/* ---------------- OpenSSL libssl, BIO pair ---------------- */

struct opeer {
    int mode, slow;
    SSL_CTX *c, *s;
    SSL_SESSION *sess;
    long tickets, resumed;
    SSL **held;
    long n_held;
};

static int o_new_sess(SSL *ssl, SSL_SESSION *sess)
{
    struct opeer *o = SSL_get_app_data(ssl);
    SSL_SESSION_free(o->sess);
    o->sess = sess; /* chained: the next connection resumes with this one */
    o->tickets++;
    return 1;
}

static int o_no_chain(X509_STORE_CTX *x, void *arg)
{
    (void)x, (void)arg;
    return 1;
}

static struct opeer *o_new(int mode)
{
    struct opeer *o = calloc(1, sizeof(*o));
    BIO *b = BIO_new_mem_buf(chain_pem, (int)chain_len);
    X509 *x;
    EVP_PKEY *k;
    o->mode = mode;
    o->c = SSL_CTX_new(TLS_client_method());
    o->s = SSL_CTX_new(TLS_server_method());
    for (int i = 0; i < 2; i++) {
        SSL_CTX *ctx = i ? o->s : o->c;
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
        SSL_CTX_set1_groups_list(ctx, "X25519");
        SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
        if (mode != 2) {
            SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_num_tickets(ctx, 0);
        }
    }
    if (mode == 2) {
        SSL_CTX_set_num_tickets(o->s, 1);
        SSL_CTX_set_session_cache_mode(o->s, SSL_SESS_CACHE_OFF); /* stateless tickets */
        SSL_CTX_set_session_cache_mode(o->c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(o->c, o_new_sess);
    }
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x == NULL || SSL_CTX_use_certificate(o->s, x) != 1)
        die("openssl", "leaf");
    X509_free(x);
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!SSL_CTX_add0_chain_cert(o->s, x))
            die("openssl", "chain");
    ERR_clear_error();
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, (int)key_len);
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    if (k == NULL || SSL_CTX_use_PrivateKey(o->s, k) != 1)
        die("openssl", "key");
    EVP_PKEY_free(k);
    BIO_free(b);
    b = BIO_new_mem_buf(root_pem, (int)root_len);
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x == NULL || !X509_STORE_add_cert(SSL_CTX_get_cert_store(o->c), x))
        die("openssl", "root");
    X509_free(x);
    BIO_free(b);
    SSL_CTX_set_verify(o->c, mode == 0 ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    /* SSL_VERIFY_NONE alone still runs X509_verify_cert (and ignores its
     * result): skip the chain for real; CertificateVerify is still checked
     * with the leaf's key */
    if (mode == 1)
        SSL_CTX_set_cert_verify_callback(o->c, o_no_chain, NULL);
    return o;
}

/* One handshake; the client reads the ticket in mode 2.  Returns the client
 * (server in *sp) or NULL. */
static SSL *o_one(struct opeer *o, SSL **sp)
{
    SSL *c = SSL_new(o->c), *s = SSL_new(o->s);
    BIO *bc, *bs;
    int cd = 0, sd = 0;
    unsigned char byte;
    BIO_new_bio_pair(&bc, 17 * 1024, &bs, 17 * 1024);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_app_data(c, o);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    SSL_set_tlsext_host_name(c, "localhost");
    if (o->mode == 0)
        SSL_set1_host(c, "localhost");
    if (o->mode == 2 && o->sess != NULL)
        SSL_set_session(c, o->sess);
    for (int i = 0; i < 16 && !(cd && sd); i++) {
        if (!cd && SSL_do_handshake(c) == 1)
            cd = 1;
        if (!sd && SSL_do_handshake(s) == 1)
            sd = 1;
    }
    if (!(cd && sd))
        die("openssl", "handshake did not complete");
    if (o->mode == 2) {
        if (SSL_read(c, &byte, 1) > 0)
            die("openssl", "unexpected data");
        if (o->sess != NULL && SSL_session_reused(c) && SSL_session_reused(s))
            o->resumed++;
    }
    *sp = s;
    return c;
}

/* The deliberate regression of PEERS_AB=slow: one HKDF-Expand-Label-sized
 * derivation with a fresh fetch, as a careless key schedule would do. */
static void extra_hkdf(void)
{
    unsigned char key[32] = {1}, out[32];
    size_t outlen = sizeof(out);
    EVP_PKEY_CTX *k = EVP_PKEY_CTX_new_from_name(NULL, "HKDF", NULL);
    if (k == NULL || EVP_PKEY_derive_init(k) <= 0 ||
        EVP_PKEY_CTX_set_hkdf_md(k, EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_hkdf_mode(k, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY) <= 0 ||
        EVP_PKEY_CTX_set1_hkdf_key(k, key, sizeof(key)) <= 0 ||
        EVP_PKEY_CTX_add1_hkdf_info(k, (const unsigned char *)"tls13 key", 9) <= 0 ||
        EVP_PKEY_derive(k, out, &outlen) <= 0)
        die("extra_hkdf", "failed");
    EVP_PKEY_CTX_free(k);
}

static long o_run(struct opeer *o, long n)
{
    for (long i = 0; i < n; i++) {
        if (o->slow)
            extra_hkdf();
        SSL *s, *c = o_one(o, &s);
        /* as after SSL_shutdown: SSL_free would otherwise mark the session
         * not resumable */
        SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c);
        SSL_free(s);
    }
    return n;
}

/* ---------------- the three peers behind one interface ---------------- */

struct peer {
    void *h;
    int mode;
};

static void peer_new(struct peer *p, int lib, int mode)
{
    char err[256];
    p->mode = mode;
    if (IS_OSSL(lib)) {
        p->h = o_new(mode);
        ((struct opeer *)p->h)->slow = ab_mode == 2 && lib != P_OSSL;
    } else if (lib == P_GNUTLS)
        p->h = gpeer_new(chain_pem, chain_len, key_pem, key_len, root_pem, root_len, mode, err,
                         sizeof(err));
    else
        p->h =
            kpeer_rustls_new((const uint8_t *)chain_pem, chain_len, (const uint8_t *)key_pem,
                             key_len, (const uint8_t *)root_pem, root_len, mode, err, sizeof(err));
    if (p->h == NULL)
        die(peer_name[lib], err);
}

static void peer_run(struct peer *p, int lib, long n)
{
    char err[256];
    long r = IS_OSSL(lib)      ? o_run(p->h, n)
             : lib == P_GNUTLS ? gpeer_run(p->h, n, err, sizeof(err))
                               : kpeer_rustls_run(p->h, n, err, sizeof(err));
    if (r != n)
        die(peer_name[lib], err);
}

/* What the peer proves it did: tickets and resumptions. */
static void peer_proof(struct peer *p, int lib, char *out, size_t n)
{
    if (IS_OSSL(lib)) {
        struct opeer *o = p->h;
        snprintf(out, n, "tickets %ld resumed %ld", o->tickets, o->resumed);
    } else if (lib == P_GNUTLS) {
        struct gpeer_stats s;
        gpeer_stats(p->h, &s);
        snprintf(out, n, "tickets %llu resumed %llu", (unsigned long long)s.tickets,
                 (unsigned long long)s.resumed);
    } else {
        uint64_t s[6];
        kpeer_rustls_stats(p->h, s);
        snprintf(out, n, "tickets %llu resumed %llu chain-checks %llu", (unsigned long long)s[1],
                 (unsigned long long)s[2], (unsigned long long)s[3]);
    }
}

static double heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL;
    double secs = argc > 2 ? atof(argv[2]) : 1.0;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    char path[512];
    FILE *f;
    char **bufs[3] = {&chain_pem, &key_pem, &root_pem};
    size_t *lens[3] = {&chain_len, &key_len, &root_len};
    const char *files[3] = {"chain.pem", "leaf.key", "root.pem"};

    if (dir == NULL || rounds < 1 || rounds > 16) {
        fprintf(stderr, "usage: peers-demo CERTDIR [seconds-per-round] [rounds<=16]\n");
        return 2;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if ((f = fopen(path, "rb")) == NULL)
            die(path, "cannot open");
        *bufs[i] = malloc(65536);
        *lens[i] = fread(*bufs[i], 1, 65535, f);
        fclose(f);
    }
    if (getenv("PEERS_AB") != NULL) {
        ab_mode = strcmp(getenv("PEERS_AB"), "slow") == 0 ? 2 : 1;
        peer_name[P_GNUTLS] = ab_mode == 2 ? "OSSL-slow" : "OpenSSL-B";
    }
    gnutls_global_init();
    printf("per-round rates interleaved in 20 ms slices, %d rounds of %.1f s; ratio = median of "
           "per-round ratios to OpenSSL (CPU time)\n",
           rounds, secs);
    for (int mode = 0; mode < 3; mode++) {
        struct peer p[NPEER];
        double rate[NPEER][16], ratio[NPEER][16];
        char proof[NPEER][128];
        for (int l = 0; l < NPEER; l++) {
            peer_new(&p[l], l, mode);
            peer_run(&p[l], l, 20); /* warm-up */
        }
        for (int r = 0; r < rounds; r++) {
            double c[NPEER] = {0}, t0 = mono();
            long n[NPEER] = {0};
            for (int cyc = 0; mono() - t0 < secs; cyc++) {
                for (int k = 0; k < NPEER; k++) {
                    /* forward and backward cycles in turn (A B C C B A A B
                     * ...): each library follows each other one equally
                     * often.  A fixed cycle (A B C A B C) gave an A/A pair
                     * a steady 3-4% bias: the slice after another
                     * library's slice runs on colder caches. */
                    int l = (cyc & 1) ? (NPEER - 1 - k + r) % NPEER : (k + r) % NPEER;
                    double s0 = mono(), c0 = cpu();
                    while (mono() - s0 < 0.02) {
                        peer_run(&p[l], l, 4);
                        n[l] += 4;
                    }
                    c[l] += cpu() - c0;
                }
            }
            for (int l = 0; l < NPEER; l++)
                rate[l][r] = (double)n[l] / c[l];
            for (int l = 0; l < NPEER; l++)
                ratio[l][r] = rate[l][r] / rate[P_OSSL][r];
        }
        for (int l = 0; l < NPEER; l++) {
            double rr[16], ra[16];
            memcpy(rr, ratio[l], sizeof(rr));
            memcpy(ra, rate[l], sizeof(ra));
            qsort(rr, (size_t)rounds, sizeof(double), cmpd);
            qsort(ra, (size_t)rounds, sizeof(double), cmpd);
            peer_proof(&p[l], l, proof[l], sizeof(proof[l]));
            printf("%-22s %-8s %7.0f hs/s (CPU)  ratio %.2f [%.2f..%.2f]  %s\n", mode_name[mode],
                   peer_name[l], ra[rounds / 2], rr[rounds / 2], rr[0], rr[rounds - 1], proof[l]);
        }
        if (mode == 0) {
            /* heap per established connection: 1000 pairs each */
            for (int l = 0; l < NPEER; l++) {
                char err[256];
                double h0 = heap_used(), h1;
                SSL **held = NULL;
                if (IS_OSSL(l)) {
                    struct opeer *o = p[l].h;
                    held = malloc(2000 * sizeof(SSL *));
                    h0 = heap_used();
                    for (int i = 0; i < 1000; i++)
                        held[2 * i] = o_one(o, &held[2 * i + 1]);
                } else if (l == P_GNUTLS) {
                    if (gpeer_hold(p[l].h, 1000, err, sizeof(err)) < 0)
                        die("gnutls", err);
                } else if (kpeer_rustls_hold(p[l].h, 1000, err, sizeof(err)) < 0) {
                    die("rustls", err);
                }
                h1 = heap_used();
                printf("heap per established connection %-8s %.1f KB (1000 pairs, mallinfo2%s)\n",
                       peer_name[l], (h1 - h0) / 2000.0 / 1000.0,
                       IS_OSSL(l) ? ", incl. the BIO pair buffers" : "");
                if (IS_OSSL(l)) {
                    for (int i = 0; i < 2000; i++)
                        SSL_free(held[i]);
                    free(held);
                } else if (l == P_GNUTLS) {
                    gpeer_drop(p[l].h);
                } else {
                    kpeer_rustls_drop(p[l].h);
                }
            }
        }
        for (int l = 0; l < NPEER; l++) {
            if (IS_OSSL(l)) {
                struct opeer *o = p[l].h;
                SSL_SESSION_free(o->sess);
                SSL_CTX_free(o->c);
                SSL_CTX_free(o->s);
                free(o);
            } else if (l == P_GNUTLS) {
                gpeer_free(p[l].h);
            } else {
                kpeer_rustls_free(p[l].h);
            }
        }
    }
    gnutls_global_deinit();
    return 0;
}
