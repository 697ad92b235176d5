#!/bin/sh
# scripts/compat/run.sh - run the compatibility suite (suite.mjs, written
# with the official @opencomputer/sdk) against a fresh `oclua serve` on
# 127.0.0.1. Installs the pinned npm packages when missing or stale. Builds
# nothing: the Makefile builds the binary first.
# Usage: scripts/compat/run.sh [oclua binary]   (make compat; make test)
# Exit status: the suite's (0 when every check passed); 0 with a message
# when Node.js is not installed.
set -u
if ! command -v node >/dev/null 2>&1; then
	echo "compat: skipped, node not found; install Node 20 to run it"
	exit 0
fi
cd "$(dirname "$0")" || exit 1
# a relative binary is relative to the repository's root (make's directory)
case ${1:-./oclua} in
/*) BIN=$1 ;;
*) BIN=$(cd ../.. && pwd)/${1:-./oclua} ;;
esac
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ] 2>/dev/null; then
	echo "compat: note: node $(node --version) found; the suite is meant for Node 20 or later"
fi
if [ ! -f node_modules/@opencomputer/sdk/package.json ] ||
   [ ! -f node_modules/ws/package.json ] ||
   [ ! -f node_modules/.package-lock.json ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ package.json -nt node_modules/.package-lock.json ]; then
	echo "compat: npm ci (the pinned @opencomputer/sdk and ws)"
	if ! npm ci --no-audit --no-fund --loglevel=error; then
		echo "compat: npm ci failed"
		echo "compat: 0 passed, 1 failed"
		exit 1
	fi
fi
if [ ! -x "$BIN" ]; then
	echo "compat: $BIN not found (make oclua first)"
	echo "compat: 0 passed, 1 failed"
	exit 1
fi

key=compat-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
log=$(mktemp)
out=$(mktemp)
srv= suite= follow=
stop() {
	for p in $suite $follow $srv; do kill "$p" 2>/dev/null; done
	[ -z "$srv" ] || wait "$srv" 2>/dev/null
	rm -f "$log" "$out"
}
trap 'stop' EXIT
trap 'exit 130' INT TERM
# the key through the environment, so that it is not on a command line;
# --exit-with-parent: the server goes with this script, whatever ends it
OCLUA_SERVE_API_KEY=$key "$BIN" serve --listen 127.0.0.1:0 --exit-with-parent \
	>"$log" 2>&1 &
srv=$!
i=0
until grep -q 'listening on' "$log"; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$srv" 2>/dev/null; then
		echo "compat: the server did not start:"
		cat "$log"
		echo "compat: 0 passed, 1 failed"
		exit 1
	fi
	sleep 0.05
done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log")
echo "compat: official SDK $(node -p 'require("./node_modules/@opencomputer/sdk/package.json").version')" \
	"on node $(node --version) against oclua serve at $url"
# keep proxies away from loopback traffic
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
# the suite in the background, its output shown as it comes: `wait` lets
# a signal to this script through at once (a foreground job would not)
OPENCOMPUTER_API_URL=$url OPENCOMPUTER_API_KEY=$key OCLUA_BIN=$BIN \
	timeout 600 node suite.mjs >"$out" 2>&1 &
suite=$!
tail -n +1 -s 0.2 -f --pid="$suite" "$out" &
follow=$!
wait "$suite"
rc=$?
suite=
wait "$follow"
follow=
if [ "$rc" -eq 124 ]; then
	echo "compat: the suite did not end within 600 s"
fi
# a suite that died before its closing line still gets one
if ! grep -q '^compat: [0-9]* passed, [0-9]* failed' "$out"; then
	[ "$rc" -ne 0 ] || rc=1
	echo "compat: 0 passed, 1 failed"
fi
exit "$rc"
