/*
 * Extension handling through the public API (issue 14): GREASE (RFC 8701)
 * and ClientHello padding (RFC 7685) in the ClientHello kitls sends, the
 * duplicate-extension alerts, and well-formed ClientHellos far beyond the
 * old fixed limits (thousands of unknown extensions and key shares), with
 * the handshake message size limit as the only bound.
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "kitls/kitls.h"
#include "testutil.h"

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

/* The classical default groups (one 32-byte share): the padding tests
 * below count on a hello of about 190 bytes, which the 1216-byte
 * X25519MLKEM768 share of the default list (where libcrypto has ML-KEM)
 * would grow past the padded range. */
static void classical_groups(kitls_config *cfg)
{
    static const uint16_t g[3] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1, KITLS_GROUP_SECP384R1};
    ck_assert_int_eq(kitls_config_set_groups(cfg, g, 3), 0);
}

static int is_grease(unsigned v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* ---- a parsed ClientHello (as the client sent it) ---- */

struct ch_view {
    uint8_t *rec; /* the client's flight (owned) */
    size_t rec_len;
    const uint8_t *msg; /* the handshake message, header included */
    size_t msg_len;
    const uint8_t *suites; /* cipher_suites vector body */
    size_t suites_len;
    size_t n_ext;
    unsigned ext_type[64];
    const uint8_t *ext_data[64];
    size_t ext_len[64];
};

/* Run the client's next step and parse the ClientHello it writes (one
 * record, maybe behind a ChangeCipherSpec record). */
static void take_ch(kitls_conn *c, struct ch_view *v)
{
    size_t n;
    memset(v, 0, sizeof(*v));
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    v->rec = tu_out_copy(c, &n);
    v->rec_len = n;
    kitls_conn_out_consume(c, n);
    const uint8_t *r = v->rec;
    if (n >= 6 && r[0] == 20)
        r += 5 + get16(r + 3);
    ck_assert_uint_ge(n - (size_t)(r - v->rec), 9);
    ck_assert_uint_eq(r[0], 22);
    const uint8_t *m = r + 5;
    ck_assert_uint_eq(m[0], 1);
    v->msg = m;
    v->msg_len = 4 + ((size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3]);
    const uint8_t *p = m + 4 + 2 + 32;
    p += 1 + p[0]; /* legacy_session_id */
    v->suites_len = get16(p);
    v->suites = p + 2;
    p += 2 + v->suites_len;
    p += 1 + p[0]; /* compression methods */
    size_t ext_len = get16(p);
    p += 2;
    const uint8_t *end = p + ext_len;
    ck_assert_ptr_eq(end, m + v->msg_len);
    while (p < end) {
        ck_assert_uint_lt(v->n_ext, 64);
        v->ext_type[v->n_ext] = get16(p);
        v->ext_len[v->n_ext] = get16(p + 2);
        v->ext_data[v->n_ext] = p + 4;
        p += 4 + v->ext_len[v->n_ext];
        v->n_ext++;
    }
    ck_assert_ptr_eq(p, end);
}

/* The index of extension `type`, or -1. */
static int ch_ext(const struct ch_view *v, unsigned type)
{
    for (size_t i = 0; i < v->n_ext; i++)
        if (v->ext_type[i] == type)
            return (int)i;
    return -1;
}

/* Does the 16-bit list at p (len bytes) hold a GREASE value? */
static int list_has_grease(const uint8_t *p, size_t len)
{
    int found = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        found |= is_grease(get16(p + i));
    return found;
}

/* ---- GREASE (RFC 8701) ---- */

START_TEST(test_grease_client_hello)
{
    /* Every place RFC 8701 §3.1 lists carries a reserved value, the key
     * share is one byte, the two GREASE extensions differ (one empty, one
     * holding a zero byte), and a kitls server ignores them all. */
    static const char *alpn[] = {"h2", "http/1.1"};
    ck_assert_int_eq(kitls_config_set_grease(ccfg, 1), 0);
    ck_assert_int_eq(kitls_config_set_alpn(ccfg, alpn, 2), 0);
    ck_assert_int_eq(kitls_config_set_alpn(scfg, alpn + 1, 1), 0);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    struct ch_view v;
    take_ch(c, &v);
    ck_assert(is_grease(get16(v.suites)));

    int i = ch_ext(&v, 43); /* supported_versions */
    ck_assert_int_ge(i, 0);
    ck_assert(list_has_grease(v.ext_data[i] + 1, v.ext_data[i][0]));
    i = ch_ext(&v, 10); /* supported_groups */
    ck_assert_int_ge(i, 0);
    ck_assert(list_has_grease(v.ext_data[i] + 2, get16(v.ext_data[i])));
    unsigned grease_group = get16(v.ext_data[i] + 2);
    i = ch_ext(&v, 13); /* signature_algorithms */
    ck_assert_int_ge(i, 0);
    ck_assert(list_has_grease(v.ext_data[i] + 2, get16(v.ext_data[i])));
    i = ch_ext(&v, 51); /* key_share: the GREASE group with a 1-byte share */
    ck_assert_int_ge(i, 0);
    const uint8_t *ks = v.ext_data[i] + 2;
    ck_assert_uint_eq(get16(ks), grease_group);
    ck_assert_uint_eq(get16(ks + 2), 1);
    ck_assert_uint_eq(ks[4], 0);
    i = ch_ext(&v, 16); /* ALPN: a 2-byte reserved name first */
    ck_assert_int_ge(i, 0);
    const uint8_t *al = v.ext_data[i] + 2;
    ck_assert_uint_eq(al[0], 2);
    ck_assert(is_grease(get16(al + 1)));

    int n_grease = 0, n_empty = 0, n_zero_byte = 0;
    unsigned types[2] = {0, 0};
    for (size_t k = 0; k < v.n_ext; k++) {
        if (!is_grease(v.ext_type[k]))
            continue;
        ck_assert_int_lt(n_grease, 2);
        types[n_grease++] = v.ext_type[k];
        n_empty += v.ext_len[k] == 0;
        n_zero_byte += v.ext_len[k] == 1 && v.ext_data[k][0] == 0;
    }
    ck_assert_int_eq(n_grease, 2);
    ck_assert_uint_ne(types[0], types[1]);
    ck_assert_int_eq(n_empty, 1);
    ck_assert_int_eq(n_zero_byte, 1);

    ck_assert_int_eq(kitls_conn_feed(s, v.rec, v.rec_len), 0);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_str_eq(kitls_conn_alpn(c), "http/1.1");
    free(v.rec);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

START_TEST(test_grease_off_by_default)
{
    /* Without kitls_config_set_grease nothing reserved is sent. */
    kitls_conn *c = tu_client(ccfg, "localhost");
    struct ch_view v;
    take_ch(c, &v);
    ck_assert(!list_has_grease(v.suites, v.suites_len));
    for (size_t k = 0; k < v.n_ext; k++) {
        ck_assert(!is_grease(v.ext_type[k]));
        if (v.ext_type[k] == 10 || v.ext_type[k] == 13)
            ck_assert(!list_has_grease(v.ext_data[k] + 2, v.ext_len[k] - 2));
    }
    free(v.rec);
    kitls_conn_free(c);
}
END_TEST

START_TEST(test_grease_after_hrr)
{
    /* The second ClientHello keeps the first one's GREASE values and, as it
     * answers a named group, holds that group's share only (RFC 8446
     * §4.1.2); the handshake completes. */
    static const uint16_t p384[] = {KITLS_GROUP_SECP384R1};
    ck_assert_int_eq(kitls_config_set_grease(ccfg, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(scfg, p384, 1), 0);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    struct ch_view v1, v2;
    take_ch(c, &v1);
    ck_assert_int_eq(kitls_conn_feed(s, v1.rec, v1.rec_len), 0);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    tu_move(s, c);
    take_ch(c, &v2); /* the HRR is processed, ClientHello2 written */
    ck_assert_uint_eq(get16(v1.suites), get16(v2.suites));
    ck_assert_uint_eq(v1.ext_type[0], v2.ext_type[0]);
    ck_assert(is_grease(v2.ext_type[0]));
    int i = ch_ext(&v2, 51);
    ck_assert_int_ge(i, 0);
    const uint8_t *ks = v2.ext_data[i];
    ck_assert_uint_eq(get16(ks + 2), KITLS_GROUP_SECP384R1);
    ck_assert_uint_eq(get16(ks), 4 + get16(ks + 4)); /* one entry */
    ck_assert_int_eq(kitls_conn_feed(s, v2.rec, v2.rec_len), 0);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    free(v1.rec);
    free(v2.rec);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* The size of the record holding one more NewSessionTicket from a server
 * of config `sc` (kitls_conn_send_ticket after the handshake). */
static size_t ticket_record_len(kitls_config *sc)
{
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(sc);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    const uint8_t *out;
    ck_assert_uint_eq(kitls_conn_out_peek(s, &out), 0);
    ck_assert_int_eq(kitls_conn_send_ticket(s), 0);
    size_t n = kitls_conn_out_peek(s, &out);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return n;
}

START_TEST(test_grease_server_tickets_resume)
{
    /* A GREASE server's NewSessionTicket carries one more (empty)
     * extension: its record is 4 bytes longer than a plain server's (the
     * tickets themselves have one size); BoGo's GREASE-Server-TLS13 checks
     * the value.  A kitls client takes such tickets and resumes. */
    ck_assert_int_eq(kitls_config_set_grease(ccfg, 1), 0);
    size_t plain = ticket_record_len(scfg);
    kitls_config *gcfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_grease(gcfg, 1), 0);
    ck_assert_uint_gt(plain, 0);
    ck_assert_uint_eq(ticket_record_len(gcfg), plain + 4);
    kitls_config_free(scfg);
    scfg = gcfg;
    uint8_t buf[64];
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kitls_session *sess = kitls_conn_get_session(c);
    ck_assert_ptr_nonnull(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);
    c = tu_client(ccfg, "localhost");
    s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_int_eq(kitls_conn_is_resumed(c), 1);
    ck_assert_int_eq(kitls_conn_is_resumed(s), 1);
    kitls_session_free(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

/* ---- ClientHello padding (RFC 7685) ---- */

/* Offer n ALPN protocol names of `len` bytes: a way to set the hello's
 * size (a server without ALPN ignores it). */
static void alpn_names(kitls_config *cfg, size_t n, size_t len)
{
    char name[256];
    const char *names[2] = {name, name};
    memset(name, 'x', len);
    name[len] = 0;
    ck_assert_int_eq(kitls_config_set_alpn(cfg, names, n), 0);
}

START_TEST(test_padding_to_512)
{
    classical_groups(ccfg);
    /* A default hello is about 190 bytes: 120 more put it in 256..511. */
    alpn_names(ccfg, 1, 120);
    kitls_conn *c = tu_client(ccfg, "localhost");
    struct ch_view v;
    take_ch(c, &v);
    ck_assert_uint_eq(v.msg_len, 512);
    int i = ch_ext(&v, 21);
    ck_assert_int_ge(i, 0);
    for (size_t k = 0; k < v.ext_len[i]; k++)
        ck_assert_uint_eq(v.ext_data[i][k], 0);
    free(v.rec);
    kitls_conn_free(c);

    /* Switched off: the same hello, shorter and without padding. */
    kitls_config *off = tu_client_config();
    classical_groups(off);
    alpn_names(off, 1, 120);
    ck_assert_int_eq(kitls_config_set_client_hello_padding(off, 0), 0);
    c = tu_client(off, "localhost");
    take_ch(c, &v);
    ck_assert_uint_ge(v.msg_len, 256);
    ck_assert_uint_lt(v.msg_len, 512);
    ck_assert_int_lt(ch_ext(&v, 21), 0);
    free(v.rec);
    kitls_conn_free(c);
    kitls_config_free(off);
}
END_TEST

START_TEST(test_padding_outside_range)
{
    classical_groups(ccfg);
    /* Below 256 and from 512 up nothing is added. */
    kitls_conn *c = tu_client(ccfg, "localhost");
    struct ch_view v;
    take_ch(c, &v);
    ck_assert_uint_lt(v.msg_len, 256);
    ck_assert_int_lt(ch_ext(&v, 21), 0);
    free(v.rec);
    kitls_conn_free(c);
    kitls_config *big = tu_client_config();
    alpn_names(big, 2, 200);
    c = tu_client(big, "localhost");
    take_ch(c, &v);
    ck_assert_uint_ge(v.msg_len, 512);
    ck_assert_int_lt(ch_ext(&v, 21), 0);
    free(v.rec);
    kitls_conn_free(c);
    kitls_config_free(big);
}
END_TEST

START_TEST(test_padding_with_psk)
{
    classical_groups(ccfg);
    /* With a ticket on offer the padding goes before pre_shared_key, which
     * stays last (RFC 8446 §4.2.11), and the binder still verifies. */
    uint8_t buf[64];
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kitls_session *sess = kitls_conn_get_session(c);
    ck_assert_ptr_nonnull(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);

    /* The ticket puts the resuming hello in 256..511. */
    c = tu_client(ccfg, "localhost");
    s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    struct ch_view v;
    take_ch(c, &v);
    ck_assert_uint_eq(v.msg_len, 512);
    ck_assert_int_ge(ch_ext(&v, 21), 0);
    ck_assert_uint_eq(v.ext_type[v.n_ext - 1], 41);
    ck_assert_int_eq(kitls_conn_feed(s, v.rec, v.rec_len), 0);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_int_eq(kitls_conn_is_resumed(s), 1);
    free(v.rec);
    kitls_session_free(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);
}
END_TEST

Suite *ext_client_suite(void);
Suite *ext_client_suite(void)
{
    Suite *s = suite_create("ext-client");
    TCase *tc = tcase_create("grease");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_grease_client_hello);
    tcase_add_test(tc, test_grease_off_by_default);
    tcase_add_test(tc, test_grease_after_hrr);
    tcase_add_test(tc, test_grease_server_tickets_resume);
    suite_add_tcase(s, tc);
    tc = tcase_create("padding");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_padding_to_512);
    tcase_add_test(tc, test_padding_outside_range);
    tcase_add_test(tc, test_padding_with_psk);
    suite_add_tcase(s, tc);
    return s;
}
