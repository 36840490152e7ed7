/* Extension blocks (RFC 8446 §4.2): parsing with duplicate detection, and signature_algorithms. */
#include <string.h>

#include "hs.h"

int kitls_ext_parse(struct rd *r, struct ext_list *out, int allow_empty_block)
{
    struct rd block;
    out->n = 0;
    if (rd_empty(r) && allow_empty_block)
        return 0;
    GUARD(rd_sub(r, 2, &block));
    while (!rd_empty(&block)) {
        uint16_t type;
        struct rd data;
        GUARD(rd_u16(&block, &type));
        GUARD(rd_sub(&block, 2, &data));
        if (out->n == EXT_MAX)
            return KITLS_E_DECODE;
        /* "There MUST NOT be more than one extension of the same type"
         * (RFC 8446 §4.2), which names no alert: the block is well-formed
         * but inconsistent, so illegal_parameter (§6.2), as OpenSSL
         * answers and as BoGo expects for HelloRetryRequest, Certificate
         * and NewSessionTicket (it expects decode_error in the hellos:
         * DuplicateExtension* stay failing in the unclaimed area). */
        for (size_t i = 0; i < out->n; i++)
            if (out->e[i].type == type)
                return KITLS_E_ILLEGAL_PARAMETER;
        out->e[out->n].type = type;
        out->e[out->n++].data = data;
    }
    return 0;
}

const struct ext_entry *kitls_ext_get(const struct ext_list *l, uint16_t type)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->e[i].type == type)
            return &l->e[i];
    return NULL;
}

static const uint16_t ext_bits[] = {
    EXT_SERVER_NAME,      EXT_STATUS_REQUEST,      EXT_SUPPORTED_GROUPS,
    EXT_SIGNATURE_ALGORITHMS, EXT_ALPN,            EXT_SCT,
    EXT_RECORD_SIZE_LIMIT, EXT_PRE_SHARED_KEY,     EXT_EARLY_DATA,
    EXT_SUPPORTED_VERSIONS, EXT_COOKIE,            EXT_PSK_KEY_EXCHANGE_MODES,
    EXT_CERTIFICATE_AUTHORITIES, EXT_POST_HANDSHAKE_AUTH, EXT_SIGNATURE_ALGORITHMS_CERT,
    EXT_KEY_SHARE,        EXT_PADDING,
};

uint32_t kitls_ext_bit(uint16_t type)
{
    for (size_t i = 0; i < sizeof(ext_bits) / sizeof(ext_bits[0]); i++)
        if (ext_bits[i] == type)
            return 1u << i;
    return 0;
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
