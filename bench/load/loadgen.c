/*
 * loadgen: a TLS 1.3 HTTP/1.1 load generator on kitls + io_uring, for the
 * io_uring file server and its epoll + libssl baseline (bench/load/run.sh).
 *
 *   loadgen -p port [-a addr] [--pid server_pid] [-c concurrent]
 *           [--duration s] [--max-conns N] [--requests R] [--path P]
 *           [--hold-only | --no-hold] [--hold-wait s]
 *
 * Phase 1 (hold): open `concurrent` connections; each handshakes, GETs once
 * and stays open.  With all of them open the server's resident memory is
 * read from /proc/<pid>/status: (RSS held - RSS before) / concurrent is the
 * memory per connection.  --hold-wait s keeps them open s seconds longer
 * (to look at the server meanwhile: heaptrack, /proc/<pid>/smaps).  Then
 * all are closed (close_notify).
 * Phase 2 (churn): for `duration` seconds, or until `max-conns`
 * connections were made, keep `concurrent` connections in flight; each
 * handshakes, sends R keep-alive GETs (the last with Connection: close),
 * checks every response (status 200, Content-Length, body length) and
 * closes.  Reports handshakes/s, requests/s, bytes/s and errors.
 *
 * --path may hold one %u (or %03u): request k of the run then asks for the path with
 * k mod --path-count in it (bench/nginx: /s/f%03u.html over 100 files).
 * --check-root DIR compares every body byte with the file DIR/<path>
 * (loaded once; at most 64 MiB each) and counts a mismatch as an error.
 * --pid may be given up to 8 times (nginx: master and worker): the server
 * CPU is the sum of their utime + stime (threads included).  --suite HEX
 * offers that one TLS 1.3 cipher suite only (0x1301: AES-128-GCM).
 *
 * The client skips certificate verification (the same for every server)
 * so that its own cost per handshake stays low.  Output: "key value" lines.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kitls/kitls.h>
#include <kitls/uring.h>

struct job {
    kitls_uring_conn *c;
    unsigned requests;
    char hdr[1024];
    size_t hdr_len;
    long long body_left;
    const unsigned char *exp; /* --check-root: the expected body, or NULL */
    long long exp_len, exp_off;
    unsigned path_idx;
    int in_body, done, failed, hold;
};

static struct sockaddr_in addr;
static kitls_config *cfg;
static kitls_uring *drv;
static const char *path = "/index.html";
static unsigned requests = 1, concurrent = 1000, max_conns = 1000000;
static unsigned active, started, held;
static int phase_churn, stop_new, draining;
static unsigned long long n_hs, n_req, n_bytes, n_err, n_ok, n_checked, n_mismatch;
static unsigned path_count = 1, path_next;
static const char *check_root;
static unsigned char **exp_body; /* per path index */
static long long *exp_size;
static int pids[8], n_pids;
static uint16_t suite;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(int pid)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%d/status", pid);
    FILE *f = fopen(p, "r");
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

/* utime + stime of a process, seconds (from /proc/<pid>/stat). */
/* This process's CPU time (user + system), seconds. */
static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double cpu_s(int pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof(p), "/proc/%d/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *q = strrchr(buf, ')'); /* the command may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!q || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double servers_cpu_s(void)
{
    double t = 0;
    for (int i = 0; i < n_pids; i++)
        t += cpu_s(pids[i]);
    return t;
}

static void path_of(unsigned idx, char *buf, size_t n)
{
    if (strchr(path, '%'))
        snprintf(buf, n, path, idx); /* the format is the user's --path */
    else
        snprintf(buf, n, "%s", path);
}

/* --check-root: every path's file in memory, before any connection. */
static int load_expected(void)
{
    exp_body = calloc(path_count, sizeof(*exp_body));
    exp_size = calloc(path_count, sizeof(*exp_size));
    if (!exp_body || !exp_size)
        return -1;
    for (unsigned i = 0; i < path_count; i++) {
        char rel[512], full[1024];
        path_of(i, rel, sizeof(rel));
        snprintf(full, sizeof(full), "%s%s", check_root, rel);
        int fd = open(full, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > (64 << 20)) {
            fprintf(stderr, "loadgen: --check-root: cannot load %s (or over 64 MiB)\n", full);
            return -1;
        }
        exp_size[i] = st.st_size;
        exp_body[i] = malloc((size_t)st.st_size + 1);
        long long got = 0;
        while (exp_body[i] && got < st.st_size) {
            ssize_t r = read(fd, exp_body[i] + got, (size_t)(st.st_size - got));
            if (r <= 0)
                break;
            got += r;
        }
        close(fd);
        if (!exp_body[i] || got != st.st_size)
            return -1;
    }
    return 0;
}

static void job_fail(struct job *j)
{
    if (!j->failed)
        n_err++;
    j->failed = 1;
    kitls_uring_abort(j->c);
}

static void send_get(struct job *j)
{
    char req[1024], target[512];
    int last = phase_churn && j->requests + 1 >= requests;
    j->path_idx = path_next++ % path_count;
    path_of(j->path_idx, target, sizeof(target));
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", target,
                     last ? "Connection: close\r\n" : "");
    if (kitls_uring_send(j->c, req, (size_t)n) < 0)
        job_fail(j);
}

static void on_response(struct job *j)
{
    n_req++;
    j->requests++;
    if (!phase_churn) {
        j->hold = 1; /* phase 1: stay open */
        held++;
        return;
    }
    if (j->requests >= requests) {
        j->done = 1;
        (void)kitls_uring_close(j->c);
    } else {
        send_get(j);
    }
}

static void on_data(struct job *j, const uint8_t *p, size_t len)
{
    while (len && !j->failed) {
        if (!j->in_body) {
            size_t room = sizeof(j->hdr) - 1 - j->hdr_len;
            size_t take = len < room ? len : room;
            memcpy(j->hdr + j->hdr_len, p, take);
            j->hdr_len += take;
            j->hdr[j->hdr_len] = '\0';
            char *end = strstr(j->hdr, "\r\n\r\n");
            if (!end) {
                if (!room)
                    job_fail(j);
                return;
            }
            size_t used = take - (j->hdr_len - ((size_t)(end - j->hdr) + 4));
            p += used;
            len -= used;
            char *cl = strcasestr(j->hdr, "\r\nContent-Length:");
            if (strncmp(j->hdr, "HTTP/1.1 200 ", 13) || !cl)
                return job_fail(j);
            j->body_left = atoll(cl + 17);
            if (check_root) {
                j->exp = exp_body[j->path_idx];
                j->exp_len = exp_size[j->path_idx];
                j->exp_off = 0;
                if (j->body_left != j->exp_len) {
                    n_mismatch++;
                    return job_fail(j);
                }
            }
            j->in_body = 1;
            j->hdr_len = 0;
        }
        size_t n = (long long)len < j->body_left ? len : (size_t)j->body_left;
        if (j->exp) {
            if (memcmp(j->exp + j->exp_off, p, n)) {
                n_mismatch++;
                return job_fail(j);
            }
            j->exp_off += (long long)n;
        }
        j->body_left -= (long long)n;
        n_bytes += n;
        p += n;
        len -= n;
        if (!j->body_left) {
            j->in_body = 0;
            if (j->exp)
                n_checked++;
            on_response(j);
        }
    }
}

static void start_one(void);

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    (void)ctx;
    struct job *j = ev->user;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE:
        n_hs++;
        send_get(j);
        break;
    case KITLS_URING_EV_DATA: on_data(j, ev->data, ev->len); break;
    case KITLS_URING_EV_EOF: (void)kitls_uring_close(j->c); break;
    case KITLS_URING_EV_SENT: break;
    case KITLS_URING_EV_CLOSED:
        if (j->done || (j->hold && stop_new))
            n_ok++;
        else if (!j->failed && !draining)
            n_err++;
        if (j->hold)
            held--;
        active--;
        free(j);
        if (phase_churn && !stop_new)
            start_one();
        break;
    }
}

static void start_one(void)
{
    if (started >= max_conns) {
        stop_new = 1;
        return;
    }
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        n_err++;
        return;
    }
    int r = kitls_uring_connect(drv, (struct sockaddr *)&addr, sizeof(addr), cfg, "localhost", j,
                                &j->c);
    if (r < 0) {
        free(j);
        n_err++;
        return;
    }
    started++;
    active++;
}

static void run_until(double deadline, int (*done)(void))
{
    while (!done() && now() < deadline) {
        int r = kitls_uring_run(drv, 100);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "loadgen: %s\n", strerror(-r));
            exit(1);
        }
    }
}

static int never(void)
{
    return 0;
}

static int all_held(void)
{
    return held + n_err >= concurrent;
}

static int none_active(void)
{
    return active == 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0, pid = 0, hold = 1, churn = 1;
    double duration = 5, hold_wait = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-a") && v)
            host = argv[++i];
        else if (!strcmp(a, "-p") && v)
            port = atoi(argv[++i]);
        else if (!strcmp(a, "--pid") && v && n_pids < 8)
            pid = pids[n_pids++] = atoi(argv[++i]);
        else if (!strcmp(a, "--path-count") && v)
            path_count = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--check-root") && v)
            check_root = argv[++i];
        else if (!strcmp(a, "--suite") && v)
            suite = (uint16_t)strtoul(argv[++i], NULL, 16);
        else if (!strcmp(a, "-c") && v)
            concurrent = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--duration") && v)
            duration = atof(argv[++i]);
        else if (!strcmp(a, "--max-conns") && v)
            max_conns = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--requests") && v)
            requests = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--path") && v)
            path = argv[++i];
        else if (!strcmp(a, "--hold-only"))
            churn = 0;
        else if (!strcmp(a, "--no-hold"))
            hold = 0;
        else if (!strcmp(a, "--hold-wait") && v)
            hold_wait = atof(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s -p port [-a addr] [--pid server_pid] [-c concurrent] "
                    "[--duration s] [--max-conns N] [--requests R] [--path P] "
                    "[--hold-only|--no-hold] [--hold-wait s] [--path-count N] "
                    "[--check-root DIR] [--suite HEX]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!port || !concurrent || !requests || !path_count) {
        fprintf(stderr, "loadgen: -p is required\n");
        return 2;
    }
    struct rlimit rl = {.rlim_cur = concurrent * 2 + 256, .rlim_max = concurrent * 2 + 256};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        perror("loadgen: setrlimit(RLIMIT_NOFILE)"); /* may still be enough */
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return 2;
    cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    if (!cfg || kitls_config_set_verify(cfg, KITLS_VERIFY_NONE) < 0)
        return 1;
    if (suite && kitls_config_set_suites(cfg, &suite, 1) < 0)
        return 1;
    if (check_root && load_expected() < 0)
        return 1;
    struct kitls_uring_params p = {
        .max_conns = concurrent + 64,
        .max_handshakes = concurrent + 64,
        .entries = concurrent * 2 < 8192 ? concurrent * 2 : 8192,
        .handshake_timeout_ms = 30000,
        .flags = KITLS_URING_F_NODELAY,
    };
    int r = kitls_uring_new(&drv, NULL, &p, on_event, NULL);
    if (r < 0) {
        fprintf(stderr, "loadgen: %s\n", strerror(-r));
        return 1;
    }
    printf("concurrent %u\n", concurrent);

    if (hold) {
        long rss0 = pid ? rss_kb(pid) : -1;
        double t0 = now();
        for (unsigned i = 0; i < concurrent; i++)
            start_one();
        run_until(t0 + 60, all_held);
        double t1 = now();
        usleep(200000);
        long rss1 = pid ? rss_kb(pid) : -1;
        printf("hold_connections %u\n", held);
        printf("hold_seconds %.3f\n", t1 - t0);
        printf("hold_handshakes_per_s %.0f\n", held / (t1 - t0));
        if (pid && held)
            printf("server_rss_kb_before %ld\nserver_rss_kb_held %ld\n"
                   "server_rss_bytes_per_conn %.0f\n",
                   rss0, rss1, (double)(rss1 - rss0) * 1024.0 / held);
        fflush(stdout);
        if (hold_wait > 0)
            run_until(now() + hold_wait, never);
        stop_new = 1;
        kitls_uring_shutdown(drv); /* reset them all: the phase is over */
        run_until(now() + 10, none_active);
        kitls_uring_free(drv);
        if ((r = kitls_uring_new(&drv, NULL, &p, on_event, NULL)) < 0)
            return 1;
        printf("hold_errors %llu\n", n_err);
        unsigned long long hold_err = n_err;
        n_hs = n_req = n_bytes = n_err = n_ok = 0;
        started = 0;
        stop_new = 0;
        usleep(300000);
        if (hold_err)
            n_err = hold_err; /* counted in the total */
    }
    if (churn) {
        phase_churn = 1;
        double c0 = pid ? servers_cpu_s() : 0, g0 = self_cpu_s();
        double t0 = now();
        for (unsigned i = 0; i < concurrent && !stop_new; i++)
            start_one();
        run_until(t0 + duration, none_active);
        double el = now() - t0;
        double cpu = pid ? servers_cpu_s() - c0 : 0, gcpu = self_cpu_s() - g0;
        stop_new = 1;
        unsigned long long hs = n_hs, rq = n_req, by = n_bytes;
        /* let in-flight connections finish (bounded), then count */
        run_until(now() + 5, none_active);
        printf("churn_seconds %.3f\n", el);
        printf("handshakes %llu\nrequests %llu\nbytes %llu\n", hs, rq, by);
        printf("handshakes_per_s %.0f\nrequests_per_s %.0f\nbytes_per_s %.0f\n", hs / el, rq / el,
               by / el);
        if (pid && cpu > 0) /* steadier than wall time on a shared machine */
            printf("server_cpu_s %.2f\nhandshakes_per_server_cpu_s %.0f\n"
                   "requests_per_server_cpu_s %.0f\n",
                   cpu, hs / cpu, rq / cpu);
        /* Who was the bottleneck: a server below 100% of its CPU was
         * waiting for the generator (or for the machine's other jobs). */
        printf("server_cpu_util %.2f\nloadgen_cpu_s %.2f\nloadgen_cpu_util %.2f\n",
               pid ? cpu / el : 0, gcpu, gcpu / el);
    }
    /* connections still busy when the time is up are cut, not failed */
    printf("unfinished %u\n", active);
    draining = 1;
    kitls_uring_free(drv);
    if (check_root)
        printf("bodies_checked %llu\nbody_mismatches %llu\n", n_checked, n_mismatch);
    printf("errors %llu\n", n_err);
    kitls_config_free(cfg);
    return n_err ? 1 : 0;
}
