#!/usr/bin/env bash
# Issue #3 / RFC 6613 §2.6.4: what the gateway does with bad input from an AP on the TLS
# side. A malformed packet or one failing authentication closes that connection (and only
# that one) with a log line naming the reason; framing does not depend on TLS records; a packet with an unknown code is discarded
# and the connection stays open; Status-Server is answered by the gateway itself.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC"
rg_gateway_start "$RG_TMP/gw.conf" gw

# RFC 6613 framing by the Length field: 50 packets in one TLS record, and packets cut into
# 7-octet and 1-octet records, all answered.
out=$(rg_client --timeout 5 --count 50 --records one auth alice pw 2>&1)
rg_assert_output "$out" 'accept=50 .*closed=no' "50 packets in one TLS record: all answered"
out=$(rg_client --timeout 5 --count 5 --records split:7 auth alice pw 2>&1)
rg_assert_output "$out" 'accept=5 .*closed=no' "packets across 7-octet records: all answered"
out=$(rg_client --timeout 5 --count 3 --records split:1 acct start alice 2>&1)
rg_assert_output "$out" 'acct=3 .*closed=no' "packets across 1-octet records: all answered"

# Message-Authenticator computed with the wrong RadSec secret: closed.
out=$(rg_client --secret not-radsec --timeout 3 auth alice pw 2>&1)
rg_assert_output "$out" 'closed=yes' "wrong Message-Authenticator: connection closed"
rg_assert_log "$GW_LOG" 'event=request_bad .*code=Access-Request id=[0-9]+ reason="bad Message-Authenticator" action=close' \
    "wrong Message-Authenticator: logged with the reason"

# Accounting Request Authenticator with the wrong secret: closed.
out=$(rg_client --secret not-radsec --timeout 3 acct start alice 2>&1)
rg_assert_output "$out" 'closed=yes' "wrong Accounting Request Authenticator: connection closed"
rg_assert_log "$GW_LOG" 'event=request_bad .*reason="bad Accounting Request Authenticator" action=close' \
    "wrong Accounting Request Authenticator: logged"

# Length field 10 (< 20): closed, with the reason.
out=$(rg_client --timeout 3 raw 0101000a00000000000000000000000000000000 2>&1)
rg_assert_output "$out" 'closed=yes' "Length field below 20: connection closed"
rg_assert_log "$GW_LOG" 'event=packet_malformed .*reason="Length field 10 outside 20..4096"' \
    "Length field below 20: logged"

# Attribute of length 1 at offset 20: closed, reason names the offset and type.
out=$(rg_client --timeout 3 raw 01020016000000000000000000000000000000000101 2>&1)
rg_assert_output "$out" 'closed=yes' "attribute length 1: connection closed"
rg_assert_log "$GW_LOG" 'event=packet_malformed .*code=Access-Request id=2 reason="[^"]*offset 20' \
    "attribute length 1: logged with offset"

# Unknown code 99 (well formed): discarded, connection stays open and still answers.
out=$(rg_client --timeout 2 raw 63030014000000000000000000000000000000ff 2>&1)
rg_assert_output "$out" 'closed=no' "unknown code: connection stays open"
rg_assert_log "$GW_LOG" 'event=request_dropped .*code=[^ ]*99 id=3 reason="not proxied"' "unknown code: logged"

# Issue #8: authentic requests the gateway cannot forward are discarded with a line saying
# why, and the connection stays (only failed authentication closes it).
out=$(rg_client --timeout 2 --attr "Attr-2=0x$(printf '41%.0s' {1..20})" chap alice pw 2>&1)
rg_assert_output "$out" 'closed=no' "User-Password of 20 octets: connection stays"
rg_assert_log "$GW_LOG" 'event=request_discarded .*reason="User-Password not a multiple of 16 octets' \
    "User-Password of 20 octets: logged"
out=$(rg_client --timeout 2 --attr "Attr-2=0x$(printf '41%.0s' {1..16})" auth alice pw 2>&1)
rg_assert_output "$out" 'closed=no' "two User-Passwords: connection stays"
rg_assert_log "$GW_LOG" 'event=request_discarded .*reason="User-Password more than once' \
    "two User-Passwords: logged"
# A CHAP request of 4085 octets: no room for the CHAP-Challenge the gateway must add.
class=$(printf '43%.0s' {1..253})
big=()
for i in {1..15}; do big+=(--attr "Class=0x$class"); done
big+=(--attr "Class=0x$(printf '43%.0s' {1..154})")
out=$(rg_client --timeout 2 --count 3 "${big[@]}" chap alice pw 2>&1)
rg_assert_output "$out" 'closed=no' "4085-octet CHAP requests: connection stays"
rg_assert_log "$GW_LOG" 'event=request_discarded .*length=4085 reason="no room for Message-Authenticator / CHAP-Challenge' \
    "4085-octet CHAP requests: dropped with a reason"
rg_assert_no_log "$GW_LOG" 'event=conn_paused' "4085-octet CHAP requests: no connection paused"

# Status-Server: the gateway answers, the backend never sees it.
out=$(rg_client --timeout 3 --attr Proxy-State=0x0a0b0c status 2>&1)
rg_assert_output "$out" '^Access-Accept' "Status-Server answered"
rg_assert_output "$out" 'Proxy-State = 0x0a0b0c' "Status-Server answer echoes Proxy-State (RFC 2865 §5.33)"
report=$(rg_fake_backend_report fb)
n=$(rg_report_value "$report" code_12)
[ "$n" = 0 ] && rg_pass "Status-Server not proxied" || rg_fail "backend saw $n Status-Server"

# And a normal request still works after all of that.
out=$(rg_client --timeout 5 auth alice pw 2>&1)
rg_assert_output "$out" '^Access-Accept' "good request after the bad ones: accepted"
rg_alive gw && rg_pass "gateway still running" || rg_fail "gateway died"
rg_stop gw && rg_pass "gateway exits 0 on SIGTERM" || rg_fail "gateway exit status non-zero"

# when-dead = "reject": the gateway's own Access-Reject echoes Proxy-State (RFC 2865 §5.33).
rg_fake_backend_start silent "$FB_SEC" drop
rg_gateway_conf "$RG_TMP/gw-reject.conf" --backend "127.0.0.1:$FB_PORT_silent:$FB_PORT_silent:$FB_SEC" \
    --when-dead reject --timeout 1 --retries 0
rg_gateway_start "$RG_TMP/gw-reject.conf" gw-reject
out=$(rg_client --timeout 5 --attr Proxy-State=0x0d0e auth alice pw 2>&1)
rg_assert_output "$out" '^Access-Reject' "when-dead reject: Access-Reject from the gateway"
rg_assert_output "$out" 'Proxy-State = 0x0d0e' "when-dead reject: the Access-Reject echoes Proxy-State"
rg_stop gw-reject
rg_stop silent
rg_finish
