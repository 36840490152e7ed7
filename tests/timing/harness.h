/* The measurement engine (harness.c), used by main.c. */
#ifndef KITLS_TIMING_HARNESS_H
#define KITLS_TIMING_HARNESS_H

#include "timing.h"

#if defined(__x86_64__) && !defined(TM_NO_TSC)
#define TM_HAVE_TSC 1
#else
#define TM_HAVE_TSC 0
#endif

#define TM_NCROPS 13
#define TM_THRESHOLD_DEFAULT 4.5

extern const double tm_crops[TM_NCROPS];
/** 1: cycle counter; 0: clock_gettime (forced by --timer clock). */
extern int tm_use_tsc;
const char *tm_timer_name(void);
void tm_rand_seed(uint64_t seed);

struct tm_result {
    size_t n;            /* measurements kept (warm-up excluded) */
    double t[TM_NCROPS]; /* Welch's t per crop */
    double max_t;        /* the t of largest magnitude */
    double crop;         /* the crop it came from */
    double diff;         /* mean(class 1) - mean(class 0) at that crop */
    double min_detect;   /* smallest mean difference this run flags: threshold x s.e. */
    double median[2];    /* per class */
};

/** Measure n calls of p (classes interleaved at random) and analyse them.
 * -1: the path's setup failed. */
int tm_measure(const struct tm_path *p, size_t n, struct tm_result *res);

#endif
