#!/bin/sh
# make check entry for the interop matrix harness (automake's TESTS take no
# arguments): tests/interop/matrix.sh --self-test.  Its artifacts go to a
# temporary directory unless INTEROP_OUT is set, so the build tree stays
# clean (make distcheck).
if [ -z "${INTEROP_OUT:-}" ]; then
    INTEROP_OUT=$(mktemp -d "${TMPDIR:-/tmp}/kitls-matrix.XXXXXX") || exit 99
    export INTEROP_OUT
    trap 'rm -rf "$INTEROP_OUT"' EXIT
fi
bash "$(dirname "$0")/matrix.sh" --self-test "$@"
