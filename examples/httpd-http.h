/*
 * uring-httpd's HTTP/1.1 semantics (httpd-http.c): the request head
 * parsed into the fields the server acts on, HTTP dates, entity tags, the
 * conditional requests of RFC 9110 §13 and the byte ranges of §14.
 */
#ifndef EX_HTTPD_HTTP_H
#define EX_HTTPD_HTTP_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

/* A field value inside the request buffer (not NUL-terminated). */
struct httpd_val {
    const char *p;
    size_t n;
};

/* The parsed request head.  Pointers point into the parsed buffer. */
struct httpd_req {
    char method[16];
    char *target;        /* request-target, NUL-terminated (query still on) */
    char *line;          /* the request line, NUL-terminated (for the log) */
    const char *version; /* "HTTP/1.x" */
    int http10;          /* HTTP/1.0 (else 1.1) */
    int keep;            /* keep-alive after this answer */
    int head;            /* HEAD */
    int te, te_chunked;
    long long clen;  /* Content-Length, -1 when absent */
    int hosts;       /* Host field lines */
    int n_inm, n_im; /* If-None-Match / If-Match lines (values below: the last) */
    struct httpd_val range, inm, im, ims, ius, if_range;
    int n_range, n_ims, n_ius, n_if_range;
};

/*
 * Parse a request head of len bytes ending "\r\n\r\n" (req[len] is
 * writable; lines are cut at CRLF).  0, or the status to answer and close
 * with: 400 (malformed, RFC 9112 §3, §5; a missing or repeated Host in
 * HTTP/1.1, §3.2), 414 (target longer than max_target).  r->line and
 * r->method are set whenever the request line was readable.
 */
int httpd_parse_head(char *req, size_t len, size_t max_target, struct httpd_req *r);

/* IMF-fixdate of t (RFC 9110 §5.6.7) into out (30 bytes at least). */
void httpd_fmt_date(time_t t, char *out);
/* Parse an HTTP-date (IMF-fixdate; also the obsolete RFC 850 and asctime
 * forms, §5.6.7).  0 and *t, or -1. */
int httpd_parse_date(const char *p, size_t n, time_t *t);
/* The file's strong entity tag, quoted (§8.8.3): its size and
 * modification time to the nanosecond, so a change of either changes it. */
void httpd_etag(const struct stat *st, char *out, size_t outlen);

/*
 * The preconditions of RFC 9110 §13.2.2 in their order for a GET or HEAD
 * of a file with entity tag etag: 0 to go on, 412 (If-Match,
 * If-Unmodified-Since failed) or 304 (If-None-Match matched, or without
 * it If-Modified-Since found the file unchanged).
 */
int httpd_preconditions(const struct httpd_req *r, const struct stat *st, const char *etag);

/*
 * The Range of a GET (RFC 9110 §14.2) of a file of size bytes: 200 to
 * send it whole (no Range, another unit, a malformed or multiple ranges,
 * or an If-Range that does not match), 206 with *off and *len (one
 * satisfiable range), or 416 (no byte of the file in it).
 */
int httpd_range(const struct httpd_req *r, const struct stat *st, const char *etag, long long *off,
                long long *len);

#endif
