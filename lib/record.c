/*
 * Record protection (RFC 8446 §5.2-5.3): AEAD with a per-record nonce
 * (static IV xor sequence number), the record header as additional data,
 * and the inner content type hidden behind optional zero padding.
 */
#include <openssl/crypto.h>
#include <string.h>

#include "internal.h"

/* Key and iv (RFC 8446 §7.3) under one keyed HMAC of the secret, and with
 * fin_key the secret's Finished key too (§4.4.4): keying the secret once
 * more for it costs two hash blocks. */
static int rec_install(struct kitls_rec_dir *d, const struct kitls_suite *suite, int encrypt,
                       uint8_t *fin_key)
{
    static const char *const labels[3] = {"key", "iv", "finished"};
    uint8_t *const outs[3] = {d->key, d->iv, fin_key};
    const size_t lens[3] = {suite->key_len, KITLS_IV_LEN, suite->hash_len};
    GUARD(kitls_hkdf_expand_labels(suite->md, d->secret, suite->hash_len, labels, outs, lens,
                                   fin_key ? 3 : 2));
    d->suite = suite;
    d->seq = 0;
    return d->ops->keys(d, encrypt);
}

int kitls_rec_install(struct kitls_rec_dir *d, const struct kitls_suite *suite, int encrypt)
{
    return rec_install(d, suite, encrypt, NULL);
}

int kitls_rec_set_secret_fin(struct kitls_rec_dir *d, const struct kitls_suite *suite,
                             const uint8_t *secret, int encrypt, uint8_t *fin_key)
{
    if (secret != d->secret)
        memcpy(d->secret, secret, suite->hash_len);
    /* Only the handshake installs secrets, before any offload. */
    d->ops = &kitls_rec_aead;
    return rec_install(d, suite, encrypt, fin_key);
}

int kitls_rec_set_secret(struct kitls_rec_dir *d, const struct kitls_suite *suite,
                         const uint8_t *secret, int encrypt)
{
    return kitls_rec_set_secret_fin(d, suite, secret, encrypt, NULL);
}

static int aead_keys(struct kitls_rec_dir *d, int encrypt)
{
    if (!d->ctx && !(d->ctx = EVP_CIPHER_CTX_new()))
        return KITLS_E_NOMEM;
    /* A context that already runs this cipher (the previous epoch of this
     * direction) is re-keyed in place: naming the cipher again would make
     * libcrypto reset the context and build a new provider context. */
    const EVP_CIPHER *c =
        EVP_CIPHER_CTX_get0_cipher(d->ctx) == d->suite->cipher ? NULL : d->suite->cipher;
    if (!EVP_CipherInit_ex2(d->ctx, c, d->key, NULL, encrypt, NULL))
        return KITLS_E_CRYPTO;
    return 0;
}

/* An idle connection need not hold its cipher contexts (about 1.2 KB
 * each with AES-GCM): the key and iv stay in the row, and the next record
 * sets the context up again (aead_ready). */
void kitls_rec_sleep(struct kitls_rec_dir *d)
{
    if (d->ops != &kitls_rec_aead || !d->ctx)
        return;
    EVP_CIPHER_CTX_free(d->ctx); /* libcrypto wipes the key schedule */
    d->ctx = NULL;
}

static int aead_ready(struct kitls_rec_dir *d, int encrypt)
{
    return d->ctx ? 0 : aead_keys(d, encrypt);
}

int kitls_rec_update(struct kitls_rec_dir *d, int encrypt)
{
    uint8_t next[KITLS_MAX_HASH];
    const struct kitls_suite *s = d->suite;
    if (!s || !d->ops)
        return KITLS_E_INTERNAL;
    GUARD(kitls_hkdf_expand_label(s->md, d->secret, s->hash_len, "traffic upd", NULL, 0, next,
                                  s->hash_len));
    memcpy(d->secret, next, s->hash_len);
    kitls_wipe(next, sizeof(next));
    return kitls_rec_install(d, s, encrypt);
}

void kitls_rec_wipe(struct kitls_rec_dir *d)
{
    EVP_CIPHER_CTX_free(d->ctx);
    kitls_wipe(d, sizeof(*d));
}

/* The 64-bit sequence number, big-endian, xor the iv's last 8 bytes
 * (RFC 8446 §5.3), in one word rather than a byte loop (some 60
 * instructions per record less); inlined with a byte swap where the
 * compiler has one (two calls per record pair: the 1 KiB record gate). */
static inline void rec_nonce(const struct kitls_rec_dir *d, uint8_t nonce[KITLS_IV_LEN])
{
    uint64_t s = d->seq, tail, x;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(s);
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = s;
#else
    const uint8_t be[8] = {(uint8_t)(s >> 56), (uint8_t)(s >> 48), (uint8_t)(s >> 40),
                           (uint8_t)(s >> 32), (uint8_t)(s >> 24), (uint8_t)(s >> 16),
                           (uint8_t)(s >> 8),  (uint8_t)s};
    memcpy(&x, be, 8);
#endif
    memcpy(nonce, d->iv, KITLS_IV_LEN - 8);
    memcpy(&tail, d->iv + KITLS_IV_LEN - 8, 8);
    tail ^= x;
    memcpy(nonce + KITLS_IV_LEN - 8, &tail, 8);
}

int kitls_rec_seal(struct kitls_rec_dir *d, uint8_t *rec, size_t len, uint8_t type, size_t pad)
{
    return kitls_rec_seal_from(d, rec, rec + KITLS_REC_HDR, len, type, pad);
}

/* Encrypting from the caller's buffer straight into the record saves
 * copying the plaintext into the output first (docs/performance.md). */
int kitls_rec_seal_from(struct kitls_rec_dir *d, uint8_t *rec, const uint8_t *src, size_t len,
                        uint8_t type, size_t pad)
{
    uint8_t nonce[KITLS_IV_LEN];
    uint8_t *pt = rec + KITLS_REC_HDR;
    size_t inner = len + 1 + pad, total = inner + KITLS_TAG_LEN;
    int outl = 0, tail = 0;
    if (total > KITLS_MAX_CIPHERTEXT || d->seq == UINT64_MAX)
        return KITLS_E_INTERNAL;
    GUARD(aead_ready(d, 1));
    pt[len] = type;
    if (pad)
        memset(pt + len + 1, 0, pad);
    rec[0] = CT_APPDATA;
    rec[1] = 3;
    rec[2] = 3;
    rec[3] = (uint8_t)(total >> 8);
    rec[4] = (uint8_t)total;
    rec_nonce(d, nonce);
    /* A short record is cheaper to copy than to seal in two calls. */
    if (len <= 2048 && src != pt) {
        if (len)
            memcpy(pt, src, len);
        src = pt;
    }
    /* The AEAD streams: the data (in or out of place), then the content
     * type and padding already in the record, in place. */
    if (!EVP_CipherInit_ex2(d->ctx, NULL, NULL, nonce, 1, NULL) ||
        !EVP_CipherUpdate(d->ctx, NULL, &outl, rec, KITLS_REC_HDR) ||
        (src == pt && !EVP_CipherUpdate(d->ctx, pt, &outl, pt, (int)inner)) ||
        (src != pt && (!EVP_CipherUpdate(d->ctx, pt, &outl, src, (int)len) ||
                       !EVP_CipherUpdate(d->ctx, pt + len, &tail, pt + len, (int)(1 + pad)))) ||
        !EVP_CipherFinal_ex(d->ctx, pt + inner, &outl) || !kitls_aead_tag(d->ctx, 0, pt + inner))
        return KITLS_E_CRYPTO;
    d->seq++;
    return (int)(KITLS_REC_HDR + total);
}

int kitls_rec_open(struct kitls_rec_dir *d, uint8_t *rec, size_t len, uint8_t *type,
                   size_t *out_len)
{
    return kitls_rec_open_to(d, rec, len, NULL, 0, type, out_len);
}

/* The inner plaintext's byte i: the first k bytes went to dst. */
static uint8_t pt_at(const uint8_t *dst, size_t k, const uint8_t *ct, size_t i)
{
    return i < k ? dst[i] : ct[i];
}

/* Decrypting into the reader's buffer saves copying the plaintext out of
 * the input buffer afterwards (docs/performance.md). */
int kitls_rec_open_to(struct kitls_rec_dir *d, uint8_t *rec, size_t len, uint8_t *dst, size_t k,
                      uint8_t *type, size_t *out_len)
{
    uint8_t nonce[KITLS_IV_LEN];
    uint8_t *ct = rec + KITLS_REC_HDR;
    int outl = 0;
    if (len > KITLS_MAX_CIPHERTEXT)
        return KITLS_E_RECORD_OVERFLOW;
    if (len < KITLS_TAG_LEN + 1)
        return KITLS_E_BAD_RECORD_MAC;
    if (d->seq == UINT64_MAX)
        return KITLS_E_INTERNAL;
    GUARD(aead_ready(d, 0));
    size_t n = len - KITLS_TAG_LEN;
    if (k > n)
        k = n;
    rec_nonce(d, nonce);
    if (!EVP_CipherInit_ex2(d->ctx, NULL, NULL, nonce, 0, NULL) ||
        !kitls_aead_tag(d->ctx, 1, ct + n) ||
        !EVP_CipherUpdate(d->ctx, NULL, &outl, rec, KITLS_REC_HDR) ||
        (k && !EVP_CipherUpdate(d->ctx, dst, &outl, ct, (int)k)) ||
        (n > k && !EVP_CipherUpdate(d->ctx, ct + k, &outl, ct + k, (int)(n - k)))) {
        if (k)
            kitls_wipe(dst, k);
        return KITLS_E_CRYPTO;
    }
    if (!EVP_CipherFinal_ex(d->ctx, ct + n, &outl)) {
        /* Unauthenticated plaintext never reaches the reader (§5.2). */
        if (k)
            kitls_wipe(dst, k);
        return KITLS_E_BAD_RECORD_MAC;
    }
    d->seq++;
    /* The whole TLSInnerPlaintext, padding included, is limited to
     * 2^14 + 1 bytes (RFC 8446 §5.4, record_overflow per §5.2). */
    if (n > KITLS_MAX_PLAINTEXT + 1)
        return KITLS_E_RECORD_OVERFLOW;
    /* Strip padding: the content type is the last non-zero byte (§5.4). */
    while (n > 0 && pt_at(dst, k, ct, n - 1) == 0)
        n--;
    if (n == 0)
        return KITLS_E_UNEXPECTED_MESSAGE;
    *type = pt_at(dst, k, ct, n - 1);
    n--;
    if (n > KITLS_MAX_PLAINTEXT)
        return KITLS_E_RECORD_OVERFLOW;
    *out_len = n;
    return 0;
}

/* Userspace protection keeps nothing to hand over on a KeyUpdate. */
static void aead_rekeyed(struct kitls_rec_dir *d, size_t end)
{
    (void)d;
    (void)end;
}

const struct kitls_rec_ops kitls_rec_aead = {
    .keys = aead_keys,
    .seal = kitls_rec_seal_from,
    .open = kitls_rec_open_to,
    .rekeyed = aead_rekeyed,
    .app_err = 0,
};
