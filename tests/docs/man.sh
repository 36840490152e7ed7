#!/bin/sh
# The manual pages (man/): (1) `mandoc -T lint -W style` (the strictest
# level) is silent on every page that is not a .so link page, except for
# its look-ups of referenced manuals in the system's database, which
# depend on the machine: a reference to a kitls page (.Xr kitls...) must
# name a page of man/ instead; each link page is one `.so man3/<page>.3`
# line naming a page that exists; (2) every public function of
# include/kitls/{kitls,ktls,uring,redis}.h has man3/<name>.3 and is named in the
# NAME section (.Nm) of the page it leads to; (3) the SYNOPSIS
# prototypes are the headers'.  Exit 77 without mandoc.
set -u
src=${top_srcdir:-.}
man=$src/man
if ! command -v mandoc >/dev/null 2>&1; then
    echo "SKIP: mandoc is not installed (Debian: apt-get install mandoc)"
    exit 77
fi
fail=0
pages=0
links=0
for f in "$man"/man1/*.1 "$man"/man3/*.3 "$man"/man7/*.7; do
    [ -f "$f" ] || continue
    first=$(head -n 1 "$f")
    case $first in
    .so\ *)
        links=$((links + 1))
        target=${first#.so }
        if [ "$(wc -l <"$f")" -ne 1 ] || [ ! -f "$man/$target" ] ||
            head -n 1 "$man/$target" | grep -q '^\.so '; then
            echo "FAIL: $f: bad link page ($first)"
            fail=1
        fi
        ;;
    *)
        pages=$((pages + 1))
        # mandoc resolves .so and reports relative paths from man/
        out=$(cd "$man" && mandoc -T lint -W style "${f#"$man"/}" 2>&1 |
            grep -v -e 'STYLE: referenced manual not found' -e 'outdated mandoc.db')
        if [ -n "$out" ]; then
            echo "$out"
            echo "FAIL: $f: mandoc -T lint -W style is not clean"
            fail=1
        fi
        xr=$(grep -o 'Xr kitls[A-Za-z0-9_-]* [1-9]' "$f" |
            while read -r _ name sec; do
                [ -f "$man/man$sec/$name.$sec" ] || echo "$name($sec)"
            done)
        if [ -n "$xr" ]; then
            echo "FAIL: $f: references pages that do not exist:" $xr
            fail=1
        fi
        ;;
    esac
done

for f in man7/kitls.7 man1/kitls-client.1 man1/kitls-server.1; do
    if [ ! -f "$man/$f" ]; then
        echo "FAIL: $man/$f is missing"
        fail=1
    fi
done

# Every long option of kitls-client and kitls-server (their getopt_long
# tables) is documented in their section 1 page (an .It line with
# Fl \-name).
for tool in kitls-client kitls-server; do
    page=$man/man1/$tool.1
    [ -f "$page" ] || continue
    opts=$(sed -n 's/^ *{"\([a-z0-9-]*\)", *[a-z_]*_argument,.*/\1/p' "$src/examples/$tool.c")
    if [ "$(echo "$opts" | wc -w)" -lt 10 ]; then
        echo "FAIL: $tool: no option table found in examples/$tool.c"
        fail=1
    fi
    for o in $opts; do
        esc=$(echo "$o" | sed 's/-/\\\\-/g')
        if ! grep -q "^\.It .*Fl \\\\-$esc\( \|\$\)" "$page"; then
            echo "FAIL: $page: option --$o is not documented (.It Fl \\-$esc)"
            fail=1
        fi
    done
done

# Public functions: every KITLS_API declaration's name.
funcs=$(cat "$src"/include/kitls/kitls.h "$src"/include/kitls/ktls.h "$src"/include/kitls/uring.h \
    "$src"/include/kitls/redis.h |
    tr '\n' ' ' | sed 's/;/;\n/g' | grep 'KITLS_API' |
    sed -n 's/.*KITLS_API[^(]*[^a-z0-9_]\(kitls_[a-z0-9_]*\) *(.*/\1/p' | sort -u)
nfuncs=$(echo "$funcs" | wc -w)
if [ "$nfuncs" -lt 150 ]; then
    echo "FAIL: only $nfuncs public functions found in the headers: extraction broken?"
    fail=1
fi
# Each function needs man3/<name>.3 (its page or a link page), and the
# page it leads to must name it in its NAME section (.Nm), so that both
# `man <name>` and the page's NAME agree.
nm_names() {
    sed -n '/^\.Sh NAME/,/^\.Sh /s/^\.Nm \([A-Za-z0-9_]*\).*/\1/p' "$1"
}
missing=$(echo "$funcs" | while read -r fn; do
    f=$man/man3/$fn.3
    if [ ! -f "$f" ]; then
        echo "$fn (no man3/$fn.3)"
        continue
    fi
    first=$(head -n 1 "$f")
    case $first in
    .so\ *) f=$man/${first#.so } ;;
    esac
    [ -f "$f" ] && nm_names "$f" | grep -qx "$fn" || echo "$fn (not in the NAME section of $f)"
done)
if [ -n "$missing" ]; then
    echo "FAIL: public functions without a man page:"
    echo "$missing" | sed 's/^/  /'
    fail=1
fi

# (3) Each SYNOPSIS prototype (.Ft/.Fo/.Fa/.Fc) is the header's, blanks
# aside: comments and preprocessor lines are dropped from the headers,
# declarations are cut at ';', and KITLS_API/KITLS_WUR are removed.
hdr=$(cat "$src"/include/kitls/kitls.h "$src"/include/kitls/ktls.h "$src"/include/kitls/uring.h \
    "$src"/include/kitls/redis.h |
    perl -0pe 's{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{^\s*#.*$}{ }mg; s/\s+/ /g; s/;/;\n/g' |
    grep 'KITLS_API' | sed -e 's/.*KITLS_API//' -e 's/KITLS_WUR//' -e 's/;.*//' |
    tr -d ' \t' | sort -u)
syn=$(for f in "$man"/man3/*.3; do
    head -n 1 "$f" | grep -q '^\.so ' && continue
    awk '/^\.Ft /{sub(/^\.Ft /, ""); ret = $0}
         /^\.Fo /{name = $2; args = ""; n = 0}
         /^\.Fa /{sub(/^\.Fa /, ""); gsub(/"/, ""); args = args (n++ ? "," : "") $0}
         /^\.Fc/{print ret name "(" args ")"}' "$f"
done | tr -d ' \t' | sort -u)
wrong=$(echo "$hdr" | while read -r p; do
    echo "$syn" | grep -qxF "$p" || echo "$p"
done)
if [ -n "$wrong" ]; then
    echo "FAIL: prototypes of the headers not in any SYNOPSIS as written (blanks removed):"
    echo "$wrong" | sed 's/^/  /'
    fail=1
fi
echo "$pages pages linted, $links link pages, $nfuncs public functions in the headers: status $fail"
exit $fail
