/*
 * kTLS offload: system call table, the suite -> crypto_info mapping, the
 * rekey probe and kitls_ktls_enable() (the point of no return).
 *
 * Kernel facts this file relies on (Documentation/networking/tls.rst,
 * tools/testing/selftests/net/tls.c):
 *  - TCP_ULP "tls" only on an established TCP socket; ENOENT when the
 *    tls module is missing.
 *  - TLS 1.3 nonce = (salt || iv) XOR seq: for AES-GCM the core's 12-byte
 *    static IV splits into salt = iv[0..4] and iv = iv[4..12]; ChaCha20
 *    has no salt and takes all 12 bytes as iv.  rec_seq is big-endian.
 *  - A second TLS_TX/TLS_RX (rekey) works since 6.14; before, EBUSY.
 */
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "ktls_int.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

/* ------------------------------------------------------------------ */
/* Real system calls                                                   */
/* ------------------------------------------------------------------ */

static int sys_setsockopt(void *ctx, int fd, int level, int name, const void *val, socklen_t len)
{
    (void)ctx;
    return setsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
}

static int sys_getsockopt(void *ctx, int fd, int level, int name, void *val, socklen_t *len)
{
    (void)ctx;
    return getsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
}

static ssize_t sys_sendmsg(void *ctx, int fd, const struct msghdr *msg, int flags)
{
    (void)ctx;
    ssize_t r = sendmsg(fd, msg, flags);
    return r < 0 ? -errno : r;
}

static ssize_t sys_recvmsg(void *ctx, int fd, struct msghdr *msg, int flags)
{
    (void)ctx;
    ssize_t r = recvmsg(fd, msg, flags);
    return r < 0 ? -errno : r;
}

static ssize_t sys_sendfile(void *ctx, int out_fd, int in_fd, off_t *offset, size_t count)
{
    (void)ctx;
    ssize_t r = sendfile(out_fd, in_fd, offset, count);
    return r < 0 ? -errno : r;
}

static const struct kitls_ktls_ops default_ops = {
    sys_setsockopt, sys_getsockopt, sys_sendmsg, sys_recvmsg, sys_sendfile, NULL,
};

const struct kitls_ktls_ops *kitls_ktls_default_ops(void)
{
    return &default_ops;
}

/* ------------------------------------------------------------------ */
/* Suites                                                              */
/* ------------------------------------------------------------------ */

#define ROW(ID, TYPE, S, K, SALT, IV)                                                              \
    {                                                                                              \
        ID, TYPE, sizeof(struct S), offsetof(struct S, iv), offsetof(struct S, key),               \
            offsetof(struct S, salt), offsetof(struct S, rec_seq), K, SALT, IV                     \
    }

static const struct ktls_cipher ciphers[] = {
    ROW(KITLS_AES_128_GCM_SHA256, TLS_CIPHER_AES_GCM_128, tls12_crypto_info_aes_gcm_128, 16, 4, 8),
    ROW(KITLS_AES_256_GCM_SHA384, TLS_CIPHER_AES_GCM_256, tls12_crypto_info_aes_gcm_256, 32, 4, 8),
    ROW(KITLS_CHACHA20_POLY1305_SHA256, TLS_CIPHER_CHACHA20_POLY1305,
        tls12_crypto_info_chacha20_poly1305, 32, 0, 12),
};

const struct ktls_cipher *ktls_cipher_find(uint16_t suite)
{
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
        if (ciphers[i].suite == suite)
            return &ciphers[i];
    return NULL;
}

size_t ktls_info_fill(uint8_t *info, const struct kitls_traffic_keys *keys)
{
    const struct ktls_cipher *ci = ktls_cipher_find(keys->suite);
    if (!ci || keys->key_len != ci->key_len || keys->iv_len != ci->salt_len + ci->iv_len)
        return 0;
    memset(info, 0, ci->info_len);
    struct tls_crypto_info hdr = {TLS_1_3_VERSION, ci->cipher_type};
    memcpy(info, &hdr, sizeof(hdr));
    memcpy(info + ci->salt_off, keys->iv, ci->salt_len);
    memcpy(info + ci->iv_off, keys->iv + ci->salt_len, ci->iv_len);
    memcpy(info + ci->key_off, keys->key, ci->key_len);
    for (int i = 0; i < 8; i++)
        info[ci->seq_off + i] = (uint8_t)(keys->seq >> (56 - 8 * i));
    return ci->info_len;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static const char *const reasons[] = {
    [KITLS_KTLS_R_OFFLOADED] = "offloaded to the kernel",
    [KITLS_KTLS_R_NOT_ENABLED] = "offload not attempted yet",
    [KITLS_KTLS_R_NOT_REQUESTED] = "direction not requested",
    [KITLS_KTLS_R_NO_MODULE] = "kernel has no TLS module (TCP_ULP tls: ENOENT)",
    [KITLS_KTLS_R_NO_ULP] = "socket cannot take the TLS ULP (ENOPROTOOPT)",
    [KITLS_KTLS_R_ULP_FAILED] = "setting TCP_ULP tls failed",
    [KITLS_KTLS_R_CIPHER] = "kernel refused the cipher suite",
    [KITLS_KTLS_R_NO_REKEY] = "kernel cannot rekey TLS 1.3 and the policy requires it",
    [KITLS_KTLS_R_DISABLED] = "kTLS switched off (kitls_ktls_set_enabled / KITLS_KTLS=off)",
};

const char *kitls_ktls_reason_string(int reason)
{
    if (reason < 0 || (size_t)reason >= sizeof(reasons) / sizeof(reasons[0]))
        return "unknown";
    return reasons[reason];
}

int ktls_sys(kitls_ktls *k, long r)
{
    int e = (int)-r;
    k->last_errno = e;
    return -e;
}

int ktls_fail(kitls_ktls *k, int err)
{
    if (!k->err && err != -EAGAIN)
        k->err = err;
    return err;
}

int ktls_obj(kitls_ktls *k)
{
    return k->o ? 0 : kitls_offload_get(k->c, &k->o);
}

/* ------------------------------------------------------------------ */
/* Rekey probe                                                         */
/* ------------------------------------------------------------------ */

static int probe_pair(int fds[3])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    fds[2] = -1;
    if (fds[0] < 0 || fds[1] < 0 || bind(fds[0], (struct sockaddr *)&a, sizeof(a)) ||
        listen(fds[0], 1) || getsockname(fds[0], (struct sockaddr *)&a, &al) ||
        connect(fds[1], (struct sockaddr *)&a, sizeof(a)))
        return -errno;
    fds[2] = accept(fds[0], NULL, NULL);
    return fds[2] < 0 ? -errno : 0;
}

static int cached_probe = 2; /* 2: not probed yet */

int kitls_ktls_probe_rekey(const struct kitls_ktls_ops *ops)
{
    int real = !ops || ops == &default_ops;
    if (!kitls_ktls_enabled())
        return -ECANCELED; /* the kill switch: no system call, nothing cached */
    int cached = __atomic_load_n(&cached_probe, __ATOMIC_RELAXED);
    if (real && cached != 2)
        return cached;
    if (!ops)
        ops = &default_ops;
    int fds[3], ret = probe_pair(fds);
    if (ret)
        goto out; /* -errno */
    ret = ops->setsockopt(ops->ctx, fds[1], IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
    if (ret)
        goto out; /* -errno */
    /* Dummy keys: nothing is ever sent on this connection. */
    struct kitls_traffic_keys keys = {
        .suite = KITLS_AES_128_GCM_SHA256, .key_len = 16, .iv_len = 12};
    uint8_t info[64];
    size_t len = ktls_info_fill(info, &keys);
    ret = ops->setsockopt(ops->ctx, fds[1], SOL_TLS, TLS_TX, info, (socklen_t)len);
    if (ret)
        goto out; /* -errno */
    keys.key[0] = 1;
    len = ktls_info_fill(info, &keys);
    ret = ops->setsockopt(ops->ctx, fds[1], SOL_TLS, TLS_TX, info, (socklen_t)len) == 0;
out:
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (real) /* racing probes store the same answer */
        __atomic_store_n(&cached_probe, ret, __ATOMIC_RELAXED);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Object                                                              */
/* ------------------------------------------------------------------ */

int kitls_ktls_new(kitls_ktls **out, kitls_conn *c, int fd, const struct kitls_ktls_ops *ops)
{
    if (!out || !c || fd < 0)
        return KITLS_E_INVALID_ARG;
    kitls_ktls *k = kitls_calloc(1, sizeof(*k));
    if (!k)
        return KITLS_E_NOMEM;
    k->c = c;
    k->fd = fd;
    k->ops = ops ? *ops : default_ops;
    k->real_ops = !ops || ops == &default_ops;
    k->mode = KITLS_KTLS_BOTH;
    k->rekey_ok = -1;
    k->tx = &ktls_tx_user; /* the core protects both directions until enable */
    k->rx = &ktls_rx_user;
    k->reason[0] = k->reason[1] = KITLS_KTLS_R_NOT_ENABLED;
    *out = k;
    return 0;
}

void kitls_ktls_free(kitls_ktls *k)
{
    if (!k)
        return;
    if (k->pend) {
        explicit_bzero(k->pend, k->pend_len);
        kitls_free(k->pend);
    }
    ktls_rbuf_release(k);
    ktls_io_free(k);
    explicit_bzero(k, sizeof(*k));
    kitls_free(k);
}

int kitls_ktls_set_mode(kitls_ktls *k, unsigned mode)
{
    if (!k || !mode || (mode & ~KITLS_KTLS_BOTH))
        return KITLS_E_INVALID_ARG;
    if (k->enabled)
        return KITLS_E_STATE;
    k->mode = mode;
    return 0;
}

int kitls_ktls_set_rekey_policy(kitls_ktls *k, enum kitls_ktls_rekey_policy p)
{
    if (!k || (p != KITLS_KTLS_REKEY_REQUIRE && p != KITLS_KTLS_REKEY_CLOSE))
        return KITLS_E_INVALID_ARG;
    if (k->enabled)
        return KITLS_E_STATE;
    k->policy = p;
    return 0;
}

int kitls_ktls_set_rekey_support(kitls_ktls *k, int supported)
{
    if (!k || supported < -1 || supported > 1)
        return KITLS_E_INVALID_ARG;
    if (k->enabled)
        return KITLS_E_STATE;
    k->rekey_ok = supported;
    return 0;
}

int kitls_ktls_set_key_update_limit(kitls_ktls *k, uint64_t records)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    k->limit = records;
    return 0;
}

int kitls_ktls_is_offloaded(const kitls_ktls *k, enum kitls_dir dir)
{
    return dir == KITLS_DIR_TX ? k->tx == &ktls_tx_kernel : k->rx == &ktls_rx_kernel;
}
int kitls_ktls_reason(const kitls_ktls *k, enum kitls_dir dir)
{
    return k->reason[dir != 0];
}
int kitls_ktls_errno(const kitls_ktls *k)
{
    return k->last_errno;
}
int kitls_ktls_rekey_support(const kitls_ktls *k)
{
    return k->rekey_ok;
}
uint64_t kitls_ktls_tx_records(const kitls_ktls *k)
{
    return k->tx_records;
}

void kitls_ktls_rekeys(const kitls_ktls *k, unsigned *tx, unsigned *rx)
{
    if (tx)
        *tx = k->rekeys[0];
    if (rx)
        *rx = k->rekeys[1];
}

/* ------------------------------------------------------------------ */
/* Installing keys                                                     */
/* ------------------------------------------------------------------ */

int ktls_install(kitls_ktls *k, enum kitls_dir dir)
{
    struct kitls_traffic_keys keys;
    uint8_t info[64];
    int ret = kitls_offload_export_keys(k->o, dir, &keys);
    if (ret)
        return ret;
    size_t len = ktls_info_fill(info, &keys);
    if (!len) {
        ret = KITLS_E_INTERNAL;
        goto out;
    }
    ret = k->ops.setsockopt(k->ops.ctx, k->fd, SOL_TLS, dir == KITLS_DIR_TX ? TLS_TX : TLS_RX, info,
                            (socklen_t)len);
    if (ret)
        ret = ktls_sys(k, ret);
    else if (dir == KITLS_DIR_TX)
        k->tx_records = keys.seq;
    else
        k->rx_next = keys.seq; /* see ktls_rx_progress() */
out:
    explicit_bzero(&keys, sizeof(keys));
    explicit_bzero(info, sizeof(info));
    return ret;
}

int ktls_seq(kitls_ktls *k, enum kitls_dir dir, uint64_t *seq)
{
    uint8_t info[64];
    socklen_t len = (socklen_t)k->cipher->info_len;
    int ret = k->ops.getsockopt(k->ops.ctx, k->fd, SOL_TLS, dir == KITLS_DIR_TX ? TLS_TX : TLS_RX,
                                info, &len);
    if (ret)
        return ktls_sys(k, ret);
    if (len < k->cipher->info_len)
        return KITLS_E_INTERNAL;
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s = s << 8 | info[k->cipher->seq_off + i];
    explicit_bzero(info, sizeof(info));
    *seq = s;
    return 0;
}

uint8_t *ktls_rbuf(kitls_ktls *k)
{
    if (!k->rbuf)
        k->rbuf = kitls_malloc(KTLS_RBUF_LEN);
    return k->rbuf;
}

void ktls_rbuf_release(kitls_ktls *k)
{
    if (k->rbuf) {
        explicit_bzero(k->rbuf, KTLS_RBUF_LEN);
        kitls_free(k->rbuf);
        k->rbuf = NULL;
    }
}

/* Keep the plaintext the core decrypted before RX moves to the kernel. */
int ktls_pend_add(kitls_ktls *k, const uint8_t *p, size_t n)
{
    uint8_t *nb = kitls_realloc(k->pend, k->pend_len + n);
    if (!nb)
        return KITLS_E_NOMEM;
    memcpy(nb + k->pend_len, p, n);
    k->pend = nb;
    k->pend_len += n;
    return 0;
}

/*
 * Before RX offload the core must hold no received bytes: process the
 * complete records it buffered, and complete a partial one from the
 * socket, reading exactly the bytes it lacks (kitls_conn_in_needed(); a
 * new record's header first): reading more could take bytes of the next
 * record, which belong to the kernel.
 */
static int drain_core(kitls_ktls *k)
{
    struct kitls_traffic_keys keys;
    for (;;) {
        int ret = kitls_offload_export_keys(k->o, KITLS_DIR_RX, &keys);
        explicit_bzero(&keys, sizeof(keys));
        if (!ret)
            return 0;
        if (ret != KITLS_E_STATE)
            return ret;
        if (!ktls_rbuf(k))
            return KITLS_E_NOMEM;
        ret = kitls_conn_read(k->c, k->rbuf, KTLS_RBUF_LEN);
        if (ret > 0) {
            if ((ret = ktls_pend_add(k, k->rbuf, (size_t)ret)))
                return ret;
            continue;
        }
        if (ret == KITLS_E_CLOSED) {
            k->peer_closed = 1;
            return KITLS_E_CLOSED;
        }
        if (ret != KITLS_E_WANT_READ)
            return ret;
        ret = kitls_offload_export_keys(k->o, KITLS_DIR_RX, &keys);
        explicit_bzero(&keys, sizeof(keys));
        if (ret != KITLS_E_STATE)
            return ret;
        size_t want = kitls_conn_in_needed(k->c);
        if (!want)
            want = 5; /* the next record's header (a message spans records) */
        if (want > KTLS_RBUF_LEN)
            want = KTLS_RBUF_LEN;
        struct iovec iov = {k->rbuf, want};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t r = k->ops.recvmsg(k->ops.ctx, k->fd, &m, 0);
        if (r < 0)
            return ktls_sys(k, r);
        if (r == 0) {
            kitls_conn_set_eof(k->c);
            continue;
        }
        if ((ret = kitls_conn_feed(k->c, k->rbuf, (size_t)r)))
            return ret;
    }
}

/*
 * kitls_stats (kitls_conn_stats_add): once per enable, each requested
 * direction is either offloaded or a fallback, by reason; ret passes
 * through.  A direction still NOT_ENABLED failed in to_kernel (error).
 */
int ktls_counted(kitls_ktls *k, int ret)
{
    for (int d = 0; d < 2; d++) {
        int r = k->reason[d], why = KITLS_STATS_KTLS_ERROR;
        if (r == KITLS_KTLS_R_NOT_REQUESTED)
            continue;
        if (r == KITLS_KTLS_R_OFFLOADED) {
            (void)kitls_conn_stats_add(k->c, KITLS_STATS_EV_KTLS_OFFLOAD, (unsigned)d, 1);
            continue;
        }
        if (r == KITLS_KTLS_R_NO_MODULE)
            why = KITLS_STATS_KTLS_NO_MODULE;
        else if (r == KITLS_KTLS_R_CIPHER)
            why = KITLS_STATS_KTLS_CIPHER;
        else if (r == KITLS_KTLS_R_NO_REKEY)
            why = KITLS_STATS_KTLS_REKEY_UNSUPPORTED;
        else if (r == KITLS_KTLS_R_DISABLED)
            why = KITLS_STATS_KTLS_DISABLED;
        (void)kitls_conn_stats_add(k->c, KITLS_STATS_EV_KTLS_FALLBACK, (unsigned)why, 1);
    }
    return ret;
}

void ktls_rekeyed(kitls_ktls *k, enum kitls_dir dir)
{
    k->rekeys[dir]++;
    (void)kitls_conn_stats_add(k->c, KITLS_STATS_EV_KTLS_REKEY, 0, 1);
}

ssize_t ktls_bytes(kitls_ktls *k, int side, ssize_t n)
{
    if (n > 0)
        (void)kitls_conn_stats_add(k->c, KITLS_STATS_EV_BYTES, (unsigned)side, (uint64_t)n);
    return n;
}

static int reason_for_ulp(int e)
{
    if (e == ENOENT)
        return KITLS_KTLS_R_NO_MODULE;
    if (e == ENOPROTOOPT || e == EOPNOTSUPP || e == ENOTSOCK)
        return KITLS_KTLS_R_NO_ULP;
    return KITLS_KTLS_R_ULP_FAILED;
}

/*
 * A failure once TLS_TX is in the kernel but the core still seals (its TX
 * was not offloaded): the kernel seals its next record with the key and
 * sequence number the core holds, so whatever the core sealed or would
 * seal under them must never reach the socket -- the same nonce twice
 * under one key (RFC 8446 §5.3) breaks AES-GCM and ChaCha20-Poly1305.
 * The core fails (kitls_offload_send_alert: it never seals again) and its
 * output is dropped, the internal_error alert it just sealed in memory
 * included: nothing of it can be sent through the socket (uring_conn_fail
 * sends what the core holds when TX is not offloaded).
 */
static int fail_after_tx(kitls_ktls *k, int err)
{
    const uint8_t *p;
    int ignored = kitls_offload_send_alert(k->o, 80 /* internal_error */);
    (void)ignored; /* only invalid arguments fail */
    size_t n = kitls_conn_out_peek(k->c, &p);
    if (n)
        kitls_conn_out_consume(k->c, n);
    return ktls_fail(k, err);
}

/*
 * Each requested direction into the kernel: its keys (TLS_TX / TLS_RX),
 * then the core hands it over (kitls_offload_start) and the direction
 * moves to its kernel row.  A refusal before the point of no return
 * leaves the direction in userspace.
 */
static int to_kernel(kitls_ktls *k)
{
    int tx_in = 0; /* TLS_TX holds the core's TX key and sequence number */
    for (int d = 0; d < 2; d++) {
        if (!(k->mode & (1u << d)))
            continue;
        int ret = ktls_install(k, (enum kitls_dir)d);
        if (KITLS_ERR_IS_ERRNO(ret)) {
            /* Refused before the point of no return: stay in userspace. */
            k->reason[d] = KITLS_KTLS_R_CIPHER;
            continue;
        }
        if (ret)
            return tx_in ? fail_after_tx(k, ret) : ktls_fail(k, ret);
        tx_in |= d == KITLS_DIR_TX;
        /* Point of no return for this direction. */
        ret = kitls_offload_start(k->o, (enum kitls_dir)d);
        if (ret)
            return tx_in ? fail_after_tx(k, KITLS_KTLS_E_INSTALL)
                         : ktls_fail(k, KITLS_KTLS_E_INSTALL);
        if (d == KITLS_DIR_TX) /* the one place a direction changes row */
            k->tx = &ktls_tx_kernel;
        else
            k->rx = &ktls_rx_kernel;
        k->reason[d] = KITLS_KTLS_R_OFFLOADED;
    }
    return 0;
}

int kitls_ktls_enable(kitls_ktls *k)
{
    if (!k)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    int ret = ktls_obj(k); /* KITLS_E_STATE before the handshake's end */
    if (ret)
        return ret;
    if (k->enabled)
        return 0;
    /* Everything the core sealed itself goes out first. */
    if ((ret = kitls_ktls_flush(k)))
        return ret;
    k->cipher = ktls_cipher_find(kitls_conn_suite(k->c));
    for (int d = 0; d < 2; d++)
        k->reason[d] =
            (k->mode & (1u << d)) ? KITLS_KTLS_R_NOT_ENABLED : KITLS_KTLS_R_NOT_REQUESTED;
    if (k->mode & KITLS_KTLS_RX) {
        ret = drain_core(k);
        if (ret == KITLS_E_CLOSED) {
            /* Nothing left to receive: RX stays with the core. */
            k->mode &= ~KITLS_KTLS_RX;
            k->reason[1] = KITLS_KTLS_R_NOT_REQUESTED;
        } else if (ret) {
            return ret == -EAGAIN ? ret : ktls_fail(k, ret);
        }
    }
    /* The drain may have made the core answer: a KeyUpdate with
     * update_requested in the same flight as the peer's Finished or its
     * first data (RFC 8446 §4.6.3) queues our KeyUpdate, sealed under the
     * key it replaces, and moves the core's TX to the next key.  It must
     * leave before TLS_TX is installed with that next key. */
    if ((ret = kitls_ktls_flush(k)))
        return ret;
    ktls_rbuf_release(k);
    k->enabled = 1;
    if (!k->mode || !k->cipher) {
        for (int d = 0; d < 2; d++)
            if (k->reason[d] == KITLS_KTLS_R_NOT_ENABLED)
                k->reason[d] = KITLS_KTLS_R_CIPHER;
        return ktls_counted(k, 0);
    }
    /* The kill switch declines before any system call (docs/ktls.md). */
    if (!kitls_ktls_enabled()) {
        for (int d = 0; d < 2; d++)
            if (k->reason[d] == KITLS_KTLS_R_NOT_ENABLED)
                k->reason[d] = KITLS_KTLS_R_DISABLED;
        return ktls_counted(k, 0);
    }
    ret = k->ops.setsockopt(k->ops.ctx, k->fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
    if (ret && ret != -EEXIST) {
        k->last_errno = -ret;
        for (int d = 0; d < 2; d++)
            if (k->reason[d] == KITLS_KTLS_R_NOT_ENABLED)
                k->reason[d] = reason_for_ulp(-ret);
        return ktls_counted(k, 0);
    }
    if (k->rekey_ok < 0) {
        /* The real kernel's answer is probed once per process. */
        int p = kitls_ktls_probe_rekey(k->real_ops ? NULL : &k->ops);
        k->rekey_ok = p > 0;
    }
    if (!k->rekey_ok && k->policy == KITLS_KTLS_REKEY_REQUIRE) {
        for (int d = 0; d < 2; d++)
            if (k->reason[d] == KITLS_KTLS_R_NOT_ENABLED)
                k->reason[d] = KITLS_KTLS_R_NO_REKEY;
        return ktls_counted(k, 0);
    }
    return ktls_counted(k, to_kernel(k));
}
