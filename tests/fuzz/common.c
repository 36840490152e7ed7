/* Shared harness for the fuzz targets; see fuzz.h and docs/fuzzing.md. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define REQ(x)                                                                                     \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz harness: %s:%d: %s failed\n", __FILE__, __LINE__, #x);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

const struct kitls_ticket_key fz_ticket_key = {
    {'f', 'z', 't', 'k'},
    {0x46, 0x55, 0x5a, 0x5a, 0x2d, 0x74, 0x69, 0x63, 0x6b, 0x65, 0x74,
     0x2d, 0x6b, 0x65, 0x79, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
     0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10},
};

/* ---- seeded streams and libcrypto's RAND ---- */

static void stream_init(struct fz_stream *st, const char *label)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->label, sizeof(st->label), "kitls-fuzz/%s/", label);
    st->used = sizeof(st->block);
}

static void stream_fill(struct fz_stream *st, uint8_t *out, size_t n)
{
    while (n) {
        if (st->used == sizeof(st->block)) {
            uint8_t in[sizeof(st->label) + 8];
            size_t ll = strlen(st->label);
            memcpy(in, st->label, ll);
            for (int i = 0; i < 8; i++)
                in[ll + i] = (uint8_t)(st->ctr >> (56 - 8 * i));
            st->ctr++;
            REQ(EVP_Digest(in, ll + 8, st->block, NULL, EVP_sha256(), NULL));
            st->used = 0;
        }
        size_t take = sizeof(st->block) - st->used;
        take = take < n ? take : n;
        memcpy(out, st->block + st->used, take);
        st->used += take;
        out += take;
        n -= take;
    }
}

static struct fz_stream global_stream;
static struct fz_stream *cur_stream = &global_stream;

#if !defined(OPENSSL_NO_DEPRECATED_3_0)
static int ossl_bytes(unsigned char *buf, int num)
{
    if (num < 0)
        return 0;
    stream_fill(cur_stream, buf, (size_t)num);
    return 1;
}
static int ossl_status(void)
{
    return 1;
}
static const RAND_METHOD ossl_method = {NULL, ossl_bytes, NULL, NULL, ossl_bytes, ossl_status};
#endif

static int proto_rng(void *ctx, uint8_t *buf, size_t len)
{
    stream_fill(ctx, buf, len);
    return 0;
}

static int64_t fixed_time(void *ctx)
{
    return ((struct fz_side *)ctx)->now;
}

void fz_side_reset(struct fz_side *s, const char *label)
{
    char l[48];
    snprintf(l, sizeof(l), "%s/proto", label);
    stream_init(&s->proto, l);
    snprintf(l, sizeof(l), "%s/crypto", label);
    stream_init(&s->crypto, l);
    s->now = FZ_T0;
    fz_use(s);
}

void fz_use(struct fz_side *s)
{
    cur_stream = s ? &s->crypto : &global_stream;
}

/* ---- PKI: an Ed25519 CA and one leaf (DNS:localhost) for both roles ---- */

static char *ca_pem, *leaf_pem, *leaf_key_pem;
static size_t ca_len, leaf_len, leaf_key_len;

static void add_ext(X509 *c, X509 *issuer, int nid, const char *v)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, c, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
    REQ(ex && X509_add_ext(c, ex, -1) == 1);
    X509_EXTENSION_free(ex);
}

static X509 *make_cert(EVP_PKEY *k, const char *cn, X509 *issuer, EVP_PKEY *ik, long serial)
{
    X509 *c = X509_new();
    time_t t = (time_t)FZ_T0;
    REQ(c);
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_time_adj_ex(X509_getm_notBefore(c), -1, 0, &t);
    X509_time_adj_ex(X509_getm_notAfter(c), 30, 0, &t);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(c, k);
    if (!issuer) {
        add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c, c, NID_key_usage, "critical,keyCertSign");
    } else {
        add_ext(c, issuer, NID_key_usage, "critical,digitalSignature");
        add_ext(c, issuer, NID_subject_alt_name, "DNS:" FZ_SNI);
    }
    REQ(X509_sign(c, issuer ? ik : k, NULL) > 0);
    return c;
}

static char *bio_text(BIO *b, size_t *len)
{
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    REQ(n > 0 && s);
    memcpy(s, p, (size_t)n);
    s[n] = 0;
    *len = (size_t)n;
    BIO_free(b);
    return s;
}

static void make_pki(void)
{
    EVP_PKEY *ck = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *lk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    REQ(ck && lk);
    X509 *ca = make_cert(ck, "kitls fuzz CA", NULL, NULL, 1);
    X509 *leaf = make_cert(lk, FZ_SNI, ca, ck, 2);
    BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem()), *b3 = BIO_new(BIO_s_mem());
    REQ(b1 && b2 && b3 && PEM_write_bio_X509(b1, ca) == 1 && PEM_write_bio_X509(b2, leaf) == 1 &&
        PEM_write_bio_PrivateKey(b3, lk, NULL, NULL, 0, NULL, NULL) == 1);
    ca_pem = bio_text(b1, &ca_len);
    leaf_pem = bio_text(b2, &leaf_len);
    leaf_key_pem = bio_text(b3, &leaf_key_len);
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(lk);
}

void fz_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
#if !defined(OPENSSL_NO_DEPRECATED_3_0)
    REQ(RAND_set_rand_method(&ossl_method) == 1);
#else
    fprintf(stderr,
            "fuzz harness: libcrypto without deprecated APIs: runs are not deterministic\n");
#endif
    stream_init(&global_stream, "pki");
    cur_stream = &global_stream;
    make_pki();
}

/* ---- configs ---- */

static void common_config(struct fz_side *s, kitls_config *cfg)
{
    /* The classical default groups, also where libcrypto has ML-KEM (whose
     * default list leads with X25519MLKEM768): the seeds are the same
     * recorded handshakes on every libcrypto (tests/pq). */
    static const uint16_t groups[3] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1,
                                       KITLS_GROUP_SECP384R1};
    REQ(kitls_config_set_groups(cfg, groups, 3) == 0);
    REQ(kitls_config_set_rng(cfg, proto_rng, &s->proto) == 0);
    REQ(kitls_config_set_time(cfg, fixed_time, s) == 0);
}

kitls_config *fz_server_config(struct fz_side *s, int variant)
{
    static const uint16_t ec_groups[2] = {KITLS_GROUP_SECP256R1, KITLS_GROUP_SECP384R1};
    static const char *const alpn[2] = {"h2", "http/1.1"};
    fz_use(s);
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    REQ(cfg);
    common_config(s, cfg);
    REQ(kitls_config_add_cert_pem(cfg, leaf_pem, leaf_len, leaf_key_pem, leaf_key_len) == 0);
    REQ(kitls_config_load_ca_pem(cfg, ca_pem, ca_len) == 0);
    switch (variant) {
    case 1: REQ(kitls_config_set_verify(cfg, KITLS_VERIFY_REQUIRE) == 0); break;
    case 2:
        REQ(kitls_config_set_groups(cfg, ec_groups, 2) == 0);
        REQ(kitls_config_set_hrr_cookie(cfg, 1) == 0);
        break;
    case 3:
        REQ(kitls_config_set_ticket_keys(cfg, &fz_ticket_key, 1) == 0);
        REQ(kitls_config_set_early_data(cfg, 16384) == 0);
        REQ(kitls_config_set_tickets(cfg, 2, 7200) == 0);
        break;
    case 4:
        REQ(kitls_config_set_alpn(cfg, alpn, 2) == 0);
        REQ(kitls_config_set_record_size_limit(cfg, 512) == 0);
        REQ(kitls_config_set_psk_ke(cfg, 1) == 0);
        REQ(kitls_config_set_server_preference(cfg, 0) == 0);
        REQ(kitls_config_set_middlebox_compat(cfg, 0) == 0);
        REQ(kitls_config_set_ticket_keys(cfg, &fz_ticket_key, 1) == 0);
        break;
    default: break;
    }
    return cfg;
}

kitls_config *fz_client_config(struct fz_side *s, int variant)
{
    static const uint16_t chacha = KITLS_CHACHA20_POLY1305_SHA256, p384 = KITLS_GROUP_SECP384R1;
    static const char *const alpn[2] = {"http/1.1", "h2"};
    fz_use(s);
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    REQ(cfg);
    common_config(s, cfg);
    REQ(kitls_config_load_ca_pem(cfg, ca_pem, ca_len) == 0);
    REQ(kitls_config_add_cert_pem(cfg, leaf_pem, leaf_len, leaf_key_pem, leaf_key_len) == 0);
    switch (variant) {
    case 1:
        REQ(kitls_config_set_verify(cfg, KITLS_VERIFY_NONE) == 0);
        REQ(kitls_config_set_key_shares(cfg, 2) == 0);
        REQ(kitls_config_set_psk_ke(cfg, 1) == 0);
        REQ(kitls_config_set_middlebox_compat(cfg, 0) == 0);
        break;
    case 3:
        REQ(kitls_config_set_suites(cfg, &chacha, 1) == 0);
        REQ(kitls_config_set_groups(cfg, &p384, 1) == 0);
        break;
    case 4:
        /* No key share in ClientHello1: every handshake needs an HRR, and a
         * cookie-only HRR must be refused (review F3). */
        REQ(kitls_config_set_key_shares(cfg, 0) == 0);
        REQ(kitls_config_set_middlebox_compat(cfg, 0) == 0);
        break;
    case 2:
        REQ(kitls_config_set_early_data(cfg, 1) == 0);
        /* fall through */
    default:
        REQ(kitls_config_set_ocsp_policy(cfg, KITLS_OCSP_USE_IF_STAPLED) == 0);
        REQ(kitls_config_set_alpn(cfg, alpn, 2) == 0);
        REQ(kitls_config_set_record_size_limit(cfg, 1024) == 0);
        break;
    }
    return cfg;
}

kitls_conn *fz_conn(struct fz_side *s, kitls_config *cfg, int client_variant)
{
    fz_use(s);
    kitls_conn *c = kitls_conn_new(cfg);
    REQ(c);
    if (cfg->role == KITLS_ROLE_CLIENT && client_variant != 1)
        REQ(kitls_conn_set_server_name(c, FZ_SNI) == 0);
    return c;
}

/* ---- driving a connection ---- */

int fz_drive(struct fz_side *s, kitls_conn *c, int keep_out)
{
    uint8_t buf[4096];
    fz_use(s);
    for (int i = 0; i < 64 && !c->established && !c->error; i++) {
        int ret = kitls_conn_handshake(c);
        if (ret != KITLS_E_EARLY_DATA)
            break;
        while (kitls_conn_read_early_data(c, buf, sizeof(buf)) > 0)
            ;
    }
    while (c->established && !c->error && !c->rx.ops->app_err &&
           kitls_conn_read(c, buf, sizeof(buf)) > 0)
        ;
    if (!keep_out) {
        const uint8_t *p;
        kitls_conn_out_consume(c, kitls_conn_out_peek(c, &p));
    }
    return c->error;
}

static int feed_entry(struct fz_side *s, kitls_conn *c, uint8_t ctl, const uint8_t *p, size_t n,
                      int keep_out)
{
    int ret;
    fz_use(s);
    if (ctl == FZ_RAW) {
        ret = kitls_conn_feed(c, p, n);
    } else {
        uint8_t type = ctl & 0x7f;
        uint8_t *rec = malloc(KITLS_REC_HDR + n + 1 + KITLS_TAG_LEN);
        REQ(rec);
        memcpy(rec + KITLS_REC_HDR, p, n);
        int len = -1;
        if (!(ctl & FZ_PLAIN) && c->rx.suite && !c->rx.ops->app_err &&
            n + 1 + KITLS_TAG_LEN <= KITLS_MAX_CIPHERTEXT) {
            /* Seal with the receiver's own current keys and sequence. */
            struct kitls_rec_dir d;
            memset(&d, 0, sizeof(d));
            if (kitls_rec_set_secret(&d, c->rx.suite, c->rx.secret, 1) == 0) {
                d.seq = c->rx.seq;
                len = kitls_rec_seal(&d, rec, n, type, 0);
            }
            kitls_rec_wipe(&d);
        }
        if (len < 0) {
            rec[0] = type;
            rec[1] = 3;
            rec[2] = 3;
            rec[3] = (uint8_t)(n >> 8);
            rec[4] = (uint8_t)n;
            len = (int)(KITLS_REC_HDR + n);
        }
        ret = kitls_conn_feed(c, rec, (size_t)len);
        free(rec);
    }
    if (ret)
        return ret;
    return fz_drive(s, c, keep_out);
}

int fz_feed_entry(struct fz_side *s, kitls_conn *c, uint8_t ctl, const uint8_t *p, size_t n)
{
    return feed_entry(s, c, ctl, p, n, 0);
}

int fz_play(struct fz_side *s, kitls_conn *c, const uint8_t *buf, size_t len)
{
    int ret = 0;
    while (len && !ret) {
        uint8_t ctl = buf[0];
        size_t n = len >= 3 ? (size_t)buf[1] << 8 | buf[2] : 0;
        size_t hdr = len >= 3 ? 3 : len;
        buf += hdr;
        len -= hdr;
        n = n < len ? n : len;
        ret = fz_feed_entry(s, c, ctl, buf, n);
        buf += n;
        len -= n;
    }
    return ret;
}

/* ---- recording ---- */

void fz_buf_put(struct fz_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        REQ((b->p = realloc(b->p, cap)) != NULL);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void fz_buf_entry(struct fz_buf *b, uint8_t ctl, const uint8_t *p, size_t n)
{
    uint8_t h[3] = {ctl, (uint8_t)(n >> 8), (uint8_t)n};
    fz_buf_put(b, h, 3);
    fz_buf_put(b, p, n);
}

void fz_buf_free(struct fz_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Turn one record the peer sent into an entry, as cut would receive it. */
static void record_entry(kitls_conn *cut, const uint8_t *rec, size_t len, uint8_t *ctl,
                         uint8_t **pt, size_t *pt_len)
{
    *pt = malloc(len);
    REQ(*pt);
    if (rec[0] == CT_APPDATA && cut->rx.suite) {
        struct kitls_rec_dir d;
        uint8_t type;
        size_t n;
        memset(&d, 0, sizeof(d));
        memcpy(*pt, rec, len);
        int ok = kitls_rec_set_secret(&d, cut->rx.suite, cut->rx.secret, 0) == 0;
        d.seq = cut->rx.seq;
        ok = ok && kitls_rec_open(&d, *pt, len - KITLS_REC_HDR, &type, &n) == 0;
        kitls_rec_wipe(&d);
        if (ok) {
            memmove(*pt, *pt + KITLS_REC_HDR, n);
            *ctl = type;
            *pt_len = n;
            return;
        }
        /* Not under cut's keys (rejected 0-RTT): as received. */
        memcpy(*pt, rec, len);
        *ctl = FZ_RAW;
        *pt_len = len;
        return;
    }
    memcpy(*pt, rec + KITLS_REC_HDR, len - KITLS_REC_HDR);
    *ctl = cut->rx.suite ? (uint8_t)(FZ_PLAIN | rec[0]) : rec[0];
    *pt_len = len - KITLS_REC_HDR;
}

/* Move cut's output to the peer (raw), then the peer's output to cut, record by record. */
static size_t record_round(struct fz_side *cs, kitls_conn *cut, struct fz_side *ps,
                           kitls_conn *peer, struct fz_buf *out)
{
    const uint8_t *p;
    size_t moved = 0, n = kitls_conn_out_peek(cut, &p);
    if (n) {
        fz_use(ps);
        REQ(kitls_conn_feed(peer, p, n) == 0);
        kitls_conn_out_consume(cut, n);
        moved += n;
    }
    fz_drive(ps, peer, 1);
    n = kitls_conn_out_peek(peer, &p);
    uint8_t *copy = malloc(n + 1);
    REQ(copy);
    if (n)
        memcpy(copy, p, n);
    kitls_conn_out_consume(peer, n);
    moved += n;
    for (size_t off = 0; off + KITLS_REC_HDR <= n;) {
        size_t len = KITLS_REC_HDR + ((size_t)copy[off + 3] << 8 | copy[off + 4]);
        REQ(off + len <= n);
        uint8_t ctl, *pt;
        size_t pt_len;
        record_entry(cut, copy + off, len, &ctl, &pt, &pt_len);
        fz_buf_entry(out, ctl, pt, pt_len);
        feed_entry(cs, cut, ctl, pt, pt_len, 1);
        free(pt);
        off += len;
    }
    free(copy);
    return moved;
}

int fz_record(struct fz_side *cs, kitls_conn *cut, struct fz_side *ps, kitls_conn *peer, int post,
              struct fz_buf *out)
{
    fz_drive(cs, cut, 1);
    for (int i = 0; i < 32; i++)
        if (!record_round(cs, cut, ps, peer, out) && (cut->established || cut->error))
            break;
    int ok = cut->established && peer->established;
    if (ok && post) {
        fz_use(ps);
        if (post & FZ_POST_DATA)
            REQ(kitls_conn_write(peer, (const uint8_t *)"ping", 4) == 4);
        if ((post & FZ_POST_TICKET) && peer->server)
            REQ(kitls_conn_send_ticket(peer) == 0);
        if (post & FZ_POST_KEYUPDATE)
            REQ(kitls_conn_key_update(peer, 1) == 0);
        if (post & FZ_POST_DATA)
            REQ(kitls_conn_write(peer, (const uint8_t *)"pong", 4) == 4);
        if (post & FZ_POST_CLOSE)
            REQ(kitls_conn_close(peer) == 0);
        for (int i = 0; i < 4; i++)
            if (!record_round(cs, cut, ps, peer, out))
                break;
    }
    fz_use(NULL);
    return ok ? 0 : -1;
}

uint8_t *fz_make_session(size_t *len)
{
    struct fz_side cs, ps;
    struct fz_buf junk = {0};
    uint8_t *bytes = NULL;
    fz_side_reset(&ps, "session-server");
    kitls_config *scfg = fz_server_config(&ps, 3);
    kitls_conn *s = fz_conn(&ps, scfg, 0);
    fz_side_reset(&cs, "session-client");
    kitls_config *ccfg = fz_client_config(&cs, 2);
    kitls_conn *c = fz_conn(&cs, ccfg, 2);
    kitls_session *sess = NULL;
    if (fz_record(&cs, c, &ps, s, 0, &junk) == 0 && (sess = kitls_conn_get_session(c)) &&
        kitls_session_to_bytes(sess, NULL, 0, len) == 0 && (bytes = malloc(*len)) &&
        kitls_session_to_bytes(sess, bytes, *len, len) != 0) {
        free(bytes);
        bytes = NULL;
    }
    kitls_session_free(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
    fz_buf_free(&junk);
    fz_use(NULL);
    return bytes;
}

void fz_planted(const uint8_t *data, size_t size)
{
#ifdef FZ_PLANTED
    /* A deliberate heap overflow (and an abort where there is no ASan). */
    static const char magic[] = "KITLS-PLANTED-CRASH";
    if (size >= sizeof(magic) - 1 && !memcmp(data, magic, sizeof(magic) - 1)) {
        volatile char *p = malloc(4);
        p[4] = 1;
        free((void *)p);
        abort();
    }
#else
    (void)data;
    (void)size;
#endif
}

/* ---- connections under test and recorded streams ---- */

kitls_conn *fz_cut_new(struct fz_side *s, int server, int variant)
{
    fz_side_reset(s, server ? "server" : "client");
    kitls_config *cfg = server ? fz_server_config(s, variant) : fz_client_config(s, variant);
    kitls_conn *c = fz_conn(s, cfg, server ? 0 : variant);
    kitls_config_free(cfg); /* the connection holds a reference */
    return c;
}

void fz_cut_free(kitls_conn *c)
{
    /* FZ_DEBUG=1: how far each input got (for checking seeds). */
    if (c && getenv("FZ_DEBUG"))
        fprintf(stderr, "fuzz: %s state %d established %d resumed %d early %d hrr %d error %s\n",
                c->server ? "server" : "client", c->state, c->established, c->res.resumed,
                c->early.status, c->did_hrr, c->error ? kitls_strerror(c->error) : "none");
    kitls_conn_free(c);
    fz_use(NULL);
}

const struct fz_buf *fz_recorded(int server, int cut_variant, int peer_variant, int post)
{
    static struct {
        int key;
        struct fz_buf b;
    } cache[32];
    static size_t n_cache;
    int key = 1 + (server << 12 | cut_variant << 8 | peer_variant << 4 | post);
    for (size_t i = 0; i < n_cache; i++)
        if (cache[i].key == key)
            return &cache[i].b;
    REQ(n_cache < sizeof(cache) / sizeof(cache[0]));
    struct fz_side cs, ps;
    kitls_conn *cut = fz_cut_new(&cs, server, cut_variant);
    fz_side_reset(&ps, "peer");
    kitls_config *pcfg =
        server ? fz_client_config(&ps, peer_variant) : fz_server_config(&ps, peer_variant);
    kitls_conn *peer = fz_conn(&ps, pcfg, server ? peer_variant : 0);
    cache[n_cache].key = key;
    memset(&cache[n_cache].b, 0, sizeof(cache[n_cache].b));
    REQ(fz_record(&cs, cut, &ps, peer, post, &cache[n_cache].b) == 0);
    kitls_conn_free(peer);
    kitls_config_free(pcfg);
    fz_cut_free(cut);
    return &cache[n_cache++].b;
}

void fz_seed_handshake(const char *dir, const char *name, int cut_server, int cut_variant,
                       int peer_variant, int post, const uint8_t *sess, size_t sess_len)
{
    struct fz_side cs, ps;
    struct fz_buf b = {0};
    uint8_t v = (uint8_t)cut_variant;
    kitls_conn *cut = fz_cut_new(&cs, cut_server, cut_variant);
    fz_side_reset(&ps, "peer");
    kitls_config *pcfg =
        cut_server ? fz_client_config(&ps, peer_variant) : fz_server_config(&ps, peer_variant);
    kitls_conn *peer = fz_conn(&ps, pcfg, cut_server ? peer_variant : 0);
    fz_buf_put(&b, &v, 1);
    if (!cut_server && cut_variant == 2) {
        uint8_t h[2] = {(uint8_t)(sess_len >> 8), (uint8_t)sess_len};
        fz_buf_put(&b, h, 2);
        fz_buf_put(&b, sess, sess_len);
    }
    if (sess) {
        kitls_conn *client = cut_server ? peer : cut;
        kitls_session *s = kitls_session_from_bytes(sess, sess_len);
        if (s && kitls_conn_set_session(client, s) == 0)
            fz_write_early(client);
        kitls_session_free(s);
    }
    if (fz_record(&cs, cut, &ps, peer, post, &b))
        abort(); /* a seed must be a complete handshake */
    fz_write_file(dir, name, b.p, b.len);
    fz_buf_free(&b);
    kitls_conn_free(peer);
    kitls_config_free(pcfg);
    fz_cut_free(cut);
}

void fz_write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    REQ(f);
    REQ(fwrite(p, 1, n, f) == n);
    REQ(fclose(f) == 0);
    printf("wrote %s (%zu bytes)\n", path, n);
}

void fz_write_early(kitls_conn *c)
{
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    int n = kitls_conn_write_early_data(c, (const uint8_t *)req, sizeof(req) - 1);
    (void)n;
}
