#!/usr/bin/env bash
# Print every test name the BoGo runner generates, one per line, sorted.
# The runner has no "list" flag, so it is run against bogo/stub-shim.sh
# (which exits 89, "unimplemented", for every test) with
# -allow-unimplemented, and the names are read from its JSON output.
# Env: BORINGSSL_DIR (extracted runner source; default: fetch-runner.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BORINGSSL_DIR=${BORINGSSL_DIR:-$(bash "$here/fetch-runner.sh")}
runner_dir=$BORINGSSL_DIR/src/ssl/test/runner
[ -x "$runner_dir/runner.test" ] || BORINGSSL_DIR=$(bash "$here/fetch-runner.sh")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
( cd "$runner_dir" && ./runner.test -test.run=TestAll -allow-unimplemented \
    -num-workers "${BOGO_WORKERS:-2}" -shim-path "$here/stub-shim.sh" \
    -json-output "$tmp/all.json" >"$tmp/runner.log" 2>&1 ) || true
[ -s "$tmp/all.json" ] || { cat "$tmp/runner.log" >&2; echo "list-tests: runner wrote no JSON" >&2; exit 1; }
python3 -c 'import json,sys; print("\n".join(sorted(json.load(open(sys.argv[1]))["tests"])))' "$tmp/all.json"
