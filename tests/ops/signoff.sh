#!/usr/bin/env bash
# The release signoff (docs/release-signoff.md): prints the definition of
# done of the product spec, point by point, with the evidence of each gate
# (tests/ops/evidence.sh files: commit, date, result, summary, log), and
# fails when evidence is missing, failed, or not from the release commit.
#
#   tests/ops/signoff.sh [--release | --ci] [--evidence DIR] [--repo DIR]
#                        [--register FILE] [--today YYYY-MM-DD]
#
#   --release (default)  every gate must have passed on HEAD: also the
#                        timing harness and the benchmark gate, which
#                        tests/run-all.sh does not run.
#   --ci                 the gates tests/run-all.sh runs must have passed on
#                        HEAD (skip allowed: a VM test without qemu); the
#                        release-only gates are reported "not part of CI"
#                        when they have no evidence, and checked when they do.
#   --evidence DIR       default $EVIDENCE_DIR, else build/evidence/
#   --repo DIR           the git tree whose HEAD is the release commit
#                        (default: this source tree)
#   --register FILE      the risk register (default DIR/docs/risk-acceptance.md);
#                        --release fails on a review date before --today
# Current evidence: ran on HEAD, or on an ancestor of HEAD from which only
# evidence documents changed (docs/rehearsals/, docs/release-signoff.md),
# so that committing the evidence does not make it stale.  Evidence from a
# tree with modified tracked files (dirty=yes) fails --release.
# Exit: 0 signoff holds; 1 evidence missing, failed or stale; 2 usage.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
mode=release repo=$src register='' today=$(date -u +%Y-%m-%d)
edir=${EVIDENCE_DIR:-}
while [ $# -gt 0 ]; do
    case $1 in
    --release) mode=release; shift ;;
    --ci) mode=ci; shift ;;
    --evidence) edir=$2; shift 2 ;;
    --repo) repo=$2; shift 2 ;;
    --register) register=$2; shift 2 ;;
    --today) today=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "signoff.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$edir" ] || edir=$repo/build/evidence
[ -n "$register" ] || register=$repo/docs/risk-acceptance.md

# gate | in CI (tests/run-all.sh runs it) | what it is
gates=(
    "check|ci|make check: unit, integration and interop-harness tests (build/test-suite.log)"
    "man|ci|man pages: mandoc -T lint -W style, SYNOPSIS = headers (tests/docs/man.sh)"
    "risk|ci|risk register covers every docs/limits.md item (tests/docs/risk.sh)"
    "asan|ci|unit tests under ASan+UBSan (build-asan/test-suite.log)"
    "uring-vm|ci|io_uring driver with kTLS in the VMs (tests/uring/vm-uring.sh)"
    "bogo|ci|strict BoGo, profile v1-prod (bogo/ci.sh)"
    "interop|ci|strict interop matrix (tests/interop/matrix.sh --strict)"
    "fuzz|ci|fuzz replay gate: --self-test and --skip-baseline (tests/fuzz/replay.sh)"
    "distcheck|ci|make distcheck"
    "pq|ci|hybrid ML-KEM groups on OpenSSL 3.5 and Go 1.24 in a Debian 13 root (tests/pq/run.sh)"
    "timing|release|timing harness, all paths (tests/timing/run.sh)"
    "bench|release|performance-threshold gate (bench/run.sh --assert)"
    "rehearsal|ci|runbook rehearsals (tests/ops/rehearse.sh -> docs/rehearsals/<date>.md)"
)
# The definition of done (/work/shared/product-spec.md) and its gates.
dod=(
    "1|The v1-prod scope is the same in docs, scripts and gates.|bogo check"
    "2|BoGo v1-prod in-scope required tests: 0 fail, 0 unimplemented.|bogo"
    "3|The strict interop matrix passes.|interop pq"
    "4|Fuzz and regression gates pass reliably.|fuzz check asan uring-vm distcheck"
    "5|Security docs (timing evidence above all) are current.|timing"
    "6|The performance-threshold gate passes.|bench"
    "7|Open items in the risk records are reduced or justified to a level that allows release sign-off.|risk rehearsal"
    "+|Also required (issue 18, workstream E2): man pages lint clean, the distribution builds, the runbook is rehearsed.|man distcheck rehearsal"
)

head=$(git -C "$repo" rev-parse HEAD 2>/dev/null) || {
    echo "signoff.sh: $repo is not a git tree: no release commit to sign off" >&2; exit 1; }
field() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -1; }

# current COMMIT: 0 if the evidence counts for HEAD (see above).
current() {
    local c=$1 f
    [ "$c" = "$head" ] && return 0
    git -C "$repo" merge-base --is-ancestor "$c" "$head" 2>/dev/null || return 1
    while IFS= read -r f; do
        case $f in docs/rehearsals/*|docs/release-signoff.md) ;; *) return 1 ;; esac
    done < <(git -C "$repo" diff --name-only "$c" "$head")
    return 0
}

declare -A status detail
problems=()
for g in "${gates[@]}"; do
    IFS='|' read -r name inci what <<<"$g"
    f=$edir/$name.txt
    if [ ! -f "$f" ]; then
        if [ $mode = ci ] && [ $inci = release ]; then
            status[$name]="not part of CI"; detail[$name]="no evidence (release-only gate)"
        else
            status[$name]=MISSING; detail[$name]="no evidence file $f"
            problems+=("$name: missing (no $f)")
        fi
        continue
    fi
    c=$(field "$f" commit); d=$(field "$f" date); r=$(field "$f" result)
    s=$(field "$f" summary); l=$(field "$f" log); dirty=$(field "$f" dirty)
    detail[$name]="${c:0:12} $d $r | $s | log: $l"
    st=ok
    if [ -z "$c" ] || [ "$c" = unknown ]; then
        st=STALE; problems+=("$name: stale (no commit recorded)")
    elif ! current "$c"; then
        st=STALE; problems+=("$name: stale (ran on ${c:0:12}, release commit is ${head:0:12})")
    fi
    if [ "$r" != pass ]; then
        if [ "$r" = skip ] && [ $mode = ci ] && [ $st = ok ]; then
            st=skip
        elif [ $st = ok ]; then
            st=${r^^}; [ -n "$r" ] || st=INVALID
            problems+=("$name: result ${r:-none} (rc $(field "$f" rc))")
        fi
    fi
    if [ $st = ok ] && [ -n "$l" ] && [ ! -e "$l" ]; then
        st=MISSING; problems+=("$name: its log $l is missing")
    fi
    if [ $st = ok ] && [ "$dirty" = yes ]; then
        if [ $mode = release ]; then
            st=DIRTY; problems+=("$name: ran on a tree with modified tracked files")
        else
            st="ok (dirty tree)"
        fi
    fi
    status[$name]=$st
done

# Risk register review dates (release only: CI must not fail by the calendar).
reg_note=''
if [ $mode = release ]; then
    if [ ! -f "$register" ]; then
        problems+=("risk register $register is missing")
        reg_note="risk register: MISSING ($register)"
    else
        overdue=$(sed -n 's/.*[Rr]eview by:\** *\([0-9]\{4\}-[0-9][0-9]-[0-9][0-9]\).*/\1/p' "$register" |
                  awk -v t="$today" '$1 < t' | sort -u | paste -sd' ' -)
        n=$(grep -ci 'review by:' "$register")
        if [ -n "$overdue" ]; then
            problems+=("risk register: review dates passed: $overdue")
            reg_note="risk register: $n entries, OVERDUE reviews: $overdue"
        else
            reg_note="risk register: $n entries, no review date before $today"
        fi
    fi
fi

echo "kitls release signoff ($mode mode), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "release commit: $head ($(git -C "$repo" log -1 --format='%cI %s' "$head" | cut -c1-90))"
echo "evidence: $edir"
echo
for p in "${dod[@]}"; do
    IFS='|' read -r num text glist <<<"$p"
    echo "$num. $text"
    for name in $glist; do
        printf '   %-16s %-9s %s\n' "[${status[$name]}]" "$name" "${detail[$name]}"
    done
    if [ "$num" = 7 ] && [ -n "$reg_note" ]; then echo "   $reg_note"; fi
done
echo
echo "gates:"
for g in "${gates[@]}"; do
    IFS='|' read -r name inci what <<<"$g"
    printf '  %-9s %-7s %-16s %s\n' "$name" "$inci" "${status[$name]}" "$what"
done
echo
if [ ${#problems[@]} -eq 0 ]; then
    echo "SIGNOFF ($mode): PASS: every gate's evidence is current and passed"
    exit 0
fi
echo "SIGNOFF ($mode): FAIL (${#problems[@]}):"
printf '  - %s\n' "${problems[@]}"
exit 1
