#!/usr/bin/env bash
# Build (once) the Debian 13 "trixie" root that tests/pq/run.sh builds and
# tests kitls in: trixie's OpenSSL 3.5 has ML-KEM, Debian 12's 3.0 has not.
# Cached outside the repository (like the kTLS test kernels) and reused:
#   KITLS_PQ_ROOT (default /var/cache/kitls/trixie-root)
# Exit 77 (skip) when not root or debootstrap is missing.
set -euo pipefail
root=${KITLS_PQ_ROOT:-/var/cache/kitls/trixie-root}
mirror=${KITLS_PQ_MIRROR:-http://deb.debian.org/debian}
pkgs=build-essential,autoconf,automake,libtool,pkg-config,libssl-dev,openssl,check,golang-go,ca-certificates,liburing-dev
if [ "$(id -u)" != 0 ]; then
    echo "tests/pq: SKIP: needs root (debootstrap, chroot)" >&2
    exit 77
fi
if [ -f "$root/.kitls-ready" ]; then
    # A root cached before liburing-dev joined the list (the io_uring
    # driver with the hybrid groups' larger ClientHello): add it once.
    if [ ! -f "$root/usr/include/liburing.h" ]; then
        echo "tests/pq: adding liburing-dev to the cached trixie root"
        chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$root.log" 2>&1 &&
            chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends liburing-dev >>"$root.log" 2>&1 || {
            echo "tests/pq: apt-get install liburing-dev in the root failed, see $root.log" >&2
            exit 1
        }
    fi
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "tests/pq: SKIP: debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 77
fi
echo "tests/pq: building the trixie root in $root (first run only; a few minutes)"
rm -rf "$root.tmp"
mkdir -p "$(dirname "$root")"
debootstrap --variant=minbase --include="$pkgs" trixie "$root.tmp" "$mirror" >"$root.log" 2>&1 || {
    echo "tests/pq: debootstrap failed, see $root.log" >&2
    tail -5 "$root.log" >&2
    exit 1
}
rm -rf "$root"
mv "$root.tmp" "$root"
touch "$root/.kitls-ready"
echo "tests/pq: trixie root ready"
