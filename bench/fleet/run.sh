#!/bin/bash
# The 0-RTT anti-replay check's cost (issue 19): bench/fleet/ar-bench
# against a redis-server of its own on a free loopback port, and the
# redis-server's CPU time during the run (from /proc).  Prints the load
# average before and after: the machine may be shared, so read the
# numbers with it.  Never run by make check.
#   top_builddir=build bash bench/fleet/run.sh [N]   (default 1000)
set -u
src=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
bld=$(cd "${top_builddir:-.}" && pwd)
n=${1:-1000}
for t in redis-server redis-cli python3 openssl; do
    command -v $t >/dev/null 2>&1 || { echo "SKIP: $t missing"; exit 77; }
done
[ -x "$bld/bench/fleet/ar-bench" ] || { echo "SKIP: bench/fleet/ar-bench not built (hiredis)"; exit 77; }
tmp=$(mktemp -d)
. "$src/tests/fleet/fleet-lib.sh"
trap 'stop_redis; rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
start_redis || exit 1
cpu() { awk '{print $14 + $15}' "/proc/$redis_pid/stat"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
sleep 13 # past the window: a store younger than that vouches for no 0-RTT
c0=$(cpu)
"$bld/bench/fleet/ar-bench" "$tmp/cert.pem" "$tmp/key.pem" "redis://127.0.0.1:$redis_port" "$n"
rc=$?
c1=$(cpu)
echo "redis-server CPU during the run: $(((c1 - c0) * 10)) ms for $((2 * n)) SETs" \
    "($(awk -v c=$((c1 - c0)) -v n=$((2 * n)) 'BEGIN {printf "%.1f", c * 10000 / n}') us each)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
