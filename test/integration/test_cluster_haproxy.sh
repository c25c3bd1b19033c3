#!/usr/bin/env bash
# Issue 18, scale-out: Debian's HAProxy (mode tcp, send-proxy-v2, health checks) in front of
# two radsecgw instances on loopback. APs bound to 127.x source addresses are answered
# through HAProxy with org acme's allow matching their own address (the PROXY v2 header's,
# not the balancer's); an AP whose address acme does not allow is refused; a direct
# connection from an address not in proxy-from is refused before any TLS; a bare connect and
# a PROXY LOCAL header (HAProxy's two kinds of health check) are counted and closed quietly;
# one instance killed under load, new connections go on through the other.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need haproxy python3
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw

BALANCER=127.0.0.5   # HAProxy's source address towards the gateways (proxy-from)
AP_GOOD=127.0.0.7    # in acme's allow
AP_BAD=127.0.0.9     # not in acme's allow
HA_PORT=$(rg_free_port)

# gw NAME: config and start of one instance (GW_PORT_<NAME>, log $RG_TMP/NAME.log).
gw() {
    local name=$1
    rg_gateway_conf "$RG_TMP/$name.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
        --allow "127.0.0.1/32,$AP_GOOD/32" --stats-interval 1 \
        --listen-extra "proxy-protocol = true" --listen-extra "proxy-from = {\"$BALANCER/32\"}"
    rg_gateway_start "$RG_TMP/$name.conf" "$name"
    printf -v "GW_PORT_$name" '%s' "$GW_PORT"
}
gw gwa
gw gwb

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
for g in gwa gwb; do
    for ((i = 0; i < 50; i++)); do
        n=$(rg_stats_last "$RG_TMP/$g.log" proxy_checks)
        [ "$n" -ge 3 ] && break
        sleep 0.1
    done
    [ "$n" -ge 3 ] && rg_pass "$g: $n balancer health checks counted" ||
        rg_fail "$g: proxy_checks=$n"
done
rg_assert_log "$RG_TMP/gwa.log" 'event=conn_close conn=[0-9]+ src=127\.0\.0\.5:[0-9]+ state=proxy_header reason="balancer health check \(connect\)"' \
    "gwa: bare-connect checks recognised"
rg_assert_log "$RG_TMP/gwb.log" 'event=conn_close conn=[0-9]+ src=127\.0\.0\.5:[0-9]+ state=proxy_header reason="balancer health check \(PROXY LOCAL\)"' \
    "gwb: PROXY LOCAL checks recognised"
rg_assert_no_log "$RG_TMP/gwb.log" 'event=tls_refused conn=[0-9]+ src=127\.0\.0\.5:' "gwb: health checks are no TLS refusals"

# One instance killed under load: new connections (an AP reconnecting through the balancer)
# keep being answered by the other. Connections in flight on the dead one may fail: the AP
# retries those.
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

# The refusals before TLS on gwb, in aggregate: the untrusted source and the missing header.
rg_assert_log "$RG_TMP/gwa.log" 'event=proxy_protocol_refused untrusted=1 untrusted_sample=127\.0\.0\.7:[0-9]+ ' \
    "gwa: the untrusted direct connection in an aggregate line, with a sample address"
rg_wait_log "$RG_TMP/gwb.log" 'event=proxy_protocol_refused .*malformed=1 malformed_sample=127\.0\.0\.5:[0-9]+ malformed_reason="no PROXY header \(TLS record\)"' 12 gwb &&
    rg_pass "gwb: the header-less connection from the balancer's address in an aggregate line" ||
    rg_fail "gwb: no aggregate line for the missing PROXY header"

rg_finish
