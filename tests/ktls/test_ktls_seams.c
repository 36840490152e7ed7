/*
 * The kTLS layer's seams with the core, against the fake kernel
 * (fakekernel.c), from the December 2026 review (issue 14):
 *
 *   F4  the core's bound on consecutive KeyUpdates (max_key_updates) once
 *       RX is in the kernel, whose application data the core never sees:
 *       a long-lived connection survives thousands of KeyUpdates spaced by
 *       data on every RX path (kitls_ktls_recv, the application's own
 *       reads with kitls_ktls_recv_control, recvmsg with the record type
 *       and kitls_ktls_recv_record), while a back-to-back flood still ends
 *       with an alert;
 *   F5  kitls_ktls_enable() with a KeyUpdate (update_requested) in the
 *       same flight as the client Finished or the first data: the answer
 *       leaves before TLS_TX is installed and the connection offloads;
 *       a failure after TLS_TX leaves a core that can never seal again.
 */
#include <check.h>
#include <errno.h>
#include <linux/tls.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fk_env.h"
#include "kitls/kitls.h"
#include "kitls/ktls.h"
#include "testutil.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 29 + seed);
}

/* ---- F4 ---- */

enum rx_path { RX_KTLS_RECV, RX_OWN_RECV, RX_RECORD, RX_PATHS };

/*
 * Receive exactly len bytes on `me` by one of the RX paths.  Returns 0,
 * or the first error (the core's, or the layer's) when want_error.
 */
static int rx_exact(struct env *e, enum rx_path path, uint8_t *dst, size_t len)
{
    size_t got = 0;
    for (int guard = 0; got < len && guard < 1000; guard++) {
        fk_pump(&e->fk, e->peer);
        ssize_t r;
        if (path == RX_KTLS_RECV) {
            r = kitls_ktls_recv(e->k, dst + got, len - got);
        } else {
            /* The application reads the socket itself. */
            union {
                char buf[CMSG_SPACE(sizeof(unsigned char))];
                struct cmsghdr align;
            } cb;
            uint8_t rec[16384];
            struct iovec iov = {rec, sizeof(rec)};
            struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
            if (path == RX_RECORD) {
                memset(&cb, 0, sizeof(cb));
                m.msg_control = cb.buf;
                m.msg_controllen = sizeof(cb.buf);
            }
            r = e->ops.recvmsg(e->ops.ctx, FK_FD, &m, 0);
            if (r == -EIO && path == RX_OWN_RECV) {
                int c = kitls_ktls_recv_control(e->k);
                if (c < 0)
                    return c;
                continue;
            }
            if (r == -EKEYEXPIRED && path == RX_RECORD) {
                /* the kernel pauses until the new key: recv_record installed it */
                ck_abort_msg("RX paused after recv_record");
            }
            if (r > 0 && path == RX_RECORD) {
                const struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
                if (cm && cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE &&
                    *CMSG_DATA(cm) != 23) {
                    int c = kitls_ktls_recv_record(e->k, *CMSG_DATA(cm), rec, (size_t)r);
                    if (c < 0)
                        return c;
                    /* our answers (none here: no update_requested) */
                    ck_assert_int_eq(kitls_ktls_flush(e->k), 0);
                    continue;
                }
            }
            if (r > 0) {
                ck_assert_uint_le((size_t)r, len - got);
                memcpy(dst + got, rec, (size_t)r);
            } else if (r == -EAGAIN) {
                r = -EAGAIN;
            } else {
                ck_abort_msg("recvmsg: %zd", r);
            }
        }
        if (r == -EAGAIN)
            continue;
        if (r < 0)
            return (int)r;
        got += (size_t)r;
    }
    ck_assert_uint_eq(got, len);
    return 0;
}

/* The peer sends n bytes; `me` receives them and checks the bytes. */
static int peer_data(struct env *e, enum rx_path path, size_t n, unsigned seed)
{
    uint8_t src[512], dst[512];
    ck_assert_uint_le(n, sizeof(src));
    fill(src, n, seed);
    ck_assert_int_eq(kitls_conn_write(e->peer, src, n), (int)n);
    int r = rx_exact(e, path, dst, n);
    if (!r)
        ck_assert(memcmp(src, dst, n) == 0);
    return r;
}

/* 1200 KeyUpdates from the peer, each after some data (the default bound
 * is 32 consecutive ones): all taken, on every RX path. */
START_TEST(ku_spaced_by_data)
{
    enum rx_path path = (enum rx_path)_i;
    struct env e;
    fk_env_new(&e, KITLS_AES_128_GCM_SHA256, 0, 1, 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), 1);
    for (unsigned i = 0; i < 1200; i++) {
        int r = peer_data(&e, path, 1 + i % 300, i);
        ck_assert_msg(r == 0, "path %d: data before KeyUpdate #%u: %s", path, i + 1,
                      kitls_strerror(r));
        ck_assert_int_eq(kitls_conn_key_update(e.peer, 0), 0);
    }
    ck_assert_int_eq(peer_data(&e, path, 100, 7), 0);
    unsigned tx, rx;
    kitls_ktls_rekeys(e.k, &tx, &rx);
    ck_assert_uint_eq(rx, 1200);
    ck_assert_int_eq(kitls_conn_error(e.me), 0);
    ck_assert_uint_eq(e.fk.decrypt_err, 0);
    fk_env_free(&e);
}
END_TEST

/* The peer's KeyUpdates with nothing between: the 33rd ends the connection
 * with KITLS_E_LIMIT and an alert the peer receives, on every RX path;
 * data first and then 32 back-to-back ones are fine. */
START_TEST(ku_flood_fails)
{
    enum rx_path path = (enum rx_path)_i;
    struct env e;
    fk_env_new(&e, KITLS_AES_128_GCM_SHA256, 0, 1, 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 32; i++)
            ck_assert_int_eq(kitls_conn_key_update(e.peer, 0), 0);
        ck_assert_int_eq(peer_data(&e, path, 50, (unsigned)round), 0);
    }
    for (int i = 0; i < 33; i++)
        ck_assert_int_eq(kitls_conn_key_update(e.peer, 0), 0);
    int r = peer_data(&e, path, 50, 9);
    ck_assert_msg(r == KITLS_E_LIMIT, "path %d: %s", path, kitls_strerror(r));
    ck_assert_int_eq(kitls_conn_error(e.me), KITLS_E_LIMIT);
    /* The alert reached the peer (sent by the kernel under the current key). */
    fk_pump(&e.fk, e.peer);
    uint8_t b[64];
    ck_assert_int_eq(kitls_conn_read(e.peer, b, sizeof(b)),
                     KITLS_E_PEER_ALERT(kitls_error_alert(KITLS_E_LIMIT)));
    fk_env_free(&e);
}
END_TEST

/* A kernel that cannot report its RX sequence number: the layer assumes
 * data came between (the count never ends a connection wrongly). */
START_TEST(ku_no_rx_seq)
{
    struct env e;
    fk_env_new(&e, KITLS_AES_128_GCM_SHA256, 1, 1, 0);
    e.fk.no_rx_getsockopt = 1;
    ck_assert_int_eq(kitls_ktls_enable(e.k), 0);
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(kitls_conn_key_update(e.peer, 0), 0);
    ck_assert_int_eq(peer_data(&e, RX_KTLS_RECV, 50, 3), 0);
    ck_assert_int_eq(kitls_conn_error(e.me), 0);
    fk_env_free(&e);
}
END_TEST

/* ---- F5 ---- */

static void on_session(void *ctx, kitls_conn *c, kitls_session *s)
{
    (void)c;
    (void)s;
    ++*(int *)ctx;
}

/*
 * Like fk_env_new(), but the client's KeyUpdate(update_requested) (and
 * data when with_data) leave in the same flight as its Finished; `me`
 * takes the whole flight in one read.  me_client: the peer server sends
 * its ticket, KeyUpdate(update_requested) and data right after the
 * handshake instead, and me reads them with the handshake's end.
 */
static void env_ku_in_flight(struct env *e, int me_client, int with_data)
{
    memset(e, 0, sizeof(*e));
    e->ccfg = tu_client_config();
    e->scfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_session_callback(e->ccfg, on_session, &e->sessions), 0);
    kitls_conn *c = tu_client(e->ccfg, "localhost"), *s = tu_server(e->scfg);
    int cr = KITLS_E_WANT_READ, sr = KITLS_E_WANT_READ;
    uint8_t d[100];
    fill(d, sizeof(d), 77);
    for (int round = 0; round < 16 && (cr || sr); round++) {
        if (cr == KITLS_E_WANT_READ) {
            cr = kitls_conn_handshake(c);
            if (cr == 0 && !me_client) {
                /* client established: KeyUpdate behind its Finished */
                ck_assert_int_eq(kitls_conn_key_update(c, 1), 0);
                if (with_data)
                    ck_assert_int_eq(kitls_conn_write(c, d, sizeof(d)), (int)sizeof(d));
            }
        }
        tu_move(c, s);
        if (sr == KITLS_E_WANT_READ) {
            sr = kitls_conn_handshake(s);
            if (sr == 0 && me_client) {
                ck_assert_int_eq(kitls_conn_key_update(s, 1), 0);
                if (with_data)
                    ck_assert_int_eq(kitls_conn_write(s, d, sizeof(d)), (int)sizeof(d));
            }
        }
        tu_move(s, c);
    }
    ck_assert_int_eq(cr, 0);
    ck_assert_int_eq(sr, 0);
    e->me = me_client ? c : s;
    e->peer = me_client ? s : c;
    e->fk.rekey = 1;
    e->ops = fk_ops(&e->fk);
    ck_assert_int_eq(kitls_ktls_new(&e->k, e->me, FK_FD, &e->ops), 0);
}

/* _i: bit 0 me is the client, bit 1 with data after the KeyUpdate. */
START_TEST(ku_in_last_flight)
{
    int me_client = _i & 1, with_data = (_i >> 1) & 1;
    struct env e;
    env_ku_in_flight(&e, me_client, with_data);
    int r = kitls_ktls_enable(e.k);
    ck_assert_msg(r == 0, "me_client=%d data=%d: enable: %s", me_client, with_data,
                  kitls_strerror(r));
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), 1);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_RX), 1);
    ck_assert_int_eq(kitls_conn_error(e.me), 0);
    uint8_t buf[200], d[100];
    fill(d, sizeof(d), 77);
    if (with_data) {
        /* the data the core read past the KeyUpdate, kept by the layer */
        size_t got = 0;
        while (got < sizeof(d)) {
            ssize_t n = kitls_ktls_recv(e.k, buf + got, sizeof(d) - got);
            ck_assert_int_gt(n, 0);
            got += (size_t)n;
        }
        ck_assert(memcmp(buf, d, sizeof(d)) == 0);
    }
    /* Our answer went first, under the key it replaces; the kernel's
     * records follow under the next one: the peer reads them. */
    fill(d, sizeof(d), 78);
    ck_assert_int_eq(kitls_ktls_send(e.k, d, sizeof(d)), (int)sizeof(d));
    fk_pump(&e.fk, e.peer);
    ck_assert_int_eq(kitls_conn_read(e.peer, buf, sizeof(buf)), (int)sizeof(d));
    ck_assert(memcmp(buf, d, sizeof(d)) == 0);
    ck_assert_int_eq(peer_data(&e, RX_KTLS_RECV, 100, 79), 0);
    ck_assert_uint_eq(e.fk.decrypt_err, 0);
    fk_env_free(&e);
}
END_TEST

/* ops whose TLS_TX setsockopt, once it succeeded, makes the core seal a
 * record: kitls_offload_start(TX) then refuses (output pending), the only
 * way enable() can fail past TLS_TX with the drain fixed. */
struct tx_saboteur {
    struct kitls_ktls_ops fk;
    kitls_conn *me;
};

static int sabotage_setsockopt(void *ctx, int fd, int level, int name, const void *val,
                               socklen_t len)
{
    struct tx_saboteur *t = ctx;
    int r = t->fk.setsockopt(t->fk.ctx, fd, level, name, val, len);
    if (!r && level == SOL_TLS && name == TLS_TX)
        ck_assert_int_eq(kitls_conn_write(t->me, (const uint8_t *)"x", 1), 1);
    return r;
}

static int pass_getsockopt(void *ctx, int fd, int level, int name, void *val, socklen_t *len)
{
    struct tx_saboteur *t = ctx;
    return t->fk.getsockopt(t->fk.ctx, fd, level, name, val, len);
}

static ssize_t pass_sendmsg(void *ctx, int fd, const struct msghdr *m, int flags)
{
    struct tx_saboteur *t = ctx;
    return t->fk.sendmsg(t->fk.ctx, fd, m, flags);
}

static ssize_t pass_recvmsg(void *ctx, int fd, struct msghdr *m, int flags)
{
    struct tx_saboteur *t = ctx;
    return t->fk.recvmsg(t->fk.ctx, fd, m, flags);
}

static ssize_t pass_sendfile(void *ctx, int fd, int in_fd, off_t *off, size_t n)
{
    struct tx_saboteur *t = ctx;
    return t->fk.sendfile(t->fk.ctx, fd, in_fd, off, n);
}

/* A failure after TLS_TX: the core is failed (nothing seals again) and
 * holds nothing sealed under the key the kernel now uses. */
START_TEST(fail_after_tls_tx)
{
    struct env e;
    fk_env_new(&e, KITLS_AES_256_GCM_SHA384, _i, 1, 0);
    struct tx_saboteur t = {.fk = e.ops, .me = e.me};
    struct kitls_ktls_ops ops = {sabotage_setsockopt, pass_getsockopt, pass_sendmsg,
                                 pass_recvmsg,        pass_sendfile,   &t};
    kitls_ktls_free(e.k);
    ck_assert_int_eq(kitls_ktls_new(&e.k, e.me, FK_FD, &ops), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), KITLS_KTLS_E_INSTALL);
    ck_assert_int_eq(e.fk.tx.on, 1);
    ck_assert_int_eq(kitls_ktls_is_offloaded(e.k, KITLS_DIR_TX), 0);
    ck_assert_int_ne(kitls_conn_error(e.me), 0);
    const uint8_t *p;
    ck_assert_uint_eq(kitls_conn_out_peek(e.me, &p), 0);
    ck_assert_int_lt(kitls_conn_write(e.me, (const uint8_t *)"y", 1), 0);
    ck_assert_int_lt(kitls_conn_key_update(e.me, 0), 0);
    ck_assert_int_lt(kitls_conn_close(e.me), 0);
    ck_assert_uint_eq(kitls_conn_out_peek(e.me, &p), 0);
    ck_assert_int_eq(kitls_ktls_enable(e.k), KITLS_KTLS_E_INSTALL); /* sticky */
    fk_env_free(&e);
}
END_TEST

int main(void)
{
    tu_pki_init();
    Suite *s = suite_create("ktls-seams");
    TCase *t = tcase_create("fake-kernel");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, ku_spaced_by_data, 0, RX_PATHS);
    tcase_add_loop_test(t, ku_flood_fails, 0, RX_PATHS);
    tcase_add_test(t, ku_no_rx_seq);
    tcase_add_loop_test(t, ku_in_last_flight, 0, 4);
    tcase_add_loop_test(t, fail_after_tls_tx, 0, 2);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
