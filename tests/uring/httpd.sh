#!/bin/bash
# tests/uring/httpd.sh — examples/uring-httpd tried the way a careless user
# or a hostile client would (issue 14), on loopback with userspace records:
#   1. no implicit document root; the certificate and key, symlinks out of
#      the root, "..", %2e%2e and NUL are never served;
#   2. request bodies are discarded (Content-Length) or the connection is
#      closed (chunked, both headers, too large): a body that looks like a
#      request never gets an answer of its own (RFC 9112 §6.3);
#   3. handshake, header and keep-alive idle timeouts close connections;
#   4. ALPN http/1.0 (curl --http1.0) and no ALPN are accepted;
#   5. --ktls says at start and once per reason why it falls back.
# Exit 77 (skip) without openssl, curl or io_uring.
set -u
. "$(dirname "$0")/httpd-common.sh"
httpd_setup openssl curl
# Keep a client's input open until file $1 has $2 status lines (20 s at
# most), then $3 s more for an answer that must not come.  s_client
# -no_ign_eof ends at its input's EOF: a guessed sleep lost answers that
# came late on a loaded machine.
hold_answers() {
    i=0
    while [ "$(cat "$1" 2>/dev/null | grep -ac '^HTTP/')" -lt "$2" ] && [ $i -lt 400 ]; do
        sleep 0.05; i=$((i + 1))
    done
    sleep "$3"
}

# The careless layout: certificate and key inside the served directory.
site=$tmp/site
mkdir -p "$site/sub"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$site/key.pem" -out "$site/cert.pem" 2>/dev/null || { echo "SKIP: PKI"; exit 77; }
echo '<h1>kitls</h1>' >"$site/index.html"
echo 'sub' >"$site/sub/page.txt"
echo 'SECRET-OUTSIDE' >"$tmp/secret.txt"
ln -s ../secret.txt "$site/out"         # relative symlink leaving the root
ln -s "$tmp/secret.txt" "$site/abs"     # absolute symlink leaving the root
ln -s key.pem "$site/keylink"           # symlink to the key, inside the root
ln "$site/key.pem" "$site/key-hard"     # hard link to the key
ln -s sub/page.txt "$site/inlink"       # a symlink that stays inside: served
copts="-s --cacert $site/cert.pem"

# ---------------------------------------------------------------- 1. root
( cd "$site" && timeout 3 "$httpd" -q -c cert.pem -k key.pem -p 0 \
    --ready-file "$tmp/noroot.port" 2>"$tmp/noroot.log" )
st=$?
check "item 1: refuses to start without -r (exit $st, no listener)" \
    test $st = 2 -a ! -s "$tmp/noroot.port"
check "item 1: ... and says why" grep -q -- "-r/--root DIR is required" "$tmp/noroot.log"

# The old options only, so the same checks run against older builds.
( cd "$site" && exec "$httpd" -q -c cert.pem -k key.pem -r . -p 0 \
    --ready-file "$tmp/h1.port" 2>"$tmp/h1.log" ) &
h1=$!
pids="$pids $h1"
port=$(wait_port "$tmp/h1.port")
[ -n "$port" ] || { echo "uring-httpd did not start (io_uring unavailable?)"; cat "$tmp/h1.log"; exit 77; }
url=https://localhost:$port

get() { # path -> "code" and the body in $tmp/body
    curl $copts --path-as-is -o "$tmp/body" -w '%{http_code}' "$url$1"
}
check "item 1: a file in the root is served" test "$(get /index.html)" = 200
check "item 1: a symlink staying inside the root is served" test "$(get /inlink)" = 200
for p in /key.pem /cert.pem /keylink /key-hard /out /abs //etc/passwd /sub/../key.pem /%2e%2e/secret.txt \
    /sub/%2E%2E/key.pem /..%2fsecret.txt /a%00b; do
    code=$(get "$p")
    leak=$(grep -c -e PRIVATE -e CERTIFICATE -e SECRET-OUTSIDE -e root: "$tmp/body" 2>/dev/null)
    case $p in
    *..* | *%2e* | *%2E* | *%00*) want=400 ;;
    *) want=404 ;;
    esac
    check "item 1: GET $p -> $want (got $code), nothing secret in the body" \
        test "$code" = $want -a "${leak:-0}" = 0
done

# ---------------------------------------------------------------- 2. bodies
# Send raw requests on one TLS connection; print the status lines and
# Connection headers the server sent back.
raw() { # port, answers expected, request (printf format)
    : >"$tmp/raw.out" # the holder must not count the last call's answers
    (printf "$3"; hold_answers "$tmp/raw.out" "$2" 1) | timeout 30 openssl s_client -quiet \
        -no_ign_eof -connect 127.0.0.1:"$1" -servername localhost 2>/dev/null >"$tmp/raw.out"
    tr -d '\r' <"$tmp/raw.out" | grep -a -e '^HTTP/' -e '^Connection:'
}
inner='GET /key.pem HTTP/1.1\r\nHost: x\r\n\r\n'
ilen=$(printf "$inner" | wc -c)
out=$(raw "$port" 2 "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: $ilen\r\n\r\n${inner}GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
check "item 2: POST whose body is a request, then a GET: 405 then 200, nothing else" \
    test "$(echo "$out" | grep '^HTTP/' | tr '\n' ' ')" = "HTTP/1.1 405 Method Not Allowed HTTP/1.1 200 OK "
out=$(raw "$port" 1 "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: $ilen\r\n\r\n${inner}")
check "item 2: POST with a request-like body on keep-alive: exactly one response" \
    test "$(echo "$out" | grep -c '^HTTP/')" = 1
chunk=$(printf '%x' "$ilen")
out=$(raw "$port" 1 "GET /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n$chunk\r\n${inner}\r\n0\r\n\r\n")
check "item 2: chunked body: one answer with Connection: close" \
    test "$(echo "$out" | tr '\n' ' ')" = "HTTP/1.1 200 OK Connection: close "
out=$(raw "$port" 1 "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: $ilen\r\nTransfer-Encoding: chunked\r\n\r\n${inner}")
check "item 2: Content-Length and Transfer-Encoding: 400, Connection: close, one answer" \
    test "$(echo "$out" | tr '\n' ' ')" = "HTTP/1.1 400 Bad Request Connection: close "
out=$(raw "$port" 1 "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n${inner}")
check "item 2: a body over the bound: 413, Connection: close, one answer" \
    test "$(echo "$out" | tr '\n' ' ')" = "HTTP/1.1 413 Content Too Large Connection: close "

# ---------------------------------------------------------------- 4. ALPN
code=$(curl $copts --http1.0 -o /dev/null -w '%{http_code}' "$url/index.html")
check "item 4: curl --http1.0 (ALPN http/1.0 only) gets 200 (got $code)" test "$code" = 200
(printf 'GET /index.html HTTP/1.0\r\n\r\n'; hold_answers "$tmp/a10.out" 1 0.2) | timeout 30 \
    openssl s_client -alpn http/1.0 -no_ign_eof -connect 127.0.0.1:"$port" >"$tmp/a10.out" 2>/dev/null
out=$(tr -d '\r' <"$tmp/a10.out")
check "item 4: openssl s_client -alpn http/1.0: negotiated, 200" \
    test "$(echo "$out" | grep -c -e '^ALPN protocol: http/1.0' -e '^HTTP/1.1 200 OK')" = 2
(printf 'GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; hold_answers "$tmp/a0.out" 1 0.2) |
    timeout 30 openssl s_client -no_ign_eof -connect 127.0.0.1:"$port" >"$tmp/a0.out" 2>/dev/null
out=$(tr -d '\r' <"$tmp/a0.out")
check "item 4: a client without ALPN: 200" test "$(echo "$out" | grep -c '^HTTP/1.1 200 OK')" = 1

# ---------------------------------------------------------------- 5. --ktls log
( cd "$site" && exec "$httpd" -q -c cert.pem -k key.pem -r . -p 0 --ktls \
    --ready-file "$tmp/h3.port" 2>"$tmp/h3.log" ) &
h3=$!
pids="$pids $h3"
p3=$(wait_port "$tmp/h3.port")
for n in 1 2 3; do curl $copts -o /dev/null "https://localhost:$p3/index.html"; done
kill -TERM $h3
wait $h3
check "item 5: the --ktls server exits cleanly" test $? = 0
pids=$(echo "$pids" | sed "s/ $h3//")
offloaded=$(sed -n 's/.* ktls \([0-9]*\) .*/\1/p' "$tmp/h3.log")
started=$(grep -c -e '--ktls: no kernel TLS here' -e '--ktls: this kernel cannot rekey' "$tmp/h3.log")
per_conn=$(grep -c -e '--ktls: a connection stays in userspace' "$tmp/h3.log")
if [ "${offloaded:-0}" = 3 ]; then
    check "item 5: --ktls: all 3 offloaded, nothing to log" test "$started$per_conn" = 00
else
    check "item 5: --ktls falls back: logged at start ($started) and once for 3 connections ($per_conn)" \
        test "$started" = 1 -a "$per_conn" = 1
fi
sed 's/^/  /' "$tmp/h3.log"

# ---------------------------------------------------------------- 3. timeouts
( cd "$site" && exec "$httpd" -q -c cert.pem -k key.pem -r . -p 0 --handshake-timeout 1000 \
    --header-timeout 1000 --idle-timeout 1000 --ready-file "$tmp/h2.port" 2>"$tmp/h2.log" ) &
h2=$!
pids="$pids $h2"
p2=$(wait_port "$tmp/h2.port")
now() { date +%s%N | cut -b1-13; }
# each probe writes "<ms until the server closed> <answers>" to its file
( t0=$(now); timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p2; cat <&3 >/dev/null" 2>/dev/null
  echo "$(($(now) - t0)) -" >"$tmp/t.silent" ) &
probes=$!
for kind in half idle; do
    case $kind in
    half) req='GET /index.html HTTP/1.1\r\nHost: x\r\n' ;;
    idle) req='GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n' ;;
    esac
    ( t0=$(now)
      (printf "$req"; sleep 6) | ( timeout 10 openssl s_client -quiet -connect 127.0.0.1:"$p2" \
          -servername localhost 2>/dev/null | tr -d '\r' | grep -a '^HTTP/' | tr ' ' _ >"$tmp/a.$kind"
          echo "$(($(now) - t0)) $(cat "$tmp/a.$kind")" >"$tmp/t.$kind" ) ) &
    probes="$probes $!"
done
wait $probes
in_time() { # file, expected answer: closed after 0.5 s to 4 s
    read -r ms ans <"$1" || return 1
    echo "  $(basename "$1"): closed after $ms ms, answer ${ans:--}"
    [ "$ms" -ge 500 ] && [ "$ms" -le 4000 ] && [ "${ans:--}" = "$2" ]
}
check "item 3: a client that says nothing is closed after the handshake timeout" \
    in_time "$tmp/t.silent" -
check "item 3: half a request head: 408 and closed after the header timeout" \
    in_time "$tmp/t.half" HTTP/1.1_408_Request_Timeout
check "item 3: an idle keep-alive connection is closed after the idle timeout" \
    in_time "$tmp/t.idle" HTTP/1.1_200_OK
kill -TERM $h2
wait $h2
check "item 3: the server with short timeouts exits cleanly" test $? = 0
check "item 3: the server counted the header and idle timeouts" \
    grep -q 'idle/header timeouts 2 ' "$tmp/h2.log"

kill -TERM $h1
wait $h1
check "uring-httpd: clean shutdown" test $? = 0
pids=
[ $fail = 0 ] || tail -n 5 "$tmp"/h*.log
exit $fail
