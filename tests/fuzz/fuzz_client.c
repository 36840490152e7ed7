/*
 * Fuzz target: the client role fed arbitrary server flights.
 * Input: variant(1) (client config, fz_client_config); for variant 2 a
 * serialized session follows, len(2) bytes(len), offered for resumption
 * with 0-RTT data; then fz_play entries (fuzz.h) sealed with the client's
 * current read keys.  Seeds: real servers' flights, recorded.
 */
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    fz_planted(data, size);
    if (size < 1)
        return 0;
    struct fz_side s;
    int v = data[0] % FZ_CLIENT_VARIANTS;
    kitls_conn *c = fz_cut_new(&s, 0, v);
    data++;
    size--;
    if (v == 2 && size >= 2) {
        size_t n = (size_t)data[0] << 8 | data[1];
        n = n < size - 2 ? n : size - 2;
        kitls_session *sess = kitls_session_from_bytes(data + 2, n);
        if (sess && kitls_conn_set_session(c, sess) == 0)
            fz_write_early(c);
        kitls_session_free(sess);
        data += 2 + n;
        size -= 2 + n;
    }
    fz_drive(&s, c, 0); /* ClientHello */
    fz_play(&s, c, data, size);
    fz_cut_free(c);
    return 0;
}

void fz_write_seeds(const char *dir)
{
    size_t sess_len = 0;
    uint8_t *sess = fz_make_session(&sess_len);
    int all = FZ_POST_DATA | FZ_POST_TICKET | FZ_POST_KEYUPDATE | FZ_POST_CLOSE;
    fz_seed_handshake(dir, "c0-s0-full", 0, 0, 0, all, NULL, 0);
    fz_seed_handshake(dir, "c0-s1-cert-request", 0, 0, 1, FZ_POST_DATA, NULL, 0);
    fz_seed_handshake(dir, "c0-s2-hrr-cookie", 0, 0, 2, FZ_POST_DATA, NULL, 0);
    fz_seed_handshake(dir, "c0-s4-alpn-rsl", 0, 0, 4, FZ_POST_DATA, NULL, 0);
    fz_seed_handshake(dir, "c1-s0-noverify", 0, 1, 0, FZ_POST_KEYUPDATE, NULL, 0);
    fz_seed_handshake(dir, "c1-s4-nocompat", 0, 1, 4, FZ_POST_TICKET, NULL, 0);
    fz_seed_handshake(dir, "c2-s3-resume-0rtt", 0, 2, 3, all, sess, sess_len);
    fz_seed_handshake(dir, "c2-s0-resume-declined", 0, 2, 0, 0, sess, sess_len);
    fz_seed_handshake(dir, "c3-s0-chacha-p384", 0, 3, 0, all, NULL, 0);
    fz_seed_handshake(dir, "c4-s0-zero-shares-hrr", 0, 4, 0, FZ_POST_DATA, NULL, 0);
    fz_seed_handshake(dir, "c4-s2-zero-shares-hrr-cookie", 0, 4, 2, FZ_POST_DATA, NULL, 0);
    free(sess);
}
