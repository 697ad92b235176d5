-- scripts/bench/checkpoints.lua - figures for checkpoints, restore and
-- forks of the local server (issue 11), against a fresh `oclua serve
-- --data-dir` on 127.0.0.1: a checkpoint of a sandbox holding 100 MiB of
-- changed files, a restore, a fork to its first command's result (1 MiB
-- and 1 GiB checkpoints), and the bytes 20 forks of a 1,000-file, 100 MiB
-- checkpoint take on disk. Medians of N runs; prints a table.
-- Usage: ./oclua scripts/bench/checkpoints.lua [N]   (root)

local oc = require("opencomputer")
local core = require("opencomputer.core")
local http = require("opencomputer.client.http")
local json = require("opencomputer.runtime.json")
local config = require("opencomputer.sdk.config")

local N = tonumber(arg and arg[1]) or 7
local KEY = "bench-" .. require("opencomputer.runtime.random").hex(8)

local dir = os.tmpname()
os.remove(dir)
local url, proc = config.spawn_server({ "--api-key", KEY, "--data-dir", dir })

local function api(method, path, body)
  local res = http.request(method, url .. "/api" .. path, {
    headers = { ["X-API-Key"] = KEY, ["Content-Type"] = "application/json" },
    body = body and json.encode(body), raise = false, timeout = 600,
  })
  return res.status, res.body and res.body ~= "" and json.decode(res.body) or nil
end

local function must(want, what, status, doc)
  if status ~= want then
    error(what .. ": " .. tostring(status) .. " " .. json.encode(doc or {}), 0)
  end
  return doc
end

local function run(id, cmd)
  return must(200, "run " .. cmd, api("POST", "/sandboxes/" .. id .. "/exec/run",
    { cmd = "sh", args = { "-c", cmd }, timeout = 600 }))
end

local function median(list)
  table.sort(list)
  local n = #list
  return n % 2 == 1 and list[(n + 1) // 2] or (list[n // 2] + list[n // 2 + 1]) / 2
end

local function ms(s) return string.format("%.1f ms", s * 1000) end

-- "median (min .. max)"
local function spread(list)
  local lo, hi = math.huge, 0
  for _, x in ipairs(list) do lo, hi = math.min(lo, x), math.max(hi, x) end
  return string.format("%s (%.1f .. %.1f)", ms(median(list)), lo * 1000, hi * 1000)
end

-- a checkpoint of `id`, waited for; its id and the seconds to `ready`
local function checkpoint(id, name)
  local t0 = oc.now()
  local doc = must(201, "checkpoint", api("POST", "/sandboxes/" .. id .. "/checkpoints",
    { name = name, retentionPolicy = { mode = "delete_oldest" } }))
  while true do
    local _, list = api("GET", "/sandboxes/" .. id .. "/checkpoints")
    for _, ck in ipairs(list) do
      if ck.id == doc.id and ck.status == "ready" then return doc.id, oc.now() - t0 end
      if ck.id == doc.id and ck.status == "failed" then error(ck.errorMsg, 0) end
    end
    oc.sleep(0.002)
  end
end

local function fork(cid)
  return must(201, "fork", api("POST", "/sandboxes/from-checkpoint/" .. cid, {})).sandboxID
end

local function delete(id)
  must(204, "delete", api("DELETE", "/sandboxes/" .. id))
end

-- bytes used on the sandboxes' file system (statfs), after a sync
local function used()
  local p = core.process_spawn({ "sh", "-c", "sync; df -B1 --output=used '"
    .. dir .. "/sandboxes' | tail -1" })
  local line = p:read_line()
  while p:read_line() do end
  p:wait()
  return tonumber(line)
end

local rows = {}
local function row(what, figure) rows[#rows + 1] = { what, figure } end

local ok, err = pcall(function()
  -- 1. checkpoint of 100 MiB of changed files, and the time a request
  -- sent with it is held
  local id = must(201, "create", api("POST", "/sandboxes", { timeout = 0 })).sandboxID
  local ready, held = {}, {}
  for i = 1, N do
    -- new files each time (an overwrite of the same sizes is faster)
    run(id, "rm -rf /home/sandbox/data; mkdir /home/sandbox/data; for f in "
      .. "$(seq 100); do head -c 1048576 /dev/urandom > /home/sandbox/data/$f; done")
    local t
    local results = oc.all({
      function() local _, s = checkpoint(id, "c" .. i); return s end,
      function()
        oc.sleep(0.001)
        local t0 = oc.now()
        run(id, "true")
        t = oc.now() - t0
      end,
    })
    ready[i], held[i] = results[1], t
  end
  row("checkpoint of 100 MiB of changed files: POST to ready, median (min .. max)", spread(ready))
  row("  an exec/run sent with it (waits for the thaw), median (min .. max)", spread(held))

  -- 2. restore: POST restore to a first command's result
  local cid = checkpoint(id, "restore-point")
  local restore = {}
  for i = 1, N do
    run(id, "rm -rf /home/sandbox/data; echo changed > /home/sandbox/x")
    local t0 = oc.now()
    must(200, "restore", api("POST", "/sandboxes/" .. id .. "/checkpoints/" .. cid .. "/restore"))
    local r = run(id, "ls /home/sandbox/data | wc -l")
    restore[i] = oc.now() - t0
    assert(r.stdout == "100\n", r.stdout)
  end
  row("restore (100 MiB): POST to a first echo's result, median (min .. max)", spread(restore))

  -- 3. fork to first echo: 1 MiB and 1 GiB checkpoints
  for _, size in ipairs({ { "1 MiB", 1 }, { "1 GiB", 1024 } }) do
    local src = must(201, "create", api("POST", "/sandboxes", { timeout = 0 })).sandboxID
    run(src, "head -c " .. size[2] * 1048576 .. " /dev/urandom > /home/sandbox/blob")
    local fcid = checkpoint(src, "fork-" .. size[2])
    local times = {}
    for i = 1, N do
      local t0 = oc.now()
      local f = fork(fcid)
      local r = run(f, "echo hi")
      times[i] = oc.now() - t0
      assert(r.stdout == "hi\n")
      delete(f)
    end
    row("fork (" .. size[1] .. " checkpoint) to a first echo's result, median (min .. max)",
      spread(times))
    delete(src)
  end

  -- 4. 20 forks of a 1,000-file, 100 MiB checkpoint: bytes on disk
  local src = must(201, "create", api("POST", "/sandboxes", { timeout = 0 })).sandboxID
  run(src, "mkdir -p /home/sandbox/k; for f in $(seq 1000); do head -c 104857 "
    .. "/dev/urandom > /home/sandbox/k/$f; done")
  local before_ck = used()
  local kcid = checkpoint(src, "thousand")
  local before = used()
  local forks = {}
  for i = 1, 20 do forks[i] = fork(kcid) end
  local after = used()
  row("a 1,000-file 100 MiB checkpoint: bytes it added on disk",
    string.format("%d (%.2f MiB)", before - before_ck, (before - before_ck) / 1048576))
  row("20 forks of it: bytes they added on disk (20 copies: 2000 MiB)",
    string.format("%d (%.2f MiB, %.2f MiB per fork)", after - before,
      (after - before) / 1048576, (after - before) / 20 / 1048576))
  for _, f in ipairs(forks) do delete(f) end
  delete(src)
  delete(id)
end)

proc:kill(15)
proc:wait()
os.execute("rm -rf '" .. dir .. "'")
if not ok then
  io.stderr:write("checkpoints bench: ", tostring(err), "\n")
  os.exit(1)
end
print(string.format("== checkpoints, restore, forks (oclua serve --data-dir, %d runs each)", N))
for _, r in ipairs(rows) do print(string.format("  %-80s %s", r[1], r[2])) end
