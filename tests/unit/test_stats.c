/*
 * kitls_stats: exact counter deltas per config and per process for real
 * in-memory handshakes (full, resumed, HRR, refused certificates with the
 * alert on both sides, 0-RTT accepted/rejected/replayed, a ticket under an
 * unknown key, KeyUpdate, application bytes and their batching), totals
 * under concurrent bumps and handshakes, and the Prometheus text form.
 * Public API only.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define ROLE_C KITLS_STATS_CLIENT
#define ROLE_S KITLS_STATS_SERVER

static int64_t now_s, client_now; /* the server's and the client's clocks */

static struct kitls_stats snap(const kitls_config *cfg)
{
    struct kitls_stats s;
    ck_assert_int_eq(kitls_config_stats(cfg, &s), 0);
    return s;
}

static struct kitls_stats proc(void)
{
    struct kitls_stats s;
    kitls_stats_process(&s);
    return s;
}

/* b - a, counter by counter (all members are uint64_t). */
static struct kitls_stats delta(const struct kitls_stats *a, const struct kitls_stats *b)
{
    struct kitls_stats d;
    const uint64_t *pa = (const uint64_t *)a, *pb = (const uint64_t *)b;
    uint64_t *pd = (uint64_t *)&d;
    for (size_t i = 0; i < sizeof(d) / sizeof(uint64_t); i++)
        pd[i] = pb[i] - pa[i];
    return d;
}

/* Sum of all counters of d (to check that nothing else moved). */
static uint64_t total(const struct kitls_stats *d)
{
    const uint64_t *p = (const uint64_t *)d;
    uint64_t t = 0;
    for (size_t i = 0; i < sizeof(*d) / sizeof(uint64_t); i++)
        t += p[i];
    return t;
}

static kitls_config *server_cfg(void)
{
    static const struct kitls_ticket_key tkey = {{1, 2, 3, 4}, {7}};
    kitls_config *cfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_ticket_keys(cfg, &tkey, 1), 0);
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &now_s), 0);
    return cfg;
}

static kitls_config *client_cfg(void)
{
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &client_now), 0);
    return cfg;
}

/* A full handshake; the server's ticket is taken; returns the session. */
static kitls_session *handshake(kitls_config *ccfg, kitls_config *scfg, kitls_session *resume)
{
    uint8_t buf[8];
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    if (resume)
        ck_assert_int_eq(kitls_conn_set_session(c, resume), 0);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kitls_session *sess = kitls_conn_get_session(c);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return sess;
}

START_TEST(test_full_and_bytes)
{
    now_s = client_now = tu_pki.now;
    kitls_config *scfg = server_cfg(), *ccfg = client_cfg();
    struct kitls_stats p0 = proc(), s0 = snap(scfg), c0 = snap(ccfg);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    uint8_t buf[4096], msg[3000];
    memset(msg, 'x', sizeof(msg));
    ck_assert_int_eq(kitls_conn_write(c, msg, 1000), 1000);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), 1000);
    ck_assert_int_eq(kitls_conn_write(s, msg, 3000), 3000);
    tu_move(s, c);
    size_t got = 0;
    while (got < 3000) {
        int n = kitls_conn_read(c, buf, 700);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    kitls_conn_free(c);
    kitls_conn_free(s);
    struct kitls_stats p1 = proc(), s1 = snap(scfg), c1 = snap(ccfg);
    struct kitls_stats ds = delta(&s0, &s1), dc = delta(&c0, &c1), dp = delta(&p0, &p1);
    ck_assert_uint_eq(ds.handshakes[ROLE_S][0], 1);
    ck_assert_uint_eq(dc.handshakes[ROLE_C][0], 1);
    ck_assert_uint_eq(ds.tickets_issued, 1); /* the default: one ticket */
    ck_assert_uint_eq(ds.bytes[KITLS_STATS_RECEIVED], 1000);
    ck_assert_uint_eq(ds.bytes[KITLS_STATS_SENT], 3000);
    ck_assert_uint_eq(dc.bytes[KITLS_STATS_SENT], 1000);
    ck_assert_uint_eq(dc.bytes[KITLS_STATS_RECEIVED], 3000);
    /* Nothing else moved; the process saw both configs' events. */
    ck_assert_uint_eq(total(&ds), 1 + 1 + 4000);
    ck_assert_uint_eq(total(&dc), 1 + 4000);
    ck_assert_uint_eq(dp.handshakes[ROLE_S][0], 1);
    ck_assert_uint_eq(dp.handshakes[ROLE_C][0], 1);
    ck_assert_uint_eq(dp.bytes[KITLS_STATS_SENT], 4000);
    ck_assert_uint_eq(total(&dp), total(&ds) + total(&dc));
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* One write of len bytes from c, read whole by s. */
static void send_recv(kitls_conn *c, kitls_conn *s, size_t len)
{
    static uint8_t msg[16384], buf[16384];
    ck_assert_int_eq(kitls_conn_write(c, msg, len), (int)len);
    tu_move(c, s);
    size_t got = 0;
    while (got < len) {
        int n = kitls_conn_read(s, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
}

/* A connection's bytes reach the config at its first write, then once 64
 * KiB more were sent, and the rest when it is freed; received bytes go
 * with them (a connection that only receives shows them when freed). */
START_TEST(test_bytes_batched)
{
    now_s = client_now = tu_pki.now;
    kitls_config *scfg = server_cfg(), *ccfg = client_cfg();
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    struct kitls_stats c0 = snap(ccfg), s0 = snap(scfg), c1, s1;
    for (int i = 0; i < 6; i++) {
        send_recv(c, s, 16384);
        c1 = snap(ccfg);
        s1 = snap(scfg);
        /* 16 KiB at once; the next batch once more than 64 KiB passed. */
        uint64_t want = i < 5 ? 16384 : 6 * 16384;
        ck_assert_uint_eq(c1.bytes[KITLS_STATS_SENT] - c0.bytes[KITLS_STATS_SENT], want);
        ck_assert_uint_eq(s1.bytes[KITLS_STATS_RECEIVED] - s0.bytes[KITLS_STATS_RECEIVED], 0);
    }
    /* The server's first write takes what it received along. */
    send_recv(s, c, 10);
    s1 = snap(scfg);
    ck_assert_uint_eq(s1.bytes[KITLS_STATS_RECEIVED] - s0.bytes[KITLS_STATS_RECEIVED], 6 * 16384);
    ck_assert_uint_eq(s1.bytes[KITLS_STATS_SENT] - s0.bytes[KITLS_STATS_SENT], 10);
    send_recv(c, s, 1000);
    c1 = snap(ccfg);
    ck_assert_uint_eq(c1.bytes[KITLS_STATS_SENT] - c0.bytes[KITLS_STATS_SENT], 6 * 16384);
    kitls_conn_free(c);
    kitls_conn_free(s);
    c1 = snap(ccfg);
    s1 = snap(scfg);
    ck_assert_uint_eq(c1.bytes[KITLS_STATS_SENT] - c0.bytes[KITLS_STATS_SENT], 6 * 16384 + 1000);
    ck_assert_uint_eq(c1.bytes[KITLS_STATS_RECEIVED] - c0.bytes[KITLS_STATS_RECEIVED], 10);
    ck_assert_uint_eq(s1.bytes[KITLS_STATS_RECEIVED] - s0.bytes[KITLS_STATS_RECEIVED],
                      6 * 16384 + 1000);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resumed_and_unknown_key)
{
    static const struct kitls_ticket_key other = {{5, 5, 5, 5}, {8}};
    now_s = client_now = tu_pki.now;
    kitls_config *scfg = server_cfg(), *ccfg = client_cfg();
    kitls_session *sess = handshake(ccfg, scfg, NULL);
    ck_assert_ptr_nonnull(sess);
    struct kitls_stats s0 = snap(scfg), c0 = snap(ccfg);
    kitls_session *again = handshake(ccfg, scfg, sess);
    struct kitls_stats s1 = snap(scfg), c1 = snap(ccfg);
    struct kitls_stats ds = delta(&s0, &s1), dc = delta(&c0, &c1);
    ck_assert_uint_eq(ds.handshakes[ROLE_S][1], 1);
    ck_assert_uint_eq(ds.handshakes[ROLE_S][0], 0);
    ck_assert_uint_eq(dc.handshakes[ROLE_C][1], 1);
    ck_assert_uint_eq(ds.tickets_accepted, 1);
    ck_assert_uint_eq(ds.tickets_issued, 1);
    ck_assert_uint_eq(total(&ds), 3);
    kitls_session_free(again);

    /* The ticket key rotated out: refused (unknown_key), full handshake. */
    ck_assert_int_eq(kitls_config_set_ticket_keys(scfg, &other, 1), 0);
    s0 = snap(scfg);
    again = handshake(ccfg, scfg, sess);
    s1 = snap(scfg);
    ds = delta(&s0, &s1);
    ck_assert_uint_eq(ds.tickets_refused[KITLS_STATS_TICKET_UNKNOWN_KEY], 1);
    ck_assert_uint_eq(ds.handshakes[ROLE_S][0], 1);
    ck_assert_uint_eq(ds.tickets_accepted, 0);

    /* Past its lifetime (7200 s) on the server's clock (the client's
     * still offers it): expired. */
    kitls_session_free(again);
    again = handshake(ccfg, scfg, NULL);
    now_s += 7201;
    s0 = snap(scfg);
    kitls_session_free(handshake(ccfg, scfg, again));
    s1 = snap(scfg);
    ds = delta(&s0, &s1);
    ck_assert_uint_eq(ds.tickets_refused[KITLS_STATS_TICKET_EXPIRED], 1);
    ck_assert_uint_eq(ds.handshakes[ROLE_S][0], 1);
    kitls_session_free(again);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_hrr)
{
    static const uint16_t p256 = KITLS_GROUP_SECP256R1;
    static const uint16_t both[2] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1};
    now_s = client_now = tu_pki.now;
    kitls_config *scfg = server_cfg(), *ccfg = client_cfg();
    ck_assert_int_eq(kitls_config_set_groups(scfg, &p256, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(ccfg, both, 2), 0);
    struct kitls_stats s0 = snap(scfg), c0 = snap(ccfg);
    kitls_session_free(handshake(ccfg, scfg, NULL));
    struct kitls_stats s1 = snap(scfg), c1 = snap(ccfg);
    struct kitls_stats ds = delta(&s0, &s1), dc = delta(&c0, &c1);
    ck_assert_uint_eq(ds.hello_retry_requests[ROLE_S], 1);
    ck_assert_uint_eq(ds.hello_retry_requests[ROLE_C], 0);
    ck_assert_uint_eq(dc.hello_retry_requests[ROLE_C], 1);
    ck_assert_uint_eq(ds.handshakes[ROLE_S][0], 1);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* A handshake expected to fail; returns the client's and server's results. */
static void failing(kitls_config *ccfg, kitls_config *scfg)
{
    int cret, sret;
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_ne(tu_handshake(c, s, &cret, &sret), 0);
    kitls_conn_free(c);
    kitls_conn_free(s);
}

START_TEST(test_failures_by_alert)
{
    now_s = client_now = tu_pki.now;
    /* A server certificate from a root the client does not trust. */
    kitls_config *scfg = kitls_config_new(KITLS_ROLE_SERVER), *ccfg = client_cfg();
    ck_assert_ptr_nonnull(scfg);
    const struct tu_cred *u = &tu_pki.untrusted;
    ck_assert_int_eq(kitls_config_add_cert_pem(scfg, u->chain, u->chain_len, u->key, u->key_len),
                     0);
    struct kitls_stats p0 = proc(), s0 = snap(scfg), c0 = snap(ccfg);
    failing(ccfg, scfg);
    struct kitls_stats p1 = proc(), s1 = snap(scfg), c1 = snap(ccfg);
    struct kitls_stats ds = delta(&s0, &s1), dc = delta(&c0, &c1), dp = delta(&p0, &p1);
    /* unknown_ca (48): sent by the client, received by the server. */
    ck_assert_uint_eq(dc.handshake_failures[ROLE_C][KITLS_STATS_SENT][48], 1);
    ck_assert_uint_eq(dc.cert_verify_failures[KITLS_STATS_CERT_UNTRUSTED], 1);
    ck_assert_uint_eq(total(&dc), 2);
    ck_assert_uint_eq(ds.handshake_failures[ROLE_S][KITLS_STATS_RECEIVED][48], 1);
    ck_assert_uint_eq(total(&ds), 1);
    ck_assert_uint_eq(dp.handshake_failures[ROLE_C][KITLS_STATS_SENT][48], 1);
    ck_assert_uint_eq(dp.handshake_failures[ROLE_S][KITLS_STATS_RECEIVED][48], 1);
    kitls_config_free(scfg);

    /* An expired certificate: the client's clock is past its notAfter. */
    scfg = server_cfg();
    kitls_config_free(ccfg);
    ccfg = client_cfg();
    client_now = tu_pki.now + 60 * 86400;
    s0 = snap(scfg), c0 = snap(ccfg);
    failing(ccfg, scfg);
    s1 = snap(scfg), c1 = snap(ccfg);
    ds = delta(&s0, &s1), dc = delta(&c0, &c1);
    ck_assert_uint_eq(dc.handshake_failures[ROLE_C][KITLS_STATS_SENT][45], 1);
    ck_assert_uint_eq(dc.cert_verify_failures[KITLS_STATS_CERT_EXPIRED], 1);
    ck_assert_uint_eq(ds.handshake_failures[ROLE_S][KITLS_STATS_RECEIVED][45], 1);

    /* The transport ends mid-handshake: no alert either way. */
    kitls_conn *s = tu_server(scfg), *c = tu_client(ccfg, "localhost");
    s0 = snap(scfg);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    tu_move(c, s);
    kitls_conn_set_eof(s);
    int r = kitls_conn_handshake(s);
    ck_assert_int_eq(r, KITLS_E_EOF);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_EOF); /* counted once */
    s1 = snap(scfg);
    ds = delta(&s0, &s1);
    ck_assert_uint_eq(ds.handshake_failures[ROLE_S][KITLS_STATS_RECEIVED][KITLS_STATS_NO_ALERT], 1);
    ck_assert_uint_eq(total(&ds), 1);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_key_update)
{
    now_s = client_now = tu_pki.now;
    kitls_config *scfg = server_cfg(), *ccfg = client_cfg();
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    uint8_t buf[64];
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    struct kitls_stats s0 = snap(scfg), c0 = snap(ccfg);
    ck_assert_int_eq(kitls_conn_key_update(c, 1), 0); /* and ask the server for one */
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), KITLS_E_WANT_READ);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    struct kitls_stats s1 = snap(scfg), c1 = snap(ccfg);
    struct kitls_stats ds = delta(&s0, &s1), dc = delta(&c0, &c1);
    ck_assert_uint_eq(dc.key_updates[KITLS_STATS_SENT], 1);
    ck_assert_uint_eq(dc.key_updates[KITLS_STATS_RECEIVED], 1);
    ck_assert_uint_eq(ds.key_updates[KITLS_STATS_SENT], 1);
    ck_assert_uint_eq(ds.key_updates[KITLS_STATS_RECEIVED], 1);
    ck_assert_uint_eq(total(&ds) + total(&dc), 4);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* 0-RTT: the handshake with early data; returns the server's status. */
static int early_attempt(kitls_config *ccfg, kitls_config *scfg, kitls_session *sess)
{
    static const char msg[] = "early";
    uint8_t got[256];
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)msg, 5), 5);
    int cr = KITLS_E_WANT_READ, sr = KITLS_E_WANT_READ;
    for (int round = 0; round < 32 && (cr == KITLS_E_WANT_READ || sr != 0); round++) {
        if (cr == KITLS_E_WANT_READ)
            cr = kitls_conn_handshake(c);
        tu_move(c, s);
        sr = kitls_conn_handshake(s);
        while (sr == KITLS_E_EARLY_DATA) {
            ck_assert_int_eq(kitls_conn_read_early_data(s, got, sizeof(got)), 5);
            sr = kitls_conn_handshake(s);
        }
        tu_move(s, c);
    }
    ck_assert_int_eq(cr, 0);
    ck_assert_int_eq(sr, 0);
    int st = kitls_conn_early_data_status(s);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return st;
}

START_TEST(test_early_data)
{
    now_s = client_now = tu_pki.now;
    kitls_config *scfg = server_cfg(), *ccfg = client_cfg();
    ck_assert_int_eq(kitls_config_set_early_data(scfg, 4096), 0);
    ck_assert_int_eq(kitls_config_set_early_data(ccfg, 1), 0);
    kitls_session *sess = handshake(ccfg, scfg, NULL);
    struct kitls_stats s0 = snap(scfg), c0 = snap(ccfg);
    ck_assert_int_eq(early_attempt(ccfg, scfg, sess), KITLS_EARLY_ACCEPTED);
    struct kitls_stats s1 = snap(scfg), c1 = snap(ccfg);
    struct kitls_stats ds = delta(&s0, &s1), dc = delta(&c0, &c1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_OFFERED], 1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_ACCEPTED], 1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_REJECTED], 0);
    ck_assert_uint_eq(ds.bytes[KITLS_STATS_RECEIVED], 5); /* kitls_conn_read_early_data */
    /* Clients do not count 0-RTT (the server's decision is the metric). */
    ck_assert_uint_eq(dc.early_data[KITLS_STATS_EARLY_OFFERED], 0);
    ck_assert_uint_eq(dc.early_data[KITLS_STATS_EARLY_ACCEPTED], 0);

    /* The same ticket again: the anti-replay store refuses its 0-RTT. */
    s0 = snap(scfg);
    ck_assert_int_eq(early_attempt(ccfg, scfg, sess), KITLS_EARLY_REJECTED);
    s1 = snap(scfg);
    ds = delta(&s0, &s1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_OFFERED], 1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_REPLAYED], 1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_REJECTED], 1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_ACCEPTED], 0);
    ck_assert_uint_eq(ds.handshakes[ROLE_S][1], 1);

    /* 0-RTT turned off on the server: rejected, not replayed. */
    kitls_session *fresh = handshake(ccfg, scfg, NULL);
    kitls_config *off = server_cfg();
    s0 = snap(off);
    ck_assert_int_eq(early_attempt(ccfg, off, fresh), KITLS_EARLY_REJECTED);
    s1 = snap(off);
    ds = delta(&s0, &s1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_OFFERED], 1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_REJECTED], 1);
    ck_assert_uint_eq(ds.early_data[KITLS_STATS_EARLY_REPLAYED], 0);
    kitls_session_free(fresh);
    kitls_session_free(sess);
    kitls_config_free(off);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* ---- concurrency ---- */

#define THREADS 4
#define BUMPS 50000
#define HANDSHAKES 8

struct worker {
    kitls_config *scfg, *ccfg;
    kitls_conn *conn;
};

static void *bumper(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < BUMPS; i++) {
        ck_assert_int_eq(kitls_conn_stats_add(w->conn, KITLS_STATS_EV_BYTES, KITLS_STATS_SENT, 3),
                         0);
        ck_assert_int_eq(kitls_conn_stats_add(w->conn, KITLS_STATS_EV_KTLS_REKEY, 0, 1), 0);
    }
    for (int i = 0; i < HANDSHAKES; i++)
        kitls_session_free(handshake(w->ccfg, w->scfg, NULL));
    return NULL;
}

START_TEST(test_concurrent)
{
    now_s = client_now = tu_pki.now;
    kitls_config *scfg = server_cfg(), *ccfg = client_cfg();
    struct worker w[THREADS];
    pthread_t t[THREADS];
    struct kitls_stats p0 = proc(), s0 = snap(scfg), c0 = snap(ccfg);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){scfg, ccfg, tu_server(scfg)};
        ck_assert_int_eq(pthread_create(&t[i], NULL, bumper, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        kitls_conn_free(w[i].conn);
    }
    struct kitls_stats p1 = proc(), s1 = snap(scfg), c1 = snap(ccfg);
    struct kitls_stats ds = delta(&s0, &s1), dc = delta(&c0, &c1), dp = delta(&p0, &p1);
    ck_assert_uint_eq(ds.bytes[KITLS_STATS_SENT], 3ull * BUMPS * THREADS);
    ck_assert_uint_eq(ds.ktls_rekeys, (uint64_t)BUMPS * THREADS);
    ck_assert_uint_eq(ds.handshakes[ROLE_S][0], HANDSHAKES * THREADS);
    ck_assert_uint_eq(dc.handshakes[ROLE_C][0], HANDSHAKES * THREADS);
    ck_assert_uint_eq(ds.tickets_issued, HANDSHAKES * THREADS);
    ck_assert_uint_eq(dp.ktls_rekeys, (uint64_t)BUMPS * THREADS);
    ck_assert_uint_eq(dp.bytes[KITLS_STATS_SENT], 3ull * BUMPS * THREADS);
    ck_assert_uint_eq(dp.handshakes[ROLE_S][0] + dp.handshakes[ROLE_C][0],
                      2 * HANDSHAKES * THREADS);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* ---- arguments and the Prometheus text ---- */

START_TEST(test_args)
{
    kitls_config *cfg = client_cfg();
    kitls_conn *c = tu_client(cfg, "localhost");
    struct kitls_stats s;
    ck_assert_int_eq(kitls_config_stats(NULL, &s), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_stats(cfg, NULL), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_conn_stats_add(NULL, KITLS_STATS_EV_KTLS_REKEY, 0, 1),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_conn_stats_add(c, KITLS_STATS_EV_KTLS_OFFLOAD, 2, 1),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_conn_stats_add(c, KITLS_STATS_EV_KTLS_FALLBACK, KITLS_STATS_KTLS_N, 1),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_conn_stats_add(c, KITLS_STATS_EV_BYTES, 2, 1), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_conn_stats_add(c, (enum kitls_stats_event)99, 0, 1),
                     KITLS_E_INVALID_ARG);
    struct kitls_stats d = snap(cfg);
    ck_assert_uint_eq(total(&d), 0);
    ck_assert_int_eq(kitls_conn_stats_add(c, KITLS_STATS_EV_KTLS_OFFLOAD, KITLS_DIR_RX, 2), 0);
    ck_assert_int_eq(
        kitls_conn_stats_add(c, KITLS_STATS_EV_KTLS_FALLBACK, KITLS_STATS_KTLS_DISABLED, 1), 0);
    d = snap(cfg);
    ck_assert_uint_eq(d.ktls_offloads[KITLS_DIR_RX], 2);
    ck_assert_uint_eq(d.ktls_fallbacks[KITLS_STATS_KTLS_DISABLED], 1);
    ck_assert_uint_eq(total(&d), 3);
    ck_assert_int_eq(kitls_stats_prometheus(NULL, NULL, 0), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_stats_prometheus(&d, NULL, 5), KITLS_E_INVALID_ARG);
    kitls_conn_free(c);
    kitls_config_free(cfg);
}
END_TEST

START_TEST(test_prometheus)
{
    struct kitls_stats s;
    memset(&s, 0, sizeof(s));
    s.handshakes[ROLE_S][1] = 7;
    s.handshake_failures[ROLE_S][KITLS_STATS_SENT][42] = 3;
    s.handshake_failures[ROLE_C][KITLS_STATS_RECEIVED][KITLS_STATS_NO_ALERT] = 2;
    s.handshake_failures[ROLE_S][KITLS_STATS_RECEIVED][200] = 1; /* unnamed codes: one series */
    s.handshake_failures[ROLE_S][KITLS_STATS_RECEIVED][201] = 4;
    s.ktls_fallbacks[KITLS_STATS_KTLS_REKEY_UNSUPPORTED] = 5;
    s.bytes[KITLS_STATS_RECEIVED] = 18446744073709551615ull;
    int n = kitls_stats_prometheus(&s, NULL, 0);
    ck_assert_int_gt(n, 1000);
    char *buf = malloc((size_t)n + 1);
    ck_assert_int_eq(kitls_stats_prometheus(&s, buf, (size_t)n + 1), n);
    ck_assert_uint_eq(strlen(buf), (size_t)n);
    static const char *const want[] = {
        "# HELP kitls_handshakes_total ",
        "# TYPE kitls_handshakes_total counter\n",
        "\nkitls_handshakes_total{role=\"server\",kind=\"resumed\"} 7\n",
        "\nkitls_handshakes_total{role=\"client\",kind=\"full\"} 0\n",
        "\nkitls_handshake_failures_total{role=\"server\",side=\"sent\",alert=\"bad_certificate\"} "
        "3\n",
        "\nkitls_handshake_failures_total{role=\"client\",side=\"received\",alert=\"none\"} 2\n",
        "\nkitls_handshake_failures_total{role=\"server\",side=\"received\",alert=\"unknown\"} 5\n",
        "\nkitls_hello_retry_requests_total{role=\"server\"} 0\n",
        "\nkitls_early_data_total{result=\"replayed\"} 0\n",
        "\nkitls_tickets_issued_total 0\n",
        "\nkitls_tickets_refused_total{reason=\"unknown_key\"} 0\n",
        "\nkitls_key_updates_total{direction=\"received\"} 0\n",
        "\nkitls_ktls_offloads_total{direction=\"tx\"} 0\n",
        "\nkitls_ktls_fallbacks_total{reason=\"rekey_unsupported\"} 5\n",
        "\nkitls_ktls_rekeys_total 0\n",
        "\nkitls_bytes_total{direction=\"received\"} 18446744073709551615\n",
        "\nkitls_cert_verify_failures_total{reason=\"hostname\"} 0\n",
        "\nkitls_ocsp_failures_total{reason=\"missing\"} 0\n",
        "# TYPE kitls_ocsp_failures_total counter\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(buf, want[i]) != NULL, "missing: %s", want[i]);
    /* Failures by alert: only the alerts seen. */
    ck_assert_ptr_null(strstr(buf, "alert=\"handshake_failure\""));
    ck_assert_ptr_null(strstr(buf, "alert=\"unknown\"} 1"));
    /* snprintf semantics: truncated text, NUL-terminated, same length. */
    char small[100];
    ck_assert_int_eq(kitls_stats_prometheus(&s, small, sizeof(small)), n);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert(!memcmp(small, buf, sizeof(small) - 1));
    free(buf);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("stats");
    TCase *t = tcase_create("counters");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_full_and_bytes);
    tcase_add_test(t, test_bytes_batched);
    tcase_add_test(t, test_resumed_and_unknown_key);
    tcase_add_test(t, test_hrr);
    tcase_add_test(t, test_failures_by_alert);
    tcase_add_test(t, test_key_update);
    tcase_add_test(t, test_early_data);
    tcase_add_test(t, test_concurrent);
    tcase_add_test(t, test_args);
    tcase_add_test(t, test_prometheus);
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
