/*
 * uring-httpd's request helpers (httpd-files.c): mapping a request path
 * to a file beneath the document root without ever leaving it, and the
 * body-length header values of RFC 9112 §6.
 */
#ifndef EX_HTTPD_FILES_H
#define EX_HTTPD_FILES_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

/* The document root and the files that are never served. */
struct httpd_root {
    int fd;                /* O_PATH descriptor of the root */
    char real[PATH_MAX];   /* its realpath (fallback without openat2) */
    struct stat secret[2]; /* the certificate and key files */
};

/* Content-Type for a file name, by its extension (case-insensitive). */
const char *httpd_mime(const char *path);
/* Load the content types: a built-in table of common ones, then file (the
 * mime.types format: "type ext ext ...") when it can be read; its entries
 * win (it replaces any table loaded before).  0, or -1 with errno (file unreadable while required, or no
 * memory). */
int httpd_mime_load(const char *file, int required);
/* Free the table. */
void httpd_mime_free(void);
/* Percent-decode an origin-form path ("/a/b%20c") into a path relative to
 * the root ("a/b c"; "./" for the root; a trailing "/" kept).  0, or -1
 * for a malformed escape, a decoded NUL, a ".." segment or no room. */
int httpd_target_to_rel(const char *path, char *out, size_t outlen);
/* Open rel read-only beneath the root (symlinks may not leave it).  An fd,
 * or -1 with errno. */
int httpd_open_beneath(const struct httpd_root *root, const char *rel);
/* 1 if st is one of root->secret (same device and inode), else 0. */
int httpd_is_secret(const struct httpd_root *root, const struct stat *st);
/* The path of a request-target: origin-form, or absolute-form (RFC 9112
 * §3.2.2, the authority ignored: one site).  NULL for another form. */
const char *httpd_target_path(const char *target);
/*
 * Open what the path (query cut off, given apart) names beneath the root:
 * a regular file, or a directory's index.html, into *fd and *st, its
 * relative name in rel.  0, or the status to answer: 400 (a path that may
 * not be decoded, httpd_target_to_rel), 301 (a directory without its
 * trailing slash: the Location header line in loc), 403 (a directory
 * without index.html), 404.
 */
int httpd_open_target(const struct httpd_root *root, char *path, const char *query, int *fd,
                      struct stat *st, char *rel, size_t rl_max, char *loc, size_t loc_max);
/* A Content-Length value between v and end: its value, or -1 if it is not
 * 1*DIGIT (optional surrounding whitespace) or is absurdly large. */
long long httpd_parse_length(const char *v, const char *end);
/* 1 if the last transfer coding in the value between v and end is
 * "chunked", else 0. */
int httpd_te_final_chunked(const char *v, const char *end);

#endif
