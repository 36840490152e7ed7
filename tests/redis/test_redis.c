/*
 * libkitls-redis: the ring format (every malformation refused as a whole),
 * the key order at a time, the anti-replay store against a real
 * redis-server (KITLS_TEST_REDIS_URL, started by test_redis.sh), and the
 * fail-safe paths: nothing listening, a server that never answers (the
 * check ends by its timeout), a server answering garbage.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "kitls/redis.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int lines_logged;
static void count_log(void *ctx, const char *line)
{
    (void)ctx;
    lines_logged++;
    fprintf(stderr, "log: %s\n", line);
}

static void test_ring_format(void)
{
    struct kitls_redis_ring a, b;
    struct kitls_ticket_key keys[3];
    char text[KITLS_REDIS_RING_TEXT_MAX], bad[KITLS_REDIS_RING_TEXT_MAX + 8];
    int n;

    memset(&a, 0, sizeof(a));
    a.generation = 7;
    for (int i = 0; i < 3; i++) {
        memset(a.key[i].id, 0x10 * (i + 1), 4);
        memset(a.key[i].key, 0xa0 + i, 32);
        a.activate[i] = 1000 + 100 * i;
    }
    n = kitls_redis_ring_format(&a, text, sizeof(text));
    CHECK(n > 0);
    CHECK(kitls_redis_ring_parse(text, (size_t)n, &b) == 0);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);

    /* Each malformation refuses the whole ring and wipes the output. */
    static const struct {
        const char *from, *to;
    } muts[] = {
        {"kitls-ticket-ring 1 ", "kitls-ticket-ring 2 "}, /* version */
        {"previous ", "current "},                        /* order */
        {"next 30303030", "next 10101010"},               /* duplicate id */
        {"1100\n", "900\n"},                              /* times not increasing */
        {"a0a0", "A0A0"},                                 /* upper-case hex */
        {"a1a1", "a1g1"},                                 /* not hex */
        {" 1000\n", " 01000\n"},                          /* leading zero */
        {" 1000\n", " 0\n"},                              /* time not positive */
        {"next 30303030", "next 303030"},                 /* short id */
    };
    for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
        char *p = strstr(text, muts[i].from);
        CHECK(p != NULL);
        if (p == NULL)
            continue;
        snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(p - text), text, muts[i].to,
                 p + strlen(muts[i].from));
        memset(&b, 0x55, sizeof(b));
        if (kitls_redis_ring_parse(bad, strlen(bad), &b) != KITLS_E_DECODE) {
            fprintf(stderr, "FAIL: mutation %zu accepted\n", i);
            failures++;
        }
        CHECK(b.generation == 0 && b.key[0].key[0] == 0);
    }
    CHECK(kitls_redis_ring_parse(text, (size_t)n - 1, &b) == KITLS_E_DECODE); /* no \n */
    snprintf(bad, sizeof(bad), "%sx", text);
    CHECK(kitls_redis_ring_parse(bad, strlen(bad), &b) == KITLS_E_DECODE); /* trailing */
    CHECK(kitls_redis_ring_parse("", 0, &b) == KITLS_E_DECODE);

    /* Sealing key: the latest whose time has come; all three open. */
    kitls_redis_ring_keys(&a, 1150, keys);
    CHECK(keys[0].id[0] == 0x20 && keys[1].id[0] == 0x10 && keys[2].id[0] == 0x30);
    kitls_redis_ring_keys(&a, 1200, keys);
    CHECK(keys[0].id[0] == 0x30);
    kitls_redis_ring_keys(&a, 5, keys);
    CHECK(keys[0].id[0] == 0x10);
}

static void test_store(const char *url)
{
    /* 500 ms: the machine running the tests may be busy; the 5 ms default
     * and its timeouts are test_fail_safe()'s. */
    struct kitls_redis_params p = {.url = url, .log = count_log, .timeout_ms = 500};
    struct kitls_redis_stats st;
    kitls_redis *r;
    uint8_t id[16], id2[16];
    int64_t exp = (int64_t)time(NULL) + 3600;

    memset(id, 0, sizeof(id));
    CHECK(getrandom(id, sizeof(id), 0) == sizeof(id));
    memcpy(id2, id, sizeof(id));
    id2[0] ^= 1;
    p.prefix = "test:ar:";
    /* A window of an hour: the redis-server of this test started less
     * than that ago, so it may have lost ids (RFC 8446 §8.2): the id is
     * recorded, 0-RTT refused. */
    p.window_ms = 3600 * 1000;
    CHECK(kitls_redis_new(&r, &p) == 0);
    CHECK(kitls_redis_antireplay(r, id, sizeof(id), exp) == KITLS_E_UNAVAILABLE);
    CHECK(kitls_redis_antireplay(r, id, sizeof(id), exp) == 1);
    kitls_redis_get_stats(r, &st);
    CHECK(st.quarantined == 1 && st.replays == 1 && st.fresh == 0);
    kitls_redis_free(r);
    id[2] ^= 1;

    /* 300 ms: past the quarantine after a first check and a pause. */
    p.window_ms = 300;
    CHECK(kitls_redis_new(&r, &p) == 0);
    CHECK(kitls_redis_antireplay(r, id2, sizeof(id2), exp) != 1);
    id2[3] ^= 1;
    usleep(350 * 1000);
    CHECK(kitls_redis_antireplay(r, id, sizeof(id), exp) == 0);
    CHECK(kitls_redis_antireplay(r, id, sizeof(id), exp) == 1);
    CHECK(kitls_redis_antireplay(r, id2, sizeof(id2), exp) == 0);
    usleep(400 * 1000); /* past the 300 ms window: forgotten */
    CHECK(kitls_redis_antireplay(r, id, sizeof(id), exp) == 0);
    /* A ticket expiring in 1 s caps the key's life at 1 s. */
    id[1] ^= 1;
    CHECK(kitls_redis_antireplay(r, id, sizeof(id), (int64_t)time(NULL)) == 0);
    kitls_redis_get_stats(r, &st);
    CHECK(st.checks == 6 && st.fresh >= 4 && st.replays == 1 && st.up == 1);
    kitls_redis_free(r);

    CHECK(kitls_redis_new(&r, &(struct kitls_redis_params){.url = "http://x"}) ==
          KITLS_E_INVALID_ARG);
    CHECK(kitls_redis_new(&r, &(struct kitls_redis_params){.url = "redis://h:99999"}) ==
          KITLS_E_INVALID_ARG);
}

/* A listening socket on a free loopback port; *port gets it. */
static int listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        abort();
    *port = ntohs(a.sin_port);
    return fd;
}

static void *garbage_server(void *arg)
{
    int lfd = *(int *)arg, fd;
    char buf[256];

    while ((fd = accept(lfd, NULL, NULL)) >= 0) {
        if (read(fd, buf, sizeof(buf)) > 0)
            (void)!write(fd, "%%% not redis\r\n", 15);
        close(fd);
    }
    return NULL;
}

static void test_fail_safe(void)
{
    struct kitls_redis_stats st;
    kitls_redis *r;
    uint8_t id[16] = {1, 2, 3};
    char url[64];
    int port, lfd, gfd;
    int64_t t0, worst = 0;
    pthread_t thr;

    /* Nothing listening: refused at once, one log line for the episode,
     * later checks skipped during the backoff. */
    lfd = listener(&port);
    close(lfd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    lines_logged = 0;
    CHECK(kitls_redis_new(&r, &(struct kitls_redis_params){.url = url, .log = count_log}) == 0);
    for (int i = 0; i < 20; i++)
        CHECK(kitls_redis_antireplay(r, id, sizeof(id), 0) == KITLS_E_UNAVAILABLE);
    kitls_redis_get_stats(r, &st);
    CHECK(st.errors == 20 && st.episodes == 1 && st.skipped >= 18 && st.up == 0);
    CHECK(lines_logged == 1);
    kitls_redis_free(r);

    /* Accepts (the backlog) and never answers: each check ends by its
     * 5 ms timeout. */
    lfd = listener(&port);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    CHECK(kitls_redis_new(&r, &(struct kitls_redis_params){.url = url, .log = count_log}) == 0);
    t0 = now_ms();
    CHECK(kitls_redis_antireplay(r, id, sizeof(id), 0) == KITLS_E_UNAVAILABLE);
    worst = now_ms() - t0;
    kitls_redis_get_stats(r, &st);
    CHECK(st.timeouts == 1);
    fprintf(stderr, "silent server: check ended after %lld ms\n", (long long)worst);
    CHECK(worst < 100);
    kitls_redis_free(r);
    close(lfd);

    /* Garbage: a clear error, 0-RTT refused. */
    gfd = listener(&port);
    pthread_create(&thr, NULL, garbage_server, &gfd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    lines_logged = 0;
    CHECK(kitls_redis_new(&r, &(struct kitls_redis_params){
                                  .url = url, .log = count_log, .timeout_ms = 200}) == 0);
    CHECK(kitls_redis_antireplay(r, id, sizeof(id), 0) == KITLS_E_UNAVAILABLE);
    CHECK(lines_logged == 1);
    kitls_redis_free(r);
    shutdown(gfd, SHUT_RDWR);
    pthread_join(thr, NULL);
    close(gfd);
}

static void test_ring_redis(const char *url)
{
    struct kitls_redis_params p = {.url = url, .log = count_log, .ring_key = "test:ring"};
    struct kitls_redis_ring a, b, c;
    struct kitls_redis_stats st;
    kitls_redis *r, *w;
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    redisContext *raw;
    redisReply *rep;
    int64_t t0;

    CHECK(cfg != NULL);
    CHECK(kitls_redis_new(&r, &p) == 0);
    raw = redisConnect(r != NULL ? "127.0.0.1" : "", atoi(strrchr(url, ':') + 1));
    freeReplyObject(redisCommand(raw, "DEL test:ring"));
    CHECK(kitls_redis_ring_load(r, &a) == KITLS_E_STATE);
    CHECK(kitls_redis_ring_rotate(r, 0, NULL) == KITLS_E_INVALID_ARG);
    CHECK(kitls_redis_ring_rotate(r, 3600, &a) == 0);
    CHECK(a.generation == 1);
    CHECK(kitls_redis_ring_rotate(r, 3600, &b) == 0);
    CHECK(b.generation == 2);
    CHECK(memcmp(&b.key[0], &a.key[1], sizeof(b.key[0])) == 0);
    CHECK(memcmp(&b.key[1], &a.key[2], sizeof(b.key[1])) == 0);
    CHECK(kitls_redis_ring_load(r, &c) == 0 && memcmp(&b, &c, sizeof(b)) == 0);

    /* The watcher follows a rotation (pub/sub) within 2 s. */
    CHECK(kitls_redis_new(&w, &p) == 0);
    CHECK(kitls_redis_ring_watch(w, cfg, 3600) == 0);
    kitls_redis_get_stats(w, &st);
    CHECK(st.ring_loads == 1);
    CHECK(kitls_redis_ring_rotate(r, 3600, NULL) == 0);
    t0 = now_ms();
    do {
        usleep(20 * 1000);
        kitls_redis_get_stats(w, &st);
    } while (st.ring_loads < 2 && now_ms() - t0 < 2000);
    fprintf(stderr, "rotation seen after %lld ms\n", (long long)(now_ms() - t0));
    CHECK(st.ring_loads == 2);

    /* A broken ring: refused with one log line, rotation refuses too. */
    lines_logged = 0;
    rep = redisCommand(raw, "SET test:ring %s", "kitls-ticket-ring 1 9\nbroken\n");
    freeReplyObject(rep);
    freeReplyObject(redisCommand(raw, "PUBLISH test:ring 9"));
    t0 = now_ms();
    do {
        usleep(20 * 1000);
        kitls_redis_get_stats(w, &st);
    } while (st.ring_refused < 1 && now_ms() - t0 < 2000);
    CHECK(st.ring_refused >= 1 && st.ring_loads == 2);
    CHECK(lines_logged == 1);
    CHECK(kitls_redis_ring_rotate(r, 3600, NULL) == KITLS_E_DECODE);
    kitls_redis_free(w);
    kitls_redis_free(r);
    kitls_config_free(cfg);
    freeReplyObject(redisCommand(raw, "DEL test:ring"));
    redisFree(raw);
}

int main(void)
{
    const char *url = getenv("KITLS_TEST_REDIS_URL");

    test_ring_format();
    test_fail_safe();
    if (url != NULL) {
        test_store(url);
        test_ring_redis(url);
    } else {
        fprintf(stderr, "KITLS_TEST_REDIS_URL unset: live Redis parts skipped\n");
    }
    fprintf(stderr, "%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
