/*
 * io_uring driver: receives into a provided buffer ring, so that an idle connection holds no receive buffer.
 *
 * Without it every connection keeps a receive posted into a 16 KiB buffer
 * of its own (the core's record input, or the kTLS layer's record
 * buffer), also while it waits for data.  With a buffer ring (Linux 5.19,
 * IORING_REGISTER_PBUF_RING) the receive names a buffer group instead
 * (IOSQE_BUFFER_SELECT) and the kernel takes a buffer only when data
 * arrives; the completion says which (IORING_CQE_F_BUFFER).  Ownership:
 *   - userspace RX: the ciphertext is copied into the core at once
 *     (kitls_ktls_io_recv_buf/_recv_done) and the buffer goes back to the
 *     ring in the same completion; the core's input buffer is released
 *     (kitls_ktls_io_release) before the next receive is posted when it
 *     holds no partial record, so an idle connection holds nothing;
 *   - kTLS RX: IORING_OP_RECVMSG with the record type in a control
 *     message; application data stays in the ring buffer (zero-copy) until
 *     the pump delivers it as EV_DATA (later when the application paused
 *     receiving: the buffer is then held, u->rxb.held), other records go
 *     to the core through kitls_ktls_recv_record() and the buffer back.
 * A completion with -ENOBUFS consumed nothing from the socket: the kernel
 * selects when it tries the receive, also with no data there.  The
 * connection then waits for data holding no buffer (IORING_OP_POLL_ADD)
 * and tries again; if the ring is still empty with data waiting, it is
 * short: it grows (at most once per round of completions, up to one
 * buffer per connection, since each holds at most one) and the receive is
 * tried again after the round, whose completions give their buffers back.
 * So an empty ring never stalls a connection, and it never reads into a
 * buffer of its own.  A kernel that refuses the ring
 * leaves every connection on its own buffer (st.rx_buf_ring < 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/tls.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>

#include "uring_int.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#define KTLS_CT_APPDATA 23 /* RFC 8446 §5.1 application_data */

static uint8_t *rxb_buf(kitls_uring *u, unsigned bid)
{
    return u->rxb.mem + (size_t)bid * URING_RXB_SIZE;
}

static void rxb_put(kitls_uring *u, unsigned bid)
{
    struct uring_rxb *r = &u->rxb;
    io_uring_buf_ring_add(r->br, rxb_buf(u, bid), URING_RXB_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(r->entries), 0);
    io_uring_buf_ring_advance(r->br, 1);
}

/* Add up to n new buffers (ids count..count+n-1). */
static void rxb_grow(kitls_uring *u, unsigned n)
{
    struct uring_rxb *r = &u->rxb;
    if (n > r->entries - r->count)
        n = r->entries - r->count;
    for (unsigned i = 0; i < n; i++)
        io_uring_buf_ring_add(r->br, rxb_buf(u, r->count + i), URING_RXB_SIZE,
                              (unsigned short)(r->count + i), io_uring_buf_ring_mask(r->entries),
                              (int)i);
    io_uring_buf_ring_advance(r->br, (int)n);
    r->count += n;
    u->st.rx_bufs = r->count;
}

void uring_rxb_init(kitls_uring *u)
{
    struct uring_rxb *r = &u->rxb;
    if (u->p.flags & KITLS_URING_F_NO_BUF_RING)
        return; /* st.rx_buf_ring stays 0 */
    /* One buffer per connection at most (each holds at most one). */
    unsigned entries = 1;
    while (entries < u->p.max_conns && entries < 32768)
        entries <<= 1;
    if (entries < URING_RXB_FIRST)
        entries = URING_RXB_FIRST;
    size_t ring_sz = (size_t)entries * sizeof(struct io_uring_buf);
    /* The ring and the buffers are mapped, not allocated: pages never
     * used (buffers beyond what the ring handed out) stay unbacked. */
    void *br = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *mem = mmap(NULL, (size_t)entries * URING_RXB_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    int err = br == MAP_FAILED || mem == MAP_FAILED ? -ENOMEM : 0;
    if (!err) {
        io_uring_buf_ring_init(br);
        struct io_uring_buf_reg reg = {
            .ring_addr = (uint64_t)(uintptr_t)br,
            .ring_entries = entries,
            .bgid = (uint16_t)URING_RXB_BGID(u),
        };
        err = io_uring_register_buf_ring(u->ring, &reg, 0); /* -EINVAL before 5.19 */
    }
    if (err) {
        if (br != MAP_FAILED)
            munmap(br, ring_sz);
        if (mem != MAP_FAILED)
            munmap(mem, (size_t)entries * URING_RXB_SIZE);
        u->st.rx_buf_ring = err < 0 ? err : -EINVAL;
        return;
    }
    r->br = br;
    r->mem = mem;
    r->entries = entries;
    r->grown = ~0u; /* no round grew yet */
    u->st.rx_buf_ring = 1;
    rxb_grow(u, URING_RXB_FIRST);
}

/* After every connection is gone (kitls_uring_free): the kernel's copy
 * of an application ring forgets the group; an owned ring is gone. */
void uring_rxb_free(kitls_uring *u)
{
    struct uring_rxb *r = &u->rxb;
    if (!r->br)
        return;
    if (!u->owns_ring)
        (void)io_uring_unregister_buf_ring(u->ring, (int)URING_RXB_BGID(u));
    munmap(r->br, (size_t)r->entries * sizeof(struct io_uring_buf));
    munmap(r->mem, (size_t)r->entries * URING_RXB_SIZE);
    memset(r, 0, sizeof(*r));
}

/*
 * Post the receive (recv_step in conn.c decided one is due).  Returns 0
 * when posted or when it waits (no SQE: deferred; our KeyUpdate must
 * leave first), 1 when the ring is off (the caller posts into a buffer of
 * the connection).
 */
int uring_rxb_post(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    if (!u->rxb.br)
        return 1;
    int krx = kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_RX) == 1;
    if (krx && !u->have_recvmsg)
        return 1; /* no record type without RECVMSG (never with a ring: 5.3 < 5.19) */
    if (krx && kitls_ktls_io_ctrl_pending(c->ktls) == 2)
        return 0;      /* our KeyUpdate leaves first: its send's completion brings us back */
    if (c->rx_defer) { /* after this round's completions (kitls_uring_flush) */
        if (c->deferred)
            return 0;
        c->rx_defer = 0;
    }
    /* Nothing unread: the core's (or the layer's) receive buffer goes. */
    kitls_ktls_io_release(c->ktls);
    struct io_uring_sqe *sqe = uring_conn_sqe(c);
    if (!sqe)
        return 0;
    if (krx) {
        /* Zeroed: the kernel writes the record type there, read as is. */
        memset(&c->rx_cb, 0, sizeof(c->rx_cb));
        c->rx_iov = (struct iovec){.iov_base = NULL, .iov_len = URING_RXB_SIZE};
        c->rx_msg = (struct msghdr){.msg_iov = &c->rx_iov,
                                    .msg_iovlen = 1,
                                    .msg_control = c->rx_cb.buf,
                                    .msg_controllen = sizeof(c->rx_cb.buf)};
        io_uring_prep_recvmsg(sqe, c->fd, &c->rx_msg, 0);
    } else {
        io_uring_prep_recv(sqe, c->fd, NULL, URING_RXB_SIZE, 0);
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = (uint16_t)URING_RXB_BGID(u);
    c->rx_sel = 1;
    c->rx_kmsg = (unsigned)krx;
    uring_conn_tag(c, sqe, KITLS_URING_OP_RECV);
    return 0;
}

static unsigned rx_type(const struct kitls_uring_conn *c)
{
    const struct cmsghdr *cm = &c->rx_cb.align;
    if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE &&
        cm->cmsg_len >= CMSG_LEN(sizeof(unsigned char)))
        return *(const unsigned char *)CMSG_DATA(cm);
    return KTLS_CT_APPDATA;
}

/* A buffer's bytes to their owner: the core (userspace RX), the
 * connection until EV_DATA (kTLS data), the core (kTLS control record). */
static void rx_bytes(struct kitls_uring_conn *c, unsigned bid, size_t n)
{
    kitls_uring *u = c->u;
    uint8_t *p = rxb_buf(u, bid);
    int r;
    if (!c->rx_kmsg) {
        uint8_t *dst;
        size_t cap;
        r = kitls_ktls_io_recv_buf(c->ktls, &dst, &cap, NULL);
        if (!r && cap < n)
            r = KITLS_E_INTERNAL; /* the core reserves a whole record's room */
        if (!r) {
            uring_conn_first_bytes(c, p, n);
            memcpy(dst, p, n);
            r = kitls_ktls_io_recv_done(c->ktls, (ssize_t)n);
        }
        rxb_put(u, bid);
    } else if (rx_type(c) == KTLS_CT_APPDATA) {
        c->rxb_bid = (uint16_t)bid;
        c->rxb_len = (uint32_t)n;
        u->rxb.held++;
        r = 0;
    } else {
        r = kitls_ktls_recv_record(c->ktls, (uint8_t)rx_type(c), p, n);
        explicit_bzero(p, n); /* a ticket, a KeyUpdate, an alert */
        rxb_put(u, bid);
        u->st.ktls_ctrl_recvmsg++;
    }
    if (r < 0)
        uring_conn_fail_tls(c, r);
    else
        c->rx_ready = 1; /* the pump reads (EV_DATA, EV_EOF) */
}

/* The completion of a receive that selected from the ring (any state). */
void uring_rxb_cqe(struct kitls_uring_conn *c, int res, unsigned flags)
{
    kitls_uring *u = c->u;
    int has = (flags & IORING_CQE_F_BUFFER) != 0;
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    c->rx_sel = 0;
    if (res != -ENOBUFS)
        c->rx_waitbuf = 0;            /* the ring had a buffer (or no data was wanted) */
    if (has && bid >= u->rxb.count) { /* not ours: cannot be */
        uring_conn_fail(c, -EIO);
        return;
    }
    if (CS_DEAD(c->st) || res <= 0) {
        if (has) /* nothing of it is wanted any more */
            rxb_put(u, bid);
        if (CS_DEAD(c->st))
            return;
    }
    if (res > 0 && has) {
        rx_bytes(c, bid, (size_t)res);
        return;
    }
    if (res == -ENOBUFS) {
        /* Nothing was read.  The kernel takes a buffer when it tries the
         * receive, data or not: wait for data without one (a poll), then
         * try again.  Empty again with data waiting: the ring is short,
         * grow it (once per round of completions) and try after this
         * round, whose completions give their buffers back. */
        u->st.rx_nobufs++;
        if (!c->rx_waitbuf) {
            c->rx_waitbuf = 1;
            uring_conn_poll_rx(c);
            return;
        }
        if (u->rxb.grown != u->rxb.round) {
            u->rxb.grown = u->rxb.round;
            rxb_grow(u, URING_RXB_FIRST);
        }
        c->rx_defer = 1;
        uring_defer(u, c);
        return;
    }
    if (res == 0) {
        /* The end of the stream: the kTLS layer learns it like any
         * receive's result (kTLS RX: close_notify before it or not). */
        c->eof = 1;
        uint8_t *b;
        size_t cap;
        int r = kitls_ktls_io_recv_buf(c->ktls, &b, &cap, NULL);
        if (r == 0)
            r = kitls_ktls_io_recv_done(c->ktls, 0);
        if (r < 0) {
            uring_conn_fail_tls(c, r);
        } else if (r == 1) { /* our KeyUpdate still queued: no record, no close_notify */
            c->peer_done = 1;
            if (!c->close_req)
                uring_conn_kill(c, KITLS_E_EOF, 0);
        } else {
            c->rx_ready = 1;
        }
        return;
    }
    if (res == -EAGAIN || res == -EINTR) {
        uring_conn_poll_rx(c);
        return;
    }
    if (c->rx_kmsg && (res == -EIO || res == -EKEYEXPIRED)) {
        /* Not expected from a recvmsg with room for the type; if the
         * kernel says a control record is next, the layer reads it (as
         * without the ring, conn.c cqe_apply). */
        uint8_t *b;
        size_t cap;
        if (kitls_ktls_io_recv_buf(c->ktls, &b, &cap, NULL) == 0 &&
            kitls_ktls_io_recv_done(c->ktls, res) == 1) {
            c->ctrl_pending = 1;
            return;
        }
    }
    uring_conn_kill(c, res > 0 ? -EIO : res, 0);
}

/* kTLS data in a ring buffer: EV_DATA (from read_plain, not paused). */
void uring_rxb_deliver(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    unsigned bid = c->rxb_bid;
    size_t n = c->rxb_len; /* one EV_DATA: the whole receive */
    const uint8_t *p = rxb_buf(u, bid);
    /* Detached from c before the callback (which may abort or close c:
     * finish() must not give it back too); the ring gets it after. */
    c->rxb_len = 0;
    u->rxb.held--;
    u->st.bytes_in += n;
    uring_conn_emit(c, KITLS_URING_EV_DATA, p, n, NULL);
    rxb_put(u, bid);
}

/* The connection ends with kTLS data undelivered (finish in conn.c). */
void uring_rxb_drop(struct kitls_uring_conn *c)
{
    if (!c->rxb_len)
        return;
    c->rxb_len = 0;
    c->u->rxb.held--;
    rxb_put(c->u, c->rxb_bid);
}
