/*
 * Replay corpus generator: for each variant, a full handshake issues a
 * ticket (fixed ticket key, fixed clock), then a resuming client sends its
 * first flight (ClientHello + early data), which is written as a flight
 * file with its metadata and the expected verdicts of a first and a second
 * delivery.  Public API only, plus determinism:
 *
 *   - kitls_config_set_rng() / kitls_config_set_time() with a seeded
 *     stream per variant (random, legacy_session_id, ticket nonce,
 *     ticket_age_add);
 *   - libcrypto's own RNG, which kitls uses directly for (EC)DHE key shares
 *     and which the Ed25519 server key comes from, replaced by the same kind
 *     of stream through the (deprecated) RAND_METHOD interface.  Without it
 *     (an OpenSSL built without deprecated APIs) the output is still valid
 *     but not reproducible; the program says so on stdout.
 *
 * Usage: replay_gen OUTDIR      writes OUTDIR/<variant>.flight
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#if !defined(OPENSSL_NO_DEPRECATED_3_0)
#define RP_DETERMINISTIC 1
#else
#define RP_DETERMINISTIC 0
#endif

/* ---- seeded byte streams: SHA-256(label "/" name "/" counter) ---- */

struct stream {
    char seed[160];
    uint64_t ctr;
    uint8_t block[32];
    size_t used;
};

static void stream_init(struct stream *st, const char *label, const char *name)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->seed, sizeof(st->seed), "kitls-replay/%s/%s/", label, name);
    st->used = sizeof(st->block);
}

static void stream_fill(struct stream *st, uint8_t *out, size_t n)
{
    while (n) {
        if (st->used == sizeof(st->block)) {
            uint8_t in[sizeof(st->seed) + 8];
            size_t sl = strlen(st->seed);
            memcpy(in, st->seed, sl);
            for (int i = 0; i < 8; i++)
                in[sl + i] = (uint8_t)(st->ctr >> (56 - 8 * i));
            st->ctr++;
            EVP_Digest(in, sl + 8, st->block, NULL, EVP_sha256(), NULL);
            st->used = 0;
        }
        size_t take = sizeof(st->block) - st->used;
        if (take > n)
            take = n;
        memcpy(out, st->block + st->used, take);
        st->used += take;
        out += take;
        n -= take;
    }
}

static int stream_hook(void *ctx, uint8_t *buf, size_t len)
{
    stream_fill(ctx, buf, len);
    return 0;
}

#if RP_DETERMINISTIC
static struct stream ossl_stream;

static int ossl_bytes(unsigned char *buf, int num)
{
    if (num < 0)
        return 0;
    stream_fill(&ossl_stream, buf, (size_t)num);
    return 1;
}
static int ossl_status(void)
{
    return 1;
}
static const RAND_METHOD ossl_method = {NULL, ossl_bytes, NULL, NULL, ossl_bytes, ossl_status};
#endif

/* ---- the variants ---- */

#define T0 INT64_C(1767225600) /* 2026-01-01T00:00:00Z: every ticket is issued then */

struct variant {
    const char *name;
    uint16_t suite, group;
    int compat;
    size_t early_len;
    uint32_t lifetime;
    int64_t client_dt, replay_dt; /* client / replaying server clock, seconds after T0 */
    const char *tamper;
    int first, second;
};

static const struct variant variants[] = {
    /* Fresh flights: accepted once, then rejected (the PSK still resumes). */
    {"aes128-x25519-64", KITLS_AES_128_GCM_SHA256, KITLS_GROUP_X25519, 1, 64, 7200, 10, 10, "none",
     RP_ACCEPT, RP_REJECT},
    {"aes256-x25519-1000", KITLS_AES_256_GCM_SHA384, KITLS_GROUP_X25519, 1, 1000, 7200, 10, 10,
     "none", RP_ACCEPT, RP_REJECT},
    {"chacha-x25519-40000", KITLS_CHACHA20_POLY1305_SHA256, KITLS_GROUP_X25519, 1, 40000, 7200, 10,
     10, "none", RP_ACCEPT, RP_REJECT},
    {"aes128-p256-nocompat-300", KITLS_AES_128_GCM_SHA256, KITLS_GROUP_SECP256R1, 0, 300, 7200, 100,
     100, "none", RP_ACCEPT, RP_REJECT},
    {"aes128-x25519-1", KITLS_AES_128_GCM_SHA256, KITLS_GROUP_X25519, 1, 1, 7200, 7000, 7000,
     "none", RP_ACCEPT, RP_REJECT},
    /* One bit of the PSK binder flipped: fatal decrypt_error, every time. */
    {"aes128-bad-binder", KITLS_AES_128_GCM_SHA256, KITLS_GROUP_X25519, 1, 64, 7200, 10, 10,
     "binder", RP_DECRYPT_ERROR, RP_DECRYPT_ERROR},
    {"aes256-bad-binder", KITLS_AES_256_GCM_SHA384, KITLS_GROUP_X25519, 1, 64, 7200, 10, 10,
     "binder", RP_DECRYPT_ERROR, RP_DECRYPT_ERROR},
    /* Sent while the ticket was valid, replayed after it expired: the PSK is
     * declined, full handshake, early data skipped. */
    {"aes128-expired", KITLS_AES_128_GCM_SHA256, KITLS_GROUP_X25519, 1, 64, 60, 30, 3600, "none",
     RP_FALLBACK, RP_FALLBACK},
    /* Replayed 60 s after it was sent, ticket still valid: outside the
     * freshness window, so early data is rejected even the first time. */
    {"aes256-stale", KITLS_AES_256_GCM_SHA384, KITLS_GROUP_X25519, 1, 64, 7200, 10, 70, "none",
     RP_REJECT, RP_REJECT},
};

static void early_data(const char *name, uint8_t *p, size_t n)
{
    char hdr[128];
    int hl =
        snprintf(hdr, sizeof(hdr), "GET /replay/%s HTTP/1.1\r\nHost: " RP_SNI "\r\n\r\n", name);
    for (size_t i = 0; i < n; i++)
        p[i] = i < (size_t)hl ? (uint8_t)hdr[i] : (uint8_t)('a' + (i * 7) % 26);
}

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s: %s:%d: %s failed\n", v->name, __FILE__, __LINE__, #x);            \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int generate(const struct variant *v, const char *outdir)
{
    struct stream crng, srng;
    int64_t server_now = T0, client_now = T0;
    char *chain = NULL, *key = NULL, path[4096];
    size_t chain_len = 0, key_len = 0;
    kitls_config *scfg = NULL, *ccfg = NULL;
    kitls_conn *c = NULL, *s = NULL;
    kitls_session *sess = NULL;
    uint8_t *data = malloc(v->early_len + 1), buf[64];
    struct rp_flight fl;
    int ret = -1;
    memset(&fl, 0, sizeof(fl));
#if RP_DETERMINISTIC
    stream_init(&ossl_stream, "libcrypto", v->name);
#endif
    stream_init(&crng, "client", v->name);
    stream_init(&srng, "server", v->name);
    CHECK(data);
    CHECK(rp_make_cert(T0, &chain, &chain_len, &key, &key_len) == 0);

    /* The issuing server. */
    CHECK((scfg = kitls_config_new(KITLS_ROLE_SERVER)) != NULL);
    CHECK(kitls_config_add_cert_pem(scfg, chain, chain_len, key, key_len) == 0);
    CHECK(kitls_config_set_ticket_keys(scfg, &rp_ticket_key, 1) == 0);
    CHECK(kitls_config_set_tickets(scfg, 1, v->lifetime) == 0);
    CHECK(kitls_config_set_early_data(scfg, RP_MAX_EARLY) == 0);
    CHECK(kitls_config_set_rng(scfg, stream_hook, &srng) == 0);
    CHECK(kitls_config_set_time(scfg, rp_time, &server_now) == 0);

    /* The client: one suite and one group, so the flight is what the name says. */
    CHECK((ccfg = kitls_config_new(KITLS_ROLE_CLIENT)) != NULL);
    CHECK(kitls_config_set_suites(ccfg, &v->suite, 1) == 0);
    CHECK(kitls_config_set_groups(ccfg, &v->group, 1) == 0);
    CHECK(kitls_config_set_middlebox_compat(ccfg, v->compat) == 0);
    CHECK(kitls_config_set_verify(ccfg, KITLS_VERIFY_NONE) == 0);
    CHECK(kitls_config_set_early_data(ccfg, 1) == 0);
    CHECK(kitls_config_set_rng(ccfg, stream_hook, &crng) == 0);
    CHECK(kitls_config_set_time(ccfg, rp_time, &client_now) == 0);

    /* Full handshake at T0; the client keeps the ticket. */
    CHECK((c = kitls_conn_new(ccfg)) != NULL && (s = kitls_conn_new(scfg)) != NULL);
    CHECK(kitls_conn_set_server_name(c, RP_SNI) == 0);
    CHECK(rp_handshake(c, s) == 0);
    rp_move(s, c);
    CHECK(kitls_conn_read(c, buf, sizeof(buf)) == KITLS_E_WANT_READ);
    CHECK((sess = kitls_conn_get_session(c)) != NULL);
    CHECK(kitls_session_max_early_data(sess) == RP_MAX_EARLY);
    CHECK(kitls_session_lifetime(sess) == v->lifetime);
    kitls_conn_free(c);
    kitls_conn_free(s);
    s = NULL;

    /* The resuming client's first flight. */
    client_now = T0 + v->client_dt;
    CHECK((c = kitls_conn_new(ccfg)) != NULL);
    CHECK(kitls_conn_set_server_name(c, RP_SNI) == 0);
    CHECK(kitls_conn_set_session(c, sess) == 0);
    early_data(v->name, data, v->early_len);
    CHECK(kitls_conn_write_early_data(c, data, v->early_len) == (int)v->early_len);
    CHECK(kitls_conn_handshake(c) == KITLS_E_WANT_READ);
    const uint8_t *out;
    fl.len = kitls_conn_out_peek(c, &out);
    CHECK(fl.len > 5 && out[0] == 22 && out[5] == 1);
    CHECK((fl.bytes = malloc(fl.len)) != NULL);
    memcpy(fl.bytes, out, fl.len);
    if (!strcmp(v->tamper, "binder")) {
        /* The binder is the end of the ClientHello, the first record. */
        size_t ch_end = 5 + ((size_t)fl.bytes[3] << 8 | fl.bytes[4]);
        CHECK(ch_end <= fl.len);
        fl.bytes[ch_end - 1] ^= 0x01;
    } else {
        CHECK(!strcmp(v->tamper, "none"));
    }

    snprintf(fl.name, sizeof(fl.name), "%s", v->name);
    snprintf(fl.suite, sizeof(fl.suite), "%s", kitls_suite_name(v->suite));
    snprintf(fl.group, sizeof(fl.group), "%s", kitls_group_name(v->group));
    snprintf(fl.tamper, sizeof(fl.tamper), "%s", v->tamper);
    fl.compat = v->compat;
    fl.issued = T0;
    fl.lifetime = v->lifetime;
    fl.client_time = T0 + v->client_dt;
    fl.replay_time = T0 + v->replay_dt;
    fl.early_len = v->early_len;
    rp_sha256_hex(data, v->early_len, fl.early_sha256);
    fl.first = v->first;
    fl.second = v->second;
    snprintf(path, sizeof(path), "%s/%s.flight", outdir, v->name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        goto out;
    }
    int wr = rp_flight_write(f, &fl);
    if (fclose(f) || wr) {
        fprintf(stderr, "%s: write failed\n", path);
        goto out;
    }
    printf("wrote %s (%zu bytes)\n", path, fl.len);
    ret = 0;
out:
    rp_flight_free(&fl);
    kitls_session_free(sess);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(scfg);
    kitls_config_free(ccfg);
    free(chain);
    free(key);
    free(data);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
#if RP_DETERMINISTIC
    if (RAND_set_rand_method(&ossl_method) != 1) {
        fprintf(stderr, "RAND_set_rand_method failed\n");
        return 1;
    }
    printf("deterministic: yes\n");
#else
    printf("deterministic: no (libcrypto built without deprecated APIs: key shares are random)\n");
#endif
    int fails = 0;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
        fails += generate(&variants[i], argv[1]) != 0;
    return fails ? 1 : 0;
}
