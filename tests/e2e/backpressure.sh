#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Accept-queue backpressure end to end: a real TCP server in the receiver
# namespace with a backlog of 10 that stops calling accept(), clients
# connecting from the sender namespace. From the high water mark (80%)
# Sluice refuses new connections with an RST from XDP, so clients fail
# within a millisecond instead of timing out, and the kernel's
# ListenOverflows stays flat; an established connection keeps flowing; once
# the server drains under the low water mark (50%) connections are admitted
# again; kill -9 of the controller lifts the refusal within its lease; with
# --refuse drop the SYNs are dropped instead.
source "$(dirname "$0")/lib.sh"
e2e_init tcpstall tcpprobe

PORT=8080
BACKLOG=10
TICK_MS=${BACKPRESSURE_TICK_MS:-10}	# the controller's tick; the checks assume 10 ms
LEASE_MS=40

service_host_setup

# --- bad input changes nothing.
cli service add web --port 0
ok "$( ((CLI_RC == 1)) && grep -q "invalid --port '0'" <<<"$CLI_ERR" && echo 1)" "port 0 refused ($CLI_ERR)"
cli service add web --port 80 --proto udp
ok "$( ((CLI_RC == 1)) && grep -q "only tcp services" <<<"$CLI_ERR" && echo 1)" "a udp service refused ($CLI_ERR)"
cli service add web --port 80 --high 50 --low 60
ok "$( ((CLI_RC == 1)) && grep -q -- "--low (60%) must be below --high (50%)" <<<"$CLI_ERR" && echo 1)" \
	"water marks out of order refused ($CLI_ERR)"
cli service add 'we b' --port 80
is "$CLI_RC" 1 "a name with a space refused"
cli service add web --port $PORT --refuse reset
is "$CLI_RC" 1 "--refuse reset refused"
cli service list --json
is "$(json '.services | length' <<<"$CLI_OUT")" 0 "and none of those added a service"
cli service del nosuch
ok "$( ((CLI_RC == 1)) && grep -q "no service 'nosuch'" <<<"$CLI_ERR" && echo 1)" "deleting an unknown service says so"

cli service add web --port $PORT
is "$CLI_RC" 0 "service add web --port $PORT"
cli service add other --port $PORT
ok "$( ((CLI_RC == 1)) && grep -q "port $PORT is already service 'web'" <<<"$CLI_ERR" && echo 1)" \
	"a second service on the same port refused ($CLI_ERR)"
cli service list --json
is "$(json -c '.services[0] | [.name, .port, .refuse, .high_pct, .low_pct, .refusing]' <<<"$CLI_OUT")" \
	'["web",8080,"rst",80,50,false]' "service list: defaults rst, 80%, 50%, admitting"

# overflows: TcpExt ListenOverflows in the receiver's namespace.
overflows() {
	in_rx awk '/^TcpExt:/ { if (!n) { for (i = 1; i <= NF; i++) col[$i] = i; n = 1 } else print $col["ListenOverflows"] }' \
		/proc/net/netstat
}

stall_start() {
	live || return 0
	rm -f "$T_DIR/stall.ready"
	nsenter --net="/run/netns/$NS_RX" "$TOOLS/tcpstall" -p $PORT -b $BACKLOG -a 1 -d 120 \
		-r "$T_DIR/stall.ready" >"$T_DIR/stall.out" &
	STALL_PID=$!
	T_PIDS+=("$STALL_PID")
	wait_until 5 test -e "$T_DIR/stall.ready"
}

# run_start [NETNS]: the controller, in the receiver's namespace or the one given.
run_start() {
	local started
	live || return 0
	started=$(grep -c "controller started" "$T_DIR/run.log" 2>/dev/null)
	nsenter --net="/run/netns/${1:-$NS_RX}" "$SLUICE" --pin-root "$PIN_ROOT" run --interval ${TICK_MS}ms \
		--metrics none 2>>"$T_DIR/run.log" &
	RUN_PID=$!
	T_PIDS+=("$RUN_PID")
	wait_until 5 test "$(grep -c "controller started" "$T_DIR/run.log")" -gt "${started:-0}"
}

# probe DEST N [ARGS]: tcpprobe from the sender; its lines in PROBE_OUT, the summary in PROBE.
probe() {
	local dest=$1 n=$2
	shift 2
	PROBE_OUT="" PROBE=""
	live || return 0
	PROBE_OUT=$(in_tx "$TOOLS/tcpprobe" -t "$dest" -p $PORT -n "$n" "$@")
	PROBE=$(tail -1 <<<"$PROBE_OUT")
}
field() { json -r ".$1" <<<"$PROBE"; }

refusing() {
	cli service list --json
	[[ $(json -r '.services[0].refusing' <<<"$CLI_OUT") == "$1" ]]
}

stall_start
ok "$(live && [[ -e $T_DIR/stall.ready ]] && echo 1)" "a server listens on $PORT with backlog $BACKLOG and stops accepting"
run_start
ok "$(live && grep -q "service web: watching tcp port $PORT" "$T_DIR/run.log" && echo 1)" \
	"the controller watches the service"
before=$(overflows)

# --- the queue fills: one connection every 30 ms (three ticks), each kept open.
probe "$(rx_addr4 0)" 16 -i 30 -w 1000 -s
diag "$(tr '\n' ' ' <<<"$PROBE_OUT")"
established=$(field established)
# 8 of 10 is the high water mark; one more may slip in within a tick.
ok "$(live && ((established >= 8 && established <= 9)) && echo 1)" \
	"connections are admitted up to the high water mark (established $established, want 8 or 9)"
is "$(field timeout) $(field refused)" "0 $((16 - ${established:-0}))" \
	"then every new connection is refused at once, none times out"
max_latency=$(grep '"refused"' <<<"$PROBE_OUT" | json -s 'map(.latency_us) | max')
ok "$(live && ((${max_latency:-999999} < 1000)) && echo 1)" \
	"clients see the RST within a millisecond (slowest: ${max_latency} us)"
is "$(field stream_errors)" 0 "the established connection kept sending throughout"
is "$(overflows)" "$before" "the kernel's ListenOverflows stayed flat ($before)"
ok "$(live && grep -q "service web: accept queue [89] of $BACKLOG (80% or more): refusing new connections (rst)" \
	"$T_DIR/run.log" && echo 1)" "the controller logs the refusal"

# Reaction time: from the connection that reached the high water mark to the refusal's log line.
if live; then
	crossed_us=$(grep '"established"' <<<"$PROBE_OUT" | sed -n 8p | json '.wall_us + .latency_us')
	logged=$(grep -m1 'refusing new connections' "$T_DIR/run.log" | cut -d' ' -f1)
	logged_us=$(date -d "$logged" +%s%6N)
	diag "reaction: queue crossed 80% at $crossed_us us, refusal logged $((logged_us - crossed_us)) us later (tick ${TICK_MS} ms)"
fi

# --- IPv6 clients get their RST too.
probe "$(rx_addr6 0)" 3 -w 1000
is "$(field refused)" 3 "IPv6: refused with an RST"

cli stats --json
refused_rst=$(json '.outcomes.refused_rst.packets' <<<"$CLI_OUT")
cli service list --json
is "$(json '.services[0].refused' <<<"$CLI_OUT") $(json -r '.services[0].refusing' <<<"$CLI_OUT")" \
	"$refused_rst true" "service list: refusing, and its count agrees with stats ($refused_rst)"
cli status
ok "$(grep -q "^service:     web (tcp port $PORT): refusing: accept queue full" <<<"$CLI_OUT" && echo 1)" \
	"status shows the service refusing"

# --- the server drains its queue: under 50% the controller admits again.
live && kill -USR1 "$STALL_PID"
ok "$(live && wait_until 5 refusing false && echo 1)" "once the server drains, new connections are admitted"
probe "$(rx_addr4 0)" 3 -w 1000
is "$(field established)" 3 "and clients connect again"
ok "$(live && grep -q "service web: accept queue [0-4] of $BACKLOG: admitting new connections again" \
	"$T_DIR/run.log" && echo 1)" "the controller logs it"

# --- kill -9 while refusing: the refusal expires with the lease.
live && kill -USR2 "$STALL_PID"
probe "$(rx_addr4 0)" 12 -i 30 -w 1000
ok "$(live && (($(field refused) >= 2)) && refusing true && echo 1)" "the server stalls again: refusing"
if live; then
	kill -KILL "$RUN_PID"
	wait "$RUN_PID" 2>/dev/null
	forget_pid "$RUN_PID"
	# The lease is 40 ms; the client starts after it has passed.
	sleep 0.1
fi
probe "$(rx_addr4 0)" 1 -w 1000
is "$(field established)" 1 "kill -9 of the controller: a new connection is admitted within the lease"
cli service list --json
is "$(json -r '.services[0].refusing' <<<"$CLI_OUT")" false "and service list says admitting"

# --- --refuse drop: SYNs are dropped; the kernel still sees no overflow.
# This time the controller runs in the sender's namespace and reads the
# service's sockets in the receiver's (--netns).
live && kill -USR1 "$STALL_PID" && sleep 0.1 && kill -USR2 "$STALL_PID"
cli service add web --port $PORT --refuse drop --netns "$NS_RX"
ok "$(grep -q "in netns $NS_RX, refuse with drop" <<<"$CLI_OUT" && echo 1)" "service add again changes it ($CLI_OUT)"
run_start "$NS_TX"
before=$(overflows)
probe "$(rx_addr4 0)" 12 -i 30 -w 300
established=$(field established)
is "$(field refused) $(field timeout)" "0 $((12 - ${established:-0}))" \
	"with --refuse drop, connections over the mark time out instead (established $established)"
is "$(overflows)" "$before" "and ListenOverflows stays flat"
cli stats --json
ok "$(live && (($(json '.outcomes.refused_drop.packets' <<<"$CLI_OUT") >= 12 - established)) && echo 1)" \
	"counted as refused_drop"

# --- a tick too slow for how fast the queue fills: the kernel overflows it
# between two ticks, and the controller says so.
if live; then
	kill -KILL "$RUN_PID"
	wait "$RUN_PID" 2>/dev/null
	forget_pid "$RUN_PID"
	kill -USR1 "$STALL_PID" && sleep 0.1 && kill -USR2 "$STALL_PID"
fi
cli service add web --port $PORT
TICK_MS=2000 run_start
probe "$(rx_addr4 0)" 14 -w 100
ok "$(live && (($(field timeout) > 0)) && wait_until 5 grep -q "service web: [0-9]* listen queue overflows in its namespace since the last tick while admitting" "$T_DIR/run.log" && echo 1)" \
	"with a 2 s tick, connections overflow the queue between ticks, and the controller warns"

cli service del web
is "$CLI_RC" 0 "service del web"
cli service list --json
is "$(json '.services | length' <<<"$CLI_OUT")" 0 "no services left"
finish
