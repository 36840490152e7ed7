/*
 * kitls-bench, OpenSSL libssl as a library of the peers table
 * (bench/libs.h): its configs and in-memory pairs over a BIO pair.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench.h"
#include "libs.h"

struct bl_pair {
    int cfg, flags;
    SSL *c, *s;
    struct sniff sn, sn_s2c; /* client's and server's bytes (BL_SNIFF) */
    int tickets, client_hellos;
};

static SSL_CTX *oc[NCFG], *os[NCFG][PEER_LEAVES];
static SSL_SESSION *osess; /* the resumed row's newest ticket (chained) */
static BIO *null_bio;      /* replaces a held pair's BIO pair (the bench's transport) */
static int pair_idx = -1;  /* SSL ex_data index of the pair */

static const char *o_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

/* The "chain not verified" row: without this callback SSL_VERIFY_NONE
 * still runs X509_verify_cert and only ignores its result.
 * CertificateVerify is checked with the leaf's key either way. */
static int o_cv_only(X509_STORE_CTX *ctx, void *arg)
{
    (void)ctx, (void)arg;
    return 1;
}

/* Client: each ticket replaces the previous one (chained), counted. */
static int o_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct bl_pair *p = SSL_get_ex_data(ssl, pair_idx);
    if (p != NULL)
        p->tickets++;
    SSL_SESSION_free(osess);
    osess = sess;
    return 1; /* we keep the reference */
}

static SSL_CTX *o_ctx(int cfg, int server, int leaf)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set1_groups_list(ctx, "X25519") ||
        !SSL_CTX_set_ciphersuites(ctx, cfg == CFG_CHACHA ? "TLS_CHACHA20_POLY1305_SHA256"
                                                         : "TLS_AES_128_GCM_SHA256"))
        die("openssl SSL_CTX for config %d", cfg);
    if (cfg == CFG_RESUMED) {
        SSL_CTX_set_num_tickets(ctx, 1);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    if (server) {
        /* stateless tickets, no server cache */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        if (SSL_CTX_use_certificate(ctx, ppki.leaf[leaf].x) != 1 ||
            SSL_CTX_add1_chain_cert(ctx, ppki.inter) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, ppki.leaf[leaf].key) != 1)
            die("openssl server chain");
    } else {
        if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ppki.root))
            die("openssl root");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (cfg == CFG_CV)
            SSL_CTX_set_cert_verify_callback(ctx, o_cv_only, NULL);
        if (cfg == CFG_RESUMED) {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                                    SSL_SESS_CACHE_NO_INTERNAL_STORE);
            SSL_CTX_sess_set_new_cb(ctx, o_new_session);
        } else {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        }
    }
    return ctx;
}

static int o_setup(char *err, size_t errn)
{
    (void)err, (void)errn;
    pair_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    null_bio = BIO_new(BIO_s_null());
    if (pair_idx < 0 || null_bio == NULL)
        die("openssl ex_data / null BIO");
    for (int cfg = 0; cfg < NCFG; cfg++) {
        oc[cfg] = o_ctx(cfg, 0, 0);
        for (int i = 0; i < (cfg == CFG_CHAIN ? PEER_LEAVES : 1); i++)
            os[cfg][i] = o_ctx(cfg, 1, i);
    }
    return 0;
}

static void o_teardown(void)
{
    for (int cfg = 0; cfg < NCFG; cfg++) {
        SSL_CTX_free(oc[cfg]);
        oc[cfg] = NULL;
        for (int i = 0; i < PEER_LEAVES; i++) {
            SSL_CTX_free(os[cfg][i]);
            os[cfg][i] = NULL;
        }
    }
    SSL_SESSION_free(osess);
    osess = NULL;
    BIO_free(null_bio);
    null_bio = NULL;
}

static struct bl_pair *o_pair_new(int cfg, int flags)
{
    struct bl_pair *p = calloc(1, sizeof(*p));
    if (p == NULL)
        die("oom");
    p->cfg = cfg;
    p->flags = flags;
    return p;
}

/* Counts the ClientHellos the client writes (2 after an HRR). */
static void o_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                     SSL *ssl, void *arg)
{
    struct bl_pair *p = arg;
    (void)version, (void)ssl;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 && ((const uint8_t *)buf)[0] == 1)
        p->client_hellos++;
}

/* A side's bytes as its BIO writes them (wire proof). */
static long o_bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                     size_t *processed)
{
    struct sniff *sn = (struct sniff *)BIO_get_callback_arg(b);
    (void)len, (void)argi, (void)argl;
    if (oper == (BIO_CB_WRITE | BIO_CB_RETURN) && ret > 0 && processed != NULL)
        sniff_add(sn, (const uint8_t *)argp, *processed);
    return ret;
}

static int o_side_new(struct bl_pair *p, int side, int leaf, char *err, size_t errn)
{
    SSL *x = SSL_new(side == 0 ? oc[p->cfg] : os[p->cfg][p->cfg == CFG_CHAIN ? leaf : 0]);
    if (x == NULL)
        goto fail;
    if (p->flags & BL_IDLE)
        SSL_set_mode(x, SSL_MODE_RELEASE_BUFFERS);
    if (side == 0) {
        p->c = x;
        SSL_set_connect_state(x);
        SSL_set_ex_data(x, pair_idx, p);
        if (!SSL_set_tlsext_host_name(x, "localhost") ||
            (p->cfg != CFG_CV && !SSL_set1_host(x, "localhost")) ||
            (p->cfg == CFG_RESUMED && osess != NULL && !SSL_set_session(x, osess)))
            goto fail;
        if (p->flags & BL_SNIFF)
            SSL_set_msg_callback(x, o_msg_cb), SSL_set_msg_callback_arg(x, p);
    } else {
        p->s = x;
        SSL_set_accept_state(x);
    }
    if (p->c != NULL && p->s != NULL) {
        /* the transport: room for a 16 KiB record each way for bulk */
        BIO *bc = NULL, *bs = NULL;
        size_t sz = p->cfg >= CFG_AES ? 64 * 1024 : 0;
        if (!BIO_new_bio_pair(&bc, sz, &bs, sz))
            goto fail;
        if (p->flags & BL_SNIFF) {
            BIO_set_callback_ex(bc, o_bio_cb);
            BIO_set_callback_arg(bc, (char *)&p->sn);
            BIO_set_callback_ex(bs, o_bio_cb);
            BIO_set_callback_arg(bs, (char *)&p->sn_s2c);
        }
        SSL_set_bio(p->c, bc, bc);
        SSL_set_bio(p->s, bs, bs);
    }
    return 0;
fail:
    set_err(err, errn, "openssl: SSL_new / set_session / BIO pair failed");
    ERR_clear_error();
    return -1;
}

static int o_turn(struct bl_pair *p, int side, char *err, size_t errn)
{
    SSL *x = side == 0 ? p->c : p->s;
    int r = SSL_do_handshake(x), e;
    if (r == 1)
        return 1;
    e = SSL_get_error(x, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    set_err(err, errn, "openssl %s: SSL_do_handshake error %d (%s), verify %ld",
            side ? "server" : "client", e, ERR_reason_error_string(ERR_peek_error()),
            SSL_get_verify_result(x));
    ERR_clear_error();
    return -1;
}

static int o_settle(struct bl_pair *p, char *err, size_t errn)
{
    uint8_t b;
    int r = SSL_read(p->c, &b, 1);
    if (r > 0 || SSL_get_error(p->c, r) != SSL_ERROR_WANT_READ) {
        set_err(err, errn, "openssl: post-handshake read: %d", SSL_get_error(p->c, r));
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static void o_proof(struct bl_pair *p, struct bl_proof *o)
{
    uint16_t want = p->cfg == CFG_CHACHA ? 0x1303 : 0x1301;
    wire_scan(p->sn.b, p->sn.n, p->sn_s2c.b, p->sn_s2c.n, o);
    /* the msg callback saw every ClientHello; the wire the records */
    if (p->client_hellos > o->client_hellos)
        o->client_hellos = p->client_hellos;
    o->lib_x25519 = SSL_get_negotiated_group(p->c) == NID_X25519 &&
                    SSL_get_negotiated_group(p->s) == NID_X25519;
    o->suite_ok = SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(p->c)) == want &&
                  SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(p->s)) == want;
    o->tickets = p->tickets;
    o->resumed_c = SSL_session_reused(p->c);
    o->resumed_s = SSL_session_reused(p->s);
    /* a verified chain exists only when X509_verify_cert ran and passed */
    o->chain = !o->resumed_c && SSL_get0_verified_chain(p->c) != NULL &&
               SSL_get_verify_result(p->c) == X509_V_OK;
}

static int o_xfer(struct bl_pair *p, const uint8_t *data, uint8_t *out, size_t len, char *err,
                  size_t errn)
{
    size_t got = 0;
    for (;;) {
        int w = SSL_write(p->c, data, (int)len), r;
        if (w != (int)len && (w > 0 || SSL_get_error(p->c, w) != SSL_ERROR_WANT_WRITE)) {
            set_err(err, errn, "SSL_write: %d", SSL_get_error(p->c, w));
            return -1;
        }
        /* the server reads what arrived; a write larger than the BIO
         * pair holds is then retried (it resumes) */
        while (got < len) {
            r = SSL_read(p->s, out + got, (int)(len - got));
            if (r <= 0) {
                if (SSL_get_error(p->s, r) == SSL_ERROR_WANT_READ)
                    break;
                set_err(err, errn, "SSL_read: %d", SSL_get_error(p->s, r));
                return -1;
            }
            got += (size_t)r;
        }
        if (w == (int)len)
            break;
    }
    if (got != len) {
        set_err(err, errn, "openssl: short read (%zu of %zu)", got, len);
        return -1;
    }
    return 0;
}

/* SSL_MODE_RELEASE_BUFFERS (set at SSL_new for BL_IDLE pairs) frees a
 * buffer when a read or write finds it empty: one read on each side. */
static void o_release(struct bl_pair *p)
{
    uint8_t b;
    (void)SSL_read(p->c, &b, 1);
    (void)SSL_read(p->s, &b, 1);
    ERR_clear_error();
}

static void o_drop_transport(struct bl_pair *p)
{
    /* SSL_set_bio frees the BIO pair; the shared null BIO is counted once */
    BIO_up_ref(null_bio);
    SSL_set_bio(p->c, null_bio, null_bio);
    BIO_up_ref(null_bio);
    SSL_set_bio(p->s, null_bio, null_bio);
    sniff_free(&p->sn);
    sniff_free(&p->sn_s2c);
}

static void o_side_free(struct bl_pair *p, int side)
{
    SSL **x = side == 0 ? &p->c : &p->s;
    /* as after SSL_shutdown: SSL_free would otherwise mark the session
     * not resumable (ssl_clear_bad_session) */
    if (*x != NULL && side == 0)
        SSL_set_shutdown(*x, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(*x);
    *x = NULL;
}

static void o_pair_free(struct bl_pair *p)
{
    if (p == NULL)
        return;
    o_side_free(p, 0);
    o_side_free(p, 1);
    sniff_free(&p->sn);
    sniff_free(&p->sn_s2c);
    free(p);
}

const struct bench_lib bl_openssl = {
    "openssl", o_version, o_setup, o_teardown, o_pair_new,       o_side_new,  o_turn,
    o_settle,  o_proof,   o_xfer,  o_release,  o_drop_transport, o_side_free, o_pair_free,
};
