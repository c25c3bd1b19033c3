#!/usr/bin/env bash
# Issue #5, live re-check (draft-ietf-radext-radiusdtls-bis §3.3: when the trusted CAs change
# or new revocation data arrives, every connected peer is re-assessed). Three APs hold their
# connections open and keep sending requests: ap-rsa and ap-ecdsa of org acme, ap-globex of
# org globex. Then the acme CRL file is replaced by one that revokes ap-ecdsa, org globex is
# removed from the config, and the gateway gets SIGHUP: ap-ecdsa and ap-globex are closed,
# each with one log line giving the reason, and ap-rsa stays connected and is still answered.
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
}
tls {
    certificate = "$RG_PKI_SERVER_CHAIN"
    key = "$RG_PKI_SERVER_KEY"
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

hold() { # NAME: hold a connection with NAME.pem for 40 s, one request a second
    "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
        --cert "$P/$1.pem" --key "$P/$1.key" --timeout 3 --hold 40 --hold-every 1 \
        auth "user-$1" pw >"$RG_TMP/hold-$1.out" 2>&1 &
    HOLD_PID[$1]=$!
}
declare -A HOLD_PID=()
for ap in ap-rsa ap-ecdsa ap-globex; do hold $ap; done
for ap in ap-rsa ap-ecdsa ap-globex; do
    rg_wait_log "$RG_TMP/hold-$ap.out" '^holding' 10 ||
        { cat "$RG_TMP/hold-$ap.out" >&2; rg_die "$ap did not connect"; }
done
rg_wait_log "$RG_TMP/hold-ap-globex.out" '^hold: answered' 5 ||
    rg_fail "held connections not answered before the reload"
rg_pass "three APs connected and held open"

# The CRL update lands (atomically, as an operator's tool would do it), globex is removed.
cp "$P/acme-ecdsa-revoked.crl" "$LIVE_CRL.new" && mv "$LIVE_CRL.new" "$LIVE_CRL"
gw_conf 0
answered_before=$(grep -c '^hold: answered' "$RG_TMP/hold-ap-rsa.out")
rg_signal radsecgw HUP
rg_wait_log "$GW_LOG" 'event=reload_done' 10 radsecgw || rg_fail "reload not done"

re_ec='event=conn_close conn=[0-9]+ src=127\.0\.0\.1:[0-9]+ cn="Q2EC-DSA0-0001" org=acme reason="no longer verifies after reload: revoked'
re_gx='event=conn_close conn=[0-9]+ src=127\.0\.0\.1:[0-9]+ cn="Q2GX-GLOB-0001" org=globex reason="no longer verifies after reload: unknown CA'
rg_wait_log "$GW_LOG" "$re_ec" 5 &&
    rg_pass "revoked AP disconnected: $(grep -Eo 'cn="Q2EC[^"]*" org=[^ ]* reason="no longer verifies[^"]*"' "$GW_LOG")" ||
    rg_fail "no 'no longer verifies after reload: revoked' line for ap-ecdsa"
rg_wait_log "$GW_LOG" "$re_gx" 5 &&
    rg_pass "AP of the removed org disconnected: $(grep -Eo 'cn="Q2GX[^"]*" org=[^ ]* reason="no longer verifies[^"]*"' "$GW_LOG")" ||
    rg_fail "no 'no longer verifies after reload: unknown CA' line for ap-globex"
n=$(grep -Ec 'event=conn_close .*reason="no longer verifies after reload' "$GW_LOG")
[ "$n" = 2 ] && rg_pass "exactly two connections closed by the re-check" ||
    rg_fail "$n connections closed by the re-check, expected 2"
rg_assert_no_log "$GW_LOG" 'event=conn_close .*cn="Q2AA-BBBB-CCCC" .*reason="no longer verifies' "ap-rsa not closed"

for ap in ap-ecdsa ap-globex; do
    rg_wait_log "$RG_TMP/hold-$ap.out" '^closed by server after' 5 &&
        rg_pass "$ap: client saw the close ($(grep -m1 '^closed by server' "$RG_TMP/hold-$ap.out"))" ||
        rg_fail "$ap: client still connected"
done

# ap-rsa keeps being answered on its original connection.
sleep 3
answered_after=$(grep -c '^hold: answered' "$RG_TMP/hold-ap-rsa.out")
if [ "$answered_after" -ge $((answered_before + 2)) ] &&
    ! grep -q '^closed by server' "$RG_TMP/hold-ap-rsa.out"; then
    rg_pass "ap-rsa still connected and answered ($answered_before -> $answered_after replies)"
else
    rg_fail "ap-rsa: $answered_before -> $answered_after replies after the reload:"
    tail -n 5 "$RG_TMP/hold-ap-rsa.out" | sed 's/^/    | /' >&2
fi
grep -q '^hold: timeout' "$RG_TMP/hold-ap-rsa.out" && rg_fail "ap-rsa had a request time out" ||
    rg_pass "ap-rsa: no request lost across the reload"

# New connections follow the new generation.
out=$("$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$P/ap-ecdsa.pem" --key "$P/ap-ecdsa.key" --expect-close status 2>&1) &&
    rg_pass "ap-ecdsa refused on a new connection" || rg_fail "ap-ecdsa reconnects: $out"
rg_wait_log "$GW_LOG" 'event=tls_refused .*reason="revoked"( org=[^ ]+)? subject="/O=Acme/CN=Q2EC-DSA0-0001"' 5 &&
    rg_pass "new ap-ecdsa connection logged as revoked" || rg_fail "ap-ecdsa refusal not logged"
rg_client auth alice pw >/dev/null 2>&1 && rg_pass "ap-rsa connects anew" ||
    rg_fail "ap-rsa cannot connect anew"

kill "${HOLD_PID[@]}" 2>/dev/null
wait "${HOLD_PID[@]}" 2>/dev/null
rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_finish
