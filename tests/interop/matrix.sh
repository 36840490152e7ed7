#!/usr/bin/env bash
# Functions are called indirectly (cell, peer adapters): silence "unreachable".
# shellcheck disable=SC2317,SC2034,SC2054
# Strict interop matrix (workstream C): kitls-client and kitls-server
# against independent TLS 1.3 implementations, both roles, every in-scope
# feature; every cell PASS, FAIL or N/A with a recorded reason.
#
# Usage: tests/interop/matrix.sh [--install] (--strict | --self-test | --run)
#            [--peers LIST] [--filter SUBSTR] [--keep] [--list]
#   --install    apt-get install the peers and build tools first (needs root
#                and the Debian mirror), then continue with the mode given
#   --strict     the full matrix; exit 1 if any cell FAILs (N/A cells carry
#                a reason from peer_na below and do not fail the run)
#   --run        the full matrix, report only (exit 0 unless setup fails)
#   --self-test  check the harness: output format round trip, one real cell
#                against OpenSSL that must PASS, a deliberately broken cell
#                that must be judged FAIL, an N/A cell; < 30 s
#   --peers L    comma-separated subset of: openssl,gnutls,go,rustls,nss,
#                wolfssl,botan
#   --filter S   only cells whose name (peer-role-feature) contains S
#   --keep       keep the work directory with every log
#   --list       print the cell names and exit
# Environment: INTEROP_OUT (artifacts, default build/interop), top_builddir,
#   KITLS_CLIENT, KITLS_SERVER, CELL_TIMEOUT (seconds per process, default 10).
# Artifacts: $INTEROP_OUT/matrix.txt (table), matrix.json (one row per cell:
#   peer, version, role, feature, result, reason), logs/ for failed cells.
# Exit: 0 ok, 1 a cell failed (strict) or the self-test failed, 77 (skip)
#   kitls tools or openssl missing in --self-test, 99 setup error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcroot=$(cd "$here/../.." && pwd)
top_builddir=${top_builddir:-$srcroot}
KITLS_CLIENT=${KITLS_CLIENT:-$top_builddir/examples/kitls-client}
KITLS_SERVER=${KITLS_SERVER:-$top_builddir/examples/kitls-server}
CELL_TIMEOUT=${CELL_TIMEOUT:-10}
OUT=${INTEROP_OUT:-build/interop}
ALL_PEERS="openssl gnutls go rustls nss wolfssl botan"

mode='' install='' filter='' keep='' list='' peers=$ALL_PEERS
while [ $# -gt 0 ]; do
    case $1 in
    --strict | --self-test | --run) mode=${1#--} ;;
    --install) install=1 ;;
    --peers) peers=${2//,/ }; shift ;;
    --filter) filter=$2; shift ;;
    --keep) keep=1 ;;
    --list) list=1 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "matrix.sh: unknown argument '$1'" >&2; exit 99 ;;
    esac
    shift
done
[ -n "$mode$list" ] || { echo "matrix.sh: give --strict, --self-test, --run or --list" >&2; exit 99; }
mkdir -p "$OUT" || exit 99
OUT=$(cd "$OUT" && pwd)

# ---------------------------------------------------------------------------
# --install: Debian 12 packages for every peer, then the normal run.
# ---------------------------------------------------------------------------
PACKAGES="openssl gnutls-bin libnss3-tools golang-go cargo librust-rustls-dev
librust-rustls-pemfile-dev libwolfssl-dev gcc botan iproute2
python3"
if [ -n "$install" ] && [ -z "${MATRIX_IN_NETNS:-}" ]; then
    echo "installing: $(echo $PACKAGES)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -q --no-install-recommends $PACKAGES >"$OUT/install.log" 2>&1 ||
        { echo "apt-get install failed; see $OUT/install.log"; tail -n 20 "$OUT/install.log"; exit 99; }
    if [ ! -x "$KITLS_CLIENT" ] || [ ! -x "$KITLS_SERVER" ]; then
        echo "building kitls (configure, make)"
        (cd "$srcroot" && { [ -f Makefile ] || { [ -x configure ] || autoreconf -fi; } && ./configure; } &&
            make -j2 examples/kitls-client examples/kitls-server) >"$OUT/build.log" 2>&1 ||
            { echo "kitls build failed; see $OUT/build.log"; tail -n 20 "$OUT/build.log"; exit 99; }
    fi
fi

# ---------------------------------------------------------------------------
# A private network namespace: gnutls-serv and selfserv listen on every
# interface; inside it only loopback exists.  Skipped when unshare is not
# permitted (then everything still binds or connects to 127.0.0.1).
# ---------------------------------------------------------------------------
if [ -z "$list" ] && [ -z "${MATRIX_IN_NETNS:-}" ] && command -v unshare >/dev/null &&
    unshare -n true 2>/dev/null; then
    exec unshare -n -- env MATRIX_IN_NETNS=1 bash -c 'ip link set lo up 2>/dev/null; exec bash "$@"' \
        matrix "$0" "--$mode" --peers "${peers// /,}" ${filter:+--filter "$filter"} ${keep:+--keep}
fi

# ---------------------------------------------------------------------------
# Cells.  Features per role: kc = kitls-client vs peer server, ks = peer
# client vs kitls-server.
# ---------------------------------------------------------------------------
SUITES="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256"
GROUPS_ALL="x25519 secp256r1 secp384r1"
FEATURES="suite-aes128 suite-aes256 suite-chacha20 group-x25519 group-secp256r1
group-secp384r1 hrr resume clientauth alpn keyupdate keyupdate-peer 0rtt cert-p256
cert-rsa2048 cert-rsapss cert-ed25519 sni close-kitls close-peer neg-untrusted
neg-hostname neg-noclientcert"

# Negative cells: the handshake must fail, with the right alert.
# cert-rsapss (a server certificate with an id-RSASSA-PSS key, which signs
# with rsa_pss_pss_*, RFC 8446 4.2.3) is positive where the peer implements
# rsa_pss_pss_*, negative where it does not (rsapss_refused).
is_negative() {
    case $1 in
    neg-*) return 0 ;;
    cert-rsapss) rsapss_refused ;;
    *) return 1 ;;
    esac
}
# cert-rsapss cells that must fail, by ${peer}:${role} (locals of cell()):
# the Go and rustls clients do not offer rsa_pss_pss_*, so kitls-server has
# no scheme for its key and refuses with handshake_failure; wolfSSL 5.5.4
# gets rsa_pss_pss_* wrong in both roles (see wolfssl_server/_client).
rsapss_refused() {
    case ${peer:-}:${role:-} in
    go:ks | rustls:ks | wolfssl:kc | wolfssl:ks) return 0 ;;
    esac
    return 1
}
# NSS enables rsa_pss_pss_* only when asked (-J): the list for the cells.
NSS_RSAPSS_SCHEMES=rsa_pss_pss_sha256,rsa_pss_pss_sha384,rsa_pss_pss_sha512,ecdsa_secp256r1_sha256
# The signature scheme a server certificate type signs with (kitls' view).
cert_sigalg() {
    case $1 in
    cert-p256) echo ecdsa_secp256r1_sha256 ;;
    cert-rsa2048) echo 'rsa_pss_rsae_sha(256|384|512)' ;;
    cert-rsapss) echo 'rsa_pss_pss_sha(256|384|512)' ;;
    cert-ed25519) echo ed25519 ;;
    esac
}

suite_of() {
    case $1 in
    suite-aes128) echo TLS_AES_128_GCM_SHA256 ;;
    suite-aes256) echo TLS_AES_256_GCM_SHA384 ;;
    suite-chacha20) echo TLS_CHACHA20_POLY1305_SHA256 ;;
    esac
}

# peer_na PEER ROLE FEATURE: the reason a cell cannot run, or nothing.
# These are limits of the peer (as packaged in Debian 12), not of kitls.
peer_na() {
    case $1:$2:$3 in
    go:ks:suite-*) echo "Go crypto/tls cannot restrict TLS 1.3 suites on the client (forced from the kitls side in the kc cells)" ;;
    go:*:0rtt) echo "Go crypto/tls has no 0-RTT" ;;
    rustls:kc:hrr) echo "rustls 0.20.8 server bug: its HelloRetryRequest echoes an empty legacy_session_id; see hrr-nocompat and hrr-peerbug" ;;
    wolfssl:*:0rtt) echo "Debian's libwolfssl 5.5.4 is built without WOLFSSL_EARLY_DATA" ;;
    nss:ks:alpn) echo "NSS tstclnt has no ALPN option" ;;
    nss:ks:0rtt) echo "not driven yet: tstclnt waits for the server to close and spins on a closed stdin pipe, and its 0-RTT (-Z -L 2) with a regular-file stdin under kitls-server --close-after-echo is untested; kitls-client covers 0-RTT against selfserv" ;;
    gnutls:kc:keyupdate-peer) echo "gnutls-serv has no way to send a KeyUpdate (gnutls-cli has ^rekey^: the ks cell)" ;;
    go:*:keyupdate-peer) echo "Go 1.19 crypto/tls has no API to send a KeyUpdate (it answers received ones: keyupdate cells)" ;;
    rustls:*:keyupdate-peer) echo "rustls 0.20.8 has no API to send a KeyUpdate (refresh_traffic_keys arrived in rustls 0.23); it answers received ones (keyupdate cells)" ;;
    nss:*:keyupdate-peer) echo "NSS selfserv/tstclnt have no option to send a KeyUpdate (SSL_KeyUpdate is API only)" ;;
    go:kc:cert-rsapss) echo "Go crypto/tls cannot load an id-RSASSA-PSS key (tls: unsupported private key); the ks cell covers kitls' refusal of a client without rsa_pss_pss_*" ;;
    rustls:kc:cert-rsapss) echo "rustls 0.20.8/ring cannot load an id-RSASSA-PSS key; the ks cell covers kitls' refusal of a client without rsa_pss_pss_*" ;;
    nss:*:cert-ed25519) echo "NSS 3.87 has no Ed25519 in TLS" ;;
    nss:kc:close-kitls) echo "selfserv prints nothing about a received close_notify, and it answers HTTP/1.0 by closing first (close-peer covers that direction)" ;;
    nss:ks:close-peer) echo "tstclnt never closes first: it waits for the server to close (close-kitls covers that direction)" ;;
    botan:*) echo "Botan 2.19 (Debian 12) implements TLS up to 1.2 only; TLS 1.3 arrived in Botan 3" ;;
    esac
}

# ---------------------------------------------------------------------------
# Peer versions.
# ---------------------------------------------------------------------------
dpkg_ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo missing; }
peer_version() {
    case $1 in
    openssl) openssl version 2>/dev/null | awk '{print "OpenSSL " $2}' ;;
    gnutls) gnutls-cli --version 2>/dev/null | sed -n 's/^gnutls-cli /GnuTLS /p' | head -n1 ;;
    go) echo "Go $(go env GOVERSION 2>/dev/null | sed 's/^go//') crypto/tls" ;;
    rustls) echo "rustls $(sed -n '/^name = "rustls"$/{n;s/version = "\(.*\)"/\1/p}' "$here/peers/rustls/Cargo.lock" 2>/dev/null) (ring $(sed -n '/^name = "ring"$/{n;s/version = "\(.*\)"/\1/p}' "$here/peers/rustls/Cargo.lock" 2>/dev/null), rustc $(rustc_bin --version 2>/dev/null | awk '{print $2}'))" ;;
    nss) echo "NSS $(dpkg_ver libnss3)" ;;
    wolfssl) echo "wolfSSL $(dpkg_ver libwolfssl-dev)" ;;
    botan) echo "Botan $(botan version 2>/dev/null || echo missing)" ;;
    esac
}
rustc_bin() { if [ -x /usr/bin/rustc ]; then /usr/bin/rustc "$@"; else rustc "$@"; fi; }
cargo_bin() { if [ -x /usr/bin/cargo ]; then echo /usr/bin/cargo; else command -v cargo; fi; }

# peer_missing PEER: why the peer cannot run at all here (tool absent).
peer_missing() {
    case $1 in
    openssl) command -v openssl >/dev/null || echo "openssl not installed" ;;
    gnutls) command -v gnutls-serv >/dev/null || echo "gnutls-bin not installed" ;;
    go) [ -x "$PEERS/go-peer" ] || echo "Go peer not built (golang-go missing?)" ;;
    rustls) [ -x "$PEERS/rustls-peer" ] || echo "rustls peer not built (cargo or librust-rustls-dev missing?)" ;;
    nss) command -v selfserv >/dev/null && command -v certutil >/dev/null || echo "libnss3-tools not installed" ;;
    wolfssl) [ -x "$PEERS/wolfssl-server" ] || echo "wolfSSL examples not built (libwolfssl-dev missing?)" ;;
    botan) command -v botan >/dev/null || echo "botan not installed" ;;
    esac
}

# ---------------------------------------------------------------------------
# Result rows and the artifacts (also used by the self-test on fake rows).
# ---------------------------------------------------------------------------
ROWS=()   # peer<TAB>version<TAB>role<TAB>feature<TAB>result<TAB>reason
add_row() { ROWS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"$'\t'"$5"$'\t'"${6:-}"); }

json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/ }
    s=${s//$'\n'/ }
    printf '"%s"' "$s"
}
# js VAR STRING: json_str into VAR without a subshell (forks are slow in
# some sandboxes; the matrix has hundreds of rows).
js() {
    local s=$2
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/ }
    s=${s//$'\n'/ }
    printf -v "$1" '"%s"' "$s"
}

# write_artifacts DIR MODE
write_artifacts() {
    local dir=$1 m=$2 r p v role f res why first=1 np=0 nf=0 nn=0 jp jv jr jf jres jw
    mkdir -p "$dir"
    for r in "${ROWS[@]}"; do
        IFS=$'\t' read -r p v role f res why <<<"$r"
        case $res in PASS) np=$((np + 1)) ;; FAIL) nf=$((nf + 1)) ;; *) nn=$((nn + 1)) ;; esac
    done
    {
        printf '{\n  "schema": "kitls-interop-matrix/1",\n  "mode": %s,\n' "$(json_str "$m")"
        printf '  "date": %s,\n  "kitls": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" \
            "$(json_str "$(git -C "$srcroot" describe --always --dirty 2>/dev/null || echo unknown)")"
        printf '  "summary": {"pass": %d, "fail": %d, "na": %d, "total": %d},\n' $np $nf $nn ${#ROWS[@]}
        printf '  "cells": [\n'
        for r in "${ROWS[@]}"; do
            IFS=$'\t' read -r p v role f res why <<<"$r"
            [ $first = 1 ] || printf ',\n'
            first=0
            js jp "$p"; js jv "$v"; js jr "$role"; js jf "$f"; js jres "$res"; js jw "$why"
            printf '    {"peer": %s, "version": %s, "role": %s, "feature": %s, "result": %s, "reason": %s}' \
                "$jp" "$jv" "$jr" "$jf" "$jres" "$jw"
        done
        printf '\n  ]\n}\n'
    } >"$dir/matrix.json"
    {
        echo "kitls interop matrix ($m), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "kc = kitls-client vs peer server; ks = peer client vs kitls-server"
        echo
        echo "Peers:"
        local seen=" "
        for r in "${ROWS[@]}"; do
            IFS=$'\t' read -r p v _ <<<"$r"
            case $seen in *" $p "*) continue ;; esac
            seen="$seen$p "
            printf '  %-10s %s\n' "$p" "$v"
        done
        echo
        printf '%-10s %-4s %-16s %-6s %s\n' peer role feature result reason
        for r in "${ROWS[@]}"; do
            IFS=$'\t' read -r p v role f res why <<<"$r"
            printf '%-10s %-4s %-16s %-6s %s\n' "$p" "$role" "$f" "$res" "$why"
        done
        echo
        echo "$np passed, $nf failed, $nn not applicable"
    } >"$dir/matrix.txt"
}

# check_artifacts DIR: parse matrix.json back and compare with matrix.txt.
check_artifacts() {
    python3 - "$1" <<'EOF'
import json, sys
d = sys.argv[1]
j = json.load(open(d + "/matrix.json"))
assert j["schema"] == "kitls-interop-matrix/1", "schema"
cells = j["cells"]
s = j["summary"]
assert s["total"] == len(cells), "total"
for k, want in (("pass", "PASS"), ("fail", "FAIL"), ("na", "N/A")):
    assert s[k] == sum(1 for c in cells if c["result"] == want), k
for c in cells:
    assert set(c) == {"peer", "version", "role", "feature", "result", "reason"}, c
    assert c["role"] in ("kc", "ks"), c
    assert c["result"] in ("PASS", "FAIL", "N/A"), c
    assert c["result"] != "N/A" or c["reason"], "N/A without a reason: %r" % c
txt = open(d + "/matrix.txt").read().splitlines()
rows = [l.split() for l in txt if l.split()[:1] and l.split()[0] in {c["peer"] for c in cells}
        and len(l.split()) >= 4 and l.split()[1] in ("kc", "ks")]
assert [(r[0], r[1], r[2], r[3]) for r in rows] == \
    [(c["peer"], c["role"], c["feature"], c["result"]) for c in cells], "txt/json differ"
print("artifacts ok: %d cells" % len(cells))
EOF
}

# ---------------------------------------------------------------------------
# Setup: tools, work directory, certificates, helper peers.
# ---------------------------------------------------------------------------
for tool in "$KITLS_CLIENT" "$KITLS_SERVER"; do
    if [ ! -x "$tool" ]; then
        echo "matrix.sh: $tool is not built"
        [ "$mode" = self-test ] && exit 77
        exit 99
    fi
done
if ! command -v openssl >/dev/null || ! command -v timeout >/dev/null; then
    echo "matrix.sh: openssl and timeout are needed"
    [ "$mode" = self-test ] && exit 77
    exit 99
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kitls-matrix.XXXXXX") || exit 99
PEERS=$OUT/peers
LOGS=$OUT/logs
[ "$mode" = self-test ] && LOGS=$OUT/self-test/logs
rm -rf "$LOGS"
mkdir -p "$PEERS" "$LOGS"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -n "$keep" ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pki=$work/pki
mkdir -p "$pki"
gen_pki() {
    cd "$pki" || return 1
    local days=2 kind newkey serial=10 cn ext out
    for ca in ca other-ca; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $ca.key \
            -out $ca.pem -days $days -subj "/CN=kitls matrix $ca" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
    done
    # keyEncipherment: NSS insists on it in RSA server certificates.
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
        "subjectAltName=DNS:localhost,IP:127.0.0.1" >server.ext
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=clientAuth" >client.ext
    for kind in server client; do
        newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
        cn=localhost ext=server.ext out=$kind
        [ $kind = client ] && cn="kitls matrix client" ext=client.ext
        openssl req -new "${newkey[@]}" -nodes -keyout $out.key.tmp -out $out.csr -subj "/CN=$cn" &&
            openssl pkcs8 -topk8 -nocrypt -in $out.key.tmp -out $out.key &&
            openssl x509 -req -in $out.csr -CA ca.pem -CAkey ca.key -set_serial $serial \
                -days $days -extfile $ext -out $out.pem || return 1
        serial=$((serial + 1))
    done
    # Server certificates of the other types (distinct subjects: NSS names
    # certificates by subject), one from an unrelated CA, one for another
    # name.
    local issuer
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
        "subjectAltName=DNS:wrong.example" >wrongname.ext
    for kind in rsa2048 rsapss ed25519 untrusted wrongname; do
        case $kind in
        rsa2048) newkey=(-newkey rsa:2048) ;;
        rsapss) newkey=(-newkey rsa-pss -pkeyopt rsa_keygen_bits:2048) ;;
        ed25519) newkey=(-newkey ed25519) ;;
        *) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
        esac
        issuer=ca ext=server.ext
        [ $kind = untrusted ] && issuer=other-ca
        [ $kind = wrongname ] && ext=wrongname.ext
        openssl req -new "${newkey[@]}" -nodes -keyout $kind.key.tmp -out $kind.csr \
            -subj "/O=kitls matrix $kind/CN=localhost" &&
            openssl pkcs8 -topk8 -nocrypt -in $kind.key.tmp -out $kind.key &&
            openssl x509 -req -in $kind.csr -CA $issuer.pem -CAkey $issuer.key -set_serial $serial \
                -days $days -extfile $ext -out $kind.pem || return 1
        serial=$((serial + 1))
    done
}
if ! (gen_pki) >"$pki/gen.log" 2>&1; then
    echo "matrix.sh: certificate generation failed:"
    sed 's/^/    /' "$pki/gen.log"
    exit 99
fi
CA=$pki/ca.pem
EARLY=$work/early.txt
printf 'early data from the client\n' >"$EARLY"
LINE=$work/line.txt
printf 'hello kitls\n' >"$LINE"
NO_EOF=$work/stdin.fifo
mkfifo "$NO_EOF" || exit 99
exec 3<>"$NO_EOF"

# Helper peers are built into $OUT/peers, rebuilt when their source changes.
build_peers() {
    local want=" $* " stamp
    if [[ $want == *" go "* ]] && command -v go >/dev/null; then
        stamp=$(cat "$here"/peers/go/*.go "$here/peers/go/go.mod" | sha256sum | cut -c1-16)
        if [ "$(cat "$PEERS/go-peer.stamp" 2>/dev/null)" != "$stamp" ]; then
            (cd "$here/peers/go" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE=$PEERS/go-cache \
                go build -o "$PEERS/go-peer" .) >"$PEERS/go-build.log" 2>&1 &&
                echo "$stamp" >"$PEERS/go-peer.stamp" || echo "Go peer build failed (see $PEERS/go-build.log)"
        fi
    fi
    if [[ $want == *" rustls "* ]] && [ -n "$(cargo_bin)" ] && [ -d /usr/share/cargo/registry/rustls-0.20.8 ]; then
        stamp=$(cat "$here/peers/rustls/src/main.rs" "$here/peers/rustls/Cargo.toml" | sha256sum | cut -c1-16)
        if [ "$(cat "$PEERS/rustls-peer.stamp" 2>/dev/null)" != "$stamp" ]; then
            echo "building the rustls peer (offline, Debian crates; about a minute)"
            (cd "$here/peers/rustls" && CARGO_TARGET_DIR=$PEERS/rustls-target "$(cargo_bin)" build \
                --release --offline) >"$PEERS/rustls-build.log" 2>&1 &&
                cp "$PEERS/rustls-target/release/rustls-peer" "$PEERS/rustls-peer" &&
                echo "$stamp" >"$PEERS/rustls-peer.stamp" || echo "rustls peer build failed (see $PEERS/rustls-build.log)"
        fi
    fi
    if [[ $want == *" wolfssl "* ]] && [ -f /usr/share/doc/libwolfssl-dev/examples/server.c ]; then
        # The examples ship as source only; they include two headers of
        # the wolfSSL source tree (declarations only) and look for
        # certs/dh2048.pem to find "the wolfSSL root".
        if [ ! -x "$PEERS/wolfssl-server" ] || [ ! -x "$PEERS/wolfssl-client" ]; then
            local inc=$PEERS/wolfssl-inc
            mkdir -p "$inc/examples/client" "$inc/examples/server" "$PEERS/wolfssl-root/certs"
            printf '#pragma once\nTHREAD_RETURN WOLFSSL_THREAD client_test(void* args);\n' \
                >"$inc/examples/client/client.h"
            printf '#pragma once\nTHREAD_RETURN WOLFSSL_THREAD server_test(void* args);\n' \
                >"$inc/examples/server/server.h"
            : >"$PEERS/wolfssl-root/certs/dh2048.pem"
            { gcc -O1 -w -I"$inc" -o "$PEERS/wolfssl-client" \
                /usr/share/doc/libwolfssl-dev/examples/client.c -lwolfssl -lm -lpthread &&
                gcc -O1 -w -I"$inc" -o "$PEERS/wolfssl-server" \
                    /usr/share/doc/libwolfssl-dev/examples/server.c -lwolfssl -lm -lpthread; } \
                >"$PEERS/wolfssl-build.log" 2>&1 || echo "wolfSSL examples build failed (see $PEERS/wolfssl-build.log)"
        fi
    fi
}

# NSS database with the CA (trusted) and the server and client keys.
NSSDB=$work/nssdb
make_nssdb() {
    mkdir -p "$NSSDB" && cd "$pki" || return 1
    certutil -N -d "sql:$NSSDB" --empty-password &&
        certutil -A -d "sql:$NSSDB" -n ca -t "CT,C,C" -i ca.pem &&
        openssl pkcs12 -export -in server.pem -inkey server.key -name localhost -out server.p12 -passout pass: &&
        openssl pkcs12 -export -in client.pem -inkey client.key -name client -out client.p12 -passout pass: &&
        pk12util -i server.p12 -d "sql:$NSSDB" -W '' &&
        pk12util -i client.p12 -d "sql:$NSSDB" -W '' || return 1
    local k
    mkdir -p "$NSSDB-ca" && certutil -N -d "sql:$NSSDB-ca" --empty-password &&
        certutil -A -d "sql:$NSSDB-ca" -n ca -t "CT,C,C" -i ca.pem || return 1
    for k in rsa2048 rsapss untrusted; do
        openssl pkcs12 -export -in $k.pem -inkey $k.key -name $k -out $k.p12 -passout pass: &&
            pk12util -i $k.p12 -d "sql:$NSSDB" -W '' || return 1
    done
}

# ---------------------------------------------------------------------------
# Process helpers.  Each cell runs in its own directory $d.
# ---------------------------------------------------------------------------
wait_for() { # PID COND...: up to ~5 s
    local pid=$1 _
    shift
    for _ in $(seq 100); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || { "$@"; return; }
        sleep 0.05
    done
    return 1
}
port_listening() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }
ready_file() { [ -s "$d/ready" ]; }
free_port() {
    local p _
    for _ in $(seq 20); do
        # Below the ephemeral range (32768-60999): client ports in
        # TIME_WAIT cannot collide with it.
        p=$((20000 + RANDOM % 12000))
        port_listening "$p" || { echo "$p"; return; }
    done
    echo 44330
}

# bg_server CMD...: start in $d (stdout server.out, stderr server.err).
bg_server() {
    timeout "$CELL_TIMEOUT" "$@" >"$d/server.out" 2>"$d/server.err" <"${SRV_STDIN:-/dev/null}" &
    srv_pid=$!
    pids+=("$srv_pid")
}
# A server on a port we picked: wait until it listens.
listen_server() {
    local a args try
    for try in 1 2 3; do
        srv_port=$(free_port)
        args=()
        for a in "$@"; do args+=("${a//PORT/$srv_port}"); done
        bg_server "${args[@]}"
        wait_for "$srv_pid" port_listening "$srv_port" && kill -0 "$srv_pid" 2>/dev/null && return 0
        kill "$srv_pid" 2>/dev/null
        wait "$srv_pid" 2>/dev/null
    done
    return 1
}
# Let a server that serves N connections exit by itself (up to 3 s), then
# stop it.  srv_rc is its status, or "killed".
end_server() {
    local _
    [ -n "$srv_pid" ] || return 0
    local n=30
    [ -n "${SRV_FOREVER:-}" ] && n=2
    for _ in $(seq $n); do
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$srv_pid" 2>/dev/null; then
        kill "$srv_pid" 2>/dev/null
        wait "$srv_pid" 2>/dev/null
        srv_rc=killed
    else
        wait "$srv_pid" 2>/dev/null
        srv_rc=$?
    fi
    srv_pid=
}

# run_client NAME CMD...: stdin from $CLI_INPUT (a function) or /dev/null;
# output NAME.out / NAME.err; cli_rc.
run_client() {
    local name=$1
    shift
    if [ -n "${CLI_INPUT:-}" ]; then
        "$CLI_INPUT" | timeout "$CELL_TIMEOUT" "$@" >"$d/$name.out" 2>"$d/$name.err"
    elif [ -n "${CLI_STDIN:-}" ]; then
        # A regular file (tstclnt spins on a pipe's hang-up).
        timeout "$CELL_TIMEOUT" "$@" >"$d/$name.out" 2>"$d/$name.err" <"$CLI_STDIN"
    else
        timeout "$CELL_TIMEOUT" "$@" >"$d/$name.out" 2>"$d/$name.err" </dev/null
    fi
    cli_rc=$?
    echo "$name: $*" >>"$d/commands"
}

# ---------------------------------------------------------------------------
# Expectations: FILE-prefixed specs, judged after the cell ran.
#   rc:NAME=0 | rc:NAME!=0      exit status of the client run NAME (cli_rc
#                               of the last run is "client")
#   NAME=LINE                   exact line in NAME.out
#   NAME~ERE / !NAME~ERE        ERE found (not found) in NAME.out+NAME.err
# ---------------------------------------------------------------------------
reasons=()
declare -A rcs=()
check() {
    local spec neg f
    for spec in "$@"; do
        neg=
        case $spec in '!'*) neg=1 spec=${spec#!} ;; esac
        case $spec in
        rc:*'!=0') f=${spec#rc:}; f=${f%!=0}
            [ "${rcs[$f]:-x}" != 0 ] || reasons+=("$f exit 0, expected failure") ;;
        rc:*=0) f=${spec#rc:}; f=${f%=0}
            [ "${rcs[$f]:-x}" = 0 ] || reasons+=("$f exit ${rcs[$f]:-none}, expected 0") ;;
        *~*) f=${spec%%~*}
            if cat "$d/$f.out" "$d/$f.err" 2>/dev/null | grep -Eq -- "${spec#*~}"; then
                [ -z "$neg" ] || reasons+=("$f output matches '${spec#*~}'")
            else
                [ -n "$neg" ] || reasons+=("$f output lacks '${spec#*~}'")
            fi ;;
        *=*) f=${spec%%=*}
            grep -Fxq -- "${spec#*=}" "$d/$f.out" 2>/dev/null ||
                reasons+=("missing line '${spec#*=}' in $f.out") ;;
        *) reasons+=("bad spec '$spec'") ;;
        esac
    done
}
client_done() { rcs[$1]=$cli_rc; }

# ---------------------------------------------------------------------------
# kitls sides.
# ---------------------------------------------------------------------------
KMSG=$'hello kitls\n'
PALINDROMES=$'kayak\nracecar\nlevel\n'
HTTP_GET=$'GET / HTTP/1.0\r\n\r\n'

# kitls_client NAME ARGS...: data mode from $DATA: echo (the peer echoes
# KMSG), rev (s_server -rev: palindromes), http (send a GET, print the
# answer), relay (stdin /dev/null: close after the handshake / early data).
kitls_client() {
    local name=$1 data=()
    shift
    case ${DATA:-echo} in
    echo) data=(--echo --message "${EMSG:-$KMSG}") ;;
    rev) data=(--echo --message "$PALINDROMES") ;;
    http) data=(--message "$HTTP_GET") ;;
    http-early) data=(--message "$HTTP_GET") ;;
    # Send KMSG, print what the server sends until it closes: exit 0 only
    # after the server's close_notify.
    message) data=(--message "$KMSG") ;;
    relay) data=() ;;
    esac
    run_client "$name" "$KITLS_CLIENT" --port "$srv_port" --cafile "$CA" --servername localhost \
        --print --timeout 5 "${data[@]}" "$@"
    client_done "$name"
}
kitls_data_ok() {
    case ${DATA:-echo} in
    echo | rev) check "$1~^echo: ok" ;;
    esac
}

start_kitls_server() {
    rm -f "$d/ready"
    bg_server "$KITLS_SERVER" --print --port 0 --host 127.0.0.1 --ready-file "$d/ready" \
        --timeout 5 --cert "$pki/${KS_CERT:-server}.pem" --key "$pki/${KS_CERT:-server}.key" --echo "$@"
    wait_for "$srv_pid" ready_file || return 1
    srv_port=$(cat "$d/ready")
}

# kc cell: peer server ($1_server FEATURE: start it, set DATA, NACCEPT),
# kitls-client, then kitls-side and peer-side ($1_server_check) judgement.
# The peer server's certificate is $SRV_CERT/$SRV_KEY (NSS: nickname
# $SRV_NICK).
kc_cell() {
    local peer=$1 f=$2 k=() n=1 kind
    case $f in
    suite-*) k=(--suites "$(suite_of "$f")") ;;
    group-*) k=(--groups "${f#group-}") ;;
    hrr) k=(--groups x25519,secp384r1) ;;
    clientauth) k=(--cert "$pki/client.pem" --key "$pki/client.key") ;;
    alpn) k=(--alpn x-kitls-unknown,http/1.1) ;;
    keyupdate) k=(--key-update 2 --key-update-request) ;;
    resume | 0rtt) n=2 ;;
    hrr-nocompat) k=(--groups x25519,secp384r1 --no-compat) ;;
    hrr-peerbug) k=(--groups x25519,secp384r1) ;;
    neg-hostname) k=(--servername wrong.example) ;;
    esac
    kind=
    case $f in
    cert-rsa2048 | cert-rsapss | cert-ed25519) kind=${f#cert-} ;;
    neg-untrusted) kind=untrusted ;;
    esac
    if [ -n "$kind" ]; then SRV_CERT=$pki/$kind.pem SRV_KEY=$pki/$kind.key SRV_NICK=$kind; fi
    DATA=echo EMSG=
    # Two lines: the KeyUpdates go between them (line-echo servers answer
    # whole lines only).
    [ "$f" = keyupdate ] && EMSG=$'before update\nafter update\n'

    NACCEPT=$n
    [ "$peer:$f" = wolfssl:sni ] && NACCEPT=2
    "${peer}_server" "$f" || { reasons+=("$peer server did not start"); return; }
    case $f in
    resume)
        kitls_client first --sess-out "$d/sess"
        kitls_client client --sess-in "$d/sess" ;;
    0rtt)
        kitls_client first --sess-out "$d/sess"
        if [ "$peer" = nss ]; then
            # Past selfserv's anti-replay start-up window.
            while [ $((SECONDS - NSS_STARTED)) -lt 11 ]; do sleep 0.5; done
        fi
        kitls_client client --sess-in "$d/sess" --early-data "$EARLY" ;;
    keyupdate-peer)
        # Relay: a line, (the server's KeyUpdate), a line after it.
        CLI_INPUT=ku_relay_input kitls_client client ;;
    *) kitls_client client "${k[@]}" ;;
    esac
    if [ "$peer:$f" = wolfssl:sni ]; then
        # Control: another name must be refused (so the first one was seen).
        kitls_client ctl --servername other.example --no-verify
        check rc:ctl!=0 "ctl~alert received: unrecognized_name"
    fi
    end_server
    if [ "$f" = hrr-peerbug ]; then
        # Negative cell: the peer's HelloRetryRequest breaks RFC 8446; kitls
        # must abort with illegal_parameter.
        check rc:client!=0 "client~alert sent: illegal_parameter"
        return
    fi
    if is_negative "$f"; then
        check rc:client!=0
        case $f in
        neg-untrusted) check "client~alert sent: unknown_ca \(48\)" ;;
        neg-hostname) check "client~alert sent: bad_certificate \(42\)" ;;
        neg-noclientcert) check "client~${KC_EXPECT:-alert received: certificate_required \(116\)}" ;;
        cert-rsapss) check "client~${KC_EXPECT:-alert received: handshake_failure \(40\)}" ;;
        esac
        if declare -F "${peer}_server_check" >/dev/null; then "${peer}_server_check" "$f"; fi
        return
    fi
    check rc:client=0
    kitls_data_ok client
    case $f in
    suite-*) check "client=suite: $(suite_of "$f")" ;;
    group-*) check "client=group: ${f#group-}" "client=hrr: no" ;;
    hrr | hrr-nocompat) check "client=hrr: yes" "client=group: secp384r1" ;;
    resume) check rc:first=0 "first=resumed: no" "client=resumed: yes" ;;
    0rtt) check rc:first=0 "client=resumed: yes" "client=early-data: accepted" ;;
    clientauth) check "client=peer-authenticated: yes" ;;
    alpn) check "client=alpn: http/1.1" ;;
    # Printed in echo mode only (http: the peer answers the split request).
    keyupdate) [ "$DATA" = http ] || check "client~^key-update: sent 2 \(update_requested\)" ;;
    cert-*) check "client~^peer-sigalg: $(cert_sigalg "$f")\$" ;;
    esac
    if declare -F "${peer}_server_check" >/dev/null; then "${peer}_server_check" "$f"; fi
}
ku_relay_input() { printf 'before update\n'; sleep 0.8; printf 'after update\n'; sleep 0.6; }

# ks cell: kitls-server, peer client ($1_client FEATURE: run it and check
# its side), kitls-server side judgement.  Negative cells: the peer client
# must fail (checked by the adapter), kitls-server must fail with the alert
# sent or received that the cell names (KS_ALERT: the peer's alert).
ks_cell() {
    local peer=$1 f=$2 k=()
    case $f in
    suite-*) k=(--suites "$(suite_of "$f")") ;;
    group-*) k=(--groups "${f#group-}") ;;
    hrr) k=(--groups secp384r1) ;;
    clientauth) k=(--verify require --cafile "$CA") ;;
    alpn) k=(--alpn h2,http/1.1) ;;
    keyupdate) k=(--key-update 1 --key-update-request) ;;
    resume) k=(--naccept 2) ;;
    0rtt) k=(--naccept 2 --early-data 16384) ;;
    close-kitls) k=(--close-after-echo) ;;
    neg-noclientcert) k=(--verify require --cafile "$CA") ;;
    esac
    case $f in
    cert-rsa2048 | cert-rsapss | cert-ed25519) KS_CERT=${f#cert-} ;;
    neg-untrusted) KS_CERT=untrusted ;;
    # The certificate names wrong.example only; the peer expects localhost.
    neg-hostname) KS_CERT=wrongname ;;
    esac
    case $f in resume | 0rtt) ;; *) k+=(--once) ;; esac
    # tstclnt waits for the server to close.
    if [ "$peer" = nss ]; then
        case $f in keyupdate) k+=(--close-after-echo) ;; esac
    fi
    start_kitls_server "${k[@]}" || { reasons+=("kitls-server did not start"); return; }
    KS_ALERT=
    "${peer}_client" "$f"
    end_server
    if is_negative "$f"; then
        [ "$srv_rc" != 0 ] || reasons+=("kitls-server exit 0, expected failure")
        case $f in
        neg-untrusted) check "server~${KS_ALERT:-alert received: unknown_ca \(48\)}" ;;
        neg-hostname) check "server~${KS_ALERT:-alert received: bad_certificate \(42\)}" ;;
        neg-noclientcert) check "server~alert sent: certificate_required \(116\)" ;;
        cert-rsapss) check "server~${KS_ALERT:-alert sent: handshake_failure \(40\)}" ;;
        esac
        return
    fi
    [ "$srv_rc" = 0 ] || reasons+=("kitls-server exit $srv_rc, expected 0")
    case $f in
    suite-*) check "server=suite: $(suite_of "$f")" ;;
    group-*) check "server=group: ${f#group-}" ;;
    hrr) check "server=hrr: yes" "server=group: secp384r1" ;;
    resume) check "server=resumed: no" "server=resumed: yes" ;;
    0rtt) check "server=resumed: yes" "server=early-data: accepted" "server~^early-data-bytes: [1-9]" ;;
    clientauth) check "server=peer-authenticated: yes" ;;
    alpn) check "server=alpn: http/1.1" ;;
    cert-*) check "server~^sigalg: $(cert_sigalg "$f")\$" ;;
    sni) check "server=server-name: localhost" ;;
    # kitls-server sent close_notify first; the peer answered with its own
    # (gnutls-cli 3.7.9 exits without answering: its side is judged).
    close-kitls) [ "$peer" = gnutls ] || check "server=peer-close-notify: yes" ;;
    # kitls-server --echo exits 0 only after the client's close_notify (a
    # bare TCP EOF is an error); it answers with its own.
    close-peer) check "server~connection closed" ;;
    esac
}

# ---------------------------------------------------------------------------
# Peer adapters.  X_server FEATURE (kc cells) and X_client FEATURE (ks
# cells).  The peer-side check of a ks cell is that the peer client got
# kitls-server's echo (and its own view of the feature where it prints one).
# ---------------------------------------------------------------------------

# --- OpenSSL: s_server / s_client -------------------------------------------
ossl_group() { case $1 in x25519) echo X25519 ;; secp256r1) echo P-256 ;; secp384r1) echo P-384 ;; esac; }
openssl_server() {
    local f=$1 a=(-tls1_3 -accept 0 -naccept "$NACCEPT" -cert "$SRV_CERT" -key "$SRV_KEY")
    local smode=(-rev)
    DATA=rev
    case $f in
    suite-*) a+=(-ciphersuites "$(suite_of "$f")") ;;
    group-*) a+=(-groups "$(ossl_group "${f#group-}")") ;;
    hrr) a+=(-groups P-384) ;;
    clientauth | neg-noclientcert) a+=(-Verify 1 -CAfile "$CA") ;;
    alpn) a+=(-alpn http/1.1) ;;
    keyupdate | close-kitls) a+=(-msg) ;;
    # The callback for -servername prints the name the client sent.
    sni) a+=(-servername localhost -cert2 "$SRV_CERT" -key2 "$SRV_KEY") ;;
    # Only the plain mode reads early data (and needs a stdin that stays open).
    0rtt) a+=(-early_data) smode=() DATA=relay ;;
    # Plain mode: "K" on stdin sends a KeyUpdate (update_requested).
    keyupdate-peer) a+=(-msg) smode=() DATA=relay ;;
    # -www answers the GET and closes first (close_notify).
    close-peer) a+=(-msg) smode=(-www) DATA=http ;;
    esac
    SRV_STDIN=/dev/null
    [ ${#smode[@]} -gt 0 ] || SRV_STDIN=$NO_EOF
    if [ "$f" = keyupdate-peer ]; then
        mkfifo "$d/srv.in" && exec 8<>"$d/srv.in"
        SRV_STDIN=$d/srv.in
    fi
    bg_server openssl s_server "${a[@]}" "${smode[@]}"
    SRV_STDIN=
    wait_for "$srv_pid" grep -qs '^ACCEPT' "$d/server.out" || return 1
    srv_port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$d/server.out" | head -n1)
    if [ "$f" = keyupdate-peer ]; then
        # Once the handshake is done: a KeyUpdate, then a line under the
        # new keys.
        (wait_for "$srv_pid" grep -qs 'CIPHER is' "$d/server.out" &&
            printf 'K\n' >&8 && sleep 0.2 && printf 'server after update\n' >&8) &
        pids+=($!)
    fi
    [ -n "$srv_port" ]
}
openssl_server_check() {
    case $1 in
    0rtt) check "server~Early data received" "server~early data from the client" ;;
    # 2 received (update_requested), answered by one of its own.
    keyupdate) check "server~^<<< .*KeyUpdate" "server~^>>> .*KeyUpdate" ;;
    # s_server sent one (update_requested) and got kitls' answer; kitls
    # read the line sent after it, and s_server the line kitls sent after.
    keyupdate-peer) exec 8>&-
        check "server~^>>> .*KeyUpdate" "server~^<<< .*KeyUpdate" "client=server after update" \
            "server=after update" ;;
    sni) check 'server~^Hostname in TLS extension: "localhost"' ;;
    close-kitls) check "server~^<<< .*Alert.*close_notify" ;;
    # kitls-client (--message) exits 0 only after s_server's close_notify.
    close-peer) check "server~^>>> .*Alert.*close_notify" "client~^HTTP/1.0 200 ok" ;;
    neg-untrusted) check "server~alert unknown ca" ;;
    neg-hostname) check "server~alert bad certificate" ;;
    neg-noclientcert) check "server~peer did not return a certificate" ;;
    esac
    # s_server exits 0 even after a failed handshake: judge by its output.
    is_negative "$1" || check '!server~:error:'
}
ossl_input() { printf 'hello kitls\n'; sleep 0.6; }
ossl_input_slow() { printf 'before update\n'; sleep 0.4; printf 'after update\n'; sleep 0.6; }
# "K" as its own read: s_client sends a KeyUpdate (update_requested).
ossl_input_ku() { printf 'before update\n'; sleep 0.3; printf 'K\n'; sleep 0.3; printf 'after update\n'; sleep 0.6; }
openssl_client() {
    local f=$1 a=(-connect "127.0.0.1:$srv_port" -tls1_3 -CAfile "$CA" -verify_return_error
        -servername localhost -verify_hostname localhost)
    CLI_INPUT=ossl_input
    case $f in
    suite-*) a+=(-ciphersuites "$(suite_of "$f")") ;;
    group-*) a+=(-groups "$(ossl_group "${f#group-}")") ;;
    hrr) a+=(-groups X25519:P-384) ;;
    clientauth) a+=(-cert "$pki/client.pem" -key "$pki/client.key") ;;
    alpn) a+=(-alpn http/1.1) ;;
    keyupdate) CLI_INPUT=ossl_input_slow ;;
    keyupdate-peer) CLI_INPUT=ossl_input_ku a+=(-msg) ;;
    close-kitls | close-peer) a+=(-msg) ;;
    # -servername and -verify_hostname: the last one given counts.
    # -msg: its alert goes out unencrypted (no handshake keys yet); kitls
    # reads such an alert during its first flight and reports it.
    neg-untrusted | neg-hostname) a+=(-msg) ;;
    esac
    case $f in
    resume | 0rtt)
        run_client first openssl s_client "${a[@]}" -sess_out "$d/sess"
        client_done first
        local x=()
        [ "$f" = 0rtt ] && x=(-early_data "$EARLY")
        run_client client openssl s_client "${a[@]}" -sess_in "$d/sess" "${x[@]}"
        client_done client
        check rc:first=0 "client~Reused, TLSv1.3"
        [ "$f" = 0rtt ] && check "client~Early data was accepted" "client=early data from the client" ;;
    *) run_client client openssl s_client "${a[@]}"
        client_done client ;;
    esac
    CLI_INPUT=
    if is_negative "$f"; then
        check rc:client!=0
        case $f in
        neg-untrusted) check "client~Verify return code: 20 " "client~^>>> .*Alert.*fatal unknown_ca" ;;
        neg-hostname) check "client~Verify return code: 62 " "client~^>>> .*Alert.*fatal bad_certificate" ;;
        neg-noclientcert) check "client~alert certificate required" ;;
        esac
        return
    fi
    check rc:client=0 "client~Verify return code: 0 \(ok\)"
    case $f in
    keyupdate | keyupdate-peer) check "client=before update" "client=after update" ;;
    *) check "client=hello kitls" ;;
    esac
    case $f in
    suite-*) check "client~Cipher is $(suite_of "$f")" ;;
    alpn) check "client~ALPN protocol: http/1.1" ;;
    # s_client sent one (update_requested); kitls-server answered.
    keyupdate-peer) check "client~^KEYUPDATE" "client~^>>> .*KeyUpdate" "client~^<<< .*KeyUpdate" ;;
    close-kitls) check "client~^<<< .*Alert.*close_notify" ;;
    close-peer) check "client~^>>> .*Alert.*close_notify" ;;
    esac
}

# --- GnuTLS: gnutls-serv / gnutls-cli --------------------------------------
GPRIO='NORMAL:-VERS-ALL:+VERS-TLS1.3'
gn_cipher() {
    case $1 in
    TLS_AES_128_GCM_SHA256) echo AES-128-GCM ;;
    TLS_AES_256_GCM_SHA384) echo AES-256-GCM ;;
    TLS_CHACHA20_POLY1305_SHA256) echo CHACHA20-POLY1305 ;;
    esac
}
gn_group() { case $1 in x25519) echo X25519 ;; secp256r1) echo SECP256R1 ;; secp384r1) echo SECP384R1 ;; esac; }
gnutls_prio() {
    case $1 in
    suite-*) echo "$GPRIO:-CIPHER-ALL:+$(gn_cipher "$(suite_of "$1")")" ;;
    group-*) echo "$GPRIO:-GROUP-ALL:+GROUP-$(gn_group "${1#group-}")" ;;
    *) echo "$GPRIO" ;;
    esac
}
gnutls_server() {
    local f=$1 prio a=()
    prio=$(gnutls_prio "$f")
    case $f in
    hrr) prio="$GPRIO:-GROUP-ALL:+GROUP-SECP384R1" ;;
    clientauth | neg-noclientcert) a+=(--require-client-cert --x509cafile "$CA") ;;
    alpn) a+=(--alpn http/1.1) ;;
    # gnutls-serv reads the early data but does not echo it: kitls-client
    # sends it and closes.
    0rtt) a+=(--earlydata) DATA=relay ;;
    # -d 5 logs the alerts received and sent.
    close-kitls) a+=(-d 5) ;;
    esac
    local smode=(--echo)
    # The HTTP mode answers the GET and closes first (close_notify).
    [ "$f" = close-peer ] && smode=(-d 5) DATA=http
    SRV_FOREVER=1
    listen_server gnutls-serv "${smode[@]}" -p PORT --priority "$prio" \
        --x509certfile "$SRV_CERT" --x509keyfile "$SRV_KEY" "${a[@]}"
}
gnutls_server_check() {
    case $1 in
    clientauth) check "server~Client Signature: ECDSA" ;;
    resume) check "server~This is a resumed session" ;;
    sni) check "server~^- Given server name\[1\]: localhost" ;;
    close-kitls) check "server~Alert\[1\|0\] - Close notify - was received" ;;
    close-peer) check "server~Sending Alert\[1\|0\] - Close notify" "client~^HTTP/1.0 200 OK" ;;
    neg-untrusted | neg-hostname) check "server~A TLS fatal alert has been received" ;;
    neg-noclientcert) check "server~(certificate|Certificate)" ;;
    esac
}
gn_input() { printf 'hello kitls\n'; }
gn_input_slow() { printf 'before update\n'; sleep 0.4; printf 'after update\n'; }
# --inline-commands: ^rekey^ updates both sides' keys (update_requested).
gn_input_ku() { printf 'before update\n'; sleep 0.3; printf '^rekey^\n'; sleep 0.3; printf 'after update\n'; sleep 0.3; }
gn_input_wait() { printf 'hello kitls\n'; sleep 0.8; }
gnutls_client() {
    local f=$1 prio a=()
    prio=$(gnutls_prio "$f")
    CLI_INPUT=gn_input
    case $f in
    hrr) prio="$GPRIO:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1" ;;
    clientauth) a+=(--x509certfile "$pki/client.pem" --x509keyfile "$pki/client.key") ;;
    alpn) a+=(--alpn http/1.1) ;;
    keyupdate) CLI_INPUT=gn_input_slow ;;
    resume) a+=(--resume) ;;
    0rtt) a+=(--resume --earlydata "$EARLY") ;;
    keyupdate-peer) CLI_INPUT=gn_input_ku a+=(--inline-commands -d 4) ;;
    # Stdin stays open: kitls-server closes first.
    close-kitls) CLI_INPUT=gn_input_wait a+=(-d 5) ;;
    close-peer) a+=(-d 5) ;;
    neg-untrusted) KS_ALERT='alert received: bad_certificate \(42\)' ;;
    esac
    run_client client gnutls-cli --x509cafile "$CA" --port "$srv_port" --priority "$prio" \
        "${a[@]}" localhost
    client_done client
    CLI_INPUT=
    if is_negative "$f"; then
        check rc:client!=0
        case $f in
        neg-untrusted) check "client~The certificate issuer is unknown" ;;
        neg-hostname) check "client~(does not match|hostname)" ;;
        neg-noclientcert) check "client~(Certificate is required|certificate required)" ;;
        esac
        return
    fi
    check rc:client=0
    case $f in
    keyupdate | keyupdate-peer) check "client=before update" "client=after update" ;;
    0rtt) check "client=early data from the client" "client=hello kitls" "client~This is a resumed session" ;;
    resume) check "client=hello kitls" "client~This is a resumed session" ;;
    *) check "client=hello kitls" ;;
    esac
    case $f in
    suite-*) check "client~\($(gn_cipher "$(suite_of "$f")")\)" ;;
    group-*) check "client~\(ECDHE-$(gn_group "${f#group-}")\)" ;;
    alpn) check "client~Application protocol: http/1.1" ;;
    # gnutls-cli sent update_requested; kitls-server's answer arrived.
    keyupdate-peer) check "client~- Rekey was completed" "client~received TLS 1.3 key update \(0\)" ;;
    close-kitls) check "client~Close notify - was received" "client~Peer has closed the GnuTLS connection" ;;
    close-peer) check "client~Sending Alert\[1\|0\] - Close notify" ;;
    esac
}

# --- Go crypto/tls and rustls: our peers in tests/interop/peers ------------
go_server() {
    local f=$1 a=()
    case $f in
    group-*) a+=(-groups "${f#group-}") ;;
    hrr) a+=(-groups secp384r1) ;;
    clientauth) a+=(-client-ca "$CA") ;;
    # Go 1.19 answers a missing client certificate with bad_certificate.
    neg-noclientcert) a+=(-client-ca "$CA") KC_EXPECT='alert received: bad_certificate \(42\)' ;;
    alpn) a+=(-alpn http/1.1) ;;
    close-peer) a+=(-close-first) DATA=message ;;
    esac
    rm -f "$d/ready"
    bg_server "$PEERS/go-peer" server -port 0 -ready "$d/ready" -naccept "$NACCEPT" \
        -cert "$SRV_CERT" -key "$SRV_KEY" "${a[@]}"
    wait_for "$srv_pid" ready_file || return 1
    srv_port=$(cat "$d/ready")
}
go_server_check() {
    if is_negative "$1"; then
        case $1 in
        neg-untrusted) check "server~remote error: tls: unknown certificate authority" ;;
        neg-hostname) check "server~remote error: tls: bad certificate" ;;
        neg-noclientcert) check "server~client didn't provide a certificate" ;;
        esac
        return
    fi
    check "server~^1 protocol: TLSv1.3"
    [ "$srv_rc" = 0 ] || reasons+=("go server exit $srv_rc")
    case $1 in
    suite-*) check "server=1 suite: $(suite_of "$1")" ;;
    clientauth) check "server=1 peer-authenticated: yes" ;;
    alpn) check "server=1 alpn: http/1.1" ;;
    resume) check "server=2 resumed: yes" ;;
    sni) check "server=1 server-name: localhost" ;;
    close-kitls) check "server=1 close-notify: received" ;;
    # kitls-client (--message) exits 0 only after the server's close_notify.
    close-peer) check "server=1 close-notify: received" "client=hello kitls" ;;
    esac
}
go_client() {
    local f=$1 a=()
    case $f in
    group-*) a+=(-groups "${f#group-}") ;;
    hrr) a+=(-groups x25519,secp384r1) ;;
    clientauth) a+=(-cert "$pki/client.pem" -key "$pki/client.key") ;;
    alpn) a+=(-alpn http/1.1) ;;
    resume) a+=(-resume) ;;
    neg-untrusted) KS_ALERT='alert received: bad_certificate \(42\)' ;;
    esac
    run_client client "$PEERS/go-peer" client -port "$srv_port" -ca "$CA" -name localhost \
        -message "$KMSG" "${a[@]}"
    client_done client
    if is_negative "$f"; then
        check rc:client!=0
        case $f in
        neg-untrusted) check "client~certificate signed by unknown authority" ;;
        neg-hostname) check "client~certificate is valid for wrong.example, not localhost" ;;
        neg-noclientcert) check "client~remote error: tls: certificate required" ;;
        cert-rsapss) check "client~remote error: tls: handshake failure" ;;
        esac
        return
    fi
    check rc:client=0 "client~^1 echo: ok" "client=1 protocol: TLSv1.3"
    case $f in
    alpn) check "client=1 alpn: http/1.1" ;;
    resume) check "client=2 resumed: yes" "client~^2 echo: ok" ;;
    close-kitls | close-peer) check "client=1 close-notify: received" ;;
    esac
}

rustls_server() {
    local f=$1 a=()
    case $f in
    suite-*) a+=(--suites "$(suite_of "$f")") ;;
    group-*) a+=(--groups "${f#group-}") ;;
    hrr | hrr-nocompat | hrr-peerbug) a+=(--groups secp384r1) ;;
    clientauth | neg-noclientcert) a+=(--client-ca "$CA") ;;
    alpn) a+=(--alpn http/1.1) ;;
    0rtt) a+=(--early-data) ;;
    close-peer) a+=(--close-first) DATA=message ;;
    esac
    rm -f "$d/ready"
    bg_server "$PEERS/rustls-peer" server --port 0 --ready "$d/ready" --naccept "$NACCEPT" \
        --cert "$SRV_CERT" --key "$SRV_KEY" "${a[@]}"
    wait_for "$srv_pid" ready_file || return 1
    srv_port=$(cat "$d/ready")
}
rustls_server_check() {
    if is_negative "$1"; then
        case $1 in
        neg-untrusted) check "server~received fatal alert: UnknownCA" ;;
        neg-hostname) check "server~received fatal alert: BadCertificate" ;;
        neg-noclientcert) check "server~(NoCertificatesPresented|certificate)" ;;
        esac
        return
    fi
    [ "$srv_rc" = 0 ] || reasons+=("rustls server exit $srv_rc")
    case $1 in
    sni) check "server=1 server-name: localhost" ;;
    close-kitls) check "server=1 close-notify: received" ;;
    close-peer) check "server=1 close-notify: received" "client=hello kitls" ;;
    suite-*) check "server=1 suite: $(suite_of "$1")" ;;
    clientauth) check "server=1 peer-authenticated: yes" ;;
    alpn) check "server=1 alpn: http/1.1" ;;
    0rtt) check "server~^2 early-data-bytes: [1-9]" ;;
    esac
}
rustls_client() {
    local f=$1 a=()
    case $f in
    suite-*) a+=(--suites "$(suite_of "$f")") ;;
    group-*) a+=(--groups "${f#group-}") ;;
    hrr) a+=(--groups x25519,secp384r1) ;;
    clientauth) a+=(--cert "$pki/client.pem" --key "$pki/client.key") ;;
    alpn) a+=(--alpn http/1.1) ;;
    resume) a+=(--resume) ;;
    0rtt) a+=(--early-data) ;;
    neg-untrusted) KS_ALERT='alert received: bad_certificate \(42\)' ;;
    esac
    run_client client "$PEERS/rustls-peer" client --port "$srv_port" --ca "$CA" --name localhost \
        --message "$KMSG" "${a[@]}"
    client_done client
    if is_negative "$f"; then
        check rc:client!=0
        case $f in
        neg-untrusted) check "client~UnknownIssuer" ;;
        neg-hostname) check "client~CertNotValidForName" ;;
        neg-noclientcert) check "client~received fatal alert: CertificateRequired" ;;
        cert-rsapss) check "client~received fatal alert: HandshakeFailure" ;;
        esac
        return
    fi
    check rc:client=0 "client~^1 echo: ok"
    case $f in
    suite-*) check "client=1 suite: $(suite_of "$f")" ;;
    alpn) check "client=1 alpn: http/1.1" ;;
    resume) check "client~^2 echo: ok" ;;
    0rtt) check "client~^2 echo: ok" "client=2 early-data: accepted" ;;
    close-kitls | close-peer) check "client=1 close-notify: received" ;;
    esac
}

# --- wolfSSL 5.5.4: its example client and server, built from the source
# that libwolfssl-dev ships.  They run in a directory with certs/dh2048.pem.
wolf_suite() {
    case $1 in
    suite-aes128) echo TLS13-AES128-GCM-SHA256 ;;
    suite-aes256) echo TLS13-AES256-GCM-SHA384 ;;
    suite-chacha20) echo TLS13-CHACHA20-POLY1305-SHA256 ;;
    esac
}
wolf_curve() { case $1 in x25519) echo CURVE25519 ;; secp256r1) echo SECP256R1 ;; secp384r1) echo SECP384R1 ;; esac; }
wolfssl_server() {
    local f=$1 a=(-v 4 -e -C "$NACCEPT" -c "$SRV_CERT" -k "$SRV_KEY" -A "$CA" -d)
    case $f in
    suite-*) a+=(-l "$(wolf_suite "$f")") ;;
    group-*) a+=(--force-curve "$(wolf_curve "${f#group-}")") ;;
    hrr) a+=(--force-curve SECP384R1) ;;
    # -V: no CRL checking of the client certificate (no CRLs here).
    clientauth | neg-noclientcert) a=("${a[@]/-d/-F}") a+=(-V) ;;
    # With -L the example reuses its error variable for the ALPN status
    # and skips the echo loop: the data check is the kitls side's relay.
    alpn) a+=(-L F:http/1.1) DATA=relay ;;
    resume) a+=(-r) ;;
    # -S: a different name is refused with unrecognized_name (the cell's
    # control connection).
    sni) a+=(-S localhost) ;;
    # Without -e: read a message, answer, close first.  -U: a KeyUpdate
    # before the answer (then it reads once more: the relay's second line).
    keyupdate-peer) a=("${a[@]/-e/-U}") DATA=relay ;;
    # -w: wait for kitls' close_notify after its own.
    close-peer) a=("${a[@]/-e/-w}") DATA=message ;;
    # wolfSSL 5.5.4 signs with rsa_pss_rsae_sha256 with an id-RSASSA-PSS
    # key (RFC 8446 4.2.3: rsa_pss_pss_*); kitls must refuse that.
    cert-rsapss) KC_EXPECT='alert sent: illegal_parameter \(47\)'
        CELL_NOTE="wolfSSL 5.5.4 server bug: with an id-RSASSA-PSS key it signs rsa_pss_rsae_sha256 (RFC 8446 4.2.3 requires rsa_pss_pss_*) instead of refusing; kitls-client aborts with illegal_parameter (as OpenSSL does)" ;;
    esac
    local rc i
    # The example server loads OCSP-stapling intermediates from fixed
    # paths and scans certs/crl: give it our CA there (trust is the same).
    mkdir -p "$PEERS/wolfssl-root/certs/ocsp" "$PEERS/wolfssl-root/certs/crl"
    for i in 1 2 3; do cp "$CA" "$PEERS/wolfssl-root/certs/ocsp/intermediate$i-ca-cert.pem"; done
    cd "$PEERS/wolfssl-root" || return 1
    listen_server "$PEERS/wolfssl-server" -p PORT "${a[@]}"
    rc=$?
    cd - >/dev/null || return 1
    return $rc
}
wolfssl_server_check() {
    case $1 in
    alpn) check "server~Sent ALPN protocol : http/1.1" ;;
    clientauth) check '!server~peer has no cert' ;;
    keyupdate-peer) check "client~I hear you fa shizzle" "server~Client message: before update" ;;
    # The echo loop exits 0 only on close_notify (a bare TCP EOF is
    # "SSL_read echo error").
    close-kitls) [ "$srv_rc" = 0 ] || reasons+=("wolfssl server exit $srv_rc")
        check '!server~echo error' ;;
    close-peer) check "client~I hear you fa shizzle" "server~Bidirectional shutdown complete" ;;
    esac
}
wolfssl_client() {
    local f=$1 a=(-v 4 -h 127.0.0.1 -p "$srv_port" -A "$CA" -C)
    case $f in
    suite-*) a+=(-l "$(wolf_suite "$f")") ;;
    group-x25519) a+=(-t) ;;
    group-secp256r1) a+=(-Y) ;;
    hrr) a+=(-J) ;;
    clientauth) a+=(-c "$pki/client.pem" -k "$pki/client.key") ;;
    alpn) a+=(-L F:http/1.1) ;;
    resume) a+=(-r) ;;
    sni) a+=(-S localhost) ;;
    # -I: a KeyUpdate before sending the message.
    keyupdate-peer) a+=(-I) ;;
    close-kitls | close-peer) a+=(-w) ;;
    # -m: match the name it connects to (-h) with the certificate.
    neg-hostname) a=("${a[@]/127.0.0.1/localhost}") a+=(-m) ;;
    # wolfSSL 5.5.4 offers rsa_pss_pss_* but refuses a CertificateVerify
    # with it from an id-RSASSA-PSS key (illegal_parameter; OpenSSL's
    # s_server signature, rsa_pss_pss_sha512, gets the same).
    cert-rsapss) KS_ALERT='alert received: illegal_parameter \(47\)'
        CELL_NOTE="wolfSSL 5.5.4 client bug: it offers rsa_pss_pss_* and refuses a valid rsa_pss_pss_* CertificateVerify from an id-RSASSA-PSS key with illegal_parameter (against openssl s_server too)" ;;
    esac
    [ "$f" = clientauth ] || a+=(-x)
    cd "$PEERS/wolfssl-root" || return
    run_client client "$PEERS/wolfssl-client" "${a[@]}"
    client_done client
    cd - >/dev/null || return
    if is_negative "$f"; then
        check rc:client!=0
        return
    fi
    check rc:client=0 "client~hello wolfssl"
    case $f in
    suite-*) check "client~SSL cipher suite is $(wolf_suite "$f")" ;;
    alpn) check "client~http/1.1" ;;
    resume) check "client~(reused|Resum)" ;;
    close-kitls) check '!client~shutdown failed' ;;
    close-peer) check "client~Bidirectional shutdown complete" ;;
    esac
}

# --- NSS 3.87: selfserv / tstclnt with a certificate database --------------
nss_suite() { case $1 in suite-aes128) echo :1301 ;; suite-aes256) echo :1302 ;; suite-chacha20) echo :1303 ;; esac; }
nss_group() { case $1 in x25519) echo x25519 ;; secp256r1) echo P256 ;; secp384r1) echo P384 ;; esac; }
nss_server() {
    local f=$1 a=(-d "sql:$NSSDB" -n "$SRV_NICK" -V tls1.3:tls1.3 -u)
    DATA=http SRV_FOREVER=1
    case $f in
    suite-*) a+=(-c "$(nss_suite "$f")") ;;
    group-*) a+=(-I "$(nss_group "${f#group-}")") ;;
    hrr) a+=(-I P384) ;;
    clientauth | neg-noclientcert) a+=(-r -r) ;;
    alpn) a+=(-Q) ;;
    0rtt) a+=(-Z) ;;
    # -a: SNI callback (the default certificate's nickname is "localhost");
    # -v prints the negotiated name.
    sni) a+=(-a localhost -v) ;;
    cert-rsapss) a+=(-J "$NSS_RSAPSS_SCHEMES") ;;
    esac
    local t=$CELL_TIMEOUT
    # selfserv refuses all 0-RTT for its first ~10 s (anti-replay window).
    [ "$f" = 0rtt ] && CELL_TIMEOUT=25
    listen_server selfserv -p PORT "${a[@]}"
    local rc=$?
    CELL_TIMEOUT=$t
    [ "$f" = 0rtt ] && NSS_STARTED=$SECONDS
    return $rc
}
nss_server_check() {
    is_negative "$1" && return
    case $1 in
    sni) check "server~Negotiated server name: localhost" ;;
    esac
    # selfserv answers with the request it read: for keyupdate the GET
    # was split by the KeyUpdates, so both halves arrived.  (clientauth:
    # -r -r makes selfserv require and verify the client certificate.)
    check "client~^HTTP/1.0 200 OK" "client~^GET / HTTP/1.0"
}
# tstclnt waits for the server to close: the data cells run kitls-server
# --close-after-echo and give tstclnt a regular file on stdin; the other
# cells use -Q (quit after the handshake, with close_notify).
nss_client() {
    local f=$1 a=(-4 -h localhost -p "$srv_port" -d "sql:$NSSDB" -V tls1.3:tls1.3) io=
    case $f in
    suite-*) a+=(-c "$(nss_suite "$f")") ;;
    group-*) a+=(-I "$(nss_group "${f#group-}")") ;;
    hrr) a+=(-I x25519,P384) ;;
    clientauth) a+=(-n client) ;;
    resume) a+=(-u -L 2) ;;
    keyupdate | close-kitls | neg-*) io=1 ;;
    cert-rsapss) a+=(-J "$NSS_RSAPSS_SCHEMES") ;;
    esac
    # tstclnt offers any client certificate of its database when asked:
    # this cell uses one that holds the CA only.
    [ "$f" = neg-noclientcert ] && a=("${a[@]/sql:$NSSDB/sql:$NSSDB-ca}")
    [ -n "$io" ] || a+=(-Q)
    [ -n "$io" ] && CLI_STDIN=$LINE
    run_client client tstclnt "${a[@]}"
    client_done client
    CLI_STDIN=
    if is_negative "$f"; then
        check rc:client!=0
        case $f in
        neg-untrusted) check "client~SEC_ERROR_UNKNOWN_ISSUER" ;;
        neg-hostname) check "client~SSL_ERROR_BAD_CERT_DOMAIN" ;;
        neg-noclientcert) check "client~SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT" ;;
        esac
        return
    fi
    check rc:client=0 "client~issuer  DN: CN=kitls matrix ca"
    [ -z "$io" ] || check "client=hello kitls"
    case $f in
    resume) check "client~1 stateless resumes" ;;
    esac
}

# ---------------------------------------------------------------------------
# Running cells.
# ---------------------------------------------------------------------------
declare -A VERSION=()
n_pass=0 n_fail=0 n_na=0

cell() { # PEER ROLE FEATURE
    local peer=$1 role=$2 f=$3 name="$1-$2-$3" why res t0=${EPOCHREALTIME:-0} dt
    if [ -n "$filter" ] && [[ $name != *"$filter"* ]]; then return; fi
    if [ -n "$list" ]; then echo "$name"; return; fi
    why=$(peer_na "$peer" "$role" "$f")
    [ -n "$why" ] || why=${MISSING[$peer]:-}
    d=$work/cells/$name
    mkdir -p "$d"
    reasons=() rcs=() srv_pid='' srv_port='' srv_rc='' cli_rc='' SRV_FOREVER=''
    SRV_CERT=$pki/server.pem SRV_KEY=$pki/server.key SRV_NICK=localhost
    KS_CERT='' KC_EXPECT='' CLI_STDIN='' CLI_INPUT='' CELL_NOTE=''
    if [ -n "$why" ]; then
        res=N/A
    else
        "${role}_cell" "$peer" "$f"
        end_server
        # A server may refuse 0-RTT at any time (RFC 8446 8.): when it did
        # and kitls-client resent the data correctly, try once more.
        if [ ${#reasons[@]} -ne 0 ] && [ "$role:$f" = kc:0rtt ] && [ "${rcs[client]:-}" = 0 ] &&
            grep -qx 'early-data: rejected' "$d/client.out" 2>/dev/null; then
            mv "$d" "$d.try1"
            mkdir -p "$d"
            reasons=() rcs=() srv_pid='' srv_port='' srv_rc='' cli_rc=''
            "${role}_cell" "$peer" "$f"
            end_server
            why="passed on a second try: the first time the server rejected the 0-RTT data (kitls-client resent it after the handshake)"
        fi
        # CELL_NOTE: a passing cell's remark (a finding the reader should see).
        if [ ${#reasons[@]} -eq 0 ]; then res=PASS why=${CELL_NOTE:-$why}; else res=FAIL; why=${reasons[0]}; fi
    fi
    add_row "$peer" "${VERSION[$peer]:-unknown}" "$role" "$f" "$res" "$why"
    printf -v dt '%s' "${EPOCHREALTIME:-0}"
    dt=$(( (${dt/[.,]/} - ${t0/[.,]/}) / 100000 ))
    case $res in
    PASS) n_pass=$((n_pass + 1)); echo "PASS $name ($((dt / 10)).$((dt % 10)) s)" ;;
    N/A) n_na=$((n_na + 1)); echo "N/A  $name ($why)" ;;
    FAIL)
        n_fail=$((n_fail + 1))
        echo "FAIL $name"
        printf '    reason: %s\n' "${reasons[@]}"
        mkdir -p "$LOGS/$name"
        cp "$d"/* "$LOGS/$name/" 2>/dev/null
        local x
        for x in commands server.out server.err first.out first.err client.out client.err; do
            [ -s "$d/$x" ] || continue
            echo "    --- $x (last 12 lines)"
            tail -n 12 "$d/$x" | sed 's/^/    | /'
        done ;;
    esac
}

# Extra cells for one peer and role.
declare -A EXTRA=([rustls:kc]="hrr-nocompat hrr-peerbug")
run_peer() {
    local p=$1 f role
    for role in kc ks; do
        for f in $FEATURES ${EXTRA[$p:$role]:-}; do
            cell "$p" "$role" "$f"
        done
    done
}

declare -A MISSING=()
prepare_peers() {
    local p m
    build_peers "$@"
    for p in "$@"; do
        m=$(peer_missing "$p")
        [ -z "$m" ] || MISSING[$p]="peer missing: $m"
        VERSION[$p]=$(peer_version "$p")
    done
    if [[ " $* " == *" nss "* ]] && [ -z "${MISSING[nss]:-}" ]; then
        (make_nssdb) >"$work/nssdb.log" 2>&1 || MISSING[nss]="NSS database setup failed"
    fi
}

# ---------------------------------------------------------------------------
# --self-test
# ---------------------------------------------------------------------------
self_test() {
    local ok=1 saved
    echo "self-test: artifacts format"
    ROWS=()
    add_row fake "Fake 1.0" kc suite-aes128 PASS ""
    add_row fake "Fake 1.0" ks 0rtt N/A 'a "quoted" reason \ with a backslash'
    add_row fake "Fake 1.0" ks keyupdate FAIL "client exit 1, expected 0"
    write_artifacts "$work/fmt" self-test-format && check_artifacts "$work/fmt" || ok=0
    ROWS=()
    # An N/A row without a reason must be refused by the checker.
    add_row fake "Fake 1.0" ks hrr N/A ""
    write_artifacts "$work/fmt2" self-test-format
    if check_artifacts "$work/fmt2" >/dev/null 2>&1; then
        echo "self-test: FAIL: the checker accepted an N/A row without a reason"; ok=0
    fi
    ROWS=()
    prepare_peers openssl
    echo "self-test: one real cell against OpenSSL (must PASS)"
    cell openssl kc suite-aes256
    cell openssl ks group-secp384r1
    [ "$n_pass" = 2 ] || { echo "self-test: FAIL: the OpenSSL cells did not pass"; ok=0; }
    echo "self-test: a deliberately broken cell (untrusted CA; must be judged FAIL)"
    saved=$CA
    CA=$pki/other-ca.pem
    cell openssl kc suite-aes128 >"$work/broken.log"
    CA=$saved
    sed 's/^/    | /' "$work/broken.log" | head -n 4
    if [ "$n_fail" != 1 ] || ! grep -q '^FAIL openssl-kc-suite-aes128' "$work/broken.log"; then
        echo "self-test: FAIL: the broken cell was not detected"; ok=0
    fi
    echo "self-test: a broken expectation (wrong suite expected; must be judged FAIL)"
    reasons=() d=$work/cells/openssl-kc-suite-aes256
    check "client=suite: TLS_CHACHA20_POLY1305_SHA256" "client=suite: TLS_AES_256_GCM_SHA384"
    [ ${#reasons[@]} = 1 ] || { echo "self-test: FAIL: the judge did not flag exactly one wrong line"; ok=0; }
    echo "self-test: an N/A cell carries its reason"
    cell botan kc hrr
    [ "$n_na" = 1 ] || { echo "self-test: FAIL: the N/A cell was not recorded"; ok=0; }
    write_artifacts "$OUT/self-test" self-test && check_artifacts "$OUT/self-test" || ok=0
    if [ $ok = 1 ]; then
        echo "self-test: 1 passed, 0 failed"
        return 0
    fi
    echo "self-test: 0 passed, 1 failed"
    return 1
}

# ---------------------------------------------------------------------------
# Main.
# ---------------------------------------------------------------------------
if [ "$mode" = self-test ]; then
    self_test
    exit
fi

if [ -z "$list" ]; then
    prepare_peers $peers
    echo "kitls interop matrix ($mode); artifacts in $OUT"
    for p in $peers; do echo "  $p: ${VERSION[$p]}${MISSING[$p]:+ (${MISSING[$p]})}"; done
fi
start=$SECONDS
for p in $peers; do
    run_peer "$p"
done
[ -n "$list" ] && exit 0
write_artifacts "$OUT" "$mode"
check_artifacts "$OUT" >/dev/null || { echo "matrix.sh: artifacts failed their own check"; exit 99; }
echo "$n_pass passed, $n_fail failed ($n_na not applicable, $((SECONDS - start)) s)"
echo "table: $OUT/matrix.txt  json: $OUT/matrix.json"
if [ "$mode" = strict ]; then
    # Strict: a peer that is entirely missing is a failure of the run, not
    # an N/A: the evidence must cover every peer.
    for p in $peers; do
        if [ -n "${MISSING[$p]:-}" ]; then
            echo "strict: $p: ${MISSING[$p]} (run with --install)"
            exit 1
        fi
    done
    [ "$n_fail" -eq 0 ] || exit 1
fi
exit 0
