/* Extension blocks (RFC 8446 §4.2): the table of known types, parsing with
 * duplicate detection, and the loops that write and read a message's
 * extensions row by row (the rows are in lib/ext/). */
#include <string.h>

#include "hs.h"

/*
 * The types this library reads or sends.  The index of a row is its bit in
 * kitls_ext_bit() and its slot in struct ext_list, and the order in which
 * kitls_ext_parse_all() visits a received block (which decides, when a
 * message has several faults, which one is reported).
 */
static const struct ext_type *const ext_known[EXT_N_KNOWN] = {
    &kitls_ext_server_name,  &kitls_ext_status_request,
    &kitls_ext_groups,       &kitls_ext_sigalgs,
    &kitls_ext_alpn,         &kitls_ext_sct,
    &kitls_ext_rsl,          &kitls_ext_psk,
    &kitls_ext_early_data,   &kitls_ext_versions,
    &kitls_ext_key_share,    &kitls_ext_cookie,
    &kitls_ext_psk_modes,    &kitls_ext_cert_authorities,
    &kitls_ext_post_hs_auth, &kitls_ext_sigalgs_cert,
    &kitls_ext_padding,
};

/*
 * The order of the extensions we write in each message.  The order is
 * part of what a peer sees (fingerprinting, replay corpus): a new row goes
 * where it should appear on the wire.  pre_shared_key must stay last in
 * the ClientHello (RFC 8446 §4.2.11); padding only marks where the
 * padding extension is inserted once the hello's length is known.
 */
static const struct ext_type *const order_ch[] = {
    &kitls_ext_grease_first,
    &kitls_ext_server_name,
    &kitls_ext_versions,
    &kitls_ext_groups,
    &kitls_ext_sigalgs,
    &kitls_ext_key_share,
    &kitls_ext_alpn,
    &kitls_ext_status_request,
    &kitls_ext_sct,
    &kitls_ext_rsl,
    &kitls_ext_cookie,
    &kitls_ext_grease_last,
    &kitls_ext_padding,
    &kitls_ext_early_data,
    &kitls_ext_psk_modes,
    &kitls_ext_psk,
    NULL,
};
static const struct ext_type *const order_sh[] = {
    &kitls_ext_versions,
    &kitls_ext_key_share,
    &kitls_ext_psk,
    NULL,
};
static const struct ext_type *const order_hrr[] = {
    &kitls_ext_versions,
    &kitls_ext_key_share,
    &kitls_ext_cookie,
    NULL,
};
static const struct ext_type *const order_ee[] = {
    &kitls_ext_server_name, &kitls_ext_alpn, &kitls_ext_early_data, &kitls_ext_rsl, NULL,
};
static const struct ext_type *const order_cr[] = {
    &kitls_ext_sigalgs,
    &kitls_ext_cert_authorities,
    NULL,
};
static const struct ext_type *const order_ct[] = {
    &kitls_ext_status_request,
    &kitls_ext_sct,
    NULL,
};
static const struct ext_type *const order_nst[] = {
    &kitls_ext_grease_ticket,
    &kitls_ext_early_data,
    NULL,
};

const struct ext_type *const *kitls_ext_order(uint8_t msg)
{
    switch (msg) {
    case EXT_IN_CH: return order_ch;
    case EXT_IN_SH: return order_sh;
    case EXT_IN_HRR: return order_hrr;
    case EXT_IN_EE: return order_ee;
    case EXT_IN_CR: return order_cr;
    case EXT_IN_CT: return order_ct;
    case EXT_IN_NST: return order_nst;
    default: return NULL;
    }
}

static int known_index(uint16_t type)
{
    for (int i = 0; i < EXT_N_KNOWN; i++)
        if (ext_known[i]->type == type)
            return i;
    return -1;
}

const struct ext_type *kitls_ext_row(size_t i)
{
    return i < EXT_N_KNOWN ? ext_known[i] : NULL;
}

/*
 * One pass over the block.  Only the known types are kept (one slot each);
 * unknown ones -- GREASE values (RFC 8701) and anything newer than this
 * library -- are counted and skipped, as RFC 8446 §4.2 and §4.1.2 ask of
 * a receiver, so the number of extensions is bounded only by the message
 * size limit (docs/limits.md).  Duplicates of any type, known or not, are
 * found with a bitmap of all 2^16 types: 8 KiB of stack for the duration
 * of the call, O(n) in the block, nothing kept per connection.
 */
int kitls_ext_parse(struct rd *r, struct ext_list *out, int flags)
{
    struct rd block;
    uint8_t seen[65536 / 8];
    memset(out, 0, sizeof(*out));
    if (rd_empty(r) && (flags & EXT_ALLOW_EMPTY))
        return 0;
    GUARD(rd_sub(r, 2, &block));
    memset(seen, 0, sizeof(seen));
    while (!rd_empty(&block)) {
        uint16_t type;
        struct rd data;
        GUARD(rd_u16(&block, &type));
        GUARD(rd_sub(&block, 2, &data));
        /* "There MUST NOT be more than one extension of the same type"
         * (RFC 8446 §4.2), which names no alert.  The caller says which
         * one (EXT_DUP_DECODE): decode_error in the hellos and
         * EncryptedExtensions, illegal_parameter elsewhere -- the split
         * BoringSSL makes and BoGo tests (OpenSSL sends illegal_parameter
         * everywhere, for the types it knows). */
        if (seen[type >> 3] & (1u << (type & 7)))
            return (flags & EXT_DUP_DECODE) ? KITLS_E_DECODE : KITLS_E_ILLEGAL_PARAMETER;
        seen[type >> 3] |= (uint8_t)(1u << (type & 7));
        out->n++;
        out->last = type;
        int i = known_index(type);
        if (i < 0) {
            out->n_unknown++;
            continue;
        }
        out->present |= 1u << i;
        out->e[i].type = type;
        out->e[i].data = data;
    }
    return 0;
}

const struct ext_entry *kitls_ext_get(const struct ext_list *l, uint16_t type)
{
    int i = known_index(type);
    return i >= 0 && (l->present >> i & 1) ? &l->e[i] : NULL;
}

const struct ext_entry *kitls_ext_at(const struct ext_list *l, size_t i)
{
    return i < EXT_N_KNOWN && (l->present >> i & 1) ? &l->e[i] : NULL;
}

int kitls_ext_only(const kitls_conn *c, const struct ext_list *l, uint32_t allowed)
{
    uint32_t extra = l->present & ~allowed;
    /* Sent in answer to an extension we offered but not allowed in this
     * message: illegal_parameter; never offered (or unknown to us):
     * unsupported_extension (RFC 8446 §4.2). */
    if (extra & c->ext.offered)
        return KITLS_E_ILLEGAL_PARAMETER;
    if (extra || l->n_unknown)
        return KITLS_E_UNSUPPORTED_EXTENSION;
    return 0;
}

uint32_t kitls_ext_bit(uint16_t type)
{
    int i = known_index(type);
    return i < 0 ? 0 : 1u << i;
}

uint32_t kitls_ext_allowed(uint8_t msg)
{
    uint32_t m = 0;
    for (int i = 0; i < EXT_N_KNOWN; i++)
        if (ext_known[i]->recv_in & msg)
            m |= 1u << i;
    return m;
}

size_t kitls_ext_open(kitls_conn *c, const struct ext_ctx *x, uint16_t type)
{
    if (x->msg == EXT_IN_CH)
        c->ext.offered |= kitls_ext_bit(type);
    wr_u16(x->w, type);
    return wr_begin(x->w, 2);
}

int kitls_ext_write_all(kitls_conn *c, struct ext_ctx *x)
{
    const struct ext_type *const *row = kitls_ext_order(x->msg);
    if (!row)
        return KITLS_E_INTERNAL;
    if (x->msg == EXT_IN_CH)
        c->ext.offered = 0; /* rebuilt by kitls_ext_open */
    for (; *row; row++)
        if ((*row)->write)
            GUARD((*row)->write(c, x));
    return x->w->err;
}

int kitls_ext_parse_all(kitls_conn *c, struct ext_ctx *x, const struct ext_list *l)
{
    for (size_t i = 0; i < EXT_N_KNOWN; i++) {
        const struct ext_type *t = ext_known[i];
        const struct ext_entry *e = kitls_ext_at(l, i);
        if (!(t->recv_in & x->msg)) {
            /* Offered, but not allowed in this message (§4.2). */
            if (e && x->strict)
                return KITLS_E_ILLEGAL_PARAMETER;
            continue;
        }
        if (e && t->parse)
            GUARD(t->parse(c, x, e->data));
        else if (!e && t->if_missing)
            GUARD(t->if_missing(c, x));
    }
    return 0;
}
