/* The one error space (kitls.h): class-tagged codes above MAX_ERRNO, -errno, kitls_strerror(). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitls/kitls.h"
#include "kitls/ktls.h"
#include "testutil.h"

/* Every named code with its class and the alert kitls_error_alert() gave
 * for it before the class encoding (the small negative codes): written
 * out here, not derived from the header, so a wrong alert byte fails. */
static const struct {
    int err;
    const char *name;
    int cls;
    int alert;
} codes[] = {
#define S(x)                                                                                       \
    {                                                                                              \
        x, #x, KITLS_ERR_CLASS_STATUS, -1                                                          \
    }
#define A(x, al)                                                                                   \
    {                                                                                              \
        x, #x, KITLS_ERR_CLASS_SELF_ALERT, al                                                      \
    }
#define L(x)                                                                                       \
    {                                                                                              \
        x, #x, KITLS_ERR_CLASS_LOCAL, -1                                                           \
    }
    S(KITLS_E_WANT_READ),
    S(KITLS_E_CLOSED),
    S(KITLS_E_EARLY_DATA),
    S(KITLS_E_WANT_ASYNC),
    A(KITLS_E_INTERNAL, 80),
    A(KITLS_E_NOMEM, 80),
    L(KITLS_E_INVALID_ARG),
    L(KITLS_E_STATE),
    A(KITLS_E_CRYPTO, 80),
    A(KITLS_E_RNG, 80),
    A(KITLS_E_CONFIG, 80),
    L(KITLS_E_NO_SERVER_NAME),
    L(KITLS_E_UNAVAILABLE),
    A(KITLS_E_DECODE, 50),
    A(KITLS_E_UNEXPECTED_MESSAGE, 10),
    A(KITLS_E_BAD_RECORD_MAC, 20),
    A(KITLS_E_RECORD_OVERFLOW, 22),
    A(KITLS_E_ILLEGAL_PARAMETER, 47),
    A(KITLS_E_HANDSHAKE_FAILURE, 40),
    A(KITLS_E_PROTOCOL_VERSION, 70),
    A(KITLS_E_MISSING_EXTENSION, 109),
    A(KITLS_E_UNSUPPORTED_EXTENSION, 110),
    A(KITLS_E_DECRYPT_ERROR, 51),
    A(KITLS_E_NO_APPLICATION_PROTOCOL, 120),
    A(KITLS_E_UNRECOGNIZED_NAME, 112),
    A(KITLS_E_INSUFFICIENT_SECURITY, 71),
    A(KITLS_E_CERT_REQUIRED, 116),
    A(KITLS_E_BAD_CERTIFICATE, 42),
    A(KITLS_E_CERT_UNTRUSTED, 48),
    A(KITLS_E_CERT_EXPIRED, 45),
    A(KITLS_E_CERT_NOT_YET_VALID, 42),
    A(KITLS_E_CERT_NAME_MISMATCH, 42),
    A(KITLS_E_CERT_USAGE, 43),
    A(KITLS_E_CERT_REVOKED, 44),
    A(KITLS_E_CERT_INVALID, 42),
    A(KITLS_E_LIMIT, 10),
    {KITLS_E_ALERT_RECEIVED, "KITLS_E_ALERT_RECEIVED", KITLS_ERR_CLASS_PEER_ALERT, -1},
    L(KITLS_E_EOF),
    A(KITLS_E_EXCESS_HANDSHAKE_DATA, 10),
    A(KITLS_E_OCSP_INVALID, 113),
    A(KITLS_E_OCSP_REQUIRED, 113),
    /* the kTLS layer's codes share the space */
    A(KITLS_KTLS_E_REKEY_UNSUPPORTED, 80),
    A(KITLS_KTLS_E_INSTALL, 80),
    L(KITLS_KTLS_E_TRUNCATED),
#undef S
#undef A
#undef L
};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

START_TEST(codes_unique_and_above_errno)
{
    for (size_t i = 0; i < N_CODES; i++) {
        ck_assert_msg(codes[i].err < -KITLS_MAX_ERRNO, "%s = %d collides with -errno",
                      codes[i].name, codes[i].err);
        ck_assert_msg(!KITLS_ERR_IS_ERRNO(codes[i].err), "%s", codes[i].name);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(codes[i].err != codes[j].err, "%s == %s", codes[i].name, codes[j].name);
    }
}
END_TEST

/* Class and alert come back through the macros, as kitls_error_alert()
 * answers (its answers unchanged by the encoding). */
START_TEST(codes_class_and_alert)
{
    for (size_t i = 0; i < N_CODES; i++) {
        int e = codes[i].err;
        ck_assert_msg(KITLS_ERR_CLASS(e) == codes[i].cls, "%s: class %#x, want %#x", codes[i].name,
                      KITLS_ERR_CLASS(e), codes[i].cls);
        ck_assert_msg(kitls_error_alert(e) == codes[i].alert, "%s: alert %d, want %d",
                      codes[i].name, kitls_error_alert(e), codes[i].alert);
        if (codes[i].cls == KITLS_ERR_CLASS_SELF_ALERT)
            ck_assert_int_eq(KITLS_ERR_ALERT(e), kitls_error_alert(e));
        else if (codes[i].cls != KITLS_ERR_CLASS_PEER_ALERT)
            ck_assert_int_eq(KITLS_ERR_ALERT(e), -1);
        ck_assert_int_eq(KITLS_ERR_IS_PEER_ALERT(e), codes[i].cls == KITLS_ERR_CLASS_PEER_ALERT);
    }
}
END_TEST

/* Each code has its own text, never the fallback nor the system's. */
START_TEST(codes_strerror)
{
    for (size_t i = 0; i < N_CODES; i++) {
        const char *t = kitls_strerror(codes[i].err);
        ck_assert_ptr_nonnull(t);
        ck_assert_msg(*t && strcmp(t, "unknown error") != 0, "%s: generic text", codes[i].name);
        ck_assert_msg(strstr(t, "Unknown error") == NULL, "%s: \"%s\"", codes[i].name, t);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(strcmp(t, kitls_strerror(codes[j].err)) != 0, "%s and %s: \"%s\"",
                          codes[i].name, codes[j].name, t);
    }
    ck_assert_str_eq(kitls_strerror(0), "success");
    ck_assert_int_eq(kitls_error_alert(0), -1);
    /* unknown numbers in a known class, and an unknown class */
    ck_assert_str_eq(kitls_strerror(KITLS_ERR_CODE(KITLS_ERR_CLASS_LOCAL, 255, 0)),
                     "unknown error");
    ck_assert_str_eq(kitls_strerror(KITLS_ERR_CODE(0x70000, 1, 0)), "unknown error");
    ck_assert_int_eq(kitls_error_alert(KITLS_ERR_CODE(0x70000, 1, 0)), 80);
}
END_TEST

/* -errno is a system failure in every layer: the system's text, no class,
 * internal_error if it ever ends a connection.  (The tests run in the C
 * locale, where strerror() is the untranslated text.) */
START_TEST(errno_values)
{
    for (int e = 1; e <= 133; e++) {
        ck_assert(KITLS_ERR_IS_ERRNO(-e));
        ck_assert_int_eq(KITLS_ERR_CLASS(-e), 0);
        ck_assert_int_eq(KITLS_ERR_ALERT(-e), -1);
        ck_assert_int_eq(kitls_error_alert(-e), 80);
        char want[128]; /* copied: strerror() may reuse its buffer */
        snprintf(want, sizeof(want), "%s", strerror(e));
        const char *t = kitls_strerror(-e);
        if (strncmp(want, "Unknown error", 13) == 0) /* an unassigned number */
            ck_assert_msg(*t && strcmp(t, "unknown error") != 0, "%d: \"%s\"", e, t);
        else
            ck_assert_str_eq(t, want);
        /* still valid after another call (no shared buffer) */
        (void)kitls_strerror(-4000);
        (void)strerror(4000);
        ck_assert_ptr_eq(kitls_strerror(-e), t);
    }
    ck_assert(KITLS_ERR_IS_ERRNO(-KITLS_MAX_ERRNO));
    ck_assert(!KITLS_ERR_IS_ERRNO(-KITLS_MAX_ERRNO - 1));
    ck_assert(!KITLS_ERR_IS_ERRNO(0));
    ck_assert(!KITLS_ERR_IS_ERRNO(1));
    /* values that were core codes before: now only their errno */
    ck_assert_str_eq(kitls_strerror(-110), strerror(ETIMEDOUT));
    ck_assert_str_eq(kitls_strerror(-104), strerror(ECONNRESET));
}
END_TEST

/* Any received alert is its own code, and the alert comes back from it. */
START_TEST(peer_alert_codes)
{
    for (int a = 0; a < 256; a++) {
        int e = KITLS_E_PEER_ALERT(a);
        ck_assert(e < -KITLS_MAX_ERRNO);
        ck_assert_int_eq(KITLS_ERR_CLASS(e), KITLS_ERR_CLASS_PEER_ALERT);
        ck_assert(KITLS_ERR_IS_PEER_ALERT(e));
        ck_assert_int_eq(KITLS_ERR_ALERT(e), a);
        ck_assert_int_eq(kitls_error_alert(e), -1); /* never answered (RFC 8446 §6.2) */
        for (size_t i = 0; i < N_CODES; i++)
            if (codes[i].cls != KITLS_ERR_CLASS_PEER_ALERT)
                ck_assert_int_ne(e, codes[i].err);
        if (a == 0) /* the class base: KITLS_E_ALERT_RECEIVED itself */
            continue;
        const char *t = kitls_strerror(e);
        ck_assert_msg(strncmp(t, "fatal alert received from peer: ", 32) == 0, "%d: %s", a, t);
        if (strcmp(kitls_alert_string(a), "unknown") != 0)
            ck_assert_str_eq(t + 32, kitls_alert_string(a));
    }
}
END_TEST

/* Through a real connection: a fatal alert fed to a server comes back as
 * KITLS_E_PEER_ALERT(alert), equal to what kitls_conn_peer_alert() says. */
START_TEST(peer_alert_from_the_wire)
{
    static const int alerts[] = {10, 40, 48, 80, 116, 120};
    kitls_config *cfg = tu_server_config(TU_P256);
    for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
        uint8_t rec[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, (uint8_t)alerts[i]};
        kitls_conn *s = tu_server(cfg);
        ck_assert_int_eq(kitls_conn_feed(s, rec, sizeof(rec)), 0);
        int r = kitls_conn_handshake(s);
        ck_assert_int_eq(r, KITLS_E_PEER_ALERT(alerts[i]));
        ck_assert_int_eq(KITLS_ERR_ALERT(r), kitls_conn_peer_alert(s));
        ck_assert_int_eq(kitls_conn_error(s), r); /* sticky */
        const uint8_t *o;
        ck_assert_uint_eq(kitls_conn_out_peek(s, &o), 0); /* nothing answered */
        kitls_conn_free(s);
    }
    kitls_config_free(cfg);
}
END_TEST

int main(void)
{
    tu_pki_init();
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("codes");
    tcase_add_test(tc, codes_unique_and_above_errno);
    tcase_add_test(tc, codes_class_and_alert);
    tcase_add_test(tc, codes_strerror);
    tcase_add_test(tc, errno_values);
    tcase_add_test(tc, peer_alert_codes);
    tcase_add_test(tc, peer_alert_from_the_wire);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
