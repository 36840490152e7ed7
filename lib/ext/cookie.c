/* cookie (RFC 8446 §4.2.2): sent by a server in HelloRetryRequest, echoed
 * verbatim by the client in its second ClientHello. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "../hs.h"

/* Server: the cookie binds the HRR to this ClientHello (the transcript so
 * far); we keep state, so it only has to be unpredictable and echoed
 * verbatim. */
int kitls_ext_cookie_make(kitls_conn *c)
{
    uint8_t th[KITLS_MAX_HASH];
    GUARD(kitls_th_current(&c->th, th));
    c->ext.cookie = kitls_malloc(c->suite->hash_len);
    if (!c->ext.cookie)
        return KITLS_E_NOMEM;
    c->ext.cookie_len = c->suite->hash_len;
    return kitls_hmac(c->suite->md, c->cfg->cookie_key, sizeof(c->cfg->cookie_key), th,
                      c->suite->hash_len, c->ext.cookie);
}

static int write_cookie(kitls_conn *c, struct ext_ctx *x)
{
    if (!c->ext.cookie)
        return 0;
    size_t e = kitls_ext_open(c, x, EXT_COOKIE);
    size_t v = wr_begin(x->w, 2);
    wr_put(x->w, c->ext.cookie, c->ext.cookie_len);
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
        if (!c->ext.cookie || rd_left(&v) != c->ext.cookie_len ||
            CRYPTO_memcmp(v.p, c->ext.cookie, c->ext.cookie_len))
            return KITLS_E_ILLEGAL_PARAMETER;
        return 0;
    }
    /* Client, HelloRetryRequest: keep it for ClientHello2. */
    if (rd_empty(&v))
        return KITLS_E_DECODE;
    c->ext.cookie = kitls_malloc(rd_left(&v));
    if (!c->ext.cookie)
        return KITLS_E_NOMEM;
    memcpy(c->ext.cookie, v.p, rd_left(&v));
    c->ext.cookie_len = rd_left(&v);
    return 0;
}

/* Server: a ClientHello2 must echo the cookie we sent. */
static int cookie_missing(kitls_conn *c, struct ext_ctx *x)
{
    return x->msg == EXT_IN_CH && c->ext.cookie ? KITLS_E_ILLEGAL_PARAMETER : 0;
}

const struct ext_type kitls_ext_cookie = {
    .type = EXT_COOKIE,
    .recv_in = EXT_IN_CH | EXT_IN_HRR,
    .write = write_cookie,
    .parse = parse_cookie,
    .if_missing = cookie_missing,
};
