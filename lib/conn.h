/* The connection object and the record-layer plumbing shared by the handshake.
 * struct kitls_conn holds what conn.c owns (bytes in and out, the record
 * directions, the sticky error and close flags) and embeds each module's
 * own state, declared in that module's header, which names the files
 * that write it: ext (ext.h), res (session.h), ocsp (ocsp.h), peer
 * (x509.h) and early (early.h, 0-RTT).  Other modules read that state or
 * call its owner (docs/architecture.md, "Who owns which state"). */
#ifndef KITLS_CONN_H
#define KITLS_CONN_H

#include <string.h>

#include "internal.h"
#include "ext.h"
#include "ocsp.h"
#include "offload.h"
#include "session.h"
#include "x509.h"
#include "early.h"
#include "stats.h"

#define KITLS_MAX_SHARES 3

/* State only the handshake needs: allocated with the connection, wiped and
 * freed once it is established, so that an idle (or offloaded) connection
 * keeps no handshake secrets and little memory. */
struct kitls_hs_tmp {
    struct kitls_hash th_hash;                          /* c->th's hash state (c->th.store) */
    uint8_t c_hs[KITLS_MAX_HASH], s_hs[KITLS_MAX_HASH]; /* handshake traffic secrets */
    /* Their Finished keys, derived with the record keys (hs.c); fin_ok
     * bit 0: c_fk, bit 1: s_fk. */
    uint8_t c_fk[KITLS_MAX_HASH], s_fk[KITLS_MAX_HASH];
    unsigned fin_ok;
    uint8_t c_ap[KITLS_MAX_HASH], s_ap[KITLS_MAX_HASH]; /* first app traffic secrets */
    uint8_t fin_th[KITLS_MAX_HASH];                     /* transcript hash up to server Finished */
    uint8_t c_e[KITLS_MAX_HASH];                        /* client_early_traffic_secret */
    /* Derive-Secret(PSK's Early Secret, "derived", ""), from the binder
     * computation (session.c), for the handshake secret (hs.c). */
    uint8_t psk_derived[KITLS_MAX_HASH];
    size_t psk_derived_len; /* 0: not computed */
    /* Server: bytes of the current ClientHello already in the transcript
     * (the part its binder covers, session.c). */
    size_t ch_hashed;
    EVP_PKEY *kex[KITLS_MAX_SHARES];
    EVP_PKEY *kem[KITLS_MAX_SHARES]; /* hybrid group's ML-KEM key (kem.c), else NULL */
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
    /* out.buf[0..out_dirty) may hold plaintext a spare brought (conn_buf.c;
     * at most one record buffer, here to fill the padding before user). */
    uint32_t out_dirty;
    void *user;

    /* Received bytes: [in_start, in_len) is unprocessed; decrypted
     * application data waits at [app_off, app_off + app_len). */
    uint8_t *in;
    size_t in_start, in_len, in_cap;
    size_t app_off, app_len;
    size_t in_dirty; /* in[0..in_dirty) may hold plaintext decrypted in place */
    /* kitls_conn_read()'s buffer while it runs: a record whose content
     * fits is decrypted straight into it, rd_got bytes. */
    uint8_t *rd_buf;
    size_t rd_len, rd_got;
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

    /* Per-module state: each struct is declared in its module's header and
     * written by that module only (see there). */
    struct kitls_ext_state ext;     /* ext.h: extensions negotiated */
    struct kitls_resume_state res;  /* session.h: PSK resumption */
    struct kitls_ocsp_state ocsp;   /* ocsp.h: stapling and SCTs */
    struct kitls_peer_state peer;   /* x509.h: who the peer proved to be */
    struct kitls_early_state early; /* early.h: 0-RTT */

    const struct kitls_suite *suite;
    const struct kitls_group *group;
    uint16_t sigalg, peer_sigalg;
    int did_hrr;
    int ccs_sent;
    uint32_t ccs_seen, empty_seen, ku_seen;
    uint8_t ku_answered; /* answered a KeyUpdate request, no data sent since */
    uint32_t warn_seen;  /* consecutive user_canceled warnings */
    uint16_t hrr_group;  /* server: group requested in HRR */

    const struct kitls_cert *cert; /* ours, selected */
    int cert_requested;            /* we asked for / were asked for a certificate */
    uint8_t *cr_ctx;
    size_t cr_ctx_len;
    const uint8_t *msg; /* raw handshake message being handled (header included) */
    size_t msg_len;
    char *verify_detail; /* why verification failed, NULL if it did not */

    /* offload: the rows of rx/tx say who protects records; this is the
     * object handed to the caller (offload.c), NULL until asked for */
    struct kitls_offload *offload;

    uint8_t exp_master[KITLS_MAX_HASH]; /* exporter_master_secret */
    size_t max_send;                    /* application cap per record, 0 = none */
    uint64_t stat_bytes[2];             /* application bytes not yet in kitls_stats */
    int32_t stat_budget;                /* bytes until they go (kitls_stats_bytes) */
};

/* kitls_stats: application bytes add up in the connection first -- one
 * add per record opened (process_record) and per write -- and reach its
 * config and the process (two atomic adds) from the write path once
 * KITLS_STATS_BYTES_BATCH bytes were sent since the last time, and when
 * the connection is freed (docs/metrics.md). */
#define KITLS_STATS_BYTES_BATCH 65536
/* A whole write (len > 0). */
static inline void kitls_stats_sent(kitls_conn *c, size_t len)
{
    c->stat_bytes[KITLS_STATS_SENT] += len;
    if (__builtin_expect((c->stat_budget -= (int32_t)len) < 0, 0))
        kitls_stats_bytes_flush(c);
}

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

/* conn_buf.c: record buffers */
/** Make room for need more bytes of output (exactly need when empty). */
int kitls_conn_out_room(kitls_conn *c, size_t need);
/** All output was taken: reset it, and free it once established. */
void kitls_conn_out_taken(kitls_conn *c);
/** Free the input buffer, wiping what may hold plaintext. */
void kitls_conn_in_drop(kitls_conn *c);
/** Once established, free the buffers that hold nothing. */
void kitls_conn_settle(kitls_conn *c);

/* conn.c */
/** kitls_conn_process_plain()'s `at` for data decrypted into the reader's buffer. */
#define KITLS_AT_READER SIZE_MAX
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
    return c->ext.alpn ? c->ext.alpn : "";
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

#endif
