#!/usr/bin/env bash
# Certificates for TLS / mTLS between Shotline services on one machine (a local stack, tests):
# a throw-away CA and one certificate for localhost / 127.0.0.1 that each service uses both as its
# server certificate and as its client certificate (mTLS). Production gets its certificates from
# its own PKI (cert-manager, a mesh): point SHOTLINE_TLS_* at them.
#   scripts/make_dev_certs.sh DIR   → DIR/ca.pem DIR/cert.pem DIR/key.pem
set -euo pipefail
dir=${1:?usage: make_dev_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=shotline dev CA" \
  -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout key.pem -out cert.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > ext.cnf
openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -extfile ext.cnf \
  -out cert.pem 2>/dev/null
rm -f cert.csr ext.cnf ca.srl
chmod 600 key.pem ca-key.pem
echo "$dir: ca.pem cert.pem key.pem"
