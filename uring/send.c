/*
 * io_uring driver: a connection's output.  Application data and file
 * ranges wait in a chunk queue; the userspace path encrypts them into the
 * core (at most URING_CHUNK pending) and sends the ciphertext from the
 * connection's send buffer; the kTLS path sends data straight from the
 * queue and splices files (file -> pipe -> socket).  See conn.c for the
 * buffer invariants.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uring_int.h"

enum send_src { SRC_CORE = 0, SRC_CHUNK, SRC_FBUF };

/* ---- the output queue ---- */

void uring_q_pop(struct kitls_uring_conn *c)
{
    struct chunk *h = c->q_head;
    c->q_head = h->next;
    if (!c->q_head)
        c->q_tail = NULL;
    kitls_free(h);
    if (!c->q_head && c->fbuf && !c->fbuf_len) {
        kitls_free(c->fbuf); /* idle connections keep no file buffer */
        c->fbuf = NULL;
    }
}

static void q_push(struct kitls_uring_conn *c, struct chunk *ch)
{
    ch->next = NULL;
    if (c->q_tail)
        c->q_tail->next = ch;
    else
        c->q_head = ch;
    c->q_tail = ch;
    c->q_bytes += ch->len;
}

/* 1 when TX is in the kernel: application data goes to the socket as
 * plaintext (files by splice); else it is sealed into the core first. */
int uring_sends_plain(const struct kitls_uring_conn *c)
{
    return kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_TX) == 1;
}

/* The core's output not yet taken: ciphertext (TX in userspace), or 1 for
 * a control record waiting for kitls_ktls_flush() (TX in the kernel). */
size_t uring_out_pending(struct kitls_uring_conn *c)
{
    const uint8_t *p;
    return kitls_ktls_io_out(c->ktls, &p) + (kitls_ktls_io_ctrl_pending(c->ktls) ? 1 : 0);
}

size_t kitls_uring_conn_queued(const kitls_uring_conn *c)
{
    return c->q_bytes + uring_out_pending((struct kitls_uring_conn *)c) +
           (c->sbuf_len - c->sbuf_off);
}

/* ---- output ---- */

static int core_write(struct kitls_uring_conn *c, const uint8_t *p, size_t n)
{
    ssize_t r = kitls_ktls_io_write(c->ktls, p, n);
    if (r < 0) {
        uring_conn_fail_tls(c, (int)r);
        return (int)r;
    }
    c->sent_acc += n;
    return 0;
}

static void file_read(struct kitls_uring_conn *c, struct chunk *h)
{
    if (c->busy & FILE_OPS)
        return;
    if (!c->fbuf && !(c->fbuf = kitls_malloc(URING_FBUF))) {
        uring_conn_fail(c, -ENOMEM);
        return;
    }
    size_t n = h->len - h->off;
    struct io_uring_sqe *sqe = uring_conn_sqe(c);
    if (!sqe)
        return;
    io_uring_prep_read(sqe, h->file_fd, c->fbuf, n < URING_FBUF ? (unsigned)n : URING_FBUF,
                       (uint64_t)(h->file_off + (off_t)h->off));
    uring_conn_tag(c, sqe, KITLS_URING_OP_READ);
}

/* Userspace TX: encrypt queued data into the core's output (at most
 * URING_CHUNK pending), reading files as needed. */
static void fill_core(struct kitls_uring_conn *c)
{
    struct chunk *h;
    while (CS_LIVE_OPEN(c->st) && uring_out_pending(c) < URING_CHUNK && (h = c->q_head)) {
        if (h->file_fd < 0) {
            size_t room = URING_CHUNK - uring_out_pending(c);
            size_t n = h->len - h->off;
            n = n < room ? n : room;
            if (core_write(c, h->data + h->off, n) < 0)
                return;
            h->off += n;
            c->q_bytes -= n;
        } else if (c->fbuf_len) {
            size_t n = c->fbuf_len;
            c->fbuf_len = 0;
            if (core_write(c, c->fbuf, n) < 0)
                return;
            h->off += n;
            c->q_bytes -= n;
        } else if (h->off < h->len) {
            file_read(c, h);
            return;
        }
        if (h->off == h->len)
            uring_q_pop(c);
    }
}

/*
 * kTLS TX, before an io_uring send or splice of up to n bytes on the
 * offloaded socket: the kernel does not count records, so the kTLS layer
 * keeps the AEAD limit (RFC 8446 §5.5) and sends a KeyUpdate when the
 * current key has no room left.  Returns the bytes to send now (> 0), or
 * 0 when the connection waits (a poll) or failed.  Only called while no
 * send or splice is in flight: the KeyUpdate and the key change must not
 * overtake bytes already handed to the kernel.
 */
static ssize_t ktls_room(struct kitls_uring_conn *c, size_t n)
{
    ssize_t r = kitls_ktls_tx_reserve(c->ktls, n);
    if (r == -EAGAIN) {
        uring_conn_poll(c, POLLOUT);
        return 0;
    }
    if (r < 0) {
        uring_conn_fail_tls(c, (int)r);
        return 0;
    }
    return r;
}

/*
 * The splice pipe of a connection, made on its first file.  Each step is
 * two io_uring splices (file -> pipe, pipe -> socket) that io_uring always
 * runs in an io-wq worker, so for a large file the steps are as large as
 * the pipe can be made (URING_PIPE_BIG): a 64 KiB pipe costs 16 times the
 * worker hand-offs and completions per byte (docs/uring.md "Against
 * nginx").  A pipe holds page references, not copies: the larger size
 * costs its slot array (~10 KiB), and F_SETPIPE_SZ failing (the per-user
 * pipe page limits, fs.pipe-user-pages-soft) just keeps 64 KiB steps.
 */
static int pipe_open(struct kitls_uring_conn *c, size_t left)
{
    if (c->pipe_fd[0] < 0) {
        if (pipe2(c->pipe_fd, O_CLOEXEC) < 0) {
            uring_conn_fail(c, -errno);
            return -1;
        }
        c->pipe_step = URING_CHUNK;
    }
    if (left > URING_CHUNK && !c->pipe_tried && !c->pipe_len) {
        c->pipe_tried = 1; /* once per connection */
        if (fcntl(c->pipe_fd[1], F_SETPIPE_SZ, (int)URING_PIPE_BIG) >= (int)URING_PIPE_BIG)
            c->pipe_step = URING_PIPE_BIG;
    }
    return 0;
}

/* kTLS TX: files through splice (file -> pipe -> socket), data straight
 * from the queue. */
static void fill_ktls(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    struct chunk *h;
    while ((h = c->q_head) && h->off == h->len && !c->pipe_len && !c->fbuf_len)
        uring_q_pop(c);
    if (!h && c->fbuf && !c->fbuf_len && !(c->busy & FILE_OPS)) {
        kitls_free(c->fbuf); /* idle: an open connection holds no file buffer */
        c->fbuf = NULL;
    }
    if (!h || h->file_fd < 0 || (c->busy & FILE_OPS))
        return;
    if (kitls_ktls_io_ctrl_pending(c->ktls))
        return; /* a control record first: send_step flushes it while no file op runs */
    /* A small file (or a large one's tail) by read + send, not splice:
     * io_uring reads the page cache and sends on the socket inline, but
     * runs every splice in an io-wq worker, and two worker hand-offs per
     * 16 KiB response cost more than copying it once (docs/uring.md
     * "Against nginx"). */
    if (!u->have_splice || (u->p.flags & KITLS_URING_F_NO_SPLICE) ||
        (!c->pipe_len && h->len - h->off <= URING_FBUF)) {
        if (!c->fbuf_len && h->off < h->len)
            file_read(c, h); /* then sent from fbuf by send_step */
        return;
    }
    if (pipe_open(c, h->len - h->off) < 0)
        return;
    struct io_uring_sqe *sqe;
    if (c->pipe_len) {
        if (c->busy & BUSY(KITLS_URING_OP_SEND))
            return; /* keep the byte order with control records */
        /* The AEAD limit: room under the current key (a KeyUpdate first
         * when there is none). */
        ssize_t room = ktls_room(c, c->pipe_len);
        if (room <= 0)
            return;
        if (!(sqe = uring_conn_sqe(c)))
            return;
        io_uring_prep_splice(sqe, c->pipe_fd[0], -1, c->fd, -1, (unsigned)room, 0);
        uring_conn_tag(c, sqe, KITLS_URING_OP_SPLICE_OUT);
    } else if (h->off < h->len) {
        size_t n = h->len - h->off, max = c->pipe_step;
        /* A peer record_size_limit below 16 KiB (RFC 8449), which the
         * kernel does not know: one record per splice, each at most the
         * limit (a splice ends the kernel's record). */
        size_t frag = kitls_ktls_io_max_fragment(c->ktls);
        if (frag < URING_SCRATCH)
            max = frag;
        if (!(sqe = uring_conn_sqe(c)))
            return;
        io_uring_prep_splice(sqe, h->file_fd, (int64_t)(h->file_off + (off_t)h->off), c->pipe_fd[1],
                             -1, n < max ? (unsigned)n : (unsigned)max, 0);
        uring_conn_tag(c, sqe, KITLS_URING_OP_SPLICE_IN);
    }
}

void uring_send_step(struct kitls_uring_conn *c)
{
    if (c->busy & (BUSY(KITLS_URING_OP_SEND) | BUSY(KITLS_URING_OP_POLL)))
        return;
    const uint8_t *p = NULL;
    size_t n = 0;
    enum send_src src = SRC_CORE;
    if (!uring_sends_plain(c)) {
        if (!c->sbuf_len) {
            const uint8_t *o;
            size_t avail = kitls_ktls_io_out(c->ktls, &o);
            if (!avail) {
                kitls_free(c->sbuf); /* idle: hold no send buffer */
                c->sbuf = NULL;
                c->sbuf_cap = 0;
                return;
            }
            n = avail < URING_SBUF ? avail : URING_SBUF;
            /* Sized to what is there (a handshake flight or a small
             * response is a few KiB; a 64 KiB chunk's records at most
             * URING_SBUF): thousands of connections sending at once would
             * otherwise each take 68 KiB of heap, mostly untouched but
             * spread out, and the heap would stay that large. */
            if (c->sbuf_cap < n) {
                kitls_free(c->sbuf);
                c->sbuf_cap = 0;
                if (!(c->sbuf = kitls_malloc(n))) {
                    uring_conn_fail(c, -ENOMEM);
                    return;
                }
                c->sbuf_cap = n;
            }
            memcpy(c->sbuf, o, n);
            kitls_ktls_io_out_done(c->ktls, n);
            c->sbuf_len = n;
            c->sbuf_off = 0;
        }
        p = c->sbuf + c->sbuf_off;
        n = c->sbuf_len - c->sbuf_off;
    } else {
        /* The core's own records (tickets, KeyUpdate, alerts) go first,
         * with their record type, through the kTLS layer. */
        /* Not while a file operation is in flight: a splice into the
         * socket may leave an open record in the kernel, and no kitls_ktls_*
         * call (a control record, a TX key change after our KeyUpdate) may
         * run under it (include/kitls/ktls.h).  fill_ktls() starts no new
         * one while a control record waits, so it is not starved. */
        if (c->busy & FILE_OPS)
            return;
        if (kitls_ktls_io_ctrl_pending(c->ktls)) {
            int r = kitls_ktls_flush(c->ktls);
            if (r == -EAGAIN) {
                uring_conn_poll(c, POLLOUT);
                return;
            }
            if (r < 0) {
                uring_conn_fail_tls(c, r);
                return;
            }
            c->again = 1; /* fill_ktls() waited for it: another round */
        }
        struct chunk *h = c->q_head;
        if (c->fbuf_len) {
            p = c->fbuf;
            n = c->fbuf_len;
            src = SRC_FBUF;
        } else if (h && h->file_fd < 0 && h->off < h->len) {
            p = h->data + h->off;
            n = h->len - h->off;
            src = SRC_CHUNK;
        }
        /* Each send ends a kernel record: with a peer record_size_limit
         * below 16 KiB (RFC 8449), send at most that much at a time. */
        size_t frag = kitls_ktls_io_max_fragment(c->ktls);
        if (frag < URING_SCRATCH && n > frag)
            n = frag;
        if (n) {
            ssize_t room = ktls_room(c, n);
            if (room <= 0)
                return;
            n = (size_t)room;
        }
    }
    if (!n)
        return;
    struct io_uring_sqe *sqe = uring_conn_sqe(c);
    if (!sqe)
        return;
    /* Never SEND_ZC: kTLS sockets refuse it, and the userspace path sends
     * small records where zero-copy does not pay. */
    io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
    uring_conn_tag(c, sqe, KITLS_URING_OP_SEND);
    c->send_len = n;
    c->send_src = (unsigned)src;
}

int uring_queue_idle(struct kitls_uring_conn *c)
{
    return !c->q_head && !c->fbuf_len && !c->pipe_len && !(c->busy & FILE_OPS) &&
           !(c->busy & BUSY(KITLS_URING_OP_SEND)) && !uring_out_pending(c) && !c->sbuf_len;
}

void uring_on_send(struct kitls_uring_conn *c, int res)
{
    size_t n = (size_t)res;
    if (c->send_src != SRC_CORE) /* data sent on the kTLS socket: count its records */
        kitls_ktls_tx_count(c->ktls, kitls_ktls_records_for(n));
    switch ((enum send_src)c->send_src) {
    case SRC_CORE:
        c->sbuf_off += n;
        if (c->sbuf_off == c->sbuf_len)
            c->sbuf_len = c->sbuf_off = 0;
        break;
    case SRC_FBUF: {
        /* fbuf is sent from its start: move the rest down */
        struct chunk *h = c->q_head;
        memmove(c->fbuf, c->fbuf + n, c->fbuf_len - n);
        c->fbuf_len -= n;
        h->off += n;
        c->q_bytes -= n;
        c->sent_acc += n;
        break;
    }
    case SRC_CHUNK: {
        struct chunk *h = c->q_head;
        h->off += n;
        c->q_bytes -= n;
        c->sent_acc += n;
        if (h->off == h->len)
            uring_q_pop(c);
        break;
    }
    }
}

/* kitls_uring_send() (conn.c) without the pump: *pump says whether the
 * connection needs a round (the data was taken, or the core failed). */
int uring_q_data(struct kitls_uring_conn *c, const void *buf, size_t len, int *pump)
{
    *pump = 0;
    if (!c || (!buf && len))
        return -EINVAL;
    if (CS_DEAD(c->st))
        return -ENOTCONN;
    if (c->close_req)
        return -EPIPE;
    if (len > INT32_MAX)
        return -EINVAL;
    if (!len)
        return 0;
    if (kitls_uring_conn_queued(c) >= c->u->p.max_send_queue)
        return -EAGAIN;
    c->u->st.bytes_out += len;
    if (c->st == CS_OPEN && !uring_sends_plain(c) && !c->q_head && len <= URING_CHUNK &&
        uring_out_pending(c) < URING_CHUNK) {
        /* Fast path: encrypt into the core's output now. */
        if (core_write(c, buf, len) < 0) {
            *pump = 1;
            return -ENOTCONN;
        }
    } else {
        struct chunk *ch = kitls_malloc(sizeof(*ch) + len);
        if (!ch)
            return -ENOMEM;
        ch->file_fd = -1;
        ch->file_off = 0;
        ch->len = len;
        ch->off = 0;
        memcpy(ch->data, buf, len);
        q_push(c, ch);
    }
    *pump = 1;
    return (int)len;
}

/* kitls_uring_sendfile() (conn.c) without the pump: *pump as above. */
int uring_q_file(struct kitls_uring_conn *c, int fd, off_t off, size_t len, int *pump)
{
    *pump = 0;
    if (!c || fd < 0 || off < 0)
        return -EINVAL;
    if (CS_DEAD(c->st))
        return -ENOTCONN;
    if (c->close_req)
        return -EPIPE;
    if (!len)
        return 0;
    if (kitls_uring_conn_queued(c) >= c->u->p.max_send_queue)
        return -EAGAIN;
    struct chunk *ch = kitls_malloc(sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    ch->file_fd = fd;
    ch->file_off = off;
    ch->len = len;
    ch->off = 0;
    q_push(c, ch);
    c->u->st.bytes_out += len;
    *pump = 1;
    return 0;
}

/* Move queued output toward the socket (after the handshake). */
void uring_fill(struct kitls_uring_conn *c)
{
    if (uring_sends_plain(c))
        fill_ktls(c);
    else
        fill_core(c);
}
