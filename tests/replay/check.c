/*
 * Replay corpus checker: delivers each recorded first flight (ClientHello +
 * early data) twice to a fresh server that has the corpus ticket key and
 * the recorded clock, and checks each delivery against the verdict in the
 * flight file:
 *
 *   accept         resumed, kitls_conn_handshake() returned KITLS_E_EARLY_DATA,
 *                  status accepted, the early data read back intact;
 *   reject         resumed (pre_shared_key in the ServerHello), status
 *                  rejected, no early data readable, the early records skipped
 *                  without error;
 *   fallback       not resumed (no pre_shared_key: full handshake), status
 *                  rejected, no early data readable, records skipped;
 *   decrypt_error  the handshake fails with KITLS_E_DECRYPT_ERROR and a
 *                  decrypt_error alert is queued.
 *
 * Flights accepted the first time are also delivered to two servers that
 * share an anti-replay store (kitls_config_set_antireplay): the second
 * server must reject them; and to two servers sharing it as an
 * asynchronous store (kitls_config_set_antireplay_async) that answers
 * after kitls_conn_handshake() returned KITLS_E_WANT_ASYNC, with the whole
 * flight (early data records included) waiting in the server meanwhile.  The server certificate is made at run time:
 * the flight does not depend on it.  Public API only.
 *
 * Usage: replay_check [-v] FLIGHT...     exit 0 if every flight passes
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

static int verbose;
static char *chain, *key;
static size_t chain_len, key_len;

/* ---- a shared anti-replay store for the "two servers" check ---- */

struct shared_store {
    uint8_t ids[64][64];
    size_t len[64];
    size_t n;
    unsigned calls;
};

static int shared_seen(void *ctx, const uint8_t *id, size_t len, int64_t expires)
{
    struct shared_store *st = ctx;
    (void)expires;
    st->calls++;
    if (len > sizeof(st->ids[0]))
        return -1;
    for (size_t i = 0; i < st->n; i++)
        if (st->len[i] == len && !memcmp(st->ids[i], id, len))
            return 1;
    if (st->n == sizeof(st->len) / sizeof(st->len[0]))
        return -1;
    memcpy(st->ids[st->n], id, len);
    st->len[st->n++] = len;
    return 0;
}

/* The same store, answering later: the callback looks the id up, the
 * answer is posted after the handshake parked (deliver()). */
static struct {
    kitls_conn *conn;
    int verdict;
} pending;

static int shared_seen_async(void *ctx, kitls_conn *c, const uint8_t *id, size_t len,
                             int64_t expires)
{
    pending.conn = c;
    pending.verdict = shared_seen(ctx, id, len, expires);
    return KITLS_ANTIREPLAY_PENDING;
}

static kitls_config *server_config(int64_t *now, struct shared_store *shared, int async)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    if (!cfg || kitls_config_add_cert_pem(cfg, chain, chain_len, key, key_len) ||
        kitls_config_set_ticket_keys(cfg, &rp_ticket_key, 1) ||
        kitls_config_set_early_data(cfg, RP_MAX_EARLY) ||
        kitls_config_set_time(cfg, rp_time, now) ||
        (shared && !async && kitls_config_set_antireplay(cfg, shared_seen, shared)) ||
        (shared && async && kitls_config_set_antireplay_async(cfg, shared_seen_async, shared))) {
        fprintf(stderr, "server config failed\n");
        exit(99);
    }
    return cfg;
}

/* ---- looking at records ---- */

/* Walk the records of buf: calls fn(type, payload, len, arg) for each. */
static int records(const uint8_t *p, size_t n,
                   void (*fn)(uint8_t type, const uint8_t *b, size_t len, void *arg), void *arg)
{
    size_t off = 0, count = 0;
    while (off < n) {
        if (n - off < 5)
            return -1;
        size_t rl = (size_t)p[off + 3] << 8 | p[off + 4];
        if (n - off - 5 < rl)
            return -1;
        fn(p[off], p + off + 5, rl, arg);
        off += 5 + rl;
        count++;
    }
    return (int)count;
}

struct flight_shape {
    int ch, ccs, app, other, first_is_ch;
    size_t idx;
};

static void shape_fn(uint8_t type, const uint8_t *b, size_t len, void *arg)
{
    struct flight_shape *sh = arg;
    if (sh->idx++ == 0)
        sh->first_is_ch = type == 22 && len > 4 && b[0] == 1;
    if (type == 22)
        sh->ch++;
    else if (type == 20)
        sh->ccs++;
    else if (type == 23)
        sh->app++;
    else
        sh->other++;
}

struct server_out {
    int sh_seen, psk_ext, early_ext_in_sh, alert_desc;
    uint16_t suite;
};

static void out_fn(uint8_t type, const uint8_t *b, size_t len, void *arg)
{
    struct server_out *o = arg;
    if (type == 21 && len == 2 && o->alert_desc < 0)
        o->alert_desc = b[1];
    if (type != 22 || o->sh_seen || len < 4 || b[0] != 2)
        return;
    /* ServerHello: version(2) random(32) session_id<0..32> suite(2) comp(1) exts<..> */
    size_t off = 4 + 2 + 32;
    if (off >= len)
        return;
    off += 1 + b[off];
    if (off + 5 > len)
        return;
    o->sh_seen = 1;
    o->suite = (uint16_t)(b[off] << 8 | b[off + 1]);
    off += 3;
    size_t end = off + 2 + ((size_t)b[off] << 8 | b[off + 1]);
    off += 2;
    while (off + 4 <= end && end <= len) {
        unsigned et = (unsigned)b[off] << 8 | b[off + 1];
        size_t el = (size_t)b[off + 2] << 8 | b[off + 3];
        o->psk_ext |= et == 41;
        o->early_ext_in_sh |= et == 42;
        off += 4 + el;
    }
}

/* ---- one delivery ---- */

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  %s delivery: ", what);                                                       \
            printf(__VA_ARGS__);                                                                   \
            if (verbose)                                                                           \
                printf("    [%s]\n", #cond);                                                       \
            ok = 0;                                                                                \
        }                                                                                          \
    } while (0)

static int deliver(kitls_config *cfg, const struct rp_flight *fl, int want, const char *what)
{
    int ok = 1, early_events = 0, r;
    size_t got = 0, cap = RP_MAX_EARLY + 16384;
    uint8_t *buf = malloc(cap), tmp[64];
    kitls_conn *s = kitls_conn_new(cfg);
    if (!buf || !s) {
        printf("  %s delivery: out of memory\n", what);
        free(buf);
        kitls_conn_free(s);
        return 0;
    }
    r = kitls_conn_feed(s, fl->bytes, fl->len);
    EXPECT(r == 0, "feed: %s\n", kitls_strerror(r));
    r = kitls_conn_handshake(s);
    if (r == KITLS_E_WANT_ASYNC) {
        /* An asynchronous store: nothing may come out before its answer. */
        const uint8_t *o;
        EXPECT(pending.conn == s, "the store was asked about another connection\n");
        EXPECT(kitls_conn_out_peek(s, &o) == 0, "output before the store's answer\n");
        EXPECT(kitls_conn_handshake(s) == KITLS_E_WANT_ASYNC, "not parked on a second call\n");
        r = kitls_conn_antireplay_done(s, pending.verdict);
        EXPECT(r == 0, "antireplay_done: %s\n", kitls_strerror(r));
        pending.conn = NULL;
        r = kitls_conn_handshake(s);
    }
    while (r == KITLS_E_EARLY_DATA) {
        early_events++;
        int n = kitls_conn_read_early_data(s, buf + got, cap - got);
        if (n <= 0) {
            EXPECT(n > 0, "KITLS_E_EARLY_DATA but read_early_data: %s\n", kitls_strerror(n));
            break;
        }
        got += (size_t)n;
        r = kitls_conn_handshake(s);
    }
    int status = kitls_conn_early_data_status(s), resumed = kitls_conn_is_resumed(s);
    int more = kitls_conn_read_early_data(s, tmp, sizeof(tmp));
    const uint8_t *out;
    size_t out_len = kitls_conn_out_peek(s, &out);
    struct server_out so = {0, 0, 0, -1, 0};
    EXPECT(records(out, out_len, out_fn, &so) >= 0, "server output is not a record sequence\n");
    if (verbose)
        printf("  %s delivery: handshake=%s status=%d resumed=%d early=%zu bytes in %d events, "
               "%zu bytes out\n",
               what, r == KITLS_E_WANT_READ ? "want_read" : kitls_strerror(r), status, resumed, got,
               early_events, out_len);

    switch (want) {
    case RP_ACCEPT:
    case RP_REJECT:
    case RP_FALLBACK:
        EXPECT(r == KITLS_E_WANT_READ, "handshake returned %s (waiting for the client expected)\n",
               kitls_strerror(r));
        EXPECT(so.sh_seen, "no ServerHello in the server's output\n");
        EXPECT(!so.early_ext_in_sh, "early_data extension in the ServerHello\n");
        EXPECT(so.suite == kitls_suite_by_name(fl->suite), "server chose suite %04x, not %s\n",
               so.suite, fl->suite);
        EXPECT(more == KITLS_E_WANT_READ, "read_early_data after the flight: %d\n", more);
        break;
    case RP_DECRYPT_ERROR:
        EXPECT(r == KITLS_E_DECRYPT_ERROR, "handshake returned %s, not decrypt_error\n",
               kitls_strerror(r));
        EXPECT(kitls_conn_error(s) == KITLS_E_DECRYPT_ERROR, "sticky error %s\n",
               kitls_strerror(kitls_conn_error(s)));
        EXPECT(so.alert_desc == 51, "alert queued: %d (decrypt_error = 51)\n", so.alert_desc);
        EXPECT(!so.sh_seen, "a ServerHello was sent before the failure\n");
        EXPECT(status != KITLS_EARLY_ACCEPTED, "early data accepted\n");
        EXPECT(got == 0, "%zu bytes of early data delivered\n", got);
        break;
    }
    if (want == RP_ACCEPT) {
        char h[65];
        rp_sha256_hex(buf, got, h);
        EXPECT(status == KITLS_EARLY_ACCEPTED, "early data status %d, accepted expected\n", status);
        EXPECT(resumed == 1, "not resumed\n");
        EXPECT(so.psk_ext, "no pre_shared_key in the ServerHello\n");
        EXPECT(fl->early_len == 0 || early_events > 0, "no KITLS_E_EARLY_DATA\n");
        EXPECT(got == fl->early_len, "%zu bytes of early data, %zu expected\n", got, fl->early_len);
        EXPECT(got != fl->early_len || !strcmp(h, fl->early_sha256), "early data differs\n");
    } else if (want == RP_REJECT || want == RP_FALLBACK) {
        EXPECT(status == KITLS_EARLY_REJECTED, "early data status %d, rejected expected\n", status);
        EXPECT(early_events == 0 && got == 0, "%zu bytes of early data delivered\n", got);
        EXPECT(resumed == (want == RP_REJECT), "resumed=%d\n", resumed);
        EXPECT(so.psk_ext == (want == RP_REJECT), "pre_shared_key in ServerHello: %d\n",
               so.psk_ext);
    }
    kitls_conn_free(s);
    free(buf);
    return ok;
}

static int check_flight(const char *path)
{
    struct rp_flight fl;
    struct flight_shape shape = {0, 0, 0, 0, 0, 0};
    int ok = 1;
    const char *what = "corpus";
    if (rp_flight_read(path, &fl))
        return 0;
    /* The recording itself: ClientHello, a CCS in compatibility mode, then
     * the early data records (and nothing else). */
    int nrec = records(fl.bytes, fl.len, shape_fn, &shape);
    EXPECT(nrec > 0, "%s: not a record sequence\n", path);
    EXPECT(shape.first_is_ch && shape.ch == 1, "the flight does not start with one ClientHello\n");
    EXPECT(shape.ccs == fl.compat, "%d CCS records, compat=%d\n", shape.ccs, fl.compat);
    EXPECT(shape.other == 0, "unexpected record types\n");
    EXPECT(fl.early_len == 0 || shape.app >= (int)((fl.early_len + 16383) / 16384),
           "%d early data records for %zu bytes\n", shape.app, fl.early_len);
    EXPECT(kitls_suite_by_name(fl.suite) != 0, "unknown suite %s\n", fl.suite);
    if (!ok) {
        rp_flight_free(&fl);
        printf("FAIL %s\n", path);
        return 0;
    }

    int64_t now = fl.replay_time;
    kitls_config *cfg = server_config(&now, NULL, 0);
    ok &= deliver(cfg, &fl, fl.first, "first");
    ok &= deliver(cfg, &fl, fl.second, "second");
    kitls_config_free(cfg);
    const char *cluster = "";
    for (int async = 0; fl.first == RP_ACCEPT && async < 2; async++) {
        /* Two servers sharing one anti-replay store (answering at once,
         * then later). */
        struct shared_store st;
        memset(&st, 0, sizeof(st));
        kitls_config *a = server_config(&now, &st, async), *b = server_config(&now, &st, async);
        ok &= deliver(a, &fl, RP_ACCEPT, async ? "server A (async store)" : "server A");
        ok &= deliver(b, &fl, RP_REJECT,
                      async ? "server B (shared async store)" : "server B (shared store)");
        if (st.calls != 2) {
            printf("  shared anti-replay store consulted %u times, 2 expected\n", st.calls);
            ok = 0;
        }
        kitls_config_free(a);
        kitls_config_free(b);
        cluster = async ? " shared-store=reject async-store=reject" : " shared-store=reject";
    }
    printf("%s %s: %s, %zu early bytes, first=%s second=%s%s\n", ok ? "PASS" : "FAIL", fl.name,
           fl.suite, fl.early_len, rp_verdict_name(fl.first), rp_verdict_name(fl.second), cluster);
    rp_flight_free(&fl);
    return ok;
}

int main(int argc, char **argv)
{
    int i = 1, pass = 0, fail = 0;
    if (i < argc && !strcmp(argv[i], "-v")) {
        verbose = 1;
        i++;
    }
    if (i == argc) {
        fprintf(stderr, "usage: %s [-v] FLIGHT...\n", argv[0]);
        return 2;
    }
    if (rp_make_cert((int64_t)time(NULL), &chain, &chain_len, &key, &key_len)) {
        fprintf(stderr, "cannot make the server certificate\n");
        return 99;
    }
    for (; i < argc; i++) {
        if (check_flight(argv[i]))
            pass++;
        else
            fail++;
    }
    printf("%d passed, %d failed\n", pass, fail);
    free(chain);
    free(key);
    return fail ? 1 : 0;
}
