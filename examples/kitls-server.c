/*
 * kitls-server: a small TLS 1.3 server in the spirit of `openssl s_server`,
 * built on the public kitls API and blocking POSIX sockets.  It serves one
 * connection at a time.
 *
 * After the handshake it sends --message (if given), then either echoes
 * everything back (--echo) or copies what it receives to stdout, until the
 * client sends close_notify; it then answers with its own close_notify.
 *
 * With --once it serves a single connection and exits with its status:
 * 0 on success, 1 on a TLS or transport failure, 2 on a usage error.
 * --naccept N serves N connections (e.g. a full handshake, then a resumed
 * one: the ticket key lives as long as the process unless
 * --ticket-key-file gives it) and exits 1 if any of them failed.
 *
 * With --early-data MAX it accepts up to MAX bytes of 0-RTT data, read
 * while the handshake runs; the data is echoed (--echo) or copied to stdout
 * first, after the handshake.  --key-update sends KeyUpdates after the
 * first chunk of received data has been answered.
 *
 * --ktls tx|rx|both hands record protection to the kernel after the
 * handshake (<kitls/ktls.h>; a kernel without kTLS keeps the connection in
 * userspace, and --print says why); the server then also sends one more
 * NewSessionTicket, through the offloaded socket.  --sendfile FILE sends
 * the file after the handshake with kitls_ktls_sendfile(): sendfile(2)
 * through the kernel when TX is offloaded, else read + userspace
 * encryption.
 *
 * --uring serves on the io_uring driver instead (many connections at once,
 * kTLS through io_uring send/splice): see server-uring.c.  Built with
 * liburing only.
 *
 * SIGHUP reloads the certificate, key, --ocsp-staple, ticket keys and the
 * --ktls-switch file for new connections, keeping established ones (see
 * server-reload.c).
 * --metrics ADDR:PORT serves the library's counters (kitls_stats) and the
 * tool's gauges over HTTP GET /metrics: see server-metrics.c.
 *
 * Fleets (issue 19, server-redis.c, docs/fleet.md): --replay-store redis
 * checks every 0-RTT attempt against a Redis shared by all servers,
 * --ticket-keys redis follows the ticket-key ring kept there, and
 * --rotate-ticket-keys --redis URL rotates that ring and exits.
 */
#define _POSIX_C_SOURCE 200809L

#include "common.h"
#include "server-reload.h"
#include "server-metrics.h"
#include "server-redis.h"
#ifdef EX_HAVE_URING
#include "server-uring.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *prog = "kitls-server";
/* --close-after-echo (interop tests: clients that wait for the server to close) */
static int close_after_echo;
/* --uring: serve on the io_uring driver */
static int use_uring;
/* --ocsp-staple, --ktls-switch: re-read on SIGHUP (server-reload.c) */
static const char *ocsp_staple, *ktls_switch;
/* --metrics ADDR:PORT */
static const char *metrics_addr;
/* --redis, --replay-store, --ticket-keys, --rotate-ticket-keys */
static struct ex_redis_opts redis_opts = {.rotate_period = 86400, .timeout_ms = 5, .refresh_s = 30};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s --cert FILE --key FILE [options]\n"
            "  --host H               address to bind (default: all, IPv6 dual-stack)\n"
            "  --port N               port (default 4433; 0 picks a free port)\n"
            "  --ready-file FILE      write the bound port to FILE once listening\n"
            "  --cert FILE --key FILE certificate chain and key (PEM)\n"
            "  --cafile FILE          trust anchors for client certificates\n"
            "  --verify MODE          client auth: none (default), request, require\n"
            "  --suites LIST          e.g. TLS_AES_256_GCM_SHA384\n"
            "  --groups LIST          e.g. x25519,secp256r1,secp384r1; X25519MLKEM768 and\n"
            "                         SecP256r1MLKEM768 need ML-KEM in libcrypto (OpenSSL\n"
            "                         3.5+), here: %s\n"
            "  --alpn LIST            ALPN protocols, e.g. h2,http/1.1\n"
            "  --record-size-limit N  advertise RFC 8449 record_size_limit\n"
            "  --max-handshake-message N  largest handshake message accepted, which\n"
            "                         bounds the ClientHello (default 65536 bytes;\n"
            "                         1024..16777215; larger: unexpected_message)\n"
            "  --no-compat            disable middlebox compatibility mode\n"
            "  --hrr-cookie           send a cookie in HelloRetryRequest\n"
            "  --message STR          send STR after the handshake\n"
            "  --echo                 echo received data back until the client closes\n"
            "  --close-after-echo     after answering the first data, send close_notify\n"
            "                         first, then wait for the client's (--print says\n"
            "                         peer-close-notify: yes or no)\n"
            "  --print                print negotiated parameters to stdout\n"
            "  --once                 serve one connection and exit with its status\n"
            "  --naccept N            serve N connections, then exit (1 if any failed)\n"
            "  --tickets N            NewSessionTickets per handshake (default 1; 0 = none)\n"
            "  --ticket-key-file FILE ticket keys, one per line: 72 hex digits (4-byte id,\n"
            "                         32-byte key), first line seals (default: random)\n"
            "  --early-data MAX       accept up to MAX bytes of 0-RTT data (default off)\n"
            "  --early-data-window MS 0-RTT freshness: largest ticket-age difference\n"
            "                         accepted (default 10000); with --replay-store redis\n"
            "                         ids are kept MS + 2000 ms (clock resolution, skew)\n"
            "  --key-update N         send N KeyUpdates after the first data received\n"
            "  --key-update-request   ... with update_requested (N defaults to 1)\n"
            "  --timeout SECS         per-connection socket timeout (default 0 = none)\n"
            "  --ktls MODE            kernel TLS offload after the handshake: tx, rx or both\n"
            "                         (then one more ticket is sent, through the kernel)\n"
            "  --ktls-policy P        kernels that cannot rekey: require (default: stay in\n"
            "                         userspace) or close (offload; a KeyUpdate ends it)\n"
            "  --sendfile FILE        send FILE after the handshake (sendfile(2) when\n"
            "                         offloaded, else userspace encryption)\n"
            "  --ocsp-staple FILE     staple this DER OCSP response (for the first --cert\n"
            "                         certificate; its issuer must follow it in the chain)\n"
            "  --ktls-switch FILE     kTLS kill switch: FILE saying off keeps new connections\n"
            "                         in userspace; on or no FILE: offload (re-read on SIGHUP)\n"
            "  --uring                serve on the io_uring driver: many connections at once,\n"
            "                         with --ktls data and files through io_uring send and\n"
            "                         splice on the kTLS socket (--key-update N: at most 4;\n"
            "                         no extra ticket after --ktls)%s\n"
            "  --metrics ADDR:PORT    serve counters in the Prometheus text format over\n"
            "                         HTTP GET /metrics (port 0: any free one, printed)\n"
            "  --redis URL            Redis of the fleet: redis://[:password@]host[:port][/db]\n"
            "                         or unix:/path%s\n"
            "  --replay-store S       0-RTT anti-replay store: memory (default, this process\n"
            "                         only) or redis (shared; Redis down or slower than\n"
            "                         --redis-timeout: 0-RTT refused, 1-RTT goes on)\n"
            "  --redis-timeout MS     connect and command timeout of Redis (default 5)\n"
            "  --ticket-keys SRC      file (default: --ticket-key-file or a random key) or\n"
            "                         redis (the fleet's ring, followed on rotation)\n"
            "  --ticket-keys-refresh SECS  re-read the ring this often besides on\n"
            "                         rotation messages (default 30)\n"
            "  --rotate-ticket-keys   rotate the ring in --redis (next key seals from now,\n"
            "                         a new next key), print the key ids and exit\n"
            "  --rotate-period SECS   when the new next key starts sealing (default 86400)\n"
            "  --quiet                less chatter on stderr\n"
            "SIGHUP reloads --cert, --key, --ocsp-staple, --ticket-key-file and\n"
            "--ktls-switch for new connections; established ones keep theirs; a bad\n"
            "file is refused with a log line and the previous material stays.\n",
            prog,
            kitls_group_available(KITLS_GROUP_X25519MLKEM768) ? "available"
                                                              : "unavailable (no ML-KEM-768)",
#ifdef EX_HAVE_URING
            ""
#else
            " [not built: no liburing]"
#endif
            ,
#ifdef EX_HAVE_REDIS
            ""
#else
            " [not built: no hiredis]"
#endif
    );
}

enum {
    OPT_CERT = 256,
    OPT_KEY,
    OPT_CAFILE,
    OPT_VERIFY,
    OPT_SUITES,
    OPT_GROUPS,
    OPT_ALPN,
    OPT_RSL,
    OPT_MAX_HS,
    OPT_NO_COMPAT,
    OPT_HRR_COOKIE,
    OPT_PORT,
    OPT_HOST,
    OPT_ECHO,
    OPT_CLOSE_AFTER_ECHO,
    OPT_MESSAGE,
    OPT_PRINT,
    OPT_ONCE,
    OPT_READY_FILE,
    OPT_TIMEOUT,
    OPT_QUIET,
    OPT_NACCEPT,
    OPT_TICKETS,
    OPT_TICKET_KEY_FILE,
    OPT_EARLY_DATA,
    OPT_EARLY_DATA_WINDOW,
    OPT_KEY_UPDATE,
    OPT_KEY_UPDATE_REQUEST,
    OPT_KTLS,
    OPT_KTLS_POLICY,
    OPT_SENDFILE,
    OPT_URING,
    OPT_OCSP_STAPLE,
    OPT_KTLS_SWITCH,
    OPT_METRICS,
    OPT_REDIS,
    OPT_REPLAY_STORE,
    OPT_REDIS_TIMEOUT,
    OPT_TICKET_KEYS,
    OPT_TICKET_KEYS_REFRESH,
    OPT_ROTATE_TICKET_KEYS,
    OPT_ROTATE_PERIOD,
    OPT_HELP,
};

static const struct option long_opts[] = {
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"cafile", required_argument, NULL, OPT_CAFILE},
    {"verify", required_argument, NULL, OPT_VERIFY},
    {"suites", required_argument, NULL, OPT_SUITES},
    {"groups", required_argument, NULL, OPT_GROUPS},
    {"alpn", required_argument, NULL, OPT_ALPN},
    {"record-size-limit", required_argument, NULL, OPT_RSL},
    {"max-handshake-message", required_argument, NULL, OPT_MAX_HS},
    {"no-compat", no_argument, NULL, OPT_NO_COMPAT},
    {"hrr-cookie", no_argument, NULL, OPT_HRR_COOKIE},
    {"port", required_argument, NULL, OPT_PORT},
    {"host", required_argument, NULL, OPT_HOST},
    {"echo", no_argument, NULL, OPT_ECHO},
    {"close-after-echo", no_argument, NULL, OPT_CLOSE_AFTER_ECHO},
    {"message", required_argument, NULL, OPT_MESSAGE},
    {"print", no_argument, NULL, OPT_PRINT},
    {"once", no_argument, NULL, OPT_ONCE},
    {"ready-file", required_argument, NULL, OPT_READY_FILE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"naccept", required_argument, NULL, OPT_NACCEPT},
    {"tickets", required_argument, NULL, OPT_TICKETS},
    {"ticket-key-file", required_argument, NULL, OPT_TICKET_KEY_FILE},
    {"early-data", required_argument, NULL, OPT_EARLY_DATA},
    {"early-data-window", required_argument, NULL, OPT_EARLY_DATA_WINDOW},
    {"key-update", required_argument, NULL, OPT_KEY_UPDATE},
    {"key-update-request", no_argument, NULL, OPT_KEY_UPDATE_REQUEST},
    {"ktls", required_argument, NULL, OPT_KTLS},
    {"ktls-policy", required_argument, NULL, OPT_KTLS_POLICY},
    {"sendfile", required_argument, NULL, OPT_SENDFILE},
    {"uring", no_argument, NULL, OPT_URING},
    {"ocsp-staple", required_argument, NULL, OPT_OCSP_STAPLE},
    {"ktls-switch", required_argument, NULL, OPT_KTLS_SWITCH},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"replay-store", required_argument, NULL, OPT_REPLAY_STORE},
    {"redis-timeout", required_argument, NULL, OPT_REDIS_TIMEOUT},
    {"ticket-keys", required_argument, NULL, OPT_TICKET_KEYS},
    {"ticket-keys-refresh", required_argument, NULL, OPT_TICKET_KEYS_REFRESH},
    {"rotate-ticket-keys", no_argument, NULL, OPT_ROTATE_TICKET_KEYS},
    {"rotate-period", required_argument, NULL, OPT_ROTATE_PERIOD},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int parse_verify(const char *arg)
{
    if (strcmp(arg, "none") == 0)
        return KITLS_VERIFY_NONE;
    if (strcmp(arg, "request") == 0)
        return KITLS_VERIFY_REQUEST;
    if (strcmp(arg, "require") == 0)
        return KITLS_VERIFY_REQUIRE;
    fprintf(stderr, "%s: --verify: expected none, request or require, got '%s'\n", prog, arg);
    exit(2);
}

/* --replay-store memory|redis, --ticket-keys file|redis: 1 for redis. */
static int parse_redis_choice(const char *opt, const char *other, const char *arg)
{
    if (strcmp(arg, "redis") == 0)
        return 1;
    if (strcmp(arg, other) == 0)
        return 0;
    fprintf(stderr, "%s: --%s: expected %s or redis, got '%s'\n", prog, opt, other, arg);
    exit(2);
}

static void parse_args(int argc, char **argv, struct ex_opts *o)
{
    int ch;

    while ((ch = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (ch) {
        case OPT_CERT: o->cert = optarg; break;
        case OPT_KEY: o->key = optarg; break;
        case OPT_CAFILE: o->cafile = optarg; break;
        case OPT_VERIFY: o->verify = parse_verify(optarg); break;
        case OPT_SUITES: o->suites = optarg; break;
        case OPT_GROUPS: o->groups = optarg; break;
        case OPT_ALPN: o->alpn = optarg; break;
        case OPT_MAX_HS:
            o->max_hs_message = ex_parse_int(prog, "max-handshake-message", optarg, 1024, 16777215);
            break;
        case OPT_RSL:
            o->record_size_limit = ex_parse_int(prog, "record-size-limit", optarg, 64, 16385);
            break;
        case OPT_NO_COMPAT: o->no_compat = 1; break;
        case OPT_HRR_COOKIE: o->hrr_cookie = 1; break;
        case OPT_PORT:
            (void)ex_parse_int(prog, "port", optarg, 0, 65535);
            o->port = optarg;
            break;
        case OPT_HOST: o->host = optarg; break;
        case OPT_ECHO: o->echo = 1; break;
        case OPT_CLOSE_AFTER_ECHO: close_after_echo = 1; break;
        case OPT_MESSAGE: o->message = optarg; break;
        case OPT_PRINT: o->print = 1; break;
        case OPT_ONCE: o->once = 1; break;
        case OPT_READY_FILE: o->ready_file = optarg; break;
        case OPT_TIMEOUT: o->timeout = ex_parse_int(prog, "timeout", optarg, 0, 86400); break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_NACCEPT: o->naccept = ex_parse_int(prog, "naccept", optarg, 1, 1000000); break;
        case OPT_TICKETS: o->tickets = ex_parse_int(prog, "tickets", optarg, 0, 16); break;
        case OPT_TICKET_KEY_FILE: o->ticket_key_file = optarg; break;
        case OPT_EARLY_DATA:
            o->early_data_max = ex_parse_int(prog, "early-data", optarg, 0, INT32_MAX);
            break;
        case OPT_EARLY_DATA_WINDOW:
            o->early_window_ms = ex_parse_int(prog, "early-data-window", optarg, 1, 600000);
            break;
        case OPT_KEY_UPDATE:
            o->key_update = ex_parse_int(prog, "key-update", optarg, 0, 1000);
            break;
        case OPT_KEY_UPDATE_REQUEST: o->key_update_request = 1; break;
        case OPT_KTLS: o->ktls = ex_parse_ktls_mode(prog, optarg); break;
        case OPT_KTLS_POLICY: o->ktls_policy = ex_parse_ktls_policy(prog, optarg); break;
        case OPT_SENDFILE: o->sendfile = optarg; break;
        case OPT_URING: use_uring = 1; break;
        case OPT_OCSP_STAPLE: ocsp_staple = optarg; break;
        case OPT_KTLS_SWITCH: ktls_switch = optarg; break;
        case OPT_METRICS: metrics_addr = optarg; break;
        case OPT_REDIS: redis_opts.url = optarg; break;
        case OPT_REPLAY_STORE:
            redis_opts.replay_redis = parse_redis_choice("replay-store", "memory", optarg);
            break;
        case OPT_REDIS_TIMEOUT:
            redis_opts.timeout_ms = ex_parse_int(prog, "redis-timeout", optarg, 1, 60000);
            break;
        case OPT_TICKET_KEYS:
            redis_opts.keys_redis = parse_redis_choice("ticket-keys", "file", optarg);
            break;
        case OPT_TICKET_KEYS_REFRESH:
            redis_opts.refresh_s = ex_parse_int(prog, "ticket-keys-refresh", optarg, 1, 86400);
            break;
        case OPT_ROTATE_TICKET_KEYS: redis_opts.rotate = 1; break;
        case OPT_ROTATE_PERIOD:
            redis_opts.rotate_period = ex_parse_int(prog, "rotate-period", optarg, 1, 2592000);
            break;
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
    if (ex_redis_check_opts(prog, &redis_opts, o) != 0)
        exit(2);
    if (redis_opts.rotate)
        return; /* --rotate-ticket-keys needs nothing else */
    if (o->cert == NULL) {
        fprintf(stderr, "%s: --cert is required\n", prog);
        usage(stderr);
        exit(2);
    }
    if (o->port == NULL)
        o->port = "4433";
    if (o->once && o->naccept == 0)
        o->naccept = 1; /* --naccept wins over --once */
    if (o->key_update_request && o->key_update == 0)
        o->key_update = 1;
#ifndef EX_HAVE_URING
    if (use_uring) {
        fprintf(stderr, "%s: --uring: built without liburing\n", prog);
        exit(2);
    }
#endif
}

/* Write the port to path atomically (temp file + rename), so a script
 * polling for the file never sees it half written. */
static int write_ready_file(const char *path, int port)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    FILE *f;
    int ok;

    if (tmp == NULL)
        return -1;
    snprintf(tmp, n, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    ok = fprintf(f, "%d\n", port) > 0;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        fprintf(stderr, "%s: rename %s: %s\n", prog, path, strerror(errno));
        ok = 0;
    }
    if (!ok)
        (void)unlink(tmp);
    free(tmp);
    return ok ? 0 : -1;
}

/*
 * ex_handshake() plus 0-RTT: when kitls_conn_handshake() says early data
 * is waiting, read it into *early (grown as needed; the server enforces its
 * --early-data limit) and carry on.
 */
static int handshake_early(int fd, kitls_conn *c, uint8_t **early, size_t *elen)
{
    size_t cap = 0;
    uint8_t *nb;
    int rc, frc, n, got;

    for (;;) {
        rc = kitls_conn_handshake(c);
        frc = ex_flush(fd, c);
        if (rc == 0)
            return frc;
        if (frc != 0)
            return frc;
        if (rc == KITLS_E_EARLY_DATA) {
            for (got = 0;; got = 1) {
                if (cap - *elen < 4096) {
                    nb = realloc(*early, cap + 16384);
                    if (nb == NULL)
                        return KITLS_E_NOMEM;
                    *early = nb;
                    cap += 16384;
                }
                n = kitls_conn_read_early_data(c, *early + *elen, cap - *elen);
                if (n == KITLS_E_WANT_READ)
                    break;
                if (n < 0)
                    return n;
                *elen += (size_t)n;
            }
            if (!got) {
                /* The handshake said data is waiting, but none could be
                 * read: looping would never end. */
                fprintf(stderr, "%s: KITLS_E_EARLY_DATA but no early data readable\n", prog);
                return KITLS_E_INTERNAL;
            }
            continue;
        }
        if (rc != KITLS_E_WANT_READ)
            return rc;
        rc = ex_recv_feed(fd, c);
        if (rc != 0)
            return rc;
    }
}

/*
 * --close-after-echo: send close_notify first (the server closes), then
 * read until the client's close_notify; data after ours is discarded.  A
 * client that just closes the connection is reported, not an error.
 */
static int close_first(int fd, kitls_conn *c, const struct ex_opts *o)
{
    uint8_t buf[4096];
    int rc = ex_close(fd, c, 0);

    while (rc >= 0)
        rc = ex_read(fd, c, buf, sizeof(buf));
    if (o->print) {
        printf("peer-close-notify: %s\n", rc == KITLS_E_CLOSED ? "yes" : "no");
        fflush(stdout);
    }
    return rc == KITLS_E_CLOSED || rc == KITLS_E_EOF ? 0 : rc;
}

/* Echo or print one chunk of received data. */
static int answer(int fd, kitls_conn *c, const struct ex_opts *o, const uint8_t *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (o->echo)
        return ex_write(fd, c, buf, len);
    if (fwrite(buf, 1, len, stdout) != len)
        return KITLS_E_INTERNAL;
    fflush(stdout);
    return 0;
}

/* --ktls: offload, report, and send one more ticket through the kernel. */
static int offload(int fd, kitls_conn *c, const struct ex_opts *o)
{
    int rc = ex_ktls_enable();

    if (rc != 0)
        return rc;
    if (o->tickets != 0 && kitls_conn_is_established(c)) {
        rc = kitls_conn_send_ticket(c);
        if (rc == 0)
            rc = ex_flush(fd, c);
    }
    return rc;
}

/* --sendfile: send the file, say how it went. */
static int send_file(int fd, kitls_conn *c, const struct ex_opts *o)
{
    uint64_t sent;
    double secs;
    kitls_offload *off = NULL;
    int rc = ex_sendfile(fd, c, o->sendfile, &sent, &secs);
    int kernel = ex_ktls_active() && kitls_offload_get(c, &off) == 0 &&
                 kitls_offload_is_offloaded(off, KITLS_DIR_TX);

    if (rc == 0 && !o->quiet)
        fprintf(stderr, "%s: sendfile: %llu bytes in %.3f s (%s)\n", prog, (unsigned long long)sent,
                secs, kernel ? "kernel TLS" : "userspace TLS");
    if (rc == 0 && o->print) {
        printf("sendfile: %llu bytes\n", (unsigned long long)sent);
        fflush(stdout);
    }
    return rc;
}

/* One connection: handshake, optional message, echo or print, close. */
static int serve_one(int fd, kitls_config *cfg, const struct ex_opts *o)
{
    uint8_t buf[16384], *early = NULL;
    size_t elen = 0;
    kitls_conn *c;
    int rc, key_update = o->key_update;

    c = kitls_conn_new(cfg);
    if (c == NULL) {
        fprintf(stderr, "%s: kitls_conn_new failed\n", prog);
        return KITLS_E_NOMEM;
    }
    ex_set_timeout(fd, o->timeout);
    if (o->ktls != 0 && (rc = ex_ktls_attach(fd, c, o)) != 0)
        goto out;

    if (o->early_data_max > 0)
        rc = handshake_early(fd, c, &early, &elen);
    else
        rc = o->ktls != 0 ? ex_ktls_handshake() : ex_handshake(fd, c);
    if (rc != 0)
        goto out;
    if (!o->quiet)
        fprintf(stderr, "%s: handshake complete\n", prog);
    if (o->ktls != 0 && (rc = offload(fd, c, o)) != 0)
        goto out;
    if (o->print) {
        ex_print_params(stdout, c);
        if (o->early_data_max > 0)
            printf("early-data-bytes: %zu\n", elen);
        if (o->ktls != 0)
            ex_ktls_print(stdout);
        fflush(stdout);
    }
    if (o->message != NULL)
        rc = ex_write(fd, c, (const uint8_t *)o->message, strlen(o->message));
    if (rc == 0 && o->sendfile != NULL)
        rc = send_file(fd, c, o);
    /* Early data is answered like the first chunk of 1-RTT data. */
    if (rc == 0 && elen > 0) {
        rc = answer(fd, c, o, early, elen);
        if (rc == 0 && key_update > 0) {
            rc = ex_key_update(fd, c, key_update, o->key_update_request);
            key_update = 0;
        }
    }

    while (rc == 0) {
        rc = ex_read(fd, c, buf, sizeof(buf));
        if (rc <= 0)
            break;
        rc = answer(fd, c, o, buf, (size_t)rc);
        /* Data before (just answered) and after the KeyUpdates. */
        if (rc == 0 && key_update > 0) {
            rc = ex_key_update(fd, c, key_update, o->key_update_request);
            key_update = 0;
        }
        if (rc == 0 && close_after_echo) {
            rc = close_first(fd, c, o);
            break;
        }
    }
    if (rc == KITLS_E_CLOSED)
        rc = ex_close(fd, c, 1);

out:
    if (rc != 0)
        ex_report_error(prog, c, rc);
    else if (!o->quiet)
        fprintf(stderr, "%s: connection closed\n", prog);
    if (o->print && ex_ktls_active()) {
        ex_ktls_print_rekeys(stdout);
    }
    ex_ktls_detach();
    kitls_conn_free(c);
    free(early);
    return rc;
}

/* The Redis watcher follows rl->cfg: stop it before the config goes. */
static void finish(struct ex_reload *rl)
{
    ex_redis_stop();
    ex_reload_free(rl);
}

int main(int argc, char **argv)
{
    struct ex_opts o;
    struct ex_reload rl;
    int lfd, cfd, port = 0, rc = 0, served = 0, failed = 0;

    signal(SIGPIPE, SIG_IGN);
    ex_opts_init(&o, prog);
    parse_args(argc, argv, &o);
    if (redis_opts.rotate)
        return ex_redis_rotate(prog, &redis_opts);

    /* The store keeps ids for the freshness window, the core's 1 s clock
     * resolution and 1 s of clock skew between servers (docs/fleet.md). */
    redis_opts.window_ms = (o.early_window_ms > 0 ? o.early_window_ms : 10000) + 2000;
    if (ex_redis_start(prog, &redis_opts) != 0)
        return 1;
    if (ex_reload_init(&rl, prog, &o, ocsp_staple, ktls_switch) != 0) {
        ex_redis_stop();
        return 1;
    }
    lfd = ex_tcp_listen(prog, o.host, o.port, &port);
    if (lfd < 0) {
        finish(&rl);
        return 1;
    }
    if (!o.quiet)
        fprintf(stderr, "%s: listening on port %d\n", prog, port);
    if (metrics_addr != NULL && ex_metrics_start(prog, metrics_addr, o.cert, o.quiet) != 0) {
        close(lfd);
        finish(&rl);
        return 1;
    }
    if (metrics_addr != NULL) {
        ex_metrics_set_reload_stats(&rl.st);
        ex_metrics_set_extra(ex_redis_metrics);
    }
    if (o.ready_file != NULL && write_ready_file(o.ready_file, port) != 0) {
        close(lfd);
        finish(&rl);
        return 1;
    }

#ifdef EX_HAVE_URING
    if (use_uring) {
        rc = ex_uring_serve(prog, lfd, &rl, &o, close_after_echo);
        close(lfd);
        finish(&rl);
        return rc;
    }
#endif
    for (;;) {
        cfd = ex_reload_accept(&rl, lfd); /* SIGHUP: reload first */
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "%s: accept: %s\n", prog, strerror(errno));
            rc = EX_E_IO;
            break;
        }
        ex_metrics_conn_add(1);
        rc = serve_one(cfd, rl.cfg, &o);
        ex_metrics_conn_add(-1);
        ex_close_socket(cfd); /* the alert or close_notify must not be lost to a reset */
        failed |= rc != 0;
        if (o.naccept > 0 && ++served == o.naccept) {
            rc = failed ? 1 : 0;
            break;
        }
    }
    close(lfd);
    finish(&rl);
    return rc == 0 ? 0 : 1;
}
