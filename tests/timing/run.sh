#!/usr/bin/env bash
# Timing harness for the secret-dependent paths of lib/ (dudect-style Welch
# t-test; docs/side-channel-review.md).  Not part of `make check`.
#
# Usage: tests/timing/run.sh [--n N] [--only NAME[,NAME...]] [--self-test]
#                            [--fast] [--seed S] [--timer tsc|clock]
#                            [--threshold T] [--list]
#   --n N        measurements per path (default 1000000; --self-test 200000)
#   --fast       smoke run: 20000 measurements per path
#   --only       paths whose names start with one of the NAMEs (see --list)
#   --self-test  run the planted leak (must be detected) and its
#                constant-time control (must not be) instead of lib/'s paths
# Builds tests/timing/bin/kitls-timing with plain $CC (default cc) -O2 and
# libcrypto from the lib/ sources (internal access, like tests/fuzz), runs
# it, prints path / measurements / max|t| / verdict and writes the table to
# tests/timing/results/<mode>-<UTC timestamp>.txt.  Environment: CC,
# TIMING_BIN (build dir, default tests/timing/bin), TIMING_OUT (results dir).
# Exit: 0 no path at or over the threshold (4.5) except the documented
# exceptions below; 1 a path leaked (--self-test: the planted leak was NOT
# detected); 3 (--self-test) the constant-time control was flagged; 2 error.
set -euo pipefail

# Documented exceptions: paths allowed to reach the threshold, each with
# its reason (docs/side-channel-review.md, "Exceptions").
declare -A EXCEPTIONS=(
    [rec-pad]="RFC 8446 5.4 padding scan: time grows with the padding length, i.e. reveals the content length inside a padded record; only after the AEAD check, over the peer's own plaintext; accepted for throughput, docs/limits.md (finding F1)"
    [sig-verify-p256]="no secret input: key, signature and transcript are the peer's; time may follow the verdict, which the peer learns anyway (decrypt_error)"
    [sig-verify-ed25519]="no secret input: key, signature and transcript are the peer's; time may follow the verdict, which the peer learns anyway (decrypt_error)"
    [sig-verify-rsapss]="no secret input: key, signature and transcript are the peer's; time may follow the verdict, which the peer learns anyway (decrypt_error)"
)

src=$(cd "$(dirname "$0")/../.." && pwd)
bin=${TIMING_BIN:-$src/tests/timing/bin}
outdir=${TIMING_OUT:-$src/tests/timing/results}
n='' self=0 args=()
while [ $# -gt 0 ]; do
    case $1 in
    --n) n=$2; shift 2 ;;
    --fast) n=20000; shift ;;
    --self-test) self=1; shift ;;
    --only|--seed|--timer|--threshold) args+=("$1" "$2"); shift 2 ;;
    --list) args+=("$1"); shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$n" ] || { [ $self = 1 ] && n=200000 || n=1000000; }

# ---- build (plain cc -O2, at most two compilers at a time) ----
CC=${CC:-cc}
crypto_cflags=$(pkg-config --cflags libcrypto 2>/dev/null || true)
crypto_libs=$(pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
cflags="-O2 -g -pthread -I$src/include -I$src/lib -I$src/tests/timing $crypto_cflags"
mkdir -p "$bin/obj"
sources=("$src"/lib/*.c "$src"/lib/ext/*.c "$src"/tests/timing/*.c)
headers=("$src"/lib/*.h "$src"/include/kitls/*.h "$src"/tests/timing/*.h)
objs=() running=0
for s in "${sources[@]}"; do
    o=$bin/obj/$(basename "$(dirname "$s")")-$(basename "$s" .c).o
    case $s in */lib/ext/*) o=$bin/obj/lib-ext-$(basename "$s" .c).o ;; esac
    objs+=("$o")
    stale=0
    [ "$o" -nt "$s" ] || stale=1
    for h in "${headers[@]}"; do [ "$o" -nt "$h" ] || stale=1; done
    [ $stale = 1 ] || continue
    $CC $cflags -c "$s" -o "$o" &
    running=$((running + 1))
    if [ $running -ge 2 ]; then wait -n; running=$((running - 1)); fi
done
while [ $running -gt 0 ]; do wait -n; running=$((running - 1)); done
$CC -pthread -o "$bin/kitls-timing" "${objs[@]}" $crypto_libs -lm

for a in "${args[@]}"; do
    if [ "$a" = --list ]; then exec "$bin/kitls-timing" --list $([ $self = 1 ] && echo --self-test); fi
done

# ---- run ----
mode=lib
[ $self = 1 ] && mode=self-test
mkdir -p "$outdir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
result=$outdir/$mode-$stamp.txt
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$src" status --porcelain -- lib include tests/timing 2>/dev/null | head -1 || true)
[ -z "$dirty" ] || commit="$commit (modified)"
except=$(IFS=,; echo "${!EXCEPTIONS[*]}")
cmdline="tests/timing/run.sh --n $n"
[ $self = 0 ] || cmdline="$cmdline --self-test"
[ ${#args[@]} = 0 ] || cmdline="$cmdline ${args[*]}"
tmp=$result.tmp
rc=0
if [ $self = 1 ]; then
    "$bin/kitls-timing" --self-test --n "$n" --out "$tmp" "${args[@]}" || rc=$?
else
    "$bin/kitls-timing" --n "$n" --except "$except" --out "$tmp" "${args[@]}" || rc=$?
fi
{
    echo "# command: $cmdline"
    echo "# commit: $commit; compiler: $($CC --version | head -1)"
    cat "$tmp"
} >"$result"
rm -f "$tmp"
if [ $self = 0 ]; then
    for name in "${!EXCEPTIONS[@]}"; do
        if grep -q "^$name .*exception" "$result"; then
            echo "exception $name: ${EXCEPTIONS[$name]}" | tee -a "$result"
        fi
    done
fi
case $rc in
0) verdict=$([ $self = 1 ] && echo "planted leaks detected, constant-time controls clean" || echo "no leak over the threshold") ;;
1) verdict=$([ $self = 1 ] && echo "planted leak NOT detected" || echo "LEAK: a path is over the threshold") ;;
3) verdict="constant-time control flagged: the machine is too noisy, rerun" ;;
*) verdict="error ($rc)" ;;
esac
echo "run.sh: $verdict; results in $result" | tee -a "$result"
exit $rc
