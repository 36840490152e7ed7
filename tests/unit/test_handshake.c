/*
 * Client against server in memory, through the public API only: every
 * suite x group, HelloRetryRequest (with and without cookie), client
 * authentication, ALPN, SNI, record_size_limit, signature schemes,
 * certificate verification failures, application data and close_notify.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kitls/kitls.h"
#include "testutil.h"

struct pair {
    kitls_config *ccfg, *scfg;
    kitls_conn *c, *s;
    int cret, sret;
};

static void pair_new(struct pair *p, kitls_config *ccfg, kitls_config *scfg, const char *name)
{
    p->ccfg = ccfg;
    p->scfg = scfg;
    p->c = tu_client(ccfg, name);
    p->s = tu_server(scfg);
}

static int pair_run(struct pair *p)
{
    return tu_handshake(p->c, p->s, &p->cret, &p->sret);
}

static void pair_free(struct pair *p)
{
    kitls_conn_free(p->c);
    kitls_conn_free(p->s);
    kitls_config_free(p->ccfg);
    kitls_config_free(p->scfg);
}

/* Send len bytes from a to b and check they arrive intact. */
static void roundtrip(kitls_conn *a, kitls_conn *b, size_t len)
{
    uint8_t *out = malloc(len), *in = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(i * 7 + len);
    ck_assert_int_eq(kitls_conn_write(a, out, len), (int)len);
    tu_move(a, b);
    size_t got = 0;
    for (int i = 0; i < 10000 && got < len; i++) {
        int r = kitls_conn_read(b, in + got, len - got);
        if (r == KITLS_E_WANT_READ)
            break;
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    ck_assert_uint_eq(got, len);
    ck_assert_mem_eq(in, out, len);
    free(out);
    free(in);
}

/* ---- suites x groups ---- */

static const uint16_t suites[] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                  KITLS_CHACHA20_POLY1305_SHA256};
static const uint16_t groups[] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1, KITLS_GROUP_SECP384R1};

START_TEST(test_suite_group)
{
    uint16_t suite = suites[_i / 3], group = groups[_i % 3];
    struct pair p;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_suites(cc, &suite, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(cc, &group, 1), 0);
    ck_assert_int_eq(kitls_config_set_suites(sc, &suite, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(sc, &group, 1), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_int_eq(kitls_conn_is_established(p.c), 1);
    ck_assert_int_eq(kitls_conn_is_established(p.s), 1);
    ck_assert_uint_eq(kitls_conn_suite(p.c), suite);
    ck_assert_uint_eq(kitls_conn_suite(p.s), suite);
    ck_assert_uint_eq(kitls_conn_group(p.c), group);
    ck_assert_uint_eq(kitls_conn_group(p.s), group);
    ck_assert_int_eq(kitls_conn_did_hrr(p.c), 0);
    ck_assert_int_eq(kitls_conn_did_hrr(p.s), 0);
    ck_assert_int_eq(kitls_conn_peer_authenticated(p.c), 1);
    roundtrip(p.c, p.s, 1000);
    roundtrip(p.s, p.c, 1000);
    pair_free(&p);
}
END_TEST

START_TEST(test_defaults)
{
    struct pair p;
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "localhost");
    ck_assert_int_eq(kitls_conn_is_established(p.c), 0);
    ck_assert_uint_eq(kitls_conn_suite(p.c), 0);
    ck_assert_int_eq(pair_run(&p), 0);
    /* Server preference and default order: AES-128-GCM, X25519 (or
     * X25519MLKEM768 first where libcrypto has ML-KEM, tests/pq). */
    ck_assert_uint_eq(kitls_conn_suite(p.c), KITLS_AES_128_GCM_SHA256);
    ck_assert_uint_eq(kitls_conn_group(p.c), kitls_group_available(KITLS_GROUP_X25519MLKEM768)
                                                 ? KITLS_GROUP_X25519MLKEM768
                                                 : KITLS_GROUP_X25519);
    ck_assert_ptr_null(kitls_conn_alpn(p.c));
    size_t n = 0;
    ck_assert_ptr_nonnull(kitls_conn_peer_cert(p.c, &n));
    ck_assert_uint_gt(n, 100);
    ck_assert_int_eq(kitls_conn_error(p.c), 0);
    ck_assert_int_eq(kitls_conn_peer_alert(p.c), -1);
    pair_free(&p);
}
END_TEST

/* ---- HelloRetryRequest ---- */

static void hrr_case(int cookie)
{
    struct pair p;
    static const uint16_t cg[] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1};
    static const uint16_t sg[] = {KITLS_GROUP_SECP256R1};
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_groups(cc, cg, 2), 0);
    ck_assert_int_eq(kitls_config_set_key_shares(cc, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(sc, sg, 1), 0);
    if (cookie)
        ck_assert_int_eq(kitls_config_set_hrr_cookie(sc, 1), 0);
    pair_new(&p, cc, sc, "localhost");

    /* Step by hand to look at the HRR and the second ClientHello. */
    ck_assert_int_eq(kitls_conn_handshake(p.c), KITLS_E_WANT_READ);
    tu_move(p.c, p.s);
    ck_assert_int_eq(kitls_conn_handshake(p.s), KITLS_E_WANT_READ);
    size_t n;
    uint8_t *hrr = tu_out_copy(p.s, &n);
    ck_assert_uint_gt(n, 5 + 38);
    ck_assert_uint_eq(hrr[0], 22);
    ck_assert_uint_eq(hrr[5], 2); /* ServerHello type */
    static const uint8_t hrr_random[32] = {
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
        0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
        0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
    };
    ck_assert_mem_eq(hrr + 5 + 6, hrr_random, 32);
    /* cookie extension (44 = 0x002c) present iff configured */
    int has_cookie = 0;
    size_t rl = (size_t)hrr[3] << 8 | hrr[4];
    for (size_t i = 5; i + 4 <= 5 + rl; i++)
        if (hrr[i] == 0x00 && hrr[i + 1] == 0x2c && i > 5 + 38 + 4)
            has_cookie = 1;
    if (cookie)
        ck_assert_int_eq(has_cookie, 1);
    free(hrr);
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_int_eq(kitls_conn_did_hrr(p.c), 1);
    ck_assert_int_eq(kitls_conn_did_hrr(p.s), 1);
    ck_assert_uint_eq(kitls_conn_group(p.c), KITLS_GROUP_SECP256R1);
    ck_assert_uint_eq(kitls_conn_group(p.s), KITLS_GROUP_SECP256R1);
    roundtrip(p.c, p.s, 100);
    roundtrip(p.s, p.c, 100);
    pair_free(&p);
}

START_TEST(test_hrr)
{
    hrr_case(0);
}
END_TEST

START_TEST(test_hrr_cookie)
{
    hrr_case(1);
}
END_TEST

START_TEST(test_no_common_group)
{
    struct pair p;
    static const uint16_t cg[] = {KITLS_GROUP_X25519};
    static const uint16_t sg[] = {KITLS_GROUP_SECP384R1};
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_groups(cc, cg, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(sc, sg, 1), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_ne(pair_run(&p), 0);
    ck_assert_int_eq(p.sret, KITLS_E_HANDSHAKE_FAILURE);
    ck_assert_int_eq(p.cret, KITLS_E_PEER_ALERT(40));
    ck_assert_int_eq(kitls_conn_peer_alert(p.c), 40);
    pair_free(&p);
}
END_TEST

/* ---- client authentication ---- */

static const struct {
    enum kitls_verify mode;
    int with_cert;
    int want_sret;
    int authenticated;
} auth_cases[] = {
    {KITLS_VERIFY_NONE, 0, 0, 0},    {KITLS_VERIFY_NONE, 1, 0, 0},
    {KITLS_VERIFY_REQUEST, 0, 0, 0}, {KITLS_VERIFY_REQUEST, 1, 0, 1},
    {KITLS_VERIFY_REQUIRE, 1, 0, 1}, {KITLS_VERIFY_REQUIRE, 0, KITLS_E_CERT_REQUIRED, 0},
};

START_TEST(test_client_auth)
{
    struct pair p;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    if (auth_cases[_i].with_cert)
        ck_assert_int_eq(kitls_config_add_cert_pem(cc, tu_pki.client.chain, tu_pki.client.chain_len,
                                                   tu_pki.client.key, tu_pki.client.key_len),
                         0);
    ck_assert_int_eq(kitls_config_set_verify(sc, auth_cases[_i].mode), 0);
    pair_new(&p, cc, sc, "localhost");
    int r = pair_run(&p);
    ck_assert_int_eq(p.sret, auth_cases[_i].want_sret);
    if (auth_cases[_i].want_sret == 0) {
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(kitls_conn_peer_authenticated(p.s), auth_cases[_i].authenticated);
        size_t n = 0;
        const uint8_t *der = kitls_conn_peer_cert(p.s, &n);
        if (auth_cases[_i].authenticated)
            ck_assert(der && n > 0);
        else
            ck_assert(!der && n == 0);
        roundtrip(p.c, p.s, 10);
    } else {
        ck_assert_int_eq(kitls_error_alert(p.sret), 116);
        /* The client finished its side; it learns of the failure on read. */
        uint8_t buf[16];
        int cr = p.cret == 0 ? kitls_conn_read(p.c, buf, sizeof(buf)) : p.cret;
        ck_assert_int_eq(cr, KITLS_E_PEER_ALERT(116));
        ck_assert_int_eq(kitls_conn_peer_alert(p.c), 116);
    }
    pair_free(&p);
}
END_TEST

START_TEST(test_client_cert_wrong_eku)
{
    struct pair p;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(
        kitls_config_add_cert_pem(cc, tu_pki.client_noeku.chain, tu_pki.client_noeku.chain_len,
                                  tu_pki.client_noeku.key, tu_pki.client_noeku.key_len),
        0);
    ck_assert_int_eq(kitls_config_set_verify(sc, KITLS_VERIFY_REQUIRE), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_ne(pair_run(&p), 0);
    ck_assert_int_eq(p.sret, KITLS_E_CERT_USAGE);
    pair_free(&p);
}
END_TEST

/* ---- ALPN ---- */

START_TEST(test_alpn_match)
{
    struct pair p;
    static const char *cp[] = {"http/1.1", "h2"};
    static const char *sp[] = {"h2", "http/1.1"};
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_alpn(cc, cp, 2), 0);
    ck_assert_int_eq(kitls_config_set_alpn(sc, sp, 2), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_ptr_nonnull(kitls_conn_alpn(p.c));
    ck_assert_str_eq(kitls_conn_alpn(p.c), "h2"); /* server preference */
    ck_assert_str_eq(kitls_conn_alpn(p.s), "h2");
    pair_free(&p);
}
END_TEST

START_TEST(test_alpn_mismatch)
{
    struct pair p;
    static const char *cp[] = {"foo"};
    static const char *sp[] = {"bar"};
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_alpn(cc, cp, 1), 0);
    ck_assert_int_eq(kitls_config_set_alpn(sc, sp, 1), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_ne(pair_run(&p), 0);
    ck_assert_int_eq(p.sret, KITLS_E_NO_APPLICATION_PROTOCOL);
    ck_assert_int_eq(kitls_error_alert(p.sret), 120);
    ck_assert_int_eq(p.cret, KITLS_E_PEER_ALERT(120));
    ck_assert_int_eq(kitls_conn_peer_alert(p.c), 120);
    pair_free(&p);
}
END_TEST

START_TEST(test_alpn_client_only)
{
    /* A server without ALPN ignores the client's list. */
    struct pair p;
    static const char *cp[] = {"h2"};
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_alpn(cc, cp, 1), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_ptr_null(kitls_conn_alpn(p.c));
    ck_assert_ptr_null(kitls_conn_alpn(p.s));
    pair_free(&p);
}
END_TEST

START_TEST(test_alpn_bad_config)
{
    kitls_config *cc = kitls_config_new(KITLS_ROLE_CLIENT);
    static const char *empty[] = {""};
    char longp[300];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    const char *lp[] = {longp};
    ck_assert_int_eq(kitls_config_set_alpn(cc, empty, 1), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_alpn(cc, lp, 1), KITLS_E_INVALID_ARG);
    kitls_config_free(cc);
}
END_TEST

/* ---- SNI ---- */

START_TEST(test_sni)
{
    struct pair p;
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_ptr_nonnull(kitls_conn_server_name(p.s));
    ck_assert_str_eq(kitls_conn_server_name(p.s), "localhost");
    pair_free(&p);
}
END_TEST

START_TEST(test_ip_literal)
{
    /* An IP literal is verified against the IP SAN and not sent as SNI. */
    struct pair p;
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "127.0.0.1");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_ptr_null(kitls_conn_server_name(p.s));
    pair_free(&p);
}
END_TEST

/* ---- record_size_limit (RFC 8449) ---- */

START_TEST(test_record_size_limit)
{
    struct pair p;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    /* The server may only answer a client that offered the extension. */
    ck_assert_int_eq(kitls_config_set_record_size_limit(cc, 16385), 0);
    ck_assert_int_eq(kitls_config_set_record_size_limit(sc, 1024), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    /* In TLS 1.3 the limit counts the inner content type byte. */
    ck_assert_uint_eq(kitls_conn_max_send_fragment(p.c), 1023);
    ck_assert_uint_eq(kitls_conn_max_send_fragment(p.s), 16384);
    uint8_t data[5000];
    memset(data, 'z', sizeof(data));
    ck_assert_int_eq(kitls_conn_write(p.c, data, sizeof(data)), (int)sizeof(data));
    size_t n, off[64];
    uint8_t *out = tu_out_copy(p.c, &n);
    size_t nrec = tu_records(out, n, off, 64);
    ck_assert_uint_ge(nrec, 5);
    for (size_t i = 0; i < nrec && i < 64; i++) {
        size_t rl = (size_t)out[off[i] + 3] << 8 | out[off[i] + 4];
        ck_assert_uint_le(rl, 1024 + 16); /* limit + AEAD tag */
    }
    free(out);
    tu_move(p.c, p.s);
    size_t got = 0;
    uint8_t in[5000];
    while (got < sizeof(in)) {
        int r = kitls_conn_read(p.s, in + got, sizeof(in) - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    ck_assert_mem_eq(in, data, sizeof(data));
    pair_free(&p);
}
END_TEST

START_TEST(test_record_size_limit_bad)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_int_lt(kitls_config_set_record_size_limit(cfg, 63), 0);
    ck_assert_int_lt(kitls_config_set_record_size_limit(cfg, 16386), 0);
    ck_assert_int_eq(kitls_config_set_record_size_limit(cfg, 64), 0);
    kitls_config_free(cfg);
}
END_TEST

/* ---- signature schemes ---- */

static const struct {
    enum tu_key key;
    uint16_t scheme;
} sig_cases[] = {
    {TU_P256, KITLS_SIG_ECDSA_SECP256R1_SHA256}, {TU_P384, KITLS_SIG_ECDSA_SECP384R1_SHA384},
    {TU_RSA2048, KITLS_SIG_RSA_PSS_RSAE_SHA256}, {TU_RSA2048, KITLS_SIG_RSA_PSS_RSAE_SHA384},
    {TU_RSA2048, KITLS_SIG_RSA_PSS_RSAE_SHA512}, {TU_ED25519, KITLS_SIG_ED25519},
};

START_TEST(test_sigalg)
{
    struct pair p;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(sig_cases[_i].key);
    uint16_t sch = sig_cases[_i].scheme;
    ck_assert_int_eq(kitls_config_set_sigalgs(cc, &sch, 1), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_uint_eq(kitls_conn_sigalg(p.s), sch);
    ck_assert_uint_eq(kitls_conn_peer_sigalg(p.c), sch);
    pair_free(&p);
}
END_TEST

START_TEST(test_sigalg_none_usable)
{
    /* P-256 certificate, client accepts only Ed25519: handshake_failure. */
    struct pair p;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    uint16_t sch = KITLS_SIG_ED25519;
    ck_assert_int_eq(kitls_config_set_sigalgs(cc, &sch, 1), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_ne(pair_run(&p), 0);
    ck_assert_int_eq(p.sret, KITLS_E_HANDSHAKE_FAILURE);
    pair_free(&p);
}
END_TEST

START_TEST(test_signing_sigalgs)
{
    /* The server accepts (and asks for) only rsa_pkcs1_sha256, which TLS 1.3
     * never signs with, yet signs its own CertificateVerify from the
     * separate signing list. */
    struct pair p;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    uint16_t verify = KITLS_SIG_RSA_PKCS1_SHA256, sign = KITLS_SIG_ECDSA_SECP256R1_SHA256;
    ck_assert_int_eq(kitls_config_set_sigalgs(sc, &verify, 1), 0);
    ck_assert_int_eq(kitls_config_set_signing_sigalgs(sc, &sign, 1), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_uint_eq(kitls_conn_sigalg(p.s), sign);
    pair_free(&p);

    /* A signing list the client does not accept: handshake_failure. */
    cc = tu_client_config();
    sc = tu_server_config(TU_P256);
    uint16_t ed = KITLS_SIG_ED25519;
    ck_assert_int_eq(kitls_config_set_signing_sigalgs(sc, &ed, 1), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_ne(pair_run(&p), 0);
    ck_assert_int_eq(p.sret, KITLS_E_HANDSHAKE_FAILURE);
    pair_free(&p);
}
END_TEST

START_TEST(test_client_cert_no_common_sigalg)
{
    /* The client has a P-256 certificate but the server's
     * CertificateRequest accepts only RSA-PSS: the client aborts with
     * handshake_failure instead of signing with a scheme not offered
     * (RFC 8446 §4.4.3). */
    struct pair p;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_add_cert_pem(cc, tu_pki.client.chain, tu_pki.client.chain_len,
                                               tu_pki.client.key, tu_pki.client.key_len),
                     0);
    uint16_t pss = KITLS_SIG_RSA_PSS_RSAE_SHA256, ecdsa = KITLS_SIG_ECDSA_SECP256R1_SHA256;
    ck_assert_int_eq(kitls_config_set_sigalgs(sc, &pss, 1), 0);
    ck_assert_int_eq(kitls_config_set_signing_sigalgs(sc, &ecdsa, 1), 0);
    ck_assert_int_eq(kitls_config_set_verify(sc, KITLS_VERIFY_REQUEST), 0);
    pair_new(&p, cc, sc, "localhost");
    ck_assert_int_ne(pair_run(&p), 0);
    ck_assert_int_eq(p.cret, KITLS_E_HANDSHAKE_FAILURE);
    pair_free(&p);
}
END_TEST

/* ---- verification failures ---- */

static void verify_fail(kitls_config *cc, kitls_config *sc, const char *name, int want)
{
    struct pair p;
    pair_new(&p, cc, sc, name);
    ck_assert_int_ne(pair_run(&p), 0);
    ck_assert_msg(p.cret == want, "client error %d (%s), want %d", p.cret, kitls_strerror(p.cret),
                  want);
    ck_assert_int_eq(kitls_conn_error(p.c), want);
    ck_assert_int_eq(p.sret, KITLS_E_PEER_ALERT(kitls_error_alert(want)));
    ck_assert_int_eq(kitls_conn_peer_alert(p.s), kitls_error_alert(want));
    ck_assert_ptr_nonnull(kitls_conn_verify_detail(p.c));
    /* Sticky: later calls return the same error. */
    ck_assert_int_eq(kitls_conn_handshake(p.c), want);
    uint8_t b[4];
    ck_assert_int_eq(kitls_conn_write(p.c, b, 4), want);
    pair_free(&p);
}

START_TEST(test_wrong_hostname)
{
    verify_fail(tu_client_config(), tu_server_config(TU_P256), "example.com",
                KITLS_E_CERT_NAME_MISMATCH);
}
END_TEST

START_TEST(test_wrong_ip)
{
    verify_fail(tu_client_config(), tu_server_config(TU_P256), "127.0.0.2",
                KITLS_E_CERT_NAME_MISMATCH);
}
END_TEST

START_TEST(test_untrusted_ca)
{
    kitls_config *cc = kitls_config_new(KITLS_ROLE_CLIENT);
    ck_assert_int_eq(kitls_config_load_ca_pem(cc, tu_pki.other_ca, tu_pki.other_ca_len), 0);
    verify_fail(cc, tu_server_config(TU_P256), "localhost", KITLS_E_CERT_UNTRUSTED);
}
END_TEST

START_TEST(test_untrusted_leaf)
{
    kitls_config *sc = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_int_eq(kitls_config_add_cert_pem(sc, tu_pki.untrusted.chain,
                                               tu_pki.untrusted.chain_len, tu_pki.untrusted.key,
                                               tu_pki.untrusted.key_len),
                     0);
    verify_fail(tu_client_config(), sc, "localhost", KITLS_E_CERT_UNTRUSTED);
}
END_TEST

static int64_t clock_future, clock_past;

START_TEST(test_expired)
{
    kitls_config *cc = tu_client_config();
    clock_future = tu_pki.now + 400 * 86400;
    ck_assert_int_eq(kitls_config_set_time(cc, tu_time_fixed, &clock_future), 0);
    verify_fail(cc, tu_server_config(TU_P256), "localhost", KITLS_E_CERT_EXPIRED);
}
END_TEST

START_TEST(test_not_yet_valid)
{
    kitls_config *cc = tu_client_config();
    clock_past = tu_pki.now - 400 * 86400;
    ck_assert_int_eq(kitls_config_set_time(cc, tu_time_fixed, &clock_past), 0);
    verify_fail(cc, tu_server_config(TU_P256), "localhost", KITLS_E_CERT_NOT_YET_VALID);
}
END_TEST

START_TEST(test_verify_none)
{
    /* Insecure mode: an untrusted chain and a wrong name are accepted. */
    struct pair p;
    kitls_config *cc = kitls_config_new(KITLS_ROLE_CLIENT);
    ck_assert_int_eq(kitls_config_set_verify(cc, KITLS_VERIFY_NONE), 0);
    pair_new(&p, cc, tu_server_config(TU_P256), "example.com");
    ck_assert_int_eq(pair_run(&p), 0);
    pair_free(&p);
}
END_TEST

/* ---- application data ---- */

START_TEST(test_big_write)
{
    struct pair p;
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    size_t len = 100 * 1024;
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i ^ (i >> 8));
    ck_assert_int_eq(kitls_conn_write(p.c, data, len), (int)len);
    size_t n, off[64];
    uint8_t *out = tu_out_copy(p.c, &n);
    size_t nrec = tu_records(out, n, off, 64);
    ck_assert_uint_ge(nrec, 7); /* ceil(102400 / 16384) */
    for (size_t i = 0; i < nrec && i < 64; i++) {
        ck_assert_uint_eq(out[off[i]], 23);
        ck_assert_uint_le((size_t)out[off[i] + 3] << 8 | out[off[i] + 4], 16384 + 256);
    }
    free(out);
    free(data);
    pair_free(&p);
    /* Both directions, with reads into a small buffer. */
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    roundtrip(p.c, p.s, len);
    roundtrip(p.s, p.c, len);
    roundtrip(p.c, p.s, 1);
    pair_free(&p);
}
END_TEST

START_TEST(test_small_reads)
{
    struct pair p;
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_int_eq(kitls_conn_write(p.s, (const uint8_t *)"abcdefghij", 10), 10);
    tu_move(p.s, p.c);
    char got[11] = {0};
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(kitls_conn_read(p.c, (uint8_t *)got + i, 1), 1);
    ck_assert_str_eq(got, "abcdefghij");
    uint8_t b;
    ck_assert_int_eq(kitls_conn_read(p.c, &b, 1), KITLS_E_WANT_READ);
    pair_free(&p);
}
END_TEST

/* ---- close_notify ---- */

START_TEST(test_close_notify)
{
    struct pair p;
    uint8_t b[16];
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    /* Data sent before close_notify is still delivered. */
    ck_assert_int_eq(kitls_conn_write(p.c, (const uint8_t *)"bye", 3), 3);
    ck_assert_int_eq(kitls_conn_close(p.c), 0);
    ck_assert_int_eq(kitls_conn_write(p.c, (const uint8_t *)"x", 1), KITLS_E_STATE);
    tu_move(p.c, p.s);
    ck_assert_int_eq(kitls_conn_read(p.s, b, sizeof(b)), 3);
    ck_assert_int_eq(kitls_conn_read(p.s, b, sizeof(b)), KITLS_E_CLOSED);
    ck_assert_int_eq(kitls_conn_read(p.s, b, sizeof(b)), KITLS_E_CLOSED);
    /* Half-close: the server may still send, then close its side. */
    ck_assert_int_eq(kitls_conn_write(p.s, (const uint8_t *)"ok", 2), 2);
    ck_assert_int_eq(kitls_conn_close(p.s), 0);
    tu_move(p.s, p.c);
    ck_assert_int_eq(kitls_conn_read(p.c, b, sizeof(b)), 2);
    ck_assert_int_eq(kitls_conn_read(p.c, b, sizeof(b)), KITLS_E_CLOSED);
    pair_free(&p);
}
END_TEST

START_TEST(test_close_server_first)
{
    struct pair p;
    uint8_t b[16];
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    ck_assert_int_eq(kitls_conn_close(p.s), 0);
    ck_assert_int_eq(kitls_conn_write(p.s, b, 1), KITLS_E_STATE);
    tu_move(p.s, p.c);
    ck_assert_int_eq(kitls_conn_read(p.c, b, sizeof(b)), KITLS_E_CLOSED);
    ck_assert_int_eq(kitls_conn_error(p.c), 0); /* an orderly close is not an error */
    pair_free(&p);
}
END_TEST

/* ---- API odds and ends ---- */

START_TEST(test_names_and_errors)
{
    ck_assert_str_eq(kitls_suite_name(KITLS_AES_128_GCM_SHA256), "TLS_AES_128_GCM_SHA256");
    ck_assert_str_eq(kitls_suite_name(KITLS_CHACHA20_POLY1305_SHA256),
                     "TLS_CHACHA20_POLY1305_SHA256");
    ck_assert_ptr_null(kitls_suite_name(0x1304));
    ck_assert_str_eq(kitls_group_name(KITLS_GROUP_X25519), "x25519");
    ck_assert_str_eq(kitls_sigalg_name(KITLS_SIG_ED25519), "ed25519");
    ck_assert_uint_eq(kitls_suite_by_name("TLS_AES_256_GCM_SHA384"), KITLS_AES_256_GCM_SHA384);
    ck_assert_uint_eq(kitls_group_by_name("secp384r1"), KITLS_GROUP_SECP384R1);
    ck_assert_uint_eq(kitls_group_by_name("nope"), 0);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_BAD_RECORD_MAC), 20);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_DECODE), 50);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_ILLEGAL_PARAMETER), 47);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_UNEXPECTED_MESSAGE), 10);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_CERT_EXPIRED), 45);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_CERT_UNTRUSTED), 48);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_WANT_READ), -1);
    ck_assert_str_eq(kitls_alert_string(20), "bad_record_mac");
    ck_assert_ptr_nonnull(kitls_strerror(-99999));
    ck_assert_ptr_nonnull(kitls_version());
}
END_TEST

START_TEST(test_config_frozen)
{
    kitls_config *cc = tu_client_config();
    kitls_conn *c = tu_client(cc, "localhost");
    uint16_t s = KITLS_AES_128_GCM_SHA256;
    ck_assert_int_eq(kitls_config_set_suites(cc, &s, 1), KITLS_E_STATE);
    kitls_conn_free(c);
    kitls_config_free(cc);
    cc = kitls_config_new(KITLS_ROLE_CLIENT);
    s = 0x1304; /* TLS_AES_128_CCM_SHA256: not supported */
    ck_assert_int_lt(kitls_config_set_suites(cc, &s, 1), 0);
    kitls_config_free(cc);
}
END_TEST

START_TEST(test_export_keys)
{
    struct pair p;
    struct kitls_traffic_keys ctx_keys, srx_keys;
    pair_new(&p, tu_client_config(), tu_server_config(TU_P256), "localhost");
    ck_assert_int_eq(pair_run(&p), 0);
    /* Let the client consume any post-handshake messages. */
    uint8_t b[4];
    ck_assert_int_eq(kitls_conn_read(p.c, b, 4), KITLS_E_WANT_READ);
    kitls_offload *co, *so, *again;
    ck_assert_int_eq(kitls_offload_get(p.c, &co), 0);
    ck_assert_int_eq(kitls_offload_get(p.s, &so), 0);
    ck_assert_int_eq(kitls_offload_get(p.c, &again), 0);
    ck_assert_ptr_eq(again, co); /* one object per connection */
    ck_assert_int_eq(kitls_offload_export_keys(co, KITLS_DIR_TX, &ctx_keys), 0);
    ck_assert_int_eq(kitls_offload_export_keys(so, KITLS_DIR_RX, &srx_keys), 0);
    ck_assert_uint_eq(ctx_keys.suite, srx_keys.suite);
    ck_assert_uint_eq(ctx_keys.key_len, 16);
    ck_assert_mem_eq(ctx_keys.key, srx_keys.key, ctx_keys.key_len);
    ck_assert_mem_eq(ctx_keys.iv, srx_keys.iv, 12);
    ck_assert_uint_eq(ctx_keys.seq, srx_keys.seq);
    pair_free(&p);
}
END_TEST

static Suite *handshake_suite(void)
{
    Suite *s = suite_create("handshake");
    TCase *tc = tcase_create("negotiation");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_suite_group, 0, 9);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_hrr);
    tcase_add_test(tc, test_hrr_cookie);
    tcase_add_test(tc, test_no_common_group);
    tcase_add_loop_test(tc, test_sigalg, 0, (int)(sizeof(sig_cases) / sizeof(sig_cases[0])));
    tcase_add_test(tc, test_sigalg_none_usable);
    tcase_add_test(tc, test_signing_sigalgs);
    tcase_add_test(tc, test_client_cert_no_common_sigalg);
    suite_add_tcase(s, tc);

    tc = tcase_create("extensions");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_client_auth, 0, (int)(sizeof(auth_cases) / sizeof(auth_cases[0])));
    tcase_add_test(tc, test_client_cert_wrong_eku);
    tcase_add_test(tc, test_alpn_match);
    tcase_add_test(tc, test_alpn_mismatch);
    tcase_add_test(tc, test_alpn_client_only);
    tcase_add_test(tc, test_alpn_bad_config);
    tcase_add_test(tc, test_sni);
    tcase_add_test(tc, test_ip_literal);
    tcase_add_test(tc, test_record_size_limit);
    tcase_add_test(tc, test_record_size_limit_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("verify");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_wrong_hostname);
    tcase_add_test(tc, test_wrong_ip);
    tcase_add_test(tc, test_untrusted_ca);
    tcase_add_test(tc, test_untrusted_leaf);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_not_yet_valid);
    tcase_add_test(tc, test_verify_none);
    suite_add_tcase(s, tc);

    tc = tcase_create("data");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_big_write);
    tcase_add_test(tc, test_small_reads);
    tcase_add_test(tc, test_close_notify);
    tcase_add_test(tc, test_close_server_first);
    tcase_add_test(tc, test_export_keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_test(tc, test_names_and_errors);
    tcase_add_test(tc, test_config_frozen);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_pki_init();
    SRunner *sr = srunner_create(handshake_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
