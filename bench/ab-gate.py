#!/usr/bin/env python3
"""The A/B regression gate's verdict (run by bench/ab.sh): tree against
baseline, from one run of bench/kitls-ab.

    ab-gate.py DIR

DIR holds det.txt (kitls-ab det, run under callgrind), cg.out.* (its
callgrind dumps, one per measured block) and, optionally, timed.txt
(kitls-ab timed).  Prints a markdown table and exits 0 (pass), 1 (a
regression) or 2 (figures missing: the gate did not run; never a pass).

Rules (bench/README.md, "A/B gate"):
  instructions per full/resumed handshake and per 16 KiB record:
      tree <= base * (1 + INSTR_TOL)
  allocations per handshake: tree <= base
  heap per established and per idle connection: tree <= base + 64 bytes
  bytes on the wire per handshake: resumed tree == base; full within
      WIRE_TOL bytes of base (the mean: DER ECDSA signatures vary in length)
  timed (CPU time, per-round ratios tree/base): fail only on a clear
      slowdown: median < 0.95, every round < 1.0 and the median below
      every round of the A/A slot (baseline against itself, same run)
"""
import glob
import os
import re
import statistics
import sys

# Largest A/A difference seen (same code as tree and base, 20 runs): 0.014 %
# (resumed handshakes; README).  An extra HKDF per handshake costs +0.38 %
# (full) and +0.72 % (resumed), an extra 16 KiB copy per record +12.8 %.
INSTR_TOL = 0.001
HEAP_TOL = 64
WIRE_TOL = 1.0
TIMED_MEDIAN = 0.95


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                try:
                    out[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    return out


def read_callgrind(d):
    """Sum of instructions and of operations per (what, copy)."""
    sums = {}
    for path in glob.glob(os.path.join(d, "cg.out.*")):
        desc, total = None, None
        with open(path) as f:
            for line in f:
                m = re.match(r"desc: Trigger: Client Request: ab (\w+) (\w+) (\d+)", line)
                if m:
                    desc = (m.group(1), m.group(2), int(m.group(3)))
                m = re.match(r"(?:summary|totals): (\d+)", line)
                if m:
                    total = int(m.group(1))
        if desc is not None and total is not None:
            ir, n = sums.get(desc[:2], (0, 0))
            sums[desc[:2]] = (ir + total, n + desc[2])
    return {k: ir / n for k, (ir, n) in sums.items() if n > 0}


def main():
    d = sys.argv[1]
    try:
        det = read_kv(os.path.join(d, "det.txt"))
    except OSError as e:
        print("ab-gate: %s" % e)
        return 2
    cg = read_callgrind(d)
    rows, missing, failed = [], [], 0

    def row(metric, t, b, rule, ok, fmt="%.0f"):
        nonlocal failed
        if t is None or b is None:
            missing.append(metric)
            rows.append((metric, "-", "-", "-", rule, "MISSING"))
            return
        delta = "%+.3f%%" % ((t / b - 1) * 100) if b else "-"
        rows.append((metric, fmt % b, fmt % t, delta, rule, "ok" if ok(t, b) else "REGRESSION"))
        failed += not ok(t, b)

    for what, name in (("full", "full handshake"), ("resumed", "resumed handshake"),
                       ("record", "16 KiB record, enc+dec"),
                       ("record1k", "1 KiB record, enc+dec")):
        row("instructions per %s" % name, cg.get((what, "tree")), cg.get((what, "base")),
            "<= base +%.1f%%" % (INSTR_TOL * 100), lambda t, b: t <= b * (1 + INSTR_TOL))
    for what in ("full", "resumed"):
        def pair(key):
            return (det.get("%s.%s.tree" % (key, what)), det.get("%s.%s.base" % (key, what)))
        row("allocations per %s handshake" % what, *pair("allocs"), "<= base",
            lambda t, b: t <= b, "%.1f")
        row("heap per established connection (%s), B" % what, *pair("heap_conn"),
            "<= base + %d B" % HEAP_TOL, lambda t, b: t <= b + HEAP_TOL)
        row("heap per idle connection (%s, buffers released), B" % what, *pair("heap_idle"),
            "<= base + %d B" % HEAP_TOL, lambda t, b: t <= b + HEAP_TOL)
        if what == "resumed":
            row("bytes on the wire per resumed handshake", *pair("wire"), "== base",
                lambda t, b: t == b, "%.1f")
        else:
            row("bytes on the wire per full handshake (mean)", *pair("wire"),
                "base ± %.0f B" % WIRE_TOL, lambda t, b: abs(t - b) <= WIRE_TOL, "%.1f")

    timed_path = os.path.join(d, "timed.txt")
    timed_rows = []
    if os.path.exists(timed_path):
        tm = read_kv(timed_path)
        rounds = int(tm.get("timed.rounds", 0))
        for what in ("full", "resumed", "record", "record1k"):
            rs = [tm.get("timed.%s.ratio.%d" % (what, r)) for r in range(rounds)]
            aa = [tm.get("timed.%s.aa.%d" % (what, r)) for r in range(rounds)]
            if rounds == 0 or None in rs or None in aa:
                missing.append("timed %s" % what)
                timed_rows.append((what, "-", "-", "-", "MISSING"))
                continue
            med = statistics.median(rs)
            # a clear slowdown only: beyond 5 %, in every round, and beyond
            # what the A/A slot (the baseline against itself) saw this run
            bad = med < TIMED_MEDIAN and all(r < 1.0 for r in rs) and med < min(aa)
            failed += bad
            timed_rows.append((what, "%.3f" % med, "%.3f..%.3f" % (min(rs), max(rs)),
                               "%.3f [%.3f..%.3f]" % (statistics.median(aa), min(aa), max(aa)),
                               "SLOWER" if bad else "ok"))

    hdr = ("metric", "base", "tree", "tree vs base", "rule", "verdict")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join(["---"] + ["---:"] * 3 + ["---"] * 2) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if timed_rows:
        print()
        print("| timed (CPU, %d rounds) | median tree/base | rounds | A/A base/base (noise) | "
              "verdict |" % rounds)
        print("|---|---:|---:|---:|---|")
        for r in timed_rows:
            print("| " + " | ".join(r) + " |")
        print("\n(timed rule: fail only if the median < %.2f, every round < 1.00 and the median "
              "below every A/A round)" % TIMED_MEDIAN)
    else:
        print("\n(timed part not run)")
    if missing:
        print("A/B gate: DID NOT RUN completely: missing %s" % ", ".join(missing))
        return 2
    print("A/B gate: %s (%d of %d checks beyond their rule)"
          % ("FAIL" if failed else "PASS", failed, len(rows) + len(timed_rows)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
