/*
 * uring-httpd as a tool: its command line (long options like
 * kitls-server's, each value checked and a bad one named), the listening
 * socket (IPv4 or IPv6) and the access log in the Common Log Format.
 */
#define _GNU_SOURCE
#include "httpd-tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <kitls/ktls.h>
#include <kitls/kitls.h>
#include <kitls/uring.h>

#include "httpd-files.h"

static const char *prog = "uring-httpd";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s --cert FILE --key FILE --root DIR [options]\n"
            "A static HTTPS file server (HTTP/1.1) on kitls and io_uring.\n"
            "  -c, --cert FILE          certificate chain (PEM)\n"
            "  -k, --key FILE           private key (PEM); neither file is ever served\n"
            "  -r, --root DIR           document root (required: no default, since the\n"
            "                           current directory may hold the key); paths outside\n"
            "                           it and symlinks leading out are never served\n"
            "  -a, --host ADDR          address to listen on: IPv4, IPv6 (\"::1\"; \"::\" takes\n"
            "                           IPv4 too) or a name (default 127.0.0.1)\n"
            "  -p, --port N             port, 0 to 65535 (default 4433; 0: any free port)\n"
            "      --ready-file FILE    write \"port pid\" to FILE once listening\n"
            "      --access-log FILE    log each request in the Common Log Format to FILE\n"
            "                           (\"-\": standard output; default: no log)\n"
            "      --mime-types FILE    content types by extension (default /etc/mime.types\n"
            "                           when present, over a built-in table)\n"
            "      --ktls               kernel TLS after the handshake (fallbacks are logged)\n"
            "      --ktls-close         with --ktls on kernels that cannot rekey (< 6.14):\n"
            "                           offload anyway, end a connection at a KeyUpdate\n"
            "      --workers N          threads, each with its own io_uring and listening\n"
            "                           socket (SO_REUSEPORT: the kernel spreads new\n"
            "                           connections), 1 to 4 x CPUs (default 1)\n"
            "      --max-conns N        connections at once, per worker (default 1024)\n"
            "      --max-handshakes N   handshakes in progress, per worker (default 256)\n"
            "      --handshake-timeout MS  accept to established (default 60000)\n"
            "      --header-timeout MS  a request head or body in progress, and the first\n"
            "                           request after the handshake (default 60000): 408\n"
            "      --idle-timeout MS    keep-alive connection with no request (default 75000)\n"
            "      --max-body N         request body read and discarded up to N bytes\n"
            "                           (default 1048576); larger: 413 and close\n"
            "      --no-tickets         no NewSessionTicket (no resumption)\n"
            "      --no-multishot       single-shot accept (older kernels fall back anyway)\n"
            "      --no-buf-ring        a receive buffer per connection, also while idle\n"
            "  -q, --quiet              less chatter on stderr\n"
            "  -h, --help               this help\n"
            "Signals: SIGINT/SIGTERM stop (counters printed); SIGUSR1 prints the counters\n"
            "(requests by status, bytes, connections, kTLS offloads; summed, and per worker\n"
            "with --workers) to stderr; SIGHUP reloads --cert and --key for new connections\n"
            "on every worker (a bad pair is refused).\n",
            prog);
}

enum {
    O_READY = 256,
    O_ACCESS_LOG,
    O_MIME,
    O_KTLS,
    O_KTLS_CLOSE,
    O_MAX_CONNS,
    O_MAX_HS,
    O_HS_TIMEOUT,
    O_HDR_TIMEOUT,
    O_IDLE_TIMEOUT,
    O_MAX_BODY,
    O_NO_TICKETS,
    O_NO_MULTISHOT,
    O_NO_BUF_RING,
    O_WORKERS,
};

static const struct option long_opts[] = {
    {"cert", required_argument, NULL, 'c'},
    {"key", required_argument, NULL, 'k'},
    {"root", required_argument, NULL, 'r'},
    {"host", required_argument, NULL, 'a'},
    {"addr", required_argument, NULL, 'a'},
    {"port", required_argument, NULL, 'p'},
    {"ready-file", required_argument, NULL, O_READY},
    {"access-log", required_argument, NULL, O_ACCESS_LOG},
    {"mime-types", required_argument, NULL, O_MIME},
    {"ktls", no_argument, NULL, O_KTLS},
    {"ktls-close", no_argument, NULL, O_KTLS_CLOSE},
    {"max-conns", required_argument, NULL, O_MAX_CONNS},
    {"max-handshakes", required_argument, NULL, O_MAX_HS},
    {"handshake-timeout", required_argument, NULL, O_HS_TIMEOUT},
    {"header-timeout", required_argument, NULL, O_HDR_TIMEOUT},
    {"idle-timeout", required_argument, NULL, O_IDLE_TIMEOUT},
    {"max-body", required_argument, NULL, O_MAX_BODY},
    {"no-tickets", no_argument, NULL, O_NO_TICKETS},
    {"no-multishot", no_argument, NULL, O_NO_MULTISHOT},
    {"no-buf-ring", no_argument, NULL, O_NO_BUF_RING},
    {"workers", required_argument, NULL, O_WORKERS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The option as the user may have typed it: "-p/--port". */
static const char *opt_name(int ch)
{
    static char buf[64];
    for (const struct option *o = long_opts; o->name; o++)
        if (o->val == ch) {
            if (ch < 256)
                snprintf(buf, sizeof(buf), "-%c/--%s", ch, o->name);
            else
                snprintf(buf, sizeof(buf), "--%s", o->name);
            return buf;
        }
    return "?";
}

/* A decimal number from min to max, or -1 after naming the option. */
static long long number(int ch, const char *arg, long long min, long long max)
{
    char *end;
    errno = 0;
    long long n = strtoll(arg, &end, 10);
    if (*arg < '0' || *arg > '9' || *end || errno || n < min || n > max) {
        fprintf(stderr, "%s: %s: '%s' is not a number from %lld to %lld\n", prog, opt_name(ch), arg,
                min, max);
        return -1;
    }
    return n;
}

int httpd_opts_parse(int argc, char **argv, struct httpd_opts *o, int *exit_status)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = "4433";
    o->handshake_ms = 60000;
    o->header_ms = 60000;
    o->idle_ms = 75000;
    o->max_body = 1u << 20;
    o->workers = 1;
    /* More threads than 4 per CPU only add contention (each has a ring,
     * buffers and a share of the connections). */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), max_workers = 4 * (cpus > 0 ? cpus : 1);
    int ch;
    long long n = 0;
    opterr = 1;
    while ((ch = getopt_long(argc, argv, "c:k:r:a:p:qh", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->cert = optarg; break;
        case 'k': o->key = optarg; break;
        case 'r': o->root = optarg; break;
        case 'a': o->host = optarg; break;
        case 'p': n = number(ch, optarg, 0, 65535), o->port = optarg; break;
        case O_READY: o->ready_file = optarg; break;
        case O_ACCESS_LOG: o->access_log = optarg; break;
        case O_MIME: o->mime_types = optarg; break;
        case O_KTLS: o->ktls = 1; break;
        case O_KTLS_CLOSE: o->ktls_close = 1; break;
        case O_MAX_CONNS: o->max_conns = (unsigned)(n = number(ch, optarg, 1, 1 << 20)); break;
        case O_MAX_HS: o->max_handshakes = (unsigned)(n = number(ch, optarg, 1, 1 << 20)); break;
        case O_HS_TIMEOUT: o->handshake_ms = (unsigned)(n = number(ch, optarg, 1, 86400000)); break;
        case O_HDR_TIMEOUT: o->header_ms = (unsigned)(n = number(ch, optarg, 1, 86400000)); break;
        case O_IDLE_TIMEOUT: o->idle_ms = (unsigned)(n = number(ch, optarg, 1, 86400000)); break;
        case O_MAX_BODY:
            o->max_body = (unsigned long long)(n = number(ch, optarg, 0, 1ll << 40));
            break;
        case O_NO_TICKETS: o->no_tickets = 1; break;
        case O_NO_MULTISHOT: o->no_multishot = 1; break;
        case O_NO_BUF_RING: o->no_buf_ring = 1; break;
        case O_WORKERS: o->workers = (unsigned)(n = number(ch, optarg, 1, max_workers)); break;
        case 'q': o->quiet = 1; break;
        case 'h':
            usage(stdout);
            *exit_status = 0;
            return -1;
        default: /* getopt_long named the option */
            fprintf(stderr, "%s: --help lists the options\n", prog);
            *exit_status = 2;
            return -1;
        }
        if (n < 0) {
            *exit_status = 2;
            return -1;
        }
    }
    const char *missing = optind < argc ? NULL
                          : !o->cert    ? "-c/--cert FILE"
                          : !o->key     ? "-k/--key FILE"
                          : !o->root    ? "-r/--root DIR"
                                        : NULL;
    if (optind < argc)
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
    else if (missing)
        fprintf(stderr, "%s: %s is required%s\n", prog, missing,
                o->root || !o->cert || !o->key ? ""
                                               : ": there is no default document root (the "
                                                 "current directory may hold the key)");
    if (optind < argc || missing) {
        fprintf(stderr, "%s: --help lists the options\n", prog);
        *exit_status = 2;
        return -1;
    }
    return 0;
}

/* ---- listening ---- */

int httpd_listen(const char *host, const char *port, int reuseport, int *bound, char *desc,
                 size_t desclen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res, *ai;
    int rc = getaddrinfo(host, port, &hints, &res), fd = -1, err = 0;
    if (rc) {
        fprintf(stderr, "%s: -a/--host %s: %s\n", prog, host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        int one = 1, v6only = strcmp(host, "::") != 0;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && !setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) &&
            (!reuseport || !setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) &&
            (ai->ai_family != AF_INET6 ||
             !setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only))) &&
            !bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 4096))
            break;
        err = errno;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "%s: listen on %s port %s: %s\n", prog, host, port,
                strerror(err ? err : EADDRNOTAVAIL));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char a[INET6_ADDRSTRLEN] = "?";
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        *bound = ntohs(s6->sin6_port);
        snprintf(desc, desclen, "[%s]:%d", a, *bound);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        *bound = ntohs(s4->sin_port);
        snprintf(desc, desclen, "%s:%d", a, *bound);
    }
    return fd;
}

int httpd_listen_again(int fd0)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int one = 1, v6only = 0, fd = -1;
    socklen_t ol = sizeof(v6only);
    if (getsockname(fd0, (struct sockaddr *)&ss, &sl) == 0 &&
        (ss.ss_family != AF_INET6 ||
         getsockopt(fd0, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol) == 0) &&
        (fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
        !setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) &&
        !setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) &&
        (ss.ss_family != AF_INET6 ||
         !setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only))) &&
        !bind(fd, (struct sockaddr *)&ss, sl) && !listen(fd, 4096))
        return fd;
    fprintf(stderr, "%s: --workers: another listening socket (SO_REUSEPORT): %s\n", prog,
            strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* ---- the access log ---- */

static FILE *log_f;
static int log_dirty;
/* Workers log from their threads: a line, the date cache and the flush
 * under one lock (stdio's own lock is per call, not per line). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

int httpd_log_open(const char *path)
{
    log_f = !strcmp(path, "-") ? stdout : fopen(path, "ae");
    if (log_f)
        setvbuf(log_f, NULL, _IOFBF, 1 << 16); /* flushed once per loop turn */
    return log_f ? 0 : -1;
}

int httpd_log_on(void)
{
    return log_f != NULL;
}

/* The request as a quoted-string's content: '"', '\\', controls and
 * non-ASCII bytes as \xHH (no forged line or field). */
static void log_escaped(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            fprintf(log_f, "\\x%02X", ch);
        else
            putc(ch, log_f);
    }
}

void httpd_log(const char *peer, const char *request, int status, long long bytes)
{
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static time_t last;
    static char date[40];
    if (!log_f)
        return;
    pthread_mutex_lock(&log_mu);
    time_t now = time(NULL);
    if (now != last) { /* [10/Oct/2000:13:55:36 -0700], local time */
        struct tm tm;
        localtime_r(&now, &tm);
        int off = (int)(tm.tm_gmtoff / 60) % (24 * 60);
        snprintf(date, sizeof(date), "%02d/%s/%04d:%02d:%02d:%02d %c%02d%02d", tm.tm_mday % 100,
                 mon[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour % 100,
                 tm.tm_min % 100, tm.tm_sec % 100, off < 0 ? '-' : '+', abs(off) / 60,
                 abs(off) % 60);
        last = now;
    }
    fprintf(log_f, "%s - - [%s] \"", peer && *peer ? peer : "-", date);
    if (request)
        log_escaped(request);
    else
        putc('-', log_f);
    if (bytes > 0)
        fprintf(log_f, "\" %d %lld\n", status, bytes);
    else
        fprintf(log_f, "\" %d -\n", status);
    __atomic_store_n(&log_dirty, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&log_mu);
}

void httpd_log_flush(void)
{
    if (!log_f || !__atomic_load_n(&log_dirty, __ATOMIC_RELAXED))
        return;
    pthread_mutex_lock(&log_mu);
    if (__atomic_load_n(&log_dirty, __ATOMIC_RELAXED)) {
        fflush(log_f);
        __atomic_store_n(&log_dirty, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&log_mu);
}

void httpd_log_close(void)
{
    if (!log_f)
        return;
    fflush(log_f);
    if (log_f != stdout)
        fclose(log_f);
    log_f = NULL;
}

/* ---- start-up ---- */

int httpd_load_files(const struct httpd_opts *o, struct httpd_root *root)
{
    root->fd = open(o->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root->fd < 0 || !realpath(o->root, root->real)) {
        fprintf(stderr, "uring-httpd: -r/--root %s: %s\n", o->root, strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        const char *f = i ? o->key : o->cert;
        if (stat(f, &root->secret[i]) < 0 || access(f, R_OK) < 0) {
            fprintf(stderr, "uring-httpd: %s %s: %s\n", i ? "-k/--key" : "-c/--cert", f,
                    strerror(errno));
            return -1;
        }
    }
    const char *mt = o->mime_types ? o->mime_types : "/etc/mime.types";
    if (httpd_mime_load(mt, o->mime_types != NULL) < 0) {
        fprintf(stderr, "uring-httpd: --mime-types %s: %s\n", mt, strerror(errno));
        return -1;
    }
    if (o->access_log && httpd_log_open(o->access_log) < 0) {
        fprintf(stderr, "uring-httpd: --access-log %s: %s\n", o->access_log, strerror(errno));
        return -1;
    }
    return 0;
}

kitls_config *httpd_config_new(const struct httpd_opts *o)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    /* RFC 7301 §3.2: with no ALPN offered the server goes on without it;
     * curl --http1.0 offers only http/1.0. */
    static const char *const alpn[] = {"http/1.1", "http/1.0"};
    int r = cfg ? kitls_config_add_cert_files(cfg, o->cert, o->key) : KITLS_E_NOMEM;
    if (r < 0) {
        fprintf(stderr, "uring-httpd: cannot load the certificate %s with the key %s: %s\n",
                o->cert, o->key, kitls_strerror(r));
    } else if ((r = kitls_config_set_alpn(cfg, alpn, 2)) == 0 && o->no_tickets) {
        r = kitls_config_set_tickets(cfg, 0, 7200);
    }
    if (r < 0) {
        if (cfg && r != KITLS_E_NOMEM)
            fprintf(stderr, "uring-httpd: config: %s\n", kitls_strerror(r));
        kitls_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void httpd_ktls_log_start(unsigned flags)
{
    int r = kitls_ktls_probe_rekey(NULL);
    if (r < 0)
        fprintf(stderr,
                "uring-httpd: --ktls: no kernel TLS here (%s): connections stay in "
                "userspace\n",
                kitls_strerror(r));
    else if (r == 0 && !(flags & KITLS_URING_F_KTLS_REKEY_CLOSE))
        fprintf(stderr, "uring-httpd: --ktls: this kernel cannot rekey TLS 1.3 (Linux < 6.14): "
                        "connections stay in userspace (--ktls-close offloads them anyway)\n");
    else if (r == 0)
        fprintf(stderr, "uring-httpd: --ktls: this kernel cannot rekey TLS 1.3: offloaded "
                        "connections end at a KeyUpdate (--ktls-close)\n");
}

/* The client's address for the access log (IPv4-mapped shown as IPv4). */
void httpd_peer_name(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    out[0] = '\0';
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family == AF_INET6) {
        struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)outlen);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
    } else if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)outlen);
    }
}

long httpd_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}
