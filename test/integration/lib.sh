# shellcheck shell=bash
# Integration test library: sourced by test/integration/test_*.sh. Starts real peers
# (radsecgw, FreeRADIUS, radsecproxy, eapol_test, the fake backend) on 127.0.0.1 ports
# picked at run time, logs each one to $RG_TMP/NAME.log and stops every process it started
# by PID at exit. It knows nothing of the gateway's internals: only its CLI and config file.
#
# Environment: RG_BUILD_DIR (radsecgw, radsec_client, fake_backend), RG_SOURCE_DIR (set by
# ctest); RG_MAKE_PKI overrides tools/make-pki.sh; RG_KEEP_TMP=1 keeps the scratch directory.

RG_SOURCE_DIR=${RG_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RG_BUILD_DIR=${RG_BUILD_DIR:-$RG_SOURCE_DIR/build}
RG_MAKE_PKI=${RG_MAKE_PKI:-$RG_SOURCE_DIR/tools/make-pki.sh}
RG_TMP=${RG_TMP:-}
RG_FAILS=0
declare -a RG_PIDS=()
declare -A RG_PID_OF=()

# ---------------------------------------------------------------------------------------
# Messages and assertions

rg_log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
rg_die() {
    echo "FAIL: $*" >&2
    exit 1
}
# Record a failed check and go on (the script ends with rg_finish).
rg_fail() {
    echo "FAIL: $*" >&2
    RG_FAILS=$((RG_FAILS + 1))
}
rg_pass() { echo "ok: $*" >&2; }

# rg_check DESCRIPTION CMD...: run CMD, pass if it exits 0.
rg_check() {
    local what=$1
    shift
    if "$@"; then rg_pass "$what"; else rg_fail "$what"; fi
}

# rg_assert_log FILE REGEX [DESCRIPTION]: FILE has a line matching the extended REGEX.
rg_assert_log() {
    local file=$1 re=$2 what=${3:-"$1 matches /$2/"}
    if grep -Eq -- "$re" "$file" 2>/dev/null; then
        rg_pass "$what"
    else
        rg_fail "$what (no line in $file matches /$re/)"
        return 1
    fi
}

# rg_assert_no_log FILE REGEX [DESCRIPTION]: no line of FILE matches.
rg_assert_no_log() {
    local file=$1 re=$2 what=${3:-"$1 has no /$2/"}
    if grep -Eq -- "$re" "$file" 2>/dev/null; then
        rg_fail "$what (found: $(grep -Em1 -- "$re" "$file"))"
        return 1
    fi
    rg_pass "$what"
}

# rg_assert_output TEXT REGEX DESCRIPTION: like rg_assert_log on a string.
rg_assert_output() {
    local text=$1 re=$2 what=$3
    if grep -Eq -- "$re" <<<"$text"; then
        rg_pass "$what"
    else
        rg_fail "$what (output does not match /$re/):"
        sed 's/^/    | /' <<<"$text" >&2
        return 1
    fi
}

# rg_wait_log FILE REGEX [SECONDS] [NAME]: wait until FILE has a matching line; fail early
# if the process started as NAME died.
rg_wait_log() {
    local file=$1 re=$2 secs=${3:-10} name=${4:-} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        if [ -n "$name" ] && ! rg_alive "$name"; then
            echo "rg_wait_log: $name exited while waiting for /$re/ in $file" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "rg_wait_log: timeout after ${secs}s waiting for /$re/ in $file" >&2
    return 1
}

# rg_finish: exit 0 if no check failed, 1 otherwise (the EXIT trap prints logs on failure).
rg_finish() {
    if [ "$RG_FAILS" -ne 0 ]; then
        echo "$RG_FAILS check(s) failed" >&2
        exit 1
    fi
    echo "all checks passed" >&2
    exit 0
}

# ---------------------------------------------------------------------------------------
# Log lines: every line the gateway writes is "radsecgw[PID]: LEVEL: event=NAME key=value ..."
# (DESIGN.md). Keys are lower case with underscores; a value is either a run of characters
# without space, '"', '=' or '\', or a double-quoted string in which '"' and '\' are escaped.

RG_LOG_PREFIX_RE='^radsecgw\[[0-9]+\]: [A-Z]+: '
RG_LOG_KV_RE='event=[a-z][a-z0-9_]*( [a-z][a-z0-9_]*=("([^"\\]|\\.)*"|[^ "=\\]+))*$'

# rg_log_kv_bad FILE...: print the gateway lines of FILEs (file:line:text) that do not parse
# as key=value; lines of other programs (no radsecgw[PID] prefix) are not looked at.
rg_log_kv_bad() {
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        grep -naE -- "$RG_LOG_PREFIX_RE" "$f" | grep -avE -- "^[0-9]+:${RG_LOG_PREFIX_RE#^}$RG_LOG_KV_RE" |
            sed "s|^|$(basename "$f"):|"
    done
}

# The suite-wide check, run by rg_cleanup on every test's logs: a line that does not parse
# fails the test that produced it.
rg_check_log_format() {
    local bad
    bad=$(rg_log_kv_bad "$RG_TMP"/*.log "$RG_TMP"/*.out)
    [ -z "$bad" ] && return 0
    echo "FAIL: gateway log lines that are not event=NAME key=value (DESIGN.md):" >&2
    head -n 20 <<<"$bad" | sed 's/^/    | /' >&2
    return 1
}

# ---------------------------------------------------------------------------------------
# Scratch directory, processes and cleanup

rg_cleanup() {
    local status=$? pid i
    trap - EXIT INT TERM
    for pid in "${RG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${RG_PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "cleanup: PID $pid ignored SIGTERM for 5s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    if [ -n "$RG_TMP" ] && [ -d "$RG_TMP" ]; then
        if ! rg_check_log_format && [ "$status" -eq 0 ]; then
            status=1
        fi
        if [ "$status" -ne 0 ]; then
            local f
            for f in "$RG_TMP"/*.log; do
                [ -f "$f" ] || continue
                echo "----- last lines of $(basename "$f") -----" >&2
                tail -n 40 "$f" >&2
            done
        fi
        if [ "${RG_KEEP_TMP:-0}" = 1 ]; then
            echo "kept $RG_TMP" >&2
        else
            rm -rf "$RG_TMP"
        fi
    fi
    exit "$status"
}

# rg_tmpdir: create the scratch directory once ($RG_TMP, also printed), removed at exit.
rg_tmpdir() {
    if [ -z "$RG_TMP" ]; then
        RG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rg-test.XXXXXX") || rg_die "mktemp"
        trap rg_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi
    echo "$RG_TMP"
}

# rg_free_port: a port free for both TCP and UDP on 127.0.0.1 right now (the kernel picks
# it; a small race with other programs remains, as with any such scheme).
rg_free_port() {
    python3 - <<'EOF'
import socket
for _ in range(50):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    print(port)
    break
EOF
}

# rg_start NAME CMD...: run CMD in the background, stdout+stderr to $RG_TMP/NAME.log.
rg_start() {
    local name=$1
    shift
    [ -n "$RG_TMP" ] || rg_tmpdir >/dev/null
    "$@" >"$RG_TMP/$name.log" 2>&1 </dev/null &
    local pid=$!
    RG_PIDS+=("$pid")
    RG_PID_OF[$name]=$pid
    rg_log "started $name (PID $pid): $*"
}

rg_pid() { echo "${RG_PID_OF[$1]:-}"; }

rg_alive() {
    local pid=${RG_PID_OF[$1]:-}
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# rg_signal NAME SIG: send a signal to a started process.
rg_signal() {
    local pid=${RG_PID_OF[$1]:-}
    [ -n "$pid" ] || rg_die "rg_signal: no process $1"
    kill -"$2" "$pid"
}

# rg_stop NAME: SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit status.
rg_stop() {
    local pid=${RG_PID_OF[$1]:-} i st
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    st=$?
    unset "RG_PID_OF[$1]"
    return $st
}

# rg_wait_port PORT [tcp|udp] [SECONDS] [NAME]: wait until something listens on
# 127.0.0.1:PORT (checked with ss, so no connection is made to the server).
rg_wait_port() {
    local port=$1 proto=${2:-tcp} secs=${3:-10} name=${4:-} i flag=-Hltn
    [ "$proto" = udp ] && flag=-Hlun
    for ((i = 0; i < secs * 10; i++)); do
        if ss $flag "sport = :$port" 2>/dev/null | grep -q .; then
            return 0
        fi
        if [ -n "$name" ] && ! rg_alive "$name"; then
            echo "rg_wait_port: $name exited before listening on $proto/$port" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "rg_wait_port: nothing listens on $proto/$port after ${secs}s" >&2
    return 1
}

rg_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || rg_die "$c not installed (run tools/install-deps.sh)"
    done
}

rg_need_build() {
    local b
    for b in "$@"; do
        [ -x "$RG_BUILD_DIR/$b" ] || [ -x "$RG_BUILD_DIR/test/$b" ] ||
            rg_die "$b not built in RG_BUILD_DIR=$RG_BUILD_DIR"
    done
}

# rg_bin NAME: path of a program built by CMake (tools land in the build root, test
# helpers in build/test).
rg_bin() {
    if [ -x "$RG_BUILD_DIR/$1" ]; then
        echo "$RG_BUILD_DIR/$1"
    elif [ -x "$RG_BUILD_DIR/test/$1" ]; then
        echo "$RG_BUILD_DIR/test/$1"
    else
        rg_die "$1 not built in RG_BUILD_DIR=$RG_BUILD_DIR"
    fi
}

# ---------------------------------------------------------------------------------------
# Test PKI (tools/make-pki.sh). Sets RG_PKI and the RG_PKI_* file names below; tests use
# the variables, so a renamed file is fixed here once.

rg_pki() {
    [ -n "$RG_TMP" ] || rg_tmpdir >/dev/null
    RG_PKI=$RG_TMP/pki
    [ -f "$RG_MAKE_PKI" ] || rg_die "no PKI script at $RG_MAKE_PKI"
    bash "$RG_MAKE_PKI" "$RG_PKI" >"$RG_TMP/make-pki.out" 2>&1 ||
        {
            cat "$RG_TMP/make-pki.out" >&2
            rg_die "make-pki failed"
        }
    RG_PKI_SERVER_CA=$RG_PKI/server-ca.pem     # what clients trust for the gateway
    RG_PKI_SERVER_CHAIN=$RG_PKI/server-chain.pem
    RG_PKI_SERVER_KEY=$RG_PKI/server.key
    RG_PKI_ACME_CA=$RG_PKI/acme-ca.pem         # organisation root the gateway trusts
    RG_PKI_AP_CERT=$RG_PKI/ap-rsa.pem          # a good access point of org acme
    RG_PKI_AP_KEY=$RG_PKI/ap-rsa.key
    RG_PKI_ROGUE_CERT=$RG_PKI/ap-rogue.pem     # issued by a CA nobody configured
    RG_PKI_ROGUE_KEY=$RG_PKI/ap-rogue.key
    RG_PKI_USER_CERT=$RG_PKI/ap-ecdsa.pem      # EAP-TLS client (issued by the acme CA)
    RG_PKI_USER_KEY=$RG_PKI/ap-ecdsa.key
    local f
    for f in "$RG_PKI_SERVER_CA" "$RG_PKI_SERVER_CHAIN" "$RG_PKI_SERVER_KEY" "$RG_PKI_ACME_CA" \
        "$RG_PKI_AP_CERT" "$RG_PKI_AP_KEY" "$RG_PKI_ROGUE_CERT" "$RG_PKI_ROGUE_KEY"; do
        [ -f "$f" ] || rg_die "make-pki did not produce $f"
    done
}

# ---------------------------------------------------------------------------------------
# FreeRADIUS 3.2: a throwaway server on 127.0.0.1 with a generated raddb.
#
# rg_freeradius_start SECRET: sets FR_AUTH_PORT, FR_ACCT_PORT, FR_SECRET, FR_LOG. Users: alice /
# wonderland (PAP or CHAP, Reply-Message "Hello, alice", Tunnel-Password "tunnel-alice"), bob /
# bobpass (PEAP/MSCHAPv2, EAP-TTLS/PAP, and EAP-TLS with a certificate from the acme CA);
# anyone else is rejected (e.g. Meraki's meraki_8021x_test probe). Needs rg_pki.

RG_USERS_ALICE_PASSWORD=wonderland
RG_USERS_BOB_PASSWORD=bobpass

# rg_freeradius_raddb_copy RADDB FRDIR: a fresh copy of Debian's /etc/freeradius/3.0 in RADDB
# with its paths pointing into the copy, state (logs, pid) in FRDIR, and no change of user
# (we run as whoever started the test; FreeRADIUS refuses to switch to freerad when not root).
rg_freeradius_raddb_copy() {
    local raddb=$1 frdir=$2
    rm -rf "$raddb"
    cp -a /etc/freeradius/3.0 "$raddb"
    mkdir -p "$frdir"
    sed -i -E \
        -e "s|^raddbdir = .*|raddbdir = $raddb|" \
        -e "s|^logdir = .*|logdir = $frdir|" \
        -e "s|^run_dir = .*|run_dir = $frdir|" \
        -e "s|^(\s*)(user\|group) = freerad|\1# \2 = freerad|" \
        "$raddb/radiusd.conf"
}

rg_freeradius_conf() {
    local secret=$1 raddb=$RG_TMP/raddb frdir=$RG_TMP/freeradius
    rg_freeradius_raddb_copy "$raddb" "$frdir"
    rm -f "$raddb"/sites-enabled/*

    cat >"$raddb/clients.conf" <<EOF
client localhost {
	ipaddr = 127.0.0.1
	secret = "$secret"
	require_message_authenticator = no
	nas_type = other
}
EOF
    cat >"$raddb/mods-config/files/authorize" <<EOF
alice	Cleartext-Password := "$RG_USERS_ALICE_PASSWORD"
	Reply-Message := "Hello, alice",
	Tunnel-Password := "tunnel-alice"

bob	Cleartext-Password := "$RG_USERS_BOB_PASSWORD"
	Reply-Message := "Hello, bob"
EOF
    cat >"$raddb/sites-enabled/default" <<EOF
server default {
listen {
	type = auth
	ipaddr = 127.0.0.1
	port = $FR_AUTH_PORT
}
listen {
	type = acct
	ipaddr = 127.0.0.1
	port = $FR_ACCT_PORT
}
authorize {
	Autz-Type Status-Server {
		ok
	}
	filter_username
	preprocess
	chap
	eap {
		ok = return
	}
	files
	pap
}
authenticate {
	Auth-Type PAP {
		pap
	}
	Auth-Type CHAP {
		chap
	}
	Auth-Type MS-CHAP {
		mschap
	}
	eap
}
preacct {
	preprocess
	acct_unique
}
accounting {
	Acct-Type Status-Server {
		ok
	}
	ok
}
session {
}
post-auth {
	Post-Auth-Type REJECT {
		attr_filter.access_reject
		eap
		remove_reply_message_if_eap
	}
}
}
EOF
    cat >"$raddb/sites-enabled/inner-tunnel" <<'EOF'
server inner-tunnel {
authorize {
	filter_username
	mschap
	eap {
		ok = return
	}
	files
	pap
}
authenticate {
	Auth-Type PAP {
		pap
	}
	Auth-Type MS-CHAP {
		mschap
	}
	eap
}
session {
}
post-auth {
	Post-Auth-Type REJECT {
		attr_filter.access_reject
	}
}
}
EOF
    # Replies are Debian's stock ones (DESIGN.md: interop is judged against unmodified
    # peers): FreeRADIUS 3.2.1 signs EAP replies but sends Access-Accept/Reject for PAP and
    # CHAP without Message-Authenticator, even when the request had one. Nothing here adds it.
    rm -f "$raddb/mods-enabled/eap"
    cat >"$raddb/mods-enabled/eap" <<EOF
eap {
	default_eap_type = peap
	timer_expire = 60
	ignore_unknown_eap_types = no
	max_sessions = \${max_requests}
	md5 {
	}
	tls-config tls-common {
		private_key_file = $RG_PKI_SERVER_KEY
		certificate_file = $RG_PKI_SERVER_CHAIN
		ca_file = $RG_PKI_ACME_CA
		cipher_list = "DEFAULT"
		tls_min_version = "1.2"
		tls_max_version = "1.2"
		ecdh_curve = ""
		cache {
			enable = no
		}
		verify {
		}
		ocsp {
			enable = no
		}
	}
	tls {
		tls = tls-common
	}
	peap {
		tls = tls-common
		default_eap_type = mschapv2
		copy_request_to_tunnel = no
		use_tunneled_reply = no
		virtual_server = "inner-tunnel"
	}
	ttls {
		tls = tls-common
		default_eap_type = md5
		copy_request_to_tunnel = no
		use_tunneled_reply = no
		virtual_server = "inner-tunnel"
	}
	mschapv2 {
	}
}
EOF
}

rg_freeradius_start() {
    local secret=${1:?secret}
    rg_need freeradius
    [ -n "${RG_PKI:-}" ] || rg_pki
    FR_AUTH_PORT=$(rg_free_port)
    FR_ACCT_PORT=$(rg_free_port)
    while [ "$FR_ACCT_PORT" = "$FR_AUTH_PORT" ]; do FR_ACCT_PORT=$(rg_free_port); done
    FR_SECRET=$secret
    rg_freeradius_conf "$secret"
    if ! freeradius -C -d "$RG_TMP/raddb" >"$RG_TMP/freeradius-check.log" 2>&1; then
        cat "$RG_TMP/freeradius-check.log" >&2
        rg_die "generated raddb does not pass freeradius -C"
    fi
    # -xx: debug lines (each received packet is named), so tests can assert on them.
    rg_start freeradius freeradius -f -xx -d "$RG_TMP/raddb" -l stdout
    FR_LOG=$RG_TMP/freeradius.log
    rg_wait_log "$FR_LOG" 'Ready to process requests' 20 freeradius ||
        rg_die "FreeRADIUS did not start"
    rg_log "FreeRADIUS on 127.0.0.1 auth $FR_AUTH_PORT acct $FR_ACCT_PORT"
}

# rg_freeradius_client_start GW_PORT [CERT KEY]: Debian's FreeRADIUS 3.2 as an access point's
# RadSec client would run it, in its own raddb ($RG_TMP/raddb-client): RADIUS over UDP on
# 127.0.0.1:$FRC_AUTH_PORT / $FRC_ACCT_PORT (secret $FRC_SECRET, for radclient/eapol_test),
# every request proxied (Proxy-To-Realm) to a home_server with proto = tcp, type =
# auth+acct and a tls {} subsection: radsecgw on 127.0.0.1:GW_PORT with the acme AP
# certificate and secret "radsec". Nothing of its reply handling is changed. Log: $FRC_LOG.
rg_freeradius_client_start() {
    local gw_port=${1:?gateway port} cert=${2:-$RG_PKI_AP_CERT} key=${3:-$RG_PKI_AP_KEY}
    local raddb=$RG_TMP/raddb-client frdir=$RG_TMP/freeradius-client
    rg_need freeradius
    [ -n "$RG_TMP" ] || rg_die "rg_freeradius_client_start: no scratch directory"
    FRC_AUTH_PORT=$(rg_free_port)
    FRC_ACCT_PORT=$(rg_free_port)
    while [ "$FRC_ACCT_PORT" = "$FRC_AUTH_PORT" ]; do FRC_ACCT_PORT=$(rg_free_port); done
    FRC_SECRET=testing123
    rg_freeradius_raddb_copy "$raddb" "$frdir"
    # Only what a proxy needs: no local EAP (the gateway's backend does it), no other sites.
    rm -f "$raddb"/sites-enabled/* "$raddb/mods-enabled/eap"
    cat >"$raddb/clients.conf" <<EOF
client localhost {
	ipaddr = 127.0.0.1
	secret = "$FRC_SECRET"
	nas_type = other
}
EOF
    cat >"$raddb/proxy.conf" <<EOF
proxy server {
	default_fallback = no
}
home_server radsecgw {
	ipaddr = 127.0.0.1
	port = $gw_port
	type = auth+acct
	proto = tcp
	secret = radsec
	status_check = none
	response_window = 10
	tls {
		private_key_file = $key
		certificate_file = $cert
		ca_file = $RG_PKI_SERVER_CA
		fragment_size = 8192
		cipher_list = "DEFAULT"
	}
}
home_server_pool radsecgw {
	type = fail-over
	home_server = radsecgw
}
realm radsecgw {
	auth_pool = radsecgw
	acct_pool = radsecgw
	nostrip
}
EOF
    cat >"$raddb/sites-enabled/default" <<EOF
server default {
listen {
	type = auth
	ipaddr = 127.0.0.1
	port = $FRC_AUTH_PORT
}
listen {
	type = acct
	ipaddr = 127.0.0.1
	port = $FRC_ACCT_PORT
}
authorize {
	update control {
		&Proxy-To-Realm := "radsecgw"
	}
}
authenticate {
}
preacct {
	update control {
		&Proxy-To-Realm := "radsecgw"
	}
}
accounting {
}
post-auth {
}
pre-proxy {
}
post-proxy {
}
}
EOF
    if ! freeradius -C -d "$raddb" >"$RG_TMP/freeradius-client-check.log" 2>&1; then
        cat "$RG_TMP/freeradius-client-check.log" >&2
        rg_die "generated RadSec client raddb does not pass freeradius -C"
    fi
    # -f, threaded: FreeRADIUS 3 proxies over TLS only with threads (not under -X).
    rg_start freeradius-client freeradius -f -xx -d "$raddb" -l stdout
    FRC_LOG=$RG_TMP/freeradius-client.log
    rg_wait_log "$FRC_LOG" 'Ready to process requests' 20 freeradius-client ||
        rg_die "FreeRADIUS (RadSec client) did not start"
    rg_log "FreeRADIUS RadSec client: UDP auth $FRC_AUTH_PORT acct $FRC_ACCT_PORT -> TLS $gw_port"
}

# ---------------------------------------------------------------------------------------
# radsecproxy 1.9

# rg_radsecproxy_start GW_PORT [CERT KEY]: radsecproxy as an access point would run it:
# UDP on 127.0.0.1:$RSP_PORT (secret "testing123", for radclient/eapol_test) -> TLS to
# radsecgw on 127.0.0.1:GW_PORT with the acme AP certificate and secret "radsec".
rg_radsecproxy_start() {
    local gw_port=${1:?gateway port} cert=${2:-$RG_PKI_AP_CERT} key=${3:-$RG_PKI_AP_KEY}
    local conf=$RG_TMP/radsecproxy.conf
    rg_need radsecproxy
    RSP_PORT=$(rg_free_port)
    RSP_SECRET=testing123
    cat >"$conf" <<EOF
ListenUDP 127.0.0.1:$RSP_PORT
LogLevel 5
PidFile $RG_TMP/radsecproxy.pid

tls gateway {
    CACertificateFile $RG_PKI_SERVER_CA
    CertificateFile $cert
    CertificateKeyFile $key
}

client localudp {
    host 127.0.0.1
    type udp
    secret $RSP_SECRET
}

server radsecgw {
    host 127.0.0.1
    port $gw_port
    type tls
    tls gateway
    secret radsec
    CertificateNameCheck off
    StatusServer off
}

realm * {
    server radsecgw
    accountingServer radsecgw
}
EOF
    rg_start radsecproxy radsecproxy -f -d 5 -c "$conf"
    rg_wait_port "$RSP_PORT" udp 10 radsecproxy || rg_die "radsecproxy did not start"
}

# rg_run_client EXPECTED_EXIT DESCRIPTION ARGS...: radsec_client against the gateway (rg_client), passes
# when it exits EXPECTED_EXIT, else fails with its output; sets $out.
rg_run_client() {
    local want=$1 what=$2
    shift 2
    out=$(rg_client --timeout 5 "$@" 2>&1)
    local st=$?
    if [ "$st" = "$want" ]; then
        rg_pass "$what (exit $st)"
    else
        rg_fail "$what: radsec_client exited $st, expected $want:"
        sed 's/^/    | /' <<<"$out" >&2
    fi
}

# rg_radsecproxy_bench_start BACKEND_PORT BACKEND_SECRET [CLIENT_HOSTS]: radsecproxy as the
# RadSec server of the benchmarks (as rg_radsecproxy_server_start, quieter logging), every
# realm to one UDP backend on 127.0.0.1:BACKEND_PORT; TLS clients from CLIENT_HOSTS (default
# 127.0.0.1) with the acme certificates and secret "radsec". Sets RSPS_PORT.
rg_radsecproxy_bench_start() {
    local port=$1 secret=$2 hosts=${3:-127.0.0.1}
    RSPS_PORT=$(rg_free_port)
    cat >"$RG_TMP/rsp.conf" <<EOC
ListenTLS 127.0.0.1:$RSPS_PORT
LogLevel 2
PidFile $RG_TMP/rsp.pid
tls serverside {
    CACertificateFile $RG_PKI_ACME_CA
    CertificateFile $RG_PKI_SERVER_CHAIN
    CertificateKeyFile $RG_PKI_SERVER_KEY
}
client aps {
    host $hosts
    type tls
    tls serverside
    secret radsec
    CertificateNameCheck off
}
server fb {
    host 127.0.0.1
    port $port
    type udp
    secret $secret
    StatusServer off
}
realm * {
    server fb
    accountingServer fb
}
EOC
    rg_start radsecproxy radsecproxy -f -c "$RG_TMP/rsp.conf"
    rg_wait_port "$RSPS_PORT" tcp 10 radsecproxy || rg_die "radsecproxy did not start"
}

# rg_radsecproxy_server_start FR_AUTH FR_ACCT FR_SECRET: radsecproxy as a RadSec *server*
# (TLS on 127.0.0.1:$RSPS_PORT, server certificate of the test PKI, acme client certs,
# secret "radsec") forwarding to FreeRADIUS over UDP. Used to check radsec_client without
# the gateway.
rg_radsecproxy_server_start() {
    local auth=$1 acct=$2 secret=$3 conf=$RG_TMP/radsecproxy-server.conf
    rg_need radsecproxy
    RSPS_PORT=$(rg_free_port)
    cat >"$conf" <<EOF
ListenTLS 127.0.0.1:$RSPS_PORT
LogLevel 5
PidFile $RG_TMP/radsecproxy-server.pid

tls serverside {
    CACertificateFile $RG_PKI_ACME_CA
    CertificateFile $RG_PKI_SERVER_CHAIN
    CertificateKeyFile $RG_PKI_SERVER_KEY
}

client aps {
    host 127.0.0.1
    type tls
    tls serverside
    secret radsec
    CertificateNameCheck off
}

server fr-auth {
    host 127.0.0.1
    port $auth
    type udp
    secret $secret
    StatusServer off
}

server fr-acct {
    host 127.0.0.1
    port $acct
    type udp
    secret $secret
    StatusServer off
}

realm * {
    server fr-auth
    accountingServer fr-acct
}
EOF
    rg_start radsecproxy-server radsecproxy -f -d 5 -c "$conf"
    rg_wait_port "$RSPS_PORT" tcp 10 radsecproxy-server || rg_die "radsecproxy server did not start"
}

# ---------------------------------------------------------------------------------------
# The fake UDP backend (test/helpers/fake_backend.c)

# rg_fake_backend_start NAME SECRET MODE [extra fake_backend options...]: sets
# FB_PORT_<NAME> (auth and accounting share the port) and writes its counters to
# $RG_TMP/NAME.report (on SIGUSR1 and at exit).
rg_fake_backend_start() {
    local name=$1 secret=$2 mode=$3 port
    shift 3
    port=$(rg_free_port)
    rg_start "$name" "$(rg_bin fake_backend)" --port "$port" --secret "$secret" --mode "$mode" \
        --report "$RG_TMP/$name.report" "$@"
    rg_wait_log "$RG_TMP/$name.log" '^ready' 10 "$name" || rg_die "fake_backend $name did not start"
    printf -v "FB_PORT_${name//[^A-Za-z0-9_]/_}" '%s' "$port"
}

# rg_fake_backend_report NAME: refresh the report (SIGUSR1) and print it.
rg_fake_backend_report() {
    local f=$RG_TMP/$1.report
    rm -f "$f"
    rg_signal "$1" USR1
    local i
    for ((i = 0; i < 50; i++)); do
        [ -s "$f" ] && grep -q '^end=1' "$f" && break
        sleep 0.1
    done
    cat "$f"
}

# rg_report_value REPORT_TEXT KEY: value of key=value (0 if absent).
rg_report_value() {
    local v
    v=$(grep -E "^$2=" <<<"$1" | tail -n1 | cut -d= -f2-)
    echo "${v:-0}"
}

# ---------------------------------------------------------------------------------------
# radsecgw

# rg_gateway_conf FILE [options]: write a radsecgw config (DESIGN.md syntax).
#   --port P                     listen port (default: a free one, exported as GW_PORT)
#   --backend HOST:AUTH:ACCT:SECRET   add a server to pool "corp" (repeatable)
#   --org-secret S               RadSec secret (default radsec)
#   --ca FILE                    org acme CA (default $RG_PKI_ACME_CA)
#   --timeout S --retries N      pool timers (defaults 1 and 2, to keep tests short)
#   --status-server true|false   backend probing (default false: tests count packets)
#   --require-ma true|false|auto require-message-authenticator (default: not written, so
#                                the gateway's default, auto)
#   --match RULE                 org match rule
#   --workers N                  worker threads (default 2)
#   --policy P                   failover | round-robin | least-outstanding (default failover)
#   --max-outstanding N          per server and worker (default: the gateway's, 16384)
#   --when-dead silent|reject    pool when-dead (default: the gateway's, silent)
#   --max-conn-per-ip N          listen max-connections-per-ip (default: the gateway's, 0)
#   --max-connections N          listen max-connections (default: the gateway's, 100000)
#   --max-handshakes N           listen max-handshakes (default: the gateway's, 4096)
#   --max-handshakes-per-ip N    listen max-handshakes-per-ip (default: the gateway's, 64)
#   --handshake-timeout S        listen handshake-timeout (default 5)
#   --stats-interval S           stats line every S seconds (default: the gateway's, 300)
#   --log-level L --log-requests true|false   (defaults debug and true)
#   --log-extra TEXT             appended verbatim inside the log block
#   --org-coa true|false         org acme's coa flag (default false)
#   --coa-client NAME:SECRET[:HOST[:ORG,ORG...]]   a coa block on 127.0.0.1:$COA_PORT (a
#                                free port unless COA_PORT is set) with this client at HOST
#                                (default 127.0.0.1), reaching the orgs listed (default: no
#                                orgs key) (repeatable)
#   --allow PREFIX[,PREFIX...]   org acme's allow list (default 127.0.0.0/8)
#   --listen-extra TEXT          added to the listen block verbatim
#   --extra TEXT                 appended verbatim
rg_gateway_conf() {
    local file=$1
    shift
    local port="" org_secret=radsec ca=${RG_PKI_ACME_CA:-} timeout=1 retries=2 ss=false ma=""
    local match="" extra="" servers="" n=0 host auth acct secret workers=2 policy=failover
    local pool_extra="" listen_extra="" stats_block="" log_level=debug log_requests=true
    local log_extra=""
    local org_coa=false coa_clients="" cname csecret chost corgs corgs_line hs_timeout=5
    local allow=127.0.0.0/8
    while [ $# -gt 0 ]; do
        case $1 in
        --port) port=$2 ;;
        --backend)
            IFS=: read -r host auth acct secret <<<"$2"
            n=$((n + 1))
            servers+="    server \"b$n\" { host = \"$host\" auth-port = $auth acct-port = $acct secret = \"$secret\" }"$'\n'
            ;;
        --org-secret) org_secret=$2 ;;
        --ca) ca=$2 ;;
        --timeout) timeout=$2 ;;
        --retries) retries=$2 ;;
        --status-server) ss=$2 ;;
        --require-ma) ma=$2 ;;
        --match) match=$2 ;;
        --workers) workers=$2 ;;
        --policy) policy=$2 ;;
        --max-outstanding) pool_extra+="    max-outstanding = $2"$'\n' ;;
        --when-dead) pool_extra+="    when-dead = \"$2\""$'\n' ;;
        --max-conn-per-ip) listen_extra+="    max-connections-per-ip = $2"$'\n' ;;
        --max-connections) listen_extra+="    max-connections = $2"$'\n' ;;
        --max-handshakes) listen_extra+="    max-handshakes = $2"$'\n' ;;
        --max-handshakes-per-ip) listen_extra+="    max-handshakes-per-ip = $2"$'\n' ;;
        --radius11) listen_extra+="    radius-1.1 = \"$2\""$'\n' ;;
        --handshake-timeout) hs_timeout=$2 ;;
        --stats-interval) stats_block="stats { interval = $2 }" ;;
        --log-level) log_level=$2 ;;
        --log-requests) log_requests=$2 ;;
        --log-extra) log_extra=$2 ;;
        --org-coa) org_coa=$2 ;;
        --coa-client)
            IFS=: read -r cname csecret chost corgs <<<"$2"
            corgs_line=""
            [ -z "$corgs" ] || corgs_line=" orgs = {\"${corgs//,/\", \"}\"}"
            coa_clients+="    client \"$cname\" { host = \"${chost:-127.0.0.1}\" secret = \"$csecret\"$corgs_line }"$'\n'
            ;;
        --allow) allow=$2 ;;
        --listen-extra) listen_extra+="    $2"$'\n' ;;
        --extra) extra=$2 ;;
        *) rg_die "rg_gateway_conf: unknown option $1" ;;
        esac
        shift 2
    done
    [ -n "$port" ] || port=$(rg_free_port)
    GW_PORT=$port
    local match_line="" coa_block=""
    if [ -n "$coa_clients" ]; then
        [ -n "${COA_PORT:-}" ] || COA_PORT=$(rg_free_port)
        coa_block="coa {
    address = \"127.0.0.1\"
    port = $COA_PORT
$coa_clients}"
    fi
    [ -z "$match" ] || match_line="    match = {\"$match\"}"
    local ma_line=""
    [ -z "$ma" ] || ma_line="    require-message-authenticator = $ma"
    cat >"$file" <<EOF
# generated by test/integration/lib.sh
workers = $workers

listen {
    address = {"127.0.0.1"}
    port = $port
    idle-timeout = 60
    handshake-timeout = $hs_timeout
$listen_extra}

tls {
    certificate = "$RG_PKI_SERVER_CHAIN"
    key = "$RG_PKI_SERVER_KEY"
    min-version = "1.2"
}

org "acme" {
    ca = {"$ca"}
    secret = "$org_secret"
    allow = {"${allow//,/\", \"}"}
$match_line
    pool = "corp"
    coa = $org_coa
}

pool "corp" {
    policy = "$policy"
    timeout = $timeout
    retries = $retries
    status-server = $ss
$ma_line
$pool_extra$servers}

log {
    level = "$log_level"
    requests = $log_requests
$log_extra
}

$stats_block
$coa_block
$extra
EOF
}

# rg_gateway_start CONF [NAME]: radsecgw -f -d -c CONF as process NAME (default radsecgw),
# log in $RG_TMP/NAME.log (GW_LOG); waits for GW_PORT (from rg_gateway_conf) to listen.
# RG_GW_DEBUG=0 leaves out -d: the config's log-level, as an operator runs it (benchmarks
# that count log lines).
rg_gateway_start() {
    local conf=${1:?conf} name=${2:-radsecgw}
    local gw
    gw=$(rg_bin radsecgw)
    if ! "$gw" -t -c "$conf" >"$RG_TMP/$name-check.log" 2>&1; then
        cat "$RG_TMP/$name-check.log" >&2
        rg_die "radsecgw -t rejects the generated config $conf"
    fi
    local debug=-d
    [ "${RG_GW_DEBUG:-1}" = 0 ] && debug=
    rg_start "$name" "$gw" -f ${debug:+"$debug"} -c "$conf"
    GW_LOG=$RG_TMP/$name.log
    rg_wait_port "$GW_PORT" tcp 10 "$name" || rg_die "radsecgw does not listen on $GW_PORT"
}

# rg_udp_relay NAME SOURCE_ADDR PORT: forward UDP datagrams received on 127.0.0.1:
# $RELAY_PORT_<NAME> (a free port) to 127.0.0.1:PORT from SOURCE_ADDR (another 127.0.0.0/8
# address), and the answers back to the last sender. Lets an unmodified radclient, which
# cannot choose its source address, appear as a DAC at SOURCE_ADDR.
rg_udp_relay() {
    local name=$1 src=$2 dst=$3 port
    port=$(rg_free_port)
    cat >"$RG_TMP/$name.py" <<'EOF'
import select, socket, sys
listen_port, src, dst = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
front.bind(("127.0.0.1", listen_port))
back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
back.bind((src, 0))
peer = None
print("ready", back.getsockname(), flush=True)
while True:
    ready, _, _ = select.select([front, back], [], [])
    if front in ready:
        data, peer = front.recvfrom(65535)
        back.sendto(data, ("127.0.0.1", dst))
    if back in ready:
        data, _ = back.recvfrom(65535)
        if peer:
            front.sendto(data, peer)
EOF
    rg_start "$name" python3 "$RG_TMP/$name.py" "$port" "$src" "$dst"
    rg_wait_log "$RG_TMP/$name.log" '^ready' 10 "$name" || rg_die "relay $name did not start"
    printf -v "RELAY_PORT_${name//[^A-Za-z0-9_]/_}" '%s' "$port"
}

# rg_client ARGS...: tools/radsec_client against the gateway with the acme AP certificate.
rg_client() {
    "$(rg_bin radsec_client)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
        --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" "$@"
}

# ---------------------------------------------------------------------------------------
# eapol_test (wpa_supplicant's RADIUS EAP peer)

# rg_eapol_peap_conf FILE [USER [PASSWORD]]: PEAPv0/EAP-MSCHAPv2, server cert checked
# against the server CA.
rg_eapol_peap_conf() {
    cat >"$1" <<EOF
network={
	key_mgmt=WPA-EAP
	eap=PEAP
	identity="${2:-bob}"
	anonymous_identity="${2:-bob}"
	password="${3:-$RG_USERS_BOB_PASSWORD}"
	ca_cert="$RG_PKI_SERVER_CA"
	phase1="peapver=0"
	phase2="auth=MSCHAPV2"
}
EOF
}

# rg_eapol_tls_conf FILE [USER]: EAP-TLS with the acme user certificate.
rg_eapol_tls_conf() {
    cat >"$1" <<EOF
network={
	key_mgmt=WPA-EAP
	eap=TLS
	identity="${2:-bob}"
	ca_cert="$RG_PKI_SERVER_CA"
	client_cert="$RG_PKI_USER_CERT"
	private_key="$RG_PKI_USER_KEY"
}
EOF
}

# rg_eapol NAME CONF PORT SECRET: run eapol_test (15 s budget), output to $RG_TMP/NAME.log.
# Passes when it exits 0, says SUCCESS and the MPPE keys it derived match the ones the
# RADIUS server sent ("MPPE keys OK: 1  mismatch: 0").
rg_eapol() {
    local name=$1 conf=$2 port=$3 secret=$4 out=$RG_TMP/$1.log st=0
    rg_need eapol_test
    timeout 30 eapol_test -c "$conf" -a 127.0.0.1 -p "$port" -s "$secret" -t 15 -r 0 \
        >"$out" 2>&1 || st=$?
    if [ "$st" -ne 0 ]; then
        rg_fail "$name: eapol_test exited $st"
        grep -E 'FAILURE|mismatch|EAP-Failure|CTRL-EVENT-EAP|timeout|Access-Reject' "$out" |
            tail -n 15 | sed 's/^/    | /' >&2
        return 1
    fi
    rg_assert_log "$out" '^SUCCESS' "$name: eapol_test SUCCESS" || return 1
    rg_assert_log "$out" 'MPPE keys OK: 1 +mismatch: 0' "$name: MPPE keys match" || return 1
    return 0
}

# rg_eapol_ttls_conf FILE [USER [PASSWORD]]: EAP-TTLS with PAP inside, server cert checked
# against the server CA.
rg_eapol_ttls_conf() {
    cat >"$1" <<EOF
network={
	key_mgmt=WPA-EAP
	eap=TTLS
	identity="${2:-bob}"
	anonymous_identity="anonymous"
	password="${3:-$RG_USERS_BOB_PASSWORD}"
	ca_cert="$RG_PKI_SERVER_CA"
	phase2="auth=PAP"
}
EOF
}

# ---------------------------------------------------------------------------------------
# radclient (FreeRADIUS's test client)

# rg_radclient PORT auth|acct SECRET ATTRS: one request to 127.0.0.1:PORT (15 s, no retry),
# attributes as radclient reads them ("User-Name = alice, ..."); prints radclient -x output.
# Its exit status is radclient's (1 for an Access-Reject or no answer).
rg_radclient() {
    local port=$1 type=$2 secret=$3 attrs=$4
    rg_need radclient
    timeout 40 radclient -x -r 1 -t 15 "127.0.0.1:$port" "$type" "$secret" <<<"$attrs" 2>&1
}

# ---------------------------------------------------------------------------------------
# Interop: what an access point's RadSec client is used for, through it and the gateway to
# the FreeRADIUS backend (rg_freeradius_start), each answer checked by the RADIUS client.

# rg_interop_suite LABEL AUTH_PORT ACCT_PORT SECRET: radclient and eapol_test against the
# RadSec client's UDP side: PAP (accept with its Reply-Message; a wrong password rejected),
# CHAP, the Meraki probe meraki_8021x_test (rejected by the backend: its Access-Reject must
# come back), PEAP-MSCHAPv2, EAP-TLS and EAP-TTLS/PAP (SUCCESS and matching MPPE keys), and
# accounting Start / Interim-Update / Stop (each an Accounting-Response).
rg_interop_suite() {
    local label=$1 auth=$2 acct=$3 secret=$4 out sid=interop-$RANDOM$RANDOM t
    rg_need radclient eapol_test

    out=$(rg_radclient "$auth" auth "$secret" \
        'User-Name = "alice", User-Password = "wonderland", NAS-Identifier = "interop"')
    rg_assert_output "$out" 'Received Access-Accept' "$label: PAP: Access-Accept" &&
        rg_assert_output "$out" 'Reply-Message = "Hello, alice"' "$label: PAP: reply attributes intact"
    out=$(rg_radclient "$auth" auth "$secret" 'User-Name = "alice", User-Password = "not-alices"')
    rg_assert_output "$out" 'Received Access-Reject' "$label: PAP, wrong password: Access-Reject"
    out=$(rg_radclient "$auth" auth "$secret" 'User-Name = "alice", CHAP-Password = "wonderland"')
    rg_assert_output "$out" 'Received Access-Accept' "$label: CHAP: Access-Accept" &&
        rg_assert_output "$out" 'Reply-Message = "Hello, alice"' "$label: CHAP: reply attributes intact"
    # Meraki MR dashboards probe their RADIUS servers with this user; a reject is the answer
    # that proves the path works.
    out=$(rg_radclient "$auth" auth "$secret" \
        'User-Name = "meraki_8021x_test", User-Password = "meraki_8021x_test"')
    rg_assert_output "$out" 'Received Access-Reject' "$label: Meraki probe meraki_8021x_test: Access-Reject"

    rg_eapol_peap_conf "$RG_TMP/$label-peap.conf"
    rg_eapol "$label-eapol-peap" "$RG_TMP/$label-peap.conf" "$auth" "$secret"
    rg_eapol_tls_conf "$RG_TMP/$label-tls.conf"
    rg_eapol "$label-eapol-tls" "$RG_TMP/$label-tls.conf" "$auth" "$secret"
    rg_eapol_ttls_conf "$RG_TMP/$label-ttls.conf"
    rg_eapol "$label-eapol-ttls" "$RG_TMP/$label-ttls.conf" "$auth" "$secret"

    for t in Start Interim-Update Stop; do
        out=$(rg_radclient "$acct" acct "$secret" "User-Name = \"alice\", Acct-Status-Type = $t, \
Acct-Session-Id = \"$sid\", NAS-IP-Address = 127.0.0.1, NAS-Port = 7, \
Calling-Station-Id = \"02-00-00-00-00-07\", Acct-Session-Time = 60")
        rg_assert_output "$out" 'Received Accounting-Response' "$label: accounting $t: Accounting-Response"
    done
}

# ---------------------------------------------------------------------------------------
# Load (tools/radsec_load) and the gateway's stats lines

# rg_load ARGS...: radsec_load against the gateway with the acme AP certificate; prints its
# summary line (key=value ...), returns its exit status.
rg_load() {
    "$(rg_bin radsec_load)" --host 127.0.0.1 --port "$GW_PORT" --ca "$RG_PKI_SERVER_CA" \
        --cert "$RG_PKI_AP_CERT" --key "$RG_PKI_AP_KEY" "$@"
}

# rg_wait_file FILE PATTERN PID: until FILE matches PATTERN (grep -E) or PID exits (a
# radsec_load --ready-file).
rg_wait_file() {
    while ! grep -qE "$2" "$1" 2>/dev/null && kill -0 "$3" 2>/dev/null; do sleep 0.2; done
}

# rg_kv TEXT KEY: value of KEY=VALUE in a line of space-separated pairs (the last line that
# has it; 0 if absent).
rg_kv() {
    local v
    v=$(grep -oE "(^| )$2=[^ ]*" <<<"$1" | tail -n1 | cut -d= -f2-)
    echo "${v:-0}"
}

# rg_assert_all_answered FILE STATUS MIN WHAT: the legitimate AP of a test under attack.
# radsec_load exited STATUS 0, and its summary (the last line of FILE) says it sent at least
# MIN requests and had every one answered.
rg_assert_all_answered() {
    local line
    line=$(tail -n1 "$1")
    echo "$4: $line" >&2
    [ "$2" -eq 0 ] && [ "$(rg_kv "$line" sent)" -ge "$3" ] &&
        [ "$(rg_kv "$line" answered)" = "$(rg_kv "$line" sent)" ] &&
        rg_pass "$4: every request answered ($(rg_kv "$line" answered), p99 $(rg_kv "$line" p99_ms) ms)" ||
        rg_fail "$4 lost requests or could not send: $line"
}

# rg_stats_max LOG KEY: the largest KEY= seen in the gateway's "stats workers=" lines.
rg_stats_max() {
    local v
    v=$(grep -oE "stats workers=.*" "$1" | grep -oE "(^| )$2=[0-9]+" | cut -d= -f2 |
        sort -n | tail -n1)
    echo "${v:-0}"
}

# rg_stats_last LOG KEY: KEY= of the last stats line (0 if none).
rg_stats_last() {
    local v
    v=$(grep -E "stats workers=" "$1" | tail -n1 | grep -oE "(^| )$2=[0-9]+" | cut -d= -f2)
    echo "${v:-0}"
}
