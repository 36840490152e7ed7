/*
 * kitls-shim: the runner's flags (test_config.cc): the table of flags and
 * what each sets in a connection's struct shim_config, the flags that have
 * no effect here, and ParseConfig's -on-initial-/-on-resume-/-on-retry-
 * prefixes.  See shim.h.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Flags                                                               */
/* ------------------------------------------------------------------ */

static long parse_int(const char *flag, const char *v)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v)
        shim_fail("kitls-shim: bad value for %s: %s", flag, v);
    return n;
}

/* Flags with no effect on a shim that has no asynchronous I/O mode or
 * handshake re-entry points: the sans-I/O core is driven the same way. */
static const char *const ignored_bool_flags[] = {
    "-async",              /* BoringSSL's simulated EAGAIN; we pump bytes anyway */
    "-implicit-handshake", /* handshake driven by the first read/write: same here */
    "-no-tls1",
    "-no-tls11",
    "-no-tls12", /* kitls speaks TLS 1.3 only */
    /* The client certificate is installed up front in the config; the old
     * callback only changes when BoringSSL's shim installs it. */
    "-use-old-client-cert-callback",
    /* TLS 1.3 always enforces the digitalSignature key usage bit (RFC 8446
     * §4.4.2.2); BoringSSL's option only relaxes it for TLS 1.2 RSA. */
    "-ignore-rsa-key-usage",
    /* Renegotiation does not exist in TLS 1.3: kitls never renegotiates. */
    "-renegotiate-freely",
    /* TLS 1.3 always has the properties these report (extended master
     * secret: RFC 8446 §7.5 binds keys to the transcript; secure
     * renegotiation: there is none), as BoringSSL reports for TLS 1.3. */
    "-expect-extended-master-secret",
    "-expect-secure-renegotiation",
    NULL,
};

/* Apply one flag (prefix removed) to one connection's config.  Returns
 * 1 if the flag took the value v, else 0. */
static int set_flag(struct shim_config *cfg, const char *f, const char *v)
{
    int used = 0;
    {
#define NEEDV()                                                                                    \
    do {                                                                                           \
        if (!v)                                                                                    \
            shim_fail("kitls-shim: %s needs a value", f);                                          \
        used = 1;                                                                                  \
    } while (0)
        for (const char *const *p = ignored_bool_flags; *p; p++)
            if (!strcmp(f, *p))
                return 0;
        if (!strcmp(f, "-port")) {
            NEEDV();
            cfg->port = (int)parse_int(f, v);
        } else if (!strcmp(f, "-shim-id")) {
            NEEDV();
            cfg->have_shim_id = 1;
            cfg->shim_id = (uint64_t)strtoull(v, NULL, 10);
        } else if (!strcmp(f, "-ipv6")) {
            cfg->ipv6_only = 1;
        } else if (!strcmp(f, "-server")) {
            cfg->server = 1;
        } else if (!strcmp(f, "-key-file")) {
            NEEDV();
            cfg->key_file = v;
        } else if (!strcmp(f, "-cert-file")) {
            NEEDV();
            cfg->cert_file = v;
        } else if (!strcmp(f, "-shim-writes-first")) {
            cfg->shim_writes_first = 1;
        } else if (!strcmp(f, "-shim-shuts-down")) {
            cfg->shim_shuts_down = 1;
        } else if (!strcmp(f, "-check-close-notify")) {
            cfg->check_close_notify = 1;
        } else if (!strcmp(f, "-expect-hrr")) {
            cfg->expect_hrr = 1;
        } else if (!strcmp(f, "-expect-no-hrr")) {
            cfg->expect_no_hrr = 1;
        } else if (!strcmp(f, "-curves")) {
            NEEDV();
            if (cfg->n_curves == MAX_LIST)
                shim_unimplemented(f);
            long g = parse_int(f, v);
            /* Groups kitls does not implement (secp224r1, secp521r1, ...)
             * or libcrypto cannot do (the ML-KEM hybrids before OpenSSL
             * 3.5) are left out of the list, as a library refusing unknown
             * names would; a list with none left is unimplemented. */
            if (kitls_group_available((uint16_t)g))
                cfg->curves[cfg->n_curves++] = (uint16_t)g;
            else
                cfg->curves_dropped = 1;
        } else if (!strcmp(f, "-expect-curve-id")) {
            NEEDV();
            cfg->expect_curve = (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-signing-prefs") || !strcmp(f, "-verify-prefs")) {
            /* Schemes kitls does not implement (SHA-1, MD5-SHA1, P-224,
             * ...) are left out, as for -curves. */
            NEEDV();
            int sign = !strcmp(f, "-signing-prefs");
            size_t *n = sign ? &cfg->n_sign_prefs : &cfg->n_verify_prefs;
            uint16_t *list = sign ? cfg->sign_prefs : cfg->verify_prefs;
            long id = parse_int(f, v);
            if (*n == MAX_LIST)
                shim_unimplemented(f);
            if (kitls_sigalg_name((uint16_t)id))
                list[(*n)++] = (uint16_t)id;
            else if (sign)
                cfg->sign_dropped = 1;
        } else if (!strcmp(f, "-expect-peer-signature-algorithm")) {
            NEEDV();
            cfg->expect_peer_sigalg = (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-host-name")) {
            NEEDV();
            cfg->host_name = v;
        } else if (!strcmp(f, "-expect-server-name")) {
            NEEDV();
            cfg->expect_server_name = v;
        } else if (!strcmp(f, "-advertise-alpn")) {
            NEEDV();
            cfg->advertise_alpn = v;
        } else if (!strcmp(f, "-select-alpn")) {
            NEEDV();
            cfg->select_alpn = v;
        } else if (!strcmp(f, "-expect-alpn")) {
            NEEDV();
            cfg->expect_alpn = v;
        } else if (!strcmp(f, "-expect-no-alpn")) {
            cfg->expect_no_alpn = 1;
        } else if (!strcmp(f, "-expect-version")) {
            NEEDV();
            cfg->expect_version = (int)parse_int(f, v);
        } else if (!strcmp(f, "-min-version")) {
            NEEDV();
            cfg->min_version = (int)parse_int(f, v);
        } else if (!strcmp(f, "-max-version")) {
            NEEDV();
            cfg->max_version = (int)parse_int(f, v);
            /* 0 means "default" in the runner; anything below TLS 1.3
             * asks for a version kitls does not speak. */
            if (cfg->max_version != 0 && cfg->max_version < 0x0304)
                shim_unimplemented("-max-version below TLS 1.3");
        } else if (!strcmp(f, "-verify-peer")) {
            cfg->verify_peer = 1;
        } else if (!strcmp(f, "-require-any-client-certificate")) {
            cfg->require_any_client_cert = 1;
        } else if (!strcmp(f, "-send-alert")) {
            cfg->send_alert = 1;
        } else if (!strcmp(f, "-expect-cipher-aes")) {
            NEEDV();
            cfg->expect_cipher_aes = (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-expect-cipher-no-aes")) {
            /* kitls has no "no AES hardware" mode: its default suite order
             * always puts AES-GCM first, so only -expect-cipher-aes applies. */
            NEEDV();
        } else if (!strcmp(f, "-no-op-extra-handshake")) {
            cfg->no_op_extra_handshake = 1;
        } else if (!strcmp(f, "-read-size")) {
            NEEDV();
            cfg->read_size = parse_int(f, v);
        } else if (!strcmp(f, "-max-cert-list")) {
            NEEDV();
            cfg->max_cert_list = parse_int(f, v);
        } else if (!strcmp(f, "-expect-peer-cert-file")) {
            NEEDV();
            cfg->expect_peer_cert_file = v;
        } else if (!strcmp(f, "-reject-alpn")) {
            cfg->reject_alpn = 1;
        } else if (!strcmp(f, "-decline-alpn")) {
            cfg->decline_alpn = 1;
        } else if (!strcmp(f, "-resume-count")) {
            NEEDV();
            cfg->resume_count = (int)parse_int(f, v);
        } else if (!strcmp(f, "-expect-session-miss")) {
            cfg->expect_session_miss = 1;
        } else if (!strcmp(f, "-resumption-delay")) {
            NEEDV();
            cfg->resumption_delay = parse_int(f, v);
        } else if (!strcmp(f, "-enable-early-data")) {
            cfg->enable_early_data = 1;
        } else if (!strcmp(f, "-expect-accept-early-data")) {
            cfg->expect_accept_early_data = 1;
        } else if (!strcmp(f, "-expect-reject-early-data")) {
            cfg->expect_reject_early_data = 1;
        } else if (!strcmp(f, "-expect-ticket-supports-early-data")) {
            cfg->expect_ticket_supports_early_data = 1;
        } else if (!strcmp(f, "-expect-no-offer-early-data")) {
            cfg->expect_no_offer_early_data = 1;
        } else if (!strcmp(f, "-expect-early-data-reason")) {
            NEEDV();
            cfg->expect_early_data_reason = v;
        } else if (!strcmp(f, "-key-update")) {
            cfg->key_update = 1;
        } else if (!strcmp(f, "-no-ticket")) {
            cfg->no_ticket = 1;
        } else if (!strcmp(f, "-expect-no-session")) {
            cfg->expect_no_session = 1;
        } else if (!strcmp(f, "-expect-cipher")) {
            NEEDV();
            cfg->expect_cipher = (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-read-with-unfinished-write")) {
            cfg->read_with_unfinished_write = 1;
        } else if (!strcmp(f, "-expect-peer-verify-pref")) {
            NEEDV();
            if (cfg->n_expect_peer_verify_prefs == MAX_LIST)
                shim_unimplemented(f);
            cfg->expect_peer_verify_prefs[cfg->n_expect_peer_verify_prefs++] =
                (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-enable-ocsp-stapling")) {
            /* Client: ask for a staple (status_request) and expose it
             * unchecked, as SSL_enable_ocsp_stapling does (BoringSSL never
             * evaluates OCSP itself): KITLS_OCSP_REQUEST_ONLY.  A server
             * never asks a client for OCSP, as BoringSSL's does not: no-op
             * there. */
            cfg->enable_ocsp_stapling = 1;
        } else if (!strcmp(f, "-ocsp-response")) {
            NEEDV();
            cfg->ocsp_response = v;
        } else if (!strcmp(f, "-expect-ocsp-response")) {
            NEEDV();
            cfg->expect_ocsp_response = v;
        } else if (!strcmp(f, "-signed-cert-timestamps")) {
            NEEDV();
            cfg->signed_cert_timestamps = v;
        } else if (!strcmp(f, "-expect-signed-cert-timestamps")) {
            NEEDV();
            cfg->expect_sct = v;
        } else if (!strcmp(f, "-enable-signed-cert-timestamps")) {
            cfg->enable_sct = 1;
        } else if (!strcmp(f, "-enable-grease")) {
            cfg->enable_grease = 1;
        } else if (!strcmp(f, "-use-client-ca-list")) {
            NEEDV();
            cfg->use_client_ca_list = v;
        } else if (!strcmp(f, "-expect-client-ca-list")) {
            NEEDV();
            cfg->expect_client_ca_list = v;
        } else if (!strcmp(f, "-expect-advertised-alpn")) {
            NEEDV();
            cfg->expect_advertised_alpn = v;
        } else if (!strcmp(f, "-early-write-after-message")) {
            NEEDV();
            cfg->early_write_after = parse_int(f, v);
        } else if (!strcmp(f, "-max-send-fragment")) {
            NEEDV();
            cfg->max_send_fragment = parse_int(f, v);
        } else if (!strcmp(f, "-export-keying-material")) {
            NEEDV();
            cfg->export_keying_material = parse_int(f, v);
        } else if (!strcmp(f, "-export-early-keying-material")) {
            NEEDV();
            cfg->export_early_keying_material = parse_int(f, v);
        } else if (!strcmp(f, "-export-label")) {
            NEEDV();
            cfg->export_label = v;
        } else if (!strcmp(f, "-export-context")) {
            NEEDV();
            cfg->export_context = v;
        } else if (!strcmp(f, "-use-export-context")) {
            cfg->use_export_context = 1;
        } else if (!strcmp(f, "-expect-no-session-id")) {
            /* A TLS 1.3 server resumes with stateless tickets: kitls never
             * caches a session id on the server (RFC 8446 §4.6.1), which
             * is what this flag checks. */
        } else if (!strcmp(f, "-expect-verify-result")) {
            /* The peer's chain was accepted: kitls has no soft-fail
             * verification mode (a failed verification fails the
             * handshake), so a completed handshake means X509_V_OK. */
        } else if (!strcmp(f, "-expect-ticket-age-skew")) {
            /* kitls does not report the ticket age skew it measured (API
             * need: kitls_conn_ticket_age_skew()).  The protocol effect
             * (0-RTT accepted within the window, rejected outside it) is
             * checked by the runner itself. */
            NEEDV();
        } else {
            shim_unimplemented(f);
        }
#undef NEEDV
    }
    return used;
}

/* RemovePrefix of test_config.cc: "-on-resume-foo" -> "-foo". */
static const char *remove_prefix(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (!strncmp(name, prefix, n) && name[n] == '-')
        return name + n;
    return NULL;
}

/*
 * ParseConfig of test_config.cc: a flag applies to the initial, resumed
 * and 0-RTT-retry connections alike unless it carries -on-initial-,
 * -on-resume- or -on-retry-; -on-shim- applies, -on-handshaker- is
 * skipped (no split handshakes here).
 */
void shim_parse_flags(int argc, char **argv, struct shim_config *initial,
                      struct shim_config *resume, struct shim_config *retry)
{
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i], *rest;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int skip = 0;
        if ((rest = remove_prefix(name, "-on-shim")) != NULL) {
            name = rest;
        } else if ((rest = remove_prefix(name, "-on-handshaker")) != NULL) {
            name = rest;
            skip = 1;
        }
        struct shim_config *only = NULL;
        if ((rest = remove_prefix(name, "-on-initial")) != NULL) {
            name = rest;
            only = initial;
        } else if ((rest = remove_prefix(name, "-on-resume")) != NULL) {
            name = rest;
            only = resume;
        } else if ((rest = remove_prefix(name, "-on-retry")) != NULL) {
            name = rest;
            only = retry;
        }
        if (skip) {
            /* Only to learn whether it takes a value. */
            struct shim_config scratch;
            memset(&scratch, 0, sizeof scratch);
            i += set_flag(&scratch, name, v);
            continue;
        }
        int used;
        if (only) {
            used = set_flag(only, name, v);
        } else {
            used = set_flag(initial, name, v);
            set_flag(resume, name, v);
            set_flag(retry, name, v);
        }
        i += used;
    }
    struct shim_config *all[3] = {initial, resume, retry};
    for (int k = 0; k < 3; k++) {
        if (all[k]->curves_dropped && !all[k]->n_curves)
            shim_unimplemented("-curves (no group offered by kitls)");
        if (all[k]->sign_dropped && !all[k]->n_sign_prefs)
            shim_unimplemented("-signing-prefs (no scheme implemented by kitls)");
    }
}
