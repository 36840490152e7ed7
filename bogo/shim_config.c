/*
 * kitls-shim: the kitls_config of one connection, built from its
 * struct shim_config (certificates, verification, groups and signature
 * schemes, ALPN, OCSP/SCT, CA names, tickets, 0-RTT), the shim's clock and
 * ticket key, and the decoders of base64 and hex-name flag values.  See
 * shim.h.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "kitls-shim: config %s: %s (%s)\n", what, shim_err_name(r),
                kitls_strerror(r));
        exit(1);
    }
}

/* Base64 flag values (Base64Flag in test_config.cc).  Returns a malloc'd
 * buffer (never NULL) and its length in *n. */
uint8_t *shim_b64_decode(const char *flag, const char *v, size_t *n)
{
    size_t len = strlen(v);
    uint8_t *out = malloc(len / 4 * 3 + 3);
    if (!out)
        shim_fail("kitls-shim: out of memory");
    int r = len ? EVP_DecodeBlock(out, (const unsigned char *)v, (int)len) : 0;
    if (r < 0 || len % 4)
        shim_fail("kitls-shim: bad base64 value for %s", flag);
    size_t pad = 0;
    while (pad < 2 && len > pad && v[len - 1 - pad] == '=')
        pad++;
    *n = (size_t)r - pad;
    return out;
}

/* DecodeHexX509Names of test_config.cc: comma-separated hex DER names,
 * returned in the wire format of certificate_authorities (RFC 8446
 * §4.2.4: each name with a 2-byte length). */
uint8_t *shim_hex_names_wire(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    uint8_t *out = malloc(len + 2 * (len / 2 + 1) + 1), *p = out;
    if (!out)
        shim_fail("kitls-shim: out of memory");
    const char *s = hex;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t hl = e ? (size_t)(e - s) : strlen(s);
        if (hl % 2)
            shim_fail("kitls-shim: bad hex name list");
        p[0] = (uint8_t)(hl / 2 >> 8);
        p[1] = (uint8_t)(hl / 2);
        p += 2;
        for (size_t i = 0; i < hl; i += 2) {
            unsigned x;
            if (sscanf(s + i, "%2x", &x) != 1)
                shim_fail("kitls-shim: bad hex name list");
            *p++ = (uint8_t)x;
        }
        s += hl;
        if (*s == ',')
            s++;
    }
    *n = (size_t)(p - out);
    return out;
}

/*
 * -use-client-ca-list NAMES: BoringSSL sends an arbitrary list of names
 * (SSL_CTX_set_client_CA_list); kitls lists the subjects of its trust
 * anchors (kitls_config_set_send_ca_names).  So the shim makes one
 * throw-away self-signed P-256 anchor per name and loads it: the names on
 * the wire are exactly the given ones.  (The shim's verify callback
 * accepts the runner's client certificates anyway, as BoringSSL's shim
 * does.)
 */
static void load_ca_names(kitls_config *kc, const char *hex)
{
    size_t n;
    uint8_t *wire = shim_hex_names_wire(hex, &n);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    if (!k || !bio)
        shim_fail("kitls-shim: cannot make CA names");
    for (size_t off = 0, i = 0; off + 2 <= n; i++) {
        size_t l = (size_t)wire[off] << 8 | wire[off + 1];
        const unsigned char *d = wire + off + 2;
        off += 2 + l;
        X509_NAME *nm = d2i_X509_NAME(NULL, &d, (long)l);
        X509 *x = X509_new();
        if (!nm || !x || !X509_set_version(x, 2) ||
            !ASN1_INTEGER_set(X509_get_serialNumber(x), (long)i + 1) ||
            !X509_set_subject_name(x, nm) || !X509_set_issuer_name(x, nm) ||
            !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), 86400) || !X509_set_pubkey(x, k) ||
            !X509_sign(x, k, EVP_sha256()) || !PEM_write_bio_X509(bio, x))
            shim_fail("kitls-shim: cannot make a CA for -use-client-ca-list");
        X509_NAME_free(nm);
        X509_free(x);
    }
    char *pem;
    long pl = BIO_get_mem_data(bio, &pem);
    if (pl > 0)
        check(kitls_config_load_ca_pem(kc, pem, (size_t)pl), "client CA list");
    check(kitls_config_set_send_ca_names(kc, 1), "send CA names");
    BIO_free(bio);
    EVP_PKEY_free(k);
    free(wire);
}

/* The clock: frozen at start-up, advanced only by -resumption-delay (as
 * BoringSSL's shim's mock clock), so ticket ages are exact. */
int64_t shim_clock;
static int64_t shim_time(void *ctx)
{
    (void)ctx;
    return shim_clock;
}

struct kitls_ticket_key shim_ticket_key;
kitls_config *shim_make_config(const struct shim_config *cfg)
{
    kitls_config *kc = kitls_config_new(cfg->server ? KITLS_ROLE_SERVER : KITLS_ROLE_CLIENT);
    if (!kc)
        shim_fail("kitls-shim: out of memory");
    if (cfg->cert_file || cfg->key_file) {
        if (!cfg->cert_file || !cfg->key_file)
            shim_unimplemented("-cert-file without -key-file (or the reverse)");
        check(kitls_config_add_cert_files(kc, cfg->cert_file, cfg->key_file), "certificate");
    }
    /* BoringSSL's shim does not verify the runner's certificate unless
     * -verify-peer is given; the runner's certificates are self-signed, so
     * verification goes through shim_verify().  A server asks for a client
     * certificate with -verify-peer and requires one with
     * -require-any-client-certificate. */
    if (!cfg->server)
        check(kitls_config_set_verify(kc,
                                      cfg->verify_peer ? KITLS_VERIFY_REQUIRE : KITLS_VERIFY_NONE),
              "verify");
    /* Nor does it check the runner's certificate against -host-name (its
     * certificates name no test host): the explicit opt-out, so that a
     * verifying shim without -host-name may connect. */
    if (!cfg->server)
        check(kitls_config_set_verify_name(kc, 0), "verify name");
    else if (cfg->require_any_client_cert)
        check(kitls_config_set_verify(kc, KITLS_VERIFY_REQUIRE), "verify");
    else if (cfg->verify_peer)
        check(kitls_config_set_verify(kc, KITLS_VERIFY_REQUEST), "verify");
    check(kitls_config_set_verify_callback(kc, shim_verify, NULL), "verify callback");
    {
        /* BoringSSL's shim puts no limit on the number of certificates in
         * a chain (the runner sends 51 in LargeMessage); kitls's default is
         * 10, a policy choice, so the shim raises it to the most a
         * Certificate message may carry in kitls (64).  -max-cert-list
         * bounds every handshake message, as BoringSSL's max_cert_list. */
        struct kitls_limits lim;
        memset(&lim, 0, sizeof lim);
        lim.max_cert_chain = 64;
        if (cfg->max_cert_list > 0)
            lim.max_handshake_message = (uint32_t)cfg->max_cert_list;
        check(kitls_config_set_limits(kc, &lim), "limits");
    }
    if (cfg->n_curves)
        check(kitls_config_set_groups(kc, cfg->curves, cfg->n_curves), "groups");
    if (cfg->n_sign_prefs)
        check(kitls_config_set_signing_sigalgs(kc, cfg->sign_prefs, cfg->n_sign_prefs),
              "signing prefs");
    if (cfg->n_verify_prefs) {
        check(kitls_config_set_sigalgs(kc, cfg->verify_prefs, cfg->n_verify_prefs), "verify prefs");
        /* -verify-prefs only changes what we accept: sign as by default. */
        if (!cfg->n_sign_prefs) {
            static const uint16_t all[] = {
                KITLS_SIG_ECDSA_SECP256R1_SHA256,
                KITLS_SIG_ECDSA_SECP384R1_SHA384,
                KITLS_SIG_ED25519,
                KITLS_SIG_RSA_PSS_RSAE_SHA256,
                KITLS_SIG_RSA_PSS_RSAE_SHA384,
                KITLS_SIG_RSA_PSS_RSAE_SHA512,
            };
            check(kitls_config_set_signing_sigalgs(kc, all, sizeof all / sizeof all[0]),
                  "signing prefs");
        }
    }
    if (cfg->advertise_alpn && !cfg->server) {
        const char *protos[64];
        static char store[1024];
        size_t n = 0, len = strlen(cfg->advertise_alpn), off = 0, so = 0;
        while (off < len) {
            size_t l = (uint8_t)cfg->advertise_alpn[off++];
            if (off + l > len || n == 64 || so + l + 1 > sizeof store)
                shim_unimplemented("-advertise-alpn (malformed)");
            memcpy(store + so, cfg->advertise_alpn + off, l);
            store[so + l] = 0;
            protos[n++] = store + so;
            so += l + 1;
            off += l;
        }
        check(kitls_config_set_alpn(kc, protos, n), "alpn");
    } else if (cfg->advertise_alpn) {
        shim_unimplemented("-advertise-alpn on a server");
    }
    if (cfg->reject_alpn) {
        /* -reject-alpn: the server's ALPN callback refuses whatever is
         * offered.  kitls refuses a client whose list has no overlap with
         * the server's (no_application_protocol, RFC 7301 §3.2), so the
         * server is given one protocol no runner test offers. */
        if (!cfg->server)
            shim_unimplemented("-reject-alpn on a client");
        const char *p = "kitls-shim-rejects-every-protocol";
        check(kitls_config_set_alpn(kc, &p, 1), "alpn");
    } else if (cfg->select_alpn && *cfg->select_alpn && !cfg->decline_alpn) {
        if (!cfg->server)
            shim_unimplemented("-select-alpn on a client");
        const char *p = cfg->select_alpn;
        check(kitls_config_set_alpn(kc, &p, 1), "alpn");
    }
    if (cfg->enable_ocsp_stapling && !cfg->server)
        check(kitls_config_set_ocsp_policy(kc, KITLS_OCSP_REQUEST_ONLY), "ocsp policy");
    if (cfg->enable_sct && !cfg->server)
        check(kitls_config_set_request_sct(kc, 1), "request SCT");
    /* BoringSSL's TLS 1.3 servers always GREASE their tickets, so the
     * runner's server tests expect it with no flag (GREASE-Server-TLS13);
     * its clients only with -enable-grease (SSL_CTX_set_grease_enabled).
     * kitls has one switch, off by default, set the same way here. */
    if (cfg->enable_grease || cfg->server)
        check(kitls_config_set_grease(kc, 1), "grease");
    if (cfg->ocsp_response || cfg->signed_cert_timestamps) {
        /* BoringSSL staples opaque bytes and sends the SCT list it is
         * given (the runner's are not real OCSP responses / SCTs), to
         * clients that ask.  Set on a client too: kitls must then never
         * send them (RFC 8446 §4.4.2.1: only in answer to a request). */
        if (!cfg->cert_file)
            shim_unimplemented("-ocsp-response/-signed-cert-timestamps without -cert-file");
        size_t n;
        uint8_t *b;
        if (cfg->ocsp_response) {
            b = shim_b64_decode("-ocsp-response", cfg->ocsp_response, &n);
            check(kitls_config_set_ocsp_staple_unchecked(kc, 0, b, n), "ocsp response");
            free(b);
        }
        if (cfg->signed_cert_timestamps) {
            b = shim_b64_decode("-signed-cert-timestamps", cfg->signed_cert_timestamps, &n);
            check(kitls_config_set_sct_list(kc, 0, b, n), "signed cert timestamps");
            free(b);
        }
    }
    if (cfg->use_client_ca_list) {
        if (!cfg->server)
            shim_unimplemented("-use-client-ca-list on a client");
        /* <NULL> and <EMPTY>: no names, so no certificate_authorities. */
        if (strcmp(cfg->use_client_ca_list, "<NULL>") && strcmp(cfg->use_client_ca_list, "<EMPTY>"))
            load_ca_names(kc, cfg->use_client_ca_list);
    }
    /* The shim's clock (below), shared ticket keys so that a later
     * connection's config opens the tickets an earlier one sealed (as
     * BoringSSL's shim keeps one SSL_CTX), and the 0-RTT settings. */
    check(kitls_config_set_time(kc, shim_time, NULL), "time");
    if (cfg->server) {
        check(kitls_config_set_ticket_keys(kc, &shim_ticket_key, 1), "ticket keys");
        if (cfg->no_ticket)
            check(kitls_config_set_tickets(kc, 0, 7200), "tickets");
        if (cfg->enable_early_data) {
            /* BoringSSL's shim accepts 14336 bytes of early data and
             * tolerates 60 s of ticket age skew (the runner tests both
             * edges).  kitls allows one second more than the window for
             * its one-second clock resolution, hence 59000 ms. */
            check(kitls_config_set_early_data(kc, 14336), "early data");
            check(kitls_config_set_early_data_window(kc, 59000), "early data window");
        }
    } else {
        check(kitls_config_set_session_callback(kc, shim_session_cb, NULL), "session callback");
        if (cfg->enable_early_data)
            check(kitls_config_set_early_data(kc, 1), "early data");
    }
    return kc;
}
