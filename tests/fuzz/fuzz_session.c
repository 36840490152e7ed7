/*
 * Fuzz target: the session deserializer kitls_session_from_bytes().  A
 * parsed session must serialize back to exactly the input, and is then
 * offered by a client (pre_shared_key and 0-RTT written from its fields),
 * which must build its ClientHello.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    fz_planted(data, size);
    kitls_session *sess = kitls_session_from_bytes(data, size);
    if (!sess)
        return 0;
    size_t n = 0;
    if (kitls_session_to_bytes(sess, NULL, 0, &n) != 0 || n != size)
        abort();
    uint8_t *back = malloc(n);
    if (!back || kitls_session_to_bytes(sess, back, n, &n) != 0 || memcmp(back, data, size))
        abort();
    free(back);
    (void)kitls_session_lifetime(sess);
    (void)kitls_session_max_early_data(sess);
    struct fz_side s;
    kitls_conn *c = fz_cut_new(&s, 0, 2);
    if (kitls_conn_set_session(c, sess) == 0)
        fz_write_early(c);
    kitls_session_free(sess);
    fz_drive(&s, c, 0);
    /* Whatever the session holds, the ClientHello is built (a session
     * that cannot be offered is left out, not an internal error). */
    if (c->error == KITLS_E_INTERNAL)
        abort();
    fz_cut_free(c);
    return 0;
}

void fz_write_seeds(const char *dir)
{
    size_t n = 0;
    uint8_t *b = fz_make_session(&n);
    if (b)
        fz_write_file(dir, "session-aes128-0rtt", b, n);
    free(b);
}
