/* Hybrid ML-KEM groups (lib/kem.c): share layout and secret combination
 * (draft-ietf-tls-ecdhe-mlkem §4), exact sizes, FIPS 203 §7.2's
 * encapsulation key check.  The cases that run ML-KEM are added only
 * where libcrypto has it (OpenSSL 3.5; tests/pq runs them). */
#include <check.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "kem.h"

#define XM KITLS_GROUP_X25519MLKEM768
#define PM KITLS_GROUP_SECP256R1MLKEM768

/* Known answer: X25519MLKEM768 is ML-KEM part then X25519, and
 * SecP256r1MLKEM768 the P-256 part then ML-KEM, in shares and secrets. */
START_TEST(test_join_layout)
{
    static const uint8_t kem[4] = {1, 2, 3, 4}, ec[3] = {0xe1, 0xe2, 0xe3};
    static const uint8_t want_x[7] = {1, 2, 3, 4, 0xe1, 0xe2, 0xe3};
    static const uint8_t want_p[7] = {0xe1, 0xe2, 0xe3, 1, 2, 3, 4};
    uint8_t out[7];
    ck_assert_uint_eq(kitls_hyb_join(kitls_group_find(XM), kem, 4, ec, 3, out), 7);
    ck_assert_mem_eq(out, want_x, 7);
    ck_assert_uint_eq(kitls_hyb_join(kitls_group_find(PM), kem, 4, ec, 3, out), 7);
    ck_assert_mem_eq(out, want_p, 7);
}
END_TEST

/* Where each part starts, for the four share sizes, and that any other
 * length is illegal_parameter. */
START_TEST(test_split_layout)
{
    static uint8_t sh[KITLS_MAX_SHARE_LEN + 1];
    const struct kitls_group *x = kitls_group_find(XM), *p = kitls_group_find(PM);
    const uint8_t *k, *e;
    ck_assert_uint_eq(x->share_len, 1216);
    ck_assert_uint_eq(p->share_len, 1249);
    ck_assert_int_eq(kitls_hyb_split(x, sh, 1216, KITLS_MLKEM768_EK_LEN, &k, &e), 0);
    ck_assert(k == sh && e == sh + 1184);
    ck_assert_int_eq(kitls_hyb_split(x, sh, 1120, KITLS_MLKEM768_CT_LEN, &k, &e), 0);
    ck_assert(k == sh && e == sh + 1088);
    ck_assert_int_eq(kitls_hyb_split(p, sh, 1249, KITLS_MLKEM768_EK_LEN, &k, &e), 0);
    ck_assert(e == sh && k == sh + 65);
    ck_assert_int_eq(kitls_hyb_split(p, sh, 1153, KITLS_MLKEM768_CT_LEN, &k, &e), 0);
    ck_assert(e == sh && k == sh + 65);
    static const size_t bad_x[] = {0, 32, 1184, 1215, 1217, 1249};
    static const size_t bad_p[] = {0, 65, 1184, 1216, 1248, 1250};
    for (size_t i = 0; i < sizeof(bad_x) / sizeof(bad_x[0]); i++) {
        ck_assert_int_eq(kitls_hyb_split(x, sh, bad_x[i], KITLS_MLKEM768_EK_LEN, &k, &e),
                         KITLS_E_ILLEGAL_PARAMETER);
        ck_assert_int_eq(kitls_hyb_split(p, sh, bad_p[i], KITLS_MLKEM768_EK_LEN, &k, &e),
                         KITLS_E_ILLEGAL_PARAMETER);
    }
    ck_assert_int_eq(kitls_hyb_split(x, sh, 1119, KITLS_MLKEM768_CT_LEN, &k, &e),
                     KITLS_E_ILLEGAL_PARAMETER);
    ck_assert_int_eq(kitls_hyb_split(p, sh, 1154, KITLS_MLKEM768_CT_LEN, &k, &e),
                     KITLS_E_ILLEGAL_PARAMETER);
}
END_TEST

/* A server given a client share of the wrong size refuses it with
 * illegal_parameter before any ML-KEM work (so on OpenSSL 3.0 too). */
START_TEST(test_server_wrong_length)
{
    static uint8_t sh[KITLS_MAX_SHARE_LEN + 1], pub[KITLS_MAX_SHARE_LEN];
    uint8_t sec[KITLS_MAX_HASH * 2];
    size_t pl, sl;
    static const size_t lens[] = {1, 32, 1215, 1217, 1248, 1250};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        if (lens[i] != 1216)
            ck_assert_int_eq(
                kitls_hyb_server(kitls_group_find(XM), sh, lens[i], pub, &pl, sec, &sl),
                KITLS_E_ILLEGAL_PARAMETER);
        ck_assert_int_eq(kitls_hyb_server(kitls_group_find(PM), sh, lens[i], pub, &pl, sec, &sl),
                         KITLS_E_ILLEGAL_PARAMETER);
    }
}
END_TEST

/* Availability is what an independent fetch finds; the default list leads
 * with the hybrid (and two key shares) only then. */
START_TEST(test_available)
{
    EVP_KEM *k = EVP_KEM_fetch(NULL, "ML-KEM-768", NULL);
    int have = k != NULL;
    EVP_KEM_free(k);
    ERR_clear_error();
    ck_assert_int_eq(kitls_kem_available(), have);
    ck_assert_int_eq(kitls_group_available(XM), have);
    ck_assert_int_eq(kitls_group_available(PM), have);
    ck_assert_int_eq(kitls_group_available(KITLS_GROUP_X25519), 1);
    ck_assert_int_eq(kitls_group_available(0x1234), 0);
    ck_assert_str_eq(kitls_group_name(XM), "X25519MLKEM768");
    ck_assert_str_eq(kitls_group_name(PM), "SecP256r1MLKEM768");
    ck_assert_uint_eq(kitls_group_by_name("x25519mlkem768"), XM);
    uint16_t ids[KITLS_MAX_ALGS];
    size_t shares = 9, n = kitls_default_group_list(ids, &shares);
    static const uint16_t with[4] = {XM, KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1,
                                     KITLS_GROUP_SECP384R1};
    ck_assert_uint_eq(n, have ? 4 : 3);
    ck_assert_uint_eq(shares, have ? 2 : 1);
    ck_assert_mem_eq(ids, have ? with : with + 1, n * sizeof(ids[0]));
    if (!have) {
        EVP_PKEY *e = NULL, *m = NULL;
        uint8_t pub[KITLS_MAX_SHARE_LEN];
        size_t pl;
        ck_assert_int_eq(kitls_hyb_keygen(kitls_group_find(XM), &e, &m, pub, &pl),
                         KITLS_E_UNAVAILABLE);
        ck_assert_ptr_null(e);
        ck_assert_ptr_null(m);
    }
}
END_TEST

/* ---- with ML-KEM ---- */

static void keygen(uint16_t gid, EVP_PKEY **ec, EVP_PKEY **kem, uint8_t *pub, size_t *pl)
{
    ck_assert_int_eq(kitls_hyb_keygen(kitls_group_find(gid), ec, kem, pub, pl), 0);
    ck_assert_uint_eq(*pl, kitls_group_find(gid)->share_len);
}

/* Both sides agree, and the secret is exactly ML-KEM's shared secret and
 * the ECDH output in the group's order, each recomputed here on its own
 * (decapsulating the share's ciphertext, ECDH with the share's point);
 * the client share holds the keys' own public encodings. */
START_TEST(test_roundtrip)
{
    static const uint16_t gids[2] = {XM, PM};
    for (size_t gi = 0; gi < 2; gi++) {
        const struct kitls_group *g = kitls_group_find(gids[gi]);
        const struct kitls_group *eg = kitls_group_find(g->hybrid_ec);
        int ecf = gids[gi] == PM;
        EVP_PKEY *ec, *kem;
        uint8_t cpub[KITLS_MAX_SHARE_LEN], spub[KITLS_MAX_SHARE_LEN], again[KITLS_MAX_SHARE_LEN];
        uint8_t ss[KITLS_MAX_HASH * 2], cs[KITLS_MAX_HASH * 2], e2[KITLS_MAX_HASH * 2];
        uint8_t ek[KITLS_MLKEM768_EK_LEN], k2[32];
        size_t cl, sl, sn, cn, al, n;
        keygen(gids[gi], &ec, &kem, cpub, &cl);
        ck_assert_int_eq(kitls_hyb_share(g, ec, kem, again, &al), 0);
        ck_assert_uint_eq(al, cl);
        ck_assert_mem_eq(again, cpub, cl);
        ck_assert_int_eq(EVP_PKEY_get_octet_string_param(kem, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                                         ek, sizeof(ek), &n),
                         1);
        ck_assert_mem_eq(cpub + (ecf ? 65 : 0), ek, sizeof(ek));

        ck_assert_int_eq(kitls_hyb_server(g, cpub, cl, spub, &sl, ss, &sn), 0);
        ck_assert_uint_eq(sl, ecf ? 1153 : 1120);
        ck_assert_uint_eq(sn, 64);
        ck_assert_int_eq(kitls_hyb_client_derive(g, ec, kem, spub, sl, cs, &cn), 0);
        ck_assert_uint_eq(cn, 64);
        ck_assert_mem_eq(cs, ss, 64);

        /* ML-KEM part: decapsulate the ciphertext ourselves. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kem, NULL);
        n = sizeof(k2);
        ck_assert_int_eq(EVP_PKEY_decapsulate_init(ctx, NULL), 1);
        ck_assert_int_eq(EVP_PKEY_decapsulate(ctx, k2, &n, spub + (ecf ? 65 : 0), 1088), 1);
        EVP_PKEY_CTX_free(ctx);
        ck_assert_mem_eq(ss + (ecf ? 32 : 0), k2, 32);
        /* ECDH part: with the share's point. */
        ck_assert_int_eq(kitls_kex_derive(eg, ec, spub + (ecf ? 0 : 1088), eg->share_len, e2, &n),
                         0);
        ck_assert_uint_eq(n, 32);
        ck_assert_mem_eq(ss + (ecf ? 0 : 32), e2, 32);

        /* A server share one byte short or long: illegal_parameter. */
        ck_assert_int_eq(kitls_hyb_client_derive(g, ec, kem, spub, sl - 1, cs, &cn),
                         KITLS_E_ILLEGAL_PARAMETER);
        ck_assert_int_eq(kitls_hyb_client_derive(g, ec, kem, spub, sl + 1, cs, &cn),
                         KITLS_E_ILLEGAL_PARAMETER);
        EVP_PKEY_free(ec);
        EVP_PKEY_free(kem);
    }
}
END_TEST

/* FIPS 203 §7.2: every 12-bit coefficient of the encapsulation key must
 * be below q = 3329.  OpenSSL 3.5 checks it when the key is imported
 * (kem.c encap()); q - 1 passes, q and 4095 are illegal_parameter. */
START_TEST(test_ek_modulus_check)
{
    static const uint16_t gids[2] = {XM, PM};
    static const unsigned coef[3] = {3328, 3329, 4095};
    for (size_t gi = 0; gi < 2; gi++) {
        const struct kitls_group *g = kitls_group_find(gids[gi]);
        size_t at = gids[gi] == PM ? 65 : 0;
        for (size_t ci = 0; ci < 3; ci++) {
            EVP_PKEY *ec, *kem;
            uint8_t pub[KITLS_MAX_SHARE_LEN], spub[KITLS_MAX_SHARE_LEN], ss[KITLS_MAX_HASH * 2];
            size_t pl, sl, sn;
            keygen(gids[gi], &ec, &kem, pub, &pl);
            /* The first coefficient: byte 0 and the low nibble of byte 1. */
            pub[at] = (uint8_t)(coef[ci] & 0xff);
            pub[at + 1] = (uint8_t)((pub[at + 1] & 0xf0) | (coef[ci] >> 8));
            ck_assert_int_eq(kitls_hyb_server(g, pub, pl, spub, &sl, ss, &sn),
                             coef[ci] < 3329 ? 0 : KITLS_E_ILLEGAL_PARAMETER);
            EVP_PKEY_free(ec);
            EVP_PKEY_free(kem);
        }
    }
}
END_TEST

/* An invalid ECDH part: an X25519 point of small order (all-zero output,
 * RFC 7748 §6.1) or a P-256 point off the curve: illegal_parameter. */
START_TEST(test_bad_ec_part)
{
    EVP_PKEY *ec, *kem;
    uint8_t pub[KITLS_MAX_SHARE_LEN], spub[KITLS_MAX_SHARE_LEN], ss[KITLS_MAX_HASH * 2];
    size_t pl, sl, sn;
    keygen(XM, &ec, &kem, pub, &pl);
    memset(pub + 1184, 0, 32);
    ck_assert_int_eq(kitls_hyb_server(kitls_group_find(XM), pub, pl, spub, &sl, ss, &sn),
                     KITLS_E_ILLEGAL_PARAMETER);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(kem);
    keygen(PM, &ec, &kem, pub, &pl);
    pub[64] ^= 1; /* y no longer matches x */
    ck_assert_int_eq(kitls_hyb_server(kitls_group_find(PM), pub, pl, spub, &sl, ss, &sn),
                     KITLS_E_ILLEGAL_PARAMETER);
    pub[64] ^= 1;
    pub[0] = 2; /* compressed form: not allowed (RFC 8446 §4.2.8.2) */
    ck_assert_int_eq(kitls_hyb_server(kitls_group_find(PM), pub, pl, spub, &sl, ss, &sn),
                     KITLS_E_ILLEGAL_PARAMETER);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(kem);
}
END_TEST

int main(void)
{
    if (kitls_alg_init())
        return 99;
    Suite *s = suite_create("kem");
    TCase *t = tcase_create("layout");
    tcase_add_test(t, test_join_layout);
    tcase_add_test(t, test_split_layout);
    tcase_add_test(t, test_server_wrong_length);
    tcase_add_test(t, test_available);
    suite_add_tcase(s, t);
    if (kitls_kem_available()) {
        t = tcase_create("mlkem");
        tcase_add_test(t, test_roundtrip);
        tcase_add_test(t, test_ek_modulus_check);
        tcase_add_test(t, test_bad_ec_part);
        suite_add_tcase(s, t);
    } else {
        printf("test_kem: libcrypto has no ML-KEM-768 (OpenSSL < 3.5): the ML-KEM cases "
               "(round trip, FIPS 203 key check, bad ECDH part) are skipped; tests/pq runs them\n");
    }
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
