/*
 * Fuzz target: the server role fed arbitrary client flights.
 * Input: variant(1) (server config, fz_server_config) then fz_play
 * entries (fuzz.h): records sealed with the server's current read keys,
 * so whole handshakes, 0-RTT, post-handshake messages and alerts are
 * driven from the input.  Seeds: real clients' flights, recorded.
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
    kitls_conn *c = fz_cut_new(&s, 1, data[0] % FZ_SERVER_VARIANTS);
    fz_play(&s, c, data + 1, size - 1);
    fz_cut_free(c);
    return 0;
}

void fz_write_seeds(const char *dir)
{
    size_t sess_len = 0;
    uint8_t *sess = fz_make_session(&sess_len);
    int all = FZ_POST_DATA | FZ_POST_KEYUPDATE | FZ_POST_CLOSE;
    fz_seed_handshake(dir, "s0-c0-full", 1, 0, 0, all, NULL, 0);
    fz_seed_handshake(dir, "s0-c1-noverify-2shares", 1, 0, 1, FZ_POST_DATA, NULL, 0);
    fz_seed_handshake(dir, "s0-c3-chacha-p384", 1, 0, 3, all, NULL, 0);
    fz_seed_handshake(dir, "s1-c0-client-auth", 1, 1, 0, FZ_POST_DATA, NULL, 0);
    fz_seed_handshake(dir, "s2-c0-hrr-cookie", 1, 2, 0, FZ_POST_DATA, NULL, 0);
    fz_seed_handshake(dir, "s3-c2-resume-0rtt", 1, 3, 2, all, sess, sess_len);
    fz_seed_handshake(dir, "s0-c2-resume-declined", 1, 0, 2, 0, sess, sess_len);
    fz_seed_handshake(dir, "s4-c0-alpn-rsl", 1, 4, 0, FZ_POST_DATA, NULL, 0);
    fz_seed_handshake(dir, "s4-c1-nocompat", 1, 4, 1, FZ_POST_KEYUPDATE, NULL, 0);
    free(sess);
}
