#!/usr/bin/env bash
# Issue #2: the command line contract of DESIGN.md. -V names the versions of radsecgw and of
# the wolfSSL, libuv and libconfuse it runs with; -t loads the config and every certificate,
# key and CA, prints a summary and exits 0, or prints file:line: reason and exits 1; a
# config with a short backend secret passes with a warning (deprecating-radius §7.1).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
gw=$(rg_bin radsecgw)

out=$("$gw" -V 2>&1)
st=$?
[ $st = 0 ] && rg_pass "-V exits 0" || rg_fail "-V exit $st"
rg_assert_output "$out" '^radsecgw [0-9]+\.[0-9]+\.[0-9]+' "-V: radsecgw version"
rg_assert_output "$out" '^wolfSSL 5\.' "-V: wolfSSL version"
rg_assert_output "$out" '^libuv 1\.' "-V: libuv version"
rg_assert_output "$out" '^libconfuse 3\.' "-V: libconfuse version"
# Issue #12: which wolfSSL the binary carries: the Debian source revision and the .dsc
# SHA-256 of the tailored build, with its configure options; or the system library.
if grep -q '^wolfSSL source: system libwolfssl' <<<"$out"; then
    rg_assert_output "$out" '^wolfSSL source: system libwolfssl \(shared\), built against Debian package [0-9]' \
        "-V: system wolfSSL package"
else
    rg_assert_output "$out" \
        '^wolfSSL source: wolfssl [0-9.]+-[0-9a-z.+~]+ \(Debian source package, \.dsc sha256 [0-9a-f]{64}\), static$' \
        "-V: wolfSSL Debian source revision and .dsc SHA-256"
    rg_assert_output "$out" '^wolfSSL configure: .*--disable-oldtls .*--disable-dtls .*--disable-sessioncerts' \
        "-V: wolfSSL configure options"
fi

rg_gateway_conf "$RG_TMP/good.conf" --backend "127.0.0.1:1812:1813:a-long-backend-secret"
out=$("$gw" -t -c "$RG_TMP/good.conf" 2>&1)
st=$?
[ $st = 0 ] && rg_pass "-t good config exits 0" || rg_fail "-t good config exit $st: $out"
rg_assert_output "$out" 'configuration OK' "-t good config: says OK"
rg_assert_output "$out" 'pool "corp"' "-t good config: prints the pools"

# A backend secret of 12 octets or fewer: valid, with a warning naming the line.
rg_gateway_conf "$RG_TMP/short.conf" --backend "127.0.0.1:1812:1813:short"
line=$(grep -n 'secret = "short"' "$RG_TMP/short.conf" | cut -d: -f1)
out=$("$gw" -t -c "$RG_TMP/short.conf" 2>&1)
st=$?
[ $st = 0 ] && rg_pass "-t short secret exits 0" || rg_fail "-t short secret exit $st"
rg_assert_output "$out" "short.conf:$line: warning: .*12 octets" "-t short secret: warning at file:line"

# Unknown key: file:line and exit 1.
sed 's/^    idle-timeout = 60/    idle-timeout = 60\n    bogus-key = 1/' "$RG_TMP/good.conf" >"$RG_TMP/bad.conf"
line=$(grep -n 'bogus-key' "$RG_TMP/bad.conf" | cut -d: -f1)
out=$("$gw" -t -c "$RG_TMP/bad.conf" 2>&1)
st=$?
[ $st = 1 ] && rg_pass "-t unknown key exits 1" || rg_fail "-t unknown key exit $st"
rg_assert_output "$out" "bad.conf:$line: .*bogus-key" "-t unknown key: file:line and the key"

# Missing CA file: file:line and exit 1.
sed "s|$RG_PKI_ACME_CA|$RG_TMP/no-such-ca.pem|" "$RG_TMP/good.conf" >"$RG_TMP/noca.conf"
line=$(grep -n 'no-such-ca.pem' "$RG_TMP/noca.conf" | cut -d: -f1)
out=$("$gw" -t -c "$RG_TMP/noca.conf" 2>&1)
st=$?
[ $st = 1 ] && rg_pass "-t missing CA exits 1" || rg_fail "-t missing CA exit $st"
rg_assert_output "$out" "noca.conf:$line: .*no-such-ca.pem" "-t missing CA: file:line and the path"

# A key that does not belong to the certificate: the TLS check fails, exit 1.
sed "s|$RG_PKI_SERVER_KEY|$RG_PKI_AP_KEY|" "$RG_TMP/good.conf" >"$RG_TMP/badkey.conf"
out=$("$gw" -t -c "$RG_TMP/badkey.conf" 2>&1)
st=$?
[ $st = 1 ] && rg_pass "-t mismatched key exits 1" || rg_fail "-t mismatched key exit $st: $out"

# No such config file.
out=$("$gw" -t -c "$RG_TMP/missing.conf" 2>&1)
st=$?
[ $st = 1 ] && rg_pass "-t missing file exits 1" || rg_fail "-t missing file exit $st"
rg_assert_output "$out" 'missing.conf' "-t missing file: names the file"

# Bad option: usage, exit 2.
"$gw" -Z >/dev/null 2>&1
st=$?
[ $st = 2 ] && rg_pass "unknown option exits 2" || rg_fail "unknown option exit $st"
rg_finish
