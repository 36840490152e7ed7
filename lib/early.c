/*
 * 0-RTT early data (RFC 8446 §2.3, §4.2.10) and its replay defences (§8).
 *
 * The server accepts early data only when every check passes: 0-RTT is
 * enabled, the ticket allows it, the handshake resumes that ticket with
 * the same suite and ALPN and no HelloRetryRequest, the client's ticket age
 * is fresh, the ticket was never used for 0-RTT before (single-use store,
 * §8.1), and the application agrees for this connection.
 *
 * This file alone writes the connection's 0-RTT state (c->early, early.h):
 * the record path, the handshake and the early_data extension row call
 * the functions below.
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

#define REPLAY_ID 16
#define SKIP_MIN 16384u

/* ---- the built-in single-use store: open addressing, expiring entries ---- */

struct replay_entry {
    uint8_t id[REPLAY_ID];
    int64_t expires; /* 0: empty */
};

struct kitls_replay_store {
    pthread_mutex_t lock;
    struct replay_entry *e;
    size_t cap, used;
};

void kitls_early_store_free(struct kitls_replay_store *st)
{
    if (!st)
        return;
    pthread_mutex_destroy(&st->lock);
    kitls_free(st->e);
    kitls_free(st);
}

static size_t slot(const uint8_t *id, size_t cap)
{
    size_t h;
    memcpy(&h, id, sizeof(h));
    return h & (cap - 1);
}

/* Rebuild the table without expired entries, growing it if it stays full. */
static int store_rehash(struct kitls_replay_store *st, int64_t now)
{
    size_t live = 0;
    for (size_t i = 0; i < st->cap; i++)
        live += st->e[i].expires > now;
    size_t ncap = st->cap ? st->cap : 1024;
    while (live * 2 >= ncap)
        ncap *= 2;
    if (ncap > (1u << 24))
        return -1; /* refuse 0-RTT rather than grow without bound */
    struct replay_entry *ne = kitls_calloc(ncap, sizeof(*ne));
    if (!ne)
        return -1;
    for (size_t i = 0; i < st->cap; i++) {
        if (st->e[i].expires <= now)
            continue;
        size_t j = slot(st->e[i].id, ncap);
        while (ne[j].expires)
            j = (j + 1) & (ncap - 1);
        ne[j] = st->e[i];
    }
    kitls_free(st->e);
    st->e = ne;
    st->cap = ncap;
    st->used = live;
    return 0;
}

static int store_seen(struct kitls_replay_store *st, const uint8_t *id, int64_t now,
                      int64_t expires)
{
    int ret = 0;
    pthread_mutex_lock(&st->lock);
    if ((st->used + 1) * 4 >= st->cap * 3 && store_rehash(st, now)) {
        ret = -1;
        goto out;
    }
    size_t j = slot(id, st->cap);
    for (; st->e[j].expires; j = (j + 1) & (st->cap - 1)) {
        if (!memcmp(st->e[j].id, id, REPLAY_ID) && st->e[j].expires > now) {
            ret = 1;
            goto out;
        }
    }
    memcpy(st->e[j].id, id, REPLAY_ID);
    st->e[j].expires = expires > now ? expires : now + 1;
    st->used++;
out:
    pthread_mutex_unlock(&st->lock);
    return ret;
}

/* ---- configuration ---- */

int kitls_config_set_early_data(kitls_config *cfg, uint32_t max)
{
    if (!cfg)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    if (max && cfg->role == KITLS_ROLE_SERVER && !cfg->replay) {
        struct kitls_replay_store *st = kitls_calloc(1, sizeof(*st));
        if (!st)
            return KITLS_E_NOMEM;
        pthread_mutex_init(&st->lock, NULL);
        cfg->replay = st;
    }
    cfg->early_max = max;
    return 0;
}

int kitls_config_set_early_data_window(kitls_config *cfg, uint32_t ms)
{
    if (!cfg)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    cfg->early_window_ms = ms;
    return 0;
}

int kitls_config_set_antireplay(kitls_config *cfg, kitls_antireplay_fn fn, void *ctx)
{
    if (!cfg)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    cfg->antireplay = fn;
    cfg->antireplay_ctx = ctx;
    return 0;
}

int kitls_config_set_antireplay_async(kitls_config *cfg, kitls_antireplay_async_fn fn, void *ctx)
{
    if (!cfg)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    cfg->antireplay_async = fn;
    cfg->antireplay_async_ctx = ctx;
    return 0;
}

int kitls_config_set_early_data_callback(kitls_config *cfg, kitls_early_data_fn fn, void *ctx)
{
    if (!cfg)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    cfg->early_cb = fn;
    cfg->early_ctx = ctx;
    return 0;
}

/* ---- both sides ---- */

int kitls_early_derive(kitls_conn *c, const struct kitls_suite *suite, const uint8_t *ch_hash)
{
    struct kitls_keysched ks = {0};
    int ret = kitls_ks_early(&ks, suite, c->res.session->psk, c->res.session->psk_len);
    if (!ret)
        ret = kitls_ks_derive(&ks, "c e traffic", ch_hash, c->hs->c_e);
    if (!ret)
        ret = kitls_ks_derive(&ks, "e exp master", ch_hash, c->early.exp);
    c->early.has_exp = !ret;
    kitls_ks_wipe(&ks);
    return ret;
}

int kitls_conn_early_data_status(const kitls_conn *c)
{
    return c->early.status;
}

void kitls_early_free(kitls_conn *c)
{
    wr_free(&c->early.out);
    kitls_early_unpark(c);
}

void kitls_early_set_offered(kitls_conn *c)
{
    c->early.offered = 1;
    if (c->server) /* kitls_stats counts the server's view of 0-RTT */
        KITLS_STAT_INC(c->cfg, early_data[KITLS_STATS_EARLY_OFFERED]);
}

/* ---- client ---- */

int kitls_conn_write_early_data(kitls_conn *c, const uint8_t *buf, size_t len)
{
    if (!c || (!buf && len) || len > INT32_MAX)
        return KITLS_E_INVALID_ARG;
    if (c->server || !c->res.session || !c->cfg->early_max || !c->res.session->max_early ||
        c->error)
        return KITLS_E_STATE;
    size_t room = c->res.session->max_early - c->early.out.len;
    size_t n = len < room ? len : room;
    if (c->state == ST_CLIENT_START) {
        c->early.want = 1; /* even with no data yet: offer 0-RTT */
        wr_put(&c->early.out, buf, n);
        return c->early.out.err ? c->early.out.err : (int)n;
    }
    /* More 0-RTT data may follow until the server's Finished (RFC 8446
     * §2.3): while its answer is unknown, or once it accepted. */
    int ee_seen = c->state == ST_CLIENT_WAIT_CERT_CR || c->state == ST_CLIENT_WAIT_CERT ||
                  c->state == ST_CLIENT_WAIT_CV || c->state == ST_CLIENT_WAIT_FIN;
    if (!c->early.offered || !(c->state == ST_CLIENT_WAIT_SH || c->state == ST_CLIENT_WAIT_EE ||
                               (ee_seen && c->early.status == KITLS_EARLY_ACCEPTED)))
        return KITLS_E_STATE;
    if (!n)
        return 0;
    wr_put(&c->early.out, buf, n);
    if (c->early.out.err)
        return c->early.out.err;
    const struct kitls_suite *suite = kitls_suite_find(c->res.session->suite);
    int ret = 0;
    /* Between ServerHello and EncryptedExtensions the sending keys are
     * already the handshake ones: switch to the early keys for this. */
    int swap = c->state == ST_CLIENT_WAIT_EE;
    if (swap) {
        ret = kitls_rec_set_secret(&c->tx, suite, c->hs->c_e, 1);
        c->tx.seq = c->early.seq;
    }
    if (!ret)
        ret = kitls_conn_send_record(c, CT_APPDATA, buf, n);
    c->early.seq = c->tx.seq;
    if (!ret && swap)
        ret = kitls_rec_set_secret(&c->tx, c->suite, c->hs->c_hs, 1);
    return ret ? kitls_conn_fail(c, ret) : (int)n;
}

int kitls_early_client_send(kitls_conn *c)
{
    const struct kitls_suite *suite = kitls_suite_find(c->res.session->suite);
    uint8_t h[KITLS_MAX_HASH];
    /* The ClientHello is still in the transcript's pending buffer. */
    if (!EVP_Digest(c->th.pending.buf, c->th.pending.len, h, NULL, suite->md, NULL))
        return KITLS_E_CRYPTO;
    GUARD(kitls_early_derive(c, suite, h));
    if (c->cfg->compat)
        GUARD(kitls_conn_send_ccs(c));
    GUARD(kitls_rec_set_secret(&c->tx, suite, c->hs->c_e, 1));
    c->early.status = KITLS_EARLY_REJECTED; /* until EncryptedExtensions says otherwise */
    if (c->early.out.len)
        GUARD(kitls_conn_send_record(c, CT_APPDATA, c->early.out.buf, c->early.out.len));
    c->early.seq = c->tx.seq;
    /* Keep the data: the application may need to resend it after a reject. */
    return 0;
}

void kitls_early_client_hrr(kitls_conn *c)
{
    if (c->early.offered) {
        /* An HRR rejects early data; ClientHello2 goes in plaintext. */
        c->early.offered = 0;
        kitls_rec_wipe(&c->tx);
    }
}

int kitls_early_client_accept(kitls_conn *c)
{
    /* The server reads our records with the early keys until
     * EndOfEarlyData (§2.3): so do alerts we send before it. */
    if (c->early.offered) {
        GUARD(kitls_rec_set_secret(&c->tx, kitls_suite_find(c->res.session->suite), c->hs->c_e, 1));
        c->tx.seq = c->early.seq;
    }
    /* Accepted 0-RTT must resume with the session's own suite. */
    if (!c->early.offered || !c->res.resumed || c->suite->id != c->res.session->suite)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->early.status = KITLS_EARLY_ACCEPTED;
    return 0;
}

int kitls_early_client_end(kitls_conn *c)
{
    if (c->early.status != KITLS_EARLY_ACCEPTED)
        return 0;
    /* EndOfEarlyData closes the early epoch, under its keys (§4.5). */
    static const uint8_t eoed[4] = {HS_END_OF_EARLY_DATA, 0, 0, 0};
    GUARD(kitls_rec_set_secret(&c->tx, c->suite, c->hs->c_e, 1));
    c->tx.seq = c->early.seq;
    GUARD(kitls_th_update(&c->th, eoed, sizeof(eoed)));
    GUARD(kitls_conn_send_record(c, CT_HANDSHAKE, eoed, sizeof(eoed)));
    return kitls_rec_set_secret(&c->tx, c->suite, c->hs->c_hs, 1);
}

/* ---- server ---- */

static int early_fresh(const kitls_conn *c)
{
    int64_t now = kitls_config_now(c->cfg);
    int64_t server_ms = (now - c->res.session->received) * 1000;
    int64_t diff = server_ms - (int64_t)c->res.client_age_ms;
    uint32_t window = c->cfg->early_window_ms ? c->cfg->early_window_ms : 10000;
    if (diff < 0)
        diff = -diff;
    /* Our clock has one-second resolution: allow for it. */
    return diff <= (int64_t)window + 1000;
}

/* Server: the early data is rejected; skip what fails to decrypt, up to a
 * budget of at least one full record (RFC 8446 §4.2.10). */
static void reject(kitls_conn *c)
{
    c->early.status = KITLS_EARLY_REJECTED;
    c->early.skip = c->cfg->early_max > SKIP_MIN ? c->cfg->early_max : SKIP_MIN;
}

/* Ask the anti-replay store about this ticket (§8.1): *seen is 0 (first
 * use), 1 (replay) or negative (store failure).  KITLS_E_WANT_ASYNC when
 * an asynchronous store answers later (kitls_conn_antireplay_done()). */
static int replay_check(kitls_conn *c, int *seen)
{
    const kitls_config *cfg = c->cfg;
    const kitls_session *s = c->res.session;
    uint8_t id[32];
    if (!EVP_Digest(s->psk, s->psk_len, id, NULL, c->suite->md, NULL))
        return KITLS_E_CRYPTO;
    int64_t expires = s->received + (int64_t)s->lifetime;
    if (cfg->antireplay_async) {
        /* Pending before the call: the store may answer from inside it. */
        c->early.async = EARLY_ASYNC_PENDING;
        int r = cfg->antireplay_async(cfg->antireplay_async_ctx, c, id, REPLAY_ID, expires);
        if (r == KITLS_ANTIREPLAY_PENDING && c->early.async == EARLY_ASYNC_PENDING)
            return KITLS_E_WANT_ASYNC;
        *seen = r == KITLS_ANTIREPLAY_PENDING ? c->early.verdict : r;
        c->early.async = EARLY_ASYNC_NONE;
        return 0;
    }
    *seen = cfg->antireplay ? cfg->antireplay(cfg->antireplay_ctx, id, REPLAY_ID, expires)
                            : store_seen(cfg->replay, id, kitls_config_now(cfg), expires);
    return 0;
}

int kitls_early_server_decide(kitls_conn *c)
{
    const kitls_config *cfg = c->cfg;
    const kitls_session *s = c->res.session;
    if (!c->early.offered)
        return 0;
    int seen = 0, ok;
    if (c->early.async == EARLY_ASYNC_ANSWERED) {
        /* Resumed: every other check passed before the store was asked. */
        ok = 1;
        seen = c->early.verdict;
        c->early.async = EARLY_ASYNC_NONE;
    } else {
        ok = c->res.resumed && !c->did_hrr && cfg->early_max && s->max_early &&
             s->suite == c->suite->id && !strcmp(s->alpn, conn_alpn(c)) && early_fresh(c);
        if (ok)
            GUARD(replay_check(c, &seen));
    }
    if (ok && seen) {
        ok = 0;
        KITLS_STAT_INC(
            c->cfg,
            early_data[seen > 0 ? KITLS_STATS_EARLY_REPLAYED : KITLS_STATS_EARLY_STORE_ERROR]);
    }
    if (ok && cfg->early_cb)
        ok = cfg->early_cb(cfg->early_ctx, c) == 1;
    if (!ok) {
        /* Skip the records the client already sent (§4.2.10). */
        reject(c);
        KITLS_STAT_INC(c->cfg, early_data[KITLS_STATS_EARLY_REJECTED]);
        return 0;
    }
    uint8_t h[KITLS_MAX_HASH];
    GUARD(kitls_th_current(&c->th, h));
    GUARD(kitls_early_derive(c, c->suite, h));
    c->early.status = KITLS_EARLY_ACCEPTED;
    KITLS_STAT_INC(c->cfg, early_data[KITLS_STATS_EARLY_ACCEPTED]);
    return 0;
}

int kitls_conn_antireplay_done(kitls_conn *c, int verdict)
{
    if (!c || verdict > 1)
        return KITLS_E_INVALID_ARG;
    if (c->early.async != EARLY_ASYNC_PENDING)
        return KITLS_E_STATE;
    c->early.verdict = verdict;
    c->early.async = EARLY_ASYNC_ANSWERED;
    return 0;
}

int kitls_early_park(kitls_conn *c, const void *parse, size_t len)
{
    void *p = kitls_malloc(len);
    if (!p) {
        c->early.async = EARLY_ASYNC_NONE;
        return KITLS_E_NOMEM;
    }
    memcpy(p, parse, len);
    c->early.parked = p;
    c->early.parked_msg = c->msg;
    return 0;
}

void *kitls_early_parked(const kitls_conn *c)
{
    return c->early.parked && c->early.parked_msg == c->msg ? c->early.parked : NULL;
}

void kitls_early_unpark(kitls_conn *c)
{
    kitls_free(c->early.parked);
    c->early.parked = NULL;
    c->early.parked_msg = NULL;
}

int kitls_early_hold(kitls_conn *c)
{
    if (c->app_len && c->early.app)
        return KITLS_E_EARLY_DATA; /* read it with kitls_conn_read_early_data() */
    if (c->early.async == EARLY_ASYNC_PENDING)
        return KITLS_E_WANT_ASYNC;
    /* Answered: the parked ClientHello is the next message again. */
    if (c->early.async == EARLY_ASYNC_ANSWERED && c->early.parked)
        return kitls_hs_process(c);
    return 0;
}

void kitls_early_server_hrr(kitls_conn *c)
{
    if (c->early.offered) {
        /* Early data the client sent with ClientHello1 is skipped, up to
         * ClientHello2 only (§4.2.10).  The HRR settles the offer: nothing
         * after ClientHello2 may re-arm the skip budget, and every record
         * that then fails to decrypt is bad_record_mac (§5.2). */
        reject(c);
        KITLS_STAT_INC(c->cfg, early_data[KITLS_STATS_EARLY_REJECTED]);
        c->early.offered = 0;
    }
}

int kitls_early_skip(kitls_conn *c, size_t len)
{
    if (!c->early.skip || c->early.skip < len)
        return 0;
    c->early.skip -= (uint32_t)len;
    return 1;
}

void kitls_early_skip_end(kitls_conn *c)
{
    c->early.skip = 0;
}

int kitls_early_recv(kitls_conn *c, size_t len)
{
    /* 0-RTT data, bounded by max_early_data_size (§4.2.10). */
    if (len > c->cfg->early_max - c->early.in)
        return KITLS_E_UNEXPECTED_MESSAGE;
    c->early.in += (uint32_t)len;
    if (len)
        c->early.app = 1;
    return 0;
}

void kitls_early_recv_done(kitls_conn *c)
{
    c->early.app = 0;
}

int kitls_conn_read_early_data(kitls_conn *c, uint8_t *buf, size_t len)
{
    if (!c || (!buf && len))
        return KITLS_E_INVALID_ARG;
    if (c->error)
        return c->error;
    if (!c->server)
        return KITLS_E_STATE;
    if (c->early.async)
        return KITLS_E_WANT_ASYNC; /* nothing of it before the store's answer */
    if (!c->app_len || !c->early.app)
        return KITLS_E_WANT_READ;
    return kitls_conn_take_app(c, buf, len);
}

int kitls_hs_recv_end_of_early_data(kitls_conn *c, struct rd *b)
{
    GUARD(rd_expect_empty(b));
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    GUARD(kitls_rec_set_secret(&c->rx, c->suite, c->hs->c_hs, 0));
    kitls_wipe(c->hs->c_e, sizeof(c->hs->c_e));
    return HS_NEXT;
}
