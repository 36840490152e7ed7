/*
 * io_uring driver: a connection's kernel TLS side.  After the handshake
 * the kTLS layer (ktls/) is asked to move TX and/or RX into the kernel;
 * offloaded RX then comes from io_uring recv/recvmsg on the kTLS socket,
 * where a control record (NewSessionTicket, KeyUpdate, alert) arrives
 * with its record type (recvmsg) or as EIO/EKEYEXPIRED (recv, handled
 * synchronously by ctrl_step), and the plaintext the core had read past
 * the handshake is delivered first (drain).
 */
#include <errno.h>
#include <linux/tls.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "uring_int.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#define URING_CT_APPDATA 23u /* TLS record content type application_data */

/* Try kTLS; returns 1 while the enable step waits for the socket. */
int uring_ktls_try(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    int r;
    if (!c->ktls) {
        r = kitls_ktls_new(&c->ktls, c->tls, c->fd, NULL);
        if (r < 0) {
            c->ktls = NULL;
            c->enabling = 0;
            return 0; /* stays in userspace */
        }
        r = kitls_ktls_set_mode(c->ktls, u->p.ktls & KITLS_URING_KTLS_BOTH);
        if (!r && (u->p.flags & KITLS_URING_F_KTLS_REKEY_CLOSE))
            r = kitls_ktls_set_rekey_policy(c->ktls, KITLS_KTLS_REKEY_CLOSE);
        /* Whether the kernel can rekey, probed once per process: the
         * layer caches the probe only for the real kernel asked with NULL
         * ops, and enable() would otherwise probe again (a loopback TCP
         * connection with two TLS_TX installs) for every connection. */
        int pr = kitls_ktls_probe_rekey(NULL);
        if (!r)
            r = kitls_ktls_set_rekey_support(c->ktls, pr == 1 ? 1 : pr == 0 ? 0 : -1);
        if (!r && u->p.ktls_key_update_limit)
            r = kitls_ktls_set_key_update_limit(c->ktls, u->p.ktls_key_update_limit);
        (void)r; /* only invalid arguments fail, and these are not */
    }
    /* The socket is non-blocking: enable() completes a record the core
     * read partly, and answers AGAIN when the rest is not there yet. */
    r = kitls_ktls_enable(c->ktls);
    if (r == -EAGAIN) {
        /* either our output did not fit or a record is incomplete */
        const uint8_t *p;
        c->enabling = 1;
        uring_conn_poll(c, kitls_conn_out_peek(c->tls, &p) ? POLLOUT : POLLIN);
        return 1;
    }
    c->enabling = 0;
    if (r < 0) {
        uring_conn_fail_tls(c, r);
        return 0;
    }
    c->tx_k = kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_TX) == 1;
    c->rx_k = kitls_ktls_is_offloaded(c->ktls, KITLS_DIR_RX) == 1;
    /* enable() took the records the core had read past the handshake
     * (before it knew whether RX would move); their plaintext is
     * delivered first (uring_ktls_drain) in every case. */
    c->rx_drain = 1;
    if (!c->tx_k && !c->rx_k)
        return 0; /* kept for kitls_ktls_reason(); freed with the connection */
    u->st.ktls_conns++;
    if (c->rx_k) {
        c->rbuf = malloc(URING_SCRATCH);
        if (u->have_recvmsg)
            c->rmsg = calloc(1, sizeof(*c->rmsg));
        if (!c->rbuf || (u->have_recvmsg && !c->rmsg)) {
            uring_conn_fail(c, -ENOMEM);
            return 0;
        }
    }
    return 0;
}

/* Deliver application data the kTLS layer holds (records the core had read
 * past the handshake), then leave the socket to io_uring recv. */
void uring_ktls_drain(struct kitls_uring_conn *c)
{
    kitls_uring *u = c->u;
    while (c->st == CS_OPEN && !c->paused && !c->rx_k) {
        /* RX stayed in userspace: only the kept plaintext, then the core
         * (which may hold a close_notify that enable() met) as usual. */
        ssize_t n = kitls_ktls_recv_pending(c->ktls, u->scratch, sizeof(u->scratch));
        if (n > 0) {
            u->st.bytes_in += (size_t)n;
            uring_conn_emit(c, KITLS_URING_EV_DATA, u->scratch, (size_t)n, NULL);
            continue;
        }
        c->rx_drain = 0;
        c->rx_ready = 1;
        c->again = 1; /* process_input() runs before us in step() */
        return;
    }
    while (c->st == CS_OPEN && !c->paused) {
        ssize_t n = kitls_ktls_recv(c->ktls, u->scratch, sizeof(u->scratch));
        if (n > 0) {
            u->st.bytes_in += (size_t)n;
            uring_conn_emit(c, KITLS_URING_EV_DATA, u->scratch, (size_t)n, NULL);
            continue;
        }
        c->rx_drain = 0;
        if (n == 0) {
            uring_conn_peer_eof(c);
        } else if (n == KITLS_KTLS_E_TRUNCATED) {
            c->peer_done = 1;
            if (!c->close_req)
                uring_conn_kill(c, KITLS_E_EOF, 0);
        } else if (n != -EAGAIN) {
            uring_conn_fail_tls(c, (int)n);
        }
        return;
    }
}

/* The record type of a completed kTLS recvmsg (application data when the
 * kernel gave none, or with a plain recv).  The control buffer was zeroed
 * before the recvmsg: what the kernel wrote there is read directly. */
static unsigned ktls_record_type(const struct kitls_uring_conn *c)
{
    if (!c->rmsg)
        return URING_CT_APPDATA;
    const struct cmsghdr *cm = &c->rmsg->cb.align;
    if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE &&
        cm->cmsg_len >= CMSG_LEN(sizeof(unsigned char)))
        return *(const unsigned char *)CMSG_DATA(cm);
    return URING_CT_APPDATA;
}

/* kTLS RX: io_uring recvmsg brought a control record (NewSessionTicket,
 * KeyUpdate, alert) with its type: the core takes it; after a KeyUpdate
 * the next RX key is in the kernel before the next recvmsg.  Our answers
 * leave through send_step (kitls_ktls_flush). */
static void ktls_control(struct kitls_uring_conn *c, unsigned type, size_t n)
{
    c->u->st.ktls_ctrl_recvmsg++;
    int r = kitls_ktls_recv_record(c->ktls, (uint8_t)type, c->rbuf, n);
    if (r == 1)
        uring_conn_peer_eof(c);
    else if (r < 0)
        uring_conn_fail_tls(c, r);
}

/* kTLS RX: a non-data record is next (recv said EIO/EKEYEXPIRED). */
void uring_ktls_ctrl_step(struct kitls_uring_conn *c)
{
    int r = kitls_ktls_recv_control(c->ktls);
    if (r == -EAGAIN) {
        uring_conn_poll(c, POLLIN);
        return;
    }
    c->u->st.ktls_ctrl_sync++;
    c->ctrl_pending = 0;
    if (r == 1)
        uring_conn_peer_eof(c);
    else if (r == 2)
        c->rx_drain = 1; /* data after all, kept by the layer: drain delivers it */
    else if (r < 0)
        uring_conn_fail_tls(c, r);
}

/* Prepare the next receive on an offloaded RX: 1 when it is submitted
 * (recvmsg) or must wait, 0 to post a plain recv into *bufp (*capp bytes). */
int uring_ktls_recv_prep(struct kitls_uring_conn *c, uint8_t **bufp, size_t *capp)
{
    /* A KeyUpdate of ours (the answer to update_requested) leaves
     * before the next record is taken: the kTLS layer installs the
     * newest TX key after sending one, so at most one may wait. */
    uint8_t type;
    const uint8_t *d;
    size_t l;
    int rekey = 0;
    if (c->tx_k && uring_out_record(c->tls, &type, &d, &l, &rekey) && rekey)
        return 1; /* send_step sends it; its completion brings us back */
    uint8_t *buf = *bufp = c->rbuf;
    size_t cap = *capp = URING_SCRATCH;
    if (c->rmsg) {
        /* recvmsg with room for the record type: control records
         * arrive whole (16 KiB is a full record) with their type. */
        struct uring_rxmsg *rm = c->rmsg;
        memset(rm, 0, sizeof(*rm));
        rm->iov.iov_base = buf;
        rm->iov.iov_len = cap;
        rm->m.msg_iov = &rm->iov;
        rm->m.msg_iovlen = 1;
        rm->m.msg_control = rm->cb.buf;
        rm->m.msg_controllen = sizeof(rm->cb.buf);
        struct io_uring_sqe *sqe = uring_conn_sqe(c);
        if (!sqe)
            return 1;
        io_uring_prep_recvmsg(sqe, c->fd, &rm->m, 0);
        uring_conn_tag(c, sqe, KITLS_URING_OP_RECV);
        return 1;
    }
    return 0;
}

/* A completed receive on an offloaded RX: application data or a control
 * record. */
void uring_ktls_received(struct kitls_uring_conn *c, size_t n)
{
    unsigned type = ktls_record_type(c);
    if (type != URING_CT_APPDATA) {
        ktls_control(c, type, n);
        return;
    }
    c->u->st.bytes_in += (unsigned)n;
    uring_conn_emit(c, KITLS_URING_EV_DATA, c->rbuf, n, NULL);
}
