#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# sluice save and restore: the rule set round-trips exactly, restore makes
# the rules exactly what the file says, a bad file changes nothing and names
# its first bad line, and replacing rules while traffic flows neither drops
# a source within its limit nor resets its bucket.
source "$(dirname "$0")/lib.sh"
e2e_init udpflood udpcount

PORT=9300
STEADY=198.18.0.10	# sends under its limit while the rules change
STEADY_RATE=50
SECONDS_STEADY=4

setup_namespaces && add_pair a 0 && add_sources a "$STEADY"
ok "$(( $? == 0 ))" "namespaces with a veth pair"
RX=$(veth_rx a)

# The rules as a user would build them, one command at a time.
rules=(
	"limit set default --rate 200 --burst 40"
	"limit set 198.18.0.32/28 --rate 1.5kpps --burst 100"
	"limit set 2001:db8::/32 --rate 2Mpps --burst 5000"
	"limit set 2001:db8:1::/48 --rate unlimited"
	"limit set 0.0.0.0/0 --rate 999 --burst 1"
	"allow add 198.18.0.60"
	"allow add 2001:db8:2::/64"
	"deny add 198.18.0.61"
	"deny add ::/8"
	"limit set 198.18.8.0/24 --per rule --rate 100mbit --burst 64KB --algo sliding-window"
	"limit set default --port 22 --syn --rate 2 --burst 5 --algo gcra --dry-run"
	"limit set default --port 8000-8100 --proto udp --rate 1.5kpps --algo fixed-window --ipv6-group 56"
	"limit set 10.0.0.0/8 --syn --port 80 --rate 100 --burst 50 --algo gcra --ipv4-group 24 --ipv6-group 48 --dry-run"
)
for rule in "${rules[@]}"; do
	# shellcheck disable=SC2086 # a rule is words
	cli $rule
done
cli save
ok "$( ((CLI_RC == 0)) && echo 1)" "save"
saved=$CLI_OUT
live && printf '%s\n' "$saved" >"$T_DIR/saved"
is "$(grep -vc '^#' <<<"$saved")" "${#rules[@]}" "save prints one command per rule"

# Round trip: restore what was saved changes nothing, and saves the same again.
cli restore "$T_DIR/saved" --json
is "$CLI_RC $(json -c '[.rules, .added, .changed, .removed]' <<<"$CLI_OUT")" "0 [13,0,0,0]" \
	"restoring what was saved changes nothing"
cli save
is "$CLI_OUT" "$saved" "save | restore round-trips exactly"

# Restore replaces: what the file does not name goes, what it names is set.
live && printf '%s\n' "# a smaller rule set" "limit set default --rate 300 --burst 30" \
	"deny add 198.18.0.61   # kept" "" "allow add 198.18.0.62" >"$T_DIR/small"
cli restore "$T_DIR/small" --json
is "$CLI_RC $(json -c '[.rules, .added, .changed, .removed]' <<<"$CLI_OUT")" "0 [3,1,1,11]" \
	"restore of a smaller rule set: one added, one changed, eleven removed"
cli save
is "$(grep -v '^#' <<<"$CLI_OUT")" "$(printf '%s\n' "limit set default --rate 300pps --burst 30" \
	"allow add 198.18.0.62/32" "deny add 198.18.0.61/32")" "the rules are now exactly the file's"
cli status --json
is "$(json -c '.config | [.allow_prefixes, .deny_prefixes]' <<<"$CLI_OUT")" "[1,1]" \
	"status agrees"

# A bad line anywhere: nothing changes, and the error names the file and line.
before=$(cli save; echo "$CLI_OUT")
bad_files=(
	"limit set default --rate 100|limit set 10.0.0.1/8 --rate 100|bad:2: invalid prefix '10.0.0.1/8'"
	"deny add 198.18.0.1|allow add|bad:2: allow add takes one prefix"
	"deny add 198.18.0.1|limit set 10.0.0.0/8 --rate 0|bad:2: invalid --rate '0'"
	"limit set default --rate 5|attach eth0|bad:2: expected 'limit set', 'allow add' or 'deny add'"
	"deny add 198.18.0.1|deny add 198.18.0.2|deny add 198.18.0.1/32|bad:3: 'deny add 198.18.0.1/32' matches what line 1 already does"
	"limit set default --rate 5|limit set default --rate 6 --burst 2|bad:2: 'limit set default --rate 6pps --burst 2' matches what line 1 already does"
)
for case in "${bad_files[@]}"; do
	IFS='|' read -ra parts <<<"$case"
	want=${parts[-1]}
	live && printf '%s\n' "${parts[@]:0:${#parts[@]}-1}" >"$T_DIR/bad"
	cli restore "$T_DIR/bad"
	after=$(cli save; echo "$CLI_OUT")
	ok "$( ((CLI_RC == 1)) && [[ $CLI_ERR == "Error: $T_DIR/$want"* && $CLI_ERR == *"nothing was changed" &&
		$after == "$before" ]] && echo 1)" "a bad file changes nothing and says '${want#bad}' ($CLI_ERR)"
	cli restore "$T_DIR/bad"
done

# From standard input.
if live; then
	CLI_OUT=$(printf 'limit set default --rate 250 --burst 25\n' |
		nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" restore - --json)
	CLI_RC=$?
fi
is "$CLI_RC $(json -c '[.rules, .changed, .removed]' <<<"$CLI_OUT")" "0 [1,1,2]" "restore - reads stdin"

# Replacing rules while traffic flows: a source under its limit loses nothing
# and keeps its bucket, however often the rules around it change. Both rule
# sets keep the source's own rule and change everything else.
if live; then
	printf '%s\n' "limit set 198.18.0.0/24 --rate 200 --burst 40" "limit set default --rate 300" \
		"limit set default --per rule --rate 1Mpps" "deny add 192.0.2.0/24" >"$T_DIR/saved"
	printf '%s\n' "limit set 198.18.0.0/24 --rate 200 --burst 40" "limit set 10.0.0.0/8 --rate 5" \
		"limit set default --syn --rate 100" "allow add 192.0.2.7" >"$T_DIR/small"
fi
# restores_under_traffic A B OUT: STEADY sends under its limit while rule
# sets A and B are restored by turns, six times; sets SENT, GOT, RESTORES.
restores_under_traffic() {
	local round file
	cli restore "$1"
	count_start "$PORT" 30
	flood_start 0 "$3" -t "$(rx_addr4 0)" -p "$PORT" -d "$SECONDS_STEADY" "$STEADY:$STEADY_RATE"
	RESTORES=0
	for round in 1 2 3 4 5 6; do
		sleep 0.5
		file=$1
		((round % 2)) && file=$2
		cli restore "$file"
		((CLI_RC == 0)) && RESTORES=$((RESTORES + 1))
	done
	flood_wait
	sleep 0.3
	count_stop
	SENT=$(live && json -s 'map(.sent) | add' <"$3")
	GOT=$(live && json -r --arg s "$STEADY" '.sources[$s] // 0' <<<"$COUNTED")
}

attach_rx "$RX"
restores_under_traffic "$T_DIR/saved" "$T_DIR/small" "$T_DIR/steady.json"
is "$RESTORES" 6 "six rule sets restored while $STEADY sent"
ok "$(live && ((SENT > 0 && GOT == SENT)) && echo 1)" \
	"every packet of a source under its limit arrived while the rules changed (sent $SENT, got $GOT)"
cli top -n 50 --json
is "$(json -r --arg s "$STEADY" '.sources[] | select(.source == $s) | "\(.passed) \(.dropped)"' <<<"$CLI_OUT")" \
	"$SENT 0" "its bucket was never reset: it counted all $SENT packets, none dropped"

# Changing the algorithm of a source's own rule while it sends under it: the
# rule moves to a new id with fresh state, both apply for a moment, and the
# source loses nothing.
if live; then
	printf '%s\n' "limit set 198.18.0.0/24 --rate 200 --burst 40" >"$T_DIR/meter"
	printf '%s\n' "limit set 198.18.0.0/24 --rate 200 --burst 40 --algo sliding-window" >"$T_DIR/window"
fi
restores_under_traffic "$T_DIR/meter" "$T_DIR/window" "$T_DIR/algo.json"
is "$RESTORES" 6 "six restores switched the source's rule between token bucket and sliding window"
ok "$(live && ((SENT > 0 && GOT == SENT)) && echo 1)" \
	"every packet of the source arrived through the switches (sent $SENT, got $GOT)"
cli limit list --json
is "$(json -c '[.limits[] | .algo]' <<<"$CLI_OUT")" '["token-bucket"]' "one rule is left, the last set"

finish
