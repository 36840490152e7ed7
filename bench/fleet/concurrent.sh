#!/bin/bash
# The anti-replay check's cost at N concurrent 0-RTT handshakes (issue 19):
# kitls-server --uring --echo --early-data with --replay-store memory and
# with --replay-store redis (its asynchronous store on the driver's ring,
# a redis-server of our own on a free loopback port), ROUNDS interleaved
# rounds each.  Every round starts a fresh server; bench/fleet/zrtt-load
# takes N tickets from it, then opens N connections at once, each offering
# its own ticket with a small request as early data, and times each from
# connect() to the echoed request; the server's and redis-server's CPU
# time over that phase comes from /proc.  Ends with a markdown table.
# Prints the load average: the machine may be shared.  Not in make check.
#   top_builddir=build bash bench/fleet/concurrent.sh [N [ROUNDS]]
#   (defaults 1000 and 3; REDIS_TIMEOUT=MS: --redis-timeout, default 1000:
#   the timer runs on the server's one ring, so with hundreds of handshakes
#   queued on it a reply waits behind them and a short timeout refuses
#   0-RTT that Redis answered in time; docs/fleet.md "Cost")
set -u
src=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
bld=$(cd "${top_builddir:-.}" && pwd)
n=${1:-1000}
rounds=${2:-3}
rto=${REDIS_TIMEOUT:-1000}
SERVER=$bld/examples/kitls-server
LOAD=$bld/bench/fleet/zrtt-load
for t in redis-server redis-cli python3 openssl; do
    command -v $t >/dev/null 2>&1 || { echo "SKIP: $t missing"; exit 77; }
done
[ -x "$LOAD" ] || { echo "SKIP: bench/fleet/zrtt-load not built (hiredis)"; exit 77; }
"$SERVER" --help 2>&1 | grep -q -- '--replay-store' || { echo "SKIP: kitls-server without hiredis"; exit 77; }
"$SERVER" --help 2>&1 | grep -q -- '--uring' || { echo "SKIP: kitls-server without --uring"; exit 77; }
# N sockets each side, plus the server's own.
ulimit -n $((n * 2 + 256)) 2>/dev/null || { echo "SKIP: cannot raise the open-file limit to $((n * 2 + 256))"; exit 77; }
tmp=$(mktemp -d)
. "$src/tests/fleet/fleet-lib.sh"
spid=
cleanup() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
    stop_redis
    rm -rf "$tmp"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
start_redis || exit 1
url=redis://127.0.0.1:$redis_port
echo "N=$n rounds=$rounds; kitls-server --uring, --redis-timeout $rto; $(nproc) CPUs;" \
    "$(redis-server --version | cut -d' ' -f1-3)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
sleep ${WINDOW_WAIT:-13} # the default window (10 s + 2 s): a younger store vouches for no 0-RTT

# run_one STORE: one fresh server, zrtt-load against it; appends a row.
run_one() {
    local store=$1 extra=() la
    [ "$store" = redis ] && extra=(--redis "$url" --redis-timeout "$rto")
    rm -f "$tmp/port"
    "$SERVER" --uring --host 127.0.0.1 --port 0 --ready-file "$tmp/port" --cert "$tmp/cert.pem" \
        --key "$tmp/key.pem" --echo --early-data 16384 --timeout 30 --quiet \
        --replay-store "$store" "${extra[@]}" >"$tmp/server.out" 2>"$tmp/server.err" </dev/null &
    spid=$!
    for _ in $(seq 100); do
        [ -s "$tmp/port" ] && break
        sleep 0.05
    done
    [ -s "$tmp/port" ] || { echo "FAIL: server did not start: $(cat "$tmp/server.err")"; exit 1; }
    la=$(cut -d' ' -f1 /proc/loadavg)
    "$LOAD" "$(cat "$tmp/port")" "$n" "$spid" "$redis_pid" >"$tmp/load.out" 2>"$tmp/load.err"
    local rc=$?
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    spid=
    echo "## round $r, $store store (load average $la)"
    cat "$tmp/load.out"
    sort "$tmp/load.err" | uniq -c | sort -rn | head -5
    grep -v '^$' "$tmp/server.err" | sort | uniq -c | sort -rn | head -5
    [ $rc -eq 0 ] || status=1
    grep '^RESULT' "$tmp/load.out" | sed "s/^RESULT/ROW round=$r store=$store load=$la rc=$rc/" >>"$tmp/rows"
}
status=0
for r in $(seq "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then order="memory redis"; else order="redis memory"; fi
    for s in $order; do run_one "$s"; done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# The table: one row per run, then the medians per store over the valid
# runs (every 0-RTT accepted and answered; an invalid run's CPU includes
# the wait for the server's --timeout 30 to end the stuck connections).
awk -v n="$n" '
function kv(s, k,   i, a) { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }
{
    st = kv($0, "store"); ok = kv($0, "rejected") == 0 && kv($0, "failed") == 0
    printf "| %s | %s | %s | %s/%s/%s%s | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n", kv($0, "round"), st, kv($0, "load"), \
        kv($0, "accepted"), kv($0, "rejected"), kv($0, "failed"), ok ? "" : " (invalid)", kv($0, "p50_us"), kv($0, "p99_us"), \
        kv($0, "srv_cpu_us") / n, kv($0, "srv_sched_us") / n, kv($0, "redis_sched_us") / n, kv($0, "wall_ms")
    if (!ok) next
    k = ++cnt[st]
    p50[st, k] = kv($0, "p50_us"); p99[st, k] = kv($0, "p99_us")
    cpu[st, k] = kv($0, "srv_cpu_us") / n; sch[st, k] = kv($0, "srv_sched_us") / n
    rc[st, k] = kv($0, "redis_sched_us") / n
}
function med(arr, st, m,   i, j, t, v) {
    for (i = 1; i <= m; i++) v[i] = arr[st, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((m + 1) / 2)]
}
BEGIN {
    print "| round | store | load avg | 0-RTT accepted/rejected/failed | P50 connect→answer (µs) | P99 (µs) | server CPU per handshake, stat (µs) | same, schedstat (µs) | redis-server CPU per handshake, schedstat (µs) | phase wall (ms) |"
    print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
}
END {
    for (s = 1; s <= 2; s++) {
        st = s == 1 ? "memory" : "redis"; m = cnt[st]
        if (m) printf "| median of %d valid | %s | | | %.0f | %.0f | %.0f | %.0f | %.0f | |\n", m, st, med(p50, st, m), med(p99, st, m), med(cpu, st, m), med(sch, st, m), med(rc, st, m)
    }
}' "$tmp/rows"
exit $status
