#!/usr/bin/env bash
# CPU per TLS handshake of radsecgw, full against resumed (issue 14, tls session-cache):
# CONNS sequential connections of tools/radsec_client (one Status-Server each), TLS 1.3 and
# TLS 1.2, ECDSA P-256 server certificate, RSA-2048 client (ap-rsa), one worker. "full": the
# session file is removed before each connection; "resumed": each connection resumes the
# session the previous one saved. The gateway's user+system CPU time over CONNS (so it
# includes the one request and the connection's close). Not a test: prints a Markdown table.
#   RG_BUILD_DIR=$PWD/build-release flock /tmp/rg-heavy.lock tools/bench-resume.sh
# Environment: CONNS (default 300).
set -uo pipefail
source "$(dirname "$0")/../test/integration/lib.sh"
rg_tmpdir >/dev/null
rg_pki
CONNS=${CONNS:-300}
FB_SEC=bench-backend-secret-0123456789
rg_need_build radsecgw radsec_client fake_backend
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

rg_fake_backend_start fb "$FB_SEC" accept
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 1 --log-level notice --log-requests false
rg_gateway_start "$RG_TMP/gw.conf"
GW=$(rg_pid radsecgw)
one() { rg_client --tls "$1" --session "$RG_TMP/sess" status >"$RG_TMP/one.out" 2>&1; }

echo "| TLS | full ms | resumed ms | resumed / full | resumed connections |"
echo "|---|---|---|---|---|"
for v in 1.3 1.2; do
    rm -f "$RG_TMP/sess"
    one "$v" # warm-up
    t0=$(cpu_ticks "$GW")
    for ((i = 0; i < CONNS; i++)); do
        rm -f "$RG_TMP/sess"
        one "$v"
    done
    t1=$(cpu_ticks "$GW")
    full=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$CONNS" 'BEGIN {printf "%.3f", t * 1000 / hz / n}')
    one "$v"
    n=0
    t0=$(cpu_ticks "$GW")
    for ((i = 0; i < CONNS; i++)); do
        one "$v" && grep -q '^session: resumed' "$RG_TMP/one.out" && n=$((n + 1))
    done
    t1=$(cpu_ticks "$GW")
    res=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$CONNS" 'BEGIN {printf "%.3f", t * 1000 / hz / n}')
    printf '| %s | %s | %s | %s | %d/%d |\n' "$v" "$full" "$res" \
        "$(awk -v a="$res" -v b="$full" 'BEGIN {printf "%.2f", a / b}')" "$n" "$CONNS"
done
