#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# refuse_with_rst() (bpf/refuse.bpf.h) against a real TCP stack. The
# receiver's veth runs refuse_wrap.bpf.o, which answers every TCP segment
# with the RST that refuses it, in front of a server that listens:
#  - a new connection, IPv4 and IPv6, fails with "Connection refused" at
#    once (the RST|ACK answering a SYN is accepted by the client's stack: its
#    ack, addresses, ports and checksums are right), where a dropped SYN
#    would leave connect() resending it until the timeout;
#  - data on a connection opened before is answered with an RST that takes
#    its seq from the segment's ack, and the client's stack resets the
#    connection (Linux accepts an RST only at exactly the expected seq);
#  - the server never sees any of it.
# Before the program is attached, the same connections open: the refusals
# are the program's doing.
source "$(dirname "$0")/lib.sh"
e2e_init tcpsink

PORT=5001
REFUSE_OBJ=$TOOLS/refuse_wrap.bpf.o
# The sender's veth runs an XDP_PASS program: without one, veth does not
# deliver the frames that the receiver's program sends back (TESTING.md).
PASS_OBJ=$TOOLS/baseline.bpf.o
for obj in "$REFUSE_OBJ" "$PASS_OBJ"; do
	[[ -z $T_SKIP && ! -f $obj ]] && T_SKIP="$obj not built (run: make test-build)"
done
ADDR4=$(rx_addr4 1)
ADDR6=$(rx_addr6 1)

# try_connect ADDR: one connect() from the sender by bash's /dev/tcp, given
# 10 s (a dropped SYN is resent after 1, 3 and 7 s). Sets CONNECT_RC (124:
# timed out), CONNECT_ERR (what bash said) and CONNECT_MS.
try_connect() {
	local start
	CONNECT_RC="" CONNECT_ERR="" CONNECT_MS=""
	live || return 0
	start=$(date +%s%N)
	# shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
	CONNECT_ERR=$(nsenter --net="/run/netns/$NS_TX" timeout 10 \
		bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$PORT" 2>&1)
	CONNECT_RC=$?
	CONNECT_ERR=${CONNECT_ERR%%$'\n'*}	# bash says it twice
	CONNECT_MS=$((($(date +%s%N) - start) / 1000000))
}

refused() {
	[[ $CONNECT_RC == 1 && $CONNECT_ERR == *"Connection refused"* ]] && echo 1
}

setup_namespaces || T_SKIP="could not create namespaces"
add_pair a 1 || { diag "could not create the veth pair"; T_SKIP="veth setup failed"; }
TX_IF=$(veth_tx a)
RX_IF=$(veth_rx a)

SINK_OUT=$T_DIR/sink.out
if live; then
	# nsenter execs tcpsink, so $! is its PID.
	nsenter --net="/run/netns/$NS_RX" "$TOOLS/tcpsink" -p "$PORT" -d 120 \
		-r "$T_DIR/sink.ready" >"$SINK_OUT" &
	SINK_PID=$!
	T_PIDS+=("$SINK_PID")
	wait_until 5 test -e "$T_DIR/sink.ready" || diag "tcpsink did not start within 5 s"
fi

# --- without the program, connections open.
try_connect "$ADDR4"
is "$CONNECT_RC" 0 "without XDP, an IPv4 connection to the listening port opens"
try_connect "$ADDR6"
is "$CONNECT_RC" 0 "without XDP, an IPv6 connection to the listening port opens"

# A connection that opens now and sends once the program is attached.
EST=$T_DIR/established
if live; then
	# shellcheck disable=SC2016 # $1..$3 belong to the inner bash
	nsenter --net="/run/netns/$NS_TX" timeout 30 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 9
		: >"$3.open"
		for _ in $(seq 1000); do [[ -e $3.go ]] && break; sleep 0.02; done
		printf "hello\n" >&3
		read -t 5 -r line <&3
		echo "read status $?"' _ "$ADDR4" "$PORT" "$EST" >"$EST.out" 2>&1 &
	EST_PID=$!
	T_PIDS+=("$EST_PID")
	wait_until 5 test -e "$EST.open" || diag "the established connection did not open"
fi

# --- with it, they are refused.
if live; then
	ip -n "$NS_TX" link set dev "$TX_IF" xdpdrv obj "$PASS_OBJ" program xdp_pass_only ||
		diag "could not attach xdp_pass_only to $TX_IF"
	ip -n "$NS_RX" link set dev "$RX_IF" xdpdrv obj "$REFUSE_OBJ" program refuse_wrap ||
		diag "could not attach refuse_wrap to $RX_IF"
fi
ok "$(live && ip -n "$NS_RX" -d link show "$RX_IF" | grep -q 'prog/xdp' && echo 1)" \
	"refuse_wrap is attached to the receiver's veth in native mode"

try_connect "$ADDR4"
live && diag "IPv4 connect(): status $CONNECT_RC after $CONNECT_MS ms: $CONNECT_ERR"
ok "$(refused)" "IPv4: connect() fails at once with Connection refused, not a timeout"
try_connect "$ADDR6"
live && diag "IPv6 connect(): status $CONNECT_RC after $CONNECT_MS ms: $CONNECT_ERR"
ok "$(refused)" "IPv6: connect() fails at once with Connection refused, not a timeout"

# --- data on the established connection is answered with an RST at its ack.
est_out=""
if live; then
	: >"$EST.go"
	wait "$EST_PID"
	forget_pid "$EST_PID"
	est_out=$(<"$EST.out")
	diag "established connection: $est_out"
fi
ok "$(live && grep -q 'Connection reset by peer' <<<"$est_out" &&
	grep -qx 'read status 1' <<<"$est_out" && echo 1)" \
	"data on an established connection is answered by an RST the client accepts"

# --- the server saw only the connections made before the program.
accepted=""
if live; then
	kill_pid "$SINK_PID"
	accepted=$(jq -r .accepted <"$SINK_OUT" 2>/dev/null)
fi
is "$accepted" 3 "the server accepted only the three connections made before the program"

finish
