/*
 * Fuzz target: ticket decryption and PSK resumption on the server
 * (RFC 8446 §4.2.11, §4.6.1).  A server with a fixed ticket key (server
 * variant 3: tickets, 0-RTT) receives a real client's ClientHello whose
 * PSK identity comes from the input:
 *   mode 0:  psk(32) identity...   the identity as is (e.g. a real ticket)
 *   mode 1:  plaintext...          sealed by the harness under the fixed
 *            key, so mutated ticket contents reach the session parser;
 *            the client's PSK is taken from the plaintext when it parses
 *            far enough (then the binder verifies)
 * The client offers the PSK with 0-RTT data, and the handshake is run to
 * its end when the server accepts.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TICKET_NONCE_LEN 12

/* The ticket format of session.c: id(4) nonce(12) AES-256-GCM(plaintext) tag(16). */
static uint8_t *seal_ticket(const uint8_t *pt, size_t n, size_t *len)
{
    uint8_t *t = malloc(4 + TICKET_NONCE_LEN + n + 16);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l = 0, ok = t && x;
    if (ok) {
        memcpy(t, fz_ticket_key.id, 4);
        memset(t + 4, 0x5a, TICKET_NONCE_LEN);
        ok = EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, fz_ticket_key.key, t + 4) &&
             EVP_EncryptUpdate(x, NULL, &l, t, 4 + TICKET_NONCE_LEN) &&
             EVP_EncryptUpdate(x, t + 16, &l, pt, (int)n) &&
             EVP_EncryptFinal_ex(x, t + 16 + l, &l) &&
             EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, t + 16 + n);
    }
    EVP_CIPHER_CTX_free(x);
    if (!ok) {
        free(t);
        return NULL;
    }
    *len = 4 + TICKET_NONCE_LEN + n + 16;
    return t;
}

static void run(const uint8_t *psk, size_t psk_len, uint16_t suite, uint32_t age_add,
                const uint8_t *ticket, size_t ticket_len)
{
    struct fz_side cs, ss;
    kitls_conn *srv = fz_cut_new(&ss, 1, 3);
    fz_side_reset(&cs, "ticket-client");
    kitls_config *ccfg = fz_client_config(&cs, 2);
    kitls_conn *cli = fz_conn(&cs, ccfg, 2);
    kitls_session *sess = calloc(1, sizeof(*sess));
    if (!sess || !(sess->ticket = malloc(ticket_len))) {
        free(sess);
        goto out;
    }
    sess->refs = 1;
    sess->suite = suite;
    sess->psk_len = (uint8_t)psk_len;
    memcpy(sess->psk, psk, psk_len);
    memcpy(sess->ticket, ticket, ticket_len);
    sess->ticket_len = ticket_len;
    sess->age_add = age_add;
    sess->lifetime = 7200;
    sess->max_early = 16384;
    sess->received = FZ_T0;
    snprintf(sess->sni, sizeof(sess->sni), "%s", FZ_SNI);
    sess->peer_auth = 1; /* as if its server was verified: a verifying client offers it */
    /* ... by this very config, just now, with no expiry: a client offers
     * only a fresh session of its own verification policy. */
    sess->auth_time = FZ_T0;
    sess->not_after = INT64_MAX;
    memcpy(sess->ctx, ccfg->sess_ctx, sizeof(sess->ctx));
    if (kitls_conn_set_session(cli, sess) == 0)
        fz_write_early(cli);
    kitls_session_free(sess);
    /* Both ways until nothing moves. */
    for (int round = 0; round < 8; round++) {
        const uint8_t *p;
        fz_drive(&cs, cli, 1);
        size_t n = kitls_conn_out_peek(cli, &p), moved = n;
        fz_use(&ss);
        if (n && kitls_conn_feed(srv, p, n) == 0)
            kitls_conn_out_consume(cli, n);
        fz_drive(&ss, srv, 1);
        n = kitls_conn_out_peek(srv, &p);
        moved += n;
        fz_use(&cs);
        if (n && kitls_conn_feed(cli, p, n) == 0)
            kitls_conn_out_consume(srv, n);
        if (!moved || srv->error)
            break;
    }
out:
    kitls_conn_free(cli);
    kitls_config_free(ccfg);
    fz_cut_free(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t fixed[32] = {1, 2, 3, 4};
    fz_init();
    fz_planted(data, size);
    if (size < 2 || size > 60000)
        return 0;
    if (!(data[0] & 1)) {
        if (size < 34)
            return 0;
        run(data + 1, 32, KITLS_AES_128_GCM_SHA256, 0, data + 33, size - 33);
        return 0;
    }
    /* Plaintext: format(1) suite(2) psk_len(1) psk... (session.c). */
    const uint8_t *pt = data + 1;
    size_t n = size - 1, t_len;
    const uint8_t *psk = fixed;
    size_t psk_len = 32;
    uint16_t suite = KITLS_AES_128_GCM_SHA256;
    uint32_t age_add = 0;
    if (n >= 4 && (pt[3] == 32 || pt[3] == 48) && n >= 4 + (size_t)pt[3]) {
        suite = (uint16_t)(pt[1] << 8 | pt[2]);
        psk = pt + 4;
        psk_len = pt[3];
        if (n >= 8 + psk_len) {
            const uint8_t *a = pt + 4 + psk_len;
            age_add = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
        }
    }
    uint8_t *t = seal_ticket(pt, n, &t_len);
    if (t)
        run(psk, psk_len, suite, age_add, t, t_len);
    free(t);
    return 0;
}

static void put_seed(const char *dir, const char *name, uint8_t mode, const uint8_t *a, size_t an,
                     const uint8_t *b, size_t bn)
{
    struct fz_buf f = {0};
    fz_buf_put(&f, &mode, 1);
    fz_buf_put(&f, a, an);
    fz_buf_put(&f, b, bn);
    fz_write_file(dir, name, f.p, f.len);
    fz_buf_free(&f);
}

void fz_write_seeds(const char *dir)
{
    size_t n = 0;
    uint8_t *b = fz_make_session(&n);
    kitls_session *s = b ? kitls_session_from_bytes(b, n) : NULL;
    if (!s)
        abort();
    /* mode 0: the real ticket with its PSK. */
    put_seed(dir, "0-real-ticket", 0, s->psk, 32, s->ticket, s->ticket_len);
    /* mode 1: the real ticket's plaintext (opened with the fixed key). */
    uint8_t pt[1024];
    size_t pn = s->ticket_len - 4 - TICKET_NONCE_LEN - 16;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l = 0;
    if (pn > sizeof(pt) || !x ||
        !EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, fz_ticket_key.key, s->ticket + 4) ||
        !EVP_DecryptUpdate(x, NULL, &l, s->ticket, 4 + TICKET_NONCE_LEN) ||
        !EVP_DecryptUpdate(x, pt, &l, s->ticket + 16, (int)pn) ||
        !EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, s->ticket + 16 + pn) ||
        !EVP_DecryptFinal_ex(x, pt + l, &l))
        abort();
    EVP_CIPHER_CTX_free(x);
    put_seed(dir, "1-ticket-plaintext", 1, pt, pn, NULL, 0);
    kitls_session_free(s);
    free(b);
}
