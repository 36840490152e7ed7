/*
 * Shared harness for the fuzz targets in tests/fuzz (docs/fuzzing.md).
 *
 * The targets are compiled together with the lib/ sources (internal
 * access: record keys, handshake state), so mutated records can be
 * sealed with the receiver's own keys and every run is deterministic:
 *
 *   - the protocol RNG hook and libcrypto's default RAND (key shares,
 *     config keys) draw from seeded streams that are reset for each
 *     input, one pair of streams per side of a connection;
 *   - the clock is fixed (FZ_T0);
 *   - configs are made afresh per input (no state carried between inputs:
 *     certificate cache, anti-replay store).
 *
 * Input format of the record-driven targets (fz_play): a sequence of
 * entries  ctl(1) len(2) data(len):
 *   ctl == 0xff        data fed verbatim (arbitrary bytes, headers included)
 *   ctl & 0x80         plaintext record of type ctl & 0x7f, never sealed
 *   otherwise          if the receiver has read keys, data is sealed with
 *                      them as a record of inner type ctl (so mutated
 *                      records always decrypt); else a plaintext record
 * A short last entry takes what is left.
 */
#ifndef KITLS_FUZZ_H
#define KITLS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "hs.h"
#include "kitls/kitls.h"

#define FZ_T0 INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define FZ_SNI "localhost"
#define FZ_RAW 0xff
#define FZ_PLAIN 0x80
#define FZ_MAX_LEN 65536 /* -max_len for the record-driven targets */

/* A seeded byte stream: SHA-256(label || counter). */
struct fz_stream {
    char label[64];
    uint64_t ctr;
    uint8_t block[32];
    size_t used;
};

/* One side of a connection: its protocol RNG and libcrypto RNG. */
struct fz_side {
    struct fz_stream proto, crypto;
    int64_t now;
};

/** Once per process: libcrypto RAND replaced, PKI made (deterministic). */
void fz_init(void);
/** Reset a side's streams (named "label") and make it current. */
void fz_side_reset(struct fz_side *s, const char *label);
/** libcrypto's RAND now draws from this side's stream. */
void fz_use(struct fz_side *s);

/* Config variants; the role targets pick one with their first byte. */
#define FZ_SERVER_VARIANTS 5
#define FZ_CLIENT_VARIANTS 5
/** Server: 0 default; 1 client auth required; 2 groups P-256/P-384 only,
 *  HRR cookie; 3 fixed ticket key, 0-RTT; 4 ALPN, record_size_limit,
 *  psk_ke, client preference, no compat. */
kitls_config *fz_server_config(struct fz_side *s, int variant);
/** Client: 0 verify + SNI + OCSP + ALPN + rsl + client cert; 1 no verify,
 *  two key shares, psk_ke, no compat, no SNI; 2 as 0 with 0-RTT allowed
 *  (resumption); 3 ChaCha20 and P-384 only; 4 no key share in ClientHello1
 *  (every handshake needs an HRR), no compat. */
kitls_config *fz_client_config(struct fz_side *s, int variant);
/** A connection for config cfg (client: SNI per variant). */
kitls_conn *fz_conn(struct fz_side *s, kitls_config *cfg, int client_variant);

/** The fixed ticket key of server variant 3. */
extern const struct kitls_ticket_key fz_ticket_key;

/**
 * Drive c after new input: handshake until it stops, 0-RTT and
 * application data read and dropped, output dropped unless keep_out.
 * Returns 0 while the connection lives, else its error.
 */
int fz_drive(struct fz_side *s, kitls_conn *c, int keep_out);
/** Feed one entry (see above) to c and drive it. */
int fz_feed_entry(struct fz_side *s, kitls_conn *c, uint8_t ctl, const uint8_t *p, size_t n);
/** Feed every entry of buf; stops when the connection fails. */
int fz_play(struct fz_side *s, kitls_conn *c, const uint8_t *buf, size_t len);

/* ---- recorded streams (seeds and prefixes) ---- */

/** A growable byte buffer. */
struct fz_buf {
    uint8_t *p;
    size_t len, cap;
};
void fz_buf_put(struct fz_buf *b, const void *p, size_t n);
void fz_buf_entry(struct fz_buf *b, uint8_t ctl, const uint8_t *p, size_t n);
void fz_buf_free(struct fz_buf *b);

/** What the peer does after the handshake, while recording. */
enum { FZ_POST_DATA = 1, FZ_POST_KEYUPDATE = 2, FZ_POST_TICKET = 4, FZ_POST_CLOSE = 8 };

/**
 * Run a handshake between `cut` (the connection under test, side cs) and
 * `peer` (side ps) and record, in fz_play format, every record the peer
 * sent as cut received it (sealed records as plaintext + inner type).
 * `post` adds peer actions after the handshake.  Returns 0 if both
 * sides completed the handshake.
 */
int fz_record(struct fz_side *cs, kitls_conn *cut, struct fz_side *ps, kitls_conn *peer, int post,
              struct fz_buf *out);

/** A connection under test: side s reset with label "server" or "client",
 *  a config of that variant (freed with the connection by fz_cut_free). */
kitls_conn *fz_cut_new(struct fz_side *s, int server, int variant);
void fz_cut_free(kitls_conn *c);

/**
 * The recorded stream (fz_play format) a connection under test made by
 * fz_cut_new(server, cut_variant) receives from a peer of peer_variant
 * (client peers of variant 2 are not supported), cached per process.
 */
const struct fz_buf *fz_recorded(int server, int cut_variant, int peer_variant, int post);

/**
 * Write the seed DIR/NAME for the client or server target: variant(1)
 * of the connection under test (cut_server: the server), for a client of
 * variant 2 the session header len(2) + bytes, then the records a peer of
 * peer_variant sends in a recorded handshake (fz_record, with `post`).
 * sess (may be NULL) is offered for resumption, with 0-RTT data, by the
 * client side.  Aborts if the handshake does not complete.
 */
void fz_seed_handshake(const char *dir, const char *name, int cut_server, int cut_variant,
                       int peer_variant, int post, const uint8_t *sess, size_t sess_len);

/** Write a seed file DIR/NAME (for fz_write_seeds). */
void fz_write_file(const char *dir, const char *name, const uint8_t *p, size_t n);
/** Each target: write its seed corpus into dir (main.c --write-seeds). */
void fz_write_seeds(const char *dir);

/** Serialized session for client variant 2 from a full handshake against
 *  server variant 3 (malloc'd), or NULL. */
uint8_t *fz_make_session(size_t *len);

/** Client: queue a little 0-RTT data (ignored when not possible). */
void fz_write_early(kitls_conn *c);

/** Planted bug for tests/fuzz/replay.sh --self-test (built with -DFZ_PLANTED). */
void fz_planted(const uint8_t *data, size_t size);

#endif
