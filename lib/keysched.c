/*
 * HMAC, HKDF (RFC 5869), the TLS 1.3 key schedule (RFC 8446 §7.1) and the
 * transcript hash (§4.4.1).  The schedule is a one-way ladder: each stage's
 * secret replaces the previous one, which is wiped.
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"

/*
 * One digest context per thread for HMAC and transcript snapshots: a
 * handshake runs ~50 of them, and libcrypto 3 allocates a context and its
 * provider state for each new one, while re-initialising a live context
 * with the same digest reuses both.
 */
static pthread_key_t md_key[2];
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static int md_key_ok;

static void md_free(void *p)
{
    EVP_MD_CTX_free(p);
}

static void md_init(void)
{
    md_key_ok =
        !pthread_key_create(&md_key[0], md_free) && !pthread_key_create(&md_key[1], md_free);
}

/* The thread's scratch context number i (0: HMAC, 1: transcript copies),
 * or NULL: the caller then allocates its own. */
static EVP_MD_CTX *md_scratch(int i)
{
    pthread_once(&md_once, md_init);
    if (!md_key_ok)
        return NULL;
    EVP_MD_CTX *c = pthread_getspecific(md_key[i]);
    if (!c && (c = EVP_MD_CTX_new()) != NULL && pthread_setspecific(md_key[i], c)) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    return c;
}

int kitls_hmac(const EVP_MD *md, const uint8_t *key, size_t key_len, const uint8_t *msg,
               size_t msg_len, uint8_t *out)
{
    uint8_t pad[128], kh[64], inner[64];
    size_t block = (size_t)EVP_MD_get_block_size(md);
    size_t hl = (size_t)EVP_MD_get_size(md);
    int ret = KITLS_E_CRYPTO;
    EVP_MD_CTX *own = NULL, *ctx = md_scratch(0);
    if (!ctx)
        ctx = own = EVP_MD_CTX_new();
    if (!ctx || block > sizeof(pad))
        goto out;
    if (key_len > block) {
        if (!EVP_Digest(key, key_len, kh, NULL, md, NULL))
            goto out;
        key = kh;
        key_len = hl;
    }
    memset(pad, 0x36, block);
    for (size_t i = 0; i < key_len; i++)
        pad[i] ^= key[i];
    if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, pad, block) ||
        !EVP_DigestUpdate(ctx, msg, msg_len) || !EVP_DigestFinal_ex(ctx, inner, NULL))
        goto out;
    for (size_t i = 0; i < block; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, pad, block) ||
        !EVP_DigestUpdate(ctx, inner, hl) || !EVP_DigestFinal_ex(ctx, out, NULL))
        goto out;
    ret = 0;
out:
    /* The reused context's chaining state now equals the output (for
     * example a resumption PSK or a traffic secret), and it would live on
     * until the thread's next HMAC.  Resetting frees the provider's digest
     * state, which libcrypto's SHA-2 clears as it frees; the next init
     * allocates a fresh one, as each init already does on OpenSSL 3.0, so
     * this adds no allocation (a re-init here would add one). */
    if (ctx && ctx != own)
        EVP_MD_CTX_reset(ctx);
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(kh, sizeof(kh));
    OPENSSL_cleanse(inner, sizeof(inner));
    EVP_MD_CTX_free(own);
    return ret;
}

int kitls_hkdf_extract(const EVP_MD *md, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                       size_t ikm_len, uint8_t *prk)
{
    static const uint8_t zeros[KITLS_MAX_HASH];
    size_t hl = (size_t)EVP_MD_get_size(md);
    if (!salt || !salt_len) {
        salt = zeros;
        salt_len = hl;
    }
    if (!ikm) {
        ikm = zeros;
        ikm_len = hl;
    }
    return kitls_hmac(md, salt, salt_len, ikm, ikm_len, prk);
}

int kitls_hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
                            const char *label, const uint8_t *ctx, size_t ctx_len, uint8_t *out,
                            size_t out_len)
{
    /* HkdfLabel: uint16 length, opaque label<7..255> = "tls13 " + label,
     * opaque context<0..255>, followed by the HKDF-Expand counter byte. */
    uint8_t info[2 + 1 + 255 + 1 + 255 + 1], t[KITLS_MAX_HASH];
    size_t ll = strlen(label), hl = (size_t)EVP_MD_get_size(md), n = 0, done = 0;
    int ret = 0;
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
        ret = kitls_hmac(md, secret, secret_len, buf, tl + n + 1, t);
        if (ret)
            break;
        tl = hl;
        size_t take = out_len - done < hl ? out_len - done : hl;
        memcpy(out + done, t, take);
        done += take;
    }
    OPENSSL_cleanse(t, sizeof(t));
    OPENSSL_cleanse(buf, sizeof(buf));
    return ret;
}

int kitls_ks_early(struct kitls_keysched *ks, const struct kitls_suite *suite, const uint8_t *psk,
                   size_t psk_len)
{
    ks->suite = suite;
    GUARD(kitls_hkdf_extract(suite->md, NULL, 0, psk, psk_len, ks->secret));
    ks->stage = KS_EARLY;
    return 0;
}

int kitls_ks_derive(struct kitls_keysched *ks, const char *label, const uint8_t *th, uint8_t *out)
{
    if (ks->stage == KS_NONE)
        return KITLS_E_INTERNAL;
    size_t hl = ks->suite->hash_len;
    return kitls_hkdf_expand_label(ks->suite->md, ks->secret, hl, label, th, hl, out, hl);
}

/* Advance one rung: secret = Extract(Derive-Secret(secret, "derived", ""), ikm). */
static int ks_advance(struct kitls_keysched *ks, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t empty_hash[KITLS_MAX_HASH], derived[KITLS_MAX_HASH];
    size_t hl = ks->suite->hash_len;
    int ret = KITLS_E_CRYPTO;
    if (!EVP_Digest("", 0, empty_hash, NULL, ks->suite->md, NULL))
        goto out;
    ret = kitls_hkdf_expand_label(ks->suite->md, ks->secret, hl, "derived", empty_hash, hl, derived,
                                  hl);
    if (ret)
        goto out;
    ret = kitls_hkdf_extract(ks->suite->md, derived, hl, ikm, ikm_len, ks->secret);
out:
    OPENSSL_cleanse(derived, sizeof(derived));
    return ret;
}

int kitls_ks_handshake(struct kitls_keysched *ks, const uint8_t *dhe, size_t dhe_len)
{
    if (ks->stage != KS_EARLY)
        return KITLS_E_INTERNAL;
    GUARD(ks_advance(ks, dhe, dhe_len));
    ks->stage = KS_HANDSHAKE;
    return 0;
}

int kitls_ks_master(struct kitls_keysched *ks)
{
    if (ks->stage != KS_HANDSHAKE)
        return KITLS_E_INTERNAL;
    GUARD(ks_advance(ks, NULL, 0));
    ks->stage = KS_MASTER;
    return 0;
}

void kitls_ks_wipe(struct kitls_keysched *ks)
{
    OPENSSL_cleanse(ks->secret, sizeof(ks->secret));
    ks->stage = KS_NONE;
}

int kitls_ks_finished(const struct kitls_suite *suite, const uint8_t *base, const uint8_t *th,
                      uint8_t *out)
{
    uint8_t fk[KITLS_MAX_HASH];
    size_t hl = suite->hash_len;
    int ret = kitls_hkdf_expand_label(suite->md, base, hl, "finished", NULL, 0, fk, hl);
    if (!ret)
        ret = kitls_hmac(suite->md, fk, hl, th, hl, out);
    OPENSSL_cleanse(fk, sizeof(fk));
    return ret;
}

int kitls_th_update(struct kitls_transcript *t, const uint8_t *p, size_t n)
{
    if (!t->md) {
        wr_put(&t->pending, p, n);
        return t->pending.err;
    }
    return EVP_DigestUpdate(t->ctx, p, n) ? 0 : KITLS_E_CRYPTO;
}

int kitls_th_set_hash(struct kitls_transcript *t, const struct kitls_suite *suite)
{
    if (t->md)
        return t->md == suite->md ? 0 : KITLS_E_INTERNAL;
    if (!t->ctx && !(t->ctx = EVP_MD_CTX_new()))
        return KITLS_E_NOMEM;
    if (!EVP_DigestInit_ex(t->ctx, suite->md, NULL))
        return KITLS_E_CRYPTO;
    t->md = suite->md;
    t->hash_len = suite->hash_len;
    int ret = kitls_th_update(t, t->pending.buf, t->pending.len);
    wr_free(&t->pending);
    return ret;
}

int kitls_th_current(struct kitls_transcript *t, uint8_t *out)
{
    if (!t->md)
        return KITLS_E_INTERNAL;
    EVP_MD_CTX *own = NULL, *c = md_scratch(1);
    if (!c)
        c = own = EVP_MD_CTX_new();
    int ok = c && EVP_MD_CTX_copy_ex(c, t->ctx) && EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(own);
    return ok ? 0 : KITLS_E_CRYPTO;
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
    if (!EVP_DigestInit_ex(t->ctx, t->md, NULL))
        return KITLS_E_CRYPTO;
    return kitls_th_update(t, msg, 4 + t->hash_len);
}

void kitls_th_free(struct kitls_transcript *t)
{
    EVP_MD_CTX_free(t->ctx);
    t->ctx = NULL;
    t->md = NULL;
    wr_free(&t->pending);
}
