#!/usr/bin/env bash
# Functions are called indirectly (run, wait_for): silence "unreachable".
# shellcheck disable=SC2317
# Interop matrix: kitls-client and kitls-server against OpenSSL (s_server,
# s_client) and GnuTLS (gnutls-serv, gnutls-cli) over loopback.
#
# Usage: tests/interop/run.sh [SUBSTRING]   (run only cases whose name
#        contains SUBSTRING)
# Environment: top_builddir (set by `make check`), KITLS_CLIENT,
#        KITLS_SERVER (tool paths), CASE_TIMEOUT (seconds per process,
#        default 10), KEEP=1 (keep the work directory with all logs),
#        VERBOSE=1 (show logs of passing cases too).
#
# Prints "PASS name" / "FAIL name" per case and ends with "N passed, N failed".
# Exit: 0 all passed, 1 some failed, 77 peers missing (skip), 99 setup error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$here/../..}
KITLS_CLIENT=${KITLS_CLIENT:-$top_builddir/examples/kitls-client}
KITLS_SERVER=${KITLS_SERVER:-$top_builddir/examples/kitls-server}
CASE_TIMEOUT=${CASE_TIMEOUT:-10}
# INTEROP_PACE (a whole number, default 1) stretches the pauses that let
# an echo arrive before a peer's stdin ends, and the kitls tools' I/O
# timeout (5 s): tests/fuzz/valgrind-tools.sh runs the kitls tools under
# memcheck, which makes them many times slower.
PACE=${INTEROP_PACE:-1}
pause() { sleep "$(awk -v s="$1" -v p="$PACE" 'BEGIN { print s * p }')"; }
IO_TIMEOUT=$((5 * PACE))
filter=${1:-}

for tool in openssl gnutls-cli gnutls-serv timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: '$tool' not found (install openssl and gnutls-bin)"
        exit 77
    fi
done
for tool in "$KITLS_CLIENT" "$KITLS_SERVER"; do
    if [ ! -x "$tool" ]; then
        echo "ERROR: $tool is not built"
        exit 99
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kitls-interop.XXXXXX") || exit 99
pids=()

cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -n "${KEEP:-}" ]; then
        echo "logs kept in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "peers: $(openssl version | head -n1); gnutls $(gnutls-cli --version | sed -n 's/^gnutls-cli //p' | head -n1)"

# ---------------------------------------------------------------------------
# Certificates: one CA; server certificates for ECDSA P-256, RSA-2048 and
# Ed25519, plus ECDSA P-384 (SAN DNS:localhost, IP:127.0.0.1, IP:::1) and
# two id-RSASSA-PSS keys (rsapss: no parameters; rsapss384: restricted to
# SHA-384, MGF1-SHA-384, salt 48); client certificates (ECDSA P-256,
# RSA-2048, Ed25519, id-RSASSA-PSS); an unrelated CA for the negative test.
# ---------------------------------------------------------------------------
pki=$work/pki
mkdir -p "$pki"

gen_pki() {
    cd "$pki" || return 1
    local days=2
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout ca.key -out ca.pem -days $days -subj "/CN=kitls interop CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout other-ca.key -out other-ca.pem -days $days -subj "/CN=unrelated CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
    cat >server.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EOF
    cat >client.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EOF
    local serial=10 kind newkey
    for kind in ecdsa ecdsa384 rsa ed25519 rsapss rsapss384 client client-rsa client-ed25519 \
        client-rsapss; do
        case $kind in
        ecdsa | client) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
        ecdsa384) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-384) ;;
        rsa | client-rsa) newkey=(-newkey rsa:2048) ;;
        ed25519 | client-ed25519) newkey=(-newkey ed25519) ;;
        rsapss | client-rsapss) newkey=(-newkey rsa-pss -pkeyopt rsa_keygen_bits:2048) ;;
        rsapss384)
            newkey=(-newkey rsa-pss -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_pss_keygen_md:sha384
                -pkeyopt rsa_pss_keygen_mgf1_md:sha384 -pkeyopt rsa_pss_keygen_saltlen:48)
            ;;
        esac
        local cn=localhost ext=server.ext out=server-$kind
        case $kind in
        client*) cn="kitls interop $kind" ext=client.ext out=$kind ;;
        esac
        openssl req -new "${newkey[@]}" -nodes -keyout $out.key -out $out.csr \
            -subj "/CN=$cn" || return 1
        openssl x509 -req -in $out.csr -CA ca.pem -CAkey ca.key -set_serial $serial \
            -days $days -extfile $ext -out $out.pem || return 1
        serial=$((serial + 1))
    done
}

if ! (gen_pki) >"$pki/gen.log" 2>&1; then
    echo "ERROR: certificate generation failed:"
    sed 's/^/    /' "$pki/gen.log"
    exit 99
fi
CA=$pki/ca.pem

# 0-RTT payload, and a ticket key file for kitls-server (id + AES key).
EARLY=$work/early.txt
printf 'early data from the client\n' >"$EARLY"
TICKET_KEYS=$work/ticket.keys
openssl rand -hex 36 >"$TICKET_KEYS" || exit 99

# A stdin that never reaches EOF, for servers that quit on stdin EOF
# (s_server without -www/-rev): a FIFO this script holds open read-write.
NO_EOF=$work/stdin.fifo
mkfifo "$NO_EOF" || exit 99
exec 3<>"$NO_EOF"

# ---------------------------------------------------------------------------
# Process helpers.  Each case runs in its own directory $d; servers write
# server.out/server.err, clients client.out/client.err.
# ---------------------------------------------------------------------------
srv_pid=
srv_port=
srv_rc=
cli_rc=

# Wait (up to ~5 s, times INTEROP_PACE) until cond succeeds while pid is alive.
wait_for() {
    local pid=$1 _
    shift
    for _ in $(seq $((100 * PACE))); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || { "$@"; return; }
        sleep 0.05
    done
    return 1
}

# An IPv4 listener on port $1: the clients connect to 127.0.0.1, and
# gnutls-serv keeps running on IPv6 alone when its IPv4 bind fails.
port_listening() {
    if command -v ss >/dev/null 2>&1; then
        ss -4 -ltnH "sport = :$1" 2>/dev/null | grep -q .
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

ready_file_written() { [ -s "$d/ready" ]; }
ossl_accepting() { grep -q '^ACCEPT' "$d/server.out" 2>/dev/null; }

start_kitls_server() {
    rm -f "$d/ready"
    # --naccept N among the arguments overrides --once.
    timeout "$CASE_TIMEOUT" "$KITLS_SERVER" --once --print --port 0 --ready-file "$d/ready" \
        --timeout "$IO_TIMEOUT" --cert "$pki/server-ecdsa.pem" --key "$pki/server-ecdsa.key" "$@" \
        >"$d/server.out" 2>"$d/server.err" &
    srv_pid=$!
    pids+=("$srv_pid")
    wait_for "$srv_pid" ready_file_written || return 1
    srv_port=$(cat "$d/ready")
}

# OSSL_MODE: -www (default), -rev (echo each line reversed) or empty (print
# what arrives: the only mode that reads 0-RTT data; stdin must then not hit
# EOF, so it is $NO_EOF).  NACCEPT: connections to serve (default 1).
start_ossl_server() {
    local mode=${OSSL_MODE--www} in=/dev/null
    [ -n "$mode" ] || in=$NO_EOF
    # shellcheck disable=SC2086
    timeout "$CASE_TIMEOUT" openssl s_server -tls1_3 -accept 0 -naccept "${NACCEPT:-1}" $mode \
        -cert "$pki/server-ecdsa.pem" -key "$pki/server-ecdsa.key" "$@" \
        >"$d/server.out" 2>"$d/server.err" <"$in" &
    srv_pid=$!
    pids+=("$srv_pid")
    wait_for "$srv_pid" ossl_accepting || return 1
    srv_port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$d/server.out" | head -n1)
    [ -n "$srv_port" ]
}

# GNUTLS_CERT / GNUTLS_KEY replace the default (ECDSA P-256) certificate:
# given a second one, gnutls-serv would still pick the ECDSA one.
start_gnutls_server() {
    local _
    for _ in 1 2 3 4 5 6 7 8; do
        # Below the ephemeral range (32768-60999), as in matrix.sh: a
        # client socket of a concurrent test cannot hold the port.
        srv_port=$((20000 + RANDOM % 12000))
        port_listening "$srv_port" && continue
        timeout "$CASE_TIMEOUT" gnutls-serv --echo -p "$srv_port" \
            --x509certfile "${GNUTLS_CERT:-$pki/server-ecdsa.pem}" \
            --x509keyfile "${GNUTLS_KEY:-$pki/server-ecdsa.key}" "$@" \
            >"$d/server.out" 2>"$d/server.err" </dev/null &
        srv_pid=$!
        pids+=("$srv_pid")
        if wait_for "$srv_pid" port_listening "$srv_port" && kill -0 "$srv_pid" 2>/dev/null; then
            return 0
        fi
        kill "$srv_pid" 2>/dev/null
        wait "$srv_pid" 2>/dev/null
    done
    return 1
}

# Wait for a server that exits by itself (kitls-server --once, s_server
# -naccept 1); timeout bounds it.
finish_server() {
    wait "$srv_pid" 2>/dev/null
    srv_rc=$?
}

# Stop a server that runs forever (gnutls-serv).
stop_server() {
    sleep 0.1 # let it log the connection
    kill "$srv_pid" 2>/dev/null
    wait "$srv_pid" 2>/dev/null
    srv_rc=0
}

kitls_client() {
    timeout "$CASE_TIMEOUT" "$KITLS_CLIENT" --port "$srv_port" --cafile "$CA" \
        --servername localhost --print --timeout "$IO_TIMEOUT" "$@" \
        >"$d/client.out" 2>"$d/client.err" </dev/null
    cli_rc=$?
}

# s_client: send a line, keep stdin open briefly so the echo arrives before
# stdin EOF makes s_client send close_notify and exit.  OSSL_INPUT names
# another function to produce stdin.
# The word PORT in an argument is replaced by the server's port (a later
# -connect overrides the default one).
ossl_input_default() {
    printf 'hello kitls\n'
    pause 0.5
}
ossl_client() {
    local a args=()
    for a in "$@"; do
        args+=("${a//PORT/$srv_port}")
    done
    "${OSSL_INPUT:-ossl_input_default}" |
        timeout "$CASE_TIMEOUT" openssl s_client -connect "127.0.0.1:$srv_port" -tls1_3 \
            -CAfile "$CA" -verify_return_error -servername localhost \
            -verify_hostname localhost "${args[@]}" >"$d/client.out" 2>"$d/client.err"
    cli_rc=$?
}

# gnutls-cli: on stdin EOF it sends close_notify and reads until the peer
# closes, so the echo is always printed.  GNUTLS_INPUT names another
# function to produce stdin.
gnutls_input_default() { printf 'hello kitls\n'; }
gnutls_client() {
    "${GNUTLS_INPUT:-gnutls_input_default}" |
        timeout "$CASE_TIMEOUT" gnutls-cli --x509cafile "$CA" --port "$srv_port" "$@" \
            localhost >"$d/client.out" 2>"$d/client.err"
    cli_rc=$?
}

# ---------------------------------------------------------------------------
# Expectations.  Specs:
#   crc=0 | crc!=0 | src=0 | src!=0     exit status of client / server
#   C=LINE | S=LINE | F=LINE            exact line in client / server / first
#                                       client (see keep_first) stdout
#   C~ERE | S~ERE | F~ERE, !C~ERE ...   extended regex in client / server /
#                                       first client stdout+stderr (! = must
#                                       not match)
#   C#ERE=N | S#ERE=N | F#ERE=N         exactly N lines of stdout+stderr
#                                       match ERE
# ---------------------------------------------------------------------------
reasons=()

expect() {
    local spec neg=
    for spec in "$@"; do
        neg=
        case $spec in
        '!'*) neg=1 spec=${spec#!} ;;
        esac
        case $spec in
        crc=0) [ "$cli_rc" = 0 ] || reasons+=("client exit $cli_rc, expected 0") ;;
        'crc!=0') [ "$cli_rc" != 0 ] || reasons+=("client exit 0, expected failure") ;;
        src=0) [ "$srv_rc" = 0 ] || reasons+=("server exit $srv_rc, expected 0") ;;
        'src!=0') [ "$srv_rc" != 0 ] || reasons+=("server exit 0, expected failure") ;;
        C=* | S=* | F=*)
            local f=$d/client.out
            [ "${spec:0:1}" = S ] && f=$d/server.out
            [ "${spec:0:1}" = F ] && f=$d/first.out
            grep -Fxq -- "${spec:2}" "$f" 2>/dev/null ||
                reasons+=("missing line '${spec:2}' in ${f##*/}")
            ;;
        C~* | S~* | F~*)
            local side=client
            [ "${spec:0:1}" = S ] && side=server
            [ "${spec:0:1}" = F ] && side=first
            if cat "$d/$side.out" "$d/$side.err" 2>/dev/null | grep -Eq -- "${spec:2}"; then
                [ -z "$neg" ] || reasons+=("$side output matches '${spec:2}'")
            else
                [ -n "$neg" ] || reasons+=("$side output lacks '${spec:2}'")
            fi
            ;;
        C#*=* | S#*=* | F#*=*)
            local side=client re=${spec:2} want=${spec##*=} n
            re=${re%=*}
            [ "${spec:0:1}" = S ] && side=server
            [ "${spec:0:1}" = F ] && side=first
            n=$(cat "$d/$side.out" "$d/$side.err" 2>/dev/null | grep -Ec -- "$re")
            [ "$n" = "$want" ] || reasons+=("$side output: $n lines match '$re', expected $want")
            ;;
        *) reasons+=("bad spec '$spec'") ;;
        esac
    done
}

passed=0
failed=0

run() {
    local name=$1 f
    shift
    if [ -n "$filter" ] && [[ $name != *"$filter"* ]]; then
        return
    fi
    d=$work/cases/$name
    mkdir -p "$d"
    reasons=()
    srv_pid='' srv_port='' srv_rc='' cli_rc=''
    "$@"
    if [ -n "$srv_pid" ] && kill -0 "$srv_pid" 2>/dev/null; then
        kill "$srv_pid" 2>/dev/null
        wait "$srv_pid" 2>/dev/null
    fi
    if [ ${#reasons[@]} -eq 0 ]; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        failed=$((failed + 1))
        printf '    reason: %s\n' "${reasons[@]}"
    fi
    if [ ${#reasons[@]} -ne 0 ] || [ -n "${VERBOSE:-}" ]; then
        for f in server.out server.err first.out first.err client.out client.err; do
            [ -s "$d/$f" ] || continue
            echo "    --- $f (last 15 lines)"
            tail -n 15 "$d/$f" | sed 's/^/    | /'
        done
    fi
}

# ---------------------------------------------------------------------------
# Case bodies.  $1 = peer arguments (word-split), $2 = kitls arguments
# (word-split), rest = expectations.
# ---------------------------------------------------------------------------
HTTP_GET=$'GET / HTTP/1.0\r\n\r\n'

# kitls-client -> openssl s_server -www (the status page names the cipher).
kc_ossl() {
    local peer=$1 mine=$2
    shift 2
    # shellcheck disable=SC2086
    start_ossl_server $peer || { reasons+=("s_server did not start"); return; }
    # shellcheck disable=SC2086
    kitls_client --message "$HTTP_GET" $mine
    finish_server
    expect "$@"
}

# kitls-client -> gnutls-serv --echo (which echoes whole lines only, so the
# message ends with a newline).  MSG overrides the message.
kc_gnutls() {
    local peer=$1 mine=$2
    shift 2
    # shellcheck disable=SC2086
    start_gnutls_server $peer || { reasons+=("gnutls-serv did not start"); return; }
    # shellcheck disable=SC2086
    kitls_client --echo --message "${MSG:-$'hello kitls\n'}" $mine
    stop_server
    expect "$@"
}

# openssl s_client -> kitls-server --echo.
ks_ossl() {
    local peer=$1 mine=$2
    shift 2
    # shellcheck disable=SC2086
    start_kitls_server --echo $mine || { reasons+=("kitls-server did not start"); return; }
    # shellcheck disable=SC2086
    ossl_client $peer
    finish_server
    expect "$@"
}

# gnutls-cli -> kitls-server --echo.
ks_gnutls() {
    local peer=$1 mine=$2
    shift 2
    # shellcheck disable=SC2086
    start_kitls_server --echo $mine || { reasons+=("kitls-server did not start"); return; }
    # shellcheck disable=SC2086
    gnutls_client $peer
    finish_server
    expect "$@"
}

# ---------------------------------------------------------------------------
# Resumption, 0-RTT and KeyUpdate bodies.  A resumption case makes two
# connections to one server: the first saves a session (kept as
# first.out/first.err, checked with F specs), the second offers it.
# ---------------------------------------------------------------------------
keep_first() {
    [ "$cli_rc" = 0 ] || reasons+=("first connection: client exit $cli_rc")
    mv "$d/client.out" "$d/first.out"
    mv "$d/client.err" "$d/first.err"
}

# kitls-client -> openssl s_server -www, twice (--sess-out, --sess-in).
kc_ossl_resume() {
    local peer=$1 mine=$2
    shift 2
    # shellcheck disable=SC2086
    NACCEPT=2 start_ossl_server $peer || { reasons+=("s_server did not start"); return; }
    # shellcheck disable=SC2086
    kitls_client --message "$HTTP_GET" --sess-out "$d/sess" $mine
    keep_first
    # shellcheck disable=SC2086
    kitls_client --message "$HTTP_GET" --sess-in "$d/sess" $mine
    finish_server
    expect "$@"
}

# kitls-client -> gnutls-serv --echo, twice (--sess-out, --sess-in).
kc_gnutls_resume() {
    local peer=$1 mine=$2
    shift 2
    # shellcheck disable=SC2086
    start_gnutls_server $peer || { reasons+=("gnutls-serv did not start"); return; }
    # shellcheck disable=SC2086
    kitls_client --echo --message $'hello kitls\n' --sess-out "$d/sess" $mine
    keep_first
    # shellcheck disable=SC2086
    kitls_client --echo --message "${MSG:-$'hello kitls\n'}" --sess-in "$d/sess" $mine
    stop_server
    expect "$@"
}

# openssl s_client (-sess_out, then -sess_in plus $3) -> kitls-server
# --naccept 2 --echo.
ks_ossl_resume() {
    local peer=$1 mine=$2 second=$3
    shift 3
    # shellcheck disable=SC2086
    start_kitls_server --naccept 2 --echo $mine ||
        { reasons+=("kitls-server did not start"); return; }
    # shellcheck disable=SC2086
    ossl_client -sess_out "$d/sess" $peer
    keep_first
    # shellcheck disable=SC2086
    ossl_client -sess_in "$d/sess" $peer $second
    finish_server
    expect "$@"
}

# kitls-client -> openssl s_server -rev (echoes each line reversed: the
# message is palindromes, so kitls-client --echo can check it).
PALINDROMES=$'kayak\nracecar\nlevel\n'
kc_ossl_rev() {
    local peer=$1 mine=$2
    shift 2
    # shellcheck disable=SC2086
    OSSL_MODE=-rev start_ossl_server $peer || { reasons+=("s_server did not start"); return; }
    # shellcheck disable=SC2086
    kitls_client --echo --message "$PALINDROMES" $mine
    finish_server
    expect "$@"
}

# kitls-client (--sess-out, then --sess-in --early-data) -> openssl
# s_server -early_data, which prints the early data it reads.  With
# $3 = restart, the second connection goes to a new s_server started with
# $4: it cannot know the ticket, so the 0-RTT data is rejected and
# kitls-client sends it again after the handshake.
kc_ossl_0rtt() {
    local peer=$1 mine=$2 how=$3 peer2=$4
    shift 4
    local n=2
    [ "$how" = restart ] && n=1
    # shellcheck disable=SC2086
    NACCEPT=$n OSSL_MODE='' start_ossl_server -early_data $peer ||
        { reasons+=("s_server did not start"); return; }
    # shellcheck disable=SC2086
    kitls_client --sess-out "$d/sess" $mine
    keep_first
    if [ "$how" = restart ]; then
        finish_server
        mv "$d/server.out" "$d/first-server.out"
        # shellcheck disable=SC2086
        OSSL_MODE='' start_ossl_server $peer2 || { reasons+=("s_server did not start"); return; }
    fi
    # shellcheck disable=SC2086
    kitls_client --sess-in "$d/sess" --early-data "$EARLY" $mine
    finish_server
    expect "$@"
}

# openssl s_client -> kitls-server with 0-RTT; $3 = extra s_client
# arguments for the second connection.
ks_ossl_0rtt() {
    local peer=$1 mine=$2
    shift 2
    ks_ossl_resume "$peer" "--early-data 16384 $mine" "-early_data $EARLY" "$@"
}

# The ticket comes from a kitls-server with 0-RTT on; the second
# connection goes to a kitls-server with the same ticket keys and 0-RTT
# off: the session resumes, the early data is rejected and skipped.
ks_ossl_0rtt_rejected() {
    local peer=$1 mine=$2
    shift 2
    local keys="--ticket-key-file $TICKET_KEYS"
    # shellcheck disable=SC2086
    start_kitls_server --echo --early-data 16384 $keys $mine ||
        { reasons+=("kitls-server did not start"); return; }
    # shellcheck disable=SC2086
    ossl_client -sess_out "$d/sess" $peer
    keep_first
    finish_server
    [ "$srv_rc" = 0 ] || reasons+=("first server exit $srv_rc")
    mv "$d/server.out" "$d/first-server.out"
    # shellcheck disable=SC2086
    start_kitls_server --echo $keys $mine || { reasons+=("kitls-server did not start"); return; }
    # shellcheck disable=SC2086
    ossl_client -sess_in "$d/sess" -early_data "$EARLY" $peer
    finish_server
    expect "$@"
}

# The same session and 0-RTT data offered twice (a replay): kitls-server
# accepts the early data the first time only.
ks_ossl_0rtt_replay() {
    local peer=$1 mine=$2
    shift 2
    # shellcheck disable=SC2086
    start_kitls_server --naccept 3 --echo --early-data 16384 $mine ||
        { reasons+=("kitls-server did not start"); return; }
    # shellcheck disable=SC2086
    ossl_client -sess_out "$d/sess" $peer
    keep_first
    # shellcheck disable=SC2086
    ossl_client -sess_in "$d/sess" -early_data "$EARLY" $peer
    grep -q 'Early data was accepted' "$d/client.out" ||
        reasons+=("second connection: s_client did not report 'Early data was accepted'")
    mv "$d/client.out" "$d/second.out"
    mv "$d/client.err" "$d/second.err"
    # shellcheck disable=SC2086
    ossl_client -sess_in "$d/sess" -early_data "$EARLY" $peer
    finish_server
    expect "$@"
}

# s_client reads its k / K commands from stdin, one line per read: pace
# the lines.  The server echoes the data lines.
ossl_input_keyupdate() {
    local l
    for l in 'before update' k 'between updates' K 'after updates'; do
        printf '%s\n' "$l"
        pause 0.3
    done
    pause 0.2
}
ossl_input_two_lines() {
    printf 'before update\n'
    pause 0.3
    printf 'after update\n'
    pause 0.5
}
# gnutls-cli --inline-commands: ^rekey1^ updates its own keys, ^rekey^ asks
# the peer to update too.
gnutls_input_keyupdate() {
    local l
    for l in 'before update' '^rekey1^' 'between updates' '^rekey^' 'after updates'; do
        printf '%s\n' "$l"
        pause 0.3
    done
}

GPRIO='NORMAL:-VERS-ALL:+VERS-TLS1.3'
SUITES="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256"
GROUPS_ALL="x25519 secp256r1 secp384r1"

gnutls_cipher() {
    case $1 in
    TLS_AES_128_GCM_SHA256) echo AES-128-GCM ;;
    TLS_AES_256_GCM_SHA384) echo AES-256-GCM ;;
    TLS_CHACHA20_POLY1305_SHA256) echo CHACHA20-POLY1305 ;;
    esac
}
gnutls_group() {
    case $1 in
    x25519) echo X25519 ;;
    secp256r1) echo SECP256R1 ;;
    secp384r1) echo SECP384R1 ;;
    esac
}
short_suite() {
    case $1 in
    TLS_AES_128_GCM_SHA256) echo aes128 ;;
    TLS_AES_256_GCM_SHA384) echo aes256 ;;
    TLS_CHACHA20_POLY1305_SHA256) echo chacha20 ;;
    esac
}
# s_client's "Server Temp Key" wording per group.
ossl_tempkey() {
    case $1 in
    x25519) echo 'Server Temp Key: X25519' ;;
    secp256r1) echo 'Server Temp Key: ECDH, prime256v1' ;;
    secp384r1) echo 'Server Temp Key: ECDH, secp384r1' ;;
    esac
}

CLIENT_CERT="--cert $pki/client.pem --key $pki/client.key"

# ===========================================================================
# kitls-client vs openssl s_server
# ===========================================================================
for s in $SUITES; do
    run "kc-openssl-suite-$(short_suite "$s")" kc_ossl "-ciphersuites $s" "--suites $s" \
        crc=0 src=0 "C=suite: $s" "C~Cipher is $s" "C=hrr: no" "C=peer-authenticated: yes"
done
for g in $GROUPS_ALL; do
    run "kc-openssl-group-$g" kc_ossl "-groups $g" "--groups $g" \
        crc=0 src=0 "C=group: $g" "C=hrr: no"
done
run kc-openssl-hrr kc_ossl "-groups secp384r1" "--groups x25519,secp384r1" \
    crc=0 src=0 "C=hrr: yes" "C=group: secp384r1"
# -stateless: s_server insists on a cookie round trip (HRR with cookie).
run kc-openssl-hrr-cookie kc_ossl "-groups secp384r1 -stateless" "--groups x25519,secp384r1" \
    crc=0 src=0 "C=hrr: yes" "C=group: secp384r1"
run kc-openssl-two-key-shares kc_ossl "-groups secp384r1" "--groups x25519,secp384r1 --key-shares 2" \
    crc=0 src=0 "C=hrr: no" "C=group: secp384r1"
for k in ecdsa ecdsa384 rsa ed25519; do
    case $k in
    ecdsa) sig=ecdsa_secp256r1_sha256 ;;
    ecdsa384) sig=ecdsa_secp384r1_sha384 ;;
    rsa) sig=rsa_pss_rsae_sha256 ;;
    ed25519) sig=ed25519 ;;
    esac
    run "kc-openssl-cert-$k" kc_ossl "-cert $pki/server-$k.pem -key $pki/server-$k.key" "" \
        crc=0 src=0 "C=sigalg: $sig"
done
# id-RSASSA-PSS server keys: rsa_pss_pss_* (RFC 8446 4.2.3), within the
# key's restriction.
for k in rsapss rsapss384; do
    sig=rsa_pss_pss_sha256
    [ $k = rsapss384 ] && sig=rsa_pss_pss_sha384
    run "kc-openssl-cert-$k" kc_ossl "-cert $pki/server-$k.pem -key $pki/server-$k.key" "" \
        crc=0 src=0 "C=sigalg: $sig" "C=peer-authenticated: yes"
done
# A server told to sign only with rsa_pss_rsae_* cannot use its PSS key
# (OpenSSL refuses to, as kitls does): the handshake fails.
run kc-openssl-cert-rsapss-rsae-only kc_ossl \
    "-cert $pki/server-rsapss.pem -key $pki/server-rsapss.key -sigalgs rsa_pss_rsae_sha256" "" \
    'crc!=0' "C~handshake_failure"
run kc-openssl-clientauth-rsapss kc_ossl "-Verify 1 -CAfile $CA" \
    "--cert $pki/client-rsapss.pem --key $pki/client-rsapss.key" \
    crc=0 src=0 "!C~no client certificate available" "C~Peer signature type: RSA-PSS"
run kc-openssl-clientauth kc_ossl "-Verify 1 -CAfile $CA" "$CLIENT_CERT" \
    crc=0 src=0 "!C~no client certificate available"
run kc-openssl-clientauth-missing kc_ossl "-Verify 1 -CAfile $CA" "" 'crc!=0'
run kc-openssl-alpn kc_ossl "-alpn h2,http/1.1" "--alpn http/1.1" \
    crc=0 src=0 "C=alpn: http/1.1"
run kc-openssl-no-compat kc_ossl "" "--no-compat" crc=0 src=0
run kc-openssl-ipv6 kc_ossl "" "--host ::1" crc=0 src=0
run kc-openssl-wrong-name kc_ossl "" "--servername wrong.example" 'crc!=0'
run kc-openssl-untrusted kc_ossl "" "--cafile $pki/other-ca.pem" 'crc!=0'
run kc-openssl-no-common-suite kc_ossl "-ciphersuites TLS_AES_256_GCM_SHA384" \
    "--suites TLS_AES_128_GCM_SHA256" 'crc!=0' "C~handshake_failure"
run kc-openssl-no-common-group kc_ossl "-groups secp384r1" "--groups x25519,secp256r1" \
    'crc!=0' "C~handshake_failure"

# ===========================================================================
# kitls-client vs gnutls-serv
# ===========================================================================
for s in $SUITES; do
    run "kc-gnutls-suite-$(short_suite "$s")" kc_gnutls \
        "--priority $GPRIO:-CIPHER-ALL:+$(gnutls_cipher "$s")" "--suites $s" \
        crc=0 "C=suite: $s" "C~^echo: ok" "S~Description: .*-\($(gnutls_cipher "$s")\)"
done
for g in $GROUPS_ALL; do
    run "kc-gnutls-group-$g" kc_gnutls \
        "--priority $GPRIO:-GROUP-ALL:+GROUP-$(gnutls_group "$g")" "--groups $g" \
        crc=0 "C=group: $g" "C=hrr: no" "C~^echo: ok" "S~\(ECDHE-$(gnutls_group "$g")\)"
done
run kc-gnutls-hrr kc_gnutls "--priority $GPRIO:-GROUP-ALL:+GROUP-SECP384R1" \
    "--groups x25519,secp384r1" \
    crc=0 "C=hrr: yes" "C=group: secp384r1" "C~^echo: ok" "S~\(ECDHE-SECP384R1\)"
run kc-gnutls-clientauth kc_gnutls "--require-client-cert --x509cafile $CA" "$CLIENT_CERT" \
    crc=0 "C~^echo: ok" "S~Client Signature: ECDSA-SECP256R1-SHA256"
run kc-gnutls-clientauth-rsa kc_gnutls "--require-client-cert --x509cafile $CA" \
    "--cert $pki/client-rsa.pem --key $pki/client-rsa.key" \
    crc=0 "C~^echo: ok" "S~Client Signature: RSA-PSS-RSAE-SHA(256|384|512)"
for k in rsapss rsapss384; do
    sig=rsa_pss_pss_sha256 gn=RSA-PSS-SHA256
    [ $k = rsapss384 ] && sig=rsa_pss_pss_sha384 gn=RSA-PSS-SHA384
    GNUTLS_CERT=$pki/server-$k.pem GNUTLS_KEY=$pki/server-$k.key run "kc-gnutls-cert-$k" \
        kc_gnutls "" "" crc=0 "C=sigalg: $sig" "C~^echo: ok" "S~Server Signature: $gn"
done
run kc-gnutls-clientauth-rsapss kc_gnutls "--require-client-cert --x509cafile $CA" \
    "--cert $pki/client-rsapss.pem --key $pki/client-rsapss.key" \
    crc=0 "C~^echo: ok" "S~Client Signature: RSA-PSS-SHA256"
run kc-gnutls-alpn kc_gnutls "--alpn h2 --alpn http/1.1" "--alpn http/1.1" \
    crc=0 "C=alpn: http/1.1" "C~^echo: ok"
# A 3000-byte line echoed back in records of at most 255 bytes.
MSG=$(head -c 2999 /dev/zero | tr '\0' 'k')$'\n' \
    run kc-gnutls-record-size-limit kc_gnutls "" "--record-size-limit 256" \
    crc=0 "C~^echo: ok \(3000 bytes\)"

# ===========================================================================
# openssl s_client vs kitls-server
# ===========================================================================
for s in $SUITES; do
    run "ks-openssl-suite-$(short_suite "$s")" ks_ossl "-ciphersuites $s" "--suites $s" \
        crc=0 src=0 "S=suite: $s" "C~Cipher is $s" "C~^hello kitls" "S=server-name: localhost"
done
for g in $GROUPS_ALL; do
    run "ks-openssl-group-$g" ks_ossl "-groups $g" "--groups $g" \
        crc=0 src=0 "S=group: $g" "S=hrr: no" "C~$(ossl_tempkey "$g")"
done
run ks-openssl-hrr ks_ossl "-groups x25519:secp384r1" "--groups secp384r1" \
    crc=0 src=0 "S=hrr: yes" "S=group: secp384r1" "C~$(ossl_tempkey secp384r1)"
run ks-openssl-hrr-cookie ks_ossl "-groups x25519:secp384r1" "--groups secp384r1 --hrr-cookie" \
    crc=0 src=0 "S=hrr: yes" "S=group: secp384r1"
for k in ecdsa ecdsa384 rsa ed25519; do
    case $k in
    ecdsa) sig=ecdsa_secp256r1_sha256 ossl='Peer signature type: ECDSA' ;;
    ecdsa384) sig=ecdsa_secp384r1_sha384 ossl='Peer signing digest: SHA384' ;;
    rsa) sig=rsa_pss_rsae_sha256 ossl='Peer signature type: RSA-PSS' ;;
    ed25519) sig=ed25519 ossl='Peer signature type: [Ee][Dd]25519' ;;
    esac
    run "ks-openssl-cert-$k" ks_ossl "" "--cert $pki/server-$k.pem --key $pki/server-$k.key" \
        crc=0 src=0 "S=sigalg: $sig" "C~$ossl"
done
for k in rsapss rsapss384; do
    sig=rsa_pss_pss_sha256 dg=SHA256
    [ $k = rsapss384 ] && sig=rsa_pss_pss_sha384 dg=SHA384
    run "ks-openssl-cert-$k" ks_ossl "" "--cert $pki/server-$k.pem --key $pki/server-$k.key" \
        crc=0 src=0 "S=sigalg: $sig" "C~Peer signature type: RSA-PSS" "C~Peer signing digest: $dg"
done
# A client accepting only rsa_pss_rsae_*: kitls-server's PSS key has no
# scheme; it refuses with handshake_failure instead of signing with rsae.
run ks-openssl-cert-rsapss-rsae-only ks_ossl "-sigalgs rsa_pss_rsae_sha256:ecdsa_secp256r1_sha256" \
    "--cert $pki/server-rsapss.pem --key $pki/server-rsapss.key" \
    'crc!=0' 'src!=0' "S~alert sent: handshake_failure"
# The key restricted to SHA-384, offered only rsa_pss_pss_sha256: refused.
run ks-openssl-cert-rsapss384-sha256-only ks_ossl "-sigalgs rsa_pss_pss_sha256" \
    "--cert $pki/server-rsapss384.pem --key $pki/server-rsapss384.key" \
    'crc!=0' 'src!=0' "S~alert sent: handshake_failure"
run ks-openssl-clientauth-rsapss ks_ossl "-cert $pki/client-rsapss.pem -key $pki/client-rsapss.key" \
    "--verify require --cafile $CA" crc=0 src=0 "S=peer-authenticated: yes" \
    "S=peer-sigalg: rsa_pss_pss_sha256"
run ks-openssl-clientauth ks_ossl "-cert $pki/client.pem -key $pki/client.key" \
    "--verify require --cafile $CA" crc=0 src=0 "S=peer-authenticated: yes"
run ks-openssl-clientauth-ed25519 ks_ossl "-cert $pki/client-ed25519.pem -key $pki/client-ed25519.key" \
    "--verify require --cafile $CA" crc=0 src=0 "S=peer-authenticated: yes" "S=peer-sigalg: ed25519"
run ks-openssl-clientauth-missing ks_ossl "" "--verify require --cafile $CA" 'src!=0'
run ks-openssl-clientauth-request ks_ossl "" "--verify request --cafile $CA" \
    crc=0 src=0 "S=peer-authenticated: no"
run ks-openssl-alpn ks_ossl "-alpn http/1.1" "--alpn h2,http/1.1" \
    crc=0 src=0 "S=alpn: http/1.1" "C~ALPN protocol: http/1.1"
run ks-openssl-alpn-mismatch ks_ossl "-alpn http/1.1" "--alpn h2" \
    'crc!=0' 'src!=0' "S~no_application_protocol"
run ks-openssl-ipv6 ks_ossl "-connect [::1]:PORT" "" crc=0 src=0 "C~^hello kitls"

# ===========================================================================
# gnutls-cli vs kitls-server
# ===========================================================================
for s in $SUITES; do
    run "ks-gnutls-suite-$(short_suite "$s")" ks_gnutls \
        "--priority $GPRIO:-CIPHER-ALL:+$(gnutls_cipher "$s")" "--suites $s" \
        crc=0 src=0 "S=suite: $s" "C~Description: .*-\($(gnutls_cipher "$s")\)" "C~^hello kitls"
done
for g in $GROUPS_ALL; do
    run "ks-gnutls-group-$g" ks_gnutls \
        "--priority $GPRIO:-GROUP-ALL:+GROUP-$(gnutls_group "$g")" "--groups $g" \
        crc=0 src=0 "S=group: $g" "S=hrr: no" "C~\(ECDHE-$(gnutls_group "$g")\)"
done
# gnutls sends shares for X25519 and SECP256R1 (two curve types); the server
# only accepts secp384r1.
run ks-gnutls-hrr ks_gnutls \
    "--priority $GPRIO:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1" \
    "--groups secp384r1" crc=0 src=0 "S=hrr: yes" "S=group: secp384r1" "C~\(ECDHE-SECP384R1\)"
for k in ecdsa ecdsa384 rsa ed25519; do
    case $k in
    ecdsa) sig=ecdsa_secp256r1_sha256 gn='ECDSA-SECP256R1-SHA256' ;;
    ecdsa384) sig=ecdsa_secp384r1_sha384 gn='ECDSA-SECP384R1-SHA384' ;;
    rsa) sig=rsa_pss_rsae_sha256 gn='RSA-PSS-RSAE-SHA256' ;;
    ed25519) sig=ed25519 gn='EdDSA-Ed25519' ;;
    esac
    run "ks-gnutls-cert-$k" ks_gnutls "" "--cert $pki/server-$k.pem --key $pki/server-$k.key" \
        crc=0 src=0 "S=sigalg: $sig" "C~\($gn\)"
done
run ks-gnutls-clientauth ks_gnutls "--x509certfile $pki/client.pem --x509keyfile $pki/client.key" \
    "--verify require --cafile $CA" crc=0 src=0 "S=peer-authenticated: yes"
run ks-gnutls-clientauth-rsa ks_gnutls \
    "--x509certfile $pki/client-rsa.pem --x509keyfile $pki/client-rsa.key" \
    "--verify require --cafile $CA" crc=0 src=0 "S=peer-authenticated: yes" \
    "S~^peer-sigalg: rsa_pss_rsae_sha(256|384|512)"
for k in rsapss rsapss384; do
    sig=rsa_pss_pss_sha256 gn=RSA-PSS-SHA256
    [ $k = rsapss384 ] && sig=rsa_pss_pss_sha384 gn=RSA-PSS-SHA384
    run "ks-gnutls-cert-$k" ks_gnutls "" "--cert $pki/server-$k.pem --key $pki/server-$k.key" \
        crc=0 src=0 "S=sigalg: $sig" "C~\($gn\)"
done
run ks-gnutls-clientauth-rsapss ks_gnutls \
    "--x509certfile $pki/client-rsapss.pem --x509keyfile $pki/client-rsapss.key" \
    "--verify require --cafile $CA" crc=0 src=0 "S=peer-authenticated: yes" \
    "S=peer-sigalg: rsa_pss_pss_sha256"
run ks-openssl-no-compat ks_ossl "" "--no-compat" crc=0 src=0 "C~^hello kitls"
run ks-gnutls-alpn ks_gnutls "--alpn http/1.1" "--alpn h2,http/1.1" \
    crc=0 src=0 "S=alpn: http/1.1" "C~Application protocol: http/1.1"
# Both directions limited: kitls advertises 512; gnutls-cli --recordsize 512
# advertises record_size_limit 513 (512 bytes of plaintext plus the TLS 1.3
# content type, RFC 8449 section 4), so kitls sends at most 512 per record.
run ks-gnutls-record-size-limit ks_gnutls "--recordsize 512" "--record-size-limit 512" \
    crc=0 src=0 "C~^hello kitls" "S=max-send-fragment: 512"

# ===========================================================================
# Resumption (PSK from a NewSessionTicket, psk_dhe_ke)
# ===========================================================================
run kc-openssl-resume kc_ossl_resume "" "" crc=0 src=0 \
    "F=resumed: no" "F~New, TLSv1.3" "C=resumed: yes" "C~Reused, TLSv1.3" "C=sigalg: none"
run kc-openssl-resume-aes256 kc_ossl_resume "-ciphersuites TLS_AES_256_GCM_SHA384" "" \
    crc=0 src=0 "C=resumed: yes" "C=suite: TLS_AES_256_GCM_SHA384" \
    "C~Reused, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"
# The resumed ClientHello meets a HelloRetryRequest: binders recomputed.
run kc-openssl-resume-hrr kc_ossl_resume "-groups secp384r1" "--groups x25519,secp384r1" \
    crc=0 src=0 "C=resumed: yes" "C=hrr: yes" "C~Reused, TLSv1.3"
run kc-gnutls-resume kc_gnutls_resume "" "" crc=0 \
    "F=resumed: no" "C=resumed: yes" "C~^echo: ok" "S#This is a resumed session=1"
run ks-openssl-resume ks_ossl_resume "" "" "" crc=0 src=0 \
    "F~New, TLSv1.3" "C~Reused, TLSv1.3" "C~^hello kitls" "S=resumed: no" "S=resumed: yes"
run ks-openssl-resume-hrr ks_ossl_resume "-groups x25519:secp384r1" "--groups secp384r1" "" \
    crc=0 src=0 "C~Reused, TLSv1.3" "S#^hrr: yes=2" "S=resumed: yes"
run ks-gnutls-resume ks_gnutls "--resume" "--naccept 2" crc=0 src=0 \
    "C~This is a resumed session" "C~^hello kitls" "S=resumed: no" "S=resumed: yes"

# ===========================================================================
# KeyUpdate: data before and after, with and without update_requested
# ===========================================================================
# s_client -msg logs KeyUpdates sent (>>>) and received (<<<); its K asks
# kitls-server to update too, so exactly one KeyUpdate comes back.
OSSL_INPUT=ossl_input_keyupdate run ks-openssl-keyupdate ks_ossl "-msg" "" crc=0 src=0 \
    "C=before update" "C=between updates" "C=after updates" "C#^KEYUPDATE=2" \
    "C#^>>> .*KeyUpdate=2" "C#^<<< .*KeyUpdate=1"
# kitls-server sends the KeyUpdate (requested) after echoing the first line.
OSSL_INPUT=ossl_input_two_lines run ks-openssl-keyupdate-server ks_ossl "-msg" \
    "--key-update 1 --key-update-request" crc=0 src=0 "C=before update" "C=after update" \
    "C#^<<< .*KeyUpdate=1" "C#^>>> .*KeyUpdate=1"
GNUTLS_INPUT=gnutls_input_keyupdate run ks-gnutls-keyupdate ks_gnutls "--inline-commands" "" \
    crc=0 src=0 "C=before update" "C=between updates" "C=after updates" \
    "C#Rekey was completed=2"
# s_server -msg: KeyUpdates received (<<<; the last byte of the message,
# 00 or 01, is update_requested) and its answers (>>>).  s_server -rev
# sleeps a second after each record without data (its "read R BLOCK"), so
# few KeyUpdates here.
run kc-openssl-keyupdate kc_ossl_rev "-msg" "--key-update 2" crc=0 src=0 "C~^echo: ok" \
    "S#^<<< .*KeyUpdate=2" "S#^>>> .*KeyUpdate=0" "S#^ +18 00 00 01 00\$=2"
run kc-openssl-keyupdate-request kc_ossl_rev "-msg" "--key-update 1 --key-update-request" \
    crc=0 src=0 "C~^echo: ok" "S#^<<< .*KeyUpdate=1" "S#^ +18 00 00 01 01\$=1" \
    "S#^>>> .*KeyUpdate=1"
MSG=$'before update\nafter update\n' run kc-gnutls-keyupdate kc_gnutls "" "--key-update 3" \
    crc=0 "C~^echo: ok" "S~received cmd: after update"
MSG=$'before update\nafter update\n' run kc-gnutls-keyupdate-request kc_gnutls "" \
    "--key-update 1 --key-update-request" crc=0 "C~^echo: ok" "S~received cmd: after update"

# ===========================================================================
# 0-RTT early data
# ===========================================================================
run kc-openssl-0rtt kc_ossl_0rtt "" "" same "" crc=0 src=0 \
    "F=early-data: none" "C=resumed: yes" "C=early-data: accepted" \
    "C=early-data-bytes: $(wc -c <"$EARLY")" "S~Early data received:" \
    "S#^early data from the client=1" "S~Reused session-id"
run kc-openssl-0rtt-rejected kc_ossl_0rtt "" "" restart "" crc=0 src=0 \
    "C=resumed: no" "C=early-data: rejected" "C=early-data-bytes: 0" \
    "C~sending [0-9]+ bytes of early data after the handshake" \
    "S#^early data from the client=1" "!S~Early data received"
run ks-openssl-0rtt ks_ossl_0rtt "" "" crc=0 src=0 \
    "C~Early data was accepted" "C=early data from the client" "C=hello kitls" \
    "S=resumed: yes" "S=early-data: accepted" "S=early-data-bytes: $(wc -c <"$EARLY")"
run ks-openssl-0rtt-rejected ks_ossl_0rtt_rejected "" "" crc=0 src=0 \
    "C~Early data was rejected" "C=hello kitls" "!C~early data from the client" \
    "S=resumed: yes" "S=early-data: rejected"
run ks-openssl-0rtt-replay ks_ossl_0rtt_replay "" "" crc=0 src=0 \
    "C~Early data was rejected" "C~Reused, TLSv1.3" "C=hello kitls" \
    "S#^early-data: accepted=1" "S#^early-data: rejected=1" "S#^resumed: yes=2"
run ks-gnutls-0rtt ks_gnutls "--resume --earlydata $EARLY" "--naccept 2 --early-data 16384" \
    crc=0 src=0 "C~This is a resumed session" "C=early data from the client" \
    "C=hello kitls" "S=early-data: accepted" "S=early-data-bytes: $(wc -c <"$EARLY")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || exit 1
exit 0
