/*
 * Shared helpers for the kitls example tools: option defaults and
 * parsing, whole-file reads and writes, ticket key files and building a
 * kitls_config from the options.  See common.h; the sockets, the byte pump,
 * kernel TLS offload and reporting are in common.c.
 */
#define _POSIX_C_SOURCE 200809L

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ex_opts_init(struct ex_opts *o, const char *prog)
{
    memset(o, 0, sizeof(*o));
    o->prog = prog;
    o->verify = -1;
    o->tickets = -1;
}

uint8_t *ex_read_file(const char *prog, const char *path, size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *buf, *nb;
    FILE *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        nb = realloc(buf, cap * 2);
        if (nb == NULL)
            free(buf);
        buf = nb;
        cap *= 2;
    }
    if (buf == NULL || ferror(f)) {
        fprintf(stderr, "%s: %s: read failed\n", prog, path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

int ex_write_file(const char *prog, const char *path, const uint8_t *buf, size_t len)
{
    size_t n = strlen(path) + 8, off = 0;
    char *tmp = malloc(n);
    ssize_t w;
    int fd, ok = 1;

    if (tmp == NULL)
        return -1;
    snprintf(tmp, n, "%s.tmp", path);
    /* 0600: a serialized session holds a resumption secret. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    while (ok && off < len) {
        w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            ok = 0;
        else
            off += (size_t)w;
    }
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        fprintf(stderr, "%s: writing %s: %s\n", prog, path, strerror(errno));
        (void)unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

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

/*
 * Ticket key file: one key per line, 72 hex digits (4-byte key id, then the
 * 32-byte AES-256-GCM key), e.g. from `openssl rand -hex 36`.  The first
 * line seals new tickets; all lines open them (rotation).  Blank lines and
 * lines starting with '#' are ignored.
 */
#define EX_MAX_TICKET_KEYS 8
static int load_ticket_keys(const char *prog, const char *path, kitls_config *cfg)
{
    struct kitls_ticket_key keys[EX_MAX_TICKET_KEYS];
    uint8_t raw[36];
    size_t len, n = 0, i;
    char *text, *line, *next;
    int err, hi, lo, rc = -1;

    text = (char *)ex_read_file(prog, path, &len);
    if (text == NULL)
        return -1;
    for (line = text; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        len = strlen(line);
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (len != 2 * sizeof(raw) || n == EX_MAX_TICKET_KEYS) {
            fprintf(stderr, "%s: %s: expected up to %d lines of %zu hex digits\n", prog, path,
                    EX_MAX_TICKET_KEYS, 2 * sizeof(raw));
            goto out;
        }
        for (i = 0; i < sizeof(raw); i++) {
            hi = hexval(line[2 * i]);
            lo = hexval(line[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                fprintf(stderr, "%s: %s: not a hex digit in a key\n", prog, path);
                goto out;
            }
            raw[i] = (uint8_t)(hi << 4 | lo);
        }
        memcpy(keys[n].id, raw, 4);
        memcpy(keys[n].key, raw + 4, 32);
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "%s: %s: no ticket key\n", prog, path);
        goto out;
    }
    err = kitls_config_set_ticket_keys(cfg, keys, n);
    if (err < 0) {
        fprintf(stderr, "%s: --ticket-key-file %s: %s (%d)\n", prog, path, kitls_strerror(err),
                err);
        goto out;
    }
    rc = 0;
out:
    memset(keys, 0, sizeof(keys));
    memset(raw, 0, sizeof(raw));
    free(text);
    return rc;
}

int ex_parse_int(const char *prog, const char *opt, const char *arg, int min, int max)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: --%s: expected an integer in %d..%d, got '%s'\n", prog, opt, min, max,
                arg);
        exit(2);
    }
    return (int)v;
}

int ex_split_list(const char *list, char *storage, size_t storage_len, const char **out, size_t max)
{
    size_t n = 0, len = strlen(list);
    char *p, *next;

    if (len + 1 > storage_len)
        return -1;
    memcpy(storage, list, len + 1);
    for (p = storage; p != NULL; p = next) {
        next = strchr(p, ',');
        if (next != NULL)
            *next++ = '\0';
        if (*p == '\0' || n == max)
            return -1;
        out[n++] = p;
    }
    return (int)n;
}

/* Map a comma-separated list of names to code points with lookup(). */
static int names_to_ids(const char *prog, const char *what, const char *list,
                        uint16_t (*lookup)(const char *), uint16_t *ids, size_t max)
{
    char storage[1024];
    const char *names[EX_MAX_LIST];
    int n, i;

    n = ex_split_list(list, storage, sizeof(storage), names, max < EX_MAX_LIST ? max : EX_MAX_LIST);
    if (n < 0) {
        fprintf(stderr, "%s: invalid %s list '%s'\n", prog, what, list);
        return -1;
    }
    for (i = 0; i < n; i++) {
        ids[i] = lookup(names[i]);
        if (ids[i] == 0) {
            fprintf(stderr, "%s: unknown %s '%s'\n", prog, what, names[i]);
            return -1;
        }
    }
    return n;
}

static int config_fail(const char *prog, const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s (%d)\n", prog, what, kitls_strerror(err), err);
    return -1;
}

kitls_config *ex_config_build(enum kitls_role role, const struct ex_opts *o)
{
    kitls_config *cfg;
    uint16_t ids[EX_MAX_LIST];
    int n, err;

    cfg = kitls_config_new(role);
    if (cfg == NULL) {
        fprintf(stderr, "%s: kitls_config_new failed\n", o->prog);
        return NULL;
    }
    if (o->suites != NULL) {
        n = names_to_ids(o->prog, "suite", o->suites, kitls_suite_by_name, ids, EX_MAX_LIST);
        if (n < 0)
            goto fail;
        err = kitls_config_set_suites(cfg, ids, (size_t)n);
        if (err < 0 && config_fail(o->prog, "--suites", err))
            goto fail;
    }
    if (o->groups != NULL) {
        n = names_to_ids(o->prog, "group", o->groups, kitls_group_by_name, ids, EX_MAX_LIST);
        if (n < 0)
            goto fail;
        err = kitls_config_set_groups(cfg, ids, (size_t)n);
        if (err < 0 && config_fail(o->prog, "--groups", err))
            goto fail;
    }
    if (o->key_shares > 0) {
        err = kitls_config_set_key_shares(cfg, (size_t)o->key_shares);
        if (err < 0 && config_fail(o->prog, "--key-shares", err))
            goto fail;
    }
    if (o->alpn != NULL) {
        char storage[1024];
        const char *protos[EX_MAX_LIST];

        n = ex_split_list(o->alpn, storage, sizeof(storage), protos, EX_MAX_LIST);
        if (n < 0) {
            fprintf(stderr, "%s: invalid ALPN list '%s'\n", o->prog, o->alpn);
            goto fail;
        }
        err = kitls_config_set_alpn(cfg, protos, (size_t)n);
        if (err < 0 && config_fail(o->prog, "--alpn", err))
            goto fail;
    }
    if (o->max_hs_message > 0) {
        struct kitls_limits lim = {.max_handshake_message = (uint32_t)o->max_hs_message};
        err = kitls_config_set_limits(cfg, &lim);
        if (err < 0 && config_fail(o->prog, "--max-handshake-message", err))
            goto fail;
    }
    if (o->record_size_limit > 0) {
        err = kitls_config_set_record_size_limit(cfg, (uint16_t)o->record_size_limit);
        if (err < 0 && config_fail(o->prog, "--record-size-limit", err))
            goto fail;
    }
    if (o->no_compat) {
        err = kitls_config_set_middlebox_compat(cfg, 0);
        if (err < 0 && config_fail(o->prog, "--no-compat", err))
            goto fail;
    }
    if (o->hrr_cookie) {
        err = kitls_config_set_hrr_cookie(cfg, 1);
        if (err < 0 && config_fail(o->prog, "--hrr-cookie", err))
            goto fail;
    }
    if (o->cert != NULL || o->key != NULL) {
        /* Like openssl: the key may live in the certificate file. */
        const char *cert = o->cert != NULL ? o->cert : o->key;
        const char *key = o->key != NULL ? o->key : o->cert;

        err = kitls_config_add_cert_files(cfg, cert, key);
        if (err < 0) {
            fprintf(stderr, "%s: --cert %s --key %s: %s (%d)\n", o->prog, cert, key,
                    kitls_strerror(err), err);
            goto fail;
        }
    }
    if (o->cafile != NULL) {
        err = kitls_config_load_ca_file(cfg, o->cafile);
        if (err < 0) {
            fprintf(stderr, "%s: --cafile %s: %s (%d)\n", o->prog, o->cafile, kitls_strerror(err),
                    err);
            goto fail;
        }
    }
    if (o->verify >= 0) {
        err = kitls_config_set_verify(cfg, (enum kitls_verify)o->verify);
        if (err < 0 && config_fail(o->prog, "verify mode", err))
            goto fail;
    }
    if (o->tickets >= 0) {
        err = kitls_config_set_tickets(cfg, (unsigned)o->tickets, 7200);
        if (err < 0 && config_fail(o->prog, "--tickets", err))
            goto fail;
    }
    if (o->ticket_key_file != NULL && load_ticket_keys(o->prog, o->ticket_key_file, cfg) != 0)
        goto fail;
    if (role == KITLS_ROLE_SERVER && o->early_data_max > 0) {
        err = kitls_config_set_early_data(cfg, (uint32_t)o->early_data_max);
        if (err < 0 && config_fail(o->prog, "--early-data", err))
            goto fail;
    }
    if (role == KITLS_ROLE_SERVER && o->early_window_ms > 0) {
        err = kitls_config_set_early_data_window(cfg, (uint32_t)o->early_window_ms);
        if (err < 0 && config_fail(o->prog, "--early-data-window", err))
            goto fail;
    }
    if (role == KITLS_ROLE_CLIENT && o->early_data_file != NULL) {
        /* Any non-zero value lets the client send 0-RTT; the ticket's
         * max_early_data_size bounds how much. */
        err = kitls_config_set_early_data(cfg, UINT32_MAX);
        if (err < 0 && config_fail(o->prog, "--early-data", err))
            goto fail;
    }
    return cfg;

fail:
    kitls_config_free(cfg);
    return NULL;
}
