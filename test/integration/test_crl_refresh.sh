#!/usr/bin/env bash
# Issue #5, CRL refresh without SIGHUP (DESIGN.md: CRLs are re-read every crl-refresh
# seconds; crl-refresh = 1 here, the smallest value config_check.c accepts, for tests). ap-rsa and
# ap-ecdsa hold connections open; the acme CRL file is replaced by one revoking ap-ecdsa:
# within a few refresh periods ap-ecdsa is disconnected with the re-check's log line and
# ap-rsa keeps being answered. Unchanged files build nothing (no churn); a stale CRL is
# warned about at every refresh, and the connections of its CA are closed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
P=$RG_PKI
SEC=backend-secret-$RANDOM$RANDOM
LIVE_CRL=$RG_TMP/acme-live.crl
cp "$P/acme.crl" "$LIVE_CRL"

rg_fake_backend_start fb "$SEC" accept
rg_gateway_conf "$RG_TMP/radsecgw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$SEC"
# The generated org has no CRL: give it one, refreshed every second.
sed -i "s|^    ca = {\"$RG_PKI_ACME_CA\"}|&\n    crl = {\"$LIVE_CRL\"}\n    crl-refresh = 1|" \
    "$RG_TMP/radsecgw.conf"
grep -q 'crl-refresh = 1' "$RG_TMP/radsecgw.conf" || rg_die "could not add the CRL to the config"
rg_gateway_start "$RG_TMP/radsecgw.conf"

declare -A HOLD_PID=()
for ap in ap-rsa ap-ecdsa; do
    "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
        --cert "$P/$ap.pem" --key "$P/$ap.key" --timeout 3 --hold 40 --hold-every 1 \
        auth "user-$ap" pw >"$RG_TMP/hold-$ap.out" 2>&1 &
    HOLD_PID[$ap]=$!
done
for ap in ap-rsa ap-ecdsa; do
    rg_wait_log "$RG_TMP/hold-$ap.out" '^hold: answered' 10 ||
        { cat "$RG_TMP/hold-$ap.out" >&2; rg_die "$ap not connected"; }
done

# Three refresh periods with nothing changed: no new generation.
sleep 3
rg_assert_no_log "$GW_LOG" 'event=crl_refresh' "unchanged CRL: no new generation"

cp "$P/acme-ecdsa-revoked.crl" "$LIVE_CRL.new" && mv "$LIVE_CRL.new" "$LIVE_CRL"
rg_wait_log "$GW_LOG" 'event=conn_close .*cn="Q2EC-DSA0-0001" org=acme reason="no longer verifies after reload: revoked' 6 &&
    rg_pass "revoked AP disconnected by the CRL refresh, without SIGHUP" ||
    rg_fail "ap-ecdsa not disconnected after the CRL changed"
rg_assert_log "$GW_LOG" 'event=crl_refresh reason="CA or CRL files changed" generation=2 ' "refresh logged"
rg_wait_log "$RG_TMP/hold-ap-ecdsa.out" '^closed by server after' 5 &&
    rg_pass "ap-ecdsa client saw the close" || rg_fail "ap-ecdsa client still connected"
before=$(grep -c '^hold: answered' "$RG_TMP/hold-ap-rsa.out")
sleep 3
after=$(grep -c '^hold: answered' "$RG_TMP/hold-ap-rsa.out")
[ "$after" -ge $((before + 2)) ] && ! grep -q '^closed by server' "$RG_TMP/hold-ap-rsa.out" &&
    rg_pass "ap-rsa still connected and answered ($before -> $after)" ||
    rg_fail "ap-rsa: $before -> $after replies"
n=$(grep -c 'event=crl_refresh ' "$GW_LOG")
[ "$n" = 1 ] && rg_pass "one new generation for one change" || rg_fail "$n generations for one change"

# A stale CRL: the CA's clients are closed, and every refresh says the CRL is stale.
cp "$P/acme-stale.crl" "$LIVE_CRL.new" && mv "$LIVE_CRL.new" "$LIVE_CRL"
rg_wait_log "$GW_LOG" 'event=conn_close .*cn="Q2AA-BBBB-CCCC" org=acme reason="no longer verifies after reload: CRL missing or stale' 6 &&
    rg_pass "stale CRL: ap-rsa disconnected" || rg_fail "stale CRL: ap-rsa not disconnected"
sleep 3
n=$(grep -c 'event=crl_stale .*acme-live\.crl' "$GW_LOG")
[ "$n" -ge 3 ] && rg_pass "stale CRL warned at every refresh ($n lines)" ||
    rg_fail "stale CRL warned $n times in 3 refresh periods"

kill "${HOLD_PID[@]}" 2>/dev/null
wait "${HOLD_PID[@]}" 2>/dev/null
rg_alive radsecgw && rg_pass "radsecgw still running" || rg_fail "radsecgw died"
rg_finish
