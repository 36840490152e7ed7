/*
 * RSA-PSS signature schemes at the primitive level (lib/crypto.c,
 * lib/alg.c): which key fits which scheme (RFC 8446 §4.2.3: rsa_pss_rsae_*
 * only for rsaEncryption keys, rsa_pss_pss_* only for id-RSASSA-PSS keys,
 * and a PSS key's parameter restrictions respected), and that a
 * CertificateVerify signature with a salt other than the digest length or
 * another MGF1 hash is refused.  The handshake-level cases (selection,
 * alerts, both roles) are in test_rsapss.c.
 * Internal API: this program links lib/ sources directly.
 */
#include <check.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Built before the test with the old header too (to show the tests fail
 * on a library without the schemes). */
#ifndef KITLS_SIG_RSA_PSS_PSS_SHA256
#define KITLS_SIG_RSA_PSS_PSS_SHA256 0x0809
#define KITLS_SIG_RSA_PSS_PSS_SHA384 0x080a
#define KITLS_SIG_RSA_PSS_PSS_SHA512 0x080b
#endif

enum key_kind {
    K_RSA,       /* rsaEncryption, 2048 */
    K_RSA1024,   /* rsaEncryption, too small */
    K_PSS,       /* id-RSASSA-PSS, no parameters */
    K_PSS256,    /* restricted: SHA-256, MGF1-SHA-256, salt >= 32 */
    K_PSS384,    /* restricted: SHA-384, MGF1-SHA-384, salt >= 48 */
    K_PSS512,    /* restricted: SHA-512, MGF1-SHA-512, salt >= 64 */
    K_PSS_MGF1,  /* restricted: SHA-256 with MGF1-SHA-1 (the RFC 4055 default) */
    K_PSS_SALT,  /* restricted: SHA-256, MGF1-SHA-256, salt >= 64 */
    K_PSS_SMALL, /* restricted: SHA-256, salt >= 20 (a smaller minimum is fine) */
    K_PSS1024,   /* id-RSASSA-PSS, too small */
    K_P256,
    K_NKEYS
};

static EVP_PKEY *keys[K_NKEYS];

#define REQ(x)                                                                                     \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "test_rsapss_sig.c:%d: %s failed\n", __LINE__, #x);                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An id-RSASSA-PSS key; md NULL: no parameters (unrestricted). */
static EVP_PKEY *pss_key(int bits, const char *md, const char *mgf1, int salt)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    REQ(ctx && EVP_PKEY_keygen_init(ctx) > 0);
    REQ(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) > 0);
    if (md) {
        REQ(EVP_PKEY_CTX_set_rsa_pss_keygen_md_name(ctx, md, NULL) > 0);
        REQ(EVP_PKEY_CTX_set_rsa_pss_keygen_mgf1_md_name(ctx, mgf1) > 0);
        REQ(EVP_PKEY_CTX_set_rsa_pss_keygen_saltlen(ctx, salt) > 0);
    }
    REQ(EVP_PKEY_keygen(ctx, &k) > 0);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

static void make_keys(void)
{
    keys[K_RSA] = EVP_RSA_gen(2048);
    keys[K_RSA1024] = EVP_RSA_gen(1024);
    keys[K_PSS] = pss_key(2048, NULL, NULL, 0);
    keys[K_PSS256] = pss_key(2048, "SHA256", "SHA256", 32);
    keys[K_PSS384] = pss_key(2048, "SHA384", "SHA384", 48);
    keys[K_PSS512] = pss_key(2048, "SHA512", "SHA512", 64);
    keys[K_PSS_MGF1] = pss_key(2048, "SHA256", "SHA1", 32);
    keys[K_PSS_SALT] = pss_key(2048, "SHA256", "SHA256", 64);
    keys[K_PSS_SMALL] = pss_key(2048, "SHA256", "SHA256", 20);
    keys[K_PSS1024] = pss_key(1024, NULL, NULL, 0);
    keys[K_P256] = EVP_EC_gen("P-256");
    for (int i = 0; i < K_NKEYS; i++)
        REQ(keys[i]);
}

/* The public half of a key, as a verifier gets it from a certificate. */
static EVP_PKEY *public_of(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    ck_assert_int_gt(n, 0);
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, n);
    OPENSSL_free(der);
    ck_assert_ptr_nonnull(pub);
    return pub;
}

static void setup(void)
{
    ck_assert_int_eq(kitls_alg_init(), 0);
}

/* Which scheme each key fits: 1 = signs and verifies with it. */
static const struct {
    enum key_kind k;
    int pss256, pss384, pss512, rsae256, rsae384, rsae512;
} fits[] = {
    {K_RSA, 0, 0, 0, 1, 1, 1},      {K_RSA1024, 0, 0, 0, 0, 0, 0},  {K_PSS, 1, 1, 1, 0, 0, 0},
    {K_PSS256, 1, 0, 0, 0, 0, 0},   {K_PSS384, 0, 1, 0, 0, 0, 0},   {K_PSS512, 0, 0, 1, 0, 0, 0},
    {K_PSS_MGF1, 0, 0, 0, 0, 0, 0}, {K_PSS_SALT, 0, 0, 0, 0, 0, 0}, {K_PSS_SMALL, 1, 0, 0, 0, 0, 0},
    {K_PSS1024, 0, 0, 0, 0, 0, 0},  {K_P256, 0, 0, 0, 0, 0, 0},
};

static const uint16_t pss_ids[3] = {KITLS_SIG_RSA_PSS_PSS_SHA256, KITLS_SIG_RSA_PSS_PSS_SHA384,
                                    KITLS_SIG_RSA_PSS_PSS_SHA512};
static const uint16_t rsae_ids[3] = {KITLS_SIG_RSA_PSS_RSAE_SHA256, KITLS_SIG_RSA_PSS_RSAE_SHA384,
                                     KITLS_SIG_RSA_PSS_RSAE_SHA512};

START_TEST(test_names)
{
    static const char *const names[3] = {"rsa_pss_pss_sha256", "rsa_pss_pss_sha384",
                                         "rsa_pss_pss_sha512"};
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(kitls_sigalg_find(pss_ids[i]));
        ck_assert_str_eq(kitls_sigalg_name(pss_ids[i]), names[i]);
        ck_assert_uint_eq(kitls_sigalg_by_name(names[i]), pss_ids[i]);
    }
}
END_TEST

START_TEST(test_key_fits_scheme)
{
    const int row = _i;
    const int want[6] = {fits[row].pss256,  fits[row].pss384,  fits[row].pss512,
                         fits[row].rsae256, fits[row].rsae384, fits[row].rsae512};
    EVP_PKEY *pub = public_of(keys[fits[row].k]);
    for (int i = 0; i < 6; i++) {
        const struct kitls_sigalg *s = kitls_sigalg_find(i < 3 ? pss_ids[i] : rsae_ids[i - 3]);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(kitls_sig_key_matches(s, keys[fits[row].k]) == want[i],
                      "key %d, scheme %s: private key fits %d, want %d", fits[row].k,
                      kitls_sigalg_name(s->id), !want[i], want[i]);
        ck_assert_msg(kitls_sig_key_matches(s, pub) == want[i],
                      "key %d, scheme %s: public key fits %d, want %d", fits[row].k,
                      kitls_sigalg_name(s->id), !want[i], want[i]);
    }
    EVP_PKEY_free(pub);
}
END_TEST

/* The bytes a CertificateVerify signs (RFC 8446 §4.4.3), server side. */
static size_t cv_content(uint8_t *buf, const uint8_t *th, size_t th_len)
{
    static const char ctx[] = "TLS 1.3, server CertificateVerify";
    memset(buf, 0x20, 64);
    memcpy(buf + 64, ctx, sizeof(ctx)); /* with its terminating 0 byte */
    memcpy(buf + 64 + sizeof(ctx), th, th_len);
    return 64 + sizeof(ctx) + th_len;
}

/* Sign the server CertificateVerify content with explicit PSS parameters. */
static size_t sign_pss(EVP_PKEY *k, const char *md, const char *mgf1, int salt, const uint8_t *th,
                       size_t th_len, uint8_t *sig, size_t cap)
{
    uint8_t buf[200];
    size_t n = cv_content(buf, th, th_len), sig_len = cap;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    ck_assert_int_gt(EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL, k, NULL), 0);
    ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 0);
    ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, mgf1, NULL), 0);
    ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt), 0);
    ck_assert_int_gt(EVP_DigestSign(mctx, sig, &sig_len, buf, n), 0);
    EVP_MD_CTX_free(mctx);
    return sig_len;
}

/* Each scheme signs and verifies with a key it fits, through kitls, and
 * the signature is exactly RSASSA-PSS with MGF1 over the same hash and a
 * digest-length salt (checked with libcrypto directly). */
START_TEST(test_sign_verify_each_scheme)
{
    static const struct {
        enum key_kind k;
        const char *md;
        int hlen;
    } key_for[3] = {{K_PSS256, "SHA256", 32}, {K_PSS384, "SHA384", 48}, {K_PSS512, "SHA512", 64}};
    for (int unr = 0; unr < 2; unr++) {
        EVP_PKEY *k = keys[unr ? K_PSS : key_for[_i].k];
        const struct kitls_sigalg *s = kitls_sigalg_find(pss_ids[_i]);
        ck_assert_ptr_nonnull(s);
        uint8_t th[64], sig[512];
        size_t sig_len = sizeof(sig);
        memset(th, 0x5a, sizeof(th));
        ck_assert_int_eq(kitls_sig_sign(s, k, 1, th, (size_t)key_for[_i].hlen, sig, &sig_len), 0);
        ck_assert_uint_eq(sig_len, 256);
        EVP_PKEY *pub = public_of(k);
        ck_assert_int_eq(kitls_sig_verify(s, pub, 1, th, (size_t)key_for[_i].hlen, sig, sig_len),
                         0);
        /* The client context string is another message: refused. */
        ck_assert_int_eq(kitls_sig_verify(s, pub, 0, th, (size_t)key_for[_i].hlen, sig, sig_len),
                         KITLS_E_DECRYPT_ERROR);
        /* Independent check of the PSS parameters kitls used. */
        uint8_t buf[200];
        size_t n = cv_content(buf, th, (size_t)key_for[_i].hlen);
        EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        ck_assert_int_gt(
            EVP_DigestVerifyInit_ex(mctx, &pctx, key_for[_i].md, NULL, NULL, pub, NULL), 0);
        ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 0);
        ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, key_for[_i].md, NULL), 0);
        ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, key_for[_i].hlen), 0);
        ck_assert_int_eq(EVP_DigestVerify(mctx, sig, sig_len, buf, n), 1);
        EVP_MD_CTX_free(mctx);
        EVP_PKEY_free(pub);
    }
}
END_TEST

/* RFC 8446 §4.2.3: "The length of the Salt MUST be equal to the length of
 * the digest algorithm", and MGF1 uses the same hash.  A signature by a
 * peer that got either wrong fails verification (decrypt_error). */
START_TEST(test_verify_refuses_wrong_params)
{
    static const struct {
        const char *mgf1;
        int salt;
    } bad[] = {{"SHA256", 20},  {"SHA256", 33}, {"SHA256", 0},
               {"SHA256", 222}, {"SHA1", 32},   {"SHA384", 32}};
    const struct kitls_sigalg *s = kitls_sigalg_find(KITLS_SIG_RSA_PSS_PSS_SHA256);
    ck_assert_ptr_nonnull(s);
    EVP_PKEY *pub = public_of(keys[K_PSS]);
    uint8_t th[32], sig[512];
    memset(th, 0xa5, sizeof(th));
    /* The right parameters verify: the harness itself is sound. */
    size_t n = sign_pss(keys[K_PSS], "SHA256", "SHA256", 32, th, sizeof(th), sig, sizeof(sig));
    ck_assert_int_eq(kitls_sig_verify(s, pub, 1, th, sizeof(th), sig, n), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = sign_pss(keys[K_PSS], "SHA256", bad[i].mgf1, bad[i].salt, th, sizeof(th), sig,
                     sizeof(sig));
        ck_assert_msg(kitls_sig_verify(s, pub, 1, th, sizeof(th), sig, n) == KITLS_E_DECRYPT_ERROR,
                      "MGF1 %s salt %d accepted", bad[i].mgf1, bad[i].salt);
    }
    EVP_PKEY_free(pub);
}
END_TEST

/* A PSS key restricted to SHA-384 does not sign or verify rsa_pss_pss_sha256
 * even when asked directly (libcrypto enforces the restriction too). */
START_TEST(test_restricted_key_other_hash)
{
    const struct kitls_sigalg *s256 = kitls_sigalg_find(KITLS_SIG_RSA_PSS_PSS_SHA256);
    ck_assert_ptr_nonnull(s256);
    uint8_t th[32], sig[512];
    size_t sig_len = sizeof(sig);
    memset(th, 1, sizeof(th));
    ck_assert_int_eq(kitls_sig_key_matches(s256, keys[K_PSS384]), 0);
    ck_assert_int_ne(kitls_sig_sign(s256, keys[K_PSS384], 1, th, sizeof(th), sig, &sig_len), 0);
    /* Its public half, as the peer's certificate carries it, does not fit
     * either: a CertificateVerify with 0x0809 from it is illegal_parameter
     * (kitls_hs_recv_certificate_verify). */
    EVP_PKEY *pub = public_of(keys[K_PSS384]);
    ck_assert_int_eq(kitls_sig_key_matches(s256, pub), 0);
    EVP_PKEY_free(pub);
}
END_TEST

/* An rsaEncryption key and an id-RSASSA-PSS key with the same PSS
 * signature bytes: the scheme, not the padding, decides, and the key type
 * must match the scheme (RFC 8446 §4.2.3). */
START_TEST(test_key_type_mismatch)
{
    const struct kitls_sigalg *pss = kitls_sigalg_find(KITLS_SIG_RSA_PSS_PSS_SHA256);
    const struct kitls_sigalg *rsae = kitls_sigalg_find(KITLS_SIG_RSA_PSS_RSAE_SHA256);
    ck_assert_ptr_nonnull(pss);
    ck_assert_ptr_nonnull(rsae);
    EVP_PKEY *rsa_pub = public_of(keys[K_RSA]), *pss_pub = public_of(keys[K_PSS]);
    ck_assert_int_eq(kitls_sig_key_matches(pss, rsa_pub), 0);
    ck_assert_int_eq(kitls_sig_key_matches(rsae, pss_pub), 0);
    ck_assert_int_eq(kitls_sig_key_matches(pss, pss_pub), 1);
    ck_assert_int_eq(kitls_sig_key_matches(rsae, rsa_pub), 1);
    EVP_PKEY_free(rsa_pub);
    EVP_PKEY_free(pss_pub);
}
END_TEST

static Suite *rsapss_sig_suite(void)
{
    Suite *s = suite_create("rsapss_sig");
    TCase *tc = tcase_create("schemes");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_names);
    tcase_add_loop_test(tc, test_key_fits_scheme, 0, (int)(sizeof(fits) / sizeof(fits[0])));
    tcase_add_loop_test(tc, test_sign_verify_each_scheme, 0, 3);
    tcase_add_test(tc, test_verify_refuses_wrong_params);
    tcase_add_test(tc, test_restricted_key_other_hash);
    tcase_add_test(tc, test_key_type_mismatch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    make_keys();
    SRunner *sr = srunner_create(rsapss_sig_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < K_NKEYS; i++)
        EVP_PKEY_free(keys[i]);
    return failed ? 1 : 0;
}
