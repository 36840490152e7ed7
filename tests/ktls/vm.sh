#!/bin/sh
# make check: the kTLS tests on real Linux kernels, in virtual machines.
#
# Boots bookworm's 6.1 kernel (kTLS without TLS 1.3 rekey) and a >= 6.14
# kernel (rekey) under qemu-system-x86_64 -accel tcg (vm-kernels.sh,
# vm-initrd.sh, vm-run.sh), both at once, and runs in each, against the
# host root shared over 9p: test_ktls_kernel (kernel records against the
# userspace record layer, offload, KeyUpdate, policies, tls_stat), then
# vm-interop.sh (kitls-server / kitls-client with kTLS against openssl
# s_client / s_server for each suite, sendfile verified by sha256, tickets
# after the offload, KeyUpdate k/K, close_notify, tls_stat, and the heap
# per offloaded connection against its 2 KiB target).  Downloads and
# images are cached in ${KITLS_CACHE:-/var/cache/kitls}.
#
# Exit 77 (skip) only when qemu or the image tools are missing and cannot
# be installed.  KITLS_VM_KERNELS="old new" picks the kernels;
# KITLS_INTEROP_PARTS the vm-interop.sh parts (default "suites policy
# keyupdates stat heap"; add "bench" for the sendfile benchmark, "none"
# skips it).
set -u

here=$(cd "$(dirname "$0")" && pwd)
bd=$(cd "${top_builddir:-$here/../..}" && pwd)
prog=$bd/tests/ktls/test_ktls_kernel
[ -x "$prog" ] || { echo "vm.sh: $prog is not built"; exit 1; }

need() {
    for t in qemu-system-x86_64 busybox depmod cpio xz dpkg-deb apt-get; do
        command -v "$t" >/dev/null 2>&1 || return 1
    done
    # The initramfs needs the static busybox (busybox-static).
    [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q "not a dynamic"
}
if ! need; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "vm.sh: installing qemu-system-x86 busybox-static kmod cpio xz-utils zstd"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            qemu-system-x86 busybox-static kmod cpio xz-utils zstd >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                qemu-system-x86 busybox-static kmod cpio xz-utils zstd >/dev/null 2>&1; }
    fi
    if ! need; then
        echo "vm.sh: SKIP: qemu-system-x86_64 / busybox-static / kmod / cpio missing and not installable"
        exit 77
    fi
fi

export KITLS_CACHE=${KITLS_CACHE:-/var/cache/kitls}
mkdir -p "$KITLS_CACHE" || exit 1
if ! sh "$here/vm-kernels.sh" > "$KITLS_CACHE/kernels.txt"; then
    echo "vm.sh: could not fetch the Debian kernels (see above)"
    exit 1
fi

start=$(date +%s)
kernels=${KITLS_VM_KERNELS:-old new}
for n in $kernels; do
    case $n in old) exp=0 ;; *) exp=1 ;; esac
    echo "== booting $n: $(grep "^$n " "$KITLS_CACHE/kernels.txt" | cut -d' ' -f3)"
    parts=${KITLS_INTEROP_PARTS:-suites policy keyupdates stat heap}
    if [ "$parts" = none ]; then
        cmd="uname -r; KITLS_EXPECT_REKEY=$exp $prog"
    else
        cmd="uname -r; KITLS_EXPECT_REKEY=$exp $prog; r=\$?; KITLS_EXPECT_REKEY=$exp KITLS_INTEROP_PARTS='$parts' bash $here/vm-interop.sh $bd || r=1; exit \$r"
    fi
    KITLS_VM_TIMEOUT=${KITLS_VM_TIMEOUT:-900} sh "$here/vm-run.sh" "$n" "$cmd" \
        > "$KITLS_CACHE/vm-$n.log" 2>&1 &
    eval "pid_$n=\$!"
done
rc=0
for n in $kernels; do
    eval "wait \$pid_$n"
    st=$?
    echo "== $n (exit $st)"
    # The serial console: drop the firmware's escape sequences.
    tr -d '\033\r' < "$KITLS_CACHE/vm-$n.log" | grep -av -e '^c\[' -e SeaBIOS -e 'Booting from' \
        -e 'reboot: Power down'
    [ $st -eq 0 ] || rc=1
done
echo "vm.sh: $kernels in $(( $(date +%s) - start )) s"
# One closing line for both kernels.
p=0; f=0
for n in $kernels; do
    # test_ktls_kernel's line, then vm-interop.sh's.
    lines=$(tr -d '\r' < "$KITLS_CACHE/vm-$n.log" | grep -aE '^[0-9]+ passed, [0-9]+ failed$')
    want=2; [ "${KITLS_INTEROP_PARTS:-}" = none ] && want=1
    [ "$(printf '%s\n' "$lines" | grep -c passed)" -eq "$want" ] || f=$((f + 1))
    for l in $(printf '%s\n' "$lines" | tr ' ' '_'); do
        l=$(echo "$l" | tr '_' ' ')
        p=$((p + ${l%% passed*})); x=${l#*, }; f=$((f + ${x%% failed*}))
    done
done
echo "$p passed, $f failed"
exit $rc
