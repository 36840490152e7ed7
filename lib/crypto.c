/* (EC)DHE key exchange (RFC 8446 §4.2.8) and CertificateVerify signatures (§4.4.3). */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Per thread and group: one key-generation context (EVP_PKEY_Q_keygen
 * fetches the key manager by name and builds and initialises a context
 * for every key) and one key object that holds the peer's share for the
 * derivation (a new one costs a key-manager lookup by name each time).
 * A context is reused only for generating: each call makes a new key
 * from fresh randomness (RFC 8446 §4.2.8: no ephemeral key serves two
 * connections).  The peer key gets the next peer's share before each use
 * and is referenced by no context between uses.
 */
#define KEX_GROUPS 8

struct kex_ctxs {
    const struct kitls_group *g[KEX_GROUPS];
    EVP_PKEY_CTX *ctx[KEX_GROUPS];
    EVP_PKEY *peer[KEX_GROUPS];
    EVP_CIPHER_CTX *ticket; /* session.c's ticket sealing, re-keyed per use */
    BN_CTX *bn;             /* sig_ec.c's signing scratch (wiped after each use) */
    ECDSA_SIG *sig;         /* sig_ec.c's verification input (public values) */
};

static pthread_key_t kex_key;
static pthread_once_t kex_once = PTHREAD_ONCE_INIT;
static int kex_key_ok;

static void kex_ctxs_free(void *p)
{
    struct kex_ctxs *k = p;
    for (size_t i = 0; i < KEX_GROUPS; i++) {
        EVP_PKEY_CTX_free(k->ctx[i]);
        EVP_PKEY_free(k->peer[i]);
    }
    EVP_CIPHER_CTX_free(k->ticket);
    BN_CTX_free(k->bn);
    ECDSA_SIG_free(k->sig);
    kitls_free(k);
}

void kitls_kex_thread_free(void)
{
    struct kex_ctxs *k;
    if (!kex_key_ok || !(k = pthread_getspecific(kex_key)))
        return;
    (void)pthread_setspecific(kex_key, NULL);
    kex_ctxs_free(k);
}

static void kex_init(void)
{
    kex_key_ok = !pthread_key_create(&kex_key, kex_ctxs_free);
}

static EVP_PKEY_CTX *kex_gen_new(const struct kitls_group *g)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, g->is_ec ? "EC" : g->ossl_name, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
        (g->is_ec && EVP_PKEY_CTX_set_group_name(ctx, g->ossl_name) <= 0)) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The calling thread's contexts, or NULL. */
static struct kex_ctxs *kex_thread(void)
{
    struct kex_ctxs *k = NULL;
    pthread_once(&kex_once, kex_init);
    if (kex_key_ok && !(k = pthread_getspecific(kex_key)) &&
        (k = kitls_calloc(1, sizeof(*k))) != NULL && pthread_setspecific(kex_key, k)) {
        kitls_free(k);
        k = NULL;
    }
    return k;
}

EVP_CIPHER_CTX *kitls_ticket_cipher_ctx(EVP_CIPHER_CTX **own)
{
    struct kex_ctxs *k = kex_thread();
    *own = NULL;
    if (k && !k->ticket)
        k->ticket = EVP_CIPHER_CTX_new();
    return k && k->ticket ? k->ticket : (*own = EVP_CIPHER_CTX_new());
}

BN_CTX *kitls_thread_bn_ctx(void)
{
    struct kex_ctxs *k = kex_thread();
    if (k && !k->bn)
        k->bn = BN_CTX_secure_new();
    return k ? k->bn : NULL;
}

ECDSA_SIG *kitls_thread_ecdsa_sig(void)
{
    struct kex_ctxs *k = kex_thread();
    if (k && !k->sig)
        k->sig = ECDSA_SIG_new();
    return k ? k->sig : NULL;
}

/* The thread's slot for g (its generation context made), or NULL. */
static struct kex_ctxs *kex_slot(const struct kitls_group *g, size_t *idx)
{
    struct kex_ctxs *k = kex_thread();
    for (size_t i = 0; k && i < KEX_GROUPS; i++) {
        if (k->g[i] == g || (!k->g[i] && (k->ctx[i] = kex_gen_new(g)) != NULL)) {
            k->g[i] = g;
            *idx = i;
            return k;
        }
    }
    return NULL;
}

/* The thread's generation context for g, or NULL: *own then holds one
 * the caller frees. */
static EVP_PKEY_CTX *kex_gen_ctx(const struct kitls_group *g, EVP_PKEY_CTX **own)
{
    size_t i;
    struct kex_ctxs *k = kex_slot(g, &i);
    *own = NULL;
    return k ? k->ctx[i] : (*own = kex_gen_new(g));
}

int kitls_kex_keygen(const struct kitls_group *g, EVP_PKEY **priv, uint8_t *pub, size_t *pub_len)
{
    EVP_PKEY_CTX *own, *ctx = kex_gen_ctx(g, &own);
    EVP_PKEY *k = NULL;
    size_t n = g->share_len;
    int ok = ctx && EVP_PKEY_generate(ctx, &k) > 0;
    EVP_PKEY_CTX_free(own);
    /* pub holds at least share_len bytes (RFC 8446 §4.2.8.1-2 sizes).  The
     * encoded public key is the raw key for X25519/X448 (RFC 7748 §5), and
     * libcrypto 3.0 answers it from the key directly, where
     * EVP_PKEY_get_raw_public_key exports the whole key through an
     * OSSL_PARAM_BLD (4 allocations per key). */
    if (ok)
        ok = EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub,
                                             g->share_len, &n);
    if (!ok || n != g->share_len) {
        EVP_PKEY_free(k);
        return KITLS_E_CRYPTO;
    }
    *pub_len = n;
    *priv = k;
    return 0;
}

/* The peer's share as a key of priv's group: the thread's key object for
 * the group (*own NULL), or a new one the caller frees (*own).  (For
 * X25519, copying the parameters is cheaper than
 * EVP_PKEY_new_raw_public_key_ex's fetch.) */
static EVP_PKEY *kex_peer_key(const struct kitls_group *g, EVP_PKEY *priv, const uint8_t *peer,
                              size_t peer_len, EVP_PKEY **own)
{
    size_t i;
    struct kex_ctxs *k = kex_slot(g, &i);
    EVP_PKEY *pk = k ? k->peer[i] : NULL;
    *own = NULL;
    if (!pk) {
        pk = EVP_PKEY_new();
        if (!pk || !EVP_PKEY_copy_parameters(pk, priv)) {
            EVP_PKEY_free(pk);
            return NULL;
        }
        if (k)
            k->peer[i] = pk;
        else
            *own = pk;
    }
    /* A share that does not decode leaves no key to derive with. */
    return EVP_PKEY_set1_encoded_public_key(pk, peer, peer_len) ? pk : NULL;
}

int kitls_kex_derive(const struct kitls_group *g, EVP_PKEY *priv, const uint8_t *peer,
                     size_t peer_len, uint8_t *out, size_t *out_len)
{
    EVP_PKEY *pk, *own = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int ret = KITLS_E_ILLEGAL_PARAMETER;
    /* Only uncompressed points for the NIST curves (RFC 8446 §4.2.8.2). */
    if (peer_len != g->share_len || (g->is_ec && peer[0] != 4))
        return KITLS_E_ILLEGAL_PARAMETER;
    if (!(pk = kex_peer_key(g, priv, peer, peer_len, &own)))
        goto out;
    /* A NIST point is checked to be on the curve (RFC 8446 §4.2.8.2).  An
     * X25519 key has nothing to check (libcrypto's check only asks that a
     * public key is present, and builds a context to ask): small-order
     * points show as the all-zero output below (RFC 7748 §6.1). */
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 ||
        EVP_PKEY_derive_set_peer_ex(ctx, pk, g->is_ec) <= 0)
        goto out;
    size_t n = KITLS_MAX_HASH * 2;
    if (EVP_PKEY_derive(ctx, out, &n) <= 0)
        goto out;
    /* X25519 all-zero output means a small-order point (RFC 7748 §6.1). */
    if (!g->is_ec) {
        uint8_t acc = 0;
        for (size_t i = 0; i < n; i++)
            acc |= out[i];
        if (!acc)
            goto out;
    }
    *out_len = n;
    ret = 0;
out:
    EVP_PKEY_CTX_free(ctx); /* drops its reference to pk */
    EVP_PKEY_free(own);
    return ret;
}

/* 64 spaces || context string || 0x00 || transcript hash. */
static size_t sig_content(uint8_t *buf, int server, const uint8_t *th, size_t th_len)
{
    static const char sctx[] = "TLS 1.3, server CertificateVerify";
    static const char cctx[] = "TLS 1.3, client CertificateVerify";
    const char *c = server ? sctx : cctx;
    size_t cl = sizeof(sctx) - 1;
    memset(buf, 0x20, 64);
    memcpy(buf + 64, c, cl);
    buf[64 + cl] = 0;
    memcpy(buf + 65 + cl, th, th_len);
    return 65 + cl + th_len;
}

/*
 * PSS parameters fixed by RFC 8446 §4.2.3 for both rsa_pss_rsae_* and
 * rsa_pss_pss_*: MGF1 over the scheme's hash, salt as long as the digest.
 * Verification with RSA_PSS_SALTLEN_DIGEST accepts only that salt length,
 * so a signature made with any other salt fails (decrypt_error).
 */
static int sig_setup(const struct kitls_sigalg *s, EVP_MD_CTX *md, EVP_PKEY *key, int sign)
{
    EVP_PKEY_CTX *pctx = NULL;
    const char *mdname = s->md_name;
    int ok = sign ? EVP_DigestSignInit_ex(md, &pctx, mdname, NULL, NULL, key, NULL)
                  : EVP_DigestVerifyInit_ex(md, &pctx, mdname, NULL, NULL, key, NULL);
    if (ok <= 0)
        return KITLS_E_CRYPTO;
    if (s->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
                   EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, mdname, NULL) <= 0 ||
                   EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
        return KITLS_E_CRYPTO;
    return 0;
}

/*
 * An id-RSASSA-PSS key may restrict its use in its parameters (RFC 4055
 * §3.1): the hash, the MGF1 hash and the minimum salt length.  A scheme
 * fits a restricted key only when both hashes are the scheme's and the
 * minimum salt is at most the digest length (the salt RFC 8446 §4.2.3
 * prescribes): a key restricted to SHA-384 never signs or verifies
 * rsa_pss_pss_sha256.  libcrypto exposes the restriction as key
 * parameters (an unrestricted key has no salt length) and leaves out a
 * hash equal to the RFC 4055 default, SHA-1.
 */
static int pss_params_allow(const struct kitls_sigalg *s, EVP_PKEY *key)
{
    char md[64] = "SHA1", mgf1[64] = "SHA1";
    int min_salt = 0;
    size_t n;
    if (!EVP_PKEY_get_int_param(key, OSSL_PKEY_PARAM_RSA_PSS_SALTLEN, &min_salt))
        return 1;
    if (!s->md)
        return 0;
    (void)EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_RSA_DIGEST, md, sizeof(md), &n);
    (void)EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_RSA_MGF1_DIGEST, mgf1, sizeof(mgf1),
                                         &n);
    return EVP_MD_is_a(s->md, md) && EVP_MD_is_a(s->md, mgf1) && min_salt >= 0 &&
           min_salt <= EVP_MD_get_size(s->md);
}

/*
 * EVP_PKEY_is_a answers through a name lookup that allocates on libcrypto
 * 3.0 (a copy of the name per call).  A key with a known legacy type id
 * is of exactly that type (one key manager per type), so the id answers;
 * keys without one (other providers' types) keep the lookup.
 */
static int key_is_a(EVP_PKEY *key, const char *type)
{
    static const struct {
        const char *name;
        int id;
    } ids[] = {{"EC", EVP_PKEY_EC},
               {"RSA", EVP_PKEY_RSA},
               {"RSA-PSS", EVP_PKEY_RSA_PSS},
               {"ED25519", EVP_PKEY_ED25519}};
    int id = EVP_PKEY_get_base_id(key), known = 0;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        if (ids[i].id == id && !strcmp(ids[i].name, type))
            return 1;
        known |= ids[i].id == id;
    }
    return known ? 0 : EVP_PKEY_is_a(key, type);
}

/* The named curve of an EC key from its certificate's SubjectPublicKeyInfo
 * (RFC 5480 §2.1.1): the key manager's group-name query builds a BN_CTX
 * (3 allocations per handshake); the certificate already names the curve
 * the key was decoded with.  -1: not a named curve there (ask the key). */
static int leaf_curve(X509 *leaf, EVP_PKEY *key)
{
    X509_ALGOR *alg = NULL;
    const void *pval = NULL;
    int ptype = 0;
    if (!leaf || X509_get0_pubkey(leaf) != key ||
        !X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, X509_get_X509_PUBKEY(leaf)) || !alg)
        return -1;
    X509_ALGOR_get0(NULL, &ptype, &pval, alg);
    return ptype == V_ASN1_OBJECT && pval ? OBJ_obj2nid(pval) : -1;
}

int kitls_sig_peer_matches(const struct kitls_sigalg *s, EVP_PKEY *key, X509 *leaf)
{
    int nid, want = !s->curve                    ? NID_undef
                    : !strcmp(s->curve, "P-256") ? NID_X9_62_prime256v1
                    : !strcmp(s->curve, "P-384") ? NID_secp384r1
                                                 : NID_undef;
    if (want == NID_undef || s->cert_only || !key_is_a(key, s->key_type) ||
        (nid = leaf_curve(leaf, key)) < 0)
        return kitls_sig_key_matches(s, key);
    if (nid != want)
        return 0;
    return !s->min_bits || EVP_PKEY_get_bits(key) >= s->min_bits;
}

int kitls_sig_key_matches(const struct kitls_sigalg *s, EVP_PKEY *key)
{
    if (s->cert_only || !key_is_a(key, s->key_type))
        return 0;
    if (s->curve) {
        char name[32];
        size_t n;
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
                                            &n))
            return 0;
        const char *alt = !strcmp(s->curve, "P-256") ? "prime256v1" : "secp384r1";
        if (strcmp(name, s->curve) && strcmp(name, alt))
            return 0;
    }
    if (s->min_bits && EVP_PKEY_get_bits(key) < s->min_bits)
        return 0;
    if (key_is_a(key, "RSA-PSS") && !pss_params_allow(s, key))
        return 0;
    return 1;
}

uint32_t kitls_sig_key_mask(EVP_PKEY *key)
{
    uint32_t m = 0;
    const struct kitls_sigalg *s;
    for (size_t i = 0; i < 32 && (s = kitls_sigalg_at(i)) != NULL; i++)
        m |= (uint32_t)kitls_sig_key_matches(s, key) << i;
    return m;
}

int kitls_sig_cert_can(const struct kitls_sigalg *s, const struct kitls_cert *cert)
{
    size_t i = (size_t)(s - kitls_sigalg_at(0));
    return i < 32 && ((cert->sig_ok >> i) & 1);
}

int kitls_sig_key_usable(EVP_PKEY *key)
{
    const struct kitls_sigalg *s;
    for (size_t i = 0; (s = kitls_sigalg_at(i)) != NULL; i++)
        if (kitls_sig_key_matches(s, key))
            return 1;
    return 0;
}

int kitls_sig_keys_agree(EVP_PKEY *a, EVP_PKEY *b)
{
    const struct kitls_sigalg *s;
    for (size_t i = 0; (s = kitls_sigalg_at(i)) != NULL; i++)
        if (kitls_sig_key_matches(s, a) != kitls_sig_key_matches(s, b))
            return 0;
    return 1;
}

/*
 * The schemes with a hash sign the digest of the content (RFC 8446
 * §4.4.3): hashed here with kitls_hash, then a plain PKEY operation, which
 * spares the digest context, its provider state and the digest fetch by
 * name that EVP_DigestSign/VerifyInit make per call.  Ed25519 (PureEdDSA,
 * RFC 8032) signs the content itself.
 */
static int sig_digest(const struct kitls_sigalg *s, int server, const uint8_t *th, size_t th_len,
                      uint8_t *dgst, size_t *dgst_len)
{
    uint8_t buf[200];
    struct kitls_hash h;
    size_t n = sig_content(buf, server, th, th_len);
    GUARD(kitls_hash_init(&h, s->md));
    kitls_hash_update(&h, buf, n);
    *dgst_len = h.len;
    kitls_hash_final(&h, dgst);
    return 0;
}

static EVP_PKEY_CTX *sig_pkey_ctx(const struct kitls_sigalg *s, EVP_PKEY *key, int sign)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (!p || (sign ? EVP_PKEY_sign_init(p) : EVP_PKEY_verify_init(p)) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(p, s->md) <= 0 ||
        (s->pss && (EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) <= 0 ||
                    EVP_PKEY_CTX_set_rsa_mgf1_md(p, s->md) <= 0 ||
                    EVP_PKEY_CTX_set_rsa_pss_saltlen(p, RSA_PSS_SALTLEN_DIGEST) <= 0))) {
        EVP_PKEY_CTX_free(p);
        return NULL;
    }
    return p;
}

int kitls_sig_sign(const struct kitls_sigalg *s, EVP_PKEY *key, int server, const uint8_t *th,
                   size_t th_len, uint8_t *sig, size_t *sig_len)
{
    uint8_t buf[200];
    size_t n;
    int ret = KITLS_E_CRYPTO;
    if (s->md) {
        GUARD(sig_digest(s, server, th, th_len, buf, &n));
        if (s->curve && (ret = kitls_sig_ec_sign(key, buf, n, sig, sig_len)) != 0)
            return ret < 0 ? ret : 0;
        ret = KITLS_E_CRYPTO;
        EVP_PKEY_CTX *p = sig_pkey_ctx(s, key, 1);
        if (p && EVP_PKEY_sign(p, sig, sig_len, buf, n) > 0)
            ret = 0;
        EVP_PKEY_CTX_free(p);
        return ret;
    }
    n = sig_content(buf, server, th, th_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ret = md ? sig_setup(s, md, key, 1) : KITLS_E_NOMEM;
    if (!ret && EVP_DigestSign(md, sig, sig_len, buf, n) <= 0)
        ret = KITLS_E_CRYPTO;
    EVP_MD_CTX_free(md);
    return ret;
}

/*
 * A key seen before (warm: the peer's leaf came from a cache) verifies
 * ECDSA through its EC_KEY (sig_ec.c); a new key keeps EVP, which spares
 * a first contact the EC_KEY copy (~170 allocations on libcrypto 3.0).
 */
static int sig_verify(const struct kitls_sigalg *s, EVP_PKEY *key, int warm, int server,
                      const uint8_t *th, size_t th_len, const uint8_t *sig, size_t sig_len)
{
    uint8_t buf[200];
    size_t n;
    int ret = KITLS_E_DECRYPT_ERROR;
    if (s->md) {
        GUARD(sig_digest(s, server, th, th_len, buf, &n));
        if (warm && s->curve && (ret = kitls_sig_ec_verify(key, buf, n, sig, sig_len)) != 0)
            return ret < 0 ? ret : 0;
        ret = KITLS_E_DECRYPT_ERROR;
        EVP_PKEY_CTX *p = sig_pkey_ctx(s, key, 0);
        if (!p)
            ret = KITLS_E_CRYPTO;
        else if (EVP_PKEY_verify(p, sig, sig_len, buf, n) == 1)
            ret = 0;
        EVP_PKEY_CTX_free(p);
        return ret;
    }
    n = sig_content(buf, server, th, th_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ret = md ? sig_setup(s, md, key, 0) : KITLS_E_NOMEM;
    if (!ret && EVP_DigestVerify(md, sig, sig_len, buf, n) != 1)
        ret = KITLS_E_DECRYPT_ERROR;
    EVP_MD_CTX_free(md);
    return ret;
}

int kitls_sig_verify(const struct kitls_sigalg *s, EVP_PKEY *key, int server, const uint8_t *th,
                     size_t th_len, const uint8_t *sig, size_t sig_len)
{
    return sig_verify(s, key, 0, server, th, th_len, sig, sig_len);
}

int kitls_sig_verify_warm(const struct kitls_sigalg *s, EVP_PKEY *key, int server,
                          const uint8_t *th, size_t th_len, const uint8_t *sig, size_t sig_len)
{
    return sig_verify(s, key, 1, server, th, th_len, sig, sig_len);
}
