/* Handshake state machine: states, the per-role message tables and the messages both roles share. */
#ifndef KITLS_HS_H
#define KITLS_HS_H

#include "conn.h"
#include "ext.h"

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

/** A message handler: body is the message without its 4-byte header. */
typedef int (*hs_handler)(kitls_conn *c, struct rd *body);

/* The body length a message type must have, where it has only one. */
enum hs_body {
    HS_BODY_VAR = 0, /* variable: the handler's reader checks it */
    HS_BODY_HASH,    /* Finished: the suite's hash length (§4.4.4) */
    HS_BODY_ONE,     /* KeyUpdate: one byte (§4.6.3) */
    HS_BODY_EMPTY,   /* EndOfEarlyData: empty (§4.5) */
};

struct hs_row {
    uint8_t state;
    uint8_t msg_type;
    uint8_t server;     /* role that handles it */
    uint8_t key_change; /* handler changes rx keys: must end a record */
    hs_handler fn;
    const char *name;
    uint8_t body; /* enum hs_body */
};

extern const struct hs_row kitls_hs_table[];
extern const size_t kitls_hs_table_len;

/** Look up the table row for (role, state, type), or NULL. */
const struct hs_row *kitls_hs_lookup(int server, int state, uint8_t type);
/** Process handshake bytes buffered in c->hs_in. */
int kitls_hs_process(kitls_conn *c);
/** Client: send the first ClientHello. */
int kitls_hs_client_start(kitls_conn *c);

/* Handlers (hs_client.c / hs_server.c / hs.c). */
int kitls_hs_client_sh(kitls_conn *c, struct rd *b);
int kitls_hs_client_ee(kitls_conn *c, struct rd *b);
int kitls_hs_client_cr(kitls_conn *c, struct rd *b);
int kitls_hs_server_ch(kitls_conn *c, struct rd *b);
int kitls_hs_recv_cert(kitls_conn *c, struct rd *b);
int kitls_hs_recv_cv(kitls_conn *c, struct rd *b);
int kitls_hs_recv_fin(kitls_conn *c, struct rd *b);
int kitls_hs_recv_nst(kitls_conn *c, struct rd *b);
int kitls_hs_recv_key_update(kitls_conn *c, struct rd *b);
int kitls_hs_server_eoed(kitls_conn *c, struct rd *b);

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
