#!/usr/bin/env bash
# Issue #9, tenants stay apart. Two orgs, acme and globex, each with its own CA, RadSec
# secret, pool (fake backend) and realms (both have a realm "*"), and an AP certificate with
# the same CN in both; two CoA clients (unmodified radclient behind a relay that sends from
# 127.0.0.2 and 127.0.0.3), each bound to one org. Every cross-tenant attempt is refused:
# an acme AP naming globex's realm stays in acme's pool; a globex AP claiming acme's
# NAS-Identifier never gets acme's Disconnect; a DAC asking for another org's NAS gets exactly
# the NAK an unknown NAS gets. The legitimate paths still work, an identity several
# connections of an org match is not guessed, -t refuses the three unscoped configs with
# file:line, and a certificate CN or User-Name with a newline gives one escaped log line.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_need radclient
rg_need openssl
rg_tmpdir >/dev/null
rg_pki
SEC_A=backend-acme-$RANDOM$RANDOM
SEC_G=backend-globex-$RANDOM$RANDOM
COA_A=dac-acme-secret-$RANDOM$RANDOM
COA_G=dac-globex-secret-$RANDOM$RANDOM
rg_fake_backend_start fba "$SEC_A" accept --password pw
rg_fake_backend_start fbg "$SEC_G" accept --password pw

# mint CA NAME SUBJECT: a client certificate for an AP, signed by $RG_PKI/CA.pem.
mint() {
    local ca=$1 name=$2 subj=$3 d=$RG_TMP/certs
    mkdir -p "$d"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' \
        >"$d/ext.cnf"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$name.key" \
        -subj "$subj" -out "$d/$name.csr" 2>/dev/null &&
        openssl x509 -req -in "$d/$name.csr" -CA "$RG_PKI/$ca.pem" -CAkey "$RG_PKI/$ca.key" \
            -set_serial "0x$(openssl rand -hex 8)" -days 30 -sha256 -extfile "$d/ext.cnf" \
            -out "$d/$name.pem" 2>/dev/null || rg_die "cannot mint $name"
}
# The acme AP's CN (ap-rsa.pem), under globex's CA.
mint globex-ca ap-globex-same "/O=globex/CN=Q2AA-BBBB-CCCC"
FORGED_OPEN='radsecgw[1]: NOTICE: connection x open: org globex, CN "f"' # CN: 64 octets at most
mint acme-ca ap-newline "/O=acme/CN=Q2NL"$'\n'"$FORGED_OPEN"
mint rogue-ca rogue-newline "/CN=Q2RG"$'\n''radsecgw[1]: WARNING: forged refusal'

GW_PORT=$(rg_free_port)
COA_PORT=$(rg_free_port)
while [ "$COA_PORT" = "$GW_PORT" ]; do COA_PORT=$(rg_free_port); done

# gwconf FILE [GLOBEX_CLIENT_ORGS_LINE [EXTRA]]
gwconf() {
    local orgs_g=${2-'orgs = {"globex"}'}
    cat >"$1" <<EOF
workers = 2
listen {
    address = {"127.0.0.1"}
    port = $GW_PORT
    idle-timeout = 60
    handshake-timeout = 5
}
tls {
    certificate = "$RG_PKI_SERVER_CHAIN"
    key = "$RG_PKI_SERVER_KEY"
}
org "acme" {
    ca = {"$RG_PKI/acme-ca.pem"}
    allow = {"127.0.0.0/8"}
    pool = "pool-a"
    coa = true
    realm "*" { pool = "pool-a" }
}
org "globex" {
    ca = {"$RG_PKI/globex-ca.pem"}
    secret = "radsec-globex"
    allow = {"127.0.0.0/8"}
    pool = "pool-g"
    coa = true
    realm "orgg.example" { pool = "pool-g" }
    realm "*" { pool = "pool-g" }
}
pool "pool-a" {
    timeout = 1
    retries = 1
    status-server = false
    server "a1" { host = "127.0.0.1" auth-port = $FB_PORT_fba acct-port = $FB_PORT_fba secret = "$SEC_A" }
}
pool "pool-g" {
    timeout = 1
    retries = 1
    status-server = false
    server "g1" { host = "127.0.0.1" auth-port = $FB_PORT_fbg acct-port = $FB_PORT_fbg secret = "$SEC_G" }
}
coa {
    address = "127.0.0.1"
    port = $COA_PORT
    client "dac-a" { host = "127.0.0.2" secret = "$COA_A" orgs = {"acme"} }
    client "dac-g" {
        host = "127.0.0.3"
        secret = "$COA_G"
        $orgs_g
    }
}
log {
    level = "debug"
    requests = true
}
${3:-}
EOF
}

# ---- radsecgw -t: the three configurations that would let tenants reach each other ----
GW=$(rg_bin radsecgw)
# refused_by_t DESCRIPTION FILE LINE REASON_REGEX
refused_by_t() {
    local what=$1 file=$2 line=$3 re=$4 out st
    out=$("$GW" -t -c "$file" 2>&1)
    st=$?
    [ "$st" = 1 ] && rg_pass "-t $what: exit 1" || rg_fail "-t $what: exit $st"
    rg_assert_output "$out" "^$file:$line: $re" "-t $what: $file:$line: reason"
}
gwconf "$RG_TMP/bad-realm.conf" 'orgs = {"globex"}' 'realm "orgg.example" { pool = "pool-g" }'
refused_by_t "top-level realm with two orgs" "$RG_TMP/bad-realm.conf" \
    "$(grep -n '^realm "orgg.example"' "$RG_TMP/bad-realm.conf" | cut -d: -f1)" \
    'realm "orgg.example" is outside any org block: with 2 orgs, each realm must be inside'
gwconf "$RG_TMP/bad-noorgs.conf" ''
refused_by_t "coa client without orgs, two orgs with coa = true" "$RG_TMP/bad-noorgs.conf" \
    "$(grep -n 'client "dac-g"' "$RG_TMP/bad-noorgs.conf" | cut -d: -f1)" \
    'client "dac-g": orgs is not set: 2 orgs have coa = true'
gwconf "$RG_TMP/bad-org.conf" 'orgs = {"globex",
            "initech"}'
refused_by_t "coa client naming an org that does not exist" "$RG_TMP/bad-org.conf" \
    "$(grep -n '"initech"' "$RG_TMP/bad-org.conf" | cut -d: -f1)" \
    'client "dac-g": org "initech" is not defined'

# ---- the gateway and the two DACs ----
gwconf "$RG_TMP/gw.conf"
rg_gateway_start "$RG_TMP/gw.conf" gw
rg_wait_port "$COA_PORT" udp 10 gw || rg_die "no coa listener on $COA_PORT"
rg_udp_relay rel_a 127.0.0.2 "$COA_PORT"
rg_udp_relay rel_g 127.0.0.3 "$COA_PORT"

ap() { # NAME CERT KEY SECRET NAS-ID NAS-IP USER
    rg_start "$1" "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" \
        --ca "$RG_PKI_SERVER_CA" --cert "$2" --key "$3" --secret "$4" --hold 120 \
        --answer-coa ack --attr "NAS-Identifier=$5" --attr "NAS-IP-Address=$6" auth "$7" pw
    rg_wait_log "$RG_TMP/$1.log" '^holding' 10 "$1" || rg_die "$1 did not connect"
}
# Same CN, different CAs. The acme AP names globex's realm; the globex AP claims the acme
# AP's NAS-Identifier and (a NATed site) its private NAS-IP-Address. A second acme AP shares
# the first one's certificate (Meraki APs can) under another NAS-Identifier.
ap apa "$RG_PKI_AP_CERT" "$RG_PKI_AP_KEY" radsec ap-a1 10.0.0.1 alice@orgg.example
ap apg "$RG_TMP/certs/ap-globex-same.pem" "$RG_TMP/certs/ap-globex-same.key" radsec-globex \
    ap-a1 10.0.0.1 bob@orgg.example
ap apa2 "$RG_PKI_AP_CERT" "$RG_PKI_AP_KEY" radsec ap-a2 10.0.0.2 carol
rg_assert_log "$GW_LOG" 'event=conn_open .*org=acme cn="Q2AA-BBBB-CCCC"' "the acme AP is in org acme"
rg_assert_log "$GW_LOG" 'event=conn_open .*org=globex cn="Q2AA-BBBB-CCCC"' \
    "the AP with the same CN under globex's CA is in org globex"

# ---- realms: each org's APs reach only its own pool ----
for u in alice@orgg.example carol; do
    rg_assert_log "$GW_LOG" "event=request .*org=acme .*user=\"$u\" .*backend=a1 " \
        "acme AP, User-Name $u: acme's pool (not globex's realm)"
done
rg_assert_log "$GW_LOG" 'event=request .*org=globex .*user="bob@orgg.example" .*backend=g1 ' \
    "globex AP: globex's realm orgg.example"
out=$(rg_client --timeout 3 auth dave@orgg.example pw 2>&1)
rg_assert_output "$out" 'Access-Accept' "acme AP, one more user of globex's realm: answered"
rep_a=$(rg_fake_backend_report fba)
rep_g=$(rg_fake_backend_report fbg)
[ "$(rg_report_value "$rep_a" access_request)" = 3 ] && rg_pass "acme's server got acme's 3 requests" ||
    rg_fail "acme's server got $(rg_report_value "$rep_a" access_request) requests, want 3"
[ "$(rg_report_value "$rep_g" access_request)" = 1 ] &&
    rg_pass "globex's server got only globex's request" ||
    rg_fail "globex's server got $(rg_report_value "$rep_g" access_request) requests, want 1"

# ---- CoA: each client reaches its own org's NASes only ----
dac() { # RELAY_PORT SECRET CODE ATTRS
    echo "$4" | timeout 20 radclient -x -t 2 -r 1 "127.0.0.1:$1" "$3" "$2" 2>&1
}
answered() { grep -c '^answered ' "$RG_TMP/$1.log"; }
# The reply as the DAC sees it: code, length and attributes (not the ID, the addresses or
# the Message-Authenticator value, which differ for every packet).
reply_of() {
    sed -n '/^Received/,$p' <<<"$1" | grep -E '^Received|^[[:space:]]+[A-Za-z-]+ = ' |
        sed -E 's/ Id [0-9]+ from .* length/ length/; s/(Message-Authenticator = ).*/\1(present)/'
}

out=$(dac "$RELAY_PORT_rel_a" "$COA_A" disconnect 'NAS-Identifier = "ap-a1", User-Name = "alice"')
rg_assert_output "$out" 'Received Disconnect-ACK' "dac-a, NAS-Identifier ap-a1: Disconnect-ACK"
rg_assert_log "$GW_LOG" 'event=coa_reply client=dac-a src=127\.0\.0\.2:[0-9]+ code=Disconnect-Request id=[0-9]+ nas_identifier="ap-a1" conn=[0-9]+ .*org=acme sent_id=[0-9]+ reply=Disconnect-ACK' \
    "dac-a is told apart by its source address; the request went to org acme"
[ "$(answered apa)" = 1 ] && rg_pass "acme's AP answered it" || rg_fail "apa answered $(answered apa)"
[ "$(answered apg)" = 0 ] && rg_pass "globex's AP claiming ap-a1 got nothing" ||
    rg_fail "globex's AP answered $(answered apg)"

out=$(dac "$RELAY_PORT_rel_g" "$COA_G" disconnect 'NAS-Identifier = "ap-a1", User-Name = "bob"')
rg_assert_output "$out" 'Received Disconnect-ACK' "dac-g, NAS-Identifier ap-a1 (globex's own claim): ACK"
[ "$(answered apg)" = 1 ] && rg_pass "globex's AP answered globex's request" ||
    rg_fail "apg answered $(answered apg)"
[ "$(answered apa)" = 1 ] && rg_pass "acme's AP got nothing more" || rg_fail "apa answered $(answered apa)"

# By the shared certificate CN: globex has one such AP, acme two (not guessed).
out=$(dac "$RELAY_PORT_rel_g" "$COA_G" coa 'NAS-Identifier = "Q2AA-BBBB-CCCC", Session-Timeout = 60')
rg_assert_output "$out" 'Received CoA-ACK' "dac-g by the shared CN: globex's AP"
[ "$(answered apg)" = 2 ] && rg_pass "globex's AP answered the CoA" || rg_fail "apg answered $(answered apg)"
out=$(dac "$RELAY_PORT_rel_a" "$COA_A" coa 'NAS-Identifier = "Q2AA-BBBB-CCCC", Session-Timeout = 60')
rg_assert_output "$out" 'Error-Cause = Proxy-Request-Not-Routable' \
    "dac-a by a CN two acme APs share: NAK 502"
rg_assert_log "$GW_LOG" 'event=coa_nak client=dac-a .*nas_identifier="Q2AA-BBBB-CCCC" error_cause=502 reason="ambiguous: 2 connections match \(127\.0\.0\.1:[0-9]+ org acme, 127\.0\.0\.1:[0-9]+ org acme\)"' \
    "the ambiguity is logged with the connections"
# Every identification attribute counts: the CN and NAS-IP-Address together name one AP.
out=$(dac "$RELAY_PORT_rel_a" "$COA_A" coa 'NAS-Identifier = "Q2AA-BBBB-CCCC", NAS-IP-Address = 10.0.0.2, Session-Timeout = 60')
rg_assert_output "$out" 'Received CoA-ACK' "dac-a by CN and NAS-IP-Address: the one AP"
[ "$(answered apa2)" = 1 ] && rg_pass "it was apa2" || rg_fail "apa2 answered $(answered apa2)"
[ "$(answered apa)" = 1 ] && rg_pass "not apa" || rg_fail "apa answered $(answered apa)"

# Another org's NAS: exactly the answer an unknown NAS gets.
unknown=$(dac "$RELAY_PORT_rel_g" "$COA_G" disconnect 'NAS-Identifier = "ap-nowhere", User-Name = "alice"')
rg_assert_output "$unknown" 'Error-Cause = Proxy-Request-Not-Routable' "unknown NAS: NAK 502"
cross=$(dac "$RELAY_PORT_rel_g" "$COA_G" disconnect 'NAS-Identifier = "ap-a2", User-Name = "alice"')
rg_assert_output "$cross" 'Received Disconnect-NAK' "dac-g asking for acme's ap-a2: Disconnect-NAK"
if [ -n "$(reply_of "$cross")" ] && [ "$(reply_of "$cross")" = "$(reply_of "$unknown")" ]; then
    rg_pass "another org's NAS: the same reply as an unknown NAS ($(reply_of "$cross" | tr '\n' ' '))"
else
    rg_fail "replies differ: cross-tenant [$(reply_of "$cross" | tr '\n' ' ')] unknown [$(reply_of "$unknown" | tr '\n' ' ')]"
fi
rg_assert_log "$GW_LOG" 'event=coa_nak client=dac-g .*nas_identifier="ap-a2" error_cause=502 reason="no connected NAS in the orgs client dac-g may reach \(a NAS of org acme matches\)"' \
    "the log says what happened"
[ "$(answered apa2)" = 1 ] && rg_pass "acme's ap-a2 got nothing from dac-g" ||
    rg_fail "apa2 answered $(answered apa2)"

# A source address no client has: silently dropped.
out=$(echo 'NAS-Identifier = "ap-a1"' | timeout 20 radclient -x -t 1 -r 1 "127.0.0.1:$COA_PORT" disconnect "$COA_A" 2>&1)
rg_assert_output "$out" 'No reply from server' "from 127.0.0.1 (no client there): no answer"
rg_assert_log "$GW_LOG" 'event=coa_discarded src=127\.0\.0\.1:[0-9]+ reason="not a configured coa client"' \
    "unknown source logged"

# ---- peer strings are escaped: one line per event, never a forged one ----
ap apnl "$RG_TMP/certs/ap-newline.pem" "$RG_TMP/certs/ap-newline.key" radsec ap-nl 10.0.0.9 \
    $'eve\nradsecgw[1]: INFO: request org=globex user="x" result=accept'
out=$("$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_TMP/certs/rogue-newline.pem" --key "$RG_TMP/certs/rogue-newline.key" \
    --timeout 3 --expect-close status 2>&1)
rg_wait_log "$GW_LOG" 'reason="unknown CA' 10 gw
sleep 0.5
rg_assert_no_log "$GW_LOG" '^radsecgw\[1\]:' "no forged line in the gateway log"
rg_assert_log "$GW_LOG" 'event=conn_open conn=[0-9]+ src=127\.0\.0\.1:[0-9]+ org=acme cn="Q2NL\\x0aradsecgw\[1\]: NOTICE: connection x open: org globex, CN \\"f\\"" tls=' \
    "the CN with a newline: one escaped open line (quotes escaped too)"
rg_assert_log "$GW_LOG" 'event=request .*org=acme nas="Q2NL\\x0a.*user="eve\\x0aradsecgw\[1\]: INFO: request org=globex user=\\"x\\" result=accept" ' \
    "the User-Name with a newline and quotes: escaped in the request line"
rg_assert_log "$GW_LOG" 'event=tls_refused conn=[0-9]+ src=127\.0\.0\.1:[0-9]+ reason="unknown CA" subject="[^"]*Q2RG\\x0aradsecgw\[1\]: WARNING: forged refusal' \
    "a refused certificate's subject with a newline: escaped"

rg_alive gw && rg_pass "gateway still running" || rg_fail "gateway died"
for p in apa apg apa2 apnl; do rg_stop "$p"; done
rg_stop gw && rg_pass "gateway exits 0 on SIGTERM" || rg_fail "gateway exit status non-zero"
rg_finish
