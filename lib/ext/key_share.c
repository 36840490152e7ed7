/* supported_groups and key_share (RFC 8446 §4.2.7, §4.2.8): our groups and
 * shares in the ClientHello (with GREASE, RFC 8701), the server's choice in
 * ServerHello / HelloRetryRequest, and the server's pick of a group. */
#include <openssl/crypto.h>
#include <string.h>

#include "../hs.h"

static int write_groups(kitls_conn *c, struct ext_ctx *x)
{
    const kitls_config *cfg = c->cfg;
    size_t e = kitls_ext_open(c, x, EXT_SUPPORTED_GROUPS);
    size_t v = wr_begin(x->w, 2);
    if (cfg->grease)
        wr_u16(x->w, kitls_grease(c, KITLS_GREASE_GROUP));
    for (size_t i = 0; i < cfg->n_groups; i++)
        wr_u16(x->w, cfg->groups[i]);
    wr_end(x->w, v, 2);
    wr_end(x->w, e, 2);
    return 0;
}

/* In EncryptedExtensions it is informational (§4.2.7): nothing to parse. */
const struct ext_type kitls_ext_groups = {
    .type = EXT_SUPPORTED_GROUPS,
    .recv_in = EXT_IN_CH | EXT_IN_EE,
    .write = write_groups,
};

static int add_share(kitls_conn *c, uint16_t group_id, struct wr *w)
{
    const struct kitls_group *g = kitls_group_find(group_id);
    uint8_t pub[KITLS_MAX_SHARE_LEN];
    size_t pub_len, n = c->hs->n_kex;
    if (!g || n == KITLS_MAX_SHARES)
        return KITLS_E_INTERNAL;
    if (kitls_group_is_hybrid(g))
        GUARD(kitls_hyb_keygen(g, &c->hs->kex[n], &c->hs->kem[n], pub, &pub_len));
    else
        GUARD(kitls_kex_keygen(g, &c->hs->kex[n], pub, &pub_len));
    c->hs->kex_group[c->hs->n_kex++] = group_id;
    wr_u16(w, group_id);
    size_t at = wr_begin(w, 2);
    wr_put(w, pub, pub_len);
    wr_end(w, at, 2);
    return 0;
}

/* Write the share we already hold for c->hs->kex[i] again (second ClientHello). */
static int put_share_again(kitls_conn *c, size_t i, struct wr *w)
{
    if (c->hs->kem[i]) {
        uint8_t pub[KITLS_MAX_SHARE_LEN];
        size_t n;
        GUARD(kitls_hyb_share(kitls_group_find(c->hs->kex_group[i]), c->hs->kex[i], c->hs->kem[i],
                              pub, &n));
        wr_u16(w, c->hs->kex_group[i]);
        size_t at = wr_begin(w, 2);
        wr_put(w, pub, n);
        wr_end(w, at, 2);
        return 0;
    }
    uint8_t *enc = NULL;
    size_t n = EVP_PKEY_get1_encoded_public_key(c->hs->kex[i], &enc);
    if (!n) {
        OPENSSL_free(enc);
        return KITLS_E_CRYPTO;
    }
    wr_u16(w, c->hs->kex_group[i]);
    size_t at = wr_begin(w, 2);
    wr_put(w, enc, n);
    wr_end(w, at, 2);
    OPENSSL_free(enc);
    return 0;
}

static int write_shares_ch(kitls_conn *c, struct ext_ctx *x)
{
    const kitls_config *cfg = c->cfg;
    struct wr *w = x->w;
    int ret = 0;
    size_t e = kitls_ext_open(c, x, EXT_KEY_SHARE);
    size_t v = wr_begin(w, 2);
    /* After a HelloRetryRequest that named a group (one we have no share
     * for), the shares are replaced by one for that group; after one that
     * did not (cookie only), they are sent unchanged (RFC 8446 §4.1.2). */
    int keep = 0;
    for (size_t i = 0; c->did_hrr && i < c->hs->n_kex; i++)
        keep |= c->hs->kex_group[i] == c->group->id;
    /* A GREASE share is one byte (RFC 8701 §3.1), in the first hello and
     * in an unchanged second one; a second hello answering a named group
     * holds that group's share only. */
    if (cfg->grease && (!c->did_hrr || keep)) {
        wr_u16(w, kitls_grease(c, KITLS_GREASE_GROUP));
        wr_u16(w, 1);
        wr_u8(w, 0);
    }
    if (keep) {
        for (size_t i = 0; !ret && i < c->hs->n_kex; i++)
            ret = put_share_again(c, i, w);
    } else if (c->did_hrr) {
        kitls_kex_free_shares(c->hs);
        ret = add_share(c, c->group->id, w);
    } else {
        for (size_t i = 0; !ret && i < cfg->n_key_shares; i++)
            ret = add_share(c, cfg->groups[i], w);
    }
    if (ret)
        return ret;
    wr_end(w, v, 2);
    wr_end(w, e, 2);
    return 0;
}

static int write_share(kitls_conn *c, struct ext_ctx *x)
{
    if (x->msg == EXT_IN_CH)
        return write_shares_ch(c, x);
    /* HelloRetryRequest: the group we want a share for; ServerHello: our
     * share, unless resuming with psk_ke (§4.2.9). */
    if (x->msg == EXT_IN_SH && !x->pub)
        return 0;
    size_t e = kitls_ext_open(c, x, EXT_KEY_SHARE);
    wr_u16(x->w, c->group->id);
    if (x->msg == EXT_IN_SH) {
        size_t v = wr_begin(x->w, 2);
        wr_put(x->w, x->pub, x->pub_len);
        wr_end(x->w, v, 2);
    }
    wr_end(x->w, e, 2);
    return 0;
}

/* HelloRetryRequest: a group we support and not one we already sent a
 * share for (§4.2.8). */
static int parse_hrr(kitls_conn *c, struct rd r)
{
    uint16_t gid;
    GUARD(rd_u16(&r, &gid));
    GUARD(rd_expect_empty(&r));
    int supported = 0;
    for (size_t i = 0; i < c->cfg->n_groups; i++)
        supported |= c->cfg->groups[i] == gid;
    for (size_t i = 0; i < c->hs->n_kex; i++)
        if (c->hs->kex_group[i] == gid)
            supported = 0;
    if (!supported)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->group = kitls_group_find(gid);
    return 0;
}

/* ServerHello: the server's share, for a group we sent one for. */
static int parse_share(kitls_conn *c, struct ext_ctx *x, struct rd r)
{
    if (x->msg == EXT_IN_CH)
        return 0; /* kitls_ext_key_share_pick() */
    if (x->msg == EXT_IN_HRR)
        return parse_hrr(c, r);
    uint16_t gid;
    GUARD(rd_u16(&r, &gid));
    GUARD(rd_sub(&r, 2, &x->share));
    GUARD(rd_expect_empty(&r));
    size_t k = 0;
    while (k < c->hs->n_kex && c->hs->kex_group[k] != gid)
        k++;
    if (k == c->hs->n_kex)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->group = kitls_group_find(gid);
    x->kex_index = k;
    x->have_share = 1;
    return 0;
}

static int share_missing(kitls_conn *c, struct ext_ctx *x)
{
    if (x->msg == EXT_IN_CH)
        return 0; /* kitls_ext_key_share_pick() */
    if (x->msg == EXT_IN_SH) {
        /* Only psk_ke, if we offered it, goes without a key share. */
        return c->res.resumed && c->cfg->psk_ke ? 0 : KITLS_E_MISSING_EXTENSION;
    }
    /* A cookie-only HRR leaves the shares as they were (§4.1.2).  A
     * client that sent none (kitls_config_set_key_shares(cfg, 0)) could
     * then never complete the key exchange: ClientHello2 would carry no
     * share either, and a second HRR is forbidden (§4.1.4).  Such an HRR
     * is unauthenticated plaintext, so refuse it here rather than let any
     * later step look up a group that was never chosen. */
    if (c->hs->n_kex == 0)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->group = kitls_group_find(c->hs->kex_group[0]);
    return 0;
}

/* The server reads the ClientHello's with kitls_ext_key_share_pick(),
 * once the suite is chosen. */
const struct ext_type kitls_ext_key_share = {
    .type = EXT_KEY_SHARE,
    .recv_in = EXT_IN_CH | EXT_IN_SH | EXT_IN_HRR,
    .write = write_share,
    .parse = parse_share,
    .if_missing = share_missing,
};

/*
 * Validate every share: its group must be in supported_groups and appear
 * once (§4.2.8; a server MAY check both, illegal_parameter).  Unknown
 * groups (GREASE, RFC 8701, or newer than us) are otherwise skipped, so
 * the number of shares is bounded only by the message size limit.  One
 * bitmap of all 2^16 group ids (8 KiB of stack, O(n)): set for each
 * supported group, cleared by the share that uses it, so a second share
 * of a group, like a share of an unlisted group, finds its bit clear.
 */
static int check_shares(struct rd groups, struct rd shares, size_t *n_shares)
{
    uint8_t ok[65536 / 8];
    memset(ok, 0, sizeof(ok));
    while (!rd_empty(&groups)) {
        uint16_t gid;
        GUARD(rd_u16(&groups, &gid));
        ok[gid >> 3] |= (uint8_t)(1u << (gid & 7));
    }
    size_t n_seen = 0;
    while (!rd_empty(&shares)) {
        uint16_t gid;
        struct rd kx;
        GUARD(rd_u16(&shares, &gid));
        GUARD(rd_sub(&shares, 2, &kx));
        if (rd_empty(&kx))
            return KITLS_E_DECODE;
        if (!(ok[gid >> 3] & (1u << (gid & 7))))
            return KITLS_E_ILLEGAL_PARAMETER;
        ok[gid >> 3] &= (uint8_t) ~(1u << (gid & 7));
        n_seen++;
    }
    *n_shares = n_seen;
    return 0;
}

/*
 * Choose the group: prefer one the client already sent a share for (no
 * extra round trip), in our order; otherwise ask for our most preferred
 * mutual group with a HelloRetryRequest.
 */
int kitls_ext_key_share_pick(kitls_conn *c, const struct ext_list *l, struct rd *share,
                             size_t *n_shares)
{
    const struct ext_entry *sg = kitls_ext_get(l, EXT_SUPPORTED_GROUPS);
    const struct ext_entry *ks = kitls_ext_get(l, EXT_KEY_SHARE);
    struct rd groups, shares, r;
    if (!sg || !ks)
        return KITLS_E_MISSING_EXTENSION;
    r = sg->data;
    GUARD(rd_sub(&r, 2, &groups));
    GUARD(rd_expect_empty(&r));
    if (rd_empty(&groups) || rd_left(&groups) % 2)
        return KITLS_E_DECODE;
    r = ks->data;
    GUARD(rd_sub(&r, 2, &shares));
    GUARD(rd_expect_empty(&r));
    GUARD(check_shares(groups, shares, n_shares));
    for (size_t i = 0; i < c->cfg->n_groups; i++) {
        uint16_t want = c->cfg->groups[i];
        if (c->did_hrr && want != c->hrr_group)
            continue;
        struct rd s = shares;
        while (!rd_empty(&s)) {
            uint16_t gid;
            struct rd kx;
            GUARD(rd_u16(&s, &gid));
            GUARD(rd_sub(&s, 2, &kx));
            if (gid == want) {
                c->group = kitls_group_find(gid);
                *share = kx;
                return 0;
            }
        }
    }
    if (c->did_hrr)
        return KITLS_E_ILLEGAL_PARAMETER; /* CH2 lacks the share we asked for */
    for (size_t i = 0; i < c->cfg->n_groups; i++)
        if (rd_has_u16(groups, c->cfg->groups[i])) {
            c->group = kitls_group_find(c->cfg->groups[i]);
            return 0; /* no share: HelloRetryRequest */
        }
    return KITLS_E_HANDSHAKE_FAILURE;
}
