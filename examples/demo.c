/*
 * kitls-demo: a self-contained, in-memory TLS 1.3 handshake.
 *
 * It makes a throwaway CA and a server certificate for "localhost" with
 * libcrypto, creates a client and a server kitls_conn, and moves bytes
 * between them in memory (no sockets): the sans-I/O API in its simplest
 * form.  It then sends a message each way and prints what was negotiated.
 *
 * Exit status 0 on success, 1 on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <kitls/kitls.h>

struct pem {
    char *data;
    size_t len;
};

static void pem_free(struct pem *p)
{
    if (p->data != NULL)
        OPENSSL_cleanse(p->data, p->len);
    free(p->data);
    p->data = NULL;
    p->len = 0;
}

/* Copy a memory BIO's contents into p. */
static int bio_to_pem(BIO *bio, struct pem *p)
{
    char *mem = NULL;
    long len = BIO_get_mem_data(bio, &mem);

    if (len <= 0)
        return -1;
    p->data = malloc((size_t)len);
    if (p->data == NULL)
        return -1;
    memcpy(p->data, mem, (size_t)len);
    p->len = (size_t)len;
    return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return 0;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/*
 * Make a certificate for key, named cn, signed by issuer_key (self-signed
 * when issuer is NULL).  ca selects CA or leaf extensions.
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long serial, int ca)
{
    X509 *cert = X509_new();
    X509_NAME *name;
    int ok;

    if (cert == NULL)
        return NULL;
    name = X509_get_subject_name(cert);
    ok = X509_set_version(cert, X509_VERSION_3) &&
         ASN1_INTEGER_set(X509_get_serialNumber(cert), serial) &&
         X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL &&
         X509_gmtime_adj(X509_getm_notAfter(cert), 24L * 3600) != NULL &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) &&
         X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name) &&
         X509_set_pubkey(cert, key);
    if (ok && ca) {
        ok = add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(cert, cert, NID_subject_key_identifier, "hash");
    } else if (ok) {
        ok = add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature") &&
             add_ext(cert, issuer, NID_ext_key_usage, "serverAuth") &&
             add_ext(cert, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") &&
             add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always");
    }
    if (ok)
        ok = X509_sign(cert, issuer_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/* Generate a CA and a server certificate; return PEM text for the CA
 * certificate, the server chain and the server key. */
static int make_pki(struct pem *ca_pem, struct pem *chain_pem, struct pem *key_pem)
{
    EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    X509 *ca = NULL, *srv = NULL;
    BIO *b1 = NULL, *b2 = NULL, *b3 = NULL;
    int ok = 0;

    ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (ca_key == NULL || srv_key == NULL)
        goto out;
    ca = make_cert(ca_key, "kitls demo CA", NULL, ca_key, 1, 1);
    if (ca == NULL)
        goto out;
    srv = make_cert(srv_key, "localhost", ca, ca_key, 2, 0);
    if (srv == NULL)
        goto out;
    b1 = BIO_new(BIO_s_mem());
    b2 = BIO_new(BIO_s_mem());
    b3 = BIO_new(BIO_s_mem());
    if (b1 == NULL || b2 == NULL || b3 == NULL)
        goto out;
    if (!PEM_write_bio_X509(b1, ca) || !PEM_write_bio_X509(b2, srv) ||
        !PEM_write_bio_PrivateKey(b3, srv_key, NULL, NULL, 0, NULL, NULL))
        goto out;
    ok = bio_to_pem(b1, ca_pem) == 0 && bio_to_pem(b2, chain_pem) == 0 &&
         bio_to_pem(b3, key_pem) == 0;
out:
    BIO_free(b1);
    BIO_free(b2);
    BIO_free(b3);
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    return ok ? 0 : -1;
}

/* Move all pending output of one connection into the other. */
static int transfer(kitls_conn *from, kitls_conn *to, size_t *moved)
{
    const uint8_t *p;
    size_t len;
    int rc;

    *moved = 0;
    while ((len = kitls_conn_out_peek(from, &p)) > 0) {
        rc = kitls_conn_feed(to, p, len);
        if (rc < 0)
            return rc;
        kitls_conn_out_consume(from, len);
        *moved += len;
    }
    return 0;
}

static int fail(const char *who, const kitls_conn *c, int err)
{
    const char *detail = c != NULL ? kitls_conn_verify_detail(c) : NULL;

    fprintf(stderr, "kitls-demo: %s: %s (%d)\n", who, kitls_strerror(err), err);
    if (c != NULL && kitls_conn_peer_alert(c) >= 0)
        fprintf(stderr, "kitls-demo: %s received alert %s\n", who,
                kitls_alert_string(kitls_conn_peer_alert(c)));
    if (detail != NULL && *detail != '\0')
        fprintf(stderr, "kitls-demo: %s: verify: %s\n", who, detail);
    return 1;
}

/* Drive both handshakes until both sides are established. */
static int handshake(kitls_conn *cli, kitls_conn *srv)
{
    size_t moved, total;
    int rc, round;

    for (round = 0; round < 32; round++) {
        total = 0;
        if (!kitls_conn_is_established(cli)) {
            rc = kitls_conn_handshake(cli);
            if (rc < 0 && rc != KITLS_E_WANT_READ)
                return fail("client handshake", cli, rc);
        }
        rc = transfer(cli, srv, &moved);
        if (rc < 0)
            return fail("server feed", srv, rc);
        total += moved;
        if (!kitls_conn_is_established(srv)) {
            rc = kitls_conn_handshake(srv);
            if (rc < 0 && rc != KITLS_E_WANT_READ)
                return fail("server handshake", srv, rc);
        }
        rc = transfer(srv, cli, &moved);
        if (rc < 0)
            return fail("client feed", cli, rc);
        total += moved;
        if (kitls_conn_is_established(cli) && kitls_conn_is_established(srv))
            return 0;
        if (total == 0 && round > 0) {
            fprintf(stderr, "kitls-demo: handshake stalled\n");
            return 1;
        }
    }
    fprintf(stderr, "kitls-demo: handshake did not finish\n");
    return 1;
}

/* Send msg from one side and read it on the other. */
static int exchange(kitls_conn *from, kitls_conn *to, const char *who, const char *msg)
{
    uint8_t buf[256];
    size_t moved, len = strlen(msg);
    int rc;

    rc = kitls_conn_write(from, (const uint8_t *)msg, len);
    if (rc < 0)
        return fail("write", from, rc);
    rc = transfer(from, to, &moved);
    if (rc < 0)
        return fail("feed", to, rc);
    rc = kitls_conn_read(to, buf, sizeof(buf) - 1);
    if (rc < 0)
        return fail("read", to, rc);
    buf[rc] = '\0';
    if ((size_t)rc != len || memcmp(buf, msg, len) != 0) {
        fprintf(stderr, "kitls-demo: message garbled\n");
        return 1;
    }
    printf("%s received: %s\n", who, (const char *)buf);
    return 0;
}

static void print_side(const char *side, const kitls_conn *c)
{
    const char *alpn = kitls_conn_alpn(c), *sni = kitls_conn_server_name(c);
    const char *suite = kitls_suite_name(kitls_conn_suite(c));
    const char *group = kitls_group_name(kitls_conn_group(c));
    const char *sig = kitls_sigalg_name(kitls_conn_sigalg(c));

    printf("%s:\n", side);
    printf("  protocol: TLSv1.3\n");
    printf("  suite: %s\n", suite != NULL ? suite : "?");
    printf("  group: %s\n", group != NULL ? group : "?");
    printf("  sigalg: %s\n", sig != NULL ? sig : "?");
    printf("  alpn: %s\n", alpn != NULL ? alpn : "none");
    printf("  hrr: %s\n", kitls_conn_did_hrr(c) ? "yes" : "no");
    printf("  peer-authenticated: %s\n", kitls_conn_peer_authenticated(c) ? "yes" : "no");
    printf("  server-name: %s\n", sni != NULL ? sni : "none");
}

int main(void)
{
    struct pem ca = {0}, chain = {0}, key = {0};
    kitls_config *ccfg = NULL, *scfg = NULL;
    kitls_conn *cli = NULL, *srv = NULL;
    static const char *const alpn[] = {"demo/1"};
    int rc = 1, err;

    printf("kitls %s in-memory demo\n", kitls_version());
    if (make_pki(&ca, &chain, &key) != 0) {
        fprintf(stderr, "kitls-demo: certificate generation failed\n");
        goto out;
    }

    scfg = kitls_config_new(KITLS_ROLE_SERVER);
    ccfg = kitls_config_new(KITLS_ROLE_CLIENT);
    if (scfg == NULL || ccfg == NULL) {
        fprintf(stderr, "kitls-demo: out of memory\n");
        goto out;
    }
    err = kitls_config_add_cert_pem(scfg, chain.data, chain.len, key.data, key.len);
    if (err < 0) {
        rc = fail("server certificate", NULL, err);
        goto out;
    }
    err = kitls_config_set_alpn(scfg, alpn, 1);
    if (err == 0)
        err = kitls_config_set_alpn(ccfg, alpn, 1);
    if (err < 0) {
        rc = fail("alpn", NULL, err);
        goto out;
    }
    err = kitls_config_load_ca_pem(ccfg, ca.data, ca.len);
    if (err < 0) {
        rc = fail("trust anchor", NULL, err);
        goto out;
    }

    cli = kitls_conn_new(ccfg);
    srv = kitls_conn_new(scfg);
    if (cli == NULL || srv == NULL) {
        fprintf(stderr, "kitls-demo: out of memory\n");
        goto out;
    }
    err = kitls_conn_set_server_name(cli, "localhost");
    if (err < 0) {
        rc = fail("server name", cli, err);
        goto out;
    }

    rc = handshake(cli, srv);
    if (rc != 0)
        goto out;
    printf("handshake complete\n");
    rc = exchange(cli, srv, "server", "hello from the client");
    if (rc == 0)
        rc = exchange(srv, cli, "client", "hello from the server");
    if (rc != 0)
        goto out;
    print_side("client", cli);
    print_side("server", srv);

    /* Orderly shutdown: each side sends close_notify, the other sees
     * KITLS_E_CLOSED. */
    {
        uint8_t buf[16];
        size_t moved;

        err = kitls_conn_close(cli);
        if (err == 0)
            err = transfer(cli, srv, &moved);
        if (err == 0)
            err = kitls_conn_read(srv, buf, sizeof(buf));
        if (err != KITLS_E_CLOSED) {
            rc = fail("close", srv, err);
            goto out;
        }
        printf("close_notify: ok\n");
    }
    rc = 0;
out:
    /* The free functions are only called on objects we have (the API
     * does not promise that NULL is accepted). */
    if (cli != NULL)
        kitls_conn_free(cli);
    if (srv != NULL)
        kitls_conn_free(srv);
    if (ccfg != NULL)
        kitls_config_free(ccfg);
    if (scfg != NULL)
        kitls_config_free(scfg);
    pem_free(&ca);
    pem_free(&chain);
    pem_free(&key);
    return rc;
}
