#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# What the machine may lack or change under Sluice: no bpffs mounted, a
# driver without native XDP, an interface that disappears while attached.
source "$(dirname "$0")/lib.sh"
e2e_init

setup_namespaces
dev=sl${ID}d

# --- bpffs missing: Sluice mounts it, as `ip` and bpftool do. A private mount
# namespace keeps the host's /sys/fs/bpf untouched.
if live && command -v unshare >/dev/null; then
	out=$(unshare --mount --propagation private bash -c '
		while grep -q " /sys/fs/bpf bpf " /proc/mounts; do umount /sys/fs/bpf || exit 9; done
		echo "mounted before: $(grep -c " /sys/fs/bpf bpf " /proc/mounts)"
		"$1" --pin-root "$2" limit set default --rate 100 --burst 10 >/dev/null || exit 8
		echo "mounted after: $(grep -c " /sys/fs/bpf bpf " /proc/mounts)"
		"$1" --pin-root "$2" limit list --json
	' _ "$SLUICE" "$PIN_ROOT" 2>&1)
	rc=$?
	diag "$out"
	is "$rc" 0 "with bpffs unmounted, limit set and list succeed"
	ok "$(grep -qx 'mounted before: 0' <<<"$out" && grep -qx 'mounted after: 1' <<<"$out" && echo 1)" \
		"sluice mounted bpffs at /sys/fs/bpf itself"
	is "$(tail -n 1 <<<"$out" | jq -c '.limits[0] | [.prefix, .rate, .burst]' 2>/dev/null)" \
		'["default",100,10]' "the limit landed in the bpffs it mounted"
else
	for name in "with bpffs unmounted, limit set and list succeed" \
		"sluice mounted bpffs at /sys/fs/bpf itself" "the limit landed in the bpffs it mounted"; do
		skip "$name" "unshare not found"
	done
fi

# --- a driver without native XDP: a bridge interface.
live && ip -n "$NS_RX" link add "$dev" type bridge && ip -n "$NS_RX" link set "$dev" up
attach_rx "$dev" --mode native
is "$CLI_RC" 1 "attach --mode native on a bridge device fails"
ok "$(grep -q "^Error: failed to attach to $dev: XDP in native mode is not supported.*--mode generic" \
	<<<"$CLI_ERR" && echo 1)" "the error says native XDP is unsupported and suggests generic ($CLI_ERR)"
is "$(wc -l <<<"$CLI_ERR")" 1 "the error is one line"
ok "$(live && [[ ! -e $PIN_ROOT ]] && echo 1)" \
	"a failed attach on a fresh pin root leaves nothing behind, not even the pin root"

attach_rx "$dev" --mode generic
is "$CLI_RC" 0 "attach --mode generic on the bridge device works"
cli status --json
is "$(jq -r --arg d "$dev" '.attachments[] | select(.interface == $d) | .mode' <<<"$CLI_OUT" 2>/dev/null)" \
	generic "status reports generic mode"
cli attach "$dev"
is "$CLI_RC" 0 "attaching again in auto mode is harmless"
is "$(jq -r .already_attached <<<"$(cli attach "$dev" --json; echo "$CLI_OUT")" 2>/dev/null)" true \
	"and says it was already attached"

# --- the interface is renamed while attached: the program stays with it, and
# detach by the name it was attached under still removes it.
renamed=sl${ID}n
live && ip -n "$NS_RX" link set "$dev" down && ip -n "$NS_RX" link set "$dev" name "$renamed" &&
	ip -n "$NS_RX" link set "$renamed" up
cli status --json
is "$(jq -r --arg d "$dev" '.attachments[] | select(.interface == $d) | .current_interface' <<<"$CLI_OUT" 2>/dev/null)" \
	"$renamed" "status shows the attachment under its new name"
live && ip -n "$NS_RX" link add "$dev" type bridge && ip -n "$NS_RX" link set "$dev" up
cli attach "$dev" --mode generic
ok "$( ((CLI_RC == 1)) && grep -q "still attached to the interface first named $dev, now $renamed; run 'sluice detach $dev' first" <<<"$CLI_ERR" && echo 1)" \
	"attaching a new interface of the old name says to detach the renamed one first ($CLI_ERR)"
cli detach "$dev"
is "$CLI_RC $(live && ip -n "$NS_RX" -d link show "$renamed" | grep -c 'prog/xdp')" "0 0" \
	"detach by the old name removes the program from the renamed interface"
live && ip -n "$NS_RX" link del "$renamed"
attach_rx "$dev" --mode generic
is "$CLI_RC" 0 "then the new interface of that name attaches"

# --- --json output stays JSON whatever bytes come in.
cli --json limit set $'\xff\xfe' --rate 1
is "$CLI_RC $(jq -r '.error' <<<"$CLI_OUT" 2>/dev/null)" \
	"1 invalid prefix '\\xff\\xfe': not an IPv4 address" \
	"an argument that is not UTF-8 gives a JSON error with its bytes escaped"

# --- the interface disappears while attached: the link dies with it.
live && ip -n "$NS_RX" link del "$dev"
cli status --json
is "$(jq -r --arg d "$dev" '.attachments[] | select(.interface == $d) | .attached' <<<"$CLI_OUT" 2>/dev/null)" \
	false "status shows the link of a deleted interface as not attached"
live && ip -n "$NS_RX" link add "$dev" type bridge && ip -n "$NS_RX" link set "$dev" up
attach_rx "$dev" --mode generic
is "$CLI_RC" 0 "an interface of the same name can be attached again (the dead link is replaced)"
cli status --json
is "$(jq -r --arg d "$dev" '[.attachments[] | select(.interface == $d and .attached)] | length' <<<"$CLI_OUT" 2>/dev/null)" \
	1 "status shows it attached once"
cli detach "$dev"
is "$CLI_RC" 0 "detach works"
live && is "$(ip -n "$NS_RX" -d link show "$dev" | grep -c xdp)" 0 "no XDP program is left on the interface"
live || skip "no XDP program is left on the interface"

# --- one pin root, two network namespaces, the same interface name in each:
# each namespace's attachment is its own.
other=sluice-$ID-other
if live; then
	ip netns add "$other" && T_NETNS+=("$other")
	for ns in "$NS_RX" "$other"; do
		ip -n "$ns" link show "$dev" &>/dev/null || ip -n "$ns" link add "$dev" type bridge
		ip -n "$ns" link set "$dev" up
	done
fi
in_other() { live || return 0; nsenter --net="/run/netns/$other" "$SLUICE" --pin-root "$PIN_ROOT" "$@"; }
attach_rx "$dev" --mode generic
rc_rx=$CLI_RC
T_ATTACHED+=("$other $PIN_ROOT $dev")
in_other attach "$dev" --mode generic >/dev/null
is "$rc_rx $?" "0 0" "the same interface name attaches in two namespaces under one pin root"
xdp_in() { live && ip -n "$1" -d link show "$dev" | grep -c 'prog/xdp'; }
is "$(xdp_in "$NS_RX") $(xdp_in "$other")" "1 1" "both namespaces have the program on $dev"
cli status --json
is "$(jq -c '[.attachments[] | select(.interface == "'"$dev"'") | .in_this_netns] | sort' <<<"$CLI_OUT" 2>/dev/null)" 	"[false,true]" "status tells this namespace's attachment from the other's"
cli attach "$dev" --mode native
is "$CLI_RC" 1 "attaching again in another mode is refused"
ok "$(grep -q "already attached to $dev in generic mode: detach it first" <<<"$CLI_ERR" && echo 1)" 	"with a clear error ($CLI_ERR)"
in_other detach "$dev" >/dev/null
is "$? $(xdp_in "$NS_RX") $(xdp_in "$other")" "0 1 0" 	"detaching in one namespace leaves the other namespace attached"
cli detach "$dev"
is "$CLI_RC $(xdp_in "$NS_RX")" "0 0" "and detaching in the other removes its own"

# --- deleting from a pin root with nothing in it creates nothing.
empty=$PIN_ROOT-empty
T_PIN_ROOTS+=("$empty")
for args in "limit del default" "allow del 198.18.0.1" "deny del 198.18.0.1"; do
	# shellcheck disable=SC2086
	cli --pin-root "$empty" $args
	ok "$( ((CLI_RC == 1)) && live && [[ ! -e $empty ]] && echo 1)" \
		"'$args' on an empty pin root fails and creates nothing ($CLI_ERR)"
done

# --- commands that change state wait for the pin root's lock: one holds it
# (flock(1) on the directory, as sluice takes it) and marks when it lets go.
if live && command -v flock >/dev/null; then
	flock "$PIN_ROOT" sh -c "sleep 1; touch '$T_DIR/released'" &
	holder=$!
	T_PIDS+=("$holder")
	sleep 0.2
	cli limit set default --rate 77 --burst 7
	ok "$( ((CLI_RC == 0)) && [[ -e $T_DIR/released ]] && echo 1)" \
		"limit set waits for another holder of the pin root's lock to finish"
	wait "$holder"
	forget_pid "$holder"

	# save reads the whole rule set under a shared lock: it waits out a
	# change (a restore half-way through) but not another reader.
	rm -f "$T_DIR/released"
	flock "$PIN_ROOT" sh -c "sleep 1; touch '$T_DIR/released'" &
	holder=$!
	T_PIDS+=("$holder")
	sleep 0.2
	cli save
	ok "$( ((CLI_RC == 0)) && [[ -e $T_DIR/released ]] && echo 1)" \
		"save waits for a change in progress to finish"
	wait "$holder"
	forget_pid "$holder"

	rm -f "$T_DIR/released"
	flock --shared "$PIN_ROOT" sh -c "sleep 1; touch '$T_DIR/released'" &
	holder=$!
	T_PIDS+=("$holder")
	sleep 0.2
	cli limit list
	ok "$( ((CLI_RC == 0)) && [[ ! -e $T_DIR/released ]] && echo 1)" \
		"limit list does not wait for another reader"
	wait "$holder"
	forget_pid "$holder"
else
	skip "limit set waits for another holder of the pin root's lock to finish" "flock not found"
	skip "save waits for a change in progress to finish" "flock not found"
	skip "limit list does not wait for another reader" "flock not found"
fi

# --- --max-sources sizes the bucket table of a new pin root, and only then.
sized=$PIN_ROOT-sized
T_PIN_ROOTS+=("$sized")
cli --pin-root "$sized" --max-sources 4096 limit set default --rate 10
cli --pin-root "$sized" status --json
is "$CLI_RC $(jq '.config.max_sources' <<<"$CLI_OUT" 2>/dev/null)" "0 4096" \
	"--max-sources 4096 on a new pin root makes a table of 4096 sources"
cli --pin-root "$sized" allow add 198.18.0.1
is "$CLI_RC" 0 "later commands without --max-sources keep the table"
cli --pin-root "$sized" --max-sources 8192 deny add 198.18.0.2
ok "$( ((CLI_RC == 1)) && grep -q "holds 4096 sources, not 8192" <<<"$CLI_ERR" && echo 1)" \
	"asking an existing pin root for another size fails clearly ($CLI_ERR)"
cli --pin-root "$sized" deny list --json
is "$(jq -c '.prefixes' <<<"$CLI_OUT" 2>/dev/null)" "[]" "and changes nothing"
cli --pin-root "$sized" --max-sources 100 limit list
ok "$( ((CLI_RC == 1)) && grep -q "invalid --max-sources '100': must be from 1024" <<<"$CLI_ERR" && echo 1)" \
	"a --max-sources out of range is refused ($CLI_ERR)"

# --- a pin root that is not a directory on bpffs.
cli --pin-root "$T_DIR" limit set default --rate 10
is "$CLI_RC" 1 "a pin root outside bpffs is refused"
ok "$(grep -q "^Error: .*not on a bpf filesystem" <<<"$CLI_ERR" && echo 1)" \
	"with a clear error ($CLI_ERR)"

finish
