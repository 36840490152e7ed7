/*
 * kitls-bench, GnuTLS as a library of the peers table (bench/libs.h): its
 * configs and in-memory pairs joined by GnuTLS's own transport hooks
 * (push/pull functions over two byte queues).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "bench.h"
#include "libs.h"

/* TLS 1.3 only, X25519 only, ECDSA P-256 with SHA-256, one AEAD. */
#define PRIO(aead)                                                                                 \
    "NONE:+VERS-TLS1.3:+" aead ":+AEAD:+SHA256:+GROUP-X25519:+SIGN-ECDSA-SECP256R1-SHA256:"        \
    "+CTYPE-X509:+COMP-NULL"

/* One direction of the link. */
struct q {
    uint8_t *b;
    size_t len, off, cap;
};

/* Each session's transport pointer is its end of the link. */
struct end {
    struct q *in, *out;
    gnutls_session_t s;
    struct sniff *sn; /* where a sniffing pair keeps this end's bytes */
};

struct bl_pair {
    int cfg, flags;
    gnutls_session_t c, s;
    struct q c2s, s2c;
    struct end ce, se;
    struct sniff sn, sn_s2c; /* client's and server's bytes (BL_SNIFF) */
    int tickets, have_c, have_s;
};

static gnutls_certificate_credentials_t ccred, scred[PEER_LEAVES];
static gnutls_priority_t prio_aes, prio_chacha;
static gnutls_datum_t tkey;  /* the server's ticket key */
static gnutls_datum_t gsess; /* the resumed row's newest session (chained) */

static const char *g_version(void)
{
    return gnutls_check_version(NULL);
}

static int g_fail(char *err, size_t errn, const char *what, int r)
{
    set_err(err, errn, "gnutls %s: %s (%d)", what, gnutls_strerror(r), r);
    return -1;
}

static int g_setup(char *err, size_t errn)
{
    gnutls_datum_t root = {(unsigned char *)ppki.root_pem, (unsigned)ppki.root_len};
    int r;
    if ((r = gnutls_global_init()) < 0)
        return g_fail(err, errn, "global_init", r);
    if ((r = gnutls_certificate_allocate_credentials(&ccred)) < 0)
        return g_fail(err, errn, "credentials", r);
    if ((r = gnutls_certificate_set_x509_trust_mem(ccred, &root, GNUTLS_X509_FMT_PEM)) < 1)
        return g_fail(err, errn, "trust root", r);
    for (int i = 0; i < PEER_LEAVES; i++) {
        const struct peer_leaf *l = &ppki.leaf[i];
        gnutls_datum_t chain = {(unsigned char *)l->chain_pem, (unsigned)l->chain_len};
        gnutls_datum_t key = {(unsigned char *)l->key_pem, (unsigned)l->key_len};
        if ((r = gnutls_certificate_allocate_credentials(&scred[i])) < 0 ||
            (r = gnutls_certificate_set_x509_key_mem(scred[i], &chain, &key, GNUTLS_X509_FMT_PEM)) <
                0)
            return g_fail(err, errn, "server chain and key", r);
    }
    if ((r = gnutls_priority_init(&prio_aes, PRIO("AES-128-GCM"), NULL)) < 0 ||
        (r = gnutls_priority_init(&prio_chacha, PRIO("CHACHA20-POLY1305"), NULL)) < 0)
        return g_fail(err, errn, "priority", r);
    if ((r = gnutls_session_ticket_key_generate(&tkey)) < 0)
        return g_fail(err, errn, "ticket key", r);
    return 0;
}

static void g_teardown(void)
{
    gnutls_free(gsess.data);
    gsess.data = NULL;
    gsess.size = 0;
    gnutls_free(tkey.data);
    tkey.data = NULL;
    if (prio_aes)
        gnutls_priority_deinit(prio_aes);
    if (prio_chacha)
        gnutls_priority_deinit(prio_chacha);
    prio_aes = prio_chacha = NULL;
    for (int i = 0; i < PEER_LEAVES; i++)
        if (scred[i]) {
            gnutls_certificate_free_credentials(scred[i]);
            scred[i] = NULL;
        }
    if (ccred)
        gnutls_certificate_free_credentials(ccred);
    ccred = NULL;
    gnutls_global_deinit();
}

static ssize_t g_push(gnutls_transport_ptr_t ptr, const void *data, size_t n)
{
    struct end *e = ptr;
    struct q *o = e->out;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        uint8_t *nb;
        while (cap < o->len + n)
            cap *= 2;
        if ((nb = realloc(o->b, cap)) == NULL) {
            gnutls_transport_set_errno(e->s, ENOMEM);
            return -1;
        }
        o->b = nb;
        o->cap = cap;
    }
    memcpy(o->b + o->len, data, n);
    o->len += n;
    if (e->sn != NULL)
        sniff_add(e->sn, data, n);
    return (ssize_t)n;
}

static ssize_t g_pull(gnutls_transport_ptr_t ptr, void *data, size_t n)
{
    struct end *e = ptr;
    struct q *i = e->in;
    size_t avail = i->len - i->off;
    if (avail == 0) {
        gnutls_transport_set_errno(e->s, EAGAIN);
        return -1;
    }
    if (n > avail)
        n = avail;
    memcpy(data, i->b + i->off, n);
    i->off += n;
    if (i->off == i->len)
        i->off = i->len = 0;
    return (ssize_t)n;
}

/* Client: NewSessionTicket messages received (proof: exactly 1). */
static int g_count_nst(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                       const gnutls_datum_t *msg)
{
    struct bl_pair *p = gnutls_session_get_ptr(s);
    (void)htype, (void)when, (void)incoming, (void)msg;
    p->tickets++;
    return 0;
}

static struct bl_pair *g_pair_new(int cfg, int flags)
{
    struct bl_pair *p = calloc(1, sizeof(*p));
    if (p == NULL)
        die("oom");
    p->cfg = cfg;
    p->flags = flags;
    return p;
}

static int g_side_new(struct bl_pair *p, int side, int leaf, char *err, size_t errn)
{
    unsigned fl = p->cfg == CFG_RESUMED ? 0 : GNUTLS_NO_TICKETS;
    gnutls_priority_t prio = p->cfg == CFG_CHACHA ? prio_chacha : prio_aes;
    gnutls_session_t x;
    int r;
    if ((r = gnutls_init(&x, (side == 0 ? GNUTLS_CLIENT : GNUTLS_SERVER) | fl)) < 0)
        return g_fail(err, errn, "init", r);
    gnutls_priority_set(x, prio);
    gnutls_transport_set_push_function(x, g_push);
    gnutls_transport_set_pull_function(x, g_pull);
    gnutls_session_set_ptr(x, p);
    if (side == 0) {
        p->c = x;
        p->have_c = 1;
        p->ce = (struct end){&p->s2c, &p->c2s, x, (p->flags & BL_SNIFF) ? &p->sn : NULL};
        gnutls_transport_set_ptr(x, &p->ce);
        gnutls_credentials_set(x, GNUTLS_CRD_CERTIFICATE, ccred);
        gnutls_server_name_set(x, GNUTLS_NAME_DNS, "localhost", 9);
        /* without it GnuTLS checks CertificateVerify but not the chain */
        if (p->cfg != CFG_CV)
            gnutls_session_set_verify_cert(x, "localhost", 0);
        if (p->cfg == CFG_RESUMED) {
            if (gsess.size > 0 && (r = gnutls_session_set_data(x, gsess.data, gsess.size)) < 0)
                return g_fail(err, errn, "set_data", r);
            gnutls_handshake_set_hook_function(x, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
                                               GNUTLS_HOOK_POST, g_count_nst);
        }
    } else {
        p->s = x;
        p->have_s = 1;
        p->se = (struct end){&p->c2s, &p->s2c, x, (p->flags & BL_SNIFF) ? &p->sn_s2c : NULL};
        gnutls_transport_set_ptr(x, &p->se);
        gnutls_credentials_set(x, GNUTLS_CRD_CERTIFICATE, scred[p->cfg == CFG_CHAIN ? leaf : 0]);
        if (p->cfg == CFG_RESUMED && (r = gnutls_session_ticket_enable_server(x, &tkey)) < 0)
            return g_fail(err, errn, "ticket_enable_server", r);
    }
    return 0;
}

static int g_turn(struct bl_pair *p, int side, char *err, size_t errn)
{
    int r = gnutls_handshake(side == 0 ? p->c : p->s);
    if (r == 0)
        return 1;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        return 0;
    return g_fail(err, errn, side ? "server handshake" : "client handshake", r);
}

static int g_settle(struct bl_pair *p, char *err, size_t errn)
{
    uint8_t b;
    int r = (int)gnutls_record_recv(p->c, &b, 1);
    if (r != GNUTLS_E_AGAIN)
        return g_fail(err, errn, "post-handshake read", r);
    if (p->cfg == CFG_RESUMED) {
        gnutls_free(gsess.data);
        gsess.data = NULL;
        gsess.size = 0;
        if ((r = gnutls_session_get_data2(p->c, &gsess)) < 0)
            return g_fail(err, errn, "get_data2", r);
    }
    return 0;
}

static void g_proof(struct bl_pair *p, struct bl_proof *o)
{
    gnutls_cipher_algorithm_t want =
        p->cfg == CFG_CHACHA ? GNUTLS_CIPHER_CHACHA20_POLY1305 : GNUTLS_CIPHER_AES_128_GCM;
    wire_scan(p->sn.b, p->sn.n, p->sn_s2c.b, p->sn_s2c.n, o);
    o->lib_x25519 = gnutls_group_get(p->c) == GNUTLS_GROUP_X25519 &&
                    gnutls_group_get(p->s) == GNUTLS_GROUP_X25519;
    o->suite_ok = gnutls_cipher_get(p->c) == want && gnutls_cipher_get(p->s) == want;
    o->tickets = p->tickets;
    o->resumed_c = gnutls_session_is_resumed(p->c) != 0;
    o->resumed_s = gnutls_session_is_resumed(p->s) != 0;
    /* gnutls_session_set_verify_cert verified the chain (status 0) */
    o->chain =
        !o->resumed_c && p->cfg != CFG_CV && gnutls_session_get_verify_cert_status(p->c) == 0;
}

static int g_xfer(struct bl_pair *p, const uint8_t *data, uint8_t *out, size_t len, char *err,
                  size_t errn)
{
    size_t sent = 0, got = 0;
    while (sent < len) {
        /* one record per call at most */
        ssize_t w = gnutls_record_send(p->c, data + sent, len - sent);
        if (w <= 0)
            return g_fail(err, errn, "record_send", (int)w);
        sent += (size_t)w;
        while (got < sent) {
            ssize_t r = gnutls_record_recv(p->s, out + got, len - got);
            if (r == GNUTLS_E_AGAIN)
                break;
            if (r <= 0)
                return g_fail(err, errn, "record_recv", (int)r);
            got += (size_t)r;
        }
    }
    if (got != len) {
        set_err(err, errn, "gnutls: short read (%zu of %zu)", got, len);
        return -1;
    }
    return 0;
}

static void g_drop_transport(struct bl_pair *p)
{
    free(p->c2s.b);
    free(p->s2c.b);
    memset(&p->c2s, 0, sizeof(p->c2s));
    memset(&p->s2c, 0, sizeof(p->s2c));
    sniff_free(&p->sn);
    sniff_free(&p->sn_s2c);
    p->ce.sn = p->se.sn = NULL;
}

static void g_side_free(struct bl_pair *p, int side)
{
    if (side == 0 && p->have_c) {
        gnutls_deinit(p->c);
        p->have_c = 0;
    } else if (side == 1 && p->have_s) {
        gnutls_deinit(p->s);
        p->have_s = 0;
    }
}

static void g_pair_free(struct bl_pair *p)
{
    if (p == NULL)
        return;
    g_side_free(p, 0);
    g_side_free(p, 1);
    g_drop_transport(p);
    free(p);
}

/* GnuTLS has no way to release a connection's buffers while idle: the
 * idle figure is the established one (release = NULL). */
const struct bench_lib bl_gnutls = {
    "gnutls", g_version, g_setup, g_teardown, g_pair_new,       g_side_new,  g_turn,
    g_settle, g_proof,   g_xfer,  NULL,       g_drop_transport, g_side_free, g_pair_free,
};
