#!/usr/bin/env bash
# Reverse CoA (RFC 5176, draft-ietf-radext-reverse-coa): radclient, as the RADIUS server's
# Dynamic Authorization Client, sends Disconnect/CoA-Requests over UDP to the gateway's coa
# port; the gateway finds the NAS by the NAS-Identifier it learned from the AP's own
# Access-Request, sends the request down the AP's TLS connection re-signed with the RadSec
# secret, and relays the AP's ACK/NAK back re-signed with the client's secret. Unroutable
# requests get a NAK with Error-Cause 502; a bad client secret gets no answer at all.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need radclient
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
COA_SEC=coa-client-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --org-coa true --coa-client "dac:$COA_SEC" --stats-interval 1
rg_gateway_start "$RG_TMP/gw.conf" gw
rg_wait_port "$COA_PORT" udp 10 gw || rg_die "no coa listener on $COA_PORT"

# Two APs held open: ap-1 acknowledges, ap-2 refuses (NAK with Error-Cause 503).
rg_start ap1 "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --hold 120 --answer-coa ack \
    --attr NAS-Identifier=ap-1 auth alice pw
rg_start ap2 "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --hold 120 --answer-coa nak \
    --attr NAS-Identifier=ap-2 --attr NAS-IP-Address=192.0.2.77 auth alice pw
rg_wait_log "$RG_TMP/ap1.log" '^holding' 10 ap1 || rg_die "ap1 did not connect"
rg_wait_log "$RG_TMP/ap2.log" '^holding' 10 ap2 || rg_die "ap2 did not connect"
rg_assert_log "$GW_LOG" 'event=coa_registered .*nas_identifier="ap-1"' "registry learned ap-1"

# radclient: -x prints the reply and its attributes; short timeout, one try.
dac() { # CODE SECRET ATTRS
    echo "$3" | timeout 20 radclient -x -t 2 -r 1 "127.0.0.1:$COA_PORT" "$1" "$2" 2>&1
}

out=$(dac disconnect "$COA_SEC" 'NAS-Identifier = "ap-1", User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-ACK' "Disconnect-Request to ap-1: Disconnect-ACK"
rg_assert_log "$RG_TMP/ap1.log" 'answered Disconnect-Request id=[0-9]+ with Disconnect-ACK' \
    "ap-1 got the Disconnect-Request over TLS, authenticator good with the RadSec secret"
rg_assert_log "$GW_LOG" 'event=coa_reply client=dac .*code=Disconnect-Request id=[0-9]+ nas_identifier="ap-1" conn=[0-9]+ .*reply=Disconnect-ACK' \
    "one log line: client, NAS, code, result"

# Message-Authenticator in the request: checked with the client's secret, re-signed for the AP.
out=$(dac coa "$COA_SEC" 'NAS-Identifier = "ap-1", User-Name = "alice", Message-Authenticator = 0x00, Session-Timeout = 60')
rg_assert_output "$out" 'Received CoA-ACK' "CoA-Request with Message-Authenticator to ap-1: CoA-ACK"
rg_assert_log "$RG_TMP/ap1.log" 'Message-Authenticator = ok' "ap-1 saw a good Message-Authenticator"

# nak mode AP: its CoA-NAK and Error-Cause are relayed; found by NAS-IP-Address too.
out=$(dac coa "$COA_SEC" 'NAS-Identifier = "ap-2", User-Name = "alice", Session-Timeout = 60')
rg_assert_output "$out" 'Received CoA-NAK' "CoA-Request to ap-2: CoA-NAK"
rg_assert_output "$out" 'Error-Cause = Session-Context-Not-Found' "AP's Error-Cause 503 relayed"
out=$(dac disconnect "$COA_SEC" 'NAS-IP-Address = 192.0.2.77, User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-NAK' "Disconnect by NAS-IP-Address to ap-2: NAK"
rg_assert_output "$out" 'Session-Context-Not-Found' "by NAS-IP-Address: the AP answered"

# Unknown NAS: the gateway itself NAKs with 502 (reverse-coa "Errors and Fail Over").
out=$(dac disconnect "$COA_SEC" 'NAS-Identifier = "ap-nowhere", User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-NAK' "unknown NAS-Identifier: Disconnect-NAK"
rg_assert_output "$out" 'Error-Cause = Proxy-Request-Not-Routable' "unknown NAS: Error-Cause 502"
rg_assert_log "$GW_LOG" 'nas_identifier="ap-nowhere" error_cause=502 reason="no connected NAS' "unknown NAS logged"

# Hidden attribute: refused with 401 rather than forwarded with garbage.
out=$(dac coa "$COA_SEC" 'NAS-Identifier = "ap-1", Tunnel-Password = "secret"')
rg_assert_output "$out" 'Error-Cause = Unsupported-Attribute' "Tunnel-Password in CoA: NAK 401"

# Wrong client secret: silently discarded (radclient gets nothing).
out=$(dac disconnect "wrong-secret-$RANDOM" 'NAS-Identifier = "ap-1", User-Name = "alice"')
rg_assert_output "$out" 'No reply from server' "bad client secret: no answer"
rg_assert_log "$GW_LOG" 'event=coa_discarded client=dac .*reason="bad Request Authenticator' \
    "bad client secret: logged"

# The AP must not have been sent the discarded request: ap-1 answered exactly two.
n=$(grep -c '^answered ' "$RG_TMP/ap1.log")
[ "$n" = 2 ] && rg_pass "ap-1 answered 2 requests" || rg_fail "ap-1 answered $n requests, want 2"

# A NAS that never answers: radclient retransmits (same ID and authenticator) while the
# request is in flight; the gateway does not send it twice, and forgets it after 10 s.
rg_start ap3 "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --hold 120 \
    --attr NAS-Identifier=ap-3 auth alice pw
rg_wait_log "$RG_TMP/ap3.log" '^holding' 10 ap3 || rg_die "ap3 did not connect"
out=$(echo 'NAS-Identifier = "ap-3", User-Name = "alice"' |
    timeout 20 radclient -x -t 2 -r 3 "127.0.0.1:$COA_PORT" disconnect "$COA_SEC" 2>&1)
rg_assert_output "$out" 'No reply from server' "silent NAS: no answer to the DAC"
rg_assert_log "$GW_LOG" 'event=coa_duplicate .*code=Disconnect-Request id=[0-9]+ reason="retransmission of a request in flight"' \
    "retransmission in flight: dropped"
n=$(grep -c '^Disconnect-Request id=[0-9]*: no request with this id' "$RG_TMP/ap3.log")
[ "$n" = 1 ] && rg_pass "silent NAS got the request once" || rg_fail "silent NAS got it $n times"
rg_wait_log "$GW_LOG" 'event=coa_timeout .*nas_identifier="ap-3" conn=[0-9]+ .*timeout_s=10 ' 12 gw &&
    rg_pass "silent NAS: forgotten after the timeout" || rg_fail "no timeout line"
rg_stop ap3

# Org switched to coa = false by a reload: the NAS is known but may not get CoA -> 502. The
# coa socket is kept (same address and port).
rg_gateway_conf "$RG_TMP/gw.conf" --port "$GW_PORT" \
    --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" --org-coa false \
    --coa-client "dac:$COA_SEC" --stats-interval 1
rg_signal gw HUP
rg_wait_log "$GW_LOG" 'event=reload_done' 10 gw || rg_fail "reload did not finish"
out=$(dac disconnect "$COA_SEC" 'NAS-Identifier = "ap-1", User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-NAK' "org coa = false: Disconnect-NAK"
rg_assert_output "$out" 'Proxy-Request-Not-Routable' "org coa = false: Error-Cause 502"
rg_assert_log "$GW_LOG" 'org acme has coa = false' "org coa = false: logged"
n=$(grep -c 'event=coa_listening' "$GW_LOG")
[ "$n" = 1 ] && rg_pass "coa socket kept across the reload" || rg_fail "coa socket opened $n times"

sleep 1.5
rg_assert_log "$GW_LOG" 'event=stats workers=.* coa_requests=[1-9].* coa_replies=4 coa_nak_unroutable=2 coa_nak_local=1 coa_timeouts=1 coa_duplicates=[1-9]' \
    "stats: coa counters"

# The AP closes: its identities leave the registry.
rg_stop ap1
rg_wait_log "$GW_LOG" 'event=conn_close .*reason="(closed by peer|close_notify)' 10 gw
rg_gateway_conf "$RG_TMP/gw.conf" --port "$GW_PORT" \
    --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" --org-coa true \
    --coa-client "dac:$COA_SEC" --stats-interval 1
rg_signal gw HUP
sleep 1
out=$(dac disconnect "$COA_SEC" 'NAS-Identifier = "ap-1", User-Name = "alice"')
rg_assert_output "$out" 'Proxy-Request-Not-Routable' "after ap-1 closed: 502"
out=$(dac disconnect "$COA_SEC" 'NAS-Identifier = "ap-2", User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-NAK' "ap-2 still routed after the reload"

# A second tenant with coa = true: a coa client without orgs is now refused by the reload
# (it could reach both tenants' NASes), and the running config stays.
rg_gateway_conf "$RG_TMP/gw.conf" --port "$GW_PORT" \
    --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" --org-coa true \
    --coa-client "dac:$COA_SEC" --stats-interval 1 \
    --extra "org \"globex\" { ca = {\"$RG_PKI/globex-ca.pem\"} pool = \"corp\" coa = true }"
rg_signal gw HUP
rg_wait_log "$GW_LOG" 'event=reload_failed' 10 gw &&
    rg_pass "coa client without orgs, two orgs with coa: reload refused" ||
    rg_fail "reload with an unscoped coa client was not refused"
rg_assert_log "$GW_LOG" 'gw.conf:[0-9]+: client \\"dac\\": orgs is not set: 2 orgs have coa = true' \
    "the refusal names file:line and the reason"

# The client names acme. An AP of globex claims ap-2's NAS-Identifier: identities are
# registered per org, so the Disconnect still reaches acme's ap-2 and never globex's AP.
rg_gateway_conf "$RG_TMP/gw.conf" --port "$GW_PORT" \
    --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" --org-coa true \
    --coa-client "dac:$COA_SEC:127.0.0.1:acme" --stats-interval 1 \
    --extra "org \"globex\" { ca = {\"$RG_PKI/globex-ca.pem\"} pool = \"corp\" coa = true }"
n0=$(grep -c 'event=reload_done' "$GW_LOG")
rg_signal gw HUP
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c 'event=reload_done' "$GW_LOG")" -gt "$n0" ] && break
    sleep 0.1
done
[ "$i" -lt 100 ] || rg_fail "reload with org globex did not finish"
rg_start ap4 "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI/ap-globex.pem" --key "$RG_PKI/ap-globex.key" --hold 60 --answer-coa ack \
    --attr NAS-Identifier=ap-2 auth alice pw
rg_wait_log "$RG_TMP/ap4.log" '^holding' 10 ap4 || rg_die "ap4 (globex) did not connect"
rg_wait_log "$GW_LOG" 'event=coa_registered .*org=globex nas_identifier="ap-2"' 10 gw ||
    rg_fail "globex AP's claim not registered"
out=$(dac disconnect "$COA_SEC" 'NAS-Identifier = "ap-2", User-Name = "alice"')
rg_assert_output "$out" 'Session-Context-Not-Found' \
    "identity claimed in two orgs: acme's client reaches acme's ap-2 (its NAK relayed)"
n=$(grep -c '^answered ' "$RG_TMP/ap4.log")
[ "$n" = 0 ] && rg_pass "the other tenant's NAS got nothing" || rg_fail "globex AP answered $n"
rg_stop ap4

rg_alive gw && rg_pass "gateway still running" || rg_fail "gateway died"
rg_stop ap2
rg_stop gw && rg_pass "gateway exits 0 on SIGTERM" || rg_fail "gateway exit status non-zero"
rg_finish
