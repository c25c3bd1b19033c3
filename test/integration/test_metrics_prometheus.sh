#!/usr/bin/env bash
# Issue 16: metrics and log lines an operator can rely on. The gateway with a metrics block
# serves Prometheus text that `promtool check metrics` finds clean; a Prometheus server of our
# own (Debian's package, on a free loopback port; the package's service is left alone)
# scrapes it while known traffic passes: 6 PAP requests accepted, 3 accounting requests, 1
# rogue certificate refused, a held connection, and a first server that never answers and is
# marked dead. The values are read back through Prometheus's HTTP API. The shipped scrape
# config and alert rules pass promtool. With log { hash-user-names hash-macs hash-key } the
# request line carries HMAC-SHA256 values recomputed here, never the name or the MAC. Every
# log event the code emits is documented in docs/operations.md, and the suite-wide key=value
# check rejects a line that is not key=value (so it can fail).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need prometheus promtool curl
rg_tmpdir >/dev/null
rg_pki
FB_SEC=metrics-backend-secret-$RANDOM$RANDOM
export RG_TEST_HASH_KEY=hash-key-$RANDOM$RANDOM-0123456789

# --- the checker itself: a line that is not key=value is reported -----------------------------
printf '%s\n' 'radsecgw[1]: NOTICE: event=conn_open conn=1 src=127.0.0.1:5 cn="a \"b\"" tls=x' \
    'radsecgw[1]: NOTICE: connection 127.0.0.1:5 open: org acme' \
    'radsecgw[1]: INFO: event=request user=two words' 'not a gateway line' >"$RG_TMP/kv.sample"
bad=$(rg_log_kv_bad "$RG_TMP/kv.sample")
[ "$(wc -l <<<"$bad")" = 2 ] && grep -q 'open: org acme' <<<"$bad" && grep -q 'two words' <<<"$bad" &&
    rg_pass "key=value check: flags the two bad lines, passes the good one" ||
    rg_fail "key=value check: reported: $bad"
rm -f "$RG_TMP/kv.sample"

# --- every event name in the code is documented -----------------------------------------------
missing=$(comm -23 <(grep -ohE '"event=[a-z_]+' "$RG_SOURCE_DIR"/src/*.c | cut -d= -f2 | sort -u) \
    <(grep -oE '`[a-z_]+`' "$RG_SOURCE_DIR/docs/operations.md" | tr -d '`' | sort -u) | tr '\n' ' ')
[ -z "$missing" ] && rg_pass "docs/operations.md names every log event" ||
    rg_fail "docs/operations.md lacks the events:$missing"
# ... and every metric family the endpoint serves (checked below on the live exposition)

# --- the shipped Prometheus files -------------------------------------------------------------
out=$(promtool check rules "$RG_SOURCE_DIR/etc/prometheus/radsecgw-alerts.yml" 2>&1) &&
    rg_pass "promtool check rules: etc/prometheus/radsecgw-alerts.yml" ||
    rg_fail "promtool check rules: $out"
out=$(promtool check config "$RG_SOURCE_DIR/etc/prometheus/prometheus.yml" 2>&1) &&
    rg_pass "promtool check config: etc/prometheus/prometheus.yml" ||
    rg_fail "promtool check config: $out"
python3 -m json.tool "$RG_SOURCE_DIR/etc/prometheus/grafana-dashboard.json" >/dev/null &&
    rg_pass "grafana-dashboard.json is JSON" || rg_fail "grafana-dashboard.json is not JSON"

# --- the gateway ------------------------------------------------------------------------------
rg_fake_backend_start dead "$FB_SEC" drop
rg_fake_backend_start live "$FB_SEC" accept
MPORT=$(rg_free_port)
rg_gateway_conf "$RG_TMP/gw.conf" --workers 1 --timeout 1 --retries 1 \
    --backend "127.0.0.1:$FB_PORT_dead:$FB_PORT_dead:$FB_SEC" \
    --backend "127.0.0.1:$FB_PORT_live:$FB_PORT_live:$FB_SEC" \
    --log-extra '    hash-user-names = true
    hash-macs = true
    hash-key = "${RG_TEST_HASH_KEY}"' \
    --extra "metrics {
    address = \"127.0.0.1\"
    port = $MPORT
}"
rg_gateway_start "$RG_TMP/gw.conf" gw
rg_wait_port "$MPORT" tcp 10 gw || rg_die "no metrics endpoint on $MPORT"
rg_assert_log "$GW_LOG" "event=metrics_listening address=127.0.0.1 port=$MPORT " "endpoint logged"

# --- our own Prometheus scrapes it (started now: it takes seconds to come up) -----------------
PPORT=$(rg_free_port)
cat >"$RG_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: radsecgw
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
EOF
mkdir -p "$RG_TMP/tsdb"
rg_start prometheus prometheus --config.file="$RG_TMP/prometheus.yml" \
    --storage.tsdb.path="$RG_TMP/tsdb" --web.listen-address="127.0.0.1:$PPORT"

scrape() { curl -sf "http://127.0.0.1:$MPORT/metrics"; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/other")
[ "$code" = 404 ] && rg_pass "GET /other: 404" || rg_fail "GET /other: $code"

# Known traffic. The first request fails over from the silent server, which is then dead.
out=$(rg_client --timeout 8 --attr Calling-Station-Id=AA-BB-CC-DD-EE-FF \
    --attr Called-Station-Id=00-11-22-33-44-55:CorpWiFi auth alice@example.com pw 2>&1) &&
    rg_pass "first request answered after failover" || rg_fail "first request: $out"
rg_wait_log "$GW_LOG" 'event=backend_down backend=b1 pool=corp ' 10 gw &&
    rg_pass "b1 marked dead" || rg_fail "b1 not marked dead"
out=$(rg_client --timeout 5 --count 5 auth alice@example.com pw 2>&1)
rg_assert_output "$out" 'accept=5 ' "5 more requests accepted"
for i in 1 2 3; do
    rg_client --timeout 5 acct start "user$i" >/dev/null 2>&1 || rg_fail "accounting $i"
done
"$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --cert "$RG_PKI_ROGUE_CERT" \
    --key "$RG_PKI_ROGUE_KEY" --expect-close status >/dev/null 2>&1 ||
    rg_fail "rogue certificate: not refused"
rg_start hold "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" \
    --ca "$RG_PKI_SERVER_CA" --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" --hold 60 status
rg_wait_log "$RG_TMP/hold.log" '^holding' 10 hold || rg_fail "held connection not open"

# --- the exposition ---------------------------------------------------------------------------
scrape >"$RG_TMP/metrics.txt" || rg_fail "GET /metrics failed"
out=$(promtool check metrics <"$RG_TMP/metrics.txt" 2>&1)
st=$?
[ "$st" = 0 ] && [ -z "$out" ] && rg_pass "promtool check metrics: clean" ||
    rg_fail "promtool check metrics (exit $st): $out"
for m in radsecgw_requests_total radsecgw_request_duration_seconds radsecgw_connections \
    radsecgw_backend_up radsecgw_tls_refused_total radsecgw_certificate_expiry_timestamp_seconds \
    radsecgw_inflight radsecgw_backpressure_total radsecgw_retransmissions_total \
    radsecgw_dropped_total radsecgw_handshakes_in_progress radsecgw_backend_signs_replies; do
    grep -q "^# TYPE $m " "$RG_TMP/metrics.txt" || rg_fail "exposition lacks $m"
    grep -q "\`$m" "$RG_SOURCE_DIR/docs/operations.md" || rg_fail "docs/operations.md lacks $m"
done
rg_pass "exposition has the DESIGN.md families and the issue's"
missing=$(comm -23 <(sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$RG_TMP/metrics.txt" | sort -u) \
    <(grep -oE '`radsecgw_[a-z_]+`' "$RG_SOURCE_DIR/docs/operations.md" | tr -d '`' | sort -u) |
    tr '\n' ' ')
[ -z "$missing" ] && rg_pass "docs/operations.md names every metric family" ||
    rg_fail "docs/operations.md lacks:$missing"

rg_wait_port "$PPORT" tcp 30 prometheus || rg_die "prometheus does not listen on $PPORT"
# the server certificate chain file expires with its first certificate to expire
first=$(awk '/BEGIN CERT/{n++} {print > ("'"$RG_TMP"'/chain-" n ".pem")}' "$RG_PKI_SERVER_CHAIN"
    for f in "$RG_TMP"/chain-[0-9]*.pem; do
        date -u -d "$(openssl x509 -noout -enddate -in "$f" | cut -d= -f2)" +%s
    done | sort -n | head -n1)
ca_after=$(date -u -d "$(openssl x509 -noout -enddate -in "$RG_PKI_ACME_CA" | cut -d= -f2)" +%s)
signs=0
grep -q 'event=backend_signs_replies backend=b2 ' "$GW_LOG" && signs=1
L='org="acme",pool="corp"'
# DESCRIPTION<TAB>QUERY<TAB>VALUE lines: each query's single result must become VALUE within
# 20 s (Prometheus scrapes every second); one Python process asks them all.
{
    printf '%s\t%s\t%s\n' \
        "accepted PAP requests" "radsecgw_requests_total{$L,code=\"Access-Request\",result=\"Access-Accept\"}" 6 \
        "accounting requests" "radsecgw_requests_total{$L,code=\"Accounting-Request\",result=\"Accounting-Response\"}" 3 \
        "histogram count (replies timed)" 'radsecgw_request_duration_seconds_count{pool="corp"}' 9 \
        "the failed-over request took over 1 s" 'radsecgw_request_duration_seconds_count{pool="corp"} - ignoring(le) radsecgw_request_duration_seconds_bucket{pool="corp",le="1"}' 1 \
        "one refusal" 'sum(radsecgw_tls_refused_total)' 1 \
        "refused for the unknown CA" 'sum(radsecgw_tls_refused_total{reason=~"unknown_ca|tls_handshake_failed"})' 1 \
        "connections of acme (the held one)" 'radsecgw_connections{org="acme"}' 1 \
        "b1 down" 'radsecgw_backend_up{pool="corp",server="b1"}' 0 \
        "b2 up" 'radsecgw_backend_up{pool="corp",server="b2"}' 1 \
        "failovers" 'radsecgw_failovers_total' 1 \
        "retransmissions to b1" 'radsecgw_retransmissions_total' 1 \
        "requests sent to b2" 'radsecgw_backend_requests_total{pool="corp",server="b2"}' 9 \
        "requests sent to b1" 'radsecgw_backend_requests_total{pool="corp",server="b1"}' 1 \
        "in flight now" 'radsecgw_inflight' 0 \
        "b2's learned Message-Authenticator state (as its log line says)" 'radsecgw_backend_signs_replies{pool="corp",server="b2"}' "$signs" \
        "server certificate chain: earliest notAfter" 'radsecgw_certificate_expiry_timestamp_seconds{kind="server"}' "$first" \
        "acme CA notAfter" 'radsecgw_certificate_expiry_timestamp_seconds{org="acme",kind="ca"}' "$ca_after"
} >"$RG_TMP/queries.tsv"
cat >"$RG_TMP/promql.py" <<'PYEOF'
import json, sys, time, urllib.parse, urllib.request
port, path = sys.argv[1], sys.argv[2]
def value(q):
    url = "http://127.0.0.1:%s/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": q}))
    try:
        r = json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
    except Exception as e:
        return "error: %s" % e
    return r[0]["value"][1] if len(r) == 1 else "%d results" % len(r)
deadline = time.time() + 20
for row in open(path):
    what, q, want = row.rstrip("\n").split("\t")
    got = value(q)
    while got != want and time.time() < deadline:
        time.sleep(0.3)
        got = value(q)
    if got == want:
        print("ok\t%s = %s" % (what, want), flush=True)
    else:
        print("FAIL\t%s: got %s, expected %s (%s)" % (what, got, want, q), flush=True)
PYEOF
while IFS= read -r line; do
    case $line in
    ok$'\t'*) rg_pass "prometheus: ${line#*$'\t'}" ;;
    *) rg_fail "prometheus: ${line#*$'\t'}" ;;
    esac
done < <(python3 "$RG_TMP/promql.py" "$PPORT" "$RG_TMP/queries.tsv" 2>&1)

# --- privacy: keyed hashes in the request line ------------------------------------------------
hash() {
    python3 -c 'import hmac, hashlib, sys
print("h:" + hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest()[:16])' \
        "$RG_TEST_HASH_KEY" "$1"
}
hu=$(hash alice@example.com)
hc=$(hash aabbccddeeff)
hd=$(hash 001122334455)
rg_assert_log "$GW_LOG" "event=request conn=[0-9]+ id=[0-9]+ org=acme nas=\"[^\"]*\" src=127\\.0\\.0\\.1:[0-9]+ user=\"$hu\" calling=\"$hc\" called=\"$hd:CorpWiFi\" code=Access-Request result=Access-Accept pool=corp backend=b2 latency_ms=[0-9]+$" \
    "request line: user and MACs hashed with the key, the SSID kept"
rg_assert_no_log "$GW_LOG" 'alice|AA-BB-CC|aabbcc|00-11-22' "no user name or MAC in the log"

rg_stop hold
rg_finish
