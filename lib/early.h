/* 0-RTT early data (early.c, RFC 8446 §2.3, §4.2.10): the connection's
 * state of it and early.c's functions. */
#ifndef KITLS_EARLY_H
#define KITLS_EARLY_H

#include "internal.h"

/* Embedded in struct kitls_conn as `early`.  Written only by early.c: the
 * record path (conn.c), the handshake (hs*.c) and the early_data extension
 * row (lib/ext/psk.c) read it and call the functions below to change it. */
struct kitls_early_state {
    int status;                  /* enum kitls_early_status */
    int offered;                 /* early_data is in the ClientHello (client: ours) */
    int app;                     /* the pending application data is early data */
    struct wr out;               /* client: queued early data */
    int want;                    /* client: offer 0-RTT (write_early_data was called) */
    uint64_t seq;                /* client: next early record number */
    uint32_t in;                 /* server: early bytes received */
    uint32_t skip;               /* server: rejected early bytes still skippable */
    uint8_t exp[KITLS_MAX_HASH]; /* early_exporter_master_secret */
    int has_exp;                 /* exp is derived (0-RTT was offered or accepted) */
    int async;                   /* server: enum kitls_early_async */
    int verdict;                 /* server: the answer kitls_conn_antireplay_done() posted */
    void *parked;                /* server: the ClientHello's parse, kept while pending */
    const uint8_t *parked_msg;   /* server: the ClientHello it was parsed from */
};

/* Server: the asynchronous anti-replay check (kitls_antireplay_async_fn). */
enum kitls_early_async {
    EARLY_ASYNC_NONE = 0,
    EARLY_ASYNC_PENDING,  /* asked, no answer yet: the handshake is parked */
    EARLY_ASYNC_ANSWERED, /* answered: the next kitls_conn_handshake() resumes */
};

/** client_early_traffic_secret from the session PSK and the ClientHello hash. */
int kitls_early_derive(kitls_conn *c, const struct kitls_suite *suite, const uint8_t *ch_hash);
/** Free the queued early data (kitls_conn_free). */
void kitls_early_free(kitls_conn *c);
/** The ClientHello carries early_data: the client's own (its extension
 *  row wrote it) or, on a server, the peer's first ClientHello. */
void kitls_early_set_offered(kitls_conn *c);

/** Client: after the first ClientHello, send CCS and the queued early data. */
int kitls_early_client_send(kitls_conn *c);
/** Client: a HelloRetryRequest rejects the early data; ClientHello2 goes
 *  in plaintext (RFC 8446 §4.1.2, §4.2.10). */
void kitls_early_client_hrr(kitls_conn *c);
/** Client: EncryptedExtensions carries early_data, the server accepts. */
int kitls_early_client_accept(kitls_conn *c);
/** Client, after the server's Finished: if the early data was accepted,
 *  close the early epoch with EndOfEarlyData under its keys (§4.5). */
int kitls_early_client_end(kitls_conn *c);

/** Server: decide whether to accept the offered early data. */
int kitls_early_server_decide(kitls_conn *c);
/** Server, answering with a HelloRetryRequest: reject the offer, and skip
 *  what the client sent with ClientHello1 (§4.2.10). */
void kitls_early_server_hrr(kitls_conn *c);
/** Server: a record of len bytes failed to decrypt or came in plaintext
 *  where 0-RTT may be: 1 if it is skipped as rejected early data (the skip
 *  budget covers it, §4.2.10), else 0. */
int kitls_early_skip(kitls_conn *c, size_t len);
/** Server: a record decrypted, or ClientHello2 began: nothing more is
 *  skipped as early data. */
void kitls_early_skip_end(kitls_conn *c);
/** Server: accepted early data of len bytes arrived.  Counts it against
 *  max_early_data_size (§4.2.10: unexpected_message past it) and marks
 *  the pending application data as early. */
int kitls_early_recv(kitls_conn *c, size_t len);
/** Application data under 1-RTT keys arrived: the pending data is not early. */
void kitls_early_recv_done(kitls_conn *c);

/** Server: the handshake stops for an asynchronous anti-replay answer:
 *  keep a copy of the ClientHello's parse (len bytes; its views point into
 *  c->msg, which stays buffered).  0 or KITLS_E_NOMEM. */
int kitls_early_park(kitls_conn *c, const void *parse, size_t len);
/** Server: the parse kept by kitls_early_park() if the handshake resumes
 *  the ClientHello at c->msg, else NULL. */
void *kitls_early_parked(const kitls_conn *c);
/** Server: the resumed ClientHello is done with: free its parse. */
void kitls_early_unpark(kitls_conn *c);
/** Before each record of kitls_conn_handshake(): KITLS_E_EARLY_DATA if
 *  0-RTT data waits to be read, KITLS_E_WANT_ASYNC while an anti-replay
 *  answer is awaited; once it came, resume the parked ClientHello (its
 *  result); else 0. */
int kitls_early_hold(kitls_conn *c);

void kitls_early_store_free(struct kitls_replay_store *st);

#endif
