/*
 * GnuTLS peer for kitls-bench (issue 16 groundwork prototype): a client and
 * a server of GnuTLS in one process joined in memory through GnuTLS's own
 * transport hooks (gnutls_transport_set_push_function / pull_function over
 * two byte queues), TLS 1.3, X25519 only, TLS_AES_128_GCM_SHA256, an ECDSA
 * P-256 leaf sent with its intermediate.
 *
 * Modes: 0 full handshake, chain verified to the root and hostname
 * (gnutls_session_set_verify_cert); 1 full handshake, chain not verified
 * (CertificateVerify is still checked: GnuTLS verifies it in every TLS 1.3
 * handshake, RFC 8446 section 4.4.3); 2 resumed (psk_dhe_ke, one ticket per
 * handshake, each connection resuming with the ticket of the previous one).
 *
 * API (for a C benchmark that interleaves libraries in one process):
 * gpeer_new(), gpeer_run(), gpeer_hold(), gpeer_drop(), gpeer_free().
 * Built with -DGPEER_MAIN it is also a stand-alone loop:
 *   gnutls-hs CERTDIR [seconds]     (CERTDIR from bench/peers/gen-certs.sh)
 * printing handshakes/s per mode and heap per established connection
 * (glibc mallinfo2 over 1000 held pairs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>

#include "gnutls-peer.h"

#define PRIO                                                                                       \
    "NONE:+VERS-TLS1.3:+AES-128-GCM:+AEAD:+SHA256:+GROUP-X25519:+SIGN-ECDSA-SECP256R1-SHA256:"     \
    "+CTYPE-X509:+COMP-NULL"

/* One direction of the in-memory link. */
struct q {
    uint8_t *b;
    size_t len, off, cap;
    uint64_t total; /* bytes ever pushed */
};

struct gpair {
    gnutls_session_t c, s;
    struct q c2s, s2c;
};

struct gpeer {
    int mode;
    gnutls_certificate_credentials_t ccred, scred;
    gnutls_priority_t prio;
    gnutls_datum_t tkey; /* server ticket key (mode 2) */
    gnutls_datum_t sess; /* the client's last session (mode 2) */
    void *held;          /* struct held[], below */
    long n_held, cap_held;
    struct gpeer_stats st;
};

/* Each session's transport pointer is its end of the link. */
struct end {
    struct q *in, *out;
    gnutls_session_t s;
};

static ssize_t push(gnutls_transport_ptr_t p, const void *data, size_t n)
{
    struct q *o = ((struct end *)p)->out;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n)
            cap *= 2;
        uint8_t *nb = realloc(o->b, cap);
        if (nb == NULL) {
            errno = ENOMEM;
            return -1;
        }
        o->b = nb;
        o->cap = cap;
    }
    memcpy(o->b + o->len, data, n);
    o->len += n;
    o->total += n;
    return (ssize_t)n;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *data, size_t n)
{
    struct end *e = p;
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

static int count_nst(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                     const gnutls_datum_t *msg)
{
    (void)htype, (void)when, (void)incoming, (void)msg;
    struct gpeer *g = gnutls_session_get_ptr(s);
    g->st.tickets++;
    return 0;
}

static void set_err(char *err, size_t errn, const char *what, int r)
{
    if (err != NULL && errn > 0)
        snprintf(err, errn, "%s: %s (%d)", what, gnutls_strerror(r), r);
}

struct gpeer *gpeer_new(const char *chain_pem, size_t chain_len, const char *key_pem,
                        size_t key_len, const char *root_pem, size_t root_len, int mode, char *err,
                        size_t errn)
{
    struct gpeer *g = calloc(1, sizeof(*g));
    gnutls_datum_t chain = {(unsigned char *)chain_pem, (unsigned)chain_len};
    gnutls_datum_t key = {(unsigned char *)key_pem, (unsigned)key_len};
    gnutls_datum_t root = {(unsigned char *)root_pem, (unsigned)root_len};
    int r;
    if (g == NULL)
        return NULL;
    g->mode = mode;
    if ((r = gnutls_certificate_allocate_credentials(&g->scred)) < 0 ||
        (r = gnutls_certificate_allocate_credentials(&g->ccred)) < 0) {
        set_err(err, errn, "credentials", r);
        goto fail;
    }
    if ((r = gnutls_certificate_set_x509_key_mem(g->scred, &chain, &key, GNUTLS_X509_FMT_PEM)) <
        0) {
        set_err(err, errn, "server chain and key", r);
        goto fail;
    }
    if ((r = gnutls_certificate_set_x509_trust_mem(g->ccred, &root, GNUTLS_X509_FMT_PEM)) < 1) {
        set_err(err, errn, "trust root", r);
        goto fail;
    }
    if ((r = gnutls_priority_init(&g->prio, PRIO, NULL)) < 0) {
        set_err(err, errn, "priority " PRIO, r);
        goto fail;
    }
    if (mode == 2 && (r = gnutls_session_ticket_key_generate(&g->tkey)) < 0) {
        set_err(err, errn, "ticket key", r);
        goto fail;
    }
    /* the priming handshake of the resumed mode (stores the first ticket) */
    if (gpeer_run(g, 1, err, errn) != 1)
        goto fail;
    memset(&g->st, 0, sizeof(g->st));
    return g;
fail:
    gpeer_free(g);
    return NULL;
}

static int step(gnutls_session_t s, int *done)
{
    int r;
    if (*done)
        return 0;
    r = gnutls_handshake(s);
    if (r == 0)
        *done = 1;
    else if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
        return r;
    return 0;
}

/* One handshake to the end; the client then reads the server's
 * NewSessionTicket (if any).  Transport ends are in ends[2]. */
static int one(struct gpeer *g, struct gpair *p, struct end ends[2], char *err, size_t errn)
{
    unsigned fl = g->mode == 2 ? 0 : GNUTLS_NO_TICKETS;
    int r, cd = 0, sd = 0;
    uint8_t b;

    memset(p, 0, sizeof(*p));
    if ((r = gnutls_init(&p->c, GNUTLS_CLIENT | fl)) < 0 ||
        (r = gnutls_init(&p->s, GNUTLS_SERVER | fl)) < 0) {
        set_err(err, errn, "gnutls_init", r);
        return -1;
    }
    gnutls_priority_set(p->c, g->prio);
    gnutls_priority_set(p->s, g->prio);
    gnutls_credentials_set(p->c, GNUTLS_CRD_CERTIFICATE, g->ccred);
    gnutls_credentials_set(p->s, GNUTLS_CRD_CERTIFICATE, g->scred);
    gnutls_server_name_set(p->c, GNUTLS_NAME_DNS, "localhost", 9);
    if (g->mode == 0)
        gnutls_session_set_verify_cert(p->c, "localhost", 0);
    if (g->mode == 2) {
        gnutls_session_ticket_enable_server(p->s, &g->tkey);
        if (g->sess.size > 0)
            gnutls_session_set_data(p->c, g->sess.data, g->sess.size);
        gnutls_session_set_ptr(p->c, g);
        gnutls_handshake_set_hook_function(p->c, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
                                           GNUTLS_HOOK_POST, count_nst);
    }
    ends[0] = (struct end){&p->s2c, &p->c2s, p->c};
    ends[1] = (struct end){&p->c2s, &p->s2c, p->s};
    gnutls_transport_set_ptr(p->c, &ends[0]);
    gnutls_transport_set_ptr(p->s, &ends[1]);
    gnutls_transport_set_push_function(p->c, push);
    gnutls_transport_set_pull_function(p->c, pull);
    gnutls_transport_set_push_function(p->s, push);
    gnutls_transport_set_pull_function(p->s, pull);
    for (int i = 0; i < 16 && !(cd && sd); i++) {
        if ((r = step(p->c, &cd)) < 0 || (r = step(p->s, &sd)) < 0) {
            set_err(err, errn, "handshake", r);
            return -1;
        }
    }
    if (!(cd && sd)) {
        set_err(err, errn, "handshake did not complete", 0);
        return -1;
    }
    if (g->mode == 2) {
        r = gnutls_record_recv(p->c, &b, 1);
        if (r != GNUTLS_E_AGAIN) {
            set_err(err, errn, "post-handshake read", r);
            return -1;
        }
        if (g->st.handshakes > 0 || g->sess.size > 0) {
            /* resumption confirmed on both sides (not for the priming one) */
            if (!gnutls_session_is_resumed(p->c) || !gnutls_session_is_resumed(p->s)) {
                set_err(err, errn, "not resumed", 0);
                return -1;
            }
            g->st.resumed++;
        }
        gnutls_free(g->sess.data);
        g->sess.data = NULL;
        g->sess.size = 0;
        if ((r = gnutls_session_get_data2(p->c, &g->sess)) < 0) {
            set_err(err, errn, "get_data2", r);
            return -1;
        }
    }
    if (gnutls_group_get(p->c) != GNUTLS_GROUP_X25519 ||
        gnutls_cipher_get(p->c) != GNUTLS_CIPHER_AES_128_GCM) {
        set_err(err, errn, "unexpected group or cipher", 0);
        return -1;
    }
    g->st.c2s += p->c2s.total;
    g->st.s2c += p->s2c.total;
    g->st.handshakes++;
    return 0;
}

static void pair_free(struct gpair *p)
{
    gnutls_deinit(p->c);
    gnutls_deinit(p->s);
    free(p->c2s.b);
    free(p->s2c.b);
}

long gpeer_run(struct gpeer *g, long n, char *err, size_t errn)
{
    struct gpair p;
    struct end ends[2];
    for (long i = 0; i < n; i++) {
        int r = one(g, &p, ends, err, errn);
        pair_free(&p);
        if (r < 0)
            return -1;
    }
    return n;
}

/* Held pairs keep their transport ends: the ends live in the pair's slot. */
struct held {
    struct gpair p;
    struct end ends[2];
};

long gpeer_hold(struct gpeer *g, long n, char *err, size_t errn)
{
    struct held *h;
    if (g->n_held + n > g->cap_held) {
        long cap = g->n_held + n;
        void *nb = realloc(g->held, (size_t)cap * sizeof(struct held));
        if (nb == NULL)
            return -1;
        g->held = nb;
        g->cap_held = cap;
        /* the array moved: re-point the held pairs' transport ends */
        h = (struct held *)g->held;
        for (long i = 0; i < g->n_held; i++) {
            h[i].ends[0] = (struct end){&h[i].p.s2c, &h[i].p.c2s, h[i].p.c};
            h[i].ends[1] = (struct end){&h[i].p.c2s, &h[i].p.s2c, h[i].p.s};
            gnutls_transport_set_ptr(h[i].p.c, &h[i].ends[0]);
            gnutls_transport_set_ptr(h[i].p.s, &h[i].ends[1]);
        }
    }
    h = (struct held *)g->held;
    for (long i = 0; i < n; i++) {
        struct held *x = &h[g->n_held];
        if (one(g, &x->p, x->ends, err, errn) < 0) {
            pair_free(&x->p);
            return -1;
        }
        gnutls_transport_set_ptr(x->p.c, &x->ends[0]);
        gnutls_transport_set_ptr(x->p.s, &x->ends[1]);
        /* the link's queues are the bench's, not GnuTLS's: empty now */
        free(x->p.c2s.b);
        free(x->p.s2c.b);
        memset(&x->p.c2s, 0, sizeof(x->p.c2s));
        memset(&x->p.s2c, 0, sizeof(x->p.s2c));
        g->n_held++;
    }
    return n;
}

void gpeer_drop(struct gpeer *g)
{
    struct held *h = (struct held *)g->held;
    for (long i = 0; i < g->n_held; i++)
        pair_free(&h[i].p);
    free(g->held);
    g->held = NULL;
    g->n_held = g->cap_held = 0;
}

void gpeer_stats(const struct gpeer *g, struct gpeer_stats *out)
{
    *out = g->st;
}

void gpeer_free(struct gpeer *g)
{
    if (g == NULL)
        return;
    gpeer_drop(g);
    gnutls_free(g->sess.data);
    gnutls_free(g->tkey.data);
    if (g->prio)
        gnutls_priority_deinit(g->prio);
    if (g->scred)
        gnutls_certificate_free_credentials(g->scred);
    if (g->ccred)
        gnutls_certificate_free_credentials(g->ccred);
    free(g);
}

#ifdef GPEER_MAIN
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *b;
    long n;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0) {
        perror(path);
        exit(1);
    }
    rewind(f);
    b = malloc((size_t)n + 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long long heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long long)mi.uordblks + (long long)mi.hblkhd;
}

int main(int argc, char **argv)
{
    static const char *const names[3] = {"full, chain verified", "full, chain not verified",
                                         "resumed"};
    static const int order[3] = {1, 0, 2};
    char err[256];
    size_t cl, kl, rl;
    const char *dir = argc > 1 ? argv[1] : NULL;
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    char *chain, *key, *root;
    if (dir == NULL) {
        fprintf(stderr, "usage: gnutls-hs CERTDIR [seconds]\n");
        return 2;
    }
    chain = slurp(dir, "chain.pem", &cl);
    key = slurp(dir, "leaf.key", &kl);
    root = slurp(dir, "root.pem", &rl);
    gnutls_global_init();
    for (int k = 0; k < 3; k++) {
        int mode = order[k];
        struct gpeer_stats s;
        struct gpeer *g = gpeer_new(chain, cl, key, kl, root, rl, mode, err, sizeof(err));
        long n = 0;
        double t0;
        long long h0;
        if (g == NULL || gpeer_run(g, 20, err, sizeof(err)) < 0) {
            fprintf(stderr, "gnutls %s: %s\n", names[mode], err);
            return 1;
        }
        t0 = now();
        while (now() - t0 < secs) {
            if (gpeer_run(g, 8, err, sizeof(err)) < 0) {
                fprintf(stderr, "gnutls %s: %s\n", names[mode], err);
                return 1;
            }
            n += 8;
        }
        t0 = now() - t0;
        gpeer_stats(g, &s);
        printf("gnutls %-26s %8.0f handshakes/s  (n=%llu tickets received=%llu resumed=%llu "
               "c2s=%llu s2c=%llu per hs)\n",
               names[mode], (double)n / t0, (unsigned long long)s.handshakes,
               (unsigned long long)s.tickets, (unsigned long long)s.resumed,
               (unsigned long long)(s.c2s / (s.handshakes ? s.handshakes : 1)),
               (unsigned long long)(s.s2c / (s.handshakes ? s.handshakes : 1)));
        if (mode == 0) {
            /* heap per established connection: 1000 pairs held, mallinfo2
             * before and after (the held-pair array itself excluded) */
            h0 = heap_used();
            if (gpeer_hold(g, 1000, err, sizeof(err)) < 0) {
                fprintf(stderr, "gnutls hold: %s\n", err);
                return 1;
            }
            printf("gnutls heap per established connection (1000 pairs, mallinfo2): %.1f KB\n",
                   (double)(heap_used() - h0 - 1000 * (long long)sizeof(struct held)) / 2000.0 /
                       1000.0);
            gpeer_drop(g);
        }
        gpeer_free(g);
    }
    gnutls_global_deinit();
    free(chain);
    free(key);
    free(root);
    return 0;
}
#endif
