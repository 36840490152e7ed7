/*
 * kitls-timing: measure every secret-dependent path of lib/ (or the
 * self-test paths) and print path / measurements / max|t| / verdict.
 * Normally run through tests/timing/run.sh, which builds it and holds the
 * list of documented exceptions.
 *
 * Usage: kitls-timing [--n N] [--only NAME[,NAME...]] [--self-test]
 *                     [--threshold T] [--except NAME[,NAME...]]
 *                     [--seed S] [--timer tsc|clock] [--out FILE] [--list]
 *   --only      run the paths whose name starts with one of the NAMEs
 *   --except    paths allowed to exceed the threshold (verdict "exception")
 * Exit: 0 no leak; 1 a path not in --except reached the threshold (in
 * --self-test: a planted leak was NOT detected); 3 (--self-test) the
 * constant-time control was flagged; 2 usage or setup error.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/opensslv.h>

#include "harness.h"

static int in_list(const char *list, const char *name, int prefix)
{
    if (!list)
        return 0;
    size_t nl = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l && (prefix ? l <= nl && !strncmp(p, name, l) : l == nl && !strncmp(p, name, l)))
            return 1;
        p += l + (e != NULL);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: kitls-timing [--n N] [--only NAMES] [--self-test] [--threshold T]\n"
                    "                    [--except NAMES] [--seed S] [--timer tsc|clock]\n"
                    "                    [--out FILE] [--list]\n");
    exit(2);
}

static void cpu_name(char *buf, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    snprintf(buf, len, "unknown");
    while (f && fgets(line, sizeof(line), f)) {
        char *c = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && c) {
            snprintf(buf, len, "%s", c + 2);
            buf[strcspn(buf, "\n")] = 0;
            break;
        }
    }
    if (f)
        fclose(f);
}

static void row(FILE *f, const char *name, const struct tm_result *r, const char *verdict)
{
    fprintf(f, "%-22s %12zu %10.0f %10.0f %8.2f %6.3f %8.2f  %s\n", name, r->n, r->median[0],
            r->median[1], fabs(r->max_t), r->crop, r->min_detect, verdict);
}

static void header(FILE *f)
{
    fprintf(f, "%-22s %12s %10s %10s %8s %6s %8s  %s\n", "path", "measurements", "median0",
            "median1", "max|t|", "crop", "detect", "verdict");
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    const char *only = NULL, *except = NULL, *out = NULL;
    double thr = TM_THRESHOLD_DEFAULT;
    int self = 0, list = 0;
    uint64_t seed = 0;
    int have_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--self-test")) {
            self = 1;
        } else if (!strcmp(a, "--list")) {
            list = 1;
        } else if (!v) {
            usage();
        } else if (!strcmp(a, "--n")) {
            n = strtoull(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--only")) {
            only = v;
            i++;
        } else if (!strcmp(a, "--except")) {
            except = v;
            i++;
        } else if (!strcmp(a, "--threshold")) {
            thr = strtod(v, NULL);
            i++;
        } else if (!strcmp(a, "--seed")) {
            seed = strtoull(v, NULL, 0);
            have_seed = 1;
            i++;
        } else if (!strcmp(a, "--out")) {
            out = v;
            i++;
        } else if (!strcmp(a, "--timer")) {
            if (!strcmp(v, "clock"))
                tm_use_tsc = 0;
            else if (strcmp(v, "tsc") || !TM_HAVE_TSC)
                usage();
            i++;
        } else {
            usage();
        }
    }
    if (n < 1000 || thr <= 0)
        usage();
    const struct tm_path *paths = self ? tm_self_paths : tm_lib_paths;
    size_t np = self ? tm_n_self_paths : tm_n_lib_paths;
    if (list) {
        for (size_t i = 0; i < np; i++)
            printf("%-22s %s\n", paths[i].name, paths[i].what);
        return 0;
    }
    if (!have_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    tm_rand_seed(seed);

    char cpu[128], date[64];
    time_t now = time(NULL);
    cpu_name(cpu, sizeof(cpu));
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    FILE *rf = out ? fopen(out, "w") : NULL;
    if (out && !rf) {
        perror(out);
        return 2;
    }
    FILE *fs[2] = {stdout, rf};
    for (int k = 0; k < 2; k++) {
        if (!fs[k])
            continue;
        fprintf(fs[k], "# kitls timing harness%s, %s\n", self ? " (self-test)" : "", date);
        fprintf(fs[k], "# cpu: %s; timer: %s; %s\n", cpu, tm_timer_name(), OPENSSL_VERSION_TEXT);
        fprintf(fs[k],
                "# measurements per path: %zu (+ warm-up); seed: %" PRIu64
                "; threshold |t| < %.1f\n",
                n, seed, thr);
        fprintf(fs[k], "# median0/1: per-class median; crop: percentile kept at max|t|; "
                       "detect: smallest mean difference (4.5 s.e.) this run flags\n");
        header(fs[k]);
        fflush(fs[k]);
    }

    int leak = 0, missed = 0, false_alarm = 0, ran = 0;
    for (size_t i = 0; i < np; i++) {
        const struct tm_path *p = &paths[i];
        if (only && !in_list(only, p->name, 1))
            continue;
        struct tm_result r;
        ran++;
        if (tm_measure(p, n, &r)) {
            fprintf(stderr, "timing: %s: setup failed\n", p->name);
            return 2;
        }
        int over = !(fabs(r.max_t) < thr);
        const char *verdict = over ? "LEAK" : "ok";
        if (self) {
            int planted = !strncmp(p->name, "leaky-", 6);
            if (planted && !over) {
                missed = 1;
                verdict = "NOT DETECTED (harness blind)";
            } else if (planted) {
                verdict = "detected (planted leak)";
            } else if (over) {
                false_alarm = 1;
                verdict = "FLAGGED (control: harness too noisy)";
            }
        } else if (over && in_list(except, p->name, 0)) {
            verdict = "exception (documented)";
        } else if (over) {
            leak = 1;
        }
        for (int k = 0; k < 2; k++)
            if (fs[k]) {
                row(fs[k], p->name, &r, verdict);
                fflush(fs[k]);
            }
    }
    if (rf)
        fclose(rf);
    if (!ran) {
        fprintf(stderr, "timing: no path matches --only %s\n", only ? only : "");
        return 2;
    }
    if (self)
        return missed ? 1 : false_alarm ? 3 : 0;
    return leak;
}
