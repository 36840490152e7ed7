/*
 * kTLS offload: moving bytes.  Data goes through the kernel when a
 * direction is offloaded and through the core otherwise; control records
 * (handshake, alert) always come from and go to the core, carried by
 * TLS_SET_RECORD_TYPE / TLS_GET_RECORD_TYPE control messages.
 */
#include <errno.h>
#include <linux/tls.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktls_int.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define AL_FATAL 2
#define AL_INTERNAL_ERROR 80

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

/* One sendmsg; a type other than application_data goes in a
 * TLS_SET_RECORD_TYPE control message. */
ssize_t ktls_send_raw(kitls_ktls *k, const void *buf, size_t len, int type)
{
    union {
        char buf[CMSG_SPACE(sizeof(unsigned char))];
        struct cmsghdr align;
    } cb;
    struct iovec iov = {(void *)buf, len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (type && type != KTLS_CT_APPDATA) {
        memset(&cb, 0, sizeof(cb));
        m.msg_control = cb.buf;
        m.msg_controllen = sizeof(cb.buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_TLS;
        cm->cmsg_type = TLS_SET_RECORD_TYPE;
        cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
        *CMSG_DATA(cm) = (unsigned char)type;
    }
    ssize_t r = k->ops.sendmsg(k->ops.ctx, k->fd, &m, MSG_NOSIGNAL);
    return r < 0 ? ktls_sys(k, r) : r;
}

/* The kernel cannot take the keys a KeyUpdate needs: say so to the peer
 * under the keys in force and stop (never send under stale keys). */
int ktls_rekey_refused(kitls_ktls *k)
{
    k->tx->fatal_alert(k, AL_INTERNAL_ERROR);
    return ktls_fail(k, KITLS_KTLS_E_REKEY_UNSUPPORTED);
}

/* TX in the kernel: the alert as a plaintext record the kernel seals. */
static void kernel_fatal_alert(kitls_ktls *k, uint8_t desc)
{
    const uint8_t alert[2] = {AL_FATAL, desc};
    (void)ktls_send_raw(k, alert, sizeof(alert), KTLS_CT_ALERT);
}

/* Userspace TX: the core seals the alert; what the socket takes leaves. */
static void user_fatal_alert(kitls_ktls *k, uint8_t desc)
{
    const uint8_t *p;
    int ignored = kitls_offload_send_alert(k->o, desc);
    (void)ignored;
    size_t n = kitls_conn_out_peek(k->c, &p);
    ssize_t r = n ? ktls_send_raw(k, p, n, 0) : 0;
    if (r > 0)
        kitls_conn_out_consume(k->c, (size_t)r);
}

static int kernel_can_rekey(kitls_ktls *k)
{
    return k->rekey_ok ? 0 : ktls_rekey_refused(k);
}

static int user_can_rekey(kitls_ktls *k)
{
    (void)k;
    return 0; /* the core installs its own keys */
}

/* TX offloaded: send the core's plaintext control records. */
static int flush_records(kitls_ktls *k)
{
    uint8_t type;
    const uint8_t *data;
    size_t len;
    int rekey;
    while (kitls_offload_out_record(k->o, &type, &data, &len, &rekey)) {
        if (rekey && !k->rekey_ok)
            return ktls_rekey_refused(k);
        while (k->ctl_sent < len) {
            /* A remainder after a partial send becomes its own record:
             * handshake messages may span records (RFC 8446 §5.1). */
            ssize_t r = ktls_send_raw(k, data + k->ctl_sent, len - k->ctl_sent, type);
            if (r < 0)
                return r == -EAGAIN ? r : ktls_fail(k, (int)r);
            k->ctl_sent += (size_t)r;
            k->tx_records++;
        }
        k->ctl_sent = 0;
        kitls_offload_out_record_done(k->o);
        if (rekey) {
            /* The KeyUpdate left under the old key: install the new one
             * before anything else is sent. */
            int ret = ktls_install(k, KITLS_DIR_TX);
            if (ret)
                return ktls_fail(k, KITLS_KTLS_E_INSTALL);
            ktls_rekeyed(k, KITLS_DIR_TX);
        }
    }
    return 0;
}

/* Userspace TX: send the ciphertext the core produced. */
static int flush_bytes(kitls_ktls *k)
{
    const uint8_t *p;
    size_t n;
    while ((n = kitls_conn_out_peek(k->c, &p)) > 0) {
        ssize_t r = ktls_send_raw(k, p, n, 0);
        if (r < 0)
            return r == -EAGAIN ? (int)r : ktls_fail(k, (int)r);
        kitls_conn_out_consume(k->c, (size_t)r);
    }
    return 0;
}

int kitls_ktls_flush(kitls_ktls *k)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    return k->tx->flush(k);
}

static uint64_t tx_limit(const kitls_ktls *k)
{
    if (k->limit)
        return k->limit;
    uint64_t l = kitls_offload_key_update_limit(k->o); /* the config's, or the suite's default */
    return l ? l : 1ull << 24;
}

/*
 * Before sending up to `records` more records under the current key:
 * update the key if the AEAD limit (RFC 8446 §5.5) would be reached.  The
 * estimate is an upper bound; near the limit the kernel's own sequence
 * number (getsockopt TLS_TX) decides.
 */
static int tx_budget(kitls_ktls *k, uint64_t records)
{
    uint64_t limit = tx_limit(k);
    if (k->tx_records + records < limit)
        return 0;
    uint64_t seq;
    int ret = ktls_seq(k, KITLS_DIR_TX, &seq);
    if (!ret && seq < k->tx_records)
        k->tx_records = seq;
    if (k->tx_records + records < limit)
        return 0;
    if (!k->rekey_ok)
        return ktls_rekey_refused(k);
    ret = kitls_offload_key_update(k->o, 0);
    if (ret)
        return ktls_fail(k, ret);
    return flush_records(k);
}

ssize_t kitls_ktls_send(kitls_ktls *k, const void *buf, size_t len)
{
    if (!k || (!buf && len))
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    int ret = kitls_ktls_flush(k);
    return ret ? ret : k->tx->send(k, buf, len);
}

static ssize_t user_send(kitls_ktls *k, const void *buf, size_t len)
{
    if (len > INT32_MAX)
        len = INT32_MAX;
    int ret = kitls_conn_write(k->c, buf, len);
    if (ret < 0)
        return ktls_fail(k, ret);
    ret = flush_bytes(k);
    return ret && ret != -EAGAIN ? ret : (ssize_t)len;
}

static ssize_t kernel_send(kitls_ktls *k, const void *buf, size_t len)
{
    int ret;
    /* Each sendmsg without MSG_MORE ends the kernel's record, so chunks of
     * at most the peer's record size limit make records it accepts (the
     * kernel itself does not know that limit). */
    size_t frag = kitls_offload_max_send_fragment(k->o), done = 0;
    const uint8_t *p = buf;
    while (done < len) {
        size_t n = len - done;
        if (k->tx_partial)
            n = n < k->tx_partial ? n : k->tx_partial;
        else if (n > frag)
            n = frag;
        if ((ret = tx_budget(k, 1)))
            return done ? (ssize_t)done : ret;
        ssize_t r = ktls_send_raw(k, p + done, n, 0);
        if (r < 0) {
            if (done && r == -EAGAIN)
                break;
            return r == -EAGAIN ? r : ktls_fail(k, (int)r);
        }
        k->tx_records++;
        k->tx_partial = (size_t)r < n ? n - (size_t)r : 0;
        done += (size_t)r;
        if ((size_t)r < n)
            break;
    }
    return ktls_bytes(k, KITLS_STATS_SENT, (ssize_t)done);
}

ssize_t kitls_ktls_sendfile(kitls_ktls *k, int in_fd, off_t *offset, size_t count)
{
    if (!k || !offset || in_fd < 0)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    int ret = kitls_ktls_flush(k);
    if (ret)
        return ret;
    if (!count)
        return 0;
    return k->tx->sendfile(k, in_fd, offset, count);
}

static ssize_t kernel_sendfile(kitls_ktls *k, int in_fd, off_t *offset, size_t count)
{
    size_t frag = kitls_offload_max_send_fragment(k->o);
    /* The kernel fills records up to 16 KiB from the file; with a
     * smaller peer record limit, one record per call. */
    size_t n = count;
    if (frag < KTLS_MAX_PLAIN)
        n = n < frag ? n : frag;
    else if (n > (1u << 20))
        n = 1u << 20;
    int ret = tx_budget(k, n / KTLS_MAX_PLAIN + 2);
    if (ret)
        return ret;
    ssize_t r = k->ops.sendfile(k->ops.ctx, k->fd, in_fd, offset, n);
    if (r < 0)
        return ktls_sys(k, r) == -EAGAIN ? -EAGAIN : ktls_fail(k, (int)r);
    k->tx_records += (uint64_t)r / KTLS_MAX_PLAIN + 2;
    return ktls_bytes(k, KITLS_STATS_SENT, r);
}

/* Userspace: read a chunk and encrypt it. */
static ssize_t user_sendfile(kitls_ktls *k, int in_fd, off_t *offset, size_t count)
{
    if (!ktls_rbuf(k))
        return KITLS_E_NOMEM;
    size_t n = count < KTLS_MAX_PLAIN ? count : KTLS_MAX_PLAIN;
    ssize_t r = pread(in_fd, k->rbuf, n, *offset);
    if (r < 0)
        return ktls_sys(k, -errno);
    if (r == 0)
        return 0;
    ssize_t w = kitls_ktls_send(k, k->rbuf, (size_t)r);
    explicit_bzero(k->rbuf, (size_t)r);
    if (w > 0)
        *offset += w;
    return w;
}

int kitls_ktls_key_update(kitls_ktls *k, int request)
{
    /* kitls_ktls_flush() also refuses a NULL or failed object. */
    int ret = kitls_ktls_flush(k);
    if (ret)
        return ret;
    if ((ret = k->tx->can_rekey(k)))
        return ret;
    if ((ret = ktls_obj(k)) == 0)
        ret = kitls_offload_key_update(k->o, request);
    if (ret)
        return ktls_fail(k, ret);
    return kitls_ktls_flush(k);
}

int kitls_ktls_close(kitls_ktls *k)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    /* Before the handshake's end there is no offload object. */
    int ret = ktls_obj(k) ? kitls_conn_close(k->c) : kitls_offload_close(k->o);
    if (ret)
        return ktls_fail(k, ret);
    return kitls_ktls_flush(k);
}

/* ------------------------------------------------------------------ */
/* Receiving                                                           */
/* ------------------------------------------------------------------ */

/* After the core took a KeyUpdate: give the kernel the new RX keys. */
int ktls_rx_rekey(kitls_ktls *k)
{
    if (!kitls_offload_rx_rekey_pending(k->o))
        return 0;
    if (!k->rekey_ok)
        return ktls_rekey_refused(k);
    if (ktls_install(k, KITLS_DIR_RX))
        return ktls_fail(k, KITLS_KTLS_E_INSTALL);
    ktls_rekeyed(k, KITLS_DIR_RX);
    return 0;
}

/*
 * The core bounds consecutive KeyUpdates (max_key_updates: a peer must
 * not make us change keys forever while sending nothing), and in
 * userspace every application data record restarts the count.  With RX
 * in the kernel the core never sees data -- whoever reads it: us, the
 * io_uring driver or the application itself -- so it would count every
 * KeyUpdate of the connection's life.  The kernel's RX record sequence
 * number tells what came between: the control record just delivered is
 * number seq - 1 under the current key, and when that is not rx_next (the
 * record after the last one the core took, or the first under a key we
 * installed) records the core never saw, application data, came first.
 * A kernel that cannot say (getsockopt TLS_RX fails) is taken to have
 * delivered data: the count never ends a connection wrongly.
 */
void ktls_rx_progress(kitls_ktls *k)
{
    uint64_t seq;
    int ret = ktls_seq(k, KITLS_DIR_RX, &seq);
    if (ret || !seq || seq - 1 != k->rx_next)
        kitls_offload_rx_data_seen(k->o);
    k->rx_next = ret || !seq ? UINT64_MAX : seq;
}

/* A non-data record delivered by the kernel goes to the core. */
static int control_record(kitls_ktls *k, uint8_t type, const uint8_t *p, size_t n)
{
    ktls_rx_progress(k);
    int ret = kitls_offload_feed_record(k->o, type, p, n);
    if (ret == KITLS_E_CLOSED) {
        k->peer_closed = 1;
        return 1;
    }
    if (ret) {
        int ignored = kitls_ktls_flush(k); /* the alert, if any */
        (void)ignored;
        return ktls_fail(k, ret);
    }
    if ((ret = ktls_rx_rekey(k)))
        return ret;
    /* Our answer to update_requested, if any; a full socket buffer only
     * delays it. */
    ret = kitls_ktls_flush(k);
    return ret == -EAGAIN ? 0 : ret;
}

/*
 * One recvmsg on the offloaded socket with room for the record type.
 * Returns the bytes read (or -errno) and sets *type (application_data
 * when the kernel gave no type).
 */
static ssize_t recv_record(kitls_ktls *k, uint8_t *buf, size_t len, int *type)
{
    union {
        char buf[CMSG_SPACE(sizeof(unsigned char))];
        struct cmsghdr align;
    } cb;
    struct iovec iov = {buf, len};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.buf, .msg_controllen = sizeof(cb.buf)};
    memset(&cb, 0, sizeof(cb));
    ssize_t r = k->ops.recvmsg(k->ops.ctx, k->fd, &m, 0);
    if (r < 0)
        return r;
    *type = KTLS_CT_APPDATA;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
        if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
            *type = *CMSG_DATA(cm);
    return r;
}

/* Handle a failed recvmsg on the offloaded socket. */
static int recv_error(kitls_ktls *k, ssize_t r)
{
    if (r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR)
        return -EAGAIN;
    if (r == -EKEYEXPIRED && kitls_offload_rx_rekey_pending(k->o)) {
        /* The kernel paused after a KeyUpdate we have not answered. */
        int ret = ktls_rx_rekey(k);
        return ret ? ret : 0;
    }
    return ktls_fail(k, ktls_sys(k, r));
}

ssize_t ktls_pend_take(kitls_ktls *k, void *buf, size_t len)
{
    size_t n = k->pend_len - k->pend_off;
    n = n < len ? n : len;
    if (!n)
        return 0;
    memcpy(buf, k->pend + k->pend_off, n);
    k->pend_off += n;
    if (k->pend_off == k->pend_len) {
        explicit_bzero(k->pend, k->pend_len);
        kitls_free(k->pend);
        k->pend = NULL;
        k->pend_len = k->pend_off = 0;
    }
    return (ssize_t)n;
}

static ssize_t user_recv(kitls_ktls *k, void *buf, size_t len)
{
    for (;;) {
        int ret = kitls_conn_read(k->c, buf, len);
        if (ret > 0 || ret == KITLS_E_CLOSED) {
            int f = kitls_ktls_flush(k); /* KeyUpdate answers */
            if (f && f != -EAGAIN)
                return f;
            return ret > 0 ? ret : 0;
        }
        if (ret == KITLS_E_EOF)
            return ktls_fail(k, KITLS_KTLS_E_TRUNCATED);
        if (ret != KITLS_E_WANT_READ) {
            int ignored = kitls_ktls_flush(k); /* the alert */
            (void)ignored;
            return ktls_fail(k, ret);
        }
        if ((ret = kitls_ktls_flush(k)) && ret != -EAGAIN)
            return ret;
        uint8_t *p;
        size_t cap;
        if ((ret = kitls_conn_in_reserve(k->c, &p, &cap)))
            return ktls_fail(k, ret);
        struct iovec iov = {p, cap};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t r = k->ops.recvmsg(k->ops.ctx, k->fd, &m, 0);
        if (r < 0) {
            if (r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR)
                return -EAGAIN;
            return ktls_fail(k, ktls_sys(k, r));
        }
        if (r == 0)
            kitls_conn_set_eof(k->c);
        else if ((ret = kitls_conn_in_commit(k->c, (size_t)r)))
            return ktls_fail(k, ret);
    }
}

ssize_t kitls_ktls_recv(kitls_ktls *k, void *buf, size_t len)
{
    if (!k || (!buf && len))
        return KITLS_E_INVALID_ARG;
    if (k->pend)
        return ktls_pend_take(k, buf, len);
    if (k->err)
        return k->err;
    return k->rx->recv(k, buf, len);
}

static ssize_t kernel_recv(kitls_ktls *k, void *buf, size_t len)
{
    if (k->peer_closed)
        return 0;
    for (;;) {
        /* Our pending records (an answer to update_requested above all)
         * leave before more is read: the next KeyUpdate must not be
         * taken while the previous one's keys are still to install. */
        int f = kitls_ktls_flush(k);
        if (f)
            return f;
        /* A buffer smaller than a record goes through ours, so that a
         * control record always arrives whole. */
        int small = len < KTLS_MAX_PLAIN;
        if (small && !ktls_rbuf(k))
            return KITLS_E_NOMEM;
        uint8_t *dst = small ? k->rbuf : buf;
        int type;
        ssize_t r = recv_record(k, dst, small ? KTLS_RBUF_LEN : len, &type);
        if (r < 0) {
            int ret = recv_error(k, r);
            if (ret)
                return ret;
            continue;
        }
        if (type != KTLS_CT_APPDATA) {
            int ret = control_record(k, (uint8_t)type, dst, (size_t)r);
            explicit_bzero(dst, (size_t)r);
            if (ret < 0)
                return ret;
            if (ret == 1)
                return 0;
            continue;
        }
        if (r == 0) {
            kitls_conn_set_eof(k->c);
            return ktls_fail(k, KITLS_KTLS_E_TRUNCATED);
        }
        if (ktls_bytes(k, KITLS_STATS_RECEIVED, r) && !small)
            return r;
        size_t n = (size_t)r < len ? (size_t)r : len;
        memcpy(buf, k->rbuf, n);
        if ((size_t)r > n) {
            int ret = ktls_pend_add(k, k->rbuf + n, (size_t)r - n);
            if (ret)
                return ktls_fail(k, ret);
        }
        explicit_bzero(k->rbuf, (size_t)r);
        return (ssize_t)n;
    }
}

int kitls_ktls_recv_control(kitls_ktls *k)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    return k->rx->recv_control(k);
}

static int user_recv_control(kitls_ktls *k)
{
    (void)k;
    return KITLS_E_STATE; /* the core reads its own control records */
}

static int kernel_recv_control(kitls_ktls *k)
{
    if (k->peer_closed)
        return 1;
    if (kitls_offload_rx_rekey_pending(k->o))
        return ktls_rx_rekey(k);
    if (!ktls_rbuf(k))
        return KITLS_E_NOMEM;
    int type;
    ssize_t r = recv_record(k, k->rbuf, KTLS_RBUF_LEN, &type);
    if (r < 0)
        return recv_error(k, r);
    if (type == KTLS_CT_APPDATA) {
        /* Data after all: keep it for kitls_ktls_recv(). */
        if (r == 0) {
            kitls_conn_set_eof(k->c);
            return ktls_fail(k, KITLS_KTLS_E_TRUNCATED);
        }
        int ret = ktls_pend_add(k, k->rbuf, (size_t)r);
        if (ret)
            return ktls_fail(k, ret);
        explicit_bzero(k->rbuf, (size_t)r);
        return 2;
    }
    int ret = control_record(k, (uint8_t)type, k->rbuf, (size_t)r);
    explicit_bzero(k->rbuf, (size_t)r);
    return ret;
}

/* ------------------------------------------------------------------ */
/* The rows (struct ktls_tx_ops / ktls_rx_ops in ktls_int.h)           */
/* ------------------------------------------------------------------ */

const struct ktls_tx_ops ktls_tx_user = {
    .flush = flush_bytes,
    .send = user_send,
    .sendfile = user_sendfile,
    .fatal_alert = user_fatal_alert,
    .can_rekey = user_can_rekey,
    .reserve = ktls_tx_user_reserve,
    .count = ktls_tx_user_count,
    .write = ktls_tx_user_write,
    .out = ktls_tx_user_out,
    .out_done = ktls_tx_user_out_done,
    .ctrl_pending = ktls_tx_user_ctrl_pending,
};

const struct ktls_tx_ops ktls_tx_kernel = {
    .flush = flush_records,
    .send = kernel_send,
    .sendfile = kernel_sendfile,
    .fatal_alert = kernel_fatal_alert,
    .can_rekey = kernel_can_rekey,
    .reserve = ktls_tx_kernel_reserve,
    .count = ktls_tx_kernel_count,
    .write = ktls_tx_kernel_write,
    .out = ktls_tx_kernel_out,
    .out_done = ktls_tx_kernel_out_done,
    .ctrl_pending = ktls_tx_kernel_ctrl_pending,
};

const struct ktls_rx_ops ktls_rx_user = {
    .recv = user_recv,
    .recv_control = user_recv_control,
    .recv_record = ktls_rx_user_recv_record,
    .recv_buf = ktls_rx_user_recv_buf,
    .recv_done = ktls_rx_user_recv_done,
    .read = ktls_rx_user_read,
};

const struct ktls_rx_ops ktls_rx_kernel = {
    .recv = kernel_recv,
    .recv_control = kernel_recv_control,
    .recv_record = ktls_rx_kernel_recv_record,
    .recv_buf = ktls_rx_kernel_recv_buf,
    .recv_done = ktls_rx_kernel_recv_done,
    .read = ktls_rx_kernel_read,
};

/* ------------------------------------------------------------------ */
/* Handshake with exact record reads                                   */
/* ------------------------------------------------------------------ */

static ssize_t read_some(kitls_ktls *k, uint8_t *p, size_t n)
{
    struct iovec iov = {p, n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t r = k->ops.recvmsg(k->ops.ctx, k->fd, &m, 0);
    if (r < 0)
        return r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR ? -EAGAIN : ktls_sys(k, r);
    return r;
}

int kitls_ktls_handshake(kitls_ktls *k)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    for (;;) {
        int ret = flush_bytes(k);
        if (ret)
            return ret;
        ret = kitls_conn_handshake(k->c);
        if (ret != KITLS_E_WANT_READ) {
            int f = flush_bytes(k);
            if (ret)
                return ktls_fail(k, ret);
            return f;
        }
        /* Send what the core produced before waiting for the peer: on a
         * blocking socket both sides would otherwise wait for each other. */
        ret = flush_bytes(k);
        if (ret)
            return ret;
        ssize_t r;
        if (k->hdr_have < sizeof(k->hdr)) {
            r = read_some(k, k->hdr + k->hdr_have, sizeof(k->hdr) - k->hdr_have);
            if (r > 0) {
                k->hdr_have += (size_t)r;
                if (k->hdr_have == sizeof(k->hdr)) {
                    k->body_left = (size_t)k->hdr[3] << 8 | k->hdr[4];
                    ret = kitls_conn_feed(k->c, k->hdr, sizeof(k->hdr));
                    if (!k->body_left)
                        k->hdr_have = 0;
                }
            }
        } else {
            /* Straight into the core's input buffer. */
            uint8_t *p;
            size_t cap;
            if ((ret = kitls_conn_in_reserve(k->c, &p, &cap)))
                return ktls_fail(k, ret);
            r = read_some(k, p, k->body_left < cap ? k->body_left : cap);
            if (r > 0) {
                ret = kitls_conn_in_commit(k->c, (size_t)r);
                k->body_left -= (size_t)r;
                if (!k->body_left)
                    k->hdr_have = 0;
            }
        }
        if (r < 0)
            return r == -EAGAIN ? (int)r : ktls_fail(k, (int)r);
        if (r == 0)
            kitls_conn_set_eof(k->c);
        if (ret && ret != KITLS_E_WANT_READ)
            return ktls_fail(k, ret);
    }
}
