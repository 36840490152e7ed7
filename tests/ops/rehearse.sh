#!/usr/bin/env bash
# tests/ops/rehearse.sh — play the runbook's scenarios (docs/runbook.md) on
# loopback against real processes and write the evidence.
#
#   top_builddir=build bash tests/ops/rehearse.sh [--out FILE]
#
# Each scenario starts real kitls-server processes (io_uring mode, so that
# held connections and load run at once), drives them with kitls-client and
# openssl s_client, reads the server's Prometheus endpoint before and after,
# and records the commands, the counter deltas and a verdict.  The evidence
# goes to docs/rehearsals/<UTC date>.md (or --out FILE); the release signoff
# (tests/ops/signoff.sh) reads it.  Ends with "N passed, N failed"; exit 1 if
# a scenario failed, 77 if a tool it needs is missing (it says which).
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
bld=${top_builddir:-build}
case $bld in /*) ;; *) bld=$top/$bld ;; esac
SERVER=$bld/examples/kitls-server
CLIENT=$bld/examples/kitls-client
out=$top/docs/rehearsals/$(date -u +%F).md
[ "${1:-}" = --out ] && out=$2

for t in openssl curl python3; do
    command -v $t >/dev/null 2>&1 || { echo "rehearse: $t missing, skipped" >&2; exit 77; }
done
[ -x "$SERVER" ] && [ -x "$CLIENT" ] || { echo "rehearse: build $SERVER first" >&2; exit 77; }
"$SERVER" --help 2>&1 | grep -q -- '--uring' || {
    echo "rehearse: kitls-server built without io_uring (liburing-dev), skipped" >&2
    exit 77
}

W=$(mktemp -d /tmp/kitls-rehearse.XXXXXX)
pids=()
cleanup() {
    touch "$W/stop" 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

# ---- material: one root, leaves A (ok), B (no EKU: also valid), expired ----
bash "$top/tests/trust/gen.sh" "$W/pki" >/dev/null 2>&1 || { echo "rehearse: PKI generation failed" >&2; exit 1; }
H=$(cat "$W/pki/ok/host")
CA=$W/pki/ok/ca.pem
hexkey() { openssl rand -hex 36; }
K1=$(hexkey) K2=$(hexkey) K3=$(hexkey)

pass=0 fail=0
log=$W/evidence.md
: >"$log"
note() { printf '%s\n' "$*" >>"$log"; }
cmd() { note "    \$ $*"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server NAME ARGS...: kitls-server --uring on a free port with a
# metrics endpoint; sets $PORT and $MPORT, log in $W/NAME.log.
start_server() {
    local name=$1
    shift
    MPORT=$(free_port)
    rm -f "$W/$name.port"
    cmd "kitls-server --uring --echo --port 0 --metrics 127.0.0.1:$MPORT $*"
    "$SERVER" --uring --echo --port 0 --ready-file "$W/$name.port" \
        --metrics "127.0.0.1:$MPORT" "$@" >"$W/$name.log" 2>&1 &
    SPID=$!
    pids+=("$SPID")
    for _ in $(seq 100); do
        [ -s "$W/$name.port" ] && curl -sf "http://127.0.0.1:$MPORT/metrics" >/dev/null && break
        sleep 0.05
    done
    PORT=$(cat "$W/$name.port" 2>/dev/null)
    [ -n "$PORT" ] || { echo "rehearse: $name did not start:" >&2; cat "$W/$name.log" >&2; return 1; }
}
stop_server() {
    kill "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
}

# metrics FILE: snapshot of the endpoint
metrics() { curl -sf "http://127.0.0.1:$MPORT/metrics" >"$1"; }
# val FILE REGEX: sum of the samples whose "name{labels}" matches REGEX
val() { awk -v re="$2" '!/^#/ && $1 ~ re { s += $2 } END { printf "%d\n", s + 0 }' "$1"; }
# delta BEFORE AFTER REGEX
delta() { echo $(($(val "$2" "$3") - $(val "$1" "$3"))); }
# show BEFORE AFTER REGEX...: the counters' before/after in the evidence
show() {
    local b=$1 a=$2
    shift 2
    for re in "$@"; do
        note "    $re: $(val "$b" "$re") -> $(val "$a" "$re")"
    done
}

client() { "$CLIENT" --port "$PORT" --servername "$H" --cafile "$CA" --message ping --echo --quiet "$@"; }
leaf_serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername "$H" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null
}

# load_start: full handshakes and resumptions in a loop until load_stop.
load_start() {
    rm -f "$W/stop" "$W/load."*
    client --sess-out "$W/load.sess" >/dev/null 2>&1
    (n=0 f=0
     while [ ! -e "$W/stop" ]; do
         if client >/dev/null 2>>"$W/load.err"; then n=$((n + 1)); else f=$((f + 1)); fi
     done
     echo "$n $f" >"$W/load.full") &
    pids+=($!)
    (n=0 f=0
     while [ ! -e "$W/stop" ]; do
         if client --sess-in "$W/load.sess" --sess-out "$W/load.sess2" >/dev/null 2>>"$W/load.err"; then
             n=$((n + 1)); mv -f "$W/load.sess2" "$W/load.sess"
         else f=$((f + 1)); fi
     done
     echo "$n $f" >"$W/load.res") &
    pids+=($!)
}
# load_stop: sets LOAD_OK / LOAD_FAIL
load_stop() {
    touch "$W/stop"
    for _ in $(seq 200); do [ -s "$W/load.full" ] && [ -s "$W/load.res" ] && break; sleep 0.05; done
    local a b c d
    read -r a b <"$W/load.full"
    read -r c d <"$W/load.res"
    LOAD_OK=$((a + c)) LOAD_FAIL=$((b + d))
    note "    load: $a full + $c resumption attempts succeeded, $LOAD_FAIL failed"
}

# hold_open: an established connection (openssl s_client through a FIFO)
# that is used again after the change; hold_check says if it still echoes.
hold_open() {
    mkfifo "$W/hold.in"
    exec 7<>"$W/hold.in"
    openssl s_client -quiet -connect "127.0.0.1:$PORT" -servername "$H" <"$W/hold.in" \
        >"$W/hold.out" 2>"$W/hold.err" &
    pids+=($!)
    echo before >&7
    sleep 0.5
}
hold_check() {
    echo after >&7
    sleep 0.5
    exec 7>&-
    grep -q after "$W/hold.out"
}

verdict() { # verdict NAME OK(0/1) WHY
    if [ "$2" = 0 ]; then
        pass=$((pass + 1)); note "  - **PASS**: $3"; echo "PASS: $1"
    else
        fail=$((fail + 1)); note "  - **FAIL**: $3"; echo "FAIL: $1 ($3)"
    fi
    note ""
}

# ---------------------------------------------------------------------------
note "## R1: certificate rotation (SIGHUP) under load"
cp "$W/pki/ok/chain.pem" "$W/chain.pem"
cp "$W/pki/ok/leaf.key" "$W/leaf.key"
printf '%s\n' "$K1" >"$W/tk"
start_server r1 --cert "$W/chain.pem" --key "$W/leaf.key" --ticket-key-file "$W/tk" || exit 1
old=$(leaf_serial)
hold_open
metrics "$W/r1.before"
load_start
sleep 2
cp "$W/pki/no_eku/chain.pem" "$W/chain.pem"
cp "$W/pki/no_eku/leaf.key" "$W/leaf.key"
cmd "cp new chain.pem leaf.key; kill -HUP <server>"
kill -HUP "$SPID"
sleep 2
load_stop
new=$(leaf_serial)
metrics "$W/r1.after"
held=1; hold_check && held=0
show "$W/r1.before" "$W/r1.after" 'kitls_server_reloads_total.*ok' 'kitls_handshakes_total.*server' \
    'kitls_handshake_failures_total.*server'
note "    leaf before: $old; after: $new; held connection echoes after reload: $([ $held = 0 ] && echo yes || echo no)"
r=1
[ "$LOAD_FAIL" = 0 ] && [ "$LOAD_OK" -gt 0 ] && [ "$old" != "$new" ] && [ -n "$new" ] && [ $held = 0 ] &&
    [ "$(delta "$W/r1.before" "$W/r1.after" 'kitls_server_reloads_total.*ok')" = 1 ] &&
    [ "$(delta "$W/r1.before" "$W/r1.after" 'kitls_handshake_failures_total.*server')" = 0 ] && r=0
verdict R1 $r "zero failed handshakes under load, new connections get the new leaf, the held one continues"

# ---------------------------------------------------------------------------
note "## R2: broken certificate file refused, old material kept"
metrics "$W/r2.before"
echo "not a key" >"$W/leaf.key"
cmd "echo 'not a key' > leaf.key; kill -HUP <server>"
kill -HUP "$SPID"
sleep 1
metrics "$W/r2.after"
line=$(grep -i 'reload' "$W/r1.log" | tail -1)
note "    log: $line"
show "$W/r2.before" "$W/r2.after" 'kitls_server_reloads_total.*failed'
after=$(leaf_serial)
r=1
client >/dev/null 2>&1 && [ "$after" = "$new" ] && grep -q 'leaf.key' <<<"$line" &&
    [ "$(delta "$W/r2.before" "$W/r2.after" 'kitls_server_reloads_total.*failed')" = 1 ] && r=0
verdict R2 $r "the log names the file, the failure is counted, new handshakes still use the last good leaf"
cp "$W/pki/no_eku/leaf.key" "$W/leaf.key"

# ---------------------------------------------------------------------------
note "## R3: ticket-key rotation under load (routine and after a compromise)"
client --sess-out "$W/s.k1" >/dev/null 2>&1
metrics "$W/r3.before"
load_start
sleep 1
printf '%s\n%s\n' "$K2" "$K1" >"$W/tk"
cmd "ticket-key file: new key first, previous second; kill -HUP <server>"
kill -HUP "$SPID"
sleep 2
load_stop
metrics "$W/r3.mid"
res1=$(client --sess-in "$W/s.k1" --print 2>/dev/null | sed -n 's/^resumed: //p')
note "    ticket sealed under the previous key resumes after the routine rotation: $res1"
printf '%s\n' "$K3" >"$W/tk"
cmd "compromise: ticket-key file with only a fresh key; kill -HUP <server>"
kill -HUP "$SPID"
sleep 1
res2=$(client --sess-in "$W/s.k1" --print 2>/dev/null | sed -n 's/^resumed: //p')
metrics "$W/r3.after"
note "    the same ticket after the compromise rotation: resumed: $res2 (a full handshake instead)"
show "$W/r3.before" "$W/r3.after" 'kitls_tickets_accepted_total' 'kitls_tickets_refused_total' \
    'kitls_handshake_failures_total.*server'
r=1
[ "$LOAD_FAIL" = 0 ] && [ "$res1" = yes ] && [ "$res2" = no ] &&
    [ "$(delta "$W/r3.mid" "$W/r3.after" 'kitls_tickets_refused_total')" -ge 1 ] &&
    [ "$(delta "$W/r3.before" "$W/r3.after" 'kitls_handshake_failures_total.*server')" = 0 ] && r=0
verdict R3 $r "zero failed handshakes; old tickets resume after a routine rotation and are refused (full handshake) after a compromise rotation"

# ---------------------------------------------------------------------------
note "## R4: kTLS kill switch at run time"
printf 'on\n' >"$W/ktls.switch"
stop_server
start_server r4 --cert "$W/chain.pem" --key "$W/leaf.key" --ktls both --ktls-switch "$W/ktls.switch" || exit 1
metrics "$W/r4.before"
client >/dev/null 2>&1
metrics "$W/r4.on"
printf 'off\n' >"$W/ktls.switch"
cmd "echo off > ktls.switch; kill -HUP <server>"
kill -HUP "$SPID"
sleep 1
ok4=1; client >/dev/null 2>&1 && ok4=0
metrics "$W/r4.after"
show "$W/r4.before" "$W/r4.on" 'kitls_ktls_offloads_total' 'kitls_ktls_fallbacks_total'
note "    (switch on: offloaded where the kernel has kTLS, else a fallback with its reason; off:)"
show "$W/r4.on" "$W/r4.after" 'kitls_ktls_offloads_total' 'kitls_ktls_fallbacks_total.*disabled'
note "    log: $(grep -i 'ktls' "$W/r4.log" | tail -1)"
r=1
[ $ok4 = 0 ] && [ "$(delta "$W/r4.on" "$W/r4.after" 'kitls_ktls_fallbacks_total.*disabled')" -ge 1 ] &&
    [ "$(delta "$W/r4.on" "$W/r4.after" 'kitls_ktls_offloads_total')" = 0 ] && r=0
verdict R4 $r "with the switch off the next connection stays in userspace (counted as disabled) and still works"
stop_server

# ---------------------------------------------------------------------------
note "## R5: expired certificate: refused at reload, and a server still serving one is detected"
cp "$W/pki/ok/chain.pem" "$W/chain.pem"
cp "$W/pki/ok/leaf.key" "$W/leaf.key"
start_server r5 --cert "$W/chain.pem" --key "$W/leaf.key" || exit 1
metrics "$W/r5.a"
cp "$W/pki/expired/chain.pem" "$W/chain.pem"
cp "$W/pki/expired/leaf.key" "$W/leaf.key"
cmd "cp expired chain.pem leaf.key; kill -HUP <server>"
kill -HUP "$SPID"
sleep 1
metrics "$W/r5.b"
note "    log: $(grep -i 'reload' "$W/r5.log" | tail -1)"
show "$W/r5.a" "$W/r5.b" 'kitls_server_reloads_total.*failed'
refused=1
client >/dev/null 2>&1 && grep -qi 'expired\|notAfter\|not valid' <<<"$(grep -i reload "$W/r5.log" | tail -1)" &&
    [ "$(delta "$W/r5.a" "$W/r5.b" 'kitls_server_reloads_total.*failed')" = 1 ] && refused=0
note "    the expired certificate was refused and the valid one still serves: $([ $refused = 0 ] && echo yes || echo no)"
stop_server
cmd "a server started with the expired certificate (start-up does not check dates):"
start_server r5b --cert "$W/pki/expired/chain.pem" --key "$W/pki/expired/leaf.key" || exit 1
metrics "$W/r5.before"
exp=$(val "$W/r5.before" '^kitls_server_cert_not_after_seconds')
note "    kitls_server_cert_not_after_seconds = $exp (now $(date +%s)): the expiry alert of docs/metrics.md fires"
bad=0; client >/dev/null 2>"$W/r5.client" || bad=1
note "    client: $(tail -1 "$W/r5.client")"
metrics "$W/r5.after"
show "$W/r5.before" "$W/r5.after" 'kitls_handshake_failures_total.*server.*received.*certificate_expired'
r=1
[ $refused = 0 ] && [ $bad = 1 ] && [ "$exp" -gt 0 ] && [ "$exp" -lt "$(date +%s)" ] &&
    [ "$(delta "$W/r5.before" "$W/r5.after" 'kitls_handshake_failures_total.*received.*certificate_expired')" = 1 ] &&
    r=0
verdict R5 $r "an expired certificate is refused at reload; one served anyway shows in the expiry gauge, clients refuse it with certificate_expired and the server counts it"
stop_server

# ---------------------------------------------------------------------------
note "## R6: OCSP responder down: a failed fetch never replaces the good staple"
# A CA with an openssl ca database, so that openssl ocsp can answer for
# the leaf (the staple's issuer is the certificate after the leaf).
O=$W/ocsp
mkdir -p "$O/db"
: >"$O/db/index.txt"
echo 1000 >"$O/db/serial"
printf '%s\n' '[ca]' 'default_ca = CA_default' '[CA_default]' "dir = $O/db" \
    'database = $dir/index.txt' 'new_certs_dir = $dir' 'serial = $dir/serial' \
    'default_md = sha256' 'default_days = 30' 'policy = pol' 'unique_subject = no' \
    '[pol]' 'commonName = supplied' '[req]' 'distinguished_name = dn' '[dn]' \
    '[root]' 'basicConstraints = critical,CA:TRUE' 'keyUsage = critical,keyCertSign,cRLSign' \
    '[leaf]' 'basicConstraints = critical,CA:FALSE' 'keyUsage = critical,digitalSignature' \
    'extendedKeyUsage = serverAuth' "subjectAltName = DNS:$H" >"$O/ca.cnf"
{
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$O/ca.key" &&
        openssl req -new -x509 -config "$O/ca.cnf" -extensions root -key "$O/ca.key" \
            -subj "/CN=kitls rehearsal OCSP CA" -days 30 -out "$O/ca.pem" &&
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$O/leaf.key" &&
        openssl req -new -config "$O/ca.cnf" -key "$O/leaf.key" -subj "/CN=$H" -out "$O/leaf.csr" &&
        openssl ca -batch -config "$O/ca.cnf" -cert "$O/ca.pem" -keyfile "$O/ca.key" \
            -extensions leaf -in "$O/leaf.csr" -out "$O/leaf.pem" -notext &&
        cat "$O/leaf.pem" "$O/ca.pem" >"$O/chain.pem" &&
        openssl ocsp -issuer "$O/ca.pem" -cert "$O/leaf.pem" -reqout "$O/req.der" &&
        openssl ocsp -index "$O/db/index.txt" -CA "$O/ca.pem" -rsigner "$O/ca.pem" \
            -rkey "$O/ca.key" -reqin "$O/req.der" -respout "$O/staple.der" -ndays 1
} >"$O/setup.log" 2>&1 || { echo "rehearse: OCSP set-up failed" >&2; cat "$O/setup.log" >&2; exit 1; }
staple_status() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername "$H" -status </dev/null 2>/dev/null |
        sed -n 's/^ *Cert Status: //p' | head -1
}
start_server r6 --cert "$O/chain.pem" --key "$O/leaf.key" --ocsp-staple "$O/staple.der" || exit 1
st1=$(staple_status)
metrics "$W/r6.before"
cmd "the fetch job fails and writes the responder's error page as the staple; kill -HUP <server>"
echo '<html>503 Service Unavailable</html>' >"$O/staple.der"
kill -HUP "$SPID"
sleep 1
metrics "$W/r6.after"
st2=$(staple_status)
note "    log: $(grep -i 'reload' "$W/r6.log" | tail -1)"
note "    staple before: ${st1:-none}; after the failed fetch: ${st2:-none}"
show "$W/r6.before" "$W/r6.after" 'kitls_server_reloads_total.*failed'
r=1
[ "$st1" = good ] && [ "$st2" = good ] && grep -q 'staple.der' <<<"$(grep -i reload "$W/r6.log" | tail -1)" &&
    [ "$(delta "$W/r6.before" "$W/r6.after" 'kitls_server_reloads_total.*failed')" = 1 ] && r=0
verdict R6 $r "a broken staple is refused with a log line naming it and counted; clients keep getting the last good staple"
stop_server

# ---------------------------------------------------------------------------
note "## R7: handshake flood (garbage and silent connections) with a handshake timeout"
cp "$W/pki/ok/chain.pem" "$W/chain.pem"
cp "$W/pki/ok/leaf.key" "$W/leaf.key"
start_server r7 --cert "$W/chain.pem" --key "$W/leaf.key" --timeout 1 || exit 1
metrics "$W/r7.before"
cmd "kitls-server --timeout 1 (runbook mitigation 2); 200 connections send garbage, 100 stay silent"
cat >"$W/flood.py" <<'PY'
import os, socket, sys, time
port = int(sys.argv[1])
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
for _ in range(200):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x16\x03\x01\x00\x30" + os.urandom(48))
    s.close()
time.sleep(2.5)
closed = 0
for s in idle:
    s.settimeout(0.5)
    try:
        closed += s.recv(1) == b""
    except OSError:
        closed += 1
print("idle connections closed by the server:", closed)
PY
python3 "$W/flood.py" "$PORT" >"$W/r7.flood" 2>&1 &
fpid=$!
pids+=("$fpid")
good=0 badc=0
for _ in $(seq 20); do if client >/dev/null 2>&1; then good=$((good + 1)); else badc=$((badc + 1)); fi; done
wait "$fpid"
metrics "$W/r7.after"
closed=$(sed -n 's/^idle connections closed by the server: //p' "$W/r7.flood")
note "    legitimate clients during the flood: $good succeeded, $badc failed"
note "    silent connections closed by the handshake timeout: ${closed:-?} of 100"
show "$W/r7.before" "$W/r7.after" 'kitls_handshake_failures_total.*server.*sent' \
    'kitls_handshakes_total.*server' 'kitls_server_connections_active'
r=1
[ "$badc" = 0 ] && [ "${closed:-0}" = 100 ] &&
    [ "$(delta "$W/r7.before" "$W/r7.after" 'kitls_handshake_failures_total.*server.*sent')" -ge 200 ] &&
    [ "$(val "$W/r7.after" '^kitls_server_connections_active')" = 0 ] && r=0
verdict R7 $r "legitimate handshakes keep succeeding, garbage is refused with an alert and counted, silent connections are closed by the timeout"
stop_server

# ---------------------------------------------------------------------------
note "## R8: replay-store outage (the shared Redis store of a fleet)"
if ! command -v redis-server >/dev/null 2>&1 || ! "$SERVER" --help 2>&1 | grep -q -- '--replay-store'; then
    note "  - not rehearsed: redis-server or a kitls-server built with hiredis is missing"
    echo "R8: skipped (redis-server or hiredis build missing)"
else
    tmp=$W
    . "$top/tests/fleet/fleet-lib.sh"
    start_redis || exit 1
    R8URL=redis://127.0.0.1:$redis_port
    head -c 120 /dev/urandom | base64 -w 0 >"$W/early.txt"
    # A 1 s freshness window: a Redis younger than ~2 windows vouches for
    # no 0-RTT (RFC 8446 §8.2, docs/fleet.md), so the waits stay short.
    start_server r8 --cert "$W/pki/ok/chain.pem" --key "$W/pki/ok/leaf.key" --early-data 16384 \
        --early-data-window 1000 --redis "$R8URL" --replay-store redis --redis-timeout 200 || exit 1
    zclient() { # zclient OUT [options]: kitls-client printing its outcome
        timeout 10 "$CLIENT" --port "$PORT" --servername "$H" --cafile "$CA" --print --timeout 5 \
            "${@:2}" >"$W/$1" 2>&1 </dev/null
    }
    # zrtt OUT: a fresh ticket, then a 0-RTT resumption with it
    zrtt() { zclient "$1.t" --sess-out "$W/$1.sess" && zclient "$1" --sess-in "$W/$1.sess" --early-data "$W/early.txt"; }
    # until_accepted OUT SECONDS: retry until 0-RTT is accepted
    until_accepted() {
        local t0=$SECONDS
        while [ $((SECONDS - t0)) -lt "$2" ]; do
            zrtt "$1" && grep -q '^early-data: accepted' "$W/$1" && return 0
            sleep 0.3
        done
        return 1
    }
    ok_before=1
    until_accepted r8.pre 15 && ok_before=0
    metrics "$W/r8.before"
    note "    before the outage: 0-RTT $(sed -n 's/^early-data: //p' "$W/r8.pre")"
    cmd "kill redis-server (pid $redis_pid)"
    stop_redis
    t0=$(date +%s%N)
    zrtt r8.down
    down_ms=$((($(date +%s%N) - t0) / 1000000))
    zrtt r8.down2
    zclient r8.full
    metrics "$W/r8.during"
    note "    Redis down: 0-RTT $(sed -n 's/^early-data: //p' "$W/r8.down"), resumed $(sed -n 's/^resumed: //p' "$W/r8.down") (ticket + attempt in $down_ms ms); a full handshake: resumed $(sed -n 's/^resumed: //p' "$W/r8.full")"
    logged=$(grep -c 'until it answers again' "$W/r8.log")
    note "    log lines for the episode (2 refused attempts): $logged"
    show "$W/r8.before" "$W/r8.during" '^kitls_redis_up' '^kitls_redis_outages_total' \
        'kitls_early_data_total.*store_error'
    cmd "redis-server --port $redis_port (restarted, empty)"
    start_redis || exit 1
    back=1
    t0=$SECONDS
    until_accepted r8.back 20 && back=0
    note "    Redis back: 0-RTT accepted again after $((SECONDS - t0)) s without a restart of the server"
    metrics "$W/r8.after"
    show "$W/r8.during" "$W/r8.after" '^kitls_redis_up' 'kitls_early_data_total.*accepted'
    stop_redis
    r=1
    [ "$ok_before" = 0 ] && grep -q '^early-data: rejected' "$W/r8.down" && grep -q '^resumed: yes' "$W/r8.down" &&
        grep -q '^early-data: rejected' "$W/r8.down2" && grep -q '^resumed: no' "$W/r8.full" &&
        [ "$logged" = 1 ] && [ "$(val "$W/r8.during" '^kitls_redis_up')" = 0 ] &&
        [ "$(delta "$W/r8.before" "$W/r8.during" '^kitls_redis_outages_total')" = 1 ] &&
        [ "$(delta "$W/r8.before" "$W/r8.during" 'kitls_early_data_total.*store_error')" -ge 2 ] &&
        [ "$back" = 0 ] && [ "$(val "$W/r8.after" '^kitls_redis_up')" = 1 ] && r=0
    verdict R8 $r "Redis down: 0-RTT refused and resumed as 1-RTT, full handshakes go on, one log line and kitls_redis_up 0; Redis back: 0-RTT accepted again without a restart"
    stop_server
fi

# ---------------------------------------------------------------------------
note "## Not rehearsed here"
note "  - a bad library upgrade (deploy the previous release, restart): procedure in docs/runbook.md only."
note "  - CPU exhaustion by valid ClientHellos: R7 rehearses the timeout and the counters; admission control belongs in front of kitls (RA-010)."
note ""

mkdir -p "$(dirname "$out")"
{
    echo "# Runbook rehearsals, $(date -u '+%F %T') UTC"
    echo
    echo "commit: $(git -C "$top" rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "host: $(uname -sr); kitls-server: $SERVER"
    echo "result: $pass passed, $fail failed"
    echo
    cat "$log"
} >"$out"
echo "evidence: $out"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
