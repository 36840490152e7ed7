#!/usr/bin/env python3
"""Markdown tables for docs/performance.md from one bench/run.sh result:

    bench/mdtables.py bench/results/bench-<time>.json

prints the peers table (kitls, OpenSSL, GnuTLS, rustls in one run), the
latency, throughput-by-size, heap-per-connection, loopback (if the
-loopback.json beside it exists) and raw tables.  Stdlib only.
"""
import json
import os
import sys

SCEN = [("full-x25519-ecdsa", "full, X25519, ECDSA P-256"),
        ("full-p256-ecdsa", "full, P-256, ECDSA P-256"),
        ("full-x25519-rsa2048", "full, X25519, RSA-2048"),
        ("full-x25519-ed25519", "full, X25519, Ed25519"),
        ("hrr-p256-x25519", "HRR (P-256 share → X25519), ECDSA"),
        ("resumed-x25519", "resumed (psk_dhe_ke, X25519)")]
SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
SIZES = [("1k", "1 KiB"), ("16k", "16 KiB"), ("1m", "1 MiB")]


def f0(v):
    return "%.0f" % v if v is not None else "-"


PEER_ROWS = [("full_cv", "full handshakes (CertificateVerify checked, chain not verified)"),
             ("full_chain", "full handshakes, chain verified to the root + hostname"),
             ("first_contact", "first-contact full handshakes (leaf never seen, chain verified)"),
             ("resumed", "resumed (psk_dhe_ke, 1 ticket, chained)"),
             ("aes128gcm", "AES-128-GCM bulk (16 KiB writes, enc+dec)"),
             ("chacha20", "ChaCha20-Poly1305 bulk"),
             ("heap_established", "heap per established connection (malloc-measured)"),
             ("heap_idle", "heap per idle connection (buffers released where possible)"),
             ("allocs_full", "allocations per full handshake (client + server)"),
             ("allocs_resumed", "allocations per resumed handshake (client + server)")]
PEER_LIBS = [("openssl", "OpenSSL"), ("gnutls", "GnuTLS"), ("rustls", "rustls"),
             ("kitls", "kitls")]


def spread(v):
    return "%.2f [%.2f..%.2f]" % tuple(v)


def peers_table(p):
    libs = [(k, n) for k, n in PEER_LIBS if k in p["libs"]]
    print("| per second / per connection | %s | kitls ÷ best peer | crypto-only bound |"
          % " | ".join("%s %s" % (n, p["libs"][k].split()[-1] if k != "openssl"
                                  else p["libs"][k].split()[1]) for k, n in libs))
    print("|---|%s---|---|" % ("---|" * len(libs)))
    for key, label in PEER_ROWS:
        r = p["rows"].get(key)
        if r is None:
            continue
        cells = []
        lower = r.get("better") == "lower"
        for k, _ in libs:
            x = r.get(k, {})
            if lower:
                v = x.get("value")
                if v is None:
                    cells.append("FAIL")
                elif key.startswith("heap"):
                    cells.append("%.1f KB%s" % (v / 1000, " (no release)"
                                                if key == "heap_idle" and not x.get("released")
                                                else ""))
                else:
                    cells.append("%.0f" % v)
            elif x.get("median") is None:
                cells.append("FAIL")
            elif k == "openssl" or x.get("ratio_openssl") is None:
                cells.append("1.00 (%.0f%s)" % (x["median"], " MB/s" if "bulk" in label
                                                 or key in ("aes128gcm", "chacha20") else "/s"))
            else:
                cells.append(spread(x["ratio_openssl"]))
        b = r.get("kitls_over_best_peer")
        if b is None:
            best = "-"
        elif lower:
            best = "%.2f× (%s)" % (b, r.get("best_peer"))
        else:
            best = "%s (%s)" % (spread(b), r.get("best_peer"))
        bound = r.get("crypto_bound")
        kit = r.get("kitls", {}).get("median")
        bcell = "%.0f%s, kitls %.0f%%" % (bound, " MB/s" if key in ("aes128gcm", "chacha20")
                                         else "/s", 100 * kit / bound) if bound and kit else ""
        print("| %s | %s | %s | %s |" % (label, " | ".join(cells), best, bcell))
    print()


def main(path):
    d = json.load(open(path))
    if d.get("peers"):
        peers_table(d["peers"])
    lat = d.get("latency", {})
    if lat:
        print("| scenario | library | hs/s | kitls/OpenSSL (paired) | P50 | P95 | P99 | client P50 "
              "| client P99 | server P50 | server P99 | pk bound (µs) | pk share |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, label in SCEN:
            if key not in lat:
                continue
            v = lat[key]
            for lib in ("kitls", "openssl"):
                r = v[lib]
                if not r.get("ok"):
                    continue
                ratio = "**%.2f×**" % v["ratio_cpu_paired"] if lib == "kitls" and v.get(
                    "ratio_cpu_paired") else ""
                share = "%.1f%%" % (100 * v["pk_bound_us"] * r["per_cpu_sec"] / 1e6) \
                    if v.get("pk_bound_us") else ""
                print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    label if lib == "kitls" else "", "kitls" if lib == "kitls" else "OpenSSL",
                    f0(r["per_cpu_sec"]), ratio, f0(r["p50_us"]), f0(r["p95_us"]), f0(r["p99_us"]),
                    f0(r["client_p50_us"]), f0(r["client_p99_us"]), f0(r["server_p50_us"]),
                    f0(r["server_p99_us"]), f0(v.get("pk_bound_us")) if lib == "kitls" else "",
                    share))
        print()
    ts = d.get("throughput_sizes", {})
    if ts:
        print("| suite | write | kitls | OpenSSL | kitls/OpenSSL (paired) | raw EVP seal+open "
              "| kitls of raw | OpenSSL of raw |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for su in SUITES:
            for z, zl in SIZES:
                x = ts[su][z]
                if x.get("kitls_cpu") is None:
                    continue
                raw = x.get("raw_evp")
                print("| %s | %s | %s | %s | **%.2f×** | %s | %s | %s |" % (
                    su if z == "1k" else "", zl, f0(x["kitls_cpu"]), f0(x["openssl_cpu"]),
                    x["ratio_cpu_paired"], f0(raw),
                    "%.1f%%" % (100 * x["kitls_cpu"] / raw) if raw else "-",
                    "%.1f%%" % (100 * x["openssl_cpu"] / raw) if raw else "-"))
        print()
    mem = d.get("memory", {})
    if mem:
        print("| scenario | library | client peak | server peak | client live | server live "
              "| client idle | server idle |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for key, label in SCEN:
            if key not in mem:
                continue
            for lib in ("kitls", "openssl"):
                m = mem[key][lib]
                print("| %s | %s | %s |" % (label if lib == "kitls" else "",
                                            "kitls" if lib == "kitls" else "OpenSSL",
                                            " | ".join(f0(m[k]) for k in (
                                                "client_peak", "server_peak", "client_live",
                                                "server_live", "client_idle", "server_idle"))))
        print()
    lbp = path.replace(".json", "-loopback.json")
    if os.path.exists(lbp):
        lb = json.load(open(lbp))
        k, o = lb["kitls"], lb["openssl"]
        print("| | kitls | OpenSSL | kitls/OpenSSL |")
        print("|---|---:|---:|---:|")
        for label, key, fmt in (
                ("`s_time -new` against the server: handshakes/s (wall)", "s_time_per_sec", "%.1f"),
                ("s_time's client, handshakes per user-CPU second", "s_time_per_user_sec", "%.0f"),
                ("**server CPU per handshake (ms)**", "s_time_server_cpu_ms", "%.3f"),
                ("%d sequential client processes: ms per connection (wall)" % lb["n"], "conn_ms",
                 "%.1f"),
                ("client CPU per connection, process start included (ms)", "conn_client_cpu_ms",
                 "%.2f"),
                ("server CPU per connection (ms)", "conn_server_cpu_ms", "%.2f"),
                ("%d MiB upload: MB/s (wall)" % lb["mib"], "transfer_mbs", "%.1f"),
                ("client CPU of the upload (s)", "transfer_client_cpu_s", "%.3f"),
                ("server CPU of the upload (s)", "transfer_server_cpu_s", "%.3f")):
            print("| %s | %s | %s | %.2f× |" % (label, fmt % k[key], fmt % o[key],
                                                k[key] / o[key] if o[key] else 0))
        print()
    raw = d.get("raw", {})
    if raw:
        a, a1 = raw["aead_seal_open_mbs"], raw["aead_seal_open_1k_mbs"]
        s = raw["aead_seal_mbs"]
        print("| operation | cost |")
        print("|---|---:|")
        for c in ("AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305"):
            print("| %s seal+open, 16 KiB / 1 KiB records | %.0f / %.0f MB/s (seal only, 16 KiB: "
                  "%.0f MB/s) |" % (c, a[c], a1[c], s[c]))
        print("| X25519 keygen / import + derive | %.1f / %.1f µs |" % (
            raw["x25519_keygen_us"], raw["x25519_derive_us"]))
        print("| P-256 keygen / import + derive | %.1f / %.1f µs |" % (
            raw["p256_keygen_us"], raw["p256_derive_us"]))
        print("| ECDSA P-256 sign / verify / `X509_verify` | %.1f / %.1f / %.1f µs |" % (
            raw["ecdsa_p256_sign_us"], raw["ecdsa_p256_verify_us"], raw["x509_verify_us"]))
        print("| RSA-2048 PSS sign / verify / `X509_verify` | %.1f / %.1f / %.1f µs |" % (
            raw["rsa2048_pss_sign_us"], raw["rsa2048_pss_verify_us"],
            raw["rsa2048_x509_verify_us"]))
        print("| Ed25519 sign / verify / `X509_verify` | %.1f / %.1f / %.1f µs |" % (
            raw["ed25519_sign_us"], raw["ed25519_verify_us"], raw["ed25519_x509_verify_us"]))
        print("| `d2i_X509` of the P-256 leaf (not in any bound) | %.1f µs |" % raw["x509_parse_us"])
        print("| one X25519 + ECDSA P-256 handshake: 2 keygen + 2 derive + sign + 2 verify "
              "| %.1f µs → ≤ %.0f hs/s |" % (raw["handshake_pk_us"], raw["handshake_bound_per_sec"]))
        print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    main(sys.argv[1])
