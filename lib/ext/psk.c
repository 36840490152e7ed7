/* Resumption and 0-RTT extensions: pre_shared_key (RFC 8446 §4.2.11),
 * psk_key_exchange_modes (§4.2.9) and early_data (§4.2.10).  The server's
 * judgement of an offered PSK is session.c's (kitls_psk_server_check),
 * that of early data early.c's. */
#include "../hs.h"

/*
 * Client: whether this ClientHello offers c->res.session, decided once, when
 * the first of the three is written (early_data).  Not for another server
 * or another verification policy, nor once its authentication is too old
 * (session_bind.c): a full handshake follows.
 */
static int psk_decide(kitls_conn *c, struct ext_ctx *x)
{
    kitls_session *s = c->res.session;
    c->res.psk_offered = 0;
    if (!s)
        return 0;
    const struct kitls_suite *suite = kitls_suite_find(s->suite);
    int64_t now = kitls_config_now(c->cfg);
    if (!kitls_session_offerable(c, now))
        return 0;
    /* The whole extensions block is limited to 2^16-1 bytes (RFC 8446
     * §4.1.2, §4.2.11): a ticket too long to fit (a server may issue up
     * to 2^16-1 bytes, §4.6.1) is not offered; a full handshake follows. */
    size_t psk_exts = 4 + 4 + 3 + 4 + 2 + 2 + s->ticket_len + 4 + 2 + 1 + KITLS_MAX_HASH;
    if (x->w->len - x->exts_at - 2 + psk_exts > 0xffff)
        return 0;
    /* Offer only a live ticket whose hash fits our suites (and, after an
     * HRR, the hash the server picked: §4.1.4). */
    int usable = 0;
    for (size_t i = 0; suite && i < c->cfg->n_suites; i++) {
        const struct kitls_suite *o = kitls_suite_find(c->cfg->suites[i]);
        usable |= o->md == suite->md;
    }
    /* `received` comes from the application (kitls_session_from_bytes):
     * the age is taken in unsigned arithmetic once now >= received, as
     * now - received can overflow int64_t. */
    if (!usable || now < s->received || (uint64_t)now - (uint64_t)s->received > s->lifetime ||
        (c->did_hrr && c->suite->md != suite->md))
        return 0;
    /* obfuscated_ticket_age: age in ms plus ticket_age_add, mod 2^32 (§4.2.11.1). */
    x->psk_age = (uint32_t)(((uint64_t)now - (uint64_t)s->received) * 1000u) + s->age_add;
    c->res.psk_offered = 1;
    return 0;
}

static int write_early(kitls_conn *c, struct ext_ctx *x)
{
    if (x->msg == EXT_IN_NST) {
        if (c->cfg->early_max) {
            size_t e = kitls_ext_open(c, x, EXT_EARLY_DATA);
            wr_u32(x->w, c->cfg->early_max); /* max_early_data_size */
            wr_end(x->w, e, 2);
        }
        return 0;
    }
    if (x->msg == EXT_IN_EE) {
        if (c->early.status == KITLS_EARLY_ACCEPTED)
            wr_end(x->w, kitls_ext_open(c, x, EXT_EARLY_DATA), 2);
        return 0;
    }
    GUARD(psk_decide(c, x));
    if (!c->res.psk_offered || !c->early.want || c->did_hrr)
        return 0;
    /* 0-RTT needs the very suite of the session, and never follows an HRR. */
    int same_suite = 0;
    for (size_t i = 0; i < c->cfg->n_suites; i++)
        same_suite |= c->cfg->suites[i] == c->res.session->suite;
    if (same_suite) {
        wr_end(x->w, kitls_ext_open(c, x, EXT_EARLY_DATA), 2);
        kitls_early_set_offered(c);
    }
    return 0;
}

/* Client, EncryptedExtensions: the server accepts our early data. */
static int parse_early_ee(kitls_conn *c, struct rd r)
{
    GUARD(rd_expect_empty(&r));
    return kitls_early_client_accept(c);
}

static int parse_early(kitls_conn *c, struct ext_ctx *x, struct rd r)
{
    if (x->msg == EXT_IN_EE)
        return parse_early_ee(c, r);
    if (x->msg == EXT_IN_NST) {
        GUARD(rd_u32(&r, &x->max_early));
        return rd_expect_empty(&r);
    }
    return 0; /* ClientHello: hs_server.c negotiate and early.c */
}

const struct ext_type kitls_ext_early_data = {
    .type = EXT_EARLY_DATA,
    .recv_in = EXT_IN_CH | EXT_IN_EE | EXT_IN_NST,
    .write = write_early,
    .parse = parse_early,
};

/* psk_key_exchange_modes (§4.2.9).  Sent in every ClientHello, with or
 * without a PSK: a server only issues tickets compatible with the modes
 * the client advertised, and without the extension it may send none. */
static int write_modes(kitls_conn *c, struct ext_ctx *x)
{
    size_t e = kitls_ext_open(c, x, EXT_PSK_KEY_EXCHANGE_MODES);
    wr_u8(x->w, c->cfg->psk_ke ? 2 : 1);
    wr_u8(x->w, 1); /* psk_dhe_ke */
    if (c->cfg->psk_ke)
        wr_u8(x->w, 0); /* psk_ke */
    wr_end(x->w, e, 2);
    return 0;
}

int kitls_ext_psk_modes_ch(kitls_conn *c, const struct ext_list *l, struct rd *modes)
{
    const struct ext_entry *m = kitls_ext_get(l, EXT_PSK_KEY_EXCHANGE_MODES);
    *modes = (struct rd){NULL, NULL};
    c->res.ticket_modes_ok = 0;
    if (!m)
        return 0;
    struct rd r = m->data, t;
    GUARD(rd_sub(&r, 1, modes));
    GUARD(rd_expect_empty(&r));
    if (rd_empty(modes))
        return KITLS_E_DECODE;
    /* Tickets only for a client that can use them (§4.2.9: servers
     * SHOULD NOT send tickets incompatible with the offered modes). */
    for (t = *modes; !rd_empty(&t);) {
        uint8_t mode;
        GUARD(rd_u8(&t, &mode));
        if (mode == 1 || (mode == 0 && c->cfg->psk_ke))
            c->res.ticket_modes_ok = 1;
    }
    return 0;
}

/* Read by the server with kitls_ext_psk_modes_ch(), in negotiate. */
const struct ext_type kitls_ext_psk_modes = {
    .type = EXT_PSK_KEY_EXCHANGE_MODES,
    .recv_in = EXT_IN_CH,
    .write = write_modes,
};

/* Client: one identity, its binder zero until kitls_psk_client_binder()
 * fills it in over the whole hello.  Server: the identity we took. */
static int write_psk(kitls_conn *c, struct ext_ctx *x)
{
    struct wr *w = x->w;
    if (x->msg == EXT_IN_SH) {
        if (c->res.resumed) {
            size_t e = kitls_ext_open(c, x, EXT_PRE_SHARED_KEY);
            wr_u16(w, 0); /* selected_identity: we only try the first */
            wr_end(w, e, 2);
        }
        return 0;
    }
    if (!c->res.psk_offered)
        return 0;
    const kitls_session *s = c->res.session;
    const struct kitls_suite *suite = kitls_suite_find(s->suite);
    size_t e = kitls_ext_open(c, x, EXT_PRE_SHARED_KEY);
    size_t ids = wr_begin(w, 2);
    size_t t = wr_begin(w, 2);
    wr_put(w, s->ticket, s->ticket_len);
    wr_end(w, t, 2);
    wr_u32(w, x->psk_age);
    wr_end(w, ids, 2);
    wr_u16(w, (uint16_t)(1 + suite->hash_len));
    wr_u8(w, suite->hash_len);
    x->binder_at = w->len;
    static const uint8_t zero[KITLS_MAX_HASH];
    wr_put(w, zero, suite->hash_len);
    wr_end(w, e, 2);
    return w->err;
}

/* Client, ServerHello: the server resumes. */
static int parse_psk(kitls_conn *c, struct ext_ctx *x, struct rd data)
{
    if (x->msg != EXT_IN_SH)
        return 0; /* ClientHello: kitls_psk_server_check() in negotiate */
    if (!c->res.psk_offered)
        return KITLS_E_UNSUPPORTED_EXTENSION;
    return kitls_psk_client_accept(c, data);
}

const struct ext_type kitls_ext_psk = {
    .type = EXT_PRE_SHARED_KEY,
    .recv_in = EXT_IN_CH | EXT_IN_SH,
    .write = write_psk,
    .parse = parse_psk,
};
