/* Server side of the handshake: ClientHello processing, negotiation,
 * HelloRetryRequest, and the server's flight (RFC 8446 §4.1-4.4). */
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* What we learned from one ClientHello. */
struct ch_info {
    struct rd sid, suites, exts_raw;
    struct ext_list el;
    const uint8_t *share; /* key share for the chosen group, if any */
    size_t share_len;
    size_t n_shares;
};

static int in_list(struct rd list, uint16_t id)
{
    while (rd_left(&list) >= 2) {
        uint16_t v;
        (void)rd_u16(&list, &v);
        if (v == id)
            return 1;
    }
    return 0;
}

static int pick_suite(kitls_conn *c, struct rd offered, uint16_t prefer)
{
    const kitls_config *cfg = c->cfg;
    if (rd_empty(&offered) || rd_left(&offered) % 2)
        return KITLS_E_DECODE;
    for (size_t i = 0; prefer && i < cfg->n_suites; i++)
        if (cfg->suites[i] == prefer && in_list(offered, prefer)) {
            c->suite = kitls_suite_find(prefer);
            return 0;
        }
    if (cfg->server_pref) {
        for (size_t i = 0; i < cfg->n_suites; i++)
            if (in_list(offered, cfg->suites[i])) {
                c->suite = kitls_suite_find(cfg->suites[i]);
                return 0;
            }
    } else {
        while (!rd_empty(&offered)) {
            uint16_t v;
            GUARD(rd_u16(&offered, &v));
            for (size_t i = 0; i < cfg->n_suites; i++)
                if (cfg->suites[i] == v) {
                    c->suite = kitls_suite_find(v);
                    return 0;
                }
        }
    }
    return KITLS_E_HANDSHAKE_FAILURE;
}

/*
 * Choose the group: prefer one the client already sent a share for (no
 * extra round trip), in our order; otherwise ask for our most preferred
 * mutual group with a HelloRetryRequest.
 */
static int pick_group(kitls_conn *c, struct ch_info *ch)
{
    const struct ext_entry *sg = kitls_ext_get(&ch->el, EXT_SUPPORTED_GROUPS);
    const struct ext_entry *ks = kitls_ext_get(&ch->el, EXT_KEY_SHARE);
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

    /* Validate every share: its group must be in supported_groups and
     * appear once (§4.2.8; a server MAY check both, illegal_parameter).
     * Unknown groups (GREASE, RFC 8701, or newer than us) are otherwise
     * skipped, so the number of shares is bounded only by the message
     * size limit.  One bitmap of all 2^16 group ids (8 KiB of stack, O(n)):
     * set for each supported group, cleared by the share that uses it, so
     * a second share of a group, like a share of an unlisted group, finds
     * its bit clear. */
    uint8_t ok[65536 / 8];
    memset(ok, 0, sizeof(ok));
    struct rd s = groups;
    while (!rd_empty(&s)) {
        uint16_t gid;
        GUARD(rd_u16(&s, &gid));
        ok[gid >> 3] |= (uint8_t)(1u << (gid & 7));
    }
    size_t n_seen = 0;
    s = shares;
    while (!rd_empty(&s)) {
        uint16_t gid;
        struct rd kx;
        GUARD(rd_u16(&s, &gid));
        GUARD(rd_sub(&s, 2, &kx));
        if (rd_empty(&kx))
            return KITLS_E_DECODE;
        if (!(ok[gid >> 3] & (1u << (gid & 7))))
            return KITLS_E_ILLEGAL_PARAMETER;
        ok[gid >> 3] &= (uint8_t) ~(1u << (gid & 7));
        n_seen++;
    }
    ch->n_shares = n_seen;

    for (size_t i = 0; i < c->cfg->n_groups; i++) {
        uint16_t want = c->cfg->groups[i];
        if (c->did_hrr && want != c->hrr_group)
            continue;
        s = shares;
        while (!rd_empty(&s)) {
            uint16_t gid;
            struct rd kx;
            GUARD(rd_u16(&s, &gid));
            GUARD(rd_sub(&s, 2, &kx));
            if (gid == want) {
                c->group = kitls_group_find(gid);
                ch->share = kx.p;
                ch->share_len = rd_left(&kx);
                return 0;
            }
        }
    }
    if (c->did_hrr)
        return KITLS_E_ILLEGAL_PARAMETER; /* CH2 lacks the share we asked for */
    for (size_t i = 0; i < c->cfg->n_groups; i++)
        if (in_list(groups, c->cfg->groups[i])) {
            c->group = kitls_group_find(c->cfg->groups[i]);
            return 0; /* no share: HelloRetryRequest */
        }
    return KITLS_E_HANDSHAKE_FAILURE;
}

static int cert_matches_name(const struct kitls_cert *cert, const char *name)
{
    return name && X509_check_host(cert->leaf, name, 0, 0, NULL) == 1;
}

/* Certificate and signature scheme: first cert (SNI-matching ones first)
 * with a scheme both sides accept, in our preference order. */
/* Does any certificate of the chain name an issuer the client listed in
 * certificate_authorities (RFC 8446 §4.2.4)? */
static int cert_matches_ca(const struct kitls_cert *cert, struct rd cas)
{
    int match = 0;
    for (size_t i = 0; i < cert->n && !match; i++) {
        const unsigned char *p = cert->der[i];
        X509 *x = d2i_X509(NULL, &p, (long)cert->der_len[i]);
        const X509_NAME *issuer = x ? X509_get_issuer_name(x) : NULL;
        struct rd l = cas;
        while (issuer && !match && !rd_empty(&l)) {
            struct rd dn;
            if (rd_sub(&l, 2, &dn))
                break;
            const unsigned char *q = dn.p;
            X509_NAME *n = d2i_X509_NAME(NULL, &q, (long)rd_left(&dn));
            match = n && !X509_NAME_cmp(n, issuer);
            X509_NAME_free(n);
        }
        X509_free(x);
    }
    return match;
}

/* The first of our schemes for `cert` that the peer accepts, or NULL. */
static const struct kitls_sigalg *cert_sigalg(const kitls_conn *c, const struct kitls_cert *cert)
{
    const kitls_config *cfg = c->cfg;
    const uint16_t *mine = cfg->n_sign_sigalgs ? cfg->sign_sigalgs : cfg->sigalgs;
    size_t n_mine = cfg->n_sign_sigalgs ? cfg->n_sign_sigalgs : cfg->n_sigalgs;
    for (size_t i = 0; i < n_mine; i++) {
        const struct kitls_sigalg *s = kitls_sigalg_find(mine[i]);
        int peer_ok = 0;
        for (size_t j = 0; j < c->n_peer_sigalgs; j++)
            peer_ok |= c->peer_sigalgs[j] == mine[i];
        if (s && peer_ok && kitls_sig_key_matches(s, cert->key))
            return s;
    }
    return NULL;
}

/*
 * Certificate selection, deterministic: the application's callback if it
 * names one; otherwise, among certificates with a signature scheme the
 * client accepts, the best by (matches SNI, chains to a CA the client
 * listed), ties broken by the order the certificates were added.
 */
static int pick_cert(kitls_conn *c, const struct ch_info *ch)
{
    const kitls_config *cfg = c->cfg;
    const struct kitls_sigalg *best_s = NULL;
    int best = -1, best_score = -1;
    if (cfg->cert_cb) {
        int k = cfg->cert_cb(cfg->cert_ctx, c, c->sni, c->peer_sigalgs, c->n_peer_sigalgs);
        if (k >= 0) {
            if ((size_t)k >= cfg->n_certs || !(best_s = cert_sigalg(c, &cfg->certs[k])))
                return KITLS_E_HANDSHAKE_FAILURE;
            c->cert = &cfg->certs[k];
            c->sigalg = best_s->id;
            return 0;
        }
    }
    struct rd cas = {NULL, NULL};
    const struct ext_entry *ca = kitls_ext_get(&ch->el, EXT_CERTIFICATE_AUTHORITIES);
    if (ca) {
        struct rd r = ca->data;
        GUARD(rd_sub(&r, 2, &cas));
        GUARD(rd_expect_empty(&r));
        if (rd_empty(&cas))
            return KITLS_E_DECODE;
    }
    for (size_t k = 0; k < cfg->n_certs; k++) {
        const struct kitls_cert *cert = &cfg->certs[k];
        const struct kitls_sigalg *s = cert_sigalg(c, cert);
        if (!s)
            continue;
        int score = 2 * cert_matches_name(cert, c->sni) + (ca && cert_matches_ca(cert, cas));
        if (score > best_score) {
            best = (int)k;
            best_score = score;
            best_s = s;
        }
    }
    if (best < 0)
        return cfg->n_certs ? KITLS_E_HANDSHAKE_FAILURE : KITLS_E_CONFIG;
    c->cert = &cfg->certs[best];
    c->sigalg = best_s->id;
    return 0;
}

static int parse_sni(kitls_conn *c, struct rd r)
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
    if (c->did_hrr && c->sni)
        return 0; /* already have it from CH1 */
    c->sni = malloc(rd_left(&name) + 1);
    if (!c->sni)
        return KITLS_E_NOMEM;
    memcpy(c->sni, name.p, rd_left(&name));
    c->sni[rd_left(&name)] = 0;
    return 0;
}

static int parse_alpn(kitls_conn *c, struct rd r)
{
    struct rd list;
    GUARD(rd_sub(&r, 2, &list));
    GUARD(rd_expect_empty(&r));
    if (rd_empty(&list))
        return KITLS_E_DECODE;
    GUARD(kitls_conn_keep(&c->peer_alpn, &c->peer_alpn_len, list.p, rd_left(&list)));
    struct rd l = list;
    while (!rd_empty(&l)) {
        struct rd p;
        GUARD(rd_sub(&l, 1, &p));
        if (rd_empty(&p))
            return KITLS_E_DECODE;
    }
    if (!c->cfg->alpn_len)
        return 0;
    free(c->alpn);
    c->alpn = NULL;
    struct rd ours;
    rd_init(&ours, c->cfg->alpn, c->cfg->alpn_len);
    while (!rd_empty(&ours)) {
        struct rd p;
        GUARD(rd_sub(&ours, 1, &p));
        l = list;
        while (!rd_empty(&l)) {
            struct rd q;
            GUARD(rd_sub(&l, 1, &q));
            if (rd_left(&p) == rd_left(&q) && !memcmp(p.p, q.p, rd_left(&p))) {
                return kitls_conn_set_alpn_name(c, p.p, rd_left(&p));
            }
        }
    }
    return KITLS_E_NO_APPLICATION_PROTOCOL;
}

static int parse_client_hello(kitls_conn *c, struct rd *b, struct ch_info *ch)
{
    uint16_t version;
    const uint8_t *random;
    struct rd comp;
    GUARD(rd_u16(b, &version));
    GUARD(rd_bytes(b, 32, &random));
    GUARD(rd_sub(b, 1, &ch->sid));
    GUARD(rd_sub(b, 2, &ch->suites));
    GUARD(rd_sub(b, 1, &comp));
    GUARD(kitls_ext_parse(b, &ch->el, EXT_ALLOW_EMPTY | EXT_DUP_DECODE));
    GUARD(rd_expect_empty(b));
    if (rd_left(&ch->sid) > 32)
        return KITLS_E_DECODE;
    const struct ext_entry *sv = kitls_ext_get(&ch->el, EXT_SUPPORTED_VERSIONS);
    if (!sv)
        return KITLS_E_PROTOCOL_VERSION;
    struct rd r = sv->data, vers;
    GUARD(rd_sub(&r, 1, &vers));
    GUARD(rd_expect_empty(&r));
    if (rd_empty(&vers) || rd_left(&vers) % 2)
        return KITLS_E_DECODE;
    if (!in_list(vers, 0x0304))
        return KITLS_E_PROTOCOL_VERSION;
    /* TLS 1.3 ClientHellos carry exactly the null compression method. */
    if (rd_left(&comp) != 1 || comp.p[0] != 0)
        return KITLS_E_ILLEGAL_PARAMETER;
    if (version < 0x0303)
        return KITLS_E_PROTOCOL_VERSION;
    /* pre_shared_key, if present, must be last (§4.2.11). */
    if (kitls_ext_get(&ch->el, EXT_PRE_SHARED_KEY) && ch->el.last != EXT_PRE_SHARED_KEY)
        return KITLS_E_ILLEGAL_PARAMETER;
    if (c->did_hrr) {
        if (rd_left(&ch->sid) != c->hs->session_id_len ||
            memcmp(ch->sid.p, c->hs->session_id, c->hs->session_id_len))
            return KITLS_E_ILLEGAL_PARAMETER;
    } else {
        memcpy(c->hs->session_id, ch->sid.p, rd_left(&ch->sid));
        c->hs->session_id_len = rd_left(&ch->sid);
    }
    return 0;
}

static int negotiate(kitls_conn *c, struct ch_info *ch)
{
    const struct kitls_suite *prev = c->suite;
    /* With 0-RTT on offer, the ticket's own suite keeps the early data
     * acceptable (§4.2.10), so it wins over our preference order. */
    uint16_t prefer = 0;
    const struct ext_entry *psk_ext = kitls_ext_get(&ch->el, EXT_PRE_SHARED_KEY);
    if (psk_ext && c->cfg->early_max && !c->did_hrr && kitls_ext_get(&ch->el, EXT_EARLY_DATA))
        prefer = kitls_psk_server_ticket_suite(c, psk_ext->data);
    GUARD(pick_suite(c, ch->suites, prefer));
    if (prev && prev != c->suite)
        return KITLS_E_ILLEGAL_PARAMETER;
    for (size_t i = 0; i < EXT_N_KNOWN; i++) {
        const struct ext_entry *x = kitls_ext_at(&ch->el, i);
        if (!x)
            continue;
        struct rd d = x->data;
        switch (x->type) {
        case EXT_SERVER_NAME: GUARD(parse_sni(c, d)); break;
        case EXT_SIGNATURE_ALGORITHMS: GUARD(kitls_ext_parse_sigalgs(c, d)); break;
        case EXT_SCT:
            GUARD(rd_expect_empty(&d));
            c->sct_requested = 1;
            break;
        case EXT_STATUS_REQUEST: {
            /* CertificateStatusRequest (RFC 6066 §8): only ocsp is known. */
            uint8_t type;
            struct rd ids, exts;
            GUARD(rd_u8(&d, &type));
            if (type == 1) {
                GUARD(rd_sub(&d, 2, &ids));
                GUARD(rd_sub(&d, 2, &exts));
                GUARD(rd_expect_empty(&d));
                c->status_requested = 1;
            }
            break;
        }
        case EXT_ALPN: GUARD(parse_alpn(c, d)); break;
        case EXT_RECORD_SIZE_LIMIT: {
            uint16_t lim;
            GUARD(rd_u16(&d, &lim));
            GUARD(rd_expect_empty(&d));
            if (lim < 64)
                return KITLS_E_ILLEGAL_PARAMETER;
            c->peer_rsl = lim;
            break;
        }
        case EXT_COOKIE: {
            struct rd v;
            GUARD(rd_sub(&d, 2, &v));
            GUARD(rd_expect_empty(&d));
            if (!c->cookie || rd_left(&v) != c->cookie_len ||
                CRYPTO_memcmp(v.p, c->cookie, c->cookie_len))
                return KITLS_E_ILLEGAL_PARAMETER;
            break;
        }
        default: break; /* unknown extensions are ignored (§4.1.2) */
        }
    }
    if (c->cookie && !kitls_ext_get(&ch->el, EXT_COOKIE))
        return KITLS_E_ILLEGAL_PARAMETER;
    /* early_data never comes in ClientHello2 (§4.2.10). */
    if (kitls_ext_get(&ch->el, EXT_EARLY_DATA)) {
        if (c->did_hrr)
            return KITLS_E_ILLEGAL_PARAMETER;
        c->early_offered = 1;
    }
    /* signature_algorithms is required without pre_shared_key (§9.2), and
     * it only matters when we sign with a certificate (§4.2.3): with a
     * PSK, its absence is judged once we know whether we resume. */
    const struct ext_entry *psk = kitls_ext_get(&ch->el, EXT_PRE_SHARED_KEY);
    int have_sigalgs = kitls_ext_get(&ch->el, EXT_SIGNATURE_ALGORITHMS) != NULL;
    if (!psk && !have_sigalgs)
        return KITLS_E_MISSING_EXTENSION;
    GUARD(pick_group(c, ch));
    const struct ext_entry *m = kitls_ext_get(&ch->el, EXT_PSK_KEY_EXCHANGE_MODES);
    struct rd modes = {0};
    c->ticket_modes_ok = 0;
    if (m) {
        struct rd r = m->data, t;
        GUARD(rd_sub(&r, 1, &modes));
        GUARD(rd_expect_empty(&r));
        if (rd_empty(&modes))
            return KITLS_E_DECODE;
        /* Tickets only for a client that can use them (§4.2.9: servers
         * SHOULD NOT send tickets incompatible with the offered modes). */
        for (t = modes; !rd_empty(&t);) {
            uint8_t mode;
            GUARD(rd_u8(&t, &mode));
            if (mode == 1 || (mode == 0 && c->cfg->psk_ke))
                c->ticket_modes_ok = 1;
        }
    }
    if (psk) {
        if (!m)
            return KITLS_E_MISSING_EXTENSION; /* §4.2.9 */
        /* The PSK is judged on the ClientHello we answer with a ServerHello. */
        if (ch->share) {
            GUARD(kitls_psk_server_check(c, psk->data, &modes));
        } else if (!c->did_hrr && c->cfg->n_tickets) {
            /* Answered with a HelloRetryRequest: note whether the PSK fits
             * the suite we picked, since then ClientHello2 must offer it
             * again (§4.1.2 lets the client drop only incompatible PSKs). */
            const struct kitls_suite *ts =
                kitls_suite_find(kitls_psk_server_ticket_suite(c, psk->data));
            c->hrr_psk_kept = ts && ts->md == c->suite->md;
        }
    } else if (c->did_hrr && c->hrr_psk_kept) {
        return KITLS_E_ILLEGAL_PARAMETER;
    }
    /* Resuming, or a HelloRetryRequest whose ClientHello2 will likely
     * resume (its ticket opens and fits the suite): no certificate. */
    if (c->resumed || (!ch->share && c->hrr_psk_kept))
        return 0;
    /* A full handshake: we sign, so the client's schemes are needed. */
    if (!have_sigalgs)
        return KITLS_E_MISSING_EXTENSION;
    if (!c->n_peer_sigalgs)
        return KITLS_E_HANDSHAKE_FAILURE;
    return pick_cert(c, ch);
}

static void put_sh_head(kitls_conn *c, struct wr *w, const uint8_t *random)
{
    wr_u16(w, 0x0303);
    wr_put(w, random, 32);
    wr_u8(w, (uint8_t)c->hs->session_id_len);
    wr_put(w, c->hs->session_id, c->hs->session_id_len);
    wr_u16(w, c->suite->id);
    wr_u8(w, 0);
}

/* Close a ServerHello or HelloRetryRequest, send it in plaintext, and
 * follow it with the dummy ChangeCipherSpec of middlebox compatibility:
 * whatever the client's session id (RFC 8446 §D.4; every client must drop
 * it, §5).  Frees w. */
static int finish_sh(kitls_conn *c, struct wr *w, size_t at)
{
    int ret = kitls_hs_msg_end(c, w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w->buf, w->len);
    if (!ret)
        ret = kitls_conn_hs_flush(c);
    if (!ret && (c->hs->session_id_len || c->cfg->compat))
        ret = kitls_conn_send_ccs(c);
    wr_free(w);
    return ret;
}

static int send_hrr(kitls_conn *c)
{
    struct wr w = {0};
    int ret;
    GUARD(kitls_th_set_hash(&c->th, c->suite));
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    GUARD(kitls_th_hrr_rewrite(&c->th));
    if (c->cfg->hrr_cookie) {
        /* The cookie binds the HRR to this ClientHello; we keep state, so
         * it only has to be unpredictable and echoed verbatim. */
        uint8_t th[KITLS_MAX_HASH];
        GUARD(kitls_th_current(&c->th, th));
        c->cookie = malloc(c->suite->hash_len);
        if (!c->cookie)
            return KITLS_E_NOMEM;
        c->cookie_len = c->suite->hash_len;
        GUARD(kitls_hmac(c->suite->md, c->cfg->cookie_key, sizeof(c->cfg->cookie_key), th,
                         c->suite->hash_len, c->cookie));
    }
    size_t at = kitls_hs_msg_begin(&w, HS_SERVER_HELLO);
    put_sh_head(c, &w, hrr_random);
    size_t exts = wr_begin(&w, 2);
    wr_u16(&w, EXT_SUPPORTED_VERSIONS);
    wr_u16(&w, 2);
    wr_u16(&w, 0x0304);
    wr_u16(&w, EXT_KEY_SHARE);
    wr_u16(&w, 2);
    wr_u16(&w, c->group->id);
    if (c->cookie) {
        wr_u16(&w, EXT_COOKIE);
        wr_u16(&w, (uint16_t)(c->cookie_len + 2));
        wr_u16(&w, (uint16_t)c->cookie_len);
        wr_put(&w, c->cookie, c->cookie_len);
    }
    wr_end(&w, exts, 2);
    ret = finish_sh(c, &w, at);
    c->did_hrr = 1;
    c->hrr_group = c->group->id;
    if (c->early_offered) {
        /* Early data the client sent with ClientHello1 is skipped, up to
         * ClientHello2 only (§4.2.10).  The HRR settles the offer: nothing
         * after ClientHello2 may re-arm the skip budget, and every record
         * that then fails to decrypt is bad_record_mac (§5.2). */
        c->early_status = KITLS_EARLY_REJECTED;
        c->skip_early = c->cfg->early_max > 16384 ? c->cfg->early_max : 16384;
        c->early_offered = 0;
    }
    return ret;
}

static int send_sh(kitls_conn *c, struct ch_info *ch, uint8_t *dhe, size_t *dhe_len)
{
    uint8_t pub[133];
    size_t pub_len = 0;
    struct wr w = {0};
    EVP_PKEY *priv = NULL;
    int ret = 0, use_dhe = !c->resumed || c->psk_dhe;
    if (use_dhe) {
        GUARD(kitls_kex_keygen(c->group, &priv, pub, &pub_len));
        ret = kitls_kex_derive(c->group, priv, ch->share, ch->share_len, dhe, dhe_len);
        EVP_PKEY_free(priv);
        if (ret)
            return ret;
    }
    GUARD(kitls_config_random(c->cfg, c->hs->random, 32));
    size_t at = kitls_hs_msg_begin(&w, HS_SERVER_HELLO);
    put_sh_head(c, &w, c->hs->random);
    size_t exts = wr_begin(&w, 2);
    wr_u16(&w, EXT_SUPPORTED_VERSIONS);
    wr_u16(&w, 2);
    wr_u16(&w, 0x0304);
    if (use_dhe) {
        wr_u16(&w, EXT_KEY_SHARE);
        size_t e = wr_begin(&w, 2);
        wr_u16(&w, c->group->id);
        size_t v = wr_begin(&w, 2);
        wr_put(&w, pub, pub_len);
        wr_end(&w, v, 2);
        wr_end(&w, e, 2);
    }
    if (c->resumed) {
        wr_u16(&w, EXT_PRE_SHARED_KEY);
        wr_u16(&w, 2);
        wr_u16(&w, 0); /* selected_identity: we only try the first */
    }
    wr_end(&w, exts, 2);
    ret = finish_sh(c, &w, at);
    return ret;
}

static int send_ee(kitls_conn *c, const struct ch_info *ch)
{
    struct wr w = {0};
    size_t at = kitls_hs_msg_begin(&w, HS_ENCRYPTED_EXTENSIONS);
    size_t exts = wr_begin(&w, 2);
    if (c->sni) {
        wr_u16(&w, EXT_SERVER_NAME);
        wr_u16(&w, 0);
    }
    if (c->alpn) {
        size_t n = strlen(c->alpn);
        wr_u16(&w, EXT_ALPN);
        wr_u16(&w, (uint16_t)(n + 3));
        wr_u16(&w, (uint16_t)(n + 1));
        wr_u8(&w, (uint8_t)n);
        wr_put(&w, c->alpn, n);
    }
    if (c->early_status == KITLS_EARLY_ACCEPTED) {
        wr_u16(&w, EXT_EARLY_DATA);
        wr_u16(&w, 0);
    }
    if (c->cfg->record_size_limit && kitls_ext_get(&ch->el, EXT_RECORD_SIZE_LIMIT)) {
        wr_u16(&w, EXT_RECORD_SIZE_LIMIT);
        wr_u16(&w, 2);
        wr_u16(&w, c->cfg->record_size_limit);
    }
    wr_end(&w, exts, 2);
    int ret = kitls_hs_msg_end(c, &w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    wr_free(&w);
    return ret;
}

static int send_cr(kitls_conn *c)
{
    struct wr w = {0};
    size_t at = kitls_hs_msg_begin(&w, HS_CERTIFICATE_REQUEST);
    wr_u8(&w, 0); /* empty certificate_request_context */
    size_t exts = wr_begin(&w, 2);
    wr_u16(&w, EXT_SIGNATURE_ALGORITHMS);
    size_t e = wr_begin(&w, 2);
    kitls_ext_write_sigalgs(c, &w);
    wr_end(&w, e, 2);
    if (c->cfg->send_ca_names) {
        /* certificate_authorities: our trust anchors' subjects (§4.2.4).
         * authorities<3..2^16-1> cannot be empty: with no anchor, the
         * extension is left out. */
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(c->cfg->store);
        size_t ext_at = w.len;
        wr_u16(&w, EXT_CERTIFICATE_AUTHORITIES);
        e = wr_begin(&w, 2);
        size_t list = wr_begin(&w, 2);
        int names = 0;
        for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
            X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
            unsigned char *der = NULL;
            int n = x ? i2d_X509_NAME(X509_get_subject_name(x), &der) : 0;
            if (n > 0) {
                wr_u16(&w, (uint16_t)n);
                wr_put(&w, der, (size_t)n);
                names++;
            }
            OPENSSL_free(der);
        }
        wr_end(&w, list, 2);
        wr_end(&w, e, 2);
        if (!names)
            w.len = ext_at;
    }
    wr_end(&w, exts, 2);
    int ret = kitls_hs_msg_end(c, &w, at);
    if (!ret)
        ret = kitls_conn_hs_queue(c, w.buf, w.len);
    wr_free(&w);
    c->cert_requested = 1;
    return ret;
}

int kitls_hs_server_ch(kitls_conn *c, struct rd *b)
{
    struct ch_info ch;
    memset(&ch, 0, sizeof(ch));
    GUARD(parse_client_hello(c, b, &ch));
    GUARD(negotiate(c, &ch));
    if (!ch.share) {
        /* The key share we need is missing: ask for it (§4.1.4). */
        return send_hrr(c);
    }
    if (c->did_hrr && ch.n_shares != 1)
        return KITLS_E_ILLEGAL_PARAMETER;
    GUARD(kitls_th_set_hash(&c->th, c->suite));
    GUARD(kitls_th_update(&c->th, c->msg, c->msg_len));
    GUARD(kitls_early_server_decide(c));

    uint8_t dhe[KITLS_MAX_HASH * 2];
    size_t dhe_len = 0;
    int ret = send_sh(c, &ch, dhe, &dhe_len);
    if (!ret)
        ret = kitls_hs_derive_hs_secrets(c, dhe, dhe_len);
    OPENSSL_cleanse(dhe, sizeof(dhe));
    if (ret)
        return ret;
    GUARD(send_ee(c, &ch));
    if (!c->resumed) {
        /* PSK handshakes carry no certificates (§4.3.2, §4.4.2). */
        if (c->cfg->verify != KITLS_VERIFY_NONE)
            GUARD(send_cr(c));
        GUARD(kitls_hs_send_cert(c));
        GUARD(kitls_hs_send_cv(c));
    }
    GUARD(kitls_hs_send_fin(c));
    GUARD(kitls_conn_hs_flush(c));
    GUARD(kitls_hs_derive_app_secrets(c));
    GUARD(kitls_rec_set_secret(&c->tx, c->suite, c->hs->s_ap, 1));
    c->state = c->cert_requested ? ST_SERVER_WAIT_CERT : ST_SERVER_WAIT_FIN;
    if (c->early_status == KITLS_EARLY_ACCEPTED) {
        GUARD(kitls_rec_set_secret(&c->rx, c->suite, c->hs->c_e, 0));
        c->state = ST_SERVER_WAIT_EOED;
    }
    return 0;
}
