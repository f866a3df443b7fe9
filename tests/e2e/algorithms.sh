#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Accuracy of each algorithm end to end, with traffic received on both
# CPUs: four sources, each under a rule of its own algorithm (token bucket,
# GCRA, sliding window, fixed window), each sending at 3x its limit for 10 s
# from two senders pinned to CPU 0 and CPU 1, get their configured rate
# within 2%; a byte limit holds its bit rate within 2% with mixed packet
# sizes from both CPUs.
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init udpflood udpcount

SECONDS_RUN=10
PORT=9700
RATE=200 BURST=20		# windows: 20 per 100 ms
OFFERED_EACH=300		# per CPU: 600 in all, 3x the rate
ALGOS=(token-bucket gcra sliding-window fixed-window)
SOURCES=(198.18.0.11 198.18.0.12 198.18.0.13 198.18.0.14)
BYTE_SOURCE=198.18.0.15
BYTE_RATE_BPS=100000		# 800kbit
BYTE_BURST=15000
HEADERS=42			# Ethernet, IPv4, UDP: what XDP counts beyond the payload

setup_namespaces && add_pair a 0 && add_sources a "${SOURCES[@]}" "$BYTE_SOURCE" && xps_per_cpu a
ok "$(( $? == 0 ))" "namespaces with a two-queue veth pair"
RX=$(veth_rx a)
attach_rx "$RX"
for i in "${!ALGOS[@]}"; do
	cli limit set "${SOURCES[$i]}" --rate "$RATE" --burst "$BURST" --algo "${ALGOS[$i]}"
	((CLI_RC == 0)) || diag "${ALGOS[$i]}: $CLI_ERR"
done
cli limit set "$BYTE_SOURCE" --rate 800kbit --burst 15KB
((CLI_RC == 0)) || diag "bytes: $CLI_ERR"
cli limit list --json
is "$(json -c '[.limits[] | select(.level == "source") | .algo]' <<<"$CLI_OUT")" \
	'["token-bucket","gcra","sliding-window","fixed-window","token-bucket"]' \
	"one rule per algorithm, and a byte limit"
is "$(json -c '[.limits[] | select(.prefix == "'"$BYTE_SOURCE"'/32") | .unit, .rate, .burst]' <<<"$CLI_OUT")" \
	"[\"bytes\",$BYTE_RATE_BPS,$BYTE_BURST]" "the byte limit is 100000 bytes/s, burst 15000 bytes"

count_start "$PORT" 60
flows=()
for src in "${SOURCES[@]}"; do flows+=("$src:$OFFERED_EACH"); done
dest=(-t "$(rx_addr4 0)" -p "$PORT" -d "$SECONDS_RUN")
flood_start 0 "$T_DIR/cpu0.json" "${dest[@]}" -l 64 "${flows[@]}"
flood_start 1 "$T_DIR/cpu1.json" "${dest[@]}" -l 64 "${flows[@]}"
# Mixed sizes for the byte limit, about 3x its rate, from both CPUs.
flood_start 0 "$T_DIR/b64.json" "${dest[@]}" -l 64 "$BYTE_SOURCE:300"
flood_start 1 "$T_DIR/b512.json" "${dest[@]}" -l 512 "$BYTE_SOURCE:150"
flood_start 0 "$T_DIR/b1400.json" "${dest[@]}" -l 1400 "$BYTE_SOURCE:150"
flood_wait
ok "$(( $? == 0 ))" "every sender ran for ${SECONDS_RUN}s"
sleep 0.3
count_stop
received=$COUNTED
cli limit list --json
rules=$CLI_OUT
cli stats --json
is "$(json '.outcomes.passed_fault.packets' <<<"$CLI_OUT")" 0 "no packet passed on a fault"

# The span each source sent over: the longest of its senders'.
span() { live || return 0; cat "$@" | json -s --argjson r "$OFFERED_EACH" 'map((.sent + .skipped) / $r) | max'; }
t=$(span "$T_DIR/cpu0.json" "$T_DIR/cpu1.json")
for i in "${!ALGOS[@]}"; do
	src=${SOURCES[$i]} algo=${ALGOS[$i]}
	got=$(json --arg s "$src" '.sources[$s] // 0' <<<"$received")
	case $algo in
	token-bucket | gcra) want=$(awk -v t="$t" 'BEGIN { printf "%.1f", '"$BURST"' + '"$RATE"' * t }') ;;
	*) want=$(awk -v t="$t" 'BEGIN { printf "%.1f", '"$RATE"' * t }') ;;
	esac
	within "$got" "$want" 2 "$algo: $src at 3x from both CPUs gets ${RATE}pps over ${SECONDS_RUN}s"
	rule=$(json -c --arg p "$src/32" '.limits[] | select(.prefix == $p)' <<<"$rules")
	is "$(json '.passed.packets' <<<"$rule")" "$got" "$algo: its rule passed what arrived"
done

# Bytes: what the rule let through, in frame bytes, against the bit rate.
rule=$(json -c --arg p "$BYTE_SOURCE/32" '.limits[] | select(.prefix == $p)' <<<"$rules")
passed_bytes=$(json '.passed.bytes' <<<"$rule")
within "$passed_bytes" "$(awk -v t="$t" 'BEGIN { printf "%.1f", '"$BYTE_BURST"' + '"$BYTE_RATE_BPS"' * t }')" 2 \
	"bytes: 800kbit held within 2% with 64-, 512- and 1400-byte datagrams from both CPUs"
is "$(json '.passed.packets' <<<"$rule")" "$(json --arg s "$BYTE_SOURCE" '.sources[$s] // 0' <<<"$received")" \
	"bytes: what the rule passed is what arrived"
offered=0
for f in b64:64 b512:512 b1400:1400; do
	file=${f%%:*} size=${f##*:}
	n=$(live && json -s 'map(.sent) | add' <"$T_DIR/$file.json")
	offered=$((offered + ${n:-0} * (size + HEADERS)))
done
ok "$(live && awk -v o="$offered" -v p="$passed_bytes" 'BEGIN { exit !(o > 2.5 * p) }' && echo 1)" \
	"bytes: the offered load was over 2.5x what passed ($offered offered, $passed_bytes passed)"

finish
