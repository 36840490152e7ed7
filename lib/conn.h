/* The connection object and the record-layer plumbing shared by the handshake. */
#ifndef KITLS_CONN_H
#define KITLS_CONN_H

#include <string.h>

#include "internal.h"

#define KITLS_MAX_SHARES 3

/* State only the handshake needs: allocated with the connection, wiped and
 * freed once it is established, so that an idle (or offloaded) connection
 * keeps no handshake secrets and little memory. */
struct kitls_hs_tmp {
    uint8_t c_hs[KITLS_MAX_HASH], s_hs[KITLS_MAX_HASH]; /* handshake traffic secrets */
    uint8_t c_ap[KITLS_MAX_HASH], s_ap[KITLS_MAX_HASH]; /* first app traffic secrets */
    uint8_t fin_th[KITLS_MAX_HASH];                     /* transcript hash up to server Finished */
    uint8_t c_e[KITLS_MAX_HASH];                        /* client_early_traffic_secret */
    EVP_PKEY *kex[KITLS_MAX_SHARES];
    uint16_t kex_group[KITLS_MAX_SHARES];
    size_t n_kex;
    uint8_t random[32];
    uint8_t session_id[32];
    size_t session_id_len;
    uint8_t grease[8]; /* client: RFC 8701 seeds, see hs_client.c grease() */
};

struct kitls_conn {
    kitls_config *cfg;
    int server;
    int state; /* handshake state, see hs.h */
    int error; /* first fatal error, sticky */
    int peer_alert;
    int alert_sent;
    int established;
    int read_closed;  /* close_notify received */
    int write_closed; /* close_notify sent */
    int eof;          /* transport ended (kitls_conn_set_eof) */
    void *user;

    /* Received bytes: [in_start, in_len) is unprocessed; decrypted
     * application data waits at [app_off, app_off + app_len). */
    uint8_t *in;
    size_t in_start, in_len, in_cap;
    size_t app_off, app_len;
    /* Pending output: [out_off, out.len) not yet taken by the caller. */
    struct wr out;
    size_t out_off;
    /* Handshake reassembly (plaintext handshake bytes) and queued outgoing
     * handshake messages for the current epoch. */
    struct wr hs_in;
    size_t hs_off;
    struct wr hs_out;

    struct kitls_rec_dir rx, tx;
    struct kitls_keysched ks;
    struct kitls_transcript th;
    struct kitls_hs_tmp *hs; /* handshake-only state, freed when established */

    const struct kitls_suite *suite;
    const struct kitls_group *group;
    uint16_t sigalg, peer_sigalg;
    uint8_t *cookie;
    size_t cookie_len;
    int did_hrr;
    int ccs_sent;
    uint32_t ccs_seen, empty_seen, ku_seen;
    uint8_t ku_answered;     /* answered a KeyUpdate request, no data sent since */
    uint8_t ticket_modes_ok; /* server: the client's psk_key_exchange_modes fit our tickets */
    uint8_t hrr_psk_kept;    /* server: ClientHello1 offered a PSK that ClientHello2 must keep */
    uint32_t warn_seen;      /* consecutive user_canceled warnings */
    uint16_t hrr_group;      /* server: group requested in HRR */

    char *sni; /* client: name to send/verify; server: received */
    int sni_is_ip;
    int sni_acked;
    char *alpn;        /* negotiated protocol (NUL-terminated), NULL if none */
    uint32_t offered;  /* client: bitmask of extensions sent (ext_bit()) */
    uint16_t peer_rsl; /* peer's record_size_limit, 0 if none */
    uint16_t peer_sigalgs[32];
    size_t n_peer_sigalgs;

    const struct kitls_cert *cert; /* ours, selected */
    int cert_requested;            /* we asked for / were asked for a certificate */
    uint8_t *cr_ctx;
    size_t cr_ctx_len;
    X509 *peer_leaf;
    struct kitls_der *peer_cert; /* peer's leaf (verified, or restored from the session) */
    const uint8_t *msg;          /* raw handshake message being handled (header included) */
    size_t msg_len;
    EVP_PKEY *peer_key;
    int peer_authenticated;
    int64_t auth_time;      /* when the peer was authenticated (struct kitls_session) */
    int64_t peer_not_after; /* earliest notAfter of its chain, INT64_MAX: none */
    char *verify_detail;    /* why verification failed, NULL if it did not */

    /* resumption */
    kitls_session *session;     /* client: offered; server: from the ticket */
    kitls_session *new_session; /* client: newest ticket received */
    int psk_offered;            /* client: pre_shared_key is in our ClientHello */
    int resumed;
    int psk_dhe; /* psk_dhe_ke (1) or psk_ke (0) */
    uint8_t res_master[KITLS_MAX_HASH];
    uint64_t ticket_nonce;
    uint32_t client_age_ms; /* server: ticket age the client claims */

    /* 0-RTT */
    int early_status;    /* enum kitls_early_status */
    int early_offered;   /* server: ClientHello carried early_data */
    int app_early;       /* the pending app data is early data */
    struct wr early_out; /* client: queued early data */
    int early_want;      /* client: offer 0-RTT (write_early_data was called) */
    uint64_t early_seq;  /* client: next early record number */
    uint32_t early_in;   /* server: early bytes received */
    uint32_t skip_early; /* server: rejected early bytes still skippable */

    /* offload: the rows of rx/tx say who protects records; this is the
     * object handed to the caller (offload.c), NULL until asked for */
    struct kitls_offload *offload;

    /* OCSP */
    int status_requested;  /* server: client sent status_request */
    const uint8_t *staple; /* client: leaf's stapled response, during Certificate */
    size_t staple_len;
    int ocsp_status;
    int sct_requested;  /* server: client sent signed_certificate_timestamp */
    uint8_t *ocsp_resp; /* client: raw staple kept for the application */
    size_t ocsp_resp_len;
    uint8_t *sct_list; /* client: raw SCT list */
    size_t sct_list_len;
    uint8_t exp_master[KITLS_MAX_HASH]; /* exporter_master_secret */
    uint8_t early_exp[KITLS_MAX_HASH];  /* early_exporter_master_secret */
    int has_early_exp;
    size_t max_send;    /* application cap per record, 0 = none */
    uint8_t *peer_alpn; /* server: client's ALPN list (wire) */
    size_t peer_alpn_len;
    uint8_t *peer_cas; /* client: CertificateRequest CA names (wire) */
    size_t peer_cas_len;
};

/** 1 if a server name is an IP address literal (verified against the IP
 *  SAN, never sent as SNI: RFC 6066 §3). */
static inline int kitls_name_is_ip(const char *name)
{
    return strchr(name, ':') != NULL || strspn(name, "0123456789.") == strlen(name);
}

/** Host names compare equal ignoring ASCII case only (RFC 4343), whatever
 *  the process locale: strcasecmp() may fold bytes >= 0x80 by the locale. */
static inline int kitls_name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return 0;
        if (!x)
            return 1;
    }
}

/* config.c */
/** Freeze the config (first connection; thread-safe): the system trust
 *  store for a verifying client without anchors, then cfg->sess_ctx. */
int kitls_config_freeze(kitls_config *cfg);

/* conn.c */
/** Copy up to len bytes of the pending application data to buf. */
int kitls_conn_take_app(kitls_conn *c, uint8_t *buf, size_t len);
int kitls_conn_keep(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t n);
int kitls_conn_process_plain(kitls_conn *c, uint8_t type, const uint8_t *p, size_t len, size_t at);
int kitls_conn_fail(kitls_conn *c, int err);
/** Set the negotiated ALPN protocol (n in 1..255). */
int kitls_conn_set_alpn_name(kitls_conn *c, const uint8_t *p, size_t n);
/** The negotiated ALPN protocol, "" if none. */
static inline const char *conn_alpn(const kitls_conn *c)
{
    return c->alpn ? c->alpn : "";
}
/** Record why peer verification failed (kitls_conn_verify_detail()). */
void kitls_conn_set_detail(kitls_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Queue a handshake message (header included) for the current epoch. */
int kitls_conn_hs_queue(kitls_conn *c, const uint8_t *msg, size_t len);
/** Seal queued handshake messages into records with the current tx keys. */
int kitls_conn_hs_flush(kitls_conn *c);
int kitls_conn_send_record(kitls_conn *c, uint8_t type, const uint8_t *p, size_t len);
int kitls_conn_send_ccs(kitls_conn *c);
size_t kitls_conn_max_fragment(const kitls_conn *c);

/* session.c */
/** Client: append psk_key_exchange_modes and pre_shared_key (last) with a
 *  zero binder; *binder_at is the binder's offset in w. */
void kitls_psk_client_write_modes(kitls_conn *c, struct wr *w);
/** exts_at: offset of the extensions block's length prefix in w; a PSK
 *  that would not fit in the block is not offered. */
int kitls_psk_client_write(kitls_conn *c, struct wr *w, size_t exts_at, size_t *binder_at);
/** Client: fill in the binder over the ClientHello at w->buf[msg_at..]. */
int kitls_psk_client_binder(kitls_conn *c, struct wr *w, size_t msg_at, size_t binder_at);
/** Client: the server's pre_shared_key extension in ServerHello. */
int kitls_psk_client_accept(kitls_conn *c, struct rd data);
/** Server: consider the ClientHello's PSK; sets c->resumed on success. */
int kitls_psk_server_check(kitls_conn *c, struct rd psk_ext, struct rd *modes);
/** Server: the suite of the first offered ticket, 0 if none can be opened. */
uint16_t kitls_psk_server_ticket_suite(kitls_conn *c, struct rd psk_ext);
/** Server: send one NewSessionTicket. */
int kitls_ticket_send(kitls_conn *c);
/** The resumption master secret after the client's Finished. */
int kitls_session_derive_res_master(kitls_conn *c);
/** Resumed: take the peer's certificate, verdict and its age from c->session. */
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

/* early.c */
/** client_early_traffic_secret from the session PSK and the ClientHello hash. */
int kitls_early_derive(kitls_conn *c, const struct kitls_suite *suite, const uint8_t *ch_hash);
/** Client: after the first ClientHello, send CCS and the queued early data. */
int kitls_early_client_send(kitls_conn *c);
/** Server: decide whether to accept the offered early data. */
int kitls_early_server_decide(kitls_conn *c);
void kitls_early_store_free(struct kitls_replay_store *st);

/* offload.c */
/** Free the connection's offload object (NULL allowed). */
void kitls_offload_free(struct kitls_offload *o);

/* ocsp.c */
/** Client: check the stapled response (c->staple) for leaf/issuer. */
int kitls_ocsp_check(kitls_conn *c, X509 *leaf, STACK_OF(X509) * verified_chain);
/** 1 if list is a well-formed SignedCertificateTimestampList (RFC 6962
 *  §3.3: a non-empty list of non-empty SerializedSCTs), else 0. */
int kitls_sct_list_valid(const uint8_t *list, size_t len);
/** Server: a copy of the SCT list for cert if the client asked (0/1). */
int kitls_sct_get(kitls_conn *c, const struct kitls_cert *cert, uint8_t **list, size_t *len);
/** Server: a copy of the staple for cert, if it may be sent now (0/1). */
int kitls_ocsp_staple_get(kitls_conn *c, const struct kitls_cert *cert, uint8_t **der, size_t *len);

/* x509.c */
struct kitls_cert_cache *kitls_cert_cache_new(void);
void kitls_cert_cache_free(struct kitls_cert_cache *cc);
/** Verify a peer chain (DER list, leaf first); sets c->peer_leaf/peer_key. */
int kitls_x509_verify_chain(kitls_conn *c, const uint8_t *const *der, const size_t *len, size_t n);

#endif
