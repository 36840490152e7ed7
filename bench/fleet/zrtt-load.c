/*
 * bench/fleet/zrtt-load: N concurrent 0-RTT handshakes against a running
 * kitls-server --echo --early-data (issue 19: the anti-replay check's cost
 * at 1000 concurrent 0-RTT handshakes, Redis against the in-process store).
 *
 *   zrtt-load PORT [N] [SERVER_PID [REDIS_PID]]
 *
 * Phase 1: N full handshakes to 127.0.0.1:PORT (64 at a time), each keeping
 * the server's ticket (one ticket per 0-RTT attempt: a store refuses a
 * ticket's second 0-RTT).  Phase 2: N connections opened at once, each
 * offering its ticket with a small request as early data; per connection
 * the time from connect() to the whole echoed request, and whether 0-RTT
 * was accepted (if not, the request is sent again after the handshake and
 * the connection counts as rejected).  The CPU time of SERVER_PID and
 * REDIS_PID over phase 2 comes from /proc/PID/stat (utime + stime, all
 * threads, in clock ticks) and /proc/PID/task/ * /schedstat (ns, the
 * threads alive at the end).  The client is one thread on epoll with the
 * sans-I/O kitls API; its ClientHellos are made before the clock starts.
 * Prints a human summary and one "RESULT key=value ..." line.
 * Exit status 0 only if every connection got its answer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <kitls/kitls.h>

static const char req[] = "GET /zrtt HTTP/1.0\r\n\r\n";
#define REQ_LEN (sizeof(req) - 1)

struct cx {
    kitls_conn *c;
    kitls_session *sess; /* between the phases */
    int fd, done, failed, zrtt, early;
    size_t got;
    double t0, t1;
};

static struct sockaddr_in addr;
static int ep;
static uint8_t rbuf[16640];

static double clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

/* utime + stime of the whole process, in clock ticks; -1 if unreadable. */
static long long stat_ticks(int pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut, st;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* On-CPU time of the process's live threads in ns (schedstat). */
static long long sched_ns(int pid)
{
    char path[96];
    long long sum = 0, v;
    struct dirent *d;
    DIR *dir;

    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    if ((dir = opendir(path)) == NULL)
        return -1;
    while ((d = readdir(dir)) != NULL) {
        FILE *f;
        if (d->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", pid, d->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fscanf(f, "%lld", &v) == 1)
            sum += v;
        fclose(f);
    }
    closedir(dir);
    return sum;
}

static void finish(struct cx *x, int failed)
{
    if (x->done)
        return;
    x->done = 1;
    x->failed = failed;
    x->t1 = now_us();
    if (!failed && kitls_conn_close(x->c) == 0) { /* best effort close_notify */
        const uint8_t *p;
        size_t len = kitls_conn_out_peek(x->c, &p);
        if (len > 0 && send(x->fd, p, len, MSG_NOSIGNAL) > 0)
            kitls_conn_out_consume(x->c, len);
    }
    close(x->fd);
    x->fd = -1;
}

/* Send what the connection has queued; -1 on a socket error. */
static int flush(struct cx *x)
{
    const uint8_t *p;
    size_t len;

    while ((len = kitls_conn_out_peek(x->c, &p)) > 0) {
        ssize_t w = send(x->fd, p, len, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == ENOTCONN ? 0 : -1;
        kitls_conn_out_consume(x->c, (size_t)w);
    }
    return 0;
}

/* Advance the TLS state after new input; finishes x when the echo is in. */
static void step(struct cx *x)
{
    int rc;

    if (!kitls_conn_is_established(x->c)) {
        rc = kitls_conn_handshake(x->c);
        if (rc == KITLS_E_WANT_READ)
            return (void)flush(x);
        if (rc < 0) {
            fprintf(stderr, "zrtt-load: handshake: %s\n", kitls_strerror(rc));
            return finish(x, 1);
        }
        x->early = kitls_conn_early_data_status(x->c) == KITLS_EARLY_ACCEPTED;
        if (!x->early) { /* not sent as early data (phase 1) or rejected: send now */
            if (kitls_conn_write(x->c, (const uint8_t *)req, REQ_LEN) != (int)REQ_LEN)
                return finish(x, 1);
        }
    }
    while ((rc = kitls_conn_read(x->c, rbuf, sizeof(rbuf))) > 0) {
        if (x->got + (size_t)rc > REQ_LEN || memcmp(rbuf, req + x->got, (size_t)rc) != 0) {
            fprintf(stderr, "zrtt-load: the echo differs from the request\n");
            return finish(x, 1);
        }
        x->got += (size_t)rc;
    }
    if (rc != KITLS_E_WANT_READ) {
        fprintf(stderr, "zrtt-load: read: %s\n", kitls_strerror(rc));
        return finish(x, 1);
    }
    if (flush(x) < 0)
        return finish(x, 1);
    if (x->got == REQ_LEN)
        finish(x, 0);
}

static void on_event(struct cx *x)
{
    ssize_t r;

    if (x->done)
        return;
    if (flush(x) < 0)
        return finish(x, 1);
    while ((r = recv(x->fd, rbuf, sizeof(rbuf), 0)) > 0) {
        if (kitls_conn_feed(x->c, rbuf, (size_t)r) < 0)
            return finish(x, 1);
    }
    if (r == 0 || (errno != EAGAIN && errno != ENOTCONN)) {
        step(x); /* what was fed may still complete it */
        if (!x->done) {
            fprintf(stderr, "zrtt-load: connection ended early\n");
            finish(x, 1);
        }
        return;
    }
    step(x);
}

/* New connection with its ClientHello (and early data) already made. */
static int prepare(struct cx *x, kitls_config *cfg, kitls_session *s)
{
    int rc;

    memset(x, 0, sizeof(*x));
    x->fd = -1;
    x->zrtt = s != NULL;
    if ((x->c = kitls_conn_new(cfg)) == NULL)
        return -1;
    if (s != NULL &&
        (kitls_conn_set_session(x->c, s) != 0 ||
         kitls_conn_write_early_data(x->c, (const uint8_t *)req, REQ_LEN) != (int)REQ_LEN))
        return -1;
    rc = kitls_conn_handshake(x->c);
    return rc == KITLS_E_WANT_READ ? 0 : -1;
}

static int start(struct cx *x)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = x};
    int one = 1;

    x->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (x->fd < 0)
        return -1;
    (void)setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    x->t0 = now_us();
    if (connect(x->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS)
        return -1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &ev) != 0)
        return -1;
    return flush(x);
}

/* Drive the connections v[0..n) until all are done or the deadline. */
static void loop(struct cx *v, int n, int *next, int lim, kitls_config *cfg, double deadline)
{
    struct epoll_event evs[256];
    int live = 0;

    for (int i = 0; i < n; i++)
        live += v[i].fd >= 0 && !v[i].done;
    while (live > 0 || (next != NULL && *next < n)) {
        while (next != NULL && *next < n && live < lim) { /* phase 1: keep lim running */
            struct cx *x = &v[(*next)++];
            if (prepare(x, cfg, NULL) != 0 || start(x) != 0)
                finish(x, 1);
            else
                live++;
        }
        int k = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            struct cx *x = evs[i].data.ptr;
            on_event(x);
        }
        live = 0;
        for (int i = 0; i < n; i++)
            live += v[i].fd >= 0 && !v[i].done;
        if (now_us() > deadline) {
            for (int i = 0; i < n; i++)
                if (v[i].fd >= 0 && !v[i].done) {
                    fprintf(stderr, "zrtt-load: connection %d timed out\n", i);
                    finish(&v[i], 1);
                }
            break;
        }
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 1000, next = 0, acc = 0, rej = 0, fail = 0, rc = 1;
    int spid = argc > 3 ? atoi(argv[3]) : 0, rpid = argc > 4 ? atoi(argv[4]) : 0;
    long long st0, st1, sn0, sn1, rt0, rt1, rn0, rn1;
    long tck = sysconf(_SC_CLK_TCK);
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    struct cx *v;
    double *lat, wall, ccpu;

    if (argc < 2 || n < 1 || n > 20000 || cfg == NULL) {
        fprintf(stderr, "usage: zrtt-load PORT [N] [SERVER_PID [REDIS_PID]]\n");
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v = calloc((size_t)n, sizeof(*v));
    lat = calloc((size_t)n, sizeof(*lat));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (v == NULL || lat == NULL || ep < 0 ||
        kitls_config_set_verify(cfg, KITLS_VERIFY_NONE) != 0 ||
        kitls_config_set_early_data(cfg, UINT32_MAX) != 0)
        goto out;
    for (int i = 0; i < n; i++)
        v[i].fd = -1; /* not started */

    /* Phase 1: the tickets. */
    loop(v, n, &next, 64, cfg, now_us() + 120e6);
    for (int i = 0; i < n; i++) {
        kitls_session *s = v[i].failed ? NULL : kitls_conn_get_session(v[i].c);
        kitls_conn_free(v[i].c);
        v[i].c = NULL;
        if (s == NULL || kitls_session_max_early_data(s) == 0) {
            fprintf(stderr, "zrtt-load: connection %d: no ticket allowing 0-RTT\n", i);
            kitls_session_free(s);
            for (int j = 0; j < i; j++)
                kitls_session_free(v[j].sess);
            goto out;
        }
        v[i].sess = s;
    }
    printf("phase 1: %d tickets\n", n);

    /* Phase 2: all at once, each with its own ticket. */
    for (int i = 0; i < n; i++) {
        kitls_session *s = v[i].sess;
        int bad = prepare(&v[i], cfg, s) != 0;
        kitls_session_free(s); /* the connection holds its own reference */
        if (bad) {
            fprintf(stderr, "zrtt-load: cannot prepare 0-RTT connection %d\n", i);
            for (int j = i + 1; j < n; j++)
                kitls_session_free(v[j].sess);
            n = i + 1;
            goto out;
        }
    }
    st0 = spid ? stat_ticks(spid) : -1, sn0 = spid ? sched_ns(spid) : -1;
    rt0 = rpid ? stat_ticks(rpid) : -1, rn0 = rpid ? sched_ns(rpid) : -1;
    wall = now_us();
    ccpu = clock_us(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < n; i++)
        if (start(&v[i]) != 0)
            finish(&v[i], 1);
    loop(v, n, NULL, n, cfg, now_us() + 120e6);
    wall = now_us() - wall;
    ccpu = clock_us(CLOCK_PROCESS_CPUTIME_ID) - ccpu;
    usleep(200000); /* let the server finish the closes */
    st1 = spid ? stat_ticks(spid) : -1, sn1 = spid ? sched_ns(spid) : -1;
    rt1 = rpid ? stat_ticks(rpid) : -1, rn1 = rpid ? sched_ns(rpid) : -1;

    int m = 0;
    for (int i = 0; i < n; i++) {
        if (v[i].failed) {
            fail++;
            continue;
        }
        acc += v[i].early;
        rej += !v[i].early;
        lat[m++] = v[i].t1 - v[i].t0;
    }
    qsort(lat, (size_t)m, sizeof(*lat), cmp);
    double p50 = m ? lat[m / 2] : 0, p99 = m ? lat[(m * 99) / 100] : 0, mx = m ? lat[m - 1] : 0;
    double scpu = st1 >= 0 && st0 >= 0 ? (double)(st1 - st0) * 1e6 / (double)tck : -1;
    double rcpu = rt1 >= 0 && rt0 >= 0 ? (double)(rt1 - rt0) * 1e6 / (double)tck : -1;
    double sns = sn1 >= 0 && sn0 >= 0 ? (double)(sn1 - sn0) / 1e3 : -1;
    double rns = rn1 >= 0 && rn0 >= 0 ? (double)(rn1 - rn0) / 1e3 : -1;
    printf("phase 2: %d connections at once: 0-RTT accepted %d, rejected %d, failed %d; "
           "%.0f ms\n",
           n, acc, rej, fail, wall / 1e3);
    printf("connect to answer: P50 %.0f us  P99 %.0f us  max %.0f us\n", p50, p99, mx);
    printf("server CPU %.0f ms (stat) / %.1f ms (schedstat): %.1f / %.1f us per handshake\n",
           scpu / 1e3, sns / 1e3, scpu / n, sns / n);
    printf("redis CPU %.0f ms (stat) / %.1f ms (schedstat); this client %.1f ms\n", rcpu / 1e3,
           rns / 1e3, ccpu / 1e3);
    printf("RESULT n=%d accepted=%d rejected=%d failed=%d p50_us=%.0f p99_us=%.0f max_us=%.0f "
           "wall_ms=%.0f srv_cpu_us=%.0f srv_sched_us=%.0f redis_cpu_us=%.0f "
           "redis_sched_us=%.0f client_cpu_us=%.0f\n",
           n, acc, rej, fail, p50, p99, mx, wall / 1e3, scpu, sns, rcpu, rns, ccpu);
    rc = fail == 0 ? 0 : 1;
out:
    for (int i = 0; v != NULL && i < n; i++) {
        if (v[i].fd >= 0)
            close(v[i].fd);
        kitls_conn_free(v[i].c);
    }
    if (ep >= 0)
        close(ep);
    free(v);
    free(lat);
    kitls_config_free(cfg);
    return rc;
}
