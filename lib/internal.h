/* Internal types shared by the modules of lib/. Not installed. */
#ifndef KITLS_INTERNAL_H
#define KITLS_INTERNAL_H

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>

#include "codec.h"
#include "kitls/kitls.h"

#define GUARD(x)                                                                                   \
    do {                                                                                           \
        int guard_err_ = (x);                                                                      \
        if (guard_err_ < 0)                                                                        \
            return guard_err_;                                                                     \
    } while (0)

#define KITLS_MAX_HASH 48
#define KITLS_MAX_KEY 32
#define KITLS_IV_LEN 12
#define KITLS_TAG_LEN 16
#define KITLS_MAX_PLAINTEXT 16384
#define KITLS_MAX_CIPHERTEXT (16384 + 256)
#define KITLS_REC_HDR 5

/* Content types (RFC 8446 §5.1). */
enum { CT_CCS = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23 };

/* Handshake message types (RFC 8446 §4). */
enum {
    HS_CLIENT_HELLO = 1,
    HS_SERVER_HELLO = 2,
    HS_NEW_SESSION_TICKET = 4,
    HS_END_OF_EARLY_DATA = 5,
    HS_ENCRYPTED_EXTENSIONS = 8,
    HS_CERTIFICATE = 11,
    HS_CERTIFICATE_REQUEST = 13,
    HS_CERTIFICATE_VERIFY = 15,
    HS_FINISHED = 20,
    HS_KEY_UPDATE = 24,
    HS_MESSAGE_HASH = 254,
};

/* Alert descriptions (RFC 8446 §6). */
enum {
    AL_CLOSE_NOTIFY = 0,
    AL_UNEXPECTED_MESSAGE = 10,
    AL_BAD_RECORD_MAC = 20,
    AL_RECORD_OVERFLOW = 22,
    AL_HANDSHAKE_FAILURE = 40,
    AL_BAD_CERTIFICATE = 42,
    AL_UNSUPPORTED_CERTIFICATE = 43,
    AL_CERTIFICATE_REVOKED = 44,
    AL_CERTIFICATE_EXPIRED = 45,
    AL_CERTIFICATE_UNKNOWN = 46,
    AL_ILLEGAL_PARAMETER = 47,
    AL_UNKNOWN_CA = 48,
    AL_ACCESS_DENIED = 49,
    AL_DECODE_ERROR = 50,
    AL_DECRYPT_ERROR = 51,
    AL_PROTOCOL_VERSION = 70,
    AL_INSUFFICIENT_SECURITY = 71,
    AL_INTERNAL_ERROR = 80,
    AL_INAPPROPRIATE_FALLBACK = 86,
    AL_USER_CANCELED = 90,
    AL_MISSING_EXTENSION = 109,
    AL_UNSUPPORTED_EXTENSION = 110,
    AL_UNRECOGNIZED_NAME = 112,
    AL_BAD_CERTIFICATE_STATUS_RESPONSE = 113,
    AL_UNKNOWN_PSK_IDENTITY = 115,
    AL_CERTIFICATE_REQUIRED = 116,
    AL_NO_APPLICATION_PROTOCOL = 120,
};

/* ---- algorithm tables (alg.c) ---- */

struct kitls_suite {
    uint16_t id;
    const char *name;
    const char *cipher_name; /* libcrypto name */
    const char *md_name;
    uint8_t key_len;
    uint8_t hash_len;
    const EVP_CIPHER *cipher; /* fetched once */
    const EVP_MD *md;
};

struct kitls_group {
    uint16_t id;
    const char *name;
    const char *ossl_name; /* "X25519" or the EC curve name */
    uint16_t share_len;    /* client share (a hybrid's is longer than the server's) */
    int is_ec;
    uint16_t hybrid_ec; /* hybrid ML-KEM group: its ECDH group (kem.c); 0 otherwise */
};

struct kitls_sigalg {
    uint16_t id;
    const char *name;
    /* libcrypto key type the scheme signs with (EVP_PKEY_is_a): "EC",
     * "ED25519", "RSA" (rsaEncryption SPKI) or "RSA-PSS" (id-RSASSA-PSS
     * SPKI); RFC 8446 §4.2.3 ties rsa_pss_rsae_* and rsa_pss_pss_* to one
     * key type each. */
    const char *key_type;
    const char *curve; /* EC group name or NULL */
    const char *md_name;
    int pss;
    int cert_only;    /* may appear in chains, never in CertificateVerify */
    int min_bits;     /* smallest key accepted (RSA: 2048), 0: any */
    const EVP_MD *md; /* fetched once; NULL for Ed25519 */
};

int kitls_alg_init(void);
const struct kitls_suite *kitls_suite_find(uint16_t id);
const struct kitls_group *kitls_group_find(uint16_t id);
const struct kitls_sigalg *kitls_sigalg_find(uint16_t id);
/** The i-th row of the scheme table, NULL past its end. */
const struct kitls_sigalg *kitls_sigalg_at(size_t i);
extern const uint16_t kitls_default_suites[3];
extern const uint16_t kitls_default_groups[3];
extern const uint16_t kitls_default_sigalgs[12];
extern const size_t kitls_n_default_sigalgs;

/* ---- hashing and the key schedule (keysched.c) ---- */

/*
 * A running SHA-256 or SHA-384, the hashes of every TLS 1.3 suite, held
 * in place: libcrypto 3.0 allocates provider state at each EVP digest
 * init and copy (about 120 allocations per handshake pair), this holds
 * none and a copy is a struct copy.
 */
struct kitls_hash {
    size_t len; /* 32, 48 (or 64: SHA-512, CertificateVerify only) */
    union {
        SHA256_CTX s256;
        SHA512_CTX s512;
    } u;
};
/** Start a hash of md (SHA-256, -384, -512); KITLS_E_INTERNAL for others. */
int kitls_hash_init(struct kitls_hash *h, const EVP_MD *md);
void kitls_hash_update(struct kitls_hash *h, const void *p, size_t n);
/** Write the digest (h->len bytes) and wipe h. */
void kitls_hash_final(struct kitls_hash *h, uint8_t *out);
/** Hash of the empty string for SHA-256/-384 (a constant), else NULL. */
const uint8_t *kitls_hash_empty(const EVP_MD *md);

/** HMAC with a pre-fetched digest. */
int kitls_hmac(const EVP_MD *md, const uint8_t *key, size_t key_len, const uint8_t *msg,
               size_t msg_len, uint8_t *out);
int kitls_hkdf_extract(const EVP_MD *md, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                       size_t ikm_len, uint8_t *prk);
/** HKDF-Expand-Label (RFC 8446 §7.1); label without the "tls13 " prefix. */
int kitls_hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
                            const char *label, const uint8_t *ctx, size_t ctx_len, uint8_t *out,
                            size_t out_len);
/** HKDF-Expand-Label of one secret for n labels, empty context (a
 * traffic secret's key and IV, RFC 8446 §7.3), the secret keyed once. */
int kitls_hkdf_expand_labels(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
                             const char *const *labels, uint8_t *const *outs,
                             const size_t *out_lens, size_t n);

/** Stages of the one-way ladder (RFC 8446 §7.1). */
/* KS_HS_DERIVED: the handshake secret's traffic secrets are out and
 * secret holds Derive-Secret(handshake secret, "derived", ""). */
enum ks_stage { KS_NONE = 0, KS_EARLY, KS_HANDSHAKE, KS_HS_DERIVED, KS_MASTER };

struct kitls_keysched {
    const struct kitls_suite *suite;
    enum ks_stage stage;
    uint8_t secret[KITLS_MAX_HASH]; /* current stage's secret */
};

/** Early secret from a PSK (NULL = no PSK: zeros). */
int kitls_ks_early(struct kitls_keysched *ks, const struct kitls_suite *suite, const uint8_t *psk,
                   size_t psk_len);
/** Derive-Secret(current, label, transcript_hash). */
int kitls_ks_derive(struct kitls_keysched *ks, const char *label, const uint8_t *th, uint8_t *out);
/** Derive-Secret for n labels of the current stage, its secret keyed once. */
int kitls_ks_derive_n(struct kitls_keysched *ks, const char *const *labels, const uint8_t *th,
                      uint8_t *const *outs, size_t n);
/** Advance early -> handshake with the (EC)DHE shared secret. */
int kitls_ks_handshake(struct kitls_keysched *ks, const uint8_t *dhe, size_t dhe_len);
/** For a PSK (RFC 8446 §7.1): the binder key ("res binder") and
 * Derive-Secret(Early Secret, "derived", ""), the early secret keyed once. */
int kitls_ks_psk_secrets(const struct kitls_suite *suite, const uint8_t *psk, size_t psk_len,
                         uint8_t *binder_key, uint8_t *derived);
/** Straight to the handshake secret: Extract(derived, dhe), derived from
 * kitls_ks_psk_secrets() or NULL without a PSK (a constant); dhe NULL:
 * psk_ke, zeros. */
int kitls_ks_handshake_from(struct kitls_keysched *ks, const struct kitls_suite *suite,
                            const uint8_t *derived, const uint8_t *dhe, size_t dhe_len);
/** The handshake stage's two traffic secrets (RFC 8446 §7.1), and the
 * "derived" value the master secret is extracted with, from one keying of
 * the handshake secret, which it replaces (stage KS_HS_DERIVED). */
int kitls_ks_hs_traffic(struct kitls_keysched *ks, const uint8_t *th, uint8_t *c_hs, uint8_t *s_hs);
/** Advance handshake (or KS_HS_DERIVED) -> master. */
int kitls_ks_master(struct kitls_keysched *ks);
void kitls_ks_wipe(struct kitls_keysched *ks);
/** verify_data = HMAC(fin_key, th), fin_key already derived from the base key. */
int kitls_ks_finished_fk(const struct kitls_suite *suite, const uint8_t *fin_key, const uint8_t *th,
                         uint8_t *out);
/** verify_data = HMAC(finished_key(base), th) */
int kitls_ks_finished(const struct kitls_suite *suite, const uint8_t *base, const uint8_t *th,
                      uint8_t *out);

/** Running transcript hash; buffers messages until the suite is known. */
struct kitls_transcript {
    struct kitls_hash *h;     /* the handshake's only: freed with it */
    struct kitls_hash *store; /* the owner's storage for h (NULL: the heap's) */
    const EVP_MD *md;         /* NULL: hash not chosen yet */
    size_t hash_len;
    struct wr pending; /* before the hash is chosen */
    /* Before the hash is chosen, h may already hold spec_md's state after
     * the first spec_len bytes that pending will start with: a client's
     * binder hashes its truncated ClientHello (kitls_th_peek), and the
     * transcript continues from there when the suite's hash is the same
     * rather than hashing the ClientHello again. */
    const EVP_MD *spec_md;
    size_t spec_len;
};
int kitls_th_update(struct kitls_transcript *t, const uint8_t *p, size_t n);
int kitls_th_set_hash(struct kitls_transcript *t, const struct kitls_suite *suite);
/** Replace the transcript so far with message_hash (HRR, RFC 8446 §4.4.1). */
int kitls_th_hrr_rewrite(struct kitls_transcript *t);
int kitls_th_current(struct kitls_transcript *t, uint8_t *out);
/** Hash of the transcript so far followed by p (n bytes), the transcript
 *  unchanged; with no hash chosen yet and nothing pending, of p alone with
 *  suite's hash, keeping that state (spec_md) for the next kitls_th_update,
 *  which must then start with the same n bytes. */
int kitls_th_peek(struct kitls_transcript *t, const struct kitls_suite *suite, const uint8_t *p,
                  size_t n, uint8_t *out);
void kitls_th_free(struct kitls_transcript *t);

/* ---- record protection (record.c) ---- */

struct kitls_rec_dir;

/*
 * Who protects one direction's records: a const row per implementation,
 * chosen where keys change -- the userspace AEAD when a handshake secret
 * is installed (kitls_rec_set_secret), "offloaded" when the caller's
 * kernel takes the direction over (offload.c) -- and called, never
 * tested, everywhere else (compare the kernel's tls_sw_* / tls_device_*
 * split and BearSSL's br_sslrec_in_class / out_class).
 */
struct kitls_rec_ops {
    /** Use the key and iv just derived from d->secret (encrypt: TX). */
    int (*keys)(struct kitls_rec_dir *d, int encrypt);
    /** Frame a record (see kitls_rec_seal_from); returns its total length. */
    int (*seal)(struct kitls_rec_dir *d, uint8_t *rec, const uint8_t *src, size_t len, uint8_t type,
                size_t pad);
    /** Unframe a received record (see kitls_rec_open_to). */
    int (*open)(struct kitls_rec_dir *d, uint8_t *rec, size_t len, uint8_t *dst, size_t k,
                uint8_t *type, size_t *out_len);
    /** The keys just changed by a KeyUpdate (RFC 8446 §4.6.3); TX: our
     *  KeyUpdate record ends at byte `end` of the connection's output. */
    void (*rekeyed)(struct kitls_rec_dir *d, size_t end);
    /** What the application's data calls in this direction
     *  (kitls_conn_read / kitls_conn_write) get: 0 (they pass through
     *  the core) or KITLS_E_STATE (the data goes through the kernel). */
    int app_err;
};

/** Userspace AEAD (record.c). */
extern const struct kitls_rec_ops kitls_rec_aead;
/** Records protected by the caller (offload.c): control records are
 *  framed in plaintext with their real type, keys are kept for export. */
extern const struct kitls_rec_ops kitls_rec_offloaded;

struct kitls_rec_dir {
    const struct kitls_rec_ops *ops; /* NULL until the first keys */
    EVP_CIPHER_CTX *ctx;
    const struct kitls_suite *suite; /* NULL: plaintext */
    uint8_t secret[KITLS_MAX_HASH];
    uint8_t key[KITLS_MAX_KEY];
    uint8_t iv[KITLS_IV_LEN];
    uint64_t seq;
    /* Offloaded: a key change the caller's kernel has not been given yet.
     * TX: our KeyUpdate record, ending at byte rekey_end of the output,
     * is still queued (the kernel takes the new key once it is sent);
     * RX: the peer's KeyUpdate was processed, the new key not exported. */
    int rekey_pending;
    size_t rekey_end;
};

/* The AEAD tag out of (get) or into (set) the context through the
 * provider's parameters directly: EVP_CIPHER_CTX_ctrl() builds the same
 * one-parameter array after clearing four and switching on the control
 * (about 400 instructions per record sealed and opened, 3.5% of a 1 KiB
 * record).
 * The suites' ciphers are provider-fetched (alg.c), so the calls exist. */
static inline int kitls_aead_tag(EVP_CIPHER_CTX *ctx, int set, uint8_t *tag)
{
    OSSL_PARAM p[2] = {{OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, tag, KITLS_TAG_LEN,
                        OSSL_PARAM_UNMODIFIED},
                       OSSL_PARAM_END};
    return set ? EVP_CIPHER_CTX_set_params(ctx, p) : EVP_CIPHER_CTX_get_params(ctx, p);
}

/** Install keys derived from a traffic secret, protected in userspace
 *  (kitls_rec_aead: handshake secrets; offload comes later); resets seq. */
int kitls_rec_set_secret(struct kitls_rec_dir *d, const struct kitls_suite *suite,
                         const uint8_t *secret, int encrypt);
/** kitls_rec_set_secret, and the secret's Finished key (RFC 8446 §4.4.4,
 *  Hash.length bytes) into fin_key from the same keyed HMAC. */
int kitls_rec_set_secret_fin(struct kitls_rec_dir *d, const struct kitls_suite *suite,
                             const uint8_t *secret, int encrypt, uint8_t *fin_key);
/** Next-generation secret (KeyUpdate, RFC 8446 §7.2), for the same row. */
int kitls_rec_update(struct kitls_rec_dir *d, int encrypt);
/** Derive key and iv from d->secret for suite and hand them to the row. */
int kitls_rec_install(struct kitls_rec_dir *d, const struct kitls_suite *suite, int encrypt);
void kitls_rec_wipe(struct kitls_rec_dir *d);
/** Free a userspace row's cipher context while idle; the next record
 *  sets it up again from the kept key. */
void kitls_rec_sleep(struct kitls_rec_dir *d);
/**
 * Protect a record: `rec` has KITLS_REC_HDR bytes of room, then the
 * plaintext (len bytes) at rec+5, and room for 1 + pad + 16 more bytes.
 * Writes the header and the ciphertext in place.  Returns total length.
 */
int kitls_rec_seal(struct kitls_rec_dir *d, uint8_t *rec, size_t len, uint8_t type, size_t pad);
/** The same with the plaintext read from src (may be rec+5, or a buffer
 *  that does not overlap the record). */
int kitls_rec_seal_from(struct kitls_rec_dir *d, uint8_t *rec, const uint8_t *src, size_t len,
                        uint8_t type, size_t pad);
/**
 * Unprotect a record in place: rec points at the 5-byte header and
 * `len` bytes of ciphertext follow.  On success *type is the inner content
 * type and *out_len the plaintext length (plaintext at rec+5).
 */
int kitls_rec_open(struct kitls_rec_dir *d, uint8_t *rec, size_t len, uint8_t *type,
                   size_t *out_len);
/**
 * The same, with the first k bytes of the inner plaintext (content, type,
 * padding) decrypted into dst and the rest in place at rec+5+k.  With
 * k >= len - 17 the content is all in dst.  On failure dst[0..k) is wiped.
 */
int kitls_rec_open_to(struct kitls_rec_dir *d, uint8_t *rec, size_t len, uint8_t *dst, size_t k,
                      uint8_t *type, size_t *out_len);

/* ---- key exchange and signatures (crypto.c) ---- */

/* Free the calling thread's key-generation contexts (kitls_thread_cleanup). */
void kitls_kex_thread_free(void);
/** The calling thread's cipher context for tickets (session.c), or a new
 * one that *own then holds for the caller to free; NULL without memory. */
EVP_CIPHER_CTX *kitls_ticket_cipher_ctx(EVP_CIPHER_CTX **own);
/* The calling thread's BN_CTX for ECDSA signing (sig_ec.c), or NULL. */
BN_CTX *kitls_thread_bn_ctx(void);
/* The calling thread's ECDSA_SIG for verifying (sig_ec.c), or NULL. */
ECDSA_SIG *kitls_thread_ecdsa_sig(void);
int kitls_kex_keygen(const struct kitls_group *g, EVP_PKEY **priv, uint8_t *pub, size_t *pub_len);
/** Derive the shared secret from our key and the peer's share. */
int kitls_kex_derive(const struct kitls_group *g, EVP_PKEY *priv, const uint8_t *peer,
                     size_t peer_len, uint8_t *out, size_t *out_len);
/** CertificateVerify content (RFC 8446 §4.4.3) signed/verified. */
int kitls_sig_sign(const struct kitls_sigalg *s, EVP_PKEY *key, int server, const uint8_t *th,
                   size_t th_len, uint8_t *sig, size_t *sig_len);
int kitls_sig_verify(const struct kitls_sigalg *s, EVP_PKEY *key, int server, const uint8_t *th,
                     size_t th_len, const uint8_t *sig, size_t sig_len);
/** 1 if the key can make signatures of scheme s (type, curve, size, and
 *  for an id-RSASSA-PSS key the parameter restrictions of its SPKI). */
int kitls_sig_key_matches(const struct kitls_sigalg *s, EVP_PKEY *key);
/** kitls_sig_key_matches for a peer's key decoded from leaf: an EC key's
 *  curve read from the certificate's named-curve OID when it has one. */
int kitls_sig_peer_matches(const struct kitls_sigalg *s, EVP_PKEY *key, X509 *leaf);
/* Bit i set: kitls_sig_key_matches(kitls_sigalg_at(i), key); and the test
 * of one scheme's bit. */
uint32_t kitls_sig_key_mask(EVP_PKEY *key);
/* Can our certificate's key sign with s (its sig_ok mask)? */
struct kitls_cert;
int kitls_sig_cert_can(const struct kitls_sigalg *s, const struct kitls_cert *cert);
/** 1 if some CertificateVerify scheme we implement can use the key. */
int kitls_sig_key_usable(EVP_PKEY *key);
/** 1 if keys a and b fit the same schemes (a private key and its certificate). */
int kitls_sig_keys_agree(EVP_PKEY *a, EVP_PKEY *b);

/** kitls_sig_verify for a key seen before (the peer's leaf came from a
 *  cache): ECDSA through the key's EC_KEY copy, made at the first call. */
int kitls_sig_verify_warm(const struct kitls_sigalg *s, EVP_PKEY *key, int server,
                          const uint8_t *th, size_t th_len, const uint8_t *sig, size_t sig_len);

/* ---- ECDSA through the key's EC_KEY (sig_ec.c) ---- */

/** Make the key's EC_KEY copy now; 1 if ECDSA with it bypasses EVP. */
int kitls_sig_ec_prepare(EVP_PKEY *key);
/** ECDSA signature of the digest: 1 done, 0 not for this key (use EVP),
 *  < 0 error.  *sig_len: the buffer's size in, the signature's out. */
int kitls_sig_ec_sign(EVP_PKEY *key, const uint8_t *dgst, size_t n, uint8_t *sig, size_t *sig_len);
/** ECDSA verification of the digest: 1 valid, 0 not for this key (use
 *  EVP), KITLS_E_DECRYPT_ERROR not valid. */
int kitls_sig_ec_verify(EVP_PKEY *key, const uint8_t *dgst, size_t n, const uint8_t *sig,
                        size_t sig_len);

/* ---- configuration (config.c) ---- */

struct kitls_cert {
    uint8_t **der; /* chain, leaf first */
    size_t *der_len;
    size_t n;
    EVP_PKEY *key;
    uint32_t sig_ok; /* kitls_sig_key_mask(key), taken when the cert is added */
    X509 *leaf;
    uint8_t *ocsp; /* stapled response (under ocsp_lock) */
    size_t ocsp_len;
    int64_t ocsp_next_update;
    uint8_t *sct; /* SignedCertificateTimestampList (under ocsp_lock) */
    size_t sct_len;
};

#define KITLS_MAX_ALGS 16
#define KITLS_MAX_TICKET_KEYS 4
#define KITLS_MAX_CERTS 8
#define KITLS_VERIFY_CACHE_DEFAULT 32 /* verified chains per config (x509.c) */
#define KITLS_VERIFY_CACHE_MAX 4096

struct kitls_config {
    int refs;
    int frozen;                  /* set once (kitls_config_freeze), read with acquire */
    pthread_mutex_t freeze_lock; /* the first connections freeze it together */
    enum kitls_role role;
    uint16_t suites[KITLS_MAX_ALGS];
    size_t n_suites;
    uint16_t groups[KITLS_MAX_ALGS];
    size_t n_groups;
    size_t n_key_shares;
    int key_shares_set; /* by kitls_config_set_key_shares(), not the default */
    uint16_t sigalgs[KITLS_MAX_ALGS];
    size_t n_sigalgs;
    uint16_t sign_sigalgs[KITLS_MAX_ALGS]; /* ours to sign with; n = 0: sigalgs */
    size_t n_sign_sigalgs;
    int server_pref;
    int compat;
    int hrr_cookie;
    uint8_t cookie_key[32]; /* HMAC key for stateless-style cookies */
    struct kitls_cert certs[KITLS_MAX_CERTS];
    size_t n_certs;
    X509_STORE *store;
    int store_loaded;
    int store_system; /* the system's default paths (hash directory: not enumerable) */
    enum kitls_verify verify;
    uint8_t *alpn; /* wire format: len-prefixed names */
    size_t alpn_len;
    uint16_t record_size_limit;
    struct kitls_limits limits;
    kitls_rng_fn rng;
    void *rng_ctx;
    kitls_time_fn time;
    void *time_ctx;
    kitls_log_fn log;
    void *log_ctx;
    kitls_verify_fn verify_cb;
    void *verify_ctx;
    int verify_name; /* client: check the certificate against the server name (default 1) */
    /* resumption */
    kitls_session_fn session_cb;
    void *session_ctx;
    unsigned n_tickets;
    uint32_t ticket_lifetime;
    int psk_ke;
    int cleanse_plaintext; /* kitls_config_set_cleanse_plaintext() */
    uint64_t key_update_limit;
    pthread_rwlock_t ticket_lock; /* ticket keys may rotate while in use */
    struct kitls_ticket_key ticket_keys[KITLS_MAX_TICKET_KEYS];
    size_t n_ticket_keys;
    uint8_t *sess_tag; /* application's session context, NULL: derived */
    size_t sess_tag_len;
    uint8_t sess_ctx[32]; /* what tickets and sessions bind (kitls_session_ctx_init) */
    /* 0-RTT */
    uint32_t early_max;
    uint32_t early_window_ms;
    kitls_antireplay_fn antireplay;
    void *antireplay_ctx;
    kitls_antireplay_async_fn antireplay_async; /* wins over antireplay when set */
    void *antireplay_async_ctx;
    kitls_early_data_fn early_cb;
    void *early_ctx;
    struct kitls_replay_store *replay;   /* built-in single-use store */
    struct kitls_cert_cache *cert_cache; /* parsed peer certificates */
    kitls_cert_select_fn cert_cb;
    void *cert_ctx;
    int ocsp_policy;
    int request_sct;
    int send_ca_names;
    int grease;     /* RFC 8701 reserved values in our messages */
    int ch_padding; /* RFC 7685 ClientHello padding */
    uint32_t ocsp_skew;
    pthread_rwlock_t ocsp_lock;
    struct kitls_stats stats; /* kitls_config_stats(); bumped by stats.h's macros */
};

/* An immutable, reference-counted DER certificate: the peer's leaf,
 * shared by a connection and the sessions made from or for it. */
struct kitls_der {
    int refs;
    size_t len;
    uint8_t der[];
};

struct kitls_session {
    int refs;
    uint16_t suite;
    uint8_t psk_len;
    uint8_t psk[KITLS_MAX_HASH];
    uint8_t *ticket;
    size_t ticket_len;
    uint32_t age_add, lifetime, max_early;
    int64_t received; /* seconds since the epoch */
    char alpn[256];
    char sni[256];
    /* The peer as the original handshake authenticated it: its leaf (NULL
     * if it sent none) and the verdict (kitls_conn_peer_authenticated). */
    struct kitls_der *peer_cert;
    uint8_t peer_auth;
    /* How old that authentication is and how long it may last (RFC 8446
     * §4.6.1): when the peer's certificate was verified (or the full
     * handshake was made, without one), and the earliest notAfter of its
     * verified chain (INT64_MAX: no certificate).  Inherited by the
     * sessions and tickets of resumed connections. */
    int64_t auth_time, not_after;
    uint8_t ctx[32]; /* the making config's sess_ctx (its verification policy) */
};

int kitls_config_random(const kitls_config *cfg, uint8_t *buf, size_t len);
int64_t kitls_config_now(const kitls_config *cfg);

/* config.c */
/** Freeze the config (first connection; thread-safe): the system trust
 *  store for a verifying client without anchors, then cfg->sess_ctx. */
int kitls_config_freeze(kitls_config *cfg);

#endif
