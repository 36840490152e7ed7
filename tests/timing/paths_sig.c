/*
 * CertificateVerify (hs.c kitls_hs_recv_certificate_verify -> crypto.c kitls_sig_verify):
 * a valid signature (class 0) against a well-formed one made by the same
 * key over another transcript hash, hence invalid here (class 1).  Both
 * come from a pool of signatures made by kitls_sig_sign, one drawn at
 * random per measurement, so the two classes see the same spread of
 * signature values; tampering with the encoding instead would measure the
 * parser's early exits.  Verification time varies with the (public)
 * signature values, so a small fixed pool would give each class a mean
 * of its own by chance (a 200-cycle difference for Ed25519 with 256
 * entries): entries are re-made as they are used (1 in REFRESH uses), so
 * a run of 10^6 sees some 30,000 distinct signatures per class.  Every input here is public (the peer's key and
 * signature, a transcript the peer also has); the measurement shows what
 * an observer learns, which should be no more than the public verdict.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"

#define POOL 1024
#define REFRESH 32
#define TH_LEN 32 /* a SHA-256 transcript */

struct sig_ctx {
    const struct kitls_sigalg *s;
    EVP_PKEY *key;
    uint8_t th[POOL][TH_LEN];
    uint8_t sig[POOL][512];
    size_t len[POOL];
};

/* A fresh transcript hash and its signature in pool entry i. */
static void sig_make(struct sig_ctx *x, size_t i)
{
    tm_rand_bytes(x->th[i], TH_LEN);
    x->len[i] = sizeof(x->sig[i]);
    TM_REQ(!kitls_sig_sign(x->s, x->key, 1, x->th[i], TH_LEN, x->sig[i], &x->len[i]));
}

static int sig_setup(void **out, uint16_t scheme, EVP_PKEY *key)
{
    struct sig_ctx *x = calloc(1, sizeof(*x));
    TM_REQ(x && key && !kitls_alg_init() && (x->s = kitls_sigalg_find(scheme)));
    TM_REQ(kitls_sig_key_matches(x->s, key));
    x->key = key;
    for (size_t i = 0; i < POOL; i++) {
        sig_make(x, i);
        TM_REQ(!kitls_sig_verify(x->s, key, 1, x->th[i], TH_LEN, x->sig[i], x->len[i]));
    }
    *out = x;
    return 0;
}

int tm_sig_p256_setup(void **ctx)
{
    return sig_setup(ctx, KITLS_SIG_ECDSA_SECP256R1_SHA256,
                     EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
}

int tm_sig_ed25519_setup(void **ctx)
{
    return sig_setup(ctx, KITLS_SIG_ED25519, EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
}

int tm_sig_rsapss_setup(void **ctx)
{
    return sig_setup(ctx, KITLS_SIG_RSA_PSS_RSAE_SHA256,
                     EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
}

/* Slot: th(KITLS_MAX_HASH) sig_len(2) sig. */
void tm_sig_prepare(void *ctx, int cls, uint8_t *in)
{
    struct sig_ctx *x = ctx;
    size_t i = tm_rand64() % POOL, j = cls ? (i + 1) % POOL : i;
    memcpy(in, x->th[i], TH_LEN);
    in[KITLS_MAX_HASH] = (uint8_t)(x->len[j] >> 8);
    in[KITLS_MAX_HASH + 1] = (uint8_t)x->len[j];
    memcpy(in + KITLS_MAX_HASH + 2, x->sig[j], x->len[j]);
    if (tm_rand64() % REFRESH == 0)
        sig_make(x, i);
}

int tm_sig_run(void *ctx, uint8_t *in)
{
    struct sig_ctx *x = ctx;
    size_t len = (size_t)in[KITLS_MAX_HASH] << 8 | in[KITLS_MAX_HASH + 1];
    return kitls_sig_verify(x->s, x->key, 1, in, TH_LEN, in + KITLS_MAX_HASH + 2, len);
}

void tm_sig_teardown(void *ctx)
{
    struct sig_ctx *x = ctx;
    EVP_PKEY_free(x->key);
    free(x);
}
