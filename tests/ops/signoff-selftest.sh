#!/usr/bin/env bash
# make check: tests/ops/signoff.sh against fabricated evidence in a
# throw-away git repository (written with tests/ops/evidence.sh itself):
# complete and current passes; a missing gate, a stale gate (recorded on
# an older commit), a failed gate, a dirty tree and an overdue risk review
# fail --release naming the gate; evidence committed after the run
# (docs/rehearsals/ only) stays current; --ci reports the release-only
# gates as not part of CI.
set -uo pipefail
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
src=$(cd "$src" && pwd)
command -v git >/dev/null || { echo "SKIP: needs git"; exit 77; }
# Evidence settings of a caller (tests/run-all.sh, tests/ops/record.sh
# export them) must not leak into the fabricated evidence.
unset EVIDENCE_DIR EVIDENCE_COMMIT EVIDENCE_REPO
signoff=$src/tests/ops/signoff.sh
. "$src/tests/ops/evidence.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
repo=$tmp/repo
mkdir -p "$repo/docs/rehearsals"
g() { git -C "$repo" -c user.name=selftest -c user.email=selftest@invalid "$@" >/dev/null; }
g init -q
echo 'int x;' >"$repo/a.c"
printf '### RA-1\n- **Review by:** 2999-01-01\n' >"$repo/docs/risk-acceptance.md"
g add -A && g commit -q -m old
old=$(git -C "$repo" rev-parse HEAD)
echo 'int y;' >>"$repo/a.c"
g commit -q -am release
export EVIDENCE_REPO=$repo

all=(check man risk asan uring-vm bogo interop fuzz distcheck pq timing bench rehearsal)
ci=(check man risk asan uring-vm bogo interop fuzz distcheck pq rehearsal)
# fill DIR GATE...: passing evidence for each GATE at the repo's HEAD.
fill() {
    local d=$1 gate; shift
    mkdir -p "$d/logs"
    for gate in "$@"; do
        echo "$gate ok" >"$d/logs/$gate.log"
        EVIDENCE_DIR=$d evidence_record "$gate" 0 "$d/logs/$gate.log" "$gate passed" >/dev/null
    done
}
fails=0
# expect NAME RC PATTERN ARGS...: run signoff.sh ARGS, want exit RC and
# PATTERN (grep -E) in its output.
expect() {
    local name=$1 want=$2 pat=$3 out rc; shift 3
    out=$(bash "$signoff" --repo "$repo" "$@" 2>&1); rc=$?
    if [ "$rc" = "$want" ] && grep -Eq -- "$pat" <<<"$out"; then
        echo "ok: $name (exit $rc)"
    else
        echo "FAIL: $name: exit $rc (want $want), pattern '$pat'"; echo "$out" | sed 's/^/    /'
        fails=$((fails + 1))
    fi
}

e=$tmp/complete; fill "$e" "${all[@]}"
expect "complete and current passes" 0 'SIGNOFF \(release\): PASS' --evidence "$e"
expect "checklist lists DoD point 7 with its evidence" 0 \
    '^7\. Open items in the risk records.*' --evidence "$e"
expect "every DoD point printed" 0 '^6\. The performance-threshold gate passes' --evidence "$e"

e=$tmp/missing; fill "$e" "${all[@]}"; rm "$e/bench.txt"
expect "missing gate fails, named" 1 'bench: missing' --evidence "$e"

e=$tmp/stale; fill "$e" "${all[@]}"
g checkout -q "$old"; fill "$e" timing; g checkout -q -
expect "stale gate fails, named" 1 "timing: stale \(ran on ${old:0:12}" --evidence "$e"

e=$tmp/failed; fill "$e" "${all[@]}"
echo 'FAIL' >"$e/logs/interop.log"
EVIDENCE_DIR=$e evidence_record interop 1 "$e/logs/interop.log" >/dev/null
expect "failed gate fails, named" 1 'interop: result fail \(rc 1\)' --evidence "$e"

e=$tmp/nolog; fill "$e" "${all[@]}"; rm "$e/logs/fuzz.log"
expect "gate whose log vanished fails" 1 'fuzz: its log .* is missing' --evidence "$e"

e=$tmp/dirty; echo 'int z;' >>"$repo/a.c"; fill "$e" "${all[@]}"; g checkout -- a.c
expect "dirty tree fails --release" 1 'ran on a tree with modified tracked files' --evidence "$e"

e=$tmp/evdoc; echo '# rehearsal run' >"$repo/docs/rehearsals/2026-12-08.md"; g add -A; g commit -q -m 'rehearsal doc'
echo '# rewritten by a rehearsal run' >"$repo/docs/rehearsals/2026-12-08.md"; fill "$e" "${all[@]}"
expect "a rewritten evidence document does not make the tree dirty" 0 'SIGNOFF \(release\): PASS' --evidence "$e"
g checkout -- docs/rehearsals/2026-12-08.md

e=$tmp/moved; fill "$e" "${all[@]}"
EVIDENCE_DIR=$e EVIDENCE_COMMIT=$old evidence_record bench 0 "$e/logs/bench.log" >/dev/null
expect "HEAD moved during a gate's run fails --release" 1 \
    'bench: stale \(ran on '"${old:0:12}" --evidence "$e"

# Evidence committed after the run: only docs/rehearsals/ changed since.
e=$tmp/complete
echo '# rehearsal' >"$repo/docs/rehearsals/2026-12-08.md"
g add -A && g commit -q -m 'rehearsal evidence'
expect "evidence-only commit keeps evidence current" 0 'SIGNOFF \(release\): PASS' --evidence "$e"
echo 'int w;' >>"$repo/a.c"; g commit -q -am 'code change'
expect "a code commit after the run makes it stale" 1 'check: stale' --evidence "$e"
g reset -q --hard HEAD~1

expect "overdue risk review fails --release" 1 'review dates passed: 2999-01-01' \
    --evidence "$e" --today 3000-01-01
expect "--ci ignores review dates" 0 'SIGNOFF \(ci\): PASS' --ci --evidence "$e" --today 3000-01-01

e=$tmp/ci; fill "$e" "${ci[@]}"
expect "--ci: release-only gates not part of CI" 0 '\[not part of CI\] +bench' --ci --evidence "$e"
expect "--release: the same evidence fails on them" 1 'timing: missing' --evidence "$e"
rm "$e/bogo.txt"
expect "--ci: a CI gate missing fails" 1 'bogo: missing' --ci --evidence "$e"
fill "$e" bogo
EVIDENCE_DIR=$e evidence_record uring-vm 77 "$e/logs/uring-vm.log" >/dev/null
expect "--ci: a skipped VM gate is reported, not failed" 0 '\[skip\] +uring-vm' --ci --evidence "$e"
expect "--release: a skipped gate fails" 1 'uring-vm: result skip' --evidence "$e"

expect "no evidence at all fails, naming every gate" 1 'check: missing.*' --evidence "$tmp/none"

[ $fails -eq 0 ] && { echo "signoff self-test: PASS"; exit 0; }
echo "signoff self-test: $fails FAILED"
exit 1
