/*
 * The callback contract of test_uring_reentry.c on a real ring and real
 * loopback sockets: a kitls_uring server with kTLS asked for (both
 * directions; on a kernel without rekey with the close policy, so that
 * the connections still offload), clients in a thread with blocking
 * sockets and the userspace record layer.  On a host without the tls
 * module the connections stay in userspace; in the kTLS VMs
 * (tests/uring/vm-uring-guest.sh sets TEST_URING_EXPECT_KTLS=1) both
 * directions must be in the kernel, so EV_DATA and EV_EOF come from the
 * kTLS receive path the review's F1 was about.  Checked as in the fake
 * ring: events only while the connection is held, one EV_CLOSED and
 * nothing after it, the re-entrant call's documented effect.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reentry.h"
#include "testutil.h"
#include "uring_int.h"

struct rside {
    kitls_uring_conn *c;
    unsigned events[6], after_close;
    int closed, closed_reason, ktls_tx, ktls_rx;
    /* client side */
    int fd, local_port;
    kitls_conn *cli;
    uint8_t got[1024];
    size_t got_len;
};

struct rt {
    kitls_config *scfg, *ccfg;
    int port, ev, act, other, fired, ret, unheld, seen_a, seen_b, resumed;
    struct rside s[2]; /* s[0]: the connection whose event triggers the call */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the server (main thread) ---- */

static void srv_event(void *ctx, const struct kitls_uring_event *ev)
{
    struct rt *t = ctx;
    struct rside *s = ev->user;
    if (ev->type == KITLS_URING_EV_HANDSHAKE) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        ck_assert_int_eq(getpeername(kitls_uring_conn_fd(ev->conn), (struct sockaddr *)&sa, &sl),
                         0);
        int port = ntohs(sa.sin_port);
        s = port == __atomic_load_n(&t->s[0].local_port, __ATOMIC_ACQUIRE) ? &t->s[0] : &t->s[1];
        ck_assert_ptr_null(s->c);
        s->c = ev->conn;
        kitls_uring_conn_set_user(ev->conn, s);
        s->ktls_tx = ev->info->ktls_tx;
        s->ktls_rx = ev->info->ktls_rx;
        /* EV_HANDSHAKE follows the kTLS attempt: from here on what the
         * client sends reaches the kernel's receive path */
        __atomic_store_n(s == &t->s[1] ? &t->seen_b : &t->seen_a, 1, __ATOMIC_RELEASE);
        if (s == &t->s[0] && t->ev == KITLS_URING_EV_SENT)
            ck_assert_int_eq(kitls_uring_send(ev->conn, "hello", 5), 5);
    }
    if (!s)
        return; /* EV_CLOSED of a connection that never got established */
    if (!ev->conn->in_pump)
        t->unheld++;
    if (s->closed)
        s->after_close++;
    s->events[ev->type]++;
    if (s == &t->s[0] && (int)ev->type == t->ev && !t->fired) {
        t->fired = 1;
        kitls_uring_conn *target = t->s[t->other].c;
        switch (t->act) {
        case REENTRY_CLOSE: t->ret = kitls_uring_close(target); break;
        case REENTRY_ABORT: kitls_uring_abort(target); break;
        case REENTRY_SEND: t->ret = kitls_uring_send(target, "reentrant", 9); break;
        case REENTRY_PAUSE: kitls_uring_pause_recv(target, 1); break;
        default: t->ret = kitls_uring_key_update(target, 1); break;
        }
    } else if (ev->type == KITLS_URING_EV_DATA && s == &t->s[0] && t->ev == KITLS_URING_EV_CLOSED) {
        kitls_uring_abort(ev->conn); /* the scenario for EV_CLOSED */
    }
    if (ev->type == KITLS_URING_EV_EOF)
        (void)kitls_uring_close(ev->conn); /* the client is done (also after the call) */
    if (ev->type == KITLS_URING_EV_CLOSED) {
        s->closed = 1;
        s->closed_reason = ev->reason;
        s->c = NULL;
    }
}

/* ---- the clients (a thread, blocking sockets) ---- */

static int cli_flush(struct rside *s)
{
    const uint8_t *p;
    size_t n;
    while ((n = kitls_conn_out_peek(s->cli, &p)) > 0) {
        ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        kitls_conn_out_consume(s->cli, (size_t)w);
    }
    return 0;
}

static int cli_connect(struct rt *t, struct rside *s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)t->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)))
        return -1;
    struct timeval tv = {.tv_sec = 20};
    (void)setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    socklen_t sl = sizeof(sa);
    if (getsockname(s->fd, (struct sockaddr *)&sa, &sl))
        return -1;
    __atomic_store_n(&s->local_port, ntohs(sa.sin_port), __ATOMIC_RELEASE);
    s->cli = kitls_conn_new(t->ccfg);
    if (!s->cli || kitls_conn_set_server_name(s->cli, "localhost"))
        return -1;
    uint8_t buf[16384];
    for (;;) {
        int r = kitls_conn_handshake(s->cli);
        if (cli_flush(s))
            return -1;
        if (r == 0)
            return 0;
        if (r != KITLS_E_WANT_READ)
            return -1;
        ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
        if (n <= 0 || kitls_conn_feed(s->cli, buf, (size_t)n))
            return -1;
    }
}

/* Read what comes within idle_ms; answers close_notify.  1 when the
 * server ended the connection (close_notify, EOF or reset). */
static int cli_read(struct rside *s, int idle_ms)
{
    uint8_t buf[16384];
    for (;;) {
        int r;
        while ((r = kitls_conn_read(s->cli, s->got + s->got_len, sizeof(s->got) - s->got_len)) > 0)
            s->got_len += (size_t)r;
        if (r == KITLS_E_CLOSED) {
            if (!kitls_conn_close(s->cli))
                (void)cli_flush(s);
            return 1;
        }
        (void)cli_flush(s); /* a KeyUpdate answer */
        if (r != KITLS_E_WANT_READ)
            return 1;
        struct pollfd pf = {s->fd, POLLIN, 0};
        if (poll(&pf, 1, idle_ms) <= 0)
            return 0;
        ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
        if (n <= 0 || kitls_conn_feed(s->cli, buf, (size_t)n))
            return 1;
    }
}

/* Wait (10 s at most) until the server reported EV_HANDSHAKE (flag). */
static void wait_seen(int *flag)
{
    for (int i = 0; i < 2000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        usleep(5000);
}

static void *client_main(void *arg)
{
    struct rt *t = arg;
    struct rside *a = &t->s[0], *b = &t->s[1];
    if (cli_connect(t, b))
        return "connect b";
    wait_seen(&t->seen_b); /* b is established on the server before a starts */
    if (cli_connect(t, a))
        return "connect a";
    /* Our handshake ends when our Finished leaves; the server offloads
     * after reading it.  A record sent before then can arrive in the same
     * read as the Finished, and kitls_ktls_enable() takes it in userspace:
     * data is delivered from there first, and a close_notify leaves RX in
     * userspace for good (nothing left to receive; docs/uring.md, kTLS).
     * The kTLS VMs assert RX offload and want EV_DATA/EV_EOF from the
     * kernel's receive path: nothing is sent before the server's
     * EV_HANDSHAKE. */
    wait_seen(&t->seen_a);
    if (t->ev == KITLS_URING_EV_DATA || t->ev == KITLS_URING_EV_CLOSED) {
        if (kitls_conn_write(a->cli, (const uint8_t *)"ping", 4) != 4 || cli_flush(a))
            return "ping";
    } else if (t->ev == KITLS_URING_EV_EOF) {
        if (kitls_conn_close(a->cli) || cli_flush(a))
            return "close_notify";
    }
    /* Whatever the call did shows within a short quiet time; then the
     * clients end both connections (close_notify, FIN). */
    for (int i = 0; i < 2; i++) {
        struct rside *s = &t->s[i];
        if (!cli_read(s, 400)) {
            if (!kitls_conn_close(s->cli))
                (void)cli_flush(s);
            (void)cli_read(s, 2000);
        }
        shutdown(s->fd, SHUT_WR);
    }
    return NULL;
}

/* _i: the call, the event and the target (reentry_real_add()). */
START_TEST(real_reentrant_calls)
{
    struct rt t;
    memset(&t, 0, sizeof(t));
    t.act = _i % REENTRY_N_ACT;
    t.ev = 1 + (_i / REENTRY_N_ACT) % 5;
    t.other = _i / (REENTRY_N_ACT * 5);
    const char *e = getenv("TEST_URING_EXPECT_KTLS");
    int expect_ktls = e && atoi(e);
    t.scfg = tu_server_config(TU_P256);
    t.ccfg = tu_client_config();
    int rekey = kitls_ktls_probe_rekey(NULL);
    struct kitls_uring_params p = {.ktls = KITLS_URING_KTLS_BOTH,
                                   .flags = KITLS_URING_F_NODELAY |
                                            (rekey == 1 ? 0 : KITLS_URING_F_KTLS_REKEY_CLOSE)};
    kitls_uring *u;
    ck_assert_int_eq(kitls_uring_new(&u, NULL, &p, srv_event, &t), 0);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 16), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    t.port = ntohs(sa.sin_port);
    ck_assert_int_ge(kitls_uring_listen(u, lfd, t.scfg), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, client_main, &t), 0);
    double end = now_s() + 60;
    while (!(t.s[0].closed && t.s[1].closed) && now_s() < end) {
        ck_assert_int_ge(kitls_uring_run(u, 50), 0);
        if (t.act == REENTRY_PAUSE && t.fired && !t.resumed) {
            /* a round later: the connection reads again and goes on */
            t.resumed = 1;
            if (t.s[t.other].c)
                kitls_uring_pause_recv(t.s[t.other].c, 0);
        }
    }
    /* Both ended on their own (abort, close, the client's close_notify). */
    ck_assert_msg(t.s[0].closed && t.s[1].closed, "connections still open after 60 s");
    double t_loop = now_s();
    void *why;
    pthread_join(th, &why);
    ck_assert_msg(why == NULL, "client: %s", (const char *)why);
    double t_join = now_s();
    kitls_uring_free(u);
    close(lfd);
    if (getenv("REENTRY_DEBUG"))
        fprintf(stderr, "case %d: loop %.2f join %.2f free %.2f\n", _i, t_loop - (end - 60),
                t_join - t_loop, now_s() - t_join);
    ck_assert_msg(t.fired, "event %d never came", t.ev);
    ck_assert_int_eq(t.unheld, 0);
    for (int i = 0; i < 2; i++) {
        struct rside *s = &t.s[i];
        ck_assert_msg(s->events[KITLS_URING_EV_CLOSED] == 1, "conn %d: EV_CLOSED %u times", i,
                      s->events[KITLS_URING_EV_CLOSED]);
        ck_assert_uint_eq(s->after_close, 0);
        if (expect_ktls)
            ck_assert_msg(s->ktls_tx && s->ktls_rx, "conn %d not offloaded", i);
    }
    struct rside *tg = &t.s[t.other];
    int dying = t.ev == KITLS_URING_EV_CLOSED && !t.other;
    switch (t.act) {
    case REENTRY_ABORT:
        if (!dying)
            ck_assert_int_eq(tg->closed_reason, -ECANCELED);
        break;
    case REENTRY_CLOSE: ck_assert_int_eq(t.ret, 0); break;
    case REENTRY_SEND:
        if (dying) {
            ck_assert_int_eq(t.ret, -ENOTCONN);
        } else {
            ck_assert_int_eq(t.ret, 9);
            ck_assert_msg(memmem(tg->got, tg->got_len, "reentrant", 9) != NULL,
                          "client did not get the bytes");
        }
        break;
    case REENTRY_PAUSE: ck_assert_int_eq(t.ret, 0); break;
    default:
        ck_assert_msg(t.ret == 0 || (dying && t.ret == -ENOTCONN), "key_update: %d", t.ret);
        break;
    }
    for (int i = 0; i < 2; i++) {
        kitls_conn_free(t.s[i].cli);
        if (t.s[i].fd > 0)
            close(t.s[i].fd);
    }
    kitls_config_free(t.scfg);
    kitls_config_free(t.ccfg);
}
END_TEST

/* TEST_REENTRY_EVENTS (e.g. "2 4": EV_DATA and EV_EOF, the kTLS receive
 * path) adds only those events' cases, for the emulated VMs where every
 * case costs seconds. */
void reentry_real_add(TCase *tc)
{
    const char *only = getenv("TEST_REENTRY_EVENTS");
    for (int other = 0; other < 2; other++)
        for (int ev = 1; ev <= 5; ev++) {
            char want[2] = {(char)('0' + ev), 0};
            if (only && !strstr(only, want))
                continue;
            int first = REENTRY_N_ACT * (ev - 1) + REENTRY_N_ACT * 5 * other;
            tcase_add_loop_test(tc, real_reentrant_calls, first, first + REENTRY_N_ACT);
        }
}
