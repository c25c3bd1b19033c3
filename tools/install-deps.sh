#!/usr/bin/env bash
# Install the Debian packages radsecgw needs to build and test, if any are missing.
# Idempotent: does nothing (and needs no network) when everything is there.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      dpkg-dev autoconf automake libtool qemu-user lintian mandoc
      libwolfssl-dev libuv1-dev libconfuse-dev libsystemd-dev libcmocka-dev
      openssl freeradius freeradius-utils radsecproxy eapoltest
      iproute2 procps psmisc python3 haproxy redis-server libhiredis-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# A FreeRADIUS or radsecproxy service that Debian starts on install, or that ran before, is
# left alone: the tests run their own instances on ports of their own.
exit 0
