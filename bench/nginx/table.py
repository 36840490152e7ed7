#!/usr/bin/env python3
"""bench/nginx/table.py RESULTS: the markdown table of bench/nginx/run.sh.

RESULTS lines (bench/nginx/guest.sh): run mode case server unit work cpu_s
errors TlsTxSw=+n TlsRxSw=+n TlsTxDevice=+n TlsDecryptError=+n softirq=+n.
Per run, mode and case the pair (nginx, kitls) gives one ratio; the table
shows median [min..max] of the ratios and of each server's own figures.
"""
import statistics
import sys


def med(v):
    if not v:
        return "-"
    f = (lambda x: f"{x:.2f}") if max(v) < 100 else (lambda x: f"{x:.0f}")
    return f"{f(statistics.median(v))} [{f(min(v))}..{f(max(v))}]"


rows = {}
errors = 0
comments = []
for line in open(sys.argv[1]):
    if line.startswith("#"):
        comments.append(line.strip("# \n"))
        continue
    f = line.split()
    if len(f) < 8:
        continue
    run, mode, case, srv, unit, work, cpu, err = f[:8]
    extra = dict(x.split("=") for x in f[8:] if "=" in x)
    errors += int(err)
    work, cpu = float(work), float(cpu)
    if case == "big":
        metric = cpu / work if work else float("nan")  # server CPU s per GiB
    else:
        metric = work / cpu if cpu else float("nan")  # requests per server CPU-s
    rows[(mode, case, srv, run)] = (metric, extra, int(err))

names = {"big": "big file: server CPU s per GiB (kitls/nginx: lower is better, target <= 0.80)",
         "ka": "small files, keep-alive: requests per server CPU-s (kitls/nginx, target >= 1.50)",
         "fresh": "small files, fresh connections: requests per server CPU-s (kitls/nginx, target >= 1.50)"}
for c in comments:
    print(f"- {c}")
print()
print("| mode | case | server | nginx | server's own | server / nginx per pair, median [min..max] | pairs |")
print("|---|---|---|---|---|---|---|")
for mode in ("ktls", "user"):
    for case in ("big", "ka", "fresh"):
        for srv in ("kitls", "base"):
            runs = sorted({k[3] for k in rows if k[:3] == (mode, case, srv)}, key=int)
            if not runs:
                continue
            ng = [rows[(mode, case, "nginx", r)][0] for r in runs if (mode, case, "nginx", r) in rows]
            kt = [rows[(mode, case, srv, r)][0] for r in runs]
            ratios = [rows[(mode, case, srv, r)][0] / rows[(mode, case, "nginx", r)][0]
                      for r in runs if (mode, case, "nginx", r) in rows
                      and rows[(mode, case, "nginx", r)][0] > 0]
            name = "kitls" if srv == "kitls" else "base (--base build)"
            print(f"| {mode} | {case} | {name} | {med(ng)} | {med(kt)} | {med(ratios)} | {len(ratios)} |")
print()
for case in ("big", "ka", "fresh"):
    print(f"- {case}: {names[case]}")
print()
print("tls_stat deltas per measurement (median over runs; TlsTxSw/TlsRxSw count sockets "
      "that offloaded transmit/receive):")
print()
print("| mode | case | server | TlsTxSw | TlsRxSw | TlsDecryptError | softirq ticks |")
print("|---|---|---|---|---|---|---|")
for mode in ("ktls", "user"):
    for case in ("big", "ka", "fresh"):
        for srv in ("nginx", "kitls", "base"):
            ex = [v[1] for k, v in rows.items() if k[:3] == (mode, case, srv)]
            if not ex:
                continue
            g = lambda key: statistics.median([int(e.get(key, "+0")) for e in ex])
            print(f"| {mode} | {case} | {srv} | {g('TlsTxSw'):.0f} | {g('TlsRxSw'):.0f} | "
                  f"{g('TlsDecryptError'):.0f} | {g('softirq'):.0f} |")
print()
print(f"errors (failed requests, sha256 or body mismatches): {errors}")
sys.exit(1 if errors else 0)
