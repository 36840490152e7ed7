/*
 * The io_uring driver's side of the asynchronous anti-replay check (issue
 * 19): a test store answers from the driver's own ring (kitls_uring_timer,
 * kitls_uring_watch_fd) while the driver keeps the connection parked;
 * accepted, replayed and timed-out checks end as they must, a parked
 * connection closed by its peer or by the handshake timeout ends and its
 * late answer is safe, and the watches' contract holds (one callback,
 * -ECANCELED after a cancel or shutdown).  One thread: the server's driver
 * (owned ring) and a sans-I/O client on a loopback socket take turns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kitls/kitls.h"
#include "kitls/uring.h"
#include "testutil.h"

static const struct kitls_ticket_key tkey = {{5, 5, 5, 5}, {55}};
static const char early_msg[] = "early-request";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the test store ---- */

enum store_mode {
    ST_DELAY,   /* answer from a kitls_uring_timer after delay_ms */
    ST_TIMEOUT, /* the backend (a pipe watch) never answers; the store's timer does */
    ST_HOLD,    /* keep the request: the test answers it */
};

struct req {
    struct store *st;
    kitls_uring_conn *uc;
    kitls_conn *tls;
    int verdict, watch_id;
};

struct store {
    kitls_uring *u;
    enum store_mode mode;
    unsigned delay_ms;
    int calls, answered, resume_ret, backend_res;
    uint8_t seen[8][16];
    int n_seen;
    int pipe[2];
    struct req *held;
};

static void answer(struct req *r, int verdict)
{
    ck_assert_int_eq(kitls_conn_antireplay_done(r->tls, verdict), 0);
    r->st->resume_ret = kitls_uring_conn_resume(r->uc);
    r->st->answered++;
}

static void on_delay(void *arg, int res)
{
    struct req *r = arg;
    ck_assert_int_eq(res, 0);
    answer(r, r->verdict);
    free(r);
}

static void on_backend(void *arg, int res)
{
    struct req *r = arg;
    r->st->backend_res = res;
    free(r); /* the last user of r: the timeout answered already */
}

static void on_timeout(void *arg, int res)
{
    struct req *r = arg;
    ck_assert_int_eq(res, 0);
    ck_assert_int_eq(kitls_uring_watch_cancel(r->st->u, r->watch_id), 0);
    ck_assert_int_eq(kitls_uring_watch_cancel(r->st->u, r->watch_id), -EALREADY);
    answer(r, -ETIMEDOUT);
}

static int store_fn(void *ctx, kitls_conn *c, const uint8_t *id, size_t len, int64_t expires)
{
    struct store *st = ctx;
    (void)expires;
    ck_assert_uint_eq(len, 16);
    st->calls++;
    struct req *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r->st = st;
    r->tls = c;
    r->uc = kitls_uring_conn_from_tls(c);
    ck_assert_ptr_nonnull(r->uc);
    ck_assert_ptr_eq(kitls_uring_conn_tls(r->uc), c);
    for (int i = 0; i < st->n_seen; i++)
        if (!memcmp(st->seen[i], id, 16))
            r->verdict = 1;
    if (!r->verdict && st->n_seen < 8)
        memcpy(st->seen[st->n_seen++], id, 16);
    switch (st->mode) {
    case ST_DELAY: ck_assert_int_gt(kitls_uring_timer(st->u, st->delay_ms, on_delay, r), 0); break;
    case ST_TIMEOUT:
        r->watch_id = kitls_uring_watch_fd(st->u, st->pipe[0], POLLIN, on_backend, r);
        ck_assert_int_gt(r->watch_id, 0);
        ck_assert_int_gt(kitls_uring_timer(st->u, 5, on_timeout, r), 0);
        break;
    case ST_HOLD: st->held = r; break;
    }
    return KITLS_ANTIREPLAY_PENDING;
}

/* ---- the server: a driver that echoes ---- */

struct server {
    kitls_uring *u;
    kitls_config *cfg;
    int lfd, port;
    unsigned handshakes, closed;
    uint8_t data[4096];
    size_t data_len;
    struct store st;
};

static void srv_event(void *ctx, const struct kitls_uring_event *ev)
{
    struct server *s = ctx;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE: s->handshakes++; break;
    case KITLS_URING_EV_DATA:
        ck_assert_uint_le(s->data_len + ev->len, sizeof(s->data));
        memcpy(s->data + s->data_len, ev->data, ev->len);
        s->data_len += ev->len;
        ck_assert_int_eq(kitls_uring_send(ev->conn, ev->data, ev->len), (int)ev->len);
        break;
    case KITLS_URING_EV_EOF: (void)kitls_uring_close(ev->conn); break;
    case KITLS_URING_EV_CLOSED: s->closed++; break;
    default: break;
    }
}

static void server_start(struct server *s, enum store_mode mode, unsigned hs_timeout_ms)
{
    memset(s, 0, sizeof(*s));
    s->cfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_ticket_keys(s->cfg, &tkey, 1), 0);
    ck_assert_int_eq(kitls_config_set_early_data(s->cfg, 4096), 0);
    ck_assert_int_eq(kitls_config_set_antireplay_async(s->cfg, store_fn, &s->st), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s->lfd, 0);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(s->lfd, 16), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    struct kitls_uring_params p = {.handshake_timeout_ms = hs_timeout_ms};
    ck_assert_int_eq(kitls_uring_new(&s->u, NULL, &p, srv_event, s), 0);
    ck_assert_int_ge(kitls_uring_listen(s->u, s->lfd, s->cfg), 0);
    s->st.u = s->u;
    s->st.mode = mode;
    s->st.delay_ms = 30;
    ck_assert_int_eq(pipe2(s->st.pipe, O_CLOEXEC), 0);
}

static void server_stop(struct server *s)
{
    kitls_uring_free(s->u);
    close(s->lfd);
    close(s->st.pipe[0]);
    close(s->st.pipe[1]);
    kitls_config_free(s->cfg);
}

static struct kitls_uring_stats server_stats(struct server *s)
{
    struct kitls_uring_stats st;
    kitls_uring_get_stats(s->u, &st);
    return st;
}

/* ---- the client: the core on a non-blocking loopback socket ---- */

struct cli {
    int fd;
    kitls_conn *c;
    int hs; /* last kitls_conn_handshake() result */
    size_t rx_bytes;
    uint8_t got[4096];
    size_t got_len;
};

static void cli_open(struct cli *k, kitls_config *ccfg, int port, kitls_session *sess)
{
    memset(k, 0, sizeof(*k));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    k->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(k->fd, 0);
    int r = connect(k->fd, (struct sockaddr *)&sa, sizeof(sa));
    ck_assert(r == 0 || errno == EINPROGRESS);
    k->c = tu_client(ccfg, "localhost");
    k->hs = KITLS_E_WANT_READ;
    if (sess) {
        ck_assert_int_eq(kitls_conn_set_session(k->c, sess), 0);
        ck_assert_int_eq(
            kitls_conn_write_early_data(k->c, (const uint8_t *)early_msg, sizeof(early_msg) - 1),
            (int)sizeof(early_msg) - 1);
    }
}

static void cli_close(struct cli *k)
{
    if (k->fd >= 0)
        close(k->fd);
    kitls_conn_free(k->c);
}

/* Move bytes both ways and advance the client once. */
static void cli_step(struct cli *k)
{
    const uint8_t *p;
    size_t n;
    while ((n = kitls_conn_out_peek(k->c, &p)) > 0) {
        ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        kitls_conn_out_consume(k->c, (size_t)w);
    }
    uint8_t buf[16384];
    ssize_t r = recv(k->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) {
        k->rx_bytes += (size_t)r;
        ck_assert_int_eq(kitls_conn_feed(k->c, buf, (size_t)r), 0);
    }
    if (!kitls_conn_is_established(k->c)) {
        k->hs = kitls_conn_handshake(k->c);
        return;
    }
    k->hs = 0;
    int m;
    while ((m = kitls_conn_read(k->c, k->got + k->got_len, sizeof(k->got) - k->got_len)) > 0)
        k->got_len += (size_t)m;
}

/* One turn of the server's ring, then of the client (if any). */
static void turn(struct server *s, struct cli *k)
{
    ck_assert_int_ge(kitls_uring_run(s->u, 2), 0);
    if (k)
        cli_step(k);
}

/* Turns until cond holds or ms pass; evaluates to cond. */
#define SPIN(s, k, ms, cond)                                                                       \
    ({                                                                                             \
        double end_ = now_s() + (ms) / 1000.0;                                                     \
        while (!(cond) && now_s() < end_)                                                          \
            turn((s), (k));                                                                        \
        (cond);                                                                                    \
    })

static struct cli *no_cli = NULL;

/* The client's session once its ticket came (one reference, taken once). */
static int have_ticket(struct cli *k, kitls_session **sess)
{
    if (!*sess)
        *sess = kitls_conn_get_session(k->c);
    return *sess != NULL;
}

/* A ticket from a full handshake through the server (no 0-RTT: the store
 * is not asked). */
static kitls_session *get_session(struct server *s, kitls_config *ccfg)
{
    struct cli k;
    cli_open(&k, ccfg, s->port, NULL);
    kitls_session *sess = NULL;
    ck_assert(SPIN(s, &k, 3000, have_ticket(&k, &sess)));
    ck_assert_int_eq(s->st.calls, 0);
    cli_close(&k);
    return sess;
}

static kitls_config *client_cfg(void)
{
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_early_data(cfg, 1), 0);
    return cfg;
}

/* 1-RTT data after the handshake comes back (echo; the echo of accepted
 * early data comes before it). */
static int got_ends_with(const struct cli *k, const char *msg)
{
    size_t n = strlen(msg);
    return k->got_len >= n && !memcmp(k->got + k->got_len - n, msg, n);
}

static void check_echo(struct server *s, struct cli *k, const char *msg)
{
    ck_assert_int_eq(kitls_conn_write(k->c, (const uint8_t *)msg, strlen(msg)), (int)strlen(msg));
    ck_assert(SPIN(s, k, 3000, got_ends_with(k, msg)));
}

static struct kitls_stats cfg_stats(struct server *s)
{
    struct kitls_stats st;
    ck_assert_int_eq(kitls_config_stats(s->cfg, &st), 0);
    return st;
}

/* While parked: nothing released to the application, nothing sent. */
START_TEST(parked_then_accepted)
{
    struct server s;
    server_start(&s, ST_HOLD, 0);
    kitls_config *ccfg = client_cfg();
    kitls_session *sess = get_session(&s, ccfg);
    unsigned hs0 = s.handshakes;
    struct cli k;
    cli_open(&k, ccfg, s.port, sess);
    ck_assert(SPIN(&s, &k, 3000, s.st.calls == 1));
    SPIN(&s, &k, 150, 0);
    ck_assert_uint_eq(s.data_len, 0);     /* no early data released */
    ck_assert_uint_eq(s.handshakes, hs0); /* no EV_HANDSHAKE */
    ck_assert_uint_eq(k.rx_bytes, 0);     /* no ServerHello */
    ck_assert_int_eq(k.hs, KITLS_E_WANT_READ);
    ck_assert_uint_eq(server_stats(&s).handshaking, 1);
    ck_assert_int_eq(kitls_uring_conn_resume(NULL), -EINVAL);
    /* The store answers from a timer on the driver's ring. */
    struct req *r = s.st.held;
    s.st.held = NULL;
    ck_assert_int_gt(kitls_uring_timer(s.u, 20, on_delay, r), 0);
    ck_assert(SPIN(&s, &k, 3000, kitls_conn_is_established(k.c) && s.data_len >= 13));
    ck_assert_int_eq(s.st.resume_ret, 0);
    ck_assert_int_eq(kitls_conn_early_data_status(k.c), KITLS_EARLY_ACCEPTED);
    ck_assert_uint_eq(s.data_len, sizeof(early_msg) - 1); /* delivered once */
    ck_assert(!memcmp(s.data, early_msg, sizeof(early_msg) - 1));
    check_echo(&s, &k, "+1rtt");
    ck_assert_uint_eq(k.got_len, sizeof(early_msg) - 1 + 5);
    ck_assert(!memcmp(k.got, "early-request+1rtt", k.got_len));
    ck_assert_uint_eq(s.handshakes, hs0 + 1);
    ck_assert_uint_eq(cfg_stats(&s).early_data[KITLS_STATS_EARLY_ACCEPTED], 1);
    cli_close(&k);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    server_stop(&s);
}
END_TEST

/* The same ticket twice: the store answers "seen" after its delay; the
 * second connection completes as 1-RTT and its early data never arrives. */
START_TEST(delayed_accept_then_replay)
{
    struct server s;
    server_start(&s, ST_DELAY, 0);
    kitls_config *ccfg = client_cfg();
    kitls_session *sess = get_session(&s, ccfg);
    for (int i = 0; i < 2; i++) {
        struct cli k;
        size_t before = s.data_len;
        cli_open(&k, ccfg, s.port, sess);
        ck_assert(SPIN(&s, &k, 3000, kitls_conn_is_established(k.c) && s.st.answered == i + 1));
        ck_assert_int_eq(s.st.calls, i + 1);
        ck_assert_int_eq(s.st.resume_ret, 0);
        if (i == 0) {
            ck_assert_int_eq(kitls_conn_early_data_status(k.c), KITLS_EARLY_ACCEPTED);
            ck_assert(SPIN(&s, &k, 3000, s.data_len == before + sizeof(early_msg) - 1));
        } else {
            ck_assert_int_eq(kitls_conn_early_data_status(k.c), KITLS_EARLY_REJECTED);
        }
        check_echo(&s, &k, i ? "second" : "first");
        ck_assert_uint_eq(s.data_len, before + (i ? 6 : sizeof(early_msg) - 1 + 5));
        cli_close(&k);
    }
    struct kitls_stats st = cfg_stats(&s);
    ck_assert_uint_eq(st.early_data[KITLS_STATS_EARLY_ACCEPTED], 1);
    ck_assert_uint_eq(st.early_data[KITLS_STATS_EARLY_REPLAYED], 1);
    ck_assert_uint_eq(st.early_data[KITLS_STATS_EARLY_REJECTED], 1);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    server_stop(&s);
}
END_TEST

/* The backend never answers: the store's own timer ends the check with
 * -ETIMEDOUT and cancels the backend's watch (-ECANCELED). */
START_TEST(store_timeout)
{
    struct server s;
    server_start(&s, ST_TIMEOUT, 0);
    kitls_config *ccfg = client_cfg();
    kitls_session *sess = get_session(&s, ccfg);
    struct cli k;
    cli_open(&k, ccfg, s.port, sess);
    ck_assert(SPIN(&s, &k, 3000, kitls_conn_is_established(k.c) && s.st.backend_res));
    ck_assert_int_eq(s.st.backend_res, -ECANCELED);
    ck_assert_int_eq(s.st.resume_ret, 0);
    ck_assert_int_eq(kitls_conn_early_data_status(k.c), KITLS_EARLY_REJECTED);
    check_echo(&s, &k, "after-timeout");
    ck_assert_uint_eq(s.data_len, 13); /* only the 1-RTT bytes */
    struct kitls_stats st = cfg_stats(&s);
    ck_assert_uint_eq(st.early_data[KITLS_STATS_EARLY_STORE_ERROR], 1);
    ck_assert_uint_eq(st.early_data[KITLS_STATS_EARLY_REJECTED], 1);
    cli_close(&k);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    server_stop(&s);
}
END_TEST

/* A parked connection whose peer leaves ends at once; its late answer is
 * safe and says so. */
START_TEST(parked_peer_close)
{
    struct server s;
    server_start(&s, ST_HOLD, 0);
    kitls_config *ccfg = client_cfg();
    kitls_session *sess = get_session(&s, ccfg);
    struct cli k;
    cli_open(&k, ccfg, s.port, sess);
    ck_assert(SPIN(&s, &k, 3000, s.st.calls == 1));
    close(k.fd);
    k.fd = -1;
    ck_assert(SPIN(&s, no_cli, 3000, server_stats(&s).conns == 0));
    ck_assert_uint_eq(server_stats(&s).handshaking, 0);
    ck_assert_uint_eq(s.data_len, 0);
    struct req *r = s.st.held;
    ck_assert_ptr_eq(kitls_uring_conn_from_tls(r->tls), r->uc); /* still findable */
    answer(r, 0);
    ck_assert_int_eq(s.st.resume_ret, -ENOTCONN);
    free(r);
    cli_close(&k);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    server_stop(&s);
}
END_TEST

/* A store that never answers: the handshake timeout still ends the
 * connection; an answer after it is safe. */
START_TEST(parked_handshake_timeout)
{
    struct server s;
    server_start(&s, ST_HOLD, 200);
    kitls_config *ccfg = client_cfg();
    kitls_session *sess = get_session(&s, ccfg);
    struct cli k;
    cli_open(&k, ccfg, s.port, sess);
    ck_assert(SPIN(&s, &k, 3000, s.st.calls == 1));
    ck_assert(SPIN(&s, &k, 3000, server_stats(&s).timeouts == 1));
    ck_assert(SPIN(&s, &k, 3000, server_stats(&s).conns == 0));
    struct req *r = s.st.held;
    answer(r, 1);
    ck_assert_int_eq(s.st.resume_ret, -ENOTCONN);
    free(r);
    cli_close(&k);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    server_stop(&s);
}
END_TEST

/* Freeing the driver with a parked connection never answered frees it
 * (leaks show under ASan/valgrind). */
START_TEST(free_while_parked)
{
    struct server s;
    server_start(&s, ST_HOLD, 0);
    kitls_config *ccfg = client_cfg();
    kitls_session *sess = get_session(&s, ccfg);
    struct cli k;
    cli_open(&k, ccfg, s.port, sess);
    ck_assert(SPIN(&s, &k, 3000, s.st.calls == 1));
    free(s.st.held); /* the store forgets it: no answer may follow the free */
    server_stop(&s);
    cli_close(&k);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
}
END_TEST

struct wres {
    int calls, res;
};

static void on_watch(void *arg, int res)
{
    struct wres *w = arg;
    w->calls++;
    w->res = res;
}

START_TEST(watch_fd_pipe)
{
    struct server s;
    server_start(&s, ST_HOLD, 0);
    struct wres w = {0};
    int id = kitls_uring_watch_fd(s.u, s.st.pipe[0], POLLIN, on_watch, &w);
    ck_assert_int_gt(id, 0);
    SPIN(&s, no_cli, 50, 0);
    ck_assert_int_eq(w.calls, 0); /* nothing to read yet */
    ck_assert_int_eq(write(s.st.pipe[1], "x", 1), 1);
    ck_assert(SPIN(&s, no_cli, 2000, w.calls == 1));
    ck_assert_int_ne(w.res & POLLIN, 0);
    SPIN(&s, no_cli, 30, 0);
    ck_assert_int_eq(w.calls, 1); /* one-shot */
    ck_assert_int_eq(kitls_uring_watch_cancel(s.u, id), -ENOENT);
    /* A timer: 0 when its time passed, not before. */
    struct wres t = {0};
    double t0 = now_s();
    ck_assert_int_gt(kitls_uring_timer(s.u, 40, on_watch, &t), 0);
    ck_assert(SPIN(&s, no_cli, 2000, t.calls == 1));
    ck_assert_int_eq(t.res, 0);
    ck_assert(now_s() - t0 >= 0.035);
    server_stop(&s);
}
END_TEST

START_TEST(watch_cancel)
{
    struct server s;
    server_start(&s, ST_HOLD, 0);
    struct wres w = {0}, t = {0}, late = {0};
    ck_assert_int_eq(kitls_uring_watch_fd(NULL, 0, POLLIN, on_watch, &w), -EINVAL);
    ck_assert_int_eq(kitls_uring_watch_fd(s.u, -1, POLLIN, on_watch, &w), -EINVAL);
    ck_assert_int_eq(kitls_uring_watch_fd(s.u, 0, POLLIN, NULL, &w), -EINVAL);
    ck_assert_int_eq(kitls_uring_timer(s.u, 1, NULL, &w), -EINVAL);
    ck_assert_int_eq(kitls_uring_watch_cancel(NULL, 1), -EINVAL);
    ck_assert_int_eq(kitls_uring_watch_cancel(s.u, 0), -ENOENT);
    ck_assert_int_eq(kitls_uring_watch_cancel(s.u, 12345), -ENOENT);
    int id = kitls_uring_watch_fd(s.u, s.st.pipe[0], POLLIN, on_watch, &w);
    int tid = kitls_uring_timer(s.u, 10000, on_watch, &t);
    ck_assert_int_gt(id, 0);
    ck_assert_int_gt(tid, 0);
    ck_assert_int_ne(id, tid);
    ck_assert_int_eq(kitls_uring_watch_cancel(s.u, id), 0);
    ck_assert_int_eq(kitls_uring_watch_cancel(s.u, id), -EALREADY);
    ck_assert_int_eq(kitls_uring_watch_cancel(s.u, tid), 0);
    ck_assert(SPIN(&s, no_cli, 2000, w.calls == 1 && t.calls == 1));
    ck_assert_int_eq(w.res, -ECANCELED);
    ck_assert_int_eq(t.res, -ECANCELED);
    ck_assert_int_eq(kitls_uring_watch_cancel(s.u, id), -ENOENT);
    SPIN(&s, no_cli, 30, 0);
    ck_assert_int_eq(w.calls + t.calls, 2); /* once each */
    /* Shutdown cancels what is left; nothing new after it. */
    ck_assert_int_gt(kitls_uring_watch_fd(s.u, s.st.pipe[0], POLLIN, on_watch, &late), 0);
    kitls_uring_shutdown(s.u);
    ck_assert(SPIN(&s, no_cli, 2000, late.calls == 1));
    ck_assert_int_eq(late.res, -ECANCELED);
    ck_assert_int_eq(kitls_uring_timer(s.u, 1, on_watch, &late), -ESHUTDOWN);
    server_stop(&s);
}
END_TEST

static int calls_of(const struct wres *w, int n)
{
    int done = 0;
    for (int i = 0; i < n; i++)
        done += w[i].calls;
    return done;
}

/* Many timers at once, cancelling every other one, twice over (the table
 * grows and its slots are reused): each callback runs once, with 0 or
 * -ECANCELED as it should, and live ids are distinct. */
START_TEST(many_timers)
{
    struct server s;
    server_start(&s, ST_HOLD, 0);
    enum { N = 100 };
    for (int round = 0; round < 2; round++) {
        struct wres w[N];
        int ids[N];
        memset(w, 0, sizeof(w));
        for (int i = 0; i < N; i++) {
            ids[i] = kitls_uring_timer(s.u, i % 2 ? 5000 : 5, on_watch, &w[i]);
            ck_assert_int_gt(ids[i], 0);
            for (int j = 0; j < i; j++)
                ck_assert_int_ne(ids[i], ids[j]);
        }
        for (int i = 1; i < N; i += 2)
            ck_assert_int_eq(kitls_uring_watch_cancel(s.u, ids[i]), 0);
        ck_assert(SPIN(&s, no_cli, 3000, calls_of(w, N) == N));
        for (int i = 0; i < N; i++) {
            ck_assert_int_eq(w[i].calls, 1);
            ck_assert_int_eq(w[i].res, i % 2 ? -ECANCELED : 0);
        }
    }
    server_stop(&s);
}
END_TEST

/* An application ring: the watch's CQE carries the driver's tag and goes
 * through kitls_uring_handle_cqe(); the application's own CQE does not. */
START_TEST(watch_on_app_ring)
{
    struct io_uring ring;
    ck_assert_int_eq(io_uring_queue_init(16, &ring, 0), 0);
    kitls_uring *u;
    ck_assert_int_eq(kitls_uring_new(&u, &ring, NULL, NULL, NULL), 0);
    struct wres t = {0};
    ck_assert_int_gt(kitls_uring_timer(u, 10, on_watch, &t), 0);
    struct io_uring_sqe *own = io_uring_get_sqe(&ring);
    ck_assert_ptr_nonnull(own);
    io_uring_prep_nop(own);
    io_uring_sqe_set_data64(own, 42); /* the application's tag: top byte 0 */
    ck_assert_int_ge(io_uring_submit(&ring), 1);
    int mine = 0;
    double end = now_s() + 2;
    while ((t.calls == 0 || !mine) && now_s() < end) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&ring, &cqe) < 0)
            continue;
        if (kitls_uring_owns(u, cqe)) {
            ck_assert_int_eq(kitls_uring_handle_cqe(u, cqe), 1);
        } else {
            ck_assert_int_eq(kitls_uring_handle_cqe(u, cqe), 0);
            ck_assert_uint_eq(cqe->user_data, 42);
            mine = 1;
        }
        io_uring_cqe_seen(&ring, cqe);
    }
    ck_assert_int_eq(t.calls, 1);
    ck_assert_int_eq(t.res, 0);
    ck_assert_int_eq(mine, 1);
    ck_assert_uint_eq(kitls_uring_inflight(u), 0);
    kitls_uring_shutdown(u);
    kitls_uring_free(u);
    io_uring_queue_exit(&ring);
}
END_TEST

START_TEST(from_tls_misuse)
{
    ck_assert_ptr_null(kitls_uring_conn_from_tls(NULL));
    kitls_config *cfg = tu_client_config();
    kitls_conn *c = tu_client(cfg, "localhost");
    ck_assert_ptr_null(kitls_uring_conn_from_tls(c)); /* not driven by a kitls_uring */
    kitls_conn_free(c);
    kitls_config_free(cfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("uring_async");
    TCase *tc = tcase_create("async anti-replay");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, parked_then_accepted);
    tcase_add_test(tc, delayed_accept_then_replay);
    tcase_add_test(tc, store_timeout);
    tcase_add_test(tc, parked_peer_close);
    tcase_add_test(tc, parked_handshake_timeout);
    tcase_add_test(tc, free_while_parked);
    tcase_add_test(tc, watch_fd_pipe);
    tcase_add_test(tc, watch_cancel);
    tcase_add_test(tc, many_timers);
    tcase_add_test(tc, watch_on_app_ring);
    tcase_add_test(tc, from_tls_misuse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    struct io_uring probe;
    if (io_uring_queue_init(4, &probe, 0) < 0) {
        fprintf(stderr, "test_uring_async: io_uring unavailable, skipping\n");
        return 77;
    }
    io_uring_queue_exit(&probe);
    tu_pki_init();
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
