#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The HTTP backend and load generator that the circuit breaker and
# concurrency limit tests stand on (tests/tools/httpd.c, loadgen.c), checked
# on their own, with no Sluice attached: httpd in the receiver namespace,
# loadgen in the sender's, across a veth pair.
#
# 1. Bad options are refused in one line with exit status 2.
# 2. Answers are well formed: 200 with "ok", 400 for a request that is not
#    HTTP, read with bash's /dev/tcp rather than loadgen.
# 3. Capacity: 2 workers of 20 ms serve about 100 requests a second.
#    Concurrency 2 gets that with a p50 of 20 ms or more (the service time
#    is a floor; the per-request log says so for every request); at
#    concurrency 8 throughput stays there while requests queue behind the
#    pool, so the p50 and p99 are several times the service time (Little:
#    8 / 100 rps = 80 ms).
# 4. Modes, switched through the control file: fail gives 500s at once;
#    hang gives timeouts (--timeout 200); slow 60 right after the hang has
#    a p50 of 60 ms or more, and the requests that queued during the hang
#    (their clients gone) cost nothing.
# 5. A closed port counts as refused, within microseconds, paced by
#    --retry-ms; SIGINT ends a run early with its report.
# 6. IPv6 with --source, and --mode at start.
# 7. httpd stops on SIGTERM and its counts agree with loadgen's.
# The throughput bands are wide (60..110 rps): these are 2-CPU VMs, and the
# point is that the pool, not the client, sets the rate.
# shellcheck disable=SC2016 # jq filters are in single quotes
source "$(dirname "$0")/lib.sh"
e2e_init httpd loadgen

PORT=8080 CLOSED_PORT=8081 PORT6=8082
WORKERS=2 SERVICE_MS=20
SERVER=$(rx_addr4 0) SERVER6=2001:db8::fe CLIENT6=2001:db8::1	# rx_addr6 0, as httpd prints it

setup_namespaces && add_pair a 0
ok "$(( $? == 0 ))" "namespaces and a veth pair"

field() { json -r ".$1" <<<"$LOAD"; }
counts() { json -r ".$1" <<<"$HTTPD_COUNTS"; }

# http_raw ADDR PORT TEXT: sends TEXT on one connection from the sender with
# bash's /dev/tcp and prints what comes back, \r kept.
http_raw() {
	live || return 0
	# shellcheck disable=SC2016 # $1..$3 belong to the inner bash
	nsenter --net="/run/netns/$NS_TX" timeout 5 bash -c \
		'exec 3<>"/dev/tcp/$1/$2" && printf "%b" "$3" >&3 && cat <&3' _ "$@"
}

# --- 1. bad options
bad_option() {
	local tool=$1 want=$2 out rc
	shift 2
	if ! live; then
		skip "$tool $*: refused" "not live"
		return
	fi
	out=$("$TOOLS/$tool" "$@" 2>&1)
	rc=$?
	ok "$( ((rc == 2)) && [[ $(wc -l <<<"$out") == 1 && $out == *"$want"* ]] && echo 1)" \
		"$tool $*: exit $rc, says '$out'"
}
bad_option loadgen "--duration is required" --to "$SERVER:$PORT"
bad_option loadgen "invalid --to '$SERVER'" --to "$SERVER" --duration 1
bad_option loadgen "invalid --to '::1:80'" --to ::1:80 --duration 1
bad_option loadgen "invalid --concurrency '0'" --to "$SERVER:$PORT" --duration 1 --concurrency 0
bad_option loadgen "invalid --timeout 'x'" --to "$SERVER:$PORT" --duration 1 --timeout x
bad_option loadgen "invalid --path 'a b'" --to "$SERVER:$PORT" --duration 1 --path 'a b'
bad_option loadgen "invalid --source '::1'" --to "$SERVER:$PORT" --duration 1 --source ::1
bad_option httpd "--port is required" --workers 2
bad_option httpd "invalid --workers '0'" --port "$PORT" --workers 0
bad_option httpd "invalid --mode 'slow'" --port "$PORT" --mode slow
bad_option httpd "invalid --addr '198.18.0'" --port "$PORT" --addr 198.18.0

# --- 2. the server, and its answers
CONTROL=$T_DIR/control
live && echo ok >"$CONTROL"
httpd_start main --port $PORT --addr "$SERVER" --workers $WORKERS --service-ms $SERVICE_MS \
	--control "$CONTROL"
is "$(live && cat "$T_DIR/main.out")" "httpd: listening on $SERVER:$PORT, $WORKERS workers, $SERVICE_MS ms" \
	"httpd says where it listens"
is "$(http_raw "$SERVER" $PORT 'GET / HTTP/1.0\r\n\r\n' | tr -d '\r')" \
	$'HTTP/1.0 200 OK\nContent-Type: text/plain\nContent-Length: 3\nConnection: close\n\nok' \
	"a GET is answered 200 with a right Content-Length"
is "$(http_raw "$SERVER" $PORT 'BREW /pot HTCPCP/1.0\r\n\r\n' | head -1 | tr -d '\r')" \
	"HTTP/1.0 400 Bad Request" "a request that is not HTTP gets a 400"
ok "$(live && kill -0 "$HTTPD_PID" && echo 1)" "httpd is still running"

# --- 3. capacity: 2 workers x 20 ms = 100 requests a second at most
OK_TOTAL=0 UNFINISHED_TOTAL=0 FAILED_500=0
tally() {
	live || return 0
	OK_TOTAL=$((OK_TOTAL + $(field ok)))
	UNFINISHED_TOTAL=$((UNFINISHED_TOTAL + $(field unfinished)))
	FAILED_500=$((FAILED_500 + $(json -r '.statuses["500"] // 0' <<<"$LOAD")))
}

load --to "$SERVER:$PORT" --concurrency 2 --duration 3 --log "$T_DIR/c2.log"
tally
is "$LOAD_RC $(field failed) $(field refused) $(field timeouts)" "0 0 0 0" "concurrency 2: no failures"
between "$(field throughput_rps)" 60 110 "concurrency 2: about 100 requests a second"
between "$(field p50_ms)" $SERVICE_MS $((SERVICE_MS + 10)) "concurrency 2: p50 near the service time, not under it"
is "$(json -r '.statuses["200"]' <<<"$LOAD")" "$(field ok)" "every ok request was a 200"
is "$(live && wc -l <"$T_DIR/c2.log")" "$(field ok)" "the log has a line per request"
is "$(live && awk -v floor=$((SERVICE_MS * 1000)) '$2 != "ok" || $3 < floor { bad++ } END { print bad + 0 }' \
	"$T_DIR/c2.log")" 0 "every logged request is ok and took the service time or more"
# Lines come as requests end: start (ns) + latency (us, truncated) never goes back by more than 1 us.
is "$(live && awk '{ end = $1 + $3 * 1000 } NR > 1 && end < last - 1000 { bad++ } { last = end }
	END { print bad + 0 }' "$T_DIR/c2.log")" 0 "the log is in the order requests ended"

load --to "$SERVER:$PORT" --concurrency 8 --duration 3
tally
is "$LOAD_RC $(field failed) $(field refused) $(field timeouts)" "0 0 0 0" "concurrency 8: no failures"
between "$(field throughput_rps)" 60 110 "concurrency 8: throughput stays at the pool's capacity"
between "$(field p50_ms)" $((3 * SERVICE_MS)) $((8 * SERVICE_MS)) \
	"concurrency 8: p50 several times the service time (queued behind the pool)"
between "$(field p99_ms)" $((3 * SERVICE_MS)) 1000 "concurrency 8: p99 several times the service time"

# --- 4. modes
set_mode fail
ok "$(( $? == 0 ))" "httpd takes 'fail' from the control file"
load --to "$SERVER:$PORT" --concurrency 2 --duration 1
tally
is "$(field ok) $(field refused) $(field timeouts)" "0 0 0" "fail: nothing ok, refused or timed out"
ok "$(live && (($(field failed) > 100)) && echo 1)" "fail: requests fail ($(field failed))"
is "$(json -r '.statuses["500"]' <<<"$LOAD")" "$(field failed)" "fail: every failure is a 500"
between "$(field failed_p50_ms)" 0 5 "fail: answered at once (p50)"
between "$(field failed_p99_ms)" 0 $((SERVICE_MS - 1)) "fail: no service time (p99)"

set_mode hang
ok "$(( $? == 0 ))" "httpd takes 'hang' from the control file"
load --to "$SERVER:$PORT" --concurrency 2 --duration 1 --timeout 200
tally
is "$(field ok) $(field failed) $(field refused)" "0 0 0" "hang: nothing answered, failed or refused"
# 2 clients x 1 s / 200 ms: 10 deadlines, of which the last two are due at the end.
between "$(field timeouts)" 6 10 "hang: requests time out after 200 ms"

set_mode "slow 60"
ok "$(( $? == 0 ))" "httpd takes 'slow 60' from the control file"
load --to "$SERVER:$PORT" --concurrency 2 --duration 2
tally
is "$(field failed) $(field timeouts)" "0 0" "slow 60: no failures"
between "$(field p50_ms)" 60 80 "slow 60: p50 of 60 ms or more"
between "$(field throughput_rps)" 20 34 "slow 60: about 2 / 60 ms = 33 requests a second"
# Eight connections queued during the hang, their clients gone: served,
# they would hold the two workers 4 x 60 ms before the first new request.
between "$(field max_ms)" 60 120 "slow 60: requests queued during the hang cost nothing"

set_mode ok
httpd_stop main
is "$HTTPD_RC" 0 "httpd exits 0 on SIGTERM"
diag "httpd counts: $HTTPD_COUNTS"
# One more 200: the GET sent with /dev/tcp.
between "$(counts status_200)" $((OK_TOTAL + 1)) $((OK_TOTAL + 1 + UNFINISHED_TOTAL)) \
	"httpd served as many 200s as loadgen got, give or take the requests cut at the end"
between "$(counts status_500)" "$FAILED_500" $((FAILED_500 + UNFINISHED_TOTAL)) "and as many 500s"
is "$(counts status_400)" 1 "and one 400"
is "$(counts hung)" 2 "both workers hung, once each"

# --- 5. refused, and SIGINT
load --to "$SERVER:$CLOSED_PORT" --concurrency 1 --duration 0.5 --retry-ms 10 --log "$T_DIR/refused.log"
is "$(field ok) $(field failed) $(field timeouts)" "0 0 0" "closed port: nothing but refusals"
# One refusal per 10 ms pause at most: 50 in 0.5 s.
between "$(field refused)" 20 51 "closed port: refused, one per --retry-ms"
between "$(field refused_max_us)" 1 50000 "closed port: the refusal comes in microseconds, not a timeout"
is "$(live && awk '$2 != "refused" { bad++ } END { print bad + 0 }' "$T_DIR/refused.log")" 0 \
	"closed port: the log has only refusals"

if live; then
	nsenter --net="/run/netns/$NS_TX" "$TOOLS/loadgen" --to "$SERVER:$CLOSED_PORT" --duration 30 \
		>"$T_DIR/interrupted.json" &
	pid=$!
	T_PIDS+=("$pid")
	sleep 0.3
	kill -INT "$pid"
	wait "$pid"
	rc=$?
	forget_pid "$pid"
	LOAD=$(<"$T_DIR/interrupted.json")
fi
is "${rc:-}" 0 "SIGINT ends loadgen with status 0"
between "$(field duration_s)" 0.1 5 "and a report of the shortened run ($LOAD)"

# --- 6. IPv6, --source and --mode
httpd_start v6 --port $PORT6 --addr "$SERVER6" --workers $WORKERS --service-ms $SERVICE_MS --mode "slow 30"
is "$(live && cat "$T_DIR/v6.out")" "httpd: listening on [$SERVER6]:$PORT6, $WORKERS workers, $SERVICE_MS ms" \
	"httpd listens on IPv6"
load --to "[$SERVER6]:$PORT6" --source "$CLIENT6" --concurrency 2 --duration 1
is "$LOAD_RC $(field failed) $(field refused) $(field timeouts)" "0 0 0 0" "IPv6 with --source: no failures"
ok "$(live && (($(field ok) > 10)) && echo 1)" "IPv6: requests served ($(field ok))"
between "$(field p50_ms)" 30 45 "--mode 'slow 30' at start: p50 of 30 ms or more"
load --to "[$SERVER6]:$PORT6" --source 2001:db8:ffff::1 --duration 1
is "$LOAD_RC" 1 "a --source that is not local fails at start"
httpd_stop v6
is "$HTTPD_RC" 0 "the IPv6 httpd exits 0"
finish
