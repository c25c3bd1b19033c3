#!/usr/bin/env bash
# Soak: TOTAL mixed requests (Access-Request and Accounting-Request, default 1,000,000)
# through CONNS TLS connections (default 200) with churn: the load runs in ROUNDS rounds,
# every round on new connections (all of them close and reopen), while tools/radsec_hostile
# churns connect-request-close cycles beside it. Checks: zero lost in every round, the
# gateway's RSS flat after warm-up (the last round within RSS_SLACK_KB of the round after
# warm-up), no leak or error report at exit. Meant for the ASan/LSan build; then a shorter
# run (VALGRIND_REQUESTS, default 20,000) of the release build under valgrind memcheck, which
# must report 0 errors. Not a ctest test: minutes long. Run under the shared lock:
#
#   flock /tmp/rg-heavy.lock env RG_BUILD_DIR=$PWD/build-asan \
#       RG_VALGRIND_BUILD_DIR=$PWD/build-release tools/soak.sh
# Environment: TOTAL, CONNS, ROUNDS (default 20), INFLIGHT (default 800), RSS_SLACK_KB
# (default 8192), VALGRIND_REQUESTS, SKIP_VALGRIND=1.
set -uo pipefail
source "$(dirname "$0")/../test/integration/lib.sh"
rg_tmpdir >/dev/null
rg_pki
TOTAL=${TOTAL:-1000000}
CONNS=${CONNS:-200}
ROUNDS=${ROUNDS:-20}
INFLIGHT=${INFLIGHT:-800}
RSS_SLACK_KB=${RSS_SLACK_KB:-8192}
FB_SEC=soak-backend-secret-0123456789
rg_need_build radsecgw radsec_load fake_backend
# ASan keeps freed memory in a quarantine (256 MB by default) that fills over the first rounds
# and would read as growth: a small one lets the RSS check measure the gateway.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:quarantine_size_mb=16}
status=0

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

rg_fake_backend_start fb "$FB_SEC" accept --password wonderland
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 2 --timeout 5 --log-level notice --log-requests false --max-conn-per-ip 1000
rg_gateway_start "$RG_TMP/gw.conf" gw
gw=$(rg_pid gw)
per_round=$((TOTAL / ROUNDS))
echo "soak: $TOTAL requests in $ROUNDS rounds of $per_round over $CONNS connections" \
    "($INFLIGHT in flight), build $RG_BUILD_DIR"
python3 "$RG_SOURCE_DIR/tools/radsec_hostile.py" --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --duration 100000 --churn 10 \
    >"$RG_TMP/churn.out" 2>&1 &
churn=$!
warm=""
lost=0
start=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
    out=$(rg_load --connections "$CONNS" --inflight "$INFLIGHT" --requests "$per_round" \
        --type mix --timeout 10 --allow-loss 2>/dev/null | tail -n1)
    sent=$(rg_kv "$out" sent)
    answered=$(rg_kv "$out" answered)
    lost=$((lost + sent - answered))
    now=$(rss "$gw")
    [ "$r" = 3 ] && warm=$now
    echo "round $r: sent=$sent answered=$answered rps=$(rg_kv "$out" rps)" \
        "p99_ms=$(rg_kv "$out" p99_ms) rss_kb=$now"
done
kill -TERM "$churn" 2>/dev/null
wait "$churn" 2>/dev/null
final=$(rss "$gw")
echo "soak: $(($(date +%s) - start)) s, lost=$lost, rss after warm-up ${warm} kB, at the end ${final} kB"
[ "$lost" = 0 ] || { echo "FAIL: $lost requests lost"; status=1; }
if [ -n "$warm" ] && [ $((final - warm)) -gt "$RSS_SLACK_KB" ]; then
    echo "FAIL: RSS grew by $((final - warm)) kB after warm-up"
    status=1
fi
rg_stop gw || { echo "FAIL: gateway exit status non-zero"; status=1; }
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$GW_LOG"; then
    echo "FAIL: sanitizer report:"
    grep -m5 -A10 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$GW_LOG"
    status=1
else
    echo "soak: no sanitizer report"
fi

if [ "${SKIP_VALGRIND:-0}" != 1 ] && command -v valgrind >/dev/null; then
    vdir=${RG_VALGRIND_BUILD_DIR:-$RG_BUILD_DIR}
    n=${VALGRIND_REQUESTS:-20000}
    rg_gateway_conf "$RG_TMP/vg.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
        --workers 2 --timeout 5 --log-level notice --log-requests false --max-conn-per-ip 1000
    rg_start vg valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --log-file="$RG_TMP/valgrind.txt" "$vdir/radsecgw" -f -c "$RG_TMP/vg.conf"
    rg_wait_port "$GW_PORT" tcp 60 vg || rg_die "radsecgw under valgrind does not listen"
    for ((r = 1; r <= 4; r++)); do
        out=$(rg_load --connections 20 --inflight 80 --requests $((n / 4)) --type mix \
            --timeout 20 --allow-loss 2>/dev/null | tail -n1)
        echo "valgrind round $r: sent=$(rg_kv "$out" sent) answered=$(rg_kv "$out" answered)"
    done
    rg_stop vg
    st=$?
    errors=$(grep -oE 'ERROR SUMMARY: [0-9]+ errors' "$RG_TMP/valgrind.txt" | tail -n1)
    echo "valgrind: exit $st, $errors"
    grep -E 'definitely lost|indirectly lost' "$RG_TMP/valgrind.txt" | tail -n2
    [ "$st" = 0 ] && [ "$errors" = "ERROR SUMMARY: 0 errors" ] || status=1
fi
exit $status
