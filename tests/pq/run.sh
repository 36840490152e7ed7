#!/usr/bin/env bash
# Post-quantum hybrid groups on a libcrypto that has ML-KEM (issue 20).
# Debian 12's OpenSSL 3.0 has none, so this builds (once, cached outside
# the repository: tests/pq/mkroot.sh) a Debian 13 "trixie" root with
# OpenSSL 3.5 and Go 1.24, copies the source tree in, and runs
# tests/pq/inner.sh there under chroot: kitls built against OpenSSL 3.5,
# its unit tests, kitls-client/-server against openssl s_server/s_client
# and Go's crypto/tls with each hybrid group, HelloRetryRequest into the
# hybrid both ways, and classical-only peers.
#
# Usage (as root): bash tests/pq/run.sh [--bench]
#   --bench: instead of the tests, kitls-bench's full handshakes/s and wire
#   bytes with X25519 and X25519MLKEM768, kitls and libssl (PQ_ROUNDS, 5).
# Environment: KITLS_PQ_ROOT (default /var/cache/kitls/trixie-root),
#   KITLS_PQ_MIRROR (default http://deb.debian.org/debian).
# Last line "N passed, N failed"; exit 0 all passed, 1 a failure, 77 skip
# (not root, or no debootstrap).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
root=${KITLS_PQ_ROOT:-/var/cache/kitls/trixie-root}
export KITLS_PQ_ROOT=$root

rc=0
bash "$here/mkroot.sh" || rc=$?
if [ $rc -ne 0 ]; then
    [ $rc -eq 77 ] && echo "0 passed, 0 failed (skipped)"
    [ $rc -eq 77 ] || echo "0 passed, 1 failed (trixie root)"
    exit $rc
fi

# The source tree as git knows it (tracked and new files, not build
# products); without git, everything but build directories.
dst=$root/root/kitls-pq/src
rm -rf "$root/root/kitls-pq"
mkdir -p "$dst"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$top" && git ls-files -co --exclude-standard -z | xargs -0 -r sh -c '
        for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -cf - -T -) | tar -xf - -C "$dst"
else
    (cd "$top" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -xf - -C "$dst"
fi

mounted=
if ! mountpoint -q "$root/proc"; then
    mount -t proc proc "$root/proc" && mounted=1
fi
cleanup() {
    [ -n "$mounted" ] && umount "$root/proc"
    rm -rf "$root/root/kitls-pq"
}
trap cleanup EXIT

rc=0
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    CASE_TIMEOUT="${CASE_TIMEOUT:-20}" PQ_BENCH="$([ "${1:-}" = --bench ] && echo 1 || echo 0)" \
    PQ_ROUNDS="${PQ_ROUNDS:-5}" \
    bash /root/kitls-pq/src/tests/pq/inner.sh /root/kitls-pq/src || rc=$?
exit $rc
