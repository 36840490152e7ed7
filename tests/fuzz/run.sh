#!/usr/bin/env bash
# Run the libFuzzer targets one after another (`make fuzz`; docs/fuzzing.md).
#
# Usage: tests/fuzz/run.sh [--time SECONDS | --cpu SECONDS] [--no-build] [--merge] [TARGET...]
#        tests/fuzz/run.sh --reseed [TARGET...]
#   --time S     wall-clock seconds per target (default 60; FUZZ_TIME in `make fuzz`)
#   --cpu S      CPU seconds (user + sys) per target instead: a watchdog
#                stops the fuzzer (SIGINT) once it has used S CPU seconds,
#                however long that takes on a loaded machine
#   --no-build   use the existing tests/fuzz/bin-fuzzer
#   --merge      afterwards, minimize corpus/TARGET plus what was found
#                (libFuzzer -merge=1) back into corpus/TARGET
#   --reseed     rewrite seeds/TARGET: the recorded real handshakes
#                (needed when the library's handshake bytes change;
#                tests/fuzz/replay.sh reports stale seeds)
# Inputs: seeds/TARGET (recorded), corpus/TARGET (found, minimized),
# regressions/TARGET.
# One fuzzing process at a time (one core).  New inputs go to
# $FUZZ_WORK/TARGET (default /tmp/kitls-fuzz/TARGET), crashes to
# $FUZZ_WORK/artifacts/TARGET/; a crash stops that target and is reported.
# A summary line per target: CPU seconds, executions, cov, ft, crashes.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
time_s=60 cpu_s=0 build=1 merge=0 reseed=0 targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --time) time_s=$2; shift 2 ;;
    --cpu) cpu_s=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --merge) merge=1; shift ;;
    --reseed) reseed=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(record hsmsg server client session ticket ktls)
work=${FUZZ_WORK:-/tmp/kitls-fuzz}
bin=${FUZZ_BIN:-$here/bin-fuzzer}
if [ $reseed = 1 ]; then
    rbin=$(mktemp -d "${TMPDIR:-/tmp}/kitls-fuzz-reseed.XXXXXX") || exit 1
    trap 'rm -rf "$rbin"' EXIT
    "$here/build.sh" --mode replay --no-sanitize --out "$rbin" "${targets[@]}" >/dev/null || exit 1
    for t in "${targets[@]}"; do
        rm -rf "$here/seeds/$t" && mkdir -p "$here/seeds/$t"
        "$rbin/replay_$t" --write-seeds "$here/seeds/$t" || exit 1
    done
    exit 0
fi
if [ $build = 1 ]; then
    "$here/build.sh" --mode fuzzer --out "$bin" >/dev/null || exit 1
fi

max_len() {
    case $1 in
    session|ticket) echo 4096 ;;
    *) echo 20000 ;;
    esac
}

status=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "$work/artifacts/$t" "$here/corpus/$t"
    log=$work/$t.log
    dirs=("$work/$t" "$here/corpus/$t" "$here/seeds/$t")
    [ -d "$here/regressions/$t" ] && dirs+=("$here/regressions/$t")
    # CPU time (user + sys) of the fuzzer process, from bash's `time`.
    TIMEFORMAT='%U %S'
    if [ "$cpu_s" -gt 0 ]; then
        # CPU budget: wall time unbounded, a watchdog reads the fuzzer's
        # utime + stime from /proc and interrupts it at the budget.
        cpu_run() {
            "$bin/fuzz_$t" -max_total_time=2000000 -max_len="$(max_len "$t")" -timeout=25 \
                -rss_limit_mb=2048 -print_final_stats=1 -interrupted_exit_code=0 \
                -artifact_prefix="$work/artifacts/$t/" "${dirs[@]}" >"$log" 2>&1 &
            local fpid=$! hz ticks
            hz=$(getconf CLK_TCK)
            while kill -0 "$fpid" 2>/dev/null; do
                ticks=$(awk '{print $14 + $15}' "/proc/$fpid/stat" 2>/dev/null) || break
                if [ -n "$ticks" ] && [ "$ticks" -ge $((cpu_s * hz)) ]; then
                    kill -INT "$fpid"
                    break
                fi
                sleep 5
            done
            wait "$fpid"
        }
        { time cpu_run; } 2>"$work/$t.time"
        rc=$?
        [ $rc = 72 ] && rc=0 # libFuzzer's exit code after the watchdog's SIGINT
    else
        { time "$bin/fuzz_$t" -max_total_time="$time_s" -max_len="$(max_len "$t")" -timeout=25 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
            "${dirs[@]}" >"$log" 2>&1; } 2>"$work/$t.time"
        rc=$?
    fi
    cpu=$(awk '{printf "%.0f", $1 + $2}' "$work/$t.time")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    crashes=$(find "$work/artifacts/$t" -type f ! -name 'slow-unit-*' | wc -l)
    slow=$(find "$work/artifacts/$t" -type f -name 'slow-unit-*' | wc -l)
    summary+=("$(printf '%-8s cpu_total_s %-6s execs %-9s cov %-5s ft %-6s crashes %s slow %s rc %s' \
        "$t" "$cpu" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$crashes" "$slow" "$rc")")
    echo "${summary[-1]}"
    [ "$rc" = 0 ] || { status=1; grep -m3 -E 'ERROR|SUMMARY' "$log"; }
    if [ $merge = 1 ]; then
        fresh=$work/$t.merged
        rm -rf "$fresh" && mkdir -p "$fresh"
        "$bin/fuzz_$t" -merge=1 -max_len="$(max_len "$t")" "$fresh" "$here/corpus/$t" "$work/$t" \
            >"$work/$t.merge.log" 2>&1 &&
            rm -f "$here/corpus/$t"/* && cp "$fresh"/* "$here/corpus/$t"/
        echo "$t: corpus $(ls "$here/corpus/$t" | wc -l) files after merge"
    fi
done
printf '%s\n' "${summary[@]}" >"$work/summary.txt"
exit $status
