#!/usr/bin/env bash
# Fetch, verify and build BoringSSL's BoGo runner (runner.test) offline.
#
# Source: Debian's android-platform-external-boringssl 14.0.0+r45 (trixie),
# BoringSSL commit 32b51305 (2023-04-19).  The tarball is pinned by sha256
# and cached OUTSIDE the repository; no BoringSSL file is ever committed.
#
# Usage: bash bogo/fetch-runner.sh        (prints the runner dir on stdout)
# Env:   KITLS_CACHE   cache root (default /var/cache/kitls); files go to
#                      $KITLS_CACHE/bogo
#        BOGO_NO_APT=1 never call apt-get (fail if something is missing)
#
# Idempotent: every step is skipped when its result is already present.
set -euo pipefail

PKG=android-platform-external-boringssl
VER=14.0.0+r45
TARBALL=${PKG}_${VER}.orig.tar.xz
SHA256=f9223e8c15ad5d9e3f1cd50861f4c272658864661e2332bea5d60952aa0930cd
CACHE=${KITLS_CACHE:-/var/cache/kitls}/bogo
SRC=$CACHE/boringssl-$VER            # extracted subset (BORINGSSL_DIR)
RUNNER_DIR=$SRC/src/ssl/test/runner
SOURCES_FILE=/etc/apt/sources.list.d/kitls-trixie-src.list

log() { echo "fetch-runner: $*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$CACHE"

need_apt() { [ "${BOGO_NO_APT:-0}" != 1 ] || die "$* missing and BOGO_NO_APT=1"; }
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

# --- 1. toolchain --------------------------------------------------------
if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/golang.org/x/crypto ] \
   || ! command -v xz >/dev/null 2>&1 || ! command -v dpkg-source >/dev/null 2>&1; then
  need_apt "golang-go/golang-golang-x-crypto-dev/xz-utils/dpkg-dev"
  log "installing golang-go golang-golang-x-crypto-dev xz-utils dpkg-dev"
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    golang-go golang-golang-x-crypto-dev xz-utils dpkg-dev >&2
fi

# --- 2. pinned tarball ---------------------------------------------------
have_tarball() {
  [ -f "$CACHE/$TARBALL" ] && echo "$SHA256  $CACHE/$TARBALL" | sha256sum -c --status
}
if ! have_tarball; then
  need_apt "$TARBALL"
  if [ ! -f "$SOURCES_FILE" ]; then
    log "adding $SOURCES_FILE (deb-src trixie)"
    printf '%s\n' \
      "# kitls: BoringSSL's BoGo runner source (bogo/fetch-runner.sh)" \
      "deb-src http://deb.debian.org/debian trixie main" | $SUDO tee "$SOURCES_FILE" >/dev/null
    $SUDO apt-get update -qq >&2
  elif ! apt-cache showsrc "$PKG" 2>/dev/null | grep -q "^Version: .*$VER"; then
    $SUDO apt-get update -qq >&2
  fi
  log "downloading $TARBALL"
  rm -f "$CACHE/$TARBALL"
  ( cd "$CACHE" && apt-get source --download-only --tar-only "$PKG/trixie" >&2 )
  # apt may name the tarball slightly differently; find the orig tarball
  [ -f "$CACHE/$TARBALL" ] || die "apt-get source did not produce $TARBALL"
  echo "$SHA256  $CACHE/$TARBALL" | sha256sum -c --status \
    || die "sha256 mismatch for $TARBALL (expected $SHA256)"
fi
log "tarball verified: $CACHE/$TARBALL"

# --- 3. extract only what the runner needs -------------------------------
if [ ! -f "$SRC/.extracted" ]; then
  rm -rf "$SRC"; mkdir -p "$SRC"
  # the tarball has one top directory (android-platform-external-boringssl-<ver>/)
  tar -xJf "$CACHE/$TARBALL" -C "$SRC" --strip-components=1 --wildcards \
    '*/src/go.mod' '*/src/go.sum' '*/src/ssl/test/runner/*' '*/src/util/testresult/*' \
    '*/src/ssl/test/PORTING.md' '*/src/ssl/test/test_config.cc' \
    '*/src/ssl/test/test_config.h' '*/BORINGSSL_REVISION'
  [ -f "$SRC/src/ssl/test/runner/runner.go" ] || die "extraction failed"
  touch "$SRC/.extracted"
fi

# --- 4. build runner.test offline ---------------------------------------
if [ ! -x "$RUNNER_DIR/runner.test" ] || [ "$RUNNER_DIR/runner.test" -ot "$SRC/.extracted" ]; then
  log "building runner.test (offline)"
  (
    cd "$SRC/src"
    [ -f go.mod.orig ] || cp go.mod go.mod.orig
    cp go.mod.orig go.mod
    for m in crypto net sys term text; do
      d=/usr/share/gocode/src/golang.org/x/$m
      [ -d "$d" ] || die "$d missing (golang-golang-x-$m-dev)"
      go mod edit -replace "golang.org/x/$m=$d"
    done
    # the system go may be older than the 'go' directive; lower it
    gov=$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')
    go mod edit -go="$gov"
    cd ssl/test/runner
    export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
    export GOCACHE=$CACHE/gocache GOPATH=$CACHE/gopath
    go test -c -o runner.test . >&2
  )
fi
[ -x "$RUNNER_DIR/runner.test" ] || die "runner.test was not built"
log "runner: $RUNNER_DIR/runner.test"
echo "$SRC"
