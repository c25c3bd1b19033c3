#!/usr/bin/env bash
# Issue #4: an AP closes its connection while its requests are in flight.
#   drop backend, timeout = 1: a live connection makes the gateway retransmit (the control);
#     a connection closed right after sending makes it send nothing more for those requests
#     (the backend sees each exactly once, counted by source port, ID and authenticator);
#   delayed backend (500 ms < timeout): the replies that arrive after the close are
#     discarded and counted (drop_late_reply), and the gateway keeps serving.
# Both gateways are stopped with SIGTERM and must exit 0: under the ASan build
# (RG_BUILD_DIR=<asan build>, ASAN_OPTIONS from the environment) that means no leak and no
# memory error on the way.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=midflight-backend-secret-$RANDOM$RANDOM

# --- drop: no retransmission after the close
rg_fake_backend_start drop "$FB_SEC" drop
rg_gateway_conf "$RG_TMP/drop.conf" --workers 1 --timeout 1 --retries 2 \
    --backend "127.0.0.1:$FB_PORT_drop:$FB_PORT_drop:$FB_SEC" --stats-interval 1
rg_gateway_start "$RG_TMP/drop.conf" drop-gw

# Control: the connection stays open 2.5 s, past the first retransmission (~1 s).
out=$(rg_load --connections 1 --inflight 20 --requests 20 --timeout 2.5 --allow-loss 2>&1)
rg_assert_output "$out" 'sent=20 answered=0 .*timeouts=20' "control: 20 sent, none answered"
sleep 2 # the gateway forgets them (the connection closed) at their next deadline
r=$(rg_fake_backend_report drop)
d0=$(rg_report_value "$r" duplicates)
n0=$(rg_report_value "$r" requests)
[ "$d0" -gt 0 ] && rg_pass "control: a live connection's requests are retransmitted ($d0)" ||
    rg_fail "control: no retransmission seen by the backend, so the check below cannot fail"

rg_load --connections 2 --inflight 100 --requests 100 --close-after-send --allow-loss \
    >"$RG_TMP/closed.out" 2>&1
rg_assert_output "$(cat "$RG_TMP/closed.out")" 'sent=100 answered=0 .*lost=100' \
    "100 requests sent, then the connections closed"
rg_wait_log "$GW_LOG" 'event=conn_close .*reason="closed by peer.* inflight=50 unsent=[0-9]+$' 5 drop-gw &&
    rg_pass "gateway saw the connections close with their requests in flight" ||
    rg_fail "gateway did not log the close with 50 requests in flight"
sleep 4 # well past IRT (1 s) + 2 x IRT: a retransmission would have happened by now
r=$(rg_fake_backend_report drop)
d1=$(rg_report_value "$r" duplicates)
n1=$(rg_report_value "$r" requests)
[ $((n1 - n0)) = 100 ] && rg_pass "backend got the 100 requests once each" ||
    rg_fail "backend got $((n1 - n0)) requests after the close, expected 100"
[ "$d1" = "$d0" ] && rg_pass "no retransmission after the close" ||
    rg_fail "$((d1 - d0)) retransmissions reached the backend after the AP closed"
sleep 1.2
v=$(rg_stats_last "$GW_LOG" outstanding)
[ "$v" = 0 ] && rg_pass "drop: nothing left outstanding" || rg_fail "drop: outstanding=$v"

# --- delayed replies arrive after the close
rg_fake_backend_start late "$FB_SEC" accept --delay-ms 500
rg_gateway_conf "$RG_TMP/late.conf" --workers 1 --timeout 1 --retries 2 \
    --backend "127.0.0.1:$FB_PORT_late:$FB_PORT_late:$FB_SEC" --stats-interval 1
rg_gateway_start "$RG_TMP/late.conf" late-gw
rg_load --connections 2 --inflight 100 --requests 100 --type mix --close-after-send \
    --allow-loss >"$RG_TMP/late.out" 2>&1
sleep 2.5
r=$(rg_fake_backend_report late)
[ "$(rg_report_value "$r" replies)" = 100 ] && rg_pass "late: the backend answered all 100" ||
    rg_fail "late: backend replies=$(rg_report_value "$r" replies)"
[ "$(rg_report_value "$r" duplicates)" = 0 ] && rg_pass "late: no retransmission" ||
    rg_fail "late: duplicates=$(rg_report_value "$r" duplicates)"
v=$(rg_stats_last "$GW_LOG" drop_late_reply)
[ "$v" = 100 ] && rg_pass "late: drop_late_reply=100 in the stats line" ||
    rg_fail "late: drop_late_reply=$v, expected 100"
v=$(rg_stats_last "$GW_LOG" replies)
[ "$v" = 0 ] && rg_pass "late: nothing written to a closed connection" ||
    rg_fail "late: replies=$v"
out=$(rg_load --connections 2 --inflight 50 --requests 200 --type mix 2>&1)
[ $? = 0 ] && rg_pass "late: gateway keeps serving ($(rg_kv "$out" answered) answered)" ||
    rg_fail "late: gateway no longer serves: $out"

for gw in drop-gw late-gw; do
    rg_alive "$gw" && rg_pass "$gw still running" || rg_fail "$gw died"
    rg_stop "$gw"
    st=$?
    [ "$st" = 0 ] && rg_pass "$gw exits 0 on SIGTERM (no leak or error under ASan)" ||
        rg_fail "$gw exit status $st"
    rg_assert_no_log "$RG_TMP/$gw.log" 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
        "$gw: no sanitizer report"
done
rg_finish
