-- scripts/bench/tti.lua - time to interactive against the local server:
-- sandbox create -> the first command's result (`echo benchmark`), N in
-- sequence and N at once, as median / P95 / P99 (the ComputeSDK method),
-- and the exec/run round trip of `true` in one sandbox.
-- Usage: oclua scripts/bench/tti.lua [N]   (starts its own `oclua serve`)

local oc = require("opencomputer")
local http = require("opencomputer.http")
local json = require("opencomputer.json")

local N = tonumber(arg[1] or 100)
local KEY = "bench-key"

local url, proc = require("opencomputer.config").spawn_server({ "--api-key", KEY })
local api = url .. "/api"
local H = { ["Content-Type"] = "application/json", ["X-API-Key"] = KEY }

local function post(path, body)
  local res = http.request("POST", api .. path, { headers = H, body = json.encode(body) })
  return json.decode(res.body)
end

local function tti()
  local t0 = oc.now()
  local sb = post("/sandboxes", { timeout = 0 })
  local r = post("/sandboxes/" .. sb.sandboxID .. "/exec/run",
    { cmd = "echo", args = { "benchmark" } })
  local dt = oc.now() - t0
  assert(r.stdout == "benchmark\n", "unexpected output: " .. tostring(r.stdout))
  http.request("DELETE", api .. "/sandboxes/" .. sb.sandboxID, { headers = H })
  return dt
end

local function stats(t)
  table.sort(t)
  local function pct(p) return t[math.max(1, math.ceil(p / 100 * #t))] * 1000 end
  return string.format("median %.1f ms, P95 %.1f ms, P99 %.1f ms (n=%d)",
    pct(50), pct(95), pct(99), #t)
end

tti() -- warm up (the template, the plugin, the connection)
local seq = {}
for i = 1, N do seq[i] = tti() end
print("time to interactive, sequential: " .. stats(seq))

local par = {}
local tasks = {}
for i = 1, N do tasks[i] = oc.spawn(function() par[i] = tti() end) end
for i = 1, N do tasks[i]:wait() end
print("time to interactive, " .. N .. " at once:  " .. stats(par))

local sb = post("/sandboxes", { timeout = 0 })
local rts = {}
for i = 1, math.max(N, 200) do
  local t0 = oc.now()
  local r = post("/sandboxes/" .. sb.sandboxID .. "/exec/run", { cmd = "true" })
  rts[i] = oc.now() - t0
  assert(r.exitCode == 0)
end
print("exec/run `true` round trip:        " .. stats(rts))
proc:kill()
proc:wait()
