#!/usr/bin/env bash
# Issue #4, two limits of the state table:
#   duplicates: an AP that sends a request again with an ID still in flight on its
#     connection (RFC 6613 §2.6.5) gets one answer; the copy is counted (duplicates=) and
#     never forwarded (the backend sees each request once);
#   backpressure: with max-outstanding = 256 (one UDP socket) and a 1 s backend, 800
#     requests in flight from 4 connections do not fit: the gateway stops reading the
#     connections (backpressure=) and resumes as replies free IDs; every request is answered,
#     none dropped, never more than 256 outstanding.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=dup-backend-secret-$RANDOM$RANDOM

# --- duplicates
rg_fake_backend_start dup "$FB_SEC" accept --delay-ms 300
rg_gateway_conf "$RG_TMP/dup.conf" --workers 1 --timeout 2 --retries 1 \
    --backend "127.0.0.1:$FB_PORT_dup:$FB_PORT_dup:$FB_SEC" --stats-interval 1 \
    --log-level info --log-requests false
rg_gateway_start "$RG_TMP/dup.conf" dup-gw
out=$(rg_load --connections 1 --inflight 50 --requests 500 --type mix --duplicate-every 5 \
    --timeout 10 2>&1)
st=$?
echo "radsec_load: $out" >&2
[ "$st" = 0 ] && rg_pass "duplicates: every request answered once, verified" ||
    rg_fail "duplicates: radsec_load exit $st"
rg_assert_output "$out" 'sent=500 answered=500 .* bad=0 duplicates_sent=100 ' \
    "duplicates: 500 requests, 100 of them sent twice, no second reply"
r=$(rg_fake_backend_report dup)
[ "$(rg_report_value "$r" requests)" = 500 ] && rg_pass "duplicates: backend saw 500" ||
    rg_fail "duplicates: backend saw $(rg_report_value "$r" requests), expected 500"
sleep 1.2
v=$(rg_stats_last "$GW_LOG" duplicates)
[ "$v" = 100 ] && rg_pass "duplicates: gateway counted duplicates=100" ||
    rg_fail "duplicates: gateway counted duplicates=$v, expected 100"
v=$(rg_stats_last "$GW_LOG" forwarded)
[ "$v" = 500 ] && rg_pass "duplicates: forwarded=500" || rg_fail "duplicates: forwarded=$v"
rg_stop dup-gw || rg_fail "dup-gw exit status $?"
# Duplicate lines are rate-limited (RG_LOG_BURST per second): what a window suppressed is
# reported by main's flush timer or at stop, so lines + suppressed counts add up to 100.
logged=$(grep -c 'event=request_duplicate ' "$GW_LOG")
suppressed=$(grep -o 'event=log_suppressed count=[0-9]* key=ap-duplicate' "$GW_LOG" |
    sed 's/.*count=\([0-9]*\).*/\1/' | awk '{s += $1} END {print s + 0}')
[ "$suppressed" -gt 0 ] && [ $((logged + suppressed)) = 100 ] &&
    rg_pass "duplicates: $logged lines + $suppressed suppressed = 100 reported" ||
    rg_fail "duplicates: $logged lines + $suppressed suppressed, expected 100 in all"

# --- backpressure
rg_fake_backend_start bp "$FB_SEC" accept --delay-ms 1000
rg_gateway_conf "$RG_TMP/bp.conf" --workers 1 --timeout 3 --retries 1 --max-outstanding 256 \
    --backend "127.0.0.1:$FB_PORT_bp:$FB_PORT_bp:$FB_SEC" --stats-interval 1 \
    --log-level info --log-requests false
rg_gateway_start "$RG_TMP/bp.conf" bp-gw
out=$(rg_load --connections 4 --inflight 800 --requests 800 --timeout 30 2>&1)
st=$?
echo "radsec_load: $out" >&2
[ "$st" = 0 ] && rg_pass "backpressure: radsec_load exit 0" ||
    rg_fail "backpressure: radsec_load exit $st"
rg_assert_output "$out" 'sent=800 answered=800 accept=800 .*timeouts=0 .*bad=0 ' \
    "backpressure: all 800 answered"
r=$(rg_fake_backend_report bp)
for kv in requests=800 duplicates=0; do
    v=$(rg_report_value "$r" "${kv%%=*}")
    [ "$v" = "${kv#*=}" ] && rg_pass "backpressure: backend $kv" ||
        rg_fail "backpressure: backend ${kv%%=*}=$v, expected $kv"
done
sleep 1.2
v=$(rg_stats_last "$GW_LOG" backpressure)
[ "$v" -gt 0 ] && rg_pass "backpressure: stats backpressure=$v" ||
    rg_fail "backpressure: stats backpressure=0"
v=$(rg_stats_max "$GW_LOG" outstanding)
[ "$v" -le 256 ] && rg_pass "backpressure: never more than 256 outstanding ($v)" ||
    rg_fail "backpressure: outstanding=$v > max-outstanding 256"
for k in timeouts retransmits drop_no_server drop_bad_request; do
    v=$(rg_stats_last "$GW_LOG" "$k")
    [ "$v" = 0 ] && rg_pass "backpressure: $k=0" || rg_fail "backpressure: $k=$v"
done
rg_alive bp-gw && rg_pass "bp-gw still running" || rg_fail "bp-gw died"
rg_stop bp-gw
st=$?
[ "$st" = 0 ] && rg_pass "bp-gw exits 0 on SIGTERM" || rg_fail "bp-gw exit status $st"
rg_finish
