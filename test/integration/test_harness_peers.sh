#!/usr/bin/env bash
# The test peers themselves, without the gateway: FreeRADIUS with the generated raddb answers
# radclient (PAP accept/reject, accounting, Status-Server) and eapol_test (PEAP/MSCHAPv2 and
# EAP-TLS with matching MPPE keys); fake_backend's replies pass radclient's checks
# (Response Authenticator, Message-Authenticator, hidden attributes); radsec_client works
# against radsecproxy as a RadSec server. When this fails, the gateway tests cannot be trusted.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need freeradius radclient radsecproxy eapol_test
rg_tmpdir >/dev/null
rg_pki
FR_SEC=backend-secret-1

rg_freeradius_start "$FR_SEC"

# PAP through radclient.
out=$(printf 'User-Name = alice\nUser-Password = wonderland\nMessage-Authenticator = 0x00\n' |
    radclient -x -r 1 -t 3 "127.0.0.1:$FR_AUTH_PORT" auth "$FR_SEC" 2>&1)
rg_assert_output "$out" 'Received Access-Accept' "FreeRADIUS: alice/wonderland accepted"
rg_assert_output "$out" 'Tunnel-Password:0 = "tunnel-alice"' "FreeRADIUS: Tunnel-Password sent"
# The stock reply behaviour the gateway must work with (issue #8): Debian's FreeRADIUS 3.2.1
# answers PAP without Message-Authenticator, even though the request had one.
rg_assert_no_log <(sed -n '/Received Access-Accept/,$p' <<<"$out") 'Message-Authenticator' \
    "FreeRADIUS (stock): PAP reply without Message-Authenticator"
out=$(printf 'User-Name = alice\nUser-Password = nope\n' |
    radclient -x -r 1 -t 3 "127.0.0.1:$FR_AUTH_PORT" auth "$FR_SEC" 2>&1)
rg_assert_output "$out" 'Received Access-Reject' "FreeRADIUS: wrong password rejected"
out=$(printf 'Acct-Status-Type = Start\nUser-Name = alice\nAcct-Session-Id = "h1"\n' |
    radclient -x -r 1 -t 3 "127.0.0.1:$FR_ACCT_PORT" acct "$FR_SEC" 2>&1)
rg_assert_output "$out" 'Received Accounting-Response' "FreeRADIUS: accounting answered"
out=$(printf 'Message-Authenticator = 0x00\n' |
    radclient -x -r 1 -t 3 "127.0.0.1:$FR_AUTH_PORT" status "$FR_SEC" 2>&1)
rg_assert_output "$out" 'Received Access-Accept' "FreeRADIUS: Status-Server answered"
sed -n '/Received Access-Accept/,$p' <<<"$out" | grep -q 'Message-Authenticator' &&
    rg_log "FreeRADIUS signs its Status-Server answer" ||
    rg_log "FreeRADIUS does not sign its Status-Server answer"

# EAP straight to FreeRADIUS.
rg_eapol_peap_conf "$RG_TMP/peap.conf"
rg_eapol_tls_conf "$RG_TMP/eap-tls.conf"
rg_eapol eapol-peap "$RG_TMP/peap.conf" "$FR_AUTH_PORT" "$FR_SEC"
rg_eapol eapol-tls "$RG_TMP/eap-tls.conf" "$FR_AUTH_PORT" "$FR_SEC"

# fake_backend answers radclient; radclient checks the authenticators and decrypts.
FB_SEC=fake-secret-2
rg_fake_backend_start fb "$FB_SEC" accept --password wonderland
out=$(printf 'User-Name = alice\nUser-Password = wonderland\nMessage-Authenticator = 0x00\nProxy-State = 0x0a0b\n' |
    radclient -x -r 1 -t 3 "127.0.0.1:$FB_PORT_fb" auth "$FB_SEC" 2>&1)
rg_assert_output "$out" 'Received Access-Accept' "fake_backend: Access-Accept verified by radclient"
rg_assert_output "$out" 'Tunnel-Password:1 = "fake-tunnel-password"' \
    "fake_backend: Tunnel-Password decrypts"
rg_assert_output "$out" 'MS-MPPE-Send-Key = 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f' \
    "fake_backend: MS-MPPE-Send-Key decrypts"
rg_assert_output "$out" 'MS-MPPE-Recv-Key = 0x202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f' \
    "fake_backend: MS-MPPE-Recv-Key decrypts"
rg_assert_output "$out" 'Proxy-State = 0x0a0b' "fake_backend: Proxy-State echoed"
out=$(printf 'Acct-Status-Type = Stop\nUser-Name = alice\nAcct-Session-Id = "h2"\n' |
    radclient -x -r 1 -t 3 "127.0.0.1:$FB_PORT_fb" acct "$FB_SEC" 2>&1)
rg_assert_output "$out" 'Received Accounting-Response' "fake_backend: Accounting-Response verified"
out=$(printf 'Message-Authenticator = 0x00\n' |
    radclient -x -r 1 -t 3 "127.0.0.1:$FB_PORT_fb" status "$FB_SEC" 2>&1)
rg_assert_output "$out" 'Received Access-Accept' "fake_backend: Status-Server answered"
# Wrong secret: the Message-Authenticator check drops the request.
printf 'User-Name = alice\nUser-Password = wonderland\nMessage-Authenticator = 0x00\n' |
    radclient -r 1 -t 1 "127.0.0.1:$FB_PORT_fb" auth not-the-secret >/dev/null 2>&1
report=$(rg_fake_backend_report fb)
[ "$(rg_report_value "$report" access_request)" = 2 ] && rg_pass "fake_backend counts requests" ||
    rg_fail "fake_backend access_request count: $report"
[ "$(rg_report_value "$report" bad_msgauth)" = 1 ] && rg_pass "fake_backend counts a bad Message-Authenticator" ||
    rg_fail "fake_backend bad_msgauth: $report"
[ "$(rg_report_value "$report" password_ok)" = 1 ] && rg_pass "fake_backend checks User-Password" ||
    rg_fail "fake_backend password_ok: $report"

# radsec_client through radsecproxy (RadSec server) to FreeRADIUS.
rg_radsecproxy_server_start "$FR_AUTH_PORT" "$FR_ACCT_PORT" "$FR_SEC"
rc() {
    "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$RSPS_PORT" --ca "$RG_PKI_SERVER_CA" \
        --timeout 5 "$@"
}
good=(--cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY")
out=$(rc "${good[@]}" auth alice wonderland 2>&1)
st=$?
[ $st = 0 ] && rg_pass "radsec_client: accept exits 0" || rg_fail "radsec_client accept exit $st: $out"
rg_assert_output "$out" 'Tunnel-Password:0 = "tunnel-alice"' "radsec_client: decrypts Tunnel-Password"
out=$(rc "${good[@]}" --tls 1.2 auth alice nope 2>&1)
st=$?
[ $st = 1 ] && rg_pass "radsec_client: reject exits 1 (TLS 1.2)" || rg_fail "radsec_client reject exit $st: $out"
out=$(rc "${good[@]}" --tls 1.3 --count 10 acct start alice 2>&1)
st=$?
[ $st = 0 ] && rg_pass "radsec_client: 10 pipelined Accounting-Requests (TLS 1.3)" ||
    rg_fail "radsec_client acct exit $st: $out"
rg_assert_output "$out" 'acct=10 ' "radsec_client: 10 Accounting-Responses"
out=$(rc "${good[@]}" --secret wrong-secret --timeout 2 auth alice wonderland 2>&1)
st=$?
[ $st = 2 ] && rg_pass "radsec_client: unanswered request exits 2" || rg_fail "radsec_client wrong secret exit $st: $out"
out=$(rc --cert "$RG_PKI_ROGUE_CERT" --key "$RG_PKI_ROGUE_KEY" --expect-close status 2>&1)
st=$?
[ $st = 0 ] && rg_pass "radsec_client: --expect-close sees a rogue certificate refused" ||
    rg_fail "radsec_client rogue exit $st: $out"

rg_finish
