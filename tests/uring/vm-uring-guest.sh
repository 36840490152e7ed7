#!/bin/bash
# The io_uring driver with kTLS on, run inside a kTLS VM by
# tests/uring/vm-uring.sh:
#   vm-uring-guest.sh BUILDDIR
# KITLS_EXPECT_REKEY=1 on a kernel that can rekey (6.14+), 0 before.
#   1. test_uring's kTLS tests with TEST_URING_EXPECT_KTLS=1: offload
#      asserted (EV_HANDSHAKE flags, /proc/net/tls_stat), files spliced,
#      the AEAD-limit echo (rekeys counted by the driver on rekey kernels);
#   2. uring-httpd --ktls --workers 2: a 3 MB file served by io_uring splice through
#      the kernel, fetched by curl and uring-client, checked by sha256;
#   3. kitls-server --uring --ktls both --sendfile: the same for the
#      command-line server, with openssl s_client;
#   4. KeyUpdates mid-stream from openssl s_client (k, then K) through
#      uring-echo --ktls: data before, between and after, and the
#      TlsRxRekeyOk / TlsTxRekeyOk deltas (rekey kernels).  Without rekey:
#      the default policy stays in userspace and passes the same stream;
#      the close policy offloads and ends cleanly at the KeyUpdate, after
#      the data before it;
#   5. test_uring_reentry's real-ring cases on kTLS: callbacks of EV_DATA
#      and EV_EOF (the kTLS receive path) that close, abort, send and
#      key-update their own and another connection (issue 14, F1);
#   6. tests/ops/vm-ops-guest.sh: the kTLS kill switch (kitls-server
#      --ktls-switch, SIGHUP) and examples/demo-uring.sh on kTLS.
# Prints "N passed, N failed".
set -u

bd=${1:?usage: vm-uring-guest.sh BUILDDIR}
rekey=${KITLS_EXPECT_REKEY:-1}
# The libtool wrappers take seconds per start under TCG over 9p: run the
# binaries behind them.
L=$bd/examples/.libs
[ -x "$L/uring-echo" ] || L=$bd/examples
export LD_LIBRARY_PATH=$bd/lib/.libs:$bd/ktls/.libs:$bd/uring/.libs:$bd/redis/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
TU=$bd/tests/uring/.libs/test_uring
[ -x "$TU" ] || TU=$bd/tests/uring/test_uring

T=${TMPDIR:-/tmp}
w=$(mktemp -d "$T/kitls-vm-uring.XXXXXX") || exit 1
if [ -n "${KITLS_VM:-}" ] && mount -t tmpfs -o size=256m tmpfs "$w" 2>/dev/null; then
    trap 'umount "$w"; rmdir "$w"' EXIT
else
    trap 'rm -rf "$w"' EXIT
fi
passed=0
failed=0
t_last=$(date +%s)
ok() { echo "ok   $* [$(( $(date +%s) - t_last )) s]"; passed=$((passed + 1)); t_last=$(date +%s); }
fail() { echo "FAIL $* [$(( $(date +%s) - t_last )) s]"; failed=$((failed + 1)); t_last=$(date +%s); }
say() { sed 's/^/    /' "$@"; }
tls_stat() { awk -v n="$1" '$1 == n { print $2 }' /proc/net/tls_stat 2>/dev/null; }
stat_line() {
    printf '    tls_stat: TlsTxSw %s TlsRxSw %s TlsTxRekeyOk %s TlsRxRekeyOk %s TlsDecryptError %s\n' \
        "$(tls_stat TlsTxSw)" "$(tls_stat TlsRxSw)" "$(tls_stat TlsTxRekeyOk)" \
        "$(tls_stat TlsRxRekeyOk)" "$(tls_stat TlsDecryptError)"
}
wait_port() { # file -> port
    for _ in $(seq 400); do [ -s "$1" ] && break; sleep 0.05; done
    cut -d' ' -f1 "$1"
}
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
hold_until() { # keep a pipe open until file $1 has $2 bytes (60 s at most)
    for _ in $(seq 1200); do [ "$(size_of "$1")" -ge "$2" ] && return; sleep 0.05; done
}
hold_count() { # ... until file $1 has $3 lines matching $2 (60 s at most)
    for _ in $(seq 1200); do [ "$(cat "$1" 2>/dev/null | grep -c "$2")" -ge "$3" ] && return; sleep 0.05; done
}

echo "kernel $(uname -r), rekey expected: $rekey"
# The tls module is loaded by the initramfs; without it nothing here runs.
[ -r /proc/net/tls_stat ] || { echo "no /proc/net/tls_stat (kTLS missing)"; echo "0 passed, 1 failed"; exit 1; }
stat_line
close_pol=
[ "$rekey" = 1 ] || close_pol=1

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$w/key.pem" \
    -out "$w/cert.pem" -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -days 30 >/dev/null 2>&1 || { echo "openssl req failed"; exit 1; }

# ---- 1. test_uring, kTLS tests ----
if TEST_URING_EXPECT_KTLS=1 TEST_URING_ONLY=ktls timeout 300 "$TU" >"$w/tu.out" 2>&1; then
    ok "test_uring kTLS tests (offload asserted, splice, AEAD limit 8)"
else
    fail "test_uring kTLS tests"
fi
grep -a -e '^test_uring:' -e 'Checks:' -e ':F:' -e ':E:' "$w/tu.out" | say
stat_line

# ---- 2. uring-httpd --ktls: a large file by splice ----
mkdir "$w/www"
head -c $((3 * 1024 * 1024 + 4321)) /dev/urandom >"$w/www/big.bin"
sum=$(sha256sum <"$w/www/big.bin" | cut -d' ' -f1)
tx0=$(tls_stat TlsTxSw)
# --workers 2 (issue 17 item 4): two rings and SO_REUSEPORT listeners,
# both offloading
"$L/uring-httpd" -c "$w/cert.pem" -k "$w/key.pem" -r "$w/www" -p 0 --ktls ${close_pol:+--ktls-close} \
    --workers 2 --ready-file "$w/httpd.port" 2>"$w/httpd.log" &
hpid=$!
hport=$(wait_port "$w/httpd.port")
good=1
for i in 1 2; do
    timeout 120 curl -s --cacert "$w/cert.pem" -o "$w/got.$i" "https://localhost:$hport/big.bin"
    got=$(sha256sum <"$w/got.$i" | cut -d' ' -f1)
    [ "$got" = "$sum" ] || { good=0; echo "    curl $i: sha256 differs ($(size_of "$w/got.$i") bytes)"; }
done
timeout 120 "$L/uring-client" -q -p "$hport" --ca "$w/cert.pem" --sni localhost -n 2 -c 2 \
    --get /big.bin --requests 2 --expect "$w/www/big.bin" >"$w/uc.out" 2>&1 ||
    { good=0; echo "    uring-client failed"; say "$w/uc.out"; }
# issue 17: a range from an offset (splice from there on kTLS) and plain
# HTTP answered in clear text by the --ktls server
timeout 120 curl -s --cacert "$w/cert.pem" -r 1000-2000999 -o "$w/got.r" \
    -w '%{http_code}' "https://localhost:$hport/big.bin" >"$w/got.rc"
tail -c +1001 "$w/www/big.bin" | head -c 2000000 >"$w/want.r"
if [ "$(cat "$w/got.rc")" = 206 ] && cmp -s "$w/got.r" "$w/want.r"; then
    ok "uring-httpd --ktls: 206 for 2 MB from offset 1000, byte-exact"
else
    fail "uring-httpd --ktls: range: status $(cat "$w/got.rc"), $(size_of "$w/got.r") bytes"
fi
pc=$(timeout 30 curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/big.bin")
[ "$pc" = 400 ] && ok "uring-httpd --ktls: plain HTTP to the TLS port -> 400" ||
    fail "uring-httpd --ktls: plain HTTP got $pc"
echo small >"$w/www/small.txt"
n200=0
for i in $(seq 12); do # fresh connections: the kernel spreads them over both workers
    c=$(timeout 60 curl -s --cacert "$w/cert.pem" -o /dev/null -w '%{http_code}' \
        "https://localhost:$hport/small.txt")
    [ "$c" = 200 ] && n200=$((n200 + 1))
done
kill -TERM $hpid; wait $hpid
tx1=$(tls_stat TlsTxSw)
grep -q "ktls [1-9]" "$w/httpd.log" || good=0
if [ $good = 1 ] && [ $((tx1 - tx0)) -ge 5 ]; then
    ok "uring-httpd --ktls${close_pol:+ --ktls-close}: 3 MB by splice, 2 curl + 2x2 uring-client GETs, sha256 ok, TlsTxSw +$((tx1 - tx0))"
else
    fail "uring-httpd --ktls: good=$good TlsTxSw +$((tx1 - tx0))"
fi
tail -n 2 "$w/httpd.log" | say
grep -q 'counters: .* ktls_tx [1-9]' "$w/httpd.log" && ok "uring-httpd --ktls: counters show the TX offloads" ||
    fail "uring-httpd --ktls: no ktls_tx in the counters"
nw=$(grep -c -e 'worker [01] counters: .* ktls_tx [1-9]' "$w/httpd.log")
[ "$n200" = 12 ] && [ "$nw" = 2 ] &&
    ok "uring-httpd --ktls --workers 2: 12 fresh GETs, both workers offloaded connections" ||
    { fail "uring-httpd --ktls --workers 2: $n200 x 200, $nw workers with ktls_tx"; grep -e 'counters:' "$w/httpd.log" | say; }
# --ktls says once why it falls back (issue 14): nothing on the rekey
# kernel (all offloaded); on 6.1 with --ktls-close one start line, and
# without it a start line and one line for three connections (NO_REKEY).
nlog=$(grep -c -e '--ktls: ' "$w/httpd.log")
if [ "$rekey" = 1 ]; then
    [ "$nlog" = 0 ] && ok "uring-httpd --ktls: no fallback logged" ||
        { fail "uring-httpd --ktls: $nlog fallback lines"; grep -e '--ktls: ' "$w/httpd.log" | say; }
else
    [ "$nlog" = 1 ] && grep -q -e '--ktls: this kernel cannot rekey TLS 1.3: offloaded' "$w/httpd.log" &&
        ok "uring-httpd --ktls --ktls-close: the missing rekey logged once at start" ||
        { fail "uring-httpd --ktls --ktls-close: $nlog fallback lines"; grep -e '--ktls: ' "$w/httpd.log" | say; }
    echo small >"$w/www/small.txt"
    "$L/uring-httpd" -q -c "$w/cert.pem" -k "$w/key.pem" -r "$w/www" -p 0 --ktls \
        --ready-file "$w/httpd2.port" 2>"$w/httpd2.log" &
    hpid=$!
    hport=$(wait_port "$w/httpd2.port")
    for i in 1 2 3; do
        timeout 60 curl -s --cacert "$w/cert.pem" -o /dev/null "https://localhost:$hport/small.txt"
    done
    kill -TERM $hpid; wait $hpid
    if [ "$(grep -c -e '--ktls: this kernel cannot rekey TLS 1.3 (Linux < 6.14)' "$w/httpd2.log")" = 1 ] &&
        [ "$(grep -c -e '--ktls: a connection stays in userspace' "$w/httpd2.log")" = 1 ]; then
        ok "uring-httpd --ktls (no rekey): logged once at start and once for 3 connections"
    else
        fail "uring-httpd --ktls (no rekey): fallback not logged once"
    fi
    say "$w/httpd2.log"
fi

# ---- 3. kitls-server --uring --ktls both --sendfile ----
printf 'HELLO\n' >"$w/expect"
cat "$w/www/big.bin" >>"$w/expect"
esize=$(size_of "$w/expect")
esum=$(sha256sum <"$w/expect" | cut -d' ' -f1)
tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
timeout 150 "$L/kitls-server" --uring --cert "$w/cert.pem" --key "$w/key.pem" --port 0 \
    --ready-file "$w/ks.port" --message HELLO$'\n' --sendfile "$w/www/big.bin" --ktls both \
    ${close_pol:+--ktls-policy close} --naccept 2 --print >"$w/ks.out" 2>"$w/ks.err" &
kpid=$!
kport=$(wait_port "$w/ks.port")
scp=
for i in 1 2; do
    ( hold_until "$w/ksc.$i" "$esize" | timeout 120 openssl s_client -quiet -no_ign_eof \
        -connect 127.0.0.1:"$kport" -CAfile "$w/cert.pem" -verify_return_error \
        -servername localhost >"$w/ksc.$i" 2>"$w/ksc.$i.err" ) &
    scp="$scp $!"
done
wait $scp
wait $kpid
kst=$?
good=1
for i in 1 2; do
    [ "$(sha256sum <"$w/ksc.$i" | cut -d' ' -f1)" = "$esum" ] ||
        { good=0; echo "    s_client $i: sha256 differs ($(size_of "$w/ksc.$i") bytes)"; }
done
tx1=$(tls_stat TlsTxSw) rx1=$(tls_stat TlsRxSw)
if [ $good = 1 ] && [ $kst = 0 ] && [ "$(grep -c '^ktls: tx+rx$' "$w/ks.out")" = 2 ] &&
    [ $((tx1 - tx0)) -ge 2 ] && [ $((rx1 - rx0)) -ge 2 ]; then
    ok "kitls-server --uring --ktls both --sendfile: 2 x 3 MB to s_client, sha256 ok, TlsTxSw +$((tx1 - tx0)) TlsRxSw +$((rx1 - rx0))"
else
    fail "kitls-server --uring --sendfile: good=$good exit=$kst TlsTxSw +$((tx1 - tx0)) TlsRxSw +$((rx1 - rx0))"
    say "$w/ks.err"
fi
grep -e '^ktls' -e '^sendfile' "$w/ks.out" | sort | uniq -c | say

# ---- 4. KeyUpdates mid-stream through uring-echo --ktls ----
# s_client takes a command only when it reads it alone: each line goes
# once s_client has dealt with the one before (its echo came back, or it
# said KEYUPDATE on stderr), not after a guessed pause.  k = KeyUpdate,
# K = KeyUpdate with update_requested (the server answers with its own).
input_keyupdates() {
    printf 'before update\n'
    hold_until "$w/echo.out" 14
    printf 'k\n'
    hold_count "$w/echo.err" '^KEYUPDATE' 1
    printf 'between updates\n'
    hold_until "$w/echo.out" 30
    printf 'K\n'
    hold_count "$w/echo.err" '^KEYUPDATE' 2
    printf 'after updates\n'
    hold_until "$w/echo.out" 44
    sleep 0.5
}
expected=$'before update\nbetween updates\nafter updates'
run_echo() { # extra uring-echo options...
    rm -f "$w/echo.port" "$w/echo.out" "$w/echo.err"
    "$L/uring-echo" -c "$w/cert.pem" -k "$w/key.pem" -p 0 --ktls "$@" \
        --ready-file "$w/echo.port" 2>"$w/echo.log" &
    epid=$!
    eport=$(wait_port "$w/echo.port")
    input_keyupdates | timeout 60 openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:"$eport" \
        -CAfile "$w/cert.pem" -verify_return_error -servername localhost \
        >"$w/echo.out" 2>"$w/echo.err"
    kill -TERM $epid; wait $epid
}
rt0=$(tls_stat TlsTxRekeyOk) rr0=$(tls_stat TlsRxRekeyOk)
run_echo
rt1=$(tls_stat TlsTxRekeyOk) rr1=$(tls_stat TlsRxRekeyOk)
if [ "$rekey" = 1 ]; then
    # k and K came through io_uring recvmsg with their type (the sync
    # fallback counts apart); our answer to K changed the TX key.
    if [ "$(cat "$w/echo.out")" = "$expected" ] && grep -q "ktls tx=1 rx=1" "$w/echo.log" &&
        grep -q "ktls-control-records recvmsg [2-9][0-9]* sync 0 ktls-tx-rekeys [1-9]" "$w/echo.log" &&
        [ $((rr1 - rr0)) -ge 2 ] && [ $((rt1 - rt0)) -ge 1 ]; then
        ok "uring-echo --ktls: s_client k and K mid-stream, data before/between/after, TlsRxRekeyOk +$((rr1 - rr0)) TlsTxRekeyOk +$((rt1 - rt0))"
    else
        fail "uring-echo --ktls KeyUpdates: TlsRxRekeyOk +$((rr1 - rr0)) TlsTxRekeyOk +$((rt1 - rt0)), got '$(head -c 200 "$w/echo.out")'"
        say "$w/echo.log" "$w/echo.err" | tail -n 15
    fi
else
    if [ "$(cat "$w/echo.out")" = "$expected" ] && grep -q "ktls tx=0 rx=0" "$w/echo.log"; then
        ok "uring-echo --ktls (no rekey, default policy): userspace, s_client k and K mid-stream, data intact"
    else
        fail "uring-echo --ktls (no rekey): got '$(head -c 200 "$w/echo.out")'"
        say "$w/echo.log" "$w/echo.err" | tail -n 15
    fi
    run_echo --ktls-close
    out=$(cat "$w/echo.out")
    if grep -q "ktls tx=1 rx=1" "$w/echo.log" && [ "${out%%$'\n'*}" = "before update" ] &&
        ! printf '%s' "$out" | grep -q "after updates" &&
        grep -q "kernel cannot change kTLS keys" "$w/echo.log"; then
        ok "uring-echo --ktls --ktls-close (no rekey): offloaded, data before the KeyUpdate delivered, then a clean end"
    else
        fail "uring-echo --ktls --ktls-close (no rekey): got '$(head -c 200 "$w/echo.out")'"
    fi
    say "$w/echo.log" | grep -v "^    uring-echo: accepted" | tail -n 3
fi
grep -h -e "uring-echo: fd" -e "ktls-control-records" "$w/echo.log" | head -n 3 | say
stat_line

# ---- 5. callbacks that close/abort/send/key-update on kTLS (issue 14, F1) ----
# test_uring_reentry's real-ring cases with both directions offloaded
# (asserted): EV_DATA and EV_EOF from the kTLS receive path, each with a
# re-entrant close, abort, send and key_update on its own connection and
# on another; every event emitted while the driver holds the connection.
TR=$bd/tests/uring/.libs/test_uring_reentry
[ -x "$TR" ] || TR=$bd/tests/uring/test_uring_reentry
if TEST_URING_EXPECT_KTLS=1 TEST_REENTRY_EVENTS="2 4" CK_RUN_CASE=real-ring timeout 300 "$TR" \
    >"$w/tr.out" 2>&1; then
    ok "test_uring_reentry real ring on kTLS: EV_DATA/EV_EOF x close/abort/send/key_update x self/other"
else
    fail "test_uring_reentry real ring on kTLS"
fi
grep -a -e 'Checks:' -e ':F:' -e ':E:' "$w/tr.out" | say
stat_line

# ---- 6. operations on kTLS (tests/ops/vm-ops-guest.sh): the kill switch
# through kitls-server --ktls-switch and SIGHUP, the README's demo ----
bash "$(dirname "$0")/../ops/vm-ops-guest.sh" "$bd" >"$w/ops.out" 2>&1
say "$w/ops.out" | grep -v '^    [0-9]* passed, [0-9]* failed$'
l=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$w/ops.out" | tail -n1)
if [ -n "$l" ]; then
    passed=$((passed + ${l%% passed*})); x=${l#*, }; failed=$((failed + ${x%% failed*}))
else
    fail "tests/ops/vm-ops-guest.sh gave no summary"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
