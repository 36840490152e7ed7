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

static void seed(const char *dir, const char *name, int sv, int cv, int post, const uint8_t *sess,
                 size_t sess_len)
{
    struct fz_side cs, ps;
    struct fz_buf b = {0};
    uint8_t v = (uint8_t)sv;
    kitls_conn *cut = fz_cut_new(&cs, 1, sv);
    fz_side_reset(&ps, "peer");
    kitls_config *pcfg = fz_client_config(&ps, cv);
    kitls_conn *peer = fz_conn(&ps, pcfg, cv);
    if (sess) {
        kitls_session *s = kitls_session_from_bytes(sess, sess_len);
        if (s && kitls_conn_set_session(peer, s) == 0)
            fz_write_early(peer);
        kitls_session_free(s);
    }
    fz_buf_put(&b, &v, 1);
    if (fz_record(&cs, cut, &ps, peer, post, &b))
        abort(); /* a seed must be a complete handshake */
    fz_write_file(dir, name, b.p, b.len);
    fz_buf_free(&b);
    kitls_conn_free(peer);
    kitls_config_free(pcfg);
    fz_cut_free(cut);
}

void fz_write_seeds(const char *dir)
{
    size_t sess_len = 0;
    uint8_t *sess = fz_make_session(&sess_len);
    int all = FZ_POST_DATA | FZ_POST_KEYUPDATE | FZ_POST_CLOSE;
    seed(dir, "s0-c0-full", 0, 0, all, NULL, 0);
    seed(dir, "s0-c1-noverify-2shares", 0, 1, FZ_POST_DATA, NULL, 0);
    seed(dir, "s0-c3-chacha-p384", 0, 3, all, NULL, 0);
    seed(dir, "s1-c0-client-auth", 1, 0, FZ_POST_DATA, NULL, 0);
    seed(dir, "s2-c0-hrr-cookie", 2, 0, FZ_POST_DATA, NULL, 0);
    seed(dir, "s3-c2-resume-0rtt", 3, 2, all, sess, sess_len);
    seed(dir, "s0-c2-resume-declined", 0, 2, 0, sess, sess_len);
    seed(dir, "s4-c0-alpn-rsl", 4, 0, FZ_POST_DATA, NULL, 0);
    seed(dir, "s4-c1-nocompat", 4, 1, FZ_POST_KEYUPDATE, NULL, 0);
    free(sess);
}
