#!/usr/bin/env bash
# Builds the test PKI of radsecgw in DIR with openssl only (no network, no faketime).
# Idempotent: a complete DIR (stamp file .pki-complete of this version) is left alone; a
# partial one is rebuilt from scratch. Usage: tools/make-pki.sh DIR
#
# Files (PEM; every NAME.pem has its key in NAME.key):
#   server-ca.pem               CA of the gateway's server certificate (clients trust it)
#   server.pem, server-chain.pem  CN=radsecgw.test, SAN DNS:localhost, IP:127.0.0.1;
#                               the chain file is leaf + server CA
#   acme-ca.pem                 org "acme" root CA (RSA)
#   acme-ca-next.pem            org "acme" rotated second root CA (ECDSA)
#   acme-int.pem                intermediate CA under acme-ca
#   globex-ca.pem               org "globex" root CA
#   rogue-ca.pem                a CA no org trusts
#   ap-rsa.pem                  acme-ca, RSA, CN=Q2AA-BBBB-CCCC (Meraki serial style),
#                               SAN DNS:q2aa-bbbb-cccc.ap.acme.test,
#                               URI:urn:acme:ap:Q2AA-BBBB-CCCC, IP:192.0.2.55
#   ap-ecdsa.pem                acme-ca, ECDSA P-256, CN=Q2EC-DSA0-0001
#   ap-int.pem, ap-int-chain.pem  acme-int, CN=Q2IN-TERM-0001; chain = leaf + acme-int
#   ap-next.pem                 acme-ca-next, CN=Q2NX-ROTA-0001
#   ap-globex.pem               globex-ca, CN=Q2GX-GLOB-0001
#   ap-rogue.pem                rogue-ca, CN=Q2RG-ROGU-0001
#   ap-expired.pem              acme-ca, CN=Q2EX-PIRE-0001, valid 2020-01-01..2021-01-01
#   ap-notyet.pem               acme-ca, CN=Q2NY-VALI-0001, valid 2040-01-01..2041-01-01
#   ap-revoked.pem              acme-ca, CN=Q2RV-OKED-0001, listed in acme.crl
#   ap-nomatch.pem              acme-ca, CN=printer-17 (fails a "CN:^Q2" match rule)
#   acme.crl                    fresh CRL of acme-ca (30 days), revokes ap-revoked
#   acme-stale.crl              CRL of acme-ca with nextUpdate 2020-02-01 (stale)
#   acme-ecdsa-revoked.crl      fresh CRL of acme-ca revoking ap-revoked and ap-ecdsa (a CRL
#                               update that revokes a connected AP; since version 2)
#   acme-next.crl, acme-int.crl, globex.crl   fresh, empty CRLs of those CAs
set -euo pipefail

version=2
dir=${1:?usage: make-pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
if [ "$(cat .pki-complete 2>/dev/null)" = "$version" ]; then
    exit 0
fi
# Start over, removing only what this script makes (DIR may hold other files).
names="server-ca server acme-ca acme-ca-next acme-int globex-ca rogue-ca ap-rsa ap-ecdsa ap-int
ap-next ap-globex ap-rogue ap-expired ap-notyet ap-revoked ap-nomatch"
for n in $names; do
    rm -f "$n.pem" "$n.key" "$n.csr"
done
rm -f server-chain.pem ap-int-chain.pem acme.crl acme-stale.crl acme-next.crl acme-int.crl \
    globex.crl acme-ecdsa-revoked.crl .pki-complete
rm -rf ca
umask 077

newkey() { # name rsa|ec
    if [ "$2" = rsa ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null
    else
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
    fi
}

# One openssl ca configuration per CA: its database lives in ca/NAME/.
caconf() { # name
    mkdir -p "ca/$1/new"
    : >"ca/$1/index.txt"
    echo 1000 >"ca/$1/serial"
    echo 1000 >"ca/$1/crlnumber"
    cat >"ca/$1/ca.cnf" <<EOF
[ ca ]
default_ca = ca_this
[ ca_this ]
dir = ca/$1
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $1.pem
private_key = $1.key
default_md = sha256
default_days = 3650
default_crl_days = 30
policy = policy_any
unique_subject = no
email_in_dn = no
crl_extensions = ext_crl
[ policy_any ]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
countryName = optional
[ req ]
distinguished_name = req_dn
[ req_dn ]
[ ext_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ext_int ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_client_san ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:q2aa-bbbb-cccc.ap.acme.test, URI:urn:acme:ap:Q2AA-BBBB-CCCC, IP:192.0.2.55
[ ext_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1
[ ext_crl ]
authorityKeyIdentifier = keyid
EOF
}

rootca() { # name keytype "subject"
    newkey "$1" "$2"
    caconf "$1"
    openssl req -new -x509 -config "ca/$1/ca.cnf" -extensions ext_root -key "$1.key" \
        -subj "$3" -days 7300 -sha256 -out "$1.pem"
}

issue() { # ca name keytype "subject" extensions [openssl ca options...]
    local ca=$1 name=$2 kt=$3 subj=$4 ext=$5
    shift 5
    newkey "$name" "$kt"
    openssl req -new -config "ca/$ca/ca.cnf" -key "$name.key" -subj "$subj" -out "$name.csr"
    openssl ca -config "ca/$ca/ca.cnf" -batch -notext -preserveDN -extensions "$ext" \
        -in "$name.csr" -out "$name.pem" "$@" 2>/dev/null
    rm -f "$name.csr"
}

gencrl() { # ca out [openssl ca options...]
    local ca=$1 out=$2
    shift 2
    openssl ca -config "ca/$ca/ca.cnf" -gencrl -out "$out" "$@" 2>/dev/null
}

rootca server-ca ec "/O=radsecgw test/CN=radsecgw test server CA"
issue server-ca server ec "/O=radsecgw test/CN=radsecgw.test" ext_server
cat server.pem server-ca.pem >server-chain.pem

rootca acme-ca rsa "/O=Acme/CN=Acme AP Root CA"
rootca acme-ca-next ec "/O=Acme/CN=Acme AP Root CA 2"
rootca globex-ca ec "/O=Globex/CN=Globex Devices CA"
rootca rogue-ca ec "/O=Acme/CN=Acme AP Root CA"
issue acme-ca acme-int ec "/O=Acme/CN=Acme AP Issuing CA 1" ext_int
caconf acme-int

issue acme-ca ap-rsa rsa "/O=Acme/CN=Q2AA-BBBB-CCCC" ext_client_san
issue acme-ca ap-ecdsa ec "/O=Acme/CN=Q2EC-DSA0-0001" ext_client
issue acme-int ap-int ec "/O=Acme/CN=Q2IN-TERM-0001" ext_client
cat ap-int.pem acme-int.pem >ap-int-chain.pem
issue acme-ca-next ap-next ec "/O=Acme/CN=Q2NX-ROTA-0001" ext_client
issue globex-ca ap-globex ec "/O=Globex/CN=Q2GX-GLOB-0001" ext_client
issue rogue-ca ap-rogue ec "/O=Acme/CN=Q2RG-ROGU-0001" ext_client
issue acme-ca ap-expired ec "/O=Acme/CN=Q2EX-PIRE-0001" ext_client \
    -startdate 20200101000000Z -enddate 20210101000000Z
issue acme-ca ap-notyet ec "/O=Acme/CN=Q2NY-VALI-0001" ext_client \
    -startdate 20400101000000Z -enddate 20410101000000Z
issue acme-ca ap-revoked ec "/O=Acme/CN=Q2RV-OKED-0001" ext_client
issue acme-ca ap-nomatch ec "/O=Acme/CN=printer-17" ext_client

openssl ca -config ca/acme-ca/ca.cnf -revoke ap-revoked.pem -crl_reason keyCompromise 2>/dev/null
gencrl acme-ca acme.crl
gencrl acme-ca acme-stale.crl -crl_lastupdate 20200101000000Z -crl_nextupdate 20200201000000Z
gencrl acme-ca-next acme-next.crl
gencrl acme-int acme-int.crl
gencrl globex-ca globex.crl
# After the CRLs above, so they keep revoking ap-revoked only.
openssl ca -config ca/acme-ca/ca.cnf -revoke ap-ecdsa.pem -crl_reason keyCompromise 2>/dev/null
gencrl acme-ca acme-ecdsa-revoked.crl

chmod 644 ./*.pem ./*.crl
echo "$version" >.pki-complete
