#!/bin/sh
# Build kitls-bench if needed and run it pinned to one core.
#
#   bench/run.sh [kitls-bench options...]     e.g. bench/run.sh --seconds 2 --rounds 5
#   bench/run.sh --assert [kitls-bench options...]
#
# --assert is the regression gate: it runs a short configuration (default
# --rounds 3 --seconds 1 --mib 64, under a minute), compares the kitls/OpenSSL
# ratios in the JSON with bench/baseline.json (python3, stdlib only), prints
# a table (metric, baseline, threshold, now, verdict), appends it to the .txt
# and exits 1 if any ratio is beyond its threshold (2 if the bench failed).
# See docs/performance.md, "Regression gate".
#
# Environment: BUILDDIR (default: the source tree), CPU (core to pin to,
# default 0), OUTDIR (default: $BUILDDIR/bench/results).
# Writes OUTDIR/bench-<UTC timestamp>.txt (table, with the command and CPU)
# and the same name with .json; prints the table.
# With --assert, BASELINE overrides the baseline file.
set -eu

assert=0
for arg do
    shift
    if [ "$arg" = --assert ]; then assert=1; else set -- "$@" "$arg"; fi
done
if [ "$assert" = 1 ] && [ $# -eq 0 ]; then
    set -- --rounds 3 --seconds 1 --mib 64
fi

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${BUILDDIR:-$top}
cpu=${CPU:-0}
outdir=${OUTDIR:-$builddir/bench/results}
baseline=${BASELINE:-$top/bench/baseline.json}
if [ "$assert" = 1 ]; then
    command -v python3 >/dev/null 2>&1 || { echo "run.sh: --assert needs python3" >&2; exit 2; }
    [ -f "$baseline" ] || { echo "run.sh: no baseline $baseline" >&2; exit 2; }
fi

if [ ! -f "$builddir/Makefile" ]; then
    if [ ! -x "$top/configure" ]; then
        (cd "$top" && autoreconf -fi)
    fi
    mkdir -p "$builddir"
    (cd "$builddir" && "$top/configure")
fi
make -C "$builddir" -j2 bench/kitls-bench >&2

bin="$builddir/bench/kitls-bench"
[ -x "$bin" ] || { echo "run.sh: $bin not built (is libssl-dev installed?)" >&2; exit 1; }

pin=""
if command -v taskset >/dev/null 2>&1; then
    pin="taskset -c $cpu"
else
    echo "run.sh: taskset not found; running unpinned" >&2
fi

mkdir -p "$outdir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
txt="$outdir/bench-$stamp.txt"
json="$outdir/bench-$stamp.json"
model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
{
    echo "# command: ${pin:+$pin }bench/kitls-bench $* --json-file $json"
    echo "# date: $stamp  host: $(uname -srm)  cpus: $ncpu  model: ${model:-unknown}"
    echo "# git: $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$top" status --porcelain -- lib include 2>/dev/null | grep -q . && echo ' (lib/ or include/ modified or untracked)')"
    echo "# lib sources sha256: $(cat "$top"/lib/*.[ch] "$top"/include/kitls/*.h 2>/dev/null | sha256sum | cut -c1-16)"
} > "$txt"
# shellcheck disable=SC2086
$pin "$bin" "$@" --json-file "$json" | tee -a "$txt"
echo "results: $txt $json" >&2

[ "$assert" = 1 ] || exit 0

# Regression gate: each metric is num/den from the bench JSON, checked against
# the baseline's min (ratio must stay >=) or max (ratio must stay <=).
rc=0
table=$(python3 - "$baseline" "$json" <<'EOF'
import json, sys

base = json.load(open(sys.argv[1]))
try:
    now = json.load(open(sys.argv[2]))
except (OSError, ValueError) as e:
    print("run.sh --assert: cannot read bench JSON %s: %s" % (sys.argv[2], e))
    sys.exit(2)

def get(path):
    v = now
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v if isinstance(v, (int, float)) else None

rows, failed = [], 0
for m in base["metrics"]:
    n, d = get(m["num"]), get(m["den"])
    r = n / d if n is not None and d else None
    if "min" in m:
        thr, ok = ">= %.3f" % m["min"], r is not None and r >= m["min"]
    else:
        thr, ok = "<= %.3f" % m["max"], r is not None and r <= m["max"]
    failed += not ok
    rows.append((m["name"], "%.3f" % m["baseline"], thr,
                 "%.3f" % r if r is not None else "missing",
                 "ok" if ok else "REGRESSION"))

hdr = ("metric (kitls/OpenSSL)", "baseline", "threshold", "now", "verdict")
w = [max(len(x[i]) for x in rows + [hdr]) for i in range(len(hdr))]
fmt = "| %%-%ds | %%%ds | %%%ds | %%%ds | %%-%ds |" % tuple(w)
print("# regression gate: %s" % sys.argv[1])
print(fmt % hdr)
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for row in rows:
    print(fmt % row)
print("gate: %s (%d of %d metrics beyond threshold)"
      % ("FAIL" if failed else "PASS", failed, len(rows)))
sys.exit(1 if failed else 0)
EOF
) || rc=$?
printf '\n%s\n' "$table" | tee -a "$txt"
exit "$rc"
