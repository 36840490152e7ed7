/* Hybrid ML-KEM groups through the public API: configuring them (an error
 * where libcrypto lacks ML-KEM), the default list, handshakes with them,
 * and a server meeting a ClientHello whose only share is X25519MLKEM768. */
#include <check.h>
#include <openssl/evp.h>
#include <string.h>

#include "kitls/kitls.h"
#include "testutil.h"

#define XM KITLS_GROUP_X25519MLKEM768
#define PM KITLS_GROUP_SECP256R1MLKEM768

static const uint16_t classical[3] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1,
                                      KITLS_GROUP_SECP384R1};

static int have_mlkem(void)
{
    return kitls_group_available(XM);
}

/* Configuring a hybrid group: accepted with ML-KEM, else
 * KITLS_E_UNAVAILABLE whose message says why; the list is unchanged. */
START_TEST(test_config_groups)
{
    kitls_config *cfg = tu_client_config();
    static const uint16_t one[1] = {XM}, mixed[2] = {KITLS_GROUP_X25519, PM};
    int want = have_mlkem() ? 0 : KITLS_E_UNAVAILABLE;
    ck_assert_int_eq(kitls_config_set_groups(cfg, one, 1), want);
    ck_assert_int_eq(kitls_config_set_groups(cfg, mixed, 2), want);
    ck_assert_ptr_nonnull(strstr(kitls_strerror(KITLS_E_UNAVAILABLE), "ML-KEM"));
    ck_assert_int_eq(kitls_error_alert(KITLS_E_UNAVAILABLE), -1);
    static const uint16_t unknown[1] = {0x11ed};
    ck_assert_int_eq(kitls_config_set_groups(cfg, unknown, 1), KITLS_E_INVALID_ARG);
    kitls_config_free(cfg);
}
END_TEST

/* Default configs: X25519MLKEM768 with ML-KEM, X25519 without, and no
 * HelloRetryRequest either way. */
START_TEST(test_default_handshake)
{
    kitls_config *c = tu_client_config(), *s = tu_server_config(TU_P256);
    kitls_conn *cc = tu_client(c, "localhost"), *sc = tu_server(s);
    ck_assert_int_eq(tu_handshake(cc, sc, NULL, NULL), 0);
    uint16_t want = have_mlkem() ? XM : KITLS_GROUP_X25519;
    ck_assert_uint_eq(kitls_conn_group(cc), want);
    ck_assert_uint_eq(kitls_conn_group(sc), want);
    ck_assert_int_eq(kitls_conn_did_hrr(cc), 0);
    kitls_conn_free(cc);
    kitls_conn_free(sc);
    kitls_config_free(s);
    /* A classical-only server with a default client: X25519, the client's
     * second share, without a HelloRetryRequest. */
    s = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_groups(s, classical, 3), 0);
    cc = tu_client(c, "localhost");
    sc = tu_server(s);
    ck_assert_int_eq(tu_handshake(cc, sc, NULL, NULL), 0);
    ck_assert_uint_eq(kitls_conn_group(cc), KITLS_GROUP_X25519);
    ck_assert_int_eq(kitls_conn_did_hrr(cc), 0);
    kitls_conn_free(cc);
    kitls_conn_free(sc);
    kitls_config_free(c);
    kitls_config_free(s);
}
END_TEST

/* With ML-KEM: each hybrid alone, and HelloRetryRequest into each. */
START_TEST(test_hybrid_handshakes)
{
    static const uint16_t gids[2] = {XM, PM};
    for (int hrr = 0; hrr < 2; hrr++)
        for (size_t i = 0; i < 2; i++) {
            kitls_config *c = tu_client_config(), *s = tu_server_config(TU_P256);
            uint16_t cl[2] = {KITLS_GROUP_X25519, gids[i]};
            ck_assert_int_eq(kitls_config_set_groups(s, &gids[i], 1), 0);
            ck_assert_int_eq(kitls_config_set_groups(c, hrr ? cl : &gids[i], hrr ? 2 : 1), 0);
            kitls_conn *cc = tu_client(c, "localhost"), *sc = tu_server(s);
            ck_assert_int_eq(tu_handshake(cc, sc, NULL, NULL), 0);
            ck_assert_uint_eq(kitls_conn_group(cc), gids[i]);
            ck_assert_uint_eq(kitls_conn_group(sc), gids[i]);
            ck_assert_int_eq(kitls_conn_did_hrr(cc), hrr);
            ck_assert_int_eq(kitls_conn_did_hrr(sc), hrr);
            kitls_conn_free(cc);
            kitls_conn_free(sc);
            kitls_config_free(c);
            kitls_config_free(s);
        }
}
END_TEST

/* A ClientHello offering groups g[0..ng) with one share of group sg and
 * share_len bytes: zeros (an ML-KEM key of zero coefficients passes
 * FIPS 203's check), then an X25519 public key in the last 32. */
static void client_hello(struct tu_buf *m, const uint16_t *g, size_t ng, uint16_t sg,
                         size_t share_len)
{
    m->n = 0;
    tu_u8(m, 22);
    tu_u16(m, 0x0301);
    size_t rec = tu_begin(m, 2);
    tu_u8(m, 1);
    size_t hl = tu_begin(m, 3);
    tu_u16(m, 0x0303);
    for (int i = 0; i < 32; i++)
        tu_u8(m, i);
    tu_u8(m, 32);
    for (int i = 0; i < 32; i++)
        tu_u8(m, 0x80 + i);
    tu_u16(m, 2);
    tu_u16(m, KITLS_AES_128_GCM_SHA256);
    tu_u8(m, 1);
    tu_u8(m, 0);
    size_t exts = tu_begin(m, 2);
    tu_u16(m, 43); /* supported_versions */
    tu_u16(m, 3);
    tu_u8(m, 2);
    tu_u16(m, 0x0304);
    tu_u16(m, 10); /* supported_groups */
    size_t at = tu_begin(m, 2), l = tu_begin(m, 2);
    for (size_t i = 0; i < ng; i++)
        tu_u16(m, g[i]);
    tu_end(m, l, 2);
    tu_end(m, at, 2);
    tu_u16(m, 13); /* signature_algorithms */
    tu_u16(m, 4);
    tu_u16(m, 2);
    tu_u16(m, KITLS_SIG_ECDSA_SECP256R1_SHA256);
    tu_u16(m, 51); /* key_share */
    at = tu_begin(m, 2);
    l = tu_begin(m, 2);
    tu_u16(m, sg);
    tu_u16(m, (unsigned)share_len);
    uint8_t pub[32];
    size_t pl = sizeof(pub);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(k, pub, &pl), 1);
    EVP_PKEY_free(k);
    for (size_t i = 0; i < share_len; i++)
        tu_u8(m, i >= share_len - 32 ? pub[i - (share_len - 32)] : 0);
    tu_end(m, l, 2);
    tu_end(m, at, 2);
    tu_end(m, exts, 2);
    tu_end(m, hl, 3);
    tu_end(m, rec, 2);
}

static struct tu_buf msg;

/* Feed a ClientHello to a server; its handshake result. */
static int serve(kitls_config *s, kitls_conn **out)
{
    kitls_conn *sc = tu_server(s);
    ck_assert_int_eq(kitls_conn_feed(sc, msg.b, msg.n), 0);
    int err = kitls_conn_handshake(sc);
    *out = sc;
    return err;
}

/* A client whose only share is X25519MLKEM768, at a server without it
 * (OpenSSL 3.0, or a classical list): a HelloRetryRequest for X25519 when
 * that is offered too, handshake_failure when nothing else is. */
START_TEST(test_peer_only_hybrid)
{
    kitls_config *s = tu_server_config(TU_P256);
    kitls_conn *sc;
    if (have_mlkem())
        ck_assert_int_eq(kitls_config_set_groups(s, classical, 3), 0);
    static const uint16_t both[2] = {XM, KITLS_GROUP_X25519}, only[1] = {XM};
    client_hello(&msg, both, 2, XM, 1216);
    ck_assert_int_eq(serve(s, &sc), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_did_hrr(sc), 1);
    kitls_conn_free(sc);
    client_hello(&msg, only, 1, XM, 1216);
    ck_assert_int_eq(serve(s, &sc), KITLS_E_HANDSHAKE_FAILURE);
    const uint8_t *o;
    size_t n = kitls_conn_out_peek(sc, &o);
    ck_assert_int_eq(tu_find_alert(o, n), 40);
    kitls_conn_free(sc);
    kitls_config_free(s);
}
END_TEST

/* With ML-KEM: an X25519MLKEM768 share one byte short or long is
 * illegal_parameter (draft-ietf-tls-ecdhe-mlkem §4). */
START_TEST(test_wrong_length_share)
{
    kitls_config *s = tu_server_config(TU_P256);
    static const uint16_t only[1] = {XM};
    static const size_t lens[3] = {1215, 1217, 1184};
    for (size_t i = 0; i < 3; i++) {
        kitls_conn *sc;
        client_hello(&msg, only, 1, XM, lens[i]);
        ck_assert_int_eq(serve(s, &sc), KITLS_E_ILLEGAL_PARAMETER);
        const uint8_t *o;
        size_t n = kitls_conn_out_peek(sc, &o);
        ck_assert_int_eq(tu_find_alert(o, n), 47);
        kitls_conn_free(sc);
    }
    /* The right length is accepted (a ServerHello follows). */
    kitls_conn *sc;
    client_hello(&msg, only, 1, XM, 1216);
    ck_assert_int_eq(serve(s, &sc), KITLS_E_WANT_READ);
    ck_assert_int_eq(kitls_conn_did_hrr(sc), 0);
    kitls_conn_free(sc);
    kitls_config_free(s);
}
END_TEST

int main(void)
{
    tu_pki_init();
    Suite *su = suite_create("kem_api");
    TCase *t = tcase_create("any libcrypto");
    tcase_add_test(t, test_config_groups);
    tcase_add_test(t, test_default_handshake);
    tcase_add_test(t, test_peer_only_hybrid);
    suite_add_tcase(su, t);
    if (have_mlkem()) {
        t = tcase_create("mlkem");
        tcase_add_test(t, test_hybrid_handshakes);
        tcase_add_test(t, test_wrong_length_share);
        suite_add_tcase(su, t);
    } else {
        printf("test_kem_api: libcrypto has no ML-KEM-768: hybrid handshake cases skipped "
               "(tests/pq runs them)\n");
    }
    SRunner *r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
