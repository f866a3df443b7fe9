#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Drop events, end to end: the XDP program samples drops into a ring
# buffer, which `sluice events` follows and `sluice run --log-events` logs.
#
# 1. A denied source and a rate-limited source send: `sluice events --json
#    --count 5` prints five JSON lines naming the source, the outcome, the
#    rule that refused it (the id `limit list` gives), the port and the
#    protocol; the text mode prints them as readable lines.
# 2. A flood of 20k pps for 2 s: the events seen are bounded by the
#    sampler (a burst of 100, then 1000 a second), and every drop is either
#    sent to the ring or counted as suppressed (events_state, events_skipped).
# 3. `sluice run --log-events` logs a "drop: ..." line per event, at most 10
#    a second, and a "more events" line with the count of the rest: what it
#    logged and counted is every event sent.
#
# The ring keeps what no one has read (its reader position is in the map),
# so each part first drains what an earlier one left.
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init udpflood

PORT=9200
DENIED=198.18.0.61 LIMITED=198.18.0.40 LIMIT_RATE=10 LIMIT_BURST=5
FLOOD_RATE=20000 FLOOD_SECONDS=2
EVENTS_PER_SEC=1000 EVENTS_BURST=100	# include/sluice.h: the sampler's rate
LOGGED_PER_SEC=10			# user/controller.c: --log-events' rate

sent_of() { live || return 0; json -s --arg s "$2" '[.[] | select(.source == $s) | .sent] | add // 0' <"$1"; }
stat_of() { cli stats --json; json ".outcomes.$1.packets" <<<"$CLI_OUT"; }
# events_state sent|lost|suppressed: the sampler's counters, as bpftool reads
# them from the pinned maps (what it skipped is counted per CPU, in events_skipped).
events_state() {
	live || return 0
	if [[ $1 == suppressed ]]; then
		bpftool -j map dump pinned "$PIN_ROOT/events_skipped" | jq '[.[0].formatted.values[].value] | add'
	else
		bpftool -j map dump pinned "$PIN_ROOT/events_state" | jq ".[0].formatted.value.$1"
	fi
}
# drain: reads and discards what the ring holds.
drain() { cli events --timeout 300ms; }

# events_start OUT ARGS...: `sluice events ARGS` in the background, bounded by 30 s.
events_start() {
	local out=$1
	shift
	: >"$out"
	live || return 0
	EVENTS_START_NS=$(date +%s%N)
	timeout 30 nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" \
		events "$@" >"$out" 2>"$out.err" &
	EVENTS_PID=$!
	T_PIDS+=("$EVENTS_PID")
	sleep 0.2	# it has opened the ring (what comes before is kept for it anyway)
}
# events_wait: waits for it; sets EVENTS_RC.
events_wait() {
	EVENTS_RC=0
	live || return 0
	wait "$EVENTS_PID"
	EVENTS_RC=$?
	forget_pid "$EVENTS_PID"
}

# send SECONDS FLOW...: udpflood from the sender to PORT, waited for.
send() {
	local seconds=$1
	shift
	flood_start 0 "$T_DIR/sent.json" -t "$(rx_addr4 0)" -p "$PORT" -d "$seconds" -b 50 "$@"
	flood_wait || diag "udpflood failed"
}

# ---------------------------------------------------------------- setup

setup_namespaces && add_pair a 0 && add_sources a "$DENIED" "$LIMITED"
ok "$(($? == 0))" "namespaces, a veth pair and two test sources"
RX=$(veth_rx a)
cli deny add "$DENIED/32"
deny_rc=$CLI_RC
cli limit set "$LIMITED/32" --rate "$LIMIT_RATE" --burst "$LIMIT_BURST"
ok "$((deny_rc == 0 && CLI_RC == 0))" "deny $DENIED, limit $LIMITED to ${LIMIT_RATE}pps"
cli limit list --json
RULE=$(json --arg p "$LIMITED/32" '.limits[] | select(.prefix == $p) | .id' <<<"$CLI_OUT")
ok "$(live && [[ $RULE =~ ^[0-9]+$ ]] && echo 1)" "limit list gives the rule's id ($RULE)"
attach_rx "$RX"
ok "$((CLI_RC == 0))" "attach $RX"
drain

# ---------------------------------------------------------------- 1. five events, JSON and text

# check_events FILE SOURCE OUTCOME RULE: every line is an event of SOURCE as expected.
check_events() {
	local file=$1 source=$2 outcome=$3 rule=$4
	live || return 0
	jq -c -s --arg s "$source" --arg o "$outcome" --arg i "$RX" --argjson p "$PORT" \
		--argjson r "$rule" '
		map(select(.source != $s or .outcome != $o or .proto != "udp" or .port != $p or
			.interface != $i or .class != "normal" or (.rule // 0) != $r or
			(.time_ns | type) != "number")) | length' "$file"
}

events_start "$T_DIR/denied.json" --json --count 5 --timeout 10s
send 1 "$DENIED:100"
events_wait
is "$EVENTS_RC" 0 "events --count 5 exits 0 ($(live && cat "$T_DIR/denied.json.err"))"
is "$(live && wc -l <"$T_DIR/denied.json")" 5 "events --json --count 5 prints 5 lines"
is "$(check_events "$T_DIR/denied.json" "$DENIED" dropped_denied 0)" 0 \
	"each: source $DENIED, outcome dropped_denied, proto udp, port $PORT, interface $RX, no rule"
live && diag "$(head -1 "$T_DIR/denied.json")"
drain

events_start "$T_DIR/limited.json" --json --count 5 --timeout 10s
send 2 "$LIMITED:100"
events_wait
is "$(live && wc -l <"$T_DIR/limited.json")" 5 "the rate-limited source: 5 lines"
is "$(check_events "$T_DIR/limited.json" "$LIMITED" dropped_rate "${RULE:-0}")" 0 \
	"each: source $LIMITED, outcome dropped_rate, rule $RULE (as limit list says), proto udp, port $PORT"
live && diag "$(head -1 "$T_DIR/limited.json")"
drain

events_start "$T_DIR/text.txt" --count 3 --timeout 10s
send 1 "$LIMITED:100"
events_wait
text_re="^[0-9]+\.[0-9]{6} dropped_rate udp from $LIMITED to port $PORT on $RX by rule $RULE \(class normal\)$"
is "$(live && grep -cvE "$text_re" "$T_DIR/text.txt")" 0 "text mode: readable lines, one per event"
is "$(live && wc -l <"$T_DIR/text.txt")" 3 "text mode: --count 3 prints 3"
live && diag "$(head -1 "$T_DIR/text.txt")"

# Events waiting in the ring when the reader starts: --count still stops at its count.
drain
send 0.5 "$DENIED:400"
cli events --json --count 5 --timeout 5s
is "$(live && [[ -n $CLI_OUT ]] && wc -l <<<"$CLI_OUT")" 5 "with many events waiting, events --count 5 prints 5"
drain

cli events --count 0
ok "$( ((CLI_RC == 1)) && grep -q "invalid --count '0'" <<<"$CLI_ERR" && echo 1)" "events --count 0 is refused ($CLI_ERR)"
cli events --timeout soon
ok "$( ((CLI_RC == 1)) && grep -q "invalid --timeout 'soon'" <<<"$CLI_ERR" && echo 1)" "events --timeout soon is refused ($CLI_ERR)"

# ---------------------------------------------------------------- 2. the sampler bounds a flood

sleep 0.2	# the sampler's bucket fills up again (100 events take 0.1 s)
drain
sent_before=$(events_state sent)
suppressed_before=$(events_state suppressed)
lost_before=$(events_state lost)
denied_before=$(stat_of dropped_denied)
events_start "$T_DIR/flood.json" --json --timeout 4s
start_ns=$(date +%s%N)
send "$FLOOD_SECONDS" "$DENIED:$FLOOD_RATE"
end_ns=$(date +%s%N)
events_wait
reader_ms=$((($(date +%s%N) - ${EVENTS_START_NS:-0}) / 1000000))
ok "$(live && ((reader_ms >= 4000)) && echo 1)" \
	"events --timeout 4s follows for 4 s, events or not (it ran ${reader_ms}ms)"
flood_sent=$(sent_of "$T_DIR/sent.json" "$DENIED")
seen=$(live && wc -l <"$T_DIR/flood.json")
sent=$(($(events_state sent) - sent_before))
suppressed=$(($(events_state suppressed) - suppressed_before))
lost=$(($(events_state lost) - lost_before))
denied=$(($(stat_of dropped_denied) - denied_before))
# The bucket: a burst of 100, then one event per millisecond of the flood.
elapsed_ms=$(((end_ns - start_ns) / 1000000))
max=$((EVENTS_BURST + EVENTS_PER_SEC * elapsed_ms / 1000 + 20))
min=$((EVENTS_PER_SEC * FLOOD_SECONDS * 8 / 10))
live && diag "flood: $flood_sent sent in $elapsed_ms ms; $denied dropped; events: $seen seen, $sent sent, $suppressed suppressed, $lost lost"
ok "$(live && ((flood_sent > 10 * EVENTS_PER_SEC * FLOOD_SECONDS)) && echo 1)" \
	"the flood sent $flood_sent datagrams, more than ten times what the sampler lets through"
ok "$(live && ((seen <= max && seen >= min)) && echo 1)" \
	"events seen are bounded by the sampler: $seen, from $min to $max (burst $EVENTS_BURST + ${EVENTS_PER_SEC}/s over ${elapsed_ms}ms)"
is "$sent" "$seen" "events_state: every event sent was seen"
is "$lost" 0 "events_state: none lost to a full ring"
is "$((sent + suppressed))" "$denied" "events_state: the other drops are counted as suppressed (sent + suppressed = dropped)"
is "$denied" "$flood_sent" "stats: every datagram of the flood was dropped as denied"

# ---------------------------------------------------------------- 3. run --log-events

drain
if live; then
	nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" run --interval 20ms \
		--metrics none --log-events 2>"$T_DIR/run.log" &
	RUN_PID=$!
	T_PIDS+=("$RUN_PID")
fi
running() { cli status --json; [[ $(json -r '.controller.state' <<<"$CLI_OUT") == running ]]; }
ok "$(live && wait_until 10 running && echo 1)" "sluice run --log-events runs"
log_sent_before=$(events_state sent)
send 3 "$DENIED:400"
sleep 1.1
# One more drop, in a later second: the count of a second's events not logged
# is written when an event of a later second comes.
flood_start 0 "$T_DIR/one.json" -t "$(rx_addr4 0)" -p "$PORT" -d 1 -n 1 "$DENIED:100"
flood_wait
# logged_total: drop lines plus the counts of those not logged.
logged_total() {
	awk '/ info: drop: [0-9]+ more events in the last second \(not logged\)$/ { n += $4; next }
		/ info: drop: / { n++ } END { print n + 0 }' "$T_DIR/run.log"
}
log_sent=$(($(events_state sent) - log_sent_before))
accounted() { [[ $(logged_total) == "$log_sent" ]]; }
live && wait_until 5 accounted
is "$(live && logged_total)" "$log_sent" "the log accounts for every event: drop lines plus the 'more events' counts"
drop_lines=$(live && grep -c ' info: drop: dropped' "$T_DIR/run.log")
more_lines=$(live && grep -c ' info: drop: [0-9]* more events in the last second (not logged)$' "$T_DIR/run.log")
ok "$(live && ((more_lines >= 2)) && echo 1)" "'N more events' lines summarise what was not logged ($more_lines of them)"
# At most 10 a second: over the seconds from the first drop line to the last.
span_ms=$(live && awk '/ info: drop: dropped/ {
		split(substr($1, 12, 12), t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
		if (first == "") first = ms; last = ms
	} END { d = last - first; if (d < 0) d += 86400000; print int(d) }' "$T_DIR/run.log")
max_lines=$((LOGGED_PER_SEC * (${span_ms:-0} / 1000 + 2)))
ok "$(live && ((drop_lines <= max_lines && drop_lines >= LOGGED_PER_SEC * 2)) && echo 1)" \
	"at most $LOGGED_PER_SEC drop lines a second: $drop_lines over ${span_ms}ms (at most $max_lines) for $log_sent events"
line_re=" info: drop: dropped_denied udp from $DENIED to port $PORT on $RX \(class normal\)$"
ok "$(live && grep -qE "$line_re" "$T_DIR/run.log" && echo 1)" "a drop line says what was dropped, from where, to which port"
live && diag "$(grep -m1 ' info: drop: dropped' "$T_DIR/run.log")" && diag "$(grep -m1 'more events' "$T_DIR/run.log")"

finish
