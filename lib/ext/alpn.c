/* application_layer_protocol_negotiation (RFC 7301): the client's list
 * (with a GREASE name, RFC 8701), the server's choice in EncryptedExtensions. */
#include <stdlib.h>
#include <string.h>

#include "../hs.h"

static int write_alpn(kitls_conn *c, struct ext_ctx *x)
{
    struct wr *w = x->w;
    if (x->msg == EXT_IN_EE) {
        if (!c->ext.alpn)
            return 0;
        size_t n = strlen(c->ext.alpn);
        size_t e = kitls_ext_open(c, x, EXT_ALPN);
        wr_u16(w, (uint16_t)(n + 1));
        wr_u8(w, (uint8_t)n);
        wr_put(w, c->ext.alpn, n);
        wr_end(w, e, 2);
        return 0;
    }
    if (!c->cfg->alpn_len)
        return 0;
    size_t e = kitls_ext_open(c, x, EXT_ALPN);
    size_t v = wr_begin(w, 2);
    if (c->cfg->grease) {
        wr_u8(w, 2); /* a 2-byte reserved protocol name (RFC 8701 §2) */
        wr_u16(w, kitls_grease(c, KITLS_GREASE_ALPN));
    }
    wr_put(w, c->cfg->alpn, c->cfg->alpn_len);
    wr_end(w, v, 2);
    wr_end(w, e, 2);
    return 0;
}

/* Server: keep the client's list; pick our first that it offers (RFC 7301 §3.2). */
static int parse_ch(kitls_conn *c, struct rd r)
{
    struct rd list;
    GUARD(rd_sub(&r, 2, &list));
    GUARD(rd_expect_empty(&r));
    if (rd_empty(&list))
        return KITLS_E_DECODE;
    GUARD(kitls_conn_keep(&c->ext.peer_alpn, &c->ext.peer_alpn_len, list.p, rd_left(&list)));
    struct rd l = list;
    while (!rd_empty(&l)) {
        struct rd p;
        GUARD(rd_sub(&l, 1, &p));
        if (rd_empty(&p))
            return KITLS_E_DECODE;
    }
    if (!c->cfg->alpn_len)
        return 0;
    kitls_free(c->ext.alpn);
    c->ext.alpn = NULL;
    struct rd ours;
    rd_init(&ours, c->cfg->alpn, c->cfg->alpn_len);
    while (!rd_empty(&ours)) {
        struct rd p;
        GUARD(rd_sub(&ours, 1, &p));
        l = list;
        while (!rd_empty(&l)) {
            struct rd q;
            GUARD(rd_sub(&l, 1, &q));
            if (rd_left(&p) == rd_left(&q) && !memcmp(p.p, q.p, rd_left(&p)))
                return kitls_conn_set_alpn_name(c, p.p, rd_left(&p));
        }
    }
    return KITLS_E_NO_APPLICATION_PROTOCOL;
}

/* Client: one name, one we offered (RFC 7301 §3.2). */
static int parse_ee(kitls_conn *c, struct rd r)
{
    struct rd list, name;
    GUARD(rd_sub(&r, 2, &list));
    GUARD(rd_expect_empty(&r));
    GUARD(rd_sub(&list, 1, &name));
    GUARD(rd_expect_empty(&list));
    if (rd_empty(&name))
        return KITLS_E_DECODE;
    struct rd ours;
    int found = 0;
    rd_init(&ours, c->cfg->alpn, c->cfg->alpn_len);
    while (!found && !rd_empty(&ours)) {
        struct rd p;
        GUARD(rd_sub(&ours, 1, &p));
        found = rd_left(&p) == rd_left(&name) && !memcmp(p.p, name.p, rd_left(&p));
    }
    if (!found)
        return KITLS_E_ILLEGAL_PARAMETER;
    return kitls_conn_set_alpn_name(c, name.p, rd_left(&name));
}

static int parse_alpn(kitls_conn *c, struct ext_ctx *x, struct rd r)
{
    return x->msg == EXT_IN_CH ? parse_ch(c, r) : parse_ee(c, r);
}

const struct ext_type kitls_ext_alpn = {
    .type = EXT_ALPN,
    .recv_in = EXT_IN_CH | EXT_IN_EE,
    .write = write_alpn,
    .parse = parse_alpn,
};
