#!/bin/sh
# scripts/test-all.sh - `make test`: the busted specs (scripts/run-specs.sh)
# and then the official SDK's compatibility suite (scripts/compat/run.sh),
# each printing its own "N passed, N failed", then a closing line that sums
# them. Fails when either part fails.
set -u
BIN=${1:-./oclua}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
{ sh scripts/run-specs.sh "$BIN"; echo $? >"$tmp/specs"; } | tee "$tmp/log"
echo
{ sh scripts/compat/run.sh "$BIN"; echo $? >"$tmp/compat"; } | tee -a "$tmp/log"
# the failures again, last, where the tail of a CI log shows them
grep '^FAILED ' "$tmp/log" | sed 's/^/  /'
awk '/^(compat: )?[0-9]+ passed, [0-9]+ failed/ {
	sub(/^compat: /, ""); p += $1; f += $3
} END { printf "\ntotal: %d passed, %d failed\n", p, f }' "$tmp/log"
[ "$(cat "$tmp/specs")" = 0 ] && [ "$(cat "$tmp/compat")" = 0 ]
