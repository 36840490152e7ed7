/* Counter bumps for the statistics of kitls_config_stats() (stats.c). */
#ifndef KITLS_STATS_H
#define KITLS_STATS_H

#include "kitls/kitls.h"

/* The process's counters: every config's bump lands here too. */
extern struct kitls_stats kitls_stats_all;

/* One relaxed atomic add on the config's counter and on the process's:
 * no lock, no ordering (counters are read one by one, never compared with
 * other memory).  `field` is a member path of struct kitls_stats. */
#define KITLS_STAT_ADD(cfg, field, n)                                                              \
    do {                                                                                           \
        uint64_t stat_n_ = (n);                                                                    \
        __atomic_fetch_add(&(cfg)->stats.field, stat_n_, __ATOMIC_RELAXED);                        \
        __atomic_fetch_add(&kitls_stats_all.field, stat_n_, __ATOMIC_RELAXED);                     \
    } while (0)
#define KITLS_STAT_INC(cfg, field) KITLS_STAT_ADD(cfg, field, 1)

struct kitls_conn;
/** The handshake just completed: full or resumed, by role. */
void kitls_stats_hs_done(struct kitls_conn *c);
/** The connection fails with err (first error); alert is the one sent
 *  for it, -1 if none.  Counted only before the handshake completes. */
void kitls_stats_hs_fail(struct kitls_conn *c, int err, int alert);
/** The peer's certificate (chain or CertificateVerify) was refused. */
void kitls_stats_cert_fail(struct kitls_conn *c, int err);
/** Move the connection's pending byte counts (process_record() and kitls_stats_sent() in
 *  conn.h) to its config and the process. */
__attribute__((cold)) void kitls_stats_bytes_flush(struct kitls_conn *c);

#endif
