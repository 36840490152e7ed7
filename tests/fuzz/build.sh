#!/usr/bin/env bash
# Build the fuzz targets of tests/fuzz without autotools (docs/fuzzing.md).
#
# Usage: tests/fuzz/build.sh [--mode fuzzer|replay] [--src DIR] [--out DIR]
#                            [--no-sanitize] [--planted] [TARGET...]
#   --mode fuzzer  (default) clang -fsanitize=fuzzer,address,undefined:
#                  libFuzzer binaries OUT/fuzz_TARGET
#   --mode replay  $CC (default cc) with ASan+UBSan when the compiler has
#                  them (--no-sanitize: none) and the plain main() of
#                  main.c: OUT/replay_TARGET FILE|DIR...
#   --src DIR      source tree to build (default: this checkout)
#   --out DIR      output directory (default: SRC/tests/fuzz/bin-MODE)
#   --planted      add the planted crash (replay.sh --self-test only)
#   TARGET         default: all of  record hsmsg server client session ticket ktls
# Prints the output directory on the last line.
set -euo pipefail

mode=fuzzer src='' out='' sanitize=1 planted=0 targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --mode) mode=$2; shift 2 ;;
    --src) src=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-sanitize) sanitize=0; shift ;;
    --planted) planted=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
[ -n "$src" ] || src=$(cd "$(dirname "$0")/../.." && pwd)
src=$(cd "$src" && pwd)
[ -n "$out" ] || out=$src/tests/fuzz/bin-$mode
[ ${#targets[@]} -gt 0 ] || targets=(record hsmsg server client session ticket ktls)
mkdir -p "$out/obj"
out=$(cd "$out" && pwd)

crypto_cflags=$(pkg-config --cflags libcrypto 2>/dev/null || true)
crypto_libs=$(pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
base="-g -O1 -fno-omit-frame-pointer -pthread -I$src/include -I$src/lib -I$src/ktls -I$src/tests/ktls -I$src/tests/fuzz $crypto_cflags"
case $mode in
fuzzer)
    CC=${FUZZ_CC:-clang}
    san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
    link="-fsanitize=fuzzer,address,undefined"
    ;;
replay)
    CC=${CC:-cc}
    san='' link=''
    if [ $sanitize = 1 ] && echo 'int main(void){return 0;}' |
        $CC -x c -fsanitize=address,undefined -o "$out/obj/probe" - 2>/dev/null; then
        san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
        link="-fsanitize=address,undefined"
    fi
    ;;
*) echo "build.sh: --mode fuzzer|replay" >&2; exit 2 ;;
esac
defs=
[ $planted = 1 ] && defs=-DFZ_PLANTED

objs=()
compile() { # source object [extra flags]
    local s=$1 o=$2
    shift 2
    $CC $base $san "$@" -c "$s" -o "$o"
    objs+=("$o")
}
pids=()
for s in "$src"/lib/*.c "$src"/lib/ext/*.c "$src"/ktls/*.c; do
    o=$out/obj/$(basename "$(dirname "$s")")-$(basename "$s" .c).o
    case $s in */lib/ext/*) o=$out/obj/lib-ext-$(basename "$s" .c).o ;; esac
    compile "$s" "$o" &
    pids+=($!)
done
compile "$src/tests/ktls/fakekernel.c" "$out/obj/fk-fakekernel.o" &
pids+=($!)
compile "$src/tests/fuzz/common.c" "$out/obj/fz-common.o" $defs &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
lib_objs=("$out"/obj/lib-*.o "$out"/obj/ktls-*.o "$out"/obj/fz-common.o)
main_obj=
if [ $mode = replay ]; then
    $CC $base $san -c "$src/tests/fuzz/main.c" -o "$out/obj/fz-main.o"
    main_obj=$out/obj/fz-main.o
fi
for t in "${targets[@]}"; do
    extra=()
    [ "$t" = ktls ] && extra=("$out/obj/fk-fakekernel.o")
    $CC $base $san -c "$src/tests/fuzz/fuzz_$t.c" -o "$out/obj/fuzz_$t.o"
    name=fuzz_$t
    [ $mode = replay ] && name=replay_$t
    $CC $link -pthread -o "$out/$name" "$out/obj/fuzz_$t.o" $main_obj "${lib_objs[@]}" \
        "${extra[@]}" $crypto_libs
done
echo "$out"
