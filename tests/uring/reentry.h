/* Shared by test_uring_reentry.c (fake ring) and reentry_real.c (real ring). */
#ifndef KITLS_TESTS_REENTRY_H
#define KITLS_TESTS_REENTRY_H

#include <check.h>

/* The re-entrant call a callback makes. */
enum reentry_act {
    REENTRY_CLOSE,
    REENTRY_ABORT,
    REENTRY_SEND,
    REENTRY_KEY_UPDATE,
    REENTRY_PAUSE, /* kitls_uring_pause_recv(target, 1); the test resumes it later */
    REENTRY_N_ACT
};

/* The real-ring cases (reentry_real.c). */
void reentry_real_add(TCase *tc);

#endif
