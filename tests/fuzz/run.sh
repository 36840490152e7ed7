#!/usr/bin/env bash
# Run the libFuzzer targets one after another (`make fuzz`; docs/fuzzing.md).
#
# Usage: tests/fuzz/run.sh [--time SECONDS] [--no-build] [--merge] [TARGET...]
#        tests/fuzz/run.sh --reseed [TARGET...]
#   --time S     seconds per target (default 60; FUZZ_TIME in `make fuzz`)
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
time_s=60 build=1 merge=0 reseed=0 targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --time) time_s=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --merge) merge=1; shift ;;
    --reseed) reseed=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
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
    { time "$bin/fuzz_$t" -max_total_time="$time_s" -max_len="$(max_len "$t")" -timeout=25 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
        "${dirs[@]}" >"$log" 2>&1; } 2>"$work/$t.time"
    rc=$?
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
