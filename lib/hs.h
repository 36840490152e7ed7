/* Handshake state machine: states, the per-role message tables and the messages both roles share. */
#ifndef KITLS_HS_H
#define KITLS_HS_H

#include "conn.h"
#include "ext.h"
#include "kem.h"

enum hs_state {
    ST_CLIENT_START = 0,
    ST_CLIENT_WAIT_SH,
    ST_CLIENT_WAIT_EE,
    ST_CLIENT_WAIT_CERT_CR,
    ST_CLIENT_WAIT_CERT,
    ST_CLIENT_WAIT_CV,
    ST_CLIENT_WAIT_FIN,
    ST_SERVER_WAIT_CH,
    ST_SERVER_WAIT_CERT,
    ST_SERVER_WAIT_CV,
    ST_SERVER_WAIT_FIN,
    ST_SERVER_WAIT_EOED,
    ST_CONNECTED,
    ST_COUNT
};

/** A message handler: body is the message without its 4-byte header.
 *  Returns a negative error, or which of its row's next states follows
 *  (0: the first; the enums below name the others). */
typedef int (*hs_handler)(kitls_conn *c, struct rd *body);

/* The alternatives a handler chooses between (indexes into its row's next[]). */
enum { HS_NEXT = 0 };
enum { HS_SH_HRR = 1 };                                  /* ServerHello: it was an HRR */
enum { HS_EE_RESUMED = 1 };                              /* EncryptedExtensions: PSK, no certs */
enum { HS_CH_CERT = 1, HS_CH_EARLY = 2, HS_CH_HRR = 3 }; /* ClientHello */
enum { HS_CERT_EMPTY = 1 };                              /* client Certificate: none */

#define HS_MAX_NEXT 4

/* The body length a message type must have, where it has only one. */
enum hs_body {
    HS_BODY_VAR = 0, /* variable: the handler's reader checks it */
    HS_BODY_HASH,    /* Finished: the suite's hash length (§4.4.4) */
    HS_BODY_ONE,     /* KeyUpdate: one byte (§4.6.3) */
    HS_BODY_EMPTY,   /* EndOfEarlyData: empty (§4.5) */
};

/*
 * One row per (role, state, message): the message a role receives in a
 * state, or (sent) the one it sends to leave it, and the states that may
 * follow.  The handler picks one of next[] by its return value; only the
 * dispatcher (kitls_hs_process) and kitls_hs_sent() change c->state.
 */
struct hs_row {
    uint8_t state;
    uint8_t msg_type;
    uint8_t server;     /* role that handles it */
    uint8_t key_change; /* handler changes rx keys: must end a record */
    hs_handler fn;      /* NULL for a sent row */
    const char *name;
    uint8_t body;   /* enum hs_body */
    uint8_t sent;   /* this role sends the message (never looked up on receipt) */
    uint8_t n_next; /* entries of next[] */
    uint8_t next[HS_MAX_NEXT];
};

extern const struct hs_row kitls_hs_table[];
extern const size_t kitls_hs_table_len;

/** Look up the table row for receiving (role, state, type), or NULL. */
const struct hs_row *kitls_hs_lookup(int server, int state, uint8_t type);
/** A state's name ("ST_CLIENT_WAIT_SH"), "?" if none. */
const char *kitls_hs_state_name(int state);
/** The first state of a role (the start of its walk of the table). */
int kitls_hs_start_state(int server);
/** c sent a message of `type` (a sent row of its state): move on. */
int kitls_hs_sent(kitls_conn *c, uint8_t type);
/** Process handshake bytes buffered in c->hs_in. */
int kitls_hs_process(kitls_conn *c);
/** Client: send the first ClientHello. */
int kitls_hs_client_start(kitls_conn *c);

/* Handlers (hs_client.c / hs_server.c / hs.c). */
int kitls_hs_recv_server_hello(kitls_conn *c, struct rd *b);
int kitls_hs_recv_encrypted_extensions(kitls_conn *c, struct rd *b);
int kitls_hs_recv_certificate_request(kitls_conn *c, struct rd *b);
int kitls_hs_recv_client_hello(kitls_conn *c, struct rd *b);
int kitls_hs_recv_certificate(kitls_conn *c, struct rd *b);
int kitls_hs_recv_certificate_verify(kitls_conn *c, struct rd *b);
int kitls_hs_recv_finished(kitls_conn *c, struct rd *b);
int kitls_hs_recv_new_session_ticket(kitls_conn *c, struct rd *b);
int kitls_hs_recv_key_update(kitls_conn *c, struct rd *b);
int kitls_hs_recv_end_of_early_data(kitls_conn *c, struct rd *b);

/* Shared message builders (hs.c). */
int kitls_hs_send_cert(kitls_conn *c);
int kitls_hs_send_cv(kitls_conn *c);
int kitls_hs_send_fin(kitls_conn *c);
int kitls_hs_send_key_update(kitls_conn *c, int request);
/** Start a handshake message of `type` in w; finish with kitls_hs_msg_end. */
size_t kitls_hs_msg_begin(struct wr *w, uint8_t type);
int kitls_hs_msg_end(kitls_conn *c, struct wr *w, size_t at);
/** Derive the handshake traffic secrets and install them. */
int kitls_hs_derive_hs_secrets(kitls_conn *c, const uint8_t *dhe, size_t dhe_len);
/** Derive the application traffic secrets (transcript through server Finished). */
int kitls_hs_derive_app_secrets(kitls_conn *c);
/** Mark the handshake complete and drop what it no longer needs. */
void kitls_hs_done(kitls_conn *c);

#endif
