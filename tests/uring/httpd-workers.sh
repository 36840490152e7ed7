#!/bin/bash
# tests/uring/httpd-workers.sh — uring-httpd --workers N (issue 17 item 4):
# threads with a ring and an SO_REUSEPORT listening socket each, signals
# taken once by the main thread and passed on.
#   1. --workers validated (1 to 4 x CPUs; bad values named, exit 2) and
#      in --help;
#   2. --workers 2: fresh connections (curl, in parallel) spread by the
#      kernel over both workers: the SIGUSR1 per-worker counters both
#      non-zero and summing to the total; the access log written from
#      both threads has whole lines only;
#   3. SIGHUP reaches every worker: after a reload to a certificate of
#      another key, fresh connections verified against the new one only
#      all succeed and both workers served some of them ("reloads 1" on
#      each); a bad pair is refused and the new one stays;
#   4. a default (one worker, no SO_REUSEPORT) server cannot bind the
#      port of the running one; IPv6 (::1) with two workers;
#   5. SIGTERM with a connection open: both workers stop, exit 0, the exit
#      line sums them.
# Exit 77 (skip) without openssl, curl or io_uring.
set -u
. "$(dirname "$0")/httpd-common.sh"
httpd_setup openssl curl
wait_grep() { # pattern, file, [count]: until it appears (20 s at most)
    i=0
    while [ "$(grep -c -e "$1" "$2" 2>/dev/null)" -lt "${3:-1}" ] && [ $i -lt 400 ]; do
        sleep 0.05; i=$((i + 1)); done
    [ "$(grep -c -e "$1" "$2" 2>/dev/null)" -ge "${3:-1}" ]
}
pki() { # name: a self-signed P-256 certificate for localhost
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=localhost $1" -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 \
        -keyout "$tmp/$1.key" -out "$tmp/$1.crt" 2>/dev/null
}
pki one && pki two || { echo "SKIP: PKI"; exit 77; }
cp "$tmp/one.crt" "$tmp/cert.pem"
cp "$tmp/one.key" "$tmp/key.pem"
w=$tmp/www
mkdir -p "$w"
echo '<h1>workers</h1>' >"$w/index.html"

# ---------------------------------------------------------------- 1. options
cpus=$(getconf _NPROCESSORS_ONLN)
for v in 0 -1 abc "" 1x $((cpus * 4 + 1)); do
    "$httpd" -c "$tmp/cert.pem" -k "$tmp/key.pem" -r "$w" -p 0 --workers "$v" 2>"$tmp/e" >/dev/null
    st=$?
    check "1: --workers '$v' refused, exit 2, the option named" \
        test "$st" = 2 -a "$(grep -c -e "--workers: '$v' is not a number from 1 to $((cpus * 4))" "$tmp/e")" = 1
done
"$httpd" --help >"$tmp/help"
check "1: --help describes --workers" grep -q -e '--workers N.*threads, each with its own io_uring' "$tmp/help"

# ---------------------------------------------------------------- 2. spread
"$httpd" -c "$tmp/cert.pem" -k "$tmp/key.pem" -r "$w" -p 0 --workers 2 \
    --access-log "$tmp/access.log" --ready-file "$tmp/h.port" 2>"$tmp/h.log" &
h=$!
pids="$pids $h"
port=$(wait_port "$tmp/h.port")
[ -n "$port" ] || { echo "SKIP: uring-httpd did not start (io_uring unavailable?)"; cat "$tmp/h.log"; exit 77; }
check "2: the start line names the workers" grep -q "serving .* on 127.0.0.1:$port (2 workers)" "$tmp/h.log"
# fetch N CACERT: N fresh connections (one curl each, 8 at a time) -> the count of 200s
fetch() {
    : >"$tmp/codes"
    for i in $(seq "$1"); do
        curl -s --cacert "$2" -o /dev/null -w '%{http_code}\n' "https://localhost:$port/" >>"$tmp/codes" &
        [ $((i % 8)) = 0 ] && wait
    done
    wait
    grep -c '^200$' "$tmp/codes"
}
# counters: SIGUSR1, then the lines of this dump (total, worker 0, worker 1) in $tmp/c
dumps=0
counters() {
    dumps=$((dumps + 1))
    kill -USR1 $h
    wait_grep 'worker 1 counters:' "$tmp/h.log" $dumps
    grep -e ' counters: ' "$tmp/h.log" | tail -n 3 >"$tmp/c"
}
num() { # line-prefix field -> value
    grep -e "uring-httpd: $1: " "$tmp/c" | sed -n "s/.* $2 \([0-9]*\).*/\1/p"
}
ok=$(fetch 40 "$tmp/one.crt")
check "2: 40 fresh connections -> 40 x 200 ($ok)" test "$ok" = 40
counters
sed 's/^/  /' "$tmp/c"
r0=$(num "worker 0 counters" requests) r1=$(num "worker 1 counters" requests)
check "2: both workers served requests (worker 0: $r0, worker 1: $r1)" test "${r0:-0}" -gt 0 -a "${r1:-0}" -gt 0
check "2: the total is their sum ($(num counters requests))" test "$(num counters requests)" = $((r0 + r1)) -a $((r0 + r1)) = 40
a0=$(num "worker 0 counters" accepted) a1=$(num "worker 1 counters" accepted)
check "2: connections accepted by both listeners ($a0 + $a1 = $(num counters accepted))" \
    test "${a0:-0}" -gt 0 -a "${a1:-0}" -gt 0 -a "$(num counters accepted)" = $((a0 + a1))
wait_grep 'GET / HTTP/1.1' "$tmp/access.log" 40
re='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] "GET / HTTP/1.1" 200 17$'
check "2: access log from two threads: 40 whole lines ($(grep -c '' "$tmp/access.log"), $(grep -c -E -v "$re" "$tmp/access.log") other)" \
    test "$(grep -c -E "$re" "$tmp/access.log")" = 40 -a "$(grep -c '' "$tmp/access.log")" = 40

# ---------------------------------------------------------------- 3. reload
cp "$tmp/two.crt" "$tmp/cert.pem"
cp "$tmp/two.key" "$tmp/key.pem"
kill -HUP $h
wait_grep 'reload ok' "$tmp/h.log"
check "3: SIGHUP: reload ok on 2 of 2 workers" grep -q 'reload ok: .* for new connections (2 of 2 workers)' "$tmp/h.log"
ok=$(fetch 40 "$tmp/two.crt")
check "3: after the reload 40 fresh connections verify with the new certificate only ($ok)" test "$ok" = 40
bad=$(curl -s --cacert "$tmp/one.crt" -o /dev/null -w '%{http_code}' "https://localhost:$port/")
check "3: the old certificate is no longer served (curl: $bad)" test "$bad" = 000
counters
sed 's/^/  /' "$tmp/c"
d0=$(($(num "worker 0 counters" requests) - r0)) d1=$(($(num "worker 1 counters" requests) - r1))
check "3: both workers served the new certificate ($d0 + $d1 requests)" test "$d0" -gt 0 -a "$d1" -gt 0
check "3: each worker's listener took the reload (reloads 1, 1)" \
    test "$(num "worker 0 counters" reloads)" = 1 -a "$(num "worker 1 counters" reloads)" = 1
cp "$tmp/one.crt" "$tmp/cert.pem" # a certificate that does not match the key
kill -HUP $h
wait_grep 'reload failed' "$tmp/h.log"
ok=$(fetch 8 "$tmp/two.crt")
check "3: a bad pair is refused, the new certificate stays ($ok x 200)" test "$ok" = 8

# ---------------------------------------------------------------- 4. port, IPv6
"$httpd" -c "$tmp/two.crt" -k "$tmp/two.key" -r "$w" -p "$port" 2>"$tmp/e2"
st=$?
check "4: a one-worker server cannot take the port of the running one (exit $st)" \
    test "$st" = 1 -a "$(grep -c 'Address already in use' "$tmp/e2")" = 1
"$httpd" -q -c "$tmp/two.crt" -k "$tmp/two.key" -r "$w" -a ::1 -p 0 --workers 2 \
    --ready-file "$tmp/h6.port" 2>"$tmp/h6.log" &
h6=$!
p6=$(wait_port "$tmp/h6.port")
if [ -z "$p6" ]; then
    wait $h6
    if grep -q -e "Cannot assign requested address" -e "Address family not supported" "$tmp/h6.log"; then
        echo "skip: IPv6 ::1 is unavailable here ($(head -n 1 "$tmp/h6.log"))"
    else
        check "4: --workers 2 on ::1" false
        cat "$tmp/h6.log"
    fi
else
    n6=0
    for i in $(seq 24); do
        c=$(curl -s -g --cacert "$tmp/two.crt" -o /dev/null -w '%{http_code}' "https://[::1]:$p6/")
        [ "$c" = 200 ] && n6=$((n6 + 1))
    done
    kill -TERM $h6
    wait $h6
    st=$?
    l6=$(grep ' counters: ' "$tmp/h6.log" | grep -c 'requests [1-9]')
    check "4: --workers 2 on ::1: 24 x 200 ($n6), exit $st, both workers served ($l6 of 3 lines)" \
        test "$n6" = 24 -a "$st" = 0 -a "$l6" = 3
fi

# ---------------------------------------------------------------- 5. stop
: >"$tmp/hold"
(printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'; i=0
 while [ -e "$tmp/hold" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done) |
    timeout 40 openssl s_client -quiet -connect 127.0.0.1:"$port" -servername localhost \
        >"$tmp/held" 2>/dev/null &
held=$!
wait_grep '^HTTP/1.1 200' "$tmp/held"
t0=$(date +%s%N)
kill -TERM $h
wait $h
st=$?
ms=$((($(date +%s%N) - t0) / 1000000))
pids=
rm -f "$tmp/hold"
wait $held 2>/dev/null
check "5: SIGTERM with a connection open: exit $st after $ms ms" test "$st" = 0 -a "$ms" -lt 5000
line=$(grep 'uring-httpd: accepted' "$tmp/h.log")
echo "  $line"
tot=$(grep ' counters: ' "$tmp/h.log" | tail -n 3 | sed -n 's/.* requests \([0-9]*\).*/\1/p' | tr '\n' ' ')
set -- $tot
check "5: the exit counters sum both workers ($1 = $2 + $3) and so does the exit line" \
    test "$1" = $(($2 + $3)) -a "$1" -ge 89 -a "$(echo "$line" | sed -n 's/.* requests \([0-9]*\) .*/\1/p')" = "$1"
[ $fail = 0 ] || tail -n 8 "$tmp/h.log"
exit $fail
