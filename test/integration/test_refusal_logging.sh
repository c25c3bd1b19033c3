#!/usr/bin/env bash
# Issue #15, refusal logging: thousands of refusals are a few lines. Before a certificate is
# seen (handshake timeouts, garbage, an incomplete ClientHello, max-connections-per-ip at the
# accept) the first refusal of each reason has its line and the rest are counted in one
# event=refusals line per reason per interval with a sample address; certificate refusals
# (unknown CA) keep their line per peer, at most 5 per reason, and the rest are counted as
# suppressed. Every refused connection is in a count.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
FB_SEC=backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$FB_SEC" accept --password pw
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$FB_SEC" \
    --workers 2 --handshake-timeout 2 --log-requests false --log-level info
sed -i 's/^    idle-timeout = 60$/    idle-timeout = 60\n    packet-timeout = 1/' "$RG_TMP/gw.conf"
rg_gateway_start "$RG_TMP/gw.conf" gw

hostile() {
    python3 "$RG_SOURCE_DIR/tools/radsec_hostile.py" --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
        --open-rate 1000 --dribble 0.3 "$@"
}
hostile --duration 3.5 --half-open 300 --garbage 200 --partial-hello 100 \
    >"$RG_TMP/pre.out" 2>&1 || rg_fail "radsec_hostile (before certificate) failed"
hostile --duration 2 --cert "$RG_PKI_ROGUE_CERT" --key "$RG_PKI_ROGUE_KEY" --oversize 100 \
    --net 40 >"$RG_TMP/cert.out" 2>&1 || rg_fail "radsec_hostile (rogue certificate) failed"
cat "$RG_TMP/pre.out" "$RG_TMP/cert.out" >&2
closed=0
for k in half-open garbage partial-hello; do
    closed=$((closed + $(rg_kv "$(grep "^kind=$k " "$RG_TMP/pre.out")" closed)))
done
rogue=$(rg_kv "$(grep "^kind=oversize " "$RG_TMP/cert.out")" closed)
[ "$closed" = 600 ] && [ "$rogue" = 100 ] && rg_pass "700 connections refused" ||
    rg_fail "refused: $closed of 600 before a certificate, $rogue of 100 rogue"
rg_stop gw || rg_fail "gateway exit status non-zero"   # the last interval's lines at stop

lines=$(grep -cE 'event=(tls_refused|conn_refused|refusals) ' "$GW_LOG")
[ "$lines" -le 20 ] && rg_pass "700 refusals in $lines log lines" ||
    rg_fail "700 refusals took $lines log lines"
grep -E 'event=(tls_refused|refusals) ' "$GW_LOG" | sed 's/^/    | /' >&2
# Every refusal is counted: in a refusals line (its count includes the individual lines of
# the interval), or alone in its interval as its own line.
pre=$(python3 - "$GW_LOG" <<'PY'
import re, sys
summed, single = {}, {}
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r'event=refusals kind=before_certificate reason="([^"]*)" count=(\d+)', line)
    if m:
        summed[m.group(1)] = summed.get(m.group(1), 0) + int(m.group(2))
        continue
    m = re.search(r'event=(?:tls|conn)_refused .*reason="([^"]*)"', line)
    if m and "subject=" not in line:
        single[m.group(1)] = single.get(m.group(1), 0) + 1
print(sum(summed.values()) + sum(n for r, n in single.items() if r not in summed))
PY
)
[ "${pre:-0}" -ge 600 ] && rg_pass "before a certificate: counted $pre refusals" ||
    rg_fail "before a certificate: counts add up to ${pre:-0}, expected >= 600"
rg_assert_log "$GW_LOG" 'event=refusals kind=before_certificate reason="TLS handshake timeout" count=[0-9]+ .*sample_src=127\.1[0-9]\.' \
    "handshake timeouts: one line with count and a sample address"
rg_assert_log "$GW_LOG" 'event=refusals kind=before_certificate reason="TLS record incomplete past packet-timeout" count=' \
    "incomplete ClientHello: counted"
n=$(grep -cE 'event=tls_refused .*reason="unknown CA"' "$GW_LOG")
[ "$n" -ge 1 ] && [ "$n" -le 10 ] && rg_pass "unknown CA: $n lines per peer, with the subject" ||
    rg_fail "unknown CA: $n lines per peer, expected 1..10"
rg_assert_log "$GW_LOG" 'event=tls_refused .*reason="unknown CA" subject=' "unknown CA: subject logged"
sup=$(grep -E 'event=refusals kind=certificate reason="unknown CA"' "$GW_LOG" |
    grep -oE ' suppressed=[0-9]+' | cut -d= -f2 | paste -sd+ | bc)
[ $((${sup:-0} + n)) -eq 100 ] && rg_pass "unknown CA: $n logged + ${sup:-0} suppressed = 100" ||
    rg_fail "unknown CA: $n logged + ${sup:-0} suppressed, expected 100"
rg_finish
