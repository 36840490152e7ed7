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
 *
 * This file holds the errors, the transport, the connection loop and
 * main(); the flags are parsed in shim_flags.c, each connection's config is
 * built in shim_config.c and its handshake checked in shim_check.c (shared
 * declarations in shim.h).
 */
#define _GNU_SOURCE
#include "shim.h"

#include <openssl/rand.h>

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

void shim_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void shim_unimplemented(const char *flag)
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
const char *shim_err_name(int e)
{
    /* Every received alert is one KITLS_E_PEER_ALERT(alert) code: one name. */
    if (KITLS_ERR_IS_PEER_ALERT(e))
        return "KITLS_E_ALERT_RECEIVED";
    switch (e) {
#define E(x)                                                                                       \
    case x: return #x;
        E(KITLS_E_WANT_READ)
        E(KITLS_E_CLOSED)
        E(KITLS_E_INTERNAL)
        E(KITLS_E_NOMEM) E(KITLS_E_INVALID_ARG) E(KITLS_E_STATE) E(KITLS_E_CRYPTO) E(KITLS_E_RNG)
            E(KITLS_E_CONFIG) E(KITLS_E_DECODE) E(KITLS_E_UNEXPECTED_MESSAGE)
                E(KITLS_E_BAD_RECORD_MAC) E(KITLS_E_RECORD_OVERFLOW) E(KITLS_E_ILLEGAL_PARAMETER)
                    E(KITLS_E_HANDSHAKE_FAILURE) E(KITLS_E_PROTOCOL_VERSION)
                        E(KITLS_E_MISSING_EXTENSION) E(KITLS_E_UNSUPPORTED_EXTENSION)
                            E(KITLS_E_DECRYPT_ERROR) E(KITLS_E_NO_APPLICATION_PROTOCOL)
                                E(KITLS_E_UNRECOGNIZED_NAME) E(KITLS_E_INSUFFICIENT_SECURITY)
                                    E(KITLS_E_CERT_REQUIRED) E(KITLS_E_BAD_CERTIFICATE)
                                        E(KITLS_E_CERT_UNTRUSTED) E(KITLS_E_CERT_EXPIRED)
                                            E(KITLS_E_CERT_NOT_YET_VALID)
                                                E(KITLS_E_CERT_NAME_MISMATCH) E(KITLS_E_CERT_USAGE)
                                                    E(KITLS_E_CERT_REVOKED) E(KITLS_E_CERT_INVALID)
                                                        E(KITLS_E_LIMIT) E(KITLS_E_EOF)
                                                            E(KITLS_E_EXCESS_HANDSHAKE_DATA)
#undef E
                                                                default : return "KITLS_E_UNKNOWN";
    }
}

static void fail_conn(kitls_conn *c, const char *where, int err) __attribute__((noreturn));
static void fail_conn(kitls_conn *c, const char *where, int err)
{
    int pa = c ? kitls_conn_peer_alert(c) : -1;
    fprintf(stderr, "kitls-shim: %s: %s (%s)", where, shim_err_name(err), kitls_strerror(err));
    if (KITLS_ERR_IS_PEER_ALERT(err) && pa >= 0)
        fprintf(stderr, " peer alert %s ALERT_%s", kitls_alert_string(pa), kitls_alert_string(pa));
    if (c && kitls_conn_verify_detail(c) && *kitls_conn_verify_detail(c))
        fprintf(stderr, " [%s]", kitls_conn_verify_detail(c));
    fputc('\n', stderr);
    exit(1);
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
        shim_fail("kitls-shim: connect to [::1]:%d: %s", cfg->port, strerror(errno));
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        shim_fail("kitls-shim: socket: %s", strerror(errno));
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)cfg->port);
    a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a4, sizeof a4) != 0)
        shim_fail("kitls-shim: connect to port %d: %s", cfg->port, strerror(errno));
connected:;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg->have_shim_id) {
        uint8_t id[8];
        for (int i = 0; i < 8; i++)
            id[i] = (uint8_t)(cfg->shim_id >> (8 * i));
        if (write(fd, id, 8) != 8)
            shim_fail("kitls-shim: writing shim id: %s", strerror(errno));
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

/* Tickets received on the current connection (BoringSSL's new-session
 * callback). */
static int got_new_session, shutting_down;
void shim_session_cb(void *ctx, kitls_conn *c, kitls_session *s)
{
    (void)ctx;
    (void)c;
    (void)s;
    if (!shutting_down)
        got_new_session = 1;
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
        shim_fail("kitls-shim: out of memory");
    int r = early
                ? kitls_conn_export_early_keying_material(c, label, context, context_len, out,
                                                          (size_t)n)
                : kitls_conn_export_keying_material(c, label, context, context_len, out, (size_t)n);
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
    kitls_config *kc = shim_make_config(cfg);
    int fd = connect_runner(cfg);
    kitls_conn *c = kitls_conn_new(kc);
    if (!c)
        shim_fail("kitls-shim: out of memory");
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
            shim_fail("kitls-shim: no session to offer");
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
        shim_fail("kitls-shim: client unexpectedly offered early data");

    /* Client: a rejected 0-RTT attempt continues as the -on-retry-
     * connection (BoringSSL resets it with SSL_reset_early_data_reject);
     * the early write is discarded. */
    if (!cfg->server && early_sent && kitls_conn_early_data_status(c) == KITLS_EARLY_REJECTED) {
        if (!cfg->expect_reject_early_data)
            shim_fail("kitls-shim: early data was rejected (EARLY_DATA_REJECTED)");
        if (cfg->expect_early_data_reason)
            shim_fail("kitls-shim: test error: -expect-early-data-reason belongs on -on-retry");
        cfg = retry;
        wrote_first = 0;
        early_sent = 0;
        hold_output = 0;
    }
    shim_check_handshake(c, cfg, is_resume, offered);
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
            shim_fail("kitls-shim: send_alert failed");
        flush_out(c, fd);
        shim_fail("kitls-shim: sent a fatal alert (-send-alert)");
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
            shim_fail("kitls-shim: new session was%s cached, but we expected the opposite",
                      got_new_session ? "" : " not");
        *session = kitls_conn_get_session(c);
        if (expect_new) {
            int early = *session && kitls_session_max_early_data(*session) != 0;
            if (early != cfg->expect_ticket_supports_early_data)
                shim_fail("kitls-shim: new session did%s support early data, but we expected the "
                          "opposite",
                          early ? "" : " not");
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
    shim_parse_flags(argc, argv, &initial, &resume, &retry);
    read_size = initial.read_size;
    if (!initial.port)
        shim_fail("kitls-shim: -port is required");
    shim_clock = (int64_t)time(NULL);
    if (RAND_bytes(shim_ticket_key.id, sizeof shim_ticket_key.id) != 1 ||
        RAND_bytes(shim_ticket_key.key, sizeof shim_ticket_key.key) != 1)
        shim_fail("kitls-shim: RAND_bytes failed");

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
