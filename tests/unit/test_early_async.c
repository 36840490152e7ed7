/*
 * The asynchronous anti-replay check (issue 19): a store that answers
 * later parks the server's handshake (KITLS_E_WANT_ASYNC), nothing of the
 * connection proceeds meanwhile, and the answer resumes it where it
 * stopped: accepted, replayed, store error, answered from inside the
 * callback, misuse, and free while pending.  Public API, in memory.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int64_t now_s, client_now;
static const struct kitls_ticket_key tkey = {{7, 7, 7, 7}, {24}};
static const char early_msg[] = "GET /once HTTP/1.1\r\n\r\n";

/* The test store: counts its calls, remembers what it was asked, and
 * answers `answer` (KITLS_ANTIREPLAY_PENDING: later), or posts `inline_v`
 * with kitls_conn_antireplay_done() from inside the call first. */
struct store {
    int calls, answer, inline_v, inline_ret;
    kitls_conn *conn;
    size_t id_len;
    uint8_t id[64];
};

static int store_fn(void *ctx, kitls_conn *c, const uint8_t *id, size_t len, int64_t expires)
{
    struct store *st = ctx;
    st->calls++;
    st->conn = c;
    st->id_len = len;
    memcpy(st->id, id, len < sizeof(st->id) ? len : sizeof(st->id));
    ck_assert_int_gt(expires, now_s);
    if (st->inline_v != 99)
        st->inline_ret = kitls_conn_antireplay_done(c, st->inline_v);
    return st->answer;
}

static kitls_config *server_cfg(struct store *st)
{
    kitls_config *cfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_ticket_keys(cfg, &tkey, 1), 0);
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &now_s), 0);
    ck_assert_int_eq(kitls_config_set_early_data(cfg, 4096), 0);
    if (st)
        ck_assert_int_eq(kitls_config_set_antireplay_async(cfg, store_fn, st), 0);
    return cfg;
}

static kitls_config *client_cfg(void)
{
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &client_now), 0);
    ck_assert_int_eq(kitls_config_set_early_data(cfg, 1), 0);
    return cfg;
}

/* A ticket from a full handshake with scfg (the store is not asked: no
 * 0-RTT is offered without a ticket). */
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

/* The client's first flight (ClientHello + 0-RTT data), fed to s. */
static kitls_conn *client_with_early(kitls_config *ccfg, kitls_session *sess)
{
    kitls_conn *c = tu_client(ccfg, "localhost");
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)early_msg, sizeof(early_msg)),
                     (int)sizeof(early_msg));
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    return c;
}

/* Finish the handshake from the server's current state, collecting its
 * early data; then 1-RTT data both ways. */
static void finish(kitls_conn *c, kitls_conn *s, int sr, uint8_t *got, size_t *got_len)
{
    int cr = KITLS_E_WANT_READ;
    for (int round = 0; round < 32 && (cr || sr); round++) {
        while (sr == KITLS_E_EARLY_DATA) {
            int n = kitls_conn_read_early_data(s, got + *got_len, 4096);
            ck_assert_int_gt(n, 0);
            *got_len += (size_t)n;
            sr = kitls_conn_handshake(s);
        }
        tu_move(s, c);
        if (cr == KITLS_E_WANT_READ)
            cr = kitls_conn_handshake(c);
        tu_move(c, s);
        if (sr == KITLS_E_WANT_READ || sr == KITLS_E_EARLY_DATA)
            sr = kitls_conn_handshake(s);
    }
    ck_assert_int_eq(cr, 0);
    ck_assert_int_eq(sr, 0);
    uint8_t buf[64];
    ck_assert_int_eq(kitls_conn_write(c, (const uint8_t *)"1rtt", 4), 4);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), 4);
    ck_assert(!memcmp(buf, "1rtt", 4));
}

/* The client's pending output, taken out of it. */
static uint8_t *take_flight(kitls_conn *c, size_t *n)
{
    uint8_t *flight = tu_out_copy(c, n);
    kitls_conn_out_consume(c, *n);
    return flight;
}

static void setup_clock(void)
{
    now_s = client_now = tu_pki.now;
}

/* Feed the client's flight to a new server: the store is asked once and
 * the handshake parks; return the server. */
static kitls_conn *parked_server(kitls_config *scfg, kitls_conn *c, struct store *st)
{
    size_t n;
    uint8_t *flight = take_flight(c, &n);
    kitls_conn *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, flight, n), 0);
    free(flight);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_ASYNC);
    ck_assert_int_eq(st->calls, 1);
    ck_assert_ptr_eq(st->conn, s);
    ck_assert_uint_eq(st->id_len, 16);
    return s;
}

/* While pending: repeated calls change nothing, no output, no early data. */
static void check_parked(kitls_config *scfg, kitls_conn *s, struct store *st)
{
    struct kitls_stats before, after;
    uint8_t buf[256];
    ck_assert_int_eq(kitls_config_stats(scfg, &before), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_ASYNC);
        ck_assert_int_eq(kitls_conn_wants(s) & KITLS_WANT_WRITE, 0);
        ck_assert_int_eq(kitls_conn_read_early_data(s, buf, sizeof(buf)), KITLS_E_WANT_ASYNC);
        ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), KITLS_E_STATE);
        ck_assert_int_eq(kitls_conn_write(s, buf, 4), KITLS_E_STATE);
        ck_assert_int_eq(kitls_conn_is_established(s), 0);
        ck_assert_int_ne(kitls_conn_early_data_status(s), KITLS_EARLY_ACCEPTED);
    }
    ck_assert_int_eq(st->calls, 1);
    ck_assert_int_eq(kitls_config_stats(scfg, &after), 0);
    ck_assert(!memcmp(&before, &after, sizeof(before)));
    /* Not an error: the connection carries none. */
    ck_assert_int_eq(KITLS_ERR_CLASS(KITLS_E_WANT_ASYNC), KITLS_ERR_CLASS_STATUS);
}

/* One parked handshake answered `verdict`; returns the server's 0-RTT status. */
static int run_verdict(int verdict, struct kitls_stats *delta)
{
    setup_clock();
    struct store st = {.answer = KITLS_ANTIREPLAY_PENDING, .inline_v = 99};
    kitls_config *scfg = server_cfg(&st), *ccfg = client_cfg();
    kitls_session *sess = get_session(ccfg, scfg);
    ck_assert_int_eq(st.calls, 0);
    struct kitls_stats s0, s1;
    ck_assert_int_eq(kitls_config_stats(scfg, &s0), 0);
    kitls_conn *c = client_with_early(ccfg, sess);
    kitls_conn *s = parked_server(scfg, c, &st);
    check_parked(scfg, s, &st);
    ck_assert_int_eq(kitls_conn_antireplay_done(s, verdict), 0);
    /* Answered once: a second answer has nothing pending. */
    ck_assert_int_eq(kitls_conn_antireplay_done(s, verdict), KITLS_E_STATE);
    uint8_t got[8192];
    size_t got_len = 0;
    finish(c, s, kitls_conn_handshake(s), got, &got_len);
    int status = kitls_conn_early_data_status(s);
    ck_assert_int_eq(kitls_conn_early_data_status(c), status);
    if (status == KITLS_EARLY_ACCEPTED) {
        ck_assert_uint_eq(got_len, sizeof(early_msg)); /* delivered once */
        ck_assert(!memcmp(got, early_msg, sizeof(early_msg)));
    } else {
        ck_assert_uint_eq(got_len, 0); /* never delivered */
    }
    ck_assert_int_eq(kitls_conn_antireplay_done(s, 0), KITLS_E_STATE);
    ck_assert_int_eq(st.calls, 1);
    ck_assert_int_eq(kitls_config_stats(scfg, &s1), 0);
    for (int i = 0; i < KITLS_STATS_EARLY_N; i++)
        delta->early_data[i] = s1.early_data[i] - s0.early_data[i];
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
    return status;
}

START_TEST(test_async_accepted)
{
    struct kitls_stats d;
    ck_assert_int_eq(run_verdict(0, &d), KITLS_EARLY_ACCEPTED);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_OFFERED], 1);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_ACCEPTED], 1);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_REJECTED], 0);
}
END_TEST

START_TEST(test_async_replayed)
{
    struct kitls_stats d;
    ck_assert_int_eq(run_verdict(1, &d), KITLS_EARLY_REJECTED);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_ACCEPTED], 0);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_REJECTED], 1);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_REPLAYED], 1);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_STORE_ERROR], 0);
}
END_TEST

START_TEST(test_async_store_error)
{
    struct kitls_stats d;
    ck_assert_int_eq(run_verdict(-ETIMEDOUT, &d), KITLS_EARLY_REJECTED);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_ACCEPTED], 0);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_REJECTED], 1);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_REPLAYED], 0);
    ck_assert_uint_eq(d.early_data[KITLS_STATS_EARLY_STORE_ERROR], 1);
}
END_TEST

/* The store answers at once: from inside the call, or by its return. */
START_TEST(test_async_immediate)
{
    static const struct {
        int answer, inline_v, status;
    } cases[] = {
        {KITLS_ANTIREPLAY_PENDING, 0, KITLS_EARLY_ACCEPTED},
        {KITLS_ANTIREPLAY_PENDING, 1, KITLS_EARLY_REJECTED},
        {0, 99, KITLS_EARLY_ACCEPTED},
        {1, 99, KITLS_EARLY_REJECTED},
        {-ECONNREFUSED, 99, KITLS_EARLY_REJECTED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setup_clock();
        struct store st = {.answer = cases[i].answer, .inline_v = cases[i].inline_v};
        kitls_config *scfg = server_cfg(&st), *ccfg = client_cfg();
        kitls_session *sess = get_session(ccfg, scfg);
        kitls_conn *c = client_with_early(ccfg, sess);
        size_t n;
        uint8_t *flight = take_flight(c, &n);
        kitls_conn *s = tu_server(scfg);
        ck_assert_int_eq(kitls_conn_feed(s, flight, n), 0);
        free(flight);
        int sr = kitls_conn_handshake(s);
        ck_assert_int_ne(sr, KITLS_E_WANT_ASYNC);
        ck_assert_int_eq(st.calls, 1);
        if (cases[i].inline_v != 99)
            ck_assert_int_eq(st.inline_ret, 0);
        uint8_t got[8192];
        size_t got_len = 0;
        finish(c, s, sr, got, &got_len);
        ck_assert_int_eq(kitls_conn_early_data_status(s), cases[i].status);
        ck_assert_uint_eq(got_len, cases[i].status == KITLS_EARLY_ACCEPTED ? sizeof(early_msg) : 0);
        kitls_conn_free(c);
        kitls_conn_free(s);
        kitls_session_free(sess);
        kitls_config_free(scfg);
        kitls_config_free(ccfg);
    }
}
END_TEST

START_TEST(test_async_misuse)
{
    setup_clock();
    struct store st = {.answer = KITLS_ANTIREPLAY_PENDING, .inline_v = 99};
    kitls_config *scfg = server_cfg(&st), *ccfg = client_cfg();
    ck_assert_int_eq(kitls_config_set_antireplay_async(NULL, store_fn, &st), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_conn_antireplay_done(NULL, 0), KITLS_E_INVALID_ARG);
    kitls_session *sess = get_session(ccfg, scfg);
    /* Nothing pending: a new connection, and one without 0-RTT. */
    kitls_conn *idle = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_antireplay_done(idle, 0), KITLS_E_STATE);
    kitls_conn_free(idle);
    ck_assert_int_eq(st.calls, 0);
    kitls_conn *c = client_with_early(ccfg, sess);
    kitls_conn *s = parked_server(scfg, c, &st);
    /* KITLS_ANTIREPLAY_PENDING (or any value above 1) is not an answer. */
    ck_assert_int_eq(kitls_conn_antireplay_done(s, KITLS_ANTIREPLAY_PENDING), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_ASYNC);
    /* The config is in use: the store cannot change under it. */
    ck_assert_int_eq(kitls_config_set_antireplay_async(scfg, NULL, NULL), KITLS_E_STATE);
    ck_assert_str_eq(kitls_strerror(KITLS_E_WANT_ASYNC),
                     "waiting for the anti-replay store (kitls_conn_antireplay_done)");
    /* Freed while pending: nothing leaks (ASan build), the store is not asked again. */
    kitls_conn_free(s);
    ck_assert_int_eq(st.calls, 1);
    kitls_conn_free(c);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* The same ClientHello twice, the store asked each time: the first is
 * fresh, the replay is refused and its early data never delivered. */
START_TEST(test_async_replay_same_flight)
{
    setup_clock();
    struct store st = {.answer = KITLS_ANTIREPLAY_PENDING, .inline_v = 99};
    kitls_config *scfg = server_cfg(&st), *ccfg = client_cfg();
    kitls_session *sess = get_session(ccfg, scfg);
    kitls_conn *c = client_with_early(ccfg, sess);
    size_t n;
    uint8_t *flight = tu_out_copy(c, &n);
    uint8_t first_id[16];
    for (int i = 0; i < 2; i++) {
        kitls_conn *s = tu_server(scfg);
        ck_assert_int_eq(kitls_conn_feed(s, flight, n), 0);
        ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_ASYNC);
        ck_assert_int_eq(st.calls, i + 1);
        if (i == 0)
            memcpy(first_id, st.id, sizeof(first_id));
        else /* same ticket: same id, which the store answers "seen" */
            ck_assert(!memcmp(first_id, st.id, sizeof(first_id)));
        ck_assert_int_eq(kitls_conn_antireplay_done(s, i), 0);
        int r = kitls_conn_handshake(s);
        uint8_t buf[256];
        if (i == 0) {
            ck_assert_int_eq(r, KITLS_E_EARLY_DATA);
            ck_assert_int_eq(kitls_conn_read_early_data(s, buf, sizeof(buf)),
                             (int)sizeof(early_msg));
        } else {
            ck_assert_int_eq(r, KITLS_E_WANT_READ);
            ck_assert_int_eq(kitls_conn_early_data_status(s), KITLS_EARLY_REJECTED);
            ck_assert_int_eq(kitls_conn_read_early_data(s, buf, sizeof(buf)), KITLS_E_WANT_READ);
        }
        /* One ServerHello flight, not two. */
        ck_assert_int_ne(kitls_conn_wants(s) & KITLS_WANT_WRITE, 0);
        kitls_conn_free(s);
    }
    free(flight);
    kitls_conn_free(c);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("early_async");
    TCase *t = tcase_create("async anti-replay");
    tcase_add_test(t, test_async_accepted);
    tcase_add_test(t, test_async_replayed);
    tcase_add_test(t, test_async_store_error);
    tcase_add_test(t, test_async_immediate);
    tcase_add_test(t, test_async_misuse);
    tcase_add_test(t, test_async_replay_same_flight);
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
