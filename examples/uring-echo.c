/*
 * uring-echo: a TLS echo server on io_uring, with the application owning
 * the ring (kitls_uring on a borrowed ring: the application submits, reaps
 * CQEs, hands the driver's to kitls_uring_handle_cqe() and keeps its own
 * operations -- here a read on a signalfd for a clean shutdown).
 *
 *   uring-echo -c cert.pem -k key.pem [-p port] [-a addr] [--ktls [--ktls-close]]
 *              [--max-conns N] [--ready-file F] [--no-multishot]
 *
 * Every byte received is sent back; a peer's close_notify is answered with
 * ours.  Receive backpressure: reading pauses while more than 64 KiB wait
 * to be sent and resumes on KITLS_URING_EV_SENT.  SIGINT/SIGTERM stop the
 * server; it prints its counters to stderr and exits 0 when nothing
 * leaked.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kitls/kitls.h>
#include <kitls/ktls.h>
#include <kitls/uring.h>

#define APP_SIGNAL 1u /* user_data of our own signalfd read */
#define PAUSE_AT 65536

static int quiet;

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    (void)ctx;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE:
        if (!quiet)
            fprintf(stderr, "uring-echo: fd %d %s %s ktls tx=%d rx=%d %uus\n",
                    kitls_uring_conn_fd(ev->conn),
                    kitls_suite_name(kitls_conn_suite(kitls_uring_conn_tls(ev->conn))),
                    kitls_group_name(kitls_conn_group(kitls_uring_conn_tls(ev->conn))),
                    ev->info->ktls_tx, ev->info->ktls_rx, ev->info->handshake_us);
        break;
    case KITLS_URING_EV_DATA: {
        int r = kitls_uring_send(ev->conn, ev->data, ev->len);
        if (r < 0) {
            fprintf(stderr, "uring-echo: send: %s\n", kitls_strerror(r));
            kitls_uring_abort(ev->conn);
        } else if (kitls_uring_conn_queued(ev->conn) > PAUSE_AT) {
            kitls_uring_pause_recv(ev->conn, 1);
        }
        break;
    }
    case KITLS_URING_EV_SENT: kitls_uring_pause_recv(ev->conn, 0); break;
    case KITLS_URING_EV_EOF: (void)kitls_uring_close(ev->conn); break;
    case KITLS_URING_EV_CLOSED:
        if (!quiet && ev->reason && ev->reason != KITLS_E_EOF)
            fprintf(stderr, "uring-echo: fd %d closed: %s\n", kitls_uring_conn_fd(ev->conn),
                    kitls_strerror(ev->reason));
        break;
    }
}

static int listen_on(const char *addr, int port, int *bound)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0) {
        perror("uring-echo: listen");
        return -1;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *bound = ntohs(sa.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *addr = "127.0.0.1", *ready = NULL;
    int port = 4433;
    struct kitls_uring_params p = {.flags = KITLS_URING_F_NODELAY};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-c") && v)
            cert = argv[++i];
        else if (!strcmp(a, "-k") && v)
            key = argv[++i];
        else if (!strcmp(a, "-p") && v)
            port = atoi(argv[++i]);
        else if (!strcmp(a, "-a") && v)
            addr = argv[++i];
        else if (!strcmp(a, "--ready-file") && v)
            ready = argv[++i];
        else if (!strcmp(a, "--max-conns") && v)
            p.max_conns = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--handshake-timeout") && v)
            p.handshake_timeout_ms = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--ktls"))
            p.ktls = KITLS_URING_KTLS_BOTH;
        else if (!strcmp(a, "--ktls-close")) /* offload on kernels without rekey too */
            p.flags |= KITLS_URING_F_KTLS_REKEY_CLOSE;
        else if (!strcmp(a, "--no-multishot"))
            p.flags |= KITLS_URING_F_NO_MULTISHOT;
        else if (!strcmp(a, "-q"))
            quiet = 1;
        else {
            fprintf(stderr,
                    "usage: %s -c cert.pem -k key.pem [-p port] [-a addr] [--ktls [--ktls-close]] "
                    "[--max-conns N] [--handshake-timeout MS] [--ready-file F] "
                    "[--no-multishot] [-q]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!cert || !key) {
        fprintf(stderr, "uring-echo: -c and -k are required\n");
        return 2;
    }
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    int r = cfg ? kitls_config_add_cert_files(cfg, cert, key) : KITLS_E_NOMEM;
    if (r < 0) {
        fprintf(stderr, "uring-echo: certificate: %s\n", kitls_strerror(r));
        return 1;
    }
    int bound;
    int lfd = listen_on(addr, port, &bound);
    if (lfd < 0)
        return 1;

    /* Our own ring; the driver shares it. */
    struct io_uring ring;
    if ((r = io_uring_queue_init(512, &ring, 0)) < 0) {
        fprintf(stderr, "uring-echo: io_uring_queue_init: %s\n", strerror(-r));
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    struct signalfd_siginfo si;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, sfd, &si, sizeof(si), 0);
    io_uring_sqe_set_data64(sqe, APP_SIGNAL);

    kitls_uring *u;
    if ((r = kitls_uring_new(&u, &ring, &p, on_event, NULL)) < 0 ||
        (r = kitls_uring_listen(u, lfd, cfg)) < 0) {
        fprintf(stderr, "uring-echo: %s\n", strerror(-r));
        return 1;
    }
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f) {
            fprintf(f, "%d\n", bound);
            fclose(f);
        }
    }
    if (!quiet)
        fprintf(stderr, "uring-echo: listening on %s:%d\n", addr, bound);

    int stopping = 0;
    for (;;) {
        (void)kitls_uring_flush(u);
        if (stopping && !kitls_uring_inflight(u))
            break;
        r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "uring-echo: submit: %s\n", strerror(-r));
            break;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            seen++;
            if (kitls_uring_handle_cqe(u, cqe))
                continue;
            if (cqe->user_data == APP_SIGNAL && !stopping) {
                stopping = 1;
                kitls_uring_shutdown(u);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    struct kitls_uring_stats st;
    kitls_uring_get_stats(u, &st);
    fprintf(stderr,
            "uring-echo: accepted %llu handshakes %llu failures %llu timeouts %llu "
            "overloads %llu in %llu out %llu open %u multishot %d ktls %llu "
            "ktls-control-records recvmsg %llu sync %llu ktls-tx-rekeys %llu\n",
            (unsigned long long)st.accepted, (unsigned long long)st.handshakes,
            (unsigned long long)st.handshake_failures, (unsigned long long)st.timeouts,
            (unsigned long long)st.overloads, (unsigned long long)st.bytes_in,
            (unsigned long long)st.bytes_out, st.conns, st.multishot_accept,
            (unsigned long long)st.ktls_conns, (unsigned long long)st.ktls_ctrl_recvmsg,
            (unsigned long long)st.ktls_ctrl_sync, (unsigned long long)st.ktls_tx_rekeys);
    kitls_uring_free(u);
    io_uring_queue_exit(&ring);
    close(sfd);
    close(lfd);
    kitls_config_free(cfg);
    return st.conns ? 1 : 0;
}
