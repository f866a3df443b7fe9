#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Accuracy of the per-source limits, end to end: real UDP traffic from a
# sender namespace through a veth pair into a receiver namespace where
# Sluice is attached, counted per source by a real socket.
#
# 1. Mixed rules: a default limit, a prefix override (IPv4 and IPv6), an
#    unlimited prefix, an allowed and a denied source; 11 IPv4 and 4 IPv6
#    sources (each in a /64 of its own: per-source limits group IPv6 by /64)
#    sending above and below their limits for 8 s. Per source, what
#    arrives must be what the token bucket allows: rate * T + burst within
#    5% over the limit, everything (within 1%) under it, nothing when
#    denied. `sluice stats` and `sluice top` must agree with what was sent
#    and what arrived.
# 2. Host-wide: one source at twice its limit from two senders pinned to
#    CPU 0 and CPU 1; the receiver's XDP program runs on both CPUs, and what
#    arrives is the limit, not twice it.
# 3. Detach: everything arrives again and nothing is counted.
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init udpflood udpcount

PORT=9000
SECONDS_MAIN=8		# long enough that the burst is a small part of rate * T
SECONDS_HOST=6
SECONDS_DETACHED=2
PAYLOAD=64
FRAME=$((14 + 20 + 8 + PAYLOAD))	# what XDP counts for an IPv4 datagram
NOISE=32		# IPv6 MLD reports and the like, counted in their own outcomes or as "passed"

DEFAULT_RATE=200 DEFAULT_BURST=40
OVERRIDE4=198.18.0.32/28 OVERRIDE6=2001:db8:0:100::/56 OVERRIDE_RATE=400 OVERRIDE_BURST=40
UNLIMITED=198.18.0.48/28
ALLOWED=198.18.0.60
DENIED=198.18.0.61

# Source, packets per second sent, and what Sluice should do with it:
#   default|override: limited by that rule (over or under it, by the rate)
#   unlimited|allowed: never limited; denied: always dropped
FLOWS=(
	"198.18.0.10 400 default"
	"198.18.0.11 400 default"
	"198.18.0.12 500 default"
	"198.18.0.13 600 default"
	"198.18.0.20 100 default"
	"198.18.0.21 150 default"
	"198.18.0.33 600 override"
	"198.18.0.34 300 override"
	"198.18.0.49 500 unlimited"
	"$ALLOWED 500 allowed"
	"$DENIED 100 denied"
	"2001:db8:0:10::1 400 default"
	"2001:db8:0:11::1 500 default"
	"2001:db8:0:20::1 100 default"
	"2001:db8:0:101::1 600 override"
)
HOST_SOURCE=198.18.0.70 HOST_RATE=$DEFAULT_RATE	# each of two senders sends HOST_RATE

# sent_of FILE SOURCE / skipped_of FILE SOURCE: from udpflood's JSON lines (summed).
sent_of() { live || return 0; json -s --arg s "$2" '[.[] | select(.source == $s) | .sent] | add // 0' <"$1"; }
span_of() { live || return 0; json -s --arg s "$2" '[.[] | select(.source == $s) | .sent + .skipped] | add // 0' <"$1"; }
got_of() { json --arg s "$2" '.sources[$s] // 0' <<<"$1"; }
# top_key SOURCE: how `sluice top` names a source's bucket: IPv6 by its /64.
top_key() { if [[ $1 == *:* ]]; then echo "${1%::1}::/64"; else echo "$1"; fi; }
stat_of() { json -r "$2" <<<"$1"; }
# stat_delta BEFORE AFTER OUTCOME [packets|bytes]
stat_delta() {
	local a b
	a=$(stat_of "$1" ".outcomes.\"$3\".${4:-packets}")
	b=$(stat_of "$2" ".outcomes.\"$3\".${4:-packets}")
	echo $((b - a))
}
# percpu_packets: packets the XDP program saw on each CPU, all outcomes ("N M").
percpu_packets() {
	live || return 0
	bpftool -j map dump pinned "$PIN_ROOT/counters" |
		jq -r '[.[].formatted.values[]] | group_by(.cpu) | map(map(.value.packets) | add) | join(" ")'
}

# ---------------------------------------------------------------- setup

sources=()
for flow in "${FLOWS[@]}"; do
	read -r addr _ _ <<<"$flow"
	sources+=("$addr")
done
setup_namespaces && add_pair a 0 && add_sources a "${sources[@]}" "$HOST_SOURCE" &&
	xps_per_cpu a
ok "$(( $? == 0 ))" "sender and receiver namespaces with ${#sources[@]} test sources"
RX=$(veth_rx a)
DEST=(-t "$(rx_addr4 0)" -t "$(rx_addr6 0)" -p "$PORT" -l "$PAYLOAD")

rules_rc=0
for rule in \
	"limit set default --rate $DEFAULT_RATE --burst $DEFAULT_BURST" \
	"limit set $OVERRIDE4 --rate $OVERRIDE_RATE --burst $OVERRIDE_BURST" \
	"limit set $OVERRIDE6 --rate $OVERRIDE_RATE --burst $OVERRIDE_BURST" \
	"limit set $UNLIMITED --rate unlimited" \
	"allow add $ALLOWED/32" \
	"deny add $DENIED/32"; do
	# shellcheck disable=SC2086 # a rule is words
	cli $rule
	((CLI_RC == 0)) || { rules_rc=1; diag "sluice $rule: $CLI_ERR"; }
done
ok "$((rules_rc == 0))" "rules set: default, two overrides, unlimited, allow, deny"
cli limit list --json
is "$(json '[.limits[].prefix]' <<<"$CLI_OUT")" \
	'["default","198.18.0.32/28","198.18.0.48/28","2001:db8:0:100::/56"]' "limit list shows the rules"

attach_rx "$RX" --json
ok "$((CLI_RC == 0))" "attach $RX"
cli status --json
is "$(json '[.attachments[] | {interface, attached, mode}]' <<<"$CLI_OUT")" \
	"[{\"interface\":\"$RX\",\"attached\":true,\"mode\":\"native\"}]" "status: attached natively"

# ---------------------------------------------------------------- 1. mixed rules

cli stats --json
stats_before=$CLI_OUT
count_start "$PORT" 60
flows=()
for flow in "${FLOWS[@]}"; do
	read -r addr rate _ <<<"$flow"
	flows+=("$addr:$rate")
done
flood_start 0 "$T_DIR/main.json" "${DEST[@]}" -d "$SECONDS_MAIN" "${flows[@]}"
flood_wait
ok "$(( $? == 0 ))" "udpflood sent ${#flows[@]} flows for ${SECONDS_MAIN}s"
sleep 0.3	# the last datagrams reach the socket
count_stop
received=$COUNTED
cli stats --json
stats_after=$CLI_OUT
cli top -n 100 --json
top=$CLI_OUT
late=$(live && json -s 'map(select(.failed + .skipped > 0))' <"$T_DIR/main.json")
[[ -n $late && $late != '[]' ]] && diag "udpflood fell behind or failed: $late"
is "$(json '.socket_drops' <<<"$received")" 0 "receiver socket dropped nothing"
is "$(json -s 'map(.failed) | add' <"$T_DIR/main.json")" 0 "every datagram was accepted by the sender's kernel"

# Per source: the token bucket's answer. Over its limit, a source gets the
# burst plus rate * (time from its first to its last packet); under it, all.
sum_sent=0 sum_got=0 limited_sent=0 limited_got=0
for flow in "${FLOWS[@]}"; do
	read -r addr send_rate class <<<"$flow"
	sent=$(sent_of "$T_DIR/main.json" "$addr")
	span=$(span_of "$T_DIR/main.json" "$addr")
	got=$(got_of "$received" "$addr")
	sum_sent=$((sum_sent + sent)) sum_got=$((sum_got + got))
	case $class in
	default) rate=$DEFAULT_RATE burst=$DEFAULT_BURST ;;
	override) rate=$OVERRIDE_RATE burst=$OVERRIDE_BURST ;;
	*) rate=0 ;;
	esac
	what="$addr at ${send_rate}pps"
	case $class in
	default | override)
		limited_sent=$((limited_sent + sent)) limited_got=$((limited_got + got))
		if ((send_rate > rate)); then
			want=$(awk -v b="$burst" -v r="$rate" -v n="$span" -v s="$send_rate" \
				'BEGIN { printf "%.1f", b + r * (n - 1) / s }')
			within "$got" "$want" 5 "$what, $class limit ${rate}pps burst $burst: rate*T+burst arrives"
		else
			within "$got" "$sent" 1 "$what, under its $class limit of ${rate}pps: all arrives"
		fi
		;;
	unlimited | allowed)
		within "$got" "$sent" 1 "$what, $class: all arrives" ;;
	denied)
		is "$got" 0 "$what, denied: nothing arrives (sent $sent)" ;;
	esac
done
diag "sent $sum_sent, received $sum_got"

# stats: every test datagram is counted once, under the right outcome.
denied_sent=$(sent_of "$T_DIR/main.json" "$DENIED")
is "$(stat_delta "$stats_before" "$stats_after" dropped_denied)" "$denied_sent" \
	"stats: dropped_denied is what the denied source sent"
is "$(stat_delta "$stats_before" "$stats_after" dropped_denied bytes)" "$((denied_sent * FRAME))" \
	"stats: dropped_denied bytes are ${FRAME} per datagram"
is "$(stat_delta "$stats_before" "$stats_after" passed_allowed)" "$(got_of "$received" "$ALLOWED")" \
	"stats: passed_allowed is what the allowed source got through"
is "$(stat_delta "$stats_before" "$stats_after" passed_unlimited)" "$(got_of "$received" 198.18.0.49)" \
	"stats: passed_unlimited is what the unlimited source got through"
dropped=$(stat_delta "$stats_before" "$stats_after" dropped_rate)
ok "$((dropped - (limited_sent - limited_got) <= 2 && (limited_sent - limited_got) - dropped <= 2))" \
	"stats: dropped_rate is sent minus received of the limited sources, within 2 (got $dropped, want $((limited_sent - limited_got)))"
extra=$(($(stat_delta "$stats_before" "$stats_after" passed) - limited_got))
ok "$((extra >= 0 && extra <= NOISE))" \
	"stats: passed is what the limited sources got through (+$extra other packets, at most $NOISE)"
all=0
for outcome in passed passed_unlimited passed_allowed passed_malformed passed_fault dropped_denied dropped_rate; do
	all=$((all + $(stat_delta "$stats_before" "$stats_after" "$outcome")))
done
ok "$((all - sum_sent >= 0 && all - sum_sent <= NOISE))" \
	"stats: the IP outcomes add up to what was sent ($all counted, $sum_sent sent)"
live && diag "not counted above: $(stat_delta "$stats_before" "$stats_after" passed_neighbor_discovery) neighbor discovery, $(stat_delta "$stats_before" "$stats_after" passed_not_ip) not IP"
is "$(stat_delta "$stats_before" "$stats_after" passed_fault)" 0 "stats: no packet passed on a fault"

# top: per source, what the bucket counted is what arrived and what did not.
top_bad=()
for flow in "${FLOWS[@]}"; do
	read -r addr _ class <<<"$flow"
	[[ $class == default || $class == override ]] || continue
	sent=$(sent_of "$T_DIR/main.json" "$addr")
	got=$(got_of "$received" "$addr")
	row=$(json -r --arg s "$(top_key "$addr")" '.sources[] | select(.source == $s) | "\(.passed) \(.dropped)"' <<<"$top")
	read -r t_passed t_dropped <<<"${row:-x x}"
	live || continue
	if ! [[ $t_passed =~ ^[0-9]+$ ]] || ((t_passed - got > 2 || got - t_passed > 2 ||
		t_dropped - (sent - got) > 2 || (sent - got) - t_dropped > 2)); then
		top_bad+=("$addr: top says passed ${t_passed} dropped ${t_dropped}, socket got $got of $sent")
	fi
done
ok "$(( ${#top_bad[@]} == 0 ))" "top: passed and dropped per limited source match what arrived (within 2)"
((${#top_bad[@]})) && diag "${top_bad[@]}"
is "$(json '[.sources[].dropped] | . == (sort | reverse)' <<<"$top")" true "top: sorted by dropped"
for addr in "$ALLOWED" "$DENIED" 198.18.0.49; do
	is "$(json --arg s "$addr" '[.sources[] | select(.source == $s)] | length' <<<"$top")" 0 \
		"top: $addr has no bucket (it is never rate limited)"
done

# ---------------------------------------------------------------- 2. host-wide across CPUs

count_start "$PORT" 60
cpu_before=$(percpu_packets)
flood_start 0 "$T_DIR/host.json" "${DEST[@]}" -d "$SECONDS_HOST" "$HOST_SOURCE:$HOST_RATE"
flood_start 1 "$T_DIR/host.json.1" "${DEST[@]}" -d "$SECONDS_HOST" "$HOST_SOURCE:$HOST_RATE"
flood_wait
ok "$(( $? == 0 ))" "two udpflood processes on CPU 0 and CPU 1 sent from $HOST_SOURCE"
sleep 0.3
count_stop
received=$COUNTED
cpu_after=$(percpu_packets)
live && cat "$T_DIR/host.json.1" >>"$T_DIR/host.json"
sent=$(sent_of "$T_DIR/host.json" "$HOST_SOURCE")
got=$(got_of "$received" "$HOST_SOURCE")
# Each sender's span in time; both ran together, so the longer one is T.
span=$(live && json -s --arg s "$HOST_SOURCE" '[.[] | .sent + .skipped] | max // 0' <"$T_DIR/host.json")
want=$(awk -v b="$DEFAULT_BURST" -v r="$DEFAULT_RATE" -v n="$span" -v s="$HOST_RATE" \
	'BEGIN { printf "%.1f", b + r * (n - 1) / s }')
within "$got" "$want" 5 \
	"host-wide: $HOST_SOURCE at 2x${HOST_RATE}pps from two CPUs gets its ${DEFAULT_RATE}pps limit once (sent $sent)"
read -r c0_before c1_before <<<"${cpu_before:-0 0}"
read -r c0_after c1_after <<<"${cpu_after:-0 0}"
c0=$((c0_after - c0_before)) c1=$((c1_after - c1_before))
ok "$((c0 * 4 >= sent && c1 * 4 >= sent))" \
	"host-wide: the XDP program ran on both CPUs (cpu0 $c0, cpu1 $c1 packets)"
cli top -n 100 --json
row=$(json -r --arg s "$HOST_SOURCE" '.sources[] | select(.source == $s) | "\(.passed) \(.dropped)"' <<<"$CLI_OUT")
is "$row" "$got $((sent - got))" "host-wide: top counts $HOST_SOURCE as passed $got, dropped $((sent - got))"

# ---------------------------------------------------------------- 3. detach

cli detach "$RX"
ok "$((CLI_RC == 0))" "detach $RX"
cli status --json
is "$(json '.attachments' <<<"$CLI_OUT")" '[]' "status: no attachment after detach"
xdp=$(in_rx ip -d link show "$RX" | grep -c 'prog/xdp')
is "${xdp:-0}" 0 "ip link: no XDP program on $RX after detach"

cli stats --json
stats_before=$CLI_OUT
count_start "$PORT" 30
flood_start 0 "$T_DIR/detached.json" "${DEST[@]}" -d "$SECONDS_DETACHED" \
	198.18.0.13:600 "$DENIED:100" 2001:db8::11:500
flood_wait
sleep 0.3
count_stop
received=$COUNTED
for addr in 198.18.0.13 "$DENIED" 2001:db8::11; do
	sent=$(sent_of "$T_DIR/detached.json" "$addr")
	is "$(got_of "$received" "$addr")" "$sent" "detached: all $sent datagrams from $addr arrive"
done
cli stats --json
is "$(json '[.passed.packets, .dropped.packets]' <<<"$CLI_OUT")" \
	"$(json '[.passed.packets, .dropped.packets]' <<<"$stats_before")" "detached: nothing is counted"

finish
