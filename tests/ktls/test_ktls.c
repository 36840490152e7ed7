/*
 * kTLS layer against a fake kernel (fakekernel.c) that really protects
 * records from the installed crypto_info: a kitls peer in userspace talks
 * to the offloaded side in memory.  Every suite; tickets after offload;
 * KeyUpdate both ways with and without kernel rekey support (both
 * policies); AEAD-limit rekeys; close_notify; EIO, EKEYEXPIRED, EBUSY,
 * partial writes, EAGAIN, no kTLS module, refused cipher, truncation,
 * sendfile, bytes buffered by the core before RX offload; what kitls_stats
 * counts for the offloaded side.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fk_env.h"
#include "kitls/kitls.h"
#include "kitls/ktls.h"
#include "testutil.h"

static const uint16_t suites[3] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                   KITLS_CHACHA20_POLY1305_SHA256};

/* kitls_config_set_key_update_limit() for the next env_new (0: default). */
static uint64_t env_ku_limit;

/* Handshake in memory; `me` is the client when me_client. */
static void env_new(struct env *e, uint16_t suite, int me_client)
{
    fk_env_new(e, suite, me_client, 1, env_ku_limit);
}

#define env_free fk_env_free

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + seed);
}

/* me -> peer: len bytes through kitls_ktls_send, read by the peer's core. */
static void me_to_peer(struct env *e, size_t len, unsigned seed)
{
    uint8_t *src = malloc(len), *dst = malloc(len);
    fill(src, len, seed);
    size_t sent = 0, got = 0;
    for (int guard = 0; got < len && guard < 100000; guard++) {
        if (sent < len) {
            ssize_t r = kitls_ktls_send(e->k, src + sent, len - sent);
            if (r != -EAGAIN) {
                ck_assert_msg(r > 0, "send: %s", kitls_strerror((int)r));
                sent += (size_t)r;
            }
        }
        fk_pump(&e->fk, e->peer);
        int r;
        while ((r = kitls_conn_read(e->peer, dst + got, len - got)) > 0)
            got += (size_t)r;
        ck_assert_msg(r == KITLS_E_WANT_READ || got == len, "peer read: %s", kitls_strerror(r));
    }
    ck_assert_uint_eq(got, len);
    ck_assert(memcmp(src, dst, len) == 0);
    free(src);
    free(dst);
}

/* peer -> me: len bytes written by the peer's core, read with kitls_ktls_recv. */
static void peer_to_me(struct env *e, size_t len, unsigned seed, size_t chunk)
{
    uint8_t *src = malloc(len), *dst = malloc(len);
    fill(src, len, seed);
    ck_assert_int_eq(kitls_conn_write(e->peer, src, len), (int)len);
    size_t got = 0;
    for (int guard = 0; got < len && guard < 100000; guard++) {
        fk_pump(&e->fk, e->peer);
        size_t want = len - got < chunk ? len - got : chunk;
        ssize_t r = kitls_ktls_recv(e->k, dst + got, want);
        if (r == -EAGAIN)
            continue;
        ck_assert_msg(r > 0, "recv: %s", kitls_strerror((int)r));
        got += (size_t)r;
    }
    ck_assert_uint_eq(got, len);
    ck_assert(memcmp(src, dst, len) == 0);
    free(src);
    free(dst);
}

/* Data both ways for every suite, the offloaded side as client and server. */
START_TEST(data_per_suite)
{
    struct env e;
    env_new(&e, suites[_i % 3], _i / 3);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), 1);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), 1);
    ck_assert_int_eq(kitls_ktls_reason(e.k, KITLS_DIR_RX), KITLS_KTLS_R_OFFLOADED);
    kitls_offload *o;
    ck_assert_int_eq(kitls_offload_get(e.me, &o), 0);
    ck_assert_int_eq(kitls_offload_is_offloaded(o, KITLS_DIR_TX), 1);
    me_to_peer(&e, 40000, 1);
    peer_to_me(&e, 50000, 2, 65536);
    peer_to_me(&e, 3000, 3, 100); /* small reads go through the layer's buffer */
    ck_assert_uint_eq(e.fk.tx_sw, 1);
    ck_assert_uint_eq(e.fk.rx_sw, 1);
    ck_assert_uint_eq(e.fk.decrypt_err, 0);
    env_free(&e);
}
END_TEST

/* TX only / RX only. */
START_TEST(one_direction)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    ck_assert_int_eq(kitls_ktls_set_mode(e.k, _i ? KITLS_KTLS_RX : KITLS_KTLS_TX), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), !_i);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), _i);
    ck_assert_int_eq(kitls_ktls_reason(e.k, _i ? KITLS_DIR_TX : KITLS_DIR_RX),
                     KITLS_KTLS_R_NOT_REQUESTED);
    me_to_peer(&e, 20000, 4);
    peer_to_me(&e, 20000, 5, 65536);
    /* KeyUpdate with a request crosses both paths. */
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 1), 0);
    peer_to_me(&e, 100, 6, 65536);
    me_to_peer(&e, 100, 7);
    env_free(&e);
}
END_TEST

/* The server sends a NewSessionTicket after offload, both directions of roles. */
START_TEST(ticket_after_offload)
{
    struct env e;
    env_new(&e, suites[_i % 3], 1);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    int before = e.sessions; /* the handshake's ticket (drained on enable) */
    ck_assert_int_eq(before, 1);
    ck_assert_int_eq(kitls_conn_send_ticket(e.peer), 0);
    peer_to_me(&e, 10, 8, 65536);
    ck_assert_int_eq(e.sessions, 2);
    env_free(&e);

    env_new(&e, suites[_i % 3], 0); /* offloaded server sends one */
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_conn_send_ticket(e.me), 0);
    ck_assert_int_eq(kitls_ktls_flush(e.k), 0);
    me_to_peer(&e, 10, 9);
    ck_assert_int_eq(e.sessions, 2); /* the handshake's and this one */
    env_free(&e);
}
END_TEST

/* KeyUpdate from the peer (with update_requested) and from us, kernel rekey. */
START_TEST(key_update_rekey)
{
    struct env e;
    env_new(&e, suites[_i], 1);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    peer_to_me(&e, 1000, 10, 65536);
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 1), 0);
    peer_to_me(&e, 1000, 11, 65536);
    unsigned tx, rx;
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(rx, 1);
    ck_assert_uint_eq(tx, 1); /* our answer to update_requested */
    ck_assert_uint_eq(e.fk.rekey_received, 1);
    me_to_peer(&e, 1000, 12);
    ck_assert_int_eq(kitls_ktls_key_update(e.k, 0), 0);
    me_to_peer(&e, 1000, 13);
    ck_assert_int_eq(kitls_ktls_key_update(e.k, 1), 0);
    me_to_peer(&e, 10, 14);
    peer_to_me(&e, 1000, 15, 65536); /* the peer answered our request */
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(tx, 3);
    ck_assert_uint_eq(rx, 2);
    ck_assert_uint_eq(e.fk.rekey_tx, 3);
    ck_assert_uint_eq(e.fk.rekey_rx, 2);
    ck_assert_uint_eq(e.fk.decrypt_err, 0);
    env_free(&e);
}
END_TEST

/* Two KeyUpdates of ours while the first cannot leave (socket full): they
 * merge into one queued KeyUpdate that also carries the request, so the
 * kernel's keys follow the records on the wire (one generation). */
START_TEST(queued_key_updates)
{
    struct env e;
    env_new(&e, suites[_i], 1);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    me_to_peer(&e, 100, 20);
    e.fk.eagain_sends = 1000;
    /* kitls_ktls_key_update() waits (AGAIN) while a record is pending; the
     * core can still queue several (answers to the peer's requests, the
     * AEAD limit, or an application calling the core directly). */
    ck_assert_int_eq(kitls_ktls_key_update(e.k, 0), -EAGAIN); /* queued */
    ck_assert_int_eq(kitls_conn_key_update(e.me, 0), 0);
    ck_assert_int_eq(kitls_conn_key_update(e.me, 1), 0);
    ck_assert_int_eq(kitls_ktls_key_update(e.k, 0), -EAGAIN);
    e.fk.eagain_sends = 0;
    me_to_peer(&e, 1000, 21); /* the KeyUpdate leaves first, then the data */
    unsigned tx, rx;
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(tx, 1);
    ck_assert_uint_eq(e.fk.rekey_tx, 1);
    peer_to_me(&e, 100, 22, 65536); /* the peer answered the request */
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(rx, 1);
    ck_assert_uint_eq(e.fk.decrypt_err, 0);
    env_free(&e);
}
END_TEST

/* The layer counts records and updates keys before the AEAD limit. */
START_TEST(aead_limit)
{
    struct env e;
    env_new(&e, KITLS_AES_256_GCM_SHA384, 0);
    ck_assert_int_eq(kitls_ktls_set_key_update_limit(e.k, 5), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    me_to_peer(&e, 16384 * 12, 16);
    unsigned tx;
    kitls_ktls_rekeys(e.k, &tx, NULL);
    ck_assert_uint_ge(tx, 3);
    ck_assert_uint_lt(e.fk.tx.seq, 5);
    ck_assert_uint_le(kitls_ktls_tx_records(e.k), 5);
    env_free(&e);
}
END_TEST

/* Without kitls_ktls_set_key_update_limit() the layer uses the config's
 * limit (kitls_conn_key_update_limit()), for either role. */
START_TEST(aead_limit_from_config)
{
    struct env e;
    env_ku_limit = 5;
    env_new(&e, suites[_i % 3], _i < 3);
    env_ku_limit = 0;
    ck_assert_uint_eq(kitls_conn_key_update_limit(e.me), 5);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    me_to_peer(&e, 16384 * 12, 17);
    unsigned tx;
    kitls_ktls_rekeys(e.k, &tx, NULL);
    ck_assert_uint_ge(tx, 2); /* 12 records, at most 4 data records per key */
    ck_assert_uint_lt(e.fk.tx.seq, 5);
    env_free(&e);
    /* The defaults per suite (RFC 8446 §5.5). */
    env_new(&e, suites[_i % 3], 1);
    ck_assert_uint_eq(kitls_conn_key_update_limit(e.me),
                      suites[_i % 3] == KITLS_CHACHA20_POLY1305_SHA256 ? 1ull << 40 : 1ull << 24);
    env_free(&e);
}
END_TEST

/* Old kernel, default policy: refuse offload, stay in userspace. */
START_TEST(no_rekey_require)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    e.fk.rekey = 0;
    ck_assert_int_eq(kitls_ktls_set_rekey_support(e.k, 0), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), 0);
    ck_assert_int_eq(kitls_ktls_reason(e.k, KITLS_DIR_RX), KITLS_KTLS_R_NO_REKEY);
    ck_assert_uint_eq(e.fk.tx_sw + e.fk.rx_sw, 0);
    me_to_peer(&e, 20000, 17);
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 1), 0);
    peer_to_me(&e, 20000, 18, 65536);
    me_to_peer(&e, 100, 19);
    env_free(&e);
}
END_TEST

/* Old kernel, close policy: offload; a KeyUpdate ends the connection cleanly. */
START_TEST(no_rekey_close)
{
    struct env e;
    env_new(&e, KITLS_CHACHA20_POLY1305_SHA256, 1);
    e.fk.rekey = 0;
    ck_assert_int_eq(kitls_ktls_set_rekey_policy(e.k, KITLS_KTLS_REKEY_CLOSE), 0);
    ck_assert_int_eq(kitls_ktls_probe_rekey(&e.ops), 0); /* EBUSY on the second TLS_TX */
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);         /* probes through the fake */
    ck_assert_int_eq(kitls_ktls_rekey_support(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), 1);
    peer_to_me(&e, 5000, 20, 65536);
    /* The peer updates: data before it arrives, then a clear error. */
    uint8_t d[100], buf[200];
    fill(d, sizeof(d), 21);
    ck_assert_int_eq(kitls_conn_write(e.peer, d, sizeof(d)), (int)sizeof(d));
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 0), 0);
    ck_assert_int_eq(kitls_conn_write(e.peer, d, sizeof(d)), (int)sizeof(d));
    fk_pump(&e.fk, e.peer);
    ck_assert_int_eq(kitls_ktls_recv(e.k, buf, sizeof(buf)), (int)sizeof(d));
    ck_assert(memcmp(buf, d, sizeof(d)) == 0);
    ck_assert_int_eq(kitls_ktls_recv(e.k, buf, sizeof(buf)), KITLS_KTLS_E_REKEY_UNSUPPORTED);
    ck_assert_int_eq(kitls_ktls_send(e.k, d, 1), KITLS_KTLS_E_REKEY_UNSUPPORTED);
    ck_assert_uint_eq(e.fk.decrypt_err, 0); /* never read under the stale key */
    /* The peer learns why: a fatal internal_error alert. */
    fk_pump(&e.fk, e.peer);
    int r = kitls_conn_read(e.peer, buf, sizeof(buf));
    ck_assert_int_eq(r, KITLS_E_PEER_ALERT(80));
    ck_assert_int_eq(kitls_conn_peer_alert(e.peer), 80);
    env_free(&e);

    /* Our own KeyUpdate under the close policy fails the same way. */
    env_new(&e, KITLS_AES_128_GCM_SHA256, 0);
    e.fk.rekey = 0;
    ck_assert_int_eq(kitls_ktls_set_rekey_policy(e.k, KITLS_KTLS_REKEY_CLOSE), 0);
    ck_assert_int_eq(kitls_ktls_set_rekey_support(e.k, 0), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_key_update(e.k, 0), KITLS_KTLS_E_REKEY_UNSUPPORTED);
    env_free(&e);
}
END_TEST

/* A kernel that claims rekey support but then answers EBUSY: fatal, clear. */
START_TEST(rekey_ebusy)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    ck_assert_int_eq(kitls_ktls_set_rekey_support(e.k, 1), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    e.fk.rekey = 0;
    ck_assert_int_eq(kitls_ktls_key_update(e.k, 0), KITLS_KTLS_E_INSTALL);
    ck_assert_int_eq(kitls_ktls_errno(e.k), EBUSY);
    env_free(&e);
}
END_TEST

/* close_notify both ways, and TCP end without it. */
START_TEST(close_notify)
{
    struct env e;
    env_new(&e, suites[_i], 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_close(e.k), 0);
    fk_pump(&e.fk, e.peer);
    uint8_t buf[100];
    ck_assert_int_eq(kitls_conn_read(e.peer, buf, sizeof(buf)), KITLS_E_CLOSED);
    peer_to_me(&e, 100, 22, 65536); /* half-closed: we still read */
    ck_assert_int_eq(kitls_conn_close(e.peer), 0);
    fk_pump(&e.fk, e.peer);
    ck_assert_int_eq(kitls_ktls_recv(e.k, buf, sizeof(buf)), 0);
    ck_assert_int_eq(kitls_ktls_recv(e.k, buf, sizeof(buf)), 0);
    env_free(&e);

    env_new(&e, suites[_i], 1);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    e.fk.peer_eof = 1;
    ck_assert_int_eq(kitls_ktls_recv(e.k, buf, sizeof(buf)), KITLS_KTLS_E_TRUNCATED);
    env_free(&e);
}
END_TEST

/* The application's own recv() meets a control record: EIO, then recv_control. */
START_TEST(eio_then_control)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_conn_send_ticket(e.peer), 0);
    uint8_t d[50], buf[100];
    fill(d, sizeof(d), 23);
    ck_assert_int_eq(kitls_conn_write(e.peer, d, sizeof(d)), (int)sizeof(d));
    fk_pump(&e.fk, e.peer);
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ck_assert_int_eq(e.ops.recvmsg(e.ops.ctx, 100, &m, 0), -EIO); /* plain recv */
    ck_assert_int_eq(kitls_ktls_recv_control(e.k), 0);
    ck_assert_int_eq(e.sessions, 2);
    ck_assert_int_eq(e.ops.recvmsg(e.ops.ctx, 100, &m, 0), (int)sizeof(d));
    ck_assert(memcmp(buf, d, sizeof(d)) == 0);
    ck_assert_int_eq(kitls_ktls_recv_control(e.k), -EAGAIN);
    env_free(&e);
}
END_TEST

/* The kernel paused after a KeyUpdate the application read itself. */
START_TEST(ekeyexpired)
{
    struct env e;
    env_new(&e, KITLS_AES_256_GCM_SHA384, 1);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 0), 0);
    uint8_t d[30], buf[64];
    union {
        char b[CMSG_SPACE(1)];
        struct cmsghdr a;
    } cb;
    fill(d, sizeof(d), 24);
    ck_assert_int_eq(kitls_conn_write(e.peer, d, sizeof(d)), (int)sizeof(d));
    fk_pump(&e.fk, e.peer);
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof(cb.b)};
    ssize_t r = e.ops.recvmsg(e.ops.ctx, 100, &m, 0);
    ck_assert_int_eq(r, 5);
    kitls_offload *o;
    ck_assert_int_eq(kitls_offload_get(e.me, &o), 0);
    ck_assert_int_eq(kitls_offload_feed_record(o, 22, buf, (size_t)r), 0);
    ck_assert_int_eq(kitls_offload_rx_rekey_pending(o), 1);
    m.msg_controllen = sizeof(cb.b);
    ck_assert_int_eq(e.ops.recvmsg(e.ops.ctx, 100, &m, 0), -EKEYEXPIRED);
    ck_assert_int_eq(kitls_ktls_recv(e.k, buf, sizeof(buf)), (int)sizeof(d));
    ck_assert(memcmp(buf, d, sizeof(d)) == 0);
    env_free(&e);
}
END_TEST

/* Partial writes and EAGAIN, for data and control records. */
START_TEST(partial_writes)
{
    struct env e;
    env_new(&e, suites[_i], 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    e.fk.max_write = 1000;
    me_to_peer(&e, 30000, 25);
    e.fk.max_write = 37;
    ck_assert_int_eq(kitls_conn_send_ticket(e.me), 0); /* split over several records */
    int s0 = e.sessions;
    ck_assert_int_eq(kitls_ktls_flush(e.k), 0);
    me_to_peer(&e, 10, 26);
    ck_assert_int_eq(e.sessions, s0 + 1);
    e.fk.max_write = 0;
    e.fk.eagain_sends = 1;
    uint8_t d[10] = {0};
    ck_assert_int_eq(kitls_ktls_send(e.k, d, sizeof(d)), -EAGAIN);
    me_to_peer(&e, 100, 27);
    env_free(&e);
}
END_TEST

/* A system failure reaches the caller as the plain -errno, offloaded or
 * not, and even for errno values that were also core codes before the
 * class-tagged encoding (110: ETIMEDOUT and the old KITLS_E_DECODE). */
START_TEST(sys_errors_plain)
{
    for (int off = 0; off < 2; off++) {
        struct env e;
        env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
        e.fk.no_module = !off;
        ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
        ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), off);
        uint8_t d[10] = {0};
        e.fk.fail_sendmsg = EPIPE;
        ssize_t r = kitls_ktls_send(e.k, d, sizeof(d));
        ck_assert_int_eq(r, -EPIPE);
        ck_assert(KITLS_ERR_IS_ERRNO(r));
        ck_assert_int_eq(kitls_ktls_errno(e.k), EPIPE);
        ck_assert_str_eq(kitls_strerror((int)r), strerror(EPIPE));
        env_free(&e);

        env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
        e.fk.no_module = !off;
        ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
        ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), off);
        e.fk.fail_recvmsg = ETIMEDOUT;
        r = kitls_ktls_recv(e.k, d, sizeof(d));
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_int_eq(kitls_error_alert((int)r), 80); /* not decode_error (50) */
        ck_assert_str_eq(kitls_strerror((int)r), strerror(ETIMEDOUT));
        env_free(&e);
    }
}
END_TEST

/* No kTLS module; the kernel refusing a cipher; a failed install. */
START_TEST(fallbacks)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    e.fk.no_module = 1;
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_reason(e.k, KITLS_DIR_TX), KITLS_KTLS_R_NO_MODULE);
    ck_assert_int_eq(kitls_ktls_errno(e.k), ENOENT);
    ck_assert_str_eq(kitls_ktls_reason_string(KITLS_KTLS_R_NO_MODULE),
                     "kernel has no TLS module (TCP_ULP tls: ENOENT)");
    me_to_peer(&e, 20000, 28);
    peer_to_me(&e, 20000, 29, 65536);
    ck_assert_int_eq(kitls_ktls_close(e.k), 0);
    env_free(&e);

    env_new(&e, KITLS_CHACHA20_POLY1305_SHA256, 0);
    e.fk.no_chacha = 1;
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_reason(e.k, KITLS_DIR_TX), KITLS_KTLS_R_CIPHER);
    ck_assert_int_eq(kitls_ktls_reason(e.k, KITLS_DIR_RX), KITLS_KTLS_R_CIPHER);
    me_to_peer(&e, 100, 30);
    peer_to_me(&e, 100, 31, 65536);
    env_free(&e);

    env_new(&e, KITLS_AES_128_GCM_SHA256, 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 0), 0);
    e.fk.fail_setsockopt = ENOMEM;
    uint8_t buf[10];
    fk_pump(&e.fk, e.peer);
    ck_assert_int_eq(kitls_ktls_recv(e.k, buf, sizeof(buf)), KITLS_KTLS_E_INSTALL);
    ck_assert_int_eq(kitls_ktls_recv(e.k, buf, sizeof(buf)), KITLS_KTLS_E_INSTALL);
    env_free(&e);

    /* Probe answers. */
    struct fk fk = {.rekey = 1};
    struct kitls_ktls_ops o = fk_ops(&fk);
    ck_assert_int_eq(kitls_ktls_probe_rekey(&o), 1);
    struct fk fk2 = {.no_module = 1};
    o = fk_ops(&fk2);
    ck_assert_int_eq(kitls_ktls_probe_rekey(&o), -ENOENT);
}
END_TEST

/* Every setsockopt the layer makes, counted, then passed to the fake kernel. */
static unsigned switch_setsockopts;
static int (*switch_next)(void *, int, int, int, const void *, socklen_t);
static int counting_setsockopt(void *ctx, int fd, int level, int name, const void *val,
                               socklen_t len)
{
    switch_setsockopts++;
    return switch_next(ctx, fd, level, name, val, len);
}

/* Rebind e->k to ops that count setsockopt calls. */
static void count_setsockopts(struct env *e)
{
    kitls_ktls_free(e->k);
    switch_next = e->ops.setsockopt;
    e->ops.setsockopt = counting_setsockopt;
    switch_setsockopts = 0;
    ck_assert_int_eq(kitls_ktls_new(&e->k, e->me, FK_FD, &e->ops), 0);
}

/* The kill switch: off, enable declines before any system call and the
 * data flows through userspace; back on, the next connection offloads. */
START_TEST(kill_switch)
{
    struct env e;
    ck_assert_int_eq(kitls_ktls_enabled(), 1);
    kitls_ktls_set_enabled(0);
    ck_assert_int_eq(kitls_ktls_enabled(), 0);
    env_new(&e, KITLS_AES_128_GCM_SHA256, _i);
    count_setsockopts(&e);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_uint_eq(switch_setsockopts, 0);
    ck_assert_int_eq(e.fk.ulp, 0);
    for (int d = 0; d < 2; d++) {
        ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, (enum kitls_dir)d), 0);
        ck_assert_int_eq(kitls_ktls_reason(e.k, (enum kitls_dir)d), KITLS_KTLS_R_DISABLED);
    }
    ck_assert_int_eq(kitls_ktls_errno(e.k), 0);
    ck_assert_ptr_nonnull(strstr(kitls_ktls_reason_string(KITLS_KTLS_R_DISABLED), "off"));
    me_to_peer(&e, 20000, 40);
    peer_to_me(&e, 20000, 41, 65536);
    ck_assert_uint_eq(switch_setsockopts, 0);
    ck_assert_uint_eq(e.fk.records_out, 0); /* nothing sealed by the "kernel" */
    ck_assert_int_eq(kitls_ktls_close(e.k), 0);
    env_free(&e);

    /* The rekey probe makes no system call either, and caches nothing. */
    struct fk fk = {.rekey = 1};
    struct kitls_ktls_ops o = fk_ops(&fk);
    ck_assert_int_eq(kitls_ktls_probe_rekey(&o), -ECANCELED);
    ck_assert_int_eq(fk.probe_ulp, 0);

    kitls_ktls_set_enabled(1);
    ck_assert_int_eq(kitls_ktls_probe_rekey(&o), 1);
    env_new(&e, KITLS_AES_128_GCM_SHA256, _i);
    count_setsockopts(&e);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_uint_gt(switch_setsockopts, 0);
    ck_assert_int_eq(kitls_ktls_reason(e.k, KITLS_DIR_TX), KITLS_KTLS_R_OFFLOADED);
    ck_assert_int_eq(kitls_ktls_reason(e.k, KITLS_DIR_RX), KITLS_KTLS_R_OFFLOADED);
    me_to_peer(&e, 1000, 42);
    ck_assert_uint_gt(e.fk.records_out, 0);
    env_free(&e);
}
END_TEST

/* KITLS_KTLS=off in the environment, read at first use; the setter wins. */
START_TEST(kill_switch_env)
{
    struct env e;
    ck_assert_int_eq(setenv("KITLS_KTLS", "off", 1), 0);
    ck_assert_int_eq(kitls_ktls_enabled(), 0);
    ck_assert_int_eq(setenv("KITLS_KTLS", "on", 1), 0);
    ck_assert_int_eq(kitls_ktls_enabled(), 0); /* read once */
    env_new(&e, KITLS_AES_256_GCM_SHA384, 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_reason(e.k, KITLS_DIR_TX), KITLS_KTLS_R_DISABLED);
    me_to_peer(&e, 100, 43);
    env_free(&e);
    kitls_ktls_set_enabled(1);
    ck_assert_int_eq(kitls_ktls_enabled(), 1);
    unsetenv("KITLS_KTLS");
}
END_TEST

/* kitls_stats: offloads, fallbacks by reason, kernel rekeys and the bytes
 * the kernel carried land in the offloaded side's config (me: the client). */
static struct kitls_stats me_stats(const struct env *e)
{
    struct kitls_stats st;
    ck_assert_int_eq(kitls_config_stats(e->ccfg, &st), 0);
    return st;
}

START_TEST(stats_counted)
{
    struct env e;
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    struct kitls_stats a = me_stats(&e);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    me_to_peer(&e, 40000, 40);
    peer_to_me(&e, 30000, 41, 65536);
    peer_to_me(&e, 3000, 42, 100); /* through the layer's buffer: counted once */
    ck_assert_int_eq(kitls_conn_key_update(e.peer, 1), 0);
    peer_to_me(&e, 10, 43, 65536);
    struct kitls_stats b = me_stats(&e);
    ck_assert_uint_eq(b.ktls_offloads[KITLS_DIR_TX] - a.ktls_offloads[KITLS_DIR_TX], 1);
    ck_assert_uint_eq(b.ktls_offloads[KITLS_DIR_RX] - a.ktls_offloads[KITLS_DIR_RX], 1);
    ck_assert_uint_eq(b.bytes[KITLS_STATS_SENT] - a.bytes[KITLS_STATS_SENT], 40000);
    ck_assert_uint_eq(b.bytes[KITLS_STATS_RECEIVED] - a.bytes[KITLS_STATS_RECEIVED], 33010);
    ck_assert_uint_eq(b.ktls_rekeys - a.ktls_rekeys, 2); /* RX, and TX answering the request */
    ck_assert_uint_eq(b.key_updates[KITLS_STATS_RECEIVED] - a.key_updates[KITLS_STATS_RECEIVED], 1);
    env_free(&e);

    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    e.fk.no_module = 1;
    a = me_stats(&e);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    me_to_peer(&e, 500, 44); /* userspace: kitls_conn_write counts it, once */
    b = me_stats(&e);
    ck_assert_uint_eq(b.ktls_fallbacks[KITLS_STATS_KTLS_NO_MODULE] -
                          a.ktls_fallbacks[KITLS_STATS_KTLS_NO_MODULE],
                      2);
    ck_assert_uint_eq(b.ktls_offloads[0] + b.ktls_offloads[1],
                      a.ktls_offloads[0] + a.ktls_offloads[1]);
    /* The core's bytes reach the config when the connection goes. */
    kitls_config *keep = kitls_config_up_ref(e.ccfg);
    env_free(&e);
    ck_assert_int_eq(kitls_config_stats(keep, &b), 0);
    ck_assert_uint_eq(b.bytes[KITLS_STATS_SENT] - a.bytes[KITLS_STATS_SENT], 500);
    kitls_config_free(keep);

    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    e.fk.rekey = 0;
    ck_assert_int_eq(kitls_ktls_set_rekey_support(e.k, 0), 0);
    a = me_stats(&e);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    b = me_stats(&e);
    ck_assert_uint_eq(b.ktls_fallbacks[KITLS_STATS_KTLS_REKEY_UNSUPPORTED] -
                          a.ktls_fallbacks[KITLS_STATS_KTLS_REKEY_UNSUPPORTED],
                      2);
    env_free(&e);

    env_new(&e, KITLS_CHACHA20_POLY1305_SHA256, 1);
    e.fk.no_chacha = 1;
    a = me_stats(&e);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    b = me_stats(&e);
    ck_assert_uint_eq(
        b.ktls_fallbacks[KITLS_STATS_KTLS_CIPHER] - a.ktls_fallbacks[KITLS_STATS_KTLS_CIPHER], 2);
    env_free(&e);

    /* The kill switch: counted as "disabled", not as an error. */
    kitls_ktls_set_enabled(0);
    env_new(&e, KITLS_AES_128_GCM_SHA256, 1);
    a = me_stats(&e);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    b = me_stats(&e);
    kitls_ktls_set_enabled(1);
    ck_assert_uint_eq(b.ktls_fallbacks[KITLS_STATS_KTLS_DISABLED] -
                          a.ktls_fallbacks[KITLS_STATS_KTLS_DISABLED],
                      2);
    ck_assert_uint_eq(b.ktls_fallbacks[KITLS_STATS_KTLS_ERROR],
                      a.ktls_fallbacks[KITLS_STATS_KTLS_ERROR]);
    env_free(&e);
}
END_TEST

/* sendfile: through the kernel when offloaded, userspace otherwise. */
START_TEST(sendfile_both)
{
    char path[] = "/tmp/kitls-ktls-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    size_t len = 300000;
    uint8_t *src = malloc(len), *dst = malloc(len);
    fill(src, len, 32);
    ck_assert_int_eq(write(fd, src, len), (ssize_t)len);
    struct env e;
    env_new(&e, suites[_i % 3], 0);
    if (_i >= 3)
        e.fk.no_module = 1;
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), _i < 3);
    off_t off = 0;
    size_t got = 0;
    for (int guard = 0; got < len && guard < 100000; guard++) {
        if ((size_t)off < len && e.fk.out.len - e.fk.out.off < 65536) {
            ssize_t r = kitls_ktls_sendfile(e.k, fd, &off, len - (size_t)off);
            ck_assert_int_gt(r, 0);
        }
        fk_pump(&e.fk, e.peer);
        int r;
        while ((r = kitls_conn_read(e.peer, dst + got, len - got)) > 0)
            got += (size_t)r;
    }
    ck_assert_uint_eq(got, len);
    ck_assert(memcmp(src, dst, len) == 0);
    ck_assert_int_eq(kitls_ktls_sendfile(e.k, fd, &off, 100), 0);
    env_free(&e);
    close(fd);
    free(src);
    free(dst);
}
END_TEST

/* Records the core read past the handshake are not lost on RX offload. */
START_TEST(drain_before_rx)
{
    struct env e;
    env_new(&e, suites[_i], 0);
    uint8_t a[3000], b[5000], buf[9000];
    fill(a, sizeof(a), 33);
    fill(b, sizeof(b), 34);
    ck_assert_int_eq(kitls_conn_write(e.peer, a, sizeof(a)), (int)sizeof(a));
    ck_assert_int_eq(kitls_conn_write(e.peer, b, sizeof(b)), (int)sizeof(b));
    /* The core over-read: all of record a and half of record b. */
    const uint8_t *p;
    size_t n = kitls_conn_out_peek(e.peer, &p);
    size_t cut = sizeof(a) + 22 + sizeof(b) / 2;
    ck_assert_int_eq(kitls_conn_feed(e.me, p, cut), 0);
    ck_assert_uint_eq(kitls_conn_in_needed(e.me), n - cut); /* the rest of record b */
    e.fk.in.p = malloc(n - cut);
    memcpy(e.fk.in.p, p + cut, n - cut);
    e.fk.in.len = n - cut;
    kitls_conn_out_consume(e.peer, n);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), 1);
    size_t got = 0;
    while (got < sizeof(a) + sizeof(b)) {
        ssize_t r = kitls_ktls_recv(e.k, buf + got, sizeof(buf) - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    ck_assert(memcmp(buf, a, sizeof(a)) == 0);
    ck_assert(memcmp(buf + sizeof(a), b, sizeof(b)) == 0);
    peer_to_me(&e, 40000, 35, 65536); /* then the kernel path */
    ck_assert_uint_ge(e.fk.records_in, 3);
    env_free(&e);
}
END_TEST

/* kitls_conn_in_needed(): what completes the record being received. */
START_TEST(in_needed)
{
    kitls_config *cfg = tu_server_config(TU_P256);
    kitls_conn *s = tu_server(cfg);
    const uint8_t hdr[5] = {22, 3, 1, 0, 100}, body[60] = {0};
    ck_assert_uint_eq(kitls_conn_in_needed(s), 0);
    ck_assert_int_eq(kitls_conn_feed(s, hdr, 3), 0);
    ck_assert_uint_eq(kitls_conn_in_needed(s), 2);
    ck_assert_int_eq(kitls_conn_feed(s, hdr + 3, 2), 0);
    ck_assert_uint_eq(kitls_conn_in_needed(s), 100);
    ck_assert_int_eq(kitls_conn_feed(s, body, 60), 0);
    ck_assert_uint_eq(kitls_conn_in_needed(s), 40);
    ck_assert_int_eq(kitls_conn_feed(s, body, 40), 0);
    ck_assert_uint_eq(kitls_conn_in_needed(s), 0); /* whole, not processed yet */
    ck_assert_int_eq(kitls_conn_feed(s, hdr, 1), 0);
    ck_assert_uint_eq(kitls_conn_in_needed(s), 4); /* the next record's header */
    kitls_conn_free(s);
    kitls_config_free(cfg);
}
END_TEST

/* Argument and state checks. */
START_TEST(api_misuse)
{
    kitls_ktls *k = NULL;
    ck_assert_int_eq(kitls_ktls_new(&k, NULL, 3, NULL), KITLS_E_INVALID_ARG);
    kitls_config *cfg = tu_client_config();
    kitls_conn *c = tu_client(cfg, "localhost");
    ck_assert_int_eq(kitls_ktls_new(&k, c, 3, NULL), 0);
    ck_assert_int_eq(kitls_ktls_enable(k), KITLS_E_STATE); /* before the handshake */
    ck_assert_int_eq(kitls_ktls_set_mode(k, 0), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_ktls_set_mode(k, 4), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_ktls_set_rekey_support(k, 2), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_ktls_reason(k, KITLS_DIR_TX), KITLS_KTLS_R_NOT_ENABLED);
    ck_assert_str_eq(kitls_strerror(-EBUSY), strerror(EBUSY));
    ck_assert(KITLS_ERR_IS_ERRNO(-EIO));
    ck_assert(KITLS_ERR_IS_ERRNO(-EAGAIN));
    ck_assert(!KITLS_ERR_IS_ERRNO(KITLS_E_DECODE));
    ck_assert(!KITLS_ERR_IS_ERRNO(KITLS_KTLS_E_TRUNCATED));
    kitls_ktls_free(k);
    kitls_ktls_free(NULL);
    kitls_conn_free(c);
    kitls_config_free(cfg);
}
END_TEST

int main(void)
{
    tu_pki_init();
    Suite *s = suite_create("ktls");
    TCase *t = tcase_create("fake-kernel");
    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, data_per_suite, 0, 6);
    tcase_add_loop_test(t, one_direction, 0, 2);
    tcase_add_loop_test(t, ticket_after_offload, 0, 3);
    tcase_add_loop_test(t, key_update_rekey, 0, 3);
    tcase_add_loop_test(t, queued_key_updates, 0, 3);
    tcase_add_test(t, aead_limit);
    tcase_add_loop_test(t, aead_limit_from_config, 0, 6);
    tcase_add_test(t, no_rekey_require);
    tcase_add_test(t, no_rekey_close);
    tcase_add_test(t, rekey_ebusy);
    tcase_add_loop_test(t, close_notify, 0, 3);
    tcase_add_test(t, eio_then_control);
    tcase_add_test(t, ekeyexpired);
    tcase_add_loop_test(t, partial_writes, 0, 3);
    tcase_add_test(t, fallbacks);
    tcase_add_test(t, stats_counted);
    tcase_add_loop_test(t, kill_switch, 0, 2);
    tcase_add_test(t, kill_switch_env);
    tcase_add_test(t, sys_errors_plain);
    tcase_add_loop_test(t, sendfile_both, 0, 6);
    tcase_add_loop_test(t, drain_before_rx, 0, 3);
    tcase_add_test(t, in_needed);
    tcase_add_test(t, api_misuse);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
