/*
 * kitls-bench, scenarios: the raw public-key figures each scenario's bound
 * needs (P-256 ECDHE, RSA-2048 PSS and Ed25519 certificates; X25519 and
 * ECDSA P-256 come from tput.c), and the tables and JSON of the latency
 * and memory parts.
 */
#define _GNU_SOURCE
#include <string.h>

#include <openssl/rsa.h>

#include "scenarios.h"

/* ------------------------------------------------------------------ */
/* Raw public-key figures for the scenarios' bound                     */
/* ------------------------------------------------------------------ */

/* P-256 ECDHE: keygen + export of the share; import of a peer share + derive. */
static void raw_p256(void)
{
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *a = NULL, *b = NULL;
    uint8_t *pub = NULL, secret[32];
    size_t publen;
    double kg, dr;
    if (kctx == NULL || EVP_PKEY_keygen_init(kctx) <= 0 ||
        EVP_PKEY_CTX_set_group_name(kctx, "P-256") <= 0)
        die("P-256 keygen ctx");
    TIME_LOOP(kg, {
        EVP_PKEY *k = NULL;
        uint8_t *p = NULL;
        if (EVP_PKEY_keygen(kctx, &k) <= 0 || EVP_PKEY_get1_encoded_public_key(k, &p) != 65)
            die("P-256 keygen");
        OPENSSL_free(p);
        EVP_PKEY_free(k);
    });
    if (EVP_PKEY_keygen(kctx, &a) <= 0 || EVP_PKEY_keygen(kctx, &b) <= 0 ||
        (publen = EVP_PKEY_get1_encoded_public_key(b, &pub)) != 65)
        die("P-256 keygen");
    TIME_LOOP(dr, {
        EVP_PKEY *peer = EVP_PKEY_new();
        EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(a, NULL);
        size_t sl = sizeof(secret);
        if (peer == NULL || dctx == NULL || !EVP_PKEY_copy_parameters(peer, a) ||
            !EVP_PKEY_set1_encoded_public_key(peer, pub, publen) ||
            EVP_PKEY_derive_init(dctx) <= 0 || EVP_PKEY_derive_set_peer(dctx, peer) <= 0 ||
            EVP_PKEY_derive(dctx, secret, &sl) <= 0)
            die("P-256 derive");
        EVP_PKEY_CTX_free(dctx);
        EVP_PKEY_free(peer);
    });
    keep_min(&raw.p256_keygen_us, kg);
    keep_min(&raw.p256_derive_us, dr);
    OPENSSL_free(pub);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_CTX_free(kctx);
}

/* CertificateVerify sign and verify with the leaf's key (RSA: PSS, salt =
 * digest length, as TLS 1.3 requires), and X509_verify of the leaf by its CA. */
static void raw_sig(int kind, double *sign_us, double *verify_us, double *x509_us)
{
    const struct ck *c = &cks[kind];
    EVP_PKEY *pub = X509_get0_pubkey(c->leaf), *ca_pub = X509_get0_pubkey(c->ca);
    const EVP_MD *md = kind == CK_ED25519 ? NULL : EVP_sha256();
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    uint8_t tbs[130], sig[512];
    size_t len = 0;
    double sg, vf, xv;
    memset(tbs, 0x20, 64);
    memcpy(tbs + 64, "TLS 1.3, server CertificateVerify", 34);
    memset(tbs + 98, 0x5a, 32);
    if (m == NULL)
        die("EVP_MD_CTX_new");
    TIME_LOOP(sg, {
        EVP_PKEY_CTX *pctx = NULL;
        len = sizeof(sig);
        if (EVP_DigestSignInit(m, &pctx, md, NULL, c->key) <= 0 ||
            (kind == CK_RSA &&
             (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)) ||
            EVP_DigestSign(m, sig, &len, tbs, sizeof(tbs)) <= 0)
            die("sign (%d)", kind);
        EVP_MD_CTX_reset(m);
    });
    TIME_LOOP(vf, {
        EVP_PKEY_CTX *pctx = NULL;
        if (EVP_DigestVerifyInit(m, &pctx, md, NULL, pub) <= 0 ||
            (kind == CK_RSA &&
             (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)) ||
            EVP_DigestVerify(m, sig, len, tbs, sizeof(tbs)) != 1)
            die("verify (%d)", kind);
        EVP_MD_CTX_reset(m);
    });
    TIME_LOOP(xv, {
        if (X509_verify(c->leaf, ca_pub) != 1)
            die("X509_verify (%d)", kind);
    });
    keep_min(sign_us, sg);
    keep_min(verify_us, vf);
    keep_min(x509_us, xv);
    EVP_MD_CTX_free(m);
}

void scen_raw(void)
{
    raw_p256();
    raw_sig(CK_RSA, &raw.rsa_sign_us, &raw.rsa_verify_us, &raw.rsa_x509_verify_us);
    raw_sig(CK_ED25519, &raw.ed_sign_us, &raw.ed_verify_us, &raw.ed_x509_verify_us);
}

/* Public-key work of one handshake of scenario si, µs: two key pairs and
 * two derivations, plus (full handshakes) one CertificateVerify signature,
 * its verification and the chain's signature; plus the client's unused
 * P-256 share after an HRR. */
double scen_pk_us(int si)
{
    const struct scen *sc = &scens[si];
    double us = sc->kx == KX_P256 ? 2 * (raw.p256_keygen_us + raw.p256_derive_us)
                                  : 2 * (raw.x25519_keygen_us + raw.x25519_derive_us);
    if (sc->hrr)
        us += raw.p256_keygen_us;
    if (sc->resume)
        return us;
    switch (sc->cert) {
    case CK_RSA: return us + raw.rsa_sign_us + raw.rsa_verify_us + raw.rsa_x509_verify_us;
    case CK_ED25519: return us + raw.ed_sign_us + raw.ed_verify_us + raw.ed_x509_verify_us;
    default: return us + raw.ecdsa_sign_us + raw.ecdsa_verify_us + raw.x509_verify_us;
    }
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

void scen_print_table(void)
{
    if (opt.do_lat) {
        printf("\nHandshake latency per scenario (one core, thread CPU time; latency = client + "
               "server CPU per handshake, microseconds):\n");
        printf("  %-20s %-7s %8s %6s | %7s %7s %7s | %7s %7s | %7s %7s | %8s %6s\n", "scenario",
               "library", "hs/s", "k/o", "P50", "P95", "P99", "cli P50", "cli P99", "srv P50",
               "srv P99", "pk bound", "pk %");
        for (int si = 0; si < NSCEN; si++) {
            if (!scen_on[si])
                continue;
            for (int lib = 0; lib < 2; lib++) {
                struct lat_result *r = &st[si].lat[lib];
                if (!lib_enabled(lib))
                    continue;
                if (!r->ok) {
                    printf("  %-20s %-7s FAIL (%s)\n", scens[si].name, lib_name[lib], r->err);
                    continue;
                }
                printf("  %-20s %-7s %8.1f", lib ? "" : scens[si].name, lib_name[lib], r->med_cpu);
                if (lib == L_KITLS && st[si].lat[1].ok)
                    printf(" %5.2fx", r->med_cpu / st[si].lat[1].med_cpu);
                else
                    printf(" %6s", "");
                printf(" | %7.1f %7.1f %7.1f | %7.1f %7.1f | %7.1f %7.1f |", r->p[0], r->p[1],
                       r->p[2], r->pc[0], r->pc[2], r->ps[0], r->ps[2]);
                if (raw.done)
                    printf(" %8.1f %5.1f%%", scen_pk_us(si),
                           100 * scen_pk_us(si) * r->med_cpu / 1e6);
                printf("\n");
            }
        }
        printf("  per-round (paired) kitls/openssl ratios, median, as the gate uses them:\n");
        for (int si = 0; si < NSCEN; si++)
            if (scen_on[si] && st[si].paired_rate > 0)
                printf("    %-20s hs/s %5.2fx   P50 %5.2fx\n", scens[si].name, st[si].paired_rate,
                       st[si].paired_p50);
        printf(
            "  pk bound = raw libcrypto public-key work of one handshake (us); pk %% = its share "
            "of the library's mean CPU per handshake\n  targets (issue #9): full handshakes >= "
            "3x OpenSSL, >= 80%% of handshake CPU in raw crypto\n");
    }
    if (raw.done) {
        printf("\nRaw libcrypto for the scenarios (thread CPU time, best round):\n");
        printf("  P-256 keygen %.1f us, import+derive %.1f us\n", raw.p256_keygen_us,
               raw.p256_derive_us);
        printf("  RSA-2048 PSS sign %.1f us, verify %.1f us, X509_verify %.1f us\n",
               raw.rsa_sign_us, raw.rsa_verify_us, raw.rsa_x509_verify_us);
        printf("  Ed25519 sign %.1f us, verify %.1f us, X509_verify %.1f us\n", raw.ed_sign_us,
               raw.ed_verify_us, raw.ed_x509_verify_us);
    }
    if (opt.do_mem) {
        printf("\nHeap per connection (bytes, malloc_usable_size; median of %d handshakes):\n",
               MEM_RUNS);
        if (!g_heap_hooked) {
            printf("  n/a: the malloc interposition is not active in this build\n");
            return;
        }
        printf("  %-20s %-7s | %8s %8s | %8s %8s | %8s %8s\n", "scenario", "library", "cli peak",
               "srv peak", "cli live", "srv live", "cli idle", "srv idle");
        for (int si = 0; si < NSCEN; si++)
            for (int lib = 0; lib < 2; lib++) {
                struct mem_result *m = &st[si].mem[lib];
                if (!scen_on[si] || !lib_enabled(lib))
                    continue;
                if (!m->ok) {
                    printf("  %-20s %-7s FAIL (%s)\n", scens[si].name, lib_name[lib], m->err);
                    continue;
                }
                printf("  %-20s %-7s | %8lld %8lld | %8lld %8lld | %8lld %8lld\n",
                       lib ? "" : scens[si].name, lib_name[lib], m->peak[1], m->peak[2], m->live[1],
                       m->live[2], m->idle[1], m->idle[2]);
            }
        printf("  peak = while handshaking; live = established, server's last flight read;\n"
               "  idle = the same with buffers released (kitls_conn_release_buffers;\n"
               "  OpenSSL: SSL_MODE_RELEASE_BUFFERS). Offloaded (kTLS): tests/ktls/ktls_heap.\n");
    }
}

void scen_print_json(void)
{
    if (opt.do_lat) {
        fprintf(jout, "  \"latency\": {\n");
        for (int si = 0, first = 1; si < NSCEN; si++) {
            if (!scen_on[si])
                continue;
            fprintf(jout, "%s    \"%s\": {\n", first ? "" : ",\n", scens[si].name);
            first = 0;
            for (int lib = 0; lib < 2; lib++) {
                struct lat_result *r = &st[si].lat[lib];
                static const char *pn[3] = {"p50_us", "p95_us", "p99_us"};
                fprintf(jout, "      \"%s\": {\"ok\": %s, ", lib_name[lib],
                        r->ok ? "true" : "false");
                if (!r->ok && r->err[0]) {
                    fprintf(jout, "\"error\": ");
                    json_str(r->err);
                    fprintf(jout, ", ");
                }
                json_num("per_cpu_sec", r->med_cpu, r->ok, ", ");
                for (int i = 0; i < 3; i++)
                    json_num(pn[i], r->p[i], r->ok, ", ");
                for (int i = 0; i < 3; i++) {
                    char key[32];
                    snprintf(key, sizeof(key), "client_%s", pn[i]);
                    json_num(key, r->pc[i], r->ok, ", ");
                    snprintf(key, sizeof(key), "server_%s", pn[i]);
                    json_num(key, r->ps[i], r->ok, ", ");
                }
                fprintf(jout, "\"n\": %ld, \"rounds_cpu\": [", r->sm.n);
                for (int i = 0; i < opt.rounds; i++)
                    fprintf(jout, "%.1f%s", r->rate_cpu[i], i + 1 < opt.rounds ? ", " : "");
                fprintf(jout, "]},\n");
            }
            fprintf(jout, "      ");
            json_num("ratio_cpu",
                     st[si].lat[0].med_cpu /
                         (st[si].lat[1].med_cpu > 0 ? st[si].lat[1].med_cpu : 1),
                     st[si].lat[0].ok && st[si].lat[1].ok, ", ");
            json_num("ratio_cpu_paired", st[si].paired_rate, st[si].paired_rate > 0, ", ");
            json_num("p50_ratio_paired", st[si].paired_p50, st[si].paired_p50 > 0, ", ");
            json_num("pk_bound_us", raw.done ? scen_pk_us(si) : 0, raw.done, ", ");
            json_num("kitls_pk_share", raw.done ? scen_pk_us(si) * st[si].lat[0].med_cpu / 1e6 : 0,
                     raw.done && st[si].lat[0].ok, "");
            fprintf(jout, "\n    }");
        }
        fprintf(jout, "\n  },\n");
    }
    if (opt.do_mem) {
        fprintf(jout, "  \"memory\": {\n");
        for (int si = 0, first = 1; si < NSCEN; si++) {
            if (!scen_on[si])
                continue;
            fprintf(jout, "%s    \"%s\": {", first ? "" : ",\n", scens[si].name);
            first = 0;
            for (int lib = 0; lib < 2; lib++) {
                struct mem_result *m = &st[si].mem[lib];
                fprintf(jout, "\"%s\": {", lib_name[lib]);
                json_num("client_peak", (double)m->peak[1], m->ok, ", ");
                json_num("server_peak", (double)m->peak[2], m->ok, ", ");
                json_num("client_live", (double)m->live[1], m->ok, ", ");
                json_num("server_live", (double)m->live[2], m->ok, ", ");
                json_num("client_idle", (double)m->idle[1], m->ok, ", ");
                json_num("server_idle", (double)m->idle[2], m->ok, "");
                fprintf(jout, "}%s", lib ? "" : ", ");
            }
            fprintf(jout, "}");
        }
        fprintf(jout, "\n  },\n");
    }
}
