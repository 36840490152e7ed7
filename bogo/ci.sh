#!/usr/bin/env bash
# The strict BoGo gate, as CI runs it (docs/bogo-profile-v1-prod.md).
#
#   bash bogo/ci.sh [BUILD_DIR]      (default: build/, as tests/run-all.sh)
#
# 1. installs what the runner needs (Go toolchain and golang.org/x modules
#    from Debian, dpkg-dev and xz-utils for the pinned source package),
#    as root; otherwise it only checks and fails if something is missing;
# 2. fetches, verifies and builds the pinned runner (bogo/fetch-runner.sh,
#    cached in ${KITLS_CACHE:-/var/cache/kitls}/bogo);
# 3. runs BOGO_PROFILE=bogo/profile-v1-prod.json BOGO_STRICT=1
#    BOGO_ALLOW_UNIMPLEMENTED=0 bash bogo/run.sh with the shim of the build
#    tree (BUILD_DIR/bogo/kitls-shim, made here if needed);
# 4. prints the summary and exits non-zero on a strict failure (any
#    in_scope_required test of a claimed area not PASS, or an unclassified
#    test) or if the runner could not be run.
# Env: BOGO_WORKERS (default: nproc), BOGO_OUT (default BUILD_DIR/bogo-ci),
#      KITLS_CACHE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"
build=${1:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
t0=$(date +%s)
log() { echo "bogo/ci.sh: $*"; }

# --- 1. packages ---------------------------------------------------------
pkgs=(golang-go golang-golang-x-crypto-dev golang-golang-x-net-dev golang-golang-x-sys-dev
      golang-golang-x-term-dev golang-golang-x-text-dev dpkg-dev xz-utils python3
      ca-certificates make)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "installing: ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        log "missing packages (run as root to install): ${missing[*]}" >&2
        exit 2
    fi
fi

# --- 2. the runner (pinned, cached) ---------------------------------------
BORINGSSL_DIR=$(bash "$here/fetch-runner.sh")
export BORINGSSL_DIR

# --- 3. the shim of the build tree -----------------------------------------
[ -f "$build/Makefile" ] || { log "no configured build tree in $build" >&2; exit 2; }
make -C "$build" -s bogo/kitls-shim
shim=$build/bogo/kitls-shim
[ -x "$shim" ] || { log "no shim at $shim" >&2; exit 2; }

# --- 4. the strict gate --------------------------------------------------
out=${BOGO_OUT:-$build/bogo-ci}
set +e
BOGO_PROFILE=bogo/profile-v1-prod.json BOGO_STRICT=1 BOGO_ALLOW_UNIMPLEMENTED=0 \
    BOGO_SHIM=$shim BOGO_OUT=$out BOGO_WORKERS=${BOGO_WORKERS:-$(nproc 2>/dev/null || echo 2)} \
    bash "$here/run.sh"
rc=$?
set -e
# run.sh printed the summary (also in $out/summary.txt, $out/summary.json).
if [ "$rc" = 0 ]; then
    log "STRICT PASS in $(( $(date +%s) - t0 )) s"
else
    log "STRICT FAIL (run.sh exit $rc) in $(( $(date +%s) - t0 )) s; failures:" >&2
    python3 - "$out/summary.json" <<'PY' >&2 || true
import json, sys
s = json.load(open(sys.argv[1]))
for f in s.get("failures", []):
    if f.get("critical"):
        print("  %-60s %-5s %s" % (f["name"], f["status"], f.get("reason", "")[:120]))
PY
fi
exit "$rc"
