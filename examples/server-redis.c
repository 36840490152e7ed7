/*
 * kitls-server and Redis (issue 19): a fleet's shared 0-RTT anti-replay
 * store (--replay-store redis) and ticket-key ring (--ticket-keys redis)
 * on libkitls-redis, and the ring's rotation (--rotate-ticket-keys).
 * Each config the server builds (at start and on every SIGHUP reload)
 * gets the store and the ring's keys through the reload hook.
 */
#define _DEFAULT_SOURCE

#include "server-redis.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server-reload.h"

#ifdef EX_HAVE_REDIS
#include <kitls/redis.h>

static kitls_redis *rd;
static const struct ex_redis_opts *ropts;
static struct kitls_uring *ring_u; /* --uring: the asynchronous check */

static void log_line(void *ctx, const char *line)
{
    fprintf(stderr, "%s: %s\n", (const char *)ctx, line);
}

static int new_conn(const char *prog, const struct ex_redis_opts *ro, kitls_redis **out)
{
    struct kitls_redis_params p = {
        .url = ro->url,
        .timeout_ms = (unsigned)ro->timeout_ms,
        .window_ms = (uint32_t)ro->window_ms,
        .log = log_line,
        .log_ctx = (void *)prog,
    };
    int rc = kitls_redis_new(out, &p);

    if (rc != 0)
        fprintf(stderr, "%s: --redis %s: %s\n", prog, ro->url,
                rc == KITLS_E_INVALID_ARG
                    ? "expected redis://[:password@]host[:port][/db] or unix:/path"
                    : kitls_strerror(rc));
    return rc;
}

static int hook(void *ctx, kitls_config *cfg)
{
    const char *prog = ctx;
    int rc;

    if (ropts->replay_redis && (rc = kitls_redis_attach_antireplay(rd, cfg)) != 0) {
        fprintf(stderr, "%s: anti-replay store: %s\n", prog, kitls_strerror(rc));
        return -1;
    }
    if (ropts->replay_redis && ring_u != NULL &&
        (rc = kitls_redis_attach_antireplay_uring(rd, cfg, ring_u)) != 0) {
        fprintf(stderr, "%s: asynchronous anti-replay store: %s\n", prog, kitls_strerror(rc));
        return -1;
    }
    if (ropts->keys_redis) {
        rc = kitls_redis_ring_watch(rd, cfg, (unsigned)ropts->refresh_s);
        if (rc != 0) {
            fprintf(stderr, "%s: ticket-key ring from %s: %s\n", prog, ropts->url,
                    rc == KITLS_E_STATE    ? "no ring yet (run kitls-server "
                                             "--rotate-ticket-keys --redis URL)"
                    : rc == KITLS_E_DECODE ? "malformed ring (docs/fleet.md)"
                                           : "Redis unavailable");
            return -1;
        }
    }
    return 0;
}

int ex_redis_start(const char *prog, const struct ex_redis_opts *ro)
{
    if (!ro->replay_redis && !ro->keys_redis)
        return 0;
    if (new_conn(prog, ro, &rd) != 0)
        return -1;
    ropts = ro;
    ex_reload_set_hook(hook, (void *)prog);
    return 0;
}

int ex_redis_set_uring(const char *prog, struct kitls_uring *u, kitls_config *cfg)
{
    int rc;

    if (rd == NULL || !ropts->replay_redis)
        return 0;
    rc = kitls_redis_attach_antireplay_uring(rd, cfg, u);
    if (rc == KITLS_E_UNAVAILABLE) {
        fprintf(stderr, "%s: libkitls-redis built without io_uring: 0-RTT checks block the ring\n",
                prog);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: asynchronous anti-replay store: %s\n", prog, kitls_strerror(rc));
        return -1;
    }
    ring_u = u;
    return 0;
}

void ex_redis_stop(void)
{
    ring_u = NULL;
    kitls_redis_free(rd);
    rd = NULL;
}

int ex_redis_rotate(const char *prog, const struct ex_redis_opts *ro)
{
    struct kitls_redis_ring ring;
    kitls_redis *r;
    int rc;

    if (new_conn(prog, ro, &r) != 0)
        return 1;
    rc = kitls_redis_ring_rotate(r, (uint32_t)ro->rotate_period, &ring);
    kitls_redis_free(r);
    if (rc != 0) {
        fprintf(stderr, "%s: --rotate-ticket-keys: %s\n", prog, kitls_strerror(rc));
        return 1;
    }
    printf("generation %llu\n", (unsigned long long)ring.generation);
    for (int i = 0; i < 3; i++)
        printf("%s %02x%02x%02x%02x %lld\n",
               i == 0   ? "previous"
               : i == 1 ? "current"
                        : "next",
               ring.key[i].id[0], ring.key[i].id[1], ring.key[i].id[2], ring.key[i].id[3],
               (long long)ring.activate[i]);
    explicit_bzero(&ring, sizeof(ring));
    return 0;
}

size_t ex_redis_metrics(char *buf, size_t cap)
{
    struct kitls_redis_stats st;
    int n;

    if (rd == NULL)
        return 0;
    kitls_redis_get_stats(rd, &st);
    n = snprintf(buf, cap,
                 "# HELP kitls_redis_antireplay_total 0-RTT anti-replay checks on Redis, by "
                 "answer.\n"
                 "# TYPE kitls_redis_antireplay_total counter\n"
                 "kitls_redis_antireplay_total{result=\"fresh\"} %llu\n"
                 "kitls_redis_antireplay_total{result=\"replay\"} %llu\n"
                 "kitls_redis_antireplay_total{result=\"error\"} %llu\n"
                 "# HELP kitls_redis_failures_total Redis failures of anti-replay checks, by "
                 "kind (0-RTT refused).\n"
                 "# TYPE kitls_redis_failures_total counter\n"
                 "kitls_redis_failures_total{kind=\"timeout\"} %llu\n"
                 "kitls_redis_failures_total{kind=\"skipped\"} %llu\n"
                 "# HELP kitls_redis_outages_total Times Redis went from answering to not.\n"
                 "# TYPE kitls_redis_outages_total counter\n"
                 "kitls_redis_outages_total %llu\n"
                 "# HELP kitls_redis_up 1 if the last exchange with Redis worked.\n"
                 "# TYPE kitls_redis_up gauge\n"
                 "kitls_redis_up %d\n"
                 "# HELP kitls_redis_ring_total Ticket-key rings from Redis, by result.\n"
                 "# TYPE kitls_redis_ring_total counter\n"
                 "kitls_redis_ring_total{result=\"applied\"} %llu\n"
                 "kitls_redis_ring_total{result=\"refused\"} %llu\n",
                 (unsigned long long)st.fresh, (unsigned long long)st.replays,
                 (unsigned long long)st.errors, (unsigned long long)st.timeouts,
                 (unsigned long long)st.skipped, (unsigned long long)st.episodes, st.up,
                 (unsigned long long)st.ring_loads, (unsigned long long)st.ring_refused);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

#else /* !EX_HAVE_REDIS */

int ex_redis_rotate(const char *prog, const struct ex_redis_opts *ro)
{
    (void)ro;
    fprintf(stderr, "%s: --rotate-ticket-keys: built without hiredis\n", prog);
    return 2;
}

int ex_redis_start(const char *prog, const struct ex_redis_opts *ro)
{
    (void)prog;
    (void)ro;
    return 0;
}

int ex_redis_set_uring(const char *prog, struct kitls_uring *u, kitls_config *cfg)
{
    (void)prog;
    (void)u;
    (void)cfg;
    return 0;
}

void ex_redis_stop(void)
{
}

size_t ex_redis_metrics(char *buf, size_t cap)
{
    (void)buf;
    (void)cap;
    return 0;
}
#endif

int ex_redis_check_opts(const char *prog, const struct ex_redis_opts *ro, const struct ex_opts *o)
{
    const char *why = NULL;

#ifndef EX_HAVE_REDIS
    if (ro->url != NULL || ro->replay_redis || ro->keys_redis || ro->rotate)
        why = "built without hiredis (configure --with-hiredis; Debian libhiredis-dev)";
#endif
    if (why == NULL && (ro->replay_redis || ro->keys_redis || ro->rotate) && ro->url == NULL)
        why = "--replay-store redis, --ticket-keys redis and --rotate-ticket-keys need "
              "--redis URL";
    if (why == NULL && ro->keys_redis && o->ticket_key_file != NULL)
        why = "--ticket-keys redis and --ticket-key-file exclude each other";
    if (why == NULL && ro->replay_redis && o->early_data_max == 0)
        why = "--replay-store redis needs --early-data (the store only guards 0-RTT)";
    if (why == NULL && ro->url != NULL && !ro->replay_redis && !ro->keys_redis && !ro->rotate)
        why = "--redis: say what it is for (--replay-store redis, --ticket-keys redis or "
              "--rotate-ticket-keys)";
    if (why != NULL) {
        fprintf(stderr, "%s: %s\n", prog, why);
        return 2;
    }
    return 0;
}
