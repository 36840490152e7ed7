#!/bin/bash
# bench/load/workers.sh — requests per second of examples/uring-httpd
# with --workers 1 against --workers 2 (more with --workers "1 2 4"), on
# fresh connections (one GET each: a full handshake per request) and on
# keep-alive connections (R GETs each), userspace TLS.  Not part of make
# check.
#
#   bench/load/workers.sh [-c concurrent] [-d seconds] [-r requests]
#                         [--rounds N] [--gens G] [--size bytes]
#                         [--workers "1 2"]
#
# The load comes from G bench/load/loadgen processes at once (each
# single-threaded, concurrent/G connections in flight), so that the
# generator is not one core's worth; nothing is pinned: the server's
# threads and the generators share the machine's CPUs, as they would on
# one host.  Rounds interleave the worker counts (1 2, then 2 1, ...) so
# that a change in the machine's load hits all of them alike.  Per worker
# count and phase the table shows the median requests/s over the rounds
# with [min..max] and its ratio to the first worker count, the server's
# CPU share (CPU seconds / wall seconds, all its threads: 100% is one
# core), the generators' (summed) and requests per server CPU-second; the
# load average is printed before every measurement.  On a machine shared with other jobs the spread says how
# far to trust the medians.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
b=${top_builddir:-$top}
conc=64 dur=4 reqs=100 rounds=3 gens=2 size=1024 wlist="1 2"
while [ $# -gt 0 ]; do
    case $1 in
    -c) conc=$2; shift 2 ;;
    -d) dur=$2; shift 2 ;;
    -r) reqs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --gens) gens=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --workers) wlist=$2; shift 2 ;;
    *) echo "usage: $0 [-c N] [-d s] [-r R] [--rounds N] [--gens G] [--size B] [--workers \"1 2\"]"; exit 2 ;;
    esac
done
for p in examples/uring-httpd bench/load/loadgen; do
    [ -x "$b/$p" ] || { echo "build first: make (missing $p)"; exit 1; }
done
ulimit -n $((conc * 4 + 1024))
tmp=$(mktemp -d)
srv_pid=
trap '[ -n "$srv_pid" ] && kill $srv_pid 2>/dev/null; rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
mkdir "$tmp/www"
head -c "$size" /dev/urandom | base64 -w 76 | head -c "$size" >"$tmp/www/file.html"
tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, all threads
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

start_server() { # workers
    rm -f "$tmp/ready"
    "$b/examples/uring-httpd" -q -c "$tmp/cert.pem" -k "$tmp/key.pem" -r "$tmp/www" -p 0 \
        --workers "$1" --max-conns $((conc * 2 + 64)) --max-handshakes $((conc + 64)) \
        --ready-file "$tmp/ready" 2>"$tmp/srv.log" &
    srv_pid=$!
    for _ in $(seq 600); do [ -s "$tmp/ready" ] && break; sleep 0.05; done
    [ -s "$tmp/ready" ] || { echo "uring-httpd --workers $1 did not start:"; cat "$tmp/srv.log"; exit 1; }
    port=$(cut -d' ' -f1 "$tmp/ready")
    srv_pid=$(cut -d' ' -f2 "$tmp/ready")
}
stop_server() {
    kill -TERM "$srv_pid"; wait 2>/dev/null || true; srv_pid=
}
# phase NAME R: G generators for dur seconds, R GETs per connection ->
# "requests/s server-CPU% errors" appended to $tmp/res.NAME.W
phase() {
    local t0 c0 t1 c1 i
    t0=$(date +%s%N) c0=$(cpu_ticks "$srv_pid")
    for i in $(seq "$gens"); do
        "$b/bench/load/loadgen" -p "$port" -c $((conc / gens)) --path /file.html --no-hold \
            --duration "$dur" --requests "$2" >"$tmp/lg.$i" 2>&1 &
    done
    wait $(jobs -p | grep -v "^$srv_pid\$") 2>/dev/null || true
    t1=$(date +%s%N) c1=$(cpu_ticks "$srv_pid")
    awk -v tck="$tck" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" '
        $1 == "requests_per_s" { rq += $2 } $1 == "errors" { er += $2 }
        $1 == "loadgen_cpu_util" { gc += $2 }
        END { cpu = (c1 - c0) / tck / ((t1 - t0) / 1e9)
              printf "%.0f %.0f %d %.0f %.0f\n", rq, 100 * cpu, er, 100 * gc, (cpu > 0 ? rq / cpu : 0) }' \
        "$tmp"/lg.* >>"$tmp/res.$1.$w"
    printf '  round %s --workers %s %-10s %s req/s, server CPU %s%%, errors %s, generators CPU %s%%, %s req per server CPU-s (load average before: %s)\n' \
        "$r" "$w" "$1" $(tail -n 1 "$tmp/res.$1.$w") "$la"
    rm -f "$tmp"/lg.*
}

echo "workers: $wlist; $conc concurrent from $gens generator(s), ${dur}s per phase, fresh: 1 GET/conn, keep-alive: $reqs GETs/conn, ${size}-byte file, $rounds round(s)"
echo "host: $(uname -r), $(nproc) CPUs, load average at start $(loadavg)"
rev=$(echo "$wlist" | tr ' ' '\n' | tac | tr '\n' ' ')
for r in $(seq "$rounds"); do
    order=$wlist
    [ $((r % 2)) = 0 ] && order=$rev
    for w in $order; do
        start_server "$w"
        la=$(loadavg)
        phase fresh 1
        sleep 0.5
        la=$(loadavg)
        phase keepalive "$reqs"
        stop_server
        sleep 1
    done
done
echo "load average at end $(loadavg)"
echo
# median [min..max] of column k of a file
stat() { cut -d' ' -f"$2" "$1" | sort -n | awk '{v[NR] = $1} END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.0f [%.0f..%.0f]", m, v[1], v[NR] }'; }
med() { cut -d' ' -f"$2" "$1" | sort -n | awk '{v[NR] = $1} END {
    print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
first=${wlist%% *}
echo "| workers | connections | requests/s | ratio | server CPU % | generators CPU % | requests per server CPU-s | errors |"
echo "|---|---|---|---|---|---|---|---|"
for ph in fresh keepalive; do
    for w in $wlist; do
        f=$tmp/res.$ph.$w
        ra=$(awk -v a="$(med "$f" 1)" -v b="$(med "$tmp/res.$ph.$first" 1)" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
        er=$(awk '{ s += $3 } END { print s + 0 }' "$f")
        echo "| $w | $ph | $(stat "$f" 1) | $ra | $(stat "$f" 2) | $(stat "$f" 4) | $(stat "$f" 5) | $er |"
    done
done
echo
echo "(median [min..max] over $rounds round(s); ratio: of the medians, to --workers $first;"
echo " server CPU: all its threads, 100 = one core; generators: all $gens summed;"
echo " a server below 100 x workers was not the limit: the generators, which share the CPUs,"
echo " or other jobs on the machine were)"
