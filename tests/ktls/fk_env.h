/*
 * The unit tests' kTLS environment: a client and a server connection
 * that completed a handshake in memory, one of them ("me") handed to the
 * kTLS layer over the fake kernel (fakekernel.h).  Shared by test_ktls
 * and test_ktls_caller_io; uses Check and tests/unit/testutil.
 */
#ifndef KITLS_TESTS_FK_ENV_H
#define KITLS_TESTS_FK_ENV_H

#include <stdint.h>

#include "fakekernel.h"
#include "kitls/kitls.h"
#include "kitls/ktls.h"

struct env {
    kitls_config *ccfg, *scfg;
    kitls_conn *me, *peer; /* me: the offloaded side */
    struct fk fk;
    struct kitls_ktls_ops ops;
    kitls_ktls *k;
    int sessions; /* NewSessionTickets the client received */
};

/* One suite only; `me` is the client when me_client; the fake kernel
 * can rekey when rekey; ku_limit: kitls_config_set_key_update_limit() on
 * both configs (0: the default). */
void fk_env_new(struct env *e, uint16_t suite, int me_client, int rekey, uint64_t ku_limit);
void fk_env_free(struct env *e);

#endif
