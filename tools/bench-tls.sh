#!/usr/bin/env bash
# What the wolfSSL build costs the gateway, measured on radsecgw itself (one worker, RSA-2048
# server and client certificates, TLS 1.3, radsec_load on loopback, fake_backend answering
# at once). Prints one Markdown table row for docs/benchmarks.md:
#   - RSS per idle connection: VmRSS with CONNS connections open (handshake done, one
#     request a second on each), minus VmRSS before them, over CONNS;
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

# Warm up (first handshake allocations, backend sockets). The hold comes first, while the
# heap has not yet grown for many connections at once (memory freed by an earlier run would
# be reused and hide the cost).
rg_load --connections 10 --inflight 10 --requests 10 --timeout 10 >/dev/null 2>&1
sleep 1

# RSS per idle connection: CONNS connections opened in batches of 25 (a new radsec_load
# every 0.2 s, so at most a few dozen handshakes are in progress at once and their
# transient buffers do not count as connection state), each connection sending one request
# a second for 10 s; RSS read 2 s after the last batch started, while all are open.
before=$(rss_kb "$GW")
loads=()
for ((i = 0; i < CONNS / 25; i++)); do
    rg_load --connections 25 --inflight 25 --requests 250 --rate 25 --timeout 10 \
        >"$RG_TMP/hold.$i.out" 2>&1 &
    loads+=($!)
    sleep 0.2
done
sleep 2
during=$(rss_kb "$GW")
for p in "${loads[@]}"; do wait "$p"; done
for ((i = 0; i < CONNS / 25; i++)); do
    out=$(cat "$RG_TMP/hold.$i.out")
    [ "$(rg_kv "$out" answered)" = 250 ] || rg_log "hold run $i: $out"
done
per_conn=$(awk -v a="$before" -v b="$during" -v n="$CONNS" 'BEGIN {printf "%.1f", (b - a) / n}')

# CPU per handshake: CONNS new connections, one request each.
t0=$(cpu_ticks "$GW")
out=$(rg_load --connections "$CONNS" --inflight "$CONNS" --requests "$CONNS" --timeout 30 2>&1)
t1=$(cpu_ticks "$GW")
hs_ms=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$CONNS" 'BEGIN {printf "%.2f", t * 1000 / hz / n}')
[ "$(rg_kv "$out" answered)" = "$CONNS" ] || rg_log "handshake run: $out"

# CPU per 100k requests: 10 connections, 100 in flight.
t0=$(cpu_ticks "$GW")
out=$(rg_load --connections 10 --inflight 100 --requests 100000 --timeout 10 2>&1)
t1=$(cpu_ticks "$GW")
req_s=$(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}')
[ "$(rg_kv "$out" answered)" = 100000 ] || rg_log "request run: $out"

printf '| %s | %s kB | %s kB | %s kB | %s ms | %s s |\n' "$NAME" "$before" "$during" \
    "$per_conn" "$hs_ms" "$req_s"
