/*
 * Internal state of the kTLS offload layer (ktls/).  Not installed.
 */
#ifndef KITLS_KTLS_INT_H
#define KITLS_KTLS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "kitls/ktls.h"

#define KTLS_MAX_PLAIN 16384 /* TLS 1.3 plaintext per record (RFC 8446 §5.1) */
#define KTLS_RBUF_LEN (KTLS_MAX_PLAIN + 256)
#define KTLS_CT_ALERT 21
#define KTLS_CT_HANDSHAKE 22
#define KTLS_CT_APPDATA 23

/* One row per suite: the kernel's crypto_info layout (linux/tls.h). */
struct ktls_cipher {
    uint16_t suite;       /* IANA */
    uint16_t cipher_type; /* TLS_CIPHER_* */
    size_t info_len;      /* sizeof(struct tls12_crypto_info_*) */
    size_t iv_off, key_off, salt_off, seq_off;
    size_t key_len, salt_len, iv_len;
};

/*
 * Where one direction's records are protected, as a const row of what the
 * rest of ktls/ asks of that direction (the core's struct kitls_rec_ops,
 * one layer up; the kernel's tls_sw_* / tls_device_* split).  Two rows per
 * direction: "user" (the core seals and opens; bytes pass through
 * kitls_conn) and "kernel" (the socket holds the keys; control records go
 * through the kitls_offload object).  kitls_ktls_new() starts both
 * directions on the user rows; kitls_ktls_enable() switches a direction to
 * its kernel row once its keys are installed and the core handed it over.
 * Nothing else asks where a direction is.  The public wrappers in io.c and
 * caller_io.c check arguments and the sticky error, then call the row.
 */
struct ktls_tx_ops {
    /* send what the core queued: ciphertext (user) or control records */
    int (*flush)(kitls_ktls *k);
    ssize_t (*send)(kitls_ktls *k, const void *buf, size_t len);
    ssize_t (*sendfile)(kitls_ktls *k, int in_fd, off_t *offset, size_t count);
    /* a fatal alert under the keys in force, sent at once if possible */
    void (*fatal_alert)(kitls_ktls *k, uint8_t desc);
    /* 0 when a KeyUpdate can be sent, else why not (ends the connection) */
    int (*can_rekey)(kitls_ktls *k);
    /* caller-moves-bytes (caller_io.c) */
    ssize_t (*reserve)(kitls_ktls *k, size_t bytes);
    void (*count)(kitls_ktls *k, uint64_t records);
    ssize_t (*write)(kitls_ktls *k, const void *buf, size_t len);
    size_t (*out)(kitls_ktls *k, const uint8_t **p);
    void (*out_done)(kitls_ktls *k, size_t n);
    int (*ctrl_pending)(kitls_ktls *k);
};

struct ktls_rx_ops {
    ssize_t (*recv)(kitls_ktls *k, void *buf, size_t len);
    int (*recv_control)(kitls_ktls *k);
    int (*recv_record)(kitls_ktls *k, uint8_t type, const uint8_t *p, size_t n);
    /* caller-moves-bytes (caller_io.c) */
    int (*recv_buf)(kitls_ktls *k, uint8_t **buf, size_t *cap, struct msghdr **msg);
    int (*recv_done)(kitls_ktls *k, ssize_t res);
    ssize_t (*read)(kitls_ktls *k, void *buf, size_t len);
};

/* The rows (io.c). */
extern const struct ktls_tx_ops ktls_tx_user, ktls_tx_kernel;
extern const struct ktls_rx_ops ktls_rx_user, ktls_rx_kernel;

struct kitls_ktls {
    kitls_conn *c;
    /* the connection's post-handshake object (kitls_offload_get() at
     * enable): every call after enable but userspace data goes to it */
    kitls_offload *o;
    int fd;
    struct kitls_ktls_ops ops;
    int real_ops; /* ops are the real system calls: the rekey probe is cached */
    unsigned mode;
    int policy;
    int rekey_ok; /* 1, 0, -1 unknown */
    uint64_t limit;
    int enabled;
    int reason[2];
    const struct ktls_tx_ops *tx; /* where TX is (see struct ktls_tx_ops) */
    const struct ktls_rx_ops *rx;
    int err; /* sticky fatal error */
    int last_errno;
    const struct ktls_cipher *cipher;
    uint64_t tx_records; /* upper bound under the current TX key */
    size_t tx_partial;   /* bytes of the last data chunk still to send */
    unsigned rekeys[2];
    /* RX offloaded: the kernel's sequence number a control record has
     * when it directly follows the last one the core took (or starts
     * the current RX key); UINT64_MAX when unknown */
    uint64_t rx_next;
    int peer_closed;
    /* plaintext the core decrypted before RX moved to the kernel, or
     * data read past a control record request */
    uint8_t *pend;
    size_t pend_len, pend_off;
    /* offloaded control record being sent: bytes already sent */
    size_t ctl_sent;
    /* exact-record handshake reader */
    uint8_t hdr[5];
    size_t hdr_have, body_left;
    /* record-sized scratch buffer, allocated only when needed (small
     * reads, draining the core, sendfile fallback) */
    uint8_t *rbuf;
    /* caller-moves-bytes receive (caller_io.c): NULL until RX is
     * offloaded and the caller asks for a receive buffer */
    struct ktls_io *io;
};

const struct ktls_cipher *ktls_cipher_find(uint16_t suite);
/** Fill a crypto_info for keys; returns its length (0: unknown suite). */
size_t ktls_info_fill(uint8_t *info, const struct kitls_traffic_keys *keys);
/** setsockopt TLS_TX/TLS_RX with the current keys of the core. */
int ktls_install(kitls_ktls *k, enum kitls_dir dir);
/** Kernel's record sequence number of a direction (getsockopt TLS_TX /
 *  TLS_RX: the next record's), or negative. */
int ktls_seq(kitls_ktls *k, enum kitls_dir dir, uint64_t *seq);
/** A control record from the kernel is about to go to the core: tell the
 *  core whether records it never saw (data) came since the last one. */
void ktls_rx_progress(kitls_ktls *k);
int ktls_sys(kitls_ktls *k, long r);
/** k->o, created once the handshake is done (KITLS_E_STATE before). */
int ktls_obj(kitls_ktls *k);
/** Copy up to len bytes of the plaintext kitls_ktls_enable() kept (read
 *  past the handshake) and free it, wiped, once all is taken. */
ssize_t ktls_pend_take(kitls_ktls *k, void *buf, size_t len);
int ktls_fail(kitls_ktls *k, int err);
/** End the connection because the kernel cannot change keys. */
int ktls_rekey_refused(kitls_ktls *k);
/* After the core took a KeyUpdate: the new RX key into the kernel (0 when
 * none is pending). */
int ktls_rx_rekey(kitls_ktls *k);
/** Append plaintext to the pending buffer kitls_ktls_recv() serves first. */
int ktls_pend_add(kitls_ktls *k, const uint8_t *p, size_t n);
/** kitls_stats: count kitls_ktls_enable()'s outcome per requested
 *  direction (offloaded or fallback reason); returns ret. */
int ktls_counted(kitls_ktls *k, int ret);
/** A kernel key replaced after a KeyUpdate (k->rekeys and kitls_stats). */
void ktls_rekeyed(kitls_ktls *k, enum kitls_dir dir);
/** n bytes of application data the kernel carried (side: enum
 *  kitls_stats_side), counted when n > 0 (a received record is counted
 *  whole when it arrives, even when only part goes to the caller now);
 *  returns n.  Data through the core counts itself (kitls_conn_read,
 *  kitls_conn_write). */
ssize_t ktls_bytes(kitls_ktls *k, int side, ssize_t n);
/** The scratch buffer (KTLS_RBUF_LEN bytes), or NULL if out of memory. */
uint8_t *ktls_rbuf(kitls_ktls *k);
/** Wipe and free the scratch buffer. */
void ktls_rbuf_release(kitls_ktls *k);
/** Free the caller-moves-bytes receive state (caller_io.c). */
void ktls_io_free(kitls_ktls *k);
/** Raw send of bytes (no cmsg), all or partial. */
ssize_t ktls_send_raw(kitls_ktls *k, const void *buf, size_t len, int type);

/* The caller-moves-bytes halves of the rows (caller_io.c). */
ssize_t ktls_tx_user_reserve(kitls_ktls *k, size_t bytes);
ssize_t ktls_tx_kernel_reserve(kitls_ktls *k, size_t bytes);
void ktls_tx_user_count(kitls_ktls *k, uint64_t records);
void ktls_tx_kernel_count(kitls_ktls *k, uint64_t records);
ssize_t ktls_tx_user_write(kitls_ktls *k, const void *buf, size_t len);
ssize_t ktls_tx_kernel_write(kitls_ktls *k, const void *buf, size_t len);
size_t ktls_tx_user_out(kitls_ktls *k, const uint8_t **p);
size_t ktls_tx_kernel_out(kitls_ktls *k, const uint8_t **p);
void ktls_tx_user_out_done(kitls_ktls *k, size_t n);
void ktls_tx_kernel_out_done(kitls_ktls *k, size_t n);
int ktls_tx_user_ctrl_pending(kitls_ktls *k);
int ktls_tx_kernel_ctrl_pending(kitls_ktls *k);
int ktls_rx_user_recv_record(kitls_ktls *k, uint8_t type, const uint8_t *p, size_t n);
int ktls_rx_kernel_recv_record(kitls_ktls *k, uint8_t type, const uint8_t *p, size_t n);
int ktls_rx_user_recv_buf(kitls_ktls *k, uint8_t **buf, size_t *cap, struct msghdr **msg);
int ktls_rx_kernel_recv_buf(kitls_ktls *k, uint8_t **buf, size_t *cap, struct msghdr **msg);
int ktls_rx_user_recv_done(kitls_ktls *k, ssize_t res);
int ktls_rx_kernel_recv_done(kitls_ktls *k, ssize_t res);
ssize_t ktls_rx_user_read(kitls_ktls *k, void *buf, size_t len);
ssize_t ktls_rx_kernel_read(kitls_ktls *k, void *buf, size_t len);

#endif
