/*
 * kitls-shim: BoringSSL's BoGo test shim for kitls, on the public API only
 * (include/kitls/kitls.h, the userspace record layer; no private calls).
 *
 * Protocol (ssl/test/PORTING.md, runner.go, test_config.cc of the runner):
 *  - the shim is always the TCP client: it connects to -port on ::1, then
 *    127.0.0.1; with -shim-id N (newer runners) it then writes N as 8
 *    little-endian bytes; -ipv6 (newer runners) means ::1 only;
 *  - -server makes it the TLS server on that connection;
 *  - after the handshake it echoes application data XOR 0xFF until the peer
 *    closes;
 *  - exit 0 = pass (and nothing on stderr), exit 89 = a flag this shim does
 *    not implement, other non-zero = failure with an error string on stderr
 *    that the runner matches through ErrorMap (bogo/shim-config.json);
 *  - -is-handshaker-supported prints "No".
 */
#define _GNU_SOURCE
#include <kitls/kitls.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXIT_UNIMPLEMENTED 89
#define MAX_LIST 32

struct shim_config {
    int port;
    int have_shim_id;
    uint64_t shim_id;
    int ipv6_only;
    int server;
    const char *key_file, *cert_file;
    int shim_writes_first;
    int shim_shuts_down;
    int check_close_notify;
    int expect_hrr, expect_no_hrr;
    uint16_t curves[MAX_LIST];
    size_t n_curves;
    int curves_dropped;
    uint16_t expect_curve;
    uint16_t sign_prefs[MAX_LIST];
    size_t n_sign_prefs;
    int sign_dropped;
    uint16_t verify_prefs[MAX_LIST];
    size_t n_verify_prefs;
    uint16_t expect_peer_sigalg;
    const char *host_name;
    const char *expect_server_name;
    const char *advertise_alpn; /* wire format: len-prefixed strings */
    const char *select_alpn;
    const char *expect_alpn;
    int expect_no_alpn;
    int expect_version;
    int min_version, max_version;
    int verify_peer;              /* -verify-peer */
    int require_any_client_cert;  /* -require-any-client-certificate */
    int send_alert;               /* -send-alert */
    uint16_t expect_cipher_aes;   /* -expect-cipher-aes */
    int no_op_extra_handshake;    /* -no-op-extra-handshake */
    long read_size;               /* -read-size */
    long max_cert_list;           /* -max-cert-list */
    const char *expect_peer_cert_file; /* -expect-peer-cert-file */
    int reject_alpn, decline_alpn;
    /* resumption, 0-RTT, KeyUpdate (set per connection through the
     * -on-initial-/-on-resume-/-on-retry- prefixes, test_config.cc) */
    int resume_count;              /* -resume-count */
    int expect_session_miss;       /* -expect-session-miss */
    long resumption_delay;         /* -resumption-delay: advance the clock after */
    int enable_early_data;         /* -enable-early-data */
    int expect_accept_early_data;  /* -expect-accept-early-data */
    int expect_reject_early_data;  /* -expect-reject-early-data */
    int expect_ticket_supports_early_data;
    int expect_no_offer_early_data;
    const char *expect_early_data_reason;
    int key_update;                /* -key-update: KeyUpdate after each read */
    int no_ticket;                 /* -no-ticket: server sends no tickets */
    int expect_no_session;         /* -expect-no-session */
    uint16_t expect_cipher;        /* -expect-cipher */
    int read_with_unfinished_write;
    long export_keying_material;   /* -export-keying-material (with -export-label, ...) */
    long export_early_keying_material; /* -export-early-keying-material */
    const char *export_label, *export_context; /* -export-label, -export-context */
    int use_export_context;        /* -use-export-context */
    long max_send_fragment;        /* -max-send-fragment */
    long early_write_after;        /* -early-write-after-message (handshake type) */
    int enable_ocsp_stapling;      /* -enable-ocsp-stapling */
    const char *ocsp_response;     /* -ocsp-response (base64) */
    const char *expect_ocsp_response; /* -expect-ocsp-response (base64) */
    const char *signed_cert_timestamps; /* -signed-cert-timestamps (base64) */
    const char *expect_sct;        /* -expect-signed-cert-timestamps (base64) */
    int enable_sct;                /* -enable-signed-cert-timestamps */
    const char *use_client_ca_list;    /* -use-client-ca-list (hex DER names, <EMPTY>, <NULL>) */
    const char *expect_client_ca_list; /* -expect-client-ca-list */
    const char *expect_advertised_alpn; /* -expect-advertised-alpn (wire format) */
    uint16_t expect_peer_verify_prefs[MAX_LIST]; /* -expect-peer-verify-pref */
    size_t n_expect_peer_verify_prefs;
};

/* The peer's chain as the verify callback saw it (for -expect-peer-cert-file). */
static uint8_t *peer_chain_der[16];
static size_t peer_chain_len[16];
static size_t peer_chain_n;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void unimplemented(const char *flag) __attribute__((noreturn));
static void unimplemented(const char *flag)
{
    /* stderr is fine here: the runner treats exit 89 as "unimplemented"
     * whatever is printed, and the name helps triage. */
    fprintf(stderr, "kitls-shim: unimplemented flag %s\n", flag);
    /* run.sh sets this to count which flags are missing most often. */
    const char *log = getenv("KITLS_SHIM_UNIMPL_LOG");
    if (log && *log) {
        FILE *f = fopen(log, "a");
        if (f) {
            fprintf(f, "%s\n", flag);
            fclose(f);
        }
    }
    exit(EXIT_UNIMPLEMENTED);
}

/* Stable names for error codes: these are what ErrorMap maps to. */
static const char *err_name(int e)
{
    switch (e) {
#define E(x) case x: return #x;
    E(KITLS_E_WANT_READ) E(KITLS_E_CLOSED) E(KITLS_E_INTERNAL) E(KITLS_E_NOMEM)
    E(KITLS_E_INVALID_ARG) E(KITLS_E_STATE) E(KITLS_E_CRYPTO) E(KITLS_E_RNG)
    E(KITLS_E_CONFIG) E(KITLS_E_DECODE) E(KITLS_E_UNEXPECTED_MESSAGE)
    E(KITLS_E_BAD_RECORD_MAC) E(KITLS_E_RECORD_OVERFLOW) E(KITLS_E_ILLEGAL_PARAMETER)
    E(KITLS_E_HANDSHAKE_FAILURE) E(KITLS_E_PROTOCOL_VERSION) E(KITLS_E_MISSING_EXTENSION)
    E(KITLS_E_UNSUPPORTED_EXTENSION) E(KITLS_E_DECRYPT_ERROR)
    E(KITLS_E_NO_APPLICATION_PROTOCOL) E(KITLS_E_UNRECOGNIZED_NAME)
    E(KITLS_E_INSUFFICIENT_SECURITY) E(KITLS_E_CERT_REQUIRED) E(KITLS_E_BAD_CERTIFICATE)
    E(KITLS_E_CERT_UNTRUSTED) E(KITLS_E_CERT_EXPIRED) E(KITLS_E_CERT_NOT_YET_VALID)
    E(KITLS_E_CERT_NAME_MISMATCH) E(KITLS_E_CERT_USAGE) E(KITLS_E_CERT_REVOKED)
    E(KITLS_E_CERT_INVALID) E(KITLS_E_LIMIT) E(KITLS_E_ALERT_RECEIVED) E(KITLS_E_EOF)
    E(KITLS_E_EXCESS_HANDSHAKE_DATA)
#undef E
    default: return "KITLS_E_UNKNOWN";
    }
}

static void fail_conn(kitls_conn *c, const char *where, int err) __attribute__((noreturn));
static void fail_conn(kitls_conn *c, const char *where, int err)
{
    int pa = c ? kitls_conn_peer_alert(c) : -1;
    fprintf(stderr, "kitls-shim: %s: %s (%s)", where, err_name(err), kitls_error_string(err));
    if (err == KITLS_E_ALERT_RECEIVED && pa >= 0)
        fprintf(stderr, " peer alert %s ALERT_%s", kitls_alert_string(pa), kitls_alert_string(pa));
    if (c && kitls_conn_verify_detail(c) && *kitls_conn_verify_detail(c))
        fprintf(stderr, " [%s]", kitls_conn_verify_detail(c));
    fputc('\n', stderr);
    exit(1);
}

/* ------------------------------------------------------------------ */
/* Flags                                                               */
/* ------------------------------------------------------------------ */

static long parse_int(const char *flag, const char *v)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v)
        fail("kitls-shim: bad value for %s: %s", flag, v);
    return n;
}

/* Flags with no effect on a shim that has no asynchronous I/O mode or
 * handshake re-entry points: the sans-I/O core is driven the same way. */
static const char *const ignored_bool_flags[] = {
    "-async",              /* BoringSSL's simulated EAGAIN; we pump bytes anyway */
    "-implicit-handshake", /* handshake driven by the first read/write: same here */
    "-no-tls1", "-no-tls11", "-no-tls12", /* kitls speaks TLS 1.3 only */
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
#define NEEDV() do { if (!v) fail("kitls-shim: %s needs a value", f); used = 1; } while (0)
        for (const char *const *p = ignored_bool_flags; *p; p++)
            if (!strcmp(f, *p))
                return 0;
        if (!strcmp(f, "-port")) {
            NEEDV(); cfg->port = (int)parse_int(f, v);
        } else if (!strcmp(f, "-shim-id")) {
            NEEDV(); cfg->have_shim_id = 1; cfg->shim_id = (uint64_t)strtoull(v, NULL, 10);
        } else if (!strcmp(f, "-ipv6")) {
            cfg->ipv6_only = 1;
        } else if (!strcmp(f, "-server")) {
            cfg->server = 1;
        } else if (!strcmp(f, "-key-file")) {
            NEEDV(); cfg->key_file = v;
        } else if (!strcmp(f, "-cert-file")) {
            NEEDV(); cfg->cert_file = v;
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
            if (cfg->n_curves == MAX_LIST) unimplemented(f);
            long g = parse_int(f, v);
            /* Groups kitls does not implement (secp224r1, secp521r1, ...)
             * are left out of the list, as a library refusing unknown
             * names would; a list with none left is unimplemented. */
            if (kitls_group_name((uint16_t)g))
                cfg->curves[cfg->n_curves++] = (uint16_t)g;
            else
                cfg->curves_dropped = 1;
        } else if (!strcmp(f, "-expect-curve-id")) {
            NEEDV(); cfg->expect_curve = (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-signing-prefs") || !strcmp(f, "-verify-prefs")) {
            /* Schemes kitls does not implement (SHA-1, MD5-SHA1, P-224,
             * ...) are left out, as for -curves. */
            NEEDV();
            int sign = !strcmp(f, "-signing-prefs");
            size_t *n = sign ? &cfg->n_sign_prefs : &cfg->n_verify_prefs;
            uint16_t *list = sign ? cfg->sign_prefs : cfg->verify_prefs;
            long id = parse_int(f, v);
            if (*n == MAX_LIST) unimplemented(f);
            if (kitls_sigalg_name((uint16_t)id))
                list[(*n)++] = (uint16_t)id;
            else if (sign)
                cfg->sign_dropped = 1;
        } else if (!strcmp(f, "-expect-peer-signature-algorithm")) {
            NEEDV(); cfg->expect_peer_sigalg = (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-host-name")) {
            NEEDV(); cfg->host_name = v;
        } else if (!strcmp(f, "-expect-server-name")) {
            NEEDV(); cfg->expect_server_name = v;
        } else if (!strcmp(f, "-advertise-alpn")) {
            NEEDV(); cfg->advertise_alpn = v;
        } else if (!strcmp(f, "-select-alpn")) {
            NEEDV(); cfg->select_alpn = v;
        } else if (!strcmp(f, "-expect-alpn")) {
            NEEDV(); cfg->expect_alpn = v;
        } else if (!strcmp(f, "-expect-no-alpn")) {
            cfg->expect_no_alpn = 1;
        } else if (!strcmp(f, "-expect-version")) {
            NEEDV(); cfg->expect_version = (int)parse_int(f, v);
        } else if (!strcmp(f, "-min-version")) {
            NEEDV(); cfg->min_version = (int)parse_int(f, v);
        } else if (!strcmp(f, "-max-version")) {
            NEEDV(); cfg->max_version = (int)parse_int(f, v);
            /* 0 means "default" in the runner; anything below TLS 1.3
             * asks for a version kitls does not speak. */
            if (cfg->max_version != 0 && cfg->max_version < 0x0304)
                unimplemented("-max-version below TLS 1.3");
        } else if (!strcmp(f, "-verify-peer")) {
            cfg->verify_peer = 1;
        } else if (!strcmp(f, "-require-any-client-certificate")) {
            cfg->require_any_client_cert = 1;
        } else if (!strcmp(f, "-send-alert")) {
            cfg->send_alert = 1;
        } else if (!strcmp(f, "-expect-cipher-aes")) {
            NEEDV(); cfg->expect_cipher_aes = (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-expect-cipher-no-aes")) {
            /* kitls has no "no AES hardware" mode: its default suite order
             * always puts AES-GCM first, so only -expect-cipher-aes applies. */
            NEEDV();
        } else if (!strcmp(f, "-no-op-extra-handshake")) {
            cfg->no_op_extra_handshake = 1;
        } else if (!strcmp(f, "-read-size")) {
            NEEDV(); cfg->read_size = parse_int(f, v);
        } else if (!strcmp(f, "-max-cert-list")) {
            NEEDV(); cfg->max_cert_list = parse_int(f, v);
        } else if (!strcmp(f, "-expect-peer-cert-file")) {
            NEEDV(); cfg->expect_peer_cert_file = v;
        } else if (!strcmp(f, "-reject-alpn")) {
            cfg->reject_alpn = 1;
        } else if (!strcmp(f, "-decline-alpn")) {
            cfg->decline_alpn = 1;
        } else if (!strcmp(f, "-resume-count")) {
            NEEDV(); cfg->resume_count = (int)parse_int(f, v);
        } else if (!strcmp(f, "-expect-session-miss")) {
            cfg->expect_session_miss = 1;
        } else if (!strcmp(f, "-resumption-delay")) {
            NEEDV(); cfg->resumption_delay = parse_int(f, v);
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
            NEEDV(); cfg->expect_early_data_reason = v;
        } else if (!strcmp(f, "-key-update")) {
            cfg->key_update = 1;
        } else if (!strcmp(f, "-no-ticket")) {
            cfg->no_ticket = 1;
        } else if (!strcmp(f, "-expect-no-session")) {
            cfg->expect_no_session = 1;
        } else if (!strcmp(f, "-expect-cipher")) {
            NEEDV(); cfg->expect_cipher = (uint16_t)parse_int(f, v);
        } else if (!strcmp(f, "-read-with-unfinished-write")) {
            cfg->read_with_unfinished_write = 1;
        } else if (!strcmp(f, "-expect-peer-verify-pref")) {
            NEEDV();
            if (cfg->n_expect_peer_verify_prefs == MAX_LIST)
                unimplemented(f);
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
            NEEDV(); cfg->ocsp_response = v;
        } else if (!strcmp(f, "-expect-ocsp-response")) {
            NEEDV(); cfg->expect_ocsp_response = v;
        } else if (!strcmp(f, "-signed-cert-timestamps")) {
            NEEDV(); cfg->signed_cert_timestamps = v;
        } else if (!strcmp(f, "-expect-signed-cert-timestamps")) {
            NEEDV(); cfg->expect_sct = v;
        } else if (!strcmp(f, "-enable-signed-cert-timestamps")) {
            cfg->enable_sct = 1;
        } else if (!strcmp(f, "-use-client-ca-list")) {
            NEEDV(); cfg->use_client_ca_list = v;
        } else if (!strcmp(f, "-expect-client-ca-list")) {
            NEEDV(); cfg->expect_client_ca_list = v;
        } else if (!strcmp(f, "-expect-advertised-alpn")) {
            NEEDV(); cfg->expect_advertised_alpn = v;
        } else if (!strcmp(f, "-early-write-after-message")) {
            NEEDV(); cfg->early_write_after = parse_int(f, v);
        } else if (!strcmp(f, "-max-send-fragment")) {
            NEEDV(); cfg->max_send_fragment = parse_int(f, v);
        } else if (!strcmp(f, "-export-keying-material")) {
            NEEDV(); cfg->export_keying_material = parse_int(f, v);
        } else if (!strcmp(f, "-export-early-keying-material")) {
            NEEDV(); cfg->export_early_keying_material = parse_int(f, v);
        } else if (!strcmp(f, "-export-label")) {
            NEEDV(); cfg->export_label = v;
        } else if (!strcmp(f, "-export-context")) {
            NEEDV(); cfg->export_context = v;
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
            unimplemented(f);
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
static void parse_flags(int argc, char **argv, struct shim_config *initial,
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
            unimplemented("-curves (no group offered by kitls)");
        if (all[k]->sign_dropped && !all[k]->n_sign_prefs)
            unimplemented("-signing-prefs (no scheme implemented by kitls)");
    }
}

/* ------------------------------------------------------------------ */
/* Transport                                                           */
/* ------------------------------------------------------------------ */

static int connect_runner(const struct shim_config *cfg)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd >= 0) {
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)cfg->port);
        a6.sin6_addr = in6addr_loopback;
        if (connect(fd, (struct sockaddr *)&a6, sizeof a6) == 0)
            goto connected;
        close(fd);
    }
    if (cfg->ipv6_only)
        fail("kitls-shim: connect to [::1]:%d: %s", cfg->port, strerror(errno));
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        fail("kitls-shim: socket: %s", strerror(errno));
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)cfg->port);
    a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a4, sizeof a4) != 0)
        fail("kitls-shim: connect to port %d: %s", cfg->port, strerror(errno));
connected:;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg->have_shim_id) {
        uint8_t id[8];
        for (int i = 0; i < 8; i++)
            id[i] = (uint8_t)(cfg->shim_id >> (8 * i));
        if (write(fd, id, 8) != 8)
            fail("kitls-shim: writing shim id: %s", strerror(errno));
    }
    return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            /* The peer may have gone away after a fatal alert: that is
             * reported by the caller through the connection's error. */
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/*
 * -read-with-unfinished-write: BoringSSL's shim lets one byte of its first
 * application data record through and completes the write only later.
 * kitls is sans-I/O (the caller owns the socket), so the shim does the
 * same with the library's output: 1 = send up to one byte of the first
 * application_data record, then hold the rest (2) until released (0).
 */
static int hold_output;

static void flush_out(kitls_conn *c, int fd)
{
    const uint8_t *p;
    size_t n;
    if (hold_output == 2)
        return;
    if (hold_output == 1 && (n = kitls_conn_out_peek(c, &p)) > 0) {
        size_t off = 0;
        while (off + 5 <= n && p[off] != 23)
            off += 5 + ((size_t)p[off + 3] << 8 | p[off + 4]);
        if (off + 5 > n)
            off = n; /* no application data yet: send everything */
        else {
            off += 1;
            hold_output = 2;
        }
        write_all(fd, p, off);
        kitls_conn_out_consume(c, off);
        return;
    }
    while ((n = kitls_conn_out_peek(c, &p)) > 0) {
        write_all(fd, p, n);
        kitls_conn_out_consume(c, n);
    }
}

/* Read once from the socket into the connection.  Returns bytes read, 0 on
 * EOF. */
static long read_size; /* -read-size: at most this many bytes per read */

static ssize_t fill_in(kitls_conn *c, int fd)
{
    uint8_t buf[16384 + 2048];
    size_t want = sizeof buf;
    ssize_t n;
    if (read_size > 0 && (size_t)read_size < want)
        want = (size_t)read_size;
    do {
        n = read(fd, buf, want);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        n = 0;
    if (n > 0) {
        int r = kitls_conn_feed(c, buf, (size_t)n);
        if (r < 0)
            fail_conn(c, "feed", r);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "kitls-shim: config %s: %s (%s)\n", what, err_name(r), kitls_error_string(r));
        exit(1);
    }
}

/*
 * Certificate verification as BoringSSL's shim does it: the runner's
 * certificates are self-signed, and with -verify-peer or
 * -require-any-client-certificate its callbacks (CertVerifyCallback,
 * CustomVerifyCallback in test_config.cc) accept any chain.  The library's
 * own checks that are not chain verification stay: a leaf whose keyUsage
 * forbids signing is refused (RFC 8446 §4.4.2.2).  The chain is kept for
 * -expect-peer-cert-file.
 */
static int shim_verify(void *ctx, kitls_conn *c, const uint8_t *const *der, const size_t *len,
                       size_t n, int result)
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
        fail("kitls-shim: cannot open %s", file);
    size_t i = 0;
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        unsigned char *d = NULL;
        int dl = i2d_X509(x, &d);
        X509_free(x);
        if (dl <= 0)
            fail("kitls-shim: cannot encode a certificate of %s", file);
        int same = i < peer_chain_n && peer_chain_len[i] == (size_t)dl &&
                   !memcmp(peer_chain_der[i], d, (size_t)dl);
        OPENSSL_free(d);
        if (!same)
            fail("kitls-shim: peer certificate %zu differs from %s", i, file);
        i++;
    }
    fclose(f);
    if (i != peer_chain_n)
        fail("kitls-shim: peer sent %zu certificates, %s has %zu", peer_chain_n, file, i);
}

/* Base64 flag values (Base64Flag in test_config.cc).  Returns a malloc'd
 * buffer (never NULL) and its length in *n. */
static uint8_t *b64_decode(const char *flag, const char *v, size_t *n)
{
    size_t len = strlen(v);
    uint8_t *out = malloc(len / 4 * 3 + 3);
    if (!out)
        fail("kitls-shim: out of memory");
    int r = len ? EVP_DecodeBlock(out, (const unsigned char *)v, (int)len) : 0;
    if (r < 0 || len % 4)
        fail("kitls-shim: bad base64 value for %s", flag);
    size_t pad = 0;
    while (pad < 2 && len > pad && v[len - 1 - pad] == '=')
        pad++;
    *n = (size_t)r - pad;
    return out;
}

/* "-expect-x" against what kitls reports: exact bytes. */
static void expect_bytes(const char *what, const char *flag, const char *b64,
                         const uint8_t *got, size_t got_len)
{
    size_t n;
    uint8_t *want = b64_decode(flag, b64, &n);
    if (n != got_len || (n && memcmp(want, got, n)))
        fail("kitls-shim: %s mismatch (got %zu bytes, wanted %zu)", what, got_len, n);
    free(want);
}

/* DecodeHexX509Names of test_config.cc: comma-separated hex DER names,
 * returned in the wire format of certificate_authorities (RFC 8446
 * §4.2.4: each name with a 2-byte length). */
static uint8_t *hex_names_wire(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    uint8_t *out = malloc(len + 2 * (len / 2 + 1) + 1), *p = out;
    if (!out)
        fail("kitls-shim: out of memory");
    const char *s = hex;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t hl = e ? (size_t)(e - s) : strlen(s);
        if (hl % 2)
            fail("kitls-shim: bad hex name list");
        p[0] = (uint8_t)(hl / 2 >> 8);
        p[1] = (uint8_t)(hl / 2);
        p += 2;
        for (size_t i = 0; i < hl; i += 2) {
            unsigned x;
            if (sscanf(s + i, "%2x", &x) != 1)
                fail("kitls-shim: bad hex name list");
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
    uint8_t *wire = hex_names_wire(hex, &n);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    if (!k || !bio)
        fail("kitls-shim: cannot make CA names");
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
            fail("kitls-shim: cannot make a CA for -use-client-ca-list");
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
static int64_t shim_clock;
static int64_t shim_time(void *ctx)
{
    (void)ctx;
    return shim_clock;
}

static struct kitls_ticket_key shim_ticket_key;
static uint16_t session_peer_sigalg; /* peer's scheme in the session's full handshake */
static uint8_t *session_ocsp, *session_sct; /* OCSP staple and SCT list of that handshake */
static size_t session_ocsp_len, session_sct_len;

static void keep_blob(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t n)
{
    free(*dst);
    *dst = NULL;
    *dst_len = 0;
    if (p && n) {
        if ((*dst = malloc(n)) == NULL)
            fail("kitls-shim: out of memory");
        memcpy(*dst, p, n);
        *dst_len = n;
    }
}

/* Tickets received on the current connection (BoringSSL's new-session
 * callback). */
static int got_new_session, shutting_down;
static void shim_session_cb(void *ctx, kitls_conn *c, kitls_session *s)
{
    (void)ctx;
    (void)c;
    (void)s;
    if (!shutting_down)
        got_new_session = 1;
}

static kitls_config *make_config(const struct shim_config *cfg)
{
    kitls_config *kc = kitls_config_new(cfg->server ? KITLS_ROLE_SERVER : KITLS_ROLE_CLIENT);
    if (!kc)
        fail("kitls-shim: out of memory");
    if (cfg->cert_file || cfg->key_file) {
        if (!cfg->cert_file || !cfg->key_file)
            unimplemented("-cert-file without -key-file (or the reverse)");
        check(kitls_config_add_cert_files(kc, cfg->cert_file, cfg->key_file), "certificate");
    }
    /* BoringSSL's shim does not verify the runner's certificate unless
     * -verify-peer is given; the runner's certificates are self-signed, so
     * verification goes through shim_verify().  A server asks for a client
     * certificate with -verify-peer and requires one with
     * -require-any-client-certificate. */
    if (!cfg->server)
        check(kitls_config_set_verify(kc, cfg->verify_peer ? KITLS_VERIFY_REQUIRE
                                                           : KITLS_VERIFY_NONE), "verify");
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
                KITLS_SIG_ECDSA_SECP256R1_SHA256, KITLS_SIG_ECDSA_SECP384R1_SHA384,
                KITLS_SIG_ED25519, KITLS_SIG_RSA_PSS_RSAE_SHA256, KITLS_SIG_RSA_PSS_RSAE_SHA384,
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
                unimplemented("-advertise-alpn (malformed)");
            memcpy(store + so, cfg->advertise_alpn + off, l);
            store[so + l] = 0;
            protos[n++] = store + so;
            so += l + 1;
            off += l;
        }
        check(kitls_config_set_alpn(kc, protos, n), "alpn");
    } else if (cfg->advertise_alpn) {
        unimplemented("-advertise-alpn on a server");
    }
    if (cfg->reject_alpn) {
        /* -reject-alpn: the server's ALPN callback refuses whatever is
         * offered.  kitls refuses a client whose list has no overlap with
         * the server's (no_application_protocol, RFC 7301 §3.2), so the
         * server is given one protocol no runner test offers. */
        if (!cfg->server)
            unimplemented("-reject-alpn on a client");
        const char *p = "kitls-shim-rejects-every-protocol";
        check(kitls_config_set_alpn(kc, &p, 1), "alpn");
    } else if (cfg->select_alpn && *cfg->select_alpn && !cfg->decline_alpn) {
        if (!cfg->server)
            unimplemented("-select-alpn on a client");
        const char *p = cfg->select_alpn;
        check(kitls_config_set_alpn(kc, &p, 1), "alpn");
    }
    if (cfg->enable_ocsp_stapling && !cfg->server)
        check(kitls_config_set_ocsp_policy(kc, KITLS_OCSP_REQUEST_ONLY), "ocsp policy");
    if (cfg->enable_sct && !cfg->server)
        check(kitls_config_set_request_sct(kc, 1), "request SCT");
    if (cfg->ocsp_response || cfg->signed_cert_timestamps) {
        /* BoringSSL staples opaque bytes and sends the SCT list it is
         * given (the runner's are not real OCSP responses / SCTs), to
         * clients that ask.  Set on a client too: kitls must then never
         * send them (RFC 8446 §4.4.2.1: only in answer to a request). */
        if (!cfg->cert_file)
            unimplemented("-ocsp-response/-signed-cert-timestamps without -cert-file");
        size_t n;
        uint8_t *b;
        if (cfg->ocsp_response) {
            b = b64_decode("-ocsp-response", cfg->ocsp_response, &n);
            check(kitls_config_set_ocsp_staple_unchecked(kc, 0, b, n), "ocsp response");
            free(b);
        }
        if (cfg->signed_cert_timestamps) {
            b = b64_decode("-signed-cert-timestamps", cfg->signed_cert_timestamps, &n);
            check(kitls_config_set_sct_list(kc, 0, b, n), "signed cert timestamps");
            free(b);
        }
    }
    if (cfg->use_client_ca_list) {
        if (!cfg->server)
            unimplemented("-use-client-ca-list on a client");
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

static void check_early(kitls_conn *c, const struct shim_config *cfg, int is_resume, int offered)
{
    int st = kitls_conn_early_data_status(c);
    int accepted = st == KITLS_EARLY_ACCEPTED;
    if ((cfg->expect_accept_early_data && !accepted) || (cfg->expect_reject_early_data && accepted))
        fail("kitls-shim: early data was%s accepted, but we expected the opposite",
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
        unimplemented("-expect-early-data-reason (reason unknown to the shim)");
    if (!ok)
        fail("kitls-shim: early data reason is not \"%s\" (status %d, resumed %d, hrr %d)", r, st,
             kitls_conn_is_resumed(c), kitls_conn_did_hrr(c));
}

/* CheckHandshakeProperties of bssl_shim.cc, for what kitls exposes. */
static void check_handshake(kitls_conn *c, const struct shim_config *cfg, int is_resume,
                            int offered)
{
    int expect_resume = is_resume && !cfg->expect_session_miss;
    if (kitls_conn_is_resumed(c) != expect_resume)
        fail("kitls-shim: session unexpectedly was%s reused",
             kitls_conn_is_resumed(c) ? "" : " not");
    if (cfg->expect_hrr && !kitls_conn_did_hrr(c))
        fail("kitls-shim: expected a HelloRetryRequest");
    if (cfg->expect_no_hrr && kitls_conn_did_hrr(c))
        fail("kitls-shim: unexpected HelloRetryRequest");
    if (cfg->expect_curve && kitls_conn_group(c) != cfg->expect_curve)
        fail("kitls-shim: group %u, expected %u", kitls_conn_group(c), cfg->expect_curve);
    if (cfg->expect_version && cfg->expect_version != 0x0304)
        fail("kitls-shim: negotiated TLS 1.3, expected version %d", cfg->expect_version);
    /* A resumed handshake has no CertificateVerify: like BoringSSL (which
     * keeps it in the session), report the scheme of the handshake that
     * established the session. */
    uint16_t peer_sigalg = kitls_conn_peer_sigalg(c);
    if (kitls_conn_is_resumed(c))
        peer_sigalg = session_peer_sigalg;
    else
        session_peer_sigalg = peer_sigalg;
    if (cfg->expect_peer_sigalg && peer_sigalg != cfg->expect_peer_sigalg)
        fail("kitls-shim: peer signature algorithm %04x, expected %04x", peer_sigalg,
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
            fail("kitls-shim: ALPN %s, expected %s", a ? a : "(none)", *want ? want : "(none)");
    }
    if (cfg->expect_server_name) {
        const char *s = kitls_conn_server_name(c);
        if (!s || strcmp(s, cfg->expect_server_name))
            fail("kitls-shim: server name %s, expected %s", s ? s : "(none)",
                 cfg->expect_server_name);
    }
    if (cfg->expect_cipher_aes && kitls_conn_suite(c) != cfg->expect_cipher_aes)
        fail("kitls-shim: cipher suite %04x, expected %04x", kitls_conn_suite(c),
             cfg->expect_cipher_aes);
    if (cfg->expect_cipher && kitls_conn_suite(c) != cfg->expect_cipher)
        fail("kitls-shim: cipher suite %04x, expected %04x", kitls_conn_suite(c),
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
            fail("kitls-shim: the peer's signature_algorithms differ from -expect-peer-verify-pref");
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
            expect_bytes("SCT list", "-expect-signed-cert-timestamps", cfg->expect_sct,
                         session_sct, session_sct_len);
    }
    if (cfg->expect_client_ca_list) {
        size_t want_n, n;
        uint8_t *want = hex_names_wire(cfg->expect_client_ca_list, &want_n);
        const uint8_t *p = kitls_conn_peer_ca_names(c, &n);
        if (n != want_n || (n && memcmp(p, want, n)))
            fail("kitls-shim: names in CertificateRequest differ from -expect-client-ca-list");
        free(want);
    }
    if (cfg->expect_advertised_alpn) {
        /* BoringSSL checks it in the ALPN select callback, which runs only
         * when the client sent ALPN. */
        size_t n;
        const uint8_t *p = kitls_conn_peer_alpn_list(c, &n);
        size_t wl = strlen(cfg->expect_advertised_alpn);
        if (p && (n != wl || memcmp(p, cfg->expect_advertised_alpn, n)))
            fail("kitls-shim: bad ALPN select callback inputs");
    }
    check_early(c, cfg, is_resume, offered);
}

/* Drive the handshake; a server echoes accepted 0-RTT data as half-RTT
 * data on the way (bssl_shim.cc reads early data in its echo loop). */
static void run_handshake(kitls_conn *c, int fd)
{
    for (;;) {
        int r = kitls_conn_handshake(c);
        flush_out(c, fd);
        if (r == 0)
            break;
        if (r == KITLS_E_EARLY_DATA) {
            uint8_t buf[16384];
            int n;
            while ((n = kitls_conn_read_early_data(c, buf, sizeof buf)) > 0) {
                for (int i = 0; i < n; i++)
                    buf[i] ^= 0xff;
                int w = kitls_conn_write(c, buf, (size_t)n);
                if (w < 0)
                    fail_conn(c, "half-RTT write", w);
                flush_out(c, fd);
            }
            if (n != KITLS_E_WANT_READ)
                fail_conn(c, "read early data", n);
            continue;
        }
        if (r != KITLS_E_WANT_READ)
            fail_conn(c, "handshake", r);
        if (fill_in(c, fd) == 0)
            fail_conn(c, "handshake (transport EOF)", KITLS_E_EOF);
    }
}

static const char initial_write[] = "hello";

/* Read exactly n bytes (0 on EOF). */
static int read_full(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

/*
 * -early-write-after-message: the client writes its 0-RTT data only once
 * the given server message has been processed.  The runner sends each
 * message of the server's flight in its own record, so records are fed one
 * at a time: ServerHello is the plaintext handshake record of type 2,
 * EncryptedExtensions the first protected record after it.
 */
static void run_handshake_write_after(kitls_conn *c, int fd, long type, size_t *early_sent)
{
    int seen_sh = 0, written = 0;
    for (;;) {
        int r = kitls_conn_handshake(c);
        flush_out(c, fd);
        if (r == 0)
            return;
        if (r != KITLS_E_WANT_READ)
            fail_conn(c, "handshake", r);
        uint8_t rec[5 + 16384 + 256];
        if (!read_full(fd, rec, 5))
            fail_conn(c, "handshake (transport EOF)", KITLS_E_EOF);
        size_t len = (size_t)rec[3] << 8 | rec[4];
        if (len > sizeof rec - 5 || !read_full(fd, rec + 5, len))
            fail_conn(c, "handshake (transport EOF)", KITLS_E_EOF);
        int is_msg = 0;
        if (rec[0] == 22 && len > 0 && rec[5] == 2) {
            seen_sh = 1;
            is_msg = type == 2;
        } else if (rec[0] == 23 && seen_sh == 1) {
            seen_sh = 2;
            is_msg = type == 8;
        }
        r = kitls_conn_feed(c, rec, 5 + len);
        if (r < 0)
            fail_conn(c, "feed", r);
        if (is_msg && !written) {
            r = kitls_conn_handshake(c);
            if (r != KITLS_E_WANT_READ && r != 0)
                fail_conn(c, "handshake", r);
            int w = kitls_conn_write_early_data(c, (const uint8_t *)initial_write,
                                                strlen(initial_write));
            if (w < 0)
                fail_conn(c, "write early data", w);
            *early_sent = (size_t)w;
            written = 1;
            flush_out(c, fd);
            if (r == 0)
                return;
        }
    }
}

/* -export-keying-material / -export-early-keying-material: export and
 * write the result to the peer. */
static void do_export(kitls_conn *c, int fd, const struct shim_config *cfg, int early)
{
    long n = early ? cfg->export_early_keying_material : cfg->export_keying_material;
    const char *ctx = cfg->export_context ? cfg->export_context : "";
    const uint8_t *context = cfg->use_export_context ? (const uint8_t *)ctx : NULL;
    size_t context_len = cfg->use_export_context ? strlen(ctx) : 0;
    const char *label = cfg->export_label ? cfg->export_label : "";
    uint8_t *out = malloc((size_t)n);
    if (!out)
        fail("kitls-shim: out of memory");
    int r = early ? kitls_conn_export_early_keying_material(c, label, context, context_len, out,
                                                            (size_t)n)
                  : kitls_conn_export_keying_material(c, label, context, context_len, out,
                                                      (size_t)n);
    if (r < 0)
        fail_conn(c, early ? "export early keying material" : "export keying material", r);
    for (long off = 0; off < n;) {
        int w = kitls_conn_write(c, out + off, (size_t)(n - off));
        if (w < 0)
            fail_conn(c, "write keying material", w);
        off += w;
    }
    flush_out(c, fd);
    free(out);
}

/*
 * One connection (DoConnection + DoExchange of bssl_shim.cc).  *session is
 * the session to offer (client, resumption) and receives the newest
 * session of this connection.
 */
static void do_connection(const struct shim_config *cfg, const struct shim_config *retry,
                          int is_resume, kitls_session **session)
{
    kitls_config *kc = make_config(cfg);
    int fd = connect_runner(cfg);
    kitls_conn *c = kitls_conn_new(kc);
    if (!c)
        fail("kitls-shim: out of memory");
    if (cfg->max_send_fragment > 0) {
        int r = kitls_conn_set_max_send_fragment(c, (size_t)cfg->max_send_fragment);
        if (r < 0)
            fail_conn(c, "max send fragment", r);
    }
    if (cfg->host_name && !cfg->server) {
        int r = kitls_conn_set_server_name(c, cfg->host_name);
        if (r < 0)
            fail_conn(c, "server name", r);
    }
    got_new_session = 0;
    shutting_down = 0;
    hold_output = 0;
    size_t early_sent = 0;
    int wrote_first = 0;
    if (!cfg->server && is_resume) {
        if (!*session)
            fail("kitls-shim: no session to offer");
        int r = kitls_conn_set_session(c, *session);
        if (r < 0)
            fail_conn(c, "set session", r);
        /* 0-RTT: the first write goes out as early data if it can. */
        if (cfg->enable_early_data && cfg->early_write_after) {
            /* Offer 0-RTT now, write once the chosen message is in. */
            r = kitls_conn_write_early_data(c, NULL, 0);
            if (r < 0)
                fail_conn(c, "write early data", r);
        } else if (cfg->enable_early_data &&
                   (cfg->shim_writes_first || cfg->read_with_unfinished_write)) {
            r = kitls_conn_write_early_data(c, (const uint8_t *)initial_write,
                                            strlen(initial_write));
            if (r > 0) {
                early_sent = (size_t)r;
                wrote_first = 1;
                if (cfg->read_with_unfinished_write)
                    hold_output = 1;
            } else if (r != KITLS_E_STATE) {
                fail_conn(c, "write early data", r);
            }
        }
    }
    kitls_session_free(*session);
    *session = NULL;
    /* BoringSSL's client returns from the handshake as soon as it may
     * write 0-RTT data, and its exporter refuses to run then
     * (HANDSHAKE_NOT_COMPLETE).  The kitls counterpart of that moment is
     * right after kitls_conn_write_early_data(): the exporter must
     * refuse too (RFC 8446 §7.5: the exporter master secret exists only
     * once the server's Finished is in). */
    if (early_sent && cfg->export_keying_material > 0)
        do_export(c, fd, cfg, 0);

    if (!cfg->server && is_resume && cfg->enable_early_data && cfg->early_write_after) {
        run_handshake_write_after(c, fd, cfg->early_write_after, &early_sent);
        wrote_first = early_sent > 0;
    } else {
        run_handshake(c, fd);
    }
    if (cfg->no_op_extra_handshake) {
        int r = kitls_conn_handshake(c);
        if (r != 0)
            fail_conn(c, "extra handshake call", r);
    }
    int offered = kitls_conn_early_data_status(c) != KITLS_EARLY_NONE;
    if (!cfg->server && is_resume && cfg->expect_no_offer_early_data && offered)
        fail("kitls-shim: client unexpectedly offered early data");

    /* Client: a rejected 0-RTT attempt continues as the -on-retry-
     * connection (BoringSSL resets it with SSL_reset_early_data_reject);
     * the early write is discarded. */
    if (!cfg->server && early_sent &&
        kitls_conn_early_data_status(c) == KITLS_EARLY_REJECTED) {
        if (!cfg->expect_reject_early_data)
            fail("kitls-shim: early data was rejected (EARLY_DATA_REJECTED)");
        if (cfg->expect_early_data_reason)
            fail("kitls-shim: test error: -expect-early-data-reason belongs on -on-retry");
        cfg = retry;
        wrote_first = 0;
        early_sent = 0;
        hold_output = 0;
    }
    check_handshake(c, cfg, is_resume, offered);
    /* Exporters (DoExchange of bssl_shim.cc): the keying material is
     * written to the peer, which derives its own and compares. */
    if (cfg->export_keying_material > 0)
        do_export(c, fd, cfg, 0);
    if (cfg->export_early_keying_material > 0)
        do_export(c, fd, cfg, 1);
    if (hold_output) {
        /* The unfinished write completes (BoringSSL: after the first
         * read; here the handshake has already needed the bytes after it). */
        hold_output = 0;
        flush_out(c, fd);
    }

    if (cfg->send_alert) {
        /* -send-alert: abort with a fatal decompression_failure alert. */
        if (kitls_conn_send_alert(c, 30) < 0)
            fail("kitls-shim: send_alert failed");
        flush_out(c, fd);
        fail("kitls-shim: sent a fatal alert (-send-alert)");
    }

    if (!wrote_first && cfg->read_with_unfinished_write) {
        /* Leave the first write unfinished: one byte goes out, the rest
         * after the first successful read (bssl_shim.cc). */
        hold_output = 1;
        int r = kitls_conn_write(c, (const uint8_t *)initial_write, strlen(initial_write));
        if (r < 0)
            fail_conn(c, "write", r);
        flush_out(c, fd);
    } else if (early_sent < strlen(initial_write) && (wrote_first || cfg->shim_writes_first)) {
        /* The rest of the first write (all of it without 0-RTT). */
        int r = kitls_conn_write(c, (const uint8_t *)initial_write + early_sent,
                                 strlen(initial_write) - early_sent);
        if (r < 0)
            fail_conn(c, "write", r);
        flush_out(c, fd);
    }
    if (cfg->shim_shuts_down) {
        /* BoringSSL's SSL_shutdown discards what arrives after its
         * close_notify: tickets are no longer counted from here. */
        shutting_down = 1;
        int r = kitls_conn_close(c);
        if (r < 0)
            fail_conn(c, "close", r);
        flush_out(c, fd);
        /* wait for the peer's close_notify */
        uint8_t b[256];
        for (;;) {
            r = kitls_conn_read(c, b, sizeof b);
            if (r == KITLS_E_CLOSED)
                break;
            if (r > 0)
                continue;
            if (r != KITLS_E_WANT_READ)
                fail_conn(c, "read after close", r);
            if (fill_in(c, fd) == 0) {
                /* -check-close-notify: the peer must answer ours. */
                if (cfg->check_close_notify)
                    fail_conn(c, "shutdown (EOF without close_notify)", KITLS_E_EOF);
                break;
            }
        }
    } else {
        /* Echo loop: XOR 0xFF until the peer closes. */
        uint8_t buf[16384];
        for (;;) {
            int r = kitls_conn_read(c, buf, sizeof buf);
            if (r > 0) {
                hold_output = 0; /* the unfinished write completes */
                if (cfg->key_update) {
                    int k = kitls_conn_key_update(c, 0);
                    if (k < 0)
                        fail_conn(c, "key update", k);
                }
                for (int i = 0; i < r; i++)
                    buf[i] ^= 0xff;
                int w = kitls_conn_write(c, buf, (size_t)r);
                if (w < 0)
                    fail_conn(c, "write", w);
                flush_out(c, fd);
                continue;
            }
            flush_out(c, fd);
            if (r == KITLS_E_CLOSED) {
                /* answer close_notify */
                if (kitls_conn_close(c) == 0)
                    flush_out(c, fd);
                break;
            }
            if (r != KITLS_E_WANT_READ)
                fail_conn(c, "read", r);
            if (fill_in(c, fd) == 0) {
                if (cfg->check_close_notify)
                    fail_conn(c, "read (EOF without close_notify)", KITLS_E_EOF);
                break;
            }
        }
    }

    /* TLS 1.3 clients: a ticket must have arrived unless told otherwise. */
    if (!cfg->server) {
        int expect_new = !cfg->expect_no_session && !cfg->shim_shuts_down;
        if (expect_new != got_new_session)
            fail("kitls-shim: new session was%s cached, but we expected the opposite",
                 got_new_session ? "" : " not");
        *session = kitls_conn_get_session(c);
        if (expect_new) {
            int early = *session && kitls_session_max_early_data(*session) != 0;
            if (early != cfg->expect_ticket_supports_early_data)
                fail("kitls-shim: new session did%s support early data, but we expected the "
                     "opposite", early ? "" : " not");
        }
    }
    kitls_conn_free(c);
    kitls_config_free(kc);
    close(fd);
}

int main(int argc, char **argv)
{
    static struct shim_config initial, resume, retry;
    signal(SIGPIPE, SIG_IGN);

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-is-handshaker-supported")) {
            printf("No\n");
            return 0;
        }
    }
    parse_flags(argc, argv, &initial, &resume, &retry);
    read_size = initial.read_size;
    if (!initial.port)
        fail("kitls-shim: -port is required");
    shim_clock = (int64_t)time(NULL);
    if (RAND_bytes(shim_ticket_key.id, sizeof shim_ticket_key.id) != 1 ||
        RAND_bytes(shim_ticket_key.key, sizeof shim_ticket_key.key) != 1)
        fail("kitls-shim: RAND_bytes failed");

    kitls_session *session = NULL;
    for (int i = 0; i <= initial.resume_count; i++) {
        int is_resume = i > 0;
        const struct shim_config *cfg = is_resume ? &resume : &initial;
        do_connection(cfg, &retry, is_resume, &session);
        if (cfg->resumption_delay)
            shim_clock += cfg->resumption_delay;
    }
    kitls_session_free(session);
    return 0;
}
