#!/usr/bin/env python3
"""Summarise a BoGo run against the kitls v1-prod profile.

Python 3 standard library only.

Inputs (detected from the file's content, see read_results()):

  * Chromium JSON test results, version 3, as written by BoringSSL's runner
    (`-json-output`):
      - "old" runners (e.g. BoringSSL 32b51305, Debian 14.0.0+r45): a flat
        "tests" map {name: {"actual", "expected", "is_unexpected"}};
      - "new" runners (current upstream): the same, plus an optional
        per-test "error" string;
      - the general Chromium trie form (tests nested by path_delimiter,
        leaves holding "actual"/"expected") is also accepted.
  * Our own summary files (schema "kitls-bogo-summary", schema_version
    <= SCHEMA_VERSION): they keep every test's status, so an earlier run
    can be re-summarised, e.g. against a newer profile.

Output: one JSON object with a fixed schema (SCHEMA_VERSION), described in
docs/bogo-profile-v1-prod.md ("Summary schema").  Keys never disappear;
counts are integers.

Usage:
  summary.py RESULTS.json [--profile P.json] [--claimed a,b|all|profile]
             [--runner-log LOG] [--partial] [--out FILE] [--text]
             [--strict]
  summary.py --self-test

--strict makes the exit status 1 when critical_failure_count > 0 or when
the results contain tests the profile does not classify.
"""

import argparse
import json
import os
import re
import sys
from collections import Counter, OrderedDict

SCHEMA = "kitls-bogo-summary"
SCHEMA_VERSION = 1
CLASSES = ("in_scope_required", "in_scope_optional", "out_of_scope")
# Normalised per-test statuses.
PASS, FAIL, SKIP, NOT_RUN = "PASS", "FAIL", "SKIP", "NOT_RUN"
UNCLASSIFIED_AREA = "unclassified"
MAX_LISTED = 200  # failures listed by name in the summary


class InputError(Exception):
    pass


# --------------------------------------------------------------------------
# Reading results
# --------------------------------------------------------------------------

def _norm_actual(actual):
    """Chromium's "actual" may hold several space-separated results (one per
    retry); the last one is the final outcome."""
    if not isinstance(actual, str) or not actual.strip():
        raise InputError("result without an 'actual' string")
    last = actual.split()[-1].upper()
    if last == PASS:
        return PASS
    if last in ("SKIP", "NOTRUN"):
        return SKIP
    # FAIL, CRASH, TIMEOUT, TEXT, IMAGE, ... are all failures.
    return FAIL


def _walk_trie(node, prefix, delim, out):
    for key, val in node.items():
        name = key if not prefix else prefix + delim + key
        if isinstance(val, dict) and "actual" in val and not isinstance(val["actual"], dict):
            out[name] = val
        elif isinstance(val, dict):
            _walk_trie(val, name, delim, out)
        else:
            raise InputError("unexpected value under tests/%s" % name)


def read_results(doc):
    """Return (format, {name: status}, {name: error-or-None}, meta)."""
    if not isinstance(doc, dict):
        raise InputError("top level is not a JSON object")
    if doc.get("schema") == SCHEMA:
        ver = doc.get("schema_version")
        if not isinstance(ver, int) or ver < 1:
            raise InputError("summary file without a valid schema_version")
        if ver > SCHEMA_VERSION:
            raise InputError("summary schema_version %d is newer than this tool (%d)"
                             % (ver, SCHEMA_VERSION))
        results = doc.get("results")
        if not isinstance(results, dict):
            raise InputError("summary file without a 'results' map")
        statuses, errors = {}, {}
        for name, st in results.items():
            if st not in (PASS, FAIL, SKIP, NOT_RUN):
                raise InputError("bad status %r for %s" % (st, name))
            if st == NOT_RUN:
                continue  # recomputed from the profile
            statuses[name] = st
        for f in doc.get("failures", []):
            if isinstance(f, dict) and f.get("error"):
                errors[f["name"]] = f["error"]
        meta = {"partial": bool(doc.get("partial")),
                "interrupted": bool(doc.get("interrupted"))}
        return "kitls-summary-v%d" % ver, statuses, errors, meta

    if doc.get("version") != 3 or "tests" not in doc:
        raise InputError("not Chromium JSON test results v3 (version=%r) nor a %s file"
                         % (doc.get("version"), SCHEMA))
    tests = doc["tests"]
    if not isinstance(tests, dict):
        raise InputError("'tests' is not an object")
    delim = doc.get("path_delimiter") or "."
    leaves = OrderedDict()
    flat = all(isinstance(v, dict) and "actual" in v for v in tests.values())
    if flat:
        leaves.update(tests)
    else:
        _walk_trie(tests, "", delim, leaves)
    statuses, errors = {}, {}
    has_error_field = False
    for name, res in leaves.items():
        statuses[name] = _norm_actual(res.get("actual"))
        if "error" in res:
            has_error_field = True
            if res["error"]:
                errors[name] = str(res["error"])
    if not flat:
        fmt = "chromium-v3-trie"
    elif has_error_field:
        fmt = "chromium-v3-new"
    else:
        fmt = "chromium-v3-old"
    meta = {"interrupted": bool(doc.get("interrupted"))}
    return fmt, statuses, errors, meta


_FAILED_RE = re.compile(r"^FAILED \((?P<name>[^)]+)\)$")


def read_runner_log(text):
    """Old runners keep failure messages out of the JSON; they print
    'FAILED (name)' followed by the message on stdout.  Return {name: msg}."""
    errors = {}
    cur, buf = None, []
    for line in text.splitlines():
        line = line.replace("\r", "")
        # status lines are erased with backspaces; keep what follows them
        if "\b" in line:
            line = line.rsplit("\b", 1)[-1]
        m = _FAILED_RE.match(line)
        if m:
            if cur:
                errors[cur] = "\n".join(buf).strip()
            cur, buf = m.group("name"), []
            continue
        if cur is not None:
            if line.startswith("UNIMPLEMENTED (") or line.startswith("PASSED ("):
                errors[cur] = "\n".join(buf).strip()
                cur, buf = None, []
            else:
                buf.append(line)
    if cur:
        errors[cur] = "\n".join(buf).strip()
    return errors


_REASON_SUBS = [
    (re.compile(r"\b(port|pid) \d+"), r"\1 N"),
    (re.compile(r"\[::1\]:\d+|127\.0\.0\.1:\d+"), "ADDR"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0xN"),
    (re.compile(r"\b\d{3,}\b"), "N"),
]


def failure_reason(msg):
    """A short, stable category for a failure message."""
    if not msg:
        return "(no message)"
    first = msg.strip().splitlines()[0] if msg.strip() else ""
    # "unexpected failure: local error '...', child error '...', stdout:" -> keep
    # the kind and the two errors, not the output dump.
    first = first.split(", stdout:")[0]
    for rx, rep in _REASON_SUBS:
        first = rx.sub(rep, first)
    return first[:160]


# --------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------

def load_profile(path):
    with open(path, encoding="utf-8") as f:
        prof = json.load(f)
    if prof.get("schema") != "kitls-bogo-profile":
        raise InputError("%s is not a kitls-bogo-profile file" % path)
    if not isinstance(prof.get("tests"), dict):
        raise InputError("%s has no 'tests' map" % path)
    for name, t in prof["tests"].items():
        if t.get("class") not in CLASSES or not t.get("area"):
            raise InputError("%s: bad entry for %s" % (path, name))
    return prof


def resolve_claimed(spec, profile):
    """spec: None/'profile' -> the profile's claimed_areas; 'all' -> every
    area; else a comma-separated list.  Returns a sorted list of areas."""
    if profile is None:
        return []
    all_areas = sorted({t["area"] for t in profile["tests"].values()})
    if spec is None or spec == "" or spec == "profile":
        claimed = profile.get("claimed_areas", [])
    elif spec == "all":
        claimed = all_areas
    else:
        claimed = [a.strip() for a in spec.split(",") if a.strip()]
    unknown = [a for a in claimed if a not in all_areas]
    if unknown:
        raise InputError("unknown area(s) claimed: %s (known: %s)"
                         % (", ".join(unknown), ", ".join(all_areas)))
    return sorted(set(claimed))


# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------

def _counts():
    return OrderedDict([("total", 0), ("pass", 0), ("fail", 0), ("skip", 0), ("not_run", 0)])


_KEY = {PASS: "pass", FAIL: "fail", SKIP: "skip", NOT_RUN: "not_run"}


def summarize(fmt, statuses, errors, meta, profile=None, claimed_spec=None,
              partial=False):
    partial = partial or bool(meta.get("partial"))
    claimed = resolve_claimed(claimed_spec, profile)
    ptests = profile["tests"] if profile else {}

    # Every test we account for: those with a result plus, with a profile,
    # every in-scope test (a missing one is NOT_RUN unless --partial).
    names = set(statuses)
    if profile and not partial:
        names |= {n for n, t in ptests.items() if t["class"] != "out_of_scope"}

    overall = _counts()
    by_class = {c: _counts() for c in CLASSES if c != "out_of_scope"}
    areas = {}
    out_of_scope_ran = _counts()
    unclassified = []
    critical = []
    per_test = {}

    for name in sorted(names):
        st = statuses.get(name, NOT_RUN)
        per_test[name] = st
        t = ptests.get(name)
        if profile and t is None:
            unclassified.append(name)
            cls, area = "in_scope_required", UNCLASSIFIED_AREA
        elif t is None:
            cls, area = "in_scope_required", UNCLASSIFIED_AREA
        else:
            cls, area = t["class"], t["area"]
        if cls == "out_of_scope":
            out_of_scope_ran["total"] += 1
            out_of_scope_ran[_KEY[st]] += 1
            continue
        overall["total"] += 1
        overall[_KEY[st]] += 1
        by_class[cls]["total"] += 1
        by_class[cls][_KEY[st]] += 1
        a = areas.setdefault(area, OrderedDict([
            ("claimed", False),
            ("total", 0), ("pass", 0), ("fail", 0), ("skip", 0), ("not_run", 0),
            ("required_total", 0), ("required_pass", 0), ("required_not_pass", 0),
            ("optional_total", 0), ("optional_pass", 0),
        ]))
        a["total"] += 1
        a[_KEY[st]] += 1
        if cls == "in_scope_required":
            a["required_total"] += 1
            if st == PASS:
                a["required_pass"] += 1
            else:
                a["required_not_pass"] += 1
                if area in claimed or area == UNCLASSIFIED_AREA:
                    critical.append(name)
        else:
            a["optional_total"] += 1
            if st == PASS:
                a["optional_pass"] += 1

    for area in claimed:
        areas.setdefault(area, OrderedDict([
            ("claimed", True), ("total", 0), ("pass", 0), ("fail", 0), ("skip", 0),
            ("not_run", 0), ("required_total", 0), ("required_pass", 0),
            ("required_not_pass", 0), ("optional_total", 0), ("optional_pass", 0)]))
    for area, a in areas.items():
        a["claimed"] = area in claimed

    # Out-of-scope count: from the profile when there is one, else 0.
    oos_count = sum(1 for t in ptests.values() if t["class"] == "out_of_scope")

    failures = []
    reasons = Counter()
    for name in sorted(names):
        st = per_test[name]
        if st == PASS:
            continue
        t = ptests.get(name)
        cls = t["class"] if t else "in_scope_required"
        if cls == "out_of_scope":
            continue
        err = errors.get(name)
        if st == SKIP:
            reason = "unimplemented (shim exit 89)"
        elif st == NOT_RUN:
            reason = "not run"
        else:
            reason = failure_reason(err)
        reasons[reason] += 1
        failures.append((name, st, cls, t["area"] if t else UNCLASSIFIED_AREA, reason, err))

    crit_set = set(critical)
    failures.sort(key=lambda f: (f[0] not in crit_set, f[0]))
    listed = []
    for name, st, cls, area, reason, err in failures[:MAX_LISTED]:
        item = OrderedDict([("name", name), ("status", st), ("class", cls),
                            ("area", area), ("critical", name in crit_set),
                            ("reason", reason)])
        if err:
            item["error"] = err[:2000]
        listed.append(item)

    req = by_class["in_scope_required"]
    out = OrderedDict()
    out["schema"] = SCHEMA
    out["schema_version"] = SCHEMA_VERSION
    out["input_format"] = fmt
    out["profile"] = profile.get("profile") if profile else None
    out["partial"] = partial
    out["interrupted"] = bool(meta.get("interrupted"))
    out["claimed_areas"] = claimed
    out["total"] = overall["total"]
    out["pass"] = overall["pass"]
    out["fail"] = overall["fail"]
    out["skip"] = overall["skip"]
    out["not_run"] = overall["not_run"]
    out["in_scope_required"] = OrderedDict([
        ("total", req["total"]), ("pass", req["pass"]),
        ("fail", req["total"] - req["pass"]),   # every non-PASS counts as a failure
        ("failed", req["fail"]), ("skipped", req["skip"]), ("not_run", req["not_run"])])
    opt = by_class["in_scope_optional"]
    out["in_scope_optional"] = OrderedDict([
        ("total", opt["total"]), ("pass", opt["pass"]),
        ("fail", opt["total"] - opt["pass"])])
    out["critical_failure_count"] = len(critical)
    out["out_of_scope_count"] = oos_count
    out["out_of_scope_ran"] = OrderedDict(
        [("total", out_of_scope_ran["total"]), ("pass", out_of_scope_ran["pass"]),
         ("fail", out_of_scope_ran["fail"]), ("skip", out_of_scope_ran["skip"])])
    out["unclassified_count"] = len(unclassified)
    out["areas"] = OrderedDict((k, areas[k]) for k in sorted(areas))
    out["unclaimed_areas"] = sorted(a for a in areas if a not in claimed)
    out["top_failure_reasons"] = [OrderedDict([("reason", r), ("count", n)])
                                  for r, n in sorted(reasons.items(),
                                                     key=lambda x: (-x[1], x[0]))[:15]]
    out["failures_listed"] = len(listed)
    out["failures"] = listed
    out["strict_ok"] = len(critical) == 0 and not unclassified
    out["results"] = OrderedDict((n, per_test[n]) for n in sorted(per_test))
    return out


def render_text(s):
    L = []
    r = s["in_scope_required"]
    L.append("BoGo summary (profile %s, input %s%s)" % (
        s["profile"], s["input_format"], ", partial" if s["partial"] else ""))
    L.append("  total %d: pass %d, fail %d, skip/unimplemented %d, not run %d"
             % (s["total"], s["pass"], s["fail"], s["skip"], s["not_run"]))
    L.append("  in_scope_required %d: pass %d, fail %d (failed %d, unimplemented %d, not run %d)"
             % (r["total"], r["pass"], r["fail"], r["failed"], r["skipped"], r["not_run"]))
    o = s["in_scope_optional"]
    L.append("  in_scope_optional %d: pass %d, fail %d" % (o["total"], o["pass"], o["fail"]))
    L.append("  out_of_scope %d (not run; %d present in results)"
             % (s["out_of_scope_count"], s["out_of_scope_ran"]["total"]))
    if s["unclassified_count"]:
        L.append("  UNCLASSIFIED tests in results: %d (regenerate the profile)"
                 % s["unclassified_count"])
    L.append("  claimed areas: %s" % (", ".join(s["claimed_areas"]) or "(none)"))
    L.append("  %-22s %7s %6s %6s %6s %6s %9s" % ("area", "claimed", "total", "pass",
                                                  "fail", "skip", "req-fail"))
    for name, a in s["areas"].items():
        L.append("  %-22s %7s %6d %6d %6d %6d %9d" % (
            name, "yes" if a["claimed"] else "no", a["total"], a["pass"], a["fail"],
            a["skip"] + a["not_run"], a["required_not_pass"]))
    if s["top_failure_reasons"]:
        L.append("  most common non-PASS reasons:")
        for item in s["top_failure_reasons"][:10]:
            L.append("    %5d  %s" % (item["count"], item["reason"]))
    L.append("  critical_failure_count %d -> %s" % (
        s["critical_failure_count"], "OK" if s["strict_ok"] else "STRICT FAIL"))
    return "\n".join(L) + "\n"


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=False) + "\n"


def run(args):
    with open(args.results, encoding="utf-8") as f:
        doc = json.load(f)
    fmt, statuses, errors, meta = read_results(doc)
    if args.runner_log:
        with open(args.runner_log, encoding="utf-8", errors="replace") as f:
            for k, v in read_runner_log(f.read()).items():
                errors.setdefault(k, v)
    profile = load_profile(args.profile) if args.profile else None
    s = summarize(fmt, statuses, errors, meta, profile, args.claimed, args.partial)
    text = dump(s)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    if args.text:
        sys.stdout.write(render_text(s))
    elif not args.out:
        sys.stdout.write(text)
    if args.strict and not s["strict_ok"]:
        return 1
    return 0


# --------------------------------------------------------------------------
# Self-test against golden fixtures (bogo/fixtures/)
# --------------------------------------------------------------------------

def self_test(fixtures):
    """Each fixtures/*.case.json names an input, optional profile/log/claimed
    and the golden summary it must reproduce exactly."""
    cases = sorted(fn for fn in os.listdir(fixtures) if fn.endswith(".case.json"))
    if not cases:
        print("summary self-test: no cases in %s" % fixtures)
        return 1
    passed = failed = 0
    for fn in cases:
        with open(os.path.join(fixtures, fn), encoding="utf-8") as f:
            case = json.load(f)
        p = lambda k: os.path.join(fixtures, case[k]) if case.get(k) else None
        try:
            with open(p("input"), encoding="utf-8") as f:
                doc = json.load(f)
            fmt, statuses, errors, meta = read_results(doc)
            if case.get("runner_log"):
                with open(p("runner_log"), encoding="utf-8") as f:
                    for k, v in read_runner_log(f.read()).items():
                        errors.setdefault(k, v)
            profile = load_profile(p("profile")) if case.get("profile") else None
            got = summarize(fmt, statuses, errors, meta, profile, case.get("claimed"),
                            case.get("partial", False))
            if "expect_error" in case:
                raise AssertionError("expected an error containing %r" % case["expect_error"])
            with open(p("golden"), encoding="utf-8") as f:
                want = json.load(f, object_pairs_hook=OrderedDict)
            if json.loads(dump(got)) != want:
                gk = json.loads(dump(got))
                diff = [k for k in set(gk) | set(want) if gk.get(k) != want.get(k)]
                raise AssertionError("differs from %s in keys %s" % (case["golden"], sorted(diff)))
            for k, v in case.get("expect", {}).items():
                if got.get(k) != v:
                    raise AssertionError("%s = %r, want %r" % (k, got.get(k), v))
            # A summary is itself an input: re-reading it must give the same
            # summary (round trip through our own schema).
            fmt2, st2, er2, meta2 = read_results(json.loads(dump(got)))
            again = summarize(fmt2, st2, er2, meta2, profile, case.get("claimed"),
                              case.get("partial", False))
            again["input_format"] = got["input_format"]
            if json.loads(dump(again)) != json.loads(dump(got)):
                raise AssertionError("round trip through the summary schema changed it")
        except InputError as e:
            if "expect_error" in case and case["expect_error"] in str(e):
                print("ok   %s (rejected: %s)" % (fn, e))
                passed += 1
                continue
            print("FAIL %s: %s" % (fn, e))
            failed += 1
            continue
        except (AssertionError, OSError, ValueError, KeyError) as e:
            print("FAIL %s: %s" % (fn, e))
            failed += 1
            continue
        print("ok   %s" % fn)
        passed += 1
    # the runner-log parser on its own
    log = ("\b\b\b\bFAILED (A-Test)\nunexpected failure: local error 'x', child error 'y', "
           "stdout:\n\nstderr:\n\n\nUNIMPLEMENTED (B)\nFAILED (C)\nbad error\n")
    errs = read_runner_log(log)
    if errs.get("A-Test", "").startswith("unexpected failure") and errs.get("C") == "bad error" \
            and "B" not in errs:
        print("ok   runner-log parser")
        passed += 1
    else:
        print("FAIL runner-log parser: %r" % errs)
        failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", help="runner JSON or kitls summary JSON")
    ap.add_argument("--profile", help="kitls-bogo-profile JSON (bogo/profile-v1-prod.json)")
    ap.add_argument("--claimed", help="claimed areas: 'profile' (default), 'all', or a,b,c")
    ap.add_argument("--runner-log", help="runner stdout, for failure messages (old runners)")
    ap.add_argument("--partial", action="store_true",
                    help="only a subset was run: in-scope tests without a result are not counted")
    ap.add_argument("--out", help="write the JSON summary here")
    ap.add_argument("--text", action="store_true", help="print a human-readable table")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 if critical_failure_count > 0 or tests are unclassified")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "fixtures"))
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test(args.fixtures)
    if not args.results:
        ap.error("RESULTS is required (or --self-test)")
    try:
        return run(args)
    except (InputError, OSError, ValueError) as e:
        print("summary.py: error: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
