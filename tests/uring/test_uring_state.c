/*
 * The io_uring connection's state table (uring/state.c, issue 15 item 4):
 * every state is reachable from CS_NEW, CS_FREED is reachable from every
 * state and is the only one with no way out, a dead state never leads
 * back to a live one, and uring_cs_step() refuses every pair the table
 * does not list (the state stays).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "uring_int.h"

/* States reachable from `from` by legal transitions (a bit mask). */
static unsigned reach(unsigned from)
{
    unsigned seen = 1u << from, grew = 1;
    while (grew) {
        grew = 0;
        for (unsigned a = 0; a < CS_COUNT; a++) {
            if (!(seen & (1u << a)))
                continue;
            for (unsigned b = 0; b < CS_COUNT; b++)
                if (uring_cs_legal(a, b) && !(seen & (1u << b))) {
                    seen |= 1u << b;
                    grew = 1;
                }
        }
    }
    return seen;
}

START_TEST(every_state_reachable)
{
    unsigned r = reach(CS_NEW);
    for (unsigned s = 0; s < CS_COUNT; s++)
        ck_assert_msg(r & (1u << s), "%s unreachable from new", uring_cs_name(s));
}
END_TEST

START_TEST(freed_reachable_from_each)
{
    for (unsigned s = 0; s < CS_COUNT; s++)
        ck_assert_msg(reach(s) & (1u << CS_FREED), "no way from %s to freed", uring_cs_name(s));
    /* and it is the end: nothing leaves it, and only it is a dead end */
    for (unsigned s = 0; s < CS_COUNT; s++) {
        unsigned out = 0;
        for (unsigned t = 0; t < CS_COUNT; t++)
            out += (unsigned)uring_cs_legal(s, t);
        if (s == CS_FREED)
            ck_assert_uint_eq(out, 0);
        else
            ck_assert_msg(out > 0, "%s is a dead end", uring_cs_name(s));
    }
}
END_TEST

START_TEST(dead_never_live_again)
{
    for (unsigned s = 0; s < CS_COUNT; s++) {
        if (!CS_DEAD(s))
            continue;
        for (unsigned t = 0; t < CS_COUNT; t++)
            if (!CS_DEAD(t))
                ck_assert_msg(!uring_cs_legal(s, t), "%s -> %s", uring_cs_name(s),
                              uring_cs_name(t));
    }
    /* no state returns to itself or to new, and every live state can die
     * at once (abort, timeout, shutdown) */
    for (unsigned s = 0; s < CS_COUNT; s++) {
        ck_assert(!uring_cs_legal(s, s));
        ck_assert(!uring_cs_legal(s, CS_NEW));
        if (!CS_DEAD(s))
            ck_assert_msg(uring_cs_legal(s, CS_CANCEL), "%s cannot be aborted", uring_cs_name(s));
    }
}
END_TEST

START_TEST(illegal_refused)
{
    unsigned legal = 0, refused = 0;
    for (unsigned s = 0; s < CS_COUNT; s++)
        for (unsigned t = 0; t < CS_COUNT; t++) {
            enum conn_state st = (enum conn_state)s;
            int r = uring_cs_step(&st, (enum conn_state)t);
            if (uring_cs_legal(s, t)) {
                ck_assert_int_eq(r, 0);
                ck_assert_uint_eq(st, t);
                legal++;
            } else {
                ck_assert_int_eq(r, -1);
                ck_assert_uint_eq(st, s); /* unchanged */
                refused++;
            }
        }
    /* a few that must never happen, by name */
    static const unsigned bad[][2] = {
        {CS_CONNECTING, CS_OPEN},     {CS_HANDSHAKE, CS_CLOSING}, {CS_OPEN, CS_HANDSHAKE},
        {CS_CLOSING, CS_OPEN},        {CS_LINGER, CS_OPEN},       {CS_CANCEL, CS_LINGER},
        {CS_LINGER_DRAIN, CS_LINGER}, {CS_CANCELLED, CS_CANCEL},  {CS_CLOSE_FD, CS_CANCELLED},
        {CS_FREED, CS_CANCEL},        {CS_NEW, CS_OPEN},          {CS_LINGER, CS_FREED},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum conn_state st = (enum conn_state)bad[i][0];
        ck_assert_int_eq(uring_cs_step(&st, (enum conn_state)bad[i][1]), -1);
        ck_assert_uint_eq(st, bad[i][0]);
    }
    /* out of range */
    ck_assert(!uring_cs_legal(CS_COUNT, CS_FREED));
    ck_assert(!uring_cs_legal(CS_NEW, CS_COUNT));
    ck_assert_str_eq(uring_cs_name(CS_COUNT), "?");
    printf("test_uring_state: %u states, %u legal transitions, %u refused\n", (unsigned)CS_COUNT,
           legal, refused);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("uring-state");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, every_state_reachable);
    tcase_add_test(tc, freed_reachable_from_each);
    tcase_add_test(tc, dead_never_live_again);
    tcase_add_test(tc, illegal_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
