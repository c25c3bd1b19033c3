#!/usr/bin/env bash
# Issue #5, certificate identity for many organisations: every certificate of the test PKI
# (tools/make-pki.sh) against a gateway with two orgs, and the verdict an operator sees.
#   acme:   ca = acme-ca + acme-ca-next (rotation), CRLs of acme-ca / acme-ca-next / acme-int,
#           match "CN:^Q2", pool "corp" (fake backend fb_acme)
#   globex: ca = globex-ca, pool "globex" (fake backend fb_globex, another secret)
# Accepted certificates land in their org's pool; each refusal is logged once with the address
# and the reason (DESIGN.md). A second gateway (stale acme CRL, globex allowed from 127.0.0.2
# only) shows "CRL missing or stale" and "prefix not allowed"; the first one holds two
# connections open to show max-connections-per-ip = 2 refusing the third.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
P=$RG_PKI
SEC_ACME=acme-backend-secret-$RANDOM$RANDOM
SEC_GLOBEX=globex-backend-secret-$RANDOM$RANDOM

rg_fake_backend_start fb_acme "$SEC_ACME" accept
rg_fake_backend_start fb_globex "$SEC_GLOBEX" accept

# gw_conf FILE ACME_CRLS GLOBEX_ALLOW
gw_conf() {
    GW_PORT=$(rg_free_port)
    cat >"$1" <<EOF
workers = 2
listen {
    address = {"127.0.0.1"}
    port = $GW_PORT
    max-connections-per-ip = 2
    idle-timeout = 60
    handshake-timeout = 5
}
tls {
    certificate = "$RG_PKI_SERVER_CHAIN"
    key = "$RG_PKI_SERVER_KEY"
}
org "acme" {
    ca = {"$P/acme-ca.pem", "$P/acme-ca-next.pem"}
    crl = {$2}
    secret = "radsec"
    allow = {"127.0.0.0/8"}
    match = {"CN:^Q2"}
    pool = "corp"
}
org "globex" {
    ca = {"$P/globex-ca.pem"}
    secret = "radsec-globex"
    allow = {"$3"}
    pool = "globex"
}
pool "corp" {
    timeout = 1
    retries = 1
    status-server = false
    server "acme1" { host = "127.0.0.1" auth-port = $FB_PORT_fb_acme acct-port = $FB_PORT_fb_acme secret = "$SEC_ACME" }
}
pool "globex" {
    timeout = 1
    retries = 1
    status-server = false
    server "globex1" { host = "127.0.0.1" auth-port = $FB_PORT_fb_globex acct-port = $FB_PORT_fb_globex secret = "$SEC_GLOBEX" }
}
log { level = "debug" requests = true }
EOF
}

gw_conf "$RG_TMP/gw1.conf" "\"$P/acme.crl\", \"$P/acme-next.crl\", \"$P/acme-int.crl\"" "127.0.0.0/8"
rg_gateway_start "$RG_TMP/gw1.conf" gw1
GW1_PORT=$GW_PORT

client() { # PORT NAME(cert/key base name or "-") ARGS...
    local port=$1 name=$2 certargs=()
    shift 2
    [ "$name" = - ] || certargs=(--cert "$P/$name.pem" --key "$P/$name.key")
    "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$port" --ca "$RG_PKI_SERVER_CA" \
        --timeout 5 "${certargs[@]}" "$@" 2>&1
}
mark() { wc -l <"$GW_LOG"; }
since() { tail -n "+$(($1 + 1))" "$GW_LOG"; }

# accept PORT CERT SECRET ORG CN DESCRIPTION [client args]: served, and logged under ORG.
accept() {
    local port=$1 cert=$2 secret=$3 org=$4 cn=$5 what=$6 m out st
    shift 6
    m=$(mark)
    out=$(client "$port" "$cert" --secret "$secret" "$@" auth "user-$cert" pw)
    st=$?
    if [ $st = 0 ]; then rg_pass "$what: accepted"; else
        rg_fail "$what: not served (exit $st):"
        sed 's/^/    | /' <<<"$out" >&2
    fi
    sleep 0.2
    if since "$m" | grep -Eq "event=conn_open conn=[0-9]+ src=127\.0\.0\.1:[0-9]+ org=$org cn=\"$cn\""; then
        rg_pass "$what: org $org, CN $cn"
    else
        rg_fail "$what: no 'open: org $org, CN \"$cn\"' line:"
        since "$m" | tail -n 8 | sed 's/^/    | /' >&2
    fi
}

# refused CERT REASON_REGEX DESCRIPTION [client args]
refused() {
    local cert=$1 re=$2 what=$3 m out st
    shift 3
    m=$(mark)
    out=$(client "$GW_PORT" "$cert" --expect-close "$@" status)
    st=$?
    if [ $st = 0 ]; then rg_pass "$what: refused"; else
        rg_fail "$what: not refused (exit $st):"
        sed 's/^/    | /' <<<"$out" >&2
    fi
    sleep 0.3
    local line
    line=$(since "$m" | grep -E "event=(tls|conn)_refused conn=[0-9]+ src=127\.0\.0\.1:[0-9]+ reason=\"($re)" | head -n1)
    if [ -n "$line" ]; then
        rg_pass "$what: logged: ${line#*refused: }"
    else
        rg_fail "$what: no 'TLS peer ... refused: $re' line:"
        since "$m" | tail -n 8 | sed 's/^/    | /' >&2
    fi
}

# ---- accepted ----
accept "$GW1_PORT" ap-rsa radsec acme Q2AA-BBBB-CCCC "valid RSA (acme-ca)"
accept "$GW1_PORT" ap-ecdsa radsec acme Q2EC-DSA0-0001 "valid ECDSA (acme-ca)"
m=$(mark)
out=$(client "$GW1_PORT" - --cert "$P/ap-int-chain.pem" --key "$P/ap-int.key" auth user-int pw)
st=$?
[ $st = 0 ] && rg_pass "via intermediate (leaf + acme-int): accepted" ||
    { rg_fail "via intermediate: not served (exit $st)"; sed 's/^/    | /' <<<"$out" >&2; }
sleep 0.2
since "$m" | grep -Eq 'event=conn_open .*org=acme cn="Q2IN-TERM-0001"' &&
    rg_pass "via intermediate: org acme" || rg_fail "via intermediate: no open line for org acme"
accept "$GW1_PORT" ap-next radsec acme Q2NX-ROTA-0001 "rotated second CA (acme-ca-next)"
accept "$GW1_PORT" ap-globex radsec-globex globex Q2GX-GLOB-0001 "globex CA"

# Each org's requests reached its own pool only.
rep_acme=$(rg_fake_backend_report fb_acme)
rep_globex=$(rg_fake_backend_report fb_globex)
n_acme=$(rg_report_value "$rep_acme" requests)
n_globex=$(rg_report_value "$rep_globex" requests)
[ "$n_acme" = 4 ] && rg_pass "acme pool got the 4 acme requests" ||
    rg_fail "acme pool got $n_acme requests, expected 4"
[ "$n_globex" = 1 ] && rg_pass "globex pool got the globex request only" ||
    rg_fail "globex pool got $n_globex requests, expected 1"
[ "$(rg_report_value "$rep_globex" bad_msgauth)" = 0 ] &&
    [ "$(rg_report_value "$rep_globex" password_mismatch)" = 0 ] &&
    rg_pass "globex backend verified the request with its own secret" ||
    rg_fail "globex backend saw a request signed with another secret"
rg_assert_log "$GW_LOG" 'event=request .*org=globex nas="Q2GX-GLOB-0001".*backend=globex1' \
    "request log: globex request went to server globex1"
rg_assert_no_log "$GW_LOG" 'event=request .*org=globex.*backend=acme1' "no globex request sent to acme1"

# ---- refused after the handshake ----
refused ap-rogue "unknown CA" "rogue CA"
refused ap-expired "expired" "expired certificate"
refused ap-notyet "not yet valid" "not-yet-valid certificate"
refused ap-revoked "revoked" "revoked certificate (acme.crl)"
refused ap-nomatch "no match" "CN fails match CN:^Q2 (printer-17)"
refused - "no certificate" "no client certificate"
rg_assert_log "$GW_LOG" 'event=tls_refused .*reason="revoked.*Q2RV-OKED-0001' "revoked: subject in the log line"
rg_assert_log "$GW_LOG" 'event=tls_refused .*reason="no match.*printer-17' "no match: subject in the log line"

# ---- max-connections-per-ip = 2: two held open, the third refused before any TLS ----
sleep 0.5 # let the refused connections above be released
client "$GW1_PORT" ap-rsa --hold 8 auth hold1 pw >"$RG_TMP/hold1.out" &
h1=$!
client "$GW1_PORT" ap-ecdsa --hold 8 auth hold2 pw >"$RG_TMP/hold2.out" &
h2=$!
for ((i = 0; i < 50; i++)); do
    grep -q holding "$RG_TMP/hold1.out" && grep -q holding "$RG_TMP/hold2.out" && break
    sleep 0.1
done
refused ap-rsa "too many connections" "third connection from 127.0.0.1 (max-connections-per-ip = 2)"
grep -q '^closed by server' "$RG_TMP/hold1.out" "$RG_TMP/hold2.out" &&
    rg_fail "a held connection was closed" || rg_pass "the two held connections stayed open"
kill "$h1" "$h2" 2>/dev/null
wait "$h1" "$h2" 2>/dev/null

# ---- second gateway: stale acme CRL; globex only from 127.0.0.2 ----
gw_conf "$RG_TMP/gw2.conf" "\"$P/acme-stale.crl\"" "127.0.0.2/32"
rg_gateway_start "$RG_TMP/gw2.conf" gw2
rg_assert_log "$GW_LOG" 'event=crl_stale .*acme-stale\.crl' "gw2: stale CRL warned about at start"
rg_assert_log "$GW_LOG" 'ERR.*CRL .*acme-stale\.crl \(CN=Acme AP Root CA\) is stale: nextUpdate passed [0-9]+ days ago on 2020-02-01' \
    "gw2: expiry watch reports the stale CRL as an error at start"
rg_assert_no_log "$RG_TMP/gw1.log" 'event=(crl_stale|cert_expiry)|expires in|is stale|needs renewal|expired .* ago' \
    "gw1: nothing of the fresh PKI reported by the expiry watch"
refused ap-rsa "CRL missing or stale" "acme-ca CRL stale"
refused ap-globex "prefix not allowed" "globex certificate from 127.0.0.1 (allow 127.0.0.2/32)"

rg_alive gw1 && rg_alive gw2 && rg_pass "both gateways still running" || rg_fail "a gateway died"
rg_finish
