/*
 * Record rows and the offload object (lib/offload.c): which row protects
 * each direction, what the connection refuses once a direction is handed
 * over, and the post-handshake protocol through kitls_offload with a
 * "kernel" played by the test: it protects records with nothing but the
 * keys kitls_offload_export_keys() gives, as kTLS does.  Compiled with the
 * library's sources (internal access to the rows).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "internal.h"
#include "testutil.h"

static void pair(kitls_config *ccfg, kitls_config *scfg, kitls_conn **c, kitls_conn **s)
{
    uint8_t buf[16];
    *c = tu_client(ccfg, "localhost");
    *s = tu_server(scfg);
    ck_assert_int_eq(tu_handshake(*c, *s, NULL, NULL), 0);
    tu_move(*s, *c); /* the tickets */
    ck_assert_int_eq(kitls_conn_read(*c, buf, sizeof(buf)), KITLS_E_WANT_READ);
}

/* The kernel's side of one direction: a userspace AEAD set up from the
 * exported keys only (no secret). */
static void kernel_dir(struct kitls_rec_dir *k, const struct kitls_traffic_keys *keys, int encrypt)
{
    memset(k, 0, sizeof(*k));
    k->suite = kitls_suite_find(keys->suite);
    ck_assert_ptr_nonnull(k->suite);
    ck_assert_uint_eq(keys->key_len, k->suite->key_len);
    memcpy(k->key, keys->key, keys->key_len);
    memcpy(k->iv, keys->iv, sizeof(k->iv));
    k->seq = keys->seq;
    k->ops = &kitls_rec_aead;
    ck_assert_int_eq(k->ops->keys(k, encrypt), 0);
}

/* The kernel sends one record of `type` under keys: feed it to `to`. */
static void kernel_send(const struct kitls_traffic_keys *keys, uint8_t type, const uint8_t *p,
                        size_t n, kitls_conn *to)
{
    uint8_t rec[KITLS_REC_HDR + 256 + 1 + KITLS_TAG_LEN];
    struct kitls_rec_dir k;
    ck_assert_uint_le(n, 256);
    kernel_dir(&k, keys, 1);
    memcpy(rec + KITLS_REC_HDR, p, n);
    int len = kitls_rec_seal(&k, rec, n, type, 0);
    kitls_rec_wipe(&k);
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(kitls_conn_feed(to, rec, (size_t)len), 0);
}

START_TEST(test_rows_chosen)
{
    kitls_config *ccfg = tu_client_config(), *scfg = tu_server_config(TU_P256);
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    kitls_offload *o, *again;
    uint8_t buf[16];
    /* No keys, no row, no object before the handshake. */
    ck_assert_ptr_null(c->tx.ops);
    ck_assert_ptr_null(c->rx.ops);
    ck_assert_int_eq(kitls_offload_get(c, &o), KITLS_E_STATE);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    ck_assert_ptr_eq(c->tx.ops, &kitls_rec_aead);
    ck_assert_ptr_eq(c->rx.ops, &kitls_rec_aead);

    ck_assert_int_eq(kitls_offload_get(c, &o), 0);
    ck_assert_int_eq(kitls_offload_get(c, &again), 0);
    ck_assert_ptr_eq(o, again);
    ck_assert_int_eq(kitls_offload_is_offloaded(o, KITLS_DIR_TX), 0);
    ck_assert_int_eq(kitls_offload_is_offloaded(o, KITLS_DIR_RX), 0);
    uint8_t type;
    const uint8_t *data;
    size_t len;
    int rekey;
    ck_assert_int_eq(kitls_offload_out_record(o, &type, &data, &len, &rekey), 0);
    static const uint8_t ku[5] = {24, 0, 0, 1, 0};
    ck_assert_int_eq(kitls_offload_feed_record(o, 22, ku, sizeof(ku)), KITLS_E_STATE);

    /* TX refuses while sealed bytes wait, then takes the offloaded row. */
    ck_assert_int_eq(kitls_conn_write(c, (const uint8_t *)"x", 1), 1);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_TX), KITLS_E_STATE);
    tu_move(c, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), 1);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_TX), 0);
    ck_assert_ptr_eq(c->tx.ops, &kitls_rec_offloaded);
    ck_assert_ptr_null(c->tx.ctx); /* the kernel's now */
    ck_assert_ptr_eq(c->rx.ops, &kitls_rec_aead);
    ck_assert_int_eq(kitls_offload_is_offloaded(o, KITLS_DIR_TX), 1);
    ck_assert_int_eq(kitls_offload_is_offloaded(o, KITLS_DIR_RX), 0);
    ck_assert_int_eq(kitls_conn_write(c, (const uint8_t *)"x", 1), KITLS_E_STATE);

    /* RX stays with the connection until it is handed over too. */
    ck_assert_int_eq(kitls_conn_write(s, (const uint8_t *)"abc", 3), 3);
    tu_move(s, c);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_RX), KITLS_E_STATE); /* unread */
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), 3);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_RX), 0);
    ck_assert_ptr_eq(c->rx.ops, &kitls_rec_offloaded);
    ck_assert_ptr_null(c->rx.ctx);
    ck_assert_ptr_null(c->in);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_STATE);
    ck_assert_int_eq(kitls_conn_error(c), 0); /* refusals are not failures */
    kitls_conn_free(c);                       /* frees o (ASan: no leak) */
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* TX offloaded: our KeyUpdate leaves as a plaintext record marked rekey,
 * a second one merges into it, and the keys exported after it are the
 * ones the peer expects next. */
START_TEST(test_tx_key_update)
{
    kitls_config *ccfg = tu_client_config(), *scfg = tu_server_config(TU_P256);
    kitls_conn *c, *s;
    pair(ccfg, scfg, &c, &s);
    kitls_offload *o;
    struct kitls_traffic_keys k0, k1;
    ck_assert_int_eq(kitls_offload_get(c, &o), 0);
    ck_assert_int_eq(kitls_offload_export_keys(o, KITLS_DIR_TX, &k0), 0);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_TX), 0);
    kernel_send(&k0, CT_APPDATA, (const uint8_t *)"before", 6, s);
    k0.seq++;
    uint8_t buf[16];
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), 6);

    ck_assert_int_eq(kitls_offload_key_update(o, 1), 0);
    ck_assert_int_eq(kitls_offload_key_update(o, 0), 0); /* merged */
    uint8_t type;
    const uint8_t *data;
    size_t len;
    int rekey;
    static const uint8_t want[5] = {24, 0, 0, 1, 1};
    ck_assert_int_eq(kitls_offload_out_record(o, &type, &data, &len, &rekey), 1);
    ck_assert_uint_eq(type, CT_HANDSHAKE);
    ck_assert_uint_eq(len, sizeof(want));
    ck_assert_mem_eq(data, want, sizeof(want));
    ck_assert_int_eq(rekey, 1);
    kernel_send(&k0, type, data, len, s); /* under the old key */
    kitls_offload_out_record_done(o);
    ck_assert_int_eq(kitls_offload_out_record(o, &type, &data, &len, &rekey), 0);
    ck_assert_int_eq(kitls_offload_export_keys(o, KITLS_DIR_TX, &k1), 0);
    ck_assert_uint_eq(k1.seq, 0);
    ck_assert(memcmp(k0.key, k1.key, k0.key_len) != 0);

    /* One update only: the peer reads data under the next generation. */
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kernel_send(&k1, CT_APPDATA, (const uint8_t *)"after", 5, s);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), 5);
    ck_assert_mem_eq(buf, "after", 5);
    /* The peer answered update_requested; our RX (userspace) follows. */
    ck_assert_int_eq(kitls_conn_write(s, (const uint8_t *)"back", 4), 4);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), 4);
    ck_assert_mem_eq(buf, "back", 4);
    OPENSSL_cleanse(&k0, sizeof(k0));
    OPENSSL_cleanse(&k1, sizeof(k1));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* RX offloaded: the kernel's plaintext control records go to the object;
 * a KeyUpdate leaves the RX rekey pending until the keys are exported. */
START_TEST(test_rx_feed_and_rekey)
{
    kitls_config *ccfg = tu_client_config(), *scfg = tu_server_config(TU_P256);
    kitls_conn *c, *s;
    pair(ccfg, scfg, &c, &s);
    kitls_offload *o;
    struct kitls_traffic_keys k0, k1;
    ck_assert_int_eq(kitls_offload_get(s, &o), 0);
    ck_assert_int_eq(kitls_offload_export_keys(o, KITLS_DIR_RX, &k0), 0);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_RX), 0);
    ck_assert_int_eq(kitls_offload_rx_rekey_pending(o), 0);

    /* The client's KeyUpdate with update_requested, opened by the kernel. */
    ck_assert_int_eq(kitls_conn_key_update(c, 1), 0);
    size_t n;
    uint8_t *rec = tu_out_copy(c, &n);
    kitls_conn_out_consume(c, n);
    struct kitls_rec_dir k;
    kernel_dir(&k, &k0, 0);
    uint8_t type;
    size_t pl;
    ck_assert_int_eq(kitls_rec_open(&k, rec, n - KITLS_REC_HDR, &type, &pl), 0);
    kitls_rec_wipe(&k);
    ck_assert_uint_eq(type, CT_HANDSHAKE);
    ck_assert_int_eq(kitls_offload_feed_record(o, type, rec + KITLS_REC_HDR, pl), 0);
    free(rec);
    ck_assert_int_eq(kitls_offload_rx_rekey_pending(o), 1);
    ck_assert_int_eq(kitls_offload_export_keys(o, KITLS_DIR_RX, &k1), 0);
    ck_assert_int_eq(kitls_offload_rx_rekey_pending(o), 0);
    ck_assert(memcmp(k0.key, k1.key, k0.key_len) != 0);
    ck_assert_uint_eq(k1.seq, 0);

    /* Our TX stays in userspace: the answer is sealed, the client reads it. */
    uint8_t buf[16];
    ck_assert_int_eq(kitls_conn_write(s, (const uint8_t *)"ok", 2), 2);
    tu_move(s, c);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), 2);
    ck_assert_int_eq(kitls_conn_read(s, buf, sizeof(buf)), KITLS_E_STATE);
    /* application_data never comes this way: a fatal error. */
    ck_assert_int_eq(kitls_offload_feed_record(o, CT_APPDATA, buf, 1), KITLS_E_UNEXPECTED_MESSAGE);
    ck_assert_int_eq(kitls_conn_error(s), KITLS_E_UNEXPECTED_MESSAGE);
    OPENSSL_cleanse(&k0, sizeof(k0));
    OPENSSL_cleanse(&k1, sizeof(k1));
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* Consecutive KeyUpdates are bounded (max_key_updates); data the kernel
 * delivered in between (kitls_offload_rx_data_seen) restarts the count. */
START_TEST(test_rx_data_seen)
{
    kitls_config *ccfg = tu_client_config(), *scfg = tu_server_config(TU_P256);
    struct kitls_limits lim = {0};
    lim.max_key_updates = 2;
    ck_assert_int_eq(kitls_config_set_limits(scfg, &lim), 0);
    kitls_conn *c, *s;
    pair(ccfg, scfg, &c, &s);
    kitls_offload *o;
    ck_assert_int_eq(kitls_offload_get(s, &o), 0);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_RX), 0);
    static const uint8_t ku[5] = {24, 0, 0, 1, 0};
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(kitls_offload_feed_record(o, CT_HANDSHAKE, ku, sizeof(ku)), 0);
    kitls_offload_rx_data_seen(o);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(kitls_offload_feed_record(o, CT_HANDSHAKE, ku, sizeof(ku)), 0);
    ck_assert_int_eq(kitls_offload_feed_record(o, CT_HANDSHAKE, ku, sizeof(ku)), KITLS_E_LIMIT);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

/* close_notify and alerts leave as plaintext records with their type;
 * the newest session is the connection's. */
START_TEST(test_close_alert_session)
{
    kitls_config *ccfg = tu_client_config(), *scfg = tu_server_config(TU_P256);
    kitls_conn *c, *s;
    pair(ccfg, scfg, &c, &s);
    kitls_offload *o;
    ck_assert_int_eq(kitls_offload_get(c, &o), 0);
    kitls_session *a = kitls_offload_session(o), *b = kitls_conn_get_session(c);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b);
    kitls_session_free(a);
    kitls_session_free(b);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_TX), 0);
    ck_assert_int_eq(kitls_offload_close(o), 0);
    uint8_t type;
    const uint8_t *data;
    size_t len;
    int rekey;
    ck_assert_int_eq(kitls_offload_out_record(o, &type, &data, &len, &rekey), 1);
    ck_assert_uint_eq(type, CT_ALERT);
    ck_assert_uint_eq(len, 2);
    ck_assert_uint_eq(data[0], 1);
    ck_assert_uint_eq(data[1], 0); /* close_notify */
    ck_assert_int_eq(rekey, 0);
    kitls_offload_out_record_done(o);
    kitls_conn_free(c);
    kitls_conn_free(s);

    pair(ccfg, scfg, &c, &s);
    ck_assert_int_eq(kitls_offload_get(s, &o), 0);
    ck_assert_int_eq(kitls_offload_start(o, KITLS_DIR_TX), 0);
    ck_assert_int_eq(kitls_offload_send_alert(o, 80), 0);
    ck_assert_int_eq(kitls_offload_out_record(o, &type, &data, &len, &rekey), 1);
    ck_assert_uint_eq(type, CT_ALERT);
    ck_assert_uint_eq(len, 2);
    ck_assert_uint_eq(data[0], 2);
    ck_assert_uint_eq(data[1], 80);
    ck_assert_int_eq(kitls_offload_key_update(o, 0), KITLS_E_STATE); /* failed */
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
}
END_TEST

static Suite *offload_suite(void)
{
    Suite *s = suite_create("offload");
    TCase *t = tcase_create("rows");
    tcase_add_test(t, test_rows_chosen);
    suite_add_tcase(s, t);
    t = tcase_create("object");
    tcase_add_test(t, test_tx_key_update);
    tcase_add_test(t, test_rx_feed_and_rekey);
    tcase_add_test(t, test_rx_data_seen);
    tcase_add_test(t, test_close_alert_session);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    tu_pki_init();
    SRunner *sr = srunner_create(offload_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
