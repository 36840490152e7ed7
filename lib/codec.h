/*
 * Bounded readers and writers for TLS wire formats (RFC 8446 §3).
 *
 * A reader is {p, end}; every read checks the bound and fails with
 * KITLS_E_DECODE.  Sub-readers cover length-prefixed vectors.  A writer is
 * a growable buffer that latches its first error; length prefixes are
 * reserved with wr_begin*() and filled by wr_end*().
 */
#ifndef KITLS_CODEC_H
#define KITLS_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kitls/kitls.h"

/* Wipes secrets and plaintext.  explicit_bzero() (glibc >= 2.25) is a
 * vectorised memset() the compiler may not remove; libcrypto 3.0's
 * OPENSSL_cleanse() stores 8 bytes per 5 instructions on x86-64 (some 640
 * per KiB: half the cost of a 1 KiB record beyond the AEAD). */
static inline void kitls_wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

struct rd {
    const uint8_t *p, *end;
};

static inline void rd_init(struct rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->end = p + len;
}
static inline size_t rd_left(const struct rd *r)
{
    return (size_t)(r->end - r->p);
}
static inline int rd_empty(const struct rd *r)
{
    return r->p == r->end;
}
/** Fail unless every byte was consumed. */
static inline int rd_expect_empty(const struct rd *r)
{
    return rd_empty(r) ? 0 : KITLS_E_DECODE;
}

static inline int rd_u8(struct rd *r, uint8_t *v)
{
    if (rd_left(r) < 1)
        return KITLS_E_DECODE;
    *v = *r->p++;
    return 0;
}
static inline int rd_u16(struct rd *r, uint16_t *v)
{
    if (rd_left(r) < 2)
        return KITLS_E_DECODE;
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return 0;
}
/** 1 if the list of 16-bit values (a copy of the reader) holds id. */
static inline int rd_has_u16(struct rd list, uint16_t id)
{
    uint16_t v;
    while (rd_u16(&list, &v) == 0)
        if (v == id)
            return 1;
    return 0;
}
static inline int rd_u24(struct rd *r, uint32_t *v)
{
    if (rd_left(r) < 3)
        return KITLS_E_DECODE;
    *v = (uint32_t)r->p[0] << 16 | (uint32_t)r->p[1] << 8 | r->p[2];
    r->p += 3;
    return 0;
}
static inline int rd_u32(struct rd *r, uint32_t *v)
{
    if (rd_left(r) < 4)
        return KITLS_E_DECODE;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return 0;
}
static inline int rd_bytes(struct rd *r, size_t n, const uint8_t **out)
{
    if (rd_left(r) < n)
        return KITLS_E_DECODE;
    *out = r->p;
    r->p += n;
    return 0;
}
/** Sub-reader over a vector with a 1/2/3-byte length prefix. */
static inline int rd_sub(struct rd *r, int prefix, struct rd *sub)
{
    uint32_t n = 0;
    int err;
    if (prefix == 1) {
        uint8_t v;
        err = rd_u8(r, &v);
        n = v;
    } else if (prefix == 2) {
        uint16_t v;
        err = rd_u16(r, &v);
        n = v;
    } else {
        err = rd_u24(r, &n);
    }
    if (err)
        return err;
    if (rd_left(r) < n)
        return KITLS_E_DECODE;
    rd_init(sub, r->p, n);
    r->p += n;
    return 0;
}

/** Growable output buffer; it may start in the caller's storage (fixed,
 * WR_ON_STACK), left for the heap only when it outgrows it. */
struct wr {
    uint8_t *buf;
    size_t len, cap;
    int err;
    uint8_t *fixed; /* the caller's storage: never freed here */
};
/* A writer over `n` bytes of the caller's stack: a handshake message is
 * built there and copied out (the queue), sparing a heap allocation per
 * message; wr_free still wipes what was written. */
#define WR_ON_STACK(w, n)                                                                          \
    uint8_t w##_stack[n];                                                                          \
    struct wr w = {.buf = w##_stack, .cap = (n), .fixed = w##_stack}

int wr_reserve(struct wr *w, size_t extra);
void wr_free(struct wr *w); /* wipes and frees */
static inline void wr_put(struct wr *w, const void *p, size_t n)
{
    if (w->err || (w->cap - w->len < n && wr_reserve(w, n)))
        return;
    if (n)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}
static inline void wr_u8(struct wr *w, uint8_t v)
{
    wr_put(w, &v, 1);
}
static inline void wr_u16(struct wr *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    wr_put(w, b, 2);
}
static inline void wr_u24(struct wr *w, uint32_t v)
{
    uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    wr_put(w, b, 3);
}
static inline void wr_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    wr_put(w, b, 4);
}
/** Reserve a length prefix of `prefix` bytes; returns its offset. */
static inline size_t wr_begin(struct wr *w, int prefix)
{
    size_t at = w->len;
    static const uint8_t z[3];
    wr_put(w, z, (size_t)prefix);
    return at;
}
/** Fill the prefix reserved at `at`; latches KITLS_E_INTERNAL on overflow. */
static inline void wr_end(struct wr *w, size_t at, int prefix)
{
    if (w->err)
        return;
    size_t n = w->len - at - (size_t)prefix;
    if (n >> (8 * prefix)) {
        w->err = KITLS_E_INTERNAL;
        return;
    }
    for (int i = prefix - 1; i >= 0; i--) {
        w->buf[at + (size_t)i] = (uint8_t)n;
        n >>= 8;
    }
}

#endif
