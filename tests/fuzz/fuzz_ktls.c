/*
 * Fuzz target: the kTLS control-record path (ktls/io.c) through the fake
 * kernel of tests/ktls.  After a real handshake in memory, one side is
 * offloaded (both directions) into the fake kernel; each input entry is
 * then a decrypted record the kernel delivers, type(1) len(2) data, served
 * by the fake kernel's recvmsg with TLS_GET_RECORD_TYPE:
 *   ctl & 0x7f    the record type (0: application_data)
 *   ctl & 0x80    read with kitls_ktls_recv() (data path), else
 *                 kitls_ktls_recv_control()
 * Input: sel(1) (suite = sel % 3; the offloaded side is the client when
 * sel & 4) then the entries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakekernel.h"
#include "fuzz.h"
#include "kitls/ktls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t suites[3] = {KITLS_AES_128_GCM_SHA256, KITLS_AES_256_GCM_SHA384,
                                   KITLS_CHACHA20_POLY1305_SHA256};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    fz_planted(data, size);
    if (size < 1)
        return 0;
    struct fz_side cs, ss;
    uint16_t suite = suites[data[0] % 3];
    int me_client = (data[0] >> 2) & 1;
    fz_side_reset(&ss, "ktls-server");
    kitls_config *scfg = fz_server_config(&ss, 0);
    fz_side_reset(&cs, "ktls-client");
    kitls_config *ccfg = fz_client_config(&cs, 1);
    if (kitls_config_set_suites(scfg, &suite, 1) || kitls_config_set_suites(ccfg, &suite, 1))
        abort();
    kitls_conn *s = fz_conn(&ss, scfg, 0), *c = fz_conn(&cs, ccfg, 1);
    for (int round = 0; round < 8 && !(c->established && s->established); round++) {
        const uint8_t *p;
        fz_drive(&cs, c, 1);
        size_t n = kitls_conn_out_peek(c, &p);
        if (n && kitls_conn_feed(s, p, n) == 0)
            kitls_conn_out_consume(c, n);
        fz_drive(&ss, s, 1);
        n = kitls_conn_out_peek(s, &p);
        if (n && kitls_conn_feed(c, p, n) == 0)
            kitls_conn_out_consume(s, n);
    }
    struct fz_side *ms = me_client ? &cs : &ss;
    kitls_conn *me = me_client ? c : s;
    struct fk fk;
    memset(&fk, 0, sizeof(fk));
    fk.rekey = 1;
    struct kitls_ktls_ops ops = fk_ops(&fk);
    kitls_ktls *k = NULL;
    fz_use(ms);
    if (!me->established || kitls_ktls_new(&k, me, FK_FD, &ops) ||
        kitls_ktls_set_rekey_support(k, 1) || kitls_ktls_enable(k) ||
        !kitls_ktls_is_offloaded(k, KITLS_DIR_RX))
        abort(); /* the setup must work: harness bug */
    data++;
    size--;
    uint8_t buf[1024];
    while (size) {
        uint8_t ctl = data[0];
        size_t n = size >= 3 ? (size_t)data[1] << 8 | data[2] : 0, hdr = size >= 3 ? 3 : size;
        data += hdr;
        size -= hdr;
        n = n < size ? n : size;
        n = n < sizeof(fk.rec) ? n : sizeof(fk.rec);
        memcpy(fk.rec, data, n);
        fk.rec_len = n;
        fk.rec_off = 0;
        fk.rec_type = (ctl & 0x7f) ? ctl & 0x7f : 23;
        data += n;
        size -= n;
        long r = (ctl & 0x80) ? (long)kitls_ktls_recv(k, buf, sizeof(buf))
                              : (long)kitls_ktls_recv_control(k);
        /* What the kernel sent (KeyUpdate answers, alerts) is dropped. */
        free(fk.out.p);
        memset(&fk.out, 0, sizeof(fk.out));
        if (r < 0 && r != -EAGAIN)
            break;
    }
    if (getenv("FZ_DEBUG")) {
        unsigned tx, rx;
        kitls_ktls_rekeys(k, &tx, &rx);
        fprintf(stderr, "fuzz: ktls %s rekeys tx %u rx %u error %s\n",
                me_client ? "client" : "server", tx, rx, kitls_strerror(kitls_conn_error(me)));
    }
    kitls_ktls_free(k);
    kitls_conn_free(c);
    kitls_conn_free(s);
    kitls_config_free(ccfg);
    kitls_config_free(scfg);
    fk_free(&fk);
    fz_use(NULL);
    return 0;
}

void fz_write_seeds(const char *dir)
{
    static const uint8_t ku_req[5] = {HS_KEY_UPDATE, 0, 0, 1, 1};
    static const uint8_t ku[5] = {HS_KEY_UPDATE, 0, 0, 1, 0};
    static const uint8_t close_notify[2] = {1, 0};
    static const uint8_t fatal[2] = {2, 20};
    /* A real NewSessionTicket (plaintext) from a recorded handshake. */
    const struct fz_buf *rec = fz_recorded(0, 0, 0, FZ_POST_TICKET);
    const uint8_t *nst = NULL;
    size_t nst_len = 0;
    for (size_t off = 0; off + 3 <= rec->len;) {
        size_t n = (size_t)rec->p[off + 1] << 8 | rec->p[off + 2];
        if (rec->p[off] == CT_HANDSHAKE && n && rec->p[off + 3] == HS_NEW_SESSION_TICKET) {
            nst = rec->p + off + 3;
            nst_len = n;
        }
        off += 3 + n;
    }
    if (!nst)
        abort();
    for (int sel = 0; sel < 8; sel++) {
        if ((sel & 3) == 3)
            continue;
        struct fz_buf b = {0};
        uint8_t v = (uint8_t)sel;
        char name[64];
        fz_buf_put(&b, &v, 1);
        fz_buf_entry(&b, 0x80 | CT_APPDATA, (const uint8_t *)"hello", 5);
        if (sel & 4)
            fz_buf_entry(&b, CT_HANDSHAKE, nst, nst_len);
        fz_buf_entry(&b, CT_HANDSHAKE, ku_req, sizeof(ku_req));
        fz_buf_entry(&b, 0x80 | CT_APPDATA, (const uint8_t *)"after rekey", 11);
        fz_buf_entry(&b, CT_HANDSHAKE, ku, sizeof(ku));
        fz_buf_entry(&b, sel & 1 ? CT_ALERT : 0x80 | CT_ALERT, sel & 2 ? fatal : close_notify, 2);
        snprintf(name, sizeof(name), "%s-suite%d", sel & 4 ? "client" : "server", sel & 3);
        fz_write_file(dir, name, b.p, b.len);
        fz_buf_free(&b);
    }
}
