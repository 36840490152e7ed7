/*
 * What a session binds, client against server in memory (public API):
 * tickets bind the server's client-authentication policy and carry the
 * client's certificate and verdict (review F2); a resumed connection
 * reports the peer as the original did, on both sides; a verifying client
 * needs a server name unless it opts out (F6); a session goes only to the
 * name it was made for (F7); a resuming ClientHello needs no
 * signature_algorithms (RFC 8446 §9.2, §4.2.3).  test_session_policy.c:
 * a client session is bound to its verification policy (review C1), and
 * authentication does not outlive 7 days or the peer's chain (C2).
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const struct kitls_ticket_key tk = {{1, 2, 3, 4}, {0x42, 0x42, 0x42, 0x42}};

/* Let the client read what the server sent after the handshake (tickets). */
static void drain(kitls_conn *from, kitls_conn *to)
{
    uint8_t buf[64];
    tu_move(from, to);
    ck_assert_int_eq(kitls_conn_read(to, buf, sizeof(buf)), KITLS_E_WANT_READ);
}

/* A server config sharing the fixed ticket key, with a verify mode. */
static kitls_config *server(enum kitls_verify v)
{
    kitls_config *cfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_verify(cfg, v), 0);
    ck_assert_int_eq(kitls_config_set_ticket_keys(cfg, &tk, 1), 0);
    return cfg;
}

/* A client config; with_cert: the fixture's client certificate. */
static kitls_config *client(int with_cert)
{
    kitls_config *cfg = tu_client_config();
    if (with_cert)
        ck_assert_int_eq(kitls_config_add_cert_pem(cfg, tu_pki.client.chain,
                                                   tu_pki.client.chain_len, tu_pki.client.key,
                                                   tu_pki.client.key_len),
                         0);
    return cfg;
}

/* The outcome of one handshake and what each side reports. */
struct run {
    int ok, cr, sr, c_resumed, s_resumed;
    int c_auth, s_auth;
    uint8_t c_peer[16384], s_peer[16384];
    size_t c_peer_len, s_peer_len;
    kitls_session *sess; /* the client's newest session (a reference) or NULL */
};

static void run_free(struct run *r)
{
    kitls_session_free(r->sess);
}

/* One handshake for `name`, offering `sess` if not NULL; reads the
 * tickets when it succeeds. */
static struct run handshake(kitls_config *ccfg, kitls_config *scfg, const char *name,
                            kitls_session *sess)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    kitls_conn *c = tu_client(ccfg, name), *s = tu_server(scfg);
    if (sess)
        ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    r.ok = tu_handshake(c, s, &r.cr, &r.sr);
    if (r.ok == 0) {
        drain(s, c);
        r.sess = kitls_conn_get_session(c);
    }
    r.c_resumed = kitls_conn_is_resumed(c);
    r.s_resumed = kitls_conn_is_resumed(s);
    r.c_auth = kitls_conn_peer_authenticated(c);
    r.s_auth = kitls_conn_peer_authenticated(s);
    const uint8_t *p = kitls_conn_peer_cert(c, &r.c_peer_len);
    ck_assert_uint_le(r.c_peer_len, sizeof(r.c_peer));
    if (p)
        memcpy(r.c_peer, p, r.c_peer_len);
    p = kitls_conn_peer_cert(s, &r.s_peer_len);
    ck_assert_uint_le(r.s_peer_len, sizeof(r.s_peer));
    if (p)
        memcpy(r.s_peer, p, r.s_peer_len);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return r;
}

static void same_cert(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    ck_assert_uint_gt(an, 0);
    ck_assert_uint_eq(an, bn);
    ck_assert_int_eq(memcmp(a, b, an), 0);
}

/* ---- F2: tickets bind client authentication ---- */

/* Review F2, reproduction A: one REQUIRE config.  The resumed connection
 * used to have no client certificate and peer_authenticated 0 on the
 * server. */
START_TEST(test_require_resume_keeps_client_identity)
{
    kitls_config *scfg = server(KITLS_VERIFY_REQUIRE), *ccfg = client(1);
    struct run full = handshake(ccfg, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_int_eq(full.s_auth, 1);
    ck_assert_uint_gt(full.s_peer_len, 0);
    ck_assert_ptr_nonnull(full.sess);
    struct run res = handshake(ccfg, scfg, "localhost", full.sess);
    ck_assert_int_eq(res.ok, 0);
    ck_assert_int_eq(res.s_resumed, 1);
    ck_assert_int_eq(res.s_auth, 1);
    same_cert(res.s_peer, res.s_peer_len, full.s_peer, full.s_peer_len);
    /* A ticket issued on the resumed connection carries it on. */
    ck_assert_ptr_nonnull(res.sess);
    struct run again = handshake(ccfg, scfg, "localhost", res.sess);
    ck_assert_int_eq(again.ok, 0);
    ck_assert_int_eq(again.s_resumed, 1);
    ck_assert_int_eq(again.s_auth, 1);
    same_cert(again.s_peer, again.s_peer_len, full.s_peer, full.s_peer_len);
    run_free(&again);
    run_free(&res);
    run_free(&full);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* Review F2, reproduction B: a ticket from a config without client auth,
 * then a REQUIRE config sharing the ticket key; a client without a
 * certificate used to resume there.  Now the PSK is ignored: the full
 * handshake asks for a certificate and fails as it does without a ticket. */
START_TEST(test_open_ticket_on_require_config)
{
    static const enum kitls_verify lenient[2] = {KITLS_VERIFY_NONE, KITLS_VERIFY_REQUEST};
    kitls_config *strict = server(KITLS_VERIFY_REQUIRE), *ccfg = client(0);
    kitls_config *open = server(lenient[_i]);
    struct run full = handshake(ccfg, open, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_ptr_nonnull(full.sess);
    /* Control: without a ticket the cert-less client is refused. */
    struct run ctl = handshake(ccfg, strict, "localhost", NULL);
    ck_assert_int_eq(ctl.sr, KITLS_E_CERT_REQUIRED);
    struct run res = handshake(ccfg, strict, "localhost", full.sess);
    ck_assert_int_eq(res.s_resumed, 0);
    ck_assert_int_ne(res.ok, 0);
    ck_assert_int_eq(res.sr, KITLS_E_CERT_REQUIRED);
    ck_assert_int_eq(res.s_auth, 0);
    run_free(&res);
    run_free(&ctl);
    run_free(&full);
    kitls_config_free(open);
    kitls_config_free(strict);
    kitls_config_free(ccfg);
}
END_TEST

/* Client auth switched on with persisted ticket keys: an older ticket no
 * longer resumes (a client with a certificate gets a full handshake and
 * is authenticated by it). */
START_TEST(test_ticket_from_before_client_auth)
{
    kitls_config *before = server(KITLS_VERIFY_NONE), *ccfg = client(1);
    struct run full = handshake(ccfg, before, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_int_eq(full.s_auth, 0);
    ck_assert_uint_eq(full.s_peer_len, 0);
    /* Same config again: resumes, still without client identity. */
    struct run same = handshake(ccfg, before, "localhost", full.sess);
    ck_assert_int_eq(same.s_resumed, 1);
    ck_assert_int_eq(same.s_auth, 0);
    ck_assert_uint_eq(same.s_peer_len, 0);
    kitls_config *after = server(KITLS_VERIFY_REQUIRE);
    struct run res = handshake(ccfg, after, "localhost", full.sess);
    ck_assert_int_eq(res.ok, 0);
    ck_assert_int_eq(res.s_resumed, 0);
    ck_assert_int_eq(res.s_auth, 1);
    ck_assert_uint_gt(res.s_peer_len, 0);
    run_free(&res);
    run_free(&same);
    run_free(&full);
    kitls_config_free(after);
    kitls_config_free(before);
    kitls_config_free(ccfg);
}
END_TEST

/* Other client CAs (the default context covers the trust anchors): older
 * tickets no longer resume. */
START_TEST(test_ticket_after_client_ca_change)
{
    kitls_config *v1 = server(KITLS_VERIFY_REQUIRE), *ccfg = client(1);
    struct run full = handshake(ccfg, v1, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    kitls_config *v2 = server(KITLS_VERIFY_REQUIRE);
    ck_assert_int_eq(kitls_config_load_ca_pem(v2, tu_pki.other_ca, tu_pki.other_ca_len), 0);
    struct run res = handshake(ccfg, v2, "localhost", full.sess);
    ck_assert_int_eq(res.ok, 0);
    ck_assert_int_eq(res.s_resumed, 0);
    ck_assert_int_eq(res.s_auth, 1);
    /* The same anchors loaded in another order make the same context. */
    kitls_config *v3 = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(v3);
    ck_assert_int_eq(kitls_config_add_cert_pem(
                         v3, tu_pki.server[TU_P256].chain, tu_pki.server[TU_P256].chain_len,
                         tu_pki.server[TU_P256].key, tu_pki.server[TU_P256].key_len),
                     0);
    ck_assert_int_eq(kitls_config_load_ca_pem(v3, tu_pki.other_ca, tu_pki.other_ca_len), 0);
    ck_assert_int_eq(kitls_config_load_ca_pem(v3, tu_pki.ca, tu_pki.ca_len), 0);
    ck_assert_int_eq(kitls_config_set_verify(v3, KITLS_VERIFY_REQUIRE), 0);
    ck_assert_int_eq(kitls_config_set_ticket_keys(v3, &tk, 1), 0);
    struct run v2t = handshake(ccfg, v2, "localhost", NULL);
    ck_assert_int_eq(v2t.ok, 0);
    struct run on3 = handshake(ccfg, v3, "localhost", v2t.sess);
    ck_assert_int_eq(on3.ok, 0);
    ck_assert_int_eq(on3.s_resumed, 1);
    ck_assert_int_eq(on3.s_auth, 1);
    run_free(&on3);
    run_free(&v2t);
    run_free(&res);
    run_free(&full);
    kitls_config_free(v3);
    kitls_config_free(v2);
    kitls_config_free(v1);
    kitls_config_free(ccfg);
}
END_TEST

static kitls_config *with_context(kitls_config *cfg, const char *tag)
{
    ck_assert_int_eq(kitls_config_set_session_context(cfg, (const uint8_t *)tag, strlen(tag)), 0);
    return cfg;
}

/* The application's context: tickets resume only under the same one, and
 * it replaces the anchor-derived default (the mode stays bound). */
START_TEST(test_session_context_tag)
{
    kitls_config *ccfg = client(1);
    kitls_config *a = with_context(server(KITLS_VERIFY_REQUIRE), "pool-a");
    kitls_config *a2 = with_context(server(KITLS_VERIFY_REQUIRE), "pool-a");
    ck_assert_int_eq(kitls_config_load_ca_pem(a2, tu_pki.other_ca, tu_pki.other_ca_len), 0);
    kitls_config *b = with_context(server(KITLS_VERIFY_REQUIRE), "pool-b");
    kitls_config *d = server(KITLS_VERIFY_REQUIRE); /* default context */
    kitls_config *a_req = with_context(server(KITLS_VERIFY_REQUEST), "pool-a");
    struct run full = handshake(ccfg, a, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    struct run r;
    r = handshake(ccfg, a2, "localhost", full.sess);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_int_eq(r.s_resumed, 1);
    ck_assert_int_eq(r.s_auth, 1);
    run_free(&r);
    kitls_config *others[3] = {b, d, a_req};
    for (int i = 0; i < 3; i++) {
        r = handshake(ccfg, others[i], "localhost", full.sess);
        ck_assert_int_eq(r.ok, 0);
        ck_assert_msg(r.s_resumed == 0, "config %d resumed a ticket of another context", i);
        run_free(&r);
    }
    /* Argument checks; NULL restores the default. */
    kitls_config *x = kitls_config_new(KITLS_ROLE_SERVER);
    uint8_t big[KITLS_MAX_SESSION_CONTEXT + 1] = {0};
    ck_assert_int_eq(kitls_config_set_session_context(x, big, sizeof(big)), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_session_context(x, NULL, 1), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_session_context(x, big, sizeof(big) - 1), 0);
    ck_assert_int_eq(kitls_config_set_session_context(x, NULL, 0), 0);
    ck_assert_int_eq(kitls_config_set_session_context(NULL, NULL, 0), KITLS_E_INVALID_ARG);
    kitls_config_free(x);
    run_free(&full);
    kitls_config_free(a_req);
    kitls_config_free(d);
    kitls_config_free(b);
    kitls_config_free(a2);
    kitls_config_free(a);
    kitls_config_free(ccfg);
}
END_TEST

/* The client after resumption reports what the original connection
 * reported: the server's leaf, and peer_authenticated 1 only if the chain
 * was verified then (it used to report 1 and no certificate). */
START_TEST(test_client_resumed_peer_state)
{
    kitls_config *scfg = server(KITLS_VERIFY_NONE);
    kitls_config *verifying = client(0), *blind = client(0);
    ck_assert_int_eq(kitls_config_set_verify(blind, KITLS_VERIFY_NONE), 0);

    struct run full = handshake(verifying, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_int_eq(full.c_auth, 1);
    struct run res = handshake(verifying, scfg, "localhost", full.sess);
    ck_assert_int_eq(res.c_resumed, 1);
    ck_assert_int_eq(res.c_auth, 1);
    same_cert(res.c_peer, res.c_peer_len, full.c_peer, full.c_peer_len);

    /* Serialized and parsed back, the session keeps both. */
    size_t n = 0;
    ck_assert_int_eq(kitls_session_to_bytes(full.sess, NULL, 0, &n), 0);
    uint8_t *buf = malloc(n);
    ck_assert_int_eq(kitls_session_to_bytes(full.sess, buf, n, &n), 0);
    kitls_session *copy = kitls_session_from_bytes(buf, n);
    ck_assert_ptr_nonnull(copy);
    struct run fromb = handshake(verifying, scfg, "localhost", copy);
    ck_assert_int_eq(fromb.c_resumed, 1);
    ck_assert_int_eq(fromb.c_auth, 1);
    same_cert(fromb.c_peer, fromb.c_peer_len, full.c_peer, full.c_peer_len);

    /* An original that did not verify: 0 before and after resumption. */
    struct run bfull = handshake(blind, scfg, "localhost", NULL);
    ck_assert_int_eq(bfull.ok, 0);
    ck_assert_int_eq(bfull.c_auth, 0);
    struct run bres = handshake(blind, scfg, "localhost", bfull.sess);
    ck_assert_int_eq(bres.c_resumed, 1);
    ck_assert_int_eq(bres.c_auth, 0);
    same_cert(bres.c_peer, bres.c_peer_len, bfull.c_peer, bfull.c_peer_len);

    /* Nor does a verifying client offer that unverified session: it
     * verifies in a full handshake instead. */
    struct run upgrade = handshake(verifying, scfg, "localhost", bfull.sess);
    ck_assert_int_eq(upgrade.ok, 0);
    ck_assert_int_eq(upgrade.c_resumed, 0);
    ck_assert_int_eq(upgrade.c_auth, 1);

    run_free(&upgrade);
    run_free(&bres);
    run_free(&bfull);
    run_free(&fromb);
    kitls_session_free(copy);
    free(buf);
    run_free(&res);
    run_free(&full);
    kitls_config_free(blind);
    kitls_config_free(verifying);
    kitls_config_free(scfg);
}
END_TEST

/* AES-256-GCM under the fixed ticket key, in session.c's ticket layout:
 * id(4) nonce(12) ciphertext tag(16), the id and nonce as AAD. */
static size_t seal_ticket(const uint8_t *pt, size_t n, uint8_t *t)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l = 0;
    memcpy(t, tk.id, 4);
    memset(t + 4, 0x5a, 12);
    ck_assert(x && EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, tk.key, t + 4) &&
              EVP_EncryptUpdate(x, NULL, &l, t, 16) &&
              EVP_EncryptUpdate(x, t + 16, &l, pt, (int)n) &&
              EVP_EncryptFinal_ex(x, t + 16 + l, &l) &&
              EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, t + 16 + n));
    EVP_CIPHER_CTX_free(x);
    return 16 + n + 16;
}

/* Tickets of the previous formats (1: no policy, no client identity; 2:
 * no age of the authentication) are declined (full handshake), as are
 * serialized sessions of those formats.  The ticket is made by hand under
 * the server's key with the PSK of a real session, so it only differs in
 * format. */
START_TEST(test_old_format_declined)
{
    const int fmt = 1 + _i;
    kitls_config *scfg = server(KITLS_VERIFY_NONE), *ccfg = client(0);
    struct run full = handshake(ccfg, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    size_t n = 0;
    ck_assert_int_eq(kitls_session_to_bytes(full.sess, NULL, 0, &n), 0);
    uint8_t *b = malloc(n);
    ck_assert_int_eq(kitls_session_to_bytes(full.sess, b, n, &n), 0);
    ck_assert_uint_eq(b[3], 32); /* format(1) suite(2) psk<1>: AES-128-GCM-SHA256 */
    /* Format 1: format suite psk<1> age_add lifetime max_early received(8)
     * alpn<1> sni<1>; format 2 adds peer_auth(1) peer_cert<3>, and in
     * tickets the context(32); format 3 (now) then auth_time(8)
     * not_after(8) context(32) in both. */
    size_t sni_end = 1 + 2 + 1 + 32 + 20, cert_end;
    sni_end += 1 + b[sni_end];
    sni_end += 1 + b[sni_end];
    cert_end = sni_end + 1;
    cert_end += 3 + ((size_t)b[cert_end] << 16 | (size_t)b[cert_end + 1] << 8 | b[cert_end + 2]);
    size_t prefix = fmt == 1 ? sni_end : cert_end;
    uint8_t pt[2048], t[2200];
    ck_assert_uint_le(prefix + 32, sizeof(pt));
    memcpy(pt, b, prefix);
    pt[0] = (uint8_t)fmt;
    size_t pn = prefix;
    if (fmt == 2) {
        memset(pt + pn, 0, 32);
        pn += 32;
    }
    size_t tn = seal_ticket(pt, pn, t);
    /* A client session of that format with that ticket: refused when parsed. */
    uint8_t old[4400];
    size_t on = prefix;
    memcpy(old, pt, prefix);
    old[on++] = (uint8_t)(tn >> 8);
    old[on++] = (uint8_t)tn;
    memcpy(old + on, t, tn);
    on += tn;
    ck_assert_ptr_null(kitls_session_from_bytes(old, on));
    /* The same ticket in a current session: the server declines it. */
    uint8_t cur[4400];
    size_t at = cert_end + 8 + 8 + 32, cn;
    ck_assert_uint_le(at + 2 + tn, sizeof(cur));
    memcpy(cur, b, at);
    cn = at;
    cur[cn++] = (uint8_t)(tn >> 8);
    cur[cn++] = (uint8_t)tn;
    memcpy(cur + cn, t, tn);
    cn += tn;
    kitls_session *s = kitls_session_from_bytes(cur, cn);
    ck_assert_ptr_nonnull(s);
    struct run res = handshake(ccfg, scfg, "localhost", s);
    ck_assert_int_eq(res.ok, 0);
    ck_assert_int_eq(res.s_resumed, 0);
    /* Control: the real ticket resumes. */
    struct run ctl = handshake(ccfg, scfg, "localhost", full.sess);
    ck_assert_int_eq(ctl.s_resumed, 1);
    run_free(&ctl);
    run_free(&res);
    kitls_session_free(s);
    free(b);
    run_free(&full);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* A client leaf too large for a ticket (over 8192 bytes, docs/limits.md):
 * the connection works, but no ticket is issued rather than one that
 * would resume without the client's identity. */
START_TEST(test_no_ticket_for_oversized_client_cert)
{
    char *san = malloc(16384);
    size_t n = (size_t)snprintf(san, 16384, "subjectAltName=");
    for (int i = 0; i < 240; i++)
        n += (size_t)snprintf(san + n, 16384 - n, "%sDNS:client-%03d.a-long-name.example.test",
                              i ? "," : "", i);
    const char *exts[3] = {san, "extendedKeyUsage=clientAuth", NULL};
    EVP_PKEY *k = tu_keygen(TU_P256);
    X509 *x = tu_issue(k, "big client", tu_ca_cert(), tu_ca_key(), exts);
    size_t cl, kl;
    char *cp = tu_x509_pem(x, &cl), *kp = tu_pkey_pem(k, &kl);
    kitls_config *ccfg = tu_client_config(), *scfg = server(KITLS_VERIFY_REQUIRE);
    ck_assert_int_eq(kitls_config_add_cert_pem(ccfg, cp, cl, kp, kl), 0);
    struct run full = handshake(ccfg, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_int_eq(full.s_auth, 1);
    ck_assert_uint_gt(full.s_peer_len, 8192);
    ck_assert_ptr_null(full.sess);
    run_free(&full);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
    free(cp);
    free(kp);
    free(san);
    X509_free(x);
    EVP_PKEY_free(k);
}
END_TEST

Suite *session_bind_suite(void);
Suite *session_name_suite(void);
Suite *session_policy_suite(void);

Suite *session_bind_suite(void)
{
    Suite *s = suite_create("session_bind");
    TCase *tc = tcase_create("ticket_policy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_require_resume_keeps_client_identity);
    tcase_add_loop_test(tc, test_open_ticket_on_require_config, 0, 2);
    tcase_add_test(tc, test_ticket_from_before_client_auth);
    tcase_add_test(tc, test_ticket_after_client_ca_change);
    tcase_add_test(tc, test_session_context_tag);
    tcase_add_loop_test(tc, test_old_format_declined, 0, 2);
    tcase_add_test(tc, test_no_ticket_for_oversized_client_cert);
    suite_add_tcase(s, tc);
    tc = tcase_create("peer_state");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_client_resumed_peer_state);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_pki_init();
    SRunner *sr = srunner_create(session_bind_suite());
    srunner_add_suite(sr, session_name_suite());
    srunner_add_suite(sr, session_policy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
