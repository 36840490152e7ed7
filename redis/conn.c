/*
 * libkitls-redis: the connection to Redis (URL, timeouts, reconnection
 * with backoff, one log line per outage) and the synchronous anti-replay
 * store: one atomic SET NX PX per 0-RTT attempt (RFC 8446 §8).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis_int.h"

#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u
#define ID_MAX 64

int64_t kr_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kr_log(kitls_redis *r, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (r->log != NULL)
        r->log(r->log_ctx, line);
    else
        fprintf(stderr, "kitls-redis: %s\n", line);
}

/* redis://[:password@]host[:port][/db] or unix:/path. */
static int parse_url(kitls_redis *r, const char *url)
{
    const char *p, *at, *end, *colon, *slash;
    char *e;
    long v;

    if (strncmp(url, "unix:", 5) == 0) {
        if (url[5] == '\0')
            return KITLS_E_INVALID_ARG;
        r->path = strdup(url + 5);
        return r->path != NULL ? 0 : KITLS_E_NOMEM;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return KITLS_E_INVALID_ARG;
    p = url + 8;
    at = strrchr(p, '@');
    if (at != NULL) {
        if (*p != ':' || at == p + 1)
            return KITLS_E_INVALID_ARG; /* only a password, no user name */
        r->password = strndup(p + 1, (size_t)(at - p - 1));
        if (r->password == NULL)
            return KITLS_E_NOMEM;
        p = at + 1;
    }
    slash = strchr(p, '/');
    end = slash != NULL ? slash : p + strlen(p);
    colon = memchr(p, ':', (size_t)(end - p));
    r->port = 6379;
    if (colon != NULL) {
        v = strtol(colon + 1, &e, 10);
        if (e != end || colon + 1 == end || v < 1 || v > 65535)
            return KITLS_E_INVALID_ARG;
        r->port = (int)v;
        end = colon;
    }
    if (end == p)
        return KITLS_E_INVALID_ARG;
    r->host = strndup(p, (size_t)(end - p));
    if (r->host == NULL)
        return KITLS_E_NOMEM;
    if (slash != NULL && slash[1] != '\0') {
        v = strtol(slash + 1, &e, 10);
        if (*e != '\0' || v < 0 || v > 65535)
            return KITLS_E_INVALID_ARG;
        r->db = (int)v;
    }
    return 0;
}

int kitls_redis_new(kitls_redis **out, const struct kitls_redis_params *p)
{
    kitls_redis *r;
    int rc;

    *out = NULL;
    if (p == NULL || p->url == NULL)
        return KITLS_E_INVALID_ARG;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return KITLS_E_NOMEM;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->wmu, NULL);
    r->wake[0] = r->wake[1] = -1;
    r->sealing = -1;
    r->st.up = 1; /* the first failure starts the first episode */
    r->timeout_ms = p->timeout_ms ? p->timeout_ms : 5;
    r->window_ms = p->window_ms ? p->window_ms : 12000;
    r->log = p->log;
    r->log_ctx = p->log_ctx;
    rc = parse_url(r, p->url);
    if (rc == 0) {
        r->prefix = strdup(p->prefix != NULL ? p->prefix : "kitls:ar:");
        r->ring_key = strdup(p->ring_key != NULL ? p->ring_key : "kitls:ticket-ring");
        if (r->prefix == NULL || r->ring_key == NULL)
            rc = KITLS_E_NOMEM;
    }
    if (rc != 0) {
        kitls_redis_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void kitls_redis_free(kitls_redis *r)
{
    if (r == NULL)
        return;
    if (r->thr_running) {
        (void)!write(r->wake[1], "x", 1);
        pthread_join(r->thr, NULL);
    }
    if (r->wake[0] >= 0) {
        close(r->wake[0]);
        close(r->wake[1]);
    }
    kr_async_free(r->async);
    if (r->ctx != NULL)
        redisFree(r->ctx);
    explicit_bzero(&r->ring, sizeof(r->ring)); /* ticket keys are secrets */
    if (r->password != NULL)
        explicit_bzero(r->password, strlen(r->password));
    free(r->password);
    free(r->host);
    free(r->path);
    free(r->prefix);
    free(r->ring_key);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->wmu);
    free(r);
}

void kitls_redis_get_stats(kitls_redis *r, struct kitls_redis_stats *st)
{
    pthread_mutex_lock(&r->mu);
    *st = r->st;
    pthread_mutex_unlock(&r->mu);
}

/* Run a command on a fresh context during set-up; 0 if it said OK. */
static int setup_cmd(redisContext *c, char *why, size_t wn, const char *what, const char *fmt, ...)
{
    redisReply *rep;
    va_list ap;
    int ok;

    va_start(ap, fmt);
    rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(why, wn, "%s: %s", what,
                 rep == NULL                      ? c->errstr
                 : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                  : "unexpected reply");
    if (rep != NULL)
        freeReplyObject(rep);
    return ok ? 0 : -1;
}

redisContext *kr_connect(kitls_redis *r, unsigned tmo_ms, char *why, size_t wn)
{
    struct timeval tv = {.tv_sec = tmo_ms / 1000, .tv_usec = (tmo_ms % 1000) * 1000};
    redisContext *c;

    c = r->path != NULL ? redisConnectUnixWithTimeout(r->path, tv)
                        : redisConnectWithTimeout(r->host, r->port, tv);
    if (c == NULL) {
        snprintf(why, wn, "out of memory");
        return NULL;
    }
    if (c->err != 0) {
        snprintf(why, wn, "connect: %s", c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(why, wn, "setting the timeout: %s", c->errstr);
        goto fail;
    }
    if (r->password != NULL && setup_cmd(c, why, wn, "AUTH", "AUTH %s", r->password) != 0)
        goto fail;
    if (r->db != 0 && setup_cmd(c, why, wn, "SELECT", "SELECT %d", r->db) != 0)
        goto fail;
    return c;
fail:
    redisFree(c);
    return NULL;
}

static const char *where(const kitls_redis *r, char *buf, size_t n)
{
    if (r->path != NULL)
        snprintf(buf, n, "unix:%s", r->path);
    else
        snprintf(buf, n, "%s:%d", r->host, r->port);
    return buf;
}

/* Under r->mu: Redis failed; drop the connection, back off, log once. */
static void mark_down(kitls_redis *r, const char *why)
{
    if (r->ctx != NULL) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (r->backoff_ms > BACKOFF_MAX_MS)
        r->backoff_ms = BACKOFF_MAX_MS;
    r->retry_at_ms = kr_now_ms() + r->backoff_ms;
    kr_note_down(r, why);
}

void kr_note_down(kitls_redis *r, const char *why)
{
    char w[300];

    if (r->st.up) {
        r->st.up = 0;
        r->st.episodes++;
        kr_log(r, "redis %s: %s; 0-RTT refused (1-RTT goes on) until it answers again",
               where(r, w, sizeof(w)), why);
    }
}

/* Under r->mu: an exchange worked. */
static void mark_up(kitls_redis *r)
{
    r->backoff_ms = 0;
    kr_note_up(r);
}

void kr_note_up(kitls_redis *r)
{
    char w[300];

    if (!r->st.up) {
        r->st.up = 1;
        kr_log(r, "redis %s: answering again; 0-RTT checks resume", where(r, w, sizeof(w)));
    }
}

/*
 * Under r->mu, on a new connection: which instance is it, since when?
 * RFC 8446 §8.2: a recording store that started less than a window ago
 * SHOULD not vouch for 0-RTT, it may have lost ids recorded before (Redis
 * restarted without its data, or a replica promoted without the last
 * writes).  So refuse 0-RTT until window_ms after the instance's start,
 * and for a full window when the instance changed under us (run_id).
 * 0, or -1 if INFO failed (the connection is then dropped).
 */
static int check_instance(kitls_redis *r)
{
    redisReply *rep = redisCommand(r->ctx, "INFO server");

    if (rep == NULL || rep->type != REDIS_REPLY_STRING) {
        if (rep != NULL)
            freeReplyObject(rep);
        return -1;
    }
    kr_note_instance(r, rep->str);
    freeReplyObject(rep);
    return 0;
}

void kr_note_instance(kitls_redis *r, const char *info)
{
    const char *p;
    char id[sizeof(r->run_id)] = "";
    long long uptime = -1;
    int64_t until = 0, now = kr_now_ms();

    if ((p = strstr(info, "run_id:")) != NULL)
        sscanf(p + 7, "%47[0-9a-f]", id);
    if ((p = strstr(info, "uptime_in_seconds:")) != NULL)
        uptime = strtoll(p + 18, NULL, 10);
    if (uptime >= 0 && uptime * 1000 < (long long)r->window_ms)
        until = now + (int64_t)r->window_ms - uptime * 1000;
    if (r->run_id[0] != '\0' && strcmp(id, r->run_id) != 0)
        until = now + (int64_t)r->window_ms;
    if (until > r->quarantine_end) {
        r->quarantine_end = until;
        kr_log(r,
               "redis instance %.12s started %lld s ago%s: 0-RTT refused for %lld ms, "
               "ids recorded before may be lost (RFC 8446 section 8.2)",
               id, uptime, r->run_id[0] != '\0' && strcmp(id, r->run_id) != 0 ? " (a new one)" : "",
               (long long)(until - now));
    }
    snprintf(r->run_id, sizeof(r->run_id), "%s", id);
}

redisReply *kr_command(kitls_redis *r, int *fail, const char *fmt, ...)
{
    redisReply *rep = NULL;
    char why[256];
    va_list ap;

    pthread_mutex_lock(&r->mu);
    *fail = KR_OK;
    if (r->ctx == NULL) {
        if (r->backoff_ms != 0 && kr_now_ms() < r->retry_at_ms) {
            *fail = KR_SKIPPED;
            goto out;
        }
        r->ctx = kr_connect(r, r->timeout_ms, why, sizeof(why));
        if (r->ctx != NULL && check_instance(r) != 0)
            snprintf(why, sizeof(why), "INFO server: %s",
                     r->ctx->err ? r->ctx->errstr : "unexpected reply");
        else if (r->ctx != NULL)
            why[0] = '\0';
        if (r->ctx == NULL || why[0] != '\0') {
            *fail =
                strstr(why, "timed out") != NULL || strstr(why, "temporarily unavailable") != NULL
                    ? KR_TIMEOUT
                    : KR_ERROR;
            mark_down(r, why);
            goto out;
        }
    }
    va_start(ap, fmt);
    rep = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    if (rep == NULL) {
        int tmo = r->ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        snprintf(why, sizeof(why), "%s", tmo ? "no answer within the timeout" : r->ctx->errstr);
        *fail = tmo ? KR_TIMEOUT : KR_ERROR;
        mark_down(r, why);
        goto out;
    }
    mark_up(r);
out:
    pthread_mutex_unlock(&r->mu);
    return rep;
}

void kr_bad_reply(kitls_redis *r, const redisReply *rep, const char *what)
{
    char why[256];

    snprintf(why, sizeof(why), "unexpected answer to %s: %s", what,
             rep->type == REDIS_REPLY_ERROR ? rep->str : "wrong reply type");
    pthread_mutex_lock(&r->mu);
    mark_down(r, why);
    pthread_mutex_unlock(&r->mu);
}

static void count(kitls_redis *r, uint64_t *field)
{
    pthread_mutex_lock(&r->mu);
    (*field)++;
    pthread_mutex_unlock(&r->mu);
}

int kitls_redis_antireplay(void *ctx, const uint8_t *id, size_t len, int64_t expires)
{
    static const char hex[] = "0123456789abcdef";
    kitls_redis *r = ctx;
    char key[2 * ID_MAX + 1];
    redisReply *rep;
    int64_t px = r->window_ms, left = (expires - (int64_t)time(NULL)) * 1000;
    int fail, rc;

    count(r, &r->st.checks);
    if (len == 0 || len > ID_MAX)
        return KITLS_E_INVALID_ARG;
    for (size_t i = 0; i < len; i++) {
        key[2 * i] = hex[id[i] >> 4];
        key[2 * i + 1] = hex[id[i] & 15];
    }
    key[2 * len] = '\0';
    /* No need to remember an id past its ticket's expiry: the ticket is
     * refused then anyway (RFC 8446 §4.6.1). */
    if (left > 0 && left < px)
        px = left;
    if (px < 1)
        px = 1;
    rep = kr_command(r, &fail, "SET %s%s 1 NX PX %lld", r->prefix, key, (long long)px);
    if (rep == NULL) {
        pthread_mutex_lock(&r->mu);
        r->st.errors++;
        r->st.timeouts += fail == KR_TIMEOUT;
        r->st.skipped += fail == KR_SKIPPED;
        pthread_mutex_unlock(&r->mu);
        return KITLS_E_UNAVAILABLE;
    }
    if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0) {
        pthread_mutex_lock(&r->mu);
        if (kr_now_ms() < r->quarantine_end) {
            rc = KITLS_E_UNAVAILABLE; /* recorded, but the store is too young */
            r->st.errors++;
            r->st.quarantined++;
        } else {
            rc = 0;
            r->st.fresh++;
        }
        pthread_mutex_unlock(&r->mu);
    } else if (rep->type == REDIS_REPLY_NIL) {
        rc = 1;
        count(r, &r->st.replays);
    } else {
        kr_bad_reply(r, rep, "SET NX PX");
        count(r, &r->st.errors);
        rc = KITLS_E_UNAVAILABLE;
    }
    freeReplyObject(rep);
    return rc;
}

int kitls_redis_attach_antireplay(kitls_redis *r, kitls_config *cfg)
{
    return kitls_config_set_antireplay(cfg, kitls_redis_antireplay, r);
}
