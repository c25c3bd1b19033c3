#!/usr/bin/env bash
# radiusdtls-bis §3.3: a connection does not outlive the client certificate it was
# authenticated with. An AP certificate that expires a few seconds after the handshake:
# the connection works until then, and the gateway closes it when the certificate expires,
# with a log line; an AP with a long-lived certificate stays connected.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC"
rg_gateway_start "$RG_TMP/gw.conf" gw

# A certificate from the acme CA valid until 8 seconds from now.
(
    cd "$RG_PKI" || exit 1
    openssl ecparam -genkey -name prime256v1 -noout -out ap-short.key 2>/dev/null &&
        openssl req -new -config ca/acme-ca/ca.cnf -key ap-short.key \
            -subj "/O=Acme/CN=Q2SH-ORTL-$RANDOM" -out ap-short.csr 2>/dev/null &&
        openssl ca -config ca/acme-ca/ca.cnf -batch -notext -preserveDN -extensions ext_client \
            -in ap-short.csr -out ap-short.pem \
            -startdate "$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)" \
            -enddate "$(date -u -d '+8 seconds' +%Y%m%d%H%M%SZ)" >/dev/null 2>&1
) || rg_die "could not issue the short-lived certificate"

rg_client --cert "$RG_PKI/ap-short.pem" --key "$RG_PKI/ap-short.key" --timeout 3 --hold 30 \
    auth alice pw >"$RG_TMP/short.out" 2>&1 &
short=$!
rg_client --timeout 3 --hold 14 auth alice pw >"$RG_TMP/long.out" 2>&1 &
long=$!
wait "$short"
wait "$long"
rg_assert_log "$RG_TMP/short.out" '^Access-Accept' "short-lived certificate: accepted while valid"
rg_assert_log "$RG_TMP/short.out" 'closed by server after' "short-lived certificate: closed by the gateway"
rg_assert_log "$GW_LOG" 'client certificate chain expired' "expiry: logged"
rg_assert_log "$GW_LOG" 'event=conn_close .*reason="client certificate expired"' "expiry: connection closed with the reason"
rg_assert_log "$RG_TMP/long.out" 'held open for' "long-lived certificate: stayed connected"
rg_stop gw && rg_pass "gateway exits 0 on SIGTERM" || rg_fail "gateway exit status non-zero"
rg_finish
