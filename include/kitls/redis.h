/*
 * kitls-redis: a server fleet's shared 0-RTT anti-replay store and
 * ticket-key ring on Redis (libkitls-redis, built with --with-hiredis).
 *
 * RFC 8446 §8: a single-process anti-replay store does not protect servers
 * behind a load balancer; a ClientHello accepted by one must be refused by
 * the others.  Every 0-RTT attempt here costs one atomic
 * `SET <prefix><hex id> 1 NX PX <ms>` on a shared Redis: a new key means
 * first use, an existing one a replay.  Redis unreachable, slower than the
 * timeout or answering nonsense means "store failed": 0-RTT is refused and
 * the handshake goes on as 1-RTT (fail safe, never stuck).  See
 * docs/fleet.md.
 */
#ifndef KITLS_REDIS_H
#define KITLS_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <kitls/kitls.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A connection to one Redis (or Redis Cluster proxy / primary). */
typedef struct kitls_redis kitls_redis;

/** Settings of kitls_redis_new(); zero fields take the defaults. */
struct kitls_redis_params {
    /** redis://[:password@]host[:port][/db] (port 6379, db 0) or
     *  unix:/path/to/socket.  Required. */
    const char *url;
    /** Connect and per-command timeout in milliseconds (default 5). */
    unsigned timeout_ms;
    /** How long a 0-RTT id is remembered, in milliseconds (default 12000:
     *  the core's default freshness window of 10 s, its 1 s clock
     *  resolution and 1 s of clock skew between servers).  Must cover
     *  kitls_config_set_early_data_window() + 1000 + the fleet's clock
     *  skew: a replay older than that fails the ticket-age check
     *  (RFC 8446 §8.3).  Capped at the ticket's own expiry. */
    uint32_t window_ms;
    /** Key prefix of the anti-replay ids (default "kitls:ar:"). */
    const char *prefix;
    /** Redis key of the ticket-key ring, also its pub/sub channel
     *  (default "kitls:ticket-ring"). */
    const char *ring_key;
    /** Log sink for one line per episode (default: stderr). */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
};

/** Counters (monotonic since kitls_redis_new) and the current state. */
struct kitls_redis_stats {
    uint64_t checks;       /**< anti-replay checks asked */
    uint64_t fresh;        /**< answered "first use" (0-RTT may go on) */
    uint64_t replays;      /**< answered "seen before" (0-RTT refused) */
    uint64_t errors;       /**< store failures: unreachable, timeout, bad reply */
    uint64_t timeouts;     /**< of which: no answer within timeout_ms */
    uint64_t skipped;      /**< of which: not asked, Redis down (backoff) */
    uint64_t quarantined;  /**< of which: recorded but refused, the Redis
                                instance younger than the window */
    uint64_t episodes;     /**< times Redis went from up to down */
    uint64_t ring_loads;   /**< ticket-key rings loaded and applied */
    uint64_t ring_refused; /**< rings refused (malformed; the old one stays) */
    int up;                /**< 1 if the last exchange with Redis worked */
};

/**
 * Create a connection object; it connects on first use and reconnects
 * after failures with a backoff (100 ms doubling to 5 s), so Redis may be
 * down at start.  Returns 0, KITLS_E_INVALID_ARG (no or bad URL) or
 * KITLS_E_NOMEM.  Thread-safe: one mutex serialises its commands.
 */
KITLS_API KITLS_WUR int kitls_redis_new(kitls_redis **out, const struct kitls_redis_params *p);
/** Stop the ring watcher (if any), close and free; NULL is a no-op. */
KITLS_API void kitls_redis_free(kitls_redis *r);
/** Copy the counters (thread-safe). */
KITLS_API void kitls_redis_get_stats(kitls_redis *r, struct kitls_redis_stats *st);

/**
 * The anti-replay check (a kitls_antireplay_fn with ctx = the kitls_redis):
 * 0 if `id` was not seen within the window (now recorded), 1 if it was,
 * KITLS_E_UNAVAILABLE if Redis is down, timed out or answered nonsense
 * (0-RTT is then refused; the failure starts an episode logged once), or
 * if the Redis instance is new to us within the window (RFC 8446 §8.2: a
 * store that started, or a replica promoted, less than window_ms ago may
 * have lost ids recorded before; the id is recorded, 0-RTT refused).
 * Blocks for at most about twice timeout_ms (connect plus command).
 */
KITLS_API int kitls_redis_antireplay(void *ctx, const uint8_t *id, size_t len, int64_t expires);
/** Install kitls_redis_antireplay() on a server config (blocking
 *  servers); returns kitls_config_set_antireplay()'s result. */
KITLS_API KITLS_WUR int kitls_redis_attach_antireplay(kitls_redis *r, kitls_config *cfg);

/** The io_uring driver (include/kitls/uring.h); declared here so that
 *  this header does not need liburing's. */
typedef struct kitls_uring kitls_uring;
/**
 * Install the asynchronous check on a server config whose connections
 * run on the io_uring driver u (kitls_config_set_antireplay_async): the
 * SET goes out on hiredis's asynchronous client, driven by watches and
 * timers on u's ring (kitls_uring_watch_fd, kitls_uring_timer), so the
 * ring never blocks; the handshake waits (KITLS_E_WANT_ASYNC) and goes on
 * when the answer or the timeout (timeout_ms) comes.  Connections not on u
 * get the blocking check.  One driver per kitls_redis; call from u's
 * thread, before cfg is in use, and kitls_redis_free() after
 * kitls_uring_free() (pending checks are then dropped without an answer).
 * Returns 0, KITLS_E_NOMEM, KITLS_E_STATE (another driver, or cfg in use),
 * KITLS_E_UNAVAILABLE (built without liburing).
 */
KITLS_API KITLS_WUR int kitls_redis_attach_antireplay_uring(kitls_redis *r, kitls_config *cfg,
                                                            kitls_uring *u);

/* ---- the ticket-key ring ---- */

/** Format version of the ring (the first line of its text). */
#define KITLS_REDIS_RING_VERSION 1
/** Largest ring text kitls_redis_ring_format() writes, with its NUL. */
#define KITLS_REDIS_RING_TEXT_MAX 512

/**
 * The ring: previous, current and next key, each with the Unix time from
 * which it seals new tickets.  All three open tickets; the one with the
 * latest activation time not in the future seals.  `generation` grows by
 * one per rotation.
 */
struct kitls_redis_ring {
    uint64_t generation;
    struct kitls_ticket_key key[3]; /**< previous, current, next */
    int64_t activate[3];
};

/**
 * Parse and validate a ring's text (docs/fleet.md):
 *   "kitls-ticket-ring 1 <generation>\n" then three lines
 *   "previous|current|next <8 hex id> <64 hex key> <activation>\n".
 * Refused as a whole (KITLS_E_DECODE) if anything is off: version, line
 * names or order, hex lengths, ids not distinct, activation times not
 * increasing or not positive, trailing bytes.  out is wiped on failure.
 */
KITLS_API KITLS_WUR int kitls_redis_ring_parse(const char *text, size_t len,
                                               struct kitls_redis_ring *out);
/** Write the text of a ring into buf (at least KITLS_REDIS_RING_TEXT_MAX
 *  bytes); returns its length or KITLS_E_INVALID_ARG. */
KITLS_API KITLS_WUR int kitls_redis_ring_format(const struct kitls_redis_ring *ring, char *buf,
                                                size_t len);
/**
 * The kitls_config_set_ticket_keys() list at time `now`: the sealing key
 * first, then the other two.  Returns the number of keys (3).
 */
KITLS_API size_t kitls_redis_ring_keys(const struct kitls_redis_ring *ring, int64_t now,
                                       struct kitls_ticket_key keys[3]);
/**
 * Read the ring from Redis (GET ring_key) and validate it.  Returns 0,
 * KITLS_E_STATE if there is none, KITLS_E_DECODE if it is malformed,
 * KITLS_E_UNAVAILABLE if Redis failed.
 */
KITLS_API KITLS_WUR int kitls_redis_ring_load(kitls_redis *r, struct kitls_redis_ring *out);
/**
 * Rotate: previous := current, current := next (sealing from now), next
 * := a fresh random key activating in period_s seconds; with no ring yet,
 * create one.  Written atomically (WATCH, GET, MULTI, SET, PUBLISH, EXEC;
 * retried if another writer raced) and announced on the ring_key channel.
 * A malformed ring in Redis is not rotated (KITLS_E_DECODE: fix or delete
 * it).  Fills *out (may be NULL) with the new ring.  Returns 0,
 * KITLS_E_DECODE, KITLS_E_UNAVAILABLE, KITLS_E_RNG or KITLS_E_INVALID_ARG
 * (period_s 0 or above 30 days).
 */
KITLS_API KITLS_WUR int kitls_redis_ring_rotate(kitls_redis *r, uint32_t period_s,
                                                struct kitls_redis_ring *out);
/**
 * Keep cfg's ticket keys following the ring: load it now (error if none
 * can be loaded: KITLS_E_STATE, KITLS_E_DECODE, KITLS_E_UNAVAILABLE), then
 * a background thread re-reads it on every pub/sub message on ring_key and
 * every refresh_s seconds (default 30 if 0), re-applies the keys when the
 * next key's activation time passes, and refuses a malformed ring with one
 * log line (the old keys stay).  Call again with another config (e.g.
 * after a reload) to move the watcher to it; it then gets the ring's
 * keys at once.  The previous config must stay alive until this returns.
 */
KITLS_API KITLS_WUR int kitls_redis_ring_watch(kitls_redis *r, kitls_config *cfg,
                                               unsigned refresh_s);

#ifdef __cplusplus
}
#endif

#endif
