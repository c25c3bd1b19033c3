#!/usr/bin/env bash
# CPU cost of radsecgw against radsecproxy (Debian) measured in the same run, as ratios
# (issue 14): the server process's user+system CPU time (/proc/PID/stat, every thread) for
#   - auth / acct: REQUESTS Access-Requests (PAP) or Accounting-Requests over 8 connections
#     x 32 in flight, scaled to 100k;
#   - hs13 / hs12: CONNS new connections (TLS 1.3, then TLS 1.2), one request each, over
#     CONNS (so a handshake figure includes that one request);
#   - quiet (QUIET=N, 0 skips): N connections x 1 in flight, REQUESTS requests, minus N
#     handshakes at the hs13 cost, scaled to 100k.
# Server certificate: ECDSA P-256 (the test PKI); client: RSA-2048 (ap-rsa). Backend:
# fake_backend answering at once. radsec_load and fake_backend run on the same CPUs.
# Not a test: prints a Markdown table for docs/benchmarks.md.
#   RG_BUILD_DIR=$PWD/build-release flock /tmp/rg-heavy.lock tools/bench-cpu.sh
# Environment: REQUESTS (default 50000), CONNS (default 300), QUIET (default 0), WORKERS
# (radsecgw workers, default 1), SKIP_RSP=1 skips radsecproxy.
set -uo pipefail
source "$(dirname "$0")/../test/integration/lib.sh"
rg_tmpdir >/dev/null
rg_pki
REQUESTS=${REQUESTS:-50000}
CONNS=${CONNS:-300}
QUIET=${QUIET:-0}
WORKERS=${WORKERS:-1}
FB_SEC=bench-backend-secret-0123456789
rg_need_build radsecgw radsec_load fake_backend
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure PID PORT ARGS...: CPU seconds PID spent while radsec_load ARGS ran against PORT;
# prints "SECONDS ANSWERED SENT".
measure() {
    local pid=$1 port=$2 t0 t1 out
    shift 2
    t0=$(cpu_ticks "$pid")
    out=$(GW_PORT=$port rg_load --timeout 10 --allow-loss "$@" 2>&1)
    t1=$(cpu_ticks "$pid")
    echo "$(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}')" \
        "$(rg_kv "$out" answered)" "$(rg_kv "$out" sent)"
}

# row NAME PID PORT: one table row.
row() {
    local name=$1 pid=$2 port=$3 a c h13 h12 q="-" lost=""
    # Warm-up: backend sockets, and the heap grown once for CONNS connections at a time
    # (otherwise the first handshake run pays for that growth: sysmalloc in the profile).
    measure "$pid" "$port" --connections 8 --inflight 64 --requests 2000 >/dev/null
    measure "$pid" "$port" --connections "$CONNS" --inflight "$CONNS" --requests "$CONNS" >/dev/null
    read -r a aa as < <(measure "$pid" "$port" --connections 8 --inflight 256 \
        --requests "$REQUESTS" --type auth)
    read -r c ca cs < <(measure "$pid" "$port" --connections 8 --inflight 256 \
        --requests "$REQUESTS" --type acct)
    read -r h13 ha hs < <(measure "$pid" "$port" --connections "$CONNS" --inflight "$CONNS" \
        --requests "$CONNS" --tls 1.3)
    read -r h12 hb hc < <(measure "$pid" "$port" --connections "$CONNS" --inflight "$CONNS" \
        --requests "$CONNS" --tls 1.2)
    [ "$aa" = "$as" ] || lost+=" auth $aa/$as"
    [ "$ca" = "$cs" ] || lost+=" acct $ca/$cs"
    [ "$ha" = "$hs" ] || lost+=" hs13 $ha/$hs"
    [ "$hb" = "$hc" ] || lost+=" hs12 $hb/$hc"
    if [ "$QUIET" -gt 0 ]; then
        read -r qs qa qn < <(measure "$pid" "$port" --connections "$QUIET" --inflight "$QUIET" \
            --requests "$REQUESTS")
        [ "$qa" = "$qn" ] || lost+=" quiet $qa/$qn"
        q=$(awk -v s="$qs" -v h="$h13" -v c="$CONNS" -v n="$QUIET" -v r="$REQUESTS" \
            'BEGIN {printf "%.2f", (s - h / c * n) * 100000 / r}')
    fi
    printf '| %s | %s | %s | %s | %s | %s |%s\n' "$name" \
        "$(awk -v s="$a" -v r="$REQUESTS" 'BEGIN {printf "%.2f", s * 100000 / r}')" \
        "$(awk -v s="$c" -v r="$REQUESTS" 'BEGIN {printf "%.2f", s * 100000 / r}')" \
        "$(awk -v s="$h13" -v n="$CONNS" 'BEGIN {printf "%.2f", s * 1000 / n}')" \
        "$(awk -v s="$h12" -v n="$CONNS" 'BEGIN {printf "%.2f", s * 1000 / n}')" "$q" \
        "${lost:+ (answered/sent:$lost)}"
}

echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "radsecgw workers=$WORKERS; $REQUESTS requests per load, $CONNS handshakes per version"
echo
echo "| server | CPU s / 100k auth (8x32) | CPU s / 100k acct (8x32) | CPU ms / handshake TLS 1.3 | CPU ms / handshake TLS 1.2 | CPU s / 100k, ${QUIET}x1 |"
echo "|---|---|---|---|---|---|"

rg_fake_backend_start fb "$FB_SEC" accept
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers "$WORKERS" --max-outstanding 32768 --max-conn-per-ip $((CONNS + QUIET + 100)) \
    --max-handshakes-per-ip 4096 --timeout 10 --log-level notice --log-requests false
rg_gateway_start "$RG_TMP/gw.conf"
row radsecgw "$(rg_pid radsecgw)" "$GW_PORT"
rg_stop radsecgw

if [ "${SKIP_RSP:-0}" != 1 ] && command -v radsecproxy >/dev/null; then
    rg_radsecproxy_bench_start "$FB_PORT_fb" "$FB_SEC"
    row "radsecproxy $(radsecproxy -v 2>&1 | grep -oE '[0-9]+\.[0-9.]+' | head -n1)" \
        "$(rg_pid radsecproxy)" "$RSPS_PORT"
fi
