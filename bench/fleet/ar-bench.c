/*
 * bench/fleet/ar-bench: what the fleet's anti-replay check costs a 0-RTT
 * handshake (issue 19).  In memory (no sockets): N tickets from full
 * handshakes, then N 0-RTT handshakes against a server config with the
 * in-process store and N against one with the Redis store
 * (kitls_redis_antireplay, blocking), timing the server's side of each
 * handshake (wall and thread CPU) and the check itself; then N checks in
 * flight at once on one pipelined connection (what the asynchronous store
 * on a busy io_uring server sees), timing each from the send to its reply.
 *   ar-bench CERT KEY REDIS_URL [N]
 * Prints one line per measure: P50 and P99 in microseconds.
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "kitls/redis.h"

static double now_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    printf("%-44s P50 %8.1f us  P99 %8.1f us  (n=%d)\n", what, v[n / 2], v[(n * 99) / 100], n);
}

static void move(kitls_conn *from, kitls_conn *to)
{
    const uint8_t *p;
    size_t len;

    while ((len = kitls_conn_out_peek(from, &p)) > 0) {
        if (kitls_conn_feed(to, p, len) < 0)
            exit(1);
        kitls_conn_out_consume(from, len);
    }
}

/* Timed server side of one handshake; *early: 0-RTT accepted. */
static int run(kitls_conn *cli, kitls_conn *srv, double *wall, double *cpu, int *early)
{
    uint8_t buf[256];

    *wall = *cpu = 0;
    for (int round = 0; round < 16; round++) {
        int rc = kitls_conn_handshake(cli);
        if (rc < 0 && rc != KITLS_E_WANT_READ)
            return rc;
        move(cli, srv);
        double w0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_THREAD_CPUTIME_ID);
        rc = kitls_conn_handshake(srv);
        while (rc == KITLS_E_EARLY_DATA && kitls_conn_read_early_data(srv, buf, sizeof(buf)) > 0)
            rc = kitls_conn_handshake(srv);
        *wall += now_us(CLOCK_MONOTONIC) - w0;
        *cpu += now_us(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (rc < 0 && rc != KITLS_E_WANT_READ && rc != KITLS_E_EARLY_DATA)
            return rc;
        move(srv, cli);
        if (kitls_conn_is_established(cli) && kitls_conn_is_established(srv)) {
            if (kitls_conn_read(cli, buf, sizeof(buf)) > 0) /* takes the NewSessionTicket */
                return -1; /* no application data expected */
            *early = kitls_conn_early_data_status(srv) == KITLS_EARLY_ACCEPTED;
            return 0;
        }
    }
    return -1;
}

static double check_us[100000];
static int nchecks;
static int timed_check(void *ctx, const uint8_t *id, size_t len, int64_t expires)
{
    double t0 = now_us(CLOCK_MONOTONIC);
    int rc = kitls_redis_antireplay(ctx, id, len, expires);
    if (nchecks < 100000)
        check_us[nchecks++] = now_us(CLOCK_MONOTONIC) - t0;
    return rc;
}

int main(int argc, char **argv)
{
    int n = argc > 4 ? atoi(argv[4]) : 1000, early, accepted;
    struct kitls_ticket_key tk;
    kitls_config *ccfg = kitls_config_new(KITLS_ROLE_CLIENT), *scfg[2];
    kitls_session **sess;
    kitls_redis *r;
    double *wall, *cpu, w, c;
    char prefix[64], label[96];
    uint32_t tag;

    if (argc < 4 || n < 10 || n > 100000) {
        fprintf(stderr, "usage: ar-bench CERT KEY REDIS_URL [N]\n");
        return 2;
    }
    sess = calloc((size_t)n, sizeof(*sess));
    wall = calloc((size_t)n, sizeof(*wall));
    cpu = calloc((size_t)n, sizeof(*cpu));
    if (getrandom(&tk, sizeof(tk), 0) != sizeof(tk) || getrandom(&tag, sizeof(tag), 0) != 4)
        return 1;
    snprintf(prefix, sizeof(prefix), "bench:%08x:", tag);
    if (kitls_redis_new(&r, &(struct kitls_redis_params){
                                .url = argv[3], .prefix = prefix, .timeout_ms = 1000}) != 0)
        return 1;
    if (kitls_config_set_verify(ccfg, KITLS_VERIFY_NONE) != 0 ||
        kitls_config_set_early_data(ccfg, UINT32_MAX) != 0)
        return 1;
    for (int i = 0; i < 2; i++) {
        scfg[i] = kitls_config_new(KITLS_ROLE_SERVER);
        if (kitls_config_add_cert_files(scfg[i], argv[1], argv[2]) != 0 ||
            kitls_config_set_ticket_keys(scfg[i], &tk, 1) != 0 ||
            kitls_config_set_early_data(scfg[i], 16384) != 0)
            return 1;
    }
    if (kitls_config_set_antireplay(scfg[1], timed_check, r) != 0)
        return 1;
    /* The tickets (full handshakes on the in-process config). */
    for (int i = 0; i < n; i++) {
        kitls_conn *cl = kitls_conn_new(ccfg), *sv = kitls_conn_new(scfg[0]);
        if (run(cl, sv, &w, &c, &early) != 0 || (sess[i] = kitls_conn_get_session(cl)) == NULL) {
            fprintf(stderr, "ar-bench: full handshake %d failed\n", i);
            return 1;
        }
        kitls_conn_free(cl);
        kitls_conn_free(sv);
    }
    /* The same tickets against each store (neither has seen them). */
    for (int k = 0; k < 2; k++) {
        accepted = 0;
        for (int i = 0; i < n; i++) {
            kitls_conn *cl = kitls_conn_new(ccfg), *sv = kitls_conn_new(scfg[k]);
            if (kitls_conn_set_session(cl, sess[i]) != 0 ||
                kitls_conn_write_early_data(cl, (const uint8_t *)"GET / early\r\n", 13) != 13 ||
                run(cl, sv, &wall[i], &cpu[i], &early) != 0) {
                fprintf(stderr, "ar-bench: 0-RTT handshake %d failed\n", i);
                return 1;
            }
            accepted += early;
            kitls_conn_free(cl);
            kitls_conn_free(sv);
        }
        const char *st = k == 0 ? "in-process store" : "Redis store (blocking)";
        printf("# %s: %d of %d 0-RTT accepted\n", st, accepted, n);
        snprintf(label, sizeof(label), "server handshake wall, %s", st);
        report(label, wall, n);
        snprintf(label, sizeof(label), "server handshake CPU, %s", st);
        report(label, cpu, n);
    }
    report("the Redis check alone (SET NX PX, 1 in flight)", check_us, nchecks);

    /* n checks in flight at once on one connection. */
    {
        redisContext *ctx;
        redisReply *rep;
        int port = atoi(strrchr(argv[3], ':') + 1);
        double t0, c0;
        ctx = redisConnect("127.0.0.1", port);
        if (ctx == NULL || ctx->err)
            return 1;
        t0 = now_us(CLOCK_MONOTONIC);
        c0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < n; i++)
            redisAppendCommand(ctx, "SET %sc%08x%d 1 NX PX 12000", prefix, tag, i);
        for (int i = 0; i < n; i++) {
            if (redisGetReply(ctx, (void **)&rep) != REDIS_OK)
                return 1;
            wall[i] = now_us(CLOCK_MONOTONIC) - t0;
            freeReplyObject(rep);
        }
        c = now_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
        snprintf(label, sizeof(label), "%d checks in flight: send to reply", n);
        report(label, wall, n);
        printf("%-44s %8.2f us per check (client side: format, parse)\n",
               "  kitls-side CPU of those checks", c / n);
        redisFree(ctx);
    }
    for (int i = 0; i < n; i++)
        kitls_session_free(sess[i]);
    kitls_config_free(scfg[0]);
    kitls_config_free(scfg[1]);
    kitls_config_free(ccfg);
    kitls_redis_free(r);
    free(sess);
    free(wall);
    free(cpu);
    return 0;
}
