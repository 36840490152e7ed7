/*
 * Record protection (lib/record.c): RFC 8448 §3 and §4 (0-RTT: early
 * data, EndOfEarlyData) records byte for byte, tampering, sequence
 * numbers, padding, size limits, all three AEADs and KeyUpdate.
 * Internal API: this program links lib/ sources directly.
 */
#include <check.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rfc8448.h"

static const struct kitls_suite *aes128;

static void setup(void)
{
    ck_assert_int_eq(kitls_alg_init(), 0);
    aes128 = kitls_suite_find(KITLS_AES_128_GCM_SHA256);
    ck_assert_ptr_nonnull(aes128);
}

/* Buffer big enough for any record plus slack. */
#define BUF (KITLS_REC_HDR + KITLS_MAX_CIPHERTEXT + 64)

static uint8_t *rec_buf(void)
{
    uint8_t *b = calloc(1, BUF);
    ck_assert_ptr_nonnull(b);
    return b;
}

static void dir_init(struct kitls_rec_dir *d, const struct kitls_suite *s, const uint8_t *secret,
                     int enc)
{
    memset(d, 0, sizeof(*d));
    ck_assert_int_eq(kitls_rec_set_secret(d, s, secret, enc), 0);
}

/* Seal plaintext p and compare with an expected complete record. */
static void seal_expect(const struct kitls_suite *s, const uint8_t *secret, uint64_t seq,
                        const uint8_t *p, size_t n, uint8_t type, const uint8_t *want,
                        size_t want_len)
{
    struct kitls_rec_dir d;
    uint8_t *b = rec_buf();
    dir_init(&d, s, secret, 1);
    d.seq = seq;
    memcpy(b + KITLS_REC_HDR, p, n);
    int r = kitls_rec_seal(&d, b, n, type, 0);
    ck_assert_int_eq(r, (int)want_len);
    ck_assert_mem_eq(b, want, want_len);
    ck_assert_uint_eq(d.seq, seq + 1);
    kitls_rec_wipe(&d);
    free(b);
}

static void open_expect(const struct kitls_suite *s, const uint8_t *secret, uint64_t seq,
                        const uint8_t *rec, size_t rec_len, uint8_t want_type, const uint8_t *want,
                        size_t want_len)
{
    struct kitls_rec_dir d;
    uint8_t *b = rec_buf(), type = 0;
    size_t n = 0;
    dir_init(&d, s, secret, 0);
    d.seq = seq;
    memcpy(b, rec, rec_len);
    ck_assert_int_eq(kitls_rec_open(&d, b, rec_len - KITLS_REC_HDR, &type, &n), 0);
    ck_assert_uint_eq(type, want_type);
    ck_assert_uint_eq(n, want_len);
    ck_assert_mem_eq(b + KITLS_REC_HDR, want, want_len);
    ck_assert_uint_eq(d.seq, seq + 1);
    kitls_rec_wipe(&d);
    free(b);
}

/* ---- RFC 8448 §3 known answers ---- */

static uint8_t *server_flight(size_t *n)
{
    size_t len = sizeof(s3_ee) + sizeof(s3_cert) + sizeof(s3_cv) + sizeof(s3_sfin);
    uint8_t *p = malloc(len), *q = p;
    memcpy(q, s3_ee, sizeof(s3_ee));
    q += sizeof(s3_ee);
    memcpy(q, s3_cert, sizeof(s3_cert));
    q += sizeof(s3_cert);
    memcpy(q, s3_cv, sizeof(s3_cv));
    q += sizeof(s3_cv);
    memcpy(q, s3_sfin, sizeof(s3_sfin));
    *n = len;
    return p;
}

START_TEST(test_keys_from_secret)
{
    struct kitls_rec_dir d;
    dir_init(&d, aes128, s3_shs, 1);
    ck_assert_mem_eq(d.key, s3_shs_key, 16);
    ck_assert_mem_eq(d.iv, s3_shs_iv, 12);
    ck_assert_uint_eq(d.seq, 0);
    ck_assert_ptr_eq(d.suite, aes128);
    kitls_rec_wipe(&d);
    dir_init(&d, aes128, s3_cap, 0);
    ck_assert_mem_eq(d.key, s3_cap_key, 16);
    ck_assert_mem_eq(d.iv, s3_cap_iv, 12);
    kitls_rec_wipe(&d);
    /* Wipe clears everything. */
    static const uint8_t zero[sizeof(d.key)];
    ck_assert_mem_eq(d.key, zero, sizeof(d.key));
    ck_assert_ptr_null(d.ctx);
}
END_TEST

/* The Finished key derived with the record keys (one keyed HMAC of the
 * secret) is RFC 8448's, and the key and iv are unchanged. */
START_TEST(test_keys_and_finished_key)
{
    struct kitls_rec_dir d;
    uint8_t fk[KITLS_MAX_HASH];
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(kitls_rec_set_secret_fin(&d, aes128, s3_shs, 1, fk), 0);
    ck_assert_mem_eq(d.key, s3_shs_key, 16);
    ck_assert_mem_eq(d.iv, s3_shs_iv, 12);
    ck_assert_mem_eq(fk, s3_shs_fin, 32);
    kitls_rec_wipe(&d);
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(kitls_rec_set_secret_fin(&d, aes128, s3_chs, 0, fk), 0);
    ck_assert_mem_eq(fk, s3_chs_fin, 32);
    kitls_rec_wipe(&d);
}
END_TEST

START_TEST(test_server_flight_kat)
{
    size_t n;
    uint8_t *flight = server_flight(&n);
    ck_assert_uint_eq(n, 657);
    seal_expect(aes128, s3_shs, 0, flight, n, CT_HANDSHAKE, s3_flight_rec, sizeof(s3_flight_rec));
    open_expect(aes128, s3_shs, 0, s3_flight_rec, sizeof(s3_flight_rec), CT_HANDSHAKE, flight, n);
    free(flight);
}
END_TEST

START_TEST(test_client_finished_kat)
{
    seal_expect(aes128, s3_chs, 0, s3_cfin, sizeof(s3_cfin), CT_HANDSHAKE, s3_cfin_rec,
                sizeof(s3_cfin_rec));
    open_expect(aes128, s3_chs, 0, s3_cfin_rec, sizeof(s3_cfin_rec), CT_HANDSHAKE, s3_cfin,
                sizeof(s3_cfin));
}
END_TEST

START_TEST(test_app_data_kat)
{
    static const uint8_t close_notify[2] = {1, 0};
    /* Client: first application record, then close_notify. */
    seal_expect(aes128, s3_cap, 0, s3_app, sizeof(s3_app), CT_APPDATA, s3_capp_rec,
                sizeof(s3_capp_rec));
    open_expect(aes128, s3_cap, 0, s3_capp_rec, sizeof(s3_capp_rec), CT_APPDATA, s3_app,
                sizeof(s3_app));
    seal_expect(aes128, s3_cap, 1, close_notify, 2, CT_ALERT, s3_cclose_rec, sizeof(s3_cclose_rec));
    open_expect(aes128, s3_cap, 1, s3_cclose_rec, sizeof(s3_cclose_rec), CT_ALERT, close_notify, 2);
    /* Server: the NewSessionTicket took sequence number 0. */
    seal_expect(aes128, s3_sap, 1, s3_app, sizeof(s3_app), CT_APPDATA, s3_sapp_rec,
                sizeof(s3_sapp_rec));
    open_expect(aes128, s3_sap, 1, s3_sapp_rec, sizeof(s3_sapp_rec), CT_APPDATA, s3_app,
                sizeof(s3_app));
    seal_expect(aes128, s3_sap, 2, close_notify, 2, CT_ALERT, s3_sclose_rec, sizeof(s3_sclose_rec));
    open_expect(aes128, s3_sap, 2, s3_sclose_rec, sizeof(s3_sclose_rec), CT_ALERT, close_notify, 2);
}
END_TEST

/* ---- RFC 8448 §4 known answers (resumed 0-RTT) ---- */

START_TEST(test_s4_keys_from_secret)
{
    struct kitls_rec_dir d;
    dir_init(&d, aes128, s4_cets, 1);
    ck_assert_mem_eq(d.key, s4_early_key, 16);
    ck_assert_mem_eq(d.iv, s4_early_iv, 12);
    kitls_rec_wipe(&d);
    dir_init(&d, aes128, s4_shs, 0);
    ck_assert_mem_eq(d.key, s4_shs_key, 16);
    ck_assert_mem_eq(d.iv, s4_shs_iv, 12);
    kitls_rec_wipe(&d);
    dir_init(&d, aes128, s4_chs, 0);
    ck_assert_mem_eq(d.key, s4_chs_key, 16);
    ck_assert_mem_eq(d.iv, s4_chs_iv, 12);
    kitls_rec_wipe(&d);
    dir_init(&d, aes128, s4_sap, 0);
    ck_assert_mem_eq(d.key, s4_sap_key, 16);
    ck_assert_mem_eq(d.iv, s4_sap_iv, 12);
    kitls_rec_wipe(&d);
    dir_init(&d, aes128, s4_cap, 0);
    ck_assert_mem_eq(d.key, s4_cap_key, 16);
    ck_assert_mem_eq(d.iv, s4_cap_iv, 12);
    kitls_rec_wipe(&d);
}
END_TEST

START_TEST(test_s4_early_data_kat)
{
    /* First record under client_early_traffic_secret: the 0-RTT data. */
    seal_expect(aes128, s4_cets, 0, s4_early_app, sizeof(s4_early_app), CT_APPDATA, s4_early_rec,
                sizeof(s4_early_rec));
    open_expect(aes128, s4_cets, 0, s4_early_rec, sizeof(s4_early_rec), CT_APPDATA, s4_early_app,
                sizeof(s4_early_app));
}
END_TEST

START_TEST(test_s4_eoed_kat)
{
    /* EndOfEarlyData is the second record under the early key (seq 1). */
    seal_expect(aes128, s4_cets, 1, s4_eoed, sizeof(s4_eoed), CT_HANDSHAKE, s4_eoed_rec,
                sizeof(s4_eoed_rec));
    open_expect(aes128, s4_cets, 1, s4_eoed_rec, sizeof(s4_eoed_rec), CT_HANDSHAKE, s4_eoed,
                sizeof(s4_eoed));
    /* Not at seq 0, and not under the handshake key. */
    struct kitls_rec_dir d;
    uint8_t *b = rec_buf(), type = 0;
    size_t n = 0;
    dir_init(&d, aes128, s4_cets, 0);
    memcpy(b, s4_eoed_rec, sizeof(s4_eoed_rec));
    ck_assert_int_eq(kitls_rec_open(&d, b, sizeof(s4_eoed_rec) - KITLS_REC_HDR, &type, &n),
                     KITLS_E_BAD_RECORD_MAC);
    kitls_rec_wipe(&d);
    dir_init(&d, aes128, s4_chs, 0);
    d.seq = 1;
    memcpy(b, s4_eoed_rec, sizeof(s4_eoed_rec));
    ck_assert_int_eq(kitls_rec_open(&d, b, sizeof(s4_eoed_rec) - KITLS_REC_HDR, &type, &n),
                     KITLS_E_BAD_RECORD_MAC);
    kitls_rec_wipe(&d);
    free(b);
}
END_TEST

START_TEST(test_s4_server_flight_kat)
{
    uint8_t flight[sizeof(s4_ee) + sizeof(s4_sfin)];
    memcpy(flight, s4_ee, sizeof(s4_ee));
    memcpy(flight + sizeof(s4_ee), s4_sfin, sizeof(s4_sfin));
    seal_expect(aes128, s4_shs, 0, flight, sizeof(flight), CT_HANDSHAKE, s4_flight_rec,
                sizeof(s4_flight_rec));
    open_expect(aes128, s4_shs, 0, s4_flight_rec, sizeof(s4_flight_rec), CT_HANDSHAKE, flight,
                sizeof(flight));
}
END_TEST

START_TEST(test_s4_client_finished_kat)
{
    /* After EndOfEarlyData the client switches to its handshake key (seq 0). */
    seal_expect(aes128, s4_chs, 0, s4_cfin, sizeof(s4_cfin), CT_HANDSHAKE, s4_cfin_rec,
                sizeof(s4_cfin_rec));
    open_expect(aes128, s4_chs, 0, s4_cfin_rec, sizeof(s4_cfin_rec), CT_HANDSHAKE, s4_cfin,
                sizeof(s4_cfin));
}
END_TEST

START_TEST(test_s4_app_data_kat)
{
    static const uint8_t close_notify[2] = {1, 0};
    seal_expect(aes128, s4_cap, 0, s3_app, sizeof(s3_app), CT_APPDATA, s4_capp_rec,
                sizeof(s4_capp_rec));
    open_expect(aes128, s4_cap, 0, s4_capp_rec, sizeof(s4_capp_rec), CT_APPDATA, s3_app,
                sizeof(s3_app));
    seal_expect(aes128, s4_sap, 0, s3_app, sizeof(s3_app), CT_APPDATA, s4_sapp_rec,
                sizeof(s4_sapp_rec));
    open_expect(aes128, s4_sap, 0, s4_sapp_rec, sizeof(s4_sapp_rec), CT_APPDATA, s3_app,
                sizeof(s3_app));
    seal_expect(aes128, s4_cap, 1, close_notify, 2, CT_ALERT, s4_cclose_rec, sizeof(s4_cclose_rec));
    open_expect(aes128, s4_cap, 1, s4_cclose_rec, sizeof(s4_cclose_rec), CT_ALERT, close_notify, 2);
    seal_expect(aes128, s4_sap, 1, close_notify, 2, CT_ALERT, s4_sclose_rec, sizeof(s4_sclose_rec));
    open_expect(aes128, s4_sap, 1, s4_sclose_rec, sizeof(s4_sclose_rec), CT_ALERT, close_notify, 2);
}
END_TEST

START_TEST(test_sequence_numbers)
{
    struct kitls_rec_dir d;
    uint8_t *b = rec_buf(), type;
    size_t n;
    /* Server app record was sealed with seq 1: seq 0 and 2 fail. */
    for (uint64_t seq = 0; seq < 3; seq++) {
        dir_init(&d, aes128, s3_sap, 0);
        d.seq = seq;
        memcpy(b, s3_sapp_rec, sizeof(s3_sapp_rec));
        int r = kitls_rec_open(&d, b, sizeof(s3_sapp_rec) - 5, &type, &n);
        if (seq == 1) {
            ck_assert_int_eq(r, 0);
            ck_assert_uint_eq(d.seq, 2);
        } else {
            ck_assert_int_eq(r, KITLS_E_BAD_RECORD_MAC);
            ck_assert_uint_eq(d.seq, seq); /* a failed record does not advance */
        }
        kitls_rec_wipe(&d);
    }
    /* A replayed record fails: the sequence number moved on. */
    dir_init(&d, aes128, s3_cap, 0);
    memcpy(b, s3_capp_rec, sizeof(s3_capp_rec));
    ck_assert_int_eq(kitls_rec_open(&d, b, sizeof(s3_capp_rec) - 5, &type, &n), 0);
    memcpy(b, s3_capp_rec, sizeof(s3_capp_rec));
    ck_assert_int_eq(kitls_rec_open(&d, b, sizeof(s3_capp_rec) - 5, &type, &n),
                     KITLS_E_BAD_RECORD_MAC);
    kitls_rec_wipe(&d);
    /* Many records in a row: sealer and opener stay in step. */
    struct kitls_rec_dir tx, rx;
    dir_init(&tx, aes128, s3_cap, 1);
    dir_init(&rx, aes128, s3_cap, 0);
    for (int i = 0; i < 300; i++) {
        memset(b + 5, i, 10);
        int r = kitls_rec_seal(&tx, b, 10, CT_APPDATA, 0);
        ck_assert_int_gt(r, 0);
        ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
        ck_assert_uint_eq(n, 10);
        ck_assert_uint_eq(b[5 + 9], (uint8_t)i);
    }
    ck_assert_uint_eq(tx.seq, 300);
    ck_assert_uint_eq(rx.seq, 300);
    /* The nonce uses all 64 bits of the sequence number. */
    tx.seq = rx.seq = ((uint64_t)1 << 40) + 5;
    memset(b + 5, 7, 10);
    int r = kitls_rec_seal(&tx, b, 10, CT_APPDATA, 0);
    ck_assert_int_gt(r, 0);
    uint8_t copy[64];
    memcpy(copy, b, (size_t)r);
    rx.seq = 5;
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), KITLS_E_BAD_RECORD_MAC);
    memcpy(b, copy, (size_t)r); /* opening decrypts in place */
    rx.seq = ((uint64_t)1 << 40) + 5;
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
    /* The sequence number must not wrap (RFC 8446 §5.3). */
    tx.seq = UINT64_MAX;
    ck_assert_int_lt(kitls_rec_seal(&tx, b, 10, CT_APPDATA, 0), 0);
    ck_assert_uint_eq(tx.seq, UINT64_MAX);
    kitls_rec_wipe(&tx);
    kitls_rec_wipe(&rx);
    free(b);
}
END_TEST

/* Flip each bit position class: every byte of header, ciphertext and tag. */
START_TEST(test_tamper_every_byte)
{
    struct kitls_rec_dir d;
    uint8_t *b = rec_buf(), type;
    size_t n, len = sizeof(s3_capp_rec);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            dir_init(&d, aes128, s3_cap, 0);
            memcpy(b, s3_capp_rec, len);
            b[i] ^= (uint8_t)(1u << bit);
            int r = kitls_rec_open(&d, b, len - 5, &type, &n);
            ck_assert_msg(r == KITLS_E_BAD_RECORD_MAC, "byte %zu bit %d: got %d", i, bit, r);
            kitls_rec_wipe(&d);
        }
    }
    /* Truncated: drop the last byte of the tag. */
    dir_init(&d, aes128, s3_cap, 0);
    memcpy(b, s3_capp_rec, len);
    ck_assert_int_eq(kitls_rec_open(&d, b, len - 6, &type, &n), KITLS_E_BAD_RECORD_MAC);
    /* Shorter than a tag plus the content type. */
    ck_assert_int_eq(kitls_rec_open(&d, b, 16, &type, &n), KITLS_E_BAD_RECORD_MAC);
    ck_assert_int_eq(kitls_rec_open(&d, b, 0, &type, &n), KITLS_E_BAD_RECORD_MAC);
    /* Untouched record still opens with the same direction state. */
    memcpy(b, s3_capp_rec, len);
    ck_assert_int_eq(kitls_rec_open(&d, b, len - 5, &type, &n), 0);
    kitls_rec_wipe(&d);
    free(b);
}
END_TEST

START_TEST(test_padding)
{
    struct kitls_rec_dir tx, rx;
    uint8_t *b = rec_buf(), type;
    size_t n;
    static const size_t pads[] = {0, 1, 15, 16, 255, 1000};
    dir_init(&tx, aes128, s3_sap, 1);
    dir_init(&rx, aes128, s3_sap, 0);
    for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        memcpy(b + 5, "hello", 5);
        int r = kitls_rec_seal(&tx, b, 5, CT_APPDATA, pads[i]);
        ck_assert_int_eq(r, (int)(5 + 5 + 1 + pads[i] + 16));
        ck_assert_uint_eq(b[3] << 8 | b[4], 5 + 1 + pads[i] + 16);
        ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
        ck_assert_uint_eq(type, CT_APPDATA);
        ck_assert_uint_eq(n, 5);
        ck_assert_mem_eq(b + 5, "hello", 5);
    }
    /* Plaintext that ends in zeros keeps them: only padding after the type goes. */
    memset(b + 5, 0, 8);
    b[5] = 'x';
    int r = kitls_rec_seal(&tx, b, 8, CT_APPDATA, 3);
    ck_assert_int_gt(r, 0);
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
    ck_assert_uint_eq(n, 8);
    /* Empty application data record with padding is valid. */
    r = kitls_rec_seal(&tx, b, 0, CT_APPDATA, 4);
    ck_assert_int_gt(r, 0);
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(type, CT_APPDATA);
    /* All-zero inner plaintext: no content type (RFC 8446 §5.4,
     * unexpected_message). */
    r = kitls_rec_seal(&tx, b, 0, 0, 10);
    ck_assert_int_gt(r, 0);
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), KITLS_E_UNEXPECTED_MESSAGE);
    kitls_rec_wipe(&tx);
    kitls_rec_wipe(&rx);
    free(b);
}
END_TEST

START_TEST(test_size_limits)
{
    struct kitls_rec_dir tx, rx;
    uint8_t *b = rec_buf(), type;
    size_t n;
    dir_init(&tx, aes128, s3_sap, 1);
    dir_init(&rx, aes128, s3_sap, 0);
    /* 2^14 bytes of plaintext is the maximum and works. */
    memset(b + 5, 0x42, KITLS_MAX_PLAINTEXT);
    int r = kitls_rec_seal(&tx, b, KITLS_MAX_PLAINTEXT, CT_APPDATA, 0);
    ck_assert_int_eq(r, 5 + KITLS_MAX_PLAINTEXT + 1 + 16);
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
    ck_assert_uint_eq(n, KITLS_MAX_PLAINTEXT);
    /* 2^14 + 1 bytes of plaintext: record_overflow on receipt. */
    r = kitls_rec_seal(&tx, b, KITLS_MAX_PLAINTEXT + 1, CT_APPDATA, 0);
    ck_assert_int_gt(r, 0);
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), KITLS_E_RECORD_OVERFLOW);
    /* Ciphertext longer than 2^14 + 256: record_overflow before decrypting. */
    kitls_rec_wipe(&rx);
    dir_init(&rx, aes128, s3_sap, 0);
    ck_assert_int_eq(kitls_rec_open(&rx, b, KITLS_MAX_CIPHERTEXT + 1, &type, &n),
                     KITLS_E_RECORD_OVERFLOW);
    ck_assert_uint_eq(rx.seq, 0);
    /* The sealer refuses to build a record over the limit. */
    ck_assert_int_lt(kitls_rec_seal(&tx, b, KITLS_MAX_PLAINTEXT, CT_APPDATA, 256), 0);
    kitls_rec_wipe(&tx);
    kitls_rec_wipe(&rx);
    free(b);
}
END_TEST

/* ---- all AEADs, cross-checked against libcrypto directly ---- */

static const uint16_t all_suites[] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                      KITLS_CHACHA20_POLY1305_SHA256};

static void ref_label(const char *md, const uint8_t *secret, size_t sl, const char *label,
                      uint8_t *out, size_t out_len)
{
    uint8_t info[64];
    size_t n = 0, ll = strlen(label);
    info[n++] = 0;
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = 0;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, sl),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_end(),
    };
    ck_assert_int_eq(EVP_KDF_derive(kc, out, out_len, params), 1);
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
}

START_TEST(test_suite_roundtrip)
{
    static const char *mds[] = {"SHA256", "SHA384", "SHA256"};
    static const char *ciphers[] = {"AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305"};
    const struct kitls_suite *s = kitls_suite_find(all_suites[_i]);
    struct kitls_rec_dir tx, rx;
    uint8_t secret[48], key[32], iv[12], *b = rec_buf(), *ref = rec_buf(), type;
    size_t n;
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)(i * 13 + _i);
    dir_init(&tx, s, secret, 1);
    dir_init(&rx, s, secret, 0);
    ref_label(mds[_i], secret, s->hash_len, "key", key, s->key_len);
    ref_label(mds[_i], secret, s->hash_len, "iv", iv, 12);
    ck_assert_mem_eq(tx.key, key, s->key_len);
    ck_assert_mem_eq(tx.iv, iv, 12);

    static const size_t sizes[] = {0, 1, 100, 4096, KITLS_MAX_PLAINTEXT};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t len = sizes[k];
        for (size_t j = 0; j < len; j++)
            b[5 + j] = (uint8_t)(j * 31 + k);
        memcpy(ref, b, 5 + len);
        /* Independent AEAD: nonce = iv xor seq, AAD = header. */
        uint8_t nonce[12], hdr[5], *rp = ref + 5;
        memcpy(nonce, iv, 12);
        for (int q = 0; q < 8; q++)
            nonce[11 - q] ^= (uint8_t)(tx.seq >> (8 * q));
        rp[len] = CT_APPDATA;
        size_t ct_len = len + 1 + 16;
        hdr[0] = 23;
        hdr[1] = 3;
        hdr[2] = 3;
        hdr[3] = (uint8_t)(ct_len >> 8);
        hdr[4] = (uint8_t)ct_len;
        EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, ciphers[_i], NULL);
        EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
        int ol;
        ck_assert_int_eq(EVP_EncryptInit_ex2(cc, c, key, nonce, NULL), 1);
        ck_assert_int_eq(EVP_EncryptUpdate(cc, NULL, &ol, hdr, 5), 1);
        ck_assert_int_eq(EVP_EncryptUpdate(cc, rp, &ol, rp, (int)(len + 1)), 1);
        ck_assert_int_eq(EVP_EncryptFinal_ex(cc, rp + ol, &ol), 1);
        ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_AEAD_GET_TAG, 16, rp + len + 1), 1);
        EVP_CIPHER_CTX_free(cc);
        EVP_CIPHER_free(c);
        memcpy(ref, hdr, 5);

        int r = kitls_rec_seal(&tx, b, len, CT_APPDATA, 0);
        ck_assert_int_eq(r, (int)(5 + ct_len));
        ck_assert_mem_eq(b, ref, (size_t)r);
        ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert_uint_eq(type, CT_APPDATA);
        for (size_t j = 0; j < len; j++)
            ck_assert_uint_eq(b[5 + j], (uint8_t)(j * 31 + k));
    }
    /* Tag tamper for every AEAD. */
    memset(b + 5, 1, 20);
    int r = kitls_rec_seal(&tx, b, 20, CT_HANDSHAKE, 0);
    b[r - 1] ^= 0x80;
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), KITLS_E_BAD_RECORD_MAC);
    kitls_rec_wipe(&tx);
    kitls_rec_wipe(&rx);
    free(b);
    free(ref);
}
END_TEST

START_TEST(test_key_update)
{
    const struct kitls_suite *s = kitls_suite_find(all_suites[_i]);
    static const char *mds[] = {"SHA256", "SHA384", "SHA256"};
    struct kitls_rec_dir tx, rx;
    uint8_t secret[48], next[48], old_key[32], *b = rec_buf(), type;
    size_t n;
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)(0x30 + i);
    dir_init(&tx, s, secret, 1);
    dir_init(&rx, s, secret, 0);
    for (int i = 0; i < 3; i++) {
        memcpy(b + 5, "before", 6);
        int r = kitls_rec_seal(&tx, b, 6, CT_APPDATA, 0);
        ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
    }
    memcpy(old_key, tx.key, s->key_len);
    ck_assert_int_eq(kitls_rec_update(&tx, 1), 0);
    /* application_traffic_secret_N+1 = HKDF-Expand-Label(N, "traffic upd", "", Hash.length) */
    uint8_t info[32];
    size_t k = 0;
    info[k++] = 0;
    info[k++] = (uint8_t)s->hash_len;
    info[k++] = 17;
    memcpy(info + k, "tls13 traffic upd", 17);
    k += 17;
    info[k++] = 0;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)mds[_i], 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret, s->hash_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, k),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_end(),
    };
    ck_assert_int_eq(EVP_KDF_derive(kc, next, s->hash_len, params), 1);
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    ck_assert_mem_eq(tx.secret, next, s->hash_len);
    ck_assert(memcmp(tx.key, old_key, s->key_len) != 0);
    ck_assert_uint_eq(tx.seq, 0);

    /* Receiver still on the old key: the record fails. */
    memcpy(b + 5, "after", 5);
    int r = kitls_rec_seal(&tx, b, 5, CT_APPDATA, 0);
    uint8_t saved[64];
    memcpy(saved, b, (size_t)r);
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), KITLS_E_BAD_RECORD_MAC);
    /* After its own update it opens, from sequence number 0. */
    ck_assert_int_eq(kitls_rec_update(&rx, 0), 0);
    ck_assert_uint_eq(rx.seq, 0);
    ck_assert_mem_eq(rx.key, tx.key, s->key_len);
    ck_assert_mem_eq(rx.iv, tx.iv, 12);
    memcpy(b, saved, (size_t)r);
    ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
    ck_assert_mem_eq(b + 5, "after", 5);
    /* Several generations stay in step. */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(kitls_rec_update(&tx, 1), 0);
        ck_assert_int_eq(kitls_rec_update(&rx, 0), 0);
        memcpy(b + 5, "gen", 3);
        r = kitls_rec_seal(&tx, b, 3, CT_APPDATA, 0);
        ck_assert_int_eq(kitls_rec_open(&rx, b, (size_t)r - 5, &type, &n), 0);
    }
    kitls_rec_wipe(&tx);
    kitls_rec_wipe(&rx);
    /* No keys, no update. */
    ck_assert_int_lt(kitls_rec_update(&tx, 1), 0);
    free(b);
}
END_TEST

static Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("rfc8448");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_keys_from_secret);
    tcase_add_test(tc, test_keys_and_finished_key);
    tcase_add_test(tc, test_server_flight_kat);
    tcase_add_test(tc, test_client_finished_kat);
    tcase_add_test(tc, test_app_data_kat);
    tcase_add_test(tc, test_s4_keys_from_secret);
    tcase_add_test(tc, test_s4_early_data_kat);
    tcase_add_test(tc, test_s4_eoed_kat);
    tcase_add_test(tc, test_s4_server_flight_kat);
    tcase_add_test(tc, test_s4_client_finished_kat);
    tcase_add_test(tc, test_s4_app_data_kat);
    suite_add_tcase(s, tc);

    tc = tcase_create("negative");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_sequence_numbers);
    tcase_add_test(tc, test_tamper_every_byte);
    tcase_add_test(tc, test_padding);
    tcase_add_test(tc, test_size_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("suites");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, test_suite_roundtrip, 0, 3);
    tcase_add_loop_test(tc, test_key_update, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(record_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
