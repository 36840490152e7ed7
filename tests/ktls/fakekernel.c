/*
 * Fake kernel for tests/ktls (see fakekernel.h).  Record protection here
 * follows RFC 8446 §5.2-5.3 directly: nonce = (salt || iv) XOR seq,
 * additional data = the 5-byte header, inner plaintext = content || type.
 */
#include "fakekernel.h"

#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static void buf_add(struct fk_buf *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_compact(struct fk_buf *b)
{
    if (b->off == b->len)
        b->off = b->len = 0;
}

static const EVP_CIPHER *evp_for(uint16_t cipher)
{
    switch (cipher) {
    case TLS_CIPHER_AES_GCM_128: return EVP_aes_128_gcm();
    case TLS_CIPHER_AES_GCM_256: return EVP_aes_256_gcm();
    case TLS_CIPHER_CHACHA20_POLY1305: return EVP_chacha20_poly1305();
    }
    return NULL;
}

static void nonce_for(const struct fk_dir *d, uint8_t nonce[12])
{
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] ^= (uint8_t)(d->seq >> (56 - 8 * i));
}

/* Seal one record (n <= 16384) onto fk->out. */
static void seal(struct fk *fk, int type, const uint8_t *p, size_t n)
{
    struct fk_dir *d = &fk->tx;
    uint8_t hdr[5] = {23, 3, 3, (uint8_t)((n + 17) >> 8), (uint8_t)(n + 17)};
    uint8_t *in = malloc(n + 1), *ct = malloc(n + 17), nonce[12];
    memcpy(in, p, n);
    in[n] = (uint8_t)type;
    nonce_for(d, nonce);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    EVP_EncryptInit_ex(x, evp_for(d->cipher), NULL, NULL, NULL);
    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL);
    EVP_EncryptInit_ex(x, NULL, NULL, d->key, nonce);
    EVP_EncryptUpdate(x, NULL, &l1, hdr, 5);
    EVP_EncryptUpdate(x, ct, &l1, in, (int)n + 1);
    EVP_EncryptFinal_ex(x, ct + l1, &l2);
    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, ct + n + 1);
    EVP_CIPHER_CTX_free(x);
    buf_add(&fk->out, hdr, 5);
    buf_add(&fk->out, ct, n + 17);
    free(in);
    free(ct);
    d->seq++;
    fk->records_out++;
}

/* Open the next complete record from fk->in into fk->rec.  0, -EAGAIN
 * (incomplete), -EBADMSG. */
static int open_next(struct fk *fk)
{
    struct fk_buf *b = &fk->in;
    if (b->len - b->off < 5)
        return -EAGAIN;
    const uint8_t *h = b->p + b->off;
    size_t n = (size_t)h[3] << 8 | h[4];
    if (b->len - b->off < 5 + n)
        return -EAGAIN;
    if (h[0] != 23 || n < 17 || n > 16384 + 256) {
        fk->decrypt_err++;
        return -EBADMSG;
    }
    struct fk_dir *d = &fk->rx;
    uint8_t nonce[12];
    nonce_for(d, nonce);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0, ok;
    EVP_DecryptInit_ex(x, evp_for(d->cipher), NULL, NULL, NULL);
    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL);
    EVP_DecryptInit_ex(x, NULL, NULL, d->key, nonce);
    EVP_DecryptUpdate(x, NULL, &l1, h, 5);
    EVP_DecryptUpdate(x, fk->rec, &l1, h + 5, (int)n - 16);
    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(h + 5 + n - 16));
    ok = EVP_DecryptFinal_ex(x, fk->rec + l1, &l2) == 1;
    EVP_CIPHER_CTX_free(x);
    if (!ok) {
        fk->decrypt_err++;
        return -EBADMSG;
    }
    size_t len = n - 16;
    while (len && !fk->rec[len - 1])
        len--;
    if (!len) {
        fk->decrypt_err++;
        return -EBADMSG;
    }
    fk->rec_type = fk->rec[--len];
    fk->rec_len = len;
    fk->rec_off = 0;
    b->off += 5 + n;
    buf_compact(b);
    d->seq++;
    fk->records_in++;
    return 0;
}

static int fk_setsockopt(void *ctx, int fd, int level, int name, const void *val, socklen_t len)
{
    struct fk *fk = ctx;
    if (fd != FK_FD) {
        /* The rekey probe's own loopback socket: same rules, no data. */
        struct fk probe = {.no_module = fk->no_module,
                           .rekey = fk->rekey,
                           .ulp = fk->probe_ulp,
                           .tx = {.on = fk->probe_tx, .cipher = fk->probe_cipher}};
        int r = fk_setsockopt(&probe, FK_FD, level, name, val, len);
        fk->probe_ulp = probe.ulp;
        fk->probe_tx = probe.tx.on;
        fk->probe_cipher = probe.tx.cipher;
        return r;
    }
    if (level == IPPROTO_TCP && name == TCP_ULP) {
        if (fk->no_module)
            return -ENOENT;
        if (len < 3 || memcmp(val, "tls", 3))
            return -ENOENT;
        if (fk->ulp)
            return -EEXIST;
        fk->ulp = 1;
        return 0;
    }
    if (level != SOL_TLS)
        return -ENOPROTOOPT;
    if (!fk->ulp)
        return -ENOPROTOOPT;
    if (fk->fail_setsockopt) {
        int e = fk->fail_setsockopt;
        fk->fail_setsockopt = 0;
        return -e;
    }
    if (name != TLS_TX && name != TLS_RX)
        return -ENOPROTOOPT;
    const struct tls_crypto_info *ci = val;
    if (len < sizeof(*ci) || ci->version != TLS_1_3_VERSION)
        return -EINVAL;
    struct fk_dir nd = {.on = 1, .cipher = ci->cipher_type};
    const uint8_t *seq;
    switch (ci->cipher_type) {
    case TLS_CIPHER_AES_GCM_128: {
        const struct tls12_crypto_info_aes_gcm_128 *a = val;
        if (len != sizeof(*a))
            return -EINVAL;
        memcpy(nd.iv, a->salt, 4);
        memcpy(nd.iv + 4, a->iv, 8);
        memcpy(nd.key, a->key, nd.key_len = 16);
        seq = a->rec_seq;
        break;
    }
    case TLS_CIPHER_AES_GCM_256: {
        const struct tls12_crypto_info_aes_gcm_256 *a = val;
        if (len != sizeof(*a))
            return -EINVAL;
        memcpy(nd.iv, a->salt, 4);
        memcpy(nd.iv + 4, a->iv, 8);
        memcpy(nd.key, a->key, nd.key_len = 32);
        seq = a->rec_seq;
        break;
    }
    case TLS_CIPHER_CHACHA20_POLY1305: {
        const struct tls12_crypto_info_chacha20_poly1305 *a = val;
        if (len != sizeof(*a) || fk->no_chacha)
            return -EINVAL;
        memcpy(nd.iv, a->iv, 12);
        memcpy(nd.key, a->key, nd.key_len = 32);
        seq = a->rec_seq;
        break;
    }
    default: return -EINVAL;
    }
    for (int i = 0; i < 8; i++)
        nd.seq = nd.seq << 8 | seq[i];
    struct fk_dir *d = name == TLS_TX ? &fk->tx : &fk->rx;
    if (d->on) {
        if (!fk->rekey)
            return -EBUSY;
        if (d->cipher != nd.cipher)
            return -EINVAL;
        *d = nd;
        if (name == TLS_TX) {
            fk->rekey_tx++;
        } else {
            fk->rekey_rx++;
            fk->rx_paused = 0;
        }
        return 0;
    }
    *d = nd;
    if (name == TLS_TX)
        fk->tx_sw++;
    else
        fk->rx_sw++;
    return 0;
}

static int fk_getsockopt(void *ctx, int fd, int level, int name, void *val, socklen_t *len)
{
    struct fk *fk = ctx;
    (void)fd;
    if (level != SOL_TLS || (name != TLS_TX && name != TLS_RX))
        return -ENOPROTOOPT;
    if (name == TLS_RX && fk->no_rx_getsockopt)
        return -ENOPROTOOPT;
    const struct fk_dir *d = name == TLS_TX ? &fk->tx : &fk->rx;
    if (!d->on)
        return -ENOPROTOOPT;
    /* Only the fields the layer reads: the version, cipher and rec_seq. */
    struct tls12_crypto_info_aes_gcm_256 big;
    memset(&big, 0, sizeof(big));
    size_t need;
    uint8_t *seq;
    switch (d->cipher) {
    case TLS_CIPHER_AES_GCM_128:
        need = sizeof(struct tls12_crypto_info_aes_gcm_128);
        seq = ((struct tls12_crypto_info_aes_gcm_128 *)(void *)&big)->rec_seq;
        break;
    case TLS_CIPHER_AES_GCM_256:
        need = sizeof(big);
        seq = big.rec_seq;
        break;
    default:
        need = sizeof(struct tls12_crypto_info_chacha20_poly1305);
        seq = ((struct tls12_crypto_info_chacha20_poly1305 *)(void *)&big)->rec_seq;
        break;
    }
    if (*len < need)
        return -EINVAL;
    big.info.version = TLS_1_3_VERSION;
    big.info.cipher_type = d->cipher;
    for (int i = 0; i < 8; i++)
        seq[i] = (uint8_t)(d->seq >> (56 - 8 * i));
    memcpy(val, &big, need);
    *len = (socklen_t)need;
    return 0;
}

/* Data (or a control record) going out: records of at most 16 KiB. */
static void emit(struct fk *fk, int type, const uint8_t *p, size_t n)
{
    if (!fk->tx.on) {
        buf_add(&fk->out, p, n);
        return;
    }
    do {
        size_t c = n < 16384 ? n : 16384;
        seal(fk, type, p, c);
        p += c;
        n -= c;
    } while (n);
}

static ssize_t fk_sendmsg(void *ctx, int fd, const struct msghdr *msg, int flags)
{
    struct fk *fk = ctx;
    (void)fd;
    (void)flags;
    if (fk->eagain_sends) {
        fk->eagain_sends--;
        return -EAGAIN;
    }
    if (fk->fail_sendmsg) {
        int e = fk->fail_sendmsg;
        fk->fail_sendmsg = 0;
        return -e;
    }
    int type = 23;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR((struct msghdr *)msg, cm))
        if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_SET_RECORD_TYPE) {
            if (!fk->tx.on)
                return -EINVAL;
            type = *CMSG_DATA(cm);
        }
    size_t total = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        total += msg->msg_iov[i].iov_len;
    if (fk->max_write && total > fk->max_write)
        total = fk->max_write;
    uint8_t *tmp = malloc(total + 1);
    size_t got = 0;
    for (size_t i = 0; i < msg->msg_iovlen && got < total; i++) {
        size_t c = msg->msg_iov[i].iov_len;
        if (c > total - got)
            c = total - got;
        memcpy(tmp + got, msg->msg_iov[i].iov_base, c);
        got += c;
    }
    emit(fk, type, tmp, total);
    free(tmp);
    return (ssize_t)total;
}

static ssize_t fk_recvmsg(void *ctx, int fd, struct msghdr *msg, int flags)
{
    struct fk *fk = ctx;
    (void)fd;
    (void)flags;
    if (fk->fail_recvmsg) {
        int e = fk->fail_recvmsg;
        fk->fail_recvmsg = 0;
        return -e;
    }
    uint8_t *dst = msg->msg_iov[0].iov_base;
    size_t cap = msg->msg_iov[0].iov_len;
    if (!fk->rx.on) {
        size_t n = fk->in.len - fk->in.off;
        if (!n)
            return fk->peer_eof ? 0 : -EAGAIN;
        n = n < cap ? n : cap;
        memcpy(dst, fk->in.p + fk->in.off, n);
        fk->in.off += n;
        buf_compact(&fk->in);
        msg->msg_controllen = 0;
        return (ssize_t)n;
    }
    if (!fk->rec_type) {
        if (fk->rx_paused)
            return -EKEYEXPIRED;
        int r = open_next(fk);
        if (r == -EAGAIN && fk->peer_eof) {
            msg->msg_controllen = 0;
            return 0;
        }
        if (r)
            return r;
        /* Linux >= 6.14 pauses decryption after a KeyUpdate. */
        if (fk->rekey && fk->rec_type == 22 && fk->rec_len && fk->rec[0] == 24) {
            fk->rx_paused = 1;
            fk->rekey_received++;
        }
    }
    if (fk->rec_type != 23) {
        /* A control record needs room for its type, else EIO. */
        if (!msg->msg_control || msg->msg_controllen < CMSG_SPACE(1))
            return -EIO;
    }
    size_t n = fk->rec_len - fk->rec_off;
    n = n < cap ? n : cap;
    memcpy(dst, fk->rec + fk->rec_off, n);
    fk->rec_off += n;
    if (msg->msg_control && msg->msg_controllen >= CMSG_SPACE(1)) {
        struct cmsghdr *cm = CMSG_FIRSTHDR(msg);
        cm->cmsg_level = SOL_TLS;
        cm->cmsg_type = TLS_GET_RECORD_TYPE;
        cm->cmsg_len = CMSG_LEN(1);
        *CMSG_DATA(cm) = (unsigned char)fk->rec_type;
        msg->msg_controllen = CMSG_SPACE(1);
    }
    if (fk->rec_off == fk->rec_len)
        fk->rec_type = 0;
    return (ssize_t)n;
}

static ssize_t fk_sendfile(void *ctx, int out_fd, int in_fd, off_t *offset, size_t count)
{
    struct fk *fk = ctx;
    (void)out_fd;
    if (fk->max_write && count > fk->max_write)
        count = fk->max_write;
    uint8_t *tmp = malloc(count + 1);
    ssize_t r = pread(in_fd, tmp, count, *offset);
    if (r < 0) {
        free(tmp);
        return -errno;
    }
    if (r > 0)
        emit(fk, 23, tmp, (size_t)r);
    free(tmp);
    *offset += r;
    return r;
}

struct kitls_ktls_ops fk_ops(struct fk *fk)
{
    struct kitls_ktls_ops o = {fk_setsockopt, fk_getsockopt, fk_sendmsg,
                               fk_recvmsg,    fk_sendfile,   fk};
    return o;
}

void fk_pump(struct fk *fk, kitls_conn *peer)
{
    if (fk->out.len > fk->out.off) {
        /* In slices, so the peer's input limit is never hit. */
        size_t n = fk->out.len - fk->out.off;
        n = n < 32768 ? n : 32768;
        if (kitls_conn_feed(peer, fk->out.p + fk->out.off, n) == 0)
            fk->out.off += n;
        buf_compact(&fk->out);
    }
    const uint8_t *p;
    size_t n;
    while ((n = kitls_conn_out_peek(peer, &p)) > 0) {
        buf_add(&fk->in, p, n);
        kitls_conn_out_consume(peer, n);
    }
}

void fk_free(struct fk *fk)
{
    free(fk->out.p);
    free(fk->in.p);
    memset(fk, 0, sizeof(*fk));
}
