#!/usr/bin/env bash
# Issue #3, connection timers: a TCP client that never completes the TLS handshake is cut
# off after handshake-timeout (with a log line), a TLS connection with no traffic is closed
# after idle-timeout, and accepted connections have TCP keepalive on.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 1
# The harness writes idle-timeout 60 and handshake-timeout 5; shorten both for this test.
sed -i 's/idle-timeout = 60/idle-timeout = 3/; s/handshake-timeout = 5/handshake-timeout = 1/' \
    "$RG_TMP/gw.conf"
rg_gateway_start "$RG_TMP/gw.conf" gw

# Handshake timeout: connect, send nothing, see when the gateway closes.
took=$(python3 - "$GW_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
t = time.time()
try:
    data = s.recv(100)
except Exception:
    data = b"?"
print("%.1f %d" % (time.time() - t, len(data)))
PY
)
secs=${took% *}
python3 -c "import sys; sys.exit(0 if 0.5 <= float('$secs') <= 4 else 1)" &&
    rg_pass "silent TCP client closed after ${secs}s (handshake-timeout 1)" ||
    rg_fail "silent TCP client: closed after ${secs}s, expected about 1 s"
rg_assert_log "$GW_LOG" 'reason="TLS handshake timeout"' "handshake timeout logged"

# Keepalive on an established TLS connection (ss shows the keepalive timer), then the idle
# timeout closes it: the client holds it for up to 10 s and reports when the server closed.
rg_client --timeout 3 --hold 10 auth alice pw >"$RG_TMP/idle.out" 2>&1 &
client=$!
sleep 1
ka=$(ss -tno state established "( sport = :$GW_PORT )" 2>/dev/null | grep -c 'timer:(keepalive')
[ "$ka" -ge 1 ] && rg_pass "TCP keepalive on the accepted connection" ||
    rg_fail "no keepalive timer on the gateway's side of the connection"
wait "$client"
rg_assert_log "$RG_TMP/idle.out" '^Access-Accept' "idle: the request was answered"
rg_assert_log "$RG_TMP/idle.out" 'closed by server after [2-5]\.' "idle: closed by the gateway after about 3 s"
rg_assert_log "$GW_LOG" 'event=conn_close .*reason="idle timeout"' "idle timeout logged"

# A connection with traffic is not idle: resend every second for 6 s, nothing closes it.
rg_client --timeout 3 --hold 6 --hold-every 1 auth alice pw >"$RG_TMP/busy.out" 2>&1
rg_assert_log "$RG_TMP/busy.out" 'held open for' "busy connection: kept open past idle-timeout"
rg_stop gw && rg_pass "gateway exits 0 on SIGTERM" || rg_fail "gateway exit status non-zero"
rg_finish
