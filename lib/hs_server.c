/* Server side of the handshake: ClientHello processing, negotiation,
 * HelloRetryRequest, and the server's flight (RFC 8446 §4.1-4.4). */
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* What we learned from one ClientHello. */
struct ch_info {
    struct rd sid, suites, exts_raw;
    struct ext_list el;
    struct rd share; /* key share for the chosen group, if any (.p NULL: none) */
    size_t n_shares;
};

static int pick_suite(kitls_conn *c, struct rd offered, uint16_t prefer)
{
    const kitls_config *cfg = c->cfg;
    if (rd_empty(&offered) || rd_left(&offered) % 2)
        return KITLS_E_DECODE;
    for (size_t i = 0; prefer && i < cfg->n_suites; i++)
        if (cfg->suites[i] == prefer && rd_has_u16(offered, prefer)) {
            c->suite = kitls_suite_find(prefer);
            return 0;
        }
    if (cfg->server_pref) {
        for (size_t i = 0; i < cfg->n_suites; i++)
            if (rd_has_u16(offered, cfg->suites[i])) {
                c->suite = kitls_suite_find(cfg->suites[i]);
                return 0;
            }
    } else {
        while (!rd_empty(&offered)) {
            uint16_t v;
            GUARD(rd_u16(&offered, &v));
            for (size_t i = 0; i < cfg->n_suites; i++)
                if (cfg->suites[i] == v) {
                    c->suite = kitls_suite_find(v);
                    return 0;
                }
        }
    }
    return KITLS_E_HANDSHAKE_FAILURE;
}

static int cert_matches_name(const struct kitls_cert *cert, const char *name)
{
    return name && X509_check_host(cert->leaf, name, 0, 0, NULL) == 1;
}

/* Certificate and signature scheme: first cert (SNI-matching ones first)
 * with a scheme both sides accept, in our preference order. */
/* Does any certificate of the chain name an issuer the client listed in
 * certificate_authorities (RFC 8446 §4.2.4)? */
static int cert_matches_ca(const struct kitls_cert *cert, struct rd cas)
{
    int match = 0;
    for (size_t i = 0; i < cert->n && !match; i++) {
        const unsigned char *p = cert->der[i];
        X509 *x = d2i_X509(NULL, &p, (long)cert->der_len[i]);
        const X509_NAME *issuer = x ? X509_get_issuer_name(x) : NULL;
        struct rd l = cas;
        while (issuer && !match && !rd_empty(&l)) {
            struct rd dn;
            if (rd_sub(&l, 2, &dn))
                break;
            const unsigned char *q = dn.p;
            X509_NAME *n = d2i_X509_NAME(NULL, &q, (long)rd_left(&dn));
            match = n && !X509_NAME_cmp(n, issuer);
            X509_NAME_free(n);
        }
        X509_free(x);
    }
    return match;
}

/* The first of our schemes for `cert` that the peer accepts, or NULL. */
static const struct kitls_sigalg *cert_sigalg(const kitls_conn *c, const struct kitls_cert *cert)
{
    const kitls_config *cfg = c->cfg;
    const uint16_t *mine = cfg->n_sign_sigalgs ? cfg->sign_sigalgs : cfg->sigalgs;
    size_t n_mine = cfg->n_sign_sigalgs ? cfg->n_sign_sigalgs : cfg->n_sigalgs;
    for (size_t i = 0; i < n_mine; i++) {
        const struct kitls_sigalg *s = kitls_sigalg_find(mine[i]);
        int peer_ok = 0;
        for (size_t j = 0; j < c->ext.n_peer_sigalgs; j++)
            peer_ok |= c->ext.peer_sigalgs[j] == mine[i];
        if (s && peer_ok && kitls_sig_cert_can(s, cert))
            return s;
    }
    return NULL;
}

/*
 * Certificate selection, deterministic: the application's callback if it
 * names one; otherwise, among certificates with a signature scheme the
 * client accepts, the best by (matches SNI, chains to a CA the client
 * listed), ties broken by the order the certificates were added.
 */
static int pick_cert(kitls_conn *c, const struct ch_info *ch)
{
    const kitls_config *cfg = c->cfg;
    const struct kitls_sigalg *best_s = NULL;
    int best = -1, best_score = -1;
    if (cfg->cert_cb) {
        int k =
            cfg->cert_cb(cfg->cert_ctx, c, c->ext.sni, c->ext.peer_sigalgs, c->ext.n_peer_sigalgs);
        if (k >= 0) {
            if ((size_t)k >= cfg->n_certs || !(best_s = cert_sigalg(c, &cfg->certs[k])))
                return KITLS_E_HANDSHAKE_FAILURE;
            c->cert = &cfg->certs[k];
            c->sigalg = best_s->id;
            return 0;
        }
    }
    struct rd cas;
    GUARD(kitls_ext_cas_ch(&ch->el, &cas));
    for (size_t k = 0; k < cfg->n_certs; k++) {
        const struct kitls_cert *cert = &cfg->certs[k];
        const struct kitls_sigalg *s = cert_sigalg(c, cert);
        if (!s)
            continue;
        /* A lone certificate needs no score (nothing to compare with):
         * X509_check_host and the CA names are not asked for it. */
        int score = cfg->n_certs == 1 ? 0
                                      : 2 * cert_matches_name(cert, c->ext.sni) +
                                            (cas.p && cert_matches_ca(cert, cas));
        if (score > best_score) {
            best = (int)k;
            best_score = score;
            best_s = s;
        }
    }
    if (best < 0)
        return cfg->n_certs ? KITLS_E_HANDSHAKE_FAILURE : KITLS_E_CONFIG;
    c->cert = &cfg->certs[best];
    c->sigalg = best_s->id;
    return 0;
}

static int parse_client_hello(kitls_conn *c, struct rd *b, struct ch_info *ch)
{
    uint16_t version;
    const uint8_t *random;
    struct rd comp;
    GUARD(rd_u16(b, &version));
    GUARD(rd_bytes(b, 32, &random));
    GUARD(rd_sub(b, 1, &ch->sid));
    GUARD(rd_sub(b, 2, &ch->suites));
    GUARD(rd_sub(b, 1, &comp));
    GUARD(kitls_ext_parse(b, &ch->el, EXT_ALLOW_EMPTY | EXT_DUP_DECODE));
    GUARD(rd_expect_empty(b));
    if (rd_left(&ch->sid) > 32)
        return KITLS_E_DECODE;
    GUARD(kitls_ext_versions_ch(&ch->el));
    /* TLS 1.3 ClientHellos carry exactly the null compression method. */
    if (rd_left(&comp) != 1 || comp.p[0] != 0)
        return KITLS_E_ILLEGAL_PARAMETER;
    if (version < 0x0303)
        return KITLS_E_PROTOCOL_VERSION;
    /* pre_shared_key, if present, must be last (§4.2.11). */
    if (kitls_ext_get(&ch->el, EXT_PRE_SHARED_KEY) && ch->el.last != EXT_PRE_SHARED_KEY)
        return KITLS_E_ILLEGAL_PARAMETER;
    if (c->did_hrr) {
        if (rd_left(&ch->sid) != c->hs->session_id_len ||
            memcmp(ch->sid.p, c->hs->session_id, c->hs->session_id_len))
            return KITLS_E_ILLEGAL_PARAMETER;
    } else {
        memcpy(c->hs->session_id, ch->sid.p, rd_left(&ch->sid));
        c->hs->session_id_len = rd_left(&ch->sid);
    }
    return 0;
}

/* The PSK the client offers (§4.2.11), judged on the ClientHello we
 * answer with a ServerHello; psk_key_exchange_modes is required with it
 * (§4.2.9). */
static int negotiate_psk(kitls_conn *c, struct ch_info *ch)
{
    const struct ext_entry *psk = kitls_ext_get(&ch->el, EXT_PRE_SHARED_KEY);
    struct rd modes;
    GUARD(kitls_ext_psk_modes_ch(c, &ch->el, &modes));
    if (!psk)
        return c->did_hrr && c->res.hrr_psk_kept ? KITLS_E_ILLEGAL_PARAMETER : 0;
    if (!modes.p)
        return KITLS_E_MISSING_EXTENSION;
    if (ch->share.p)
        return kitls_psk_server_check(c, psk->data, &modes);
    if (!c->did_hrr && c->cfg->n_tickets)
        kitls_psk_server_note_hrr(c, psk->data);
    return 0;
}

static int negotiate(kitls_conn *c, struct ch_info *ch)
{
    const struct kitls_suite *prev = c->suite;
    struct ext_ctx x = {.msg = EXT_IN_CH};
    /* With 0-RTT on offer, the ticket's own suite keeps the early data
     * acceptable (§4.2.10), so it wins over our preference order. */
    uint16_t prefer = 0;
    const struct ext_entry *psk = kitls_ext_get(&ch->el, EXT_PRE_SHARED_KEY);
    if (psk && c->cfg->early_max && !c->did_hrr && kitls_ext_get(&ch->el, EXT_EARLY_DATA))
        prefer = kitls_psk_server_ticket_suite(c, psk->data);
    GUARD(pick_suite(c, ch->suites, prefer));
    if (prev && prev != c->suite)
        return KITLS_E_ILLEGAL_PARAMETER;
    /* server_name, status_request, signature_algorithms, ALPN, SCT,
     * record_size_limit, cookie; unknown ones are ignored (§4.1.2). */
    GUARD(kitls_ext_parse_all(c, &x, &ch->el));
    /* early_data never comes in ClientHello2 (§4.2.10). */
    if (kitls_ext_get(&ch->el, EXT_EARLY_DATA)) {
        if (c->did_hrr)
            return KITLS_E_ILLEGAL_PARAMETER;
        kitls_early_set_offered(c);
    }
    /* signature_algorithms is required without pre_shared_key (§9.2), and
     * it only matters when we sign with a certificate (§4.2.3): with a
     * PSK, its absence is judged once we know whether we resume. */
    int have_sigalgs = kitls_ext_get(&ch->el, EXT_SIGNATURE_ALGORITHMS) != NULL;
    if (!psk && !have_sigalgs)
        return KITLS_E_MISSING_EXTENSION;
    GUARD(kitls_ext_key_share_pick(c, &ch->el, &ch->share, &ch->n_shares));
    GUARD(negotiate_psk(c, ch));
    /* Resuming, or a HelloRetryRequest whose ClientHello2 will likely
     * resume (its ticket opens and fits the suite): no certificate. */
    if (c->res.resumed || (!ch->share.p && c->res.hrr_psk_kept))
        return 0;
    /* A full handshake: we sign, so the client's schemes are needed. */
    if (!have_sigalgs)
        return KITLS_E_MISSING_EXTENSION;
    if (!c->ext.n_peer_sigalgs)
        return KITLS_E_HANDSHAKE_FAILURE;
    return pick_cert(c, ch);
}

static void put_sh_head(kitls_conn *c, struct wr *w, const uint8_t *random)
{
    wr_u16(w, 0x0303);
    wr_put(w, random, 32);
    wr_u8(w, (uint8_t)c->hs->session_id_len);
    wr_put(w, c->hs->session_id, c->hs->session_id_len);
    wr_u16(w, c->suite->id);
    wr_u8(w, 0);
}

/* Close a ServerHello or HelloRetryRequest, send it in plaintext, and
 * follow it with the dummy ChangeCipherSpec of middlebox compatibility:
 * whatever the client's session id (RFC 8446 §D.4; every client must drop
 * it, §5).  Frees w. */
static int finish_sh(kitls_conn *c, struct wr *w, size_t at)
{
    int ret = kitls_hs_msg_end(c, w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w->buf, w->len);
    if (!ret)
        ret = kitls_conn_hs_flush(c);
    if (!ret && (c->hs->session_id_len || c->cfg->compat))
        ret = kitls_conn_send_ccs(c);
    wr_free(w);
    return ret;
}

static int send_hrr(kitls_conn *c)
{
    WR_ON_STACK(w, 512);
    int ret;
    GUARD(kitls_th_set_hash(&c->th, c->suite));
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    GUARD(kitls_th_hrr_rewrite(&c->th));
    if (c->cfg->hrr_cookie)
        GUARD(kitls_ext_cookie_make(c));
    size_t at = kitls_hs_msg_begin(&w, HS_SERVER_HELLO);
    put_sh_head(c, &w, hrr_random);
    size_t exts = wr_begin(&w, 2);
    ret = kitls_ext_write_all(c, &(struct ext_ctx){.msg = EXT_IN_HRR, .w = &w});
    wr_end(&w, exts, 2);
    if (ret) {
        wr_free(&w);
        return ret;
    }
    ret = finish_sh(c, &w, at);
    c->did_hrr = 1;
    c->hrr_group = c->group->id;
    KITLS_STAT_INC(c->cfg, hello_retry_requests[KITLS_STATS_SERVER]);
    kitls_early_server_hrr(c); /* skip early data up to ClientHello2 */
    return ret;
}

static int send_sh(kitls_conn *c, struct ch_info *ch, uint8_t *dhe, size_t *dhe_len)
{
    uint8_t pub[KITLS_MAX_SHARE_LEN];
    size_t pub_len = 0;
    WR_ON_STACK(w, 512);
    EVP_PKEY *priv = NULL;
    int ret = 0, use_dhe = !c->res.resumed || c->res.psk_dhe;
    if (use_dhe && kitls_group_is_hybrid(c->group)) {
        GUARD(kitls_hyb_server(c->group, ch->share.p, rd_left(&ch->share), pub, &pub_len, dhe,
                               dhe_len));
    } else if (use_dhe) {
        GUARD(kitls_kex_keygen(c->group, &priv, pub, &pub_len));
        ret = kitls_kex_derive(c->group, priv, ch->share.p, rd_left(&ch->share), dhe, dhe_len);
        EVP_PKEY_free(priv);
        if (ret)
            return ret;
    }
    GUARD(kitls_config_random(c->cfg, c->hs->random, 32));
    size_t at = kitls_hs_msg_begin(&w, HS_SERVER_HELLO);
    put_sh_head(c, &w, c->hs->random);
    size_t exts = wr_begin(&w, 2);
    struct ext_ctx x = {.msg = EXT_IN_SH, .w = &w, .pub = use_dhe ? pub : NULL, .pub_len = pub_len};
    ret = kitls_ext_write_all(c, &x);
    wr_end(&w, exts, 2);
    if (ret) {
        wr_free(&w);
        return ret;
    }
    ret = finish_sh(c, &w, at);
    return ret;
}

static int send_ee(kitls_conn *c, const struct ch_info *ch)
{
    WR_ON_STACK(w, 512);
    size_t at = kitls_hs_msg_begin(&w, HS_ENCRYPTED_EXTENSIONS);
    size_t exts = wr_begin(&w, 2);
    int ret = kitls_ext_write_all(c, &(struct ext_ctx){.msg = EXT_IN_EE, .w = &w, .peer = &ch->el});
    wr_end(&w, exts, 2);
    if (!ret)
        ret = kitls_hs_msg_end(c, &w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    wr_free(&w);
    return ret;
}

static int send_cr(kitls_conn *c)
{
    WR_ON_STACK(w, 512);
    size_t at = kitls_hs_msg_begin(&w, HS_CERTIFICATE_REQUEST);
    wr_u8(&w, 0); /* empty certificate_request_context */
    size_t exts = wr_begin(&w, 2);
    int ret = kitls_ext_write_all(c, &(struct ext_ctx){.msg = EXT_IN_CR, .w = &w});
    wr_end(&w, exts, 2);
    if (!ret)
        ret = kitls_hs_msg_end(c, &w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    wr_free(&w);
    c->cert_requested = 1;
    return ret;
}

/* The server's flight after the 0-RTT decision: ServerHello to Finished. */
static int server_flight(kitls_conn *c, struct ch_info *ch)
{
    uint8_t dhe[KITLS_MAX_HASH * 2];
    size_t dhe_len = 0;
    int ret = send_sh(c, ch, dhe, &dhe_len);
    if (!ret)
        ret = kitls_hs_derive_hs_secrets(c, dhe, dhe_len);
    kitls_wipe(dhe, sizeof(dhe));
    if (ret)
        return ret;
    GUARD(send_ee(c, ch));
    if (!c->res.resumed) {
        /* PSK handshakes carry no certificates (§4.3.2, §4.4.2). */
        if (c->cfg->verify != KITLS_VERIFY_NONE)
            GUARD(send_cr(c));
        GUARD(kitls_hs_send_cert(c));
        GUARD(kitls_hs_send_cv(c));
    }
    GUARD(kitls_hs_send_fin(c));
    GUARD(kitls_conn_hs_flush(c));
    GUARD(kitls_hs_derive_app_secrets(c));
    GUARD(kitls_rec_set_secret(&c->tx, c->suite, c->hs->s_ap, 1));
    if (c->early.status == KITLS_EARLY_ACCEPTED) {
        GUARD(kitls_rec_set_secret(&c->rx, c->suite, c->hs->c_e, 0));
        return HS_CH_EARLY;
    }
    return c->cert_requested ? HS_CH_CERT : HS_NEXT;
}

/* The 0-RTT decision, which an asynchronous anti-replay store may leave
 * pending (kitls_conn_antireplay_done): then the ClientHello is parked,
 * parsed, negotiated and in the transcript, and stays the next message to
 * dispatch, so that the answer resumes here without doing any of it twice. */
static int decide_then_flight(kitls_conn *c, struct ch_info *ch)
{
    int ret = kitls_early_server_decide(c);
    if (ret == KITLS_E_WANT_ASYNC) {
        if (!kitls_early_parked(c))
            GUARD(kitls_early_park(c, ch, sizeof(*ch)));
        c->hs_off = (size_t)(c->msg - c->hs_in.buf); /* not consumed yet */
        return ret;
    }
    kitls_early_unpark(c);
    return ret ? ret : server_flight(c, ch);
}

int kitls_hs_recv_client_hello(kitls_conn *c, struct rd *b)
{
    struct ch_info ch;
    if (c->early.parked) {
        /* Resumed: the parse must be of this very message, whose bytes
         * stayed where they were. */
        const struct ch_info *parked = kitls_early_parked(c);
        if (!parked)
            return KITLS_E_INTERNAL;
        ch = *parked;
        return decide_then_flight(c, &ch);
    }
    memset(&ch, 0, sizeof(ch));
    GUARD(parse_client_hello(c, b, &ch));
    GUARD(negotiate(c, &ch));
    if (!ch.share.p) {
        /* The key share we need is missing: ask for it (§4.1.4). */
        GUARD(send_hrr(c));
        return HS_CH_HRR;
    }
    if (c->did_hrr && ch.n_shares != 1)
        return KITLS_E_ILLEGAL_PARAMETER;
    GUARD(kitls_th_set_hash(&c->th, c->suite));
    /* The binder check may have hashed the ClientHello's first part. */
    size_t done = c->hs->ch_hashed;
    c->hs->ch_hashed = 0;
    GUARD(kitls_th_update(&c->th, c->msg + done, c->msg_len - done));
    return decide_then_flight(c, &ch);
}
