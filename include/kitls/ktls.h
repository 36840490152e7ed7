/*
 * kitls kernel TLS offload (kTLS) — the layer between the sans-I/O core
 * (kitls.h) and a connected TCP socket.
 *
 * After the userspace handshake, kitls_ktls_enable() installs the traffic
 * keys into the kernel (setsockopt SOL_TLS TLS_TX / TLS_RX) so that plain
 * send/recv/sendfile/splice on the socket carry TLS records.  The core
 * still handles every non-data record: NewSessionTicket, KeyUpdate and
 * alerts arrive through recvmsg with a TLS_GET_RECORD_TYPE control message
 * and go to kitls_offload_feed_record(); the core's own post-handshake
 * records leave through sendmsg with TLS_SET_RECORD_TYPE.
 *
 * A socket whose kernel lacks kTLS (no "tls" module: ENOENT, or
 * ENOPROTOOPT) stays on the userspace record layer: the same kitls_ktls_*
 * calls then encrypt and decrypt in userspace.  kitls_ktls_reason() says
 * why a direction was not offloaded.
 *
 * Conventions (liburing/s2n idiom): functions return 0 or a byte count on
 * success, and a negative code on failure, in the one error space of
 * kitls.h: a failed system call is plain -errno (a would-block socket
 * gives -EAGAIN: retry when the socket is ready), anything else a
 * KITLS_E_* code of the core or a KITLS_KTLS_E_* code of this layer (both
 * below -4095).  kitls_strerror() describes them all.
 *
 * The injectable system call table (struct kitls_ktls_ops) lets tests run
 * this layer against a fake kernel.  See docs/ktls.md.
 */
#ifndef KITLS_KTLS_H
#define KITLS_KTLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "kitls/kitls.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Errors of this layer, in the core's class-tagged space (kitls.h):
 *  kitls_strerror() and kitls_error_alert() know them. */
enum kitls_ktls_error {
    /** The peer updated its keys (or we must update ours) and the kernel
     *  cannot take new keys (no TLS 1.3 rekey before Linux 6.14); the
     *  connection was ended (internal_error was sent when possible). */
    KITLS_KTLS_E_REKEY_UNSUPPORTED = KITLS_ERR_CODE(KITLS_ERR_CLASS_SELF_ALERT, 200, 80),
    /** Installing keys failed after the point of no return: the
     *  connection cannot continue (internal_error was sent when possible). */
    KITLS_KTLS_E_INSTALL = KITLS_ERR_CODE(KITLS_ERR_CLASS_SELF_ALERT, 201, 80),
    /** The transport ended without close_notify (no alert). */
    KITLS_KTLS_E_TRUNCATED = KITLS_ERR_CODE(KITLS_ERR_CLASS_LOCAL, 202, 0),
};

/* ------------------------------------------------------------------ */
/* System calls (injectable)                                           */
/* ------------------------------------------------------------------ */

/**
 * The system calls this layer makes on the socket, each returning >= 0 on
 * success or -errno (never -1 with errno).  Tests replace them with a
 * fake kernel; kitls_ktls_default_ops() calls the real ones.  The probe
 * (kitls_ktls_probe_rekey) also creates loopback sockets with the real
 * socket API and then uses these entries on them.
 */
struct kitls_ktls_ops {
    int (*setsockopt)(void *ctx, int fd, int level, int name, const void *val, socklen_t len);
    int (*getsockopt)(void *ctx, int fd, int level, int name, void *val, socklen_t *len);
    ssize_t (*sendmsg)(void *ctx, int fd, const struct msghdr *msg, int flags);
    ssize_t (*recvmsg)(void *ctx, int fd, struct msghdr *msg, int flags);
    /** sendfile(2): send count bytes of in_fd from *offset, advancing it. */
    ssize_t (*sendfile)(void *ctx, int out_fd, int in_fd, off_t *offset, size_t count);
    void *ctx;
};

/** The real system calls. */
KITLS_API const struct kitls_ktls_ops *kitls_ktls_default_ops(void);

/* ------------------------------------------------------------------ */
/* Policy and probing                                                  */
/* ------------------------------------------------------------------ */

/** Directions to offload (a mask). */
#define KITLS_KTLS_TX 1u
#define KITLS_KTLS_RX 2u
#define KITLS_KTLS_BOTH 3u

/**
 * What to do when the kernel cannot change keys (TLS 1.3 KeyUpdate needs
 * Linux 6.14 or later; older kernels answer EBUSY to a second TLS_TX/RX).
 */
enum kitls_ktls_rekey_policy {
    /** Default: offload only if the kernel can rekey; otherwise the
     *  connection stays in userspace (reason KITLS_KTLS_R_NO_REKEY). */
    KITLS_KTLS_REKEY_REQUIRE = 0,
    /** Offload anyway; when a KeyUpdate arrives or is due, end the
     *  connection cleanly with KITLS_KTLS_E_REKEY_UNSUPPORTED (a fatal
     *  alert is sent under the old keys; no data is lost silently or
     *  corrupted: everything received before the KeyUpdate was
     *  delivered). */
    KITLS_KTLS_REKEY_CLOSE = 1,
};

/**
 * Probe once whether this kernel accepts new TLS 1.3 keys on a kTLS
 * socket: a loopback TCP connection gets TLS_TX twice (dummy keys; no
 * byte is sent).  Returns 1 (rekey works), 0 (EBUSY or other refusal:
 * no rekey), or -errno when kTLS itself is missing or the probe
 * could not run (-ECANCELED, not cached: kitls_ktls_set_enabled(0)).
 * With ops NULL (the real kernel) the result is cached.
 */
KITLS_API int kitls_ktls_probe_rekey(const struct kitls_ktls_ops *ops);

/** Why a direction is (not) offloaded. */
enum kitls_ktls_reason {
    KITLS_KTLS_R_OFFLOADED = 0, /**< in the kernel */
    KITLS_KTLS_R_NOT_ENABLED,   /**< kitls_ktls_enable() not called yet */
    KITLS_KTLS_R_NOT_REQUESTED, /**< the mode left this direction out */
    KITLS_KTLS_R_NO_MODULE,     /**< TCP_ULP "tls" unknown (ENOENT): no kTLS */
    KITLS_KTLS_R_NO_ULP,        /**< ENOPROTOOPT / not a TCP socket */
    KITLS_KTLS_R_ULP_FAILED,    /**< TCP_ULP failed otherwise (kitls_ktls_errno()) */
    KITLS_KTLS_R_CIPHER,        /**< the kernel refused this suite (e.g. ChaCha20 < 5.11) */
    KITLS_KTLS_R_NO_REKEY,      /**< REKEY_REQUIRE and the kernel cannot rekey */
    KITLS_KTLS_R_DISABLED,      /**< the process-wide switch is off (kitls_ktls_set_enabled) */
};
/** A short description of a reason. */
KITLS_API const char *kitls_ktls_reason_string(int reason);

/**
 * Process-wide kTLS kill switch (e.g. a kTLS regression after a kernel
 * update): with the switch off, kitls_ktls_enable() declines before any
 * system call -- no TCP_ULP, no TLS_TX/TLS_RX, no rekey probe -- and the
 * connection stays on the userspace record layer with reason
 * KITLS_KTLS_R_DISABLED, exactly like a kernel without kTLS (0 is
 * returned, never an error).  Connections already offloaded stay in the
 * kernel; the switch only affects later kitls_ktls_enable() calls (and
 * kitls_ktls_probe_rekey(), which then answers -ECANCELED uncached).
 * Thread-safe (an atomic flag); nonzero enables, 0 disables.
 */
KITLS_API void kitls_ktls_set_enabled(int enabled);
/**
 * The switch's state: 1 on, 0 off.  Until kitls_ktls_set_enabled() is
 * called, the first use reads the environment once: KITLS_KTLS=off (or 0
 * or no) means off, anything else or unset means on.  Never fails.
 */
KITLS_API int kitls_ktls_enabled(void);

/* ------------------------------------------------------------------ */
/* Offload object                                                      */
/* ------------------------------------------------------------------ */

typedef struct kitls_ktls kitls_ktls;

/**
 * Bind a connection to a connected TCP socket.  The connection and the
 * socket stay the caller's (kitls_ktls_free() closes neither).  ops NULL
 * means the real system calls.  Returns 0 and *out, or KITLS_E_NOMEM /
 * KITLS_E_INVALID_ARG.
 */
KITLS_API KITLS_WUR int kitls_ktls_new(kitls_ktls **out, kitls_conn *c, int fd,
                                       const struct kitls_ktls_ops *ops);
/** Free (wipes buffered plaintext).  NULL is allowed. */
KITLS_API void kitls_ktls_free(kitls_ktls *k);

/** Directions to offload (KITLS_KTLS_TX/RX/BOTH, default BOTH).  Before enable. */
KITLS_API KITLS_WUR int kitls_ktls_set_mode(kitls_ktls *k, unsigned mode);
/** Rekey policy (default KITLS_KTLS_REKEY_REQUIRE).  Before enable. */
KITLS_API KITLS_WUR int kitls_ktls_set_rekey_policy(kitls_ktls *k, enum kitls_ktls_rekey_policy p);
/**
 * Whether the kernel can rekey: 1, 0, or -1 (default) to probe with
 * kitls_ktls_probe_rekey() on enable.  Before enable.
 */
KITLS_API KITLS_WUR int kitls_ktls_set_rekey_support(kitls_ktls *k, int supported);
/**
 * Records to send under one key before a KeyUpdate (the kernel does not
 * count; this layer does).  0 = default: the connection's
 * kitls_conn_key_update_limit(), i.e. the config's
 * kitls_config_set_key_update_limit() or 2^24 for AES-GCM (RFC 8446
 * §5.5), 2^40 for ChaCha20-Poly1305.
 */
KITLS_API KITLS_WUR int kitls_ktls_set_key_update_limit(kitls_ktls *k, uint64_t records);

/**
 * Drive the handshake on the socket, reading exactly one record at a time
 * so that no byte past the handshake is taken from the socket (RX can then
 * move to the kernel without handing anything over).  Returns 0 once
 * established, -EAGAIN on a non-blocking socket that would
 * block, or an error (a pending alert has been sent when possible).
 * Optional: an application may drive the handshake itself.
 */
KITLS_API KITLS_WUR int kitls_ktls_handshake(kitls_ktls *k);

/**
 * Move the connection's record protection into the kernel (after the
 * handshake).  Sets TCP_ULP "tls" and installs TLS_TX/TLS_RX per the mode
 * and the rekey policy.  Records the core already read past the handshake
 * are processed first (their plaintext is kept and returned first by
 * kitls_ktls_recv()); a partly received record is completed from the
 * socket (this may return -EAGAIN: call again).
 *
 * Returns 0 whether or not the kernel took over: see
 * kitls_ktls_is_offloaded() and kitls_ktls_reason().  Kernels without
 * kTLS are not an error.  The point of no return, per direction, is the
 * successful TLS_TX / TLS_RX setsockopt (then kitls_offload_start()):
 * after it a failure is fatal for the connection.
 */
KITLS_API KITLS_WUR int kitls_ktls_enable(kitls_ktls *k);

/** 1 if the direction (KITLS_DIR_TX / KITLS_DIR_RX) is in the kernel. */
KITLS_API int kitls_ktls_is_offloaded(const kitls_ktls *k, enum kitls_dir dir);
/** Why the direction is (not) offloaded (enum kitls_ktls_reason). */
KITLS_API int kitls_ktls_reason(const kitls_ktls *k, enum kitls_dir dir);
/** errno of the last failed system call (0 if none). */
KITLS_API int kitls_ktls_errno(const kitls_ktls *k);
/** 1 if rekey is known to work on this socket's kernel, 0 if not, -1 unknown. */
KITLS_API int kitls_ktls_rekey_support(const kitls_ktls *k);
/** Upper bound of the records sent under the current TX key (offloaded). */
KITLS_API uint64_t kitls_ktls_tx_records(const kitls_ktls *k);
/** Number of key changes installed into the kernel (TX, RX). */
KITLS_API void kitls_ktls_rekeys(const kitls_ktls *k, unsigned *tx, unsigned *rx);

/* ------------------------------------------------------------------ */
/* Data                                                                */
/* ------------------------------------------------------------------ */

/**
 * Send application data.  Offloaded: pending control records first, then
 * the data through the kernel, with a KeyUpdate when the AEAD limit comes
 * near.  Userspace: encrypt with the core and send.  Returns the number
 * of bytes taken (> 0; may be less than len on a non-blocking socket),
 * -EAGAIN, or an error.
 */
KITLS_API KITLS_WUR ssize_t kitls_ktls_send(kitls_ktls *k, const void *buf, size_t len);

/**
 * Receive application data.  Non-data records met on the way go to the
 * core (tickets, KeyUpdate: new RX keys are installed, the answer to
 * update_requested is sent; alerts).  Returns bytes read (> 0), 0 after
 * the peer's close_notify, -EAGAIN, KITLS_KTLS_E_TRUNCATED
 * (TCP end without close_notify), or an error.  -EAGAIN may
 * also mean that our own pending records (e.g. the answer to a KeyUpdate)
 * could not be sent: wait for writability too when kitls_conn_wants()
 * has KITLS_WANT_WRITE.
 */
KITLS_API KITLS_WUR ssize_t kitls_ktls_recv(kitls_ktls *k, void *buf, size_t len);

/**
 * For applications that read the offloaded socket themselves (recv(),
 * io_uring): a plain recv() fails with EIO (or EKEYEXPIRED) when the next
 * record is not application data.  Call this then: it reads that record
 * with its type and hands it to the core (installing new keys after a
 * KeyUpdate).  Returns 0 (retry the plain read), 1 after close_notify,
 * 2 when the record was application data after all (kept: read it with
 * kitls_ktls_recv(), which returns it first, before the plain read),
 * -EAGAIN, or an error.
 */
KITLS_API KITLS_WUR int kitls_ktls_recv_control(kitls_ktls *k);

/**
 * Send a file: sendfile(2) through the kTLS socket when TX is offloaded
 * (the kernel encrypts, no copy to userspace); otherwise read it and
 * encrypt in userspace.  Sends up to count bytes from *offset and advances
 * *offset.  Returns bytes sent (> 0; 0 at end of file),
 * -EAGAIN, or an error.
 */
KITLS_API KITLS_WUR ssize_t kitls_ktls_sendfile(kitls_ktls *k, int in_fd, off_t *offset,
                                                size_t count);

/** Send the core's pending output (records it produced on its own).
 *  Returns 0, -EAGAIN or an error. */
KITLS_API KITLS_WUR int kitls_ktls_flush(kitls_ktls *k);

/** Update our sending keys (and ask the peer to update with request):
 *  sends the KeyUpdate and installs the new TX keys into the kernel. */
KITLS_API KITLS_WUR int kitls_ktls_key_update(kitls_ktls *k, int request);

/** Send close_notify (then shut down writing yourself if wanted). */
KITLS_API KITLS_WUR int kitls_ktls_close(kitls_ktls *k);

/* io_uring glue */
/*
 * For drivers that send application data on the offloaded socket
 * themselves (io_uring IORING_OP_SEND / IORING_OP_SPLICE) instead of
 * kitls_ktls_send(): the layer still keeps the AEAD limit (RFC 8446
 * §5.5).  Before each such send call kitls_ktls_tx_reserve(), send at
 * most the bytes it allows, then report the records with
 * kitls_ktls_tx_count(kitls_ktls_records_for(bytes actually sent)).  Only
 * one such send may be in flight at a time, and no kitls_ktls_* call may
 * run while it is (they may send control records and change the key).
 */

/**
 * Make room under the AEAD limit for a send of up to `bytes` bytes on the
 * offloaded socket.  Sends pending control records first; when the
 * current key has no record left, sends a KeyUpdate and installs the new
 * TX key (as kitls_ktls_send() does).  Returns the bytes the caller may
 * send now (<= bytes; every byte when TX is not offloaded),
 * -EAGAIN (a control record waits for the socket: call again
 * when it is writable), or an error (KITLS_KTLS_E_REKEY_UNSUPPORTED on a
 * kernel that cannot rekey, after a fatal alert).
 */
KITLS_API KITLS_WUR ssize_t kitls_ktls_tx_reserve(kitls_ktls *k, size_t bytes);
/** Add `records` sent by the caller on the offloaded socket to the count
 *  under the current TX key (no effect when TX is not offloaded). */
KITLS_API void kitls_ktls_tx_count(kitls_ktls *k, uint64_t records);
/** Upper bound of the records one send or splice of `bytes` bytes makes
 *  on a kTLS socket: bytes / 16384 + 1. */
KITLS_API uint64_t kitls_ktls_records_for(size_t bytes);
/**
 * Only the application data kitls_ktls_enable() took from the core's
 * buffer (records the core read past the handshake), which
 * kitls_ktls_recv() would return first: up to len bytes, 0 when none is
 * left.  Never reads the socket.  For a driver that keeps reading with
 * the core (or its own reads) when RX was not offloaded.
 */
KITLS_API KITLS_WUR ssize_t kitls_ktls_recv_pending(kitls_ktls *k, void *buf, size_t len);
/**
 * A non-data record the caller read from the offloaded socket itself
 * with its type (recvmsg with a TLS_GET_RECORD_TYPE control message, e.g.
 * io_uring IORING_OP_RECVMSG): NewSessionTicket, KeyUpdate or alert.  It
 * goes to the core; after a KeyUpdate the next RX key is installed before
 * this returns (read again only then).  The core's answers (our KeyUpdate
 * for update_requested) stay queued: send them with kitls_ktls_flush()
 * before more data, and take no further record while a KeyUpdate of ours
 * is still queued.  Returns 0, 1 after close_notify, or an error, after
 * the fatal alert was sent (best effort; KITLS_KTLS_E_REKEY_UNSUPPORTED on
 * a kernel that cannot rekey).  RX must be offloaded.
 */
KITLS_API KITLS_WUR int kitls_ktls_recv_record(kitls_ktls *k, uint8_t type, const uint8_t *p,
                                               size_t n);

/* ------------------------------------------------------------------ */
/* One transport for callers that move the bytes (ktls/caller_io.c)    */
/* ------------------------------------------------------------------ */
/*
 * For a driver that posts its own receives and sends (io_uring) and wants
 * one interface whatever runs where: the same calls from the first
 * handshake byte on, with each direction in userspace (before
 * kitls_ktls_enable(), when the mode left it out or the kernel refused)
 * or in the kernel.  Receive: kitls_ktls_io_recv_buf(), the caller's
 * recv/recvmsg into it, kitls_ktls_io_recv_done() with its result, then
 * kitls_ktls_io_read() until -EAGAIN.  Send: userspace TX
 * seals with kitls_ktls_io_write() and sends kitls_ktls_io_out(); with TX
 * in the kernel the caller sends plaintext itself (kitls_ktls_tx_reserve
 * above) and the core's own records leave through kitls_ktls_flush()
 * (kitls_ktls_io_ctrl_pending() says one waits).  KeyUpdate and
 * close_notify are queued with kitls_ktls_io_key_update() and
 * kitls_ktls_io_close() and leave by the same two ways.  The driver needs
 * the core only to drive the handshake (kitls_conn_handshake).
 */

/**
 * Where the caller's next receive goes.  RX in userspace: the core's
 * input buffer (kitls_conn_in_reserve, zero-copy; *msg set to NULL).  RX
 * in the kernel: this layer's record buffer (16 KiB, one record); with
 * msg non-NULL, *msg is a msghdr over it with room for the
 * TLS_GET_RECORD_TYPE control message (for recvmsg); with msg NULL, a
 * plain recv (a non-data record then fails it with EIO).  The buffer
 * belongs to the caller's receive until kitls_ktls_io_recv_done(); no
 * other kitls_ktls_* call that reads may run meanwhile.  Returns 0, 1 when
 * no record may be taken now (a KeyUpdate of ours must leave first:
 * kitls_ktls_flush()), or an error.
 */
KITLS_API KITLS_WUR int kitls_ktls_io_recv_buf(kitls_ktls *k, uint8_t **buf, size_t *cap,
                                               struct msghdr **msg);
/**
 * The caller is idle on receive and posts no receive into
 * kitls_ktls_io_recv_buf()'s buffer: release the receive and output
 * buffers that hold no unread bytes (RX in userspace: the core's,
 * kitls_conn_release_buffers(); RX in the kernel: this layer's record
 * buffer once read).  The next kitls_ktls_io_recv_buf() or write takes
 * them again.  For a driver that receives into buffers of its own
 * (io_uring provided buffers) and hands the bytes over through
 * kitls_ktls_io_recv_buf() / kitls_ktls_io_recv_done().
 */
KITLS_API void kitls_ktls_io_release(kitls_ktls *k);
/**
 * The result of that receive: bytes (> 0), 0 at the end of the stream, or
 * -EIO/-EKEYEXPIRED from a plain recv on an offloaded RX.  Returns 0 (read
 * with kitls_ktls_io_read()), 1 when a non-data record is next (call
 * kitls_ktls_recv_control(), then read), 2 when the receive brought a
 * control record, now taken by the core (new RX key installed after a
 * KeyUpdate; read next: 0 after close_notify), or an error (the fatal
 * alert was queued or sent; a negative res with RX in userspace comes
 * back as res itself, a plain -errno).
 */
KITLS_API KITLS_WUR int kitls_ktls_io_recv_done(kitls_ktls *k, ssize_t res);
/**
 * Plaintext: first what kitls_ktls_enable() kept, then what the receives
 * brought.  Returns bytes (> 0), 0 after the peer's close_notify,
 * -EAGAIN (post another receive), KITLS_KTLS_E_TRUNCATED (the
 * stream ended without close_notify), or an error.
 */
KITLS_API KITLS_WUR ssize_t kitls_ktls_io_read(kitls_ktls *k, void *buf, size_t len);
/** TX in userspace: seal len bytes into the core's output (send them
 *  with kitls_ktls_io_out()).  Returns len or an error; KITLS_E_STATE
 *  with TX in the kernel. */
KITLS_API KITLS_WUR ssize_t kitls_ktls_io_write(kitls_ktls *k, const void *buf, size_t len);
/** TX in userspace: the ciphertext waiting to be sent (handshake, data,
 *  KeyUpdate, alerts, close_notify); 0 with TX in the kernel. */
KITLS_API size_t kitls_ktls_io_out(kitls_ktls *k, const uint8_t **p);
/** n bytes of kitls_ktls_io_out() were sent. */
KITLS_API void kitls_ktls_io_out_done(kitls_ktls *k, size_t n);
/** TX in the kernel: 1 if a record of the core (ticket, alert,
 *  close_notify) waits for kitls_ktls_flush(), 2 if it is a KeyUpdate,
 *  0 if none (always 0 with TX in userspace). */
KITLS_API int kitls_ktls_io_ctrl_pending(kitls_ktls *k);
/** The largest record plaintext the peer accepts (RFC 8449): a caller
 *  sending on a kTLS socket keeps each send at most this long. */
KITLS_API size_t kitls_ktls_io_max_fragment(const kitls_ktls *k);
/** Queue a KeyUpdate (request: ask the peer to update too); it leaves
 *  through kitls_ktls_io_out() or kitls_ktls_flush().  0 or an error. */
KITLS_API KITLS_WUR int kitls_ktls_io_key_update(kitls_ktls *k, int request);
/** Queue close_notify; it leaves like kitls_ktls_io_key_update()'s. */
KITLS_API KITLS_WUR int kitls_ktls_io_close(kitls_ktls *k);

#ifdef __cplusplus
}
#endif
#endif
