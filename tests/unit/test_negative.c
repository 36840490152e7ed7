/*
 * Negative tests through the public API: tampered and truncated records,
 * garbage, wrong message order and hand-built malformed ClientHellos.
 * Every failure must be a clean error code with the matching alert.
 */
#include <check.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "kitls/kitls.h"
#include "testutil.h"

static kitls_config *ccfg, *scfg;

static void setup(void)
{
    static const uint16_t g[] = {KITLS_GROUP_X25519};
    ccfg = tu_client_config();
    scfg = tu_server_config(TU_P256);
    /* One group, so the first flight never needs a HelloRetryRequest. */
    ck_assert_int_eq(kitls_config_set_groups(ccfg, g, 1), 0);
}

static void teardown(void)
{
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}

/* The alert in a connection's (plaintext) output must match err. */
static void expect_plain_alert(kitls_conn *c, int err)
{
    size_t n;
    uint8_t *out = tu_out_copy(c, &n);
    int al = tu_find_alert(out, n);
    ck_assert_msg(al == kitls_error_alert(err), "alert %d in output, want %d for %s", al,
                  kitls_error_alert(err), kitls_strerror(err));
    free(out);
}

/* Client's first flight (ClientHello record) into a malloc'd buffer. */
static uint8_t *client_hello(kitls_conn *c, size_t *n)
{
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    uint8_t *b = tu_out_copy(c, n);
    kitls_conn_out_consume(c, *n);
    return b;
}

/* ---- tampered server flight ---- */

START_TEST(test_tamper_server_flight)
{
    /* Find the records of one server flight, then for each record flip a
     * byte (in the middle, and in the tag) with a fresh pair each time. */
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    size_t n, off[32];
    uint8_t *ch = client_hello(c, &n);
    ck_assert_int_eq(kitls_conn_feed(s, ch, n), 0);
    free(ch);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    uint8_t *flight = tu_out_copy(s, &n);
    size_t nrec = tu_records(flight, n, off, 32);
    ck_assert_uint_ge(nrec, 2);
    free(flight);
    kitls_conn_free(c);
    kitls_conn_free(s);

    int tested = 0;
    for (size_t r = 0; r < nrec; r++) {
        for (int where = 0; where < 2; where++) {
            c = tu_client(ccfg, "localhost");
            s = tu_server(scfg);
            ch = client_hello(c, &n);
            ck_assert_int_eq(kitls_conn_feed(s, ch, n), 0);
            free(ch);
            ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
            flight = tu_out_copy(s, &n);
            kitls_conn_out_consume(s, n);
            size_t cnt = tu_records(flight, n, off, 32);
            ck_assert_uint_eq(cnt, nrec);
            uint8_t *rec = flight + off[r];
            size_t rl = (size_t)rec[3] << 8 | rec[4];
            if (rec[0] != 23) { /* only protected records */
                free(flight);
                kitls_conn_free(c);
                kitls_conn_free(s);
                continue;
            }
            rec[5 + (where ? rl - 1 : rl / 2)] ^= 0x01;
            ck_assert_int_eq(kitls_conn_feed(c, flight, n), 0);
            free(flight);
            int err = kitls_conn_handshake(c);
            ck_assert_msg(err == KITLS_E_BAD_RECORD_MAC, "record %zu: got %d (%s)", r, err,
                          kitls_strerror(err));
            ck_assert_int_eq(kitls_conn_error(c), KITLS_E_BAD_RECORD_MAC);
            ck_assert_int_eq(kitls_error_alert(err), 20);
            /* The alert went out (encrypted under the client handshake key):
             * the server reads it. */
            ck_assert_uint_gt(tu_move(c, s), 0);
            ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_PEER_ALERT(20));
            ck_assert_int_eq(kitls_conn_peer_alert(s), 20);
            tested++;
            kitls_conn_free(c);
            kitls_conn_free(s);
        }
    }
    ck_assert_int_ge(tested, 2);
}
END_TEST

START_TEST(test_ccs_before_encrypted_alert)
{
    /* Middlebox compatibility (RFC 8446 §D.4): a client that fails while
     * reading the server's encrypted flight sends its ChangeCipherSpec
     * before the encrypted alert, as it would before its second flight. */
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    size_t n, off[32];
    uint8_t *ch = client_hello(c, &n);
    ck_assert_int_eq(kitls_conn_feed(s, ch, n), 0);
    free(ch);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    uint8_t *flight = tu_out_copy(s, &n);
    size_t nrec = tu_records(flight, n, off, 32);
    ck_assert_uint_ge(nrec, 3);
    flight[n - 1] ^= 0x01; /* last record's tag */
    ck_assert_int_eq(kitls_conn_feed(c, flight, n), 0);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_BAD_RECORD_MAC);
    uint8_t *out = tu_out_copy(c, &n);
    nrec = tu_records(out, n, off, 32);
    ck_assert_uint_eq(nrec, 2);
    ck_assert_uint_eq(out[off[0]], 20);
    ck_assert_uint_eq(out[off[1]], 23);
    free(out);
    free(flight);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(test_tamper_app_data)
{
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    uint8_t b[64];
    ck_assert_int_eq(kitls_conn_read(c, b, sizeof(b)), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_write(c, (const uint8_t *)"secret", 6), 6);
    size_t n;
    uint8_t *rec = tu_out_copy(c, &n);
    kitls_conn_out_consume(c, n);
    rec[n - 3] ^= 0x40;
    ck_assert_int_eq(kitls_conn_feed(s, rec, n), 0);
    ck_assert_int_eq(kitls_conn_read(s, b, sizeof(b)), KITLS_E_BAD_RECORD_MAC);
    ck_assert_int_eq(kitls_conn_read(s, b, sizeof(b)), KITLS_E_BAD_RECORD_MAC);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, b, sizeof(b)), KITLS_E_PEER_ALERT(20));
    ck_assert_int_eq(kitls_conn_peer_alert(c), 20);
    free(rec);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* ---- truncation ---- */

START_TEST(test_truncated_client_hello)
{
    kitls_conn *c = tu_client(ccfg, "localhost");
    size_t n;
    uint8_t *ch = client_hello(c, &n);
    kitls_conn_free(c);
    uint8_t *garbage = malloc(20000);
    memset(garbage, 0xa5, 20000);
    for (size_t k = 0; k < n; k++) {
        kitls_conn *s = tu_server(scfg);
        if (k)
            ck_assert_int_eq(kitls_conn_feed(s, ch, k), 0);
        ck_assert_msg(kitls_conn_handshake(s) == KITLS_E_WANT_READ, "prefix %zu", k);
        ck_assert_uint_eq(kitls_conn_out_peek(s, &(const uint8_t *){NULL}), 0);
        /* Then garbage: a clean fatal error with its alert. */
        ck_assert_int_eq(kitls_conn_feed(s, garbage, 20000), 0);
        int err = kitls_conn_handshake(s);
        ck_assert_msg(err < 0 && err != KITLS_E_WANT_READ, "prefix %zu + garbage: %d", k, err);
        ck_assert_int_ge(kitls_error_alert(err), 0);
        {
            const uint8_t *o;
            size_t on = kitls_conn_out_peek(s, &o), off[16];
            size_t nr = tu_records(o, on, off, 16);
            ck_assert_uint_ge(nr, 1);
            if (o[0] == 22 && o[5] == 2) {
                /* The garbage fell inside the key share (any 32 bytes are an
                 * X25519 key): the server answered, so its alert for the
                 * garbage record is protected: 2 bytes + type + tag. */
                size_t last = off[nr - 1];
                ck_assert_uint_eq(o[last], 23);
                ck_assert_uint_eq((size_t)o[last + 3] << 8 | o[last + 4], 2 + 1 + 16);
            } else {
                ck_assert_msg(tu_find_alert(o, on) == kitls_error_alert(err),
                              "prefix %zu + garbage: error %d, %zu bytes out, alert %d", k, err, on,
                              tu_find_alert(o, on));
            }
        }
        kitls_conn_free(s);
    }
    free(garbage);
    free(ch);
}
END_TEST

START_TEST(test_truncated_server_flight)
{
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    size_t n;
    uint8_t *ch = client_hello(c, &n);
    ck_assert_int_eq(kitls_conn_feed(s, ch, n), 0);
    free(ch);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    uint8_t *flight = tu_out_copy(s, &n);
    /* Byte by byte: every proper prefix wants more. */
    for (size_t k = 0; k + 1 < n; k++) {
        ck_assert_int_eq(kitls_conn_feed(c, flight + k, 1), 0);
        int r = kitls_conn_handshake(c);
        ck_assert_msg(r == KITLS_E_WANT_READ, "after %zu of %zu bytes: %d", k + 1, n, r);
    }
    ck_assert_int_eq(kitls_conn_feed(c, flight + n - 1, 1), 0);
    ck_assert_int_eq(kitls_conn_handshake(c), 0);
    free(flight);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(test_truncated_server_flight_garbage)
{
    /* Fresh pair per offset (stride keeps it quick under sanitizers). */
    uint8_t garbage[2048];
    memset(garbage, 0x5a, sizeof(garbage));
    size_t total = 0;
    for (size_t k = 0;; k += (k < 64 ? 1 : 37)) {
        kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
        size_t n;
        uint8_t *ch = client_hello(c, &n);
        ck_assert_int_eq(kitls_conn_feed(s, ch, n), 0);
        free(ch);
        ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
        uint8_t *flight = tu_out_copy(s, &n);
        total = n;
        if (k >= n) {
            free(flight);
            kitls_conn_free(c);
            kitls_conn_free(s);
            break;
        }
        if (k)
            ck_assert_int_eq(kitls_conn_feed(c, flight, k), 0);
        ck_assert_int_eq(kitls_conn_feed(c, garbage, sizeof(garbage)), 0);
        int err = kitls_conn_handshake(c);
        ck_assert_msg(err < 0 && err != KITLS_E_WANT_READ, "prefix %zu + garbage: %d", k, err);
        ck_assert_int_eq(kitls_conn_error(c), err);
        free(flight);
        kitls_conn_free(c);
        kitls_conn_free(s);
    }
    ck_assert_uint_gt(total, 100);
}
END_TEST

/* ---- hand-built ClientHello ---- */

struct ch_opts {
    int dup_ext;           /* supported_groups twice */
    int compression;       /* legacy_compression_methods = {1} */
    int no_versions;       /* omit supported_versions */
    int tls12_only;        /* supported_versions = {0303} */
    int share_not_offered; /* key_share for secp256r1 while groups = {x25519} */
    int no_sigalgs;        /* omit signature_algorithms */
    int bad_suite;         /* only TLS_AES_128_CCM_SHA256 */
    int trailing;          /* one byte after the extensions */
    int ext_overrun;       /* an extension length past the block */
    size_t padding;        /* padding extension of this many bytes */
    int bad_share_len;     /* x25519 share of 31 bytes */
    int small_order;       /* x25519 share: 1 = u 0, 2 = u 1 (RFC 7748 §6.1) */
    int empty_session_id;  /* legacy_session_id of length 0 */
};

static void build_ch(struct tu_buf *msg, const struct ch_opts *o)
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
    tu_u8(msg, o->empty_session_id ? 0 : 32);
    for (int i = 0; i < (o->empty_session_id ? 0 : 32); i++)
        tu_u8(msg, 0x80 + i);
    size_t at = tu_begin(msg, 2);
    tu_u16(msg, o->bad_suite ? 0x1304 : 0x1301);
    tu_end(msg, at, 2);
    tu_u8(msg, 1);
    tu_u8(msg, o->compression ? 1 : 0);
    size_t exts = tu_begin(msg, 2);
    /* server_name */
    tu_u16(msg, 0);
    at = tu_begin(msg, 2);
    size_t l2 = tu_begin(msg, 2);
    tu_u8(msg, 0);
    tu_u16(msg, 9);
    tu_put(msg, "localhost", 9);
    tu_end(msg, l2, 2);
    tu_end(msg, at, 2);
    if (!o->no_versions) {
        tu_u16(msg, 43);
        at = tu_begin(msg, 2);
        tu_u8(msg, 2);
        tu_u16(msg, o->tls12_only ? 0x0303 : 0x0304);
        tu_end(msg, at, 2);
    }
    for (int d = 0; d <= o->dup_ext; d++) {
        tu_u16(msg, 10);
        at = tu_begin(msg, 2);
        tu_u16(msg, 2);
        tu_u16(msg, KITLS_GROUP_X25519);
        tu_end(msg, at, 2);
    }
    if (!o->no_sigalgs) {
        tu_u16(msg, 13);
        at = tu_begin(msg, 2);
        tu_u16(msg, 6);
        tu_u16(msg, KITLS_SIG_ECDSA_SECP256R1_SHA256);
        tu_u16(msg, KITLS_SIG_RSA_PSS_RSAE_SHA256);
        tu_u16(msg, KITLS_SIG_ED25519);
        tu_end(msg, at, 2);
    }
    tu_u16(msg, 51);
    at = tu_begin(msg, 2);
    l2 = tu_begin(msg, 2);
    tu_u16(msg, o->share_not_offered ? KITLS_GROUP_SECP256R1 : KITLS_GROUP_X25519);
    if (o->share_not_offered) {
        EVP_PKEY *ek = EVP_EC_gen("P-256");
        uint8_t pt[65];
        size_t ptl = 0;
        ck_assert_int_eq(
            EVP_PKEY_get_octet_string_param(ek, "encoded-pub-key", pt, sizeof(pt), &ptl), 1);
        EVP_PKEY_free(ek);
        tu_u16(msg, (unsigned)ptl);
        tu_put(msg, pt, ptl);
    } else {
        size_t sl = o->bad_share_len ? 31 : 32;
        if (o->small_order) {
            memset(pub, 0, sizeof(pub));
            pub[0] = (uint8_t)(o->small_order - 1);
        }
        tu_u16(msg, (unsigned)sl);
        tu_put(msg, pub, sl);
    }
    tu_end(msg, l2, 2);
    tu_end(msg, at, 2);
    if (o->padding) {
        tu_u16(msg, 21);
        tu_u16(msg, (unsigned)o->padding);
        for (size_t i = 0; i < o->padding; i++)
            tu_u8(msg, 0);
    }
    if (o->ext_overrun) {
        tu_u16(msg, 0x7777);
        tu_u16(msg, 200); /* but only 1 byte follows */
        tu_u8(msg, 0);
    }
    tu_end(msg, exts, 2);
    if (o->trailing)
        tu_u8(msg, 0);
    /* A 3-byte length may not hold a message this big: clamp for the prefix. */
    tu_end(msg, hl, 3);
}

/* Wrap a handshake message into plaintext records of at most 16384 bytes. */
static void to_records(const struct tu_buf *msg, struct tu_buf *out, uint8_t type)
{
    out->n = 0;
    for (size_t i = 0; i < msg->n || i == 0; i += 16384) {
        size_t len = msg->n - i < 16384 ? msg->n - i : 16384;
        tu_u8(out, type);
        tu_u16(out, 0x0301);
        tu_u16(out, (unsigned)len);
        tu_put(out, msg->b + i, len);
        if (!msg->n)
            break;
    }
}

/* Feed raw bytes to a fresh server and return the handshake result;
 * checks the alert in the output matches. */
static int server_eats(const uint8_t *p, size_t n)
{
    kitls_conn *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, p, n), 0);
    int err = kitls_conn_handshake(s);
    if (err < 0 && err != KITLS_E_WANT_READ) {
        expect_plain_alert(s, err);
        ck_assert_int_eq(kitls_conn_error(s), err);
    }
    kitls_conn_free(s);
    return err;
}

static struct tu_buf msgbuf, recbuf;

static int ch_result(const struct ch_opts *o)
{
    build_ch(&msgbuf, o);
    to_records(&msgbuf, &recbuf, 22);
    return server_eats(recbuf.b, recbuf.n);
}

START_TEST(test_ch_baseline)
{
    /* The hand-built ClientHello itself is acceptable: the server answers
     * with a ServerHello and waits for the client's Finished. */
    struct ch_opts o = {0};
    build_ch(&msgbuf, &o);
    to_records(&msgbuf, &recbuf, 22);
    kitls_conn *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, recbuf.b, recbuf.n), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    const uint8_t *out;
    size_t n = kitls_conn_out_peek(s, &out);
    ck_assert_uint_gt(n, 10);
    ck_assert_uint_eq(out[0], 22);
    ck_assert_uint_eq(out[5], 2);
    kitls_conn_free(s);
}
END_TEST

START_TEST(test_ch_duplicate_extension)
{
    /* Duplicate extensions in a ClientHello (RFC 8446 §4.2 names no
     * alert): decode_error, as BoringSSL and BoGo's DuplicateExtension*
     * expect (lib/ext.c). */
    struct ch_opts o = {.dup_ext = 1};
    ck_assert_int_eq(ch_result(&o), KITLS_E_DECODE);
}
END_TEST

START_TEST(test_ch_compression)
{
    struct ch_opts o = {.compression = 1};
    ck_assert_int_eq(ch_result(&o), KITLS_E_ILLEGAL_PARAMETER);
}
END_TEST

START_TEST(test_ch_no_tls13)
{
    struct ch_opts o = {.no_versions = 1};
    ck_assert_int_eq(ch_result(&o), KITLS_E_PROTOCOL_VERSION);
    struct ch_opts o2 = {.tls12_only = 1};
    ck_assert_int_eq(ch_result(&o2), KITLS_E_PROTOCOL_VERSION);
}
END_TEST

START_TEST(test_ch_share_not_offered)
{
    struct ch_opts o = {.share_not_offered = 1};
    ck_assert_int_eq(ch_result(&o), KITLS_E_ILLEGAL_PARAMETER);
}
END_TEST

START_TEST(test_ch_bad_share_len)
{
    struct ch_opts o = {.bad_share_len = 1};
    int err = ch_result(&o);
    ck_assert_msg(err == KITLS_E_ILLEGAL_PARAMETER || err == KITLS_E_DECODE, "got %d", err);
}
END_TEST

START_TEST(test_ch_x25519_small_order)
{
    /* Points of small order give an all-zero shared secret, refused
     * (RFC 8446 §7.4.2, RFC 7748 §6.1) by libcrypto's X25519 and by
     * kitls_kex_derive's own check, now that libcrypto's peer-key check
     * (which asks no more than a public key) is not run for X25519. */
    for (int v = 1; v <= 2; v++) {
        struct ch_opts o = {.small_order = v};
        ck_assert_int_eq(ch_result(&o), KITLS_E_ILLEGAL_PARAMETER);
    }
}
END_TEST

START_TEST(test_ch_no_sigalgs)
{
    struct ch_opts o = {.no_sigalgs = 1};
    ck_assert_int_eq(ch_result(&o), KITLS_E_MISSING_EXTENSION);
}
END_TEST

START_TEST(test_ch_no_common_suite)
{
    struct ch_opts o = {.bad_suite = 1};
    ck_assert_int_eq(ch_result(&o), KITLS_E_HANDSHAKE_FAILURE);
}
END_TEST

START_TEST(test_ch_trailing_and_overrun)
{
    struct ch_opts o = {.trailing = 1};
    ck_assert_int_eq(ch_result(&o), KITLS_E_DECODE);
    struct ch_opts o2 = {.ext_overrun = 1};
    ck_assert_int_eq(ch_result(&o2), KITLS_E_DECODE);
}
END_TEST

START_TEST(test_ch_oversized)
{
    /* A 70000-byte ClientHello exceeds the server's 65536 limit. */
    struct ch_opts o = {.padding = 70000};
    ck_assert_int_eq(ch_result(&o), KITLS_E_LIMIT);
    /* Just a header claiming 16 MB: refused without waiting for the body. */
    static const uint8_t hdr[] = {22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff};
    ck_assert_int_eq(server_eats(hdr, sizeof(hdr)), KITLS_E_LIMIT);
}
END_TEST

START_TEST(test_record_overflow_plaintext)
{
    /* A plaintext record of 2^14 + 1 bytes: record_overflow. */
    static uint8_t rec[5 + 16385];
    memset(rec, 0, sizeof(rec));
    rec[0] = 22;
    rec[1] = 3;
    rec[2] = 1;
    rec[3] = 0x40;
    rec[4] = 0x01;
    rec[5] = 1;
    ck_assert_int_eq(server_eats(rec, sizeof(rec)), KITLS_E_RECORD_OVERFLOW);
    /* The header alone is enough to refuse. */
    ck_assert_int_eq(server_eats(rec, 5), KITLS_E_RECORD_OVERFLOW);
}
END_TEST

/* ---- wrong message order ---- */

START_TEST(test_too_many_ccs)
{
    /* One dummy ChangeCipherSpec is dropped; more hit the limit
     * (unexpected_message alert). */
    struct ch_opts o = {0};
    static const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
    build_ch(&msgbuf, &o);
    to_records(&msgbuf, &recbuf, 22);
    kitls_conn *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, recbuf.b, recbuf.n), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_feed(s, ccs, sizeof(ccs)), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_feed(s, ccs, sizeof(ccs)), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_LIMIT);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_LIMIT), 10);
    kitls_conn_free(s);
}
END_TEST

START_TEST(test_user_canceled_limit)
{
    /* user_canceled warnings are skipped (RFC 8446 §6.1), but not forever. */
    static const uint8_t uc[] = {21, 3, 3, 0, 2, 1, 90};
    kitls_conn *s = tu_server(scfg);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(kitls_conn_feed(s, uc, sizeof(uc)), 0);
        ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    }
    ck_assert_int_eq(kitls_conn_feed(s, uc, sizeof(uc)), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_LIMIT);
    kitls_conn_free(s);
}
END_TEST

START_TEST(test_server_ccs_without_session_id)
{
    /* In compatibility mode the server's dummy CCS follows its ServerHello
     * even when the client sent an empty legacy_session_id (RFC 8446 §D.4). */
    struct ch_opts o = {0};
    o.empty_session_id = 1;
    build_ch(&msgbuf, &o);
    to_records(&msgbuf, &recbuf, 22);
    kitls_conn *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, recbuf.b, recbuf.n), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    const uint8_t *out;
    size_t n = kitls_conn_out_peek(s, &out), off[16];
    size_t nrec = tu_records(out, n, off, 16);
    ck_assert_uint_ge(nrec, 3);
    ck_assert_uint_eq(out[off[0]], 22);
    ck_assert_uint_eq(out[off[1]], 20);
    kitls_conn_free(s);
}
END_TEST

START_TEST(test_client_hello_record_version)
{
    /* The initial ClientHello record says 0x0301 (RFC 8446 §5.1). */
    kitls_conn *c = tu_client(ccfg, "localhost");
    size_t n;
    uint8_t *ch = client_hello(c, &n);
    ck_assert_uint_eq(ch[0], 22);
    ck_assert_uint_eq(ch[1], 3);
    ck_assert_uint_eq(ch[2], 1);
    free(ch);
    kitls_conn_free(c);
}
END_TEST

/* The body of extension `type` in a ClientHello record (header included). */
static const uint8_t *ch_ext(const uint8_t *rec, size_t n, unsigned type, size_t *len)
{
    size_t p = 5 + 4 + 2 + 32;                   /* record hdr, msg hdr, version, random */
    p += 1 + rec[p];                             /* session id */
    p += 2 + ((size_t)rec[p] << 8 | rec[p + 1]); /* suites */
    p += 1 + rec[p];                             /* compression */
    size_t end = p + 2 + ((size_t)rec[p] << 8 | rec[p + 1]);
    ck_assert_uint_le(end, n);
    for (p += 2; p + 4 <= end;) {
        unsigned t = (unsigned)rec[p] << 8 | rec[p + 1];
        size_t l = (size_t)rec[p + 2] << 8 | rec[p + 3];
        if (t == type) {
            *len = l;
            return rec + p + 4;
        }
        p += 4 + l;
    }
    return NULL;
}

/* A HelloRetryRequest (AES-128-GCM, no key_share) echoing session id
 * `sid` (length byte first) with a cookie of cookie_len bytes, into m. */
static void build_hrr(struct tu_buf *m, const uint8_t *sid, size_t cookie_len)
{
    static const uint8_t hrr_random[32] = {
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
        0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
        0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
    };
    m->n = 0;
    tu_u8(m, 2);
    size_t hl = tu_begin(m, 3);
    tu_u16(m, 0x0303);
    tu_put(m, hrr_random, 32);
    tu_put(m, sid, 1 + (size_t)sid[0]);
    tu_u16(m, KITLS_AES_128_GCM_SHA256);
    tu_u8(m, 0);
    size_t ex = tu_begin(m, 2);
    tu_u16(m, 43); /* supported_versions */
    tu_u16(m, 2);
    tu_u16(m, 0x0304);
    tu_u16(m, 44); /* cookie */
    tu_u16(m, (unsigned)(cookie_len + 2));
    tu_u16(m, (unsigned)cookie_len);
    for (size_t i = 0; i < cookie_len; i++)
        tu_u8(m, (unsigned)(i * 7 + 1) & 0xff);
    tu_end(m, ex, 2);
    tu_end(m, hl, 3);
}

START_TEST(test_hrr_cookie_only_keeps_shares)
{
    /* A HelloRetryRequest with a cookie and no key_share: the second
     * ClientHello carries the same key shares (RFC 8446 §4.1.2). */
    kitls_conn *c = tu_client(ccfg, "localhost");
    size_t n1, n2, l1 = 0, l2 = 0;
    uint8_t *ch1 = client_hello(c, &n1);
    struct tu_buf *m = &msgbuf;
    build_hrr(m, ch1 + 5 + 4 + 2 + 32, 4);
    to_records(m, &recbuf, 22);
    ck_assert_int_eq(kitls_conn_feed(c, recbuf.b, recbuf.n), 0);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    ck_assert(kitls_conn_did_hrr(c));
    uint8_t *out = tu_out_copy(c, &n2);
    size_t off[4];
    size_t nrec = tu_records(out, n2, off, 4);
    ck_assert_uint_eq(nrec, 2); /* CCS, ClientHello */
    ck_assert_uint_eq(out[off[1]], 22);
    const uint8_t *ks1 = ch_ext(ch1, n1, 51, &l1);
    const uint8_t *ks2 = ch_ext(out + off[1], n2 - off[1], 51, &l2);
    ck_assert_ptr_nonnull(ks1);
    ck_assert_ptr_nonnull(ks2);
    ck_assert_uint_eq(l1, l2);
    ck_assert_int_eq(memcmp(ks1, ks2, l1), 0);
    ck_assert_ptr_nonnull(ch_ext(out + off[1], n2 - off[1], 44, &l2));
    free(out);
    free(ch1);
    kitls_conn_free(c);
}
END_TEST

START_TEST(test_hrr_cookie_too_large)
{
    /* A cookie so large that the second ClientHello's extensions would
     * exceed 2^16-1 bytes: the client cannot echo it (RFC 8446 §4.2.2
     * requires the echo) and fails cleanly with internal_error
     * (docs/limits.md). */
    kitls_conn *c = tu_client(ccfg, "localhost");
    size_t n1;
    uint8_t *ch1 = client_hello(c, &n1);
    build_hrr(&msgbuf, ch1 + 5 + 4 + 2 + 32, 65500);
    to_records(&msgbuf, &recbuf, 22);
    ck_assert_int_eq(kitls_conn_feed(c, recbuf.b, recbuf.n), 0);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_INTERNAL);
    const uint8_t *out;
    size_t n = kitls_conn_out_peek(c, &out);
    ck_assert_int_eq(tu_find_alert(out, n), 80); /* internal_error */
    free(ch1);
    kitls_conn_free(c);
}
END_TEST

START_TEST(test_wrong_order_server)
{
    /* Finished as the first message. */
    static const uint8_t fin[] = {22, 3, 1, 0, 8, 20, 0, 0, 4, 1, 2, 3, 4};
    ck_assert_int_eq(server_eats(fin, sizeof(fin)), KITLS_E_UNEXPECTED_MESSAGE);
    /* A ServerHello sent to a server. */
    static const uint8_t sh[] = {22, 3, 3, 0, 6, 2, 0, 0, 2, 3, 3};
    ck_assert_int_eq(server_eats(sh, sizeof(sh)), KITLS_E_UNEXPECTED_MESSAGE);
    /* Application data before any handshake. */
    static const uint8_t app[] = {23, 3,  3,  0,  20, 1,  2,  3,  4,  5,  6,  7, 8,
                                  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    ck_assert_int_eq(server_eats(app, sizeof(app)), KITLS_E_UNEXPECTED_MESSAGE);
    /* ChangeCipherSpec before the ClientHello. */
    static const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
    ck_assert_int_eq(server_eats(ccs, sizeof(ccs)), KITLS_E_UNEXPECTED_MESSAGE);
    /* Unknown record type. */
    static const uint8_t unk[] = {99, 3, 3, 0, 1, 0};
    ck_assert_int_eq(server_eats(unk, sizeof(unk)), KITLS_E_UNEXPECTED_MESSAGE);
}
END_TEST

START_TEST(test_two_client_hellos)
{
    struct ch_opts o = {0};
    build_ch(&msgbuf, &o);
    struct tu_buf two;
    memcpy(two.b, msgbuf.b, msgbuf.n);
    memcpy(two.b + msgbuf.n, msgbuf.b, msgbuf.n);
    two.n = 2 * msgbuf.n;
    to_records(&two, &recbuf, 22);
    kitls_conn *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, recbuf.b, recbuf.n), 0);
    int err = kitls_conn_handshake(s);
    ck_assert_int_eq(err, KITLS_E_EXCESS_HANDSHAKE_DATA);
    kitls_conn_free(s);
}
END_TEST

START_TEST(test_wrong_order_client)
{
    /* A client answered with a ClientHello. */
    kitls_conn *c = tu_client(ccfg, "localhost");
    size_t n;
    uint8_t *ch = client_hello(c, &n);
    ck_assert_int_eq(kitls_conn_feed(c, ch, n), 0);
    int err = kitls_conn_handshake(c);
    ck_assert_int_eq(err, KITLS_E_UNEXPECTED_MESSAGE);
    expect_plain_alert(c, err);
    free(ch);
    kitls_conn_free(c);
    /* Encrypted-looking data before the ServerHello. */
    c = tu_client(ccfg, "localhost");
    ch = client_hello(c, &n);
    free(ch);
    static const uint8_t app[] = {23, 3, 3, 0,  17, 1,  2,  3,  4,  5,  6,
                                  7,  8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    ck_assert_int_eq(kitls_conn_feed(c, app, sizeof(app)), 0);
    err = kitls_conn_handshake(c);
    ck_assert_int_eq(err, KITLS_E_UNEXPECTED_MESSAGE);
    expect_plain_alert(c, err);
    kitls_conn_free(c);
    /* Even an empty application data record (no 0-RTT skip budget). */
    c = tu_client(ccfg, "localhost");
    ch = client_hello(c, &n);
    free(ch);
    static const uint8_t empty_app[] = {23, 3, 3, 0, 0};
    ck_assert_int_eq(kitls_conn_feed(c, empty_app, sizeof(empty_app)), 0);
    err = kitls_conn_handshake(c);
    ck_assert_int_eq(err, KITLS_E_UNEXPECTED_MESSAGE);
    kitls_conn_free(c);
}
END_TEST

START_TEST(test_api_misuse)
{
    kitls_conn *c = tu_client(ccfg, "localhost");
    uint8_t b[4];
    ck_assert_int_eq(kitls_conn_write(c, b, 4), KITLS_E_STATE);
    /* No keys to export (no offload object) before the handshake. */
    kitls_offload *o;
    ck_assert_int_lt(kitls_offload_get(c, &o), 0);
    kitls_conn_free(c);
    kitls_conn_free(NULL);
    kitls_config_free(NULL);
}
END_TEST

/* Alert levels (RFC 8446 §6): a warning-level error alert is answered
 * with decode_error, a fatal one is not answered, user_canceled at warning
 * level is tolerated. */
START_TEST(test_warning_alert_levels)
{
    static const uint8_t warn[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x01, 0x0a};
    static const uint8_t fatal[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x0a};
    static const uint8_t cancel[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x01, 0x5a};
    kitls_conn *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, warn, sizeof(warn)), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_DECODE);
    expect_plain_alert(s, KITLS_E_DECODE);
    ck_assert_int_eq(kitls_conn_peer_alert(s), 10);
    kitls_conn_free(s);
    s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, fatal, sizeof(fatal)), 0);
    ck_assert_int_eq(kitls_conn_handshake(s),
                     KITLS_E_PEER_ALERT(10)); /* fatal unexpected_message */
    const uint8_t *o;
    ck_assert_uint_eq(kitls_conn_out_peek(s, &o), 0);
    kitls_conn_free(s);
    s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, cancel, sizeof(cancel)), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    kitls_conn_free(s);
}
END_TEST

static Suite *negative_suite(void)
{
    Suite *s = suite_create("negative");
    TCase *tc = tcase_create("tamper");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tamper_server_flight);
    tcase_add_test(tc, test_tamper_app_data);
    tcase_add_test(tc, test_ccs_before_encrypted_alert);
    tcase_add_test(tc, test_warning_alert_levels);
    suite_add_tcase(s, tc);

    tc = tcase_create("truncate");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_truncated_client_hello);
    tcase_add_test(tc, test_truncated_server_flight);
    tcase_add_test(tc, test_truncated_server_flight_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("client_hello");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ch_baseline);
    tcase_add_test(tc, test_ch_duplicate_extension);
    tcase_add_test(tc, test_ch_compression);
    tcase_add_test(tc, test_ch_no_tls13);
    tcase_add_test(tc, test_ch_share_not_offered);
    tcase_add_test(tc, test_ch_bad_share_len);
    tcase_add_test(tc, test_ch_x25519_small_order);
    tcase_add_test(tc, test_ch_no_sigalgs);
    tcase_add_test(tc, test_ch_no_common_suite);
    tcase_add_test(tc, test_ch_trailing_and_overrun);
    tcase_add_test(tc, test_ch_oversized);
    tcase_add_test(tc, test_record_overflow_plaintext);
    suite_add_tcase(s, tc);

    tc = tcase_create("order");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_wrong_order_server);
    tcase_add_test(tc, test_two_client_hellos);
    tcase_add_test(tc, test_too_many_ccs);
    tcase_add_test(tc, test_user_canceled_limit);
    tcase_add_test(tc, test_server_ccs_without_session_id);
    tcase_add_test(tc, test_client_hello_record_version);
    tcase_add_test(tc, test_hrr_cookie_only_keeps_shares);
    tcase_add_test(tc, test_hrr_cookie_too_large);
    tcase_add_test(tc, test_wrong_order_client);
    tcase_add_test(tc, test_api_misuse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_pki_init();
    SRunner *sr = srunner_create(negative_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
