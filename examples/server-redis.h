/*
 * kitls-server and Redis (server-redis.c, issue 19): --redis URL,
 * --replay-store memory|redis, --ticket-keys file|redis and
 * --rotate-ticket-keys, on libkitls-redis.  Without hiredis the options
 * exist and say the tool was built without it.
 */
#ifndef KITLS_EXAMPLES_SERVER_REDIS_H
#define KITLS_EXAMPLES_SERVER_REDIS_H

#include <stddef.h>

#include "common.h"

struct ex_redis_opts {
    const char *url;    /* --redis URL */
    int replay_redis;   /* --replay-store redis */
    int keys_redis;     /* --ticket-keys redis */
    int rotate;         /* --rotate-ticket-keys: rotate and exit */
    long rotate_period; /* --rotate-period SECS (default 86400) */
    long timeout_ms;    /* --redis-timeout MS (default 5) */
    long refresh_s;     /* --ticket-keys-refresh SECS (default 30) */
    long window_ms;     /* how long ids are kept (--early-data-window + 2 s) */
};

/* Check the combination of options; prints why and returns 2 if wrong. */
int ex_redis_check_opts(const char *prog, const struct ex_redis_opts *ro, const struct ex_opts *o);
/* --rotate-ticket-keys: rotate the ring in Redis, print the new ids and
 * activation times, return the exit status (0 ok, 1 failed). */
int ex_redis_rotate(const char *prog, const struct ex_redis_opts *ro);
/* Connect (lazily) and register the config-build hook that installs the
 * Redis store and the ring watcher on every config; 0 or -1.  A no-op
 * without --replay-store redis and --ticket-keys redis. */
int ex_redis_start(const char *prog, const struct ex_redis_opts *ro);
/* --uring: answer 0-RTT checks asynchronously on the driver's ring from
 * now on (cfg: the config in use, not yet serving; later configs get it in
 * the hook).  0 or -1 with a message.  Call from the ring's thread. */
struct kitls_uring;
int ex_redis_set_uring(const char *prog, struct kitls_uring *u, kitls_config *cfg);
/* Stop the ring watcher and close; before the last config is freed (and
 * after the io_uring driver is freed). */
void ex_redis_stop(void);
/* The Redis counters in the Prometheus text format (for --metrics);
 * returns the bytes written (0 without Redis). */
size_t ex_redis_metrics(char *buf, size_t cap);

#endif
