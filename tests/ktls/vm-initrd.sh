#!/bin/sh
# Build a busybox-static initramfs for one unpacked kernel (vm-kernels.sh):
#   vm-initrd.sh KDIR OUT
# The image holds busybox, the modules the VM needs (decompressed, with
# their dependencies, in load order in /modules.list) and /init, which:
#   - mounts proc, sys, devtmpfs; insmods every module in /modules.list;
#   - mounts the host root (9p tag "hostroot") read-write on /host;
#   - brings up lo; mounts proc/sys/dev inside /host (not /tmp: see below);
#   - runs the script named by kitls_run=PATH on the kernel command line
#     chrooted into /host, writes its exit status to kitls_status=PATH
#     (a host path) and powers off.
set -eu

KDIR=$1
OUT=$2
kver=$(cat "$KDIR/kver")
mods=$KDIR/modules/$kver
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# depmod needs <base>/lib/modules/<kver>.
mkdir -p "$work/dep/lib/modules"
ln -s "$mods" "$work/dep/lib/modules/$kver"
depmod -b "$work/dep" "$kver"

# Wanted modules; absent ones are built in (or do not exist on this
# kernel) and are skipped.  The crypto modules are loaded explicitly: the
# VM has no usable modprobe for the kernel's own request_module().
WANT="virtio_pci virtio_blk 9pnet 9pnet_virtio netfs 9p tls \
  aes_generic aesni_intel gcm ghash_generic ghash_clmulni_intel \
  chacha chacha_generic chacha_x86_64 libchacha poly1305_generic poly1305_x86_64 \
  chacha20poly1305 cryptd crypto_simd"

# Closure in dependency order (deps first), from modules.dep.
dep=$mods/modules.dep
order=$work/order
: > "$order"
add() { # module path relative to $mods
    grep -qxF "$1" "$order" && return 0
    for d in $(sed -n "s|^$1: *||p" "$dep"); do add "$d"; done
    echo "$1" >> "$order"
}
for m in $WANT; do
    p=$(grep -E "(^|/)$(echo "$m" | sed 's/[-_]/[-_]/g')\.ko(\.xz|\.zst|\.gz)?:" "$dep" | head -n1 | cut -d: -f1)
    [ -n "$p" ] && add "$p"
done

root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/host" "$root/lib/modules"
cp /bin/busybox "$root/bin/busybox"
for a in sh mount umount insmod ip poweroff sleep cat echo chroot mkdir sed; do
    ln -s busybox "$root/bin/$a"
done
: > "$root/modules.list"
while read -r p; do
    b=$(basename "$p"); b=${b%.xz}; b=${b%.zst}; b=${b%.gz}
    case "$p" in
    *.xz) xz -dc "$mods/$p" > "$root/lib/modules/$b" ;;
    *.zst) zstd -qdc "$mods/$p" > "$root/lib/modules/$b" ;;
    *.gz) gzip -dc "$mods/$p" > "$root/lib/modules/$b" ;;
    *) cp "$mods/$p" "$root/lib/modules/$b" ;;
    esac
    echo "$b" >> "$root/modules.list"
done < "$order"

cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod /lib/modules/$m 2>/dev/null; done
run=$(sed -n 's/.*kitls_run=\([^ ]*\).*/\1/p' /proc/cmdline)
st=$(sed -n 's/.*kitls_status=\([^ ]*\).*/\1/p' /proc/cmdline)
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 hostroot /host; then
    ip link set lo up
    mount -t proc proc /host/proc
    mount -t sysfs sys /host/sys
    mount -t devtmpfs dev /host/dev
    # /tmp stays the host's: the build tree may live there (CI clones anywhere).
    chroot /host /bin/sh "$run"
    echo $? > "/host$st"
else
    echo "init: cannot mount the host root" > /dev/console
fi
sync
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
