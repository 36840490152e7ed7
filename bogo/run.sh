#!/usr/bin/env bash
# Run BoringSSL's BoGo conformance tests against the kitls shim, for a profile.
#
#   BOGO_PROFILE=bogo/profile-v1-prod.json BOGO_STRICT=1 BOGO_ALLOW_UNIMPLEMENTED=0 bash bogo/run.sh
#
# Environment:
#   BOGO_PROFILE        profile JSON (default bogo/profile-v1-prod.json).  Its
#                       out_of_scope tests are never run (they go to the runner
#                       as DisabledTests) and are counted apart.
#   BOGO_STRICT=1       exit non-zero if any in_scope_required test of a claimed
#                       area is not PASS (failed, unimplemented, not run) or a
#                       test is not classified by the profile.
#   BOGO_AREAS          claimed areas: "profile" (default: the profile's
#                       claimed_areas), "all" (the full v1-prod gate), or a
#                       comma-separated list.  Unclaimed areas are reported.
#   BOGO_ONLY_CLAIMED=1 run only the claimed areas' tests (faster).
#   BOGO_ALLOW_UNIMPLEMENTED=0|1  pass -allow-unimplemented to the runner
#                       (default 0).  In strict mode an unimplemented
#                       in-scope required test is a failure either way.
#   BORINGSSL_DIR       extracted runner source (default: bogo/fetch-runner.sh
#                       fetches the pinned Debian source into the cache).
#   BOGO_SHIM           shim binary (default: the built bogo/kitls-shim, else
#                       built by hand from bogo/shim*.c against lib/.libs).
#   BOGO_TEST           runner -test patterns (';'-separated globs); the
#                       summary is then partial (tests not run are not counted).
#   BOGO_WORKERS        runner -num-workers (default 2).
#   BOGO_OUT            output directory (default ${TMPDIR:-/tmp}/kitls-bogo).
# Outputs in BOGO_OUT: results.json (runner), runner.log, summary.json,
# summary.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
PROFILE=${BOGO_PROFILE:-$here/profile-v1-prod.json}
case $PROFILE in /*) ;; *) PROFILE=$PWD/$PROFILE ;; esac
OUT=${BOGO_OUT:-${TMPDIR:-/tmp}/kitls-bogo}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
[ -f "$PROFILE" ] || { echo "run.sh: profile $PROFILE not found" >&2; exit 2; }

if [ -z "${BORINGSSL_DIR:-}" ]; then
  BORINGSSL_DIR=$(bash "$here/fetch-runner.sh")
fi
runner_dir=$BORINGSSL_DIR/src/ssl/test/runner
if [ ! -x "$runner_dir/runner.test" ]; then
  echo "run.sh: no runner.test in $runner_dir; building it" >&2
  BORINGSSL_DIR=$(bash "$here/fetch-runner.sh"); runner_dir=$BORINGSSL_DIR/src/ssl/test/runner
fi

# --- the shim ---------------------------------------------------------------
SHIM=${BOGO_SHIM:-}
if [ -z "$SHIM" ]; then
  for cand in "$top/bogo/kitls-shim" "$PWD/bogo/kitls-shim"; do
    if [ -x "$cand" ] && file "$cand" 2>/dev/null | grep -q ELF; then SHIM=$cand; break; fi
    if [ -x "$cand" ] && [ -f "$(dirname "$cand")/.libs/kitls-shim" ]; then SHIM=$cand; break; fi
  done
fi
if [ -z "$SHIM" ]; then
  bash "$here/build-shim.sh" "$OUT/kitls-shim" >&2
  SHIM=$OUT/kitls-shim
fi
case $SHIM in /*) ;; *) SHIM=$PWD/$SHIM ;; esac

# --- shim config: ErrorMap etc. + every out-of-scope test disabled ---------
python3 - "$here/shim-config.json" "$PROFILE" "${BOGO_AREAS:-profile}" "${BOGO_ONLY_CLAIMED:-0}" \
  > "$OUT/shim-config.json" <<'PY'
import json, sys
base, prof_path, areas, only = sys.argv[1:5]
cfg = json.load(open(base))
prof = json.load(open(prof_path))
claimed = set(prof.get("claimed_areas", []))
if areas == "all":
    claimed = {t["area"] for t in prof["tests"].values()}
elif areas not in ("", "profile"):
    claimed = {a.strip() for a in areas.split(",") if a.strip()}
dis = dict(cfg.get("DisabledTests", {}))
for name, t in prof["tests"].items():
    if t["class"] == "out_of_scope":
        dis[name] = "out_of_scope (%s): %s" % (t["area"], t["rule"])
    elif only == "1" and t["area"] not in claimed:
        dis[name] = "area %s not claimed" % t["area"]
cfg["DisabledTests"] = dis
json.dump(cfg, sys.stdout, indent=1, sort_keys=True)
PY

args=(-test.run=TestAll -num-workers "${BOGO_WORKERS:-2}" -pipe
      -shim-path "$SHIM" -shim-config "$OUT/shim-config.json"
      -json-output "$OUT/results.json")
[ "${BOGO_ALLOW_UNIMPLEMENTED:-0}" = 1 ] && args+=(-allow-unimplemented)
partial=()
if [ -n "${BOGO_TEST:-}" ]; then args+=(-test "$BOGO_TEST"); partial=(--partial); fi
if [ "${BOGO_STRICT:-0}" = 1 ] && [ "${BOGO_ALLOW_UNIMPLEMENTED:-0}" = 1 ]; then
  echo "run.sh: note: strict mode counts unimplemented in-scope required tests as failures" >&2
fi

rm -f "$OUT/results.json" "$OUT/unimplemented.log"
export KITLS_SHIM_UNIMPL_LOG=$OUT/unimplemented.log
echo "run.sh: runner $runner_dir, shim $SHIM, profile $PROFILE, output $OUT" >&2
set +e
( cd "$runner_dir" && ./runner.test "${args[@]}" ) > "$OUT/runner.log" 2>&1
runner_rc=$?
set -e
if [ ! -s "$OUT/results.json" ]; then
  tail -30 "$OUT/runner.log" >&2
  echo "run.sh: the runner wrote no results (exit $runner_rc)" >&2
  exit 2
fi

sargs=("$OUT/results.json" --profile "$PROFILE" --claimed "${BOGO_AREAS:-profile}"
       --runner-log "$OUT/runner.log" --out "$OUT/summary.json" --text "${partial[@]}")
[ "${BOGO_STRICT:-0}" = 1 ] && sargs+=(--strict)
set +e
python3 "$here/summary.py" "${sargs[@]}" | tee "$OUT/summary.txt"
rc=${PIPESTATUS[0]}
set -e
if [ -s "$OUT/unimplemented.log" ]; then
  echo "  shim flags behind 'unimplemented' (count, flag):"
  sort "$OUT/unimplemented.log" | uniq -c | sort -rn | head -15 | sed 's/^/   /'
fi | tee -a "$OUT/summary.txt"
echo "run.sh: summary in $OUT/summary.json (runner exit $runner_rc)" >&2
if [ "${BOGO_STRICT:-0}" = 1 ]; then
  [ "$rc" = 0 ] && echo "run.sh: STRICT PASS" >&2 || echo "run.sh: STRICT FAIL" >&2
  exit "$rc"
fi
[ "$rc" -le 1 ] && exit 0
exit "$rc"
