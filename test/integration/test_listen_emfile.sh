#!/usr/bin/env bash
# Issue 13: the listener survives running out of file descriptors (EMFILE). The gateway's
# RLIMIT_NOFILE is lowered to what it uses plus 20 (prlimit on its PID); 60 TCP connections
# that never send take the 20 and then some. The ones beyond are accepted and closed at once
# (libuv's reserve descriptor); reaching the limit is counted (fd_limit) and logged
# (event=fd_limit, rate-limited); the gateway stays up and, once the silent connections are gone, answers again.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
command -v prlimit >/dev/null || rg_die "prlimit (util-linux) missing"
FB_SEC=emfile-backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 1 --stats-interval 1 --log-level info --log-requests false --handshake-timeout 60
rg_gateway_start "$RG_TMP/gw.conf"
GW=$(rg_pid radsecgw)
out=$(rg_client auth alice wonderland 2>&1)
rg_assert_output "$out" 'Access-Accept' "answers before the descriptors run out"
sleep 1
nfd=$(find "/proc/$GW/fd" -mindepth 1 -maxdepth 1 | wc -l)
limit=$((nfd + 20))
prlimit --pid "$GW" --nofile="$limit:$limit" || rg_die "prlimit --pid $GW failed"
rg_log "radsecgw holds $nfd descriptors; RLIMIT_NOFILE now $limit"

python3 - "$GW_PORT" 60 "$RG_TMP/silent.ready" <<'EOF' &
import socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
    time.sleep(0.01)
time.sleep(2)
closed = 0
for s in socks:  # which ones the gateway closed (EOF or reset)
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
open(ready, "w").write("closed=%d\n" % closed)
time.sleep(120)
EOF
silent=$!
for ((i = 0; i < 100; i++)); do [ -s "$RG_TMP/silent.ready" ] && break; sleep 0.1; done
closed=$(rg_kv "$(cat "$RG_TMP/silent.ready" 2>/dev/null)" closed)
rg_log "silent connections closed by the gateway: $closed of 60"
[ "$closed" -ge 30 ] && rg_pass "connections beyond the descriptor limit closed at once ($closed)" ||
    rg_fail "connections beyond the descriptor limit closed at once: $closed of 60"
rg_wait_log "$GW_LOG" 'event=fd_limit .*limit='"$limit"' ' 5 radsecgw &&
    rg_pass "the descriptor limit logged as event=fd_limit" || rg_fail "no event=fd_limit line"
rg_wait_log "$GW_LOG" 'stats workers=.* fd_limit=[1-9]' 5 radsecgw &&
    rg_pass "the descriptor limit counted in fd_limit" || rg_fail "fd_limit not counted"
kill "$silent" 2>/dev/null
wait "$silent" 2>/dev/null
sleep 1
rg_check "the gateway is still running" rg_alive radsecgw
out=$(rg_client --timeout 5 auth alice wonderland 2>&1)
rg_assert_output "$out" 'Access-Accept' "answers again once descriptors are free"
rg_finish
