/*
 * kitls-server hot reload: on SIGHUP, build a complete new config off the
 * signal path (the handler only sets a flag; the accept loop or the
 * io_uring loop calls ex_reload_run), validate it, and swap it in for new
 * connections.  Established connections keep the config they started
 * with (kitls_conn_new takes its own reference), so they are untouched.
 *
 * Refused on reload, with one log line naming the file and the reason
 * (the previous material stays): an unreadable file, a certificate or key
 * that is not PEM, a key that does not match the leaf certificate, a leaf
 * that is expired or not yet valid (serving it would fail every verifying
 * client; at start-up the dates are not checked, as before), an OCSP
 * staple the library refuses (kitls_config_set_ocsp_staple: not
 * successful, or not for this certificate), a bad ticket key file.
 *
 * Ticket keys follow the file (first line seals, every line opens), so a
 * rotation that keeps the previous key listed keeps its tickets
 * resumable.  Without --ticket-key-file one random key is made at start
 * and set on every config, so a certificate reload keeps tickets valid.
 */
#define _DEFAULT_SOURCE

#include "server-reload.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static volatile sig_atomic_t reload_flag;
/* ex_reload_set_hook(): e.g. the Redis anti-replay store and key ring */
static int (*build_hook)(void *ctx, kitls_config *cfg);
static void *build_hook_ctx;

void ex_reload_set_hook(int (*fn)(void *ctx, kitls_config *cfg), void *ctx)
{
    build_hook = fn;
    build_hook_ctx = ctx;
}

static void on_sighup(int sig)
{
    (void)sig;
    reload_flag = 1;
}

int ex_reload_pending(void)
{
    return reload_flag != 0;
}

/* Why a reload failed: the file and the reason, for the one log line. */
struct why {
    const char *file;
    char text[256];
};

static void why_set(struct why *w, const char *file, const char *fmt, const char *arg)
{
    w->file = file;
    snprintf(w->text, sizeof(w->text), fmt, arg);
}

/* A PEM pass phrase callback that refuses: never prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int64_t asn1_to_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "?");
}

/* The leaf's subject, RFC 2253 style, into buf. */
static void subject_of(X509 *x, char *buf, size_t n)
{
    BIO *b = BIO_new(BIO_s_mem());
    int len = 0;

    if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0)
        len = BIO_read(b, buf, (int)n - 1);
    buf[len > 0 ? len : 0] = '\0';
    BIO_free(b);
}

/*
 * The certificate and key files: readable, PEM, the key matching the leaf
 * and (check_dates) the leaf valid now.  Fills *not_after and subject.
 */
static int check_cert_key(const struct ex_opts *o, int check_dates, struct why *w,
                          int64_t *not_after, char *subject, size_t sn)
{
    const char *cert = o->cert, *key = o->key != NULL ? o->key : o->cert;
    X509 *leaf = NULL;
    EVP_PKEY *pk = NULL;
    FILE *f;
    int rc = -1;
    char when[32];

    if ((f = fopen(cert, "r")) == NULL) {
        why_set(w, cert, "cannot open: %s", strerror(errno));
        return -1;
    }
    leaf = PEM_read_X509(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (leaf == NULL) {
        why_set(w, cert, "%s", "no PEM certificate in the file (parse error)");
        goto out;
    }
    if ((f = fopen(key, "r")) == NULL) {
        why_set(w, key, "cannot open: %s", strerror(errno));
        goto out;
    }
    pk = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (pk == NULL) {
        why_set(w, key, "%s", "no PEM private key in the file (parse error or encrypted)");
        goto out;
    }
    if (X509_check_private_key(leaf, pk) != 1) {
        why_set(w, key, "private key does not match the certificate in %s", cert);
        goto out;
    }
    *not_after = asn1_to_unix(X509_get0_notAfter(leaf));
    if (check_dates && X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
        fmt_time(asn1_to_unix(X509_get0_notBefore(leaf)), when, sizeof(when));
        why_set(w, cert, "certificate not yet valid (notBefore %s)", when);
        goto out;
    }
    if (check_dates && X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
        fmt_time(*not_after, when, sizeof(when));
        why_set(w, cert, "certificate expired (notAfter %s)", when);
        goto out;
    }
    subject_of(leaf, subject, sn);
    rc = 0;
out:
    ERR_clear_error();
    EVP_PKEY_free(pk);
    X509_free(leaf);
    return rc;
}

/* A whole small file (OCSP staple, kTLS switch); NULL with w set. */
static uint8_t *slurp(const char *path, size_t max, size_t *len, struct why *w)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (f == NULL) {
        int e = errno; /* apply_ktls_switch() tells ENOENT apart */
        why_set(w, path, "cannot open: %s", strerror(e));
        errno = e;
        return NULL;
    }
    buf = malloc(max + 1);
    n = buf != NULL ? fread(buf, 1, max + 1, f) : 0;
    if (buf == NULL || ferror(f) || n > max) {
        why_set(w, path, "%s", buf == NULL ? "out of memory" : "unreadable or too large");
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* A complete new config, or NULL with w set. */
static kitls_config *build(struct ex_reload *r, int reload, struct why *w, int64_t *not_after,
                           char *subject, size_t sn)
{
    kitls_config *cfg;
    uint8_t *der;
    size_t len;
    int err;

    if (check_cert_key(r->o, reload, w, not_after, subject, sn) != 0)
        return NULL;
    cfg = ex_config_build(KITLS_ROLE_SERVER, r->o);
    if (cfg == NULL) {
        why_set(w, r->o->ticket_key_file != NULL ? r->o->ticket_key_file : r->o->cert, "%s",
                "building the config failed (reason on the line above)");
        return NULL;
    }
    if (r->have_default_key && kitls_config_set_ticket_keys(cfg, &r->default_key, 1) != 0) {
        why_set(w, r->o->cert, "%s", "setting the ticket key failed");
        goto fail;
    }
    if (r->ocsp_staple != NULL) {
        der = slurp(r->ocsp_staple, 1u << 20, &len, w);
        if (der == NULL)
            goto fail;
        err = len == 0 ? KITLS_E_INVALID_ARG : kitls_config_set_ocsp_staple(cfg, 0, der, len);
        free(der);
        if (err != 0) {
            why_set(w, r->ocsp_staple, "OCSP staple refused: %s",
                    len == 0 ? "empty file" : kitls_strerror(err));
            goto fail;
        }
    }
    /* Last: the hook may hand cfg to a thread (the ticket-key ring
     * watcher), so nothing after it may fail and free cfg. */
    if (build_hook != NULL && build_hook(build_hook_ctx, cfg) != 0) {
        why_set(w, "--redis", "%s", "Redis set-up failed (reason on the line above)");
        goto fail;
    }
    return cfg;
fail:
    kitls_config_free(cfg);
    return NULL;
}

/* --ktls-switch FILE: "off" disables, "on" or a missing file enables. */
static void apply_ktls_switch(struct ex_reload *r, int initial)
{
    struct why w = {0};
    size_t len = 0;
    char *text;
    int on, was = r->st.ktls_enabled;

    if (r->ktls_switch == NULL)
        return;
    text = (char *)slurp(r->ktls_switch, 64, &len, &w);
    if (text == NULL && errno == ENOENT) {
        on = 1;
    } else if (text == NULL) {
        fprintf(stderr, "%s: ktls switch: %s: %s; unchanged (%s)\n", r->prog, w.file, w.text,
                was ? "on" : "off");
        return;
    } else {
        text[len] = '\0';
        while (len > 0 && strchr(" \t\r\n", text[len - 1]) != NULL)
            text[--len] = '\0';
        if (strcmp(text, "on") != 0 && strcmp(text, "off") != 0) {
            fprintf(stderr,
                    "%s: ktls switch: %s: expected on or off, got '%.32s'; unchanged (%s)\n",
                    r->prog, r->ktls_switch, text, was ? "on" : "off");
            free(text);
            return;
        }
        on = strcmp(text, "on") == 0;
        free(text);
    }
    kitls_ktls_set_enabled(on);
    r->st.ktls_enabled = on;
    if (initial ? !on : on != was)
        fprintf(stderr, "%s: ktls switch: %s (%s)%s\n", r->prog, on ? "on" : "off", r->ktls_switch,
                on ? "" : ": new connections stay in userspace");
}

int ex_reload_init(struct ex_reload *r, const char *prog, const struct ex_opts *o,
                   const char *ocsp_staple, const char *ktls_switch)
{
    struct sigaction sa;
    struct why w = {0};
    char subject[256];

    memset(r, 0, sizeof(*r));
    r->prog = prog;
    r->o = o;
    r->ocsp_staple = ocsp_staple;
    r->ktls_switch = ktls_switch;
    r->st.ktls_enabled = kitls_ktls_enabled();
    if (o->ticket_key_file == NULL) {
        if (getrandom(&r->default_key, sizeof(r->default_key), 0) !=
            (ssize_t)sizeof(r->default_key)) {
            fprintf(stderr, "%s: getrandom: %s\n", prog, strerror(errno));
            return -1;
        }
        r->have_default_key = 1;
    }
    apply_ktls_switch(r, 1);
    r->cfg = build(r, 0, &w, &r->st.cert_not_after, subject, sizeof(subject));
    if (r->cfg == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, w.file, w.text);
        ex_reload_free(r);
        return -1;
    }
    /* SA_RESTART: a connection's blocking calls go on; the accept loop
     * polls, which a signal always interrupts. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sighup;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    return 0;
}

int ex_reload_run(struct ex_reload *r)
{
    struct why w = {0};
    char subject[256], when[32];
    int64_t not_after = 0;
    kitls_config *cfg;

    reload_flag = 0;
    r->st.last_time = (int64_t)time(NULL);
    apply_ktls_switch(r, 0);
    cfg = build(r, 1, &w, &not_after, subject, sizeof(subject));
    if (cfg == NULL) {
        __atomic_fetch_add(&r->st.failed, 1, __ATOMIC_RELAXED); /* read by --metrics */
        fprintf(stderr,
                "%s: reload failed: %s: %s; keeping the previous certificate, key, OCSP staple "
                "and ticket keys\n",
                r->prog, w.file, w.text);
        return 0;
    }
    kitls_config_free(r->cfg); /* connections hold their own reference */
    r->cfg = cfg;
    __atomic_fetch_add(&r->st.ok, 1, __ATOMIC_RELAXED); /* read by --metrics */
    __atomic_store_n(&r->st.cert_not_after, not_after, __ATOMIC_RELAXED);
    fmt_time(not_after, when, sizeof(when));
    fprintf(stderr, "%s: reload ok: certificate '%s' notAfter %s (%s); new connections use it\n",
            r->prog, subject, when, r->o->cert);
    return 1;
}

int ex_reload_accept(struct ex_reload *r, int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    int fd, n;

    for (;;) {
        if (reload_flag)
            (void)ex_reload_run(r);
        /* The timeout bounds a SIGHUP landing between the check and poll. */
        n = poll(&p, 1, 1000);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n <= 0)
            continue;
        fd = accept(lfd, NULL, NULL);
        if (fd < 0 && errno == EINTR)
            continue;
        if (fd >= 0 && reload_flag)
            (void)ex_reload_run(r); /* before this connection starts */
        return fd;
    }
}

void ex_reload_free(struct ex_reload *r)
{
    kitls_config_free(r->cfg);
    r->cfg = NULL;
    explicit_bzero(&r->default_key, sizeof(r->default_key));
}
