#!/usr/bin/env bash
# make_test_cert.sh OUT_DIR NAME [NAME...]
#
# Creates a throwaway certificate authority and one server certificate for
# the given names (DNS names, or IP addresses), for tests only:
#
#   OUT_DIR/ca.pem       CA certificate: give it to the client
#                        (http policy `ca_file`, curl --cacert)
#   OUT_DIR/ca.key       CA private key (not needed after this script)
#   OUT_DIR/server.pem   server certificate, signed by the CA, SAN = NAMEs
#   OUT_DIR/server.key   server private key
#
# Example (what broker/http_backend_test.cc and the InvoiceSync end-to-end
# test do):
#
#   broker/testdata/make_test_cert.sh "$tmp" api.stripe.com
#   python3 broker/testdata/https_server.py --cert "$tmp/server.pem" \
#       --key "$tmp/server.key" --port-file "$tmp/port" &
#   # policy: http.ca_file: $tmp/ca.pem,
#   #         http.connect_to: {"api.stripe.com:443": "127.0.0.1:<port>"}
#
# EC P-256 keys, valid for two days. Needs only the openssl CLI. Prints
# nothing on success; OUT_DIR is created if missing. Keys are written with
# mode 0600.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 OUT_DIR NAME [NAME...]" >&2
  exit 2
fi
out=$1
shift
mkdir -p "$out"
umask 077

san=""
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
    san+="${san:+,}IP:${name}"
  else
    san+="${san:+,}DNS:${name}"
  fi
done

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$out/ca.key" -out "$out/ca.pem" -days 2 -subj "/CN=Magic Test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$out/server.key" -out "$out/server.csr" -subj "/CN=$1" 2>/dev/null

cat >"$out/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san
EOF

openssl x509 -req -in "$out/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
  -CAcreateserial -out "$out/server.pem" -days 2 -extfile "$out/server.ext" 2>/dev/null

rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 0644 "$out/ca.pem" "$out/server.pem"
