/*
 * kTLS against the real kernel (run inside the VM by tests/ktls/vm.sh, or
 * on any host whose kernel has the tls module).  One process, two
 * non-blocking loopback TCP sockets: side A offloads to the kernel, side B
 * stays in userspace (kitls's own record layer), so every record the
 * kernel encrypts is decrypted by userspace and vice versa.  Per suite:
 * data both ways, NewSessionTicket after offload, KeyUpdate from either
 * side (rekey on Linux >= 6.14, the documented policies before),
 * AEAD-limit rekeys, sendfile of a large file, close_notify; then the
 * /proc/net/tls_stat counters.
 *
 * Environment: KITLS_EXPECT_REKEY=0|1 (the booted kernel's capability, as
 * the harness knows it) is checked against the probe.  Exit 77 when the
 * kernel has no kTLS at all.  Prints "N passed, N failed".
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kitls/kitls.h"
#include "kitls/ktls.h"
#include "kernel_util.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                               \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

struct side {
    kitls_config *cfg;
    kitls_conn *c;
    kitls_ktls *k;
    int fd;
};

struct pair {
    struct side a, b; /* a: offloaded (the client); b: userspace (server) */
    int sessions;
};

static void on_session(void *ctx, kitls_conn *c, kitls_session *s)
{
    (void)c;
    (void)s;
    ++*(int *)ctx;
}

/* pair_new(): side a (the offloaded one) is the server instead. */
static int pair_a_server;

static int pair_new(struct pair *p, uint16_t suite, unsigned mode, int policy)
{
    memset(p, 0, sizeof(*p));
    int fds[2];
    if (ku_tcp_pair(fds))
        return -1;
    struct side *cli = pair_a_server ? &p->b : &p->a, *srv = pair_a_server ? &p->a : &p->b;
    cli->cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    srv->cfg = kitls_config_new(KITLS_ROLE_SERVER);
    if (kitls_config_set_suites(cli->cfg, &suite, 1) ||
        kitls_config_set_suites(srv->cfg, &suite, 1) ||
        kitls_config_set_verify(cli->cfg, KITLS_VERIFY_NONE) ||
        kitls_config_add_cert_pem(srv->cfg, ku_cert_pem, ku_cert_len, ku_key_pem, ku_key_len) ||
        kitls_config_set_session_callback(cli->cfg, on_session, &p->sessions))
        return -1;
    p->a.c = kitls_conn_new(p->a.cfg);
    p->b.c = kitls_conn_new(p->b.cfg);
    p->a.fd = fds[0];
    p->b.fd = fds[1];
    if (kitls_ktls_new(&p->a.k, p->a.c, p->a.fd, NULL) ||
        kitls_ktls_new(&p->b.k, p->b.c, p->b.fd, NULL) ||
        (mode && kitls_ktls_set_mode(p->a.k, mode)) || kitls_ktls_set_rekey_policy(p->a.k, policy))
        return -1;
    int ra = -EAGAIN, rb = -EAGAIN;
    /* Loopback delivery is asynchronous: wait for the sockets, up to 20 s. */
    for (int i = 0; i < 20000 && (ra || rb); i++) {
        if (ra)
            ra = kitls_ktls_handshake(p->a.k);
        if (rb)
            rb = kitls_ktls_handshake(p->b.k);
        if ((ra && ra != -EAGAIN) || (rb && rb != -EAGAIN))
            return ra && ra != -EAGAIN ? ra : rb;
        if (ra || rb) {
            struct pollfd pf[2] = {{p->a.fd, POLLIN, 0}, {p->b.fd, POLLIN, 0}};
            poll(pf, 2, 1);
        }
    }
    if (ra || rb)
        return KITLS_E_INTERNAL;
    /* B's ticket may still be in flight: enable() must not lose it. */
    return mode ? kitls_ktls_enable(p->a.k) : 0;
}

static void pair_free(struct pair *p)
{
    struct side *s[2] = {&p->a, &p->b};
    for (int i = 0; i < 2; i++) {
        kitls_ktls_free(s[i]->k);
        kitls_conn_free(s[i]->c);
        kitls_config_free(s[i]->cfg);
        if (s[i]->fd >= 0)
            close(s[i]->fd);
    }
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + seed + (i >> 11));
}

/* from -> to, len bytes; both non-blocking, driven alternately.  Returns 0,
 * or the first error of either side. */
static int transfer(struct side *from, struct side *to, size_t len, unsigned seed, int *rerr)
{
    uint8_t *src = malloc(len), *dst = malloc(len);
    fill(src, len, seed);
    size_t sent = 0, got = 0;
    int ret = 0;
    for (long i = 0; got < len && i < 2000000; i++) {
        if (sent < len) {
            ssize_t r =
                kitls_ktls_send(from->k, src + sent, len - sent > 65536 ? 65536 : len - sent);
            if (r > 0)
                sent += (size_t)r;
            else if (r != -EAGAIN) {
                ret = (int)r;
                break;
            }
        }
        ssize_t r = kitls_ktls_recv(to->k, dst + got, len - got);
        if (r > 0)
            got += (size_t)r;
        else if (r != -EAGAIN) {
            ret = r ? (int)r : -1;
            if (rerr)
                *rerr = (int)r;
            break;
        }
    }
    if (!ret && (got != len || memcmp(src, dst, len)))
        ret = -2;
    free(src);
    free(dst);
    return ret;
}

/* Read /proc/net/tls_stat counter `name` (or -1). */
static long tls_stat(const char *name)
{
    FILE *f = fopen("/proc/net/tls_stat", "r");
    char k[64];
    long v, out = -1;
    if (!f)
        return -1;
    while (fscanf(f, "%63s %ld", k, &v) == 2)
        if (!strcmp(k, name))
            out = v;
    fclose(f);
    return out;
}

static int expect_rekey = -1;
static int rekey_ok;

static const char *sname(uint16_t s)
{
    return kitls_suite_name(s);
}

/* Data both ways; tickets after offload; KeyUpdate; close_notify. */
static int t_data(uint16_t suite, unsigned mode)
{
    struct pair p;
    int r = pair_new(&p, suite, mode, KITLS_KTLS_REKEY_CLOSE);
    CHECK(r == 0, "pair: %s", kitls_strerror(r));
    CHECK(kitls_ktls_is_offloaded(p.a.k, KITLS_DIR_TX) == !!(mode & KITLS_KTLS_TX), "tx: %s",
          kitls_ktls_reason_string(kitls_ktls_reason(p.a.k, KITLS_DIR_TX)));
    CHECK(kitls_ktls_is_offloaded(p.a.k, KITLS_DIR_RX) == !!(mode & KITLS_KTLS_RX), "rx: %s",
          kitls_ktls_reason_string(kitls_ktls_reason(p.a.k, KITLS_DIR_RX)));
    CHECK((r = transfer(&p.a, &p.b, 256 << 10, 1, NULL)) == 0, "a->b: %s", kitls_strerror(r));
    CHECK((r = transfer(&p.b, &p.a, 256 << 10, 2, NULL)) == 0, "b->a: %s", kitls_strerror(r));
    /* NewSessionTicket after offload. */
    int s0 = p.sessions;
    CHECK(kitls_conn_send_ticket(p.b.c) == 0, "ticket");
    CHECK((r = transfer(&p.b, &p.a, 100, 3, NULL)) == 0, "after ticket: %s", kitls_strerror(r));
    CHECK(p.sessions == s0 + 1, "sessions %d -> %d", s0, p.sessions);
    /* close_notify both ways. */
    CHECK(kitls_ktls_close(p.a.k) == 0, "close a");
    uint8_t buf[64];
    ssize_t n = -EAGAIN;
    for (int i = 0; i < 100000 && n == -EAGAIN; i++)
        n = kitls_ktls_recv(p.b.k, buf, sizeof(buf));
    CHECK(n == 0, "b sees close_notify: %s", kitls_strerror((int)n));
    CHECK(kitls_ktls_close(p.b.k) == 0, "close b");
    n = -EAGAIN;
    for (int i = 0; i < 100000 && n == -EAGAIN; i++)
        n = kitls_ktls_recv(p.a.k, buf, sizeof(buf));
    CHECK(n == 0, "a sees close_notify: %s", kitls_strerror((int)n));
    pair_free(&p);
    return 0;
}

/* KeyUpdate from the userspace peer (update_requested) and from A. */
static int t_key_update(uint16_t suite)
{
    struct pair p;
    int r = pair_new(&p, suite, KITLS_KTLS_BOTH, KITLS_KTLS_REKEY_CLOSE);
    CHECK(r == 0, "pair: %s", kitls_strerror(r));
    CHECK(kitls_ktls_is_offloaded(p.a.k, KITLS_DIR_RX), "offloaded");
    CHECK((r = transfer(&p.b, &p.a, 50000, 4, NULL)) == 0, "before: %s", kitls_strerror(r));
    CHECK(kitls_ktls_key_update(p.b.k, 1) == 0, "b key update");
    int rerr = 0;
    r = transfer(&p.b, &p.a, 50000, 5, &rerr);
    if (!rekey_ok) {
        /* Policy "close": a clear error, the peer told with an alert. */
        CHECK(rerr == KITLS_KTLS_E_REKEY_UNSUPPORTED, "got %s", kitls_strerror(rerr));
        uint8_t buf[16];
        ssize_t n = -EAGAIN;
        for (int i = 0; i < 100000 && n == -EAGAIN; i++)
            n = kitls_ktls_recv(p.b.k, buf, sizeof(buf));
        CHECK(n == KITLS_E_PEER_ALERT(80) && kitls_conn_peer_alert(p.b.c) == 80, "peer got %s",
              kitls_strerror((int)n));
        pair_free(&p);
        return 0;
    }
    CHECK(r == 0, "after b's update: %s", kitls_strerror(r));
    CHECK((r = transfer(&p.a, &p.b, 50000, 6, NULL)) == 0, "a after answer: %s", kitls_strerror(r));
    CHECK(kitls_ktls_key_update(p.a.k, 1) == 0, "a key update");
    CHECK((r = transfer(&p.a, &p.b, 50000, 7, NULL)) == 0, "a->b: %s", kitls_strerror(r));
    CHECK((r = transfer(&p.b, &p.a, 50000, 8, NULL)) == 0, "b->a: %s", kitls_strerror(r));
    unsigned tx, rx;
    kitls_ktls_rekeys(p.a.k, &tx, &rx);
    CHECK(tx == 2 && rx == 2, "rekeys tx %u rx %u", tx, rx);
    /* AEAD limit: records counted by the layer, updates before 8. */
    CHECK(kitls_ktls_set_key_update_limit(p.a.k, 8) == 0, "limit");
    CHECK((r = transfer(&p.a, &p.b, 16384 * 40, 9, NULL)) == 0, "limit: %s", kitls_strerror(r));
    kitls_ktls_rekeys(p.a.k, &tx, &rx);
    CHECK(tx >= 6, "limit rekeys %u", tx);
    pair_free(&p);
    return 0;
}

/* Default policy on a kernel without rekey: stays in userspace. */
static int t_require(uint16_t suite)
{
    struct pair p;
    int r = pair_new(&p, suite, KITLS_KTLS_BOTH, KITLS_KTLS_REKEY_REQUIRE);
    CHECK(r == 0, "pair: %s", kitls_strerror(r));
    CHECK(kitls_ktls_is_offloaded(p.a.k, KITLS_DIR_TX) == rekey_ok, "offload %d", rekey_ok);
    if (!rekey_ok)
        CHECK(kitls_ktls_reason(p.a.k, KITLS_DIR_RX) == KITLS_KTLS_R_NO_REKEY, "reason");
    CHECK(kitls_ktls_key_update(p.b.k, 1) == 0, "b key update");
    CHECK((r = transfer(&p.b, &p.a, 20000, 10, NULL)) == 0, "b->a: %s", kitls_strerror(r));
    CHECK((r = transfer(&p.a, &p.b, 20000, 11, NULL)) == 0, "a->b: %s", kitls_strerror(r));
    pair_free(&p);
    return 0;
}

/* sendfile of a large file through the kernel (or, with `user`, the
 * userspace fallback), verified by content. */
static int sendfile_run(uint16_t suite, int user)
{
    struct pair p;
    int r = pair_new(&p, suite, user ? 0 : KITLS_KTLS_BOTH, KITLS_KTLS_REKEY_CLOSE);
    CHECK(r == 0, "pair: %s", kitls_strerror(r));
    CHECK(kitls_ktls_is_offloaded(p.a.k, KITLS_DIR_TX) == !user, "offload");
    char path[] = "/tmp/kitls-sendfile-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    unlink(path);
    size_t len = 4u << 20;
    uint8_t *src = malloc(len), *dst = malloc(len);
    fill(src, len, 12);
    CHECK(write(fd, src, len) == (ssize_t)len, "write");
    off_t off = 0;
    size_t got = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; got < len && i < 5000000; i++) {
        if ((size_t)off < len) {
            ssize_t w = kitls_ktls_sendfile(p.a.k, fd, &off, len - (size_t)off);
            CHECK(w > 0 || w == -EAGAIN, "sendfile: %s", kitls_strerror((int)w));
        }
        ssize_t n = kitls_ktls_recv(p.b.k, dst + got, len - got);
        CHECK(n > 0 || n == -EAGAIN, "recv: %s", kitls_strerror((int)n));
        if (n > 0)
            got += (size_t)n;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(got == len && !memcmp(src, dst, len), "content (%zu of %zu)", got, len);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("  sendfile %s: %zu MiB in %.2f s (%s, TX %s)\n", sname(suite), len >> 20, s,
           getenv("KITLS_VM") ? "emulated VM" : "host",
           kitls_ktls_is_offloaded(p.a.k, KITLS_DIR_TX) ? "kernel" : "userspace");
    close(fd);
    free(src);
    free(dst);
    pair_free(&p);
    return 0;
}

static int t_sendfile(uint16_t suite)
{
    return sendfile_run(suite, 0);
}
static int t_sendfile_user(uint16_t suite)
{
    return sendfile_run(suite, 1);
}

static void run(const char *name, int (*fn)(uint16_t), uint16_t suite)
{
    int r = fn(suite);
    printf("%s %s %s\n", r ? "FAIL" : "ok  ", name, sname(suite));
    if (r)
        failed++;
    else
        passed++;
    fflush(stdout);
}

/*
 * Issue 14, F5: the peer's KeyUpdate(update_requested) and data arrive
 * right behind the handshake and a greedy reader (the io_uring driver)
 * took them into the core before kitls_ktls_enable(): the drain answers
 * the KeyUpdate, the answer leaves under the key it replaces before TLS_TX
 * gets the next one, and both directions offload (even without kernel
 * rekey: the key change happens before the first install).
 */
static int ku_in_flight(uint16_t suite, int a_server)
{
    struct pair p;
    pair_a_server = a_server;
    int r = pair_new(&p, suite, 0, rekey_ok ? KITLS_KTLS_REKEY_REQUIRE : KITLS_KTLS_REKEY_CLOSE);
    pair_a_server = 0;
    CHECK(r == 0, "pair: %s", kitls_strerror(r));
    uint8_t d[100], buf[4096];
    fill(d, sizeof(d), 9);
    CHECK(kitls_conn_key_update(p.b.c, 1) == 0, "b key update");
    CHECK(kitls_conn_write(p.b.c, d, sizeof(d)) == (int)sizeof(d), "b write");
    for (int i = 0; i < 100000 && (r = kitls_ktls_flush(p.b.k)) == -EAGAIN; i++)
        ;
    CHECK(r == 0, "b flush: %s", kitls_strerror(r));
    /* The greedy read: everything that arrived within 200 ms. */
    size_t fed = 0;
    for (int i = 0; i < 20; i++) {
        struct pollfd pf = {p.a.fd, POLLIN, 0};
        poll(&pf, 1, 10);
        ssize_t n;
        while ((n = recv(p.a.fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
            CHECK(kitls_conn_feed(p.a.c, buf, (size_t)n) == 0, "feed");
            fed += (size_t)n;
        }
    }
    CHECK(fed >= sizeof(d) + 2 * 22, "read %zu bytes", fed);
    r = kitls_ktls_enable(p.a.k);
    CHECK(r == 0, "enable: %s", kitls_strerror(r));
    CHECK(kitls_ktls_is_offloaded(p.a.k, KITLS_DIR_TX) == 1 &&
              kitls_ktls_is_offloaded(p.a.k, KITLS_DIR_RX) == 1,
          "not offloaded: tx %s rx %s",
          kitls_ktls_reason_string(kitls_ktls_reason(p.a.k, KITLS_DIR_TX)),
          kitls_ktls_reason_string(kitls_ktls_reason(p.a.k, KITLS_DIR_RX)));
    size_t got = 0;
    for (long i = 0; got < sizeof(d) && i < 1000000; i++) {
        ssize_t n = kitls_ktls_recv(p.a.k, buf + got, sizeof(d) - got);
        CHECK(n > 0 || n == -EAGAIN, "recv: %s", kitls_strerror((int)n));
        if (n > 0)
            got += (size_t)n;
    }
    CHECK(got == sizeof(d) && !memcmp(buf, d, sizeof(d)), "the data behind the KeyUpdate");
    /* b took our answer (its RX key changed) before the kernel's records. */
    CHECK((r = transfer(&p.a, &p.b, 64 << 10, 10, NULL)) == 0, "a->b: %s", kitls_strerror(r));
    CHECK((r = transfer(&p.b, &p.a, 64 << 10, 11, NULL)) == 0, "b->a: %s", kitls_strerror(r));
    pair_free(&p);
    return 0;
}
static int ku_in_flight_client(uint16_t s)
{
    return ku_in_flight(s, 0);
}
static int ku_in_flight_server(uint16_t s)
{
    return ku_in_flight(s, 1);
}

static int data_both(uint16_t s)
{
    return t_data(s, KITLS_KTLS_BOTH);
}
static int data_tx(uint16_t s)
{
    return t_data(s, KITLS_KTLS_TX);
}
static int data_rx(uint16_t s)
{
    return t_data(s, KITLS_KTLS_RX);
}

int main(void)
{
    const char *e = getenv("KITLS_EXPECT_REKEY");
    if (e)
        expect_rekey = atoi(e);
    int probe = kitls_ktls_probe_rekey(NULL);
    if (probe < 0) {
        printf("kTLS not available here (%s): skipped\n", kitls_strerror(probe));
        return 77;
    }
    rekey_ok = probe;
    printf("kernel rekey support (probed): %d\n", probe);
    ku_make_cert();
    long tx0 = tls_stat("TlsTxSw"), rx0 = tls_stat("TlsRxSw");
    long rk0 = tls_stat("TlsRxRekeyOk"), tk0 = tls_stat("TlsTxRekeyOk");
    if (expect_rekey >= 0) {
        printf("%s probe matches the kernel (expected %d)\n",
               probe == expect_rekey ? "ok  " : "FAIL", expect_rekey);
        if (probe == expect_rekey)
            passed++;
        else
            failed++;
    }
    static const uint16_t suites[3] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                       KITLS_CHACHA20_POLY1305_SHA256};
    for (int i = 0; i < 3; i++) {
        run("data+ticket+close (TX+RX offloaded)", data_both, suites[i]);
        run("key update", t_key_update, suites[i]);
        run("rekey policy require", t_require, suites[i]);
        run("sendfile", t_sendfile, suites[i]);
    }
    run("sendfile, userspace fallback (same VM, for comparison)", t_sendfile_user, suites[0]);
    run("data (TX only)", data_tx, suites[0]);
    run("data (RX only)", data_rx, suites[2]);
    run("KeyUpdate(request)+data read with the handshake, offloaded client", ku_in_flight_client,
        suites[0]);
    run("KeyUpdate(request)+data read with the handshake, offloaded server", ku_in_flight_server,
        suites[1]);
    long tx1 = tls_stat("TlsTxSw"), rx1 = tls_stat("TlsRxSw");
    long rk1 = tls_stat("TlsRxRekeyOk"), tk1 = tls_stat("TlsTxRekeyOk");
    printf("tls_stat: TlsTxSw %ld -> %ld, TlsRxSw %ld -> %ld, TlsTxRekeyOk %ld -> %ld, "
           "TlsRxRekeyOk %ld -> %ld\n",
           tx0, tx1, rx0, rx1, tk0, tk1, rk0, rk1);
    int stat_ok =
        tx1 - tx0 >= 10 && rx1 - rx0 >= 10 && (!rekey_ok || (tk1 - tk0 >= 6 && rk1 - rk0 >= 6));
    printf("%s tls_stat counters show the kernel path\n", stat_ok ? "ok  " : "FAIL");
    stat_ok ? passed++ : failed++;
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
