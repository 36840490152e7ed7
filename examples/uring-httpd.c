/*
 * uring-httpd: a static HTTP/1.1 file server over TLS on io_uring (kitls
 * owns the ring: kitls_uring_run()).  GET and HEAD, keep-alive (HTTP/1.1
 * default, "Connection: close" honoured, HTTP/1.0 closes unless keep-alive
 * is asked), pipelined requests answered in order, ALPN http/1.1 or
 * http/1.0, or none.  Options: --help (httpd-tool.c); docs/uring.md.
 *
 * HTTP (RFC 9110, RFC 9112; httpd-http.c): Date on every answer;
 * Last-Modified and a strong ETag (size and modification time to the
 * nanosecond); If-Match / If-Unmodified-Since (412), If-None-Match, which
 * takes precedence over If-Modified-Since (304), in the order of RFC 9110
 * §13.2.2; one byte range (206 with Content-Range, 416 naming the length
 * when unsatisfiable, If-Range honoured); several ranges are answered with
 * the whole file (200: §14.2 lets a server ignore Range, no
 * multipart/byteranges); HEAD answers as GET without the body (Range is
 * for GET only).  A directory without its trailing slash is 301 with
 * Location; with it, its index.html, or 403 without one.  HTTP/1.1
 * without Host, or two Hosts: 400.  Plain HTTP sent to this TLS port gets
 * a 400 in clear text (kitls_uring_params.plain_reply), then the close.
 *
 * What it serves: regular files beneath the document root (-r, required:
 * there is no implicit root, since the current directory is often where
 * the key lives).  Paths are percent-decoded, then opened relative to the
 * root with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither
 * ".." (also as %2e%2e or behind %2f: 400) nor a symlink can leave it; the
 * certificate and key files are refused by inode even inside the root.
 * Everything else is 404.
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
 * Small bodies (<= 16 KiB) go out with their header in one write; larger
 * ones with kitls_uring_sendfile() (splice on kTLS, io_uring read +
 * userspace encryption otherwise).  SIGINT/SIGTERM stop the server; it
 * prints its counters and its resident memory to stderr; SIGUSR1 prints
 * the counters; SIGHUP reloads the certificate and key for new
 * connections (kitls_uring_listen_set_config; open ones keep theirs; a
 * bad pair is refused and logged, the previous one stays).  --access-log
 * writes the Common Log Format.
 *
 * --workers N (default 1): N threads, each running worker_main() with its
 * own ring, driver and SO_REUSEPORT listening socket (the kernel spreads
 * new connections by their 4-tuple hash); a connection lives on one
 * worker, whose timers and counters only its thread touches.  The main
 * thread takes the signals and passes them on (httpd-workers.c).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kitls/ktls.h>
#include <kitls/kitls.h>
#include <kitls/uring.h>

#include "httpd-files.h"
#include "httpd-http.h"
#include "httpd-tool.h"
#include "httpd-workers.h"

#define MAX_REQ 8192
#define MAX_TARGET 4096
#define MAX_FILES 16
#define SMALL_FILE 16384

enum { T_NONE, T_HEADER, T_IDLE, T_LISTS };

struct worker;

struct client {
    struct worker *w;
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
    char peer[INET6_ADDRSTRLEN]; /* for the access log */
};

struct tlist {
    struct client *head, *tail;
    unsigned ms;
};

/*
 * One worker (--workers N, default 1): a thread with its own ring, driver
 * and SO_REUSEPORT listening socket, its connections, timers and
 * counters; only its thread touches them (the main thread reads the
 * snapshots in hw, httpd-workers.c).
 */
struct worker {
    struct httpd_worker hw;
    struct tlist timers[T_LISTS];
    struct httpd_counters n;
    char date_now[30]; /* IMF-fixdate of now, refreshed once per request */
    time_t date_t;
    /* The answer to plain HTTP on this TLS port (params.plain_reply): its
     * Date is rewritten in place each loop turn. */
    char plain_reply[512];
    size_t plain_len, plain_date;
};

static struct httpd_root root = {.fd = -1};
static unsigned long long max_body = 1u << 20;
static int quiet;

static unsigned long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}

static void date_update(struct worker *w)
{
    time_t t = time(NULL);
    if (t != w->date_t) {
        w->date_t = t;
        httpd_fmt_date(t, w->date_now);
    }
}

/* ---- application timers: one FIFO per timeout value ---- */

static void timer_del(struct client *cl)
{
    if (cl->tlist == T_NONE)
        return;
    struct tlist *l = &cl->w->timers[cl->tlist];
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
    struct tlist *l = &cl->w->timers[which];
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

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

/* Count and log an answer (r NULL: no request line was read). */
static void account(struct client *cl, const struct httpd_req *r, int code, size_t bytes,
                    long long body)
{
    cl->w->n.status[code < 600 ? code : 0]++;
    cl->w->n.bytes += bytes;
    if (!httpd_log_on())
        return;
    char line[MAX_TARGET + 64];
    const char *req = NULL;
    if (r && r->target && r->version) {
        snprintf(line, sizeof(line), "%s %s %s", r->method, r->target, r->version);
        req = line;
    } else if (r && r->line) {
        req = r->line;
    }
    httpd_log(cl->peer, req, code, body);
}

/* Queue a short answer with a text body (none for HEAD, 304).  `extra`:
 * more header lines ("Name: value\r\n").  0, or -1 when it could not be
 * queued (then the caller closes: a lost answer must not shift the
 * pipelined ones). */
static int respond_status(struct client *cl, const struct httpd_req *r, int code, int keep,
                          const char *extra)
{
    char buf[1024];
    const char *text = reason(code);
    int head = (r && r->head) || code == 304, n;
    const char *date_now = cl->w->date_now;
    date_update(cl->w);
    if (code == 304)
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 304 Not Modified\r\nDate: %s\r\n%sConnection: %s\r\n\r\n", date_now,
                     extra ? extra : "", keep ? "keep-alive" : "close");
    else
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n%sConnection: %s\r\n\r\n%s%s",
                     code, text, date_now, strlen(text) + 1, extra ? extra : "",
                     keep ? "keep-alive" : "close", head ? "" : text, head ? "" : "\n");
    if (n < 0 || n >= (int)sizeof(buf))
        return -1;
    account(cl, r, code, (size_t)n, head ? 0 : (long long)strlen(text) + 1);
    return kitls_uring_send(cl->c, buf, (size_t)n) < 0 ? -1 : 0;
}

/* An answer, then keep the connection or close it: 0 or -1 as serve(). */
static int answer(struct client *cl, const struct httpd_req *r, int code, int keep,
                  const char *extra)
{
    return respond_status(cl, r, code, keep, extra) < 0 || !keep ? -1 : 0;
}

/* Serve one request head (len bytes, ending "\r\n\r\n"; req[len] is
 * writable).  Sets cl->body_left.  Returns 0 to keep the connection, -1
 * to close it (the answer says "Connection: close"). */
static int serve(struct client *cl, char *req, size_t len)
{
    struct httpd_req r;
    cl->w->n.requests++;
    int code = httpd_parse_head(req, len, MAX_TARGET, &r);
    if (code)
        return answer(cl, &r, code, 0, NULL);
    if (r.clen > (long long)max_body)
        return answer(cl, &r, 413, 0, NULL);
    cl->body_left = r.clen > 0 ? (unsigned long long)r.clen : 0;
    int keep = r.keep;
    if (!r.head && strcmp(r.method, "GET")) /* RFC 9110 §15.5.6: Allow */
        return answer(cl, &r, 405, keep, "Allow: GET, HEAD\r\n");
    const char *t = httpd_target_path(r.target);
    if (!t)
        return answer(cl, &r, 400, 0, NULL);
    char path[MAX_TARGET + 1], rel[PATH_MAX], extra[MAX_TARGET + 256];
    snprintf(path, sizeof(path), "%s", t);
    char *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    int fd = -1;
    struct stat st;
    code = httpd_open_target(&root, path, query, &fd, &st, rel, sizeof(rel), extra, sizeof(extra));
    if (code == 400)
        return answer(cl, &r, 400, 0, NULL);
    if (code)
        return answer(cl, &r, code, keep, code == 301 ? extra : NULL);
    char etag[64], lm[32];
    httpd_etag(&st, etag, sizeof(etag));
    httpd_fmt_date(st.st_mtime, lm);
    code = httpd_preconditions(&r, &st, etag);
    long long off = 0, blen = (long long)st.st_size;
    if (!code)
        code = httpd_range(&r, &st, etag, &off, &blen);
    if (code != 200 && code != 206) {
        close(fd);
        if (code == 304)
            snprintf(extra, sizeof(extra), "ETag: %s\r\nLast-Modified: %s\r\n", etag, lm);
        else if (code == 416) /* RFC 9110 §15.5.17 */
            snprintf(extra, sizeof(extra), "Content-Range: bytes */%lld\r\n",
                     (long long)st.st_size);
        return answer(cl, &r, code, keep, code == 412 ? NULL : extra);
    }
    char range[96] = "";
    if (code == 206)
        snprintf(range, sizeof(range), "Content-Range: bytes %lld-%lld/%lld\r\n", off,
                 off + blen - 1, (long long)st.st_size);
    char hdr[SMALL_FILE + 1024];
    date_update(cl->w);
    int n = snprintf(hdr, 1024,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
                     "Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n%s"
                     "Connection: %s\r\n\r\n",
                     code, reason(code), cl->w->date_now, httpd_mime(rel), blen, lm, etag, range,
                     keep ? "keep-alive" : "close");
    int small = r.head || blen <= SMALL_FILE;
    if (r.head) {
        close(fd);
    } else if (small) {
        ssize_t got = pread(fd, hdr + n, (size_t)blen, off);
        close(fd);
        if (got != blen)
            return -1;
        n += (int)got;
    }
    account(cl, &r, code, (size_t)n + (small ? 0 : (size_t)blen), r.head ? 0 : blen);
    if (kitls_uring_send(cl->c, hdr, (size_t)n) < 0)
        return small ? -1 : (close(fd), -1);
    if (!small) {
        if (kitls_uring_sendfile(cl->c, fd, off, (size_t)blen) < 0) {
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
            (void)respond_status(cl, NULL, 431, 0, NULL);
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
        (void)respond_status(cl, NULL, 431, 0, NULL);
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

/* ---- kTLS fallbacks, logged once per reason (by any worker) ---- */

static unsigned ktls_logged;

static void ktls_log_conn(kitls_uring_conn *c, const struct kitls_uring_info *info)
{
    int reason = info->ktls_reason;
    if ((info->ktls_tx && info->ktls_rx) || reason <= 0 || reason >= 32 ||
        (__atomic_fetch_or(&ktls_logged, 1u << reason, __ATOMIC_RELAXED) & (1u << reason)))
        return;
    fprintf(stderr,
            "uring-httpd: --ktls: a connection stays in userspace: %s (suite 0x%04x; "
            "logged once per reason)\n",
            kitls_ktls_reason_string(reason), kitls_conn_suite(kitls_uring_conn_tls(c)));
}

static int want_ktls;

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    struct worker *w = ctx;
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
        cl->w = w;
        cl->c = ev->conn;
        kitls_uring_conn_set_user(ev->conn, cl);
        timer_set(cl, T_HEADER); /* the first request, like nginx */
        w->n.ktls_tx += ev->info->ktls_tx;
        w->n.ktls_rx += ev->info->ktls_rx;
        if (httpd_log_on())
            httpd_peer_name(kitls_uring_conn_fd(ev->conn), cl->peer, sizeof(cl->peer));
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
static void timers_fire(struct worker *w)
{
    unsigned long long now = now_ms();
    for (int i = T_HEADER; i < T_LISTS; i++) {
        struct client *cl;
        while ((cl = w->timers[i].head) && cl->deadline <= now) {
            w->n.timeouts++;
            if (i == T_HEADER && (cl->req_len || cl->body_left))
                (void)respond_status(cl, NULL, 408, 0, NULL);
            client_close(cl);
        }
    }
}

static void plain_reply_init(struct worker *w)
{
    static const char body[] = "This is an HTTPS port: use https:// (TLS).\n";
    date_update(w);
    int n = snprintf(w->plain_reply, sizeof(w->plain_reply),
                     "HTTP/1.1 400 Bad Request\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     w->date_now, sizeof(body) - 1, body);
    w->plain_len = (size_t)n;
    w->plain_date = (size_t)(strstr(w->plain_reply, "Date: ") - w->plain_reply) + 6;
}

static struct kitls_uring_params params;
static kitls_config *cfg; /* the first config (each listener takes a reference) */

/* A worker's thread: its ring and listener, then its loop until the main
 * thread says stop; kitls_uring_free() then ends its connections. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct kitls_uring_params p = params;
    plain_reply_init(w);
    p.plain_reply = w->plain_reply;
    p.plain_reply_len = w->plain_len;
    w->n = (struct httpd_counters){0};
    w->hw.n = &w->n;
    int r = kitls_uring_new(&w->hw.u, NULL, &p, on_event, w);
    if (r == 0)
        r = w->hw.lid = kitls_uring_listen(w->hw.u, w->hw.lfd, cfg);
    if (r < 0) {
        fprintf(stderr, "uring-httpd: io_uring: %s\n", strerror(-r));
        kitls_uring_free(w->hw.u);
        w->hw.u = NULL;
        httpd_worker_up(&w->hw, 0);
        return NULL;
    }
    struct kitls_uring_stats st;
    kitls_uring_get_stats(w->hw.u, &st);
    if (w->hw.id == 0 && st.rx_buf_ring < 0) /* logged once, even with -q */
        fprintf(stderr,
                "uring-httpd: no provided buffer ring here (%s): each connection keeps a "
                "16 KiB receive buffer, also while idle\n",
                strerror(-st.rx_buf_ring));
    httpd_worker_up(&w->hw, 1);
    while (!httpd_workers_stopping()) {
        r = kitls_uring_run(w->hw.u,
                            w->timers[T_HEADER].head || w->timers[T_IDLE].head ? 250 : 500);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "uring-httpd: %s\n", strerror(-r));
            httpd_workers_fail();
            break;
        }
        timers_fire(w);
        httpd_log_flush();
        date_update(w);
        memcpy(w->plain_reply + w->plain_date, w->date_now, 29);
        httpd_worker_turn(&w->hw);
    }
    httpd_worker_done(&w->hw);
    kitls_uring_free(w->hw.u);
    w->hw.u = NULL;
    return NULL;
}

int main(int argc, char **argv)
{
    struct httpd_opts o;
    int status;
    if (httpd_opts_parse(argc, argv, &o, &status) < 0)
        return status;
    /* Keep freed heap rather than trimming it at once: connections take
     * and free 16-68 KiB send chunks all the time, and a trimmed heap top
     * taken again costs a page fault and a zeroed page per 4 KiB (12% of
     * the CPU of keep-alive small files over kTLS: docs/uring.md "Against
     * nginx").  At most 64 MiB of freed heap stays mapped. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    params = (struct kitls_uring_params){.flags = KITLS_URING_F_NODELAY,
                                         .entries = 1024,
                                         .handshake_timeout_ms = o.handshake_ms,
                                         .max_conns = o.max_conns,
                                         .max_handshakes = o.max_handshakes};
    max_body = o.max_body;
    quiet = o.quiet;
    if (o.ktls)
        params.ktls = KITLS_URING_KTLS_BOTH;
    if (o.ktls_close) /* offload on kernels without rekey too */
        params.flags |= KITLS_URING_F_KTLS_REKEY_CLOSE;
    if (o.no_multishot)
        params.flags |= KITLS_URING_F_NO_MULTISHOT;
    if (o.no_buf_ring) /* the fallback of kernels before 5.19 */
        params.flags |= KITLS_URING_F_NO_BUF_RING;
    if (httpd_load_files(&o, &root) < 0)
        return 1;
    want_ktls = params.ktls != 0;
    cfg = httpd_config_new(&o);
    struct kitls_ticket_key tk;
    if (!cfg)
        return 1;
    /* One ticket key for all workers: a ticket from one opens on another. */
    if (getrandom(&tk, sizeof(tk), 0) != (ssize_t)sizeof(tk) ||
        kitls_config_set_ticket_keys(cfg, &tk, 1) != 0) {
        fprintf(stderr, "uring-httpd: ticket key: %s\n", strerror(errno));
        return 1;
    }
    /* Every listening socket before any thread: a second one on the same
     * address can only fail here, and is named. */
    struct worker *ws = calloc((size_t)o.workers, sizeof(*ws));
    struct httpd_worker **hws = calloc((size_t)o.workers, sizeof(*hws));
    char where[INET6_ADDRSTRLEN + 16];
    int port = 0, n = 0, rc = 1;
    if (!ws || !hws) {
        fprintf(stderr, "uring-httpd: %s\n", strerror(ENOMEM));
        goto out;
    }
    for (; n < (int)o.workers; n++) {
        struct worker *w = &ws[n];
        w->hw.id = n;
        w->hw.lid = -1;
        w->timers[T_HEADER].ms = o.header_ms;
        w->timers[T_IDLE].ms = o.idle_ms;
        w->hw.lfd = n ? httpd_listen_again(ws[0].hw.lfd)
                      : httpd_listen(o.host, o.port, o.workers > 1, &port, where, sizeof(where));
        if (w->hw.lfd < 0)
            goto out;
        hws[n] = &w->hw;
    }
    if (want_ktls)
        httpd_ktls_log_start(params.flags);
    char banner[PATH_MAX + 128];
    snprintf(banner, sizeof(banner), "uring-httpd: serving %s on %s", root.real, where);
    if (o.workers > 1)
        snprintf(banner + strlen(banner), sizeof(banner) - strlen(banner), " (%u workers)",
                 o.workers);
    rc = httpd_workers_run(hws, n, worker_main, &o, &cfg, &tk, port, banner);
out:
    for (int i = 0; i < n; i++)
        close(ws[i].hw.lfd);
    free(ws);
    free(hws);
    close(root.fd);
    kitls_config_free(cfg);
    explicit_bzero(&tk, sizeof(tk));
    httpd_log_close();
    httpd_mime_free();
    return rc;
}
