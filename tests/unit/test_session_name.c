/*
 * Part of test_session_bind: server names (review F6, F7) and resuming
 * without signature_algorithms (RFC 8446 §9.2, §4.2.3).
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

Suite *session_name_suite(void);
/* Also used by test_session_policy.c: 1 if a client of ccfg for `name`
 * offers sess (a pre_shared_key extension in its ClientHello). */
int offers_psk(kitls_config *ccfg, const char *name, kitls_session *sess);

/* A server config with a fresh P-256 leaf from the trusted CA for `san`. */
static kitls_config *server_for(const char *san)
{
    const char *exts[3] = {san, "extendedKeyUsage=serverAuth", NULL};
    EVP_PKEY *k = tu_keygen(TU_P256);
    X509 *x = tu_issue(k, "leaf", tu_ca_cert(), tu_ca_key(), exts);
    size_t cl, kl;
    char *cp = tu_x509_pem(x, &cl), *kp = tu_pkey_pem(k, &kl);
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(kitls_config_add_cert_pem(cfg, cp, cl, kp, kl), 0);
    free(cp);
    free(kp);
    X509_free(x);
    EVP_PKEY_free(k);
    return cfg;
}

static kitls_config *opted_out(void)
{
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_verify_name(cfg, 0), 0);
    return cfg;
}

/* ---- F6: a verifying client needs a name ---- */

/* Review F6: a client verifying (the default) with no server name used
 * to accept a certificate for any name from a trusted CA. */
START_TEST(test_no_server_name_refused)
{
    kitls_config *scfg = server_for("subjectAltName=DNS:attacker.example");
    kitls_config *ccfg = tu_client_config();
    kitls_conn *c = tu_client(ccfg, NULL), *s = tu_server(scfg);
    int cr = 0, sr = 0;
    ck_assert_int_ne(tu_handshake(c, s, &cr, &sr), 0);
    ck_assert_int_eq(cr, KITLS_E_NO_SERVER_NAME);
    ck_assert_int_eq(kitls_conn_error(c), KITLS_E_NO_SERVER_NAME);
    ck_assert_int_eq(kitls_conn_peer_authenticated(c), 0);
    /* Refused before anything is sent, and with no alert. */
    const uint8_t *p;
    ck_assert_uint_eq(kitls_conn_out_peek(c, &p), 0);
    ck_assert_int_eq(kitls_error_alert(KITLS_E_NO_SERVER_NAME), -1);
    ck_assert_ptr_nonnull(strstr(kitls_strerror(KITLS_E_NO_SERVER_NAME), "server name"));
    ck_assert_ptr_nonnull(strstr(kitls_conn_verify_detail(c), "kitls_conn_set_server_name"));
    kitls_conn_free(c);
    kitls_conn_free(s);
    /* Control: with a name, the certificate is checked against it. */
    c = tu_client(ccfg, "bank.example");
    s = tu_server(scfg);
    ck_assert_int_ne(tu_handshake(c, s, &cr, &sr), 0);
    ck_assert_int_eq(cr, KITLS_E_CERT_NAME_MISMATCH);
    kitls_conn_free(c);
    kitls_conn_free(s);
    /* A client that does not verify needs no name. */
    kitls_config *blind = tu_client_config();
    ck_assert_int_eq(kitls_config_set_verify(blind, KITLS_VERIFY_NONE), 0);
    c = tu_client(blind, NULL);
    s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_int_eq(kitls_conn_peer_authenticated(c), 0);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(blind);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* The explicit opt-out: the chain is verified, no name is compared. */
START_TEST(test_verify_name_opt_out)
{
    kitls_config *scfg = server_for("subjectAltName=DNS:attacker.example");
    kitls_config *ccfg = opted_out();
    static const char *const names[2] = {NULL, "bank.example"};
    for (int i = 0; i < 2; i++) {
        kitls_conn *c = tu_client(ccfg, names[i]), *s = tu_server(scfg);
        ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
        ck_assert_int_eq(kitls_conn_peer_authenticated(c), 1);
        kitls_conn_free(c);
        kitls_conn_free(s);
    }
    /* The chain still has to reach a trust anchor. */
    kitls_config *bad = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_int_eq(kitls_config_add_cert_pem(bad, tu_pki.untrusted.chain,
                                               tu_pki.untrusted.chain_len, tu_pki.untrusted.key,
                                               tu_pki.untrusted.key_len),
                     0);
    kitls_conn *c = tu_client(ccfg, NULL), *s = tu_server(bad);
    int cr = 0;
    ck_assert_int_ne(tu_handshake(c, s, &cr, NULL), 0);
    ck_assert_int_eq(cr, KITLS_E_CERT_UNTRUSTED);
    kitls_conn_free(c);
    kitls_conn_free(s);
    /* Like every setter, only before the config is in use. */
    ck_assert_int_eq(kitls_config_set_verify_name(ccfg, 1), KITLS_E_STATE);
    ck_assert_int_eq(kitls_config_set_verify_name(NULL, 0), KITLS_E_INVALID_ARG);
    kitls_config_free(bad);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* ---- ClientHello inspection ---- */

/* Offset of the extensions block (its length) in a ClientHello record. */
static size_t ch_exts_at(const uint8_t *rec, size_t len)
{
    ck_assert_uint_ge(len, 5 + 4 + 2 + 32 + 1);
    ck_assert_uint_eq(rec[0], 22);
    ck_assert_uint_eq(rec[5], 1);
    size_t p = 5 + 4 + 2 + 32;
    p += 1 + rec[p];
    p += 2 + ((size_t)rec[p] << 8 | rec[p + 1]);
    p += 1 + rec[p];
    ck_assert_uint_le(p + 2, len);
    return p;
}

static int ch_has_ext(const uint8_t *rec, size_t len, unsigned type)
{
    size_t p = ch_exts_at(rec, len);
    size_t end = p + 2 + ((size_t)rec[p] << 8 | rec[p + 1]);
    for (p += 2; p + 4 <= end; p += 4 + ((size_t)rec[p + 2] << 8 | rec[p + 3]))
        if (((unsigned)rec[p] << 8 | rec[p + 1]) == type)
            return 1;
    return 0;
}

/* The ClientHello record a client for `name` offering `sess` sends. */
static size_t client_hello(kitls_config *ccfg, const char *name, kitls_session *sess, uint8_t *out,
                           size_t cap)
{
    kitls_conn *c = tu_client(ccfg, name);
    if (sess)
        ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    const uint8_t *p;
    size_t n = kitls_conn_out_peek(c, &p);
    ck_assert_uint_ge(n, 5);
    size_t rl = 5 + ((size_t)p[3] << 8 | p[4]);
    ck_assert_uint_le(rl, n);
    ck_assert_uint_le(rl, cap);
    memcpy(out, p, rl);
    kitls_conn_free(c);
    return rl;
}

int offers_psk(kitls_config *ccfg, const char *name, kitls_session *sess)
{
    uint8_t ch[4096];
    size_t n = client_hello(ccfg, name, sess, ch, sizeof(ch));
    return ch_has_ext(ch, n, 41);
}

/* Full handshake for `name`; returns the client's session. */
static kitls_session *session_for(kitls_config *ccfg, kitls_config *scfg, const char *name)
{
    kitls_conn *c = tu_client(ccfg, name), *s = tu_server(scfg);
    uint8_t buf[16];
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kitls_session *sess = kitls_conn_get_session(c);
    ck_assert_ptr_nonnull(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return sess;
}

/* Handshake offering sess; *resumed gets the server's view; returns the
 * client's result. */
static int resume(kitls_config *ccfg, kitls_config *scfg, const char *name, kitls_session *sess,
                  int *resumed)
{
    kitls_conn *c = tu_client(ccfg, name), *s = tu_server(scfg);
    int cr = 0;
    ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    tu_handshake(c, s, &cr, NULL);
    *resumed = kitls_conn_is_resumed(s);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return cr;
}

/* ---- F7: a session goes only to its own server name ---- */

/* Review F7: a session for 127.0.0.1 (an IP: no SNI for the server to
 * check) was offered to, and resumed with, 192.0.2.7, which the
 * certificate does not cover. */
START_TEST(test_session_not_offered_to_other_ip)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_session *sess = session_for(ccfg, scfg, "127.0.0.1");
    ck_assert_int_eq(offers_psk(ccfg, "127.0.0.1", sess), 1);
    ck_assert_int_eq(offers_psk(ccfg, "192.0.2.7", sess), 0);
    int resumed = -1;
    ck_assert_int_eq(resume(ccfg, scfg, "192.0.2.7", sess, &resumed), KITLS_E_CERT_NAME_MISMATCH);
    ck_assert_int_eq(resumed, 0);
    ck_assert_int_eq(resume(ccfg, scfg, "127.0.0.1", sess, &resumed), 0);
    ck_assert_int_eq(resumed, 1);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* DNS names compare case-insensitively on both sides (RFC 4343). */
START_TEST(test_session_name_case)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_session *sess = session_for(ccfg, scfg, "localhost");
    ck_assert_int_eq(offers_psk(ccfg, "LocalHost", sess), 1);
    int resumed = -1;
    ck_assert_int_eq(resume(ccfg, scfg, "LOCALHOST", sess, &resumed), 0);
    ck_assert_int_eq(resumed, 1);
    ck_assert_int_eq(offers_psk(ccfg, "localhost.example", sess), 0);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* An IP address and a DNS name never match; a session made without a
 * name goes only to a connection without one, and the reverse. */
START_TEST(test_session_name_kinds)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_config *anon = opted_out();
    kitls_session *dns = session_for(ccfg, scfg, "localhost");
    kitls_session *ip = session_for(ccfg, scfg, "127.0.0.1");
    kitls_session *none = session_for(anon, scfg, NULL);
    ck_assert_int_eq(offers_psk(ccfg, "127.0.0.1", dns), 0);
    ck_assert_int_eq(offers_psk(ccfg, "localhost", ip), 0);
    ck_assert_int_eq(offers_psk(anon, "localhost", none), 0);
    ck_assert_int_eq(offers_psk(anon, "127.0.0.1", none), 0);
    ck_assert_int_eq(offers_psk(anon, NULL, dns), 0);
    ck_assert_int_eq(offers_psk(anon, NULL, ip), 0);
    ck_assert_int_eq(offers_psk(anon, NULL, none), 1);
    int resumed = -1;
    ck_assert_int_eq(resume(anon, scfg, NULL, none, &resumed), 0);
    ck_assert_int_eq(resumed, 1);
    kitls_session_free(none);
    kitls_session_free(ip);
    kitls_session_free(dns);
    kitls_config_free(anon);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* ---- resumption without signature_algorithms ---- */

static void hmac(const EVP_MD *md, const uint8_t *key, size_t kl, const uint8_t *d, size_t dl,
                 uint8_t *out)
{
    size_t ol = 0;
    ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md), NULL, key, kl, d, dl,
                                    out, EVP_MAX_MD_SIZE, &ol));
}

/* HKDF-Expand-Label (RFC 8446 §7.1), one block: L <= Hash.length. */
static void expand_label(const EVP_MD *md, const uint8_t *secret, const char *label,
                         const uint8_t *ctx, size_t ctx_len, uint8_t *out)
{
    uint8_t info[128], t[EVP_MAX_MD_SIZE];
    size_t hl = (size_t)EVP_MD_get_size(md), n = 0, ll = strlen(label);
    info[n++] = 0;
    info[n++] = (uint8_t)hl;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, ll);
    n += 6 + ll;
    info[n++] = (uint8_t)ctx_len;
    if (ctx_len)
        memcpy(info + n, ctx, ctx_len);
    n += ctx_len;
    info[n++] = 1;
    hmac(md, secret, hl, info, n, t);
    memcpy(out, t, hl);
}

/* The PSK binder (RFC 8446 §4.2.11.2) over a truncated ClientHello. */
static void binder(const EVP_MD *md, const uint8_t *psk, const uint8_t *msg, size_t len,
                   uint8_t *out)
{
    uint8_t zero[EVP_MAX_MD_SIZE] = {0}, early[EVP_MAX_MD_SIZE], empty[EVP_MAX_MD_SIZE];
    uint8_t bk[EVP_MAX_MD_SIZE], fk[EVP_MAX_MD_SIZE], h[EVP_MAX_MD_SIZE];
    size_t hl = (size_t)EVP_MD_get_size(md);
    hmac(md, zero, hl, psk, hl, early); /* HKDF-Extract(0, PSK) */
    ck_assert_int_eq(EVP_Digest("", 0, empty, NULL, md, NULL), 1);
    expand_label(md, early, "res binder", empty, hl, bk);
    expand_label(md, bk, "finished", NULL, 0, fk);
    ck_assert_int_eq(EVP_Digest(msg, len, h, NULL, md, NULL), 1);
    hmac(md, fk, hl, h, hl, out);
}

static void put_len(uint8_t *p, size_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Drop extension `type` from a ClientHello record; with a PSK (sess not
 * NULL), recompute the binder over the new ClientHello.  Returns the new
 * record length. */
static size_t drop_ext(uint8_t *rec, size_t len, unsigned type, kitls_session *sess)
{
    uint8_t out[4096];
    size_t p = ch_exts_at(rec, len), o = p + 2, last = 0;
    size_t end = p + 2 + ((size_t)rec[p] << 8 | rec[p + 1]);
    ck_assert_uint_eq(end, len);
    memcpy(out, rec, p + 2);
    for (size_t q = p + 2; q < end;) {
        size_t el = 4 + ((size_t)rec[q + 2] << 8 | rec[q + 3]);
        if (((unsigned)rec[q] << 8 | rec[q + 1]) != type) {
            last = o;
            memcpy(out + o, rec + q, el);
            o += el;
        }
        q += el;
    }
    put_len(out + p, o - p - 2, 2);
    put_len(out + 6, o - 9, 3);
    put_len(out + 3, o - 5, 2);
    if (sess) {
        uint8_t b[8192];
        size_t n = 0;
        ck_assert_int_eq(kitls_session_to_bytes(sess, b, sizeof(b), &n), 0);
        /* format(1) suite(2) psk<1> (session.c) */
        const EVP_MD *md =
            (b[1] << 8 | b[2]) == KITLS_AES_256_GCM_SHA384 ? EVP_sha384() : EVP_sha256();
        size_t hl = (size_t)EVP_MD_get_size(md);
        ck_assert_uint_eq(b[3], hl);
        ck_assert_uint_eq(out[last] << 8 | out[last + 1], 41); /* pre_shared_key is last */
        /* binders<2> = binder<1> of one PSK, at the very end. */
        binder(md, b + 4, out + 5, o - 5 - (2 + 1 + hl), out + o - hl);
    }
    memcpy(rec, out, o);
    return o;
}

/* Feed a ClientHello record to a new server; returns its handshake
 * result; *alert gets the alert it sent (or -1), *psk whether its
 * ServerHello selected the PSK. */
static int serve(kitls_config *scfg, const uint8_t *ch, size_t n, int *alert, int *psk)
{
    kitls_conn *s = tu_server(scfg);
    ck_assert_int_eq(kitls_conn_feed(s, ch, n), 0);
    int ret = kitls_conn_handshake(s);
    const uint8_t *p;
    size_t on = kitls_conn_out_peek(s, &p);
    *alert = tu_find_alert(p, on);
    *psk = 0;
    if (on > 5 + 4 + 2 + 32 + 1 && p[0] == 22 && p[5] == 2) {
        /* ServerHello: version random sid<1> suite comp exts<2> */
        size_t q = 5 + 4 + 2 + 32;
        q += 1 + p[q] + 2 + 1;
        size_t end = q + 2 + ((size_t)p[q] << 8 | p[q + 1]);
        for (q += 2; q + 4 <= end && q + 4 <= on; q += 4 + ((size_t)p[q + 2] << 8 | p[q + 3]))
            *psk |= (p[q] << 8 | p[q + 1]) == 41;
    }
    ck_assert_int_eq(*psk, kitls_conn_is_resumed(s));
    kitls_conn_free(s);
    return ret;
}

/* RFC 8446 §9.2: signature_algorithms is required only without
 * pre_shared_key.  Such a resumption used to fail with missing_extension. */
START_TEST(test_resume_without_sigalgs)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_session *sess = session_for(ccfg, scfg, "localhost");
    uint8_t ch[4096];
    size_t n = client_hello(ccfg, "localhost", sess, ch, sizeof(ch));
    ck_assert_int_eq(ch_has_ext(ch, n, 13), 1);
    n = drop_ext(ch, n, 13, sess);
    ck_assert_int_eq(ch_has_ext(ch, n, 13), 0);
    int alert, psk;
    int ret = serve(scfg, ch, n, &alert, &psk);
    ck_assert_msg(ret == KITLS_E_WANT_READ, "server: %d (%s)", ret, kitls_strerror(ret));
    ck_assert_int_eq(alert, -1);
    ck_assert_int_eq(psk, 1);
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* Without a PSK, or with one the server declines, a ClientHello lacking
 * signature_algorithms still gets missing_extension (§9.2). */
START_TEST(test_full_without_sigalgs)
{
    kitls_config *scfg = tu_server_config(TU_P256), *ccfg = tu_client_config();
    kitls_config *other = tu_server_config(TU_P256); /* other ticket key */
    kitls_session *sess = session_for(ccfg, scfg, "localhost");
    uint8_t ch[4096];
    int alert, psk;
    size_t n = client_hello(ccfg, "localhost", NULL, ch, sizeof(ch));
    n = drop_ext(ch, n, 13, NULL);
    ck_assert_int_eq(serve(scfg, ch, n, &alert, &psk), KITLS_E_MISSING_EXTENSION);
    ck_assert_int_eq(alert, 109);
    n = client_hello(ccfg, "localhost", sess, ch, sizeof(ch));
    n = drop_ext(ch, n, 13, sess);
    ck_assert_int_eq(serve(other, ch, n, &alert, &psk), KITLS_E_MISSING_EXTENSION);
    ck_assert_int_eq(alert, 109);
    ck_assert_int_eq(psk, 0);
    kitls_session_free(sess);
    kitls_config_free(other);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

Suite *session_name_suite(void)
{
    Suite *s = suite_create("session_name");
    TCase *tc = tcase_create("server_name");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_no_server_name_refused);
    tcase_add_test(tc, test_verify_name_opt_out);
    tcase_add_test(tc, test_session_not_offered_to_other_ip);
    tcase_add_test(tc, test_session_name_case);
    tcase_add_test(tc, test_session_name_kinds);
    suite_add_tcase(s, tc);
    tc = tcase_create("sigalgs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_resume_without_sigalgs);
    tcase_add_test(tc, test_full_without_sigalgs);
    suite_add_tcase(s, tc);
    return s;
}
