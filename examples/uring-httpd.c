/*
 * uring-httpd: a static HTTP/1.1 file server over TLS on io_uring (kitls
 * owns the ring: kitls_uring_run()).  Enough HTTP for curl and wrk: GET
 * and HEAD, keep-alive (HTTP/1.1 default, "Connection: close" honoured,
 * HTTP/1.0 closes unless keep-alive is asked), Content-Length, pipelined
 * requests answered in order.  ALPN http/1.1 or http/1.0, or none.
 *
 *   uring-httpd -c cert.pem -k key.pem -r docroot [-p port] [-a addr]
 *               [--ktls [--ktls-close]] [--max-conns N] [--max-handshakes N]
 *               [--handshake-timeout MS] [--header-timeout MS]
 *               [--idle-timeout MS] [--max-body N]
 *               [--ready-file F] [--no-multishot] [--no-tickets] [--no-buf-ring] [-q]
 *
 * What it serves: regular files beneath the document root (-r, required:
 * there is no implicit root, since the current directory is often where
 * the key lives).  Paths are percent-decoded, then opened relative to the
 * root with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither
 * ".." nor a symlink can leave it; the certificate and key files given
 * with -c/-k are refused by inode even inside the root.  Everything else
 * is 404.
 *
 * Request bodies (RFC 9112 §6.3): a Content-Length body up to --max-body
 * is read and discarded (no method here takes a body); a larger one, a
 * Transfer-Encoding, or both headers end the connection after the answer
 * ("Connection: close"), so a body is never parsed as the next request.
 *
 * Timeouts (defaults like nginx's): the handshake (driver's
 * handshake_timeout_ms, 60 s), a request head or body in progress or the
 * first request after the handshake (60 s, nginx client_header_timeout),
 * and an idle keep-alive connection (75 s, keepalive_timeout).  The
 * application timers are two FIFO lists checked after every
 * kitls_uring_run() call, which waits at most 250 ms.
 *
 * Small files (<= 16 KiB) go out with their header in one write; larger
 * ones with kitls_uring_sendfile() (splice on kTLS, io_uring read +
 * userspace encryption otherwise).  SIGINT/SIGTERM stop the server; it
 * prints its counters and its resident memory to stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kitls/ktls.h>
#include <kitls/kitls.h>
#include <kitls/uring.h>

#include "httpd-files.h"

#define MAX_REQ 8192
#define MAX_FILES 16
#define SMALL_FILE 16384

enum { T_NONE, T_HEADER, T_IDLE, T_LISTS };

struct client {
    kitls_uring_conn *c;
    char *req; /* received bytes not yet consumed (NULL when none) */
    size_t req_len;
    unsigned long long body_left; /* request body bytes still to discard */
    int fds[MAX_FILES];           /* files being sent (closed on EV_SENT) */
    int nfds;
    int closing;
    int paused;
    /* application timer: which list, when it fires, the list links */
    int tlist;
    unsigned long long deadline;
    struct client *tprev, *tnext;
};

struct tlist {
    struct client *head, *tail;
    unsigned ms;
};

static const char *docroot;
static struct httpd_root root = {.fd = -1};
static unsigned long long max_body = 1u << 20;
static struct tlist timers[T_LISTS];
static int quiet;
static volatile sig_atomic_t stop;
static unsigned long long n_requests, n_404, n_timeouts;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static unsigned long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}

/* ---- application timers: one FIFO per timeout value ---- */

static void timer_del(struct client *cl)
{
    if (cl->tlist == T_NONE)
        return;
    struct tlist *l = &timers[cl->tlist];
    if (cl->tprev)
        cl->tprev->tnext = cl->tnext;
    else
        l->head = cl->tnext;
    if (cl->tnext)
        cl->tnext->tprev = cl->tprev;
    else
        l->tail = cl->tprev;
    cl->tprev = cl->tnext = NULL;
    cl->tlist = T_NONE;
}

/* Arm list `which` unless the client is already on it (restarting would
 * let a client that trickles a byte at a time keep its slot forever). */
static void timer_set(struct client *cl, int which)
{
    if (cl->tlist == which)
        return;
    timer_del(cl);
    if (which == T_NONE)
        return;
    struct tlist *l = &timers[which];
    cl->tlist = which;
    cl->deadline = now_ms() + l->ms;
    cl->tprev = l->tail;
    if (l->tail)
        l->tail->tnext = cl;
    else
        l->head = cl;
    l->tail = cl;
}

static void files_close(struct client *cl)
{
    for (int i = 0; i < cl->nfds; i++)
        close(cl->fds[i]);
    cl->nfds = 0;
}

/* Queue a short status answer.  0, or -1 when it could not be queued (then
 * the caller closes: a lost answer must not shift the pipelined ones). */
static int respond_status(struct client *cl, int code, const char *text, int keep, int head)
{
    char buf[512];
    int bodylen = (int)strlen(text) + 1;
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     "Connection: %s\r\n\r\n%s%s",
                     code, text, bodylen, keep ? "keep-alive" : "close", head ? "" : text,
                     head ? "" : "\n");
    return kitls_uring_send(cl->c, buf, (size_t)n) < 0 ? -1 : 0;
}

/* Serve one request head (len bytes, ending "\r\n\r\n"; req[len] is
 * writable).  Sets cl->body_left.  Returns 0 to keep the connection, -1
 * to close it (the answer says "Connection: close"). */
static int serve(struct client *cl, char *req, size_t len)
{
    n_requests++;
    if (memchr(req, '\0', len))
        return respond_status(cl, 400, "Bad Request", 0, 0), -1;
    req[len] = '\0';
    char *line_end = strstr(req, "\r\n");
    *line_end = '\0';
    char method[8], path[1024], version[16];
    if (sscanf(req, "%7s %1023s %15s", method, path, version) != 3 ||
        strncmp(version, "HTTP/1.", 7))
        return respond_status(cl, 400, "Bad Request", 0, 0), -1;
    if (strlen(path) == sizeof(path) - 1) /* maybe cut short: never serve a prefix */
        return respond_status(cl, 414, "URI Too Long", 0, 0), -1;
    int http10 = !strcmp(version, "HTTP/1.0");
    int keep = !http10, te = 0, te_chunked = 0;
    long long clen = -1;
    for (char *h = line_end + 2; *h && strncmp(h, "\r\n", 2);) {
        char *e = strstr(h, "\r\n"), *colon = memchr(h, ':', (size_t)(e - h));
        /* obs-fold and whitespace before the colon: 400 (RFC 9112 §5.1, §5.2) */
        if (!colon || colon == h || *h == ' ' || *h == '\t' || colon[-1] == ' ' ||
            colon[-1] == '\t')
            return respond_status(cl, 400, "Bad Request", 0, 0), -1;
        size_t nlen = (size_t)(colon - h);
        const char *v = colon + 1;
        if (nlen == 10 && !strncasecmp(h, "Connection", 10)) {
            while (*v == ' ')
                v++;
            if (!strncasecmp(v, "close", 5))
                keep = 0;
            else if (!strncasecmp(v, "keep-alive", 10))
                keep = 1;
        } else if (nlen == 14 && !strncasecmp(h, "Content-Length", 14)) {
            long long n = httpd_parse_length(v, e);
            if (n < 0 || (clen >= 0 && n != clen)) /* RFC 9112 §6.3 item 5 */
                return respond_status(cl, 400, "Bad Request", 0, 0), -1;
            clen = n;
        } else if (nlen == 17 && !strncasecmp(h, "Transfer-Encoding", 17)) {
            te = 1;
            te_chunked = httpd_te_final_chunked(v, e);
        }
        h = e + 2;
    }
    /* RFC 9112 §6.3: both headers smell of smuggling; a coding other than
     * chunked last, or any in HTTP/1.0, leaves the length unknown: 400 and
     * close.  A chunked body is not decoded here: answer, then close. */
    if (te && (clen >= 0 || !te_chunked || http10))
        return respond_status(cl, 400, "Bad Request", 0, 0), -1;
    if (te)
        keep = 0;
    if (clen > (long long)max_body)
        return respond_status(cl, 413, "Content Too Large", 0, 0), -1;
    cl->body_left = clen > 0 ? (unsigned long long)clen : 0;
    int head = !strcmp(method, "HEAD");
    if (!head && strcmp(method, "GET"))
        return respond_status(cl, 405, "Method Not Allowed", keep, 0) < 0 || !keep ? -1 : 0;
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    char rel[PATH_MAX];
    if (httpd_target_to_rel(path, rel, sizeof(rel)) < 0)
        return respond_status(cl, 400, "Bad Request", 0, 0), -1;
    int fd = httpd_open_beneath(&root, rel);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || httpd_is_secret(&root, &st)) {
        if (fd >= 0)
            close(fd);
        n_404++;
        return respond_status(cl, 404, "Not Found", keep, head) < 0 || !keep ? -1 : 0;
    }
    char hdr[SMALL_FILE + 512];
    int n = snprintf(hdr, 512,
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
                     "Connection: %s\r\n\r\n",
                     httpd_mime(rel), (long long)st.st_size, keep ? "keep-alive" : "close");
    if (head) {
        close(fd);
    } else if (st.st_size <= SMALL_FILE) {
        ssize_t got = pread(fd, hdr + n, (size_t)st.st_size, 0);
        close(fd);
        if (got != st.st_size)
            return -1;
        n += (int)got;
    }
    if (kitls_uring_send(cl->c, hdr, (size_t)n) < 0)
        return head || st.st_size <= SMALL_FILE ? -1 : (close(fd), -1);
    if (!head && st.st_size > SMALL_FILE) {
        if (kitls_uring_sendfile(cl->c, fd, 0, (size_t)st.st_size) < 0) {
            close(fd);
            return -1;
        }
        cl->fds[cl->nfds++] = fd;
    }
    return keep ? 0 : -1;
}

static void client_close(struct client *cl)
{
    cl->closing = 1;
    timer_del(cl);
    (void)kitls_uring_close(cl->c);
}

/* Answer every complete request head in the buffer, discarding bodies;
 * then pick the timer for what is left. */
static void process(struct client *cl)
{
    size_t off = 0;
    while (!cl->closing && !cl->paused && off < cl->req_len) {
        if (cl->body_left) {
            size_t skip = cl->req_len - off;
            if (skip > cl->body_left)
                skip = (size_t)cl->body_left;
            off += skip;
            cl->body_left -= skip;
            if (cl->body_left)
                break;
            continue;
        }
        char *end = memmem(cl->req + off, cl->req_len - off, "\r\n\r\n", 4);
        if (!end)
            break;
        size_t rlen = (size_t)(end - (cl->req + off)) + 4;
        char save = cl->req[off + rlen];
        if (rlen > MAX_REQ) {
            (void)respond_status(cl, 431, "Request Header Fields Too Large", 0, 0);
            client_close(cl);
            return;
        }
        if (serve(cl, cl->req + off, rlen) < 0) {
            client_close(cl);
            return;
        }
        cl->req[off + rlen] = save;
        off += rlen;
        timer_del(cl); /* a new head or body restarts the header timer */
        if (cl->nfds == MAX_FILES) {
            cl->paused = 1;
            kitls_uring_pause_recv(cl->c, 1); /* resume on EV_SENT */
        }
    }
    if (cl->closing)
        return;
    if (off) {
        memmove(cl->req, cl->req + off, cl->req_len - off);
        cl->req_len -= off;
    }
    if (!cl->paused && cl->req_len >= MAX_REQ) {
        (void)respond_status(cl, 431, "Request Header Fields Too Large", 0, 0);
        client_close(cl);
        return;
    }
    if (!cl->req_len) {
        free(cl->req); /* idle keep-alive connections hold no request buffer */
        cl->req = NULL;
    }
    if (cl->req_len || cl->body_left)
        timer_set(cl, T_HEADER);
    else if (cl->nfds || cl->paused || kitls_uring_conn_queued(cl->c))
        timer_set(cl, T_NONE); /* sending: EV_SENT makes it idle */
    else
        timer_set(cl, T_IDLE);
}

static void on_data(struct client *cl, const uint8_t *data, size_t len)
{
    if (cl->closing)
        return;
    if (!cl->req_len && cl->body_left) { /* discard without copying */
        size_t skip = len < cl->body_left ? len : (size_t)cl->body_left;
        cl->body_left -= skip;
        data += skip;
        len -= skip;
    }
    if (len) {
        char *buf = realloc(cl->req, cl->req_len + len + 1);
        if (!buf) {
            kitls_uring_abort(cl->c);
            return;
        }
        cl->req = buf;
        memcpy(cl->req + cl->req_len, data, len);
        cl->req_len += len;
    }
    process(cl);
}

/* ---- kTLS fallbacks, logged once per reason ---- */

static unsigned ktls_logged;

static void ktls_log_start(const struct kitls_uring_params *p)
{
    int r = kitls_ktls_probe_rekey(NULL);
    if (r < 0)
        fprintf(stderr,
                "uring-httpd: --ktls: no kernel TLS here (%s): connections stay in "
                "userspace\n",
                kitls_strerror(r));
    else if (r == 0 && !(p->flags & KITLS_URING_F_KTLS_REKEY_CLOSE))
        fprintf(stderr, "uring-httpd: --ktls: this kernel cannot rekey TLS 1.3 (Linux < 6.14): "
                        "connections stay in userspace (--ktls-close offloads them anyway)\n");
    else if (r == 0)
        fprintf(stderr, "uring-httpd: --ktls: this kernel cannot rekey TLS 1.3: offloaded "
                        "connections end at a KeyUpdate (--ktls-close)\n");
}

static void ktls_log_conn(kitls_uring_conn *c, const struct kitls_uring_info *info)
{
    int reason = info->ktls_reason;
    if ((info->ktls_tx && info->ktls_rx) || reason <= 0 || reason >= 32 ||
        (ktls_logged & (1u << reason)))
        return;
    ktls_logged |= 1u << reason;
    fprintf(stderr,
            "uring-httpd: --ktls: a connection stays in userspace: %s (suite 0x%04x; "
            "logged once per reason)\n",
            kitls_ktls_reason_string(reason), kitls_conn_suite(kitls_uring_conn_tls(c)));
}

static int want_ktls;

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    (void)ctx;
    struct client *cl = ev->user;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE:
        if (want_ktls)
            ktls_log_conn(ev->conn, ev->info);
        cl = calloc(1, sizeof(*cl));
        if (!cl) {
            kitls_uring_abort(ev->conn);
            return;
        }
        cl->c = ev->conn;
        kitls_uring_conn_set_user(ev->conn, cl);
        timer_set(cl, T_HEADER); /* the first request, like nginx */
        break;
    case KITLS_URING_EV_DATA:
        if (cl)
            on_data(cl, ev->data, ev->len);
        break;
    case KITLS_URING_EV_SENT:
        if (cl && !cl->closing) {
            files_close(cl);
            if (cl->paused) {
                cl->paused = 0;
                kitls_uring_pause_recv(cl->c, 0);
            }
            process(cl); /* pipelined heads left buffered by the pause */
        }
        break;
    case KITLS_URING_EV_EOF:
        if (cl) {
            cl->closing = 1;
            timer_del(cl);
        }
        (void)kitls_uring_close(ev->conn);
        break;
    case KITLS_URING_EV_CLOSED:
        if (!quiet && ev->reason && ev->reason != KITLS_E_EOF)
            fprintf(stderr, "uring-httpd: closed: %s\n", kitls_strerror(ev->reason));
        if (cl) {
            timer_del(cl);
            files_close(cl);
            free(cl->req);
            free(cl);
        }
        break;
    }
}

/* Close the connections whose header or idle time is up.  A head in
 * progress gets 408 (RFC 9110 §15.5.9); an idle one just close_notify. */
static void timers_fire(void)
{
    unsigned long long now = now_ms();
    for (int i = T_HEADER; i < T_LISTS; i++) {
        struct client *cl;
        while ((cl = timers[i].head) && cl->deadline <= now) {
            n_timeouts++;
            if (i == T_HEADER && (cl->req_len || cl->body_left))
                (void)respond_status(cl, 408, "Request Timeout", 0, 0);
            client_close(cl);
        }
    }
}

static long rss_kb(void)
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

static void usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "usage: %s -c cert.pem -k key.pem -r docroot [options]\n"
            "  -r DIR                 document root (required; the -c/-k files, paths\n"
            "                         outside DIR and symlinks leading out are never served)\n"
            "  -p PORT, -a ADDR       listen address (default 127.0.0.1:4433; port 0: any)\n"
            "  --ktls [--ktls-close]  kernel TLS after the handshake (fallbacks are logged)\n"
            "  --max-conns N          connections at once (1024)\n"
            "  --max-handshakes N     handshakes in progress (256)\n"
            "  --handshake-timeout MS accept to established (60000)\n"
            "  --header-timeout MS    a request head or body in progress, and the first\n"
            "                         request after the handshake (60000): then 408/close\n"
            "  --idle-timeout MS      keep-alive connection with no request (75000)\n"
            "  --max-body N           request body discarded up to N bytes (1048576);\n"
            "                         larger: 413 and close\n"
            "  --ready-file F         write \"port pid\" to F once listening\n"
            "  --no-buf-ring          a receive buffer per connection, also while idle\n"
            "  --no-multishot, --no-tickets, -q, -h/--help\n",
            argv0);
}

static unsigned parse_ms(const char *v)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || !n || n > 86400000ul)
        return 0;
    return (unsigned)n;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *addr = "127.0.0.1", *ready = NULL;
    int port = 4433, no_tickets = 0;
    struct kitls_uring_params p = {
        .flags = KITLS_URING_F_NODELAY, .entries = 1024, .handshake_timeout_ms = 60000};
    timers[T_HEADER].ms = 60000;
    timers[T_IDLE].ms = 75000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned *ms = NULL;
        if (!strcmp(a, "-c") && v)
            cert = argv[++i];
        else if (!strcmp(a, "-k") && v)
            key = argv[++i];
        else if (!strcmp(a, "-r") && v)
            docroot = argv[++i];
        else if (!strcmp(a, "-p") && v)
            port = atoi(argv[++i]);
        else if (!strcmp(a, "-a") && v)
            addr = argv[++i];
        else if (!strcmp(a, "--ready-file") && v)
            ready = argv[++i];
        else if (!strcmp(a, "--max-conns") && v)
            p.max_conns = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--max-handshakes") && v)
            p.max_handshakes = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--handshake-timeout") && v)
            ms = &p.handshake_timeout_ms;
        else if (!strcmp(a, "--header-timeout") && v)
            ms = &timers[T_HEADER].ms;
        else if (!strcmp(a, "--idle-timeout") && v)
            ms = &timers[T_IDLE].ms;
        else if (!strcmp(a, "--max-body") && v)
            max_body = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--ktls"))
            p.ktls = KITLS_URING_KTLS_BOTH;
        else if (!strcmp(a, "--ktls-close")) /* offload on kernels without rekey too */
            p.flags |= KITLS_URING_F_KTLS_REKEY_CLOSE;
        else if (!strcmp(a, "--no-multishot"))
            p.flags |= KITLS_URING_F_NO_MULTISHOT;
        else if (!strcmp(a, "--no-buf-ring")) /* the fallback of kernels before 5.19 */
            p.flags |= KITLS_URING_F_NO_BUF_RING;
        else if (!strcmp(a, "--no-tickets")) /* no NewSessionTicket: no resumption */
            no_tickets = 1;
        else if (!strcmp(a, "-q"))
            quiet = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, argv[0]);
            return 0;
        } else {
            usage(stderr, argv[0]);
            return 2;
        }
        if (ms && !(*ms = parse_ms(argv[++i]))) {
            fprintf(stderr, "uring-httpd: %s: milliseconds from 1 to 86400000\n", a);
            return 2;
        }
    }
    if (!cert || !key) {
        fprintf(stderr, "uring-httpd: -c and -k are required\n");
        return 2;
    }
    if (!docroot) {
        fprintf(stderr, "uring-httpd: -r DIR is required: there is no default document root "
                        "(the current directory may hold the key)\n");
        return 2;
    }
    root.fd = open(docroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root.fd < 0 || !realpath(docroot, root.real)) {
        fprintf(stderr, "uring-httpd: document root %s: %s\n", docroot, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 2; i++)
        if (stat(i ? key : cert, &root.secret[i]) < 0) {
            fprintf(stderr, "uring-httpd: %s: %s\n", i ? key : cert, strerror(errno));
            return 1;
        }
    want_ktls = p.ktls != 0;
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    /* RFC 7301 §3.2: with no ALPN offered the server goes on without it;
     * curl --http1.0 offers only http/1.0. */
    static const char *const alpn[] = {"http/1.1", "http/1.0"};
    int r = cfg ? kitls_config_add_cert_files(cfg, cert, key) : KITLS_E_NOMEM;
    if (r == 0)
        r = kitls_config_set_alpn(cfg, alpn, 2);
    if (r == 0 && no_tickets)
        r = kitls_config_set_tickets(cfg, 0, 7200);
    if (r < 0) {
        fprintf(stderr, "uring-httpd: config: %s\n", kitls_strerror(r));
        return 1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 || lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
        perror("uring-httpd: listen");
        return 1;
    }
    socklen_t slen = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &slen);

    kitls_uring *u;
    if ((r = kitls_uring_new(&u, NULL, &p, on_event, NULL)) < 0 ||
        (r = kitls_uring_listen(u, lfd, cfg)) < 0) {
        fprintf(stderr, "uring-httpd: %s\n", strerror(-r));
        return 1;
    }
    if (want_ktls)
        ktls_log_start(&p);
    struct kitls_uring_stats st;
    kitls_uring_get_stats(u, &st);
    if (st.rx_buf_ring < 0) /* logged once, even with -q */
        fprintf(stderr,
                "uring-httpd: no provided buffer ring here (%s): each connection keeps a "
                "16 KiB receive buffer, also while idle\n",
                strerror(-st.rx_buf_ring));
    struct sigaction sact = {.sa_handler = on_signal};
    sigaction(SIGINT, &sact, NULL);
    sigaction(SIGTERM, &sact, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f) {
            fprintf(f, "%d %d\n", ntohs(sa.sin_port), (int)getpid());
            fclose(f);
        }
    }
    if (!quiet)
        fprintf(stderr, "uring-httpd: serving %s on %s:%d\n", root.real, addr, ntohs(sa.sin_port));
    while (!stop) {
        r = kitls_uring_run(u, timers[T_HEADER].head || timers[T_IDLE].head ? 250 : 500);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "uring-httpd: %s\n", strerror(-r));
            break;
        }
        timers_fire();
    }
    kitls_uring_get_stats(u, &st);
    fprintf(stderr,
            "uring-httpd: accepted %llu handshakes %llu failures %llu timeouts %llu overloads "
            "%llu requests %llu 404 %llu idle/header timeouts %llu open %u ktls %llu "
            "rss_kb %ld rx_buf_ring %d rx_bufs %u rx_nobufs %llu\n",
            (unsigned long long)st.accepted, (unsigned long long)st.handshakes,
            (unsigned long long)st.handshake_failures, (unsigned long long)st.timeouts,
            (unsigned long long)st.overloads, n_requests, n_404, n_timeouts, st.conns,
            (unsigned long long)st.ktls_conns, rss_kb(), st.rx_buf_ring, st.rx_bufs,
            (unsigned long long)st.rx_nobufs);
    kitls_uring_free(u);
    close(lfd);
    close(root.fd);
    kitls_config_free(cfg);
    return 0;
}
