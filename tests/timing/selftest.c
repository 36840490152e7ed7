/*
 * Self-test paths: proof that the harness sees a leak when there is one
 * (run.sh --self-test).  A planted early-exit comparison must be flagged,
 * and the same data through CRYPTO_memcmp must not be:
 *
 *   leaky-512   byte-by-byte compare with early exit over 512 bytes,
 *               mismatch in the first byte (class 0) or the last (class 1)
 *   leaky-fin   the same leaky compare over 32 bytes, after the real
 *               kitls_ks_finished computation: the size and the noise of
 *               the Finished check, i.e. what the fin-* paths would show
 *               if lib/hs.c compared with memcmp
 *   ct-512      CRYPTO_memcmp over the inputs of leaky-512
 *   ct-fin      CRYPTO_memcmp over the inputs of leaky-fin
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "timing.h"

#define BIG 512

struct st_ctx {
    uint8_t ref[BIG];
    const struct kitls_suite *suite;
    uint8_t base[KITLS_MAX_HASH], th[KITLS_MAX_HASH], vd[KITLS_MAX_HASH];
};

/* The planted leak: returns at the first differing byte.  The volatile
 * reads keep the compiler from turning it into a call to memcmp (which
 * also exits early, but in 16- or 32-byte steps). */
static int __attribute__((noinline)) leaky_cmp(const uint8_t *a, const uint8_t *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return 1;
    return 0;
}

static int st_setup(void **ctx)
{
    struct st_ctx *c = calloc(1, sizeof(*c));
    TM_REQ(c && !kitls_alg_init());
    tm_rand_bytes(c->ref, sizeof(c->ref));
    c->suite = kitls_suite_find(KITLS_AES_128_GCM_SHA256);
    tm_rand_bytes(c->base, sizeof(c->base));
    tm_rand_bytes(c->th, sizeof(c->th));
    TM_REQ(!kitls_ks_finished(c->suite, c->base, c->th, c->vd));
    *ctx = c;
    return 0;
}

static void st_teardown(void *ctx)
{
    free(ctx);
}

/* A copy of ref (n bytes) with the first (class 0) or last (class 1) byte changed. */
static void mismatch(const uint8_t *ref, size_t n, int cls, uint8_t *in)
{
    memcpy(in, ref, n);
    in[cls ? n - 1 : 0] ^= tm_rand_nonzero();
}

static void big_prepare(void *ctx, int cls, uint8_t *in)
{
    mismatch(((struct st_ctx *)ctx)->ref, BIG, cls, in);
}

static int leaky_big_run(void *ctx, uint8_t *in)
{
    return leaky_cmp(((struct st_ctx *)ctx)->ref, in, BIG);
}

static int ct_big_run(void *ctx, uint8_t *in)
{
    return CRYPTO_memcmp(((struct st_ctx *)ctx)->ref, in, BIG) != 0;
}

static void fin_prepare(void *ctx, int cls, uint8_t *in)
{
    struct st_ctx *c = ctx;
    mismatch(c->vd, c->suite->hash_len, cls, in);
}

static int leaky_fin_run(void *ctx, uint8_t *in)
{
    struct st_ctx *c = ctx;
    uint8_t vd[KITLS_MAX_HASH];
    if (kitls_ks_finished(c->suite, c->base, c->th, vd))
        return -1;
    return leaky_cmp(vd, in, c->suite->hash_len);
}

static int ct_fin_run(void *ctx, uint8_t *in)
{
    struct st_ctx *c = ctx;
    uint8_t vd[KITLS_MAX_HASH];
    if (kitls_ks_finished(c->suite, c->base, c->th, vd))
        return -1;
    return CRYPTO_memcmp(vd, in, c->suite->hash_len) != 0;
}

const struct tm_path tm_self_paths[] = {
    {"leaky-512",
     "planted early-exit compare, 512 B: mismatch in first vs last byte",
     BIG,
     {1, 1},
     st_setup,
     big_prepare,
     leaky_big_run,
     st_teardown},
    {"ct-512",
     "CRYPTO_memcmp, 512 B: mismatch in first vs last byte",
     BIG,
     {1, 1},
     st_setup,
     big_prepare,
     ct_big_run,
     st_teardown},
    {"leaky-fin",
     "Finished HMAC + planted early-exit compare, 32 B: first vs last byte",
     KITLS_MAX_HASH,
     {1, 1},
     st_setup,
     fin_prepare,
     leaky_fin_run,
     st_teardown},
    {"ct-fin",
     "Finished HMAC + CRYPTO_memcmp, 32 B: first vs last byte",
     KITLS_MAX_HASH,
     {1, 1},
     st_setup,
     fin_prepare,
     ct_fin_run,
     st_teardown},
};
const size_t tm_n_self_paths = sizeof(tm_self_paths) / sizeof(tm_self_paths[0]);
