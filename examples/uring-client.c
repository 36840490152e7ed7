/*
 * uring-client: TLS clients on io_uring (kitls_uring_connect), many at
 * once, each checking what it gets back.
 *
 *   uring-client [-a addr] -p port [--ca file | --insecure] [--sni name]
 *                [-n total] [-c concurrent] [--timeout s] [-q]
 *                ( --echo BYTES | --get PATH [--requests R] [--expect FILE]
 *                  | --message TEXT )
 *
 * --echo: send BYTES of a per-connection pseudo-random stream and verify
 *         that the same bytes come back (an echo server), then close.
 * --get:  R keep-alive HTTP/1.1 GETs per connection; each response must be
 *         200 with a Content-Length body equal to FILE (when given).
 * --message: send TEXT, print what comes back, close on the peer's EOF.
 * --sni: the name to send and verify the certificate against; by default
 *        the address, checked against the certificate's IP SAN.
 *
 * Prints "ok N failed M bytes B seconds S handshakes/s H" and exits 0 when
 * every connection succeeded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <kitls/kitls.h>
#include <kitls/uring.h>

enum mode { M_ECHO, M_GET, M_MESSAGE };

struct job {
    kitls_uring_conn *c;
    unsigned id;
    uint64_t sent, recvd; /* echo: stream offsets */
    unsigned requests;    /* get: responses completed */
    char hdr[2048];       /* get: response header being read */
    size_t hdr_len;
    long long body_left, body_off;
    int in_body, failed, done;
};

static enum mode mode = M_ECHO;
static uint64_t echo_bytes = 65536;
static const char *get_path = "/";
static unsigned get_requests = 1;
static uint8_t *expect;
static long long expect_len = -1;
static const char *message;
static int quiet;
static unsigned total = 1, concurrent = 1, started, finished, ok, failed;
static unsigned long long bytes;
static kitls_uring *drv;
static kitls_config *cfg;
static struct sockaddr_in addr;
static const char *sni, *host = "127.0.0.1";

/* Byte `off` of connection `id`'s stream (cheap, reproducible). */
static uint8_t stream_byte(unsigned id, uint64_t off)
{
    uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)id << 32 | 0x5bd1e995u);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (uint8_t)(x >> ((off & 7) * 8));
}

static void start_one(void);

static void job_fail(struct job *j, const char *why)
{
    if (!j->failed && !quiet)
        fprintf(stderr, "uring-client: connection %u: %s\n", j->id, why);
    j->failed = 1;
    kitls_uring_abort(j->c);
}

static void echo_pump(struct job *j)
{
    uint8_t buf[16384];
    while (j->sent < echo_bytes) {
        size_t n =
            echo_bytes - j->sent < sizeof(buf) ? (size_t)(echo_bytes - j->sent) : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = stream_byte(j->id, j->sent + i);
        int r = kitls_uring_send(j->c, buf, n);
        if (r == -EAGAIN)
            return; /* EV_SENT resumes */
        if (r < 0)
            return job_fail(j, kitls_strerror(r));
        j->sent += n;
    }
}

static void get_next(struct job *j)
{
    char req[1200];
    int last = j->requests + 1 == get_requests;
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", get_path,
                     last ? "Connection: close\r\n" : "");
    int r = kitls_uring_send(j->c, req, (size_t)n);
    if (r < 0)
        job_fail(j, kitls_strerror(r));
}

static void get_data(struct job *j, const uint8_t *p, size_t len)
{
    while (len && !j->failed) {
        if (!j->in_body) {
            size_t take =
                len < sizeof(j->hdr) - 1 - j->hdr_len ? len : sizeof(j->hdr) - 1 - j->hdr_len;
            memcpy(j->hdr + j->hdr_len, p, take);
            j->hdr_len += take;
            j->hdr[j->hdr_len] = '\0';
            char *end = strstr(j->hdr, "\r\n\r\n");
            if (!end) {
                if (j->hdr_len == sizeof(j->hdr) - 1)
                    return job_fail(j, "response header too long");
                return;
            }
            size_t hlen = (size_t)(end - j->hdr) + 4;
            size_t used = take - (j->hdr_len - hlen);
            p += used;
            len -= used;
            if (strncmp(j->hdr, "HTTP/1.1 200 ", 13))
                return job_fail(j, "status is not 200");
            char *cl = strcasestr(j->hdr, "\r\nContent-Length:");
            if (!cl)
                return job_fail(j, "no Content-Length");
            j->body_left = atoll(cl + 17);
            if (expect_len >= 0 && j->body_left != expect_len)
                return job_fail(j, "Content-Length differs from the file");
            j->body_off = 0;
            j->in_body = 1;
            j->hdr_len = 0;
        }
        size_t n = (long long)len < j->body_left ? len : (size_t)j->body_left;
        if (expect && memcmp(p, expect + j->body_off, n))
            return job_fail(j, "body differs from the file");
        j->body_off += (long long)n;
        j->body_left -= (long long)n;
        bytes += n;
        p += n;
        len -= n;
        if (!j->body_left) {
            j->in_body = 0;
            if (++j->requests == get_requests) {
                j->done = 1;
                (void)kitls_uring_close(j->c);
                return;
            }
            get_next(j);
        }
    }
}

static void on_event(void *ctx, const struct kitls_uring_event *ev)
{
    (void)ctx;
    struct job *j = ev->user;
    switch (ev->type) {
    case KITLS_URING_EV_HANDSHAKE:
        if (mode == M_ECHO)
            echo_pump(j);
        else if (mode == M_GET)
            get_next(j);
        else if (kitls_uring_send(j->c, message, strlen(message)) < 0)
            job_fail(j, "send");
        break;
    case KITLS_URING_EV_DATA:
        if (mode == M_ECHO) {
            for (size_t i = 0; i < ev->len; i++)
                if (ev->data[i] != stream_byte(j->id, j->recvd + i))
                    return job_fail(j, "echoed data differs");
            j->recvd += ev->len;
            bytes += ev->len;
            if (j->recvd > echo_bytes)
                return job_fail(j, "too much data");
            if (j->recvd == echo_bytes) {
                j->done = 1;
                (void)kitls_uring_close(j->c);
            }
        } else if (mode == M_GET) {
            get_data(j, ev->data, ev->len);
        } else {
            fwrite(ev->data, 1, ev->len, stdout);
            bytes += ev->len;
        }
        break;
    case KITLS_URING_EV_SENT:
        if (mode == M_ECHO)
            echo_pump(j);
        break;
    case KITLS_URING_EV_EOF:
        if (mode == M_MESSAGE)
            j->done = 1;
        (void)kitls_uring_close(ev->conn);
        break;
    case KITLS_URING_EV_CLOSED:
        /* A server may end with close_notify or just close TCP after our
         * close_notify; both are fine once everything was verified. */
        if (j->done && !j->failed)
            ok++;
        else {
            if (!j->failed && !quiet)
                fprintf(stderr, "uring-client: connection %u closed early: %s\n", j->id,
                        kitls_strerror(ev->reason));
            failed++;
        }
        finished++;
        free(j);
        if (started < total)
            start_one();
        break;
    }
}

static void start_one(void)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        failed++;
        finished++;
        return;
    }
    j->id = started++;
    int r = kitls_uring_connect(drv, (struct sockaddr *)&addr, sizeof(addr), cfg, sni ? sni : host,
                                j, &j->c);
    if (r < 0) {
        if (!quiet)
            fprintf(stderr, "uring-client: connect: %s\n", strerror(-r));
        free(j);
        failed++;
        finished++;
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load_expect(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    expect_len = ftell(f);
    fseek(f, 0, SEEK_SET);
    expect = malloc(expect_len ? (size_t)expect_len : 1);
    if (!expect || fread(expect, 1, (size_t)expect_len, f) != (size_t)expect_len) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    const char *ca = NULL;
    int port = 4433, insecure = 0, timeout = 30;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-a") && v)
            host = argv[++i];
        else if (!strcmp(a, "-p") && v)
            port = atoi(argv[++i]);
        else if (!strcmp(a, "--ca") && v)
            ca = argv[++i];
        else if (!strcmp(a, "--insecure"))
            insecure = 1;
        else if (!strcmp(a, "--sni") && v)
            sni = argv[++i];
        else if (!strcmp(a, "-n") && v)
            total = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "-c") && v)
            concurrent = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--timeout") && v)
            timeout = atoi(argv[++i]);
        else if (!strcmp(a, "--echo") && v) {
            mode = M_ECHO;
            echo_bytes = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--get") && v) {
            mode = M_GET;
            get_path = argv[++i];
        } else if (!strcmp(a, "--requests") && v)
            get_requests = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--expect") && v) {
            if (load_expect(argv[++i]) < 0) {
                perror("uring-client: --expect");
                return 2;
            }
        } else if (!strcmp(a, "--message") && v) {
            mode = M_MESSAGE;
            message = argv[++i];
        } else if (!strcmp(a, "-q"))
            quiet = 1;
        else {
            fprintf(stderr,
                    "usage: %s [-a addr] -p port [--ca file|--insecure] [--sni name] "
                    "[-n total] [-c concurrent] [--timeout s] [-q] (--echo BYTES | "
                    "--get PATH [--requests R] [--expect FILE] | --message TEXT)\n",
                    argv[0]);
            return 2;
        }
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "uring-client: bad address %s\n", host);
        return 2;
    }
    cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    int r = cfg ? 0 : KITLS_E_NOMEM;
    if (!r && insecure)
        r = kitls_config_set_verify(cfg, KITLS_VERIFY_NONE);
    if (!r && ca)
        r = kitls_config_load_ca_file(cfg, ca);
    if (r < 0) {
        fprintf(stderr, "uring-client: config: %s\n", kitls_strerror(r));
        return 1;
    }
    struct kitls_uring_params p = {
        .max_conns = concurrent + 16,
        .max_handshakes = concurrent + 16,
        .entries = concurrent * 2 < 4096 ? (concurrent * 2 < 64 ? 64 : concurrent * 2) : 4096,
        .flags = KITLS_URING_F_NODELAY,
        .handshake_timeout_ms = (unsigned)timeout * 1000,
    };
    if ((r = kitls_uring_new(&drv, NULL, &p, on_event, NULL)) < 0) {
        fprintf(stderr, "uring-client: %s\n", strerror(-r));
        return 1;
    }
    double t0 = now();
    while (started < total && started < concurrent)
        start_one();
    while (finished < total) {
        r = kitls_uring_run(drv, 200);
        if (r < 0 && r != -EINTR)
            break;
        if (now() - t0 > timeout) {
            fprintf(stderr, "uring-client: timeout with %u connections unfinished\n",
                    total - finished);
            break;
        }
    }
    double el = now() - t0;
    kitls_uring_free(drv); /* aborts and frees whatever is left */
    failed = total - ok;
    printf("ok %u failed %u bytes %llu seconds %.3f handshakes/s %.0f\n", ok, failed, bytes, el,
           el > 0 ? ok / el : 0.0);
    kitls_config_free(cfg);
    free(expect);
    return ok == total ? 0 : 1;
}
