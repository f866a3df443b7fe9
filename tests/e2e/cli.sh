#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The CLI as a user meets it, on real namespaces and veths: attach and
# detach, what bad input does (exit 1, one line naming the argument,
# nothing changed), --json errors, running without root, a pin root off
# bpffs, state that outlives the process, two instances side by side, the
# allow and deny lists, stats --watch, and help.
source "$(dirname "$0")/lib.sh"
e2e_init udpflood udpcount

PORT=9100
PIN_ROOT2=$PIN_ROOT-b	# a second instance; cleanup removes it too
T_PIN_ROOTS+=("$PIN_ROOT2")

# bad_input_problem NEEDLE: says what is wrong with how the last cli call
# failed, or nothing when it failed the way every command must: exit 1,
# nothing on stdout, one line "Error: ..." on stderr that contains NEEDLE.
bad_input_problem() {
	local needle=$1
	((CLI_RC == 1)) || { echo "exit status $CLI_RC, want 1"; return; }
	[[ -z $CLI_OUT ]] || { echo "stdout not empty: $CLI_OUT"; return; }
	[[ $CLI_ERR != *$'\n'* ]] || { echo "more than one line on stderr: $CLI_ERR"; return; }
	[[ $CLI_ERR == "Error: "* ]] || { echo "stderr does not start with 'Error: ': $CLI_ERR"; return; }
	[[ $CLI_ERR == *"$needle"* ]] || { echo "the error does not name '$needle': $CLI_ERR"; return; }
}

# state: everything a command could change, as one JSON line.
state() {
	local limits allow deny status
	cli limit list --json; limits=$CLI_OUT
	cli allow list --json; allow=$CLI_OUT
	cli deny list --json; deny=$CLI_OUT
	cli status --json; status=$(json '[.attachments[] | [.interface, .prog_id]]' <<<"$CLI_OUT")
	printf '%s %s %s %s\n' "$limits" "$allow" "$deny" "$status"
}

xdp_on() { in_rx ip -d link show "$1" | grep -c 'prog/xdp'; }
links_pinned() { live && find "$PIN_ROOT" -maxdepth 1 -name 'link_*' | wc -l; }

setup_namespaces && add_pair a 0 && add_pair b 1
ok "$(( $? == 0 ))" "namespaces with two veth pairs"
RX=$(veth_rx a) RX2=$(veth_rx b)

# ---------------------------------------------------------------- attach, detach

attach_rx "$RX" --json
is "$CLI_RC $(json '[.interface, .already_attached]' <<<"$CLI_OUT")" "0 [\"$RX\",false]" "attach $RX"
is "$(xdp_on "$RX")" 1 "ip link shows the XDP program on $RX"
cli status --json
prog=$(json '.attachments[0].prog_id' <<<"$CLI_OUT")
attach_rx "$RX" --json
is "$CLI_RC $(json '.already_attached' <<<"$CLI_OUT")" "0 true" "attach twice: exit 0, already attached"
cli status --json
is "$(json '[.attachments[].prog_id]' <<<"$CLI_OUT")" "[$prog]" "attach twice: still one attachment, same program"
is "$(links_pinned)" 1 "attach twice: one pinned link"
live && links=$(bpftool -j link show | jq --argjson p "${prog:-0}" '[.[] | select(.prog_id == $p)] | length')
is "${links:-}" 1 "attach twice: one bpf_link runs the program"

cli detach "$RX"
ok "$((CLI_RC == 0))" "detach $RX"
is "$(links_pinned)" 0 "detach removes the pinned link"
is "$(xdp_on "$RX")" 0 "detach leaves no XDP program on $RX"
cli detach "$RX"
is "$(bad_input_problem "not attached")" "" "detach when not attached fails with one clear line"

# ---------------------------------------------------------------- bad input

cli limit set default --rate 100 --burst 10
cli limit set 198.18.0.128/25 --rate 10kpps --burst 500
cli deny add 198.18.0.99
before=$(state)
BAD=(
	"limit set 198.18.0.300/24 --rate 100|198.18.0.300/24"
	"limit set 198.18.0.1/24 --rate 100|198.18.0.1/24"
	"limit set 2001:db8::1/64 --rate 100|2001:db8::1/64"
	"limit set default --rate 0|--rate"
	"limit set default --rate 99999999999999999999|99999999999999999999"
	"limit set default --rate 2Gpps|--rate"
	"limit set default --rate 100 --burst 0|--burst"
	"limit set default --rate fast|fast"
	"limit set default|--rate"
	"limit set default --rate 10 --rate 20|--rate"
	"limit set default --rate 10 --burst 99999999999999999999|99999999999999999999"
	"limit set default --rate 10 --burst 2G|--burst"
	"limit set default --rate 10 --burst 5 --burst 6|--burst"
	"stats --watch 1 --watch 2|--watch"
	"attach $RX --mode native --mode generic|--mode"
	"limit del 198.18.0.0/33|198.18.0.0/33"
	"deny add 2001:db8::/129|2001:db8::/129"
	"allow add not-an-address|not-an-address"
	"attach nosuchif0|nosuchif0"
	"attach $RX --mode turbo|turbo"
	"attach $RX $RX2|attach"
	"top -n 0|-n"
	"stats --watch 0|--watch"
	"frobnicate|frobnicate"
	"de|'de'"
	"limit frob|frob"
)
for case in "${BAD[@]}"; do
	args=${case%|*} needle=${case##*|}
	# shellcheck disable=SC2086 # the arguments are words
	cli $args
	problem=$(bad_input_problem "$needle")
	after=$(state)
	[[ $after == "$before" ]] || problem+="${problem:+; }the state changed"
	is "$problem" "" "bad input 'sluice $args': exit 1, one line naming $needle, nothing changed"
	live && diag "$CLI_ERR"
done
is "$(xdp_on "$RX")" 0 "bad input attached nothing"

# --json: the error is a JSON document on stdout, stderr stays empty.
for args in "limit set default --rate 0" "de" "detach $RX" "attach nosuchif0"; do
	# shellcheck disable=SC2086
	cli --json $args
	is "$CLI_RC|$(json 'keys == ["error"] and (.error | type == "string" and length > 0)' <<<"$CLI_OUT")|$CLI_ERR" \
		"1|true|" "--json $args: exit 1, {\"error\": ...} on stdout, nothing on stderr"
done

# ---------------------------------------------------------------- prefixes of commands

cli limit list --json
full=$CLI_OUT
cli lim list --json
is "$CLI_RC $CLI_OUT" "0 $full" "a unique prefix works: 'sluice lim list' is 'sluice limit list'"
cli sta
is "$(bad_input_problem "ambiguous")" "" "an ambiguous prefix fails: 'sluice sta' (stats, status)"

# ---------------------------------------------------------------- not root, not bpffs

if live && setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$SLUICE"; then
	for args in "limit list" "stats" "status" "limit set default --rate 5" "attach $RX" "detach $RX"; do
		# shellcheck disable=SC2086
		CLI_OUT=$(in_rx setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$SLUICE" --pin-root "$PIN_ROOT" $args 2>"$T_DIR/nobody.err")
		CLI_RC=$? CLI_ERR=$(<"$T_DIR/nobody.err")
		is "$(bad_input_problem "permission denied")" "" "as nobody, 'sluice $args' says permission denied"
		diag "$CLI_ERR"
	done
	is "$(state)" "$before" "as nobody, nothing changed"
else
	for args in "limit list" "stats" "status" "limit set default --rate 5" "attach $RX" "detach $RX"; do
		skip "as nobody, 'sluice $args' says permission denied" "nobody cannot run $SLUICE"
	done
	skip "as nobody, nothing changed" "nobody cannot run $SLUICE"
fi

not_bpffs=$T_DIR/x
for args in "limit set default --rate 5" "attach $RX"; do
	# shellcheck disable=SC2086
	CLI_OUT=$(in_rx "$SLUICE" --pin-root "$not_bpffs" $args 2>"$T_DIR/pin.err")
	CLI_RC=$? CLI_ERR=$(<"$T_DIR/pin.err")
	is "$(bad_input_problem "not on a bpf filesystem")" "" \
		"--pin-root $not_bpffs (not bpffs): 'sluice $args' says so"
	live && diag "$CLI_ERR"
done
ok "$(live && [[ ! -e $not_bpffs ]] && echo 1)" "--pin-root off bpffs: nothing was created there"
is "$(xdp_on "$RX")" 0 "--pin-root off bpffs: nothing was attached"

# ---------------------------------------------------------------- state outlives the CLI

cli limit set 2001:db8:1::/48 --rate 2.5kpps --burst 100
ok "$((CLI_RC == 0))" "limit set 2001:db8:1::/48 --rate 2.5kpps --burst 100"
cli limit list --json
is "$(json '[.limits[] | select(.prefix == "2001:db8:1::/48" or .prefix == "198.18.0.128/25")
	| {prefix, level, unlimited, rate, burst}]' <<<"$CLI_OUT")" \
	'[{"prefix":"198.18.0.128/25","level":"source","unlimited":false,"rate":10000,"burst":500},{"prefix":"2001:db8:1::/48","level":"source","unlimited":false,"rate":2500,"burst":100}]' \
	"limits survive the CLI: a new process lists them"
id=$(json '.limits[] | select(.prefix == "2001:db8:1::/48") | .id' <<<"$CLI_OUT")
dump=$(live && bpftool map lookup pinned "$PIN_ROOT/rules" key $((id & 255)) $((id >> 8 & 255)) 0 0)
ok "$([[ $dump == *'"prefixlen": 56'* && $dump == *'"rate": 2500'* && $dump == *'"burst": 100'* ]] && echo 1)" \
	"bpftool map lookup shows the rule with field names (prefixlen, rate, burst)"
cli limit del 2001:db8:1::/48
cli limit list --json
is "$CLI_RC $(json '[.limits[].prefix] | index("2001:db8:1::/48")' <<<"$CLI_OUT")" "0 null" "limit del removes it"
cli limit del 2001:db8:1::/48
is "$(bad_input_problem "2001:db8:1::/48")" "" "limit del of a missing limit fails clearly"

# ---------------------------------------------------------------- allow and deny

for kind in allow deny; do
	for prefix in 198.18.4.0/24 2001:db8:4::/48; do
		cli "$kind" add "$prefix" --json
		is "$CLI_RC $(json '[.prefix, .changed]' <<<"$CLI_OUT")" "0 [\"$prefix\",true]" "$kind add $prefix"
	done
	cli "$kind" add 198.18.4.0/24 --json
	is "$CLI_RC $(json '.changed' <<<"$CLI_OUT")" "0 false" "$kind add twice: exit 0, unchanged"
	cli "$kind" list --json
	is "$(json '[.prefixes[].prefix | select(startswith("198.18.4.") or startswith("2001:db8:4:"))]' <<<"$CLI_OUT")" \
		'["198.18.4.0/24","2001:db8:4::/48"]' "$kind list shows both"
	for prefix in 198.18.4.0/24 2001:db8:4::/48; do
		cli "$kind" del "$prefix"
		ok "$((CLI_RC == 0))" "$kind del $prefix"
	done
	cli "$kind" list --json
	is "$(json '[.prefixes[].prefix | select(startswith("198.18.4.") or startswith("2001:db8:4:"))]' <<<"$CLI_OUT")" \
		'[]' "$kind list no longer shows them"
	cli "$kind" del 198.18.4.0/24
	is "$(bad_input_problem "198.18.4.0/24")" "" "$kind del of a missing entry fails clearly"
done

# The config map tells the data path which lists it may skip: every change
# keeps it true to the lists (1 = allow list empty, 2 = deny list empty).
config_flags() { live && bpftool -j map dump pinned "$PIN_ROOT/config" | jq '.[0].formatted.value.flags % 4'; }  # the lists' two bits
is "$(config_flags)" 1 "config: the allow list is empty, the deny list is not (198.18.0.99)"
cli allow add 198.18.5.0/24
is "$(config_flags)" 0 "config: after allow add, neither list is skipped"
cli deny del 198.18.0.99
is "$(config_flags)" 2 "config: after the last deny del, the deny list is skipped"
cli allow del 198.18.5.0/24
is "$(config_flags)" 3 "config: after the last allow del, both are skipped"
cli deny add 198.18.0.99
is "$(config_flags)" 1 "config: deny add puts the deny list back in force"

# ---------------------------------------------------------------- two instances side by side

# Instance 1 ($PIN_ROOT on $RX) limits 198.18.0.1 by its default limit;
# instance 2 ($PIN_ROOT2 on $RX2) denies 198.18.1.1 and has no limit.
attach_rx "$RX"
a1=$CLI_RC
T_ATTACHED+=("$NS_RX $PIN_ROOT2 $RX2")
a2_out=$(in_rx "$SLUICE" --pin-root "$PIN_ROOT2" attach "$RX2" 2>&1)
a2=$?
in_rx "$SLUICE" --pin-root "$PIN_ROOT2" deny add 198.18.1.1 >/dev/null
is "$a1 $a2" "0 0" "two instances: $RX on $PIN_ROOT, $RX2 on $PIN_ROOT2"
live && diag "$a2_out"
cli stats --json
stats1_before=$CLI_OUT
count_start "$PORT" 30
flood_start 0 "$T_DIR/two.json" -t "$(rx_addr4 0)" -p "$PORT" -d 2 198.18.0.1:300
flood_start 1 "$T_DIR/two.json.b" -t "$(rx_addr4 1)" -p "$PORT" -d 2 198.18.1.1:100
flood_wait
live && cat "$T_DIR/two.json.b" >>"$T_DIR/two.json"
sleep 0.3
count_stop
received=$COUNTED
cli stats --json
stats1_after=$CLI_OUT
stats2=$(live && in_rx "$SLUICE" --pin-root "$PIN_ROOT2" --json stats)
sent_a=$(live && json -s '.[] | select(.source == "198.18.0.1") | .sent' <"$T_DIR/two.json")
sent_b=$(live && json -s '.[] | select(.source == "198.18.1.1") | .sent' <"$T_DIR/two.json")
got_a=$(json '.sources["198.18.0.1"] // 0' <<<"$received")
got_b=$(json '.sources["198.18.1.1"] // 0' <<<"$received")
# 2 s at 300pps against 100pps with a burst of 10.
want_a=$(awk -v n="${sent_a:-0}" 'BEGIN { printf "%.1f", 10 + 100 * (n - 1) / 300 }')
within "$got_a" "$want_a" 5 "two instances: instance 1 limits 198.18.0.1 to its 100pps (sent $sent_a)"
is "$got_b" 0 "two instances: instance 2 drops all of denied 198.18.1.1 (sent $sent_b)"
is "$(json '.outcomes.dropped_denied.packets' <<<"$stats2")" "$sent_b" \
	"two instances: instance 2 counts the denied packets"
n_after=$(json '.passed.packets + .dropped.packets' <<<"$stats1_after")
n_before=$(json '.passed.packets + .dropped.packets' <<<"$stats1_before")
d1=$((${n_after:-0} - ${n_before:-0}))
ok "$((d1 >= sent_a && d1 <= sent_a + 16))" \
	"two instances: instance 1 counts only its own interface's packets ($d1 counted, $sent_a sent to it)"
is "$(json '.outcomes.dropped_denied.packets' <<<"$stats1_after")" 0 "two instances: instance 1 denied nothing"
cli status --json
is "$(json '[.attachments[].interface]' <<<"$CLI_OUT")" "[\"$RX\"]" "two instances: status of instance 1 shows only $RX"
live && in_rx "$SLUICE" --pin-root "$PIN_ROOT2" detach "$RX2" >/dev/null
is "$(xdp_on "$RX2") $(xdp_on "$RX")" "0 1" "two instances: detaching instance 2 leaves instance 1 attached"

# ---------------------------------------------------------------- stats --watch

live && SECONDS=0
cli stats --watch 0.2 --count 3 --json
lines=$(live && printf '%s\n' "$CLI_OUT" | wc -l)
is "$CLI_RC $lines" "0 3" "stats --watch 0.2 --count 3 --json prints 3 lines and exits"
is "$(printf '%s\n' "$CLI_OUT" | json -s 'map([.passed.packets_per_second, .dropped.packets_per_second,
	.outcomes.dropped_rate.packets_per_second, .interval_seconds] | map(type) | unique) | unique')" \
	'[["number"]]' "stats --watch: every line has packets_per_second fields"
ok "$(live && ((SECONDS <= 5)) && echo 1)" "stats --watch --count 3 ends on its own"

# ---------------------------------------------------------------- help

cli help
missing=()
for command in attach detach status limit allow deny stats top save restore events shed service run help version; do
	grep -q "^  $command " <<<"$CLI_OUT" || missing+=("$command")
done
is "$CLI_RC ${missing[*]}" "0 " "help lists every command"
cli help --json
is "$(json '[.commands[].name]' <<<"$CLI_OUT")" \
	'["attach","detach","status","limit","allow","deny","stats","top","save","restore","events","shed","service","run","help","version"]' \
	"help --json lists the same commands"
cli help limit
missing=()
for sub in set del list; do
	grep -q "sluice limit $sub" <<<"$CLI_OUT" || missing+=("$sub")
done
is "$CLI_RC ${missing[*]}" "0 " "help limit shows set, del and list"
cli version --json
ok "$(json '.version | type == "string"' <<<"$CLI_OUT" | grep -qx true && echo 1)" "version --json"

finish
