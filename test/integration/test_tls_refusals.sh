#!/usr/bin/env bash
# Issue #3, who may connect: radsecgw refuses a client certificate from a CA no org trusts
# (TLS 1.2 and 1.3), an expired certificate, a client with no certificate and a plain TCP
# client sending RADIUS in the clear. Each refusal closes that connection only and is logged
# once with the address and the reason (DESIGN.md: "Every rejected TLS peer is logged with
# address, reason ... and the certificate subject"). A good AP keeps working throughout.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM

rg_fake_backend_start fb "$FB_SEC" accept
rg_gateway_conf "$RG_TMP/radsecgw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC"
rg_gateway_start "$RG_TMP/radsecgw.conf"

client() {
    "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
        --timeout 5 "$@" 2>&1
}

# lines_since N FILE: FILE from line N+1 on (so each check looks only at its own attempt).
lines_since() { tail -n "+$(($1 + 1))" "$2"; }
mark() { wc -l <"$GW_LOG"; }

# expect_refused DESCRIPTION LOG_REGEX CLIENT_ARGS...
expect_refused() {
    local what=$1 re=$2 m out st
    shift 2
    m=$(mark)
    out=$(client --expect-close "$@" status)
    st=$?
    if [ $st = 0 ]; then
        rg_pass "$what: connection refused"
    else
        rg_fail "$what: not refused (radsec_client exit $st):"
        sed 's/^/    | /' <<<"$out" >&2
    fi
    sleep 0.3
    if lines_since "$m" "$GW_LOG" | grep -Eiq -- "$re"; then
        rg_pass "$what: logged ($(lines_since "$m" "$GW_LOG" | grep -Eim1 -- "$re"))"
    else
        rg_fail "$what: no gateway log line matching /$re/ (new lines:)"
        lines_since "$m" "$GW_LOG" | tail -n 10 | sed 's/^/    | /' >&2
    fi
}

good() {
    local out st
    out=$(client --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" auth alice "$1")
    st=$?
    [ $st = 0 ] && rg_pass "good AP accepted ($2)" || {
        rg_fail "good AP not served ($2), exit $st:"
        sed 's/^/    | /' <<<"$out" >&2
    }
}

good pw1 "before the refusals"

expect_refused "rogue CA, TLS 1.3" \
    '127\.0\.0\.1.*(unknown (CA|issuer)|unable to get (local )?issuer)' \
    --tls 1.3 --cert "$RG_PKI_ROGUE_CERT" --key "$RG_PKI_ROGUE_KEY"
expect_refused "rogue CA, TLS 1.2" \
    '127\.0\.0\.1.*(unknown (CA|issuer)|unable to get (local )?issuer)' \
    --tls 1.2 --cert "$RG_PKI_ROGUE_CERT" --key "$RG_PKI_ROGUE_KEY"
# The subject is in the log line when the peer sent a certificate.
rg_assert_log "$GW_LOG" 'Q2RG-ROGU-0001' "rogue certificate subject logged"

expect_refused "expired certificate" '127\.0\.0\.1.*expired' \
    --cert "$RG_PKI/ap-expired.pem" --key "$RG_PKI/ap-expired.key"

expect_refused "no client certificate" '127\.0\.0\.1.*(no (client )?certificate|certificate required|peer did not return a certificate)'

# Plain TCP with a RADIUS Status-Server in the clear: the gateway must close it.
m=$(mark)
res=$(python3 - "$GW_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=8)
# Status-Server, ID 1, Length 38, zero authenticator, zeroed Message-Authenticator
s.sendall(bytes.fromhex("0c010026" + "00" * 16 + "5012" + "00" * 16))
try:
    while s.recv(4096):   # a TLS alert may come first; wait for the close
        pass
    print("closed")
except ConnectionResetError:
    print("closed (reset)")
except socket.timeout:
    print("open")
EOF
)
case $res in
closed*) rg_pass "plain TCP RADIUS: connection closed ($res)" ;;
*) rg_fail "plain TCP RADIUS: connection left open ($res)" ;;
esac
sleep 0.3
if lines_since "$m" "$GW_LOG" | grep -Eiq '127\.0\.0\.1.*(handshake|not TLS|version|record|protocol|refused)'; then
    rg_pass "plain TCP RADIUS: logged ($(lines_since "$m" "$GW_LOG" | grep -Eim1 '127\.0\.0\.1.*(handshake|not TLS|version|record|protocol|refused)'))"
else
    rg_fail "plain TCP RADIUS: no gateway log line with the address and a reason:"
    lines_since "$m" "$GW_LOG" | tail -n 10 | sed 's/^/    | /' >&2
fi

good pw2 "after the refusals"
rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"

# Nothing of the refused peers reached the backend: only the two good requests did.
report=$(rg_fake_backend_report fb)
n=$(rg_report_value "$report" requests)
[ "$n" = 2 ] && rg_pass "backend saw only the good AP's 2 requests" ||
    rg_fail "backend saw $n requests, expected 2"
rg_finish
