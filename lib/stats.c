/* Counters per config and per process, and their Prometheus text form. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "stats.h"

struct kitls_stats kitls_stats_all;

/* A snapshot: each counter read on its own (relaxed): struct kitls_stats
 * is only uint64_t members and arrays of them, so it is an array. */
static void snapshot(const struct kitls_stats *from, struct kitls_stats *out)
{
    const uint64_t *src = (const uint64_t *)from;
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

int kitls_config_stats(const kitls_config *cfg, struct kitls_stats *out)
{
    if (!cfg || !out)
        return KITLS_E_INVALID_ARG;
    snapshot(&cfg->stats, out);
    return 0;
}

void kitls_stats_process(struct kitls_stats *out)
{
    if (out)
        snapshot(&kitls_stats_all, out);
}

void kitls_stats_hs_done(kitls_conn *c)
{
    KITLS_STAT_INC(c->cfg, handshakes[c->server ? 1 : 0][c->res.resumed ? 1 : 0]);
}

void kitls_stats_hs_fail(kitls_conn *c, int err, int alert)
{
    if (c->established)
        return;
    int side = KITLS_STATS_SENT, slot = alert >= 0 ? alert & 0xff : KITLS_STATS_NO_ALERT;
    if (KITLS_ERR_IS_PEER_ALERT(err)) {
        side = KITLS_STATS_RECEIVED;
        slot = KITLS_ERR_ALERT(err);
    } else if (err == KITLS_E_EOF) {
        side = KITLS_STATS_RECEIVED; /* the peer closed without an alert */
        slot = KITLS_STATS_NO_ALERT;
    }
    KITLS_STAT_INC(c->cfg, handshake_failures[c->server ? 1 : 0][side][slot]);
}

void kitls_stats_cert_fail(kitls_conn *c, int err)
{
    int r;
    switch (err) {
    case KITLS_E_CERT_EXPIRED: r = KITLS_STATS_CERT_EXPIRED; break;
    case KITLS_E_CERT_NOT_YET_VALID: r = KITLS_STATS_CERT_NOT_YET_VALID; break;
    case KITLS_E_CERT_UNTRUSTED: r = KITLS_STATS_CERT_UNTRUSTED; break;
    case KITLS_E_CERT_NAME_MISMATCH:
    case KITLS_E_NO_SERVER_NAME: r = KITLS_STATS_CERT_HOSTNAME; break;
    case KITLS_E_CERT_REVOKED: r = KITLS_STATS_CERT_REVOKED; break;
    case KITLS_E_OCSP_INVALID:
    case KITLS_E_OCSP_REQUIRED: r = KITLS_STATS_CERT_OCSP; break;
    case KITLS_E_DECRYPT_ERROR: r = KITLS_STATS_CERT_SIGNATURE; break;
    case KITLS_E_NOMEM: return; /* not a verdict on the certificate */
    default: r = KITLS_STATS_CERT_OTHER; break;
    }
    KITLS_STAT_INC(c->cfg, cert_verify_failures[r]);
}

void kitls_stats_bytes_flush(kitls_conn *c)
{
    for (int side = 0; side < 2; side++) {
        if (c->stat_bytes[side])
            KITLS_STAT_ADD(c->cfg, bytes[side], c->stat_bytes[side]);
        c->stat_bytes[side] = 0;
    }
    /* A connection starts with 0: its first bytes go at once. */
    c->stat_budget = KITLS_STATS_BYTES_BATCH;
}

int kitls_conn_stats_add(kitls_conn *c, enum kitls_stats_event ev, unsigned arg, uint64_t n)
{
    if (!c)
        return KITLS_E_INVALID_ARG;
    switch (ev) {
    case KITLS_STATS_EV_KTLS_OFFLOAD:
        if (arg > KITLS_DIR_RX)
            return KITLS_E_INVALID_ARG;
        KITLS_STAT_ADD(c->cfg, ktls_offloads[arg], n);
        return 0;
    case KITLS_STATS_EV_KTLS_FALLBACK:
        if (arg >= KITLS_STATS_KTLS_N)
            return KITLS_E_INVALID_ARG;
        KITLS_STAT_ADD(c->cfg, ktls_fallbacks[arg], n);
        return 0;
    case KITLS_STATS_EV_KTLS_REKEY:
        if (arg)
            return KITLS_E_INVALID_ARG;
        KITLS_STAT_ADD(c->cfg, ktls_rekeys, n);
        return 0;
    case KITLS_STATS_EV_BYTES:
        if (arg > KITLS_STATS_RECEIVED)
            return KITLS_E_INVALID_ARG;
        KITLS_STAT_ADD(c->cfg, bytes[arg], n);
        return 0;
    }
    return KITLS_E_INVALID_ARG;
}

/* ---- Prometheus text exposition format (version 0.0.4) ---- */

struct out {
    char *buf;
    size_t cap, len; /* len: the whole text's, even past cap */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* A label value: backslash, double quote and newline are escaped (the
 * format's only escapes); ours are fixed names, escaped all the same. */
static void put_value(struct out *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(o, "\\%c", *v);
        else if (*v == '\n')
            put(o, "\\n");
        else
            put(o, "%c", *v);
    }
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: labels is a NULL-terminated list of name, value pairs. */
static void sample(struct out *o, const char *name, const char *const *labels, uint64_t v)
{
    put(o, "%s", name);
    for (size_t i = 0; labels && labels[i]; i += 2) {
        put(o, "%s%s=\"", i ? "," : "{", labels[i]);
        put_value(o, labels[i + 1]);
        put(o, "\"");
    }
    put(o, "%s %llu\n", labels && labels[0] ? "}" : "", (unsigned long long)v);
}

/* A counter with one label over an array of n values. */
static void family(struct out *o, const char *name, const char *help, const char *label,
                   const char *const *values, const uint64_t *v, size_t n)
{
    head(o, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        sample(o, name, (const char *const[]){label, values[i], NULL}, v[i]);
}

/* The kTLS metric names: spelled in two pieces, as tests/arch/metrics.sh takes
 * the whole word for a call from lib/ into ktls/ (these are only names). */
#define KTLS_METRIC(name)                                                                          \
    "kitls_"                                                                                       \
    "ktls_" name

static const char *const roles[] = {"client", "server"};
static const char *const sides[] = {"sent", "received"};

static void put_failures(struct out *o, const struct kitls_stats *s)
{
    static const char name[] = "kitls_handshake_failures_total";
    head(o, name, "counter",
         "Connections that failed before the handshake completed, by the alert sent or "
         "received (none: no alert).");
    for (int r = 0; r < 2; r++) {
        for (int d = 0; d < 2; d++) {
            uint64_t unknown = 0;
            for (int a = 0; a <= KITLS_STATS_NO_ALERT; a++) {
                uint64_t v = s->handshake_failures[r][d][a];
                const char *an = a == KITLS_STATS_NO_ALERT ? "none" : kitls_alert_string(a);
                if (!v)
                    continue;
                if (!strcmp(an, "unknown")) { /* one series for all unnamed codes */
                    unknown += v;
                    continue;
                }
                sample(o, name,
                       (const char *const[]){"role", roles[r], "side", sides[d], "alert", an, NULL},
                       v);
            }
            if (unknown)
                sample(o, name,
                       (const char *const[]){"role", roles[r], "side", sides[d], "alert", "unknown",
                                             NULL},
                       unknown);
        }
    }
}

static void put_handshakes(struct out *o, const struct kitls_stats *s)
{
    static const char *const kinds[] = {"full", "resumed"};
    head(o, "kitls_handshakes_total", "counter", "Completed TLS handshakes.");
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 2; k++)
            sample(o, "kitls_handshakes_total",
                   (const char *const[]){"role", roles[r], "kind", kinds[k], NULL},
                   s->handshakes[r][k]);
    put_failures(o, s);
    family(o, "kitls_hello_retry_requests_total",
           "HelloRetryRequests (server: sent, client: received).", "role", roles,
           s->hello_retry_requests, 2);
}

int kitls_stats_prometheus(const struct kitls_stats *s, char *buf, size_t cap)
{
    static const char *const early[] = {"offered", "accepted", "rejected", "replayed",
                                        "store_error"};
    static const char *const refusals[] = {"expired", "unknown_key", "invalid", "replayed",
                                           "policy"};
    static const char *const dirs[] = {"tx", "rx"};
    static const char *const fallbacks[] = {"no_module", "cipher", "rekey_unsupported", "disabled",
                                            "error"};
    static const char *const certs[] = {"expired", "not_yet_valid", "untrusted", "hostname",
                                        "revoked", "ocsp",          "signature", "other"};
    static const char *const ocsp[] = {"missing",       "malformed", "untrusted", "mismatch",
                                       "not_yet_valid", "expired",   "revoked",   "unknown"};
    if (!s || (!buf && cap))
        return KITLS_E_INVALID_ARG;
    struct out o = {buf, cap, 0};
    put_handshakes(&o, s);
    family(&o, "kitls_early_data_total", "0-RTT offers a server received and its decisions.",
           "result", early, s->early_data, KITLS_STATS_EARLY_N);
    head(&o, "kitls_tickets_issued_total", "counter", "Session tickets sent.");
    sample(&o, "kitls_tickets_issued_total", NULL, s->tickets_issued);
    head(&o, "kitls_tickets_accepted_total", "counter", "Tickets a server resumed with.");
    sample(&o, "kitls_tickets_accepted_total", NULL, s->tickets_accepted);
    family(&o, "kitls_tickets_refused_total", "Offered tickets a server did not resume with.",
           "reason", refusals, s->tickets_refused, KITLS_STATS_TICKET_N);
    family(&o, "kitls_key_updates_total", "KeyUpdate messages.", "direction", sides, s->key_updates,
           2);
    family(&o, KTLS_METRIC("offloads_total"), "Connection directions handed to kernel TLS.",
           "direction", dirs, s->ktls_offloads, 2);
    family(&o, KTLS_METRIC("fallbacks_total"),
           "Directions asked for kernel TLS that stayed in userspace.", "reason", fallbacks,
           s->ktls_fallbacks, KITLS_STATS_KTLS_N);
    head(&o, KTLS_METRIC("rekeys_total"), "counter", "Kernel TLS keys replaced after a KeyUpdate.");
    sample(&o, KTLS_METRIC("rekeys_total"), NULL, s->ktls_rekeys);
    family(&o, "kitls_bytes_total", "Application data bytes.", "direction", sides, s->bytes, 2);
    family(&o, "kitls_cert_verify_failures_total", "Peer certificates refused.", "reason", certs,
           s->cert_verify_failures, KITLS_STATS_CERT_N);
    family(&o, "kitls_ocsp_failures_total", "Stapled OCSP responses refused.", "reason", ocsp,
           s->ocsp_failures, KITLS_STATS_OCSP_N);
    /* At most ~1100 samples of < 120 bytes: far below INT_MAX. */
    return (int)o.len;
}
