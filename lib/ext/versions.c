/* supported_versions (RFC 8446 §4.2.1): TLS 1.3 only, plus a GREASE
 * version (RFC 8701) in the ClientHello. */
#include "../hs.h"

#define TLS13 0x0304

static int write_versions(kitls_conn *c, struct ext_ctx *x)
{
    size_t e = kitls_ext_open(c, x, EXT_SUPPORTED_VERSIONS);
    if (x->msg != EXT_IN_CH) {
        wr_u16(x->w, TLS13); /* selected_version */
        wr_end(x->w, e, 2);
        return 0;
    }
    size_t v = wr_begin(x->w, 1);
    if (c->cfg->grease)
        wr_u16(x->w, kitls_grease(c, KITLS_GREASE_VERSION));
    wr_u16(x->w, TLS13);
    wr_end(x->w, v, 1);
    wr_end(x->w, e, 2);
    return 0;
}

int kitls_ext_versions_ch(const struct ext_list *l)
{
    const struct ext_entry *sv = kitls_ext_get(l, EXT_SUPPORTED_VERSIONS);
    if (!sv)
        return KITLS_E_PROTOCOL_VERSION;
    struct rd r = sv->data, vers;
    GUARD(rd_sub(&r, 1, &vers));
    GUARD(rd_expect_empty(&r));
    if (rd_empty(&vers) || rd_left(&vers) % 2)
        return KITLS_E_DECODE;
    return rd_has_u16(vers, TLS13) ? 0 : KITLS_E_PROTOCOL_VERSION;
}

int kitls_ext_versions_sh(const struct ext_list *l, int *present, uint16_t *selected)
{
    const struct ext_entry *sv = kitls_ext_get(l, EXT_SUPPORTED_VERSIONS);
    *present = sv != NULL;
    if (!sv)
        return 0;
    struct rd r = sv->data;
    GUARD(rd_u16(&r, selected));
    return rd_expect_empty(&r);
}

/* Both hellos read it first, before any other field, since it says which
 * protocol the rest is in: their handlers call the functions above. */
const struct ext_type kitls_ext_versions = {
    .type = EXT_SUPPORTED_VERSIONS,
    .recv_in = EXT_IN_CH | EXT_IN_SH | EXT_IN_HRR,
    .write = write_versions,
};
