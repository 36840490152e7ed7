#!/usr/bin/env bash
# The integration suite under valgrind memcheck (`make check-valgrind`,
# after the unit tests; docs/fuzzing.md): tests/interop/run.sh with every
# kitls-client and kitls-server process it starts running under memcheck.
#
# Each tool process writes its own log (--log-file=DIR/vg.PID.log).  The
# run fails when the interop suite fails, or when any log reports a
# memcheck error or a definite/indirect leak.  Processes the suite kills
# (a server it stops) report errors found so far, without a leak check;
# processes that exit by themselves (clients, `kitls-server --once`) get
# the full leak check.
#
# Usage: tests/fuzz/valgrind-tools.sh   (from the build directory;
#        top_builddir and top_srcdir as `make` passes them)
# Exit: 0 clean, 1 failure, 77 valgrind or the interop peers missing.
set -uo pipefail
vg=${VALGRIND:-valgrind}
command -v "$vg" >/dev/null || { echo "valgrind not found: skipped"; exit 77; }
bd=$(cd "${top_builddir:-.}" && pwd)
sd=$(cd "${top_srcdir:-$bd}" && pwd)
w=$(mktemp -d "${TMPDIR:-/tmp}/kitls-vg-tools.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT
logs=$bd/tests/fuzz/valgrind-tools.logs
rm -rf "$logs" && mkdir -p "$logs" || exit 1
for tool in kitls-client kitls-server; do
    # valgrind runs the real program behind libtool's wrapper script, with
    # the uninstalled libraries on LD_LIBRARY_PATH.  Not through `libtool
    # --mode=execute`: it splits arguments at newlines, and the suite
    # passes multi-line --message arguments (which then lost all but their
    # first line, and the peers waited for the rest).
    real=$bd/examples/.libs/$tool
    [ -x "$real" ] || real=$bd/examples/$tool # a static or -no-install build
    cat >"$w/$tool" <<EOF
#!/bin/sh
LD_LIBRARY_PATH=$bd/lib/.libs:$bd/ktls/.libs:$bd/uring/.libs:$bd/redis/.libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
exec $vg --tool=memcheck --error-exitcode=99 --leak-check=full \\
    --errors-for-leak-kinds=definite,indirect --log-file=$logs/vg.$tool.%p.log \\
    $real "\$@"
EOF
    chmod +x "$w/$tool"
done
start=$SECONDS
# valgrind makes each process start slowly (seconds; tens of seconds on a
# loaded machine) and run many times slower: long case timeouts, and the
# suite's pauses and the tools' I/O timeout stretched tenfold.
KITLS_CLIENT=$w/kitls-client KITLS_SERVER=$w/kitls-server CASE_TIMEOUT=${CASE_TIMEOUT:-120} \
    INTEROP_PACE=${INTEROP_PACE:-10} \
    top_builddir=$bd bash "$sd/tests/interop/run.sh" >"$logs/interop.out" 2>&1
rc=$?
tail -n 3 "$logs/interop.out"
[ $rc -eq 77 ] && { echo "valgrind-tools: interop peers missing: skipped"; exit 77; }
n=0 bad=0
for l in "$logs"/vg.*.log; do
    [ -e "$l" ] || continue
    n=$((n + 1))
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$l" | tail -1)
    lost=$(grep -cE '(definitely|indirectly) lost: [1-9]' "$l")
    if [ "${errs:-0}" != 0 ] || [ "$lost" != 0 ]; then
        bad=$((bad + 1))
        echo "memcheck: $l: ${errs:-?} errors, leak lines $lost"
        grep -m5 -E 'Invalid|uninitialised|lost:' "$l" | sed 's/^/    /'
    fi
done
echo "valgrind-tools: $n tool processes under memcheck, $bad with errors or leaks," \
    "interop exit $rc, $((SECONDS - start)) s"
[ $n -gt 0 ] && [ $bad -eq 0 ] && [ $rc -eq 0 ]
