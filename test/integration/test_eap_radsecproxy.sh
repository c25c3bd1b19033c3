#!/usr/bin/env bash
# Issue #3, EAP end to end as an access point does it: eapol_test (the supplicant side of
# an AP) -> radsecproxy (UDP in, RadSec out with the acme AP certificate, as an AP's
# RadSec client would) -> radsecgw -> FreeRADIUS over UDP. PEAP/MSCHAPv2 and EAP-TLS must
# succeed, and the MS-MPPE keys the supplicant derives must equal the ones delivered in the
# Access-Accept: that only holds if the gateway re-encrypted them correctly twice over
# (FreeRADIUS secret -> RadSec secret, and radsecproxy's RadSec -> UDP in turn).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need freeradius radsecproxy eapol_test
rg_tmpdir >/dev/null
rg_pki
FR_SEC=legacy-udp-secret-$RANDOM$RANDOM

rg_freeradius_start "$FR_SEC"
rg_gateway_conf "$RG_TMP/radsecgw.conf" --backend "127.0.0.1:$FR_AUTH_PORT:$FR_ACCT_PORT:$FR_SEC"
rg_gateway_start "$RG_TMP/radsecgw.conf"
rg_radsecproxy_start "$GW_PORT"

rg_eapol_peap_conf "$RG_TMP/peap.conf"
rg_eapol_tls_conf "$RG_TMP/eap-tls.conf"
rg_eapol eapol-peap "$RG_TMP/peap.conf" "$RSP_PORT" "$RSP_SECRET"
rg_eapol eapol-tls "$RG_TMP/eap-tls.conf" "$RSP_PORT" "$RSP_SECRET"

# A wrong inner password must end in a failure, not a success.
rg_eapol_peap_conf "$RG_TMP/peap-bad.conf" bob not-bobs-password
if timeout 30 eapol_test -c "$RG_TMP/peap-bad.conf" -a 127.0.0.1 -p "$RSP_PORT" \
    -s "$RSP_SECRET" -t 15 -r 0 >"$RG_TMP/eapol-peap-bad.log" 2>&1; then
    rg_fail "PEAP with a wrong password succeeded"
else
    rg_assert_log "$RG_TMP/eapol-peap-bad.log" 'FAILURE|EAP-Failure|Access-Reject' \
        "PEAP with a wrong password fails"
fi

# The whole conversation went through the gateway: FreeRADIUS saw the EAP rounds from it.
n=$(grep -c 'Received Access-Request' "$FR_LOG")
[ "$n" -ge 10 ] && rg_pass "FreeRADIUS received the EAP rounds ($n Access-Requests)" ||
    rg_fail "FreeRADIUS received only $n Access-Requests"
rg_assert_log "$RG_TMP/radsecproxy.log" 'TLS connection to radsecgw .* up' \
    "radsecproxy reached radsecgw over TLS"
rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_finish
