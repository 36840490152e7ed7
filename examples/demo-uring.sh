#!/bin/bash
# examples/demo-uring.sh — the library's main job in one run (the README's
# first command ends here): kitls-server on the io_uring driver with kernel
# TLS asked for both directions (--uring --ktls both --ktls-policy close)
# serves a 4 MiB file
# (--sendfile: io_uring splice through the kTLS socket, or io_uring read +
# userspace encryption when the kernel cannot take the keys); kitls-client
# and curl fetch it; the bytes are checked with sha256; and the demo says
# which record layer carried them: kernel TLS, or the userspace record
# layer and why (the reason the library gives, e.g. "kernel has no TLS
# module (TCP_ULP tls: ENOENT)" when the tls module is missing).
#
# kitls-server speaks no HTTP: it sends the file right after the handshake
# and closes after the client's first data (--close-after-echo).  curl
# takes such a response with --http0.9.  For an HTTP/1.1 file server on
# the same driver see examples/uring-httpd.c.
#
# Run from the top of a built tree (`bash examples/demo-uring.sh`), or with
# top_builddir=DIR.  Needs openssl (a throw-away certificate), curl and
# sha256sum.  Exit 0: both fetches got the file's exact bytes; 1: they did
# not, or a tool failed; 77: something this demo needs is missing (said
# why): no liburing build, no io_uring in this kernel or sandbox.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/.." && pwd)}
srv=$top_builddir/examples/kitls-server
cli=$top_builddir/examples/kitls-client
say() { echo "demo: $*"; }

for tool in openssl curl sha256sum timeout; do
    command -v "$tool" >/dev/null 2>&1 ||
        { say "$tool not found (apt-get install -y openssl curl coreutils)"; exit 77; }
done
[ -x "$srv" ] && [ -x "$cli" ] ||
    { say "$srv or $cli not built (run ./configure && make first)"; exit 77; }
if "$srv" --help 2>&1 | grep -q "not built: no liburing"; then
    say "kitls-server was built without liburing: apt-get install -y liburing-dev, then ./configure && make"
    exit 77
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/kitls-demo.XXXXXX")
spid=
cleanup() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$W/key.pem" -out "$W/cert.pem" 2>"$W/openssl.log" ||
    { say "openssl could not make a certificate"; cat "$W/openssl.log"; exit 1; }
head -c 4194304 /dev/urandom >"$W/file.bin"
want=$(sha256sum <"$W/file.bin" | cut -d' ' -f1)

fail=0
check_file() { # who file
    local got
    got=$(sha256sum <"$2" | cut -d' ' -f1)
    if [ "$got" = "$want" ]; then
        say "$1: $(stat -c %s "$2") bytes, sha256 matches"
    else
        say "$1: $(stat -c %s "$2") bytes, sha256 ${got:0:16}... DOES NOT MATCH"
        fail=1
    fi
}
hold() { # until file $1 has $2 bytes (120 s at most)
    for _ in $(seq 2400); do
        [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return
        sleep 0.05
    done
}
stop_server() {
    for _ in $(seq 200); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    spid=
}

# Serve two connections (then the server exits on its own) and fetch the
# file twice.  --ktls-policy close: kernels before 6.14 (Debian 12 runs
# 6.1) cannot take new TLS 1.3 keys; the default policy keeps such
# connections in userspace, this one offloads and would end a connection
# at a KeyUpdate (none happens here).  Returns 2 when io_uring itself is
# unavailable (the server said "io_uring: ..."), after saying why.
serve_and_fetch() { # [--uring]
    rm -f "$W/port" "$W/kitls-client.bin" "$W/curl.bin"
    "$srv" "$@" --ktls both --ktls-policy close --sendfile "$W/file.bin" --close-after-echo \
        --print --naccept 2 --host 127.0.0.1 --port 0 --ready-file "$W/port" \
        --cert "$W/cert.pem" --key "$W/key.pem" >"$W/server.out" 2>"$W/server.err" &
    spid=$!
    for _ in $(seq 400); do
        [ -s "$W/port" ] && break
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.05
    done
    sleep 0.2 # the ready file comes before the ring: let a failing ring show
    if grep -q "io_uring: " "$W/server.err"; then
        say "io_uring is not available here: $(grep -m1 'io_uring: ' "$W/server.err" | sed 's/.*io_uring: //')"
        stop_server
        return 2
    fi
    [ -s "$W/port" ] || { cat "$W/server.err"; say "kitls-server did not start"; exit 1; }
    port=$(cat "$W/port")
    say "kitls-server ${*:+$* }--ktls both serves a 4 MiB file (sha256 ${want:0:16}...) on 127.0.0.1:$port"
    # kitls-client sends nothing and writes what it receives; its stdin
    # stays open until the whole file is there (then close_notify, answered
    # by the server's), so the offload is decided on an open, quiet
    # connection: a peer that already closed its side cannot get kTLS
    # (TCP_ULP needs an established socket).
    : >"$W/kitls-client.bin"
    if hold "$W/kitls-client.bin" 4194304 | timeout 150 "$cli" --host 127.0.0.1 --port "$port" \
        --servername localhost --cafile "$W/cert.pem" --quiet >"$W/kitls-client.bin" \
        2>"$W/client.err"; then
        check_file kitls-client "$W/kitls-client.bin"
    else
        say "kitls-client failed:"; cat "$W/client.err"; fail=1
    fi
    if timeout 150 curl --http0.9 -sS --cacert "$W/cert.pem" "https://localhost:$port/file.bin" \
        -o "$W/curl.bin" 2>"$W/curl.err"; then
        check_file curl "$W/curl.bin"
    else
        say "curl failed:"; cat "$W/curl.err"; fail=1
    fi
    stop_server
    if grep -q "io_uring: " "$W/server.err"; then # the ring failed after the ready file
        say "io_uring is not available here: $(grep -m1 'io_uring: ' "$W/server.err" | sed 's/.*io_uring: //')"
        fail=0
        return 2
    fi
}
if [ "${KITLS_DEMO_URING:-1}" = 0 ]; then # (tests: the fallback below)
    say "io_uring is not available here: KITLS_DEMO_URING=0"
    ring=0
else
    serve_and_fetch --uring
    ring=$?
fi
if [ $ring = 2 ] || [ "${KITLS_DEMO_URING:-1}" = 0 ]; then
    # A sandbox that forbids io_uring (e.g. a container's seccomp profile)
    # still shows kernel TLS with the blocking server.
    say "falling back to the blocking server (kTLS and sendfile(2) without io_uring)"
    serve_and_fetch
    ring=0
    how_ring=""
else
    how_ring=1
fi

# The server's own account, one connection after the other (kitls-client,
# then curl): --print says "ktls: ..." on stdout, and stderr says
# "sendfile: N bytes (kernel TLS, splice | userspace TLS)".
transport() { # N who
    local ktls how reason
    ktls=$(grep '^ktls: ' "$W/server.out" | sed -n "$1p" | sed 's/^ktls: //')
    how=$(grep 'sendfile: [0-9]* bytes.* (' "$W/server.err" | sed -n "$1p" | sed 's/.*(\(.*\))$/\1/')
    case "$how" in
    "kernel TLS, splice") how="through io_uring splice, sealed by the kernel" ;;
    "userspace TLS") how="through ${how_ring:+io_uring }read, sealed by kitls in userspace" ;;
    "kernel TLS") how="through sendfile(2), sealed by the kernel" ;;
    esac
    case "$ktls" in
    "") say "transport ($2): unknown (the server printed no kTLS line)"; fail=1 ;;
    tx+rx) say "transport ($2): kernel TLS carried the data (TX and RX offloaded; the file went $how)" ;;
    tx\ *) say "transport ($2): kernel TLS carried the data (the file went $how; RX stayed in userspace: ${ktls#tx })" ;;
    *)
        reason=${ktls#* (}
        reason=${reason%)}
        say "transport ($2): the userspace record layer carried the data ($how): the kernel did not take the TX keys: $reason"
        userspace=1
        ;;
    esac
}
userspace=0
transport 1 kitls-client
transport 2 curl
[ $userspace = 1 ] &&
    say "(on a kernel with kTLS, modprobe tls and run again to see kernel TLS carry it)"
exit $fail
