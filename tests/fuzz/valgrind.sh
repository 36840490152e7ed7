#!/usr/bin/env bash
# Run test programs under valgrind memcheck (`make check-valgrind`;
# docs/fuzzing.md).  Any memcheck error or definite/indirect leak fails
# the program (--error-exitcode); Check runs tests in-process (CK_FORK=no)
# so that valgrind sees them.
#
# Usage: tests/fuzz/valgrind.sh PROGRAM...   (from the build directory)
# Environment: LIBTOOL (to run libtool wrapper scripts; `make` passes it),
#   VALGRIND (default valgrind), VALGRIND_OPTS (extra options).
# Exit: 0 all clean, 1 a program failed, 77 valgrind missing.
set -uo pipefail
vg=${VALGRIND:-valgrind}
command -v "$vg" >/dev/null || { echo "valgrind not found: skipped"; exit 77; }
[ $# -gt 0 ] || { echo "usage: $0 PROGRAM..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
fuzzdir=${top_srcdir:+$top_srcdir/tests/fuzz}
fuzzdir=${fuzzdir:-$here}
status=0
for p in "$@"; do
    args=()
    case $(basename "$p") in
    replay_*) t=${p##*replay_}; args=("$fuzzdir/seeds/$t" "$fuzzdir/corpus/$t")
              [ -d "$fuzzdir/regressions/$t" ] && args+=("$fuzzdir/regressions/$t") ;;
    esac
    log=$p.valgrind.log
    read -r -a extra <<<"${VALGRIND_OPTS:-}"
    run=("$vg" --tool=memcheck --error-exitcode=99 --leak-check=full
         "--errors-for-leak-kinds=definite,indirect" --track-origins=yes
         "${extra[@]}" --log-file="$log" "$p" "${args[@]}")
    if [ -n "${LIBTOOL:-}" ]; then
        read -r -a lt <<<"$LIBTOOL"
        run=("${lt[@]}" --mode=execute "${run[@]}")
    fi
    start=$SECONDS
    CK_FORK=no CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-3600} "${run[@]}" >"$p.valgrind.out" 2>&1
    rc=$?
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "PASS: $p (valgrind: ${errs:-0} errors, $((SECONDS - start)) s)"
    else
        echo "FAIL: $p (exit $rc, valgrind: ${errs:-?} errors; see $log)"
        tail -5 "$p.valgrind.out" | sed 's/^/    /'
        status=1
    fi
done
exit $status
