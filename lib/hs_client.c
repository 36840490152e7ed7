/* Client side of the handshake: ClientHello, ServerHello/HelloRetryRequest,
 * EncryptedExtensions, CertificateRequest (RFC 8446 §4.1-4.3). */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

/* SHA-256("HelloRetryRequest"), the HRR's random (§4.1.3). */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

static int add_share(kitls_conn *c, uint16_t group_id, struct wr *w)
{
    const struct kitls_group *g = kitls_group_find(group_id);
    uint8_t pub[133];
    size_t pub_len;
    if (!g || c->hs->n_kex == KITLS_MAX_SHARES)
        return KITLS_E_INTERNAL;
    GUARD(kitls_kex_keygen(g, &c->hs->kex[c->hs->n_kex], pub, &pub_len));
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

static void ext_begin(kitls_conn *c, struct wr *w, uint16_t type, size_t *at)
{
    c->offered |= kitls_ext_bit(type);
    wr_u16(w, type);
    *at = wr_begin(w, 2);
}

/*
 * GREASE (RFC 8701): reserved values 0x?A?A (both bytes equal, §2) that a
 * peer must ignore.  One seed per place, drawn from the config's RNG when
 * the handshake starts, so that a second ClientHello (after a
 * HelloRetryRequest) carries the same values as the first.
 */
enum { G_SUITE, G_GROUP, G_EXT1, G_EXT2, G_VERSION, G_SIGALG, G_ALPN };

static uint16_t grease(const kitls_conn *c, int i)
{
    uint16_t v = (uint16_t)(((c->hs->grease[i] & 0xf0) | 0x0a) * 0x0101);
    /* The two GREASE extensions must not be duplicates (RFC 8446 §4.2). */
    if (i == G_EXT2 && v == grease(c, G_EXT1))
        v ^= 0x1010;
    return v;
}

/*
 * RFC 7685 padding: a ClientHello (message header included) of 256 to 511
 * bytes is padded to 512 with a padding extension inserted at `at`, ahead
 * of pre_shared_key, which must stay last (RFC 8446 §4.2.11); the binder
 * offset moves with it.  The extension gets at least one byte of padding
 * (513 bytes when 4 were missing), as BoringSSL does.
 */
static void pad_hello(struct wr *w, size_t msg_at, size_t at, size_t *binder_at)
{
    size_t len = w->len - msg_at;
    if (w->err || len < 256 || len >= 512)
        return;
    size_t data = 512 - len >= 5 ? 512 - len - 4 : 1;
    size_t n = 4 + data;
    if (wr_reserve(w, n))
        return;
    memmove(w->buf + at + n, w->buf + at, w->len - at);
    w->buf[at] = EXT_PADDING >> 8;
    w->buf[at + 1] = EXT_PADDING & 0xff;
    w->buf[at + 2] = (uint8_t)(data >> 8);
    w->buf[at + 3] = (uint8_t)data;
    memset(w->buf + at + 4, 0, data);
    w->len += n;
    if (*binder_at >= at)
        *binder_at += n;
}

static int send_client_hello(kitls_conn *c)
{
    const kitls_config *cfg = c->cfg;
    struct wr w = {0};
    size_t at, e, v;
    int ret = 0;
    size_t msg = kitls_hs_msg_begin(&w, HS_CLIENT_HELLO);
    wr_u16(&w, 0x0303);
    wr_put(&w, c->hs->random, 32);
    wr_u8(&w, (uint8_t)c->hs->session_id_len);
    wr_put(&w, c->hs->session_id, c->hs->session_id_len);
    int g = cfg->grease;
    at = wr_begin(&w, 2);
    if (g)
        wr_u16(&w, grease(c, G_SUITE));
    for (size_t i = 0; i < cfg->n_suites; i++)
        wr_u16(&w, cfg->suites[i]);
    wr_end(&w, at, 2);
    wr_u8(&w, 1);
    wr_u8(&w, 0); /* null compression */
    size_t exts = wr_begin(&w, 2);
    c->offered = 0;
    if (g) {
        wr_u16(&w, grease(c, G_EXT1)); /* empty */
        wr_u16(&w, 0);
    }

    if (c->sni && !c->sni_is_ip) {
        size_t n = strlen(c->sni);
        ext_begin(c, &w, EXT_SERVER_NAME, &e);
        v = wr_begin(&w, 2);
        wr_u8(&w, 0); /* host_name */
        wr_u16(&w, (uint16_t)n);
        wr_put(&w, c->sni, n);
        wr_end(&w, v, 2);
        wr_end(&w, e, 2);
    }
    ext_begin(c, &w, EXT_SUPPORTED_VERSIONS, &e);
    v = wr_begin(&w, 1);
    if (g)
        wr_u16(&w, grease(c, G_VERSION));
    wr_u16(&w, 0x0304);
    wr_end(&w, v, 1);
    wr_end(&w, e, 2);
    ext_begin(c, &w, EXT_SUPPORTED_GROUPS, &e);
    v = wr_begin(&w, 2);
    if (g)
        wr_u16(&w, grease(c, G_GROUP));
    for (size_t i = 0; i < cfg->n_groups; i++)
        wr_u16(&w, cfg->groups[i]);
    wr_end(&w, v, 2);
    wr_end(&w, e, 2);
    ext_begin(c, &w, EXT_SIGNATURE_ALGORITHMS, &e);
    v = wr_begin(&w, 2);
    if (g)
        wr_u16(&w, grease(c, G_SIGALG));
    for (size_t i = 0; i < cfg->n_sigalgs; i++)
        wr_u16(&w, cfg->sigalgs[i]);
    wr_end(&w, v, 2);
    wr_end(&w, e, 2);
    ext_begin(c, &w, EXT_KEY_SHARE, &e);
    v = wr_begin(&w, 2);
    /* After a HelloRetryRequest that named a group (one we have no share
     * for), the shares are replaced by one for that group; after one that
     * did not (cookie only), they are sent unchanged (RFC 8446 §4.1.2). */
    int keep = 0;
    for (size_t i = 0; c->did_hrr && i < c->hs->n_kex; i++)
        keep |= c->hs->kex_group[i] == c->group->id;
    /* A GREASE share is one byte (RFC 8701 §3.1), in the first hello and
     * in an unchanged second one; a second hello answering a named group
     * holds that group's share only. */
    if (g && (!c->did_hrr || keep)) {
        wr_u16(&w, grease(c, G_GROUP));
        wr_u16(&w, 1);
        wr_u8(&w, 0);
    }
    if (keep) {
        for (size_t i = 0; !ret && i < c->hs->n_kex; i++)
            ret = put_share_again(c, i, &w);
    } else if (c->did_hrr) {
        for (size_t i = 0; i < c->hs->n_kex; i++)
            EVP_PKEY_free(c->hs->kex[i]);
        c->hs->n_kex = 0;
        ret = add_share(c, c->group->id, &w);
    } else {
        for (size_t i = 0; !ret && i < cfg->n_key_shares; i++)
            ret = add_share(c, cfg->groups[i], &w);
    }
    if (ret)
        goto out;
    wr_end(&w, v, 2);
    wr_end(&w, e, 2);
    if (cfg->alpn_len) {
        ext_begin(c, &w, EXT_ALPN, &e);
        v = wr_begin(&w, 2);
        if (g) {
            wr_u8(&w, 2); /* a 2-byte reserved protocol name (RFC 8701 §2) */
            wr_u16(&w, grease(c, G_ALPN));
        }
        wr_put(&w, cfg->alpn, cfg->alpn_len);
        wr_end(&w, v, 2);
        wr_end(&w, e, 2);
    }
    if (cfg->ocsp_policy != KITLS_OCSP_OFF) {
        /* status_request: ocsp, no responder ids, no extensions. */
        ext_begin(c, &w, EXT_STATUS_REQUEST, &e);
        wr_u8(&w, 1);
        wr_u16(&w, 0);
        wr_u16(&w, 0);
        wr_end(&w, e, 2);
    }
    if (cfg->request_sct) {
        ext_begin(c, &w, EXT_SCT, &e);
        wr_end(&w, e, 2);
    }
    if (cfg->record_size_limit) {
        ext_begin(c, &w, EXT_RECORD_SIZE_LIMIT, &e);
        wr_u16(&w, cfg->record_size_limit);
        wr_end(&w, e, 2);
    }
    if (c->cookie) {
        ext_begin(c, &w, EXT_COOKIE, &e);
        v = wr_begin(&w, 2);
        wr_put(&w, c->cookie, c->cookie_len);
        wr_end(&w, v, 2);
        wr_end(&w, e, 2);
    }
    if (g) {
        wr_u16(&w, grease(c, G_EXT2)); /* one zero byte, so not both empty */
        wr_u16(&w, 1);
        wr_u8(&w, 0);
    }
    /* pre_shared_key goes last (§4.2.11); its binder covers the rest. */
    size_t pad_at = w.len;
    size_t binder_at = 0;
    c->psk_offered = 0;
    if (c->session && (ret = kitls_psk_client_write(c, &w, exts, &binder_at)) != 0)
        goto out;
    if (!c->psk_offered)
        kitls_psk_client_write_modes(c, &w);
    if (cfg->ch_padding)
        pad_hello(&w, msg - 1, pad_at, &binder_at);
    wr_end(&w, exts, 2);
    wr_end(&w, msg, 3);
    ret = w.err;
    if (!ret && c->psk_offered)
        ret = kitls_psk_client_binder(c, &w, msg - 1, binder_at);
    if (!ret)
        ret = kitls_th_update(&c->th, w.buf + msg - 1, w.len - msg + 1);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    if (!ret)
        ret = kitls_conn_hs_flush(c);
out:
    wr_free(&w);
    return ret ? ret : w.err;
}

int kitls_hs_client_start(kitls_conn *c)
{
    /* Verifying with no name to verify would accept any certificate a
     * trusted CA issued: refused unless the application opted out
     * (kitls_config_set_verify_name), before anything is sent. */
    if (c->cfg->verify != KITLS_VERIFY_NONE && c->cfg->verify_name && !c->sni) {
        kitls_conn_set_detail(c, "no server name: call kitls_conn_set_server_name() or "
                                 "kitls_config_set_verify_name(cfg, 0)");
        return KITLS_E_NO_SERVER_NAME;
    }
    GUARD(kitls_config_random(c->cfg, c->hs->random, 32));
    if (c->cfg->grease)
        GUARD(kitls_config_random(c->cfg, c->hs->grease, sizeof(c->hs->grease)));
    if (c->cfg->compat) {
        c->hs->session_id_len = 32;
        GUARD(kitls_config_random(c->cfg, c->hs->session_id, 32));
    }
    GUARD(send_client_hello(c));
    if (c->early_offered)
        GUARD(kitls_early_client_send(c));
    c->state = ST_CLIENT_WAIT_SH;
    return 0;
}

static int offered_suite(const kitls_conn *c, uint16_t id)
{
    for (size_t i = 0; i < c->cfg->n_suites; i++)
        if (c->cfg->suites[i] == id)
            return 1;
    return 0;
}

static int handle_hrr(kitls_conn *c, const struct ext_list *el)
{
    const struct ext_entry *ks = kitls_ext_get(el, EXT_KEY_SHARE);
    const struct ext_entry *ck = kitls_ext_get(el, EXT_COOKIE);
    GUARD(kitls_ext_only(c, el,
                         kitls_ext_bit(EXT_KEY_SHARE) | kitls_ext_bit(EXT_COOKIE) |
                             kitls_ext_bit(EXT_SUPPORTED_VERSIONS)));
    if (ks) {
        struct rd r = ks->data;
        uint16_t gid;
        GUARD(rd_u16(&r, &gid));
        GUARD(rd_expect_empty(&r));
        /* The group must be one we support and not one we already sent (§4.2.8). */
        int supported = 0;
        for (size_t i = 0; i < c->cfg->n_groups; i++)
            supported |= c->cfg->groups[i] == gid;
        for (size_t i = 0; i < c->hs->n_kex; i++)
            if (c->hs->kex_group[i] == gid)
                supported = 0;
        if (!supported)
            return KITLS_E_ILLEGAL_PARAMETER;
        c->group = kitls_group_find(gid);
    } else {
        /* A cookie-only HRR leaves the shares as they were (§4.1.2).  A
         * client that sent none (kitls_config_set_key_shares(cfg, 0)) could
         * then never complete the key exchange: ClientHello2 would carry no
         * share either, and a second HRR is forbidden (§4.1.4).  Such an HRR
         * is unauthenticated plaintext, so refuse it here rather than let any
         * later step look up a group that was never chosen. */
        if (c->hs->n_kex == 0)
            return KITLS_E_ILLEGAL_PARAMETER;
        c->group = kitls_group_find(c->hs->kex_group[0]);
    }
    if (ck) {
        struct rd r = ck->data, v;
        GUARD(rd_sub(&r, 2, &v));
        GUARD(rd_expect_empty(&r));
        if (rd_empty(&v))
            return KITLS_E_DECODE;
        c->cookie = malloc(rd_left(&v));
        if (!c->cookie)
            return KITLS_E_NOMEM;
        memcpy(c->cookie, v.p, rd_left(&v));
        c->cookie_len = rd_left(&v);
    }
    /* An HRR that would not change the ClientHello is illegal (§4.1.4). */
    if (!ks && !ck)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->did_hrr = 1;
    GUARD(kitls_th_set_hash(&c->th, c->suite));
    GUARD(kitls_th_hrr_rewrite(&c->th));
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    if (c->cfg->compat)
        GUARD(kitls_conn_send_ccs(c));
    if (c->early_offered) {
        /* An HRR rejects early data; ClientHello2 goes in plaintext. */
        c->early_offered = 0;
        kitls_rec_wipe(&c->tx);
    }
    return send_client_hello(c);
}

int kitls_hs_client_sh(kitls_conn *c, struct rd *b)
{
    uint16_t version, suite_id;
    const uint8_t *random;
    struct rd sid;
    uint8_t comp;
    struct ext_list el;
    GUARD(rd_u16(b, &version));
    GUARD(rd_bytes(b, 32, &random));
    GUARD(rd_sub(b, 1, &sid));
    GUARD(rd_u16(b, &suite_id));
    GUARD(rd_u8(b, &comp));
    int is_hrr = !memcmp(random, hrr_random, 32);
    /* A duplicate is decode_error in a ServerHello, illegal_parameter in a
     * HelloRetryRequest (see kitls_ext_parse). */
    GUARD(kitls_ext_parse(b, &el, is_hrr ? 0 : EXT_DUP_DECODE));
    GUARD(rd_expect_empty(b));

    const struct ext_entry *sv = kitls_ext_get(&el, EXT_SUPPORTED_VERSIONS);
    /* After a HelloRetryRequest TLS 1.3 is already negotiated: a ServerHello
     * without the version is inconsistent with it (RFC 8446 §4.1.4). */
    if (!sv)
        return c->did_hrr ? KITLS_E_ILLEGAL_PARAMETER : KITLS_E_PROTOCOL_VERSION;
    struct rd r = sv->data;
    uint16_t selected;
    GUARD(rd_u16(&r, &selected));
    GUARD(rd_expect_empty(&r));
    /* legacy_version and legacy_compression_method have one valid value
     * each (RFC 8446 §4.1.3) and no alert of their own: a value out of
     * range is decode_error (§6.2), as BoringSSL answers. */
    if (version != 0x0303 || comp != 0)
        return KITLS_E_DECODE;
    if (selected != 0x0304)
        return KITLS_E_ILLEGAL_PARAMETER; /* §4.2.1 */
    if (rd_left(&sid) != c->hs->session_id_len ||
        memcmp(sid.p, c->hs->session_id, c->hs->session_id_len))
        return KITLS_E_ILLEGAL_PARAMETER;
    if (!offered_suite(c, suite_id))
        return KITLS_E_ILLEGAL_PARAMETER;
    /* After an HRR the suite may not change (§4.1.4). */
    if (c->did_hrr && c->suite->id != suite_id)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->suite = kitls_suite_find(suite_id);
    if (is_hrr) {
        if (c->did_hrr)
            return KITLS_E_UNEXPECTED_MESSAGE;
        return handle_hrr(c, &el);
    }

    GUARD(kitls_ext_only(c, &el,
                         kitls_ext_bit(EXT_KEY_SHARE) | kitls_ext_bit(EXT_SUPPORTED_VERSIONS) |
                             kitls_ext_bit(EXT_PRE_SHARED_KEY)));
    const struct ext_entry *psk = kitls_ext_get(&el, EXT_PRE_SHARED_KEY);
    if (psk) {
        if (!c->psk_offered)
            return KITLS_E_UNSUPPORTED_EXTENSION;
        GUARD(kitls_psk_client_accept(c, psk->data));
    }
    const struct ext_entry *ks = kitls_ext_get(&el, EXT_KEY_SHARE);
    if (!ks) {
        /* Only psk_ke, if we offered it, goes without a key share. */
        if (!c->resumed || !c->cfg->psk_ke)
            return KITLS_E_MISSING_EXTENSION;
        int ret = kitls_th_set_hash(&c->th, c->suite);
        if (!ret)
            ret = kitls_th_update(&c->th, c->msg, c->msg_len);
        if (!ret)
            ret = kitls_hs_derive_hs_secrets(c, NULL, 0);
        if (ret)
            return ret;
        c->state = ST_CLIENT_WAIT_EE;
        return 0;
    }
    r = ks->data;
    uint16_t gid;
    struct rd share;
    GUARD(rd_u16(&r, &gid));
    GUARD(rd_sub(&r, 2, &share));
    GUARD(rd_expect_empty(&r));
    size_t k = 0;
    while (k < c->hs->n_kex && c->hs->kex_group[k] != gid)
        k++;
    if (k == c->hs->n_kex)
        return KITLS_E_ILLEGAL_PARAMETER;
    c->group = kitls_group_find(gid);

    uint8_t dhe[KITLS_MAX_HASH * 2];
    size_t dhe_len;
    GUARD(kitls_kex_derive(c->group, c->hs->kex[k], share.p, rd_left(&share), dhe, &dhe_len));
    int ret = kitls_th_set_hash(&c->th, c->suite);
    if (!ret)
        ret = kitls_th_update(&c->th, c->msg, c->msg_len);
    if (!ret)
        ret = kitls_hs_derive_hs_secrets(c, dhe, dhe_len);
    OPENSSL_cleanse(dhe, sizeof(dhe));
    if (ret)
        return ret;
    for (size_t i = 0; i < c->hs->n_kex; i++)
        EVP_PKEY_free(c->hs->kex[i]);
    c->hs->n_kex = 0;
    /* Middlebox compatibility: send our ChangeCipherSpec now, before any
     * record encrypted under the handshake keys, so that an alert we may
     * send while reading the server's flight also follows it (RFC 8446
     * §D.4: the CCS comes before the client's second flight, and an alert
     * would otherwise be the first encrypted record). */
    if (c->cfg->compat)
        GUARD(kitls_conn_send_ccs(c));
    c->state = ST_CLIENT_WAIT_EE;
    return 0;
}

int kitls_hs_client_ee(kitls_conn *c, struct rd *b)
{
    struct ext_list el;
    GUARD(kitls_ext_parse(b, &el, EXT_DUP_DECODE));
    GUARD(rd_expect_empty(b));
    /* Only answers to what we offered (§4.2). */
    if (el.n_unknown || (el.present & ~c->offered))
        return KITLS_E_UNSUPPORTED_EXTENSION;
    for (size_t i = 0; i < EXT_N_KNOWN; i++) {
        const struct ext_entry *x = kitls_ext_at(&el, i);
        if (!x)
            continue;
        uint16_t t = x->type;
        struct rd r = x->data;
        switch (t) {
        case EXT_SERVER_NAME:
            GUARD(rd_expect_empty(&r));
            c->sni_acked = 1;
            break;
        case EXT_SUPPORTED_GROUPS: break; /* informational (§4.2.7) */
        case EXT_EARLY_DATA:
            GUARD(rd_expect_empty(&r));
            /* The server reads our records with the early keys until
             * EndOfEarlyData (§2.3): so do alerts we send before it. */
            if (c->early_offered) {
                GUARD(kitls_rec_set_secret(&c->tx, kitls_suite_find(c->session->suite), c->hs->c_e,
                                           1));
                c->tx.seq = c->early_seq;
            }
            /* Accepted 0-RTT must resume with the session's own suite. */
            if (!c->early_offered || !c->resumed || c->suite->id != c->session->suite)
                return KITLS_E_ILLEGAL_PARAMETER;
            c->early_status = KITLS_EARLY_ACCEPTED;
            break;
        case EXT_ALPN: {
            struct rd list, name;
            GUARD(rd_sub(&r, 2, &list));
            GUARD(rd_expect_empty(&r));
            GUARD(rd_sub(&list, 1, &name));
            GUARD(rd_expect_empty(&list));
            if (rd_empty(&name))
                return KITLS_E_DECODE;
            /* It must be one we offered (RFC 7301 §3.2). */
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
            GUARD(kitls_conn_set_alpn_name(c, name.p, rd_left(&name)));
            break;
        }
        case EXT_RECORD_SIZE_LIMIT: {
            uint16_t lim;
            GUARD(rd_u16(&r, &lim));
            GUARD(rd_expect_empty(&r));
            if (lim < 64)
                return KITLS_E_ILLEGAL_PARAMETER;
            c->peer_rsl = lim;
            break;
        }
        default:
            /* Offered, but not allowed in EncryptedExtensions (§4.2). */
            return KITLS_E_ILLEGAL_PARAMETER;
        }
    }
    /* 0-RTT was sent under the session's ALPN; accepting it under another
     * is a protocol violation (§4.2.10). */
    if (c->early_status == KITLS_EARLY_ACCEPTED && strcmp(conn_alpn(c), c->session->alpn))
        return KITLS_E_ILLEGAL_PARAMETER;
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    /* A resumed handshake authenticates with the PSK: Finished is next.
     * The server is who the session's connection found it to be, no more:
     * its certificate and verdict come from the session. */
    if (c->resumed) {
        kitls_session_restore_peer(c);
        c->state = ST_CLIENT_WAIT_FIN;
        return 0;
    }
    c->state = ST_CLIENT_WAIT_CERT_CR;
    return 0;
}

/*
 * Pick our certificate's signature scheme from the server's list.  A client
 * with a certificate that cannot sign with any scheme the server accepts
 * aborts with handshake_failure rather than silently answering without a
 * certificate (the CertificateVerify algorithm MUST be one the server
 * offered, RFC 8446 §4.4.3; BoringSSL behaves the same way).
 */
static int client_pick_cert(kitls_conn *c)
{
    const kitls_config *cfg = c->cfg;
    const struct kitls_cert *cert = cfg->n_certs ? &cfg->certs[0] : NULL;
    const uint16_t *mine = cfg->n_sign_sigalgs ? cfg->sign_sigalgs : cfg->sigalgs;
    size_t n_mine = cfg->n_sign_sigalgs ? cfg->n_sign_sigalgs : cfg->n_sigalgs;
    c->cert = NULL;
    if (!cert)
        return 0;
    for (size_t i = 0; i < n_mine; i++) {
        const struct kitls_sigalg *s = kitls_sigalg_find(mine[i]);
        int peer_ok = 0;
        for (size_t j = 0; j < c->n_peer_sigalgs; j++)
            peer_ok |= c->peer_sigalgs[j] == mine[i];
        if (s && peer_ok && kitls_sig_key_matches(s, cert->key)) {
            c->cert = cert;
            c->sigalg = s->id;
            return 0;
        }
    }
    return KITLS_E_HANDSHAKE_FAILURE;
}

int kitls_hs_client_cr(kitls_conn *c, struct rd *b)
{
    struct rd ctx;
    struct ext_list el;
    GUARD(rd_sub(b, 1, &ctx));
    GUARD(kitls_ext_parse(b, &el, 0));
    GUARD(rd_expect_empty(b));
    /* During the handshake the context is empty (§4.3.2); the RFC names no
     * alert: decode_error, as BoringSSL answers. */
    if (!rd_empty(&ctx))
        return KITLS_E_DECODE;
    const struct ext_entry *sa = kitls_ext_get(&el, EXT_SIGNATURE_ALGORITHMS);
    if (!sa)
        return KITLS_E_MISSING_EXTENSION;
    GUARD(kitls_ext_parse_sigalgs(c, sa->data));
    const struct ext_entry *ca = kitls_ext_get(&el, EXT_CERTIFICATE_AUTHORITIES);
    if (ca) {
        struct rd r = ca->data, list;
        GUARD(rd_sub(&r, 2, &list));
        GUARD(rd_expect_empty(&r));
        if (rd_empty(&list))
            return KITLS_E_DECODE;
        GUARD(kitls_conn_keep(&c->peer_cas, &c->peer_cas_len, list.p, rd_left(&list)));
    }
    c->cert_requested = 1;
    GUARD(client_pick_cert(c));
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    c->state = ST_CLIENT_WAIT_CERT;
    return 0;
}
