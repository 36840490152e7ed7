/*
 * Timing harness for the secret-dependent paths of lib/ (docs/side-channel-review.md).
 *
 * The method is the one of dudect (Reparaz, Balasch, Verbauwhede, "Dude,
 * is my code constant time?", DATE 2017): each path is run on inputs of
 * two classes, chosen at random for every measurement; the cycles of each
 * call are recorded, and Welch's t-test compares the two classes' timing
 * distributions, once uncropped and once per cropping threshold (the
 * measurements above a percentile of the pooled distribution are dropped,
 * which removes interrupts and other one-sided noise).  A path leaks when
 * the largest |t| over the crops reaches the threshold (4.5).
 *
 * A path is a set of callbacks: `prepare` fills one input slot of a class
 * outside the timed region; `run` is the timed call, into the library's
 * own function (never a re-implementation), and returns that function's
 * result, which the harness checks against the class's expected result so
 * that both classes take the path the test claims they take.
 */
#ifndef KITLS_TIMING_H
#define KITLS_TIMING_H

#include <stddef.h>
#include <stdint.h>

/* Inputs are prepared TM_BATCH at a time, in slot order, then timed. */
#define TM_BATCH 512

struct tm_path {
    const char *name;
    const char *what; /* one line: the secret and the two classes */
    size_t in_len;    /* bytes per input slot */
    int expect[2];    /* result of run() for class 0 and class 1 */
    /* Once per run: allocate *ctx.  Non-zero: the path cannot run here. */
    int (*setup)(void **ctx);
    /* Outside the timed region: an input of class cls (0 or 1) into in. */
    void (*prepare)(void *ctx, int cls, uint8_t *in);
    /* The timed call. */
    int (*run)(void *ctx, uint8_t *in);
    void (*teardown)(void *ctx);
};

/* The library's paths (paths.c, paths_sig.c) and the self-test paths (selftest.c). */
extern const struct tm_path tm_lib_paths[];
extern const size_t tm_n_lib_paths;
extern const struct tm_path tm_self_paths[];
extern const size_t tm_n_self_paths;

/** The harness's random stream (xoshiro256**, seeded once); not for keys
 * that protect anything, only for test inputs. */
uint64_t tm_rand64(void);
void tm_rand_bytes(uint8_t *p, size_t n);
/** A uniform non-zero byte (to flip a byte into a mismatch). */
uint8_t tm_rand_nonzero(void);

/** Abort with a message when a harness precondition fails. */
#define TM_REQ(x)                                                                                  \
    do {                                                                                           \
        if (!(x))                                                                                  \
            tm_fail(__FILE__, __LINE__, #x);                                                       \
    } while (0)
_Noreturn void tm_fail(const char *file, int line, const char *what);

#endif
