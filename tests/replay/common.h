/*
 * Shared by the replay corpus generator (gen.c) and checker (check.c):
 * the fixed ticket key, the flight file format, a self-signed server
 * certificate made with libcrypto, and a bounded in-memory pump.
 * Public kitls API only.
 */
#ifndef KITLS_REPLAY_COMMON_H
#define KITLS_REPLAY_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kitls/kitls.h"

/* The ticket key of the (imaginary) server that issued every ticket in the
 * corpus.  The checker's servers use the same key, so they can open them. */
extern const struct kitls_ticket_key rp_ticket_key;

#define RP_SNI "localhost"
#define RP_MAX_EARLY 65536u /* max_early_data of issuing and replaying servers */

/* Verdicts of one delivery of a flight to a server. */
enum rp_verdict {
    RP_ACCEPT = 0,    /* resumed, early data accepted and delivered intact */
    RP_REJECT,        /* resumed (PSK accepted), early data rejected and skipped */
    RP_FALLBACK,      /* PSK declined: full handshake, early data rejected and skipped */
    RP_DECRYPT_ERROR, /* handshake fails with decrypt_error (bad binder) */
    RP_NVERDICTS
};
const char *rp_verdict_name(int v);
int rp_verdict_by_name(const char *s);

/* One recorded flight and its metadata (see README.md for the format). */
struct rp_flight {
    char name[64];
    char suite[64]; /* IANA name */
    char group[32]; /* key share group name */
    int compat;     /* middlebox compatibility (a CCS record before the early data) */
    int64_t issued; /* server clock when the ticket was issued */
    uint32_t lifetime;
    int64_t client_time; /* client clock when the flight was sent */
    int64_t replay_time; /* server clock for both deliveries */
    size_t early_len;
    char early_sha256[65];
    char tamper[32];   /* "none" or "binder" */
    int first, second; /* enum rp_verdict */
    uint8_t *bytes;    /* the flight as sent on the wire */
    size_t len;
};

int rp_flight_write(FILE *f, const struct rp_flight *fl);
/** Parse a flight file; 0 or -1 with a message on stderr. */
int rp_flight_read(const char *path, struct rp_flight *fl);
void rp_flight_free(struct rp_flight *fl);

void rp_sha256_hex(const uint8_t *p, size_t n, char out[65]);

/** Self-signed Ed25519 server certificate for RP_SNI valid around `now`
 *  (PEM, malloc'd).  Uses libcrypto's RNG for the key.  0 or -1. */
int rp_make_cert(int64_t now, char **chain, size_t *chain_len, char **key, size_t *key_len);

/** Time hook returning *(int64_t *)ctx. */
int64_t rp_time(void *ctx);

/** Move pending output of `from` into `to`; returns bytes moved (or 0). */
size_t rp_move(kitls_conn *from, kitls_conn *to);
/** Full handshake between c and s in memory; 0 when both completed. */
int rp_handshake(kitls_conn *c, kitls_conn *s);

#endif
