/*
 * A peer whose CertificateVerify breaks RFC 8446 §4.2.3 for its RSA key,
 * seen from the other side of a real handshake, in both roles: a scheme
 * of the other RSA key type (rsa_pss_pss_* from an rsaEncryption key,
 * rsa_pss_rsae_* from an id-RSASSA-PSS key) or a hash the key's parameters
 * exclude gets illegal_parameter (§4.4.3), a salt other than the digest
 * length decrypt_error.
 *
 * kitls never signs like that, so the misbehaving side is made with the
 * linker: this program compiles the library sources itself and is linked
 * with --wrap for kitls_sig_key_matches, kitls_sig_cert_can and kitls_sig_sign (see
 * tests/unit/Makefile.inc).  The wrappers lie only for RSA private keys
 * (the honest side here has a P-256 key, and verification sees public
 * keys), so the verifying side runs the real code.
 */
#include <check.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

/* Builds against the old header too, to show these tests fail there. */
#ifndef KITLS_SIG_RSA_PSS_PSS_SHA256
#define KITLS_SIG_RSA_PSS_PSS_SHA256 0x0809
#define KITLS_SIG_RSA_PSS_PSS_SHA384 0x080a
#define KITLS_SIG_RSA_PSS_PSS_SHA512 0x080b
#endif

enum lie {
    LIE_NONE,
    LIE_TYPE, /* sign with the same-hash scheme of the other RSA key type */
    LIE_HASH, /* a PSS key restricted to SHA-384 signs rsa_pss_pss_sha256 */
    LIE_SALT, /* the right scheme, salt 20 instead of the digest length */
};
static enum lie lie;

int __real_kitls_sig_key_matches(const struct kitls_sigalg *s, EVP_PKEY *key);
int __wrap_kitls_sig_key_matches(const struct kitls_sigalg *s, EVP_PKEY *key);
int __real_kitls_sig_sign(const struct kitls_sigalg *s, EVP_PKEY *key, int server,
                          const uint8_t *th, size_t th_len, uint8_t *sig, size_t *sig_len);
int __wrap_kitls_sig_sign(const struct kitls_sigalg *s, EVP_PKEY *key, int server,
                          const uint8_t *th, size_t th_len, uint8_t *sig, size_t *sig_len);

static int is_rsa_private(EVP_PKEY *key)
{
    BIGNUM *d = NULL;
    if (!EVP_PKEY_is_a(key, "RSA") && !EVP_PKEY_is_a(key, "RSA-PSS"))
        return 0;
    int priv = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_D, &d);
    BN_free(d);
    return priv;
}

/* The key's numbers as an rsaEncryption key: no type, no restriction
 * (the PSS parameters are left out: the RSA key manager refuses them). */
static EVP_PKEY *as_plain_rsa(EVP_PKEY *key)
{
    OSSL_PARAM *p = NULL, q[32];
    size_t n = 0;
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx && EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &p) > 0 && EVP_PKEY_fromdata_init(ctx) > 0) {
        for (const OSSL_PARAM *i = p; i->key && n + 1 < sizeof(q) / sizeof(q[0]); i++)
            if (strcmp(i->key, OSSL_PKEY_PARAM_RSA_DIGEST) &&
                strcmp(i->key, OSSL_PKEY_PARAM_RSA_MGF1_DIGEST) &&
                strcmp(i->key, OSSL_PKEY_PARAM_RSA_MASKGENFUNC) &&
                strcmp(i->key, OSSL_PKEY_PARAM_RSA_PSS_SALTLEN))
                q[n++] = *i;
        q[n] = OSSL_PARAM_construct_end();
        (void)EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, q);
    }
    OSSL_PARAM_free(p);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

/* rsa_pss_rsae_shaN <-> rsa_pss_pss_shaN (0x0804..6 <-> 0x0809..b). */
static uint16_t twin(uint16_t id)
{
    if (id >= KITLS_SIG_RSA_PSS_RSAE_SHA256 && id <= KITLS_SIG_RSA_PSS_RSAE_SHA512)
        return (uint16_t)(id + 5);
    if (id >= KITLS_SIG_RSA_PSS_PSS_SHA256 && id <= KITLS_SIG_RSA_PSS_PSS_SHA512)
        return (uint16_t)(id - 5);
    return 0;
}

int __wrap_kitls_sig_key_matches(const struct kitls_sigalg *s, EVP_PKEY *key)
{
    if (lie == LIE_TYPE && is_rsa_private(key)) {
        const struct kitls_sigalg *t = kitls_sigalg_find(twin(s->id));
        return t && __real_kitls_sig_key_matches(t, key);
    }
    if (lie == LIE_HASH && is_rsa_private(key) && EVP_PKEY_is_a(key, "RSA-PSS"))
        return s->id == KITLS_SIG_RSA_PSS_PSS_SHA256;
    return __real_kitls_sig_key_matches(s, key);
}

/* Our own certificate's schemes are taken once, when it is added
 * (kitls_sig_cert_can): the signer's lie is told there. */
int __real_kitls_sig_cert_can(const struct kitls_sigalg *s, const struct kitls_cert *cert);
int __wrap_kitls_sig_cert_can(const struct kitls_sigalg *s, const struct kitls_cert *cert);
int __wrap_kitls_sig_cert_can(const struct kitls_sigalg *s, const struct kitls_cert *cert)
{
    if (lie != LIE_NONE && is_rsa_private(cert->key))
        return __wrap_kitls_sig_key_matches(s, cert->key);
    return __real_kitls_sig_cert_can(s, cert);
}

int __wrap_kitls_sig_sign(const struct kitls_sigalg *s, EVP_PKEY *key, int server,
                          const uint8_t *th, size_t th_len, uint8_t *sig, size_t *sig_len)
{
    if (!is_rsa_private(key) || (lie != LIE_HASH && lie != LIE_SALT))
        return __real_kitls_sig_sign(s, key, server, th, th_len, sig, sig_len);
    /* libcrypto itself would refuse SHA-256 with the restricted key: sign
     * with the same numbers, unrestricted. */
    EVP_PKEY *plain = as_plain_rsa(key);
    uint8_t buf[200];
    static const char sctx[] = "TLS 1.3, server CertificateVerify";
    static const char cctx[] = "TLS 1.3, client CertificateVerify";
    memset(buf, 0x20, 64);
    memcpy(buf + 64, server ? sctx : cctx, sizeof(sctx)); /* with the 0 byte */
    memcpy(buf + 64 + sizeof(sctx), th, th_len);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;
    int ok =
        plain && m && EVP_DigestSignInit_ex(m, &p, s->md_name, NULL, NULL, plain, NULL) > 0 &&
        EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) > 0 &&
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(p, s->md_name, NULL) > 0 &&
        EVP_PKEY_CTX_set_rsa_pss_saltlen(p, lie == LIE_SALT ? 20 : RSA_PSS_SALTLEN_DIGEST) > 0 &&
        EVP_DigestSign(m, sig, sig_len, buf, 64 + sizeof(sctx) + th_len) > 0;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(plain);
    return ok ? 0 : KITLS_E_CRYPTO;
}

/* ---- credentials (issued by the fixture CA) ---- */

enum cred { C_RSA, C_PSS, C_PSS384, C_N };
static struct tu_cred creds[C_N];

static void fixture(void)
{
    static const char *const exts[] = {
        "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth,clientAuth", "subjectAltName=DNS:localhost", NULL};
    for (int i = 0; i < C_N; i++) {
        EVP_PKEY *k = NULL;
        if (i == C_RSA) {
            k = tu_keygen(TU_RSA2048);
        } else {
            EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
            if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
                EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) <= 0 ||
                (i == C_PSS384 &&
                 (EVP_PKEY_CTX_set_rsa_pss_keygen_md_name(ctx, "SHA384", NULL) <= 0 ||
                  EVP_PKEY_CTX_set_rsa_pss_keygen_mgf1_md_name(ctx, "SHA384") <= 0 ||
                  EVP_PKEY_CTX_set_rsa_pss_keygen_saltlen(ctx, 48) <= 0)) ||
                EVP_PKEY_keygen(ctx, &k) <= 0)
                abort();
            EVP_PKEY_CTX_free(ctx);
        }
        X509 *x = tu_issue(k, "localhost", tu_ca_cert(), tu_ca_key(), exts);
        creds[i].chain = tu_x509_pem(x, &creds[i].chain_len);
        creds[i].key = tu_pkey_pem(k, &creds[i].key_len);
        X509_free(x);
        EVP_PKEY_free(k);
    }
}

struct result {
    int c, s, c_alert, s_alert;
    uint16_t c_peer_sigalg, s_peer_sigalg;
};

/* The liar is the server (client_liar 0: it has the RSA credential) or the
 * client (1: its certificate, the server requires one and has P-256). */
static struct result run(enum cred cr, int client_liar, enum lie how)
{
    struct result r;
    kitls_config *scfg, *ccfg = tu_client_config();
    const struct tu_cred *c = &creds[cr];
    if (client_liar) {
        scfg = tu_server_config(TU_P256);
        ck_assert_int_eq(kitls_config_set_verify(scfg, KITLS_VERIFY_REQUIRE), 0);
        ck_assert_int_eq(
            kitls_config_add_cert_pem(ccfg, c->chain, c->chain_len, c->key, c->key_len), 0);
    } else {
        scfg = kitls_config_new(KITLS_ROLE_SERVER);
        ck_assert_int_eq(
            kitls_config_add_cert_pem(scfg, c->chain, c->chain_len, c->key, c->key_len), 0);
    }
    kitls_conn *cl = tu_client(ccfg, "localhost"), *sv = tu_server(scfg);
    lie = how;
    tu_handshake(cl, sv, &r.c, &r.s);
    if (r.c == 0 && r.s != 0) {
        uint8_t buf[16];
        tu_move(sv, cl);
        r.c = kitls_conn_read(cl, buf, sizeof(buf));
    }
    lie = LIE_NONE;
    r.c_alert = kitls_conn_peer_alert(cl);
    r.s_alert = kitls_conn_peer_alert(sv);
    r.c_peer_sigalg = kitls_conn_peer_sigalg(cl);
    r.s_peer_sigalg = kitls_conn_peer_sigalg(sv);
    kitls_conn_free(cl);
    kitls_conn_free(sv);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
    return r;
}

/* The verifier fails with `err`; the liar receives its alert. */
static void expect_refused(const struct result *r, int client_liar, int err)
{
    int verifier = client_liar ? r->s : r->c, liar = client_liar ? r->c : r->s;
    int liar_alert = client_liar ? r->c_alert : r->s_alert;
    ck_assert_msg(verifier == err, "verifier: %d (%s), want %s", verifier, kitls_strerror(verifier),
                  kitls_strerror(err));
    ck_assert_int_eq(liar, KITLS_E_PEER_ALERT(kitls_error_alert(err)));
    ck_assert_int_eq(liar_alert, kitls_error_alert(err));
}

START_TEST(test_honest_control)
{
    /* Without a lie the same handshakes succeed: the wrappers are sound. */
    static const uint16_t want[C_N] = {KITLS_SIG_RSA_PSS_RSAE_SHA256, KITLS_SIG_RSA_PSS_PSS_SHA256,
                                       KITLS_SIG_RSA_PSS_PSS_SHA384};
    for (int cr = 0; cr < C_N; cr++) {
        struct result r = run((enum cred)cr, _i, LIE_NONE);
        ck_assert_msg(r.c == 0 && r.s == 0, "client %s, server %s", kitls_strerror(r.c),
                      kitls_strerror(r.s));
        ck_assert_uint_eq(_i ? r.s_peer_sigalg : r.c_peer_sigalg, want[cr]);
    }
}
END_TEST

START_TEST(test_pss_scheme_from_rsae_key)
{
    /* rsa_pss_pss_sha256 over an rsaEncryption key. */
    struct result r = run(C_RSA, _i, LIE_TYPE);
    expect_refused(&r, _i, KITLS_E_ILLEGAL_PARAMETER);
}
END_TEST

START_TEST(test_rsae_scheme_from_pss_key)
{
    /* rsa_pss_rsae_sha256 over an id-RSASSA-PSS key. */
    struct result r = run(C_PSS, _i, LIE_TYPE);
    expect_refused(&r, _i, KITLS_E_ILLEGAL_PARAMETER);
}
END_TEST

START_TEST(test_hash_outside_restriction)
{
    /* rsa_pss_pss_sha256 from a key restricted to SHA-384. */
    struct result r = run(C_PSS384, _i, LIE_HASH);
    expect_refused(&r, _i, KITLS_E_ILLEGAL_PARAMETER);
}
END_TEST

START_TEST(test_wrong_salt)
{
    /* rsa_pss_pss_sha256 (and rsa_pss_rsae_sha256) with a 20-byte salt. */
    for (int cr = C_RSA; cr <= C_PSS; cr++) {
        struct result r = run((enum cred)cr, _i, LIE_SALT);
        expect_refused(&r, _i, KITLS_E_DECRYPT_ERROR);
    }
}
END_TEST

static Suite *cv_suite(void)
{
    Suite *s = suite_create("rsapss_cv");
    TCase *tc = tcase_create("peer_cv");
    tcase_set_timeout(tc, 60);
    /* Loop index: 0 = the server misbehaves, 1 = the client. */
    tcase_add_loop_test(tc, test_honest_control, 0, 2);
    tcase_add_loop_test(tc, test_pss_scheme_from_rsae_key, 0, 2);
    tcase_add_loop_test(tc, test_rsae_scheme_from_pss_key, 0, 2);
    tcase_add_loop_test(tc, test_hash_outside_restriction, 0, 2);
    tcase_add_loop_test(tc, test_wrong_salt, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_pki_init();
    fixture();
    SRunner *sr = srunner_create(cv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
