/*
 * libkitls-redis: the ticket-key ring watcher.  A thread keeps a config's
 * ticket keys following the ring in Redis: it re-reads the ring on every
 * pub/sub message of a rotation and on a schedule, switches the sealing
 * key when the next key's activation time comes, and refuses a malformed
 * ring as a whole (the keys in use stay; one log line per bad ring).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis_int.h"

#define TICK_MS 1000 /* activation times have one-second resolution */

/* Under r->wmu: set the keys of r->ring at `now` on the target config. */
static int apply_locked(kitls_redis *r, int64_t now)
{
    struct kitls_ticket_key keys[3];
    int rc, seal = 0;

    if (!r->have_ring || r->target == NULL)
        return 0;
    for (int i = 0; i < 3; i++)
        if (r->ring.activate[i] <= now)
            seal = i;
    kitls_redis_ring_keys(&r->ring, now, keys);
    rc = kitls_config_set_ticket_keys(r->target, keys, 3);
    explicit_bzero(keys, sizeof(keys));
    if (rc == 0)
        r->sealing = seal;
    return rc;
}

/* Read the ring and apply it if it changed.  *logged: a refusal was
 * already logged for the ring now in Redis (one line per bad ring). */
static void reload(kitls_redis *r, int *logged)
{
    struct kitls_redis_ring nr;
    int rc = kitls_redis_ring_load(r, &nr);

    if (rc == KITLS_E_DECODE || rc == KITLS_E_STATE) {
        pthread_mutex_lock(&r->mu);
        r->st.ring_refused++;
        pthread_mutex_unlock(&r->mu);
        if (!*logged) {
            pthread_mutex_lock(&r->wmu);
            kr_log(r, "ticket-key ring %s: %s; refused, keeping generation %llu", r->ring_key,
                   rc == KITLS_E_DECODE ? "malformed (see docs/fleet.md for the format)"
                                        : "missing",
                   (unsigned long long)r->ring.generation);
            pthread_mutex_unlock(&r->wmu);
            *logged = 1;
        }
        return;
    }
    if (rc != 0)
        return; /* Redis down: logged by the connection, keys stay */
    *logged = 0;
    pthread_mutex_lock(&r->wmu);
    if (memcmp(&nr, &r->ring, sizeof(nr)) != 0) {
        r->ring = nr;
        r->have_ring = 1;
        r->sealing = -1;
        if (apply_locked(r, (int64_t)time(NULL)) == 0) {
            pthread_mutex_lock(&r->mu);
            r->st.ring_loads++;
            pthread_mutex_unlock(&r->mu);
            kr_log(r, "ticket-key ring %s: generation %llu applied", r->ring_key,
                   (unsigned long long)nr.generation);
        }
    }
    pthread_mutex_unlock(&r->wmu);
    explicit_bzero(&nr, sizeof(nr));
}

/* The subscriber connection: SUBSCRIBE ring_key; NULL if Redis is down. */
static redisContext *subscribe(kitls_redis *r)
{
    redisContext *c;
    redisReply *rep;
    char why[256];

    c = kr_connect(r, r->timeout_ms > 200 ? r->timeout_ms : 200, why, sizeof(why));
    if (c == NULL)
        return NULL;
    rep = redisCommand(c, "SUBSCRIBE %s", r->ring_key);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
        if (rep != NULL)
            freeReplyObject(rep);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(rep);
    return c;
}

/* Drain the subscriber's messages: 1 if any arrived, -1 if it broke. */
static int drain(redisContext *c)
{
    redisReply *rep;
    int got = 0;

    if (redisBufferRead(c) != REDIS_OK)
        return -1;
    for (;;) {
        rep = NULL;
        if (redisGetReplyFromReader(c, (void **)&rep) != REDIS_OK)
            return -1;
        if (rep == NULL)
            return got;
        got = 1;
        freeReplyObject(rep);
    }
}

static void *watcher(void *arg)
{
    kitls_redis *r = arg;
    redisContext *sub = NULL;
    int64_t next_refresh = 0, next_sub = 0, now;
    int logged = 0, want = 0;

    for (;;) {
        struct pollfd p[2] = {{.fd = r->wake[0], .events = POLLIN}, {.fd = -1}};

        now = kr_now_ms();
        if (sub == NULL && now >= next_sub) {
            sub = subscribe(r);
            next_sub = now + 1000;
            want = 1; /* we may have missed a message: read the ring */
        }
        if (want || now >= next_refresh) {
            reload(r, &logged);
            want = 0;
            next_refresh = now + (int64_t)r->refresh_s * 1000;
        }
        pthread_mutex_lock(&r->wmu);
        if (r->have_ring) {
            int seal = 0;
            for (int i = 0; i < 3; i++)
                if (r->ring.activate[i] <= (int64_t)time(NULL))
                    seal = i;
            if (seal != r->sealing)
                (void)apply_locked(r, (int64_t)time(NULL));
        }
        pthread_mutex_unlock(&r->wmu);
        if (sub != NULL) {
            p[1].fd = sub->fd;
            p[1].events = POLLIN;
        }
        if (poll(p, 2, TICK_MS) < 0 && errno != EINTR)
            break;
        if (p[0].revents != 0)
            break;
        if (sub != NULL && p[1].revents != 0) {
            int d = drain(sub);
            if (d < 0) {
                redisFree(sub);
                sub = NULL;
            }
            want = d != 0; /* a rotation, or we lost the channel */
        }
    }
    if (sub != NULL)
        redisFree(sub);
    return NULL;
}

int kitls_redis_ring_watch(kitls_redis *r, kitls_config *cfg, unsigned refresh_s)
{
    struct kitls_redis_ring nr;
    int rc = 0;

    if (r == NULL || cfg == NULL)
        return KITLS_E_INVALID_ARG;
    pthread_mutex_lock(&r->wmu);
    r->refresh_s = refresh_s ? refresh_s : 30;
    if (!r->have_ring) {
        rc = kitls_redis_ring_load(r, &nr);
        if (rc == 0) {
            r->ring = nr;
            r->have_ring = 1;
            explicit_bzero(&nr, sizeof(nr));
            pthread_mutex_lock(&r->mu);
            r->st.ring_loads++;
            pthread_mutex_unlock(&r->mu);
        }
    }
    if (rc == 0) {
        r->target = cfg;
        rc = apply_locked(r, (int64_t)time(NULL));
    }
    if (rc == 0 && !r->thr_running) {
        if (pipe2(r->wake, O_CLOEXEC) != 0)
            rc = KITLS_E_NOMEM;
        else if (pthread_create(&r->thr, NULL, watcher, r) != 0)
            rc = KITLS_E_NOMEM;
        else
            r->thr_running = 1;
    }
    pthread_mutex_unlock(&r->wmu);
    return rc;
}
