/*
 * Private header of kitls-shim, the BoGo test shim: the configuration of
 * one connection as the runner's flags set it, and the functions and state
 * that its files share:
 *  - shim.c: errors, the transport, the connection loop and main();
 *  - shim_flags.c: the flag table and ParseConfig (-on-initial- etc.);
 *  - shim_config.c: the kitls_config of one connection;
 *  - shim_check.c: the verify callback and the checks of a finished
 *    handshake (CheckHandshakeProperties).
 */
#ifndef KITLS_BOGO_SHIM_H
#define KITLS_BOGO_SHIM_H

#include <kitls/kitls.h>

#include <stddef.h>
#include <stdint.h>

#define MAX_LIST 32

struct shim_config {
    int port;
    int have_shim_id;
    uint64_t shim_id;
    int ipv6_only;
    int server;
    const char *key_file, *cert_file;
    int shim_writes_first;
    int shim_shuts_down;
    int check_close_notify;
    int expect_hrr, expect_no_hrr;
    uint16_t curves[MAX_LIST];
    size_t n_curves;
    int curves_dropped;
    uint16_t expect_curve;
    uint16_t sign_prefs[MAX_LIST];
    size_t n_sign_prefs;
    int sign_dropped;
    uint16_t verify_prefs[MAX_LIST];
    size_t n_verify_prefs;
    uint16_t expect_peer_sigalg;
    const char *host_name;
    const char *expect_server_name;
    const char *advertise_alpn; /* wire format: len-prefixed strings */
    const char *select_alpn;
    const char *expect_alpn;
    int expect_no_alpn;
    int expect_version;
    int min_version, max_version;
    int verify_peer;                   /* -verify-peer */
    int require_any_client_cert;       /* -require-any-client-certificate */
    int send_alert;                    /* -send-alert */
    uint16_t expect_cipher_aes;        /* -expect-cipher-aes */
    int no_op_extra_handshake;         /* -no-op-extra-handshake */
    long read_size;                    /* -read-size */
    long max_cert_list;                /* -max-cert-list */
    const char *expect_peer_cert_file; /* -expect-peer-cert-file */
    int reject_alpn, decline_alpn;
    /* resumption, 0-RTT, KeyUpdate (set per connection through the
     * -on-initial-/-on-resume-/-on-retry- prefixes, test_config.cc) */
    int resume_count;             /* -resume-count */
    int expect_session_miss;      /* -expect-session-miss */
    long resumption_delay;        /* -resumption-delay: advance the clock after */
    int enable_early_data;        /* -enable-early-data */
    int expect_accept_early_data; /* -expect-accept-early-data */
    int expect_reject_early_data; /* -expect-reject-early-data */
    int expect_ticket_supports_early_data;
    int expect_no_offer_early_data;
    const char *expect_early_data_reason;
    int key_update;         /* -key-update: KeyUpdate after each read */
    int no_ticket;          /* -no-ticket: server sends no tickets */
    int expect_no_session;  /* -expect-no-session */
    uint16_t expect_cipher; /* -expect-cipher */
    int read_with_unfinished_write;
    long export_keying_material;       /* -export-keying-material (with -export-label, ...) */
    long export_early_keying_material; /* -export-early-keying-material */
    const char *export_label, *export_context; /* -export-label, -export-context */
    int use_export_context;                    /* -use-export-context */
    long max_send_fragment;                    /* -max-send-fragment */
    long early_write_after;                    /* -early-write-after-message (handshake type) */
    int enable_ocsp_stapling;                  /* -enable-ocsp-stapling */
    const char *ocsp_response;                 /* -ocsp-response (base64) */
    const char *expect_ocsp_response;          /* -expect-ocsp-response (base64) */
    const char *signed_cert_timestamps;        /* -signed-cert-timestamps (base64) */
    const char *expect_sct;                    /* -expect-signed-cert-timestamps (base64) */
    int enable_sct;                            /* -enable-signed-cert-timestamps */
    int enable_grease;                         /* -enable-grease */
    const char *use_client_ca_list;     /* -use-client-ca-list (hex DER names, <EMPTY>, <NULL>) */
    const char *expect_client_ca_list;  /* -expect-client-ca-list */
    const char *expect_advertised_alpn; /* -expect-advertised-alpn (wire format) */
    uint16_t expect_peer_verify_prefs[MAX_LIST]; /* -expect-peer-verify-pref */
    size_t n_expect_peer_verify_prefs;
};

/* ---- shim.c ---- */

/* Print the message and exit 1 (a test failure). */
void shim_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Exit 89: the runner's "unimplemented" (logged to KITLS_SHIM_UNIMPL_LOG). */
void shim_unimplemented(const char *flag) __attribute__((noreturn));
/* Stable names for error codes: these are what ErrorMap maps to. */
const char *shim_err_name(int e);
/* The client's new-session callback (tickets of the current connection). */
void shim_session_cb(void *ctx, kitls_conn *c, kitls_session *s);

/* ---- shim_flags.c ---- */

/* ParseConfig of test_config.cc: fill the three connections' configs. */
void shim_parse_flags(int argc, char **argv, struct shim_config *initial,
                      struct shim_config *resume, struct shim_config *retry);

/* ---- shim_config.c ---- */

/* The shim's clock (seconds), advanced only by -resumption-delay. */
extern int64_t shim_clock;
/* The ticket key every server config shares (set by main()). */
extern struct kitls_ticket_key shim_ticket_key;
/* Base64 flag value: a malloc'd buffer (never NULL), its length in *n. */
uint8_t *shim_b64_decode(const char *flag, const char *v, size_t *n);
/* Comma-separated hex DER names in certificate_authorities wire format. */
uint8_t *shim_hex_names_wire(const char *hex, size_t *n);
/* The kitls_config of one connection. */
kitls_config *shim_make_config(const struct shim_config *cfg);

/* ---- shim_check.c ---- */

/* The verify callback (accepts the runner's chain, keeps it). */
int shim_verify(void *ctx, kitls_conn *c, const uint8_t *const *der, const size_t *len, size_t n,
                int result);
/* CheckHandshakeProperties of bssl_shim.cc, for what kitls exposes. */
void shim_check_handshake(kitls_conn *c, const struct shim_config *cfg, int is_resume, int offered);

#endif
