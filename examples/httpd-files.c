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

const char *httpd_mime(const char *path)
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
 * decoded NUL or a ".." segment (also when written %2e%2e). */
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
    if (!o || out[o - 1] == '/') {
        if (o + sizeof("index.html") > outlen)
            return -1;
        memcpy(out + o, "index.html", sizeof("index.html"));
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
