#!/usr/bin/env bash
# Issue #4: 20,000 requests really in flight at once through one gateway, none lost. One
# fake_backend holds every request for BACKEND_DELAY_MS before answering; radsec_load keeps
# 80 TLS connections x 250 requests in flight (20,000, the RADIUS ID of each connection is
# 8 bits). The gateway needs ceil(20000/256) = 79 UDP source ports towards the backend
# (max-outstanding = 32768 per server). Checked: every request answered once and verified by
# the client, the backend saw each request exactly once (no retransmission: its replies were
# not lost in a socket buffer), the gateway's stats line saw >= 15,000 outstanding, and it
# opened the extra source ports. RG_TEST_WORKERS=2 runs the same with two workers
# (test_load_20000_inflight_workers2.sh).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
WORKERS=${RG_TEST_WORKERS:-1}
BACKEND_DELAY_MS=8000
FB_SEC=load-backend-secret-$RANDOM$RANDOM

rg_fake_backend_start fb "$FB_SEC" accept --delay-ms "$BACKEND_DELAY_MS"
# timeout 20: a retransmission would mean a lost packet, not a slow server (the delay
# leaves room for a slow ramp-up on a loaded CI machine, under ASan too).
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers "$WORKERS" --max-outstanding 32768 --max-conn-per-ip 200 --timeout 20 \
    --retries 2 --stats-interval 1 --log-level info --log-requests false
rg_gateway_start "$RG_TMP/gw.conf"
GW_PID=$(rg_pid radsecgw)

rg_load --connections 80 --inflight 20000 --requests 20000 --timeout 30 \
    >"$RG_TMP/load.out" 2>"$RG_TMP/load.err" &
LOAD_PID=$!

# While the backend holds all of them: count the gateway's UDP sockets.
socks=0
if rg_wait_log "$GW_LOG" 'event=stats workers=.* outstanding=20000$' 30 radsecgw; then
    socks=$(ss -Huanp 2>/dev/null | grep -c "pid=$GW_PID,")
fi
wait "$LOAD_PID"
st=$?
out=$(cat "$RG_TMP/load.out")
echo "radsec_load: $out" >&2
[ "$st" = 0 ] && rg_pass "radsec_load exit 0" || {
    rg_fail "radsec_load exit $st"
    tail -n 20 "$RG_TMP/load.err" >&2
}
for kv in sent=20000 answered=20000 accept=20000 timeouts=0 lost=0 bad=0 conn_failed=0 \
    max_inflight=20000; do
    v=$(rg_kv "$out" "${kv%%=*}")
    [ "$v" = "${kv#*=}" ] && rg_pass "load: $kv" || rg_fail "load: ${kv%%=*}=$v, expected $kv"
done

report=$(rg_fake_backend_report fb)
for kv in requests=20000 duplicates=0 bad=0 replies=20000; do
    v=$(rg_report_value "$report" "${kv%%=*}")
    [ "$v" = "${kv#*=}" ] && rg_pass "backend: $kv" ||
        rg_fail "backend: ${kv%%=*}=$v, expected $kv"
done

# One more stats line after the last reply.
sleep 1.5
max_out=$(rg_stats_max "$GW_LOG" outstanding)
[ "$max_out" -ge 15000 ] && rg_pass "gateway stats saw outstanding=$max_out (>= 15000)" ||
    rg_fail "gateway stats: max outstanding=$max_out, expected >= 15000"
[ "$socks" -ge 79 ] && rg_pass "gateway had $socks UDP sockets while 20,000 were in flight" ||
    rg_fail "gateway had $socks UDP sockets in flight, expected >= 79 (one per 256 IDs)"
for k in requests replies forwarded; do
    v=$(rg_stats_last "$GW_LOG" "$k")
    [ "$v" = 20000 ] && rg_pass "gateway stats: $k=20000" || rg_fail "gateway stats: $k=$v"
done
for k in retransmits timeouts failovers duplicates backpressure drop_bad_reply \
    drop_unknown_reply drop_late_reply drop_no_server outstanding; do
    v=$(rg_stats_last "$GW_LOG" "$k")
    [ "$v" = 0 ] && rg_pass "gateway stats: $k=0" || rg_fail "gateway stats: $k=$v, expected 0"
done
rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_stop radsecgw
st=$?
[ "$st" = 0 ] && rg_pass "radsecgw exits 0 on SIGTERM" || rg_fail "radsecgw exit status $st"
rg_finish
