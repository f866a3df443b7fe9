#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The circuit breaker end to end: httpd (4 workers of 10 ms) in the
# receiver namespace, probed over HTTP every 20 ms by the controller; a
# closed-loop load generator (4 clients) in the sender's namespace, logging
# every request.
#
# 1. Bad settings are refused and change nothing.
# 2. Closed: every request succeeds.
# 3. The backend starts failing (500s): the breaker opens within its window
#    (10 probes, at least 5, 50% failed) and clients' new connections get an
#    RST from XDP within a millisecond; the trip time is printed.
# 4. After the open time (500 ms, no jitter), half-open admits exactly its
#    budget (3 new connections) and, the backend still failing, opens again
#    for longer (x1.5).
# 5. The backend recovers: at the next half-open the probes pass and the
#    breaker closes; clients succeed again; the recovery time is printed.
# 6. `service show` lists the transitions, the metrics export the state and
#    the transitions, every transition is in the log.
# 7. trip forces it open (refused whatever the backend does), reset closes
#    it, disable keeps it closed while the backend fails, and kill -9 of the
#    controller lifts a trip within the lease.
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init httpd loadgen tcpprobe

PORT=8080
METRICS_PORT=9466
SERVER=$(rx_addr4 0)
OPEN_MS=500
BREAKER="window=10,min-calls=5,half-open=3,open=${OPEN_MS}ms,max-open=4s,jitter=0"

service_host_setup

CONTROL=$T_DIR/control
live && echo ok >"$CONTROL"
httpd_start main --port $PORT --addr "$SERVER" --workers 4 --service-ms 10 --control "$CONTROL"
ok "$(live && [[ -n $HTTPD_PID ]] && echo 1)" "httpd: 4 workers of 10 ms"

# --- 1. bad settings change nothing.
cli service add web --port $PORT --breaker window=10
ok "$( ((CLI_RC == 1)) && grep -q -- "--breaker needs --probe" <<<"$CLI_ERR" && echo 1)" \
	"a breaker without a probe is refused ($CLI_ERR)"
cli service add web --port $PORT --probe tcp --breaker window=0
ok "$( ((CLI_RC == 1)) && grep -q "invalid --breaker window '0'" <<<"$CLI_ERR" && echo 1)" \
	"window=0 is refused ($CLI_ERR)"
cli service add web --port $PORT --probe tcp --breaker open=2s,max-open=1s
ok "$( ((CLI_RC == 1)) && grep -q "must not be below the base" <<<"$CLI_ERR" && echo 1)" \
	"max-open under open is refused ($CLI_ERR)"
cli service add web --port $PORT --probe udp://1.2.3.4:5
ok "$( ((CLI_RC == 1)) && grep -q "invalid probe 'udp://1.2.3.4:5'" <<<"$CLI_ERR" && echo 1)" \
	"a udp probe is refused ($CLI_ERR)"
cli service add web --port $PORT --probe tcp --probe-interval 5ms
ok "$( ((CLI_RC == 1)) && grep -q -- "--probe-interval" <<<"$CLI_ERR" && echo 1)" \
	"a 5 ms probe interval is refused ($CLI_ERR)"
cli service add web --port $PORT --probe tcp --breaker half-open=10,half-open-wait=1s
ok "$( ((CLI_RC == 1)) && grep -q "half-open-wait=1000ms: its 10 probes, one every 200 ms, can take 3800 ms" <<<"$CLI_ERR" && echo 1)" \
	"a half-open wait its probes cannot meet is refused ($CLI_ERR)"
cli service add web --port $PORT --probe tcp --breaker window=2s
ok "$( ((CLI_RC == 1)) && grep -q "min-calls=10 is more than a 2s window surely holds (5 probes" <<<"$CLI_ERR" && echo 1)" \
	"a time window too short for its minimum of calls is refused ($CLI_ERR)"
cli service add web --port $PORT --probe tcp --slow-call 3s
ok "$( ((CLI_RC == 1)) && grep -q -- "--slow-call (3000 ms) must be under --probe-timeout (2000 ms)" <<<"$CLI_ERR" && echo 1)" \
	"a slow call no slower than the timeout is refused ($CLI_ERR)"
cli service add web --port $PORT --probe tcp --breaker open=180m
ok "$( ((CLI_RC == 0)) && grep -q "open=10800000ms,max-open=86400000ms" <<<"$CLI_OUT" && echo 1)" \
	"open alone caps max-open at a day, which the controller takes ($CLI_OUT)"
cli service del web
cli service add web --port $PORT --netns ..
ok "$( ((CLI_RC == 1)) && grep -q "invalid --netns '..'" <<<"$CLI_ERR" && echo 1)" "--netns .. is refused ($CLI_ERR)"
cli service add web --port $PORT --probe tcp --probe-timeout 1s
ok "$( ((CLI_RC == 0)) && grep -q "slow over 500 ms" <<<"$CLI_OUT" && echo 1)" \
	"a 1 s probe timeout alone makes slow calls those over 500 ms ($CLI_OUT)"
cli service del web
cli service add web --port $PORT --probe tcp --breaker jitter=1
ok "$( ((CLI_RC == 1)) && grep -q "from 0 to below 1" <<<"$CLI_ERR" && echo 1)" "jitter=1 is refused ($CLI_ERR)"
cli service trip nosuch
ok "$( ((CLI_RC == 1)) && grep -q "no service 'nosuch'" <<<"$CLI_ERR" && echo 1)" \
	"tripping an unknown service says so"
cli service list --json
is "$(json '.services | length' <<<"$CLI_OUT")" 0 "and no service was added"

cli service add web --port $PORT --netns "$NS_RX" --probe "http://$SERVER:$PORT/" \
	--probe-interval 20ms --slow-call 200ms --breaker "$BREAKER"
is "$CLI_RC" 0 "service add web --probe http://$SERVER:$PORT/ --breaker $BREAKER"
cli service show web --json
is "$(json -r '.breaker_config' <<<"$CLI_OUT")" \
	"window=10,min-calls=5,failure=50,slow=100,half-open=3,half-open-wait=0ms,open=500ms,max-open=4000ms,multiplier=1.5,jitter=0" \
	"show has the breaker's settings, written out whole"

if live; then
	nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" run --interval 10ms \
		--metrics "127.0.0.1:$METRICS_PORT" 2>"$T_DIR/run.log" &
	RUN_PID=$!
	T_PIDS+=("$RUN_PID")
	wait_until 5 grep -q "controller started" "$T_DIR/run.log"
fi
ok "$(live && grep -q "controller started" "$T_DIR/run.log" && echo 1)" "the controller runs"

show() { cli service show web --json; json -r ".$1" <<<"$CLI_OUT"; }
breaker_is() { [[ $(show breaker) == "$1" ]]; }

# --- 2. closed.
ok "$(live && wait_until 3 breaker_is closed && echo 1)" "the breaker is closed"
load --to "$SERVER:$PORT" --concurrency 4 --duration 1
ok "$(live && (($(json .ok <<<"$LOAD") > 200)) && echo 1)" "closed: requests succeed ($(json .ok <<<"$LOAD") in 1 s)"
is "$(json '.failed + .refused' <<<"$LOAD")" 0 "and none fails or is refused"

# ms_of WALLTIME: a controller log line's time in ms since the epoch.
ms_of() { echo $(( $(date -d "$1" +%s%3N) )); }
# logged_ms PATTERN: when the controller first logged a line matching PATTERN after line FROM.
logged_ms() { tail -n "+$((${2:-0} + 1))" "$T_DIR/run.log" | grep -m1 -- "$1" | cut -d' ' -f1; }

# --- 3. the backend fails: the breaker opens, clients are refused at once.
if live; then
	nsenter --net="/run/netns/$NS_TX" "$TOOLS/loadgen" --to "$SERVER:$PORT" --concurrency 4 \
		--duration 60 --retry-ms 2 --log "$T_DIR/requests.log" >"$T_DIR/load.json" &
	LOAD_PID=$!
	T_PIDS+=("$LOAD_PID")
	sleep 0.3
fi
LINES=$(wc -l <"$T_DIR/run.log")
FAIL_MS=$(date +%s%3N)
set_mode fail
ok "$(live && wait_until 3 breaker_is open && echo 1)" "the backend fails: the breaker opens"
OPENED_AT=$(logged_ms "breaker closed -> open (failure_rate" "$LINES")
TRIP_MS=$(( $(ms_of "$OPENED_AT") - FAIL_MS ))
diag "breaker trip time: $TRIP_MS ms after the backend began failing (probe every 20 ms, window 10, at least 5 calls)"
ok "$(live && ((TRIP_MS >= 0 && TRIP_MS < 400)) && echo 1)" \
	"it opened within its window: $TRIP_MS ms (10 probes are 200 ms; under 400)"
if live; then
	PROBE_OUT=$(in_tx "$TOOLS/tcpprobe" -t "$SERVER" -p $PORT -n 3 -w 1000)
	diag "$(tr '\n' ' ' <<<"$PROBE_OUT")"
fi
is "$(tail -1 <<<"${PROBE_OUT:-}" | json -r '"\(.refused) \(.established)"')" "3 0" \
	"a client's new connections are refused"
MAX_US=$(grep '"refused"' <<<"${PROBE_OUT:-}" | json -s 'map(.latency_us) | max')
ok "$(live && ((${MAX_US:-999999} < 1000)) && echo 1)" "with an RST from XDP in under a millisecond (slowest ${MAX_US} us)"

# --- 4. half-open admits its budget, the backend still fails, it opens again for longer.
ADMITTED=$(show admitted)
ok "$(live && wait_until 3 grep -q "breaker half_open -> open (probes_failed" "$T_DIR/run.log" && echo 1)" \
	"half-open after ${OPEN_MS} ms; its probes fail and it opens again"
half_opens=$(grep -c "breaker open -> half_open" "$T_DIR/run.log")
ADMITTED_AFTER=$(show admitted)
is "$(( ADMITTED_AFTER - ADMITTED ))" "$(( 3 * half_opens ))" \
	"each half-open admitted exactly its budget of 3 new connections ($half_opens so far)"
OPEN_FOR=$(show half_open_in_s)
ok "$(live && awk -v s="$OPEN_FOR" 'BEGIN { exit !(s > 0.5 && s <= 0.75) }' && echo 1)" \
	"and stays open longer: half-open again in $OPEN_FOR s (500 ms x 1.5)"

# --- 5. the backend recovers: the next half-open closes it.
LINES=$(wc -l <"$T_DIR/run.log")
OK_MS=$(date +%s%3N)
set_mode ok
ok "$(live && wait_until 6 breaker_is closed && echo 1)" "the backend recovers: the breaker closes"
CLOSED_AT=$(logged_ms "breaker half_open -> closed (probes_passed" "$LINES")
RECOVERY_MS=$(( $(ms_of "$CLOSED_AT") - OK_MS ))
diag "breaker recovery time: $RECOVERY_MS ms after the backend recovered (open time left, then 3 probes)"
ok "$(live && ((RECOVERY_MS >= 0 && RECOVERY_MS < 4500)) && echo 1)" \
	"within the open time and 3 probes: $RECOVERY_MS ms"
if live; then
	sleep 0.5
	kill -INT "$LOAD_PID"
	wait "$LOAD_PID"
	forget_pid "$LOAD_PID"
	LOAD=$(<"$T_DIR/load.json")
	diag "loadgen through it all: $LOAD"
fi
ok "$(live && (($(json .refused <<<"$LOAD") > 100 && $(json .failed <<<"$LOAD") > 0)) && echo 1)" \
	"clients saw refusals while it was open and 500s before it opened"
ok "$(live && tail -n 50 "$T_DIR/requests.log" | awk '$2 != "ok" { bad++ } END { exit bad > 0 }' && echo 1)" \
	"and their last 50 requests succeeded"

# --- 6. show, metrics and the log.
cli service show web
diag "$CLI_OUT"
ok "$(grep -q "transitions:" <<<"$CLI_OUT" && grep -q "open -> half_open (open_time_passed" <<<"$CLI_OUT" && grep -q "half_open -> closed (probes_passed" <<<"$CLI_OUT" && echo 1)" \
	"service show lists the transitions"
cli service show web --json
ok "$(live && (($(json '.refused_by.breaker' <<<"$CLI_OUT") > 100 && $(json '.trips' <<<"$CLI_OUT") == 0)) && echo 1)" \
	"refusals are counted as the breaker's; trips are back to 0 once closed"
is "$(json -c '[.transitions[-1].from, .transitions[-1].to]' <<<"$CLI_OUT")" '["half_open","closed"]' \
	"the last transition is half_open -> closed"
if live; then
	wait_until 3 in_rx curl -sf --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics" -o "$T_DIR/metrics"
	sleep 1.1	# the document is rebuilt once a second
	in_rx curl -sf --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics" -o "$T_DIR/metrics"
fi
ok "$(live && grep -q "^sluice_service_breaker_state{service=\"web\",port=\"$PORT\",state=\"closed\"} 1" "$T_DIR/metrics" && echo 1)" \
	"the metrics say closed"
TRANSITIONS=$(grep "^sluice_service_breaker_transitions_total{service=\"web\"" "$T_DIR/metrics" | awk '{ print $2 }')
ok "$(live && ((${TRANSITIONS:-0} >= 4)) && echo 1)" "and count the transitions ($TRANSITIONS)"
ok "$(live && grep -q "^sluice_service_refused_by_total{service=\"web\",port=\"$PORT\",reason=\"breaker\"} [1-9]" "$T_DIR/metrics" && echo 1)" \
	"and the breaker's refusals"
LOGGED=$(grep -c "service web: breaker " "$T_DIR/run.log")
ok "$(live && ((LOGGED == TRANSITIONS)) && echo 1)" "every transition is logged ($LOGGED)"

# --- 7. trip, reset, disable, and the lease.
refused_now() {
	PROBE_OUT=$(in_tx "$TOOLS/tcpprobe" -t "$SERVER" -p $PORT -n 1 -w 1000)
	tail -1 <<<"$PROBE_OUT" | json -r '"\(.refused)/\(.established)"'
}
cli service trip web
is "$CLI_RC" 0 "service trip web"
ok "$(live && wait_until 2 breaker_is forced_open && echo 1)" "forced open"
is "$(refused_now)" "1/0" "a new connection is refused while the backend is healthy"
cli service reset web
ok "$(live && wait_until 2 breaker_is closed && echo 1)" "reset: closed"
is "$(refused_now)" "0/1" "and admitted again"
cli service disable web
ok "$(live && wait_until 2 breaker_is disabled && echo 1)" "disabled"
set_mode fail
live && sleep 0.5
is "$(refused_now)" "0/1" "disabled: admitted while the backend fails"
is "$(show breaker)" disabled "and it never trips"
set_mode ok
cli service trip web
ok "$(live && wait_until 2 breaker_is forced_open && echo 1)" "tripped again"
if live; then
	kill -9 "$RUN_PID"
	wait "$RUN_PID" 2>/dev/null
	forget_pid "$RUN_PID"
	sleep 0.1	# the lease is 4 ticks: 40 ms
fi
is "$(refused_now)" "0/1" "kill -9 of the controller: admitted within its lease"

finish
