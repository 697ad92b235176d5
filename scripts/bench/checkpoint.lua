-- scripts/bench/checkpoint.lua - checkpoints, restores and forks through
-- the SDK (issue 11's figures; scripts/bench/compare.sh runs it against
-- an `oclua serve --data-dir`). Prints one JSON line of figures.
--
--   oclua scripts/bench/checkpoint.lua take MIB FILES N
--       N times: MIB MiB of new files (FILES of them) written, then a
--       checkpoint (create -> ready) and a restore (restore -> the next
--       command's result)
--   oclua scripts/bench/checkpoint.lua fork MIB FILES N
--       a checkpoint of MIB MiB in FILES files; N forks, each
--       create_from_checkpoint -> the result of `echo`, then killed
--   oclua scripts/bench/checkpoint.lua disk MIB FILES N SANDBOXES_DIR
--       a checkpoint of MIB MiB in FILES files forked N times (the forks
--       kept): the bytes the server's file system (SANDBOXES_DIR, the
--       btrfs of --data-dir) uses before the sandbox, after the
--       checkpoint and after the forks, each after `sync`
--
-- OPENCOMPUTER_API_URL / OPENCOMPUTER_API_KEY name the server.

local oc = require("opencomputer")
local cjson = require("cjson")

local function stats(ms)
  table.sort(ms)
  local function pct(p) return ms[math.max(1, math.ceil(#ms * p))] end
  local sum = 0
  for _, v in ipairs(ms) do sum = sum + v end
  return { n = #ms, median = pct(0.5), p95 = pct(0.95), min = ms[1],
    max = ms[#ms], mean = sum / #ms }
end

-- write `mib` MiB of fresh data in `files` files under /home/sandbox/data
-- (new files each time: a checkpoint then holds that many changed bytes
-- not yet on disk); a sandbox is made when none is given
local function filled(mib, files, sb)
  sb = sb or oc.Sandbox.create{ timeout = 0 }
  local kib = mib * 1024 // files
  local r = sb.exec:run(string.format("rm -rf data && mkdir -p data && cd data && "
    .. "for i in $(seq %d); do head -c %dK /dev/urandom > f$i; done && "
    .. "du -sk . | cut -f1", files, kib), { timeout = 600 })
  assert(r.exit_code == 0, r.stderr)
  return sb, tonumber(r.stdout)
end

-- the checkpoint `name` of sb, once ready (the SDK's wait helper polls
-- from 5 ms on, growing 1.5x: the figure is the server's time, give or
-- take a poll)
local function checkpoint(sb, name)
  return sb:create_checkpoint(name):wait{ timeout = 60 }
end

local workloads = {}

function workloads.take(mib, files, n)
  local sb <close> = filled(mib, files)
  local take, restore = {}, {}
  for i = 1, n do
    filled(mib, files, sb)
    sb.exec:run("date +%s%N > data/changed")
    local t = oc.now()
    local c = checkpoint(sb, "bench-" .. i)
    take[i] = (oc.now() - t) * 1000
    sb.exec:run("rm data/changed")
    t = oc.now()
    sb:restore_checkpoint(c.id)
    local r = sb.exec:run("test -f data/changed && echo back")
    restore[i] = (oc.now() - t) * 1000
    assert(r.stdout == "back\n", "the restore did not bring the file back")
    sb:delete_checkpoint(c.id)
  end
  sb:kill()
  return { mib = mib, files = files, checkpoint_ms = stats(take),
    restore_ms = stats(restore) }
end

function workloads.fork(mib, files, n)
  local sb <close> = filled(mib, files)
  local c = checkpoint(sb, "bench-fork")
  local ms = {}
  for i = 1, n + 1 do
    local t = oc.now()
    local f = oc.Sandbox.create_from_checkpoint(c.id)
    local r = f.exec:run("echo forked")
    local took = (oc.now() - t) * 1000
    assert(r.stdout == "forked\n")
    if i > 1 then ms[#ms + 1] = took end	-- the first warms the path
    f:kill()
  end
  sb:delete_checkpoint(c.id)
  sb:kill()
  return { mib = mib, files = files, fork_to_echo_ms = stats(ms) }
end

-- bytes used by the file system holding `dir`, after a sync
local function used(dir)
  os.execute("sync")
  local p = io.popen("df -B1 --output=used '" .. dir .. "' | tail -1")
  local v = tonumber(p:read("a"):match("%d+"))
  p:close()
  return v
end

function workloads.disk(mib, files, n, dir)
  local before = used(dir)
  local sb <close> = filled(mib, files)
  local c = checkpoint(sb, "bench-disk")
  local with_checkpoint = used(dir)
  local forks = {}
  for i = 1, n do
    forks[i] = oc.Sandbox.create_from_checkpoint(c.id)
    assert(forks[i].exec:run("test -f data/f1 && echo ok").stdout == "ok\n")
  end
  local with_forks = used(dir)
  for _, f in ipairs(forks) do f:kill() end
  sb:delete_checkpoint(c.id)
  sb:kill()
  return { mib = mib, files = files, forks = n, before_bytes = before,
    checkpoint_bytes = with_checkpoint - before,
    forks_bytes = with_forks - with_checkpoint }
end

local name = arg[1]
local w = workloads[name]
if not w then
  io.stderr:write("usage: oclua scripts/bench/checkpoint.lua take|fork|disk ...\n")
  os.exit(2)
end
local args = {}
for i = 2, #arg do args[#args + 1] = tonumber(arg[i]) or arg[i] end
local r = w(table.unpack(args))
r.workload = name
print(cjson.encode(r))
