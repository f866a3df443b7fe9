# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Shared by the end-to-end tests; each test script sources it, then calls
# `e2e_init [TOOL...]` before anything else.
#
# What it gives a test:
# - Unique names per run: namespaces sluice-ID-tx and sluice-ID-rx, veths
#   slIDat/slIDar (pair "a"; more pairs with add_pair), and the pin root
#   /sys/fs/bpf/sluice-test-ID, so runs never collide.
# - One `trap cleanup EXIT` that kills only the PIDs this test started,
#   detaches what it attached, deletes its namespaces, removes its pin roots
#   and its temporary directory, whether the test passed, failed or died.
# - Helpers for a sender (tx) and a receiver (rx) namespace joined by veth
#   pairs with two queues on both ends (so traffic from two CPUs reaches the
#   receiver's XDP program on two CPUs), with IPv4 198.18.N.0/24 and IPv6
#   2001:db8:N::/64 (nodad) addresses and static neighbors (no ARP or
#   neighbor discovery delays or losses while measuring).
# - The CLI run inside the receiver namespace with the unique pin root:
#   sluice_rx ARGS, or cli ARGS to capture CLI_OUT, CLI_ERR and CLI_RC.
#   nsenter switches only the network namespace: `ip netns exec` would
#   remount /sys and hide bpffs (see TESTING.md).
# - TAP: ok COND NAME, is GOT WANT NAME, within GOT WANT PCT NAME,
#   skip NAME WHY, diag TEXT, and finish (prints the plan, exits 1 if
#   anything failed).
#
# When the test cannot run here (not root, a command or tool missing, no
# bpffs), e2e_init says why and the test runs in skip mode: every helper
# that would touch the system does nothing, and every assertion prints
# "ok N - NAME # SKIP why", so the plan is the same and nothing silently passes.

set -u

E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLUICE=${SLUICE:-$E2E_REPO/build/sluice}
TOOLS=${TOOLS:-$E2E_REPO/build/tests}
BPFFS=/sys/fs/bpf

T_COUNT=0		# tests reported so far
T_FAILED=0		# of which failed
T_SKIP=""		# why the whole test is skipped, or empty
T_PIDS=()		# background processes this test started and has not reaped
T_NETNS=()		# namespaces this test created
T_PIN_ROOTS=()		# pin roots this test may have created
T_ATTACHED=()		# "NETNS PIN_ROOT IFACE" for each attachment made
T_DIR=""		# temporary files

# ---------------------------------------------------------------- TAP

diag() {
	local line
	while IFS= read -r line; do
		printf '# %s\n' "$line"
	done <<<"$*"
}

# tap_result PASSED NAME [DETAIL]: one TAP line, "ok N - NAME (DETAIL)".
tap_result() {
	local passed=$1 name=$2 detail=${3:-}
	T_COUNT=$((T_COUNT + 1))
	name=${name//#/-}	# a '#' would start a TAP directive
	[[ -n $detail ]] && name="$name ($detail)"
	if [[ -n $T_SKIP ]]; then
		printf 'ok %d - %s # SKIP %s\n' "$T_COUNT" "${2//#/-}" "$T_SKIP"
	elif [[ $passed == 1 ]]; then
		printf 'ok %d - %s\n' "$T_COUNT" "$name"
	else
		T_FAILED=$((T_FAILED + 1))
		printf 'not ok %d - %s\n' "$T_COUNT" "$name"
	fi
}

# ok COND NAME: passes when COND is 1 or true (e.g. ok "$((n > 0))" "...").
ok() {
	local passed=0
	[[ $1 == 1 || $1 == true ]] && passed=1
	tap_result "$passed" "$2"
}

# is GOT WANT NAME: passes when the two strings are equal.
is() {
	local got=$1 want=$2 name=$3
	if [[ $got == "$want" ]]; then
		tap_result 1 "$name"
	else
		tap_result 0 "$name"
		[[ -z $T_SKIP ]] && diag "got:  '$got'" && diag "want: '$want'"
	fi
}

# within GOT WANT PCT NAME: passes when GOT is within PCT percent of WANT
# (exactly WANT when WANT is 0). The line shows got, want and the deviation.
within() {
	local got=$1 want=$2 pct=$3 name=$4 verdict
	if [[ -n $T_SKIP ]]; then
		tap_result 1 "$name"
		return
	fi
	if ! [[ $got =~ ^-?[0-9]+(\.[0-9]+)?$ && $want =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then
		tap_result 0 "$name" "got '$got', want '$want': not numbers"
		return
	fi
	verdict=$(awk -v g="$got" -v w="$want" -v p="$pct" 'BEGIN {
		d = g - w; if (d < 0) d = -d
		dev = (w != 0) ? sprintf("%+.2f%%", (g - w) * 100 / w) : (g == w ? "+0.00%" : "inf")
		pass = (w == 0) ? (g == 0) : (d * 100 <= p * (w < 0 ? -w : w))
		printf "%d got %s, want %.1f, deviation %s, tolerance %s%%", pass, g, w, dev, p
	}')
	tap_result "${verdict%% *}" "$name" "${verdict#* }"
}

# skip NAME WHY: a test that cannot run here; never counted as passed.
skip() {
	T_COUNT=$((T_COUNT + 1))
	printf 'ok %d - %s # SKIP %s\n' "$T_COUNT" "${1//#/-}" "${T_SKIP:-$2}"
}

# finish: the plan, then exit 1 if anything failed (cleanup runs on EXIT).
finish() {
	printf '1..%d\n' "$T_COUNT"
	[[ -n $T_SKIP ]] && printf '# skipped: %s\n' "$T_SKIP"
	((T_FAILED == 0)) && exit 0
	printf '# %d of %d failed\n' "$T_FAILED" "$T_COUNT"
	exit 1
}

live() { [[ -z $T_SKIP ]]; }

# ---------------------------------------------------------------- setup

# e2e_init [TOOL...]: checks what the test needs, picks unique names, sets the trap.
e2e_init() {
	local cmd tool
	if [[ $(id -u) != 0 ]]; then
		T_SKIP="needs root (BPF, network namespaces)"
	fi
	for cmd in ip nsenter jq taskset timeout awk; do
		[[ -z $T_SKIP ]] && ! command -v "$cmd" >/dev/null &&
			T_SKIP="command '$cmd' not found"
	done
	for tool in "$SLUICE" "${@/#/$TOOLS/}"; do
		[[ -z $T_SKIP && ! -x $tool ]] &&
			T_SKIP="$tool not built (run: make && make test-build)"
	done
	if [[ -z $T_SKIP ]] && ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { f = 1 } END { exit !f }' /proc/mounts; then
		mount -t bpf bpf "$BPFFS" 2>/dev/null || T_SKIP="no bpffs at $BPFFS and cannot mount one"
	fi
	# A short id: veth names must fit in 15 characters. Names are picked
	# even in skip mode, so the test reads the same; nothing is created then.
	for _ in 1 2 3 4 5 6 7 8; do
		ID=$(printf '%04x' $((RANDOM ^ ($$ & 0xffff))))
		[[ ! -e /run/netns/sluice-$ID-tx && ! -e /run/netns/sluice-$ID-rx &&
			! -e $BPFFS/sluice-test-$ID ]] && break
	done
	NS_TX=sluice-$ID-tx
	NS_RX=sluice-$ID-rx
	PIN_ROOT=$BPFFS/sluice-test-$ID
	T_PIN_ROOTS+=("$PIN_ROOT")
	T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e-$ID.XXXXXX") || exit 1
	trap cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	[[ -n $T_SKIP ]] && return 0
	diag "run id $ID: namespaces $NS_TX $NS_RX, pin root $PIN_ROOT"
}

# kill_pid PID: ends a process this test started (TERM, then KILL) and reaps it.
kill_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 20); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	forget_pid "$pid"
}

# wait_until SECONDS CMD...: polls CMD every 20 ms until it succeeds (status
# 0) or SECONDS pass (status 1). For waiting on a state, never for timing it.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS >= deadline)) && return 1
		sleep 0.02
	done
}

forget_pid() {
	local keep=() p
	for p in "${T_PIDS[@]}"; do
		[[ $p != "$1" ]] && keep+=("$p")
	done
	T_PIDS=("${keep[@]}")
}

cleanup() {
	local rc=$? pid entry ns root iface
	trap - EXIT TERM INT
	# PIDs in T_PIDS are children not yet reaped, so none can have been reused.
	for pid in "${T_PIDS[@]}"; do
		kill_pid "$pid"
	done
	for entry in "${T_ATTACHED[@]}"; do
		read -r ns root iface <<<"$entry"
		# The CLI knows the link's pin name (it carries the namespace).
		[[ -e /run/netns/$ns && -e $root ]] &&
			nsenter --net="/run/netns/$ns" "$SLUICE" --pin-root "$root" detach "$iface" >/dev/null 2>&1
	done
	for ns in "${T_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for root in "${T_PIN_ROOTS[@]}"; do
		[[ $root == "$BPFFS"/sluice-test-* && -e $root ]] && rm -rf "$root"
	done
	[[ -n $T_DIR && -d $T_DIR ]] && rm -rf "$T_DIR"
	exit "$rc"
}

# in_tx CMD... / in_rx CMD...: run in the sender's or the receiver's network namespace.
in_tx() { live || return 0; nsenter --net="/run/netns/$NS_TX" "$@"; }
in_rx() { live || return 0; nsenter --net="/run/netns/$NS_RX" "$@"; }

# sluice_rx ARGS: the CLI in the receiver namespace, with this run's pin root.
sluice_rx() { in_rx "$SLUICE" --pin-root "$PIN_ROOT" "$@"; }

# cli ARGS: runs the CLI as sluice_rx does (bounded by 60 s) and keeps its
# stdout, stderr and exit status in CLI_OUT, CLI_ERR and CLI_RC.
# shellcheck disable=SC2034 # the callers read them
cli() {
	CLI_OUT="" CLI_ERR="" CLI_RC=0
	live || return 0
	# Bounded: a CLI that hangs fails the test instead of stalling the suite.
	timeout --kill-after=5 60 nsenter --net="/run/netns/$NS_RX" "$SLUICE" --pin-root "$PIN_ROOT" \
		"$@" >"$T_DIR/cli.out" 2>"$T_DIR/cli.err"
	CLI_RC=$?
	CLI_OUT=$(<"$T_DIR/cli.out")
	CLI_ERR=$(<"$T_DIR/cli.err")
}

# attach_rx IFACE [ARGS]: cli attach, remembered so that cleanup detaches it.
attach_rx() {
	T_ATTACHED+=("$NS_RX $PIN_ROOT $1")
	cli attach "$@"
}

# json [JQ ARGS] FILTER: jq -c on stdin; prints nothing in skip mode.
json() {
	live || { cat >/dev/null; return 0; }
	jq -c "$@"
}

# setup_namespaces: the sender and receiver namespaces, loopback up, no DAD.
setup_namespaces() {
	local ns
	live || return 0
	for ns in "$NS_TX" "$NS_RX"; do
		ip netns add "$ns" || return 1
		T_NETNS+=("$ns")
		ip -n "$ns" link set lo up
		# Quiet IPv6: no duplicate address detection, no router solicitations.
		# shellcheck disable=SC2016 # $c belongs to sh
		nsenter --net="/run/netns/$ns" sh -c \
			'for c in all default; do
				echo 0 > /proc/sys/net/ipv6/conf/$c/accept_dad
				echo 0 > /proc/sys/net/ipv6/conf/$c/router_solicitations
			done'
	done
}

veth_tx() { printf 'sl%s%st' "$ID" "$1"; }
veth_rx() { printf 'sl%s%sr' "$ID" "$1"; }
rx_addr4() { printf '198.18.%d.254' "$1"; }
rx_addr6() { printf '2001:db8:%x::fe' "$1"; }

# add_pair TAG N: a veth pair from the sender to the receiver, two queues
# on both ends, with 198.18.N.1/24 and 2001:db8:N::1/64 on the sender and
# 198.18.N.254/24 and 2001:db8:N::fe/64 on the receiver. The sender gets
# static neighbors for the receiver's addresses.
add_pair() {
	local tag=$1 n=$2 tx rx mac
	live || return 0
	tx=$(veth_tx "$tag") rx=$(veth_rx "$tag")
	ip -n "$NS_TX" link add "$tx" numtxqueues 2 numrxqueues 2 type veth \
		peer name "$rx" netns "$NS_RX" numtxqueues 2 numrxqueues 2 || return 1
	ip -n "$NS_TX" addr add "198.18.$n.1/24" dev "$tx" &&
		ip -n "$NS_TX" addr add "$(printf '2001:db8:%x::1/64' "$n")" dev "$tx" nodad &&
		ip -n "$NS_RX" addr add "$(rx_addr4 "$n")/24" dev "$rx" &&
		ip -n "$NS_RX" addr add "$(rx_addr6 "$n")/64" dev "$rx" nodad &&
		ip -n "$NS_TX" link set "$tx" up &&
		ip -n "$NS_RX" link set "$rx" up || return 1
	mac=$(ip -n "$NS_RX" -j link show "$rx" | jq -r '.[0].address')
	ip -n "$NS_TX" neigh replace "$(rx_addr4 "$n")" lladdr "$mac" dev "$tx" nud permanent &&
		ip -n "$NS_TX" neigh replace "$(rx_addr6 "$n")" lladdr "$mac" dev "$tx" nud permanent
}

# add_sources TAG ADDR...: more source addresses on the sender's side of pair TAG.
add_sources() {
	local tag=$1 addr
	shift
	live || return 0
	for addr in "$@"; do
		if [[ $addr == *:* ]]; then
			ip -n "$NS_TX" addr add "$addr/64" dev "$(veth_tx "$tag")" nodad || return 1
		else
			ip -n "$NS_TX" addr add "$addr/24" dev "$(veth_tx "$tag")" || return 1
		fi
	done
}

# xps_per_cpu TAG: the sender's tx queue 0 is used by CPU 0 and queue 1 by
# CPU 1, so two senders pinned to the two CPUs reach two receive queues and
# the receiver's XDP program runs on both CPUs. Needs sysfs of the sender's
# namespace, which `ip netns exec` mounts (no bpffs needed here).
xps_per_cpu() {
	local dev
	live || return 0
	dev=$(veth_tx "$1")
	ip netns exec "$NS_TX" sh -c "echo 1 > /sys/class/net/$dev/queues/tx-0/xps_cpus &&
		echo 2 > /sys/class/net/$dev/queues/tx-1/xps_cpus"
}

# ---------------------------------------------------------------- traffic

# count_start PORT SECONDS: udpcount in the receiver namespace, waited for
# until its socket is bound. Sets COUNT_PID and COUNT_OUT.
count_start() {
	local port=$1 seconds=$2 ready
	COUNT_PID="" COUNT_OUT=""
	live || return 0
	COUNT_OUT=$(mktemp "$T_DIR/count.XXXXXX")
	ready=$COUNT_OUT.ready
	# nsenter and taskset exec what they run, so $! is the tool's own PID.
	nsenter --net="/run/netns/$NS_RX" "$TOOLS/udpcount" -p "$port" -d "$seconds" \
		-r "$ready" >"$COUNT_OUT" &
	COUNT_PID=$!
	T_PIDS+=("$COUNT_PID")
	for _ in $(seq 50); do
		[[ -e $ready ]] && return 0
		sleep 0.1
	done
	diag "udpcount did not start within 5 s"
	return 1
}

# count_stop: stops udpcount (it reads what is still queued first) and puts
# its JSON line in COUNTED. Call it directly, never in $(...): a subshell
# cannot wait for the parent's child, and would read the file too early.
# shellcheck disable=SC2034 # the caller reads COUNTED
count_stop() {
	COUNTED=""
	live || return 0
	[[ -n $COUNT_PID ]] || return 1
	kill -TERM "$COUNT_PID" 2>/dev/null
	wait "$COUNT_PID"
	forget_pid "$COUNT_PID"
	COUNT_PID=""
	COUNTED=$(<"$COUNT_OUT")
}

# flood_start CPU OUT ARGS...: udpflood in the sender namespace, pinned to
# CPU, its JSON lines going to OUT. Adds the PID to FLOOD_PIDS.
FLOOD_PIDS=()
flood_start() {
	local cpu=$1 out=$2
	shift 2
	: >"$out"	# readers find it empty in skip mode
	live || return 0
	nsenter --net="/run/netns/$NS_TX" taskset -c "$cpu" "$TOOLS/udpflood" "$@" >"$out" &
	FLOOD_PIDS+=($!)
	T_PIDS+=($!)
}

# flood_wait: waits for every udpflood started; returns 1 if one failed.
flood_wait() {
	local pid rc=0
	for pid in "${FLOOD_PIDS[@]}"; do
		wait "$pid" || rc=1
		forget_pid "$pid"
	done
	FLOOD_PIDS=()
	return $rc
}

# ---------------------------------------------------------------- a guarded service's host

# service_host_setup: what the service tests stand on, each step a TAP
# result: the namespaces and pair a, Sluice attached on the receiver's veth
# ($RX), an XDP_PASS program on the sender's veth (veth delivers what the
# receiver's program sends back with XDP_TX, its RSTs, only to a peer that
# runs an XDP program too; a real NIC needs nothing), and shedding off
# (nothing else may drop: shedding is tested in shed.sh).
service_host_setup() {
	setup_namespaces && add_pair a 0
	ok "$(( $? == 0 ))" "namespaces and a veth pair"
	RX=$(veth_rx a)
	attach_rx "$RX"
	is "$CLI_RC" 0 "attach $RX"
	if live; then
		ip -n "$NS_TX" link set dev "$(veth_tx a)" xdpdrv obj "$TOOLS/baseline.bpf.o" \
			program xdp_pass_only
		ok "$(( $? == 0 ))" "an XDP_PASS program on the sender's veth"
	else
		skip "an XDP_PASS program on the sender's veth" "not live"
	fi
	cli shed set --off
	is "$CLI_RC" 0 "shedding off"
}

# ---------------------------------------------------------------- HTTP backend and load

# between GOT LO HI NAME: passes when GOT is a number within [LO, HI].
between() {
	local got=$1 lo=$2 hi=$3 name=$4 pass=0
	[[ $got =~ ^-?[0-9]+(\.[0-9]+)?$ ]] &&
		awk -v g="$got" -v l="$lo" -v h="$hi" 'BEGIN { exit !(g >= l && g <= h) }' && pass=1
	tap_result "$pass" "$name" "got $got, want $lo..$hi"
}

# httpd_start NAME ARGS...: httpd in the receiver namespace, waited for
# until it listens; its stdout and stderr in $T_DIR/NAME.out and .err.
# Sets HTTPD_PID and HTTPD_NAME (whose log set_mode reads).
httpd_start() {
	local name=$1
	shift
	HTTPD_PID="" HTTPD_NAME=$name
	live || return 0
	# nsenter execs httpd, so $! is its own PID.
	nsenter --net="/run/netns/$NS_RX" "$TOOLS/httpd" "$@" >"$T_DIR/$name.out" 2>"$T_DIR/$name.err" &
	HTTPD_PID=$!
	T_PIDS+=("$HTTPD_PID")
	wait_until 5 grep -q "^httpd: listening on " "$T_DIR/$name.out"
}

# httpd_stop NAME: SIGTERM, then its JSON counts (the last line of its stderr) in HTTPD_COUNTS.
httpd_stop() {
	HTTPD_COUNTS="" HTTPD_RC=""
	live || return 0
	kill -TERM "$HTTPD_PID"
	wait "$HTTPD_PID"
	# shellcheck disable=SC2034 # HTTPD_RC and HTTPD_COUNTS are for the scripts
	HTTPD_RC=$?
	forget_pid "$HTTPD_PID"
	# shellcheck disable=SC2034
	HTTPD_COUNTS=$(tail -1 "$T_DIR/$1.err")
}

# set_mode MODE: writes the control file ($CONTROL, given to httpd as
# --control) and waits until httpd says it took it.
mode_said() { grep -c "^httpd: mode $1\$" "$T_DIR/$HTTPD_NAME.err"; }
mode_said_more() { (($(mode_said "$1") > $2)); }
set_mode() {
	local before
	live || return 0
	before=$(mode_said "$1")
	echo "$1" >"$CONTROL"
	wait_until 2 mode_said_more "$1" "$before"
}

# load ARGS...: loadgen in the sender namespace; its JSON line in LOAD, its
# exit status in LOAD_RC.
load() {
	LOAD="" LOAD_RC=""
	live || return 0
	LOAD=$(nsenter --net="/run/netns/$NS_TX" timeout 60 "$TOOLS/loadgen" "$@")
	# shellcheck disable=SC2034 # for the scripts
	LOAD_RC=$?
	diag "loadgen $*: $LOAD"
}
