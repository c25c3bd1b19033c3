#!/usr/bin/env bash
# Issue 18, scale-out: Debian's HAProxy (mode tcp, send-proxy-v2, health checks) in front of
# two radsecgw instances on loopback, and a real redis-server (with a password) holding the
# NAS registry. APs bound to 127.x source addresses are answered through HAProxy with org
# acme's allow matching their own address (the PROXY v2 header's, not the balancer's); an AP
# whose address acme does not allow is refused; a direct connection from an address not in
# proxy-from is refused before any TLS; a bare connect and a PROXY LOCAL header (the two
# kinds of health check) are counted and closed quietly. A Disconnect-Request sent to either
# instance reaches the NAS wherever it is connected, and the holder checks the DAC client's
# orgs itself; with Redis stopped, CoA for local NASes still works and the others get a NAK.
# Finally one instance is killed under load and new connections go on through the other.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need haproxy redis-server radclient python3
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
COA_SEC=coa-client-secret-$RANDOM$RANDOM
CLUSTER_SEC=cluster-secret-$RANDOM$RANDOM
REDIS_PW=redis-pw-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw

BALANCER=127.0.0.5   # HAProxy's source address towards the gateways (proxy-from)
AP_GOOD=127.0.0.7    # in acme's allow
AP_BAD=127.0.0.9     # not in acme's allow
HA_PORT=$(rg_free_port)
REDIS_PORT=$(rg_free_port)
COA_PORT_gwa=$(rg_free_port)
COA_PORT_gwb=$(rg_free_port)

rg_start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --requirepass "$REDIS_PW"
rg_wait_port "$REDIS_PORT" tcp 10 redis || rg_die "redis-server does not listen on $REDIS_PORT"

# conf NAME [DAC_ORGS [EXTRA]]: the config of one instance (same port on a rewrite).
conf() {
    local name=$1 orgs=${2:-acme} extra=${3:-} port_var=GW_PORT_$1 coa_var=COA_PORT_$1
    COA_PORT=${!coa_var}
    rg_gateway_conf "$RG_TMP/$name.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
        ${!port_var:+--port "${!port_var}"} --allow "127.0.0.1/32,$AP_GOOD/32" \
        --stats-interval 1 --org-coa true --coa-client "dac:$COA_SEC:127.0.0.1:$orgs" \
        --listen-extra "proxy-protocol = true" --listen-extra "proxy-from = {\"$BALANCER/32\"}" \
        --extra "cluster {
    instance = \"$name\"
    redis = \"127.0.0.1:$REDIS_PORT\"
    redis-password = \"$REDIS_PW\"
    secret = \"$CLUSTER_SEC\"
}
$extra"
    printf -v "GW_PORT_$name" '%s' "$GW_PORT"
    unset COA_PORT
}
for g in gwa gwb; do
    conf "$g"
    rg_gateway_start "$RG_TMP/$g.conf" "$g"
    rg_wait_log "$RG_TMP/$g.log" 'event=cluster_redis state=up' 10 "$g" ||
        rg_fail "$g: not connected to Redis"
done

# Health checks: gwb's are PROXY v2 LOCAL headers (HAProxy's default with send-proxy-v2).
# gwa's are plain L4 checks (a check "port" turns the header off): on Linux HAProxy answers
# the SYN-ACK with a RST, so they never reach the gateway; the bare connect that other
# balancers do is made by the test itself below.
cat >"$RG_TMP/haproxy.cfg" <<EOF
global
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch
frontend radsec
    bind 127.0.0.1:$HA_PORT
    default_backend gateways
backend gateways
    balance roundrobin
    server gwa 127.0.0.1:$GW_PORT_gwa send-proxy-v2 source $BALANCER check port $GW_PORT_gwa inter 300 fall 2 rise 1
    server gwb 127.0.0.1:$GW_PORT_gwb send-proxy-v2 source $BALANCER check inter 300 fall 2 rise 1
EOF
haproxy -c -f "$RG_TMP/haproxy.cfg" >"$RG_TMP/haproxy-check.log" 2>&1 ||
    { cat "$RG_TMP/haproxy-check.log" >&2; rg_die "haproxy rejects its config"; }
rg_start haproxy haproxy -f "$RG_TMP/haproxy.cfg" -db
rg_wait_port "$HA_PORT" tcp 10 haproxy || rg_die "haproxy does not listen on $HA_PORT"

# ap SOURCE ARGS...: radsec_client through HAProxy from SOURCE.
ap() {
    local src=$1
    shift
    "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$HA_PORT" --source "$src" \
        --ca "$RG_PKI_SERVER_CA" --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" "$@"
}

# Round robin: two connections from the good AP address reach both instances.
for i in 1 2; do
    out=$(ap "$AP_GOOD" --timeout 5 --count 3 auth alice pw 2>&1)
    rg_assert_output "$out" 'summary: sent=3 replies=3 accept=3' "AP $AP_GOOD via HAProxy ($i): accepted"
done
for g in gwa gwb; do
    rg_assert_log "$RG_TMP/$g.log" "event=conn_open conn=[0-9]+ src=$AP_GOOD:[0-9]+ org=acme" \
        "$g: the connection is the AP's address ($AP_GOOD), not the balancer's"
    rg_assert_log "$RG_TMP/$g.log" "event=proxy_header conn=[0-9]+ src=$AP_GOOD:[0-9]+ via=$BALANCER:[0-9]+" \
        "$g: the balancer is named as via"
done

# An AP at an address acme does not allow: refused, and the refusal names its own address.
out=$(ap "$AP_BAD" --timeout 3 --expect-close auth alice pw 2>&1)
rg_assert_output "$out" 'summary: sent=[01] replies=0' "AP $AP_BAD (not in allow) via HAProxy: no answer"
if grep -Eq "event=conn_refused conn=[0-9]+ src=$AP_BAD:[0-9]+ reason=.source address not in any org's allow prefixes" \
    "$RG_TMP/gwa.log" "$RG_TMP/gwb.log"; then
    rg_pass "refusal logged with the AP's address $AP_BAD"
else
    rg_fail "no refusal of $AP_BAD in either gateway log"
fi

# Straight to an instance from an address that is no balancer: closed before any TLS.
out=$("$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT_gwa" --source "$AP_GOOD" \
    --ca "$RG_PKI_SERVER_CA" --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --timeout 3 \
    --expect-close auth alice pw 2>&1)
rg_assert_output "$out" 'replies=0' "direct connection from $AP_GOOD (not in proxy-from): refused"
# From the balancer's address but without a PROXY header (a TLS ClientHello first): refused.
out=$("$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT_gwb" --source "$BALANCER" \
    --ca "$RG_PKI_SERVER_CA" --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --timeout 3 \
    --expect-close auth alice pw 2>&1)
rg_assert_output "$out" 'replies=0' "from the balancer's address without a PROXY header: refused"
rg_assert_no_log "$RG_TMP/gwa.log" "event=(conn|tls)_refused conn=[0-9]+ src=$AP_GOOD:" \
    "the untrusted direct connection never reached admission or TLS"

# Health checks: counted, closed quietly (no refusal, nothing above debug per check).
python3 - "$BALANCER" "$GW_PORT_gwa" <<'PY'
import socket, sys, time
for _ in range(3):  # a keepalived/LVS-style TCP check: connect, close, no byte sent
    s = socket.socket()
    s.bind((sys.argv[1], 0))
    s.connect(("127.0.0.1", int(sys.argv[2])))
    time.sleep(0.05)
    s.close()
PY
# gwa gets exactly our three connects; gwb gets HAProxy's checks, every 300 ms, but HAProxy
# may reset a check connection before the gateway has read its header (seen under ASan:
# 2 of ~16 counted in 5 s), so gwb needs only some of them counted.
for g in gwa gwb; do
    want=3
    [ $g = gwb ] && want=1
    for ((i = 0; i < 100; i++)); do
        n=$(rg_stats_last "$RG_TMP/$g.log" proxy_checks)
        [ "$n" -ge $want ] && break
        sleep 0.1
    done
    [ "$n" -ge $want ] && rg_pass "$g: $n balancer health checks counted" ||
        rg_fail "$g: proxy_checks=$n"
done
rg_assert_log "$RG_TMP/gwa.log" 'event=conn_close conn=[0-9]+ src=127\.0\.0\.5:[0-9]+ state=proxy_header reason="balancer health check \(connect\)"' \
    "gwa: bare-connect checks recognised"
rg_assert_log "$RG_TMP/gwb.log" 'event=conn_close conn=[0-9]+ src=127\.0\.0\.5:[0-9]+ state=proxy_header reason="balancer health check \(PROXY LOCAL\)"' \
    "gwb: PROXY LOCAL checks recognised"
rg_assert_no_log "$RG_TMP/gwb.log" 'event=tls_refused conn=[0-9]+ src=127\.0\.0\.5:' "gwb: health checks are no TLS refusals"

# ---- CoA through either instance -------------------------------------------------------
# Two NASes through HAProxy (round robin: one on each instance), held open, answering CoA.
for n in 1 2; do
    rg_start "nas$n" "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$HA_PORT" --source "$AP_GOOD" \
        --ca "$RG_PKI_SERVER_CA" --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --hold 60 \
        --answer-coa ack --attr "NAS-Identifier=nas-$n" auth alice pw
    rg_wait_log "$RG_TMP/nas$n.log" '^holding' 10 "nas$n" || rg_die "nas$n did not connect"
done
holder() { # NAS-ID: the instance whose registry learned it
    local g
    for g in gwa gwb; do
        grep -Eq "event=coa_registered .*=\"$1\"" "$RG_TMP/$g.log" && { echo "$g"; return; }
    done
}
H1=$(holder nas-1)
H2=$(holder nas-2)
rg_log "nas-1 is on ${H1:-?}, nas-2 on ${H2:-?}"
[ -n "$H1" ] && [ -n "$H2" ] && [ "$H1" != "$H2" ] && rg_pass "the two NASes are on different instances" ||
    rg_fail "NAS placement: nas-1 on '$H1', nas-2 on '$H2'"
other() { [ "$1" = gwa ] && echo gwb || echo gwa; }
sleep 0.5 # the registry reaches Redis within 200 ms
rcli() { redis-cli -p "$REDIS_PORT" -a "$REDIS_PW" --no-auth-warning "$@"; }
# (org acme, NAS-Identifier = kind 2, value in hex) -> "instance coa-host coa-port"
v1=$(rcli get "radsecgw:nas:4:acme:2:$(printf nas-1 | od -An -tx1 | tr -d ' \n')")
v2=$(rcli get "radsecgw:nas:4:acme:2:$(printf nas-2 | od -An -tx1 | tr -d ' \n')")
hp=COA_PORT_$H1
rg_assert_output "$v1" "^$H1 127\.0\.0\.1 ${!hp}\$" \
    "Redis: nas-1 (org acme, NAS-Identifier) held by $H1, with its CoA address"
rg_assert_output "$v2" "^$H2 " "Redis: nas-2 held by $H2"
ttl=$(rcli ttl "$(rcli --scan --pattern 'radsecgw:nas:*' | head -1)")
[ "$ttl" -gt 0 ] && [ "$ttl" -le 30 ] && rg_pass "registry keys expire (TTL $ttl s)" || rg_fail "TTL $ttl"

dac() { # INSTANCE CODE ATTRS
    local p=COA_PORT_$1
    echo "$3" | timeout 20 radclient -x -t 3 -r 1 "127.0.0.1:${!p}" "$2" "$COA_SEC" 2>&1
}
for n in 1 2; do
    for g in gwa gwb; do
        out=$(dac "$g" disconnect "NAS-Identifier = \"nas-$n\", User-Name = \"alice\"")
        rg_assert_output "$out" 'Received Disconnect-ACK' "Disconnect for nas-$n sent to $g: Disconnect-ACK"
    done
    c=$(grep -c 'answered Disconnect-Request id=[0-9]* with Disconnect-ACK' "$RG_TMP/nas$n.log")
    [ "$c" = 2 ] && rg_pass "nas-$n got both Disconnect-Requests over its TLS connection" ||
        rg_fail "nas-$n answered $c Disconnect-Requests, want 2"
done
rg_assert_log "$RG_TMP/$(other "$H1").log" "event=coa_reply client=dac .*nas_identifier=\"nas-1\" instance=$H1 reply=Disconnect-ACK" \
    "$(other "$H1"): nas-1's Disconnect handed to $H1, its ACK relayed"
rg_assert_log "$RG_TMP/$H1.log" "client=dac src=127\.0\.0\.1:[0-9]+ via=cluster code=Disconnect-Request" \
    "$H1: took the hand-off as client dac"
# A wrong cluster secret: the hand-off is discarded (python signs one with a bad secret).
python3 - "${COA_PORT_gwa}" <<'PY'
import hashlib, hmac, os, socket, struct, sys
secret = b"not-the-cluster-secret"
tag = b"radsecgw-cluster dac"
attrs = bytes([80, 18]) + bytes(16) + bytes([32, 7]) + b"nas-1" + bytes([33, 2 + len(tag)]) + tag
hdr = bytes([40, 77]) + struct.pack(">H", 20 + len(attrs))
pkt = bytearray(hdr + bytes(16) + attrs)
pkt[22:38] = hmac.new(secret, bytes(pkt), hashlib.md5).digest()
pkt[4:20] = hashlib.md5(bytes(pkt[:4]) + bytes(16) + bytes(pkt[20:]) + secret).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(bytes(pkt), ("127.0.0.1", int(sys.argv[1])))
PY
rg_wait_log "$RG_TMP/gwa.log" 'event=coa_discarded src=127\.0\.0\.1:[0-9]+ reason="hand-off does not verify with the cluster secret"' 5 gwa &&
    rg_pass "a hand-off signed with another secret is discarded" || rg_fail "forged hand-off not discarded"

# The holder checks the DAC client's orgs itself: on $H1, client dac now reaches only org
# globex, so a Disconnect for nas-1 (acme) through the other instance is refused by $H1.
conf "$H1" globex 'org "globex" {
    ca = {"'"$RG_PKI"'/globex-ca.pem"}
    allow = {"127.0.0.0/8"}
    pool = "corp"
    coa = true
}'
rg_signal "$H1" HUP
rg_wait_log "$RG_TMP/$H1.log" 'event=reload_done' 10 "$H1" || rg_fail "$H1: reload"
out=$(dac "$(other "$H1")" disconnect 'NAS-Identifier = "nas-1", User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-NAK' "client dac may not reach acme on the holder: Disconnect-NAK"
rg_assert_output "$out" 'Error-Cause = Proxy-Request-Not-Routable' "  with Error-Cause 502"
rg_assert_log "$RG_TMP/$H1.log" 'via=cluster.*no connected NAS in the orgs client dac may reach \(a NAS of org acme matches\)' \
    "$H1: refused by the holder's own check of client dac's orgs"
conf "$H1"
rg_signal "$H1" HUP
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c 'event=reload_done' "$RG_TMP/$H1.log")" -ge 2 ] && break
    sleep 0.1
done

# Redis slow (SIGSTOP: connected but silent): a CoA that needs the registry is not held
# waiting for it (radclient -t 3 gets its NAK), local CoA still works, one down line with the
# reason; SIGCONT: the instance reconnects and says so once.
OTHER2=$(other "$H2")
ups=$(grep -c 'event=cluster_redis state=up' "$RG_TMP/$OTHER2.log")
rg_signal redis STOP
out=$(dac "$OTHER2" disconnect 'NAS-Identifier = "nas-2", User-Name = "alice"')
rg_assert_output "$out" 'Error-Cause = Proxy-Request-Not-Routable' "Redis slow: nas-2 through $OTHER2: NAK 502 instead of waiting"
rg_wait_log "$RG_TMP/$OTHER2.log" 'event=cluster_redis state=down .*reason="slow' 5 "$OTHER2" &&
    rg_pass "$OTHER2: Redis slow logged as down" || rg_fail "$OTHER2: no 'slow' down line"
out=$(dac "$H2" disconnect 'NAS-Identifier = "nas-2", User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-ACK' "Redis slow: Disconnect for nas-2 to its own instance $H2: ACK"
rg_signal redis CONT
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c 'event=cluster_redis state=up' "$RG_TMP/$OTHER2.log")" -gt "$ups" ] && break
    sleep 0.1
done
[ "$(grep -c 'event=cluster_redis state=up' "$RG_TMP/$OTHER2.log")" = $((ups + 1)) ] &&
    rg_pass "$OTHER2: Redis answering again: one up line" || rg_fail "$OTHER2: no single up line after SIGCONT"
sleep 0.5 # the registry is published again
declare -A downs
for g in gwa gwb; do downs[$g]=$(grep -c 'event=cluster_redis state=down' "$RG_TMP/$g.log"); done

# Redis stopped: local CoA still works, the other instance's NAS gets a NAK, one line each.
rg_stop redis
for g in gwa gwb; do
    rg_wait_log "$RG_TMP/$g.log" 'event=cluster_redis state=down' 5 "$g" &&
        rg_pass "$g: Redis down logged" || rg_fail "$g: no Redis down line"
done
out=$(dac "$H2" disconnect 'NAS-Identifier = "nas-2", User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-ACK' "Redis down: Disconnect for nas-2 to its own instance $H2: ACK"
out=$(dac "$(other "$H2")" disconnect 'NAS-Identifier = "nas-2", User-Name = "alice"')
rg_assert_output "$out" 'Error-Cause = Proxy-Request-Not-Routable' "Redis down: nas-2 through the other instance: NAK 502"
sleep 1.5
for g in gwa gwb; do
    n=$(($(grep -c 'event=cluster_redis state=down' "$RG_TMP/$g.log") - ${downs[$g]}))
    [ "$n" = 1 ] && rg_pass "$g: one line for the state change, not one per reconnect attempt" ||
        rg_fail "$g: $n Redis down lines"
done
rg_stop nas1
rg_stop nas2

# ---- one instance killed under load ----------------------------------------------------
# New connections (an AP reconnecting through the balancer) keep being answered by the
# other. Connections in flight on the dead one may fail: the AP retries those.
rm -f "$RG_TMP/load.out"
(
    end=$((SECONDS + 6))
    while [ $SECONDS -lt $end ]; do
        ap "$AP_GOOD" --timeout 3 --count 10 auth alice pw 2>&1 | grep '^summary' |
            sed "s/^/t=$SECONDS /" >>"$RG_TMP/load.out"
    done
) &
LOAD_PID=$!
sleep 2
kill -KILL "$(rg_pid gwa)"
rg_log "killed gwa under load"
KILL_AT=$SECONDS
wait "$LOAD_PID"
total=$(wc -l <"$RG_TMP/load.out")
good=$(grep -c 'replies=10 accept=10' "$RG_TMP/load.out")
late_bad=$(awk -v k=$((KILL_AT + 1)) '{split($1,a,"="); if (a[2] > k && $0 !~ /replies=10 accept=10/) n++} END {print n+0}' "$RG_TMP/load.out")
rg_log "load: $good of $total connections fully answered; after kill+1s, $late_bad not"
[ "$total" -ge 10 ] && [ "$good" -ge $((total * 8 / 10)) ] && [ "$late_bad" -eq 0 ] &&
    rg_pass "load continued through gwb ($good/$total connections answered, none lost after the kill settled)" ||
    rg_fail "load through HAProxy after gwa was killed: $good/$total answered, $late_bad failed after the kill"
out=$(ap "$AP_GOOD" --timeout 5 --count 5 auth alice pw 2>&1)
rg_assert_output "$out" 'summary: sent=5 replies=5 accept=5' "after the kill: an AP is answered (by gwb)"

# The refusals before TLS, in aggregate: the untrusted source and the missing header.
rg_assert_log "$RG_TMP/gwa.log" 'event=proxy_protocol_refused untrusted=1 untrusted_sample=127\.0\.0\.7:[0-9]+ ' \
    "gwa: the untrusted direct connection in an aggregate line, with a sample address"
rg_wait_log "$RG_TMP/gwb.log" 'event=proxy_protocol_refused .*malformed=1 malformed_sample=127\.0\.0\.5:[0-9]+ malformed_reason="no PROXY header \(TLS record\)"' 12 gwb &&
    rg_pass "gwb: the header-less connection from the balancer's address in an aggregate line" ||
    rg_fail "gwb: no aggregate line for the missing PROXY header"

rg_finish
