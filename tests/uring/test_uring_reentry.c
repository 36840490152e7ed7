/*
 * The io_uring driver's callback contract (include/kitls/uring.h): every
 * callback may close, abort, send or key-update any connection, its own
 * included, and the driver frees nothing it still uses (issue 14, F1:
 * kitls_uring_abort() from a kTLS RX EV_DATA/EV_EOF freed the connection
 * uring_conn_cqe() then used).
 *
 * Every callback kind (accept+handshake, connect+handshake, data, sent,
 * EOF, closed orderly, closed by abort, closed by an error) x {close, abort, send,
 * key_update, pause_recv} x {this connection, another one}, with TLS in
 * userspace and with both directions in kTLS.
 * Deterministic: the driver runs on an application ring whose SQEs are
 * never submitted; a fake ring (below) completes them itself against
 * in-memory peers, and with kTLS against the fake kernel of tests/ktls
 * (whose recvmsg returns the record type as the real one does), which the
 * test hands to each connection before its handshake ends.  Run under
 * ASan (tests/run-all.sh) any use after free shows; the test itself checks
 * that every event is emitted while the driver holds the connection, that
 * each connection reports EV_CLOSED once and nothing after, and that the
 * re-entrant call had its documented effect.
 */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakekernel.h"
#include "reentry.h"
#include "testutil.h"
#include "uring_int.h"

static const char *act_name[REENTRY_N_ACT] = {"close", "abort", "send", "key_update", "pause_recv"};
#define N_EV 5 /* KITLS_URING_EV_HANDSHAKE .. KITLS_URING_EV_CLOSED */

/* The callback kinds of the matrix: the event and how it came.  A server
 * connection's first callback is its EV_HANDSHAKE (the driver reports
 * accepted connections from there on; here they come through the
 * listener's real on_accept()); EV_CLOSED three ways. */
enum kind { K_ACCEPT, K_CONNECT, K_DATA, K_SENT, K_EOF, K_CLOSE, K_ABORTED, K_ERROR, N_KIND };
static const char *kind_name[N_KIND] = {
    "accept+handshake", "connect+handshake", "data",          "sent", "eof",
    "closed (orderly)", "closed (abort)",    "closed (error)"};
static const int kind_ev[N_KIND] = {KITLS_URING_EV_HANDSHAKE, KITLS_URING_EV_HANDSHAKE,
                                    KITLS_URING_EV_DATA,      KITLS_URING_EV_SENT,
                                    KITLS_URING_EV_EOF,       KITLS_URING_EV_CLOSED,
                                    KITLS_URING_EV_CLOSED,    KITLS_URING_EV_CLOSED};
#define N_MATRIX (2 * REENTRY_N_ACT * N_KIND * 2) /* mode x call x kind x target */

/* One driver connection and its in-memory peer (a userspace client). */
struct side {
    int id;
    kitls_uring_conn *c;
    kitls_conn *peer;
    struct fk fk; /* the wire (fk.out: to the peer, fk.in: from it), and with kTLS the kernel */
    struct kitls_ktls_ops ops;
    int fd;        /* a socket the driver may close; never connected */
    int peer_fin;  /* the peer sent close_notify and its TCP FIN */
    int stay_open; /* after a fatal alert the peer keeps its socket open */
    int early;     /* right behind its Finished the peer sends 1: close_notify, 2: data too */
    int early_closed;
    int ktls_tx, ktls_rx; /* EV_HANDSHAKE's info */
    size_t rx_at_eof;     /* EV_DATA bytes before EV_EOF */
    unsigned events[N_EV + 1], after_close;
    int closed_reason;
    uint8_t got[65536]; /* what the peer read */
    size_t got_len;
    uint8_t rx[4096]; /* EV_DATA bytes */
    size_t rx_len;
};

struct op {
    uint64_t ud;
    uint8_t opcode;
    int fd;
    uint64_t addr;
    unsigned len;
    unsigned poll;
    int fd_in; /* splice */
    uint64_t off, off_in;
    unsigned sel; /* IOSQE_BUFFER_SELECT: the driver's provided buffer ring */
    int live;
};

struct t {
    struct io_uring ring;
    kitls_uring *u;
    kitls_config *scfg, *ccfg;
    int ktls;
    struct side s[2]; /* s[0]: the connection whose event triggers the call */
    struct op ops[512];
    int n_ops;
    /* the trigger */
    int ev, act, other, fired, ret;
    int unheld;      /* events emitted while the connection was not held */
    int hold_splice; /* splices into a socket stay in flight */
    int hold_poll;   /* polls stay in flight (no data comes) */
    int eio_once;    /* the next kTLS plain recv fails with EIO (a control record "next") */
    int lfd;         /* the listener's socket (never listening: the fake ring accepts) */
    uint16_t bhead;  /* the "kernel's" head in the driver's buffer ring */
    unsigned cflags; /* flags of the next completion */
};

/* ---- the fake ring ---- */

static struct side *side_of_fd(struct t *t, int fd)
{
    for (int i = 0; i < 2; i++)
        if (t->s[i].fd == fd)
            return &t->s[i];
    return NULL;
}

static struct kitls_uring_conn *conn_of(struct t *t, uint64_t ud)
{
    uint32_t slot = KITLS_URING_UD_SLOT(ud);
    if (slot >= t->u->p.max_conns)
        return NULL;
    struct kitls_uring_conn *c = t->u->table[slot];
    return c && c->gen == KITLS_URING_UD_GEN(ud) ? c : NULL;
}

/* Take the SQEs the driver queued since the last look (never submitted). */
static void collect(struct t *t)
{
    struct io_uring_sq *sq = &t->ring.sq;
    for (; sq->sqe_head != sq->sqe_tail; sq->sqe_head++) {
        const struct io_uring_sqe *e = &sq->sqes[sq->sqe_head & sq->ring_mask];
        ck_assert_int_lt(t->n_ops, (int)(sizeof(t->ops) / sizeof(t->ops[0])));
        struct op *o = &t->ops[t->n_ops++];
        *o = (struct op){.ud = e->user_data,
                         .opcode = e->opcode,
                         .fd = e->fd,
                         .addr = e->addr,
                         .len = e->len,
                         .poll = e->poll32_events,
                         .fd_in = e->splice_fd_in,
                         .off = e->off,
                         .off_in = e->splice_off_in,
                         .sel = (e->flags & IOSQE_BUFFER_SELECT) != 0,
                         .live = 1};
        if (o->sel)
            ck_assert_uint_eq(e->buf_group, URING_RXB_BGID(t->u));
    }
}

static void complete(struct t *t, struct op *o, int res)
{
    o->live = 0;
    if (getenv("FR_DEBUG"))
        fprintf(stderr, "op %u conn %u -> %d\n", o->opcode, KITLS_URING_UD_SLOT(o->ud), res);
    struct io_uring_cqe cqe = {.user_data = o->ud, .res = res, .flags = t->cflags};
    t->cflags = 0;
    ck_assert_int_eq(kitls_uring_handle_cqe(t->u, &cqe), 1);
    collect(t);
}

static void wire_add(struct fk_buf *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->len + n);
    ck_assert_ptr_nonnull(b->p);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* The peer's side: handshake, read what arrived (answering close_notify
 * with its own and a FIN), move bytes on the wire. */
static void peer_step(struct side *s)
{
    fk_pump(&s->fk, s->peer);
    if (!kitls_conn_is_established(s->peer)) {
        int r = kitls_conn_handshake(s->peer);
        ck_assert_msg(r == 0 || r == KITLS_E_WANT_READ, "peer %d handshake: %s", s->id,
                      kitls_strerror(r));
        if (r == 0 && s->early) {
            /* queued behind the Finished: the same fk_pump() moves them */
            if (s->early == 2)
                ck_assert_int_eq(kitls_conn_write(s->peer, (const uint8_t *)"early", 5), 5);
            ck_assert_int_eq(kitls_conn_close(s->peer), 0);
            s->early_closed = 1;
        }
    }
    if (kitls_conn_is_established(s->peer) && !s->peer_fin) {
        int r;
        while ((r = kitls_conn_read(s->peer, s->got + s->got_len, sizeof(s->got) - s->got_len)) > 0)
            s->got_len += (size_t)r;
        if (r == KITLS_E_CLOSED) {
            if (!s->early_closed)
                ck_assert_int_eq(kitls_conn_close(s->peer), 0);
            s->peer_fin = 1;
        } else if (r != KITLS_E_WANT_READ && !s->stay_open) {
            /* the driver aborted or failed: the peer gives up */
            s->peer_fin = 1;
        }
    }
    fk_pump(&s->fk, s->peer);
    if (s->peer_fin)
        s->fk.peer_eof = 1;
}

/* Complete what can complete; 1 if anything happened. */
static int ring_step(struct t *t)
{
    int progress = 0;
    collect(t); /* what the test's own calls queued */
    for (int i = 0; i < 2; i++)
        if (t->s[i].peer)
            peer_step(&t->s[i]);
    for (int i = 0; i < t->n_ops; i++) {
        struct op *o = &t->ops[i];
        if (!o->live)
            continue;
        struct kitls_uring_conn *c = conn_of(t, o->ud);
        struct side *s = side_of_fd(t, o->fd);
        switch (o->opcode) {
        case IORING_OP_POLL_ADD:
            if (t->hold_poll)
                continue;
            complete(t, o, (int)(o->poll & (POLLIN | POLLOUT)));
            break;
        case IORING_OP_ASYNC_CANCEL:
        case IORING_OP_TIMEOUT_REMOVE: {
            int found = -ENOENT;
            for (int j = 0; j < t->n_ops; j++)
                if (t->ops[j].live && t->ops[j].ud == o->addr && j != i) {
                    complete(t, &t->ops[j], -ECANCELED);
                    found = 0;
                    break;
                }
            complete(t, &t->ops[i], found);
            break;
        }
        case IORING_OP_SHUTDOWN: complete(t, o, 0); break;
        case IORING_OP_CONNECT: complete(t, o, 0); break;
        case IORING_OP_CLOSE: /* the lingering close's end (uring/conn.c dead_step) */
            complete(t, o, close(o->fd) < 0 ? -errno : 0);
            break;
        case IORING_OP_SPLICE:
            if (!s) {
                /* file -> pipe: done at once, for real */
                loff_t off = (loff_t)o->off_in;
                ssize_t r = splice(o->fd_in, &off, o->fd, NULL, o->len, 0);
                complete(t, o, r < 0 ? -errno : (int)r);
            } else {
                /* pipe -> kTLS socket: the kernel seals what it takes */
                if (t->hold_splice)
                    continue;
                uint8_t buf[65536];
                ssize_t r = read(o->fd_in, buf, o->len < sizeof(buf) ? o->len : sizeof(buf));
                ck_assert_int_gt(r, 0);
                for (ssize_t k = 0; k < r; k += 16384) { /* the kernel's records */
                    size_t n = r - k < 16384 ? (size_t)(r - k) : 16384;
                    struct iovec iov = {buf + k, n};
                    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
                    ck_assert_int_eq(s->ops.sendmsg(s->ops.ctx, FK_FD, &m, 0), (int)n);
                }
                complete(t, o, (int)r);
            }
            break;
        case IORING_OP_SEND:
            ck_assert_ptr_nonnull(c);
            ck_assert_ptr_nonnull(s);
            if (uring_sends_plain(c)) {
                /* the kernel seals plaintext on a TLS_TX socket */
                struct iovec iov = {(void *)(uintptr_t)o->addr, o->len};
                struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
                ck_assert_int_eq(s->ops.sendmsg(s->ops.ctx, FK_FD, &m, 0), (int)o->len);
            } else {
                wire_add(&s->fk.out, (const void *)(uintptr_t)o->addr, o->len);
            }
            complete(t, o, (int)o->len);
            break;
        case IORING_OP_RECV:
        case IORING_OP_RECVMSG: {
            ck_assert_ptr_nonnull(c);
            ck_assert_ptr_nonnull(s);
            ssize_t r;
            /* A buffer from the driver's ring, as the kernel would take it
             * when data (or the end) is there; none left: -ENOBUFS. */
            struct io_uring_buf *rb = NULL;
            uint64_t a = o->addr;
            unsigned l = o->len;
            struct iovec sel_iov;
            struct msghdr sel_msg;
            if (o->sel) {
                struct io_uring_buf_ring *br = t->u->rxb.br;
                ck_assert_ptr_nonnull(br);
                if (t->bhead == io_uring_smp_load_acquire(&br->tail)) {
                    complete(t, o, -ENOBUFS);
                    progress = 1;
                    continue;
                }
                rb = &br->bufs[t->bhead & (t->u->rxb.entries - 1)];
                sel_iov = (struct iovec){(void *)(uintptr_t)rb->addr, rb->len};
                if (o->opcode == IORING_OP_RECVMSG) {
                    sel_msg = *(struct msghdr *)(uintptr_t)a;
                    sel_msg.msg_iov = &sel_iov;
                    sel_msg.msg_iovlen = 1;
                    a = (uint64_t)(uintptr_t)&sel_msg;
                } else {
                    a = (uint64_t)rb->addr;
                    l = rb->len < l ? rb->len : l;
                }
            }
            if ((kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_RX) == 1) &&
                o->opcode == IORING_OP_RECV && t->eio_once && s->fk.in.len > s->fk.in.off) {
                t->eio_once = 0;
                r = -EIO;
            } else if ((kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_RX) == 1)) {
                struct msghdr *m = (struct msghdr *)(uintptr_t)a, plain;
                struct iovec iov = {(void *)(uintptr_t)a, l};
                if (o->opcode == IORING_OP_RECV) {
                    plain = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1};
                    m = &plain;
                }
                r = s->ops.recvmsg(s->ops.ctx, FK_FD, m, 0);
            } else {
                struct fk_buf *b = &s->fk.in;
                size_t n = b->len - b->off < l ? b->len - b->off : l;
                if (n) /* b->p is NULL before the first byte */
                    memcpy((void *)(uintptr_t)a, b->p + b->off, n);
                b->off += n;
                r = n ? (ssize_t)n : s->peer_fin ? 0 : -EAGAIN;
            }
            if (r == -EAGAIN)
                continue;       /* stays in flight */
            if (rb && r >= 0) { /* the end takes a buffer too, as in the kernel */
                t->cflags = IORING_CQE_F_BUFFER | (unsigned)rb->bid << IORING_CQE_BUFFER_SHIFT;
                t->bhead++;
            }
            complete(t, o, (int)r);
            break;
        }
        default: /* the driver's timer: never fires here */ continue;
        }
        progress = 1;
    }
    return progress;
}

static void settle(struct t *t)
{
    for (int round = 0; round < 2000; round++)
        if (!ring_step(t))
            return;
    ck_abort_msg("the fake ring never settled");
}

/* ---- events and the re-entrant call ---- */

static int do_act(struct t *t, kitls_uring_conn *target)
{
    switch (t->act) {
    case REENTRY_CLOSE: return kitls_uring_close(target);
    case REENTRY_ABORT: kitls_uring_abort(target); return 0;
    case REENTRY_SEND: return kitls_uring_send(target, "reentrant", 9);
    case REENTRY_PAUSE: kitls_uring_pause_recv(target, 1); return 0;
    default: return kitls_uring_key_update(target, 1);
    }
}

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    struct t *t = ctx;
    struct side *s = ev->user;
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(s->c, ev->conn);
    /* The structural rule: the driver holds a connection across every
     * event it emits, so nothing the callback calls can free it. */
    if (!ev->conn->in_pump)
        t->unheld++;
    if (s->events[KITLS_URING_EV_CLOSED])
        s->after_close++;
    s->events[ev->type]++;
    if (ev->type == KITLS_URING_EV_DATA) {
        ck_assert_uint_le(s->rx_len + ev->len, sizeof(s->rx));
        memcpy(s->rx + s->rx_len, ev->data, ev->len);
        s->rx_len += ev->len;
    }
    if (ev->type == KITLS_URING_EV_CLOSED)
        s->closed_reason = ev->reason;
    if (ev->type == KITLS_URING_EV_HANDSHAKE) {
        s->ktls_tx = ev->info->ktls_tx;
        s->ktls_rx = ev->info->ktls_rx;
    }
    if (ev->type == KITLS_URING_EV_EOF)
        s->rx_at_eof = s->rx_len;
    if (s->id == 0 && (int)ev->type == t->ev && !t->fired) {
        t->fired = 1;
        struct side *target = &t->s[t->other];
        t->ret = target->c ? do_act(t, target->c) : -EBADF;
    }
    if (ev->type == KITLS_URING_EV_CLOSED)
        s->c = NULL; /* the handle is invalid after this callback */
}

/* A server connection: the listener's accept completes with a new socket
 * and on_accept() makes the connection; with kTLS its kTLS object then
 * uses the fake kernel (no handshake byte has moved yet). */
static void side_open(struct t *t, int i)
{
    struct side *s = &t->s[i];
    s->id = i;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s->fd, 0);
    s->fk.rekey = 1;
    s->ops = fk_ops(&s->fk);
    s->peer = tu_client(t->ccfg, "localhost");
    collect(t);
    struct op *acc = NULL;
    for (int j = 0; j < t->n_ops; j++)
        if (t->ops[j].live && t->ops[j].opcode == IORING_OP_ACCEPT)
            acc = &t->ops[j];
    ck_assert_ptr_nonnull(acc);
    unsigned accepted = t->u->st.accepted;
    complete(t, acc, s->fd);
    ck_assert_uint_eq(t->u->st.accepted, accepted + 1);
    struct kitls_uring_conn *c = NULL;
    for (uint32_t k = 0; k < t->u->p.max_conns; k++)
        if (t->u->table[k] && t->u->table[k]->fd == s->fd)
            c = t->u->table[k];
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->st, CS_HANDSHAKE);
    kitls_uring_conn_set_user(c, s);
    s->c = c;
    if (t->ktls) {
        ck_assert_int_eq(uring_ktls_setup(c, FK_FD, &s->ops), 0);
        ck_assert_int_eq(kitls_ktls_set_rekey_support(c->ktls, 1), 0);
    }
    uring_conn_pump(c);
    collect(t);
}

/* A client connection (kitls_uring_connect; the fake ring completes the
 * connect) against an in-memory server peer; with kTLS its kTLS object
 * uses the fake kernel (the connect is still in flight: no byte moved). */
static void side_connect(struct t *t, int i)
{
    struct side *s = &t->s[i];
    s->id = i;
    s->fk.rekey = 1;
    s->ops = fk_ops(&s->fk);
    s->peer = tu_server(t->scfg);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    kitls_uring_conn *c;
    ck_assert_int_eq(
        kitls_uring_connect(t->u, (struct sockaddr *)&sa, sizeof(sa), t->ccfg, "localhost", s, &c),
        0);
    ck_assert_uint_eq(c->st, CS_CONNECTING);
    s->c = c;
    s->fd = kitls_uring_conn_fd(c);
    if (t->ktls) {
        ck_assert_int_eq(uring_ktls_setup(c, FK_FD, &s->ops), 0);
        ck_assert_int_eq(kitls_ktls_set_rekey_support(c->ktls, 1), 0);
    }
    collect(t);
}

/* kitls_uring_params.flags and .max_conns (0: 8) of the next t_open() */
static unsigned t_flags, t_max_conns;

static void t_open(struct t *t, int ktls)
{
    memset(t, 0, sizeof(*t));
    t->ktls = ktls;
    t->scfg = tu_server_config(TU_P256);
    t->ccfg = tu_client_config();
    ck_assert_int_eq(io_uring_queue_init(4096, &t->ring, 0), 0);
    struct kitls_uring_params p = {.max_conns = t_max_conns ? t_max_conns : 8,
                                   .ktls = ktls ? KITLS_URING_KTLS_BOTH : 0,
                                   .flags = t_flags};
    ck_assert_int_eq(kitls_uring_new(&t->u, &t->ring, &p, on_event, t), 0);
    /* server connections come through the listener (its accept stays in
     * flight until side_open() completes it) */
    t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(t->lfd, 0);
    ck_assert_int_ge(kitls_uring_listen(t->u, t->lfd, t->scfg), 0);
    collect(t);
}

/* free_now: kitls_uring_free() with operations in flight (an application
 * ring it cannot drain), else shutdown, completions, free. */
static void t_close_how(struct t *t, int free_now)
{
    if (!free_now) {
        kitls_uring_shutdown(t->u);
        collect(t);
        settle(t);
        ck_assert_uint_eq(kitls_uring_inflight(t->u), 0);
    }
    kitls_uring_free(t->u);
    io_uring_queue_exit(&t->ring);
    for (int i = 0; i < 2; i++) {
        struct side *s = &t->s[i];
        ck_assert_msg(s->events[KITLS_URING_EV_CLOSED] == 1, "conn %d: EV_CLOSED %u times", i,
                      s->events[KITLS_URING_EV_CLOSED]);
        ck_assert_msg(!s->after_close, "conn %d: %u events after EV_CLOSED", i, s->after_close);
        kitls_conn_free(s->peer);
        fk_free(&s->fk);
    }
    close(t->lfd);
    ck_assert_int_eq(t->unheld, 0);
    kitls_config_free(t->scfg);
    kitls_config_free(t->ccfg);
}

static void t_close(struct t *t)
{
    t_close_how(t, 0);
}

static void peer_write(struct t *t, int i, const char *msg)
{
    size_t n = strlen(msg);
    ck_assert_int_eq(kitls_conn_write(t->s[i].peer, (const uint8_t *)msg, n), (int)n);
    settle(t);
}

/* _i: bit 0 kTLS; then the call, the callback kind and the target. */
START_TEST(reentrant_calls)
{
    int ktls = _i & 1, rest = _i >> 1;
    struct t t;
    t_open(&t, ktls);
    t.act = rest % REENTRY_N_ACT;
    int kind = (rest / REENTRY_N_ACT) % N_KIND;
    t.ev = kind_ev[kind];
    t.other = rest / (REENTRY_N_ACT * N_KIND);
    const char *what = act_name[t.act];
    if (getenv("FR_DEBUG"))
        fprintf(stderr, "case %d: %s from %s on %s, %s\n", _i, what, kind_name[kind],
                t.other ? "other" : "self", ktls ? "kTLS" : "userspace");
    /* the other connection first, established */
    side_open(&t, 1);
    settle(&t);
    ck_assert_uint_eq(t.s[1].events[KITLS_URING_EV_HANDSHAKE], 1);
    if (kind == K_CONNECT)
        side_connect(&t, 0);
    else
        side_open(&t, 0);
    settle(&t);
    ck_assert_uint_eq(t.s[0].events[KITLS_URING_EV_HANDSHAKE], 1);
    if (ktls) /* both really in the (fake) kernel */
        for (int i = 0; i < 2; i++)
            if (t.s[i].c && !(t.ev == KITLS_URING_EV_HANDSHAKE && t.act == REENTRY_ABORT))
                ck_assert_msg(uring_sends_plain(t.s[i].c) &&
                                  kitls_ktls_is_offloaded(t.s[i].c->ktls, KITLS_DIR_RX) == 1,
                              "conn %d not offloaded", i);
    static const uint8_t bad[5 + 32] = {0x17, 0x03, 0x03, 0x00, 0x20}; /* cannot decrypt */
    switch (kind) {
    case K_DATA: peer_write(&t, 0, "ping"); break;
    case K_SENT:
        ck_assert_int_eq(kitls_uring_send(t.s[0].c, "hello", 5), 5);
        settle(&t);
        break;
    case K_EOF:
        ck_assert_int_eq(kitls_conn_close(t.s[0].peer), 0);
        settle(&t);
        break;
    case K_CLOSE: /* our close_notify, the peer's answer: reason 0 */
        ck_assert_int_eq(kitls_uring_close(t.s[0].c), 0);
        settle(&t);
        break;
    case K_ABORTED:
        kitls_uring_abort(t.s[0].c);
        settle(&t);
        break;
    case K_ERROR: /* a record that cannot decrypt: alert (userspace) or EBADMSG (kTLS) */
        wire_add(&t.s[0].fk.in, bad, sizeof(bad));
        settle(&t);
        break;
    default: break;
    }
    ck_assert_msg(t.fired, "%s never came (%s)", kind_name[kind], what);
    if (kind == K_CLOSE)
        ck_assert_int_eq(t.s[0].closed_reason, 0);
    if (kind == K_ERROR)
        ck_assert_msg(t.s[0].closed_reason != 0 && t.s[0].closed_reason != -ECANCELED,
                      "error: reason %d", t.s[0].closed_reason);
    /* the call's documented effect */
    struct side *tg = &t.s[t.other];
    int dying = t.ev == KITLS_URING_EV_CLOSED && !t.other;
    switch (t.act) {
    case REENTRY_ABORT:
        ck_assert_ptr_null(tg->c);
        if (!dying)
            ck_assert_int_eq(tg->closed_reason, -ECANCELED);
        break;
    case REENTRY_CLOSE:
        ck_assert_int_eq(t.ret, 0);
        if (!dying) {
            ck_assert_ptr_null(tg->c); /* orderly: the peer answered */
            ck_assert_int_eq(tg->closed_reason, 0);
        }
        break;
    case REENTRY_SEND:
        if (dying) {
            ck_assert_int_eq(t.ret, -ENOTCONN);
        } else if (t.ev == KITLS_URING_EV_EOF && t.other) {
            ck_assert_int_eq(t.ret, 9);
        } else {
            ck_assert_int_eq(t.ret, 9);
            ck_assert_msg(tg->got_len >= 9 && memmem(tg->got, tg->got_len, "reentrant", 9) != NULL,
                          "the peer did not get the bytes");
        }
        break;
    case REENTRY_PAUSE:
        ck_assert_int_eq(t.ret, 0);
        if (!dying && tg->c && !tg->peer_fin && !tg->c->peer_done && !tg->c->close_req &&
            !CS_DEAD(tg->c->st)) {
            /* no EV_DATA while paused; what came is delivered on resume */
            size_t before = tg->rx_len;
            peer_write(&t, t.other, "held");
            ck_assert_msg(tg->rx_len == before, "EV_DATA while paused (%s)", kind_name[kind]);
            kitls_uring_pause_recv(tg->c, 0);
            settle(&t);
            ck_assert_msg(tg->rx_len == before + 4 && !memcmp(tg->rx + before, "held", 4),
                          "nothing after the resume (%s)", kind_name[kind]);
        } else if (tg->c) {
            kitls_uring_pause_recv(tg->c, 0);
        }
        break;
    default: ck_assert_int_eq(t.ret, dying ? -ENOTCONN : 0); break;
    }
    /* whatever is still open still works both ways */
    for (int i = 0; i < 2; i++) {
        struct side *s = &t.s[i];
        if (!s->c || s->c->close_req || s->peer_fin || s->c->peer_done)
            continue;
        size_t before = s->rx_len;
        peer_write(&t, i, "after");
        ck_assert_msg(s->rx_len == before + 5 && !memcmp(s->rx + before, "after", 5),
                      "conn %d: no data after %s", i, what);
        size_t got = s->got_len;
        ck_assert_int_eq(kitls_uring_send(s->c, "back", 4), 4);
        settle(&t);
        ck_assert_uint_eq(s->got_len, got + 4);
    }
    t_close(&t);
}
END_TEST

/* The review's reproduction: an idle kTLS RX connection whose only
 * operation is the receive; the EV_DATA and EV_EOF callbacks abort it. */
START_TEST(abort_idle_ktls_rx)
{
    struct t t;
    t_open(&t, 1);
    t.act = REENTRY_ABORT;
    t.ev = _i ? KITLS_URING_EV_EOF : KITLS_URING_EV_DATA;
    side_open(&t, 0);
    side_open(&t, 1);
    settle(&t);
    ck_assert(kitls_ktls_is_offloaded(t.s[0].c->ktls, KITLS_DIR_RX) == 1);
    ck_assert_uint_eq(t.s[0].c->inflight, 1); /* the receive */
    if (_i)
        ck_assert_int_eq(kitls_conn_close(t.s[0].peer), 0);
    else
        ck_assert_int_eq(kitls_conn_write(t.s[0].peer, (const uint8_t *)"x", 1), 1);
    settle(&t);
    ck_assert(t.fired);
    ck_assert_ptr_null(t.s[0].c);
    ck_assert_int_eq(t.s[0].closed_reason, -ECANCELED);
    t_close(&t);
}
END_TEST

/* kTLS TX: our KeyUpdate and the TX key change wait while a splice into
 * the socket is in flight (include/kitls/ktls.h: no kitls_ktls_* call
 * under it; the review's "suspected" send.c item), then leave before the
 * next file bytes: the peer reads the whole file and our data after. */
START_TEST(ktls_no_rekey_under_splice)
{
    struct t t;
    t_open(&t, 1);
    t.ev = -1;
    ck_assert(t.u->have_splice);
    side_open(&t, 0);
    side_open(&t, 1);
    settle(&t);
    struct side *s = &t.s[0];
    ck_assert(uring_sends_plain(s->c));
    char path[] = "/tmp/kitls-reentry-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    static uint8_t file[40000]; /* over URING_FBUF: spliced, not read */
    for (size_t i = 0; i < sizeof(file); i++)
        file[i] = (uint8_t)(i * 7 + 1);
    ck_assert_int_eq(write(fd, file, sizeof(file)), (int)sizeof(file));
    t.hold_splice = 1;
    ck_assert_int_eq(kitls_uring_sendfile(s->c, fd, 0, sizeof(file)), 0);
    settle(&t);
    ck_assert(s->c->busy & BUSY(KITLS_URING_OP_SPLICE_OUT));
    unsigned long recs = s->fk.records_out;
    unsigned rekeys = s->fk.rekey_tx;
    ck_assert_int_eq(kitls_uring_key_update(s->c, 0), 0);
    settle(&t);
    ck_assert_uint_eq(s->fk.records_out, recs); /* no KeyUpdate under the splice */
    ck_assert_uint_eq(s->fk.rekey_tx, rekeys);  /* and no key change */
    t.hold_splice = 0;
    settle(&t);
    ck_assert_uint_eq(s->fk.rekey_tx, rekeys + 1);
    ck_assert_int_eq(kitls_uring_send(s->c, "tail", 4), 4);
    settle(&t);
    ck_assert_uint_eq(s->got_len, sizeof(file) + 4);
    ck_assert(memcmp(s->got, file, sizeof(file)) == 0);
    ck_assert(memcmp(s->got + sizeof(file), "tail", 4) == 0);
    ck_assert_int_eq(kitls_conn_error(s->peer), 0);
    close(fd);
    t_close(&t);
}
END_TEST

/* kTLS RX with plain recv: a recv that says EIO (a control record next)
 * when the record turns out to be data: kitls_ktls_recv_control() keeps
 * it and returns 2, and the driver delivers it. */
START_TEST(ktls_control_was_data)
{
    struct t t;
    t_open(&t, 1);
    t.ev = -1;
    t.u->have_recvmsg = 0;
    side_open(&t, 0);
    side_open(&t, 1);
    settle(&t);
    struct side *s = &t.s[0];
    ck_assert(kitls_ktls_is_offloaded(s->c->ktls, KITLS_DIR_RX) == 1);
    t.eio_once = 1;
    peer_write(&t, 0, "data");
    ck_assert_int_eq(t.eio_once, 0);
    ck_assert_uint_eq(t.u->st.ktls_ctrl_sync, 1); /* the plain recv's EIO was read synchronously */
    ck_assert_uint_eq(s->rx_len, 4);
    ck_assert(memcmp(s->rx, "data", 4) == 0);
    peer_write(&t, 0, "more");
    ck_assert_uint_eq(s->rx_len, 8);
    t_close(&t);
}
END_TEST

/* The race reentry_real.c once lost in the kTLS VM: the peer's
 * close_notify (_i = 1: data, then close_notify) sent right behind its
 * Finished, read by the same recv.  kitls_ktls_enable() takes the records
 * the core read past the handshake: TX goes to the kernel, RX stays in
 * userspace (the close_notify is in: nothing left to receive;
 * docs/uring.md), the data comes first, EV_EOF once, and our own
 * close_notify (through kTLS TX) ends the connection with reason 0. */
START_TEST(ktls_close_notify_behind_finished)
{
    struct t t;
    t_open(&t, 1);
    t.ev = -1;
    struct side *s = &t.s[0];
    s->early = 1 + _i;
    side_open(&t, 0);
    side_open(&t, 1);
    settle(&t);
    ck_assert(s->early_closed);
    ck_assert_uint_eq(s->events[KITLS_URING_EV_HANDSHAKE], 1);
    ck_assert_ptr_nonnull(s->c);
    ck_assert(s->ktls_tx == 1 && uring_sends_plain(s->c));
    ck_assert(s->ktls_rx == 0 && kitls_ktls_is_offloaded(s->c->ktls, KITLS_DIR_RX) != 1);
    ck_assert(t.s[1].ktls_tx == 1 && t.s[1].ktls_rx == 1); /* the other: both, as usual */
    ck_assert_uint_eq(s->events[KITLS_URING_EV_EOF], 1);
    ck_assert_uint_eq(s->rx_len, _i ? 5 : 0);
    ck_assert_uint_eq(s->rx_at_eof, s->rx_len); /* the data before EV_EOF */
    if (_i)
        ck_assert(memcmp(s->rx, "early", 5) == 0);
    ck_assert_uint_eq(s->events[KITLS_URING_EV_CLOSED], 0); /* half-closed: we may still send */
    ck_assert_int_eq(kitls_uring_send(s->c, "late", 4), 4);
    ck_assert_int_eq(kitls_uring_close(s->c), 0);
    settle(&t);
    ck_assert_ptr_null(s->c);
    ck_assert_int_eq(s->closed_reason, 0);
    ck_assert(s->peer_fin); /* the peer read our close_notify */
    ck_assert_uint_eq(s->got_len, 4);
    ck_assert(memcmp(s->got, "late", 4) == 0);
    ck_assert_int_eq(kitls_conn_error(s->peer), 0);
    t_close(&t);
}
END_TEST

/* A lingering close (issue 14, "Alerts lost to a TCP reset"): the peer
 * sends a record that cannot decrypt and keeps its socket open; the
 * driver sends bad_record_mac, shuts down writing and drains (its receive
 * stays in flight), reporting nothing.  Then _i: 0 the driver's shutdown
 * cuts it short, 1 kitls_uring_free() with the receive still in flight,
 * 2 kitls_uring_abort() from the other connection's EV_DATA callback.
 * Each connection reports EV_CLOSED once (ASan: freed once). */
/* The provided buffer ring (uring/rxbuf.c), _i bit 0: kTLS.  An idle
 * connection's receive selects from the ring (no buffer of its own); the
 * "kernel" then lends every buffer elsewhere: the receive fails with
 * -ENOBUFS, the connection polls for data holding nothing, fails again
 * with data waiting, the ring grows (once in the round) and the receive
 * is posted again after the round (kitls_uring_flush()): the data arrives
 * whole.  Then, with kTLS, data that comes while the application paused
 * receiving stays in its ring buffer (held) until resumed, and an abort
 * while it is held gives it back. */
START_TEST(bufring_empty_and_held)
{
    struct t t;
    t_max_conns = 256; /* room to grow: one buffer per connection at most */
    t_open(&t, _i & 1);
    t_max_conns = 0;
    t.ev = -1;
    side_open(&t, 0);
    side_open(&t, 1);
    settle(&t);
    struct side *s = &t.s[0];
    kitls_uring *u = t.u;
    ck_assert_int_eq(u->st.rx_buf_ring, 1);
    ck_assert_uint_eq(u->rxb.count, URING_RXB_FIRST);
    ck_assert(s->c->busy & BUSY(KITLS_URING_OP_RECV));
    ck_assert(s->c->rx_sel);
    ck_assert_uint_eq(s->c->rx_kmsg, (unsigned)(_i & 1));
    ck_assert_uint_eq(s->c->rxb_len, 0);
    peer_write(&t, 0, "first");
    ck_assert_uint_eq(s->rx_len, 5);

    t.bhead = io_uring_smp_load_acquire(&u->rxb.br->tail); /* all lent out */
    peer_write(&t, 0, "second");
    /* both connections: -ENOBUFS, poll, -ENOBUFS again; the first to
     * fail twice grows the ring, the other may then take a buffer */
    ck_assert_uint_ge(u->st.rx_nobufs, 3);
    ck_assert_uint_eq(u->rxb.count, 2 * URING_RXB_FIRST);
    ck_assert_uint_eq(u->st.rx_bufs, 2 * URING_RXB_FIRST);
    ck_assert(t.s[0].c->deferred || t.s[1].c->deferred);
    (void)kitls_uring_flush(u);
    settle(&t);
    ck_assert_uint_eq(s->rx_len, 11);
    ck_assert(memcmp(s->rx, "firstsecond", 11) == 0);
    ck_assert_uint_eq(s->c->rx_waitbuf, 0);
    ck_assert_uint_eq(s->c->rx_defer, 0);
    ck_assert(t.s[1].c->rx_sel && !t.s[1].c->rx_defer); /* posted again, after the round */

    if (_i & 1) {
        /* paused while the receive is in flight: the record stays in
         * its buffer until resumed */
        kitls_uring_pause_recv(s->c, 1);
        peer_write(&t, 0, "third");
        ck_assert_uint_eq(s->rx_len, 11);
        ck_assert_uint_eq(u->rxb.held, 1);
        ck_assert_uint_eq(s->c->rxb_len, 5);
        kitls_uring_pause_recv(s->c, 0);
        settle(&t);
        ck_assert_uint_eq(s->rx_len, 16);
        ck_assert_uint_eq(u->rxb.held, 0);
        kitls_uring_pause_recv(s->c, 1);
        peer_write(&t, 0, "lost");
        ck_assert_uint_eq(u->rxb.held, 1);
        kitls_uring_abort(s->c);
        settle(&t);
        ck_assert_uint_eq(u->rxb.held, 0);
        ck_assert_int_eq(s->closed_reason, -ECANCELED);
    }
    t_close(&t);
}
END_TEST

/* An asynchronous anti-replay store (issue 19) that keeps its answer for
 * the test to give. */
struct ar_wait {
    kitls_conn *tls;
    kitls_uring_conn *uc;
    int calls;
};

static int ar_pending(void *ctx, kitls_conn *c, const uint8_t *id, size_t len, int64_t expires)
{
    struct ar_wait *w = ctx;
    (void)id, (void)len, (void)expires;
    w->calls++;
    w->tls = c;
    w->uc = kitls_uring_conn_from_tls(c);
    return KITLS_ANTIREPLAY_PENDING;
}

/* A poll on fd is in flight in the fake ring. */
static int poll_live(struct t *t, int fd)
{
    for (int j = 0; j < t->n_ops; j++)
        if (t->ops[j].live && t->ops[j].fd == fd && t->ops[j].opcode == IORING_OP_POLL_ADD)
            return 1;
    return 0;
}

/* A handshake parked for the store, whose receive then found the buffer
 * ring empty (-ENOBUFS: the kernel fails a receive without a buffer, data
 * or not) and waits in a poll for data that does not come: the client
 * waits for the server's flight.  The answer must resume the handshake at
 * once, while that poll is still in flight (a wait for input holds
 * nothing else back); it used to wait for the poll, and the connection
 * hung until its handshake timeout (1000 concurrent 0-RTT handshakes,
 * bench/fleet/concurrent.sh). */
START_TEST(resume_while_rx_poll)
{
    struct t t;
    struct ar_wait w = {0};
    t_open(&t, 0);
    t.ev = -1;
    ck_assert_int_eq(kitls_config_set_early_data(t.scfg, 16384), 0);
    ck_assert_int_eq(kitls_config_set_antireplay_async(t.scfg, ar_pending, &w), 0);
    ck_assert_int_eq(kitls_config_set_early_data(t.ccfg, 16384), 0);
    /* a ticket, in memory */
    uint8_t buf[8];
    kitls_conn *pc = tu_client(t.ccfg, "localhost"), *ps = tu_server(t.scfg);
    ck_assert_int_eq(tu_handshake(pc, ps, NULL, NULL), 0);
    tu_move(ps, pc);
    ck_assert_int_eq(kitls_conn_read(pc, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kitls_session *sess = kitls_conn_get_session(pc);
    ck_assert_ptr_nonnull(sess);
    kitls_conn_free(pc);
    kitls_conn_free(ps);

    side_open(&t, 0);
    struct side *s = &t.s[0];
    ck_assert_int_eq(kitls_conn_set_session(s->peer, sess), 0);
    kitls_session_free(sess);
    ck_assert_int_eq(kitls_conn_write_early_data(s->peer, (const uint8_t *)"early!", 6), 6);
    settle(&t);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_ptr_eq(w.uc, s->c);
    ck_assert(s->c->parked);
    ck_assert_uint_eq(s->rx_len, 0); /* nothing released while pending */

    /* its receive: no buffer; then a poll that stays in flight */
    t.hold_poll = 1;
    struct op *rx = NULL;
    for (int j = 0; j < t.n_ops; j++)
        if (t.ops[j].live && t.ops[j].fd == s->fd &&
            (t.ops[j].opcode == IORING_OP_RECV || t.ops[j].opcode == IORING_OP_RECVMSG))
            rx = &t.ops[j];
    ck_assert_ptr_nonnull(rx);
    complete(&t, rx, -ENOBUFS);
    settle(&t);
    ck_assert(poll_live(&t, s->fd));

    ck_assert_int_eq(kitls_conn_antireplay_done(w.tls, 0), 0);
    ck_assert_int_eq(kitls_uring_conn_resume(w.uc), 0);
    settle(&t);
    /* the server's flight went out and the 0-RTT data was delivered */
    ck_assert_msg(kitls_conn_is_established(s->peer), "the handshake did not go on");
    ck_assert_int_eq(kitls_conn_early_data_status(s->peer), KITLS_EARLY_ACCEPTED);
    ck_assert_uint_eq(s->rx_len, 6);
    ck_assert(memcmp(s->rx, "early!", 6) == 0);
    ck_assert(poll_live(&t, s->fd)); /* still waiting for input */

    /* the client's Finished comes once the poll says so */
    t.hold_poll = 0;
    settle(&t);
    ck_assert_uint_eq(s->events[KITLS_URING_EV_HANDSHAKE], 1);
    side_open(&t, 1); /* t_close() wants two connections */
    settle(&t);
    t_close(&t);
}
END_TEST

/* KITLS_URING_F_NO_BUF_RING (what a kernel before 5.19 gets): no receive
 * selects a buffer; data flows as before. */
START_TEST(bufring_off)
{
    struct t t;
    t_flags = KITLS_URING_F_NO_BUF_RING;
    t_open(&t, _i);
    t_flags = 0;
    t.ev = -1;
    side_open(&t, 0);
    side_open(&t, 1);
    settle(&t);
    ck_assert_int_eq(t.u->st.rx_buf_ring, 0);
    ck_assert_ptr_null(t.u->rxb.br);
    ck_assert(!t.s[0].c->rx_sel);
    peer_write(&t, 0, "plain");
    ck_assert_uint_eq(t.s[0].rx_len, 5);
    for (int i = 0; i < t.n_ops; i++)
        ck_assert(!t.ops[i].sel);
    ck_assert_uint_eq(t.bhead, 0);
    t_close(&t);
}
END_TEST

START_TEST(linger_cut_short)
{
    struct t t;
    t_open(&t, 0);
    t.ev = -1;
    side_open(&t, 0);
    side_open(&t, 1);
    settle(&t);
    struct side *s = &t.s[0];
    s->stay_open = 1;
    static const uint8_t bad[5 + 32] = {0x17, 0x03, 0x03, 0x00, 0x20};
    wire_add(&s->fk.in, bad, sizeof(bad));
    settle(&t);
    ck_assert_ptr_nonnull(s->c);
    ck_assert(CS_LINGERING(s->c->st));
    ck_assert_uint_eq(t.u->st.lingering, 1);
    ck_assert_uint_eq(t.u->st.conns, 2);
    ck_assert(s->c->wr_shut);
    ck_assert(s->c->busy & BUSY(KITLS_URING_OP_RECV));    /* the drain */
    ck_assert_int_eq(kitls_conn_peer_alert(s->peer), 20); /* bad_record_mac arrived */
    ck_assert_uint_eq(s->events[KITLS_URING_EV_CLOSED], 0);
    ck_assert_int_eq(kitls_uring_send(s->c, "x", 1), -ENOTCONN);
    /* more input while lingering: drained, never EV_DATA */
    wire_add(&s->fk.in, "junk", 4);
    settle(&t);
    ck_assert_uint_eq(s->events[KITLS_URING_EV_DATA], 0);
    ck_assert(CS_LINGERING(s->c->st));
    if (_i == 2) {
        /* the trigger is the event of the side with id 0: here s[1] */
        t.s[1].id = 0;
        t.s[0].id = 1;
        t.ev = KITLS_URING_EV_DATA;
        t.act = REENTRY_ABORT;
        t.other = 0;
        peer_write(&t, 1, "ping");
        ck_assert(t.fired);
        ck_assert_ptr_null(s->c);
        ck_assert_uint_eq(t.u->st.lingering, 0);
    }
    t_close_how(&t, _i == 1);
    ck_assert_int_eq(s->closed_reason, KITLS_E_BAD_RECORD_MAC); /* the first reason stays */
}
END_TEST

int main(void)
{
    tu_pki_init();
    Suite *s = suite_create("uring-reentry");
    TCase *tc = tcase_create("fake-ring");
    tcase_set_timeout(tc, 120);
    /* the matrix: callback kind x re-entrant call x self/other x mode */
    printf("test_uring_reentry: matrix %d kinds x %d calls x 2 targets x 2 modes = %d cases\n",
           N_KIND, REENTRY_N_ACT, N_MATRIX);
    tcase_add_loop_test(tc, reentrant_calls, 0, N_MATRIX);
    tcase_add_loop_test(tc, abort_idle_ktls_rx, 0, 2);
    tcase_add_test(tc, ktls_no_rekey_under_splice);
    tcase_add_test(tc, ktls_control_was_data);
    tcase_add_loop_test(tc, ktls_close_notify_behind_finished, 0, 2);
    tcase_add_loop_test(tc, linger_cut_short, 0, 3);
    tcase_add_loop_test(tc, bufring_empty_and_held, 0, 2);
    tcase_add_loop_test(tc, bufring_off, 0, 2);
    tcase_add_test(tc, resume_while_rx_poll);
    suite_add_tcase(s, tc);
    TCase *real = tcase_create("real-ring");
    tcase_set_timeout(real, 600);
    reentry_real_add(real);
    suite_add_tcase(s, real);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
