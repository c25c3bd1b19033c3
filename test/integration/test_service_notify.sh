#!/usr/bin/env bash
# Issue 11: sd_notify as systemd sees it (Type=notify). NOTIFY_SOCKET points at a datagram
# socket this test reads (test/helpers/notify_listen.py): READY=1 arrives only once the
# port listens, SIGHUP brings RELOADING=1 then READY=1 (also when the reload fails),
# STATUS= carries connections and requests, WATCHDOG=1 comes while the loops turn when
# WATCHDOG_USEC is set, and SIGTERM brings STOPPING=1 before the exit.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
rg_need python3 ss
gw=$(rg_bin radsecgw)
SEC=notify-backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$SEC" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$SEC"
sock=$RG_TMP/notify.sock
rg_start notify python3 "$RG_SOURCE_DIR/test/helpers/notify_listen.py" "$sock" "$GW_PORT" 60
NLOG=$RG_TMP/notify.log
for ((i = 0; i < 50; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || rg_die "notify socket not created"

rg_start gw env NOTIFY_SOCKET="$sock" WATCHDOG_USEC=1000000 "$gw" -f -d -c "$RG_TMP/gw.conf"
GW_LOG=$RG_TMP/gw.log
rg_wait_log "$NLOG" 'READY=1' 10 gw && rg_pass "READY=1 received" || rg_fail "no READY=1"
first=$(head -1 "$NLOG")
rg_assert_output "$first" 'READY=1' "the first notification is READY=1 (nothing before it)"
rg_assert_output "$first" 'listening=1' "at READY=1 the port already listens"
rg_assert_log "$NLOG" 'READY=1\|STATUS=running; [0-9]+ connections, [0-9]+ requests' \
    "READY=1 carries STATUS= with connections and requests"

# An AP connection held open with one request answered: STATUS= (every 5 s, or every half
# watchdog interval) counts both.
rg_client --timeout 5 --hold 4 auth alice pw >"$RG_TMP/client.out" 2>&1 &
client=$!
rg_wait_log "$NLOG" 'STATUS=1 connections, 1 requests' 4 gw &&
    rg_pass "STATUS= counts the open connection and the request" ||
    rg_fail "no STATUS= with 1 connection and 1 request: $(tail -3 "$NLOG")"
wait "$client"
rg_assert_log "$RG_TMP/client.out" '^Access-Accept' "the held connection's request answered"
rg_wait_log "$NLOG" '^[0-9.]+ listening=1 WATCHDOG=1$' 5 gw &&
    rg_pass "WATCHDOG=1 sent (WATCHDOG_USEC=1 s)" || rg_fail "no WATCHDOG=1"

# Reload: RELOADING=1, then READY=1 after it; a failed reload also ends in READY=1.
n=$(wc -l <"$NLOG")
rg_signal gw HUP
rg_wait_log "$GW_LOG" 'event=reload_done' 10 gw || rg_fail "no 'event=reload_done'"
sleep 0.5
seq=$(tail -n +$((n + 1)) "$NLOG" | grep -oE 'RELOADING=1|READY=1' | head -2 | tr '\n' ' ')
[ "$seq" = "RELOADING=1 READY=1 " ] && rg_pass "HUP: RELOADING=1 then READY=1" ||
    rg_fail "HUP: notifications were '$seq': $(tail -n +$((n + 1)) "$NLOG")"
rg_assert_log "$NLOG" 'RELOADING=1\|MONOTONIC_USEC=[0-9]+' "RELOADING=1 carries MONOTONIC_USEC"

n=$(wc -l <"$NLOG")
echo 'pool "corp" { bogus = 1 }' >>"$RG_TMP/gw.conf"
rg_signal gw HUP
rg_wait_log "$GW_LOG" 'event=reload_failed' 10 gw || rg_fail "broken config: no 'event=reload_failed'"
sleep 0.5
after=$(tail -n +$((n + 1)) "$NLOG")
seq=$(grep -oE 'RELOADING=1|READY=1' <<<"$after" | head -2 | tr '\n' ' ')
[ "$seq" = "RELOADING=1 READY=1 " ] && rg_pass "failed reload: RELOADING=1 then READY=1" ||
    rg_fail "failed reload: notifications were '$seq'"
rg_assert_output "$after" 'READY=1\|STATUS=reload failed' "failed reload: STATUS says so"

# Stop: STOPPING=1 while the gateway drains, then exit 0.
rg_stop gw && rg_pass "exit 0 on SIGTERM" || rg_fail "non-zero exit on SIGTERM"
rg_wait_log "$NLOG" 'STOPPING=1' 5 && rg_pass "STOPPING=1 on SIGTERM" || rg_fail "no STOPPING=1"
last=$(grep -vE 'WATCHDOG=1$|^[0-9.]+ listening=[01] STATUS=' "$NLOG" | tail -1)
rg_assert_output "$last" 'STOPPING=1' "STOPPING=1 is the last state sent"

# Without NOTIFY_SOCKET nothing is sent and nothing fails.
rg_gateway_conf "$RG_TMP/plain.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$SEC"
rg_gateway_start "$RG_TMP/plain.conf" plain
rg_assert_no_log "$RG_TMP/plain.log" 'sd_notify' "no NOTIFY_SOCKET: no sd_notify error"
rg_stop plain && rg_pass "no NOTIFY_SOCKET: exit 0" || rg_fail "no NOTIFY_SOCKET: exit non-zero"
rg_finish
