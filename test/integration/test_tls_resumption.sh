#!/usr/bin/env bash
# Issue #14, TLS session resumption (draft-ietf-radext-radiusdtls-bis "TLS Session
# Resumption"): an AP that reconnects with the ticket of its last session resumes it, over
# TLS 1.3 and 1.2, on either of two workers, and is identified again from the chain the gateway
# kept: the same org and CN as its full handshake, and answered. The re-authorization is made
# under the configuration in force: after a reload whose CRL revokes the AP its resumed session
# is refused as revoked; after a reload that removed its org the ticket no longer resumes (the
# full handshake is refused: unknown CA). A radius/1.1 session resumed without radius/1.1 is
# refused (RFC 9765 §"Session Resumption"). An OpenSSL client resumes too, and after a restart
# of the gateway (tickets unknown) falls back to a full handshake.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
P=$RG_PKI
SEC=backend-secret-$RANDOM$RANDOM
LIVE_CRL=$RG_TMP/acme-live.crl
cp "$P/acme.crl" "$LIVE_CRL" # revokes ap-revoked only

rg_fake_backend_start fb "$SEC" accept
GW_PORT=$(rg_free_port)

# gw_conf WITH_GLOBEX(0|1)
gw_conf() {
    local globex=""
    [ "$1" = 1 ] && globex="org \"globex\" {
    ca = {\"$P/globex-ca.pem\"}
    secret = \"radsec\"
    pool = \"corp\"
}"
    cat >"$RG_TMP/radsecgw.conf" <<EOF
workers = 2
listen {
    address = {"127.0.0.1"}
    port = $GW_PORT
    idle-timeout = 60
    radius-1.1 = "allow"
}
tls {
    certificate = "$RG_PKI_SERVER_CHAIN"
    key = "$RG_PKI_SERVER_KEY"
    session-cache = 100
    session-lifetime = 600
}
org "acme" {
    ca = {"$P/acme-ca.pem"}
    crl = {"$LIVE_CRL"}
    secret = "radsec"
    match = {"CN:^Q2"}
    pool = "corp"
}
$globex
pool "corp" {
    timeout = 1
    retries = 1
    status-server = false
    server "b1" { host = "127.0.0.1" auth-port = $FB_PORT_fb acct-port = $FB_PORT_fb secret = "$SEC" }
}
log { level = "debug" requests = true }
EOF
}
gw_conf 1
rg_gateway_start "$RG_TMP/radsecgw.conf"
# The two workers are threads named radsecgw-w0 and radsecgw-w1 (top -H, ps -L).
names=$(cat /proc/"$(rg_pid radsecgw)"/task/*/comm | grep -E '^radsecgw-w[0-9]+$' | sort | tr '\n' ' ')
[ "$names" = "radsecgw-w0 radsecgw-w1 " ] && rg_pass "worker threads named: $names" ||
    rg_fail "worker thread names: '$names'"

# ap NAME SESSION_FILE ARGS...: one request (or ARGS' command) as NAME, resuming SESSION_FILE.
ap() {
    local name=$1 sess=$2
    shift 2
    "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
        --cert "$P/$name.pem" --key "$P/$name.key" --timeout 3 --session "$RG_TMP/$sess" "$@"
}
# conn_open line of the Nth (1-based) conn_open carrying CN
nth_open() { grep -E "event=conn_open .*cn=\"$1\"" "$GW_LOG" | sed -n "$2p"; }

# 1. Resumption over TLS 1.3 and TLS 1.2: same org, same CN, answered.
for v in 1.3 1.2; do
    s=rsa-$v
    before=$(grep -c 'event=conn_open .*cn="Q2AA-BBBB-CCCC"' "$GW_LOG")
    out=$(ap ap-rsa "$s" --tls "$v" auth alice pw 2>&1)
    rg_assert_output "$out" '^session: full' "TLS $v: first connection is a full handshake"
    rg_assert_output "$out" 'summary: sent=1 replies=1 accept=1' "TLS $v: full handshake answered"
    ok=0
    for i in 1 2 3 4; do # two workers: the tickets are one cache for both
        out=$(ap ap-rsa "$s" --tls "$v" auth alice pw 2>&1)
        grep -q '^session: resumed' <<<"$out" && grep -q 'replies=1 accept=1' <<<"$out" &&
            ok=$((ok + 1))
    done
    [ "$ok" = 4 ] && rg_pass "TLS $v: 4 of 4 reconnections resumed and answered" ||
        rg_fail "TLS $v: $ok of 4 reconnections resumed and answered: $out"
    rg_wait_log "$GW_LOG" "event=conn_open .*cn=\"Q2AA-BBBB-CCCC\" .*resumed=yes" 5 || true
    full=$(nth_open Q2AA-BBBB-CCCC $((before + 1)))
    res=$(nth_open Q2AA-BBBB-CCCC $((before + 5)))
    rg_assert_output "$full" "org=acme cn=\"Q2AA-BBBB-CCCC\" tls=TLSv$v .*proto=historic\$" \
        "TLS $v: full handshake identified as acme / Q2AA-BBBB-CCCC"
    rg_assert_output "$res" "org=acme cn=\"Q2AA-BBBB-CCCC\" tls=TLSv$v .* resumed=yes\$" \
        "TLS $v: resumed session identified again as acme / Q2AA-BBBB-CCCC ($res)"
done
workers=$(grep -E 'event=conn_open .*resumed=yes' "$GW_LOG" | grep -Eo 'conn=[0-9]+' | wc -l)
[ "$workers" -ge 8 ] && rg_pass "$workers resumed connections logged" ||
    rg_fail "only $workers resumed connections logged"

# 2. A CRL that revokes ap-ecdsa arrives with a reload: its resumed session is refused.
out=$(ap ap-ecdsa ecdsa auth alice pw 2>&1)
rg_assert_output "$out" '^session: full' "ap-ecdsa: full handshake"
cp "$P/acme-ecdsa-revoked.crl" "$LIVE_CRL.new" && mv "$LIVE_CRL.new" "$LIVE_CRL"
rg_signal radsecgw HUP
rg_wait_log "$GW_LOG" 'event=reload_done generation=2' 10 radsecgw || rg_fail "reload not done"
out=$(ap ap-ecdsa ecdsa --expect-close status 2>&1) &&
    rg_pass "revoked ap-ecdsa: resumed session closed without an answer" ||
    rg_fail "revoked ap-ecdsa: $out"
rg_wait_log "$GW_LOG" 'event=tls_refused .*reason="revoked" .*subject="/O=Acme/CN=Q2EC-DSA0-0001".* resumed=yes' 5 &&
    rg_pass "the resumed session was re-authorized and refused: revoked" ||
    rg_fail "no tls_refused reason=\"revoked\" resumed=yes line for ap-ecdsa"
rg_assert_no_log "$GW_LOG" 'event=conn_open .*cn="Q2EC-DSA0-0001" .*resumed=yes' \
    "ap-ecdsa never opened a resumed connection"

# 3. The org is removed by a reload: its tickets are dropped, the AP gets no resumption.
out=$(ap ap-globex globex auth alice pw 2>&1)
rg_assert_output "$out" '^session: full' "ap-globex: full handshake"
rg_assert_output "$out" 'replies=1 accept=1' "ap-globex answered"
gw_conf 0
rg_signal radsecgw HUP
rg_wait_log "$GW_LOG" 'event=reload_done generation=3' 10 radsecgw || rg_fail "reload not done"
rg_assert_log "$GW_LOG" 'event=tls_sessions_dropped count=[1-9][0-9]* generation=3' \
    "the removed org's sessions dropped at the reload"
out=$(ap ap-globex globex --tls 1.3 --expect-close status 2>&1) &&
    rg_pass "ap-globex after its org was removed: closed without an answer" ||
    rg_fail "ap-globex after its org was removed: $out"
! grep -q '^session: resumed' <<<"$out" && rg_pass "ap-globex: no resumption" ||
    rg_fail "ap-globex resumed after its org was removed"
rg_wait_log "$GW_LOG" 'event=tls_refused .*reason="unknown CA" .*CN=Q2GX-GLOB-0001' 5 &&
    rg_pass "ap-globex refused at its full handshake: unknown CA" ||
    rg_fail "no unknown CA refusal for ap-globex"

# 4. RFC 9765: a radius/1.1 session may resume only as radius/1.1.
out=$(ap ap-rsa r11 --radius-1.1 status 2>&1)
rg_assert_output "$out" '^alpn: radius/1.1' "radius/1.1 session established"
out=$(ap ap-rsa r11 --radius-1.1 status 2>&1)
rg_assert_output "$out" '^session: resumed' "radius/1.1 session resumed as radius/1.1"
rg_assert_output "$out" '^alpn: radius/1.1' "... and still radius/1.1"
# The server MUST close the connection with a TLS error: a fatal alert in the handshake, not
# a finished handshake closed afterwards. The session stays: whoever replays its handle (sent
# in clear) without radius/1.1 loses only their own connection.
for offer in radius/1.0 none; do
    alpn=(--alpn "$offer")
    [ "$offer" = none ] && alpn=()
    out=$(ap ap-rsa r11 "${alpn[@]}" --expect-close status 2>&1) &&
        rg_pass "radius/1.1 session offered with ALPN $offer: closed" ||
        rg_fail "ALPN $offer resumption: $out"
    rg_assert_output "$out" '^TLS handshake failed' "ALPN $offer: refused in the handshake"
    rg_assert_output "$out" '^alert received: level=2 code=[0-9]+' "ALPN $offer: a fatal TLS alert"
    ! grep -q '^session: resumed' <<<"$out" && rg_pass "ALPN $offer: not resumed" ||
        rg_fail "ALPN $offer: the radius/1.1 session resumed"
done
# Before any certificate is seen, refusals are logged once per reason and interval.
rg_wait_log "$GW_LOG" 'event=tls_refused .*reason="ALPN: a radius/1.1 session resumed without radius/1.1"' 5 &&
    rg_pass "refusal logged: a radius/1.1 session resumed without radius/1.1" ||
    rg_fail "no ALPN refusal line for the down-bid resumptions"
out=$(ap ap-rsa r11 --radius-1.1 status 2>&1)
rg_assert_output "$out" '^session: resumed' "the radius/1.1 session still resumes as radius/1.1"

# 5. An OpenSSL client (as radsecproxy and FreeRADIUS use) resumes; after a restart of the
# gateway its ticket is unknown and it gets a full handshake.
if command -v openssl >/dev/null; then
    osl() { # OPTIONS...: one s_client connection, open for a second; prints its output
        sleep 1 | timeout 10 openssl s_client -connect "127.0.0.1:$GW_PORT" \
            -CAfile "$RG_PKI_SERVER_CA" -cert "$P/ap-rsa.pem" -key "$P/ap-rsa.key" "$@" 2>&1
    }
    for v in tls1_3 tls1_2; do
        osl -"$v" -sess_out "$RG_TMP/osl-$v" >"$RG_TMP/osl-$v-1.out"
        # TLS 1.3 tickets come after the handshake: s_client reads them while it stays open.
        out=$(osl -"$v" -sess_in "$RG_TMP/osl-$v")
        rg_assert_output "$out" '^Reused, TLSv1\.[23]' "openssl s_client -$v resumed"
    done
    rg_stop radsecgw
    rg_gateway_start "$RG_TMP/radsecgw.conf"
    for v in tls1_3 tls1_2; do
        out=$(osl -"$v" -sess_in "$RG_TMP/osl-$v")
        rg_assert_output "$out" '^New, TLSv1\.[23]' \
            "openssl s_client -$v: ticket unknown after a restart, full handshake"
    done
    rg_wait_log "$GW_LOG" 'event=conn_open .*cn="Q2AA-BBBB-CCCC"' 5 &&
        rg_pass "the full handshake after the restart was accepted" ||
        rg_fail "no conn_open after the restart"
else
    rg_log "no openssl binary: OpenSSL client checks skipped"
fi

rg_finish
