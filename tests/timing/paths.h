/* Shared by the path files of the timing harness (paths.c, paths_sig.c). */
#ifndef KITLS_TIMING_PATHS_H
#define KITLS_TIMING_PATHS_H

#include "internal.h"
#include "timing.h"

/* CertificateVerify signatures (paths_sig.c). */
#define TM_SIG_SLOT (KITLS_MAX_HASH + 2 + 512)
int tm_sig_p256_setup(void **ctx);
int tm_sig_ed25519_setup(void **ctx);
int tm_sig_rsapss_setup(void **ctx);
void tm_sig_prepare(void *ctx, int cls, uint8_t *in);
int tm_sig_run(void *ctx, uint8_t *in);
void tm_sig_teardown(void *ctx);

#define TM_SIG_ROW(name, alg, setup)                                                               \
    {                                                                                              \
        name, "crypto.c sig_verify, " alg ": valid signature vs one over another transcript",      \
            TM_SIG_SLOT, {0, KITLS_E_DECRYPT_ERROR}, setup, tm_sig_prepare, tm_sig_run,            \
            tm_sig_teardown                                                                        \
    }
#define TM_SIG_PATHS                                                                               \
    TM_SIG_ROW("sig-verify-p256", "ecdsa_secp256r1_sha256", tm_sig_p256_setup),                    \
        TM_SIG_ROW("sig-verify-ed25519", "ed25519", tm_sig_ed25519_setup),                         \
        TM_SIG_ROW("sig-verify-rsapss", "rsa_pss_rsae_sha256 (2048)", tm_sig_rsapss_setup)

/* Private-key paths: (EC)DHE and signing (paths_key.c). */
#define TM_KEY_SLOT (sizeof(void *) + 32)
int tm_kex_x25519_setup(void **ctx);
int tm_kex_p256_setup(void **ctx);
int tm_sign_p256_setup(void **ctx);
int tm_sign_ed25519_setup(void **ctx);
void tm_key_prepare(void *ctx, int cls, uint8_t *in);
int tm_kex_run(void *ctx, uint8_t *in);
int tm_sign_run(void *ctx, uint8_t *in);
void tm_key_teardown(void *ctx);

#define TM_KEY_ROW(name, what, setup, run)                                                         \
    {                                                                                              \
        name, what, TM_KEY_SLOT, {0, 0}, setup, tm_key_prepare, run, tm_key_teardown               \
    }
#define TM_KEY_PATHS                                                                               \
    TM_KEY_ROW("kex-x25519", "crypto.c kex_derive, x25519: fixed vs random private key",           \
               tm_kex_x25519_setup, tm_kex_run),                                                   \
        TM_KEY_ROW("kex-p256", "crypto.c kex_derive, secp256r1: fixed vs random private key",      \
                   tm_kex_p256_setup, tm_kex_run),                                                 \
        TM_KEY_ROW("sig-sign-p256",                                                                \
                   "crypto.c sig_sign, ecdsa_secp256r1_sha256: fixed vs random key",               \
                   tm_sign_p256_setup, tm_sign_run),                                               \
        TM_KEY_ROW("sig-sign-ed25519", "crypto.c sig_sign, ed25519: fixed vs random key",          \
                   tm_sign_ed25519_setup, tm_sign_run)

#endif
