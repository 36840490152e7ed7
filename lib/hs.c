/*
 * The handshake dispatcher (one table of message handlers per role) and the
 * messages both roles send and receive: Certificate, CertificateVerify,
 * Finished, KeyUpdate (RFC 8446 §4.4, §4.6.3).
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

/*
 * Which message each state accepts, from which role's peer, and where it
 * leads; anything else is unexpected_message.  The shapes (RFC 8446 §2):
 * full, with HelloRetryRequest, resumed (PSK: no certificates), with
 * client authentication, with 0-RTT (EndOfEarlyData).  tests/unit/
 * test_hs_table.c walks it.
 */
/* clang-format off */
#define R(st, msg, srv, kc, fn, body, ...) \
    {st, msg, srv, kc, fn, #msg, body, 0, sizeof((uint8_t[]){__VA_ARGS__}), {__VA_ARGS__}}
#define SENT(st, msg, srv, ...) \
    {st, msg, srv, 0, NULL, #msg, HS_BODY_VAR, 1, sizeof((uint8_t[]){__VA_ARGS__}), {__VA_ARGS__}}
/* clang-format on */
const struct hs_row kitls_hs_table[] = {
    /* client */
    SENT(ST_CLIENT_START, HS_CLIENT_HELLO, 0, ST_CLIENT_WAIT_SH),
    R(ST_CLIENT_WAIT_SH, HS_SERVER_HELLO, 0, 1, kitls_hs_recv_server_hello, HS_BODY_VAR,
      ST_CLIENT_WAIT_EE, [HS_SH_HRR] = ST_CLIENT_WAIT_SH),
    R(ST_CLIENT_WAIT_EE, HS_ENCRYPTED_EXTENSIONS, 0, 0, kitls_hs_recv_encrypted_extensions,
      HS_BODY_VAR, ST_CLIENT_WAIT_CERT_CR, [HS_EE_RESUMED] = ST_CLIENT_WAIT_FIN),
    R(ST_CLIENT_WAIT_CERT_CR, HS_CERTIFICATE_REQUEST, 0, 0, kitls_hs_recv_certificate_request,
      HS_BODY_VAR, ST_CLIENT_WAIT_CERT),
    R(ST_CLIENT_WAIT_CERT_CR, HS_CERTIFICATE, 0, 0, kitls_hs_recv_certificate, HS_BODY_VAR,
      ST_CLIENT_WAIT_CV),
    R(ST_CLIENT_WAIT_CERT, HS_CERTIFICATE, 0, 0, kitls_hs_recv_certificate, HS_BODY_VAR,
      ST_CLIENT_WAIT_CV),
    R(ST_CLIENT_WAIT_CV, HS_CERTIFICATE_VERIFY, 0, 0, kitls_hs_recv_certificate_verify, HS_BODY_VAR,
      ST_CLIENT_WAIT_FIN),
    R(ST_CLIENT_WAIT_FIN, HS_FINISHED, 0, 1, kitls_hs_recv_finished, HS_BODY_HASH, ST_CONNECTED),
    R(ST_CONNECTED, HS_NEW_SESSION_TICKET, 0, 0, kitls_hs_recv_new_session_ticket, HS_BODY_VAR,
      ST_CONNECTED),
    R(ST_CONNECTED, HS_KEY_UPDATE, 0, 1, kitls_hs_recv_key_update, HS_BODY_ONE, ST_CONNECTED),
    /* server */
    R(ST_SERVER_WAIT_CH, HS_CLIENT_HELLO, 1, 1, kitls_hs_recv_client_hello, HS_BODY_VAR,
      ST_SERVER_WAIT_FIN, [HS_CH_CERT] = ST_SERVER_WAIT_CERT, [HS_CH_EARLY] = ST_SERVER_WAIT_EOED,
      [HS_CH_HRR] = ST_SERVER_WAIT_CH),
    R(ST_SERVER_WAIT_CERT, HS_CERTIFICATE, 1, 0, kitls_hs_recv_certificate, HS_BODY_VAR,
      ST_SERVER_WAIT_CV, [HS_CERT_EMPTY] = ST_SERVER_WAIT_FIN),
    R(ST_SERVER_WAIT_CV, HS_CERTIFICATE_VERIFY, 1, 0, kitls_hs_recv_certificate_verify, HS_BODY_VAR,
      ST_SERVER_WAIT_FIN),
    R(ST_SERVER_WAIT_FIN, HS_FINISHED, 1, 1, kitls_hs_recv_finished, HS_BODY_HASH, ST_CONNECTED),
    R(ST_SERVER_WAIT_EOED, HS_END_OF_EARLY_DATA, 1, 1, kitls_hs_recv_end_of_early_data,
      HS_BODY_EMPTY, ST_SERVER_WAIT_FIN),
    R(ST_CONNECTED, HS_KEY_UPDATE, 1, 1, kitls_hs_recv_key_update, HS_BODY_ONE, ST_CONNECTED),
};
#undef R
#undef SENT
const size_t kitls_hs_table_len = sizeof(kitls_hs_table) / sizeof(kitls_hs_table[0]);

const struct hs_row *kitls_hs_lookup(int server, int state, uint8_t type)
{
    for (size_t i = 0; i < kitls_hs_table_len; i++) {
        const struct hs_row *r = &kitls_hs_table[i];
        if (!r->sent && r->server == server && r->state == state && r->msg_type == type)
            return r;
    }
    return NULL;
}

const char *kitls_hs_state_name(int state)
{
    static const char *const names[ST_COUNT] = {
        [ST_CLIENT_START] = "ST_CLIENT_START",
        [ST_CLIENT_WAIT_SH] = "ST_CLIENT_WAIT_SH",
        [ST_CLIENT_WAIT_EE] = "ST_CLIENT_WAIT_EE",
        [ST_CLIENT_WAIT_CERT_CR] = "ST_CLIENT_WAIT_CERT_CR",
        [ST_CLIENT_WAIT_CERT] = "ST_CLIENT_WAIT_CERT",
        [ST_CLIENT_WAIT_CV] = "ST_CLIENT_WAIT_CV",
        [ST_CLIENT_WAIT_FIN] = "ST_CLIENT_WAIT_FIN",
        [ST_SERVER_WAIT_CH] = "ST_SERVER_WAIT_CH",
        [ST_SERVER_WAIT_CERT] = "ST_SERVER_WAIT_CERT",
        [ST_SERVER_WAIT_CV] = "ST_SERVER_WAIT_CV",
        [ST_SERVER_WAIT_FIN] = "ST_SERVER_WAIT_FIN",
        [ST_SERVER_WAIT_EOED] = "ST_SERVER_WAIT_EOED",
        [ST_CONNECTED] = "ST_CONNECTED",
    };
    return state >= 0 && state < ST_COUNT && names[state] ? names[state] : "?";
}

/* Move c along row r to its next[next] state, with a debug line (level 3)
 * in the application's log: "hs client: <state> <message> -> <state>". */
static void hs_advance(kitls_conn *c, const struct hs_row *r, int next)
{
    if (c->cfg->log) {
        char line[128];
        snprintf(line, sizeof(line), "hs %s: %s %s -> %s", c->server ? "server" : "client",
                 kitls_hs_state_name(c->state), r->name, kitls_hs_state_name(r->next[next]));
        c->cfg->log(c->cfg->log_ctx, 3, line);
    }
    c->state = r->next[next];
}

int kitls_hs_start_state(int server)
{
    return server ? ST_SERVER_WAIT_CH : ST_CLIENT_START;
}

int kitls_hs_sent(kitls_conn *c, uint8_t type)
{
    for (size_t i = 0; i < kitls_hs_table_len; i++) {
        const struct hs_row *r = &kitls_hs_table[i];
        if (r->sent && r->server == c->server && r->state == c->state && r->msg_type == type) {
            hs_advance(c, r, 0);
            return 0;
        }
    }
    return KITLS_E_INTERNAL;
}

static uint32_t hs_body_len(const kitls_conn *c, uint8_t body)
{
    static const uint8_t fixed[] = {[HS_BODY_ONE] = 1, [HS_BODY_EMPTY] = 0};
    return body == HS_BODY_HASH ? (uint32_t)c->suite->hash_len : fixed[body];
}

int kitls_hs_process(kitls_conn *c)
{
    uint32_t max = c->cfg->limits.max_handshake_message;
    while (c->hs_in.len - c->hs_off >= 4) {
        const uint8_t *m = c->hs_in.buf + c->hs_off;
        uint32_t len = (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
        const struct hs_row *row = kitls_hs_lookup(c->server, c->state, m[0]);
        if (!row)
            return KITLS_E_UNEXPECTED_MESSAGE;
        /* A message whose length is fixed by its type and has another one
         * is decode_error (RFC 8446 §6.2: "the length of the message was
         * incorrect"), decided from the header alone, before any limit or
         * wait for a body that may never fit. */
        if (row->body != HS_BODY_VAR && len != hs_body_len(c, row->body))
            return KITLS_E_DECODE;
        if (len > max)
            return KITLS_E_LIMIT;
        if (c->hs_in.len - c->hs_off < 4 + (size_t)len)
            return 0;
        struct rd body;
        rd_init(&body, m + 4, len);
        c->msg = m;
        c->msg_len = 4 + (size_t)len;
        c->hs_off += 4 + (size_t)len;
        /* A message after which the peer changes keys must end its record
         * (RFC 8446 §5.1); checked before the handler so that nothing is
         * sent in answer to it. */
        if (row->key_change && c->hs_off != c->hs_in.len)
            return KITLS_E_EXCESS_HANDSHAKE_DATA;
        int next = row->fn(c, &body);
        if (next < 0)
            return next;
        if (next >= row->n_next)
            return KITLS_E_INTERNAL;
        hs_advance(c, row, next);
        if (c->hs_off == c->hs_in.len)
            c->hs_off = c->hs_in.len = 0;
    }
    return 0;
}

size_t kitls_hs_msg_begin(struct wr *w, uint8_t type)
{
    wr_u8(w, type);
    return wr_begin(w, 3);
}

int kitls_hs_msg_end(kitls_conn *c, struct wr *w, size_t at)
{
    wr_end(w, at, 3);
    if (w->err)
        return w->err;
    const uint8_t *m = w->buf + at - 1;
    size_t n = w->len - at + 1;
    GUARD(kitls_th_update(&c->th, m, n));
    return 0;
}

int kitls_hs_derive_hs_secrets(kitls_conn *c, const uint8_t *dhe, size_t dhe_len)
{
    uint8_t th[KITLS_MAX_HASH];
    GUARD(kitls_th_current(&c->th, th));
    /* The early secret's "derived" value: a constant without a PSK, else
     * the binder computation's (same PSK and hash: kitls_psk_*). */
    if (c->res.resumed && c->hs->psk_derived_len != c->suite->hash_len)
        return KITLS_E_INTERNAL;
    GUARD(kitls_ks_handshake_from(&c->ks, c->suite, c->res.resumed ? c->hs->psk_derived : NULL, dhe,
                                  dhe_len));
    GUARD(kitls_ks_hs_traffic(&c->ks, th, c->hs->c_hs, c->hs->s_hs));
    struct kitls_hs_tmp *h = c->hs;
    GUARD(kitls_rec_set_secret_fin(&c->tx, c->suite, c->server ? h->s_hs : h->c_hs, 1,
                                   c->server ? h->s_fk : h->c_fk));
    GUARD(kitls_rec_set_secret_fin(&c->rx, c->suite, c->server ? h->c_hs : h->s_hs, 0,
                                   c->server ? h->c_fk : h->s_fk));
    h->fin_ok = 3;
    return 0;
}

/* verify_data of the client's (client) or the server's Finished. */
static int hs_finished(kitls_conn *c, int client, const uint8_t *th, uint8_t *vd)
{
    struct kitls_hs_tmp *h = c->hs;
    if (h->fin_ok & (client ? 1u : 2u))
        return kitls_ks_finished_fk(c->suite, client ? h->c_fk : h->s_fk, th, vd);
    return kitls_ks_finished(c->suite, client ? h->c_hs : h->s_hs, th, vd);
}

int kitls_hs_derive_app_secrets(kitls_conn *c)
{
    GUARD(kitls_th_current(&c->th, c->hs->fin_th));
    GUARD(kitls_ks_master(&c->ks));
    static const char *const labels[3] = {"c ap traffic", "s ap traffic", "exp master"};
    uint8_t *const outs[3] = {c->hs->c_ap, c->hs->s_ap, c->exp_master};
    GUARD(kitls_ks_derive_n(&c->ks, labels, c->hs->fin_th, outs, 3));
    return 0;
}

int kitls_hs_send_cert(kitls_conn *c)
{
    WR_ON_STACK(w, 2048);
    size_t at = kitls_hs_msg_begin(&w, HS_CERTIFICATE);
    size_t ctx = wr_begin(&w, 1);
    if (!c->server && c->cr_ctx_len)
        wr_put(&w, c->cr_ctx, c->cr_ctx_len);
    wr_end(&w, ctx, 1);
    size_t list = wr_begin(&w, 3);
    for (size_t i = 0; c->cert && i < c->cert->n; i++) {
        size_t e = wr_begin(&w, 3);
        wr_put(&w, c->cert->der[i], c->cert->der_len[i]);
        wr_end(&w, e, 3);
        size_t exts = wr_begin(&w, 2);
        /* The leaf's entry answers status_request and SCT requests. */
        if (i == 0 && c->server)
            (void)kitls_ext_write_all(c, &(struct ext_ctx){.msg = EXT_IN_CT, .w = &w});
        wr_end(&w, exts, 2);
    }
    wr_end(&w, list, 3);
    int ret = kitls_hs_msg_end(c, &w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    wr_free(&w);
    return ret;
}

int kitls_hs_send_cv(kitls_conn *c)
{
    uint8_t th[KITLS_MAX_HASH], sig[1024];
    size_t sig_len = sizeof(sig);
    const struct kitls_sigalg *s = kitls_sigalg_find(c->sigalg);
    if (!s || !c->cert)
        return KITLS_E_INTERNAL;
    GUARD(kitls_th_current(&c->th, th));
    GUARD(kitls_sig_sign(s, c->cert->key, c->server, th, c->th.hash_len, sig, &sig_len));
    WR_ON_STACK(w, 512);
    size_t at = kitls_hs_msg_begin(&w, HS_CERTIFICATE_VERIFY);
    wr_u16(&w, s->id);
    size_t v = wr_begin(&w, 2);
    wr_put(&w, sig, sig_len);
    wr_end(&w, v, 2);
    int ret = kitls_hs_msg_end(c, &w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    wr_free(&w);
    return ret;
}

int kitls_hs_send_fin(kitls_conn *c)
{
    uint8_t th[KITLS_MAX_HASH], vd[KITLS_MAX_HASH];
    GUARD(kitls_th_current(&c->th, th));
    GUARD(hs_finished(c, !c->server, th, vd));
    WR_ON_STACK(w, 256);
    size_t at = kitls_hs_msg_begin(&w, HS_FINISHED);
    wr_put(&w, vd, c->suite->hash_len);
    int ret = kitls_hs_msg_end(c, &w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    kitls_wipe(vd, sizeof(vd));
    wr_free(&w);
    return ret;
}

int kitls_hs_recv_certificate(kitls_conn *c, struct rd *b)
{
    struct rd ctx, list;
    const uint8_t *der[64];
    size_t der_len[64], n = 0;
    uint32_t max = c->cfg->limits.max_cert_chain;
    GUARD(rd_sub(b, 1, &ctx));
    GUARD(rd_sub(b, 3, &list));
    GUARD(rd_expect_empty(b));
    /* certificate_request_context: empty from a server; ours echoed by a client. */
    if (c->server ? (rd_left(&ctx) != c->cr_ctx_len ||
                     (c->cr_ctx_len && memcmp(ctx.p, c->cr_ctx, c->cr_ctx_len)))
                  : !rd_empty(&ctx))
        return KITLS_E_ILLEGAL_PARAMETER;
    while (!rd_empty(&list)) {
        struct rd cert;
        GUARD(rd_sub(&list, 3, &cert));
        if (rd_empty(&cert))
            return KITLS_E_DECODE;
        if (n == max || n == 64)
            return KITLS_E_LIMIT;
        /* Per-certificate extensions must answer ones we sent in our hello;
         * we send none that apply (status_request arrives with OCSP). */
        struct ext_list el;
        GUARD(kitls_ext_parse(&list, &el, 0)); /* the Extension extensions<0..2^16-1> */
        if (el.n && (c->server || el.n_unknown || (el.present & ~c->ext.offered)))
            return KITLS_E_UNSUPPORTED_EXTENSION;
        /* The leaf's CertificateStatus (RFC 8446 §4.4.2.1) and SCT list
         * (RFC 6962 §3.3); on other entries they are ignored. */
        if (n == 0)
            GUARD(kitls_ext_parse_all(c, &(struct ext_ctx){.msg = EXT_IN_CT}, &el));
        der[n] = cert.p;
        der_len[n++] = rd_left(&cert);
    }
    if (n == 0) {
        /* A server must send a certificate (§4.4.2.4). */
        if (!c->server)
            return KITLS_E_DECODE;
        if (c->cfg->verify == KITLS_VERIFY_REQUIRE)
            return KITLS_E_CERT_REQUIRED;
        GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
        return HS_CERT_EMPTY;
    }
    int ret = kitls_x509_verify_chain(c, der, der_len, n);
    kitls_ocsp_staple_forget(c); /* it points into the message buffer */
    if (ret < 0)
        kitls_stats_cert_fail(c, ret);
    GUARD(ret);
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    return HS_NEXT;
}

int kitls_hs_recv_certificate_verify(kitls_conn *c, struct rd *b)
{
    uint16_t scheme;
    struct rd sig;
    uint8_t th[KITLS_MAX_HASH];
    GUARD(rd_u16(b, &scheme));
    GUARD(rd_sub(b, 2, &sig));
    GUARD(rd_expect_empty(b));
    const struct kitls_sigalg *s = kitls_sigalg_find(scheme);
    int offered = 0;
    for (size_t i = 0; s && i < c->cfg->n_sigalgs; i++)
        offered |= c->cfg->sigalgs[i] == scheme;
    if (!offered || !c->peer.key || !kitls_sig_peer_matches(s, c->peer.key, c->peer.leaf))
        return KITLS_E_ILLEGAL_PARAMETER;
    GUARD(kitls_th_current(&c->th, th));
    int ret = (c->peer.key_warm ? kitls_sig_verify_warm : kitls_sig_verify)(
        s, c->peer.key, !c->server, th, c->th.hash_len, sig.p, rd_left(&sig));
    if (ret < 0)
        kitls_stats_cert_fail(c, ret);
    GUARD(ret);
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    c->peer_sigalg = scheme;
    kitls_x509_peer_signed(c);
    return HS_NEXT;
}

/* Client: after the server's Finished, send our flight and switch keys. */
static int client_finish(kitls_conn *c)
{
    GUARD(kitls_hs_derive_app_secrets(c));
    if (c->cfg->compat)
        GUARD(kitls_conn_send_ccs(c));
    GUARD(kitls_early_client_end(c)); /* EndOfEarlyData if 0-RTT was accepted */
    if (c->cert_requested) {
        GUARD(kitls_hs_send_cert(c));
        if (c->cert)
            GUARD(kitls_hs_send_cv(c));
    }
    GUARD(kitls_hs_send_fin(c));
    GUARD(kitls_conn_hs_flush(c));
    GUARD(kitls_session_derive_res_master(c));
    GUARD(kitls_rec_set_secret(&c->tx, c->suite, c->hs->c_ap, 1));
    GUARD(kitls_rec_set_secret(&c->rx, c->suite, c->hs->s_ap, 0));
    kitls_stats_hs_done(c);
    kitls_hs_done(c);
    return 0;
}

int kitls_hs_recv_finished(kitls_conn *c, struct rd *b)
{
    uint8_t th[KITLS_MAX_HASH], vd[KITLS_MAX_HASH];
    size_t hl = c->suite->hash_len;
    /* kitls_hs_process already refused another length (decode_error,
     * RFC 8446 §6.2); kept so the handler stands on its own. */
    if (rd_left(b) != hl)
        return KITLS_E_DECODE;
    GUARD(kitls_th_current(&c->th, th));
    GUARD(hs_finished(c, c->server, th, vd));
    int bad = CRYPTO_memcmp(vd, b->p, hl);
    kitls_wipe(vd, sizeof(vd));
    if (bad)
        return KITLS_E_DECRYPT_ERROR;
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    if (!c->server)
        return client_finish(c);
    if (c->cert_requested && !c->peer.authenticated && c->cfg->verify == KITLS_VERIFY_REQUIRE)
        return KITLS_E_CERT_REQUIRED;
    GUARD(kitls_rec_set_secret(&c->rx, c->suite, c->hs->c_ap, 0));
    if (c->cfg->n_tickets)
        GUARD(kitls_session_derive_res_master(c));
    kitls_stats_hs_done(c);
    kitls_hs_done(c);
    for (unsigned i = 0; c->res.ticket_modes_ok && i < c->cfg->n_tickets; i++)
        GUARD(kitls_ticket_send(c));
    return 0;
}

int kitls_hs_send_key_update(kitls_conn *c, int request)
{
    uint8_t m[5] = {HS_KEY_UPDATE, 0, 0, 1, (uint8_t)(request ? 1 : 0)};
    if (c->tx.rekey_pending) {
        /* TX offloaded and a KeyUpdate of ours is still queued: our keys
         * change when it leaves, before any later record, so it also
         * answers a request and serves a second update.  Only one is ever
         * queued: the kernel gets the keys that follow it (the current
         * ones).  The queued record is plaintext: a request is added by
         * setting its request_update byte (the record's last, not yet
         * sent: the record is dropped from the queue once sent). */
        if (request)
            c->out.buf[c->tx.rekey_end - 1] = 1;
        return 0;
    }
    GUARD(kitls_conn_send_record(c, CT_HANDSHAKE, m, sizeof(m)));
    GUARD(kitls_rec_update(&c->tx, 1));
    c->tx.ops->rekeyed(&c->tx, c->out.len);
    KITLS_STAT_INC(c->cfg, key_updates[KITLS_STATS_SENT]);
    return 0;
}

int kitls_hs_recv_key_update(kitls_conn *c, struct rd *b)
{
    uint8_t req;
    GUARD(rd_u8(b, &req));
    GUARD(rd_expect_empty(b));
    if (req > 1)
        return KITLS_E_ILLEGAL_PARAMETER;
    if (++c->ku_seen > c->cfg->limits.max_key_updates)
        return KITLS_E_LIMIT;
    GUARD(kitls_rec_update(&c->rx, 0));
    c->rx.ops->rekeyed(&c->rx, 0);
    KITLS_STAT_INC(c->cfg, key_updates[KITLS_STATS_RECEIVED]);
    /* Answer a request with our own update, unless we already closed.
     * Requests received while we stay silent get a single answer (RFC
     * 8446 §4.6.3): our keys already changed since the first one.  When
     * TX is offloaded we cannot see our data (the row's app_err: it goes
     * through the kernel), so each request is answered. */
    if (req && !c->write_closed && !c->ku_answered) {
        GUARD(kitls_hs_send_key_update(c, 0));
        c->ku_answered = !c->tx.ops->app_err;
    }
    return 0;
}
