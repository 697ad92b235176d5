-- scripts/bench/tti_split.lua - time to interactive split in its two
-- halves (issue 14, "Bursts"): Sandbox.create() and the first
-- exec.run('echo benchmark'), N in sequence or N at once, each half's
-- statistics in ms (JSON on stdout). For profiling where a burst spends
-- its time; make bench's figure is sdk.lua's `tti`.
--   oclua scripts/bench/tti_split.lua N seq|par
--   oclua scripts/bench/tti_split.lua N echo   N sandboxes made first, then
--                                              each one's first run at once
-- OPENCOMPUTER_API_URL / OPENCOMPUTER_API_KEY name the server.

local oc = require("opencomputer")
local cjson = require("cjson")

local function stats(ms)
  table.sort(ms)
  local function pct(p) return ms[math.max(1, math.ceil(#ms * p))] end
  return { n = #ms, median = pct(0.5), p99 = pct(0.99), min = ms[1],
    max = ms[#ms] }
end

local n, mode = tonumber(arg[1]) or 100, arg[2] or "par"
local create, run, total = {}, {}, {}
local function one()
  local t0 = oc.now()
  local sb <close> = oc.Sandbox.create()
  local t1 = oc.now()
  assert(sb.exec:run('echo "benchmark"').stdout == "benchmark\n")
  local t2 = oc.now()
  create[#create + 1] = (t1 - t0) * 1000
  run[#run + 1] = (t2 - t1) * 1000
  total[#total + 1] = (t2 - t0) * 1000
end
if mode == "echo" then
  local sbs, tasks = {}, {}
  for i = 1, n do sbs[i] = oc.Sandbox.create() end
  local t0 = oc.now()
  for i = 1, n do
    tasks[i] = oc.spawn(function()
      local t = oc.now()
      assert(sbs[i].exec:run('echo "benchmark"').stdout == "benchmark\n")
      run[#run + 1] = (oc.now() - t) * 1000
    end)
  end
  for i = 1, n do tasks[i]:wait() end
  local t1 = oc.now()
  for i = 1, n do sbs[i]:kill() end
  -- t0, t1: the burst on the monotonic clock (perf record -k
  -- CLOCK_MONOTONIC; perf report --time t0,t1)
  print(cjson.encode({ run = stats(run), all_ms = (t1 - t0) * 1000,
    t0 = t0, t1 = t1 }))
  return
elseif mode == "par" then
  local tasks = {}
  for i = 1, n do tasks[i] = oc.spawn(one) end
  for i = 1, n do tasks[i]:wait() end
else
  for _ = 1, n do one() end
end
print(cjson.encode({ create = stats(create), run = stats(run),
  total = stats(total) }))
