/*
 * uring-httpd's HTTP/1.1 semantics: the request head (RFC 9112 §3, §5,
 * §6), HTTP dates, entity tags, preconditions (RFC 9110 §13) and byte
 * ranges (§14).  No I/O here; see httpd-http.h.
 */
#define _GNU_SOURCE
#include "httpd-http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "httpd-files.h"

/* ---- the request head ---- */

static int is_tchar(int ch) /* RFC 9110 §5.6.2 token characters */
{
    return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static struct httpd_val trim(const char *v, const char *end)
{
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return (struct httpd_val){v, (size_t)(end - v)};
}

/* Connection options (RFC 9110 §7.6.1): a comma-separated token list;
 * "close" wins over "keep-alive" in any order or line. */
static void connection_options(const char *v, const char *end, int *close, int *keep_alive)
{
    while (v < end) {
        const char *c = memchr(v, ',', (size_t)(end - v));
        struct httpd_val t = trim(v, c ? c : end);
        if (t.n == 5 && !strncasecmp(t.p, "close", 5))
            *close = 1;
        else if (t.n == 10 && !strncasecmp(t.p, "keep-alive", 10))
            *keep_alive = 1;
        v = c ? c + 1 : end;
    }
}

#define FIELD(name) (nlen == sizeof(name) - 1 && !strncasecmp(h, name, nlen))

/* One field line [h, e): the fields the server acts on. */
static int field_line(struct httpd_req *r, const char *h, const char *e, int conn[2])
{
    const char *colon = memchr(h, ':', (size_t)(e - h));
    /* obs-fold and whitespace before the colon: 400 (RFC 9112 §5.1, §5.2) */
    if (!colon || colon == h || *h == ' ' || *h == '\t' || colon[-1] == ' ' || colon[-1] == '\t')
        return 400;
    size_t nlen = (size_t)(colon - h);
    for (size_t i = 0; i < nlen; i++)
        if (!is_tchar((unsigned char)h[i]))
            return 400;
    const char *v = colon + 1;
    struct httpd_val t = trim(v, e);
    if (FIELD("Connection")) {
        connection_options(v, e, &conn[0], &conn[1]);
    } else if (FIELD("Content-Length")) {
        long long n = httpd_parse_length(v, e);
        if (n < 0 || (r->clen >= 0 && n != r->clen)) /* RFC 9112 §6.3 item 5 */
            return 400;
        r->clen = n;
    } else if (FIELD("Transfer-Encoding")) {
        r->te = 1;
        r->te_chunked = httpd_te_final_chunked(v, e);
    } else if (FIELD("Host")) {
        r->hosts++;
    } else if (FIELD("Range")) {
        r->range = t, r->n_range++;
    } else if (FIELD("If-None-Match")) {
        r->inm = t, r->n_inm++;
    } else if (FIELD("If-Match")) {
        r->im = t, r->n_im++;
    } else if (FIELD("If-Modified-Since")) {
        r->ims = t, r->n_ims++;
    } else if (FIELD("If-Unmodified-Since")) {
        r->ius = t, r->n_ius++;
    } else if (FIELD("If-Range")) {
        r->if_range = t, r->n_if_range++;
    }
    return 0;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3) */
static int request_line(char *line, size_t max_target, struct httpd_req *r)
{
    char *sp1 = strchr(line, ' '), *t = sp1 ? sp1 + 1 : NULL;
    char *sp2 = t ? strchr(t, ' ') : NULL;
    if (!sp1 || sp1 == line || (size_t)(sp1 - line) >= sizeof(r->method) || !sp2 || sp2 == t)
        return 400;
    for (char *p = line; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return 400;
    memcpy(r->method, line, (size_t)(sp1 - line));
    r->method[sp1 - line] = '\0';
    const char *v = sp2 + 1;
    if (strlen(v) != 8 || strncmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505; /* RFC 9110 §15.6.6 */
    r->http10 = v[7] == '0';
    for (char *p = t; p < sp2; p++) /* no CTL, space or non-ASCII (RFC 3986 §2) */
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 400;
    if ((size_t)(sp2 - t) > max_target)
        return 414;
    r->target = t;
    r->version = v;
    *sp2 = '\0';
    return 0;
}

int httpd_parse_head(char *req, size_t len, size_t max_target, struct httpd_req *r)
{
    memset(r, 0, sizeof(*r));
    r->clen = -1;
    req[len] = '\0';
    char *eol = memmem(req, len, "\r\n", 2); /* there: the head ends with CRLF CRLF */
    *eol = '\0';
    r->line = req;
    if (memchr(req, '\0', (size_t)(eol - req)) ||
        memchr(eol + 1, '\0', (size_t)(req + len - eol - 1)))
        return 400; /* a NUL anywhere */
    int st = request_line(req, max_target, r);
    if (st)
        return st;
    r->head = !strcmp(r->method, "HEAD");
    int conn[2] = {0, 0}; /* close, keep-alive */
    for (char *h = eol + 2; *h && strncmp(h, "\r\n", 2);) {
        char *e = strstr(h, "\r\n");
        if ((st = field_line(r, h, e, conn)))
            return st;
        h = e + 2;
    }
    /* HTTP/1.1 persists unless "close" (RFC 9112 §9.3); HTTP/1.0 only
     * with "keep-alive" */
    r->keep = !conn[0] && (!r->http10 || conn[1]);
    /* RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; never two. */
    if (r->hosts > 1 || (!r->http10 && r->hosts != 1))
        return 400;
    /* RFC 9112 §6.3: both headers smell of smuggling; a coding other than
     * chunked last, or any in HTTP/1.0, leaves the length unknown: 400 and
     * close.  A chunked body is not decoded here: answer, then close. */
    if (r->te && (r->clen >= 0 || !r->te_chunked || r->http10))
        return 400;
    if (r->te)
        r->keep = 0;
    return 0;
}

/* ---- dates and entity tags ---- */

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void httpd_fmt_date(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int httpd_parse_date(const char *p, size_t n, time_t *t)
{
    char buf[64], wd[16], mon[4], zone[4];
    struct tm tm = {0};
    int k = 0;
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    /* IMF-fixdate, then obs-date: rfc850-date and asctime-date (§5.6.7) */
    if (sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &tm.tm_mday, mon, &tm.tm_year,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, zone, &k) == 8 &&
        k == (int)n && !strcmp(zone, "GMT")) {
        tm.tm_year -= 1900;
    } else if (k = 0,
               sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wd, &tm.tm_mday, mon,
                      &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, zone, &k) == 8 &&
                   k == (int)n && !strcmp(zone, "GMT")) {
        if (tm.tm_year < 70) /* two-digit years: RFC 9110 §5.6.7 */
            tm.tm_year += 100;
    } else if (k = 0, sscanf(buf, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &tm.tm_mday,
                             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tm.tm_year, &k) == 7 &&
                          k == (int)n) {
        tm.tm_year -= 1900;
    } else {
        return -1;
    }
    tm.tm_mon = -1;
    for (int i = 0; i < 12; i++)
        if (!strcmp(mon, months[i]))
            tm.tm_mon = i;
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    *t = timegm(&tm);
    return *t == (time_t)-1 ? -1 : 0;
}

void httpd_etag(const struct stat *st, char *out, size_t outlen)
{
    snprintf(out, outlen, "\"%llx-%llx.%lx\"", (unsigned long long)st->st_size,
             (unsigned long long)st->st_mtim.tv_sec, (unsigned long)st->st_mtim.tv_nsec);
}

/* ---- preconditions (RFC 9110 §13) ---- */

/* 1 if the entity-tag list v holds tag: strong comparison, or weak
 * (§8.8.3.2: W/ ignored).  A malformed list matches nothing. */
static int etag_listed(struct httpd_val v, const char *tag, int weak)
{
    const char *p = v.p, *end = v.p + v.n;
    size_t tl = strlen(tag);
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p >= end)
            return 0;
        int is_weak = end - p >= 2 && p[0] == 'W' && p[1] == '/';
        p += is_weak ? 2 : 0;
        const char *q = p < end && *p == '"' ? memchr(p + 1, '"', (size_t)(end - p - 1)) : NULL;
        if (!q)
            return 0;
        if ((size_t)(q + 1 - p) == tl && !memcmp(p, tag, tl) && (weak || !is_weak))
            return 1;
        p = q + 1;
    }
}

static int is_star(struct httpd_val v)
{
    return v.n == 1 && v.p[0] == '*';
}

/* A date field usable for a comparison: exactly one line, a valid date
 * (§13.1.3, §13.1.4: else the field is ignored). */
static int date_field(int count, struct httpd_val v, time_t *t)
{
    return count == 1 && httpd_parse_date(v.p, v.n, t) == 0;
}

int httpd_preconditions(const struct httpd_req *r, const struct stat *st, const char *etag)
{
    time_t t;
    /* 1-2: If-Match, else If-Unmodified-Since (§13.1.1, §13.1.4) */
    if (r->n_im) {
        if (!is_star(r->im) && !etag_listed(r->im, etag, 0))
            return 412;
    } else if (date_field(r->n_ius, r->ius, &t) && st->st_mtime > t) {
        return 412;
    }
    /* 3-4: If-None-Match (weak comparison), else If-Modified-Since
     * (§13.1.2, §13.1.3): for GET and HEAD a 304 */
    if (r->n_inm)
        return is_star(r->inm) || etag_listed(r->inm, etag, 1) ? 304 : 0;
    if (date_field(r->n_ims, r->ims, &t) && st->st_mtime <= t)
        return 304;
    return 0;
}

/* ---- ranges (RFC 9110 §14) ---- */

/* 1*DIGIT at *p (at most 18 digits: no overflow), advancing *p; -1 if none. */
static long long digits(const char **p, const char *end)
{
    long long n = 0;
    int k = 0;
    while (*p < end && **p >= '0' && **p <= '9' && k < 18)
        n = n * 10 + (*(*p)++ - '0'), k++;
    return k && (*p == end || **p < '0' || **p > '9') ? n : -1;
}

/* If-Range (§13.1.5): an entity tag compared strongly, or a date equal to
 * Last-Modified, itself strong only once a second old (§8.8.2.2). */
static int if_range_holds(const struct httpd_req *r, const struct stat *st, const char *etag)
{
    time_t t;
    if (!r->n_if_range)
        return 1;
    if (r->n_if_range > 1)
        return 0;
    struct httpd_val v = r->if_range;
    if (v.n >= 1 && (v.p[0] == '"' || (v.n >= 2 && v.p[0] == 'W' && v.p[1] == '/')))
        return etag_listed(v, etag, 0) && memchr(v.p, ',', v.n) == NULL;
    return httpd_parse_date(v.p, v.n, &t) == 0 && t == st->st_mtime && time(NULL) > t;
}

int httpd_range(const struct httpd_req *r, const struct stat *st, const char *etag, long long *off,
                long long *len)
{
    long long size = (long long)st->st_size;
    /* Range is defined for GET only (§14.2); HEAD answers as a plain GET. */
    if (r->head || r->n_range != 1 || !if_range_holds(r, st, etag))
        return 200;
    const char *p = r->range.p, *end = p + r->range.n;
    if (r->range.n < 6 || strncasecmp(p, "bytes=", 6))
        return 200; /* another unit: ignored */
    p += 6;
    long long first = -1, last = -1, nranges = 0, suffix = -1;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p == ',') { /* empty list elements (§5.6.1) */
            p++;
            continue;
        }
        if (p == end)
            break;
        long long a = -1, b = -1;
        if (*p != '-' && (a = digits(&p, end)) < 0)
            return 200; /* malformed: ignored */
        if (p == end || *p++ != '-')
            return 200;
        if (p < end && *p >= '0' && *p <= '9' && (b = digits(&p, end)) < 0)
            return 200;
        if ((a < 0 && b < 0) || (a >= 0 && b >= 0 && b < a))
            return 200; /* "-" alone, or last < first: invalid (§14.1.1) */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p != ',')
            return 200;
        nranges++;
        first = a, last = b, suffix = a < 0 ? b : -1;
    }
    /* Several ranges: the whole file (§14.2 lets a server ignore Range);
     * multipart/byteranges is not implemented. */
    if (nranges != 1)
        return 200;
    if (suffix >= 0) {
        if (suffix == 0 || size == 0)
            return 416;
        first = suffix >= size ? 0 : size - suffix;
        last = size - 1;
    } else {
        if (first >= size)
            return 416;
        if (last < 0 || last >= size)
            last = size - 1;
    }
    *off = first;
    *len = last - first + 1;
    return 206;
}
