#!/usr/bin/env bash
# make check: the risk register (docs/risk-acceptance.md) cannot fall
# behind docs/limits.md.  Every item of docs/limits.md — each heading,
# each table row (its first cell up to " ("), each top-level bullet (its
# leading bold phrase, else its first words up to ":" "(" ";" "," or ".",
# at most six) — must be quoted, as `limits: <item>`, in the register's
# coverage table, against a register entry (RA-NNN) that exists; and every
# entry must name an owner role, a status and a review date.
#   tests/docs/risk.sh [LIMITS.md REGISTER.md]     (--list: print the items)
# Exit 0 covered; 1 an item or field missing (each printed); 77 no python3.
set -euo pipefail
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
list=0
if [ "${1:-}" = --list ]; then list=1; shift; fi
limits=${1:-$src/docs/limits.md}
register=${2:-$src/docs/risk-acceptance.md}
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
exec python3 - "$limits" "$register" "$list" <<'PY'
import re, sys
limits, register, list_only = sys.argv[1], sys.argv[2], sys.argv[3] == "1"

def plain(s):
    s = s.replace("**", "").replace("`", "")
    return re.sub(r"\s+", " ", s).strip()

def bullet_key(text):
    m = re.match(r"\*\*(.+?)\*\*", text)
    if m:
        return plain(m.group(1))
    t = re.split(r"[:(;,.]", plain(text), maxsplit=1)[0]
    return " ".join(t.split()[:6]).strip()

items = []
lines = open(limits, encoding="utf-8").read().splitlines()
fence = False
for i, line in enumerate(lines):
    if line.startswith("```"):
        fence = not fence
    if fence:
        continue
    if re.match(r"#{2,6} ", line):
        items.append(("heading", plain(line.lstrip("#"))))
    elif line.startswith("|"):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if re.match(r"\|\s*:?-{3,}", line) or re.match(r"\|\s*:?-{3,}", nxt):
            continue                       # separator or header row
        cell = plain(line.strip("|").split("|")[0])
        items.append(("table row", cell.split(" (")[0].strip()))
    elif line.startswith("- "):
        items.append(("bullet", bullet_key(line[2:])))

if list_only:
    for kind, key in items:
        print("%-9s limits: %s" % (kind, key))
    sys.exit(0)

reg = open(register, encoding="utf-8").read()
regplain = plain(reg)
entries = re.split(r"^### (RA-\d{3})\b", reg, flags=re.M)
ids = {}
for k in range(1, len(entries), 2):
    ids[entries[k]] = entries[k + 1]
bad = 0
for kind, key in items:
    m = re.search(r"limits: " + re.escape(key) + r"\s*\|\s*(RA-\d{3}(?:[ ,]+RA-\d{3})*)", regplain)
    if not m:
        print("risk.sh: docs/limits.md %s '%s' is not in the register's coverage table "
              "(add a row: | limits: %s | RA-NNN |)" % (kind, key, key))
        bad += 1
        continue
    for ra in re.findall(r"RA-\d{3}", m.group(1)):
        if ra not in ids:
            print("risk.sh: '%s' points to %s, which has no entry (### %s)" % (key, ra, ra))
            bad += 1
for ra, body in ids.items():
    for field in ("Owner", "Status", "Review by"):
        if not re.search(r"\*\*%s:\*\*\s*\S" % field, body):
            print("risk.sh: %s has no **%s:** field" % (ra, field))
            bad += 1
    m = re.search(r"\*\*Review by:\*\*\s*(\S+)", body)
    if m and not re.match(r"\d{4}-\d\d-\d\d$", m.group(1)):
        print("risk.sh: %s review date '%s' is not YYYY-MM-DD" % (ra, m.group(1)))
        bad += 1
if not ids:
    print("risk.sh: no register entries (### RA-NNN) in %s" % register)
    bad += 1
print("risk.sh: %d limits.md items, %d register entries, %d problems" % (len(items), len(ids), bad))
sys.exit(1 if bad else 0)
PY
