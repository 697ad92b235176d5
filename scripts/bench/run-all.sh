#!/bin/sh
# scripts/bench/run-all.sh - the runtime core benchmarks (make bench):
# cold start against lua5.4 and node, sequential HTTP round trips against
# a C libcurl loop, WebSocket stream throughput into a Lua callback, and
# RSS per idle WebSocket connection, all against a test peer on 127.0.0.1;
# and a 1 GiB streamed upload's RSS. Figures go to stdout and
# build/bench.txt (scripts/bench/compare.sh puts them in BENCHMARKS.md).
set -eu
cd "$(dirname "$0")/../.."
sh scripts/deps.sh hyperfine lua5.4
OCLUA=./oclua
N_HTTP=${N_HTTP:-20000}
WS_MIB=${WS_MIB:-256}
N_IDLE=${N_IDLE:-1000}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cc -O2 -o build/http_floor scripts/bench/http_floor.c \
	$(pkg-config --cflags --libs libcurl)

out=$(mktemp)
build/oclua-testpeer >"$out" &
peer=$!
trap 'kill $peer 2>/dev/null; rm -f "$out"' EXIT INT TERM
until grep -q '^PORT ' "$out"; do sleep 0.05; done
addr=127.0.0.1:$(sed -n 's/^PORT //p' "$out")
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

{
echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
echo
echo "== cold start (hyperfine, median)"
if command -v node >/dev/null; then NODE="node -e ''"; else NODE=""; fi
hyperfine -N --warmup 20 --runs 200 --style basic \
	--export-json build/coldstart.json \
	"$OCLUA -e ''" "lua5.4 -e ''" ${NODE:+"$NODE"} 2>&1 | grep -v '^ *$'
lua5.4 -e '
local f = io.open("build/coldstart.json"):read("a")
for cmd, med in f:gmatch("\"command\": \"([^\"]+)\".-\"median\": ([%d.e-]+)") do
  print(string.format("  median %-16s %.2f ms", cmd, tonumber(med) * 1000))
end'
echo
echo "== sequential keep-alive HTTP GETs ($N_HTTP, same peer)"
floor=$(build/http_floor "http://$addr/status/200" "$N_HTTP")
lua=$($OCLUA scripts/bench/http_seq.lua "http://$addr/status/200" "$N_HTTP")
echo "  C libcurl easy loop (floor): $floor"
echo "  oclua Lua loop:              $lua"
echo "$floor $lua" | awk '{ printf "  ratio oclua time / floor time: %.2fx\n", $11 / $4 }'
echo
echo "== WebSocket stream into a Lua callback ($WS_MIB MiB)"
$OCLUA scripts/bench/ws_stream.lua "ws://$addr" "$WS_MIB" | sed 's/^/  /'
echo
echo "== idle WebSocket connections"
$OCLUA scripts/bench/ws_idle.lua "ws://$addr" "$N_IDLE" | sed 's/^/  /'
echo
echo "== files:write of 1 GiB from a chunk function (embedded server)"
$OCLUA scripts/bench/upload_rss.lua | head -1 | sed 's/^/  /'
} | tee build/bench.txt
