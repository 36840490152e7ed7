#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root):
# installs the packages it needs, builds with -Werror, runs `make check`
# (Check unit tests, integration and interop tests), runs the unit tests
# again under ASan+UBSan, the fuzz replay gate's self-test, and `make
# distcheck`; records each gate's evidence (tests/ops/evidence.sh, in
# $EVIDENCE_DIR, default build/evidence/) and checks it with the signoff
# in CI mode (tests/ops/signoff.sh --ci).  Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
jobs=$(nproc 2>/dev/null || echo 2)

pkgs=(build-essential autoconf automake libtool pkg-config libssl-dev check
      openssl gnutls-bin python3 liburing-dev universal-ctags mandoc
      libgnutls28-dev cargo rustc librust-rustls-dev librust-rustls-pemfile-dev
      curl prometheus debootstrap libhiredis-dev redis-server nginx-light)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "== installing: ${missing[*]}"
        apt-get update -q
        # nginx-light (bench/nginx/run.sh, run by hand) must not start a
        # service on port 80 from its postinst: policy-rc.d says no.
        prc=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            prc=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
        [ -z "$prc" ] || rm -f /usr/sbin/policy-rc.d
    else
        echo "missing packages (run as root to install): ${missing[*]}" >&2
        exit 1
    fi
fi

# kitls-bench's GnuTLS and rustls peers (bench/peers-smoke.sh in make
# check): cargo's cache outside the build trees, so that only the first
# run builds rustls (about a minute; seconds afterwards).
if mkdir -p /var/cache/kitls-peers 2>/dev/null && [ -w /var/cache/kitls-peers ]; then
    export CARGO_TARGET_DIR=/var/cache/kitls-peers/rustls-target
fi

# Everything is built out of tree (build/, build-asan/) so the source
# directory stays unconfigured and both builds can coexist.
echo "== bootstrap"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi

status=0
echo "== build (-Werror) and make check"
rm -rf build && mkdir build
export EVIDENCE_DIR=${EVIDENCE_DIR:-$top/build/evidence}
export EVIDENCE_COMMIT=$(git rev-parse HEAD 2>/dev/null || true)
mkdir -p "$EVIDENCE_DIR/logs"
. tests/ops/evidence.sh
rc=0
(cd build && "$top/configure" -q --enable-werror && make -j"$jobs" >/dev/null &&
 make -j"$jobs" check) || rc=1
evidence_record check $rc build/test-suite.log
evidence_record_trs man build/tests/docs/man.sh.trs
evidence_record_trs risk build/tests/docs/risk.sh.trs
[ $rc -eq 0 ] || status=1

echo "== io_uring driver with kTLS in the VMs (tests/uring/vm-uring.sh, one kernel at a time)"
# Not in make check: about 3-4 minutes per kernel under TCG.  The kernels
# were fetched by make check's tests/ktls/vm.sh; 77 = skipped (no qemu).
vm_rc=0
top_builddir=build bash tests/uring/vm-uring.sh 2>&1 | tee "$EVIDENCE_DIR/logs/uring-vm.log" || vm_rc=$?
evidence_record uring-vm $vm_rc "$EVIDENCE_DIR/logs/uring-vm.log"
[ $vm_rc -eq 0 ] || [ $vm_rc -eq 77 ] || status=1

echo "== BoGo strict gate (v1-prod profile)"
rc=0
bash bogo/ci.sh build || rc=$?
evidence_record bogo $rc build/bogo-ci/summary.txt
[ $rc -eq 0 ] || status=1

echo "== interop matrix, strict (7 implementations; docs/interop.md)"
# One retry of the whole matrix: peers on a loaded machine have flaked
# (a GnuTLS 0-RTT refusal); a real interop failure fails both runs.
rc=0
if ! INTEROP_OUT=build/interop top_builddir=build bash tests/interop/matrix.sh --install --strict; then
    echo "interop matrix: failed once, running it again"
    INTEROP_OUT=build/interop top_builddir=build bash tests/interop/matrix.sh --strict || rc=1
fi
evidence_record interop $rc build/interop/matrix.txt
[ $rc -eq 0 ] || status=1

echo "== runbook rehearsals on loopback (tests/ops/rehearse.sh -> docs/rehearsals/)"
# Real kitls-server processes: certificate and ticket-key rotation under
# load, a broken file refused, the kTLS kill switch, an expired certificate
# detected (docs/runbook.md).  77 = skipped (no io_uring here).
rc=0
top_builddir=build bash tests/ops/rehearse.sh 2>&1 | tee "$EVIDENCE_DIR/logs/rehearsal.log" || rc=$?
evidence_record rehearsal $rc "$EVIDENCE_DIR/logs/rehearsal.log"
[ $rc -eq 0 ] || [ $rc -eq 77 ] || status=1

echo "== post-quantum hybrid groups on OpenSSL 3.5 (tests/pq/run.sh, Debian 13 root)"
# The root is built once (debootstrap, a few minutes) and cached in
# /var/cache/kitls/trixie-root; 77 = skipped (not root, no debootstrap).
pq_rc=0
bash tests/pq/run.sh 2>&1 | tee "$EVIDENCE_DIR/logs/pq.log" || pq_rc=$?
evidence_record pq $pq_rc "$EVIDENCE_DIR/logs/pq.log"
[ $pq_rc -eq 0 ] || [ $pq_rc -eq 77 ] || status=1

echo "== unit tests under ASan+UBSan"
rm -rf build-asan && mkdir build-asan
rc=0
(cd build-asan &&
 "$top/configure" -q --enable-werror --enable-sanitizers CFLAGS="-O1 -g" &&
 make -j"$jobs" >/dev/null &&
 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     make -j"$jobs" check-unit) || rc=1
evidence_record asan $rc build-asan/test-suite.log
[ $rc -eq 0 ] || status=1

echo "== fuzz replay gate: --self-test (a planted crash must be caught) and --skip-baseline"
# Both build their own replay programs with tests/fuzz/build.sh (clang or
# gcc, ASan+UBSan when available); make check above replayed the corpora
# with the build's own programs.
rc=0
bash tests/fuzz/replay.sh --self-test 2>&1 | tee "$EVIDENCE_DIR/logs/fuzz.log" || rc=1
bash tests/fuzz/replay.sh --skip-baseline 2>&1 | tee -a "$EVIDENCE_DIR/logs/fuzz.log" || rc=1
evidence_record fuzz $rc "$EVIDENCE_DIR/logs/fuzz.log"
[ $rc -eq 0 ] || status=1

echo "== make distcheck"
rc=0
(cd build && make -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
     >distcheck.log 2>&1) && echo "distcheck: ok" ||
    { tail -40 build/distcheck.log; echo "distcheck: FAILED"; rc=1; }
evidence_record distcheck $rc build/distcheck.log
[ $rc -eq 0 ] || status=1

# The logs of failed tests (automake copies them into test-suite.log), so
# that a CI failure can be diagnosed from its output alone.
for log in build/test-suite.log build-asan/test-suite.log; do
    [ -f "$log" ] || continue
    grep -q '^# FAIL: *[1-9]\|^# ERROR: *[1-9]' "$log" || continue
    echo "== logs of the failed tests in $log (last 300 lines)"
    sed -n '/^\.\. contents::/,$p' "$log" | tail -n 300
done

# The signoff in CI mode, the last step: every gate above left evidence
# stamped with this commit (the timing harness, the benchmark gate and the
# rehearsals are release-only: docs/release-signoff.md).
echo "== release signoff, CI mode (tests/ops/signoff.sh --ci)"
bash tests/ops/signoff.sh --ci || status=1

# Summary: every test program's result from both builds.
pass=0; fail=0
for log in build/test-suite.log build-asan/test-suite.log; do
    [ -f "$log" ] || continue
    p=$(sed -n 's/^# PASS: *//p' "$log" | head -1); p=${p:-0}
    s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1); s=${s:-0}
    f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1); f=${f:-0}
    e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1); e=${e:-0}
    x=$(sed -n 's/^# XPASS: *//p' "$log" | head -1); x=${x:-0}
    echo "$log: pass $p, skip $s, fail $f, error $e"
    pass=$((pass + p)); fail=$((fail + f + e + x))
done
echo "Check results:"
grep -h "Checks:" build/tests/unit/*.log build-asan/tests/unit/*.log 2>/dev/null | sed 's/^/  /' || true
[ $status -eq 0 ] || [ $fail -gt 0 ] || fail=1
echo "$pass passed, $fail failed"
exit $status
