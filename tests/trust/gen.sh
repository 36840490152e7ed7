#!/bin/bash
# tests/trust/gen.sh OUTDIR — generate the D2 trust-policy chains (issue 10
# point 4) with the openssl command.  Every case gets a directory
# OUTDIR/<case>/ with:
#   leaf.pem       the end-entity certificate
#   untrusted.pem  the other certificates the peer sends (may be empty)
#   chain.pem      leaf.pem + untrusted.pem, as sent in a handshake
#   leaf.key       the leaf's private key
#   ca.pem         the trust anchors the verifier is given
#   host           the name (or IP address) the client verifies
# Dates are relative to now, so the set is regenerated for each run.
set -eu

OUT=${1:?usage: gen.sh OUTDIR}
OPENSSL=${OPENSSL:-openssl}
rm -rf "$OUT"
mkdir -p "$OUT/work"
W=$OUT/work

ts() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
NOW_M1=$(ts '-1 day')
NOW_P1Y=$(ts '+1 year')
NOW_P2Y=$(ts '+2 years')

# openssl ca needs a database; one shared, accepting any subject.
mkdir -p "$W/db"
: >"$W/db/index.txt"
echo 1000 >"$W/db/serial"
cat >"$W/ca.cnf" <<EOF
[ca]
default_ca = CA_default
[CA_default]
dir = $W/db
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = pol
unique_subject = no
copy_extensions = none
email_in_dn = no
[pol]
commonName = supplied
[req]
distinguished_name = dn
[dn]
EOF

# key NAME [ec|rsa2048|rsa1024]
key() {
    case ${2:-ec} in
    ec) "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$1.key" 2>/dev/null ;;
    rsa2048) "$OPENSSL" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/$1.key" 2>/dev/null ;;
    rsa1024) "$OPENSSL" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$W/$1.key" 2>/dev/null ;;
    esac
}

# ext NAME LINES... : an extension section file
ext() {
    local n=$1
    shift
    { echo "[ext]"; printf '%s\n' "$@"; } >"$W/$n.ext"
}

# selfsign NAME CN EXTNAME [days]: self-signed certificate for NAME.key
selfsign() {
    "$OPENSSL" req -new -config "$W/ca.cnf" -key "$W/$1.key" -subj "/CN=$2" -out "$W/$1.csr"
    "$OPENSSL" x509 -req -in "$W/$1.csr" -signkey "$W/$1.key" -days "${4:-3650}" -sha256 \
        -extfile "$W/$3.ext" -extensions ext -out "$W/$1.pem" 2>/dev/null
}

# issue NAME CN ISSUER EXTNAME [md] [start] [end] [subject-key-of]: NAME.pem
# signed by ISSUER; the subject key is NAME.key (or that of the 8th arg).
issue() {
    local name=$1 cn=$2 issuer=$3 extn=$4 md=${5:-sha256} start=${6:-$NOW_M1} end=${7:-$NOW_P1Y}
    local k=${8:-$name}
    "$OPENSSL" req -new -config "$W/ca.cnf" -key "$W/$k.key" -subj "/CN=$cn" -out "$W/$name.csr"
    "$OPENSSL" ca -batch -config "$W/ca.cnf" -cert "$W/$issuer.pem" -keyfile "$W/$issuer.key" \
        -in "$W/$name.csr" -out "$W/$name.pem" -notext -md "$md" -startdate "$start" \
        -enddate "$end" -extfile "$W/$extn.ext" -extensions ext 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
}

# case NAME HOST LEAF ANCHORS UNTRUSTED...
mkcase() {
    local d=$OUT/$1 host=$2 leaf=$3 anchors=$4
    shift 4
    mkdir -p "$d"
    echo "$host" >"$d/host"
    cp "$W/$leaf.pem" "$d/leaf.pem"
    cp "$W/$leaf.key" "$d/leaf.key"
    : >"$d/untrusted.pem"
    for u in "$@"; do cat "$W/$u.pem" >>"$d/untrusted.pem"; done
    cat "$d/leaf.pem" "$d/untrusted.pem" >"$d/chain.pem"
    : >"$d/ca.pem"
    for a in $anchors; do cat "$W/$a.pem" >>"$d/ca.pem"; done
}

# ---- extension profiles ----
ext root "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectKeyIdentifier=hash"
ext inter "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid"
ext inter_pl0 "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid"
ext inter_nc "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" \
    "nameConstraints=critical,permitted;DNS:.example.org"
ext inter_notca "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid"
LEAF_BASE=("basicConstraints=critical,CA:FALSE" "subjectKeyIdentifier=hash"
    "authorityKeyIdentifier=keyid")
leafext() { # leafext NAME KU EKU SAN [more...]
    local n=$1 ku=$2 eku=$3 san=$4
    shift 4
    local lines=("${LEAF_BASE[@]}")
    [ -n "$ku" ] && lines+=("keyUsage=critical,$ku")
    [ -n "$eku" ] && lines+=("extendedKeyUsage=$eku")
    [ -n "$san" ] && lines+=("subjectAltName=$san")
    ext "$n" "${lines[@]}" "$@"
}
leafext leaf digitalSignature serverAuth "DNS:www.example.com"
leafext leaf_clientauth digitalSignature clientAuth "DNS:www.example.com"
leafext leaf_nosan digitalSignature serverAuth ""
leafext leaf_crit digitalSignature serverAuth "DNS:www.example.com" \
    "1.3.6.1.4.1.55555.1.1=critical,ASN1:NULL"
leafext leaf_wild digitalSignature serverAuth "DNS:*.example.com"
leafext leaf_wildtld digitalSignature serverAuth "DNS:*.com"
leafext leaf_wildpsl digitalSignature serverAuth "DNS:*.co.uk"
leafext leaf_partial digitalSignature serverAuth "DNS:w*.example.com"
leafext leaf_ip digitalSignature serverAuth "IP:127.0.0.1"
leafext leaf_ipdns digitalSignature serverAuth "DNS:127.0.0.1"
leafext leaf_noeku digitalSignature "" "DNS:www.example.com"
leafext leaf_kenc keyEncipherment serverAuth "DNS:www.example.com"
ext leaf_self "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:www.example.com"

# ---- the PKI ----
key root
selfsign root "Trust Test Root" root
key inter
issue inter "Trust Test Intermediate" root inter

# ---- the cases ----
H=www.example.com
key ok; issue ok $H inter leaf
mkcase ok $H ok root inter

key expired; issue expired $H inter leaf sha256 "$(ts '-2 years')" "$(ts '-1 year')"
mkcase expired $H expired root inter

key notyet; issue notyet $H inter leaf sha256 "$NOW_P1Y" "$NOW_P2Y"
mkcase not_yet_valid $H notyet root inter

key weku; issue weku $H inter leaf_clientauth
mkcase wrong_eku $H weku root inter

key noeku; issue noeku $H inter leaf_noeku
mkcase no_eku $H noeku root inter

key kenc; issue kenc $H inter leaf_kenc
mkcase ku_no_digitalsig $H kenc root inter

key cnonly; issue cnonly $H inter leaf_nosan
mkcase cn_only_no_san $H cnonly root inter

mkcase wrong_host other.example.net ok root inter

key inter_nc; issue inter_nc "Trust Test Constrained" root inter_nc
key nc; issue nc $H inter_nc leaf
mkcase name_constraints $H nc root inter_nc

key inter_pl0; issue inter_pl0 "Trust Test Pathlen0" root inter_pl0
key inter2; issue inter2 "Trust Test Below Pathlen0" inter_pl0 inter
key pl; issue pl $H inter2 leaf
mkcase path_length $H pl root inter2 inter_pl0

key inter_notca; issue inter_notca "Trust Test Not A CA" root inter_notca
key notca; issue notca $H inter_notca leaf
mkcase intermediate_not_ca $H notca root inter_notca

key crit; issue crit $H inter leaf_crit
mkcase unknown_critical_ext $H crit root inter

key inter_sha1; issue inter_sha1 "Trust Test SHA-1 Intermediate" root inter sha1
key sha1i; issue sha1i $H inter_sha1 leaf
mkcase sha1_intermediate $H sha1i root inter_sha1

key sha1l; issue sha1l $H inter leaf sha1
mkcase sha1_leaf $H sha1l root inter

key rsa1024 rsa1024; issue rsa1024 $H inter leaf
mkcase rsa1024_leaf $H rsa1024 root inter

key rsa2048 rsa2048; issue rsa2048 $H inter leaf
mkcase rsa2048_leaf $H rsa2048 root inter

key wild; issue wild "wild.example.com" inter leaf_wild
mkcase wildcard_one_label a.example.com wild root inter
mkcase wildcard_two_labels a.b.example.com wild root inter
mkcase wildcard_bare_domain example.com wild root inter

key wildtld; issue wildtld "wild.com" inter leaf_wildtld
mkcase wildcard_tld example.com wildtld root inter

key wildpsl; issue wildpsl "wild.co.uk" inter leaf_wildpsl
mkcase wildcard_public_suffix example.co.uk wildpsl root inter

key partial; issue partial "partial.example.com" inter leaf_partial
mkcase wildcard_partial_label www.example.com partial root inter

key ip; issue ip "127.0.0.1" inter leaf_ip
mkcase ip_san 127.0.0.1 ip root inter
mkcase ip_san_other_ip 127.0.0.2 ip root inter

key ipdns; issue ipdns "ipdns" inter leaf_ipdns
mkcase ip_in_dns_san 127.0.0.1 ipdns root inter

mkcase missing_intermediate $H ok root

# Cross-signed: inter_new is issued by root_new; root_new's key is also
# certified by the old root (cross).  Only the old root is trusted.
key root_new; selfsign root_new "Trust Test New Root" root
issue cross "Trust Test New Root" root inter sha256 "$NOW_M1" "$NOW_P1Y" root_new
key inter_new; issue inter_new "Trust Test New Intermediate" root_new inter
key xs; issue xs $H inter_new leaf
mkcase cross_signed $H xs root inter_new cross
mkcase cross_signed_new_root_trusted $H xs root_new inter_new cross

key self; selfsign self $H leaf_self 365
mkcase self_signed_leaf $H self root
mkcase self_signed_leaf_pinned $H self self
# A pinned (trusted) CA:FALSE certificate cannot issue: a leaf it signed
# is refused.
key bypinned; issue bypinned $H self leaf
mkcase pinned_leaf_as_issuer $H bypinned self

rm -rf "$W"
