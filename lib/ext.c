/* Extension blocks (RFC 8446 §4.2): parsing with duplicate detection, and signature_algorithms. */
#include <string.h>

#include "hs.h"

/* The types this library reads or sends; the index of a type in this table
 * is its bit in kitls_ext_bit() and its slot in struct ext_list. */
static const uint16_t ext_known[EXT_N_KNOWN] = {
    EXT_SERVER_NAME,
    EXT_STATUS_REQUEST,
    EXT_SUPPORTED_GROUPS,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_ALPN,
    EXT_SCT,
    EXT_RECORD_SIZE_LIMIT,
    EXT_PRE_SHARED_KEY,
    EXT_EARLY_DATA,
    EXT_SUPPORTED_VERSIONS,
    EXT_COOKIE,
    EXT_PSK_KEY_EXCHANGE_MODES,
    EXT_CERTIFICATE_AUTHORITIES,
    EXT_POST_HANDSHAKE_AUTH,
    EXT_SIGNATURE_ALGORITHMS_CERT,
    EXT_KEY_SHARE,
    EXT_PADDING,
};

static int known_index(uint16_t type)
{
    for (int i = 0; i < EXT_N_KNOWN; i++)
        if (ext_known[i] == type)
            return i;
    return -1;
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
    if (extra & c->offered)
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

int kitls_ext_parse_sigalgs(kitls_conn *c, struct rd data)
{
    struct rd list;
    GUARD(rd_sub(&data, 2, &list));
    GUARD(rd_expect_empty(&data));
    if (rd_empty(&list) || rd_left(&list) % 2)
        return KITLS_E_DECODE;
    c->n_peer_sigalgs = 0;
    while (!rd_empty(&list)) {
        uint16_t id;
        GUARD(rd_u16(&list, &id));
        /* Keep the ones we know, up to the array size; ignore the rest. */
        if (kitls_sigalg_find(id) &&
            c->n_peer_sigalgs < sizeof(c->peer_sigalgs) / sizeof(c->peer_sigalgs[0]))
            c->peer_sigalgs[c->n_peer_sigalgs++] = id;
    }
    return 0;
}

void kitls_ext_write_sigalgs(kitls_conn *c, struct wr *w)
{
    size_t at = wr_begin(w, 2);
    for (size_t i = 0; i < c->cfg->n_sigalgs; i++)
        wr_u16(w, c->cfg->sigalgs[i]);
    wr_end(w, at, 2);
}
