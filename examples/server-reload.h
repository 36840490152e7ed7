/*
 * kitls-server hot reload (server-reload.c): SIGHUP re-reads the
 * certificate chain, key, OCSP staple, ticket keys and the kTLS switch
 * file into a complete new config, validates it and swaps it in for new
 * connections; established connections keep theirs.
 */
#ifndef KITLS_EXAMPLES_SERVER_RELOAD_H
#define KITLS_EXAMPLES_SERVER_RELOAD_H

#include <stdint.h>

#include "common.h"

/* What the metrics output reports (kitls_server_reloads_total{result=
 * "ok|failed"}, kitls_server_cert_not_after_seconds). */
struct ex_reload_stats {
    uint64_t ok;            /* reloads that swapped in a new config */
    uint64_t failed;        /* reloads refused (the old material stays) */
    int64_t last_time;      /* Unix time of the last reload attempt, 0: none */
    int64_t cert_not_after; /* notAfter of the leaf in use, Unix time */
    int ktls_enabled;       /* the kTLS switch as last applied: 1 on, 0 off */
};

struct ex_reload {
    const char *prog;
    const struct ex_opts *o;
    const char *ocsp_staple; /* --ocsp-staple FILE (DER), or NULL */
    const char *ktls_switch; /* --ktls-switch FILE, or NULL */
    kitls_config *cfg;       /* the config new connections get */
    /* Without --ticket-key-file: one random key for the process's life,
     * set on every config, so tickets survive a certificate reload. */
    struct kitls_ticket_key default_key;
    int have_default_key;
    struct ex_reload_stats st;
};

/*
 * Build the first config from the options (plus the OCSP staple and the
 * kTLS switch file) and install the SIGHUP handler (it only sets a flag).
 * Prints the reason and returns -1 on failure.
 */
int ex_reload_init(struct ex_reload *r, const char *prog, const struct ex_opts *o,
                   const char *ocsp_staple, const char *ktls_switch);
/* 1 if a SIGHUP arrived since the last ex_reload_run(). */
int ex_reload_pending(void);
/*
 * Re-read everything into a new config; on success swap it into r->cfg
 * (the previous one is released: connections hold their own reference)
 * and return 1; on failure log the file and the reason, keep r->cfg and
 * return 0.  One log line either way.  Clears the pending flag.
 */
int ex_reload_run(struct ex_reload *r);
/*
 * accept(2) on lfd that wakes up for a SIGHUP and reloads before taking
 * the next connection (blocking mode).  Returns the fd or -1 with errno.
 */
int ex_reload_accept(struct ex_reload *r, int lfd);
/*
 * Called at the end of every config build (start and each reload), after
 * everything else succeeded; non-zero refuses the config (the reason is
 * the hook's to print).  Set before ex_reload_init().
 */
void ex_reload_set_hook(int (*fn)(void *ctx, kitls_config *cfg), void *ctx);
/* Release r->cfg and wipe the default ticket key. */
void ex_reload_free(struct ex_reload *r);

#endif
