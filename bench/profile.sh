#!/bin/sh
# bench/run.sh --profile: profile the full-handshake loop of kitls-bench
# (X25519, ECDSA P-256, both sides in-process, one core).  Called by run.sh:
#
#   bench/profile.sh BIN LD_LIBRARY_PATH OUTDIR CPU COUNT
#
# 1. `perf stat` of COUNT handshakes, kitls and OpenSSL: software counters,
#    plus cycles/instructions/branches/cache misses where the machine has
#    hardware counters (checked with `perf stat -e instructions true`).
# 2. `perf record` (cpu-clock, DWARF call graphs) of the same loop, folded by
#    bench/flame.py into <lib>.folded (stacks cut at one_handshake), an SVG
#    flame graph <lib>.svg and a breakdown <lib>-share.txt.
# 3. Without hardware counters (or without perf): valgrind --tool=callgrind
#    instruction counts of one_handshake (100 handshakes per library),
#    callgrind_annotate summaries, instructions per handshake.
# Prints OUTDIR/summary.txt.
set -u

bin=$1 libpath=$2 out=$3 cpu=$4 count=$5
top=$(cd "$(dirname "$0")/.." && pwd)
flame="python3 $top/bench/flame.py"
mkdir -p "$out"
sum="$out/summary.txt"
: > "$sum"
say() { echo "$*" | tee -a "$sum"; }
run() { env LD_LIBRARY_PATH="$libpath" "$@"; }
hs_args="--only hs --rounds 1 --count"

say "# kitls-bench profile, $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo none), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "# scenario: full handshake (X25519, ECDSA P-256, verify on), both sides, $count handshakes, cpu $cpu"

hw=0 perf=0
if command -v perf >/dev/null 2>&1; then
    perf=1
    if perf stat -x, -e instructions true 2>&1 | grep -q '^[0-9]'; then
        hw=1
    fi
else
    say "perf: not installed (Debian: apt-get install linux-perf); no perf stat/record"
fi

if [ "$perf" = 1 ]; then
    ev=task-clock,context-switches,cpu-migrations,page-faults
    if [ "$hw" = 1 ]; then
        ev=$ev,cycles,instructions,branches,branch-misses,cache-references,cache-misses
    else
        say "perf: hardware counters are not available on this machine (perf stat -e instructions: <not supported>; a VM without a virtual PMU): software counters only, instruction counts from callgrind below"
    fi
    for lib in kitls openssl; do
        run perf stat -e "$ev" -o "$out/perf-stat-$lib.txt" -- \
            taskset -c "$cpu" "$bin" $hs_args "$count" --lib "$lib" > "$out/bench-$lib.txt" 2>&1
        say ""
        say "== perf stat, $lib, $count handshakes"
        grep -E '^ +[0-9<]' "$out/perf-stat-$lib.txt" | sed 's/^ */  /' | tee -a "$sum"
        grep -E 'hs/s|^  (kitls|openssl) ' "$out/bench-$lib.txt" | head -3 | sed 's/^/  bench: /' | tee -a "$sum"
    done
    for lib in kitls openssl; do
        # cpu-clock sampling works without a PMU; DWARF unwinding because
        # neither kitls nor Debian's libcrypto keeps frame pointers
        if run perf record -q -F 999 -e cpu-clock --call-graph dwarf,16384 \
            -o "$out/perf-$lib.data" -- taskset -c "$cpu" "$bin" $hs_args "$count" --lib "$lib" \
            > /dev/null 2>"$out/perf-record-$lib.err"; then
            perf script -i "$out/perf-$lib.data" 2>/dev/null |
                $flame fold --only one_handshake > "$out/$lib.folded"
            $flame svg --title "$lib full handshake (X25519, ECDSA P-256), both sides, one core" \
                < "$out/$lib.folded" > "$out/$lib.svg"
            $flame share < "$out/$lib.folded" > "$out/$lib-share.txt"
            rm -f "$out/perf-$lib.data"
            say ""
            say "== perf record, $lib: $out/$lib.folded, $out/$lib.svg"
            sed 's/^/  /' "$out/$lib-share.txt" | head -28 | tee -a "$sum" > /dev/null
            sed -n '1,20p' "$out/$lib-share.txt" | sed 's/^/  /'
        else
            say "perf record failed for $lib: $(tail -n 2 "$out/perf-record-$lib.err")"
        fi
    done
fi

if [ "$hw" = 0 ]; then
    if command -v valgrind >/dev/null 2>&1; then
        n=100
        for lib in kitls openssl; do
            run valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.$lib" \
                --collect-atstart=no '--toggle-collect=one_handshake*' \
                "$bin" $hs_args "$n" --lib "$lib" > /dev/null 2>"$out/callgrind-$lib.err"
            total=$(sed -n 's/^totals: *//p; s/^summary: *//p' "$out/callgrind.out.$lib" | head -n 1)
            callgrind_annotate --inclusive=yes "$out/callgrind.out.$lib" 2>/dev/null |
                head -n 60 > "$out/callgrind-$lib.txt"
            say ""
            say "== callgrind, $lib: $n handshakes in one_handshake: ${total:-?} instructions = $(awk -v t="${total:-0}" -v n="$n" 'BEGIN { printf "%.2f M per handshake", t / n / 1e6 }')"
            say "   top inclusive (callgrind_annotate --inclusive=yes, $out/callgrind-$lib.txt):"
            grep -E '^ *[0-9,]+ \(' "$out/callgrind-$lib.txt" |
                grep -v -e 'PROGRAM TOTALS' -e 'libc-start' -e 'below main' -e 'ld-linux' \
                    -e 'bench.c:main' -e 'bench_handshakes' | head -n 14 |
                sed 's/^ */     /' | cut -c1-140 | tee -a "$sum"
        done
    else
        say "valgrind: not installed; no instruction counts"
    fi
fi
echo "profile: $out (summary.txt)" >&2
