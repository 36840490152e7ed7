#!/bin/sh
# Build kitls-bench if needed and run it pinned to one core.
#
#   bench/run.sh [kitls-bench options...]     e.g. bench/run.sh --seconds 2 --rounds 5
#
# Environment: BUILDDIR (default: the source tree), CPU (core to pin to,
# default 0), OUTDIR (default: $BUILDDIR/bench/results).
# Writes OUTDIR/bench-<UTC timestamp>.txt (table, with the command and CPU)
# and the same name with .json; prints the table.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${BUILDDIR:-$top}
cpu=${CPU:-0}
outdir=${OUTDIR:-$builddir/bench/results}

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
