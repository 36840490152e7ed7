#!/bin/bash
# A server fleet on Redis (issue 19, docs/fleet.md): one redis-server of
# our own on a free loopback port and three kitls-server processes (A and
# B userspace, C on the io_uring driver when built with liburing) sharing
# the ticket-key ring and the 0-RTT anti-replay store, driven by real
# clients (kitls-client, openssl s_client):
#   1. a ticket from A resumes on B and on C;
#   2. 0-RTT to B is accepted once; the recorded ClientHello (with its
#      early data) replayed to C and to B is refused as early data and never
#      reaches the application; a real client offering the same ticket's
#      0-RTT again is refused as early data and completes as 1-RTT;
#   3. a rotation makes all three issue tickets under the new key within
#      2 s, and tickets under the previous key still resume;
#   4. Redis stopped: 0-RTT refused, 1-RTT and resumption go on, nothing
#      hangs, one log line per outage; Redis restarted: 0-RTT accepted again;
#   3b. a SIGHUP reload keeps the ring's keys and the Redis store;
#   5. a broken ring in Redis: refused with one clear log line, the old
#      keys stay;
#   6. a "Redis" answering garbage: a clear error, 0-RTT refused, 1-RTT on;
#   7. a Redis that never answers, on the io_uring server: the 0-RTT check
#      waits for its timeout while other connections on the same ring go on
#      (the ring is not blocked), then the handshake completes as 1-RTT.
# 77 (and why) without hiredis in the build, redis-server, python3 or openssl.
set -u
src=$(cd "${top_srcdir:-.}" && pwd)
bld=$(cd "${top_builddir:-.}" && pwd)
SERVER=$bld/examples/kitls-server
CLIENT=$bld/examples/kitls-client

skip() {
    echo "SKIP: $*"
    exit 77
}
[ -x "$SERVER" ] && [ -x "$CLIENT" ] || skip "kitls-server/kitls-client not built"
"$SERVER" --help | grep -q -- '--redis URL.*' && ! "$SERVER" --help | grep -q 'no hiredis' ||
    skip "kitls-server built without hiredis (configure --with-hiredis; Debian libhiredis-dev)"
for t in redis-server redis-cli python3 openssl curl; do
    command -v $t >/dev/null 2>&1 ||
        skip "$t is not installed (Debian: apt-get install redis-server python3 openssl curl)"
done
uring=--uring
"$SERVER" --help | grep -q 'not built: no liburing' && uring=

tmp=$(mktemp -d)
. "$src/tests/fleet/fleet-lib.sh"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    stop_redis
    if [ "$fail" != 0 ]; then
        for f in "$tmp"/*.err "$tmp"/*.out; do
            echo "---- $f"
            tail -n 30 "$f"
        done
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
fail=0
trap cleanup EXIT
ok() { echo "ok: $*"; }
bad() {
    echo "FAIL: $*"
    fail=1
}

cd "$tmp" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    2>/dev/null || bad "openssl req"
head -c 300 /dev/urandom | base64 -w 0 | head -c 200 >early.txt
printf '\nEARLY-MARKER\n' >>early.txt

# Persistence on (append-only file in $tmp): a restarted Redis keeps the ring.
start_redis_persistent() {
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly yes \
        --dir "$tmp" --logfile "$tmp/redis.log" &
    redis_pid=$!
    for _ in $(seq 100); do
        redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    bad "redis-server did not start"
    exit 1
}
redis_port=$(free_port)
start_redis_persistent
URL=redis://127.0.0.1:$redis_port
rcli() { redis-cli -p "$redis_port" "$@"; }

"$SERVER" --rotate-ticket-keys --redis "$URL" --rotate-period 3600 >rotate1.out 2>rotate1.err ||
    bad "first rotation: $(cat rotate1.err)"
gen1_current=$(awk '$1 == "current" {print $2}' rotate1.out)

# A 2 s freshness window: ids kept 4 s (step 2 replays within that), and a
# Redis younger than 4 s (just started or restarted) vouches for no 0-RTT
# (RFC 8446 §8.2) only briefly.  After the window a ticket may carry 0-RTT
# again in a new ClientHello (not a replay: its age is fresh; docs/fleet.md).
WINDOW=2000
declare -A port mport spid
# start_server NAME [extra options]
# --redis-timeout 300: the machine running the tests may be busy; the 5 ms
# default and timeouts are covered by tests/redis and step 7 below.
start_server() {
    local name=$1
    shift
    mport[$name]=$(free_port)
    "$SERVER" --host 127.0.0.1 --port 0 --ready-file "$name.port" --cert cert.pem --key key.pem \
        --print --early-data 16384 --early-data-window $WINDOW --timeout 10 --redis "$URL" --replay-store redis \
        --ticket-keys redis --metrics "127.0.0.1:${mport[$name]}" --quiet \
        --redis-timeout 300 "$@" \
        >"$name.out" 2>"$name.err" </dev/null &
    pids+=($!)
    spid[$name]=$!
    for _ in $(seq 100); do
        [ -s "$name.port" ] && break
        sleep 0.05
    done
    port[$name]=$(cat "$name.port" 2>/dev/null)
    [ -n "${port[$name]}" ] || { bad "server $name did not start: $(cat "$name.err")"; exit 1; }
}
start_server A
start_server B
start_server C $uring
echo "redis on $redis_port; A=${port[A]} B=${port[B]} C=${port[C]}${uring:+ (C: --uring)}"

# client NAME OUT [options]: kitls-client to server NAME (stdin empty:
# send what the options say, close_notify, wait for the server's).
client() {
    local name=$1 out=$2
    shift 2
    timeout 10 "$CLIENT" --port "${port[$name]}" --cafile cert.pem --servername localhost \
        --print --timeout 5 "$@" >"$out" 2>"$out.err" </dev/null
}
metric() { # metric NAME PATTERN: the value of the first matching sample
    curl -s "http://127.0.0.1:${mport[$1]}/metrics" | grep -v "^#" | grep -F "$2" | head -n 1 |
        awk '{print $NF}'
}
# The key id (first 4 bytes of the ticket, in clear) of an s_client session.
ticket_id() {
    openssl sess_id -in "$1" -noout -text 2>/dev/null |
        awk '/TLS session ticket:/ {getline; print $3 $4 $5 $6; exit}' | tr -d '-'
}
ossl_sess() { # ossl_sess NAME SESS_OUT: a full handshake, save the session
    (sleep 0.3) | timeout 10 openssl s_client -connect "127.0.0.1:${port[$1]}" -tls1_3 \
        -CAfile cert.pem -servername localhost -sess_out "$2" >"$2.log" 2>&1
}

# ---- 1. resumption across the fleet
client A full.out --sess-out sessA || bad "full handshake on A"
for s in B C; do
    client $s res$s.out --sess-in sessA
    grep -q '^resumed: yes' res$s.out && ok "ticket from A resumes on $s" ||
        bad "ticket from A did not resume on $s: $(cat res$s.out res$s.out.err)"
done

# ---- 2. 0-RTT once, replays refused
# Redis is younger than the 3 s the ids are kept: the store may have lost
# ids (RFC 8446 §8.2), 0-RTT is refused until then.
client A young0.out --sess-out sessY || bad "full handshake on A (young Redis)"
client B young.out --sess-in sessY --early-data early.txt
if grep -q 'started 0 s ago\|started 1 s ago\|started 2 s ago' B.err; then
    grep -q '^early-data: rejected' young.out && grep -q '^resumed: yes' young.out &&
        ok "Redis younger than the window: 0-RTT refused, 1-RTT ($(grep -o 'started.*ms' B.err))" ||
        bad "0-RTT with a young Redis: $(cat young.out young.out.err)"
fi
sleep 4
client A full2.out --sess-out sess0 || bad "full handshake on A (for 0-RTT)"
python3 "$src/tests/fleet/relay.py" record relay.port "${port[B]}" recorded.bin &
relay_pid=$!
for _ in $(seq 100); do [ -s relay.port ] && break; sleep 0.05; done
timeout 10 "$CLIENT" --port "$(cat relay.port)" --cafile cert.pem --servername localhost --print \
    --timeout 5 --sess-in sess0 --early-data early.txt >zB.out 2>zB.out.err </dev/null
wait $relay_pid
grep -q '^early-data: accepted' zB.out && ok "0-RTT to B accepted" ||
    bad "0-RTT to B not accepted: $(cat zB.out zB.out.err)"
nB=$(grep -c EARLY-MARKER B.out)
nC=$(grep -c EARLY-MARKER C.out)
eB=$(grep -c '^early-data-bytes: [1-9]' B.out)
for s in C B; do
    python3 "$src/tests/fleet/relay.py" replay "${port[$s]}" recorded.bin >replay$s.out
    echo "replay of the recorded ClientHello to $s: $(cat replay$s.out)"
done
sleep 0.3
[ "$(grep -c EARLY-MARKER B.out)" = "$nB" ] && [ "$(grep -c EARLY-MARKER C.out)" = "$nC" ] &&
    [ "$(grep -c '^early-data-bytes: [1-9]' B.out)" = "$eB" ] &&
    ok "replayed early data never reached the application on B or C" ||
    bad "replayed early data was delivered"
for s in B C; do
    r=$(metric $s 'kitls_redis_antireplay_total{result="replay"}')
    [ "${r:-0}" -ge 1 ] && ok "$s: the store answered 'replay' ($r)" ||
        bad "$s: no replay counted (${r:-none})"
done
# A real client offering the same ticket's 0-RTT again within the window:
# refused as early data, completes as 1-RTT (the data is then sent after
# the handshake).
for s in C B; do
    client $s again$s.out --sess-in sess0 --early-data early.txt
    grep -q '^early-data: rejected' again$s.out && grep -q '^resumed: yes' again$s.out &&
        ok "same ticket's 0-RTT again on $s: rejected, 1-RTT completes" ||
        bad "0-RTT again on $s: $(cat again$s.out again$s.out.err)"
done

# 0-RTT on the io_uring server (the asynchronous check) with a new ticket.
client A full3.out --sess-out sessC || bad "full handshake on A (for C)"
client C zC.out --sess-in sessC --early-data early.txt
grep -q '^early-data: accepted' zC.out && ok "0-RTT to C${uring:+ (--uring, asynchronous check)} accepted" ||
    bad "0-RTT to C not accepted: $(cat zC.out zC.out.err)"

# ---- 3. rotation: new key everywhere within 2 s, previous key resumes
ossl_sess A old.sess
old_id=$(ticket_id old.sess)
[ "$old_id" = "$gen1_current" ] && ok "A issues tickets under the ring's key $old_id" ||
    bad "ticket id $old_id, ring current $gen1_current"
"$SERVER" --rotate-ticket-keys --redis "$URL" --rotate-period 3600 >rotate2.out 2>&1 ||
    bad "rotation: $(cat rotate2.out)"
new_id=$(awk '$1 == "current" {print $2}' rotate2.out)
t0=$(date +%s%N)
declare -A seen=()
# Sample the three servers at once (a session each) until each issues
# tickets under the new key; the rotation's pub/sub message reaches them
# in milliseconds, the handshakes take most of the time measured.
while [ "$(echo "${!seen[@]}" | wc -w)" -lt 3 ] && [ $(($(date +%s%N) - t0)) -lt 2000000000 ]; do
    spids=()
    for s in A B C; do
        [ -n "${seen[$s]:-}" ] && continue
        ossl_sess $s new$s.sess &
        spids+=($!)
    done
    wait "${spids[@]}"
    for s in A B C; do
        [ -z "${seen[$s]:-}" ] && [ "$(ticket_id new$s.sess)" = "$new_id" ] &&
            seen[$s]=$((($(date +%s%N) - t0) / 1000000))
    done
done
for s in A B C; do
    [ -n "${seen[$s]:-}" ] && ok "$s issues tickets under the new key $new_id (seen ${seen[$s]} ms after rotation)" ||
        bad "$s still issues $(ticket_id new$s.sess) 2 s after the rotation (new key $new_id)"
done
for s in A B C; do
    echo | timeout 10 openssl s_client -connect "127.0.0.1:${port[$s]}" -tls1_3 -CAfile cert.pem \
        -servername localhost -sess_in old.sess >oldres$s.log 2>&1
    grep -q '^Reused, TLSv1.3' oldres$s.log && ok "previous-key ticket resumes on $s" ||
        bad "previous-key ticket did not resume on $s"
done

# ---- 3b. SIGHUP: the new config gets the ring's keys and the store
kill -HUP "${spid[A]}"
for _ in $(seq 50); do grep -q 'reload ok' A.err && break; sleep 0.1; done
grep -q 'reload ok' A.err && ok "A reloaded on SIGHUP" || bad "A did not reload: $(tail -n 3 A.err)"
ossl_sess A hup.sess
[ "$(ticket_id hup.sess)" = "$new_id" ] && ok "after SIGHUP A seals with the ring's key $new_id" ||
    bad "after SIGHUP A seals with $(ticket_id hup.sess)"
client A hup0.out --sess-out sessH || bad "full handshake on A after SIGHUP"
client B hup1.out --sess-in sessH --early-data early.txt
client A hup2.out --sess-in sessH --early-data early.txt
grep -q '^early-data: accepted' hup1.out && grep -q '^early-data: rejected' hup2.out &&
    grep -q '^resumed: yes' hup2.out &&
    ok "after SIGHUP: A's ticket 0-RTT on B once, refused again on A (store kept)" ||
    bad "after SIGHUP: $(cat hup1.out hup2.out)"

# ---- 4. Redis stopped, then restarted
client A pre.out --sess-out sessDown || bad "full handshake before the outage"
client A pre2.out --sess-out sessUp || bad "full handshake before the outage (2)"
stop_redis
t0=$(date +%s%N)
client B down.out --sess-in sessDown --early-data early.txt
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q '^early-data: rejected' down.out && grep -q '^resumed: yes' down.out &&
    ok "Redis down: 0-RTT on B rejected, resumed as 1-RTT ($ms ms)" ||
    bad "Redis down: $(cat down.out down.out.err)"
[ "$ms" -lt 3000 ] || bad "the connection took $ms ms with Redis down"
for i in 1 2 3; do
    client C downC$i.out --sess-in sessDown --early-data early.txt ||
        bad "Redis down: connection $i to C failed"
done
client A downfull.out && grep -q '^resumed: no' downfull.out &&
    ok "Redis down: full handshake on A" || bad "Redis down: full handshake failed"
n=$(grep -c 'until it answers again' C.err)
[ "$n" = 1 ] && ok "Redis down: C logged the outage once for 3 connections" ||
    bad "C logged the outage $n times"
if command -v promtool >/dev/null 2>&1; then
    curl -s "http://127.0.0.1:${mport[C]}/metrics" >metricsC.txt
    promtool check metrics <metricsC.txt >promtool.out 2>&1 &&
        ok "C's /metrics with the Redis counters passes promtool check metrics" ||
        bad "promtool: $(cat promtool.out)"
fi
up=$(metric C 'kitls_redis_up ')
[ "$up" = 0 ] && ok "C: kitls_redis_up 0" || bad "C: kitls_redis_up ${up:-?}"
start_redis_persistent
accepted=
t0=$(date +%s)
client A again.out --sess-out sessBack
client B back.out --sess-in sessBack --early-data early.txt
grep -q '^early-data: rejected' back.out &&
    ok "Redis back, a new instance: 0-RTT still refused for the window" ||
    bad "Redis back: 0-RTT accepted from a store that may have lost ids"
while [ $(($(date +%s) - t0)) -lt 10 ]; do
    client A again.out --sess-out sessBack
    client B back.out --sess-in sessBack --early-data early.txt
    grep -q '^early-data: accepted' back.out && { accepted=1; break; }
    sleep 0.3
done
[ -n "$accepted" ] && ok "Redis back: 0-RTT accepted again without restart ($(($(date +%s) - t0)) s)" ||
    bad "Redis back: 0-RTT still refused: $(cat back.out back.out.err)"
grep -q 'answering again' B.err && ok "B logged the recovery" || bad "B did not log the recovery"

# ---- 5. a broken ring: refused, the old keys stay
rcli set kitls:ticket-ring "kitls-ticket-ring 1 99
current zz
" >/dev/null
rcli publish kitls:ticket-ring 99 >/dev/null
sleep 1
for s in A B C; do
    grep -q 'malformed.*refused, keeping generation 2' $s.err && ok "$s refused the broken ring" ||
        bad "$s did not log the broken ring"
    ossl_sess $s broken$s.sess
    [ "$(ticket_id broken$s.sess)" = "$new_id" ] && ok "$s keeps sealing with $new_id" ||
        bad "$s seals with $(ticket_id broken$s.sess) after a broken ring"
done
"$SERVER" --rotate-ticket-keys --redis "$URL" >rotate3.out 2>&1 &&
    bad "rotation of a broken ring succeeded" ||
    ok "rotation refuses a broken ring: $(tail -n 1 rotate3.out)"

# ---- 6. garbage instead of Redis
python3 "$src/tests/fleet/fake-redis.py" fake.port &
pids+=($!)
for _ in $(seq 100); do [ -s fake.port ] && break; sleep 0.05; done
URL=redis://127.0.0.1:$(cat fake.port)
start_server D --ticket-keys file
client D d1.out --sess-out sessD || bad "full handshake on D"
client D d2.out --sess-in sessD --early-data early.txt
grep -q '^early-data: rejected' d2.out && grep -q '^resumed: yes' d2.out &&
    ok "garbage from Redis: 0-RTT rejected, 1-RTT completes" ||
    bad "garbage: $(cat d2.out d2.out.err)"
grep -q 'Protocol error' D.err && ok "D: $(grep 'Protocol error' D.err | head -n 1)" ||
    bad "D logged no clear error: $(cat D.err)"

# ---- 7. a Redis that never answers: the io_uring server's ring goes on
if [ -n "$uring" ]; then
    python3 "$src/tests/fleet/fake-redis.py" silent.port silent &
    pids+=($!)
    for _ in $(seq 100); do [ -s silent.port ] && break; sleep 0.05; done
    URL=redis://127.0.0.1:$(cat silent.port)
    start_server E --ticket-keys file --uring --redis-timeout 2000
    client E e1.out --sess-out sessE || bad "full handshake on E"
    t0=$(date +%s%N)
    client E e2.out --sess-in sessE --early-data early.txt &
    slow=$!
    sleep 0.3
    client E e3.out || bad "full handshake on E while a check waits"
    t1=$((($(date +%s%N) - t0) / 1000000))
    wait $slow
    t2=$((($(date +%s%N) - t0) / 1000000))
    [ "$t1" -lt 1500 ] && ok "silent Redis: a full handshake on E's ring done at $t1 ms while a 0-RTT check waited" ||
        bad "E's ring blocked: the full handshake took until $t1 ms"
    grep -q '^early-data: rejected' e2.out && grep -q '^resumed: yes' e2.out && [ "$t2" -ge 1800 ] &&
        [ "$t2" -lt 5000 ] && ok "silent Redis: the check ended by its 2 s timeout, 1-RTT completed ($t2 ms)" ||
        bad "silent Redis: $t2 ms: $(cat e2.out e2.out.err)"
    to=$(metric E 'kitls_redis_failures_total{kind="timeout"}')
    [ "${to:-0}" -ge 1 ] && ok "E counted the timeout ($to)" || bad "E: no timeout counted"
fi

echo "status $fail"
exit $fail
