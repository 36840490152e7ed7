#!/bin/sh
# make check entry for the interop matrix harness (automake's TESTS take no
# arguments): tests/interop/matrix.sh --self-test.
exec bash "$(dirname "$0")/matrix.sh" --self-test "$@"
