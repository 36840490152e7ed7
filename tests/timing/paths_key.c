/*
 * Paths that use one of our private keys (crypto.c): the (EC)DHE shared
 * secret (kitls_kex_derive, RFC 8446 §4.2.8) and the CertificateVerify
 * signature (kitls_sig_sign, §4.4.3).  Classes: a fixed private key
 * (class 0) vs one drawn at random from a pool (class 1), the dudect
 * fixed-vs-random pair.  Each measurement gets its own copy of its key
 * (EVP_PKEY_dup, made outside the timed region), so both classes use a
 * key object just allocated: the fixed key would otherwise stay hot in
 * the caches and look faster for that reason alone.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"

#define KEYS 64

struct key_ctx {
    const struct kitls_group *g;  /* kex paths */
    const struct kitls_sigalg *s; /* sign paths */
    EVP_PKEY *key[KEYS];          /* key[0] is the fixed key */
    EVP_PKEY *live[TM_BATCH];     /* the copies the current slots use */
    size_t next;
    uint8_t peer[KITLS_MAX_HASH * 3]; /* kex: the peer's share */
    size_t peer_len;
};

static EVP_PKEY *keygen(const char *type, const char *curve)
{
    return curve ? EVP_PKEY_Q_keygen(NULL, NULL, type, curve) : EVP_PKEY_Q_keygen(NULL, NULL, type);
}

static int key_setup(void **out, uint16_t group, uint16_t scheme, const char *type,
                     const char *curve)
{
    struct key_ctx *x = calloc(1, sizeof(*x));
    TM_REQ(x && !kitls_alg_init());
    for (size_t i = 0; i < KEYS; i++)
        TM_REQ((x->key[i] = keygen(type, curve)) != NULL);
    if (group) {
        EVP_PKEY *peer = NULL;
        TM_REQ((x->g = kitls_group_find(group)) != NULL);
        TM_REQ(!kitls_kex_keygen(x->g, &peer, x->peer, &x->peer_len));
        EVP_PKEY_free(peer);
    } else {
        TM_REQ((x->s = kitls_sigalg_find(scheme)) && kitls_sig_key_matches(x->s, x->key[0]));
    }
    *out = x;
    return 0;
}

int tm_kex_x25519_setup(void **ctx)
{
    return key_setup(ctx, KITLS_GROUP_X25519, 0, "X25519", NULL);
}
int tm_kex_p256_setup(void **ctx)
{
    return key_setup(ctx, KITLS_GROUP_SECP256R1, 0, "EC", "P-256");
}
int tm_sign_p256_setup(void **ctx)
{
    return key_setup(ctx, 0, KITLS_SIG_ECDSA_SECP256R1_SHA256, "EC", "P-256");
}
int tm_sign_ed25519_setup(void **ctx)
{
    return key_setup(ctx, 0, KITLS_SIG_ED25519, "ED25519", NULL);
}

/* Slot: the key copy (pointer), then a random transcript hash (public). */
void tm_key_prepare(void *ctx, int cls, uint8_t *in)
{
    struct key_ctx *x = ctx;
    size_t k = x->next++ % TM_BATCH;
    EVP_PKEY_free(x->live[k]);
    x->live[k] = EVP_PKEY_dup(x->key[cls ? 1 + tm_rand64() % (KEYS - 1) : 0]);
    TM_REQ(x->live[k] != NULL);
    /* A signing key gets its EC_KEY copy when the config loads it
     * (config.c), not in the handshake: likewise outside the timed part. */
    if (x->s)
        (void)kitls_sig_ec_prepare(x->live[k]);
    memcpy(in, &x->live[k], sizeof(x->live[k]));
    tm_rand_bytes(in + sizeof(EVP_PKEY *), 32);
}

int tm_kex_run(void *ctx, uint8_t *in)
{
    struct key_ctx *x = ctx;
    EVP_PKEY *k;
    uint8_t out[KITLS_MAX_HASH * 2];
    size_t len;
    memcpy(&k, in, sizeof(k));
    return kitls_kex_derive(x->g, k, x->peer, x->peer_len, out, &len);
}

int tm_sign_run(void *ctx, uint8_t *in)
{
    struct key_ctx *x = ctx;
    EVP_PKEY *k;
    uint8_t sig[512];
    size_t len = sizeof(sig);
    memcpy(&k, in, sizeof(k));
    return kitls_sig_sign(x->s, k, 1, in + sizeof(k), 32, sig, &len);
}

void tm_key_teardown(void *ctx)
{
    struct key_ctx *x = ctx;
    for (size_t i = 0; i < KEYS; i++)
        EVP_PKEY_free(x->key[i]);
    for (size_t i = 0; i < TM_BATCH; i++)
        EVP_PKEY_free(x->live[i]);
    free(x);
}
