/*
 * kitls-server --uring: the same server on the io_uring driver
 * (<kitls/uring.h>), many connections at once on one kitls-owned ring
 * instead of one blocking connection at a time.
 *
 * The options mean what they mean in the blocking mode (kitls-server.c):
 * the config options are shared (ex_config_build), --message and
 * --sendfile are queued after the handshake (kitls_uring_send /
 * kitls_uring_sendfile: io_uring splice through the kernel when TX is
 * offloaded, else io_uring read + userspace encryption), then --echo
 * echoes or the data goes to stdout until the client's close_notify,
 * answered with ours.  --ktls asks the driver for the offload
 * (params.ktls), --ktls-policy close sets KITLS_URING_F_KTLS_REKEY_CLOSE,
 * --key-update N sends N KeyUpdates (kitls_uring_key_update) after the
 * first data received was answered, --timeout bounds the handshake,
 * --once / --naccept N stop after N connections (exit 1 if any failed).
 * Not in this mode: the extra NewSessionTicket the blocking mode sends
 * through the kernel after --ktls.
 */
#define _GNU_SOURCE

#include "server-uring.h"
#include "server-redis.h"
#include "server-metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kitls/uring.h>

/* One connection's state (the driver's user pointer). */
struct uconn {
    size_t early;     /* bytes received before EV_HANDSHAKE (0-RTT) */
    uint64_t to_send; /* --message + --sendfile bytes queued after the handshake */
    uint64_t sent;    /* bytes the driver reported handed to the kernel */
    int answered;     /* first data answered (--key-update, --close-after-echo) */
    int peer_closed;  /* EV_EOF: the client sent close_notify */
    int closing;      /* we called kitls_uring_close() */
    int file_told;    /* "sendfile: N bytes" printed */
    int ktls;         /* offload asked */
};

struct userver {
    const char *prog;
    const struct ex_opts *o;
    int close_after_echo;
    kitls_uring *u;
    int lid;     /* listener id, -1 once stopped */
    int file_fd; /* --sendfile */
    uint64_t file_len;
    unsigned closed, failed;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static struct uconn *uc_of(const struct kitls_uring_event *ev)
{
    struct uconn *uc = ev->user;
    if (uc == NULL && ev->type != KITLS_URING_EV_CLOSED) {
        uc = calloc(1, sizeof(*uc));
        if (uc != NULL)
            kitls_uring_conn_set_user(ev->conn, uc);
    }
    return uc;
}

static void print_ktls(const struct kitls_uring_info *info, unsigned mode)
{
    if (info->ktls_tx && info->ktls_rx)
        printf("ktls: tx+rx\n");
    else if (info->ktls_tx || info->ktls_rx)
        printf(mode == KITLS_URING_KTLS_BOTH ? "ktls: %s (%s)\n" : "ktls: %s\n",
               info->ktls_tx ? "tx" : "rx", kitls_ktls_reason_string(info->ktls_reason));
    else
        printf("ktls: off (%s)\n", kitls_ktls_reason_string(info->ktls_reason));
}

static void fail_conn(struct userver *s, kitls_uring_conn *c, const char *what, int r)
{
    fprintf(stderr, "%s: %s: %s\n", s->prog, what, kitls_strerror(r));
    kitls_uring_abort(c);
}

static void on_handshake(struct userver *s, const struct kitls_uring_event *ev, struct uconn *uc)
{
    const struct ex_opts *o = s->o;
    kitls_uring_conn *c = ev->conn;
    int r;

    uc->ktls = o->ktls != 0;
    if (!o->quiet)
        fprintf(stderr, "%s: handshake complete (fd %d, %u us)\n", s->prog, kitls_uring_conn_fd(c),
                ev->info->handshake_us);
    if (o->print) {
        ex_print_params(stdout, kitls_uring_conn_tls(c));
        if (o->early_data_max > 0)
            printf("early-data-bytes: %zu\n", uc->early);
        if (o->ktls != 0)
            print_ktls(ev->info, o->ktls);
        fflush(stdout);
    }
    if (o->message != NULL) {
        size_t n = strlen(o->message);
        r = kitls_uring_send(c, o->message, n);
        if (r < 0)
            return fail_conn(s, c, "send", r);
        uc->to_send += n;
    }
    if (s->file_fd >= 0 && s->file_len > 0) {
        r = kitls_uring_sendfile(c, s->file_fd, 0, (size_t)s->file_len);
        if (r < 0)
            return fail_conn(s, c, "sendfile", r);
        uc->to_send += s->file_len;
    }
}

/* Echo or print one chunk of received data, then the one-time actions
 * that follow the first answer. */
static void on_data(struct userver *s, const struct kitls_uring_event *ev, struct uconn *uc)
{
    const struct ex_opts *o = s->o;
    kitls_uring_conn *c = ev->conn;
    int r;

    if (uc->closing)
        return; /* --close-after-echo: data after our close_notify is dropped */
    if (o->echo) {
        r = kitls_uring_send(c, ev->data, ev->len);
        if (r < 0)
            return fail_conn(s, c, "send", r);
        if (kitls_uring_conn_queued(c) > 65536)
            kitls_uring_pause_recv(c, 1); /* resumed on EV_SENT */
    } else if (fwrite(ev->data, 1, ev->len, stdout) != ev->len || fflush(stdout) != 0) {
        return fail_conn(s, c, "stdout", -EIO);
    }
    if (uc->answered || kitls_uring_conn_tls(c) == NULL ||
        !kitls_conn_is_established(kitls_uring_conn_tls(c)))
        return; /* 0-RTT data: the actions wait for 1-RTT data */
    uc->answered = 1;
    for (int i = 0; i < o->key_update; i++) {
        r = kitls_uring_key_update(c, o->key_update_request);
        if (r < 0)
            return fail_conn(s, c, "key update", r);
    }
    if (s->close_after_echo) {
        uc->closing = 1;
        (void)kitls_uring_close(c);
    }
}

static void on_closed(struct userver *s, const struct kitls_uring_event *ev, struct uconn *uc)
{
    const struct ex_opts *o = s->o;
    int r = ev->reason, ok;

    /* 0: close_notify both ways.  A client that closes its socket right
     * after its close_notify, or (--close-after-echo) without answering
     * ours, is not a failure, as in the blocking mode. */
    ok = r == 0 || (uc != NULL && (uc->peer_closed || uc->closing) &&
                    (r == -EPIPE || r == -ECONNRESET || r == KITLS_E_EOF));
    if (o->print) {
        if (s->close_after_echo)
            printf("peer-close-notify: %s\n", r == 0 ? "yes" : "no");
        if (uc != NULL && uc->ktls) {
            unsigned tx, rx;
            kitls_uring_conn_ktls_rekeys(ev->conn, &tx, &rx);
            printf("ktls-rekeys: tx %u rx %u\n", tx, rx);
        }
        fflush(stdout);
    }
    if (!ok) {
        if (!KITLS_ERR_IS_ERRNO(r)) /* a TLS failure: print its code too */
            fprintf(stderr, "%s: error: %s (%d)\n", s->prog, kitls_strerror(r), r);
        else
            fprintf(stderr, "%s: error: %s\n", s->prog, kitls_strerror(r));
        s->failed++;
    } else if (!o->quiet) {
        fprintf(stderr, "%s: connection closed\n", s->prog);
    }
    s->closed++;
    free(uc);
}

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    struct userver *s = ctx;
    struct uconn *uc = uc_of(ev);

    if (uc == NULL && ev->type != KITLS_URING_EV_CLOSED) {
        fail_conn(s, ev->conn, "connection state", -ENOMEM);
        return;
    }
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE: on_handshake(s, ev, uc); break;
    case KITLS_URING_EV_DATA:
        if (!kitls_conn_is_established(kitls_uring_conn_tls(ev->conn)))
            uc->early += ev->len;
        on_data(s, ev, uc);
        break;
    case KITLS_URING_EV_SENT:
        kitls_uring_pause_recv(ev->conn, 0);
        uc->sent += ev->len;
        if (s->file_fd >= 0 && !uc->file_told && uc->sent >= uc->to_send && uc->to_send) {
            uc->file_told = 1;
            if (!s->o->quiet)
                fprintf(stderr, "%s: sendfile: %llu bytes (%s)\n", s->prog,
                        (unsigned long long)s->file_len,
                        kitls_uring_conn_ktls(ev->conn, KITLS_DIR_TX) ? "kernel TLS, splice"
                                                                      : "userspace TLS");
            if (s->o->print) {
                printf("sendfile: %llu bytes\n", (unsigned long long)s->file_len);
                fflush(stdout);
            }
        }
        break;
    case KITLS_URING_EV_EOF:
        uc->peer_closed = 1;
        (void)kitls_uring_close(ev->conn);
        break;
    case KITLS_URING_EV_CLOSED: on_closed(s, ev, uc); break;
    }
}

int ex_uring_serve(const char *prog, int lfd, struct ex_reload *rl, const struct ex_opts *o,
                   int close_after_echo)
{
    struct userver s = {
        .prog = prog, .o = o, .close_after_echo = close_after_echo, .file_fd = -1, .lid = -1};
    struct kitls_uring_params p = {
        .flags = KITLS_URING_F_NODELAY, .max_conns = 4096, .max_handshakes = 512};
    struct kitls_uring_stats st;
    struct sigaction sa;
    int r, rc = 0;

    p.ktls = o->ktls; /* KITLS_KTLS_TX/RX == KITLS_URING_KTLS_TX/RX */
    if (o->ktls_policy == KITLS_KTLS_REKEY_CLOSE)
        p.flags |= KITLS_URING_F_KTLS_REKEY_CLOSE;
    if (o->timeout > 0)
        p.handshake_timeout_ms = (unsigned)o->timeout * 1000u;
    if (o->sendfile != NULL) {
        struct stat sb;
        s.file_fd = open(o->sendfile, O_RDONLY | O_CLOEXEC);
        if (s.file_fd < 0 || fstat(s.file_fd, &sb) != 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, o->sendfile, strerror(errno));
            if (s.file_fd >= 0)
                close(s.file_fd);
            return 1;
        }
        s.file_len = (uint64_t)sb.st_size;
    }
    r = kitls_uring_new(&s.u, NULL, &p, on_event, &s);
    if (r < 0) {
        fprintf(stderr, "%s: io_uring: %s\n", prog, strerror(-r));
        rc = 1;
        goto out;
    }
    /* --replay-store redis: 0-RTT checks go out on this ring (issue 19). */
    if (ex_redis_set_uring(prog, s.u, rl->cfg) != 0) {
        rc = 1;
        goto out;
    }
    s.lid = kitls_uring_listen(s.u, lfd, rl->cfg);
    if (s.lid < 0) {
        fprintf(stderr, "%s: listen: %s\n", prog, strerror(-s.lid));
        rc = 1;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: the wait returns -EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    while (!stop_signal) {
        r = kitls_uring_run(s.u, 200);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "%s: io_uring: %s\n", prog, strerror(-r));
            rc = 1;
            break;
        }
        /* SIGHUP: a new config for the next accepts (the wait above
         * returns within 200 ms); open connections keep theirs. */
        if (ex_reload_pending() && ex_reload_run(rl) == 1 && s.lid >= 0 &&
            (r = kitls_uring_listen_set_config(s.u, s.lid, rl->cfg)) < 0)
            fprintf(stderr, "%s: reload: %s\n", prog, strerror(-r));
        kitls_uring_get_stats(s.u, &st);
        ex_metrics_conn_set(st.conns); /* --metrics: kitls_server_connections_active */
        if (o->naccept > 0) {
            /* Failed handshakes are only counted by the driver. */
            uint64_t done = s.closed + st.handshake_failures + st.overloads;
            if (s.lid >= 0 && st.accepted >= (uint64_t)o->naccept) {
                (void)kitls_uring_unlisten(s.u, s.lid);
                s.lid = -1;
            }
            if (done >= (uint64_t)o->naccept && st.conns == 0)
                break;
        }
    }
    kitls_uring_get_stats(s.u, &st);
    if (!o->quiet)
        fprintf(stderr,
                "%s: uring: accepted %llu, handshakes %llu, failed handshakes %llu, "
                "kTLS %llu, connections failed %u\n",
                prog, (unsigned long long)st.accepted, (unsigned long long)st.handshakes,
                (unsigned long long)st.handshake_failures, (unsigned long long)st.ktls_conns,
                s.failed);
    if (st.handshake_failures || s.failed)
        rc = 1;
out:
    kitls_uring_free(s.u); /* aborts what is still open (a signal) */
    if (s.file_fd >= 0)
        close(s.file_fd);
    return rc;
}
