/*
 * OCSP stapling through the public API (issue 10 point 1): the server
 * staples a configured response when the client asks; the client verifies
 * it (signer, validity window with skew, certificate ID, status) under its
 * policy (off / use-if-stapled / require, must-staple).  Responses are made
 * here with libcrypto's OCSP_basic_sign against the fixture CA.
 */
#include <check.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define NO_NEXT 0x7fffffffL /* make_resp: no nextUpdate */

/* A leaf issued for the tests, with its key and PEM forms. */
struct leaf {
    X509 *x;
    EVP_PKEY *k;
    char *chain; /* PEM: leaf, then the extra chain certificates */
    size_t chain_len;
    char *key;
    size_t key_len;
};

static struct leaf leaf;       /* CA -> leaf (localhost) */
static struct leaf leaf_other; /* CA -> another leaf */
static struct leaf leaf_ms;    /* CA -> leaf with TLS Feature must-staple */
static struct leaf leaf_int;   /* CA -> inter -> leaf; chain sent with inter */
static struct leaf leaf_decoy; /* leaf's certificate with other_ca as "issuer" in the chain */
static X509 *inter;
static EVP_PKEY *inter_key;
static X509 *resp_ok;      /* CA -> delegated responder (OCSPSigning EKU) */
static X509 *resp_noeku;   /* CA -> responder without OCSPSigning */
static X509 *resp_foreign; /* other_ca -> responder with OCSPSigning */
static EVP_PKEY *resp_key;

static const char *const leaf_exts[] = {
    "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth", "subjectAltName=DNS:localhost", NULL};
static const char *const ms_exts[] = {
    "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",        "subjectAltName=DNS:localhost",
    "tlsfeature=status_request",          NULL};

static void append(char **s, size_t *len, const char *more, size_t n)
{
    *s = realloc(*s, *len + n + 1);
    memcpy(*s + *len, more, n);
    *len += n;
    (*s)[*len] = 0;
}

static void make_leaf(struct leaf *l, const char *cn, X509 *issuer, EVP_PKEY *ikey,
                      const char *const *exts, X509 *extra)
{
    l->k = tu_keygen(TU_P256);
    l->x = tu_issue(l->k, cn, issuer, ikey, exts);
    l->chain = tu_x509_pem(l->x, &l->chain_len);
    if (extra) {
        size_t n;
        char *p = tu_x509_pem(extra, &n);
        append(&l->chain, &l->chain_len, p, n);
        free(p);
    }
    l->key = tu_pkey_pem(l->k, &l->key_len);
}

static void fixture(void)
{
    X509 *ca = tu_ca_cert();
    EVP_PKEY *ca_key = tu_ca_key();
    make_leaf(&leaf, "ocsp.localhost", ca, ca_key, leaf_exts, NULL);
    make_leaf(&leaf_other, "other.localhost", ca, ca_key, leaf_exts, NULL);
    make_leaf(&leaf_ms, "muststaple.localhost", ca, ca_key, ms_exts, NULL);
    static const char *const ca_exts[] = {"basicConstraints=critical,CA:TRUE",
                                          "keyUsage=critical,keyCertSign,cRLSign", NULL};
    inter_key = tu_keygen(TU_P256);
    inter = tu_issue(inter_key, "kitls test intermediate", ca, ca_key, ca_exts);
    make_leaf(&leaf_int, "int.localhost", inter, inter_key, leaf_exts, inter);
    /* Same leaf certificate and key as `leaf`, but the chain carries
     * other_ca second: the server then checks its staple against other_ca
     * while the client (which builds the path to the real CA) checks it
     * against the CA.  This lets a test make the server staple a response
     * whose status for the real issuer is revoked or missing — something
     * kitls_config_set_ocsp_staple() rightly refuses for a correct chain. */
    leaf_decoy.x = leaf.x;
    leaf_decoy.k = leaf.k;
    leaf_decoy.chain = tu_x509_pem(leaf.x, &leaf_decoy.chain_len);
    size_t n;
    char *p = tu_x509_pem(tu_other_ca_cert(), &n);
    append(&leaf_decoy.chain, &leaf_decoy.chain_len, p, n);
    free(p);
    leaf_decoy.key = tu_pkey_pem(leaf.k, &leaf_decoy.key_len);

    resp_key = tu_keygen(TU_P256);
    static const char *const r_exts[] = {"basicConstraints=critical,CA:FALSE",
                                         "keyUsage=critical,digitalSignature",
                                         "extendedKeyUsage=OCSPSigning", NULL};
    static const char *const r_noeku[] = {"basicConstraints=critical,CA:FALSE",
                                          "keyUsage=critical,digitalSignature",
                                          "extendedKeyUsage=serverAuth", NULL};
    resp_ok = tu_issue(resp_key, "kitls OCSP responder", ca, ca_key, r_exts);
    resp_noeku = tu_issue(resp_key, "kitls not a responder", ca, ca_key, r_noeku);
    resp_foreign = tu_issue(resp_key, "kitls foreign responder", tu_other_ca_cert(),
                            tu_other_ca_key(), r_exts);
}

/* One single response for (cert, issuer). */
struct single {
    X509 *cert, *issuer;
    int status; /* V_OCSP_CERTSTATUS_* */
};

/*
 * A DER OCSPResponse (successful) with the given single responses, signed
 * by (signer, skey), `certs` included unless OCSP_NOCERTS is in flags.
 * this_off / next_off are seconds from the fixture's now (NO_NEXT: no
 * nextUpdate).
 */
static uint8_t *make_resp_n(const struct single *sr, size_t n, X509 *signer, EVP_PKEY *skey,
                            STACK_OF(X509) * certs, unsigned long flags, long this_off,
                            long next_off, size_t *len)
{
    time_t now = (time_t)tu_pki.now;
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    ck_assert_ptr_nonnull(bs);
    ASN1_GENERALIZEDTIME *tu = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, this_off);
    ASN1_GENERALIZEDTIME *nu =
        next_off == NO_NEXT ? NULL : ASN1_GENERALIZEDTIME_adj(NULL, now, 0, next_off);
    ASN1_GENERALIZEDTIME *rt = ASN1_GENERALIZEDTIME_adj(NULL, now, -1, 0);
    for (size_t i = 0; i < n; i++) {
        OCSP_CERTID *id = OCSP_cert_to_id(NULL, sr[i].cert, sr[i].issuer);
        ck_assert_ptr_nonnull(id);
        int revoked = sr[i].status == V_OCSP_CERTSTATUS_REVOKED;
        ck_assert_ptr_nonnull(OCSP_basic_add1_status(
            bs, id, sr[i].status, revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1,
            revoked ? rt : NULL, tu, nu));
        OCSP_CERTID_free(id);
    }
    ck_assert_int_eq(OCSP_basic_sign(bs, signer, skey, EVP_sha256(), certs, flags), 1);
    OCSP_RESPONSE *r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    ck_assert_ptr_nonnull(r);
    unsigned char *der = NULL;
    int l = i2d_OCSP_RESPONSE(r, &der);
    ck_assert_int_gt(l, 0);
    uint8_t *out = malloc((size_t)l);
    memcpy(out, der, (size_t)l);
    *len = (size_t)l;
    OPENSSL_free(der);
    OCSP_RESPONSE_free(r);
    OCSP_BASICRESP_free(bs);
    ASN1_GENERALIZEDTIME_free(tu);
    ASN1_GENERALIZEDTIME_free(nu);
    ASN1_GENERALIZEDTIME_free(rt);
    return out;
}

/* The common case: one response for (cert, issuer) signed by the CA itself. */
static uint8_t *make_resp(X509 *cert, X509 *issuer, int status, long this_off, long next_off,
                          size_t *len)
{
    struct single s = {cert, issuer, status};
    return make_resp_n(&s, 1, tu_ca_cert(), tu_ca_key(), NULL, OCSP_NOCERTS, this_off, next_off,
                       len);
}

static uint8_t *good_resp(size_t *len)
{
    return make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, -60, 86400, len);
}

static kitls_config *server_cfg(const struct leaf *l, const uint8_t *staple, size_t staple_len)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(kitls_config_add_cert_pem(cfg, l->chain, l->chain_len, l->key, l->key_len), 0);
    ck_assert_int_eq(kitls_config_load_ca_pem(cfg, tu_pki.ca, tu_pki.ca_len), 0);
    if (staple)
        ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, staple, staple_len), 0);
    return cfg;
}

static kitls_config *client_cfg(enum kitls_ocsp_policy p)
{
    /* The client's clock is pinned to the time the responses are made
     * from: the skew tests must not depend on how slowly the test runs
     * (valgrind). */
    static int64_t pinned;
    pinned = tu_pki.now;
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_ocsp_policy(cfg, p), 0);
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &pinned), 0);
    return cfg;
}

struct result {
    int c, s;  /* last kitls_conn_handshake() results */
    int ocsp;  /* kitls_conn_ocsp_status(client) */
    int alert; /* alert the server received, or -1 */
    char detail[256];
};

/* One handshake; the configs are dropped here. */
static struct result run(kitls_config *ccfg, kitls_config *scfg)
{
    struct result r;
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    tu_handshake(c, s, &r.c, &r.s);
    r.ocsp = kitls_conn_ocsp_status(c);
    r.alert = kitls_conn_peer_alert(s);
    snprintf(r.detail, sizeof(r.detail), "%s", kitls_conn_verify_detail(c));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
    return r;
}

/* The client fails with `err`, the server receives that error's alert. */
static void expect_fail(struct result r, int err, const char *detail)
{
    ck_assert_msg(r.c == err, "client: %d (%s), want %d; detail \"%s\"", r.c, kitls_strerror(r.c),
                  err, r.detail);
    ck_assert_int_eq(r.s, KITLS_E_PEER_ALERT(kitls_error_alert(err)));
    ck_assert_int_eq(r.alert, kitls_error_alert(err));
    if (detail)
        ck_assert_msg(strstr(r.detail, detail), "detail \"%s\" lacks \"%s\"", r.detail, detail);
}

/* The process's kitls_stats: OCSP and certificate failures by reason. */
static uint64_t ocsp_fails(int reason)
{
    struct kitls_stats st;
    kitls_stats_process(&st);
    return st.ocsp_failures[reason];
}

static uint64_t cert_fails(int reason)
{
    struct kitls_stats st;
    kitls_stats_process(&st);
    return st.cert_verify_failures[reason];
}

static void expect_ok(struct result r, int ocsp)
{
    ck_assert_msg(r.c == 0 && r.s == 0, "client %d (%s) server %d; detail \"%s\"", r.c,
                  kitls_strerror(r.c), r.s, r.detail);
    ck_assert_int_eq(r.ocsp, ocsp);
}

/* ---- good responses ---- */

START_TEST(test_alerts_named)
{
    ck_assert_int_eq(kitls_error_alert(KITLS_E_CERT_REVOKED), 44); /* certificate_revoked */
    ck_assert_int_eq(kitls_error_alert(KITLS_E_OCSP_INVALID),
                     113); /* bad_certificate_status_response */
    ck_assert_int_eq(kitls_error_alert(KITLS_E_OCSP_REQUIRED), 113);
}
END_TEST

START_TEST(test_good_use_if_stapled)
{
    size_t n;
    uint8_t *der = good_resp(&n);
    expect_ok(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf, der, n)), 1);
    free(der);
}
END_TEST

START_TEST(test_good_require)
{
    size_t n;
    uint8_t *der = good_resp(&n);
    expect_ok(run(client_cfg(KITLS_OCSP_REQUIRE), server_cfg(&leaf, der, n)), 1);
    free(der);
}
END_TEST

START_TEST(test_good_no_next_update)
{
    size_t n;
    uint8_t *der = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, -60, NO_NEXT, &n);
    expect_ok(run(client_cfg(KITLS_OCSP_REQUIRE), server_cfg(&leaf, der, n)), 1);
    free(der);
}
END_TEST

START_TEST(test_good_this_update_within_skew)
{
    /* thisUpdate 100 s ahead of the client's clock: inside the default 300 s. */
    size_t n;
    uint8_t *der = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, 100, 86400, &n);
    expect_ok(run(client_cfg(KITLS_OCSP_REQUIRE), server_cfg(&leaf, der, n)), 1);
    /* The same response with the skew lowered to 10 s. */
    kitls_config *ccfg = client_cfg(KITLS_OCSP_REQUIRE);
    ck_assert_int_eq(kitls_config_set_ocsp_skew(ccfg, 10), 0);
    expect_fail(run(ccfg, server_cfg(&leaf, der, n)), KITLS_E_OCSP_INVALID, "thisUpdate");
    free(der);
}
END_TEST

START_TEST(test_good_via_intermediate)
{
    /* Issuer is the intermediate sent in the chain; it signs. */
    size_t n;
    struct single s = {leaf_int.x, inter, V_OCSP_CERTSTATUS_GOOD};
    uint8_t *der = make_resp_n(&s, 1, inter, inter_key, NULL, OCSP_NOCERTS, -60, 86400, &n);
    expect_ok(run(client_cfg(KITLS_OCSP_REQUIRE), server_cfg(&leaf_int, der, n)), 1);
    free(der);
}
END_TEST

START_TEST(test_delegated_responder)
{
    size_t n;
    struct single s = {leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD};
    STACK_OF(X509) *certs = sk_X509_new_null();
    sk_X509_push(certs, resp_ok);
    uint8_t *der = make_resp_n(&s, 1, resp_ok, resp_key, certs, 0, -60, 86400, &n);
    expect_ok(run(client_cfg(KITLS_OCSP_REQUIRE), server_cfg(&leaf, der, n)), 1);
    sk_X509_free(certs);
    free(der);
}
END_TEST

/* ---- failures ---- */

START_TEST(test_revoked)
{
    /* See fixture(): the server's view (other_ca) is good, the real one revoked. */
    size_t n;
    struct single s[2] = {{leaf.x, tu_other_ca_cert(), V_OCSP_CERTSTATUS_GOOD},
                          {leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_REVOKED}};
    uint8_t *der = make_resp_n(s, 2, tu_ca_cert(), tu_ca_key(), NULL, OCSP_NOCERTS, -60, 86400, &n);
    uint64_t o0 = ocsp_fails(KITLS_STATS_OCSP_REVOKED), c0 = cert_fails(KITLS_STATS_CERT_REVOKED);
    for (int p = KITLS_OCSP_USE_IF_STAPLED; p <= KITLS_OCSP_REQUIRE; p++) {
        struct result r =
            run(client_cfg((enum kitls_ocsp_policy)p), server_cfg(&leaf_decoy, der, n));
        expect_fail(r, KITLS_E_CERT_REVOKED, "revoked");
        ck_assert_int_eq(r.alert, 44);
        ck_assert_int_eq(r.ocsp, 2);
    }
    /* kitls_stats: each refusal counted once, by its reason. */
    ck_assert_uint_eq(ocsp_fails(KITLS_STATS_OCSP_REVOKED) - o0,
                      KITLS_OCSP_REQUIRE - KITLS_OCSP_USE_IF_STAPLED + 1);
    ck_assert_uint_eq(cert_fails(KITLS_STATS_CERT_REVOKED) - c0,
                      KITLS_OCSP_REQUIRE - KITLS_OCSP_USE_IF_STAPLED + 1);
    /* Policy off: the client does not ask, the server does not staple. */
    expect_ok(run(client_cfg(KITLS_OCSP_OFF), server_cfg(&leaf_decoy, der, n)), 0);
    free(der);
}
END_TEST

START_TEST(test_unknown)
{
    size_t n;
    uint8_t *der = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_UNKNOWN, -60, 86400, &n);
    uint64_t o0 = ocsp_fails(KITLS_STATS_OCSP_UNKNOWN), c0 = cert_fails(KITLS_STATS_CERT_OCSP);
    struct result r = run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf, der, n));
    expect_fail(r, KITLS_E_OCSP_INVALID, "unknown");
    ck_assert_uint_eq(ocsp_fails(KITLS_STATS_OCSP_UNKNOWN) - o0, 1);
    ck_assert_uint_eq(cert_fails(KITLS_STATS_CERT_OCSP) - c0, 1);
    ck_assert_int_eq(r.ocsp, 2);
    free(der);
}
END_TEST

START_TEST(test_expired_next_update)
{
    /* nextUpdate in one hour; the client's clock two hours ahead. */
    size_t n;
    uint8_t *der = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, -3600, 3600, &n);
    static int64_t later;
    later = tu_pki.now + 7200;
    kitls_config *ccfg = client_cfg(KITLS_OCSP_USE_IF_STAPLED);
    ck_assert_int_eq(kitls_config_set_time(ccfg, tu_time_fixed, &later), 0);
    expect_fail(run(ccfg, server_cfg(&leaf, der, n)), KITLS_E_OCSP_INVALID, "expired");
    /* Within the skew (nextUpdate 200 s ago, skew 300 s) it is still good. */
    static int64_t bit_later;
    bit_later = tu_pki.now + 3800;
    ccfg = client_cfg(KITLS_OCSP_USE_IF_STAPLED);
    ck_assert_int_eq(kitls_config_set_time(ccfg, tu_time_fixed, &bit_later), 0);
    expect_ok(run(ccfg, server_cfg(&leaf, der, n)), 1);
    free(der);
}
END_TEST

START_TEST(test_this_update_future)
{
    size_t n;
    uint8_t *der = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, 3600, 86400, &n);
    expect_fail(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf, der, n)),
                KITLS_E_OCSP_INVALID, "thisUpdate");
    free(der);
}
END_TEST

START_TEST(test_wrong_responder_untrusted)
{
    /* Signed by a root nobody trusts, with and without its certificate. */
    struct single s = {leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD};
    STACK_OF(X509) *certs = sk_X509_new_null();
    sk_X509_push(certs, tu_other_ca_cert());
    for (int with = 0; with < 2; with++) {
        size_t n;
        uint8_t *der = make_resp_n(&s, 1, tu_other_ca_cert(), tu_other_ca_key(), certs,
                                   with ? 0 : OCSP_NOCERTS, -60, 86400, &n);
        expect_fail(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf, der, n)),
                    KITLS_E_OCSP_INVALID, "responder");
        free(der);
    }
    sk_X509_free(certs);
}
END_TEST

START_TEST(test_wrong_responder_not_delegated)
{
    /* A CA-issued certificate without the OCSPSigning EKU; and a responder
     * with the EKU issued by another CA. */
    struct single s = {leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD};
    X509 *signers[2] = {resp_noeku, resp_foreign};
    for (int i = 0; i < 2; i++) {
        STACK_OF(X509) *certs = sk_X509_new_null();
        sk_X509_push(certs, signers[i]);
        size_t n;
        uint8_t *der = make_resp_n(&s, 1, signers[i], resp_key, certs, 0, -60, 86400, &n);
        expect_fail(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf, der, n)),
                    KITLS_E_OCSP_INVALID, "responder");
        sk_X509_free(certs);
        free(der);
    }
}
END_TEST

START_TEST(test_wrong_responder_leaf_key)
{
    /* A response signed with the server's own key (what an attacker holding
     * a stolen, revoked key could make), responder named by the leaf, no
     * certificates in the response: the leaf is not an OCSP responder for
     * its own issuer (RFC 6960 §4.2.2.2). */
    struct single s = {leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD};
    size_t n;
    uint8_t *der = make_resp_n(&s, 1, leaf.x, leaf.k, NULL, OCSP_NOCERTS, -60, 86400, &n);
    expect_fail(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf, der, n)),
                KITLS_E_OCSP_INVALID, "responder");
    free(der);
}
END_TEST

START_TEST(test_wrong_responder_root_for_intermediate)
{
    /* The leaf is issued by the intermediate; a response signed by the root
     * is not from the issuer nor from a responder it delegated to. */
    struct single s = {leaf_int.x, inter, V_OCSP_CERTSTATUS_GOOD};
    size_t n;
    uint8_t *der =
        make_resp_n(&s, 1, tu_ca_cert(), tu_ca_key(), NULL, OCSP_NOCERTS, -60, 86400, &n);
    expect_fail(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf_int, der, n)),
                KITLS_E_OCSP_INVALID, "responder");
    free(der);
}
END_TEST

START_TEST(test_other_certificate)
{
    /* The server's view (other_ca) is covered; the real leaf is not. */
    size_t n;
    struct single s[2] = {{leaf.x, tu_other_ca_cert(), V_OCSP_CERTSTATUS_GOOD},
                          {leaf_other.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD}};
    uint8_t *der = make_resp_n(s, 2, tu_ca_cert(), tu_ca_key(), NULL, OCSP_NOCERTS, -60, 86400, &n);
    expect_fail(run(client_cfg(KITLS_OCSP_REQUIRE), server_cfg(&leaf_decoy, der, n)),
                KITLS_E_OCSP_INVALID, "does not cover");
    free(der);
}
END_TEST

/* ---- missing staples, must-staple ---- */

START_TEST(test_missing_require)
{
    uint64_t o0 = ocsp_fails(KITLS_STATS_OCSP_MISSING), c0 = cert_fails(KITLS_STATS_CERT_OCSP);
    struct result r = run(client_cfg(KITLS_OCSP_REQUIRE), server_cfg(&leaf, NULL, 0));
    expect_fail(r, KITLS_E_OCSP_REQUIRED, "no OCSP");
    ck_assert_int_eq(r.alert, 113);
    ck_assert_uint_eq(ocsp_fails(KITLS_STATS_OCSP_MISSING) - o0, 1);
    ck_assert_uint_eq(cert_fails(KITLS_STATS_CERT_OCSP) - c0, 1);
}
END_TEST

START_TEST(test_missing_use_if_stapled)
{
    expect_ok(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf, NULL, 0)), 0);
}
END_TEST

START_TEST(test_must_staple)
{
    /* Without a staple: use-if-stapled becomes require; off stays off. */
    expect_fail(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf_ms, NULL, 0)),
                KITLS_E_OCSP_REQUIRED, NULL);
    expect_ok(run(client_cfg(KITLS_OCSP_OFF), server_cfg(&leaf_ms, NULL, 0)), 0);
    /* With one, fine. */
    size_t n;
    uint8_t *der = make_resp(leaf_ms.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, -60, 86400, &n);
    expect_ok(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), server_cfg(&leaf_ms, der, n)), 1);
    free(der);
}
END_TEST

/* ---- server side ---- */

START_TEST(test_server_refuses_bad_staples)
{
    kitls_config *cfg = server_cfg(&leaf, NULL, 0);
    size_t n;
    uint8_t *der;
    /* Revoked. */
    der = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_REVOKED, -60, 86400, &n);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, der, n), KITLS_E_CONFIG);
    free(der);
    /* For another certificate. */
    der = make_resp(leaf_other.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, -60, 86400, &n);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, der, n), KITLS_E_CONFIG);
    free(der);
    /* For this certificate under another issuer. */
    der = make_resp(leaf.x, tu_other_ca_cert(), V_OCSP_CERTSTATUS_GOOD, -60, 86400, &n);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, der, n), KITLS_E_CONFIG);
    free(der);
    /* Not DER, truncated, trailing bytes. */
    der = good_resp(&n);
    static const uint8_t junk[] = "not an OCSP response";
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, junk, sizeof(junk)), KITLS_E_CONFIG);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, der, n - 1), KITLS_E_CONFIG);
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, der, n);
    longer[n] = 0;
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, longer, n + 1), KITLS_E_CONFIG);
    free(longer);
    /* A non-successful OCSPResponse (tryLater). */
    OCSP_RESPONSE *tl = OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, NULL);
    unsigned char *tder = NULL;
    int tn = i2d_OCSP_RESPONSE(tl, &tder);
    ck_assert_int_gt(tn, 0);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, tder, (size_t)tn), KITLS_E_CONFIG);
    OPENSSL_free(tder);
    OCSP_RESPONSE_free(tl);
    /* Bad arguments; then the good one, and clearing it. */
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 1, der, n), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, NULL, 5), KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, der, n), 0);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, NULL, 0), 0);
    free(der);
    /* A refused staple leaves the previous one in place. */
    der = good_resp(&n);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, der, n), 0);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(cfg, 0, junk, sizeof(junk)), KITLS_E_CONFIG);
    expect_ok(run(client_cfg(KITLS_OCSP_REQUIRE), cfg), 1);
    free(der);
}
END_TEST

/* Size of the server's first flight answering this client. */
static size_t server_flight(kitls_config *ccfg, kitls_config *scfg)
{
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    const uint8_t *p;
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_handshake(s), KITLS_E_WANT_READ);
    size_t n = kitls_conn_out_peek(s, &p);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return n;
}

START_TEST(test_server_staples_only_when_asked)
{
    size_t n;
    uint8_t *der = good_resp(&n);
    kitls_config *scfg = server_cfg(&leaf, der, n);
    kitls_config *off = client_cfg(KITLS_OCSP_OFF), *on = client_cfg(KITLS_OCSP_USE_IF_STAPLED);
    size_t without = server_flight(off, scfg), with = server_flight(on, scfg);
    ck_assert_uint_ge(with, without + n);
    /* And the client that did not ask accepts the flight (an unsolicited
     * status_request in the CertificateEntry would be unsupported_extension). */
    kitls_config_up_ref(off);
    kitls_config_up_ref(scfg);
    expect_ok(run(off, scfg), 0);
    kitls_config_free(off);
    kitls_config_free(on);
    kitls_config_free(scfg);
    free(der);
}
END_TEST

START_TEST(test_server_stops_after_next_update)
{
    /* The server's clock past nextUpdate: it stops stapling, so a requiring
     * client fails with "required", a use-if-stapled one proceeds. */
    size_t n;
    uint8_t *der = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, -7200, -3600, &n);
    kitls_config *scfg = server_cfg(&leaf, der, n);
    expect_fail(run(client_cfg(KITLS_OCSP_REQUIRE), kitls_config_up_ref(scfg)),
                KITLS_E_OCSP_REQUIRED, NULL);
    expect_ok(run(client_cfg(KITLS_OCSP_USE_IF_STAPLED), scfg), 0);
    /* Same with a fresh response and the server's clock moved forward. */
    free(der);
    der = good_resp(&n); /* nextUpdate now+1d */
    static int64_t later;
    later = tu_pki.now + 2 * 86400;
    scfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_int_eq(
        kitls_config_add_cert_pem(scfg, leaf.chain, leaf.chain_len, leaf.key, leaf.key_len), 0);
    ck_assert_int_eq(kitls_config_load_ca_pem(scfg, tu_pki.ca, tu_pki.ca_len), 0);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(scfg, 0, der, n), 0);
    ck_assert_int_eq(kitls_config_set_time(scfg, tu_time_fixed, &later), 0);
    expect_fail(run(client_cfg(KITLS_OCSP_REQUIRE), scfg), KITLS_E_OCSP_REQUIRED, NULL);
    free(der);
}
END_TEST

START_TEST(test_reload_in_use)
{
    /* The config is frozen by its first connection; staples still change. */
    kitls_config *scfg = server_cfg(&leaf, NULL, 0);
    kitls_conn *held = tu_server(scfg); /* keeps the config in use throughout */
    ck_assert_int_eq(kitls_config_set_alpn(scfg, NULL, 0), KITLS_E_STATE);
    expect_fail(run(client_cfg(KITLS_OCSP_REQUIRE), kitls_config_up_ref(scfg)),
                KITLS_E_OCSP_REQUIRED, NULL);
    size_t n;
    uint8_t *der = good_resp(&n);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(scfg, 0, der, n), 0);
    expect_ok(run(client_cfg(KITLS_OCSP_REQUIRE), kitls_config_up_ref(scfg)), 1);
    free(der);
    /* Replaced by an "unknown" response: the new one is what is stapled. */
    der = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_UNKNOWN, -60, 86400, &n);
    ck_assert_int_eq(kitls_config_set_ocsp_staple(scfg, 0, der, n), 0);
    expect_fail(run(client_cfg(KITLS_OCSP_REQUIRE), kitls_config_up_ref(scfg)),
                KITLS_E_OCSP_INVALID, "unknown");
    free(der);
    /* Cleared. */
    ck_assert_int_eq(kitls_config_set_ocsp_staple(scfg, 0, NULL, 0), 0);
    expect_fail(run(client_cfg(KITLS_OCSP_REQUIRE), kitls_config_up_ref(scfg)),
                KITLS_E_OCSP_REQUIRED, NULL);
    kitls_conn_free(held);
    kitls_config_free(scfg);
}
END_TEST

struct reloader {
    kitls_config *cfg;
    uint8_t *der[2];
    size_t len[2];
    volatile int stop;
    int fails;
};

static void *reload_loop(void *arg)
{
    struct reloader *r = arg;
    for (unsigned i = 0; !r->stop; i++)
        r->fails += kitls_config_set_ocsp_staple(r->cfg, 0, r->der[i & 1], r->len[i & 1]) != 0;
    return NULL;
}

START_TEST(test_reload_concurrent)
{
    /* A thread swaps between two good responses while handshakes run. */
    struct reloader r = {0};
    r.der[0] = good_resp(&r.len[0]);
    r.der[1] = make_resp(leaf.x, tu_ca_cert(), V_OCSP_CERTSTATUS_GOOD, -120, 7200, &r.len[1]);
    r.cfg = server_cfg(&leaf, r.der[0], r.len[0]);
    kitls_config *ccfg = client_cfg(KITLS_OCSP_REQUIRE);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, reload_loop, &r), 0);
    for (int i = 0; i < 20; i++)
        expect_ok(run(kitls_config_up_ref(ccfg), kitls_config_up_ref(r.cfg)), 1);
    r.stop = 1;
    pthread_join(t, NULL);
    ck_assert_int_eq(r.fails, 0);
    kitls_config_free(ccfg);
    kitls_config_free(r.cfg);
    free(r.der[0]);
    free(r.der[1]);
}
END_TEST

START_TEST(test_policy_api)
{
    kitls_config *c = kitls_config_new(KITLS_ROLE_CLIENT);
    ck_assert_int_eq(kitls_config_set_ocsp_policy(c, (enum kitls_ocsp_policy)4),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_ocsp_policy(c, KITLS_OCSP_REQUIRE), 0);
    ck_assert_int_eq(kitls_config_set_ocsp_skew(c, 0), 0);
    kitls_conn *conn = kitls_conn_new(c);
    ck_assert_int_eq(kitls_conn_ocsp_status(conn), 0);
    ck_assert_int_eq(kitls_config_set_ocsp_policy(c, KITLS_OCSP_OFF), KITLS_E_STATE);
    ck_assert_int_eq(kitls_config_set_ocsp_skew(c, 10), KITLS_E_STATE);
    kitls_conn_free(conn);
    kitls_config_free(c);
}
END_TEST

static Suite *ocsp_suite(void)
{
    Suite *s = suite_create("ocsp");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_alerts_named);
    tcase_add_test(tc, test_good_use_if_stapled);
    tcase_add_test(tc, test_good_require);
    tcase_add_test(tc, test_good_no_next_update);
    tcase_add_test(tc, test_good_this_update_within_skew);
    tcase_add_test(tc, test_good_via_intermediate);
    tcase_add_test(tc, test_delegated_responder);
    tcase_add_test(tc, test_revoked);
    tcase_add_test(tc, test_unknown);
    tcase_add_test(tc, test_expired_next_update);
    tcase_add_test(tc, test_this_update_future);
    tcase_add_test(tc, test_wrong_responder_untrusted);
    tcase_add_test(tc, test_wrong_responder_not_delegated);
    tcase_add_test(tc, test_wrong_responder_leaf_key);
    tcase_add_test(tc, test_wrong_responder_root_for_intermediate);
    tcase_add_test(tc, test_other_certificate);
    tcase_add_test(tc, test_missing_require);
    tcase_add_test(tc, test_missing_use_if_stapled);
    tcase_add_test(tc, test_must_staple);
    tcase_add_test(tc, test_policy_api);
    suite_add_tcase(s, tc);

    tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_server_refuses_bad_staples);
    tcase_add_test(tc, test_server_staples_only_when_asked);
    tcase_add_test(tc, test_server_stops_after_next_update);
    tcase_add_test(tc, test_reload_in_use);
    tcase_add_test(tc, test_reload_concurrent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_pki_init();
    fixture();
    SRunner *sr = srunner_create(ocsp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
