#!/usr/bin/env bash
# SIGHUP reload (DESIGN.md): a new config takes effect for new requests, requests in flight
# on the old backends still get their answers, and a config that fails validation changes
# nothing and says why in the log.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
SEC_A=backend-a-secret-$RANDOM$RANDOM
SEC_B=backend-b-secret-$RANDOM$RANDOM
rg_fake_backend_start fa "$SEC_A" accept --password pw --delay-ms 3000
rg_fake_backend_start fb "$SEC_B" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fa:$FB_PORT_fa:$SEC_A" \
    --timeout 5 --retries 0
port=$GW_PORT
rg_gateway_start "$RG_TMP/gw.conf" gw

# Requests in flight on backend A (it answers after 3 s) while the config switches to B.
rg_client --timeout 10 --count 5 auth alice pw >"$RG_TMP/inflight.out" 2>&1 &
inflight=$!
sleep 1
rg_gateway_conf "$RG_TMP/gw.conf" --port "$port" \
    --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$SEC_B" --timeout 5 --retries 0
rg_signal gw HUP
rg_wait_log "$GW_LOG" 'event=reload_done' 10 gw && rg_pass "reload done" || rg_fail "no 'event=reload_done'"
out=$(rg_client --timeout 5 auth alice pw 2>&1)
rg_assert_output "$out" '^Access-Accept' "after reload: request answered"
wait "$inflight"
st=$?
[ $st = 0 ] && rg_pass "requests in flight across the reload answered" ||
    rg_fail "in-flight requests: exit $st: $(cat "$RG_TMP/inflight.out")"
rg_assert_log "$RG_TMP/inflight.out" 'accept=5 ' "in flight: all 5 accepted (by the old backend)"
ra=$(rg_report_value "$(rg_fake_backend_report fa)" access_request)
rb=$(rg_report_value "$(rg_fake_backend_report fb)" access_request)
[ "$ra" = 5 ] && [ "$rb" = 1 ] && rg_pass "old backend saw 5, new backend 1" ||
    rg_fail "backend A saw $ra (want 5), backend B saw $rb (want 1)"

# A broken config: the reload is refused, the log says why, the gateway keeps working.
echo "pool \"corp\" { bogus = 1 }" >>"$RG_TMP/gw.conf"
rg_signal gw HUP
rg_wait_log "$GW_LOG" 'event=reload_failed' 10 gw &&
    rg_pass "broken config: reload refused" || rg_fail "broken config: no refusal logged"
rg_assert_log "$GW_LOG" 'event=config diag=".*gw.conf:[0-9]+: ' "broken config: file:line reason logged"
out=$(rg_client --timeout 5 auth alice pw 2>&1)
rg_assert_output "$out" '^Access-Accept' "after the refused reload: still answering"
rb=$(rg_report_value "$(rg_fake_backend_report fb)" access_request)
[ "$rb" = 2 ] && rg_pass "still using backend B" || rg_fail "backend B saw $rb (want 2)"
rg_stop gw && rg_pass "gateway exits 0 on SIGTERM" || rg_fail "gateway exit status non-zero"
rg_finish
