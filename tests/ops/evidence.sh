# Gate evidence: one small file per gate, stamped with the commit it ran on
# (docs/release-signoff.md).  Sourced by tests/run-all.sh and
# tests/ops/record.sh; tests/ops/signoff.sh reads what it writes.
#
#   evidence_record GATE RC LOG [SUMMARY]
#
# writes $EVIDENCE_DIR/GATE.txt (default build/evidence/ under the source
# tree) with one key=value per line:
#   gate, commit (full hash of HEAD, "unknown" outside git), dirty (yes when
#   tracked files differ from HEAD), date (UTC, ISO 8601), result (pass when
#   RC is 0, skip when 77, fail otherwise), rc, summary (one line; when not
#   given, derived from LOG by evidence_summary), log (path of the log).
# It never fails (the caller may run under set -e): a gate's own exit status
# decides the gate, the evidence only reports it.  EVIDENCE_REPO: the git
# tree whose HEAD is recorded (default: this source tree).  EVIDENCE_COMMIT:
# the commit the gate started on (record.sh sets it): if HEAD moved during
# the run, that commit is recorded with dirty=yes (the gate saw two trees).  Values are single lines;
# signoff.sh parses them with grep, never by sourcing.

evidence_dir() {
    local top
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    echo "${EVIDENCE_DIR:-$top/build/evidence}"
}

# evidence_summary GATE LOG: one line that says what the gate found.
evidence_summary() {
    local s=''
    [ -f "$2" ] || { echo "no log at $2"; return 0; }
    s=$(_evidence_grep "$1" "$2") || true
    [ -n "$s" ] || s=$(grep -v '^[[:space:]]*$' "$2" | tail -1) || true
    printf '%s\n' "$s" | tr -d '\r' | head -1 | cut -c1-200
    return 0
}

# _evidence_grep GATE LOG: the gate's own summary line from its log
# (run in $(...): a grep that finds nothing must not end a set -e caller).
_evidence_grep() {
    local gate=$1 log=$2 s=''
    case $gate in
    check|asan)
        s=$(awk -F': *' '/^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):/ {
                sub(/^# /, "", $1); printf "%s%s %s", sep, tolower($1), $2; sep=", " }' "$log") ;;
    bogo)
        s=$(grep -m1 'in_scope_required' "$log" | sed 's/^ *//') ;;
    interop)
        s=$(sed -n 's/.*"summary": *{\([^}]*\)}.*/matrix: \1/p' \
                "$(dirname "$log")/matrix.json" 2>/dev/null | tr -d '"' | head -1) ;;
    man|risk|signoff-selftest)
        s=$(grep -m1 '^:test-result:' "${log%.log}.trs" 2>/dev/null | sed 's/^:test-result: */make check: /') ;;
    fuzz)
        s=$(grep -E '^(self-test: (PASS|FAIL)|seeds:|current:)' "$log" | paste -sd';' -) ;;
    distcheck)
        s=$(grep -m1 -A1 'archives ready for distribution' "$log" | tail -1)
        [ -z "$s" ] || s="archives ready: $s" ;;
    timing)
        s=$(grep '^run.sh: ' "$log" | tail -1) ;;
    bench)
        s=$(grep -E '^ratios to OpenSSL:|^# peers: .*FAIL|^run.sh: ' "$log" | paste -sd';' -) ;;
    esac
    printf '%s\n' "$s"
}

evidence_record() {
    local gate=$1 rc=$2 log=$3 summary=${4:-} dir top repo commit dirty result
    dir=$(evidence_dir)
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    mkdir -p "$dir" 2>/dev/null || { echo "evidence: cannot create $dir" >&2; return 0; }
    repo=${EVIDENCE_REPO:-$top}
    commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null) || commit=unknown
    dirty=no
    if [ "$commit" != unknown ] &&
       [ -n "$(git -C "$repo" status --porcelain --untracked-files=no -- . \
           ':(exclude)docs/rehearsals' ':(exclude)docs/release-signoff.md' 2>/dev/null)" ]; then
        # (a rehearsal run rewrites its evidence document: not a change of the tree under test)
        dirty=yes
    fi
    if [ -n "${EVIDENCE_COMMIT:-}" ] && [ "$EVIDENCE_COMMIT" != "$commit" ]; then
        commit=$EVIDENCE_COMMIT dirty=yes
    fi
    case $rc in 0) result=pass ;; 77) result=skip ;; *) result=fail ;; esac
    case $log in /*) ;; *) log=$top/$log ;; esac
    [ -n "$summary" ] || summary=$(evidence_summary "$gate" "$log")
    summary=$(printf '%s' "$summary" | tr '\n\r' '  ' | cut -c1-200)
    {
        echo "gate=$gate"
        echo "commit=$commit"
        echo "dirty=$dirty"
        echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "result=$result"
        echo "rc=$rc"
        echo "summary=$summary"
        echo "log=$log"
    } >"$dir/$gate.txt.tmp" 2>/dev/null && mv -f "$dir/$gate.txt.tmp" "$dir/$gate.txt" ||
        echo "evidence: cannot write $dir/$gate.txt" >&2
    echo "evidence: $gate $result (${commit:0:12}) -> $dir/$gate.txt"
    return 0
}

# evidence_record_trs GATE TRS: a make check test's result as a gate
# (e.g. man lint: build/tests/docs/man.sh.trs).  Missing .trs: not recorded.
evidence_record_trs() {
    local gate=$1 trs=$2 res rc
    [ -f "$trs" ] || { echo "evidence: $gate not recorded (no $trs)"; return 0; }
    res=$(sed -n 's/^:test-result: *//p' "$trs" | head -1)
    case $res in PASS) rc=0 ;; SKIP) rc=77 ;; *) rc=1 ;; esac
    evidence_record "$gate" "$rc" "${trs%.trs}.log" "make check: $res"
}
