/*
 * Resumption (tickets, PSK binders, key rotation, expiry) and KeyUpdate,
 * client against server in memory, public API only.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int64_t now_s;

static const uint16_t suites[3] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                   KITLS_CHACHA20_POLY1305_SHA256};

static void set_clock(kitls_config *cfg)
{
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &now_s), 0);
}

/* Let the client read whatever the server sent after the handshake (tickets). */
static void drain(kitls_conn *from, kitls_conn *to)
{
    uint8_t buf[64];
    tu_move(from, to);
    ck_assert_int_eq(kitls_conn_read(to, buf, sizeof(buf)), KITLS_E_WANT_READ);
}

/* Full handshake; returns the session the client got. */
static kitls_session *first_session(kitls_config *ccfg, kitls_config *scfg, const char *name)
{
    kitls_conn *c = tu_client(ccfg, name), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_int_eq(kitls_conn_is_resumed(c), 0);
    drain(s, c);
    kitls_session *sess = kitls_conn_get_session(c);
    ck_assert_ptr_nonnull(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return sess;
}

/* Try to resume; returns 1 if resumed, 0 for a full handshake; fails the
 * test if the handshake itself fails. */
static int try_resume(kitls_config *ccfg, kitls_config *scfg, kitls_session *sess, const char *name)
{
    kitls_conn *c = tu_client(ccfg, name), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    int cr, sr;
    ck_assert_int_eq(tu_handshake(c, s, &cr, &sr), 0);
    int resumed = kitls_conn_is_resumed(c);
    ck_assert_int_eq(resumed, kitls_conn_is_resumed(s));
    /* Application data flows either way. */
    uint8_t buf[16];
    ck_assert_int_eq(kitls_conn_write(c, (const uint8_t *)"ping", 4), 4);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), 4);
    ck_assert(!memcmp(buf, "ping", 4));
    kitls_conn_free(c);
    kitls_conn_free(s);
    return resumed;
}

START_TEST(test_resume_suite)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_suites(ccfg, &suites[_i], 1), 0);
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    ck_assert_int_eq(try_resume(ccfg, scfg, sess, "localhost"), 1);
    /* A ticket may be used more than once (no 0-RTT involved). */
    ck_assert_int_eq(try_resume(ccfg, scfg, sess, "localhost"), 1);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resume_hrr)
{
    static const uint16_t sg[1] = {KITLS_GROUP_SECP256R1};
    static const uint16_t cg[2] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1};
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_groups(scfg, sg, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(ccfg, cg, 2), 0);
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_int_eq(kitls_conn_did_hrr(c), 1);
    ck_assert_int_eq(kitls_conn_is_resumed(c), 1);
    ck_assert_int_eq(kitls_conn_is_resumed(s), 1);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* Remove the pre_shared_key extension (the last one, §4.2.11) from the
 * ClientHello record in buf; returns the new length. */
static size_t strip_psk(uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off + 5 <= len && buf[off] != 22)
        off += 5 + ((size_t)buf[off + 3] << 8 | buf[off + 4]);
    ck_assert_uint_lt(off + 5, len);
    uint8_t *rec = buf + off, *m = rec + 5;
    size_t p = 4 + 2 + 32;
    p += 1 + m[p];
    p += 2 + ((size_t)m[p] << 8 | m[p + 1]);
    p += 1 + m[p];
    size_t ext_len_at = p, end = p + 2 + ((size_t)m[p] << 8 | m[p + 1]);
    size_t q = p + 2, last = 0;
    while (q < end) {
        last = q;
        q += 4 + ((size_t)m[q + 2] << 8 | m[q + 3]);
    }
    ck_assert_uint_eq((size_t)m[last] << 8 | m[last + 1], 41);
    size_t cut = end - last;
    memmove(m + last, m + end, len - (off + 5 + end));
    size_t el = ((size_t)m[ext_len_at] << 8 | m[ext_len_at + 1]) - cut;
    m[ext_len_at] = (uint8_t)(el >> 8);
    m[ext_len_at + 1] = (uint8_t)el;
    size_t hl = ((size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3]) - cut;
    m[1] = (uint8_t)(hl >> 16);
    m[2] = (uint8_t)(hl >> 8);
    m[3] = (uint8_t)hl;
    size_t rl = ((size_t)rec[3] << 8 | rec[4]) - cut;
    rec[3] = (uint8_t)(rl >> 8);
    rec[4] = (uint8_t)rl;
    return len - cut;
}

/* A ClientHello2 that drops a PSK still usable with the HelloRetryRequest's
 * suite is inconsistent (RFC 8446 §4.1.2): illegal_parameter. */
START_TEST(test_resume_hrr_psk_dropped)
{
    static const uint16_t sg[1] = {KITLS_GROUP_SECP256R1};
    static const uint16_t cg[2] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1};
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_groups(scfg, sg, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(ccfg, cg, 2), 0);
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    size_t len;
    uint8_t *ch2 = tu_out_copy(c, &len);
    len = strip_psk(ch2, len);
    ck_assert_int_eq(kitls_conn_feed(s, ch2, len), 0);
    free(ch2);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_ILLEGAL_PARAMETER);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resume_expiry)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    now_s = tu_pki.now;
    set_clock(scfg);
    set_clock(ccfg);
    ck_assert_int_eq(kitls_config_set_tickets(scfg, 1, 100), 0);
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    ck_assert_uint_eq(kitls_session_lifetime(sess), 100);
    now_s += 100;
    ck_assert_int_eq(try_resume(ccfg, scfg, sess, "localhost"), 1);
    now_s += 1;
    ck_assert_int_eq(try_resume(ccfg, scfg, sess, "localhost"), 0);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resume_server_expiry)
{
    /* The client's clock lags: the server still refuses the old ticket. */
    static int64_t client_now;
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    now_s = client_now = tu_pki.now;
    set_clock(scfg);
    ck_assert_int_eq(kitls_config_set_time(ccfg, tu_time_fixed, &client_now), 0);
    ck_assert_int_eq(kitls_config_set_tickets(scfg, 1, 100), 0);
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    now_s += 101;
    ck_assert_int_eq(try_resume(ccfg, scfg, sess, "localhost"), 0);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resume_key_rotation)
{
    struct kitls_ticket_key k1 = {{1, 1, 1, 1}, {1}}, k2 = {{2, 2, 2, 2}, {2}};
    struct kitls_ticket_key both[2] = {k2, k1};
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_ticket_keys(scfg, &k1, 1), 0);
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    /* Rotate while the config is in use: the old key still opens tickets. */
    ck_assert_int_eq(kitls_config_set_ticket_keys(scfg, both, 2), 0);
    ck_assert_int_eq(try_resume(ccfg, scfg, sess, "localhost"), 1);
    /* Retire k1: its tickets are refused (full handshake). */
    ck_assert_int_eq(kitls_config_set_ticket_keys(scfg, &k2, 1), 0);
    ck_assert_int_eq(try_resume(ccfg, scfg, sess, "localhost"), 0);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resume_tampered_ticket)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    uint8_t buf[2048];
    size_t n;
    ck_assert_int_eq(kitls_session_to_bytes(sess, buf, sizeof(buf), &n), 0);
    buf[n - 5] ^= 0x40; /* inside the sealed ticket (serialized last) */
    kitls_session *bad = kitls_session_from_bytes(buf, n);
    ck_assert_ptr_nonnull(bad);
    ck_assert_int_eq(try_resume(ccfg, scfg, bad, "localhost"), 0);
    kitls_session_free(bad);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resume_tampered_binder)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_middlebox_compat(ccfg, 0), 0);
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    size_t n;
    uint8_t *ch = tu_out_copy(c, &n);
    ch[n - 1] ^= 1; /* the binder is the ClientHello's last byte */
    ck_assert_int_eq(kitls_conn_feed(s, ch, n), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_DECRYPT_ERROR);
    size_t an;
    uint8_t *out = tu_out_copy(s, &an);
    ck_assert_int_eq(tu_find_alert(out, an), 51);
    free(out);
    free(ch);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resume_wrong_sni)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    /* Same certificate (IP SAN), different name: no resumption. */
    ck_assert_int_eq(try_resume(ccfg, scfg, sess, "127.0.0.1"), 0);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_resume_tickets_off)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_tickets(scfg, 0, 0), 0);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    drain(s, c);
    ck_assert_ptr_null(kitls_conn_get_session(c));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_session_bytes)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    size_t n = 0;
    ck_assert_int_eq(kitls_session_to_bytes(sess, NULL, 0, &n), 0);
    uint8_t *buf = malloc(n);
    ck_assert_int_eq(kitls_session_to_bytes(sess, buf, n, &n), 0);
    ck_assert_int_eq(kitls_session_to_bytes(sess, buf, n - 1, &n), KITLS_E_INVALID_ARG);
    kitls_session *copy = kitls_session_from_bytes(buf, n);
    ck_assert_ptr_nonnull(copy);
    ck_assert_int_eq(try_resume(ccfg, scfg, copy, "localhost"), 1);
    /* Every truncation is refused. */
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_null(kitls_session_from_bytes(buf, i));
    free(buf);
    kitls_session_free(copy);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* A ticket as long as a server may make it (2^16-1 bytes, RFC 8446
 * §4.6.1) cannot fit in a ClientHello's extensions block (§4.1.2): the
 * client must not offer it (it used to fail with internal_error) and
 * fall back to a full handshake.  Found by tests/fuzz (session target,
 * regressions/session/oversized-ticket). */
START_TEST(test_resume_oversized_ticket)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    size_t n = 0;
    ck_assert_int_eq(kitls_session_to_bytes(sess, NULL, 0, &n), 0);
    uint8_t *buf = malloc(n + 65535);
    ck_assert_int_eq(kitls_session_to_bytes(sess, buf, n, &n), 0);
    /* format(1) suite(2) psk<1> 5 x u32 alpn<1> sni<1> peer_auth(1)
     * peer_cert<3> auth_time(8) not_after(8) context(32) ticket<2> */
    size_t at = 3 + 1 + buf[3] + 20;
    at += 1 + buf[at];
    at += 1 + buf[at];
    at += 1;
    at += 3 + ((size_t)buf[at] << 16 | (size_t)buf[at + 1] << 8 | buf[at + 2]);
    at += 8 + 8 + 32;
    ck_assert_uint_lt(at + 2, n);
    for (size_t ticket_len = 65000; ticket_len <= 65535; ticket_len += 535) {
        buf[at] = (uint8_t)(ticket_len >> 8);
        buf[at + 1] = (uint8_t)ticket_len;
        memset(buf + at + 2, 0xa5, ticket_len);
        kitls_session *big = kitls_session_from_bytes(buf, at + 2 + ticket_len);
        ck_assert_ptr_nonnull(big);
        /* The server cannot open it either way: a full handshake. */
        ck_assert_int_eq(try_resume(ccfg, scfg, big, "localhost"), 0);
        kitls_session_free(big);
    }
    free(buf);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* A session whose `received` time is far in the past (here INT64_MIN +
 * 185, as kitls_session_from_bytes accepts) is expired: not offered.  The
 * age check used to compute now - received in int64_t, which overflows
 * (undefined behaviour; in practice the session was offered).  Found by
 * tests/fuzz (session target, regressions/session/received-int64-min). */
START_TEST(test_resume_received_overflow)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_session *sess = first_session(ccfg, scfg, "localhost");
    size_t n = 0;
    ck_assert_int_eq(kitls_session_to_bytes(sess, NULL, 0, &n), 0);
    uint8_t *buf = malloc(n);
    ck_assert_int_eq(kitls_session_to_bytes(sess, buf, n, &n), 0);
    /* format(1) suite(2) psk<1> age_add lifetime max_early received_hi received_lo */
    size_t at = 3 + 1 + buf[3] + 12;
    static const uint8_t past[8] = {0x80, 0, 0, 0, 0, 0, 0, 0xb9};
    memcpy(buf + at, past, sizeof(past));
    kitls_session *old = kitls_session_from_bytes(buf, n);
    ck_assert_ptr_nonnull(old);
    ck_assert_int_eq(try_resume(ccfg, scfg, old, "localhost"), 0);
    free(buf);
    kitls_session_free(old);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* ---- KeyUpdate ---- */

static void established(kitls_config *ccfg, kitls_config *scfg, kitls_conn **c, kitls_conn **s)
{
    *c = tu_client(ccfg, "localhost");
    *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(*c, *s, NULL, NULL), 0);
    drain(*s, *c);
}

static void roundtrip(kitls_conn *from, kitls_conn *to, const char *msg)
{
    uint8_t buf[64];
    size_t n = strlen(msg);
    ck_assert_int_eq(kitls_conn_write(from, (const uint8_t *)msg, n), (int)n);
    tu_move(from, to);
    ck_assert_int_eq(kitls_conn_read(to, buf, sizeof(buf)), (int)n);
    ck_assert(!memcmp(buf, msg, n));
}

START_TEST(test_key_update_requested)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_conn *c, *s;
    established(ccfg, scfg, &c, &s);
    struct kitls_traffic_keys k0, k1;
    kitls_offload *so;
    ck_assert_int_eq(kitls_offload_get(s, &so), 0);
    ck_assert_int_eq(kitls_offload_export_keys(so, KITLS_DIR_TX, &k0), 0);
    roundtrip(c, s, "before");
    ck_assert_int_eq(kitls_conn_key_update(_i ? s : c, 1), 0);
    roundtrip(_i ? s : c, _i ? c : s, "after-update");
    /* The peer answered with its own KeyUpdate: both directions moved. */
    roundtrip(_i ? c : s, _i ? s : c, "answer");
    roundtrip(_i ? s : c, _i ? c : s, "again");
    ck_assert_int_eq(kitls_offload_export_keys(so, KITLS_DIR_TX, &k1), 0);
    ck_assert(memcmp(k0.key, k1.key, k0.key_len) != 0);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* RFC 8446 §4.6.3: KeyUpdate requests received while silent get one
 * answer; data sent in between re-arms the answer. */
START_TEST(test_key_update_requests_coalesce)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_conn *c, *s;
    established(ccfg, scfg, &c, &s);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(kitls_conn_key_update(c, 1), 0);
    uint8_t buf[8];
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), KITLS_E_WANT_READ);
    size_t len, off[16];
    uint8_t *out = tu_out_copy(s, &len);
    ck_assert_uint_eq(tu_records(out, len, off, 16), 1);
    free(out);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    roundtrip(s, c, "data");
    ck_assert_int_eq(kitls_conn_key_update(c, 1), 0);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), KITLS_E_WANT_READ);
    out = tu_out_copy(s, &len);
    ck_assert_uint_eq(tu_records(out, len, off, 16), 1);
    free(out);
    roundtrip(s, c, "after");
    roundtrip(c, s, "both ways");
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_key_update_storm)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_conn *c, *s;
    established(ccfg, scfg, &c, &s);
    /* 32 updates without data are fine; the 33rd is an attack. */
    for (int i = 0; i < 32; i++)
        ck_assert_int_eq(kitls_conn_key_update(c, 0), 0);
    uint8_t buf[8];
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), KITLS_E_WANT_READ);
    roundtrip(c, s, "data resets the count");
    for (int i = 0; i < 33; i++)
        ck_assert_int_eq(kitls_conn_key_update(c, 0), 0);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), KITLS_E_LIMIT);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_key_update_auto)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_key_update_limit(ccfg, 4), 0);
    kitls_conn *c, *s;
    established(ccfg, scfg, &c, &s);
    static uint8_t big[100000], got[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(kitls_conn_write(c, big, sizeof(big)), (int)sizeof(big));
    struct kitls_traffic_keys k;
    kitls_offload *co;
    ck_assert_int_eq(kitls_offload_get(c, &co), 0);
    ck_assert_int_eq(kitls_offload_export_keys(co, KITLS_DIR_TX, &k), 0);
    ck_assert_uint_lt(k.seq, 4);
    tu_move(c, s);
    size_t have = 0;
    while (have < sizeof(got)) {
        int r = kitls_conn_read(s, got + have, sizeof(got) - have);
        ck_assert_int_gt(r, 0);
        have += (size_t)r;
    }
    ck_assert(!memcmp(big, got, sizeof(big)));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_key_update_bad_value)
{
    /* KeyUpdate with request_update = 2 is illegal_parameter; sent by hand
     * under the client's keys is not possible from the API, so check the
     * state error instead: KeyUpdate before the handshake is refused. */
    kitls_config *ccfg = tu_client_config();
    kitls_conn *c = tu_client(ccfg, "localhost");
    ck_assert_int_eq(kitls_conn_key_update(c, 0), KITLS_E_STATE);
    kitls_conn_free(c);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_release_buffers)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_conn *c, *s;
    established(ccfg, scfg, &c, &s);
    roundtrip(c, s, "before");
    /* Pending output is kept: only drained buffers go. */
    ck_assert_int_eq(kitls_conn_write(s, (const uint8_t *)"queued", 6), 6);
    kitls_conn_release_buffers(s);
    kitls_conn_release_buffers(c);
    uint8_t buf[16];
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), 6);
    ck_assert(!memcmp(buf, "queued", 6));
    /* Half-read data survives too. */
    ck_assert_int_eq(kitls_conn_write(c, (const uint8_t *)"0123456789", 10), 10);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, 4), 4);
    kitls_conn_release_buffers(s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), 6);
    ck_assert(!memcmp(buf, "456789", 6));
    kitls_conn_release_buffers(s);
    kitls_conn_release_buffers(c);
    roundtrip(c, s, "after");
    roundtrip(s, c, "and back");
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_exporter)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    uint8_t a[40], b[40], d[40];
    ck_assert_int_eq(kitls_conn_export_keying_material(c, "EXPORTER-test", NULL, 0, a, 40),
                     KITLS_E_STATE);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_int_eq(
        kitls_conn_export_keying_material(c, "EXPORTER-test", (const uint8_t *)"ctx", 3, a, 40), 0);
    ck_assert_int_eq(
        kitls_conn_export_keying_material(s, "EXPORTER-test", (const uint8_t *)"ctx", 3, b, 40), 0);
    ck_assert(!memcmp(a, b, 40));
    ck_assert_int_eq(
        kitls_conn_export_keying_material(s, "EXPORTER-other", (const uint8_t *)"ctx", 3, d, 40),
        0);
    ck_assert(memcmp(a, d, 40) != 0);
    /* TLS 1.3: no context and an empty context are the same (§7.5). */
    ck_assert_int_eq(kitls_conn_export_keying_material(c, "L", NULL, 0, a, 16), 0);
    ck_assert_int_eq(kitls_conn_export_keying_material(s, "L", (const uint8_t *)"", 0, b, 16), 0);
    ck_assert(!memcmp(a, b, 16));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_max_send_fragment)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_conn *c, *s;
    established(ccfg, scfg, &c, &s);
    ck_assert_int_eq(kitls_conn_set_max_send_fragment(c, 63), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_conn_set_max_send_fragment(c, 100), 0);
    ck_assert_uint_eq(kitls_conn_max_send_fragment(c), 100);
    static uint8_t data[1000], got[1000];
    memset(data, 'x', sizeof(data));
    ck_assert_int_eq(kitls_conn_write(c, data, sizeof(data)), 1000);
    tu_move(c, s);
    size_t have = 0;
    while (have < sizeof(got)) {
        int r = kitls_conn_read(s, got + have, sizeof(got) - have);
        ck_assert_int_gt(r, 0);
        ck_assert_int_le(r, 100); /* one record at a time */
        have += (size_t)r;
    }
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_raw_ocsp_and_sct)
{
    static const uint8_t staple[4] = {1, 2, 3, 4}, sct[6] = {0, 4, 0, 2, 0xaa, 0xbb};
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_config *plain = tu_client_config();
    ck_assert_int_eq(kitls_config_set_ocsp_staple_unchecked(scfg, 0, staple, 4), 0);
    ck_assert_int_eq(kitls_config_set_sct_list(scfg, 0, sct, 6), 0);
    ck_assert_int_eq(kitls_config_set_ocsp_policy(ccfg, KITLS_OCSP_REQUEST_ONLY), 0);
    ck_assert_int_eq(kitls_config_set_request_sct(ccfg, 1), 0);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    size_t n;
    const uint8_t *p = kitls_conn_ocsp_response(c, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert(!memcmp(p, staple, 4));
    p = kitls_conn_sct_list(c, &n);
    ck_assert_uint_eq(n, 6);
    ck_assert(!memcmp(p, sct, 6));
    kitls_conn_free(c);
    kitls_conn_free(s);
    /* A client that does not ask gets neither. */
    c = tu_client(plain, "localhost");
    s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_ptr_null(kitls_conn_ocsp_response(c, &n));
    ck_assert_ptr_null(kitls_conn_sct_list(c, &n));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
    kitls_config_free(plain);
}
END_TEST

/* RFC 6962 §3.3: SerializedSCT sct_list <1..2^16-1>, each SerializedSCT
 * <1..2^16-1>.  A server refuses to send a malformed list (BoGo
 * SignedCertificateTimestampListInvalid-Server); the client's parser uses
 * the same check (…ListEmpty-Client, …ListEmptySCT-Client). */
START_TEST(test_sct_list_syntax)
{
    static const uint8_t empty_list[] = {0, 0};
    static const uint8_t empty_sct[] = {0, 6, 0, 2, 1, 2, 0, 0};
    static const uint8_t short_sct[] = {0, 4, 0, 3, 1, 2};
    static const uint8_t trailing[] = {0, 3, 0, 1, 1, 9};
    static const uint8_t ok[] = {0, 7, 0, 2, 1, 2, 0, 1, 3};
    kitls_config *scfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_sct_list(scfg, 0, empty_list, sizeof(empty_list)),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_sct_list(scfg, 0, empty_sct, sizeof(empty_sct)),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_sct_list(scfg, 0, short_sct, sizeof(short_sct)),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_sct_list(scfg, 0, trailing, sizeof(trailing)),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_sct_list(scfg, 0, ok, sizeof(ok)), 0);
    ck_assert_int_eq(kitls_config_set_sct_list(scfg, 0, NULL, 0), 0);
    kitls_config_free(scfg);
}
END_TEST

/* RFC 8446 §4.2.4: DistinguishedName authorities<3..2^16-1>.  A server
 * asked to send its anchors' names but holding none leaves the extension
 * out instead of sending an empty list (which its own client refuses). */
START_TEST(test_ca_names_no_anchor)
{
    const struct tu_cred *cr = &tu_pki.server[TU_P256];
    kitls_config *scfg = kitls_config_new(KITLS_ROLE_SERVER), *ccfg = tu_client_config();
    ck_assert_ptr_nonnull(scfg);
    ck_assert_int_eq(
        kitls_config_add_cert_pem(scfg, cr->chain, cr->chain_len, cr->key, cr->key_len), 0);
    ck_assert_int_eq(kitls_config_set_verify(scfg, KITLS_VERIFY_REQUEST), 0);
    ck_assert_int_eq(kitls_config_set_send_ca_names(scfg, 1), 0);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    size_t n;
    ck_assert_ptr_null(kitls_conn_peer_ca_names(c, &n));
    ck_assert_uint_eq(n, 0);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_peer_lists)
{
    static const char *const protos[2] = {"h2", "http/1.1"};
    static const uint8_t wire[12] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_verify(scfg, KITLS_VERIFY_REQUEST), 0);
    ck_assert_int_eq(kitls_config_set_send_ca_names(scfg, 1), 0);
    ck_assert_int_eq(kitls_config_set_alpn(ccfg, protos, 2), 0);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    size_t n;
    const uint8_t *p = kitls_conn_peer_alpn_list(s, &n);
    ck_assert_uint_eq(n, sizeof(wire));
    ck_assert(!memcmp(p, wire, n));
    p = kitls_conn_peer_ca_names(c, &n);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_gt(n, 4);
    size_t first = (size_t)p[0] << 8 | p[1];
    ck_assert_uint_le(first + 2, n);
    ck_assert_ptr_null(kitls_conn_peer_ca_names(s, &n));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_plaintext_alert_after_flight)
{
    /* A client that refuses our certificate before switching keys sends
     * unknown_ca in plaintext: the server reports it as the peer's alert. */
    static const uint8_t alert[7] = {0x15, 3, 3, 0, 2, 2, 48};
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_feed(s, alert, sizeof(alert)), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_PEER_ALERT(48));
    ck_assert_int_eq(kitls_conn_peer_alert(s), 48);
    kitls_conn_free(c);
    kitls_conn_free(s);
    /* Once protected records flow, a plaintext alert is refused. */
    c = tu_client(ccfg, "localhost");
    s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    uint8_t buf[8];
    ck_assert_int_eq(kitls_conn_feed(c, alert, sizeof(alert)), 0);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_UNEXPECTED_MESSAGE);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resume");
    TCase *t = tcase_create("resumption");
    tcase_add_loop_test(t, test_resume_suite, 0, 3);
    tcase_add_test(t, test_resume_hrr);
    tcase_add_test(t, test_resume_hrr_psk_dropped);
    tcase_add_test(t, test_resume_expiry);
    tcase_add_test(t, test_resume_server_expiry);
    tcase_add_test(t, test_resume_key_rotation);
    tcase_add_test(t, test_resume_tampered_ticket);
    tcase_add_test(t, test_resume_tampered_binder);
    tcase_add_test(t, test_resume_wrong_sni);
    tcase_add_test(t, test_resume_tickets_off);
    tcase_add_test(t, test_session_bytes);
    tcase_add_test(t, test_resume_oversized_ticket);
    tcase_add_test(t, test_resume_received_overflow);
    suite_add_tcase(s, t);
    t = tcase_create("keyupdate");
    tcase_add_loop_test(t, test_key_update_requested, 0, 2);
    tcase_add_test(t, test_key_update_requests_coalesce);
    tcase_add_test(t, test_key_update_storm);
    tcase_add_test(t, test_key_update_auto);
    tcase_add_test(t, test_key_update_bad_value);
    tcase_add_test(t, test_release_buffers);
    tcase_add_test(t, test_exporter);
    tcase_add_test(t, test_max_send_fragment);
    tcase_add_test(t, test_raw_ocsp_and_sct);
    tcase_add_test(t, test_peer_lists);
    tcase_add_test(t, test_plaintext_alert_after_flight);
    tcase_add_test(t, test_sct_list_syntax);
    tcase_add_test(t, test_ca_names_no_anchor);
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
