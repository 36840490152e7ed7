/*
 * Peer certificate chain verification through libcrypto's X.509 verifier:
 * chain to the trust store, validity at the configured time, key usage and
 * extended key usage for the role, hostname or IP address against the SAN.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"

static int map_verify_error(int e)
{
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED: return KITLS_E_CERT_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID: return KITLS_E_CERT_NOT_YET_VALID;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED: return KITLS_E_CERT_UNTRUSTED;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return KITLS_E_CERT_NAME_MISMATCH;
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE: return KITLS_E_CERT_USAGE;
    case X509_V_ERR_CERT_REVOKED: return KITLS_E_CERT_REVOKED;
    default: return KITLS_E_CERT_INVALID;
    }
}

/*
 * Parsed certificates, shared by the connections of one config.  Parsing
 * is not verification: every handshake still verifies the whole chain.
 * But decoding the same DER again (libcrypto 3 decodes the public key
 * through its provider decoders, ~300 us for a P-256 leaf) is wasted work
 * when clients reconnect to the same servers.  Keyed by the exact DER
 * (a copy of it is kept): comparing the bytes costs less than hashing them.
 */
#define CERT_CACHE_SIZE 64

struct cert_cache_entry {
    uint8_t *der;
    size_t len;
    X509 *x;
};

/*
 * A chain libcrypto's verifier accepted, remembered so that a client
 * reconnecting to the same server does not build and check the same
 * chain again (kitls_config_set_verify_cache, docs/limits.md).  The key is
 * exact: vc_head() (role, hence the purpose; the trust store's
 * generation; the depth limit; the name checked) and every certificate's
 * bytes as received.  The value is what a verification yields: the chain
 * the verifier built (for OCSP and the sessions' notAfter) and the
 * intersection of its validity periods, re-checked at each hit.  Only the
 * library's verdict is cached: keyUsage, the application's callback, OCSP
 * and CertificateVerify are checked on every handshake.
 */
struct vc_val {
    int refs;
    int64_t not_before, not_after;
    STACK_OF(X509) * verified; /* leaf first, up to the anchor */
};

struct vc_entry {
    uint8_t *key; /* vc_head() || (u24 length || DER)*; NULL: free slot */
    size_t key_len, head_len;
    struct vc_val *val;
};

struct kitls_cert_cache {
    pthread_mutex_t lock;
    struct cert_cache_entry e[CERT_CACHE_SIZE];
    size_t next;
    struct vc_entry *vc; /* vc_cap slots, allocated at the first insert */
    size_t vc_cap, vc_next;
    uint64_t store_gen; /* bumped by every change of the trust store */
};

struct kitls_cert_cache *kitls_cert_cache_new(void)
{
    struct kitls_cert_cache *cc = kitls_calloc(1, sizeof(*cc));
    if (cc) {
        pthread_mutex_init(&cc->lock, NULL);
        cc->vc_cap = KITLS_VERIFY_CACHE_DEFAULT;
    }
    return cc;
}

static void vc_val_free(struct vc_val *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        sk_X509_pop_free(v->verified, X509_free);
        kitls_free(v);
    }
}

static void vc_drop(struct vc_entry *e)
{
    kitls_free(e->key);
    vc_val_free(e->val);
    memset(e, 0, sizeof(*e));
}

/* Called with the lock held (or on a cache nobody else sees). */
static void vc_flush(struct kitls_cert_cache *cc)
{
    for (size_t i = 0; cc->vc && i < cc->vc_cap; i++)
        vc_drop(&cc->vc[i]);
    kitls_free(cc->vc);
    cc->vc = NULL;
    cc->vc_next = 0;
}

void kitls_cert_cache_free(struct kitls_cert_cache *cc)
{
    if (!cc)
        return;
    for (size_t i = 0; i < CERT_CACHE_SIZE; i++) {
        X509_free(cc->e[i].x);
        kitls_free(cc->e[i].der);
    }
    vc_flush(cc);
    pthread_mutex_destroy(&cc->lock);
    kitls_free(cc);
}

void kitls_cert_cache_store_changed(struct kitls_cert_cache *cc)
{
    pthread_mutex_lock(&cc->lock);
    cc->store_gen++;
    vc_flush(cc);
    pthread_mutex_unlock(&cc->lock);
}

uint64_t kitls_cert_cache_store_gen(struct kitls_cert_cache *cc)
{
    pthread_mutex_lock(&cc->lock);
    uint64_t g = cc->store_gen;
    pthread_mutex_unlock(&cc->lock);
    return g;
}

void kitls_cert_cache_set_verify_size(struct kitls_cert_cache *cc, size_t entries)
{
    pthread_mutex_lock(&cc->lock);
    vc_flush(cc);
    cc->vc_cap = entries;
    pthread_mutex_unlock(&cc->lock);
}

#define VC_HEAD_MAX (1 + 8 + 4 + 1 + 1 + 255)

/* The key's fixed part into h; 0 when this verification is not cached
 * (cache off, no verification, or no name where one is needed). */
static size_t vc_head(const kitls_conn *c, uint8_t h[VC_HEAD_MAX], uint64_t *gen_out)
{
    const kitls_config *cfg = c->cfg;
    int name = !c->server && cfg->verify_name;
    size_t hl = name && c->ext.sni ? strlen(c->ext.sni) : 0, n = 0;
    uint64_t gen = cfg->cert_cache->store_gen;
    uint32_t depth = cfg->limits.max_cert_chain;
    *gen_out = gen;
    if (!cfg->cert_cache->vc_cap || cfg->verify == KITLS_VERIFY_NONE || (name && !c->ext.sni) ||
        hl > 255)
        return 0;
    h[n++] = (uint8_t)c->server;
    for (int i = 56; i >= 0; i -= 8)
        h[n++] = (uint8_t)(gen >> i);
    for (int i = 24; i >= 0; i -= 8)
        h[n++] = (uint8_t)(depth >> i);
    h[n++] = (uint8_t)(name ? 1 + (c->ext.sni_is_ip != 0) : 0);
    h[n++] = (uint8_t)hl;
    if (hl)
        memcpy(h + n, c->ext.sni, hl);
    return n + hl;
}

static int vc_match(const struct vc_entry *e, const uint8_t *h, size_t hn,
                    const uint8_t *const *der, const size_t *len, size_t n)
{
    if (!e->key || e->head_len != hn || memcmp(e->key, h, hn))
        return 0;
    size_t at = hn;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = e->key + at;
        if (e->key_len - at < 3 + len[i] ||
            ((size_t)k[0] << 16 | (size_t)k[1] << 8 | k[2]) != len[i] ||
            memcmp(k + 3, der[i], len[i]))
            return 0;
        at += 3 + len[i];
    }
    return at == e->key_len;
}

/* A held reference to the cached verdict for this chain, valid at now;
 * NULL: verify it.  An entry found outside its validity is dropped. */
static struct vc_val *vc_get(struct kitls_cert_cache *cc, const uint8_t *h, size_t hn,
                             const uint8_t *const *der, const size_t *len, size_t n, int64_t now)
{
    struct vc_val *v = NULL;
    pthread_mutex_lock(&cc->lock);
    for (size_t i = 0; cc->vc && i < cc->vc_cap; i++) {
        struct vc_entry *e = &cc->vc[i];
        if (!vc_match(e, h, hn, der, len, n))
            continue;
        /* Strictly inside: the boundary seconds go to the verifier. */
        if (now > e->val->not_before && now < e->val->not_after) {
            v = e->val;
            __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
        } else {
            vc_drop(e);
        }
        break;
    }
    pthread_mutex_unlock(&cc->lock);
    return v;
}

/* The certificate of der, from the cache (*cached = 1) or parsed now. */
static X509 *cert_parse(struct kitls_cert_cache *cc, const uint8_t *der, size_t len, int *cached)
{
    X509 *x = NULL;
    pthread_mutex_lock(&cc->lock);
    for (size_t i = 0; i < CERT_CACHE_SIZE && !x; i++) {
        const struct cert_cache_entry *e = &cc->e[i];
        if (e->x && e->len == len && !memcmp(e->der, der, len) && X509_up_ref(e->x))
            x = e->x;
    }
    pthread_mutex_unlock(&cc->lock);
    *cached = x != NULL;
    if (x)
        return x;
    const unsigned char *p = der;
    x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != der + len) {
        X509_free(x);
        return NULL;
    }
    /* Fill the extension cache now, before the object is shared. */
    (void)X509_get_extension_flags(x);
    uint8_t *copy = kitls_malloc(len);
    if (copy && X509_up_ref(x)) {
        memcpy(copy, der, len);
        pthread_mutex_lock(&cc->lock);
        struct cert_cache_entry *e = &cc->e[cc->next++ % CERT_CACHE_SIZE];
        X509_free(e->x);
        kitls_free(e->der);
        e->der = copy;
        e->len = len;
        e->x = x;
        copy = NULL;
        pthread_mutex_unlock(&cc->lock);
    }
    kitls_free(copy);
    return x;
}

/* t in seconds since the epoch; fail if it does not parse (the verifier
 * has rejected such a certificate before it matters). */
static int64_t asn1_secs(const ASN1_TIME *t, int64_t fail)
{
    static const struct tm epoch = {.tm_mday = 1, .tm_year = 70};
    struct tm tm;
    int days, secs;
    if (!ASN1_TIME_to_tm(t, &tm) || !OPENSSL_gmtime_diff(&days, &secs, &epoch, &tm))
        return fail;
    return (int64_t)days * 86400 + secs;
}

static int64_t not_after(const X509 *x)
{
    return asn1_secs(X509_get0_notAfter(x), INT64_MIN);
}

/* Remember that the verifier accepted this chain (a copy of the key and a
 * reference to its verified chain), unless the store changed since the
 * key was made or a validity bound does not parse. */
static void vc_put(struct kitls_cert_cache *cc, const uint8_t *h, size_t hn, uint64_t gen,
                   const uint8_t *const *der, const size_t *len, size_t n,
                   STACK_OF(X509) * verified)
{
    struct vc_val *v = kitls_calloc(1, sizeof(*v));
    size_t kl = hn;
    for (size_t i = 0; i < n; i++)
        kl += 3 + len[i];
    uint8_t *key = kitls_malloc(kl);
    if (!v || !key || !(v->verified = X509_chain_up_ref(verified)))
        goto out;
    v->refs = 1;
    v->not_before = INT64_MIN;
    v->not_after = INT64_MAX;
    for (int i = 0; i < sk_X509_num(verified); i++) {
        X509 *x = sk_X509_value(verified, i);
        int64_t nb = asn1_secs(X509_get0_notBefore(x), INT64_MAX);
        int64_t na = asn1_secs(X509_get0_notAfter(x), INT64_MIN);
        v->not_before = nb > v->not_before ? nb : v->not_before;
        v->not_after = na < v->not_after ? na : v->not_after;
    }
    memcpy(key, h, hn);
    for (size_t i = 0, at = hn; i < n; at += 3 + len[i], i++) {
        key[at] = (uint8_t)(len[i] >> 16);
        key[at + 1] = (uint8_t)(len[i] >> 8);
        key[at + 2] = (uint8_t)len[i];
        memcpy(key + at + 3, der[i], len[i]);
    }
    pthread_mutex_lock(&cc->lock);
    if (cc->store_gen == gen && v->not_before < v->not_after && cc->vc_cap &&
        (cc->vc || (cc->vc = kitls_calloc(cc->vc_cap, sizeof(*cc->vc))) != NULL)) {
        struct vc_entry *e = &cc->vc[cc->vc_next++ % cc->vc_cap];
        vc_drop(e);
        e->key = key;
        e->key_len = kl;
        e->head_len = hn;
        e->val = v;
        key = NULL;
        v = NULL;
    }
    pthread_mutex_unlock(&cc->lock);
out:
    kitls_free(key);
    if (v && !v->refs)
        v->refs = 1;
    vc_val_free(v);
}

/*
 * How long this authentication may stand in for a new one when sessions
 * carry it (RFC 8446 §4.6.1: the lifetime of the peer's certificate): the
 * earliest notAfter of the chain libcrypto verified, leaf and anchor
 * included.  Only when the library's own checks, validity among them,
 * accepted the chain: with verification off, or when the application's
 * callback accepted a chain they refused, the callback is the policy and
 * a full handshake would accept the same chain again, so the chain sets no
 * limit then (the age limit still applies, session_bind.c).
 */
static int64_t chain_not_after(const kitls_conn *c, int lib_result, X509 *leaf,
                               STACK_OF(X509) * verified)
{
    if (c->cfg->verify == KITLS_VERIFY_NONE || lib_result)
        return INT64_MAX;
    int64_t t = not_after(leaf);
    for (int i = 0; verified && i < sk_X509_num(verified); i++) {
        int64_t u = not_after(sk_X509_value(verified, i));
        t = u < t ? u : t;
    }
    return t;
}

/* The peer's chain as X509 objects (leaf first); *leaf_cached: the leaf
 * came from the cache. */
static int chain_parse(kitls_conn *c, const uint8_t *const *der, const size_t *len, size_t n,
                       STACK_OF(X509) * chain, int *leaf_cached)
{
    for (size_t i = 0; i < n; i++) {
        int cached;
        X509 *x = cert_parse(c->cfg->cert_cache, der[i], len[i], &cached);
        if (i == 0)
            *leaf_cached = cached;
        if (!x) {
            /* cert_data that is not DER X.509 cannot be decoded: decode_error
             * (RFC 8446 §6.2), as BoringSSL and OpenSSL answer. */
            kitls_conn_set_detail(c, "certificate %zu does not parse", i);
            return KITLS_E_DECODE;
        }
        if (!sk_X509_push(chain, x)) {
            X509_free(x);
            return KITLS_E_NOMEM;
        }
    }
    return 0;
}

/* Set up ctx to verify leaf by our trust policy, and the name to check. */
static int verify_setup(kitls_conn *c, X509_STORE_CTX *ctx, X509 *leaf, STACK_OF(X509) * chain,
                        int64_t now)
{
    if (!X509_STORE_CTX_init(ctx, c->cfg->store, leaf, chain))
        return KITLS_E_NOMEM;
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_STORE_CTX_set_purpose(ctx, c->server ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_time(param, (time_t)now);
    X509_VERIFY_PARAM_set_depth(param, (int)c->cfg->limits.max_cert_chain);
    /* Trust policy (docs/trust-policy.md): names only from the SAN, no
     * CN fallback (RFC 9525 §6.3); a wildcard only as the whole
     * left-most label; security level 2 for the chain (RSA/DSA >= 2048,
     * ECC >= 224 bits, no SHA-1 signature below the trust anchor),
     * matching what we accept for CertificateVerify. */
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                               X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set_auth_level(param, 2);
    /* A client checks the server's name unless the application opted
     * out (kitls_config_set_verify_name): without a name, any
     * certificate from a trusted CA would do, so that is refused
     * here too, not only before the ClientHello (RFC 9525 §6). */
    if (!c->server && c->cfg->verify_name) {
        if (!c->ext.sni) {
            kitls_conn_set_detail(c, "no server name to check the certificate against");
            return KITLS_E_NO_SERVER_NAME;
        }
        int ok = c->ext.sni_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, c->ext.sni)
                                  : X509_VERIFY_PARAM_set1_host(param, c->ext.sni, 0);
        if (!ok)
            return KITLS_E_INTERNAL;
    }
    return 0;
}

/* libcrypto's verdict on the chain in *result (0: trusted) and, when it
 * trusts it, the chain it built in *verified; a failure to verify at all
 * is the return value. */
static int verify_lib(kitls_conn *c, X509 *leaf, STACK_OF(X509) * chain, int64_t now, int *result,
                      STACK_OF(X509) * *verified)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!ctx)
        return KITLS_E_NOMEM;
    int ret = verify_setup(c, ctx, leaf, chain, now);
    if (!ret && X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        kitls_conn_set_detail(c, "%s (depth %d)", X509_verify_cert_error_string(e),
                              X509_STORE_CTX_get_error_depth(ctx));
        *result = map_verify_error(e);
    }
    if (!ret && !*result && !(*verified = X509_STORE_CTX_get1_chain(ctx)))
        ret = KITLS_E_NOMEM;
    X509_STORE_CTX_free(ctx);
    return ret;
}

/* The library's verdict on the chain in *result (0: trusted), from the
 * cache (hit) or the verifier (the chain it built in *verified); a
 * failure to verify at all is the return value. */
static int verify_leaf(kitls_conn *c, X509 *leaf, STACK_OF(X509) * chain, int64_t now,
                       const struct vc_val *hit, int *result, STACK_OF(X509) * *verified)
{
    *result = 0;
    /* TLS 1.3 signatures need digitalSignature when keyUsage is present. */
    if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE)) {
        kitls_conn_set_detail(c, "leaf keyUsage lacks digitalSignature");
        *result = KITLS_E_CERT_USAGE;
        return 0;
    }
    if (c->cfg->verify == KITLS_VERIFY_NONE)
        return 0;
    if (!hit)
        GUARD(verify_lib(c, leaf, chain, now, result, verified));
    if (!*result && !c->server)
        *result = kitls_ocsp_check(c, leaf, hit ? hit->verified : *verified);
    return 0;
}

/* Record the accepted peer: its leaf, key and how long the authentication
 * stands (sessions made from this connection carry it, session.c). */
static int peer_set(kitls_conn *c, const uint8_t *der, size_t len, X509 *leaf, EVP_PKEY *pk,
                    int64_t now, int64_t not_after)
{
    struct kitls_der *copy = kitls_der_new(der, len);
    if (!copy || !EVP_PKEY_up_ref(pk)) {
        kitls_der_free(copy);
        return KITLS_E_NOMEM;
    }
    kitls_der_free(c->peer.cert);
    c->peer.cert = copy;
    EVP_PKEY_free(c->peer.key);
    c->peer.key = pk;
    X509_free(c->peer.leaf);
    c->peer.leaf = leaf;
    X509_up_ref(leaf);
    c->peer.auth_time = now;
    c->peer.not_after = not_after;
    return 0;
}

int kitls_x509_verify_chain(kitls_conn *c, const uint8_t *const *der, const size_t *len, size_t n)
{
    STACK_OF(X509) *chain = NULL, *verified = NULL;
    struct kitls_cert_cache *cc = c->cfg->cert_cache;
    int64_t now = kitls_config_now(c->cfg);
    uint8_t head[VC_HEAD_MAX];
    uint64_t gen = 0;
    size_t hn = vc_head(c, head, &gen);
    struct vc_val *hit = hn ? vc_get(cc, head, hn, der, len, n, now) : NULL;
    int ret, result, warm = hit != NULL;
    X509 *leaf;
    if (hit) {
        leaf = sk_X509_value(hit->verified, 0);
    } else {
        if (!(chain = sk_X509_new_null()))
            return KITLS_E_NOMEM;
        if ((ret = chain_parse(c, der, len, n, chain, &warm)) != 0)
            goto out;
        leaf = sk_X509_value(chain, 0);
    }
    EVP_PKEY *pk = X509_get0_pubkey(leaf);
    ret = KITLS_E_BAD_CERTIFICATE;
    if (!pk) {
        kitls_conn_set_detail(c, "leaf public key unsupported");
        goto out;
    }
    if ((ret = verify_leaf(c, leaf, chain, now, hit, &result, &verified)) != 0)
        goto out;
    if (verified && hn)
        vc_put(cc, head, hn, gen, der, len, n, verified);
    int lib_result = result;
    if (c->cfg->verify_cb)
        result = c->cfg->verify_cb(c->cfg->verify_ctx, c, der, len, n, result);
    if (result) {
        ret = result < 0 ? result : KITLS_E_CERT_INVALID;
        goto out;
    }
    ret = peer_set(c, der[0], len[0], leaf, pk, now,
                   chain_not_after(c, lib_result, leaf, hit ? hit->verified : verified));
    c->peer.chain_cached = hit != NULL;
    c->peer.key_warm = warm;
out:
    vc_val_free(hit);
    sk_X509_pop_free(verified, X509_free);
    sk_X509_pop_free(chain, X509_free);
    ERR_clear_error();
    return ret;
}

void kitls_x509_peer_signed(kitls_conn *c)
{
    c->peer.authenticated = c->cfg->verify != KITLS_VERIFY_NONE || c->cfg->verify_cb || c->server;
}

void kitls_x509_peer_restore(kitls_conn *c, const kitls_session *s)
{
    kitls_der_free(c->peer.cert);
    c->peer.cert = kitls_der_up_ref(s->peer_cert);
    c->peer.authenticated = s->peer_auth;
    c->peer.auth_time = s->auth_time;
    c->peer.not_after = s->not_after;
}

void kitls_x509_peer_done(kitls_conn *c)
{
    /* Otherwise the certificate's verification or the resumed session
     * set it. */
    if (!c->res.resumed && !c->peer.cert)
        c->peer.auth_time = kitls_config_now(c->cfg);
}
