/*
 * Key schedule, HKDF and transcript hash (lib/keysched.c) against the
 * RFC 8448 traces: section 3 (simple 1-RTT), section 4 (resumed 0-RTT:
 * resumption PSK, binder, early secrets) and section 5 (HelloRetryRequest,
 * with the message_hash transcript rewrite).
 * Internal API: this program links lib/ sources directly.
 */
#include <check.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <string.h>

#include "internal.h"
#include "rfc8448.h"

static const struct kitls_suite *sha256_suite;

static void setup(void)
{
    ck_assert_int_eq(kitls_alg_init(), 0);
    sha256_suite = kitls_suite_find(KITLS_AES_128_GCM_SHA256);
    ck_assert_ptr_nonnull(sha256_suite);
}

/* Independent HKDF-Expand-Label (RFC 8446 §7.1) through libcrypto's HKDF,
 * used to cross-check the library where the RFC has no vector. */
static void ref_expand_label(const char *md_name, const uint8_t *secret, size_t secret_len,
                             const char *label, const uint8_t *ctx, size_t ctx_len, uint8_t *out,
                             size_t out_len)
{
    uint8_t info[600];
    size_t n = 0, ll = strlen(label);
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
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md_name, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_end(),
    };
    ck_assert_int_eq(EVP_KDF_derive(kc, out, out_len, params), 1);
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
}

/* ---- HMAC / HKDF ---- */

START_TEST(test_hmac_rfc4231)
{
    /* RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe"). */
    static const uint8_t want[32] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
    };
    const char *msg = "what do ya want for nothing?";
    uint8_t out[32];
    ck_assert_int_eq(kitls_hmac(sha256_suite->md, (const uint8_t *)"Jefe", 4, (const uint8_t *)msg,
                                strlen(msg), out),
                     0);
    ck_assert_mem_eq(out, want, 32);
}
END_TEST

START_TEST(test_hmac_long_key)
{
    /* Keys longer than the block are hashed first (RFC 2104). */
    uint8_t key[200], out[48], ref[48];
    unsigned rl = 0;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7 + 1);
    const struct kitls_suite *s384 = kitls_suite_find(KITLS_AES_256_GCM_SHA384);
    ck_assert_int_eq(kitls_hmac(s384->md, key, sizeof(key), key, 17, out), 0);
    ck_assert_ptr_nonnull(HMAC(EVP_sha384(), key, sizeof(key), key, 17, ref, &rl));
    ck_assert_uint_eq(rl, 48);
    ck_assert_mem_eq(out, ref, 48);
}
END_TEST

START_TEST(test_hkdf_extract_early)
{
    uint8_t prk[32];
    /* salt 0, IKM 32 zero octets (RFC 8448 §3 "extract secret early"). */
    ck_assert_int_eq(kitls_hkdf_extract(sha256_suite->md, NULL, 0, NULL, 0, prk), 0);
    ck_assert_mem_eq(prk, s3_early, 32);
    /* Extract("derived", ecdhe) = handshake secret. */
    ck_assert_int_eq(kitls_hkdf_extract(sha256_suite->md, s3_derived_hs, 32, s3_ecdhe, 32, prk), 0);
    ck_assert_mem_eq(prk, s3_hs, 32);
}
END_TEST

START_TEST(test_expand_label_rfc8448)
{
    uint8_t out[32], empty[32];
    const EVP_MD *md = sha256_suite->md;
    ck_assert_int_eq(EVP_Digest("", 0, empty, NULL, md, NULL), 1);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_early, 32, "derived", empty, 32, out, 32), 0);
    ck_assert_mem_eq(out, s3_derived_hs, 32);
    ck_assert_int_eq(
        kitls_hkdf_expand_label(md, s3_hs, 32, "c hs traffic", s3_th_hello, 32, out, 32), 0);
    ck_assert_mem_eq(out, s3_chs, 32);
    ck_assert_int_eq(
        kitls_hkdf_expand_label(md, s3_hs, 32, "s hs traffic", s3_th_hello, 32, out, 32), 0);
    ck_assert_mem_eq(out, s3_shs, 32);
    /* Traffic keys and IVs (§7.3): key length 16, IV length 12. */
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_shs, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s3_shs_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_shs, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s3_shs_iv, 12);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_chs, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s3_chs_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_chs, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s3_chs_iv, 12);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_sap, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s3_sap_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_sap, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s3_sap_iv, 12);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_cap, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s3_cap_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_cap, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s3_cap_iv, 12);
    /* finished_key (§4.4.4). */
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_shs, 32, "finished", NULL, 0, out, 32), 0);
    ck_assert_mem_eq(out, s3_shs_fin, 32);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_chs, 32, "finished", NULL, 0, out, 32), 0);
    ck_assert_mem_eq(out, s3_chs_fin, 32);
    /* PSK from a ticket (§4.6.1): HKDF-Expand-Label(res, "resumption", nonce 00 00). */
    static const uint8_t nonce[2] = {0, 0};
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_res, 32, "resumption", nonce, 2, out, 32), 0);
    ck_assert_mem_eq(out, s3_resumption, 32);
}
END_TEST

/* Lengths and digests without an RFC vector, against libcrypto's HKDF. */
static const struct {
    uint16_t suite;
    const char *md;
    size_t out_len;
    size_t ctx_len;
} expand_cases[] = {
    {KITLS_AES_128_GCM_SHA256, "SHA256", 1, 0},
    {KITLS_AES_128_GCM_SHA256, "SHA256", 12, 32},
    {KITLS_AES_128_GCM_SHA256, "SHA256", 33, 0},
    {KITLS_AES_128_GCM_SHA256, "SHA256", 100, 255},
    {KITLS_AES_256_GCM_SHA384, "SHA384", 32, 48},
    {KITLS_AES_256_GCM_SHA384, "SHA384", 48, 0},
    {KITLS_AES_256_GCM_SHA384, "SHA384", 97, 7},
    {KITLS_CHACHA20_POLY1305_SHA256, "SHA256", 32, 32},
};

START_TEST(test_expand_labels_and_empty_hash)
{
    /* Several labels under one keying of the secret (key and IV of a
     * traffic secret, RFC 8448 §3), with a 48-byte output too (two HKDF
     * blocks; the length is in HkdfLabel, so not RFC 8448's 32-byte
     * finished key) that must equal the one-label function's. */
    uint8_t key[16], iv[12], two[48], ref[48], empty[48];
    const EVP_MD *md = sha256_suite->md;
    static const char *const labels[3] = {"key", "iv", "finished"};
    uint8_t *const outs[3] = {key, iv, two};
    const size_t lens[3] = {16, 12, 48};
    ck_assert_int_eq(kitls_hkdf_expand_labels(md, s3_shs, 32, labels, outs, lens, 3), 0);
    ck_assert_mem_eq(key, s3_shs_key, 16);
    ck_assert_mem_eq(iv, s3_shs_iv, 12);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_shs, 32, "finished", NULL, 0, ref, 48), 0);
    ck_assert_mem_eq(two, ref, 48);
    /* The constant empty-string hashes are the digests of "". */
    ck_assert_int_eq(EVP_Digest("", 0, empty, NULL, md, NULL), 1);
    ck_assert_mem_eq(kitls_hash_empty(md), empty, 32);
    ck_assert_int_eq(EVP_Digest("", 0, empty, NULL, EVP_sha384(), NULL), 1);
    ck_assert_mem_eq(kitls_hash_empty(EVP_sha384()), empty, 48);
    ck_assert_ptr_null(kitls_hash_empty(EVP_sha512()));
}
END_TEST

START_TEST(test_expand_label_ref)
{
    const struct kitls_suite *s = kitls_suite_find(expand_cases[_i].suite);
    uint8_t secret[48], ctx[255], out[128], ref[128];
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)(0xa0 + i);
    for (size_t i = 0; i < sizeof(ctx); i++)
        ctx[i] = (uint8_t)i;
    size_t n = expand_cases[_i].out_len, cl = expand_cases[_i].ctx_len;
    ck_assert_int_eq(
        kitls_hkdf_expand_label(s->md, secret, s->hash_len, "some label", ctx, cl, out, n), 0);
    ref_expand_label(expand_cases[_i].md, secret, s->hash_len, "some label", ctx, cl, ref, n);
    ck_assert_mem_eq(out, ref, n);
}
END_TEST

START_TEST(test_expand_label_limits)
{
    uint8_t out[32], ctx[256] = {0};
    char label[300];
    memset(label, 'a', sizeof(label) - 1);
    label[sizeof(label) - 1] = 0;
    /* "tls13 " + label must fit in 255 bytes; the context in 255 bytes. */
    ck_assert_int_lt(kitls_hkdf_expand_label(sha256_suite->md, s3_hs, 32, label, NULL, 0, out, 32),
                     0);
    ck_assert_int_lt(kitls_hkdf_expand_label(sha256_suite->md, s3_hs, 32, "x", ctx, 256, out, 32),
                     0);
    label[249] = 0; /* exactly 255 with the prefix */
    ck_assert_int_eq(kitls_hkdf_expand_label(sha256_suite->md, s3_hs, 32, label, NULL, 0, out, 32),
                     0);
}
END_TEST

/* ---- the ladder, RFC 8448 §3 ---- */

START_TEST(test_ladder_1rtt)
{
    struct kitls_keysched ks;
    uint8_t out[KITLS_MAX_HASH];
    memset(&ks, 0, sizeof(ks));
    ck_assert_int_eq(kitls_ks_early(&ks, sha256_suite, NULL, 0), 0);
    ck_assert_int_eq(ks.stage, KS_EARLY);
    ck_assert_mem_eq(ks.secret, s3_early, 32);
    ck_assert_int_eq(kitls_ks_handshake(&ks, s3_ecdhe, sizeof(s3_ecdhe)), 0);
    ck_assert_int_eq(ks.stage, KS_HANDSHAKE);
    ck_assert_mem_eq(ks.secret, s3_hs, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "c hs traffic", s3_th_hello, out), 0);
    ck_assert_mem_eq(out, s3_chs, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "s hs traffic", s3_th_hello, out), 0);
    ck_assert_mem_eq(out, s3_shs, 32);
    ck_assert_int_eq(kitls_ks_master(&ks), 0);
    ck_assert_int_eq(ks.stage, KS_MASTER);
    ck_assert_mem_eq(ks.secret, s3_ms, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "c ap traffic", s3_th_sfin, out), 0);
    ck_assert_mem_eq(out, s3_cap, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "s ap traffic", s3_th_sfin, out), 0);
    ck_assert_mem_eq(out, s3_sap, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "exp master", s3_th_sfin, out), 0);
    ck_assert_mem_eq(out, s3_exp, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "res master", s3_th_cfin, out), 0);
    ck_assert_mem_eq(out, s3_res, 32);
    kitls_ks_wipe(&ks);
    ck_assert_int_eq(ks.stage, KS_NONE);
    static const uint8_t zero[KITLS_MAX_HASH];
    ck_assert_mem_eq(ks.secret, zero, sizeof(zero));
}
END_TEST

START_TEST(test_ladder_one_way)
{
    struct kitls_keysched ks;
    uint8_t out[KITLS_MAX_HASH];
    memset(&ks, 0, sizeof(ks));
    /* Nothing before the early secret. */
    ck_assert_int_lt(kitls_ks_derive(&ks, "c hs traffic", s3_th_hello, out), 0);
    ck_assert_int_lt(kitls_ks_handshake(&ks, s3_ecdhe, 32), 0);
    ck_assert_int_lt(kitls_ks_master(&ks), 0);
    ck_assert_int_eq(kitls_ks_early(&ks, sha256_suite, NULL, 0), 0);
    /* No skipping the handshake stage, no going back. */
    ck_assert_int_lt(kitls_ks_master(&ks), 0);
    ck_assert_int_eq(kitls_ks_handshake(&ks, s3_ecdhe, 32), 0);
    ck_assert_int_lt(kitls_ks_handshake(&ks, s3_ecdhe, 32), 0);
    ck_assert_int_eq(kitls_ks_master(&ks), 0);
    ck_assert_int_lt(kitls_ks_master(&ks), 0);
    ck_assert_int_lt(kitls_ks_handshake(&ks, s3_ecdhe, 32), 0);
    /* Still the right master secret after the refused calls. */
    ck_assert_mem_eq(ks.secret, s3_ms, 32);
    kitls_ks_wipe(&ks);
    ck_assert_int_lt(kitls_ks_derive(&ks, "c ap traffic", s3_th_sfin, out), 0);
}
END_TEST

static void th_feed(struct kitls_transcript *t, const uint8_t *p, size_t n)
{
    ck_assert_int_eq(kitls_th_update(t, p, n), 0);
}

START_TEST(test_transcript_1rtt)
{
    struct kitls_transcript t;
    uint8_t h[KITLS_MAX_HASH], vd[KITLS_MAX_HASH];
    memset(&t, 0, sizeof(t));
    /* Messages before the suite is known are buffered. */
    th_feed(&t, s3_ch, sizeof(s3_ch));
    ck_assert_int_lt(kitls_th_current(&t, h), 0);
    th_feed(&t, s3_sh, sizeof(s3_sh));
    ck_assert_int_eq(kitls_th_set_hash(&t, sha256_suite), 0);
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s3_th_hello, 32);
    /* A second set_hash with the same suite is harmless; a different one is not. */
    ck_assert_int_eq(kitls_th_set_hash(&t, sha256_suite), 0);
    ck_assert_int_lt(kitls_th_set_hash(&t, kitls_suite_find(KITLS_AES_256_GCM_SHA384)), 0);
    th_feed(&t, s3_ee, sizeof(s3_ee));
    th_feed(&t, s3_cert, sizeof(s3_cert));
    th_feed(&t, s3_cv, sizeof(s3_cv));
    /* Server Finished over Hash(CH..CV) (RFC 8446 §4.4.4). */
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s3_shs, h, vd), 0);
    ck_assert_mem_eq(vd, s3_sfin + 4, 32);
    th_feed(&t, s3_sfin, sizeof(s3_sfin));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s3_th_sfin, 32);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s3_chs, h, vd), 0);
    ck_assert_mem_eq(vd, s3_cfin + 4, 32);
    th_feed(&t, s3_cfin, sizeof(s3_cfin));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s3_th_cfin, 32);
    /* current() does not disturb the running hash. */
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s3_th_cfin, 32);
    kitls_th_free(&t);
}
END_TEST

START_TEST(test_finished_wrong_key)
{
    uint8_t vd[32];
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s3_chs, s3_th_sfin, vd), 0);
    ck_assert_mem_eq(vd, s3_cfin + 4, 32);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s3_shs, s3_th_sfin, vd), 0);
    ck_assert(memcmp(vd, s3_cfin + 4, 32) != 0);
}
END_TEST

/* ---- RFC 8448 §5: HelloRetryRequest ---- */

START_TEST(test_hrr_rewrite)
{
    struct kitls_transcript t;
    uint8_t h[KITLS_MAX_HASH], want[32], mh[4 + 32];
    memset(&t, 0, sizeof(t));
    th_feed(&t, s5_ch1, sizeof(s5_ch1));
    ck_assert_int_eq(kitls_th_set_hash(&t, sha256_suite), 0);
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s5_th_ch1, 32);
    ck_assert_int_eq(kitls_th_hrr_rewrite(&t), 0);
    /* The transcript is now exactly message_hash(254) 00 00 20 Hash(CH1). */
    mh[0] = 254;
    mh[1] = 0;
    mh[2] = 0;
    mh[3] = 32;
    memcpy(mh + 4, s5_th_ch1, 32);
    ck_assert_int_eq(EVP_Digest(mh, sizeof(mh), want, NULL, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, want, 32);
    th_feed(&t, s5_hrr, sizeof(s5_hrr));
    th_feed(&t, s5_ch2, sizeof(s5_ch2));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s5_th_after_ch2, 32);
    th_feed(&t, s5_sh, sizeof(s5_sh));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s5_th_hello, 32);
    kitls_th_free(&t);
}
END_TEST

START_TEST(test_hrr_rewrite_buffered)
{
    /* The rewrite needs the hash: CH1 may still be buffered when the HRR
     * arrives, so the caller sets the suite first.  Without it the rewrite
     * must fail rather than hash with nothing. */
    struct kitls_transcript t;
    memset(&t, 0, sizeof(t));
    th_feed(&t, s5_ch1, sizeof(s5_ch1));
    ck_assert_int_lt(kitls_th_hrr_rewrite(&t), 0);
    kitls_th_free(&t);
}
END_TEST

START_TEST(test_hrr_full_schedule)
{
    struct kitls_transcript t;
    struct kitls_keysched ks;
    uint8_t h[KITLS_MAX_HASH], out[KITLS_MAX_HASH];
    memset(&t, 0, sizeof(t));
    memset(&ks, 0, sizeof(ks));
    th_feed(&t, s5_ch1, sizeof(s5_ch1));
    ck_assert_int_eq(kitls_th_set_hash(&t, sha256_suite), 0);
    ck_assert_int_eq(kitls_th_hrr_rewrite(&t), 0);
    th_feed(&t, s5_hrr, sizeof(s5_hrr));
    th_feed(&t, s5_ch2, sizeof(s5_ch2));
    th_feed(&t, s5_sh, sizeof(s5_sh));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_int_eq(kitls_ks_early(&ks, sha256_suite, NULL, 0), 0);
    ck_assert_int_eq(kitls_ks_handshake(&ks, s5_ecdhe, sizeof(s5_ecdhe)), 0);
    ck_assert_mem_eq(ks.secret, s5_hs, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "c hs traffic", h, out), 0);
    ck_assert_mem_eq(out, s5_chs, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "s hs traffic", h, out), 0);
    ck_assert_mem_eq(out, s5_shs, 32);
    ck_assert_int_eq(kitls_hkdf_expand_label(sha256_suite->md, s5_shs, 32, "key", NULL, 0, out, 16),
                     0);
    ck_assert_mem_eq(out, s5_shs_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(sha256_suite->md, s5_shs, 32, "iv", NULL, 0, out, 12),
                     0);
    ck_assert_mem_eq(out, s5_shs_iv, 12);
    th_feed(&t, s5_ee, sizeof(s5_ee));
    th_feed(&t, s5_cert, sizeof(s5_cert));
    th_feed(&t, s5_cv, sizeof(s5_cv));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s5_shs, h, out), 0);
    ck_assert_mem_eq(out, s5_sfin + 4, 32);
    th_feed(&t, s5_sfin, sizeof(s5_sfin));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s5_th_sfin, 32);
    ck_assert_int_eq(kitls_ks_master(&ks), 0);
    ck_assert_mem_eq(ks.secret, s5_ms, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "c ap traffic", h, out), 0);
    ck_assert_mem_eq(out, s5_cap, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "s ap traffic", h, out), 0);
    ck_assert_mem_eq(out, s5_sap, 32);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s5_chs, h, out), 0);
    ck_assert_mem_eq(out, s5_cfin + 4, 32);
    th_feed(&t, s5_cfin, sizeof(s5_cfin));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_int_eq(kitls_ks_derive(&ks, "res master", h, out), 0);
    ck_assert_mem_eq(out, s5_res, 32);
    kitls_ks_wipe(&ks);
    kitls_th_free(&t);
}
END_TEST

/* SHA-384 ladder against the reference expand-label (no RFC 8448 trace). */
START_TEST(test_ladder_sha384)
{
    const struct kitls_suite *s = kitls_suite_find(KITLS_AES_256_GCM_SHA384);
    struct kitls_keysched ks;
    uint8_t zeros[48] = {0}, early[48], empty[48], derived[48], hs[48], th[48], out[48], ref[48];
    uint8_t dhe[48];
    unsigned l = 0;
    memset(&ks, 0, sizeof(ks));
    for (size_t i = 0; i < sizeof(dhe); i++)
        dhe[i] = (uint8_t)(i ^ 0x5c);
    for (size_t i = 0; i < sizeof(th); i++)
        th[i] = (uint8_t)(3 * i);
    ck_assert_ptr_nonnull(HMAC(EVP_sha384(), zeros, 48, zeros, 48, early, &l));
    ck_assert_int_eq(kitls_ks_early(&ks, s, NULL, 0), 0);
    ck_assert_mem_eq(ks.secret, early, 48);
    ck_assert_int_eq(EVP_Digest("", 0, empty, NULL, EVP_sha384(), NULL), 1);
    ref_expand_label("SHA384", early, 48, "derived", empty, 48, derived, 48);
    ck_assert_ptr_nonnull(HMAC(EVP_sha384(), derived, 48, dhe, 48, hs, &l));
    ck_assert_int_eq(kitls_ks_handshake(&ks, dhe, 48), 0);
    ck_assert_mem_eq(ks.secret, hs, 48);
    ck_assert_int_eq(kitls_ks_derive(&ks, "s hs traffic", th, out), 0);
    ref_expand_label("SHA384", hs, 48, "s hs traffic", th, 48, ref, 48);
    ck_assert_mem_eq(out, ref, 48);
    kitls_ks_wipe(&ks);
}
END_TEST

/* ---- RFC 8448 §4: Resumed 0-RTT Handshake ---- */

/* Offsets in s4_ch: the pre_shared_key extension is last; its binders
 * list (2-byte length, 1-byte binder length, 32-byte binder) starts at
 * S4_TRUNC, the end of the part the binder covers. */
#define S4_TRUNC 477
#define S4_TICKET_AT (S4_TRUNC - 4 - 178)

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(test_s4_psk_from_ticket)
{
    const EVP_MD *md = sha256_suite->md;
    uint8_t psk[32];
    /* NewSessionTicket: lifetime, age_add, nonce<0..255>, ticket<1..2^16-1>, extensions. */
    ck_assert_uint_eq(s3_nst[0], HS_NEW_SESSION_TICKET);
    ck_assert_uint_eq(be32(s3_nst + 4), 30);
    uint32_t age_add = be32(s3_nst + 8);
    ck_assert_uint_eq(age_add, 0xfad6aac5u);
    ck_assert_uint_eq(s3_nst[12], 2);
    const uint8_t *nonce = s3_nst + 13;
    size_t tlen = (size_t)s3_nst[15] << 8 | s3_nst[16];
    ck_assert_uint_eq(tlen, 178);
    const uint8_t *ticket = s3_nst + 17;
    /* early_data extension with max_early_data_size 1024. */
    static const uint8_t ext[] = {0x00, 0x08, 0x00, 0x2a, 0x00, 0x04, 0x00, 0x00, 0x04, 0x00};
    ck_assert_uint_eq(17 + tlen + sizeof(ext), sizeof(s3_nst));
    ck_assert_mem_eq(ticket + tlen, ext, sizeof(ext));
    /* PSK = HKDF-Expand-Label(resumption_master_secret, "resumption", nonce, 32). */
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s3_res, 32, "resumption", nonce, 2, psk, 32), 0);
    ck_assert_mem_eq(psk, s3_resumption, 32);
    /* The resumed ClientHello offers exactly that ticket as its identity:
     * 00 29 (ext type) 00 dd (ext len) 00 b8 (identities) 00 b2 (identity). */
    static const uint8_t psk_hdr[] = {0x00, 0x29, 0x00, 0xdd, 0x00, 0xb8, 0x00, 0xb2};
    ck_assert_mem_eq(s4_ch + S4_TICKET_AT - 8, psk_hdr, sizeof(psk_hdr));
    ck_assert_mem_eq(s4_ch + S4_TICKET_AT, ticket, tlen);
    /* obfuscated_ticket_age = age (6 ms) + age_add, mod 2^32. */
    ck_assert_uint_eq(be32(s4_ch + S4_TICKET_AT + tlen) - age_add, 6);
    /* Binders: 00 21 (list), 20 (binder length), binder. */
    ck_assert_uint_eq(S4_TICKET_AT + tlen + 4, S4_TRUNC);
    static const uint8_t binders_hdr[] = {0x00, 0x21, 0x20};
    ck_assert_mem_eq(s4_ch + S4_TRUNC, binders_hdr, 3);
    ck_assert_uint_eq(S4_TRUNC + 3 + 32, sizeof(s4_ch));
    ck_assert_mem_eq(s4_ch + S4_TRUNC + 3, s4_binder, 32);
}
END_TEST

START_TEST(test_s4_binder)
{
    struct kitls_keysched ks;
    struct kitls_transcript t;
    const EVP_MD *md = sha256_suite->md;
    uint8_t empty[32], bk[32], fk[32], h[32], binder[32];
    memset(&ks, 0, sizeof(ks));
    memset(&t, 0, sizeof(t));
    ck_assert_int_eq(kitls_ks_early(&ks, sha256_suite, s3_resumption, 32), 0);
    ck_assert_int_eq(ks.stage, KS_EARLY);
    ck_assert_mem_eq(ks.secret, s4_early, 32);
    /* binder_key = Derive-Secret(early, "res binder", "") */
    ck_assert_int_eq(EVP_Digest("", 0, empty, NULL, md, NULL), 1);
    ck_assert_int_eq(kitls_ks_derive(&ks, "res binder", empty, bk), 0);
    ck_assert_mem_eq(bk, s4_binder_key, 32);
    /* The external-PSK label gives something else. */
    ck_assert_int_eq(kitls_ks_derive(&ks, "ext binder", empty, fk), 0);
    ck_assert(memcmp(fk, s4_binder_key, 32) != 0);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, bk, 32, "finished", NULL, 0, fk, 32), 0);
    ck_assert_mem_eq(fk, s4_binder_fin_key, 32);
    /* Transcript-Hash(Truncate(ClientHello)) */
    th_feed(&t, s4_ch, S4_TRUNC);
    ck_assert_int_eq(kitls_th_set_hash(&t, sha256_suite), 0);
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s4_binder_hash, 32);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, bk, h, binder), 0);
    ck_assert_mem_eq(binder, s4_binder, 32);
    ck_assert_mem_eq(binder, s4_ch + S4_TRUNC + 3, 32);
    /* Any change to the truncated ClientHello changes the binder. */
    uint8_t ch[S4_TRUNC];
    memcpy(ch, s4_ch, sizeof(ch));
    ch[S4_TICKET_AT + 100] ^= 1;
    ck_assert_int_eq(EVP_Digest(ch, sizeof(ch), h, NULL, md, NULL), 1);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, bk, h, binder), 0);
    ck_assert(memcmp(binder, s4_binder, 32) != 0);
    kitls_ks_wipe(&ks);
    kitls_th_free(&t);
}
END_TEST

/* The shortcuts the handshake takes to the handshake secret: the
 * constant "derived" value without a PSK (both hashes), and the PSK's
 * binder key and "derived" value from one keying (RFC 8448 §3, §4). */
START_TEST(test_handshake_from)
{
    const struct kitls_suite *s384 = kitls_suite_find(KITLS_AES_256_GCM_SHA384);
    struct kitls_keysched ks, ref;
    uint8_t dhe[48], bk[48], derived[48];
    memset(&ks, 0, sizeof(ks));
    memset(&ref, 0, sizeof(ref));
    ck_assert_int_eq(kitls_ks_handshake_from(&ks, sha256_suite, NULL, s3_ecdhe, 32), 0);
    ck_assert_int_eq(ks.stage, KS_HANDSHAKE);
    ck_assert_mem_eq(ks.secret, s3_hs, 32);
    for (size_t i = 0; i < sizeof(dhe); i++)
        dhe[i] = (uint8_t)(7 * i + 1);
    ck_assert_int_eq(kitls_ks_early(&ref, s384, NULL, 0), 0);
    ck_assert_int_eq(kitls_ks_handshake(&ref, dhe, 48), 0);
    ck_assert_int_eq(kitls_ks_handshake_from(&ks, s384, NULL, dhe, 48), 0);
    ck_assert_mem_eq(ks.secret, ref.secret, 48);
    /* With a PSK: RFC 8448 §4's binder key and handshake secret. */
    ck_assert_int_eq(kitls_ks_psk_secrets(sha256_suite, s3_resumption, 32, bk, derived), 0);
    ck_assert_mem_eq(bk, s4_binder_key, 32);
    ck_assert_int_eq(kitls_ks_handshake_from(&ks, sha256_suite, derived, s4_ecdhe, 32), 0);
    ck_assert_mem_eq(ks.secret, s4_hs, 32);
    /* ... and SHA-384's against the ladder. */
    ck_assert_int_eq(kitls_ks_psk_secrets(s384, dhe, 48, bk, derived), 0);
    ck_assert_int_eq(kitls_ks_early(&ref, s384, dhe, 48), 0);
    ck_assert_int_eq(kitls_ks_handshake(&ref, s3_ecdhe, 32), 0);
    ck_assert_int_eq(kitls_ks_handshake_from(&ks, s384, derived, s3_ecdhe, 32), 0);
    ck_assert_mem_eq(ks.secret, ref.secret, 48);
    /* The handshake stage in one keying: RFC 8448 §3's traffic secrets,
     * then its master secret; the stage admits no second derivation. */
    uint8_t c_hs[32], s_hs[32];
    ck_assert_int_eq(kitls_ks_handshake_from(&ks, sha256_suite, NULL, s3_ecdhe, 32), 0);
    ck_assert_int_eq(kitls_ks_hs_traffic(&ks, s3_th_hello, c_hs, s_hs), 0);
    ck_assert_int_eq(ks.stage, KS_HS_DERIVED);
    ck_assert_mem_eq(c_hs, s3_chs, 32);
    ck_assert_mem_eq(s_hs, s3_shs, 32);
    ck_assert_mem_eq(ks.secret, s3_derived_ms, 32);
    ck_assert_int_lt(kitls_ks_hs_traffic(&ks, s3_th_hello, c_hs, s_hs), 0);
    ck_assert_int_eq(kitls_ks_master(&ks), 0);
    ck_assert_int_eq(ks.stage, KS_MASTER);
    ck_assert_mem_eq(ks.secret, s3_ms, 32);
    kitls_ks_wipe(&ks);
    kitls_ks_wipe(&ref);
}
END_TEST

/* psk_ke (§4.2.9, §7.1): without (EC)DHE the handshake secret extracts
 * Hash.length zeros.  A caller with no shared secret may pass its (empty)
 * buffer rather than NULL, as the server resuming with psk_ke did: the
 * schedule must not extract over the empty string then. */
START_TEST(test_psk_ke_zero_input)
{
    static const uint8_t zeros[48];
    const struct kitls_suite *suites[2] = {sha256_suite,
                                           kitls_suite_find(KITLS_AES_256_GCM_SHA384)};
    uint8_t buf[48] = {0}, bk[48], derived[48];
    for (int i = 0; i < 2; i++) {
        const struct kitls_suite *s = suites[i];
        size_t hl = s->hash_len;
        struct kitls_keysched a, b, z, l1, l2;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&z, 0, sizeof(z));
        memset(&l1, 0, sizeof(l1));
        memset(&l2, 0, sizeof(l2));
        ck_assert_int_eq(kitls_ks_psk_secrets(s, s3_resumption, 32, bk, derived), 0);
        ck_assert_int_eq(kitls_ks_handshake_from(&a, s, derived, NULL, 0), 0);
        ck_assert_int_eq(kitls_ks_handshake_from(&b, s, derived, buf, 0), 0);
        ck_assert_int_eq(kitls_ks_handshake_from(&z, s, derived, zeros, hl), 0);
        ck_assert_mem_eq(a.secret, z.secret, hl);
        ck_assert_mem_eq(b.secret, z.secret, hl);
        /* the ladder too */
        ck_assert_int_eq(kitls_ks_early(&l1, s, s3_resumption, 32), 0);
        ck_assert_int_eq(kitls_ks_handshake(&l1, buf, 0), 0);
        ck_assert_mem_eq(l1.secret, z.secret, hl);
        ck_assert_int_eq(kitls_ks_early(&l2, s, buf, 0), 0);
        ck_assert_int_eq(kitls_ks_early(&l1, s, zeros, hl), 0);
        ck_assert_mem_eq(l2.secret, l1.secret, hl);
        kitls_ks_wipe(&a);
        kitls_ks_wipe(&b);
        kitls_ks_wipe(&z);
        kitls_ks_wipe(&l1);
        kitls_ks_wipe(&l2);
    }
}
END_TEST

START_TEST(test_s4_early_traffic)
{
    struct kitls_keysched ks;
    struct kitls_transcript t;
    const EVP_MD *md = sha256_suite->md;
    uint8_t h[32], out[32];
    memset(&ks, 0, sizeof(ks));
    memset(&t, 0, sizeof(t));
    ck_assert_int_eq(kitls_ks_early(&ks, sha256_suite, s3_resumption, 32), 0);
    th_feed(&t, s4_ch, sizeof(s4_ch));
    ck_assert_int_eq(kitls_th_set_hash(&t, sha256_suite), 0);
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s4_th_ch, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "c e traffic", h, out), 0);
    ck_assert_mem_eq(out, s4_cets, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "e exp master", h, out), 0);
    ck_assert_mem_eq(out, s4_eems, 32);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_cets, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s4_early_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_cets, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s4_early_iv, 12);
    /* The early secret is computed over the full ClientHello, binders
     * included: the truncated hash gives a different secret. */
    ck_assert_int_eq(kitls_ks_derive(&ks, "c e traffic", s4_binder_hash, out), 0);
    ck_assert(memcmp(out, s4_cets, 32) != 0);
    kitls_ks_wipe(&ks);
    kitls_th_free(&t);
}
END_TEST

/* The client's binder keeps the truncated ClientHello's hash state in the
 * transcript's storage (kitls_th_peek without a hash chosen): the
 * transcript must then equal a plain one whichever suite follows, and a
 * first update that does not start with the peeked bytes must not use it. */
static void th_plain(const struct kitls_suite *s, const uint8_t *m, size_t n, const uint8_t *m2,
                     size_t n2, uint8_t *out)
{
    struct kitls_hash h;
    ck_assert_int_eq(kitls_hash_init(&h, s->md), 0);
    kitls_hash_update(&h, m, n);
    kitls_hash_update(&h, m2, n2);
    kitls_hash_final(&h, out);
}

START_TEST(test_th_binder_kept)
{
    const uint16_t ids[2] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384};
    uint8_t ch[700], sh[90], want[KITLS_MAX_HASH], got[KITLS_MAX_HASH], bh[KITLS_MAX_HASH];
    for (size_t i = 0; i < sizeof(ch); i++)
        ch[i] = (uint8_t)(i * 7 + 3);
    memset(sh, 0x5a, sizeof(sh));
    size_t trunc = 613; /* the bytes before the binders (not a block multiple) */
    for (int psk = 0; psk < 2; psk++) {
        for (int neg = 0; neg < 2; neg++) {
            for (int bad = 0; bad < 3; bad++) {
                const struct kitls_suite *ps = kitls_suite_find(ids[psk]);
                const struct kitls_suite *ns = kitls_suite_find(ids[neg]);
                struct kitls_hash store;
                struct kitls_transcript t = {.store = &store};
                ck_assert_int_eq(kitls_th_peek(&t, ps, ch, trunc, bh), 0);
                th_plain(ps, ch, trunc, NULL, 0, want);
                ck_assert_mem_eq(bh, want, ps->hash_len);
                uint8_t other[700];
                memcpy(other, ch, sizeof(ch));
                other[0] ^= 1;
                if (bad == 1) /* a shorter first update: the state is dropped */
                    ck_assert_int_eq(kitls_th_update(&t, other, trunc - 1), 0);
                else if (bad == 2) /* something pending before: the same */
                    ck_assert_int_eq(kitls_th_update(&t, other, 4), 0);
                const uint8_t *m = bad ? other : ch;
                size_t mlen = bad == 1 ? trunc - 1 : bad == 2 ? 4 : 0;
                ck_assert_int_eq(kitls_th_update(&t, ch, sizeof(ch)), 0);
                ck_assert_int_eq(kitls_th_set_hash(&t, ns), 0);
                ck_assert_int_eq(kitls_th_update(&t, sh, sizeof(sh)), 0);
                ck_assert_int_eq(kitls_th_current(&t, got), 0);
                /* plain: [m (mlen)] ch sh */
                struct kitls_hash h;
                ck_assert_int_eq(kitls_hash_init(&h, ns->md), 0);
                kitls_hash_update(&h, m, mlen);
                kitls_hash_update(&h, ch, sizeof(ch));
                kitls_hash_update(&h, sh, sizeof(sh));
                kitls_hash_final(&h, want);
                ck_assert_mem_eq(got, want, ns->hash_len);
                kitls_th_free(&t);
            }
        }
    }
}
END_TEST

START_TEST(test_s4_full_schedule)
{
    struct kitls_keysched ks;
    struct kitls_transcript t;
    const EVP_MD *md = sha256_suite->md;
    uint8_t h[32], out[32], empty[32];
    memset(&ks, 0, sizeof(ks));
    memset(&t, 0, sizeof(t));
    ck_assert_int_eq(EVP_Digest("", 0, empty, NULL, md, NULL), 1);
    ck_assert_int_eq(kitls_ks_early(&ks, sha256_suite, s3_resumption, 32), 0);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_early, 32, "derived", empty, 32, out, 32), 0);
    ck_assert_mem_eq(out, s4_derived_hs, 32);
    /* Handshake secret = Extract(derived, ECDHE) (psk_dhe_ke). */
    ck_assert_int_eq(kitls_ks_handshake(&ks, s4_ecdhe, sizeof(s4_ecdhe)), 0);
    ck_assert_mem_eq(ks.secret, s4_hs, 32);
    th_feed(&t, s4_ch, sizeof(s4_ch));
    th_feed(&t, s4_sh, sizeof(s4_sh));
    ck_assert_int_eq(kitls_th_set_hash(&t, sha256_suite), 0);
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s4_th_hello, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "c hs traffic", h, out), 0);
    ck_assert_mem_eq(out, s4_chs, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "s hs traffic", h, out), 0);
    ck_assert_mem_eq(out, s4_shs, 32);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_shs, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s4_shs_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_shs, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s4_shs_iv, 12);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_chs, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s4_chs_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_chs, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s4_chs_iv, 12);
    /* No Certificate/CertificateVerify in a resumed handshake. */
    th_feed(&t, s4_ee, sizeof(s4_ee));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s4_shs, h, out), 0);
    ck_assert_mem_eq(out, s4_sfin + 4, 32);
    th_feed(&t, s4_sfin, sizeof(s4_sfin));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s4_th_sfin, 32);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_hs, 32, "derived", empty, 32, out, 32), 0);
    ck_assert_mem_eq(out, s4_derived_ms, 32);
    ck_assert_int_eq(kitls_ks_master(&ks), 0);
    ck_assert_mem_eq(ks.secret, s4_ms, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "c ap traffic", h, out), 0);
    ck_assert_mem_eq(out, s4_cap, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "s ap traffic", h, out), 0);
    ck_assert_mem_eq(out, s4_sap, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "exp master", h, out), 0);
    ck_assert_mem_eq(out, s4_exp, 32);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_cap, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s4_cap_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_cap, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s4_cap_iv, 12);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_sap, 32, "key", NULL, 0, out, 16), 0);
    ck_assert_mem_eq(out, s4_sap_key, 16);
    ck_assert_int_eq(kitls_hkdf_expand_label(md, s4_sap, 32, "iv", NULL, 0, out, 12), 0);
    ck_assert_mem_eq(out, s4_sap_iv, 12);
    /* EndOfEarlyData is part of the transcript the client Finished covers. */
    th_feed(&t, s4_eoed, sizeof(s4_eoed));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s4_th_eoed, 32);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s4_chs, h, out), 0);
    ck_assert_mem_eq(out, s4_cfin + 4, 32);
    th_feed(&t, s4_cfin, sizeof(s4_cfin));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_mem_eq(h, s4_th_cfin, 32);
    ck_assert_int_eq(kitls_ks_derive(&ks, "res master", h, out), 0);
    ck_assert_mem_eq(out, s4_res, 32);
    kitls_ks_wipe(&ks);
    kitls_th_free(&t);
}
END_TEST

START_TEST(test_s4_without_eoed)
{
    /* Leaving EndOfEarlyData out of the transcript gives a different client
     * Finished: a server that forgets it cannot verify the client. */
    struct kitls_transcript t;
    uint8_t h[32], out[32];
    memset(&t, 0, sizeof(t));
    th_feed(&t, s4_ch, sizeof(s4_ch));
    th_feed(&t, s4_sh, sizeof(s4_sh));
    ck_assert_int_eq(kitls_th_set_hash(&t, sha256_suite), 0);
    th_feed(&t, s4_ee, sizeof(s4_ee));
    th_feed(&t, s4_sfin, sizeof(s4_sfin));
    ck_assert_int_eq(kitls_th_current(&t, h), 0);
    ck_assert_int_eq(kitls_ks_finished(sha256_suite, s4_chs, h, out), 0);
    ck_assert(memcmp(out, s4_cfin + 4, 32) != 0);
    kitls_th_free(&t);
}
END_TEST

static Suite *keysched_suite(void)
{
    Suite *s = suite_create("keysched");
    TCase *tc = tcase_create("hkdf");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_hmac_rfc4231);
    tcase_add_test(tc, test_hmac_long_key);
    tcase_add_test(tc, test_hkdf_extract_early);
    tcase_add_test(tc, test_expand_label_rfc8448);
    tcase_add_test(tc, test_expand_labels_and_empty_hash);
    tcase_add_loop_test(tc, test_expand_label_ref, 0,
                        (int)(sizeof(expand_cases) / sizeof(expand_cases[0])));
    tcase_add_test(tc, test_expand_label_limits);
    tcase_add_test(tc, test_psk_ke_zero_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("rfc8448_1rtt");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_ladder_1rtt);
    tcase_add_test(tc, test_ladder_one_way);
    tcase_add_test(tc, test_transcript_1rtt);
    tcase_add_test(tc, test_finished_wrong_key);
    tcase_add_test(tc, test_ladder_sha384);
    suite_add_tcase(s, tc);

    tc = tcase_create("rfc8448_hrr");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_hrr_rewrite);
    tcase_add_test(tc, test_hrr_rewrite_buffered);
    tcase_add_test(tc, test_hrr_full_schedule);
    suite_add_tcase(s, tc);

    tc = tcase_create("rfc8448_0rtt");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_s4_psk_from_ticket);
    tcase_add_test(tc, test_s4_binder);
    tcase_add_test(tc, test_handshake_from);
    tcase_add_test(tc, test_s4_early_traffic);
    tcase_add_test(tc, test_s4_full_schedule);
    tcase_add_test(tc, test_s4_without_eoed);
    tcase_add_test(tc, test_th_binder_kept);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(keysched_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
