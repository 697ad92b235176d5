#!/bin/sh
# scripts/bench/compare.sh - oclua against the official TypeScript SDK on
# Node and the official Python SDK, same `oclua serve`, same run (make
# bench, after run-all.sh); the Python SDK is read from $PY_SDK (default:
# ../shared/peers/opencomputer-python beside the main checkout), a peer
# for measuring only, skipped with a message when that folder is absent:
#   0. the physical floors of this machine (scripts/bench/floor.c)
#   1. exec.run("true") x N_RUN in sequence, and a C libcurl loop of the
#      same POST /exec/run requests (the floor)
#   2. time to interactive, N_TTI in sequence and N_TTI at once
#   3. one command's stdout (STREAM_MIB) into a callback, and the same
#      stream read by a C client alone (stream_floor.c: the server's share)
#   4. N_FAN sessions at once, FAN_KIB each, from one client process:
#      wall time, the client's peak RSS, every chunk checked
#   5. cold start to a first request (hyperfine)
#   6. checkpoint, restore and fork (scripts/bench/checkpoint.lua; oclua
#      only), and the disk bytes of 20 forks; a terminal's round trip
#      (scripts/bench/pty.lua)
#   7. the preview proxy's throughput against a direct connection
#      (scripts/bench/preview.lua)
# Figures go to build/bench/*.json; scripts/bench/report.lua turns them into
# BENCHMARKS.md and docs/benchmarks.png (gnuplot).
set -eu
cd "$(dirname "$0")/../.."
N_RUN=${N_RUN:-1000}
N_TTI=${N_TTI:-100}
STREAM_MIB=${STREAM_MIB:-256}
N_FAN=${N_FAN:-1000}
FAN_KIB=${FAN_KIB:-1024}
FLOOR_MIB=${FLOOR_MIB:-1024}
# the main checkout's root (a worktree's own root otherwise has no
# ../shared beside it), or this directory outside git
main_root=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null) &&
	main_root=$(dirname "$main_root") || main_root=$PWD
PY_SDK=${PY_SDK:-$main_root/../shared/peers/opencomputer-python}
export PY_SDK	# report.lua names it and reads its version
OUT=build/bench
mkdir -p "$OUT" docs
rm -f "$OUT"/*.python.json "$OUT"/*.python.rss
# python3-httpx and python3-websockets: what the Python SDK needs (a peer
# in the comparison only; Debian's, so run by /usr/bin/python3)
sh scripts/deps.sh hyperfine gnuplot-nox python3-httpx python3-websockets
if [ -f "$PY_SDK/opencomputer/__init__.py" ]; then
	PY_SDK=$(cd "$PY_SDK" && pwd)
	python="env PYTHONPATH=$PY_SDK /usr/bin/python3 scripts/bench/python/sdk.py"
else
	echo "bench: $PY_SDK has no Python SDK (opencomputer/__init__.py):" \
		"the Python SDK's column is skipped (set PY_SDK to its folder)" >&2
	python=""
fi
if ! command -v node >/dev/null 2>&1; then
	echo "bench: node not found: the comparison with the TypeScript SDK needs Node.js 20" >&2
	exit 1
fi
[ -d scripts/compat/node_modules/@opencomputer/sdk ] ||
	(cd scripts/compat && npm ci --no-audit --no-fund --loglevel=error)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cc -O2 -o build/http_floor scripts/bench/http_floor.c \
	$(pkg-config --cflags --libs libcurl)
cc -O2 -Wall -Wextra -o build/floor scripts/bench/floor.c
cc -O2 -Wall -Wextra -o build/stream_floor scripts/bench/stream_floor.c

# the machine's load as the run begins (report.lua prints it: a busy
# machine slows every figure)
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg"

# 0. the floors, before the server starts (nothing else of ours running)
echo "bench: floors: spawns, a pipe, a relay, memcpy ($FLOOR_MIB MiB)" >&2
build/floor "$FLOOR_MIB" >"$OUT/floor.json"

key=bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
log=$(mktemp)
# a warm pool the size of the burst measured (README "Warm pool")
OCLUA_SERVE_API_KEY=$key ./oclua serve --listen 127.0.0.1:0 \
	--warm-pool "$N_TTI" >"$log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null || true; rm -f "$log"' EXIT INT TERM
until grep -q 'listening on' "$log"; do sleep 0.05; done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log")
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export OPENCOMPUTER_API_URL="$url" OPENCOMPUTER_API_KEY="$key"

step() { echo "bench: $*" >&2; }
# every client meets the same server: the warm pool full again (GET
# /readyz says ready = size; a minute at most)
pool_full() {
	i=0
	until curl -s -H "X-API-Key: $key" "$url/readyz" | grep -q '"ready":\([0-9]*\),"size":\1[,}]'; do
		i=$((i + 1))
		if [ $i -gt 600 ]; then
			echo "bench: the warm pool did not fill: $(curl -s -H "X-API-Key: $key" "$url/readyz")" >&2
			exit 1
		fi
		sleep 0.1
	done
}
both() {	# name, then the workload's arguments
	name=$1; shift
	pool_full
	step "$name: oclua"
	./oclua scripts/bench/sdk.lua "$@" >"$OUT/$name.oclua.json"
	pool_full
	step "$name: node + @opencomputer/sdk"
	node scripts/bench/node/sdk.mjs "$@" >"$OUT/$name.node.json"
	if [ -n "$python" ]; then
		pool_full
		step "$name: python3 + opencomputer"
		$python "$@" >"$OUT/$name.python.json"
	fi
}

# 1. exec.run round trips, and the floor: the same request from C
both run run "$N_RUN"
step "run: C libcurl loop (floor)"
id=$(curl -s -H "X-API-Key: $key" -H 'Content-Type: application/json' \
	-d '{"timeout":0}' "$url/api/sandboxes" | sed 's/.*"sandboxID":"\([^"]*\)".*/\1/')
build/http_floor "$url/api/sandboxes/$id/exec/run" 20 \
	'{"cmd":"sh","args":["-c","true"],"timeout":60}' \
	"X-API-Key: $key" 'Content-Type: application/json' >/dev/null
build/http_floor "$url/api/sandboxes/$id/exec/run" "$N_RUN" \
	'{"cmd":"sh","args":["-c","true"],"timeout":60}' \
	"X-API-Key: $key" 'Content-Type: application/json' |
	awk '{ printf "{\"n\":%d,\"total_s\":%s}\n", $1, $4 }' >"$OUT/run.floor.json"
curl -s -X DELETE -H "X-API-Key: $key" "$url/api/sandboxes/$id" >/dev/null

# 2. time to interactive
both tti_seq tti "$N_TTI" seq
both tti_par tti "$N_TTI" par

# 3. streaming into a callback, and the server alone: the same stream
# read by a C client that only counts (best of 3, as the floors)
both stream stream "$STREAM_MIB"
step "stream: the server alone (a C WebSocket reader, best of 3)"
id=$(curl -s -H "X-API-Key: $key" -H 'Content-Type: application/json' \
	-d '{"timeout":0}' "$url/api/sandboxes" | sed 's/.*"sandboxID":"\([^"]*\)".*/\1/')
for i in 1 2 3; do
	build/stream_floor 127.0.0.1 "${url##*:}" "$key" "$id" "$STREAM_MIB"
done | sort -t: -k4 -n | tail -1 >"$OUT/stream.server.json"
curl -s -X DELETE -H "X-API-Key: $key" "$url/api/sandboxes/$id" >/dev/null

# 4. fan-out, under /usr/bin/time for the client's peak RSS
for who in oclua node ${python:+python}; do
	step "fanout: $who ($N_FAN sessions x $FAN_KIB KiB)"
	case $who in
	oclua) cmd="./oclua scripts/bench/sdk.lua fanout $N_FAN $FAN_KIB" ;;
	node) cmd="node scripts/bench/node/sdk.mjs fanout $N_FAN $FAN_KIB" ;;
	python) cmd="$python fanout $N_FAN $FAN_KIB" ;;
	esac
	/usr/bin/time -f '%M' -o "$OUT/fanout.$who.rss" $cmd >"$OUT/fanout.$who.json"
done

# 5. cold start to a first request: the same tiny script in each, with
# the HTTP client its SDK uses (Python's: httpx)
step "cold start (hyperfine)"
set -- "./oclua -e \"assert(require('opencomputer.client.http').request('GET', '$url/health').status == 200)\"" \
	"node -e \"fetch('$url/health').then(r => { if (r.status !== 200) process.exit(1) })\""
[ -z "$python" ] ||
	set -- "$@" "/usr/bin/python3 -c \"import httpx; assert httpx.get('$url/health').status_code == 200\""
hyperfine -N --warmup 5 --runs 50 --style none \
	--export-json "$OUT/cold.json" "$@" >/dev/null

kill $srv 2>/dev/null || true

# 6. checkpoints, restores and forks (oclua only: figures against the
# issue's targets), on a server with a --data-dir so that its btrfs is
# seen from here for the bytes the forks cost
ck_dir=$(mktemp -d)
ck_log=$(mktemp)
# (no warm pool: its refills would add subvolumes while the disk is measured)
OCLUA_SERVE_API_KEY=$key ./oclua serve --listen 127.0.0.1:0 \
	--data-dir "$ck_dir" --disk-size 64 --warm-pool 0 >"$ck_log" 2>&1 &
ck_srv=$!
trap 'kill $srv $ck_srv 2>/dev/null || true; rm -f "$log" "$ck_log"' EXIT INT TERM
until grep -q 'listening on' "$ck_log"; do sleep 0.05; done
export OPENCOMPUTER_API_URL="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$ck_log")"
step "checkpoint: 100 MiB in 1000 files, 10 checkpoints and restores"
./oclua scripts/bench/checkpoint.lua take 100 1000 10 >"$OUT/ckpt.take.json"
for mib in 1 1024; do
	step "fork: a $mib MiB checkpoint, 20 forks to a first echo"
	./oclua scripts/bench/checkpoint.lua fork $mib 1000 20 >"$OUT/ckpt.fork$mib.json"
done
step "disk: a 100 MiB, 1000-file checkpoint forked 20 times"
./oclua scripts/bench/checkpoint.lua disk 100 1000 20 "$ck_dir/sandboxes" >"$OUT/ckpt.disk.json"
step "terminal: a key typed until its echo, 200 times"
./oclua scripts/bench/pty.lua 200 >"$OUT/pty.json"
kill $ck_srv; wait $ck_srv 2>/dev/null || true
umount "$ck_dir/sandboxes" 2>/dev/null || true
rm -rf "$ck_dir"

# 7. the preview proxy against a direct connection (a server of its own)
step "preview: 1024 MiB each way through the proxy and directly, 3 runs"
./oclua scripts/bench/preview.lua 1024 3 | tail -1 >"$OUT/preview.json"

step "report"
./oclua scripts/bench/report.lua "$OUT" "$N_RUN" "$N_TTI" "$STREAM_MIB" "$N_FAN" "$FAN_KIB"
gnuplot scripts/bench/chart.gp
step "wrote BENCHMARKS.md and docs/benchmarks.png"
