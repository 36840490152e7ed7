/*
 * kitls-bench, rustls as a library of the peers table (bench/libs.h): the
 * C side of the staticlib bench/peers/rustls (rustls 0.20 from Debian's
 * crate registry), one call per step.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kitls-peer-rustls.h"
#include "libs.h"

#ifndef RUSTLS_PEER_VERSION
#define RUSTLS_PEER_VERSION "0.20"
#endif

struct bl_pair {
    int cfg, flags;
    struct kpeer_rustls_pair *rp;
};

static struct kpeer_rustls_ctx *rc[NCFG];

static const char *r_version(void)
{
    return RUSTLS_PEER_VERSION;
}

static int r_setup(char *err, size_t errn)
{
    for (int cfg = 0; cfg < NCFG; cfg++) {
        /* modes of the staticlib: 0 chain verified, 1 CV only, 2 resumed */
        int mode = cfg == CFG_CV ? 1 : cfg == CFG_RESUMED ? 2 : 0;
        rc[cfg] = kpeer_rustls_ctx_new((const uint8_t *)ppki.root_pem, ppki.root_len, mode,
                                       cfg == CFG_CHACHA, err, errn);
        if (rc[cfg] == NULL)
            return -1;
        for (int i = 0; i < (cfg == CFG_CHAIN ? PEER_LEAVES : 1); i++) {
            const struct peer_leaf *l = &ppki.leaf[i];
            if (kpeer_rustls_ctx_add_leaf(rc[cfg], (const uint8_t *)l->chain_pem, l->chain_len,
                                          (const uint8_t *)l->key_pem, l->key_len, err, errn) < 0)
                return -1;
        }
    }
    return 0;
}

static void r_teardown(void)
{
    for (int cfg = 0; cfg < NCFG; cfg++) {
        kpeer_rustls_ctx_free(rc[cfg]);
        rc[cfg] = NULL;
    }
}

static struct bl_pair *r_pair_new(int cfg, int flags)
{
    struct bl_pair *p = calloc(1, sizeof(*p));
    if (p == NULL)
        die("oom");
    p->cfg = cfg;
    p->flags = flags;
    p->rp = kpeer_rustls_pair_new(rc[cfg], (flags & BL_SNIFF) != 0);
    return p;
}

static int r_side_new(struct bl_pair *p, int side, int leaf, char *err, size_t errn)
{
    return kpeer_rustls_side_new(p->rp, rc[p->cfg], side, p->cfg == CFG_CHAIN ? leaf : 0, err,
                                 errn);
}

static int r_turn(struct bl_pair *p, int side, char *err, size_t errn)
{
    return kpeer_rustls_turn(p->rp, side, err, errn);
}

/* The client takes what the server sent last (its ticket, if any: the
 * one-entry client cache then holds it for the next pair). */
static int r_settle(struct bl_pair *p, char *err, size_t errn)
{
    return kpeer_rustls_turn(p->rp, 0, err, errn) < 0 ? -1 : 0;
}

static void r_proof(struct bl_pair *p, struct bl_proof *o)
{
    uint64_t v[5];
    const uint8_t *c2s = NULL, *s2c = NULL;
    size_t n = kpeer_rustls_sent(p->rp, 0, &c2s), m = kpeer_rustls_sent(p->rp, 1, &s2c);
    wire_scan(c2s, n, s2c, m, o);
    kpeer_rustls_proof(p->rp, rc[p->cfg], v);
    o->lib_x25519 = -1; /* rustls 0.20 does not say: the wire (ServerHello) does */
    o->suite_ok = v[4] == 1;
    o->tickets = (int)v[0];
    /* the server's ticketer decrypted the client's ticket; the client ran
     * no certificate check: both sides resumed */
    o->resumed_s = v[1] == 1;
    o->resumed_c = p->cfg == CFG_RESUMED && v[1] == 1 && v[2] == 0;
    o->chain = v[3] == 1;
}

static int r_xfer(struct bl_pair *p, const uint8_t *data, uint8_t *out, size_t len, char *err,
                  size_t errn)
{
    return kpeer_rustls_xfer(p->rp, data, out, len, err, errn);
}

static void r_drop_transport(struct bl_pair *p)
{
    kpeer_rustls_drop_transport(p->rp);
}

static void r_side_free(struct bl_pair *p, int side)
{
    kpeer_rustls_side_free(p->rp, side);
}

static void r_pair_free(struct bl_pair *p)
{
    if (p == NULL)
        return;
    kpeer_rustls_pair_free(p->rp);
    free(p);
}

/* rustls 0.20 keeps a fixed 18 KiB deframer buffer per connection and has
 * no call to release it while idle: the idle figure is the established
 * one (release = NULL). */
const struct bench_lib bl_rustls = {
    "rustls", r_version, r_setup, r_teardown, r_pair_new,       r_side_new,  r_turn,
    r_settle, r_proof,   r_xfer,  NULL,       r_drop_transport, r_side_free, r_pair_free,
};
