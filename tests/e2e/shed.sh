#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Load shedding by class, end to end: the controller (`sluice run`) raises
# the shed level when the offered packet rate passes the set capacity, and
# the XDP program then drops the level's share of each class's datagrams.
#
# Pressure is max(CPU busy %, offered pps / capacity * 100). The thresholds
# are set above 100% (enter 200%, exit 150%) so that the CPU, whose busy
# share never passes 100%, can neither raise the level nor hold it up on a
# machine busy with other tests: only the offered rate moves it here.
#
# 1. Bad `shed set` input is refused in one line and changes nothing.
# 2. A critical source floods at three times the capacity: the level goes
#    to 1 (log: "shed level 0 -> 1"). Meanwhile a second critical source, a
#    normal one and a low one send at a modest rate: every critical and
#    normal datagram arrives, the low class (share 100%) is cut, and what
#    it lost is counted as dropped_shed, exactly.
# 3. The flood stops: the level comes down to 0, no sooner than the exit
#    dwell.
# 4. kill -9 of the controller while shedding: status says died, and the
#    low class gets through again once the lease runs out.
# 5. `shed set --off` under the flood: the level goes to 0 and nothing is
#    shed.
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init udpflood udpcount

PORT=9100		# the measured flows, counted by udpcount
LOAD_PORT=9101		# the flood that makes the pressure, into a sink
CAPACITY=500		# pps
ENTER=200 EXIT=150	# percent of the capacity: 1000 pps raises the level, 750 lowers it
ENTER_DWELL_MS=200 EXIT_DWELL_MS=500
LEASE_MS=400

CRITICAL_NET=198.18.0.8/29 LOW_NET=198.18.0.32/28
LOAD=198.18.0.11 LOAD_RATE=1500	# critical: never shed, but offered (300% of capacity)
CRITICAL=198.18.0.10 LOW=198.18.0.33 NORMAL=198.18.0.20
FLOW_RATE=400 FLOW_SECONDS=3

sent_of() { live || return 0; json -s --arg s "$2" '[.[] | select(.source == $s) | .sent] | add // 0' <"$1"; }
got_of() { json --arg s "$2" '.sources[$s] // 0' <<<"$1"; }
shed_drops() { cli stats --json; json '.outcomes.dropped_shed.packets' <<<"$CLI_OUT"; }
shed_level() { cli shed show --json; json -r '.now.level' <<<"$CLI_OUT"; }
level_is() { [[ $(shed_level) == "$1" ]]; }
controller_state() { cli status --json; json -r '.controller.state' <<<"$CLI_OUT"; }
state_is() { [[ $(controller_state) == "$1" ]]; }
has_log() { grep -q "$2" "$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_controller LOG: `sluice run` in the background; nsenter execs it, so $! is its pid.
start_controller() {
	live || return 0
	nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" run --interval 20ms \
		--lease "${LEASE_MS}ms" --metrics none 2>"$1" &
	RUN_PID=$!
	T_PIDS+=("$RUN_PID")
	wait_until 10 state_is running
}

# load_start / load_stop: the critical flood that makes the pressure (at
# most 60 s; stopped with SIGTERM, on which udpflood reports and exits).
load_start() {
	live || return 0
	nsenter --net="/run/netns/$NS_TX" taskset -c 1 "$TOOLS/udpflood" -t "$(rx_addr4 0)" \
		-p "$LOAD_PORT" -d 60 "$LOAD:$LOAD_RATE" >>"$T_DIR/load.json" &
	LOAD_PID=$!
	T_PIDS+=("$LOAD_PID")
}
load_stop() {
	live || return 0
	kill_pid "$LOAD_PID"
}

# measure FLOWS...: udpflood of SRC:RATE flows for FLOW_SECONDS into udpcount;
# sets SENT_FILE and RECEIVED, and SHED, the dropped_shed packets meanwhile.
measure() {
	local before
	SENT_FILE=$(mktemp "$T_DIR/sent.XXXXXX")
	before=$(shed_drops)
	count_start "$PORT" 60
	flood_start 0 "$SENT_FILE" -t "$(rx_addr4 0)" -p "$PORT" -d "$FLOW_SECONDS" "$@"
	flood_wait || diag "udpflood failed"
	sleep 0.3	# the last datagrams reach the socket
	count_stop
	RECEIVED=$COUNTED
	SHED=$(($(shed_drops) - ${before:-0}))
	is "$(json '.socket_drops' <<<"$RECEIVED")" 0 "the receiving socket dropped nothing"
}

# ---------------------------------------------------------------- setup

setup_namespaces && add_pair a 0 && add_sources a "$LOAD" "$CRITICAL" "$LOW" "$NORMAL"
ok "$(($? == 0))" "namespaces, a veth pair and four test sources"
RX=$(veth_rx a)

rules_rc=0
for rule in \
	"limit set $CRITICAL_NET --rate unlimited --class critical" \
	"limit set $LOW_NET --rate unlimited --class low" \
	"limit set default --rate 5kpps"; do
	# shellcheck disable=SC2086 # a rule is words
	cli $rule
	((CLI_RC == 0)) || { rules_rc=1; diag "sluice $rule: $CLI_ERR"; }
done
ok "$((rules_rc == 0))" "rules: $CRITICAL_NET critical, $LOW_NET low, the default unclassed"
cli limit list --json
is "$(json -c '[.limits[] | [.prefix, .class]]' <<<"$CLI_OUT")" \
	"[[\"default\",null],[\"$CRITICAL_NET\",\"critical\"],[\"$LOW_NET\",\"low\"]]" \
	"limit list shows each rule's class (none for the default: what it matches is normal)"
attach_rx "$RX"
ok "$((CLI_RC == 0))" "attach $RX"

cli shed set --capacity "$CAPACITY" --enter "$ENTER" --exit "$EXIT" \
	--enter-dwell "${ENTER_DWELL_MS}ms" --exit-dwell "${EXIT_DWELL_MS}ms" --levels 1 \
	--level 1 --share low=100
ok "$((CLI_RC == 0))" "shed set: capacity ${CAPACITY}pps, enter $ENTER%, exit $EXIT%, one level shedding all of low ($CLI_ERR)"
cli shed show --json
is "$(json -c '[.on, .capacity_pps, .enter_pct, .exit_pct, .enter_dwell_ms, .exit_dwell_ms, .levels, .now.level]' <<<"$CLI_OUT")" \
	"[true,$CAPACITY,$ENTER,$EXIT,$ENTER_DWELL_MS,$EXIT_DWELL_MS,[{\"low\":100,\"normal\":0,\"high\":0,\"critical\":0}],0]" \
	"shed show: the settings, and level 0"

# ---------------------------------------------------------------- 1. bad input

settings() { cli shed show --json; json -c 'del(.now)' <<<"$CLI_OUT"; }
before=$(settings)
# one_line_error: refused with exit status 1 and one line on stderr, nothing on stdout.
one_line_error() {
	live || { echo 1; return; }
	((CLI_RC == 1)) && [[ -z $CLI_OUT && $(wc -l <<<"$CLI_ERR") == 1 && $CLI_ERR == "Error: "* ]] && echo 1
}
cli shed set --exit 95 --enter 90
ok "$(one_line_error)" "shed set --exit 95 --enter 90 is refused in one line ($CLI_ERR)"
cli shed set --level 1 --share critical=10
ok "$(one_line_error)" "shed set --share critical=10 is refused in one line ($CLI_ERR)"
cli shed set --level 5 --share low=10
ok "$(one_line_error)" "shed set --level 5 is refused in one line ($CLI_ERR)"
is "$(settings)" "$before" "and none of them changed the settings"

# ---------------------------------------------------------------- 2. shedding

if live; then
	# A sink for the flood, so that it causes no ICMP port unreachables.
	nsenter --net="/run/netns/$NS_RX" "$TOOLS/udpcount" -p "$LOAD_PORT" -d 90 >/dev/null &
	T_PIDS+=($!)
fi
start_controller "$T_DIR/run.log"
ok "$(live && state_is running && echo 1)" "the controller runs"
is "$(shed_level)" 0 "no pressure, no shedding: level 0"

load_start
t0=$(now_ms)
ok "$(live && wait_until 15 level_is 1 && echo 1)" \
	"a flood at $((LOAD_RATE * 100 / CAPACITY))% of the capacity raises the shed level to 1"
live && diag "level 1 after $(($(now_ms) - t0)) ms"
ok "$(live && wait_until 5 has_log "$T_DIR/run.log" 'shed level 0 -> 1: pressure' && echo 1)" \
	"the controller logs 'shed level 0 -> 1'"
cli status --json
is "$(json -c '[.decisions.shed.level, .controller.state]' <<<"$CLI_OUT")" '[1,"running"]' \
	"status: shed level 1, set by a running controller"

measure "$CRITICAL:$FLOW_RATE" "$NORMAL:$FLOW_RATE" "$LOW:$FLOW_RATE"
is "$(shed_level)" 1 "the level held while the flows ran"
for src in "$CRITICAL critical" "$NORMAL normal"; do
	read -r addr class <<<"$src"
	sent=$(sent_of "$SENT_FILE" "$addr")
	got=$(got_of "$RECEIVED" "$addr")
	ok "$(live && ((sent > 0)) && [[ $got == "$sent" ]] && echo 1)" \
		"while shedding, all of the $class source's datagrams arrive (got $got of $sent)"
done
sent=$(sent_of "$SENT_FILE" "$LOW")
got=$(got_of "$RECEIVED" "$LOW")
ok "$(live && ((sent > 0 && got * 20 <= sent)) && echo 1)" \
	"while shedding, the low class is cut (got $got of $sent, at most 5%)"
is "$SHED" "$((sent - got))" "stats: dropped_shed grew by what the low source lost"

# ---------------------------------------------------------------- 3. the flood stops

load_stop
t0=$(now_ms)
ok "$(live && wait_until 15 level_is 0 && echo 1)" "once the flood stops, the level falls back to 0"
took=$(($(now_ms) - t0))
ok "$(live && ((took >= EXIT_DWELL_MS)) && echo 1)" \
	"but not before the exit dwell of ${EXIT_DWELL_MS}ms (it took $took ms)"
ok "$(live && wait_until 5 has_log "$T_DIR/run.log" 'shed level 1 -> 0' && echo 1)" \
	"the controller logs 'shed level 1 -> 0'"

# ---------------------------------------------------------------- 4. kill -9 while shedding

load_start
ok "$(live && wait_until 15 level_is 1 && echo 1)" "the flood again: level 1"
if live; then
	kill -KILL "$RUN_PID"
	wait "$RUN_PID" 2>/dev/null
	forget_pid "$RUN_PID"
fi
measure "$LOW:$FLOW_RATE"
sent=$(sent_of "$SENT_FILE" "$LOW")
got=$(got_of "$RECEIVED" "$LOW")
bound=$((FLOW_RATE * LEASE_MS / 1000 + 10))
ok "$(live && ((sent > 0 && sent - got <= bound)) && echo 1)" \
	"controller killed: the low class gets through once its ${LEASE_MS}ms lease ends (lost $((sent - got)) of $sent, at most $bound)"
is "$SHED" "$((sent - got))" "stats: dropped_shed is what it lost meanwhile"
cli status --json
is "$(json -c '[.controller.state, .decisions.shed.level]' <<<"$CLI_OUT")" '["died",0]' \
	"status: the controller died, and no level holds"
cli shed show --json
is "$(json -c '.now' <<<"$CLI_OUT")" '{"level":0,"set_by_controller":1}' \
	"shed show: level 0 holds, though the dead controller left 1 behind"

# ---------------------------------------------------------------- 5. shed set --off

start_controller "$T_DIR/run2.log"
ok "$(live && state_is running && wait_until 15 level_is 1 && echo 1)" \
	"a new controller under the flood: level 1 again"
cli shed set --off
ok "$((CLI_RC == 0))" "shed set --off"
ok "$(live && wait_until 5 level_is 0 && echo 1)" "with shedding off, the level goes to 0 under the flood"
measure "$LOW:$FLOW_RATE"
sent=$(sent_of "$SENT_FILE" "$LOW")
got=$(got_of "$RECEIVED" "$LOW")
ok "$(live && ((sent > 0)) && [[ $got == "$sent" ]] && echo 1)" \
	"with shedding off, all of the low source's datagrams arrive under the flood (got $got of $sent)"
is "$SHED" 0 "stats: nothing was shed"
cli shed show --json
is "$(json -c '[.on, .now.level]' <<<"$CLI_OUT")" '[false,0]' "shed show: off, level 0"
ok "$(live && ! grep -q 'shed level 0 -> 1' <(sed -n '/shed level 1 -> 0/,$p' "$T_DIR/run2.log") && echo 1)" \
	"the controller never raised the level again while off"
load_stop

finish
