#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Adaptive concurrency end to end: a backend with a fixed pool of workers
# (httpd, 8 workers each taking 10 to 30 ms, 20 on average: a capacity of
# about 400 requests a second) in the receiver namespace, and a closed-loop
# load generator in the sender's with 32 clients, 4x the pool.
#
#  - unloaded (one client): the service's own latency;
#  - without Sluice's limit: throughput is the capacity, and every request
#    waits behind the 24 others queued in the accept queue, so p99 is about
#    3x the unloaded one;
#  - with --concurrency fixed:8, aimd, vegas and gradient2 each: the XDP
#    program refuses new connections over the limit with an RST (the
#    clients try again 5 ms later), so the admitted requests hardly queue:
#    their p99 must stay within 2x the unloaded p99, while throughput stays
#    at 90% of the capacity or more. The adaptive limits learn from probes
#    every 100 ms; a probe 10% slower than the unloaded p99 is a drop.
# Every run's numbers are printed as TAP comments ("# table: ..."), the
# with/without table of the issue, with the limit each one ended at.
# Each limit replaces the last in place (service add of the same name):
# the new one holds from the next tick. kill -9 of the controller lifts it.
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init httpd loadgen

PORT=8080
WORKERS=8 SERVICE_MS=20 SPREAD_MS=10	# each request 10 to 30 ms
CLIENTS=$((4 * WORKERS))
RUN_S=${CONCURRENCY_RUN_S:-4}		# each measured run
WARM_S=${CONCURRENCY_WARM_S:-3}	# each algorithm's time to settle first
SERVER=$(rx_addr4 0)

service_host_setup

CONTROL=$T_DIR/control
live && echo ok >"$CONTROL"
httpd_start main --port $PORT --addr "$SERVER" --workers $WORKERS --service-ms $SERVICE_MS --spread-ms $SPREAD_MS \
	--backlog 128 --control "$CONTROL"
ok "$(live && [[ -n $HTTPD_PID ]] && grep -q "listening" "$T_DIR/main.out" && echo 1)" \
	"httpd: $WORKERS workers of $SERVICE_MS ms"

if live; then
	nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" run --interval 10ms \
		--metrics none 2>"$T_DIR/run.log" &
	T_PIDS+=($!)
	wait_until 5 grep -q "controller started" "$T_DIR/run.log"
fi
ok "$(live && grep -q "controller started" "$T_DIR/run.log" && echo 1)" "the controller runs"

# measure NAME CLIENTS: one loadgen run; its JSON in LOAD, a table row printed.
measure() {
	local name=$1 clients=$2
	load --to "$SERVER:$PORT" --concurrency "$clients" --duration "$RUN_S" --retry-ms 5 \
		--timeout 5000
	live || return 0
	diag "table: $(printf '%-22s' "$name") $(json -r '"p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, \(.throughput_rps) rps, \(.ok) ok, \(.refused) refused, \(.failed) failed, \(.timeouts) timeouts"' <<<"$LOAD")"
}
field() { json -r ".$1" <<<"$LOAD"; }

# --- the backend on its own.
measure "unloaded (1 client)" 1
UNLOADED_P99=$(field p99_ms)
# What the operator knows of the service: a probe 10% slower than its unloaded p99 is slow.
SLOW_MS=${CONCURRENCY_SLOW_MS:-$(awk -v p="$UNLOADED_P99" 'BEGIN { printf "%d", p * 1.1 + 0.999 }')}
# The median of uniform 10..30 ms is 20; nothing takes longer than 30 ms and the trip.
between "$(field p50_ms)" $((SERVICE_MS * 4 / 5)) $((SERVICE_MS * 6 / 5)) \
	"unloaded: p50 is the service time ($SERVICE_MS ms)"
between "$UNLOADED_P99" $((SERVICE_MS)) $((SERVICE_MS + SPREAD_MS + 2)) \
	"unloaded: p99 within the longest service time ($((SERVICE_MS + SPREAD_MS)) ms)"

cli service add web --port $PORT --netns "$NS_RX"
is "$CLI_RC" 0 "service add web (backpressure only, no limit)"
measure "without a limit" $CLIENTS
CAPACITY=$(field throughput_rps)
WITHOUT_P99=$(field p99_ms)
between "$CAPACITY" $((WORKERS * 1000 * 3 / 4 / SERVICE_MS)) $((WORKERS * 1000 * 21 / 20 / SERVICE_MS)) \
	"without a limit: the pool sets the rate ($WORKERS / $SERVICE_MS ms = $((WORKERS * 1000 / SERVICE_MS)) rps)"
ok "$(live && awk -v w="$WITHOUT_P99" -v u="$UNLOADED_P99" 'BEGIN { exit !(w > 3 * u) }' && echo 1)" \
	"without a limit, p99 grows with the queue: $WITHOUT_P99 ms, over 3x the unloaded $UNLOADED_P99 ms"
is "$(field refused)" 0 "and nothing is refused"

# --- bad settings change nothing.
cli service add web --port $PORT --netns "$NS_RX" --concurrency vegas
ok "$( ((CLI_RC == 1)) && grep -q "needs --probe" <<<"$CLI_ERR" && echo 1)" \
	"an adaptive limit without a probe is refused ($CLI_ERR)"
cli service add web --port $PORT --netns "$NS_RX" --concurrency fixed:0
ok "$( ((CLI_RC == 1)) && grep -q "invalid --concurrency fixed:N '0'" <<<"$CLI_ERR" && echo 1)" \
	"fixed:0 is refused ($CLI_ERR)"
cli service add web --port $PORT --netns "$NS_RX" --probe tcp --concurrency aimd:min=10,max=5
ok "$( ((CLI_RC == 1)) && grep -q "min" <<<"$CLI_ERR" && echo 1)" "min over max is refused ($CLI_ERR)"
cli service show web --json
is "$(json -r '.concurrency' <<<"$CLI_OUT")" null "and the service still has no limit"

# with_limit NAME SPEC: the service with that limit, probed every 100 ms (a
# probe slower than SLOW_MS is a drop for the limit), settled, then measured.
with_limit() {
	local name=$1 spec=$2
	cli service add web --port $PORT --netns "$NS_RX" --probe "http://$SERVER:$PORT/" \
		--probe-interval "${CONCURRENCY_PROBE_MS:-100}ms" --slow-call "${SLOW_MS}ms" --breaker off --concurrency "$spec"
	is "$CLI_RC" 0 "service web --concurrency $spec"
	live && sleep 0.2
	# Settle under load, then measure.
	load --to "$SERVER:$PORT" --concurrency $CLIENTS --duration "$WARM_S" --retry-ms 5 >/dev/null
	measure "$name" $CLIENTS
	cli service show web --json
	diag "table: $(printf '%-22s' "") limit $(json -r '.limit' <<<"$CLI_OUT"), in flight $(json -r '.in_flight' <<<"$CLI_OUT"), refused by concurrency $(json -r '.refused_by.concurrency' <<<"$CLI_OUT")"
	ok "$(live && awk -v p="$(field p99_ms)" -v u="$UNLOADED_P99" 'BEGIN { exit !(p <= 2 * u) }' && echo 1)" \
		"$name: p99 $(field p99_ms) ms within 2x the unloaded $UNLOADED_P99 ms"
	ok "$(live && awk -v t="$(field throughput_rps)" -v c="$CAPACITY" 'BEGIN { exit !(t >= 0.9 * c) }' && echo 1)" \
		"$name: throughput $(field throughput_rps) rps, at least 90% of $CAPACITY"
	ok "$(live && (($(field refused) > 0 && $(json -r '.refused_by.concurrency' <<<"$CLI_OUT") > 0)) && echo 1)" \
		"$name: the excess is refused ($(field refused)), counted as concurrency refusals"
	is "$(field timeouts) $(field failed)" "0 0" "$name: no request timed out or failed"
}

with_limit "fixed:$WORKERS" fixed:$WORKERS
with_limit "aimd" aimd:initial=$WORKERS,min=1,max=128
with_limit "vegas" vegas:initial=$WORKERS,min=1,max=128
with_limit "gradient2" gradient2:initial=$WORKERS,min=1,max=128

# --- the controller goes: the limit is lifted within its lease.
if live; then
	kill -9 "$(pgrep -f -- "--pin-root $PIN_ROOT run")"
	sleep 0.2
fi
measure "controller killed" $CLIENTS
is "$(field refused)" 0 "with the controller gone, nothing is refused"

finish
