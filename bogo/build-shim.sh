#!/usr/bin/env bash
# Build the BoGo shim by hand against an already built lib/.libs (used until
# bogo/Makefile.inc is included by Makefile.am).  Usage: build-shim.sh [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/.." && pwd)
out=${1:-$here/kitls-shim}
libdir=${KITLS_LIBDIR:-$top/lib/.libs}
[ -f "$libdir/libkitls.so" ] || [ -f "$libdir/libkitls.a" ] || {
  echo "build-shim: no libkitls in $libdir (build the library first)" >&2; exit 1; }
${CC:-gcc} -std=gnu11 -O1 -g -Wall -Wextra -Wno-unused-parameter -I"$top/include" \
  -o "$out" "$here/shim.c" "$here/shim_flags.c" "$here/shim_config.c" \
  "$here/shim_check.c" -L"$libdir" -Wl,-rpath,"$libdir" -lkitls \
  $(pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
echo "$out"
