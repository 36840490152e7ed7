#!/bin/sh
# The A/B regression gate: the tree's libkitls against the baseline commit's
# (bench/ab-base, or BASE_REF=<rev>), both in one process, in the same run.
#
#   bench/ab.sh BUILDDIR [--rounds R] [--seconds S] [--no-timed]
#
# 1. bench/ab-build.sh builds (or finds cached) the baseline's libkitls,
#    renamed kb_*; make links bench/kitls-ab against it and the build's
#    static libkitls.
# 2. Deterministic figures: kitls-ab det under valgrind --tool=callgrind
#    (instructions per full and resumed handshake and per 16 KiB record,
#    allocations, heap per connection, bytes on the wire).
# 3. Timed figures: kitls-ab timed (CPU-time ratios tree/base per round, 20
#    ms slices in alternating order, an A/A slot for the run's own noise).
# 4. bench/ab-gate.py judges and prints a markdown table.
#
# Exit 0: pass; 1: a regression; 2: the gate could not run (no baseline
# commit, baseline build failed, the driver does not compile against the
# baseline's API, valgrind missing...): never a pass.
# Environment: BASE_REF, KITLS_AB_CACHE (ab-build.sh), CPU (core to pin to,
# default 0), OUTDIR (default BUILDDIR/bench/results).  Details:
# bench/README.md, "A/B gate".
set -u

builddir=${1:?usage: bench/ab.sh BUILDDIR [--rounds R] [--seconds S] [--no-timed]}
shift
rounds=7 seconds=0.4 timed=1
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=${2:?}; shift ;;
    --seconds) seconds=${2:?}; shift ;;
    --no-timed) timed=0 ;;
    *) echo "ab.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "$builddir" && pwd) || exit 2
die() { echo "ab.sh: $*" >&2; echo "A/B gate: DID NOT RUN ($*)"; exit 2; }

command -v python3 >/dev/null 2>&1 || die "needs python3"
if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "ab.sh: installing valgrind (instruction counts)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >&2 ||
            die "apt-get install valgrind failed"
    else
        die "needs valgrind for the instruction counts (Debian package: valgrind)"
    fi
fi
[ -f /usr/include/valgrind/callgrind.h ] ||
    die "needs valgrind's headers (/usr/include/valgrind/callgrind.h; Debian package: valgrind)"

base=$(sh "$top/bench/ab-build.sh" "$builddir") || die "cannot build the baseline (see above)"
sha=$(cat "$base/commit")
make -C "$builddir" -s lib/libkitls.la >&2 || die "make lib/libkitls.la failed"
rm -f "$builddir/bench/kitls-ab"
make -C "$builddir" -s bench/kitls-ab KITLS_AB_BASE="$base" >&2 ||
    die "bench/kitls-ab does not build against the baseline $sha (did the public API change? then move bench/ab-base forward)"

pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c ${CPU:-0}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${OUTDIR:-$builddir/bench/results}/ab-$stamp
mkdir -p "$out" || die "cannot create $out"
tree=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo none)
git -C "$top" status --porcelain -- lib include 2>/dev/null | grep -q . && tree="$tree + local changes in lib/ or include/"
{
    echo "# A/B gate, $stamp: tree $tree against base $sha"
    echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/summary.md"

# shellcheck disable=SC2086
$pin valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out/cg.out" \
    "$builddir/bench/kitls-ab" det --n 40 --n-rec 200 > "$out/det.txt" 2> "$out/valgrind.txt" ||
    { tail -n 5 "$out/valgrind.txt" >&2; die "kitls-ab det failed under valgrind"; }
grep -q '^valgrind 1$' "$out/det.txt" || die "kitls-ab det did not see valgrind"
grep -q '^callgrind_requests 0$' "$out/det.txt" && die "kitls-ab was built without callgrind.h"
if [ "$timed" = 1 ]; then
    # shellcheck disable=SC2086
    $pin "$builddir/bench/kitls-ab" timed --rounds "$rounds" --seconds "$seconds" > "$out/timed.txt" ||
        die "kitls-ab timed failed"
fi
rc=0
python3 "$top/bench/ab-gate.py" "$out" > "$out/gate.md" || rc=$?
{
    echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    cat "$out/gate.md"
    echo "(figures: $out)"
} | tee -a "$out/summary.md"
exit "$rc"
