/*
 * Check tests for the io_uring driver's provided buffer ring (uring/rxbuf.c) on a real ring.
 *
 * One driver on one thread is both server (echo) and client of 100
 * loopback connections.  After a handshake and one echoed message each,
 * every connection waits for data: with the buffer ring it must hold no
 * receive buffer, so the heap in use per connection must be at least
 * 14 KiB below the same run with KITLS_URING_F_NO_BUF_RING (the core's
 * 16.3 KiB record input stays posted there).  The 100 messages sent in
 * one turn make more receives complete at once than the ring's 64 first
 * buffers: the ring runs empty (-ENOBUFS), and every byte must still
 * arrive, in order, with no connection stalled; then 40 kB per connection
 * echoed in both modes.  Exits 77 where the kernel refuses buffer rings
 * (before Linux 5.19).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kitls/kitls.h"
#include "kitls/uring.h"
#include "testutil.h"

#define N 100

struct cli {
    kitls_uring_conn *c;
    size_t got;
    int id, hs, closed, reason;
};

struct ctx {
    struct cli cli[N];
    unsigned hs_done;
    size_t want; /* bytes each client expects back so far */
};

static uint8_t pat(const struct cli *cl, size_t off)
{
    return (uint8_t)((off * 131u + (size_t)cl->id * 7u) & 0xff);
}

static void on_event(void *p, const struct kitls_uring_event *ev)
{
    struct ctx *x = p;
    struct cli *cl = ev->user; /* NULL on the server side */
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE:
        if (cl) {
            cl->hs = 1;
            x->hs_done++;
        }
        break;
    case KITLS_URING_EV_DATA:
        if (!cl) {
            ck_assert_int_eq(kitls_uring_send(ev->conn, ev->data, ev->len), (int)ev->len);
            break;
        }
        for (size_t i = 0; i < ev->len; i++)
            if (ev->data[i] != pat(cl, cl->got + i))
                ck_abort_msg("connection %d: byte %zu differs", cl->id, cl->got + i);
        cl->got += ev->len;
        ck_assert_uint_le(cl->got, x->want);
        break;
    case KITLS_URING_EV_EOF: ck_assert_int_eq(kitls_uring_close(ev->conn), 0); break;
    case KITLS_URING_EV_CLOSED:
        if (cl) {
            cl->closed = 1;
            cl->reason = ev->reason;
        }
        break;
    default: break;
    }
}

static void turn(kitls_uring *u, int ms)
{
    int r = kitls_uring_run(u, ms);
    ck_assert_msg(r >= 0 || r == -EINTR, "run: %d", r);
}

static void turn_until(kitls_uring *u, struct ctx *x, int (*done)(const struct ctx *))
{
    for (int i = 0; i < 3000 && !done(x); i++)
        turn(u, 10);
    ck_assert_msg(done(x), "the connections did not get there");
}

static int all_hs(const struct ctx *x)
{
    return x->hs_done == N;
}

static int all_back(const struct ctx *x)
{
    for (int i = 0; i < N; i++)
        if (x->cli[i].got != x->want)
            return 0;
    return 1;
}

static int all_closed(const struct ctx *x)
{
    for (int i = 0; i < N; i++)
        if (!x->cli[i].closed)
            return 0;
    return 1;
}

static void send_all(struct ctx *x, size_t len)
{
    static uint8_t buf[65536];
    size_t from = x->want;
    for (int i = 0; i < N; i++) {
        struct cli *cl = &x->cli[i];
        for (size_t k = 0; k < len; k++)
            buf[k] = pat(cl, from + k);
        ck_assert_int_eq(kitls_uring_send(cl->c, buf, len), (int)len);
    }
    x->want += len;
}

/* One run; returns heap bytes in use per connection while all are idle
 * (-1 where mallinfo2 does not see the allocator, e.g. under ASan). */
static long run(unsigned flags, struct kitls_uring_stats *out)
{
    static struct ctx x;
    memset(&x, 0, sizeof(x));
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 256), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    struct kitls_uring_params p = {
        .max_conns = 2 * N + 8, .max_handshakes = 2 * N + 8, .entries = 512, .flags = flags};
    kitls_uring *u;
    ck_assert_int_eq(kitls_uring_new(&u, NULL, &p, on_event, &x), 0);
    ck_assert_int_ge(kitls_uring_listen(u, lfd, scfg), 0);
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < N; i++)
        x.cli[i].id = i;
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(kitls_uring_connect(u, (struct sockaddr *)&sa, sizeof(sa), ccfg,
                                             "localhost", &x.cli[i], &x.cli[i].c),
                         0);
    turn_until(u, &x, all_hs);
    /* one message each, all sent in one turn: the receives complete
     * together, more than the ring's first buffers */
    send_all(&x, 1000);
    turn_until(u, &x, all_back);
    for (int i = 0; i < 20; i++) /* the last receives posted, sends done */
        turn(u, 5);
    struct kitls_uring_stats st;
    kitls_uring_get_stats(u, &st);
    ck_assert_uint_eq(st.conns, 2 * N);
    size_t idle = mallinfo2().uordblks;
    long per = before || idle ? (long)(idle - before) / (2 * N) : -1;
    /* then more than a record each way, in both modes */
    send_all(&x, 40000);
    turn_until(u, &x, all_back);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(kitls_uring_close(x.cli[i].c), 0);
    turn_until(u, &x, all_closed);
    for (int i = 0; i < N; i++)
        ck_assert_msg(x.cli[i].reason == 0, "connection %d: %s", i,
                      kitls_strerror(x.cli[i].reason));
    for (int i = 0; i < 200 && (kitls_uring_get_stats(u, &st), st.conns); i++)
        turn(u, 10);
    kitls_uring_get_stats(u, out);
    ck_assert_uint_eq(out->conns, 0);
    ck_assert_uint_eq(out->handshake_failures, 0);
    kitls_uring_free(u);
    close(lfd);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
    return per;
}

START_TEST(idle_connections_hold_no_buffer)
{
    struct kitls_uring_stats ring, plain;
    long per_ring = run(0, &ring);
    long per_plain = run(KITLS_URING_F_NO_BUF_RING, &plain);
    printf("heap per idle connection: %ld B with the buffer ring, %ld B without; ring: %u "
           "buffers, %llu receives found it empty\n",
           per_ring, per_plain, ring.rx_bufs, (unsigned long long)ring.rx_nobufs);
    ck_assert_int_eq(ring.rx_buf_ring, 1);
    ck_assert_int_eq(plain.rx_buf_ring, 0);
    ck_assert_uint_eq(plain.rx_nobufs, 0);
    ck_assert_uint_ge(ring.rx_bufs, 64);
    /* more receives at once than buffers: the ring ran empty, nothing lost */
    ck_assert_uint_gt(ring.rx_nobufs, 0);
    if (per_ring < 0 || per_plain < 0) {
        printf("mallinfo2 does not see this allocator (sanitizer build): memory not compared\n");
        return;
    }
    ck_assert_int_le(per_ring, 10 * 1024);
    ck_assert_int_ge(per_plain - per_ring, 14 * 1024);
}
END_TEST

int main(void)
{
    /* Whether this kernel takes a buffer ring at all (Linux 5.19). */
    kitls_uring *u;
    if (kitls_uring_new(&u, NULL, NULL, NULL, NULL) < 0) {
        printf("no io_uring here\n");
        return 77;
    }
    struct kitls_uring_stats st;
    kitls_uring_get_stats(u, &st);
    kitls_uring_free(u);
    if (st.rx_buf_ring < 0) {
        printf("the kernel refuses provided buffer rings (%s): needs Linux 5.19\n",
               strerror(-st.rx_buf_ring));
        return 77;
    }
    tu_pki_init();
    Suite *s = suite_create("uring_bufring");
    TCase *tc = tcase_create("bufring");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, idle_connections_hold_no_buffer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
