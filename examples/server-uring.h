/*
 * kitls-server --uring (server-uring.c): serve on the io_uring driver.
 * Built only with liburing (EX_HAVE_URING).
 */
#ifndef KITLS_EXAMPLES_SERVER_URING_H
#define KITLS_EXAMPLES_SERVER_URING_H

#include "common.h"

/*
 * Serve connections accepted on lfd with cfg on a kitls-owned io_uring
 * ring, many at a time, per the options (see server-uring.c), until
 * o->naccept connections are done (0: until SIGINT/SIGTERM).  Returns the
 * exit status: 0, or 1 if a connection or handshake failed.
 */
int ex_uring_serve(const char *prog, int lfd, kitls_config *cfg, const struct ex_opts *o,
                   int close_after_echo);

#endif
