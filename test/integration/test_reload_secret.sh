#!/usr/bin/env bash
# A reply that crosses a real reload (SIGHUP) which changed both the org's RadSec secret and
# the backend (with its secret), on the AP connection the request came in on.
#
# The rule (docs/operations.md, "Secrets across a reload"): a reply is verified with the
# backend secret its request was sent with (the old backend's), and signed for the AP, its
# Tunnel-Password and MPPE keys re-encrypted, with the AP connection's secret as of the
# generation the connection adopted: the new one, once the reload re-checked the connection.
#
# An AP that checks the reply with the new secret gets it, with the hidden attributes
# readable; one that checks with the old secret sees a bad Response Authenticator. Without
# the connection describing its origin again on adopting the new generation, the reply is
# signed with the old secret (or freed bytes) and the first client fails.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
SEC_A=backend-a-secret-$RANDOM$RANDOM
SEC_B=backend-b-secret-$RANDOM$RANDOM
AP_OLD=radsec-old-$RANDOM$RANDOM
AP_NEW=radsec-new-$RANDOM$RANDOM
rg_fake_backend_start fa "$SEC_A" accept --password pw --delay-ms 3000
rg_fake_backend_start fb "$SEC_B" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --org-secret "$AP_OLD" \
    --backend "127.0.0.1:$FB_PORT_fa:$FB_PORT_fa:$SEC_A" --timeout 6 --retries 0
port=$GW_PORT
rg_gateway_start "$RG_TMP/gw.conf" gw

# Two APs' connections, each with 2 requests signed with the old secret, held 3 s by A.
rg_client --secret "$AP_OLD" --reply-secret "$AP_NEW" --timeout 12 --count 2 auth alice pw \
    >"$RG_TMP/new.out" 2>&1 &
c_new=$!
rg_client --secret "$AP_OLD" --timeout 12 --count 2 auth alice pw >"$RG_TMP/old.out" 2>&1 &
c_old=$!
held=0
for ((i = 0; i < 50; i++)); do
    held=$(rg_report_value "$(rg_fake_backend_report fa)" access_request)
    [ "$held" -ge 4 ] && break
    sleep 0.05
done
[ "$held" = 4 ] && rg_pass "4 requests held by backend A before the reload" ||
    rg_fail "backend A saw $held requests before the reload (want 4)"

rg_gateway_conf "$RG_TMP/gw.conf" --port "$port" --org-secret "$AP_NEW" \
    --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$SEC_B" --timeout 6 --retries 0
rg_signal gw HUP
rg_wait_log "$GW_LOG" 'event=reload_done' 10 gw && rg_pass "reload done" ||
    rg_fail "no 'event=reload_done'"
rg_wait_log "$GW_LOG" 'event=conn_recheck .*result=verified' 5 gw &&
    rg_pass "the AP connections adopted the new generation" ||
    rg_fail "no 'event=conn_recheck ... result=verified'"
# The replies must reach the gateway after the connections adopted the new generation.
recheck_at=$(grep -n 'event=conn_recheck' "$GW_LOG" | tail -n1 | cut -d: -f1)
first_reply_at=$(grep -n 'event=request conn=' "$GW_LOG" | head -n1 | cut -d: -f1)
[ -z "$first_reply_at" ] && rg_pass "backend A had not answered when the connections adopted the reload" ||
    rg_fail "a reply was logged (line $first_reply_at) before the re-check (line $recheck_at): the test proves nothing"

wait "$c_new"
st=$?
[ $st = 0 ] && rg_pass "in flight, checked with the new secret: exit 0" ||
    rg_fail "in flight, checked with the new secret: exit $st: $(cat "$RG_TMP/new.out")"
rg_assert_log "$RG_TMP/new.out" 'accept=2 ' "in flight: both replies verified with the new secret"
rg_assert_log "$RG_TMP/new.out" 'Tunnel-Password:1 = "fake-tunnel-password"' \
    "in flight: Tunnel-Password re-encrypted with the new secret"
rg_assert_log "$RG_TMP/new.out" \
    'MS-MPPE-Recv-Key = 0x202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f' \
    "in flight: MS-MPPE-Recv-Key re-encrypted with the new secret"
wait "$c_old"
st=$?
[ $st != 0 ] && rg_pass "in flight, checked with the old secret: fails (exit $st)" ||
    rg_fail "in flight, checked with the old secret: exit 0 (want a failure)"
rg_assert_log "$RG_TMP/old.out" 'bad Response Authenticator' \
    "in flight, checked with the old secret: bad Response Authenticator"
rg_assert_no_log "$GW_LOG" 'event=reply_dropped' \
    "backend A's replies verified with the secret they were sent with"
ra=$(rg_report_value "$(rg_fake_backend_report fa)" access_request)
rb=$(rg_report_value "$(rg_fake_backend_report fb)" access_request)
[ "$ra" = 4 ] && [ "$rb" = 0 ] && rg_pass "old backend answered the 4 in flight, new one saw none" ||
    rg_fail "backend A saw $ra (want 4), backend B $rb (want 0)"

# After the reload: new requests use the new secret; the old one no longer verifies.
out=$(rg_client --secret "$AP_NEW" --timeout 5 auth alice pw 2>&1)
rg_assert_output "$out" '^Access-Accept' "after reload: the new secret is answered (backend B)"
out=$(rg_client --secret "$AP_OLD" --timeout 3 auth alice pw 2>&1)
if grep -q '^Access-Accept' <<<"$out"; then
    rg_fail "after reload: a request signed with the old secret was answered"
else
    rg_pass "after reload: a request signed with the old secret is not answered"
fi
rg_stop gw && rg_pass "gateway exits 0 on SIGTERM" || rg_fail "gateway exit status non-zero"
rg_finish
