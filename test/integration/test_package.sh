#!/usr/bin/env bash
# Issue 11: the installed layout and the Debian package. A BUILD_TESTING=OFF configure
# needs no cmocka; `cmake --install` into a staging DESTDIR lays out exactly the files of
# DESIGN.md's "Installed layout"; the unit passes systemd-analyze verify and has the
# directives the service relies on; both man pages are clean under mandoc -Tlint and the
# man page and the sample document every config key; nothing shipped points outside the
# package; the shipped sample passes -t once its files exist; `cpack -G DEB` builds a .deb
# with the same files, maintainer scripts and conffiles, and lintian reports no error.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_need cmake cpack dpkg-deb lintian mandoc systemd-analyze pkg-config
src=$RG_SOURCE_DIR

# --- packaging needs no cmocka ---------------------------------------------------------
pcdir=$RG_TMP/pkgconfig
mkdir -p "$pcdir"
for d in $(pkg-config --variable pc_path pkg-config | tr ':' ' '); do
    for f in "$d"/*.pc; do
        [ -e "$f" ] && [ "$(basename "$f")" != cmocka.pc ] && ln -sf "$f" "$pcdir/"
    done
done
PKG_CONFIG_LIBDIR=$pcdir pkg-config --exists cmocka && rg_die "could not hide cmocka"
pkgbuild=$RG_TMP/build-pkg
# the tailored wolfSSL cache of the build under test, so the check does not rebuild wolfSSL
if PKG_CONFIG_LIBDIR=$pcdir cmake -S "$src" -B "$pkgbuild" -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo ${RG_WOLFSSL_CACHE:+-DRG_WOLFSSL_CACHE="$RG_WOLFSSL_CACHE"} \
    >"$RG_TMP/configure.log" 2>&1; then
    rg_pass "BUILD_TESTING=OFF configures without cmocka"
else
    rg_fail "BUILD_TESTING=OFF configure failed without cmocka: $(tail -5 "$RG_TMP/configure.log")"
fi
grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr$' "$pkgbuild/CMakeCache.txt" &&
    rg_pass "default install prefix is /usr" || rg_fail "default install prefix is not /usr"

# Package the build under test when it was configured for /usr (a fresh build is); else
# build the daemon in the cmocka-free directory.
if grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr$' "$RG_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
    build=$RG_BUILD_DIR
else
    rg_log "RG_BUILD_DIR is not configured for /usr: building the daemon in $pkgbuild"
    cmake --build "$pkgbuild" -j "$(nproc)" >"$RG_TMP/build.log" 2>&1 ||
        rg_die "build failed: $(tail -20 "$RG_TMP/build.log")"
    build=$pkgbuild
fi

# --- cmake --install into a staging DESTDIR -----------------------------------------------
stage=$RG_TMP/stage
DESTDIR=$stage cmake --install "$build" >"$RG_TMP/install.log" 2>&1 ||
    rg_die "cmake --install failed: $(tail -5 "$RG_TMP/install.log")"
want="etc/radsecgw/radsecgw.conf
lib/systemd/system/radsecgw.service
usr/sbin/radsecgw
usr/share/doc/radsecgw/README.md
usr/share/doc/radsecgw/architecture.md
usr/share/doc/radsecgw/benchmarks.md
usr/share/doc/radsecgw/changelog.gz
usr/share/doc/radsecgw/copyright
usr/share/doc/radsecgw/meraki.md
usr/share/doc/radsecgw/operations.md
usr/share/doc/radsecgw/prometheus/grafana-dashboard.json
usr/share/doc/radsecgw/prometheus/prometheus.yml
usr/share/doc/radsecgw/prometheus/radsecgw-alerts.yml
usr/share/man/man5/radsecgw.conf.5.gz
usr/share/man/man8/radsecgw.8.gz"
got=$(cd "$stage" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
[ "$got" = "$want" ] && rg_pass "staged install: exactly the installed layout" ||
    rg_fail "staged install differs: $(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')"
[ -d "$stage/etc/radsecgw/orgs.d" ] && rg_pass "staged install: /etc/radsecgw/orgs.d" ||
    rg_fail "no /etc/radsecgw/orgs.d"
"$stage/usr/sbin/radsecgw" -V >/dev/null 2>&1 && rg_pass "installed radsecgw runs (-V)" ||
    rg_fail "installed radsecgw -V fails"
cmp -s "$stage/etc/radsecgw/radsecgw.conf" "$src/etc/radsecgw.conf" &&
    rg_pass "installed config is the commented sample" || rg_fail "installed config differs"

# --- the unit -----------------------------------------------------------------------------
unit=$stage/lib/systemd/system/radsecgw.service
for d in '^Type=notify$' '^ExecStartPre=/usr/sbin/radsecgw -t -c /etc/radsecgw/radsecgw.conf$' \
    '^ExecStart=/usr/sbin/radsecgw -f ' '^ExecReload=/bin/kill -HUP \$MAINPID$' \
    '^User=radsecgw$' '^SupplementaryGroups=ssl-cert$' '^RuntimeDirectory=radsecgw$' \
    '^ProtectSystem=strict$' '^PrivateTmp=yes$' '^NoNewPrivileges=yes$' \
    '^CapabilityBoundingSet=$' '^WatchdogSec=' '^WantedBy=multi-user.target$'; do
    rg_assert_log "$unit" "$d" "unit: $d"
done
nofile=$(sed -n 's/^LimitNOFILE=//p' "$unit")
max=$(sed -n 's/.*OPT_INT("max-connections", "\([0-9]*\)").*/\1/p' "$src/src/config_schema.c")
[ -n "$nofile" ] && [ -n "$max" ] && [ "$nofile" -ge $((max + 1024)) ] &&
    rg_pass "unit: LimitNOFILE=$nofile covers max-connections $max" ||
    rg_fail "unit: LimitNOFILE '$nofile' below max-connections '$max' + 1024"
grep -q -- '-p /run/radsecgw/' "$unit" && rg_pass "unit: pidfile in its RuntimeDirectory" ||
    rg_fail "unit: pidfile not in /run/radsecgw"
# verify checks that the binaries exist: point it at the staged ones
sed "s|/usr/sbin/radsecgw|$stage/usr/sbin/radsecgw|g" "$unit" >"$RG_TMP/radsecgw.service"
out=$(MANPATH=$stage/usr/share/man systemd-analyze verify "$RG_TMP/radsecgw.service" 2>&1)
st=$?
# verify also loads the units installed on the machine: what it says about those (Debian's
# freeradius.service uses the deprecated MemoryLimit=) is not about radsecgw.service.
out=$(grep -vE '^/(usr/)?lib/systemd/system/[^/]+\.service:[0-9]+: ' <<<"$out")
[ $st = 0 ] && [ -z "$out" ] && rg_pass "systemd-analyze verify: clean" ||
    rg_fail "systemd-analyze verify (exit $st): $out"
score=$(systemd-analyze security --offline=yes "$RG_TMP/radsecgw.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for radsecgw.service: \([0-9.]*\).*/\1/p')
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' &&
    rg_pass "systemd-analyze security: exposure $score (<= 2.0)" ||
    rg_fail "systemd-analyze security: exposure '$score'"

# --- man pages ----------------------------------------------------------------------------
mkdir -p "$RG_TMP/man"
for p in man8/radsecgw.8 man5/radsecgw.conf.5; do
    zcat "$stage/usr/share/man/$p.gz" >"$RG_TMP/man/$(basename "$p")"
done
# "referenced manual not found" depends on the man database of the machine, not the page
lint=$(cd "$RG_TMP/man" && mandoc -Tlint radsecgw.8 radsecgw.conf.5 2>&1 |
    grep -v 'referenced manual not found\|mandoc.db')
[ -z "$lint" ] && rg_pass "mandoc -Tlint: clean" || rg_fail "mandoc -Tlint: $lint"
keys=$(grep -oE 'OPT_[A-Z_]+\("[a-z0-9-]+"' "$src/src/config_schema.c" | sed -E 's/.*\("//; s/"$//' | sort -u)
missing_man="" missing_sample=""
for k in $keys include; do
    grep -qE "^\.It Ic $k( |$)" "$RG_TMP/man/radsecgw.conf.5" || missing_man+=" $k"
    grep -qE "(^|[ {])$k( = |\(| \"| \{)" "$src/etc/radsecgw.conf" || missing_sample+=" $k"
done
[ -z "$missing_man" ] && rg_pass "radsecgw.conf(5) documents every key ($(wc -w <<<"$keys") keys)" ||
    rg_fail "radsecgw.conf(5) lacks:$missing_man"
[ -z "$missing_sample" ] && rg_pass "the sample shows every key" ||
    rg_fail "etc/radsecgw.conf lacks:$missing_sample"
for o in c d f p t V; do
    grep -q "^\.Op Fl .*$o\|^\.Fl $o\|^\.It Fl $o" "$RG_TMP/man/radsecgw.8" || rg_fail "radsecgw(8) lacks -$o"
done
rg_pass "radsecgw(8) documents -c -d -f -p -t -V"

# --- nothing shipped points outside the package ---------------------------------------
leaks=$(cd "$stage" && { grep -rlE '\.\./shared|shared/DESIGN|/work/' usr/share/doc etc lib; \
    grep -lE '\.\./shared|shared/DESIGN|/work/' "$RG_TMP"/man/*; } 2>/dev/null)
[ -z "$leaks" ] && rg_pass "shipped text points only inside the package" ||
    rg_fail "references outside the package in: $leaks"

# --- the sample, as shipped, once its files exist -------------------------------------
rg_pki
etc=$RG_TMP/etc-radsecgw
mkdir -p "$etc/orgs.d"
cp "$RG_PKI_SERVER_CHAIN" "$etc/server-chain.pem"
cp "$RG_PKI_SERVER_KEY" "$etc/server.key"
cp "$RG_PKI/acme-ca.pem" "$etc/acme-ca.pem"
cp "$RG_PKI/acme-ca-next.pem" "$etc/acme-ca-next.pem"
cp "$RG_PKI/acme.crl" "$etc/acme.crl"
sed -e "s|/etc/radsecgw/|$etc/|g" -e "s|^user = \"radsecgw\"|user = \"$(id -un)\"|" \
    "$stage/etc/radsecgw/radsecgw.conf" >"$etc/radsecgw.conf"
out=$("$stage/usr/sbin/radsecgw" -t -c "$etc/radsecgw.conf" 2>&1)
st=$?
[ $st = 0 ] && rg_pass "the sample passes -t once its files exist" || rg_fail "sample -t exit $st: $out"
coa_addr=$(sed -n 's/^coa \([^ ]*\) port.*/\1/p' <<<"$out")
remote=$(grep -E '^  client ' <<<"$out" | grep -vE '\((127\.|::1\))' | head -1)
if [ -n "$remote" ] && [[ "$coa_addr" == 127.* || "$coa_addr" == ::1 ]]; then
    rg_fail "sample: coa listens on $coa_addr but has a remote client: $remote"
else
    rg_pass "sample: the coa address can be reached by its clients ($coa_addr)"
fi

# --- cpack -G DEB and lintian ---------------------------------------------------------------
(cd "$build" && cpack -G DEB -B "$RG_TMP/deb") >"$RG_TMP/cpack.log" 2>&1 ||
    rg_die "cpack failed: $(tail -10 "$RG_TMP/cpack.log")"
deb=$(ls "$RG_TMP"/deb/radsecgw_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] && rg_pass "cpack -G DEB: $(basename "$deb")" || rg_die "no .deb produced"
debfiles=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./||' | LC_ALL=C sort)
[ "$debfiles" = "$want" ] && rg_pass ".deb: the installed layout" ||
    rg_fail ".deb files differ: $(diff <(echo "$want") <(echo "$debfiles") | grep '^[<>]' | tr '\n' ' ')"
listing=$(dpkg-deb -c "$deb")
grep -q ' \./etc/radsecgw/orgs\.d/$' <<<"$listing" && rg_pass ".deb: orgs.d" ||
    rg_fail ".deb: no orgs.d directory"
ctl=$RG_TMP/control
dpkg-deb -e "$deb" "$ctl"
rg_assert_log "$ctl/conffiles" '^/etc/radsecgw/radsecgw.conf$' ".deb: the config is a conffile"
rg_assert_output "$(dpkg-deb -f "$deb" Depends)" '(^|, )adduser(,|$)' ".deb: Depends adduser"
rg_assert_output "$(dpkg-deb -f "$deb" Depends)" '(^|, )ssl-cert(,|$)' ".deb: Depends ssl-cert"
rg_assert_output "$(dpkg-deb -f "$deb" Depends)" 'libsystemd0' ".deb: Depends libsystemd0 (shlibdeps)"
for s in postinst prerm postrm; do
    sh -n "$ctl/$s" && rg_pass ".deb: $s is valid sh" || rg_fail ".deb: $s syntax error"
done
rg_assert_log "$ctl/postinst" 'adduser --system --group .*radsecgw' "postinst: system user radsecgw"
rg_assert_log "$ctl/postinst" 'adduser --quiet radsecgw ssl-cert' "postinst: user in group ssl-cert"
rg_assert_log "$ctl/postinst" 'deb-systemd-helper enable radsecgw.service' "postinst: service enabled"
rg_assert_log "$ctl/postinst" 'runuser -u radsecgw -- /usr/sbin/radsecgw -t' \
    "postinst: started only when -t passes as the service user"
lintian --tag-display-limit 0 "$deb" >"$RG_TMP/lintian.log" 2>&1
cat "$RG_TMP/lintian.log" >&2
if grep -q '^E: ' "$RG_TMP/lintian.log"; then
    rg_fail "lintian errors: $(grep '^E: ' "$RG_TMP/lintian.log" | tr '\n' ' ')"
else
    rg_pass "lintian: no error ($(grep -c '^W: ' "$RG_TMP/lintian.log") warnings)"
fi
rg_finish
