/*
 * Part of test_session_bind: what a session must still satisfy when it is
 * used.  A client offers a session only under the verification policy
 * that authenticated its server (review C1); no session or ticket stands
 * for its original authentication longer than 7 days or past the
 * notAfter of the peer's verified chain, on either side (review C2, RFC
 * 8446 §4.6.1).
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

Suite *session_policy_suite(void);
int offers_psk(kitls_config *ccfg, const char *name, kitls_session *sess); /* test_session_name.c */

#define DAY INT64_C(86400)

static const struct kitls_ticket_key tk = {{9, 8, 7, 6}, {0x24, 0x24, 0x24}};

/* The outcome of one handshake. */
struct hs {
    int ok, cr, sr, c_resumed, s_resumed, c_auth, s_auth;
    size_t s_peer_len;
    kitls_session *sess; /* the client's newest session (a reference) or NULL */
};

/* One handshake for `name`, offering sess if not NULL; the client reads
 * the tickets when it succeeds. */
static struct hs shake(kitls_config *ccfg, kitls_config *scfg, const char *name,
                       kitls_session *sess)
{
    struct hs r;
    uint8_t buf[16];
    memset(&r, 0, sizeof(r));
    kitls_conn *c = tu_client(ccfg, name), *s = tu_server(scfg);
    if (sess)
        ck_assert_int_eq(kitls_conn_set_session(c, sess), 0);
    r.ok = tu_handshake(c, s, &r.cr, &r.sr);
    if (r.ok == 0) {
        tu_move(s, c);
        ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
        r.sess = kitls_conn_get_session(c);
    }
    r.c_resumed = kitls_conn_is_resumed(c);
    r.s_resumed = kitls_conn_is_resumed(s);
    r.c_auth = kitls_conn_peer_authenticated(c);
    r.s_auth = kitls_conn_peer_authenticated(s);
    (void)kitls_conn_peer_cert(s, &r.s_peer_len);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return r;
}

/* A certificate from tu_issue whose notAfter is moved to the fixture's
 * now + `days` (re-signed). */
static X509 *issue_until(EVP_PKEY *k, const char *cn, X509 *issuer, EVP_PKEY *ikey,
                         const char *const *exts, long days)
{
    time_t now = (time_t)tu_pki.now;
    X509 *x = tu_issue(k, cn, issuer, ikey, exts);
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now));
    ck_assert_int_gt(X509_sign(x, ikey, EVP_sha256()), 0);
    return x;
}

/* Add leaf (+ intermediate, if not NULL) and key k to cfg. */
static kitls_config *with_cert(kitls_config *cfg, X509 *leaf, X509 *inter, EVP_PKEY *k)
{
    size_t ln, in = 0, kn;
    char *lp = tu_x509_pem(leaf, &ln), *ip = inter ? tu_x509_pem(inter, &in) : NULL;
    char *kp = tu_pkey_pem(k, &kn);
    char *chain = malloc(ln + in + 1);
    ck_assert_ptr_nonnull(chain);
    memcpy(chain, lp, ln);
    if (ip)
        memcpy(chain + ln, ip, in);
    ck_assert_int_eq(kitls_config_add_cert_pem(cfg, chain, ln + in, kp, kn), 0);
    free(chain);
    free(lp);
    free(ip);
    free(kp);
    return cfg;
}

static const char *const server_exts[] = {"subjectAltName=DNS:localhost",
                                          "extendedKeyUsage=serverAuth", NULL};

/* A server config for a leaf that expires at now + days (from the
 * fixture CA, or through an intermediate that expires then). */
static kitls_config *server_expiring(long days, int via_intermediate)
{
    static const char *const ca_exts[] = {"basicConstraints=critical,CA:TRUE",
                                          "keyUsage=critical,keyCertSign,cRLSign", NULL};
    EVP_PKEY *k = tu_keygen(TU_P256), *ik = NULL;
    X509 *inter = NULL, *leaf;
    if (via_intermediate) {
        ik = tu_keygen(TU_P256);
        inter =
            issue_until(ik, "short-lived intermediate", tu_ca_cert(), tu_ca_key(), ca_exts, days);
        leaf = tu_issue(k, "leaf", inter, ik, server_exts); /* valid 30 days */
    } else {
        leaf = issue_until(k, "short-lived leaf", tu_ca_cert(), tu_ca_key(), server_exts, days);
    }
    kitls_config *cfg = with_cert(kitls_config_new(KITLS_ROLE_SERVER), leaf, inter, k);
    X509_free(leaf);
    X509_free(inter);
    EVP_PKEY_free(k);
    EVP_PKEY_free(ik);
    return cfg;
}

/* ---- C1: a client session is bound to the policy that verified it ---- */

/* Review C1, /tmp/rep/r1.c: a session made under verify_name 0 (no name
 * checked) for bank.example was resumed by a name-checking config, which
 * then reported peer_authenticated 1 for a certificate of
 * attacker.example. */
START_TEST(test_session_not_offered_to_name_checking_config)
{
    static const char *const exts[] = {"subjectAltName=DNS:attacker.example",
                                       "extendedKeyUsage=serverAuth", NULL};
    EVP_PKEY *k = tu_keygen(TU_P256);
    X509 *leaf = tu_issue(k, "attacker", tu_ca_cert(), tu_ca_key(), exts);
    kitls_config *scfg = with_cert(kitls_config_new(KITLS_ROLE_SERVER), leaf, NULL, k);
    kitls_config *loose = tu_client_config(), *strict = tu_client_config();
    ck_assert_int_eq(kitls_config_set_verify_name(loose, 0), 0);
    /* Control: the strict config refuses the certificate. */
    struct hs ctl = shake(strict, scfg, "bank.example", NULL);
    ck_assert_int_eq(ctl.cr, KITLS_E_CERT_NAME_MISMATCH);
    struct hs full = shake(loose, scfg, "bank.example", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_int_eq(full.c_auth, 1);
    ck_assert_ptr_nonnull(full.sess);
    /* Its own config still resumes it. */
    ck_assert_int_eq(offers_psk(loose, "bank.example", full.sess), 1);
    ck_assert_int_eq(offers_psk(strict, "bank.example", full.sess), 0);
    struct hs res = shake(strict, scfg, "bank.example", full.sess);
    ck_assert_int_ne(res.ok, 0);
    ck_assert_int_eq(res.cr, KITLS_E_CERT_NAME_MISMATCH);
    ck_assert_int_eq(res.c_resumed, 0);
    ck_assert_int_eq(res.c_auth, 0);
    kitls_session_free(res.sess);
    kitls_session_free(full.sess);
    kitls_session_free(ctl.sess);
    kitls_config_free(strict);
    kitls_config_free(loose);
    kitls_config_free(scfg);
    X509_free(leaf);
    EVP_PKEY_free(k);
}
END_TEST

/* Review C1, /tmp/rep/r1b.c: a session from a config trusting another CA
 * was resumed by a config that does not trust the server's chain.  The
 * context travels in the serialized session; a config with the same
 * anchors (another object, as after a restart) still resumes. */
START_TEST(test_session_not_offered_under_other_anchors)
{
    kitls_config *scfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_int_eq(kitls_config_add_cert_pem(scfg, tu_pki.untrusted.chain,
                                               tu_pki.untrusted.chain_len, tu_pki.untrusted.key,
                                               tu_pki.untrusted.key_len),
                     0);
    kitls_config *priv = kitls_config_new(KITLS_ROLE_CLIENT);
    kitls_config *priv2 = kitls_config_new(KITLS_ROLE_CLIENT);
    ck_assert_int_eq(kitls_config_load_ca_pem(priv, tu_pki.other_ca, tu_pki.other_ca_len), 0);
    ck_assert_int_eq(kitls_config_load_ca_pem(priv2, tu_pki.other_ca, tu_pki.other_ca_len), 0);
    kitls_config *pub = tu_client_config();
    struct hs full = shake(priv, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_ptr_nonnull(full.sess);
    struct hs res = shake(pub, scfg, "localhost", full.sess);
    ck_assert_int_ne(res.ok, 0);
    ck_assert_int_eq(res.cr, KITLS_E_CERT_UNTRUSTED);
    ck_assert_int_eq(res.c_resumed, 0);
    ck_assert_int_eq(res.c_auth, 0);
    size_t n = 0;
    ck_assert_int_eq(kitls_session_to_bytes(full.sess, NULL, 0, &n), 0);
    uint8_t *b = malloc(n);
    ck_assert_int_eq(kitls_session_to_bytes(full.sess, b, n, &n), 0);
    kitls_session *copy = kitls_session_from_bytes(b, n);
    ck_assert_ptr_nonnull(copy);
    ck_assert_int_eq(offers_psk(pub, "localhost", copy), 0);
    struct hs again = shake(priv2, scfg, "localhost", copy);
    ck_assert_int_eq(again.ok, 0);
    ck_assert_int_eq(again.c_resumed, 1);
    ck_assert_int_eq(again.c_auth, 1);
    kitls_session_free(again.sess);
    kitls_session_free(copy);
    free(b);
    kitls_session_free(res.sess);
    kitls_session_free(full.sess);
    kitls_config_free(pub);
    kitls_config_free(priv2);
    kitls_config_free(priv);
    kitls_config_free(scfg);
}
END_TEST

static int accept_all(void *ctx, kitls_conn *c, const uint8_t *const *der, const size_t *len,
                      size_t n, int result)
{
    (void)ctx, (void)c, (void)der, (void)len, (void)n, (void)result;
    return 0;
}

/* A verification callback (here one that accepts any chain, as a pinning
 * application's might) and the OCSP policy are part of the policy too:
 * a session made under one is not offered without it, nor a session made
 * without an OCSP requirement to a config that has one. */
START_TEST(test_session_bound_to_callback_and_ocsp)
{
    kitls_config *scfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_int_eq(kitls_config_add_cert_pem(scfg, tu_pki.untrusted.chain,
                                               tu_pki.untrusted.chain_len, tu_pki.untrusted.key,
                                               tu_pki.untrusted.key_len),
                     0);
    kitls_config *cb = tu_client_config(), *plain = tu_client_config();
    ck_assert_int_eq(kitls_config_set_verify_callback(cb, accept_all, NULL), 0);
    struct hs full = shake(cb, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_int_eq(full.c_auth, 1);
    ck_assert_int_eq(offers_psk(cb, "localhost", full.sess), 1);
    struct hs res = shake(plain, scfg, "localhost", full.sess);
    ck_assert_int_eq(res.cr, KITLS_E_CERT_UNTRUSTED);
    ck_assert_int_eq(res.c_resumed, 0);
    ck_assert_int_eq(res.c_auth, 0);

    kitls_config *good = tu_server_config(TU_P256), *ocsp = tu_client_config();
    ck_assert_int_eq(kitls_config_set_ocsp_policy(ocsp, KITLS_OCSP_REQUIRE), 0);
    struct hs pf = shake(plain, good, "localhost", NULL);
    ck_assert_int_eq(pf.ok, 0);
    ck_assert_int_eq(offers_psk(plain, "localhost", pf.sess), 1);
    ck_assert_int_eq(offers_psk(ocsp, "localhost", pf.sess), 0);
    struct hs po = shake(ocsp, good, "localhost", pf.sess);
    ck_assert_int_eq(po.cr, KITLS_E_OCSP_REQUIRED); /* the server staples nothing */
    ck_assert_int_eq(po.c_resumed, 0);
    kitls_session_free(po.sess);
    kitls_session_free(pf.sess);
    kitls_config_free(ocsp);
    kitls_config_free(good);
    kitls_session_free(res.sess);
    kitls_session_free(full.sess);
    kitls_config_free(plain);
    kitls_config_free(cb);
    kitls_config_free(scfg);
}
END_TEST

/* kitls_config_set_session_context on a client: configs the application
 * tags alike share sessions even with other anchors; another tag does
 * not, and the tag does not unbind the mode or the name checks. */
START_TEST(test_client_session_context_tag)
{
    kitls_config *scfg = tu_server_config(TU_P256);
    kitls_config *a = tu_client_config(), *a2 = tu_client_config(), *b = tu_client_config();
    kitls_config *a_noname = tu_client_config(), *untagged = tu_client_config();
    ck_assert_int_eq(kitls_config_load_ca_pem(a2, tu_pki.other_ca, tu_pki.other_ca_len), 0);
    ck_assert_int_eq(kitls_config_set_verify_name(a_noname, 0), 0);
    kitls_config *tagged[4] = {a, a2, b, a_noname};
    const char *tags[4] = {"fleet", "fleet", "other", "fleet"};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(
            kitls_config_set_session_context(tagged[i], (const uint8_t *)tags[i], strlen(tags[i])),
            0);
    struct hs full = shake(a, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_int_eq(offers_psk(a2, "localhost", full.sess), 1);
    ck_assert_int_eq(offers_psk(b, "localhost", full.sess), 0);
    ck_assert_int_eq(offers_psk(a_noname, "localhost", full.sess), 0);
    ck_assert_int_eq(offers_psk(untagged, "localhost", full.sess), 0);
    struct hs res = shake(a2, scfg, "localhost", full.sess);
    ck_assert_int_eq(res.c_resumed, 1);
    ck_assert_int_eq(res.c_auth, 1);
    kitls_session_free(res.sess);
    kitls_session_free(full.sess);
    for (int i = 0; i < 4; i++)
        kitls_config_free(tagged[i]);
    kitls_config_free(untagged);
    kitls_config_free(scfg);
}
END_TEST

/* ---- C2: resumption does not extend authentication indefinitely ---- */

static int64_t c_now, s_now; /* the client's and the server's clocks */

/* Server: client certificates required, 7-day tickets, its own clock. */
static kitls_config *auth_server(void)
{
    kitls_config *cfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_verify(cfg, KITLS_VERIFY_REQUIRE), 0);
    ck_assert_int_eq(kitls_config_set_tickets(cfg, 1, 7 * 86400), 0);
    ck_assert_int_eq(kitls_config_set_ticket_keys(cfg, &tk, 1), 0);
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &s_now), 0);
    return cfg;
}

/* Client on its own clock with the fixture's client certificate, or one
 * that expires at now + days (days > 0). */
static kitls_config *auth_client(long days)
{
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &c_now), 0);
    if (days <= 0) {
        ck_assert_int_eq(kitls_config_add_cert_pem(cfg, tu_pki.client.chain,
                                                   tu_pki.client.chain_len, tu_pki.client.key,
                                                   tu_pki.client.key_len),
                         0);
        return cfg;
    }
    static const char *const exts[] = {"extendedKeyUsage=clientAuth", NULL};
    EVP_PKEY *k = tu_keygen(TU_P256);
    X509 *x = issue_until(k, "short-lived client", tu_ca_cert(), tu_ca_key(), exts, days);
    with_cert(cfg, x, NULL, k);
    X509_free(x);
    EVP_PKEY_free(k);
    return cfg;
}

/* Review C2, /tmp/rep/r2.c: one clock, a resumption every 6 days, each
 * from the previous one's ticket.  Each ticket used to copy the original
 * verdict with a fresh issue time, so the chain resumed (with
 * peer_authenticated 1 on both sides) for ever, past the certificates'
 * expiry at day 30.  Now a resumption stands for at most 7 days of the
 * full handshake it descends from, and never past day 30. */
START_TEST(test_resumption_chain_bounded)
{
    static const struct {
        int64_t day;
        int resumed, ok;
    } steps[] = {
        {0, 0, 1},              /* full */
        {6, 1, 1},              /* 6 days after the authentication */
        {12, 0, 1},             /* 12 days: a full handshake authenticates again */
        {18, 1, 1}, {25, 0, 1}, /* 13 days after day 12 */
        {31, 0, 0},             /* 6 days, but the certificates expired on day 30 */
    };
    kitls_config *scfg = auth_server(), *ccfg = auth_client(0);
    kitls_session *sess = NULL;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        c_now = s_now = tu_pki.now + steps[i].day * DAY;
        struct hs r = shake(ccfg, scfg, "localhost", sess);
        char what[64];
        snprintf(what, sizeof(what), "day %d", (int)steps[i].day);
        ck_assert_msg(r.s_resumed == steps[i].resumed && r.c_resumed == steps[i].resumed,
                      "%s: resumed server %d client %d, expected %d", what, r.s_resumed,
                      r.c_resumed, steps[i].resumed);
        ck_assert_msg((r.ok == 0) == steps[i].ok, "%s: handshake %d (client %d server %d)", what,
                      r.ok, r.cr, r.sr);
        ck_assert_int_eq(r.s_auth, steps[i].ok);
        ck_assert_int_eq(r.c_auth, steps[i].ok);
        if (!steps[i].ok)
            ck_assert_int_eq(r.cr, KITLS_E_CERT_EXPIRED);
        if (r.sess) {
            kitls_session_free(sess);
            sess = r.sess;
        }
    }
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* The server's own limits, with a client whose clock runs behind (so it
 * still offers its session).  _i 0: 8 days after the authentication (a
 * ticket from a resumption at day 6, itself only 2 days old).  _i 1: the
 * client's certificate expired on day 3, the ticket is 4 days old.  The
 * server declines; the full handshake then authenticates afresh, or
 * finds the certificate expired. */
START_TEST(test_server_declines_stale_authentication)
{
    kitls_config *scfg = auth_server(), *ccfg = auth_client(_i == 0 ? 0 : 3);
    c_now = s_now = tu_pki.now;
    struct hs full = shake(ccfg, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    ck_assert_int_eq(full.s_auth, 1);
    kitls_session *sess = kitls_session_up_ref(full.sess);
    if (_i == 0) {
        c_now = s_now = tu_pki.now + 6 * DAY;
        struct hs mid = shake(ccfg, scfg, "localhost", sess);
        ck_assert_int_eq(mid.s_resumed, 1);
        kitls_session_free(sess);
        sess = mid.sess;
        c_now = tu_pki.now + 6 * DAY + 3600;
        s_now = tu_pki.now + 8 * DAY;
    } else {
        c_now = tu_pki.now + 1 * DAY;
        /* Control: resumes while the certificate is valid. */
        s_now = tu_pki.now + 2 * DAY;
        struct hs ok = shake(ccfg, scfg, "localhost", sess);
        ck_assert_int_eq(ok.s_resumed, 1);
        ck_assert_int_eq(ok.s_auth, 1);
        kitls_session_free(ok.sess);
        s_now = tu_pki.now + 4 * DAY;
    }
    ck_assert_int_eq(offers_psk(ccfg, "localhost", sess), 1);
    struct hs r = shake(ccfg, scfg, "localhost", sess);
    ck_assert_int_eq(r.s_resumed, 0);
    if (_i == 0) {
        ck_assert_int_eq(r.ok, 0);
        ck_assert_int_eq(r.s_auth, 1);
        ck_assert_uint_gt(r.s_peer_len, 0);
    } else {
        ck_assert_int_ne(r.ok, 0);
        ck_assert_int_eq(r.sr, KITLS_E_CERT_EXPIRED);
        ck_assert_int_eq(r.s_auth, 0);
    }
    kitls_session_free(r.sess);
    kitls_session_free(sess);
    kitls_session_free(full.sess);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* The client's own limits, with a server whose clock runs behind (so it
 * would still resume): the server's leaf (_i 0) or its intermediate CA
 * (_i 1: the earliest notAfter of the verified chain counts) expired on
 * day 3; the session is 4 days old.  Not offered; the full handshake
 * finds the certificate expired.  Also 8 days after the authentication
 * with a valid chain (_i 2). */
START_TEST(test_client_stops_offering_stale_session)
{
    kitls_config *scfg = _i < 2 ? server_expiring(3, _i) : tu_server_config(TU_P256);
    kitls_config *ccfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_time(scfg, tu_time_fixed, &s_now), 0);
    ck_assert_int_eq(kitls_config_set_time(ccfg, tu_time_fixed, &c_now), 0);
    ck_assert_int_eq(kitls_config_set_tickets(scfg, 1, 7 * 86400), 0);
    c_now = s_now = tu_pki.now;
    struct hs full = shake(ccfg, scfg, "localhost", NULL);
    ck_assert_int_eq(full.ok, 0);
    kitls_session *sess = kitls_session_up_ref(full.sess);
    if (_i == 2) {
        c_now = s_now = tu_pki.now + 6 * DAY;
        struct hs mid = shake(ccfg, scfg, "localhost", sess);
        ck_assert_int_eq(mid.c_resumed, 1);
        kitls_session_free(sess);
        sess = mid.sess;
        s_now = tu_pki.now + 6 * DAY + 3600;
        c_now = tu_pki.now + 8 * DAY;
    } else {
        /* Control: offered while the chain is valid. */
        c_now = tu_pki.now + 2 * DAY;
        ck_assert_int_eq(offers_psk(ccfg, "localhost", sess), 1);
        s_now = tu_pki.now + 1 * DAY;
        c_now = tu_pki.now + 4 * DAY;
    }
    ck_assert_int_eq(offers_psk(ccfg, "localhost", sess), 0);
    struct hs r = shake(ccfg, scfg, "localhost", sess);
    ck_assert_int_eq(r.c_resumed, 0);
    if (_i == 0) {
        /* Control: a callback that accepted the chain after it expired
         * is the policy; a full handshake would accept it again, so its
         * session lasts the 7 days (docs/trust-policy.md). */
        kitls_config *lax = tu_client_config();
        ck_assert_int_eq(kitls_config_set_verify_callback(lax, accept_all, NULL), 0);
        ck_assert_int_eq(kitls_config_set_time(lax, tu_time_fixed, &c_now), 0);
        c_now = tu_pki.now + 3 * DAY + 3600;
        struct hs lf = shake(lax, scfg, "localhost", NULL);
        ck_assert_int_eq(lf.c_auth, 1);
        c_now = tu_pki.now + 4 * DAY;
        ck_assert_int_eq(offers_psk(lax, "localhost", lf.sess), 1);
        struct hs lr = shake(lax, scfg, "localhost", lf.sess);
        ck_assert_int_eq(lr.c_resumed, 1);
        ck_assert_int_eq(lr.c_auth, 1);
        kitls_session_free(lr.sess);
        kitls_session_free(lf.sess);
        kitls_config_free(lax);
    }
    if (_i == 2) {
        ck_assert_int_eq(r.ok, 0);
        ck_assert_int_eq(r.c_auth, 1);
    } else {
        ck_assert_int_eq(r.cr, KITLS_E_CERT_EXPIRED);
        ck_assert_int_eq(r.c_auth, 0);
    }
    kitls_session_free(r.sess);
    kitls_session_free(sess);
    kitls_session_free(full.sess);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

Suite *session_policy_suite(void)
{
    Suite *s = suite_create("session_policy");
    TCase *tc = tcase_create("client_policy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_session_not_offered_to_name_checking_config);
    tcase_add_test(tc, test_session_not_offered_under_other_anchors);
    tcase_add_test(tc, test_session_bound_to_callback_and_ocsp);
    tcase_add_test(tc, test_client_session_context_tag);
    suite_add_tcase(s, tc);
    tc = tcase_create("auth_age");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_resumption_chain_bounded);
    tcase_add_loop_test(tc, test_server_declines_stale_authentication, 0, 2);
    tcase_add_loop_test(tc, test_client_stops_offering_stale_session, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
