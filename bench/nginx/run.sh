#!/bin/bash
# bench/nginx/run.sh — uring-httpd (kitls, io_uring) against Debian's nginx
# 1.22 (OpenSSL 3.0, `ssl_conf_command Options KTLS; sendfile on;`), both
# inside the project's kTLS VM (tests/ktls/vm-run.sh: qemu TCG, one vCPU,
# the cached Debian 7.x kernel "new"; the host root over 9p, so the
# host-installed nginx runs in the guest).  One command on a clean clone:
#
#   bench/nginx/run.sh [--runs N] [--ka-r R] [--fresh-n N] [--big-mib M] [--big-n N]
#                      [--kernel new|old] [--modes "ktls user"]
#                      [--cases "big ka fresh"] [--out FILE]
#                      [--kitls-args "ARGS"] [--base BUILDDIR]
#                      [--icount SHIFT|off] [--kitls-env "VAR=VALUE ..."]
#
# It installs nginx-light from Debian when /usr/sbin/nginx is missing (a
# policy-rc.d answering 101 keeps its postinst from starting a service on
# port 80; removed again if this script put it there), builds the tree
# (autoreconf, configure, make in ./build) when the binaries are missing,
# makes one certificate (ECDSA P-256) and a random big file, boots the VM
# once and runs bench/nginx/guest.sh there.  Same files (tmpfs), same
# certificate, same suite (TLS_AES_128_GCM_SHA256, X25519), no session
# tickets on either server, both servers in a kTLS mode and in a
# userspace-TLS mode.  Runs are interleaved (nginx, kitls / kitls, nginx
# alternately); cases per run and server:
#   big    GET of the big file with curl, sha256 checked -> server CPU per GiB
#   ka     bench/load/loadgen, KA_C keep-alive clients x KA_R GETs each,
#          100 x 16 KiB files, every body byte compared -> requests per
#          server CPU-second
#   fresh  the same with FRESH_C concurrent clients, one GET per connection
# Server CPU = utime + stime of all server processes (nginx: master and
# worker; uring-httpd: its threads incl. io_uring's io-wq workers) from
# /proc/PID/stat before and after.  Softirq work (the loopback receive path
# of both ends) lands in whichever task was running; the guest's /proc/stat
# softirq column is printed per measurement.  Prints a table: per pair
# (same run, same mode, same case) the ratio kitls / nginx, median
# [min..max] over runs, and the tls_stat deltas.  --base BUILDDIR adds
# that build's uring-httpd as a third server "base" (before/after a change,
# interleaved in the same boot).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=6 KA_R=30 FRESH_N=256 BIG_MIB=256 BIG_N=1 KERNEL=new MODES="ktls user" OUT='' KITLS_ARGS='' CASES="big ka fresh" BASE='' ICOUNT=1 KITLS_ENV=''
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --ka-r) KA_R=$2; shift 2 ;;
    --fresh-n) FRESH_N=$2; shift 2 ;;
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --big-n) BIG_N=$2; shift 2 ;;
    --kernel) KERNEL=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --kitls-args) KITLS_ARGS=$2; shift 2 ;;
    --cases) CASES=$2; shift 2 ;;
    --base) BASE=$(cd "$2" && pwd); shift 2 ;;
    --icount) ICOUNT=$2; shift 2 ;;
    --kitls-env) KITLS_ENV=$2; shift 2 ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
    esac
done
CACHE=${KITLS_CACHE:-/var/cache/kitls}
for t in qemu-system-x86_64 busybox cpio curl openssl; do
    command -v "$t" >/dev/null || { echo "vs-nginx: $t missing (tests/run-all.sh's packages)"; exit 1; }
done
[ -f "$CACHE/kernels/$KERNEL.ok" ] ||
    { echo "vs-nginx: kernel '$KERNEL' not cached in $CACHE/kernels: run tests/ktls/vm.sh once"; exit 1; }

if [ ! -x /usr/sbin/nginx ]; then
    prc=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        prc=1
    fi
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null
    [ -z "$prc" ] || rm -f /usr/sbin/policy-rc.d
fi
# The package must not leave a server on port 80 behind (it would also
# show up in the VM's view of nothing, but it costs the host CPU).
if pgrep -x nginx >/dev/null; then
    echo "vs-nginx: an nginx is running on this host (pid $(pgrep -x nginx | tr '\n' ' ')); stop it first"
    exit 1
fi

b=${top_builddir:-$top/build}
if [ ! -x "$b/examples/uring-httpd" ] || [ ! -x "$b/bench/load/loadgen" ]; then
    b=$top/build
    (cd "$top" && [ -x configure ] || autoreconf -fi) >/dev/null
    mkdir -p "$b"
    (cd "$b" && { [ -f Makefile ] || "$top/configure" -q; } && make -j"$(nproc)" >/dev/null)
fi
b=$(cd "$b" && pwd)

tmp=$(mktemp -d "$CACHE/vs-nginx.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
head -c "$((BIG_MIB * 1048576))" /dev/urandom >"$tmp/big.bin"
sha256sum "$tmp/big.bin" >"$tmp/big.sha256"
res=$tmp/results
: >"$res"
echo "vs-nginx: host $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); VM kernel $(cat "$CACHE/kernels/$KERNEL/kver")"
echo "vs-nginx: $RUNS runs x modes ($MODES) x servers (nginx kitls${BASE:+ base}) x cases ($CASES); raw lines:"
echo "  run mode case server unit work server_cpu_s errors tls_stat-deltas softirq-ticks"
t0=$(date +%s)
# qemu -icount: the guest clock, and so every CPU time read in the guest,
# follows the instructions executed (2^SHIFT ns each) instead of the host's
# clock: another job on the host then slows the run but does not inflate
# the servers' CPU times.  --icount off: plain TCG time.
qa=
[ "$ICOUNT" = off ] || qa="-icount shift=$ICOUNT,sleep=on"
echo "vs-nginx: qemu ${qa:-without -icount}"
KITLS_VM_QEMU_ARGS=$qa KITLS_VM_TIMEOUT=${KITLS_VM_TIMEOUT:-3000} sh "$top/tests/ktls/vm-run.sh" "$KERNEL" \
    "RUNS=$RUNS KA_R=$KA_R FRESH_N=$FRESH_N BIG_N=$BIG_N MODES='$MODES' CASES='$CASES' BASE='$BASE' KITLS_ENV='$KITLS_ENV' KITLS_ARGS='$KITLS_ARGS' bash $top/bench/nginx/guest.sh $b $tmp $res" \
    >"$tmp/vm.log" 2>&1 || { tr -d '\033\r' <"$tmp/vm.log" | tail -30; echo "vs-nginx: the VM run failed"; exit 1; }
echo "vs-nginx: VM run took $(( $(date +%s) - t0 )) s; host load average now $(cut -d' ' -f1-3 /proc/loadavg)"
sed 's/^/  /' "$res"
[ -z "$OUT" ] || cp "$res" "$OUT"
python3 "$top/bench/nginx/table.py" "$res"
