/*
 * kitls-shim: the verify callback (which keeps the peer's chain) and the
 * checks of a finished handshake against the -expect-* flags
 * (CheckHandshakeProperties of bssl_shim.cc): resumption, HRR, group,
 * schemes, ALPN, SNI, cipher suite, peer chain, OCSP/SCT, CA names and
 * 0-RTT.  See shim.h.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The peer's chain as the verify callback saw it (for -expect-peer-cert-file). */
static uint8_t *peer_chain_der[16];
static size_t peer_chain_len[16];
static size_t peer_chain_n;

/*
 * Certificate verification as BoringSSL's shim does it: the runner's
 * certificates are self-signed, and with -verify-peer or
 * -require-any-client-certificate its callbacks (CertVerifyCallback,
 * CustomVerifyCallback in test_config.cc) accept any chain.  The library's
 * own checks that are not chain verification stay: a leaf whose keyUsage
 * forbids signing is refused (RFC 8446 §4.4.2.2).  The chain is kept for
 * -expect-peer-cert-file.
 */
int shim_verify(void *ctx, kitls_conn *c, const uint8_t *const *der, const size_t *len, size_t n,
                int result)
{
    (void)ctx;
    (void)c;
    for (size_t i = 0; i < peer_chain_n; i++)
        free(peer_chain_der[i]);
    peer_chain_n = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        peer_chain_der[i] = malloc(len[i]);
        if (!peer_chain_der[i])
            return KITLS_E_NOMEM;
        memcpy(peer_chain_der[i], der[i], len[i]);
        peer_chain_len[i] = len[i];
        peer_chain_n++;
    }
    if (result == KITLS_E_CERT_USAGE)
        return result;
    return 0;
}

/* -expect-peer-cert-file: the peer's chain must be the file's certificates. */
static void check_peer_chain(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        shim_fail("kitls-shim: cannot open %s", file);
    size_t i = 0;
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        unsigned char *d = NULL;
        int dl = i2d_X509(x, &d);
        X509_free(x);
        if (dl <= 0)
            shim_fail("kitls-shim: cannot encode a certificate of %s", file);
        int same = i < peer_chain_n && peer_chain_len[i] == (size_t)dl &&
                   !memcmp(peer_chain_der[i], d, (size_t)dl);
        OPENSSL_free(d);
        if (!same)
            shim_fail("kitls-shim: peer certificate %zu differs from %s", i, file);
        i++;
    }
    fclose(f);
    if (i != peer_chain_n)
        shim_fail("kitls-shim: peer sent %zu certificates, %s has %zu", peer_chain_n, file, i);
}

/* "-expect-x" against what kitls reports: exact bytes. */
static void expect_bytes(const char *what, const char *flag, const char *b64, const uint8_t *got,
                         size_t got_len)
{
    size_t n;
    uint8_t *want = shim_b64_decode(flag, b64, &n);
    if (n != got_len || (n && memcmp(want, got, n)))
        shim_fail("kitls-shim: %s mismatch (got %zu bytes, wanted %zu)", what, got_len, n);
    free(want);
}

static uint16_t session_peer_sigalg;        /* peer's scheme in the session's full handshake */
static uint8_t *session_ocsp, *session_sct; /* OCSP staple and SCT list of that handshake */
static size_t session_ocsp_len, session_sct_len;

static void keep_blob(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t n)
{
    free(*dst);
    *dst = NULL;
    *dst_len = 0;
    if (p && n) {
        if ((*dst = malloc(n)) == NULL)
            shim_fail("kitls-shim: out of memory");
        memcpy(*dst, p, n);
        *dst_len = n;
    }
}

static void check_early(kitls_conn *c, const struct shim_config *cfg, int is_resume, int offered)
{
    int st = kitls_conn_early_data_status(c);
    int accepted = st == KITLS_EARLY_ACCEPTED;
    if ((cfg->expect_accept_early_data && !accepted) || (cfg->expect_reject_early_data && accepted))
        shim_fail("kitls-shim: early data was%s accepted, but we expected the opposite",
                  accepted ? "" : " not");
    const char *r = cfg->expect_early_data_reason;
    if (!r)
        return;
    /*
     * BoringSSL's SSL_get_early_data_reason() has no kitls counterpart
     * (API need: kitls_conn_early_data_reason()).  The shim checks what
     * the public API shows: "accept" iff accepted, and each other reason
     * against the state it implies; reasons kitls keeps to itself
     * (alpn_mismatch, ticket_age_skew, unsupported_for_session) are
     * checked as "not accepted".
     */
    int ok;
    if (!strcmp(r, "accept"))
        ok = accepted;
    else if (accepted)
        ok = 0;
    else if (!strcmp(r, "disabled"))
        ok = !cfg->enable_early_data;
    else if (!strcmp(r, "no_session_offered"))
        ok = !is_resume;
    else if (!strcmp(r, "hello_retry_request"))
        ok = kitls_conn_did_hrr(c);
    else if (!strcmp(r, "session_not_resumed"))
        ok = !kitls_conn_is_resumed(c);
    else if (!strcmp(r, "peer_declined"))
        ok = cfg->server ? 0 : offered && kitls_conn_is_resumed(c) && !kitls_conn_did_hrr(c);
    else if (!strcmp(r, "alpn_mismatch") || !strcmp(r, "ticket_age_skew") ||
             !strcmp(r, "unsupported_for_session"))
        ok = is_resume;
    else
        shim_unimplemented("-expect-early-data-reason (reason unknown to the shim)");
    if (!ok)
        shim_fail("kitls-shim: early data reason is not \"%s\" (status %d, resumed %d, hrr %d)", r,
                  st, kitls_conn_is_resumed(c), kitls_conn_did_hrr(c));
}

/* CheckHandshakeProperties of bssl_shim.cc, for what kitls exposes. */
void shim_check_handshake(kitls_conn *c, const struct shim_config *cfg, int is_resume, int offered)
{
    int expect_resume = is_resume && !cfg->expect_session_miss;
    if (kitls_conn_is_resumed(c) != expect_resume)
        shim_fail("kitls-shim: session unexpectedly was%s reused",
                  kitls_conn_is_resumed(c) ? "" : " not");
    if (cfg->expect_hrr && !kitls_conn_did_hrr(c))
        shim_fail("kitls-shim: expected a HelloRetryRequest");
    if (cfg->expect_no_hrr && kitls_conn_did_hrr(c))
        shim_fail("kitls-shim: unexpected HelloRetryRequest");
    if (cfg->expect_curve && kitls_conn_group(c) != cfg->expect_curve)
        shim_fail("kitls-shim: group %u, expected %u", kitls_conn_group(c), cfg->expect_curve);
    if (cfg->expect_version && cfg->expect_version != 0x0304)
        shim_fail("kitls-shim: negotiated TLS 1.3, expected version %d", cfg->expect_version);
    /* A resumed handshake has no CertificateVerify: like BoringSSL (which
     * keeps it in the session), report the scheme of the handshake that
     * established the session. */
    uint16_t peer_sigalg = kitls_conn_peer_sigalg(c);
    if (kitls_conn_is_resumed(c))
        peer_sigalg = session_peer_sigalg;
    else
        session_peer_sigalg = peer_sigalg;
    if (cfg->expect_peer_sigalg && peer_sigalg != cfg->expect_peer_sigalg)
        shim_fail("kitls-shim: peer signature algorithm %04x, expected %04x", peer_sigalg,
                  cfg->expect_peer_sigalg);
    /* ALPN: a client expects exactly -expect-alpn (none by default), a
     * server exactly what -select-alpn selected. */
    {
        const char *a = kitls_conn_alpn(c);
        const char *want = cfg->server ? cfg->select_alpn : cfg->expect_alpn;
        if (cfg->server && (cfg->reject_alpn || cfg->decline_alpn))
            want = "";
        if (!want || cfg->expect_no_alpn)
            want = "";
        if (strcmp(a ? a : "", want))
            shim_fail("kitls-shim: ALPN %s, expected %s", a ? a : "(none)",
                      *want ? want : "(none)");
    }
    if (cfg->expect_server_name) {
        const char *s = kitls_conn_server_name(c);
        if (!s || strcmp(s, cfg->expect_server_name))
            shim_fail("kitls-shim: server name %s, expected %s", s ? s : "(none)",
                      cfg->expect_server_name);
    }
    if (cfg->expect_cipher_aes && kitls_conn_suite(c) != cfg->expect_cipher_aes)
        shim_fail("kitls-shim: cipher suite %04x, expected %04x", kitls_conn_suite(c),
                  cfg->expect_cipher_aes);
    if (cfg->expect_cipher && kitls_conn_suite(c) != cfg->expect_cipher)
        shim_fail("kitls-shim: cipher suite %04x, expected %04x", kitls_conn_suite(c),
                  cfg->expect_cipher);
    if (cfg->expect_peer_cert_file)
        check_peer_chain(cfg->expect_peer_cert_file);
    if (cfg->n_expect_peer_verify_prefs) {
        /* SSL_get0_peer_verify_algorithms: a server sees the
         * ClientHello's list, a client the CertificateRequest's. */
        size_t n;
        const uint16_t *p = kitls_conn_peer_sigalgs(c, &n);
        if (n != cfg->n_expect_peer_verify_prefs ||
            memcmp(p, cfg->expect_peer_verify_prefs, n * sizeof(uint16_t)))
            shim_fail(
                "kitls-shim: the peer's signature_algorithms differ from -expect-peer-verify-pref");
    }
    /* OCSP and SCTs: BoringSSL keeps them in the session, so a resumed
     * connection reports those of the session's full handshake; the shim
     * keeps them alongside the session, as for the peer's scheme above. */
    {
        size_t n;
        const uint8_t *p;
        if (!kitls_conn_is_resumed(c)) {
            p = kitls_conn_ocsp_response(c, &n);
            keep_blob(&session_ocsp, &session_ocsp_len, p, n);
            p = kitls_conn_sct_list(c, &n);
            keep_blob(&session_sct, &session_sct_len, p, n);
        }
        if (cfg->expect_ocsp_response)
            expect_bytes("OCSP response", "-expect-ocsp-response", cfg->expect_ocsp_response,
                         session_ocsp, session_ocsp_len);
        if (cfg->expect_sct)
            expect_bytes("SCT list", "-expect-signed-cert-timestamps", cfg->expect_sct, session_sct,
                         session_sct_len);
    }
    if (cfg->expect_client_ca_list) {
        size_t want_n, n;
        uint8_t *want = shim_hex_names_wire(cfg->expect_client_ca_list, &want_n);
        const uint8_t *p = kitls_conn_peer_ca_names(c, &n);
        if (n != want_n || (n && memcmp(p, want, n)))
            shim_fail("kitls-shim: names in CertificateRequest differ from -expect-client-ca-list");
        free(want);
    }
    if (cfg->expect_advertised_alpn) {
        /* BoringSSL checks it in the ALPN select callback, which runs only
         * when the client sent ALPN. */
        size_t n;
        const uint8_t *p = kitls_conn_peer_alpn_list(c, &n);
        size_t wl = strlen(cfg->expect_advertised_alpn);
        if (p && (n != wl || memcmp(p, cfg->expect_advertised_alpn, n)))
            shim_fail("kitls-shim: bad ALPN select callback inputs");
    }
    check_early(c, cfg, is_resume, offered);
}
