/*
 * Offload: once a direction's keys are in the kernel (kTLS), the core no
 * longer protects or unprotects its records but still speaks the
 * post-handshake protocol: it produces KeyUpdate, NewSessionTicket and
 * alert records in plaintext for the caller to send with their record
 * type, and consumes the non-data records the kernel delivers.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

/* The kernel protects this direction's records from now on: keep the
 * secret, key and iv (KeyUpdate derives the next ones for the kernel), drop
 * the cipher context (about 1.2 KB with AES-GCM). */
static void rec_drop_cipher(struct kitls_rec_dir *d)
{
    EVP_CIPHER_CTX_free(d->ctx);
    d->ctx = NULL;
    d->keys_only = 1;
}

int kitls_conn_offload(kitls_conn *c, enum kitls_dir dir)
{
    if (!c || (dir != KITLS_DIR_TX && dir != KITLS_DIR_RX))
        return KITLS_E_INVALID_ARG;
    if (c->error)
        return c->error;
    if (!c->established)
        return KITLS_E_STATE;
    if (dir == KITLS_DIR_TX) {
        /* Bytes already sealed by us must reach the wire first. */
        if (c->out.len != c->out_off)
            return KITLS_E_STATE;
        c->tx_off = 1;
        rec_drop_cipher(&c->tx);
        return 0;
    }
    if (c->app_len || c->in_start != c->in_len || c->hs_off != c->hs_in.len)
        return KITLS_E_STATE;
    c->rx_off = 1;
    rec_drop_cipher(&c->rx);
    /* The receive buffer is the kernel's now. */
    if (c->in) {
        OPENSSL_cleanse(c->in, c->in_cap);
        free(c->in);
    }
    c->in = NULL;
    c->in_cap = c->in_len = c->in_start = 0;
    return 0;
}

int kitls_conn_is_offloaded(const kitls_conn *c, enum kitls_dir dir)
{
    return dir == KITLS_DIR_TX ? c->tx_off : c->rx_off;
}

int kitls_conn_out_record(kitls_conn *c, uint8_t *type, const uint8_t **data, size_t *len,
                          int *rekey)
{
    if (!c->tx_off || c->out.len - c->out_off < KITLS_REC_HDR)
        return 0;
    const uint8_t *r = c->out.buf + c->out_off;
    size_t n = (size_t)r[3] << 8 | r[4];
    *type = r[0];
    *data = r + KITLS_REC_HDR;
    *len = n;
    *rekey = c->n_rekey && c->rekey_at[0] == c->out_off + KITLS_REC_HDR + n;
    return 1;
}

void kitls_conn_out_record_done(kitls_conn *c)
{
    if (!c->tx_off || c->out.len - c->out_off < KITLS_REC_HDR)
        return;
    const uint8_t *r = c->out.buf + c->out_off;
    size_t end = c->out_off + KITLS_REC_HDR + ((size_t)r[3] << 8 | r[4]);
    if (c->n_rekey && c->rekey_at[0] == end) {
        memmove(c->rekey_at, c->rekey_at + 1, (c->n_rekey - 1) * sizeof(c->rekey_at[0]));
        c->n_rekey--;
    }
    c->out_off = end;
    if (c->out_off == c->out.len) {
        c->out.len = c->out_off = 0;
        /* Markers are absolute offsets: none can remain past the end. */
        c->n_rekey = 0;
    }
}

int kitls_conn_feed_record(kitls_conn *c, uint8_t type, const uint8_t *data, size_t len)
{
    if (!c || (!data && len))
        return KITLS_E_INVALID_ARG;
    if (c->error)
        return c->error;
    if (!c->rx_off)
        return KITLS_E_STATE;
    if (len > KITLS_MAX_PLAINTEXT)
        return kitls_conn_fail(c, KITLS_E_RECORD_OVERFLOW);
    if (type != CT_HANDSHAKE && type != CT_ALERT)
        return kitls_conn_fail(c, KITLS_E_UNEXPECTED_MESSAGE);
    int ret = kitls_conn_process_plain(c, type, data, len, 0);
    if (ret && ret != KITLS_E_CLOSED)
        return kitls_conn_fail(c, ret);
    return ret;
}

int kitls_conn_rx_rekey_pending(const kitls_conn *c)
{
    return c->rx_rekey;
}

/* What a non-empty application_data record resets in userspace
 * (kitls_conn_process_plain): the kernel saw one for us. */
void kitls_conn_rx_data_seen(kitls_conn *c)
{
    if (!c || !c->rx_off)
        return;
    c->empty_seen = 0;
    c->warn_seen = 0;
    c->ku_seen = 0;
}
