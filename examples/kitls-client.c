/*
 * kitls-client: a small TLS 1.3 client in the spirit of `openssl s_client`,
 * built on the public kitls API and blocking POSIX sockets.
 *
 * Modes after the handshake:
 *   --echo      send --message (or all of stdin), read the same number of
 *               bytes back, check they match, then close;
 *   --message   send the string, then copy everything the server sends to
 *               stdout until the server closes (like s_client -ign_eof);
 *   (default)   relay stdin to the server and the server to stdout; at
 *               stdin EOF send close_notify and wait for the server's.
 *
 * Resumption: --sess-out saves the newest session ticket after the
 * connection, --sess-in offers a saved one.  --early-data sends a file as
 * 0-RTT data with that session (and again after the handshake if the server
 * rejects it); it comes before the data of the mode above.  --key-update
 * sends KeyUpdates half way through the data (echo, message) or after the
 * first stdin chunk (relay).
 *
 * --ktls tx|rx|both hands record protection to the kernel after the
 * handshake (<kitls/ktls.h>; without kTLS the connection stays in
 * userspace and --print says why).  --print then also reports, at the
 * end, the tickets received after the offload and the kernel rekeys.
 *
 * Exit status: 0 on success, 1 on a TLS or transport failure, 2 on a usage
 * error.
 */
#define _POSIX_C_SOURCE 200809L

#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "kitls-client";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options]\n"
            "  --host H               address to connect to (default 127.0.0.1)\n"
            "  --port N               port (default 4433)\n"
            "  --servername NAME      SNI and name to verify (default: --host)\n"
            "  --cafile FILE          trust anchors (PEM); default: system store\n"
            "  --no-verify            do not verify the server (insecure)\n"
            "  --cert FILE --key FILE client certificate chain and key (PEM)\n"
            "  --suites LIST          e.g. TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256\n"
            "  --groups LIST          e.g. x25519,secp256r1,secp384r1; X25519MLKEM768 and\n"
            "                         SecP256r1MLKEM768 need ML-KEM in libcrypto (OpenSSL\n"
            "                         3.5+), here: %s\n"
            "  --key-shares N         number of key shares to send (default 1; 2 with the\n"
            "                         default groups when X25519MLKEM768 leads them)\n"
            "  --alpn LIST            ALPN protocols, e.g. h2,http/1.1\n"
            "  --record-size-limit N  advertise RFC 8449 record_size_limit\n"
            "  --no-compat            disable middlebox compatibility mode\n"
            "  --message STR          data to send (default: stdin)\n"
            "  --echo                 expect the data echoed back and check it\n"
            "  --print                print negotiated parameters to stdout\n"
            "  --sess-out FILE        save the session (ticket) received, for --sess-in\n"
            "  --sess-in FILE         offer the saved session for resumption\n"
            "  --early-data FILE      send FILE as 0-RTT data (needs --sess-in); resent\n"
            "                         after the handshake if the server rejects it\n"
            "  --key-update N         send N KeyUpdates half way through the data\n"
            "  --key-update-request   ... with update_requested (N defaults to 1)\n"
            "  --timeout SECS         socket timeout (default 0 = none)\n"
            "  --ktls MODE            kernel TLS offload after the handshake: tx, rx or both\n"
            "  --ktls-policy P        kernels that cannot rekey: require (default: stay in\n"
            "                         userspace) or close (offload; a KeyUpdate ends it)\n"
            "  --quiet                less chatter on stderr\n",
            prog,
            kitls_group_available(KITLS_GROUP_X25519MLKEM768) ? "available"
                                                              : "unavailable (no ML-KEM-768)");
}

enum {
    OPT_CERT = 256,
    OPT_KEY,
    OPT_CAFILE,
    OPT_NO_VERIFY,
    OPT_SUITES,
    OPT_GROUPS,
    OPT_KEY_SHARES,
    OPT_ALPN,
    OPT_SERVERNAME,
    OPT_RSL,
    OPT_NO_COMPAT,
    OPT_PORT,
    OPT_HOST,
    OPT_ECHO,
    OPT_MESSAGE,
    OPT_PRINT,
    OPT_TIMEOUT,
    OPT_QUIET,
    OPT_SESS_IN,
    OPT_SESS_OUT,
    OPT_EARLY_DATA,
    OPT_KEY_UPDATE,
    OPT_KEY_UPDATE_REQUEST,
    OPT_KTLS,
    OPT_KTLS_POLICY,
    OPT_HELP,
};

static const struct option long_opts[] = {
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"cafile", required_argument, NULL, OPT_CAFILE},
    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
    {"suites", required_argument, NULL, OPT_SUITES},
    {"groups", required_argument, NULL, OPT_GROUPS},
    {"key-shares", required_argument, NULL, OPT_KEY_SHARES},
    {"alpn", required_argument, NULL, OPT_ALPN},
    {"servername", required_argument, NULL, OPT_SERVERNAME},
    {"record-size-limit", required_argument, NULL, OPT_RSL},
    {"no-compat", no_argument, NULL, OPT_NO_COMPAT},
    {"port", required_argument, NULL, OPT_PORT},
    {"host", required_argument, NULL, OPT_HOST},
    {"echo", no_argument, NULL, OPT_ECHO},
    {"message", required_argument, NULL, OPT_MESSAGE},
    {"print", no_argument, NULL, OPT_PRINT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"sess-in", required_argument, NULL, OPT_SESS_IN},
    {"sess-out", required_argument, NULL, OPT_SESS_OUT},
    {"early-data", required_argument, NULL, OPT_EARLY_DATA},
    {"key-update", required_argument, NULL, OPT_KEY_UPDATE},
    {"key-update-request", no_argument, NULL, OPT_KEY_UPDATE_REQUEST},
    {"ktls", required_argument, NULL, OPT_KTLS},
    {"ktls-policy", required_argument, NULL, OPT_KTLS_POLICY},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void parse_args(int argc, char **argv, struct ex_opts *o)
{
    int ch;

    while ((ch = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (ch) {
        case OPT_CERT: o->cert = optarg; break;
        case OPT_KEY: o->key = optarg; break;
        case OPT_CAFILE: o->cafile = optarg; break;
        case OPT_NO_VERIFY: o->verify = KITLS_VERIFY_NONE; break;
        case OPT_SUITES: o->suites = optarg; break;
        case OPT_GROUPS: o->groups = optarg; break;
        case OPT_KEY_SHARES: o->key_shares = ex_parse_int(prog, "key-shares", optarg, 1, 16); break;
        case OPT_ALPN: o->alpn = optarg; break;
        case OPT_SERVERNAME: o->servername = optarg; break;
        case OPT_RSL:
            o->record_size_limit = ex_parse_int(prog, "record-size-limit", optarg, 64, 16385);
            break;
        case OPT_NO_COMPAT: o->no_compat = 1; break;
        case OPT_PORT:
            (void)ex_parse_int(prog, "port", optarg, 1, 65535);
            o->port = optarg;
            break;
        case OPT_HOST: o->host = optarg; break;
        case OPT_ECHO: o->echo = 1; break;
        case OPT_MESSAGE: o->message = optarg; break;
        case OPT_PRINT: o->print = 1; break;
        case OPT_TIMEOUT: o->timeout = ex_parse_int(prog, "timeout", optarg, 0, 86400); break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_SESS_IN: o->sess_in = optarg; break;
        case OPT_SESS_OUT: o->sess_out = optarg; break;
        case OPT_EARLY_DATA: o->early_data_file = optarg; break;
        case OPT_KEY_UPDATE:
            o->key_update = ex_parse_int(prog, "key-update", optarg, 0, 1000);
            break;
        case OPT_KEY_UPDATE_REQUEST: o->key_update_request = 1; break;
        case OPT_KTLS: o->ktls = ex_parse_ktls_mode(prog, optarg); break;
        case OPT_KTLS_POLICY: o->ktls_policy = ex_parse_ktls_policy(prog, optarg); break;
        case 'h':
        case OPT_HELP: usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        usage(stderr);
        exit(2);
    }
    if (o->host == NULL)
        o->host = "127.0.0.1";
    if (o->port == NULL)
        o->port = "4433";
    if (o->key_update_request && o->key_update == 0)
        o->key_update = 1;
    if (o->early_data_file != NULL && o->sess_in == NULL) {
        fprintf(stderr, "%s: --early-data needs --sess-in\n", prog);
        exit(2);
    }
}

/* Tickets received on this connection (the session callback counts), and
 * how many had arrived when the connection was offloaded (--ktls). */
static int tickets_seen, tickets_at_offload;

static void on_session(void *ctx, kitls_conn *c, kitls_session *s)
{
    (void)c;
    (void)s;
    ++*(int *)ctx;
}

/* Where to split data for a KeyUpdate in the middle: after the newline
 * closest to the middle (line-oriented peers such as gnutls-serv --echo
 * echo whole lines only), else at the middle. */
static size_t split_point(const uint8_t *data, size_t len)
{
    size_t i, best = len / 2, bestd = (size_t)-1, d;

    for (i = 0; i + 1 < len; i++) {
        if (data[i] != '\n')
            continue;
        d = i + 1 > len / 2 ? i + 1 - len / 2 : len / 2 - (i + 1);
        if (d < bestd) {
            bestd = d;
            best = i + 1;
        }
    }
    return best;
}

/* Read all of stdin into a malloc'd buffer. */
static uint8_t *slurp_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap), *nb;
    ssize_t r;

    if (buf == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(STDIN_FILENO, buf + n, cap - n);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return NULL;
        }
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

static int write_stdout(const uint8_t *p, size_t n)
{
    return fwrite(p, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : -1;
}

/*
 * With --sess-out, before closing: give the server a moment (2 s) to send
 * its NewSessionTicket if none has arrived yet.  Data read meanwhile goes
 * to stdout.  Returns 0 (a ticket arrived or the wait ended),
 * KITLS_E_CLOSED if the server closed, or an error.
 */
static int wait_ticket(int fd, kitls_conn *c, const struct ex_opts *o)
{
    uint8_t buf[16384];
    struct pollfd pfd;
    int n, rc;

    while (o->sess_out != NULL && tickets_seen == 0) {
        if (ex_ktls_active()) {
            /* The kTLS layer hands tickets to the core as they come. */
            n = ex_ktls_read_some(buf, sizeof(buf));
            if (n > 0) {
                if (write_stdout(buf, (size_t)n) != 0)
                    return KITLS_E_INTERNAL;
                continue;
            }
            if (n != KITLS_E_WANT_READ)
                return n;
            if (tickets_seen > 0)
                break;
            pfd.fd = fd;
            pfd.events = POLLIN;
            n = poll(&pfd, 1, 2000);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return 0;
            continue;
        }
        n = kitls_conn_read(c, buf, sizeof(buf));
        rc = ex_flush(fd, c);
        if (n > 0) {
            if (write_stdout(buf, (size_t)n) != 0)
                return KITLS_E_INTERNAL;
            continue;
        }
        if (n == 0 && rc == 0)
            continue;
        if (n != KITLS_E_WANT_READ)
            return n;
        if (rc != 0)
            return rc;
        if (tickets_seen > 0)
            break; /* that read consumed a NewSessionTicket */
        pfd.fd = fd;
        pfd.events = POLLIN;
        n = poll(&pfd, 1, 2000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        rc = ex_recv_feed(fd, c);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Read exactly len bytes into buf. */
static int read_exact(int fd, kitls_conn *c, uint8_t *buf, size_t len, size_t *got)
{
    int rc;

    while (*got < len) {
        rc = ex_read(fd, c, buf + *got, len - *got);
        if (rc <= 0) {
            if (rc == KITLS_E_CLOSED)
                fprintf(stderr, "%s: server closed after %zu of %zu echoed bytes\n", prog, *got,
                        len);
            return rc;
        }
        *got += (size_t)rc;
    }
    return 0;
}

/* After our close_notify: read (briefly) until the server's close_notify so
 * the socket is not reset with unread data.  Errors here don't matter. */
static void drain(int fd, kitls_conn *c)
{
    uint8_t buf[4096];

    ex_set_timeout(fd, 2);
    while (ex_read(fd, c, buf, sizeof(buf)) > 0)
        ;
}

/* Echo mode; the early data (elen bytes, already sent) comes back first. */
static int run_echo(int fd, kitls_conn *c, const struct ex_opts *o, const uint8_t *early,
                    size_t elen)
{
    uint8_t *data, *back;
    size_t len, got = 0, split;
    int rc;

    if (o->message != NULL) {
        len = strlen(o->message);
        data = malloc(len + 1);
        if (data == NULL)
            return KITLS_E_NOMEM;
        memcpy(data, o->message, len);
    } else {
        data = slurp_stdin(&len);
        if (data == NULL) {
            fprintf(stderr, "%s: reading stdin failed\n", prog);
            return KITLS_E_INTERNAL;
        }
    }
    back = malloc(elen + len + 1);
    if (back == NULL) {
        free(data);
        return KITLS_E_NOMEM;
    }
    /* With --key-update: the first part, its echo, the KeyUpdates, then
     * the rest, so data flows both ways under the old and the new keys. */
    split = o->key_update > 0 ? split_point(data, len) : len;
    rc = ex_write(fd, c, data, split);
    if (rc == 0)
        rc = read_exact(fd, c, back, elen + split, &got);
    if (rc == 0 && o->key_update > 0) {
        rc = ex_key_update(fd, c, o->key_update, o->key_update_request);
        if (rc == 0 && o->print)
            printf("key-update: sent %d%s\n", o->key_update,
                   o->key_update_request ? " (update_requested)" : "");
    }
    if (rc == 0)
        rc = ex_write(fd, c, data + split, len - split);
    if (rc == 0)
        rc = read_exact(fd, c, back, elen + len, &got);
    if (rc == 0 &&
        ((elen > 0 && memcmp(early, back, elen) != 0) || memcmp(data, back + elen, len) != 0)) {
        fprintf(stderr, "%s: echo mismatch\n", prog);
        rc = 1;
    }
    if (rc == 0) {
        if (o->print)
            printf("echo: ok (%zu bytes)\n", elen + len);
        rc = wait_ticket(fd, c, o);
        if (rc == KITLS_E_CLOSED) {
            rc = ex_close(fd, c, 1);
        } else if (rc == 0) {
            rc = ex_close(fd, c, 0);
            if (rc == 0)
                drain(fd, c);
        }
    }
    free(data);
    free(back);
    return rc;
}

/* Send --message, then print what the server sends until it closes. */
static int run_message(int fd, kitls_conn *c, const struct ex_opts *o)
{
    const uint8_t *msg = (const uint8_t *)o->message;
    size_t len = strlen(o->message), split;
    uint8_t buf[16384];
    int rc;

    split = o->key_update > 0 ? split_point(msg, len) : len;
    rc = ex_write(fd, c, msg, split);
    if (rc == 0 && o->key_update > 0)
        rc = ex_key_update(fd, c, o->key_update, o->key_update_request);
    if (rc == 0)
        rc = ex_write(fd, c, msg + split, len - split);
    while (rc == 0) {
        rc = ex_read(fd, c, buf, sizeof(buf));
        if (rc > 0)
            rc = write_stdout(buf, (size_t)rc) == 0 ? 0 : KITLS_E_INTERNAL;
    }
    if (rc == KITLS_E_CLOSED)
        return ex_close(fd, c, 1);
    return rc;
}

/* Relay stdin <-> TLS until both directions are closed. */
static int run_relay(int fd, kitls_conn *c, const struct ex_opts *o)
{
    uint8_t buf[16384];
    struct pollfd pfd[2];
    int stdin_open = 1, n, rc, key_update = o->key_update;
    ssize_t r;

    for (;;) {
        /* Drain whatever plaintext is already buffered in the connection. */
        for (;;) {
            if (ex_ktls_active()) {
                /* kTLS: read what the socket has, without waiting. */
                n = ex_ktls_read_some(buf, sizeof(buf));
                if (n > 0) {
                    if (write_stdout(buf, (size_t)n) != 0)
                        return KITLS_E_INTERNAL;
                    continue;
                }
                if (n == KITLS_E_CLOSED)
                    return stdin_open ? ex_close(fd, c, 1) : 0;
                if (n == KITLS_E_EOF && !stdin_open)
                    return 0;
                if (n != KITLS_E_WANT_READ)
                    return n;
                break;
            }
            n = kitls_conn_read(c, buf, sizeof(buf));
            rc = ex_flush(fd, c);
            if (n > 0) {
                if (write_stdout(buf, (size_t)n) != 0)
                    return KITLS_E_INTERNAL;
                continue;
            }
            if (n == 0 && rc == 0)
                continue; /* a record without data; keep draining */
            if (n == KITLS_E_CLOSED)
                return stdin_open ? ex_close(fd, c, 1) : 0;
            /* We sent close_notify already: a peer that then just closes
             * the connection (openssl s_server) is fine. */
            if (n == KITLS_E_EOF && !stdin_open)
                return 0;
            if (n != KITLS_E_WANT_READ)
                return n;
            if (rc != 0)
                return rc;
            break;
        }
        pfd[0].fd = fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = stdin_open ? STDIN_FILENO : -1;
        pfd[1].events = POLLIN;
        n = poll(pfd, 2, o->timeout > 0 ? o->timeout * 1000 : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return EX_E_IO;
        }
        if (n == 0) {
            fprintf(stderr, "%s: timeout\n", prog);
            return KITLS_E_EOF;
        }
        if (pfd[1].revents != 0) {
            r = read(STDIN_FILENO, buf, sizeof(buf));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                stdin_open = 0;
                rc = wait_ticket(fd, c, o);
                if (rc == KITLS_E_CLOSED)
                    return ex_close(fd, c, 1);
                if (rc == 0)
                    rc = ex_close(fd, c, 0);
            } else {
                rc = ex_write(fd, c, buf, (size_t)r);
                if (rc == 0 && key_update > 0) {
                    rc = ex_key_update(fd, c, key_update, o->key_update_request);
                    key_update = 0;
                }
            }
            if (rc != 0)
                return rc;
        }
        if (pfd[0].revents != 0 && !ex_ktls_active()) {
            rc = ex_recv_feed(fd, c);
            if (rc == KITLS_E_EOF && !stdin_open) {
                kitls_conn_set_eof(c);
                continue; /* a close_notify may still be buffered */
            }
            if (rc != 0)
                return rc;
        }
    }
}

/* --sess-in: load the session and offer it. */
static int offer_session(kitls_conn *c, const char *path)
{
    kitls_session *s;
    uint8_t *buf;
    size_t len;
    int rc;

    buf = ex_read_file(prog, path, &len);
    if (buf == NULL)
        return KITLS_E_INVALID_ARG;
    s = kitls_session_from_bytes(buf, len);
    memset(buf, 0, len);
    free(buf);
    if (s == NULL) {
        fprintf(stderr, "%s: %s: not a kitls session\n", prog, path);
        return KITLS_E_INVALID_ARG;
    }
    rc = kitls_conn_set_session(c, s);
    kitls_session_free(s);
    if (rc < 0)
        ex_report_error(prog, c, rc);
    return rc;
}

/* --sess-out: save the newest session received on the connection. */
static int save_session(kitls_conn *c, const char *path)
{
    kitls_session *s = kitls_conn_get_session(c);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = -1;

    if (s == NULL) {
        fprintf(stderr, "%s: --sess-out: no session ticket received\n", prog);
        return -1;
    }
    if (kitls_session_to_bytes(s, NULL, 0, &len) == 0 && (buf = malloc(len)) != NULL &&
        kitls_session_to_bytes(s, buf, len, &len) == 0)
        rc = ex_write_file(prog, path, buf, len);
    else
        fprintf(stderr, "%s: --sess-out: cannot serialize the session\n", prog);
    if (buf != NULL)
        memset(buf, 0, len);
    free(buf);
    kitls_session_free(s);
    return rc;
}

/*
 * After the handshake: send again whatever part of the early data the
 * server did not take as 0-RTT (all of it if rejected or not offered).
 */
static int resend_early(int fd, kitls_conn *c, const uint8_t *early, size_t elen, size_t queued,
                        int quiet)
{
    size_t from = kitls_conn_early_data_status(c) == KITLS_EARLY_ACCEPTED ? queued : 0;

    if (from == elen)
        return 0;
    if (!quiet)
        fprintf(stderr, "%s: sending %zu bytes of early data after the handshake\n", prog,
                elen - from);
    return ex_write(fd, c, early + from, elen - from);
}

int main(int argc, char **argv)
{
    struct ex_opts o;
    kitls_config *cfg = NULL;
    kitls_conn *c = NULL;
    uint8_t *early = NULL;
    size_t elen = 0, queued = 0;
    int fd = -1, rc;

    signal(SIGPIPE, SIG_IGN);
    ex_opts_init(&o, prog);
    parse_args(argc, argv, &o);

    if (o.early_data_file != NULL) {
        early = ex_read_file(prog, o.early_data_file, &elen);
        if (early == NULL)
            return 1;
    }
    cfg = ex_config_build(KITLS_ROLE_CLIENT, &o);
    if (cfg == NULL) {
        free(early);
        return 1;
    }
    if (o.sess_out != NULL || o.ktls != 0) {
        rc = kitls_config_set_session_callback(cfg, on_session, &tickets_seen);
        if (rc < 0) {
            ex_report_error(prog, NULL, rc);
            kitls_config_free(cfg);
            free(early);
            return 1;
        }
    }
    c = kitls_conn_new(cfg);
    if (c == NULL) {
        fprintf(stderr, "%s: kitls_conn_new failed\n", prog);
        kitls_config_free(cfg);
        return 1;
    }
    /* Verify the name we dialled unless told otherwise; an IP literal is
     * checked against the certificate's IP SANs and not sent as SNI. */
    rc = kitls_conn_set_server_name(c, o.servername != NULL ? o.servername : o.host);
    if (rc < 0) {
        ex_report_error(prog, c, rc);
        goto out;
    }
    if (o.sess_in != NULL && (rc = offer_session(c, o.sess_in)) < 0)
        goto out;
    if (early != NULL && elen > 0) {
        /* KITLS_E_STATE: 0-RTT is not possible with this session (the
         * ticket does not allow it, or it was not offered); the data then
         * goes after the handshake. */
        rc = kitls_conn_write_early_data(c, early, elen);
        if (rc < 0 && rc != KITLS_E_STATE) {
            ex_report_error(prog, c, rc);
            goto out;
        }
        queued = rc > 0 ? (size_t)rc : 0;
        if (rc == KITLS_E_STATE && !o.quiet)
            fprintf(stderr, "%s: 0-RTT not possible with this session\n", prog);
        rc = 0;
    }

    fd = ex_tcp_connect(prog, o.host, o.port);
    if (fd < 0) {
        rc = EX_E_IO;
        goto out;
    }
    ex_set_timeout(fd, o.timeout);
    if (o.ktls != 0 && (rc = ex_ktls_attach(fd, c, &o)) != 0) {
        ex_report_error(prog, c, rc);
        goto out;
    }

    /* With --ktls (and no 0-RTT data queued in the connection), read the
     * handshake one record at a time: nothing past it leaves the socket. */
    rc = o.ktls != 0 && early == NULL ? ex_ktls_handshake() : ex_handshake(fd, c);
    if (rc != 0) {
        ex_report_error(prog, c, rc);
        goto out;
    }
    if (!o.quiet)
        fprintf(stderr, "%s: handshake complete\n", prog);
    if (o.ktls != 0) {
        rc = ex_ktls_enable();
        if (rc != 0) {
            ex_report_error(prog, c, rc);
            goto out;
        }
        tickets_at_offload = tickets_seen;
    }
    if (o.print) {
        ex_print_params(stdout, c);
        if (early != NULL)
            printf("early-data-bytes: %zu\n",
                   kitls_conn_early_data_status(c) == KITLS_EARLY_ACCEPTED ? queued : 0);
        if (o.ktls != 0)
            ex_ktls_print(stdout);
        fflush(stdout);
    }
    if (early != NULL) {
        rc = resend_early(fd, c, early, elen, queued, o.quiet);
        if (rc != 0) {
            ex_report_error(prog, c, rc);
            goto out;
        }
    }

    if (o.echo)
        rc = run_echo(fd, c, &o, early, elen);
    else if (o.message != NULL)
        rc = run_message(fd, c, &o);
    else
        rc = run_relay(fd, c, &o);
    if (rc < 0)
        ex_report_error(prog, c, rc);
    if (o.print && ex_ktls_active()) {
        printf("ktls-tickets: %d after offload\n", tickets_seen - tickets_at_offload);
        ex_ktls_print_rekeys(stdout);
    }
    if (o.sess_out != NULL && kitls_conn_is_established(c) && save_session(c, o.sess_out) != 0 &&
        rc == 0)
        rc = 1;

out:
    ex_ktls_detach();
    ex_close_socket(fd); /* the alert or close_notify must not be lost to a reset */
    kitls_conn_free(c);
    kitls_config_free(cfg);
    free(early);
    return rc == 0 ? 0 : 1;
}
