-- scripts/bench/report.lua - turns the figures of scripts/bench/compare.sh
-- (build/bench/*.json) into BENCHMARKS.md and the data of the chart
-- (build/bench/chart.dat, drawn by scripts/bench/chart.gp): oclua, the
-- official TypeScript SDK on Node and, when compare.sh found it, the
-- official Python SDK, each set against the machine's floors (floor.c).
-- Usage: oclua scripts/bench/report.lua DIR N_RUN N_TTI STREAM_MIB N_FAN FAN_KIB

local cjson = require("cjson")
local dir, N_RUN, N_TTI, STREAM_MIB, N_FAN, FAN_KIB = table.unpack(arg, 1, 6)

local function slurp(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end
local function json(name) return cjson.decode(slurp(dir .. "/" .. name)) end
-- the figures of NAME, or nil when compare.sh did not run it (the Python
-- SDK's, when its folder is absent)
local function json_or_nil(name)
  local f = io.open(dir .. "/" .. name)
  if not f then return nil end
  f:close()
  return json(name)
end
local function sh(cmd)
  local p = io.popen(cmd)
  local s = p:read("a"):gsub("%s+$", "")
  p:close()
  return s
end

local R = {}
for _, w in ipairs({ "run", "tti_seq", "tti_par", "stream", "fanout" }) do
  R[w] = { oclua = json(w .. ".oclua.json"), node = json(w .. ".node.json"),
    python = json_or_nil(w .. ".python.json") }
end
local PY = R.run.python ~= nil	-- the Python SDK's column was measured
R.run.floor = json("run.floor.json")
for _, who in ipairs({ "oclua", "node", "python" }) do
  local f = io.open(dir .. "/fanout." .. who .. ".rss")
  if f and R.fanout[who] then R.fanout[who].rss_kib = tonumber(f:read("a")) end
  if f then f:close() end
end
R.stream.server = json_or_nil("stream.server.json")	-- the C reader's
local cold = json("cold.json").results
local F = json("floor.json")
local MIB = 1048576

-- ComputeSDK's composite: each of median / P95 / P99 scored against a
-- 10 s ceiling, weighted 60 / 25 / 15, times the success rate
local function score(t)
  local function s(ms) return math.max(0, 100 * (1 - ms / 10000)) end
  return t.success * (0.6 * s(t.median) + 0.25 * s(t.p95) + 0.15 * s(t.p99))
end

local function ms(v) return string.format("%.2f ms", v) end
local function x(v) return string.format("%.2fx", v) end
local function met(ok) return ok and "met" or "**missed**" end
local NO_PY = "not run"	-- the head of BENCHMARKS.md says why
-- FMT of V, or the reason the Python SDK has no figure
local function pyf(fmt, v)
  if v == nil then return NO_PY end
  return string.format(fmt, v)
end

-- The clients' figures for the tables and the chart: per workload, each
-- client's value and whether lower is better. `adv(row, who)` is how many
-- times better oclua does than WHO (> 1: oclua ahead).
local fo, fn, fp = R.fanout.oclua, R.fanout.node, R.fanout.python
local function agg(f) return f and f.bytes / MIB / f.seconds end	-- MiB/s
local cold_o, cold_n, cold_p = cold[1], cold[2], cold[3]
local function field(t, k) return t and t[k] end
local rows = {
  { key = "run", chart = "exec.run x" .. N_RUN, lower = true,
    label = string.format("exec.run(\"true\") x %s in sequence, total", N_RUN),
    fmt = "%.3f s", oclua = R.run.oclua.total_s, node = R.run.node.total_s,
    python = field(R.run.python, "total_s") },
  { key = "tti_seq", chart = "TTI sequential", lower = true,
    label = string.format("TTI, %s in sequence, median", N_TTI), fmt = "%.2f ms",
    oclua = R.tti_seq.oclua.median, node = R.tti_seq.node.median,
    python = field(R.tti_seq.python, "median") },
  { key = "tti_par", chart = "TTI " .. N_TTI .. " at once", lower = true,
    label = string.format("TTI, %s at once, median", N_TTI), fmt = "%.2f ms",
    oclua = R.tti_par.oclua.median, node = R.tti_par.node.median,
    python = field(R.tti_par.python, "median") },
  { key = "stream", chart = "stream MiB/s", lower = false,
    label = string.format("stdout stream (%s MiB) into a callback", STREAM_MIB),
    fmt = "%.0f MiB/s", oclua = R.stream.oclua.mib_per_s, node = R.stream.node.mib_per_s,
    python = field(R.stream.python, "mib_per_s") },
  { key = "fanout", chart = "fan-out wall", lower = true,
    label = string.format("fan-out %s sessions x %s KiB, wall", N_FAN, FAN_KIB),
    fmt = "%.2f s", oclua = fo.seconds, node = fn.seconds, python = field(fp, "seconds") },
  { key = "rss", chart = "fan-out RSS", lower = true,
    label = "... peak RSS of the client", fmt = "%.0f MiB",
    oclua = fo.rss_kib / 1024, node = fn.rss_kib / 1024,
    python = fp and fp.rss_kib and fp.rss_kib / 1024 },
  { key = "cold", chart = "cold start", lower = true,
    label = "cold start to a first request, median", fmt = "%.2f ms",
    oclua = cold_o.median * 1000, node = cold_n.median * 1000,
    python = cold_p and cold_p.median * 1000 },
}
local function adv(row, who)
  local v = row[who]
  if v == nil then return nil end
  return row.lower and v / row.oclua or row.oclua / v
end
local byk = {}
for _, r in ipairs(rows) do byk[r.key] = r end

local run_o, run_n, run_p, run_f = R.run.oclua, R.run.node, R.run.python, R.run.floor
local run_speedup = adv(byk.run, "node")
local run_floor = run_o.total_s / run_f.total_s
local str_ratio = adv(byk.stream, "node")
local rss_ratio = adv(byk.rss, "node")

local out = {}
local function w(...) out[#out + 1] = string.format(...) end

w("# Benchmarks: oclua, the official TypeScript SDK and the official Python SDK\n")
w("Generated by `make bench` (scripts/bench/compare.sh, after the runtime")
w("core benchmarks of scripts/bench/run-all.sh) on %s. The clients", os.date("!%Y-%m-%d"))
w("drive **one** `oclua serve` on 127.0.0.1 in the same run, one after")
w("another, so the server's share is the same for all and the ratios compare")
w("the clients. Figures from one run; medians and ratios, not single times.")
w("\"oclua vs X\" is how many times better oclua does than X (above 1: oclua")
w("ahead; for times X's / oclua's, for throughputs oclua's / X's).\n")
w("Machine: %s cores (%s), %s, Linux %s.  ", sh("nproc"),
  sh("sed -n 's/^model name\\s*: //p' /proc/cpuinfo | head -1"),
  sh("free -g | awk '/^Mem/ {print $2 \" GiB\"}'"), sh("uname -r"))
w("Clients: %s; Node %s with @opencomputer/sdk %s (ws %s as its WebSocket);",
  sh("./oclua --version"), sh("node --version"),
  sh("node -p 'require(\"./scripts/compat/node_modules/@opencomputer/sdk/package.json\").version'"),
  sh("node -p 'require(\"./scripts/compat/node_modules/ws/package.json\").version'"))
if PY then
  w("%s with the opencomputer Python SDK %s (httpx %s, websockets %s: Debian's,",
    sh("/usr/bin/python3 --version"), sh("PYTHONPATH=\"$PY_SDK\" /usr/bin/python3 -c 'import opencomputer; print(opencomputer.__version__)'"),
    sh("/usr/bin/python3 -c 'import httpx; print(httpx.__version__)'"),
    sh("/usr/bin/python3 -c 'import websockets; print(websockets.__version__)'"))
  w("older than the httpx >= 0.27 and websockets >= 12 its pyproject.toml asks")
  w("for; every call used here works with them).\n")
else
  w("the Python SDK was not run (no SDK at %s, compare.sh's PY_SDK).\n", os.getenv("PY_SDK") or "?")
end
local load = io.open(dir .. "/loadavg")
if load then
  w("Load average (1, 5, 15 minutes) as the run began: %s, on %s cores; other",
    load:read("l"), sh("nproc"))
  w("work on the machine slows every figure, the clients' and the floors' alike.\n")
  load:close()
end
w("![oclua against the TypeScript and Python SDKs](docs/benchmarks.png)\n")

w("## Summary\n")
w("| workload | oclua | TS SDK on Node | Python SDK | oclua vs TS SDK | oclua vs Python SDK | target |")
w("|---|---|---|---|---|---|---|")
-- the server's targets of issue 14 (bursts, fan-out): whatever the client
local par_p99 = R.tti_par.oclua.p99
local fan_mib = agg(fo)
local targets = {
  run = string.format(">= 3x TS: %s", met(run_speedup >= 3)),
  tti_seq = string.format("median <= 3 ms: %s", met(R.tti_seq.oclua.median <= 3)),
  tti_par = string.format("P99 <= 50 ms: %s (P99 %s)", met(par_p99 <= 50), ms(par_p99)),
  fanout = string.format(">= 400 MiB/s in all: %s (%.0f MiB/s)", met(fan_mib >= 400), fan_mib),
  stream = string.format(">= 1x TS: %s", met(str_ratio >= 1)),
  rss = string.format("oclua <= 1/3 of Node: %s", met(rss_ratio >= 3)),
}
for _, r in ipairs(rows) do
  local an, ap = adv(r, "node"), adv(r, "python")
  local less = r.key == "rss" and " less" or ""
  w("| %s | %s | %s | %s | %s%s | %s | %s |", r.label, string.format(r.fmt, r.oclua),
    string.format(r.fmt, r.node), pyf(r.fmt, r.python), x(an), less,
    ap and x(ap) .. less or NO_PY, targets[r.key] or "")
  if r.key == "run" then
    w("| ... against a C libcurl loop (floor) %.3f s | | | | oclua / floor %s | | <= 1.5x: %s |",
      run_f.total_s, x(run_floor), met(run_floor <= 1.5))
  end
end
w("\nHow far each is from what this machine can do at all: [Floors](#floors).\n")

w("## 1. exec.run(\"true\"), %s in sequence\n", N_RUN)
w("One sandbox, one warm-up call, then %s calls one after another.", N_RUN)
w("oclua's `sb.exec:run` and the Python SDK's `exec.run` are one `POST")
w("/exec/run`; the TS SDK's `exec.run` is `POST /exec/run-async`, answered")
w("inline (200 with the result) because `true` ends within the server's")
w("400 ms hold. The floor is the same `POST /exec/run` from a C libcurl")
w("easy loop (keep-alive, no event loop).\n")
w("| client | total | per call median | P95 | P99 |")
w("|---|---|---|---|---|")
w("| oclua | %.3f s | %s | %s | %s |", run_o.total_s, ms(run_o.median), ms(run_o.p95), ms(run_o.p99))
w("| TS SDK | %.3f s | %s | %s | %s |", run_n.total_s, ms(run_n.median), ms(run_n.p95), ms(run_n.p99))
if run_p then
  w("| Python SDK | %.3f s | %s | %s | %s |", run_p.total_s, ms(run_p.median), ms(run_p.p95), ms(run_p.p99))
else
  w("| Python SDK | %s | | | |", NO_PY)
end
w("| C libcurl loop | %.3f s | %s (mean) | | |", run_f.total_s, ms(run_f.total_s * 1000 / run_f.n))
w("\nTS SDK time / oclua time: **%s**; Python SDK time / oclua time: **%s**;",
  x(run_speedup), pyf("%.2fx", adv(byk.run, "python")))
w("oclua time / floor time: **%s**.", x(run_floor))
local fastest = math.min(run_o.total_s, run_n.total_s, run_p and run_p.total_s or math.huge)
if run_f.total_s > fastest then
  w("In this run the C loop took longer than a client doing more: the")
  w("machine's other load during its turn, not the server, set these figures;")
  w("the floor of the [Floors](#floors) section does not depend on it.")
elseif run_speedup < 3 then
  w("The 3x target is out of reach for any client on this server: the floor")
  w("itself takes %s per call (the server spawning `sh -c true` in the", ms(run_f.total_s * 1000 / run_f.n))
  w("sandbox and answering), and the TS SDK is only %s of the floor, so even", x(run_n.total_s / run_f.total_s))
  w("a client costing nothing would be %s faster than it. oclua adds %s per",
    x(run_n.total_s / run_f.total_s), ms((run_o.total_s - run_f.total_s) * 1000 / run_f.n))
  w("call over the floor; the TS SDK adds %s%s.", ms((run_n.total_s - run_f.total_s) * 1000 / run_f.n),
    run_p and string.format("; the Python SDK %s", ms((run_p.total_s - run_f.total_s) * 1000 / run_f.n)) or "")
end
w("")

local function tti_table(t, title)
  w("### %s\n", title)
  w("| client | median | P95 | P99 | min | max | success | ComputeSDK score |")
  w("|---|---|---|---|---|---|---|---|")
  for _, who in ipairs({ "oclua", "node", "python" }) do
    local r = t[who]
    local name = ({ oclua = "oclua", node = "TS SDK", python = "Python SDK" })[who]
    if r then
      w("| %s | %s | %s | %s | %s | %s | %.0f%% | %.1f |", name,
        ms(r.median), ms(r.p95), ms(r.p99), ms(r.min), ms(r.max), r.success * 100, score(r))
    else
      w("| %s | %s | | | | | | |", name, NO_PY)
    end
  end
  w("\nmedian ratio TS SDK / oclua: **%s**; Python SDK / oclua: **%s**\n",
    x(t.node.median / t.oclua.median), pyf("%.2fx", t.python and t.python.median / t.oclua.median))
end
w("## 2. Time to interactive\n")
w("`Sandbox.create()` to the result of `echo \"benchmark\"` (ComputeSDK's")
w("method; teardown not counted). Score: each of median / P95 / P99 scored")
w("100 x (1 - t / 10 s), weighted 60 / 25 / 15, times the success rate.")
w("\"At once\" is one process each: oclua's tasks, Node's promises, and for")
w("the Python SDK `asyncio.gather` (the SDK is asyncio-only: httpx's")
w("AsyncClient and websockets, so threads would only add their own loops).")
if PY then
  w("The Python SDK's `Sandbox.create()` builds a new `httpx.AsyncClient` for")
  w("every sandbox, and httpx loads a TLS context with the CA bundle for each")
  w("client even for an `http://` URL (about 20 ms per client on this machine,")
  w("measured alone), so its time to interactive carries that cost.")
end
w("")
tti_table(R.tti_seq, N_TTI .. " in sequence")
tti_table(R.tti_par, N_TTI .. " at once")
w("The server runs with `--warm-pool %s` (README \"Warm pool\"): sandboxes", N_TTI)
w("of the default shape booted ahead of requests, so a create hands one out")
w("(a record written, a marker removed) instead of booting one; before each")
w("client's run the harness waits until `GET /readyz` says the pool is full")
w("again, so every client meets the same server.\n")
w("**Where the time goes** (issue 14; `perf record -a -g` over a burst of")
w("100 creates at once without the pool, and `strace -f -T` of one create,")
w("on this 2-core VM, 2026-12-01): a burst is CPU-bound, not serialized on")
w("the server's loop. Each create and its first command cost about 15 ms of")
w("CPU in all: slirp4netns starting about 4 ms (its loader alone 0.6 ms:")
w("every `cpuid` traps to the hypervisor here, 6.5 us each), init building")
w("the root (about 57 mounts, the user namespace, idmapped mounts) about")
w("4.5 ms, the server's own part (cgroups, the btrfs subvolume and quota,")
w("`clone` with five namespaces, the network one the dearest) about 3 ms,")
w("the first `sh` 1.2 ms; so 100 need about 0.75 s on two cores however")
w("they are split. The pool moves the boot ahead of the request. What it")
w("cannot move is the first command: 100 `sh -c 'echo benchmark'` started at")
w("once on this host, with no sandbox and no HTTP, take about 65 ms of wall")
w("time (more than half of `sh`'s CPU is glibc's start-up CPU detection,")
w("`intel_check_word`/`handle_intel`, trapping on `cpuid`), and the deletes")
w("of the sandboxes that finished first (unmounts, btrfs commit, cgroup")
w("removal) run beside the later ones: with the pool, the burst's profile is")
w("the server 21%% (mostly those deletes), `sh` 19.5%%, init 15%% (its mounts")
w("torn down), slirp4netns 11%% (exiting), the client 9%%, idle 11%%. The")
w("50 ms P99 is below that floor on this machine.\n")

w("## 3. Streaming into a callback\n")
w("`head -c %s MiB /dev/zero` in a session; the callback counts bytes.\n", STREAM_MIB)
w("| client | MiB/s | seconds |")
w("|---|---|---|")
w("| oclua | %.0f | %.2f |", R.stream.oclua.mib_per_s, R.stream.oclua.seconds)
w("| TS SDK | %.0f | %.2f |", R.stream.node.mib_per_s, R.stream.node.seconds)
if R.stream.python then
  w("| Python SDK | %.0f | %.2f |", R.stream.python.mib_per_s, R.stream.python.seconds)
else
  w("| Python SDK | %s | |", NO_PY)
end
if R.stream.server then
  w("| the server alone: a C client that only counts, best of 3 | %.0f | %.2f |",
    R.stream.server.mib_per_s, R.stream.server.seconds)
end
w("\noclua / TS SDK: **%s**; oclua / Python SDK: **%s**.%s\n", x(str_ratio),
  pyf("%.2fx", adv(byk.stream, "python")), str_ratio < 1 and
  " oclua is behind here: profile the client (`perf record -g ./oclua"
  .. " scripts/bench/sdk.lua stream N` against `oclua serve`); the server's"
  .. " side is the line 'the server alone' above." or "")

w("## 4. Fan-out from one client process\n")
w("%s sessions at once, spread over %d sandboxes, each printing `i\\n`", N_FAN,
  math.ceil(tonumber(N_FAN) / 10))
w("(its own number) for %s KiB; every chunk is compared with where it", FAN_KIB)
w("falls in its session's pattern, so a lost, repeated or misdelivered")
w("byte would count as a wrong chunk. Peak RSS by `/usr/bin/time -f %%M`.\n")
w("| client | wall | MiB/s in all | peak RSS | bytes delivered | expected | wrong chunks |")
w("|---|---|---|---|---|---|---|")
for _, who in ipairs({ "oclua", "node", "python" }) do
  local f = R.fanout[who]
  local name = ({ oclua = "oclua", node = "TS SDK", python = "Python SDK" })[who]
  if f then
    w("| %s | %.2f s | %.0f | %.0f MiB | %d | %d | %d |", name, f.seconds, agg(f),
      f.rss_kib / 1024, f.bytes, f.expected, f.wrong_chunks)
  else
    w("| %s | %s | | | | | |", name, NO_PY)
  end
end
w("\nNode's peak RSS / oclua's: **%s**; the Python SDK's / oclua's: **%s**.\n",
  x(rss_ratio), pyf("%.2fx", adv(byk.rss, "python")))
w("**Where the time goes** (issue 14; `perf record -g` of the server and of")
w("the client, `strace -c`, 2026-12-01): the run is bound by the processes")
w("it starts. 1000 x (`sh`, `yes`, `head`) cost about 3.3 s of CPU on this")
w("host by themselves (about 0.95 ms per exec, 45%% of it glibc's start-up")
w("CPU detection trapping on `cpuid`; the same 1000 commands run by")
w("`xargs -P100` on the host, output discarded, take 2.0 to 3.6 s of wall")
w("time), the 1 GiB through their pipes 0.5 s, and through loopback TCP")
w("0.83 s: about 4.6 s of CPU before any server or client code, 2.3 s of")
w("wall on two idle cores, about 430 MiB/s. The 1000 session starts alone")
w("(1000 x 1 KiB) take about 2.1 s. The server now reads each pipe into")
w("the chunk it sends and writes frames from the Lua string (one copy of")
w("each byte where there were three), the client splits the stream byte off")
w("in C; what is left of their user-space work is about 1.5 s of CPU each")
w("(client: mostly Lua's garbage collector). 400 MiB/s would leave them")
w("0.4 s between them, so it is out of reach on this machine for this")
w("workload; the per-byte path (section 3) is not what limits it.\n")

w("## 5. Cold start to a first request\n")
w("`oclua -e`, `node -e` and `python3 -c` each make one GET /health with the")
w("HTTP client their SDK uses (oclua's, Node's fetch, httpx), hyperfine,")
w("50 runs.\n")
w("| command | median | mean |")
w("|---|---|---|")
for _, r in ipairs(cold) do
  w("| `%s` | %s | %s |", r.command:gsub("|", "\\|"), ms(r.median * 1000), ms(r.mean * 1000))
end
w("\nnode / oclua: **%s**; python / oclua: **%s**.\n", x(cold_n.median / cold_o.median),
  pyf("%.2fx", cold_p and cold_p.median / cold_o.median))

-- the floors: per workload, the least this machine could take, and each
-- client's distance from it (its time / the floor's, or the floor's
-- throughput / its own); the server's where a client-free figure exists
w("## Floors\n")
w("What this machine can do at all, with no server, client or sandbox")
w("(scripts/bench/floor.c, run before the server starts; times are the round")
w("of 3 with the lowest median, throughputs the best of 3 runs on every CPU")
w("and 3 on one CPU (a chain of processes handing bytes on is fastest on one")
w("CPU of this VM, where waking the other costs an interrupt), with %d KiB", F.chunk // 1024)
w("reads and writes as a session's):\n")
local spawn_sh, spawn_true = F.spawn_sh_us.median / 1000, F.spawn_true_us.median / 1000
local ns = F.ns_spawn_us and F.ns_spawn_us.median / 1000
w("| floor | figure |")
w("|---|---|")
w("| fork + exec + wait of `/bin/true`, median of %d | %s |", F.spawn_true_us.n, ms(spawn_true))
w("| fork + exec + wait of `/bin/sh -c true` (dash: `true` is its builtin), median of %d | %s |",
  F.spawn_sh_us.n, ms(spawn_sh))
if ns then
  w("| clone into new mount, PID, net, UTS, IPC namespaces + exec `/bin/true` + wait, median of %d | %s |",
    F.ns_spawn_us.n, ms(ns))
end
w("| pipe, one writer -> one reader | %.0f MiB/s |", F.pipe_mib_s)
w("| writer -> pipe -> relay process -> TCP 127.0.0.1 -> reader | %.0f MiB/s |", F.relay_mib_s)
w("| the same, %d relays at once, added up | %.0f MiB/s |", F.cores, F.relay_par_mib_s)
w("| memcpy, 256 MiB to 256 MiB | %.0f MiB/s |", F.memcpy_mib_s)
w("")
w("Each workload's floor, and how many times the floor each takes (1.00x")
w("would be the machine's limit). The server's figure is client-free where")
w("one was measured (the C libcurl loop of section 1, the C reader of")
w("section 3); elsewhere every")
w("client's figure includes the server's, so the server is at most as far")
w("from the floor as the best client.\n")
local tti_floor = (ns or 0) + spawn_sh
local par_floor = tonumber(N_TTI) / 2 * tti_floor / F.cores
local function dist(v, floor, lower)	-- times the floor
  if v == nil then return NO_PY end
  return x(lower and v / floor or floor / v)
end
w("| workload | floor | oclua | TS SDK | Python SDK | server |")
w("|---|---|---|---|---|---|")
local function per_call(r) return r and r.total_s * 1000 / (r.n or N_RUN) end
w("| exec.run(\"true\"), per call (mean) | %s: fork+exec+wait of `sh -c true` | %s | %s | %s | %s (C libcurl loop) |",
  ms(spawn_sh), dist(per_call(run_o), spawn_sh, true), dist(per_call(run_n), spawn_sh, true),
  dist(per_call(run_p), spawn_sh, true), dist(run_f.total_s * 1000 / run_f.n, spawn_sh, true))
w("| TTI in sequence, median | %s: namespaces + exec, then `sh -c echo` | %s | %s | %s | <= best client |",
  ms(tti_floor), dist(R.tti_seq.oclua.median, tti_floor, true),
  dist(R.tti_seq.node.median, tti_floor, true), dist(field(R.tti_seq.python, "median"), tti_floor, true))
w("| TTI %s at once, median | %s: %s/2 x the above / %d cores | %s | %s | %s | <= best client |",
  N_TTI, ms(par_floor), N_TTI, F.cores, dist(R.tti_par.oclua.median, par_floor, true),
  dist(R.tti_par.node.median, par_floor, true), dist(field(R.tti_par.python, "median"), par_floor, true))
w("| stream into a callback | %.0f MiB/s: pipe -> relay -> TCP | %s | %s | %s | %s |",
  F.relay_mib_s, dist(R.stream.oclua.mib_per_s, F.relay_mib_s), dist(R.stream.node.mib_per_s, F.relay_mib_s),
  dist(field(R.stream.python, "mib_per_s"), F.relay_mib_s),
  R.stream.server and dist(R.stream.server.mib_per_s, F.relay_mib_s) .. " (C reader)" or "<= best client")
-- fan-out: each session's command (`sh -c 'yes i | head -c N'`: the
-- shell and two programs) started, then its bytes, N_FAN over the cores
local fan_mib = tonumber(N_FAN) * tonumber(FAN_KIB) / 1024
local fan_s = tonumber(N_FAN) * (spawn_sh + 2 * spawn_true) / 1000 / F.cores
  + fan_mib / F.relay_par_mib_s
local fan_floor = fan_mib / fan_s
w("| fan-out, MiB/s in all | %.0f MiB/s: %s sessions' `sh`, `yes`, `head` (fork+exec+wait) / %d cores, then their bytes at %d relays at once | %s | %s | %s | <= best client |",
  fan_floor, N_FAN, F.cores, F.cores, dist(agg(fo), fan_floor), dist(agg(fn), fan_floor),
  dist(agg(fp), fan_floor))
w("| cold start to a first request | %s: fork+exec+wait of `true` | %s | %s | %s | |",
  ms(spawn_true), dist(cold_o.median * 1000, spawn_true, true),
  dist(cold_n.median * 1000, spawn_true, true), dist(cold_p and cold_p.median * 1000, spawn_true, true))
w("")
w("Why these floors: a command run in a sandbox is at least a fork, an exec")
w("and a wait (the server's `sh -c` for exec.run); a sandbox is at least its")
w("namespaces and its init's exec (cgroups, the disk and the network come on")
w("top); N sandboxes at once on %d cores cannot finish faster than N x one", F.cores)
w("/ cores, so the median one not before half of that. A stream's bytes")
w("cross at least a pipe (the command's stdout), a process reading it (the")
w("server) and a loopback socket to another (the client): the relay chain")
w("is that path with nothing else done, four copies per byte in the kernel")
w("(memcpy / 4 = %.0f MiB/s is the ceiling of those copies alone). Fan-out", F.memcpy_mib_s / 4)
w("is the same path for many sessions: %d chains at once keep both cores", F.cores)
w("busy, so their sum is the machine's aggregate; more chains only share")
w("the same cores. Each fan-out session also starts its command, a shell")
w("and two programs, and %s of them on %d cores are most of that floor.\n", N_FAN, F.cores)
local ck = { take = json("ckpt.take.json"), fork1 = json("ckpt.fork1.json"),
  fork1024 = json("ckpt.fork1024.json"), disk = json("ckpt.disk.json") }
local fork_ratio = ck.fork1024.fork_to_echo_ms.median / ck.fork1.fork_to_echo_ms.median
local mib = 1048576
w("## 6. Checkpoints, restores and forks\n")
w("scripts/bench/checkpoint.lua through the SDK, against an `oclua serve")
w("--data-dir` (btrfs: a checkpoint is a read-only snapshot of the sandbox's")
w("subvolume, taken with the sandbox frozen; a fork is a writable snapshot of")
w("it). oclua only: the figures stand against the targets of issue 11.\n")
w("| workload | median | P95 | target |")
w("|---|---|---|---|")
w("| checkpoint (create -> ready), %d MiB in %d files, %d times | %s | %s | <= 500 ms: %s |",
  ck.take.mib, ck.take.files, ck.take.checkpoint_ms.n, ms(ck.take.checkpoint_ms.median),
  ms(ck.take.checkpoint_ms.p95), met(ck.take.checkpoint_ms.median <= 500))
w("| restore (restore -> next command's result), same sandbox | %s | %s | <= 500 ms: %s |",
  ms(ck.take.restore_ms.median), ms(ck.take.restore_ms.p95), met(ck.take.restore_ms.median <= 500))
w("| fork -> first `echo`, %d MiB checkpoint, %d forks | %s | %s | <= 20 ms: %s |",
  ck.fork1.mib, ck.fork1.fork_to_echo_ms.n, ms(ck.fork1.fork_to_echo_ms.median),
  ms(ck.fork1.fork_to_echo_ms.p95), met(ck.fork1.fork_to_echo_ms.median <= 20))
w("| fork -> first `echo`, %d MiB checkpoint, %d forks | %s | %s | within 1.5x of 1 MiB: %s (%s) |",
  ck.fork1024.mib, ck.fork1024.fork_to_echo_ms.n, ms(ck.fork1024.fork_to_echo_ms.median),
  ms(ck.fork1024.fork_to_echo_ms.p95), met(fork_ratio <= 1.5), x(fork_ratio))
w("")
w("Disk: a %d MiB, %d-file checkpoint took %.1f MiB of the file system with its",
  ck.disk.mib, ck.disk.files, ck.disk.checkpoint_bytes / mib)
w("sandbox; %d forks of it took **%.2f MiB** more in all (%.4fx the checkpoint's",
  ck.disk.forks, ck.disk.forks_bytes / mib, ck.disk.forks_bytes / (ck.disk.mib * mib))
w("size; 20 copies would be %dx). `df` of the btrfs after `sync`.\n", ck.disk.forks)

local pty, pv = json("pty.json"), json("preview.json")
w("## 7. Terminals and preview URLs\n")
w("A terminal's round trip (scripts/bench/pty.lua, %d keys): a key sent on", pty.prompt.n)
w("`sb.pty` until its echo comes back, at bash's prompt (readline echoes it)")
w("and under `cat` (the kernel's line discipline echoes it).\n")
w("| where the echo comes from | median | P95 |")
w("|---|---|---|")
w("| bash prompt | %s | %s |", ms(pty.prompt.median), ms(pty.prompt.p95))
w("| `cat` running | %s | %s |", ms(pty.cat.median), ms(pty.cat.p95))
w("")
w("The preview proxy (scripts/bench/preview.lua): curl moving %d MiB each way,", pv.mib)
w("median of %d, through `http://<id>-p3000.localhost:<port>/` (httpd, then the", pv.runs)
w("tunnel into the sandbox's network namespace) against curl inside the sandbox")
w("to the same app directly.\n")
w("| | direct | through the proxy | proxy / direct |")
w("|---|---|---|---|")
w("| download | %.0f MiB/s | %.0f MiB/s | %.0f%% |", pv.direct_down_mibs, pv.proxy_down_mibs,
  100 * pv.proxy_down_mibs / pv.direct_down_mibs)
w("| upload | %.0f MiB/s | %.0f MiB/s | %.0f%% |", pv.direct_up_mibs, pv.proxy_up_mibs,
  100 * pv.proxy_up_mibs / pv.direct_up_mibs)
w("\nThe server spent %.2f s of CPU per GiB through the proxy; its peak RSS was %.0f MiB.\n",
  pv.server_cpu_s_per_gib, pv.server_peak_rss_kib / 1024)

w("## Runtime core (scripts/bench/run-all.sh, same run)\n")
local f = io.open("build/bench.txt")
if f then
  w("```\n%s```\n", f:read("a"))
  f:close()
end

w("## Commands\n")
w("```sh\nmake bench      # scripts/bench/run-all.sh, then scripts/bench/compare.sh\n")
w("N_RUN=%s N_TTI=%s STREAM_MIB=%s N_FAN=%s FAN_KIB=%s sh scripts/bench/compare.sh",
  N_RUN, N_TTI, STREAM_MIB, N_FAN, FAN_KIB)
w("PY_SDK=/path/to/opencomputer-python sh scripts/bench/compare.sh   # the Python SDK's folder")
w("./oclua scripts/bench/sdk.lua run|tti|stream|fanout ...     # one workload, oclua")
w("./oclua scripts/bench/checkpoint.lua take|fork|disk ...     # checkpoints (section 6)")
w("./oclua scripts/bench/pty.lua [N]; ./oclua scripts/bench/preview.lua [MIB [RUNS]]  # section 7")
w("node scripts/bench/node/sdk.mjs run|tti|stream|fanout ...  # the same, TS SDK")
w("PYTHONPATH=$PY_SDK /usr/bin/python3 scripts/bench/python/sdk.py run|tti|stream|fanout ...  # Python SDK")
w("build/floor MIB                                            # the floors\n```")

local md = assert(io.open("BENCHMARKS.md", "w"))
md:write(table.concat(out, "\n"), "\n")
md:close()

-- the chart: how many times better oclua is than each peer, per workload
-- (1 = a tie; "?" where the Python SDK was not run)
local dat = assert(io.open(dir .. "/chart.dat", "w"))
local lo, hi = 1, 1
for i, r in ipairs(rows) do
  local an, ap = adv(r, "node"), adv(r, "python")
  lo, hi = math.min(lo, an, ap or 1), math.max(hi, an, ap or 1)
  dat:write(string.format("%d \"%s\" %.3f %s\n", i - 1, r.chart, an,
    ap and string.format("%.3f", ap) or "?"))
end
dat:close()
-- the y range, in powers of 2 around the bars (a log scale has no 0 for
-- a bar to start from, so the lowest bar must stay above the bottom)
local ranges = assert(io.open(dir .. "/chart.range", "w"))
ranges:write(string.format("set yrange [%g:%g]\n", 2.0 ^ math.floor(math.log(lo, 2) - 0.5),
  2.0 ^ math.ceil(math.log(hi, 2) + 0.5)))
ranges:close()
