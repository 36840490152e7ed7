/*
 * uring-httpd: a static HTTP/1.1 file server over TLS on io_uring (kitls
 * owns the ring: kitls_uring_run()).  Enough HTTP for curl and wrk: GET
 * and HEAD, keep-alive (HTTP/1.1 default, "Connection: close" honoured,
 * HTTP/1.0 closes unless keep-alive is asked), Content-Length, 404/400/405,
 * pipelined requests answered in order.
 *
 *   uring-httpd -c cert.pem -k key.pem -r docroot [-p port] [-a addr]
 *               [--ktls [--ktls-close]] [--max-conns N] [--max-handshakes N]
 *               [--ready-file F] [--no-multishot] [--no-tickets] [-q]
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
#include <unistd.h>

#include <kitls/kitls.h>
#include <kitls/uring.h>

#define MAX_REQ 8192
#define MAX_FILES 16
#define SMALL_FILE 16384

struct client {
    kitls_uring_conn *c;
    char *req; /* partial request (only while one is incomplete) */
    size_t req_len;
    int fds[MAX_FILES]; /* files being sent (closed on EV_SENT) */
    int nfds;
    int closing;
};

static const char *docroot = ".";
static int quiet;
static volatile sig_atomic_t stop;
static unsigned long long n_requests, n_404;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void files_close(struct client *cl)
{
    for (int i = 0; i < cl->nfds; i++)
        close(cl->fds[i]);
    cl->nfds = 0;
}

static const char *mime(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html") || !strcmp(dot, ".htm"))
        return "text/html";
    if (!strcmp(dot, ".txt"))
        return "text/plain";
    if (!strcmp(dot, ".css"))
        return "text/css";
    if (!strcmp(dot, ".js"))
        return "application/javascript";
    if (!strcmp(dot, ".json"))
        return "application/json";
    if (!strcmp(dot, ".png"))
        return "image/png";
    return "application/octet-stream";
}

static void respond_status(struct client *cl, int code, const char *text, int keep, int head)
{
    char buf[512];
    int bodylen = (int)strlen(text) + 1;
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     "Connection: %s\r\n\r\n%s%s",
                     code, text, bodylen, keep ? "keep-alive" : "close", head ? "" : text,
                     head ? "" : "\n");
    if (kitls_uring_send(cl->c, buf, (size_t)n) < 0)
        kitls_uring_abort(cl->c);
}

/* Serve one request; returns 0 to keep the connection, -1 to close it. */
static int serve(struct client *cl, char *req, size_t len)
{
    n_requests++;
    req[len] = '\0';
    char *line_end = strstr(req, "\r\n");
    if (!line_end)
        return respond_status(cl, 400, "Bad Request", 0, 0), -1;
    *line_end = '\0';
    char method[8], path[1024], version[16];
    if (sscanf(req, "%7s %1023s %15s", method, path, version) != 3 ||
        strncmp(version, "HTTP/1.", 7))
        return respond_status(cl, 400, "Bad Request", 0, 0), -1;
    int http10 = !strcmp(version, "HTTP/1.0");
    int keep = !http10;
    for (char *h = line_end + 2; *h && strncmp(h, "\r\n", 2); ) {
        char *e = strstr(h, "\r\n");
        if (!e)
            break;
        if (!strncasecmp(h, "Connection:", 11)) {
            const char *v = h + 11;
            while (*v == ' ')
                v++;
            if (!strncasecmp(v, "close", 5))
                keep = 0;
            else if (!strncasecmp(v, "keep-alive", 10))
                keep = 1;
        }
        h = e + 2;
    }
    int head = !strcmp(method, "HEAD");
    if (!head && strcmp(method, "GET"))
        return respond_status(cl, 405, "Method Not Allowed", keep, 0), keep ? 0 : -1;
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    if (path[0] != '/' || strstr(path, "/.."))
        return respond_status(cl, 400, "Bad Request", 0, 0), -1;
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s%s%s", docroot, path,
             path[strlen(path) - 1] == '/' ? "index.html" : "");
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        n_404++;
        respond_status(cl, 404, "Not Found", keep, head);
        return keep ? 0 : -1;
    }
    char hdr[SMALL_FILE + 512];
    int n = snprintf(hdr, 512,
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
                     "Connection: %s\r\n\r\n",
                     mime(full), (long long)st.st_size, keep ? "keep-alive" : "close");
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
        return close(fd), -1;
    if (!head && st.st_size > SMALL_FILE) {
        if (kitls_uring_sendfile(cl->c, fd, 0, (size_t)st.st_size) < 0) {
            close(fd);
            return -1;
        }
        cl->fds[cl->nfds++] = fd;
    }
    return keep ? 0 : -1;
}

static void on_data(struct client *cl, const uint8_t *data, size_t len)
{
    if (cl->closing)
        return;
    if (cl->req_len + len > MAX_REQ) {
        respond_status(cl, 400, "Bad Request", 0, 0);
        goto close;
    }
    char *buf = realloc(cl->req, cl->req_len + len + 1);
    if (!buf) {
        kitls_uring_abort(cl->c);
        return;
    }
    cl->req = buf;
    memcpy(cl->req + cl->req_len, data, len);
    cl->req_len += len;
    size_t off = 0;
    for (;;) {
        cl->req[cl->req_len] = '\0';
        char *end = strstr(cl->req + off, "\r\n\r\n");
        if (!end)
            break;
        size_t rlen = (size_t)(end - (cl->req + off)) + 4;
        char save = cl->req[off + rlen];
        if (serve(cl, cl->req + off, rlen) < 0)
            goto close;
        cl->req[off + rlen] = save;
        off += rlen;
        if (cl->nfds == MAX_FILES) {
            kitls_uring_pause_recv(cl->c, 1); /* resume on EV_SENT */
            break;
        }
    }
    memmove(cl->req, cl->req + off, cl->req_len - off);
    cl->req_len -= off;
    if (!cl->req_len) {
        free(cl->req); /* idle keep-alive connections hold no request buffer */
        cl->req = NULL;
    }
    return;
close:
    cl->closing = 1;
    (void)kitls_uring_close(cl->c);
}

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    (void)ctx;
    struct client *cl = ev->user;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE:
        cl = calloc(1, sizeof(*cl));
        if (!cl) {
            kitls_uring_abort(ev->conn);
            return;
        }
        cl->c = ev->conn;
        kitls_uring_conn_set_user(ev->conn, cl);
        break;
    case KITLS_URING_EV_DATA:
        if (cl)
            on_data(cl, ev->data, ev->len);
        break;
    case KITLS_URING_EV_SENT:
        if (cl) {
            files_close(cl);
            kitls_uring_pause_recv(cl->c, 0);
        }
        break;
    case KITLS_URING_EV_EOF:
        if (cl)
            cl->closing = 1;
        (void)kitls_uring_close(ev->conn);
        break;
    case KITLS_URING_EV_CLOSED:
        if (!quiet && ev->reason && ev->reason != KITLS_URING_R_RESET)
            fprintf(stderr, "uring-httpd: closed: %s\n",
                    ev->reason == KITLS_URING_R_TLS ? kitls_error_string(ev->tls_error)
                                                    : kitls_uring_strerror(ev->reason));
        if (cl) {
            files_close(cl);
            free(cl->req);
            free(cl);
        }
        break;
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

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *addr = "127.0.0.1", *ready = NULL;
    int port = 4433, no_tickets = 0;
    struct kitls_uring_params p = {.flags = KITLS_URING_F_NODELAY, .entries = 1024};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
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
        else if (!strcmp(a, "--ktls"))
            p.ktls = KITLS_URING_KTLS_BOTH;
        else if (!strcmp(a, "--ktls-close")) /* offload on kernels without rekey too */
            p.flags |= KITLS_URING_F_KTLS_REKEY_CLOSE;
        else if (!strcmp(a, "--no-multishot"))
            p.flags |= KITLS_URING_F_NO_MULTISHOT;
        else if (!strcmp(a, "--no-tickets")) /* no NewSessionTicket: no resumption */
            no_tickets = 1;
        else if (!strcmp(a, "-q"))
            quiet = 1;
        else {
            fprintf(stderr, "usage: %s -c cert.pem -k key.pem -r docroot [-p port] [-a addr] "
                            "[--ktls [--ktls-close]] [--max-conns N] [--max-handshakes N] [--ready-file F] "
                            "[--no-multishot] [--no-tickets] [-q]\n", argv[0]);
            return 2;
        }
    }
    if (!cert || !key) {
        fprintf(stderr, "uring-httpd: -c and -k are required\n");
        return 2;
    }
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    static const char *const alpn[] = {"http/1.1"};
    int r = cfg ? kitls_config_add_cert_files(cfg, cert, key) : KITLS_E_NOMEM;
    if (r == 0)
        r = kitls_config_set_alpn(cfg, alpn, 1);
    if (r == 0 && no_tickets)
        r = kitls_config_set_tickets(cfg, 0, 7200);
    if (r < 0) {
        fprintf(stderr, "uring-httpd: config: %s\n", kitls_error_string(r));
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
        fprintf(stderr, "uring-httpd: serving %s on %s:%d\n", docroot, addr, ntohs(sa.sin_port));
    while (!stop) {
        r = kitls_uring_run(u, 500);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "uring-httpd: %s\n", strerror(-r));
            break;
        }
    }
    struct kitls_uring_stats st;
    kitls_uring_get_stats(u, &st);
    fprintf(stderr,
            "uring-httpd: accepted %llu handshakes %llu failures %llu timeouts %llu overloads "
            "%llu requests %llu 404 %llu open %u ktls %llu rss_kb %ld\n",
            (unsigned long long)st.accepted, (unsigned long long)st.handshakes,
            (unsigned long long)st.handshake_failures, (unsigned long long)st.timeouts,
            (unsigned long long)st.overloads, n_requests, n_404, st.conns,
            (unsigned long long)st.ktls_conns, rss_kb());
    kitls_uring_free(u);
    close(lfd);
    kitls_config_free(cfg);
    return 0;
}
