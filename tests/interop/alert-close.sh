#!/usr/bin/env bash
# tests/interop/alert-close.sh — a fatal alert from kitls-server or
# kitls-client must reach a peer that is still sending (issue 14).
#
# The peer (tests/interop/alert-peer.py, Python's ssl module on memory
# BIOs) completes the handshake, then sends a record that cannot decrypt
# and 64 KiB more without reading, with a receive window of a few KiB, so
# the alert queues behind data the tool has not sent yet.  A tool that
# then close()s with the junk unread makes the kernel reset the connection
# and drop the queued alert (the peer reads ECONNRESET); one that shuts
# down its write side and drains first (ex_close_socket) gets it through.
# Ten runs each way: every run must see the alert.
# Exit 77 (skip) without python3 (ssl with TLS 1.3) or openssl.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$here/../..}
SRV=$top_builddir/examples/kitls-server
CLI=$top_builddir/examples/kitls-client
PEER=$here/alert-peer.py
RUNS=${ALERT_RUNS:-10}
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl not found"; exit 77; }
python3 -c 'import ssl; ssl.TLSVersion.TLSv1_3; ssl.MemoryBIO' 2>/dev/null ||
    { echo "SKIP: python3 with ssl (TLS 1.3) not found"; exit 77; }
for t in "$SRV" "$CLI"; do [ -x "$t" ] || { echo "ERROR: $t is not built"; exit 99; }; done

tmp=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail=0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null ||
    { echo "SKIP: PKI"; exit 77; }
wait_file() { i=0; while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; }

# kitls-server: its file (12 kB) fills our small window, then our garbage.
head -c 12000 /dev/urandom >"$tmp/file"
"$SRV" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --host 127.0.0.1 --port 0 --quiet \
    --ready-file "$tmp/srv.port" --sendfile "$tmp/file" --naccept "$RUNS" --timeout 5 \
    2>"$tmp/srv.log" &
spid=$!
pids="$pids $spid"
wait_file "$tmp/srv.port"
out=$(timeout 60 python3 "$PEER" client "$(head -n 1 "$tmp/srv.port")" "$RUNS" 2>&1)
echo "$out" | sed 's/^/  /'
if echo "$out" | grep -q "^alert $RUNS/$RUNS\$"; then
    echo "PASS kitls-server: bad_record_mac reaches a client still sending ($RUNS runs)"
else
    echo "FAIL kitls-server: alert lost to a reset"; fail=1
fi
wait "$spid" 2>/dev/null
grep -c "alert sent: bad_record_mac" "$tmp/srv.log" | sed 's/^/  server alerts sent: /'

# kitls-client: 10 kB of stdin queued behind our closed window, then our
# garbage; stdin stays open until the client has failed.
python3 "$PEER" server "$tmp/peer.port" "$RUNS" "$tmp/cert.pem" "$tmp/key.pem" \
    >"$tmp/peer.out" 2>&1 &
ppid=$!
pids="$pids $ppid"
wait_file "$tmp/peer.port"
pport=$(cat "$tmp/peer.port")
n=0
while [ $n -lt "$RUNS" ]; do
    (head -c 10000 /dev/urandom; sleep 1) | timeout 10 "$CLI" --host 127.0.0.1 --port "$pport" \
        --no-verify --quiet >/dev/null 2>>"$tmp/cli.log"
    n=$((n + 1))
done
wait "$ppid" 2>/dev/null
sed 's/^/  /' "$tmp/peer.out"
if grep -q "^alert $RUNS/$RUNS\$" "$tmp/peer.out"; then
    echo "PASS kitls-client: bad_record_mac reaches a server still sending ($RUNS runs)"
else
    echo "FAIL kitls-client: alert lost to a reset"; fail=1
fi
grep -c "alert sent: bad_record_mac" "$tmp/cli.log" | sed 's/^/  client alerts sent: /'
pids=
exit $fail
