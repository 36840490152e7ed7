/*
 * Extension blocks as a server parses them (issue 14): well-formed
 * ClientHellos with thousands of unknown extensions or key shares are
 * accepted (RFC 8446 §4.1.2, §4.2, §4.2.8: unknown ones are ignored), the
 * only bound being the handshake message size limit; duplicates of any
 * type are refused with the alert of their message.  Also the program's
 * main(), which runs test_ext.c's client suite too.
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "kitls/kitls.h"
#include "testutil.h"

Suite *ext_client_suite(void);

static kitls_config *ccfg, *scfg;

static void setup(void)
{
    ccfg = tu_client_config();
    scfg = tu_server_config(TU_P256);
}

static void teardown(void)
{
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* ---- hand-built ClientHellos ---- */

struct big_opts {
    size_t unknown_exts;   /* extensions of types kitls does not know */
    size_t unknown_shares; /* key shares (and supported_groups entries) of unknown groups */
    int dup_unknown_ext;   /* one unknown extension type twice */
    int dup_unknown_share; /* one unknown group's share twice */
    size_t body_len;       /* pad the message body to exactly this (0: no) */
};

#define UNKNOWN_EXT0 0x2000   /* 0x2000.. : no extension kitls knows */
#define UNKNOWN_GROUP0 0x3000 /* 0x3000.. : no group kitls knows */

static struct tu_buf msgbuf, recbuf;

static void build_ch(struct tu_buf *msg, const struct big_opts *o)
{
    uint8_t pub[32];
    size_t pl = sizeof(pub);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(k, pub, &pl), 1);
    EVP_PKEY_free(k);
    msg->n = 0;
    tu_u8(msg, 1);
    size_t hl = tu_begin(msg, 3);
    tu_u16(msg, 0x0303);
    for (int i = 0; i < 32; i++)
        tu_u8(msg, i);
    tu_u8(msg, 32);
    for (int i = 0; i < 32; i++)
        tu_u8(msg, 0x80 + i);
    size_t at = tu_begin(msg, 2);
    tu_u16(msg, 0x1301);
    tu_end(msg, at, 2);
    tu_u8(msg, 1);
    tu_u8(msg, 0);
    size_t exts = tu_begin(msg, 2);
    tu_u16(msg, 43); /* supported_versions */
    at = tu_begin(msg, 2);
    tu_u8(msg, 2);
    tu_u16(msg, 0x0304);
    tu_end(msg, at, 2);
    tu_u16(msg, 13); /* signature_algorithms */
    at = tu_begin(msg, 2);
    size_t l2 = tu_begin(msg, 2);
    tu_u16(msg, 0x0403);
    tu_u16(msg, 0x0804);
    tu_end(msg, l2, 2);
    tu_end(msg, at, 2);
    tu_u16(msg, 10); /* supported_groups: the unknown ones, then x25519 */
    at = tu_begin(msg, 2);
    l2 = tu_begin(msg, 2);
    for (size_t i = 0; i < o->unknown_shares; i++)
        tu_u16(msg, (unsigned)(UNKNOWN_GROUP0 + i));
    tu_u16(msg, KITLS_GROUP_X25519);
    tu_end(msg, l2, 2);
    tu_end(msg, at, 2);
    tu_u16(msg, 51); /* key_share: 1-byte shares of the unknown groups, then x25519 */
    at = tu_begin(msg, 2);
    l2 = tu_begin(msg, 2);
    for (size_t i = 0; i < o->unknown_shares + (o->dup_unknown_share ? 1 : 0); i++) {
        tu_u16(msg, (unsigned)(UNKNOWN_GROUP0 + (i < o->unknown_shares ? i : 0)));
        tu_u16(msg, 1);
        tu_u8(msg, 0x42);
    }
    tu_u16(msg, KITLS_GROUP_X25519);
    tu_u16(msg, 32);
    tu_put(msg, pub, 32);
    tu_end(msg, l2, 2);
    tu_end(msg, at, 2);
    for (size_t i = 0; i < o->unknown_exts + (o->dup_unknown_ext ? 1 : 0); i++) {
        tu_u16(msg, (unsigned)(UNKNOWN_EXT0 + (i < o->unknown_exts ? i : 0)));
        tu_u16(msg, 0);
    }
    if (o->body_len) {
        /* One more unknown extension whose data fills up to body_len. */
        size_t body = msg->n - 4 + 4;
        ck_assert_uint_le(body, o->body_len);
        tu_u16(msg, 0x2fff);
        at = tu_begin(msg, 2);
        while (msg->n - 4 < o->body_len)
            tu_u8(msg, 0);
        tu_end(msg, at, 2);
    }
    tu_end(msg, exts, 2);
    tu_end(msg, hl, 3);
}

/* Plaintext handshake records of at most 16384 bytes each. */
static void to_records(const struct tu_buf *msg, struct tu_buf *out)
{
    out->n = 0;
    for (size_t i = 0; i < msg->n; i += 16384) {
        size_t len = msg->n - i < 16384 ? msg->n - i : 16384;
        tu_u8(out, 22);
        tu_u16(out, 0x0301);
        tu_u16(out, (unsigned)len);
        tu_put(out, msg->b + i, len);
    }
}

/*
 * Feed the ClientHello to a fresh server.  On success checks that the
 * server answered with a ServerHello that picked x25519 and our share,
 * and is waiting for the client's Finished; on failure, that its alert
 * matches the error.  Returns the handshake result.
 */
static int server_eats(kitls_config *cfg, const struct big_opts *o)
{
    build_ch(&msgbuf, o);
    to_records(&msgbuf, &recbuf);
    kitls_conn *s = tu_server(cfg);
    ck_assert_int_eq(kitls_conn_feed(s, recbuf.b, recbuf.n), 0);
    int err = kitls_conn_handshake(s);
    size_t n;
    uint8_t *out = tu_out_copy(s, &n);
    if (err == KITLS_E_WANT_READ) {
        ck_assert_int_eq(kitls_conn_error(s), 0);
        ck_assert_uint_gt(n, 5 + 4 + 2 + 32 + 1 + 32 + 2 + 1 + 2);
        ck_assert_uint_eq(out[0], 22);
        const uint8_t *m = out + 5;
        ck_assert_uint_eq(m[0], 2);
        const uint8_t *p = m + 4 + 2 + 32;
        p += 1 + p[0];
        p += 2 + 1;
        size_t el = get16(p);
        const uint8_t *e = p + 2, *end = e + el;
        unsigned group = 0;
        while (e + 4 <= end) {
            if (get16(e) == 51)
                group = get16(e + 4);
            e += 4 + get16(e + 2);
        }
        ck_assert_uint_eq(group, KITLS_GROUP_X25519);
    } else {
        ck_assert_int_eq(tu_find_alert(out, n), kitls_error_alert(err));
        ck_assert_int_eq(kitls_conn_error(s), err);
    }
    free(out);
    kitls_conn_free(s);
    return err;
}

START_TEST(test_ch_2000_unknown_extensions)
{
    /* Was decode_error past 64 extensions. */
    struct big_opts o = {.unknown_exts = 2000};
    ck_assert_int_eq(server_eats(scfg, &o), KITLS_E_WANT_READ);
}
END_TEST

START_TEST(test_ch_1000_unknown_key_shares)
{
    /* Was illegal_parameter past 16 shares. */
    struct big_opts o = {.unknown_shares = 1000};
    ck_assert_int_eq(server_eats(scfg, &o), KITLS_E_WANT_READ);
}
END_TEST

START_TEST(test_ch_many_of_both)
{
    /* Both at once, as far as the 2^16-1 byte extensions block allows. */
    struct big_opts o = {.unknown_exts = 6000, .unknown_shares = 3000};
    ck_assert_int_eq(server_eats(scfg, &o), KITLS_E_WANT_READ);
}
END_TEST

START_TEST(test_ch_duplicate_unknown_extension)
{
    /* A duplicate is found among unknown types too, at any distance:
     * decode_error in a ClientHello (lib/ext.c). */
    struct big_opts o = {.unknown_exts = 3000, .dup_unknown_ext = 1};
    ck_assert_int_eq(server_eats(scfg, &o), KITLS_E_DECODE);
    struct big_opts o2 = {.unknown_exts = 1, .dup_unknown_ext = 1};
    ck_assert_int_eq(server_eats(scfg, &o2), KITLS_E_DECODE);
}
END_TEST

START_TEST(test_ch_duplicate_unknown_share)
{
    /* Two shares of one (unknown) group: illegal_parameter (§4.2.8). */
    struct big_opts o = {.unknown_shares = 1000, .dup_unknown_share = 1};
    ck_assert_int_eq(server_eats(scfg, &o), KITLS_E_ILLEGAL_PARAMETER);
}
END_TEST

START_TEST(test_ch_size_limit)
{
    /* The handshake message size limit (kitls_limits.max_handshake_message,
     * kitls-server --max-handshake-message) is what bounds a ClientHello: one
     * whose body is exactly the limit, made of 3000 extensions, is accepted;
     * one byte more is KITLS_E_LIMIT with unexpected_message
     * (docs/limits.md). */
    struct kitls_limits lim = {.max_handshake_message = 16384};
    ck_assert_int_eq(kitls_config_set_limits(scfg, &lim), 0);
    struct big_opts o = {.unknown_exts = 3000, .body_len = 16384};
    ck_assert_int_eq(server_eats(scfg, &o), KITLS_E_WANT_READ);
    o.body_len = 16385;
    ck_assert_int_eq(server_eats(scfg, &o), KITLS_E_LIMIT);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_LIMIT), 10);
}
END_TEST

/* ---- duplicates in the server's hellos (client side) ---- */

/* SHA-256("HelloRetryRequest"): the HelloRetryRequest's random (RFC 8446 §4.1.3). */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* Answer a client's ClientHello with a ServerHello (or HelloRetryRequest)
 * carrying supported_versions twice; returns the client's result. */
static int client_gets_dup(int hrr)
{
    kitls_conn *c = tu_client(ccfg, "localhost");
    size_t n;
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    uint8_t *ch = tu_out_copy(c, &n);
    kitls_conn_out_consume(c, n);
    const uint8_t *sid = ch + 5 + 4 + 2 + 32;
    struct tu_buf *m = &msgbuf;
    m->n = 0;
    tu_u8(m, 2);
    size_t hl = tu_begin(m, 3);
    tu_u16(m, 0x0303);
    if (hrr)
        tu_put(m, hrr_random, 32);
    else
        for (int i = 0; i < 32; i++)
            tu_u8(m, 0x11);
    tu_u8(m, sid[0]);
    tu_put(m, sid + 1, sid[0]);
    tu_u16(m, 0x1301);
    tu_u8(m, 0);
    size_t exts = tu_begin(m, 2);
    for (int d = 0; d < 2; d++) {
        tu_u16(m, 43);
        tu_u16(m, 2);
        tu_u16(m, 0x0304);
    }
    tu_end(m, exts, 2);
    tu_end(m, hl, 3);
    free(ch);
    to_records(m, &recbuf);
    ck_assert_int_eq(kitls_conn_feed(c, recbuf.b, recbuf.n), 0);
    int err = kitls_conn_handshake(c);
    uint8_t *out = tu_out_copy(c, &n);
    ck_assert_int_eq(tu_find_alert(out, n), kitls_error_alert(err));
    free(out);
    kitls_conn_free(c);
    return err;
}

START_TEST(test_sh_duplicate_extension)
{
    /* decode_error in a ServerHello, as BoGo's DuplicateExtensionClient
     * expects (was illegal_parameter). */
    ck_assert_int_eq(client_gets_dup(0), KITLS_E_DECODE);
}
END_TEST

START_TEST(test_hrr_duplicate_extension)
{
    /* illegal_parameter in a HelloRetryRequest, as BoGo's
     * HelloRetryRequest-Duplicate* expect. */
    ck_assert_int_eq(client_gets_dup(1), KITLS_E_ILLEGAL_PARAMETER);
}
END_TEST

static Suite *ext_server_suite(void)
{
    Suite *s = suite_create("ext-server");
    TCase *tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ch_2000_unknown_extensions);
    tcase_add_test(tc, test_ch_1000_unknown_key_shares);
    tcase_add_test(tc, test_ch_many_of_both);
    tcase_add_test(tc, test_ch_duplicate_unknown_extension);
    tcase_add_test(tc, test_ch_duplicate_unknown_share);
    tcase_add_test(tc, test_ch_size_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("duplicates");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sh_duplicate_extension);
    tcase_add_test(tc, test_hrr_duplicate_extension);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_pki_init();
    SRunner *sr = srunner_create(ext_server_suite());
    srunner_add_suite(sr, ext_client_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
