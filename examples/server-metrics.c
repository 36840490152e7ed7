/*
 * kitls-server --metrics: GET /metrics over plain HTTP/1.x from a thread
 * of its own, one request per connection (Connection: close), answered
 * with kitls_stats_process() in the Prometheus text format (version
 * 0.0.4) and the tool's gauges.  The counters are the library's (relaxed
 * atomics): reading them takes no lock the TLS connections would wait on.
 */
#define _POSIX_C_SOURCE 200809L

#include "server-metrics.h"
#include "common.h"
#include "server-reload.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t conns_active;
static int64_t cert_not_after = -1; /* -1: unknown (the gauge is left out) */
static const struct ex_reload_stats *reload_st;

static size_t (*extra_fn)(char *buf, size_t cap);

void ex_metrics_set_extra(size_t (*fn)(char *buf, size_t cap))
{
    __atomic_store_n(&extra_fn, fn, __ATOMIC_RELEASE);
}

void ex_metrics_set_reload_stats(const struct ex_reload_stats *st)
{
    __atomic_store_n(&reload_st, st, __ATOMIC_RELEASE);
}

void ex_metrics_conn_add(int d)
{
    __atomic_fetch_add(&conns_active, d, __ATOMIC_RELAXED);
}

void ex_metrics_conn_set(unsigned n)
{
    __atomic_store_n(&conns_active, (int64_t)n, __ATOMIC_RELAXED);
}

int ex_metrics_set_cert_file(const char *cert_file)
{
    FILE *f = cert_file != NULL ? fopen(cert_file, "r") : NULL;
    X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
    int days, secs;
    int64_t t = -1;

    /* Seconds from the epoch, without timegm() (not POSIX). */
    if (x != NULL && epoch != NULL &&
        ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(x)) == 1)
        t = (int64_t)days * 86400 + secs;
    ASN1_TIME_free(epoch);
    X509_free(x);
    if (f != NULL)
        fclose(f);
    if (t < 0)
        return -1;
    __atomic_store_n(&cert_not_after, t, __ATOMIC_RELAXED);
    return 0;
}

/* The exposition: the library's counters, then the tool's gauges. */
static char *render(size_t *len)
{
    struct kitls_stats st;
    kitls_stats_process(&st);
    int n = kitls_stats_prometheus(&st, NULL, 0);
    if (n < 0)
        return NULL;
    size_t cap = (size_t)n + 4096; /* the gauges and the extra (Redis) metrics */
    char *buf = malloc(cap);
    if (buf == NULL || kitls_stats_prometheus(&st, buf, cap) != n) {
        free(buf);
        return NULL;
    }
    size_t off = (size_t)n;
    off += (size_t)snprintf(buf + off, cap - off,
                            "# HELP kitls_server_connections_active TLS connections kitls-server "
                            "has open now.\n"
                            "# TYPE kitls_server_connections_active gauge\n"
                            "kitls_server_connections_active %lld\n",
                            (long long)__atomic_load_n(&conns_active, __ATOMIC_RELAXED));
    int64_t na = __atomic_load_n(&cert_not_after, __ATOMIC_RELAXED);
    const struct ex_reload_stats *rs = __atomic_load_n(&reload_st, __ATOMIC_ACQUIRE);
    if (rs != NULL && off < cap) {
        uint64_t ok = __atomic_load_n(&rs->ok, __ATOMIC_RELAXED);
        uint64_t bad = __atomic_load_n(&rs->failed, __ATOMIC_RELAXED);
        off += (size_t)snprintf(buf + off, cap - off,
                                "# HELP kitls_server_reloads_total SIGHUP reloads of the "
                                "certificate, key, OCSP staple and ticket keys.\n"
                                "# TYPE kitls_server_reloads_total counter\n"
                                "kitls_server_reloads_total{result=\"ok\"} %llu\n"
                                "kitls_server_reloads_total{result=\"failed\"} %llu\n",
                                (unsigned long long)ok, (unsigned long long)bad);
        if (ok > 0) /* the reloaded leaf, not the one read at start */
            na = __atomic_load_n(&rs->cert_not_after, __ATOMIC_RELAXED);
    }
    if (na >= 0 && off < cap)
        off += (size_t)snprintf(buf + off, cap - off,
                                "# HELP kitls_server_cert_not_after_seconds notAfter of the served "
                                "leaf certificate, as a Unix time.\n"
                                "# TYPE kitls_server_cert_not_after_seconds gauge\n"
                                "kitls_server_cert_not_after_seconds %lld\n",
                                (long long)na);
    size_t (*xf)(char *, size_t) = __atomic_load_n(&extra_fn, __ATOMIC_ACQUIRE);
    if (xf != NULL && off < cap)
        off += xf(buf + off, cap - off);
    *len = off < cap ? off : cap - 1;
    return buf;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* The answer; a HEAD request gets the head only (with the body's length). */
static void reply(int fd, const char *status, const char *type, const char *body, size_t len,
                  int head_only)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, len);
    send_all(fd, head, (size_t)n);
    if (!head_only)
        send_all(fd, body, len);
}

/* One request: its head (up to 4 KiB, 5 s), then the answer. */
static void serve(int fd)
{
    char req[4096];
    size_t got = 0;
    struct timeval tv = {5, 0};

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    while (got < sizeof(req) - 1) {
        ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
            break;
    }
    req[got] = '\0';
    static const char text[] = "text/plain; charset=utf-8";
    int get = strncmp(req, "GET ", 4) == 0, head = strncmp(req, "HEAD ", 5) == 0;
    if (!get && !head) {
        reply(fd, "405 Method Not Allowed", text, "GET or HEAD only\n", 17, 0);
        return;
    }
    const char *path = req + (get ? 4 : 5);
    if (strncmp(path, "/metrics ", 9) != 0 && strncmp(path, "/metrics?", 9) != 0) {
        reply(fd, "404 Not Found", text, "try /metrics\n", 13, head);
        return;
    }
    size_t len = 0;
    char *body = render(&len);
    if (body == NULL) {
        reply(fd, "500 Internal Server Error", text, "no memory\n", 10, head);
        return;
    }
    reply(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head);
    free(body);
}

static void *loop(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) { /* out of descriptors: wait, retry */
                struct timespec ts = {0, 100 * 1000 * 1000};
                nanosleep(&ts, NULL);
                continue;
            }
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        serve(fd);
        close(fd);
    }
}

int ex_metrics_start(const char *prog, const char *addr, const char *cert_file, int quiet)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    int port = 0;
    pthread_t t;

    if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof(host) || !colon[1]) {
        fprintf(stderr, "%s: --metrics: expected ADDR:PORT, got '%s'\n", prog, addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:9100 */
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
    }
    (void)ex_parse_int(prog, "metrics port", colon + 1, 0, 65535);
    int lfd = ex_tcp_listen(prog, host, colon + 1, &port);
    if (lfd < 0)
        return -1;
    if (cert_file != NULL && ex_metrics_set_cert_file(cert_file) != 0 && !quiet)
        fprintf(stderr, "%s: --metrics: cannot read notAfter of %s\n", prog, cert_file);
    if (pthread_create(&t, NULL, loop, (void *)(intptr_t)lfd) != 0) {
        fprintf(stderr, "%s: --metrics: cannot start its thread\n", prog);
        close(lfd);
        return -1;
    }
    pthread_detach(t);
    if (!quiet)
        fprintf(stderr, "%s: metrics on http://%s%s%s:%d/metrics\n", prog,
                strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
    return 0;
}
