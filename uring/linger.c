/*
 * io_uring driver: the lingering close of a dead connection (issue 14,
 * "Alerts lost to a TCP reset").  Linux answers a close() with unread
 * input by a TCP reset (RFC 9293 §3.6 lets it abort) and drops what it
 * has not sent yet, so a peer still sending would read ECONNRESET, not
 * our fatal alert (RFC 8446 §6.2) or close_notify.  A dead connection
 * that has a socket worth closing gracefully therefore sends what it has,
 * shuts down its write side and reads and discards input, bounded in
 * bytes and time, before conn.c's dead_step() closes it.  It emits no
 * event until EV_CLOSED (from finish(), as for every connection).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring_int.h"

/* Lingering: the output still queued in the core (userspace TX: sbuf and
 * the core's records, the alert last; kTLS TX: the core's control
 * records through the kTLS layer).  Application data still queued in the
 * chunk queue is dropped.  1 while a send or poll is (or will be) in
 * flight, 0 when there is nothing (more) to send. */
static int linger_output(struct kitls_uring_conn *c)
{
    if (kitls_ktls_io_ctrl_pending(c->ktls)) {
        /* TX in the kernel: the core's records through the kTLS layer */
        int r = kitls_ktls_flush(c->ktls);
        if (r != -EAGAIN)
            return 0; /* sent, or it cannot be: nothing more to send */
        uring_conn_poll(c, POLLOUT);
        return (c->busy & BUSY(KITLS_URING_OP_POLL)) || c->deferred;
    }
    const uint8_t *p;
    if (!c->sbuf_len && !kitls_ktls_io_out(c->ktls, &p))
        return 0;
    uring_send_step(c);
    return (c->busy & BUSY(KITLS_URING_OP_SEND)) || c->deferred;
}

/*
 * A lingering close, without blocking the loop: (1) cancel the open
 * connection's receive, poll and file operations (sends complete: their
 * bytes are on their way); (2) send the output still queued, the alert
 * last; (3) shut down the write side (IORING_OP_SHUTDOWN, or
 * shutdown(2) where the ring lacks it), so the peer sees the alert then
 * EOF; (4) read and discard input until EOF, URING_LINGER_BYTES or the
 * deadline (driver.c on_tick), so that the close finds nothing unread and
 * sends a FIN rather than a reset (RFC 9293 §3.6: a close with unread
 * data aborts the connection on Linux).  Then dead_step() closes.
 */
void uring_linger_step(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    if (c->st == CS_LINGER) {
        unsigned ops = c->busy & ~(BUSY(KITLS_URING_OP_SEND) | BUSY(KITLS_URING_OP_SHUTDOWN) |
                                   BUSY(KITLS_URING_OP_CANCEL));
        if (uring_conn_cancel_ops(c, ops))
            return; /* again from kitls_uring_flush() */
        uring_cs_set(c, CS_LINGER_FLUSH);
    }
    /* a send, a poll, the shutdown or a cancelled file operation: its
     * completion brings us back */
    if (c->busy & (BUSY(KITLS_URING_OP_SEND) | BUSY(KITLS_URING_OP_POLL) |
                   BUSY(KITLS_URING_OP_SHUTDOWN) | FILE_OPS))
        return;
    if (c->st == CS_LINGER_FLUSH) {
        if (linger_output(c))
            return;
        uring_cs_set(c, CS_LINGER_DRAIN);
    }
    if (!c->wr_shut) {
        if (u->have_shutdown) {
            struct io_uring_sqe *sqe = uring_conn_sqe(c);
            if (!sqe)
                return;
            io_uring_prep_shutdown(sqe, c->fd, SHUT_WR);
            uring_conn_tag(c, sqe, KITLS_URING_OP_SHUTDOWN);
            return;
        }
        (void)shutdown(c->fd, SHUT_WR);
        c->wr_shut = 1;
    }
    if (c->eof || c->drained >= URING_LINGER_BYTES)
        goto end;
    if (c->busy & BUSY(KITLS_URING_OP_RECV))
        return; /* ours, or the open connection's being cancelled */
    if (!c->lbuf && !(c->lbuf = kitls_malloc(URING_LINGER_BUF)))
        goto end;
    struct io_uring_sqe *sqe = uring_conn_sqe(c);
    if (!sqe)
        return;
    /* A plain recv also on a kTLS RX socket: the kernel decrypts data
     * records; a control record (-EIO) or a bad one (-EBADMSG) ends the
     * drain (linger_cqe). */
    io_uring_prep_recv(sqe, c->fd, c->lbuf, URING_LINGER_BUF, 0);
    uring_conn_tag(c, sqe, KITLS_URING_OP_RECV);
    return;
end:
    uring_linger_stop(c);
}

/* A completion while lingering. */
void uring_linger_cqe(struct kitls_uring_conn *c, unsigned op, int res)
{
    switch (op) {
    case KITLS_URING_OP_RECV:
        /* also the open connection's receive: its bytes are not committed */
        if (res > 0)
            c->drained += (size_t)res;
        else if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS)
            uring_conn_poll(c, POLLIN);
        else if (res != -ECANCELED)
            c->eof = 1; /* EOF, or nothing more can be read */
        break;
    case KITLS_URING_OP_SEND:
        if (res >= 0)
            uring_on_send(c, res);
        else if (res == -EAGAIN || res == -EINTR)
            uring_conn_poll(c, POLLOUT);
        else
            uring_linger_stop(c); /* the peer is gone */
        break;
    case KITLS_URING_OP_SHUTDOWN:
        c->wr_shut = 1; /* done, or the socket cannot: drain either way */
        break;
    default: /* POLL, CANCEL, a file operation's end: linger_step goes on */ break;
    }
}
