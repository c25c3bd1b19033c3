#!/usr/bin/env bash
# Issue #15, "a connection whose peer does not read stops being read": authenticated peers
# that pipeline Accounting-Requests without end and never read their replies (receive
# buffer 4 KiB). Once a peer's replies wait unsent past 64 KiB (conn_write.c), nothing more
# it sent is read or forwarded: not even what the gateway had already read and decrypted.
# Shown by counts: the requests forwarded stop growing while the flooders are still
# connected and trying to send, each flooder's unsent replies at close stay near the bound
# (64 KiB plus the replies of what was already in flight at the backend), and an AP that
# reads gets its answer meanwhile.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 1 --timeout 2 --stats-interval 1 --log-requests false --log-level info
rg_gateway_start "$RG_TMP/gw.conf" gw

python3 "$RG_SOURCE_DIR/tools/radsec_hostile.py" --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --duration 9 --flood 3 \
    >"$RG_TMP/hostile.out" 2>"$RG_TMP/hostile.err" &
hostile=$!
# The flooders fill their replies' way back within a second; what they abandon by reusing
# IDs expires at its deadline (timeout 2 s, one retransmission: under 7 s). From 7 s on,
# nothing is left in flight: the count forwarded must not move again.
sleep 7
fwd1=$(rg_stats_last "$GW_LOG" forwarded)
rg_client --timeout 5 auth alice pw >"$RG_TMP/ap.out" 2>&1
sleep 1.5
fwd2=$(rg_stats_last "$GW_LOG" forwarded)
rg_assert_log "$RG_TMP/ap.out" '^Access-Accept' "an AP that reads is answered while the flooders are stalled"
wait "$hostile" || rg_fail "radsec_hostile failed: $(tail -3 "$RG_TMP/hostile.err")"
cat "$RG_TMP/hostile.out" >&2
k=$(grep '^kind=flood ' "$RG_TMP/hostile.out")
[ "$(rg_kv "$k" handshakes)" = 3 ] && [ "$(rg_kv "$k" sent_bytes)" -gt 200000 ] &&
    rg_pass "3 flooders sent $(rg_kv "$k" sent_bytes) octets and read none" ||
    rg_fail "flood did not run: $k"

# Between the two samples only the AP's request went to the backend.
[ "$fwd1" -gt 0 ] && [ "$fwd2" -le $((fwd1 + 1)) ] &&
    rg_pass "forwarding stopped while the flooders still sent (forwarded $fwd1, then $fwd2)" ||
    rg_fail "requests still forwarded for peers that do not read: $fwd1, then $fwd2"

rg_wait_log "$GW_LOG" 'event=conn_close .*src=127\.14\.' 5 gw
sleep 0.5
closes=$(grep -E 'event=conn_close .*src=127\.14\.' "$GW_LOG")
n=$(grep -c . <<<"$closes")
echo "$closes" >&2
# 64 KiB, and at most 256 + 64 replies of what was at the backend when the bound was
# reached (an Accounting-Response with Message-Authenticator: 38 octets, in records of 16
# KiB with 22 octets of AEAD overhead each).
bound=$((65536 + 320 * 38 + 1024))
worst=$(grep -oE 'unsent=[0-9]+' <<<"$closes" | cut -d= -f2 | sort -n | tail -n1)
least=$(grep -oE 'unsent=[0-9]+' <<<"$closes" | cut -d= -f2 | sort -n | head -n1)
[ "$n" = 3 ] && [ "${least:-0}" -gt 32768 ] && [ "${worst:-999999}" -le "$bound" ] &&
    rg_pass "each flooder closed with its unsent replies near the bound ($least..$worst octets, bound $bound)" ||
    rg_fail "flooders at close: $n lines, unsent ${least:-none}..${worst:-none} (bound $bound)"
[ "$(rg_stats_max "$GW_LOG" unread_paused)" -gt 0 ] &&
    rg_pass "unread_paused $(rg_stats_max "$GW_LOG" unread_paused)" ||
    rg_fail "unread_paused $(rg_stats_max "$GW_LOG" unread_paused)"
rg_stop gw || rg_fail "gateway exit status non-zero"
rg_finish
