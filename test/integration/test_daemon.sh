#!/usr/bin/env bash
# Issue 11: process hygiene. Without -f the command returns only once the daemon listens
# (exit 0, pidfile written) or has failed (exit 1 with the reason on stderr: an occupied
# port); a second gateway on an address the first listens on refuses to start, and the
# first keeps its port; with stderr connected to the journal (JOURNAL_STREAM) -f adds no
# copy of the syslog lines; the soft open-file limit is raised to the hard one, with a
# warning when that is below max-connections; as root, -t names a key the configured user
# cannot read.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rg_tmpdir >/dev/null
rg_pki
rg_need python3 ss prlimit
gw=$(rg_bin radsecgw)
SEC=daemon-backend-secret-$RANDOM$RANDOM
rg_fake_backend_start fb "$SEC" accept --password pw
listens() { ss -Hltn "sport = :$1" | grep -q .; }

# --- an occupied port: exit 1 with the reason, nothing left running -------------------
rg_gateway_conf "$RG_TMP/busy.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$SEC"
busy=$GW_PORT
rg_start squatter python3 -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $busy)); s.listen(); time.sleep(60)"
rg_wait_port "$busy" tcp 5 squatter || rg_die "squatter does not listen"
timeout 20 "$gw" -c "$RG_TMP/busy.conf" -p "$RG_TMP/busy.pid" >"$RG_TMP/busy.out" 2>&1
st=$?
[ $st = 1 ] && rg_pass "no -f, port in use: exit 1" || rg_fail "no -f, port in use: exit $st"
rg_assert_log "$RG_TMP/busy.out" "event=listen_failed address=127.0.0.1 port=$busy reason=\"another process already listens" \
    "no -f, port in use: the reason on stderr"
[ ! -e "$RG_TMP/busy.pid" ] && rg_pass "no -f, port in use: no pidfile" ||
    rg_fail "no -f, port in use: pidfile written (a daemon may be running: $(cat "$RG_TMP/busy.pid"))"
rg_stop squatter

# --- detach: exit 0 only once the port listens; the pidfile names the daemon ---------
rg_gateway_conf "$RG_TMP/gw.conf" --backend "127.0.0.1:$FB_PORT_fb:$FB_PORT_fb:$SEC"
port=$GW_PORT
timeout 20 "$gw" -c "$RG_TMP/gw.conf" -p "$RG_TMP/gw.pid" >"$RG_TMP/detach.out" 2>&1
st=$?
listening_at_return=no
listens "$port" && listening_at_return=yes
pid=$(cat "$RG_TMP/gw.pid" 2>/dev/null)
if [ -n "$pid" ]; then
    RG_PIDS+=("$pid")
    RG_PID_OF[daemon]=$pid
fi
[ $st = 0 ] && rg_pass "no -f: exit 0" || rg_fail "no -f: exit $st: $(cat "$RG_TMP/detach.out")"
[ $listening_at_return = yes ] && rg_pass "no -f: the port listens when the command returns" ||
    rg_fail "no -f: nothing listens on $port when the command returned"
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && rg_pass "pidfile names the running daemon" ||
    rg_fail "pidfile '$pid' does not name a running process"
rg_assert_log "$RG_TMP/detach.out" "event=listening address=127.0.0.1:$port" \
    "no -f: start lines on stderr until detached"
ppid=$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')
sid=$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')
[ "$sid" != "$(ps -o sid= -p $$ | tr -d ' ')" ] && rg_pass "daemon left the caller's session" ||
    rg_fail "daemon in the caller's session (sid $sid, ppid $ppid)"
out=$(GW_PORT=$port rg_client --timeout 5 auth alice pw 2>&1)
rg_assert_output "$out" '^Access-Accept' "the detached daemon answers"

# --- a second instance on the same address refuses; the first keeps the port ---------
rg_start second "$gw" -f -c "$RG_TMP/gw.conf"
for ((i = 0; i < 100; i++)); do rg_alive second || break; sleep 0.1; done
if rg_alive second; then
    rg_fail "second instance on the same address still running"
else
    wait "$(rg_pid second)"
    st=$?
    [ $st = 1 ] && rg_pass "second instance exits 1" || rg_fail "second instance exit $st"
fi
rg_assert_log "$RG_TMP/second.log" "event=listen_failed address=[^ ]+ port=$port reason=\"another process already listens there" \
    "second instance: says another process listens there"
for i in 1 2 3 4; do
    out=$(GW_PORT=$port rg_client --timeout 5 auth alice pw 2>&1)
    rg_assert_output "$out" '^Access-Accept' "first instance still answers (connection $i)"
done
accepted=$(grep -c 'event=conn_open .*org=acme' "$RG_TMP/second.log")
[ "$accepted" = 0 ] && rg_pass "second instance took no connection" ||
    rg_fail "second instance accepted $accepted connection(s)"
kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && rg_fail "daemon ignored SIGTERM" || rg_pass "daemon stopped by SIGTERM"
[ ! -e "$RG_TMP/gw.pid" ] && rg_pass "pidfile removed at exit" || rg_fail "pidfile left behind"

# --- stderr is the journal: no copy of the syslog lines ------------------------------
: >"$RG_TMP/journal.log"
stream=$(stat -c '%d:%i' "$RG_TMP/journal.log")
rg_start journal env JOURNAL_STREAM="$stream" "$gw" -f -c "$RG_TMP/gw.conf"
rg_wait_port "$port" tcp 10 journal || rg_fail "JOURNAL_STREAM: gateway did not start"
sleep 0.3
rg_stop journal && rg_pass "JOURNAL_STREAM: exit 0" || rg_fail "JOURNAL_STREAM: exit non-zero"
rg_assert_no_log "$RG_TMP/journal.log" 'radsecgw\[[0-9]+\]: ' \
    "stderr is the journal: no log line copied there"
rg_start nojournal env JOURNAL_STREAM=0:0 "$gw" -f -c "$RG_TMP/gw.conf"
rg_wait_port "$port" tcp 10 nojournal || rg_fail "other JOURNAL_STREAM: gateway did not start"
rg_stop nojournal
rg_assert_log "$RG_TMP/nojournal.log" 'NOTICE: event=started ' \
    "JOURNAL_STREAM naming another file: -f copies lines to stderr"

# --- RLIMIT_NOFILE: soft raised to hard, warning below max-connections ---------------
rg_start lowfd prlimit --nofile=256:4096 "$gw" -f -c "$RG_TMP/gw.conf"
rg_wait_port "$port" tcp 10 lowfd || rg_fail "low limit: gateway did not start"
soft=$(awk '/Max open files/ {print $4}' "/proc/$(rg_pid lowfd)/limits")
[ "$soft" = 4096 ] && rg_pass "soft RLIMIT_NOFILE raised to the hard limit" ||
    rg_fail "soft RLIMIT_NOFILE is $soft, want 4096"
rg_stop lowfd
rg_assert_log "$RG_TMP/lowfd.log" 'WARNING: event=nofile_low limit=4096 needed=101024 max_connections=100000 ' \
    "hard limit below max-connections: warning"

# --- -t as root: a key the configured user cannot read --------------------------------
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
    chmod 0755 "$RG_TMP" "$RG_PKI"
    chmod a+r "$RG_TMP/gw.conf" "$RG_PKI_SERVER_CHAIN" "$RG_PKI_ACME_CA"
    chmod 0600 "$RG_PKI_SERVER_KEY"
    sed 's/^workers = /user = "nobody"\nworkers = /' "$RG_TMP/gw.conf" >"$RG_TMP/user.conf"
    chmod a+r "$RG_TMP/user.conf"
    out=$("$gw" -t -c "$RG_TMP/user.conf" 2>&1)
    st=$?
    [ $st = 1 ] && rg_pass "-t: key unreadable by the user: exit 1" || rg_fail "-t: exit $st"
    rg_assert_output "$out" "$RG_PKI_SERVER_KEY: tls key is not readable by user nobody" \
        "-t: names the key and the user"
    chgrp "$(id -gn nobody)" "$RG_PKI_SERVER_KEY" && chmod 0640 "$RG_PKI_SERVER_KEY"
    out=$("$gw" -t -c "$RG_TMP/user.conf" 2>&1)
    st=$?
    [ $st = 0 ] && rg_pass "-t: key group-readable by the user's group: exit 0" ||
        rg_fail "-t after chgrp: exit $st: $out"
    chgrp root "$RG_PKI_SERVER_KEY"
    sed 's/^workers = /user = "no-such-user-rg"\nworkers = /' "$RG_TMP/gw.conf" >"$RG_TMP/nouser.conf"
    out=$("$gw" -t -c "$RG_TMP/nouser.conf" 2>&1)
    st=$?
    [ $st = 1 ] && rg_pass "-t: unknown user: exit 1" || rg_fail "-t unknown user: exit $st"
    rg_assert_output "$out" 'user "no-such-user-rg" does not exist' "-t: says the user does not exist"
else
    rg_log "not root: the -t user access checks are skipped"
fi
rg_finish
