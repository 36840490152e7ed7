/*
 * kitls io_uring driver — TLS 1.3 connections on an io_uring event loop.
 *
 * The driver accepts or connects, runs the handshake by moving bytes
 * between the socket and the sans-I/O core (kitls.h) with io_uring
 * recv/send, offloads record protection to kernel TLS (ktls.h) when asked
 * and the kernel can, and then moves application data: with kTLS through
 * plain io_uring send/recv and splice on the kTLS socket, otherwise
 * through the core's userspace record layer.  No thread per connection,
 * no blocking system call on the data path.
 *
 * Two ways to use it, in liburing's idiom:
 *
 *   - kitls owns the ring: kitls_uring_new(&u, NULL, ...), then call
 *     kitls_uring_run() in a loop.
 *   - the application owns the ring: kitls_uring_new(&u, &ring, ...).
 *     Driver calls place SQEs on that ring (never submit while you are
 *     preparing your own SQE: call them between your own preps); submit
 *     as usual, and pass every CQE whose user_data carries the driver's tag
 *     (kitls_uring_owns()) to kitls_uring_handle_cqe().  Call
 *     kitls_uring_flush() before each submit so that work deferred by a
 *     full submission queue is queued.
 *
 * user_data of the driver's SQEs packs a tag byte, the operation and the
 * connection slot with a generation (KITLS_URING_UD_*); the application's
 * own SQEs must not use the tag in their top byte.
 *
 * Functions return 0 (or a byte count) on success and -errno on failure.
 * A connection's close reason (EV_CLOSED) is one int in the one error
 * space of kitls.h (kitls_strerror() describes it):
 *   - 0: orderly close (close_notify both ways);
 *   - -errno: a system failure, and also -ETIMEDOUT (handshake or close
 *     timed out) and -ECANCELED (kitls_uring_abort() or kitls_uring_free());
 *   - KITLS_E_EOF: the TCP stream ended without close_notify (a reset
 *     reported by the kernel is -ECONNRESET);
 *   - any other KITLS_E_* or KITLS_KTLS_E_* code: the TLS failure itself
 *     (KITLS_ERR_IS_PEER_ALERT() when the peer sent a fatal alert).
 * A connection accepted above max_conns never becomes a connection: its
 * socket is closed at once and counted in the stats (overloads), no event.
 *
 * Opcodes are probed at run time (io_uring_get_probe_ring): multishot
 * accept, IORING_OP_SHUTDOWN, IORING_OP_SPLICE and cancel fall back to
 * single-shot accept or plain system calls on kernels that lack them.
 */
#ifndef KITLS_URING_H
#define KITLS_URING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <liburing.h>

#include "kitls/kitls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kitls_uring kitls_uring;
typedef struct kitls_uring_conn kitls_uring_conn;

/* ------------------------------------------------------------------ */
/* user_data packing                                                   */
/* ------------------------------------------------------------------ */

/** Default tag in the top byte of the driver's user_data. */
#define KITLS_URING_DEFAULT_TAG 0xA7u
/** Bits: 63..56 tag, 55..48 operation, 47..32 generation, 31..0 slot. */
#define KITLS_URING_UD(tag, op, gen, slot)                                                         \
    (((uint64_t)(tag) << 56) | ((uint64_t)((op)&0xff) << 48) | ((uint64_t)((gen)&0xffff) << 32) |  \
     (uint64_t)(uint32_t)(slot))
#define KITLS_URING_UD_TAG(ud) ((unsigned)((ud) >> 56))
#define KITLS_URING_UD_OP(ud) ((unsigned)(((ud) >> 48) & 0xff))
#define KITLS_URING_UD_GEN(ud) ((unsigned)(((ud) >> 32) & 0xffff))
#define KITLS_URING_UD_SLOT(ud) ((uint32_t)(ud))

/** Operations named in user_data. */
enum kitls_uring_op {
    KITLS_URING_OP_ACCEPT = 1, /**< slot = listener index */
    KITLS_URING_OP_CONNECT,
    KITLS_URING_OP_RECV,
    KITLS_URING_OP_SEND,
    KITLS_URING_OP_READ,       /**< file read for kitls_uring_sendfile (userspace) */
    KITLS_URING_OP_SPLICE_IN,  /**< file -> pipe (kTLS) */
    KITLS_URING_OP_SPLICE_OUT, /**< pipe -> socket (kTLS) */
    KITLS_URING_OP_SHUTDOWN,
    KITLS_URING_OP_CLOSE,
    KITLS_URING_OP_CANCEL,
    KITLS_URING_OP_POLL,         /**< readiness wait for a kTLS control step */
    KITLS_URING_OP_TIMER,        /**< the driver's clock tick */
    KITLS_URING_OP_WATCH,        /**< an application fd watch or timer (kitls_uring_watch_fd) */
    KITLS_URING_OP_WATCH_CANCEL, /**< its cancel (kitls_uring_watch_cancel) */
    KITLS_URING_OP_POLL_RX,      /**< readiness wait of a receive that found no buffer or data */
};

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

/** Try kTLS after the handshake (kitls_uring_params.ktls). */
#define KITLS_URING_KTLS_OFF 0u
#define KITLS_URING_KTLS_TX 1u /**< = KITLS_KTLS_TX */
#define KITLS_URING_KTLS_RX 2u /**< = KITLS_KTLS_RX */
#define KITLS_URING_KTLS_BOTH 3u

/** kitls_uring_params.flags */
#define KITLS_URING_F_NO_MULTISHOT 1u /**< never use multishot accept */
#define KITLS_URING_F_NODELAY 2u      /**< TCP_NODELAY on every connection */
#define KITLS_URING_F_NO_SPLICE 4u    /**< serve files by read + send even on kTLS */
/** kTLS on a kernel that cannot rekey (before 6.14): offload anyway and end
 *  a connection cleanly when a KeyUpdate arrives or is due
 *  (KITLS_KTLS_REKEY_CLOSE).  Default: such connections stay in userspace
 *  (KITLS_KTLS_REKEY_REQUIRE, ktls_reason KITLS_KTLS_R_NO_REKEY). */
#define KITLS_URING_F_KTLS_REKEY_CLOSE 8u
/** Never receive into a provided buffer ring: each connection keeps a
 *  receive buffer posted (16 KiB, also while idle), as on kernels before
 *  5.19, where the driver falls back to this by itself. */
#define KITLS_URING_F_NO_BUF_RING 16u

/** Driver parameters; zero fields take the defaults shown. */
struct kitls_uring_params {
    unsigned entries;              /**< ring size when kitls owns it (256) */
    unsigned max_conns;            /**< connections at once, hard bound (1024); near it
                                        accepting is single-shot, at it accepting pauses */
    unsigned max_handshakes;       /**< handshakes in progress before accept pauses (256) */
    unsigned handshake_timeout_ms; /**< accept/connect to established (10000) */
    unsigned close_timeout_ms;     /**< wait for the peer's close_notify/EOF (5000) */
    size_t max_send_queue;         /**< queued bytes per connection before -EAGAIN (262144) */
    unsigned ktls;                 /**< KITLS_URING_KTLS_* to try (OFF) */
    unsigned flags;                /**< KITLS_URING_F_* */
    uint8_t tag;                   /**< user_data tag (KITLS_URING_DEFAULT_TAG) */
    /** kTLS TX: records under one key before the driver sends a KeyUpdate
     *  (0 = the kTLS layer's default: 2^24 for AES-GCM, 2^40 for
     *  ChaCha20-Poly1305).  Give the value given to
     *  kitls_config_set_key_update_limit(). */
    uint64_t ktls_key_update_limit;
    /** Server: the bytes sent in the clear, instead of the core's alert,
     *  to a client whose first byte is an ASCII letter, which no TLS record
     *  starts with (RFC 8446 §5.1) but a plaintext protocol's command does
     *  (an HTTP/1.x request line sent to a TLS port): e.g. an HTTP 400
     *  response.  Then the connection closes as any failed handshake does,
     *  lingering so that the client reads it (counted in stats.not_tls).
     *  Read when it is sent: it must outlive the driver, and the
     *  application may rewrite it in place (a Date header) between calls.
     *  NULL/0: the alert, as for any malformed record. */
    const void *plain_reply;
    size_t plain_reply_len;
};

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

enum kitls_uring_event_type {
    /** The handshake completed; `info` is set. */
    KITLS_URING_EV_HANDSHAKE = 1,
    /** Application data received: `data`, `len` (valid during the call). */
    KITLS_URING_EV_DATA,
    /** Everything queued with kitls_uring_send/_sendfile was handed to the
     *  kernel (`len` = plaintext bytes since the last such event): a
     *  sender that got -EAGAIN may continue. */
    KITLS_URING_EV_SENT,
    /** The peer sent close_notify: it will send no more data (half-close).
     *  We may still send; call kitls_uring_close() when done. */
    KITLS_URING_EV_EOF,
    /** The connection is gone; `reason` says why (0 = orderly close both
     *  ways).  The connection handle is invalid after the callback.  An
     *  accepted connection whose handshake fails before EV_HANDSHAKE is
     *  reported to no callback (the application never saw it): it is
     *  counted in the stats (kitls_uring_get_stats()). */
    KITLS_URING_EV_CLOSED,
};

/**
 * What KITLS_URING_EV_HANDSHAKE adds.  The negotiated parameters (suite, group,
 * ALPN, SNI, resumption) are read from the core connection:
 * kitls_conn_suite(kitls_uring_conn_tls(ev->conn)) and so on.
 */
struct kitls_uring_info {
    int ktls_tx, ktls_rx;  /**< 1 if that direction runs in the kernel */
    int ktls_reason;       /**< enum kitls_ktls_reason for RX (or TX if RX was not tried) */
    unsigned handshake_us; /**< accept/connect to established */
};

struct kitls_uring_event {
    enum kitls_uring_event_type type;
    kitls_uring_conn *conn;
    void *user;                          /**< kitls_uring_conn_set_user() value */
    const uint8_t *data;                 /**< EV_DATA */
    size_t len;                          /**< EV_DATA, EV_SENT */
    int reason;                          /**< EV_CLOSED: 0, -errno or a KITLS_E_* code */
    const struct kitls_uring_info *info; /**< EV_HANDSHAKE */
};

/** Event callback.  It may call any kitls_uring_* function on any
 *  connection, this one included (close, abort, send, key update, pause),
 *  from every event type: the driver holds the connection while it
 *  reports an event and frees it only after the callback returned (in
 *  EV_CLOSED, calls on it do nothing or return -ENOTCONN). */
typedef void (*kitls_uring_event_fn)(void *ctx, const struct kitls_uring_event *ev);

/* ------------------------------------------------------------------ */
/* Driver                                                              */
/* ------------------------------------------------------------------ */

/**
 * Create a driver.  `ring` NULL: kitls creates and owns a ring of
 * params->entries entries; otherwise the application's initialised ring is
 * used (and must outlive the driver).  `params` may be NULL.  Returns 0
 * and *out, or -errno.
 */
KITLS_API KITLS_WUR int kitls_uring_new(kitls_uring **out, struct io_uring *ring,
                                        const struct kitls_uring_params *params,
                                        kitls_uring_event_fn fn, void *ctx);
/**
 * Free the driver: aborts every connection and listener, waits for their
 * operations to complete (owned ring), closes their sockets and frees
 * everything.  With an application ring, first call kitls_uring_shutdown()
 * and keep handing CQEs to kitls_uring_handle_cqe() until
 * kitls_uring_inflight() is 0; kitls_uring_free() then frees at once.
 * NULL is allowed.
 */
KITLS_API void kitls_uring_free(kitls_uring *u);
/** Abort all connections and stop all listeners (EV_CLOSED is reported
 *  for each, reason -ECANCELED).  Idempotent. */
KITLS_API void kitls_uring_shutdown(kitls_uring *u);
/** Operations of the driver still in the kernel. */
KITLS_API unsigned kitls_uring_inflight(const kitls_uring *u);
/** The ring (owned or not). */
KITLS_API struct io_uring *kitls_uring_ring(kitls_uring *u);

/**
 * Owned ring: submit, wait up to timeout_ms (-1: until something completes)
 * for at least one completion and process all that are ready.  Returns the
 * number of CQEs handled (0 on timeout) or -errno.
 */
KITLS_API KITLS_WUR int kitls_uring_run(kitls_uring *u, int timeout_ms);
/** 1 if cqe belongs to the driver (its tag), else 0. */
KITLS_API int kitls_uring_owns(const kitls_uring *u, const struct io_uring_cqe *cqe);
/**
 * Application ring: process one of the driver's CQEs (the caller then
 * marks it seen).  Returns 1 if handled, 0 if it was not the driver's.
 */
KITLS_API int kitls_uring_handle_cqe(kitls_uring *u, const struct io_uring_cqe *cqe);
/** Queue work deferred because the submission queue was full.  Returns
 *  the number of SQEs queued, or -errno. */
KITLS_API int kitls_uring_flush(kitls_uring *u);

/** Counters (since kitls_uring_new). */
struct kitls_uring_stats {
    unsigned conns;       /**< open now */
    unsigned handshaking; /**< handshakes in progress now */
    uint64_t accepted, connected, handshakes, handshake_failures, timeouts, overloads;
    uint64_t bytes_in, bytes_out; /**< application data */
    uint64_t ktls_conns;          /**< connections offloaded to the kernel */
    int multishot_accept;         /**< 1 if multishot accept is in use */
    /** kTLS control records (tickets, KeyUpdate, alerts) received through
     *  io_uring recvmsg with their type, and through the kTLS layer's
     *  own recvmsg after -EIO/-EKEYEXPIRED (kernels without RECVMSG). */
    uint64_t ktls_ctrl_recvmsg, ktls_ctrl_sync;
    uint64_t ktls_tx_rekeys; /**< TX keys installed after a KeyUpdate of ours on
                                       kTLS connections (counted when they close) */
    /** Connections in a lingering close now (also counted in conns): after
     *  a fatal alert, or close_notify both ways with input possibly unread,
     *  the driver shuts down its write side and reads and discards input
     *  (at most 256 KiB, at most 1 s or close_timeout_ms) before it closes
     *  the socket, so that the peer gets the alert and not a TCP reset.
     *  EV_CLOSED follows the lingering close. */
    unsigned lingering;
    /** Receives select a buffer from the driver's provided buffer ring
     *  (Linux 5.19+), so that a connection waiting for data holds none:
     *  1 in use; 0 off (KITLS_URING_F_NO_BUF_RING); -errno the kernel
     *  refused the ring and every connection keeps its receive buffer. */
    int rx_buf_ring;
    unsigned rx_bufs;   /**< buffers in that ring now (it grows when it runs short) */
    uint64_t rx_nobufs; /**< receives that found the ring empty (posted again) */
    uint64_t not_tls;   /**< plaintext clients answered with params.plain_reply */
};
KITLS_API void kitls_uring_get_stats(const kitls_uring *u, struct kitls_uring_stats *st);

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

/**
 * Accept TLS connections on a listening socket with `cfg` (a server
 * config; the driver takes a reference).  Accepted connections report
 * EV_HANDSHAKE once established (or EV_CLOSED).  The socket stays the
 * caller's.  Returns a listener id (>= 0) or -errno (-ENOSPC: too many
 * listeners, at most 8).
 */
KITLS_API KITLS_WUR int kitls_uring_listen(kitls_uring *u, int listen_fd, kitls_config *cfg);
/** Stop accepting on a listener id (pending accepts are cancelled). */
KITLS_API int kitls_uring_unlisten(kitls_uring *u, int id);
/**
 * Hot reload (new certificate, key, OCSP staple, ticket keys): connections
 * accepted on listener `id` from now on use `cfg` (a server config; the
 * driver takes a reference and drops the one it held).  Connections
 * already accepted keep the config they started with, until they end.
 * Call from the ring's thread, between kitls_uring_run() calls or from an
 * event callback.  Returns 0, or -EINVAL (NULL, or no such active
 * listener).
 */
KITLS_API KITLS_WUR int kitls_uring_listen_set_config(kitls_uring *u, int id, kitls_config *cfg);

/**
 * Connect to addr as a TLS client with `cfg` (a client config) and the
 * given server name (SNI and certificate check; NULL for none, which a
 * verifying config refuses unless kitls_config_set_verify_name(cfg, 0):
 * its handshake fails with KITLS_E_NO_SERVER_NAME).  `user`
 * is the connection's user pointer.  Returns 0 and *out (may be NULL) or
 * -errno; the outcome arrives as EV_HANDSHAKE or EV_CLOSED.
 */
KITLS_API KITLS_WUR int kitls_uring_connect(kitls_uring *u, const struct sockaddr *addr,
                                            socklen_t addrlen, kitls_config *cfg,
                                            const char *server_name, void *user,
                                            kitls_uring_conn **out);

/**
 * Queue application data (copied).  Before EV_HANDSHAKE it is held and
 * sent after the handshake.  Returns len, -EAGAIN when more than
 * max_send_queue bytes are already queued (wait for EV_SENT), -EPIPE after
 * kitls_uring_close(), or -ENOTCONN once the connection failed.
 */
KITLS_API KITLS_WUR int kitls_uring_send(kitls_uring_conn *c, const void *buf, size_t len);
/**
 * Queue `len` bytes of file `fd` from `off` (the fd must stay open until
 * EV_SENT).  kTLS TX: io_uring splice through a pipe (the kernel
 * encrypts); otherwise io_uring read + userspace encryption.  Ordered with
 * kitls_uring_send().  Returns 0 or -errno as kitls_uring_send().
 */
KITLS_API KITLS_WUR int kitls_uring_sendfile(kitls_uring_conn *c, int fd, off_t off, size_t len);
/**
 * Orderly close: after the queued data, send close_notify and shut down
 * writing (half-close, like shutdown(SHUT_WR)).  Data the peer still sends
 * is delivered (EV_DATA) until its close_notify or EOF, or until
 * close_timeout_ms; then the socket is closed: EV_CLOSED (reason 0 when
 * both sides sent close_notify).  When the peer's EOF was not read yet,
 * the driver first reads and discards what follows (at most 256 KiB, 1 s;
 * see kitls_uring_stats.lingering) so the close sends no TCP reset; a
 * fatal alert is followed by the same lingering close.  Idempotent.
 */
KITLS_API int kitls_uring_close(kitls_uring_conn *c);
/** Abort: cancel in-flight operations and reset the connection (TCP RST,
 *  no close_notify).  EV_CLOSED follows with -ECANCELED. */
KITLS_API void kitls_uring_abort(kitls_uring_conn *c);
/**
 * Update our sending keys (RFC 8446 §4.6.3), asking the peer to update
 * too when `request` is 1: the KeyUpdate follows the data queued so far.
 * With kTLS TX the new key is installed into the kernel after the
 * KeyUpdate record left (a kernel that cannot rekey ends the connection
 * under KITLS_URING_F_KTLS_REKEY_CLOSE).  Returns 0, -ENOTCONN before
 * EV_HANDSHAKE or after a failure, -EPIPE after kitls_uring_close(), or
 * -EBUSY when the core refuses (too many KeyUpdates pending).
 */
KITLS_API int kitls_uring_key_update(kitls_uring_conn *c, int request);
/** Stop (1) or resume (0) reading from the peer (receive backpressure). */
KITLS_API void kitls_uring_pause_recv(kitls_uring_conn *c, int pause);

/** Queued bytes not yet handed to the kernel. */
KITLS_API size_t kitls_uring_conn_queued(const kitls_uring_conn *c);
KITLS_API void kitls_uring_conn_set_user(kitls_uring_conn *c, void *user);
KITLS_API void *kitls_uring_conn_user(const kitls_uring_conn *c);
/** The core connection (negotiated parameters, sessions; do not read,
 *  write or feed it directly). */
KITLS_API kitls_conn *kitls_uring_conn_tls(kitls_uring_conn *c);
/** The socket. */
KITLS_API int kitls_uring_conn_fd(const kitls_uring_conn *c);
/** 1 if the connection is past its handshake and offloaded (dir). */
KITLS_API int kitls_uring_conn_ktls(const kitls_uring_conn *c, enum kitls_dir dir);
/** Key changes installed into the kernel on an offloaded connection (TX,
 *  RX; either may be NULL); 0 without kTLS. */
KITLS_API void kitls_uring_conn_ktls_rekeys(const kitls_uring_conn *c, unsigned *tx, unsigned *rx);

/* ------------------------------------------------------------------ */
/* Asynchronous anti-replay checks and application watches            */
/* ------------------------------------------------------------------ */
/**
 * A server config with kitls_config_set_antireplay_async() may leave a
 * handshake waiting for its store (kitls_conn_handshake() returns
 * KITLS_E_WANT_ASYNC).  The driver then parks the connection: it
 * processes none of its input and sends nothing for it; the receive
 * already posted stays posted, so that a peer that closes (EOF, reset)
 * ends the connection at once if it sent nothing more; bytes that arrive
 * are kept for later and no further receive is posted.  The handshake
 * timeout (handshake_timeout_ms) still runs.  The store posts its answer
 * with kitls_conn_antireplay_done(kitls_uring_conn_tls(c), verdict), then
 * calls kitls_uring_conn_resume(c): the driver continues the handshake.
 *
 * Every KITLS_ANTIREPLAY_PENDING answer must be followed by exactly one
 * kitls_uring_conn_resume() of its connection, before kitls_uring_free():
 * a connection that ends while parked (timeout, peer close, abort,
 * shutdown) keeps its handle and core connection until then (no event:
 * an accepted connection stays invisible to the event callback until
 * EV_HANDSHAKE or 0-RTT data), so a late answer is always safe.
 * kitls_uring_free() frees what is still parked; answers after it are
 * not allowed.  Call from the ring's thread.  Returns 0 (the handshake
 * goes on), -ENOTCONN (the connection had ended while parked: the handle
 * is freed now and invalid), -EINVAL (NULL, or not parked: the call does
 * nothing).
 */
KITLS_API int kitls_uring_conn_resume(kitls_uring_conn *c);
/**
 * The driver's connection of the core connection `c`, for a store
 * callback: valid for the connection whose handshake the driver is
 * running on this thread (the callback's `c`) and for a parked one; NULL
 * for any other (a connection not driven by a kitls_uring, NULL).
 * Thread-safe.
 */
KITLS_API kitls_uring_conn *kitls_uring_conn_from_tls(kitls_conn *c);
/**
 * Callback of a watch or timer: called once, from kitls_uring_run() or
 * kitls_uring_handle_cqe() (or kitls_uring_shutdown()/kitls_uring_free()
 * for a cancel), with res = the poll's revents (> 0) for an fd watch, 0
 * when a timer's time passed, -ECANCELED after kitls_uring_watch_cancel()
 * or shutdown, or another -errno.  It may add or cancel watches and call
 * any kitls_uring_* function.
 */
typedef void (*kitls_uring_watch_fn)(void *arg, int res);
/**
 * Application file descriptors on the driver's ring, so that an
 * asynchronous client (a store's network client) runs on the same loop
 * without blocking it: a one-shot poll of `fd` for poll_mask (POLLIN,
 * POLLOUT, ...).  Its SQE carries the driver's tag
 * (KITLS_URING_OP_WATCH): with an application ring, its CQE goes to
 * kitls_uring_handle_cqe() like the driver's others.  Returns an id (> 0)
 * for kitls_uring_watch_cancel(), or -EINVAL (NULL u or cb, negative fd),
 * -ESHUTDOWN (after kitls_uring_shutdown), -ENOMEM, -EBUSY (application
 * ring: no free SQE; submit and try again).
 */
KITLS_API KITLS_WUR int kitls_uring_watch_fd(kitls_uring *u, int fd, unsigned poll_mask,
                                             kitls_uring_watch_fn cb, void *arg);
/** A one-shot timer of `ms` milliseconds on the driver's ring (res 0 when
 *  it expires).  Returns an id (> 0) or the errors of kitls_uring_watch_fd(). */
KITLS_API KITLS_WUR int kitls_uring_timer(kitls_uring *u, unsigned ms, kitls_uring_watch_fn cb,
                                          void *arg);
/**
 * Cancel a watch or timer: its callback still runs once, with
 * -ECANCELED (or with its own result if that came first), so its owner
 * knows when `arg` may be freed.  Returns 0, -ENOENT (no such watch: its
 * callback already ran), -EALREADY (already cancelled), -EBUSY (no free
 * SQE on an application ring; try again after a submit), -EINVAL.
 * kitls_uring_shutdown() cancels every watch.
 */
KITLS_API int kitls_uring_watch_cancel(kitls_uring *u, int id);
#ifdef __cplusplus
}
#endif
#endif
