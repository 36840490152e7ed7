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

#include <openssl/pem.h>
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

static void parse_flags(int argc, char **argv, struct shim_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) fail("kitls-shim: %s needs a value", f); i++; } while (0)
        int ignored = 0;
        for (const char *const *p = ignored_bool_flags; *p; p++)
            if (!strcmp(f, *p))
                ignored = 1;
        if (ignored)
            continue;
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
            NEEDV();
            if (parse_int(f, v) > 0)
                unimplemented("-resume-count (no session resumption API)");
        } else {
            unimplemented(f);
        }
#undef NEEDV
    }
    if (cfg->curves_dropped && !cfg->n_curves)
        unimplemented("-curves (no group offered by kitls)");
    if (cfg->sign_dropped && !cfg->n_sign_prefs)
        unimplemented("-signing-prefs (no scheme implemented by kitls)");
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

static void flush_out(kitls_conn *c, int fd)
{
    const uint8_t *p;
    size_t n;
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
    } else if (cfg->select_alpn && !cfg->decline_alpn) {
        if (!cfg->server)
            unimplemented("-select-alpn on a client");
        const char *p = cfg->select_alpn;
        check(kitls_config_set_alpn(kc, &p, 1), "alpn");
    }
    return kc;
}

int main(int argc, char **argv)
{
    struct shim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-is-handshaker-supported")) {
            printf("No\n");
            return 0;
        }
    }
    parse_flags(argc, argv, &cfg);
    read_size = cfg.read_size;
    if (!cfg.port)
        fail("kitls-shim: -port is required");

    kitls_config *kc = make_config(&cfg);
    int fd = connect_runner(&cfg);
    kitls_conn *c = kitls_conn_new(kc);
    if (!c)
        fail("kitls-shim: out of memory");
    if (cfg.host_name && !cfg.server) {
        int r = kitls_conn_set_server_name(c, cfg.host_name);
        if (r < 0)
            fail_conn(c, "server name", r);
    }

    /* Handshake. */
    for (;;) {
        int r = kitls_conn_handshake(c);
        flush_out(c, fd);
        if (r == 0)
            break;
        if (r != KITLS_E_WANT_READ)
            fail_conn(c, "handshake", r);
        if (fill_in(c, fd) == 0)
            fail_conn(c, "handshake (transport EOF)", KITLS_E_EOF);
    }

    if (cfg.no_op_extra_handshake) {
        int r = kitls_conn_handshake(c);
        if (r != 0)
            fail_conn(c, "extra handshake call", r);
    }

    /* Post-handshake expectations. */
    if (cfg.expect_hrr && !kitls_conn_did_hrr(c))
        fail("kitls-shim: expected a HelloRetryRequest");
    if (cfg.expect_no_hrr && kitls_conn_did_hrr(c))
        fail("kitls-shim: unexpected HelloRetryRequest");
    if (cfg.expect_curve && kitls_conn_group(c) != cfg.expect_curve)
        fail("kitls-shim: group %u, expected %u", kitls_conn_group(c), cfg.expect_curve);
    if (cfg.expect_version && cfg.expect_version != 0x0304)
        fail("kitls-shim: negotiated TLS 1.3, expected version %d", cfg.expect_version);
    if (cfg.expect_peer_sigalg && kitls_conn_peer_sigalg(c) != cfg.expect_peer_sigalg)
        fail("kitls-shim: peer signature algorithm %04x, expected %04x",
             kitls_conn_peer_sigalg(c), cfg.expect_peer_sigalg);
    if (cfg.expect_alpn) {
        const char *a = kitls_conn_alpn(c);
        if (!a || strcmp(a, cfg.expect_alpn))
            fail("kitls-shim: ALPN %s, expected %s", a ? a : "(none)", cfg.expect_alpn);
    }
    if (cfg.expect_no_alpn && kitls_conn_alpn(c))
        fail("kitls-shim: unexpected ALPN %s", kitls_conn_alpn(c));
    if (cfg.expect_server_name) {
        const char *s = kitls_conn_server_name(c);
        if (!s || strcmp(s, cfg.expect_server_name))
            fail("kitls-shim: server name %s, expected %s", s ? s : "(none)", cfg.expect_server_name);
    }

    if (cfg.expect_cipher_aes && kitls_conn_suite(c) != cfg.expect_cipher_aes)
        fail("kitls-shim: cipher suite %04x, expected %04x", kitls_conn_suite(c),
             cfg.expect_cipher_aes);
    if (cfg.expect_peer_cert_file)
        check_peer_chain(cfg.expect_peer_cert_file);
    if (cfg.send_alert) {
        /* -send-alert: abort with a fatal decompression_failure alert. */
        if (kitls_conn_send_alert(c, 30) < 0)
            fail("kitls-shim: send_alert failed");
        flush_out(c, fd);
        fail("kitls-shim: sent a fatal alert (-send-alert)");
    }

    if (cfg.shim_writes_first) {
        int r = kitls_conn_write(c, (const uint8_t *)"hello", 5);
        if (r < 0)
            fail_conn(c, "write", r);
        flush_out(c, fd);
    }
    if (cfg.shim_shuts_down) {
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
                if (cfg.check_close_notify)
                    fail_conn(c, "shutdown (EOF without close_notify)", KITLS_E_EOF);
                break;
            }
        }
        kitls_conn_free(c);
        kitls_config_free(kc);
        close(fd);
        return 0;
    }

    /* Echo loop: XOR 0xFF until the peer closes. */
    uint8_t buf[16384];
    for (;;) {
        int r = kitls_conn_read(c, buf, sizeof buf);
        if (r > 0) {
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
            if (cfg.check_close_notify)
                fail_conn(c, "read (EOF without close_notify)", KITLS_E_EOF);
            break;
        }
    }
    kitls_conn_free(c);
    kitls_config_free(kc);
    close(fd);
    return 0;
}
