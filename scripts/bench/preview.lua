-- scripts/bench/preview.lua - the preview proxy's throughput against a
-- direct connection to the same server inside the sandbox (issue 12's
-- figure). A fresh `oclua serve` runs the test app
-- (spec/support/preview_app.py, Python's standard library) in a
-- sandbox; curl moves MIB MiB each way, RUNS times, and the median is
-- kept:
--
--   direct    curl inside the sandbox to 127.0.0.1:3000 (no proxy)
--   proxy     curl on the host to http://<id>-p3000.localhost:<port>/
--             (httpd, then the tunnel into the sandbox's network
--             namespace: src/server/tunnel.c)
--
-- and the server's CPU time per GiB through the proxy, and its peak RSS.
--
--   ./oclua scripts/bench/preview.lua [MIB [RUNS]]     (root; defaults
--                                                      2048 MiB, 3 runs)
-- Prints a table, then one JSON line of the figures.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local config = require("opencomputer.sdk.config")
local random = require("opencomputer.runtime.random")
local cjson = require("cjson")

local MIB = tonumber(arg[1]) or 2048
local RUNS = tonumber(arg[2]) or 3
local here = arg[0]:match("^(.*)/scripts/bench/[^/]+$") or "."
local app = assert(io.open(here .. "/spec/support/preview_app.py")):read("a")

local key = random.hex(16)
local url, proc = config.spawn_server({ "--api-key", key })
local port = tonumber(url:match(":(%d+)$"))
local pid = proc:pid()

-- the server's CPU seconds so far, and its peak RSS in KiB
local function cpu()
  local f = assert(io.open("/proc/" .. pid .. "/stat"))
  local stat = f:read("a")
  f:close()
  local rest = stat:match("%) (.*)$")
  local fields = {}
  for v in rest:gmatch("%S+") do fields[#fields + 1] = v end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100	-- USER_HZ
end
local function hwm()
  for line in io.lines("/proc/" .. pid .. "/status") do
    local v = line:match("^VmHWM:%s+(%d+)")
    if v then return tonumber(v) end
  end
end

-- run argv on the host: its stdout (lines joined) and exit code
local function host(argv)
  local p = core.process_spawn(argv)
  local out = {}
  for line in p.read_line, p do out[#out + 1] = line end
  return table.concat(out, "\n"), p:wait()
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

-- 4 vCPUs (the 16 GiB tier): the direct runs put curl and the app in
-- the sandbox's CPU limit together, the proxied ones only the app
local sb <close> = oc.Sandbox.create{ api_url = url, api_key = key, timeout = 0,
  memory_mb = 16384 }
sb.files:write("/home/sandbox/app.py", app)
sb.exec:run("nohup python3 /home/sandbox/app.py 3000 >/dev/null 2>&1 &")
local p = sb:create_preview_url(3000)
local t0 = oc.now()
while (host({ "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
    p.url .. "head" })) ~= "200" do
  assert(oc.now() - t0 < 10, "the app did not start")
  oc.sleep(0.1)
end
local bytes = MIB * 1048576
-- a file of MIB MiB to upload, inside the sandbox and on the host
sb.exec:run("head -c " .. bytes .. " /dev/zero > /home/sandbox/up.bin",
  { timeout = 600 })
local up_file = os.tmpname()
host({ "sh", "-c", "head -c " .. bytes .. " /dev/zero > " .. up_file })

local CURL_DOWN = 'curl -s -o /dev/null -w "%%{speed_download}" "%sbig?n=%d"'
local CURL_UP = 'curl -s -o /dev/null -X POST -H "Expect:" -T %s '
  .. '-w "%%{speed_upload}" "%ssink"'

local results = { direct_down = {}, proxy_down = {}, direct_up = {}, proxy_up = {} }
local proxy_cpu, proxy_bytes = 0, 0
for _ = 1, RUNS do
  local r = sb.exec:run(string.format(CURL_DOWN, "http://127.0.0.1:3000/", bytes),
    { timeout = 600 })
  table.insert(results.direct_down, tonumber(r.stdout) / 1048576)
  r = sb.exec:run(string.format(CURL_UP, "/home/sandbox/up.bin",
    "http://127.0.0.1:3000/"), { timeout = 600 })
  table.insert(results.direct_up, tonumber(r.stdout) / 1048576)
  local c0 = cpu()
  local out = host({ "sh", "-c", string.format(CURL_DOWN, p.url, bytes) })
  table.insert(results.proxy_down, tonumber(out) / 1048576)
  out = host({ "sh", "-c", string.format(CURL_UP, up_file, p.url) })
  table.insert(results.proxy_up, tonumber(out) / 1048576)
  proxy_cpu = proxy_cpu + cpu() - c0
  proxy_bytes = proxy_bytes + 2 * bytes
end
os.remove(up_file)

local fig = {
  mib = MIB, runs = RUNS,
  direct_down_mibs = median(results.direct_down),
  proxy_down_mibs = median(results.proxy_down),
  direct_up_mibs = median(results.direct_up),
  proxy_up_mibs = median(results.proxy_up),
  server_cpu_s_per_gib = proxy_cpu / (proxy_bytes / 1073741824),
  server_peak_rss_kib = hwm(),
}
print(string.format("preview proxy, %d MiB each way, median of %d (curl, MiB/s):", MIB, RUNS))
print(string.format("  download  direct in the sandbox %7.0f   through the proxy %7.0f  (%.0f%%)",
  fig.direct_down_mibs, fig.proxy_down_mibs, 100 * fig.proxy_down_mibs / fig.direct_down_mibs))
print(string.format("  upload    direct in the sandbox %7.0f   through the proxy %7.0f  (%.0f%%)",
  fig.direct_up_mibs, fig.proxy_up_mibs, 100 * fig.proxy_up_mibs / fig.direct_up_mibs))
print(string.format("  the server: %.2f s of CPU per GiB through the proxy; peak RSS %d KiB",
  fig.server_cpu_s_per_gib, fig.server_peak_rss_kib))
print(cjson.encode(fig))
sb:kill()
proc:kill(15)
proc:wait()
