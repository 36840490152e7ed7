/* libkitls-redis internals: the connection object shared by the store,
 * the ring functions and the ring watcher. */
#ifndef KITLS_REDIS_INT_H
#define KITLS_REDIS_INT_H

#include <pthread.h>
#include <stdarg.h>

#include <hiredis/hiredis.h>

#include "kitls/redis.h"

struct kitls_redis {
    pthread_mutex_t mu; /* serialises ctx, the backoff and the counters */
    char *host, *path, *password;
    int port, db;
    unsigned timeout_ms;
    uint32_t window_ms;
    char *prefix, *ring_key;
    void (*log)(void *ctx, const char *line);
    void *log_ctx;

    redisContext *ctx;   /* NULL: not connected */
    int64_t retry_at_ms; /* down: no attempt before this (monotonic ms) */
    unsigned backoff_ms; /* 0 while up */
    struct kitls_redis_stats st;
    char run_id[48];        /* of the instance last connected to, "" none */
    int64_t quarantine_end; /* monotonic ms: until then 0-RTT is refused */

    /* The ring watcher (watch.c). */
    pthread_mutex_t wmu; /* target, ring, have_ring, sealing */
    kitls_config *target;
    struct kitls_redis_ring ring;
    int have_ring, sealing; /* index of the key that seals, -1: none applied */
    unsigned refresh_s;
    pthread_t thr;
    int thr_running;
    int wake[2];            /* pipe: kitls_redis_free() wakes the watcher */
    struct kr_async *async; /* kitls_redis_attach_antireplay_uring() */
};

/* Monotonic milliseconds. */
int64_t kr_now_ms(void);
/* One line through the log sink (printf-style). */
void kr_log(kitls_redis *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A new blocking context to r's server (connect + command timeouts of
 * tmo_ms), authenticated and on r's db; NULL with why filled. */
redisContext *kr_connect(kitls_redis *r, unsigned tmo_ms, char *why, size_t wn);
/*
 * Run one command on the shared connection (under r->mu): connects if
 * needed and allowed by the backoff; on failure marks Redis down (the
 * first failure of an episode is logged) and returns NULL with *fail set
 * to KR_SKIPPED (down, in backoff), KR_TIMEOUT or KR_ERROR.  The caller
 * frees the reply with freeReplyObject() and calls kr_bad_reply() if its
 * type was not what it expected.
 */
enum { KR_OK = 0, KR_SKIPPED, KR_TIMEOUT, KR_ERROR };
redisReply *kr_command(kitls_redis *r, int *fail, const char *fmt, ...);
/* Under r->mu: the episode bookkeeping of the synchronous and the
 * asynchronous store: count and log the first failure of an outage and
 * the recovery; note an instance's INFO server text (RFC 8446 §8.2: a
 * store younger than the window, or another instance, vouches for no
 * 0-RTT until window_ms has passed). */
void kr_note_down(kitls_redis *r, const char *why);
void kr_note_up(kitls_redis *r);
void kr_note_instance(kitls_redis *r, const char *info);
/* The asynchronous store on a kitls_uring (async.c), or NULL. */
struct kr_async;
void kr_async_free(struct kr_async *a);

/* The reply had the wrong type or an error: drop the connection (it may
 * be out of step) and count the failure like a transport error. */
void kr_bad_reply(kitls_redis *r, const redisReply *rep, const char *what);

#endif
