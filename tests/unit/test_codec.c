/* Bounded readers and writers (lib/codec.h, lib/codec.c). */
#include <check.h>
#include <string.h>

#include "codec.h"

START_TEST(test_rd_ints)
{
    static const uint8_t b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a};
    struct rd r;
    uint8_t v8;
    uint16_t v16;
    uint32_t v32;
    rd_init(&r, b, sizeof(b));
    ck_assert_int_eq(rd_u8(&r, &v8), 0);
    ck_assert_uint_eq(v8, 1);
    ck_assert_int_eq(rd_u16(&r, &v16), 0);
    ck_assert_uint_eq(v16, 0x0203);
    ck_assert_int_eq(rd_u24(&r, &v32), 0);
    ck_assert_uint_eq(v32, 0x040506);
    ck_assert_int_eq(rd_u32(&r, &v32), 0);
    ck_assert_uint_eq(v32, 0x0708090a);
    ck_assert(rd_empty(&r));
    ck_assert_int_eq(rd_expect_empty(&r), 0);
    ck_assert_int_eq(rd_u8(&r, &v8), KITLS_E_DECODE);
}
END_TEST

/* Every read past the end fails and consumes nothing. */
START_TEST(test_rd_bounds)
{
    static const uint8_t b[3] = {0xff, 0xfe, 0xfd};
    for (size_t len = 0; len <= 3; len++) {
        struct rd r;
        uint16_t v16;
        uint32_t v32;
        const uint8_t *p;
        rd_init(&r, b, len);
        if (len < 2)
            ck_assert_int_eq(rd_u16(&r, &v16), KITLS_E_DECODE);
        if (len < 3)
            ck_assert_int_eq(rd_u24(&r, &v32), KITLS_E_DECODE);
        ck_assert_int_eq(rd_u32(&r, &v32), KITLS_E_DECODE);
        ck_assert_int_eq(rd_bytes(&r, len + 1, &p), KITLS_E_DECODE);
        ck_assert_uint_eq(rd_left(&r), len);
        ck_assert_int_eq(rd_bytes(&r, len, &p), 0);
        ck_assert_uint_eq(rd_left(&r), 0);
    }
    struct rd r;
    const uint8_t *p;
    rd_init(&r, b, 3);
    ck_assert_int_eq(rd_bytes(&r, SIZE_MAX, &p), KITLS_E_DECODE);
    ck_assert_int_eq(rd_expect_empty(&r), KITLS_E_DECODE);
}
END_TEST

START_TEST(test_rd_has_u16)
{
    /* a list of 16-bit values; a trailing odd byte is not a value */
    static const uint8_t b[] = {0x13, 0x01, 0x00, 0x1d, 0x03};
    struct rd r = {b, b + sizeof(b)};
    ck_assert_int_eq(rd_has_u16(r, 0x1301), 1);
    ck_assert_int_eq(rd_has_u16(r, 0x001d), 1);
    ck_assert_int_eq(rd_has_u16(r, 0x1d03), 0); /* not aligned */
    ck_assert_int_eq(rd_has_u16(r, 0x0300), 0);
    ck_assert_ptr_eq(r.p, b); /* the caller's reader is untouched */
    struct rd empty = {b, b};
    ck_assert_int_eq(rd_has_u16(empty, 0), 0);
}
END_TEST

START_TEST(test_rd_sub)
{
    /* 1-, 2- and 3-byte length prefixes, then a vector whose length lies. */
    static const uint8_t b[] = {2, 0xaa, 0xbb, 0, 1, 0xcc, 0, 0, 2, 0xdd, 0xee, 0, 9, 1};
    struct rd r, s;
    uint8_t v;
    rd_init(&r, b, sizeof(b));
    ck_assert_int_eq(rd_sub(&r, 1, &s), 0);
    ck_assert_uint_eq(rd_left(&s), 2);
    ck_assert_int_eq(rd_u8(&s, &v), 0);
    ck_assert_uint_eq(v, 0xaa);
    ck_assert_int_eq(rd_sub(&r, 2, &s), 0);
    ck_assert_uint_eq(rd_left(&s), 1);
    ck_assert_int_eq(rd_sub(&r, 3, &s), 0);
    ck_assert_uint_eq(rd_left(&s), 2);
    ck_assert_int_eq(rd_u8(&s, &v), 0);
    ck_assert_uint_eq(v, 0xdd);
    /* Sub-reader cannot read past its own end even though the parent can. */
    ck_assert_int_eq(rd_u8(&s, &v), 0);
    ck_assert_int_eq(rd_u8(&s, &v), KITLS_E_DECODE);
    ck_assert_int_eq(rd_sub(&r, 2, &s), KITLS_E_DECODE); /* says 9, has 1 */
    /* Truncated prefix itself. */
    rd_init(&r, b, 1);
    ck_assert_int_eq(rd_sub(&r, 2, &s), KITLS_E_DECODE);
    rd_init(&r, b, 2);
    ck_assert_int_eq(rd_sub(&r, 3, &s), KITLS_E_DECODE);
}
END_TEST

START_TEST(test_wr_basic)
{
    struct wr w = {0};
    wr_u8(&w, 1);
    wr_u16(&w, 0x0203);
    wr_u24(&w, 0x040506);
    wr_u32(&w, 0x0708090a);
    ck_assert_int_eq(w.err, 0);
    ck_assert_uint_eq(w.len, 10);
    static const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    ck_assert_mem_eq(w.buf, want, 10);
    wr_free(&w);
    ck_assert_ptr_null(w.buf);
    ck_assert_uint_eq(w.len, 0);
}
END_TEST

START_TEST(test_wr_prefix)
{
    struct wr w = {0};
    size_t outer = wr_begin(&w, 2);
    size_t inner = wr_begin(&w, 1);
    wr_put(&w, "abc", 3);
    wr_end(&w, inner, 1);
    wr_u8(&w, 9);
    wr_end(&w, outer, 2);
    ck_assert_int_eq(w.err, 0);
    static const uint8_t want[] = {0, 5, 3, 'a', 'b', 'c', 9};
    ck_assert_uint_eq(w.len, sizeof(want));
    ck_assert_mem_eq(w.buf, want, sizeof(want));
    /* Round trip through the reader. */
    struct rd r, s, t;
    rd_init(&r, w.buf, w.len);
    ck_assert_int_eq(rd_sub(&r, 2, &s), 0);
    ck_assert_int_eq(rd_sub(&s, 1, &t), 0);
    ck_assert_uint_eq(rd_left(&t), 3);
    ck_assert_int_eq(rd_expect_empty(&r), 0);
    wr_free(&w);
}
END_TEST

START_TEST(test_wr_overflow_latches)
{
    struct wr w = {0};
    uint8_t big[300];
    memset(big, 7, sizeof(big));
    size_t at = wr_begin(&w, 1);
    wr_put(&w, big, 256); /* one too many for a 1-byte prefix */
    wr_end(&w, at, 1);
    ck_assert_int_eq(w.err, KITLS_E_INTERNAL);
    size_t len = w.len;
    wr_u8(&w, 1); /* latched: nothing more is written */
    ck_assert_uint_eq(w.len, len);
    wr_free(&w);
    ck_assert_int_eq(w.err, 0);
}
END_TEST

/* A writer on the caller's stack stays there while it fits, moves to the
 * heap with its bytes when it outgrows it (the stack copy wiped), and
 * wr_free never frees the caller's storage (ASan would report it) but
 * wipes what was written there. */
START_TEST(test_wr_on_stack)
{
    uint8_t big[300];
    memset(big, 0xa5, sizeof(big));
    {
        WR_ON_STACK(w, 64);
        wr_put(&w, big, 40);
        ck_assert_ptr_eq(w.buf, w_stack);
        ck_assert_int_eq(w.len, 40);
        wr_free(&w);
        for (size_t i = 0; i < 40; i++)
            ck_assert_uint_eq(w_stack[i], 0);
        ck_assert_ptr_null(w.buf);
    }
    {
        WR_ON_STACK(w, 64);
        wr_put(&w, big, 40);
        wr_put(&w, big, sizeof(big));
        ck_assert_int_eq(w.err, 0);
        ck_assert_ptr_ne(w.buf, w_stack);
        ck_assert_int_eq(w.len, 40 + sizeof(big));
        for (size_t i = 0; i < w.len; i++)
            ck_assert_uint_eq(w.buf[i], 0xa5);
        for (size_t i = 0; i < 40; i++)
            ck_assert_uint_eq(w_stack[i], 0);
        wr_free(&w);
        ck_assert_ptr_null(w.buf);
    }
}
END_TEST

START_TEST(test_wr_grow)
{
    struct wr w = {0};
    for (int i = 0; i < 100000; i++)
        wr_u8(&w, (uint8_t)i);
    ck_assert_int_eq(w.err, 0);
    ck_assert_uint_eq(w.len, 100000);
    ck_assert_uint_ge(w.cap, 100000);
    for (int i = 0; i < 100000; i += 997)
        ck_assert_uint_eq(w.buf[i], (uint8_t)i);
    ck_assert_int_eq(wr_reserve(&w, 1 << 20), 0);
    ck_assert_uint_ge(w.cap - w.len, 1 << 20);
    wr_put(&w, NULL, 0);
    ck_assert_uint_eq(w.len, 100000);
    wr_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, test_rd_ints);
    tcase_add_test(tc, test_rd_bounds);
    tcase_add_test(tc, test_rd_has_u16);
    tcase_add_test(tc, test_rd_sub);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer");
    tcase_add_test(tc, test_wr_basic);
    tcase_add_test(tc, test_wr_prefix);
    tcase_add_test(tc, test_wr_overflow_latches);
    tcase_add_test(tc, test_wr_grow);
    tcase_add_test(tc, test_wr_on_stack);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
