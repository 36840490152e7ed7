#!/bin/bash
# tests/trust/ocsp-interop.sh — OCSP stapling interop (issue 10 point 1).
#
# Responses come from a real responder: `openssl ocsp` serving an
# `openssl ca` database on loopback.  Then:
#   kitls client (tests/trust/ocsp_peer) against `openssl s_server
#     -status_file` and `gnutls-serv --ocsp-response`: good / revoked /
#     none under the use-if-stapled and require policies;
#   kitls server (ocsp_peer, stapling) against `openssl s_client -status`
#     and `gnutls-cli --ocsp`.
# (Lives here rather than in tests/interop/run.sh while that file is being
# reworked; kitls-client/kitls-server have no OCSP options yet.)
# Exit 0 pass, 1 fail, 77 skip.
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
PEER=$builddir/tests/trust/ocsp_peer
T=${CASE_TIMEOUT:-15}

for tool in openssl gnutls-cli gnutls-serv timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found"; exit 77; }
done
[ -x "$PEER" ] || { echo "SKIP: $PEER not built"; exit 77; }

W=$(mktemp -d "${TMPDIR:-/tmp}/kitls-ocsp.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

# ---- PKI with an openssl ca database (the responder's index) ----
mkdir -p "$W/db"
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
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier = keyid

[responder]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
EOF
q() { "$@" >>"$W/setup.log" 2>&1 || { echo "FAIL: setup: $*"; cat "$W/setup.log"; exit 1; }; }
genkey() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$1.key"; }
genkey ca
q openssl req -new -x509 -config "$W/ca.cnf" -extensions root -key "$W/ca.key" \
    -subj "/CN=kitls OCSP interop CA" -days 30 -out "$W/ca.pem"
issue() { # issue NAME CN EXT
    genkey "$1"
    q openssl req -new -config "$W/ca.cnf" -key "$W/$1.key" -subj "/CN=$2" -out "$W/$1.csr"
    q openssl ca -batch -config "$W/ca.cnf" -cert "$W/ca.pem" -keyfile "$W/ca.key" \
        -extensions "$3" -in "$W/$1.csr" -out "$W/$1.pem" -notext
}
issue good localhost leaf
issue revoked localhost leaf
issue responder "kitls OCSP responder" responder
# The kitls server sends leaf + CA: kitls_config_set_ocsp_staple() checks the
# response against the next certificate of the chain.
cat "$W/good.pem" "$W/ca.pem" >"$W/good-chain.pem"
q openssl ca -config "$W/ca.cnf" -cert "$W/ca.pem" -keyfile "$W/ca.key" -revoke "$W/revoked.pem" \
    -crl_reason keyCompromise

# ---- responses from `openssl ocsp` as a responder on loopback ----
port_listening() {
    if command -v ss >/dev/null 2>&1; then
        ss -ltnH "sport = :$1" 2>/dev/null | grep -q .
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}
wait_listen() { # wait_listen PID PORT
    for _ in $(seq 100); do
        port_listening "$2" && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
resp_ok=0
for _ in 1 2 3 4 5; do
    rport=$((20000 + RANDOM % 40000))
    port_listening "$rport" && continue
    timeout "$T" openssl ocsp -index "$W/db/index.txt" -port "$rport" -CA "$W/ca.pem" \
        -rsigner "$W/responder.pem" -rkey "$W/responder.key" -nrequest 2 -ndays 1 \
        >"$W/responder.log" 2>&1 &
    rpid=$!
    pids+=("$rpid")
    wait_listen "$rpid" "$rport" && { resp_ok=1; break; }
    kill "$rpid" 2>/dev/null
done
[ $resp_ok = 1 ] || { echo "FAIL: openssl ocsp responder did not start"; cat "$W/responder.log"; exit 1; }
for leaf in good revoked; do
    q timeout "$T" openssl ocsp -issuer "$W/ca.pem" -cert "$W/$leaf.pem" \
        -url "http://127.0.0.1:$rport" -CAfile "$W/ca.pem" -respout "$W/$leaf.der"
done
wait "$rpid" 2>/dev/null
grep -q "good.pem: good" "$W/setup.log" && grep -q "revoked.pem: revoked" "$W/setup.log" ||
    { echo "FAIL: responder answers"; cat "$W/setup.log"; exit 1; }

fail=0
n=0
check() { # check NAME EXPECTED-REGEX FILE
    n=$((n + 1))
    if grep -Eq "$2" "$3"; then
        echo "ok   $1"
    else
        echo "FAIL $1: want /$2/ in:"
        sed 's/^/     | /' "$3" | head -20
        fail=1
    fi
}

# ---- kitls client against openssl s_server ----
ossl_server() { # ossl_server LEAF [status args...]; sets sport/spid
    local leaf=$1
    shift
    rm -f "$W/s.out"
    timeout "$T" openssl s_server -tls1_3 -accept 0 -naccept 1 -www -cert "$W/$leaf.pem" \
        -key "$W/$leaf.key" "$@" >"$W/s.out" 2>&1 </dev/null &
    spid=$!
    pids+=("$spid")
    for _ in $(seq 100); do
        sport=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$W/s.out" 2>/dev/null | head -n1)
        [ -n "$sport" ] && return 0
        sleep 0.05
    done
    return 1
}
kclient() { # kclient PORT POLICY > out
    timeout "$T" "$PEER" client "$1" "$W/ca.pem" "$2" >"$W/c.out" 2>&1
}

ossl_server good -status_file "$W/good.der"; kclient "$sport" require
check "kitls client (require) <- s_server -status_file good" '^ok ocsp=1$' "$W/c.out"
ossl_server good -status_file "$W/good.der"; kclient "$sport" use
check "kitls client (use-if-stapled) <- s_server -status_file good" '^ok ocsp=1$' "$W/c.out"
ossl_server revoked -status_file "$W/revoked.der"; kclient "$sport" use
check "kitls client (use-if-stapled) <- s_server revoked" '^error .*revoked.* ocsp=2' "$W/c.out"
ossl_server good -status_file "$W/revoked.der"; kclient "$sport" use
check "kitls client <- s_server staple for another certificate" '^error .*ocsp=2: OCSP response does not cover' "$W/c.out"
ossl_server good; kclient "$sport" require
check "kitls client (require) <- s_server without staple" '^error .* ocsp=0: no OCSP response stapled' "$W/c.out"
ossl_server good; kclient "$sport" use
check "kitls client (use-if-stapled) <- s_server without staple" '^ok ocsp=0$' "$W/c.out"

# ---- kitls client against gnutls-serv ----
gnutls_server() { # gnutls_server LEAF [args...]
    local leaf=$1
    shift
    for _ in 1 2 3 4 5 6 7 8; do
        sport=$((20000 + RANDOM % 40000))
        port_listening "$sport" && continue
        timeout "$T" gnutls-serv --echo -p "$sport" --x509certfile "$W/$leaf.pem" \
            --x509keyfile "$W/$leaf.key" "$@" >"$W/g.out" 2>&1 </dev/null &
        spid=$!
        pids+=("$spid")
        wait_listen "$spid" "$sport" && return 0
        kill "$spid" 2>/dev/null
    done
    return 1
}
stop() { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }

gnutls_server good --ocsp-response "$W/good.der" --ignore-ocsp-response-errors; kclient "$sport" require; stop
check "kitls client (require) <- gnutls-serv --ocsp-response good" '^ok ocsp=1$' "$W/c.out"
gnutls_server revoked --ocsp-response "$W/revoked.der" --ignore-ocsp-response-errors; kclient "$sport" require; stop
check "kitls client (require) <- gnutls-serv revoked" '^error .*revoked.* ocsp=2' "$W/c.out"
gnutls_server good; kclient "$sport" require; stop
check "kitls client (require) <- gnutls-serv without staple" '^error .* ocsp=0: no OCSP' "$W/c.out"

# ---- kitls server against openssl s_client / gnutls-cli ----
kserver() { # kserver LEAF [STAPLE]
    rm -f "$W/ready"
    timeout "$T" "$PEER" server "$W/ready" "$W/$1-chain.pem" "$W/$1.key" ${2:+"$W/$2"} >"$W/ks.out" 2>&1 &
    spid=$!
    pids+=("$spid")
    for _ in $(seq 100); do
        [ -s "$W/ready" ] && { sport=$(cat "$W/ready"); return 0; }
        kill -0 "$spid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

kserver good good.der
timeout "$T" openssl s_client -tls1_3 -connect "127.0.0.1:$sport" -servername localhost -status \
    -CAfile "$W/ca.pem" </dev/null >"$W/sc.out" 2>&1
wait "$spid" 2>/dev/null
check "s_client -status <- kitls server stapling (response status)" 'OCSP Response Status: successful' "$W/sc.out"
check "s_client -status <- kitls server stapling (cert status)" 'Cert Status: good' "$W/sc.out"

kserver good
timeout "$T" openssl s_client -tls1_3 -connect "127.0.0.1:$sport" -servername localhost -status \
    -CAfile "$W/ca.pem" </dev/null >"$W/sc.out" 2>&1
wait "$spid" 2>/dev/null
check "s_client -status <- kitls server without staple" 'OCSP response: no response sent' "$W/sc.out"

kserver good good.der
timeout "$T" gnutls-cli --ocsp --x509cafile "$W/ca.pem" -p "$sport" localhost </dev/null \
    >"$W/gc.out" 2>&1
wait "$spid" 2>/dev/null
check "gnutls-cli --ocsp <- kitls server stapling (verified)" 'Handshake was completed' "$W/gc.out"
# gnutls-cli lists "OCSP status request" among the options only when a
# stapled response was received and checked ("[ignored]" otherwise).
check "gnutls-cli --ocsp <- kitls server stapling (staple checked)" '^- Options: .*OCSP status request,' "$W/gc.out"
check "gnutls-cli --ocsp <- kitls server stapling (trusted)" 'Status: The certificate is trusted' "$W/gc.out"

kserver good
timeout "$T" gnutls-cli --ocsp --x509cafile "$W/ca.pem" -p "$sport" localhost </dev/null \
    >"$W/gc.out" 2>&1
wait "$spid" 2>/dev/null
n=$((n + 1))
if grep -q '^- Options: .*OCSP status request,' "$W/gc.out"; then
    echo "FAIL gnutls-cli --ocsp <- kitls server without staple: reports a checked staple"
    fail=1
else
    echo "ok   gnutls-cli --ocsp <- kitls server without staple: no staple reported"
fi

# The staple must not be sent unasked: s_client without -status succeeds
# and shows no OCSP section.
kserver good good.der
timeout "$T" openssl s_client -tls1_3 -connect "127.0.0.1:$sport" -servername localhost \
    -CAfile "$W/ca.pem" </dev/null >"$W/sc.out" 2>&1
wait "$spid" 2>/dev/null
check "s_client (no -status) <- kitls server: handshake" 'Verify return code: 0' "$W/sc.out"
n=$((n + 1))
if grep -q 'OCSP Response' "$W/sc.out"; then
    echo "FAIL s_client (no -status): an OCSP response was stapled unasked"
    fail=1
fi

echo "$n checks; $(openssl version | cut -d' ' -f1-2), $(gnutls-cli --version | head -1)"
[ $fail = 0 ] && echo PASS || echo FAIL
exit $fail
