#!/usr/bin/env bash
# Issue #8 item 7: radsecgw as a drop-in behind an unmodified radsecproxy 1.9 (Debian's), the
# RadSec client many access points and NAS sites run, in front of radclient / eapol_test:
#   radclient, eapol_test -UDP-> radsecproxy -TLS-> radsecgw -UDP-> FreeRADIUS 3.2 (stock
#   reply behaviour: no Message-Authenticator added to PAP/CHAP replies)
# with the gateway's default pool settings (require-message-authenticator as shipped). PAP,
# CHAP, the Meraki probe, PEAP-MSCHAPv2, EAP-TLS, EAP-TTLS/PAP and accounting Start /
# Interim-Update / Stop, each answer checked by the client that sent it (rg_interop_suite).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need freeradius radsecproxy eapol_test radclient
rg_tmpdir >/dev/null
rg_pki
FR_SEC=legacy-udp-secret-$RANDOM$RANDOM

rg_freeradius_start "$FR_SEC"
rg_gateway_conf "$RG_TMP/radsecgw.conf" --backend "127.0.0.1:$FR_AUTH_PORT:$FR_ACCT_PORT:$FR_SEC"
rg_gateway_start "$RG_TMP/radsecgw.conf"
rg_radsecproxy_start "$GW_PORT"

rg_interop_suite radsecproxy "$RSP_PORT" "$RSP_PORT" "$RSP_SECRET"

# Everything went through the gateway to the backend, over one TLS connection.
rg_assert_log "$RG_TMP/radsecproxy.log" 'TLS connection to radsecgw .* up' \
    "radsecproxy reached radsecgw over TLS"
rg_assert_log "$FR_LOG" 'Received Accounting-Request' "the backend received the accounting"
rg_assert_log "$FR_LOG" 'meraki_8021x_test' "the backend saw the Meraki probe"
rg_assert_no_log "$GW_LOG" 'event=backend_down' "no backend marked dead"
rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_finish
