#!/bin/sh
# scripts/run-specs.sh - start the test peer on 127.0.0.1, run the busted
# specs with the given oclua binary, stop the peer. Usage:
#   scripts/run-specs.sh ./oclua [busted options]
set -u
BIN=${1:-./oclua}
[ $# -gt 0 ] && shift
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

out=$(mktemp)
build/oclua-testpeer >"$out" &
peer=$!
trap 'kill $peer 2>/dev/null; rm -f "$out"' EXIT INT TERM
i=0
until grep -q '^PORT ' "$out"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $peer 2>/dev/null; then
		echo "run-specs: the test peer did not start" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	sleep 0.05
done
OCLUA_TEST_PEER=127.0.0.1:$(sed -n 's/^PORT //p' "$out")
export OCLUA_TEST_PEER
# keep proxies away from loopback traffic
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
OCLUA_BIN=$BIN; export OCLUA_BIN
# a spec that leaves something open keeps the runtime from ending: say so
# rather than hang a CI run
timeout "${OCLUA_SPEC_TIMEOUT:-1800}" "$BIN" spec/run.lua "$@"
rc=$?
if [ $rc -eq 124 ]; then
	echo "run-specs: the run did not end within ${OCLUA_SPEC_TIMEOUT:-1800} s" \
		"(a spec left a task, timer or connection open?)" >&2
fi
exit $rc
