/*
 * The connection: buffers, the record layer driver (RFC 8446 §5), alerts
 * (§6) and the application data API.  Never touches a socket.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

#define KITLS_MAX_WARNING_ALERTS 4

kitls_conn *kitls_conn_new(kitls_config *cfg)
{
    if (!cfg)
        return NULL;
    kitls_conn *c = kitls_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (!(c->hs = kitls_calloc(1, sizeof(*c->hs)))) {
        kitls_free(c);
        return NULL;
    }
    if (kitls_config_freeze(cfg)) {
        kitls_free(c->hs);
        kitls_free(c);
        return NULL;
    }
    c->cfg = kitls_config_up_ref(cfg);
    c->server = cfg->role == KITLS_ROLE_SERVER;
    c->state = kitls_hs_start_state(c->server);
    c->peer_alert = -1;
    c->peer.not_after = INT64_MAX; /* no peer certificate yet */
    c->th.store = &c->hs->th_hash; /* the transcript hash, in the handshake's memory */
    return c;
}

static void conn_drop_handshake(kitls_conn *c)
{
    kitls_th_free(&c->th); /* before c->hs: its hash state may live there */
    if (c->hs) {
        kitls_kex_free_shares(c->hs);
        kitls_wipe(c->hs, sizeof(*c->hs)); /* secrets, randoms */
        kitls_free(c->hs);
        c->hs = NULL;
    }
    kitls_ks_wipe(&c->ks);
    /* exp_master and early.exp stay: exporters work for the connection's life. */
    /* A server keeps res_master to issue tickets later; a client to turn
     * tickets into sessions. */
    kitls_free(c->ext.cookie);
    c->ext.cookie = NULL;
    kitls_free(c->cr_ctx);
    c->cr_ctx = NULL;
    wr_free(&c->hs_out);
}

void kitls_conn_free(kitls_conn *c)
{
    if (!c)
        return;
    conn_drop_handshake(c);
    kitls_rec_wipe(&c->rx);
    kitls_rec_wipe(&c->tx);
    kitls_offload_free(c->offload);
    if (c->in) {
        kitls_wipe(c->in, c->in_cap);
        kitls_free(c->in);
    }
    wr_free(&c->out);
    wr_free(&c->hs_in);
    kitls_free(c->ext.sni);
    kitls_free(c->ext.alpn);
    kitls_free(c->verify_detail);
    kitls_session_free(c->res.session);
    kitls_early_free(c);
    kitls_session_free(c->res.new_session);
    X509_free(c->peer.leaf);
    kitls_der_free(c->peer.cert);
    kitls_free(c->ocsp.resp);
    kitls_free(c->ocsp.sct_list);
    kitls_free(c->ext.peer_alpn);
    kitls_free(c->ext.peer_cas);
    EVP_PKEY_free(c->peer.key);
    kitls_stats_bytes_flush(c); /* before the config may go */
    kitls_config_free(c->cfg);
    kitls_wipe(c, sizeof(*c));
    kitls_free(c);
}

void kitls_hs_done(kitls_conn *c)
{
    /* A full handshake without a peer certificate: its sessions count
     * their age from now (RFC 8446 §4.6.1); otherwise the certificate's
     * verification (x509.c) or the resumed session set it. */
    kitls_x509_peer_done(c);
    c->established = 1; /* the Finished row leads to ST_CONNECTED */
    conn_drop_handshake(c);
    /* Keep the reassembly buffer only if it still holds bytes. */
    if (c->hs_off == c->hs_in.len) {
        wr_free(&c->hs_in);
        c->hs_off = 0;
    }
}

int kitls_conn_set_server_name(kitls_conn *c, const char *name)
{
    if (!c || !name || c->server)
        return KITLS_E_INVALID_ARG;
    if (c->state != ST_CLIENT_START)
        return KITLS_E_STATE;
    size_t n = strlen(name);
    if (n == 0 || n > 253)
        return KITLS_E_INVALID_ARG;
    char *s = kitls_strdup(name);
    if (!s)
        return KITLS_E_NOMEM;
    kitls_free(c->ext.sni);
    c->ext.sni = s;
    c->ext.sni_is_ip = kitls_name_is_ip(name);
    return 0;
}

void kitls_conn_set_user(kitls_conn *c, void *user)
{
    c->user = user;
}
void *kitls_conn_user(const kitls_conn *c)
{
    return c->user;
}

/* ---- output ---- */

size_t kitls_conn_max_fragment(const kitls_conn *c)
{
    /* RFC 8449 §4: the limit includes the content type byte in TLS 1.3. */
    size_t n = KITLS_MAX_PLAINTEXT;
    if (c->ext.peer_rsl && (size_t)c->ext.peer_rsl - 1 < n)
        n = (size_t)c->ext.peer_rsl - 1;
    if (c->max_send && c->max_send < n)
        n = c->max_send;
    return n;
}

int kitls_conn_send_record(kitls_conn *c, uint8_t type, const uint8_t *p, size_t len)
{
    size_t frag = kitls_conn_max_fragment(c);
    /* Before encryption the limit doesn't apply to our plaintext records
     * (the peer's limit arrives encrypted); use it anyway once known. */
    do {
        size_t n = len < frag ? len : frag;
        GUARD(kitls_conn_out_room(c, KITLS_REC_HDR + n + 1 + KITLS_TAG_LEN));
        uint8_t *rec = c->out.buf + c->out.len;
        if (c->tx.suite) {
            int r = c->tx.ops->seal(&c->tx, rec, p, n, type, 0);
            if (r < 0)
                return r;
            c->out.len += (size_t)r;
        } else {
            if (n)
                memcpy(rec + KITLS_REC_HDR, p, n);
            rec[0] = type;
            rec[1] = 3;
            /* The initial ClientHello MAY use 0x0301 for compatibility
             * (RFC 8446 §5.1), as TLS 1.2-era peers expect. */
            rec[2] = !c->server && c->state == ST_CLIENT_START ? 1 : 3;
            rec[3] = (uint8_t)(n >> 8);
            rec[4] = (uint8_t)n;
            c->out.len += KITLS_REC_HDR + n;
        }
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

int kitls_conn_send_ccs(kitls_conn *c)
{
    static const uint8_t ccs[6] = {CT_CCS, 3, 3, 0, 1, 1};
    if (c->ccs_sent)
        return 0;
    c->ccs_sent = 1;
    wr_put(&c->out, ccs, sizeof(ccs));
    return c->out.err;
}

int kitls_conn_hs_flush(kitls_conn *c)
{
    if (!c->hs_out.len)
        return 0;
    int ret = kitls_conn_send_record(c, CT_HANDSHAKE, c->hs_out.buf, c->hs_out.len);
    kitls_wipe(c->hs_out.buf, c->hs_out.len);
    c->hs_out.len = 0;
    return ret;
}

static void send_alert(kitls_conn *c, int desc)
{
    uint8_t a[2] = {2, (uint8_t)desc};
    if (c->alert_sent)
        return;
    c->alert_sent = 1;
    if (desc == AL_CLOSE_NOTIFY || desc == AL_USER_CANCELED)
        a[0] = 1;
    (void)kitls_conn_send_record(c, CT_ALERT, a, 2);
}

int kitls_conn_fail(kitls_conn *c, int err)
{
    if (err >= 0 || KITLS_ERR_CLASS(err) == KITLS_ERR_CLASS_STATUS) /* not fatal */
        return err;
    if (!c->error) {
        c->error = err;
        int al = kitls_error_alert(err);
        kitls_stats_hs_fail(c, err, al);
        if (al >= 0) {         /* a received alert (PEER_ALERT class) has none */
            c->hs_out.len = 0; /* never send half a flight before the alert */
            send_alert(c, al);
        }
    }
    return c->error;
}

static int handle_alert(kitls_conn *c, const uint8_t *p, size_t len)
{
    if (len != 2 || c->hs_off != c->hs_in.len)
        return len != 2 ? KITLS_E_DECODE : KITLS_E_UNEXPECTED_MESSAGE;
    if (p[1] == AL_CLOSE_NOTIFY) {
        c->read_closed = 1;
        return KITLS_E_CLOSED;
    }
    /* user_canceled is followed by close_notify (RFC 8446 §6.1); a peer
     * that sends many without making progress is cut off, as BoringSSL
     * does after 4. */
    if (p[1] == AL_USER_CANCELED && p[0] == 1)
        return ++c->warn_seen > KITLS_MAX_WARNING_ALERTS ? KITLS_E_LIMIT : 0;
    /* Any other alert is an error alert, fatal whatever its level (§6).
     * One sent at warning level is also malformed in TLS 1.3: answer it
     * with decode_error, as BoringSSL does (BoGo SendWarningAlerts-TLS13);
     * the connection ends either way. */
    if (p[0] == 1) {
        c->peer_alert = p[1];
        return KITLS_E_DECODE;
    }
    if (p[0] != 1 && p[0] != 2)
        return KITLS_E_ILLEGAL_PARAMETER;
    /* All other alerts are fatal in TLS 1.3 whatever their level (§6.2). */
    c->peer_alert = p[1];
    c->alert_sent = 1; /* never answer an alert */
    return KITLS_E_PEER_ALERT(p[1]);
}

static int handle_ccs(kitls_conn *c, const uint8_t *p, size_t len)
{
    /* A single 0x01 byte between the first ClientHello and the peer's
     * Finished is dropped (RFC 8446 §5, middlebox compatibility). */
    int before_first =
        c->server ? c->state == ST_SERVER_WAIT_CH && !c->did_hrr : c->state == ST_CLIENT_START;
    if (len != 1 || p[0] != 1 || c->established || before_first)
        return KITLS_E_UNEXPECTED_MESSAGE;
    if (++c->ccs_seen > c->cfg->limits.max_ccs + (c->did_hrr ? 1u : 0u))
        return KITLS_E_LIMIT;
    return 0;
}

/* A protected record of len bytes at rec (offset rec_off in c->in).  In
 * kitls_conn_read(), when the reader's buffer can hold the content, the
 * record is decrypted straight into it; else in place. */
#if defined(__GNUC__) || defined(__clang__)
/* Inlined into both callers: a call per record costs the 1 KiB record
 * gate (bench/ab.sh) more than its margin. */
__attribute__((always_inline))
#endif
static inline int
open_record(kitls_conn *c, uint8_t *rec, size_t rec_off, size_t len)
{
    size_t n = len > KITLS_TAG_LEN ? len - KITLS_TAG_LEN : 0; /* inner plaintext */
    uint8_t *dst = NULL, type;
    size_t k = 0, plen;
    /* Into the reader's buffer when it holds the inner plaintext, or all
     * but the type byte of a large record: the type byte then needs a
     * second AEAD call (some 350 instructions), cheaper than copying and
     * wiping more than 2 KiB but not less. */
    if (c->rd_buf && !c->app_len && (c->rd_len >= n || (c->rd_len + 1 == n && n > 2048))) {
        dst = c->rd_buf;
        k = c->rd_len < n ? c->rd_len : n;
    }
    int ret = c->rx.ops->open(&c->rx, rec, len, dst, k, &type, &plen);
    /* A server that rejected 0-RTT skips what fails to decrypt, up to
     * a budget (RFC 8446 §4.2.10). */
    if (ret == KITLS_E_BAD_RECORD_MAC && kitls_early_skip(c, len))
        return 0;
    size_t end = rec_off + KITLS_REC_HDR + n;
    if (dst && k < n) /* the content type, decrypted in place */
        kitls_wipe(rec + KITLS_REC_HDR + k, n - k);
    else if (!dst && end > c->in_dirty)
        c->in_dirty = end;
    if (ret) {
        if (dst) /* authenticated but refused (e.g. all padding): not data */
            kitls_wipe(dst, k);
        return ret;
    }
    if (c->early.skip) /* kitls_early_skip_end(), without a call per record */
        kitls_early_skip_end(c);
    if (!dst)
        return type == CT_CCS ? KITLS_E_UNEXPECTED_MESSAGE
                              : kitls_conn_process_plain(c, type, rec + KITLS_REC_HDR, plen,
                                                         rec_off + KITLS_REC_HDR);
    ret = type == CT_CCS ? KITLS_E_UNEXPECTED_MESSAGE
                         : kitls_conn_process_plain(c, type, dst, plen, KITLS_AT_READER);
    if (type != CT_APPDATA) /* not for the reader: a post-handshake message or alert */
        kitls_wipe(dst, k);
    return ret;
}

/*
 * Take the next complete record from the input and process it.  Returns 0
 * after a record was consumed, KITLS_E_WANT_READ if none is complete, or
 * an error.  Application data is left at c->app_off/app_len.
 */
static int process_record(kitls_conn *c)
{
    size_t avail = c->in_len - c->in_start;
    if (avail < KITLS_REC_HDR)
        return KITLS_E_WANT_READ;
    uint8_t *rec = c->in + c->in_start;
    uint8_t type = rec[0];
    size_t len = (size_t)rec[3] << 8 | rec[4];
    if (rec[1] != 3)
        return KITLS_E_DECODE;
    if (type < CT_CCS || type > CT_APPDATA)
        return KITLS_E_UNEXPECTED_MESSAGE;
    /* 0-RTT records skipped after a HelloRetryRequest are ciphertext too. */
    if (len > ((c->rx.suite || c->early.skip) && type == CT_APPDATA ? KITLS_MAX_CIPHERTEXT
                                                                    : KITLS_MAX_PLAINTEXT))
        return KITLS_E_RECORD_OVERFLOW;
    if (avail < KITLS_REC_HDR + len)
        return KITLS_E_WANT_READ;
    size_t rec_off = c->in_start;
    c->in_start += KITLS_REC_HDR + len;
    uint8_t *p = rec + KITLS_REC_HDR;

    if (type == CT_CCS)
        return handle_ccs(c, p, len);
    /* A peer that fails during our first flight may still send its alert
     * in plaintext (it had not switched keys yet; OpenSSL's client does).
     * RFC 8446 §5 wants it protected, but an alert only ends a connection
     * an attacker could cut anyway, so it is read and reported. */
    if (c->rx.suite && type == CT_ALERT && !c->established && c->rx.seq == 0 && len == 2 &&
        c->hs_off == c->hs_in.len)
        return handle_alert(c, p, len);
    if (c->rx.suite) {
        if (type != CT_APPDATA)
            return KITLS_E_UNEXPECTED_MESSAGE;
        return open_record(c, rec, rec_off, len);
    } else if (type == CT_APPDATA) {
        /* After a HelloRetryRequest, early data arrives before ClientHello2.
         * Without a skip budget even an empty record is unexpected (§5.1). */
        if (kitls_early_skip(c, len))
            return 0;
        /* Past the skip budget, a 0-RTT record is one we cannot deprotect
         * (§5.2), as without a HelloRetryRequest. */
        return c->early.skip ? KITLS_E_BAD_RECORD_MAC : KITLS_E_UNEXPECTED_MESSAGE;
    } else if (type == CT_HANDSHAKE) {
        /* ClientHello2 has begun: 0-RTT records end before it (§4.2.10),
         * and nothing may be interleaved with its records (§5.1). */
        kitls_early_skip_end(c);
    }
    return kitls_conn_process_plain(c, type, p, len, rec_off + KITLS_REC_HDR);
}

/* A record's plaintext, by content type.  `at` is the plaintext's offset
 * in c->in (application data stays there until read), or KITLS_AT_READER
 * when it was decrypted into kitls_conn_read()'s buffer. */
int kitls_conn_process_plain(kitls_conn *c, uint8_t type, const uint8_t *p, size_t len, size_t at)
{
    /* Any non-handshake record in the middle of a handshake message is a
     * protocol violation (§5.1). */
    if (type != CT_HANDSHAKE && c->hs_off != c->hs_in.len)
        return KITLS_E_UNEXPECTED_MESSAGE;
    if (len == 0 && type != CT_APPDATA)
        return KITLS_E_UNEXPECTED_MESSAGE;

    switch (type) {
    case CT_ALERT: return handle_alert(c, p, len);
    case CT_HANDSHAKE:
        c->empty_seen = 0;
        c->warn_seen = 0;
        if (c->hs_off == c->hs_in.len)
            c->hs_off = c->hs_in.len = 0;
        if (c->hs_in.len - c->hs_off + len > (size_t)c->cfg->limits.max_handshake_message + 4)
            return KITLS_E_LIMIT;
        wr_put(&c->hs_in, p, len);
        if (c->hs_in.err)
            return c->hs_in.err;
        return kitls_hs_process(c);
    case CT_APPDATA:
        if (!c->established && c->state == ST_SERVER_WAIT_EOED) {
            if (at == KITLS_AT_READER) /* kitls_conn_read() needs a connection */
                return KITLS_E_INTERNAL;
            /* 0-RTT data, bounded by max_early_data_size (§4.2.10). */
            GUARD(kitls_early_recv(c, len));
            if (!len)
                return 0;
            c->stat_bytes[KITLS_STATS_RECEIVED] += len; /* kitls_stats, as it is opened */
            c->app_off = at;
            c->app_len = len;
            return 0;
        }
        if (!c->established)
            return KITLS_E_UNEXPECTED_MESSAGE;
        if (len == 0) {
            if (++c->empty_seen > c->cfg->limits.max_empty_records)
                return KITLS_E_LIMIT;
            return 0;
        }
        c->stat_bytes[KITLS_STATS_RECEIVED] += len; /* kitls_stats, as it is opened */
        c->empty_seen = 0;
        c->warn_seen = 0;
        c->ku_seen = 0;
        if (c->early.app) /* kitls_early_recv_done(), without a call per record */
            kitls_early_recv_done(c);
        if (at == KITLS_AT_READER) {
            c->rd_got = len;
            return 0;
        }
        c->app_off = at;
        c->app_len = len;
        return 0;
    }
    return KITLS_E_UNEXPECTED_MESSAGE;
}

int kitls_conn_handshake(kitls_conn *c)
{
    if (!c)
        return KITLS_E_INVALID_ARG;
    if (c->error)
        return c->error;
    if (c->established)
        return 0;
    int ret = 0;
    if (c->state == ST_CLIENT_START)
        ret = kitls_hs_client_start(c);
    while (!ret && !c->established) {
        /* 0-RTT data to read first, or an anti-replay answer awaited. */
        if ((ret = kitls_early_hold(c)) != 0)
            break;
        ret = process_record(c);
    }
    if (ret == KITLS_E_WANT_READ && c->eof)
        ret = KITLS_E_EOF;
    if (ret == KITLS_E_CLOSED)
        ret = KITLS_E_UNEXPECTED_MESSAGE; /* close_notify before the end of the handshake */
    if (!ret)
        kitls_conn_settle(c);
    if (ret && ret != KITLS_E_WANT_READ && ret != KITLS_E_EARLY_DATA)
        return kitls_conn_fail(c, ret);
    return ret;
}

void kitls_conn_set_eof(kitls_conn *c)
{
    if (c)
        c->eof = 1;
}

int kitls_conn_key_update(kitls_conn *c, int request_peer)
{
    if (!c)
        return KITLS_E_INVALID_ARG;
    if (c->error)
        return c->error;
    if (!c->established || c->write_closed)
        return KITLS_E_STATE;
    int ret = kitls_hs_send_key_update(c, request_peer);
    return ret ? kitls_conn_fail(c, ret) : 0;
}

int kitls_conn_send_alert(kitls_conn *c, int description)
{
    if (!c || description < 0 || description > 255)
        return KITLS_E_INVALID_ARG;
    if (!c->error) {
        kitls_stats_hs_fail(c, KITLS_E_STATE, description);
        c->error = KITLS_E_STATE;
        send_alert(c, description);
    }
    return 0;
}

int kitls_conn_is_established(const kitls_conn *c)
{
    return c->established;
}

/* The records up to the next application data, which lands in buf
 * (decrypted there, see open_record) or waits in c->in. */
static int read_records(kitls_conn *c)
{
    while (!c->app_len && !c->rd_got) {
        if (c->read_closed)
            return KITLS_E_CLOSED;
        int ret = process_record(c);
        if (ret == KITLS_E_WANT_READ && c->eof)
            return kitls_conn_fail(c, KITLS_E_EOF);
        if (ret == KITLS_E_CLOSED || ret == KITLS_E_WANT_READ)
            return ret;
        if (ret)
            return kitls_conn_fail(c, ret);
    }
    return 0;
}

int kitls_conn_read(kitls_conn *c, uint8_t *buf, size_t len)
{
    if (!c || (!buf && len))
        return KITLS_E_INVALID_ARG;
    if (c->error)
        return c->error;
    if (!c->established)
        return KITLS_E_STATE;
    if (c->rx.ops->app_err) /* the kernel reads this direction's data */
        return c->rx.ops->app_err;
    c->rd_buf = len ? buf : NULL;
    c->rd_len = len < INT32_MAX ? len : INT32_MAX;
    int ret = read_records(c);
    c->rd_buf = NULL;
    if (!ret && c->rd_got) {
        ret = (int)c->rd_got;
        c->rd_got = 0;
    } else if (!ret) {
        ret = kitls_conn_take_app(c, buf, len);
    }
    /* What kitls_conn_settle() would free, checked here first: it runs
     * once per record read. */
    if ((c->out.buf && c->out.len == c->out_off) || c->hs_in.buf)
        kitls_conn_settle(c);
    else if (c->in && !c->app_len && c->in_start == c->in_len)
        kitls_conn_in_drop(c);
    return ret;
}

/* kitls_conn_read_from() may decrypt the caller's next record directly:
 * nothing is buffered or pending and the record layer is ours. */
static int wire_direct(const kitls_conn *c)
{
    return c->established && !c->error && !c->read_closed && !c->rx.ops->app_err && !c->app_len &&
           !c->rd_got && (!c->in || c->in_start == c->in_len);
}

int kitls_conn_read_from(kitls_conn *c, const uint8_t *in, size_t in_len, size_t *consumed,
                         uint8_t *out, size_t out_len)
{
    if (!c || !consumed || (!in && in_len) || (!out && out_len))
        return KITLS_E_INVALID_ARG;
    size_t off = 0;
    int ret = 0;
    *consumed = 0;
    if (c->error)
        return c->error;
    /* Whole application-data records whose inner plaintext fits in out
     * (RFC 8446 §5.2) go through open_record() from the caller's bytes,
     * which are only read: with the whole plaintext in out, nothing is
     * decrypted in place (AEAD finals write nothing).  Anything else takes
     * the buffered path below, so errors and alerts are the same. */
    while (wire_direct(c) && in_len - off >= KITLS_REC_HDR) {
        const uint8_t *rec = in + off;
        size_t len = (size_t)rec[3] << 8 | rec[4];
        if (rec[0] != CT_APPDATA || rec[1] != 3 || len > KITLS_MAX_CIPHERTEXT ||
            len <= KITLS_TAG_LEN || len - KITLS_TAG_LEN > out_len ||
            in_len - off - KITLS_REC_HDR < len)
            break;
        off += KITLS_REC_HDR + len;
        c->rd_buf = out;
        c->rd_len = out_len < INT32_MAX ? out_len : INT32_MAX;
        ret = open_record(c, (uint8_t *)(uintptr_t)rec, 0, len);
        c->rd_buf = NULL;
        if (ret || c->rd_got)
            break;
    }
    *consumed = off;
    if (ret == KITLS_E_CLOSED)
        return ret;
    if (ret)
        return kitls_conn_fail(c, ret);
    if (c->rd_got) {
        ret = (int)c->rd_got;
        c->rd_got = 0;
        kitls_conn_settle(c);
        return ret;
    }
    if (in_len > off)
        GUARD(kitls_conn_feed(c, in + off, in_len - off));
    *consumed = in_len;
    return kitls_conn_read(c, out, out_len);
}

int kitls_conn_take_app(kitls_conn *c, uint8_t *buf, size_t len)
{
    size_t n = len < c->app_len ? len : c->app_len;
    if (n > INT32_MAX)
        n = INT32_MAX;
    memcpy(buf, c->in + c->app_off, n);
    c->app_off += n;
    c->app_len -= n;
    return (int)n;
}

int kitls_conn_write(kitls_conn *c, const uint8_t *buf, size_t len)
{
    if (!c || (!buf && len) || len > INT32_MAX)
        return KITLS_E_INVALID_ARG;
    if (c->error)
        return c->error;
    /* A server that accepted 0-RTT may send 0.5-RTT data once its
     * Finished is out, before the client's (RFC 8446 §2.3, §4.4.4): its
     * sending keys are then the application traffic keys. */
    int half_rtt = c->server && c->early.status == KITLS_EARLY_ACCEPTED &&
                   (c->state == ST_SERVER_WAIT_EOED || c->state == ST_SERVER_WAIT_FIN);
    if ((!c->established && !half_rtt) || c->write_closed)
        return KITLS_E_STATE;
    if (c->tx.ops->app_err) /* the kernel writes this direction's data */
        return c->tx.ops->app_err;
    if (!len)
        return 0;
    size_t frag = kitls_conn_max_fragment(c), left = len;
    /* Room for all the records (and a KeyUpdate) at once. */
    size_t nrec = (len + frag - 1) / frag;
    /* Rekey before the AEAD usage limit (RFC 8446 §5.5), never below 2^24
     * records unless configured: far from it, no need to look it up. */
    uint64_t limit = UINT64_MAX;
    if (c->cfg->key_update_limit || c->tx.seq + nrec + 1 >= (1ull << 24)) {
        limit = kitls_conn_key_update_limit(c);
        if (!limit)
            limit = 1ull << 24;
    }
    int ret = kitls_conn_out_room(c, len + (nrec + 1) * (KITLS_REC_HDR + 1 + KITLS_TAG_LEN) + 8);
    while (!ret && left) {
        size_t n = left < frag ? left : frag;
        if (c->tx.seq + 1 >= limit)
            ret = kitls_hs_send_key_update(c, 0);
        /* The room is there (above): seal straight into it. */
        if (!ret && c->tx.suite &&
            c->out.cap - c->out.len >= KITLS_REC_HDR + n + 1 + KITLS_TAG_LEN) {
            ret = c->tx.ops->seal(&c->tx, c->out.buf + c->out.len, buf, n, CT_APPDATA, 0);
            if (ret > 0)
                c->out.len += (size_t)ret, ret = 0;
        } else if (!ret) {
            ret = kitls_conn_send_record(c, CT_APPDATA, buf, n);
        }
        c->ku_answered = 0;
        buf += n;
        left -= n;
    }
    if (ret)
        return kitls_conn_fail(c, ret);
    kitls_stats_sent(c, len);
    return (int)len;
}

int kitls_conn_close(kitls_conn *c)
{
    if (!c)
        return KITLS_E_INVALID_ARG;
    if (c->write_closed || c->error)
        return c->error;
    c->write_closed = 1;
    send_alert(c, AL_CLOSE_NOTIFY);
    return 0;
}

unsigned kitls_conn_wants(const kitls_conn *c)
{
    unsigned w = 0;
    if (c->out.len > c->out_off)
        w |= KITLS_WANT_WRITE;
    if (!c->error && !c->read_closed && !c->app_len)
        w |= KITLS_WANT_READ;
    return w;
}
