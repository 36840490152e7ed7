#!/bin/sh
# Build kitls-bench if needed and run it pinned to one core.
#
#   bench/run.sh [kitls-bench options...]     e.g. bench/run.sh --seconds 2 --rounds 5
#   bench/run.sh --only loopback [--rounds N] [--lb-n N] [--lb-mib M] [--lb-time S]
#   bench/run.sh --assert [options...]
#   bench/run.sh --profile [--count N]
#
# --only takes kitls-bench's parts (hs,tput,raw,alloc,lat,mem,peers) and also
# "loopback": examples/kitls-server + kitls-client against openssl s_server +
# s_client over 127.0.0.1, every process on the same core (bench/loopback.py).
# --lb-n, --lb-mib and --lb-time set its sequential connections per round,
# the MiB of its transfer and the seconds of each `openssl s_time` run.
#
# --assert is the regression gate: without other options it runs
# kitls-bench --rounds 3 --seconds 1 --mib 64 and the loopback part (about
# two minutes), compares the kitls/OpenSSL ratios in the JSON with
# bench/baseline.json (python3, stdlib only), prints a table (metric,
# baseline, threshold, now, verdict), appends it to the .txt and exits 1 if
# any ratio is beyond its threshold (2 if the bench failed).  Metrics of parts
# that did not run are listed as skipped.  See docs/performance.md,
# "Regression gate".  It also checks the peers table (part "peers": kitls,
# OpenSSL, GnuTLS and rustls in one run, bench/peers.c): exit 2 if the peers
# are missing or a proof failed, then issue 16's targets (bench/targets.py,
# with the share of a handshake's instructions outside libcrypto's
# primitives from callgrind and bench/prims.py unless PRIMS=0), which fail
# the gate (exit 1) unless TARGETS=report.
#
# The peers need cargo, rustc, librust-rustls-dev, librust-rustls-pemfile-dev
# and libgnutls28-dev: run.sh installs them when run as root (apt-get) and
# configures a new build tree with --enable-bench-peers.  cargo's cache is
# /var/cache/kitls-peers/rustls-target (KITLS_PEERS_CACHE overrides the
# directory; the build tree's if not writable).
#
# --profile: `perf stat` of the full handshake loop (kitls and OpenSSL;
# hardware counters where the machine has them), a `perf record` call graph
# of it folded by bench/flame.py into a .folded file, an SVG flame graph and
# a breakdown (share of the handshake in libcrypto's crypto operations);
# where hardware counters are unavailable it says so and also counts
# instructions with valgrind --tool=callgrind (callgrind_annotate summary).
# Writes OUTDIR/profile-<time>/ and prints its summary.
#
# Environment: BUILDDIR (default: the source tree), CPU (core to pin to,
# default 0), OUTDIR (default: $BUILDDIR/bench/results), TARGETS (enforce
# or report), PRIMS (0: skip the callgrind step), KITLS_PEERS_CACHE, CARGO_JOBS (cargo's -j, default 1).
# Writes OUTDIR/bench-<UTC timestamp>.txt (table, with the command and CPU)
# and the same name with .json (and -loopback.json for the loopback part);
# prints the table.  With --assert, BASELINE overrides the baseline file.
set -eu

assert=0 profile=0 loopback=0 bench=1 only="" count="" rounds=""
lb_n=40 lb_mib=128 lb_time=2
want=""
for arg do
    shift
    if [ -n "$want" ]; then
        case $want in
        only) only=$arg ;;
        lb_n) lb_n=$arg ;;
        lb_mib) lb_mib=$arg ;;
        lb_time) lb_time=$arg ;;
        count) count=$arg; set -- "$@" --count "$arg" ;;
        rounds) rounds=$arg; set -- "$@" --rounds "$arg" ;;
        esac
        want=""
        continue
    fi
    case $arg in
    --assert) assert=1 ;;
    --profile) profile=1 ;;
    --only) want=only ;;
    --lb-n) want=lb_n ;;
    --lb-mib) want=lb_mib ;;
    --lb-time) want=lb_time ;;
    --count) want=count ;;
    --rounds) want=rounds ;;
    *) set -- "$@" "$arg" ;;
    esac
done
[ -z "$want" ] || { echo "run.sh: option needs a value" >&2; exit 2; }

# --only: kitls-bench's parts, plus "loopback" (handled here)
parts="hs,tput,raw,alloc,lat,mem,peers,loopback"
if [ -n "$only" ]; then
    parts=$only
    rest=$(printf '%s\n' "$only" | tr ',' '\n' | grep -v '^loopback$' | paste -sd, - || true)
    [ "$rest" = "$only" ] || loopback=1
    if [ -n "$rest" ]; then set -- "$@" --only "$rest"; else bench=0; fi
elif [ "$assert" = 1 ] && [ $# -eq 0 ] && [ -z "$rounds" ]; then
    set -- --rounds 3 --seconds 1 --mib 64
    rounds=3
    loopback=1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${BUILDDIR:-$top}
cpu=${CPU:-0}
outdir=${OUTDIR:-$builddir/bench/results}
baseline=${BASELINE:-$top/bench/baseline.json}
if [ "$assert" = 1 ] || [ "$loopback" = 1 ] || [ "$profile" = 1 ]; then
    command -v python3 >/dev/null 2>&1 || { echo "run.sh: needs python3" >&2; exit 2; }
fi
if [ "$assert" = 1 ]; then
    [ -f "$baseline" ] || { echo "run.sh: no baseline $baseline" >&2; exit 2; }
fi

# The peers' packages (Debian 12); apt resolves the rest of the crates.
peer_pkgs="cargo rustc librust-rustls-dev librust-rustls-pemfile-dev libgnutls28-dev"
missing=""
for p in $peer_pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: installing:$missing" >&2
        apt-get update -q >&2
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2
        missing=""
    else
        echo "run.sh: peers missing packages (run as root to install):$missing" >&2
    fi
fi
# cargo's cache outside the build tree, so that new build trees reuse it
peers_cache=${KITLS_PEERS_CACHE:-/var/cache/kitls-peers}
if mkdir -p "$peers_cache" 2>/dev/null && [ -w "$peers_cache" ]; then
    CARGO_TARGET_DIR=$peers_cache/rustls-target
    export CARGO_TARGET_DIR
fi

if [ ! -f "$builddir/Makefile" ]; then
    if [ ! -x "$top/configure" ]; then
        (cd "$top" && autoreconf -fi)
    fi
    mkdir -p "$builddir"
    # without the peers' packages kitls-bench is built without them and the
    # gate says "peers missing" (exit 2)
    peers_flag=--enable-bench-peers
    [ -z "$missing" ] || peers_flag=
    # shellcheck disable=SC2086
    (cd "$builddir" && "$top/configure" $peers_flag)
fi
targets=bench/kitls-bench
[ "$loopback" = 1 ] && targets="$targets examples/kitls-server examples/kitls-client"
# shellcheck disable=SC2086
make -C "$builddir" -j2 $targets >&2

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
model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')

# The executable itself rather than libtool's wrapper script, for perf and
# valgrind (the wrapper is a shell script that execs it).
realbin=$bin
libpath=${LD_LIBRARY_PATH:-}
if [ -x "$builddir/bench/.libs/kitls-bench" ]; then
    realbin="$builddir/bench/.libs/kitls-bench"
    libpath="$builddir/lib/.libs${libpath:+:$libpath}"
fi

if [ "$profile" = 1 ]; then
    exec sh "$top/bench/profile.sh" "$realbin" "$libpath" "$outdir/profile-$stamp" "$cpu" \
        "${count:-1500}"
fi

txt="$outdir/bench-$stamp.txt"
json="$outdir/bench-$stamp.json"
lbjson="$outdir/bench-$stamp-loopback.json"
{
    echo "# date: $stamp  host: $(uname -srm)  cpus: $ncpu  model: ${model:-unknown}  load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    echo "# git: $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$top" status --porcelain -- lib include 2>/dev/null | grep -q . && echo ' (lib/ or include/ modified or untracked)')"
    echo "# lib sources sha256: $(cat "$top"/lib/*.[ch] "$top"/include/kitls/*.h 2>/dev/null | sha256sum | cut -c1-16)"
} > "$txt"
bench_rc=0
if [ "$bench" = 1 ]; then
    echo "# command: ${pin:+$pin }bench/kitls-bench $* --json-file $json" >> "$txt"
    # kitls-bench's status through the pipe (exit 2: a peers proof failed)
    rcfile="$outdir/.bench-rc.$$"
    # shellcheck disable=SC2086
    { $pin "$bin" "$@" --json-file "$json"; echo $? > "$rcfile"; } | tee -a "$txt"
    bench_rc=$(cat "$rcfile")
    rm -f "$rcfile"
fi
if [ "$loopback" = 1 ]; then
    echo "# command: bench/loopback.py --cpu $cpu --rounds ${rounds:-3} --n $lb_n --mib $lb_mib --stime $lb_time" >> "$txt"
    echo | tee -a "$txt"
    python3 "$top/bench/loopback.py" --bindir "$builddir" --cpu "$cpu" --rounds "${rounds:-3}" \
        --n "$lb_n" --mib "$lb_mib" --stime "$lb_time" --json-file "$lbjson" | tee -a "$txt"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" | tee -a "$txt"
echo "results: $txt$([ "$bench" = 1 ] && echo " $json")$([ "$loopback" = 1 ] && echo " $lbjson")" >&2

[ "$assert" = 1 ] || exit "$bench_rc"
if [ "$bench_rc" != 0 ]; then
    echo "run.sh: kitls-bench failed (exit $bench_rc)" | tee -a "$txt"
    exit 2
fi

# CPU outside libcrypto's primitives: callgrind of 200 full handshake pairs
# (bench/bench.c one_handshake: X25519, ECDSA P-256, chain verified) and 100
# resumed pairs (scenario resumed-x25519), split by bench/prims.py.  Prints
# the JSON files it wrote; returns 2 if it could not measure.
prims_step() {
    command -v valgrind >/dev/null 2>&1 || {
        echo "run.sh: valgrind missing (instructions outside primitives not measured)" >&2
        return 2
    }
    vg="valgrind --tool=callgrind --collect-atstart=no"
    # shellcheck disable=SC2086
    LD_LIBRARY_PATH=$libpath $pin $vg --callgrind-out-file="$outdir/cg-full-$stamp.out" \
        '--toggle-collect=one_handshake*' "$realbin" --only hs --lib kitls --count 200 \
        --rounds 1 > /dev/null 2>&1 || return 2
    # shellcheck disable=SC2086
    LD_LIBRARY_PATH=$libpath $pin $vg --callgrind-out-file="$outdir/cg-resumed-$stamp.out" \
        '--toggle-collect=k_hs*' "$realbin" --only lat --scenarios resumed-x25519 --lib kitls \
        --count 100 --rounds 1 > /dev/null 2>&1 || return 2
    python3 "$top/bench/prims.py" "$outdir/cg-full-$stamp.out" one_handshake \
        --label "full handshake pair" --json "$outdir/prims-full-$stamp.json" > /dev/null || return 2
    python3 "$top/bench/prims.py" "$outdir/cg-resumed-$stamp.out" k_hs \
        --label "resumed handshake pair" --json "$outdir/prims-resumed-$stamp.json" > /dev/null ||
        return 2
    echo "$outdir/prims-full-$stamp.json $outdir/prims-resumed-$stamp.json"
}

# A/B regression gate: the tree against libkitls of the baseline commit
# (bench/ab-base or BASE_REF), both in one process, same run (bench/ab.sh,
# bench/README.md "A/B gate").  Returns 1 for a regression, 2 if it could
# not measure.  run.sh's exit status is the worse of the gates.
ab_gate() {
    ab_rc=0
    OUTDIR=$outdir CPU=$cpu sh "$top/bench/ab.sh" "$builddir" > "$outdir/ab-$stamp.txt" || ab_rc=$?
    printf '\n' | tee -a "$txt"
    tee -a "$txt" < "$outdir/ab-$stamp.txt"
    return "$ab_rc"
}

# Regression gate: each metric is a ratio from the bench JSON (the loopback
# JSON under the key "loopback"): "value" (a ratio the bench computed, e.g.
# the median of per-round ratios) or num/den, checked against the
# baseline's min (ratio must stay >=) or max (ratio must stay <=).  A metric needing a "part"
# (comma list, default hs) that did not run is skipped.
rc=0
table=$(TARGETS=${TARGETS:-enforce} python3 - "$baseline" "$json" "$lbjson" "$parts" "$bench" "$loopback" <<'EOF'
import json, os, sys

base = json.load(open(sys.argv[1]))
parts = set(sys.argv[4].split(","))
bench_ran, lb_ran = sys.argv[5] == "1", sys.argv[6] == "1"
now = {}
try:
    if bench_ran:
        now = json.load(open(sys.argv[2]))
    if lb_ran:
        now["loopback"] = json.load(open(sys.argv[3]))
except (OSError, ValueError) as e:
    print("run.sh --assert: cannot read bench JSON: %s" % e)
    sys.exit(2)

def get(path):
    v = now
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v if isinstance(v, (int, float)) else None

rows, failed, checked = [], 0, 0
for m in base["metrics"]:
    need = set(m.get("part", "hs").split(","))
    thr = ">= %.3f" % m["min"] if "min" in m else "<= %.3f" % m["max"]
    if not need <= parts or not (lb_ran if "loopback" in need else bench_ran):
        rows.append((m["name"], "%.3f" % m["baseline"], thr, "-", "skipped"))
        continue
    if "value" in m:
        r = get(m["value"])
    else:
        n, d = get(m["num"]), get(m["den"])
        r = n / d if n is not None and d else None
    ok = r is not None and (r >= m["min"] if "min" in m else r <= m["max"])
    failed += not ok
    checked += 1
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
print("ratios to OpenSSL: %d of %d beyond the recorded figure, %d skipped (reported, "
      "not gated: they move with the machine's load; the regression gate is the "
      "A/B gate below)" % (failed, checked, len(rows) - checked))

# The peers: present and proven (the targets are checked by bench/targets.py)
rc = 0
if "peers" in parts and bench_ran:
    p = now.get("peers")
    if not p or not p.get("built"):
        print("\n# peers: peers missing (%s): FAIL"
              % ((p or {}).get("missing") or "no peers section in the JSON"))
        sys.exit(2)
    if not p.get("proofs_ok"):
        print("\n# peers: a proof did not hold: FAIL")
        sys.exit(2)
sys.exit(rc)
EOF
) || rc=$?
printf '\n%s\n' "$table" | tee -a "$txt"
if [ "$rc" -lt 2 ] && [ "$bench" = 1 ] && printf '%s\n' "$parts" | tr ',' '\n' | grep -qx peers; then
    # Issue 16's targets on this run (bench/targets.py), with the share of
    # the handshake outside libcrypto's primitives (callgrind, bench/prims.py)
    prims_json=""
    if [ "${PRIMS:-1}" = 1 ]; then
        prims_json=$(prims_step) || { r=$?; [ "$r" -gt "$rc" ] && rc=$r; }
    fi
    printf '\n# issue 16 targets (%s)\n' "$([ "${TARGETS:-enforce}" = report ] && echo reported || echo enforced)" | tee -a "$txt"
    t_rc=0
    # shellcheck disable=SC2086
    python3 "$top/bench/targets.py" "$json" $prims_json | tee -a "$txt" > "$outdir/.targets.$$" || true
    cat "$outdir/.targets.$$"
    tail -n 1 "$outdir/.targets.$$" | grep -q "missing" && t_rc=2
    grep -q "| MISSED" "$outdir/.targets.$$" && [ "$t_rc" = 0 ] && t_rc=1
    rm -f "$outdir/.targets.$$"
    [ "${TARGETS:-enforce}" = report ] && [ "$t_rc" = 1 ] && t_rc=0
    [ "$t_rc" -gt "$rc" ] && rc=$t_rc
fi
if [ "$rc" -lt 2 ]; then
    ab_gate || { r=$?; [ "$r" -gt "$rc" ] && rc=$r; }
fi
exit "$rc"
