/*
 * kitls-ab: the kitls side of the A/B gate, compiled twice (bench/Makefile.inc):
 * against the tree (-DAB_OPS=ab_ops_tree) and against the baseline commit
 * (-DAB_OPS=ab_ops_base -include kb-rename.h), so both copies run the very
 * same driver code.  Only kitls's public API is used.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kitls/kitls.h"

#include "ab.h"

#ifndef AB_OPS
#error "compile with -DAB_OPS=ab_ops_tree or -DAB_OPS=ab_ops_base"
#endif
#ifndef AB_NAME
#define AB_NAME "kitls"
#endif

static kitls_config *ccfg, *scfg_full, *scfg_res;
static kitls_session *sess; /* the resumed scenario's next session */
static kitls_conn *pc, *ps; /* the pair */
static uint8_t wbuf[AB_REC_LEN], rbuf[AB_REC_LEN];

static int fail(char *err, size_t errn, const char *what, int r)
{
    snprintf(err, errn, "%s %s: %s (%d)", AB_NAME, what, kitls_strerror(r), r);
    return -1;
}

static kitls_config *server_cfg(const struct ab_pki *pki, unsigned tickets, char *err, size_t errn)
{
    static const uint16_t groups[] = {KITLS_GROUP_X25519};
    static const uint16_t suite = KITLS_AES_128_GCM_SHA256;
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    int r = cfg == NULL ? KITLS_E_NOMEM : 0;
    if (r == 0)
        r = kitls_config_set_groups(cfg, groups, 1);
    if (r == 0)
        r = kitls_config_set_suites(cfg, &suite, 1);
    if (r == 0)
        r = kitls_config_set_tickets(cfg, tickets, 7200);
    if (r == 0)
        r = kitls_config_add_cert_pem(cfg, pki->chain_pem, pki->chain_len, pki->key_pem,
                                      pki->key_len);
    if (r < 0) {
        fail(err, errn, "server config", r);
        kitls_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Move all pending output of from into to. */
static int move(kitls_conn *from, kitls_conn *to, size_t *count)
{
    const uint8_t *buf;
    size_t n;
    while ((n = kitls_conn_out_peek(from, &buf)) > 0) {
        int r = kitls_conn_feed(to, buf, n);
        if (r < 0)
            return r;
        kitls_conn_out_consume(from, n);
        *count += n;
    }
    return 0;
}

static void drop(void)
{
    kitls_conn_free(pc);
    kitls_conn_free(ps);
    pc = ps = NULL;
}

/* Both sides step in turn until both are done; then the client reads what
 * the server sent last (tickets), as an application would. */
static int drive(struct ab_wire *w, char *err, size_t errn)
{
    int cd = 0, sd = 0, r = 0;
    uint8_t b;
    for (int i = 0; i < 32 && !(cd && sd); i++) {
        if (!cd && (r = move(ps, pc, &w->s2c)) == 0 && (r = kitls_conn_handshake(pc)) == 0)
            cd = 1;
        if (r < 0 && r != KITLS_E_WANT_READ)
            return fail(err, errn, "client handshake", r);
        if (!sd && (r = move(pc, ps, &w->c2s)) == 0 && (r = kitls_conn_handshake(ps)) == 0)
            sd = 1;
        if (r < 0 && r != KITLS_E_WANT_READ)
            return fail(err, errn, "server handshake", r);
    }
    if (!(cd && sd))
        return fail(err, errn, "handshake did not complete", r);
    if ((r = move(ps, pc, &w->s2c)) < 0 || (r = kitls_conn_read(pc, &b, 1)) != KITLS_E_WANT_READ)
        return fail(err, errn, "post-handshake read", r);
    return 0;
}

static int hs(enum ab_hs kind, struct ab_wire *w, char *err, size_t errn)
{
    int r = 0, res = kind == AB_RESUMED;
    drop();
    w->c2s = w->s2c = 0;
    pc = kitls_conn_new(ccfg);
    ps = kitls_conn_new(res ? scfg_res : scfg_full);
    if (pc == NULL || ps == NULL)
        return fail(err, errn, "conn_new", KITLS_E_NOMEM);
    if ((r = kitls_conn_set_server_name(pc, "localhost")) < 0 ||
        (res && (r = kitls_conn_set_session(pc, sess)) < 0))
        return fail(err, errn, "client setup", r);
    if (drive(w, err, errn) < 0)
        return -1;
    /* what the scenario claims, checked on every handshake */
    if (kitls_conn_group(pc) != KITLS_GROUP_X25519 || kitls_conn_did_hrr(pc) ||
        kitls_conn_is_resumed(pc) != res || kitls_conn_is_resumed(ps) != res ||
        !kitls_conn_peer_authenticated(pc)) {
        snprintf(err, errn, "%s: unexpected group %04x, hrr %d, resumed %d/%d, authenticated %d",
                 AB_NAME, kitls_conn_group(pc), kitls_conn_did_hrr(pc), kitls_conn_is_resumed(pc),
                 kitls_conn_is_resumed(ps), kitls_conn_peer_authenticated(pc));
        return -1;
    }
    if (res) {
        kitls_session *n = kitls_conn_get_session(pc);
        if (n == NULL || n == sess) {
            kitls_session_free(n);
            snprintf(err, errn, "%s: no new ticket after a resumed handshake", AB_NAME);
            return -1;
        }
        kitls_session_free(sess);
        sess = n;
    }
    return 0;
}

static int setup(const struct ab_pki *pki, char *err, size_t errn)
{
    static const uint16_t groups[] = {KITLS_GROUP_X25519};
    struct ab_wire w;
    int r;
    memset(wbuf, 0x5a, sizeof(wbuf));
    ccfg = kitls_config_new(KITLS_ROLE_CLIENT);
    if (ccfg == NULL)
        return fail(err, errn, "client config", KITLS_E_NOMEM);
    if ((r = kitls_config_set_groups(ccfg, groups, 1)) < 0 ||
        (r = kitls_config_load_ca_pem(ccfg, pki->root_pem, pki->root_len)) < 0 ||
        (r = kitls_config_set_verify(ccfg, KITLS_VERIFY_REQUIRE)) < 0)
        return fail(err, errn, "client config", r);
    if ((scfg_full = server_cfg(pki, 0, err, errn)) == NULL ||
        (scfg_res = server_cfg(pki, 1, err, errn)) == NULL)
        return -1;
    /* priming: a full handshake with the ticket-issuing server */
    drop();
    w.c2s = w.s2c = 0;
    pc = kitls_conn_new(ccfg);
    ps = kitls_conn_new(scfg_res);
    if (pc == NULL || ps == NULL)
        return fail(err, errn, "conn_new", KITLS_E_NOMEM);
    if ((r = kitls_conn_set_server_name(pc, "localhost")) < 0)
        return fail(err, errn, "set_server_name", r);
    if (drive(&w, err, errn) < 0)
        return -1;
    sess = kitls_conn_get_session(pc);
    drop();
    if (sess == NULL) {
        snprintf(err, errn, "%s: no session after the priming handshake", AB_NAME);
        return -1;
    }
    return 0;
}

static int records(long n, size_t len, char *err, size_t errn)
{
    size_t moved = 0;
    if (pc == NULL || !kitls_conn_is_established(pc))
        return fail(err, errn, "records: no established pair", KITLS_E_STATE);
    if (len == 0 || len > sizeof(wbuf))
        return fail(err, errn, "records: bad length", KITLS_E_INVALID_ARG);
    for (long i = 0; i < n; i++) {
        size_t got = 0;
        int r = kitls_conn_write(pc, wbuf, len);
        if (r != (int)len)
            return fail(err, errn, "write", r);
        if ((r = move(pc, ps, &moved)) < 0)
            return fail(err, errn, "feed", r);
        while (got < len) {
            r = kitls_conn_read(ps, rbuf + got, len - got);
            if (r <= 0)
                return fail(err, errn, "read", r);
            got += (size_t)r;
        }
        if (rbuf[0] != wbuf[0] || rbuf[len - 1] != wbuf[len - 1])
            return fail(err, errn, "records: data differ", KITLS_E_INTERNAL);
    }
    return 0;
}

static void idle(void)
{
    kitls_conn_release_buffers(pc);
    kitls_conn_release_buffers(ps);
}

static void teardown(void)
{
    drop();
    kitls_session_free(sess);
    kitls_config_free(ccfg);
    kitls_config_free(scfg_full);
    kitls_config_free(scfg_res);
    sess = NULL;
    ccfg = scfg_full = scfg_res = NULL;
}

const struct ab_ops AB_OPS = {AB_NAME, setup, hs, drop, idle, records, teardown};
