#!/bin/sh
# kitls-server --metrics end to end: real handshakes on loopback (kitls-client
# and openssl s_client: full, resumed with a saved session, HelloRetryRequest,
# KeyUpdate, failures with an alert received and with an alert sent), then
# GET /metrics with curl: the counter deltas must be exact, the gauges right,
# and `promtool check metrics` (Debian: prometheus) silent on the output.
# Both server modes: blocking, and --uring when built with liburing.
# Exit 77 (skip) without promtool, curl, openssl or the tools.
set -u
top_builddir=${top_builddir:-.}
ex=$top_builddir/examples
SRV=$ex/kitls-server
CLI=$ex/kitls-client
for tool in promtool curl openssl; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "SKIP: $tool not found (promtool: Debian package prometheus)"; exit 77; }
done
[ -x "$SRV" ] && [ -x "$CLI" ] || { echo "SKIP: kitls-server/kitls-client not built"; exit 77; }

tmp=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail=0
check() { # name, command...
    name=$1; shift
    if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fail=1; fi
}

# PKI: a CA and a P-256 leaf for localhost / 127.0.0.1; another CA nobody trusts.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=test-ca -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=other-ca -keyout "$tmp/other.key" -out "$tmp/other.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$tmp/key.pem" -out "$tmp/req.pem" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tmp/ext"
openssl x509 -req -in "$tmp/req.pem" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 2 -extfile "$tmp/ext" -out "$tmp/cert.pem" 2>/dev/null || { echo "SKIP: PKI"; exit 77; }
not_after=$(date -u -d "$(openssl x509 -in "$tmp/cert.pem" -noout -enddate | cut -d= -f2)" +%s)

wait_file() { # file (20 s at most: a loaded machine)
    i=0
    while [ ! -s "$1" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
    [ -s "$1" ]
}
# The value of one series (exact name and labels) in a scrape, 0 if absent.
val() { # file, series
    awk -v s="$2" '$1 == s { v = $2 } END { print v == "" ? 0 : v }' "$1"
}
scrape() { # file
    curl -sf --max-time 10 "http://127.0.0.1:$mport/metrics" >"$1"
}
# The change of a series between two scrapes is exactly the expected one.
delta_is() { # before, after, series, expected
    d=$(($(val "$2" "$3") - $(val "$1" "$3")))
    [ "$d" -eq "$4" ] || { echo "  $3: changed by $d, expected $4"; return 1; }
}
start_server() { # tag, extra options...
    tag=$1; shift
    rm -f "$tmp/$tag.port"
    timeout 120 "$SRV" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --host 127.0.0.1 --port 0 \
        --ready-file "$tmp/$tag.port" --metrics 127.0.0.1:0 --echo "$@" \
        >"$tmp/$tag.out" 2>"$tmp/$tag.log" &
    srv_pid=$!
    pids="$pids $srv_pid"
    wait_file "$tmp/$tag.port" || { echo "FAIL: $tag: server did not start"; cat "$tmp/$tag.log"; exit 1; }
    port=$(cat "$tmp/$tag.port")
    mport=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$tmp/$tag.log")
    [ -n "$mport" ] || { echo "FAIL: $tag: no metrics port in the log"; cat "$tmp/$tag.log"; exit 1; }
}
kcli() { # kitls-client options... (stdin: the data to echo)
    timeout 20 "$CLI" --port "$port" --host 127.0.0.1 --servername localhost --echo --quiet "$@"
}
# openssl s_client: the input, then a pause so that the ticket and the echo
# arrive before its EOF ends the connection.
ocli() { # options...
    (printf 'ping\n'; sleep 1) | timeout 20 openssl s_client -connect 127.0.0.1:"$port" \
        -servername localhost -CAfile "$tmp/ca.pem" -verify_return_error -no_ign_eof "$@" 2>&1
}

head -c 12345 /dev/urandom >"$tmp/data"

# ------------------------------------------------------------ blocking mode
start_server blk
scrape "$tmp/m0" || { echo "FAIL: GET /metrics"; exit 1; }
check "GET /metrics answers, promtool check metrics is silent" promtool check metrics <"$tmp/m0"
check "a Prometheus content type" sh -c \
    "curl -sfI --max-time 10 http://127.0.0.1:$mport/metrics | grep -qi '^content-type: text/plain; version=0.0.4'"
check "other paths are 404" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 http://127.0.0.1:$mport/)\" = 404 ]"

# Full handshakes: kitls-client (12345 bytes echoed, session saved) and
# openssl s_client (session saved).
check "kitls-client full handshake, 12345 bytes echoed (it compares them)" \
    kcli --cafile "$tmp/ca.pem" --sess-out "$tmp/k.sess" <"$tmp/data"
ocli -sess_out "$tmp/o.sess" >"$tmp/o1.txt"
check "openssl s_client full handshake" grep -q '^ping' "$tmp/o1.txt"
scrape "$tmp/m1"
srv='role="server"'
full_ok() {
    delta_is "$tmp/m0" "$tmp/m1" "kitls_handshakes_total{$srv,kind=\"full\"}" 2 &&
        delta_is "$tmp/m0" "$tmp/m1" "kitls_handshakes_total{$srv,kind=\"resumed\"}" 0 &&
        delta_is "$tmp/m0" "$tmp/m1" 'kitls_tickets_issued_total' 2
}
check "2 full handshakes, 2 tickets issued, no resumption" full_ok
bytes_ok() { # before, after
    delta_is "$1" "$2" 'kitls_bytes_total{direction="received"}' 12350 &&
        delta_is "$1" "$2" 'kitls_bytes_total{direction="sent"}' 12350
}
check "application bytes: 12345 + 5 each way" bytes_ok "$tmp/m0" "$tmp/m1"

# Resumed: both clients with their saved sessions.
printf 'again' | kcli --cafile "$tmp/ca.pem" --sess-in "$tmp/k.sess" --print >"$tmp/k2.txt"
ocli -sess_in "$tmp/o.sess" >"$tmp/o2.txt"
check "openssl s_client resumed" grep -q '^Reused, TLSv1.3' "$tmp/o2.txt"
scrape "$tmp/m2"
check "2 resumed handshakes, 2 tickets accepted, none refused" \
    delta_is "$tmp/m1" "$tmp/m2" "kitls_handshakes_total{$srv,kind=\"resumed\"}" 2
delta_is "$tmp/m1" "$tmp/m2" "kitls_handshakes_total{$srv,kind=\"full\"}" 0 || fail=1
delta_is "$tmp/m1" "$tmp/m2" 'kitls_tickets_accepted_total' 2 || fail=1
for r in expired unknown_key invalid replayed policy; do
    delta_is "$tmp/m1" "$tmp/m2" "kitls_tickets_refused_total{reason=\"$r\"}" 0 || fail=1
done

# HelloRetryRequest (s_client's first group is one the server lacks) and
# KeyUpdate (kitls-client asks for the server's too).
ocli -groups X448:X25519 >"$tmp/o3.txt"
printf 'ku' | kcli --cafile "$tmp/ca.pem" --key-update 1 --key-update-request >/dev/null
scrape "$tmp/m3"
check "1 HelloRetryRequest sent" \
    delta_is "$tmp/m2" "$tmp/m3" "kitls_hello_retry_requests_total{$srv}" 1
check "KeyUpdate: 1 received, 1 sent" \
    delta_is "$tmp/m2" "$tmp/m3" 'kitls_key_updates_total{direction="received"}' 1
delta_is "$tmp/m2" "$tmp/m3" 'kitls_key_updates_total{direction="sent"}' 1 || fail=1

# Failures: a client that does not trust the server's CA sends unknown_ca;
# a TLS 1.2-only client gets protocol_version from the server.
printf 'x' | kcli --cafile "$tmp/other.pem" >/dev/null 2>&1 && fail=1
ocli -tls1_2 >"$tmp/o4.txt" 2>&1
sleep 0.2
scrape "$tmp/m4"
check "failure with the alert received: unknown_ca" delta_is "$tmp/m3" "$tmp/m4" \
    "kitls_handshake_failures_total{$srv,side=\"received\",alert=\"unknown_ca\"}" 1
check "failure with the alert sent: protocol_version" delta_is "$tmp/m3" "$tmp/m4" \
    "kitls_handshake_failures_total{$srv,side=\"sent\",alert=\"protocol_version\"}" 1
delta_is "$tmp/m3" "$tmp/m4" "kitls_handshakes_total{$srv,kind=\"full\"}" 0 || fail=1
gauges_ok() { # scrape
    [ "$(val "$1" kitls_server_connections_active)" = 0 ] &&
        [ "$(val "$1" kitls_server_cert_not_after_seconds)" = "$not_after" ]
}
check "gauges: no connection open, the leaf's notAfter" gauges_ok "$tmp/m4"
check "promtool check metrics is silent after traffic" promtool check metrics <"$tmp/m4"
cp "$tmp/m4" "${METRICS_SAMPLE:-/dev/null}" 2>/dev/null
kill "$srv_pid" 2>/dev/null
wait "$srv_pid" 2>/dev/null

# ------------------------------------------------------------ --uring mode
if "$SRV" --help | grep -q 'not built: no liburing'; then
    echo "note: --uring not built (no liburing): blocking mode only"
else
    start_server urg --uring
    scrape "$tmp/u0"
    check "--uring: kitls-client full handshake, 12345 bytes echoed" \
        kcli --cafile "$tmp/ca.pem" --sess-out "$tmp/ku.sess" <"$tmp/data"
    printf 'again' | kcli --cafile "$tmp/ca.pem" --sess-in "$tmp/ku.sess" >/dev/null
    printf 'x' | kcli --cafile "$tmp/other.pem" >/dev/null 2>&1 && fail=1
    sleep 0.5 # the driver's loop updates the connections gauge every 200 ms
    scrape "$tmp/u1"
    check "--uring: full, resumed, unknown_ca counted" \
        delta_is "$tmp/u0" "$tmp/u1" "kitls_handshakes_total{$srv,kind=\"full\"}" 1
    delta_is "$tmp/u0" "$tmp/u1" "kitls_handshakes_total{$srv,kind=\"resumed\"}" 1 || fail=1
    delta_is "$tmp/u0" "$tmp/u1" \
        "kitls_handshake_failures_total{$srv,side=\"received\",alert=\"unknown_ca\"}" 1 || fail=1
    check "--uring: bytes counted" bytes_ok "$tmp/u0" "$tmp/u1"
    check "--uring: gauges" gauges_ok "$tmp/u1"
    check "--uring: promtool check metrics is silent" promtool check metrics <"$tmp/u1"
    kill "$srv_pid" 2>/dev/null
    wait "$srv_pid" 2>/dev/null
fi
[ $fail -eq 0 ] && echo "PASS: metrics" || echo "FAIL: metrics"
exit $fail
