/*
 * kitls-server --uring (server-uring.c): serve on the io_uring driver.
 * Built only with liburing (EX_HAVE_URING).
 */
#ifndef KITLS_EXAMPLES_SERVER_URING_H
#define KITLS_EXAMPLES_SERVER_URING_H

#include "common.h"
#include "server-reload.h"

/*
 * Serve connections accepted on lfd with rl->cfg on a kitls-owned io_uring
 * ring, many at a time, per the options (see server-uring.c), until
 * o->naccept connections are done (0: until SIGINT/SIGTERM).  A SIGHUP
 * reloads (ex_reload_run) and the listener takes the new config.  Returns
 * the exit status: 0, or 1 if a connection or handshake failed.
 */
int ex_uring_serve(const char *prog, int lfd, struct ex_reload *rl, const struct ex_opts *o,
                   int close_after_echo);

#endif
