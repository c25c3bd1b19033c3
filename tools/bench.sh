#!/usr/bin/env bash
# Benchmark: radsec_load -> radsecgw -> fake_backend over loopback at a few concurrency levels
# (requests/second, p50/p99 latency), the gateway's memory with 20,000 requests held in
# flight (VmRSS / VmHWM from /proc), and the same loads through radsecproxy (Debian) as the
# RadSec server in front of the same fake backend. Not a test: prints a Markdown table for
# docs/benchmarks.md. Uses test/integration/lib.sh for processes, PKI and configs.
#
#   cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release && cmake --build build-release -j
#   RG_BUILD_DIR=$PWD/build-release tools/bench.sh
# Environment: WORKERS (radsecgw workers, default 1), REQUESTS (per level, default 60000),
# LEVELS ("CONNxINFLIGHT ...", default "1x1 10x10 20x100 40x250 80x250"), SKIP_RSP=1 skips
# radsecproxy, SKIP_MEM=1 the 20,000-in-flight memory run, REPEAT (default 1) runs each level
# that many times in a row, one table row each and then a row of the medians (requests/s, p50,
# p99; the p99 of one short run is decided by the machine's noise, issue 14). For a p99 over
# 10 s at ~50k req/s: REQUESTS=500000 REPEAT=5 LEVELS=8x32 WORKERS=2.
set -uo pipefail
source "$(dirname "$0")/../test/integration/lib.sh"
rg_tmpdir >/dev/null
rg_pki
WORKERS=${WORKERS:-1}
REQUESTS=${REQUESTS:-60000}
REPEAT=${REPEAT:-1}
LEVELS=${LEVELS:-"1x1 10x10 20x100 40x250 80x250"}
FB_SEC=bench-backend-secret-0123456789
rg_need_build radsecgw radsec_load fake_backend

echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "kernel: $(uname -r); radsecgw workers=$WORKERS; $REQUESTS requests per level"

# peak_rss PID OUTFILE: sample VmRSS every 100 ms until PID exits or OUTFILE.stop appears;
# writes the largest (kB).
peak_rss() {
    local pid=$1 out=$2 max=0 v
    while kill -0 "$pid" 2>/dev/null && [ ! -e "$out.stop" ]; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        [ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v
        sleep 0.1
    done
    echo "$max" >"$out"
}

# median V...: the median of the numbers given (the lower middle one for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# run_levels NAME PORT: radsec_load at each level against 127.0.0.1:PORT, REPEAT table rows
# each (and a row of medians when REPEAT > 1).
run_levels() {
    local name=$1 port=$2 lvl c n out r rps p50 p99
    for lvl in $LEVELS; do
        c=${lvl%x*}
        n=${lvl#*x}
        rps=() p50=() p99=()
        for ((r = 1; r <= REPEAT; r++)); do
            out=$(GW_PORT=$port rg_load --connections "$c" --inflight $((c * n)) \
                --requests "$REQUESTS" --duration 30 --timeout 5 --type mix --allow-loss 2>/dev/null)
            rps+=("$(rg_kv "$out" rps)") p50+=("$(rg_kv "$out" p50_ms)") p99+=("$(rg_kv "$out" p99_ms)")
            printf '| %s | %s x %s = %s | %s | %s | %s | %s | %s |\n' "$name" "$c" "$n" $((c * n)) \
                "$(rg_kv "$out" rps)" "$(rg_kv "$out" p50_ms)" "$(rg_kv "$out" p99_ms)" \
                "$(rg_kv "$out" answered)/$(rg_kv "$out" sent)" "$(rg_kv "$out" timeouts)"
        done
        [ "$REPEAT" -le 1 ] ||
            printf '| %s, median of %s | %s x %s = %s | %s | %s | %s | | |\n' "$name" "$REPEAT" \
                "$c" "$n" $((c * n)) "$(median "${rps[@]}")" "$(median "${p50[@]}")" \
                "$(median "${p99[@]}")"
    done
}

echo
echo "| server | connections x in flight | requests/s | p50 ms | p99 ms | answered/sent | timeouts |"
echo "|---|---|---|---|---|---|---|"

rg_fake_backend_start fb "$FB_SEC" accept
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers "$WORKERS" --max-outstanding 32768 --max-conn-per-ip 1000 --timeout 10 \
    --log-level notice --log-requests false
rg_gateway_start "$RG_TMP/gw.conf"
GW_PID=$(rg_pid radsecgw)
idle_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$GW_PID/status")
run_levels radsecgw "$GW_PORT"
GW_BENCH_PORT=$GW_PORT

if [ "${SKIP_RSP:-0}" != 1 ] && command -v radsecproxy >/dev/null; then
    rg_radsecproxy_bench_start "$FB_PORT_fb" "$FB_SEC"
    run_levels "radsecproxy $(radsecproxy -v 2>&1 | grep -oE '[0-9]+\.[0-9.]+' | head -n1)" \
        "$RSPS_PORT"
fi

[ "${SKIP_MEM:-0}" != 1 ] || exit 0

# Memory with 20,000 held in flight: a backend that answers after 3 s.
rg_fake_backend_start slow "$FB_SEC" accept --delay-ms 3000
rg_gateway_conf "$RG_TMP/gw-slow.conf" --backend "127.0.0.1:$FB_PORT_slow:$FB_PORT_slow:$FB_SEC" \
    --workers "$WORKERS" --max-outstanding 32768 --max-conn-per-ip 1000 --timeout 10 \
    --log-level notice --log-requests false
rg_gateway_start "$RG_TMP/gw-slow.conf" radsecgw-slow
SLOW_PID=$(rg_pid radsecgw-slow)
slow_idle=$(awk '/^VmRSS:/ {print $2}' "/proc/$SLOW_PID/status")
peak_rss "$SLOW_PID" "$RG_TMP/peak" &
sampler=$!
out=$(rg_load --connections 80 --inflight 20000 --requests 20000 --timeout 30 2>/dev/null)
touch "$RG_TMP/peak.stop"
wait "$sampler"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SLOW_PID/status")
echo
echo "20,000 in flight (backend holds each 3 s): $(rg_kv "$out" answered)/$(rg_kv "$out" sent)" \
    "answered, max_inflight=$(rg_kv "$out" max_inflight), p50 $(rg_kv "$out" p50_ms) ms"
echo "radsecgw RSS: idle $slow_idle kB, peak VmRSS $(cat "$RG_TMP/peak") kB, VmHWM $hwm kB" \
    "(after the fast runs above: VmRSS $(awk '/^VmRSS:/ {print $2}' "/proc/$GW_PID/status") kB," \
    "idle at start $idle_rss kB)"
: "$GW_BENCH_PORT"
