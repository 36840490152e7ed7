/* 0-RTT early data (early.c, RFC 8446 §2.3, §4.2.10): its functions.
 * Its per-connection state (early_status, early_in, skip_early, ...) is
 * still in struct kitls_conn: the record layer's functions of conn.c read
 * and write it, and they are being reworked separately (issue 15 item 1). */
#ifndef KITLS_EARLY_H
#define KITLS_EARLY_H

#include "internal.h"

/** client_early_traffic_secret from the session PSK and the ClientHello hash. */
int kitls_early_derive(kitls_conn *c, const struct kitls_suite *suite, const uint8_t *ch_hash);
/** Client: after the first ClientHello, send CCS and the queued early data. */
int kitls_early_client_send(kitls_conn *c);
/** Server: decide whether to accept the offered early data. */
int kitls_early_server_decide(kitls_conn *c);
void kitls_early_store_free(struct kitls_replay_store *st);

#endif
