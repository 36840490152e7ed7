/*
 * Fuzz target: the record layer (RFC 8446 §5) in each state, with keys
 * fixed by the deterministic handshake so that mutated records decrypt.
 * Input: state(1) then fz_play entries (fuzz.h; ctl 0xff feeds raw bytes,
 * headers included):
 *   0  server before the ClientHello (plaintext records)
 *   1  client after ServerHello + CCS (records under the handshake keys)
 *   2  client after the server's Finished (application traffic keys)
 *   3  server after the client's Finished (application traffic keys)
 * States 1-3 are reached by replaying a recorded real handshake.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Play the recorded stream into c until it reaches `state`; returns the
 * offset in the stream where it stopped. */
static size_t reach(struct fz_side *s, kitls_conn *c, int state, const struct fz_buf *rec)
{
    size_t off = 0;
    while (off + 3 <= rec->len) {
        uint8_t ctl = rec->p[off];
        size_t n = (size_t)rec->p[off + 1] << 8 | rec->p[off + 2];
        int done =
            state == 1 ? c->state != ST_CLIENT_WAIT_SH && (ctl & 0x7f) != CT_CCS : c->established;
        if (done || c->error)
            break;
        fz_feed_entry(s, c, ctl, rec->p + off + 3, n);
        off += 3 + n;
    }
    return off;
}

static kitls_conn *setup(struct fz_side *s, int state, size_t *rest)
{
    int server = state == 0 || state == 3;
    int post = FZ_POST_DATA | FZ_POST_TICKET | FZ_POST_KEYUPDATE | FZ_POST_CLOSE;
    kitls_conn *c = fz_cut_new(s, server, 0);
    *rest = 0;
    if (state == 0)
        return c;
    const struct fz_buf *rec = fz_recorded(server, 0, 0, post);
    if (!server)
        fz_drive(s, c, 0);
    *rest = reach(s, c, state, rec);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    fz_planted(data, size);
    if (size < 1)
        return 0;
    struct fz_side s;
    size_t rest;
    kitls_conn *c = setup(&s, data[0] % 4, &rest);
    fz_play(&s, c, data + 1, size - 1);
    fz_cut_free(c);
    return 0;
}

void fz_write_seeds(const char *dir)
{
    static const char *names[4] = {"0-plain-client-hello", "1-handshake-keys", "2-client-app-keys",
                                   "3-server-app-keys"};
    int post = FZ_POST_DATA | FZ_POST_TICKET | FZ_POST_KEYUPDATE | FZ_POST_CLOSE;
    for (int st = 0; st < 4; st++) {
        struct fz_side s;
        struct fz_buf b = {0};
        size_t rest;
        uint8_t v = (uint8_t)st;
        fz_buf_put(&b, &v, 1);
        kitls_conn *c = setup(&s, st, &rest);
        const struct fz_buf *rec = fz_recorded(st == 0 || st == 3, 0, 0, post);
        if (st == 0) {
            /* The ClientHello record verbatim (ctl 0xff: header included). */
            size_t n = (size_t)rec->p[1] << 8 | rec->p[2];
            uint8_t *raw = malloc(5 + n);
            memcpy(raw + 5, rec->p + 3, n);
            raw[0] = CT_HANDSHAKE;
            raw[1] = 3;
            raw[2] = 1;
            raw[3] = (uint8_t)(n >> 8);
            raw[4] = (uint8_t)n;
            fz_buf_entry(&b, FZ_RAW, raw, 5 + n);
            free(raw);
            fz_buf_put(&b, rec->p + 3 + n, rec->len - 3 - n);
        } else {
            fz_buf_put(&b, rec->p + rest, rec->len - rest);
        }
        fz_write_file(dir, names[st], b.p, b.len);
        fz_buf_free(&b);
        fz_cut_free(c);
    }
}
