#!/usr/bin/env bash
# tests/pq/inner.sh: run by tests/pq/run.sh inside the Debian 13 (trixie)
# root, whose OpenSSL 3.5 has ML-KEM.  Builds kitls from the copied source
# in $1, runs its unit tests, then the hybrid groups against OpenSSL 3.5
# (s_server, s_client) and Go 1.24's crypto/tls (tests/pq/gopeer.go).
# Every pairing prints the group each side says was negotiated.  Prints
# "PASS name" / "FAIL name" and the counts on its last line; exit 1 on a
# failure.
set -u
src=$1
b=$src/build-pq
jobs=$(nproc 2>/dev/null || echo 2)
T=${CASE_TIMEOUT:-20}
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
ko() { echo "FAIL $*"; fail=$((fail + 1)); }

echo "== build kitls against $(openssl version)"
cd "$src" || exit 1
if ! { autoreconf -fi >/dev/null 2>&1 && mkdir -p "$b" && cd "$b" &&
    ../configure -q --enable-werror >/dev/null && make -j"$jobs" >/dev/null; }; then
    ko "build"
    echo "$pass passed, $fail failed"
    exit 1
fi
ok "build (configure --enable-werror, make)"

# tests/pq/run.sh --bench: the cost of the hybrid (issue 20 point 5),
# kitls and OpenSSL 3.5's libssl in one process, X25519 vs X25519MLKEM768.
if [ "${PQ_BENCH:-0}" = 1 ]; then
    for g in X25519 X25519MLKEM768; do
        echo "== kitls-bench --group $g"
        nice -n 5 "$b/bench/kitls-bench" --only hs,alloc --lib kitls,openssl --rounds "${PQ_ROUNDS:-5}" \
            --group $g || ko "kitls-bench --group $g"
    done
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
fi

echo "== unit tests (make check-unit)"
if make -j"$jobs" check-unit >unit.log 2>&1; then
    ok "unit tests: $(grep -E '^# (PASS|SKIP|FAIL)' unit.log | tr '\n' ' ')"
else
    grep -E '^(FAIL|ERROR)' unit.log
    ko "unit tests: $(grep -E '^# (PASS|SKIP|FAIL)' unit.log | tr '\n' ' ')"
fi
for t in test_kem test_kem_api; do
    echo "  $t: $(grep -h 'Checks' "tests/unit/$t.log")"
done

C=$b/examples/kitls-client
S=$b/examples/kitls-server
w=$(mktemp -d /tmp/kitls-pq.XXXXXX)
trap 'exec 3>&-; rm -rf "$w"' EXIT
cd "$w" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null ||
    { ko "test certificate"; exit 1; }
mkfifo stdin.fifo
exec 3<>stdin.fifo # a stdin that never ends, for s_server

echo "== Go peer: $(go version)"
if GOTOOLCHAIN=local GOFLAGS='' GOCACHE=/root/.cache/go-build GOPATH=/root/go \
    go build -o gopeer "$src/tests/pq/gopeer.go" 2>go.err; then
    ok "build tests/pq/gopeer.go"
else
    cat go.err
    ko "build tests/pq/gopeer.go"
fi

# The name of a TLS group id in hex, as s_server's session records it.
gname() {
    case $(echo "$1" | tr a-f A-F) in
    11EC) echo X25519MLKEM768 ;; 11EB) echo SecP256r1MLKEM768 ;; 1D) echo x25519 ;;
    17) echo secp256r1 ;; 18) echo secp384r1 ;; *) echo "0x$1" ;;
    esac
}
# s_server prints no group: read kex_group ([19]) from the session it prints.
ossl_server_group() {
    local h
    h=$(sed -n '/BEGIN SSL SESSION/,/END SSL SESSION/p' "$1" | grep -v -- ----- |
        openssl base64 -d | openssl asn1parse -inform DER 2>/dev/null |
        awk '/cont \[ 19 \]/ { getline; sub(/.*:/, ""); print; exit }')
    [ -n "$h" ] && gname "$h" || echo none
}
field() { sed -n "s/^$1: //p" "$2" | head -n1; }
# s_client -brief names a hybrid group ("Negotiated TLS1.3 group: X") but
# only shows the key of a classical one ("Peer Temp Key: X25519, 253 bits",
# "ECDH, prime256v1, 256 bits").
sclient_group() {
    local g
    g=$(sed -n 's/^Negotiated TLS1.3 group: //p' "$@" | head -n1)
    [ -n "$g" ] && { echo "$g"; return; }
    g=$(sed -n 's/^\(Peer\|Server\) Temp Key: //p' "$@" | head -n1)
    case $g in
    X25519,*) echo x25519 ;; ECDH,\ prime256v1,*) echo secp256r1 ;;
    ECDH,\ secp384r1,*) echo secp384r1 ;; *) echo "${g:-none}" ;;
    esac
}

wait_file() { # until file $1 matches $2 or pid $3 exits
    for _ in $(seq 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# check NAME WANT_GROUP WANT_HRR CLIENT_GROUP CLIENT_HRR SERVER_GROUP SERVER_HRR
# ("-" = that side cannot say); prints what both sides said.
check() {
    local name=$1 g=$2 h=$3 cg=$4 ch=$5 sg=$6 sh=$7 bad=
    lc() { echo "$1" | tr A-Z a-z; }
    [ "$(lc "$cg")" = "$(lc "$g")" ] && [ "$(lc "$sg")" = "$(lc "$g")" ] || bad=1
    [ "$h" = - ] || { [ "$ch" = - ] || [ "$ch" = "$h" ]; } && { [ "$sh" = - ] || [ "$sh" = "$h" ]; } || bad=1
    if [ -z "$bad" ]; then
        ok "$name: client says group $cg (hrr $ch), server says group $sg (hrr $sh)"
    else
        ko "$name: want $g (hrr $h); client says $cg (hrr $ch), server says $sg (hrr $sh)"
        tail -n 5 c.err s.err 2>/dev/null | sed 's/^/    /'
    fi
}

# kitls-client [ARGS] against s_server [OSSL ARGS after --].
kc_vs_ossl() {
    local name=$1 g=$2 h=$3 kargs=() oargs=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do kargs+=("$1"); shift; done
    shift
    oargs=("$@")
    rm -f s.out s.err c.out c.err
    timeout "$T" openssl s_server -tls1_3 -accept 0 -naccept 1 -cert cert.pem -key key.pem \
        "${oargs[@]}" >s.out 2>s.err <&3 &
    local spid=$!
    if ! wait_file s.out '^ACCEPT' $spid; then
        ko "$name: s_server did not start"; cat s.err; return
    fi
    local port
    port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' s.out | head -n1)
    timeout "$T" "$C" --port "$port" --cafile cert.pem --servername localhost --print \
        --timeout 10 --message hi "${kargs[@]}" >c.out 2>c.err </dev/null
    wait $spid 2>/dev/null
    check "$name" "$g" "$h" "$(field group c.out)" "$(field hrr c.out)" \
        "$(ossl_server_group s.out)" -
}

# s_client [OSSL ARGS] against kitls-server [ARGS after --].
ossl_vs_ks() {
    local name=$1 g=$2 h=$3 oargs=() kargs=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do oargs+=("$1"); shift; done
    shift
    kargs=("$@")
    rm -f s.out s.err c.out c.err ready
    timeout "$T" "$S" --once --print --port 0 --ready-file ready --timeout 10 --cert cert.pem \
        --key key.pem --message hi "${kargs[@]}" >s.out 2>s.err &
    local spid=$!
    if ! wait_file ready . $spid; then
        ko "$name: kitls-server did not start"; cat s.err; return
    fi
    (printf 'hi\n'; sleep 0.3) | timeout "$T" openssl s_client -connect "127.0.0.1:$(cat ready)" \
        -CAfile cert.pem -servername localhost -brief "${oargs[@]}" >c.out 2>c.err
    wait $spid 2>/dev/null
    check "$name" "$g" "$h" "$(sclient_group c.err c.out)" - \
        "$(field group s.out)" "$(field hrr s.out)"
}

# gopeer client [ARGS] against kitls-server [ARGS after --].
go_vs_ks() {
    local name=$1 g=$2 h=$3 gargs=() kargs=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do gargs+=("$1"); shift; done
    shift
    kargs=("$@")
    rm -f s.out s.err c.out c.err ready
    timeout "$T" "$S" --once --print --port 0 --ready-file ready --timeout 10 --cert cert.pem \
        --key key.pem --message hi "${kargs[@]}" >s.out 2>s.err &
    local spid=$!
    if ! wait_file ready . $spid; then
        ko "$name: kitls-server did not start"; cat s.err; return
    fi
    timeout "$T" ./gopeer -mode client -addr "127.0.0.1:$(cat ready)" -cafile cert.pem \
        "${gargs[@]}" >c.out 2>c.err
    wait $spid 2>/dev/null
    check "$name" "$g" "$h" "$(field group c.out)" "$(field hrr c.out)" \
        "$(field group s.out)" "$(field hrr s.out)"
}

# kitls-client [ARGS] against gopeer server [ARGS after --].
kc_vs_go() {
    local name=$1 g=$2 h=$3 kargs=() gargs=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do kargs+=("$1"); shift; done
    shift
    gargs=("$@")
    rm -f s.out s.err c.out c.err ready
    timeout "$T" ./gopeer -mode server -ready-file ready -cert cert.pem -key key.pem \
        "${gargs[@]}" >s.out 2>s.err &
    local spid=$!
    if ! wait_file ready . $spid; then
        ko "$name: gopeer server did not start"; cat s.err; return
    fi
    timeout "$T" "$C" --port "$(cat ready)" --cafile cert.pem --servername localhost --print \
        --timeout 10 --message hi "${kargs[@]}" >c.out 2>c.err </dev/null
    wait $spid 2>/dev/null
    check "$name" "$g" "$h" "$(field group c.out)" "$(field hrr c.out)" \
        "$(field group s.out)" "$(field hrr s.out)"
}

echo "== kitls-client <-> openssl s_server"
for g in X25519MLKEM768 SecP256r1MLKEM768; do
    kc_vs_ossl "kitls-client -> s_server, $g only" $g no --groups $g -- -groups $g
done
kc_vs_ossl "kitls-client defaults -> s_server defaults" X25519MLKEM768 no --
kc_vs_ossl "kitls-client defaults -> s_server classical x25519:secp256r1" x25519 no -- \
    -groups x25519:secp256r1
kc_vs_ossl "kitls-client defaults -> s_server classical secp256r1 only (HRR)" secp256r1 yes -- \
    -groups secp256r1
kc_vs_ossl "HRR into X25519MLKEM768: kitls-client x25519 share -> s_server hybrid only" \
    X25519MLKEM768 yes --groups x25519,X25519MLKEM768 --key-shares 1 -- -groups X25519MLKEM768
kc_vs_ossl "HRR into SecP256r1MLKEM768: kitls-client x25519 share -> s_server hybrid only" \
    SecP256r1MLKEM768 yes --groups x25519,SecP256r1MLKEM768 --key-shares 1 -- \
    -groups SecP256r1MLKEM768
kc_vs_ossl "kitls-client classical only -> s_server defaults" x25519 no \
    --groups x25519,secp256r1 --

echo "== openssl s_client <-> kitls-server"
for g in X25519MLKEM768 SecP256r1MLKEM768; do
    ossl_vs_ks "s_client -> kitls-server, $g only" $g no -groups $g -- --groups $g
done
ossl_vs_ks "s_client defaults -> kitls-server defaults" X25519MLKEM768 no --
ossl_vs_ks "s_client classical x25519:secp256r1 -> kitls-server defaults" x25519 no \
    -groups x25519:secp256r1 --
ossl_vs_ks "HRR into X25519MLKEM768: s_client x25519 share -> kitls-server hybrid only" \
    X25519MLKEM768 yes -groups x25519:X25519MLKEM768 -- --groups X25519MLKEM768
ossl_vs_ks "HRR into SecP256r1MLKEM768: s_client x25519 share -> kitls-server hybrid only" \
    SecP256r1MLKEM768 yes -groups x25519:SecP256r1MLKEM768 -- --groups SecP256r1MLKEM768
ossl_vs_ks "s_client defaults -> kitls-server classical only" x25519 no -- \
    --groups x25519,secp256r1

# The io_uring driver receives the larger ClientHello (1216-byte share)
# through its own buffers; trixie's root has liburing-dev.
if "$S" --help 2>&1 | grep -q -- '--uring'; then
    ossl_vs_ks "s_client defaults -> kitls-server --uring defaults" X25519MLKEM768 no -- --uring
    ossl_vs_ks "HRR into X25519MLKEM768: s_client x25519 share -> kitls-server --uring hybrid only" \
        X25519MLKEM768 yes -groups x25519:X25519MLKEM768 -- --uring --groups X25519MLKEM768
else
    ko "kitls-server was built without io_uring (liburing-dev missing in the root)"
fi

echo "== Go crypto/tls <-> kitls"
go_vs_ks "Go client defaults -> kitls-server defaults" X25519MLKEM768 no --
go_vs_ks "Go client X25519MLKEM768 only -> kitls-server defaults" X25519MLKEM768 no \
    -groups x25519mlkem768 --
# No HRR into the hybrid with Go as the client: Go 1.24 ignores the order
# of CurvePreferences and always sends an X25519MLKEM768 share when it may.
go_vs_ks "HRR from Go client defaults into kitls-server secp256r1 only" secp256r1 yes -- \
    --groups secp256r1
go_vs_ks "Go client classical only -> kitls-server defaults" x25519 no -groups x25519,p256 --
kc_vs_go "kitls-client defaults -> Go server defaults" X25519MLKEM768 no --
kc_vs_go "kitls-client defaults -> Go server X25519MLKEM768 only" X25519MLKEM768 no -- \
    -groups x25519mlkem768
kc_vs_go "HRR into X25519MLKEM768: kitls-client x25519 share -> Go server hybrid only" \
    X25519MLKEM768 yes --groups x25519,X25519MLKEM768 --key-shares 1 -- -groups x25519mlkem768
kc_vs_go "kitls-client classical only -> Go server defaults" x25519 no --groups x25519 --

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
