#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Rules at every level, end to end: real traffic through a veth into a
# namespace where Sluice runs, counted by real sockets.
#   1. prefix: four sources, each under its own limit, held together by
#      their /28's shared limit;
#   2. port: one destination port limited, the next one not;
#   3. global: every source together held by the host's limit, the sources
#      sending from both CPUs;
#   4. dry run: nothing dropped, what would have been counted;
#   5. SYN: new TCP connections held to their rate while an established
#      connection keeps flowing, untouched.
# Each phase sets its rules with `sluice restore`, so each starts clean.
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init udpflood udpcount tcpconn tcpsink

SECONDS_RUN=6
PORT=9500

PREFIX=198.18.0.32/28
PREFIX_SOURCES=(198.18.0.33 198.18.0.34 198.18.0.35 198.18.0.36)
LONE=198.18.0.10

setup_namespaces && add_pair a 0 && add_sources a "${PREFIX_SOURCES[@]}" "$LONE" && xps_per_cpu a
ok "$(( $? == 0 ))" "namespaces with a two-queue veth pair"
RX=$(veth_rx a)
attach_rx "$RX"
ok "$((CLI_RC == 0))" "attach $RX"

# rules TEXT: the whole rule set, through restore.
rules() {
	live && printf '%s\n' "$@" >"$T_DIR/rules"
	cli restore "$T_DIR/rules"
	((CLI_RC == 0)) || diag "restore: $CLI_ERR"
}
# rule_counter RULE_MATCH FIELD: a counter of the rule whose match text is RULE_MATCH.
rule_of() { cli limit list --json; json -c --arg p "$1" --arg l "$2" '.limits[] | select(.prefix == $p and .level == $l)' <<<"$CLI_OUT"; }
stats() { cli stats --json; echo "$CLI_OUT"; }
delta() { echo $(($(json ".outcomes.$3.packets" <<<"$2") - $(json ".outcomes.$3.packets" <<<"$1"))); }
# expected packets of a token bucket over T seconds of offered load above its rate
bucket_want() { awk -v r="$1" -v b="$2" -v t="$3" 'BEGIN { printf "%.1f", b + r * t }'; }
sent_total() { live || return 0; json -s 'map(.sent) | add // 0' <"$1"; }
seconds_of() { live || return 0; json -s --argjson r "$2" 'map((.sent + .skipped) / $r) | max' <"$1"; }

# ---------------------------------------------------------------- 1. prefix
rules "limit set default --rate 1kpps --burst 100" "limit set $PREFIX --per rule --rate 300 --burst 30"
before=$(stats)
count_start "$PORT" 60
flows=()
for src in "${PREFIX_SOURCES[@]}"; do flows+=("$src:150"); done
flood_start 0 "$T_DIR/prefix.json" -t "$(rx_addr4 0)" -p "$PORT" -d "$SECONDS_RUN" "${flows[@]}"
flood_wait
sleep 0.3
count_stop
after=$(stats)
sent=$(sent_total "$T_DIR/prefix.json")
got=$(live && json '.total' <<<"$COUNTED")
t=$(seconds_of "$T_DIR/prefix.json" 150)
within "$got" "$(bucket_want 300 30 "$t")" 5 \
	"prefix: four sources at 150pps, each under its own 1kpps, held together to the /28's 300pps"
is "$(delta "$before" "$after" dropped_prefix_rate)" "$((sent - got))" \
	"prefix: every drop is counted as dropped_prefix_rate"
is "$(delta "$before" "$after" dropped_rate)" 0 "prefix: no source hit its own limit"
rule=$(rule_of "$PREFIX" prefix)
is "$(json '.dropped.packets' <<<"$rule") $(json '.passed.packets' <<<"$rule")" "$((sent - got)) $got" \
	"prefix: the shared rule's counters say the same"

# ---------------------------------------------------------------- 2. port
rules "limit set default --port $((PORT + 1)) --proto udp --per rule --rate 100 --burst 10"
before=$(stats)
count_start "$((PORT + 1))" 60
limited_count=$COUNT_PID limited_out=$COUNT_OUT
COUNT_PID=""
count_start "$((PORT + 2))" 60
flood_start 0 "$T_DIR/port1.json" -t "$(rx_addr4 0)" -p "$((PORT + 1))" -d "$SECONDS_RUN" "$LONE:300"
flood_start 1 "$T_DIR/port2.json" -t "$(rx_addr4 0)" -p "$((PORT + 2))" -d "$SECONDS_RUN" "$LONE:300"
flood_wait
sleep 0.3
count_stop
other=$COUNTED
COUNT_PID=$limited_count COUNT_OUT=$limited_out
count_stop
limited=$COUNTED
after=$(stats)
t=$(seconds_of "$T_DIR/port1.json" 300)
within "$(live && json '.total' <<<"$limited")" "$(bucket_want 100 10 "$t")" 5 \
	"port: udp port $((PORT + 1)) held to its 100pps"
within "$(live && json '.total' <<<"$other")" "$(sent_total "$T_DIR/port2.json")" 1 \
	"port: port $((PORT + 2)), no rule, gets everything"
ok "$(live && (($(delta "$before" "$after" dropped_port_rate) > 0)) && echo 1)" \
	"port: the drops are counted as dropped_port_rate"

# ---------------------------------------------------------------- 3. global, from both CPUs
rules "limit set default --per rule --rate 400 --burst 40"
before=$(stats)
count_start "$PORT" 60
flood_start 0 "$T_DIR/global0.json" -t "$(rx_addr4 0)" -p "$PORT" -d "$SECONDS_RUN" \
	"${PREFIX_SOURCES[0]}:200" "${PREFIX_SOURCES[1]}:200"
flood_start 1 "$T_DIR/global1.json" -t "$(rx_addr4 0)" -p "$PORT" -d "$SECONDS_RUN" \
	"${PREFIX_SOURCES[2]}:200" "$LONE:200"
flood_wait
sleep 0.3
count_stop
after=$(stats)
t=$(seconds_of "$T_DIR/global0.json" 200)
within "$(live && json '.total' <<<"$COUNTED")" "$(bucket_want 400 40 "$t")" 5 \
	"global: four sources from two CPUs at 800pps together, held to the host's 400pps"
ok "$(live && (($(delta "$before" "$after" dropped_global_rate) > 0)) && echo 1)" \
	"global: the drops are counted as dropped_global_rate"

# ---------------------------------------------------------------- 4. dry run
rules "limit set default --rate 50 --burst 5 --dry-run"
before=$(stats)
count_start "$PORT" 60
flood_start 0 "$T_DIR/dry.json" -t "$(rx_addr4 0)" -p "$PORT" -d "$SECONDS_RUN" "$LONE:200"
flood_wait
sleep 0.3
count_stop
after=$(stats)
sent=$(sent_total "$T_DIR/dry.json")
t=$(seconds_of "$T_DIR/dry.json" 200)
is "$(live && json '.total' <<<"$COUNTED")" "$sent" "dry run: every packet arrives"
rule=$(rule_of default source)
within "$(json '.would_drop.packets' <<<"$rule")" \
	"$(awk -v s="$sent" -v w="$(bucket_want 50 5 "$t")" 'BEGIN { printf "%.1f", s - w }')" 5 \
	"dry run: the rule counts what a 50pps limit would have dropped"
is "$(delta "$before" "$after" passed_dry_run)" "$(json '.would_drop.packets' <<<"$rule")" \
	"dry run: those packets passed as passed_dry_run"
is "$(json '.dropped.packets' <<<"$rule")" 0 "dry run: it dropped nothing"

# ---------------------------------------------------------------- 5. SYN
TCP_PORT=$((PORT + 10))
rules "limit set default --port $TCP_PORT --syn --rate 20 --burst 10"
if live; then
	nsenter --net="/run/netns/$NS_RX" "$TOOLS/tcpsink" -p "$TCP_PORT" -d 30 -r "$T_DIR/sink.ready" \
		>"$T_DIR/sink.json" &
	sink=$!
	T_PIDS+=("$sink")
	for _ in $(seq 50); do [[ -e $T_DIR/sink.ready ]] && break; sleep 0.1; done
	conn=$(nsenter --net="/run/netns/$NS_TX" "$TOOLS/tcpconn" -t "$(rx_addr4 0)" -p "$TCP_PORT" \
		-d 5 -c 100 -s 200)
	sleep 0.3
	kill_pid "$sink"
fi
established=$(live && json '.established' <<<"$conn")
within "$established" "$(bucket_want 20 10 5)" 5 \
	"syn: 100 new connections a second for 5 s, 20/s admitted (+ burst 10)"
is "$(live && json '.stream_errors' <<<"$conn")" 0 "syn: the established connection never stalled"
is "$(live && json '.bytes' <"$T_DIR/sink.json")" "$(live && json '.stream_sent' <<<"$conn")" \
	"syn: every byte it sent arrived while new connections were refused"
rule=$(rule_of default port)
ok "$(live && (($(json '.dropped.packets' <<<"$rule") >= $(json '.attempts' <<<"$conn") - established - 5)) && echo 1)" \
	"syn: the rule dropped the SYNs of the refused connections"

finish
