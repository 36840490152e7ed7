/*
 * libkitls-redis: the asynchronous anti-replay store for servers on the
 * io_uring driver.  hiredis's asynchronous client runs on the driver's
 * ring through an adapter over kitls_uring_watch_fd() (one-shot polls,
 * re-armed while hiredis wants to read or write) and kitls_uring_timer():
 * a 0-RTT check sends SET NX PX, answers KITLS_ANTIREPLAY_PENDING, and the
 * reply (or the timeout, whichever comes first) posts the verdict with
 * kitls_conn_antireplay_done() and resumes the parked connection.  The
 * ring never blocks on Redis (issue 19; RFC 8446 §8).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_int.h"

#ifdef KR_HAVE_URING
#include <hiredis/async.h>

#include "kitls/uring.h"

/* One hiredis connection and its watches; outlives its redisAsyncContext
 * until both watch callbacks have come back. */
struct kr_aconn {
    struct kr_async *a;
    redisAsyncContext *ac; /* NULL once hiredis freed it */
    int rd_id, wr_id;      /* armed watches (0: none) */
    int want_r, want_w;
    int busy; /* inside one of our callbacks: do not free yet */
};

struct kr_async {
    kitls_redis *r;
    kitls_uring *u;
    struct kr_aconn *kc; /* current connection, NULL: none */
    int64_t retry_at_ms; /* down: no new connection before this */
    unsigned backoff_ms;
    int closing; /* kitls_redis_free(): drop answers, touch no ring */
};

/* One pending check: freed when both the reply and the timer are done. */
struct kr_req {
    struct kr_async *a;
    kitls_conn *c;
    kitls_uring_conn *uc;
    int timer_id;
    int answered; /* the verdict was posted (or dropped) */
    int replied;  /* hiredis called back */
};

static void aconn_maybe_free(struct kr_aconn *kc)
{
    if (kc->ac == NULL && kc->rd_id == 0 && kc->wr_id == 0 && !kc->busy)
        free(kc);
}

static void arm(struct kr_aconn *kc, int write);

static void on_ready(struct kr_aconn *kc, int res, int write)
{
    kc->busy++;
    if (res > 0 && kc->ac != NULL && (write ? kc->want_w : kc->want_r)) {
        if (write)
            redisAsyncHandleWrite(kc->ac);
        else
            redisAsyncHandleRead(kc->ac);
    }
    kc->busy--;
    /* Poll again while hiredis still wants it (it may have freed ac). */
    if (kc->ac != NULL && res >= 0 && !kc->a->closing)
        arm(kc, write);
    aconn_maybe_free(kc);
}

static void on_read(void *arg, int res)
{
    struct kr_aconn *kc = arg;

    kc->rd_id = 0;
    on_ready(kc, res, 0);
}

static void on_write(void *arg, int res)
{
    struct kr_aconn *kc = arg;

    kc->wr_id = 0;
    on_ready(kc, res, 1);
}

static void arm(struct kr_aconn *kc, int write)
{
    int *id = write ? &kc->wr_id : &kc->rd_id;
    int want = write ? kc->want_w : kc->want_r;

    if (*id != 0 || !want || kc->ac == NULL || kc->a->closing)
        return;
    *id = kitls_uring_watch_fd(kc->a->u, kc->ac->c.fd, write ? POLLOUT : POLLIN,
                               write ? on_write : on_read, kc);
    if (*id < 0)
        *id = 0; /* the ring is shutting down or full: the timeouts end the checks */
}

/* hiredis's event hooks. */
static void ev_add_read(void *p)
{
    struct kr_aconn *kc = p;
    kc->want_r = 1;
    arm(kc, 0);
}

static void ev_del_read(void *p)
{
    ((struct kr_aconn *)p)->want_r = 0; /* a watch still armed is ignored */
}

static void ev_add_write(void *p)
{
    struct kr_aconn *kc = p;
    kc->want_w = 1;
    arm(kc, 1);
}

static void ev_del_write(void *p)
{
    ((struct kr_aconn *)p)->want_w = 0;
}

static void ev_cleanup(void *p)
{
    struct kr_aconn *kc = p;

    kc->ac = NULL;
    kc->want_r = kc->want_w = 0;
    if (kc->a->kc == kc)
        kc->a->kc = NULL;
    if (!kc->a->closing) {
        if (kc->rd_id != 0)
            (void)kitls_uring_watch_cancel(kc->a->u, kc->rd_id);
        if (kc->wr_id != 0)
            (void)kitls_uring_watch_cancel(kc->a->u, kc->wr_id);
    } else {
        kc->rd_id = kc->wr_id = 0; /* the ring is gone: no callback comes */
    }
    aconn_maybe_free(kc);
}

static void went_down(struct kr_async *a, const char *why)
{
    kitls_redis *r = a->r;

    a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : 100;
    if (a->backoff_ms > 5000)
        a->backoff_ms = 5000;
    a->retry_at_ms = kr_now_ms() + a->backoff_ms;
    pthread_mutex_lock(&r->mu);
    kr_note_down(r, why);
    pthread_mutex_unlock(&r->mu);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct kr_aconn *kc = ac->ev.data;

    if (status != REDIS_OK && !kc->a->closing)
        went_down(kc->a, ac->errstr); /* hiredis frees ac next */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct kr_aconn *kc = ac->ev.data;

    if (status != REDIS_OK && !kc->a->closing)
        went_down(kc->a, ac->errstr);
}

static void on_info(redisAsyncContext *ac, void *reply, void *priv)
{
    struct kr_aconn *kc = ac->ev.data;
    redisReply *rep = reply;
    kitls_redis *r = kc->a->r;

    (void)priv;
    if (rep == NULL || rep->type != REDIS_REPLY_STRING)
        return; /* the SETs behind it fail too and say so */
    pthread_mutex_lock(&r->mu);
    kr_note_instance(r, rep->str);
    pthread_mutex_unlock(&r->mu);
}

static int setup_cmd(redisAsyncContext *ac, kitls_redis *r)
{
    if (r->password != NULL &&
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", r->password) != REDIS_OK)
        return -1;
    if (r->db != 0 && redisAsyncCommand(ac, NULL, NULL, "SELECT %d", r->db) != REDIS_OK)
        return -1;
    /* Before any SET: its answer arms the quarantine of a young store. */
    return redisAsyncCommand(ac, on_info, NULL, "INFO server") == REDIS_OK ? 0 : -1;
}

/* The current connection, connecting if allowed; NULL if down. */
static struct kr_aconn *get_conn(struct kr_async *a)
{
    kitls_redis *r = a->r;
    struct kr_aconn *kc;
    redisAsyncContext *ac;

    if (a->kc != NULL)
        return a->kc;
    if (a->backoff_ms != 0 && kr_now_ms() < a->retry_at_ms)
        return NULL;
    ac = r->path != NULL ? redisAsyncConnectUnix(r->path) : redisAsyncConnect(r->host, r->port);
    if (ac == NULL)
        return NULL;
    if (ac->err != 0) {
        went_down(a, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    kc = calloc(1, sizeof(*kc));
    if (kc == NULL) {
        redisAsyncFree(ac);
        return NULL;
    }
    kc->a = a;
    kc->ac = ac;
    ac->ev.data = kc;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    a->kc = kc;
    ev_add_write(kc); /* the non-blocking connect completes as writable */
    if (setup_cmd(ac, r) != 0) {
        redisAsyncFree(ac);
        return NULL;
    }
    return a->kc;
}

static void req_maybe_free(struct kr_req *q)
{
    if (q->answered && q->replied && q->timer_id == 0)
        free(q);
}

/* Post the verdict once and resume the parked connection. */
static void answer(struct kr_req *q, int verdict)
{
    if (q->answered)
        return;
    q->answered = 1;
    if (q->a->closing)
        return;
    /* KITLS_E_STATE (no check pending) would mean the connection is not
     * parked for us: then resuming it is not ours to do either. */
    if (kitls_conn_antireplay_done(q->c, verdict) == 0)
        (void)kitls_uring_conn_resume(q->uc); /* -ENOTCONN: it had ended, now freed */
    if (q->timer_id != 0)
        (void)kitls_uring_watch_cancel(q->a->u, q->timer_id);
}

static void count(kitls_redis *r, uint64_t *field)
{
    pthread_mutex_lock(&r->mu);
    (*field)++;
    pthread_mutex_unlock(&r->mu);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct kr_req *q = priv;
    redisReply *rep = reply;
    kitls_redis *r = q->a->r;
    int verdict;

    (void)ac;
    q->replied = 1;
    if (!q->answered) {
        pthread_mutex_lock(&r->mu);
        if (rep != NULL && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0) {
            int young = kr_now_ms() < r->quarantine_end;
            verdict = young ? KITLS_E_UNAVAILABLE : 0;
            r->st.fresh += !young;
            r->st.quarantined += young;
            r->st.errors += young;
            kr_note_up(r);
        } else if (rep != NULL && rep->type == REDIS_REPLY_NIL) {
            verdict = 1;
            r->st.replays++;
            kr_note_up(r);
        } else {
            verdict = KITLS_E_UNAVAILABLE;
            r->st.errors++;
            if (rep != NULL) /* a reply, but not one of ours: say so */
                kr_note_down(r, rep->type == REDIS_REPLY_ERROR ? rep->str
                                                               : "unexpected answer to SET");
        }
        pthread_mutex_unlock(&r->mu);
        answer(q, verdict);
    }
    req_maybe_free(q);
}

static void on_timeout(void *arg, int res)
{
    struct kr_req *q = arg;
    struct kr_async *a = q->a;

    q->timer_id = -1; /* a redisAsyncFree() below calls on_reply: keep q */
    if (res == 0 && !q->answered) {
        pthread_mutex_lock(&a->r->mu);
        a->r->st.errors++;
        a->r->st.timeouts++;
        pthread_mutex_unlock(&a->r->mu);
        answer(q, KITLS_E_UNAVAILABLE);
        /* A Redis that does not answer in time is treated as down: drop
         * the connection (its pending replies come back NULL) and back
         * off, so that checks do not pile up behind it. */
        went_down(a, "no answer within the timeout");
        if (a->kc != NULL && a->kc->ac != NULL)
            redisAsyncFree(a->kc->ac); /* not inside hiredis: allowed here */
    } else if (res < 0 && !q->answered) {
        q->answered = 1; /* the driver is shutting down: it frees the parked connection */
    }
    q->timer_id = 0;
    req_maybe_free(q);
}

static int check_async(void *ctx, kitls_conn *c, const uint8_t *id, size_t len, int64_t expires)
{
    static const char hex[] = "0123456789abcdef";
    struct kr_async *a = ctx;
    kitls_redis *r = a->r;
    kitls_uring_conn *uc = kitls_uring_conn_from_tls(c);
    struct kr_aconn *kc;
    struct kr_req *q;
    char key[129];
    int64_t px = r->window_ms, left = (expires - (int64_t)time(NULL)) * 1000;

    if (uc == NULL) /* not on our driver: the blocking check */
        return kitls_redis_antireplay(r, id, len, expires);
    count(r, &r->st.checks);
    if (len == 0 || len > 64)
        return KITLS_E_INVALID_ARG;
    kc = get_conn(a);
    if (kc == NULL) {
        pthread_mutex_lock(&r->mu);
        r->st.errors++;
        r->st.skipped++;
        pthread_mutex_unlock(&r->mu);
        return KITLS_E_UNAVAILABLE; /* answered at once: nothing parks */
    }
    for (size_t i = 0; i < len; i++) {
        key[2 * i] = hex[id[i] >> 4];
        key[2 * i + 1] = hex[id[i] & 15];
    }
    key[2 * len] = '\0';
    if (left > 0 && left < px)
        px = left;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return KITLS_E_NOMEM;
    q->a = a;
    q->c = c;
    q->uc = uc;
    q->timer_id = kitls_uring_timer(a->u, r->timeout_ms, on_timeout, q);
    if (q->timer_id <= 0) {
        free(q);
        count(r, &r->st.errors);
        return KITLS_E_UNAVAILABLE;
    }
    if (redisAsyncCommand(kc->ac, on_reply, q, "SET %s%s 1 NX PX %lld", r->prefix, key,
                          (long long)(px < 1 ? 1 : px)) != REDIS_OK) {
        /* Not queued: the timer's callback frees q after the cancel. */
        q->answered = q->replied = 1;
        (void)kitls_uring_watch_cancel(a->u, q->timer_id);
        count(r, &r->st.errors);
        return KITLS_E_UNAVAILABLE;
    }
    return KITLS_ANTIREPLAY_PENDING;
}

int kitls_redis_attach_antireplay_uring(kitls_redis *r, kitls_config *cfg, kitls_uring *u)
{
    int rc;

    if (r == NULL || cfg == NULL || u == NULL)
        return KITLS_E_INVALID_ARG;
    if (r->async != NULL && r->async->u != u)
        return KITLS_E_STATE;
    if (r->async == NULL) {
        r->async = calloc(1, sizeof(*r->async));
        if (r->async == NULL)
            return KITLS_E_NOMEM;
        r->async->r = r;
        r->async->u = u;
    }
    rc = kitls_config_set_antireplay_async(cfg, check_async, r->async);
    return rc;
}

void kr_async_free(struct kr_async *a)
{
    if (a == NULL)
        return;
    a->closing = 1;
    if (a->kc != NULL && a->kc->ac != NULL)
        redisAsyncFree(a->kc->ac); /* pending replies come back NULL: dropped */
    free(a);
}

#else /* !KR_HAVE_URING */

int kitls_redis_attach_antireplay_uring(kitls_redis *r, kitls_config *cfg, kitls_uring *u)
{
    (void)r;
    (void)cfg;
    (void)u;
    return KITLS_E_UNAVAILABLE;
}

void kr_async_free(struct kr_async *a)
{
    (void)a;
}
#endif
