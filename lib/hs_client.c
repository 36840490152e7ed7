/* Client side of the handshake: ClientHello, ServerHello/HelloRetryRequest,
 * EncryptedExtensions, CertificateRequest (RFC 8446 §4.1-4.3). */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

/* SHA-256("HelloRetryRequest"), the HRR's random (§4.1.3). */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* The legacy fields before the extensions (RFC 8446 §4.1.2), with a
 * GREASE suite first (RFC 8701). */
static void put_ch_head(kitls_conn *c, struct wr *w)
{
    const kitls_config *cfg = c->cfg;
    wr_u16(w, 0x0303);
    wr_put(w, c->hs->random, 32);
    wr_u8(w, (uint8_t)c->hs->session_id_len);
    wr_put(w, c->hs->session_id, c->hs->session_id_len);
    size_t at = wr_begin(w, 2);
    if (cfg->grease)
        wr_u16(w, kitls_grease(c, KITLS_GREASE_SUITE));
    for (size_t i = 0; i < cfg->n_suites; i++)
        wr_u16(w, cfg->suites[i]);
    wr_end(w, at, 2);
    wr_u8(w, 1);
    wr_u8(w, 0); /* null compression */
}

static int send_client_hello(kitls_conn *c)
{
    WR_ON_STACK(w, 1024);
    struct ext_ctx x = {.msg = EXT_IN_CH, .w = &w};
    size_t msg = kitls_hs_msg_begin(&w, HS_CLIENT_HELLO);
    put_ch_head(c, &w);
    x.exts_at = wr_begin(&w, 2);
    /* The rows in ClientHello order (ext.c); pre_shared_key, last, holds
     * a zero binder that covers the rest (§4.2.11). */
    int ret = kitls_ext_write_all(c, &x);
    if (!ret && c->cfg->ch_padding)
        kitls_ext_pad_hello(&x, msg - 1);
    wr_end(&w, x.exts_at, 2);
    wr_end(&w, msg, 3);
    if (!ret)
        ret = w.err;
    if (!ret && c->res.psk_offered)
        ret = kitls_psk_client_binder(c, &w, msg - 1, x.binder_at);
    if (!ret)
        ret = kitls_th_update(&c->th, w.buf + msg - 1, w.len - msg + 1);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    if (!ret)
        ret = kitls_conn_hs_flush(c);
    wr_free(&w);
    return ret;
}

int kitls_hs_client_start(kitls_conn *c)
{
    /* Verifying with no name to verify would accept any certificate a
     * trusted CA issued: refused unless the application opted out
     * (kitls_config_set_verify_name), before anything is sent. */
    if (c->cfg->verify != KITLS_VERIFY_NONE && c->cfg->verify_name && !c->ext.sni) {
        kitls_conn_set_detail(c, "no server name: call kitls_conn_set_server_name() or "
                                 "kitls_config_set_verify_name(cfg, 0)");
        return KITLS_E_NO_SERVER_NAME;
    }
    GUARD(kitls_config_random(c->cfg, c->hs->random, 32));
    if (c->cfg->grease)
        GUARD(kitls_config_random(c->cfg, c->hs->grease, sizeof(c->hs->grease)));
    if (c->cfg->compat) {
        c->hs->session_id_len = 32;
        GUARD(kitls_config_random(c->cfg, c->hs->session_id, 32));
    }
    GUARD(send_client_hello(c));
    if (c->early.offered)
        GUARD(kitls_early_client_send(c));
    return kitls_hs_sent(c, HS_CLIENT_HELLO);
}

static int offered_suite(const kitls_conn *c, uint16_t id)
{
    for (size_t i = 0; i < c->cfg->n_suites; i++)
        if (c->cfg->suites[i] == id)
            return 1;
    return 0;
}

static int handle_hrr(kitls_conn *c, const struct ext_list *el)
{
    struct ext_ctx x = {.msg = EXT_IN_HRR};
    GUARD(kitls_ext_only(c, el, kitls_ext_allowed(EXT_IN_HRR)));
    /* key_share (the group to use) and cookie (kept for ClientHello2). */
    GUARD(kitls_ext_parse_all(c, &x, el));
    /* An HRR that would not change the ClientHello is illegal (§4.1.4). */
    if (!kitls_ext_get(el, EXT_KEY_SHARE) && !kitls_ext_get(el, EXT_COOKIE))
        return KITLS_E_ILLEGAL_PARAMETER;
    c->did_hrr = 1;
    KITLS_STAT_INC(c->cfg, hello_retry_requests[KITLS_STATS_CLIENT]);
    GUARD(kitls_th_set_hash(&c->th, c->suite));
    GUARD(kitls_th_hrr_rewrite(&c->th));
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    if (c->cfg->compat)
        GUARD(kitls_conn_send_ccs(c));
    kitls_early_client_hrr(c); /* an HRR rejects early data */
    return send_client_hello(c);
}

/* The fields a ServerHello and a HelloRetryRequest share (§4.1.3, §4.1.4),
 * checked against our ClientHello; c->suite is the server's choice. */
static int check_sh_head(kitls_conn *c, struct rd *b, struct ext_list *el, int *is_hrr)
{
    uint16_t version, suite_id, selected = 0;
    const uint8_t *random;
    struct rd sid;
    uint8_t comp;
    int have_sv;
    GUARD(rd_u16(b, &version));
    GUARD(rd_bytes(b, 32, &random));
    GUARD(rd_sub(b, 1, &sid));
    GUARD(rd_u16(b, &suite_id));
    GUARD(rd_u8(b, &comp));
    *is_hrr = !memcmp(random, hrr_random, 32);
    /* A duplicate is decode_error in a ServerHello, illegal_parameter in a
     * HelloRetryRequest (see kitls_ext_parse). */
    GUARD(kitls_ext_parse(b, el, *is_hrr ? 0 : EXT_DUP_DECODE));
    GUARD(rd_expect_empty(b));
    GUARD(kitls_ext_versions_sh(el, &have_sv, &selected));
    /* After a HelloRetryRequest TLS 1.3 is already negotiated: a ServerHello
     * without the version is inconsistent with it (RFC 8446 §4.1.4). */
    if (!have_sv)
        return c->did_hrr ? KITLS_E_ILLEGAL_PARAMETER : KITLS_E_PROTOCOL_VERSION;
    /* legacy_version and legacy_compression_method have one valid value
     * each (RFC 8446 §4.1.3) and no alert of their own: a value out of
     * range is decode_error (§6.2), as BoringSSL answers. */
    if (version != 0x0303 || comp != 0)
        return KITLS_E_DECODE;
    if (selected != 0x0304)
        return KITLS_E_ILLEGAL_PARAMETER; /* §4.2.1 */
    if (rd_left(&sid) != c->hs->session_id_len ||
        memcmp(sid.p, c->hs->session_id, c->hs->session_id_len))
        return KITLS_E_ILLEGAL_PARAMETER;
    if (!offered_suite(c, suite_id))
        return KITLS_E_ILLEGAL_PARAMETER;
    /* After an HRR the suite may not change (§4.1.4). */
    if (c->did_hrr && c->suite->id != suite_id)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->suite = kitls_suite_find(suite_id);
    return 0;
}

/* The handshake secrets from the ServerHello: (EC)DHE with the server's
 * share, or none when resuming with psk_ke (§4.2.9). */
static int sh_derive(kitls_conn *c, const struct ext_ctx *x)
{
    uint8_t dhe[KITLS_MAX_HASH * 2];
    size_t dhe_len = 0;
    int ret = 0;
    if (x->have_share && c->hs->kem[x->kex_index])
        ret = kitls_hyb_client_derive(c->group, c->hs->kex[x->kex_index], c->hs->kem[x->kex_index],
                                      x->share.p, rd_left(&x->share), dhe, &dhe_len);
    else if (x->have_share)
        ret = kitls_kex_derive(c->group, c->hs->kex[x->kex_index], x->share.p, rd_left(&x->share),
                               dhe, &dhe_len);
    if (!ret)
        ret = kitls_th_set_hash(&c->th, c->suite);
    if (!ret)
        ret = kitls_th_update(&c->th, c->msg, c->msg_len);
    if (!ret)
        ret = kitls_hs_derive_hs_secrets(c, x->have_share ? dhe : NULL, dhe_len);
    kitls_wipe(dhe, sizeof(dhe));
    return ret;
}

int kitls_hs_recv_server_hello(kitls_conn *c, struct rd *b)
{
    struct ext_list el;
    struct ext_ctx x = {.msg = EXT_IN_SH};
    int is_hrr;
    GUARD(check_sh_head(c, b, &el, &is_hrr));
    if (is_hrr) {
        if (c->did_hrr)
            return KITLS_E_UNEXPECTED_MESSAGE;
        GUARD(handle_hrr(c, &el));
        return HS_SH_HRR;
    }
    GUARD(kitls_ext_only(c, &el, kitls_ext_allowed(EXT_IN_SH)));
    /* pre_shared_key (resumption), then key_share. */
    GUARD(kitls_ext_parse_all(c, &x, &el));
    GUARD(sh_derive(c, &x));
    if (!x.have_share)
        return HS_NEXT;
    kitls_kex_free_shares(c->hs);
    /* Middlebox compatibility: send our ChangeCipherSpec now, before any
     * record encrypted under the handshake keys, so that an alert we may
     * send while reading the server's flight also follows it (RFC 8446
     * §D.4: the CCS comes before the client's second flight, and an alert
     * would otherwise be the first encrypted record). */
    if (c->cfg->compat)
        GUARD(kitls_conn_send_ccs(c));
    return 0;
}

int kitls_hs_recv_encrypted_extensions(kitls_conn *c, struct rd *b)
{
    struct ext_list el;
    struct ext_ctx x = {.msg = EXT_IN_EE, .strict = 1};
    GUARD(kitls_ext_parse(b, &el, EXT_DUP_DECODE));
    GUARD(rd_expect_empty(b));
    /* Only answers to what we offered (§4.2); of those, one not allowed
     * here is illegal_parameter (x.strict). */
    if (el.n_unknown || (el.present & ~c->ext.offered))
        return KITLS_E_UNSUPPORTED_EXTENSION;
    GUARD(kitls_ext_parse_all(c, &x, &el));
    /* 0-RTT was sent under the session's ALPN; accepting it under another
     * is a protocol violation (§4.2.10). */
    if (c->early.status == KITLS_EARLY_ACCEPTED && strcmp(conn_alpn(c), c->res.session->alpn))
        return KITLS_E_ILLEGAL_PARAMETER;
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    /* A resumed handshake authenticates with the PSK: Finished is next.
     * The server is who the session's connection found it to be, no more:
     * its certificate and verdict come from the session. */
    if (c->res.resumed) {
        kitls_session_restore_peer(c);
        return HS_EE_RESUMED;
    }
    return HS_NEXT;
}

/*
 * Pick our certificate's signature scheme from the server's list.  A client
 * with a certificate that cannot sign with any scheme the server accepts
 * aborts with handshake_failure rather than silently answering without a
 * certificate (the CertificateVerify algorithm MUST be one the server
 * offered, RFC 8446 §4.4.3; BoringSSL behaves the same way).
 */
static int client_pick_cert(kitls_conn *c)
{
    const kitls_config *cfg = c->cfg;
    const struct kitls_cert *cert = cfg->n_certs ? &cfg->certs[0] : NULL;
    const uint16_t *mine = cfg->n_sign_sigalgs ? cfg->sign_sigalgs : cfg->sigalgs;
    size_t n_mine = cfg->n_sign_sigalgs ? cfg->n_sign_sigalgs : cfg->n_sigalgs;
    c->cert = NULL;
    if (!cert)
        return 0;
    for (size_t i = 0; i < n_mine; i++) {
        const struct kitls_sigalg *s = kitls_sigalg_find(mine[i]);
        int peer_ok = 0;
        for (size_t j = 0; j < c->ext.n_peer_sigalgs; j++)
            peer_ok |= c->ext.peer_sigalgs[j] == mine[i];
        if (s && peer_ok && kitls_sig_cert_can(s, cert)) {
            c->cert = cert;
            c->sigalg = s->id;
            return 0;
        }
    }
    return KITLS_E_HANDSHAKE_FAILURE;
}

int kitls_hs_recv_certificate_request(kitls_conn *c, struct rd *b)
{
    struct rd ctx;
    struct ext_list el;
    struct ext_ctx x = {.msg = EXT_IN_CR};
    GUARD(rd_sub(b, 1, &ctx));
    GUARD(kitls_ext_parse(b, &el, 0));
    GUARD(rd_expect_empty(b));
    /* During the handshake the context is empty (§4.3.2); the RFC names no
     * alert: decode_error, as BoringSSL answers. */
    if (!rd_empty(&ctx))
        return KITLS_E_DECODE;
    /* signature_algorithms (required) and certificate_authorities. */
    GUARD(kitls_ext_parse_all(c, &x, &el));
    c->cert_requested = 1;
    GUARD(client_pick_cert(c));
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    return HS_NEXT;
}
