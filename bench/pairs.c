/*
 * kitls-bench, connection pairs: the OpenSSL (libssl) and kitls configs
 * (X25519, ECDSA P-256 leaves, client verifies "localhost", no tickets),
 * a client and a server of one library in one process joined in memory,
 * and the loops that drive their handshake.  Used by the handshake,
 * allocation and throughput parts.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench.h"

/* ------------------------------------------------------------------ */
/* OpenSSL (libssl) side                                               */
/* ------------------------------------------------------------------ */

static SSL_CTX *ossl_sctx[MAX_LEAVES];
SSL_CTX *ossl_cctx;

SSL_CTX *ossl_ctx(int server, const char *suites_list, int leaf)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL)
        die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    if (!SSL_CTX_set1_groups_list(ctx, opt.group))
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

int ossl_pair_new(struct ossl_pair *p, SSL_CTX *cctx, size_t bufsz)
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

void ossl_pair_free(struct ossl_pair *p)
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

int ossl_handshake(struct ossl_pair *p, char *err, size_t errn)
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
static kitls_config *k_scfg[MAX_LEAVES];
kitls_config *k_ccfg;

kitls_config *k_cfg(int server, uint16_t suite, int leaf, char *err, size_t errn)
{
    const uint16_t groups[1] = {kitls_group_by_name(opt.group)};
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
    set_err(err, errn, "config: %s (%d)", kitls_strerror(r), r);
    kitls_config_free(cfg);
    return NULL;
}

int k_pair_new(struct k_pair *p, kitls_config *ccfg, char *err, size_t errn)
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
        set_err(err, errn, "set_server_name: %s", kitls_strerror(r));
        return -1;
    }
    return 0;
}

void k_pair_free(struct k_pair *p)
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
    set_err(err, errn,
            "kitls handshake: %s (%d); client err %d, server err %d, peer alerts c=%d s=%d%s%s",
            kitls_strerror(r), r, kitls_conn_error(p->c), kitls_conn_error(p->s),
            kitls_conn_peer_alert(p->c), kitls_conn_peer_alert(p->s), d1 && *d1 ? "; verify: " : "",
            d1 ? d1 : "");
}

int k_handshake(struct k_pair *p, char *err, size_t errn)
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
/* Configs of the enabled libraries                                    */
/* ------------------------------------------------------------------ */

int lib_setup(int lib, char *err, size_t errn)
{
    if (lib == L_OSSL) {
        if (ossl_cctx == NULL) {
            for (int i = 0; i < n_leaves; i++) {
                ossl_sctx[i] = ossl_ctx(1,
                                        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                        "TLS_CHACHA20_POLY1305_SHA256",
                                        i);
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

void lib_free(void)
{
#ifndef KITLS_BENCH_NO_KITLS
    for (int i = 0; i < n_leaves; i++)
        kitls_config_free(k_scfg[i]);
    kitls_config_free(k_ccfg);
#endif
    for (int i = 0; i < n_leaves; i++)
        SSL_CTX_free(ossl_sctx[i]);
    SSL_CTX_free(ossl_cctx);
}
