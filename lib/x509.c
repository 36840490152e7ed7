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
 * when clients reconnect to the same servers.  Keyed by SHA-256 of the DER.
 */
#define CERT_CACHE_SIZE 64

struct cert_cache_entry {
    uint8_t hash[32];
    X509 *x;
};

struct kitls_cert_cache {
    pthread_mutex_t lock;
    struct cert_cache_entry e[CERT_CACHE_SIZE];
    size_t next;
};

struct kitls_cert_cache *kitls_cert_cache_new(void)
{
    struct kitls_cert_cache *cc = kitls_calloc(1, sizeof(*cc));
    if (cc)
        pthread_mutex_init(&cc->lock, NULL);
    return cc;
}

void kitls_cert_cache_free(struct kitls_cert_cache *cc)
{
    if (!cc)
        return;
    for (size_t i = 0; i < CERT_CACHE_SIZE; i++)
        X509_free(cc->e[i].x);
    pthread_mutex_destroy(&cc->lock);
    kitls_free(cc);
}

static X509 *cert_parse(struct kitls_cert_cache *cc, const uint8_t *der, size_t len)
{
    uint8_t h[32];
    X509 *x = NULL;
    if (!EVP_Digest(der, len, h, NULL, EVP_sha256(), NULL))
        return NULL;
    pthread_mutex_lock(&cc->lock);
    for (size_t i = 0; i < CERT_CACHE_SIZE && !x; i++)
        if (cc->e[i].x && !memcmp(cc->e[i].hash, h, 32) && X509_up_ref(cc->e[i].x))
            x = cc->e[i].x;
    pthread_mutex_unlock(&cc->lock);
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
    if (X509_up_ref(x)) {
        pthread_mutex_lock(&cc->lock);
        struct cert_cache_entry *e = &cc->e[cc->next++ % CERT_CACHE_SIZE];
        X509_free(e->x);
        memcpy(e->hash, h, 32);
        e->x = x;
        pthread_mutex_unlock(&cc->lock);
    }
    return x;
}

/* notAfter in seconds since the epoch; INT64_MIN if it does not parse
 * (the verifier has rejected such a certificate before it matters). */
static int64_t not_after(const X509 *x)
{
    static const struct tm epoch = {.tm_mday = 1, .tm_year = 70};
    struct tm tm;
    int days, secs;
    if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) ||
        !OPENSSL_gmtime_diff(&days, &secs, &epoch, &tm))
        return INT64_MIN;
    return (int64_t)days * 86400 + secs;
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

/* The peer's chain as X509 objects (leaf first). */
static int chain_parse(kitls_conn *c, const uint8_t *const *der, const size_t *len, size_t n,
                       STACK_OF(X509) * chain)
{
    for (size_t i = 0; i < n; i++) {
        X509 *x = cert_parse(c->cfg->cert_cache, der[i], len[i]);
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

/* The library's verdict on the chain in *result (0: trusted); a failure
 * to verify at all is the return value. */
static int verify_leaf(kitls_conn *c, X509_STORE_CTX **ctx, X509 *leaf, STACK_OF(X509) * chain,
                       int64_t now, int *result)
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
    *ctx = X509_STORE_CTX_new();
    if (!*ctx)
        return KITLS_E_NOMEM;
    GUARD(verify_setup(c, *ctx, leaf, chain, now));
    if (X509_verify_cert(*ctx) != 1) {
        int e = X509_STORE_CTX_get_error(*ctx);
        kitls_conn_set_detail(c, "%s (depth %d)", X509_verify_cert_error_string(e),
                              X509_STORE_CTX_get_error_depth(*ctx));
        *result = map_verify_error(e);
    }
    if (!*result && !c->server)
        *result = kitls_ocsp_check(c, leaf, X509_STORE_CTX_get0_chain(*ctx));
    return 0;
}

int kitls_x509_verify_chain(kitls_conn *c, const uint8_t *const *der, const size_t *len, size_t n)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE_CTX *ctx = NULL;
    int64_t now = kitls_config_now(c->cfg);
    int ret, result;
    if (!chain)
        return KITLS_E_NOMEM;
    if ((ret = chain_parse(c, der, len, n, chain)) != 0)
        goto out;
    X509 *leaf = sk_X509_value(chain, 0);
    EVP_PKEY *pk = X509_get0_pubkey(leaf);
    ret = KITLS_E_BAD_CERTIFICATE;
    if (!pk) {
        kitls_conn_set_detail(c, "leaf public key unsupported");
        goto out;
    }
    if ((ret = verify_leaf(c, &ctx, leaf, chain, now, &result)) != 0)
        goto out;
    int lib_result = result;
    if (c->cfg->verify_cb)
        result = c->cfg->verify_cb(c->cfg->verify_ctx, c, der, len, n, result);
    if (result) {
        ret = result < 0 ? result : KITLS_E_CERT_INVALID;
        goto out;
    }
    struct kitls_der *copy = kitls_der_new(der[0], len[0]);
    if (!copy || !EVP_PKEY_up_ref(pk)) {
        kitls_der_free(copy);
        ret = KITLS_E_NOMEM;
        goto out;
    }
    kitls_der_free(c->peer.cert);
    c->peer.cert = copy;
    EVP_PKEY_free(c->peer.key);
    c->peer.key = pk;
    X509_free(c->peer.leaf);
    c->peer.leaf = leaf;
    X509_up_ref(leaf);
    /* Sessions made from this connection carry both (session.c). */
    c->peer.auth_time = now;
    c->peer.not_after =
        chain_not_after(c, lib_result, leaf, ctx ? X509_STORE_CTX_get0_chain(ctx) : NULL);
out:
    X509_STORE_CTX_free(ctx);
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
