/*
 * The extension table (lib/ext.c, rows in lib/ext/): its shape.  Compiled
 * with the library's sources (internal access).  The wire bytes the rows
 * write are checked by test_ext, test_handshake and the replay corpus.
 *
 *  - the known types are distinct, and kitls_ext_bit() is their index;
 *  - each message writes only types allowed in it (RFC 8446 §4.2), once;
 *  - pre_shared_key is the last extension of the ClientHello (§4.2.11);
 *  - every known type we may receive in a server message has a parse or
 *    if_missing, or is informational (supported_groups in
 *    EncryptedExtensions), so nothing accepted is silently unread;
 *  - kitls_ext_allowed() is the union of the rows' recv_in.
 */
#include <check.h>

#include "hs.h"

START_TEST(test_known_distinct)
{
    for (size_t i = 0; i < EXT_N_KNOWN; i++) {
        const struct ext_type *a = kitls_ext_row(i);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_eq(kitls_ext_bit(a->type), 1u << i);
        for (size_t j = i + 1; j < EXT_N_KNOWN; j++)
            ck_assert_uint_ne(a->type, kitls_ext_row(j)->type);
    }
    ck_assert_ptr_null(kitls_ext_row(EXT_N_KNOWN));
}
END_TEST

static const uint8_t msgs[] = {EXT_IN_CH, EXT_IN_SH, EXT_IN_HRR, EXT_IN_EE,
                               EXT_IN_CT, EXT_IN_CR, EXT_IN_NST};

START_TEST(test_write_orders)
{
    for (size_t m = 0; m < sizeof(msgs); m++) {
        const struct ext_type *const *row = kitls_ext_order(msgs[m]);
        ck_assert_ptr_nonnull(row);
        uint32_t seen = 0;
        const struct ext_type *last = NULL;
        for (; *row; row++) {
            const struct ext_type *t = *row;
            ck_assert_ptr_nonnull(t->write);
            last = t;
            uint32_t bit = t->type ? kitls_ext_bit(t->type) : 0;
            if (!bit)
                continue; /* GREASE: no type of its own */
            ck_assert_msg(t->recv_in & msgs[m], "type %u written where not allowed", t->type);
            ck_assert_msg(!(seen & bit), "type %u written twice", t->type);
            seen |= bit;
        }
        if (msgs[m] == EXT_IN_CH)
            ck_assert_ptr_eq(last, &kitls_ext_psk);
    }
}
END_TEST

START_TEST(test_received_rows_read)
{
    static const uint8_t from_server[] = {EXT_IN_SH, EXT_IN_HRR, EXT_IN_EE,
                                          EXT_IN_CT, EXT_IN_CR,  EXT_IN_NST};
    for (size_t m = 0; m < sizeof(from_server); m++) {
        uint32_t allowed = 0;
        for (size_t i = 0; i < EXT_N_KNOWN; i++) {
            const struct ext_type *t = kitls_ext_row(i);
            if (!(t->recv_in & from_server[m]))
                continue;
            allowed |= 1u << i;
            int informational = t == &kitls_ext_groups || t == &kitls_ext_sigalgs_cert ||
                                t == &kitls_ext_versions; /* read first, by the hello handlers */
            ck_assert_msg(t->parse || t->if_missing || informational,
                          "type %u accepted in message %u but never read", t->type, from_server[m]);
        }
        ck_assert_uint_eq(kitls_ext_allowed(from_server[m]), allowed);
    }
    /* The RFC 8446 §4.2 column for the messages a client checks strictly. */
    ck_assert_uint_eq(kitls_ext_allowed(EXT_IN_SH), kitls_ext_bit(EXT_KEY_SHARE) |
                                                        kitls_ext_bit(EXT_PRE_SHARED_KEY) |
                                                        kitls_ext_bit(EXT_SUPPORTED_VERSIONS));
    ck_assert_uint_eq(kitls_ext_allowed(EXT_IN_HRR), kitls_ext_bit(EXT_KEY_SHARE) |
                                                         kitls_ext_bit(EXT_COOKIE) |
                                                         kitls_ext_bit(EXT_SUPPORTED_VERSIONS));
    ck_assert_uint_eq(kitls_ext_allowed(EXT_IN_EE),
                      kitls_ext_bit(EXT_SERVER_NAME) | kitls_ext_bit(EXT_SUPPORTED_GROUPS) |
                          kitls_ext_bit(EXT_ALPN) | kitls_ext_bit(EXT_RECORD_SIZE_LIMIT) |
                          kitls_ext_bit(EXT_EARLY_DATA));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ext_table");
    TCase *t = tcase_create("rows");
    tcase_add_test(t, test_known_distinct);
    tcase_add_test(t, test_write_orders);
    tcase_add_test(t, test_received_rows_read);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
