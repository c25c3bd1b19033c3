#!/usr/bin/env bash
# Build the wolfSSL that radsecgw links statically, from Debian's own source package.
#
#   tools/wolfssl-build.sh CACHE_DIR
#
# 1. A project-local apt configuration under CACHE_DIR/apt (its own sources.list with
#    bookworm and bookworm-security deb-src, its own state and cache directories; the
#    system's sources are neither read nor changed) finds the newest wolfssl source
#    revision Debian publishes and downloads it (apt checks it against the signed index).
#    Offline, the newest source already in CACHE_DIR/dl is used, and the script says so.
# 2. dpkg-source -x unpacks it with Debian's patches (the security fixes) applied.
# 3. configure with the options below (what radsecgw needs and nothing else), make, and
#    install a static library into CACHE_DIR/<version>-<dsc sha256>-<options hash>/.
#    An install already there for the same source and options is reused.
#
# Prints the version and the .dsc SHA-256 on stderr; the last line on stdout is the install
# prefix. The prefix holds radsecgw-wolfssl.txt: source version, .dsc SHA-256, options.
set -euo pipefail

# The same library whatever compiler or flags the calling build tree uses (the release,
# asan and clang fuzz trees share one): the system cc with wolfSSL's own flags.
unset CC CFLAGS CPPFLAGS LDFLAGS CCASFLAGS
cache=${1:?usage: $0 CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
say() { echo "wolfssl: $*" >&2; }
exec 9>"$cache/.lock"
flock 9 # one at a time per cache (build trees configured at once may share it)

# What radsecgw needs (docs/architecture.md, "wolfSSL"):
#  TLS 1.2 + 1.3 server and client (the test tools), no SSLv3/TLS 1.0/1.1, no DTLS;
#  ECDHE with X25519, P-256, P-384 (P-521 comes with --enable-sp on x86_64);
#  RSA up to 4096 and ECDSA certificates;
#  AES-GCM with AES-NI picked at run time (CPUID; the C code runs on CPUs without it),
#  ChaCha20-Poly1305 (AVX/AVX2 picked at run time); SP math with x86_64 assembly
#  (BMI2/ADX picked at run time), sp-math-all for any other size;
#  CRLs, ALPN, SNI, subjectAltName DNS/URI/IP; the OpenSSL-compatible X509/CRL API that
#  src/tls_peer.c and tls_expiry.c read names, SANs and dates with; ex_data and the verify callback on every
#  certificate (the gateway keeps the peer chain itself: no session certificate copies);
#  session tickets built (the gateway turns them off), no early data; no DH, no PSK.
#  WOLFSSL_FPKI, as in Debian's build: without it wolfSSL 5.5 refuses a certificate whose
#  URI subjectAltName has no "scheme://" (a URN such as urn:acme:ap:Q2AA-...), which
#  RFC 5280 §4.2.1.6 allows.
options=(
    --enable-static --disable-shared --with-pic
    --disable-examples --disable-crypttests --disable-benchmark
    --enable-tls13 --enable-tlsv12 --disable-oldtls --disable-tlsv10 --disable-sslv3
    --disable-dtls --disable-psk --disable-earlydata --enable-session-ticket
    --disable-dh --enable-ecc --enable-curve25519 --enable-supportedcurves
    --enable-rsa --enable-rsapss
    --enable-aesgcm --enable-aesni --enable-intelasm --enable-chacha --enable-poly1305
    --enable-sp=yes --enable-sp-asm --enable-sp-math-all
    --enable-crl --enable-alpn --enable-sni --enable-ip-alt-name --enable-extended-master
    --enable-opensslextra --disable-sessioncerts
    --disable-crl-monitor --disable-sys-ca-certs
)
cppflags="-DHAVE_EX_DATA -DWOLFSSL_ALT_NAMES -DWOLFSSL_ALWAYS_VERIFY_CB -DWOLFSSL_VERIFY_CB_ALL_CERTS -DWOLFSSL_FPKI"
# Extra options for measurements only (e.g. --enable-sessioncerts): RG_WOLFSSL_EXTRA
# (cmake -DRG_WOLFSSL_EXTRA=...).
if [ -n "${RG_WOLFSSL_EXTRA:-}" ]; then
    read -r -a extra <<<"$RG_WOLFSSL_EXTRA"
    options+=("${extra[@]}")
fi
opts_text="${options[*]} CPPFLAGS=\"$cppflags\""

# ---- 1. the newest source revision ---------------------------------------------------------
apt_dir="$cache/apt"
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/state/lists/partial" \
    "$apt_dir/cache/archives/partial" "$cache/dl"
# Signed by Debian's archive key (debian-archive-keyring): apt-get source checks the files
# against the signed Sources index.
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$apt_dir/sources.list" <<EOF
deb-src [signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::State=$apt_dir/state" -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Sandbox::User=root" -o "Acquire::Retries=1" -o "Acquire::http::Timeout=20")
# APT::Sandbox::User=root: the lists and downloads go to this tree, which the unprivileged
# _apt user may not be allowed to write.

newest_cached() { # the .dsc of the highest version in CACHE_DIR/dl
    local best="" v bv="" d
    for d in "$cache"/dl/wolfssl_*.dsc; do
        [ -e "$d" ] || continue
        v=$(sed -n 's/^Version: //p' "$d")
        if [ -z "$bv" ] || dpkg --compare-versions "$v" gt "$bv"; then
            best=$d bv=$v
        fi
    done
    echo "$best"
}

highest() { # the highest Debian version among the lines of stdin
    local best="" v
    while read -r v; do
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done
    echo "$best"
}

dsc=""
ver=""
# apt-get update may exit 0 after a failed fetch (keeping old lists): its log tells.
if apt-get "${apt_opts[@]}" -q update >"$apt_dir/update.log" 2>&1 &&
    ! grep -qiE 'failed to fetch|failed to download|temporary failure|could not' \
        "$apt_dir/update.log"; then
    ver=$(apt-cache "${apt_opts[@]}" showsrc --only-source wolfssl 2>/dev/null |
        sed -n 's/^Version: //p' | highest)
fi
if [ -n "$ver" ]; then
    upver=${ver#*:}
    dsc="$cache/dl/wolfssl_${upver}.dsc"
    if [ -e "$dsc" ]; then
        say "Debian's newest source is $ver: already downloaded"
    else
        say "Debian's newest source is $ver: downloading"
        (cd "$cache/dl" && apt-get "${apt_opts[@]}" -q source --download-only "wolfssl=$ver" \
            >"$apt_dir/source.log" 2>&1) || {
            sed 's/^/  /' "$apt_dir/source.log" >&2
            say "download of $ver failed"
            dsc=""
        }
    fi
fi
if [ -z "$dsc" ] || [ ! -e "$dsc" ]; then
    dsc=$(newest_cached)
    if [ -z "$dsc" ]; then
        sed 's/^/  /' "$apt_dir/update.log" >&2 || true
        say "the Debian archive is not reachable and there is no cached source in $cache/dl"
        exit 1
    fi
    say "offline: the Debian archive is not reachable; using the cached source $(basename "$dsc")"
fi
ver=$(sed -n 's/^Version: //p' "$dsc")
sha=$(sha256sum "$dsc" | cut -d' ' -f1)
say "source wolfssl $ver, .dsc SHA-256 $sha"

# ---- 2./3. unpack, configure, build, install (once per source and options) -----------------
opts_hash=$(printf '%s\n' "$opts_text" | sha256sum | cut -c1-12)
prefix="$cache/${ver//[:~+]/_}-${sha:0:16}-$opts_hash"
if [ -e "$prefix/radsecgw-wolfssl.txt" ]; then
    say "using the cached build $prefix"
    echo "$prefix"
    exit 0
fi
work="$cache/work"
rm -rf "$work" "$prefix"
mkdir -p "$work"
say "unpacking with Debian's patches (dpkg-source -x)"
(cd "$work" && dpkg-source -q -x "$dsc" src >"$work/unpack.log" 2>&1) || {
    cat "$work/unpack.log" >&2
    exit 1
}
cd "$work/src"
say "configuring: $opts_text"
log="$work/build.log"
{
    autoreconf -fi &&
        ./configure --prefix="$prefix" "${options[@]}" CPPFLAGS="$cppflags" &&
        make -j"$(nproc)" &&
        make install
} >"$log" 2>&1 || {
    tail -40 "$log" >&2
    say "build failed; full log: $log"
    exit 1
}
cat >"$prefix/radsecgw-wolfssl.txt" <<EOF
version=$ver
dsc_sha256=$sha
options=$opts_text
EOF
cd "$cache"
rm -rf "$work"
# Builds of older revisions with the same options are not used again (the newest source
# wins, online or offline): keep the cache from growing with every security update.
for old in "$cache"/*-"$opts_hash"; do
    [ "$old" = "$prefix" ] || [ ! -e "$old/radsecgw-wolfssl.txt" ] || rm -rf "$old"
done
say "installed $prefix"
echo "$prefix"
