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

int kitls_sig_ec_sign(EVP_PKEY *key, const uint8_t *dgst, size_t n, uint8_t *sig, size_t *sig_len)
{
    const EC_KEY *ec = ec_key(key);
    unsigned int len = 0;
    if (!ec)
        return 0;
    /* ECDSA_sign writes up to ECDSA_size bytes (a DER ECDSA-Sig-Value,
     * RFC 8446 §4.2.3) and draws a fresh nonce for every signature. */
    if (ECDSA_size(ec) <= 0 || (size_t)ECDSA_size(ec) > *sig_len ||
        ECDSA_sign(0, dgst, (int)n, sig, &len, (EC_KEY *)ec) != 1)
        return KITLS_E_CRYPTO;
    *sig_len = len;
    return 1;
}

int kitls_sig_ec_verify(EVP_PKEY *key, const uint8_t *dgst, size_t n, const uint8_t *sig,
                        size_t sig_len)
{
    const EC_KEY *ec = ec_key(key);
    if (!ec)
        return 0;
    /* ECDSA_verify refuses a signature whose DER is not the canonical
     * encoding, as the provider does (it calls the same function). */
    if (sig_len > INT32_MAX || ECDSA_verify(0, dgst, (int)n, sig, (int)sig_len, (EC_KEY *)ec) != 1)
        return KITLS_E_DECRYPT_ERROR;
    return 1;
}
