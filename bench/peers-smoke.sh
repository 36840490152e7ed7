#!/bin/sh
# A tiny run of kitls-bench's peers table (make check): every built library
# (kitls, OpenSSL, GnuTLS, rustls) through every row once per round, with
# each row's proofs checked (one X25519 share, no HRR, exactly 1 ticket,
# resumption on both sides, chain verified or not).  Timings are not
# judged.  Skipped (77) when kitls-bench or its peers were not built.
set -u
top_builddir=${top_builddir:-.}
bin=$top_builddir/bench/kitls-bench
if [ ! -x "$bin" ]; then
    echo "SKIP: $bin not built (needs libssl-dev)"
    exit 77
fi
err=$("$bin" --lib kitls,openssl,gnutls,rustls --help 2>&1 >/dev/null)
case $err in
*"peers missing"*)
    echo "SKIP: GnuTLS and rustls peers not built (configure --enable-bench-peers;" \
        "needs cargo rustc librust-rustls-dev librust-rustls-pemfile-dev libgnutls28-dev)"
    exit 77
    ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$bin" --only peers --count 5 --rounds 2 --json-file "$tmp/p.json" >"$tmp/out" 2>&1; then
    cat "$tmp/out"
    echo "FAIL: kitls-bench --only peers failed"
    exit 1
fi
cat "$tmp/out"
# every library has a figure in every row, and the proofs held
nulls=$(grep -c '"median": null' "$tmp/p.json")
if ! grep -q '"proofs_ok": true' "$tmp/p.json" || ! grep -q '"built": true' "$tmp/p.json" ||
    [ "$nulls" != 0 ]; then
    echo "FAIL: proofs not verified, peers missing or a row without a figure ($nulls)"
    exit 1
fi
for lib in openssl gnutls rustls kitls; do
    n=$(grep -o "\"$lib\": {\"median\": [0-9]" "$tmp/p.json" | wc -l)
    if [ "$n" != 6 ]; then
        echo "FAIL: $lib has $n of 6 rows"
        exit 1
    fi
done
echo "PASS: peers table, every row proved for every library"
