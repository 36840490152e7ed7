#!/usr/bin/env bash
# Replay every fuzz input in the tree (tests/fuzz/seeds/TARGET,
# tests/fuzz/corpus/TARGET, tests/fuzz/regressions/TARGET) through the
# plain-main build of each target (main.c), under ASan+UBSan when the
# compiler has them, and check that the recorded seeds are still what the
# library produces (else they no longer reach deep states: regenerate them
# with tests/fuzz/run.sh --reseed).  The release gate of docs/fuzzing.md.
#
# Usage: tests/fuzz/replay.sh [--skip-baseline] [--bindir DIR] [-v]
#          Without --skip-baseline, a baseline is built first from the
#          last commit (git HEAD) and the inputs are replayed against it
#          too, so a failure can be told apart: new in the working tree,
#          or already in HEAD.  Then the current tree is built and
#          replayed; the exit status is that of the current build.
#          --skip-baseline: only the current build.  --bindir DIR: use
#          the replay_TARGET programs in DIR instead of building (what
#          `make check` does: it runs this script with no arguments and
#          top_builddir set, meaning --skip-baseline --bindir
#          $top_builddir/tests/fuzz).
#        tests/fuzz/replay.sh --self-test
#          Proves the gate works: builds a throwaway copy of a target with
#          a planted heap overflow, checks that replaying a planted input
#          fails and that the clean corpus still passes on it.
# Environment: CC (compiler for the replay builds), TMPDIR, VERBOSE=1.
# Exit: 0 pass, 1 an input crashed (or the self-test failed), 99 setup error.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
srcdir_fuzz=${top_srcdir:+$(cd "$top_srcdir" && pwd)/tests/fuzz}
srcdir_fuzz=${srcdir_fuzz:-$here}
targets=(record hsmsg server client session ticket ktls)
mode=baseline bindir='' verbose=${VERBOSE:-0}

if [ $# -eq 0 ] && [ -n "${top_builddir:-}" ] && [ -x "$top_builddir/tests/fuzz/replay_record" ]; then
    mode=current
    bindir=$(cd "$top_builddir/tests/fuzz" && pwd)
fi
while [ $# -gt 0 ]; do
    case $1 in
    --skip-baseline) mode=current; shift ;;
    --self-test) mode=self-test; shift ;;
    --bindir) bindir=$(cd "$2" && pwd) || exit 99; mode=current; shift 2 ;;
    -v) verbose=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "replay.sh: unknown argument $1" >&2; exit 99 ;;
    esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kitls-fuzz-replay.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

build() { # srcdir outdir [build.sh options]
    local s=$1 o=$2
    shift 2
    if ! bash "$s/tests/fuzz/build.sh" --mode replay --src "$s" --out "$o" "$@" >"$o.log" 2>&1; then
        tail -30 "$o.log"
        echo "replay.sh: build of $s failed"
        return 1
    fi
}

# Replay all inputs of every target with the programs in $1; prints one
# line per target; returns the number of failing targets.
replay_all() {
    local bin=$1 label=$2 fails=0 t dirs n
    for t in "${targets[@]}"; do
        dirs=()
        for d in "$srcdir_fuzz/seeds/$t" "$srcdir_fuzz/corpus/$t" "$srcdir_fuzz/regressions/$t"; do
            [ -d "$d" ] && dirs+=("$d")
        done
        [ ${#dirs[@]} -gt 0 ] || { echo "$label $t: no inputs"; continue; }
        n=$(find "${dirs[@]}" -type f ! -name '.*' | wc -l)
        if [ ! -x "$bin/replay_$t" ]; then
            echo "$label $t: $bin/replay_$t missing"
            fails=$((fails + 1))
            continue
        fi
        if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
            UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
            "$bin/replay_$t" -v "${dirs[@]}" >"$tmp/$label-$t.log" 2>&1; then
            echo "$label $t: $n inputs ok"
            [ "$verbose" = 1 ] && cat "$tmp/$label-$t.log"
        else
            echo "$label $t: FAILED (of $n inputs; the last file named below is the culprit)"
            grep -v '^    #' "$tmp/$label-$t.log" | tail -25 | sed 's/^/    /'
            fails=$((fails + 1))
        fi
    done
    return $fails
}

# The seeds are recorded handshakes: regenerate them with the programs in
# $1 and compare with the committed ones.  Returns the number of stale targets.
check_seeds() {
    local bin=$1 stale=0 t
    for t in "${targets[@]}"; do
        rm -rf "$tmp/seeds-$t" && mkdir -p "$tmp/seeds-$t"
        if ! "$bin/replay_$t" --write-seeds "$tmp/seeds-$t" >"$tmp/seeds-$t.log" 2>&1; then
            echo "seeds $t: regeneration FAILED"; tail -5 "$tmp/seeds-$t.log" | sed 's/^/    /'
            stale=$((stale + 1))
        elif grep -q 'not deterministic' "$tmp/seeds-$t.log"; then
            echo "seeds $t: libcrypto cannot be made deterministic here; not compared"
        elif ! diff -r -q "$srcdir_fuzz/seeds/$t" "$tmp/seeds-$t" >"$tmp/seeds-$t.diff" 2>&1; then
            echo "seeds $t: STALE (the library's handshake bytes changed):"
            sed 's/^/    /' "$tmp/seeds-$t.diff" | head -5
            stale=$((stale + 1))
        fi
    done
    [ $stale -eq 0 ] && echo "seeds: all ${#targets[@]} targets' seeds are current"
    [ $stale -eq 0 ] || echo "seeds: regenerate with: tests/fuzz/run.sh --reseed (then commit tests/fuzz/seeds)"
    return $stale
}

case $mode in
self-test)
    # A throwaway build with the planted bug (fz_planted in common.c).
    build "$src" "$tmp/planted" --planted session || exit 99
    mkdir -p "$tmp/inputs"
    printf 'KITLS-PLANTED-CRASH' >"$tmp/inputs/planted-crash"
    ok=1
    if "$tmp/planted/replay_session" "$srcdir_fuzz/seeds/session" "$srcdir_fuzz/corpus/session" \
        >"$tmp/clean.log" 2>&1; then
        echo "self-test: clean corpus passes on the planted build: ok"
    else
        echo "self-test: clean corpus FAILS on the planted build"; ok=0
    fi
    if ASAN_OPTIONS=abort_on_error=1 "$tmp/planted/replay_session" -v "$srcdir_fuzz/seeds/session" "$tmp/inputs" \
        >"$tmp/planted.log" 2>&1; then
        echo "self-test: the planted crash was NOT detected"; ok=0
    else
        grep -q -E 'AddressSanitizer|runtime error|Aborted|abort' "$tmp/planted.log" ||
            grep -q 'planted-crash' "$tmp/planted.log" || ok=0
        echo "self-test: planted crash detected:"
        grep -E 'planted-crash|ERROR: AddressSanitizer|runtime error' "$tmp/planted.log" | head -3 | sed 's/^/    /'
    fi
    # The same gate code path as the real run: replay_all must fail on it.
    mkdir -p "$tmp/pbin"
    for t in "${targets[@]}"; do ln -s "$tmp/planted/replay_session" "$tmp/pbin/replay_$t"; done
    saved=$srcdir_fuzz
    mkdir -p "$tmp/tree/corpus/session"
    cp "$tmp/inputs/planted-crash" "$tmp/tree/corpus/session/"
    srcdir_fuzz=$tmp/tree targets=(session)
    if replay_all "$tmp/pbin" planted >/dev/null; then
        echo "self-test: replay_all missed the planted input"; ok=0
    else
        echo "self-test: replay_all reports the planted input: ok"
    fi
    srcdir_fuzz=$saved
    [ "$verbose" = 1 ] && cat "$tmp/planted.log"
    [ $ok = 1 ] && { echo "self-test: PASS"; exit 0; }
    echo "self-test: FAIL"
    exit 1
    ;;
baseline)
    if git -C "$src" rev-parse --verify -q HEAD >/dev/null &&
        git -C "$src" cat-file -e HEAD:tests/fuzz/build.sh 2>/dev/null; then
        mkdir -p "$tmp/base-src"
        git -C "$src" archive HEAD | tar -x -C "$tmp/base-src"
        if build "$tmp/base-src" "$tmp/base"; then
            replay_all "$tmp/base" baseline
            echo "baseline (HEAD $(git -C "$src" rev-parse --short HEAD)): $? failing targets"
        fi
    else
        echo "baseline: HEAD has no tests/fuzz; skipped"
    fi
    ;;
esac

if [ -z "$bindir" ]; then
    build "$src" "$tmp/current" || exit 99
    bindir=$tmp/current
fi
replay_all "$bindir" current
fails=$?
echo "current: $fails failing targets"
check_seeds "$bindir"
stale=$?
[ $fails -eq 0 ] && [ $stale -eq 0 ]
