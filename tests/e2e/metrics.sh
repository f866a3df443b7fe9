#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The controller's Prometheus endpoint, end to end: `sluice run --metrics
# 127.0.0.1:PORT` in the receiver namespace, scraped there with curl.
#
# 1. The whole body is valid Prometheus text format: every sample line is
#    `name{labels} value` or `name value`, every family has exactly one
#    HELP and one TYPE line before its samples and its samples together,
#    and no series comes twice.
# 2. After known traffic (a source that passes, one over its limit, one
#    over a dry-run limit), the outcome counters equal `sluice stats`, and
#    the per-rule counters equal `sluice limit list` (the document is
#    rebuilt at most once a second: the test waits for it).
# 3. The shed level is there, and the tick counter moves.
# 4. HTTP: 404 off /metrics; the content type of the text format.
# 5. A second controller (another pin root) on the same port fails at once
#    in one line, exit status 1; a bad address is refused before anything
#    is made.
# 6. Bound to 127.0.0.1, the endpoint is not reachable from the sender
#    namespace; bound to the veth's address, it is (so that the first
#    check can fail).
# shellcheck disable=SC2016 # jq filters and awk programs are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init udpflood udpcount
[[ -z $T_SKIP ]] && ! command -v curl >/dev/null && T_SKIP="command 'curl' not found"

# Every test has its own namespaces, so any port would do; one from the run id
# keeps two runs' logs apart.
PORT=$((30000 + 16#${ID:-0} % 10000))
URL=http://127.0.0.1:$PORT
UDP_PORT=9300
PASSING=198.18.0.10 PASS_COUNT=500
LIMITED=198.18.0.40 LIMITED_COUNT=300
DRY=198.18.0.50 DRY_COUNT=200
PIN_ROOT2=$BPFFS/sluice-test-$ID-2
PIN_ROOT3=$BPFFS/sluice-test-$ID-3
T_PIN_ROOTS+=("$PIN_ROOT2" "$PIN_ROOT3")

# scrape [PATH]: the body in BODY, the HTTP status in HTTP_CODE, headers in HEADERS.
scrape() {
	BODY="" HTTP_CODE="" HEADERS=""
	live || return 0
	HTTP_CODE=$(nsenter --net="/run/netns/$NS_RX" curl -s --max-time 5 -D "$T_DIR/headers" \
		-o "$T_DIR/body" -w '%{http_code}' "$URL${1:-/metrics}")
	BODY=$(<"$T_DIR/body")
	HEADERS=$(<"$T_DIR/headers")
}
# metric NAME [LABELS]: the value of one sample in BODY (empty if absent).
metric() {
	local series=$1
	[[ -n ${2:-} ]] && series="$1{$2}"
	awk -v s="$series" 'index($0, s " ") == 1 { print $2 }' <<<"$BODY"
}
stat_of() { json ".outcomes.$1.packets" <<<"$2"; }

# prom_check: what is wrong with BODY as Prometheus text format, one line each.
prom_check() {
	local label='[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"'
	local value='(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf)'
	local sample_re="^[a-zA-Z_:][a-zA-Z0-9_:]*(\{$label(,$label)*\})? $value( -?[0-9]+)?\$"
	# Through the environment: awk -v would take the backslashes as escapes.
	SAMPLE_RE=$sample_re awk '
	BEGIN { sample_re = ENVIRON["SAMPLE_RE"] }
	function fail(why) { printf "line %d: %s: %s\n", NR, why, $0; bad++ }
	/^# HELP / {
		if (help[$3]++) fail("a second HELP for " $3)
		if ($3 in seen) fail("HELP after samples of " $3)
		next
	}
	/^# TYPE / {
		if (type[$3]++) fail("a second TYPE for " $3)
		if ($3 in seen) fail("TYPE after samples of " $3)
		if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/ || NF != 4) fail("a bad TYPE")
		next
	}
	/^#/ { next }
	{
		if ($0 !~ sample_re) { fail("not name{labels} value"); next }
		name = $0; sub(/[{ ].*/, "", name)
		family = name
		if (!(family in type)) sub(/_(bucket|sum|count)$/, "", family)
		if (help[family] != 1 || type[family] != 1)
			fail("no HELP and TYPE before the samples of " family)
		if ((family in seen) && family != last) fail("the samples of " family " are not together")
		seen[family] = 1; last = family
		series = $0; sub(/ [^ ]*( [^ ]*)?$/, "", series)
		if (series_seen[series]++) fail("a duplicate series")
		samples++
	}
	END {
		for (f in help) if (!(f in type)) { print "HELP without TYPE: " f; bad++ }
		for (f in type) if (!(f in help)) { print "TYPE without HELP: " f; bad++ }
		if (!samples) print "no samples"
	}' <<<"$BODY" 2>&1
}

start_controller() {	# LOG PIN_ROOT ARGS...: sets RUN_PID
	local log=$1 root=$2
	shift 2
	live || return 0
	nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$root" run --interval 20ms "$@" \
		2>"$log" &
	RUN_PID=$!
	T_PIDS+=("$RUN_PID")
}
serving() { scrape; [[ $HTTP_CODE == 200 ]]; }

# ---------------------------------------------------------------- setup

setup_namespaces && add_pair a 0 && add_sources a "$PASSING" "$LIMITED" "$DRY"
ok "$(($? == 0))" "namespaces, a veth pair and three test sources"
RX=$(veth_rx a)
rules_rc=0
for rule in \
	"limit set default --rate 10kpps" \
	"limit set $LIMITED/32 --rate 1 --burst 1" \
	"limit set $DRY/32 --rate 1 --burst 1 --dry-run"; do
	# shellcheck disable=SC2086 # a rule is words
	cli $rule
	((CLI_RC == 0)) || { rules_rc=1; diag "sluice $rule: $CLI_ERR"; }
done
ok "$((rules_rc == 0))" "rules: a default, a tight limit on $LIMITED, a dry-run one on $DRY"
attach_rx "$RX"
ok "$((CLI_RC == 0))" "attach $RX"
# Off until part 3: under the default settings a busy CPU (other tests) could raise the level.
cli shed set --off

start_controller "$T_DIR/run.log" "$PIN_ROOT" --metrics "127.0.0.1:$PORT"
FIRST_PID=${RUN_PID:-}
ok "$(live && wait_until 10 serving && echo 1)" "the controller serves $URL/metrics"
ok "$(live && grep -q "metrics on http://127.0.0.1:$PORT/metrics" "$T_DIR/run.log" && echo 1)" \
	"and logs where"

# ---------------------------------------------------------------- 1. the format

scrape
errors=$(prom_check)
is "${errors:-none}" none "the body is valid Prometheus text format ($(grep -c '^# TYPE' <<<"$BODY") families, $(grep -vc '^#' <<<"$BODY") samples)"
# The checker catches what it should (so that the check above can fail).
good_body=$BODY
BODY=$(printf '%s\n' "$good_body" "sluice_rules 1")
ok "$(live && grep -q 'duplicate series' <<<"$(prom_check)" && echo 1)" "the checker finds a duplicate series"
BODY=$(printf '# TYPE x_total counter\nx_total 1\n')
ok "$(live && grep -q 'no HELP and TYPE' <<<"$(prom_check)" && echo 1)" "the checker finds a family without HELP"
BODY=$(printf '# HELP x y\n# TYPE x gauge\nx{a="1" 2\n')
ok "$(live && grep -q 'not name{labels} value' <<<"$(prom_check)" && echo 1)" "the checker finds a bad sample line"
BODY=$good_body

# ---------------------------------------------------------------- 2. counters after known traffic

count_start "$UDP_PORT" 30
flood_start 0 "$T_DIR/sent.json" -t "$(rx_addr4 0)" -p "$UDP_PORT" -d 2 -b 100 \
	"$PASSING:$((PASS_COUNT / 2))" "$LIMITED:$((LIMITED_COUNT / 2))" "$DRY:$((DRY_COUNT / 2))"
flood_wait
ok "$(( $? == 0 ))" "udpflood sent $PASS_COUNT, $LIMITED_COUNT and $DRY_COUNT datagrams"
sleep 0.3
count_stop
sent_of() { live || return 0; json -s --arg s "$1" '[.[] | select(.source == $s) | .sent] | add // 0' <"$T_DIR/sent.json"; }
got_of() { json --arg s "$1" '.sources[$s] // 0' <<<"$COUNTED"; }
pass_sent=$(sent_of "$PASSING") limited_sent=$(sent_of "$LIMITED")
is "$pass_sent $(got_of "$PASSING")" "$PASS_COUNT $PASS_COUNT" "all $PASS_COUNT from $PASSING arrived"

# What the metrics say once they have caught up with what stats says.
caught_up() {
	cli stats --json
	STATS=$CLI_OUT
	scrape
	[[ $(metric sluice_packets_total 'outcome="passed"') == "$(stat_of passed "$STATS")" &&
		$(metric sluice_packets_total 'outcome="dropped_rate"') == "$(stat_of dropped_rate "$STATS")" &&
		$(metric sluice_packets_total 'outcome="passed_dry_run"') == "$(stat_of passed_dry_run "$STATS")" ]]
}
live && wait_until 5 caught_up
for outcome in passed dropped_rate passed_dry_run; do
	is "$(metric sluice_packets_total "outcome=\"$outcome\"")" "$(stat_of "$outcome" "$STATS")" \
		"sluice_packets_total{outcome=\"$outcome\"} equals stats"
done
passed=$(stat_of passed "$STATS")
dropped=$(stat_of dropped_rate "$STATS")
ok "$(live && ((passed >= pass_sent && passed <= pass_sent + 32)) && echo 1)" \
	"stats: passed is the $pass_sent datagrams (and a little noise): $passed"
ok "$(live && ((dropped >= limited_sent - 5 && dropped <= limited_sent)) && echo 1)" \
	"stats: dropped_rate is the $limited_sent over the limit but its burst and rate: $dropped"
is "$(metric sluice_bytes_total 'outcome="dropped_rate"')" "$(json '.outcomes.dropped_rate.bytes' <<<"$STATS")" \
	"sluice_bytes_total{outcome=\"dropped_rate\"} equals stats"

# Per rule: the series for each rule and verdict, as limit list says.
rules_caught_up() {
	cli limit list --json
	LIST=$CLI_OUT
	scrape
	WANT=$(json -r '.limits[] | "\(.id) passed \(.passed.packets)", "\(.id) dropped \(.dropped.packets)",
		"\(.id) would_drop \(.would_drop.packets)"' <<<"$LIST" | sort)
	GOT=$(awk -F'[{}" ]+' '/^sluice_rule_packets_total\{/ { print $3, $5, $6 }' <<<"$BODY" | sort)
	[[ -n $WANT && $GOT == "$WANT" ]]
}
live && wait_until 5 rules_caught_up
is "$GOT" "$WANT" "sluice_rule_packets_total: every rule's passed, dropped and would_drop as limit list says"
live && diag "$(tr '\n' ';' <<<"$WANT")"
is "$(metric sluice_rules)" "$(json '.limits | length' <<<"$LIST")" "sluice_rules is the number of rules"
LIMITED_ID=$(json --arg p "$LIMITED/32" '.limits[] | select(.prefix == $p) | .id' <<<"$LIST")
ok "$(live && (($(metric sluice_rule_packets_total "rule=\"$LIMITED_ID\",verdict=\"dropped\"") == dropped)) && echo 1)" \
	"the limited rule's dropped series is stats' dropped_rate"

# ---------------------------------------------------------------- 3. shedding and ticks

is "$(metric sluice_shed_level)" 0 "sluice_shed_level is there: 0 (shedding is off)"
cli shed set --on --capacity 10 --enter 100 --exit 50 --enter-dwell 0 --levels 1 --level 1 --share low=30
shed_moved() { scrape; [[ $(metric sluice_shed_level) == 1 ]]; }
# Packets offered at more than the capacity of 10 pps: the level goes up.
flood_start 0 "$T_DIR/shed.json" -t "$(rx_addr4 0)" -p "$UDP_PORT" -d 3 "$PASSING:100"
live && wait_until 5 shed_moved
is "$(metric sluice_shed_level) $(metric sluice_shed_share 'class="low"')" "1 0.3" \
	"with shedding on and the offered load over capacity: sluice_shed_level 1, low's share 0.3"
flood_wait
ticks=$(metric sluice_controller_ticks_total)
ticks_moved() { scrape; (($(metric sluice_controller_ticks_total) > ${ticks:-0})); }
live && wait_until 5 ticks_moved
ok "$(live && [[ $ticks =~ ^[0-9]+$ ]] && (($(metric sluice_controller_ticks_total) > ticks)) && echo 1)" \
	"sluice_controller_ticks_total moves ($ticks, then $(metric sluice_controller_ticks_total))"
is "$(metric sluice_controller_interval_seconds)" 0.02 "sluice_controller_interval_seconds is the tick"

# ---------------------------------------------------------------- 4. HTTP

ok "$(live && grep -qi '^content-type: text/plain; version=0.0.4' <<<"$HEADERS" && echo 1)" \
	"/metrics has the text format's content type"
scrape /nope
is "$HTTP_CODE" 404 "GET /nope: 404"
HTTP_CODE=$(in_rx curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")
is "$HTTP_CODE" 405 "POST /metrics: 405"

# ---------------------------------------------------------------- 5. the port taken, bad addresses

# one_line_failure LOG RC ERROR: exit status 1 and a single line in LOG matching ERROR.
one_line_failure() {
	live || { echo 1; return; }
	(($2 == 1)) && [[ $(wc -l <"$1") == 1 ]] && grep -q "$3" "$1" && echo 1
}
if live; then
	timeout 10 nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT2" run \
		--metrics "127.0.0.1:$PORT" 2>"$T_DIR/second.log"
	rc=$?
fi
ok "$(one_line_failure "$T_DIR/second.log" "${rc:-1}" "^Error: failed to start the controller: cannot listen on 127.0.0.1:$PORT: Address already in use\$")" \
	"a second controller on the same port fails in one line, exit 1 ($(live && cat "$T_DIR/second.log"))"
ok "$(live && kill -0 "$RUN_PID" && serving && echo 1)" "and the first serves on"

if live; then
	timeout 10 nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT3" run \
		--metrics 1.2.3.4:99999 2>"$T_DIR/bad.log"
	rc=$?
fi
ok "$(one_line_failure "$T_DIR/bad.log" "${rc:-1}" "^Error: .*invalid --metrics '1.2.3.4:99999': the port must be a number from 0 to 65535\$")" \
	"--metrics 1.2.3.4:99999 is refused in one line ($(live && cat "$T_DIR/bad.log"))"
ok "$(live && [[ ! -e $PIN_ROOT3 ]] && echo 1)" "and made no pin root"
if live; then
	timeout 10 nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT3" run \
		--metrics 127.0.0.1 2>"$T_DIR/bad.log"
	rc=$?
fi
ok "$(one_line_failure "$T_DIR/bad.log" "${rc:-1}" "invalid --metrics '127.0.0.1': expected ADDR:PORT")" \
	"--metrics 127.0.0.1 (no port) is refused ($(live && cat "$T_DIR/bad.log"))"
if live; then
	timeout 10 nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT3" run \
		--metrics 1.2.3.4:9464 2>"$T_DIR/bad.log"
	rc=$?
fi
ok "$(one_line_failure "$T_DIR/bad.log" "${rc:-1}" "cannot listen on 1.2.3.4:9464: Cannot assign requested address")" \
	"--metrics on an address the host lacks fails in one line ($(live && cat "$T_DIR/bad.log"))"

# ---------------------------------------------------------------- 6. loopback only

VETH_URL=http://$(rx_addr4 0):$PORT/metrics
in_tx curl -s --max-time 3 -o /dev/null "$VETH_URL"
rc=$?
ok "$(live && ((rc == 7 || rc == 28)) && echo 1)" \
	"bound to 127.0.0.1: not reachable from the sender namespace at $VETH_URL (curl exit $rc)"
in_rx curl -s --max-time 3 -o /dev/null "$VETH_URL"
rc=$?
ok "$(live && ((rc == 7 || rc == 28)) && echo 1)" "nor at the veth's address from the receiver's own namespace (curl exit $rc)"

# The same request reaches a controller that listens on the veth's address.
start_controller "$T_DIR/veth.log" "$PIN_ROOT2" --metrics "$(rx_addr4 0):$((PORT + 1))"
veth_serving() {
	[[ $(in_tx curl -s --max-time 3 -o /dev/null -w '%{http_code}' \
		"http://$(rx_addr4 0):$((PORT + 1))/metrics") == 200 ]]
}
ok "$(live && wait_until 10 veth_serving && echo 1)" \
	"bound to $(rx_addr4 0): the sender namespace scrapes it (so the check above could fail)"

# ---------------------------------------------------------------- 7. signals with the server's thread

# The server runs a thread of its own: signals must still reach the loop.
live && kill -HUP "$FIRST_PID"
reread() { grep -q 'SIGHUP: reading the settings again' "$T_DIR/run.log"; }
ok "$(live && wait_until 5 reread && kill -0 "$FIRST_PID" && serving && echo 1)" \
	"SIGHUP: the controller reads its settings again and serves on"
if live; then
	kill -TERM "$FIRST_PID"
	wait "$FIRST_PID"
	rc=$?
	forget_pid "$FIRST_PID"
fi
cli status --json
is "${rc:-0} $(json -r '.controller.state' <<<"$CLI_OUT")" "0 stopped" "SIGTERM: it stops cleanly (exit 0, status stopped)"
ok "$(live && ! serving && echo 1)" "and the endpoint is gone"

finish
