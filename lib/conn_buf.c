/*
 * A connection's record buffers: received bytes in, records out, and
 * their release while idle.
 *
 * Once established, a buffer that holds nothing is freed at once (input:
 * every byte processed and read; output: every byte taken by the caller),
 * and allocated again, at the size needed, when bytes come.  An idle
 * connection then holds only its object and keys (about 4 KB) instead of
 * some 21 KB, and the cost is one malloc/free pair per buffer and record,
 * small beside the AEAD (docs/performance.md).  The handshake keeps its
 * buffers until it ends: its flights come in several steps.
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>

#include "conn.h"

/* ---- a per-thread spare of record-sized buffers ----
 * Freeing a buffer after each record and allocating it for the next would
 * cost a malloc/free pair per record (6% of a 1 KiB record's
 * instructions); each thread keeps up to two free ones instead (one per
 * direction of a pair in flight), reported and freed by
 * kitls_buffer_cache_bytes() / kitls_buffer_cache_flush() and at thread
 * exit. */
#define RECBUF (KITLS_REC_HDR + KITLS_MAX_CIPHERTEXT)
#define SPARES 2
/* A spare may still hold plaintext decrypted in place below `dirty`: it
 * is wiped when the memory leaves kitls (flush, thread exit, a full
 * spare), not each time a connection puts the buffer back, which cost
 * a 1 KiB record 77 instructions (its wipe) for memory that the next
 * record overwrites.  The connection that takes it inherits `dirty`. */
struct spare_buf {
    uint8_t *p;
    size_t dirty;
};
static __thread struct spare_buf spare[SPARES];
static __thread size_t nspare;
static __thread int spare_armed; /* the thread-exit destructor is set */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static int spare_key_ok;

static void spare_exit(void *unused)
{
    (void)unused;
    kitls_buffer_cache_flush();
}

static void spare_init(void)
{
    spare_key_ok = pthread_key_create(&spare_key, spare_exit) == 0;
}

size_t kitls_buffer_cache_bytes(void)
{
    return nspare * RECBUF;
}

void kitls_buffer_cache_flush(void)
{
    while (nspare) {
        struct spare_buf *b = &spare[--nspare];
        kitls_wipe(b->p, b->dirty);
        kitls_free(b->p);
    }
}

void kitls_thread_cleanup(void)
{
    kitls_buffer_cache_flush();
    kitls_kex_thread_free();
}

/* *dirty: the bytes at the start that may hold an earlier connection's
 * plaintext (see struct spare_buf). */
static uint8_t *buf_get(size_t n, size_t *dirty)
{
    if (n == RECBUF && nspare) {
        struct spare_buf *b = &spare[--nspare];
        *dirty = b->dirty;
        return b->p;
    }
    *dirty = 0;
    return kitls_malloc(n);
}

/* p[0..dirty) may hold plaintext: wiped before p goes back to the
 * allocator, kept as it is in a spare. */
static void buf_put_slow(uint8_t *p, size_t n, size_t dirty)
{
    if (n == RECBUF && nspare < SPARES) {
        if (!spare_armed) {
            pthread_once(&spare_once, spare_init);
            spare_armed = spare_key_ok && pthread_setspecific(spare_key, &spare_armed) == 0;
        }
        if (spare_armed) {
            spare[nspare].p = p;
            spare[nspare++].dirty = dirty;
            return;
        }
    }
    kitls_wipe(p, dirty < n ? dirty : n);
    kitls_free(p);
}

/* Twice per record: the common case inline. */
static inline void buf_put(uint8_t *p, size_t n, size_t dirty)
{
    if (n == RECBUF && nspare < SPARES && spare_armed) {
        spare[nspare].p = p;
        spare[nspare++].dirty = dirty;
        return;
    }
    buf_put_slow(p, n, dirty);
}

/* ---- output ---- */

size_t kitls_conn_out_peek(kitls_conn *c, const uint8_t **buf)
{
    size_t n = c->out.len - c->out_off;
    *buf = n ? c->out.buf + c->out_off : NULL;
    return n;
}

/* The output holds ciphertext and plaintext records only (public
 * handshake messages, alerts, or an offloaded direction's control
 * records): no wipe needed but for what a spare brought (out_dirty). */
static void out_drop(kitls_conn *c)
{
    if (c->out.buf)
        buf_put(c->out.buf, c->out.cap, c->out_dirty);
    c->out.buf = NULL;
    c->out.len = c->out.cap = c->out_dirty = 0;
    c->out.err = 0;
    c->out_off = 0;
}

void kitls_conn_out_taken(kitls_conn *c)
{
    c->out.len = c->out_off = 0;
    if (c->established)
        out_drop(c);
}

/* A server's first buffer for its flight: all of it (ServerHello to
 * Finished, ~1.4 KB with a two-certificate chain) fits, rather than 256
 * bytes doubled as it grows (an allocation and a copy per doubling) to
 * the same size in the end.  A client's flights are small: its buffers
 * grow as before.  Freed when the handshake ends, as before. */
#define FLIGHT_BUF 2048

int kitls_conn_hs_queue(kitls_conn *c, const uint8_t *msg, size_t len)
{
    if (c->server && !c->hs_out.cap && wr_reserve(&c->hs_out, len > FLIGHT_BUF ? len : FLIGHT_BUF))
        return KITLS_E_NOMEM;
    wr_put(&c->hs_out, msg, len);
    return c->hs_out.err;
}

int kitls_conn_out_room(kitls_conn *c, size_t need)
{
    if (c->out.cap - c->out.len >= need)
        return 0;
    /* Empty and established: one record buffer (reused, see buf_get), or
     * exactly what this write needs, rather than 256 bytes doubled up to
     * twice the size.  A handshake keeps its small, growing buffer. */
    if (!c->out.buf && c->established) {
        size_t n = need <= RECBUF ? RECBUF : need;
        size_t dirty;
        if (!(c->out.buf = buf_get(n, &dirty)))
            return KITLS_E_NOMEM;
        c->out_dirty = (uint32_t)dirty; /* <= RECBUF */
        c->out.cap = n;
        return 0;
    }
    if (c->server && !c->out.buf && need < FLIGHT_BUF)
        need = FLIGHT_BUF;
    return wr_reserve(&c->out, need) ? KITLS_E_NOMEM : 0;
}

void kitls_conn_out_consume(kitls_conn *c, size_t n)
{
    size_t left = c->out.len - c->out_off;
    c->out_off += n < left ? n : left;
    if (c->out_off != c->out.len)
        return;
    if (c->established) /* kitls_conn_out_taken(), once per record */
        out_drop(c);
    else
        c->out.len = c->out_off = 0;
}

/* ---- input ---- */

void kitls_conn_in_drop(kitls_conn *c)
{
    if (!c->in)
        return;
    /* Plaintext decrypted in place lies below in_dirty (compaction only
     * moves bytes down); records decrypted into the reader's buffer
     * leave none.  buf_put wipes it if the memory leaves kitls, or now
     * with kitls_config_set_cleanse_plaintext(). */
    size_t dirty = c->in_dirty < c->in_cap ? c->in_dirty : c->in_cap;
    if (dirty && c->cfg->cleanse_plaintext) {
        kitls_wipe(c->in, dirty);
        dirty = 0;
    }
    buf_put(c->in, c->in_cap, dirty);
    c->in = NULL;
    c->in_cap = c->in_len = c->in_start = c->in_dirty = 0;
}

void kitls_conn_settle(kitls_conn *c)
{
    if (!c->established)
        return;
    if (c->out.buf && c->out.len == c->out_off)
        out_drop(c);
    if (c->in && !c->app_len && c->in_start == c->in_len)
        kitls_conn_in_drop(c);
    if (c->hs_off == c->hs_in.len && c->hs_in.buf)
        wr_free(&c->hs_in), c->hs_off = 0;
}

/*
 * kitls_conn_settle() frees the buffers by itself once the handshake is
 * over.  Here the cipher contexts go too: recreating them costs a key
 * setup, too much per record but nothing per idle period.
 */
void kitls_conn_release_buffers(kitls_conn *c)
{
    if (!c)
        return;
    if (c->established) {
        kitls_rec_sleep(&c->rx);
        kitls_rec_sleep(&c->tx);
    }
    if (c->out.len == c->out_off)
        out_drop(c);
    if (c->in && !c->app_len && c->in_start == c->in_len)
        kitls_conn_in_drop(c);
    if (c->hs_off == c->hs_in.len)
        wr_free(&c->hs_in), c->hs_off = 0;
}

size_t kitls_conn_in_needed(const kitls_conn *c)
{
    /* Skip the whole records not processed yet; the last one may be partial. */
    for (size_t off = c->in_start;;) {
        size_t have = c->in_len - off;
        if (!have)
            return 0;
        if (have < KITLS_REC_HDR)
            return KITLS_REC_HDR - have;
        const uint8_t *h = c->in + off;
        size_t need = KITLS_REC_HDR + ((size_t)h[3] << 8 | h[4]);
        if (need > have)
            return need - have;
        off += need;
    }
}

static int in_make_room(kitls_conn *c, size_t want)
{
    size_t base = c->app_len ? c->app_off : c->in_start;
    if (c->in_len - base + want > c->cfg->limits.max_buffered_bytes)
        return KITLS_E_LIMIT;
    if (base && c->in_cap - c->in_len < want) {
        memmove(c->in, c->in + base, c->in_len - base);
        c->in_len -= base;
        c->in_start -= base;
        if (c->app_len)
            c->app_off -= base;
    }
    if (c->in_cap - c->in_len >= want)
        return 0;
    size_t ncap = c->in_cap ? c->in_cap : RECBUF;
    while (ncap - c->in_len < want)
        ncap *= 2;
    size_t dirty;
    uint8_t *nb = buf_get(ncap, &dirty);
    if (!nb)
        return KITLS_E_NOMEM;
    if (c->in_len)
        memcpy(nb, c->in, c->in_len);
    if (c->in) {
        kitls_wipe(c->in, c->in_cap);
        buf_put(c->in, c->in_cap, 0);
        dirty = dirty > c->in_dirty ? dirty : c->in_dirty;
    }
    c->in = nb;
    c->in_cap = ncap;
    c->in_dirty = dirty;
    return 0;
}

int kitls_conn_feed(kitls_conn *c, const uint8_t *buf, size_t len)
{
    if (!c || (!buf && len))
        return KITLS_E_INVALID_ARG;
    /* An empty connection taking up to a record: a spare, nothing to move. */
    if (!c->in && len && len <= RECBUF && len <= c->cfg->limits.max_buffered_bytes) {
        if (!(c->in = buf_get(RECBUF, &c->in_dirty)))
            return KITLS_E_NOMEM;
        c->in_cap = RECBUF;
    } else {
        GUARD(in_make_room(c, len));
    }
    if (len)
        memcpy(c->in + c->in_len, buf, len);
    c->in_len += len;
    return 0;
}

int kitls_conn_in_reserve(kitls_conn *c, uint8_t **buf, size_t *cap)
{
    if (!c || !buf || !cap)
        return KITLS_E_INVALID_ARG;
    size_t want = KITLS_REC_HDR + KITLS_MAX_CIPHERTEXT;
    GUARD(in_make_room(c, want));
    *buf = c->in + c->in_len;
    *cap = c->in_cap - c->in_len;
    return 0;
}

int kitls_conn_in_commit(kitls_conn *c, size_t n)
{
    if (!c || n > c->in_cap - c->in_len)
        return KITLS_E_INVALID_ARG;
    c->in_len += n;
    return 0;
}
