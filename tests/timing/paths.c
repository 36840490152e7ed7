/*
 * The secret-dependent paths of lib/, each reached through the function
 * the library itself runs (docs/side-channel-review.md has the review).
 *
 * Class design.  Where the secret is compared against attacker input
 * (Finished, binder, AEAD tags), both classes are mismatches, in the first
 * byte (class 0) or in the last (class 1): the outcome is the same and
 * public, and an early-exit comparison would take longer for class 1.
 * Where a secret is an input to a computation (key schedule), the classes
 * are the dudect pair fixed (all zero) vs uniformly random.  A match vs
 * mismatch pair would measure the work that follows a successful check,
 * which is no secret (the peer sees whether the handshake went on).
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"
#include "paths.h"

static int64_t fixed_now(void *ctx)
{
    (void)ctx;
    return INT64_C(1767225600); /* 2026-01-01T00:00:00Z */
}

/* Flip one byte of p at index i to another value. */
static void flip(uint8_t *p, size_t i)
{
    p[i] ^= tm_rand_nonzero();
}

/* ---- Finished (hs.c kitls_hs_recv_finished: HMAC, then CRYPTO_memcmp) ---- */

struct fin_ctx {
    kitls_config *cfg;
    kitls_conn *c;
    uint8_t vd[KITLS_MAX_HASH];
    size_t hl;
};

/* A server connection that expects the client's Finished under a random
 * client handshake secret and a random transcript. */
static int fin_setup(void **out, uint16_t suite_id)
{
    struct fin_ctx *x = calloc(1, sizeof(*x));
    uint8_t msgs[400], th[KITLS_MAX_HASH];
    TM_REQ(x && (x->cfg = kitls_config_new(KITLS_ROLE_SERVER)) && (x->c = kitls_conn_new(x->cfg)));
    kitls_conn *c = x->c;
    c->suite = kitls_suite_find(suite_id);
    x->hl = c->suite->hash_len;
    tm_rand_bytes(msgs, sizeof(msgs));
    tm_rand_bytes(c->hs->c_hs, sizeof(c->hs->c_hs));
    TM_REQ(!kitls_th_set_hash(&c->th, c->suite) && !kitls_th_update(&c->th, msgs, sizeof(msgs)));
    TM_REQ(!kitls_th_current(&c->th, th) && !kitls_ks_finished(c->suite, c->hs->c_hs, th, x->vd));
    *out = x;
    return 0;
}

static int fin256_setup(void **out)
{
    return fin_setup(out, KITLS_AES_128_GCM_SHA256);
}
static int fin384_setup(void **out)
{
    return fin_setup(out, KITLS_AES_256_GCM_SHA384);
}

static void fin_prepare(void *ctx, int cls, uint8_t *in)
{
    struct fin_ctx *x = ctx;
    memcpy(in, x->vd, x->hl);
    flip(in, cls ? x->hl - 1 : 0);
}

static int fin_run(void *ctx, uint8_t *in)
{
    struct fin_ctx *x = ctx;
    struct rd b;
    rd_init(&b, in, x->hl);
    return kitls_hs_recv_finished(x->c, &b);
}

static void fin_teardown(void *ctx)
{
    struct fin_ctx *x = ctx;
    kitls_conn_free(x->c);
    kitls_config_free(x->cfg);
    free(x);
}

/* ---- PSK binder and ticket (session.c kitls_psk_server_check,
 *      kitls_psk_server_ticket_suite -> ticket_open) ---- */

#define CH_MAX 512

struct psk_ctx {
    kitls_config *scfg, *ccfg;
    kitls_conn *srv, *cli;
    uint8_t ch[CH_MAX]; /* ClientHello with a valid binder */
    size_t ch_len;
    size_t ext_at, ext_len;       /* pre_shared_key extension body */
    size_t ticket_at, ticket_len; /* the identity: the sealed ticket */
    size_t binder_at, hl;
};

/*
 * A real ticket (kitls_ticket_send on a server connection), received by
 * a client connection (kitls_hs_recv_new_session_ticket derives its PSK), and a
 * ClientHello offering it with the binder the client computes
 * (kitls_psk_client_binder).  The server connection then checks it.
 */
static int psk_setup(void **out)
{
    struct psk_ctx *x = calloc(1, sizeof(*x));
    static const struct kitls_ticket_key tk = {{'t', 'm', 'n', 'g'},
                                               {0x74, 0x69, 0x6d, 0x69, 0x6e, 0x67}};
    TM_REQ(x && (x->scfg = kitls_config_new(KITLS_ROLE_SERVER)) &&
           (x->ccfg = kitls_config_new(KITLS_ROLE_CLIENT)));
    TM_REQ(!kitls_config_set_time(x->scfg, fixed_now, NULL) &&
           !kitls_config_set_time(x->ccfg, fixed_now, NULL) &&
           !kitls_config_set_ticket_keys(x->scfg, &tk, 1) &&
           !kitls_config_set_verify(x->ccfg, KITLS_VERIFY_NONE));
    TM_REQ((x->srv = kitls_conn_new(x->scfg)) && (x->cli = kitls_conn_new(x->ccfg)));
    const struct kitls_suite *suite = kitls_suite_find(KITLS_AES_128_GCM_SHA256);
    x->srv->suite = x->cli->suite = suite;
    x->hl = suite->hash_len;
    tm_rand_bytes(x->srv->res.res_master, sizeof(x->srv->res.res_master));
    memcpy(x->cli->res.res_master, x->srv->res.res_master, sizeof(x->srv->res.res_master));

    /* NewSessionTicket in a plaintext record: header(5), type(1) len(3). */
    TM_REQ(!kitls_ticket_send(x->srv));
    struct rd body;
    TM_REQ(x->srv->out.len > 9 && x->srv->out.buf[5] == HS_NEW_SESSION_TICKET);
    rd_init(&body, x->srv->out.buf + 9, x->srv->out.len - 9);
    TM_REQ(!kitls_hs_recv_new_session_ticket(x->cli, &body) && x->cli->res.new_session);
    kitls_session *s = x->cli->res.new_session;
    x->cli->res.session = kitls_session_up_ref(s);
    x->srv->out.len = 0;

    /* ClientHello: header, filler standing for the other fields and
     * extensions, then pre_shared_key (identities, binders) last. */
    struct wr w = {0};
    size_t at = kitls_hs_msg_begin(&w, HS_CLIENT_HELLO);
    uint8_t filler[200];
    tm_rand_bytes(filler, sizeof(filler));
    wr_put(&w, filler, sizeof(filler));
    x->ext_at = w.len;
    size_t ids = wr_begin(&w, 2), id = wr_begin(&w, 2);
    x->ticket_at = w.len;
    x->ticket_len = s->ticket_len;
    wr_put(&w, s->ticket, s->ticket_len);
    wr_end(&w, id, 2);
    wr_u32(&w, s->age_add);
    wr_end(&w, ids, 2);
    size_t bl = wr_begin(&w, 2), b = wr_begin(&w, 1);
    x->binder_at = w.len;
    static const uint8_t zero[KITLS_MAX_HASH];
    wr_put(&w, zero, x->hl);
    wr_end(&w, b, 1);
    wr_end(&w, bl, 2);
    x->ext_len = w.len - x->ext_at;
    wr_end(&w, at, 3);
    TM_REQ(!w.err && w.len <= CH_MAX);
    TM_REQ(!kitls_psk_client_binder(x->cli, &w, at - 1, x->binder_at));
    memcpy(x->ch, w.buf, w.len);
    x->ch_len = w.len;
    wr_free(&w);

    /* The genuine ClientHello resumes: the setup is right. */
    static const uint8_t dhe_ke = 1;
    struct rd ext, modes;
    rd_init(&ext, x->ch + x->ext_at, x->ext_len);
    rd_init(&modes, &dhe_ke, 1);
    x->srv->msg = x->ch;
    x->srv->msg_len = x->ch_len;
    TM_REQ(kitls_psk_server_ticket_suite(x->srv, ext) == suite->id);
    TM_REQ(!kitls_psk_server_check(x->srv, ext, &modes) && x->srv->res.resumed);
    kitls_session_free(x->srv->res.session);
    x->srv->res.session = NULL;
    x->srv->res.resumed = 0;
    *out = x;
    return 0;
}

static void psk_teardown(void *ctx)
{
    struct psk_ctx *x = ctx;
    kitls_conn_free(x->srv);
    kitls_conn_free(x->cli);
    kitls_config_free(x->scfg);
    kitls_config_free(x->ccfg);
    free(x);
}

static void binder_prepare(void *ctx, int cls, uint8_t *in)
{
    struct psk_ctx *x = ctx;
    memcpy(in, x->ch, x->ch_len);
    flip(in, x->binder_at + (cls ? x->hl - 1 : 0));
}

static int binder_run(void *ctx, uint8_t *in)
{
    static const uint8_t dhe_ke = 1;
    struct psk_ctx *x = ctx;
    struct rd ext, modes;
    rd_init(&ext, in + x->ext_at, x->ext_len);
    rd_init(&modes, &dhe_ke, 1);
    x->srv->msg = in;
    return kitls_psk_server_check(x->srv, ext, &modes);
}

/* Ticket layout (session.c): id(4) nonce(12) ciphertext tag(16). */
static void ticket_tag_prepare(void *ctx, int cls, uint8_t *in)
{
    struct psk_ctx *x = ctx;
    memcpy(in, x->ch, x->ch_len);
    flip(in, x->ticket_at + x->ticket_len - (cls ? 1 : KITLS_TAG_LEN));
}

static void ticket_ct_prepare(void *ctx, int cls, uint8_t *in)
{
    struct psk_ctx *x = ctx;
    size_t ct = x->ticket_len - 16 - KITLS_TAG_LEN;
    memcpy(in, x->ch, x->ch_len);
    if (cls)
        flip(in, x->ticket_at + x->ticket_len - KITLS_TAG_LEN + tm_rand64() % KITLS_TAG_LEN);
    else
        flip(in, x->ticket_at + 16 + tm_rand64() % ct);
}

static int ticket_run(void *ctx, uint8_t *in)
{
    struct psk_ctx *x = ctx;
    struct rd ext;
    rd_init(&ext, in + x->ext_at, x->ext_len);
    return kitls_psk_server_ticket_suite(x->srv, ext);
}

/* ---- record protection (record.c kitls_rec_open) ---- */

#define REC_INNER 256 /* TLSInnerPlaintext: content, type, padding */
#define REC_LEN (KITLS_REC_HDR + REC_INNER + KITLS_TAG_LEN)

struct rec_ctx {
    struct kitls_rec_dir enc, dec;
};

static int rec_setup(void **out, uint16_t suite_id)
{
    struct rec_ctx *x = calloc(1, sizeof(*x));
    uint8_t secret[KITLS_MAX_HASH];
    TM_REQ(x && !kitls_alg_init());
    const struct kitls_suite *s = kitls_suite_find(suite_id);
    TM_REQ(s != NULL);
    tm_rand_bytes(secret, sizeof(secret));
    TM_REQ(!kitls_rec_set_secret(&x->enc, s, secret, 1) &&
           !kitls_rec_set_secret(&x->dec, s, secret, 0));
    *out = x;
    return 0;
}

static int rec_aes128_setup(void **out)
{
    return rec_setup(out, KITLS_AES_128_GCM_SHA256);
}
static int rec_aes256_setup(void **out)
{
    return rec_setup(out, KITLS_AES_256_GCM_SHA384);
}
static int rec_chacha_setup(void **out)
{
    return rec_setup(out, KITLS_CHACHA20_POLY1305_SHA256);
}

static void rec_teardown(void *ctx)
{
    struct rec_ctx *x = ctx;
    kitls_rec_wipe(&x->enc);
    kitls_rec_wipe(&x->dec);
    free(x);
}

/* A record of `content` random bytes of application data and `pad` zeros,
 * sealed as record number 0. */
static void rec_make(struct rec_ctx *x, uint8_t *in, size_t content, size_t pad)
{
    tm_rand_bytes(in + KITLS_REC_HDR, content);
    x->enc.seq = 0;
    TM_REQ(kitls_rec_seal(&x->enc, in, content, CT_APPDATA, pad) == REC_LEN);
}

static void rec_tag_prepare(void *ctx, int cls, uint8_t *in)
{
    rec_make(ctx, in, REC_INNER - 1, 0);
    flip(in, REC_LEN - (cls ? 1 : KITLS_TAG_LEN));
}

/* Same record length; the content is all but the type (class 0) or one
 * byte followed by REC_INNER - 2 bytes of padding (class 1). */
static void rec_pad_prepare(void *ctx, int cls, uint8_t *in)
{
    if (cls)
        rec_make(ctx, in, 1, REC_INNER - 2);
    else
        rec_make(ctx, in, REC_INNER - 1, 0);
}

static int rec_open_run(void *ctx, uint8_t *in)
{
    struct rec_ctx *x = ctx;
    uint8_t type;
    size_t len;
    x->dec.seq = 0;
    return kitls_rec_open(&x->dec, in, REC_LEN - KITLS_REC_HDR, &type, &len);
}

/* ---- key schedule (keysched.c) ---- */

struct ks_ctx {
    const struct kitls_suite *suite;
    struct kitls_keysched early; /* at KS_EARLY, no PSK */
    uint8_t th[KITLS_MAX_HASH];
    struct kitls_rec_dir dir;
};

static int ks_setup_suite(void **out, uint16_t suite_id)
{
    struct ks_ctx *x = calloc(1, sizeof(*x));
    TM_REQ(x && !kitls_alg_init() && (x->suite = kitls_suite_find(suite_id)));
    TM_REQ(!kitls_ks_early(&x->early, x->suite, NULL, 0));
    tm_rand_bytes(x->th, sizeof(x->th));
    uint8_t secret[KITLS_MAX_HASH] = {0};
    TM_REQ(!kitls_rec_set_secret(&x->dir, x->suite, secret, 0));
    *out = x;
    return 0;
}

static int ks_setup(void **out)
{
    return ks_setup_suite(out, KITLS_AES_128_GCM_SHA256);
}
static int ks_chacha_setup(void **out)
{
    return ks_setup_suite(out, KITLS_CHACHA20_POLY1305_SHA256);
}

static void ks_teardown(void *ctx)
{
    struct ks_ctx *x = ctx;
    kitls_rec_wipe(&x->dir);
    free(x);
}

/* Fixed (all-zero) vs random secret of KITLS_MAX_HASH bytes. */
static void secret_prepare(void *ctx, int cls, uint8_t *in)
{
    (void)ctx;
    if (cls)
        tm_rand_bytes(in, KITLS_MAX_HASH);
    else
        memset(in, 0, KITLS_MAX_HASH);
}

static int ks_early_run(void *ctx, uint8_t *in)
{
    struct ks_ctx *x = ctx;
    struct kitls_keysched ks;
    return kitls_ks_early(&ks, x->suite, in, x->suite->hash_len);
}

static int ks_handshake_run(void *ctx, uint8_t *in)
{
    struct ks_ctx *x = ctx;
    struct kitls_keysched ks = x->early;
    return kitls_ks_handshake(&ks, in, 32);
}

static int ks_derive_run(void *ctx, uint8_t *in)
{
    struct ks_ctx *x = ctx;
    struct kitls_keysched ks = {x->suite, KS_HANDSHAKE, {0}};
    uint8_t out[KITLS_MAX_HASH];
    memcpy(ks.secret, in, x->suite->hash_len);
    return kitls_ks_derive(&ks, "c hs traffic", x->th, out);
}

static int ks_finished_run(void *ctx, uint8_t *in)
{
    struct ks_ctx *x = ctx;
    uint8_t out[KITLS_MAX_HASH];
    return kitls_ks_finished(x->suite, in, x->th, out);
}

static int ks_traffic_run(void *ctx, uint8_t *in)
{
    struct ks_ctx *x = ctx;
    return kitls_rec_set_secret(&x->dir, x->suite, in, 0);
}

/* ---- the table ---- */

#define DE KITLS_E_DECRYPT_ERROR
#define BM KITLS_E_BAD_RECORD_MAC

const struct tm_path tm_lib_paths[] = {
    {"fin-sha256",
     "hs.c recv_fin: Finished verify_data wrong in first vs last byte (32 B)",
     KITLS_MAX_HASH,
     {DE, DE},
     fin256_setup,
     fin_prepare,
     fin_run,
     fin_teardown},
    {"fin-sha384",
     "hs.c recv_fin: Finished verify_data wrong in first vs last byte (48 B)",
     KITLS_MAX_HASH,
     {DE, DE},
     fin384_setup,
     fin_prepare,
     fin_run,
     fin_teardown},
    {"binder-sha256",
     "session.c psk_server_check: binder wrong in first vs last byte",
     CH_MAX,
     {DE, DE},
     psk_setup,
     binder_prepare,
     binder_run,
     psk_teardown},
    {"ticket-tag",
     "session.c ticket_open: ticket tag wrong in first vs last byte",
     CH_MAX,
     {0, 0},
     psk_setup,
     ticket_tag_prepare,
     ticket_run,
     psk_teardown},
    {"ticket-ct",
     "session.c ticket_open: tampered ticket ciphertext vs tampered tag",
     CH_MAX,
     {0, 0},
     psk_setup,
     ticket_ct_prepare,
     ticket_run,
     psk_teardown},
    {"rec-tag-aes128gcm",
     "record.c rec_open: AEAD tag wrong in first vs last byte",
     REC_LEN,
     {BM, BM},
     rec_aes128_setup,
     rec_tag_prepare,
     rec_open_run,
     rec_teardown},
    {"rec-tag-aes256gcm",
     "record.c rec_open: AEAD tag wrong in first vs last byte",
     REC_LEN,
     {BM, BM},
     rec_aes256_setup,
     rec_tag_prepare,
     rec_open_run,
     rec_teardown},
    {"rec-tag-chacha20",
     "record.c rec_open: AEAD tag wrong in first vs last byte",
     REC_LEN,
     {BM, BM},
     rec_chacha_setup,
     rec_tag_prepare,
     rec_open_run,
     rec_teardown},
    {"rec-pad",
     "record.c rec_open: 255 B content + 0 padding vs 1 B content + 254 padding",
     REC_LEN,
     {0, 0},
     rec_aes128_setup,
     rec_pad_prepare,
     rec_open_run,
     rec_teardown},
    {"ks-early-psk",
     "keysched.c ks_early: PSK all-zero vs random",
     KITLS_MAX_HASH,
     {0, 0},
     ks_setup,
     secret_prepare,
     ks_early_run,
     ks_teardown},
    {"ks-handshake",
     "keysched.c ks_handshake: (EC)DHE secret all-zero vs random",
     KITLS_MAX_HASH,
     {0, 0},
     ks_setup,
     secret_prepare,
     ks_handshake_run,
     ks_teardown},
    {"ks-derive",
     "keysched.c ks_derive: handshake secret all-zero vs random",
     KITLS_MAX_HASH,
     {0, 0},
     ks_setup,
     secret_prepare,
     ks_derive_run,
     ks_teardown},
    {"ks-finished",
     "keysched.c ks_finished: base secret all-zero vs random",
     KITLS_MAX_HASH,
     {0, 0},
     ks_setup,
     secret_prepare,
     ks_finished_run,
     ks_teardown},
    {"ks-traffic-aes128gcm",
     "record.c rec_set_secret: traffic secret all-zero vs random",
     KITLS_MAX_HASH,
     {0, 0},
     ks_setup,
     secret_prepare,
     ks_traffic_run,
     ks_teardown},
    {"ks-traffic-chacha20",
     "record.c rec_set_secret: traffic secret all-zero vs random",
     KITLS_MAX_HASH,
     {0, 0},
     ks_chacha_setup,
     secret_prepare,
     ks_traffic_run,
     ks_teardown},
    TM_KEY_PATHS,
    TM_SIG_PATHS,
};
const size_t tm_n_lib_paths = sizeof(tm_lib_paths) / sizeof(tm_lib_paths[0]);
