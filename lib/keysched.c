/*
 * HMAC, HKDF (RFC 5869), the TLS 1.3 key schedule (RFC 8446 §7.1) and the
 * transcript hash (§4.4.1).  The schedule is a one-way ladder: each stage's
 * secret replaces the previous one, which is wiped.
 */
/* The SHA-2 functions below are deprecated in OpenSSL 3.0 in favour of
 * EVP, whose per-init allocations they avoid (struct kitls_hash). */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int kitls_hash_init(struct kitls_hash *h, const EVP_MD *md)
{
    switch (EVP_MD_get_type(md)) {
    case NID_sha256: h->len = 32; return SHA256_Init(&h->u.s256) ? 0 : KITLS_E_CRYPTO;
    case NID_sha384: h->len = 48; return SHA384_Init(&h->u.s512) ? 0 : KITLS_E_CRYPTO;
    case NID_sha512: h->len = 64; return SHA512_Init(&h->u.s512) ? 0 : KITLS_E_CRYPTO;
    default: h->len = 0; return KITLS_E_INTERNAL;
    }
}

void kitls_hash_update(struct kitls_hash *h, const void *p, size_t n)
{
    if (h->len == 32)
        SHA256_Update(&h->u.s256, p, n);
    else if (h->len == 48)
        SHA384_Update(&h->u.s512, p, n);
    else
        SHA512_Update(&h->u.s512, p, n);
}

void kitls_hash_final(struct kitls_hash *h, uint8_t *out)
{
    if (h->len == 32)
        SHA256_Final(out, &h->u.s256);
    else if (h->len == 48)
        SHA384_Final(out, &h->u.s512);
    else
        SHA512_Final(out, &h->u.s512);
    /* SHA256_Final wipes its data block itself: the chaining state and
     * length are left.  SHA-512's whole state. */
    kitls_wipe(&h->u, h->len == 32 ? offsetof(SHA256_CTX, data) : sizeof(h->u.s512));
}

/* Hash of the empty string (Derive-Secret(., "derived", ""), the binder
 * key), a constant: FIPS 180-4 test values for "". */
static const uint8_t empty_sha256[32] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
static const uint8_t empty_sha384[48] = {
    0x38, 0xb0, 0x60, 0xa7, 0x51, 0xac, 0x96, 0x38, 0x4c, 0xd9, 0x32, 0x7e, 0xb1, 0xb1, 0xe3, 0x6a,
    0x21, 0xfd, 0xb7, 0x11, 0x14, 0xbe, 0x07, 0x43, 0x4c, 0x0c, 0xc7, 0xbf, 0x63, 0xf6, 0xe1, 0xda,
    0x27, 0x4e, 0xde, 0xbf, 0xe7, 0x6f, 0x65, 0xfb, 0xd5, 0x1a, 0xd2, 0xf1, 0x48, 0x98, 0xb9, 0x5b};

const uint8_t *kitls_hash_empty(const EVP_MD *md)
{
    switch (EVP_MD_get_type(md)) {
    case NID_sha256: return empty_sha256;
    case NID_sha384: return empty_sha384;
    default: return NULL;
    }
}

/*
 * HMAC (RFC 2104) keyed once: the hash states after the inner and the
 * outer padded key, so that each further message under the same key (the
 * traffic secrets of one key-schedule stage, the blocks of one
 * HKDF-Expand) costs only its own blocks.
 */
struct hmac_key {
    struct kitls_hash in, out;
};

static int hmac_key_init(struct hmac_key *k, const EVP_MD *md, const uint8_t *key, size_t key_len)
{
    /* The padded key in 64-bit words: 8 or 16 XORs per pad instead of a
     * byte loop over the key and another over the block (some 300
     * instructions per keying, ~30 keyings per handshake pair). */
    uint64_t pad[128 / 8];
    uint8_t kh[KITLS_MAX_HASH];
    int type = EVP_MD_get_type(md);
    k->in.len = 0; /* hmac_key_wipe after a failure wipes everything */
    if (type != NID_sha256 && type != NID_sha384)
        return KITLS_E_INTERNAL;
    GUARD(kitls_hash_init(&k->in, md));
    size_t hl = k->in.len, block = hl == 32 ? 64 : 128;
    if (key_len > block) {
        kitls_hash_update(&k->in, key, key_len);
        kitls_hash_final(&k->in, kh);
        GUARD(kitls_hash_init(&k->in, md));
        key = kh;
        key_len = hl;
    }
    memset(pad, 0, block);
    memcpy(pad, key, key_len);
    for (size_t i = 0; i < block / 8; i++)
        pad[i] ^= 0x3636363636363636ull;
    kitls_hash_update(&k->in, pad, block);
    for (size_t i = 0; i < block / 8; i++)
        pad[i] ^= 0x3636363636363636ull ^ 0x5c5c5c5c5c5c5c5cull;
    GUARD(kitls_hash_init(&k->out, md));
    kitls_hash_update(&k->out, pad, block);
    kitls_wipe(pad, block);
    if (key == kh)
        kitls_wipe(kh, hl);
    return 0;
}

static void hmac_key_run(const struct hmac_key *k, const uint8_t *msg, size_t msg_len, uint8_t *out)
{
    uint8_t inner[KITLS_MAX_HASH];
    struct kitls_hash h = k->in;
    kitls_hash_update(&h, msg, msg_len);
    kitls_hash_final(&h, inner);
    h = k->out;
    kitls_hash_update(&h, inner, k->in.len);
    kitls_hash_final(&h, out);
    kitls_wipe(inner, k->in.len);
}

/* Wipe a keyed HMAC: only the hash states in use. */
static void hmac_key_wipe(struct hmac_key *k)
{
    size_t n = k->in.len == 32 ? sizeof(k->in.u.s256) : sizeof(k->in.u);
    kitls_wipe(&k->in.u, n);
    kitls_wipe(&k->out.u, n);
}

int kitls_hmac(const EVP_MD *md, const uint8_t *key, size_t key_len, const uint8_t *msg,
               size_t msg_len, uint8_t *out)
{
    struct hmac_key k;
    GUARD(hmac_key_init(&k, md, key, key_len));
    hmac_key_run(&k, msg, msg_len, out);
    hmac_key_wipe(&k);
    return 0;
}

/* HMAC keyed with Hash.length zeros (HKDF-Extract without a salt, the
 * early secret): the same for everyone, keyed once per process. */
static struct hmac_key zero_key[2]; /* SHA-256, SHA-384 */
static int zero_key_ok;
static pthread_once_t zero_key_once = PTHREAD_ONCE_INIT;

static void zero_key_init(void)
{
    static const uint8_t zeros[48];
    zero_key_ok = !hmac_key_init(&zero_key[0], EVP_sha256(), zeros, 32) &&
                  !hmac_key_init(&zero_key[1], EVP_sha384(), zeros, 48);
}

int kitls_hkdf_extract(const EVP_MD *md, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                       size_t ikm_len, uint8_t *prk)
{
    static const uint8_t zeros[KITLS_MAX_HASH];
    size_t hl = (size_t)EVP_MD_get_size(md);
    if (!ikm) {
        ikm = zeros;
        ikm_len = hl;
    }
    if (!salt || !salt_len) {
        pthread_once(&zero_key_once, zero_key_init);
        if (zero_key_ok && (hl == 32 || hl == 48)) {
            hmac_key_run(&zero_key[hl == 48], ikm, ikm_len, prk);
            return 0;
        }
        salt = zeros;
        salt_len = hl;
    }
    return kitls_hmac(md, salt, salt_len, ikm, ikm_len, prk);
}

/* HKDF-Expand-Label under a keyed HMAC of the secret. */
static int expand_label_k(const struct hmac_key *k, const char *label, const uint8_t *ctx,
                          size_t ctx_len, uint8_t *out, size_t out_len)
{
    /* HkdfLabel: uint16 length, opaque label<7..255> = "tls13 " + label,
     * opaque context<0..255>, followed by the HKDF-Expand counter byte. */
    uint8_t info[2 + 1 + 255 + 1 + 255 + 1], t[KITLS_MAX_HASH];
    size_t ll = strlen(label), hl = k->in.len, n = 0, done = 0;
    if (ll > 249 || ctx_len > 255 || out_len > 255 * hl)
        return KITLS_E_INTERNAL;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = (uint8_t)ctx_len;
    if (ctx_len)
        memcpy(info + n, ctx, ctx_len);
    n += ctx_len;
    /* T(i) = HMAC(PRK, T(i-1) | info | i) */
    uint8_t buf[KITLS_MAX_HASH + sizeof(info)];
    size_t tl = 0;
    for (uint8_t i = 1; done < out_len; i++) {
        memcpy(buf, t, tl);
        memcpy(buf + tl, info, n);
        buf[tl + n] = i;
        hmac_key_run(k, buf, tl + n + 1, t);
        tl = hl;
        size_t take = out_len - done < hl ? out_len - done : hl;
        memcpy(out + done, t, take);
        done += take;
    }
    /* Secret: the output block, and buf's copy of the previous one (the
     * label and context after it are public). */
    kitls_wipe(t, hl);
    if (out_len > hl)
        kitls_wipe(buf, hl);
    return 0;
}

int kitls_hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
                            const char *label, const uint8_t *ctx, size_t ctx_len, uint8_t *out,
                            size_t out_len)
{
    struct hmac_key k;
    GUARD(hmac_key_init(&k, md, secret, secret_len));
    int ret = expand_label_k(&k, label, ctx, ctx_len, out, out_len);
    hmac_key_wipe(&k);
    return ret;
}

int kitls_hkdf_expand_labels(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
                             const char *const *labels, uint8_t *const *outs,
                             const size_t *out_lens, size_t n)
{
    struct hmac_key k;
    int ret = hmac_key_init(&k, md, secret, secret_len);
    for (size_t i = 0; i < n && !ret; i++)
        ret = expand_label_k(&k, labels[i], NULL, 0, outs[i], out_lens[i]);
    hmac_key_wipe(&k);
    return ret;
}

/* The key schedule's inputs (§7.1): a PSK or (EC)DHE that is not used is
 * Hash.length zeros, never an empty string.  A zero length means "absent"
 * whatever the pointer, so no caller can extract over "" by passing an
 * empty buffer (a server resuming with psk_ke did). */
static const uint8_t *ks_input(const uint8_t *in, size_t len)
{
    return len ? in : NULL;
}

int kitls_ks_early(struct kitls_keysched *ks, const struct kitls_suite *suite, const uint8_t *psk,
                   size_t psk_len)
{
    ks->suite = suite;
    GUARD(kitls_hkdf_extract(suite->md, NULL, 0, ks_input(psk, psk_len), psk_len, ks->secret));
    ks->stage = KS_EARLY;
    return 0;
}

int kitls_ks_derive_n(struct kitls_keysched *ks, const char *const *labels, const uint8_t *th,
                      uint8_t *const *outs, size_t n)
{
    struct hmac_key k;
    int ret = 0;
    if (ks->stage == KS_NONE)
        return KITLS_E_INTERNAL;
    size_t hl = ks->suite->hash_len;
    GUARD(hmac_key_init(&k, ks->suite->md, ks->secret, hl));
    for (size_t i = 0; i < n && !ret; i++)
        ret = expand_label_k(&k, labels[i], th, hl, outs[i], hl);
    hmac_key_wipe(&k);
    return ret;
}

int kitls_ks_derive(struct kitls_keysched *ks, const char *label, const uint8_t *th, uint8_t *out)
{
    return kitls_ks_derive_n(ks, &label, th, &out, 1);
}

/* Advance one rung: secret = Extract(Derive-Secret(secret, "derived", ""), ikm). */
static int ks_advance(struct kitls_keysched *ks, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t derived[KITLS_MAX_HASH];
    size_t hl = ks->suite->hash_len;
    const uint8_t *empty_hash = kitls_hash_empty(ks->suite->md);
    int ret = empty_hash ? 0 : KITLS_E_INTERNAL;
    if (ret)
        goto out;
    ret = kitls_hkdf_expand_label(ks->suite->md, ks->secret, hl, "derived", empty_hash, hl, derived,
                                  hl);
    if (ret)
        goto out;
    ret =
        kitls_hkdf_extract(ks->suite->md, derived, hl, ks_input(ikm, ikm_len), ikm_len, ks->secret);
out:
    kitls_wipe(derived, sizeof(derived));
    return ret;
}

/* Derive-Secret(Early Secret, "derived", "") without a PSK (Early Secret =
 * HKDF-Extract(0, 0)): a constant per hash.  SHA-256's is RFC 8448 §3's;
 * test_keysched checks both against the ladder. */
static const uint8_t nopsk_derived_sha256[32] = {
    0x6f, 0x26, 0x15, 0xa1, 0x08, 0xc7, 0x02, 0xc5, 0x67, 0x8f, 0x54, 0xfc, 0x9d, 0xba, 0xb6, 0x97,
    0x16, 0xc0, 0x76, 0x18, 0x9c, 0x48, 0x25, 0x0c, 0xeb, 0xea, 0xc3, 0x57, 0x6c, 0x36, 0x11, 0xba};
static const uint8_t nopsk_derived_sha384[48] = {
    0x15, 0x91, 0xda, 0xc5, 0xcb, 0xbf, 0x03, 0x30, 0xa4, 0xa8, 0x4d, 0xe9, 0xc7, 0x53, 0x33, 0x0e,
    0x92, 0xd0, 0x1f, 0x0a, 0x88, 0x21, 0x4b, 0x44, 0x64, 0x97, 0x2f, 0xd6, 0x68, 0x04, 0x9e, 0x93,
    0xe5, 0x2f, 0x2b, 0x16, 0xfa, 0xd9, 0x22, 0xfd, 0xc0, 0x58, 0x44, 0x78, 0x42, 0x8f, 0x28, 0x2b};

int kitls_ks_psk_secrets(const struct kitls_suite *suite, const uint8_t *psk, size_t psk_len,
                         uint8_t *binder_key, uint8_t *derived)
{
    static const char *const labels[2] = {"res binder", "derived"};
    uint8_t es[KITLS_MAX_HASH];
    struct hmac_key k;
    size_t hl = suite->hash_len;
    const uint8_t *empty = kitls_hash_empty(suite->md);
    uint8_t *const outs[2] = {binder_key, derived};
    int ret = empty ? kitls_hkdf_extract(suite->md, NULL, 0, psk, psk_len, es) : KITLS_E_INTERNAL;
    if (!ret)
        ret = hmac_key_init(&k, suite->md, es, hl);
    /* Both are Derive-Secret(Early Secret, label, "") (RFC 8446 §7.1). */
    for (size_t i = 0; i < 2 && !ret; i++)
        ret = expand_label_k(&k, labels[i], empty, hl, outs[i], hl);
    hmac_key_wipe(&k);
    kitls_wipe(es, sizeof(es));
    return ret;
}

int kitls_ks_handshake_from(struct kitls_keysched *ks, const struct kitls_suite *suite,
                            const uint8_t *derived, const uint8_t *dhe, size_t dhe_len)
{
    size_t hl = suite->hash_len;
    if (!derived)
        derived = hl == 32 ? nopsk_derived_sha256 : hl == 48 ? nopsk_derived_sha384 : NULL;
    if (!derived)
        return KITLS_E_INTERNAL;
    ks->suite = suite;
    /* As ks_advance: a NULL dhe (psk_ke) extracts Hash.length zeros (§7.1). */
    GUARD(kitls_hkdf_extract(suite->md, derived, hl, ks_input(dhe, dhe_len), dhe_len, ks->secret));
    ks->stage = KS_HANDSHAKE;
    return 0;
}

int kitls_ks_handshake(struct kitls_keysched *ks, const uint8_t *dhe, size_t dhe_len)
{
    if (ks->stage != KS_EARLY)
        return KITLS_E_INTERNAL;
    GUARD(ks_advance(ks, dhe, dhe_len));
    ks->stage = KS_HANDSHAKE;
    return 0;
}

int kitls_ks_hs_traffic(struct kitls_keysched *ks, const uint8_t *th, uint8_t *c_hs, uint8_t *s_hs)
{
    static const char *const labels[3] = {"c hs traffic", "s hs traffic", "derived"};
    uint8_t derived[KITLS_MAX_HASH];
    uint8_t *const outs[3] = {c_hs, s_hs, derived};
    const uint8_t *ths[3] = {th, th, kitls_hash_empty(ks->suite ? ks->suite->md : NULL)};
    struct hmac_key k;
    size_t hl = ks->suite ? ks->suite->hash_len : 0;
    if (ks->stage != KS_HANDSHAKE || !ths[2])
        return KITLS_E_INTERNAL;
    int ret = hmac_key_init(&k, ks->suite->md, ks->secret, hl);
    for (size_t i = 0; i < 3 && !ret; i++)
        ret = expand_label_k(&k, labels[i], ths[i], hl, outs[i], hl);
    hmac_key_wipe(&k);
    if (!ret) {
        memcpy(ks->secret, derived, hl);
        ks->stage = KS_HS_DERIVED;
    }
    kitls_wipe(derived, sizeof(derived));
    return ret;
}

int kitls_ks_master(struct kitls_keysched *ks)
{
    if (ks->stage == KS_HS_DERIVED) {
        /* Master Secret = HKDF-Extract(derived, 0) (RFC 8446 §7.1). */
        GUARD(kitls_hkdf_extract(ks->suite->md, ks->secret, ks->suite->hash_len, NULL, 0,
                                 ks->secret));
        ks->stage = KS_MASTER;
        return 0;
    }
    if (ks->stage != KS_HANDSHAKE)
        return KITLS_E_INTERNAL;
    GUARD(ks_advance(ks, NULL, 0));
    ks->stage = KS_MASTER;
    return 0;
}

void kitls_ks_wipe(struct kitls_keysched *ks)
{
    kitls_wipe(ks->secret, sizeof(ks->secret));
    ks->stage = KS_NONE;
}

int kitls_ks_finished(const struct kitls_suite *suite, const uint8_t *base, const uint8_t *th,
                      uint8_t *out)
{
    uint8_t fk[KITLS_MAX_HASH];
    size_t hl = suite->hash_len;
    int ret = kitls_hkdf_expand_label(suite->md, base, hl, "finished", NULL, 0, fk, hl);
    if (!ret)
        ret = kitls_ks_finished_fk(suite, fk, th, out);
    kitls_wipe(fk, sizeof(fk));
    return ret;
}

int kitls_ks_finished_fk(const struct kitls_suite *suite, const uint8_t *fin_key, const uint8_t *th,
                         uint8_t *out)
{
    return kitls_hmac(suite->md, fin_key, suite->hash_len, th, suite->hash_len, out);
}

int kitls_th_update(struct kitls_transcript *t, const uint8_t *p, size_t n)
{
    if (!t->md) {
        /* The kept binder state holds the start of the first message. */
        if (t->spec_md && (t->pending.len || n < t->spec_len))
            t->spec_md = NULL;
        wr_put(&t->pending, p, n);
        return t->pending.err;
    }
    kitls_hash_update(t->h, p, n);
    return 0;
}

int kitls_th_set_hash(struct kitls_transcript *t, const struct kitls_suite *suite)
{
    if (t->md)
        return t->md == suite->md ? 0 : KITLS_E_INTERNAL;
    if (!t->h && !(t->h = t->store ? t->store : kitls_malloc(sizeof(*t->h))))
        return KITLS_E_NOMEM;
    size_t done = 0;
    if (t->spec_md == suite->md && t->spec_len <= t->pending.len)
        done = t->spec_len; /* h: the binder's hash of the first bytes */
    else
        GUARD(kitls_hash_init(t->h, suite->md));
    t->spec_md = NULL;
    t->md = suite->md;
    t->hash_len = suite->hash_len;
    int ret = kitls_th_update(t, t->pending.buf + done, t->pending.len - done);
    wr_free(&t->pending);
    return ret;
}

int kitls_th_current(struct kitls_transcript *t, uint8_t *out)
{
    if (!t->md)
        return KITLS_E_INTERNAL;
    struct kitls_hash copy = *t->h;
    kitls_hash_final(&copy, out);
    return 0;
}

int kitls_th_peek(struct kitls_transcript *t, const struct kitls_suite *suite, const uint8_t *p,
                  size_t n, uint8_t *out)
{
    struct kitls_hash h;
    if (t->md) {
        h = *t->h;
    } else {
        GUARD(kitls_hash_init(&h, suite->md));
        kitls_hash_update(&h, p, n);
        /* Kept in the transcript's own storage (no allocation): the
         * ClientHello's first n bytes are then hashed once (§4.2.11.2). */
        if (t->store && !t->pending.len) {
            *t->store = h;
            t->h = t->store;
            t->spec_md = suite->md;
            t->spec_len = n;
        }
        n = 0;
    }
    kitls_hash_update(&h, p, n);
    kitls_hash_final(&h, out);
    return 0;
}

int kitls_th_hrr_rewrite(struct kitls_transcript *t)
{
    /* Transcript-Hash(CH1, HRR, ...) = Hash(message_hash || 00 00 Hash.length ||
     * Hash(CH1) || HRR || ...) (RFC 8446 §4.4.1). */
    uint8_t msg[4 + KITLS_MAX_HASH];
    if (!t->md)
        return KITLS_E_INTERNAL;
    GUARD(kitls_th_current(t, msg + 4));
    msg[0] = HS_MESSAGE_HASH;
    msg[1] = 0;
    msg[2] = 0;
    msg[3] = (uint8_t)t->hash_len;
    kitls_wipe(&t->h->u, sizeof(t->h->u));
    GUARD(kitls_hash_init(t->h, t->md));
    return kitls_th_update(t, msg, 4 + t->hash_len);
}

void kitls_th_free(struct kitls_transcript *t)
{
    if (t->h) {
        kitls_wipe(t->h, sizeof(*t->h));
        if (t->h != t->store)
            kitls_free(t->h);
        t->h = NULL;
    }
    t->store = NULL;
    t->md = t->spec_md = NULL;
    wr_free(&t->pending);
}
