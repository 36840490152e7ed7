/*
 * The verified-chain cache (x509.c, kitls_config_set_verify_cache): a hit
 * only for exactly the same chain, name, purpose and trust store inside the
 * chain's validity; CertificateVerify, the callback and expiry still
 * checked on a hit; a config shared by threads.  Internal access (the
 * library's sources are compiled in) to see whether a verdict came from
 * the cache and to change what the public API freezes.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "internal.h"
#include "testutil.h"

/* One handshake; returns the client's result and whether its verdict on
 * the server's chain came from the cache. */
static int hs(kitls_config *ccfg, kitls_config *scfg, const char *name, int *cached)
{
    kitls_conn *c = tu_client(ccfg, name), *s = tu_server(scfg);
    int cr, sr;
    tu_handshake(c, s, &cr, &sr);
    *cached = c->peer.chain_cached;
    kitls_conn_free(c);
    kitls_conn_free(s);
    return cr;
}

START_TEST(hit_on_same_chain_and_name)
{
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    int cached = -1;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 0);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    kitls_config_free(cc);
    kitls_config_free(sc);
}
END_TEST

START_TEST(miss_on_other_name)
{
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    int cached = -1;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    /* The leaf also names 127.0.0.1: verified again, then cached. */
    ck_assert_int_eq(hs(cc, sc, "127.0.0.1", &cached), 0);
    ck_assert_int_eq(cached, 0);
    ck_assert_int_eq(hs(cc, sc, "127.0.0.1", &cached), 0);
    ck_assert_int_eq(cached, 1);
    /* A name the certificate does not carry is refused although the same
     * chain is cached for two other names. */
    ck_assert_int_eq(hs(cc, sc, "other.test", &cached), KITLS_E_CERT_NAME_MISMATCH);
    ck_assert_int_eq(cached, 0);
    kitls_config_free(cc);
    kitls_config_free(sc);
}
END_TEST

START_TEST(miss_on_other_chain)
{
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    kitls_config *sc2 = tu_server_config(TU_P384);
    int cached = -1;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(hs(cc, sc2, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 0);
    /* An untrusted chain is refused every time, never cached. */
    kitls_config *bad = kitls_config_new(KITLS_ROLE_SERVER);
    const struct tu_cred *u = &tu_pki.untrusted;
    ck_assert_int_eq(kitls_config_add_cert_pem(bad, u->chain, u->chain_len, u->key, u->key_len), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(hs(cc, bad, "localhost", &cached), KITLS_E_CERT_UNTRUSTED);
        ck_assert_int_eq(cached, 0);
    }
    /* Both trusted chains are still there. */
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    ck_assert_int_eq(hs(cc, sc2, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    kitls_config_free(bad);
    kitls_config_free(cc);
    kitls_config_free(sc);
    kitls_config_free(sc2);
}
END_TEST

START_TEST(miss_on_store_change)
{
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    int cached = -1;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    /* The API refuses to change a config in use... */
    ck_assert_int_eq(kitls_config_load_ca_pem(cc, tu_pki.other_ca, tu_pki.other_ca_len),
                     KITLS_E_STATE);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    /* ...and what its store setters do on a change empties the cache. */
    uint64_t gen = kitls_cert_cache_store_gen(cc->cert_cache);
    kitls_cert_cache_store_changed(cc->cert_cache);
    ck_assert_uint_eq(kitls_cert_cache_store_gen(cc->cert_cache), gen + 1);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 0);
    kitls_config_free(cc);
    kitls_config_free(sc);
    /* Every store setter starts a new generation. */
    cc = kitls_config_new(KITLS_ROLE_CLIENT);
    gen = kitls_cert_cache_store_gen(cc->cert_cache);
    ck_assert_int_eq(kitls_config_load_ca_pem(cc, tu_pki.ca, tu_pki.ca_len), 0);
    ck_assert_uint_gt(kitls_cert_cache_store_gen(cc->cert_cache), gen);
    gen = kitls_cert_cache_store_gen(cc->cert_cache);
    ck_assert_int_ne(kitls_config_load_ca_file(cc, "/nonexistent/ca.pem"), 0);
    ck_assert_uint_gt(kitls_cert_cache_store_gen(cc->cert_cache), gen);
    kitls_config_free(cc);
}
END_TEST

START_TEST(expiry_checked_on_hit)
{
    static int64_t t;
    t = tu_pki.now;
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_time(cc, tu_time_fixed, &t), 0);
    int cached = -1;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    /* The fixture's leaves expire 30 days from now. */
    t = tu_pki.now + 31 * 86400;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), KITLS_E_CERT_EXPIRED);
    ck_assert_int_eq(cached, 0);
    /* ...and were not valid two days ago. */
    t = tu_pki.now;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    t = tu_pki.now - 2 * 86400;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), KITLS_E_CERT_NOT_YET_VALID);
    ck_assert_int_eq(cached, 0);
    kitls_config_free(cc);
    kitls_config_free(sc);
}
END_TEST

START_TEST(certificate_verify_checked_on_hit)
{
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    int cached = -1;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    /* The server now signs with a key that is not its certificate's: the
     * cached chain must not stand in for the signature. */
    EVP_PKEY *other = tu_keygen(TU_P256);
    EVP_PKEY *mine = sc->certs[0].key;
    sc->certs[0].key = other;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), KITLS_E_DECRYPT_ERROR);
    ck_assert_int_eq(cached, 1);
    sc->certs[0].key = mine;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    EVP_PKEY_free(other);
    kitls_config_free(cc);
    kitls_config_free(sc);
}
END_TEST

/* Chain not verified (the bench's CV-only row): from the second handshake
 * on, the leaf comes from the parsed-certificate cache and its key
 * verifies CertificateVerify through its EC_KEY (sig_ec.c); a signature by
 * another key is still refused there, on every handshake. */
START_TEST(certificate_verify_checked_without_chain)
{
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_verify(cc, KITLS_VERIFY_NONE), 0);
    int cached = -1;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    EVP_PKEY *other = tu_keygen(TU_P256);
    EVP_PKEY *mine = sc->certs[0].key;
    sc->certs[0].key = other;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(hs(cc, sc, "localhost", &cached), KITLS_E_DECRYPT_ERROR);
    sc->certs[0].key = mine;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 0);
    EVP_PKEY_free(other);
    kitls_config_free(cc);
    kitls_config_free(sc);
}
END_TEST

static int cb_calls;
static int count_cb(void *ctx, kitls_conn *c, const uint8_t *const *der, const size_t *len,
                    size_t n, int result)
{
    (void)ctx, (void)c, (void)der, (void)len, (void)n;
    cb_calls++;
    return cb_calls == 3 ? KITLS_E_CERT_INVALID : result;
}

START_TEST(callback_on_hit_and_off_switch)
{
    kitls_config *cc = tu_client_config(), *sc = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_verify_callback(cc, count_cb, NULL), 0);
    int cached = -1;
    cb_calls = 0;
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
    ck_assert_int_eq(cached, 1);
    ck_assert_int_eq(hs(cc, sc, "localhost", &cached), KITLS_E_CERT_INVALID);
    ck_assert_int_eq(cb_calls, 3);
    kitls_config_free(cc);
    /* Off: never cached; a size above the maximum is refused. */
    cc = tu_client_config();
    ck_assert_int_eq(kitls_config_set_verify_cache(cc, KITLS_VERIFY_CACHE_MAX + 1),
                     KITLS_E_INVALID_ARG);
    ck_assert_int_eq(kitls_config_set_verify_cache(cc, 0), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(hs(cc, sc, "localhost", &cached), 0);
        ck_assert_int_eq(cached, 0);
    }
    ck_assert_int_eq(kitls_config_set_verify_cache(cc, 8), KITLS_E_STATE);
    kitls_config_free(cc);
    kitls_config_free(sc);
}
END_TEST

/* ---- a config shared by threads ---- */

static kitls_config *th_cc, *th_sc[2];

static void *th_run(void *arg)
{
    long fails = 0, id = (long)arg;
    for (int i = 0; i < 12; i++) {
        int cached;
        if (hs(th_cc, th_sc[(i + id) & 1], i % 3 ? "localhost" : "127.0.0.1", &cached) != 0)
            fails++;
    }
    return (void *)fails;
}

START_TEST(shared_by_threads)
{
    /* One slot for two chains and two names: threads evict each other's
     * entries while others hold them. */
    th_cc = tu_client_config();
    ck_assert_int_eq(kitls_config_set_verify_cache(th_cc, 1), 0);
    th_sc[0] = tu_server_config(TU_P256);
    th_sc[1] = tu_server_config(TU_ED25519);
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, th_run, (void *)i), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        ck_assert_int_eq((long)r, 0);
    }
    kitls_config_free(th_cc);
    kitls_config_free(th_sc[0]);
    kitls_config_free(th_sc[1]);
}
END_TEST

int main(void)
{
    tu_pki_init();
    Suite *s = suite_create("vcache");
    TCase *tc = tcase_create("vcache");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hit_on_same_chain_and_name);
    tcase_add_test(tc, miss_on_other_name);
    tcase_add_test(tc, miss_on_other_chain);
    tcase_add_test(tc, miss_on_store_change);
    tcase_add_test(tc, expiry_checked_on_hit);
    tcase_add_test(tc, certificate_verify_checked_on_hit);
    tcase_add_test(tc, certificate_verify_checked_without_chain);
    tcase_add_test(tc, callback_on_hit_and_off_switch);
    tcase_add_test(tc, shared_by_threads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
