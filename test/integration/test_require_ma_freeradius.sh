#!/usr/bin/env bash
# Issue #8: require-message-authenticator against Debian's FreeRADIUS 3.2.1 with its stock
# reply behaviour (EAP replies signed, PAP/CHAP replies not). One FreeRADIUS, one gateway per
# mode, APs as radsec_client (PAP, CHAP) and eapol_test behind radsecproxy (PEAP):
#   auto (the default)  EAP first, then PAP and CHAP: all answered; one warning naming the
#                       server and what to do, not one per request; the server stays alive
#   true                PAP/CHAP replies discarded with a line saying why and what to change,
#                       each request sent once (an answered request is not retransmitted),
#                       the server never marked dead, so EAP keeps working
#   false               PAP/CHAP answered, no warning
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need freeradius radsecproxy eapol_test
rg_tmpdir >/dev/null
rg_pki
FR_SEC=legacy-udp-secret-$RANDOM$RANDOM
rg_freeradius_start "$FR_SEC"
rg_eapol_peap_conf "$RG_TMP/peap.conf"

fr_requests() { grep -c 'Received Access-Request' "$FR_LOG"; }

# start_gw NAME [rg_gateway_conf options]: gateway NAME (status-server probing on) and a
# radsecproxy in front of it for eapol_test.
start_gw() {
    local name=$1
    shift
    rg_gateway_conf "$RG_TMP/$name.conf" --backend "127.0.0.1:$FR_AUTH_PORT:$FR_ACCT_PORT:$FR_SEC" \
        --status-server true --timeout 1 --retries 2 "$@"
    rg_gateway_start "$RG_TMP/$name.conf" "$name"
    rg_alive radsecproxy && rg_stop radsecproxy
    rg_radsecproxy_start "$GW_PORT"
}

# run WANT_EXIT DESCRIPTION radsec_client-args...: sets $out.
run() {
    local want=$1 what=$2 st
    shift 2
    out=$(rg_client --timeout 4 "$@" 2>&1)
    st=$?
    if [ "$st" = "$want" ]; then
        rg_pass "$what (exit $st)"
    else
        rg_fail "$what: radsec_client exited $st, expected $want"
        sed 's/^/    | /' <<<"$out" >&2
    fi
}

PW=$RG_USERS_ALICE_PASSWORD
ADDR_RE="127\.0\.0\.1:$FR_AUTH_PORT"

# --- auto (nothing in the config)
start_gw gw-auto
rg_assert_no_log "$RG_TMP/gw-auto.conf" 'require-message-authenticator' \
    "auto: the generated config leaves the key at its default"
rg_eapol auto-peap-first "$RG_TMP/peap.conf" "$RSP_PORT" "$RSP_SECRET"
run 0 "auto: PAP after EAP accepted" auth alice "$PW"
rg_assert_output "$out" 'Message-Authenticator = ok' "auto: the AP's Access-Accept is signed"
run 1 "auto: PAP with a wrong password rejected" auth alice wrong-password
run 0 "auto: CHAP accepted" chap alice "$PW"
run 1 "auto: CHAP with a wrong password rejected" chap alice wrong-password
run 0 "auto: 10 more PAP requests accepted" --count 10 auth alice "$PW"
n=$(grep -c 'result=accepted reason="no Message-Authenticator' "$GW_LOG")
[ "$n" = 1 ] && rg_pass "auto: one warning for 14 unsigned replies" ||
    rg_fail "auto: $n warnings for unsigned replies, expected 1"
rg_assert_log "$GW_LOG" "WARNING: event=[a-z_]* backend=b1 pool=corp server=$ADDR_RE .*fix=\"make the server put Message-Authenticator .*require-message-authenticator = true\"" \
    "auto: the warning names the server and what to do"
rg_eapol auto-peap-again "$RG_TMP/peap.conf" "$RSP_PORT" "$RSP_SECRET"
rg_assert_no_log "$GW_LOG" 'event=backend_down' "auto: the server was never marked dead"
rg_assert_no_log "$GW_LOG" 'event=backend_signs_replies|WARNING: event=[a-z_]* backend=.*result=discarded' \
    "auto: nothing learnt from EAP replies, nothing discarded"
rg_stop gw-auto

# --- true
start_gw gw-true --require-ma true
before=$(fr_requests)
run 2 "true: unsigned PAP reply not forwarded" auth alice "$PW"
rg_assert_output "$out" 'timeout=1 .*closed=no' "true: the AP's connection stays"
after=$(fr_requests)
[ $((after - before)) = 1 ] && rg_pass "true: the answered request was sent once" ||
    rg_fail "true: FreeRADIUS received $((after - before)) copies of one request"
rg_assert_log "$GW_LOG" "WARNING: event=[a-z_]* backend=b1 pool=corp server=$ADDR_RE code=Access-Accept id=[0-9]+ result=discarded reason=\"no Message-Authenticator \(require-message-authenticator = true\)\" effect=\"server counted alive.*fix=\"" \
    "true: the discard is logged with why and what to change"
run 2 "true: unsigned CHAP reply not forwarded" chap alice "$PW"
sleep 4 # longer than the retransmission schedule: the old behaviour marked the server dead here
rg_assert_no_log "$GW_LOG" 'event=backend_down' "true: a server that answers is never marked dead"
rg_eapol true-peap "$RG_TMP/peap.conf" "$RSP_PORT" "$RSP_SECRET"
n=$(grep -c 'WARNING: event=[a-z_]* backend=.*result=discarded' "$GW_LOG")
[ "$n" = 1 ] && rg_pass "true: one discard line a minute, not one per reply" ||
    rg_fail "true: $n discard lines"
rg_stop gw-true

# --- false
start_gw gw-false --require-ma false
run 0 "false: PAP accepted" auth alice "$PW"
run 0 "false: CHAP accepted" chap alice "$PW"
rg_eapol false-peap "$RG_TMP/peap.conf" "$RSP_PORT" "$RSP_SECRET"
rg_assert_no_log "$GW_LOG" 'WARNING: event=[a-z_]* backend=.*result=(accepted|discarded)' "false: no warning"
rg_stop gw-false

rg_assert_no_log "$FR_LOG" '(invalid|bad) (Message-Authenticator|Request Authenticator)|Shared secret is incorrect' \
    "FreeRADIUS saw no authenticator errors"
rg_finish
