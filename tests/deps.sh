#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Installs Sluice's Debian packages.
#   deps.sh install PKG...  installs them all (apt-get; refreshes the index if needed)
#   deps.sh check PKG...    installs only those that are missing
set -euo pipefail

mode=$1
shift

missing=()
for pkg in "$@"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$pkg")
done

[[ $mode == check && ${#missing[@]} -eq 0 ]] && exit 0
[[ $mode == install ]] && missing=("$@")

if [[ $(id -u) -ne 0 ]]; then
	echo "Error: installing ${missing[*]} needs root: run 'sudo make deps'" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}"; }
if ! apt_install >/dev/null; then
	apt-get update -q >/dev/null
	apt_install >/dev/null
fi
echo "deps: installed ${missing[*]}"
