/*
 * Offload: once a direction's keys are in the kernel (kTLS), the core no
 * longer protects or unprotects its records but still speaks the
 * post-handshake protocol: it produces KeyUpdate, NewSessionTicket and
 * alert records in plaintext for the caller to send with their record
 * type, and consumes the non-data records the kernel delivers.  Here are
 * the record row for such a direction and the object (kitls_offload) the
 * caller drives it with.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

/* The post-handshake side of a connection, for the caller that holds the
 * keys of one or both directions (include/kitls/kitls.h). */
struct kitls_offload {
    kitls_conn *c;
};

/* ---- the "offloaded" record row ---- */

/* The kernel protects this direction's records from now on: keep the
 * secret, key and iv (KeyUpdate derives the next ones for the kernel), drop
 * the cipher context (about 1.2 KB with AES-GCM). */
static int off_keys(struct kitls_rec_dir *d, int encrypt)
{
    (void)encrypt;
    EVP_CIPHER_CTX_free(d->ctx);
    d->ctx = NULL;
    return 0;
}

/* A control record for the caller to send with its type: the header
 * carries the real type and plaintext length (kitls_offload_out_record). */
static int off_seal(struct kitls_rec_dir *d, uint8_t *rec, const uint8_t *src, size_t len,
                    uint8_t type, size_t pad)
{
    (void)d;
    (void)pad;
    if (len > KITLS_MAX_PLAINTEXT)
        return KITLS_E_INTERNAL;
    if (len && src != rec + KITLS_REC_HDR)
        memcpy(rec + KITLS_REC_HDR, src, len);
    rec[0] = type;
    rec[1] = 3;
    rec[2] = 3;
    rec[3] = (uint8_t)(len >> 8);
    rec[4] = (uint8_t)len;
    return (int)(KITLS_REC_HDR + len);
}

/* The kernel reads this direction: no record reaches the core's input
 * (kitls_offload_feed_record hands over plaintext). */
static int off_open(struct kitls_rec_dir *d, uint8_t *rec, size_t len, uint8_t *dst, size_t k,
                    uint8_t *type, size_t *out_len)
{
    (void)d, (void)rec, (void)len, (void)dst, (void)k, (void)type, (void)out_len;
    return KITLS_E_STATE;
}

/* The kernel needs the new keys: TX once the KeyUpdate ending at `end`
 * has been sent under the old ones, RX before it decrypts again. */
static void off_rekeyed(struct kitls_rec_dir *d, size_t end)
{
    d->rekey_pending = 1;
    d->rekey_end = end;
}

const struct kitls_rec_ops kitls_rec_offloaded = {
    .keys = off_keys,
    .seal = off_seal,
    .open = off_open,
    .rekeyed = off_rekeyed,
    .app_err = KITLS_E_STATE,
};

/* ---- the object ---- */

int kitls_offload_get(kitls_conn *c, kitls_offload **out)
{
    if (!c || !out)
        return KITLS_E_INVALID_ARG;
    /* A failed connection keeps it: its alert still has to leave. */
    if (!c->established)
        return KITLS_E_STATE;
    if (!c->offload) {
        if (!(c->offload = kitls_calloc(1, sizeof(*c->offload))))
            return KITLS_E_NOMEM;
        c->offload->c = c;
    }
    *out = c->offload;
    return 0;
}

void kitls_offload_free(struct kitls_offload *o)
{
    kitls_free(o);
}

static struct kitls_rec_dir *dir_of(kitls_conn *c, enum kitls_dir dir)
{
    return dir == KITLS_DIR_TX ? &c->tx : &c->rx;
}

/* 1 if the core still holds received bytes the kernel would not see. */
static int rx_buffered(const kitls_conn *c)
{
    return c->app_len || c->in_start != c->in_len || c->hs_off != c->hs_in.len;
}

int kitls_offload_export_keys(kitls_offload *o, enum kitls_dir dir, struct kitls_traffic_keys *out)
{
    if (!o || !out || (dir != KITLS_DIR_TX && dir != KITLS_DIR_RX))
        return KITLS_E_INVALID_ARG;
    kitls_conn *c = o->c;
    if (c->error)
        return KITLS_E_STATE;
    struct kitls_rec_dir *d = dir_of(c, dir);
    if (dir == KITLS_DIR_RX && rx_buffered(c))
        return KITLS_E_STATE;
    memset(out, 0, sizeof(*out));
    if (dir == KITLS_DIR_RX)
        d->rekey_pending = 0;
    out->suite = d->suite->id;
    out->key_len = d->suite->key_len;
    out->iv_len = KITLS_IV_LEN;
    memcpy(out->key, d->key, d->suite->key_len);
    memcpy(out->iv, d->iv, KITLS_IV_LEN);
    out->seq = d->seq;
    return 0;
}

int kitls_offload_start(kitls_offload *o, enum kitls_dir dir)
{
    if (!o || (dir != KITLS_DIR_TX && dir != KITLS_DIR_RX))
        return KITLS_E_INVALID_ARG;
    kitls_conn *c = o->c;
    if (c->error)
        return c->error;
    /* Bytes already sealed by us must reach the wire first; received
     * bytes must be read first (the kernel continues after them). */
    if (dir == KITLS_DIR_TX ? c->out.len != c->out_off : rx_buffered(c))
        return KITLS_E_STATE;
    struct kitls_rec_dir *d = dir_of(c, dir);
    d->ops = &kitls_rec_offloaded;
    GUARD(d->ops->keys(d, dir == KITLS_DIR_TX));
    if (dir == KITLS_DIR_RX) /* the receive buffer is the kernel's now */
        kitls_conn_in_drop(c);
    return 0;
}

/* The one place that asks which row a direction has (the public query
 * and the preconditions of the calls below). */
static int handed(const kitls_conn *c, enum kitls_dir dir)
{
    return (dir == KITLS_DIR_TX ? c->tx.ops : c->rx.ops) == &kitls_rec_offloaded;
}

int kitls_offload_is_offloaded(const kitls_offload *o, enum kitls_dir dir)
{
    return handed(o->c, dir);
}

/* The queued control record at the head of the output, if TX is the
 * kernel's (only then is the output plaintext records). */
static const uint8_t *tx_head(const kitls_conn *c, size_t *end)
{
    if (!handed(c, KITLS_DIR_TX) || c->out.len - c->out_off < KITLS_REC_HDR)
        return NULL;
    const uint8_t *r = c->out.buf + c->out_off;
    *end = c->out_off + KITLS_REC_HDR + ((size_t)r[3] << 8 | r[4]);
    return r;
}

int kitls_offload_out_record(kitls_offload *o, uint8_t *type, const uint8_t **data, size_t *len,
                             int *rekey)
{
    size_t end;
    const uint8_t *r = tx_head(o->c, &end);
    if (!r)
        return 0;
    *type = r[0];
    *data = r + KITLS_REC_HDR;
    *len = end - o->c->out_off - KITLS_REC_HDR;
    *rekey = o->c->tx.rekey_pending && o->c->tx.rekey_end == end;
    return 1;
}

void kitls_offload_out_record_done(kitls_offload *o)
{
    kitls_conn *c = o->c;
    size_t end;
    if (!tx_head(c, &end))
        return;
    if (c->tx.rekey_pending && c->tx.rekey_end == end)
        c->tx.rekey_pending = 0;
    c->out_off = end;
    if (c->out_off == c->out.len) {
        kitls_conn_out_taken(c);
        /* The marker is an absolute offset: none can remain past the end. */
        c->tx.rekey_pending = 0;
    }
}

int kitls_offload_feed_record(kitls_offload *o, uint8_t type, const uint8_t *data, size_t len)
{
    if (!o || (!data && len))
        return KITLS_E_INVALID_ARG;
    kitls_conn *c = o->c;
    if (c->error)
        return c->error;
    if (!handed(c, KITLS_DIR_RX))
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

int kitls_offload_rx_rekey_pending(const kitls_offload *o)
{
    return o->c->rx.rekey_pending;
}

/* What a non-empty application_data record resets in userspace
 * (kitls_conn_process_plain): the kernel saw one for us. */
void kitls_offload_rx_data_seen(kitls_offload *o)
{
    if (!o || !handed(o->c, KITLS_DIR_RX))
        return;
    o->c->empty_seen = 0;
    o->c->warn_seen = 0;
    o->c->ku_seen = 0;
}

int kitls_offload_key_update(kitls_offload *o, int request_peer)
{
    return o ? kitls_conn_key_update(o->c, request_peer) : KITLS_E_INVALID_ARG;
}

int kitls_offload_send_alert(kitls_offload *o, int description)
{
    return o ? kitls_conn_send_alert(o->c, description) : KITLS_E_INVALID_ARG;
}

int kitls_offload_close(kitls_offload *o)
{
    return o ? kitls_conn_close(o->c) : KITLS_E_INVALID_ARG;
}

kitls_session *kitls_offload_session(kitls_offload *o)
{
    return o ? kitls_conn_get_session(o->c) : NULL;
}

uint64_t kitls_offload_key_update_limit(const kitls_offload *o)
{
    return kitls_conn_key_update_limit(o->c);
}

size_t kitls_offload_max_send_fragment(const kitls_offload *o)
{
    return kitls_conn_max_fragment(o->c);
}
