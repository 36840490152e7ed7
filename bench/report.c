/*
 * kitls-bench, output: the table of the handshake, allocation, throughput
 * and raw libcrypto parts, and the whole JSON report (the latency and
 * memory parts come from bench/scen_report.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bench.h"
#include "libs.h"

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static char cpu_model[128] = "unknown";

void read_cpu_model(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                p[strcspn(p, "\n")] = 0;
                snprintf(cpu_model, sizeof(cpu_model), "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

static const char *kitls_ver(void)
{
#ifndef KITLS_BENCH_NO_KITLS
    return kitls_version();
#else
    return "(not built)";
#endif
}

static void print_ratio(double a, double b)
{
    if (a > 0 && b > 0)
        printf("%8.2fx", a / b);
    else
        printf("%9s", "-");
}

/* raw EVP seal+open MB/s for the records a write of size zi makes: 1 KiB
 * records, or 16 KiB records (a 1 MiB write is 64 of them) */
static double raw_for_size(int si, int zi)
{
    return tput_size[zi] < REC_LEN ? raw.aead_mbs_1k[si] : raw.aead_mbs[si];
}

static void print_tput_sizes(void)
{
    printf("Record throughput by write size, cpu time (MB/s); raw = EVP seal+open of the same\n"
           "records (a 1 MiB write is 64 records of 16 KiB):\n");
    printf("  %-28s %5s %9s %9s %6s | %9s %7s %7s\n", "suite", "write", "kitls", "openssl", "k/o",
           "raw EVP", "kitls", "ossl");
    for (int si = 0; si < NSUITES; si++)
        for (int zi = 0; zi < NSIZES; zi++) {
            struct tput_result *k = &tput_res[0][si][zi], *o = &tput_res[1][si][zi];
            double rw = raw.done ? raw_for_size(si, zi) : 0;
            if (!tput_on[zi])
                continue;
            printf("  %-28s %5s %9.1f %9.1f", suites[si].name, tput_size_name[zi],
                   k->ok ? k->med_cpu : 0, o->ok ? o->med_cpu : 0);
            if (k->ok && o->ok)
                printf(" %5.2fx |", k->med_cpu / o->med_cpu);
            else
                printf(" %6s |", "-");
            if (rw > 0)
                printf(" %9.1f %6.1f%% %6.1f%%\n", rw, k->ok ? 100 * k->med_cpu / rw : 0,
                       o->ok ? 100 * o->med_cpu / rw : 0);
            else
                printf(" %9s\n", "-");
        }
    printf("  target (issue #9): kitls >= 90%% of raw AEAD at 16 KiB\n\n");
}

void print_table(void)
{
    printf("kitls-bench: kitls %s vs %s\n", kitls_ver(), OpenSSL_version(OPENSSL_VERSION));
    printf("cpu: %s; rounds %d (median), %.2f s per measurement%s, %u MiB per suite\n\n", cpu_model,
           opt.rounds, opt.seconds, opt.count ? " (or --count)" : "", opt.mib);
    if (opt.do_hs) {
        printf("Full handshakes (%s, ECDSA P-256, %s, verify on, no tickets), both sides",
               opt.group, suites[HS_SUITE].name);
        if (n_leaves > 1)
            printf(", %d distinct server leaves in rotation", n_leaves);
        printf(":\n");
        printf("  %-8s %12s %16s\n", "library", "hs/s (wall)", "hs/s (cpu time)");
        for (int lib = 0; lib < 2; lib++) {
            if (!lib_enabled(lib))
                continue;
            if (hs_res[lib].ok)
                printf("  %-8s %12.1f %16.1f\n", lib_name[lib], hs_res[lib].med,
                       hs_res[lib].med_cpu);
            else
                printf("  %-8s %12s  (%s)\n", lib_name[lib], "FAIL", hs_res[lib].err);
        }
        printf("  ratio kitls/openssl: ");
        print_ratio(hs_res[0].med, hs_res[1].med);
        printf(" (cpu time: ");
        print_ratio(hs_res[0].med_cpu, hs_res[1].med_cpu);
        printf(")");
        if (hs_paired_ratio > 0)
            printf("   (median of per-round ratios %.2fx; issue #9 target >= 3.00x)\n",
                   hs_paired_ratio);
        else
            printf("   (issue #9 target >= 3.00x)\n");
        if (raw.done) {
            printf("  libcrypto public-key bound: %.1f hs/s (%.1f us per handshake)\n",
                   raw.hs_bound, raw.hs_pk_us);
            for (int lib = 0; lib < 2; lib++)
                if (lib_enabled(lib) && hs_res[lib].ok)
                    printf("  %-8s fraction of bound (cpu time): %.1f%%; of the bound with an "
                           "uncached leaf parse: %.1f%%\n",
                           lib_name[lib], 100 * hs_res[lib].med_cpu / raw.hs_bound,
                           100 * hs_res[lib].med_cpu / raw.hs_pk_parse_bound);
        }
        printf("\n");
    }
    if (opt.do_alloc) {
        printf(
            "Heap per handshake (whole process; libcrypto+libssl part via CRYPTO_set_mem_functions%s):\n",
            g_ossl_hooked ? "" : " - NOT available");
        printf("  %-8s %10s %12s %14s %14s %12s\n", "library", "allocs/hs", "of which ossl",
               "peak bytes/hs", "live/est.pair", "wire c>s/s>c");
        for (int lib = 0; lib < 2; lib++) {
            struct hs_result *r = &hs_res[lib];
            if (!lib_enabled(lib))
                continue;
            if (r->have_alloc && g_heap_hooked)
                printf("  %-8s %10.1f %12.1f %14lld %14lld %6zu/%zu\n", lib_name[lib], r->allocs,
                       r->ossl_allocs, r->hs_peak, r->pair_live, r->c2s, r->s2c);
            else if (r->have_alloc)
                printf("  %-8s %10s %12.1f %14s %14s %6zu/%zu\n", lib_name[lib], "n/a",
                       r->ossl_allocs, "n/a", "n/a", r->c2s, r->s2c);
            else
                printf("  %-8s %10s  (%s)\n", lib_name[lib], "FAIL", r->err);
        }
        printf("\n");
    }
    if (opt.do_tput) {
        printf(
            "Record throughput, 16 KiB writes, client->server, encrypt+decrypt (MB/s, 1e6 B):\n");
        printf("  %-28s %8s %8s %6s | %8s %8s %6s", "", "wall", "", "", "cpu time", "", "");
        if (raw.done)
            printf(" | %8s %6s %6s", "raw EVP", "of raw", "");
        printf("\n  %-28s %8s %8s %6s | %8s %8s %6s", "suite", "kitls", "openssl", "k/o", "kitls",
               "openssl", "k/o");
        if (raw.done)
            printf(" | %8s %6s %6s", "cpu", "kitls", "ossl");
        printf("\n");
        for (int si = 0; si < NSUITES; si++) {
            struct tput_result *k = &tput_res[0][si][TPUT_16K], *o = &tput_res[1][si][TPUT_16K];
            printf("  %-28s", suites[si].name);
            if (k->ok)
                printf(" %8.1f", k->med);
            else
                printf(" %8s", lib_enabled(0) ? "FAIL" : "-");
            if (o->ok)
                printf(" %8.1f", o->med);
            else
                printf(" %8s", lib_enabled(1) ? "FAIL" : "-");
            if (k->ok && o->ok)
                printf(" %5.2fx |", k->med / o->med);
            else
                printf(" %6s |", "-");
            printf(" %8.1f %8.1f", k->ok ? k->med_cpu : 0, o->ok ? o->med_cpu : 0);
            if (k->ok && o->ok)
                printf(" %5.2fx", k->med_cpu / o->med_cpu);
            else
                printf(" %6s", "-");
            if (raw.done) {
                printf(" | %8.1f", raw.aead_mbs[si]);
                if (k->ok)
                    printf(" %5.1f%%", 100 * k->med_cpu / raw.aead_mbs[si]);
                else
                    printf(" %6s", "-");
                if (o->ok)
                    printf(" %5.1f%%", 100 * o->med_cpu / raw.aead_mbs[si]);
                else
                    printf(" %6s", "-");
            }
            printf("\n");
        }
        for (int si = 0; si < NSUITES; si++)
            for (int lib = 0; lib < 2; lib++)
                if (lib_enabled(lib) && !tput_res[lib][si][TPUT_16K].ok &&
                    tput_res[lib][si][TPUT_16K].err[0])
                    printf("  note: %s %s: %s\n", lib_name[lib], suites[si].short_name,
                           tput_res[lib][si][TPUT_16K].err);
        printf(
            "  target: kitls >= openssl for every suite; \"of raw\" = cpu-time MB/s / raw EVP\n\n");
        print_tput_sizes();
    }
    if (raw.done) {
        printf("Raw libcrypto (EVP), one core, thread CPU time, best of %d rounds:\n", opt.rounds);
        for (int si = 0; si < NSUITES; si++)
            printf("  %-18s seal+open 16 KiB: %8.1f MB/s   seal only: %8.1f MB/s   "
                   "seal+open 1 KiB: %8.1f MB/s\n",
                   suites[si].cipher, raw.aead_mbs[si], raw.aead_seal[si], raw.aead_mbs_1k[si]);
        printf("  X25519 keygen          %8.1f us\n", raw.x25519_keygen_us);
        printf("  X25519 import+derive   %8.1f us\n", raw.x25519_derive_us);
        printf("  ECDSA P-256 sign       %8.1f us\n", raw.ecdsa_sign_us);
        printf("  ECDSA P-256 verify     %8.1f us\n", raw.ecdsa_verify_us);
        printf("  X509_verify (chain)    %8.1f us\n", raw.x509_verify_us);
        printf("  per handshake: 2 keygen + 2 derive + sign + 2 verify = %.1f us -> <= %.1f hs/s\n",
               raw.hs_pk_us, raw.hs_bound);
        printf("  d2i_X509 (leaf parse)  %8.1f us  (not in the bound; with it: <= %.1f hs/s)\n",
               raw.x509_parse_us, raw.hs_pk_parse_bound);
    }
}

FILE *jout;

void json_num(const char *key, double v, int ok, const char *sep)
{
    if (ok)
        fprintf(jout, "\"%s\": %.3f%s", key, v, sep);
    else
        fprintf(jout, "\"%s\": null%s", key, sep);
}

void json_str(const char *s)
{
    fputc('"', jout);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(jout, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(jout, "\\u%04x", *s);
        else
            fputc(*s, jout);
    }
    fputc('"', jout);
}

void print_json(void)
{
    fprintf(jout, "{\n  \"kitls_version\": ");
    json_str(kitls_ver());
    fprintf(jout, ",\n  \"openssl_version\": ");
    json_str(OpenSSL_version(OPENSSL_VERSION));
    fprintf(jout, ",\n  \"cpu\": ");
    json_str(cpu_model);
    fprintf(jout,
            ",\n  \"rounds\": %d, \"seconds\": %.3f, \"mib\": %u, \"count\": %ld, \"certs\": %d,\n",
            opt.rounds, opt.seconds, opt.mib, opt.count, n_leaves);
    if (opt.do_hs || opt.do_alloc) {
        fprintf(jout,
                "  \"handshake\": {\n    \"suite\": \"%s\", \"group\": \"x25519\", "
                "\"sigalg\": \"ecdsa_secp256r1_sha256\",\n",
                suites[HS_SUITE].name);
        for (int lib = 0; lib < 2; lib++) {
            struct hs_result *r = &hs_res[lib];
            fprintf(jout, "    \"%s\": {", lib_name[lib]);
            if (!lib_enabled(lib)) {
                fprintf(jout, "\"enabled\": false},\n");
                continue;
            }
            fprintf(jout, "\"ok\": %s, ", r->ok ? "true" : "false");
            if (!r->ok) {
                fprintf(jout, "\"error\": ");
                json_str(r->err);
                fprintf(jout, ", ");
            }
            json_num("per_sec", r->med, r->ok && opt.do_hs, ", ");
            json_num("per_cpu_sec", r->med_cpu, r->ok && opt.do_hs, ", ");
            fprintf(jout, "\"rounds\": [");
            for (int i = 0; i < opt.rounds; i++)
                fprintf(jout, "%.1f%s", opt.do_hs ? r->rate[i] : 0.0,
                        i + 1 < opt.rounds ? ", " : "");
            fprintf(jout, "], \"rounds_cpu\": [");
            for (int i = 0; i < opt.rounds; i++)
                fprintf(jout, "%.1f%s", opt.do_hs ? r->rate_cpu[i] : 0.0,
                        i + 1 < opt.rounds ? ", " : "");
            fprintf(jout, "], ");
            json_num("allocs", r->allocs, r->have_alloc && g_heap_hooked, ", ");
            json_num("ossl_allocs", r->ossl_allocs, r->have_alloc && g_ossl_hooked, ", ");
            json_num("peak_bytes", (double)r->hs_peak, r->have_alloc && g_heap_hooked, ", ");
            json_num("live_bytes_established_pair", (double)r->pair_live,
                     r->have_alloc && g_heap_hooked, ", ");
            json_num("wire_c2s", (double)r->c2s, r->have_alloc, ", ");
            json_num("wire_s2c", (double)r->s2c, r->have_alloc, "");
            fprintf(jout, "},\n");
        }
        fprintf(jout, "    ");
        json_num("ratio", hs_res[0].med / (hs_res[1].med > 0 ? hs_res[1].med : 1),
                 hs_res[0].ok && hs_res[1].ok && opt.do_hs, ",\n    ");
        json_num("paired_ratio", hs_paired_ratio, hs_paired_ratio > 0, ",\n    ");
        json_num("paired_ratio_cpu", hs_paired_ratio_cpu, hs_paired_ratio_cpu > 0, ",\n    ");
        json_num("ratio_cpu", hs_res[0].med_cpu / (hs_res[1].med_cpu > 0 ? hs_res[1].med_cpu : 1),
                 hs_res[0].ok && hs_res[1].ok && opt.do_hs, ",\n    ");
        json_num("pk_bound_per_sec", raw.hs_bound, raw.done, ",\n    ");
        json_num("pk_parse_bound_per_sec", raw.hs_pk_parse_bound, raw.done, "");
        fprintf(jout, "\n  },\n");
    }
    if (opt.do_tput) {
        fprintf(jout, "  \"throughput_mbs\": {\n");
        for (int si = 0; si < NSUITES; si++) {
            struct tput_result *k = &tput_res[0][si][TPUT_16K], *o = &tput_res[1][si][TPUT_16K];
            fprintf(jout, "    \"%s\": {", suites[si].name);
            json_num("kitls", k->med, k->ok, ", ");
            json_num("openssl", o->med, o->ok, ", ");
            json_num("ratio", k->med / (o->med > 0 ? o->med : 1), k->ok && o->ok, ", ");
            json_num("kitls_cpu", k->med_cpu, k->ok, ", ");
            json_num("openssl_cpu", o->med_cpu, o->ok, ", ");
            json_num("ratio_cpu_paired", k->paired_cpu, k->ok && o->ok, ", ");
            json_num("raw_evp", raw.done ? raw.aead_mbs[si] : 0, raw.done, "");
            if (!k->ok && k->err[0]) {
                fprintf(jout, ", \"kitls_error\": ");
                json_str(k->err);
            }
            if (!o->ok && o->err[0]) {
                fprintf(jout, ", \"openssl_error\": ");
                json_str(o->err);
            }
            fprintf(jout, "}%s\n", si + 1 < NSUITES ? "," : "");
        }
        fprintf(jout, "  },\n  \"throughput_sizes\": {\n");
        for (int si = 0; si < NSUITES; si++) {
            fprintf(jout, "    \"%s\": {\n", suites[si].name);
            for (int zi = 0; zi < NSIZES; zi++) {
                struct tput_result *k = &tput_res[0][si][zi], *o = &tput_res[1][si][zi];
                fprintf(jout, "      \"%s\": {\"bytes\": %zu, ", tput_size_name[zi], tput_size[zi]);
                json_num("kitls", k->med, k->ok, ", ");
                json_num("openssl", o->med, o->ok, ", ");
                json_num("kitls_cpu", k->med_cpu, k->ok, ", ");
                json_num("openssl_cpu", o->med_cpu, o->ok, ", ");
                json_num("ratio_cpu", k->med_cpu / (o->med_cpu > 0 ? o->med_cpu : 1),
                         k->ok && o->ok, ", ");
                json_num("ratio_cpu_paired", k->paired_cpu, k->ok && o->ok, ", ");
                json_num("raw_evp", raw.done ? raw_for_size(si, zi) : 0, raw.done, ", ");
                json_num("kitls_of_raw", raw.done && k->ok ? k->med_cpu / raw_for_size(si, zi) : 0,
                         raw.done && k->ok, "");
                fprintf(jout, "}%s\n", zi + 1 < NSIZES ? "," : "");
            }
            fprintf(jout, "    }%s\n", si + 1 < NSUITES ? "," : "");
        }
        fprintf(jout, "  },\n");
    }
    if (opt.do_lat || opt.do_mem)
        scen_print_json();
    if (opt.do_peers)
        peers_print_json();
    fprintf(jout, "  \"raw\": {");
    if (raw.done) {
        fprintf(jout, "\n    \"aead_seal_open_mbs\": {");
        for (int si = 0; si < NSUITES; si++)
            fprintf(jout, "\"%s\": %.1f%s", suites[si].cipher, raw.aead_mbs[si],
                    si + 1 < NSUITES ? ", " : "");
        fprintf(jout, "},\n    \"aead_seal_mbs\": {");
        for (int si = 0; si < NSUITES; si++)
            fprintf(jout, "\"%s\": %.1f%s", suites[si].cipher, raw.aead_seal[si],
                    si + 1 < NSUITES ? ", " : "");
        fprintf(jout, "},\n    \"aead_seal_open_1k_mbs\": {");
        for (int si = 0; si < NSUITES; si++)
            fprintf(jout, "\"%s\": %.1f%s", suites[si].cipher, raw.aead_mbs_1k[si],
                    si + 1 < NSUITES ? ", " : "");
        fprintf(jout,
                "},\n    \"p256_keygen_us\": %.2f, \"p256_derive_us\": %.2f, "
                "\"rsa2048_pss_sign_us\": %.2f, \"rsa2048_pss_verify_us\": %.2f, "
                "\"rsa2048_x509_verify_us\": %.2f, \"ed25519_sign_us\": %.2f, "
                "\"ed25519_verify_us\": %.2f, \"ed25519_x509_verify_us\": %.2f",
                raw.p256_keygen_us, raw.p256_derive_us, raw.rsa_sign_us, raw.rsa_verify_us,
                raw.rsa_x509_verify_us, raw.ed_sign_us, raw.ed_verify_us, raw.ed_x509_verify_us);
        fprintf(jout,
                ",\n    \"x25519_keygen_us\": %.2f, \"x25519_derive_us\": %.2f, "
                "\"ecdsa_p256_sign_us\": %.2f, \"ecdsa_p256_verify_us\": %.2f, "
                "\"x509_verify_us\": %.2f,\n    \"handshake_pk_us\": %.2f, "
                "\"handshake_bound_per_sec\": %.1f, \"x509_parse_us\": %.2f, "
                "\"handshake_bound_with_parse_per_sec\": %.1f\n  ",
                raw.x25519_keygen_us, raw.x25519_derive_us, raw.ecdsa_sign_us, raw.ecdsa_verify_us,
                raw.x509_verify_us, raw.hs_pk_us, raw.hs_bound, raw.x509_parse_us,
                raw.hs_pk_parse_bound);
    }
    fprintf(jout, "}\n}\n");
}
