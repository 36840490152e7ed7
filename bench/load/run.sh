#!/bin/bash
# bench/load/run.sh — load test of the io_uring file server
# (examples/uring-httpd on kitls) against an epoll + OpenSSL libssl
# baseline (bench/load/epoll-httpd), same machine, same run, same load
# generator (bench/load/loadgen, kitls + io_uring).  Not part of make check.
#
#   bench/load/run.sh [-c concurrent] [-d seconds] [-r requests] [--rounds N]
#                     [--size bytes] [--release-buffers] [--no-tickets]
#                     [--base BUILDDIR] [--kitls-args "ARGS"]
#
# Per server and round: (1) hold `concurrent` connections open, one GET
# each, and read the server's RSS -> bytes per connection; (2) `seconds`
# of churn with `concurrent` connections in flight, one GET per
# connection -> handshakes/s; (3) `seconds` of churn with `requests`
# keep-alive GETs per connection -> requests/s and bytes/s.  The server
# runs on CPU 0 and the generator on CPU 1 when taskset is there.  Prints
# the figures, the medians over rounds and the ratios kitls/baseline, and
# per churn phase the CPU share of the server and of the generator (a
# server below 100% waited for the generator).  --no-tickets: neither
# server sends a NewSessionTicket (the generator never resumes anyway), a
# cost taken off both servers and the generator alike.  --base BUILDDIR
# adds a third server, uring-httpd from another build directory (say, of
# the commit before a change), interleaved with the others in every round
# (before/after in the same run); --kitls-args passes options to this
# tree's uring-httpd (e.g. --no-buf-ring).  kitls rows also show the
# server's provided buffer ring at exit (buffers, receives that found it
# empty).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
b=${top_builddir:-$top}
conc=1000 dur=5 reqs=50 rounds=1 size=1024 release= notick= base= kargs=
while [ $# -gt 0 ]; do
    case $1 in
    -c) conc=$2; shift 2 ;;
    -d) dur=$2; shift 2 ;;
    -r) reqs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --release-buffers) release=--release-buffers; shift ;;
    --no-tickets) notick=--no-tickets; shift ;;
    --base) base=$(cd "$2" && pwd); shift 2 ;;
    --kitls-args) kargs=$2; shift 2 ;;
    *) echo "usage: $0 [-c N] [-d s] [-r R] [--rounds N] [--size B] [--release-buffers] [--no-tickets] [--base BUILDDIR] [--kitls-args ARGS]"; exit 2 ;;
    esac
done
for p in examples/uring-httpd bench/load/loadgen bench/load/epoll-httpd; do
    [ -x "$b/$p" ] || { echo "build first: make (missing $p)"; exit 1; }
done
# The base build's uring-httpd without its libtool wrapper (which names
# that build's own directories): its libraries come first on the path.
[ -z "$base" ] || [ -x "$base/examples/.libs/uring-httpd" ] ||
    { echo "--base: no $base/examples/.libs/uring-httpd"; exit 1; }
ulimit -n $((conc * 4 + 1024))
tmp=$(mktemp -d)
srv_pid=
trap '[ -n "$srv_pid" ] && kill $srv_pid 2>/dev/null; rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
mkdir "$tmp/www"
head -c "$size" /dev/urandom | base64 -w 76 | head -c "$size" >"$tmp/www/file.html"
pin0= pin1=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0="taskset -c 0"; pin1="taskset -c 1"; fi
lg() { $pin1 "$b/bench/load/loadgen" -p "$port" --pid "$srv_pid" -c "$conc" --path /file.html "$@"; }
val() { v=$(sed -n "s/^$1 //p" "$2" | tail -1); echo "${v:-0}"; }

start_server() { # name
    rm -f "$tmp/ready"
    case $1 in
    kitls) $pin0 "$b/examples/uring-httpd" -q -c "$tmp/cert.pem" -k "$tmp/key.pem" -r "$tmp/www" \
               -p 0 --max-conns $((conc * 2 + 64)) --max-handshakes $((conc + 64)) \
               --ready-file "$tmp/ready" $notick $kargs 2>"$tmp/srv.log" & ;;
    base) LD_LIBRARY_PATH="$base/lib/.libs:$base/ktls/.libs:$base/uring/.libs" \
            $pin0 "$base/examples/.libs/uring-httpd" -q -c "$tmp/cert.pem" -k "$tmp/key.pem" \
               -r "$tmp/www" -p 0 --max-conns $((conc * 2 + 64)) --max-handshakes $((conc + 64)) \
               --ready-file "$tmp/ready" $notick 2>"$tmp/srv.log" & ;;
    openssl) $pin0 "$b/bench/load/epoll-httpd" -c "$tmp/cert.pem" -k "$tmp/key.pem" -r "$tmp/www" \
               -p 0 $release $notick --ready-file "$tmp/ready" 2>"$tmp/srv.log" & ;;
    esac
    srv_pid=$!
    for _ in $(seq 600); do [ -s "$tmp/ready" ] && break; sleep 0.05; done
    [ -s "$tmp/ready" ] || { echo "$1 server did not start:"; cat "$tmp/srv.log"; exit 1; }
    port=$(cut -d' ' -f1 "$tmp/ready")
    srv_pid=$(cut -d' ' -f2 "$tmp/ready")
}
stop_server() {
    kill -TERM "$srv_pid"; wait 2>/dev/null || true; srv_pid=
}

echo "load: $conc concurrent, ${dur}s churn phases, $reqs GETs/conn in phase 3, ${size}-byte file, $rounds round(s)${notick:+, no tickets}"
echo "host: $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    order="kitls ${base:+base }openssl"
    [ $((r % 2)) = 0 ] && order="openssl ${base:+base }kitls"
    for s in $order; do
        start_server $s
        for ph in hold hs rq; do
            case $ph in
            hold) lg --hold-only >"$tmp/$ph" 2>&1 ;;
            hs) lg --no-hold --duration "$dur" --requests 1 >"$tmp/$ph" 2>&1 ;;
            rq) lg --no-hold --duration "$dur" --requests "$reqs" >"$tmp/$ph" 2>&1 ;;
            esac || { echo "round $r $s phase $ph: loadgen failed:"; grep -v '^[a-z_]* [0-9.]*$' "$tmp/$ph" | head -5; }
            sleep 0.5
        done
        stop_server
        rxb=$(sed -n 's/.* rx_buf_ring \(-*[0-9]*\) rx_bufs \([0-9]*\) rx_nobufs \([0-9]*\).*/ring \1, buffers \2, empty-ring receives \3/p' "$tmp/srv.log")
        [ -z "$rxb" ] || echo "  round $r $s provided buffers at exit: $rxb"
        err=$(( $(val errors "$tmp/hold") + $(val errors "$tmp/hs") + $(val errors "$tmp/rq") ))
        printf '  round %s %-7s CPU share, handshake churn: server %s generator %s; request churn: server %s generator %s\n' \
            "$r" "$s" "$(val server_cpu_util "$tmp/hs")" "$(val loadgen_cpu_util "$tmp/hs")" \
            "$(val server_cpu_util "$tmp/rq")" "$(val loadgen_cpu_util "$tmp/rq")"
        printf '%s %s %s %s %s %s %s %s %s\n' "$s" \
            "$(val hold_connections "$tmp/hold")" "$(val server_rss_bytes_per_conn "$tmp/hold")" \
            "$(val handshakes_per_s "$tmp/hs")" "$(val requests_per_s "$tmp/rq")" \
            "$(val bytes_per_s "$tmp/rq")" "$err" \
            "$(val handshakes_per_server_cpu_s "$tmp/hs")" \
            "$(val requests_per_server_cpu_s "$tmp/rq")" >>"$tmp/results"
        sleep 1
    done
done
awk -v conc="$conc" '
function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ n[$1]++; k = n[$1]; held[$1, k] = $2; rss[$1, k] = $3; hs[$1, k] = $4; rq[$1, k] = $5; by[$1, k] = $6; er[$1] += $7
  hc[$1, k] = $8; rc[$1, k] = $9
  printf "round %d %-8s held %5d  rss/conn %7.0f B  handshakes/s %6.0f (per server CPU-s %6.0f)  requests/s %7.0f (per CPU-s %7.0f)  MB/s %6.1f  errors %d\n", k, $1, $2, $3, $4, $8, $5, $9, $6 / 1e6, $7 }
function mm(s, v, k,   i, lo, hi) {
    lo = hi = v[s, 1]
    for (i = 2; i <= k; i++) { if (v[s, i] < lo) lo = v[s, i]; if (v[s, i] > hi) hi = v[s, i] }
    LO = lo; HI = hi
}
END {
    for (s in n) {
        m = n[s]
        for (i = 1; i <= m; i++) { a1[i] = rss[s, i]; a2[i] = hs[s, i]; a3[i] = rq[s, i]; a4[i] = by[s, i] }
        R[s] = median(a1, m); H[s] = median(a2, m); Q[s] = median(a3, m); B[s] = median(a4, m)
        for (i = 1; i <= m; i++) { a5[i] = hc[s, i]; a6[i] = rc[s, i] }
        HC[s] = median(a5, m); RC[s] = median(a6, m)
    }
    name["kitls"] = "kitls io_uring (uring-httpd)"; name["base"] = "kitls io_uring, --base build"
    name["openssl"] = "epoll + OpenSSL libssl"
    printf "\nMedians over rounds [min-max]:\n\n| server | RSS per connection | handshakes/s | requests/s | MB/s | handshakes per server CPU-s | requests per server CPU-s | errors |\n|---|---|---|---|---|---|---|---|\n"
    split("kitls base openssl", order, " ")
    for (o = 1; o <= 3; o++) {
        s = order[o]
        if (!(s in n)) continue
        m = n[s]
        printf "| %s ", name[s]
        mm(s, rss, m); printf "| %.1f KiB [%.1f-%.1f] ", R[s] / 1024, LO / 1024, HI / 1024
        mm(s, hs, m); printf "| %.0f [%.0f-%.0f] ", H[s], LO, HI
        mm(s, rq, m); printf "| %.0f [%.0f-%.0f] ", Q[s], LO, HI
        printf "| %.1f ", B[s] / 1e6
        mm(s, hc, m); printf "| %.0f [%.0f-%.0f] ", HC[s], LO, HI
        mm(s, rc, m); printf "| %.0f [%.0f-%.0f] ", RC[s], LO, HI
        printf "| %d |\n", er[s]
    }
    printf "| ratio kitls/OpenSSL | %.2fx (memory) | %.2fx | %.2fx | %.2fx | %.2fx | %.2fx | |\n", R["kitls"] / R["openssl"], H["kitls"] / H["openssl"], Q["kitls"] / Q["openssl"], B["kitls"] / B["openssl"], HC["kitls"] / HC["openssl"], RC["kitls"] / RC["openssl"]
    if ("base" in n) {
        printf "| ratio base/OpenSSL | %.2fx (memory) | %.2fx | %.2fx | %.2fx | %.2fx | %.2fx | |\n", R["base"] / R["openssl"], H["base"] / H["openssl"], Q["base"] / Q["openssl"], B["base"] / B["openssl"], HC["base"] / HC["openssl"], RC["base"] / RC["openssl"]
        printf "| ratio kitls/base | %.2fx (memory) | %.2fx | %.2fx | %.2fx | %.2fx | %.2fx | |\n", R["kitls"] / R["base"], H["kitls"] / H["base"], Q["kitls"] / Q["base"], B["kitls"] / B["base"], HC["kitls"] / HC["base"], RC["kitls"] / RC["base"]
    }
}' "$tmp/results"
