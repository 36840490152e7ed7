#!/usr/bin/env bash
# Development aid for reviewing bogo/classify.py rules: dump every BoGo test's
# metadata (protocol, role, runner-side versions, shim flags) as JSON lines.
# It builds a modified COPY of the runner in the cache (never in the repo):
# after the tests are generated, the copy writes the metadata and exits.
# Usage: bash bogo/dump-meta.sh > /tmp/bogo-meta.jsonl
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BORINGSSL_DIR=${BORINGSSL_DIR:-$(bash "$here/fetch-runner.sh")}
src=$BORINGSSL_DIR/src
meta=$BORINGSSL_DIR/meta-src
if [ ! -x "$meta/ssl/test/runner/meta.test" ]; then
  rm -rf "$meta"; mkdir -p "$meta/ssl/test" "$meta/util"
  cp "$src/go.mod" "$src/go.sum" "$meta/"
  cp -r "$src/ssl/test/runner" "$meta/ssl/test/"; cp -r "$src/util/testresult" "$meta/util/"
  rm -f "$meta/ssl/test/runner/runner.test"
  cat > "$meta/ssl/test/runner/kitls_meta.go" <<'GO'
package runner

import (
	"encoding/json"
	"os"
)

func kitlsDumpMeta() {
	enc := json.NewEncoder(os.Stdout)
	for i := range testCases {
		t := &testCases[i]
		proto := "tls"
		if t.protocol == dtls {
			proto = "dtls"
		} else if t.protocol == quic {
			proto = "quic"
		}
		role := "client"
		if t.testType == serverTest {
			role = "server"
		}
		rmax, rmin := t.config.MaxVersion, t.config.MinVersion
		var resMax uint16
		if t.resumeConfig != nil {
			resMax = t.resumeConfig.MaxVersion
		}
		enc.Encode(map[string]interface{}{
			"name": t.name, "protocol": proto, "role": role,
			"runner_max": rmax, "runner_min": rmin, "resume_max": resMax,
			"flags": t.flags, "resume": t.resumeSession, "early_data": t.earlyData,
			"should_fail": t.shouldFail, "error": t.expectedError,
			"local_error": t.expectedLocalError,
		})
	}
	os.Exit(0)
}
GO
  # call the dumper right after the test list is complete
  sed -i 's/^\tcheckTests()$/\tcheckTests()\n\tif os.Getenv("KITLS_DUMP_META") != "" {\n\t\tkitlsDumpMeta()\n\t}/' \
    "$meta/ssl/test/runner/runner.go"
  grep -q kitlsDumpMeta "$meta/ssl/test/runner/runner.go" || { echo "dump-meta: patch failed" >&2; exit 1; }
  ( cd "$meta" && cp "$src/go.mod" go.mod && cd ssl/test/runner && \
    GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOCACHE=${KITLS_CACHE:-/var/cache/kitls}/bogo/gocache \
    go test -c -o meta.test . >&2 )
fi
cd "$meta/ssl/test/runner"
KITLS_DUMP_META=1 ./meta.test -test.run=TestAll -shim-path "$here/stub-shim.sh"
