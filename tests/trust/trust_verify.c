/*
 * trust_verify CAFILE CHAINFILE KEYFILE HOST — kitls's verdict on one chain
 * of the D2 trust-policy set (tests/trust/run.sh).
 *
 * Two paths, which must agree:
 *   verify path: a client connection (trust anchors from CAFILE, HOST as
 *     the server name) runs the library's chain verification
 *     (kitls_x509_verify_chain, the function the client calls on a received
 *     Certificate) on CHAINFILE — it judges every chain, including ones a
 *     kitls server would not present (e.g. an RSA-1024 leaf it cannot sign
 *     with);
 *   handshake: a kitls server configured with CHAINFILE/KEYFILE and a kitls
 *     client, in memory, through the public API — when the server accepts
 *     the chain and can sign with its key.
 * Prints "accept" or "reject <error>" then details; exits 0 (accept),
 * 1 (reject) or 2 (the two paths disagree, or a setup error).
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "kitls/kitls.h"

/* Read all certificates of a PEM file as DER. */
static size_t read_chain(const char *path, uint8_t **der, size_t *len, size_t max)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    X509 *x;
    if (!f)
        return 0;
    while (n < max && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        unsigned char *p = NULL;
        int l = i2d_X509(x, &p);
        X509_free(x);
        if (l <= 0)
            break;
        der[n] = p;
        len[n++] = (size_t)l;
    }
    ERR_clear_error();
    fclose(f);
    return n;
}

static kitls_config *client_config(const char *cafile)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    if (!cfg || kitls_config_load_ca_file(cfg, cafile) != 0) {
        fprintf(stderr, "trust_verify: cannot load %s\n", cafile);
        exit(2);
    }
    return cfg;
}

static void move(kitls_conn *from, kitls_conn *to)
{
    const uint8_t *p;
    size_t n;
    while ((n = kitls_conn_out_peek(from, &p)) != 0) {
        if (kitls_conn_feed(to, p, n) != 0)
            return;
        kitls_conn_out_consume(from, n);
    }
}

/* The handshake path: the client's result, or 1 if the server could not
 * take part (*why says why). */
static int handshake(const char *cafile, const char *chainfile, const char *keyfile,
                     const char *host, const char **why, char *detail, size_t dlen)
{
    kitls_config *scfg = kitls_config_new(KITLS_ROLE_SERVER);
    if (!scfg || kitls_config_add_cert_files(scfg, chainfile, keyfile) != 0) {
        *why = "server refuses the chain/key";
        kitls_config_free(scfg);
        return 1;
    }
    kitls_config *ccfg = client_config(cafile);
    kitls_conn *c = kitls_conn_new(ccfg), *s = kitls_conn_new(scfg);
    int cr = KITLS_E_WANT_READ, sr = KITLS_E_WANT_READ;
    if (!c || !s || kitls_conn_set_server_name(c, host) != 0)
        exit(2);
    for (int i = 0; i < 16 && (cr == KITLS_E_WANT_READ || sr == KITLS_E_WANT_READ); i++) {
        if (cr == KITLS_E_WANT_READ)
            cr = kitls_conn_handshake(c);
        move(c, s);
        if (sr == KITLS_E_WANT_READ)
            sr = kitls_conn_handshake(s);
        move(s, c);
    }
    int ret = cr;
    if (KITLS_ERR_IS_PEER_ALERT(cr) && sr != 0 && !KITLS_ERR_IS_PEER_ALERT(sr)) {
        /* The server gave up before the client saw the chain. */
        *why = kitls_strerror(sr);
        ret = 1;
    }
    snprintf(detail, dlen, "%s", kitls_conn_verify_detail(c));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: trust_verify CAFILE CHAINFILE KEYFILE HOST\n");
        return 2;
    }
    const char *cafile = argv[1], *chainfile = argv[2], *keyfile = argv[3], *host = argv[4];

    /* Verify path. */
    uint8_t *der[16];
    size_t len[16];
    size_t n = read_chain(chainfile, der, len, 16);
    if (!n) {
        fprintf(stderr, "trust_verify: no certificate in %s\n", chainfile);
        return 2;
    }
    kitls_config *ccfg = client_config(cafile);
    kitls_conn *c = kitls_conn_new(ccfg);
    if (!c || kitls_conn_set_server_name(c, host) != 0)
        return 2;
    int v = kitls_x509_verify_chain(c, (const uint8_t *const *)der, len, n);
    char vdetail[300];
    snprintf(vdetail, sizeof(vdetail), "%s", kitls_conn_verify_detail(c));
    kitls_conn_free(c);
    kitls_config_free(ccfg);
    for (size_t i = 0; i < n; i++)
        OPENSSL_free(der[i]);

    /* Handshake path. */
    const char *why = NULL;
    char hdetail[300];
    int h = handshake(cafile, chainfile, keyfile, host, &why, hdetail, sizeof(hdetail));

    if (v == 0)
        printf("accept");
    else
        printf("reject %s", kitls_strerror(v));
    printf("\t%s", v ? vdetail : "-");
    if (h == 1)
        printf("\thandshake: not run (%s)\n", why);
    else
        printf("\thandshake: %s\n", h ? kitls_strerror(h) : "ok");
    if (h != 1 && h != v) {
        fprintf(stderr, "trust_verify: verify path %d but handshake %d (%s)\n", v, h, hdetail);
        return 2;
    }
    return v ? 1 : 0;
}
