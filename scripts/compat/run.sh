#!/bin/sh
# scripts/compat/run.sh - run the compatibility suite (suite.mjs, written
# with the official @opencomputer/sdk) against a fresh `oclua serve` on
# 127.0.0.1. Installs the pinned npm packages when missing or stale.
# Usage: scripts/compat/run.sh [oclua binary]   (make compat)
set -u
cd "$(dirname "$0")"
BIN=$(cd ../.. && pwd)/${1:-./oclua}
if ! command -v node >/dev/null 2>&1; then
	echo "compat: skipped, node not found (install Node.js 20 to run the official SDK's suite)"
	exit 0
fi
if [ ! -d node_modules/@opencomputer/sdk ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "compat: npm ci (the pinned @opencomputer/sdk and ws)"
	npm ci --no-audit --no-fund --loglevel=error || {
		echo "compat: npm ci failed"; echo "compat: 0 passed, 1 failed"; exit 1; }
fi
key=compat-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
log=$(mktemp)
OCLUA_SERVE_API_KEY=$key "$BIN" serve --listen 127.0.0.1:0 >"$log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -f "$log"' EXIT INT TERM
i=0
until grep -q 'listening on' "$log"; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 $srv 2>/dev/null; then
		echo "compat: the server did not start:"; cat "$log"
		echo "compat: 0 passed, 1 failed"; exit 1
	fi
	sleep 0.05
done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log")
echo "compat: official SDK $(node -p 'require("./node_modules/@opencomputer/sdk/package.json").version') on node $(node --version) against $url"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
OPENCOMPUTER_API_URL=$url OPENCOMPUTER_API_KEY=$key timeout 600 node suite.mjs
