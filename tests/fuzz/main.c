/*
 * Plain main() for the fuzz targets, used without libFuzzer: replays
 * files (and every regular file of directories, sorted) through
 * LLVMFuzzerTestOneInput, so `make check` and tests/fuzz/replay.sh run the
 * corpora and regressions under the normal (or a sanitizer) build.
 *
 *   TARGET [-v] PATH...           replay; exit 0 if no input crashed
 *   TARGET --write-seeds DIR      write the target's seed inputs into DIR
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verbose;
static size_t n_inputs;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    size_t cap = 4096, len = 0, r;
    uint8_t *buf = malloc(cap);
    while (buf && (r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    if (verbose) {
        printf("%s (%zu bytes)\n", path, len);
        fflush(stdout);
    }
    /* A copy of exactly `len` bytes, so reads past the end are caught. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    n_inputs++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "%s: not found\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path);
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, by_name), ret = 0;
    if (n < 0) {
        fprintf(stderr, "%s: cannot read\n", path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char p[4096];
        if (ents[i]->d_name[0] != '.') {
            snprintf(p, sizeof(p), "%s/%s", path, ents[i]->d_name);
            if (!stat(p, &st) && S_ISREG(st.st_mode) && run_file(p))
                ret = -1;
        }
        free(ents[i]);
    }
    free(ents);
    return ret;
}

int main(int argc, char **argv)
{
    int i = 1, ret = 0;
    if (argc == 3 && !strcmp(argv[1], "--write-seeds")) {
        fz_init();
        fz_write_seeds(argv[2]);
        return 0;
    }
    if (i < argc && !strcmp(argv[i], "-v")) {
        verbose = 1;
        i++;
    }
    if (i == argc) {
        fprintf(stderr, "usage: %s [-v] FILE|DIR...  |  %s --write-seeds DIR\n", argv[0], argv[0]);
        return 2;
    }
    for (; i < argc; i++)
        if (run_path(argv[i]))
            ret = 1;
    printf("%s: %zu inputs replayed%s\n", argv[0], n_inputs, ret ? " (some unreadable)" : "");
    return ret;
}
