#!/usr/bin/env bash
# Issue #4: failover under steady load. Two fake_backends in a failover pool (timeout = 1,
# retries = 1, status-server = true); radsec_load paces requests over 20 connections for
# ~10 s. The primary is stopped midway (its UDP port closes, so the kernel answers with ICMP
# port unreachable): every request is still answered, by the secondary; the gateway logs the
# primary dead. The primary comes back on the same port: the gateway's Status-Server probe
# is answered, it logs it alive again and traffic returns to it. RG_TEST_WORKERS=2 runs
# the same with two workers (test_failover_primary_killed_workers2.sh).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
WORKERS=${RG_TEST_WORKERS:-1}
FB_SEC=failover-backend-secret-$RANDOM$RANDOM

rg_fake_backend_start primary "$FB_SEC" accept
rg_fake_backend_start secondary "$FB_SEC" accept
P1=$FB_PORT_primary
P2=$FB_PORT_secondary
rg_gateway_conf "$RG_TMP/gw.conf" --workers "$WORKERS" --timeout 1 --retries 1 \
    --status-server true --backend "127.0.0.1:$P1:$P1:$FB_SEC" \
    --backend "127.0.0.1:$P2:$P2:$FB_SEC" --stats-interval 1 --log-level info \
    --log-requests false
rg_gateway_start "$RG_TMP/gw.conf"

rg_load --connections 20 --inflight 200 --rate 400 --duration 10 --requests 1000000 \
    --type mix --timeout 15 >"$RG_TMP/load.out" 2>"$RG_TMP/load.err" &
LOAD_PID=$!

sleep 3
before=$(rg_fake_backend_report primary)
rg_stop primary
rg_log "primary stopped after $(rg_report_value "$before" requests) requests"
rg_wait_log "$GW_LOG" 'event=backend_down backend=b1 pool=corp ' 10 radsecgw &&
    rg_pass "gateway marks the primary dead" || rg_fail "gateway never marked the primary dead"
sleep 1
# The primary comes back on the same port.
rg_start primary2 "$(rg_bin fake_backend)" --port "$P1" --secret "$FB_SEC" --mode accept \
    --report "$RG_TMP/primary2.report"
rg_wait_log "$RG_TMP/primary2.log" '^ready' 10 primary2 || rg_die "primary did not restart"
rg_wait_log "$GW_LOG" 'event=backend_up backend=b1 pool=corp reason="answered Status-Server"' 10 \
    radsecgw && rg_pass "gateway marks the primary alive again after Status-Server" ||
    rg_fail "gateway never marked the primary alive again"

wait "$LOAD_PID"
st=$?
out=$(cat "$RG_TMP/load.out")
echo "radsec_load: $out" >&2
[ "$st" = 0 ] && rg_pass "radsec_load exit 0 (every request answered and verified)" || {
    rg_fail "radsec_load exit $st"
    tail -n 20 "$RG_TMP/load.err" >&2
}
sent=$(rg_kv "$out" sent)
[ "$sent" -ge 2000 ] && rg_pass "load: $sent requests sent" || rg_fail "load: only $sent sent"
for k in timeouts lost bad late conn_failed; do
    v=$(rg_kv "$out" "$k")
    [ "$v" = 0 ] && rg_pass "load: $k=0" || rg_fail "load: $k=$v, expected 0"
done
[ "$(rg_kv "$out" answered)" = "$sent" ] && rg_pass "load: answered = sent = $sent" ||
    rg_fail "load: answered=$(rg_kv "$out" answered) sent=$sent"

r2=$(rg_fake_backend_report secondary)
r1b=$(rg_fake_backend_report primary2)
n2=$(rg_report_value "$r2" requests)
[ "$n2" -gt 0 ] && rg_pass "secondary answered $n2 requests" || rg_fail "secondary got nothing"
ss=$(rg_report_value "$r1b" status_server)
[ "$ss" -ge 1 ] && rg_pass "restarted primary got $ss Status-Server probe(s)" ||
    rg_fail "restarted primary got no Status-Server"
back=$(($(rg_report_value "$r1b" access_request) + $(rg_report_value "$r1b" accounting_request)))
[ "$back" -gt 0 ] && rg_pass "traffic returned to the primary ($back requests)" ||
    rg_fail "no request reached the restarted primary"
for r in "$r2" "$r1b"; do
    [ "$(rg_report_value "$r" bad)" = 0 ] || rg_fail "a backend saw bad requests: $r"
done
sleep 1.5
v=$(rg_stats_last "$GW_LOG" failovers)
[ "$v" -gt 0 ] && rg_pass "gateway stats: failovers=$v" || rg_fail "gateway stats: failovers=0"
v=$(rg_stats_last "$GW_LOG" timeouts)
[ "$v" = 0 ] && rg_pass "gateway stats: timeouts=0" || rg_fail "gateway stats: timeouts=$v"

# Still serving after the ICMP errors of the closed port.
rg_load --connections 1 --inflight 10 --requests 100 >"$RG_TMP/after.out" 2>&1 &&
    rg_pass "gateway serves after the failover" || rg_fail "gateway broken: $(cat "$RG_TMP/after.out")"
rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_stop radsecgw
st=$?
[ "$st" = 0 ] && rg_pass "radsecgw exits 0 on SIGTERM" || rg_fail "radsecgw exit status $st"
rg_finish
