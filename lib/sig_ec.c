/* ECDSA CertificateVerify signatures (RFC 8446 §4.4.3) through libcrypto's EC_KEY functions. */
/*
 * EVP_PKEY_sign/verify need a context per call: EVP_PKEY_CTX_new_from_pkey
 * fetches the key manager and the signature implementation and builds a
 * provider context (~25 K instructions and 9-15 allocations per call on
 * libcrypto 3.0) around the very code the default provider then runs,
 * ECDSA_sign/ECDSA_verify on the key's EC_KEY.  An EVP_PKEY makes its
 * EC_KEY copy once and keeps it (EVP_PKEY_get0_EC_KEY), so calling that
 * code directly spares the context.  The EC_KEY functions are deprecated
 * and not dispatched through providers: only keys held by the default
 * provider take this path; keys of any other provider (FIPS, hardware
 * tokens) keep EVP (docs/limits.md).
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <string.h>

#include "internal.h"

/* key's EC_KEY if ECDSA on it may bypass EVP; NULL: use EVP.  The first
 * call for a key makes the copy (thread-safe: libcrypto locks it). */
static const EC_KEY *ec_key(EVP_PKEY *key)
{
    const OSSL_PROVIDER *p = EVP_PKEY_get0_provider(key);
    const char *name = p ? OSSL_PROVIDER_get0_name(p) : NULL;
    if (!name || strcmp(name, "default") || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return NULL;
    return EVP_PKEY_get0_EC_KEY(key);
}

int kitls_sig_ec_prepare(EVP_PKEY *key)
{
    return ec_key(key) != NULL;
}

/*
 * The DER ECDSA-Sig-Value (RFC 8446 §4.2.3, RFC 3279 §2.2.3) is written
 * and read here: ECDSA_sign/ECDSA_verify go through i2d/d2i_ECDSA_SIG,
 * whose ASN.1 template code allocates (ECDSA_verify even re-encodes the
 * parsed signature to compare), and ECDSA_size encodes a dummy signature
 * to learn the maximum length (some 20 allocations per handshake pair on
 * libcrypto 3.0).  The bytes are the same as i2d_ECDSA_SIG's.
 */
#define EC_SIG_MAX_INT 67 /* P-521's order is 66 bytes, plus a 0x00 */

/* INTEGER of the big-endian unsigned v[0..n): minimal, non-negative. */
static size_t der_int(uint8_t *out, const uint8_t *v, size_t n)
{
    size_t i = 0, pad;
    while (i + 1 < n && v[i] == 0)
        i++;
    pad = v[i] & 0x80 ? 1 : 0;
    out[0] = 0x02;
    out[1] = (uint8_t)(n - i + pad);
    out[2] = 0;
    memcpy(out + 2 + pad, v + i, n - i);
    return 2 + pad + n - i;
}

/* Wipe the BN_CTX's temporaries (BN_clear: the whole allocated words).
 * ECDSA_sign_setup takes far fewer than BN_SCRUB of them; the first call
 * grows the pool to that size once. */
#define BN_SCRUB 48
static void bn_scrub(BN_CTX *bn)
{
    BIGNUM *t;
    if (!bn)
        return;
    BN_CTX_start(bn);
    for (int i = 0; i < BN_SCRUB && (t = BN_CTX_get(bn)) != NULL; i++)
        BN_clear(t);
    BN_CTX_end(bn);
}

int kitls_sig_ec_sign(EVP_PKEY *key, const uint8_t *dgst, size_t n, uint8_t *sig, size_t *sig_len)
{
    const EC_KEY *ec = ec_key(key);
    const BIGNUM *r, *s;
    uint8_t rb[EC_SIG_MAX_INT - 1], sb[EC_SIG_MAX_INT - 1], ints[2 * (EC_SIG_MAX_INT + 2)];
    size_t ol, il, hl;
    int ret = KITLS_E_CRYPTO;
    if (!ec)
        return 0;
    /* A fresh nonce for every signature: ECDSA_sign_setup draws k uniformly
     * from [1, order) and returns k^-1 and r for this signature only.  Done
     * apart from the signing so it can use the thread's BN_CTX, whose
     * temporaries' memory is reused (ECDSA_do_sign makes a new BN_CTX and
     * ~8 allocations per signature).  Those temporaries held values
     * derived from k: they are wiped before returning (bn_scrub). */
    BIGNUM *kinv = NULL, *rp = NULL;
    BN_CTX *bn = kitls_thread_bn_ctx();
    ECDSA_SIG *es = NULL;
    if (n <= INT32_MAX && bn && ECDSA_sign_setup((EC_KEY *)ec, bn, &kinv, &rp))
        es = ECDSA_do_sign_ex(dgst, (int)n, kinv, rp, (EC_KEY *)ec);
    else if (n <= INT32_MAX && !bn) /* no thread state: libcrypto's own BN_CTX */
        es = ECDSA_do_sign(dgst, (int)n, (EC_KEY *)ec);
    BN_clear_free(kinv);
    BN_clear_free(rp);
    bn_scrub(bn);
    if (!es)
        return KITLS_E_CRYPTO;
    ECDSA_SIG_get0(es, &r, &s);
    ol = ((size_t)EC_GROUP_order_bits(EC_KEY_get0_group(ec)) + 7) / 8;
    if (ol <= sizeof(rb) && BN_bn2binpad(r, rb, (int)ol) > 0 && BN_bn2binpad(s, sb, (int)ol) > 0) {
        il = der_int(ints, rb, ol);
        il += der_int(ints + il, sb, ol);
        hl = il < 0x80 ? 2 : 3; /* DER's short or one-byte long length */
        if (hl + il <= *sig_len) {
            sig[0] = 0x30;
            sig[1] = il < 0x80 ? (uint8_t)il : 0x81;
            sig[2] = (uint8_t)il; /* overwritten by the content if short */
            memcpy(sig + hl, ints, il);
            *sig_len = hl + il;
            ret = 1;
        }
    }
    ECDSA_SIG_free(es);
    return ret;
}

/* A minimal non-negative INTEGER at der[*off..len) into v; 0 if none. */
static int der_get_int(const uint8_t *der, size_t len, size_t *off, BIGNUM *v)
{
    size_t o = *off, n;
    if (len - o < 3 || der[o] != 0x02 || (n = der[o + 1]) >= 0x80 || !n || n > len - o - 2)
        return 0;
    der += o + 2;
    /* DER: no negative value, no needless leading zero (X.690 §8.3.2). */
    if ((der[0] & 0x80) || (n > 1 && der[0] == 0 && !(der[1] & 0x80)))
        return 0;
    *off = o + 2 + n;
    return BN_bin2bn(der, (int)n, v) != NULL;
}

/* The thread's signature object (r and s overwritten per use: public
 * values), or a new one in *own; NULL if out of memory. */
static ECDSA_SIG *sig_obj(ECDSA_SIG **own)
{
    ECDSA_SIG *es = kitls_thread_ecdsa_sig();
    *own = NULL;
    if (!es)
        es = *own = ECDSA_SIG_new();
    if (es && !ECDSA_SIG_get0_r(es)) {
        BIGNUM *r = BN_new(), *s = BN_new();
        if (!r || !s || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(*own);
            return *own = NULL;
        }
    }
    return es;
}

int kitls_sig_ec_verify(EVP_PKEY *key, const uint8_t *dgst, size_t n, const uint8_t *sig,
                        size_t sig_len)
{
    const EC_KEY *ec = ec_key(key);
    ECDSA_SIG *own, *es;
    size_t off, body;
    int ok = 0;
    if (!ec)
        return 0;
    /* Only the DER encoding is accepted, as ECDSA_verify (and the
     * provider, which calls it) does by re-encoding and comparing. */
    if (sig_len < 2 || sig[0] != 0x30)
        return KITLS_E_DECRYPT_ERROR;
    off = sig[1] < 0x80 ? 2 : 3;
    body = off == 2 ? sig[1] : sig_len > 2 && sig[1] == 0x81 && sig[2] >= 0x80 ? sig[2] : 0;
    if (!body || off + body != sig_len)
        return KITLS_E_DECRYPT_ERROR;
    if (!(es = sig_obj(&own)))
        return KITLS_E_NOMEM;
    /* r and s are the object's own (get0): written in place. */
    if (der_get_int(sig, sig_len, &off, (BIGNUM *)ECDSA_SIG_get0_r(es)) &&
        der_get_int(sig, sig_len, &off, (BIGNUM *)ECDSA_SIG_get0_s(es)) && off == sig_len)
        ok = n <= INT32_MAX && ECDSA_do_verify(dgst, (int)n, es, (EC_KEY *)ec) == 1;
    ECDSA_SIG_free(own);
    return ok ? 1 : KITLS_E_DECRYPT_ERROR;
}
