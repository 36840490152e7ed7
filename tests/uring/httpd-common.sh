# Shared set-up of the uring-httpd tests (sourced): `httpd_setup TOOL...`
# checks the tools and the binary (exit 77, skip, when one is missing),
# sets $httpd (absolute path), $tmp (removed at exit), $pids (killed at
# exit), $fail, and defines check() and wait_port().
httpd_setup() {
    top_builddir=${top_builddir:-.}
    httpd=$top_builddir/examples/uring-httpd
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found"; exit 77; }
    done
    [ -x "$httpd" ] || { echo "SKIP: examples/uring-httpd not built"; exit 77; }
    httpd=$(cd "$(dirname "$httpd")" && pwd)/uring-httpd
    tmp=$(mktemp -d)
    pids=
    trap cleanup EXIT INT TERM
    fail=0 # read by the sourcing test
    export fail
}
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
check() { # name, command...
    name=$1; shift
    if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fail=1; fi
}
wait_port() { # file -> prints the port (20 s at most: a loaded machine)
    i=0
    while [ ! -s "$1" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
    cut -d' ' -f1 "$1"
}
