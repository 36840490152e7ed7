/*
 * Userspace heap per offloaded connection (docs/performance.md).  Run
 * inside the kTLS VM (tests/ktls/vm-interop.sh) or on any host whose
 * kernel has the tls module.
 *
 * N loopback TCP pairs: side A (the server, as in kitls-server --ktls
 * both) offloads both directions and calls kitls_conn_release_buffers();
 * side B (a userspace client) is freed once A is offloaded.  The heap in
 * use (glibc mallinfo2: uordblks + hblkhd, i.e. chunk sizes with their
 * headers; tcache disabled so freed chunks are not counted) is read
 * before and after; the configs and a warm-up pair come first so
 * OpenSSL's lazy caches are not charged to the connections.  The same is
 * measured for connections left in userspace (buffers released too), for
 * comparison.  Kernel memory (the socket's TLS context) is not counted.
 *
 * Prints "heap per connection: ..." lines; exit 77 without kTLS, 1 when
 * the offloaded figure is above its 2048-byte target.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kitls/kitls.h"
#include "kitls/ktls.h"
#include "kernel_util.h"

#define N 32

static size_t heap(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

struct held {
    kitls_conn *c;
    kitls_ktls *k;
    int fd[2];
};

/* One pair: A (server) offloaded per mode (0: userspace), B freed. */
static int one(kitls_config *scfg, kitls_config *ccfg, unsigned mode, struct held *h)
{
    if (ku_tcp_pair(h->fd))
        return -1;
    kitls_conn *b = kitls_conn_new(ccfg);
    kitls_ktls *bk;
    h->c = kitls_conn_new(scfg);
    if (!b || !h->c || kitls_ktls_new(&h->k, h->c, h->fd[1], NULL) ||
        kitls_ktls_new(&bk, b, h->fd[0], NULL) || kitls_ktls_set_mode(h->k, mode ? mode : 1) ||
        kitls_ktls_set_rekey_policy(h->k, KITLS_KTLS_REKEY_CLOSE))
        return -1;
    int ra = -EAGAIN, rb = -EAGAIN;
    for (int i = 0; i < 20000 && (ra || rb); i++) {
        if (ra)
            ra = kitls_ktls_handshake(h->k);
        if (rb)
            rb = kitls_ktls_handshake(bk);
        if ((ra && ra != -EAGAIN) || (rb && rb != -EAGAIN))
            return -1;
        struct pollfd pf[2] = {{h->fd[0], POLLIN, 0}, {h->fd[1], POLLIN, 0}};
        if (ra || rb)
            poll(pf, 2, 1);
    }
    if (ra || rb)
        return -1;
    if (mode) {
        if (kitls_ktls_enable(h->k) || !kitls_ktls_is_offloaded(h->k, KITLS_DIR_TX) ||
            !kitls_ktls_is_offloaded(h->k, KITLS_DIR_RX))
            return -2;
    } else {
        kitls_ktls_free(h->k);
        h->k = NULL;
    }
    kitls_conn_release_buffers(h->c);
    kitls_ktls_free(bk);
    kitls_conn_free(b);
    return 0;
}

static long measure(kitls_config *scfg, kitls_config *ccfg, unsigned mode)
{
    static struct held h[N];
    size_t m0 = heap();
    for (int i = 0; i < N; i++) {
        int r = one(scfg, ccfg, mode, &h[i]);
        if (r)
            return r == -2 ? -2 : -1;
    }
    size_t m1 = heap();
    for (int i = 0; i < N; i++) {
        kitls_ktls_free(h[i].k);
        kitls_conn_free(h[i].c);
        close(h[i].fd[0]);
        close(h[i].fd[1]);
    }
    return (long)((m1 - m0) / N);
}

int main(int argc, char **argv)
{
    (void)argc;
    /* Freed chunks kept in the tcache would count as in use. */
    if (!getenv("GLIBC_TUNABLES")) {
        setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
        execv("/proc/self/exe", argv);
    }
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    ku_make_cert();
    uint16_t suite = KITLS_AES_128_GCM_SHA256;
    kitls_config *scfg = kitls_config_new(KITLS_ROLE_SERVER);
    kitls_config *ccfg = kitls_config_new(KITLS_ROLE_CLIENT);
    if (!scfg || !ccfg || kitls_config_set_suites(scfg, &suite, 1) ||
        kitls_config_set_suites(ccfg, &suite, 1) ||
        kitls_config_set_verify(ccfg, KITLS_VERIFY_NONE) ||
        kitls_config_add_cert_pem(scfg, ku_cert_pem, ku_cert_len, ku_key_pem, ku_key_len))
        return 1;
    struct held w;
    int r = one(scfg, ccfg, KITLS_KTLS_BOTH, &w); /* warm-up */
    if (r == -2) {
        printf("ktls_heap: SKIP: no kTLS in this kernel\n");
        return 77;
    }
    if (r)
        return 1;
    long off = measure(scfg, ccfg, KITLS_KTLS_BOTH);
    long user = measure(scfg, ccfg, 0);
    if (off < 0 || user < 0)
        return 1;
    printf("heap per connection: offloaded (tx+rx, buffers released) %ld bytes; "
           "userspace (buffers released) %ld bytes; kitls_ktls object included; "
           "%d connections, glibc chunk sizes\n",
           off, user, N);
    printf("heap per offloaded connection: %ld bytes (target 2048): %s\n", off,
           off <= 2048 ? "met" : "missed");
    kitls_ktls_free(w.k);
    kitls_conn_free(w.c);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
    return off <= 2048 ? 0 : 1; /* the target is a gate (issue #5) */
}
