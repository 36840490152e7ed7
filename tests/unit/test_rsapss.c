/*
 * RSA-PSS certificates through the public API (issue 14): id-RSASSA-PSS
 * keys load with kitls_config_add_cert_pem, sign CertificateVerify with
 * rsa_pss_pss_sha256/384/512 (RFC 8446 §4.2.3) as a server and as a
 * client, within the key's parameter restrictions; a verifier offers the
 * schemes and checks them; rsa_pss_pss_* is never used with an
 * rsaEncryption key nor rsa_pss_rsae_* with a PSS key; chains whose
 * certificates are PSS-signed verify.  Primitive-level checks (salt
 * length, MGF1 hash) are in test_rsapss_sig.c.
 */
#include <check.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Builds against the old header too, to show these tests fail there. */
#ifndef KITLS_SIG_RSA_PSS_PSS_SHA256
#define KITLS_SIG_RSA_PSS_PSS_SHA256 0x0809
#define KITLS_SIG_RSA_PSS_PSS_SHA384 0x080a
#define KITLS_SIG_RSA_PSS_PSS_SHA512 0x080b
#endif

#define PSS256 KITLS_SIG_RSA_PSS_PSS_SHA256
#define PSS384 KITLS_SIG_RSA_PSS_PSS_SHA384
#define PSS512 KITLS_SIG_RSA_PSS_PSS_SHA512

#define REQ(x)                                                                                     \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "test_rsapss.c:%d: %s failed\n", __LINE__, #x);                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Leaf credentials issued by the fixture CA (P-256), usable by both roles. */
enum cred {
    C_PSS,    /* id-RSASSA-PSS, no parameters */
    C_PSS256, /* restricted to SHA-256 (MGF1-SHA-256, salt >= 32) */
    C_PSS384, /* restricted to SHA-384 */
    C_PSS512, /* restricted to SHA-512 */
    C_MGF1,   /* SHA-256 with MGF1-SHA-1: no TLS 1.3 scheme fits */
    C_SALT,   /* SHA-256 with a minimum salt of 64 > 32: none fits */
    C_SHA1,   /* the RFC 4055 defaults (SHA-1): none fits */
    C_N
};
static struct tu_cred creds[C_N];
static EVP_PKEY *pss_unrestricted; /* the private key of C_PSS */
/* The modulus of C_PSS with parameters restricting it to SHA-384: a
 * certificate for it, and its private key in PEM. */
static struct tu_cred same_n_384;

/* A chain whose certificates are PSS-signed, and its root. */
struct chain {
    struct tu_cred cr;
    char *root;
    size_t root_len;
    char *tampered; /* cr.chain with one bit of the leaf's signature flipped */
    size_t tampered_len;
};
static struct chain ch_pss_root, ch_rsa_root, ch_ec_leaf;

static const char *const leaf_exts[] = {
    "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth,clientAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1", NULL};
static const char *const ca_exts[] = {"basicConstraints=critical,CA:TRUE",
                                      "keyUsage=critical,keyCertSign,cRLSign", NULL};

static EVP_PKEY *pss_key(const char *md, const char *mgf1, int salt)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    REQ(ctx && EVP_PKEY_keygen_init(ctx) > 0);
    REQ(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) > 0);
    if (md) {
        REQ(EVP_PKEY_CTX_set_rsa_pss_keygen_md_name(ctx, md, NULL) > 0);
        REQ(EVP_PKEY_CTX_set_rsa_pss_keygen_mgf1_md_name(ctx, mgf1) > 0);
        REQ(EVP_PKEY_CTX_set_rsa_pss_keygen_saltlen(ctx, salt) > 0);
    }
    REQ(EVP_PKEY_keygen(ctx, &k) > 0);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

static void make_cred(struct tu_cred *cr, EVP_PKEY *k)
{
    X509 *x = tu_issue(k, "localhost", tu_ca_cert(), tu_ca_key(), leaf_exts);
    cr->chain = tu_x509_pem(x, &cr->chain_len);
    cr->key = tu_pkey_pem(k, &cr->key_len);
    X509_free(x);
}

/* Re-sign x with RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32): the
 * signatureAlgorithm becomes id-RSASSA-PSS whatever the issuer key type. */
static void resign_pss(X509 *x, EVP_PKEY *issuer_key)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;
    REQ(m && EVP_DigestSignInit_ex(m, &p, "SHA256", NULL, NULL, issuer_key, NULL) > 0);
    REQ(EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) > 0);
    REQ(EVP_PKEY_CTX_set_rsa_mgf1_md_name(p, "SHA256", NULL) > 0);
    REQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(p, 32) > 0);
    REQ(X509_sign_ctx(x, m) > 0);
    REQ(X509_get_signature_nid(x) == NID_rsassaPss);
    EVP_MD_CTX_free(m);
}

static char *cat(const char *a, size_t al, const char *b, size_t bl, size_t *len)
{
    char *s = malloc(al + bl + 1);
    REQ(s);
    memcpy(s, a, al);
    memcpy(s + al, b, bl);
    s[al + bl] = 0;
    *len = al + bl;
    return s;
}

/*
 * root (key root_key, self-signed with PSS) -> intermediate (PSS key
 * restricted to SHA-256, PSS-signed) -> leaf (leaf_key, PSS-signed).  The
 * server sends leaf + intermediate.
 */
static void make_chain(struct chain *c, EVP_PKEY *root_key, EVP_PKEY *leaf_key)
{
    EVP_PKEY *ik = pss_key("SHA256", "SHA256", 32);
    X509 *root = tu_issue(root_key, "kitls PSS root", NULL, NULL, ca_exts);
    resign_pss(root, root_key);
    X509 *inter = tu_issue(ik, "kitls PSS intermediate", root, root_key, ca_exts);
    resign_pss(inter, root_key);
    X509 *leaf = tu_issue(leaf_key, "localhost", inter, ik, leaf_exts);
    resign_pss(leaf, ik);
    size_t ll, il;
    char *lp = tu_x509_pem(leaf, &ll), *ip = tu_x509_pem(inter, &il);
    c->cr.chain = cat(lp, ll, ip, il, &c->cr.chain_len);
    c->cr.key = tu_pkey_pem(leaf_key, &c->cr.key_len);
    c->root = tu_x509_pem(root, &c->root_len);
    /* The last byte of the leaf's signature, flipped: still DER, no longer
     * a valid signature. */
    const ASN1_BIT_STRING *sig;
    X509_get0_signature(&sig, NULL, leaf);
    ((ASN1_BIT_STRING *)sig)->data[sig->length - 1] ^= 1;
    free(lp);
    lp = tu_x509_pem(leaf, &ll);
    c->tampered = cat(lp, ll, ip, il, &c->tampered_len);
    free(lp);
    free(ip);
    X509_free(leaf);
    X509_free(inter);
    X509_free(root);
    EVP_PKEY_free(ik);
}

/* key's RSA numbers with the PSS parameters of a SHA-384 restriction. */
static EVP_PKEY *restrict_to_sha384(EVP_PKEY *key)
{
    OSSL_PARAM *nums = NULL, *all;
    EVP_PKEY *k = NULL;
    int salt = 48;
    OSSL_PARAM pss[] = {OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_RSA_DIGEST, "SHA384", 0),
                        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_RSA_MGF1_DIGEST, "SHA384", 0),
                        OSSL_PARAM_int(OSSL_PKEY_PARAM_RSA_PSS_SALTLEN, &salt), OSSL_PARAM_END};
    REQ(EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &nums) > 0);
    REQ((all = OSSL_PARAM_merge(nums, pss)) != NULL);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    REQ(ctx && EVP_PKEY_fromdata_init(ctx) > 0);
    REQ(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, all) > 0);
    REQ(EVP_PKEY_get_int_param(k, OSSL_PKEY_PARAM_RSA_PSS_SALTLEN, &salt) && salt == 48);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(all);
    OSSL_PARAM_free(nums);
    return k;
}

static void fixture(void)
{
    pss_unrestricted = pss_key(NULL, NULL, 0);
    static const struct {
        const char *md, *mgf1;
        int salt;
    } params[C_N] = {{NULL, NULL, 0},          {"SHA256", "SHA256", 32}, {"SHA384", "SHA384", 48},
                     {"SHA512", "SHA512", 64}, {"SHA256", "SHA1", 32},   {"SHA256", "SHA256", 64},
                     {"SHA1", "SHA1", 20}};
    for (int i = 0; i < C_N; i++) {
        EVP_PKEY *k =
            i == C_PSS ? pss_unrestricted : pss_key(params[i].md, params[i].mgf1, params[i].salt);
        make_cred(&creds[i], k);
        if (k != pss_unrestricted)
            EVP_PKEY_free(k);
    }
    EVP_PKEY *k384 = restrict_to_sha384(pss_unrestricted);
    make_cred(&same_n_384, k384);
    EVP_PKEY_free(k384);
    EVP_PKEY *rk = pss_key(NULL, NULL, 0);
    make_chain(&ch_pss_root, rk, pss_unrestricted);
    EVP_PKEY *ec = tu_keygen(TU_P256);
    make_chain(&ch_ec_leaf, rk, ec);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rk);
    rk = tu_keygen(TU_RSA2048);
    make_chain(&ch_rsa_root, rk, pss_unrestricted);
    EVP_PKEY_free(rk);
}

static void add_cred(kitls_config *cfg, const struct tu_cred *cr)
{
    ck_assert_int_eq(kitls_config_add_cert_pem(cfg, cr->chain, cr->chain_len, cr->key, cr->key_len),
                     0);
}

static kitls_config *server_with(const struct tu_cred *cr)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(cfg);
    add_cred(cfg, cr);
    ck_assert_int_eq(kitls_config_load_ca_pem(cfg, tu_pki.ca, tu_pki.ca_len), 0);
    return cfg;
}

static kitls_config *client_offering(const uint16_t *ids, size_t n)
{
    kitls_config *cfg = tu_client_config();
    if (n)
        ck_assert_int_eq(kitls_config_set_sigalgs(cfg, ids, n), 0);
    return cfg;
}

struct result {
    int c, s;
    int c_alert, s_alert;   /* alert each side received, or -1 */
    uint16_t c_peer_sigalg; /* client: the scheme the server signed with */
    uint16_t s_sigalg;      /* server: the scheme it signed with */
    uint16_t s_peer_sigalg; /* server: the scheme the client signed with */
    int s_peer_auth;
    int has_pss[3]; /* server saw rsa_pss_pss_sha256/384/512 offered */
};

/* One handshake; the configs are dropped here. */
static struct result run(kitls_config *ccfg, kitls_config *scfg)
{
    struct result r;
    memset(&r, 0, sizeof(r));
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    tu_handshake(c, s, &r.c, &r.s);
    if (r.c == 0 && r.s != 0) {
        /* The client finished first (client auth): collect the server's verdict. */
        uint8_t buf[16];
        tu_move(s, c);
        r.c = kitls_conn_read(c, buf, sizeof(buf));
        if (r.c == KITLS_E_WANT_READ)
            r.c = 0;
    }
    r.c_alert = kitls_conn_peer_alert(c);
    r.s_alert = kitls_conn_peer_alert(s);
    r.c_peer_sigalg = kitls_conn_peer_sigalg(c);
    r.s_sigalg = kitls_conn_sigalg(s);
    r.s_peer_sigalg = kitls_conn_peer_sigalg(s);
    r.s_peer_auth = kitls_conn_peer_authenticated(s);
    size_t n;
    const uint16_t *offered = kitls_conn_peer_sigalgs(s, &n);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            r.has_pss[k] |= offered[i] == PSS256 + k;
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
    return r;
}

static void expect_ok(const struct result *r)
{
    ck_assert_msg(r->c == 0 && r->s == 0, "client %d (%s), server %d (%s)", r->c,
                  kitls_strerror(r->c), r->s, kitls_strerror(r->s));
}

/* The server refused: handshake_failure, which the client receives. */
static void expect_server_refused(const struct result *r)
{
    ck_assert_msg(r->s == KITLS_E_HANDSHAKE_FAILURE, "server: %d (%s)", r->s, kitls_strerror(r->s));
    ck_assert_int_eq(r->c, KITLS_E_PEER_ALERT(40));
    ck_assert_int_eq(r->c_alert, 40);
}

/* ---- server role ---- */

static const struct {
    enum cred cred;
    uint16_t offer[3]; /* 0-terminated; empty: the default list */
    uint16_t want;
} server_cases[] = {
    {C_PSS, {0}, PSS256},
    {C_PSS, {PSS384}, PSS384},
    {C_PSS, {PSS512}, PSS512},
    {C_PSS, {KITLS_SIG_RSA_PSS_RSAE_SHA256, PSS512}, PSS512},
    {C_PSS256, {0}, PSS256},
    {C_PSS384, {0}, PSS384},
    {C_PSS384, {PSS256, PSS384}, PSS384},
    {C_PSS512, {0}, PSS512},
    {C_PSS512, {PSS256, PSS384, PSS512}, PSS512},
};

START_TEST(test_server_signs_pss)
{
    size_t n = 0;
    while (n < 3 && server_cases[_i].offer[n])
        n++;
    struct result r =
        run(client_offering(server_cases[_i].offer, n), server_with(&creds[server_cases[_i].cred]));
    expect_ok(&r);
    ck_assert_uint_eq(r.s_sigalg, server_cases[_i].want);
    ck_assert_uint_eq(r.c_peer_sigalg, server_cases[_i].want);
}
END_TEST

START_TEST(test_server_restricted_key_other_hash)
{
    /* A key restricted to SHA-384 never signs rsa_pss_pss_sha256 (nor
     * SHA-512): with only those offered the server has no scheme. */
    static const uint16_t offers[][2] = {{PSS256, 0}, {PSS256, PSS512}};
    for (int i = 0; i < 2; i++) {
        struct result r =
            run(client_offering(offers[i], offers[i][1] ? 2 : 1), server_with(&creds[C_PSS384]));
        expect_server_refused(&r);
    }
}
END_TEST

START_TEST(test_pss_key_never_rsae)
{
    /* RFC 8446 §4.2.3: rsa_pss_rsae_* is for rsaEncryption keys only. */
    static const uint16_t rsae[] = {KITLS_SIG_RSA_PSS_RSAE_SHA256, KITLS_SIG_RSA_PSS_RSAE_SHA384,
                                    KITLS_SIG_RSA_PSS_RSAE_SHA512, KITLS_SIG_RSA_PKCS1_SHA256};
    struct result r = run(client_offering(rsae, 4), server_with(&creds[C_PSS]));
    expect_server_refused(&r);
}
END_TEST

START_TEST(test_rsae_key_never_pss)
{
    /* ... and rsa_pss_pss_* for id-RSASSA-PSS keys only. */
    static const uint16_t pss[] = {PSS256, PSS384, PSS512};
    struct result r = run(client_offering(pss, 3), tu_server_config(TU_RSA2048));
    expect_server_refused(&r);
}
END_TEST

START_TEST(test_select_chain_by_key_type)
{
    /* A server with an rsaEncryption and a PSS chain picks by the offer. */
    static const uint16_t rsae = KITLS_SIG_RSA_PSS_RSAE_SHA384, pss = PSS384;
    for (int i = 0; i < 2; i++) {
        kitls_config *s = server_with(&tu_pki.server[TU_RSA2048]);
        add_cred(s, &creds[C_PSS]);
        struct result r = run(client_offering(i ? &pss : &rsae, 1), s);
        expect_ok(&r);
        ck_assert_uint_eq(r.c_peer_sigalg, i ? pss : rsae);
    }
}
END_TEST

START_TEST(test_client_offers_pss)
{
    /* By default a client offers all three (and so accepts them). */
    struct result r = run(client_offering(NULL, 0), tu_server_config(TU_P256));
    expect_ok(&r);
    for (int k = 0; k < 3; k++)
        ck_assert_msg(r.has_pss[k], "0x%04x not offered", PSS256 + k);
}
END_TEST

/* ---- client role (client certificates) ---- */

static const struct {
    enum cred cred;
    uint16_t accept[2]; /* the server's list, 0-terminated; empty: default */
    uint16_t want;
} client_cases[] = {
    {C_PSS, {0}, PSS256},    {C_PSS, {PSS512, 0}, PSS512},
    {C_PSS256, {0}, PSS256}, {C_PSS384, {0}, PSS384},
    {C_PSS512, {0}, PSS512}, {C_PSS512, {KITLS_SIG_RSA_PSS_RSAE_SHA512, PSS512}, PSS512},
};

static kitls_config *server_requiring(const uint16_t *accept, size_t n)
{
    kitls_config *s = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_verify(s, KITLS_VERIFY_REQUIRE), 0);
    if (n)
        ck_assert_int_eq(kitls_config_set_sigalgs(s, accept, n), 0);
    return s;
}

START_TEST(test_client_cert_pss)
{
    size_t n = 0;
    while (n < 2 && client_cases[_i].accept[n])
        n++;
    /* The server signs with ECDSA: it must accept that as well. */
    uint16_t accept[3] = {KITLS_SIG_ECDSA_SECP256R1_SHA256};
    memcpy(accept + 1, client_cases[_i].accept, n * sizeof(uint16_t));
    kitls_config *c = tu_client_config();
    add_cred(c, &creds[client_cases[_i].cred]);
    struct result r = run(c, server_requiring(accept, n ? n + 1 : 0));
    expect_ok(&r);
    ck_assert_int_eq(r.s_peer_auth, 1);
    ck_assert_uint_eq(r.s_peer_sigalg, client_cases[_i].want);
}
END_TEST

START_TEST(test_client_cert_restricted_other_hash)
{
    /* The server accepts only rsa_pss_pss_sha256 (and ECDSA for its own
     * signature); the client's key is restricted to SHA-384: it aborts
     * with handshake_failure rather than sign outside its restriction. */
    static const uint16_t accept[] = {KITLS_SIG_ECDSA_SECP256R1_SHA256, PSS256};
    kitls_config *c = tu_client_config();
    add_cred(c, &creds[C_PSS384]);
    struct result r = run(c, server_requiring(accept, 2));
    ck_assert_msg(r.c == KITLS_E_HANDSHAKE_FAILURE, "client: %d (%s)", r.c, kitls_strerror(r.c));
    ck_assert_int_eq(r.s_alert, 40);
}
END_TEST

START_TEST(test_client_cert_pss_not_accepted_as_rsae)
{
    /* A server accepting only rsa_pss_rsae_*: the PSS key cannot answer. */
    static const uint16_t accept[] = {KITLS_SIG_ECDSA_SECP256R1_SHA256,
                                      KITLS_SIG_RSA_PSS_RSAE_SHA256};
    kitls_config *c = tu_client_config();
    add_cred(c, &creds[C_PSS]);
    struct result r = run(c, server_requiring(accept, 2));
    ck_assert_msg(r.c == KITLS_E_HANDSHAKE_FAILURE, "client: %d (%s)", r.c, kitls_strerror(r.c));
}
END_TEST

/* ---- key loading ---- */

START_TEST(test_load_refuses_unusable_params)
{
    /* MGF1 over another hash, a minimum salt above the digest length,
     * SHA-1: RFC 8446 §4.2.3 leaves such a key no scheme.  Refused when
     * loaded, in both roles, rather than failing every handshake. */
    static const enum cred bad[] = {C_MGF1, C_SALT, C_SHA1};
    for (int role = 0; role < 2; role++)
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            kitls_config *cfg = kitls_config_new(role ? KITLS_ROLE_SERVER : KITLS_ROLE_CLIENT);
            const struct tu_cred *cr = &creds[bad[i]];
            ck_assert_int_eq(
                kitls_config_add_cert_pem(cfg, cr->chain, cr->chain_len, cr->key, cr->key_len),
                KITLS_E_CONFIG);
            kitls_config_free(cfg);
        }
}
END_TEST

START_TEST(test_load_refuses_params_unlike_cert)
{
    /* One modulus, two parameter sets: the peer checks our signatures
     * against the certificate's parameters, so a private key whose own
     * parameters allow other schemes is refused (both ways round). */
    const struct tu_cred *restricted = &same_n_384, *unrestricted = &creds[C_PSS];
    for (int i = 0; i < 2; i++) {
        const struct tu_cred *cert = i ? restricted : unrestricted;
        const struct tu_cred *key = i ? unrestricted : restricted;
        kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
        ck_assert_int_eq(
            kitls_config_add_cert_pem(cfg, cert->chain, cert->chain_len, key->key, key->key_len),
            KITLS_E_CONFIG);
        kitls_config_free(cfg);
    }
    /* Matched, the restricted pair loads and signs SHA-384 only. */
    struct result r = run(client_offering(NULL, 0), server_with(restricted));
    expect_ok(&r);
    ck_assert_uint_eq(r.c_peer_sigalg, PSS384);
}
END_TEST

START_TEST(test_load_usable)
{
    for (int role = 0; role < 2; role++)
        for (int i = C_PSS; i <= C_PSS512; i++) {
            kitls_config *cfg = kitls_config_new(role ? KITLS_ROLE_SERVER : KITLS_ROLE_CLIENT);
            add_cred(cfg, &creds[i]);
            kitls_config_free(cfg);
        }
}
END_TEST

/* ---- PSS-signed chains (verified by libcrypto's X.509 verifier) ---- */

static struct result run_chain(const struct chain *ch, int tampered, int trust_root)
{
    kitls_config *s = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(kitls_config_add_cert_pem(s, tampered ? ch->tampered : ch->cr.chain,
                                               tampered ? ch->tampered_len : ch->cr.chain_len,
                                               ch->cr.key, ch->cr.key_len),
                     0);
    kitls_config *c = kitls_config_new(KITLS_ROLE_CLIENT);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(trust_root ? kitls_config_load_ca_pem(c, ch->root, ch->root_len)
                                : kitls_config_load_ca_pem(c, tu_pki.ca, tu_pki.ca_len),
                     0);
    return run(c, s);
}

START_TEST(test_pss_signed_chain)
{
    /* _i = 0: every certificate has a PSS key and signature; 1: the root
     * has an rsaEncryption key and signs with RSASSA-PSS; 2: PSS root and
     * intermediate, P-256 leaf (only the chain is PSS). */
    const struct chain *ch = _i == 0 ? &ch_pss_root : _i == 1 ? &ch_rsa_root : &ch_ec_leaf;
    struct result r = run_chain(ch, 0, 1);
    expect_ok(&r);
    ck_assert_uint_eq(r.c_peer_sigalg, _i == 2 ? KITLS_SIG_ECDSA_SECP256R1_SHA256 : PSS256);
    /* The same chain with the leaf's PSS signature broken is refused. */
    r = run_chain(ch, 1, 1);
    ck_assert_msg(r.c == KITLS_E_CERT_INVALID, "client: %d (%s)", r.c, kitls_strerror(r.c));
    /* ... and the intact chain under another root. */
    r = run_chain(ch, 0, 0);
    ck_assert_msg(r.c == KITLS_E_CERT_UNTRUSTED, "client: %d (%s)", r.c, kitls_strerror(r.c));
}
END_TEST

static Suite *rsapss_suite(void)
{
    Suite *s = suite_create("rsapss");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_server_signs_pss, 0,
                        (int)(sizeof(server_cases) / sizeof(server_cases[0])));
    tcase_add_test(tc, test_server_restricted_key_other_hash);
    tcase_add_test(tc, test_pss_key_never_rsae);
    tcase_add_test(tc, test_rsae_key_never_pss);
    tcase_add_test(tc, test_select_chain_by_key_type);
    tcase_add_test(tc, test_client_offers_pss);
    suite_add_tcase(s, tc);

    tc = tcase_create("client");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_client_cert_pss, 0,
                        (int)(sizeof(client_cases) / sizeof(client_cases[0])));
    tcase_add_test(tc, test_client_cert_restricted_other_hash);
    tcase_add_test(tc, test_client_cert_pss_not_accepted_as_rsae);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_load_refuses_unusable_params);
    tcase_add_test(tc, test_load_refuses_params_unlike_cert);
    tcase_add_test(tc, test_load_usable);
    suite_add_tcase(s, tc);

    tc = tcase_create("chain");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_pss_signed_chain, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tu_pki_init();
    fixture();
    SRunner *sr = srunner_create(rsapss_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
