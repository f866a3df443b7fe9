#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Fleet-wide limits end to end: three hosts, each a network namespace with
# its own veth from one sender namespace and its own Sluice (its own pin
# root, its own controller), share one `--per rule --scope fleet` limit of
# 300 packets a second through a redis-server the test starts. The sender
# sends 400 a second to each host (1,200 in all) from one source address.
#
#  1. In sync: the fleet passes about 300 a second, not 900 (each host's
#     300): the measured total against the bound of user/fleet.h.
#  2. Redis stops: each host falls back to its share (100 a second), so
#     the fleet stays near 300 with no gap; status and the log say so.
#  3. Redis comes back: the hosts rejoin by themselves, and hold 300 again.
#  4. The same with a per-source fleet limit (one source's budget, its
#     source group synced as a hot key, given its share on each host).
#  5. The controllers stop: each rule's own limit holds (each host 300).
# The rates are printed as TAP comments ("# fleet: ...").
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init udpflood

RATE=300		# the fleet's, packets a second
SEND=400		# to each host
PORT=9
SOURCE=198.18.200.1	# the one source, on the sender's loopback
[[ -z $T_SKIP ]] && ! command -v redis-server >/dev/null && T_SKIP="redis-server not installed (make deps)"

setup_namespaces
ok "$(( $? == 0 ))" "the sender's and the first host's namespaces"
HOST_NS=("$NS_RX" "sluice-$ID-rx2" "sluice-$ID-rx3")
HOST_ROOT=("$PIN_ROOT" "$PIN_ROOT-2" "$PIN_ROOT-3")
T_PIN_ROOTS+=("${HOST_ROOT[1]}" "${HOST_ROOT[2]}")

# host_up N: host N's namespace (hosts 1 and 2 are the test's own), its veth
# pair from the sender (198.18.N.1 -> 198.18.N.254), and Sluice attached.
host_up() {
	local n=$1 ns=${HOST_NS[$1]} tx rx mac
	live || return 0
	if ((n > 0)); then
		ip netns add "$ns" || return 1
		T_NETNS+=("$ns")
		ip -n "$ns" link set lo up
	fi
	tx="sl${ID}f${n}t" rx="sl${ID}f${n}r"
	ip -n "$NS_TX" link add "$tx" type veth peer name "$rx" netns "$ns" &&
		ip -n "$NS_TX" addr add "198.18.$n.1/24" dev "$tx" &&
		ip -n "$ns" addr add "198.18.$n.254/24" dev "$rx" &&
		ip -n "$NS_TX" link set "$tx" up && ip -n "$ns" link set "$rx" up || return 1
	mac=$(ip -n "$ns" -j link show "$rx" | jq -r '.[0].address')
	ip -n "$NS_TX" neigh replace "198.18.$n.254" lladdr "$mac" dev "$tx" nud permanent || return 1
	T_ATTACHED+=("$ns ${HOST_ROOT[$n]} $rx")
	nsenter --net="/run/netns/$ns" "$SLUICE" --pin-root "${HOST_ROOT[$n]}" attach "$rx" \
		>/dev/null && nsenter --net="/run/netns/$ns" "$SLUICE" --pin-root "${HOST_ROOT[$n]}" \
		shed set --off >/dev/null
}
for n in 0 1 2; do
	host_up $n
	ok "$(( $? == 0 ))" "host $n: its namespace, veth and Sluice"
done
live && ip -n "$NS_TX" addr add "$SOURCE/32" dev lo

# on_host N ARGS...: the CLI of host N.
on_host() {
	local n=$1
	shift
	nsenter --net="/run/netns/${HOST_NS[$n]}" "$SLUICE" --pin-root "${HOST_ROOT[$n]}" "$@"
}

# --- Redis, and the rule on every host.
REDIS_PORT=$((20000 + RANDOM % 20000))
redis_up() { redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
redis_start() {
	live || return 0
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
		>>"$T_DIR/redis.log" 2>&1 &
	REDIS_PID=$!
	T_PIDS+=("$REDIS_PID")
	wait_until 5 redis_up
}
redis_start
ok "$(live && redis_up && echo 1)" "redis-server on port $REDIS_PORT"

cli limit set default --per rule --rate $RATE --scope world
ok "$( ((CLI_RC == 1)) && grep -q "invalid --scope 'world'" <<<"$CLI_ERR" && echo 1)" "an unknown scope is refused"
for n in 0 1 2; do
	live && on_host $n limit set default --per rule --rate $RATE --burst $RATE --scope fleet >/dev/null
	ok "$(( $? == 0 ))" "host $n: limit set default --per rule --rate $RATE --scope fleet"
done
cli limit list --json
is "$(json -r '.limits[0].scope' <<<"$CLI_OUT")" fleet "limit list says its scope"

# Bad controller options change nothing.
cli run --redis redis://redis.example.com
ok "$( ((CLI_RC == 1)) && grep -q "not a numeric IPv4 address" <<<"$CLI_ERR" && echo 1)" "a host name is refused ($CLI_ERR)"
cli run --fleet-fallback local
ok "$( ((CLI_RC == 1)) && grep -q -- "--fleet-fallback needs --redis" <<<"$CLI_ERR" && echo 1)" "a fallback without Redis is refused"
cli run --redis "redis://127.0.0.1:$REDIS_PORT" --fleet-fallback everyone
ok "$( ((CLI_RC == 1)) && grep -q "invalid --fleet-fallback 'everyone'" <<<"$CLI_ERR" && echo 1)" "an unknown fallback is refused"

RUN_PIDS=()
controllers_start() {
	local n
	RUN_PIDS=()
	live || return 0
	for n in 0 1 2; do
		"$SLUICE" --pin-root "${HOST_ROOT[$n]}" run --interval 50ms --metrics none \
			--redis "redis://127.0.0.1:$REDIS_PORT" 2>>"$T_DIR/run$n.log" &
		RUN_PIDS+=($!)
		T_PIDS+=($!)
	done
}
in_sync() {
	local n
	for n in 0 1 2; do
		[[ $(on_host $n status --json | jq -r '.decisions.fleet.in_sync') == true ]] || return 1
	done
}
controllers_start
ok "$(live && wait_until 10 in_sync && echo 1)" "the three controllers are in sync"
is "$(live && on_host 0 status --json | jq -r '.decisions.fleet.hosts')" 3 "status counts 3 hosts"

# passed_total: what the fleet rule passed on the three hosts together.
passed_total() {
	local n total=0
	for n in 0 1 2; do
		total=$((total + $(on_host $n limit list --json | jq '.limits[0].passed.packets')))
	done
	echo $total
}
# measure NAME SECONDS: the fleet's rate over SECONDS, in RATE_NOW, printed.
measure() {
	local before after
	RATE_NOW=0
	live || return 0
	before=$(passed_total)
	sleep "$2"
	after=$(passed_total)
	RATE_NOW=$(( (after - before) / $2 ))
	diag "fleet: $1: $RATE_NOW packets a second passed by the 3 hosts (limit $RATE)"
}

# --- The flood: 400 a second to each host, from one source, for the whole test.
for n in 0 1 2; do
	flood_start $((n % 2)) "$T_DIR/flood$n.json" -t "198.18.$n.254" -p $PORT -d 60 "$SOURCE:$SEND"
done
live && sleep 1.5	# the first window's burst goes by
measure "in sync" 4
# Each host's share burst is its rule's burst scaled to its share (about 100),
# so at most 3 x 100 over a window beyond the budget (user/fleet.h's bound);
# a window is 1 s, so the rate may read up to that much over on top.
ok "$(live && ((RATE_NOW >= RATE * 85 / 100 && RATE_NOW <= RATE * 125 / 100)) && echo 1)" \
	"in sync, the fleet passes about its limit: $RATE_NOW a second (limit $RATE; alone each would pass $RATE)"
SYNCED=$RATE_NOW
# Redis's own count of each window: what the fleet passed in it (the last whole ones).
if live; then
	# Whole windows only: those that ended before the second now under way.
	NOW_S=$(date +%s)
	WINDOWS=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'sluice:fleet:default*' |
		awk -F: -v now="$NOW_S" '$NF < now - 1' | sort | tail -3)
	PER_WINDOW=$(for k in $WINDOWS; do redis-cli -p "$REDIS_PORT" get "$k"; done | tr '\n' ' ')
	diag "fleet: per window (Redis's counts): $PER_WINDOW(budget $RATE)"
fi
ok "$(live && for v in $PER_WINDOW; do ((v <= RATE * 125 / 100)) || exit 1; done && [[ -n $PER_WINDOW ]] && echo 1)" \
	"no window over its budget by more than a quarter: $PER_WINDOW"

# --- Redis stops: each host its share, no gap.
live && kill -9 "$REDIS_PID" && wait "$REDIS_PID" 2>/dev/null && forget_pid "$REDIS_PID"
ok "$(live && wait_until 3 grep -q "fleet: Redis is unreachable" "$T_DIR/run0.log" && echo 1)" \
	"the controller logs that Redis is unreachable"
measure "Redis down" 3
ok "$(live && ((RATE_NOW >= RATE * 80 / 100 && RATE_NOW <= RATE * 125 / 100)) && echo 1)" \
	"Redis down: each host holds its share, the fleet about its limit: $RATE_NOW a second"
is "$(live && on_host 1 status --json | jq -r '.decisions.fleet.in_sync')" false "status says out of sync"
ok "$(live && on_host 1 status | grep -q "fleet:       OUT OF SYNC" && echo 1)" "status says so in words"
is "$(grep -c "fleet: Redis is unreachable" "$T_DIR/run0.log" 2>/dev/null)" 1 "logged once"

# --- Redis comes back: the hosts rejoin.
redis_start
ok "$(live && wait_until 10 in_sync && echo 1)" "Redis back: the three rejoin"
live && sleep 1
measure "rejoined" 3
ok "$(live && ((RATE_NOW >= RATE * 85 / 100 && RATE_NOW <= RATE * 125 / 100)) && echo 1)" \
	"rejoined, the fleet holds its limit again: $RATE_NOW a second"

# --- Per source: the one source's budget is the fleet's.
for n in 0 1 2; do
	live && on_host $n limit del default --per rule >/dev/null &&
		on_host $n limit set default --rate $RATE --burst $RATE --scope fleet >/dev/null
	ok "$(( $? == 0 ))" "host $n: limit set default --rate $RATE --scope fleet (per source)"
done
live && sleep 1.5
measure "per source" 4
ok "$(live && ((RATE_NOW >= RATE * 85 / 100 && RATE_NOW <= RATE * 125 / 100)) && echo 1)" \
	"one source across the fleet is held to its fleet-wide $RATE: $RATE_NOW a second"
if live; then
	NOW_S=$(date +%s)
	PER_WINDOW=$(redis-cli -p "$REDIS_PORT" --scan --pattern "sluice:fleet:*$SOURCE:*" |
		awk -F: -v now="$NOW_S" '$NF < now - 1' | sort | tail -3 |
		while read -r k; do redis-cli -p "$REDIS_PORT" get "$k"; done | tr '\n' ' ')
	diag "fleet: per window for $SOURCE (Redis's counts): $PER_WINDOW(budget $RATE)"
fi
ok "$(live && [[ -n $PER_WINDOW ]] && echo 1)" "the source is synced under its own key"

# --- The controllers stop (host 0's killed): each rule's own limit.
if live; then
	kill -9 "${RUN_PIDS[0]}"
	for pid in "${RUN_PIDS[@]:1}"; do kill -TERM "$pid"; done
	for pid in "${RUN_PIDS[@]}"; do wait "$pid"; forget_pid "$pid"; done
fi
live && sleep 1
measure "no controllers" 3
# Each bucket was full when the controllers stopped: up to its burst more over the 3 s.
ok "$(live && ((RATE_NOW >= 3 * RATE * 85 / 100 && RATE_NOW <= 3 * RATE * 135 / 100)) && echo 1)" \
	"with no controller each host holds its own $RATE: $RATE_NOW a second"
# A controller without --redis on host 0, after one with it was killed: no share it left holds.
if live; then
	"$SLUICE" --pin-root "${HOST_ROOT[0]}" run --interval 50ms --metrics none 2>>"$T_DIR/plain.log" &
	T_PIDS+=($!)
	wait_until 5 grep -q "controller started" "$T_DIR/plain.log"
	sleep 1.5
	before=$(on_host 0 limit list --json | jq '.limits[0].passed.packets')
	sleep 2
	after=$(on_host 0 limit list --json | jq '.limits[0].passed.packets')
	HOST0=$(( (after - before) / 2 ))
	diag "fleet: host 0 with a controller without --redis: $HOST0 a second"
fi
ok "$(live && ((HOST0 >= RATE * 85 / 100 && HOST0 <= RATE * 125 / 100)) && echo 1)" \
	"a controller without --redis after a killed one with it: host 0 holds its own $RATE (${HOST0:-})"
ok "$(live && ! on_host 0 status | grep -q "^fleet:" && echo 1)" "and status has no fleet line"
diag "fleet: accuracy in sync: $SYNCED a second against a limit of $RATE"


finish
