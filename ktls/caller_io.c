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
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/types.h>

#include "ktls_int.h"

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
    if (ret)
        return ret;
    if (!k->off[KITLS_DIR_TX] || !bytes)
        return (ssize_t)(bytes > SSIZE_MAX ? SSIZE_MAX : bytes);
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
        ret = kitls_ktls_key_update(k, 0);
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
    if (k && k->off[KITLS_DIR_TX])
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
    size_t n = k->pend_len - k->pend_off;
    n = n < len ? n : len;
    if (!n)
        return 0;
    memcpy(buf, k->pend + k->pend_off, n);
    k->pend_off += n;
    if (k->pend_off == k->pend_len) {
        OPENSSL_cleanse(k->pend, k->pend_len);
        free(k->pend);
        k->pend = NULL;
        k->pend_len = k->pend_off = 0;
    }
    return (ssize_t)n;
}

int kitls_ktls_recv_record(kitls_ktls *k, uint8_t type, const uint8_t *p, size_t n)
{
    if (!k || (!p && n) || type == KTLS_CT_APPDATA)
        return KITLS_E_INVALID_ARG;
    if (k->err)
        return k->err;
    if (!k->off[KITLS_DIR_RX])
        return KITLS_E_STATE;
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
