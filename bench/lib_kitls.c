/*
 * kitls-bench, kitls as a library of the peers table (bench/libs.h): its
 * configs and in-memory pairs (out_peek/feed between the two connections).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "libs.h"

/* A second copy of kitls (e.g. a baseline build with its symbols renamed)
 * can compile this file again as another library of the vtable:
 * -DBENCH_LIB_SYM=bl_kitls_base -DBENCH_LIB_NAME='"kitls-base"'. */
#ifndef BENCH_LIB_SYM
#define BENCH_LIB_SYM bl_kitls
#endif
#ifndef BENCH_LIB_NAME
#define BENCH_LIB_NAME "kitls"
#endif

struct bl_pair {
    int cfg, flags;
    kitls_conn *c, *s;
    struct sniff sn, sn_s2c; /* client's and server's bytes (BL_SNIFF) */
    int tickets;
};

static kitls_config *kc[NCFG], *ks[NCFG][PEER_LEAVES];
static kitls_session *ksess; /* the resumed row's newest ticket (chained) */

static const char *kl_version(void)
{
    return kitls_version();
}

/* Client: each ticket replaces the previous one (the next pair resumes
 * with it); counted per pair as proof of "exactly 1 ticket". */
static void kl_on_ticket(void *ctx, kitls_conn *c, kitls_session *s)
{
    struct bl_pair *p = kitls_conn_user(c);
    (void)ctx;
    if (p != NULL)
        p->tickets++;
    kitls_session_free(ksess);
    ksess = kitls_session_up_ref(s);
}

static int kl_setup_cfg(int cfg, char *err, size_t errn)
{
    static const uint16_t groups[] = {KITLS_GROUP_X25519};
    uint16_t suite = cfg == CFG_CHACHA ? 0x1303 : 0x1301;
    int nleaves = cfg == CFG_CHAIN ? PEER_LEAVES : 1, r;
    kitls_config *c = kitls_config_new(KITLS_ROLE_CLIENT);
    kc[cfg] = c;
    if (c == NULL)
        goto oom;
    if ((r = kitls_config_set_groups(c, groups, 1)) < 0 ||
        (r = kitls_config_set_suites(c, &suite, 1)) < 0 ||
        (r = kitls_config_load_ca_pem(c, ppki.root_pem, ppki.root_len)) < 0 ||
        (r = kitls_config_set_verify(c, cfg == CFG_CV ? KITLS_VERIFY_NONE : KITLS_VERIFY_REQUIRE)) <
            0 ||
        (cfg == CFG_RESUMED && (r = kitls_config_set_session_callback(c, kl_on_ticket, NULL)) < 0))
        goto fail;
    for (int i = 0; i < nleaves; i++) {
        const struct peer_leaf *l = &ppki.leaf[i];
        kitls_config *s = kitls_config_new(KITLS_ROLE_SERVER);
        ks[cfg][i] = s;
        if (s == NULL)
            goto oom;
        if ((r = kitls_config_set_groups(s, groups, 1)) < 0 ||
            (r = kitls_config_set_suites(s, &suite, 1)) < 0 ||
            (r = kitls_config_set_tickets(s, cfg == CFG_RESUMED ? 1 : 0, 7200)) < 0 ||
            (r = kitls_config_add_cert_pem(s, l->chain_pem, l->chain_len, l->key_pem, l->key_len)) <
                0)
            goto fail;
    }
    return 0;
oom:
    set_err(err, errn, "kitls_config_new failed");
    return -1;
fail:
    set_err(err, errn, "kitls config %d: %s (%d)", cfg, kitls_strerror(r), r);
    return -1;
}

static int kl_setup(char *err, size_t errn)
{
    for (int cfg = 0; cfg < NCFG; cfg++)
        if (kl_setup_cfg(cfg, err, errn) < 0)
            return -1;
    return 0;
}

static void kl_teardown(void)
{
    for (int cfg = 0; cfg < NCFG; cfg++) {
        kitls_config_free(kc[cfg]);
        kc[cfg] = NULL;
        for (int i = 0; i < PEER_LEAVES; i++) {
            kitls_config_free(ks[cfg][i]);
            ks[cfg][i] = NULL;
        }
    }
    kitls_session_free(ksess);
    ksess = NULL;
}

static struct bl_pair *kl_pair_new(int cfg, int flags)
{
    struct bl_pair *p = calloc(1, sizeof(*p));
    if (p == NULL)
        die("oom");
    p->cfg = cfg;
    p->flags = flags;
    return p;
}

static int kl_side_new(struct bl_pair *p, int side, int leaf, char *err, size_t errn)
{
    int r = 0;
    if (side == 0) {
        p->c = kitls_conn_new(kc[p->cfg]);
        if (p->c != NULL) {
            kitls_conn_set_user(p->c, p);
            r = kitls_conn_set_server_name(p->c, "localhost");
            if (r == 0 && p->cfg == CFG_RESUMED && ksess != NULL)
                r = kitls_conn_set_session(p->c, ksess);
        }
    } else {
        p->s = kitls_conn_new(ks[p->cfg][p->cfg == CFG_CHAIN ? leaf : 0]);
    }
    if ((side == 0 ? p->c : p->s) == NULL || r < 0) {
        set_err(err, errn, "kitls_conn_new / set_server_name / set_session: %d", r);
        return -1;
    }
    return 0;
}

/* Moves all pending output of from into to. */
static int kl_shuttle(kitls_conn *from, kitls_conn *to, struct sniff *sn)
{
    const uint8_t *buf;
    size_t n;
    while ((n = kitls_conn_out_peek(from, &buf)) > 0) {
        int r;
        if (sn != NULL)
            sniff_add(sn, buf, n);
        if ((r = kitls_conn_feed(to, buf, n)) < 0)
            return r;
        kitls_conn_out_consume(from, n);
    }
    return 0;
}

static int kl_turn(struct bl_pair *p, int side, char *err, size_t errn)
{
    kitls_conn *me = side == 0 ? p->c : p->s, *peer = side == 0 ? p->s : p->c;
    struct sniff *sn = !(p->flags & BL_SNIFF) ? NULL : side == 1 ? &p->sn : &p->sn_s2c;
    int r = kl_shuttle(peer, me, sn);
    if (r == 0)
        r = kitls_conn_handshake(me);
    if (r == 0)
        return 1;
    if (r == KITLS_E_WANT_READ)
        return 0;
    set_err(err, errn, "kitls %s: %s (%d); errors c=%d s=%d, alerts c=%d s=%d%s%s",
            side ? "server" : "client", kitls_strerror(r), r, kitls_conn_error(p->c),
            kitls_conn_error(p->s), kitls_conn_peer_alert(p->c), kitls_conn_peer_alert(p->s),
            kitls_conn_verify_detail(p->c) ? " " : "",
            kitls_conn_verify_detail(p->c) ? kitls_conn_verify_detail(p->c) : "");
    return -1;
}

static int kl_settle(struct bl_pair *p, char *err, size_t errn)
{
    uint8_t b;
    int r = kl_shuttle(p->s, p->c, NULL);
    if (r == 0)
        r = kitls_conn_read(p->c, &b, 1);
    if (r != KITLS_E_WANT_READ) {
        set_err(err, errn, "kitls: post-handshake read: %s (%d)", kitls_strerror(r), r);
        return -1;
    }
    return 0;
}

static void kl_proof(struct bl_pair *p, struct bl_proof *o)
{
    uint16_t want = p->cfg == CFG_CHACHA ? 0x1303 : 0x1301;
    wire_scan(p->sn.b, p->sn.n, p->sn_s2c.b, p->sn_s2c.n, o);
    o->lib_x25519 = kitls_conn_group(p->c) == KITLS_GROUP_X25519 &&
                    kitls_conn_group(p->s) == KITLS_GROUP_X25519 && !kitls_conn_did_hrr(p->c);
    o->suite_ok = kitls_conn_suite(p->c) == want && kitls_conn_suite(p->s) == want;
    o->tickets = p->tickets;
    o->resumed_c = kitls_conn_is_resumed(p->c);
    o->resumed_s = kitls_conn_is_resumed(p->s);
    /* authenticated: the chain verified (mode REQUIRE) in this handshake or
     * in the one that issued the ticket; with VERIFY_NONE it stays 0 */
    o->chain = !o->resumed_c && kitls_conn_peer_authenticated(p->c);
}

static int kl_xfer(struct bl_pair *p, const uint8_t *data, uint8_t *out, size_t len, char *err,
                   size_t errn)
{
    const uint8_t *buf;
    size_t n, got = 0;
    int w = kitls_conn_write(p->c, data, len), r;
    if (w != (int)len) {
        set_err(err, errn, "kitls_conn_write: %s (%d)", kitls_strerror(w), w);
        return -1;
    }
    /* at most one record (plus header and tag) per delivery, as a socket
     * delivers them, reading what arrived after each.  The bytes go by
     * pointer (kitls_conn_read_from): a whole record is decrypted from
     * them into out, which has the byte past len that it needs for the
     * content type (libs.h); a partial one is buffered. */
    while ((n = kitls_conn_out_peek(p->c, &buf)) > 0) {
        size_t off = 0, used;
        if (n > REC_LEN + 256)
            n = REC_LEN + 256;
        while (off < n) {
            r = kitls_conn_read_from(p->s, buf + off, n - off, &used, out + got, len - got + 1);
            off += used;
            if (r == KITLS_E_WANT_READ)
                break;
            if (r <= 0 || (size_t)r > len - got) {
                set_err(err, errn, "kitls_conn_read_from: %s (%d)", kitls_strerror(r), r);
                return -1;
            }
            got += (size_t)r;
        }
        kitls_conn_out_consume(p->c, n);
        while (got < len) {
            r = kitls_conn_read(p->s, out + got, len - got);
            if (r == KITLS_E_WANT_READ)
                break;
            if (r <= 0) {
                set_err(err, errn, "kitls_conn_read: %s (%d)", kitls_strerror(r), r);
                return -1;
            }
            got += (size_t)r;
        }
    }
    if (got != len) {
        set_err(err, errn, "kitls: short read (%zu of %zu)", got, len);
        return -1;
    }
    return 0;
}

static void kl_release(struct bl_pair *p)
{
    kitls_conn_release_buffers(p->c);
    kitls_conn_release_buffers(p->s);
}

static void kl_drop_transport(struct bl_pair *p)
{
    sniff_free(&p->sn);
    sniff_free(&p->sn_s2c);
}

static void kl_side_free(struct bl_pair *p, int side)
{
    if (side == 0) {
        kitls_conn_free(p->c);
        p->c = NULL;
    } else {
        kitls_conn_free(p->s);
        p->s = NULL;
    }
}

static void kl_pair_free(struct bl_pair *p)
{
    if (p == NULL)
        return;
    kitls_conn_free(p->c);
    kitls_conn_free(p->s);
    kl_drop_transport(p);
    free(p);
}

const struct bench_lib BENCH_LIB_SYM = {
    BENCH_LIB_NAME, kl_version,        kl_setup,     kl_teardown,  kl_pair_new,
    kl_side_new,    kl_turn,           kl_settle,    kl_proof,     kl_xfer,
    kl_release,     kl_drop_transport, kl_side_free, kl_pair_free,
};
