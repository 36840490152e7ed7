/*
 * uring-httpd --workers N (httpd-workers.c): worker threads, each with its
 * own ring and SO_REUSEPORT listening socket, and the main thread that
 * takes the signals for all of them: stop, counters summed over the
 * workers (SIGUSR1), reload applied to every worker's listener (SIGHUP).
 */
#ifndef EX_HTTPD_WORKERS_H
#define EX_HTTPD_WORKERS_H

#include <pthread.h>

#include <kitls/kitls.h>
#include <kitls/uring.h>

#include "httpd-tool.h"

/* What a worker counts (only its own thread writes them). */
struct httpd_counters {
    unsigned long long requests, status[600], timeouts, bytes, ktls_tx, ktls_rx;
};

/*
 * A worker as the main thread sees it.  The worker's thread sets u and lid
 * before httpd_worker_up(); the fields from snap on are under the shared
 * lock (httpd-workers.c).
 */
struct httpd_worker {
    int id, lfd, lid;
    pthread_t th;
    kitls_uring *u;
    const struct httpd_counters *n; /* the worker's live counters */
    unsigned dump_seen, reload_seen;
    /* under the lock */
    struct httpd_counters snap;
    struct kitls_uring_stats st;
    unsigned long long reloads; /* configs applied to its listener */
    unsigned snap_gen, reload_done;
    int up; /* 0 starting, 1 serving, -1 failed to start, 2 finished */
};

/* 1 once the workers are to stop (SIGINT, SIGTERM, or a worker failed). */
int httpd_workers_stopping(void);
/* A worker failed for good: stop them all. */
void httpd_workers_fail(void);
/*
 * Each loop turn of a worker: apply a pending reload to its listener
 * (kitls_uring_listen_set_config, from the ring's thread as the driver
 * requires) and answer a pending counters request with a snapshot.
 */
void httpd_worker_turn(struct httpd_worker *w);
/* The worker started (ok 1: ring and listener up) or could not (ok 0). */
void httpd_worker_up(struct httpd_worker *w, int ok);
/* The worker's loop ended: its last counters, before it frees its ring. */
void httpd_worker_done(struct httpd_worker *w);

/*
 * The main thread: block the signals in every thread but this one, start
 * `n` threads fn(ws[i]) (ws[i]->lfd set), wait until all are up, write
 * o->ready_file and the "serving" line, then take SIGINT/SIGTERM (stop,
 * join, the counters and the exit line), SIGUSR1 (the counters summed, and
 * per worker when n > 1) and SIGHUP (a new config from o, with the ticket
 * key tk, applied to every worker's listener; *cfg becomes it).  Returns
 * the exit status: 0, or 1 when a worker could not start.
 */
int httpd_workers_run(struct httpd_worker **ws, int n, void *(*fn)(void *),
                      const struct httpd_opts *o, kitls_config **cfg,
                      const struct kitls_ticket_key *tk, int port, const char *banner);

#endif
