/*
 * Shared helpers for the kitls example tools (kitls-client, kitls-server):
 * command-line option storage, config building, blocking TCP sockets and
 * the byte pump between a socket and a kitls_conn.  Options, files and
 * config building are implemented in common-config.c, the rest (sockets,
 * pump, kTLS, reporting) in common.c.
 *
 * Everything here uses only the public API in <kitls/kitls.h> and plain
 * POSIX sockets; it is meant to be read and copied.
 */
#ifndef KITLS_EXAMPLES_COMMON_H
#define KITLS_EXAMPLES_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <kitls/kitls.h>
#include <kitls/ktls.h>

/* A transport (socket) failure: errno was printed to stderr already. */
#define EX_E_IO (-1000)

#define EX_MAX_LIST 16

/* Options shared by both tools; each tool fills the ones it knows. */
struct ex_opts {
    const char *prog;
    const char *cert;
    const char *key;
    const char *cafile;
    const char *suites;     /* comma-separated IANA names */
    const char *groups;     /* comma-separated group names */
    const char *alpn;       /* comma-separated protocol names */
    const char *servername; /* client: SNI / name to verify */
    const char *host;       /* client: connect to; server: bind to */
    const char *port;
    const char *message;    /* client: data to send */
    const char *ready_file; /* server: write the bound port here */
    int verify;             /* enum kitls_verify, or -1 for the default */
    int key_shares;         /* 0 = default */
    int record_size_limit;  /* 0 = don't send */
    int max_hs_message;     /* kitls_limits.max_handshake_message, 0 = default */
    int no_compat;
    int hrr_cookie;
    int echo;
    int print;
    int once;
    int timeout; /* socket receive/send timeout in seconds, 0 = none */
    int quiet;
    /* Resumption, 0-RTT, KeyUpdate. */
    const char *sess_in;         /* client: offer the session in this file */
    const char *sess_out;        /* client: save the newest session here */
    const char *early_data_file; /* client: send this file as 0-RTT data */
    const char *ticket_key_file; /* server: ticket keys (hex lines) */
    int tickets;                 /* server: tickets per handshake, -1 = default */
    long early_data_max;         /* server: accept 0-RTT up to this, 0 = off */
    long early_window_ms;        /* server: 0-RTT freshness window, 0 = default */
    int key_update;              /* KeyUpdates to send mid-exchange */
    int key_update_request;      /* ... with update_requested */
    int naccept;                 /* server: connections to serve, 0 = forever */
    /* Kernel TLS offload (<kitls/ktls.h>). */
    unsigned ktls;        /* --ktls: KITLS_KTLS_TX/RX/BOTH, 0 = off */
    int ktls_policy;      /* --ktls-policy: enum kitls_ktls_rekey_policy */
    const char *sendfile; /* server: send this file after the handshake */
};

/* Fill in defaults (verify = -1, everything else 0/NULL). */
void ex_opts_init(struct ex_opts *o, const char *prog);

/* Parse "a,b,c" into at most max strings copied into storage; returns the
 * count or -1 if there are too many or an element is empty. */
int ex_split_list(const char *list, char *storage, size_t storage_len, const char **out,
                  size_t max);

/*
 * Build a config for role from the options.  On failure prints the reason
 * (prefixed with o->prog) and returns NULL.
 */
kitls_config *ex_config_build(enum kitls_role role, const struct ex_opts *o);

/* Read a whole file into a malloc'd buffer (NUL-terminated, not counted in
 * *len).  Prints the reason and returns NULL on failure. */
uint8_t *ex_read_file(const char *prog, const char *path, size_t *len);
/* Write len bytes to path (mode 0600, replaced atomically).  0 or -1. */
int ex_write_file(const char *prog, const char *path, const uint8_t *buf, size_t len);

/* Parse a non-negative decimal integer option; exits with usage error. */
int ex_parse_int(const char *prog, const char *opt, const char *arg, int min, int max);

/* ---- sockets ---- */

/* Connect over TCP (IPv4 or IPv6) to host:port.  Returns fd or -1. */
int ex_tcp_connect(const char *prog, const char *host, const char *port);
/*
 * Listen on host:port (host NULL = all addresses, IPv6 dual-stack when
 * available, else IPv4).  Port "0" picks a free port.  Stores the bound port
 * in *bound_port.  Returns fd or -1.
 */
int ex_tcp_listen(const char *prog, const char *host, const char *port, int *bound_port);
/* Apply send/receive timeouts (seconds, 0 = none) to fd. */
void ex_set_timeout(int fd, int seconds);

/* ---- the pump ---- */

/* Send everything kitls_conn_out_peek() has.  0 or EX_E_IO. */
int ex_flush(int fd, kitls_conn *c);
/* recv() once and kitls_conn_feed() the bytes.  0, KITLS_E_EOF on TCP EOF,
 * EX_E_IO, or a feed error. */
int ex_recv_feed(int fd, kitls_conn *c);
/* Drive the handshake to completion over fd.  0 or an error (any pending
 * alert has been flushed). */
int ex_handshake(int fd, kitls_conn *c);
/* Blocking read of application data: > 0 bytes, KITLS_E_CLOSED on
 * close_notify, or an error.  Post-handshake output (e.g. a KeyUpdate
 * reply) is flushed on the way. */
int ex_read(int fd, kitls_conn *c, uint8_t *buf, size_t len);
/* Send n KeyUpdates (request: with update_requested) and flush them.  0 or
 * an error. */
int ex_key_update(int fd, kitls_conn *c, int n, int request);
/* Encrypt and send all of buf.  0 or an error. */
int ex_write(int fd, kitls_conn *c, const uint8_t *buf, size_t len);
/* Send close_notify and flush it, then shut down the write side.  If
 * peer_closed, transport errors while flushing are not reported (the peer
 * may already be gone).  0 or an error. */
int ex_close(int fd, kitls_conn *c, int peer_closed);
/*
 * Close a connection's socket so that what we sent last (a fatal alert or
 * close_notify) reaches the peer: shut down the write side, read and
 * discard what the peer still sends until its EOF, at most
 * EX_LINGER_BYTES or EX_LINGER_MS, then close.  Use it instead of close()
 * for every connected socket.
 */
void ex_close_socket(int fd);
#define EX_LINGER_BYTES (256 * 1024)
#define EX_LINGER_MS 1000

/* ---- kernel TLS offload ---- */

/*
 * With --ktls, the pump above (ex_flush, ex_read, ex_write, ex_key_update,
 * ex_close) goes through a kitls_ktls object bound to the socket: once
 * offloaded, the kernel protects the records; otherwise the same calls use
 * the userspace record layer.  One connection at a time (these tools
 * serve one at a time).
 */

/* Parse --ktls tx|rx|both; exits with a usage error. */
unsigned ex_parse_ktls_mode(const char *prog, const char *arg);
/* Parse --ktls-policy require|close; exits with a usage error. */
int ex_parse_ktls_policy(const char *prog, const char *arg);
/* Bind a kTLS object to fd and c (before the handshake).  0 or an error. */
int ex_ktls_attach(int fd, kitls_conn *c, const struct ex_opts *o);
/* Drive the handshake reading one record at a time (nothing past the
 * handshake is taken from the socket).  0 or an error. */
int ex_ktls_handshake(void);
/* Offload per o->ktls (kitls_ktls_enable), make the socket non-blocking
 * and release the connection's record buffers.  A kernel without kTLS is
 * not an error.  0 or an error. */
int ex_ktls_enable(void);
/* 1 while a kTLS object is attached. */
int ex_ktls_active(void);
/* Print "ktls: tx+rx|tx|rx|off (<reason>)". */
void ex_ktls_print(FILE *f);
/* Print "ktls-rekeys: tx N rx N" (key changes installed into the kernel). */
void ex_ktls_print_rekeys(FILE *f);
/* One non-blocking read attempt: > 0 bytes, KITLS_E_CLOSED,
 * KITLS_E_WANT_READ (nothing yet), or an error. */
int ex_ktls_read_some(uint8_t *buf, size_t len);
/* Free the kTLS object (the socket and the connection stay). */
void ex_ktls_detach(void);
/*
 * Send the file at path with kitls_ktls_sendfile(): sendfile(2) through
 * the kernel when TX is offloaded, else read + userspace encryption (a
 * temporary kTLS object is used when none is attached).  Stores the bytes
 * sent and the seconds taken.  0 or an error.
 */
int ex_sendfile(int fd, kitls_conn *c, const char *path, uint64_t *sent, double *secs);

/* ---- reporting ---- */

/* Print the negotiated parameters as stable "key: value" lines (new keys
 * are only ever appended: resumed, early-data). */
void ex_print_params(FILE *f, const kitls_conn *c);
/* Print an error with its alert, the peer's alert and the verify detail. */
void ex_report_error(const char *prog, const kitls_conn *c, int err);

#endif
