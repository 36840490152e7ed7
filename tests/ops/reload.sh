#!/bin/bash
# tests/ops/reload.sh — kitls-server hot reload on SIGHUP (issue 18 item 2),
# in the blocking mode and with --uring, on loopback:
#   1. an established connection survives the SIGHUP and still exchanges
#      data; new connections get the new certificate (CN=reload-b) and
#      OCSP staple.  --uring serves the new connection while the held one
#      is open; the blocking mode serves one connection at a time, so its
#      reload runs when the held connection ends, before the next accept;
#   2. a broken key (not PEM), a key that does not match, an expired
#      certificate and an OCSP staple for another certificate are refused
#      with a log line naming the file and the reason; new connections
#      still get the previous material;
#   3. ticket keys rotate: a ticket sealed before the rotation resumes
#      while its key is still listed; a ticket issued after it resumes
#      once only the new key is left (it was sealed with the new key) and
#      the retired key's ticket gets a full handshake;
#   4. --ktls-switch FILE: "off" is logged on SIGHUP and new connections
#      report "ktls: off (kTLS switched off ...)"; back "on" is logged.
#   5. uring-httpd: SIGHUP reloads its certificate and key the same way
#      (a mismatched pair is refused and logged).
# Exit 0 pass, 1 fail, 77 skip (no openssl, or the tools not built).
set -u
top_builddir=${top_builddir:-.}
srv=$top_builddir/examples/kitls-server
cli=$top_builddir/examples/kitls-client
for tool in openssl timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found"; exit 77; }
done
[ -x "$srv" ] && [ -x "$cli" ] || { echo "SKIP: kitls-server/kitls-client not built"; exit 77; }

W=$(mktemp -d "${TMPDIR:-/tmp}/kitls-reload.XXXXXX")
pids=
cleanup() {
    exec 3>&- 2>/dev/null
    for p in $pids; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
fail=0
check() { # name, command...
    name=$1; shift
    if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fail=1; fi
}
count() { cat "$1" 2>/dev/null | grep -Ec -- "$2"; }
wait_grep() { # file regex [count]: up to 20 s for the regex to appear (count times)
    local i=0
    while [ "$(count "$1" "$2")" -lt "${3:-1}" ] && [ $i -lt 400 ]; do
        sleep 0.05; i=$((i + 1))
    done
    [ "$(count "$1" "$2")" -ge "${3:-1}" ]
}

# ---- PKI: one CA, leaves A and B, an expired leaf, OCSP responses ----
mkdir -p "$W/db" "$W/live"
: >"$W/db/index.txt"
echo 1000 >"$W/db/serial"
cat >"$W/ca.cnf" <<EOF
[ca]
default_ca = CA_default
[CA_default]
dir = $W/db
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
default_days = 30
policy = pol
unique_subject = no
[pol]
commonName = supplied
[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
q() { "$@" >>"$W/setup.log" 2>&1 || { echo "SKIP: PKI set-up failed: $*"; cat "$W/setup.log"; exit 77; }; }
genkey() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$1.key"; }
genkey ca
q openssl req -new -x509 -config "$W/ca.cnf" -extensions root -key "$W/ca.key" \
    -subj "/CN=kitls reload CA" -days 30 -out "$W/ca.pem"
issue() { # NAME CN [openssl ca date options]
    local n=$1 cn=$2
    shift 2
    genkey "$n"
    q openssl req -new -config "$W/ca.cnf" -key "$W/$n.key" -subj "/CN=$cn" -out "$W/$n.csr"
    q openssl ca -batch -config "$W/ca.cnf" -cert "$W/ca.pem" -keyfile "$W/ca.key" \
        -extensions leaf -in "$W/$n.csr" -out "$W/$n.pem" -notext "$@"
    cat "$W/$n.pem" "$W/ca.pem" >"$W/$n-chain.pem" # the staple's issuer follows the leaf
}
issue a reload-a
issue b reload-b
issue old reload-expired -startdate 20200101000000Z -enddate 20200201000000Z
ocsp() { # NAME: a DER OCSP response "good" for leaf NAME, signed by the CA
    q openssl ocsp -issuer "$W/ca.pem" -cert "$W/$1.pem" -reqout "$W/$1.req"
    q openssl ocsp -index "$W/db/index.txt" -CA "$W/ca.pem" -rsigner "$W/ca.pem" \
        -rkey "$W/ca.key" -reqin "$W/$1.req" -respout "$W/$1.ocsp" -ndays 1
}
ocsp a
ocsp b
k1=$(openssl rand -hex 36)
k2=$(openssl rand -hex 36)

install() { # atomically replace a live file
    cp "$1" "$W/live/.tmp" && mv -f "$W/live/.tmp" "$W/live/$2"
}
subject() { # the CN the server presents to a new connection
    timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
        </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'
}
hup() { # SIGHUP, then wait for the Nth reload line
    kill -HUP "$spid"
    nreload=$((nreload + 1))
    wait_grep "$log" 'reload (ok|failed)' "$nreload"
}
client() { # a short connection: kitls-client verifying with the CA, plus options
    timeout 10 "$cli" --host 127.0.0.1 --port "$port" --servername localhost \
        --cafile "$W/ca.pem" --message ping --echo --print --quiet "$@"
}

client_ok() { client "$@" >/dev/null 2>&1; }
staple_serial() { # the serial number the stapled OCSP response is about
    timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost -status \
        </dev/null 2>/dev/null | sed -n 's/^ *Serial Number: *//p' | head -1
}
serial() { openssl x509 -in "$W/$1.pem" -noout -serial | sed 's/^serial=//'; }

run_mode() { # MODE-NAME [kitls-server options]
    local mode=$1
    shift
    echo "== mode: $mode"
    install "$W/a-chain.pem" cert.pem
    install "$W/a.key" key.pem
    install "$W/a.ocsp" staple.der
    printf '# first line seals\n%s\n' "$k1" >"$W/live/tickets"
    echo on >"$W/live/ktls-switch"
    log=$W/$mode.log
    nreload=0
    rm -f "$W/port"
    "$srv" --port 0 --host 127.0.0.1 --ready-file "$W/port" --echo \
        --cert "$W/live/cert.pem" --key "$W/live/key.pem" --ocsp-staple "$W/live/staple.der" \
        --ticket-key-file "$W/live/tickets" --ktls-switch "$W/live/ktls-switch" --ktls both \
        --print "$@" >"$W/$mode.out" 2>"$log" &
    spid=$!
    pids="$pids $spid"
    wait_grep "$W/port" . || { echo "FAIL: $mode: server did not start"; cat "$log"; fail=1; return; }
    port=$(cat "$W/port")
    check "$mode: starts with CN=reload-a" test "$(subject)" = reload-a
    check "$mode: ... stapling A's OCSP response" test "$(staple_serial)" = "$(serial a)"

    # 1. A connection held open across the reload.
    rm -f "$W/fifo" "$W/held.out"
    mkfifo "$W/fifo"
    "$cli" --host 127.0.0.1 --port "$port" --servername localhost --cafile "$W/ca.pem" \
        --quiet <"$W/fifo" >"$W/held.out" 2>"$W/held.err" &
    hpid=$!
    exec 3>"$W/fifo"
    echo before-reload >&3
    check "$mode: held connection echoes before the reload" wait_grep "$W/held.out" before-reload
    install "$W/b-chain.pem" cert.pem
    install "$W/b.key" key.pem
    install "$W/b.ocsp" staple.der
    kill -HUP "$spid"
    nreload=1
    if [ "$mode" = uring ]; then
        # Many connections at once: the reload happens now, the held one stays.
        check "$mode: reload ok logged while the connection is open" \
            wait_grep "$log" "reload ok: certificate 'CN=reload-b'"
        check "$mode: a new connection gets CN=reload-b" test "$(subject)" = reload-b
        check "$mode: ... and verifies (kitls-client)" client_ok
    fi
    echo after-reload >&3
    check "$mode: held connection still echoes after the SIGHUP" wait_grep "$W/held.out" after-reload
    exec 3>&-
    wait "$hpid"
    check "$mode: held connection closes cleanly (exit 0)" test $? = 0
    # Blocking mode: one connection at a time, the reload runs before the next.
    check "$mode: reload ok logged" wait_grep "$log" "reload ok: certificate 'CN=reload-b' notAfter 20"
    check "$mode: a new connection gets CN=reload-b" test "$(subject)" = reload-b
    check "$mode: ... stapling B's OCSP response" test "$(staple_serial)" = "$(serial b)"

    # 2. Broken material is refused, the previous stays.
    echo "not a key" >"$W/live/key.pem"
    hup
    check "$mode: bad PEM key refused, file named" \
        grep -q "reload failed: $W/live/key.pem: no PEM private key" "$log"
    check "$mode: ... CN=reload-b still served" test "$(subject)" = reload-b
    install "$W/a.key" key.pem
    hup
    check "$mode: mismatched key refused" \
        grep -q "reload failed: $W/live/key.pem: private key does not match the certificate" "$log"
    check "$mode: ... CN=reload-b still served" test "$(subject)" = reload-b
    install "$W/old-chain.pem" cert.pem
    install "$W/old.key" key.pem
    hup
    check "$mode: expired certificate refused" \
        grep -q "reload failed: $W/live/cert.pem: certificate expired (notAfter 2020-02-01" "$log"
    install "$W/b-chain.pem" cert.pem
    install "$W/b.key" key.pem
    install "$W/a.ocsp" staple.der
    hup
    check "$mode: OCSP staple of another certificate refused" \
        grep -q "reload failed: $W/live/staple.der: OCSP staple refused" "$log"
    rm -f "$W/live/cert.pem"
    hup
    check "$mode: missing certificate refused" \
        grep -q "reload failed: $W/live/cert.pem: cannot open: No such file" "$log"
    check "$mode: ... CN=reload-b still served after 5 refusals" test "$(subject)" = reload-b
    install "$W/b-chain.pem" cert.pem
    install "$W/b.ocsp" staple.der
    hup
    check "$mode: good material again: reload ok" test "$(grep -c 'reload ok' "$log")" = 2
    check "$mode: failed reloads counted in the log" test "$(grep -c 'reload failed' "$log")" = 5

    # 3. Ticket key rotation.
    client --sess-out "$W/t1" >"$W/c1.out" 2>&1
    check "$mode: full handshake, ticket t1 (key 1)" grep -q "resumed: no" "$W/c1.out"
    printf '%s\n%s\n' "$k2" "$k1" >"$W/live/tickets"
    hup
    client --sess-in "$W/t1" --sess-out "$W/t2" >"$W/c2.out" 2>&1
    check "$mode: after rotation [k2,k1]: t1 resumes" grep -q "resumed: yes" "$W/c2.out"
    printf '%s\n' "$k2" >"$W/live/tickets"
    hup
    client --sess-in "$W/t2" >"$W/c3.out" 2>&1
    check "$mode: only k2 left: t2 (issued after the rotation) resumes" \
        grep -q "resumed: yes" "$W/c3.out"
    client --sess-in "$W/t1" >"$W/c4.out" 2>&1
    check "$mode: ... t1 (retired k1) gets a full handshake" grep -q "resumed: no" "$W/c4.out"
    echo "not hex" >"$W/live/tickets"
    hup
    check "$mode: bad ticket key file refused" \
        grep -q "reload failed: $W/live/tickets: building the config failed" "$log"
    client --sess-in "$W/t2" >"$W/c5.out" 2>&1
    check "$mode: ... k2 still open tickets" grep -q "resumed: yes" "$W/c5.out"

    # 4. The kTLS kill switch.
    printf '%s\n' "$k2" >"$W/live/tickets"
    echo off >"$W/live/ktls-switch"
    hup
    check "$mode: ktls switch off logged" grep -q "ktls switch: off ($W/live/ktls-switch)" "$log"
    client >/dev/null 2>&1
    check "$mode: ... the next connection stays in userspace: switched off" \
        wait_grep "$W/$mode.out" "^ktls: off \\(kTLS switched off"
    rm -f "$W/live/ktls-switch"
    hup
    check "$mode: missing switch file: ktls switch on logged" \
        grep -q "ktls switch: on ($W/live/ktls-switch)" "$log"
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    check "$mode: no connection failed, no sanitizer report" sh -c "! grep -Eq 'error:|Sanitizer' '$log'"
    [ $fail = 0 ] || { echo "--- $log"; cat "$log"; }
    grep -E "reload|ktls switch" "$log" | sed "s|$W|\$W|g; s/^/    log: /"
}

# uring-httpd: SIGHUP reloads --cert/--key for new connections.
run_httpd() {
    local httpd=$top_builddir/examples/uring-httpd
    echo "== uring-httpd"
    install "$W/a-chain.pem" cert.pem
    install "$W/a.key" key.pem
    mkdir -p "$W/www"
    echo hello >"$W/www/index.html"
    log=$W/httpd.log
    rm -f "$W/port"
    "$httpd" -c "$W/live/cert.pem" -k "$W/live/key.pem" -r "$W/www" -p 0 \
        --ready-file "$W/port" 2>"$log" &
    spid=$!
    pids="$pids $spid"
    wait_grep "$W/port" . || { echo "skip: uring-httpd did not start (io_uring?)"; cat "$log"; return; }
    port=$(cut -d' ' -f1 "$W/port")
    check "uring-httpd: starts with CN=reload-a" test "$(subject)" = reload-a
    install "$W/b-chain.pem" cert.pem
    install "$W/b.key" key.pem
    kill -HUP "$spid"
    check "uring-httpd: reload ok logged" wait_grep "$log" "reload ok"
    check "uring-httpd: a new connection gets CN=reload-b" test "$(subject)" = reload-b
    install "$W/a.key" key.pem
    kill -HUP "$spid"
    check "uring-httpd: mismatched key refused" wait_grep "$log" "reload failed: $W/live/cert.pem / $W/live/key.pem"
    check "uring-httpd: ... CN=reload-b still served" test "$(subject)" = reload-b
    check "uring-httpd: ... and serves files" sh -c "timeout 10 curl -s --cacert '$W/ca.pem' https://localhost:$port/ | grep -q hello"
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    grep -E "reload|cannot load" "$log" | sed "s|$W|\$W|g; s/^/    log: /"
}

run_mode blocking
if "$srv" --help 2>&1 | grep -q "not built: no liburing"; then
    echo "skip: --uring and uring-httpd (built without liburing)"
else
    run_mode uring --uring
    if command -v curl >/dev/null 2>&1 && [ -x "$top_builddir/examples/uring-httpd" ]; then
        run_httpd
    fi
fi
exit $fail
