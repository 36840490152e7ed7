/*
 * Extensions (RFC 8446 §4.2): the table of extension types this library
 * knows, one row per type, and the parsed form of an extensions block.
 * Each family of rows lives in its own file under lib/ext/; lib/ext.c
 * holds the table and the loops the handshake messages call.
 *
 * Adding an extension: its type below, its row (write / parse /
 * if_missing, and the messages it may appear in) in its family's file
 * under lib/ext/ with the extern below, and the row in ext.c's ext_known[]
 * (the parse order) and in the write order of each message that sends it.
 * The handshake handlers do not change: the "not allowed here" and
 * "unsolicited" checks (unsupported_extension / illegal_parameter) come
 * from recv_in and c->ext.offered.
 */
#ifndef KITLS_EXT_H
#define KITLS_EXT_H

#include "internal.h"

/* Extension types (RFC 8446 §4.2, RFC 8449, RFC 6066, RFC 7301, RFC 6962,
 * RFC 7685). */
enum {
    EXT_SERVER_NAME = 0,
    EXT_STATUS_REQUEST = 5,
    EXT_SUPPORTED_GROUPS = 10,
    EXT_SIGNATURE_ALGORITHMS = 13,
    EXT_ALPN = 16,
    EXT_SCT = 18,
    EXT_PADDING = 21,
    EXT_RECORD_SIZE_LIMIT = 28,
    EXT_PRE_SHARED_KEY = 41,
    EXT_EARLY_DATA = 42,
    EXT_SUPPORTED_VERSIONS = 43,
    EXT_COOKIE = 44,
    EXT_PSK_KEY_EXCHANGE_MODES = 45,
    EXT_CERTIFICATE_AUTHORITIES = 47,
    EXT_OID_FILTERS = 48,
    EXT_POST_HANDSHAKE_AUTH = 49,
    EXT_SIGNATURE_ALGORITHMS_CERT = 50,
    EXT_KEY_SHARE = 51,
};

/* Embedded in struct kitls_conn as `ext`: what the extensions negotiated.
 * Written by the extension rows (lib/ext/) and by the public setters of
 * the name and protocol (conn.c, conn_info.c); conn.c frees it. */
struct kitls_ext_state {
    char *sni; /* client: name to send/verify; server: received */
    int sni_is_ip;
    int sni_acked;
    char *alpn;        /* negotiated protocol (NUL-terminated), NULL if none */
    uint32_t offered;  /* client: bitmask of extensions sent (kitls_ext_bit()) */
    uint16_t peer_rsl; /* peer's record_size_limit, 0 if none */
    uint16_t peer_sigalgs[32];
    size_t n_peer_sigalgs;
    uint8_t *cookie; /* HelloRetryRequest cookie: ours (server) or echoed (client) */
    size_t cookie_len;
    uint8_t *peer_alpn; /* server: client's ALPN list (wire) */
    size_t peer_alpn_len;
    uint8_t *peer_cas; /* client: CertificateRequest CA names (wire) */
    size_t peer_cas_len;
};

/* The messages an extension may appear in: the "TLS 1.3" column of the
 * table in RFC 8446 §4.2 (CT: a Certificate entry). */
enum ext_msg {
    EXT_IN_CH = 1 << 0,
    EXT_IN_SH = 1 << 1,
    EXT_IN_HRR = 1 << 2,
    EXT_IN_EE = 1 << 3,
    EXT_IN_CT = 1 << 4,
    EXT_IN_CR = 1 << 5,
    EXT_IN_NST = 1 << 6,
};

#define EXT_N_KNOWN 17 /* rows in ext.c's table (kitls_ext_bit) */

struct ext_entry {
    uint16_t type;
    struct rd data;
};
/* A parsed extensions block: the known types by their kitls_ext_bit()
 * index; unknown ones only counted (no fixed limit on their number). */
struct ext_list {
    struct ext_entry e[EXT_N_KNOWN];
    uint32_t present; /* kitls_ext_bit() of each known type present */
    size_t n;         /* extensions in the block, known or not */
    size_t n_unknown; /* of which of types this library does not know */
    uint16_t last;    /* type of the last one (pre_shared_key, §4.2.11) */
};

/* What a row's write or parse sees of the message being built or read.
 * Rows report back through it what the message's handler needs (the
 * ServerHello's key share, the binder's place, a ticket's early limit). */
struct ext_ctx {
    uint8_t msg; /* one EXT_IN_* */
    /* writing */
    struct wr *w;
    size_t exts_at;              /* the block's length prefix in w */
    size_t pad_at;               /* ClientHello: where padding goes (RFC 7685) */
    size_t binder_at;            /* ClientHello: the PSK binder's offset */
    uint32_t psk_age;            /* ClientHello: obfuscated_ticket_age */
    const struct ext_list *peer; /* EncryptedExtensions: the ClientHello's */
    const uint8_t *pub;          /* ServerHello: our key share, if any */
    size_t pub_len;
    /* reading */
    size_t kex_index; /* ServerHello: the share of ours the server took */
    struct rd share;  /* ServerHello: the server's share */
    uint8_t have_share;
    uint8_t strict;     /* a known type not allowed in msg is illegal_parameter */
    uint32_t max_early; /* NewSessionTicket: early_data's max_early_data_size */
};

/* One extension type.  write adds the whole extension to x->w, or nothing
 * when it does not apply; parse reads one received in x->msg; if_missing
 * judges its absence from x->msg.  NULL: nothing to do.  A row may leave
 * a message to the handler that negotiates with it (noted in its file). */
struct ext_type {
    uint16_t type;
    uint8_t recv_in; /* EXT_IN_* messages it may appear in (RFC 8446 §4.2) */
    int (*write)(kitls_conn *c, struct ext_ctx *x);
    int (*parse)(kitls_conn *c, struct ext_ctx *x, struct rd data);
    int (*if_missing)(kitls_conn *c, struct ext_ctx *x);
};

/* The rows, one family per file of lib/ext/. */
extern const struct ext_type kitls_ext_server_name;      /* ext/server_name.c */
extern const struct ext_type kitls_ext_alpn;             /* ext/alpn.c */
extern const struct ext_type kitls_ext_versions;         /* ext/versions.c */
extern const struct ext_type kitls_ext_groups;           /* ext/key_share.c */
extern const struct ext_type kitls_ext_key_share;        /* ext/key_share.c */
extern const struct ext_type kitls_ext_sigalgs;          /* ext/sigalgs.c */
extern const struct ext_type kitls_ext_sigalgs_cert;     /* ext/sigalgs.c */
extern const struct ext_type kitls_ext_cert_authorities; /* ext/sigalgs.c */
extern const struct ext_type kitls_ext_cookie;           /* ext/cookie.c */
extern const struct ext_type kitls_ext_psk;              /* ext/psk.c */
extern const struct ext_type kitls_ext_psk_modes;        /* ext/psk.c */
extern const struct ext_type kitls_ext_early_data;       /* ext/psk.c */
extern const struct ext_type kitls_ext_status_request;   /* ext/status.c */
extern const struct ext_type kitls_ext_sct;              /* ext/status.c */
extern const struct ext_type kitls_ext_rsl;              /* ext/record_size_limit.c */
extern const struct ext_type kitls_ext_post_hs_auth;     /* ext/sigalgs.c */
extern const struct ext_type kitls_ext_padding;          /* ext/grease.c */
extern const struct ext_type kitls_ext_grease_first;     /* ext/grease.c */
extern const struct ext_type kitls_ext_grease_last;      /* ext/grease.c */
extern const struct ext_type kitls_ext_grease_ticket;    /* ext/grease.c */

/* ext.c */
/* kitls_ext_parse flags */
#define EXT_ALLOW_EMPTY 1 /* a missing block is an empty one (ClientHello) */
#define EXT_DUP_DECODE 2  /* a duplicate is decode_error, not illegal_parameter */
/** Parse an extensions<..> block, rejecting duplicates of any type. */
int kitls_ext_parse(struct rd *r, struct ext_list *out, int flags);
/** The extension of `type` if present (known types only), else NULL. */
const struct ext_entry *kitls_ext_get(const struct ext_list *l, uint16_t type);
/** The known extension of index i (0..EXT_N_KNOWN-1) if present, else NULL. */
const struct ext_entry *kitls_ext_at(const struct ext_list *l, size_t i);
/** Client: 0 if l holds only extensions of `allowed` (kitls_ext_bit mask);
 *  else illegal_parameter (one we offered) or unsupported_extension. */
int kitls_ext_only(const kitls_conn *c, const struct ext_list *l, uint32_t allowed);
/** Bit for an extension type we know (0 if none). */
uint32_t kitls_ext_bit(uint16_t type);
/** The kitls_ext_bit() mask of the rows accepted in `msg` (EXT_IN_*). */
uint32_t kitls_ext_allowed(uint8_t msg);
/** The known row of index i (0..EXT_N_KNOWN-1). */
const struct ext_type *kitls_ext_row(size_t i);
/** The rows written in `msg` (EXT_IN_*), in wire order, NULL-terminated;
 *  NULL for a message we send no extensions in. */
const struct ext_type *const *kitls_ext_order(uint8_t msg);
/** Write the extensions of x->msg, in that message's order, into x->w. */
int kitls_ext_write_all(kitls_conn *c, struct ext_ctx *x);
/** For each known row in table order: parse it if present in l, else
 *  judge its absence (x->msg says which message l came from). */
int kitls_ext_parse_all(kitls_conn *c, struct ext_ctx *x, const struct ext_list *l);
/** Start an extension of `type` in w (recorded in c->ext.offered when
 *  x->msg is ClientHello); close it with wr_end(w, at, 2). */
size_t kitls_ext_open(kitls_conn *c, const struct ext_ctx *x, uint16_t type);

/* ext/sigalgs.c */
/** Parse a signature_algorithms list into c->ext.peer_sigalgs. */
int kitls_ext_parse_sigalgs(kitls_conn *c, struct rd data);
/** Write our signature_algorithms list (vector included). */
void kitls_ext_write_sigalgs(kitls_conn *c, struct wr *w);
/** Server: the client's certificate_authorities list, empty if none. */
int kitls_ext_cas_ch(const struct ext_list *l, struct rd *cas);
/* ext/grease.c */
/* GREASE places (RFC 8701), each with its own seed in c->hs->grease[]. */
enum {
    KITLS_GREASE_SUITE,
    KITLS_GREASE_GROUP,
    KITLS_GREASE_EXT1,
    KITLS_GREASE_EXT2,
    KITLS_GREASE_VERSION,
    KITLS_GREASE_SIGALG,
    KITLS_GREASE_ALPN,
};
/** Client: the GREASE value of place i, the same in both ClientHellos. */
uint16_t kitls_grease(const kitls_conn *c, int i);
/** Client: pad a ClientHello (RFC 7685) at x->pad_at; msg_at is the
 *  offset of the message header in x->w. */
void kitls_ext_pad_hello(struct ext_ctx *x, size_t msg_at);
/* ext/key_share.c */
/** Server: choose the group and find the client's share for it (or none:
 *  HelloRetryRequest) from supported_groups and key_share; *n_shares is
 *  the number of shares the client sent. */
int kitls_ext_key_share_pick(kitls_conn *c, const struct ext_list *l, struct rd *share,
                             size_t *n_shares);
/* ext/versions.c */
/** Server: the ClientHello's supported_versions must offer TLS 1.3. */
int kitls_ext_versions_ch(const struct ext_list *l);
/** Client: the ServerHello's selected_version (*selected) if present. */
int kitls_ext_versions_sh(const struct ext_list *l, int *present, uint16_t *selected);
/* ext/cookie.c */
/** Server: make the HelloRetryRequest's cookie (c->ext.cookie). */
int kitls_ext_cookie_make(kitls_conn *c);
/* ext/psk.c */
/** Server: the client's psk_key_exchange_modes (*modes; empty if absent)
 *  and whether our tickets fit them (c->res.ticket_modes_ok). */
int kitls_ext_psk_modes_ch(kitls_conn *c, const struct ext_list *l, struct rd *modes);

#endif
