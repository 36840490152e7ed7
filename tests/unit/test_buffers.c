/*
 * Record buffers (lib/conn_buf.c) and the copy-free record path: buffers
 * freed while idle and taken again on demand, records decrypted into the
 * reader's buffer, public API only.  Blocks are counted with the
 * allocator hooks (kitls_alloc_live).
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static kitls_config *scfg, *ccfg;

static void setup(void)
{
    tu_pki_init();
    scfg = tu_server_config(TU_P256);
    ccfg = tu_client_config();
}

static void teardown(void)
{
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}

static uint8_t data[70000], got[70000];

static void pair(kitls_conn **c, kitls_conn **s)
{
    *c = tu_client(ccfg, "localhost");
    *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(*c, *s, NULL, NULL), 0);
    /* the tickets */
    tu_move(*s, *c);
    ck_assert_int_eq(kitls_conn_read(*c, got, 1), KITLS_E_WANT_READ);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 131 + 7);
}

/* Write n bytes, move them, read them back with reads of at most rlen. */
static void send_read(kitls_conn *from, kitls_conn *to, size_t n, size_t rlen)
{
    ck_assert_int_eq(kitls_conn_write(from, data, n), (int)n);
    tu_move(from, to);
    size_t have = 0;
    while (have < n) {
        size_t want = n - have < rlen ? n - have : rlen;
        int r = kitls_conn_read(to, got + have, want);
        ck_assert_int_gt(r, 0);
        have += (size_t)r;
    }
    ck_assert_int_eq(kitls_conn_read(to, got, 1), KITLS_E_WANT_READ);
    ck_assert(!memcmp(got, data, n));
}

/* Blocks held by the pair while nothing is in flight (the thread's spare
 * buffers are not the pair's). */
static size_t quiet_blocks(kitls_conn *c, kitls_conn *s)
{
    const uint8_t *p;
    ck_assert_uint_eq(kitls_conn_out_peek(c, &p), 0);
    ck_assert_uint_eq(kitls_conn_out_peek(s, &p), 0);
    ck_assert_uint_le(kitls_buffer_cache_bytes(), 2 * 16645);
    kitls_buffer_cache_flush();
    ck_assert_uint_eq(kitls_buffer_cache_bytes(), 0);
    return kitls_alloc_live();
}

START_TEST(buffers_go_when_empty_and_come_back)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    size_t idle = quiet_blocks(c, s);
    /* Output waits in a buffer of its own until taken. */
    ck_assert_int_eq(kitls_conn_write(c, data, 100), 100);
    ck_assert_uint_eq(kitls_alloc_live(), idle + 1);
    /* Moved: s's input took a new buffer, c's went to the thread's spares. */
    tu_move(c, s);
    ck_assert_uint_eq(kitls_buffer_cache_bytes(), 16645);
    ck_assert_uint_eq(kitls_alloc_live(), idle + 2);
    /* Read: no buffer left on either side, two spares kept. */
    ck_assert_int_eq(kitls_conn_read(s, got, sizeof(got)), 100);
    ck_assert(!memcmp(got, data, 100));
    ck_assert_uint_eq(kitls_buffer_cache_bytes(), 2 * 16645);
    ck_assert_uint_eq(kitls_alloc_live(), idle + 2);
    /* The next write reuses a spare. */
    ck_assert_int_eq(kitls_conn_write(s, data, 100), 100);
    ck_assert_uint_eq(kitls_buffer_cache_bytes(), 16645);
    ck_assert_uint_eq(kitls_alloc_live(), idle + 2);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, got, sizeof(got)), 100);
    ck_assert_uint_eq(quiet_blocks(c, s), idle);
    /* ...and they come back on demand, many times, both ways. */
    for (int i = 0; i < 3; i++) {
        send_read(c, s, 16384, sizeof(got));
        send_read(s, c, 40000, sizeof(got));
        send_read(c, s, 1, 1);
        ck_assert_uint_eq(quiet_blocks(c, s), idle);
    }
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(read_after_idle)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    send_read(c, s, 5000, sizeof(got));
    /* Idle: buffers and cipher contexts go; keys stay. */
    kitls_conn_release_buffers(c);
    kitls_conn_release_buffers(s);
    send_read(c, s, 16384, 16384);
    send_read(s, c, 33, sizeof(got));
    kitls_conn_release_buffers(c);
    kitls_conn_release_buffers(s);
    /* A KeyUpdate after a sleep, then data under the new keys. */
    ck_assert_int_eq(kitls_conn_key_update(c, 1), 0);
    send_read(c, s, 1000, sizeof(got));
    send_read(s, c, 1000, sizeof(got));
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(partial_record_across_release)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    ck_assert_int_eq(kitls_conn_write(c, data, 3000), 3000);
    const uint8_t *p;
    size_t n = kitls_conn_out_peek(c, &p);
    ck_assert_uint_gt(n, 3000);
    uint8_t *rec = malloc(n);
    memcpy(rec, p, n);
    kitls_conn_out_consume(c, n);
    /* Half a record: nothing to read, and the half must survive. */
    ck_assert_int_eq(kitls_conn_feed(s, rec, n / 2), 0);
    ck_assert_int_eq(kitls_conn_read(s, got, sizeof(got)), KITLS_E_WANT_READ);
    ck_assert_uint_eq(kitls_conn_in_needed(s), n - n / 2);
    kitls_conn_release_buffers(s);
    ck_assert_uint_eq(kitls_conn_in_needed(s), n - n / 2);
    ck_assert_int_eq(kitls_conn_feed(s, rec + n / 2, n - n / 2), 0);
    ck_assert_int_eq(kitls_conn_read(s, got, sizeof(got)), 3000);
    ck_assert(!memcmp(got, data, 3000));
    /* Data read in part stays for the next read across a release too. */
    ck_assert_int_eq(kitls_conn_write(c, data, 3000), 3000);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, got, 1000), 1000);
    kitls_conn_release_buffers(s);
    ck_assert_int_eq(kitls_conn_read(s, got + 1000, sizeof(got)), 2000);
    ck_assert(!memcmp(got, data, 3000));
    free(rec);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(pending_write_across_release)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    ck_assert_int_eq(kitls_conn_write(c, data, 20000), 20000);
    const uint8_t *p;
    size_t n = kitls_conn_out_peek(c, &p);
    uint8_t *copy = malloc(n);
    memcpy(copy, p, n);
    /* Half sent, then idle: the rest must still be there, unchanged. */
    ck_assert_int_eq(kitls_conn_feed(s, p, 100), 0);
    kitls_conn_out_consume(c, 100);
    kitls_conn_release_buffers(c);
    kitls_conn_release_buffers(s);
    ck_assert_uint_eq(kitls_conn_out_peek(c, &p), n - 100);
    ck_assert(!memcmp(p, copy + 100, n - 100));
    ck_assert_int_eq(kitls_conn_write(c, data + 20000, 10), 10); /* appended */
    tu_move(c, s);
    size_t have = 0;
    int r;
    while ((r = kitls_conn_read(s, got + have, sizeof(got) - have)) > 0)
        have += (size_t)r;
    ck_assert_int_eq(r, KITLS_E_WANT_READ);
    ck_assert_uint_eq(have, 20010);
    ck_assert(!memcmp(got, data, 20010));
    free(copy);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(close_notify_after_idle)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    send_read(c, s, 10, sizeof(got));
    kitls_conn_release_buffers(c);
    kitls_conn_release_buffers(s);
    ck_assert_int_eq(kitls_conn_close(c), 0);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, got, sizeof(got)), KITLS_E_CLOSED);
    ck_assert_int_eq(kitls_conn_close(s), 0);
    kitls_conn_release_buffers(s); /* the alert is pending: kept */
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, got, 16384), KITLS_E_CLOSED);
    ck_assert_int_eq(kitls_conn_error(c), 0);
    ck_assert_int_eq(kitls_conn_error(s), 0);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* Reads of every size around a full record's content: straight into the
 * reader's buffer when it can hold it, in place otherwise. */
START_TEST(read_sizes)
{
    static const size_t sizes[] = {1, 100, 16383, 16384, 16385, 20000};
    kitls_conn *c, *s;
    pair(&c, &s);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        send_read(c, s, 16384, sizes[i]);
        send_read(s, c, 16384 * 3 + 7, sizes[i]);
        send_read(c, s, 17, sizes[i]);
    }
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* A record whose tag fails leaves nothing of its plaintext in the
 * reader's buffer, though it was decrypted there. */
START_TEST(forged_record_leaves_no_plaintext)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    memset(data, 'A', 16384);
    ck_assert_int_eq(kitls_conn_write(c, data, 16384), 16384);
    const uint8_t *p;
    size_t n = kitls_conn_out_peek(c, &p);
    uint8_t *rec = malloc(n);
    memcpy(rec, p, n);
    rec[n - 1] ^= 1; /* the tag */
    kitls_conn_out_consume(c, n);
    ck_assert_int_eq(kitls_conn_feed(s, rec, n), 0);
    memset(got, 0x55, 16384);
    ck_assert_int_eq(kitls_conn_read(s, got, 16384), KITLS_E_BAD_RECORD_MAC);
    for (size_t i = 0; i < 16384; i++)
        ck_assert_msg(got[i] != 'A', "plaintext at %zu", i);
    free(rec);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* A post-handshake message decrypted into the reader's buffer is handled
 * and wiped there; the data after it is returned. */
START_TEST(key_update_into_reader_buffer)
{
    kitls_conn *c, *s;
    pair(&c, &s);
    ck_assert_int_eq(kitls_conn_key_update(c, 0), 0);
    ck_assert_int_eq(kitls_conn_write(c, data, 2), 2);
    tu_move(c, s);
    memset(got, 0, 64);
    ck_assert_int_eq(kitls_conn_read(s, got, sizeof(got)), 2);
    ck_assert(!memcmp(got, data, 2));
    /* got[2] is the data record's content type; the KeyUpdate's 5 bytes
     * and type were at [0..6) before the data record came */
    for (size_t i = 3; i < 64; i++)
        ck_assert_uint_eq(got[i], 0);
    send_read(c, s, 16384, 16384);
    send_read(s, c, 10, 10);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

static void *thread_traffic(void *arg)
{
    kitls_conn **p = arg;
    send_read(p[0], p[1], 40000, sizeof(got));
    send_read(p[1], p[0], 100, sizeof(got));
    ck_assert_uint_eq(kitls_buffer_cache_bytes(), 2 * 16645);
    return NULL;
}

/* The spares are bounded, and freed when their thread exits. */
START_TEST(spares_bounded_and_freed_at_thread_exit)
{
    kitls_conn *p[2];
    pair(&p[0], &p[1]);
    size_t idle = quiet_blocks(p[0], p[1]);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, thread_traffic, p), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_uint_eq(kitls_alloc_live(), idle);
    ck_assert_uint_eq(kitls_buffer_cache_bytes(), 0); /* not this thread's */
    kitls_conn_free(p[0]);
    kitls_conn_free(p[1]);
}
END_TEST

/* A small record is decrypted in place in the receive buffer, which then
 * goes to the thread's spares.  By default its plaintext stays there
 * until the memory is reused or leaves kitls; with
 * kitls_config_set_cleanse_plaintext() it is wiped when the connection
 * gives the buffer up.  The buffer is found with kitls_conn_in_reserve()
 * and looked at while the spare cache still owns it. */
static int spare_holds(int cleanse)
{
    kitls_config *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_cleanse_plaintext(sc, cleanse), 0);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(sc);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, got, 1), KITLS_E_WANT_READ);
    kitls_buffer_cache_flush();
    uint8_t secret[100];
    memset(secret, 'Z', sizeof(secret));
    ck_assert_int_eq(kitls_conn_write(c, secret, sizeof(secret)), (int)sizeof(secret));
    const uint8_t *rec;
    size_t n = kitls_conn_out_peek(c, &rec);
    uint8_t *in;
    size_t cap;
    ck_assert_int_eq(kitls_conn_in_reserve(s, &in, &cap), 0);
    ck_assert_uint_ge(cap, n);
    memcpy(in, rec, n);
    kitls_conn_out_consume(c, n);
    ck_assert_int_eq(kitls_conn_in_commit(s, n), 0);
    /* 100 bytes: the content fits, the type byte does not: in place */
    ck_assert_int_eq(kitls_conn_read(s, got, sizeof(secret)), (int)sizeof(secret));
    ck_assert(!memcmp(got, secret, sizeof(secret)));
    ck_assert_int_eq(kitls_conn_read(s, got, 1), KITLS_E_WANT_READ);
    ck_assert_uint_gt(kitls_buffer_cache_bytes(), 0); /* `in` is a spare now */
    int found = 0;
    for (size_t i = 0; i + 16 <= n && !found; i++)
        found = !memcmp(in + i, secret, 16);
    kitls_buffer_cache_flush();
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(sc);
    return found;
}

START_TEST(cleanse_plaintext_wipes_the_receive_buffer)
{
    /* the default keeps it (the test sees plaintext when it is there) */
    ck_assert_msg(spare_holds(0), "no plaintext in place: the test sees nothing");
    ck_assert_msg(!spare_holds(1), "plaintext left in a spare buffer");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("buffers");
    TCase *tc = tcase_create("buffers");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, buffers_go_when_empty_and_come_back);
    tcase_add_test(tc, read_after_idle);
    tcase_add_test(tc, partial_record_across_release);
    tcase_add_test(tc, pending_write_across_release);
    tcase_add_test(tc, close_notify_after_idle);
    tcase_add_test(tc, read_sizes);
    tcase_add_test(tc, forged_record_leaves_no_plaintext);
    tcase_add_test(tc, key_update_into_reader_buffer);
    tcase_add_test(tc, spares_bounded_and_freed_at_thread_exit);
    tcase_add_test(tc, cleanse_plaintext_wipes_the_receive_buffer);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
