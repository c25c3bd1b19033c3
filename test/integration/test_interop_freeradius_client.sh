#!/usr/bin/env bash
# Issue #8 item 7: radsecgw as a drop-in behind an unmodified FreeRADIUS 3.2 (Debian's) used
# as a RadSec client: a home_server with proto = tcp, type = auth+acct and a tls {}
# subsection, every request proxied to it (rg_freeradius_client_start):
#   radclient, eapol_test -UDP-> FreeRADIUS (proxy) -TLS-> radsecgw -UDP-> FreeRADIUS 3.2
#   backend (stock reply behaviour)
# with the gateway's default pool settings. PAP, CHAP, the Meraki probe, PEAP-MSCHAPv2,
# EAP-TLS, EAP-TTLS/PAP and accounting Start / Interim-Update / Stop, each answer checked by
# the client that sent it (rg_interop_suite). FreeRADIUS as the RadSec client verifies what
# the gateway sends back itself (Response Authenticator, and Message-Authenticator where
# present) and drops what does not verify, so an answer reaching radclient is the proof.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need freeradius eapol_test radclient
rg_tmpdir >/dev/null
rg_pki
FR_SEC=legacy-udp-secret-$RANDOM$RANDOM

rg_freeradius_start "$FR_SEC"
rg_gateway_conf "$RG_TMP/radsecgw.conf" --backend "127.0.0.1:$FR_AUTH_PORT:$FR_ACCT_PORT:$FR_SEC"
rg_gateway_start "$RG_TMP/radsecgw.conf"
rg_freeradius_client_start "$GW_PORT"

rg_interop_suite freeradius-client "$FRC_AUTH_PORT" "$FRC_ACCT_PORT" "$FRC_SECRET"

rg_assert_log "$GW_LOG" 'event=conn_open conn=[0-9]+ src=127\.0\.0\.1:[0-9]+ org=acme ' \
    "FreeRADIUS connected to radsecgw over TLS as an acme AP"
# FreeRADIUS makes up an Access-Reject when its home server does not answer: the rejects
# above count only if they came from radsecgw.
rg_assert_no_log "$FRC_LOG" 'No proxy response|lack of any response' \
    "every proxied request was answered by radsecgw (no reply made up by the RadSec client)"
n=$(grep -cE "Received Access-Reject Id [0-9]+ from 127\.0\.0\.1:$GW_PORT " "$FRC_LOG")
[ "$n" -ge 2 ] && rg_pass "the Access-Rejects (wrong password, Meraki probe) came from radsecgw ($n)" ||
    rg_fail "only $n Access-Reject(s) received from radsecgw by the RadSec client"
rg_assert_log "$FR_LOG" 'Received Accounting-Request' "the backend received the accounting"
rg_assert_log "$FR_LOG" 'meraki_8021x_test' "the backend saw the Meraki probe"
# FreeRADIUS 3.2.1 says "Ignoring spoofed proxy reply.  Signature is invalid" for a reply it
# discards (e.g. a Message-Authenticator on an Accounting-Response computed another way).
rg_assert_no_log "$FRC_LOG" 'spoofed proxy reply|Signature is invalid|invalid Message-Authenticator|invalid Response Authenticator' \
    "the RadSec client accepted every reply of the gateway as valid"
rg_assert_no_log "$GW_LOG" 'event=backend_down' "no backend marked dead"
rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_finish
