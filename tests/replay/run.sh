#!/usr/bin/env bash
# The 0-RTT replay corpus (tests/replay/corpus/*.flight): recorded first
# flights of resuming clients (ClientHello + early data), each replayed twice
# against a fresh server; see tests/replay/README.md.
#
# Usage: tests/replay/run.sh [--self-test]   (the default; what `make check` runs)
#            replay every flight of the committed corpus (replay_check), then
#            regenerate the corpus (replay_gen) into a temporary directory and
#            compare it byte for byte with the committed one; if the generator
#            reports it cannot be deterministic (libcrypto without deprecated
#            APIs), the comparison is skipped and the fresh corpus is replayed
#            instead.
#        tests/replay/run.sh --check [FLIGHT...]   replay only (default: the corpus)
#        tests/replay/run.sh --regenerate          rewrite the committed corpus
# Environment: top_srcdir, top_builddir (set by `make check`), VERBOSE=1.
# Exit: 0 pass, 1 failure, 99 setup error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
top_builddir=${top_builddir:-$here/../..}
corpus=$top_srcdir/tests/replay/corpus
gen=$top_builddir/tests/replay/replay_gen
check=$top_builddir/tests/replay/replay_check
vflag=()
[ "${VERBOSE:-0}" = 1 ] && vflag=(-v)
mode=${1:---self-test}
[ $# -gt 0 ] && shift

for tool in "$gen" "$check"; do
    if [ ! -x "$tool" ]; then
        echo "ERROR: $tool is not built (make check builds it)"
        exit 99
    fi
done

flights() {
    local f
    for f in "$1"/*.flight; do
        [ -e "$f" ] && printf '%s\n' "$f"
    done
}

case $mode in
--check)
    if [ $# -eq 0 ]; then
        mapfile -t files < <(flights "$corpus")
        set -- "${files[@]}"
    fi
    exec "$check" "${vflag[@]}" "$@"
    ;;
--regenerate)
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/kitls-replay.XXXXXX") || exit 99
    trap 'rm -rf "$tmp"' EXIT
    "$gen" "$tmp" || exit 1
    mapfile -t fresh < <(flights "$tmp")
    "$check" "${vflag[@]}" "${fresh[@]}" || { echo "the new corpus fails; $corpus left alone"; exit 1; }
    rm -f "$corpus"/*.flight
    cp "${fresh[@]}" "$corpus"/ || exit 99
    echo "corpus rewritten: ${#fresh[@]} flights in $corpus"
    exit 0
    ;;
--self-test) ;;
*)
    sed -n '2,17p' "$0"
    exit 99
    ;;
esac

status=0
mapfile -t committed < <(flights "$corpus")
if [ ${#committed[@]} -eq 0 ]; then
    echo "ERROR: no flights in $corpus"
    exit 99
fi
echo "== replaying the committed corpus (${#committed[@]} flights)"
"$check" "${vflag[@]}" "${committed[@]}" || status=1

echo "== regenerating the corpus"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kitls-replay.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
if ! "$gen" "$tmp" >"$tmp/gen.log" 2>&1; then
    cat "$tmp/gen.log"
    echo "FAIL: replay_gen"
    exit 1
fi
if grep -q '^deterministic: yes' "$tmp/gen.log"; then
    mapfile -t fresh < <(flights "$tmp")
    same=1
    for f in "${fresh[@]}"; do
        name=$(basename "$f")
        if [ ! -e "$corpus/$name" ]; then
            echo "FAIL $name: generated but not in the committed corpus"
            same=0
        elif ! cmp -s "$f" "$corpus/$name"; then
            echo "FAIL $name: the generator no longer reproduces the committed flight"
            diff "$corpus/$name" "$f" | head -20
            same=0
        fi
    done
    for f in "${committed[@]}"; do
        [ -e "$tmp/$(basename "$f")" ] || { echo "FAIL $(basename "$f"): no longer generated"; same=0; }
    done
    if [ $same = 1 ]; then
        echo "PASS the generator reproduces all ${#committed[@]} committed flights byte for byte"
    else
        echo "(if the library's wire output changed on purpose: tests/replay/run.sh --regenerate)"
        status=1
    fi
else
    sed -n 's/^deterministic: /SKIP byte-for-byte comparison: deterministic: /p' "$tmp/gen.log"
    mapfile -t fresh < <(flights "$tmp")
    echo "== replaying the regenerated corpus instead"
    "$check" "${vflag[@]}" "${fresh[@]}" || status=1
fi
exit $status
