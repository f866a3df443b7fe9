#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The controller's own cost: `sluice run` at its default 50 ms tick over a
# pin root with 1,000 rules and 4 services (each an httpd, its listen queue
# and connections read through sock_diag every tick, probed over HTTP every
# 200 ms into a breaker and an AIMD limit) and metrics served; its CPU time
# from /proc/PID/stat over the run, and how long one tick takes (its metric).
#
#   tests/bench/controller.sh [-q] [-j FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=30
json=""
while (($#)); do
	case $1 in
	-q) seconds=10 ;;
	-j) json=$2; shift ;;
	*) echo "usage: $0 [-q] [-j FILE]" >&2; exit 2 ;;
	esac
	shift
done
sluice=$PWD/build/sluice
root=/sys/fs/bpf/sluice-bench-controller-$$
port=$((20000 + $$ % 10000))
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$root"
}
trap cleanup EXIT

{
	echo "limit set default --rate 1000"
	for i in $(seq 1 999); do echo "limit set 10.$((i / 250)).$((i % 250)).0/24 --rate 500"; done
} | "$sluice" --pin-root "$root" restore - >/dev/null
"$sluice" --pin-root "$root" shed set --capacity 1Mpps >/dev/null
for s in 1 2 3 4; do
	"$sluice" --pin-root "$root" service add "svc$s" --port $((port + s)) \
		--probe "http://127.0.0.1:$((port + s))/" --concurrency aimd >/dev/null
	build/tests/httpd --port $((port + s)) --addr 127.0.0.1 --workers 2 --service-ms 1 \
		>/dev/null 2>&1 &
	pids+=($!)
done

"$sluice" --pin-root "$root" run --metrics "127.0.0.1:$port" 2>/dev/null &
run=$!
pids+=("$run")
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$run/stat"; }
# Let it read the rules and start, then measure a steady stretch.
sleep 2
start_cpu=$(cpu_ticks) start=$(date +%s.%N)
sleep "$seconds"
end_cpu=$(cpu_ticks) end=$(date +%s.%N)
tick=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^sluice_controller_tick_seconds / { print $2 }')
result=$(jq -n --argjson cpu "$((end_cpu - start_cpu))" --argjson clk "$clk" \
	--argjson wall "$(echo "$end - $start" | bc)" --argjson tick "${tick:-0}" '
	{interval_ms: 50, rules: 1000, services: 4, seconds: $wall,
	 cpu_percent: ($cpu / $clk / $wall * 100), tick_us: ($tick * 1e6)}')
[[ -n $json ]] && echo "$result" >"$json"
jq -r '"controller at a \(.interval_ms) ms tick, \(.rules) rules, \(.services) services: "
	+ "\(.cpu_percent * 100 | round / 100)% of one CPU over \(.seconds | round) s; last tick took \(.tick_us | round) us"' <<<"$result"
