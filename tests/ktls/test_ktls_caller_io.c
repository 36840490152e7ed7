/*
 * The kTLS layer's io_uring glue (ktls/caller_io.c) against the fake
 * kernel: a driver that sends application data on the offloaded socket
 * itself (as io_uring IORING_OP_SEND / SPLICE do) asks
 * kitls_ktls_tx_reserve() before each send and reports the records with
 * kitls_ktls_tx_count().  With a tiny AEAD limit the layer must send a
 * KeyUpdate and install the next key before any key reaches the limit,
 * the peer (kitls in userspace) must read every byte, a kernel without
 * rekey must end the connection cleanly, and kitls_ktls_recv_pending()
 * must hand over the plaintext enable() took from the core.  Records the
 * driver reads itself with their type (io_uring recvmsg) go to the core
 * through kitls_ktls_recv_record(): KeyUpdate (next RX key installed
 * before the next read, our answer queued), close_notify.  The
 * caller-moves-bytes calls (kitls_ktls_io_*, the io_uring driver's only
 * transport) run the same driver code with both directions in userspace
 * and in the kernel, and with one direction in each.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/tls.h>

#include "fk_env.h"
#include "kitls/kitls.h"
#include "kitls/ktls.h"
#include "testutil.h"

/* Handshake in memory; `me` is the server. */
static void env_new(struct env *e, uint16_t suite, int rekey)
{
    fk_env_new(e, suite, 0, rekey, 0);
}

#define env_free fk_env_free

static const uint16_t suites3[3] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                    KITLS_CHACHA20_POLY1305_SHA256};

static uint8_t pat(size_t i)
{
    return (uint8_t)(i * 13 + (i >> 8));
}

/* The peer reads what arrived; returns the bytes read so far (checked). */
static size_t peer_read(struct env *e, uint8_t *dst, size_t got, size_t cap)
{
    fk_pump(&e->fk, e->peer);
    int r;
    while ((r = kitls_conn_read(e->peer, dst + got, cap - got)) > 0)
        got += (size_t)r;
    ck_assert_msg(r == KITLS_E_WANT_READ || got == cap, "peer read: %s", kitls_strerror(r));
    return got;
}

/* "io_uring" sends of `chunk` bytes straight through the fake socket. */
static void driver_sends(struct env *e, size_t total, size_t chunk)
{
    uint8_t *src = malloc(total), *dst = malloc(total);
    for (size_t i = 0; i < total; i++)
        src[i] = pat(i);
    size_t sent = 0, got = 0;
    for (int guard = 0; got < total && guard < 100000; guard++) {
        if (sent < total) {
            size_t want = total - sent < chunk ? total - sent : chunk;
            ssize_t room = kitls_ktls_tx_reserve(e->k, want);
            ck_assert_msg(room > 0, "reserve: %s", kitls_strerror((int)room));
            ck_assert_uint_le((size_t)room, want);
            /* never more records than the key has left */
            ck_assert_uint_lt(e->fk.tx.seq + kitls_ktls_records_for((size_t)room) - 1, 8);
            struct iovec iov = {src + sent, (size_t)room};
            struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
            ssize_t r = e->ops.sendmsg(e->ops.ctx, FK_FD, &m, 0);
            ck_assert_int_gt(r, 0);
            kitls_ktls_tx_count(e->k, kitls_ktls_records_for((size_t)r));
            sent += (size_t)r;
        }
        got = peer_read(e, dst, got, total);
    }
    ck_assert_uint_eq(got, total);
    ck_assert(memcmp(src, dst, total) == 0);
    free(src);
    free(dst);
}

START_TEST(reserve_rekeys_before_the_limit)
{
    static const uint16_t suites[3] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                       KITLS_CHACHA20_POLY1305_SHA256};
    struct env e;
    env_new(&e, suites[_i], 1);
    ck_assert_int_eq(kitls_ktls_set_key_update_limit(e.k, 8), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), 1);
    /* 64 KiB sends (5 records each by the bound), then small ones */
    driver_sends(&e, 40 * 16384 + 123, 65536);
    driver_sends(&e, 3000, 100);
    unsigned tx;
    kitls_ktls_rekeys(e.k, &tx, NULL);
    ck_assert_uint_ge(tx, 40 / 7);
    ck_assert_uint_eq(e.fk.rekey_tx, tx);
    ck_assert_uint_lt(e.fk.tx.seq, 8);
    ck_assert_uint_lt(kitls_ktls_tx_records(e.k), 8);
    ck_assert_uint_eq(e.fk.decrypt_err, 0);
    env_free(&e);
}
END_TEST

/* Small "io_uring" sends until the current key has no record left. */
static void use_up_key(struct env *e, uint64_t limit)
{
    static const uint8_t b[100] = {0};
    while (kitls_ktls_tx_records(e->k) + 1 < limit) {
        ck_assert_int_eq(kitls_ktls_tx_reserve(e->k, sizeof(b)), (int)sizeof(b));
        struct iovec iov = {(void *)b, sizeof(b)};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ck_assert_int_eq(e->ops.sendmsg(e->ops.ctx, FK_FD, &m, 0), (int)sizeof(b));
        kitls_ktls_tx_count(e->k, kitls_ktls_records_for(sizeof(b)));
    }
    ck_assert_uint_eq(e->fk.tx.seq, limit - 1);
}

START_TEST(reserve_waits_for_a_full_socket)
{
    /* The KeyUpdate meets EAGAIN: reserve says AGAIN, queues no second
     * KeyUpdate, and the next call sends it and goes on. */
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    ck_assert_int_eq(kitls_ktls_set_key_update_limit(e.k, 4), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    use_up_key(&e, 4);
    e.fk.eagain_sends = 1;
    ck_assert_int_eq(kitls_ktls_tx_reserve(e.k, 100), -EAGAIN);
    ck_assert_int_eq(kitls_ktls_tx_reserve(e.k, 100), 100);
    unsigned tx;
    kitls_ktls_rekeys(e.k, &tx, NULL);
    ck_assert_uint_eq(tx, 1);
    ck_assert_uint_eq(e.fk.rekey_tx, 1);
    ck_assert_uint_eq(kitls_ktls_tx_records(e.k), 0);
    ck_assert_uint_eq(e.fk.tx.seq, 0);
    uint8_t dst[4096]; /* the peer takes the small sends and the KeyUpdate */
    size_t small = peer_read(&e, dst, 0, sizeof(dst));
    ck_assert(small > 0 && small % 100 == 0);
    driver_sends(&e, 50000, 16384);
    env_free(&e);
}
END_TEST

START_TEST(reserve_without_rekey_ends_cleanly)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 0);
    ck_assert_int_eq(kitls_ktls_set_rekey_policy(e.k, KITLS_KTLS_REKEY_CLOSE), 0);
    ck_assert_int_eq(kitls_ktls_set_key_update_limit(e.k, 6), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), 1);
    /* room for the records left, each 16 KiB, less one byte (the bound
     * counts one more record per send) */
    uint64_t left = 6 - 1 - kitls_ktls_tx_records(e.k);
    ck_assert_int_eq(kitls_ktls_tx_reserve(e.k, 16384 * 10), (ssize_t)(left * 16384 - 1));
    use_up_key(&e, 6);
    ck_assert_int_eq(kitls_ktls_tx_reserve(e.k, 10), KITLS_KTLS_E_REKEY_UNSUPPORTED);
    ck_assert_int_eq(kitls_ktls_tx_reserve(e.k, 10), KITLS_KTLS_E_REKEY_UNSUPPORTED); /* sticky */
    ck_assert_uint_eq(e.fk.rekey_tx, 0);
    /* The peer gets a fatal alert under the key in force. */
    uint8_t buf[64];
    fk_pump(&e.fk, e.peer);
    int r;
    while ((r = kitls_conn_read(e.peer, buf, sizeof(buf))) > 0)
        ;
    ck_assert_int_lt(r, 0);
    ck_assert_int_ne(r, KITLS_E_WANT_READ);
    ck_assert_int_ge(kitls_conn_peer_alert(e.peer), 0);
    env_free(&e);
}
END_TEST

START_TEST(userspace_tx_is_not_counted)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    e.fk.no_module = 1;
    ck_assert_int_eq(kitls_ktls_set_key_update_limit(e.k, 2), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), 0);
    ck_assert_int_eq(kitls_ktls_tx_reserve(e.k, 1u << 20), 1 << 20);
    kitls_ktls_tx_count(e.k, 100);
    ck_assert_uint_eq(kitls_ktls_tx_records(e.k), 0);
    ck_assert_int_eq(kitls_ktls_tx_reserve(NULL, 1), KITLS_E_INVALID_ARG);
    ck_assert_uint_eq(kitls_ktls_records_for(0), 1);
    ck_assert_uint_eq(kitls_ktls_records_for(16384), 2);
    ck_assert_uint_eq(kitls_ktls_records_for(16383), 1);
    env_free(&e);
}
END_TEST

START_TEST(recv_pending_hands_over_early_records)
{
    /* The client's data arrived with the handshake's end: the core read
     * it; enable() takes it, recv_pending hands it over, then nothing. */
    for (int no_module = 0; no_module < 2; no_module++) {
        struct env e;
        env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
        e.fk.no_module = no_module;
        const char msg[] = "early bird";
        ck_assert_int_eq(kitls_conn_write(e.peer, (const uint8_t *)msg, sizeof(msg)),
                         (int)sizeof(msg));
        const uint8_t *p;
        size_t n = kitls_conn_out_peek(e.peer, &p);
        ck_assert_int_eq(kitls_conn_feed(e.me, p, n), 0);
        kitls_conn_out_consume(e.peer, n);
        ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
        ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), !no_module);
        char buf[64];
        ck_assert_int_eq(kitls_ktls_recv_pending(e.k, buf, 4), 4);
        ck_assert_int_eq(kitls_ktls_recv_pending(e.k, buf + 4, sizeof(buf) - 4),
                         (int)sizeof(msg) - 4);
        ck_assert_str_eq(buf, msg);
        ck_assert_int_eq(kitls_ktls_recv_pending(e.k, buf, sizeof(buf)), 0);
        env_free(&e);
    }
}
END_TEST

/* One "io_uring recvmsg" on the fake socket: bytes read and the type. */
static ssize_t driver_recvmsg(struct env *e, uint8_t *buf, size_t cap, int *type)
{
    union {
        char b[CMSG_SPACE(1)];
        struct cmsghdr align;
    } cb;
    memset(&cb, 0, sizeof(cb));
    struct iovec iov = {buf, cap};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof(cb.b)};
    ssize_t r = e->ops.recvmsg(e->ops.ctx, FK_FD, &m, 0);
    *type = 23;
    if (r >= 0 && cb.align.cmsg_level == SOL_TLS && cb.align.cmsg_type == TLS_GET_RECORD_TYPE)
        *type = *CMSG_DATA(&cb.align);
    return r;
}

START_TEST(recv_record_takes_control_records)
{
    /* The peer sends data, KeyUpdate(update_requested), data, close_notify;
     * the driver reads each record itself with its type. */
    struct env e;
    env_new(&e, suites3[_i], 1);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_conn_write(e.peer, (const uint8_t *)"one", 3), 3);
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 1), 0);
    ck_assert_int_eq(kitls_conn_write(e.peer, (const uint8_t *)"two", 3), 3);
    ck_assert_int_eq(kitls_conn_close(e.peer), 0);
    fk_pump(&e.fk, e.peer);
    uint8_t buf[16384], data[16];
    size_t got = 0;
    int closed = 0, controls = 0;
    for (int guard = 0; !closed && guard < 20; guard++) {
        int type;
        ssize_t r = driver_recvmsg(&e, buf, sizeof(buf), &type);
        ck_assert_int_gt(r, 0); /* never EKEYEXPIRED: the key is in before the next read */
        if (type == 23) {
            ck_assert_uint_le(got + (size_t)r, sizeof(data));
            memcpy(data + got, buf, (size_t)r);
            got += (size_t)r;
            continue;
        }
        controls++;
        int rc = kitls_ktls_recv_record(e.k, (uint8_t)type, buf, (size_t)r);
        ck_assert_int_ge(rc, 0);
        closed = rc == 1;
        /* our answer to update_requested: queued, sent by the driver */
        ck_assert_int_eq(kitls_ktls_flush(e.k), 0);
    }
    ck_assert(closed);
    ck_assert_int_eq(controls, 2);
    ck_assert_uint_eq(got, 6);
    ck_assert(memcmp(data, "onetwo", 6) == 0);
    unsigned tx, rx;
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(rx, 1);
    ck_assert_uint_eq(tx, 1);
    ck_assert_uint_eq(e.fk.rekey_rx, 1);
    ck_assert_uint_eq(e.fk.decrypt_err, 0);
    /* the peer reads our KeyUpdate and data under the new key */
    driver_sends(&e, 1000, 1000);
    /* misuse: application data is not a control record */
    ck_assert_int_eq(kitls_ktls_recv_record(e.k, 23, buf, 1), KITLS_E_INVALID_ARG);
    env_free(&e);
}
END_TEST

START_TEST(recv_record_without_rekey_ends_cleanly)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 0);
    ck_assert_int_eq(kitls_ktls_set_rekey_policy(e.k, KITLS_KTLS_REKEY_CLOSE), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 0), 0);
    fk_pump(&e.fk, e.peer);
    uint8_t buf[16384];
    int type;
    ssize_t r = driver_recvmsg(&e, buf, sizeof(buf), &type);
    ck_assert_int_gt(r, 0);
    ck_assert_int_eq(type, 22);
    ck_assert_int_eq(kitls_ktls_recv_record(e.k, (uint8_t)type, buf, (size_t)r),
                     KITLS_KTLS_E_REKEY_UNSUPPORTED);
    ck_assert_uint_eq(e.fk.rekey_rx, 0);
    env_free(&e);
}
END_TEST

/* A driver's receive through kitls_ktls_io_recv_buf()/_recv_done(), all of
 * its plaintext through kitls_ktls_io_read(): returns the bytes read, and
 * *closed once close_notify was read. */
static size_t io_receive(struct env *e, uint8_t *out, size_t cap, int *closed)
{
    size_t got = 0;
    for (int guard = 0; guard < 1000; guard++) {
        uint8_t *buf;
        size_t bcap;
        struct msghdr *msg;
        int r = kitls_ktls_io_recv_buf(e->k, &buf, &bcap, &msg);
        ck_assert_int_ge(r, 0);
        if (r == 1) { /* our KeyUpdate first */
            ck_assert_int_eq(kitls_ktls_io_ctrl_pending(e->k), 2);
            ck_assert_int_eq(kitls_ktls_flush(e->k), 0);
            continue;
        }
        ck_assert_uint_gt(bcap, 0);
        struct iovec iov = {buf, bcap};
        struct msghdr plain = {.msg_iov = &iov, .msg_iovlen = 1};
        ck_assert(msg == NULL || kitls_ktls_is_offloaded(e->k, KITLS_DIR_RX));
        ssize_t n = e->ops.recvmsg(e->ops.ctx, FK_FD, msg ? msg : &plain, 0);
        if (n == -EAGAIN)
            break;
        int d = kitls_ktls_io_recv_done(e->k, n);
        ck_assert_msg(d == 0 || d == 2, "recv_done: %s", kitls_strerror(d));
        ssize_t m;
        while ((m = kitls_ktls_io_read(e->k, out + got, cap - got)) > 0)
            got += (size_t)m;
        if (m == 0) {
            *closed = 1;
            break;
        }
        ck_assert_int_eq(m, -EAGAIN);
    }
    return got;
}

/* Send what the layer has for the wire: ciphertext (userspace TX) or the
 * core's records through kitls_ktls_flush() (kernel TX). */
static void io_send_out(struct env *e)
{
    const uint8_t *p;
    size_t n;
    if (kitls_ktls_io_ctrl_pending(e->k))
        ck_assert_int_eq(kitls_ktls_flush(e->k), 0);
    while ((n = kitls_ktls_io_out(e->k, &p)) > 0) {
        ck_assert(!kitls_ktls_is_offloaded(e->k, KITLS_DIR_TX));
        struct iovec iov = {(void *)(uintptr_t)p, n};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t r = e->ops.sendmsg(e->ops.ctx, FK_FD, &m, 0);
        ck_assert_int_gt(r, 0);
        kitls_ktls_io_out_done(e->k, (size_t)r);
    }
    fk_pump(&e->fk, e->peer);
}

/* The caller-moves-bytes calls (issue 15): the same driver code with both
 * directions in userspace (no kTLS module) and in the (fake) kernel:
 * data, the peer's KeyUpdate with update_requested (our answer leaves
 * before the next record is taken), our data and close_notify, the
 * peer's close_notify. */
START_TEST(io_calls_either_way)
{
    int kernel = _i;
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    e.fk.no_module = !kernel;
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), kernel);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), kernel);
    ck_assert_uint_eq(kitls_ktls_io_max_fragment(e.k), 16384);
    /* the peer: data, a KeyUpdate asking for ours, data */
    ck_assert_int_eq(kitls_conn_write(e.peer, (const uint8_t *)"hello", 5), 5);
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 1), 0);
    ck_assert_int_eq(kitls_conn_write(e.peer, (const uint8_t *)"world", 5), 5);
    fk_pump(&e.fk, e.peer);
    uint8_t got[64];
    int closed = 0;
    size_t n = io_receive(&e, got, sizeof(got), &closed);
    ck_assert_uint_eq(n, 10);
    ck_assert(!memcmp(got, "helloworld", 10));
    ck_assert(!closed);
    unsigned tx = 0, rx = 0;
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(rx, (unsigned)kernel); /* the next RX key is in the kernel */
    /* our side: data (userspace: sealed here; kernel: the caller's own
     * send), then close_notify, queued and sent the same way */
    if (kernel) {
        ck_assert_int_eq(kitls_ktls_io_write(e.k, "pong", 4), KITLS_E_STATE);
        ck_assert_int_eq(kitls_ktls_tx_reserve(e.k, 4), 4);
        struct iovec iov = {(void *)"pong", 4};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ck_assert_int_eq(e.ops.sendmsg(e.ops.ctx, FK_FD, &m, 0), 4);
        kitls_ktls_tx_count(e.k, 1);
    } else {
        ck_assert_int_eq(kitls_ktls_io_write(e.k, "pong", 4), 4);
        ck_assert_int_eq(kitls_ktls_io_ctrl_pending(e.k), 0);
    }
    ck_assert_int_eq(kitls_ktls_io_close(e.k), 0);
    const uint8_t *p;
    ck_assert(kernel ? kitls_ktls_io_ctrl_pending(e.k) == 1 : kitls_ktls_io_out(e.k, &p) > 0);
    io_send_out(&e);
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(tx, (unsigned)kernel); /* our answer moved TX to the next key */
    uint8_t pb[16];
    int r = kitls_conn_read(e.peer, pb, sizeof(pb));
    ck_assert_int_eq(r, 4);
    ck_assert(!memcmp(pb, "pong", 4));
    ck_assert_int_eq(kitls_conn_read(e.peer, pb, sizeof(pb)), KITLS_E_CLOSED);
    /* the peer's close_notify: read gives 0 */
    ck_assert_int_eq(kitls_conn_close(e.peer), 0);
    fk_pump(&e.fk, e.peer);
    n = io_receive(&e, got, sizeof(got), &closed);
    ck_assert_uint_eq(n, 0);
    ck_assert(closed);
    env_free(&e);
}
END_TEST

/* The end of the stream without close_notify is a truncation, either way;
 * misuse is refused. */
START_TEST(io_truncation_and_misuse)
{
    int kernel = _i;
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    e.fk.no_module = !kernel;
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    uint8_t *buf;
    size_t cap;
    struct msghdr *msg;
    ck_assert_int_eq(kitls_ktls_io_recv_buf(e.k, &buf, &cap, &msg), 0);
    ck_assert_int_eq(kitls_ktls_io_recv_done(e.k, 0), 0);
    uint8_t out[16];
    ck_assert_int_eq(kitls_ktls_io_read(e.k, out, sizeof(out)), KITLS_KTLS_E_TRUNCATED);
    ck_assert_int_eq(kitls_ktls_io_recv_buf(NULL, &buf, &cap, NULL), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_ktls_io_recv_done(NULL, 1), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_ktls_io_read(NULL, out, 1), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_ktls_io_write(NULL, out, 1), KITLS_E_INVALID_ARG);
    ck_assert_uint_eq(kitls_ktls_io_out(NULL, NULL), 0);
    ck_assert_int_eq(kitls_ktls_io_ctrl_pending(NULL), 0);
    /* a plain recv's EIO: a control record next, only with RX in the kernel */
    int d = kitls_ktls_io_recv_done(e.k, -EIO);
    ck_assert_int_eq(d, kernel ? 1 : -EIO);
    env_free(&e);
}
END_TEST

/* Each direction has its own row (ktls/ktls_int.h struct ktls_tx_ops /
 * ktls_rx_ops): with only TX or only RX in the kernel the same driver code
 * moves records the kernel's way in one direction and the core's way in
 * the other -- the peer's KeyUpdate with update_requested, our answer,
 * data and close_notify both ways. */
START_TEST(io_calls_one_direction_each)
{
    int tx_kernel = _i == 0;
    struct env e;
    env_new(&e, KITLS_CHACHA20_POLY1305_SHA256, 1);
    ck_assert_int_eq(kitls_ktls_set_mode(e.k, tx_kernel ? KITLS_KTLS_TX : KITLS_KTLS_RX), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), tx_kernel);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), !tx_kernel);
    ck_assert_int_eq(kitls_ktls_reason(e.k, tx_kernel ? KITLS_DIR_RX : KITLS_DIR_TX),
                     KITLS_KTLS_R_NOT_REQUESTED);
    ck_assert_int_eq(kitls_conn_write(e.peer, (const uint8_t *)"ping", 4), 4);
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 1), 0);
    ck_assert_int_eq(kitls_conn_write(e.peer, (const uint8_t *)"PING", 4), 4);
    fk_pump(&e.fk, e.peer);
    uint8_t got[64];
    int closed = 0;
    ck_assert_uint_eq(io_receive(&e, got, sizeof(got), &closed), 8);
    ck_assert(!memcmp(got, "pingPING", 8));
    unsigned tx = 0, rx = 0;
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(rx, (unsigned)!tx_kernel); /* only a kernel RX key is installed here */
    const uint8_t *p;
    if (tx_kernel) {
        /* our KeyUpdate waits as a control record; no ciphertext here */
        ck_assert_int_eq(kitls_ktls_io_ctrl_pending(e.k), 2);
        ck_assert_uint_eq(kitls_ktls_io_out(e.k, &p), 0);
        ck_assert_int_eq(kitls_ktls_io_write(e.k, "pong", 4), KITLS_E_STATE);
        ck_assert_int_eq(kitls_ktls_tx_reserve(e.k, 4), 4); /* sends the KeyUpdate first */
        struct iovec iov = {(void *)"pong", 4};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ck_assert_int_eq(e.ops.sendmsg(e.ops.ctx, FK_FD, &m, 0), 4);
        uint64_t before = kitls_ktls_tx_records(e.k);
        kitls_ktls_tx_count(e.k, 1);
        ck_assert_uint_eq(kitls_ktls_tx_records(e.k), before + 1);
    } else {
        /* our KeyUpdate is ciphertext the core sealed */
        ck_assert_int_eq(kitls_ktls_io_ctrl_pending(e.k), 0);
        ck_assert_uint_gt(kitls_ktls_io_out(e.k, &p), 0);
        ck_assert_int_eq(kitls_ktls_io_write(e.k, "pong", 4), 4);
        uint64_t before = kitls_ktls_tx_records(e.k);
        kitls_ktls_tx_count(e.k, 1); /* the core counts its own records */
        ck_assert_uint_eq(kitls_ktls_tx_records(e.k), before);
    }
    ck_assert_int_eq(kitls_ktls_io_close(e.k), 0);
    io_send_out(&e);
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(tx, (unsigned)tx_kernel);
    uint8_t pb[16];
    ck_assert_int_eq(kitls_conn_read(e.peer, pb, sizeof(pb)), 4);
    ck_assert(!memcmp(pb, "pong", 4));
    ck_assert_int_eq(kitls_conn_read(e.peer, pb, sizeof(pb)), KITLS_E_CLOSED);
    ck_assert_int_eq(kitls_conn_close(e.peer), 0);
    fk_pump(&e.fk, e.peer);
    ck_assert_uint_eq(io_receive(&e, got, sizeof(got), &closed), 0);
    ck_assert(closed);
    ck_assert_uint_eq(e.fk.decrypt_err, 0);
    env_free(&e);
}
END_TEST

int main(void)
{
    tu_pki_init();
    Suite *s = suite_create("ktls_caller_io");
    TCase *t = tcase_create("glue");
    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, reserve_rekeys_before_the_limit, 0, 3);
    tcase_add_test(t, reserve_waits_for_a_full_socket);
    tcase_add_test(t, reserve_without_rekey_ends_cleanly);
    tcase_add_test(t, userspace_tx_is_not_counted);
    tcase_add_test(t, recv_pending_hands_over_early_records);
    tcase_add_loop_test(t, recv_record_takes_control_records, 0, 3);
    tcase_add_test(t, recv_record_without_rekey_ends_cleanly);
    tcase_add_loop_test(t, io_calls_either_way, 0, 2);
    tcase_add_loop_test(t, io_truncation_and_misuse, 0, 2);
    tcase_add_loop_test(t, io_calls_one_direction_each, 0, 2);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
