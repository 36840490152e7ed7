/*
 * kitls-bench, the peers table's PKI and wire proof (bench/libs.h): an
 * ECDSA P-256 root, intermediate and "localhost" leaves in memory, and the
 * parse of the plaintext records each side sent (ClientHello key shares,
 * ServerHello / HelloRetryRequest and the group it selected) that proves
 * one X25519 share and no HRR for every library alike.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "bench.h"
#include "libs.h"

/* ------------------------------------------------------------------ */
/* PKI                                                                 */
/* ------------------------------------------------------------------ */

struct peer_pki ppki;

static char *pem_x509(X509 *x, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || !PEM_write_bio_X509(b, x))
        die("PEM_write_bio_X509");
    return bio_to_str(b, len);
}

void make_peer_pki(void)
{
    char *inter_pem;
    size_t inter_len;
    if (ppki.root != NULL)
        return;
    ppki.root_key = EVP_EC_gen("P-256");
    ppki.inter_key = EVP_EC_gen("P-256");
    if (ppki.root_key == NULL || ppki.inter_key == NULL)
        die("EVP_EC_gen");
    ppki.root = make_cert(ppki.root_key, "kitls bench root", NULL, ppki.root_key, 1000, 1);
    ppki.inter =
        make_cert(ppki.inter_key, "kitls bench intermediate", ppki.root, ppki.root_key, 1001, 1);
    ppki.root_pem = pem_x509(ppki.root, &ppki.root_len);
    inter_pem = pem_x509(ppki.inter, &inter_len);
    for (int i = 0; i < PEER_LEAVES; i++) {
        struct peer_leaf *l = &ppki.leaf[i];
        char *leaf_pem;
        size_t leaf_len;
        BIO *b;
        if ((l->key = EVP_EC_gen("P-256")) == NULL)
            die("EVP_EC_gen");
        l->x = make_cert(l->key, "localhost", ppki.inter, ppki.inter_key, 2000 + i, 0);
        leaf_pem = pem_x509(l->x, &leaf_len);
        l->chain_len = leaf_len + inter_len;
        if ((l->chain_pem = malloc(l->chain_len + 1)) == NULL)
            die("oom");
        memcpy(l->chain_pem, leaf_pem, leaf_len);
        memcpy(l->chain_pem + leaf_len, inter_pem, inter_len + 1);
        free(leaf_pem);
        b = BIO_new(BIO_s_mem()); /* PKCS#8: what rustls takes */
        if (b == NULL || !PEM_write_bio_PrivateKey(b, l->key, NULL, NULL, 0, NULL, NULL))
            die("PEM_write_bio_PrivateKey");
        l->key_pem = bio_to_str(b, &l->key_len);
    }
    free(inter_pem);
}

void free_peer_pki(void)
{
    for (int i = 0; i < PEER_LEAVES; i++) {
        EVP_PKEY_free(ppki.leaf[i].key);
        X509_free(ppki.leaf[i].x);
        free(ppki.leaf[i].chain_pem);
        free(ppki.leaf[i].key_pem);
    }
    EVP_PKEY_free(ppki.root_key);
    EVP_PKEY_free(ppki.inter_key);
    X509_free(ppki.root);
    X509_free(ppki.inter);
    free(ppki.root_pem);
    memset(&ppki, 0, sizeof(ppki));
}

/* ------------------------------------------------------------------ */
/* Wire proof                                                          */
/* ------------------------------------------------------------------ */

void sniff_add(struct sniff *s, const uint8_t *data, size_t n)
{
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 2048;
        uint8_t *nb;
        while (cap < s->n + n)
            cap *= 2;
        if ((nb = realloc(s->b, cap)) == NULL)
            die("oom");
        s->b = nb;
        s->cap = cap;
    }
    memcpy(s->b + s->n, data, n);
    s->n += n;
}

void sniff_free(struct sniff *s)
{
    free(s->b);
    memset(s, 0, sizeof(*s));
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* The key_share extension of a ClientHello body (RFC 8446 4.1.2, 4.2.8):
 * counts the shares and checks that each is X25519. */
static void ch_shares(const uint8_t *p, size_t n, struct bl_proof *o)
{
    size_t i = 2 + 32, l;
    if (i >= n)
        return;
    i += 1 + p[i]; /* legacy_session_id */
    if (i + 2 > n)
        return;
    i += 2 + get16(p + i); /* cipher_suites */
    if (i >= n)
        return;
    i += 1 + p[i]; /* legacy_compression_methods */
    if (i + 2 > n)
        return;
    l = get16(p + i);
    i += 2;
    for (size_t end = i + l < n ? i + l : n; i + 4 <= end;) {
        unsigned type = get16(p + i), el = get16(p + i + 2);
        i += 4;
        if (type == 51 /* key_share */ && i + 2 <= end) {
            size_t j = i + 2, je = i + 2 + get16(p + i);
            o->share_x25519 = 1;
            while (j + 4 <= je && je <= end) {
                o->shares++;
                if (get16(p + j) != 0x001d)
                    o->share_x25519 = 0;
                j += 4 + get16(p + j + 2);
            }
        }
        i += el;
    }
}

/* A ServerHello body (RFC 8446 4.1.3): HelloRetryRequest if its random is
 * the special value; the group its key_share selected. */
static void sh_scan(const uint8_t *p, size_t n, struct bl_proof *o)
{
    static const uint8_t hrr_random[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11,
                                           0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
                                           0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
                                           0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
    size_t i = 2 + 32, end;
    if (i >= n)
        return;
    if (memcmp(p + 2, hrr_random, 32) == 0)
        o->hrr = 1;
    i += 1 + p[i] + 2 + 1; /* legacy_session_id_echo, cipher_suite, compression */
    if (i + 2 > n)
        return;
    end = i + 2 + get16(p + i);
    for (i += 2; end <= n && i + 4 <= end; i += 4 + get16(p + i + 2))
        if (get16(p + i) == 51 /* key_share */ && i + 6 <= end)
            o->sh_x25519 = get16(p + i + 4) == 0x001d;
}

/* Each side's records: the plaintext handshake records (type 22) are the
 * ClientHellos and the ServerHellos (or HelloRetryRequests) in TLS 1.3,
 * everything after is encrypted (type 23); the first ClientHello is
 * parsed for its key shares, every ServerHello for HRR and its group. */
void wire_scan(const uint8_t *c2s, size_t n, const uint8_t *s2c, size_t m, struct bl_proof *o)
{
    memset(o, 0, sizeof(*o));
    o->lib_x25519 = -1;
    for (size_t i = 0; c2s != NULL && i + 5 <= n;) {
        size_t len = get16(c2s + i + 3);
        if (c2s[i] == 22) {
            if (o->client_hellos++ == 0 && i + 5 + len <= n && len > 4 && c2s[i + 5] == 1)
                ch_shares(c2s + i + 9, len - 4, o);
        }
        i += 5 + len;
    }
    for (size_t i = 0; s2c != NULL && i + 5 <= m;) {
        size_t len = get16(s2c + i + 3);
        if (s2c[i] == 22) {
            o->server_hellos++;
            if (i + 5 + len <= m && len > 4 && s2c[i + 5] == 2)
                sh_scan(s2c + i + 9, len - 4, o);
        }
        i += 5 + len;
    }
}

/* The wire proof's parser must see what it claims: a ClientHello record
 * with two shares (X25519, P-256) then a second ClientHello. */
void wire_selftest(void)
{
    static const uint8_t ch[] = {
        22, 3,    1, 0,    63,      /* record */
        1,  0,    0, 59,   3,    3, /* ClientHello, legacy_version */
        0,  0,    0, 0,    0,    0,  0,    0,  0, 0,    0, 0, 0, 0, 0, 0, /* random */
        0,  0,    0, 0,    0,    0,  0,    0,  0, 0,    0, 0, 0, 0, 0, 0, /* */
        0,  0,    2, 0x13, 0x01, 1,  0,                 /* session id, suites, compression */
        0,  16,   0, 51,   0,    12, 0,    10,          /* extensions, key_share, client_shares */
        0,  0x1d, 0, 1,    0xaa, 0,  0x17, 0,  1, 0xbb, /* X25519, P-256 (1-byte keys) */
        22, 3,    3, 0,    0                            /* a second handshake record */
    };
    static const uint8_t sh[] = {
        22,   3,    3,    0,    50,   2,    0,    0,
        46,   3,    3,                                  /* record, ServerHello, legacy_version */
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, /* the HelloRetryRequest random */
        0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, /* */
        0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, /* */
        0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c, /* */
        0,    0x13, 0x01, 0,    0,    6,    0,    51,
        0,    2,    0,    0x1d, /* key_share selecting X25519 */
    };
    struct bl_proof o;
    wire_scan(ch, sizeof(ch), sh, sizeof(sh), &o);
    if (o.client_hellos != 2 || o.shares != 2 || o.share_x25519 != 0 || o.server_hellos != 1 ||
        !o.hrr || !o.sh_x25519)
        die("wire_scan self-test: ClientHellos %d, shares %d, x25519 %d, ServerHellos %d, HRR %d, "
            "selected x25519 %d",
            o.client_hellos, o.shares, o.share_x25519, o.server_hellos, o.hrr, o.sh_x25519);
}
