/* Growable writer backing store (see codec.h). */
#include <openssl/crypto.h>
#include <stdlib.h>

#include "codec.h"

int wr_reserve(struct wr *w, size_t extra)
{
    if (w->err)
        return w->err;
    if (w->cap - w->len >= extra)
        return 0;
    size_t ncap = w->cap ? w->cap : 256;
    while (ncap - w->len < extra) {
        if (ncap > (SIZE_MAX >> 2)) {
            w->err = KITLS_E_NOMEM;
            return w->err;
        }
        ncap *= 2;
    }
    uint8_t *nb = kitls_malloc(ncap);
    if (!nb) {
        w->err = KITLS_E_NOMEM;
        return w->err;
    }
    /* Copy rather than realloc so the old buffer can be wiped: it may hold
     * handshake secrets. */
    if (w->len)
        memcpy(nb, w->buf, w->len);
    if (w->buf && w->buf == w->fixed) {
        kitls_wipe(w->buf, w->len); /* the caller's: only what was written */
    } else if (w->buf) {
        kitls_wipe(w->buf, w->cap);
        kitls_free(w->buf);
    }
    w->buf = nb;
    w->cap = ncap;
    return 0;
}

void wr_free(struct wr *w)
{
    if (w->buf && w->buf == w->fixed) {
        kitls_wipe(w->buf, w->len);
    } else if (w->buf) {
        kitls_wipe(w->buf, w->cap);
        kitls_free(w->buf);
    }
    w->buf = NULL;
    w->len = w->cap = 0;
    w->err = 0;
}
