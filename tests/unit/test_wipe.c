/*
 * Secrets left in libcrypto's heap (review F8).  Every allocation libcrypto
 * makes goes through counting hooks (CRYPTO_set_mem_functions, installed in
 * main() before anything else), so a test can search all live libcrypto
 * memory for a secret after the code that derived it has returned.
 *
 * The reused per-thread HMAC context (lib/keysched.c) ended each HMAC with
 * its chaining state equal to the output, i.e. the last HKDF block: a
 * traffic secret, a Finished key or a ticket's resumption PSK, kept until the
 * thread's next HMAC.  SHA-2 keeps that state as host-order words, so the
 * search looks for the output as bytes and word-swapped.
 */
#include <check.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- libcrypto allocations, tracked ---- */

struct blk {
    struct blk *prev, *next;
    size_t size;
    size_t pad; /* keeps the payload 16-byte aligned on LP64 */
};
static struct blk live = {&live, &live, 0, 0};

static void *t_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    struct blk *b = malloc(sizeof(*b) + (n ? n : 1));
    if (!b)
        return NULL;
    b->size = n;
    b->next = live.next;
    b->prev = &live;
    live.next->prev = b;
    live.next = b;
    return b + 1;
}

static void t_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    if (!p)
        return;
    struct blk *b = (struct blk *)p - 1;
    b->prev->next = b->next;
    b->next->prev = b->prev;
    free(b);
}

static void *t_realloc(void *p, size_t n, const char *file, int line)
{
    if (!p)
        return t_malloc(n, file, line);
    if (!n) {
        t_free(p, file, line);
        return NULL;
    }
    struct blk *old = (struct blk *)p - 1;
    void *q = t_malloc(n, file, line);
    if (!q)
        return NULL;
    memcpy(q, p, old->size < n ? old->size : n);
    t_free(p, file, line);
    return q;
}

/* Is `pat` (len bytes) anywhere in live libcrypto memory? */
static int in_libcrypto_heap(const uint8_t *pat, size_t len)
{
    for (struct blk *b = live.next; b != &live; b = b->next) {
        const uint8_t *p = (const uint8_t *)(b + 1);
        for (size_t i = 0; i + len <= b->size; i++)
            if (!memcmp(p + i, pat, len))
                return 1;
    }
    return 0;
}

/* The output as bytes, as 32-bit words swapped (SHA-256 state) and as
 * 64-bit words swapped (SHA-384/512 state).  Only the first 16 bytes of
 * each form are searched: a match of that length is no accident. */
static int secret_left(const uint8_t *out)
{
    uint8_t w32[16], w64[16];
    for (size_t i = 0; i < 16; i++) {
        w32[i] = out[(i & ~(size_t)3) + 3 - (i & 3)];
        w64[i] = out[(i & ~(size_t)7) + 7 - (i & 7)];
    }
    return in_libcrypto_heap(out, 16) || in_libcrypto_heap(w32, 16) || in_libcrypto_heap(w64, 16);
}

static void hmac_case(const char *name)
{
    const EVP_MD *md = EVP_get_digestbyname(name);
    ck_assert_ptr_nonnull(md);
    uint8_t key[48], msg[100], out[64];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(0xa0 + i);
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)i;
    /* Twice: the first call may create the thread's context. */
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(kitls_hmac(md, key, sizeof(key), msg, sizeof(msg), out), 0);
        ck_assert_msg(!secret_left(out), "%s HMAC output found in libcrypto's heap (round %d)",
                      name, round);
    }
}

START_TEST(hmac_sha256_state_wiped)
{
    hmac_case("SHA256");
}
END_TEST

START_TEST(hmac_sha384_state_wiped)
{
    hmac_case("SHA384");
}
END_TEST

/* The HKDF steps the key schedule uses end in an HMAC: the derived secret
 * must not stay behind either. */
START_TEST(hkdf_expand_label_wiped)
{
    const EVP_MD *md = EVP_sha256();
    uint8_t secret[32], out[32];
    memset(secret, 0x5c, sizeof(secret));
    ck_assert_int_eq(kitls_hkdf_expand_label(md, secret, sizeof(secret), "resumption",
                                             (const uint8_t *)"\x00", 1, out, sizeof(out)),
                     0);
    ck_assert_msg(!secret_left(out), "HKDF-Expand-Label output found in libcrypto's heap");
}
END_TEST

/* The search itself works: a secret copied into a libcrypto allocation is
 * found, in each form. */
START_TEST(search_finds_planted_secret)
{
    uint8_t out[32];
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(0x11 * i + 7);
    uint8_t *p = OPENSSL_malloc(64);
    ck_assert_ptr_nonnull(p);
    memset(p, 0, 64);
    memcpy(p + 5, out, 16);
    ck_assert(secret_left(out));
    memset(p, 0, 64);
    for (size_t i = 0; i < 16; i++)
        p[20 + i] = out[(i & ~(size_t)3) + 3 - (i & 3)];
    ck_assert(secret_left(out));
    OPENSSL_free(p);
    ck_assert(!secret_left(out));
}
END_TEST

static Suite *wipe_suite(void)
{
    Suite *s = suite_create("wipe");
    TCase *t = tcase_create("libcrypto heap");
    tcase_add_test(t, search_finds_planted_secret);
    tcase_add_test(t, hmac_sha256_state_wiped);
    tcase_add_test(t, hmac_sha384_state_wiped);
    tcase_add_test(t, hkdf_expand_label_wiped);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    /* Before libcrypto allocates anything. */
    if (!CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free))
        return 99;
    SRunner *sr = srunner_create(wipe_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
