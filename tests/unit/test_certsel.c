/*
 * Certificate selection and client certificates through the public API
 * (issue 10 points 2 and 3): a server with several chains picks by the
 * client's signature_algorithms, by SNI (exact and wildcard SAN), by
 * certificate_authorities, or as its callback says; the server asks for
 * client certificates (request / require) and checks them for clientAuth.
 */
#include <check.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* DER of the first certificate of a PEM chain (malloc'd).  Also used
 * by the fixture, outside any test, so no Check assertions here. */
static uint8_t *pem_leaf_der(const char *pem, size_t len, size_t *n)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    unsigned char *der = NULL;
    int l = x ? i2d_X509(x, &der) : -1;
    if (l <= 0)
        abort();
    uint8_t *out = malloc((size_t)l);
    memcpy(out, der, (size_t)l);
    *n = (size_t)l;
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(b);
    return out;
}

static void add_cred(kitls_config *cfg, const struct tu_cred *cr)
{
    ck_assert_int_eq(kitls_config_add_cert_pem(cfg, cr->chain, cr->chain_len, cr->key, cr->key_len),
                     0);
}

/* A named P-256 server credential for the SNI tests. */
struct named {
    struct tu_cred cr;
    uint8_t *der;
    size_t der_len;
};
static struct named n_default, n_exact, n_wild;

static void make_named(struct named *n, const char *cn, const char *san)
{
    char sanext[128];
    snprintf(sanext, sizeof(sanext), "subjectAltName=%s", san);
    const char *exts[] = {"basicConstraints=critical,CA:FALSE",
                          "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth",
                          sanext, NULL};
    EVP_PKEY *k = tu_keygen(TU_P256);
    X509 *x = tu_issue(k, cn, tu_ca_cert(), tu_ca_key(), exts);
    n->cr.chain = tu_x509_pem(x, &n->cr.chain_len);
    n->cr.key = tu_pkey_pem(k, &n->cr.key_len);
    n->der = pem_leaf_der(n->cr.chain, n->cr.chain_len, &n->der_len);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void fixture(void)
{
    make_named(&n_default, "default.localhost", "DNS:localhost");
    make_named(&n_exact, "www.example.com", "DNS:www.example.com");
    make_named(&n_wild, "wild.example.com", "DNS:*.example.com");
}

struct result {
    int c, s;
    int c_alert, s_alert; /* alerts each side received, or -1 */
    uint16_t peer_sigalg; /* client: the scheme the server signed with */
    uint8_t *peer;        /* client: the server's leaf (DER, malloc'd) */
    size_t peer_len;
    uint8_t *cpeer; /* server: the client's leaf */
    size_t cpeer_len;
    int s_peer_auth;
    char sni[64]; /* server: received SNI */
};

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* One handshake; the configs are dropped here (take references to keep). */
static struct result run(kitls_config *ccfg, kitls_config *scfg, const char *sni)
{
    struct result r;
    memset(&r, 0, sizeof(r));
    kitls_conn *c = tu_client(ccfg, sni), *s = tu_server(scfg);
    tu_handshake(c, s, &r.c, &r.s);
    if (r.c == 0 && r.s != 0) {
        /* The client finished first (client auth): collect the server's verdict. */
        uint8_t buf[16];
        tu_move(s, c);
        r.c = kitls_conn_read(c, buf, sizeof(buf));
    }
    r.c_alert = kitls_conn_peer_alert(c);
    r.s_alert = kitls_conn_peer_alert(s);
    r.peer_sigalg = kitls_conn_peer_sigalg(c);
    const uint8_t *p = kitls_conn_peer_cert(c, &r.peer_len);
    r.peer = dup_bytes(p, r.peer_len);
    p = kitls_conn_peer_cert(s, &r.cpeer_len);
    r.cpeer = dup_bytes(p, r.cpeer_len);
    r.s_peer_auth = kitls_conn_peer_authenticated(s);
    const char *name = kitls_conn_server_name(s);
    snprintf(r.sni, sizeof(r.sni), "%s", name ? name : "");
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
    return r;
}

static void result_free(struct result *r)
{
    free(r->peer);
    free(r->cpeer);
}

static void expect_ok(const struct result *r)
{
    ck_assert_msg(r->c == 0 && r->s == 0, "client %d (%s), server %d (%s)", r->c,
                  kitls_strerror(r->c), r->s, kitls_strerror(r->s));
}

static void expect_peer(const struct result *r, const uint8_t *der, size_t len)
{
    ck_assert_uint_eq(r->peer_len, len);
    ck_assert_int_eq(memcmp(r->peer, der, len), 0);
}

static kitls_config *client_sigalgs(const uint16_t *ids, size_t n)
{
    kitls_config *cfg = tu_client_config();
    if (n)
        ck_assert_int_eq(kitls_config_set_sigalgs(cfg, ids, n), 0);
    return cfg;
}

/* Server with P-256, RSA-2048 and Ed25519 chains, in that order. */
static kitls_config *three_chains(void)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(cfg);
    add_cred(cfg, &tu_pki.server[TU_P256]);
    add_cred(cfg, &tu_pki.server[TU_RSA2048]);
    add_cred(cfg, &tu_pki.server[TU_ED25519]);
    ck_assert_int_eq(kitls_config_load_ca_pem(cfg, tu_pki.ca, tu_pki.ca_len), 0);
    return cfg;
}

/* ---- by signature algorithm ---- */

static const struct {
    uint16_t offer;
    enum tu_key key;
} by_alg[] = {
    {KITLS_SIG_ECDSA_SECP256R1_SHA256, TU_P256},
    {KITLS_SIG_RSA_PSS_RSAE_SHA256, TU_RSA2048},
    {KITLS_SIG_RSA_PSS_RSAE_SHA384, TU_RSA2048},
    {KITLS_SIG_RSA_PSS_RSAE_SHA512, TU_RSA2048},
    {KITLS_SIG_ED25519, TU_ED25519},
};

START_TEST(test_select_by_sigalg)
{
    uint16_t offer = by_alg[_i].offer;
    const struct tu_cred *want = &tu_pki.server[by_alg[_i].key];
    size_t n;
    uint8_t *der = pem_leaf_der(want->chain, want->chain_len, &n);
    struct result r = run(client_sigalgs(&offer, 1), three_chains(), "localhost");
    expect_ok(&r);
    expect_peer(&r, der, n);
    ck_assert_uint_eq(r.peer_sigalg, offer);
    result_free(&r);
    free(der);
}
END_TEST

START_TEST(test_select_family_with_pkcs1)
{
    /* rsa_pkcs1_* only names certificate signatures in TLS 1.3: an offer
     * of PKCS#1 and PSS gets the RSA chain, signed with PSS. */
    uint16_t offer[] = {KITLS_SIG_RSA_PKCS1_SHA256, KITLS_SIG_RSA_PSS_RSAE_SHA256};
    size_t n;
    uint8_t *der =
        pem_leaf_der(tu_pki.server[TU_RSA2048].chain, tu_pki.server[TU_RSA2048].chain_len, &n);
    struct result r = run(client_sigalgs(offer, 2), three_chains(), "localhost");
    expect_ok(&r);
    expect_peer(&r, der, n);
    ck_assert_uint_eq(r.peer_sigalg, KITLS_SIG_RSA_PSS_RSAE_SHA256);
    result_free(&r);
    free(der);
}
END_TEST

START_TEST(test_select_none_acceptable)
{
    /* P-384 only (no such chain), then PKCS#1 only (cannot sign a TLS 1.3
     * CertificateVerify): handshake_failure. */
    static const uint16_t offers[] = {KITLS_SIG_ECDSA_SECP384R1_SHA384, KITLS_SIG_RSA_PKCS1_SHA256};
    for (int i = 0; i < 2; i++) {
        struct result r = run(client_sigalgs(&offers[i], 1), three_chains(), "localhost");
        ck_assert_int_eq(r.s, KITLS_E_HANDSHAKE_FAILURE);
        ck_assert_int_eq(r.c, KITLS_E_PEER_ALERT(40));
        ck_assert_int_eq(r.c_alert, 40);
        result_free(&r);
    }
}
END_TEST

START_TEST(test_select_order)
{
    /* Everything acceptable: the first chain added wins. */
    size_t n;
    uint8_t *der = pem_leaf_der(tu_pki.server[TU_P256].chain, tu_pki.server[TU_P256].chain_len, &n);
    struct result r = run(client_sigalgs(NULL, 0), three_chains(), "localhost");
    expect_ok(&r);
    expect_peer(&r, der, n);
    result_free(&r);
    free(der);
    kitls_config *s = kitls_config_new(KITLS_ROLE_SERVER);
    add_cred(s, &tu_pki.server[TU_ED25519]);
    add_cred(s, &tu_pki.server[TU_RSA2048]);
    add_cred(s, &tu_pki.server[TU_P256]);
    der = pem_leaf_der(tu_pki.server[TU_ED25519].chain, tu_pki.server[TU_ED25519].chain_len, &n);
    r = run(client_sigalgs(NULL, 0), s, "localhost");
    expect_ok(&r);
    expect_peer(&r, der, n);
    ck_assert_uint_eq(r.peer_sigalg, KITLS_SIG_ED25519);
    result_free(&r);
    free(der);
}
END_TEST

/* ---- by SNI ---- */

static int accept_any(void *ctx, kitls_conn *c, const uint8_t *const *der, const size_t *len,
                      size_t n, int result)
{
    (void)ctx, (void)c, (void)der, (void)len, (void)n, (void)result;
    return 0;
}

static kitls_config *sni_server(const struct named *a, const struct named *b, const struct named *c)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    add_cred(cfg, &a->cr);
    add_cred(cfg, &b->cr);
    add_cred(cfg, &c->cr);
    return cfg;
}

static void sni_case(const struct named *a, const struct named *b, const struct named *c,
                     const char *sni, const struct named *want, int name_ok)
{
    kitls_config *ccfg = tu_client_config();
    if (!name_ok) /* the fallback certificate does not carry the name */
        ck_assert_int_eq(kitls_config_set_verify_callback(ccfg, accept_any, NULL), 0);
    if (!sni) /* no name to check: the client must opt out explicitly */
        ck_assert_int_eq(kitls_config_set_verify_name(ccfg, 0), 0);
    struct result r = run(ccfg, sni_server(a, b, c), sni);
    expect_ok(&r);
    ck_assert_msg(r.peer_len == want->der_len && !memcmp(r.peer, want->der, r.peer_len),
                  "SNI %s: wrong certificate", sni ? sni : "(none)");
    ck_assert_str_eq(r.sni, sni ? sni : "");
    result_free(&r);
}

START_TEST(test_sni_exact)
{
    sni_case(&n_default, &n_exact, &n_wild, "www.example.com", &n_exact, 1);
}
END_TEST

START_TEST(test_sni_wildcard)
{
    sni_case(&n_default, &n_exact, &n_wild, "api.example.com", &n_wild, 1);
    /* Mixed case and a trailing label match too (DNS names are case-insensitive). */
    sni_case(&n_default, &n_exact, &n_wild, "API.Example.COM", &n_wild, 1);
}
END_TEST

START_TEST(test_sni_no_match_fallback)
{
    /* A wildcard covers one label only: a.b.example.com and example.com
     * fall back to the first chain added, as does an unknown name. */
    sni_case(&n_default, &n_exact, &n_wild, "a.b.example.com", &n_default, 0);
    sni_case(&n_default, &n_exact, &n_wild, "example.com", &n_default, 0);
    sni_case(&n_default, &n_exact, &n_wild, "unknown.test", &n_default, 0);
    sni_case(&n_wild, &n_exact, &n_default, "unknown.test", &n_wild, 0);
}
END_TEST

START_TEST(test_sni_none)
{
    /* No SNI (name NULL; the client opted out of name checks). */
    sni_case(&n_exact, &n_default, &n_wild, NULL, &n_exact, 1);
}
END_TEST

START_TEST(test_sni_tie_order)
{
    /* Exact and wildcard both match: documented order is "matches SNI",
     * ties by the order added — so a wildcard added first wins. */
    sni_case(&n_default, &n_wild, &n_exact, "www.example.com", &n_wild, 1);
}
END_TEST

START_TEST(test_sni_then_sigalg)
{
    /* The SNI match is only among chains the client can verify: an
     * RSA-only client asking for www.example.com (a P-256 chain) gets the
     * RSA chain. */
    kitls_config *s = kitls_config_new(KITLS_ROLE_SERVER);
    add_cred(s, &n_exact.cr);
    add_cred(s, &tu_pki.server[TU_RSA2048]);
    uint16_t rsa = KITLS_SIG_RSA_PSS_RSAE_SHA256;
    kitls_config *ccfg = client_sigalgs(&rsa, 1);
    ck_assert_int_eq(kitls_config_set_verify_callback(ccfg, accept_any, NULL), 0);
    struct result r = run(ccfg, s, "www.example.com");
    expect_ok(&r);
    size_t n;
    uint8_t *der =
        pem_leaf_der(tu_pki.server[TU_RSA2048].chain, tu_pki.server[TU_RSA2048].chain_len, &n);
    expect_peer(&r, der, n);
    free(der);
    result_free(&r);
}
END_TEST

/* ---- callback ---- */

struct cb_state {
    int ret;
    int calls;
    char name[64];
    int had_name;
    uint16_t sigalgs[32];
    size_t n;
};

static int select_cb(void *ctx, kitls_conn *c, const char *server_name, const uint16_t *sigalgs,
                     size_t n)
{
    struct cb_state *st = ctx;
    (void)c;
    st->calls++;
    st->had_name = server_name != NULL;
    snprintf(st->name, sizeof(st->name), "%s", server_name ? server_name : "");
    st->n = n < 32 ? n : 32;
    memcpy(st->sigalgs, sigalgs, st->n * sizeof(*sigalgs));
    return st->ret;
}

START_TEST(test_callback_chooses)
{
    static struct cb_state st;
    st.ret = 2; /* Ed25519 although P-256 comes first */
    kitls_config *s = three_chains();
    ck_assert_int_eq(kitls_config_set_cert_callback(s, select_cb, &st), 0);
    struct result r = run(client_sigalgs(NULL, 0), s, "localhost");
    expect_ok(&r);
    size_t n;
    uint8_t *der =
        pem_leaf_der(tu_pki.server[TU_ED25519].chain, tu_pki.server[TU_ED25519].chain_len, &n);
    expect_peer(&r, der, n);
    ck_assert_uint_eq(r.peer_sigalg, KITLS_SIG_ED25519);
    ck_assert_int_eq(st.calls, 1);
    ck_assert_int_eq(st.had_name, 1);
    ck_assert_str_eq(st.name, "localhost");
    ck_assert_uint_ge(st.n, 3); /* the client's default list */
    free(der);
    result_free(&r);
}
END_TEST

START_TEST(test_callback_sees_client_offer)
{
    static struct cb_state st;
    st.ret = -1; /* built-in choice */
    kitls_config *s = three_chains();
    ck_assert_int_eq(kitls_config_set_cert_callback(s, select_cb, &st), 0);
    uint16_t offer[] = {KITLS_SIG_RSA_PSS_RSAE_SHA384, KITLS_SIG_ED25519};
    kitls_config *ccfg = client_sigalgs(offer, 2);
    ck_assert_int_eq(kitls_config_set_verify_name(ccfg, 0), 0); /* no SNI, no name check */
    struct result r = run(ccfg, s, NULL);
    expect_ok(&r);
    ck_assert_int_eq(st.calls, 1);
    ck_assert_int_eq(st.had_name, 0);
    ck_assert_uint_eq(st.n, 2);
    ck_assert_uint_eq(st.sigalgs[0], KITLS_SIG_RSA_PSS_RSAE_SHA384);
    ck_assert_uint_eq(st.sigalgs[1], KITLS_SIG_ED25519);
    /* Built-in: first chain added that the client accepts: RSA. */
    ck_assert_uint_eq(r.peer_sigalg, KITLS_SIG_RSA_PSS_RSAE_SHA384);
    result_free(&r);
}
END_TEST

START_TEST(test_callback_incompatible)
{
    /* The callback names the RSA chain to an ECDSA-only client, then an
     * index out of range: handshake_failure, never a fallback. */
    static const int picks[] = {1, 3, 1000};
    for (int i = 0; i < 3; i++) {
        static struct cb_state st;
        st.ret = picks[i];
        kitls_config *s = three_chains();
        ck_assert_int_eq(kitls_config_set_cert_callback(s, select_cb, &st), 0);
        uint16_t ec = KITLS_SIG_ECDSA_SECP256R1_SHA256;
        struct result r = run(client_sigalgs(&ec, 1), s, "localhost");
        ck_assert_int_eq(r.s, KITLS_E_HANDSHAKE_FAILURE);
        ck_assert_int_eq(r.c, KITLS_E_PEER_ALERT(40));
        ck_assert_int_eq(r.c_alert, 40);
        result_free(&r);
    }
}
END_TEST

/* ---- certificate_authorities (RFC 8446 §4.2.4) ---- */

/* The client's ClientHello with a certificate_authorities extension
 * naming `ca` appended (the client API does not send one). */
static uint8_t *ch_with_cas(kitls_conn *c, X509 *ca, size_t *len)
{
    ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
    size_t n;
    uint8_t *ch = tu_out_copy(c, &n);
    kitls_conn_out_consume(c, n);
    ck_assert_uint_eq(ch[0], 22);
    ck_assert_uint_eq(((size_t)ch[3] << 8 | ch[4]) + 5, n); /* one record */
    size_t i = 5 + 4 + 2 + 32;
    i += 1 + ch[i];                            /* session id */
    i += 2 + ((size_t)ch[i] << 8 | ch[i + 1]); /* suites */
    i += 1 + ch[i];                            /* compression */
    size_t ext_at = i;
    ck_assert_uint_eq(ext_at + 2 + ((size_t)ch[i] << 8 | ch[i + 1]), n);
    unsigned char *dn = NULL;
    int dn_len = i2d_X509_NAME(X509_get_subject_name(ca), &dn);
    ck_assert_int_gt(dn_len, 0);
    struct tu_buf *b = calloc(1, sizeof(*b));
    tu_put(b, ch, n);
    tu_u16(b, 0x002f);
    size_t e = tu_begin(b, 2);
    size_t l = tu_begin(b, 2);
    size_t d = tu_begin(b, 2);
    tu_put(b, dn, (size_t)dn_len);
    tu_end(b, d, 2);
    tu_end(b, l, 2);
    tu_end(b, e, 2);
    size_t add = b->n - n;
    tu_end(b, 3, 2); /* record length */
    tu_end(b, 6, 3); /* handshake length */
    size_t el = ((size_t)ch[ext_at] << 8 | ch[ext_at + 1]) + add;
    b->b[ext_at] = (uint8_t)(el >> 8);
    b->b[ext_at + 1] = (uint8_t)el;
    uint8_t *out = malloc(b->n);
    memcpy(out, b->b, b->n);
    *len = b->n;
    OPENSSL_free(dn);
    free(b);
    free(ch);
    return out;
}

/* The scheme the server picked for a ClientHello naming `ca` (NULL: none). */
static uint16_t server_pick_for_ca(X509 *ca)
{
    /* untrusted: P-256 from other_ca, added first; RSA from the fixture CA. */
    kitls_config *s = kitls_config_new(KITLS_ROLE_SERVER);
    add_cred(s, &tu_pki.untrusted);
    add_cred(s, &tu_pki.server[TU_RSA2048]);
    kitls_config *ccfg = tu_client_config();
    kitls_conn *c = tu_client(ccfg, "localhost"), *sv = tu_server(s);
    size_t n;
    uint8_t *ch;
    if (ca) {
        ch = ch_with_cas(c, ca, &n);
    } else {
        ck_assert_int_eq(kitls_conn_handshake(c), KITLS_E_WANT_READ);
        ch = tu_out_copy(c, &n);
    }
    ck_assert_int_eq(kitls_conn_feed(sv, ch, n), 0);
    int ret = kitls_conn_handshake(sv);
    ck_assert_msg(ret == KITLS_E_WANT_READ, "server: %s", kitls_strerror(ret));
    uint16_t picked = kitls_conn_sigalg(sv);
    free(ch);
    kitls_conn_free(c);
    kitls_conn_free(sv);
    kitls_config_free(ccfg);
    kitls_config_free(s);
    return picked;
}

START_TEST(test_certificate_authorities)
{
    ck_assert_uint_eq(server_pick_for_ca(NULL), KITLS_SIG_ECDSA_SECP256R1_SHA256);
    ck_assert_uint_eq(server_pick_for_ca(tu_other_ca_cert()), KITLS_SIG_ECDSA_SECP256R1_SHA256);
    uint16_t s = server_pick_for_ca(tu_ca_cert());
    ck_assert_msg(s == KITLS_SIG_RSA_PSS_RSAE_SHA256 || s == KITLS_SIG_RSA_PSS_RSAE_SHA384 ||
                      s == KITLS_SIG_RSA_PSS_RSAE_SHA512,
                  "picked 0x%04x, want the RSA chain issued by the listed CA", s);
}
END_TEST

/* ---- client certificates ---- */

static kitls_config *server_verify(enum kitls_verify v)
{
    kitls_config *s = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_verify(s, v), 0);
    return s;
}

static kitls_config *client_with(const struct tu_cred *cr)
{
    kitls_config *c = tu_client_config();
    if (cr)
        add_cred(c, cr);
    return c;
}

START_TEST(test_client_cert_request_none)
{
    struct result r = run(client_with(NULL), server_verify(KITLS_VERIFY_REQUEST), "localhost");
    expect_ok(&r);
    ck_assert_uint_eq(r.cpeer_len, 0);
    result_free(&r);
}
END_TEST

START_TEST(test_client_cert_request_sent)
{
    struct result r =
        run(client_with(&tu_pki.client), server_verify(KITLS_VERIFY_REQUEST), "localhost");
    expect_ok(&r);
    size_t n;
    uint8_t *der = pem_leaf_der(tu_pki.client.chain, tu_pki.client.chain_len, &n);
    ck_assert_uint_eq(r.cpeer_len, n);
    ck_assert_int_eq(memcmp(r.cpeer, der, n), 0);
    ck_assert_int_eq(r.s_peer_auth, 1);
    free(der);
    result_free(&r);
}
END_TEST

START_TEST(test_client_cert_require)
{
    struct result r =
        run(client_with(&tu_pki.client), server_verify(KITLS_VERIFY_REQUIRE), "localhost");
    expect_ok(&r);
    ck_assert_uint_gt(r.cpeer_len, 0);
    result_free(&r);
    /* No certificate: certificate_required. */
    r = run(client_with(NULL), server_verify(KITLS_VERIFY_REQUIRE), "localhost");
    ck_assert_int_eq(r.s, KITLS_E_CERT_REQUIRED);
    ck_assert_int_eq(r.c, KITLS_E_PEER_ALERT(116));
    ck_assert_int_eq(r.c_alert, 116);
    result_free(&r);
}
END_TEST

START_TEST(test_client_cert_no_client_auth_eku)
{
    /* serverAuth only: not usable as a client certificate. */
    for (int v = KITLS_VERIFY_REQUEST; v <= KITLS_VERIFY_REQUIRE; v++) {
        struct result r = run(client_with(&tu_pki.client_noeku),
                              server_verify((enum kitls_verify)v), "localhost");
        ck_assert_msg(r.s == KITLS_E_CERT_USAGE, "server: %s", kitls_strerror(r.s));
        ck_assert_int_eq(r.c, KITLS_E_PEER_ALERT(kitls_error_alert(KITLS_E_CERT_USAGE)));
        ck_assert_int_eq(r.c_alert, kitls_error_alert(KITLS_E_CERT_USAGE));
        result_free(&r);
    }
}
END_TEST

START_TEST(test_client_cert_untrusted)
{
    struct result r =
        run(client_with(&tu_pki.untrusted), server_verify(KITLS_VERIFY_REQUIRE), "localhost");
    ck_assert_msg(r.s == KITLS_E_CERT_UNTRUSTED, "server: %s", kitls_strerror(r.s));
    ck_assert_int_eq(r.c_alert, kitls_error_alert(KITLS_E_CERT_UNTRUSTED));
    result_free(&r);
}
END_TEST

START_TEST(test_client_cert_not_asked)
{
    /* Server verify NONE: no CertificateRequest, the client's cert stays home. */
    struct result r =
        run(client_with(&tu_pki.client), server_verify(KITLS_VERIFY_NONE), "localhost");
    expect_ok(&r);
    ck_assert_uint_eq(r.cpeer_len, 0);
    result_free(&r);
}
END_TEST

START_TEST(test_client_cert_no_common_scheme)
{
    /* The server accepts only RSA-PSS; the client's cert is P-256: the
     * client aborts (handshake_failure) rather than send it unsigned. */
    uint16_t pss = KITLS_SIG_RSA_PSS_RSAE_SHA256;
    kitls_config *s;
    s = tu_server_config(TU_RSA2048);
    ck_assert_int_eq(kitls_config_set_verify(s, KITLS_VERIFY_REQUEST), 0);
    ck_assert_int_eq(kitls_config_set_sigalgs(s, &pss, 1), 0);
    struct result r = run(client_with(&tu_pki.client), s, "localhost");
    ck_assert_int_eq(r.c, KITLS_E_HANDSHAKE_FAILURE);
    ck_assert_int_eq(r.s, KITLS_E_PEER_ALERT(40));
    ck_assert_int_eq(r.s_alert, 40);
    result_free(&r);
}
END_TEST

/* ---- trust policy regressions (docs/trust-policy.md) ---- */

/* Handshake against a server whose only leaf is made here; returns the
 * client's result. */
static int policy_case(const char *const *exts, int sha1, const char *sni)
{
    EVP_PKEY *k = tu_keygen(TU_P256);
    X509 *x = tu_issue(k, sni, tu_ca_cert(), tu_ca_key(), exts);
    if (sha1)
        ck_assert_int_gt(X509_sign(x, tu_ca_key(), EVP_sha1()), 0);
    struct tu_cred cr;
    cr.chain = tu_x509_pem(x, &cr.chain_len);
    cr.key = tu_pkey_pem(k, &cr.key_len);
    kitls_config *s = kitls_config_new(KITLS_ROLE_SERVER);
    add_cred(s, &cr);
    struct result r = run(tu_client_config(), s, sni);
    result_free(&r);
    free(cr.chain);
    free(cr.key);
    X509_free(x);
    EVP_PKEY_free(k);
    return r.c;
}

#define LEAF_EXTS                                                                                  \
    "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",                    \
        "extendedKeyUsage=serverAuth"

START_TEST(test_policy_cn_only)
{
    /* No SAN, the name only in the CN: not matched (RFC 9525 §6.3). */
    static const char *const cn_only[] = {LEAF_EXTS, NULL};
    ck_assert_int_eq(policy_case(cn_only, 0, "www.example.com"), KITLS_E_CERT_NAME_MISMATCH);
    static const char *const with_san[] = {LEAF_EXTS, "subjectAltName=DNS:www.example.com", NULL};
    ck_assert_int_eq(policy_case(with_san, 0, "www.example.com"), 0);
}
END_TEST

START_TEST(test_policy_partial_wildcard)
{
    /* A wildcard only as the whole left-most label. */
    static const char *const partial[] = {LEAF_EXTS, "subjectAltName=DNS:w*.example.com", NULL};
    ck_assert_int_eq(policy_case(partial, 0, "www.example.com"), KITLS_E_CERT_NAME_MISMATCH);
    static const char *const whole[] = {LEAF_EXTS, "subjectAltName=DNS:*.example.com", NULL};
    ck_assert_int_eq(policy_case(whole, 0, "www.example.com"), 0);
}
END_TEST

START_TEST(test_policy_sha1)
{
    /* A SHA-1 signature below the trust anchor is refused. */
    static const char *const ok[] = {LEAF_EXTS, "subjectAltName=DNS:www.example.com", NULL};
    ck_assert_int_eq(policy_case(ok, 1, "www.example.com"), KITLS_E_CERT_INVALID);
}
END_TEST

static Suite *certsel_suite(void)
{
    Suite *s = suite_create("certsel");
    TCase *tc = tcase_create("sigalg");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_select_by_sigalg, 0, (int)(sizeof(by_alg) / sizeof(by_alg[0])));
    tcase_add_test(tc, test_select_family_with_pkcs1);
    tcase_add_test(tc, test_select_none_acceptable);
    tcase_add_test(tc, test_select_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("sni");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_sni_exact);
    tcase_add_test(tc, test_sni_wildcard);
    tcase_add_test(tc, test_sni_no_match_fallback);
    tcase_add_test(tc, test_sni_none);
    tcase_add_test(tc, test_sni_tie_order);
    tcase_add_test(tc, test_sni_then_sigalg);
    tcase_add_test(tc, test_certificate_authorities);
    suite_add_tcase(s, tc);

    tc = tcase_create("callback");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_callback_chooses);
    tcase_add_test(tc, test_callback_sees_client_offer);
    tcase_add_test(tc, test_callback_incompatible);
    suite_add_tcase(s, tc);

    tc = tcase_create("client_cert");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_client_cert_request_none);
    tcase_add_test(tc, test_client_cert_request_sent);
    tcase_add_test(tc, test_client_cert_require);
    tcase_add_test(tc, test_client_cert_no_client_auth_eku);
    tcase_add_test(tc, test_client_cert_untrusted);
    tcase_add_test(tc, test_client_cert_not_asked);
    tcase_add_test(tc, test_client_cert_no_common_scheme);
    suite_add_tcase(s, tc);

    tc = tcase_create("trust_policy");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_policy_cn_only);
    tcase_add_test(tc, test_policy_partial_wildcard);
    tcase_add_test(tc, test_policy_sha1);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_pki_init();
    fixture();
    SRunner *sr = srunner_create(certsel_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
