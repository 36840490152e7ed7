/*
 * kitls_conn_read_from(): records decrypted from the caller's bytes, and
 * every case that must fall back to feed + read with the same result.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static kitls_config *scfg, *ccfg;
static uint8_t data[70000], got[70000];

static void setup(void)
{
    tu_pki_init();
    scfg = tu_server_config(TU_P256);
    ccfg = tu_client_config();
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 131 + 7);
}

static void teardown(void)
{
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}

static void pair(kitls_conn **c, kitls_conn **s)
{
    *c = tu_client(ccfg, "localhost");
    *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(*c, *s, NULL, NULL), 0);
    tu_move(*s, *c); /* the tickets */
    ck_assert_int_eq(kitls_conn_read(*c, got, 1), KITLS_E_WANT_READ);
}

/* The client's pending output, taken (caller frees). */
static uint8_t *take(kitls_conn *c, size_t *len)
{
    uint8_t *w = tu_out_copy(c, len);
    kitls_conn_out_consume(c, *len);
    return w;
}

/* Read everything in w through read_from, calls of at most `step` bytes of
 * input; returns the data bytes read into got. */
static size_t drain(kitls_conn *s, const uint8_t *w, size_t n, size_t step, size_t out_len)
{
    size_t off = 0, have = 0;
    while (off < n) {
        size_t used = 0, give = n - off < step ? n - off : step;
        int r = kitls_conn_read_from(s, w + off, give, &used, got + have, out_len);
        ck_assert(r > 0 || r == KITLS_E_WANT_READ);
        ck_assert_uint_le(used, give);
        ck_assert(used > 0 || r > 0);
        off += used;
        if (r > 0)
            have += (size_t)r;
    }
    int r;
    while ((r = kitls_conn_read(s, got + have, out_len)) > 0)
        have += (size_t)r;
    ck_assert_int_eq(r, KITLS_E_WANT_READ);
    return have;
}

START_TEST(whole_record)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    size_t n, used = 0;
    ck_assert_int_eq(kitls_conn_write(c, data, 16384), 16384);
    uint8_t *w = take(c, &n);
    /* no input buffer taken: feed + read would take one and leave it
     * among the thread's spares */
    kitls_buffer_cache_flush();
    ck_assert_int_eq(kitls_conn_read_from(s, w, n, &used, got, 16385), 16384);
    ck_assert_uint_eq(used, n);
    ck_assert(!memcmp(got, data, 16384));
    ck_assert_uint_eq(kitls_conn_in_needed(s), 0);
    ck_assert_uint_eq(kitls_buffer_cache_bytes(), 0);
    /* the wire bytes were only read: decrypting them again fails (seq) */
    ck_assert_int_eq(kitls_conn_read_from(s, w, n, &used, got, 16385), KITLS_E_BAD_RECORD_MAC);
    free(w);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(partial_records)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    size_t n, used = 0;
    ck_assert_int_eq(kitls_conn_write(c, data, 40000), 40000);
    uint8_t *w = take(c, &n);
    /* the first 3 bytes: buffered, WANT_READ */
    ck_assert_int_eq(kitls_conn_read_from(s, w, 3, &used, got, 16385), KITLS_E_WANT_READ);
    ck_assert_uint_eq(used, 3);
    ck_assert_uint_eq(drain(s, w + 3, n - 3, 1000, 16385), 40000);
    ck_assert(!memcmp(got, data, 40000));
    /* odd splits across record boundaries */
    ck_assert_int_eq(kitls_conn_write(c, data, 40000), 40000);
    free(w);
    w = take(c, &n);
    ck_assert_uint_eq(drain(s, w, n, 16400, 16385), 40000);
    ck_assert(!memcmp(got, data, 40000));
    free(w);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(several_records_one_input)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    size_t n, used = 0, off = 0, have = 0;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(kitls_conn_write(c, data + 1000 * i, 1000), 1000);
    uint8_t *w = take(c, &n);
    for (int i = 0; i < 3; i++) {
        int r = kitls_conn_read_from(s, w + off, n - off, &used, got + have, 2000);
        ck_assert_int_eq(r, 1000);
        ck_assert_uint_eq(used, n / 3); /* one record per call */
        off += used;
        have += 1000;
    }
    ck_assert_uint_eq(off, n);
    ck_assert(!memcmp(got, data, 3000));
    ck_assert_int_eq(kitls_conn_read_from(s, w, 0, &used, got, 2000), KITLS_E_WANT_READ);
    free(w);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* A record out does not hold (content type byte included): fed, then read. */
START_TEST(small_out_falls_back)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    size_t n, used = 0;
    ck_assert_int_eq(kitls_conn_write(c, data, 16384), 16384);
    uint8_t *w = take(c, &n);
    ck_assert_int_eq(kitls_conn_read_from(s, w, n, &used, got, 16384), 16384);
    ck_assert_uint_eq(used, n);
    ck_assert(!memcmp(got, data, 16384));
    ck_assert_int_eq(kitls_conn_write(c, data, 3000), 3000);
    free(w);
    w = take(c, &n);
    ck_assert_int_eq(kitls_conn_read_from(s, w, n, &used, got, 1000), 1000);
    ck_assert_uint_eq(used, n);
    ck_assert_uint_eq(drain(s, w, 0, 1, 5000), 2000);
    ck_assert(!memcmp(got, data + 1000, 2000));
    free(w);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* The same damaged bytes through read_from and through feed + read. */
static void same_error(void (*damage)(uint8_t *w, size_t *n), int want)
{
    kitls_conn *c[2], *s[2];
    int r[2];
    for (int k = 0; k < 2; k++) {
        size_t n, used = 0;
        pair(&c[k], &s[k]);
        ck_assert_int_eq(kitls_conn_write(c[k], data, 5000), 5000);
        uint8_t *w = take(c[k], &n);
        damage(w, &n);
        if (k == 0) {
            r[k] = kitls_conn_read_from(s[k], w, n, &used, got, 16385);
        } else {
            ck_assert_int_eq(kitls_conn_feed(s[k], w, n), 0);
            r[k] = kitls_conn_read(s[k], got, 16385);
        }
        free(w);
    }
    ck_assert_int_eq(r[0], want);
    ck_assert_int_eq(r[1], want);
    size_t n0, n1;
    uint8_t *a0 = tu_out_copy(s[0], &n0), *a1 = tu_out_copy(s[1], &n1);
    ck_assert_uint_eq(n0, n1); /* the alert record, sealed alike */
    ck_assert_uint_gt(n0, 0);
    ck_assert_int_eq(kitls_conn_error(s[0]), want);
    free(a0);
    free(a1);
    for (int k = 0; k < 2; k++) {
        kitls_conn_free(c[k]);
        kitls_conn_free(s[k]);
    }
}

static void flip_ct(uint8_t *w, size_t *n)
{
    w[*n / 2] ^= 1;
}

static void oversize(uint8_t *w, size_t *n)
{
    /* 2^14 + 256 + 1: past the largest ciphertext (RFC 8446 §5.2) */
    w[3] = (uint8_t)((16384 + 257) >> 8);
    w[4] = (uint8_t)(16384 + 257);
    (void)n; /* refused from the header alone */
}

static void handshake_type(uint8_t *w, size_t *n)
{
    (void)n;
    w[0] = 22; /* protected records are application_data (§5.2) */
}

START_TEST(bad_mac)
{
    same_error(flip_ct, KITLS_E_BAD_RECORD_MAC);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_BAD_RECORD_MAC), 20);
}
END_TEST

START_TEST(oversized)
{
    same_error(oversize, KITLS_E_RECORD_OVERFLOW);
}
END_TEST

START_TEST(non_application_record)
{
    same_error(handshake_type, KITLS_E_UNEXPECTED_MESSAGE);
}
END_TEST

/* A KeyUpdate between two records: processed on the way, the next record
 * decrypted with the new keys, the answer queued. */
START_TEST(key_update_between_records)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    size_t n, used = 0, off = 0;
    ck_assert_int_eq(kitls_conn_write(c, data, 3000), 3000);
    ck_assert_int_eq(kitls_conn_key_update(c, 1), 0);
    ck_assert_int_eq(kitls_conn_write(c, data + 3000, 4000), 4000);
    uint8_t *w = take(c, &n);
    ck_assert_int_eq(kitls_conn_read_from(s, w, n, &used, got, 16385), 3000);
    off += used;
    ck_assert_uint_lt(off, n);
    ck_assert_int_eq(kitls_conn_read_from(s, w + off, n - off, &used, got + 3000, 16385), 4000);
    off += used;
    ck_assert_uint_eq(off, n);
    ck_assert(!memcmp(got, data, 7000));
    /* the server answered (update_requested): the client reads it */
    ck_assert_uint_gt(tu_move(s, c), 0);
    ck_assert_int_eq(kitls_conn_read(c, got, 10), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_write(s, data, 100), 100);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, got, 100), 100);
    free(w);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* Bytes already buffered by feed: read_from goes through the buffer. */
START_TEST(after_feed)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    size_t n, used = 0;
    ck_assert_int_eq(kitls_conn_write(c, data, 2000), 2000);
    ck_assert_int_eq(kitls_conn_write(c, data + 2000, 2000), 2000);
    uint8_t *w = take(c, &n);
    ck_assert_int_eq(kitls_conn_feed(s, w, 10), 0);
    ck_assert_int_eq(kitls_conn_read_from(s, w + 10, n - 10, &used, got, 16385), 2000);
    ck_assert_uint_eq(used, n - 10);
    ck_assert_int_eq(kitls_conn_read_from(s, NULL, 0, &used, got + 2000, 16385), 2000);
    ck_assert(!memcmp(got, data, 4000));
    ck_assert_int_eq(kitls_conn_read_from(s, NULL, 0, &used, got, 16385), KITLS_E_WANT_READ);
    /* close_notify through read_from */
    ck_assert_int_eq(kitls_conn_close(c), 0);
    free(w);
    w = take(c, &n);
    ck_assert_int_eq(kitls_conn_read_from(s, w, n, &used, got, 16385), KITLS_E_CLOSED);
    free(w);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("read_from");
    TCase *tc = tcase_create("read_from");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, whole_record);
    tcase_add_test(tc, partial_records);
    tcase_add_test(tc, several_records_one_input);
    tcase_add_test(tc, small_out_falls_back);
    tcase_add_test(tc, bad_mac);
    tcase_add_test(tc, oversized);
    tcase_add_test(tc, non_application_record);
    tcase_add_test(tc, key_update_between_records);
    tcase_add_test(tc, after_feed);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
