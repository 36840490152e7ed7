/* record_size_limit (RFC 8449): the largest record plaintext each side
 * accepts, offered in the ClientHello and answered in EncryptedExtensions. */
#include "../hs.h"

static int write_rsl(kitls_conn *c, struct ext_ctx *x)
{
    if (!c->cfg->record_size_limit)
        return 0;
    /* A server answers only a client that sent one (RFC 8449 §4). */
    if (x->msg == EXT_IN_EE && !kitls_ext_get(x->peer, EXT_RECORD_SIZE_LIMIT))
        return 0;
    size_t e = kitls_ext_open(c, x, EXT_RECORD_SIZE_LIMIT);
    wr_u16(x->w, c->cfg->record_size_limit);
    wr_end(x->w, e, 2);
    return 0;
}

static int parse_rsl(kitls_conn *c, struct ext_ctx *x, struct rd r)
{
    uint16_t lim;
    (void)x;
    GUARD(rd_u16(&r, &lim));
    GUARD(rd_expect_empty(&r));
    /* Below 64 is illegal_parameter (RFC 8449 §4). */
    if (lim < 64)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->ext.peer_rsl = lim;
    return 0;
}

const struct ext_type kitls_ext_rsl = {
    .type = EXT_RECORD_SIZE_LIMIT,
    .recv_in = EXT_IN_CH | EXT_IN_EE,
    .write = write_rsl,
    .parse = parse_rsl,
};
