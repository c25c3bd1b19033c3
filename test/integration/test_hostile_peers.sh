#!/usr/bin/env bash
# Issue #15, hostile peers (short version of the attacks in tools/bench-hostile.sh): half-open
# connections, garbage, a ClientHello dribbled an octet at a time, a RADIUS packet dribbled
# an octet per TLS record after the handshake, authenticated peers that pipeline requests and
# never read, oversize lengths and connection churn, all from their own 127.x addresses.
# packet-timeout closes the dribblers, the non-reading flooders stop being read, and an AP
# that is already connected, and one that connects during the attack, lose nothing.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 1 --handshake-timeout 4 --stats-interval 1 --log-requests false --log-level info
sed -i 's/^    idle-timeout = 60$/    idle-timeout = 60\n    packet-timeout = 2/' "$RG_TMP/gw.conf"
grep -q 'packet-timeout = 2' "$RG_TMP/gw.conf" || rg_die "packet-timeout not written"
rg_gateway_start "$RG_TMP/gw.conf" gw

# The legitimate AP connects first and keeps a paced load running through the attack.
rg_load --connections 1 --inflight 8 --rate 200 --duration 9 --requests 100000 --type mix \
    --user alice --password pw >"$RG_TMP/legit.out" 2>&1 &
legit=$!
sleep 0.5
python3 "$RG_SOURCE_DIR/tools/radsec_hostile.py" --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --duration 8 --open-rate 500 \
    --dribble 0.4 --half-open 300 --garbage 60 --partial-hello 40 --slow-after 20 --flood 5 \
    --oversize 10 --churn 5 >"$RG_TMP/hostile.out" 2>"$RG_TMP/hostile.err" &
hostile=$!
sleep 3
# A newcomer during the attack: handshake and answer.
start=$(date +%s.%N)
rg_client --timeout 5 auth alice pw >"$RG_TMP/newcomer.out" 2>&1
took=$(echo "$(date +%s.%N) - $start" | bc)
rg_assert_log "$RG_TMP/newcomer.out" '^Access-Accept' "newcomer during the attack answered (${took}s)"
wait "$hostile" || rg_fail "radsec_hostile failed: $(tail -3 "$RG_TMP/hostile.err")"
wait "$legit"
legit_st=$?
cat "$RG_TMP/hostile.out" >&2
rg_assert_all_answered "$RG_TMP/legit.out" "$legit_st" 1001 "connected AP during the attack"

kind() { grep "^kind=$1 " "$RG_TMP/hostile.out"; }
# Dribbling keeps nothing open: closed by packet-timeout (2 s), before handshake-timeout (4 s)
# for the ClientHello, long before idle-timeout (60 s) after the handshake.
k=$(kind partial-hello)
[ "$(rg_kv "$k" closed)" = 40 ] && python3 -c "import sys; sys.exit(not 1.5 <= $(rg_kv "$k" close_max_s) < 3.8)" &&
    rg_pass "dribbled ClientHello closed by packet-timeout ($k)" ||
    rg_fail "dribbled ClientHello not closed by packet-timeout: $k"
k=$(kind slow-after)
[ "$(rg_kv "$k" handshakes)" = 20 ] && [ "$(rg_kv "$k" closed)" = 20 ] &&
    python3 -c "import sys; sys.exit(not $(rg_kv "$k" close_max_s) < 5)" &&
    rg_pass "RADIUS packet dribbled one octet per record closed by packet-timeout ($k)" ||
    rg_fail "dribbled RADIUS packet kept open: $k"
k=$(kind half-open)
[ "$(rg_kv "$k" closed)" = 300 ] &&
    python3 -c "import sys; sys.exit(not 3.5 <= $(rg_kv "$k" close_p50_s) < 6)" &&
    rg_pass "half-open connections closed by handshake-timeout ($k)" ||
    rg_fail "half-open connections: $k"
for g in garbage oversize; do
    k=$(kind $g)
    [ "$(rg_kv "$k" closed)" = "$(rg_kv "$k" opened)" ] &&
        python3 -c "import sys; sys.exit(not $(rg_kv "$k" close_max_s) < 3)" &&
        rg_pass "$g closed at once ($k)" || rg_fail "$g: $k"
done
k=$(kind churn)
[ "$(rg_kv "$k" cycles)" -gt 20 ] && rg_pass "churn: $(rg_kv "$k" cycles) connect-request-close cycles" ||
    rg_fail "churn made no progress: $k"
k=$(kind flood)
[ "$(rg_kv "$k" handshakes)" = 5 ] && [ "$(rg_kv "$k" sent_bytes)" -gt 100000 ] &&
    rg_pass "flooders pipelined $(rg_kv "$k" sent_bytes) octets without reading" ||
    rg_fail "flood did not run: $k"
sleep 1.2
# Flooders stop being read: their replies pile up unread (unread_paused), or the requests
# they abandon by reusing IDs reach the per-connection bound (abandon_paused).
held=$(($(rg_stats_max "$GW_LOG" unread_paused) + $(rg_stats_max "$GW_LOG" abandon_paused)))
[ "$held" -gt 0 ] && [ "$(rg_stats_max "$GW_LOG" backpressure)" = 0 ] &&
    rg_pass "flooders stopped being read ($held times) and never filled the shared table" ||
    rg_fail "flooders: unread/abandon pauses $held, backpressure $(rg_stats_max "$GW_LOG" backpressure)"
[ "$(rg_stats_max "$GW_LOG" packet_timeouts)" -ge 60 ] &&
    rg_pass "packet_timeouts counted ($(rg_stats_max "$GW_LOG" packet_timeouts))" ||
    rg_fail "packet_timeouts=$(rg_stats_max "$GW_LOG" packet_timeouts), expected >= 60"

start=$(date +%s.%N)
rg_stop gw && rg_pass "gateway exits 0 on SIGTERM ($(echo "$(date +%s.%N) - $start" | bc)s)" ||
    rg_fail "gateway exit status non-zero"
rg_finish
