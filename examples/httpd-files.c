/*
 * uring-httpd's request helpers: which file a request path names (and
 * whether it may be served at all), and the header values that decide
 * how long a request body is.  See httpd-files.h.
 */
#define _GNU_SOURCE
#include "httpd-files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- content types ---- */

struct mime_ent {
    char *ext, *type;
    unsigned seq; /* later entries win */
};

static struct mime_ent *mime_tab;
static size_t mime_n, mime_cap;

/* The types a static site needs when there is no mime.types. */
static const char *const builtin[][2] = {
    {"html", "text/html"},
    {"htm", "text/html"},
    {"txt", "text/plain"},
    {"css", "text/css"},
    {"js", "text/javascript"},
    {"mjs", "text/javascript"},
    {"json", "application/json"},
    {"xml", "application/xml"},
    {"csv", "text/csv"},
    {"md", "text/markdown"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"xz", "application/x-xz"},
    {"zst", "application/zstd"},
    {"iso", "application/x-iso9660-image"},
};

static int mime_add(const char *ext, size_t elen, const char *type, size_t tlen)
{
    if (mime_n == mime_cap) {
        size_t cap = mime_cap ? mime_cap * 2 : 256;
        struct mime_ent *t = realloc(mime_tab, cap * sizeof(*t));
        if (!t)
            return -1;
        mime_tab = t;
        mime_cap = cap;
    }
    struct mime_ent *m = &mime_tab[mime_n];
    if (!(m->ext = strndup(ext, elen)) || !(m->type = strndup(type, tlen))) {
        free(m->ext);
        return -1;
    }
    for (char *c = m->ext; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    m->seq = (unsigned)mime_n++;
    return 0;
}

static int mime_cmp(const void *a, const void *b)
{
    const struct mime_ent *x = a, *y = b;
    int d = strcmp(x->ext, y->ext);
    return d ? d : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Lines "type ext ext ..." ('#' starts a comment), as in /etc/mime.types. */
static int mime_read(FILE *f)
{
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        char *save, *type = strtok_r(line, " \t\r\n", &save);
        if (!type || *type == '#' || !strchr(type, '/'))
            continue;
        for (char *e; (e = strtok_r(NULL, " \t\r\n", &save)) && *e != '#';)
            if (mime_add(e, strlen(e), type, strlen(type)) < 0)
                return -1;
    }
    return ferror(f) ? -1 : 0;
}

int httpd_mime_load(const char *file, int required)
{
    httpd_mime_free();
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
        if (mime_add(builtin[i][0], strlen(builtin[i][0]), builtin[i][1], strlen(builtin[i][1])) <
            0)
            return -1;
    FILE *f = file ? fopen(file, "re") : NULL;
    int r = 0;
    if (f) {
        r = mime_read(f);
        fclose(f);
    } else if (file && required) {
        r = -1;
    }
    /* Sorted by extension, the last entry of each wins (bsearch finds any
     * of equal keys: keep only the winner). */
    qsort(mime_tab, mime_n, sizeof(*mime_tab), mime_cmp);
    size_t o = 0;
    for (size_t i = 0; i < mime_n; i++) {
        if (i + 1 < mime_n && !strcmp(mime_tab[i].ext, mime_tab[i + 1].ext)) {
            free(mime_tab[i].ext);
            free(mime_tab[i].type);
            continue;
        }
        mime_tab[o++] = mime_tab[i];
    }
    mime_n = o;
    return r;
}

const char *httpd_mime(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    char ext[32];
    size_t n = dot ? strlen(dot + 1) : 0;
    if (!dot || (slash && dot < slash) || !n || n >= sizeof(ext))
        return "application/octet-stream";
    for (size_t i = 0; i <= n; i++)
        ext[i] = (char)(dot[1 + i] >= 'A' && dot[1 + i] <= 'Z' ? dot[1 + i] + 32 : dot[1 + i]);
    size_t lo = 0, hi = mime_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = strcmp(ext, mime_tab[mid].ext);
        if (!d)
            return mime_tab[mid].type;
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return "application/octet-stream";
}

void httpd_mime_free(void)
{
    for (size_t i = 0; i < mime_n; i++) {
        free(mime_tab[i].ext);
        free(mime_tab[i].type);
    }
    free(mime_tab);
    mime_tab = NULL;
    mime_n = mime_cap = 0;
}

/* ---- what may be served ---- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decode the origin-form path (RFC 9112 §3.2.1, RFC 3986 §2.1)
 * into a path relative to the root.  -1 for a malformed escape, a
 * decoded NUL or a ".." segment (also when written %2e%2e, or behind an
 * encoded "/": %2f is decoded before the segments are checked). */
int httpd_target_to_rel(const char *path, char *out, size_t outlen)
{
    size_t o = 0;
    if (path[0] != '/')
        return -1;
    for (const char *p = path + 1; *p; p++) {
        int ch = (unsigned char)*p;
        if (ch == '%') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (l < 0)
                return -1;
            ch = h * 16 + l;
            p += 2;
        }
        if (ch == 0 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    for (char *s = out; *s;) { /* every segment */
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return -1;
        s += n + (s[n] == '/');
    }
    if (!o) {
        if (outlen < 3)
            return -1;
        memcpy(out, "./", 3); /* the root itself */
    }
    return 0;
}

/* Open rel beneath the root.  openat2 (Linux 5.6) refuses every path,
 * symlinks included, that would resolve outside; without it, realpath
 * and a prefix check, then O_NOFOLLOW on the resolved name. */
int httpd_open_beneath(const struct httpd_root *root, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, root->fd, rel, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS)
        return (int)fd;
    char full[PATH_MAX], real[PATH_MAX];
    size_t rl = strlen(root->real);
    if (snprintf(full, sizeof(full), "%s/%s", root->real, rel) >= (int)sizeof(full) ||
        !realpath(full, real) || strncmp(real, root->real, rl) || (real[rl] != '/' && rl > 1))
        return -1;
    return open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
}

/* 1 if st is the certificate or key file (hard links and symlinks
 * inside the root included). */
int httpd_is_secret(const struct httpd_root *root, const struct stat *st)
{
    for (int i = 0; i < 2; i++)
        if (st->st_dev == root->secret[i].st_dev && st->st_ino == root->secret[i].st_ino)
            return 1;
    return 0;
}

/* The request's path: origin-form, or absolute-form (RFC 9112 §3.2.2:
 * the authority is ignored, there is one site).  NULL if neither. */
const char *httpd_target_path(const char *t)
{
    if (!strncasecmp(t, "https://", 8) || !strncasecmp(t, "http://", 7)) {
        const char *p = strchr(t + (t[4] == 's' || t[4] == 'S' ? 8 : 7), '/');
        return p ? p : "/";
    }
    return t[0] == '/' ? t : NULL;
}

/* Open what the path names: a regular file, a directory's index.html; or
 * the status of the answer (301 with Location in *loc, 403, 404). */
int httpd_open_target(const struct httpd_root *root, char *path, const char *query, int *fd,
                      struct stat *st, char *rel, size_t rl_max, char *loc, size_t loc_max)
{
    if (httpd_target_to_rel(path, rel, rl_max) < 0)
        return 400;
    *fd = httpd_open_beneath(root, rel);
    if (*fd >= 0 && fstat(*fd, st) == 0 && S_ISDIR(st->st_mode)) {
        close(*fd);
        *fd = -1;
        size_t n = strlen(rel);
        if (rel[n - 1] != '/') { /* relative links in it need the slash */
            while (path[0] == '/' && path[1] == '/')
                path++; /* "//host/": not a Location on another host */
            snprintf(loc, loc_max, "Location: %s/%s%s\r\n", path, query ? "?" : "",
                     query ? query : "");
            return 301;
        }
        if (n + sizeof("index.html") > rl_max)
            return 404;
        memcpy(rel + n, "index.html", sizeof("index.html"));
        *fd = httpd_open_beneath(root, rel);
        if (*fd < 0 && errno == ENOENT)
            return 403; /* no listing of directories */
        if (*fd >= 0 && (fstat(*fd, st) < 0 || !S_ISREG(st->st_mode))) {
            close(*fd);
            *fd = -1;
            return 403;
        }
    } else if (*fd >= 0 && !S_ISREG(st->st_mode)) {
        close(*fd);
        *fd = -1;
    }
    if (*fd < 0 || httpd_is_secret(root, st)) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return 404;
    }
    return 0;
}

/* Parse a Content-Length value: 1*DIGIT with optional whitespace
 * (RFC 9110 §8.6).  -1 if malformed or absurdly large. */
long long httpd_parse_length(const char *v, const char *end)
{
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (v == end || end - v > 15)
        return -1;
    long long n = 0;
    for (; v < end; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        n = n * 10 + (*v - '0');
    }
    return n;
}

/* The last coding of a Transfer-Encoding value is chunked (RFC 9112 §6.1). */
int httpd_te_final_chunked(const char *v, const char *end)
{
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    const char *c = end;
    while (c > v && c[-1] != ',' && c[-1] != ' ' && c[-1] != '\t')
        c--;
    return end - c == 7 && !strncasecmp(c, "chunked", 7);
}
