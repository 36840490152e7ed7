/*
 * Sessions, tickets and PSK resumption (RFC 8446 §4.2.9-11, §4.6.1).
 *
 * Tickets are stateless: the server seals the session under an AEAD key
 * (AES-256-GCM) named by a 4-byte id written in clear, so keys can rotate
 * while older tickets stay readable until their key is retired.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

/* 2: the peer's certificate and verdict, and (tickets) the issuing
 * config's context.  3: the age of the authentication and the chain's
 * notAfter; client sessions bind their config's context too.  Older
 * sessions and tickets do not parse: a client drops them, a server
 * declines them (full handshake). */
#define SESSION_FORMAT 3
#define TICKET_NONCE_LEN 12
#define TICKET_OVERHEAD (4 + TICKET_NONCE_LEN + KITLS_TAG_LEN)
#define MAX_TICKET_LIFETIME 604800u
/* A client leaf larger than this is not put in a ticket: no ticket is
 * issued then (docs/limits.md).  Keeps tickets within what a ClientHello
 * carries comfortably and bounds the buffer that opens them. */
#define TICKET_MAX_CERT 8192
#define TICKET_MAX_PLAINTEXT (1024 + TICKET_MAX_CERT)

/* ---- the session object ---- */

static kitls_session *session_new(void)
{
    kitls_session *s = kitls_calloc(1, sizeof(*s));
    if (s)
        s->refs = 1;
    return s;
}

/* Times: seconds since the epoch, two u32 (high first). */
static void put_time(struct wr *w, int64_t t)
{
    wr_u32(w, (uint32_t)((uint64_t)t >> 32));
    wr_u32(w, (uint32_t)t);
}

static int get_time(struct rd *r, int64_t *t)
{
    uint32_t hi, lo;
    GUARD(rd_u32(r, &hi));
    GUARD(rd_u32(r, &lo));
    *t = (int64_t)((uint64_t)hi << 32 | lo);
    return 0;
}

/* Shared body of the serialized session (client: with_ticket) and the
 * sealed ticket (server). */
static void session_put(struct wr *w, const kitls_session *s, int with_ticket)
{
    size_t n;
    wr_u8(w, SESSION_FORMAT);
    wr_u16(w, s->suite);
    wr_u8(w, s->psk_len);
    wr_put(w, s->psk, s->psk_len);
    wr_u32(w, s->age_add);
    wr_u32(w, s->lifetime);
    wr_u32(w, s->max_early);
    put_time(w, s->received);
    n = strlen(s->alpn);
    wr_u8(w, (uint8_t)n);
    wr_put(w, s->alpn, n);
    n = strlen(s->sni);
    wr_u8(w, (uint8_t)n);
    wr_put(w, s->sni, n);
    wr_u8(w, s->peer_auth);
    size_t at = wr_begin(w, 3);
    if (s->peer_cert)
        wr_put(w, s->peer_cert->der, s->peer_cert->len);
    wr_end(w, at, 3);
    put_time(w, s->auth_time);
    put_time(w, s->not_after);
    wr_put(w, s->ctx, sizeof(s->ctx));
    if (with_ticket) {
        wr_u16(w, (uint16_t)s->ticket_len);
        wr_put(w, s->ticket, s->ticket_len);
    }
}

static int get_str(struct rd *r, char *out)
{
    struct rd v;
    GUARD(rd_sub(r, 1, &v));
    if (memchr(v.p, 0, rd_left(&v)))
        return KITLS_E_DECODE;
    memcpy(out, v.p, rd_left(&v));
    out[rd_left(&v)] = 0;
    return 0;
}

static int session_get(struct rd *r, kitls_session *s, int with_ticket)
{
    uint8_t fmt;
    struct rd psk;
    GUARD(rd_u8(r, &fmt));
    if (fmt != SESSION_FORMAT)
        return KITLS_E_DECODE;
    GUARD(rd_u16(r, &s->suite));
    const struct kitls_suite *suite = kitls_suite_find(s->suite);
    GUARD(rd_sub(r, 1, &psk));
    if (!suite || rd_left(&psk) != suite->hash_len)
        return KITLS_E_DECODE;
    s->psk_len = (uint8_t)rd_left(&psk);
    memcpy(s->psk, psk.p, s->psk_len);
    GUARD(rd_u32(r, &s->age_add));
    GUARD(rd_u32(r, &s->lifetime));
    GUARD(rd_u32(r, &s->max_early));
    GUARD(get_time(r, &s->received));
    GUARD(get_str(r, s->alpn));
    GUARD(get_str(r, s->sni));
    struct rd cert;
    GUARD(rd_u8(r, &s->peer_auth));
    GUARD(rd_sub(r, 3, &cert));
    if (s->peer_auth > 1)
        return KITLS_E_DECODE;
    if (!rd_empty(&cert) && !(s->peer_cert = kitls_der_new(cert.p, rd_left(&cert))))
        return KITLS_E_NOMEM;
    const uint8_t *ctx;
    GUARD(get_time(r, &s->auth_time));
    GUARD(get_time(r, &s->not_after));
    GUARD(rd_bytes(r, sizeof(s->ctx), &ctx));
    memcpy(s->ctx, ctx, sizeof(s->ctx));
    if (with_ticket) {
        struct rd t;
        GUARD(rd_sub(r, 2, &t));
        if (rd_empty(&t))
            return KITLS_E_DECODE;
        s->ticket = kitls_malloc(rd_left(&t));
        if (!s->ticket)
            return KITLS_E_NOMEM;
        memcpy(s->ticket, t.p, rd_left(&t));
        s->ticket_len = rd_left(&t);
    }
    return rd_expect_empty(r);
}

int kitls_session_to_bytes(const kitls_session *s, uint8_t *buf, size_t cap, size_t *len)
{
    struct wr w = {0};
    if (!s || !len)
        return KITLS_E_INVALID_ARG;
    session_put(&w, s, 1);
    int ret = w.err;
    if (!ret) {
        *len = w.len;
        if (buf && cap < w.len)
            ret = KITLS_E_INVALID_ARG;
        else if (buf)
            memcpy(buf, w.buf, w.len);
    }
    wr_free(&w);
    return ret;
}

kitls_session *kitls_session_from_bytes(const uint8_t *buf, size_t len)
{
    struct rd r;
    kitls_session *s = buf ? session_new() : NULL;
    if (!s)
        return NULL;
    rd_init(&r, buf, len);
    if (session_get(&r, s, 1)) {
        kitls_session_free(s);
        return NULL;
    }
    return s;
}

int kitls_config_set_session_callback(kitls_config *cfg, kitls_session_fn fn, void *ctx)
{
    if (!cfg)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    cfg->session_cb = fn;
    cfg->session_ctx = ctx;
    return 0;
}

kitls_session *kitls_conn_get_session(kitls_conn *c)
{
    return c ? kitls_session_up_ref(c->res.new_session) : NULL;
}

int kitls_conn_set_session(kitls_conn *c, kitls_session *s)
{
    if (!c || !s || c->server)
        return KITLS_E_INVALID_ARG;
    if (c->state != ST_CLIENT_START)
        return KITLS_E_STATE;
    kitls_session_free(c->res.session);
    c->res.session = kitls_session_up_ref(s);
    return 0;
}

int kitls_conn_is_resumed(const kitls_conn *c)
{
    return c->res.resumed;
}

/* ---- ticket sealing (server) ---- */

static int ticket_crypt(const struct kitls_ticket_key *k, int enc, const uint8_t *nonce,
                        const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                        uint8_t *out, uint8_t *tag)
{
    static const uint8_t zero_key[32];
    const struct kitls_suite *aes = kitls_suite_find(KITLS_AES_256_GCM_SHA384);
    EVP_CIPHER_CTX *own, *ctx = kitls_ticket_cipher_ctx(&own);
    /* The thread's context keeps its cipher (no new provider context). */
    const EVP_CIPHER *cipher = ctx && EVP_CIPHER_CTX_get0_cipher(ctx) ? NULL : aes->cipher;
    int outl, ok = ctx && EVP_CipherInit_ex2(ctx, cipher, k->key, nonce, enc, NULL) &&
                   EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len);
    if (ok && !enc)
        ok = kitls_aead_tag(ctx, 1, tag);
    ok = ok && EVP_CipherUpdate(ctx, out, &outl, in, (int)in_len) &&
         EVP_CipherFinal_ex(ctx, out + outl, &outl);
    if (ok && enc)
        ok = kitls_aead_tag(ctx, 0, tag);
    /* The thread's context keeps no ticket key: re-keyed with zeros, or
     * reset (which frees its key) if that fails. */
    if (ctx && !own && !EVP_CipherInit_ex2(ctx, NULL, zero_key, NULL, 1, NULL))
        EVP_CIPHER_CTX_reset(ctx);
    EVP_CIPHER_CTX_free(own);
    return ok ? 0 : enc ? KITLS_E_CRYPTO : KITLS_E_DECRYPT_ERROR;
}

int kitls_config_set_ticket_keys(kitls_config *cfg, const struct kitls_ticket_key *keys, size_t n)
{
    if (!cfg || !keys || n == 0 || n > KITLS_MAX_TICKET_KEYS)
        return KITLS_E_INVALID_ARG;
    pthread_rwlock_wrlock(&cfg->ticket_lock);
    memcpy(cfg->ticket_keys, keys, n * sizeof(*keys));
    kitls_wipe(cfg->ticket_keys + n, (KITLS_MAX_TICKET_KEYS - n) * sizeof(*keys));
    cfg->n_ticket_keys = n;
    pthread_rwlock_unlock(&cfg->ticket_lock);
    return 0;
}

/* Seal s into out as a ticket: the session is written in place and
 * encrypted there (on failure out's owner wipes it with wr_free). */
static int ticket_seal(kitls_conn *c, const kitls_session *s, struct wr *out)
{
    kitls_config *cfg = c->cfg;
    uint8_t hdr[4 + TICKET_NONCE_LEN] = {0};
    size_t at = out->len;
    int ret = kitls_config_random(cfg, hdr + 4, TICKET_NONCE_LEN);
    if (ret)
        return ret;
    wr_put(out, hdr, sizeof(hdr));
    session_put(out, s, 0);
    if ((ret = wr_reserve(out, KITLS_TAG_LEN)) != 0)
        return ret;
    size_t pt_len = out->len - at - sizeof(hdr);
    uint8_t *dst = out->buf + at;
    pthread_rwlock_rdlock(&cfg->ticket_lock);
    memcpy(dst, cfg->ticket_keys[0].id, 4);
    ret = ticket_crypt(&cfg->ticket_keys[0], 1, dst + 4, dst, sizeof(hdr), dst + sizeof(hdr),
                       pt_len, dst + sizeof(hdr), dst + sizeof(hdr) + pt_len);
    pthread_rwlock_unlock(&cfg->ticket_lock);
    if (!ret)
        out->len += KITLS_TAG_LEN;
    return ret;
}

/* Open a ticket; 0 and a session, or an error (the caller then declines):
 * TICKET_NO_KEY (positive) when no ticket key has its id. */
#define TICKET_NO_KEY 1
static int ticket_open(kitls_conn *c, const uint8_t *t, size_t len, kitls_session **out)
{
    kitls_config *cfg = c->cfg;
    if (len <= TICKET_OVERHEAD || len - TICKET_OVERHEAD > TICKET_MAX_PLAINTEXT)
        return KITLS_E_DECRYPT_ERROR;
    size_t n = len - TICKET_OVERHEAD;
    uint8_t *pt = kitls_malloc(n);
    if (!pt)
        return KITLS_E_NOMEM;
    /* No key with the ticket's id: rotated out (or never ours). */
    int ret = TICKET_NO_KEY;
    pthread_rwlock_rdlock(&cfg->ticket_lock);
    for (size_t i = 0; i < cfg->n_ticket_keys; i++) {
        if (memcmp(cfg->ticket_keys[i].id, t, 4))
            continue;
        ret = ticket_crypt(&cfg->ticket_keys[i], 0, t + 4, t, 4 + TICKET_NONCE_LEN,
                           t + 4 + TICKET_NONCE_LEN, n, pt,
                           (uint8_t *)(uintptr_t)(t + len - KITLS_TAG_LEN));
        break;
    }
    pthread_rwlock_unlock(&cfg->ticket_lock);
    if (ret)
        goto out;
    kitls_session *s = session_new();
    struct rd r;
    rd_init(&r, pt, n);
    ret = s ? session_get(&r, s, 0) : KITLS_E_NOMEM;
    if (ret)
        kitls_session_free(s);
    else
        *out = s;
out:
    kitls_wipe(pt, n);
    kitls_free(pt);
    return ret;
}

int kitls_session_derive_res_master(kitls_conn *c)
{
    uint8_t th[KITLS_MAX_HASH];
    GUARD(kitls_th_current(&c->th, th));
    return kitls_ks_derive(&c->ks, "res master", th, c->res.res_master);
}

/* PSK for a ticket: HKDF-Expand-Label(res_master, "resumption", nonce, Hash.length). */
static int ticket_psk(const kitls_conn *c, const uint8_t *nonce, size_t nonce_len, uint8_t *psk)
{
    return kitls_hkdf_expand_label(c->suite->md, c->res.res_master, c->suite->hash_len,
                                   "resumption", nonce, nonce_len, psk, c->suite->hash_len);
}

int kitls_ticket_send(kitls_conn *c)
{
    kitls_session s;
    uint8_t nonce[8];
    struct wr w = {0};
    int ret;
    memset(&s, 0, sizeof(s));
    /* The ticket carries the client's identity so that a resumption has
     * it too; one that cannot carry it is not issued. */
    if (c->peer.cert && c->peer.cert->len > TICKET_MAX_CERT)
        return 0;
    s.peer_cert = c->peer.cert; /* borrowed */
    s.peer_auth = (uint8_t)c->peer.authenticated;
    s.auth_time = c->peer.auth_time; /* a resumed connection's: its session's */
    s.not_after = c->peer.not_after;
    memcpy(s.ctx, c->cfg->sess_ctx, sizeof(s.ctx));
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(c->res.ticket_nonce >> (56 - 8 * i));
    c->res.ticket_nonce++;
    s.suite = c->suite->id;
    s.psk_len = c->suite->hash_len;
    s.lifetime = c->cfg->ticket_lifetime;
    s.max_early = c->cfg->early_max;
    s.received = kitls_config_now(c->cfg);
    if (c->ext.alpn)
        memcpy(s.alpn, c->ext.alpn, strlen(c->ext.alpn) + 1);
    if (c->ext.sni)
        snprintf(s.sni, sizeof(s.sni), "%s", c->ext.sni);
    ret = kitls_config_random(c->cfg, (uint8_t *)&s.age_add, 4);
    if (!ret)
        ret = ticket_psk(c, nonce, sizeof(nonce), s.psk);
    if (ret)
        goto out;
    size_t at = kitls_hs_msg_begin(&w, HS_NEW_SESSION_TICKET);
    wr_u32(&w, s.lifetime);
    wr_u32(&w, s.age_add);
    wr_u8(&w, sizeof(nonce));
    wr_put(&w, nonce, sizeof(nonce));
    size_t t = wr_begin(&w, 2);
    ret = ticket_seal(c, &s, &w);
    if (ret)
        goto out;
    wr_end(&w, t, 2);
    size_t x = wr_begin(&w, 2); /* extensions: GREASE, early_data */
    if ((ret = kitls_ext_write_all(c, &(struct ext_ctx){.msg = EXT_IN_NST, .w = &w})) != 0)
        goto out;
    wr_end(&w, x, 2);
    wr_end(&w, at, 3);
    ret = w.err;
    if (!ret)
        ret = kitls_conn_send_record(c, CT_HANDSHAKE, w.buf, w.len);
    if (!ret)
        KITLS_STAT_INC(c->cfg, tickets_issued);
out:
    kitls_wipe(&s, sizeof(s));
    wr_free(&w);
    return ret;
}

int kitls_conn_send_ticket(kitls_conn *c)
{
    if (!c)
        return KITLS_E_INVALID_ARG;
    if (c->error)
        return c->error;
    if (!c->server || !c->established || c->write_closed || !c->suite)
        return KITLS_E_STATE;
    int ret = kitls_ticket_send(c);
    return ret ? kitls_conn_fail(c, ret) : 0;
}

/* Client: a NewSessionTicket arrived (§4.6.1). */
int kitls_hs_recv_new_session_ticket(kitls_conn *c, struct rd *b)
{
    uint32_t lifetime, age_add;
    struct rd nonce, ticket;
    struct ext_list el;
    GUARD(rd_u32(b, &lifetime));
    GUARD(rd_u32(b, &age_add));
    GUARD(rd_sub(b, 1, &nonce));
    GUARD(rd_sub(b, 2, &ticket));
    GUARD(kitls_ext_parse(b, &el, 0));
    GUARD(rd_expect_empty(b));
    if (rd_empty(&ticket))
        return KITLS_E_DECODE;
    if (lifetime > MAX_TICKET_LIFETIME)
        return KITLS_E_ILLEGAL_PARAMETER;
    struct ext_ctx x = {.msg = EXT_IN_NST}; /* early_data: x.max_early */
    GUARD(kitls_ext_parse_all(c, &x, &el));
    uint32_t max_early = x.max_early;
    if (lifetime == 0)
        return 0; /* "the ticket SHOULD be discarded immediately" */
    kitls_session *s = session_new();
    if (!s)
        return KITLS_E_NOMEM;
    s->ticket = kitls_malloc(rd_left(&ticket));
    int ret = s->ticket ? ticket_psk(c, nonce.p, rd_left(&nonce), s->psk) : KITLS_E_NOMEM;
    if (ret) {
        kitls_session_free(s);
        return ret;
    }
    memcpy(s->ticket, ticket.p, rd_left(&ticket));
    s->ticket_len = rd_left(&ticket);
    s->suite = c->suite->id;
    s->psk_len = c->suite->hash_len;
    s->age_add = age_add;
    s->lifetime = lifetime;
    s->max_early = max_early;
    s->received = kitls_config_now(c->cfg);
    if (c->ext.alpn)
        memcpy(s->alpn, c->ext.alpn, strlen(c->ext.alpn) + 1);
    if (c->ext.sni)
        snprintf(s->sni, sizeof(s->sni), "%s", c->ext.sni);
    /* The server as this connection authenticated it, for resumptions
     * to report the same (shared, not copied). */
    s->peer_cert = kitls_der_up_ref(c->peer.cert);
    s->peer_auth = (uint8_t)c->peer.authenticated;
    s->auth_time = c->peer.auth_time; /* a resumed connection's: its session's */
    s->not_after = c->peer.not_after;
    memcpy(s->ctx, c->cfg->sess_ctx, sizeof(s->ctx));
    kitls_session_free(c->res.new_session);
    c->res.new_session = s;
    if (c->cfg->session_cb)
        c->cfg->session_cb(c->cfg->session_ctx, c, s);
    return 0;
}

/* ---- PSK in the ClientHello ---- */

/* The binder, and into derived the early secret's "derived" value that
 * the handshake secret is extracted with (hs.c), both from one keying of
 * the early secret. */
static int binder_compute(const struct kitls_suite *suite, const uint8_t *psk, const uint8_t *h,
                          uint8_t *binder, uint8_t *derived)
{
    uint8_t bk[KITLS_MAX_HASH];
    int ret = kitls_ks_psk_secrets(suite, psk, suite->hash_len, bk, derived);
    if (!ret)
        ret = kitls_ks_finished(suite, bk, h, binder);
    kitls_wipe(bk, sizeof(bk));
    return ret;
}

int kitls_psk_client_binder(kitls_conn *c, struct wr *w, size_t msg_at, size_t binder_at)
{
    const struct kitls_suite *suite = kitls_suite_find(c->res.session->suite);
    /* The binders list (2-byte length, 1-byte binder length) is cut off. */
    size_t trunc = binder_at - 3 - msg_at;
    uint8_t h[KITLS_MAX_HASH];
    /* Transcript: truncated ClientHello, after message_hash + HRR if any. */
    int ret = kitls_th_peek(&c->th, suite, w->buf + msg_at, trunc, h);
    if (!ret)
        ret = binder_compute(suite, c->res.session->psk, h, w->buf + binder_at, c->hs->psk_derived);
    c->hs->psk_derived_len = ret ? 0 : suite->hash_len;
    return ret;
}

int kitls_psk_client_accept(kitls_conn *c, struct rd data)
{
    uint16_t idx;
    GUARD(rd_u16(&data, &idx));
    GUARD(rd_expect_empty(&data));
    if (!c->res.psk_offered || idx != 0)
        return KITLS_E_ILLEGAL_PARAMETER;
    const struct kitls_suite *suite = kitls_suite_find(c->res.session->suite);
    if (suite->md != c->suite->md)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->res.resumed = 1;
    return 0;
}

void kitls_psk_server_note_hrr(kitls_conn *c, struct rd psk_ext)
{
    const struct kitls_suite *ts = kitls_suite_find(kitls_psk_server_ticket_suite(c, psk_ext));
    c->res.hrr_psk_kept = ts && ts->md == c->suite->md;
}

uint16_t kitls_psk_server_ticket_suite(kitls_conn *c, struct rd ext)
{
    struct rd ids, id;
    kitls_session *s = NULL;
    if (rd_sub(&ext, 2, &ids) || rd_sub(&ids, 2, &id) || ticket_open(c, id.p, rd_left(&id), &s))
        return 0;
    uint16_t suite = s->suite;
    kitls_session_free(s);
    return suite;
}

/* Server: the first identity only; anything wrong with it declines
 * resumption (full handshake), except a bad binder, which is fatal. */
/* The syntax of OfferedPsks (§4.2.11): identities and binders, both
 * non-empty, as many of one as of the other. */
static int psk_syntax(struct rd ids, struct rd binders)
{
    size_t n_ids = 0, n_binders = 0;
    while (!rd_empty(&ids)) {
        struct rd t;
        uint32_t age;
        GUARD(rd_sub(&ids, 2, &t));
        GUARD(rd_u32(&ids, &age));
        if (rd_empty(&t))
            return KITLS_E_DECODE;
        n_ids++;
    }
    while (!rd_empty(&binders)) {
        struct rd bd;
        GUARD(rd_sub(&binders, 1, &bd));
        if (rd_left(&bd) < 32)
            return KITLS_E_DECODE;
        n_binders++;
    }
    /* identities<7..2^16-1> and binders<33..2^16-1> may not be empty
     * (§4.2.11): a syntax error, decode_error (§6.2). */
    if (n_ids == 0 || n_binders == 0)
        return KITLS_E_DECODE;
    return n_ids == n_binders ? 0 : KITLS_E_ILLEGAL_PARAMETER;
}

/* The session of an offered ticket if it may resume here, else NULL (the
 * refusal counted: kitls_stats).  The ticket must come from a config with
 * our client-authentication policy (context and mode), and a config
 * requiring client certificates resumes only a ticket that holds an
 * authenticated one: otherwise a client could skip the certificate check
 * with a ticket from a more lenient config or from before the policy
 * changed.  Nor may it outlive the authentication it carries (RFC 8446
 * §4.6.1). */
static kitls_session *ticket_take(kitls_conn *c, struct rd id)
{
    kitls_session *s = NULL;
    int opened = ticket_open(c, id.p, rd_left(&id), &s);
    if (opened) {
        KITLS_STAT_INC(c->cfg,
                       tickets_refused[opened == TICKET_NO_KEY ? KITLS_STATS_TICKET_UNKNOWN_KEY
                                                               : KITLS_STATS_TICKET_INVALID]);
        return NULL;
    }
    int64_t now = kitls_config_now(c->cfg);
    const struct kitls_suite *suite = kitls_suite_find(s->suite);
    int fresh = now >= s->received && (uint64_t)now - (uint64_t)s->received <= s->lifetime &&
                kitls_session_auth_fresh(s, now);
    int ok = suite && suite->md == c->suite->md &&
             kitls_name_eq(s->sni, c->ext.sni ? c->ext.sni : "") && /* DNS names: RFC 4343 */
             !CRYPTO_memcmp(s->ctx, c->cfg->sess_ctx, sizeof(s->ctx)) &&
             (c->cfg->verify != KITLS_VERIFY_REQUIRE || (s->peer_cert && s->peer_auth));
    if (fresh && ok)
        return s;
    KITLS_STAT_INC(c->cfg,
                   tickets_refused[fresh ? KITLS_STATS_TICKET_POLICY : KITLS_STATS_TICKET_EXPIRED]);
    kitls_session_free(s);
    return NULL;
}

int kitls_psk_server_check(kitls_conn *c, struct rd ext, struct rd *modes)
{
    struct rd ids, binders, id, binder, r;
    GUARD(rd_sub(&ext, 2, &ids));
    const uint8_t *binders_at = ext.p;
    GUARD(rd_sub(&ext, 2, &binders));
    GUARD(rd_expect_empty(&ext));
    GUARD(psk_syntax(ids, binders));
    int dhe = 0, ke = 0;
    r = *modes;
    while (!rd_empty(&r)) {
        uint8_t m;
        GUARD(rd_u8(&r, &m));
        dhe |= m == 1;
        ke |= m == 0;
    }
    if (c->cfg->n_tickets == 0 || (!dhe && !(ke && c->cfg->psk_ke)))
        return 0;
    GUARD(rd_sub(&ids, 2, &id));
    uint32_t age_first;
    GUARD(rd_u32(&ids, &age_first));
    GUARD(rd_sub(&binders, 1, &binder));

    kitls_session *s = ticket_take(c, id);
    if (!s)
        return 0;
    /* A binder of another length cannot validate (§4.2.11: decrypt_error). */
    if (rd_left(&binder) != c->suite->hash_len) {
        KITLS_STAT_INC(c->cfg, tickets_refused[KITLS_STATS_TICKET_INVALID]);
        kitls_session_free(s);
        return KITLS_E_DECRYPT_ERROR;
    }
    uint8_t expect[KITLS_MAX_HASH], h[KITLS_MAX_HASH];
    /* The transcript takes the truncated ClientHello now (the rest follows
     * in hs_server.c): the binder's hash is its current value. */
    size_t trunc = (size_t)(binders_at - c->msg);
    int ret = kitls_th_set_hash(&c->th, c->suite);
    if (!ret && !(ret = kitls_th_update(&c->th, c->msg, trunc)))
        c->hs->ch_hashed = trunc;
    if (!ret)
        ret = kitls_th_current(&c->th, h);
    if (!ret)
        ret = binder_compute(c->suite, s->psk, h, expect, c->hs->psk_derived);
    c->hs->psk_derived_len = ret ? 0 : c->suite->hash_len;
    if (!ret && CRYPTO_memcmp(expect, binder.p, c->suite->hash_len))
        ret = KITLS_E_DECRYPT_ERROR;
    kitls_wipe(expect, sizeof(expect));
    if (ret) {
        KITLS_STAT_INC(c->cfg, tickets_refused[KITLS_STATS_TICKET_INVALID]);
        kitls_session_free(s);
        return ret;
    }
    KITLS_STAT_INC(c->cfg, tickets_accepted);
    kitls_session_free(c->res.session);
    c->res.session = s;
    c->res.resumed = 1;
    kitls_session_restore_peer(c);
    c->res.psk_dhe = dhe;
    c->res.client_age_ms = age_first - s->age_add;
    return 0;
}
