#!/usr/bin/env bash
# Issue #17, RADIUS/1.1 (RFC 9765) on the TLS side: radsec_client offers ALPN "radius/1.1"
# and, once selected, sends Tokens and clear attributes; the gateway hides User-Password
# with the FreeRADIUS backend's UDP secret (FreeRADIUS accepting PAP proves it) and returns
# the backend's hidden Tunnel-Password in the clear. On the same port historic (no ALPN) and
# radius/1.0 clients go on as before; TLS 1.2 never selects radius/1.1. A Token reused for a
# different packet in flight closes the connection; the same packet again is a duplicate.
# A request that cannot be forwarded gets Protocol-Error 502 even with when-dead = "silent".
# radius-1.1 = "require" refuses the others in their ClientHello (no_application_protocol).
# Reverse CoA down a RADIUS/1.1 connection carries a Token. Every step waits on a reply or a
# log line, never on time alone (the packets that must meet in flight share one TLS record).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need freeradius
rg_need radclient
rg_tmpdir >/dev/null
rg_pki
FR_SEC=legacy-udp-secret-$RANDOM$RANDOM
COA_SEC=coa-client-secret-$RANDOM$RANDOM

rg_freeradius_start "$FR_SEC"
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FR_AUTH_PORT:$FR_ACCT_PORT:$FR_SEC" \
    --org-coa true --coa-client "dac:$COA_SEC" --stats-interval 1
rg_gateway_start "$RG_TMP/gw.conf" gw
rg_wait_port "$COA_PORT" udp 10 gw || rg_die "no coa listener on $COA_PORT"

# ---- RADIUS/1.1 through to FreeRADIUS -----------------------------------------------------
rg_run_client 0 "RADIUS/1.1 PAP accepted" --radius-1.1 auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" '^alpn: radius/1.1$' "radius/1.1 selected"
rg_assert_output "$out" '^Access-Accept token=[0-9a-f]{8}$' "the reply echoes the Token"
rg_assert_output "$out" 'Reply-Message = "Hello, alice"' "reply attributes pass"
# FreeRADIUS hid it with its UDP secret; on RADIUS/1.1 it travels as tag + password.
rg_assert_output "$out" 'Tunnel-Password:0 = "tunnel-alice"' "Tunnel-Password in the clear"
rg_assert_no_log <(echo "$out") 'Message-Authenticator|Reserved-1|second reply' \
    "no Message-Authenticator and zero Reserved fields on RADIUS/1.1"
rg_run_client 1 "RADIUS/1.1 PAP, wrong password: Access-Reject" --radius-1.1 auth alice not-alices
rg_assert_output "$out" '^Access-Reject token=' "Access-Reject with the Token"
rg_run_client 0 "RADIUS/1.1 CHAP (with CHAP-Challenge) accepted" --radius-1.1 chap alice \
    "$RG_USERS_ALICE_PASSWORD"
rg_run_client 0 "RADIUS/1.1 accounting start" --radius-1.1 acct start alice r11-sess
rg_assert_output "$out" '^Accounting-Response token=' "Accounting-Response with the Token"
rg_run_client 0 "RADIUS/1.1 Status-Server answered by the gateway" --radius-1.1 status
rg_assert_output "$out" 'status=1 ' "one Status-Server answer"
rg_run_client 0 "RADIUS/1.1: 40 pipelined requests" --radius-1.1 --count 40 --records one \
    auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" 'accept=40 .*closed=no' "all 40 answered by Token, connection kept"
rg_assert_no_log "$FR_LOG" '(invalid|bad) (Message-Authenticator|Request Authenticator)|Shared secret is incorrect' \
    "FreeRADIUS saw no authenticator errors"

# ---- the other clients on the same port ----------------------------------------------------
rg_run_client 0 "radius/1.0 and radius/1.1 offered: the higher one" --alpn radius/1.0,radius/1.1 \
    auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" '^alpn: radius/1.1$' "radius/1.1 chosen over radius/1.0"
rg_run_client 0 "radius/1.0 client: historic RadSec" --alpn radius/1.0 auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" '^alpn: radius/1.0$' "radius/1.0 selected"
rg_assert_output "$out" 'Message-Authenticator = ok' "radius/1.0: signed with the RadSec secret"
rg_run_client 0 "no-ALPN client: historic RadSec" auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" '^Access-Accept id=' "historic client answered by ID"
rg_assert_log "$GW_LOG" 'event=conn_open .* tls=TLSv1.3 .*proto=radius/1.1$' "open line: proto=radius/1.1"
rg_assert_log "$GW_LOG" 'event=conn_open .*proto=radius/1.0$' "open line: proto=radius/1.0"
rg_assert_log "$GW_LOG" 'event=conn_open .*proto=historic$' "open line: proto=historic"
rg_run_client 0 "TLS 1.2 offering both: radius/1.0" --tls 1.2 --alpn radius/1.0,radius/1.1 \
    auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" '^alpn: radius/1.0$' "TLS 1.2 never selects radius/1.1"
rg_run_client 0 "TLS 1.2 offering only radius/1.1: refused" --tls 1.2 --radius-1.1 --expect-close status
rg_assert_output "$out" 'TLS handshake failed' "the handshake fails (no_application_protocol)"
rg_wait_log "$GW_LOG" 'event=tls_refused .*reason="ALPN: the client offers only radius/1.1, which needs TLS 1.3; offered radius/1.1 over TLS 1.2"' \
    5 gw && rg_pass "the refusal is logged with what was offered" ||
    rg_fail "no ALPN refusal line for the TLS 1.2 client"

# ---- Token rules (both packets in one TLS record: they meet in flight) ---------------------
rg_run_client 2 "same Token, same packet: one answer, the copy dropped" --radius-1.1 --same-token \
    --count 2 --records one --timeout 2 auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" 'accept=1 .*closed=no' "one accept, connection kept"
rg_assert_log "$GW_LOG" 'event=request_duplicate .*proto=radius/1.1' "duplicate logged"
rg_run_client 2 "same Token, another packet in flight: connection closed" --radius-1.1 --same-token \
    --count 2 --records one acct start alice reuse-sess
rg_assert_output "$out" 'closed=yes' "the gateway closed the connection"
rg_assert_log "$GW_LOG" 'event=token_reused .*token=[0-9a-f]{8} in_flight=Accounting-Request.*action=close' \
    "Token reuse logged"

# ---- reverse CoA with Tokens ---------------------------------------------------------------
rg_start ap11 "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" \
    --ca "$RG_PKI_SERVER_CA" --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --radius-1.1 \
    --hold 60 --answer-coa ack --attr NAS-Identifier=ap-r11 auth alice "$RG_USERS_ALICE_PASSWORD"
rg_wait_log "$RG_TMP/ap11.log" '^holding' 10 ap11 || rg_die "ap11 did not connect"
rg_wait_log "$GW_LOG" 'conn_radius11=1' 5 gw && rg_pass "the open RADIUS/1.1 connection is counted" ||
    rg_fail "stats never show conn_radius11=1"
out=$(echo 'NAS-Identifier = "ap-r11", User-Name = "alice", Message-Authenticator = 0x00' |
    timeout 20 radclient -x -t 3 -r 1 "127.0.0.1:$COA_PORT" disconnect "$COA_SEC" 2>&1)
rg_assert_output "$out" 'Received Disconnect-ACK' "Disconnect-Request reaches the RADIUS/1.1 AP"
rg_assert_output "$out" 'Message-Authenticator' "the DAC's ACK is signed with its secret"
rg_assert_log "$RG_TMP/ap11.log" 'answered Disconnect-Request token=[0-9a-f]{8} with Disconnect-ACK' \
    "the AP got a Token, no Message-Authenticator"
rg_assert_log "$GW_LOG" 'event=coa_reply .*sent_token=[0-9a-f]{8} reply=Disconnect-ACK' \
    "the gateway matched the ACK by Token"
rg_stop ap11

# ---- a request that cannot be forwarded: Protocol-Error ------------------------------------
rg_fake_backend_start dead "$FR_SEC" drop
# One worker: server health is per worker, and the second request must find it dead.
rg_gateway_conf "$RG_TMP/dead.conf" --backend "127.0.0.1:$FB_PORT_dead:$FB_PORT_dead:$FR_SEC" \
    --timeout 1 --retries 0 --workers 1
rg_gateway_start "$RG_TMP/dead.conf" dead_gw
rg_run_client 3 "no server answers: Protocol-Error (when-dead silent)" --radius-1.1 --timeout 8 \
    acct start alice pe-sess
rg_assert_output "$out" '^Protocol-Error token=' "Protocol-Error with the Token"
rg_assert_output "$out" 'Error-Cause = 502' "Error-Cause 502 (Request Not Routable)"
rg_run_client 3 "server marked dead: Protocol-Error at once" --radius-1.1 --timeout 3 \
    auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" 'Error-Cause = 502' "Error-Cause 502 again"
rg_assert_log "$RG_TMP/dead_gw.log" 'event=request_no_server .*reason="every server of the pool is dead: Protocol-Error sent"' \
    "logged as answered"
rg_stop dead_gw

# ---- radius-1.1 = require ------------------------------------------------------------------
rg_gateway_conf "$RG_TMP/req.conf" --backend "127.0.0.1:$FR_AUTH_PORT:$FR_ACCT_PORT:$FR_SEC" \
    --radius11 require
rg_gateway_start "$RG_TMP/req.conf" req_gw
rg_run_client 0 "require: radius/1.1 client accepted" --radius-1.1 auth alice "$RG_USERS_ALICE_PASSWORD"
rg_run_client 0 "require: no-ALPN client refused" --expect-close status
rg_assert_output "$out" 'TLS handshake failed' "no-ALPN: alert in the handshake"
rg_run_client 0 "require: radius/1.0 client refused" --alpn radius/1.0 --expect-close status
rg_wait_log "$RG_TMP/req_gw.log" 'event=tls_refused .*reason="ALPN: the client offers only radius/1.0 \(radius-1.1 = require\); offered radius/1.0 over TLS 1.3"' \
    5 req_gw && rg_pass "radius/1.0 refusal logged" || rg_fail "no refusal line for radius/1.0"
rg_assert_log "$RG_TMP/req_gw.log" 'event=tls_refused .*reason="ALPN: no ALPN from the client \(radius-1.1 = require\); offered nothing' \
    "no-ALPN refusal logged"
rg_stop req_gw

rg_alive gw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_stop gw
st=$?
[ $st = 0 ] && rg_pass "radsecgw exits 0 on SIGTERM" || rg_fail "radsecgw exited $st on SIGTERM"
rg_finish
