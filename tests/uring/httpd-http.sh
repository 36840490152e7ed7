#!/bin/bash
# tests/uring/httpd-http.sh — examples/uring-httpd as an HTTP/1.1 static
# file server (issue 17, items 2 and 3), on loopback with curl and raw
# requests through openssl s_client:
#   1. bodies byte-exact (small by one write, large by sendfile), HEAD
#      with GET's headers and no body, Date, Last-Modified, ETag,
#      Accept-Ranges, content types (built-in / mime.types, --mime-types);
#   2. ranges (RFC 9110 §14): 206 with Content-Range, suffix and clipped
#      ranges, 416 with "bytes */len", several ranges answered whole (200),
#      Range ignored on HEAD, If-Range by ETag and by date;
#   3. preconditions (§13): If-None-Match (strong, weak, *, precedence over
#      If-Modified-Since) and If-Modified-Since -> 304; If-Match and
#      If-Unmodified-Since -> 412;
#   4. paths: percent-decoding, %00, "..", encoded traversal -> 400, 301
#      with Location for a directory without its slash, 403 without an
#      index, absolute-form, Host required in HTTP/1.1, 405 with Allow;
#   5. plain HTTP sent to the TLS port: 400 in clear text, then the close
#      (with and without the provided buffer ring);
#   6. options: bad values named, exit 2; --help lists every option;
#      files that cannot be loaded named, exit 1; IPv6 (::1) listening;
#   7. the access log (Common Log Format, off by default) and the SIGUSR1
#      counters.
# Exit 77 (skip) without openssl, curl or io_uring.
set -u
. "$(dirname "$0")/httpd-common.sh"
httpd_setup openssl curl cmp sha256sum
wait_grep() { # pattern, file: until it appears (20 s at most)
    i=0
    while ! grep -q -e "$1" "$2" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
    grep -q -e "$1" "$2" 2>/dev/null
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null || { echo "SKIP: PKI"; exit 77; }
w=$tmp/www
mkdir -p "$w/sub" "$w/noidx" "$w/dir.d"
echo '<h1>kitls</h1>' >"$w/index.html"
echo 'sub index' >"$w/sub/index.html"
echo 'p { color: red }' >"$w/style.css"
head -c 1200 /dev/urandom >"$w/small.bin"
head -c 3000000 /dev/urandom >"$w/big.bin"
: >"$w/empty"
echo 'with a space' >"$w/sp ace.txt"
echo 'custom type' >"$w/f.kitlstest"
echo 'no extension' >"$w/README"
touch -d '2020-01-02 03:04:05 UTC' "$w/small.bin" "$w/index.html"
printf 'application/x-kitls-test kitlstest\n# comment\ntext/x-css-override css\n' >"$tmp/mime.types"

# Server 1: the defaults, an access log.
"$httpd" -c "$tmp/cert.pem" -k "$tmp/key.pem" -r "$w" -p 0 --access-log "$tmp/access.log" \
    --ready-file "$tmp/h1.port" >"$tmp/h1.out" 2>"$tmp/h1.log" &
h1=$!
pids="$pids $h1"
port=$(wait_port "$tmp/h1.port")
[ -n "$port" ] || { echo "SKIP: uring-httpd did not start (io_uring unavailable?)"; cat "$tmp/h1.log"; exit 77; }
url=https://localhost:$port
copts="-s --cacert $tmp/cert.pem"

# get [curl args...] URL -> the status; headers in $tmp/h (no CR), body in $tmp/b
get() {
    rm -f "$tmp/b" # curl creates no file for an answer without a body
    code=$(curl $copts -D "$tmp/h.raw" -o "$tmp/b" -w '%{http_code}' "$@")
    tr -d '\r' <"$tmp/h.raw" >"$tmp/h"
    echo "$code"
}
hdr() { # name -> the value in $tmp/h (last one)
    sed -n "s/^$1: //Ip" "$tmp/h" | tail -n 1
}
# raw port count request -> the whole answer in $tmp/raw (one TLS connection)
raw() {
    : >"$tmp/raw"
    (printf "$3"; i=0
     while [ "$(grep -ac '^HTTP/' "$tmp/raw" 2>/dev/null)" -lt "$2" ] && [ $i -lt 400 ]; do
         sleep 0.05; i=$((i + 1)); done; sleep 0.3) |
        timeout 30 openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:"$1" \
            -servername localhost 2>/dev/null >"$tmp/raw"
}
statuses() { tr -d '\r' <"$tmp/raw" | grep -a '^HTTP/' | cut -d' ' -f2 | tr '\n' ' '; }
lm_of() { TZ=UTC date -u -r "$1" '+%a, %d %b %Y %H:%M:%S GMT'; }

# ---------------------------------------------------------------- 1. bodies, headers
check "1: GET / -> 200, index.html byte-exact" \
    test "$(get "$url/")" = 200 -a "$(cmp -s "$tmp/b" "$w/index.html" && echo same)" = same
check "1: Content-Type text/html, Accept-Ranges bytes" \
    test "$(hdr Content-Type)/$(hdr Accept-Ranges)" = "text/html/bytes"
check "1: Last-Modified is the file's mtime ($(hdr Last-Modified))" \
    test "$(hdr Last-Modified)" = "$(lm_of "$w/index.html")"
etag_index=$(hdr ETag)
check "1: a strong ETag ($etag_index)" eval 'case $etag_index in \"*\") true ;; *) false ;; esac'
d=$(hdr Date)
dsec=$(date -d "$d" +%s 2>/dev/null || echo 0)
check "1: Date is IMF-fixdate and now ($d)" eval \
    '[[ "$d" =~ ^[A-Z][a-z]{2},\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ GMT$ ]] && [ $(( $(date +%s) - dsec )) -le 5 ]'
check "1: GET a 3 MB file (sendfile path): sha256 equal" \
    test "$(get "$url/big.bin")" = 200 -a "$(sha256sum <"$tmp/b")" = "$(sha256sum <"$w/big.bin")"
get_big_h=$(grep -v -i '^date:' "$tmp/h")
code=$(curl $copts -I -D "$tmp/h.raw" -o /dev/null -w '%{http_code}' "$url/big.bin")
check "1: HEAD: 200 with GET's headers (Date aside)" \
    test "$code" = 200 -a "$(tr -d '\r' <"$tmp/h.raw" | grep -v -i '^date:')" = "$get_big_h"
# HEAD then GET on one connection: the HEAD's answer has no body, or the
# GET's status line would not follow its blank line.
raw "$port" 2 'HEAD /small.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'
hlen=$(tr -d '\r' <"$tmp/raw" | sed -n '1,/^$/p' | grep -c '')
want=$(( $(sed -n '1,/^\r$/p' "$tmp/raw" | wc -c) ))
check "1: HEAD sends no body (the next answer follows its head at once)" \
    test "$(sed -n "$((hlen + 1))p" "$tmp/raw" | tr -d '\r' | cut -d' ' -f1-2)" = "HTTP/1.1 200" -a "$want" -gt 0
check "1: ... and the GET after it is byte-exact" \
    test "$(tail -c "$(stat -c %s "$w/index.html")" "$tmp/raw" | cmp - "$w/index.html" && echo s)" = s
raw "$port" 3 'HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\nHEAD /sub HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'
after_blank=$(awk 'BEGIN { RS = "\r\n" } NR > 1 && prev == "" { print } { prev = $0 }' "$tmp/raw" | head -n 2 | tr '\n' '|')
check "1: HEAD of a 404 and a 301: no body either (each next answer right after the blank line)" \
    test "$after_blank" = "HTTP/1.1 301 Moved Permanently|HTTP/1.1 200 OK|" -a \
    "$(tail -c "$(stat -c %s "$w/index.html")" "$tmp/raw" | cmp - "$w/index.html" && echo s)" = s
get "$url/style.css" >/dev/null
check "1: .css -> text/css" test "$(hdr Content-Type)" = text/css
get "$url/README" >/dev/null
check "1: no extension -> application/octet-stream" test "$(hdr Content-Type)" = application/octet-stream
check "1: an empty file -> 200, Content-Length 0" \
    test "$(get "$url/empty")" = 200 -a "$(hdr Content-Length)" = 0 -a ! -s "$tmp/b"

# ---------------------------------------------------------------- 2. ranges
check "2: -r 0-99 of the big file -> 206" test "$(get -r 0-99 "$url/big.bin")" = 206
check "2: ... Content-Range bytes 0-99/3000000, Content-Length 100" \
    test "$(hdr Content-Range)/$(hdr Content-Length)" = "bytes 0-99/3000000/100"
check "2: ... the 100 bytes" cmp -s "$tmp/b" <(head -c 100 "$w/big.bin")
check "2: a large range (sendfile from an offset) 1000-2000999 -> 206, byte-exact" \
    test "$(get -r 1000-2000999 "$url/big.bin")" = 206 -a \
    "$(cmp -s "$tmp/b" <(tail -c +1001 "$w/big.bin" | head -c 2000000) && echo s)" = s
check "2: a small file's range 10-19 -> 206, byte-exact" \
    test "$(get -r 10-19 "$url/small.bin")" = 206 -a \
    "$(cmp -s "$tmp/b" <(tail -c +11 "$w/small.bin" | head -c 10) && echo s)" = s
check "2: suffix -500 -> the last 500 bytes" \
    test "$(get -r -500 "$url/big.bin")/$(hdr Content-Range)" = "206/bytes 2999500-2999999/3000000" -a \
    "$(cmp -s "$tmp/b" <(tail -c 500 "$w/big.bin") && echo s)" = s
check "2: 2999990-9999999 clipped to the end" \
    test "$(get -r 2999990-9999999 "$url/big.bin")/$(hdr Content-Range)" = "206/bytes 2999990-2999999/3000000"
check "2: open-ended 1190- of the small file" \
    test "$(get -r 1190- "$url/small.bin")/$(hdr Content-Length)" = 206/10
check "2: 3000000- -> 416 with Content-Range bytes */3000000" \
    test "$(get -r 3000000- "$url/big.bin")/$(hdr Content-Range)" = "416/bytes */3000000"
check "2: any range of an empty file -> 416 bytes */0" \
    test "$(get -r 0- "$url/empty")/$(hdr Content-Range)" = "416/bytes */0"
check "2: several ranges -> 200 and the whole file (documented choice)" \
    test "$(get -r 0-9,20-29 "$url/small.bin")" = 200 -a "$(cmp -s "$tmp/b" "$w/small.bin" && echo s)" = s
check "2: a malformed range (5-3) is ignored -> 200" test "$(get -r 5-3 "$url/small.bin")" = 200
check "2: another unit (items=0-1) is ignored -> 200" \
    test "$(get -H 'Range: items=0-1' "$url/small.bin")" = 200
code=$(curl $copts -I -r 0-9 -D "$tmp/h.raw" -o /dev/null -w '%{http_code}' "$url/small.bin")
check "2: HEAD ignores Range (GET only, RFC 9110 §14.2) -> 200, full length" \
    test "$code/$(tr -d '\r' <"$tmp/h.raw" | sed -n 's/^Content-Length: //Ip')" = 200/1200
get "$url/small.bin" >/dev/null
etag_small=$(hdr ETag)
lm_small=$(hdr Last-Modified)
check "2: If-Range with the ETag -> 206" \
    test "$(get -r 0-9 -H "If-Range: $etag_small" "$url/small.bin")" = 206
check "2: If-Range with another ETag -> 200, whole file" \
    test "$(get -r 0-9 -H 'If-Range: "other"' "$url/small.bin")" = 200 -a "$(stat -c %s "$tmp/b")" = 1200
check "2: If-Range with a weak ETag never matches -> 200" \
    test "$(get -r 0-9 -H "If-Range: W/$etag_small" "$url/small.bin")" = 200
check "2: If-Range with Last-Modified -> 206" \
    test "$(get -r 0-9 -H "If-Range: $lm_small" "$url/small.bin")" = 206
check "2: If-Range with another date -> 200" \
    test "$(get -r 0-9 -H 'If-Range: Wed, 01 Jan 2020 00:00:00 GMT' "$url/small.bin")" = 200

# ---------------------------------------------------------------- 3. preconditions
check "3: If-None-Match with the ETag -> 304" \
    test "$(get -H "If-None-Match: $etag_small" "$url/small.bin")" = 304 -a ! -s "$tmp/b"
check "3: ... 304 carries ETag and Date" test "$(hdr ETag)" = "$etag_small" -a -n "$(hdr Date)"
check "3: If-None-Match in a list, weak form -> 304 (weak comparison)" \
    test "$(get -H "If-None-Match: \"x\", W/$etag_small" "$url/small.bin")" = 304
check "3: If-None-Match: * -> 304" test "$(get -H 'If-None-Match: *' "$url/small.bin")" = 304
check "3: If-None-Match with another tag -> 200" \
    test "$(get -H 'If-None-Match: "other"' "$url/small.bin")" = 200
check "3: If-Modified-Since = Last-Modified -> 304" \
    test "$(get -H "If-Modified-Since: $lm_small" "$url/small.bin")" = 304 -a ! -s "$tmp/b"
check "3: If-Modified-Since, RFC 850 form -> 304" \
    test "$(get -H 'If-Modified-Since: Friday, 01-Jan-21 00:00:00 GMT' "$url/small.bin")" = 304
check "3: If-Modified-Since before the mtime -> 200" \
    test "$(get -H 'If-Modified-Since: Tue, 01 Jan 2019 00:00:00 GMT' "$url/small.bin")" = 200
check "3: an invalid If-Modified-Since is ignored -> 200" \
    test "$(get -H 'If-Modified-Since: yesterday' "$url/small.bin")" = 200
check "3: If-None-Match (no match) takes precedence over If-Modified-Since -> 200" \
    test "$(get -H 'If-None-Match: "other"' -H "If-Modified-Since: $lm_small" "$url/small.bin")" = 200
check "3: HEAD with If-None-Match -> 304" \
    test "$(curl $copts -I -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag_small" "$url/small.bin")" = 304
check "3: If-Match with another tag -> 412" test "$(get -H 'If-Match: "other"' "$url/small.bin")" = 412
check "3: If-Match with the ETag -> 200" test "$(get -H "If-Match: $etag_small" "$url/small.bin")" = 200
check "3: If-Unmodified-Since before the mtime -> 412" \
    test "$(get -H 'If-Unmodified-Since: Tue, 01 Jan 2019 00:00:00 GMT' "$url/small.bin")" = 412
echo changed >>"$w/index.html"
check "3: a changed file: new ETag, the old one no longer 304" \
    test "$(get -H "If-None-Match: $etag_index" "$url/index.html")" = 200 -a "$(hdr ETag)" != "$etag_index"

# ---------------------------------------------------------------- 4. paths
p() { curl $copts --path-as-is -o "$tmp/b" -w '%{http_code}' "$url$1"; }
check "4: /sp%20ace.txt -> 200, the file" \
    test "$(p /sp%20ace.txt)" = 200 -a "$(cmp -s "$tmp/b" "$w/sp ace.txt" && echo s)" = s
check "4: /%73ub/ (percent-decoded letters) -> 200" test "$(p /%73ub/)" = 200
check "4: /sub%2Findex.html (an encoded slash inside the root) -> 200" test "$(p /sub%2Findex.html)" = 200
for bad in /%zz /a%0 /a%00b /../index.html /sub/../index.html /%2e%2e/index.html \
    /sub/%2E%2E/index.html /sub%2f..%2findex.html /..%2f..%2fetc/passwd; do
    check "4: $bad -> 400" test "$(p "$bad")" = 400
done
check "4: /sub -> 301, Location /sub/" test "$(get "$url/sub")/$(hdr Location)" = "301//sub/"
check "4: /sub?a=1 -> Location keeps the query" test "$(get "$url/sub?a=1")/$(hdr Location)" = "301//sub/?a=1"
check "4: curl -L follows to the directory's index.html" \
    test "$(get -L "$url/sub")" = 200 -a "$(cat "$tmp/b")" = "sub index"
check "4: a directory without index.html -> 403" test "$(get "$url/noidx/")" = 403
check "4: /missing -> 404 with a Date" test "$(get "$url/missing")" = 404 -a -n "$(hdr Date)"
check "4: DELETE -> 405 with Allow: GET, HEAD" \
    test "$(get -X DELETE "$url/index.html")/$(hdr Allow)" = "405/GET, HEAD"
raw "$port" 1 'GET https://localhost/sub/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n'
check "4: absolute-form target -> 200" test "$(statuses)" = "200 "
raw "$port" 1 'GET /index.html HTTP/1.1\r\n\r\n'
check "4: HTTP/1.1 without Host -> 400" test "$(statuses)" = "400 "
raw "$port" 1 'GET /index.html HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
check "4: two Host lines -> 400" test "$(statuses)" = "400 "
raw "$port" 1 'GET /index.html HTTP/1.0\r\n\r\n'
check "4: HTTP/1.0 without Host -> 200" test "$(statuses)" = "200 "
raw "$port" 1 'GET /index.html HTTP/2.0\r\nHost: x\r\n\r\n'
check "4: HTTP/2.0 in a request line -> 505" test "$(statuses)" = "505 "
g='GET /index.html HTTP/1.1\r\nHost: x\r\n'
raw "$port" 1 "${g}Connection: keep-alive, close\r\n\r\n${g}\r\n"
check "4: Connection: keep-alive, close -> one answer, then the close" \
    test "$(statuses)/$(tr -d '\r' <"$tmp/raw" | grep -a -c '^Connection: close')" = "200 /1"
raw "$port" 2 'GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /index.html HTTP/1.0\r\n\r\n'
check "4: HTTP/1.0 with keep-alive: a second answer on the connection" test "$(statuses)" = "200 200 "
long=$(head -c 4100 /dev/zero | tr '\0' a)
raw "$port" 1 "GET /$long HTTP/1.1\r\nHost: x\r\n\r\n"
check "4: a 4 KiB target -> 414" test "$(statuses)" = "414 "
raw "$port" 1 'GET /a"b HTTP/1.1\r\nHost: x\r\n\r\n'
check "4: a quote in the target -> 404 (logged escaped below)" test "$(statuses)" = "404 "

# ---------------------------------------------------------------- 5. plain HTTP
plain() { # port -> "code|body"
    curl -s -o "$tmp/pb" -D "$tmp/ph" -w '%{http_code}' "http://127.0.0.1:$1/index.html"
}
code=$(plain "$port")
check "5: plain HTTP to the TLS port -> 400 in clear text ($code)" \
    test "$code" = 400 -a "$(grep -c 'HTTPS port' "$tmp/pb")" = 1
check "5: ... with Date and Connection: close" \
    test "$(tr -d '\r' <"$tmp/ph" | grep -c -i -e '^date: ' -e '^connection: close')" = 2
check "5: the server still serves TLS afterwards" test "$(get "$url/index.html")" = 200

# ---------------------------------------------------------------- 6. options
run_bad() { # expected-exit pattern args... -> ok if the exit and the message match
    want=$1 pat=$2; shift 2
    timeout 10 "$httpd" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"
    st=$?
    [ "$st" = "$want" ] && grep -q -e "$pat" "$tmp/bad.err" ||
        { echo "  exit $st: $(head -n 2 "$tmp/bad.err")"; return 1; }
}
base="-c $tmp/cert.pem -k $tmp/key.pem -r $w"
check "6: -p abc -> exit 2, the option and the value named" run_bad 2 "-p/--port: 'abc'" $base -p abc
check "6: --port 70000 -> exit 2" run_bad 2 "-p/--port: '70000'" $base --port 70000
check "6: --max-conns 0 -> exit 2" run_bad 2 "--max-conns: '0'" $base --max-conns 0
check "6: --idle-timeout 5s -> exit 2" run_bad 2 "--idle-timeout: '5s'" $base --idle-timeout 5s
check "6: --max-body -1 -> exit 2" run_bad 2 "--max-body: '-1'" $base --max-body -1
check "6: an unknown option -> exit 2, named" run_bad 2 "bogus" $base --bogus
check "6: a stray argument -> exit 2, named" run_bad 2 "unexpected argument 'stray'" $base stray
check "6: no --cert -> exit 2" run_bad 2 "-c/--cert FILE is required" -k "$tmp/key.pem" -r "$w"
check "6: a missing certificate file -> exit 1, named" \
    run_bad 1 "-c/--cert $tmp/nope.pem: No such file" -c "$tmp/nope.pem" -k "$tmp/key.pem" -r "$w" -p 0
check "6: a missing key file -> exit 1, named" \
    run_bad 1 "-k/--key $tmp/nokey.pem" -c "$tmp/cert.pem" -k "$tmp/nokey.pem" -r "$w" -p 0
check "6: a key that does not load -> exit 1, both files named" \
    run_bad 1 "$tmp/cert.pem with the key $w/index.html" -c "$tmp/cert.pem" -k "$w/index.html" -r "$w" -p 0
check "6: a missing root -> exit 1, named" run_bad 1 "-r/--root $tmp/none" \
    -c "$tmp/cert.pem" -k "$tmp/key.pem" -r "$tmp/none" -p 0
check "6: an unreadable --mime-types -> exit 1, named" run_bad 1 "--mime-types $tmp/no.types" \
    $base -p 0 --mime-types "$tmp/no.types"
check "6: an --access-log that cannot be opened -> exit 1, named" \
    run_bad 1 "--access-log $tmp/no/dir/log" $base -p 0 --access-log "$tmp/no/dir/log"
check "6: a bad address -> exit 1, named" run_bad 1 "999.1.1.1" $base -p 0 -a 999.1.1.1
"$httpd" --help >"$tmp/help" 2>&1
st=$?
missing=
for o in cert key root host port ready-file access-log mime-types ktls ktls-close max-conns \
    max-handshakes handshake-timeout header-timeout idle-timeout max-body no-tickets \
    no-multishot no-buf-ring workers quiet help; do
    grep -q -e "--$o\b" "$tmp/help" || missing="$missing $o"
done
check "6: --help exits 0 and describes every option${missing:+ (missing:$missing)}" \
    test "$st" = 0 -a -z "$missing"

# Server 2: IPv6 loopback, --mime-types, no buffer ring (the other receive
# path for the plain-HTTP check).
"$httpd" -q --cert "$tmp/cert.pem" --key "$tmp/key.pem" --root "$w" --host ::1 --port 0 \
    --mime-types "$tmp/mime.types" --no-buf-ring --ready-file "$tmp/h2.port" 2>"$tmp/h2.log" &
h2=$!
pids="$pids $h2"
p2=$(wait_port "$tmp/h2.port")
if [ -z "$p2" ]; then
    wait $h2
    if grep -q -e "Cannot assign requested address" -e "Address family not supported" "$tmp/h2.log"; then
        echo "skip: IPv6 ::1 is unavailable here ($(head -n 1 "$tmp/h2.log")): IPv6 checks not run"
    else
        check "6: listening on ::1" false
        cat "$tmp/h2.log"
    fi
    pids=$(echo "$pids" | sed "s/ $h2//")
else
    u6="https://[::1]:$p2"
    check "6: -a ::1: GET over IPv6 -> 200, byte-exact" \
        test "$(get -g "$u6/small.bin")" = 200 -a "$(cmp -s "$tmp/b" "$w/small.bin" && echo s)" = s
    get -g "$u6/f.kitlstest" >/dev/null
    check "6: --mime-types: the file's type" test "$(hdr Content-Type)" = application/x-kitls-test
    get -g "$u6/style.css" >/dev/null
    check "6: --mime-types: its entry wins over the built-in one" test "$(hdr Content-Type)" = text/x-css-override
    code=$(curl -s -g -o "$tmp/pb" -w '%{http_code}' "http://[::1]:$p2/")
    check "5: plain HTTP, no buffer ring (the direct receive path) -> 400" \
        test "$code" = 400 -a "$(grep -c 'HTTPS port' "$tmp/pb")" = 1
    kill -TERM $h2
    wait $h2
    check "6: the IPv6 server exits cleanly" test $? = 0
    pids=$(echo "$pids" | sed "s/ $h2//")
fi

# ---------------------------------------------------------------- 7. log, counters
check "7: the access log is off by default (server 2 wrote no log)" test ! -s "$tmp/h1.out"
wait_grep '"GET /a\\x22b HTTP/1.1" 404' "$tmp/access.log"
re='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] "[^"]*" [0-9]{3} ([0-9]+|-)$'
bad=$(grep -c -v -E "$re" "$tmp/access.log")
check "7: every access log line is in the Common Log Format ($(grep -c '' "$tmp/access.log") lines, $bad not)" \
    test "$bad" = 0
check "7: a GET logged with its status and body bytes" \
    grep -q -E '"GET /big.bin HTTP/1.1" 200 3000000$' "$tmp/access.log"
check "7: a 206 logged with the range's bytes" grep -q -E '"GET /big.bin HTTP/1.1" 206 100$' "$tmp/access.log"
check "7: a HEAD logged with - for the bytes" grep -q -E '"HEAD /big.bin HTTP/1.1" 200 -$' "$tmp/access.log"
check "7: a 304 logged" grep -q -E '"GET /small.bin HTTP/1.1" 304 -$' "$tmp/access.log"
check "7: a quote in the request logged as \\x22" grep -q -F '"GET /a\x22b HTTP/1.1" 404' "$tmp/access.log"
kill -USR1 $h1
wait_grep 'counters:' "$tmp/h1.log"
line=$(grep 'counters:' "$tmp/h1.log" | head -n 1)
echo "  $line"
num() { echo "$line" | sed -n "s/.* $1 \([0-9]*\).*/\1/p"; }
st304=$(echo "$line" | sed -n 's/.* 304:\([0-9]*\).*/\1/p')
st416=$(echo "$line" | sed -n 's/.* 416:\([0-9]*\).*/\1/p')
check "7: SIGUSR1: requests by status (304: $st304, 416: $st416)" test "${st304:-0}" = 6 -a "${st416:-0}" = 2
check "7: SIGUSR1: plain HTTP answered 1, bytes_out > 3 MB" \
    test "$(num plain_http_400)" = 1 -a "$(num bytes_out)" -gt 3000000
check "7: SIGUSR1: connections and kTLS offloads counted" \
    test "$(num accepted)" -gt 10 -a -n "$(num ktls_tx)" -a -n "$(num ktls_rx)"
kill -0 $h1
check "7: the server keeps running after SIGUSR1" test $? = 0

kill -TERM $h1
wait $h1
check "uring-httpd: clean shutdown" test $? = 0
pids=
[ $fail = 0 ] || tail -n 5 "$tmp"/h*.log
exit $fail
