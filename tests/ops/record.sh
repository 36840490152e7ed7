#!/usr/bin/env bash
# Run one gate and record its evidence (docs/release-signoff.md), for the
# gates tests/run-all.sh does not run: the timing harness, the benchmark
# gate, the rehearsals; or to re-run one gate before a signoff.
#
#   tests/ops/record.sh GATE [--log FILE] -- COMMAND [ARGS...]
#
# Runs COMMAND from the source tree, its output shown and copied to
# $EVIDENCE_DIR/logs/GATE.log (default build/evidence/), then writes
# $EVIDENCE_DIR/GATE.txt (tests/ops/evidence.sh) with the commit, date,
# result and a summary line.  --log FILE names the gate's own report
# (e.g. docs/rehearsals/<date>.md) as the evidence log instead.
# Exit: COMMAND's exit status (2 on a usage error).
# Examples:
#   tests/ops/record.sh timing -- bash tests/timing/run.sh
#   tests/ops/record.sh bench -- env BUILDDIR=build sh bench/run.sh --assert
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/evidence.sh"
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 3 ] || usage
gate=$1; shift
case $gate in *[!a-z0-9-]*|'') echo "record.sh: bad gate name '$gate'" >&2; exit 2 ;; esac
own_log=''
if [ "$1" = --log ]; then own_log=$2; shift 2; fi
[ "${1:-}" = -- ] || usage
shift
[ $# -gt 0 ] || usage
dir=$(evidence_dir)
mkdir -p "$dir/logs" || exit 2
log=$dir/logs/$gate.log
cd "$top"
EVIDENCE_COMMIT=$(git rev-parse HEAD 2>/dev/null) || EVIDENCE_COMMIT=''
export EVIDENCE_COMMIT
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
evidence_record "$gate" "$rc" "${own_log:-$log}"
exit "$rc"
