/*
 * I/O accounting for callers that move the bytes on the offloaded socket
 * themselves (the io_uring driver: IORING_OP_SEND and IORING_OP_SPLICE
 * straight on the kTLS socket).  Named after what it does, not its caller.
 *
 * The kernel does not count records, so the AEAD limit (RFC 8446 §5.5)
 * stays this layer's job even when the bytes do not pass through
 * kitls_ktls_send(): the driver asks for room before each send
 * (kitls_ktls_tx_reserve) and reports what it sent (kitls_ktls_tx_count).
 * The bound and the rekey follow kitls_ktls_send(): an upper bound of the
 * records under the current key; near the limit the kernel's own sequence
 * number (getsockopt TLS_TX) decides; a KeyUpdate leaves under the old key
 * and the new TX key is installed before anything else is sent.
 */
#include <errno.h>
#include <linux/tls.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/types.h>

#include "ktls_int.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static uint64_t glue_limit(const kitls_ktls *k)
{
    if (k->limit)
        return k->limit;
    return k->cipher && k->cipher->suite == KITLS_CHACHA20_POLY1305_SHA256 ? (1ull << 40)
                                                                           : (1ull << 24);
}

/* Records still allowed under the current TX key. */
static uint64_t glue_avail(const kitls_ktls *k)
{
    uint64_t limit = glue_limit(k);
    return k->tx_records + 1 < limit ? limit - 1 - k->tx_records : 0;
}

ssize_t kitls_ktls_tx_reserve(kitls_ktls *k, size_t bytes)
{
    /* A KeyUpdate queued earlier (by a previous call or by the core) goes
     * first: sending it installs the new key and resets the count, and a
     * second KeyUpdate must not be queued behind it.  kitls_ktls_flush()
     * also refuses a NULL or failed object. */
    int ret = kitls_ktls_flush(k);
    return ret ? ret : k->tx->reserve(k, bytes);
}

/* Userspace TX: the core counts its own records and rekeys itself. */
ssize_t ktls_tx_user_reserve(kitls_ktls *k, size_t bytes)
{
    (void)k;
    return (ssize_t)(bytes > SSIZE_MAX ? SSIZE_MAX : bytes);
}

ssize_t ktls_tx_kernel_reserve(kitls_ktls *k, size_t bytes)
{
    if (!bytes)
        return 0;
    uint64_t avail = glue_avail(k);
    if (kitls_ktls_records_for(bytes) > avail) {
        /* The count is an upper bound: ask the kernel. */
        uint64_t seq;
        if (!ktls_seq(k, KITLS_DIR_TX, &seq) && seq < k->tx_records)
            k->tx_records = seq;
        avail = glue_avail(k);
    }
    if (!avail) {
        /* kitls_ktls_key_update() refuses cleanly on a kernel without
         * rekey (KITLS_KTLS_E_REKEY_UNSUPPORTED, after a fatal alert);
         * -EAGAIN leaves the KeyUpdate queued for the next
         * call. */
        int ret = kitls_ktls_key_update(k, 0);
        if (ret)
            return ret;
        avail = glue_avail(k);
        if (!avail)
            avail = 1; /* a limit of 1: one record per key */
    }
    /* records_for(b) = b / 16384 + 1 <= avail */
    uint64_t max = avail >= (uint64_t)SSIZE_MAX / KTLS_MAX_PLAIN ? (uint64_t)SSIZE_MAX
                                                                 : avail * KTLS_MAX_PLAIN - 1;
    return (ssize_t)(bytes < max ? bytes : max);
}

void kitls_ktls_tx_count(kitls_ktls *k, uint64_t records)
{
    if (k)
        k->tx->count(k, records);
}

void ktls_tx_user_count(kitls_ktls *k, uint64_t records)
{
    (void)k, (void)records;
}

void ktls_tx_kernel_count(kitls_ktls *k, uint64_t records)
{
    k->tx_records += records;
}

uint64_t kitls_ktls_records_for(size_t bytes)
{
    return (uint64_t)(bytes / KTLS_MAX_PLAIN) + 1;
}

ssize_t kitls_ktls_recv_pending(kitls_ktls *k, void *buf, size_t len)
{
    if (!k || (!buf && len))
        return KITLS_E_INVALID_ARG;
    return ktls_pend_take(k, buf, len);
}

int kitls_ktls_recv_record(kitls_ktls *k, uint8_t type, const uint8_t *p, size_t n)
{
    if (!k || (!p && n) || type == KTLS_CT_APPDATA)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    return k->rx->recv_record(k, type, p, n);
}

int ktls_rx_user_recv_record(kitls_ktls *k, uint8_t type, const uint8_t *p, size_t n)
{
    (void)k, (void)type, (void)p, (void)n;
    return KITLS_E_STATE; /* the core reads its own records */
}

int ktls_rx_kernel_recv_record(kitls_ktls *k, uint8_t type, const uint8_t *p, size_t n)
{
    ktls_rx_progress(k);
    int ret = kitls_offload_feed_record(k->o, type, p, n);
    if (ret == KITLS_E_CLOSED) {
        k->peer_closed = 1;
        return 1;
    }
    if (ret) {
        /* The core's fatal alert leaves now, as in io.c control_record():
         * once ktls_fail() made the error sticky kitls_ktls_flush() refuses,
         * and the peer would never learn why (a KeyUpdate flood, say). */
        int ignored = kitls_ktls_flush(k);
        (void)ignored;
        return ktls_fail(k, ret);
    }
    /* The peer's KeyUpdate: the kernel holds RX (EKEYEXPIRED) until it
     * has the next key, installed here before the caller reads again. */
    return ktls_rx_rekey(k);
}

/* ------------------------------------------------------------------ */
/* One transport for callers that move the bytes (issue 15, item 3)    */
/* ------------------------------------------------------------------ */
/*
 * The same calls whether a direction is in the kernel or in userspace
 * (before kitls_ktls_enable(), when the mode left it out, or when the
 * kernel refused): the caller posts a receive into the buffer it is
 * given, reports the result, and reads plaintext; it takes ciphertext
 * to send from kitls_ktls_io_out() and the core's control records leave
 * through kitls_ktls_flush().  The caller never talks to the core after
 * the handshake.
 */

/* Offloaded RX: one record per receive (a kTLS recv returns at most one
 * record's plaintext), with room for its type. */
struct ktls_io {
    size_t len, off; /* the data record received, not yet read */
    int eof;         /* the transport ended */
    int use_msg;     /* the receive was a recvmsg with a type */
    struct msghdr msg;
    struct iovec iov;
    union {
        char buf[CMSG_SPACE(sizeof(unsigned char))];
        struct cmsghdr align;
    } cb;
    uint8_t buf[KTLS_MAX_PLAIN];
};

void ktls_io_free(kitls_ktls *k)
{
    if (!k->io)
        return;
    explicit_bzero(k->io, sizeof(*k->io));
    kitls_free(k->io);
    k->io = NULL;
}

/* A caller idle on receive (io_uring with provided buffers) holds no
 * record buffer: the core's input and output buffers go when they hold
 * no unread bytes (kitls_conn_release_buffers), this layer's record
 * buffer when read; the next kitls_ktls_io_recv_buf() takes them again. */
void kitls_ktls_io_release(kitls_ktls *k)
{
    if (!k)
        return;
    kitls_conn_release_buffers(k->c);
    if (k->io && k->io->off >= k->io->len && !k->io->eof)
        ktls_io_free(k);
}

int kitls_ktls_io_recv_buf(kitls_ktls *k, uint8_t **buf, size_t *cap, struct msghdr **msg)
{
    if (!k || !buf || !cap)
        return KITLS_E_INVALID_ARG;
    if (msg)
        *msg = NULL;
    if (k->err)
        return k->err;
    return k->rx->recv_buf(k, buf, cap, msg);
}

int ktls_rx_user_recv_buf(kitls_ktls *k, uint8_t **buf, size_t *cap, struct msghdr **msg)
{
    (void)msg;
    return kitls_conn_in_reserve(k->c, buf, cap);
}

int ktls_rx_kernel_recv_buf(kitls_ktls *k, uint8_t **buf, size_t *cap, struct msghdr **msg)
{
    /* A KeyUpdate of ours (the answer to update_requested) leaves before
     * the next record is taken: the newest TX key is installed after
     * sending one, so at most one may wait (only with TX in the kernel:
     * the user row never reports one). */
    if (k->tx->ctrl_pending(k) == 2)
        return 1;
    if (!k->io && !(k->io = kitls_calloc(1, sizeof(*k->io))))
        return KITLS_E_NOMEM;
    struct ktls_io *io = k->io;
    io->len = io->off = 0;
    io->use_msg = msg != NULL;
    *buf = io->buf;
    *cap = sizeof(io->buf);
    if (msg) {
        /* Zeroed: what the kernel writes there is read directly. */
        memset(&io->msg, 0, sizeof(io->msg));
        memset(&io->cb, 0, sizeof(io->cb));
        io->iov.iov_base = io->buf;
        io->iov.iov_len = sizeof(io->buf);
        io->msg.msg_iov = &io->iov;
        io->msg.msg_iovlen = 1;
        io->msg.msg_control = io->cb.buf;
        io->msg.msg_controllen = sizeof(io->cb.buf);
        *msg = &io->msg;
    }
    return 0;
}

/* The record type of a completed recvmsg (application data without a
 * type, or after a plain recv). */
static unsigned io_record_type(const struct ktls_io *io)
{
    if (!io->use_msg)
        return KTLS_CT_APPDATA;
    const struct cmsghdr *cm = &io->cb.align;
    if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE &&
        cm->cmsg_len >= CMSG_LEN(sizeof(unsigned char)))
        return *(const unsigned char *)CMSG_DATA(cm);
    return KTLS_CT_APPDATA;
}

int kitls_ktls_io_recv_done(kitls_ktls *k, ssize_t res)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    return k->rx->recv_done(k, res);
}

int ktls_rx_user_recv_done(kitls_ktls *k, ssize_t res)
{
    if (res > 0)
        return kitls_conn_in_commit(k->c, (size_t)res);
    if (res < 0) /* no record type to miss in userspace: a socket error */
        return res < -KITLS_MAX_ERRNO ? KITLS_E_INVALID_ARG : (int)res;
    kitls_conn_set_eof(k->c);
    return 0;
}

int ktls_rx_kernel_recv_done(kitls_ktls *k, ssize_t res)
{
    struct ktls_io *io = k->io;
    if (!io)
        return KITLS_E_STATE;
    if (res == -EIO || res == -EKEYEXPIRED)
        return 1; /* a plain recv met a non-data record */
    if (res < 0 || (size_t)res > sizeof(io->buf))
        return KITLS_E_INVALID_ARG;
    if (!res) {
        io->eof = 1;
        return 0;
    }
    unsigned type = io_record_type(io);
    if (type == KTLS_CT_APPDATA) {
        io->len = (size_t)res;
        io->off = 0;
        return 0;
    }
    int ret = kitls_ktls_recv_record(k, (uint8_t)type, io->buf, (size_t)res);
    explicit_bzero(io->buf, (size_t)res);
    return ret < 0 ? ret : 2;
}

ssize_t kitls_ktls_io_read(kitls_ktls *k, void *buf, size_t len)
{
    if (!k || (!buf && len))
        return KITLS_E_INVALID_ARG;
    ssize_t n = kitls_ktls_recv_pending(k, buf, len);
    return n ? n : k->rx->read(k, buf, len);
}

ssize_t ktls_rx_user_read(kitls_ktls *k, void *buf, size_t len)
{
    int r = kitls_conn_read(k->c, buf, len);
    if (r > 0)
        return r;
    if (r == KITLS_E_WANT_READ)
        return -EAGAIN;
    if (r == KITLS_E_CLOSED)
        return 0;
    return r == KITLS_E_EOF ? KITLS_KTLS_E_TRUNCATED : r;
}

ssize_t ktls_rx_kernel_read(kitls_ktls *k, void *buf, size_t len)
{
    if (k->err)
        return k->err;
    struct ktls_io *io = k->io;
    if (io && io->off < io->len) {
        size_t m = io->len - io->off < len ? io->len - io->off : len;
        memcpy(buf, io->buf + io->off, m);
        io->off += m;
        if (io->off == io->len) {
            explicit_bzero(io->buf, io->len);
            io->len = io->off = 0;
        }
        return ktls_bytes(k, KITLS_STATS_RECEIVED, (ssize_t)m);
    }
    if (k->peer_closed)
        return 0;
    return io && io->eof ? KITLS_KTLS_E_TRUNCATED : -EAGAIN;
}

ssize_t kitls_ktls_io_write(kitls_ktls *k, const void *buf, size_t len)
{
    if (!k || (!buf && len) || len > INT_MAX)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    return k->tx->write(k, buf, len);
}

ssize_t ktls_tx_user_write(kitls_ktls *k, const void *buf, size_t len)
{
    int r = kitls_conn_write(k->c, buf, len);
    return r < 0 ? r : (ssize_t)len;
}

ssize_t ktls_tx_kernel_write(kitls_ktls *k, const void *buf, size_t len)
{
    (void)k, (void)buf, (void)len;
    return KITLS_E_STATE; /* the caller sends plaintext: kitls_ktls_tx_reserve() */
}

size_t kitls_ktls_io_out(kitls_ktls *k, const uint8_t **p)
{
    return k && p ? k->tx->out(k, p) : 0;
}

size_t ktls_tx_user_out(kitls_ktls *k, const uint8_t **p)
{
    return kitls_conn_out_peek(k->c, p);
}

size_t ktls_tx_kernel_out(kitls_ktls *k, const uint8_t **p)
{
    (void)k, (void)p;
    return 0; /* no ciphertext: the kernel seals */
}

void kitls_ktls_io_out_done(kitls_ktls *k, size_t n)
{
    if (k)
        k->tx->out_done(k, n);
}

void ktls_tx_user_out_done(kitls_ktls *k, size_t n)
{
    kitls_conn_out_consume(k->c, n);
}

void ktls_tx_kernel_out_done(kitls_ktls *k, size_t n)
{
    (void)k, (void)n;
}

int kitls_ktls_io_ctrl_pending(kitls_ktls *k)
{
    return k ? k->tx->ctrl_pending(k) : 0;
}

int ktls_tx_user_ctrl_pending(kitls_ktls *k)
{
    (void)k;
    return 0; /* the core's records leave as ciphertext: kitls_ktls_io_out() */
}

int ktls_tx_kernel_ctrl_pending(kitls_ktls *k)
{
    uint8_t type;
    const uint8_t *d;
    size_t l;
    int rekey = 0;
    if (!k->o || !kitls_offload_out_record(k->o, &type, &d, &l, &rekey))
        return 0;
    return rekey ? 2 : 1;
}

size_t kitls_ktls_io_max_fragment(const kitls_ktls *k)
{
    return k ? kitls_conn_max_send_fragment(k->c) : 0;
}

int kitls_ktls_io_key_update(kitls_ktls *k, int request)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    int ret = ktls_obj(k); /* a KeyUpdate only after the handshake */
    return ret ? ret : kitls_offload_key_update(k->o, request ? 1 : 0);
}

int kitls_ktls_io_close(kitls_ktls *k)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    /* before the handshake's end the connection itself, after it the
     * offload object (as kitls_ktls_close()) */
    return ktls_obj(k) ? kitls_conn_close(k->c) : kitls_offload_close(k->o);
}
