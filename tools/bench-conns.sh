#!/usr/bin/env bash
# Many idle connections in one process: RSS per idle TLS connection and per half-open TCP
# connection (never sends a byte), memory given back after a mass disconnect, how long the
# close storm takes, and the same idle hold through radsecproxy (Debian) in the same run.
# Connections come from source addresses spread over 127.2.0.0/16 (one address holds ~28k
# ports towards one server port). Not a test: prints Markdown rows for docs/benchmarks.md.
#
#   RG_BUILD_DIR=$PWD/build-release tools/bench-conns.sh
# Environment: CONNS (idle TLS connections, default 10000), HALF_OPEN (default CONNS),
# WORKERS (default 2), RATE (connections started per second, default 500), SKIP_RSP=1 skips
# radsecproxy, MALLOC_LIB (a shared library to LD_PRELOAD into radsecgw, e.g. jemalloc's, to
# compare allocators; default none: glibc).
# Every process here holds at most RLIMIT_NOFILE descriptors (the hard limit of the shell
# that runs it; raise it there for more than ~19,000 connections).
set -uo pipefail
source "$(dirname "$0")/../test/integration/lib.sh"
rg_tmpdir >/dev/null
rg_pki
CONNS=${CONNS:-10000}
HALF_OPEN=${HALF_OPEN:-$CONNS}
WORKERS=${WORKERS:-2}
RATE=${RATE:-500}
FB_SEC=bench-backend-secret-0123456789
rg_need_build radsecgw radsec_load fake_backend
ulimit -n "$(ulimit -Hn)"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
per_conn() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.1f", (b - a) / n}'; }

# hold NAME PORT PID: CONNS TLS connections to PORT held idle, then one request each, held
# idle again, then all closed at once. Sets hold_row (the table row); progress on stderr.
hold() {
    local name=$1 port=$2 pid=$3 before during idle after t0 t1 load out n
    # Warm up: first handshake allocations, backend sockets.
    GW_PORT=$port rg_load --connections 10 --inflight 10 --per-connection 1 --timeout 10 \
        >/dev/null 2>&1
    sleep 2
    before=$(rss_kb "$pid")
    rm -f "$RG_TMP/ready"
    # Not through rg_load (a function): $! must be radsec_load itself, for SIGUSR1.
    "$(rg_bin radsec_load)" --host 127.0.0.1 --port "$port" --ca "$RG_PKI_SERVER_CA" \
        --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --connections "$CONNS" \
        --inflight "$CONNS" --per-connection 1 --timeout 60 --hold --ready-file "$RG_TMP/ready" \
        --source 127.2.0.0/16 --connect-rate "$RATE" >"$RG_TMP/hold.out" 2>"$RG_TMP/hold.err" &
    load=$!
    rg_wait_file "$RG_TMP/ready" established= "$load"
    sleep 5 # handshakes finished: what stays is per-connection state
    during=$(rss_kb "$pid")
    echo "$name: $(cat "$RG_TMP/ready"), RSS $before -> $during kB" >&2
    kill -USR1 "$load"
    rg_wait_file "$RG_TMP/ready" answered= "$load"
    sleep 3
    idle=$(rss_kb "$pid")
    echo "$name: $(cat "$RG_TMP/ready"), RSS $idle kB" >&2
    kill -USR1 "$load"
    wait "$load"
    out=$(cat "$RG_TMP/hold.out")
    # radsec_load closes every connection at once: the close storm, until the server has no
    # established TCP connection on its port left.
    t0=$(date +%s.%N)
    while [ "$(ss -Htn state established state close-wait "( sport = :$port )" | wc -l)" -gt 0 ]; do
        sleep 0.1
        if [ "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print (b - a > 600)}')" = 1 ]; then
            echo "$name: connections still open after 600 s" >&2
            break
        fi
    done
    t1=$(date +%s.%N)
    sleep 3 # a health tick returns memory after a mass disconnect
    after=$(rss_kb "$pid")
    n=$(rg_kv "$out" established)
    hold_row=$(printf '| %s | %s | %s kB | %s kB | %s kB | %s kB | %s/%s | %s s | %s kB |' \
        "$name" "$n" "$before" "$(per_conn "$before" "$during" "$n")" "$idle" \
        "$(per_conn "$before" "$idle" "$n")" "$(rg_kv "$out" answered)" "$(rg_kv "$out" sent)" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" "$after")
}

# half_open PORT PID: HALF_OPEN TCP connections that never send a byte; prints kB each.
half_open() {
    local port=$1 pid=$2 before during
    before=$(rss_kb "$pid")
    python3 - "$port" "$HALF_OPEN" "$RG_TMP/half.ready" <<'EOF' &
import socket, sys, time, resource
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for i in range(n):
    s = socket.socket()
    s.bind(("127.3.%d.%d" % (1 + i // 250 % 250, 1 + i % 250), 0))
    s.connect(("127.0.0.1", port))
    socks.append(s)
open(ready, "w").write("%d\n" % len(socks))
time.sleep(3600)
EOF
    local py=$!
    while [ ! -s "$RG_TMP/half.ready" ] && kill -0 "$py" 2>/dev/null; do sleep 0.5; done
    sleep 3
    during=$(rss_kb "$pid")
    kill "$py" 2>/dev/null
    wait "$py" 2>/dev/null
    rm -f "$RG_TMP/half.ready"
    echo "half-open: $HALF_OPEN connections, RSS $before -> $during kB" >&2
    per_conn "$before" "$during" "$HALF_OPEN"
}

echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "kernel: $(uname -r); radsecgw workers=$WORKERS; $CONNS idle TLS connections (TLS 1.3," \
    "RSA-2048), $RATE new per second; RLIMIT_NOFILE $(ulimit -n)"

rg_fake_backend_start fb "$FB_SEC" accept
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers "$WORKERS" --timeout 10 --log-level notice --log-requests false \
    --handshake-timeout 60 --max-connections $((CONNS + HALF_OPEN + 100)) \
    --max-handshakes "$HALF_OPEN" --max-handshakes-per-ip 100000
if [ -n "${MALLOC_LIB:-}" ]; then
    LD_PRELOAD=$MALLOC_LIB rg_gateway_start "$RG_TMP/gw.conf"
else
    rg_gateway_start "$RG_TMP/gw.conf"
fi
GW_PID=$(rg_pid radsecgw)

echo
echo "| server | connections | VmRSS before | per connection (handshake only) | VmRSS idle after one request each | per idle connection | answered | close storm | VmRSS after the close |"
echo "|---|---|---|---|---|---|---|---|---|"
# Half-open first, on a heap that has not yet held (and freed) thousands of sessions.
ho=$(half_open "$GW_PORT" "$GW_PID")
hold "radsecgw${MALLOC_LIB:+ ($(basename "$MALLOC_LIB"))}" "$GW_PORT" "$GW_PID"
echo "$hold_row"

if [ "${SKIP_RSP:-0}" != 1 ] && command -v radsecproxy >/dev/null; then
    rg_radsecproxy_bench_start "$FB_PORT_fb" "$FB_SEC" 127.0.0.0/8
    hold "radsecproxy $(radsecproxy -v 2>&1 | grep -oE '[0-9]+\.[0-9.]+' | head -n1)" \
        "$RSPS_PORT" "$(rg_pid radsecproxy)"
    echo "$hold_row"
fi
echo
echo "radsecgw: $ho kB per half-open TCP connection ($HALF_OPEN held, no byte sent)"
