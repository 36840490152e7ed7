/*
 * Fuzz target: each handshake message decoder and the extension parsers.
 * Input: selector(1) then a message body.  The selector names a message
 * type and a recorded real handshake (client or server under test); the
 * harness replays that handshake, one message per record, up to the
 * message's place, sends the fuzzed body in its stead (sealed with the
 * receiver's current keys), then the rest of the recorded handshake.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sel {
    const char *name;
    int server, cut_variant, peer_variant, post;
    uint8_t type;
};

#define POST_ALL (FZ_POST_DATA | FZ_POST_TICKET | FZ_POST_KEYUPDATE)
static const struct sel sels[] = {
    {"client-hello", 1, 0, 0, 0, HS_CLIENT_HELLO},
    {"server-hello", 0, 0, 0, 0, HS_SERVER_HELLO},
    {"hello-retry-request", 0, 0, 2, 0, HS_SERVER_HELLO},
    {"encrypted-extensions", 0, 0, 4, 0, HS_ENCRYPTED_EXTENSIONS},
    {"certificate-request", 0, 0, 1, 0, HS_CERTIFICATE_REQUEST},
    {"server-certificate", 0, 0, 0, 0, HS_CERTIFICATE},
    {"server-certificate-verify", 0, 0, 0, 0, HS_CERTIFICATE_VERIFY},
    {"server-finished", 0, 0, 0, 0, HS_FINISHED},
    {"new-session-ticket", 0, 0, 3, POST_ALL, HS_NEW_SESSION_TICKET},
    {"key-update-from-server", 0, 0, 0, POST_ALL, HS_KEY_UPDATE},
    {"client-certificate", 1, 1, 0, 0, HS_CERTIFICATE},
    {"client-certificate-verify", 1, 1, 0, 0, HS_CERTIFICATE_VERIFY},
    {"client-finished", 1, 0, 0, 0, HS_FINISHED},
    {"key-update-from-client", 1, 0, 0, POST_ALL, HS_KEY_UPDATE},
    {"extensions-block", -1, 0, 0, 0, 0},
    /* Appended, so that the corpus's selector bytes keep their meaning. */
    {"hello-retry-request-zero-shares", 0, 4, 0, 0, HS_SERVER_HELLO},
};
#define N_SELS (sizeof(sels) / sizeof(sels[0]))

struct ent {
    uint8_t ctl, msg;
    const uint8_t *p;
    size_t n;
};

/* The recorded stream with each handshake record split into messages. */
static size_t explode(const struct fz_buf *b, struct ent *e, size_t max)
{
    size_t k = 0;
    for (size_t off = 0; off + 3 <= b->len && k < max;) {
        uint8_t ctl = b->p[off];
        size_t n = (size_t)b->p[off + 1] << 8 | b->p[off + 2];
        const uint8_t *p = b->p + off + 3;
        off += 3 + n;
        if (ctl == FZ_RAW || (ctl & 0x7f) != CT_HANDSHAKE) {
            e[k++] = (struct ent){ctl, 0, p, n};
            continue;
        }
        while (n >= 4 && k < max) {
            size_t m = 4 + ((size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
            m = m < n ? m : n;
            e[k++] = (struct ent){ctl, p[0], p, m};
            p += m;
            n -= m;
        }
    }
    return k;
}

static void ext_parsers(const uint8_t *p, size_t n)
{
    static kitls_conn dummy;
    struct ext_list el;
    struct rd r;
    rd_init(&r, p, n);
    if (kitls_ext_parse(&r, &el, EXT_ALLOW_EMPTY | EXT_DUP_DECODE))
        return;
    (void)kitls_ext_only(&dummy, &el, kitls_ext_bit(EXT_KEY_SHARE));
    for (size_t i = 0; i < EXT_N_KNOWN; i++) {
        const struct ext_entry *x = kitls_ext_at(&el, i);
        if (!x)
            continue;
        (void)kitls_ext_get(&el, x->type);
        (void)kitls_ext_bit(x->type);
        if (x->type == EXT_SIGNATURE_ALGORITHMS || x->type == EXT_SIGNATURE_ALGORITHMS_CERT)
            (void)kitls_ext_parse_sigalgs(&dummy, x->data);
    }
}

/* Replay sel's handshake with `body` (or the real one when NULL) as its message. */
static void run(const struct sel *sl, const uint8_t *body, size_t len, struct fz_buf *seed)
{
    struct fz_side s;
    struct ent e[64];
    const struct fz_buf *rec = fz_recorded(sl->server, sl->cut_variant, sl->peer_variant, sl->post);
    size_t n = explode(rec, e, 64), k = 0;
    while (k < n && e[k].msg != sl->type)
        k++;
    if (k == n)
        abort(); /* the recording lacks the message: harness bug */
    if (seed) {
        fz_buf_put(seed, e[k].p + 4, e[k].n - 4);
        return;
    }
    kitls_conn *c = fz_cut_new(&s, sl->server, sl->cut_variant);
    if (!sl->server)
        fz_drive(&s, c, 0);
    int err = 0;
    for (size_t i = 0; i < k && !err; i++)
        err = fz_feed_entry(&s, c, e[i].ctl, e[i].p, e[i].n);
    if (!err) {
        uint8_t *m = malloc(4 + len);
        m[0] = sl->type;
        m[1] = (uint8_t)(len >> 16);
        m[2] = (uint8_t)(len >> 8);
        m[3] = (uint8_t)len;
        memcpy(m + 4, body, len);
        /* At most a record's worth of plaintext per record. */
        for (size_t off = 0; off < 4 + len && !err; off += KITLS_MAX_PLAINTEXT) {
            size_t chunk =
                4 + len - off < KITLS_MAX_PLAINTEXT ? 4 + len - off : KITLS_MAX_PLAINTEXT;
            err = fz_feed_entry(&s, c, e[k].ctl, m + off, chunk);
        }
        free(m);
    }
    for (size_t i = k + 1; i < n && !err; i++)
        err = fz_feed_entry(&s, c, e[i].ctl, e[i].p, e[i].n);
    fz_cut_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    fz_planted(data, size);
    if (size < 1)
        return 0;
    const struct sel *sl = &sels[data[0] % N_SELS];
    if (sl->server < 0)
        ext_parsers(data + 1, size - 1);
    else
        run(sl, data + 1, size - 1, NULL);
    return 0;
}

void fz_write_seeds(const char *dir)
{
    char name[64];
    for (size_t i = 0; i < N_SELS; i++) {
        struct fz_buf b = {0};
        uint8_t v = (uint8_t)i;
        fz_buf_put(&b, &v, 1);
        if (sels[i].server < 0) {
            /* The ClientHello's extension block. */
            struct fz_buf ch = {0};
            run(&sels[0], NULL, 0, &ch);
            struct rd r;
            struct rd sid, suites, comp;
            const uint8_t *rnd;
            uint16_t ver;
            rd_init(&r, ch.p, ch.len);
            if (rd_u16(&r, &ver) || rd_bytes(&r, 32, &rnd) || rd_sub(&r, 1, &sid) ||
                rd_sub(&r, 2, &suites) || rd_sub(&r, 1, &comp))
                abort();
            fz_buf_put(&b, r.p, rd_left(&r));
            fz_buf_free(&ch);
        } else {
            run(&sels[i], NULL, 0, &b);
        }
        snprintf(name, sizeof(name), "%02zu-%s", i, sels[i].name);
        fz_write_file(dir, name, b.p, b.len);
        fz_buf_free(&b);
    }
}
