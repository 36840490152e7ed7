#!/bin/sh
# Run a shell command inside a VM booted from one cached kernel:
#   vm-run.sh NAME 'command...'
# NAME is a kernel unpacked by vm-kernels.sh (old, new).  The host root is
# shared read-write over 9p; the command runs chrooted into it, in the
# current directory.  Exits with the command's status (124 on timeout).
set -eu

CACHE=${KITLS_CACHE:-/var/cache/kitls}
name=$1
cmd=$2
here=$(cd "$(dirname "$0")" && pwd)
kd=$CACHE/kernels/$name
initrd=$CACHE/initrd-$name.gz
if [ ! -f "$initrd" ] || [ "$here/vm-initrd.sh" -nt "$initrd" ]; then
    sh "$here/vm-initrd.sh" "$kd" "$initrd" 2>/dev/null
fi

run=$(mktemp -d "$CACHE/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
cat > "$run/cmd.sh" <<CMD
cd '$(pwd)'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export KITLS_VM=$name
$cmd
CMD
echo 255 > "$run/status"

# KITLS_VM_QEMU_ARGS: more qemu options (bench/nginx/run.sh: -icount, so
# that the guest's CPU times count instructions, not the host's load).
# shellcheck disable=SC2086
timeout "${KITLS_VM_TIMEOUT:-170}" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 ${KITLS_VM_QEMU_ARGS:-} \
    -nographic -no-reboot -monitor none -serial stdio \
    -kernel "$kd/vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init kitls_run=$run/cmd.sh kitls_status=$run/status" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,multidevs=remap \
    -nic none < /dev/null || { rc=$?; [ $rc -eq 124 ] && { echo "vm-run: $name: timed out" >&2; exit 124; }; }
exit "$(cat "$run/status")"
