/*
 * Shared helpers for the kitls example tools: blocking TCP sockets, the
 * byte pump, kernel TLS offload and reporting.  See common.h; options,
 * files and config building are in common-config.c.
 *
 * The pump follows the sans-I/O contract of <kitls/kitls.h>: the
 * connection never touches the socket; we move ciphertext between the
 * socket and kitls_conn_feed() / kitls_conn_out_peek() ourselves.
 */
#define _POSIX_C_SOURCE 200809L

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* errno of the last transport failure, for ex_report_error(). */
static int ex_io_errno;

/* With --ktls: the kTLS object of the current connection (NULL: the plain
 * pump), its socket, connection and poll timeout. */
static kitls_ktls *ex_kt;
static kitls_conn *ex_kt_conn;
static int ex_kt_fd = -1;
static int ex_kt_timeout_ms = -1;

/* ---- sockets ---- */

void ex_set_timeout(int fd, int seconds)
{
    ex_kt_timeout_ms = seconds > 0 ? seconds * 1000 : -1;
    struct timeval tv;

    if (seconds <= 0)
        return;
    tv.tv_sec = seconds;
    tv.tv_usec = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int ex_tcp_connect(const char *prog, const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, rc, saved = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* No AI_ADDRCONFIG: it hides ::1 when only loopback is configured. */
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: %s:%s: %s\n", prog, host, port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "%s: connect %s:%s: %s\n", prog, host, port, strerror(saved));
    return fd;
}

static int listen_on(const struct sockaddr *sa, socklen_t salen, int v6only)
{
    int fd, one = 1, saved;

    fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    /* A full accept queue drops SYNs: the client retries after 1 s, 3 s...
     * (a burst of 1000 connections, bench/fleet/concurrent.sh); the kernel
     * caps the backlog at net.core.somaxconn. */
    if (bind(fd, sa, salen) == 0 && listen(fd, SOMAXCONN) == 0)
        return fd;
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int ex_tcp_listen(const char *prog, const char *host, const char *port, int *bound_port)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    int fd = -1, rc, saved = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (host == NULL) {
        /* All addresses: prefer one IPv6 dual-stack socket, else IPv4. */
        hints.ai_family = AF_INET6;
        rc = getaddrinfo(NULL, port, &hints, &res);
        if (rc == 0) {
            fd = listen_on(res->ai_addr, res->ai_addrlen, 0);
            saved = errno;
            freeaddrinfo(res);
            res = NULL;
        }
        if (fd < 0)
            hints.ai_family = AF_INET;
    } else {
        hints.ai_family = AF_UNSPEC;
    }
    if (fd < 0) {
        rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0) {
            fprintf(stderr, "%s: %s:%s: %s\n", prog, host != NULL ? host : "*", port,
                    gai_strerror(rc));
            return -1;
        }
        for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
            fd = listen_on(ai->ai_addr, ai->ai_addrlen, 1);
            saved = errno;
        }
        freeaddrinfo(res);
    }
    if (fd < 0) {
        fprintf(stderr, "%s: listen %s:%s: %s\n", prog, host != NULL ? host : "*", port,
                strerror(saved));
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        fprintf(stderr, "%s: getsockname: %s\n", prog, strerror(errno));
        close(fd);
        return -1;
    }
    if (ss.ss_family == AF_INET6)
        *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* ---- the pump ---- */

static int kt_code(long r);
static int kt_wait(short events);

/* kTLS: send everything pending, waiting for room. */
static int kt_flush(void)
{
    int rc;

    while ((rc = kitls_ktls_flush(ex_kt)) == -EAGAIN)
        if ((rc = kt_wait(POLLOUT)) != 0)
            return rc;
    return rc == 0 ? 0 : kt_code(rc);
}

int ex_flush(int fd, kitls_conn *c)
{
    const uint8_t *p;
    size_t len;
    ssize_t n;

    if (ex_kt != NULL)
        return kt_flush();

    while ((len = kitls_conn_out_peek(c, &p)) > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ex_io_errno = errno;
            return EX_E_IO;
        }
        kitls_conn_out_consume(c, (size_t)n);
    }
    return 0;
}

int ex_recv_feed(int fd, kitls_conn *c)
{
    uint8_t buf[16384 + 256];
    ssize_t n;

    for (;;) {
        n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0)
            return kitls_conn_feed(c, buf, (size_t)n);
        if (n == 0)
            return KITLS_E_EOF;
        if (errno != EINTR) {
            ex_io_errno = errno;
            return EX_E_IO;
        }
    }
}

int ex_handshake(int fd, kitls_conn *c)
{
    int rc, frc;

    for (;;) {
        rc = kitls_conn_handshake(c);
        /* Flush first: our flight, or the alert for a fatal error. */
        frc = ex_flush(fd, c);
        if (rc == 0)
            return frc;
        if (rc != KITLS_E_WANT_READ)
            return rc;
        if (frc != 0)
            return frc;
        rc = ex_recv_feed(fd, c);
        if (rc != 0)
            return rc;
    }
}

int ex_read(int fd, kitls_conn *c, uint8_t *buf, size_t len)
{
    int n, frc;

    if (ex_kt != NULL) {
        while ((n = ex_ktls_read_some(buf, len)) == KITLS_E_WANT_READ)
            if ((n = kt_wait(POLLIN)) != 0)
                return n;
        return n;
    }

    for (;;) {
        n = kitls_conn_read(c, buf, len);
        /* Post-handshake messages may have queued output (a KeyUpdate
         * reply, or an alert on error). */
        frc = ex_flush(fd, c);
        if (n == 0 && frc == 0)
            continue; /* a record without data was consumed; not EOF */
        if (n != KITLS_E_WANT_READ)
            return n;
        if (frc != 0)
            return frc;
        n = ex_recv_feed(fd, c);
        if (n != 0)
            return n;
    }
}

int ex_key_update(int fd, kitls_conn *c, int n, int request)
{
    int i, rc;

    if (ex_kt != NULL) {
        for (i = 0; i < n; i++) {
            /* Everything earlier is out, so a would-block below comes
             * from sending the KeyUpdate itself, which is then queued. */
            if ((rc = kt_flush()) != 0)
                return rc;
            rc = kitls_ktls_key_update(ex_kt, request);
            if (rc != 0 && rc != -EAGAIN)
                return kt_code(rc);
        }
        return kt_flush();
    }

    for (i = 0; i < n; i++) {
        rc = kitls_conn_key_update(c, request);
        if (rc < 0) {
            (void)ex_flush(fd, c);
            return rc;
        }
    }
    return ex_flush(fd, c);
}

int ex_write(int fd, kitls_conn *c, const uint8_t *buf, size_t len)
{
    size_t off = 0, chunk;
    ssize_t r;
    int n;

    if (ex_kt != NULL) {
        while (off < len) {
            r = kitls_ktls_send(ex_kt, buf + off, len - off);
            if (r > 0)
                off += (size_t)r;
            else if (r != -EAGAIN)
                return kt_code(r);
            else if ((n = kt_wait(POLLOUT)) != 0)
                return n;
        }
        return 0;
    }

    /* kitls_conn_write takes everything; chunk so the output buffer stays
     * bounded for large inputs. */
    while (off < len) {
        chunk = len - off;
        if (chunk > 65536)
            chunk = 65536;
        n = kitls_conn_write(c, buf + off, chunk);
        if (n < 0) {
            (void)ex_flush(fd, c);
            return n;
        }
        off += chunk;
        n = ex_flush(fd, c);
        if (n != 0)
            return n;
    }
    return 0;
}

int ex_close(int fd, kitls_conn *c, int peer_closed)
{
    int rc;

    if (ex_kt != NULL) {
        rc = kitls_ktls_close(ex_kt);
        if (rc == -EAGAIN)
            rc = kt_flush();
        else if (rc != 0)
            rc = kt_code(rc);
        (void)shutdown(fd, SHUT_WR);
        return rc != 0 && peer_closed && rc == EX_E_IO ? 0 : rc;
    }
    rc = kitls_conn_close(c);
    if (rc < 0)
        return rc;
    rc = ex_flush(fd, c);
    (void)shutdown(fd, SHUT_WR);
    if (rc != 0 && peer_closed)
        return 0;
    return rc;
}

/*
 * close() with unread input makes the kernel send a TCP reset (RFC 1122
 * §4.2.2.13) and drop whatever is still queued for sending, and the peer's
 * stack may discard what it received but had not read yet: the alert that
 * explains the failure is lost in exactly the cases where the peer was
 * still sending.  So: FIN after our last record, then read until the
 * peer's EOF, bounded in bytes and time (a peer that never stops sending
 * still gets the reset, later).
 */
void ex_close_socket(int fd)
{
    uint8_t buf[16384];
    size_t total = 0;
    struct timespec t0, t;

    if (fd < 0)
        return;
    (void)shutdown(fd, SHUT_WR);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (total < EX_LINGER_BYTES) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left =
            EX_LINGER_MS - ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0)
            break;
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0) /* EOF, or an error such as a kTLS record we cannot read */
            break;
        total += (size_t)n;
    }
    close(fd);
}

/* ---- kernel TLS offload ---- */

unsigned ex_parse_ktls_mode(const char *prog, const char *arg)
{
    if (strcmp(arg, "tx") == 0)
        return KITLS_KTLS_TX;
    if (strcmp(arg, "rx") == 0)
        return KITLS_KTLS_RX;
    if (strcmp(arg, "both") == 0)
        return KITLS_KTLS_BOTH;
    fprintf(stderr, "%s: --ktls: expected tx, rx or both, got '%s'\n", prog, arg);
    exit(2);
}

int ex_parse_ktls_policy(const char *prog, const char *arg)
{
    if (strcmp(arg, "require") == 0)
        return KITLS_KTLS_REKEY_REQUIRE;
    if (strcmp(arg, "close") == 0)
        return KITLS_KTLS_REKEY_CLOSE;
    fprintf(stderr, "%s: --ktls-policy: expected require or close, got '%s'\n", prog, arg);
    exit(2);
}

/* A kTLS layer code as a pump code: system errors become EX_E_IO, a TCP
 * end without close_notify KITLS_E_EOF, 0 (close_notify) KITLS_E_CLOSED. */
static int kt_code(long r)
{
    if (r == 0)
        return KITLS_E_CLOSED;
    if (KITLS_ERR_IS_ERRNO(r)) {
        ex_io_errno = (int)-r;
        return EX_E_IO;
    }
    if (r == KITLS_KTLS_E_TRUNCATED)
        return KITLS_E_EOF;
    return (int)r;
}

/* Wait until the socket is ready (events), within the timeout. */
static int kt_wait(short events)
{
    struct pollfd pfd;
    int n;

    pfd.fd = ex_kt_fd;
    pfd.events = events;
    /* Our own pending records (a KeyUpdate answer) may wait for room. */
    if (kitls_conn_wants(ex_kt_conn) & KITLS_WANT_WRITE)
        pfd.events |= POLLOUT;
    for (;;) {
        n = poll(&pfd, 1, ex_kt_timeout_ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        ex_io_errno = n == 0 ? EAGAIN : errno;
        return EX_E_IO;
    }
}

int ex_ktls_attach(int fd, kitls_conn *c, const struct ex_opts *o)
{
    int rc;

    ex_ktls_detach();
    rc = kitls_ktls_new(&ex_kt, c, fd, NULL);
    if (rc != 0)
        return rc;
    ex_kt_fd = fd;
    ex_kt_conn = c;
    ex_kt_timeout_ms = o->timeout > 0 ? o->timeout * 1000 : -1;
    rc = kitls_ktls_set_mode(ex_kt, o->ktls);
    if (rc == 0)
        rc = kitls_ktls_set_rekey_policy(ex_kt, (enum kitls_ktls_rekey_policy)o->ktls_policy);
    if (rc != 0)
        ex_ktls_detach();
    return rc;
}

/* Make the socket non-blocking: waits are then poll()s with the timeout. */
static int kt_nonblock(void)
{
    int fl = fcntl(ex_kt_fd, F_GETFL);

    if (fl < 0 || fcntl(ex_kt_fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        ex_io_errno = errno;
        return EX_E_IO;
    }
    return 0;
}

int ex_ktls_handshake(void)
{
    int rc;

    /* Non-blocking: kitls_ktls_handshake() may read before it sends the
     * flight the core just produced (it sends it on the next call), so a
     * blocking read there would wait for a peer that waits for us. */
    if ((rc = kt_nonblock()) != 0)
        return rc;
    for (;;) {
        rc = kitls_ktls_handshake(ex_kt);
        if (rc != -EAGAIN)
            return rc == 0 ? 0 : kt_code(rc);
        if ((rc = kt_wait(POLLIN)) != 0)
            return rc;
    }
}

int ex_ktls_enable(void)
{
    int rc;

    for (;;) {
        rc = kitls_ktls_enable(ex_kt);
        if (rc != -EAGAIN)
            break;
        if ((rc = kt_wait(POLLIN)) != 0)
            return rc;
    }
    if (rc != 0)
        return kt_code(rc);
    /* From here on, waits are poll()s with the --timeout. */
    if ((rc = kt_nonblock()) != 0)
        return rc;
    /* Offloaded directions need no userspace record buffers. */
    kitls_conn_release_buffers(ex_kt_conn);
    return 0;
}

int ex_ktls_active(void)
{
    return ex_kt != NULL;
}

static const char *kt_dir_name(int d)
{
    return d == KITLS_DIR_TX ? "tx" : "rx";
}

void ex_ktls_print(FILE *f)
{
    int tx = kitls_ktls_is_offloaded(ex_kt, KITLS_DIR_TX);
    int rx = kitls_ktls_is_offloaded(ex_kt, KITLS_DIR_RX);
    int d, miss = -1;

    for (d = KITLS_DIR_TX; d <= KITLS_DIR_RX; d++)
        if (!kitls_ktls_is_offloaded(ex_kt, (enum kitls_dir)d) &&
            kitls_ktls_reason(ex_kt, (enum kitls_dir)d) != KITLS_KTLS_R_NOT_REQUESTED) {
            miss = d;
            break;
        }
    if (tx && rx)
        fprintf(f, "ktls: tx+rx\n");
    else if (tx || rx)
        fprintf(
            f, miss < 0 ? "ktls: %s\n" : "ktls: %s (%s: %s)\n", tx ? "tx" : "rx", kt_dir_name(miss),
            miss < 0 ? ""
                     : kitls_ktls_reason_string(kitls_ktls_reason(ex_kt, (enum kitls_dir)miss)));
    else
        fprintf(f, "ktls: off (%s)\n",
                kitls_ktls_reason_string(
                    kitls_ktls_reason(ex_kt, miss < 0 ? KITLS_DIR_TX : (enum kitls_dir)miss)));
    fflush(f);
}

void ex_ktls_print_rekeys(FILE *f)
{
    unsigned tx = 0, rx = 0;

    kitls_ktls_rekeys(ex_kt, &tx, &rx);
    fprintf(f, "ktls-rekeys: tx %u rx %u\n", tx, rx);
    fflush(f);
}

int ex_ktls_read_some(uint8_t *buf, size_t len)
{
    ssize_t r = kitls_ktls_recv(ex_kt, buf, len);

    if (r > 0)
        return (int)r;
    if (r == -EAGAIN)
        return KITLS_E_WANT_READ;
    return kt_code(r);
}

void ex_ktls_detach(void)
{
    kitls_ktls_free(ex_kt);
    ex_kt = NULL;
    ex_kt_conn = NULL;
    ex_kt_fd = -1;
}

int ex_sendfile(int fd, kitls_conn *c, const char *path, uint64_t *sent, double *secs)
{
    struct timespec t0, t1;
    struct stat st;
    kitls_ktls *k = ex_kt, *tmp = NULL;
    off_t off = 0;
    ssize_t r;
    int ffd, rc = 0;

    *sent = 0;
    *secs = 0;
    ffd = open(path, O_RDONLY);
    if (ffd < 0 || fstat(ffd, &st) != 0) {
        ex_io_errno = errno;
        if (ffd >= 0)
            close(ffd);
        return EX_E_IO;
    }
    if (k == NULL) {
        /* No --ktls: the same call, always in userspace. */
        rc = kitls_ktls_new(&tmp, c, fd, NULL);
        if (rc != 0) {
            close(ffd);
            return rc;
        }
        k = tmp;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (off < st.st_size) {
        r = kitls_ktls_sendfile(k, ffd, &off, (size_t)(st.st_size - off));
        if (r > 0)
            continue;
        if (r == 0)
            break; /* the file shrank */
        if (r == -EAGAIN && tmp == NULL && (rc = kt_wait(POLLOUT)) == 0)
            continue;
        if (rc == 0)
            rc = kt_code(r);
        break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *sent = (uint64_t)off;
    *secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    kitls_ktls_free(tmp);
    close(ffd);
    return rc;
}

/* ---- reporting ---- */

static void print_name(FILE *f, const char *key, const char *name, unsigned id)
{
    if (name != NULL)
        fprintf(f, "%s: %s\n", key, name);
    else if (id != 0)
        fprintf(f, "%s: 0x%04x\n", key, id);
    else
        fprintf(f, "%s: none\n", key);
}

void ex_print_params(FILE *f, const kitls_conn *c)
{
    uint16_t suite = kitls_conn_suite(c), group = kitls_conn_group(c);
    uint16_t sig = kitls_conn_sigalg(c), peer_sig = kitls_conn_peer_sigalg(c);
    const char *alpn = kitls_conn_alpn(c), *sni = kitls_conn_server_name(c);

    fprintf(f, "protocol: TLSv1.3\n");
    print_name(f, "suite", kitls_suite_name(suite), suite);
    print_name(f, "group", kitls_group_name(group), group);
    print_name(f, "sigalg", kitls_sigalg_name(sig), sig);
    print_name(f, "peer-sigalg", kitls_sigalg_name(peer_sig), peer_sig);
    fprintf(f, "alpn: %s\n", alpn != NULL ? alpn : "none");
    fprintf(f, "hrr: %s\n", kitls_conn_did_hrr(c) ? "yes" : "no");
    fprintf(f, "peer-authenticated: %s\n", kitls_conn_peer_authenticated(c) ? "yes" : "no");
    fprintf(f, "server-name: %s\n", sni != NULL && *sni != '\0' ? sni : "none");
    fprintf(f, "max-send-fragment: %zu\n", kitls_conn_max_send_fragment(c));
    fprintf(f, "resumed: %s\n", kitls_conn_is_resumed(c) ? "yes" : "no");
    switch (kitls_conn_early_data_status(c)) {
    case KITLS_EARLY_ACCEPTED: fprintf(f, "early-data: accepted\n"); break;
    case KITLS_EARLY_REJECTED: fprintf(f, "early-data: rejected\n"); break;
    default: fprintf(f, "early-data: none\n"); break;
    }
    fflush(f);
}

void ex_report_error(const char *prog, const kitls_conn *c, int err)
{
    int alert, peer;
    const char *detail;

    if (err == EX_E_IO) {
        fprintf(stderr, "%s: error: transport: %s\n", prog,
                ex_io_errno == EAGAIN || ex_io_errno == EWOULDBLOCK ? "timed out"
                                                                    : strerror(ex_io_errno));
    } else {
        fprintf(stderr, "%s: error: %s (%d)\n", prog, kitls_strerror(err), err);
        alert = kitls_error_alert(err);
        if (alert >= 0)
            fprintf(stderr, "%s: alert sent: %s (%d)\n", prog, kitls_alert_string(alert), alert);
    }
    if (c == NULL)
        return;
    peer = kitls_conn_peer_alert(c);
    if (peer >= 0)
        fprintf(stderr, "%s: alert received: %s (%d)\n", prog, kitls_alert_string(peer), peer);
    detail = kitls_conn_verify_detail(c);
    if (detail != NULL && *detail != '\0')
        fprintf(stderr, "%s: verify: %s\n", prog, detail);
}
