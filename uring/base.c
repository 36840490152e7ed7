/*
 * io_uring driver: a connection's primitives, shared by every part of the
 * driver (conn.c's state machine, send.c, ktls.c, linger.c): its SQEs and
 * their cancellation, its events, and its failures with the entry into
 * (and exit from) the dead states.  Calls only driver.c and state.c, so
 * the other parts call down into it and never back into conn.c.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "uring_int.h"

/* An SQE for op on this connection, or NULL (deferred to kitls_uring_flush). */
struct io_uring_sqe *uring_conn_sqe(struct kitls_uring_conn *c)
{
    struct io_uring_sqe *sqe = uring_sqe(c->u);
    if (!sqe)
        uring_defer(c->u, c);
    return sqe;
}

void uring_conn_tag(struct kitls_uring_conn *c, struct io_uring_sqe *sqe, unsigned op)
{
    io_uring_sqe_set_data64(sqe, KITLS_URING_UD(c->u->p.tag, op, c->gen, c->slot));
    c->inflight++;
    c->busy |= BUSY(op);
}

void uring_conn_emit(struct kitls_uring_conn *c, enum kitls_uring_event_type type,
                     const uint8_t *data, size_t len, const struct kitls_uring_info *info)
{
    struct kitls_uring_event ev = {
        .type = type,
        .conn = c,
        .user = c->user,
        .data = data,
        .len = len,
        .info = info,
        .reason = c->reason,
    };
    uring_emit(c->u, &ev);
}

void uring_conn_poll(struct kitls_uring_conn *c, unsigned events)
{
    if (c->busy & BUSY(KITLS_URING_OP_POLL))
        return;
    struct io_uring_sqe *sqe = uring_conn_sqe(c);
    if (!sqe)
        return;
    io_uring_prep_poll_add(sqe, c->fd, events);
    uring_conn_tag(c, sqe, KITLS_URING_OP_POLL);
}

/* Wait for input to receive (a receive found no buffer or no data).  Its
 * own operation, unlike a kTLS step's poll: only the next receive waits
 * for it, while the pump goes on processing what is buffered and sending
 * (an asynchronous anti-replay answer resumes a handshake whose receive
 * waits here for data the peer sends only after our flight). */
void uring_conn_poll_rx(struct kitls_uring_conn *c)
{
    if (c->busy & BUSY(KITLS_URING_OP_POLL_RX))
        return;
    struct io_uring_sqe *sqe = uring_conn_sqe(c);
    if (!sqe)
        return;
    io_uring_prep_poll_add(sqe, c->fd, POLLIN);
    uring_conn_tag(c, sqe, KITLS_URING_OP_POLL_RX);
}

/* ---- failures ---- */

/* A TLS or local failure: the core's alert (and output before it) goes
 * out through io_uring while the connection lingers, then it closes. */
void uring_conn_fail(struct kitls_uring_conn *c, int err)
{
    /* not while connecting: the peer has no TLS to hear an alert with */
    uring_conn_die(c, err, 0, c->st >= CS_HANDSHAKE);
}

/* A failure code of the core or of the kTLS layer, or a plain -errno:
 * one error space, so the close reason is the code itself. */
void uring_conn_fail_tls(struct kitls_uring_conn *c, int code)
{
    kitls_uring *u = c->u;
    if (c->not_tls && c->st == CS_HANDSHAKE && !c->sbuf_len && !c->sbuf) {
        /* A plaintext client (uring_conn_first_bytes): it gets
         * params.plain_reply in the clear instead of the core's alert, which
         * it could not read; the lingering close sends it. */
        const uint8_t *o;
        kitls_ktls_io_out_done(c->ktls, kitls_ktls_io_out(c->ktls, &o));
        if ((c->sbuf = kitls_malloc(u->p.plain_reply_len))) {
            memcpy(c->sbuf, u->p.plain_reply, u->p.plain_reply_len);
            c->sbuf_len = c->sbuf_cap = u->p.plain_reply_len;
            c->sbuf_off = 0;
            u->st.not_tls++;
        }
    }
    uring_conn_fail(c, code);
}

/* The first bytes a server connection received, before the core reads
 * them.  A TLS record begins with its content type, 20 to 24 (RFC 8446
 * §5.1); an ASCII letter begins a plaintext protocol's command, such as an
 * HTTP/1.x request line (RFC 9112 §3): with params.plain_reply set, the
 * handshake's failure answers it in the clear (uring_conn_fail_tls). */
void uring_conn_first_bytes(struct kitls_uring_conn *c, const uint8_t *p, size_t n)
{
    if (c->rx_first || !n)
        return;
    c->rx_first = 1;
    int lower = p[0] | 0x20;
    c->not_tls = c->server && c->u->p.plain_reply_len && lower >= 'a' && lower <= 'z';
}

/* The end of a live connection: it lingers (linger.c) when asked and it
 * can, else what is in flight is cancelled at once. */
void uring_conn_die(struct kitls_uring_conn *c, int reason, int reset, int linger)
{
    if (CS_DEAD(c->st)) {
        /* kitls_uring_abort() or the driver's shutdown cut a lingering
         * close short: what is in flight is cancelled, the socket reset. */
        if (CS_LINGERING(c->st) && reset) {
            uring_linger_stop(c);
            c->reset = 1;
        }
        return;
    }
    if (!c->reason)
        c->reason = reason;
    c->reset = reset ? 1 : 0;
    uring_dl_del(c->u, c);
    if (linger && uring_linger_ok(c))
        uring_linger_start(c);
    else
        uring_cs_set(c, CS_CANCEL);
}

void uring_conn_kill(struct kitls_uring_conn *c, int reason, int reset)
{
    uring_conn_die(c, reason, reset, 0);
}

/* Cancel each operation of c in the BUSY() mask `ops`.  -1 when the ring
 * has no free SQE: the caller tries again from kitls_uring_flush(). */
int uring_conn_cancel_ops(struct kitls_uring_conn *c, unsigned ops)
{
    for (unsigned op = 1; op < 32; op++) {
        if (!(ops & BUSY(op)))
            continue;
        struct io_uring_sqe *sqe = uring_conn_sqe(c);
        if (!sqe)
            return -1;
        io_uring_prep_cancel64(sqe, KITLS_URING_UD(c->u->p.tag, op, c->gen, c->slot), 0);
        uring_conn_tag(c, sqe, KITLS_URING_OP_CANCEL);
    }
    return 0;
}

/* The handshake slot a failed or closed connection held, given back. */
void uring_conn_hs_uncount(struct kitls_uring_conn *c)
{
    if (c->counted_hs) {
        c->counted_hs = 0;
        c->u->st.handshaking--;
        c->u->st.handshake_failures++;
    }
}

/*
 * A dead connection that still has a socket worth closing gracefully
 * lingers (uring_linger_step): it keeps its slot (st.conns, max_conns) but no
 * longer its handshake slot, and is bounded by URING_LINGER_MS (or
 * close_timeout_ms when shorter).  Not while the driver stops, nor after
 * an abort or a timeout (those reset on purpose).
 */
int uring_linger_ok(const struct kitls_uring_conn *c)
{
    return !c->reset && c->fd >= 0 && c->tls && !c->u->stopping;
}

void uring_linger_start(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    uring_conn_hs_uncount(c);
    uring_cs_set(c, CS_LINGER);
    u->st.lingering++;
    unsigned ms = u->p.close_timeout_ms < URING_LINGER_MS ? u->p.close_timeout_ms : URING_LINGER_MS;
    uring_dl_add(u, c, 3, ms);
}

/* The lingering ends (done, out of time or bytes, or cut by an abort or
 * the driver's shutdown): dead_step() cancels what it left in flight. */
void uring_linger_stop(struct kitls_uring_conn *c)
{
    if (!CS_LINGERING(c->st))
        return;
    uring_cs_set(c, CS_CANCEL);
    c->u->st.lingering--;
    uring_dl_del(c->u, c);
}
