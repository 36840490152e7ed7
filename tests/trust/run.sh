#!/bin/bash
# tests/trust/run.sh — D2 trust-policy comparison (issue 10 point 4).
#
# Generates the chains (gen.sh), asks three verifiers for a verdict on each
#   kitls    tests/trust/trust_verify (library verify path + in-memory handshake)
#   openssl  openssl verify -purpose sslserver -verify_hostname/-verify_ip
#   gnutls   certtool --verify --verify-purpose serverAuth --verify-hostname
# prints the table, and passes when every verdict is the one recorded in
# tests/trust/expected.txt and every case where the verifiers differ is
# discussed in docs/trust-policy.md.
#
#   run.sh              the test (exit 0 pass, 1 fail, 77 skip)
#   run.sh --table      also print the table as Markdown (for the docs)
#   run.sh --keep DIR   generate into DIR and keep it
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
OPENSSL=${OPENSSL:-openssl}
CERTTOOL=${CERTTOOL:-certtool}
VERIFY=$builddir/tests/trust/trust_verify
EXPECTED=$srcdir/tests/trust/expected.txt
DOC=$srcdir/docs/trust-policy.md

markdown=0
keep=
while [ $# -gt 0 ]; do
    case $1 in
    --table) markdown=1 ;;
    --keep) keep=$2; shift ;;
    *) echo "usage: run.sh [--table] [--keep DIR]" >&2; exit 2 ;;
    esac
    shift
done

for t in "$OPENSSL" "$CERTTOOL"; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t not found (apt-get install gnutls-bin)"; exit 77; }
done
[ -x "$VERIFY" ] || { echo "SKIP: $VERIFY not built (make check builds it)"; exit 77; }

if [ -n "$keep" ]; then
    OUT=$keep
else
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/kitls-trust.XXXXXX")
    trap 'rm -rf "$OUT"' EXIT
fi
bash "$srcdir/tests/trust/gen.sh" "$OUT" || { echo "FAIL: gen.sh"; exit 1; }

is_ip() { [[ $1 =~ ^[0-9.]+$ || $1 == *:* ]]; }

fail=0
rows=()
printf '%-30s %-7s %-7s %-7s  %s\n' case kitls openssl gnutls "reasons (kitls | openssl | gnutls)"
for d in "$OUT"/*/; do
    c=$(basename "$d")
    host=$(cat "$d/host")
    # kitls
    kout=$("$VERIFY" "$d/ca.pem" "$d/chain.pem" "$d/leaf.key" "$host" 2>&1)
    krc=$?
    case $krc in
    0) k=accept ;;
    1) k=reject ;;
    *) k=ERROR; fail=1 ;;
    esac
    kwhy=$(printf '%s' "$kout" | head -1 | cut -f1,2 | sed 's/^accept\t-$//; s/^reject //; s/\t/: /')
    # openssl
    if is_ip "$host"; then hopt=(-verify_ip "$host"); else hopt=(-verify_hostname "$host"); fi
    uopt=()
    [ -s "$d/untrusted.pem" ] && uopt=(-untrusted "$d/untrusted.pem")
    oout=$("$OPENSSL" verify -CAfile "$d/ca.pem" "${uopt[@]}" -purpose sslserver "${hopt[@]}" \
        "$d/leaf.pem" 2>&1)
    if [ $? -eq 0 ]; then o=accept; owhy=; else
        o=reject
        owhy=$(printf '%s\n' "$oout" | sed -n 's/^error [0-9]* at [0-9]* depth lookup: //p' | head -1)
    fi
    # gnutls
    gout=$("$CERTTOOL" --verify --load-ca-certificate "$d/ca.pem" --infile "$d/chain.pem" \
        --verify-hostname "$host" --verify-purpose 1.3.6.1.5.5.7.3.1 2>&1)
    if [ $? -eq 0 ]; then g=accept; gwhy=; else
        g=reject
        gwhy=$(printf '%s\n' "$gout" | sed -n 's/^Chain verification output: Not verified\. *//p' | head -1)
        [ -n "$gwhy" ] || gwhy=$(printf '%s\n' "$gout" | grep -m1 -i -E 'error|not verified' || true)
    fi
    printf '%-30s %-7s %-7s %-7s  %s | %s | %s\n' "$c" "$k" "$o" "$g" "$kwhy" "$owhy" "$gwhy"
    rows+=("| $c | $host | $k | $o | $g |")

    # Compare with the recorded verdicts.
    exp=$(awk -v c="$c" '$1 == c { print $2, $3, $4 }' "$EXPECTED")
    if [ -z "$exp" ]; then
        echo "  FAIL: $c is not in $(basename "$EXPECTED")"
        fail=1
    elif [ "$exp" != "$k $o $g" ]; then
        echo "  FAIL: $c expected (kitls openssl gnutls) = $exp, got $k $o $g"
        fail=1
    fi
    if [ "$k" != "$o" ] || [ "$k" != "$g" ]; then
        if ! grep -q "\`$c\`" "$DOC" 2>/dev/null; then
            echo "  FAIL: $c differs between verifiers but is not discussed in docs/trust-policy.md"
            fail=1
        fi
    fi
done
# Every recorded case must have been generated.
while read -r c _; do
    case $c in '#'* | '') continue ;; esac
    [ -d "$OUT/$c" ] || { echo "FAIL: $c recorded in expected.txt but not generated"; fail=1; }
done <"$EXPECTED"

if [ $markdown = 1 ]; then
    echo
    echo "| case | name checked | kitls | openssl verify | certtool --verify |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
fi
echo "$($OPENSSL version | cut -d' ' -f1-2), $($CERTTOOL --version | head -1)"
[ $fail = 0 ] && echo "PASS: every verdict as recorded" || echo "FAIL"
exit $fail
