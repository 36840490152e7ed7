/*
 * io_uring driver: one connection's state machine.
 *
 * Invariants that keep buffers safe under the kernel:
 *   - received bytes go into a buffer of the provided buffer ring, taken
 *     by the kernel only when data arrives (rxbuf.c), or, without one,
 *     where kitls_ktls_io_recv_buf() says (userspace: straight into the
 *     core's input buffer, zero-copy; kTLS RX: the layer's record buffer);
 *     at most one recv is in flight; plaintext
 *     is only read (kitls_ktls_io_read, kitls_conn_handshake) when no recv
 *     is in flight, so that buffer never moves under the kernel;
 *   - the core's output is moved into the connection's send buffer before
 *     it is sent, because the core may append to (and reallocate) its
 *     output at any time: handshake, KeyUpdate answers, application
 *     writes.  Sending straight from the core would force input processing
 *     to wait for sends, and two peers that both stop reading while their
 *     sends are blocked would then deadlock.  The send buffer exists only
 *     while a send is in flight (idle connections hold none);
 *     (the output side is in send.c);
 *   - a connection is freed only when none of its SQEs is in the kernel:
 *     the dead states cancel them (IORING_OP_ASYNC_CANCEL) and finish()
 *     runs when the last CQE is back (the states and their table:
 *     uring_int.h, state.c);
 *   - a connection that failed with an alert to send, or that exchanged
 *     close_notify with input possibly unread, lingers before that
 *     (linger_step): closing a TCP socket with unread input makes the
 *     kernel send a reset and drop what it has not sent yet, the alert
 *     included (RFC 8446 §6.2: the peer should learn why; linger.c).  It is dead to
 *     the application (no event but the final EV_CLOSED, calls return
 *     -ENOTCONN or do nothing) and bounded in bytes and time.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uring_int.h"

static void emit_handshake(struct kitls_uring_conn *c)
{
    /* The negotiated parameters (suite, group, ALPN, SNI, resumption)
     * are the application's to read: kitls_uring_conn_tls(). */
    struct kitls_uring_info info = {
        .ktls_tx = kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_TX) == 1,
        .ktls_rx = kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_RX) == 1,
        .ktls_reason = kitls_ktls_reason(
            c->ktls, (c->u->p.ktls & KITLS_URING_KTLS_RX) ? KITLS_DIR_RX : KITLS_DIR_TX),
        .handshake_us = (unsigned)(uring_now_us() - c->start_us),
    };
    c->visible = 1;
    uring_conn_emit(c, KITLS_URING_EV_HANDSHAKE, NULL, 0, &info);
}

static void established(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    uring_dl_del(u, c);
    if (c->counted_hs) {
        c->counted_hs = 0;
        u->st.handshaking--;
    }
    u->st.handshakes++;
    if (u->p.ktls) {
        /* kTLS is tried from step(), once no userspace record is in
         * flight: after TLS_TX the kernel would encrypt them again.
         * EV_HANDSHAKE follows the attempt. */
        uring_cs_set(c, CS_ENABLING);
        c->again = 1;
        return;
    }
    uring_cs_set(c, CS_OPEN);
    emit_handshake(c);
}

static void finish(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    /* CS_CLOSE_FD: an IORING_OP_CLOSE owns the descriptor (it may only be
     * queued when kitls_uring_free() gives up on an application ring). */
    int fd_ours = c->st != CS_CLOSE_FD;
    uring_cs_set(c, CS_FREED);
    uring_dl_del(u, c);
    uring_conn_hs_uncount(c);
    if (c->fd >= 0 && fd_ours) {
        if (c->reset) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(c->fd);
        c->fd = -1;
    }
    for (int i = 0; i < 2; i++)
        if (c->pipe_fd[i] >= 0)
            close(c->pipe_fd[i]);
    while (c->q_head)
        uring_q_pop(c);
    if (c->ktls) { /* NULL only when the start failed */
        unsigned tx = 0;
        kitls_ktls_rekeys(c->ktls, &tx, NULL); /* 0 unless TX was in the kernel */
        u->st.ktls_tx_rekeys += tx;
    }
    if (c->visible) {
        /* Held while the application hears of it: a callback that calls
         * kitls_uring_abort/close/pause_recv on this connection finds it
         * dead and held, and nothing frees it twice. */
        c->in_pump = 1;
        uring_conn_emit(c, KITLS_URING_EV_CLOSED, NULL, 0, NULL);
    }
    uring_rxb_drop(c);
    kitls_free(c->fbuf);
    kitls_free(c->sbuf);
    kitls_free(c->lbuf);
    kitls_free(c->peer);
    kitls_ktls_free(c->ktls);
    uring_slot_free(u, c);
    if (uring_async_zombie(c))
        return; /* its store's answer frees the rest (async.c) */
    kitls_conn_free(c->tls);
    kitls_free(c);
}

/* Dead: linger if it does (linger.c), cancel whatever is in flight, close the socket
 * (IORING_OP_CLOSE, or close(2) in finish()), free once everything is
 * back. */
static void dead_step(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    if (CS_LINGERING(c->st)) {
        uring_linger_step(c);
        if (CS_LINGERING(c->st))
            return;
    }
    if (c->st == CS_CANCEL) {
        if (uring_conn_cancel_ops(c, c->busy & ~BUSY(KITLS_URING_OP_CANCEL)))
            return; /* again from kitls_uring_flush() */
        uring_cs_set(c, CS_CANCELLED);
    }
    if (c->inflight)
        return;
    /* A reset needs SO_LINGER first, and a stopping driver may not see
     * another completion: both close in finish(). */
    if (c->st == CS_CANCELLED && c->fd >= 0 && !c->reset && u->have_close && !u->stopping) {
        struct io_uring_sqe *sqe = uring_conn_sqe(c);
        if (!sqe)
            return;
        io_uring_prep_close(sqe, c->fd);
        uring_conn_tag(c, sqe, KITLS_URING_OP_CLOSE);
        uring_cs_set(c, CS_CLOSE_FD);
        return;
    }
    finish(c);
}

/* ---- input ---- */

void uring_conn_peer_eof(struct kitls_uring_conn *c)
{
    c->peer_done = 1;
    if (!c->eof_told && !c->close_req && c->visible) {
        c->eof_told = 1;
        uring_conn_emit(c, KITLS_URING_EV_EOF, NULL, 0, NULL);
    }
}

/* Deliver application data: whatever enable() kept first, then what the
 * receives brought, decrypted by the core or by the kernel. */
static void read_plain(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    while (CS_LIVE_OPEN(c->st)) {
        if (c->paused) {
            c->rx_ready = 1; /* more may be buffered: look again on resume */
            return;
        }
        if (c->rxb_len) { /* kTLS data in a ring buffer (rxbuf.c) */
            uring_rxb_deliver(c);
            continue;
        }
        ssize_t n = kitls_ktls_io_read(c->ktls, u->scratch, sizeof(u->scratch));
        if (n > 0) {
            u->st.bytes_in += (size_t)n;
            uring_conn_emit(c, KITLS_URING_EV_DATA, u->scratch, (size_t)n, NULL);
            continue;
        }
        if (n == -EAGAIN)
            return;
        if (n == 0) {
            uring_conn_peer_eof(c);
        } else if (n == KITLS_KTLS_E_TRUNCATED) {
            c->peer_done = 1;
            if (!c->close_req)
                uring_conn_kill(c, KITLS_E_EOF, 0);
        } else {
            uring_conn_fail_tls(c, (int)n);
        }
        return;
    }
}

static void process_input(struct kitls_uring_conn *c)
{
    c->rx_ready = 0;
    if (c->st == CS_HANDSHAKE) {
        for (;;) {
            uring_async_enter(c); /* kitls_uring_conn_from_tls() in a store callback */
            int r = kitls_conn_handshake(c->tls);
            uring_async_enter(NULL);
            if (r == KITLS_E_WANT_ASYNC) {
                uring_async_park(c); /* until kitls_uring_conn_resume() */
                return;
            }
            if (r == KITLS_E_EARLY_DATA) {
                /* 0-RTT (only when the config enables it): delivered
                 * before EV_HANDSHAKE. */
                int n;
                while ((n = kitls_conn_read_early_data(c->tls, c->u->scratch,
                                                       sizeof(c->u->scratch))) > 0) {
                    c->visible = 1;
                    uring_conn_emit(c, KITLS_URING_EV_DATA, c->u->scratch, (size_t)n, NULL);
                }
                if (CS_DEAD(c->st))
                    return;
                continue;
            }
            if (r == KITLS_E_WANT_READ)
                return;
            if (r < 0) {
                uring_conn_fail_tls(c, r);
                return;
            }
            break;
        }
        established(c);
        if (c->st != CS_OPEN)
            return; /* enable() takes what the core read past the handshake */
    }
    if (CS_LIVE_OPEN(c->st))
        read_plain(c);
}

static void recv_step(struct kitls_uring_conn *c)
{
    if (c->busy &
        (BUSY(KITLS_URING_OP_RECV) | BUSY(KITLS_URING_OP_POLL) | BUSY(KITLS_URING_OP_POLL_RX)))
        return;
    if (c->st != CS_HANDSHAKE && !CS_LIVE_OPEN(c->st))
        return;
    if (c->peer_done || c->eof || c->paused || c->rx_ready || c->ctrl_pending)
        return;
    if (uring_rxb_post(c) == 0)
        return; /* from the buffer ring, or waiting */
    /* No buffer ring.  Userspace RX: straight into the core's input buffer; kTLS RX: one
     * record into the layer's buffer, with its type where the ring has
     * RECVMSG (else a plain recv, where EIO announces a control record). */
    uint8_t *buf;
    size_t cap;
    struct msghdr *msg = NULL;
    int r = kitls_ktls_io_recv_buf(c->ktls, &buf, &cap, c->u->have_recvmsg ? &msg : NULL);
    if (r < 0) {
        uring_conn_fail_tls(c, r);
        return;
    }
    if (r == 1)
        return; /* our KeyUpdate leaves first: its send's completion brings us back */
    struct io_uring_sqe *sqe = uring_conn_sqe(c);
    if (!sqe)
        return;
    if (msg)
        io_uring_prep_recvmsg(sqe, c->fd, msg, 0);
    else
        io_uring_prep_recv(sqe, c->fd, buf, cap, 0);
    uring_conn_tag(c, sqe, KITLS_URING_OP_RECV);
}

static void close_step(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    if (c->st == CS_OPEN && c->close_req && uring_queue_idle(c)) {
        /* Queued: it leaves by send_step (userspace: as ciphertext; kTLS:
         * through kitls_ktls_flush()), before the shutdown below. */
        int r = kitls_ktls_io_close(c->ktls);
        if (r < 0) {
            uring_conn_fail_tls(c, r);
            return;
        }
        uring_cs_set(c, CS_CLOSING);
        uring_dl_add(u, c, 2, u->p.close_timeout_ms);
        uring_send_step(c);
    }
    if (c->st != CS_CLOSING)
        return;
    if (!c->wr_shut && uring_queue_idle(c) && !(c->busy & BUSY(KITLS_URING_OP_SHUTDOWN))) {
        if (u->have_shutdown) {
            struct io_uring_sqe *sqe = uring_conn_sqe(c);
            if (!sqe)
                return;
            io_uring_prep_shutdown(sqe, c->fd, SHUT_WR);
            uring_conn_tag(c, sqe, KITLS_URING_OP_SHUTDOWN);
        } else {
            (void)shutdown(c->fd, SHUT_WR);
            c->wr_shut = 1;
        }
    }
    if (c->wr_shut && c->peer_done)       /* orderly both ways: the reason stays */
        uring_conn_die(c, 0, 0, !c->eof); /* bytes may follow the peer's close_notify */
}

static void sent_step(struct kitls_uring_conn *c)
{
    if (c->sent_acc && uring_queue_idle(c) && CS_LIVE_OPEN(c->st)) {
        size_t n = c->sent_acc;
        c->sent_acc = 0;
        uring_conn_emit(c, KITLS_URING_EV_SENT, NULL, n, NULL);
    }
}

static void step(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    if (c->st == CS_CONNECTING) {
        if (!(c->busy & BUSY(KITLS_URING_OP_CONNECT)) && c->peer) {
            struct io_uring_sqe *sqe = uring_conn_sqe(c);
            if (!sqe)
                return;
            io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)c->peer, c->peer_len);
            uring_conn_tag(c, sqe, KITLS_URING_OP_CONNECT);
        }
        return;
    }
    /* A poll waits for the socket on behalf of a synchronous kTLS step;
     * everything else proceeds while sends are in flight. */
    int waiting = (c->busy & BUSY(KITLS_URING_OP_POLL)) != 0;
    if (!waiting) {
        if (c->st == CS_ENABLING) {
            if ((c->busy & BUSY(KITLS_URING_OP_SEND)) || c->sbuf_len)
                return; /* the send's completion brings us back */
            if (uring_ktls_try(c))
                return;
            if (CS_DEAD(c->st))
                return;
            uring_cs_set(c, CS_OPEN);
            emit_handshake(c);
        }
        if (c->parked && c->eof) /* the peer left while we wait for the store */
            uring_conn_kill(c, KITLS_E_EOF, 0);
        if (c->rx_ready && !CS_DEAD(c->st) && !c->parked)
            process_input(c);
        if (c->ctrl_pending && CS_LIVE_OPEN(c->st) && !c->paused) {
            uring_ktls_ctrl_step(c);
            if (c->rx_ready && CS_LIVE_OPEN(c->st))
                process_input(c);
        }
        if (CS_LIVE_OPEN(c->st))
            uring_fill(c);
        if (CS_DEAD(c->st))
            return;
        uring_send_step(c);
        close_step(c);
        if (CS_DEAD(c->st))
            return;
        sent_step(c);
        if (CS_DEAD(c->st))
            return;
    }
    (void)u;
    recv_step(c);
}

/*
 * The connection is "held" (in_pump) whenever the driver uses it across an
 * event callback: every event is emitted from step() or from a CQE's
 * handling, both held.  A callback may call any kitls_uring_* function on
 * any connection (include/kitls/uring.h); on a held one that only asks for
 * another round (`again`), and dead_step() -- the only place that frees --
 * runs once the outermost holder lets go.
 */
void uring_conn_pump(struct kitls_uring_conn *c)
{
    if (c->in_pump) {
        c->again = 1;
        return;
    }
    c->in_pump = 1;
    do {
        c->again = 0;
        if (!CS_DEAD(c->st))
            step(c);
    } while (c->again && !CS_DEAD(c->st));
    c->in_pump = 0;
    if (CS_DEAD(c->st))
        dead_step(c);
}

/* ---- start and completions ---- */

int uring_conn_start(kitls_uring *u, struct kitls_uring_conn *c, kitls_config *cfg, int server,
                     const char *server_name)
{
    c->server = server ? 1 : 0;
    c->tls = kitls_conn_new(cfg);
    if (!c->tls || uring_ktls_setup(c, c->fd, NULL) < 0)
        return -ENOMEM;
    kitls_conn_set_user(c->tls, c);
    if (!server && server_name && kitls_conn_set_server_name(c->tls, server_name) < 0)
        return -EINVAL;
    if (u->p.flags & KITLS_URING_F_NODELAY) {
        int one = 1;
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->start_us = uring_now_us();
    uring_cs_set(c, server ? CS_HANDSHAKE : CS_CONNECTING);
    c->counted_hs = 1;
    u->st.handshaking++;
    uring_dl_add(u, c, 1, u->p.handshake_timeout_ms);
    return 0;
}

/* A server connection from the listener's accept (driver.c on_accept). */
void uring_conn_accepted(kitls_uring *u, struct kitls_uring_conn *c, kitls_config *cfg)
{
    if (uring_conn_start(u, c, cfg, 1, NULL) < 0)
        uring_conn_kill(c, -ENOMEM, 1);
    uring_conn_pump(c);
}

/* A completion's effect on the connection (held by uring_conn_cqe(): a
 * kTLS RX completion emits EV_DATA or EV_EOF from here). */
static void cqe_apply(struct kitls_uring_conn *c, unsigned op, int res, unsigned flags)
{
    if (op == KITLS_URING_OP_RECV && c->rx_sel) {
        uring_rxb_cqe(c, res, flags); /* its buffer: consumed or back to the ring */
        if (!CS_DEAD(c->st))
            return;
    }
    if (op == KITLS_URING_OP_CLOSE) {
        c->fd = -1; /* gone from the table whatever res says */
        return;
    }
    if (CS_DEAD(c->st)) {
        if (CS_LINGERING(c->st))
            uring_linger_cqe(c, op, res);
        if (op == KITLS_URING_OP_CANCEL && !c->inflight)
            c->busy = 0;
        return;
    }
    switch (op) {
    case KITLS_URING_OP_CONNECT:
        kitls_free(c->peer);
        c->peer = NULL;
        if (res < 0) {
            uring_conn_kill(c, res, 0);
            break;
        }
        (void)fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        uring_cs_set(c, CS_HANDSHAKE);
        c->rx_ready = 1; /* first handshake step writes the ClientHello */
        break;
    case KITLS_URING_OP_RECV:
        if (res >= 0) {
            if (!res)
                c->eof = 1;
            uint8_t *got;
            size_t cap;
            if (!c->rx_first && res > 0 && c->u->p.plain_reply_len && c->st == CS_HANDSHAKE &&
                kitls_ktls_io_recv_buf(c->ktls, &got, &cap, NULL) == 0)
                uring_conn_first_bytes(c, got, (size_t)res); /* where the recv went */
            int r = kitls_ktls_io_recv_done(c->ktls, res);
            if (r < 0) {
                uring_conn_fail_tls(c, r);
                break;
            }
            if (r == 2)
                c->u->st.ktls_ctrl_recvmsg++;
            c->rx_ready = 1; /* the pump reads (EV_DATA, EV_EOF) */
        } else if ((res == -EIO || res == -EKEYEXPIRED) &&
                   kitls_ktls_io_recv_done(c->ktls, res) == 1) {
            c->ctrl_pending = 1; /* kTLS RX, plain recv: a non-data record is next */
        } else if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS) {
            uring_conn_poll_rx(c);
        } else {
            uring_conn_kill(c, res, 0);
        }
        break;
    case KITLS_URING_OP_SEND:
        if (res >= 0)
            uring_on_send(c, res);
        else if (res == -EAGAIN || res == -EINTR)
            uring_conn_poll(c, POLLOUT);
        else
            uring_conn_kill(c, res, 0);
        break;
    case KITLS_URING_OP_READ:
        if (res <= 0)
            uring_conn_fail(c, res < 0 ? res : -EIO); /* file shorter than announced */
        else
            c->fbuf_len = (size_t)res;
        break;
    case KITLS_URING_OP_SPLICE_IN:
        if (res <= 0) {
            uring_conn_fail(c, res < 0 ? res : -EIO);
        } else {
            c->pipe_len = (size_t)res;
            c->q_head->off += (size_t)res;
            c->q_bytes -= (size_t)res;
            c->sent_acc += (size_t)res;
        }
        break;
    case KITLS_URING_OP_SPLICE_OUT:
        if (res > 0) {
            c->pipe_len -= (size_t)res;
            kitls_ktls_tx_count(c->ktls, kitls_ktls_records_for((size_t)res));
        } else if (res == -EAGAIN)
            uring_conn_poll(c, POLLOUT);
        else
            uring_conn_kill(c, res ? res : -EPIPE, 0);
        break;
    case KITLS_URING_OP_SHUTDOWN: c->wr_shut = 1; break;
    default: /* POLL, POLL_RX, CANCEL: the pump retries what waited */ break;
    }
}

void uring_conn_cqe(struct kitls_uring_conn *c, unsigned op, int res, unsigned flags)
{
    c->inflight--;
    c->busy &= ~BUSY(op);
    if (c->in_pump) {
        /* A callback of this connection runs kitls_uring_run() or
         * handle_cqe() itself: its holder finishes the round. */
        cqe_apply(c, op, res, flags);
        c->again = 1;
        return;
    }
    c->in_pump = 1;
    cqe_apply(c, op, res, flags);
    c->in_pump = 0;
    uring_conn_pump(c);
}

/* A deadline passed (driver.c on_tick): a handshake or an orderly close
 * times out (reset); a lingering close ends now, without a reset unless
 * input is still unread (linger.c). */
void uring_conn_deadline(struct kitls_uring_conn *c, int list)
{
    if (list == 3) {
        uring_linger_stop(c);
    } else {
        c->u->st.timeouts++;
        uring_conn_kill(c, -ETIMEDOUT, 1);
    }
    uring_conn_pump(c);
}

/* kitls_uring_free() gave up on an application ring it cannot drain:
 * nothing of c is in the kernel's hands any more (its socket is closed
 * in finish(), which ends the kernel's use of it); free it now.  Every
 * connection is dead here (kitls_uring_shutdown() killed them all, a
 * lingering one included). */
void uring_conn_forget(struct kitls_uring_conn *c)
{
    c->inflight = 0;
    c->busy = 0;
    if (c->st == CS_CANCEL) /* nothing to cancel any more */
        uring_cs_set(c, CS_CANCELLED);
    c->in_pump = 0;
    uring_conn_pump(c);
}

/* ---- public per-connection API ---- */

int kitls_uring_close(kitls_uring_conn *c)
{
    if (!c)
        return -EINVAL;
    if (CS_DEAD(c->st) || c->close_req)
        return 0;
    c->close_req = 1;
    uring_conn_pump(c);
    return 0;
}

void kitls_uring_abort(kitls_uring_conn *c)
{
    if (!c)
        return;
    uring_conn_kill(c, -ECANCELED, 1);
    uring_conn_pump(c);
}

int kitls_uring_send(kitls_uring_conn *c, const void *buf, size_t len)
{
    int pump;
    int r = uring_q_data(c, buf, len, &pump);
    if (pump)
        uring_conn_pump(c);
    return r;
}

int kitls_uring_sendfile(kitls_uring_conn *c, int fd, off_t off, size_t len)
{
    int pump;
    int r = uring_q_file(c, fd, off, len, &pump);
    if (pump)
        uring_conn_pump(c);
    return r;
}

int kitls_uring_key_update(kitls_uring_conn *c, int request)
{
    if (!c)
        return -EINVAL;
    if (!CS_LIVE_OPEN(c->st))
        return -ENOTCONN;
    if (c->close_req)
        return -EPIPE;
    /* The core queues the KeyUpdate behind its output; send_step sends it
     * (userspace: encrypted with the old key; kTLS: through
     * kitls_ktls_flush(), which installs the new TX key after it). */
    if (kitls_ktls_io_key_update(c->ktls, request) < 0)
        return -EBUSY;
    uring_conn_pump(c);
    return 0;
}

void kitls_uring_pause_recv(kitls_uring_conn *c, int pause)
{
    if (!c)
        return;
    c->paused = pause ? 1 : 0;
    if (!pause && CS_LIVE_OPEN(c->st) && !(c->busy & BUSY(KITLS_URING_OP_RECV)))
        c->rx_ready = 1; /* look at what is buffered */
    uring_conn_pump(c);
}

void kitls_uring_conn_set_user(kitls_uring_conn *c, void *user)
{
    c->user = user;
}

void *kitls_uring_conn_user(const kitls_uring_conn *c)
{
    return c->user;
}

kitls_conn *kitls_uring_conn_tls(kitls_uring_conn *c)
{
    return c->tls;
}

int kitls_uring_conn_fd(const kitls_uring_conn *c)
{
    return c->fd;
}
