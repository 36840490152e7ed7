#!/bin/sh
# The io_uring driver with kTLS on real kernels: boots the cached Debian
# kernels of the kTLS VM (tests/ktls/vm-run.sh; 6.1 without TLS 1.3 rekey
# and a >= 6.14 one with it), one after the other, and runs
# tests/uring/vm-uring-guest.sh in each against the host root over 9p.
#
# Exit 77 (skip) with the reason when qemu, the build or the cached
# kernels are missing (tests/ktls/vm.sh fetches the kernels; this script
# never downloads).  KITLS_VM_KERNELS="old new" picks the kernels.  The
# last line is "N passed, N failed" for all kernels.
set -u

here=$(cd "$(dirname "$0")" && pwd)
ktls=$here/../ktls
bd=$(cd "${top_builddir:-$here/../..}" && pwd)
CACHE=${KITLS_CACHE:-/var/cache/kitls}
export KITLS_CACHE=$CACHE

skip() { echo "vm-uring.sh: SKIP: $*"; exit 77; }
for t in qemu-system-x86_64 busybox cpio; do
    command -v "$t" >/dev/null 2>&1 || skip "$t not installed (see tests/ktls/vm.sh)"
done
for t in openssl curl; do
    command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
done
[ -x "$bd/examples/uring-echo" ] && [ -x "$bd/tests/uring/test_uring" ] &&
    [ -x "$bd/tests/uring/test_uring_reentry" ] ||
    skip "the io_uring examples or test_uring are not built (liburing, check)"
kernels=${KITLS_VM_KERNELS:-old new}
for n in $kernels; do
    [ -f "$CACHE/kernels/$n.ok" ] ||
        skip "kernel '$n' not cached in $CACHE/kernels (run tests/ktls/vm.sh once to fetch it)"
done

start=$(date +%s)
rc=0
p=0
f=0
for n in $kernels; do
    case $n in old) exp=0 ;; *) exp=1 ;; esac
    t0=$(date +%s)
    echo "== booting $n: $(cat "$CACHE/kernels/$n/kver" 2>/dev/null)"
    KITLS_VM_TIMEOUT=${KITLS_VM_TIMEOUT:-600} sh "$ktls/vm-run.sh" "$n" \
        "KITLS_EXPECT_REKEY=$exp bash $here/vm-uring-guest.sh $bd" \
        >"$CACHE/vm-uring-$n.log" 2>&1
    st=$?
    # The serial console: drop the firmware's escape sequences.
    tr -d '\033\r' <"$CACHE/vm-uring-$n.log" |
        grep -av -e '^c\[' -e SeaBIOS -e 'Booting from' -e 'reboot: Power down'
    echo "== $n: exit $st in $(( $(date +%s) - t0 )) s"
    [ $st -eq 0 ] || rc=1
    l=$(tr -d '\r' <"$CACHE/vm-uring-$n.log" | grep -aE '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)
    if [ -n "$l" ]; then
        p=$((p + ${l%% passed*})); x=${l#*, }; f=$((f + ${x%% failed*}))
    else
        f=$((f + 1))
    fi
done
echo "vm-uring.sh: $kernels in $(( $(date +%s) - start )) s"
echo "$p passed, $f failed"
exit $rc
