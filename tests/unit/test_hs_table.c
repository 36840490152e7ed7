/*
 * The handshake table (lib/hs.c kitls_hs_table): its shape, walked
 * statically, and the transitions of real handshakes, which must follow
 * its edges.  Compiled with the library's sources (internal access); the
 * transitions are read from the debug lines the dispatcher writes to the
 * config's log ("hs client: <state> <message> -> <state>").
 *
 *  - every state of a role is reachable from its start state, and every
 *    row's state is one of its role's;
 *  - every next state exists: it is ST_CONNECTED or the state of a row of
 *    the same role;
 *  - no two rows answer the same (role, state, message), received or sent;
 *  - full, HelloRetryRequest, resumed, client-authenticated (with and
 *    without a client certificate), 0-RTT accepted and rejected: each
 *    transition is a table edge, the walk starts at the start state and
 *    ends at ST_CONNECTED, and the states visited are the expected ones.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"
#include "testutil.h"

/* ---- the table, walked ---- */

static int role_state(int server, int st)
{
    if (st == ST_CONNECTED)
        return 1;
    return server ? st >= ST_SERVER_WAIT_CH && st <= ST_SERVER_WAIT_EOED
                  : st >= ST_CLIENT_START && st <= ST_CLIENT_WAIT_FIN;
}

static int has_row(int server, int st)
{
    for (size_t i = 0; i < kitls_hs_table_len; i++)
        if (kitls_hs_table[i].server == server && kitls_hs_table[i].state == st)
            return 1;
    return 0;
}

START_TEST(test_rows_well_formed)
{
    for (size_t i = 0; i < kitls_hs_table_len; i++) {
        const struct hs_row *r = &kitls_hs_table[i];
        ck_assert_msg(role_state(r->server, r->state), "row %zu: state of the other role", i);
        ck_assert_msg(r->n_next >= 1 && r->n_next <= HS_MAX_NEXT, "row %zu: %u next", i, r->n_next);
        ck_assert_msg(r->sent ? r->fn == NULL : r->fn != NULL, "row %zu: handler", i);
        ck_assert_ptr_nonnull(r->name);
        for (size_t k = 0; k < r->n_next; k++) {
            int n = r->next[k];
            ck_assert_msg(n < ST_COUNT && role_state(r->server, n),
                          "row %zu (%s): next[%zu] = %d is not a state of its role", i, r->name, k,
                          n);
            ck_assert_msg(has_row(r->server, n), "row %zu (%s): next %s has no row", i, r->name,
                          kitls_hs_state_name(n));
        }
        /* Only the rows that end the handshake lead to ST_CONNECTED. */
        for (size_t k = 0; k < r->n_next; k++)
            if (r->next[k] == ST_CONNECTED)
                ck_assert(r->msg_type == HS_FINISHED || r->state == ST_CONNECTED);
    }
}
END_TEST

START_TEST(test_rows_unambiguous)
{
    for (size_t i = 0; i < kitls_hs_table_len; i++)
        for (size_t j = i + 1; j < kitls_hs_table_len; j++) {
            const struct hs_row *a = &kitls_hs_table[i], *b = &kitls_hs_table[j];
            ck_assert_msg(!(a->server == b->server && a->state == b->state &&
                            a->msg_type == b->msg_type && a->sent == b->sent),
                          "rows %zu and %zu answer the same (role, state, message)", i, j);
        }
    /* Lookup finds each received row, and never a sent one. */
    for (size_t i = 0; i < kitls_hs_table_len; i++) {
        const struct hs_row *r = &kitls_hs_table[i];
        const struct hs_row *f = kitls_hs_lookup(r->server, r->state, r->msg_type);
        ck_assert_ptr_eq(f, r->sent ? NULL : r);
    }
}
END_TEST

START_TEST(test_all_states_reachable)
{
    for (int server = 0; server < 2; server++) {
        int seen[ST_COUNT] = {0}, changed = 1;
        seen[kitls_hs_start_state(server)] = 1;
        while (changed) {
            changed = 0;
            for (size_t i = 0; i < kitls_hs_table_len; i++) {
                const struct hs_row *r = &kitls_hs_table[i];
                if (r->server != server || !seen[r->state])
                    continue;
                for (size_t k = 0; k < r->n_next; k++)
                    if (!seen[r->next[k]])
                        seen[r->next[k]] = changed = 1;
            }
        }
        for (int st = 0; st < ST_COUNT; st++)
            if (role_state(server, st))
                ck_assert_msg(seen[st], "%s: %s unreachable", server ? "server" : "client",
                              kitls_hs_state_name(st));
    }
}
END_TEST

/* ---- real handshakes, traced ---- */

#define MAX_STEPS 32
struct trace {
    int n[2];
    int from[2][MAX_STEPS], to[2][MAX_STEPS];
    char msg[2][MAX_STEPS][40];
};

static int state_by_name(const char *name)
{
    for (int st = 0; st < ST_COUNT; st++)
        if (!strcmp(kitls_hs_state_name(st), name))
            return st;
    return -1;
}

static void trace_log(void *ctx, int level, const char *line)
{
    struct trace *t = ctx;
    char role[8], from[40], msg[40], to[40];
    if (level != 3 || sscanf(line, "hs %7[a-z]: %39s %39s -> %39s", role, from, msg, to) != 4)
        return;
    int s = !strcmp(role, "server");
    ck_assert_int_lt(t->n[s], MAX_STEPS);
    int i = t->n[s]++;
    t->from[s][i] = state_by_name(from);
    t->to[s][i] = state_by_name(to);
    snprintf(t->msg[s][i], sizeof(t->msg[s][i]), "%s", msg);
}

/* Each step of role s is an edge of the table, from where the last one
 * ended, starting at the start state and ending at ST_CONNECTED. */
static void check_walk(const struct trace *t, int s)
{
    int at = kitls_hs_start_state(s);
    ck_assert_int_gt(t->n[s], 0);
    for (int i = 0; i < t->n[s]; i++) {
        ck_assert_msg(t->from[s][i] == at, "%s step %d: from %s, was at %s",
                      s ? "server" : "client", i, kitls_hs_state_name(t->from[s][i]),
                      kitls_hs_state_name(at));
        const struct hs_row *row = NULL;
        for (size_t k = 0; k < kitls_hs_table_len; k++) {
            const struct hs_row *r = &kitls_hs_table[k];
            if (r->server == s && r->state == at && !strcmp(r->name, t->msg[s][i]))
                row = row ? row : r;
        }
        ck_assert_msg(row != NULL, "no row for %s %s", kitls_hs_state_name(at), t->msg[s][i]);
        int edge = 0;
        for (size_t k = 0; k < row->n_next; k++)
            edge |= row->next[k] == t->to[s][i];
        ck_assert_msg(edge, "%s -> %s is not an edge of %s", kitls_hs_state_name(at),
                      kitls_hs_state_name(t->to[s][i]), row->name);
        at = t->to[s][i];
    }
    ck_assert_int_eq(at, ST_CONNECTED);
}

/* The states role s went through, until ST_CONNECTED (NewSessionTicket
 * and KeyUpdate then stay there), must be `want`. */
static void check_shape(const struct trace *t, int s, const int *want, int n_want)
{
    int n = 0;
    for (int i = 0; i < t->n[s] && (i == 0 || t->to[s][i - 1] != ST_CONNECTED); i++) {
        ck_assert_int_lt(n, n_want);
        ck_assert_msg(t->to[s][i] == want[n], "%s step %d: %s, expected %s",
                      s ? "server" : "client", i, kitls_hs_state_name(t->to[s][i]),
                      kitls_hs_state_name(want[n]));
        n++;
    }
    ck_assert_int_eq(n, n_want);
}

#define SHAPE(t, s, ...)                                                                           \
    do {                                                                                           \
        static const int want_[] = {__VA_ARGS__};                                                  \
        check_shape(t, s, want_, (int)(sizeof(want_) / sizeof(want_[0])));                         \
        check_walk(t, s);                                                                          \
    } while (0)

static int64_t now_s;
static const struct kitls_ticket_key tkey = {{7, 7, 7, 7}, {21}};

static kitls_config *server_cfg(struct trace *t)
{
    kitls_config *cfg = tu_server_config(TU_P256);
    ck_assert_int_eq(kitls_config_set_ticket_keys(cfg, &tkey, 1), 0);
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &now_s), 0);
    ck_assert_int_eq(kitls_config_set_log(cfg, trace_log, t), 0);
    return cfg;
}

static kitls_config *client_cfg(struct trace *t)
{
    kitls_config *cfg = tu_client_config();
    ck_assert_int_eq(kitls_config_set_time(cfg, tu_time_fixed, &now_s), 0);
    ck_assert_int_eq(kitls_config_set_log(cfg, trace_log, t), 0);
    return cfg;
}

/* A handshake (with early data if early), then the tickets read; the
 * client's session if asked for. */
static kitls_session *run(kitls_config *ccfg, kitls_config *scfg, kitls_session *resume, int early,
                          kitls_session **out)
{
    static const uint8_t data[] = "early";
    uint8_t buf[64];
    kitls_conn *c = tu_client(ccfg, "localhost"), *s = tu_server(scfg);
    if (resume)
        ck_assert_int_eq(kitls_conn_set_session(c, resume), 0);
    if (early)
        ck_assert_int_eq(kitls_conn_write_early_data(c, data, sizeof(data)), (int)sizeof(data));
    int cr = KITLS_E_WANT_READ, sr = KITLS_E_WANT_READ;
    for (int round = 0; round < 16 && (cr || sr); round++) {
        if (cr == KITLS_E_WANT_READ)
            cr = kitls_conn_handshake(c);
        tu_move(c, s);
        if (sr == KITLS_E_WANT_READ || sr == KITLS_E_EARLY_DATA)
            sr = kitls_conn_handshake(s);
        while (sr == KITLS_E_EARLY_DATA) {
            ck_assert_int_gt(kitls_conn_read_early_data(s, buf, sizeof(buf)), 0);
            sr = kitls_conn_handshake(s);
        }
        tu_move(s, c);
    }
    ck_assert_int_eq(cr, 0);
    ck_assert_int_eq(sr, 0);
    ck_assert_int_eq(kitls_conn_read(c, buf, sizeof(buf)), KITLS_E_WANT_READ);
    kitls_session *sess = kitls_conn_get_session(c);
    kitls_conn_free(c);
    kitls_conn_free(s);
    if (out)
        *out = sess;
    else
        kitls_session_free(sess);
    return out ? *out : NULL;
}

START_TEST(test_walk_full_and_resumed)
{
    struct trace t;
    memset(&t, 0, sizeof(t));
    now_s = tu_pki.now;
    kitls_config *scfg = server_cfg(&t), *ccfg = client_cfg(&t);
    kitls_session *sess;
    run(ccfg, scfg, NULL, 0, &sess);
    SHAPE(&t, 0, ST_CLIENT_WAIT_SH, ST_CLIENT_WAIT_EE, ST_CLIENT_WAIT_CERT_CR, ST_CLIENT_WAIT_CV,
          ST_CLIENT_WAIT_FIN, ST_CONNECTED);
    SHAPE(&t, 1, ST_SERVER_WAIT_FIN, ST_CONNECTED);
    /* The tickets: NewSessionTicket keeps the client connected. */
    ck_assert_int_gt(t.n[0], 6);
    ck_assert_str_eq(t.msg[0][6], "HS_NEW_SESSION_TICKET");
    ck_assert_ptr_nonnull(sess);
    memset(&t, 0, sizeof(t));
    run(ccfg, scfg, sess, 0, NULL);
    SHAPE(&t, 0, ST_CLIENT_WAIT_SH, ST_CLIENT_WAIT_EE, ST_CLIENT_WAIT_FIN, ST_CONNECTED);
    SHAPE(&t, 1, ST_SERVER_WAIT_FIN, ST_CONNECTED);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_walk_hrr)
{
    static const uint16_t p256 = KITLS_GROUP_SECP256R1;
    static const uint16_t both[2] = {KITLS_GROUP_X25519, KITLS_GROUP_SECP256R1};
    struct trace t;
    memset(&t, 0, sizeof(t));
    now_s = tu_pki.now;
    kitls_config *scfg = server_cfg(&t), *ccfg = client_cfg(&t);
    ck_assert_int_eq(kitls_config_set_groups(scfg, &p256, 1), 0);
    ck_assert_int_eq(kitls_config_set_groups(ccfg, both, 2), 0);
    ck_assert_int_eq(kitls_config_set_key_shares(ccfg, 1), 0); /* x25519 only: HRR */
    run(ccfg, scfg, NULL, 0, NULL);
    SHAPE(&t, 0, ST_CLIENT_WAIT_SH, ST_CLIENT_WAIT_SH, ST_CLIENT_WAIT_EE, ST_CLIENT_WAIT_CERT_CR,
          ST_CLIENT_WAIT_CV, ST_CLIENT_WAIT_FIN, ST_CONNECTED);
    SHAPE(&t, 1, ST_SERVER_WAIT_CH, ST_SERVER_WAIT_FIN, ST_CONNECTED);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

START_TEST(test_walk_client_auth)
{
    struct trace t;
    memset(&t, 0, sizeof(t));
    now_s = tu_pki.now;
    kitls_config *scfg = server_cfg(&t), *ccfg = client_cfg(&t);
    ck_assert_int_eq(kitls_config_set_verify(scfg, KITLS_VERIFY_REQUEST), 0);
    /* No client certificate: an empty Certificate, then Finished. */
    run(ccfg, scfg, NULL, 0, NULL);
    SHAPE(&t, 0, ST_CLIENT_WAIT_SH, ST_CLIENT_WAIT_EE, ST_CLIENT_WAIT_CERT_CR, ST_CLIENT_WAIT_CERT,
          ST_CLIENT_WAIT_CV, ST_CLIENT_WAIT_FIN, ST_CONNECTED);
    SHAPE(&t, 1, ST_SERVER_WAIT_CERT, ST_SERVER_WAIT_FIN, ST_CONNECTED);
    /* With one: Certificate and CertificateVerify (a new config: a used
     * one is frozen). */
    const struct tu_cred *cr = &tu_pki.client;
    kitls_config *auth = client_cfg(&t);
    ck_assert_int_eq(
        kitls_config_add_cert_pem(auth, cr->chain, cr->chain_len, cr->key, cr->key_len), 0);
    memset(&t, 0, sizeof(t));
    run(auth, scfg, NULL, 0, NULL);
    SHAPE(&t, 0, ST_CLIENT_WAIT_SH, ST_CLIENT_WAIT_EE, ST_CLIENT_WAIT_CERT_CR, ST_CLIENT_WAIT_CERT,
          ST_CLIENT_WAIT_CV, ST_CLIENT_WAIT_FIN, ST_CONNECTED);
    SHAPE(&t, 1, ST_SERVER_WAIT_CERT, ST_SERVER_WAIT_CV, ST_SERVER_WAIT_FIN, ST_CONNECTED);
    kitls_config_free(auth);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

/* The application's verdict on early data: *ctx (1 accept, 0 reject). */
static int verdict(void *ctx, kitls_conn *c)
{
    (void)c;
    return *(int *)ctx;
}

START_TEST(test_walk_early_data)
{
    struct trace t;
    memset(&t, 0, sizeof(t));
    now_s = tu_pki.now;
    kitls_config *scfg = server_cfg(&t), *ccfg = client_cfg(&t);
    ck_assert_int_eq(kitls_config_set_early_data(scfg, 4096), 0);
    ck_assert_int_eq(kitls_config_set_early_data(ccfg, 1), 0);
    static int accept;
    accept = 1;
    ck_assert_int_eq(kitls_config_set_early_data_callback(scfg, verdict, &accept), 0);
    kitls_session *sess;
    run(ccfg, scfg, NULL, 0, &sess);
    /* Accepted: EndOfEarlyData before the client's Finished. */
    memset(&t, 0, sizeof(t));
    run(ccfg, scfg, sess, 1, NULL);
    SHAPE(&t, 0, ST_CLIENT_WAIT_SH, ST_CLIENT_WAIT_EE, ST_CLIENT_WAIT_FIN, ST_CONNECTED);
    SHAPE(&t, 1, ST_SERVER_WAIT_EOED, ST_SERVER_WAIT_FIN, ST_CONNECTED);
    /* Rejected (the application vetoes it): a plain resumption. */
    accept = 0;
    memset(&t, 0, sizeof(t));
    run(ccfg, scfg, sess, 1, NULL);
    SHAPE(&t, 0, ST_CLIENT_WAIT_SH, ST_CLIENT_WAIT_EE, ST_CLIENT_WAIT_FIN, ST_CONNECTED);
    SHAPE(&t, 1, ST_SERVER_WAIT_FIN, ST_CONNECTED);
    kitls_session_free(sess);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
}
END_TEST

static Suite *hs_table_suite(void)
{
    Suite *s = suite_create("hs_table");
    TCase *t = tcase_create("static");
    tcase_add_test(t, test_rows_well_formed);
    tcase_add_test(t, test_rows_unambiguous);
    tcase_add_test(t, test_all_states_reachable);
    suite_add_tcase(s, t);
    t = tcase_create("walks");
    tcase_add_test(t, test_walk_full_and_resumed);
    tcase_add_test(t, test_walk_hrr);
    tcase_add_test(t, test_walk_client_auth);
    tcase_add_test(t, test_walk_early_data);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    tu_pki_init();
    SRunner *sr = srunner_create(hs_table_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
