/* Extensions that carry nothing: GREASE (RFC 8701) and the ClientHello's
 * padding (RFC 7685). */
#include <string.h>

#include "../hs.h"

/*
 * GREASE: reserved values 0x?A?A (both bytes equal, RFC 8701 §2) that a
 * peer must ignore.  One seed per place, drawn from the config's RNG when
 * the handshake starts, so that a second ClientHello (after a
 * HelloRetryRequest) carries the same values as the first.
 */
uint16_t kitls_grease(const kitls_conn *c, int i)
{
    uint16_t v = (uint16_t)(((c->hs->grease[i] & 0xf0) | 0x0a) * 0x0101);
    /* The two GREASE extensions must not be duplicates (RFC 8446 §4.2). */
    if (i == KITLS_GREASE_EXT2 && v == kitls_grease(c, KITLS_GREASE_EXT1))
        v ^= 0x1010;
    return v;
}

/* The first extension of a ClientHello: an empty GREASE one. */
static int write_first(kitls_conn *c, struct ext_ctx *x)
{
    if (c->cfg->grease) {
        wr_u16(x->w, kitls_grease(c, KITLS_GREASE_EXT1));
        wr_u16(x->w, 0);
    }
    return 0;
}

const struct ext_type kitls_ext_grease_first = {.write = write_first};

/* Before the PSK extensions: one holding a zero byte, so not both empty. */
static int write_last(kitls_conn *c, struct ext_ctx *x)
{
    if (c->cfg->grease) {
        wr_u16(x->w, kitls_grease(c, KITLS_GREASE_EXT2));
        wr_u16(x->w, 1);
        wr_u8(x->w, 0);
    }
    return 0;
}

const struct ext_type kitls_ext_grease_last = {.write = write_last};

/* An empty GREASE extension in each NewSessionTicket (RFC 8701 §3);
 * clients ignore unknown ticket extensions (RFC 8446 §4.6.1). */
static int write_ticket(kitls_conn *c, struct ext_ctx *x)
{
    uint8_t seed;
    if (!c->cfg->grease)
        return 0;
    GUARD(kitls_config_random(c->cfg, &seed, 1));
    wr_u16(x->w, (uint16_t)(((seed & 0xf0) | 0x0a) * 0x0101));
    wr_u16(x->w, 0);
    return 0;
}

const struct ext_type kitls_ext_grease_ticket = {.write = write_ticket};

/* The padding goes here, ahead of the PSK extensions, once the hello's
 * length is known (kitls_ext_pad_hello). */
static int mark_padding(kitls_conn *c, struct ext_ctx *x)
{
    (void)c;
    x->pad_at = x->w->len;
    return 0;
}

const struct ext_type kitls_ext_padding = {
    .type = EXT_PADDING,
    .recv_in = EXT_IN_CH,
    .write = mark_padding,
};

/*
 * A ClientHello (message header included) of 256 to 511 bytes is padded
 * to 512 with a padding extension inserted at x->pad_at, ahead of
 * pre_shared_key, which must stay last (RFC 8446 §4.2.11); the binder
 * offset moves with it.  The extension gets at least one byte of padding
 * (513 bytes when 4 were missing), as BoringSSL does.
 */
void kitls_ext_pad_hello(struct ext_ctx *x, size_t msg_at)
{
    struct wr *w = x->w;
    size_t at = x->pad_at;
    size_t len = w->len - msg_at;
    if (w->err || len < 256 || len >= 512)
        return;
    size_t data = 512 - len >= 5 ? 512 - len - 4 : 1;
    size_t n = 4 + data;
    if (wr_reserve(w, n))
        return;
    memmove(w->buf + at + n, w->buf + at, w->len - at);
    w->buf[at] = EXT_PADDING >> 8;
    w->buf[at + 1] = EXT_PADDING & 0xff;
    w->buf[at + 2] = (uint8_t)(data >> 8);
    w->buf[at + 3] = (uint8_t)data;
    memset(w->buf + at + 4, 0, data);
    w->len += n;
    if (x->binder_at >= at)
        x->binder_at += n;
}
