#!/usr/bin/env bash
# What the wolfSSL build costs the gateway, measured on radsecgw itself (one worker, RSA-2048
# server and client certificates, TLS 1.3, radsec_load on loopback, fake_backend answering
# at once). Prints one Markdown table row for docs/benchmarks.md:
#   - RSS per idle connection: VmRSS with CONNS connections open (each has done its
#     handshake and at least one request), minus VmRSS before them, over CONNS;
#   - CPU per handshake: the gateway's user+system CPU time for CONNS new connections
#     doing one request each, over CONNS (so it includes that one request);
#   - CPU per 100k requests: 100,000 requests over 10 connections, 100 in flight.
# Not a test. Run it once per build tree and compare:
#   RG_BUILD_DIR=$PWD/build tools/bench-tls.sh             # tailored wolfSSL (default)
#   RG_BUILD_DIR=$PWD/build-system tools/bench-tls.sh      # -DRG_WOLFSSL=system
# Environment: CONNS (default 500), NAME (the row's label; default from radsecgw -V).
set -uo pipefail
source "$(dirname "$0")/../test/integration/lib.sh"
rg_tmpdir >/dev/null
rg_pki
CONNS=${CONNS:-500}
FB_SEC=bench-backend-secret-0123456789
rg_need_build radsecgw radsec_load fake_backend
NAME=${NAME:-$("$(rg_bin radsecgw)" -V | sed -n 's/^wolfSSL source: //p' | cut -d, -f1)}

cpu_ticks() { # utime + stime of PID, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

rg_fake_backend_start fb "$FB_SEC" accept
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 1 --max-outstanding 32768 --max-conn-per-ip $((CONNS + 100)) --timeout 10 \
    --log-level notice --log-requests false
rg_gateway_start "$RG_TMP/gw.conf"
GW=$(rg_pid radsecgw)
hz=$(getconf CLK_TCK)

# Warm up (first handshake allocations, backend sockets), then the handshake run.
rg_load --connections 10 --inflight 10 --requests 10 --timeout 10 >/dev/null 2>&1
t0=$(cpu_ticks "$GW")
out=$(rg_load --connections "$CONNS" --inflight "$CONNS" --requests "$CONNS" --timeout 30 2>&1)
t1=$(cpu_ticks "$GW")
hs_ms=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$CONNS" 'BEGIN {printf "%.2f", t * 1000 / hz / n}')
[ "$(rg_kv "$out" answered)" = "$CONNS" ] || rg_log "handshake run: $out"

# CPU per 100k requests.
t0=$(cpu_ticks "$GW")
out=$(rg_load --connections 10 --inflight 100 --requests 100000 --timeout 10 2>&1)
t1=$(cpu_ticks "$GW")
req_s=$(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}')
[ "$(rg_kv "$out" answered)" = 100000 ] || rg_log "request run: $out"

# RSS per idle connection: CONNS connections held open for 8 s, CONNS/2 requests a second
# spread over them (each connection answers one every 2 s or so), RSS read at 7 s: every
# handshake is done by then and the connections sit between requests.
sleep 1
before=$(rss_kb "$GW")
rg_load --connections "$CONNS" --inflight "$CONNS" --requests $((CONNS * 4)) \
    --rate $((CONNS / 2)) --timeout 10 >"$RG_TMP/hold.out" 2>&1 &
load=$!
sleep 7
during=$(rss_kb "$GW")
wait "$load"
out=$(cat "$RG_TMP/hold.out")
[ "$(rg_kv "$out" answered)" = $((CONNS * 4)) ] || rg_log "hold run: $out"
per_conn=$(awk -v a="$before" -v b="$during" -v n="$CONNS" 'BEGIN {printf "%.1f", (b - a) / n}')

printf '| %s | %s kB | %s kB | %s kB | %s ms | %s s |\n' "$NAME" "$before" "$during" \
    "$per_conn" "$hs_ms" "$req_s"
