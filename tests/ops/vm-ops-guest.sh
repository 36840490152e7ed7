#!/bin/bash
# Operations checks that need a kernel with kTLS, run inside a kTLS VM
# (tests/uring/vm-uring-guest.sh runs it last; alone:
#   sh tests/ktls/vm-run.sh old "bash tests/ops/vm-ops-guest.sh BUILDDIR"):
#   1. the kTLS kill switch (kitls-server --uring --ktls both
#      --ktls-switch FILE, SIGHUP): "off" at start keeps the connection in
#      userspace (--print "ktls: off (kTLS switched off ...)", TlsTxSw and
#      TlsRxSw unchanged); "on" + SIGHUP offloads the next one (tx+rx, the
#      counters move); "off" + SIGHUP puts the next one back in userspace;
#      each connection's echo is checked;
#   2. examples/demo-uring.sh (the README's first command) says kernel TLS
#      carried the file, and both fetched copies match; the same for its
#      fallback without io_uring (KITLS_DEMO_URING=0: blocking server).
# KITLS_EXPECT_REKEY=0 on kernels that cannot rekey (6.1): the server then
# offloads with --ktls-policy close.  Prints "N passed, N failed".
set -u

bd=${1:?usage: vm-ops-guest.sh BUILDDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
rekey=${KITLS_EXPECT_REKEY:-1}
L=$bd/examples/.libs
[ -x "$L/kitls-server" ] || L=$bd/examples
export LD_LIBRARY_PATH=$bd/lib/.libs:$bd/ktls/.libs:$bd/uring/.libs:$bd/redis/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
w=$(mktemp -d "${TMPDIR:-/tmp}/kitls-vm-ops.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT
passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
tls_stat() { awk -v n="$1" '$1 == n { print $2 }' /proc/net/tls_stat 2>/dev/null; }
wait_for() { # file regex count: 60 s at most
    for _ in $(seq 1200); do
        [ "$(cat "$1" 2>/dev/null | grep -c -- "$2")" -ge "$3" ] && return 0
        sleep 0.05
    done
    return 1
}

[ -r /proc/net/tls_stat ] || { echo "no /proc/net/tls_stat (kTLS missing)"; echo "0 passed, 1 failed"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$w/key.pem" \
    -out "$w/cert.pem" -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -days 30 >/dev/null 2>&1 || { echo "openssl req failed"; echo "0 passed, 1 failed"; exit 1; }

# ---- 1. the kill switch ----
pol=
[ "$rekey" = 1 ] || pol="--ktls-policy close"
echo off >"$w/switch"
# shellcheck disable=SC2086 # $pol: zero or two words
"$L/kitls-server" --uring --ktls both $pol --ktls-switch "$w/switch" --echo --print \
    --cert "$w/cert.pem" --key "$w/key.pem" --host 127.0.0.1 --port 0 \
    --ready-file "$w/port" >"$w/srv.out" 2>"$w/srv.log" &
spid=$!
wait_for "$w/port" . 1
port=$(cat "$w/port")
n=0
conn() { # expected: off | on
    local tx0 rx0 tx1 rx1 line
    n=$((n + 1))
    tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
    timeout 60 "$L/kitls-client" --host 127.0.0.1 --port "$port" --servername localhost \
        --cafile "$w/cert.pem" --message "switch test $n" --echo --quiet >"$w/cli.$n" 2>&1
    local st=$?
    wait_for "$w/srv.out" '^ktls: ' "$n"
    tx1=$(tls_stat TlsTxSw) rx1=$(tls_stat TlsRxSw)
    line=$(grep '^ktls: ' "$w/srv.out" | sed -n "${n}p")
    case $1 in
    off)
        if [ $st = 0 ] && [ "${line#ktls: off (kTLS switched off}" != "$line" ] &&
            [ "$tx1" = "$tx0" ] && [ "$rx1" = "$rx0" ]; then
            ok "switch off: connection $n echoed in userspace ($line; TlsTxSw/TlsRxSw +0)"
        else
            fail "switch off: connection $n: exit $st, '$line', TlsTxSw +$((tx1 - tx0)) TlsRxSw +$((rx1 - rx0))"
        fi ;;
    on)
        if [ $st = 0 ] && [ "$line" = "ktls: tx+rx" ] && [ $((tx1 - tx0)) -ge 1 ] &&
            [ $((rx1 - rx0)) -ge 1 ]; then
            ok "switch on: connection $n echoed through kTLS ($line; TlsTxSw +$((tx1 - tx0)) TlsRxSw +$((rx1 - rx0)))"
        else
            fail "switch on: connection $n: exit $st, '$line', TlsTxSw +$((tx1 - tx0)) TlsRxSw +$((rx1 - rx0))"
        fi ;;
    esac
}
conn off
echo on >"$w/switch"
kill -HUP "$spid"
wait_for "$w/srv.log" "ktls switch: on" 1 || fail "no 'ktls switch: on' log line"
conn on
echo off >"$w/switch"
kill -HUP "$spid"
wait_for "$w/srv.log" "ktls switch: off" 2 || fail "no second 'ktls switch: off' log line"
conn off
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
grep -h "ktls switch" "$w/srv.log" | sed 's/^/    /'

# ---- 2. the README's demo ----
if top_builddir=$bd timeout 600 bash "$src/examples/demo-uring.sh" >"$w/demo.out" 2>&1 &&
    grep -q "^demo: kitls-client: .* sha256 matches" "$w/demo.out" &&
    grep -q "^demo: curl: .* sha256 matches" "$w/demo.out" &&
    [ "$(grep -c "^demo: transport (.*): kernel TLS carried the data (TX and RX offloaded; the file went through io_uring splice" "$w/demo.out")" = 2 ]; then
    ok "examples/demo-uring.sh: both copies match, kernel TLS carried the data"
else
    fail "examples/demo-uring.sh on a kTLS kernel"
fi
sed 's/^/    /' "$w/demo.out"
# ... and its fallback for sandboxes without io_uring: the blocking server.
if KITLS_DEMO_URING=0 top_builddir=$bd timeout 600 bash "$src/examples/demo-uring.sh" \
    >"$w/demo0.out" 2>&1 && [ "$(grep -c "sha256 matches" "$w/demo0.out")" = 2 ] &&
    [ "$(grep -c "^demo: transport (.*): kernel TLS carried the data (TX and RX offloaded; the file went through sendfile(2)" "$w/demo0.out")" = 2 ]; then
    ok "examples/demo-uring.sh without io_uring: blocking server, kernel TLS carried the data"
else
    fail "examples/demo-uring.sh without io_uring on a kTLS kernel"
fi
sed 's/^/    /' "$w/demo0.out"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
