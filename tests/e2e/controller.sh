#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# sluice run: the controller starts on an empty pin root, shows in status,
# refuses a second copy, follows rule changes and SIGHUP, stops cleanly on
# SIGTERM and SIGINT, and status tells a hung or killed controller from a
# stopped one; a killed one's lock is free for the next.
source "$(dirname "$0")/lib.sh"
e2e_init

setup_namespaces
ok "$(( $? == 0 ))" "namespaces"

controller_state() {
	cli status --json
	json -r '.controller.state' <<<"$CLI_OUT"
}
state_is() { [[ $(controller_state) == "$1" ]]; }

# start_controller LOG ARGS...: `sluice run` in the background, its stderr in LOG.
start_controller() {
	local log=$1
	shift
	live || return 0
	# nsenter execs the CLI, so $! is the controller's own pid (a function
	# run in the background would give the pid of a subshell).
	nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" run "$@" 2>"$log" &
	RUN_PID=$!
	T_PIDS+=("$RUN_PID")
}

# --- bad options change nothing and start nothing.
cli run --interval 5ms
ok "$( ((CLI_RC == 1)) && grep -q "invalid --interval '5ms'" <<<"$CLI_ERR" && echo 1)" \
	"an interval under 10ms is refused ($CLI_ERR)"
cli run --interval 100ms --lease 150ms
ok "$( ((CLI_RC == 1)) && grep -q "invalid --lease '150ms': must be from 200ms" <<<"$CLI_ERR" && echo 1)" \
	"a lease under two ticks is refused ($CLI_ERR)"
cli run extra
is "$CLI_RC" 1 "run takes no arguments"
ok "$(live && [[ ! -e $PIN_ROOT ]] && echo 1)" "and none of those made a pin root"

# --- it starts on an empty pin root, making the state, and shows in status.
start_controller "$T_DIR/run.log" --interval 20ms
wait_until 5 state_is running
cli status --json
is "$(json -c '[.controller.state, .controller.pid, .controller.interval_ms, .controller.lease_ms]' <<<"$CLI_OUT")" \
	"[\"running\",${RUN_PID:-0},20,80]" "status: running, with its pid, tick and a lease of four ticks"
cli status
ok "$(grep -q "^controller:  running (pid ${RUN_PID:-0}, a tick every 20ms" <<<"$CLI_OUT" && echo 1)" \
	"status says so in words"
ticks=$(json '.controller.ticks' <<<"$CLI_OUT" 2>/dev/null)
cli status --json
ok "$(live && (( $(json '.controller.ticks' <<<"$CLI_OUT") > ${ticks:-0} )) && echo 1)" "its ticks go on"

# --- one controller per pin root, refused at once and clearly.
cli run
ok "$( ((CLI_RC == 1)) && grep -q "a controller already runs for pin root $PIN_ROOT (pid ${RUN_PID:-0})" <<<"$CLI_ERR" && echo 1)" \
	"a second controller refuses to start ($CLI_ERR)"
ok "$(live && kill -0 "$RUN_PID" && state_is running && echo 1)" "and the first runs on"

# --- a rule change is read without a signal; SIGHUP reads the settings again.
cli limit set default --rate 100
has_log() { grep -q "$1" "$T_DIR/run.log"; }
ok "$(live && wait_until 5 has_log "read 1 rules" && echo 1)" "a new rule is read on the next ticks"
live && kill -HUP "$RUN_PID"
ok "$(live && wait_until 5 has_log "SIGHUP: reading the settings again" && kill -0 "$RUN_PID" && echo 1)" \
	"SIGHUP re-reads the settings and it runs on"

# --- SIGTERM stops it cleanly: exit status 0, a last log line, status "stopped".
if live; then
	kill -TERM "$RUN_PID"
	wait "$RUN_PID"
	rc=$?
	forget_pid "$RUN_PID"
fi
is "${rc:-0} $(controller_state)" "0 stopped" "SIGTERM: exits 0, and status says stopped"
ok "$(live && has_log "stopping on Terminated" && has_log "controller stopped after [0-9]* ticks" && echo 1)" \
	"it logs why it stopped"
ok "$(live && grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z info: controller started on pin root' "$T_DIR/run.log" && echo 1)" \
	"on a terminal, log lines start with the time and a level"

# --- SIGINT too; and under systemd the lines carry syslog priorities.
if live; then
	# The journal names its stream by device and inode: give it stderr's.
	exec 9>"$T_DIR/journal.log"
	stream=$(stat -L -c '%d:%i' /proc/self/fd/9)
	JOURNAL_STREAM=$stream nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" run 2>&9 &
	RUN_PID=$!
	T_PIDS+=("$RUN_PID")
	wait_until 5 state_is running
	kill -INT "$RUN_PID"
	wait "$RUN_PID"
	rc=$?
	forget_pid "$RUN_PID"
	exec 9>&-
fi
is "${rc:-0} $(controller_state)" "0 stopped" "SIGINT: exits 0"
ok "$(live && head -1 "$T_DIR/journal.log" | grep -q '^<6>controller started' && echo 1)" \
	"under the journal, lines start with their syslog priority (<6> for info)"

# --- a hung controller (stopped with SIGSTOP) shows as not responding.
start_controller "$T_DIR/run2.log" --interval 20ms
wait_until 5 state_is running
live && kill -STOP "$RUN_PID"
ok "$(live && wait_until 5 state_is "not responding" && echo 1)" \
	"a controller that stops ticking shows as not responding"
live && kill -CONT "$RUN_PID"
ok "$(live && wait_until 5 state_is running && echo 1)" "and as running once it ticks again"

# --- kill -9: status says it died, and the next controller starts at once.
if live; then
	kill -KILL "$RUN_PID"
	wait "$RUN_PID" 2>/dev/null
	forget_pid "$RUN_PID"
fi
is "$(controller_state)" "died" "a killed controller shows as died"
start_controller "$T_DIR/run3.log"
ok "$(live && wait_until 5 state_is running && echo 1)" "its lock died with it: a new controller starts"
cli status --json
is "$(json '.controller.interval_ms' <<<"$CLI_OUT")" 50 "the default tick is 50ms"

# --- the systemd unit in contrib/ is one systemd accepts.
if live && command -v systemd-analyze >/dev/null; then
	sed "s|/usr/local/sbin/sluice|$SLUICE|" "$E2E_REPO/contrib/sluice.service" >"$T_DIR/sluice.service"
	verify=$(systemd-analyze verify "$T_DIR/sluice.service" 2>&1)
	ok "$( (($? == 0)) && [[ -z $verify ]] && echo 1)" "contrib/sluice.service passes systemd-analyze verify ($verify)"
else
	skip "contrib/sluice.service passes systemd-analyze verify" "no systemd-analyze"
fi

finish
