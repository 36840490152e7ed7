/*
 * Check tests for the io_uring driver (uring/), userspace record path on
 * loopback.  An echo server runs on its own driver and ring in a thread;
 * the tests connect with the driver's client side (owned or application
 * ring) and with raw sockets that misbehave: garbage instead of a
 * ClientHello, an oversize record, disconnects mid-handshake and
 * mid-transfer, silence (handshake timeout), more connections than the
 * bound, a reader that stops reading.  After each test the server must
 * have served everyone else and hold no connection (leaks are checked by
 * running this program under valgrind: tests/uring/run.sh).
 *
 * TEST_URING_SCALE (default 1.0) scales connection counts and sizes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kitls/kitls.h"
#include "kitls/ktls.h"
#include "kitls/uring.h"
#include "testutil.h"

static double scale = 1.0;
static int small_bufs; /* slow_reader: small socket buffers so queues fill */

static unsigned scaled(unsigned n)
{
    unsigned v = (unsigned)(n * scale);
    return v ? v : 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* The echo server (thread)                                           */
/* ------------------------------------------------------------------ */

struct server {
    pthread_t th;
    kitls_uring *u;
    kitls_config *cfg;
    int lfd, port;
    atomic_int stop;
    unsigned open_ok;
    struct kitls_uring_stats st;
    unsigned closed_visible;
    unsigned closed_reset; /* EV_CLOSED with reason -ECONNRESET or -EPIPE (plain -errno) */
    int paused_once;
    int file_fd; /* >= 0: send this file on each handshake, then close */
    size_t file_len;
    unsigned ktls_tx, ktls_rx, handshakes_seen;
    int ktls_reason;               /* of the last EV_HANDSHAKE */
    unsigned rekeys_tx, rekeys_rx; /* kTLS key changes, summed at EV_CLOSED */
    unsigned peak_conns;
};

static void srv_event(void *ctx, const struct kitls_uring_event *ev)
{
    struct server *s = ctx;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE:
        s->handshakes_seen++;
        s->ktls_tx += (unsigned)ev->info->ktls_tx;
        s->ktls_rx += (unsigned)ev->info->ktls_rx;
        s->ktls_reason = ev->info->ktls_reason;
        if (s->file_fd >= 0) {
            if (kitls_uring_sendfile(ev->conn, s->file_fd, 0, s->file_len) < 0 ||
                kitls_uring_close(ev->conn) < 0)
                ck_abort_msg("server sendfile");
        }
        break;
    case KITLS_URING_EV_DATA: {
        int r = kitls_uring_send(ev->conn, ev->data, ev->len);
        if (r < 0) /* the pause below keeps us under the bound */
            ck_abort_msg("server send: %d", r);
        if (kitls_uring_conn_queued(ev->conn) > 65536) {
            kitls_uring_pause_recv(ev->conn, 1);
            s->paused_once = 1;
        }
        break;
    }
    case KITLS_URING_EV_SENT: kitls_uring_pause_recv(ev->conn, 0); break;
    case KITLS_URING_EV_EOF: ck_assert_int_eq(kitls_uring_close(ev->conn), 0); break;
    case KITLS_URING_EV_CLOSED: {
        unsigned tx, rx;
        kitls_uring_conn_ktls_rekeys(ev->conn, &tx, &rx);
        s->rekeys_tx += tx;
        s->rekeys_rx += rx;
        s->closed_visible++;
        /* A system failure is the plain -errno in the close reason. */
        if (ev->reason == -ECONNRESET || ev->reason == -EPIPE)
            s->closed_reset++;
        else if (ev->reason)
            ck_assert_msg(!KITLS_ERR_IS_ERRNO(ev->reason) || ev->reason == -ECANCELED,
                          "server close reason %d (%s)", ev->reason, kitls_strerror(ev->reason));
        break;
    }
    default: break;
    }
}

static void *srv_main(void *arg)
{
    struct server *s = arg;
    double deadline = 0;
    for (;;) {
        if (atomic_load(&s->stop)) {
            /* let closing connections finish (bounded) */
            kitls_uring_get_stats(s->u, &s->st);
            if (!deadline)
                deadline = now_s() + 3;
            if (s->st.conns <= s->open_ok || now_s() > deadline)
                break;
        }
        int r = kitls_uring_run(s->u, 20);
        if (r < 0 && r != -EINTR)
            ck_abort_msg("server run: %d", r);
        struct kitls_uring_stats st;
        kitls_uring_get_stats(s->u, &st);
        if (st.conns > s->peak_conns)
            s->peak_conns = st.conns;
    }
    kitls_uring_get_stats(s->u, &s->st);
    kitls_uring_free(s->u);
    return NULL;
}

static void server_start(struct server *s, const struct kitls_uring_params *p)
{
    memset(s, 0, sizeof(*s));
    s->file_fd = -1;
    s->cfg = tu_server_config(TU_P256);
    ck_assert_ptr_nonnull(s->cfg);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s->lfd, 0);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (small_bufs) {
        int sz = 65536;
        setsockopt(s->lfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    ck_assert_int_eq(listen(s->lfd, 1024), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    ck_assert_int_eq(kitls_uring_new(&s->u, NULL, p, srv_event, s), 0);
    ck_assert_int_ge(kitls_uring_listen(s->u, s->lfd, s->cfg), 0);
}

static void server_run(struct server *s)
{
    ck_assert_int_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

/* Stop the server; it must hold no connection that the test did not leave
 * open on purpose (open_ok). */
static void server_stop(struct server *s, unsigned open_ok)
{
    s->open_ok = open_ok;
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    ck_assert_uint_le(s->st.conns, open_ok);
    ck_assert_uint_eq(s->st.handshaking <= s->st.conns, 1);
    close(s->lfd);
    kitls_config_free(s->cfg);
}

/* ------------------------------------------------------------------ */
/* Driver clients: echo a per-connection stream and verify it          */
/* ------------------------------------------------------------------ */

struct cjob {
    kitls_uring_conn *c;
    unsigned id;
    size_t total, sent, recvd;
    int ok, closed, reason, saw_eagain, pause_ms, abort_at, half_close, recv_only;
    unsigned pattern; /* stream id of the expected bytes */
    double paused_until;
};

struct clients {
    kitls_uring *u;
    struct io_uring ring; /* used when app_ring */
    int app_ring;
    struct cjob *jobs;
    unsigned n, closed;
};

static uint8_t sbyte(unsigned id, size_t off)
{
    return (uint8_t)((off * 131u + id * 7u + (off >> 9)) & 0xff);
}

static void c_pump(struct cjob *j)
{
    uint8_t buf[8192];
    while (!j->recv_only && j->sent < j->total) {
        size_t n = j->total - j->sent < sizeof(buf) ? j->total - j->sent : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = sbyte(j->id, j->sent + i);
        int r = kitls_uring_send(j->c, buf, n);
        if (r == -EAGAIN) {
            j->saw_eagain = 1;
            return;
        }
        if (r != (int)n)
            ck_abort_msg("client send: %d", r);
        j->sent += n;
    }
    if (j->half_close)
        ck_assert_int_eq(kitls_uring_close(j->c), 0);
}

static void cli_event(void *ctx, const struct kitls_uring_event *ev)
{
    (void)ctx;
    struct cjob *j = ev->user;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE:
        ck_assert_int_eq(ev->info->ktls_tx, 0); /* no kTLS asked */
        ck_assert_uint_ne(kitls_conn_suite(kitls_uring_conn_tls(ev->conn)), 0);
        if (j->pause_ms) {
            kitls_uring_pause_recv(j->c, 1);
            j->paused_until = now_s() + j->pause_ms / 1000.0;
        }
        c_pump(j);
        break;
    case KITLS_URING_EV_DATA: {
        size_t bad = ev->len;
        for (size_t i = 0; i < ev->len && bad == ev->len; i++)
            if (ev->data[i] != sbyte(j->pattern, j->recvd + i))
                bad = i;
        ck_assert_msg(bad == ev->len, "connection %u: byte %zu differs", j->id, j->recvd + bad);
    }
        j->recvd += ev->len;
        if (j->recvd > j->total)
            ck_abort_msg("connection %u: too much data", j->id);
        if (j->abort_at && j->recvd >= (size_t)j->abort_at) {
            kitls_uring_abort(j->c);
            break;
        }
        if (j->recvd == j->total) {
            j->ok = 1;
            ck_assert_int_eq(kitls_uring_close(j->c), 0);
        }
        break;
    case KITLS_URING_EV_SENT: c_pump(j); break;
    case KITLS_URING_EV_EOF: ck_assert_int_eq(kitls_uring_close(j->c), 0); break;
    case KITLS_URING_EV_CLOSED:
        j->closed = 1;
        j->reason = ev->reason;
        break;
    }
}

static void clients_init(struct clients *cl, unsigned n, int app_ring)
{
    memset(cl, 0, sizeof(*cl));
    cl->n = n;
    cl->app_ring = app_ring;
    cl->jobs = calloc(n, sizeof(*cl->jobs));
    ck_assert_ptr_nonnull(cl->jobs);
    struct kitls_uring_params p = {.max_conns = n + 8, .max_handshakes = n + 8, .entries = 256};
    if (app_ring) {
        ck_assert_int_eq(io_uring_queue_init(256, &cl->ring, 0), 0);
        ck_assert_int_eq(kitls_uring_new(&cl->u, &cl->ring, &p, cli_event, cl), 0);
    } else {
        ck_assert_int_eq(kitls_uring_new(&cl->u, NULL, &p, cli_event, cl), 0);
    }
}

static void clients_connect(struct clients *cl, kitls_config *ccfg, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (unsigned i = 0; i < cl->n; i++) {
        struct cjob *j = &cl->jobs[i];
        j->id = i;
        if (!j->recv_only)
            j->pattern = i;
        ck_assert_int_eq(kitls_uring_connect(cl->u, (struct sockaddr *)&sa, sizeof(sa), ccfg,
                                             "localhost", j, &j->c),
                         0);
        if (small_bufs) { /* before the SYN leaves: the SQE is not submitted yet */
            int sz = 65536;
            setsockopt(kitls_uring_conn_fd(j->c), SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        }
    }
}

/* One turn of the client loop (either ring mode). */
static void clients_turn(struct clients *cl, int ms)
{
    if (!cl->app_ring) {
        int r = kitls_uring_run(cl->u, ms);
        if (r < 0 && r != -EINTR)
            ck_abort_msg("client run: %d", r);
        return;
    }
    (void)kitls_uring_flush(cl->u);
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = (long long)ms * 1000000};
    struct io_uring_cqe *cqe;
    int r = io_uring_submit_and_wait_timeout(&cl->ring, &cqe, 1, &ts, NULL);
    if (r < 0 && r != -ETIME && r != -EINTR)
        ck_abort_msg("submit: %d", r);
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&cl->ring, head, cqe)
    {
        if (kitls_uring_handle_cqe(cl->u, cqe) != 1)
            ck_abort_msg("a CQE that is not the driver's");
        seen++;
    }
    io_uring_cq_advance(&cl->ring, seen);
}

static void clients_run(struct clients *cl, double limit_s)
{
    double end = now_s() + limit_s;
    for (;;) {
        unsigned closed = 0;
        for (unsigned i = 0; i < cl->n; i++) {
            struct cjob *j = &cl->jobs[i];
            closed += j->closed;
            if (j->paused_until && now_s() >= j->paused_until && !j->closed) {
                j->paused_until = 0;
                kitls_uring_pause_recv(j->c, 0);
            }
        }
        if (closed == cl->n)
            break;
        if (now_s() >= end)
            ck_abort_msg("clients did not finish (%u of %u closed)", closed, cl->n);
        clients_turn(cl, 10);
    }
}

static void clients_free(struct clients *cl)
{
    if (cl->app_ring) {
        kitls_uring_shutdown(cl->u);
        for (int i = 0; i < 500 && kitls_uring_inflight(cl->u); i++)
            clients_turn(cl, 10);
        ck_assert_uint_eq(kitls_uring_inflight(cl->u), 0);
        kitls_uring_free(cl->u);
        io_uring_queue_exit(&cl->ring);
    } else {
        kitls_uring_free(cl->u);
    }
    free(cl->jobs);
}

static void echo_run(unsigned n, size_t bytes, int app_ring, const struct kitls_uring_params *sp)
{
    struct server s;
    server_start(&s, sp);
    server_run(&s);
    kitls_config *ccfg = tu_client_config();
    struct clients cl;
    clients_init(&cl, n, app_ring);
    for (unsigned i = 0; i < n; i++)
        cl.jobs[i].total = bytes + i * 97;
    clients_connect(&cl, ccfg, s.port);
    clients_run(&cl, 40);
    for (unsigned i = 0; i < n; i++) {
        ck_assert_msg(cl.jobs[i].ok, "connection %u: %s", i, kitls_strerror(cl.jobs[i].reason));
        /* close_notify both ways */
        ck_assert_msg(cl.jobs[i].reason == 0, "connection %u: %s", i,
                      kitls_strerror(cl.jobs[i].reason));
    }
    clients_free(&cl);
    kitls_config_free(ccfg);
    server_stop(&s, 0);
    ck_assert_uint_eq(s.st.handshakes, n);
    ck_assert_uint_eq(s.closed_visible, n);
    ck_assert_uint_eq(s.st.handshake_failures, 0);
}

START_TEST(echo_many_owned_ring)
{
    echo_run(scaled(64), 48 * 1024, 0, NULL);
}
END_TEST

START_TEST(echo_many_app_ring_single_accept)
{
    struct kitls_uring_params p = {.flags = KITLS_URING_F_NO_MULTISHOT};
    echo_run(scaled(32), 20000, 1, &p);
}
END_TEST

START_TEST(echo_large_backpressure)
{
    /* 3 MB each way per connection: the server's queue bound pauses its
     * reading, the clients see -EAGAIN. */
    echo_run(scaled(4), 3u << 20, 0, NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Raw sockets                                                         */
/* ------------------------------------------------------------------ */

static int raw_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Read until EOF/reset or timeout; returns bytes read into buf, -1 on
 * timeout (the server did not close). */
static ssize_t raw_drain(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
    size_t got = 0;
    double end = now_s() + timeout_ms / 1000.0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return -1;
        uint8_t tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0)
            return (ssize_t)got;
        size_t take = (size_t)n < cap - got ? (size_t)n : cap - got;
        memcpy(buf + got, tmp, take);
        got += take;
    }
}

static void raw_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* A real ClientHello from the core. */
static uint8_t *client_hello(size_t *len)
{
    kitls_config *cfg = tu_client_config();
    kitls_conn *c = tu_client(cfg, "localhost");
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    uint8_t *ch = tu_out_copy(c, len);
    kitls_conn_free(c);
    kitls_config_free(cfg);
    return ch;
}

/* A normal client must still get through. */
static void check_service(int port)
{
    kitls_config *ccfg = tu_client_config();
    struct clients cl;
    clients_init(&cl, 2, 0);
    cl.jobs[0].total = cl.jobs[1].total = 5000;
    clients_connect(&cl, ccfg, port);
    clients_run(&cl, 10);
    ck_assert(cl.jobs[0].ok && cl.jobs[1].ok);
    clients_free(&cl);
    kitls_config_free(ccfg);
}

START_TEST(garbage_instead_of_client_hello)
{
    struct server s;
    server_start(&s, NULL);
    server_run(&s);
    int fd = raw_connect(s.port);
    const char *junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(send(fd, junk, strlen(junk), 0), (ssize_t)strlen(junk));
    uint8_t buf[64];
    ssize_t n = raw_drain(fd, buf, sizeof(buf), 3000);
    ck_assert_int_ge(n, 0); /* closed by the server */
    close(fd);
    /* random binary too */
    fd = raw_connect(s.port);
    uint8_t rnd[300];
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (uint8_t)(i * 37 + 11);
    ck_assert_int_eq(send(fd, rnd, sizeof(rnd), 0), (ssize_t)sizeof(rnd));
    ck_assert_int_ge(raw_drain(fd, buf, sizeof(buf), 3000), 0);
    close(fd);
    check_service(s.port);
    server_stop(&s, 0);
    ck_assert_uint_ge(s.st.handshake_failures, 2);
}
END_TEST

/* params.plain_reply: a client whose first byte is a letter (plain HTTP
 * to a TLS port) gets exactly those bytes in clear, no alert after them,
 * then EOF; a binary first byte still gets the alert; both receive paths
 * (buffer ring and the core's own buffer). */
START_TEST(plain_reply_to_plaintext_client)
{
    static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n";
    for (int ring = 0; ring < 2; ring++) {
        struct kitls_uring_params p = {.plain_reply = reply,
                                       .plain_reply_len = sizeof(reply) - 1,
                                       .flags = ring ? 0 : KITLS_URING_F_NO_BUF_RING};
        struct server s;
        server_start(&s, &p);
        server_run(&s);
        int fd = raw_connect(s.port);
        const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        ck_assert_int_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
        uint8_t buf[256];
        ssize_t n = raw_drain(fd, buf, sizeof(buf), 3000);
        ck_assert_int_eq(n, (ssize_t)sizeof(reply) - 1);
        ck_assert_mem_eq(buf, reply, sizeof(reply) - 1);
        close(fd);
        fd = raw_connect(s.port);
        uint8_t junk[16] = {0x01, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a};
        ck_assert_int_eq(send(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
        n = raw_drain(fd, buf, sizeof(buf), 3000);
        ck_assert_int_ge(n, 7);
        ck_assert_int_ge(tu_find_alert(buf, (size_t)n), 0); /* an alert, not the reply */
        ck_assert(memmem(buf, (size_t)n, "HTTP/", 5) == NULL);
        close(fd);
        check_service(s.port);
        server_stop(&s, 0);
        ck_assert_uint_eq(s.st.not_tls, 1);
    }
}
END_TEST

START_TEST(oversize_record)
{
    struct server s;
    server_start(&s, NULL);
    server_run(&s);
    int fd = raw_connect(s.port);
    /* a handshake record announcing 2^14 + 1 + 255 bytes of plaintext */
    uint8_t rec[5 + 16640];
    memset(rec, 0x41, sizeof(rec));
    rec[0] = 0x16;
    rec[1] = 0x03;
    rec[2] = 0x01;
    rec[3] = (uint8_t)((sizeof(rec) - 5) >> 8);
    rec[4] = (uint8_t)(sizeof(rec) - 5);
    (void)send(fd, rec, sizeof(rec), MSG_NOSIGNAL);
    uint8_t buf[64];
    ssize_t n = raw_drain(fd, buf, sizeof(buf), 3000);
    ck_assert_int_ge(n, 7);
    ck_assert_int_eq(tu_find_alert(buf, (size_t)n), 22); /* record_overflow */
    close(fd);
    check_service(s.port);
    server_stop(&s, 0);
}
END_TEST

START_TEST(disconnect_mid_handshake)
{
    struct server s;
    server_start(&s, NULL);
    server_run(&s);
    size_t chlen;
    uint8_t *ch = client_hello(&chlen);
    for (int i = 0; i < (int)scaled(20); i++) {
        int fd = raw_connect(s.port);
        size_t part = (size_t)(i % 2 ? chlen / 2 : chlen); /* partial, or whole then vanish */
        ck_assert_int_eq(send(fd, ch, part, 0), (ssize_t)part);
        if (i % 4 < 2)
            raw_reset(fd);
        else
            close(fd);
    }
    free(ch);
    check_service(s.port);
    usleep(200000);
    server_stop(&s, 0);
    ck_assert_uint_eq(s.st.handshakes, 2);
}
END_TEST

START_TEST(disconnect_mid_transfer)
{
    struct server s;
    server_start(&s, NULL);
    server_run(&s);
    kitls_config *ccfg = tu_client_config();
    struct clients cl;
    unsigned n = scaled(8);
    clients_init(&cl, n, 0);
    for (unsigned i = 0; i < n; i++) {
        cl.jobs[i].total = 2u << 20;
        cl.jobs[i].abort_at = 100000 + (int)i * 5000; /* RST while data flows both ways */
    }
    clients_connect(&cl, ccfg, s.port);
    clients_run(&cl, 20);
    for (unsigned i = 0; i < n; i++)
        ck_assert_int_eq(cl.jobs[i].reason, -ECANCELED);
    clients_free(&cl);
    kitls_config_free(ccfg);
    check_service(s.port);
    usleep(200000);
    server_stop(&s, 0);
    ck_assert_uint_eq(s.st.handshakes, n + 2);
    ck_assert_uint_eq(s.closed_visible, n + 2);
    ck_assert_uint_eq(s.closed_reset, n); /* the RSTs reached the application as -errno */
}
END_TEST

START_TEST(handshake_timeout)
{
    struct kitls_uring_params p = {.handshake_timeout_ms = 300};
    struct server s;
    server_start(&s, &p);
    server_run(&s);
    int fd = raw_connect(s.port);
    double t0 = now_s();
    uint8_t buf[16];
    ck_assert_int_ge(raw_drain(fd, buf, sizeof(buf), 3000), 0);
    double el = now_s() - t0;
    ck_assert_msg(el > 0.2 && el < 2.0, "closed after %.3f s", el);
    close(fd);
    check_service(s.port);
    server_stop(&s, 0);
    ck_assert_uint_ge(s.st.timeouts, 1);
}
END_TEST

START_TEST(bounded_connections)
{
    /* At most 4 connections: 8 silent ones fill the table; accepting
     * pauses (the rest wait in the backlog), the timeout frees slots, and
     * a real client gets through in the end. */
    struct kitls_uring_params p = {
        .max_conns = 4, .max_handshakes = 4, .handshake_timeout_ms = 250};
    struct server s;
    server_start(&s, &p);
    server_run(&s);
    int fds[8];
    for (int i = 0; i < 8; i++)
        fds[i] = raw_connect(s.port);
    usleep(100000);
    check_service(s.port);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    server_stop(&s, 0);
    /* never more than 4 at once; near the bound accepting is single-shot,
     * so nobody is accepted only to be closed (overload) */
    ck_assert_uint_le(s.peak_conns, 4);
    ck_assert_uint_eq(s.st.overloads, 0);
    ck_assert_msg(s.st.timeouts >= 8, "timeouts %llu", (unsigned long long)s.st.timeouts);
    ck_assert_uint_eq(s.st.handshakes, 2);
}
END_TEST

START_TEST(slow_reader)
{
    /* The client stops reading for 700 ms while sending 4 MB: the server's
     * queue fills, it pauses reading, the client's sends hit -EAGAIN;
     * then everything arrives intact. */
    struct server s;
    small_bufs = 1;
    server_start(&s, NULL);
    server_run(&s);
    kitls_config *ccfg = tu_client_config();
    struct clients cl;
    clients_init(&cl, 2, 0);
    cl.jobs[0].total = cl.jobs[1].total = 4u << 20;
    cl.jobs[0].pause_ms = 700;
    clients_connect(&cl, ccfg, s.port);
    small_bufs = 0;
    clients_run(&cl, 30);
    ck_assert(cl.jobs[0].ok && cl.jobs[1].ok);
    ck_assert(cl.jobs[0].saw_eagain);
    clients_free(&cl);
    kitls_config_free(ccfg);
    server_stop(&s, 0);
    ck_assert(s.paused_once);
}
END_TEST

START_TEST(half_close)
{
    /* The client sends, then closes its side at once; the echo still comes
     * back, then the server's close_notify: reason 0 both ways. */
    struct server s;
    server_start(&s, NULL);
    server_run(&s);
    kitls_config *ccfg = tu_client_config();
    struct clients cl;
    clients_init(&cl, 4, 0);
    for (int i = 0; i < 4; i++) {
        cl.jobs[i].total = 30000;
        cl.jobs[i].half_close = 1;
    }
    clients_connect(&cl, ccfg, s.port);
    clients_run(&cl, 10);
    for (int i = 0; i < 4; i++) {
        ck_assert(cl.jobs[i].ok);
        ck_assert_int_eq(cl.jobs[i].reason, 0);
    }
    clients_free(&cl);
    kitls_config_free(ccfg);
    server_stop(&s, 0);
}
END_TEST

START_TEST(free_with_operations_in_flight)
{
    /* Drivers freed while connections are mid-handshake and mid-transfer:
     * every operation is cancelled and every buffer freed (valgrind). */
    struct server s;
    server_start(&s, NULL);
    server_run(&s);
    kitls_config *ccfg = tu_client_config();
    for (int app_ring = 0; app_ring < 2; app_ring++) {
        struct clients cl;
        clients_init(&cl, scaled(16), app_ring);
        for (unsigned i = 0; i < cl.n; i++)
            cl.jobs[i].total = 1u << 20;
        clients_connect(&cl, ccfg, s.port);
        for (int t = 0; t < 3; t++)
            clients_turn(&cl, 5);
        clients_free(&cl);
    }
    kitls_config_free(ccfg);
    check_service(s.port);
    usleep(300000);
    server_stop(&s, 0);
}
END_TEST

START_TEST(server_shutdown_with_open_connections)
{
    /* Stop the server while clients hold established connections. */
    struct server s;
    server_start(&s, NULL);
    server_run(&s);
    kitls_config *ccfg = tu_client_config();
    struct clients cl;
    clients_init(&cl, 4, 0);
    for (int i = 0; i < 4; i++)
        cl.jobs[i].total = 64u << 20; /* never finishes */
    clients_connect(&cl, ccfg, s.port);
    double end = now_s() + 5;
    while (now_s() < end && cl.jobs[3].recvd < 100000)
        clients_turn(&cl, 10);
    s.open_ok = 4;
    atomic_store(&s.stop, 1);
    pthread_join(s.th, NULL); /* kitls_uring_free() with 4 live connections */
    ck_assert_uint_eq(s.st.conns, 4);
    clients_run(&cl, 10); /* the clients see the resets */
    for (int i = 0; i < 4; i++)
        ck_assert_int_ne(cl.jobs[i].reason, 0);
    clients_free(&cl);
    kitls_config_free(ccfg);
    close(s.lfd);
    kitls_config_free(s.cfg);
    ck_assert_uint_eq(s.closed_visible, 4); /* EV_CLOSED for each on free */
}
END_TEST

/* ------------------------------------------------------------------ */
/* kTLS (offloaded for real in the kTLS VM: tests/uring/vm-uring.sh)    */
/* ------------------------------------------------------------------ */

/* A counter of /proc/net/tls_stat, or -1 (no kTLS module loaded). */
static long tls_stat(const char *name)
{
    FILE *f = fopen("/proc/net/tls_stat", "r");
    if (!f)
        return -1;
    char key[64];
    long v, r = -1;
    while (fscanf(f, "%63s %ld", key, &v) == 2)
        if (!strcmp(key, name))
            r = v;
    fclose(f);
    return r;
}

/*
 * What the server's kTLS attempt must give: 1 = both directions in the
 * kernel, 0 = userspace.  Without kTLS in the kernel every connection
 * falls back (reason NO_MODULE/NO_ULP); with it, the default policy
 * offloads only where the kernel can rekey (6.14+) and the close policy
 * always.  TEST_URING_EXPECT_KTLS=1 (the VM script) makes a fallback for
 * lack of kTLS a failure.
 */
static int ktls_expected(int close_policy, int reason)
{
    const char *e = getenv("TEST_URING_EXPECT_KTLS");
    if (reason == KITLS_KTLS_R_NO_MODULE || reason == KITLS_KTLS_R_NO_ULP) {
        ck_assert_msg(!(e && atoi(e)), "kTLS expected, got: %s", kitls_ktls_reason_string(reason));
        return 0;
    }
    return close_policy || kitls_ktls_probe_rekey(NULL) == 1;
}

static void ktls_sendfile_run(int close_policy)
{
    /* kTLS asked by the server (the driver's clients stay in userspace and
     * check every byte).  Offloaded: the file is spliced through the
     * kernel (io_uring splice file -> pipe -> kTLS socket), the TLS
     * counters move; otherwise every connection reports its reason and the
     * same data flows through the userspace record layer. */
    char path[] = "/tmp/kitls-uring-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    size_t flen = 300000;
    uint8_t *data = malloc(flen);
    for (size_t i = 0; i < flen; i++)
        data[i] = sbyte(7, i);
    ck_assert_int_eq(write(fd, data, flen), (ssize_t)flen);
    free(data);
    long tx0 = tls_stat("TlsTxSw"), rx0 = tls_stat("TlsRxSw");
    struct kitls_uring_params p = {.ktls = KITLS_URING_KTLS_BOTH};
    if (close_policy)
        p.flags |= KITLS_URING_F_KTLS_REKEY_CLOSE;
    struct server s;
    server_start(&s, &p);
    s.file_fd = fd;
    s.file_len = flen;
    server_run(&s);
    kitls_config *ccfg = tu_client_config();
    struct clients cl;
    clients_init(&cl, 6, 0);
    for (int i = 0; i < 6; i++) {
        cl.jobs[i].total = flen;
        cl.jobs[i].recv_only = 1;
        cl.jobs[i].pattern = 7;
    }
    clients_connect(&cl, ccfg, s.port);
    clients_run(&cl, 40);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(cl.jobs[i].ok, "connection %d: %s", i, kitls_strerror(cl.jobs[i].reason));
    clients_free(&cl);
    kitls_config_free(ccfg);
    server_stop(&s, 0);
    close(fd);
    ck_assert_uint_eq(s.handshakes_seen, 6);
    long tx1 = tls_stat("TlsTxSw"), rx1 = tls_stat("TlsRxSw");
    fprintf(stderr,
            "test_uring: kTLS (%s policy) offloaded on %u/6 connections (tx), %u/6 (rx): %s; "
            "tls_stat TlsTxSw +%ld TlsRxSw +%ld\n",
            close_policy ? "close" : "require", s.ktls_tx, s.ktls_rx,
            kitls_ktls_reason_string(s.ktls_reason), tx0 >= 0 ? tx1 - tx0 : 0,
            rx0 >= 0 ? rx1 - rx0 : 0);
    if (ktls_expected(close_policy, s.ktls_reason)) {
        ck_assert_uint_eq(s.ktls_tx, 6);
        ck_assert_uint_eq(s.ktls_rx, 6);
        ck_assert_int_ge(tx1 - tx0, 6); /* the kernel's own count */
        ck_assert_int_ge(rx1 - rx0, 6);
    } else {
        ck_assert_uint_eq(s.ktls_tx + s.ktls_rx, 0);
        if (s.ktls_reason != KITLS_KTLS_R_NO_MODULE && s.ktls_reason != KITLS_KTLS_R_NO_ULP)
            ck_assert_int_eq(s.ktls_reason, KITLS_KTLS_R_NO_REKEY);
    }
}

START_TEST(ktls_requested_and_sendfile)
{
    ktls_sendfile_run(0);
}
END_TEST

START_TEST(ktls_close_policy_sendfile)
{
    ktls_sendfile_run(1);
}
END_TEST

START_TEST(ktls_aead_limit_echo)
{
    /* A tiny AEAD limit (8 records per key) on the server's kTLS TX: the
     * driver's io_uring sends on the offloaded socket must be counted and
     * a KeyUpdate sent before each key runs out; the clients (userspace)
     * check every echoed byte across the key changes.  Kernels without
     * rekey keep the default policy: no offload, the same data. */
    long rk0 = tls_stat("TlsTxRekeyOk");
    struct kitls_uring_params p = {.ktls = KITLS_URING_KTLS_BOTH, .ktls_key_update_limit = 8};
    struct server s;
    server_start(&s, &p);
    server_run(&s);
    kitls_config *ccfg = tu_client_config();
    struct clients cl;
    unsigned n = 3;
    size_t bytes = 1u << 20;
    clients_init(&cl, n, 0);
    for (unsigned i = 0; i < n; i++)
        cl.jobs[i].total = bytes + i * 1000;
    clients_connect(&cl, ccfg, s.port);
    clients_run(&cl, 60);
    for (unsigned i = 0; i < n; i++)
        ck_assert_msg(cl.jobs[i].ok && cl.jobs[i].reason == 0, "connection %u: %s", i,
                      kitls_strerror(cl.jobs[i].reason));
    clients_free(&cl);
    kitls_config_free(ccfg);
    server_stop(&s, 0);
    long rk1 = tls_stat("TlsTxRekeyOk");
    fprintf(stderr,
            "test_uring: AEAD limit 8: offloaded %u/%u (tx), server TX rekeys %u, RX rekeys %u; "
            "tls_stat TlsTxRekeyOk +%ld\n",
            s.ktls_tx, n, s.rekeys_tx, s.rekeys_rx, rk0 >= 0 ? rk1 - rk0 : 0);
    if (ktls_expected(0, s.ktls_reason)) {
        ck_assert_uint_eq(s.ktls_tx, n);
        /* >= 64 records of 16 KiB per connection, at most 7 per key */
        ck_assert_uint_ge(s.rekeys_tx, n * (unsigned)(bytes / 16384 / 7));
        ck_assert_int_ge(rk1 - rk0, (long)s.rekeys_tx);
    }
}
END_TEST

START_TEST(api_misuse)
{
    kitls_uring *u;
    ck_assert_int_eq(kitls_uring_new(NULL, NULL, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(kitls_uring_new(&u, NULL, NULL, NULL, NULL), 0);
    ck_assert_int_eq(kitls_uring_listen(u, -1, NULL), -EINVAL);
    ck_assert_int_eq(kitls_uring_unlisten(u, 3), -EINVAL);
    struct io_uring_cqe cqe = {.user_data = 42};
    ck_assert_int_eq(kitls_uring_handle_cqe(u, &cqe), 0); /* not the driver's */
    ck_assert_int_eq(kitls_uring_owns(u, &cqe), 0);
    ck_assert_int_eq(kitls_uring_send(NULL, "x", 1), -EINVAL);
    ck_assert_str_eq(kitls_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
    ck_assert_str_eq(kitls_strerror(-ECONNRESET), strerror(ECONNRESET));
    uint64_t ud = KITLS_URING_UD(0xA7, KITLS_URING_OP_SEND, 0x1234, 77);
    ck_assert_uint_eq(KITLS_URING_UD_TAG(ud), 0xA7);
    ck_assert_uint_eq(KITLS_URING_UD_OP(ud), KITLS_URING_OP_SEND);
    ck_assert_uint_eq(KITLS_URING_UD_GEN(ud), 0x1234);
    ck_assert_uint_eq(KITLS_URING_UD_SLOT(ud), 77);
    ck_assert_int_eq(kitls_uring_run(u, 0), 0); /* nothing to do: timeout */
    /* Hot reload: only an active listener takes a new config; the driver
     * holds its own references (the caller's are dropped here). */
    kitls_config *c1 = tu_server_config(TU_P256), *c2 = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_uring_listen_set_config(u, 0, c1), -EINVAL);
    ck_assert_int_eq(kitls_uring_listen_set_config(NULL, 0, c1), -EINVAL);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&la, sizeof(la)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    int lid = kitls_uring_listen(u, lfd, c1);
    ck_assert_int_ge(lid, 0);
    ck_assert_int_eq(kitls_uring_listen_set_config(u, lid, NULL), -EINVAL);
    ck_assert_int_eq(kitls_uring_listen_set_config(u, lid + 1, c2), -EINVAL);
    kitls_config_free(c1);
    ck_assert_int_eq(kitls_uring_listen_set_config(u, lid, c2), 0); /* frees c1 */
    ck_assert_int_eq(kitls_uring_unlisten(u, lid), 0);
    ck_assert_int_eq(kitls_uring_listen_set_config(u, lid, c2), -EINVAL);
    kitls_config_free(c2);
    close(lfd);
    kitls_uring_free(u);
    /* connect to a closed port: EV_CLOSED with -ECONNREFUSED */
    struct clients cl;
    clients_init(&cl, 1, 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    kitls_config *ccfg = tu_client_config();
    clients_connect(&cl, ccfg, ntohs(sa.sin_port));
    clients_run(&cl, 5);
    ck_assert_int_eq(cl.jobs[0].reason, -ECONNREFUSED);
    clients_free(&cl);
    kitls_config_free(ccfg);
}
END_TEST

static double t_start;
static void t_setup(void)
{
    t_start = now_s();
}
static void t_teardown(void)
{
    if (getenv("TEST_URING_TIMES"))
        fprintf(stderr, "  %.2f s\n", now_s() - t_start);
}

static void add(TCase *tc, const TTest *t, const char *name)
{
    const char *only = getenv("TEST_URING_ONLY");
    if (!only || strstr(name, only))
        _tcase_add_test(tc, t, 0, 0, 0, 1);
}
#define ADD(tc, t) add(tc, t, #t)

static Suite *uring_suite(void)
{
    Suite *s = suite_create("uring");
    TCase *tc = tcase_create("loopback");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    ADD(tc, api_misuse);
    ADD(tc, echo_many_owned_ring);
    ADD(tc, echo_many_app_ring_single_accept);
    ADD(tc, echo_large_backpressure);
    ADD(tc, garbage_instead_of_client_hello);
    ADD(tc, plain_reply_to_plaintext_client);
    ADD(tc, oversize_record);
    ADD(tc, disconnect_mid_handshake);
    ADD(tc, disconnect_mid_transfer);
    ADD(tc, handshake_timeout);
    ADD(tc, bounded_connections);
    ADD(tc, slow_reader);
    ADD(tc, half_close);
    ADD(tc, ktls_requested_and_sendfile);
    ADD(tc, ktls_close_policy_sendfile);
    ADD(tc, ktls_aead_limit_echo);
    ADD(tc, free_with_operations_in_flight);
    ADD(tc, server_shutdown_with_open_connections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *sc = getenv("TEST_URING_SCALE");
    if (sc && atof(sc) > 0)
        scale = atof(sc);
    /* io_uring may be disabled (sysctl kernel.io_uring_disabled, seccomp) */
    struct io_uring probe;
    if (io_uring_queue_init(4, &probe, 0) < 0) {
        fprintf(stderr, "test_uring: io_uring unavailable, skipping\n");
        return 77;
    }
    io_uring_queue_exit(&probe);
    tu_pki_init();
    SRunner *sr = srunner_create(uring_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
