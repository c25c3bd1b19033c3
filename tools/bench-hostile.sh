#!/usr/bin/env bash
# Benchmark: the combined attack of issue 15 against one worker, and against radsecproxy
# (Debian) in the same run. A legitimate AP already connected sends a paced load through the
# whole attack; another connects in the middle of it. Attack (tools/radsec_hostile.py, every
# connection from its own 127.x address): HALF_OPEN half-open connections opened at
# OPEN_RATE/s, SLOW slowloris TLS connections (a ClientHello dribbled one octet per 5 s),
# FLOOD authenticated peers pipelining Accounting-Requests as fast as TCP lets them and never
# reading, GARBAGE garbage senders; all held for HOLD seconds. Measured: the legitimate AP's
# answers and p50/p99/max latency, the newcomer's time to its first answer (handshake
# included), RSS before the attack and once every attacker is connected, the number of log
# lines at log-level info (by event, on stderr), and the time to stop on SIGTERM. The
# attacker runs at nice ATTACK_NICE: on the shared 2-core machine it would otherwise take
# the CPU the legitimate AP, the backend and the server under test need (real attackers
# bring their own). Not a test: prints a Markdown table for docs/benchmarks.md. Run under
# the shared lock:
#
#   flock /tmp/rg-heavy.lock env RG_BUILD_DIR=$PWD/build-release tools/bench-hostile.sh
# Environment: HALF_OPEN (5000), SLOW (500), FLOOD (20), GARBAGE (1000), OPEN_RATE (2000),
# HOLD (40), LEGIT_RATE (200 requests/s), ATTACK_NICE (10), SKIP_RSP=1 skips radsecproxy,
# PERF=FILE records the gateway (perf record -g) from all-open to the end of the attack.
set -uo pipefail
source "$(dirname "$0")/../test/integration/lib.sh"
rg_tmpdir >/dev/null
rg_pki
HALF_OPEN=${HALF_OPEN:-5000}
SLOW=${SLOW:-500}
FLOOD=${FLOOD:-20}
GARBAGE=${GARBAGE:-1000}
OPEN_RATE=${OPEN_RATE:-2000}
HOLD=${HOLD:-40}
LEGIT_RATE=${LEGIT_RATE:-200}
ATTACK_NICE=${ATTACK_NICE:-10}
FB_SEC=bench-backend-secret-0123456789
rg_need_build radsecgw radsec_load radsec_client fake_backend
ulimit -n "$(ulimit -Hn)"

echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "attack: $HALF_OPEN half-open at $OPEN_RATE/s, $SLOW slowloris TLS, $FLOOD non-reading" \
    "flooders, $GARBAGE garbage senders, held ${HOLD}s; legitimate AP at $LEGIT_RATE requests/s"

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# attack NAME PORT PID LOG: one row of the table.
attack() {
    local name=$1 port=$2 pid=$3 log=$4 before after legit newcomer t0 t1 lines stop out
    local dur=$((HOLD + 4))
    # Paced, with room for 64 in flight: with 4, a 45 ms latency capped it at 4 / 45 ms =
    # 89 requests/s, so a slow server under test was also sent fewer requests (about half of
    # LEGIT_RATE in two runs of the last session) and looked better than it was.
    GW_PORT=$port rg_load --connections 1 --inflight 64 --rate "$LEGIT_RATE" --duration "$dur" \
        --requests 10000000 --type mix --timeout 5 --allow-loss \
        --latency-log "$RG_TMP/$name-latency.txt" >"$RG_TMP/$name-legit.out" 2>&1 &
    legit=$!
    sleep 2
    before=$(rss "$pid")
    lines=$(wc -l <"$log")
    nice -n "$ATTACK_NICE" python3 "$RG_SOURCE_DIR/tools/radsec_hostile.py" --port "$port" --ca "$RG_PKI_SERVER_CA" \
        --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --duration "$HOLD" \
        --open-rate "$OPEN_RATE" --dribble 5 --half-open "$HALF_OPEN" --partial-hello "$SLOW" \
        --flood "$FLOOD" --garbage "$GARBAGE" >"$RG_TMP/$name-hostile.out" 2>&1 &
    local hostile=$!
    # RSS once everything is connected (the tool says when the last one was opened).
    for ((i = 0; i < 200; i++)); do
        grep -q '^all-open' "$RG_TMP/$name-hostile.out" 2>/dev/null && break
        sleep 0.1
    done
    sleep 2
    after=$(rss "$pid")
    local perf=
    if [ -n "${PERF:-}" ] && [ "$name" = radsecgw ]; then
        perf record -g -o "$PERF" -p "$pid" >"$RG_TMP/perf.out" 2>&1 &
        perf=$!
    fi
    t0=$(date +%s.%N)
    GW_PORT=$port rg_client --timeout 10 auth alice wonderland >"$RG_TMP/$name-new.out" 2>&1
    t1=$(date +%s.%N)
    if grep -q '^Access-' "$RG_TMP/$name-new.out"; then
        newcomer=$(printf '%.2f s' "$(echo "$t1 - $t0" | bc)")
    else
        newcomer="failed: $(head -c 60 "$RG_TMP/$name-new.out")"
    fi
    wait "$hostile"
    [ -n "$perf" ] && kill -INT "$perf" && wait "$perf"
    wait "$legit"
    out=$(tail -n1 "$RG_TMP/$name-legit.out")
    echo "  $name legitimate AP: sent $(rg_kv "$out" sent) of $((LEGIT_RATE * dur)) paced" \
        "(max in flight $(rg_kv "$out" max_inflight))" >&2
    # Where the tail is: answers over 25 ms per second of the legitimate AP's run (the
    # attack starts at 2 s).
    echo "  $name answers over 25 ms by second (s:count): $(awk '$2 > 25 {n[int($1)]++}
        END {for (t in n) printf "%d:%d\n", t, n[t]}' "$RG_TMP/$name-latency.txt" |
        sort -n | tr '\n' ' ')" >&2
    echo "  $name log lines by event:" >&2
    tail -n +$((lines + 1)) "$log" | grep -oE 'event=[a-z_]+' | sort | uniq -c | sort -rn |
        sed 's/^/    /' >&2
    lines=$(($(wc -l <"$log") - lines))
    t0=$(date +%s.%N)
    kill -TERM "$pid"
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    stop=$(printf '%.2f s' "$(echo "$(date +%s.%N) - $t0" | bc)")
    printf '| %s | %s/%s | %s | %s | %s | %s | %s MB -> %s MB (+%s MB) | %s | %s |\n' "$name" \
        "$(rg_kv "$out" answered)" "$(rg_kv "$out" sent)" "$(rg_kv "$out" p50_ms)" \
        "$(rg_kv "$out" p99_ms)" "$(rg_kv "$out" max_ms)" "$newcomer" $((before / 1024)) \
        $((after / 1024)) $(((after - before) / 1024)) "$lines" "$stop"
    sed 's/^/    /' "$RG_TMP/$name-hostile.out" >&2
}

echo
echo "| server | legit answered/sent | p50 ms | p99 ms | max ms | newcomer answered after | RSS before -> all attackers connected | log lines | stop on SIGTERM |"
echo "|---|---|---|---|---|---|---|---|---|"

rg_fake_backend_start fb "$FB_SEC" accept --password wonderland
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 1 --timeout 2 --log-level info --log-requests false --handshake-timeout 10
RG_GW_DEBUG=0 rg_gateway_start "$RG_TMP/gw.conf" gw
attack radsecgw "$GW_PORT" "$(rg_pid gw)" "$GW_LOG"

if [ "${SKIP_RSP:-0}" != 1 ] && command -v radsecproxy >/dev/null; then
    rg_radsecproxy_server_start "$FB_PORT_fb" "$FB_PORT_fb" "$FB_SEC"
    # The attackers come from all of 127.0.0.0/8: let radsecproxy take them as clients too.
    rg_stop radsecproxy-server
    sed -i '/^client aps {/,/^}/ s|^    host 127.0.0.1$|    host 127.0.0.0/8|' \
        "$RG_TMP/radsecproxy-server.conf"
    # radsecproxy's clients use the acme AP certificate with the default secret "radsec".
    rg_start radsecproxy-server radsecproxy -f -d 3 -c "$RG_TMP/radsecproxy-server.conf"
    rg_wait_port "$RSPS_PORT" tcp 10 radsecproxy-server || rg_die "radsecproxy did not start"
    attack radsecproxy "$RSPS_PORT" "$(rg_pid radsecproxy-server)" "$RG_TMP/radsecproxy-server.log"
fi
