/*
 * 0-RTT early data: acceptance, every rejection reason (disabled, stale,
 * replayed, after HRR, vetoed), the max_early_data_size limit, and
 * skipping rejected early data.  Public API, in memory.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int64_t now_s, client_now;
static const struct kitls_ticket_key tkey = {{9, 9, 9, 9}, {42}};

static kitls_config *server_cfg(uint32_t early_max)
{
    kitls_config *cfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_ticket_keys(cfg, &tkey, 1), 0);
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &now_s), 0);
    if (early_max)
        ck_assert_int_eq(kitls_config_set_early_data(cfg, early_max), 0);
    return cfg;
}

static kitls_config *client_cfg(void)
{
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &client_now), 0);
    ck_assert_int_eq(kitls_config_set_early_data(cfg, 1), 0);
    return cfg;
}

static kitls_session *get_session(kitls_config *ccfg, kitls_config *scfg)
{
    uint8_t buf[8];
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kitls_session *sess = kitls_conn_get_session(c);
    ck_assert_ptr_nonnull(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return sess;
}

/* Handshake that collects the server's early data into got (length in got_len). */
static int pump(kitls_conn *c, kitls_conn *s, uint8_t *got, size_t *got_len, int *sret)
{
    int cr = KITLS_E_WANT_READ, sr = KITLS_E_WANT_READ;
    *got_len = 0;
    for (int round = 0; round < 32; round++) {
        if (cr == KITLS_E_WANT_READ)
            cr = kitls_conn_handshake(c);
        tu_move(c, s);
        if (sr == KITLS_E_WANT_READ || sr == KITLS_E_EARLY_DATA) {
            sr = kitls_conn_handshake(s);
            while (sr == KITLS_E_EARLY_DATA) {
                int n = kitls_conn_read_early_data(s, got + *got_len, 4096);
                ck_assert_int_gt(n, 0);
                *got_len += (size_t)n;
                sr = kitls_conn_handshake(s);
            }
        }
        tu_move(s, c);
        if (cr != KITLS_E_WANT_READ && sr != KITLS_E_WANT_READ)
            break;
    }
    if (sret)
        *sret = sr;
    return cr == 0 && sr == 0 ? 0 : -1;
}

static const char early_msg[] = "GET /idempotent HTTP/1.1\r\n\r\n";

/* One resumption attempt with early data; returns the server's status. */
static int attempt(kitls_config *ccfg, kitls_config *scfg, kitls_session *sess)
{
    uint8_t got[8192];
    size_t got_len;
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)early_msg, sizeof(early_msg)),
                     (int)sizeof(early_msg));
    ck_assert_int_eq(pump(c, s, got, &got_len, NULL), 0);
    int st = kitls_conn_early_data_status(s);
    ck_assert_int_eq(kitls_conn_early_data_status(c), st);
    ck_assert_int_eq(kitls_conn_is_resumed(s), 1);
    if (st == KITLS_EARLY_ACCEPTED) {
        ck_assert_uint_eq(got_len, sizeof(early_msg));
        ck_assert(!memcmp(got, early_msg, sizeof(early_msg)));
    } else {
        ck_assert_uint_eq(got_len, 0);
    }
    /* 1-RTT data flows after either outcome (a client resends after reject). */
    uint8_t buf[64];
    ck_assert_int_eq(kitls_conn_write(c, (const uint8_t *)"1rtt", 4), 4);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), 4);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return st;
}

static void setup_clock(void)
{
    now_s = client_now = tu_pki.now;
}

START_TEST(test_early_accepted)
{
    setup_clock();
    kitls_config *scfg = server_cfg(4096), *ccfg = client_cfg();
    kitls_session *sess = get_session(ccfg, scfg);
    ck_assert_uint_eq(kitls_session_max_early_data(sess), 4096);
    ck_assert_int_eq(attempt(ccfg, scfg, sess), KITLS_EARLY_ACCEPTED);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_early_disabled)
{
    /* Ticket from a 0-RTT server, presented to one with 0-RTT off. */
    setup_clock();
    kitls_config *on = server_cfg(4096), *off = server_cfg(0), *ccfg = client_cfg();
    kitls_session *sess = get_session(ccfg, on);
    ck_assert_int_eq(attempt(ccfg, off, sess), KITLS_EARLY_REJECTED);
    kitls_session_free(sess);
    kitls_config_free(on);
    kitls_config_free(off);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_early_stale)
{
    setup_clock();
    kitls_config *scfg = server_cfg(4096), *ccfg = client_cfg();
    kitls_session *sess = get_session(ccfg, scfg);
    /* The server's clock moved 30 s, the client's did not: the claimed age
     * is outside the 10 s window. */
    now_s += 30;
    ck_assert_int_eq(attempt(ccfg, scfg, sess), KITLS_EARLY_REJECTED);
    /* Both clocks moved: fresh again (a different ticket: single use). */
    kitls_session_free(sess);
    sess = get_session(ccfg, scfg);
    now_s += 5;
    client_now += 5;
    ck_assert_int_eq(attempt(ccfg, scfg, sess), KITLS_EARLY_ACCEPTED);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_early_replayed)
{
    setup_clock();
    kitls_config *scfg = server_cfg(4096), *ccfg = client_cfg();
    kitls_session *sess = get_session(ccfg, scfg);
    kitls_conn *c = tu_client(ccfg, "localhost");
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)early_msg, sizeof(early_msg)),
                     (int)sizeof(early_msg));
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    size_t n;
    uint8_t *flight = tu_out_copy(c, &n);
    /* First delivery: accepted.  The same bytes again: refused. */
    for (int i = 0; i < 2; i++) {
        kitls_conn *s = tu_server(scfg);
        ck_assert_int_eq(kitls_conn_feed(s, flight, n), 0);
        int r = kitls_conn_handshake(s);
        if (i == 0) {
            ck_assert_int_eq(r, KITLS_E_EARLY_DATA);
            ck_assert_int_eq(kitls_conn_early_data_status(s), KITLS_EARLY_ACCEPTED);
        } else {
            ck_assert_int_eq(r, KITLS_E_WANT_READ);
            ck_assert_int_eq(kitls_conn_early_data_status(s), KITLS_EARLY_REJECTED);
            uint8_t buf[64];
            ck_assert_int_eq(kitls_conn_read_early_data(s, buf, sizeof(buf)), KITLS_E_WANT_READ);
        }
        kitls_conn_free(s);
    }
    free(flight);
    kitls_conn_free(c);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

static int veto(void *ctx, kitls_conn *c)
{
    (void)c;
    ++*(int *)ctx;
    return 0;
}

START_TEST(test_early_vetoed)
{
    static int calls;
    setup_clock();
    kitls_config *scfg = server_cfg(4096), *ccfg = client_cfg();
    ck_assert_int_eq(kitls_config_set_early_data_callback(scfg, veto, &calls), 0);
    kitls_session *sess = get_session(ccfg, scfg);
    ck_assert_int_eq(attempt(ccfg, scfg, sess), KITLS_EARLY_REJECTED);
    ck_assert_int_eq(calls, 1);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_early_after_hrr)
{
    static const uint16_t p256 = KITLS_GROUP_SECP256R1;
    static const uint16_t both[2] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1};
    setup_clock();
    kitls_config *scfg = server_cfg(4096), *ccfg = client_cfg();
    ck_assert_int_eq(kitls_config_set_groups(scfg, &p256, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(ccfg, both, 2), 0);
    kitls_session *sess = get_session(ccfg, scfg);
    /* The client's x25519 share forces an HRR: early data is skipped. */
    ck_assert_int_eq(attempt(ccfg, scfg, sess), KITLS_EARLY_REJECTED);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_early_too_much)
{
    /* The ticket allows 4096 bytes but this server accepts 16: over the
     * limit is unexpected_message (RFC 8446 §4.2.10). */
    setup_clock();
    kitls_config *big = server_cfg(4096), *small = server_cfg(16), *ccfg = client_cfg();
    kitls_session *sess = get_session(ccfg, big);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(small);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)early_msg, sizeof(early_msg)),
                     (int)sizeof(early_msg));
    uint8_t got[8192];
    size_t got_len;
    int sr;
    ck_assert_int_ne(pump(c, s, got, &got_len, &sr), 0);
    ck_assert_int_eq(sr, KITLS_E_UNEXPECTED_MESSAGE);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_session_free(sess);
    kitls_config_free(big);
    kitls_config_free(small);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_early_client_limits)
{
    setup_clock();
    kitls_config *scfg = server_cfg(16), *ccfg = client_cfg(), *plain = tu_client_config();
    kitls_session *sess = get_session(ccfg, scfg);
    /* The client queues no more than the ticket allows. */
    kitls_conn *c = tu_client(ccfg, "localhost");
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)early_msg, sizeof(early_msg)),
                     16);
    kitls_conn_free(c);
    /* A client config without early data, or without a session, refuses. */
    c = tu_client(plain, "localhost");
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)"x", 1), KITLS_E_STATE);
    kitls_conn_free(c);
    c = tu_client(ccfg, "localhost");
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)"x", 1), KITLS_E_STATE);
    kitls_conn_free(c);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
    kitls_config_free(plain);
}
END_TEST

START_TEST(test_early_ticket_suite_wins)
{
    /* A ChaCha20 ticket, a client offering all three suites, a server that
     * prefers AES-128-GCM: 0-RTT is kept by choosing the ticket's suite. */
    static const uint16_t chacha = KITLS_CHACHA20_POLY1305_SHA256;
    setup_clock();
    kitls_config *scfg = server_cfg(4096), *only = client_cfg(), *all = client_cfg();
    ck_assert_int_eq(kitls_config_set_suites(only, &chacha, 1), 0);
    kitls_session *sess = get_session(only, scfg);
    kitls_conn *c = tu_client(all, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)"e", 1), 1);
    uint8_t got[64];
    size_t got_len;
    ck_assert_int_eq(pump(c, s, got, &got_len, NULL), 0);
    ck_assert_int_eq(kitls_conn_early_data_status(s), KITLS_EARLY_ACCEPTED);
    ck_assert_uint_eq(kitls_conn_suite(s), chacha);
    ck_assert_uint_eq(got_len, 1);
    kitls_conn_free(c);
    kitls_conn_free(s);
    /* Without early data the server's own preference stands. */
    c = tu_client(all, "localhost");
    s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_uint_eq(kitls_conn_suite(s), KITLS_AES_128_GCM_SHA256);
    ck_assert_int_eq(kitls_conn_is_resumed(s), 1);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(only);
    kitls_config_free(all);
}
END_TEST

START_TEST(test_early_wrong_alpn)
{
    /* Early data is bound to the ALPN protocol of the ticket (§4.2.10). */
    static const char *const both[2] = {"h2", "http/1.1"};
    static const char *const h2[1] = {"h2"};
    static const char *const h11[1] = {"http/1.1"};
    setup_clock();
    kitls_config *scfg = server_cfg(4096), *c1 = client_cfg(), *c2 = client_cfg();
    ck_assert_int_eq(kitls_config_set_alpn(scfg, both, 2), 0);
    ck_assert_int_eq(kitls_config_set_alpn(c1, h2, 1), 0);
    ck_assert_int_eq(kitls_config_set_alpn(c2, h11, 1), 0);
    kitls_session *sess = get_session(c1, scfg);
    ck_assert_int_eq(attempt(c2, scfg, sess), KITLS_EARLY_REJECTED);
    kitls_session_free(sess);
    sess = get_session(c1, scfg);
    ck_assert_int_eq(attempt(c1, scfg, sess), KITLS_EARLY_ACCEPTED);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(c1);
    kitls_config_free(c2);
}
END_TEST

/* Read all early data the server has now. */
static size_t read_early(kitls_conn *s, uint8_t *got, size_t have)
{
    int r;
    while ((r = kitls_conn_handshake(s)) == KITLS_E_EARLY_DATA) {
        int n = kitls_conn_read_early_data(s, got + have, 256);
        ck_assert_int_gt(n, 0);
        have += (size_t)n;
    }
    ck_assert_int_eq(r, KITLS_E_WANT_READ);
    return have;
}

START_TEST(test_early_write_later)
{
    setup_clock();
    kitls_config *scfg = server_cfg(4096), *ccfg = client_cfg();
    kitls_session *sess = get_session(ccfg, scfg);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    uint8_t got[256];
    size_t have = 0;
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)"A", 1), 1);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    /* Waiting for ServerHello: sent at once under the early keys. */
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)"B", 1), 1);
    tu_move(c, s);
    have = read_early(s, got, have);
    /* Give the client only the server's first record (ServerHello): it now
     * holds handshake keys but does not yet know whether 0-RTT is on. */
    size_t n;
    uint8_t *flight = tu_out_copy(s, &n);
    size_t off[16];
    size_t nrec = tu_records(flight, n, off, 16);
    ck_assert_uint_ge(nrec, 2);
    ck_assert_int_eq(kitls_conn_feed(c, flight, off[1]), 0);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)"C", 1), 1);
    ck_assert_int_eq(kitls_conn_feed(c, flight + off[1], n - off[1]), 0);
    kitls_conn_out_consume(s, n);
    free(flight);
    ck_assert_int_eq(kitls_conn_handshake(c), 0);
    ck_assert_int_eq(kitls_conn_early_data_status(c), KITLS_EARLY_ACCEPTED);
    /* Too late now. */
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)"D", 1), KITLS_E_STATE);
    tu_move(c, s);
    int r;
    while ((r = kitls_conn_handshake(s)) == KITLS_E_EARLY_DATA) {
        int k = kitls_conn_read_early_data(s, got + have, 256);
        ck_assert_int_gt(k, 0);
        have += (size_t)k;
    }
    ck_assert_int_eq(r, 0);
    ck_assert_uint_eq(have, 3);
    ck_assert(!memcmp(got, "ABC", 3));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("early");
    TCase *t = tcase_create("0-RTT");
    tcase_add_test(t, test_early_accepted);
    tcase_add_test(t, test_early_disabled);
    tcase_add_test(t, test_early_stale);
    tcase_add_test(t, test_early_replayed);
    tcase_add_test(t, test_early_vetoed);
    tcase_add_test(t, test_early_after_hrr);
    tcase_add_test(t, test_early_too_much);
    tcase_add_test(t, test_early_client_limits);
    tcase_add_test(t, test_early_ticket_suite_wins);
    tcase_add_test(t, test_early_wrong_alpn);
    tcase_add_test(t, test_early_write_later);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    tu_pki_init();
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
