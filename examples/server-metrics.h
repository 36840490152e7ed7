/*
 * kitls-server --metrics ADDR:PORT (server-metrics.c): the process's
 * kitls_stats and the tool's gauges in the Prometheus text format, served
 * over plain HTTP (GET /metrics) by a thread of its own.
 */
#ifndef KITLS_EXAMPLES_SERVER_METRICS_H
#define KITLS_EXAMPLES_SERVER_METRICS_H

#include <stddef.h>

/*
 * Listen on addr ("HOST:PORT", "[V6]:PORT"; port 0 picks a free one,
 * printed to stderr unless quiet) and serve from a detached thread until
 * the process exits.  cert_file (may be NULL) gives the leaf whose notAfter
 * is kitls_server_cert_not_after_seconds.  Returns 0, or -1 with a message.
 */
int ex_metrics_start(const char *prog, const char *addr, const char *cert_file, int quiet);
/* kitls_server_connections_active: add d (blocking mode) or set n (the
 * io_uring driver's count of open connections). */
void ex_metrics_conn_add(int d);
void ex_metrics_conn_set(unsigned n);
/* Read the served leaf's notAfter again (after a reload); 0 or -1. */
int ex_metrics_set_cert_file(const char *cert_file);
/* The SIGHUP reload's counters (server-reload.h), read at each scrape:
 * kitls_server_reloads_total{result} and, once a reload succeeded, the
 * new leaf's notAfter for kitls_server_cert_not_after_seconds. */
struct ex_reload_stats;
void ex_metrics_set_reload_stats(const struct ex_reload_stats *st);
/* More metrics appended to each scrape (e.g. the Redis counters): fn
 * writes at most cap bytes of Prometheus text and returns their length. */
void ex_metrics_set_extra(size_t (*fn)(char *buf, size_t cap));

#endif
