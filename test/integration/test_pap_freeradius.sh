#!/usr/bin/env bash
# Issue #3, the basic path: an AP (radsec_client with the acme certificate) talks RadSec to
# radsecgw, which forwards to FreeRADIUS over UDP with a different secret. PAP and CHAP
# accept and reject, accounting start/stop, hidden attributes re-encrypted for the AP,
# pipelined requests on one connection, and Status-Server answered by the gateway itself
# (FreeRADIUS must never see one: status-server probing is off in this config).
# Issue #8: FreeRADIUS keeps Debian's stock replies (no Message-Authenticator on PAP/CHAP)
# and the gateway runs with its default require-message-authenticator = auto;
# Accounting-Request reaches FreeRADIUS without Message-Authenticator (RFC 3579 §3.3) and
# Accounting-Response reaches the AP without one.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need freeradius
rg_tmpdir >/dev/null
rg_pki
FR_SEC=legacy-udp-secret-$RANDOM$RANDOM

rg_freeradius_start "$FR_SEC"
rg_gateway_conf "$RG_TMP/radsecgw.conf" --backend "127.0.0.1:$FR_AUTH_PORT:$FR_ACCT_PORT:$FR_SEC"
rg_gateway_start "$RG_TMP/radsecgw.conf"

rg_run_client 0 "PAP alice/wonderland accepted" auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" '^Access-Accept id=' "Access-Accept reaches the AP"
rg_assert_output "$out" 'Reply-Message = "Hello, alice"' "Reply-Message passes through"
# FreeRADIUS hid it with its UDP secret; the AP can only read it if the gateway re-hid it
# with the RadSec secret and the AP's Request Authenticator (RFC 2868 §3.5).
rg_assert_output "$out" 'Tunnel-Password:0 = "tunnel-alice"' \
    "Tunnel-Password re-encrypted for the AP"

rg_run_client 1 "PAP with a wrong password rejected" auth alice not-the-password
rg_assert_output "$out" '^Access-Reject id=' "Access-Reject reaches the AP"

rg_run_client 0 "CHAP alice accepted" chap alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" '^Access-Accept id=' "CHAP: Access-Accept reaches the AP"
rg_assert_output "$out" 'Message-Authenticator = ok' "CHAP: the AP's Access-Accept is signed"
rg_run_client 1 "CHAP with a wrong password rejected" chap alice not-the-password

rg_run_client 0 "Accounting start answered" acct start alice
rg_assert_output "$out" '^Accounting-Response id=' "Accounting-Response for start"
rg_assert_no_log <(echo "$out") 'Message-Authenticator' \
    "Accounting-Response reaches the AP without Message-Authenticator"
rg_run_client 0 "Accounting stop answered" acct stop alice
rg_assert_output "$out" '^Accounting-Response id=' "Accounting-Response for stop"

rg_run_client 0 "20 pipelined Access-Requests on one connection" --count 20 \
    auth alice "$RG_USERS_ALICE_PASSWORD"
rg_assert_output "$out" 'accept=20 .*closed=no' "all 20 accepted, connection kept"

rg_run_client 0 "mixed TLS 1.2 client" --tls 1.2 --attr Calling-Station-Id=aa-bb-cc-dd-ee-ff \
    auth alice "$RG_USERS_ALICE_PASSWORD"

rg_run_client 0 "Status-Server answered" status
rg_assert_output "$out" 'status=1 ' "one Status-Server reply"

# What FreeRADIUS saw: the requests, and no Status-Server (the gateway answers those).
sleep 0.5
n_auth=$(grep -c 'Received Access-Request' "$FR_LOG")
n_acct=$(grep -c 'Received Accounting-Request' "$FR_LOG")
# The attributes FreeRADIUS lists after each "Received Accounting-Request" line.
if awk '/Received Accounting-Request/ { b = 1; next } /Received |Sent / { b = 0 }
        b && /Message-Authenticator/ { found = 1 } END { exit !found }' "$FR_LOG"; then
    rg_fail "an Accounting-Request reached FreeRADIUS with Message-Authenticator"
else
    rg_pass "Accounting-Requests reach FreeRADIUS without Message-Authenticator (RFC 3579 §3.3)"
fi
rg_assert_log "$FR_LOG" 'Received Accounting-Request' "FreeRADIUS logged the accounting requests"
[ "$n_auth" -ge 25 ] && rg_pass "FreeRADIUS received the Access-Requests ($n_auth)" ||
    rg_fail "FreeRADIUS received $n_auth Access-Requests, expected at least 25"
[ "$n_acct" -ge 2 ] && rg_pass "FreeRADIUS received the Accounting-Requests ($n_acct)" ||
    rg_fail "FreeRADIUS received $n_acct Accounting-Requests, expected 2"
rg_assert_no_log "$FR_LOG" 'Received Status-Server' "no Status-Server reached FreeRADIUS"
# The AP's secret never reaches the backend: FreeRADIUS would log a bad authenticator.
rg_assert_no_log "$FR_LOG" '(invalid|bad) (Message-Authenticator|Request Authenticator)|Shared secret is incorrect' \
    "FreeRADIUS saw no authenticator errors"

rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_stop radsecgw
st=$?
[ $st = 0 ] && rg_pass "radsecgw exits 0 on SIGTERM" || rg_fail "radsecgw exited $st on SIGTERM"
rg_finish
