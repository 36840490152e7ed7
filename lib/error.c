/* Error codes, their names, and the alert each one sends (RFC 8446 §6.2). */
#include "internal.h"

struct err_row {
    int err;
    int alert;
    const char *str;
};

static const struct err_row err_rows[] = {
    {KITLS_OK, -1, "success"},
    {KITLS_E_WANT_READ, -1, "more input needed"},
    {KITLS_E_CLOSED, -1, "peer closed the connection (close_notify)"},
    {KITLS_E_INTERNAL, AL_INTERNAL_ERROR, "internal error"},
    {KITLS_E_NOMEM, AL_INTERNAL_ERROR, "out of memory"},
    {KITLS_E_INVALID_ARG, -1, "invalid argument"},
    {KITLS_E_STATE, -1, "operation not valid in this state"},
    {KITLS_E_CRYPTO, AL_INTERNAL_ERROR, "cryptographic library failure"},
    {KITLS_E_RNG, AL_INTERNAL_ERROR, "random number source failed"},
    {KITLS_E_CONFIG, AL_INTERNAL_ERROR, "configuration invalid or incomplete"},
    {KITLS_E_NO_SERVER_NAME, -1,
     "verifying client has no server name (set one, or kitls_config_set_verify_name(cfg, 0))"},
    {KITLS_E_DECODE, AL_DECODE_ERROR, "malformed message"},
    {KITLS_E_UNEXPECTED_MESSAGE, AL_UNEXPECTED_MESSAGE, "unexpected message"},
    {KITLS_E_BAD_RECORD_MAC, AL_BAD_RECORD_MAC, "record authentication failed"},
    {KITLS_E_RECORD_OVERFLOW, AL_RECORD_OVERFLOW, "record too large"},
    {KITLS_E_ILLEGAL_PARAMETER, AL_ILLEGAL_PARAMETER, "illegal parameter"},
    {KITLS_E_HANDSHAKE_FAILURE, AL_HANDSHAKE_FAILURE, "no acceptable parameters"},
    {KITLS_E_PROTOCOL_VERSION, AL_PROTOCOL_VERSION, "peer does not support TLS 1.3"},
    {KITLS_E_MISSING_EXTENSION, AL_MISSING_EXTENSION, "required extension missing"},
    {KITLS_E_UNSUPPORTED_EXTENSION, AL_UNSUPPORTED_EXTENSION, "extension not allowed here"},
    {KITLS_E_DECRYPT_ERROR, AL_DECRYPT_ERROR, "signature or Finished verification failed"},
    {KITLS_E_NO_APPLICATION_PROTOCOL, AL_NO_APPLICATION_PROTOCOL, "no common application protocol"},
    {KITLS_E_UNRECOGNIZED_NAME, AL_UNRECOGNIZED_NAME, "server name not recognized"},
    {KITLS_E_INSUFFICIENT_SECURITY, AL_INSUFFICIENT_SECURITY, "insufficient security"},
    {KITLS_E_CERT_REQUIRED, AL_CERTIFICATE_REQUIRED, "peer certificate required"},
    {KITLS_E_BAD_CERTIFICATE, AL_BAD_CERTIFICATE, "bad certificate"},
    {KITLS_E_CERT_UNTRUSTED, AL_UNKNOWN_CA, "certificate not trusted (unknown CA)"},
    {KITLS_E_CERT_EXPIRED, AL_CERTIFICATE_EXPIRED, "certificate expired"},
    {KITLS_E_CERT_NOT_YET_VALID, AL_BAD_CERTIFICATE, "certificate not yet valid"},
    {KITLS_E_CERT_NAME_MISMATCH, AL_BAD_CERTIFICATE, "certificate does not match the name"},
    {KITLS_E_CERT_USAGE, AL_UNSUPPORTED_CERTIFICATE,
     "certificate key usage not valid for this role"},
    {KITLS_E_CERT_REVOKED, AL_CERTIFICATE_REVOKED, "certificate revoked"},
    {KITLS_E_CERT_INVALID, AL_BAD_CERTIFICATE, "certificate chain invalid"},
    {KITLS_E_LIMIT, AL_UNEXPECTED_MESSAGE, "configured limit exceeded"},
    {KITLS_E_ALERT_RECEIVED, -1, "fatal alert received from peer"},
    {KITLS_E_EOF, -1, "transport closed without close_notify"},
    {KITLS_E_EXCESS_HANDSHAKE_DATA, AL_UNEXPECTED_MESSAGE,
     "handshake data after a key change in the same record"},
    {KITLS_E_OCSP_INVALID, AL_BAD_CERTIFICATE_STATUS_RESPONSE, "stapled OCSP response invalid"},
    {KITLS_E_OCSP_REQUIRED, AL_BAD_CERTIFICATE_STATUS_RESPONSE,
     "OCSP response required but not stapled"},
};

static const struct err_row *err_find(int err)
{
    for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++)
        if (err_rows[i].err == err)
            return &err_rows[i];
    return NULL;
}

const char *kitls_error_string(int err)
{
    const struct err_row *r = err_find(err);
    return r ? r->str : "unknown error";
}

int kitls_error_alert(int err)
{
    const struct err_row *r = err_find(err);
    if (!r)
        return err < 0 ? AL_INTERNAL_ERROR : -1;
    return r->alert;
}

static const struct {
    int alert;
    const char *name;
} alert_names[] = {
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {22, "record_overflow"},
    {30, "decompression_failure"},
    {40, "handshake_failure"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
};

const char *kitls_alert_string(int alert)
{
    for (size_t i = 0; i < sizeof(alert_names) / sizeof(alert_names[0]); i++)
        if (alert_names[i].alert == alert)
            return alert_names[i].name;
    return "unknown";
}

const char *kitls_version(void)
{
    return "0.1.0";
}
