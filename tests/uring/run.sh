#!/bin/bash
# tests/uring/run.sh — the io_uring example servers against real peers on
# loopback (userspace record path): concurrent OpenSSL s_client sessions
# and kitls uring-clients through uring-echo, concurrent curl downloads
# (keep-alive, 404, HEAD, big and small files) and uring-clients through
# uring-httpd, every byte checked.  Both servers must end with no open
# connection.  Exit 77 (skip) without openssl, curl or io_uring.
set -u
top_builddir=${top_builddir:-.}
ex=$top_builddir/examples
for tool in openssl curl cmp; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool not found"; exit 77; }
done
[ -x "$ex/uring-echo" ] || { echo "SKIP: examples not built"; exit 77; }

tmp=$(mktemp -d)
pids=
cleanup() {
    [ -n "${URING_TEST_DEBUG:-}" ] && echo "cleanup from $BASHPID" >&2
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail=0
check() { # name, command...
    name=$1; shift
    if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fail=1; fi
}

# PKI: a CA and a P-256 leaf for localhost / 127.0.0.1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=test-ca -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$tmp/key.pem" -out "$tmp/req.pem" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tmp/ext"
openssl x509 -req -in "$tmp/req.pem" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 2 -extfile "$tmp/ext" -out "$tmp/cert.pem" 2>/dev/null || { echo "SKIP: PKI"; exit 77; }

wait_port() { # file -> prints the port (20 s at most: a loaded machine)
    i=0
    while [ ! -s "$1" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
    cut -d' ' -f1 "$1"
}
# Keep a client's input open until file $1 has $2 bytes (60 s at most):
# s_client -no_ign_eof ends at its input's EOF, and what the server still
# had to send would be lost; no guessed sleep.
hold_until() {
    i=0
    while [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -lt "$2" ] && [ $i -lt 1200 ]; do
        sleep 0.05; i=$((i + 1))
    done
}

# ---------------------------------------------------------------- echo
"$ex/uring-echo" -q -c "$tmp/cert.pem" -k "$tmp/key.pem" -p 0 \
    --ready-file "$tmp/echo.port" 2>"$tmp/echo.log" &
echo_pid=$!
pids="$pids $echo_pid"
port=$(wait_port "$tmp/echo.port")
[ -n "$port" ] || { echo "uring-echo did not start (io_uring unavailable?)"; cat "$tmp/echo.log"; exit 77; }

head -c 150000 /dev/urandom >"$tmp/rand"
n=0
sc_pids=
while [ $n -lt 8 ]; do
    # s_client ends at its input's EOF: held until the whole echo is back
    ( trap - EXIT INT TERM; (cat "$tmp/rand"; hold_until "$tmp/sc.$n" 150000) | openssl s_client -quiet -no_ign_eof -nocommands -connect 127.0.0.1:"$port" \
        -CAfile "$tmp/ca.pem" -verify_return_error -servername localhost \
        >"$tmp/sc.$n" 2>"$tmp/sc.$n.err" ) &
    sc_pids="$sc_pids $!"
    n=$((n + 1))
done
"$ex/uring-client" -q -p "$port" --ca "$tmp/ca.pem" --sni localhost -n 300 -c 100 \
    --echo 20000 >"$tmp/uc.echo" 2>&1
uc=$?
wait_sc() {
    ok=1
    n=0
    while [ $n -lt 8 ]; do
        cmp -s "$tmp/rand" "$tmp/sc.$n" || { ok=0; echo "  s_client $n differs"; }
        n=$((n + 1))
    done
    [ $ok = 1 ]
}
wait $sc_pids
check "uring-echo: 300 uring-client connections (100 at once) echo verified" test $uc = 0
check "uring-echo: 8 concurrent openssl s_client sessions, 150 kB each verified" wait_sc

# ---------------------------------------------------------------- httpd
mkdir "$tmp/www"
echo '<h1>kitls</h1>' >"$tmp/www/index.html"
head -c 1200 /dev/urandom >"$tmp/www/small.bin"
head -c 3000000 /dev/urandom >"$tmp/www/big.bin"
"$ex/uring-httpd" -q -c "$tmp/cert.pem" -k "$tmp/key.pem" -r "$tmp/www" -p 0 \
    --ready-file "$tmp/httpd.port" 2>"$tmp/httpd.log" &
httpd_pid=$!
pids="$pids $httpd_pid"
hport=$(wait_port "$tmp/httpd.port")
url=https://localhost:$hport
curl_opts="-s --cacert $tmp/ca.pem"

n=0
curl_pids=
while [ $n -lt 8 ]; do
    curl $curl_opts -o "$tmp/big.$n" "$url/big.bin" &
    curl_pids="$curl_pids $!"
    curl $curl_opts -o "$tmp/small.$n" "$url/small.bin" &
    curl_pids="$curl_pids $!"
    n=$((n + 1))
done
"$ex/uring-client" -q -p "$hport" --ca "$tmp/ca.pem" --sni localhost -n 200 -c 50 \
    --get /small.bin --requests 4 --expect "$tmp/www/small.bin" >"$tmp/uc.get" 2>&1
uc1=$?
"$ex/uring-client" -q -p "$hport" --ca "$tmp/ca.pem" --sni localhost -n 6 -c 6 \
    --get /big.bin --requests 2 --expect "$tmp/www/big.bin" >"$tmp/uc.big" 2>&1
uc2=$?
wait_curl() {
    ok=1
    n=0
    while [ $n -lt 8 ]; do
        cmp -s "$tmp/www/big.bin" "$tmp/big.$n" || { ok=0; echo "  curl big $n differs"; }
        cmp -s "$tmp/www/small.bin" "$tmp/small.$n" || { ok=0; echo "  curl small $n differs"; }
        n=$((n + 1))
    done
    [ $ok = 1 ]
}
wait $curl_pids
check "uring-httpd: 16 concurrent curl downloads (3 MB and 1.2 kB) verified" wait_curl
check "uring-httpd: 200 uring-client connections x 4 keep-alive GETs verified" test $uc1 = 0
check "uring-httpd: 6 uring-client connections x 2 GETs of 3 MB verified" test $uc2 = 0
code=$(curl $curl_opts -o /dev/null -w '%{http_code}' "$url/missing")
check "uring-httpd: 404 for a missing file" test "$code" = 404
reuse=$(curl $curl_opts -v -o /dev/null -o /dev/null "$url/small.bin" "$url/index.html" 2>&1 |
    grep -c -i -e "re-using existing connection" -e "reusing existing connection")
check "uring-httpd: curl keeps the connection alive between requests" test "$reuse" -ge 1
len=$(curl $curl_opts -I "$url/big.bin" | tr -d '\r' | sed -n 's/^Content-Length: //Ip')
check "uring-httpd: HEAD gives Content-Length" test "$len" = 3000000
alpn=$(curl $curl_opts -v -o /dev/null "$url/" 2>&1 | grep -c "ALPN.*http/1.1")
check "uring-httpd: ALPN http/1.1 negotiated" test "$alpn" -ge 1

# ---------------------------------------------------------------- kitls-server --uring
# The command-line server on the io_uring driver: echo with KeyUpdates
# (openssl s_client and kitls-client at once), then a message and a file
# (--sendfile, with --ktls both: offloaded in the kTLS VM, userspace here)
# with ALPN.  --naccept N: the server exits 0 only if all N succeeded.
SRV=$ex/kitls-server
CLI=$ex/kitls-client
if [ -x "$SRV" ] && "$SRV" --help | grep -q -e '--uring  .*io_uring driver' &&
    ! "$SRV" --help | grep -q 'not built: no liburing'; then
    timeout 60 "$SRV" --uring --cert "$tmp/cert.pem" --key "$tmp/key.pem" --port 0 \
        --ready-file "$tmp/ks.port" --echo --naccept 9 --key-update 1 --key-update-request \
        --quiet >"$tmp/ks.out" 2>"$tmp/ks.log" &
    ks_pid=$!
    pids="$pids $ks_pid"
    kport=$(wait_port "$tmp/ks.port")
    n=0
    ks_pids=
    while [ $n -lt 6 ]; do
        ( trap - EXIT INT TERM; (cat "$tmp/rand"; hold_until "$tmp/ksc.$n" 150000) |
            openssl s_client -quiet -no_ign_eof -nocommands -connect 127.0.0.1:"$kport" -CAfile "$tmp/ca.pem" \
            -verify_return_error -servername localhost >"$tmp/ksc.$n" 2>"$tmp/ksc.$n.err" ) &
        ks_pids="$ks_pids $!"
        n=$((n + 1))
    done
    kc_ok=1
    for n in 0 1 2; do
        head -c $((50000 + n * 7777)) "$tmp/rand" >"$tmp/kcin.$n"
        timeout 20 "$CLI" --port "$kport" --cafile "$tmp/ca.pem" --servername localhost --echo \
            --key-update 1 --key-update-request --quiet <"$tmp/kcin.$n" >"$tmp/kc.$n" 2>&1 ||
            { kc_ok=0; echo "  kitls-client $n failed"; }
    done
    wait $ks_pids
    ks_cmp() {
        ok=1
        for n in 0 1 2 3 4 5; do
            cmp -s "$tmp/rand" "$tmp/ksc.$n" || { ok=0; echo "  s_client $n differs"; }
        done
        [ $ok = 1 ]
    }
    check "kitls-server --uring --echo: 6 concurrent openssl s_client, 150 kB each verified" ks_cmp
    check "kitls-server --uring --echo: 3 kitls-client --echo, KeyUpdates both ways" test $kc_ok = 1
    wait "$ks_pid"
    st=$?
    check "kitls-server --uring --naccept 9: all 9 connections succeeded (exit $st)" test $st = 0

    # A message and a file; --ktls both (falls back to userspace without kTLS).
    printf 'HELLO\n' >"$tmp/msgfile"
    cat "$tmp/msgfile" "$tmp/www/big.bin" >"$tmp/ks.expect"
    esize=$(stat -c %s "$tmp/ks.expect")
    timeout 60 "$SRV" --uring --cert "$tmp/cert.pem" --key "$tmp/key.pem" --port 0 \
        --ready-file "$tmp/ks2.port" --message HELLO$'\n' --sendfile "$tmp/www/big.bin" \
        --ktls both --alpn x-kitls,http/1.1 --naccept 4 --print --quiet \
        >"$tmp/ks2.out" 2>"$tmp/ks2.log" &
    ks_pid=$!
    pids="$pids $ks_pid"
    kport=$(wait_port "$tmp/ks2.port")
    n=0
    ks_pids=
    while [ $n -lt 4 ]; do
        ( trap - EXIT INT TERM; hold_until "$tmp/ksf.$n" "$esize" |
            openssl s_client -quiet -no_ign_eof -nocommands -connect 127.0.0.1:"$kport" -CAfile "$tmp/ca.pem" \
            -verify_return_error -servername localhost -alpn x-kitls \
            >"$tmp/ksf.$n" 2>"$tmp/ksf.$n.err" ) &
        ks_pids="$ks_pids $!"
        n=$((n + 1))
    done
    wait $ks_pids
    ksf_cmp() {
        ok=1
        for n in 0 1 2 3; do
            cmp -s "$tmp/ks.expect" "$tmp/ksf.$n" || { ok=0; echo "  s_client $n differs"; }
        done
        [ $ok = 1 ]
    }
    check "kitls-server --uring --message --sendfile --ktls both: 4 x 3 MB verified" ksf_cmp
    wait "$ks_pid"
    st=$?
    check "kitls-server --uring --sendfile: all 4 connections succeeded (exit $st)" test $st = 0
    check "kitls-server --uring --print: ALPN x-kitls on all 4" \
        test "$(grep -c '^alpn: x-kitls$' "$tmp/ks2.out")" = 4
    check "kitls-server --uring --print: kTLS reported on all 4" \
        test "$(grep -c '^ktls: ' "$tmp/ks2.out")" = 4
    check "kitls-server --uring --print: sendfile done on all 4" \
        test "$(grep -c '^sendfile: 3000000 bytes$' "$tmp/ks2.out")" = 4
    grep -h '^ktls: ' "$tmp/ks2.out" | sort | uniq -c | sed 's/^/  /'
    pids=$(echo "$pids" | sed "s/ $ks_pid//")
else
    echo "skip: kitls-server without --uring"
fi

# ---------------------------------------------------------------- shutdown
kill -TERM "$echo_pid"
wait "$echo_pid"
st=$?
check "uring-echo: clean shutdown, no connection left (exit $st)" test $st = 0
kill -TERM "$httpd_pid"
wait "$httpd_pid"
check "uring-httpd: clean shutdown" test $? = 0
pids=
grep -h "accepted" "$tmp/echo.log" "$tmp/httpd.log" | sed 's/^/  /'
if [ $fail != 0 ]; then
    for f in "$tmp"/uc.* "$tmp/echo.log" "$tmp/httpd.log" "$tmp"/ks*.log "$tmp"/kc.*; do
        [ -f "$f" ] && { echo "== $f"; tail -5 "$f"; }
    done
fi
exit $fail
