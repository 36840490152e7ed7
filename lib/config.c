/* The shared, reference-counted, immutable-once-used configuration. */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "kem.h"

kitls_config *kitls_config_new(enum kitls_role role)
{
    if (kitls_alg_init())
        return NULL;
    kitls_config *cfg = kitls_calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->refs = 1;
    cfg->role = role;
    memcpy(cfg->suites, kitls_default_suites, sizeof(kitls_default_suites));
    cfg->n_suites = 3;
    cfg->n_groups = kitls_default_group_list(cfg->groups, &cfg->n_key_shares);
    memcpy(cfg->sigalgs, kitls_default_sigalgs, sizeof(kitls_default_sigalgs));
    cfg->n_sigalgs = kitls_n_default_sigalgs;
    cfg->server_pref = 1;
    cfg->compat = 1;
    /* RFC 7685 padding is on by default, as in BoringSSL and NSS: without
     * it a ClientHello of 256-511 bytes hangs some F5 load balancers. */
    cfg->ch_padding = 1;
    cfg->verify = role == KITLS_ROLE_CLIENT ? KITLS_VERIFY_REQUIRE : KITLS_VERIFY_NONE;
    cfg->verify_name = 1;
    cfg->limits.max_handshake_message = role == KITLS_ROLE_SERVER ? 65536 : 131072;
    cfg->limits.max_empty_records = 32;
    cfg->limits.max_buffered_bytes = 262144;
    cfg->limits.max_ccs = 1;
    cfg->limits.max_cert_chain = 10;
    cfg->limits.max_key_updates = 32;
    cfg->ocsp_skew = 300;
    pthread_rwlock_init(&cfg->ocsp_lock, NULL);
    pthread_mutex_init(&cfg->freeze_lock, NULL);
    cfg->n_tickets = 1;
    cfg->ticket_lifetime = 7200;
    pthread_rwlock_init(&cfg->ticket_lock, NULL);
    cfg->n_ticket_keys = 1;
    cfg->store = X509_STORE_new();
    cfg->cert_cache = kitls_cert_cache_new();
    if (!cfg->store || !cfg->cert_cache ||
        RAND_bytes(cfg->cookie_key, sizeof(cfg->cookie_key)) != 1 ||
        RAND_bytes((uint8_t *)cfg->ticket_keys, sizeof(cfg->ticket_keys[0])) != 1) {
        kitls_config_free(cfg);
        return NULL;
    }
    return cfg;
}

kitls_config *kitls_config_up_ref(kitls_config *cfg)
{
    __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
    return cfg;
}

static void cert_free(struct kitls_cert *c)
{
    for (size_t i = 0; i < c->n; i++)
        kitls_free(c->der[i]);
    kitls_free(c->der);
    kitls_free(c->der_len);
    EVP_PKEY_free(c->key);
    X509_free(c->leaf);
    kitls_free(c->ocsp);
    kitls_free(c->sct);
    memset(c, 0, sizeof(*c));
}

void kitls_config_free(kitls_config *cfg)
{
    if (!cfg || __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < cfg->n_certs; i++)
        cert_free(&cfg->certs[i]);
    X509_STORE_free(cfg->store);
    kitls_free(cfg->alpn);
    kitls_free(cfg->sess_tag);
    pthread_rwlock_destroy(&cfg->ticket_lock);
    pthread_rwlock_destroy(&cfg->ocsp_lock);
    pthread_mutex_destroy(&cfg->freeze_lock);
    kitls_early_store_free(cfg->replay);
    kitls_cert_cache_free(cfg->cert_cache);
    kitls_wipe(cfg, sizeof(*cfg));
    kitls_free(cfg);
}

#define MUTABLE(cfg)                                                                               \
    do {                                                                                           \
        if (!(cfg))                                                                                \
            return KITLS_E_INVALID_ARG;                                                            \
        if ((cfg)->frozen)                                                                         \
            return KITLS_E_STATE;                                                                  \
    } while (0)

static int set_ids(uint16_t *dst, size_t *n_dst, const uint16_t *ids, size_t n,
                   int (*known)(uint16_t))
{
    if (!ids || n == 0 || n > KITLS_MAX_ALGS)
        return KITLS_E_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        int k = known(ids[i]);
        if (k <= 0)
            return k < 0 ? k : KITLS_E_INVALID_ARG;
        for (size_t j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return KITLS_E_INVALID_ARG;
    }
    memcpy(dst, ids, n * sizeof(*ids));
    *n_dst = n;
    return 0;
}

static int known_suite(uint16_t id)
{
    return kitls_suite_find(id) != NULL;
}
static int known_group(uint16_t id)
{
    if (kitls_group_find(id) && !kitls_group_available(id))
        return KITLS_E_UNAVAILABLE; /* a hybrid without ML-KEM (kem.c) */
    return kitls_group_find(id) != NULL;
}
static int known_sigalg(uint16_t id)
{
    return kitls_sigalg_find(id) != NULL;
}

int kitls_config_set_suites(kitls_config *cfg, const uint16_t *ids, size_t n)
{
    MUTABLE(cfg);
    return set_ids(cfg->suites, &cfg->n_suites, ids, n, known_suite);
}

int kitls_config_set_groups(kitls_config *cfg, const uint16_t *ids, size_t n)
{
    MUTABLE(cfg);
    GUARD(set_ids(cfg->groups, &cfg->n_groups, ids, n, known_group));
    /* Two shares (hybrid + X25519) go with the default list only: a list
     * of one's own gets one share unless set otherwise. */
    if (!cfg->key_shares_set || cfg->n_key_shares > n)
        cfg->n_key_shares = cfg->key_shares_set ? n : 1;
    return 0;
}

int kitls_config_set_key_shares(kitls_config *cfg, size_t n)
{
    MUTABLE(cfg);
    if (n > cfg->n_groups)
        return KITLS_E_INVALID_ARG;
    cfg->n_key_shares = n;
    cfg->key_shares_set = 1;
    return 0;
}

int kitls_config_set_sigalgs(kitls_config *cfg, const uint16_t *ids, size_t n)
{
    MUTABLE(cfg);
    return set_ids(cfg->sigalgs, &cfg->n_sigalgs, ids, n, known_sigalg);
}

int kitls_config_set_signing_sigalgs(kitls_config *cfg, const uint16_t *ids, size_t n)
{
    MUTABLE(cfg);
    if (n == 0) {
        cfg->n_sign_sigalgs = 0;
        return 0;
    }
    return set_ids(cfg->sign_sigalgs, &cfg->n_sign_sigalgs, ids, n, known_sigalg);
}

int kitls_config_set_server_preference(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->server_pref = !!on;
    return 0;
}

int kitls_config_set_middlebox_compat(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->compat = !!on;
    return 0;
}

int kitls_config_set_hrr_cookie(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->hrr_cookie = !!on;
    return 0;
}

int kitls_config_set_verify(kitls_config *cfg, enum kitls_verify mode)
{
    MUTABLE(cfg);
    if (mode > KITLS_VERIFY_REQUIRE)
        return KITLS_E_INVALID_ARG;
    cfg->verify = mode;
    return 0;
}

int kitls_config_set_verify_name(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->verify_name = !!on;
    return 0;
}

int kitls_config_set_session_context(kitls_config *cfg, const uint8_t *ctx, size_t len)
{
    MUTABLE(cfg);
    if ((!ctx && len) || len > KITLS_MAX_SESSION_CONTEXT)
        return KITLS_E_INVALID_ARG;
    uint8_t *copy = NULL;
    if (ctx && !(copy = kitls_malloc(len ? len : 1)))
        return KITLS_E_NOMEM;
    if (len)
        memcpy(copy, ctx, len);
    kitls_free(cfg->sess_tag);
    cfg->sess_tag = copy;
    cfg->sess_tag_len = len;
    return 0;
}

int kitls_config_add_cert_pem(kitls_config *cfg, const char *chain_pem, size_t chain_len,
                              const char *key_pem, size_t key_len)
{
    MUTABLE(cfg);
    if (!chain_pem || !key_pem || chain_len > INT_MAX || key_len > INT_MAX)
        return KITLS_E_INVALID_ARG;
    if (cfg->n_certs == KITLS_MAX_CERTS || (cfg->role == KITLS_ROLE_CLIENT && cfg->n_certs == 1))
        return KITLS_E_CONFIG;
    struct kitls_cert c = {0};
    int ret = KITLS_E_CONFIG;
    BIO *b = BIO_new_mem_buf(chain_pem, (int)chain_len);
    BIO *kb = BIO_new_mem_buf(key_pem, (int)key_len);
    X509 *x = NULL;
    if (!b || !kb)
        goto out;
    c.key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    if (!c.key)
        goto out;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        uint8_t *der = NULL;
        int n = i2d_X509(x, &der);
        void *nd = kitls_realloc(c.der, (c.n + 1) * sizeof(*c.der));
        if (nd)
            c.der = nd;
        void *nl = kitls_realloc(c.der_len, (c.n + 1) * sizeof(*c.der_len));
        if (nl)
            c.der_len = nl;
        if (n <= 0 || !nd || !nl) {
            OPENSSL_free(der);
            X509_free(x);
            goto out;
        }
        /* Keep our own heap copy so kitls_free() is uniform. */
        c.der[c.n] = kitls_malloc((size_t)n);
        if (!c.der[c.n]) {
            OPENSSL_free(der);
            X509_free(x);
            goto out;
        }
        memcpy(c.der[c.n], der, (size_t)n);
        OPENSSL_free(der);
        c.der_len[c.n++] = (size_t)n;
        if (!c.leaf)
            c.leaf = x;
        else
            X509_free(x);
    }
    ERR_clear_error();
    if (!c.n || X509_check_private_key(c.leaf, c.key) != 1)
        goto out;
    /* An id-RSASSA-PSS key signs only with the rsa_pss_pss_* schemes its
     * parameters allow (RFC 8446 §4.2.3, RFC 4055 §3.1): refuse one that
     * allows none, or whose parameters differ from the certificate's (the
     * peer checks our signature against the certificate's). */
    if (EVP_PKEY_is_a(c.key, "RSA-PSS") &&
        (!kitls_sig_key_usable(c.key) || !kitls_sig_keys_agree(c.key, X509_get0_pubkey(c.leaf))))
        goto out;
    /* The EC_KEY copy ECDSA signing uses (sig_ec.c), made here rather
     * than in the first handshake; other keys are left as they are. */
    (void)kitls_sig_ec_prepare(c.key);
    /* The schemes the key can sign with, asked once: libcrypto answers
     * the key type and curve with allocations (name lookups, a BN_CTX). */
    c.sig_ok = kitls_sig_key_mask(c.key);
    cfg->certs[cfg->n_certs++] = c;
    memset(&c, 0, sizeof(c));
    ret = 0;
out:
    cert_free(&c);
    BIO_free(b);
    BIO_free(kb);
    ERR_clear_error();
    return ret;
}

static int read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return KITLS_E_CONFIG;
    size_t cap = 4096, n = 0;
    char *b = kitls_malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        char *nb = cap < (64u << 20) ? kitls_realloc(b, cap * 2) : NULL;
        if (!nb) {
            kitls_free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    fclose(f);
    if (!b)
        return KITLS_E_CONFIG;
    *buf = b;
    *len = n;
    return 0;
}

int kitls_config_add_cert_files(kitls_config *cfg, const char *chain_file, const char *key_file)
{
    char *c = NULL, *k = NULL;
    size_t cl = 0, kl = 0;
    MUTABLE(cfg);
    if (!chain_file || !key_file)
        return KITLS_E_INVALID_ARG;
    int ret = read_file(chain_file, &c, &cl);
    if (!ret)
        ret = read_file(key_file, &k, &kl);
    if (!ret)
        ret = kitls_config_add_cert_pem(cfg, c, cl, k, kl);
    kitls_free(c);
    if (k) {
        kitls_wipe(k, kl);
        kitls_free(k);
    }
    return ret;
}

int kitls_config_load_ca_pem(kitls_config *cfg, const char *pem, size_t len)
{
    MUTABLE(cfg);
    if (!pem || len > INT_MAX)
        return KITLS_E_INVALID_ARG;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x;
    int n = 0;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(cfg->store, x) == 1)
            n++;
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error();
    kitls_cert_cache_store_changed(cfg->cert_cache);
    if (!n)
        return KITLS_E_CONFIG;
    cfg->store_loaded = 1;
    return 0;
}

int kitls_config_set_verify_cache(kitls_config *cfg, size_t entries)
{
    MUTABLE(cfg);
    if (entries > KITLS_VERIFY_CACHE_MAX)
        return KITLS_E_INVALID_ARG;
    kitls_cert_cache_set_verify_size(cfg->cert_cache, entries);
    return 0;
}

int kitls_config_load_ca_file(kitls_config *cfg, const char *path)
{
    MUTABLE(cfg);
    if (!path)
        return KITLS_E_INVALID_ARG;
    kitls_cert_cache_store_changed(cfg->cert_cache);
    if (X509_STORE_load_file(cfg->store, path) != 1) {
        ERR_clear_error();
        return KITLS_E_CONFIG;
    }
    cfg->store_loaded = 1;
    return 0;
}

int kitls_config_use_system_ca(kitls_config *cfg)
{
    MUTABLE(cfg);
    kitls_cert_cache_store_changed(cfg->cert_cache);
    if (X509_STORE_set_default_paths(cfg->store) != 1) {
        ERR_clear_error();
        return KITLS_E_CONFIG;
    }
    cfg->store_loaded = 1;
    cfg->store_system = 1;
    return 0;
}

/*
 * The first connection freezes the config.  Several threads may create
 * the first connections at once: the work is done by one of them under
 * freeze_lock, and `frozen` is published with release order after it, so
 * a connection that sees it set (acquire) also sees the trust store and
 * sess_ctx complete.  Later connections take only the atomic load.
 */
int kitls_config_freeze(kitls_config *cfg)
{
    if (__atomic_load_n(&cfg->frozen, __ATOMIC_ACQUIRE))
        return 0;
    int ret = 0;
    pthread_mutex_lock(&cfg->freeze_lock);
    if (!__atomic_load_n(&cfg->frozen, __ATOMIC_RELAXED)) {
        /* A client that verifies and has no trust anchors of its own gets
         * the system store. */
        if (cfg->role == KITLS_ROLE_CLIENT && cfg->verify != KITLS_VERIFY_NONE &&
            !cfg->store_loaded && kitls_config_use_system_ca(cfg))
            cfg->store_loaded = 0; /* verification will then fail: unknown_ca */
        /* What tickets and sessions bind, from the now final policy
         * (session_bind.c); on failure the config stays unfrozen. */
        ret = kitls_session_ctx_init(cfg);
        if (!ret)
            __atomic_store_n(&cfg->frozen, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&cfg->freeze_lock);
    return ret;
}

int kitls_config_set_alpn(kitls_config *cfg, const char *const *protos, size_t n)
{
    MUTABLE(cfg);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = protos[i] ? strlen(protos[i]) : 0;
        if (l == 0 || l > 255)
            return KITLS_E_INVALID_ARG;
        total += 1 + l;
    }
    if (total > 65535)
        return KITLS_E_INVALID_ARG;
    uint8_t *w = n ? kitls_malloc(total) : NULL;
    if (n && !w)
        return KITLS_E_NOMEM;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(protos[i]);
        w[at++] = (uint8_t)l;
        memcpy(w + at, protos[i], l);
        at += l;
    }
    kitls_free(cfg->alpn);
    cfg->alpn = w;
    cfg->alpn_len = total;
    return 0;
}

int kitls_config_set_record_size_limit(kitls_config *cfg, uint16_t limit)
{
    MUTABLE(cfg);
    if (limit != 0 && (limit < 64 || limit > KITLS_MAX_PLAINTEXT + 1))
        return KITLS_E_INVALID_ARG;
    cfg->record_size_limit = limit;
    return 0;
}

int kitls_config_set_limits(kitls_config *cfg, const struct kitls_limits *lim)
{
    MUTABLE(cfg);
    if (!lim)
        return KITLS_E_INVALID_ARG;
    if (lim->max_handshake_message)
        cfg->limits.max_handshake_message = lim->max_handshake_message;
    if (lim->max_empty_records)
        cfg->limits.max_empty_records = lim->max_empty_records;
    if (lim->max_buffered_bytes) {
        if (lim->max_buffered_bytes < 2 * (KITLS_MAX_CIPHERTEXT + KITLS_REC_HDR))
            return KITLS_E_INVALID_ARG;
        cfg->limits.max_buffered_bytes = lim->max_buffered_bytes;
    }
    if (lim->max_ccs)
        cfg->limits.max_ccs = lim->max_ccs;
    if (lim->max_cert_chain)
        cfg->limits.max_cert_chain = lim->max_cert_chain;
    if (lim->max_key_updates)
        cfg->limits.max_key_updates = lim->max_key_updates;
    return 0;
}

int kitls_config_set_send_ca_names(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->send_ca_names = !!on;
    return 0;
}

int kitls_config_set_grease(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->grease = !!on;
    return 0;
}

int kitls_config_set_client_hello_padding(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->ch_padding = !!on;
    return 0;
}

int kitls_config_set_cert_callback(kitls_config *cfg, kitls_cert_select_fn fn, void *ctx)
{
    MUTABLE(cfg);
    cfg->cert_cb = fn;
    cfg->cert_ctx = ctx;
    return 0;
}

int kitls_config_set_verify_callback(kitls_config *cfg, kitls_verify_fn fn, void *ctx)
{
    MUTABLE(cfg);
    cfg->verify_cb = fn;
    cfg->verify_ctx = ctx;
    return 0;
}

int kitls_config_set_tickets(kitls_config *cfg, unsigned count, uint32_t lifetime)
{
    MUTABLE(cfg);
    if (count > 16 || lifetime > 604800)
        return KITLS_E_INVALID_ARG;
    cfg->n_tickets = count;
    cfg->ticket_lifetime = lifetime;
    return 0;
}

int kitls_config_set_psk_ke(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->psk_ke = !!on;
    return 0;
}

int kitls_config_set_cleanse_plaintext(kitls_config *cfg, int on)
{
    MUTABLE(cfg);
    cfg->cleanse_plaintext = !!on;
    return 0;
}

int kitls_config_set_key_update_limit(kitls_config *cfg, uint64_t records)
{
    MUTABLE(cfg);
    if (records == 0)
        return KITLS_E_INVALID_ARG;
    cfg->key_update_limit = records;
    return 0;
}

int kitls_config_set_rng(kitls_config *cfg, kitls_rng_fn fn, void *ctx)
{
    MUTABLE(cfg);
    cfg->rng = fn;
    cfg->rng_ctx = ctx;
    return 0;
}

int kitls_config_set_time(kitls_config *cfg, kitls_time_fn fn, void *ctx)
{
    MUTABLE(cfg);
    cfg->time = fn;
    cfg->time_ctx = ctx;
    return 0;
}

int kitls_config_set_log(kitls_config *cfg, kitls_log_fn fn, void *ctx)
{
    MUTABLE(cfg);
    cfg->log = fn;
    cfg->log_ctx = ctx;
    return 0;
}

int kitls_config_random(const kitls_config *cfg, uint8_t *buf, size_t len)
{
    if (cfg->rng)
        return cfg->rng(cfg->rng_ctx, buf, len) == 0 ? 0 : KITLS_E_RNG;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : KITLS_E_RNG;
}

int64_t kitls_config_now(const kitls_config *cfg)
{
    if (cfg->time)
        return cfg->time(cfg->time_ctx);
    return (int64_t)time(NULL);
}
