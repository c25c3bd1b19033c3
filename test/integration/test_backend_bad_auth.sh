#!/usr/bin/env bash
# Issue #3, bad replies from the UDP side (DESIGN.md: "a bad reply from a backend is dropped
# and counted, never tears down a TLS connection"). One fresh gateway per case, fed by
# fake_backend in a misbehaving mode; radsec_client pipelines several requests on one
# connection and reports each one:
#   bad-auth          every reply has a wrong Response Authenticator: nothing reaches the AP
#   bad-auth-first:1  the first reply is wrong, later ones good: the others (and possibly the
#                     retransmitted first) are answered on the same connection
#   wrong-port        replies from another source port are not accepted
#   no-ma             Access-Accept without Message-Authenticator: under
#                     require-message-authenticator = true discarded (BlastRADIUS) but the
#                     server answered: sent once, never marked dead; under the default (auto)
#                     and false accepted, auto with a warning
#   --no-ma-after 1   auto learns from the first signed reply; the unsigned one after it is
#                     dropped (issue #8)
#   --acct-ma         a signed Accounting-Response (either convention) is verified, and the
#                     AP gets it without Message-Authenticator
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
DROP_RE='dropped|drop'

# [FB_EXTRA="fake_backend options"] start_case NAME MODE [rg_gateway_conf options]: a fake
# backend and a gateway for one case.
start_case() {
    local name=$1 mode=$2
    shift 2
    # shellcheck disable=SC2086 # FB_EXTRA is a list of options
    rg_fake_backend_start "$name-backend" "$FB_SEC" "$mode" ${FB_EXTRA:-}
    local port_var="FB_PORT_${name//[^A-Za-z0-9_]/_}_backend"
    local port=${!port_var}
    rg_gateway_conf "$RG_TMP/$name.conf" --backend "127.0.0.1:$port:$port:$FB_SEC" "$@"
    rg_gateway_start "$RG_TMP/$name.conf" "$name-gw"
}

stop_case() {
    rg_alive "$1-gw" && rg_pass "$1: radsecgw still running" || rg_fail "$1: radsecgw died"
    rg_stop "$1-gw"
    rg_stop "$1-backend"
}

# client OUTVAR ARGS...: radsec_client against the current gateway; OUTVAR gets the output,
# the exit status is returned.
client() {
    local __var=$1 __out __st
    shift
    __out=$(rg_client "$@" 2>&1)
    __st=$?
    printf -v "$__var" '%s' "$__out"
    return $__st
}

count_lines() { grep -Ec -- "$2" <<<"$1"; }

# --- every reply has a wrong Response Authenticator
start_case badauth bad-auth --extra 'stats { interval = 1 }'
client out --count 3 --timeout 5 auth alice pw
st=$?
[ $st = 2 ] && rg_pass "bad-auth: radsec_client reports failure" ||
    rg_fail "bad-auth: radsec_client exit $st, expected 2"
rg_assert_output "$out" 'accept=0 .*timeout=3 .*closed=no' \
    "bad-auth: no reply reached the AP and its connection stayed open"
rg_assert_no_log <(echo "$out") '^Access-Accept' "bad-auth: no Access-Accept forwarded"
report=$(rg_fake_backend_report badauth-backend)
n=$(rg_report_value "$report" bad_replies)
[ "$n" -ge 3 ] && rg_pass "bad-auth: backend sent $n bad replies" ||
    rg_fail "bad-auth: backend sent $n bad replies, expected >= 3"
rg_assert_log "$GW_LOG" "($DROP_RE).*[Aa]uthenticator|[Aa]uthenticator.*($DROP_RE)" \
    "bad-auth: gateway logs the dropped reply and why"
rg_wait_log "$GW_LOG" 'event=stats workers=.* drop_bad_reply=[3-9]' 5 badauth-gw &&
    rg_pass "bad-auth: the stats line counts the dropped replies" ||
    rg_fail "bad-auth: no stats line with drop_bad_reply >= 3"
# The gateway keeps serving APs after the bad replies (Status-Server is answered by the
# gateway itself, whatever the backend's state).
client out --count 2 --timeout 3 status
st=$?
[ $st = 0 ] && rg_pass "bad-auth: gateway still answers Status-Server" ||
    rg_fail "bad-auth: Status-Server after bad replies: exit $st"
stop_case badauth

# --- the first reply bad, the rest good, all on one connection
start_case first bad-auth-first:1
client out --count 4 --timeout 6 auth alice pw
st=$?
accepted=$(count_lines "$out" '^Access-Accept id=')
timeouts=$(count_lines "$out" '^timeout id=')
if [ "$accepted" = 4 ] || { [ "$accepted" = 3 ] && [ "$timeouts" = 1 ]; }; then
    rg_pass "bad-auth-first: $accepted accepted, $timeouts timed out (the bad reply was dropped)"
else
    rg_fail "bad-auth-first: $accepted accepted, $timeouts timed out (exit $st):"
    sed 's/^/    | /' <<<"$out" >&2
fi
rg_assert_output "$out" 'closed=no' "bad-auth-first: connection kept"
rg_assert_output "$out" 'Tunnel-Password:1 = "fake-tunnel-password"' \
    "bad-auth-first: good replies re-encrypted for the AP"
rg_assert_output "$out" 'MS-MPPE-Recv-Key = 0x202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f' \
    "bad-auth-first: MS-MPPE-Recv-Key re-encrypted for the AP"
report=$(rg_fake_backend_report first-backend)
[ "$(rg_report_value "$report" bad_replies)" = 1 ] && rg_pass "bad-auth-first: one bad reply sent" ||
    rg_fail "bad-auth-first: report: $report"
[ "$(rg_report_value "$report" bad)" = 0 ] &&
    rg_pass "bad-auth-first: every request the gateway sent verified at the backend" ||
    rg_fail "bad-auth-first: backend found bad requests: $report"
stop_case first

# --- replies from the wrong source port
start_case wrongport wrong-port
client out --count 2 --timeout 4 auth alice pw
st=$?
[ $st = 2 ] && rg_pass "wrong-port: radsec_client reports failure" ||
    rg_fail "wrong-port: radsec_client exit $st, expected 2"
rg_assert_output "$out" 'accept=0 .*timeout=2 .*closed=no' \
    "wrong-port: no reply reached the AP and its connection stayed open"
rg_assert_log "$GW_LOG" '(another|wrong|unexpected|unknown).*(address|port|source)|source.*(dropped|drop)' \
    "wrong-port: gateway logs the reply from the wrong source"
stop_case wrongport

# --- BlastRADIUS: Access-Accept without Message-Authenticator, require-message-authenticator
# = true. timeout 1, retries 2: the old behaviour sent each request 3 times and then marked
# the server dead.
start_case noma no-ma --require-ma true
client out --count 2 --timeout 5 auth alice pw
st=$?
[ $st = 2 ] && rg_pass "no-ma: reply without Message-Authenticator not forwarded" ||
    rg_fail "no-ma: radsec_client exit $st, expected 2"
rg_assert_output "$out" 'accept=0 .*closed=no' "no-ma: connection stayed open"
rg_assert_log "$GW_LOG" 'result=discarded reason="no Message-Authenticator \(require-message-authenticator = true\)"' \
    "no-ma: gateway logs the missing Message-Authenticator"
report=$(rg_fake_backend_report noma-backend)
[ "$(rg_report_value "$report" access_request)" = 2 ] &&
    rg_pass "no-ma: each answered request sent once" ||
    rg_fail "no-ma: backend report: $(tr '\n' ' ' <<<"$report")"
rg_assert_no_log "$GW_LOG" 'event=backend_down' "no-ma: a server that answers is not marked dead"
# Accounting-Response needs no Message-Authenticator and must still pass.
client out --timeout 4 acct start alice
st=$?
[ $st = 0 ] && rg_pass "no-ma: Accounting-Response still forwarded" ||
    rg_fail "no-ma: accounting exit $st"
report=$(rg_fake_backend_report noma-backend)
[ "$(rg_report_value "$report" msgauth_in_acct)" = 0 ] &&
    rg_pass "no-ma: Accounting-Request sent without Message-Authenticator (RFC 3579 §3.3)" ||
    rg_fail "no-ma: Accounting-Request carried Message-Authenticator"
stop_case noma

# --- the same server with the default (auto): accepted, one warning naming the server
start_case noma-auto no-ma
client out --count 3 --timeout 4 auth alice pw
st=$?
[ $st = 0 ] && rg_pass "no-ma, auto: accepted" || rg_fail "no-ma, auto: exit $st"
n=$(grep -c 'WARNING: event=[a-z_]* backend=b1 pool=corp .*result=accepted reason="no Message-Authenticator' "$GW_LOG")
[ "$n" = 1 ] && rg_pass "no-ma, auto: one warning for 3 unsigned replies" ||
    rg_fail "no-ma, auto: $n warnings"
stop_case noma-auto

start_case noma-allowed no-ma --require-ma false
client out --timeout 4 auth alice pw
st=$?
[ $st = 0 ] && rg_pass "no-ma with require-message-authenticator = false: accepted" ||
    rg_fail "no-ma with require-message-authenticator = false: exit $st"
rg_assert_no_log "$GW_LOG" 'WARNING: event=[a-z_]* backend=.*result=accepted' "no-ma, false: no warning"
stop_case noma-allowed

# --- auto learns: the first reply signed, the next one not (a forged reply looks like that)
FB_EXTRA="--no-ma-after 1" start_case learn accept
client out --timeout 4 auth alice pw
st=$?
[ $st = 0 ] && rg_pass "learn: signed reply accepted" || rg_fail "learn: exit $st"
rg_assert_log "$GW_LOG" 'NOTICE: event=backend_signs_replies backend=b1 pool=corp ' \
    "learn: the gateway says it learnt that the server signs"
client out --timeout 4 auth alice pw
st=$?
[ $st = 2 ] && rg_pass "learn: unsigned reply after that not forwarded" ||
    rg_fail "learn: exit $st, expected 2"
rg_assert_log "$GW_LOG" 'result=discarded reason="no Message-Authenticator, though this server signed' \
    "learn: the discard says why"
# What was learnt survives a reload (same server address and secret).
rg_signal learn-gw HUP
rg_wait_log "$GW_LOG" 'event=reload_done' 10 learn-gw && rg_pass "learn: reloaded" || rg_fail "learn: no reload"
client out --timeout 4 auth alice pw
st=$?
[ $st = 2 ] && rg_pass "learn: after a reload unsigned replies are still dropped" ||
    rg_fail "learn: after reload exit $st, expected 2"
stop_case learn

# --- a signed Accounting-Response, both conventions: verified, forwarded without it
for conv in request zero; do
    FB_EXTRA="--acct-ma $conv" start_case "acctma-$conv" accept
    client out --timeout 4 acct start alice
    st=$?
    [ $st = 0 ] && rg_pass "acct-ma $conv: Accounting-Response forwarded" ||
        rg_fail "acct-ma $conv: exit $st"
    rg_assert_no_log <(echo "$out") 'Message-Authenticator' \
        "acct-ma $conv: the AP's Accounting-Response has no Message-Authenticator"
    stop_case "acctma-$conv"
done

rg_finish
