#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The README's command table agrees with the CLI's own command table:
# every command, subcommand and option the CLI has is documented, and the
# README documents no command the CLI lacks. Needs no root.
set -u
cd "$(dirname "$0")/../.." || exit 1

sluice=build/sluice
n=0 failures=0
ok() { n=$((n + 1)); if eval "$1"; then echo "ok $n - $2"; else echo "not ok $n - $2"; failures=$((failures + 1)); fi; }

if ! help=$($sluice help --json) || ! command -v jq >/dev/null; then
	echo "1..1"
	echo "not ok 1 - sluice help --json runs and jq is installed"
	exit 1
fi
rows=$(grep -E '^\| `sluice ' README.md)

while read -r name; do
	ok 'grep -qE "^\| \`sluice $name( |\`)" <<<"$rows"' "README documents 'sluice $name'"
	while read -r sub; do
		[[ -n $sub ]] || continue
		ok 'grep -E "^\| \`sluice $name " <<<"$rows" | grep -qwE "$sub"' \
			"README documents 'sluice $name $sub'"
	done < <(jq -r --arg c "$name" '.commands[] | select(.name == $c) | .subcommands[]?.name' <<<"$help")
done < <(jq -r '.commands[].name' <<<"$help")

while read -r option; do
	ok 'grep -qF -- "$option" README.md' "README documents option $option"
done < <(jq -r '.. | .usage? // empty' <<<"$help" | grep -oE -- '--[a-z0-9-]+' | sort -u)

while read -r documented; do
	ok 'jq -e --arg c "$documented" "any(.commands[]; .name == \$c)" <<<"$help" >/dev/null' \
		"'sluice $documented' in the README is a real command"
done < <(sed -nE 's/^\| `sluice ([a-z]+).*/\1/p' README.md | sort -u)

echo "1..$n"
((failures == 0))
