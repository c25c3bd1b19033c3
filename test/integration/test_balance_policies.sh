#!/usr/bin/env bash
# Issue #4: the balancing policies share the load. round-robin and least-outstanding over
# two equal fake_backends: after 2000 requests each backend got within 10% of half, and the
# failover policy (the control) sends everything to the first server. One worker, so the
# policy's cursor sees every request.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=balance-backend-secret-$RANDOM$RANDOM
N=2000

# run_policy POLICY: one gateway with POLICY over two fresh backends; sets A and B (requests
# each backend saw).
run_policy() {
    local policy=$1 out st
    rg_fake_backend_start "$policy-a" "$FB_SEC" accept --delay-ms 5
    rg_fake_backend_start "$policy-b" "$FB_SEC" accept --delay-ms 5
    local pa_var="FB_PORT_${policy//-/_}_a" pb_var="FB_PORT_${policy//-/_}_b"
    local pa=${!pa_var} pb=${!pb_var}
    rg_gateway_conf "$RG_TMP/$policy.conf" --workers 1 --policy "$policy" --timeout 2 \
        --backend "127.0.0.1:$pa:$pa:$FB_SEC" --backend "127.0.0.1:$pb:$pb:$FB_SEC" \
        --log-level info --log-requests false
    rg_gateway_start "$RG_TMP/$policy.conf" "$policy-gw"
    out=$(rg_load --connections 4 --inflight 64 --requests "$N" --type mix 2>&1)
    st=$?
    [ "$st" = 0 ] && rg_pass "$policy: $N requests answered" ||
        rg_fail "$policy: radsec_load exit $st: $out"
    A=$(rg_report_value "$(rg_fake_backend_report "$policy-a")" requests)
    B=$(rg_report_value "$(rg_fake_backend_report "$policy-b")" requests)
    rg_log "$policy: backend a $A, backend b $B"
    rg_stop "$policy-gw"
    rg_stop "$policy-a"
    rg_stop "$policy-b"
}

within_10pct() {
    local n=$1 half=$((N / 2))
    [ "$n" -ge $((half - half / 10)) ] && [ "$n" -le $((half + half / 10)) ]
}

for policy in round-robin least-outstanding; do
    run_policy "$policy"
    [ $((A + B)) = "$N" ] && rg_pass "$policy: backends saw $N requests in all" ||
        rg_fail "$policy: backends saw $((A + B)), expected $N"
    within_10pct "$A" && within_10pct "$B" &&
        rg_pass "$policy: $A / $B is within 10% of even" ||
        rg_fail "$policy: $A / $B is not within 10% of even"
done

# Control: the same check fails for failover (everything on the first server).
run_policy failover
[ "$A" = "$N" ] && [ "$B" = 0 ] && rg_pass "failover: all $N on the first server" ||
    rg_fail "failover: $A / $B, expected $N / 0"
rg_finish
