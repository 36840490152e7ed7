/* Error codes of every layer, their text, and the alert each one sends (RFC 8446 §6.2). */
#define _GNU_SOURCE /* strerrordesc_np */
#include <string.h>

#include "internal.h"
#include "kitls/ktls.h"

/* A code's alert is in the code itself (kitls.h): the table only names it. */
struct err_row {
    int err;
    const char *str;
};

static const struct err_row err_rows[] = {
    {KITLS_OK, "success"},
    {KITLS_E_WANT_READ, "more input needed"},
    {KITLS_E_CLOSED, "peer closed the connection (close_notify)"},
    {KITLS_E_EARLY_DATA, "0-RTT data is waiting (kitls_conn_read_early_data)"},
    {KITLS_E_WANT_ASYNC, "waiting for the anti-replay store (kitls_conn_antireplay_done)"},
    {KITLS_E_INTERNAL, "internal error"},
    {KITLS_E_NOMEM, "out of memory"},
    {KITLS_E_INVALID_ARG, "invalid argument"},
    {KITLS_E_STATE, "operation not valid in this state"},
    {KITLS_E_CRYPTO, "cryptographic library failure"},
    {KITLS_E_RNG, "random number source failed"},
    {KITLS_E_CONFIG, "configuration invalid or incomplete"},
    {KITLS_E_NO_SERVER_NAME,
     "verifying client has no server name (set one, or kitls_config_set_verify_name(cfg, 0))"},
    {KITLS_E_UNAVAILABLE, "algorithm not available in this libcrypto (ML-KEM groups need OpenSSL "
                          "3.5 or later)"},
    {KITLS_E_DECODE, "malformed message"},
    {KITLS_E_UNEXPECTED_MESSAGE, "unexpected message"},
    {KITLS_E_BAD_RECORD_MAC, "record authentication failed"},
    {KITLS_E_RECORD_OVERFLOW, "record too large"},
    {KITLS_E_ILLEGAL_PARAMETER, "illegal parameter"},
    {KITLS_E_HANDSHAKE_FAILURE, "no acceptable parameters"},
    {KITLS_E_PROTOCOL_VERSION, "peer does not support TLS 1.3"},
    {KITLS_E_MISSING_EXTENSION, "required extension missing"},
    {KITLS_E_UNSUPPORTED_EXTENSION, "extension not allowed here"},
    {KITLS_E_DECRYPT_ERROR, "signature or Finished verification failed"},
    {KITLS_E_NO_APPLICATION_PROTOCOL, "no common application protocol"},
    {KITLS_E_UNRECOGNIZED_NAME, "server name not recognized"},
    {KITLS_E_INSUFFICIENT_SECURITY, "insufficient security"},
    {KITLS_E_CERT_REQUIRED, "peer certificate required"},
    {KITLS_E_BAD_CERTIFICATE, "bad certificate"},
    {KITLS_E_CERT_UNTRUSTED, "certificate not trusted (unknown CA)"},
    {KITLS_E_CERT_EXPIRED, "certificate expired"},
    {KITLS_E_CERT_NOT_YET_VALID, "certificate not yet valid"},
    {KITLS_E_CERT_NAME_MISMATCH, "certificate does not match the name"},
    {KITLS_E_CERT_USAGE, "certificate key usage not valid for this role"},
    {KITLS_E_CERT_REVOKED, "certificate revoked"},
    {KITLS_E_CERT_INVALID, "certificate chain invalid"},
    {KITLS_E_LIMIT, "configured limit exceeded"},
    {KITLS_E_ALERT_RECEIVED, "fatal alert received from peer"},
    {KITLS_E_EOF, "transport closed without close_notify"},
    {KITLS_E_EXCESS_HANDSHAKE_DATA, "handshake data after a key change in the same record"},
    {KITLS_E_OCSP_INVALID, "stapled OCSP response invalid"},
    {KITLS_E_OCSP_REQUIRED, "OCSP response required but not stapled"},
    {KITLS_KTLS_E_REKEY_UNSUPPORTED,
     "key update needed but the kernel cannot change kTLS keys (Linux < 6.14)"},
    {KITLS_KTLS_E_INSTALL, "installing kTLS keys failed after offload"},
    {KITLS_KTLS_E_TRUNCATED, "connection ended without close_notify"},
};

static const struct err_row *err_find(int err)
{
    for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++)
        if (err_rows[i].err == err)
            return &err_rows[i];
    return NULL;
}

int kitls_error_alert(int err)
{
    if (err >= 0)
        return -1;
    switch (KITLS_ERR_CLASS(err)) {
    case KITLS_ERR_CLASS_SELF_ALERT: return KITLS_ERR_ALERT(err);
    case KITLS_ERR_CLASS_STATUS:
    case KITLS_ERR_CLASS_PEER_ALERT: /* never answer an alert (§6.2) */
    case KITLS_ERR_CLASS_LOCAL: return -1;
    default: return AL_INTERNAL_ERROR; /* -errno or unknown: our failure */
    }
}

/* `peer` is kitls_strerror()'s text for KITLS_E_PEER_ALERT(alert). */
#define A(al, nm)                                                                                  \
    {                                                                                              \
        al, nm, "fatal alert received from peer: " nm                                              \
    }
static const struct {
    int alert;
    const char *name;
    const char *peer;
} alert_names[] = {
    A(0, "close_notify"),
    A(10, "unexpected_message"),
    A(20, "bad_record_mac"),
    A(22, "record_overflow"),
    A(30, "decompression_failure"),
    A(40, "handshake_failure"),
    A(42, "bad_certificate"),
    A(43, "unsupported_certificate"),
    A(44, "certificate_revoked"),
    A(45, "certificate_expired"),
    A(46, "certificate_unknown"),
    A(47, "illegal_parameter"),
    A(48, "unknown_ca"),
    A(49, "access_denied"),
    A(50, "decode_error"),
    A(51, "decrypt_error"),
    A(70, "protocol_version"),
    A(71, "insufficient_security"),
    A(80, "internal_error"),
    A(86, "inappropriate_fallback"),
    A(90, "user_canceled"),
    A(109, "missing_extension"),
    A(110, "unsupported_extension"),
    A(112, "unrecognized_name"),
    A(113, "bad_certificate_status_response"),
    A(115, "unknown_psk_identity"),
    A(116, "certificate_required"),
    A(120, "no_application_protocol"),
};

#undef A

static int alert_find(int alert)
{
    for (size_t i = 0; i < sizeof(alert_names) / sizeof(alert_names[0]); i++)
        if (alert_names[i].alert == alert)
            return (int)i;
    return -1;
}

const char *kitls_alert_string(int alert)
{
    int i = alert_find(alert);
    return i < 0 ? "unknown" : alert_names[i].name;
}

/* The system's text for errno e.  glibc's strerror() formats unknown
 * values into a per-thread buffer that its next call frees, so its
 * pointer cannot be returned: strerrordesc_np() (glibc >= 2.32) gives the
 * static, untranslated table entry instead. */
static const char *sys_text(int e)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *d = strerrordesc_np(e);
    return d ? d : "unknown system error";
#else
    return strerror(e);
#endif
}

const char *kitls_strerror(int err)
{
    if (KITLS_ERR_IS_ERRNO(err))
        return sys_text(-err);
    if (KITLS_ERR_IS_PEER_ALERT(err)) {
        int i = alert_find(KITLS_ERR_ALERT(err));
        return i < 0 ? "fatal alert received from peer: unknown alert" : alert_names[i].peer;
    }
    const struct err_row *r = err_find(err);
    return r ? r->str : "unknown error";
}

const char *kitls_version(void)
{
    return "0.1.0";
}
