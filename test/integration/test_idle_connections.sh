#!/usr/bin/env bash
# Issue 13: what an idle connection costs (the stats line's gauges, not RSS: memory figures
# are tools/bench-conns.sh's).
#  1. 100 TCP connections that never send a byte are held (in the handshake or waiting for a
#     slot) without a TLS session: tls_sessions=0.
#  2. 200 TLS connections, one per source address in 127.4.0.0/16 (like an estate of APs),
#     held idle: one TLS session each; after one verified request on every connection, while
#     they sit idle again, none of them holds a buffer (conn_buffers=0).
#  3. All 200 close at once: conn_open and tls_sessions are back to 0 within a few seconds.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=idle-backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 2 --stats-interval 1 --log-level info --log-requests false --handshake-timeout 60
rg_gateway_start "$RG_TMP/gw.conf"

# fresh_stats KEY...: wait for two stats lines newer than now (both workers' gauges have been
# sampled since), then print KEY=VALUE of the last one for each KEY.
fresh_stats() {
    local n k i
    n=$(grep -c "stats workers=" "$GW_LOG")
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c "stats workers=" "$GW_LOG")" -ge $((n + 2)) ] && break
        sleep 0.1
    done
    for k in "$@"; do printf '%s=%s ' "$k" "$(rg_stats_last "$GW_LOG" "$k")"; done
    echo
}

# ---- 1. silent TCP connections ----
python3 - "$GW_PORT" 100 "$RG_TMP/silent.ready" <<'EOF' &
import socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
open(ready, "w").write("%d\n" % len(socks))
time.sleep(120)
EOF
silent=$!
for ((i = 0; i < 100; i++)); do [ -s "$RG_TMP/silent.ready" ] && break; sleep 0.1; done
s=$(fresh_stats conn_handshaking conn_waiting tls_sessions)
echo "100 silent connections: $s" >&2
[ $(($(rg_kv "$s" conn_handshaking) + $(rg_kv "$s" conn_waiting))) = 100 ] &&
    rg_pass "100 silent connections held" || rg_fail "100 silent connections held: $s"
[ "$(rg_kv "$s" tls_sessions)" = 0 ] &&
    rg_pass "no TLS session for a connection that sent nothing" ||
    rg_fail "no TLS session for a connection that sent nothing: $s"
kill "$silent" 2>/dev/null
wait "$silent" 2>/dev/null

# ---- 2. 200 idle TLS connections, before and after one request each ----
"$(rg_bin radsec_load)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --connections 200 --inflight 200 \
    --per-connection 1 --timeout 20 --hold --ready-file "$RG_TMP/ready" \
    --source 127.4.0.0/16 --connect-rate 200 >"$RG_TMP/load.out" 2>"$RG_TMP/load.err" &
load=$!
wait_ready() {
    local i
    for ((i = 0; i < 600; i++)); do
        grep -qE "$1" "$RG_TMP/ready" 2>/dev/null && return 0
        kill -0 "$load" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
wait_ready 'established=200 failed=0' && rg_pass "200 connections from 200 addresses established" ||
    rg_fail "200 connections established: $(cat "$RG_TMP/ready" "$RG_TMP/load.err" 2>/dev/null)"
s=$(fresh_stats conn_open tls_sessions conn_buffers)
echo "200 idle TLS connections: $s" >&2
[ "$(rg_kv "$s" conn_open)" = 200 ] && [ "$(rg_kv "$s" tls_sessions)" = 200 ] &&
    rg_pass "one TLS session per open connection" || rg_fail "one TLS session per connection: $s"
kill -USR1 "$load"
wait_ready 'answered=200 sent=200' && rg_pass "one request on each of the 200 answered" ||
    rg_fail "one request on each answered: $(cat "$RG_TMP/ready" "$RG_TMP/load.err" 2>/dev/null)"
s=$(fresh_stats conn_open tls_sessions conn_buffers requests)
echo "200 idle TLS connections after one request each: $s" >&2
[ "$(rg_kv "$s" conn_open)" = 200 ] && [ "$(rg_kv "$s" conn_buffers)" = 0 ] &&
    rg_pass "idle connections hold no buffer after their request" ||
    rg_fail "idle connections hold no buffer after their request: $s"

# ---- 3. all close at once ----
kill -USR1 "$load"
wait "$load"
out=$(cat "$RG_TMP/load.out")
echo "radsec_load: $out" >&2
rg_assert_output "$out" 'answered=200 .*bad=0 ' "every reply verified"
s=$(fresh_stats conn_open tls_sessions conn_closed)
for ((i = 0; i < 10 && $(rg_kv "$s" conn_open) != 0; i++)); do
    s=$(fresh_stats conn_open tls_sessions conn_closed)
done
echo "after the close: $s" >&2
[ "$(rg_kv "$s" conn_open)" = 0 ] && [ "$(rg_kv "$s" tls_sessions)" = 0 ] &&
    rg_pass "200 connections closed at once: no connection or TLS session left" ||
    rg_fail "200 connections closed at once: $s"
rg_finish
