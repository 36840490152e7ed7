/* cookie (RFC 8446 §4.2.2): sent by a server in HelloRetryRequest, echoed
 * verbatim by the client in its second ClientHello. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "../hs.h"

static int write_cookie(kitls_conn *c, struct ext_ctx *x)
{
    if (!c->cookie)
        return 0;
    size_t e = kitls_ext_open(c, x, EXT_COOKIE);
    size_t v = wr_begin(x->w, 2);
    wr_put(x->w, c->cookie, c->cookie_len);
    wr_end(x->w, v, 2);
    wr_end(x->w, e, 2);
    return 0;
}

static int parse_cookie(kitls_conn *c, struct ext_ctx *x, struct rd d)
{
    struct rd v;
    GUARD(rd_sub(&d, 2, &v));
    GUARD(rd_expect_empty(&d));
    if (x->msg == EXT_IN_CH) {
        /* Server: the one we sent, unchanged. */
        if (!c->cookie || rd_left(&v) != c->cookie_len ||
            CRYPTO_memcmp(v.p, c->cookie, c->cookie_len))
            return KITLS_E_ILLEGAL_PARAMETER;
        return 0;
    }
    /* Client, HelloRetryRequest: keep it for ClientHello2. */
    if (rd_empty(&v))
        return KITLS_E_DECODE;
    c->cookie = malloc(rd_left(&v));
    if (!c->cookie)
        return KITLS_E_NOMEM;
    memcpy(c->cookie, v.p, rd_left(&v));
    c->cookie_len = rd_left(&v);
    return 0;
}

/* Server: a ClientHello2 must echo the cookie we sent. */
static int cookie_missing(kitls_conn *c, struct ext_ctx *x)
{
    return x->msg == EXT_IN_CH && c->cookie ? KITLS_E_ILLEGAL_PARAMETER : 0;
}

const struct ext_type kitls_ext_cookie = {
    .type = EXT_COOKIE,
    .recv_in = EXT_IN_CH | EXT_IN_HRR,
    .write = write_cookie,
    .parse = parse_cookie,
    .if_missing = cookie_missing,
};
