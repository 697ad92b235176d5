-- scripts/bench/sdk.lua - the oclua side of the SDK benchmarks (the Node
-- side is scripts/bench/node/sdk.mjs, the same workloads through the
-- official TypeScript SDK; scripts/bench/compare.sh runs both against one
-- `oclua serve`). Prints one JSON line of figures.
--
--   oclua scripts/bench/sdk.lua run N           N x exec.run("true"), in sequence
--   oclua scripts/bench/sdk.lua tti N seq|par   create -> first `echo benchmark`
--   oclua scripts/bench/sdk.lua stream MIB      one command's stdout into a callback
--   oclua scripts/bench/sdk.lua fanout N KIB    N sessions at once, KIB each
--
-- OPENCOMPUTER_API_URL / OPENCOMPUTER_API_KEY name the server.

local oc = require("opencomputer")
local cjson = require("cjson")

local function stats(ms)
  table.sort(ms)
  local function pct(p) return ms[math.max(1, math.ceil(#ms * p))] end
  local sum = 0
  for _, v in ipairs(ms) do sum = sum + v end
  return { n = #ms, median = pct(0.5), p95 = pct(0.95), p99 = pct(0.99),
    min = ms[1], max = ms[#ms], mean = sum / #ms }
end

local workloads = {}

function workloads.run(n)
  local sb <close> = oc.Sandbox.create()
  sb.exec:run("true")	-- warm: connection, sandbox
  local ms, t0 = {}, oc.now()
  for i = 1, n do
    local t = oc.now()
    assert(sb.exec:run("true").exit_code == 0)
    ms[i] = (oc.now() - t) * 1000
  end
  local r = stats(ms)
  r.total_s = oc.now() - t0
  return r
end

local function tti_one()
  local t = oc.now()
  local sb <close> = oc.Sandbox.create()
  assert(sb.exec:run('echo "benchmark"').stdout == "benchmark\n")
  return (oc.now() - t) * 1000	-- teardown (the <close>) not counted
end

function workloads.tti(n, mode)
  local ms, ok = {}, 0
  if mode == "par" then
    local tasks = {}
    for i = 1, n do tasks[i] = oc.spawn(tti_one) end
    for i = 1, n do
      local good, v = pcall(tasks[i].wait, tasks[i])
      if good then ok = ok + 1; ms[#ms + 1] = v end
    end
  else
    for _ = 1, n do
      local good, v = pcall(tti_one)
      if good then ok = ok + 1; ms[#ms + 1] = v end
    end
  end
  local r = stats(ms)
  r.success = ok / n
  return r
end

function workloads.stream(mib)
  local sb <close> = oc.Sandbox.create()
  local n, got = mib * 1048576, 0
  local t = oc.now()
  local s = sb.exec:start("head -c " .. n .. " /dev/zero", {
    on_stdout = function(d) got = got + #d end })
  assert(s:wait() == 0 and got == n, "got " .. got)
  local secs = oc.now() - t
  return { mib = mib, seconds = secs, mib_per_s = mib / secs }
end

-- Does chunk `d`, which starts `got` bytes into the output, hold the
-- pattern `pat` repeated from there? Every byte is compared: the bytes
-- up to the first whole pattern, then slices of #block bytes (`block` is
-- `pat` repeated), each found in place with no copy of the chunk.
local function holds(d, got, pat, block)
  local p, n, k = #pat, #d, #block
  local phase = got % p
  local pos = phase == 0 and 1 or p - phase + 1	-- the first whole pattern
  if pos > n + 1 then pos = n + 1 end
  if pos > 1 and d:sub(1, pos - 1) ~= pat:sub(phase + 1, phase + pos - 1) then
    return false
  end
  while pos + k - 1 <= n do
    if d:find(block, pos, true) ~= pos then return false end
    pos = pos + k
  end
  return pos > n or d:sub(pos) == block:sub(1, n - pos + 1)
end

-- Session i prints "i\n" over and over; every chunk is checked against
-- where it falls in that pattern, so a lost or repeated byte shows.
function workloads.fanout(n, kib)
  local size, per = tonumber(kib) * 1024, 10
  local sbs = {}
  for i = 1, math.ceil(n / per) do sbs[i] = oc.Sandbox.create() end
  local t, total, wrong = oc.now(), 0, 0
  local tasks = {}
  for i = 1, n do
    tasks[i] = oc.spawn(function()
      local pat, got = i .. "\n", 0
      local block = pat:rep(2048 // #pat)
      local s = sbs[(i - 1) % #sbs + 1].exec:start(
        string.format("yes %d | head -c %d", i, size), {
          on_stdout = function(d)
            if not holds(d, got, pat, block) then wrong = wrong + 1 end
            got = got + #d
          end })
      assert(s:wait() == 0)
      total = total + got
    end)
  end
  for i = 1, n do tasks[i]:wait() end
  local secs = oc.now() - t
  for _, sb in ipairs(sbs) do sb:kill() end
  return { sessions = n, bytes = total, expected = n * size,
    wrong_chunks = wrong, seconds = secs }
end

local name = arg[1]
local fn = workloads[name]
if not fn then
  io.stderr:write("usage: oclua scripts/bench/sdk.lua run|tti|stream|fanout ...\n")
  os.exit(2)
end
print(cjson.encode(fn(tonumber(arg[2]), arg[3])))
