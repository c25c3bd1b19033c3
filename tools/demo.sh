#!/usr/bin/env bash
# radsecgw demo from a fresh Debian 12 machine: installs what is missing, builds, makes a
# demo PKI (org CA + AP cert + server cert), starts a throwaway FreeRADIUS on loopback as
# the legacy backend, starts radsecgw on 127.0.0.1:2083 (RG_DEMO_PORT to change) with
# etc/radsecgw-demo.conf, sends one PAP authentication through it with tools/radsec_client,
# shows the Access-Accept, then leaves radsecgw running in the foreground until Ctrl-C and
# stops everything it started.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/install-deps.sh"
build=$top/build-release
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

export RG_BUILD_DIR=$build RG_SOURCE_DIR=$top
# shellcheck source=../test/integration/lib.sh
source "$top/test/integration/lib.sh"
set +e # lib.sh reports its own errors
rg_tmpdir >/dev/null
rg_pki
secret="demo-backend-secret-$RANDOM$RANDOM"
rg_freeradius_start "$secret"
port=${RG_DEMO_PORT:-2083}
conf=$RG_TMP/radsecgw.conf
sed -e "s|@PKI@|$RG_PKI|g" -e "s|@PORT@|$port|g" -e "s|@AUTH_PORT@|$FR_AUTH_PORT|g" \
    -e "s|@ACCT_PORT@|$FR_ACCT_PORT|g" -e "s|@SECRET@|$secret|g" \
    "$top/etc/radsecgw-demo.conf" >"$conf"

echo "== radsecgw -t"
"$build/radsecgw" -t -c "$conf" || exit 1
echo "== starting radsecgw on 127.0.0.1:$port (log below)"
"$build/radsecgw" -f -c "$conf" &
gw=$!
RG_PIDS+=("$gw")
rg_wait_port "$port" tcp 10 || { echo "radsecgw did not start (port $port in use? RG_DEMO_PORT=N picks another)" >&2; exit 1; }

echo "== one authentication through the gateway: AP (acme cert) -> radsecgw -> FreeRADIUS"
"$build/radsec_client" --port "$port" --ca "$RG_PKI_SERVER_CA" --cert "$RG_PKI_AP_CERT" \
    --key "$RG_PKI_AP_KEY" --secret radsec auth alice "$RG_USERS_ALICE_PASSWORD"
status=$?
if [ "$status" -ne 0 ]; then
    echo "== the demo authentication failed (exit $status)" >&2
    exit 1
fi
cat <<TXT
== Access-Accept received. radsecgw keeps running on 127.0.0.1:$port; try:
   $build/radsec_client --port $port --ca $RG_PKI_SERVER_CA \\
       --cert $RG_PKI_AP_CERT --key $RG_PKI_AP_KEY auth alice wonderland
== Ctrl-C stops radsecgw and FreeRADIUS.
TXT
trap 'kill -TERM "$gw" 2>/dev/null; wait "$gw"; exit 0' INT TERM
wait "$gw"
