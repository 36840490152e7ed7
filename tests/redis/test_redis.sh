#!/bin/sh
# tests/redis/test_redis against a redis-server of its own on a free
# loopback port (issue 19).  77 without redis-server or python3.
set -u
src=${top_srcdir:-.}
bld=${top_builddir:-.}
for t in redis-server redis-cli python3; do
    if ! command -v $t >/dev/null 2>&1; then
        echo "SKIP: $t is not installed (Debian: apt-get install redis-server python3)"
        exit 77
    fi
done
tmp=$(mktemp -d)
. "$src/tests/fleet/fleet-lib.sh"
trap 'stop_redis; rm -rf "$tmp"' EXIT
start_redis || exit 1
KITLS_TEST_REDIS_URL=redis://127.0.0.1:$redis_port "$bld/tests/redis/test_redis"
