/*
 * The io_uring driver's lingering close (issue 14, "Alerts lost to a TCP
 * reset"; uring/linger.c): after a fatal alert, or close_notify
 * both ways with the peer's bytes still unread, the driver sends what it
 * has, shuts down its write side and reads and discards input (bounded)
 * before it closes, so the peer reads the alert then EOF, not a reset.
 *
 * One real ring, one thread: the driver (owned ring, kitls_uring_run) and
 * a client (the core on a non-blocking socket) take turns.  The client
 * completes a handshake, then sends a record that cannot decrypt followed
 * by junk and keeps its socket open, so the driver lingers.  Then, by
 * case: the client closes (the linger ends at EOF); kitls_uring_free(),
 * kitls_uring_shutdown() or kitls_uring_abort() cut it short; the deadline
 * ends it; and an orderly close with junk after the client's close_notify.
 * Every case checks that the lingering connection emits no event but one
 * EV_CLOSED, is counted (stats conns, lingering) until then, and -- under
 * ASan -- is freed once.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kitls/kitls.h"
#include "kitls/uring.h"
#include "testutil.h"

enum { L_PEER_CLOSES, L_FREE, L_SHUTDOWN, L_ABORT, L_DEADLINE, L_ORDERLY, L_N };

struct lt {
    kitls_uring *u;
    kitls_config *scfg, *ccfg;
    int lfd, cfd;
    kitls_conn *cl;
    kitls_uring_conn *c; /* the server's connection, until EV_CLOSED */
    unsigned ev[8], after_fail, after_closed;
    int failing, closed_reason;
    int cl_eof, cl_reset;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    struct lt *t = ctx;
    if (t->ev[KITLS_URING_EV_CLOSED])
        t->after_closed++;
    t->ev[ev->type]++;
    if (t->failing && ev->type != KITLS_URING_EV_CLOSED &&
        !(ev->type == KITLS_URING_EV_EOF && t->failing == 2))
        t->after_fail++;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE: t->c = ev->conn; break;
    case KITLS_URING_EV_EOF: /* the orderly case: answer the close_notify */
        ck_assert_int_eq(kitls_uring_close(ev->conn), 0);
        break;
    case KITLS_URING_EV_CLOSED:
        t->closed_reason = ev->reason;
        t->c = NULL;
        break;
    default: break;
    }
}

static void turn(struct lt *t)
{
    int r = kitls_uring_run(t->u, 5);
    ck_assert_msg(r >= 0 || r == -EINTR, "run: %d", r);
}

/* The client's side: its output out, what arrived in. */
static void cl_io(struct lt *t)
{
    const uint8_t *p;
    size_t n;
    while ((n = kitls_conn_out_peek(t->cl, &p)) > 0) {
        ssize_t w = send(t->cfd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            break;
        kitls_conn_out_consume(t->cl, (size_t)w);
    }
    while (!t->cl_eof && !t->cl_reset) {
        uint8_t *b;
        size_t cap;
        if (kitls_conn_in_reserve(t->cl, &b, &cap) < 0)
            break;
        ssize_t r = recv(t->cfd, b, cap, MSG_DONTWAIT);
        if (r > 0) {
            ck_assert_int_eq(kitls_conn_in_commit(t->cl, (size_t)r), 0);
        } else if (r == 0) {
            t->cl_eof = 1;
        } else {
            if (errno == ECONNRESET)
                t->cl_reset = 1;
            break;
        }
    }
}

/* The client's raw bytes, bypassing its core: as much as the socket takes. */
static void cl_raw(struct lt *t, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(t->cfd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void cl_junk(struct lt *t)
{
    static uint8_t junk[65536];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 13 + 5);
    cl_raw(t, junk, sizeof(junk));
}

static struct kitls_uring_stats stats(struct lt *t)
{
    struct kitls_uring_stats st;
    kitls_uring_get_stats(t->u, &st);
    return st;
}

static void lt_open(struct lt *t)
{
    memset(t, 0, sizeof(*t));
    t->scfg = tu_server_config(TU_P256);
    t->ccfg = tu_client_config();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(t->lfd, 0);
    ck_assert_int_eq(bind(t->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(t->lfd, 8), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(t->lfd, (struct sockaddr *)&sa, &len), 0);
    int r = kitls_uring_new(&t->u, NULL, NULL, on_event, t);
    if (r == -ENOSYS || r == -EPERM) {
        fprintf(stderr, "SKIP: io_uring unavailable (%d)\n", r);
        exit(77);
    }
    ck_assert_int_eq(r, 0);
    ck_assert_int_ge(kitls_uring_listen(t->u, t->lfd, t->scfg), 0);
    t->cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(t->cfd, 0);
    r = connect(t->cfd, (struct sockaddr *)&sa, sizeof(sa));
    ck_assert(r == 0 || errno == EINPROGRESS);
    t->cl = tu_client(t->ccfg, "localhost");
    double end = now_s() + 5;
    while (!t->ev[KITLS_URING_EV_HANDSHAKE] || !kitls_conn_is_established(t->cl)) {
        ck_assert_msg(now_s() < end, "no handshake");
        if (!kitls_conn_is_established(t->cl)) {
            r = kitls_conn_handshake(t->cl);
            ck_assert_msg(r == 0 || r == KITLS_E_WANT_READ, "client: %s", kitls_strerror(r));
        }
        cl_io(t);
        turn(t);
    }
    uint8_t buf[256];
    while (kitls_conn_read(t->cl, buf, sizeof(buf)) > 0) /* tickets: nothing to read */
        ;
}

/* The failure: a record that cannot decrypt, then junk the server will
 * not have read when it fails; then the server lingers: its alert and its
 * FIN reach the client, which keeps its socket open. */
static void lt_fail(struct lt *t)
{
    static const uint8_t bad[5 + 32] = {0x17, 0x03, 0x03, 0x00, 0x20};
    t->failing = 1;
    cl_raw(t, bad, sizeof(bad));
    cl_junk(t);
    double end = now_s() + 3;
    while (!t->cl_eof && !t->cl_reset && !t->ev[KITLS_URING_EV_CLOSED] && now_s() < end) {
        turn(t);
        cl_io(t);
    }
}

/* The client read the alert, then EOF: no reset. */
static void check_alert_then_eof(struct lt *t, int expect)
{
    uint8_t buf[64];
    int r = kitls_conn_read(t->cl, buf, sizeof(buf));
    ck_assert_msg(!t->cl_reset, "the client got a reset");
    ck_assert_msg(t->cl_eof, "no EOF after the alert");
    ck_assert_msg(r == expect, "client read: %s", kitls_strerror(r));
    /* and no reset a moment later (a close with our junk unread) */
    for (int i = 0; i < 10; i++)
        turn(t);
    char b;
    ssize_t n = recv(t->cfd, &b, 1, MSG_DONTWAIT);
    ck_assert_msg(n == 0, "after EOF: %s", n < 0 ? strerror(errno) : "data");
    if (KITLS_ERR_IS_PEER_ALERT(expect))
        ck_assert_int_eq(kitls_conn_peer_alert(t->cl), 20); /* bad_record_mac */
}

/* Lingering: counted, silent, not yet reported closed. */
static void check_lingering(struct lt *t)
{
    struct kitls_uring_stats st = stats(t);
    ck_assert_uint_eq(st.lingering, 1);
    ck_assert_uint_eq(st.conns, 1);
    ck_assert_uint_eq(st.handshaking, 0);
    ck_assert_uint_eq(t->ev[KITLS_URING_EV_CLOSED], 0);
    ck_assert_ptr_nonnull(t->c);
    ck_assert_int_eq(kitls_uring_send(t->c, "x", 1), -ENOTCONN);
    ck_assert_int_eq(kitls_uring_close(t->c), 0);
    ck_assert_int_eq(kitls_uring_key_update(t->c, 0), -ENOTCONN);
    kitls_uring_pause_recv(t->c, 0);
    for (int i = 0; i < 10; i++)
        turn(t);
    ck_assert_uint_eq(stats(t).lingering, 1);
}

static double wait_closed(struct lt *t, double limit)
{
    double t0 = now_s();
    while (!t->ev[KITLS_URING_EV_CLOSED] && now_s() - t0 < limit)
        turn(t);
    ck_assert_msg(t->ev[KITLS_URING_EV_CLOSED] == 1, "EV_CLOSED %u times",
                  t->ev[KITLS_URING_EV_CLOSED]);
    return now_s() - t0;
}

static void lt_close(struct lt *t)
{
    if (t->u) {
        struct kitls_uring_stats st = stats(t);
        ck_assert_uint_eq(st.conns, 0);
        ck_assert_uint_eq(st.lingering, 0);
        kitls_uring_free(t->u);
    }
    ck_assert_uint_eq(t->ev[KITLS_URING_EV_CLOSED], 1);
    ck_assert_uint_eq(t->after_closed, 0);
    ck_assert_uint_eq(t->after_fail, 0);
    ck_assert_uint_eq(t->ev[KITLS_URING_EV_DATA], 0);
    kitls_conn_free(t->cl);
    close(t->cfd);
    close(t->lfd);
    kitls_config_free(t->scfg);
    kitls_config_free(t->ccfg);
}

START_TEST(linger_cases)
{
    struct lt t;
    lt_open(&t);
    if (_i == L_ORDERLY) {
        /* close_notify, then bytes the server will not read: it answers
         * with its close_notify, shuts down writing and drains */
        t.failing = 2;
        ck_assert_int_eq(kitls_conn_close(t.cl), 0);
        cl_io(&t);
        cl_junk(&t);
        double end = now_s() + 3;
        while (!t.cl_eof && !t.cl_reset && !t.ev[KITLS_URING_EV_CLOSED] && now_s() < end) {
            turn(&t);
            cl_io(&t);
        }
        check_alert_then_eof(&t, KITLS_E_CLOSED);
        check_lingering(&t);
        close(t.cfd);
        t.cfd = -1;
        ck_assert_double_lt(wait_closed(&t, 3), 0.5);
        ck_assert_int_eq(t.closed_reason, 0);
        lt_close(&t);
        return;
    }
    lt_fail(&t);
    check_alert_then_eof(&t, KITLS_E_PEER_ALERT(20)); /* bad_record_mac */
    check_lingering(&t);
    double took;
    switch (_i) {
    case L_PEER_CLOSES: /* EOF ends the drain at once */
        shutdown(t.cfd, SHUT_WR);
        took = wait_closed(&t, 3);
        ck_assert_double_lt(took, 0.5);
        break;
    case L_FREE: /* the driver goes away mid-linger */
        took = now_s();
        kitls_uring_free(t.u);
        t.u = NULL;
        ck_assert_double_lt(now_s() - took, 0.5);
        break;
    case L_SHUTDOWN:
        kitls_uring_shutdown(t.u);
        took = wait_closed(&t, 3);
        ck_assert_double_lt(took, 0.5);
        break;
    case L_ABORT:
        kitls_uring_abort(t.c);
        took = wait_closed(&t, 3);
        ck_assert_double_lt(took, 0.5);
        break;
    case L_DEADLINE: /* the client never closes: URING_LINGER_MS */
        took = wait_closed(&t, 5);
        ck_assert_msg(took > 0.5 && took < 2.5, "linger lasted %.2f s", took);
        break;
    default: break;
    }
    ck_assert_uint_eq(t.ev[KITLS_URING_EV_CLOSED], 1);
    ck_assert_int_eq(t.closed_reason, KITLS_E_BAD_RECORD_MAC); /* the first reason stays */
    lt_close(&t);
}
END_TEST

int main(void)
{
    tu_pki_init();
    Suite *s = suite_create("uring-linger");
    TCase *tc = tcase_create("linger");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, linger_cases, 0, L_N);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
