#!/usr/bin/env bash
# Issue #15, fair shares of a backend whose queue comes and goes (src/proxy_fair.c): a server
# that answers nothing for 30 ms out of every 70 (a pause, a flush) and then everything it
# got at once. Requests sent between its pauses come back at once, so the lowest latency of
# every interval stays at the baseline and no congestion is judged; a request sent in a pause
# waits behind everything in flight. 10 authenticated peers pipeline Accounting-Requests and
# never read; a legitimate AP is already connected. The requests in flight stay within what
# the server answers in twice (baseline + target), so what waits in one pause (queued_max at
# the server) stays near the budget's floor of 256; a budget of twice what was held let the
# flooders' 10 x 320 queue there (1,629 and 3,205 seen; 795 and 923 with the bound). Counts, not timings.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw --stall 30/70
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 1 --timeout 3 --stats-interval 1 --log-requests false --log-level info
rg_gateway_start "$RG_TMP/gw.conf" gw

rg_load --connections 1 --inflight 16 --rate 100 --duration 8 --requests 100000 --type mix \
    --user alice --password pw >"$RG_TMP/legit.out" 2>&1 &
legit=$!
sleep 1 # the replies' baseline, before the flood
python3 "$RG_SOURCE_DIR/tools/radsec_hostile.py" --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --duration 6 --flood 10 \
    >"$RG_TMP/hostile.out" 2>"$RG_TMP/hostile.err" &
hostile=$!
wait "$hostile" || rg_fail "radsec_hostile failed: $(tail -3 "$RG_TMP/hostile.err")"
wait "$legit"
legit_st=$?
cat "$RG_TMP/hostile.out" >&2

rg_assert_all_answered "$RG_TMP/legit.out" "$legit_st" 700 "legitimate AP during the flood"
k=$(grep '^kind=flood ' "$RG_TMP/hostile.out")
[ "$(rg_kv "$k" handshakes)" = 10 ] && [ "$(rg_kv "$k" sent_bytes)" -gt 1000000 ] &&
    rg_pass "10 flooders pipelined $(rg_kv "$k" sent_bytes) octets" || rg_fail "flood did not run: $k"

report=$(rg_fake_backend_report fb)
queued=$(rg_report_value "$report" queued_max)
replies=$(rg_report_value "$report" replies)
[ "$replies" -gt 20000 ] && [ "$queued" -gt 0 ] && [ "$queued" -le 1200 ] &&
    rg_pass "at most $queued requests waited in a pause of the server ($replies answered)" ||
    rg_fail "requests waiting in a pause of the server: queued_max=$queued (bound 1,200), replies=$replies"
rg_stop gw || rg_fail "gateway exit status non-zero"
rg_finish
