#!/usr/bin/env bash
# tests/uring/alert-close-uring.sh — a fatal alert from the io_uring
# driver must reach a peer that is still sending (issue 14, "Alerts lost
# to a TCP reset"), as tests/interop/alert-close.sh checks for the
# blocking tools.
#
# kitls-server --uring --sendfile: the peer (tests/interop/alert-peer.py)
# completes the handshake, then, without reading and with a receive
# window of a few KiB, sends a record that cannot decrypt and 64 KiB
# more.  The server's file fills the window, so its alert queues behind
# it.  A driver that closes the socket with the peer's junk unread makes
# the kernel reset the connection and drop the alert (the peer reads
# ECONNRESET); one that sends it, shuts down its write side and drains
# (uring/linger.c) gets it through.  RUNS runs (default 20):
# every run must see the alert.  Exit 77 (skip) without python3 (ssl with
# TLS 1.3), openssl, or a kernel that lets us use io_uring.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$here/../..}
SRV=$top_builddir/examples/kitls-server
PEER=$here/../interop/alert-peer.py
RUNS=${ALERT_RUNS:-20}
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl not found"; exit 77; }
python3 -c 'import ssl; ssl.TLSVersion.TLSv1_3; ssl.MemoryBIO' 2>/dev/null ||
    { echo "SKIP: python3 with ssl (TLS 1.3) not found"; exit 77; }
[ -x "$SRV" ] || { echo "ERROR: $SRV is not built"; exit 99; }

tmp=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null ||
    { echo "SKIP: PKI"; exit 77; }
wait_file() { i=0; while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; }

fail=0
run_server() { # label, extra server options...
    label=$1
    shift
    rm -f "$tmp/srv.port"
    "$SRV" --uring "$@" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --host 127.0.0.1 \
        --port 0 --quiet --ready-file "$tmp/srv.port" --sendfile "$tmp/file" \
        --naccept "$RUNS" --timeout 5 2>"$tmp/srv.log" &
    spid=$!
    pids="$pids $spid"
    wait_file "$tmp/srv.port"
    if [ ! -s "$tmp/srv.port" ]; then
        if grep -qi "io_uring\|uring" "$tmp/srv.log"; then
            sed 's/^/  /' "$tmp/srv.log"
            echo "SKIP: kitls-server --uring did not start (io_uring unavailable?)"
            exit 77
        fi
        echo "FAIL $label: the server did not start"; sed 's/^/  /' "$tmp/srv.log"; fail=1
        return
    fi
    out=$(timeout 120 python3 "$PEER" client "$(head -n 1 "$tmp/srv.port")" "$RUNS" 2>&1)
    echo "$out" | sed 's/^/  /'
    if echo "$out" | grep -q "^alert $RUNS/$RUNS\$"; then
        echo "PASS $label: bad_record_mac reaches a client still sending ($RUNS runs)"
    else
        echo "FAIL $label: alert lost to a reset"; fail=1
    fi
    # --naccept: the server exits once every connection is closed; a
    # lingering close is bounded (1 s), so it must not hang.
    i=0
    while kill -0 "$spid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$spid" 2>/dev/null; then
        echo "FAIL $label: the server did not exit after $RUNS connections"; fail=1
        kill "$spid" 2>/dev/null
    fi
    wait "$spid" 2>/dev/null
}

# Userspace TX (io_uring read + encryption), then the same with the
# file in one 12 kB piece.
head -c 12000 /dev/urandom >"$tmp/file"
run_server "kitls-server --uring"
exit $fail
