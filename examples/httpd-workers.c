/*
 * uring-httpd --workers N: the worker threads' link to the main thread,
 * which alone takes the signals and passes them on (stop, counters,
 * reload).
 */
#define _GNU_SOURCE
#include "httpd-workers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Shared state.  stop and the generations are atomics the workers poll
 * each loop turn (kitls_uring_run() waits at most 500 ms; the main thread
 * also interrupts it with SIGRTMIN so that they act at once).  A worker
 * reports back under mu and signals cv.
 */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stop;
static unsigned dump_gen, reload_gen;
static kitls_config *reload_cfg; /* under mu: the config of reload_gen */

int httpd_workers_stopping(void)
{
    return __atomic_load_n(&stop, __ATOMIC_ACQUIRE);
}

void httpd_workers_fail(void)
{
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
}

static void counters_get(struct httpd_worker *w)
{
    w->snap = *w->n;
    kitls_uring_get_stats(w->u, &w->st);
}

void httpd_worker_turn(struct httpd_worker *w)
{
    unsigned rg = __atomic_load_n(&reload_gen, __ATOMIC_ACQUIRE);
    unsigned dg = __atomic_load_n(&dump_gen, __ATOMIC_ACQUIRE);
    if (rg == w->reload_seen && dg == w->dump_seen)
        return;
    pthread_mutex_lock(&mu);
    if (rg != w->reload_seen) {
        /* The driver takes its own reference (and drops the one it held):
         * reload_cfg may be replaced by a later SIGHUP meanwhile. */
        if (kitls_uring_listen_set_config(w->u, w->lid, reload_cfg) == 0)
            w->reloads++;
        w->reload_seen = w->reload_done = rg;
    }
    if (dg != w->dump_seen) {
        counters_get(w);
        w->dump_seen = w->snap_gen = dg;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

void httpd_worker_up(struct httpd_worker *w, int ok)
{
    pthread_mutex_lock(&mu);
    w->up = ok ? 1 : -1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

void httpd_worker_done(struct httpd_worker *w)
{
    pthread_mutex_lock(&mu);
    counters_get(w);
    w->up = 2;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Interrupt every worker's wait (a no-op handler, no SA_RESTART). */
static void on_wake(int sig)
{
    (void)sig;
}

static void wake(struct httpd_worker **ws, int n)
{
    for (int i = 0; i < n; i++)
        pthread_kill(ws[i]->th, SIGRTMIN);
}

/* Under mu: wait until every worker has passed `what` (0: started,
 * 1: generation g of the counters, 2: reload g), or finished; at most
 * 10 s (a worker stuck in a long event). */
static void wait_all(struct httpd_worker **ws, int n, int what, unsigned g)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    for (;;) {
        int pending = 0;
        for (int i = 0; i < n; i++) {
            const struct httpd_worker *w = ws[i];
            if (w->up == 2 || w->up == -1)
                continue;
            if (what == 0 ? w->up == 0 : what == 1 ? w->snap_gen != g : w->reload_done != g)
                pending++;
        }
        if (!pending || pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT)
            return;
    }
}

/* The counters line (format of the single-threaded server, summed). */
static void print_counters(const char *who, const struct httpd_counters *c,
                           const struct kitls_uring_stats *st, const char *more)
{
    char by[1024] = "";
    size_t o = 0;
    for (int i = 0; i < 600 && o < sizeof(by) - 32; i++)
        if (c->status[i])
            o += (size_t)snprintf(by + o, sizeof(by) - o, " %d:%llu", i, c->status[i]);
    fprintf(stderr,
            "uring-httpd: %s: requests %llu status%s plain_http_400 %llu bytes_out %llu "
            "connections accepted %llu handshakes %llu failures %llu open %u ktls_tx %llu "
            "ktls_rx %llu timeouts %llu%s\n",
            who, c->requests, o ? by : " -", (unsigned long long)st->not_tls, c->bytes,
            (unsigned long long)st->accepted, (unsigned long long)st->handshakes,
            (unsigned long long)st->handshake_failures, st->conns, c->ktls_tx, c->ktls_rx,
            c->timeouts, more);
}

/* Sum the workers' snapshots; print the total and, with several
 * workers, one line each (with the reloads its listener took). */
static void report(struct httpd_worker **ws, int n, struct httpd_counters *c,
                   struct kitls_uring_stats *st)
{
    memset(c, 0, sizeof(*c));
    memset(st, 0, sizeof(*st));
    st->rx_buf_ring = n ? ws[0]->st.rx_buf_ring : 0;
    for (int i = 0; i < n; i++) {
        const struct httpd_counters *s = &ws[i]->snap;
        const struct kitls_uring_stats *t = &ws[i]->st;
        c->requests += s->requests;
        c->timeouts += s->timeouts;
        c->bytes += s->bytes;
        c->ktls_tx += s->ktls_tx;
        c->ktls_rx += s->ktls_rx;
        for (int k = 0; k < 600; k++)
            c->status[k] += s->status[k];
        st->conns += t->conns;
        st->accepted += t->accepted;
        st->handshakes += t->handshakes;
        st->handshake_failures += t->handshake_failures;
        st->timeouts += t->timeouts;
        st->overloads += t->overloads;
        st->ktls_conns += t->ktls_conns;
        st->rx_bufs += t->rx_bufs;
        st->rx_nobufs += t->rx_nobufs;
        st->not_tls += t->not_tls;
        if (t->rx_buf_ring < 0)
            st->rx_buf_ring = t->rx_buf_ring;
    }
    print_counters("counters", c, st, "");
    for (int i = 0; n > 1 && i < n; i++) {
        char who[64], more[64];
        snprintf(who, sizeof(who), "worker %d counters", i);
        snprintf(more, sizeof(more), " reloads %llu", ws[i]->reloads);
        print_counters(who, &ws[i]->snap, &ws[i]->st, more);
    }
}

/* SIGHUP: one new config from the same files, for every worker's new
 * connections.  The ticket key is the process's (set on every config), so
 * tickets survive the reload and are opened by any worker. */
static void reload(struct httpd_worker **ws, int n, const struct httpd_opts *o, kitls_config **cfg,
                   const struct kitls_ticket_key *tk)
{
    kitls_config *nc = httpd_config_new(o);
    int r = nc ? kitls_config_set_ticket_keys(nc, tk, 1) : 0;
    if (!nc || r < 0) {
        fprintf(stderr,
                "uring-httpd: reload failed: %s / %s: %s; keeping the previous certificate\n",
                o->cert, o->key, nc ? kitls_strerror(r) : "see the line above");
        kitls_config_free(nc);
        return;
    }
    pthread_mutex_lock(&mu);
    kitls_config_free(reload_cfg);
    reload_cfg = kitls_config_up_ref(nc);
    unsigned g = __atomic_add_fetch(&reload_gen, 1, __ATOMIC_ACQ_REL);
    wake(ws, n);
    wait_all(ws, n, 2, g);
    int done = 0;
    for (int i = 0; i < n; i++)
        done += ws[i]->reload_done == g;
    pthread_mutex_unlock(&mu);
    kitls_config_free(*cfg);
    *cfg = nc;
    fprintf(stderr, "uring-httpd: reload ok: %s / %s for new connections", o->cert, o->key);
    if (n > 1)
        fprintf(stderr, " (%d of %d workers)", done, n);
    fputc('\n', stderr);
}

static void dump(struct httpd_worker **ws, int n)
{
    struct httpd_counters c;
    struct kitls_uring_stats st;
    pthread_mutex_lock(&mu);
    unsigned g = __atomic_add_fetch(&dump_gen, 1, __ATOMIC_ACQ_REL);
    wake(ws, n);
    wait_all(ws, n, 1, g);
    report(ws, n, &c, &st);
    pthread_mutex_unlock(&mu);
}

static void finish(struct httpd_worker **ws, int n, int started)
{
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    wake(ws, started);
    for (int i = 0; i < started; i++)
        pthread_join(ws[i]->th, NULL);
}

int httpd_workers_run(struct httpd_worker **ws, int n, void *(*fn)(void *),
                      const struct httpd_opts *o, kitls_config **cfg,
                      const struct kitls_ticket_key *tk, int port, const char *banner)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    /* Blocked before the threads start, so they inherit it: only this
     * thread takes them (sigtimedwait). */
    pthread_sigmask(SIG_BLOCK, &set, &old);
    struct sigaction sa = {.sa_handler = on_wake};
    sigaction(SIGRTMIN, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int started = 0, failed = 0;
    for (; started < n; started++)
        if (pthread_create(&ws[started]->th, NULL, fn, ws[started]) != 0) {
            fprintf(stderr, "uring-httpd: worker %d: %s\n", started, strerror(errno));
            failed = 1;
            break;
        }
    pthread_mutex_lock(&mu);
    wait_all(ws, started, 0, 0);
    for (int i = 0; i < started; i++)
        failed |= ws[i]->up != 1;
    pthread_mutex_unlock(&mu);
    if (!failed && o->ready_file) {
        FILE *f = fopen(o->ready_file, "w");
        if (!f || fprintf(f, "%d %d\n", port, (int)getpid()) < 0 || fclose(f) != 0) {
            fprintf(stderr, "uring-httpd: --ready-file %s: %s\n", o->ready_file, strerror(errno));
            failed = 1;
        }
    }
    if (failed) {
        finish(ws, n, started);
        return 1;
    }
    if (!o->quiet)
        fprintf(stderr, "%s\n", banner);
    while (!httpd_workers_stopping()) {
        struct timespec tick = {0, 200 * 1000 * 1000}; /* to notice a failed worker */
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGUSR1)
            dump(ws, n);
        else if (sig == SIGHUP)
            reload(ws, n, o, cfg, tk);
        else if (sig == SIGINT || sig == SIGTERM)
            break;
    }
    finish(ws, n, started);
    struct httpd_counters c;
    struct kitls_uring_stats st;
    report(ws, n, &c, &st);
    fprintf(stderr,
            "uring-httpd: accepted %llu handshakes %llu failures %llu timeouts %llu overloads "
            "%llu requests %llu 404 %llu idle/header timeouts %llu open %u ktls %llu "
            "rss_kb %ld rx_buf_ring %d rx_bufs %u rx_nobufs %llu\n",
            (unsigned long long)st.accepted, (unsigned long long)st.handshakes,
            (unsigned long long)st.handshake_failures, (unsigned long long)st.timeouts,
            (unsigned long long)st.overloads, c.requests, c.status[404], c.timeouts, st.conns,
            (unsigned long long)st.ktls_conns, httpd_rss_kb(), st.rx_buf_ring, st.rx_bufs,
            (unsigned long long)st.rx_nobufs);
    kitls_config_free(reload_cfg);
    reload_cfg = NULL;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}
