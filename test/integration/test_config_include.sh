#!/usr/bin/env bash
# Issue 11: include("DIR/*.conf") with one org per file. 20 org files are read in byte
# order of their names (not libconfuse's last-in-first-out stack, which also stops at 10),
# hidden files and other names are skipped, an error in an included file is reported as
# that file:line, and the gateway runs with them (an AP of the main file's org still
# authenticates; a reload reads a file added since).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
gw=$(rg_bin radsecgw)
SEC=include-backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$SEC" accept --password pw
mkdir -p "$RG_TMP/orgs.d"
org_file() { # NAME: an org trusting the globex CA (acme's APs stay unambiguous)
    cat >"$RG_TMP/orgs.d/$1.conf" <<EOF2
# org $1
org "$1" {
    ca = {"$RG_PKI/globex-ca.pem"}   // a comment, as in the main file
    allow = {"127.0.0.0/8"}
    match = {"CN:^$1\$"}
    pool = "corp"
}
EOF2
}
# names whose byte order differs from the order they are written in
names=(org5 org17 org1 org20 org9 org13 org2 org11 org3 org19 org7 org15 org4 org18 org6
    org12 org8 org16 org10 org14)
for n in "${names[@]}"; do org_file "$n"; done
echo 'org "hidden" { ca = {"/nonexistent"} }' >"$RG_TMP/orgs.d/.hidden.conf"
echo 'this is not a config' >"$RG_TMP/orgs.d/README"
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$SEC" \
    --extra 'include("orgs.d/*.conf")   # relative to this file'

out=$("$gw" -t -c "$RG_TMP/gw.conf" 2>&1)
st=$?
[ $st = 0 ] && rg_pass "-t with 20 included org files: exit 0" || rg_fail "-t exit $st: $out"
want=$(printf '%s\n' "${names[@]}" | LC_ALL=C sort | tr '\n' ' ')
got=$(grep -oE '^org "org[0-9]+"' <<<"$out" | grep -oE 'org[0-9]+' | tr '\n' ' ')
[ "$got" = "$want" ] && rg_pass "20 orgs read in byte order of the file names" ||
    rg_fail "org order '$got', want '$want'"
inc=$(grep -c '^  include .*/orgs.d/org[0-9]*\.conf$' <<<"$out")
[ "$inc" = 20 ] && rg_pass "-t lists the 20 included files" || rg_fail "-t lists $inc included files"
rg_assert_output "$(grep -c '^org "' <<<"$out")" '^21$' "21 orgs: acme and the 20 included"
if grep -q 'hidden\|README' <<<"$out"; then rg_fail "hidden file or README read"; else
    rg_pass "hidden files and other names are not read"; fi

# An error in an included file: that file and its line.
cp "$RG_TMP/orgs.d/org13.conf" "$RG_TMP/org13.good"
sed -i '4a\    bogus-key = 1' "$RG_TMP/orgs.d/org13.conf"
out=$("$gw" -t -c "$RG_TMP/gw.conf" 2>&1)
st=$?
[ $st = 1 ] && rg_pass "error in org13.conf: exit 1" || rg_fail "error in org13.conf: exit $st"
rg_assert_output "$out" "^$RG_TMP/orgs.d/org13.conf:5: unknown key 'bogus-key' in org" \
    "error in an included file: its name and line"
cp "$RG_TMP/org13.good" "$RG_TMP/orgs.d/org13.conf"
sed -i '3s|globex-ca.pem|no-such-ca.pem|' "$RG_TMP/orgs.d/org7.conf"
out=$("$gw" -t -c "$RG_TMP/gw.conf" 2>&1)
rg_assert_output "$out" "^$RG_TMP/orgs.d/org7.conf:3: .*no-such-ca.pem" \
    "missing CA named in an included file: its name and line"
org_file org7
echo 'org "broken" {' >"$RG_TMP/orgs.d/zz.conf"
out=$("$gw" -t -c "$RG_TMP/gw.conf" 2>&1)
rg_assert_output "$out" "^$RG_TMP/orgs.d/zz.conf:1: '\{' opened here is not closed" \
    "unclosed block in an included file: its name and line"
rm "$RG_TMP/orgs.d/zz.conf"
line=$(grep -n '^include' "$RG_TMP/gw.conf" | cut -d: -f1)
out=$("$gw" -t -c "$RG_TMP/gw.conf" 2>&1)
rg_assert_output "$out" 'configuration OK' "fixed again: OK"
# an error in the main file after the include still names the main file's own line
echo 'bogus-after = 1' >>"$RG_TMP/gw.conf"
eline=$(grep -n '^bogus-after' "$RG_TMP/gw.conf" | cut -d: -f1)
out=$("$gw" -t -c "$RG_TMP/gw.conf" 2>&1)
rg_assert_output "$out" "^$RG_TMP/gw.conf:$eline: unknown key 'bogus-after'" \
    "error after the include: the main file's line"
sed -i '/^bogus-after/d' "$RG_TMP/gw.conf"

# Patterns that cannot work are errors at the include's own line.
cp "$RG_TMP/gw.conf" "$RG_TMP/nodir.conf"
sed -i 's|include("orgs.d/\*.conf")|include("no-such-dir/*.conf")|' "$RG_TMP/nodir.conf"
out=$("$gw" -t -c "$RG_TMP/nodir.conf" 2>&1)
rg_assert_output "$out" "^$RG_TMP/nodir.conf:$line: include .*no-such-dir/\*.conf.*cannot open directory" \
    "missing directory: error at the include line"
cp "$RG_TMP/gw.conf" "$RG_TMP/nofile.conf"
sed -i 's|include("orgs.d/\*.conf")|include("orgs.d/missing.conf")|' "$RG_TMP/nofile.conf"
out=$("$gw" -t -c "$RG_TMP/nofile.conf" 2>&1)
rg_assert_output "$out" "^$RG_TMP/nofile.conf:$line: include .*missing.conf.*No such file" \
    "missing plain file: error at the include line"
sed 's|^pool "corp" {|pool "corp" {\n    include("orgs.d/*.conf")|' "$RG_TMP/gw.conf" >"$RG_TMP/inblock.conf"
out=$("$gw" -t -c "$RG_TMP/inblock.conf" 2>&1)
rg_assert_output "$out" 'inblock.conf:[0-9]+: include is allowed at the top level only' \
    "include inside a block: refused"
echo 'include("loop.conf")' >"$RG_TMP/loop.conf"
out=$("$gw" -t -c "$RG_TMP/loop.conf" 2>&1)
rg_assert_output "$out" 'loop.conf:1: include .*nested more than 8 deep' "include loop: refused"

# The gateway runs with the included orgs; a reload reads a file added since.
rg_gateway_start "$RG_TMP/gw.conf" gw
rg_assert_log "$GW_LOG" 'event=started .*workers=2 orgs=21 ' "gateway started with 21 orgs"
out=$(rg_client --timeout 5 auth alice pw 2>&1)
rg_assert_output "$out" '^Access-Accept' "acme AP authenticates beside 20 included orgs"
# ap-globex's CN matches none of the 20 rules: refused with "no match"
out=$("$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI/ap-globex.pem" --key "$RG_PKI/ap-globex.key" --timeout 3 auth alice pw 2>&1)
rg_wait_log "$GW_LOG" 'reason="no match' 5 gw && rg_pass "an included org's rules apply" ||
    rg_fail "globex AP not refused by the included orgs' match rules"
cn=$(openssl x509 -in "$RG_PKI/ap-globex.pem" -noout -subject -nameopt multiline | awk -F' = ' '/commonName/ {print $2}')
org_file "$cn"
rg_signal gw HUP
rg_wait_log "$GW_LOG" 'event=reload_done' 10 gw || rg_fail "no 'event=reload_done' after adding a file"
out=$("$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
    --cert "$RG_PKI/ap-globex.pem" --key "$RG_PKI/ap-globex.key" --timeout 5 auth alice pw 2>&1)
rg_assert_output "$out" '^Access-Accept' "after HUP: the org of a newly added file accepts its AP"
rg_stop gw && rg_pass "exit 0" || rg_fail "exit non-zero"
rg_finish
