#!/usr/bin/env bash
# CPU cost of radsecgw against radsecproxy (Debian) measured in the same run, as ratios
# (issue 14): the server process's user+system CPU time (/proc/PID/stat, every thread) for
#   - auth / acct: REQUESTS Access-Requests (PAP) or Accounting-Requests over 8 connections
#     x 32 in flight, scaled to 100k;
#   - hs13 / hs12: CONNS new connections (TLS 1.3, then TLS 1.2), one request each, over
#     CONNS (so a handshake figure includes that one request);
#   - quiet (QUIET=N, 0 skips): N connections (source addresses spread over 127.2.0.0/16,
#     500 new per second) established and held first, then REQUESTS requests with one in
#     flight on each; only the requests are counted (between the handshakes and the close),
#     scaled to 100k.
# Server certificate: ECDSA P-256 (the test PKI) or, with SERVER_KEY=rsa, an RSA-2048 one from
# the same CA; client: RSA-2048 (ap-rsa). Backend: fake_backend answering at once.
# radsec_load and fake_backend run on the same CPUs.
# Not a test: prints Markdown tables for docs/benchmarks.md (the second: the kernel part of
# the request figures, system time, with the share of the total).
#   RG_BUILD_DIR=$PWD/build-release flock /tmp/rg-heavy.lock tools/bench-cpu.sh
# Environment: REQUESTS (default 50000), CONNS (default 300), QUIET (default 0), WORKERS
# (radsecgw workers, a list: one radsecgw row each, default 1), SERVER_KEY (ec or rsa, default
# ec), KEX_GROUPS (radsec_load --groups for the handshake loads, e.g. x25519,p256; default
# wolfSSL's: a P-256 key share), GW_CIPHERS (radsecgw's tls ciphers, e.g.
# ECDHE-ECDSA-CHACHA20-POLY1305:TLS13-CHACHA20-POLY1305-SHA256; default the built-in list),
# SKIP_RSP=1 skips radsecproxy, SKIP_HS=1 the handshake loads, PERF_STAT=1 adds a table of syscalls and context switches
# per request over the auth load (or PERF_LOAD's; perf stat on the server process, every thread);
# PERF_RECORD=DIR instead keeps a profile of the auth load (perf record -g, 2 kHz) as
# DIR/perf-PID.data, PID the server's (printed in the "started" lines); PERF_LOAD=acct points
# either at the accounting load instead (default auth). GW_CPUS and
# LOAD_CPUS (taskset lists, e.g. 0 and 1) pin the server (every thread) and everything else
# (this script, radsec_load, fake_backend): the server's CPU share the same for every row.
# WORKER_CPUS (a list, e.g. "0 1") pins radsecgw's worker N (thread radsecgw-wN) to its Nth
# CPU, after GW_CPUS.
set -uo pipefail
source "$(dirname "$0")/../test/integration/lib.sh"
rg_tmpdir >/dev/null
rg_pki
REQUESTS=${REQUESTS:-50000}
CONNS=${CONNS:-300}
QUIET=${QUIET:-0}
WORKERS=${WORKERS:-1}
SERVER_KEY=${SERVER_KEY:-ec}
KEX_GROUPS=${KEX_GROUPS:-}
GW_CIPHERS=${GW_CIPHERS:-}
PERF_LOAD=${PERF_LOAD:-auth}
case $PERF_LOAD in auth | acct | quiet) ;; *) rg_die "PERF_LOAD is auth, acct or quiet" ;; esac
FB_SEC=bench-backend-secret-0123456789
rg_need_build radsecgw radsec_load fake_backend
hz=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)"
hs_opts=()
[ -z "$KEX_GROUPS" ] || hs_opts=(--groups "$KEX_GROUPS")

if [ "$SERVER_KEY" = rsa ]; then
    # The same name and CA as server.pem, an RSA-2048 key: every client trusts it as it is.
    (
        cd "$RG_PKI" &&
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server-rsa.key \
                2>/dev/null &&
            openssl req -new -key server-rsa.key -subj "/O=radsecgw test/CN=radsecgw.test" \
                -out server-rsa.csr &&
            openssl ca -config ca/server-ca/ca.cnf -batch -notext -preserveDN \
                -extensions ext_server -in server-rsa.csr -out server-rsa.pem 2>/dev/null &&
            cat server-rsa.pem server-ca.pem >server-rsa-chain.pem
    ) || rg_die "could not issue the RSA server certificate"
    RG_PKI_SERVER_CHAIN=$RG_PKI/server-rsa-chain.pem
    RG_PKI_SERVER_KEY=$RG_PKI/server-rsa.key
elif [ "$SERVER_KEY" != ec ]; then
    rg_die "SERVER_KEY is ec or rsa"
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
# TCP segments sent on this machine (every process, loopback: each one both ways' work).
tcp_segs() { awk '$1 == "Tcp:" && $2 ~ /^[0-9]/ {print $12}' /proc/net/snmp; }
KERNEL_ROWS=()

# The syscalls counted with PERF_STAT=1 (the empty recvmmsg: one that returned EAGAIN).
PERF_EVENTS=(task-clock context-switches syscalls:sys_enter_epoll_wait syscalls:sys_enter_read
    syscalls:sys_enter_write syscalls:sys_enter_recvmmsg syscalls:sys_exit_recvmmsg
    syscalls:sys_enter_sendmmsg syscalls:sys_enter_futex)
PERF_NAMES=(task-clock-us cs epoll_wait read write recvmmsg recvmmsg_empty sendmmsg futex)
PERF_ROWS=()

# perf_start PID: with PERF_STAT=1 or PERF_RECORD, and PERF_OUT set, perf on PID in the
# background; prints its PID (nothing otherwise). perf_stop PERF-PID ends it.
perf_start() {
    local pid=$1
    if [ "${PERF_STAT:-0}" = 1 ] && [ -n "${PERF_OUT:-}" ]; then
        local ev=() e
        for e in "${PERF_EVENTS[@]}"; do
            ev+=(-e "$e")
            [ "$e" != syscalls:sys_exit_recvmmsg ] || ev+=(--filter 'ret < 0')
        done
        perf stat -x, -o "$PERF_OUT" "${ev[@]}" -p "$pid" </dev/null >/dev/null 2>&1 &
        echo $!
        sleep 0.5
    elif [ -n "${PERF_RECORD:-}" ] && [ -n "${PERF_OUT:-}" ]; then
        perf record -q -F 2000 -g -o "$PERF_RECORD/perf-$pid.data" -p "$pid" </dev/null \
            >/dev/null 2>&1 &
        echo $!
        sleep 0.5
    fi
}
perf_stop() {
    [ -n "$1" ] || return 0
    kill -INT "$1"
    while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
}

# measure PID PORT ARGS...: CPU seconds PID spent while radsec_load ARGS ran against PORT;
# prints "SECONDS ANSWERED SENT SYSTEM-SECONDS".
measure() {
    local pid=$1 port=$2 t0 t1 s0 s1 out
    shift 2
    local perf
    perf=$(perf_start "$pid")
    t0=$(cpu_ticks "$pid")
    s0=$(sys_ticks "$pid")
    out=$(GW_PORT=$port rg_load --timeout 10 --allow-loss "$@" 2>&1)
    t1=$(cpu_ticks "$pid")
    s1=$(sys_ticks "$pid")
    perf_stop "$perf"
    echo "$(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}')" \
        "$(rg_kv "$out" answered)" "$(rg_kv "$out" sent)" \
        "$(awk -v t=$((s1 - s0)) -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}')"
}

# quiet PID PORT: CPU seconds PID spent on REQUESTS requests over QUIET held connections with
# one in flight each (the handshakes before and the close after not counted); prints
# "SECONDS ANSWERED SENT SYSTEM-SECONDS TCP-SEGMENTS".
quiet() {
    local pid=$1 port=$2 t0 t1 s0 s1 g0 g1 load out
    rm -f "$RG_TMP/quiet.ready"
    # Not through rg_load (a function): $! must be radsec_load itself, for SIGUSR1.
    "$(rg_bin radsec_load)" --host 127.0.0.1 --port "$port" --ca "$RG_PKI_SERVER_CA" \
        --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --connections "$QUIET" \
        --inflight "$QUIET" --requests "$REQUESTS" --timeout 10 --allow-loss --hold \
        --ready-file "$RG_TMP/quiet.ready" --source 127.2.0.0/16 --connect-rate 500 \
        >"$RG_TMP/quiet.out" 2>"$RG_TMP/quiet.err" &
    load=$!
    rg_wait_file "$RG_TMP/quiet.ready" established= "$load"
    sleep 2 # the last handshakes' work done
    local perf
    perf=$(perf_start "$pid")
    t0=$(cpu_ticks "$pid")
    s0=$(sys_ticks "$pid")
    g0=$(tcp_segs)
    kill -USR1 "$load"
    rg_wait_file "$RG_TMP/quiet.ready" answered= "$load"
    t1=$(cpu_ticks "$pid")
    s1=$(sys_ticks "$pid")
    g1=$(tcp_segs)
    perf_stop "$perf"
    kill -USR1 "$load"
    wait "$load"
    out=$(cat "$RG_TMP/quiet.out")
    echo "$(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}')" \
        "$(rg_kv "$out" answered)" "$(rg_kv "$out" sent)" \
        "$(awk -v t=$((s1 - s0)) -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}')" $((g1 - g0))
}

# row NAME PID PORT: one table row.
row() {
    local name=$1 pid=$2 port=$3 a c h13 h12 q="-" qk="-" lost=""
    # Warm-up: backend sockets, and the heap grown once for CONNS connections at a time
    # (otherwise the first handshake run pays for that growth: sysmalloc in the profile).
    measure "$pid" "$port" --connections 8 --inflight 64 --requests 2000 >/dev/null
    measure "$pid" "$port" --connections "$CONNS" --inflight "$CONNS" --requests "$CONNS" >/dev/null
    [ "$PERF_LOAD" != auth ] || PERF_OUT=$RG_TMP/perf.$pid
    read -r a aa as asys < <(measure "$pid" "$port" --connections 8 --inflight 256 \
        --requests "$REQUESTS" --type auth)
    PERF_OUT=
    [ "$PERF_LOAD" != acct ] || PERF_OUT=$RG_TMP/perf.$pid
    read -r c ca cs csys < <(measure "$pid" "$port" --connections 8 --inflight 256 \
        --requests "$REQUESTS" --type acct)
    PERF_OUT=
    if [ "${SKIP_HS:-0}" = 1 ]; then
        h13=0 ha=0 hs=0 h12=0 hb=0 hc=0
    else
        read -r h13 ha hs _ < <(measure "$pid" "$port" --connections "$CONNS" --inflight "$CONNS" \
            --requests "$CONNS" --tls 1.3 "${hs_opts[@]}")
        read -r h12 hb hc _ < <(measure "$pid" "$port" --connections "$CONNS" --inflight "$CONNS" \
            --requests "$CONNS" --tls 1.2 "${hs_opts[@]}")
    fi
    [ "$aa" = "$as" ] || lost+=" auth $aa/$as"
    [ "$ca" = "$cs" ] || lost+=" acct $ca/$cs"
    [ "$ha" = "$hs" ] || lost+=" hs13 $ha/$hs"
    [ "$hb" = "$hc" ] || lost+=" hs12 $hb/$hc"
    if [ "$QUIET" -gt 0 ]; then
        [ "$PERF_LOAD" != quiet ] || PERF_OUT=$RG_TMP/perf.$pid
        read -r qs qa qn qsys qseg < <(quiet "$pid" "$port")
        PERF_OUT=
        [ "$qa" = "$qn" ] || lost+=" quiet $qa/$qn"
        q=$(awk -v s="$qs" -v r="$REQUESTS" 'BEGIN {printf "%.2f", s * 100000 / r}')
        qk=$(awk -v s="$qs" -v k="$qsys" -v r="$REQUESTS" 'BEGIN {
            printf "%.2f of %.2f (%.0f %%)", k * 100000 / r, s * 100000 / r, (s > 0 ? 100 * k / s : 0)}')
        qk+=$(awk -v g="$qseg" -v n="$qa" 'BEGIN {printf "; %.2f TCP segments per request", g / (n ? n : 1)}')
    fi
    if [ "${PERF_STAT:-0}" = 1 ]; then
        # perf's CSV: value,unit,event,...; per request, in PERF_EVENTS order.
        local n=$aa
        [ "$PERF_LOAD" != acct ] || n=$ca
        [ "$PERF_LOAD" != quiet ] || n=${qa:-1}
        PERF_ROWS+=("| $name |$(awk -F, -v n="$n" '
            /^#/ || NF < 3 {next}
            {v = $1; if (v ~ /not/) v = 0; if ($2 == "msec") v *= 1000
             printf " %.3f |", v / n}' "$RG_TMP/perf.$pid")")
    fi
    KERNEL_ROWS+=("$(awk -v n="$name" -v a="$a" -v as="$asys" -v c="$c" -v cs="$csys" -v q="$qk" \
        -v r="$REQUESTS" 'BEGIN {
            printf "| %s | %.2f of %.2f (%.0f %%) | %.2f of %.2f (%.0f %%) | %s |", n,
                as * 100000 / r, a * 100000 / r, (a > 0 ? 100 * as / a : 0),
                cs * 100000 / r, c * 100000 / r, (c > 0 ? 100 * cs / c : 0), q}')")
    printf '| %s | %s | %s | %s | %s | %s |%s\n' "$name" \
        "$(awk -v s="$a" -v r="$REQUESTS" 'BEGIN {printf "%.2f", s * 100000 / r}')" \
        "$(awk -v s="$c" -v r="$REQUESTS" 'BEGIN {printf "%.2f", s * 100000 / r}')" \
        "$(awk -v s="$h13" -v n="$CONNS" 'BEGIN {printf "%.2f", s * 1000 / n}')" \
        "$(awk -v s="$h12" -v n="$CONNS" 'BEGIN {printf "%.2f", s * 1000 / n}')" "$q" \
        "${lost:+ (answered/sent:$lost)}"
}

echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "radsecgw workers=$WORKERS; $REQUESTS requests per load, $CONNS handshakes per version;" \
    "server key $SERVER_KEY; client groups ${KEX_GROUPS:-default};" \
    "radsecgw ciphers ${GW_CIPHERS:-built-in}"
echo
echo "| server | CPU s / 100k auth (8x32) | CPU s / 100k acct (8x32) | CPU ms / handshake TLS 1.3 | CPU ms / handshake TLS 1.2 | CPU s / 100k, ${QUIET}x1 |"
echo "|---|---|---|---|---|---|"

[ -z "${LOAD_CPUS:-}" ] || taskset -p -c "$LOAD_CPUS" $$ >/dev/null || rg_die "taskset $LOAD_CPUS"
# pin PID: the server's threads onto GW_CPUS, if set.
pin() {
    [ -z "${GW_CPUS:-}" ] || taskset -a -p -c "$GW_CPUS" "$1" >/dev/null || rg_die "taskset"
    local cpus=(${WORKER_CPUS:-}) t n
    [ "${#cpus[@]}" -gt 0 ] || return 0
    for t in /proc/"$1"/task/*; do
        n=$(cat "$t/comm")
        [[ "$n" =~ ^radsecgw-w([0-9]+)$ ]] || continue
        n=${BASH_REMATCH[1]}
        taskset -p -c "${cpus[n % ${#cpus[@]}]}" "${t##*/}" >/dev/null || rg_die "taskset"
    done
}
rg_fake_backend_start fb "$FB_SEC" accept
for w in $WORKERS; do
    rg_gateway_conf "$RG_TMP/gw$w.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
        --workers "$w" --max-outstanding 32768 --max-conn-per-ip $((CONNS + 100)) \
        --max-handshakes-per-ip 4096 --timeout 10 --log-level notice --log-requests false
    [ -z "$GW_CIPHERS" ] ||
        sed -i "s|^    min-version = .*|&\n    ciphers = \"$GW_CIPHERS\"|" "$RG_TMP/gw$w.conf"
    rg_gateway_start "$RG_TMP/gw$w.conf" "radsecgw$w"
    pin "$(rg_pid "radsecgw$w")"
    row "radsecgw, workers = $w" "$(rg_pid "radsecgw$w")" "$GW_PORT"
    rg_stop "radsecgw$w"
done

if [ "${SKIP_RSP:-0}" != 1 ] && command -v radsecproxy >/dev/null; then
    rg_radsecproxy_bench_start "$FB_PORT_fb" "$FB_SEC" 127.0.0.0/8
    pin "$(rg_pid radsecproxy)"
    row "radsecproxy $(radsecproxy -v 2>&1 | grep -oE '[0-9]+\.[0-9.]+' | head -n1)" \
        "$(rg_pid radsecproxy)" "$RSPS_PORT"
fi

echo
echo "System (kernel) CPU s / 100k of the total (/proc/PID/stat stime):"
echo
echo "| server | auth 8x32 | acct 8x32 | ${QUIET}x1 |"
echo "|---|---|---|---|"
printf '%s\n' "${KERNEL_ROWS[@]}"

if [ "${PERF_STAT:-0}" = 1 ]; then
    echo
    echo "Per $PERF_LOAD request (8x32; perf stat on the server process; task-clock in µs):"
    echo
    printf '| server |'; printf ' %s |' "${PERF_NAMES[@]}"; echo
    printf '|---|'; printf -- '---|%.0s' "${PERF_NAMES[@]}"; echo
    printf '%s\n' "${PERF_ROWS[@]}"
fi
