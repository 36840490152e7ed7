/* server_name (RFC 6066 §3, RFC 8446 §4.2): the client's host name, and
 * the server's empty acknowledgement in EncryptedExtensions. */
#include <stdlib.h>
#include <string.h>

#include "../hs.h"

static int write_sni(kitls_conn *c, struct ext_ctx *x)
{
    if (x->msg == EXT_IN_EE) {
        /* We used the name the client sent (RFC 6066 §3). */
        if (c->ext.sni)
            wr_end(x->w, kitls_ext_open(c, x, EXT_SERVER_NAME), 2);
        return 0;
    }
    /* An IP literal is never sent as a name (RFC 6066 §3). */
    if (!c->ext.sni || c->ext.sni_is_ip)
        return 0;
    size_t n = strlen(c->ext.sni);
    size_t e = kitls_ext_open(c, x, EXT_SERVER_NAME);
    size_t v = wr_begin(x->w, 2);
    wr_u8(x->w, 0); /* host_name */
    wr_u16(x->w, (uint16_t)n);
    wr_put(x->w, c->ext.sni, n);
    wr_end(x->w, v, 2);
    wr_end(x->w, e, 2);
    return 0;
}

/* Server: the ClientHello's ServerNameList, of exactly one host_name. */
static int parse_ch(kitls_conn *c, struct rd r)
{
    struct rd list, name;
    uint8_t type;
    GUARD(rd_sub(&r, 2, &list));
    GUARD(rd_expect_empty(&r));
    GUARD(rd_u8(&list, &type));
    GUARD(rd_sub(&list, 2, &name));
    GUARD(rd_expect_empty(&list));
    if (type != 0 || rd_empty(&name) || rd_left(&name) > 255)
        return KITLS_E_DECODE;
    if (memchr(name.p, 0, rd_left(&name)))
        return KITLS_E_ILLEGAL_PARAMETER;
    if (c->did_hrr && c->ext.sni)
        return 0; /* already have it from CH1 */
    c->ext.sni = kitls_malloc(rd_left(&name) + 1);
    if (!c->ext.sni)
        return KITLS_E_NOMEM;
    memcpy(c->ext.sni, name.p, rd_left(&name));
    c->ext.sni[rd_left(&name)] = 0;
    return 0;
}

static int parse_sni(kitls_conn *c, struct ext_ctx *x, struct rd r)
{
    if (x->msg == EXT_IN_CH)
        return parse_ch(c, r);
    /* EncryptedExtensions: empty (RFC 6066 §3). */
    GUARD(rd_expect_empty(&r));
    c->ext.sni_acked = 1;
    return 0;
}

const struct ext_type kitls_ext_server_name = {
    .type = EXT_SERVER_NAME,
    .recv_in = EXT_IN_CH | EXT_IN_EE,
    .write = write_sni,
    .parse = parse_sni,
};
