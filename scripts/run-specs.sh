#!/bin/sh
# scripts/run-specs.sh - start the test peer on 127.0.0.1 and a TLS front
# for it, run the busted specs with the given oclua binary, stop both.
# Usage:
#   scripts/run-specs.sh ./oclua [busted options]
set -u
BIN=${1:-./oclua}
[ $# -gt 0 ] && shift
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d)
peer="" tls=""
cleanup() {
	[ -n "$tls" ] && kill "$tls" 2>/dev/null
	[ -n "$peer" ] && kill "$peer" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait until file $1 has a line matching $2 while process $3 runs;
# fails when it ends or after 5 s
wait_line() {
	i=0
	until grep -q "$2" "$1"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$3" 2>/dev/null; then
			return 1
		fi
		sleep 0.05
	done
}

build/oclua-testpeer >"$tmp/peer.out" &
peer=$!
if ! wait_line "$tmp/peer.out" '^PORT ' $peer; then
	echo "run-specs: the test peer did not start" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
OCLUA_TEST_PEER=127.0.0.1:$(sed -n 's/^PORT //p' "$tmp/peer.out")
export OCLUA_TEST_PEER

# The TLS front (spec/tls_spec.lua): a throwaway self-signed certificate
# for 127.0.0.1 and socat terminating TLS in front of the peer. socat
# cannot listen on port 0 and say which port it got: try random ones
# below the ephemeral range until one binds. What went wrong goes in
# OCLUA_TEST_TLS_ERROR, for the TLS specs to fail with.
tls_front() {
	for tool in openssl socat; do
		if ! command -v $tool >/dev/null; then
			tls_error="$tool is not installed (scripts/deps.sh installs it)"
			return 1
		fi
	done
	if ! openssl req -x509 -newkey rsa:2048 -nodes -days 1 \
	    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/openssl.log"
	then
		tls_error="openssl could not make a certificate: $(tail -n 1 "$tmp/openssl.log")"
		return 1
	fi
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		port=$(($(od -An -N2 -tu2 /dev/urandom) % 20000 + 10000))
		socat -d -d OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert="$tmp/cert.pem",key="$tmp/key.pem",verify=0 \
			TCP:$OCLUA_TEST_PEER 2>"$tmp/socat.log" &
		tls=$!
		if wait_line "$tmp/socat.log" 'listening on' $tls; then
			OCLUA_TEST_TLS_PEER=127.0.0.1:$port
			OCLUA_TEST_CA=$tmp/cert.pem
			export OCLUA_TEST_TLS_PEER OCLUA_TEST_CA
			return 0
		fi
		kill $tls 2>/dev/null
		tls=""
	done
	tls_error="socat did not start: $(grep ' E ' "$tmp/socat.log" | tail -n 1)"
	return 1
}
if ! tls_front; then
	echo "run-specs: no TLS front for the test peer: $tls_error" >&2
	OCLUA_TEST_TLS_ERROR=$tls_error
	export OCLUA_TEST_TLS_ERROR
fi

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
