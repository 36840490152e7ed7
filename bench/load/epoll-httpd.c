/*
 * epoll-httpd: the baseline for the io_uring file server load test -- a
 * single-threaded epoll server on OpenSSL's libssl (non-blocking
 * SSL_accept/SSL_read/SSL_write), serving files with the same HTTP subset
 * as examples/uring-httpd.c: GET, keep-alive, Content-Length, 404, small
 * files (<= 16 KiB) read per request and written with their header in one
 * SSL_write.  TLS 1.3 only, one session ticket (as kitls), OpenSSL's
 * defaults otherwise (--release-buffers sets SSL_MODE_RELEASE_BUFFERS).
 * Not a general server: the request must fit in one 8 KiB read.
 *
 *   epoll-httpd -c cert.pem -k key.pem -r docroot [-p port]
 *               [--ready-file F] [--release-buffers] [--no-tickets]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct conn {
    int fd;
    SSL *ssl;
    int established;
    char *out; /* unsent response (SSL_write wants the same buffer again) */
    size_t out_len;
    int close_after;
};

static const char *docroot = ".";
static volatile sig_atomic_t stop;
static int ep;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static void conn_free(struct conn *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    free(c->out);
    free(c);
}

static void set_events(struct conn *c, unsigned ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Returns 0 to keep going, -1 to close. */
static int flush_out(struct conn *c)
{
    while (c->out_len) {
        int n = SSL_write(c->ssl, c->out, (int)c->out_len);
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_WRITE) {
                set_events(c, EPOLLIN | EPOLLOUT);
                return 0;
            }
            return -1;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    set_events(c, EPOLLIN);
    if (c->close_after) {
        SSL_shutdown(c->ssl);
        return -1;
    }
    return 0;
}

static int queue(struct conn *c, const char *p, size_t n)
{
    char *b = realloc(c->out, c->out_len + n);
    if (!b)
        return -1;
    memcpy(b + c->out_len, p, n);
    c->out = b;
    c->out_len += n;
    return 0;
}

static int serve(struct conn *c, char *req)
{
    char method[8], path[1024], version[16];
    if (sscanf(req, "%7s %1023s %15s", method, path, version) != 3 || strcmp(method, "GET") ||
        path[0] != '/' || strstr(path, "/.."))
        return -1;
    int keep = strcmp(version, "HTTP/1.0") != 0;
    char *h = strcasestr(req, "\r\nConnection:");
    if (h) {
        h += 13;
        while (*h == ' ')
            h++;
        keep = strncasecmp(h, "close", 5) != 0;
    }
    c->close_after = !keep;
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s%s%s", docroot, path,
             path[strlen(path) - 1] == '/' ? "index.html" : "");
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char buf[16384 + 512];
    int n;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 16384) {
        if (fd >= 0)
            close(fd);
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
                     "Connection: %s\r\n\r\nNot Found\n",
                     keep ? "keep-alive" : "close");
        return queue(c, buf, (size_t)n);
    }
    n = snprintf(buf, 512,
                 "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %lld\r\n"
                 "Connection: %s\r\n\r\n",
                 (long long)st.st_size, keep ? "keep-alive" : "close");
    ssize_t got = pread(fd, buf + n, (size_t)st.st_size, 0);
    close(fd);
    if (got != st.st_size)
        return -1;
    return queue(c, buf, (size_t)n + (size_t)got);
}

static int on_readable(struct conn *c)
{
    if (!c->established) {
        int r = SSL_accept(c->ssl);
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                set_events(c, EPOLLIN);
                return 0;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                set_events(c, EPOLLIN | EPOLLOUT);
                return 0;
            }
            return -1;
        }
        c->established = 1;
    }
    if (c->out_len)
        return flush_out(c);
    for (;;) {
        char req[8193];
        int n = SSL_read(c->ssl, req, sizeof(req) - 1);
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_READ)
                return 0;
            if (e == SSL_ERROR_WANT_WRITE) {
                set_events(c, EPOLLIN | EPOLLOUT);
                return 0;
            }
            if (e == SSL_ERROR_ZERO_RETURN)
                SSL_shutdown(c->ssl);
            return -1;
        }
        req[n] = '\0';
        if (!strstr(req, "\r\n\r\n") || serve(c, req) < 0)
            return -1;
        if (flush_out(c) < 0)
            return -1;
        if (c->out_len)
            return 0;
    }
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *ready = NULL;
    int port = 4443, release = 0, no_tickets = 0;
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
        else if (!strcmp(a, "--ready-file") && v)
            ready = argv[++i];
        else if (!strcmp(a, "--release-buffers"))
            release = 1;
        else if (!strcmp(a, "--no-tickets")) /* bench/load/run.sh --no-tickets: both servers */
            no_tickets = 1;
        else {
            fprintf(stderr,
                    "usage: %s -c cert -k key -r docroot [-p port] [--ready-file F] "
                    "[--release-buffers] [--no-tickets]\n",
                    argv[0]);
            return 2;
        }
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !cert || !key || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_num_tickets(ctx, no_tickets ? 0 : 1);
    if (release)
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa_sig = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa_sig, NULL);
    sigaction(SIGTERM, &sa_sig, NULL);

    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
        perror("epoll-httpd: listen");
        return 1;
    }
    socklen_t slen = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &slen);
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le);
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f) {
            fprintf(f, "%d %d\n", ntohs(sa.sin_port), (int)getpid());
            fclose(f);
        }
    }
    unsigned long long accepted = 0, handshakes = 0;
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, 500);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *c = calloc(1, sizeof(*c));
                    c->fd = fd;
                    c->ssl = SSL_new(ctx);
                    SSL_set_fd(c->ssl, fd);
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                    accepted++;
                }
                continue;
            }
            struct conn *c = evs[i].data.ptr;
            int was = c->established;
            int r = (evs[i].events & (EPOLLERR | EPOLLHUP)) && !(evs[i].events & EPOLLIN)
                        ? -1
                        : on_readable(c);
            if (!was && c->established)
                handshakes++;
            if (r < 0) {
                ERR_clear_error();
                conn_free(c);
            }
        }
    }
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long rss = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            rss = atol(line + 6);
    if (f)
        fclose(f);
    fprintf(stderr, "epoll-httpd: accepted %llu handshakes %llu rss_kb %ld\n", accepted, handshakes,
            rss);
    SSL_CTX_free(ctx);
    return 0;
}
