/*
 * kitls-bench, handshake scenarios: latency (P50/P95/P99) and handshakes/s
 * per scenario with the client's and the server's CPU time measured
 * separately, heap per connection (peak while handshaking, live after it,
 * idle with buffers released), and the raw public-key figures the
 * scenarios need for their libcrypto bound.
 *
 * Scenarios (kitls and OpenSSL libssl, same settings, same libcrypto):
 *   full-x25519-ecdsa     full handshake, X25519, ECDSA P-256 leaf
 *   full-p256-ecdsa       full handshake, P-256 ECDHE, ECDSA P-256 leaf
 *   full-x25519-rsa2048   full handshake, X25519, RSA-2048 leaf (RSA-PSS)
 *   full-x25519-ed25519   full handshake, X25519, Ed25519 leaf
 *   hrr-p256-x25519       the client offers a P-256 share, the server only
 *                         takes X25519: HelloRetryRequest, then X25519
 *   resumed-x25519        psk_dhe_ke resumption with X25519 (no
 *                         certificate), of a ticket from a full handshake
 *
 * Each leaf is signed by a CA of its own key type; the client trusts that
 * CA, sends SNI "localhost" and verifies the chain and the name.  No
 * tickets are issued except in the resumed scenario (one per handshake, as
 * a server would do, by both libraries).
 *
 * Timing: one handshake is a loop of turns; a client turn delivers the
 * server's pending bytes to the client and drives the client, a server
 * turn the reverse.  Each turn, and the creation and freeing of each side's
 * connection, is timed with CLOCK_THREAD_CPUTIME_ID and charged to that
 * side (moving bytes counts for the receiver).  Latency = client + server
 * CPU time of one handshake, i.e. the handshake's duration over a zero-delay
 * link with both ends on one core.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "scenarios.h"

const struct scen scens[NSCEN] = {
    {"full-x25519-ecdsa", "full, X25519, ECDSA P-256", KX_X25519, 0, CK_ECDSA, 0,
     0x0403 /* ecdsa_secp256r1_sha256 */, EVP_PKEY_EC},
    {"full-p256-ecdsa", "full, P-256, ECDSA P-256", KX_P256, 0, CK_ECDSA, 0,
     0x0403 /* ecdsa_secp256r1_sha256 */, EVP_PKEY_EC},
    {"full-x25519-rsa2048", "full, X25519, RSA-2048 (PSS)", KX_X25519, 0, CK_RSA, 0,
     0x0804 /* rsa_pss_rsae_sha256 */, EVP_PKEY_RSA_PSS},
    {"full-x25519-ed25519", "full, X25519, Ed25519", KX_X25519, 0, CK_ED25519, 0,
     0x0807 /* ed25519 */, EVP_PKEY_ED25519},
    {"hrr-p256-x25519", "HRR, P-256 share -> X25519, ECDSA", KX_X25519, 1, CK_ECDSA, 0,
     0x0403 /* ecdsa_secp256r1_sha256 */, EVP_PKEY_EC},
    {"resumed-x25519", "resumed, psk_dhe_ke, X25519", KX_X25519, 0, CK_ECDSA, 1, 0, 0},
};

int scen_on[NSCEN] = {1, 1, 1, 1, 1, 1};
struct scen_state st[NSCEN];

/* ------------------------------------------------------------------ */
/* PKI: one CA and one "localhost" leaf per key type                   */
/* ------------------------------------------------------------------ */

struct ck cks[NCK];
static int pki_done;

static EVP_PKEY *gen_key(int kind)
{
    EVP_PKEY *k = kind == CK_RSA       ? EVP_RSA_gen(2048)
                  : kind == CK_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                                       : EVP_EC_gen("P-256");
    if (k == NULL)
        die("key generation (%d)", kind);
    return k;
}

static char *pem_of(int (*w)(BIO *, const X509 *), X509 *x, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || !w(b, x))
        die("PEM_write");
    return bio_to_str(b, len);
}

static void make_scen_pki(void)
{
    BIO *b;
    if (pki_done)
        return;
    pki_done = 1;
    /* ECDSA: bench.c's CA and first leaf */
    cks[CK_ECDSA] = (struct ck){
        pki.ca_key,    leaves[0].key,     pki.ca,         leaves[0].x,       pki.ca_pem,
        leaves[0].pem, leaves[0].key_pem, pki.ca_pem_len, leaves[0].pem_len, leaves[0].key_pem_len};
    for (int k = CK_RSA; k < NCK; k++) {
        struct ck *c = &cks[k];
        c->ca_key = gen_key(k);
        c->ca = make_cert(c->ca_key, "kitls bench CA", NULL, c->ca_key, 100 + k, 1);
        c->key = gen_key(k);
        c->leaf = make_cert(c->key, "localhost", c->ca, c->ca_key, 200 + k, 0);
        c->ca_pem = pem_of(PEM_write_bio_X509, c->ca, &c->ca_pem_len);
        c->pem = pem_of(PEM_write_bio_X509, c->leaf, &c->pem_len);
        b = BIO_new(BIO_s_mem());
        if (b == NULL || !PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL))
            die("PEM_write_bio_PrivateKey");
        c->key_pem = bio_to_str(b, &c->key_pem_len);
    }
}

/* ------------------------------------------------------------------ */
/* Configs                                                             */
/* ------------------------------------------------------------------ */

static SSL_CTX *o_ctx(const struct scen *sc, int server)
{
    const struct ck *c = &cks[sc->cert];
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    const char *groups = server ? (sc->kx == KX_P256 ? "P-256" : "X25519")
                                : (sc->hrr             ? "P-256:X25519"
                                   : sc->kx == KX_P256 ? "P-256"
                                                       : "X25519");
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set1_groups_list(ctx, groups) ||
        !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256"))
        die("SSL_CTX for %s", sc->name);
    if (sc->resume) {
        SSL_CTX_set_num_tickets(ctx, 1);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    /* the resumed scenario's tickets are stateless and the client keeps
     * its session itself (SSL_get1_session): no cache on either side */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (server) {
        if (SSL_CTX_use_certificate(ctx, c->leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, c->key) != 1)
            die("server cert for %s", sc->name);
    } else {
        if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), c->ca))
            die("CA for %s", sc->name);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

#ifndef KITLS_BENCH_NO_KITLS
static kitls_config *k_ctx(const struct scen *sc, int server, char *err, size_t errn)
{
    static const uint16_t x[] = {KITLS_GROUP_X25519}, p[] = {KITLS_GROUP_SECP256R1},
                          hrr[] = {KITLS_GROUP_SECP256R1, KITLS_GROUP_X25519};
    static const uint16_t suite = 0x1301;
    const struct ck *c = &cks[sc->cert];
    kitls_config *cfg = kitls_config_new(server ? KITLS_ROLE_SERVER : KITLS_ROLE_CLIENT);
    int r;
    if (cfg == NULL) {
        set_err(err, errn, "kitls_config_new failed");
        return NULL;
    }
    if (!server && sc->hrr)
        r = kitls_config_set_groups(cfg, hrr, 2);
    else
        r = kitls_config_set_groups(cfg, sc->kx == KX_P256 ? p : x, 1);
    if (r < 0 || (r = kitls_config_set_suites(cfg, &suite, 1)) < 0)
        goto fail;
    if (server) {
        if ((r = kitls_config_set_tickets(cfg, sc->resume ? 1 : 0, 7200)) < 0 ||
            (r = kitls_config_add_cert_pem(cfg, c->pem, c->pem_len, c->key_pem, c->key_pem_len)) <
                0)
            goto fail;
    } else {
        if ((r = kitls_config_load_ca_pem(cfg, c->ca_pem, c->ca_pem_len)) < 0 ||
            (r = kitls_config_set_verify(cfg, KITLS_VERIFY_REQUIRE)) < 0)
            goto fail;
    }
    return cfg;
fail:
    set_err(err, errn, "%s config: %s (%d)", sc->name, kitls_strerror(r), r);
    kitls_config_free(cfg);
    return NULL;
}
#endif

/* ------------------------------------------------------------------ */
/* One handshake, each side's CPU time and heap charged to that side   */
/* ------------------------------------------------------------------ */

enum { M_TIME = 0, M_MEM = 1, M_IDLE = 2 }; /* M_IDLE: release buffers after */

struct hs_out {
    double c, s;                /* CPU seconds */
    long long peak[3], live[3]; /* with M_MEM / M_IDLE */
};

static double side_t0;

static void side_begin(int side)
{
    g_side = side;
    side_t0 = now_cpu();
}

static void side_end(double *acc)
{
    *acc += now_cpu() - side_t0;
    g_side = 0;
}

static void mem_reset(void)
{
    for (int i = 0; i < 3; i++)
        g_side_live[i] = g_side_peak[i] = 0;
}

static void mem_take(struct hs_out *o)
{
    for (int i = 0; i < 3; i++) {
        o->peak[i] = g_side_peak[i];
        o->live[i] = g_side_live[i];
    }
}

/* OpenSSL: counts ClientHellos the client writes (2 after an HRR). */
static void o_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                     SSL *ssl, void *arg)
{
    (void)version, (void)ssl;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 && ((const uint8_t *)buf)[0] == 1)
        ++*(int *)arg;
}

static int o_hs(int si, struct hs_out *o, int mode, int check, SSL_SESSION **get_sess, char *err,
                size_t errn)
{
    const struct scen *sc = &scens[si];
    struct scen_state *ss = &st[si];
    SSL *c, *s;
    BIO *bc = NULL, *bs = NULL;
    int cd = 0, sd = 0, rc = -1, n_ch = 0, nid = 0;
    uint8_t b;

    if (mode != M_TIME)
        mem_reset();
    side_begin(1);
    c = SSL_new(ss->oc);
    if (c != NULL) {
        SSL_set_connect_state(c);
        if (mode == M_IDLE)
            SSL_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
        if (!SSL_set_tlsext_host_name(c, "localhost") || !SSL_set1_host(c, "localhost") ||
            (ss->osess != NULL && !SSL_set_session(c, ss->osess))) {
            SSL_free(c);
            c = NULL;
        }
    }
    side_end(&o->c);
    side_begin(2);
    s = SSL_new(ss->os);
    if (s != NULL) {
        SSL_set_accept_state(s);
        if (mode == M_IDLE)
            SSL_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    }
    side_end(&o->s);
    /* the BIO pair is the transport (like socket buffers): neither side */
    if (c == NULL || s == NULL || !BIO_new_bio_pair(&bc, 0, &bs, 0)) {
        set_err(err, errn, "SSL_new / BIO pair failed");
        goto out;
    }
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    if (check)
        SSL_set_msg_callback(c, o_msg_cb), SSL_set_msg_callback_arg(c, &n_ch);
    for (int i = 0; i < 64 && !(cd && sd); i++) {
        int r = 0;
        if (!cd) {
            side_begin(1);
            r = ossl_step(c, &cd, err, errn);
            side_end(&o->c);
        }
        if (r == 0 && !sd) {
            side_begin(2);
            r = ossl_step(s, &sd, err, errn);
            side_end(&o->s);
        }
        if (r < 0)
            goto out;
    }
    if (!(cd && sd)) {
        set_err(err, errn, "openssl handshake did not complete");
        goto out;
    }
    if (mode != M_TIME || get_sess != NULL) {
        /* what a connection holds once the server's last flight (tickets)
         * has been read */
        side_begin(1);
        (void)SSL_read(c, &b, 1);
        side_end(&o->c);
        ERR_clear_error();
        mem_take(o);
    }
    if (get_sess != NULL)
        *get_sess = SSL_get1_session(c);
    if (check) {
        int g = SSL_get_negotiated_group(c);
        if (SSL_get_verify_result(c) != X509_V_OK ||
            g != (sc->kx == KX_P256 ? NID_X9_62_prime256v1 : NID_X25519) ||
            (n_ch == 2) != sc->hrr || SSL_session_reused(c) != sc->resume ||
            (!sc->resume &&
             (!SSL_get_peer_signature_type_nid(c, &nid) || nid != sc->ossl_sig_nid))) {
            set_err(err, errn,
                    "openssl %s: unexpected group %d, ClientHellos %d, reused %d, signature %d",
                    sc->name, g, n_ch, SSL_session_reused(c), nid);
            goto out;
        }
    }
    rc = 0;
out:
    side_begin(1);
    /* as after SSL_shutdown: SSL_free would otherwise mark the session
     * not resumable (ssl_clear_bad_session) */
    if (c != NULL)
        SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c);
    side_end(&o->c);
    side_begin(2);
    SSL_free(s);
    side_end(&o->s);
    return rc;
}

#ifndef KITLS_BENCH_NO_KITLS
static int k_hs(int si, struct hs_out *o, int mode, int check, kitls_session **get_sess, char *err,
                size_t errn)
{
    const struct scen *sc = &scens[si];
    struct scen_state *ss = &st[si];
    kitls_conn *c, *s;
    int cd = 0, sd = 0, rc = -1, r = 0;
    size_t moved = 0;
    uint8_t b;

    if (mode != M_TIME)
        mem_reset();
    side_begin(1);
    c = kitls_conn_new(ss->kc);
    if (c != NULL) {
        r = kitls_conn_set_server_name(c, "localhost");
        if (r == 0 && ss->ksess != NULL)
            r = kitls_conn_set_session(c, ss->ksess);
    }
    side_end(&o->c);
    side_begin(2);
    s = kitls_conn_new(ss->ks);
    side_end(&o->s);
    if (c == NULL || s == NULL || r < 0) {
        set_err(err, errn, "kitls_conn_new / set_server_name / set_session failed (%d)", r);
        goto out;
    }
    for (int i = 0; i < 64 && !(cd && sd); i++) {
        if (!cd) {
            side_begin(1);
            r = k_move(s, c, &moved);
            if (r == 0)
                r = k_step(c, &cd);
            side_end(&o->c);
        }
        if (r == 0 && !sd) {
            side_begin(2);
            r = k_move(c, s, &moved);
            if (r == 0)
                r = k_step(s, &sd);
            side_end(&o->s);
        }
        if (r < 0)
            break;
    }
    if (!(cd && sd)) {
        set_err(err, errn, "kitls %s: handshake: %s (%d); errors c=%d s=%d, alerts c=%d s=%d",
                sc->name, kitls_strerror(r), r, kitls_conn_error(c), kitls_conn_error(s),
                kitls_conn_peer_alert(c), kitls_conn_peer_alert(s));
        goto out;
    }
    if (mode != M_TIME || get_sess != NULL) {
        side_begin(1);
        r = k_move(s, c, &moved);
        if (r == 0)
            r = kitls_conn_read(c, &b, 1);
        side_end(&o->c);
        if (r != KITLS_E_WANT_READ) {
            set_err(err, errn, "kitls: post-handshake read: %s (%d)", kitls_strerror(r), r);
            goto out;
        }
        if (mode == M_IDLE) {
            side_begin(1);
            kitls_conn_release_buffers(c);
            side_end(&o->c);
            side_begin(2);
            kitls_conn_release_buffers(s);
            side_end(&o->s);
        }
        mem_take(o);
    }
    if (get_sess != NULL)
        *get_sess = kitls_conn_get_session(c);
    if (check &&
        (!kitls_conn_is_established(c) || !kitls_conn_is_established(s) ||
         kitls_conn_group(c) != (sc->kx == KX_P256 ? KITLS_GROUP_SECP256R1 : KITLS_GROUP_X25519) ||
         kitls_conn_did_hrr(c) != sc->hrr || kitls_conn_is_resumed(c) != sc->resume ||
         (!sc->resume &&
          (!kitls_conn_peer_authenticated(c) || kitls_conn_sigalg(c) != sc->sigalg)))) {
        set_err(err, errn, "kitls %s: unexpected group %04x, hrr %d, resumed %d, sigalg %04x",
                sc->name, kitls_conn_group(c), kitls_conn_did_hrr(c), kitls_conn_is_resumed(c),
                kitls_conn_sigalg(c));
        goto out;
    }
    rc = 0;
out:
    side_begin(1);
    kitls_conn_free(c);
    side_end(&o->c);
    side_begin(2);
    kitls_conn_free(s);
    side_end(&o->s);
    return rc;
}
#endif

static int one_hs(int si, int lib, struct hs_out *o, int mode, int check, char *err, size_t errn)
{
    memset(o, 0, sizeof(*o));
    if (lib == L_OSSL)
        return o_hs(si, o, mode, check, NULL, err, errn);
#ifndef KITLS_BENCH_NO_KITLS
    return k_hs(si, o, mode, check, NULL, err, errn);
#else
    set_err(err, errn, "built without kitls");
    return -1;
#endif
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

int scen_parse(const char *list)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", list);
    memset(scen_on, 0, sizeof(scen_on));
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < NSCEN; i++)
            if (strcmp(t, scens[i].name) == 0)
                scen_on[i] = found = 1;
        if (!found)
            return -1;
    }
    return 0;
}

void scen_list(FILE *f)
{
    for (int i = 0; i < NSCEN; i++)
        fprintf(f, "  %-22s %s\n", scens[i].name, scens[i].desc);
}

/* Configs for one library; for the resumed scenario, a session from one
 * full handshake (the client reads the server's ticket). */
static int lib_scen_setup(int si, int lib, char *err, size_t errn)
{
    struct scen_state *ss = &st[si];
    struct hs_out o;
    if (lib == L_OSSL) {
        ss->oc = o_ctx(&scens[si], 0);
        ss->os = o_ctx(&scens[si], 1);
        if (scens[si].resume) {
            memset(&o, 0, sizeof(o));
            if (o_hs(si, &o, M_TIME, 0, &ss->osess, err, errn) < 0)
                return -1;
            if (ss->osess == NULL || !SSL_SESSION_is_resumable(ss->osess)) {
                set_err(err, errn, "openssl: no resumable session after the priming handshake");
                return -1;
            }
        }
        return 0;
    }
#ifndef KITLS_BENCH_NO_KITLS
    if ((ss->kc = k_ctx(&scens[si], 0, err, errn)) == NULL ||
        (ss->ks = k_ctx(&scens[si], 1, err, errn)) == NULL)
        return -1;
    if (scens[si].resume) {
        memset(&o, 0, sizeof(o));
        if (k_hs(si, &o, M_TIME, 0, &ss->ksess, err, errn) < 0)
            return -1;
        if (ss->ksess == NULL) {
            set_err(err, errn, "kitls: no session after the priming handshake");
            return -1;
        }
    }
    return 0;
#else
    set_err(err, errn, "built without kitls");
    return -1;
#endif
}

void scen_setup(void)
{
    make_scen_pki();
    if (!opt.do_lat && !opt.do_mem)
        return;
    for (int si = 0; si < NSCEN; si++) {
        for (int lib = 0; lib < 2; lib++) {
            struct scen_state *ss = &st[si];
            struct hs_out o;
            int ok;
            if (!scen_on[si] || !lib_enabled(lib))
                continue;
            ok = lib_scen_setup(si, lib, ss->setup_err[lib], sizeof(ss->setup_err[lib])) == 0;
            /* functional check: group, HRR, resumption and signature */
            for (int i = 0; ok && i < 3; i++)
                ok = one_hs(si, lib, &o, M_TIME, 1, ss->setup_err[lib],
                            sizeof(ss->setup_err[lib])) == 0;
            ss->ready[lib] = ok;
        }
    }
}

void scen_free(void)
{
    for (int si = 0; si < NSCEN; si++) {
        struct scen_state *ss = &st[si];
        SSL_SESSION_free(ss->osess);
        SSL_CTX_free(ss->oc);
        SSL_CTX_free(ss->os);
#ifndef KITLS_BENCH_NO_KITLS
        kitls_session_free(ss->ksess);
        kitls_config_free(ss->kc);
        kitls_config_free(ss->ks);
#endif
        for (int lib = 0; lib < 2; lib++) {
            free(ss->lat[lib].sm.tot);
            free(ss->lat[lib].sm.cli);
            free(ss->lat[lib].sm.srv);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Latency                                                             */
/* ------------------------------------------------------------------ */

static void samples_add(struct samples *sm, double c, double s)
{
    if (sm->n == sm->cap) {
        long cap = sm->cap ? 2 * sm->cap : 4096;
        double *t = realloc(sm->tot, (size_t)cap * sizeof(double));
        double *a = t ? realloc(sm->cli, (size_t)cap * sizeof(double)) : NULL;
        double *b = a ? realloc(sm->srv, (size_t)cap * sizeof(double)) : NULL;
        if (b == NULL)
            die("oom (samples)");
        sm->tot = t, sm->cli = a, sm->srv = b, sm->cap = cap;
    }
    sm->tot[sm->n] = c + s;
    sm->cli[sm->n] = c;
    sm->srv[sm->n] = s;
    sm->n++;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* P50, P95, P99 in µs (nearest rank); sorts v. */
static void pct(double *v, long n, double out[3])
{
    static const double q[3] = {0.50, 0.95, 0.99};
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    for (int i = 0; i < 3; i++) {
        long k = (long)ceil(q[i] * (double)n) - 1;
        out[i] = n > 0 ? v[k < 0 ? 0 : k] * 1e6 : 0;
    }
}

#define LAT_SLICE 0.02 /* seconds of wall time per library before switching */

/* Does library lib need more handshakes in this round? */
static int lat_more(const struct lat_result *r, long n)
{
    return r->ok && (opt.count <= 0 || n < opt.count);
}

/*
 * One round of scenario si.  The libraries take turns in slices of
 * LAT_SLICE (the order flips every round) for 2 x --seconds in all, or
 * until each has done --count handshakes: a disturbance of the machine
 * that lasts longer than a slice then hits both alike, where it would
 * slow only one of them if each ran its second in one piece.
 */
static void lat_round(int si, int round)
{
    double t0 = now(), cpu[2] = {0, 0};
    long n[2] = {0, 0};
    int first = round & 1;
    struct lat_result *r;

    while (lat_more(&st[si].lat[0], n[0]) || lat_more(&st[si].lat[1], n[1])) {
        if (opt.count <= 0 && now() - t0 >= 2 * opt.seconds)
            break;
        for (int l = 0; l < 2; l++) {
            int lib = first ? 1 - l : l;
            double ts = now();
            r = &st[si].lat[lib];
            while (lat_more(r, n[lib])) {
                struct hs_out o;
                if (one_hs(si, lib, &o, M_TIME, 0, r->err, sizeof(r->err)) < 0) {
                    r->ok = 0;
                    break;
                }
                samples_add(&r->sm, o.c, o.s);
                cpu[lib] += o.c + o.s;
                n[lib]++;
                if (now() - ts >= LAT_SLICE)
                    break;
            }
        }
    }
    for (int lib = 0; lib < 2; lib++) {
        r = &st[si].lat[lib];
        r->rate_cpu[round] = cpu[lib] > 0 ? (double)n[lib] / cpu[lib] : 0;
        r->round_end[round] = r->sm.n;
    }
}

/* Bounded string copy between fields of st[] (snprintf with "%s" trips
 * -Werror=restrict there: gcc cannot tell the fields apart). */
static void copy_err(char *dst, size_t n, const char *src)
{
    size_t l = strnlen(src, n - 1);
    memmove(dst, src, l);
    dst[l] = 0;
}

void scen_bench_lat(void)
{
    for (int si = 0; si < NSCEN; si++)
        for (int lib = 0; lib < 2; lib++) {
            struct lat_result *r = &st[si].lat[lib];
            r->ok = scen_on[si] && lib_enabled(lib) && st[si].ready[lib];
            if (scen_on[si] && lib_enabled(lib) && !st[si].ready[lib])
                copy_err(r->err, sizeof(r->err), st[si].setup_err[lib]);
        }
    for (int round = 0; round < opt.rounds; round++)
        for (int si = 0; si < NSCEN; si++)
            lat_round(si, round);
    for (int si = 0; si < NSCEN; si++) {
        struct lat_result *k = &st[si].lat[0], *o = &st[si].lat[1];
        double rr[16], pr[16];
        for (int lib = 0; lib < 2; lib++) {
            struct lat_result *r = &st[si].lat[lib];
            for (int round = 0; r->ok && round < opt.rounds; round++) {
                long b = round ? r->round_end[round - 1] : 0, n = r->round_end[round] - b;
                double p[3], *v;
                if (n <= 0)
                    continue;
                if ((v = malloc((size_t)n * sizeof(double))) == NULL)
                    die("oom (percentiles)");
                memcpy(v, r->sm.tot + b, (size_t)n * sizeof(double));
                pct(v, n, p);
                r->p50_round[round] = p[0];
                free(v);
            }
        }
        /* per-round ratios: a round disturbed for one library is one
         * outlier among them, where it would shift that library's median */
        if (k->ok && o->ok) {
            for (int i = 0; i < opt.rounds; i++) {
                rr[i] = o->rate_cpu[i] > 0 ? k->rate_cpu[i] / o->rate_cpu[i] : 0;
                pr[i] = o->p50_round[i] > 0 ? k->p50_round[i] / o->p50_round[i] : 0;
            }
            st[si].paired_rate = median(rr, opt.rounds);
            st[si].paired_p50 = median(pr, opt.rounds);
        }
    }
    for (int si = 0; si < NSCEN; si++)
        for (int lib = 0; lib < 2; lib++) {
            struct lat_result *r = &st[si].lat[lib];
            double tmp[16];
            if (!r->ok)
                continue;
            memcpy(tmp, r->rate_cpu, sizeof(tmp));
            r->med_cpu = median(tmp, opt.rounds);
            pct(r->sm.tot, r->sm.n, r->p);
            pct(r->sm.cli, r->sm.n, r->pc);
            pct(r->sm.srv, r->sm.n, r->ps);
        }
}

/* ------------------------------------------------------------------ */
/* Memory per connection                                               */
/* ------------------------------------------------------------------ */

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Median over MEM_RUNS handshakes (after 3 warm-ups, tracked too, so that
 * lazily created shared objects are not charged to the measured ones). */
void scen_bench_mem(void)
{
    if (!g_heap_hooked)
        return;
    for (int si = 0; si < NSCEN; si++) {
        for (int lib = 0; lib < 2; lib++) {
            struct mem_result *m = &st[si].mem[lib];
            long long v[3][3][MEM_RUNS]; /* peak/live/idle x side x run */
            struct hs_out o;
            int ok = 1;
            if (!scen_on[si] || !lib_enabled(lib))
                continue;
            if (!st[si].ready[lib]) {
                copy_err(m->err, sizeof(m->err), st[si].setup_err[lib]);
                continue;
            }
            g_heap_track = 1;
            for (int i = 0; ok && i < 3; i++)
                ok = one_hs(si, lib, &o, M_MEM, 0, m->err, sizeof(m->err)) == 0;
            for (int i = 0; ok && i < MEM_RUNS; i++) {
                ok = one_hs(si, lib, &o, M_MEM, 0, m->err, sizeof(m->err)) == 0;
                for (int sd = 1; sd < 3; sd++) {
                    v[0][sd][i] = o.peak[sd];
                    v[1][sd][i] = o.live[sd];
                }
                ok = ok && one_hs(si, lib, &o, M_IDLE, 0, m->err, sizeof(m->err)) == 0;
                for (int sd = 1; sd < 3; sd++)
                    v[2][sd][i] = o.live[sd];
            }
            g_heap_track = 0;
            g_side = 0;
            if (!ok)
                continue;
            for (int sd = 1; sd < 3; sd++)
                for (int k = 0; k < 3; k++)
                    qsort(v[k][sd], MEM_RUNS, sizeof(long long), cmp_ll);
            for (int sd = 1; sd < 3; sd++) {
                m->peak[sd] = v[0][sd][MEM_RUNS / 2];
                m->live[sd] = v[1][sd][MEM_RUNS / 2];
                m->idle[sd] = v[2][sd][MEM_RUNS / 2];
            }
            m->ok = 1;
        }
    }
}
