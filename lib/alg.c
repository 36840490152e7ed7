/* Algorithm tables: cipher suites, groups, signature schemes (RFC 8446 §4.2). */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static struct kitls_suite suites[] = {
    {KITLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256", "AES-128-GCM", "SHA256", 16, 32, NULL,
     NULL},
    {KITLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384", "AES-256-GCM", "SHA384", 32, 48, NULL,
     NULL},
    {KITLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256", "ChaCha20-Poly1305", "SHA256",
     32, 32, NULL, NULL},
};

static const struct kitls_group groups[] = {
    {KITLS_GROUP_X25519, "x25519", "X25519", 32, 0, 0},
    {KITLS_GROUP_SECP256R1, "secp256r1", "P-256", 65, 1, 0},
    {KITLS_GROUP_SECP384R1, "secp384r1", "P-384", 97, 1, 0},
    /* draft-ietf-tls-ecdhe-mlkem §4: ML-KEM-768 encapsulation key (1184)
     * and the ECDH share; usable only where libcrypto has ML-KEM (kem.c). */
    {KITLS_GROUP_X25519MLKEM768, "X25519MLKEM768", "X25519MLKEM768", 1184 + 32, 0,
     KITLS_GROUP_X25519},
    {KITLS_GROUP_SECP256R1MLKEM768, "SecP256r1MLKEM768", "SecP256r1MLKEM768", 65 + 1184, 0,
     KITLS_GROUP_SECP256R1},
};

/* One row per scheme (RFC 8446 §4.2.3): the key type it signs with, the
 * curve, the hash, PSS padding, chain-only, the smallest key size. */
static struct kitls_sigalg sigalgs[] = {
    {KITLS_SIG_ED25519, "ed25519", "ED25519", NULL, NULL, 0, 0, 0, NULL},
    {KITLS_SIG_ECDSA_SECP256R1_SHA256, "ecdsa_secp256r1_sha256", "EC", "P-256", "SHA256", 0, 0, 0,
     NULL},
    {KITLS_SIG_ECDSA_SECP384R1_SHA384, "ecdsa_secp384r1_sha384", "EC", "P-384", "SHA384", 0, 0, 0,
     NULL},
    {KITLS_SIG_RSA_PSS_RSAE_SHA256, "rsa_pss_rsae_sha256", "RSA", NULL, "SHA256", 1, 0, 2048, NULL},
    {KITLS_SIG_RSA_PSS_RSAE_SHA384, "rsa_pss_rsae_sha384", "RSA", NULL, "SHA384", 1, 0, 2048, NULL},
    {KITLS_SIG_RSA_PSS_RSAE_SHA512, "rsa_pss_rsae_sha512", "RSA", NULL, "SHA512", 1, 0, 2048, NULL},
    {KITLS_SIG_RSA_PSS_PSS_SHA256, "rsa_pss_pss_sha256", "RSA-PSS", NULL, "SHA256", 1, 0, 2048,
     NULL},
    {KITLS_SIG_RSA_PSS_PSS_SHA384, "rsa_pss_pss_sha384", "RSA-PSS", NULL, "SHA384", 1, 0, 2048,
     NULL},
    {KITLS_SIG_RSA_PSS_PSS_SHA512, "rsa_pss_pss_sha512", "RSA-PSS", NULL, "SHA512", 1, 0, 2048,
     NULL},
    {KITLS_SIG_RSA_PKCS1_SHA256, "rsa_pkcs1_sha256", "RSA", NULL, "SHA256", 0, 1, 2048, NULL},
    {KITLS_SIG_RSA_PKCS1_SHA384, "rsa_pkcs1_sha384", "RSA", NULL, "SHA384", 0, 1, 2048, NULL},
    {KITLS_SIG_RSA_PKCS1_SHA512, "rsa_pkcs1_sha512", "RSA", NULL, "SHA512", 0, 1, 2048, NULL},
};

const uint16_t kitls_default_suites[3] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                          KITLS_CHACHA20_POLY1305_SHA256};
const uint16_t kitls_default_groups[3] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1,
                                          KITLS_GROUP_SECP384R1};
const uint16_t kitls_default_sigalgs[12] = {
    KITLS_SIG_ECDSA_SECP256R1_SHA256,
    KITLS_SIG_ECDSA_SECP384R1_SHA384,
    KITLS_SIG_ED25519,
    KITLS_SIG_RSA_PSS_RSAE_SHA256,
    KITLS_SIG_RSA_PSS_RSAE_SHA384,
    KITLS_SIG_RSA_PSS_RSAE_SHA512,
    KITLS_SIG_RSA_PSS_PSS_SHA256,
    KITLS_SIG_RSA_PSS_PSS_SHA384,
    KITLS_SIG_RSA_PSS_PSS_SHA512,
    KITLS_SIG_RSA_PKCS1_SHA256,
    KITLS_SIG_RSA_PKCS1_SHA384,
    KITLS_SIG_RSA_PKCS1_SHA512,
};
const size_t kitls_n_default_sigalgs = 12;

#define N(a) (sizeof(a) / sizeof((a)[0]))

static pthread_once_t alg_once = PTHREAD_ONCE_INIT;
static int alg_ok;

/* Fetch every algorithm once per process, not per connection. */
static void alg_fetch(void)
{
    for (size_t i = 0; i < N(suites); i++) {
        suites[i].cipher = EVP_CIPHER_fetch(NULL, suites[i].cipher_name, NULL);
        suites[i].md = EVP_MD_fetch(NULL, suites[i].md_name, NULL);
        if (!suites[i].cipher || !suites[i].md)
            return;
    }
    for (size_t i = 0; i < N(sigalgs); i++) {
        if (sigalgs[i].md_name) {
            sigalgs[i].md = EVP_MD_fetch(NULL, sigalgs[i].md_name, NULL);
            if (!sigalgs[i].md)
                return;
        }
    }
    alg_ok = 1;
}

int kitls_alg_init(void)
{
    pthread_once(&alg_once, alg_fetch);
    return alg_ok ? 0 : KITLS_E_CRYPTO;
}

const struct kitls_suite *kitls_suite_find(uint16_t id)
{
    for (size_t i = 0; i < N(suites); i++)
        if (suites[i].id == id)
            return &suites[i];
    return NULL;
}

const struct kitls_group *kitls_group_find(uint16_t id)
{
    for (size_t i = 0; i < N(groups); i++)
        if (groups[i].id == id)
            return &groups[i];
    return NULL;
}

const struct kitls_sigalg *kitls_sigalg_find(uint16_t id)
{
    for (size_t i = 0; i < N(sigalgs); i++)
        if (sigalgs[i].id == id)
            return &sigalgs[i];
    return NULL;
}

const char *kitls_suite_name(uint16_t id)
{
    const struct kitls_suite *s = kitls_suite_find(id);
    return s ? s->name : NULL;
}

const char *kitls_group_name(uint16_t id)
{
    const struct kitls_group *g = kitls_group_find(id);
    return g ? g->name : NULL;
}

const char *kitls_sigalg_name(uint16_t id)
{
    const struct kitls_sigalg *s = kitls_sigalg_find(id);
    return s ? s->name : NULL;
}

uint16_t kitls_suite_by_name(const char *name)
{
    for (size_t i = 0; name && i < N(suites); i++)
        if (!strcasecmp(suites[i].name, name) || !strcasecmp(suites[i].cipher_name, name))
            return suites[i].id;
    return 0;
}

uint16_t kitls_group_by_name(const char *name)
{
    for (size_t i = 0; name && i < N(groups); i++)
        if (!strcasecmp(groups[i].name, name) || !strcasecmp(groups[i].ossl_name, name))
            return groups[i].id;
    return 0;
}

uint16_t kitls_sigalg_by_name(const char *name)
{
    for (size_t i = 0; name && i < N(sigalgs); i++)
        if (!strcasecmp(sigalgs[i].name, name))
            return sigalgs[i].id;
    return 0;
}

const struct kitls_sigalg *kitls_sigalg_at(size_t i)
{
    return i < N(sigalgs) ? &sigalgs[i] : NULL;
}
