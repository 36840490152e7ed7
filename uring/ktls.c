/*
 * io_uring driver: a connection's kTLS object, its only transport.  Every
 * connection owns a kitls_ktls from the start (ktls/caller_io.c moves
 * the handshake's bytes too, in userspace); after the handshake the
 * layer is asked to move TX and/or RX into the kernel (uring_ktls_try),
 * and a non-data record that a plain recv announced (EIO/EKEYEXPIRED) is
 * read synchronously (uring_ktls_ctrl_step).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "uring_int.h"

/* The connection's kTLS object on socket fd (ops NULL: the real system
 * calls; tests hand a fake kernel), with the driver's policy.  Replaces
 * one set up before (the handshake has not moved any byte through it). */
int uring_ktls_setup(struct kitls_uring_conn *c, int fd, const struct kitls_ktls_ops *ops)
{
    kitls_uring *u = c->u;
    kitls_ktls *k;
    if (kitls_ktls_new(&k, c->tls, fd, ops) < 0)
        return -ENOMEM;
    kitls_ktls_free(c->ktls);
    c->ktls = k;
    if (!u->p.ktls)
        return 0; /* never enabled: userspace both ways */
    int r = kitls_ktls_set_mode(k, u->p.ktls & KITLS_URING_KTLS_BOTH);
    if (!r && (u->p.flags & KITLS_URING_F_KTLS_REKEY_CLOSE))
        r = kitls_ktls_set_rekey_policy(k, KITLS_KTLS_REKEY_CLOSE);
    /* Whether the kernel can rekey, probed once per process: the layer
     * caches the probe only for the real kernel asked with NULL ops, and
     * enable() would otherwise probe again (a loopback TCP connection
     * with two TLS_TX installs) for every connection. */
    if (!r && !ops) {
        int pr = kitls_ktls_probe_rekey(NULL);
        r = kitls_ktls_set_rekey_support(k, pr == 1 ? 1 : pr == 0 ? 0 : -1);
    }
    if (!r && u->p.ktls_key_update_limit)
        r = kitls_ktls_set_key_update_limit(k, u->p.ktls_key_update_limit);
    (void)r; /* only invalid arguments fail, and these are not */
    return 0;
}

/* Try kTLS; returns 1 while the enable step waits for the socket. */
int uring_ktls_try(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    /* The socket is non-blocking: enable() completes a record the core
     * read partly, and answers AGAIN when the rest is not there yet. */
    int r = kitls_ktls_enable(c->ktls);
    if (r == -EAGAIN) {
        /* either our output did not fit or a record is incomplete */
        const uint8_t *p;
        uring_conn_poll(c, kitls_ktls_io_out(c->ktls, &p) ? POLLOUT : POLLIN);
        return 1;
    }
    if (r < 0) {
        uring_conn_fail_tls(c, r);
        return 0;
    }
    if (kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_TX) == 1 ||
        kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_RX) == 1)
        u->st.ktls_conns++;
    /* enable() took the records the core had read past the handshake
     * (before it knew whether RX would move); kitls_ktls_io_read()
     * returns their plaintext first in every case. */
    c->rx_ready = 1;
    return 0;
}

/* kTLS RX: a non-data record is next (a plain recv said EIO/EKEYEXPIRED). */
void uring_ktls_ctrl_step(struct kitls_uring_conn *c)
{
    int r = kitls_ktls_recv_control(c->ktls);
    if (r == -EAGAIN) {
        uring_conn_poll(c, POLLIN);
        return;
    }
    c->u->st.ktls_ctrl_sync++;
    c->ctrl_pending = 0;
    if (r < 0)
        uring_conn_fail_tls(c, r);
    else
        c->rx_ready = 1; /* close_notify, or data kept by the layer: read */
}

/* ---- public: what kTLS does for a connection ---- */

int kitls_uring_conn_ktls(const kitls_uring_conn *c, enum kitls_dir dir)
{
    return kitls_ktls_is_offloaded(c->ktls, dir) == 1;
}

void kitls_uring_conn_ktls_rekeys(const kitls_uring_conn *c, unsigned *tx, unsigned *rx)
{
    unsigned t = 0, r = 0;
    kitls_ktls_rekeys(c->ktls, &t, &r);
    if (tx)
        *tx = t;
    if (rx)
        *rx = r;
}
