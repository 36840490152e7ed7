#!/bin/sh
# Prototype helper (issue 16 groundwork): a P-256 root CA, a P-256
# intermediate and a P-256 "localhost" leaf (PKCS#8 key) in DIR, for the
# peer prototypes.  The real bench builds the same chain in memory.
#   sh bench/peers/gen-certs.sh DIR
set -eu
d=${1:?usage: gen-certs.sh DIR}
mkdir -p "$d"
cd "$d"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key root.key
key int.key
key leaf.key
cat > ext.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
openssl req -new -x509 -key root.key -sha256 -days 3650 -subj "/CN=peers root CA" \
    -extensions ca -config ext.cnf -set_serial 1 -out root.pem
openssl req -new -key int.key -subj "/CN=peers intermediate CA" -out int.csr
openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 2 -days 3650 -sha256 \
    -extfile ext.cnf -extensions ca -out int.pem 2>/dev/null
openssl req -new -key leaf.key -subj "/CN=localhost" -out leaf.csr
openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -set_serial 3 -days 3650 -sha256 \
    -extfile ext.cnf -extensions leaf -out leaf.pem 2>/dev/null
cat leaf.pem int.pem > chain.pem
openssl verify -CAfile root.pem -untrusted int.pem leaf.pem >/dev/null
rm -f int.csr leaf.csr ext.cnf
