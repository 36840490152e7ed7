#!/bin/bash
# tests/ops/demo.sh — the README's first command ends with
# examples/demo-uring.sh (issue 18 item 7): run it, and pass when it
# exits 0 (kitls-client's and curl's copies of the file have its sha256)
# and names the record layer that carried the data (kernel TLS, or the
# userspace record layer and the library's reason); then its fallback to
# the blocking server for sandboxes without io_uring.  77 when the demo
# says something it needs is missing (liburing build, io_uring, tools).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
export top_builddir=${top_builddir:-.}
out=$(bash "$top_srcdir/examples/demo-uring.sh" 2>&1)
rc=$?
echo "$out"
[ $rc = 77 ] && exit 77
fail=0
check() { # name, command...
    name=$1; shift
    if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fail=1; fi
}
check "demo exits 0 (exit $rc)" test $rc = 0
check "kitls-client got the file's bytes" grep -q "^demo: kitls-client: 4194304 bytes, sha256 matches" <<<"$out"
check "curl got the file's bytes" grep -q "^demo: curl: 4194304 bytes, sha256 matches" <<<"$out"
for who in kitls-client curl; do
    check "the transport of $who's fetch is named" grep -Eq "^demo: transport \($who\): (kernel TLS carried the data|the userspace record layer carried the data .*: .+)" <<<"$out"
done
check "io_uring served it (kitls-server --uring)" grep -q "^demo: kitls-server --uring --ktls both serves" <<<"$out"

# The fallback for sandboxes without io_uring (KITLS_DEMO_URING=0 plays it).
out=$(KITLS_DEMO_URING=0 bash "$top_srcdir/examples/demo-uring.sh" 2>&1)
rc=$?
echo "$out"
check "fallback: exits 0 (exit $rc)" test $rc = 0
check "fallback: says why and what it does" grep -q "^demo: falling back to the blocking server" <<<"$out"
check "fallback: both copies match" test "$(grep -c "sha256 matches" <<<"$out")" = 2
check "fallback: transports named" test "$(grep -Ec "^demo: transport \((kitls-client|curl)\): " <<<"$out")" = 2
exit $fail
