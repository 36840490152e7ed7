/* Sessions, tickets and PSK resumption (session.c) and what binds a
 * session to its server and policy (session_bind.c). */
#ifndef KITLS_SESSION_H
#define KITLS_SESSION_H

#include "internal.h"

/* Embedded in struct kitls_conn as `res`.  Written by session.c and
 * session_bind.c, and by the PSK extension rows (lib/ext/psk.c) and the
 * server's PSK negotiation (hs_server.c) that decide on the offer. */
struct kitls_resume_state {
    kitls_session *session;     /* client: offered; server: from the ticket */
    kitls_session *new_session; /* client: newest ticket received */
    int psk_offered;            /* client: pre_shared_key is in our ClientHello */
    int resumed;
    int psk_dhe; /* psk_dhe_ke (1) or psk_ke (0) */
    uint8_t res_master[KITLS_MAX_HASH];
    uint64_t ticket_nonce;
    uint32_t client_age_ms;  /* server: ticket age the client claims */
    uint8_t ticket_modes_ok; /* server: the client's psk_key_exchange_modes fit our tickets */
    uint8_t hrr_psk_kept;    /* server: ClientHello1 offered a PSK that ClientHello2 must keep */
};

/* session.c */
/** Client: fill in the binder over the ClientHello at w->buf[msg_at..]. */
int kitls_psk_client_binder(kitls_conn *c, struct wr *w, size_t msg_at, size_t binder_at);
/** Client: the server's pre_shared_key extension in ServerHello. */
int kitls_psk_client_accept(kitls_conn *c, struct rd data);
/** Server: consider the ClientHello's PSK; sets c->res.resumed on success. */
int kitls_psk_server_check(kitls_conn *c, struct rd psk_ext, struct rd *modes);
/** Server, answering with a HelloRetryRequest: note whether the offered
 *  PSK fits the suite we picked, since then ClientHello2 must offer it
 *  again (RFC 8446 §4.1.2 lets the client drop only incompatible PSKs). */
void kitls_psk_server_note_hrr(kitls_conn *c, struct rd psk_ext);
/** Server: the suite of the first offered ticket, 0 if none can be opened. */
uint16_t kitls_psk_server_ticket_suite(kitls_conn *c, struct rd psk_ext);
/** Server: send one NewSessionTicket. */
int kitls_ticket_send(kitls_conn *c);
/** The resumption master secret after the client's Finished. */
int kitls_session_derive_res_master(kitls_conn *c);
/** Resumed: take the peer's certificate, verdict and its age from c->res.session. */
void kitls_session_restore_peer(kitls_conn *c);
/** When frozen: compute cfg->sess_ctx (what tickets and sessions bind). */
int kitls_session_ctx_init(kitls_config *cfg);
/** Longest a session may stand for its original authentication, seconds
 *  (RFC 8446 §4.6.1: the 7-day ticket lifetime maximum; docs/limits.md). */
#define KITLS_MAX_AUTH_AGE 604800
/** 1 if the session's authentication still holds at `now`: not older
 *  than KITLS_MAX_AUTH_AGE, the peer's chain not expired. */
int kitls_session_auth_fresh(const kitls_session *s, int64_t now);
/** Client: 1 if c may offer c->session (its name, policy and age). */
int kitls_session_offerable(const kitls_conn *c, int64_t now);
/** A new DER certificate object (refs 1), or NULL. */
struct kitls_der *kitls_der_new(const uint8_t *der, size_t len);
struct kitls_der *kitls_der_up_ref(struct kitls_der *d);
void kitls_der_free(struct kitls_der *d);

#endif
