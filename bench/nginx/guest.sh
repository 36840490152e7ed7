#!/bin/bash
# uring-httpd against Debian's nginx, one VM boot (run by bench/nginx/run.sh
# inside the kTLS VM; also runs on a host, for a try-out):
#   guest.sh BUILDDIR WORKDIR RESULTS
# WORKDIR (from the host) holds cert.pem, key.pem, big.bin and its
# big.sha256; the files are copied to a tmpfs here so that both servers
# read the same page cache.  Knobs (environment): RUNS, KA_C (keep-alive
# clients, each KA_R GETs), FRESH_C concurrent clients making FRESH_N
# connections of one GET, BIG_N (big-file GETs per run), MODES ("ktls
# user"), CASES ("big ka fresh"), KITLS_ARGS (extra uring-httpd options),
# BASE (another build directory: its uring-httpd runs too, as server
# "base", for a before/after in the same boot), KITLS_ENV (environment
# assignments for this build's uring-httpd only, e.g. GLIBC_TUNABLES=...).  Every case is a fixed
# amount of work run to its end (no time window: under TCG a window's
# edges, dozens of handshakes in flight, would weigh too much).
# Appends one line per measurement to RESULTS:
#   run mode case server work_unit work server_cpu_s errors tls-stat-deltas softirq
set -u
bd=${1:?builddir} src=${2:?workdir} out=${3:?results}
RUNS=${RUNS:-6} KA_C=${KA_C:-64} KA_R=${KA_R:-30} FRESH_C=${FRESH_C:-128} FRESH_N=${FRESH_N:-256}
BIG_N=${BIG_N:-1} MODES=${MODES:-ktls user} CASES=${CASES:-big ka fresh} BASE=${BASE:-}
L=$bd/examples/.libs
[ -x "$L/uring-httpd" ] || L=$bd/examples
LG=$bd/bench/load/.libs/loadgen
[ -x "$LG" ] || LG=$bd/bench/load/loadgen
export LD_LIBRARY_PATH=$bd/lib/.libs:$bd/ktls/.libs:$bd/uring/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
NGINX=${NGINX:-/usr/sbin/nginx}

w=$(mktemp -d /tmp/kitls-vs-nginx.XXXXXX) || exit 1
chmod 755 "$w"
if [ -n "${KITLS_VM:-}" ] && mount -t tmpfs -o size=420m,mode=755 tmpfs "$w"; then
    trap 'stop_all; umount "$w"; rmdir "$w"' EXIT
else
    trap 'stop_all; rm -rf "$w"' EXIT
fi
pids=
stop_all() {
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    sleep 0.3
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    pids=
}
mkdir -p "$w/www/s" "$w/ng"
cp "$src/cert.pem" "$src/key.pem" "$w/"
cp "$src/big.bin" "$w/www/big.bin"
for i in $(seq 0 99); do
    # 16 KiB of text, different in every file
    printf -v f '%s/www/s/f%03u.html' "$w" "$i"
    head -c 12288 /dev/urandom | base64 -w 76 | head -c 16384 >"$f"
done
chmod -R a+rX "$w/www"
want=$(cut -d' ' -f1 "$src/big.sha256")
big_bytes=$(stat -c %s "$w/www/big.bin")

tls() { awk -v n="$1" '$1 == n { print $2 }' /proc/net/tls_stat 2>/dev/null || echo 0; }
TLSK="TlsCurrTxSw TlsTxSw TlsRxSw TlsTxDevice TlsDecryptError"
tls_snap() { for k in $TLSK; do printf '%s ' "$(tls $k)"; done; }
tls_delta() { # before after -> "TlsTxSw=+n TlsRxSw=+n ..."
    local -a a b
    read -r -a a <<<"$1"
    read -r -a b <<<"$2"
    local i=0 s='' k
    for k in $TLSK; do
        [ "$k" = TlsCurrTxSw ] || s="$s$k=+$((${b[i]:-0} - ${a[i]:-0})) "
        i=$((i + 1))
    done
    echo "${s% }"
}
# utime + stime (ticks) of all the server's processes, threads and io-wq
# workers included (/proc/PID/stat of a thread group leader sums them all,
# exited threads too).
cpu_ticks() { local t=0 p; for p in $pids; do
        t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }'))); done; echo $t; }
softirq() { awk '/^cpu / { print $8 }' /proc/stat; }
hz=$(getconf CLK_TCK)

start_nginx() { # mode
    local k=
    [ "$1" = ktls ] && k="ssl_conf_command Options KTLS;"
    cat >"$w/ng/nginx.conf" <<EOF
worker_processes 1;
pid $w/ng/nginx.pid;
error_log $w/ng/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $w/ng/body;
    proxy_temp_path $w/ng/proxy;
    fastcgi_temp_path $w/ng/fcgi;
    uwsgi_temp_path $w/ng/uwsgi;
    scgi_temp_path $w/ng/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port ssl;
        root $w/www;
        ssl_certificate $w/cert.pem;
        ssl_certificate_key $w/key.pem;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
        ssl_session_cache off;
        ssl_session_tickets off;
        ssl_conf_command NumTickets 0;
        $k
    }
}
EOF
    "$NGINX" -e "$w/ng/error.log" -c "$w/ng/nginx.conf" -g 'daemon off;' 2>>"$w/ng/error.log" &
    local m=$!
    for _ in $(seq 200); do
        [ -s "$w/ng/nginx.pid" ] && [ -n "$(pgrep -P "$m")" ] && break
        sleep 0.05
    done
    pids="$m $(pgrep -P "$m" | tr '\n' ' ')"
}
start_base() { L0=$L L=$BASE/examples/.libs E0=${KITLS_ENV:-} KITLS_ENV=; LD_LIBRARY_PATH=$BASE/lib/.libs:$BASE/ktls/.libs:$BASE/uring/.libs start_kitls "$@"; L=$L0 KITLS_ENV=$E0; }
start_kitls() { # mode
    local k=
    [ "$1" = ktls ] && k=--ktls
    rm -f "$w/ready"
    env ${KITLS_ENV:-} "$L/uring-httpd" -q -c "$w/cert.pem" -k "$w/key.pem" -r "$w/www" -p 0 --no-tickets \
        --max-conns 4096 --max-handshakes 1024 $k ${KITLS_ARGS:-} --ready-file "$w/ready" \
        2>"$w/kitls.log" &
    for _ in $(seq 200); do [ -s "$w/ready" ] && break; sleep 0.05; done
    port=$(cut -d' ' -f1 "$w/ready")
    pids=$(cut -d' ' -f2 "$w/ready")
}

# One measurement: case, server, mode; appends a line to $out.
measure() {
    local run=$1 mode=$2 case=$3 srv=$4 t0 t1 s0 s1 q0 q1 work unit err=0 lo
    s0=$(tls_snap)
    q0=$(softirq)
    case $case in
    big)
        unit=GiB
        t0=$(cpu_ticks)
        for _ in $(seq "$BIG_N"); do
            got=$(curl -sk --http1.1 --tls13-ciphers TLS_AES_128_GCM_SHA256 \
                "https://127.0.0.1:$port/big.bin" | sha256sum | cut -d' ' -f1)
            [ "$got" = "$want" ] || err=$((err + 1))
        done
        t1=$(cpu_ticks)
        work=$(awk -v n="$BIG_N" -v b="$big_bytes" 'BEGIN { printf "%.4f", n * b / 1073741824 }')
        ;;
    ka | fresh)
        unit=requests
        local c=$KA_C r=$KA_R n=$KA_C
        [ $case = fresh ] && c=$FRESH_C r=1 n=$FRESH_N
        local pa=
        for p in $pids; do pa="$pa --pid $p"; done
        "$LG" -p "$port" $pa -c "$c" --no-hold --max-conns "$n" --duration 900 --requests "$r" \
            --path '/s/f%03u.html' --path-count 100 --check-root "$w/www" --suite 1301 \
            >"$w/lg.out" 2>&1
        lo=$w/lg.out
        work=$(sed -n 's/^requests //p' "$lo")
        # the generator's own reading of the server's CPU (ticks), for the
        # same window as its request count
        t0=0
        t1=$(awk -v hz="$hz" '/^server_cpu_s / { printf "%d", $2 * hz + 0.5 }' "$lo")
        err=$(sed -n 's/^errors //p' "$lo")
        [ "$(sed -n 's/^body_mismatches //p' "$lo")" = 0 ] || err=$((err + 1000000))
        ;;
    esac
    s1=$(tls_snap)
    q1=$(softirq)
    echo "$run $mode $case $srv $unit ${work:-0} $(awk -v a="$t0" -v b="${t1:-0}" -v hz="$hz" \
        'BEGIN { printf "%.2f", (b - a) / hz }') ${err:-1} $(tls_delta "$s0" "$s1") softirq=+$((q1 - q0))" |
        tee -a "$out"
}

echo "# $(uname -r), $(nproc) CPU, nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), $(openssl version | cut -d' ' -f1-2)," \
    "big $big_bytes bytes x $BIG_N, 100 x 16 KiB, keep-alive $KA_C clients x $KA_R GETs, fresh $FRESH_N connections $FRESH_C at a time" | tee -a "$out"
for run in $(seq "$RUNS"); do
    order="nginx ${BASE:+base }kitls"
    [ $((run % 2)) = 0 ] && order="kitls ${BASE:+base }nginx"
    for mode in $MODES; do
        for srv in $order; do
            port=$((20000 + RANDOM % 20000))
            start_$srv "$mode"
            [ -n "$pids" ] || { echo "$srv did not start"; cat "$w/ng/error.log" "$w/kitls.log" 2>/dev/null; exit 1; }
            for case in $CASES; do measure "$run" "$mode" "$case" "$srv"; done
            stop_all
        done
    done
    echo "# run $run done, guest load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
done
grep -i -e emerg -e alert -e crit "$w/ng/error.log" 2>/dev/null | head -5
exit 0
