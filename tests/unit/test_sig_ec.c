/*
 * ECDSA CertificateVerify through the key's EC_KEY (lib/sig_ec.c) against
 * the EVP path it replaces (lib/crypto.c): signatures made by one verify
 * with the other for P-256 and P-384, altered signatures, contexts and
 * non-canonical DER are refused by both, and keys the path is not for
 * (RSA, Ed25519) are left to EVP.
 * Internal API: this program links lib/ sources directly.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <check.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "internal.h"

enum { K_P256, K_P384, K_RSA, K_ED25519, K_NKEYS };
static EVP_PKEY *keys[K_NKEYS], *pubs[K_NKEYS];

static const uint16_t scheme_of[] = {KITLS_SIG_ECDSA_SECP256R1_SHA256,
                                     KITLS_SIG_ECDSA_SECP384R1_SHA384};

/* The public half as a peer's certificate carries it (a new EVP_PKEY). */
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

static void make_keys(void)
{
    keys[K_P256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    keys[K_P384] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    keys[K_RSA] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    keys[K_ED25519] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    for (int i = 0; i < K_NKEYS; i++) {
        ck_assert_ptr_nonnull(keys[i]);
        pubs[i] = public_of(keys[i]);
    }
}

static void setup(void)
{
    ck_assert_int_eq(kitls_alg_init(), 0);
    if (!keys[0])
        make_keys();
}

/* The path takes default-provider EC keys only; others stay on EVP. */
START_TEST(test_which_keys)
{
    uint8_t d[32] = {1}, sig[512];
    size_t n = sizeof(sig);
    ck_assert_int_eq(kitls_sig_ec_prepare(keys[K_P256]), 1);
    ck_assert_int_eq(kitls_sig_ec_prepare(pubs[K_P384]), 1);
    for (int k = K_RSA; k <= K_ED25519; k++) {
        ck_assert_int_eq(kitls_sig_ec_prepare(keys[k]), 0);
        ck_assert_int_eq(kitls_sig_ec_sign(keys[k], d, sizeof(d), sig, &n), 0);
        ck_assert_int_eq(kitls_sig_ec_verify(pubs[k], d, sizeof(d), sig, 64), 0);
    }
    /* A public key cannot sign: an error, not a silent fallback. */
    ck_assert_int_lt(kitls_sig_ec_sign(pubs[K_P256], d, sizeof(d), sig, &n), 0);
    /* Too small a buffer for the DER signature. */
    n = 16;
    ck_assert_int_eq(kitls_sig_ec_sign(keys[K_P256], d, sizeof(d), sig, &n), KITLS_E_CRYPTO);
}
END_TEST

/* Both directions for each curve, both CertificateVerify contexts. */
START_TEST(test_paths_agree)
{
    const struct kitls_sigalg *s = kitls_sigalg_find(scheme_of[_i]);
    ck_assert_ptr_nonnull(s);
    EVP_PKEY *key = keys[_i], *pub = pubs[_i];
    uint8_t th[48], sig[256], evp_sig[256];
    memset(th, 0x3c + _i, sizeof(th));
    for (int server = 0; server <= 1; server++) {
        /* kitls_sig_sign takes the EC_KEY path (the key is in the default
         * provider); the cold kitls_sig_verify is EVP's. */
        size_t n = sizeof(sig);
        ck_assert_int_eq(kitls_sig_sign(s, key, server, th, 32, sig, &n), 0);
        ck_assert_int_eq(kitls_sig_verify(s, pub, server, th, 32, sig, n), 0);
        ck_assert_int_eq(kitls_sig_verify_warm(s, pub, server, th, 32, sig, n), 0);
        /* The other role's context does not verify (RFC 8446 §4.4.3). */
        ck_assert_int_eq(kitls_sig_verify_warm(s, pub, !server, th, 32, sig, n),
                         KITLS_E_DECRYPT_ERROR);
        ck_assert_int_eq(kitls_sig_verify(s, pub, !server, th, 32, sig, n), KITLS_E_DECRYPT_ERROR);
        /* A signature made through EVP directly verifies on the warm path. */
        uint8_t buf[200], dg[64];
        unsigned int dl = 0;
        size_t cl = 64 + 33 + 1 + 32, en = sizeof(evp_sig);
        memset(buf, 0x20, 64);
        memcpy(buf + 64,
               server ? "TLS 1.3, server CertificateVerify" : "TLS 1.3, client CertificateVerify",
               33);
        buf[97] = 0;
        memcpy(buf + 98, th, 32);
        ck_assert_int_eq(EVP_Digest(buf, cl, dg, &dl, s->md, NULL), 1);
        EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(EVP_PKEY_sign_init(p), 1);
        ck_assert_int_eq(EVP_PKEY_sign(p, evp_sig, &en, dg, dl), 1);
        EVP_PKEY_CTX_free(p);
        ck_assert_int_eq(kitls_sig_verify_warm(s, pub, server, th, 32, evp_sig, en), 0);
        ck_assert_int_eq(kitls_sig_ec_verify(pub, dg, dl, evp_sig, en), 1);
        /* Two signatures of the same content differ: a fresh nonce each. */
        size_t n2 = sizeof(evp_sig);
        ck_assert_int_eq(kitls_sig_ec_sign(key, dg, dl, evp_sig, &n2), 1);
        ck_assert_int_eq(kitls_sig_ec_verify(pub, dg, dl, evp_sig, n2), 1);
        ck_assert(n2 != n || memcmp(evp_sig, sig, n) != 0);
    }
}
END_TEST

/* Every single-bit change of a valid signature is refused by the warm
 * path, as by EVP (a changed DER length or tag fails to decode; a changed
 * r or s fails the equation). */
START_TEST(test_altered_refused)
{
    const struct kitls_sigalg *s = kitls_sigalg_find(scheme_of[_i]);
    uint8_t th[32], sig[256], bad[256];
    size_t n = sizeof(sig);
    memset(th, 7, sizeof(th));
    ck_assert_int_eq(kitls_sig_sign(s, keys[_i], 1, th, sizeof(th), sig, &n), 0);
    for (size_t bit = 0; bit < n * 8; bit++) {
        memcpy(bad, sig, n);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int warm = kitls_sig_verify_warm(s, pubs[_i], 1, th, sizeof(th), bad, n);
        int cold = kitls_sig_verify(s, pubs[_i], 1, th, sizeof(th), bad, n);
        ck_assert_msg(warm == KITLS_E_DECRYPT_ERROR && cold == warm, "bit %zu: warm %d cold %d",
                      bit, warm, cold);
    }
    /* Truncated, or with a byte appended (DER must be exact). */
    ck_assert_int_eq(kitls_sig_verify_warm(s, pubs[_i], 1, th, sizeof(th), sig, n - 1),
                     KITLS_E_DECRYPT_ERROR);
    memcpy(bad, sig, n);
    bad[n] = 0;
    ck_assert_int_eq(kitls_sig_verify_warm(s, pubs[_i], 1, th, sizeof(th), bad, n + 1),
                     KITLS_E_DECRYPT_ERROR);
    /* The same r and s in a non-minimal DER length (0x81 nn): valid BER,
     * not DER; refused by both paths. */
    ck_assert_int_lt(sig[1], 0x80);
    bad[0] = 0x30;
    bad[1] = 0x81;
    bad[2] = sig[1];
    memcpy(bad + 3, sig + 2, n - 2);
    ck_assert_int_eq(kitls_sig_verify_warm(s, pubs[_i], 1, th, sizeof(th), bad, n + 1),
                     KITLS_E_DECRYPT_ERROR);
    ck_assert_int_eq(kitls_sig_verify(s, pubs[_i], 1, th, sizeof(th), bad, n + 1),
                     KITLS_E_DECRYPT_ERROR);
    /* Another key's signature. */
    ck_assert_int_eq(kitls_sig_verify_warm(s, pubs[_i], 1, th, sizeof(th), sig, n), 0);
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", _i ? "P-384" : "P-256");
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(kitls_sig_verify_warm(s, other, 1, th, sizeof(th), sig, n),
                     KITLS_E_DECRYPT_ERROR);
    EVP_PKEY_free(other);
}
END_TEST

/* kitls's own DER (lib/sig_ec.c) is i2d_ECDSA_SIG's, byte for byte, over
 * many signatures (r and s with and without the 0x00 pad, now and then a
 * shorter one); libcrypto's DER of a signature verifies on the warm path;
 * an INTEGER with a needless leading zero or a negative one is refused
 * by both paths (X.690 §8.3.2). */
START_TEST(test_der_exact)
{
    const struct kitls_sigalg *s = kitls_sigalg_find(scheme_of[_i]);
    uint8_t d[48], sig[256], bad[260];
    int padded = 0;
    memset(d, 0x5a, sizeof(d));
    for (int k = 0; k < 300; k++) {
        size_t n = sizeof(sig);
        d[0] = (uint8_t)k;
        ck_assert_int_eq(kitls_sig_ec_sign(keys[_i], d, sizeof(d), sig, &n), 1);
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        ck_assert_ptr_nonnull(es);
        ck_assert_ptr_eq(p, sig + n);
        unsigned char *der = NULL;
        int dl = i2d_ECDSA_SIG(es, &der);
        ck_assert_int_eq(dl, (int)n);
        ck_assert_mem_eq(der, sig, n);
        ck_assert_int_eq(
            ECDSA_do_verify(d, sizeof(d), es, (EC_KEY *)EVP_PKEY_get0_EC_KEY(pubs[_i])), 1);
        OPENSSL_free(der);
        ECDSA_SIG_free(es);
        ck_assert_int_eq(kitls_sig_ec_verify(pubs[_i], d, sizeof(d), sig, n), 1);
        padded |= sig[4] == 0;
        /* r again with a needless 0x00 in front (valid BER, not DER), or
         * as a negative number (0xff in front). */
        for (int v = 0; v < 2 && sig[1] < 0x7f; v++) {
            bad[0] = 0x30;
            bad[1] = (uint8_t)(sig[1] + 1);
            bad[2] = 0x02;
            bad[3] = (uint8_t)(sig[3] + 1);
            bad[4] = v ? 0xff : 0x00;
            memcpy(bad + 5, sig + 4, n - 4);
            if (!v && (sig[4] & 0x80))
                continue; /* 00 before a high bit is DER's own pad */
            ck_assert_int_eq(kitls_sig_ec_verify(pubs[_i], d, sizeof(d), bad, n + 1),
                             KITLS_E_DECRYPT_ERROR);
            ck_assert_int_ne(ECDSA_verify(0, d, sizeof(d), bad, (int)n + 1,
                                          (EC_KEY *)EVP_PKEY_get0_EC_KEY(pubs[_i])),
                             1);
        }
    }
    ck_assert(padded);
    (void)s;
}
END_TEST

/* The schemes a certificate's key signs with, taken once when the cert is
 * added (kitls_sig_key_mask, kitls_sig_cert_can), are exactly the ones
 * kitls_sig_key_matches accepts, and those are the right ones per key
 * type (the type answered from the key's id, not a name lookup). */
START_TEST(test_key_mask)
{
    static const uint16_t want[K_NKEYS][3] = {[K_P256] = {KITLS_SIG_ECDSA_SECP256R1_SHA256},
                                              [K_P384] = {KITLS_SIG_ECDSA_SECP384R1_SHA384},
                                              [K_RSA] = {KITLS_SIG_RSA_PSS_RSAE_SHA256,
                                                         KITLS_SIG_RSA_PSS_RSAE_SHA384,
                                                         KITLS_SIG_RSA_PSS_RSAE_SHA512},
                                              [K_ED25519] = {KITLS_SIG_ED25519}};
    const struct kitls_sigalg *s;
    for (int k = 0; k < K_NKEYS; k++) {
        struct kitls_cert cert = {.key = keys[k], .sig_ok = kitls_sig_key_mask(keys[k])};
        for (size_t i = 0; (s = kitls_sigalg_at(i)) != NULL; i++) {
            int expect = 0;
            for (int j = 0; j < 3; j++)
                expect |= want[k][j] == s->id;
            ck_assert_msg(kitls_sig_cert_can(s, &cert) == expect &&
                              kitls_sig_key_matches(s, keys[k]) == expect &&
                              kitls_sig_key_matches(s, pubs[k]) == expect,
                          "key %d scheme %s: want %d", k, s->name, expect);
        }
    }
}
END_TEST

/* A peer's key decoded from its certificate: the curve read from the
 * certificate's named-curve OID answers as the key itself does, and a key
 * that is not the certificate's is asked directly. */
START_TEST(test_peer_mask)
{
    const struct kitls_sigalg *s;
    X509 *leaf[K_NKEYS];
    for (int k = 0; k < K_NKEYS; k++) {
        leaf[k] = X509_new();
        ck_assert_ptr_nonnull(leaf[k]);
        ck_assert_int_eq(X509_set_pubkey(leaf[k], pubs[k]), 1);
    }
    for (int k = 0; k < K_NKEYS; k++) {
        EVP_PKEY *pk = X509_get0_pubkey(leaf[k]);
        ck_assert_ptr_nonnull(pk);
        for (size_t i = 0; (s = kitls_sigalg_at(i)) != NULL; i++) {
            int expect = kitls_sig_key_matches(s, pubs[k]);
            ck_assert_msg(kitls_sig_peer_matches(s, pk, leaf[k]) == expect,
                          "key %d scheme %s: want %d", k, s->name, expect);
            /* another certificate (P-384's for P-256 and back): not used */
            int o = k == K_P256 ? K_P384 : K_P256;
            ck_assert_msg(kitls_sig_peer_matches(s, pubs[k], leaf[o]) == expect,
                          "key %d, leaf %d, scheme %s: want %d", k, o, s->name, expect);
            ck_assert_int_eq(kitls_sig_peer_matches(s, pubs[k], NULL), expect);
        }
    }
    for (int k = 0; k < K_NKEYS; k++)
        X509_free(leaf[k]);
}
END_TEST

/* The thread's signature object for verifying is reused: values of one
 * verification (good, or parsed halfway) never decide the next. */
START_TEST(test_verify_reuse)
{
    uint8_t d[32], a[256], b[256], x[256];
    size_t na = sizeof(a), nb = sizeof(b);
    memset(d, 0x11, sizeof(d));
    ck_assert_int_eq(kitls_sig_ec_sign(keys[K_P256], d, sizeof(d), a, &na), 1);
    ck_assert_int_eq(kitls_sig_ec_sign(keys[K_P256], d, sizeof(d), b, &nb), 1);
    ck_assert_int_eq(kitls_sig_ec_verify(pubs[K_P256], d, sizeof(d), a, na), 1);
    /* a's r then a broken s: refused, and b still verifies afterwards. */
    memcpy(x, a, na);
    x[4 + x[3]] = 0x05; /* s's tag */
    ck_assert_int_eq(kitls_sig_ec_verify(pubs[K_P256], d, sizeof(d), x, na), KITLS_E_DECRYPT_ERROR);
    ck_assert_int_eq(kitls_sig_ec_verify(pubs[K_P256], d, sizeof(d), b, nb), 1);
    /* b's r with a's s (when the lengths let them swap): refused. */
    size_t ra = 2 + (size_t)a[3], rb = 2 + (size_t)b[3];
    if (ra == rb) {
        memcpy(x, b, 2 + rb);
        memcpy(x + 2 + rb, a + 2 + ra, na - 2 - ra);
        x[1] = (uint8_t)(rb + na - 2 - ra);
        ck_assert_int_eq(kitls_sig_ec_verify(pubs[K_P256], d, sizeof(d), x, rb + na - ra),
                         KITLS_E_DECRYPT_ERROR);
    }
    ck_assert_int_eq(kitls_sig_ec_verify(pubs[K_P256], d, sizeof(d), a, na), 1);
    d[0] ^= 1;
    ck_assert_int_eq(kitls_sig_ec_verify(pubs[K_P256], d, sizeof(d), a, na), KITLS_E_DECRYPT_ERROR);
}
END_TEST

static Suite *sig_ec_suite(void)
{
    Suite *s = suite_create("sig_ec");
    TCase *tc = tcase_create("ecdsa");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_which_keys);
    tcase_add_loop_test(tc, test_paths_agree, 0, 2);
    tcase_add_loop_test(tc, test_altered_refused, 0, 2);
    tcase_add_loop_test(tc, test_der_exact, 0, 2);
    tcase_add_test(tc, test_key_mask);
    tcase_add_test(tc, test_peer_mask);
    tcase_add_test(tc, test_verify_reuse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sig_ec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < K_NKEYS; i++) {
        EVP_PKEY_free(keys[i]);
        EVP_PKEY_free(pubs[i]);
    }
    return failed ? 1 : 0;
}
