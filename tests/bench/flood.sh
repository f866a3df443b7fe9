#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Flood on veth, side by side: one generator, one receiver, six ways to
# receive. Not a test: it measures and asserts nothing about time.
#
#   tests/bench/flood.sh [-q] [-j OUT.json] [-c CONFIG,...] [-s SOURCES,...]
#
# A sender namespace floods a receiver namespace over a veth pair with
# 60-byte UDP frames from 4,096 and from 65,536 source addresses, using the
# kernel's BPF_PROG_RUN live-frames mode (bench_xdpgen, on CPU 0). The
# receiver's NAPI runs as a thread pinned to CPU 1. The receiver is, in turn:
#   none             an XDP_PASS program (veth needs one for XDP_TX frames to
#                    arrive), then the stack: what every other setup adds to
#   xdp_drop         a bare XDP_DROP program: the floor of a drop at the hook
#   sluice           Sluice with a per-source limit (default table: 1M sources)
#   sluice_128k      the same with --max-sources 131072, a table that fits
#                    the flood's sources with room to spare
#   nft_netdev       nftables, dynamic set with `limit rate over`, netdev ingress
#   nft_prerouting   the same in inet prerouting (priority raw)
#   iptables_hashlimit  iptables-legacy hashlimit (srcip, --hashlimit-above), raw
# Every limiter gets the same limit: LIMIT_RATE packets/s, burst LIMIT_BURST,
# per source. For each: the packets/s handled at the hook, the share of CPU 1
# (the receiver) spent in softirq and busy at all, the packets/s passed, and
# whether the per-source limit held (passed <= sources * (rate * T + burst)).
# Median, min and max over REPS repetitions of SECONDS each.
set -euo pipefail
cd "$(dirname "$0")/../.."

quick=0 out=build/bench/flood.json
configs=(none xdp_drop sluice sluice_128k nft_netdev nft_prerouting iptables_hashlimit)
source_counts=(4096 65536)
usage="usage: $0 [-q] [-j OUT.json] [-c CONFIG,...] [-s SOURCES,...]"
while getopts "qj:c:s:" opt; do
	case $opt in
	q) quick=1 ;;
	j) out=$OPTARG ;;
	c) IFS=, read -ra configs <<<"$OPTARG" ;;
	s) IFS=, read -ra source_counts <<<"$OPTARG" ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
reps=3 seconds=3
((quick)) && reps=1 seconds=1
LIMIT_RATE=2 LIMIT_BURST=2
GEN_CPU=0 RX_CPU=1

if [[ $(id -u) -ne 0 ]]; then
	echo "Error: the flood benchmark needs root (namespaces, XDP, nftables)" >&2
	exit 1
fi
for cmd in ip nsenter ethtool nft iptables-legacy jq taskset awk; do
	command -v "$cmd" >/dev/null || { echo "Error: $cmd not found (run make deps)" >&2; exit 1; }
done
if (($(nproc) < 2)); then
	echo "Error: the flood benchmark needs two CPUs (generator and receiver)" >&2
	exit 1
fi

id=$$
tx=sluice-bench-$id-tx rx=sluice-bench-$id-rx
tx_if=sb${id}t rx_if=sb${id}r
pin_root=/sys/fs/bpf/sluice-bench-$id
work=$(mktemp -d)
sluice=build/sluice gen=build/tests/bench_xdpgen baseline=build/tests/baseline.bpf.o

cleanup() {
	ip netns del "$tx" 2>/dev/null || true
	ip netns del "$rx" 2>/dev/null || true
	rm -rf "$pin_root" "$work"
}
trap cleanup EXIT

in_rx() { nsenter --net="/run/netns/$rx" -- "$@"; }

ip netns add "$tx"
ip netns add "$rx"
ip link add "$tx_if" netns "$tx" type veth peer name "$rx_if" netns "$rx"
ip -n "$rx" addr add 198.19.0.1/16 dev "$rx_if"
ip -n "$tx" link set "$tx_if" up
ip -n "$rx" link set "$rx_if" up
ip -n "$rx" link set lo up
rx_mac=$(ip -n "$rx" -j link show "$rx_if" | jq -r '.[0].address')
# The receiver's NAPI in a thread of its own, pinned to CPU 1 while the
# generator runs on CPU 0 (veth otherwise polls on the sender's CPU). veth
# has NAPI only while an XDP program is attached: this follows each attach.
pin_napi() {
	local pid pids=() i
	ip netns exec "$rx" sh -c "echo 1 > /sys/class/net/$rx_if/threaded"
	# The thread may take a moment to appear after an attach.
	for i in $(seq 50); do
		mapfile -t pids < <(pgrep "^napi/$rx_if-" || true)
		((${#pids[@]})) && break
		sleep 0.02
	done
	if ((${#pids[@]} == 0)); then
		echo "Error: no NAPI thread for $rx_if" >&2
		exit 1
	fi
	for pid in "${pids[@]}"; do
		taskset -pc "$RX_CPU" "$pid" >/dev/null
	done
}

# The CPUs the NAPI threads last ran on, for the record ("1" when pinned right).
napi_cpus() { ps -o psr= -p "$(pgrep -d, "^napi/$rx_if-")" | sort -u | paste -sd, | tr -d ' '; }

xdp_attach() { ip -n "$rx" link set dev "$rx_if" xdpdrv obj "$baseline" program "$1"; }
xdp_detach() { ip -n "$rx" link set dev "$rx_if" xdp off; }

nft_limiter() {	# FAMILY HOOK: a dynamic set of sources, each with its own limit
	local family=$1 hook=$2
	ip netns exec "$rx" nft -f - <<-NFT
	table $family sluicebench {
		set sources {
			type ipv4_addr
			size 131072
			flags dynamic,timeout
			timeout 60s
		}
		chain limiter {
			type filter hook $hook priority -300; policy accept;
			counter
			update @sources { ip saddr limit rate over $LIMIT_RATE/second burst $LIMIT_BURST packets } counter drop
			counter
		}
	}
	NFT
}

config_up() {
	case $1 in
	none) xdp_attach xdp_pass_only ;;
	xdp_drop) xdp_attach xdp_drop_only ;;
	sluice | sluice_128k)
		local size=()
		[[ $1 == sluice_128k ]] && size=(--max-sources 131072)
		in_rx "$sluice" --pin-root "$pin_root" "${size[@]}" attach "$rx_if" >/dev/null
		in_rx "$sluice" --pin-root "$pin_root" limit set default \
			--rate "$LIMIT_RATE" --burst "$LIMIT_BURST" >/dev/null ;;
	nft_netdev) xdp_attach xdp_pass_only; nft_limiter netdev "ingress device \"$rx_if\"" ;;
	nft_prerouting) xdp_attach xdp_pass_only; nft_limiter inet prerouting ;;
	iptables_hashlimit)
		xdp_attach xdp_pass_only
		ip netns exec "$rx" sh -c "
			iptables-legacy -t raw -A PREROUTING &&
			iptables-legacy -t raw -A PREROUTING -m hashlimit --hashlimit-mode srcip \
				--hashlimit-above $LIMIT_RATE/sec --hashlimit-burst $LIMIT_BURST \
				--hashlimit-name sluicebench --hashlimit-htable-size 131072 \
				--hashlimit-htable-max 131072 --hashlimit-htable-expire 60000 -j DROP &&
			iptables-legacy -t raw -A PREROUTING" ;;
	esac
	pin_napi
}

config_down() {
	case $1 in
	sluice | sluice_128k)
		in_rx "$sluice" --pin-root "$pin_root" detach "$rx_if" >/dev/null
		rm -rf "$pin_root" ;;
	nft_*) ip netns exec "$rx" nft flush ruleset; xdp_detach ;;
	iptables_hashlimit) ip netns exec "$rx" iptables-legacy -t raw -F PREROUTING; xdp_detach ;;
	*) xdp_detach ;;
	esac
}

# Packets seen at the XDP hook of the receiving veth, all queues.
xdp_packets() {
	ip netns exec "$rx" ethtool -S "$rx_if" |
		awk '/rx_queue_[0-9]+_xdp_packets:/ { n += $2 } END { print n + 0 }'
}

# "HOOK PASSED": packets that reached the configuration's hook, and that it passed.
counters() {
	case $1 in
	none) echo "$(xdp_packets) $(xdp_packets)" ;;
	xdp_drop) echo "$(xdp_packets) 0" ;;
	sluice | sluice_128k)
		echo "$(xdp_packets) $(in_rx "$sluice" --pin-root "$pin_root" stats --json |
			jq '.outcomes.passed.packets')" ;;
	nft_netdev | nft_prerouting)
		local family=netdev
		[[ $1 == nft_prerouting ]] && family=inet
		ip netns exec "$rx" nft -j list table "$family" sluicebench |
			jq -r '[.nftables[] | .rule? | select(.) | [.expr[] | .counter? | select(.) | .packets] | add]
				| "\(.[0]) \(.[2])"' ;;
	iptables_hashlimit)
		ip netns exec "$rx" iptables-legacy-save -c -t raw |
			sed -nE 's/^\[([0-9]+):[0-9]+\] -A PREROUTING.*/\1/p' | paste -sd' ' |
			awk '{ print $1, $3 }' ;;
	esac
}

# "TOTAL IDLE SOFTIRQ" jiffies of the receiving CPU. Threaded NAPI is
# accounted as system time, so its softirq share stays near zero: the busy
# share is the one that says how loaded the receiver is.
cpu_times() { awk -v cpu="cpu$RX_CPU" '$1 == cpu { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6, $8 }' /proc/stat; }

# One repetition: prints a JSON line.
run_once() {
	local config=$1 sources=$2 hook0 passed0 hook1 passed1 total0 idle0 soft0 total1 idle1 soft1 result
	pin_napi
	read -r hook0 passed0 < <(counters "$config")
	read -r total0 idle0 soft0 < <(cpu_times)
	result=$(nsenter --net="/run/netns/$tx" -- taskset -c "$GEN_CPU" "$gen" -i "$tx_if" \
		-m "$rx_mac" -d 198.19.0.1 -s "$sources" -t "$seconds")
	read -r total1 idle1 soft1 < <(cpu_times)
	read -r hook1 passed1 < <(counters "$config")
	jq -cn --argjson gen "$result" --arg config "$config" --argjson sources "$sources" \
		--arg napi_cpus "$(napi_cpus)" \
		--argjson hook $((hook1 - hook0)) --argjson passed $((passed1 - passed0)) \
		--argjson total $((total1 - total0)) --argjson idle $((idle1 - idle0)) \
		--argjson soft $((soft1 - soft0)) --argjson rate "$LIMIT_RATE" --argjson burst "$LIMIT_BURST" '
		($gen.seconds) as $t |
		{config: $config, sources: $sources, seconds: $t, napi_cpus: $napi_cpus,
		 offered_pps: $gen.frames_per_second,
		 hook_pps: ($hook / $t),
		 passed_pps: ($passed / $t),
		 allowed_pps: ($sources * ($rate * $t + $burst) / $t),
		 rx_cpu_softirq: (if $total > 0 then $soft / $total else 0 end),
		 rx_cpu_busy: (if $total > 0 then 1 - $idle / $total else 0 end)}
		| .limit_held = (if $config == "none" or $config == "xdp_drop" then null
				 else .passed_pps <= .allowed_pps * 1.05 end)'
}

: >"$work/runs.jsonl"
# Each repetition sets its configuration up afresh: new maps land in new
# memory, and how they land moved Sluice's figures by 2x between otherwise
# identical runs at 65,536 sources (cache and TLB), so the spread shows it.
for sources in "${source_counts[@]}"; do
	for config in "${configs[@]}"; do
		for rep in $(seq "$reps"); do
			config_up "$config"
			run_once "$config" "$sources" >>"$work/runs.jsonl"
			config_down "$config"
			tail -n 1 "$work/runs.jsonl" | jq -r '"  \(.config) \(.sources) sources, run '"$rep"': \(.hook_pps / 1e6 * 1000 | round / 1000) Mpps at the hook"' >&2
		done
	done
done

mkdir -p "$(dirname "$out")"
jq -s --argjson reps "$reps" --argjson seconds "$seconds" --argjson rate "$LIMIT_RATE" \
	--argjson burst "$LIMIT_BURST" '
	def median: sort | if length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	def stats(f): [.[] | f] | {median: median, min: min, max: max};
	{repetitions: $reps, seconds_per_run: $seconds,
	 limit: {rate_pps: $rate, burst: $burst},
	 results: (. as $runs | group_by([.sources, .config])
		| sort_by(.[0].sources, (.[0].config as $c | $runs | map(.config) | index($c))) | map({
		config: .[0].config, sources: .[0].sources,
		hook_pps: stats(.hook_pps), offered_pps: stats(.offered_pps),
		passed_pps: stats(.passed_pps), allowed_pps: stats(.allowed_pps),
		rx_cpu_softirq: stats(.rx_cpu_softirq), rx_cpu_busy: stats(.rx_cpu_busy),
		limit_held: (if .[0].limit_held == null then null else all(.[]; .limit_held) end)}))}
	' "$work/runs.jsonl" >"$out"
