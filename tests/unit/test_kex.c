/* Key exchange (lib/crypto.c kitls_kex_*): the thread's reused peer-key object. */
#include <check.h>
#include <openssl/evp.h>
#include <string.h>

#include "internal.h"

static const uint16_t groups[] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1, KITLS_GROUP_SECP384R1};

/* Both sides of one exchange agree; returns the secret's length. */
static size_t agree(const struct kitls_group *g, uint8_t *secret)
{
    EVP_PKEY *a, *b;
    uint8_t pa[133], pb[133], sb[KITLS_MAX_HASH * 2];
    size_t la, lb, na, nb;
    ck_assert_int_eq(kitls_kex_keygen(g, &a, pa, &la), 0);
    ck_assert_int_eq(kitls_kex_keygen(g, &b, pb, &lb), 0);
    /* Fresh keys every time (RFC 8446 §4.2.8). */
    ck_assert(memcmp(pa, pb, la) != 0);
    ck_assert_int_eq(kitls_kex_derive(g, a, pb, lb, secret, &na), 0);
    ck_assert_int_eq(kitls_kex_derive(g, b, pa, la, sb, &nb), 0);
    ck_assert_uint_eq(na, nb);
    ck_assert_mem_eq(secret, sb, na);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    return na;
}

/* The thread keeps one peer-key object per group and gives it each
 * derivation's share: a stale share would make the two sides disagree,
 * and a bad share must fail however many good ones came before (and
 * not spoil the next). */
START_TEST(test_peer_key_reuse)
{
    for (size_t gi = 0; gi < sizeof(groups) / sizeof(groups[0]); gi++) {
        const struct kitls_group *g = kitls_group_find(groups[gi]);
        uint8_t s1[KITLS_MAX_HASH * 2], s2[KITLS_MAX_HASH * 2], pub[133], bad[133];
        EVP_PKEY *k;
        size_t n1, n2, lp, n;
        ck_assert_ptr_nonnull(g);
        n1 = agree(g, s1);
        n2 = agree(g, s2);
        ck_assert_uint_eq(n1, n2);
        ck_assert(memcmp(s1, s2, n1) != 0);
        ck_assert_int_eq(kitls_kex_keygen(g, &k, pub, &lp), 0);
        memset(bad, 0, sizeof(bad));
        if (g->is_ec) {
            bad[0] = 4; /* (0, 0) is not on the curve */
        }
        /* X25519: the all-zero share has small order (RFC 7748 §6.1). */
        ck_assert_int_eq(kitls_kex_derive(g, k, bad, lp, s1, &n), KITLS_E_ILLEGAL_PARAMETER);
        EVP_PKEY_free(k);
        agree(g, s1);
    }
    kitls_kex_thread_free();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kex");
    TCase *tc = tcase_create("kex");
    tcase_add_test(tc, test_peer_key_reuse);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
