/*
 * libkitls-redis: the ticket-key ring's text format (parse, validate,
 * format), the key list it gives at a time, and its atomic rotation in
 * Redis (WATCH/MULTI/EXEC, then PUBLISH to every server).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "redis_int.h"

#define MAGIC "kitls-ticket-ring"
#define MAX_PERIOD (30u * 86400u)

static const char *const names[3] = {"previous", "current", "next"};

static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++) {
        int v;
        char ch = s[i];

        if (ch >= '0' && ch <= '9')
            v = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            v = ch - 'a' + 10;
        else
            return -1; /* lower-case only: one spelling per ring */
        if (i & 1)
            out[i / 2] |= (uint8_t)v;
        else
            out[i / 2] = (uint8_t)(v << 4);
    }
    return 0;
}

/* A decimal number of at most 19 digits, no sign, no leading zeros. */
static int parse_u63(const char **p, const char *end, int64_t *v)
{
    const char *s = *p;
    int64_t x = 0;
    int n = 0;

    while (s < end && *s >= '0' && *s <= '9' && n < 19) {
        if (n == 1 && x == 0)
            return -1;
        x = x * 10 + (*s++ - '0');
        n++;
    }
    if (n == 0 || (s < end && *s >= '0' && *s <= '9'))
        return -1;
    *p = s;
    *v = x;
    return 0;
}

/* Match a literal; advance *p. */
static int lit(const char **p, const char *end, const char *s)
{
    size_t n = strlen(s);

    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
        return -1;
    *p += n;
    return 0;
}

static int parse_line(const char **p, const char *end, int i, struct kitls_redis_ring *o)
{
    int64_t t;

    if (lit(p, end, names[i]) || lit(p, end, " ") || end - *p < 8 + 1 + 64 + 1 ||
        unhex(*p, o->key[i].id, 4) || (*p)[8] != ' ' || unhex(*p + 9, o->key[i].key, 32) ||
        (*p)[73] != ' ')
        return -1;
    *p += 74;
    if (parse_u63(p, end, &t) || t <= 0 || lit(p, end, "\n"))
        return -1;
    o->activate[i] = t;
    return 0;
}

int kitls_redis_ring_parse(const char *text, size_t len, struct kitls_redis_ring *out)
{
    const char *p = text, *end = text + len;
    int64_t gen, ver;

    if (text == NULL || out == NULL)
        return KITLS_E_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    if (lit(&p, end, MAGIC " ") || parse_u63(&p, end, &ver) || ver != KITLS_REDIS_RING_VERSION ||
        lit(&p, end, " ") || parse_u63(&p, end, &gen) || lit(&p, end, "\n"))
        goto bad;
    out->generation = (uint64_t)gen;
    for (int i = 0; i < 3; i++)
        if (parse_line(&p, end, i, out))
            goto bad;
    if (p != end)
        goto bad;
    /* Activation times increase; ids tell the keys apart in a ticket. */
    if (!(out->activate[0] < out->activate[1] && out->activate[1] < out->activate[2]))
        goto bad;
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (memcmp(out->key[i].id, out->key[j].id, 4) == 0)
                goto bad;
    return 0;
bad:
    explicit_bzero(out, sizeof(*out));
    return KITLS_E_DECODE;
}

int kitls_redis_ring_format(const struct kitls_redis_ring *ring, char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char id[9], key[65];
    size_t off;
    int n;

    if (ring == NULL || buf == NULL || len < KITLS_REDIS_RING_TEXT_MAX)
        return KITLS_E_INVALID_ARG;
    n = snprintf(buf, len, "%s %d %llu\n", MAGIC, KITLS_REDIS_RING_VERSION,
                 (unsigned long long)ring->generation);
    off = (size_t)n;
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 4; j++) {
            id[2 * j] = hex[ring->key[i].id[j] >> 4];
            id[2 * j + 1] = hex[ring->key[i].id[j] & 15];
        }
        for (int j = 0; j < 32; j++) {
            key[2 * j] = hex[ring->key[i].key[j] >> 4];
            key[2 * j + 1] = hex[ring->key[i].key[j] & 15];
        }
        id[8] = key[64] = '\0';
        n = snprintf(buf + off, len - off, "%s %s %s %lld\n", names[i], id, key,
                     (long long)ring->activate[i]);
        off += (size_t)n;
    }
    explicit_bzero(key, sizeof(key));
    return (int)off;
}

size_t kitls_redis_ring_keys(const struct kitls_redis_ring *ring, int64_t now,
                             struct kitls_ticket_key keys[3])
{
    int seal = 0;

    /* The latest key whose time has come seals; before the first one's
     * time (clock far behind), the previous key still does. */
    for (int i = 0; i < 3; i++)
        if (ring->activate[i] <= now)
            seal = i;
    keys[0] = ring->key[seal];
    for (int i = 0, n = 1; i < 3; i++)
        if (i != seal)
            keys[n++] = ring->key[i];
    return 3;
}

int kitls_redis_ring_load(kitls_redis *r, struct kitls_redis_ring *out)
{
    redisContext *c;
    redisReply *rep;
    char why[256];
    int rc;

    /* Off the data path (start, rotation messages, the schedule): a
     * connection of its own with a lenient timeout, so a slow moment of
     * Redis neither fails a start nor counts against the 0-RTT store. */
    c = kr_connect(r, r->timeout_ms > 1000 ? r->timeout_ms : 1000, why, sizeof(why));
    if (c == NULL)
        return KITLS_E_UNAVAILABLE;
    rep = redisCommand(c, "GET %s", r->ring_key);
    if (rep == NULL)
        rc = KITLS_E_UNAVAILABLE;
    else if (rep->type == REDIS_REPLY_NIL)
        rc = KITLS_E_STATE;
    else if (rep->type == REDIS_REPLY_STRING)
        rc = kitls_redis_ring_parse(rep->str, rep->len, out);
    else
        rc = KITLS_E_UNAVAILABLE;
    if (rep != NULL && rep->type == REDIS_REPLY_STRING)
        explicit_bzero(rep->str, rep->len);
    if (rep != NULL)
        freeReplyObject(rep);
    redisFree(c);
    return rc;
}

static int random_key(struct kitls_ticket_key *k)
{
    return getrandom(k, sizeof(*k), 0) == (ssize_t)sizeof(*k) ? 0 : KITLS_E_RNG;
}

/* The ring after `old` (NULL: none yet), made at `now`. */
static int next_ring(const struct kitls_redis_ring *old, int64_t now, uint32_t period,
                     struct kitls_redis_ring *nr)
{
    int rc = 0;

    if (old == NULL) {
        nr->generation = 1;
        rc |= random_key(&nr->key[0]) | random_key(&nr->key[1]);
        nr->activate[0] = now - (int64_t)period;
    } else {
        nr->generation = old->generation + 1;
        nr->key[0] = old->key[1];
        nr->key[1] = old->key[2];
        /* Keep the order even if the old ring's times lie ahead of us. */
        nr->activate[0] = old->activate[1] < now ? old->activate[1] : now - 1;
    }
    nr->activate[1] = now;
    nr->activate[2] = now + (int64_t)period;
    do /* distinct ids: the ticket names its key by id */
        rc |= random_key(&nr->key[2]);
    while (rc == 0 && (memcmp(nr->key[2].id, nr->key[0].id, 4) == 0 ||
                       memcmp(nr->key[2].id, nr->key[1].id, 4) == 0));
    if (rc == 0 && memcmp(nr->key[0].id, nr->key[1].id, 4) == 0)
        rc = random_key(&nr->key[0]) | (memcmp(nr->key[0].id, nr->key[1].id, 4) == 0);
    return rc != 0 ? KITLS_E_RNG : 0;
}

/* One WATCH/GET/MULTI/SET/PUBLISH/EXEC round: 0 written, 1 raced. */
static int rotate_once(kitls_redis *r, redisContext *c, uint32_t period,
                       struct kitls_redis_ring *nr, char *why, size_t wn)
{
    struct kitls_redis_ring old;
    char text[KITLS_REDIS_RING_TEXT_MAX];
    redisReply *rep;
    int rc, have = 0, len;

    rep = redisCommand(c, "WATCH %s", r->ring_key);
    if (rep == NULL || rep->type != REDIS_REPLY_STATUS)
        goto io;
    freeReplyObject(rep);
    rep = redisCommand(c, "GET %s", r->ring_key);
    if (rep == NULL || (rep->type != REDIS_REPLY_NIL && rep->type != REDIS_REPLY_STRING))
        goto io;
    if (rep->type == REDIS_REPLY_STRING) {
        rc = kitls_redis_ring_parse(rep->str, rep->len, &old);
        explicit_bzero(rep->str, rep->len);
        if (rc != 0) {
            snprintf(why, wn, "the ring in %s is malformed; not rotated", r->ring_key);
            freeReplyObject(rep);
            return KITLS_E_DECODE;
        }
        have = 1;
    }
    freeReplyObject(rep);
    rc = next_ring(have ? &old : NULL, (int64_t)time(NULL), period, nr);
    explicit_bzero(&old, sizeof(old));
    if (rc != 0) {
        snprintf(why, wn, "getrandom: %s", strerror(errno));
        return rc;
    }
    len = kitls_redis_ring_format(nr, text, sizeof(text));
    rep = redisCommand(c, "MULTI");
    if (rep != NULL && rep->type == REDIS_REPLY_STATUS) {
        freeReplyObject(rep);
        redisAppendCommand(c, "SET %s %b", r->ring_key, text, (size_t)len);
        redisAppendCommand(c, "PUBLISH %s %llu", r->ring_key, (unsigned long long)nr->generation);
        redisAppendCommand(c, "EXEC");
        for (int i = 0; i < 3; i++) {
            rep = NULL;
            if (redisGetReply(c, (void **)&rep) != REDIS_OK)
                break;
            if (i < 2)
                freeReplyObject(rep);
        }
    }
    explicit_bzero(text, sizeof(text));
    if (rep == NULL)
        goto io;
    rc = rep->type == REDIS_REPLY_ARRAY ? 0 : rep->type == REDIS_REPLY_NIL ? 1 : -1;
    if (rc < 0)
        goto io;
    freeReplyObject(rep);
    return rc;
io:
    snprintf(why, wn, "%s",
             rep == NULL                      ? c->errstr
             : rep->type == REDIS_REPLY_ERROR ? rep->str
                                              : "unexpected reply");
    if (rep != NULL)
        freeReplyObject(rep);
    return KITLS_E_UNAVAILABLE;
}

int kitls_redis_ring_rotate(kitls_redis *r, uint32_t period_s, struct kitls_redis_ring *out)
{
    struct kitls_redis_ring nr;
    redisContext *c;
    char why[300];
    int rc = 1;

    if (period_s == 0 || period_s > MAX_PERIOD)
        return KITLS_E_INVALID_ARG;
    /* A tool, not the data path: allow a slow Redis a second. */
    c = kr_connect(r, r->timeout_ms > 1000 ? r->timeout_ms : 1000, why, sizeof(why));
    if (c == NULL) {
        kr_log(r, "rotate: %s", why);
        return KITLS_E_UNAVAILABLE;
    }
    for (int tries = 0; rc == 1 && tries < 10; tries++)
        rc = rotate_once(r, c, period_s, &nr, why, sizeof(why));
    redisFree(c);
    if (rc == 1)
        snprintf(why, sizeof(why), "%s", "other writers kept racing; not rotated");
    if (rc != 0) {
        kr_log(r, "rotate: %s", why);
        explicit_bzero(&nr, sizeof(nr));
        return rc == 1 ? KITLS_E_UNAVAILABLE : rc;
    }
    if (out != NULL)
        *out = nr;
    explicit_bzero(&nr, sizeof(nr));
    return 0;
}
