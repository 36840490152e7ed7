#!/usr/bin/env bash
# The core library builds and installs on a system without <linux/tls.h>
# (docs/ktls.md): configure with the header hidden -- the configure cache
# answers "no", and a poisoned linux/tls.h first on the include path makes
# any file of the core that still includes it fail -- then make, make
# install DESTDIR=..., and check what was installed: libkitls, kitls.h and
# kitls.pc, nothing of libkitls-ktls, and a program linked against the
# installed core.  In make check (a core-only build, about 15 s).
# Usage: bash tests/build-no-ktls.sh [workdir]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$src/configure" ] || { echo "run autoreconf -fi in $src first" >&2; exit 1; }
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/kitls-noktls.XXXXXX")}
[ $# -gt 0 ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/poison/linux" "$work/build" "$work/dest"
printf '#error "<linux/tls.h> is absent in this build (tests/build-no-ktls.sh)"\n' \
    >"$work/poison/linux/tls.h"
fail() { echo "build-no-ktls: FAIL: $*" >&2; exit 1; }

cd "$work/build"
"$src/configure" -q --enable-werror --prefix=/usr/local ac_cv_header_linux_tls_h=no \
    CPPFLAGS="-I$work/poison"
grep -q 'S\["HAVE_KTLS_TRUE"\]="#"' config.status || fail "configure still builds ktls/"
make -j"$(nproc 2>/dev/null || echo 2)" >make.log 2>&1 || { tail -30 make.log; fail "make"; }
make install DESTDIR="$work/dest" >install.log 2>&1 || { tail -30 install.log; fail "make install"; }

d=$work/dest/usr/local
for f in lib/libkitls.so include/kitls/kitls.h lib/pkgconfig/kitls.pc; do
    [ -e "$d/$f" ] || fail "$f not installed"
done
for f in include/kitls/ktls.h include/kitls/uring.h lib/pkgconfig/kitls-ktls.pc; do
    [ ! -e "$d/$f" ] || fail "$f installed without kTLS"
done
ls "$d"/lib/libkitls-ktls* "$d"/lib/libkitls-uring* >/dev/null 2>&1 &&
    fail "libkitls-ktls or libkitls-uring installed without kTLS"
# (nm into a file: grep -q closing the pipe early would fail under pipefail)
nm -D --defined-only "$d/lib/libkitls.so" >"$work/syms" || fail "nm libkitls.so"
grep -q ' T kitls_conn_new$' "$work/syms" || fail "libkitls.so lacks kitls_conn_new"
! grep -q ' T kitls_ktls_' "$work/syms" || fail "libkitls.so exports kitls_ktls_* symbols"

# A program against the installed core (header, pkg-config file, library).
cat >"$work/use.c" <<'C'
#include <kitls/kitls.h>
#include <stdio.h>
int main(void)
{
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    if (!cfg)
        return 1;
    kitls_config_free(cfg);
    puts(kitls_version());
    return 0;
}
C
flags=$(PKG_CONFIG_SYSROOT_DIR="$work/dest" PKG_CONFIG_PATH="$d/lib/pkgconfig" \
    pkg-config --cflags --libs kitls) || fail "pkg-config kitls"
${CC:-cc} -o "$work/use" "$work/use.c" $flags -Wl,-rpath,"$d/lib" || fail "linking against the installed libkitls"
LD_LIBRARY_PATH="$d/lib" "$work/use" >/dev/null || fail "program using the installed libkitls"
echo "build-no-ktls: ok (libkitls built and installed without <linux/tls.h>)"
