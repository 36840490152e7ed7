/*
 * Internal state of the io_uring driver.  Calls go down: conn.c (the
 * per-connection pump and public calls) -> send.c, ktls.c, linger.c,
 * rxbuf.c (receives into the provided buffer ring) -> base.c (SQEs,
 * events, failures, dead states) -> state.c (the table); everyone uses
 * driver.c's ring, clock and deadline lists, and driver.c (ring, table,
 * listeners, ticks) calls only conn.c (completions, pumps, deadlines) and
 * rxbuf.c's setup and teardown of the ring: driver.c and conn.c are the
 * one pair calling each other.
 */
#ifndef KITLS_URING_INT_H
#define KITLS_URING_INT_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kitls/kitls.h"
#include "kitls/ktls.h"
#include "kitls/uring.h"

#define URING_MAX_LISTENERS 8
#define URING_ACCEPT_MARGIN 32 /* see accept_room() in driver.c */
#define URING_SLOT_TIMER 0xffffffffu
/* Plaintext handed to the core per write, and file bytes per read or
 * splice: bounds the core's output buffer and the file buffer. */
#define URING_CHUNK 65536u
#define URING_FBUF 32768u
#define URING_SCRATCH 16384u
#define URING_SBUF (URING_CHUNK + 4096u) /* ciphertext of one chunk, whole records */
/* kTLS splice of a large file: the pipe grows to this (F_SETPIPE_SZ) and
 * each splice pair moves this much, not URING_CHUNK (send.c pipe_open). */
#define URING_PIPE_BIG (1024u * 1024u)
/* Lingering close (linger.c): after our last bytes and the
 * shutdown of the write side, at most this much input is read and thrown
 * away, for at most this long (and never longer than close_timeout_ms),
 * before the socket is closed. */
#define URING_LINGER_BYTES (256u * 1024u)
#define URING_LINGER_MS 1000u
#define URING_LINGER_BUF 16384u
/* Provided buffer ring (rxbuf.c): buffers of one kTLS record's plaintext
 * (the userspace path copies any size into the core); the ring starts
 * with URING_RXB_FIRST buffers and grows by as many when it is empty
 * with data waiting (a burst, or kTLS data held for paused
 * applications), up to one per connection. */
#define URING_RXB_SIZE 16384u
#define URING_RXB_FIRST 64u
#define URING_RXB_BGID(u) (0x4b00u | (u)->p.tag) /* buffer group: 'K' + tag */

/*
 * A connection's life (uring/state.c holds the table of legal
 * transitions; uring_cs_set() is the only writer of `st`).
 */
enum conn_state {
    CS_NEW = 0,      /* allocated, not started */
    CS_CONNECTING,   /* client: IORING_OP_CONNECT in flight */
    CS_HANDSHAKE,    /* handshake bytes through the kTLS object (userspace) */
    CS_ENABLING,     /* established; kitls_ktls_enable() waits for a send or the socket */
    CS_OPEN,         /* data both ways */
    CS_CLOSING,      /* our close_notify queued: SHUT_WR, then the peer's close_notify/EOF */
    CS_LINGER,       /* dead: cancel the open connection's receive/poll/file ops (linger.c) */
    CS_LINGER_FLUSH, /* dead: our last records (alert, close_notify) out, then SHUT_WR */
    CS_LINGER_DRAIN, /* dead: input read and dropped until EOF, bytes or deadline */
    CS_CANCEL,       /* dead: cancel everything still in flight */
    CS_CANCELLED,    /* dead: cancels sent, waiting for the last completion */
    CS_CLOSE_FD,     /* IORING_OP_CLOSE in flight */
    CS_FREED,        /* terminal: EV_CLOSED told (if visible), memory freed */
    CS_COUNT
};

/* Dead to the application: no event but EV_CLOSED, calls do nothing. */
#define CS_DEAD(st) ((st) >= CS_LINGER)
#define CS_LINGERING(st) ((st) >= CS_LINGER && (st) <= CS_LINGER_DRAIN)
/* Established and not dead: data may flow (half-closed in CS_CLOSING). */
#define CS_LIVE_OPEN(st) ((st) == CS_OPEN || (st) == CS_CLOSING)

/* One queued piece of output: application bytes or a file range. */
struct chunk {
    struct chunk *next;
    int file_fd; /* -1 for data */
    off_t file_off;
    size_t len, off; /* data: bytes and bytes taken; file: bytes left in len - off */
    uint8_t data[];
};

struct kitls_uring_conn {
    kitls_uring *u;
    uint32_t slot;
    uint16_t gen;
    enum conn_state st;
    int fd;
    kitls_conn *tls;
    kitls_ktls *ktls; /* the transport, from the start (userspace until enabled) */
    void *user;
    int reason;        /* first close reason: 0, -errno or a KITLS_E_* code */
    unsigned inflight; /* SQEs of this connection in the kernel */
    unsigned busy;     /* mask of (1 << op) in flight */
    unsigned in_pump;
    /* Not states: facts and requests that hold across several states. */
    unsigned server : 1, /* role */
        visible : 1,     /* the application has the handle (EV_CLOSED owed) */
        counted_hs : 1,  /* holds a handshake slot (st.handshaking) */
        /* the application's requests, which may come in any live state
         * (a close asked during the handshake is carried out once open) */
        paused : 1, close_req : 1,
        /* the two half-streams, independent of each other and of our
         * state: the peer's end (close_notify or EOF) and our SHUT_WR */
        eof : 1, peer_done : 1, eof_told : 1, wr_shut : 1,
        reset : 1,    /* close with a TCP reset (abort, timeout) */
        deferred : 1, /* on u->deferred (no free SQE) */
        /* work for the pump: input to process, a kTLS control record to
         * read (plain recv said EIO), another round asked while held */
        rx_ready : 1, ctrl_pending : 1, again : 1,
        /* the first received byte was seen; it was a letter, not a TLS
         * record (params.plain_reply) */
        rx_first : 1, not_tls : 1, pipe_tried : 1, /* F_SETPIPE_SZ was tried (send.c pipe_open) */
        /* the handshake waits for an asynchronous anti-replay answer
         * (async.c): no input processed until kitls_uring_conn_resume();
         * died while waiting: only the handle and the core connection are
         * left, freed by that resume (or kitls_uring_free) */
        parked : 1, zombie : 1;
    struct kitls_uring_conn *ar_prev, *ar_next; /* async.c: parked or zombie */
    /* provided-buffer receive (rxbuf.c): the recv in flight selects a
     * ring buffer (rx_sel), as a kTLS recvmsg (rx_kmsg) whose record type
     * comes in rx_cb; kTLS data not yet delivered holds its buffer. */
    unsigned rx_sel : 1, rx_kmsg : 1,
        rx_waitbuf : 1, /* the ring was empty (-ENOBUFS): polled for data, try again */
        rx_defer : 1;   /* empty again: try after this round (u->deferred) */
    uint16_t rxb_bid;
    uint32_t rxb_len; /* kTLS data in ring buffer rxb_bid; 0: no buffer held */
    struct msghdr rx_msg;
    struct iovec rx_iov;
    union {
        char buf[CMSG_SPACE(sizeof(unsigned char))];
        struct cmsghdr align;
    } rx_cb;
    size_t drained; /* bytes read and discarded while lingering */
    uint8_t *lbuf;  /* their buffer */
    /* output queue */
    struct chunk *q_head, *q_tail;
    size_t q_bytes;    /* bytes in the queue not yet given to the core/kernel */
    size_t sent_acc;   /* plaintext handed on since the last EV_SENT */
    size_t send_len;   /* length of the send in flight */
    unsigned send_src; /* where it comes from (conn.c enum send_src) */
    uint8_t *sbuf;     /* ciphertext being sent (userspace TX) */
    size_t sbuf_len, sbuf_off, sbuf_cap;
    uint8_t *fbuf;                 /* file read buffer (userspace) */
    size_t fbuf_len;               /* bytes read, waiting to be encrypted */
    int pipe_fd[2];                /* kTLS splice pipe, -1 when unused */
    size_t pipe_len;               /* bytes in the pipe */
    size_t pipe_step;              /* bytes per splice into it (send.c) */
    struct sockaddr_storage *peer; /* client: address while connecting */
    socklen_t peer_len;
    /* deadline list (handshake or close) */
    uint64_t deadline_ms, start_us;
    struct kitls_uring_conn *dl_prev, *dl_next;
    int dl_list;                       /* 0 none, 1 handshake, 2 close, 3 linger */
    struct kitls_uring_conn *def_next; /* deferred list (SQ full) */
};

struct uring_listener {
    int fd;
    int active, armed, multishot, cancel_busy;
    kitls_config *cfg;
};

struct dl_list {
    struct kitls_uring_conn *head, *tail;
};

/* The provided buffer ring (rxbuf.c). */
struct uring_rxb {
    struct io_uring_buf_ring *br; /* NULL: per-connection receive buffers */
    uint8_t *mem;                 /* entries * URING_RXB_SIZE, mapped; touched on use */
    unsigned entries, count;      /* ring size (power of two), buffers added */
    unsigned held;                /* buffers connections hold across rounds */
    unsigned round, grown;        /* kitls_uring_flush() rounds; the last that grew */
};

/* The application's fd watches and timers on the ring (watch.c). */
struct uring_watch {
    kitls_uring_watch_fn cb;
    void *arg;
    struct __kernel_timespec ts; /* timers: read by the kernel at submission */
    uint16_t gen;
    uint8_t timer, cancel; /* a timer; its cancel was asked */
};

struct kitls_uring {
    struct io_uring *ring;
    struct io_uring own_ring;
    int owns_ring;
    struct kitls_uring_params p;
    kitls_uring_event_fn fn;
    void *ctx;
    unsigned inflight;
    struct kitls_uring_conn **table; /* max_conns slots */
    uint16_t *gens;
    uint32_t *free_slots;
    uint32_t n_free;
    struct uring_listener lis[URING_MAX_LISTENERS];
    struct dl_list dl[4];
    struct kitls_uring_conn *deferred;
    int timer_armed, timer_cancel, stopping, accept_deferred;
    struct __kernel_timespec tick;
    /* probed features */
    int have_multishot, have_shutdown, have_splice, have_recvmsg, have_close;
    struct kitls_uring_stats st;
    struct uring_rxb rxb;
    struct uring_watch **watches; /* by slot; NULL: free */
    uint32_t n_watches, n_watch_used;
    uint32_t watch_hint; /* no free slot below it */
    uint16_t watch_gen;  /* the last watch's generation */
    uint8_t scratch[URING_SCRATCH];
};

/* driver.c */
struct io_uring_sqe *uring_sqe(kitls_uring *u);
uint64_t uring_now_ms(void);
uint64_t uring_now_us(void);
void uring_dl_add(kitls_uring *u, struct kitls_uring_conn *c, int list, unsigned ms);
void uring_dl_del(kitls_uring *u, struct kitls_uring_conn *c);
void uring_defer(kitls_uring *u, struct kitls_uring_conn *c);
void uring_emit(kitls_uring *u, struct kitls_uring_event *ev);
void uring_slot_free(kitls_uring *u, struct kitls_uring_conn *c);
struct kitls_uring_conn *uring_conn_alloc(kitls_uring *u);

#define BUSY(op) (1u << (op))
#define FILE_OPS                                                                                   \
    (BUSY(KITLS_URING_OP_READ) | BUSY(KITLS_URING_OP_SPLICE_IN) | BUSY(KITLS_URING_OP_SPLICE_OUT))

/* base.c: a connection's primitives (calls only driver.c and state.c) */
struct io_uring_sqe *uring_conn_sqe(struct kitls_uring_conn *c);
void uring_conn_tag(struct kitls_uring_conn *c, struct io_uring_sqe *sqe, unsigned op);
/** Cancel each operation of c in the BUSY() mask ops; -1: no free SQE (retry). */
int uring_conn_cancel_ops(struct kitls_uring_conn *c, unsigned ops);
void uring_conn_poll(struct kitls_uring_conn *c, unsigned events);
void uring_conn_poll_rx(struct kitls_uring_conn *c);
void uring_conn_emit(struct kitls_uring_conn *c, enum kitls_uring_event_type type,
                     const uint8_t *data, size_t len, const struct kitls_uring_info *info);
void uring_conn_fail(struct kitls_uring_conn *c, int err);
void uring_conn_fail_tls(struct kitls_uring_conn *c, int code);
void uring_conn_first_bytes(struct kitls_uring_conn *c, const uint8_t *p, size_t n);
void uring_conn_kill(struct kitls_uring_conn *c, int reason, int reset);
/** The end of a live connection: lingering (if linger and it can) or cancelling. */
void uring_conn_die(struct kitls_uring_conn *c, int reason, int reset, int linger);
void uring_conn_hs_uncount(struct kitls_uring_conn *c);
int uring_linger_ok(const struct kitls_uring_conn *c);
void uring_linger_start(struct kitls_uring_conn *c);
void uring_linger_stop(struct kitls_uring_conn *c);

/* conn.c: the state machine (the pump) */
void uring_conn_accepted(kitls_uring *u, struct kitls_uring_conn *c, kitls_config *cfg);
int uring_conn_start(kitls_uring *u, struct kitls_uring_conn *c, kitls_config *cfg, int server,
                     const char *server_name);
void uring_conn_cqe(struct kitls_uring_conn *c, unsigned op, int res, unsigned flags);
void uring_conn_pump(struct kitls_uring_conn *c);
void uring_conn_peer_eof(struct kitls_uring_conn *c);
void uring_conn_deadline(struct kitls_uring_conn *c, int list);
void uring_conn_forget(struct kitls_uring_conn *c);

/* async.c: connections waiting for an anti-replay answer */
void uring_async_enter(struct kitls_uring_conn *c);
void uring_async_park(struct kitls_uring_conn *c);
/** finish(): 1 if c waits for its answer and stays as a zombie (not freed). */
int uring_async_zombie(struct kitls_uring_conn *c);
/** kitls_uring_free(): free u's zombies. */
void uring_async_free_all(kitls_uring *u);

/* watch.c: the application's watches */
void uring_watch_cqe(kitls_uring *u, unsigned op, unsigned gen, uint32_t slot, int res);
/** kitls_uring_shutdown(): cancel every watch (callbacks get -ECANCELED). */
void uring_watch_cancel_all(kitls_uring *u);
void uring_watch_free(kitls_uring *u);

/* state.c */
int uring_cs_legal(unsigned from, unsigned to);
const char *uring_cs_name(unsigned st);
int uring_cs_step(enum conn_state *st, enum conn_state to);
int uring_cs_set(struct kitls_uring_conn *c, enum conn_state to);

/* linger.c: the steps of a lingering close */
void uring_linger_step(struct kitls_uring_conn *c);
void uring_linger_cqe(struct kitls_uring_conn *c, unsigned op, int res);

/* ktls.c */
int uring_ktls_setup(struct kitls_uring_conn *c, int fd, const struct kitls_ktls_ops *ops);
int uring_ktls_try(struct kitls_uring_conn *c);
void uring_ktls_ctrl_step(struct kitls_uring_conn *c);

/* rxbuf.c: receives into the provided buffer ring */
void uring_rxb_init(kitls_uring *u);
void uring_rxb_free(kitls_uring *u);
int uring_rxb_post(struct kitls_uring_conn *c);
void uring_rxb_cqe(struct kitls_uring_conn *c, int res, unsigned flags);
void uring_rxb_deliver(struct kitls_uring_conn *c);
void uring_rxb_drop(struct kitls_uring_conn *c);

/* send.c */
void uring_q_pop(struct kitls_uring_conn *c);
int uring_sends_plain(const struct kitls_uring_conn *c);
size_t uring_out_pending(struct kitls_uring_conn *c);
int uring_queue_idle(struct kitls_uring_conn *c);
void uring_fill(struct kitls_uring_conn *c);
void uring_send_step(struct kitls_uring_conn *c);
void uring_on_send(struct kitls_uring_conn *c, int res);
int uring_q_data(struct kitls_uring_conn *c, const void *buf, size_t len, int *pump);
int uring_q_file(struct kitls_uring_conn *c, int fd, off_t off, size_t len, int *pump);

/** The next control record waiting for the offloaded TX
 *  (kitls_offload_out_record()); 0 when none, or TX is not offloaded. */
static inline int uring_out_record(kitls_conn *tls, uint8_t *type, const uint8_t **d, size_t *l,
                                   int *rekey)
{
    kitls_offload *o;
    return kitls_offload_get(tls, &o) == 0 && kitls_offload_out_record(o, type, d, l, rekey);
}

#endif
