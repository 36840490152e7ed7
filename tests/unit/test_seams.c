/*
 * Defects at the seams of the handshake (issue 14): state that crossed a
 * boundary it should not have.  These tests need the receiver's record keys
 * to forge well-protected messages of the wrong shape, so this program is
 * compiled with the library's sources (internal access), like the fuzz
 * harness.
 *
 *  - review F3: a client that sent no key share, answered by a cookie-only
 *    HelloRetryRequest (unauthenticated plaintext), crashed;
 *  - review F9: after an HRR the 0-RTT skip budget was re-armed by
 *    ClientHello2, so garbage after it was silently dropped;
 *  - a Finished (and KeyUpdate) of the wrong length was decrypt_error (or
 *    unexpected_message when it could not fit); RFC 8446 §6.2 says
 *    decode_error.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "internal.h"
#include "testutil.h"

/* ---- helpers ---- */

/* Seal one record of inner `type` with c's own current read keys and
 * sequence number (a forged but well-protected record) and feed it. */
static int feed_sealed(kitls_conn *c, uint8_t type, const uint8_t *p, size_t n)
{
    uint8_t *rec = malloc(KITLS_REC_HDR + n + 1 + KITLS_TAG_LEN);
    ck_assert_ptr_nonnull(rec);
    memcpy(rec + KITLS_REC_HDR, p, n);
    struct kitls_rec_dir d;
    memset(&d, 0, sizeof(d));
    ck_assert_ptr_nonnull(c->rx.suite);
    ck_assert_int_eq(kitls_rec_set_secret(&d, c->rx.suite, c->rx.secret, 1), 0);
    d.seq = c->rx.seq;
    int len = kitls_rec_seal(&d, rec, n, type, 0);
    kitls_rec_wipe(&d);
    ck_assert_int_gt(len, 0);
    int ret = kitls_conn_feed(c, rec, (size_t)len);
    free(rec);
    return ret;
}

/* A handshake message: type, 24-bit length `declared`, then body_len bytes. */
static size_t hs_msg(uint8_t *m, uint8_t type, uint32_t declared, size_t body_len)
{
    m[0] = type;
    m[1] = (uint8_t)(declared >> 16);
    m[2] = (uint8_t)(declared >> 8);
    m[3] = (uint8_t)declared;
    memset(m + 4, 0xab, body_len);
    return 4 + body_len;
}

static void drop_output(kitls_conn *c)
{
    const uint8_t *p;
    size_t n = kitls_conn_out_peek(c, &p);
    kitls_conn_out_consume(c, n);
}

/* ---- F3: cookie-only HRR to a client that sent no key share ---- */

/* A HelloRetryRequest record (AES-128-GCM, cookie, no key_share) with an
 * empty legacy_session_id_echo, as the review's reproduction. */
static size_t cookie_only_hrr(uint8_t *rec)
{
    static const uint8_t hrr[] = {
        0x16, 0x03, 0x03, 0x00, 0x3a, 0x02, 0x00, 0x00, 0x36, 0x03, 0x03, 0xcf, 0x21,
        0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
        0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2,
        0xc8, 0xa8, 0x33, 0x9c, 0x00, 0x13, 0x01, 0x00, 0x00, 0x0e, 0x00, 0x2b, 0x00,
        0x02, 0x03, 0x04, 0x00, 0x2c, 0x00, 0x04, 0x00, 0x02, 0xab, 0xcd,
    };
    memcpy(rec, hrr, sizeof(hrr));
    return sizeof(hrr);
}

static kitls_config *zero_share_client(void)
{
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_key_shares(cfg, 0), 0);
    ck_assert_int_eq(kitls_config_set_middlebox_compat(cfg, 0), 0);
    return cfg;
}

START_TEST(test_hrr_cookie_only_no_shares)
{
    kitls_config *cfg = zero_share_client();
    kitls_conn *c = tu_client(cfg, "localhost");
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    drop_output(c);
    uint8_t rec[128];
    size_t n = cookie_only_hrr(rec);
    ck_assert_int_eq(kitls_conn_feed(c, rec, n), 0);
    /* Illegal: ClientHello2 could never carry a share (RFC 8446 §4.1.4). */
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_ILLEGAL_PARAMETER);
    uint8_t *out = tu_out_copy(c, &n);
    ck_assert_int_eq(tu_find_alert(out, n), 47);
    free(out);
    kitls_conn_free(c);
    kitls_config_free(cfg);
}
END_TEST

START_TEST(test_no_shares_hrr_with_group)
{
    /* Control: a zero-share client and a real server.  The server's HRR
     * names a group, ClientHello2 carries its share, and the handshake
     * completes. */
    kitls_config *cfg = zero_share_client(), *scfg = tu_server_config(TU_P256);
    kitls_conn *c = tu_client(cfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert(kitls_conn_did_hrr(c));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(cfg);
    kitls_config_free(scfg);
}
END_TEST

/* ---- F9: the 0-RTT skip budget ends at ClientHello2 ---- */

static int64_t now_s;
static const struct kitls_ticket_key tkey = {{7, 7, 7, 7}, {24}};

START_TEST(test_early_skip_ends_at_ch2)
{
    static const uint16_t p256 = KITLS_GROUP_SECP256R1;
    static const uint16_t both[2] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1};
    static const char early[] = "GET / HTTP/1.1\r\n\r\n";
    now_s = tu_pki.now;
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_ticket_keys(scfg, &tkey, 1), 0);
    ck_assert_int_eq(kitls_config_set_time(scfg, tu_time_fixed, &now_s), 0);
    ck_assert_int_eq(kitls_config_set_early_data(scfg, 4096), 0);
    ck_assert_int_eq(kitls_config_set_groups(scfg, &p256, 1), 0);
    ck_assert_int_eq(kitls_config_set_time(ccfg, tu_time_fixed, &now_s), 0);
    ck_assert_int_eq(kitls_config_set_early_data(ccfg, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(ccfg, both, 2), 0);

    /* A ticket that allows early data. */
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    tu_move(s, c);
    uint8_t buf[16];
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kitls_session *sess = kitls_conn_get_session(c);
    ck_assert_ptr_nonnull(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);

    /* ClientHello1 (x25519 share) + early data: the server sends an HRR. */
    c = tu_client(ccfg, "localhost");
    s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_write_early_data(c, (const uint8_t *)early, sizeof(early)),
                     (int)sizeof(early));
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    ck_assert(kitls_conn_did_hrr(s));
    /* ClientHello2; the server answers with its flight. */
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_early_data_status(s), KITLS_EARLY_REJECTED);

    /* Garbage after ClientHello2 is bad_record_mac (§4.2.10, §5.2). */
    uint8_t junk[5 + 100];
    memset(junk, 0x5a, sizeof(junk));
    junk[0] = 0x17;
    junk[1] = 0x03;
    junk[2] = 0x03;
    junk[3] = 0x00;
    junk[4] = 100;
    int ret = kitls_conn_feed(s, junk, sizeof(junk));
    if (ret == 0)
        ret = kitls_conn_handshake(s);
    ck_assert_int_eq(ret, KITLS_E_BAD_RECORD_MAC);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* ---- Finished and KeyUpdate of the wrong length: decode_error ---- */

/* Run a handshake until the server waits for the client's Finished (the
 * client's own second flight is dropped). */
static void to_client_finished(kitls_config *ccfg, kitls_config *scfg, kitls_conn **cp,
                               kitls_conn **sp)
{
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_handshake(c), 0);
    drop_output(c);
    *cp = c;
    *sp = s;
}

static const uint32_t bad_lens[] = {0, 31, 33, 48, 0x4000, 0xffffff};

START_TEST(test_server_finished_length)
{
    uint32_t declared = bad_lens[_i];
    kitls_config *ccfg = tu_client_config(), *scfg = tu_server_config(TU_P256);
    kitls_conn *c, *s;
    to_client_finished(ccfg, scfg, &c, &s);
    ck_assert_uint_eq(s->suite->hash_len, 32);
    uint8_t m[4 + 64];
    /* Only the header and what fits in one record: a declared length that
     * is wrong must be refused from the header alone. */
    size_t n = hs_msg(m, 20, declared, declared < 64 ? declared : 64);
    ck_assert_int_eq(feed_sealed(s, 22, m, n), 0);
    int ret = kitls_conn_handshake(s);
    ck_assert_msg(ret == KITLS_E_DECODE, "declared %u: %d (%s)", declared, ret,
                  kitls_strerror(ret));
    ck_assert_int_eq(kitls_error_alert(ret), 50);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

START_TEST(test_client_finished_length)
{
    /* The server's flight, opened with the client's keys, re-sealed with
     * a Finished one byte too long. */
    kitls_config *ccfg = tu_client_config(), *scfg = tu_server_config(TU_P256);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    size_t n;
    uint8_t *flight = tu_out_copy(s, &n);
    size_t off[16];
    size_t nrec = tu_records(flight, n, off, 16);
    ck_assert_uint_gt(nrec, 1);
    static uint8_t plain[65536];
    size_t plen = 0;
    uint64_t k = 0;
    for (size_t i = 0; i < nrec; i++) {
        uint8_t *r = flight + off[i];
        size_t rl = KITLS_REC_HDR + ((size_t)r[3] << 8 | r[4]);
        if (r[0] != 23) {
            /* ServerHello (and CCS) in plaintext: the client derives its
             * handshake keys from them. */
            ck_assert_int_eq(kitls_conn_feed(c, r, rl), 0);
            ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
            continue;
        }
        struct kitls_rec_dir d;
        memset(&d, 0, sizeof(d));
        ck_assert_int_eq(kitls_rec_set_secret(&d, c->rx.suite, c->rx.secret, 0), 0);
        d.seq = c->rx.seq + k++;
        uint8_t type;
        size_t pl;
        ck_assert_int_eq(kitls_rec_open(&d, r, rl - KITLS_REC_HDR, &type, &pl), 0);
        kitls_rec_wipe(&d);
        ck_assert_int_eq(type, 22);
        memcpy(plain + plen, r + KITLS_REC_HDR, pl);
        plen += pl;
    }
    /* The last message is the server's Finished: one byte more. */
    size_t at = 0, last = 0;
    while (at + 4 <= plen) {
        last = at;
        at += 4 + ((size_t)plain[at + 1] << 16 | (size_t)plain[at + 2] << 8 | plain[at + 3]);
    }
    ck_assert_uint_eq(at, plen);
    ck_assert_int_eq(plain[last], 20);
    size_t hl = plen - last - 4;
    plain[last + 3] = (uint8_t)(hl + 1);
    plain[plen++] = 0;
    ck_assert_int_eq(feed_sealed(c, 22, plain, plen), 0);
    int ret = kitls_conn_handshake(c);
    ck_assert_msg(ret == KITLS_E_DECODE, "%d (%s)", ret, kitls_strerror(ret));
    free(flight);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

START_TEST(test_key_update_length)
{
    /* KeyUpdate has one byte (§4.6.3): 2 bytes, or a length that could not
     * fit any record, is decode_error on either side. */
    static const uint32_t lens[] = {0, 2, 0x10000, 0xffffff};
    kitls_config *ccfg = tu_client_config(), *scfg = tu_server_config(TU_P256);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (int to_server = 0; to_server < 2; to_server++) {
            kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
            ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
            tu_move(s, c);
            uint8_t buf[16];
            ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
            kitls_conn *rx = to_server ? s : c;
            uint8_t m[4 + 8];
            size_t n = hs_msg(m, 24, lens[i], lens[i] < 8 ? lens[i] : 8);
            ck_assert_int_eq(feed_sealed(rx, 22, m, n), 0);
            int ret = kitls_conn_read(rx, buf, sizeof(buf));
            ck_assert_msg(ret == KITLS_E_DECODE, "len %u to %s: %d (%s)", lens[i],
                          to_server ? "server" : "client", ret, kitls_strerror(ret));
            kitls_conn_free(c);
            kitls_conn_free(s);
        }
    }
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* ---- host names compare by ASCII case only (RFC 4343) ---- */

START_TEST(test_name_eq_ascii_only)
{
    /* The ticket's and the session's server names are compared with
     * kitls_name_eq: ASCII letters fold, every other byte must be equal,
     * whatever the process locale (strcasecmp folds by the locale). */
    ck_assert(kitls_name_eq("Example.COM", "example.com"));
    ck_assert(kitls_name_eq("", ""));
    ck_assert(!kitls_name_eq("example.com", "example.co"));
    ck_assert(!kitls_name_eq("example.co", "example.com"));
    ck_assert(!kitls_name_eq("a.test", "b.test"));
    ck_assert(!kitls_name_eq("\xc4.test", "\xe4.test")); /* Latin-1 A/a umlaut */
    ck_assert(kitls_name_eq("\xc4.test", "\xc4.TEST"));
    ck_assert(!kitls_name_eq("[.test", "{.test")); /* 0x5b / 0x7b differ by 0x20 too */
}
END_TEST

static Suite *seams_suite(void)
{
    Suite *s = suite_create("seams");
    TCase *t = tcase_create("hrr");
    tcase_add_test(t, test_hrr_cookie_only_no_shares);
    tcase_add_test(t, test_no_shares_hrr_with_group);
    tcase_add_test(t, test_early_skip_ends_at_ch2);
    suite_add_tcase(s, t);
    t = tcase_create("lengths");
    tcase_add_loop_test(t, test_server_finished_length, 0,
                        (int)(sizeof(bad_lens) / sizeof(bad_lens[0])));
    tcase_add_test(t, test_client_finished_length);
    tcase_add_test(t, test_key_update_length);
    tcase_add_test(t, test_name_eq_ascii_only);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    tu_pki_init();
    SRunner *sr = srunner_create(seams_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
