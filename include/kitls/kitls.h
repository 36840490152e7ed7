/*
 * kitls — a TLS 1.3 library (RFC 8446) for Linux.
 *
 * The core is sans-I/O: it never touches a socket or a clock except
 * through hooks in the configuration.  Protocol randomness (hello randoms,
 * session ids, ticket nonces and age_add) comes from the RNG hook;
 * ephemeral (EC)DHE keys and signatures use libcrypto's RNG, so a fully
 * deterministic run (fuzzing, recorded corpora) also replaces libcrypto's
 * default RAND.  The caller moves bytes:
 *
 *   - received ciphertext goes in with kitls_conn_feed();
 *   - ciphertext to send comes out with kitls_conn_out_peek() and
 *     kitls_conn_out_consume();
 *   - application data is written with kitls_conn_write() and read with
 *     kitls_conn_read();
 *   - kitls_conn_handshake() drives the handshake and kitls_conn_wants()
 *     says what the connection needs next.
 *
 * Conventions: functions that can fail return int, 0 on success and a
 * negative code on failure.  A fatal error is sticky: the first one is
 * kept in the connection and every later call returns it.  The alert sent
 * for an error is kitls_error_alert(err).
 *
 * One error space, in every layer (core, ktls.h, uring.h):
 *
 *   - a failed system call is plain -errno (-4095 <= err <= -1, the
 *     kernel's MAX_ERRNO range; KITLS_ERR_IS_ERRNO(err));
 *   - anything else is a KITLS_E_* code, err = -(class | n << 8 | alert),
 *     whose magnitude is above 4095 so it never collides with -errno:
 *       KITLS_ERR_CLASS_STATUS      not fatal (WANT_READ, CLOSED, EARLY_DATA,
 *                                   WANT_ASYNC);
 *       KITLS_ERR_CLASS_SELF_ALERT  fatal, we sent `alert` (the low byte);
 *                                   internal failures carry internal_error;
 *       KITLS_ERR_CLASS_PEER_ALERT  fatal, the peer sent `alert` (low byte):
 *                                   KITLS_E_PEER_ALERT(alert);
 *       KITLS_ERR_CLASS_LOCAL       fatal or refused, no alert (API misuse,
 *                                   state, end of transport, ...).
 *     KITLS_ERR_CLASS(err) and KITLS_ERR_ALERT(err) take a code apart
 *     (the same idea as picotls's PTLS_ERROR_CLASS_* and alert byte);
 *   - kitls_strerror(err) describes 0, any -errno and any KITLS_E_* code.
 */
#ifndef KITLS_KITLS_H
#define KITLS_KITLS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KITLS_WUR __attribute__((warn_unused_result))
#define KITLS_API __attribute__((visibility("default")))
#else
#define KITLS_WUR
#define KITLS_API
#endif

/** Library version, "MAJOR.MINOR.PATCH". */
KITLS_API const char *kitls_version(void);

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/** Largest errno the kernel returns (MAX_ERRNO): -errno is never below -4095. */
#define KITLS_MAX_ERRNO 4095
/** Class tags of KITLS_E_* codes (bits 16..19 of -err). */
#define KITLS_ERR_CLASS_STATUS 0x10000     /**< not fatal: want more input, closed, 0-RTT */
#define KITLS_ERR_CLASS_SELF_ALERT 0x20000 /**< we sent the alert in the low byte */
#define KITLS_ERR_CLASS_PEER_ALERT 0x30000 /**< the peer sent the alert in the low byte */
#define KITLS_ERR_CLASS_LOCAL 0x40000      /**< no alert involved */
/** Build a code: class tag, number n (0..255) within the class, alert (0..255). */
#define KITLS_ERR_CODE(cls, n, alert) (-(int)((cls) | ((n) << 8) | (alert)))
/** 1 if err is a system failure (-errno), 0 for 0 and for KITLS_E_* codes. */
#define KITLS_ERR_IS_ERRNO(err) ((err) < 0 && (err) >= -KITLS_MAX_ERRNO)
/** Class tag of a KITLS_E_* code (KITLS_ERR_CLASS_*), 0 for 0 and -errno. */
#define KITLS_ERR_CLASS(err)                                                                       \
    ((err) < -KITLS_MAX_ERRNO ? (int)((0u - (unsigned)(err)) & 0xf0000u) : 0)
/** The alert a code carries: sent (SELF_ALERT) or received (PEER_ALERT); else -1. */
#define KITLS_ERR_ALERT(err)                                                                       \
    (KITLS_ERR_CLASS(err) == KITLS_ERR_CLASS_SELF_ALERT ||                                         \
             KITLS_ERR_CLASS(err) == KITLS_ERR_CLASS_PEER_ALERT                                    \
         ? (int)((0u - (unsigned)(err)) & 0xffu)                                                   \
         : -1)
/** 1 if err reports a fatal alert received from the peer. */
#define KITLS_ERR_IS_PEER_ALERT(err) (KITLS_ERR_CLASS(err) == KITLS_ERR_CLASS_PEER_ALERT)
/** The code returned when the peer sent fatal alert `alert` (RFC 8446 §6). */
#define KITLS_E_PEER_ALERT(alert) (KITLS_E_ALERT_RECEIVED - (int)((alert)&0xff))

/** Shorthands for the table below (STATUS, SELF_ALERT with its alert, LOCAL). */
#define KITLS_E_STATUS_(n) KITLS_ERR_CODE(KITLS_ERR_CLASS_STATUS, n, 0)
#define KITLS_E_SELF_(n, alert) KITLS_ERR_CODE(KITLS_ERR_CLASS_SELF_ALERT, n, alert)
#define KITLS_E_LOCAL_(n) KITLS_ERR_CODE(KITLS_ERR_CLASS_LOCAL, n, 0)

/**
 * Error codes (see "One error space" at the top of this file).  All are
 * negative and below -4095.  KITLS_E_WANT_READ is not fatal: it means the
 * connection needs more input before it can make progress.
 * KITLS_E_CLOSED means the peer sent close_notify (orderly end of data).
 * KITLS_E_EARLY_DATA and KITLS_E_WANT_ASYNC (the STATUS class) are not
 * fatal either.
 * Every other code is fatal; kitls_error_alert() gives the alert that was
 * (or would be) sent to the peer for it.  The number n of each code is its
 * value before the class encoding (KITLS_E_DECODE was -110).
 */
enum kitls_error {
    KITLS_OK = 0,
    /** Need more received bytes */
    KITLS_E_WANT_READ = KITLS_E_STATUS_(1),
    /** Peer sent close_notify */
    KITLS_E_CLOSED = KITLS_E_STATUS_(2),
    /** Server: 0-RTT data is waiting: kitls_conn_read_early_data() */
    KITLS_E_EARLY_DATA = KITLS_E_STATUS_(3),
    /** Server: the handshake waits for an asynchronous anti-replay answer
     *  (kitls_config_set_antireplay_async): post it with
     *  kitls_conn_antireplay_done(), then call kitls_conn_handshake() again */
    KITLS_E_WANT_ASYNC = KITLS_E_STATUS_(4),
    /** Internal error (internal_error) */
    KITLS_E_INTERNAL = KITLS_E_SELF_(100, 80),
    /** Allocation failed (internal_error) */
    KITLS_E_NOMEM = KITLS_E_SELF_(101, 80),
    /** API misuse (no alert) */
    KITLS_E_INVALID_ARG = KITLS_E_LOCAL_(102),
    /** Call not valid in this state (no alert) */
    KITLS_E_STATE = KITLS_E_LOCAL_(103),
    /** libcrypto failure (internal_error) */
    KITLS_E_CRYPTO = KITLS_E_SELF_(104, 80),
    /** Random source failed (internal_error) */
    KITLS_E_RNG = KITLS_E_SELF_(105, 80),
    /** Configuration invalid/incomplete (internal_error) */
    KITLS_E_CONFIG = KITLS_E_SELF_(106, 80),
    /** Verifying client without a server name (no alert; see kitls_config_set_verify_name) */
    KITLS_E_NO_SERVER_NAME = KITLS_E_LOCAL_(107),
    /** Algorithm not available in the libcrypto kitls runs on, e.g. the
     *  ML-KEM groups before OpenSSL 3.5 (no alert; see kitls_group_available) */
    KITLS_E_UNAVAILABLE = KITLS_E_LOCAL_(108),
    /** Malformed message (decode_error) */
    KITLS_E_DECODE = KITLS_E_SELF_(110, 50),
    /** Wrong message/record (unexpected_message) */
    KITLS_E_UNEXPECTED_MESSAGE = KITLS_E_SELF_(111, 10),
    /** Record failed to decrypt (bad_record_mac) */
    KITLS_E_BAD_RECORD_MAC = KITLS_E_SELF_(112, 20),
    /** Record too long (record_overflow) */
    KITLS_E_RECORD_OVERFLOW = KITLS_E_SELF_(113, 22),
    /** Bad field value (illegal_parameter) */
    KITLS_E_ILLEGAL_PARAMETER = KITLS_E_SELF_(114, 47),
    /** No acceptable parameters (handshake_failure) */
    KITLS_E_HANDSHAKE_FAILURE = KITLS_E_SELF_(115, 40),
    /** Peer lacks TLS 1.3 (protocol_version) */
    KITLS_E_PROTOCOL_VERSION = KITLS_E_SELF_(116, 70),
    /** Required extension absent (missing_extension) */
    KITLS_E_MISSING_EXTENSION = KITLS_E_SELF_(117, 109),
    /** Extension not allowed here (unsupported_extension) */
    KITLS_E_UNSUPPORTED_EXTENSION = KITLS_E_SELF_(118, 110),
    /** Finished or signature wrong (decrypt_error) */
    KITLS_E_DECRYPT_ERROR = KITLS_E_SELF_(119, 51),
    /** No common ALPN protocol (no_application_protocol) */
    KITLS_E_NO_APPLICATION_PROTOCOL = KITLS_E_SELF_(120, 120),
    /** SNI not served (unrecognized_name) */
    KITLS_E_UNRECOGNIZED_NAME = KITLS_E_SELF_(121, 112),
    /** (insufficient_security) */
    KITLS_E_INSUFFICIENT_SECURITY = KITLS_E_SELF_(122, 71),
    /** Client sent no certificate (certificate_required) */
    KITLS_E_CERT_REQUIRED = KITLS_E_SELF_(123, 116),
    /** Unparsable/unsuitable certificate (bad_certificate) */
    KITLS_E_BAD_CERTIFICATE = KITLS_E_SELF_(130, 42),
    /** Chain does not reach a trust anchor (unknown_ca) */
    KITLS_E_CERT_UNTRUSTED = KITLS_E_SELF_(131, 48),
    /** Certificate expired (certificate_expired) */
    KITLS_E_CERT_EXPIRED = KITLS_E_SELF_(132, 45),
    /** NotBefore in the future (bad_certificate) */
    KITLS_E_CERT_NOT_YET_VALID = KITLS_E_SELF_(133, 42),
    /** Hostname/IP does not match (bad_certificate) */
    KITLS_E_CERT_NAME_MISMATCH = KITLS_E_SELF_(134, 42),
    /** Key usage / EKU wrong for role (unsupported_certificate) */
    KITLS_E_CERT_USAGE = KITLS_E_SELF_(135, 43),
    /** (certificate_revoked) */
    KITLS_E_CERT_REVOKED = KITLS_E_SELF_(136, 44),
    /** Any other chain failure (bad_certificate) */
    KITLS_E_CERT_INVALID = KITLS_E_SELF_(137, 42),
    /** A configured hard limit was hit (unexpected_message) */
    KITLS_E_LIMIT = KITLS_E_SELF_(140, 10),
    /** The class base of received fatal alerts: a connection returns
     *  KITLS_E_PEER_ALERT(alert) (= KITLS_E_ALERT_RECEIVED - alert), never
     *  this value itself (close_notify, alert 0, is KITLS_E_CLOSED).  Test
     *  with KITLS_ERR_IS_PEER_ALERT(); the alert is KITLS_ERR_ALERT(err) or
     *  kitls_conn_peer_alert(). */
    KITLS_E_ALERT_RECEIVED = KITLS_ERR_CODE(KITLS_ERR_CLASS_PEER_ALERT, 150, 0),
    /** Transport ended without close_notify (caller-reported; no alert) */
    KITLS_E_EOF = KITLS_E_LOCAL_(151),
    /** Handshake data after a key change in one record (unexpected_message) */
    KITLS_E_EXCESS_HANDSHAKE_DATA = KITLS_E_SELF_(152, 10),
    /** Stapled OCSP response unusable (bad_certificate_status_response) */
    KITLS_E_OCSP_INVALID = KITLS_E_SELF_(160, 113),
    /** OCSP staple required but missing (bad_certificate_status_response) */
    KITLS_E_OCSP_REQUIRED = KITLS_E_SELF_(161, 113),
};

/**
 * A short, stable description of any return code of any layer: 0, a
 * system failure (-errno: the system's text), a KITLS_E_* code (including
 * the kTLS layer's KITLS_KTLS_E_* and KITLS_E_PEER_ALERT(alert), which
 * names the alert).  "unknown error" for anything else.
 */
KITLS_API const char *kitls_strerror(int err);
/** Alert description (RFC 8446 §6) sent for a fatal error, or -1 if none:
 *  the low byte of a SELF_ALERT code, -1 for the other classes (a received
 *  alert is never answered), internal_error for -errno and unknown codes. */
KITLS_API int kitls_error_alert(int err);
/** Name of an alert description ("bad_record_mac", ...), or "unknown". */
KITLS_API const char *kitls_alert_string(int alert);

/* ------------------------------------------------------------------ */
/* Algorithm identifiers (IANA code points)                            */
/* ------------------------------------------------------------------ */

#define KITLS_AES_128_GCM_SHA256 0x1301
#define KITLS_AES_256_GCM_SHA384 0x1302
#define KITLS_CHACHA20_POLY1305_SHA256 0x1303

#define KITLS_GROUP_SECP256R1 0x0017
#define KITLS_GROUP_SECP384R1 0x0018
#define KITLS_GROUP_X25519 0x001d
/* Hybrid post-quantum groups (draft-ietf-tls-ecdhe-mlkem): ML-KEM-768
 * with X25519 or P-256.  Only where libcrypto has ML-KEM-768 (OpenSSL
 * 3.5 and later): see kitls_group_available(). */
#define KITLS_GROUP_SECP256R1MLKEM768 0x11eb
#define KITLS_GROUP_X25519MLKEM768 0x11ec

#define KITLS_SIG_RSA_PKCS1_SHA256 0x0401
#define KITLS_SIG_RSA_PKCS1_SHA384 0x0501
#define KITLS_SIG_RSA_PKCS1_SHA512 0x0601
#define KITLS_SIG_ECDSA_SECP256R1_SHA256 0x0403
#define KITLS_SIG_ECDSA_SECP384R1_SHA384 0x0503
#define KITLS_SIG_RSA_PSS_RSAE_SHA256 0x0804
#define KITLS_SIG_RSA_PSS_RSAE_SHA384 0x0805
#define KITLS_SIG_RSA_PSS_RSAE_SHA512 0x0806
#define KITLS_SIG_ED25519 0x0807
/* RSASSA-PSS with an id-RSASSA-PSS public key (RFC 8446 §4.2.3): MGF1 with
 * the same hash, salt length = digest length, and never with an
 * rsaEncryption key (which uses rsa_pss_rsae_*). */
#define KITLS_SIG_RSA_PSS_PSS_SHA256 0x0809
#define KITLS_SIG_RSA_PSS_PSS_SHA384 0x080a
#define KITLS_SIG_RSA_PSS_PSS_SHA512 0x080b

/** IANA name of a cipher suite ("TLS_AES_128_GCM_SHA256"), or NULL. */
KITLS_API const char *kitls_suite_name(uint16_t suite);
/** Name of a group ("x25519", "secp256r1", "secp384r1", "X25519MLKEM768",
 *  "SecP256r1MLKEM768"), or NULL. */
KITLS_API const char *kitls_group_name(uint16_t group);
/** 1 if the group can be used with the libcrypto kitls runs on, 0 if not
 *  (unknown id, or a hybrid ML-KEM group and libcrypto has no
 *  "ML-KEM-768", as OpenSSL before 3.5).  Decided at run time, once per
 *  process; never fails otherwise. */
KITLS_API int kitls_group_available(uint16_t group);
/** Name of a signature scheme ("ecdsa_secp256r1_sha256", ...), or NULL. */
KITLS_API const char *kitls_sigalg_name(uint16_t scheme);
/** Look up a suite, group or scheme by name; 0 if unknown. */
KITLS_API uint16_t kitls_suite_by_name(const char *name);
KITLS_API uint16_t kitls_group_by_name(const char *name);
KITLS_API uint16_t kitls_sigalg_by_name(const char *name);

typedef struct kitls_config kitls_config;
typedef struct kitls_conn kitls_conn;

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

/** Defined when kitls_set_allocator() exists. */
#define KITLS_HAVE_ALLOCATOR 1

/**
 * The allocator kitls uses for every allocation of its own: configs,
 * connections, record buffers, sessions, the kTLS (libkitls-ktls) and
 * io_uring (libkitls-uring) objects.  Each function receives `user`.
 * realloc_fn is never called with a NULL pointer or a size of 0 and
 * free_fn never with NULL.  The functions are called from whatever thread
 * uses kitls, so they must be thread-safe if kitls is used from several.
 *
 * Not covered: libcrypto's own allocations (key, cipher and digest
 * contexts, parsed certificates), about 90% of a handshake's allocation
 * calls.  Routing them is the application's business, with libcrypto's
 * CRYPTO_set_mem_functions(), which likewise must come first.
 */
typedef struct kitls_allocator {
    void *(*malloc_fn)(size_t size, void *user);
    void *(*realloc_fn)(void *ptr, size_t size, void *user);
    void (*free_fn)(void *ptr, void *user);
    void *user;
} kitls_allocator;

/**
 * Install the process-wide allocator (it is copied); NULL restores libc's
 * malloc, realloc and free.  Call it first, before any other kitls call
 * and before other threads may use kitls: the allocator is read without a
 * lock.  While any block kitls allocated is alive (a config, connection,
 * session, ...) it returns KITLS_E_STATE and changes nothing, since every
 * block must go back to the allocator that gave it.  KITLS_E_INVALID_ARG
 * if one of the three functions is NULL.
 */
KITLS_API KITLS_WUR int kitls_set_allocator(const kitls_allocator *a);
/** Blocks kitls allocated and has not freed yet (0 once every object is
 *  freed; a leak check for tests and benchmarks). */
KITLS_API size_t kitls_alloc_live(void);
/** Allocate, reallocate and free through the installed allocator.  For
 *  kitls's companion libraries (kTLS, io_uring); an application never
 *  needs them, since kitls never hands it memory to free. */
KITLS_API void *kitls_malloc(size_t n);
KITLS_API void *kitls_calloc(size_t n, size_t size);
KITLS_API void *kitls_realloc(void *p, size_t n);
KITLS_API void kitls_free(void *p);
/** A copy of a NUL-terminated string, through the installed allocator. */
KITLS_API char *kitls_strdup(const char *s);

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

enum kitls_role { KITLS_ROLE_CLIENT = 0, KITLS_ROLE_SERVER = 1 };

/** Peer verification.  Clients default to KITLS_VERIFY_REQUIRE;
 *  servers default to KITLS_VERIFY_NONE (no CertificateRequest). */
enum kitls_verify {
    KITLS_VERIFY_NONE = 0,    /**< server: don't ask; client: don't verify (insecure) */
    KITLS_VERIFY_REQUEST = 1, /**< server: ask, verify if sent, accept none */
    KITLS_VERIFY_REQUIRE = 2, /**< client: verify; server: ask and require */
};

/** Fill buf with len cryptographically random bytes; return 0 or -1. */
typedef int (*kitls_rng_fn)(void *ctx, uint8_t *buf, size_t len);
/** Current time, seconds since the Unix epoch. */
typedef int64_t (*kitls_time_fn)(void *ctx);
/** Log line callback (level 0 = error .. 3 = debug).  At level 3 the
 *  library logs each handshake state transition, one line per message:
 *  "hs client: ST_CLIENT_WAIT_SH HS_SERVER_HELLO -> ST_CLIENT_WAIT_EE". */
typedef void (*kitls_log_fn)(void *ctx, int level, const char *msg);

/**
 * Create a configuration for one role with secure defaults: all three
 * suites (AES-128-GCM, AES-256-GCM, ChaCha20), groups X25519, P-256, P-384
 * (preceded by X25519MLKEM768, and a client then sends two key shares,
 * X25519MLKEM768 and X25519, where libcrypto has ML-KEM-768),
 * all supported signature schemes, middlebox compatibility on, server
 * preference on, system trust store for clients.  Returns NULL on
 * allocation failure.  The new config has one reference.
 */
KITLS_API kitls_config *kitls_config_new(enum kitls_role role);
/** Take another reference. */
KITLS_API kitls_config *kitls_config_up_ref(kitls_config *cfg);
/** Drop a reference; the last one frees the config and wipes its keys.  NULL is allowed. */
KITLS_API void kitls_config_free(kitls_config *cfg);

/*
 * Setters.  A config is frozen when the first connection is created from
 * it: setters then return KITLS_E_STATE.  All setters copy their input.
 */

/** Cipher suites in preference order (IANA ids); unknown ids are an error. */
KITLS_API KITLS_WUR int kitls_config_set_suites(kitls_config *cfg, const uint16_t *ids, size_t n);
/** Key exchange groups in preference order.  A client sends a key share for
 *  the first one only (others are reachable with HelloRetryRequest).
 *  Unknown ids are KITLS_E_INVALID_ARG; a group libcrypto cannot do
 *  (kitls_group_available() 0) is KITLS_E_UNAVAILABLE. */
KITLS_API KITLS_WUR int kitls_config_set_groups(kitls_config *cfg, const uint16_t *ids, size_t n);
/** Number of key shares a client sends (1 = first group only; 0..number
 *  of groups).  Default 1, or 2 (X25519MLKEM768 and X25519) with the
 *  default group list where libcrypto has ML-KEM; kitls_config_set_groups()
 *  goes back to 1 unless this was called. */
KITLS_API KITLS_WUR int kitls_config_set_key_shares(kitls_config *cfg, size_t n);
/** Signature schemes accepted from the peer and usable for our signatures. */
KITLS_API KITLS_WUR int kitls_config_set_sigalgs(kitls_config *cfg, const uint16_t *ids, size_t n);
/** Signature schemes we sign with, in preference order, when they must
 *  differ from kitls_config_set_sigalgs() (which then only says what we
 *  accept and advertise).  n = 0 restores "same as the accepted list". */
KITLS_API KITLS_WUR int kitls_config_set_signing_sigalgs(kitls_config *cfg, const uint16_t *ids,
                                                         size_t n);
/** Server: pick by server preference (1, default) or client preference (0). */
KITLS_API KITLS_WUR int kitls_config_set_server_preference(kitls_config *cfg, int on);
/** Middlebox compatibility mode (legacy_session_id + dummy CCS), default on. */
KITLS_API KITLS_WUR int kitls_config_set_middlebox_compat(kitls_config *cfg, int on);
/** Server: send a cookie in HelloRetryRequest (default off). */
KITLS_API KITLS_WUR int kitls_config_set_hrr_cookie(kitls_config *cfg, int on);

/**
 * Certificate chain (leaf first) and private key, both PEM files.  A server
 * may add several (one per key type / name); it selects by the client's
 * signature_algorithms and server_name.  A client adds at most one, used
 * when the server asks.  An id-RSASSA-PSS key signs with rsa_pss_pss_*
 * within its parameter restrictions (RFC 8446 §4.2.3); KITLS_E_CONFIG if
 * those allow no scheme (a hash other than SHA-256/384/512, an MGF1 hash
 * unlike the signing hash, a minimum salt above the digest length) or
 * differ from the certificate's.
 */
KITLS_API KITLS_WUR int kitls_config_add_cert_files(kitls_config *cfg, const char *chain_pem_file,
                                                    const char *key_pem_file);
/** As kitls_config_add_cert_files() but from PEM text in memory. */
KITLS_API KITLS_WUR int kitls_config_add_cert_pem(kitls_config *cfg, const char *chain_pem,
                                                  size_t chain_len, const char *key_pem,
                                                  size_t key_len);
/**
 * Server: choose the certificate yourself.  Called with the client's
 * server name (NULL if none) and signature schemes; return the index of a
 * certificate (order of kitls_config_add_cert_*) or -1 for the built-in
 * choice: the certificates with a scheme the client accepts, ranked by
 * matching the server name (exact or wildcard SAN), then by chaining to a
 * CA the client listed in certificate_authorities, ties in the order they
 * were added.  A returned certificate with no acceptable scheme fails the
 * handshake (handshake_failure).
 */
typedef int (*kitls_cert_select_fn)(void *ctx, kitls_conn *c, const char *server_name,
                                    const uint16_t *sigalgs, size_t n_sigalgs);
KITLS_API KITLS_WUR int kitls_config_set_cert_callback(kitls_config *cfg, kitls_cert_select_fn fn,
                                                       void *ctx);
/** Server: list the subjects of the trust anchors loaded so far in the
 *  CertificateRequest's certificate_authorities (default off). */
KITLS_API KITLS_WUR int kitls_config_set_send_ca_names(kitls_config *cfg, int on);
/**
 * GREASE (RFC 8701), default off.  A client puts reserved values in its
 * ClientHello's cipher suites, supported_groups, key_share (a 1-byte
 * share), signature_algorithms, supported_versions, ALPN (when it offers
 * ALPN) and two extensions (one empty, one holding a zero byte); a server
 * puts an empty GREASE extension in each NewSessionTicket.  Values are
 * drawn per connection from the config's RNG.  It keeps peers from
 * ossifying on today's code points; a peer that rejects the values is
 * broken (RFC 8446 §4.1.2, §4.2, §4.6.1 tell it to ignore them), which is
 * why it is off unless asked for.
 */
KITLS_API KITLS_WUR int kitls_config_set_grease(kitls_config *cfg, int on);
/**
 * Client: pad a ClientHello of 256 to 511 bytes to 512 with a padding
 * extension (RFC 7685), default on (as BoringSSL and NSS): some F5 load
 * balancers hang on ClientHellos of that size.  Off gives the unpadded,
 * shorter hello (e.g. to reproduce RFC 8448's traces).
 */
KITLS_API KITLS_WUR int kitls_config_set_client_hello_padding(kitls_config *cfg, int on);
/** Trust anchors from a PEM file (may be called several times). */
KITLS_API KITLS_WUR int kitls_config_load_ca_file(kitls_config *cfg, const char *path);
/** Trust anchors from PEM text. */
KITLS_API KITLS_WUR int kitls_config_load_ca_pem(kitls_config *cfg, const char *pem, size_t len);
/** Trust anchors from the system default store (clients do this by default
 *  unless a CA file is loaded). */
KITLS_API KITLS_WUR int kitls_config_use_system_ca(kitls_config *cfg);
/** Peer verification mode (see enum kitls_verify). */
KITLS_API KITLS_WUR int kitls_config_set_verify(kitls_config *cfg, enum kitls_verify mode);
/**
 * Client: check the server's certificate against the connection's server
 * name (default on).  While on, a verifying client (mode not
 * KITLS_VERIFY_NONE) must have a name (kitls_conn_set_server_name()): its
 * handshake fails with KITLS_E_NO_SERVER_NAME before anything is sent,
 * since a chain-only check accepts any certificate a trusted CA issued for
 * any name.  Off (0) is an explicit opt-out: only the chain, validity and
 * usage are checked and no name is compared, even if one is set (it is
 * still sent as SNI); the application must then check the peer's identity
 * itself, e.g. in the verification callback.  peer_authenticated is 1 for
 * such a connection once the chain verified.
 */
KITLS_API KITLS_WUR int kitls_config_set_verify_name(kitls_config *cfg, int on);

/**
 * Verified-chain cache: how many chains libcrypto's verifier accepted this
 * config remembers (default 32, at most 4096; 0 turns it off).  A peer
 * presenting again exactly the same certificate bytes, for the same
 * purpose (role), the same name checked, the same depth limit and the
 * same trust store (any kitls_config_load_ca_* or
 * kitls_config_use_system_ca call starts a new generation and empties the
 * cache) is accepted without rebuilding and re-verifying its chain, as
 * long as the current time (kitls_config_set_time) lies strictly inside
 * the intersection of the validity periods of the chain that was
 * verified; otherwise the chain is verified again.  Only that verdict is
 * cached: the leaf's keyUsage, OCSP (kitls_config_set_ocsp_policy), the
 * verification callback and the peer's CertificateVerify signature are
 * checked on every handshake, and a chain the verifier refused is never
 * cached.  The cache assumes the trust store does not change behind
 * kitls's back: certificates added to a system hash directory after they
 * were first looked up are not seen (libcrypto itself caches them too).
 * Changing the size empties the cache.  Fails with KITLS_E_STATE once the
 * config is in use, KITLS_E_INVALID_ARG above the maximum.
 */
KITLS_API KITLS_WUR int kitls_config_set_verify_cache(kitls_config *cfg, size_t entries);

/**
 * Verification callback, called once the peer's chain has been parsed and
 * (unless the mode is KITLS_VERIFY_NONE) checked by libcrypto's verifier.
 * `der`/`len` hold the chain as received, leaf first; `result` is 0 if the
 * built-in checks passed or the KITLS_E_CERT_* error they produced.  Return
 * 0 to accept the peer or a negative KITLS_E_* code (e.g. `result`) to
 * reject it with that code's alert.
 */
typedef int (*kitls_verify_fn)(void *ctx, kitls_conn *c, const uint8_t *const *der,
                               const size_t *len, size_t n, int result);
KITLS_API KITLS_WUR int kitls_config_set_verify_callback(kitls_config *cfg, kitls_verify_fn fn,
                                                         void *ctx);

/**
 * ALPN protocols in preference order, as an array of C strings (1..255
 * bytes each).  A server with ALPN configured refuses a client that offers
 * ALPN with no overlap (no_application_protocol).
 */
KITLS_API KITLS_WUR int kitls_config_set_alpn(kitls_config *cfg, const char *const *protos,
                                              size_t n);
/** RFC 8449 record_size_limit to advertise (64..16385); 0 = don't send. */
KITLS_API KITLS_WUR int kitls_config_set_record_size_limit(kitls_config *cfg, uint16_t limit);

/** Limits against abuse; 0 keeps the default for a field. */
struct kitls_limits {
    uint32_t max_handshake_message; /**< default 65536 (server), 131072 (client) */
    uint32_t max_empty_records;     /**< consecutive empty records, default 32 */
    uint32_t max_buffered_bytes;    /**< unread plaintext+ciphertext, default 262144,
                                         at least 33290 (two full records) */
    uint32_t max_ccs;               /**< ChangeCipherSpec records tolerated, default 1 */
    uint32_t max_cert_chain;        /**< certificates in a chain, default 10 */
    uint32_t max_key_updates;       /**< consecutive KeyUpdates without data, default 32 */
};
KITLS_API KITLS_WUR int kitls_config_set_limits(kitls_config *cfg, const struct kitls_limits *lim);

/** Deterministic hooks for tests and fuzzing. NULL restores the default. */
KITLS_API KITLS_WUR int kitls_config_set_rng(kitls_config *cfg, kitls_rng_fn fn, void *ctx);
KITLS_API KITLS_WUR int kitls_config_set_time(kitls_config *cfg, kitls_time_fn fn, void *ctx);
KITLS_API KITLS_WUR int kitls_config_set_log(kitls_config *cfg, kitls_log_fn fn, void *ctx);

/* ------------------------------------------------------------------ */
/* OCSP stapling (RFC 6066 §8 as used by RFC 8446 §4.4.2.1)            */
/* ------------------------------------------------------------------ */

/** Client OCSP policy.  Default KITLS_OCSP_OFF (no status_request sent). */
enum kitls_ocsp_policy {
    KITLS_OCSP_OFF = 0,
    KITLS_OCSP_USE_IF_STAPLED =
        1,                  /**< ask; a bad or revoked staple fails, a missing one does not */
    KITLS_OCSP_REQUIRE = 2, /**< ask; a missing or unverifiable staple fails */
    KITLS_OCSP_REQUEST_ONLY =
        3, /**< ask and expose the raw response (kitls_conn_ocsp_response()); no check */
};
/** Client: OCSP policy.  A leaf with the TLS Feature "must-staple"
 *  (status_request) turns USE_IF_STAPLED into REQUIRE for that leaf. */
KITLS_API KITLS_WUR int kitls_config_set_ocsp_policy(kitls_config *cfg, enum kitls_ocsp_policy p);
/** Client: allowed clock skew for thisUpdate/nextUpdate, seconds (default 300). */
KITLS_API KITLS_WUR int kitls_config_set_ocsp_skew(kitls_config *cfg, uint32_t seconds);
/**
 * Server: the DER OCSP response to staple for certificate `index` (order
 * of kitls_config_add_cert_*), or NULL/0 to stop stapling.  May be called
 * at any time (reload).  The response is checked now: it must be
 * successful and carry a status for that certificate (its issuer must be
 * the next certificate of the chain); it is stapled only to clients that
 * ask and only while its nextUpdate has not passed.
 */
KITLS_API KITLS_WUR int kitls_config_set_ocsp_staple(kitls_config *cfg, size_t index,
                                                     const uint8_t *der, size_t len);
/** Server: staple these bytes as they are, without any check (tests, or
 *  responses checked elsewhere).  Same rules otherwise. */
KITLS_API KITLS_WUR int kitls_config_set_ocsp_staple_unchecked(kitls_config *cfg, size_t index,
                                                               const uint8_t *der, size_t len);
/** Server: a SignedCertificateTimestampList (RFC 6962 §3.3) to send with
 *  certificate `index` to clients that ask (NULL/0: none).  Any time. */
KITLS_API KITLS_WUR int kitls_config_set_sct_list(kitls_config *cfg, size_t index,
                                                  const uint8_t *list, size_t len);
/** Client: ask for SCTs (signed_certificate_timestamp) and expose them
 *  with kitls_conn_sct_list(); they are not verified. */
KITLS_API KITLS_WUR int kitls_config_set_request_sct(kitls_config *cfg, int on);

/* ------------------------------------------------------------------ */
/* Connection                                                          */
/* ------------------------------------------------------------------ */

/** Create a connection from a config (takes a reference, freezes it).
 *  Returns NULL on allocation failure. */
KITLS_API kitls_conn *kitls_conn_new(kitls_config *cfg);
/** Free a connection; wipes all secrets.  NULL is allowed. */
KITLS_API void kitls_conn_free(kitls_conn *c);

/** Client: server name to send in SNI and to verify the certificate
 *  against.  An IP address literal is verified against the IP SAN and is
 *  not sent as SNI.  Call before the first kitls_conn_handshake().  A
 *  verifying client needs one unless kitls_config_set_verify_name(cfg, 0)
 *  was called (else the handshake fails with KITLS_E_NO_SERVER_NAME).
 *  name is 1 to 253 bytes; a server connection gets KITLS_E_INVALID_ARG. */
KITLS_API KITLS_WUR int kitls_conn_set_server_name(kitls_conn *c, const char *name);
/** Opaque per-connection user pointer. */
KITLS_API void kitls_conn_set_user(kitls_conn *c, void *user);
KITLS_API void *kitls_conn_user(const kitls_conn *c);

/**
 * Hand received ciphertext to the connection.  All len bytes are taken
 * (copied) unless the buffered input would exceed the limit, in which case
 * KITLS_E_LIMIT is returned and nothing is taken.  Records are processed
 * lazily by kitls_conn_handshake() and kitls_conn_read().
 */
KITLS_API KITLS_WUR int kitls_conn_feed(kitls_conn *c, const uint8_t *buf, size_t len);

/**
 * Zero-copy receive: get a pointer to where up to *cap bytes may be written
 * directly (e.g. by recv()), then commit how many were written.
 */
KITLS_API KITLS_WUR int kitls_conn_in_reserve(kitls_conn *c, uint8_t **buf, size_t *cap);
KITLS_API KITLS_WUR int kitls_conn_in_commit(kitls_conn *c, size_t n);

/**
 * Bytes still missing from the record the connection is receiving (the
 * last one buffered, after any whole records not processed yet): the rest
 * of its 5-byte header, or of its body once the header is in.  0 when no
 * partial record is buffered.  A caller that must not read past a
 * record boundary (before moving RX to kernel TLS) reads exactly this many.
 */
KITLS_API size_t kitls_conn_in_needed(const kitls_conn *c);

/** Bytes waiting to be sent: pointer and length (valid until the next call
 *  on the connection).  Returns the length (0 if nothing pending). */
KITLS_API size_t kitls_conn_out_peek(kitls_conn *c, const uint8_t **buf);
/** Mark n bytes of the pending output as sent. */
KITLS_API void kitls_conn_out_consume(kitls_conn *c, size_t n);

/**
 * Drive the handshake.  Returns 0 once the handshake is complete,
 * KITLS_E_WANT_READ when more input is needed (send any pending output
 * first), or a fatal error (an alert is then pending in the output).
 */
KITLS_API KITLS_WUR int kitls_conn_handshake(kitls_conn *c);
/** 1 once the handshake has completed. */
KITLS_API int kitls_conn_is_established(const kitls_conn *c);

/**
 * Read application data.  Returns the number of bytes read (> 0),
 * KITLS_E_WANT_READ if no complete record is buffered, KITLS_E_CLOSED after
 * the peer's close_notify, or a fatal error.  Post-handshake messages
 * (NewSessionTicket, KeyUpdate) are processed on the way.
 *
 * When buf can hold a whole record's content (len >= 16384 for full
 * records), the record is decrypted straight into it, without a copy (a
 * record of 2 KiB or less only when buf also holds its content type
 * byte: copying it is cheaper than a second AEAD call); so
 * any byte of buf[0..len) may be written, as with recv(2).  What is not
 * returned data is wiped: a post-handshake message, or a record whose
 * authentication failed (never released as data, RFC 8446 §5.2).
 */
KITLS_API KITLS_WUR int kitls_conn_read(kitls_conn *c, uint8_t *buf, size_t len);
/**
 * Read application data from received bytes given by pointer, without
 * copying them into the connection (the zero-copy receive path, like
 * picotls's ptls_receive()): kitls_conn_feed() then kitls_conn_read() in
 * one call, minus the copy of the ciphertext.
 *
 * When nothing is buffered in the connection, each whole application-data
 * record at the start of in[0..in_len) whose inner plaintext fits in out
 * (out_len >= its content + 1 byte for the content type, so 16385 bytes
 * for full records: 2^14 + 1, RFC 8446 §5.4) is decrypted from
 * in straight into out; in is only read.  It stops at the first record
 * that yields data, and *consumed says how many bytes of in were taken:
 * pass the rest again (in + *consumed) in the next call.  Otherwise (a
 * partial record, a record that does not fit, bytes already buffered, a
 * connection not established or offloaded) the bytes not taken yet are
 * fed to the connection (*consumed = in_len) and this is kitls_conn_read().
 *
 * Returns what kitls_conn_read() returns: bytes of data in out (> 0),
 * KITLS_E_WANT_READ (all of in taken, no record complete), KITLS_E_CLOSED,
 * or a fatal error, with the same alert as feed + read (a bad MAC:
 * bad_record_mac; too long a record: record_overflow).  Post-handshake
 * records (KeyUpdate, NewSessionTicket) and alerts are processed on the
 * way.  On error, *consumed may be below in_len (or kitls_conn_feed()'s
 * error, e.g. KITLS_E_LIMIT, with the rest not taken).  out[0..out_len)
 * may be written whatever the result, as with kitls_conn_read().
 */
KITLS_API KITLS_WUR int kitls_conn_read_from(kitls_conn *c, const uint8_t *in, size_t in_len,
                                             size_t *consumed, uint8_t *out, size_t out_len);
/**
 * Encrypt application data into the output.  Returns len (all bytes are
 * always taken; records are split at the negotiated maximum) or an error.
 * The records are sealed from buf straight into the output, without a
 * copy of the plaintext.
 */
KITLS_API KITLS_WUR int kitls_conn_write(kitls_conn *c, const uint8_t *buf, size_t len);
/**
 * Memory while idle.  Once the handshake is complete, the record buffers
 * are freed by themselves as soon as they hold nothing (received bytes
 * all processed and read, output all taken with kitls_conn_out_consume())
 * and allocated again, at the size needed, when bytes come: an
 * established connection with nothing in flight holds about 4 KB, its
 * object, keys and cipher contexts.  This call frees, in addition, the
 * cipher contexts (about 1.2 KB each with AES-GCM), which the next record
 * sets up again from the kept keys (a key setup, a few microseconds): call
 * it when a connection goes idle (about 1.4-2.2 KB remain, more with a
 * session kept).  It also frees the empty buffers of a connection still
 * handshaking.  Nothing pending is lost.
 */
KITLS_API void kitls_conn_release_buffers(kitls_conn *c);
/**
 * Freed record buffers of 16645 bytes are not given back at once: each
 * thread keeps up to two for the next records (a malloc/free pair per
 * record otherwise).  kitls_buffer_cache_bytes() is what the calling
 * thread keeps (0, 16645 or 33290); kitls_buffer_cache_flush() frees it
 * (also done when the thread exits).  Kept buffers count in
 * kitls_alloc_live(): flush before kitls_set_allocator().  A kept buffer
 * may still hold plaintext a connection decrypted in place: it is wiped
 * when freed (flush, thread exit), not when a connection puts it back,
 * unless the connection's config has kitls_config_set_cleanse_plaintext().
 */
KITLS_API size_t kitls_buffer_cache_bytes(void);
KITLS_API void kitls_buffer_cache_flush(void);
/**
 * Free everything kitls keeps for the calling thread: its spare record
 * buffers (kitls_buffer_cache_flush()), its key-generation contexts and
 * peer-key objects (one each per key-exchange group used, made once so
 * that each handshake does not fetch the algorithm again; every key is
 * still new), its ticket cipher context and its ECDSA scratch (a BN_CTX
 * for signing, cleared after each signature, and a signature object for
 * verifying).  Done by itself
 * when the thread exits; call it before kitls_set_allocator() or before
 * unloading the library from a thread that stays.
 */
KITLS_API void kitls_thread_cleanup(void);
/** Queue a close_notify alert.  Further writes fail with KITLS_E_STATE. */
KITLS_API KITLS_WUR int kitls_conn_close(kitls_conn *c);
/**
 * Tell the connection its transport reached end-of-file.  Reads then
 * return KITLS_E_CLOSED if close_notify was received, else KITLS_E_EOF
 * (truncation) once buffered data is consumed; a handshake in progress
 * fails with KITLS_E_EOF.
 */
KITLS_API void kitls_conn_set_eof(kitls_conn *c);
/**
 * Send a KeyUpdate (RFC 8446 §4.6.3) and switch to the next sending keys;
 * with `request_peer` the peer is asked to update its keys too.  Only
 * after the handshake; the KeyUpdate goes into the output like data.
 */
KITLS_API KITLS_WUR int kitls_conn_key_update(kitls_conn *c, int request_peer);
/**
 * Send a fatal alert with the given description and fail the connection
 * (KITLS_E_STATE is then the sticky error).  For tests and applications
 * that abort a connection for their own reasons.
 */
KITLS_API KITLS_WUR int kitls_conn_send_alert(kitls_conn *c, int description);

#define KITLS_WANT_READ 1u  /**< more input is needed */
#define KITLS_WANT_WRITE 2u /**< output is pending */
/** What the connection needs next: a mask of KITLS_WANT_*. */
KITLS_API unsigned kitls_conn_wants(const kitls_conn *c);

/** The first fatal error, or 0. */
KITLS_API int kitls_conn_error(const kitls_conn *c);
/** Alert received from the peer (description), or -1. */
KITLS_API int kitls_conn_peer_alert(const kitls_conn *c);
/** Details about the last verification failure (libcrypto's reason), or "". */
KITLS_API const char *kitls_conn_verify_detail(const kitls_conn *c);

/* Negotiated parameters (valid once established; 0/NULL before). */
KITLS_API uint16_t kitls_conn_suite(const kitls_conn *c);
KITLS_API uint16_t kitls_conn_group(const kitls_conn *c);
KITLS_API uint16_t kitls_conn_sigalg(const kitls_conn *c); /**< scheme the server signed with */
KITLS_API uint16_t kitls_conn_peer_sigalg(const kitls_conn *c); /**< scheme the peer signed with */
KITLS_API const char *kitls_conn_alpn(const kitls_conn *c);     /**< NULL if none */
KITLS_API const char *kitls_conn_server_name(
    const kitls_conn *c); /**< SNI (server side: received) */
KITLS_API int kitls_conn_did_hrr(const kitls_conn *c);
/** 1 if the peer was authenticated: its certificate verified (client:
 *  the chain, and the name unless kitls_config_set_verify_name(cfg, 0);
 *  server: a client certificate was verified).  A resumed connection
 *  reports what the connection its session came from reported. */
KITLS_API int kitls_conn_peer_authenticated(const kitls_conn *c);
/** Peer record size limit in effect (plaintext bytes per record we send). */
KITLS_API size_t kitls_conn_max_send_fragment(const kitls_conn *c);
/**
 * Keying material exporter (RFC 8446 §7.5, RFC 5705): out_len bytes
 * derived from the exporter master secret for `label` and `context`
 * (context NULL means "no context", which differs from an empty one in
 * TLS 1.2 only; TLS 1.3 treats both as empty).  After the handshake
 * (KITLS_E_STATE before).  The HKDF-Expand-Label limits apply: label
 * at most 249 bytes, out_len at most 255 times the hash length.
 */
KITLS_API KITLS_WUR int kitls_conn_export_keying_material(kitls_conn *c, const char *label,
                                                          const uint8_t *context,
                                                          size_t context_len, uint8_t *out,
                                                          size_t out_len);
/** The same from the early exporter master secret (0-RTT; RFC 8446 §7.5);
 *  valid once early data was offered with a session. */
KITLS_API KITLS_WUR int kitls_conn_export_early_keying_material(kitls_conn *c, const char *label,
                                                                const uint8_t *context,
                                                                size_t context_len, uint8_t *out,
                                                                size_t out_len);
/** Cap the plaintext bytes per record we send (64..16384; 0 restores the
 *  default).  The peer's record_size_limit still applies. */
KITLS_API KITLS_WUR int kitls_conn_set_max_send_fragment(kitls_conn *c, size_t n);
/** Signature schemes the peer listed (server: the ClientHello's; client:
 *  the CertificateRequest's), known ones only, in its order. */
KITLS_API const uint16_t *kitls_conn_peer_sigalgs(const kitls_conn *c, size_t *n);
/** Server: the client's ALPN list in wire format (length-prefixed names;
 *  NULL, 0 if it sent none). */
KITLS_API const uint8_t *kitls_conn_peer_alpn_list(const kitls_conn *c, size_t *len);
/** Client: the certificate_authorities of the server's CertificateRequest,
 *  wire format (2-byte-length-prefixed DER names; NULL, 0 if none). */
KITLS_API const uint8_t *kitls_conn_peer_ca_names(const kitls_conn *c, size_t *len);
/** Client: the raw OCSP response the server stapled (NULL, 0 if none). */
KITLS_API const uint8_t *kitls_conn_ocsp_response(const kitls_conn *c, size_t *len);
/** Client: the raw SignedCertificateTimestampList the server sent (NULL, 0 if none). */
KITLS_API const uint8_t *kitls_conn_sct_list(const kitls_conn *c, size_t *len);
/** Client: OCSP status of the server's stapled response: 0 none, 1 good
 *  (verified), 2 revoked or invalid (the handshake then failed). */
KITLS_API int kitls_conn_ocsp_status(const kitls_conn *c);
/** DER of the peer's leaf certificate (NULL, 0 if none); after
 *  resumption, the one the original connection received (the session or
 *  ticket carries it). */
KITLS_API const uint8_t *kitls_conn_peer_cert(const kitls_conn *c, size_t *len);

/* ------------------------------------------------------------------ */
/* Sessions and resumption (RFC 8446 §2.2, §4.6.1)                     */
/* ------------------------------------------------------------------ */

/** A resumable session a client received in a NewSessionTicket. */
typedef struct kitls_session kitls_session;

/** Take another reference / drop one (NULL is allowed). */
KITLS_API kitls_session *kitls_session_up_ref(kitls_session *s);
KITLS_API void kitls_session_free(kitls_session *s);
/**
 * Serialize a session (it holds a resumption secret: store it like a key).
 * With buf NULL, *len gets the size needed.  Returns 0 or KITLS_E_INVALID_ARG
 * if cap is too small.
 */
KITLS_API KITLS_WUR int kitls_session_to_bytes(const kitls_session *s, uint8_t *buf, size_t cap,
                                               size_t *len);
/** Parse a serialized session; NULL if malformed. */
KITLS_API kitls_session *kitls_session_from_bytes(const uint8_t *buf, size_t len);
/** max_early_data_size the server allowed for this session (0: no 0-RTT). */
KITLS_API uint32_t kitls_session_max_early_data(const kitls_session *s);
/** Seconds the ticket may be used for, from when it was received. */
KITLS_API uint32_t kitls_session_lifetime(const kitls_session *s);

/** Called for each ticket a client connection receives; `s` is borrowed
 *  (take a reference with kitls_session_up_ref to keep it). */
typedef void (*kitls_session_fn)(void *ctx, kitls_conn *c, kitls_session *s);
KITLS_API KITLS_WUR int kitls_config_set_session_callback(kitls_config *cfg, kitls_session_fn fn,
                                                          void *ctx);
/** Client: the newest session received on this connection (a new
 *  reference), or NULL. */
KITLS_API kitls_session *kitls_conn_get_session(kitls_conn *c);
/**
 * Client: offer this session for resumption (before the first
 * kitls_conn_handshake()).  The connection takes its own reference.  A
 * session is not offered (a full handshake with certificate checks
 * follows) when it is expired or its suite is not configured; when it was
 * made for another server name than the connection's (names compare
 * case-insensitively, an IP address and a DNS name never match, and a
 * session made without a name goes only to connections without one); when
 * it was made under another verification policy (the config's session
 * context, see kitls_config_set_session_context(): verify mode, name
 * checks, OCSP policy, whether a verification callback is set, trust
 * anchors or the application's context); when this connection's config
 * verifies the server (mode not KITLS_VERIFY_NONE) but the original
 * connection did not authenticate it; or when that authentication is over
 * 7 days old or the server's verified chain has expired since (RFC 8446
 * §4.6.1; sessions made on resumed connections count from the original
 * full handshake).  A resumed connection reports the peer certificate and
 * kitls_conn_peer_authenticated() of the connection the session came from.
 */
KITLS_API KITLS_WUR int kitls_conn_set_session(kitls_conn *c, kitls_session *s);
/** 1 if the handshake resumed a session (PSK accepted). */
KITLS_API int kitls_conn_is_resumed(const kitls_conn *c);

/** Most bytes kitls_config_set_session_context() takes. */
#define KITLS_MAX_SESSION_CONTEXT 255

/**
 * The context sessions are bound to (like OpenSSL's session id context),
 * 0..KITLS_MAX_SESSION_CONTEXT bytes; ctx NULL restores the default.
 * Client: a session is offered only by a config of the same verify mode,
 * name checking, OCSP policy, callback presence and context, the default
 * context being the trust anchors (kitls_conn_set_session); set the same
 * context on configs that may share sessions despite other anchors.
 * Server: a ticket resumes only on a config whose context and client
 * verification mode equal those of the config that issued it (configs
 * sharing ticket keys included); otherwise, or when the mode is
 * KITLS_VERIFY_REQUIRE and the ticket holds no authenticated client
 * certificate, the PSK is ignored and a full handshake follows.  The
 * default context is derived from the client-authentication policy: the
 * trust anchors loaded in the config's store (when the mode is not
 * KITLS_VERIFY_NONE) and whether a verification callback is set, so that
 * loading other client CAs invalidates older tickets; a context set here
 * replaces that default (the mode stays bound).  Set a context when
 * the verification callback's policy changes, or when the anchors come
 * from a directory (kitls_config_use_system_ca: not enumerable).  Tickets
 * also carry the client's leaf certificate and verdict, restored on
 * resumption (docs/limits.md).
 */
KITLS_API KITLS_WUR int kitls_config_set_session_context(kitls_config *cfg, const uint8_t *ctx,
                                                         size_t len);

/** Server: number of tickets sent after the handshake (default 1, at most
 *  16; 0 turns resumption off) and their lifetime in seconds (default
 *  7200, at most 604800; 0 makes tickets unusable at once).  Out of range:
 *  KITLS_E_INVALID_ARG. */
KITLS_API KITLS_WUR int kitls_config_set_tickets(kitls_config *cfg, unsigned count,
                                                 uint32_t lifetime);
/** Also accept psk_ke (resumption without a fresh (EC)DHE; weaker forward
 *  secrecy).  Default off: only psk_dhe_ke is offered and accepted. */
KITLS_API KITLS_WUR int kitls_config_set_psk_ke(kitls_config *cfg, int on);
/** Wipe plaintext left in a connection's receive buffer as soon as the
 *  buffer is given up (default off).  Records are decrypted in place when
 *  they are small or the reader's buffer cannot take them; such a buffer
 *  goes to the thread's spares (kitls_buffer_cache_bytes()) and is wiped
 *  only when its memory leaves kitls or the next record overwrites it.
 *  With this on, it is wiped before it becomes a spare (about 64
 *  instructions per KiB of plaintext), like OpenSSL's
 *  SSL_OP_CLEANSE_PLAINTEXT.  Before the first connection. */
KITLS_API KITLS_WUR int kitls_config_set_cleanse_plaintext(kitls_config *cfg, int on);

/** A ticket encryption key: `id` is written in clear into each ticket. */
struct kitls_ticket_key {
    uint8_t id[4];
    uint8_t key[32]; /**< AES-256-GCM key */
};
/**
 * Server: set the ticket keys; keys[0] seals new tickets, all n open
 * tickets (rotation: put the new key first and keep the previous ones; a
 * key left out is retired and its tickets are refused).  Unlike other
 * setters this one may be called at any time, from any thread.  Without
 * it, a random key is generated per config.  n is 1 to 4.
 */
KITLS_API KITLS_WUR int kitls_config_set_ticket_keys(kitls_config *cfg,
                                                     const struct kitls_ticket_key *keys, size_t n);
/** Server: send one more NewSessionTicket now (after the handshake). */
KITLS_API KITLS_WUR int kitls_conn_send_ticket(kitls_conn *c);

/**
 * Send a KeyUpdate automatically before this many records are protected
 * under one key (default: 2^24 for AES-GCM as RFC 8446 §5.5 advises, 2^40
 * for ChaCha20-Poly1305).  Lower it to test rekeying.
 */
KITLS_API KITLS_WUR int kitls_config_set_key_update_limit(kitls_config *cfg, uint64_t records);
/**
 * The records one key may protect on this connection before a KeyUpdate:
 * the config's limit, or the default for the negotiated suite (0 before
 * the suite is known).  A kTLS sender that counts records itself uses it.
 */
KITLS_API uint64_t kitls_conn_key_update_limit(const kitls_conn *c);

/* ------------------------------------------------------------------ */
/* 0-RTT early data (RFC 8446 §2.3, §4.2.10, §8) — off by default      */
/* ------------------------------------------------------------------ */

/**
 * Server: accept up to `max` bytes of 0-RTT data per connection and
 * advertise it in new tickets (0, the default, turns 0-RTT off).
 * Client: any non-zero value allows kitls_conn_write_early_data().
 * Early data can be replayed by an attacker: only enable it for requests
 * that are safe to repeat (see kitls_config_set_early_data_callback()).
 */
KITLS_API KITLS_WUR int kitls_config_set_early_data(kitls_config *cfg, uint32_t max);
/** Server: largest difference, in milliseconds, between the ticket age the
 *  client claims and the server's own view (default 10000). */
KITLS_API KITLS_WUR int kitls_config_set_early_data_window(kitls_config *cfg, uint32_t ms);
/**
 * Anti-replay check: return 0 if `id` (len bytes) is seen for the first
 * time (and remember it until `expires`, seconds since the epoch), 1 if it
 * was seen before, negative on error (early data is then refused).  The
 * default is a process-local single-use store; servers behind a load
 * balancer plug in a shared one here.
 */
typedef int (*kitls_antireplay_fn)(void *ctx, const uint8_t *id, size_t len, int64_t expires);
KITLS_API KITLS_WUR int kitls_config_set_antireplay(kitls_config *cfg, kitls_antireplay_fn fn,
                                                    void *ctx);

/** Return value of a kitls_antireplay_async_fn: the answer comes later,
 *  through kitls_conn_antireplay_done(). */
#define KITLS_ANTIREPLAY_PENDING 2
/**
 * Server: an anti-replay check that may answer later (a store over the
 * network).  Like kitls_antireplay_fn (same id: 16 bytes, unique per
 * ticket, so a replayed ClientHello has the same one; same `expires`),
 * plus the connection being decided.  Returns 0 (first time: 0-RTT may be
 * accepted), 1 (seen before: replay, 0-RTT rejected), a negative value
 * (store failure: 0-RTT rejected, the handshake goes on as 1-RTT), or
 * KITLS_ANTIREPLAY_PENDING: kitls_conn_handshake() then returns
 * KITLS_E_WANT_ASYNC until the application posts the answer with
 * kitls_conn_antireplay_done() (which it may do from inside the callback).
 * Called at most once per connection, from kitls_conn_handshake(), only
 * when every other 0-RTT check passed (so never without an offer).
 */
typedef int (*kitls_antireplay_async_fn)(void *ctx, kitls_conn *c, const uint8_t *id, size_t len,
                                         int64_t expires);
/**
 * Server: use fn (with ctx) as the anti-replay check instead of the one of
 * kitls_config_set_antireplay() or the built-in store; fn NULL goes back
 * to them.  The store must bound its own wait (a timeout answered with a
 * negative verdict): the core has no clock of its own.  For event loops
 * that handle KITLS_E_WANT_ASYNC (kitls_uring, or the application's own):
 * the blocking kitls_ktls_handshake() does not wait for an answer (it
 * fails with that code).  KITLS_E_INVALID_ARG for a NULL cfg,
 * KITLS_E_STATE once the config is in use.
 */
KITLS_API KITLS_WUR int kitls_config_set_antireplay_async(kitls_config *cfg,
                                                          kitls_antireplay_async_fn fn, void *ctx);
/**
 * Server: post the answer of the pending asynchronous anti-replay check of
 * c: verdict 0 = first time (0-RTT may be accepted), 1 = replay, negative
 * (e.g. -ETIMEDOUT, -ECONNREFUSED) = the store failed; both reject 0-RTT
 * and the handshake goes on as 1-RTT.  Then call kitls_conn_handshake()
 * again: it resumes where it stopped.  While the check is pending nothing
 * of c proceeds: kitls_conn_handshake() returns KITLS_E_WANT_ASYNC without
 * reading input or producing output (input given to kitls_conn_feed()
 * stays buffered), kitls_conn_read_early_data() returns KITLS_E_WANT_ASYNC,
 * kitls_conn_read() and kitls_conn_write() KITLS_E_STATE.  Freeing c while
 * pending is allowed (a late answer must then not be posted).  Returns 0,
 * KITLS_E_INVALID_ARG (c NULL, or verdict > 1), KITLS_E_STATE if no check
 * is pending.  Call it from the thread that drives c.
 */
KITLS_API KITLS_WUR int kitls_conn_antireplay_done(kitls_conn *c, int verdict);
/** Server: per-connection policy, called after all other checks passed;
 *  return 1 to accept this connection's early data, 0 to reject it. */
typedef int (*kitls_early_data_fn)(void *ctx, kitls_conn *c);
KITLS_API KITLS_WUR int kitls_config_set_early_data_callback(kitls_config *cfg,
                                                             kitls_early_data_fn fn, void *ctx);
/**
 * Client: 0-RTT data.  Before the first kitls_conn_handshake() (after
 * kitls_conn_set_session()) it is queued and sent right after the
 * ClientHello (a call with len 0 offers 0-RTT with nothing queued yet);
 * later, until the server's Finished is processed, it is
 * sent at once (unless the server has already rejected 0-RTT).  Returns
 * the number of bytes taken (the total is capped at the session's
 * max_early_data), or KITLS_E_STATE if 0-RTT is not possible now.  If the
 * server rejects it, the application must send the data again after the
 * handshake (kitls_conn_early_data_status()).
 */
KITLS_API KITLS_WUR int kitls_conn_write_early_data(kitls_conn *c, const uint8_t *buf, size_t len);
/**
 * Server: read 0-RTT data.  kitls_conn_handshake() returns
 * KITLS_E_EARLY_DATA when some is waiting.  Returns bytes read (> 0) or
 * KITLS_E_WANT_READ when none is buffered.
 */
KITLS_API KITLS_WUR int kitls_conn_read_early_data(kitls_conn *c, uint8_t *buf, size_t len);

enum kitls_early_status {
    KITLS_EARLY_NONE = 0,     /**< not offered */
    KITLS_EARLY_ACCEPTED = 1, /**< accepted by the server */
    KITLS_EARLY_REJECTED = 2, /**< offered and rejected (or not yet known: client mid-handshake) */
};
KITLS_API int kitls_conn_early_data_status(const kitls_conn *c);

/* ------------------------------------------------------------------ */
/* Traffic key export (for kernel TLS offload)                         */
/* ------------------------------------------------------------------ */

enum kitls_dir { KITLS_DIR_TX = 0, KITLS_DIR_RX = 1 };

/** Traffic keys for one direction, as the record layer uses them now. */
struct kitls_traffic_keys {
    uint16_t suite;  /**< IANA cipher suite */
    uint8_t key_len; /**< 16 or 32 */
    uint8_t iv_len;  /**< 12 */
    uint8_t key[32];
    uint8_t iv[12]; /**< static IV (the per-record nonce is iv ^ seq) */
    uint64_t seq;   /**< sequence number of the next record */
};

/* ------------------------------------------------------------------ */
/* Offload: the caller (kernel TLS) protects records                    */
/* ------------------------------------------------------------------ */

/**
 * The post-handshake side of a connection, for a caller that moves record
 * protection elsewhere (kernel TLS): it can only do what is left to do once
 * the kernel holds the keys -- export keys, hand a direction over, take
 * the control records the kernel delivers, produce the control records to
 * send (KeyUpdate, NewSessionTicket, alerts, close_notify), answer a
 * KeyUpdate and give the next keys, keep the newest session.
 *
 * One per connection: kitls_offload_get() creates it after the handshake
 * and returns the same object on later calls; the connection owns it and
 * kitls_conn_free() frees it.  Directions are handed over separately
 * (kitls_offload_start()): a direction the kernel does not take stays with
 * the connection (kitls_conn_read() / kitls_conn_write() and the byte
 * calls keep working for it), and kitls_conn_read() / kitls_conn_write()
 * answer KITLS_E_STATE for a direction handed over.
 */
typedef struct kitls_offload kitls_offload;

/**
 * The connection's offload object (created on the first call).  Only
 * once the handshake is complete: KITLS_E_STATE before, or
 * KITLS_E_NOMEM.  A connection that failed afterwards keeps it (its
 * alert still has to leave).
 */
KITLS_API KITLS_WUR int kitls_offload_get(kitls_conn *c, kitls_offload **out);
/**
 * Export the current application traffic keys for one direction (to
 * install into the kernel; again after each key change).  For RX only
 * when no received bytes are buffered in the connection (read them
 * first); exporting RX clears kitls_offload_rx_rekey_pending().  Wipe
 * *out after use.
 */
KITLS_API KITLS_WUR int kitls_offload_export_keys(kitls_offload *o, enum kitls_dir dir,
                                                  struct kitls_traffic_keys *out);
/**
 * Hand record protection for one direction to the caller, typically after
 * installing kitls_offload_export_keys() into a kTLS socket: the point of
 * no return for that direction.  TX only when all output was taken, RX
 * only when no received bytes are buffered (KITLS_E_STATE otherwise).
 *
 * TX handed over: kitls_conn_write() is refused (write to the socket); the
 * core still produces post-handshake records (KeyUpdate, NewSessionTicket,
 * alerts, close_notify) as plaintext records for the caller to send with
 * the record type (TLS_SET_RECORD_TYPE): see kitls_offload_out_record().
 * RX handed over: kitls_conn_read() is refused; non-data records the
 * kernel delivers (TLS_GET_RECORD_TYPE) go to kitls_offload_feed_record().
 */
KITLS_API KITLS_WUR int kitls_offload_start(kitls_offload *o, enum kitls_dir dir);
/** 1 if the direction was handed over (kitls_offload_start()). */
KITLS_API int kitls_offload_is_offloaded(const kitls_offload *o, enum kitls_dir dir);
/**
 * TX handed over: the next plaintext record to send.  Returns 1 and sets
 * *type, *data, *len (valid until kitls_offload_out_record_done()), or 0
 * if nothing is pending (or TX was not handed over: take the sealed bytes
 * with kitls_conn_out_peek()).  *rekey is 1 when this record is a
 * KeyUpdate: after sending it, install kitls_offload_export_keys(KITLS_DIR_TX)
 * before anything else is sent.
 */
KITLS_API int kitls_offload_out_record(kitls_offload *o, uint8_t *type, const uint8_t **data,
                                       size_t *len, int *rekey);
/** TX handed over: the record from kitls_offload_out_record() was sent. */
KITLS_API void kitls_offload_out_record_done(kitls_offload *o);
/**
 * RX handed over: a decrypted record of a type other than application_data
 * (handshake, alert) delivered by the kernel.  Returns 0, KITLS_E_CLOSED
 * (close_notify) or a fatal error (KITLS_E_STATE when RX was not handed
 * over).  After a KeyUpdate, kitls_offload_rx_rekey_pending() is 1 until
 * the new keys are exported.
 */
KITLS_API KITLS_WUR int kitls_offload_feed_record(kitls_offload *o, uint8_t type,
                                                  const uint8_t *data, size_t len);
/** RX handed over: 1 if the peer changed keys and
 *  kitls_offload_export_keys(KITLS_DIR_RX) must be installed before more
 *  data can be read. */
KITLS_API int kitls_offload_rx_rekey_pending(const kitls_offload *o);
/**
 * RX handed over: the kernel delivered records the core never sees
 * (application data) since the last kitls_offload_feed_record().  Restarts
 * the counts of consecutive non-data records -- KeyUpdates
 * (kitls_config_set_limits' max_key_updates), empty records, warning
 * alerts -- as a data record does in userspace.  The kTLS layer calls it
 * when the kernel's RX record sequence number shows such records; without
 * it a long-lived offloaded connection would fail at the peer's
 * (max_key_updates + 1)th KeyUpdate.  No effect when RX was not handed over.
 */
KITLS_API void kitls_offload_rx_data_seen(kitls_offload *o);
/** kitls_conn_key_update() of the connection: the KeyUpdate is a plaintext
 *  record of kitls_offload_out_record() when TX was handed over. */
KITLS_API KITLS_WUR int kitls_offload_key_update(kitls_offload *o, int request_peer);
/** kitls_conn_send_alert() of the connection (fatal; the record leaves as
 *  kitls_offload_out_record() describes). */
KITLS_API int kitls_offload_send_alert(kitls_offload *o, int description);
/** kitls_conn_close() of the connection: queue close_notify. */
KITLS_API KITLS_WUR int kitls_offload_close(kitls_offload *o);
/** Client: the newest session received (kitls_conn_get_session()), a new
 *  reference, or NULL. */
KITLS_API kitls_session *kitls_offload_session(kitls_offload *o);
/** Records to send under one key before a KeyUpdate
 *  (kitls_conn_key_update_limit()): the kernel does not count. */
KITLS_API uint64_t kitls_offload_key_update_limit(const kitls_offload *o);
/** Largest plaintext per record the peer accepts
 *  (kitls_conn_max_send_fragment()): the kernel does not know it. */
KITLS_API size_t kitls_offload_max_send_fragment(const kitls_offload *o);

/* ------------------------------------------------------------------ */
/* Statistics (counters for monitoring, docs/metrics.md)              */
/* ------------------------------------------------------------------ */

/*
 * Every config counts what its connections do, and the process counts the
 * same events over all configs (so that counts survive a config replaced
 * at a reload).  Counters only grow (Prometheus counters): there is no
 * reset; take two snapshots and subtract.  A bump is a relaxed atomic add
 * on the config's and the process's counter, no lock: the counters are
 * exact, but a snapshot taken while connections run is not one instant
 * (each counter is read on its own).  The index enums below name the
 * array slots of struct kitls_stats.
 */

/** The local role: first index of the per-role counters. */
enum kitls_stats_role { KITLS_STATS_CLIENT = 0, KITLS_STATS_SERVER = 1 };
/** Sent or received: alerts, KeyUpdates, application bytes. */
enum kitls_stats_side { KITLS_STATS_SENT = 0, KITLS_STATS_RECEIVED = 1 };
/** The alert slot of a failure without any alert (transport closed,
 *  local error that sends none). */
#define KITLS_STATS_NO_ALERT 256
/** 0-RTT outcomes, counted by servers: every offer ends accepted or
 *  rejected; replayed offers (the anti-replay store had seen the ticket)
 *  and offers the store could not judge (it failed or timed out) are also
 *  counted as rejected. */
enum kitls_stats_early {
    KITLS_STATS_EARLY_OFFERED,
    KITLS_STATS_EARLY_ACCEPTED,
    KITLS_STATS_EARLY_REJECTED,
    KITLS_STATS_EARLY_REPLAYED,
    KITLS_STATS_EARLY_STORE_ERROR, /**< the anti-replay store answered an error */
    KITLS_STATS_EARLY_N
};
/** Why a server did not resume with a ticket the client offered. */
enum kitls_stats_ticket_refusal {
    KITLS_STATS_TICKET_EXPIRED,     /**< past its lifetime or its authentication's age */
    KITLS_STATS_TICKET_UNKNOWN_KEY, /**< no ticket key has its key id (rotated out) */
    KITLS_STATS_TICKET_INVALID,     /**< does not decrypt or parse, or a wrong binder */
    KITLS_STATS_TICKET_REPLAYED,    /**< reserved for single-use ticket stores (0 today) */
    KITLS_STATS_TICKET_POLICY,      /**< other suite hash, server name or verification policy */
    KITLS_STATS_TICKET_N
};
/** Why a direction asked for kernel TLS stayed in userspace (ktls/). */
enum kitls_stats_ktls_fallback {
    KITLS_STATS_KTLS_NO_MODULE,         /**< the kernel has no tls module */
    KITLS_STATS_KTLS_CIPHER,            /**< the kernel refused the suite */
    KITLS_STATS_KTLS_REKEY_UNSUPPORTED, /**< no TLS 1.3 rekey and the policy requires it */
    KITLS_STATS_KTLS_DISABLED,          /**< a run-time policy switch turned offload off */
    KITLS_STATS_KTLS_ERROR,             /**< any other refusal or failure */
    KITLS_STATS_KTLS_N
};
/** Why the peer's certificate chain was refused. */
enum kitls_stats_cert_failure {
    KITLS_STATS_CERT_EXPIRED,
    KITLS_STATS_CERT_NOT_YET_VALID,
    KITLS_STATS_CERT_UNTRUSTED, /**< no path to a trust anchor */
    KITLS_STATS_CERT_HOSTNAME,  /**< name or IP address mismatch, or no name to check */
    KITLS_STATS_CERT_REVOKED,   /**< revoked (OCSP) */
    KITLS_STATS_CERT_OCSP, /**< OCSP required or invalid (kitls_stats.ocsp_failures says why) */
    KITLS_STATS_CERT_SIGNATURE, /**< CertificateVerify signature does not verify */
    KITLS_STATS_CERT_OTHER,     /**< usage, parse errors, the application's callback */
    KITLS_STATS_CERT_N
};
/** Why a stapled OCSP response (or its absence) failed the check. */
enum kitls_stats_ocsp_failure {
    KITLS_STATS_OCSP_MISSING,       /**< required (policy or must-staple) and not stapled */
    KITLS_STATS_OCSP_MALFORMED,     /**< does not parse, not successful, no basic response */
    KITLS_STATS_OCSP_UNTRUSTED,     /**< signature or responder not trusted */
    KITLS_STATS_OCSP_MISMATCH,      /**< does not cover the certificate */
    KITLS_STATS_OCSP_NOT_YET_VALID, /**< thisUpdate in the future */
    KITLS_STATS_OCSP_EXPIRED,       /**< nextUpdate passed */
    KITLS_STATS_OCSP_REVOKED,       /**< status revoked */
    KITLS_STATS_OCSP_UNKNOWN,       /**< status unknown */
    KITLS_STATS_OCSP_N
};

/** A snapshot of the counters (all uint64_t, only growing). */
struct kitls_stats {
    /** Completed handshakes: [enum kitls_stats_role][0 full, 1 resumed]. */
    uint64_t handshakes[2][2];
    /** Connections that failed before the handshake completed (a client
     *  completes when it sends its Finished): [role][enum kitls_stats_side:
     *  the alert was sent or received][alert description, or
     *  KITLS_STATS_NO_ALERT]. */
    uint64_t handshake_failures[2][2][KITLS_STATS_NO_ALERT + 1];
    /** HelloRetryRequests: [role] (server: sent, client: received). */
    uint64_t hello_retry_requests[2];
    uint64_t early_data[KITLS_STATS_EARLY_N]; /**< servers only */
    uint64_t tickets_issued;                  /**< NewSessionTickets sent */
    uint64_t tickets_accepted;                /**< server: resumed with a ticket */
    uint64_t tickets_refused[KITLS_STATS_TICKET_N];
    uint64_t key_updates[2];   /**< [enum kitls_stats_side] */
    uint64_t ktls_offloads[2]; /**< directions handed to the kernel: [enum kitls_dir] */
    uint64_t ktls_fallbacks[KITLS_STATS_KTLS_N];
    uint64_t ktls_rekeys; /**< kernel keys replaced after a KeyUpdate */
    /** Application data: [enum kitls_stats_side].  What goes through the
     *  core is added up in the connection (received: as records are
     *  opened; sent: per kitls_conn_write) and counted here at the
     *  connection's first write, then each time more than 64 KiB more
     *  were sent, and when it is freed (a connection that only receives
     *  shows its bytes when freed or when it writes); what the kernel
     *  carries (kTLS), at once. */
    uint64_t bytes[2];
    uint64_t cert_verify_failures[KITLS_STATS_CERT_N];
    uint64_t ocsp_failures[KITLS_STATS_OCSP_N];
};

/** Copy the counters of cfg (its connections' events since it was made)
 *  into *out.  KITLS_E_INVALID_ARG if either is NULL.  Thread-safe. */
KITLS_API int kitls_config_stats(const kitls_config *cfg, struct kitls_stats *out);
/** Copy the process-wide counters (every config's events, freed configs
 *  included) into *out (not NULL).  Thread-safe. */
KITLS_API void kitls_stats_process(struct kitls_stats *out);

/** Events the layers above the core count for a connection
 *  (kitls_conn_stats_add()): the core cannot see them. */
enum kitls_stats_event {
    KITLS_STATS_EV_KTLS_OFFLOAD,  /**< arg: enum kitls_dir handed to the kernel */
    KITLS_STATS_EV_KTLS_FALLBACK, /**< arg: enum kitls_stats_ktls_fallback */
    KITLS_STATS_EV_KTLS_REKEY,    /**< arg: 0 */
    KITLS_STATS_EV_BYTES,         /**< arg: enum kitls_stats_side (data the kernel carried) */
};
/** Add n to the counter of event ev (slot arg) of c's config and of the
 *  process: for the kTLS library and for I/O that bypasses
 *  kitls_conn_read()/kitls_conn_write() (which count their own bytes).
 *  KITLS_E_INVALID_ARG for a NULL c or an ev or arg out of range (nothing
 *  is counted).  Thread-safe, lock-free. */
KITLS_API int kitls_conn_stats_add(kitls_conn *c, enum kitls_stats_event ev, unsigned arg,
                                   uint64_t n);

/**
 * Write s in the Prometheus text exposition format (version 0.0.4): a
 * HELP and a TYPE line per metric, then its samples, label values escaped
 * (backslash, double quote, newline); metric names are those of
 * docs/metrics.md (kitls_handshakes_total, ...).  Failures by alert list
 * only the alerts seen; every other labelled series is always present.
 * Like snprintf(): writes at most cap bytes, NUL included (cap > 0), and
 * returns the length of the whole text (truncated if >= cap).
 * KITLS_E_INVALID_ARG if s is NULL or buf is NULL with cap > 0.
 */
KITLS_API int kitls_stats_prometheus(const struct kitls_stats *s, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
