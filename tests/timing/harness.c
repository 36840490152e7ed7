/*
 * The measurement engine of the timing harness: the input stream, the
 * cycle counter, the interleaved measurement loop and Welch's t-test with
 * percentile cropping (timing.h, docs/side-channel-review.md).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

_Noreturn void tm_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "timing: %s:%d: %s failed\n", file, line, what);
    exit(2);
}

/* ---- the input stream: xoshiro256** (Blackman, Vigna) ---- */

static uint64_t rs[4];

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void tm_rand_seed(uint64_t seed)
{
    /* splitmix64 spreads the seed over the state. */
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        rs[i] = z ^ (z >> 31);
    }
}

uint64_t tm_rand64(void)
{
    uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}

void tm_rand_bytes(uint8_t *p, size_t n)
{
    while (n) {
        uint64_t r = tm_rand64();
        size_t k = n < 8 ? n : 8;
        memcpy(p, &r, k);
        p += k;
        n -= k;
    }
}

uint8_t tm_rand_nonzero(void)
{
    return (uint8_t)(1 + tm_rand64() % 255);
}

/* ---- the clock ---- */

int tm_use_tsc = TM_HAVE_TSC;

const char *tm_timer_name(void)
{
    return tm_use_tsc ? "rdtsc/rdtscp+lfence (cycles)" : "clock_gettime(CLOCK_MONOTONIC_RAW) (ns)";
}

static uint64_t clock_ns(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_RAW
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Start: no earlier instruction still in flight, no later one started
 * before the counter is read.  Stop: rdtscp waits for the timed code,
 * lfence keeps what follows out of the interval. */
static inline uint64_t t_start(void)
{
#if TM_HAVE_TSC
    if (tm_use_tsc) {
        uint32_t lo, hi;
        __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi)::"memory");
        return (uint64_t)hi << 32 | lo;
    }
#endif
    return clock_ns();
}

static inline uint64_t t_stop(void)
{
#if TM_HAVE_TSC
    if (tm_use_tsc) {
        uint32_t lo, hi, aux;
        __asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
        return (uint64_t)hi << 32 | lo;
    }
#endif
    return clock_ns();
}

/* ---- statistics ---- */

/* Cropping thresholds, as percentiles of the pooled measurements; 1.0
 * keeps everything.  Low crops keep the fast, quiet core of the
 * distribution, where a small constant difference stands out. */
const double tm_crops[TM_NCROPS] = {1.0,  0.999, 0.99, 0.95, 0.90, 0.80, 0.70,
                                    0.60, 0.50,  0.40, 0.30, 0.20, 0.10};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_of(const uint64_t *t, const uint8_t *cls, size_t n, int which)
{
    uint64_t *v = malloc(n * sizeof(*v));
    size_t k = 0;
    TM_REQ(v);
    for (size_t i = 0; i < n; i++)
        if (cls[i] == which)
            v[k++] = t[i];
    double m = 0;
    if (k) {
        qsort(v, k, sizeof(*v), cmp_u64);
        m = (double)v[k / 2];
    }
    free(v);
    return m;
}

/* Welch's t over the measurements at or below `limit`; *se gets the
 * standard error of the difference of the means. */
static double welch(const uint64_t *t, const uint8_t *cls, size_t n, uint64_t limit, double *se,
                    double *diff)
{
    /* Welford's running mean and sum of squared deviations per class. */
    double mean[2] = {0, 0}, m2[2] = {0, 0};
    size_t cnt[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (t[i] > limit)
            continue;
        int c = cls[i];
        double x = (double)t[i], d = x - mean[c];
        cnt[c]++;
        mean[c] += d / (double)cnt[c];
        m2[c] += d * (x - mean[c]);
    }
    *se = 0;
    *diff = 0;
    if (cnt[0] < 2 || cnt[1] < 2)
        return 0;
    double v0 = m2[0] / (double)(cnt[0] - 1), v1 = m2[1] / (double)(cnt[1] - 1);
    double s = sqrt(v0 / (double)cnt[0] + v1 / (double)cnt[1]);
    *se = s;
    *diff = mean[1] - mean[0];
    if (s == 0)
        return mean[0] == mean[1] ? 0 : INFINITY;
    return (mean[1] - mean[0]) / s;
}

static void analyse(const uint64_t *t, const uint8_t *cls, size_t n, struct tm_result *res)
{
    uint64_t *sorted = malloc(n * sizeof(*sorted));
    TM_REQ(sorted);
    memcpy(sorted, t, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_u64);
    res->max_t = 0;
    res->min_detect = INFINITY;
    for (int k = 0; k < TM_NCROPS; k++) {
        size_t idx = (size_t)(tm_crops[k] * (double)(n - 1));
        double se, diff, tv = welch(t, cls, n, sorted[idx], &se, &diff);
        res->t[k] = tv;
        if (fabs(tv) >= fabs(res->max_t)) {
            res->max_t = tv;
            res->crop = tm_crops[k];
            res->diff = diff;
        }
        if (se > 0 && TM_THRESHOLD_DEFAULT * se < res->min_detect)
            res->min_detect = TM_THRESHOLD_DEFAULT * se;
    }
    free(sorted);
    res->median[0] = median_of(t, cls, n, 0);
    res->median[1] = median_of(t, cls, n, 1);
}

/* ---- the measurement loop ---- */

#define BATCH TM_BATCH

int tm_measure(const struct tm_path *p, size_t n, struct tm_result *res)
{
    void *ctx = NULL;
    memset(res, 0, sizeof(*res));
    if (p->setup(&ctx))
        return -1;
    /* Warm-up measurements (caches, branch predictors, lazy libcrypto
     * initialisation) are made and thrown away. */
    size_t warm = n / 100 < 10000 ? n / 100 : 10000;
    if (warm < 100)
        warm = 100;
    size_t total = n + warm;
    uint8_t *in = malloc(BATCH * p->in_len), cls_b[BATCH];
    uint64_t *t = malloc(n * sizeof(*t));
    uint8_t *cls = malloc(n);
    TM_REQ(in && t && cls);
    size_t k = 0;
    for (size_t done = 0; done < total; done += BATCH) {
        size_t b = total - done < BATCH ? total - done : BATCH;
        /* Classes drawn at random, inputs made before any is timed: the
         * preparation's cache footprint is the same for every slot. */
        for (size_t i = 0; i < b; i++) {
            cls_b[i] = (uint8_t)(tm_rand64() >> 63);
            p->prepare(ctx, cls_b[i], in + i * p->in_len);
        }
        for (size_t i = 0; i < b; i++) {
            uint8_t *slot = in + i * p->in_len;
            uint64_t t0 = t_start();
            int r = p->run(ctx, slot);
            uint64_t t1 = t_stop();
            if (r != p->expect[cls_b[i]]) {
                fprintf(stderr, "timing: %s: class %d returned %d, expected %d\n", p->name,
                        cls_b[i], r, p->expect[cls_b[i]]);
                exit(2);
            }
            if (done + i >= warm) {
                t[k] = t1 - t0;
                cls[k++] = cls_b[i];
            }
        }
    }
    p->teardown(ctx);
    res->n = k;
    analyse(t, cls, k, res);
    free(in);
    free(t);
    free(cls);
    return 0;
}
