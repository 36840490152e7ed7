/* See fk_env.h. */
#include <check.h>
#include <string.h>

#include "fk_env.h"
#include "testutil.h"

static void on_session(void *ctx, kitls_conn *c, kitls_session *s)
{
    (void)c;
    (void)s;
    ++*(int *)ctx;
}

void fk_env_new(struct env *e, uint16_t suite, int me_client, int rekey, uint64_t ku_limit)
{
    memset(e, 0, sizeof(*e));
    e->ccfg = tu_client_config();
    e->scfg = tu_server_config(TU_P256);
    if (ku_limit) {
        ck_assert_int_eq(kitls_config_set_key_update_limit(e->ccfg, ku_limit), 0);
        ck_assert_int_eq(kitls_config_set_key_update_limit(e->scfg, ku_limit), 0);
    }
    ck_assert_int_eq(kitls_config_set_suites(e->ccfg, &suite, 1), 0);
    ck_assert_int_eq(kitls_config_set_suites(e->scfg, &suite, 1), 0);
    ck_assert_int_eq(kitls_config_set_session_callback(e->ccfg, on_session, &e->sessions), 0);
    kitls_conn *c = tu_client(e->ccfg, "localhost"), *s = tu_server(e->scfg);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    e->me = me_client ? c : s;
    e->peer = me_client ? s : c;
    e->fk.rekey = rekey;
    e->ops = fk_ops(&e->fk);
    ck_assert_int_eq(kitls_ktls_new(&e->k, e->me, FK_FD, &e->ops), 0);
}

void fk_env_free(struct env *e)
{
    kitls_ktls_free(e->k);
    kitls_conn_free(e->me);
    kitls_conn_free(e->peer);
    kitls_config_free(e->ccfg);
    kitls_config_free(e->scfg);
    fk_free(&e->fk);
}
