/* Helpers for the public-API unit tests; see testutil.h. */
#include "testutil.h"

#include <check.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tu_pki tu_pki;

static X509 *fix_ca, *fix_other;
static EVP_PKEY *fix_ca_key, *fix_other_key;

/* The PKI is built outside any test (before forking), where Check's
 * assertions cannot report: fail loudly instead. */
#define REQ(x)                                                                                     \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "testutil.c:%d: %s failed\n", __LINE__, #x);                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#define REQ_EQ(a, b) REQ((a) == (b))
#define REQ_GT(a, b) REQ((a) > (b))

static EVP_PKEY *keygen(enum tu_key k)
{
    switch (k) {
    case TU_P256: return EVP_EC_gen("P-256");
    case TU_P384: return EVP_EC_gen("P-384");
    case TU_RSA2048: return EVP_RSA_gen(2048);
    case TU_ED25519: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    default: return NULL;
    }
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    REQ(ex);
    REQ_EQ(X509_add_ext(cert, ex, -1), 1);
    X509_EXTENSION_free(ex);
}

static long serial_no = 1;

/* Make a certificate for `key` signed by (issuer, issuer_key); a NULL
 * issuer makes a self-signed CA. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *eku)
{
    X509 *c = X509_new();
    REQ(c);
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial_no++);
    X509_time_adj_ex(X509_getm_notBefore(c), -1, 0, (time_t *)&tu_pki.now);
    X509_time_adj_ex(X509_getm_notAfter(c), 30, 0, (time_t *)&tu_pki.now);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(c, key);
    if (!issuer) {
        add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(c, c, NID_subject_key_identifier, "hash");
    } else {
        add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(c, issuer, NID_key_usage,
                EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA
                    ? "critical,digitalSignature,keyEncipherment"
                    : "critical,digitalSignature");
        add_ext(c, issuer, NID_ext_key_usage, eku);
        add_ext(c, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
        add_ext(c, issuer, NID_authority_key_identifier, "keyid");
    }
    EVP_PKEY *signer = issuer ? issuer_key : key;
    int is_ed = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519;
    REQ_GT(X509_sign(c, signer, is_ed ? NULL : EVP_sha256()), 0);
    return c;
}

static char *bio_string(BIO *b, size_t *len)
{
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    REQ(s);
    memcpy(s, p, (size_t)n);
    s[n] = 0;
    *len = (size_t)n;
    BIO_free(b);
    return s;
}

static char *cert_pem(X509 *c, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    REQ_EQ(PEM_write_bio_X509(b, c), 1);
    return bio_string(b, len);
}

static char *key_pem(EVP_PKEY *k, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    REQ_EQ(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    return bio_string(b, len);
}

static void make_cred(struct tu_cred *cr, EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key,
                      const char *eku)
{
    X509 *c = make_cert(key, cn, ca, ca_key, eku);
    cr->chain = cert_pem(c, &cr->chain_len);
    cr->key = key_pem(key, &cr->key_len);
    X509_free(c);
}

void tu_pki_init(void)
{
    tu_pki.now = (int64_t)time(NULL);
    EVP_PKEY *ca_key = keygen(TU_P256), *other_key = keygen(TU_P256);
    REQ(ca_key);
    X509 *ca = make_cert(ca_key, "kitls test CA", NULL, NULL, NULL);
    X509 *other = make_cert(other_key, "kitls untrusted CA", NULL, NULL, NULL);
    tu_pki.ca = cert_pem(ca, &tu_pki.ca_len);
    tu_pki.other_ca = cert_pem(other, &tu_pki.other_ca_len);
    static const char *names[TU_NKEYS] = {"p256.localhost", "p384.localhost", "rsa.localhost",
                                          "ed25519.localhost"};
    for (int k = 0; k < TU_NKEYS; k++) {
        EVP_PKEY *key = keygen((enum tu_key)k);
        REQ(key);
        make_cred(&tu_pki.server[k], key, names[k], ca, ca_key, "serverAuth");
        EVP_PKEY_free(key);
    }
    EVP_PKEY *key = keygen(TU_P256);
    make_cred(&tu_pki.client, key, "client", ca, ca_key, "clientAuth");
    make_cred(&tu_pki.client_noeku, key, "client-noeku", ca, ca_key, "serverAuth");
    make_cred(&tu_pki.untrusted, key, "untrusted.localhost", other, other_key, "serverAuth");
    EVP_PKEY_free(key);
    /* Kept for tests that issue their own certificates (tu_issue) or sign
     * OCSP responses. */
    fix_ca = ca;
    fix_ca_key = ca_key;
    fix_other = other;
    fix_other_key = other_key;
}

X509 *tu_ca_cert(void)
{
    return fix_ca;
}
EVP_PKEY *tu_ca_key(void)
{
    return fix_ca_key;
}
X509 *tu_other_ca_cert(void)
{
    return fix_other;
}
EVP_PKEY *tu_other_ca_key(void)
{
    return fix_other_key;
}

EVP_PKEY *tu_keygen(enum tu_key k)
{
    EVP_PKEY *key = keygen(k);
    REQ(key);
    return key;
}

X509 *tu_issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
               const char *const *exts)
{
    X509 *c = X509_new();
    REQ(c);
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial_no++);
    X509_time_adj_ex(X509_getm_notBefore(c), -1, 0, (time_t *)&tu_pki.now);
    X509_time_adj_ex(X509_getm_notAfter(c), 30, 0, (time_t *)&tu_pki.now);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(c, key);
    for (size_t i = 0; exts && exts[i]; i++) {
        char nm[64];
        const char *eq = strchr(exts[i], '=');
        REQ(eq && (size_t)(eq - exts[i]) < sizeof(nm));
        memcpy(nm, exts[i], (size_t)(eq - exts[i]));
        nm[eq - exts[i]] = 0;
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer ? issuer : c, c, NULL, NULL, 0);
        X509_EXTENSION *ex = X509V3_EXT_conf(NULL, &ctx, nm, eq + 1);
        REQ(ex);
        REQ_EQ(X509_add_ext(c, ex, -1), 1);
        X509_EXTENSION_free(ex);
    }
    EVP_PKEY *signer = issuer ? issuer_key : key;
    int is_ed = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519;
    REQ_GT(X509_sign(c, signer, is_ed ? NULL : EVP_sha256()), 0);
    return c;
}

char *tu_x509_pem(X509 *c, size_t *len)
{
    return cert_pem(c, len);
}
char *tu_pkey_pem(EVP_PKEY *k, size_t *len)
{
    return key_pem(k, len);
}

int64_t tu_time_fixed(void *ctx)
{
    return *(int64_t *)ctx;
}

kitls_config *tu_server_config(enum tu_key k)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(cfg);
    const struct tu_cred *cr = &tu_pki.server[k];
    ck_assert_int_eq(kitls_config_add_cert_pem(cfg, cr->chain, cr->chain_len, cr->key, cr->key_len),
                     0);
    ck_assert_int_eq(kitls_config_load_ca_pem(cfg, tu_pki.ca, tu_pki.ca_len), 0);
    return cfg;
}

kitls_config *tu_client_config(void)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(kitls_config_load_ca_pem(cfg, tu_pki.ca, tu_pki.ca_len), 0);
    return cfg;
}

kitls_conn *tu_client(kitls_config *cfg, const char *name)
{
    kitls_conn *c = kitls_conn_new(cfg);
    ck_assert_ptr_nonnull(c);
    if (name)
        ck_assert_int_eq(kitls_conn_set_server_name(c, name), 0);
    return c;
}

kitls_conn *tu_server(kitls_config *cfg)
{
    kitls_conn *s = kitls_conn_new(cfg);
    ck_assert_ptr_nonnull(s);
    return s;
}

size_t tu_move(kitls_conn *from, kitls_conn *to)
{
    size_t moved = 0;
    for (int i = 0; i < 1000; i++) {
        const uint8_t *p;
        size_t n = kitls_conn_out_peek(from, &p);
        if (!n)
            break;
        if (kitls_conn_feed(to, p, n) != 0)
            break;
        kitls_conn_out_consume(from, n);
        moved += n;
    }
    return moved;
}

int tu_handshake(kitls_conn *c, kitls_conn *s, int *cret, int *sret)
{
    int cr = KITLS_E_WANT_READ, sr = KITLS_E_WANT_READ;
    for (int round = 0; round < 64; round++) {
        if (cr == KITLS_E_WANT_READ)
            cr = kitls_conn_handshake(c);
        size_t m = tu_move(c, s);
        if (sr == KITLS_E_WANT_READ)
            sr = kitls_conn_handshake(s);
        m += tu_move(s, c);
        if (cr != KITLS_E_WANT_READ && sr != KITLS_E_WANT_READ)
            break;
        if (!m && round > 0) {
            /* Nothing moved: give each side one more look, then stop. */
            if (cr == KITLS_E_WANT_READ)
                cr = kitls_conn_handshake(c);
            if (sr == KITLS_E_WANT_READ)
                sr = kitls_conn_handshake(s);
            tu_move(c, s);
            tu_move(s, c);
            if (cr == KITLS_E_WANT_READ || sr == KITLS_E_WANT_READ)
                break;
        }
    }
    if (cret)
        *cret = cr;
    if (sret)
        *sret = sr;
    return cr == 0 && sr == 0 ? 0 : -1;
}

uint8_t *tu_out_copy(kitls_conn *c, size_t *len)
{
    const uint8_t *p;
    size_t n = kitls_conn_out_peek(c, &p);
    uint8_t *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    if (n)
        memcpy(b, p, n);
    *len = n;
    return b;
}

size_t tu_records(const uint8_t *buf, size_t len, size_t *off, size_t max)
{
    size_t i = 0, n = 0;
    while (i + 5 <= len) {
        size_t rl = (size_t)buf[i + 3] << 8 | buf[i + 4];
        if (i + 5 + rl > len)
            break;
        if (n < max && off)
            off[n] = i;
        n++;
        i += 5 + rl;
    }
    return n;
}

int tu_find_alert(const uint8_t *buf, size_t len)
{
    size_t i = 0;
    while (i + 5 <= len) {
        size_t rl = (size_t)buf[i + 3] << 8 | buf[i + 4];
        if (buf[i] == 21 && rl == 2 && i + 7 <= len) {
            if (buf[i + 1] != 3 || buf[i + 2] != 3 || buf[i + 5] != 2)
                return -2; /* malformed alert record: wrong version or level */
            return buf[i + 6];
        }
        i += 5 + rl;
    }
    return -1;
}

void tu_put(struct tu_buf *b, const void *p, size_t n)
{
    ck_assert_uint_le(b->n + n, sizeof(b->b));
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
void tu_u8(struct tu_buf *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    tu_put(b, &x, 1);
}
void tu_u16(struct tu_buf *b, unsigned v)
{
    tu_u8(b, v >> 8);
    tu_u8(b, v);
}
void tu_u24(struct tu_buf *b, unsigned v)
{
    tu_u8(b, v >> 16);
    tu_u16(b, v);
}
size_t tu_begin(struct tu_buf *b, int n)
{
    size_t at = b->n;
    static const uint8_t z[3];
    tu_put(b, z, (size_t)n);
    return at;
}
void tu_end(struct tu_buf *b, size_t at, int n)
{
    size_t len = b->n - at - (size_t)n;
    for (int i = n - 1; i >= 0; i--) {
        b->b[at + (size_t)i] = (uint8_t)len;
        len >>= 8;
    }
}
