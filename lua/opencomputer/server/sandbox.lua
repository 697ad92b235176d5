-- opencomputer/server/sandbox.lua - the local server's sandboxes: the
-- registry, their lifecycle (create, hibernated when idle or after a
-- server restart, woken on use, deleted), their state on disk, and the
-- environment commands run with (protocol.md sections 2 and 3.1).
--
-- On disk, DATA/sandboxes/<id>/ holds meta.json and the isolated
-- environment's files (see src/sandbox/box.c). A sandbox found there when the
-- server starts is "hibernated": its files are intact, its processes are
-- gone, and the first exec or files call wakes it. A sandbox whose init
-- died (an OOM kill of PID 1, say) is "stopped" and wakes the same way.
--
-- Each sandbox owns a slot of host uids: its uids 0..65535 are the host's
-- uid_base + slot * 65536 + 0..65535 (the user namespace made by
-- src/sandbox/init.c), recorded in meta.json because its files on disk
-- carry them. Its directory is a subvolume of the quota file system
-- (src/sandbox/disk.c) limited to its diskMB.
--
-- A sandbox forked from a checkpoint (checkpoint.lua) starts from a
-- writable snapshot of the checkpoint's directory: its files on disk
-- carry the uids of the sandbox they were first written by
-- (disk_uid_base, kept in meta.json), which init shifts into the fork's
-- own range through an idmapped mount, so no file is copied or chowned.
-- Directories being made or swapped are prepared under
-- DATA/sandboxes/.checkpoints/.staging (M.load, which lists no dot
-- names, cleans it) and renamed into place with their meta.json
-- already written.
--
-- Hibernation has two tiers (protocol.md 2.7): paused, the processes
-- frozen in memory by the cgroup freezer and thawed in place by the next
-- data-plane call (what an idle timeout chooses), and deep, the
-- processes ended and the files kept (an explicit hibernate, a paused
-- sandbox after pause_promote seconds (default an hour), every sandbox
-- after a restart).
-- Both are "hibernated" to clients.
--
-- The warm pool (M.fill_pool): up to reg.pool_size sandboxes of the
-- default shape (template base, 4096 MB / 1 vCPU, network on) booted
-- ahead of any request, each with the id and uid slot it will keep, and
-- handed out by M.create to a request of that shape (README "Warm
-- pool"). A pooled sandbox is in no list, has no meta.json (its
-- directory holds a POOLED marker instead, and M.load removes such a
-- directory) and runs nothing but its init until it is handed out.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local json = require("opencomputer.runtime.json")
local request = require("opencomputer.server.request")
local http = require("opencomputer.server.http")
local records = require("opencomputer.server.records")
local task = require("opencomputer.runtime.task")

local M = {}

local Sandbox = {}
Sandbox.__index = Sandbox

M.USER = { uid = 1000, gid = 1000, name = "sandbox", home = "/home/sandbox" }

M.UID_BASE = 1000000000	-- host uids of sandboxes start here
M.UID_RANGE = 65536	-- per sandbox
M.SLOTS = 16384		-- up to 1000000000 + 2^30 < 2^31
M.PIDS_MAX = 1024	-- processes and threads per sandbox
M.DISK_MB = 20480	-- protocol.md 2.2: default, and the least allowed
M.DISK_MB_MAX = 262144
M.PAUSE_PROMOTE = 3600	-- seconds a paused sandbox waits before it goes
			-- deep (the cloud's OSB_PAUSE_PROMOTE_AFTER default)
M.BASE_ENV = {
  HOME = "/home/sandbox", USER = "sandbox", LOGNAME = "sandbox",
  PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin",
  LANG = "C.UTF-8", SHELL = "/bin/bash",
}

-- resource tiers of protocol.md section 2.2: memoryMB -> vCPU
local TIERS = { [1024] = 1, [4096] = 1, [8192] = 2, [16384] = 4 }
local CPU_TO_MEM = { [1] = 1024, [2] = 8192, [4] = 16384 }

--- memory_mb, cpu_count from a create request, or nil and a message.
function M.resources(memory, cpus)
  if memory == nil and cpus == nil then return 4096, 1 end
  if (memory and memory > 16384) or (cpus and cpus > 4) then
    return nil, "resources above 16384 MB / 4 vCPU are not available: contact us"
  end
  if memory and not cpus then
    if not TIERS[memory] then
      return nil, "memoryMB must be one of 1024, 4096, 8192, 16384"
    end
    return memory, TIERS[memory]
  end
  if cpus and not memory then
    if not CPU_TO_MEM[cpus] then return nil, "cpuCount must be 1, 2 or 4" end
    return CPU_TO_MEM[cpus], cpus
  end
  if TIERS[memory] ~= cpus then
    return nil, "memoryMB and cpuCount must be a row of the tier table "
      .. "(1024/1, 4096/1, 8192/2, 16384/4)"
  end
  return memory, cpus
end

--- The disk quota (MB) of a create request's diskMB (protocol.md 2.2:
-- default and least DISK_MB, 20 GB; at most DISK_MB_MAX, 256 GB), or nil
-- and a message; a diskMB given to a registry without quotas
-- (--allow-missing disk) cannot be honoured.
function M.disk(reg, mb)
  local disk = mb or M.DISK_MB
  if disk < M.DISK_MB then
    return nil, "diskMB must be at least 20480 (20GB)"
  elseif disk > M.DISK_MB_MAX then
    return nil, "diskMB cannot exceed 262144 (256GB)"
  elseif mb and not reg.disk then
    return nil, "diskMB cannot be honoured: this server runs without "
      .. "disk quotas (oclua serve --allow-missing disk)"
  end
  return disk
end

local function new_id(registry)
  local id
  repeat id = string.format("sb-%08x", math.random(0, 0xffffffff))
  until not registry.by_id[id] and not registry.pooled[id]
  return id
end

M.POOLED = "pooled"	-- the marker file of a pooled sandbox's directory
M.WARM_POOL = 16	-- oclua serve's default --warm-pool (README "Warm pool")
M.POOL_QUIET = 0.25	-- seconds without a create before the pool refills
-- the one shape the pool prepares (a create's defaults, M.resources)
local POOL_MEMORY_MB, POOL_CPUS = 4096, 1

-- host users and subordinate id ranges that overlap [lo, hi): a slot
-- range must be nobody's (README "Security model")
local function uid_conflicts(lo, hi)
  local found = {}
  for _, file in ipairs{ "/etc/passwd", "/etc/group" } do
    local f = io.open(file)
    for line in f and f:lines() or function() end do
      local name, id = line:match("^([^:]*):[^:]*:(%d+):")
      id = tonumber(id)
      if id and id >= lo and id < hi then
        found[#found + 1] = file .. ": " .. name .. " (" .. id .. ")"
      end
    end
    if f then f:close() end
  end
  for _, file in ipairs{ "/etc/subuid", "/etc/subgid" } do
    local f = io.open(file)
    for line in f and f:lines() or function() end do
      local name, first, count = line:match("^([^:]*):(%d+):(%d+)")
      first, count = tonumber(first), tonumber(count)
      if first and first < hi and first + count > lo then
        found[#found + 1] = file .. ": " .. name .. " (" .. first .. "+"
          .. count .. ")"
      end
    end
    if f then f:close() end
  end
  return found
end

--- The sandboxes kept in data_dir; new ones start from a template built
-- (once per change of the host's /etc) under template_base. `o`:
-- uid_base (default M.UID_BASE), limits (false: no cgroups), network
-- (false: loopback only), host_loopback (sandboxes may reach the host's
-- 127.0.0.1 through 10.0.2.2), disk (false: no quotas), pause_promote
-- (seconds a paused sandbox waits before it goes deep, default
-- M.PAUSE_PROMOTE), warm_pool (sandboxes kept booted ahead of requests,
-- default 0; M.fill_pool starts filling). Raises when the uid range
-- belongs to someone.
function M.registry(data_dir, template_base, o)
  o = o or {}
  local base = o.uid_base or M.UID_BASE
  if base < M.UID_RANGE or base + M.SLOTS * M.UID_RANGE > 4294967295 then
    error("uid_base " .. base .. " leaves no room for " .. M.SLOTS
      .. " sandboxes below 2^32 - 1", 0)
  end
  local conflicts = uid_conflicts(base, base + M.SLOTS * M.UID_RANGE)
  if #conflicts > 0 then
    error("the sandboxes' host uid range " .. base .. ".." .. (base + M.SLOTS
      * M.UID_RANGE - 1) .. " is in use: " .. table.concat(conflicts, "; ")
      .. " (choose another with --uid-base)", 0)
  end
  local reg = {
    by_id = {}, dir = data_dir .. "/sandboxes", uid_base = base, slots = {},
    limits = o.limits ~= false, network = o.network ~= false,
    host_loopback = o.host_loopback == true, disk = o.disk ~= false,
    pause_promote = o.pause_promote or M.PAUSE_PROMOTE,
    pool = {}, pooled = {}, pool_size = o.warm_pool or 0,
  }
  os.execute("mkdir -p '" .. reg.dir .. "'")
  reg.template_base = template_base
  reg.template = core.box_template(template_base)
  return setmetatable(reg, { __index = M })
end

-- `text` with each occurrence of the host path `prefix` (and the rest of
-- its path: up to a space, quote, colon, comma or bracket) replaced by
-- name(rest)
local function replace_path(text, prefix, name)
  local out, i = {}, 1
  while true do
    local s, e = text:find(prefix, i, true)
    if not s then break end
    local rest = text:match("^[^%s:'\",;()%[%]]*", e + 1)
    out[#out + 1] = text:sub(i, s - 1)
    out[#out + 1] = name(rest)
    i = e + 1 + #rest
  end
  out[#out + 1] = text:sub(i)
  return table.concat(out)
end

local function named(what)
  return function() return what end
end

--- `text` (a message for a client) without this server's host paths:
-- DATA/sandboxes/.checkpoints/<id> becomes "checkpoint <id>",
-- DATA/sandboxes/<id>/... "sandbox <id>", the directory of forks and
-- restores being prepared "a directory being prepared", the templates'
-- directory "the sandbox template", the rest of DATA "the server's data
-- directory", /sys/fs/cgroup/... "the sandbox's cgroup"; init's paths
-- relative to a sandbox's directory (upper/root/etc/hosts) become the
-- sandbox's own (/etc/hosts). Paths inside a sandbox are left as they
-- are.
function M.redact(reg, text)
  local dir = reg.dir
  text = replace_path(text, dir .. "/.checkpoints/.staging/",
    named("a directory being prepared"))
  text = replace_path(text, dir .. "/.checkpoints/", function(rest)
    local id = rest:match("^[%x%-]+")
    return id and "checkpoint " .. id or "the checkpoints' directory"
  end)
  text = replace_path(text, dir .. "/", function(rest)
    local id = rest:match("^[^/]+")
    return id and "sandbox " .. id or "the sandboxes' directory"
  end)
  text = replace_path(text, reg.template_base, named("the sandbox template"))
  text = replace_path(text, dir:match("^(.*)/[^/]*$"),
    named("the server's data directory"))
  text = replace_path(text, "/sys/fs/cgroup/", named("the sandbox's cgroup"))
  return (text:gsub("%f[%S]upper/usr/", "/usr/"):gsub("%f[%S]upper/root/", "/"))
end

--- For a client: the message of the error `err` (http.message) without
-- host paths (M.redact). When it had any, the whole message goes to
-- stderr after `context` (e.g. "sb-1234: restore"), for the operator.
function M.public(reg, err, context)
  local full = http.message(err)
  local text = M.redact(reg, full)
  if text ~= full then
    io.stderr:write("oclua serve: ", context, ": ", full, "\n")
  end
  return text
end

-- the lowest free uid slot
local function take_slot(reg)
  for slot = 0, M.SLOTS - 1 do
    if not reg.slots[slot] then return slot end
  end
  error("no free uid slot: " .. M.SLOTS .. " sandboxes exist", 0)
end

-- DATA/sandboxes/.checkpoints/.staging/<name>: where directories are
-- prepared (on the sandboxes' file system, where core.box_destroy may
-- remove them); made once per registry
local function staging(reg, name)
  local dir = reg.dir .. "/.checkpoints/.staging/"
  if not reg.staging_made then
    os.execute("mkdir -p '" .. dir .. "'")
    reg.staging_made = true
  end
  return dir .. name
end

--- Make `dst` (absent, on the sandboxes' file system) a copy of the
-- directory `src` (a sandbox's or a checkpoint's): with quotas, a btrfs
-- snapshot, O(1) and copy-on-write whatever the size, read-only when
-- `readonly`; without them (--allow-missing disk) `cp -a
-- --reflink=auto`, a full copy where the file system cannot share
-- extents. Raises a message naming what failed. (Yields.)
function M.snapshot(reg, src, dst, readonly)
  if reg.disk then return core.disk_snapshot(src, dst, readonly) end
  local p = core.process_spawn({ "cp", "-a", "--reflink=auto", "--", src, dst })
  while p:read_line() do end
  local code = p:wait()
  if code ~= 0 then
    pcall(core.box_destroy, dst)
    error("copy " .. src .. " to " .. dst .. ": cp exited with " .. code, 0)
  end
end

-- M.create of a sandbox booted at the request
local function boot_new(reg, o)
  local id = new_id(reg)
  local slot = take_slot(reg)
  local sb = setmetatable({
    id = id, status = "running", template = o.template or "base",
    started_at = os.time(), metadata = o.metadata or {}, envs = o.envs or {},
    memory_mb = o.memory_mb, cpu_count = o.cpu_count,
    disk_mb = o.disk_mb or M.DISK_MB, network = o.network ~= false,
    timeout = o.timeout or 0, dir = reg.dir .. "/" .. id,
    template_dir = o.template_dir or reg.template, slot = slot,
    disk_uid_base = o.disk_uid_base, from_checkpoint = o.from_checkpoint,
    patch_seq = o.from_checkpoint and 0 or nil,
    sessions = {}, busy_count = 0, last_activity = oc.now(), registry = reg,
  }, Sandbox)
  reg.by_id[id] = sb
  reg.slots[slot] = sb
  local stage = o.files_from and staging(reg, id)
  -- nothing of a create that fails stays: no record, no slot, no files
  local ok, err = pcall(function()
    if stage then
      -- made and given its record in .staging, then moved into place:
      -- a crash never leaves a directory holding another one's record
      M.snapshot(reg, o.files_from, stage, false)
      sb:save(stage)
      local moved, why = os.rename(stage, sb.dir)
      if not moved then error("move " .. stage .. ": " .. why, 0) end
      stage = nil
    end
    if reg.disk then core.disk_limit(sb.dir, sb.disk_mb * 1048576) end
    sb:boot(not o.files_from, o.files_from ~= nil)
    sb:save()
  end)
  if not ok then
    sb:halt("stopped")
    reg.by_id[id], reg.slots[slot] = nil, nil
    pcall(core.box_destroy, sb.dir)
    if stage then pcall(core.box_destroy, stage) end
    error(err, 0)
  end
  sb:watch_idle()
  return sb
end

--- Create and start a sandbox. `o`: template, metadata, envs, memory_mb,
-- cpu_count, disk_mb, network (false: loopback only), timeout; for a
-- fork, files_from (a checkpoint's directory: the sandbox's files start
-- as a writable snapshot of it), template_dir (the lower layer its files
-- were made over), disk_uid_base (the host uid base its
-- files carry), from_checkpoint (the checkpoint's id). Raises with what
-- failed; nothing of a failed create stays.
function M.create(reg, o)
  local pooled = M.take_pooled(reg, o)
  if pooled then return pooled end
  -- (the pool waits while creates boot: M.fill_pool)
  reg.booting = (reg.booting or 0) + 1
  local done, sb = pcall(boot_new, reg, o)
  reg.booting = reg.booting - 1
  reg.last_take = math.max(reg.last_take or 0, oc.now())
  if not done then error(sb, 0) end
  return sb
end

-- the warm pool ---------------------------------------------------------

-- whether the create options `o` ask for exactly the sandbox the pool
-- prepares: a fresh one of template base, 4096 MB / 1 vCPU, network on
-- (anything else (a fork, a template, an image, other resources, no
-- network) is made at the request)
local function poolable(o)
  return o.template == "base" and o.files_from == nil
    and o.template_dir == nil and o.disk_uid_base == nil
    and o.memory_mb == POOL_MEMORY_MB and o.cpu_count == POOL_CPUS
    and o.network ~= false
end

-- end a pooled sandbox (or one whose hand-out failed) and free all it had:
-- its processes, its files, its uid slot
local function discard(reg, sb)
  reg.pooled[sb.id] = nil
  for i, p in ipairs(reg.pool) do
    if p == sb then table.remove(reg.pool, i) break end
  end
  pcall(sb.halt, sb, "stopped")
  pcall(core.box_destroy, sb.dir)
  reg.slots[sb.slot] = nil
end

-- boot one sandbox of the pool's shape with the id and uid slot it will
-- keep, and add it to the pool (or end it, when the pool was closed or
-- filled meanwhile). Raises with what failed; nothing of it stays then.
local function prepare(reg)
  local id, slot = new_id(reg), take_slot(reg)
  local sb = setmetatable({
    id = id, status = "running", template = "base", started_at = os.time(),
    metadata = {}, envs = {}, memory_mb = POOL_MEMORY_MB,
    cpu_count = POOL_CPUS, disk_mb = M.DISK_MB, network = true, timeout = 0,
    dir = reg.dir .. "/" .. id, template_dir = reg.template, slot = slot,
    sessions = {}, busy_count = 0, last_activity = oc.now(), registry = reg,
    pooled = true,
  }, Sandbox)
  reg.pooled[id], reg.slots[slot] = sb, sb
  local ok, err = pcall(function()
    -- the marker first: a directory left by a crash from here on is
    -- known for a pooled one by M.load, and removed
    if reg.disk then core.disk_limit(sb.dir, sb.disk_mb * 1048576)
    elseif not os.execute("mkdir -m 700 '" .. sb.dir .. "'") then
      error("cannot make " .. sb.dir, 0)
    end
    local f, why = io.open(sb.dir .. "/" .. M.POOLED, "w")
    if not f then error(why, 0) end
    f:close()
    sb:boot(true, false)
  end)
  if not ok then
    discard(reg, sb)
    error(err, 0)
  end
  if reg.pool_closed or #reg.pool >= reg.pool_size then
    discard(reg, sb)
  else
    reg.pool[#reg.pool + 1] = sb
  end
end

--- Keep the warm pool at reg.pool_size sandboxes: a task that boots the
-- missing ones, one at a time, unless one runs already, each once
-- M.POOL_QUIET seconds have passed without a create asking the pool or
-- ending a boot, and none boots (a refill would take the CPU a burst of
-- creates needs). After three
-- failures in a row it stops (said on stderr); the next create starts
-- it again.
function M.fill_pool(reg)
  if reg.filling or reg.pool_closed or #reg.pool >= reg.pool_size then
    return
  end
  reg.filling = true
  oc.spawn(function()
    local failures = 0
    while not reg.pool_closed and #reg.pool < reg.pool_size
        and failures < 3 do
      local function wait()
        if (reg.booting or 0) > 0 then return M.POOL_QUIET end
        return (reg.last_take or -math.huge) + M.POOL_QUIET - oc.now()
      end
      local left = wait()
      while left > 0 do
        task.sleep(left)
        left = wait()
      end
      local ok, err = pcall(prepare, reg)
      if ok then
        failures = 0
      elseif reg.pool_closed then
        break	-- the server stopped under the boot (and removed its dir)
      else
        failures = failures + 1
        io.stderr:write("oclua serve: warm pool: ", M.public(reg, err,
          "warm pool"), "\n")
        task.sleep(1)
      end
    end
    reg.filling = nil
  end)
end

--- Hand out a pooled sandbox for a create whose options `o` (M.create's)
-- the pool can serve: it takes the request's metadata, envs, timeout,
-- diskMB and creation time, gets its meta.json and becomes listed. Nil
-- when the pool cannot serve `o` or is empty (M.create then makes one).
-- Starts the refill. Raises with what failed; the sandbox is gone then.
function M.take_pooled(reg, o)
  if not poolable(o) then return nil end
  local sb = table.remove(reg.pool)	-- the youngest
  reg.last_take = oc.now()
  M.fill_pool(reg)
  if not sb then return nil end
  reg.pooled[sb.id], sb.pooled = nil, nil
  sb.started_at = os.time()
  sb.metadata, sb.envs = o.metadata or {}, o.envs or {}
  sb.timeout, sb.disk_mb = o.timeout or 0, o.disk_mb or M.DISK_MB
  sb.last_activity = oc.now()
  local ok, err = pcall(function()
    if reg.disk and sb.disk_mb ~= M.DISK_MB then
      core.disk_limit(sb.dir, sb.disk_mb * 1048576)
    end
    sb:save()
    local gone, why = os.remove(sb.dir .. "/" .. M.POOLED)
    if not gone then error(why, 0) end
  end)
  if not ok then
    discard(reg, sb)
    error(err, 0)
  end
  reg.by_id[sb.id] = sb
  sb:watch_idle()
  return sb
end

--- Wait (yielding) until the warm pool is full, its filling gave up
-- (M.fill_pool), `timeout` seconds have passed, or `interrupted` (a
-- function, may be nil) returns true; true when it is full.
function M.wait_pool(reg, timeout, interrupted)
  local t0 = oc.now()
  M.fill_pool(reg)
  while #reg.pool < reg.pool_size and reg.filling
      and oc.now() - t0 < timeout
      and not (interrupted and interrupted()) do
    task.sleep(0.05)
  end
  return #reg.pool >= reg.pool_size
end

--- Make the warm pool hold `n` sandboxes (0 or more): the ones above
-- `n` end at once, the missing ones boot in the background (M.fill_pool).
function M.set_pool_size(reg, n)
  reg.pool_size = n
  while #reg.pool > n do discard(reg, reg.pool[1]) end
  M.fill_pool(reg)
end

--- End every pooled sandbox and stop refilling (the server stops).
function M.close_pool(reg)
  reg.pool_closed = true
  while #reg.pool > 0 do discard(reg, reg.pool[#reg.pool]) end
end

--- Boot and end a throwaway sandbox: raises with what failed when this
-- machine cannot isolate one.
function M.probe(reg)
  local slot = take_slot(reg)
  local dir = reg.dir .. "/sb-probe-" .. math.random(0, 0x7fffffff)
  reg.slots[slot] = true
  local ok, err = pcall(function()
    local box = core.box_start({
      dir = dir, template = reg.template, hostname = "probe", fresh = true,
      uid_base = reg.uid_base + slot * M.UID_RANGE,
    })
    box:stop()
  end)
  reg.slots[slot] = nil
  pcall(core.box_destroy, dir)
  if not ok then error(tostring(err):gsub("^sandbox did not start: ", ""), 0) end
end

-- what a meta.json must hold (Sandbox:save() writes it) to be loaded
local RECORD = {
  id = request.required(request.string({ max = 64 })),
  slot = request.required(request.integer(0, M.SLOTS - 1)),
  started_at = request.required(request.integer(0, 2 ^ 40)),
  template_dir = request.required(request.string({ nonempty = true })),
  template = request.string({ max = 256 }),
  status = request.string({ max = 64 }),
  timeout = request.integer(0, request.MAX_SECONDS),
  metadata = request.map(256, 64 * 1024),
  envs = request.map(1024, 64 * 1024, { env = true }),
  memory_mb = request.integer(1, 1048576),
  cpu_count = request.integer(1, 64),
  disk_mb = request.integer(1, 1048576 * 1024),
  network = request.boolean,
  disk_uid_base = request.integer(0, 4294967295),
  from_checkpoint = request.string({ max = 64 }),
  patch_seq = request.integer(0, 2 ^ 40),
  patch_error = request.string({ max = 64 * 1024 }),
  -- preview URLs (preview.lua): the ports served, the token's SHA-256
  previews = request.list_of(request.object_of({
    id = request.required(request.string({ max = 64 })),
    port = request.required(request.integer(1, 65535)),
    created_at = request.required(request.integer(0, 2 ^ 40)),
    auth_config = request.object,
  }), 65535),
  preview_token = request.string({ max = 64 }),
}

-- the JSON of DATA/sandboxes/<id>/meta.json, or nil and why not
local function decode_record(reg, id)
  local f = io.open(reg.dir .. "/" .. id .. "/meta.json")
  if not f then return nil, "no meta.json" end
  local text = f:read("a")
  f:close()
  local ok, doc = pcall(request.decode, text)
  if not ok then
    return nil, "meta.json: " .. (doc.message or tostring(doc))
      :gsub("^invalid request body: ", "")
  end
  return doc
end

-- the record in DATA/sandboxes/<id>/meta.json, checked; or nil, why not
-- and the uid slot it names, if it names a valid one (M.load sees to
-- slots named twice)
local function read_record(reg, id)
  local doc, why = decode_record(reg, id)
  if not doc then return nil, why end
  local slot = math.type(doc.slot) == "integer" and doc.slot >= 0
    and doc.slot < M.SLOTS and doc.slot or nil
  local checked, err = pcall(request.check, doc, RECORD, "meta.json")
  if not checked then return nil, err.message or tostring(err), slot end
  if doc.id ~= id then return nil, "meta.json is of " .. doc.id, slot end
  -- the lower layer of its root: a template this server made
  -- (core.box_template: TEMPLATES/t-VERSION-STAMP, holding root/)
  local base = reg.template_base .. "/"
  local root = io.open(doc.template_dir .. "/root/.")
  if root then root:close() end
  if doc.template_dir:sub(1, #base) ~= base or not root
      or not doc.template_dir:sub(#base + 1):find("^t%-%d+%-%d+$") then
    return nil, "meta.json: template_dir must be a template in " .. base
      .. " (t-VERSION-STAMP, holding root/), not " .. doc.template_dir, slot
  end
  return doc
end

--- Sandboxes left on disk by an earlier run come back hibernated (the
-- pooled ones, never handed out, are removed: M.POOLED). A
-- directory whose record cannot be read or is not valid is skipped: not
-- listed, left on disk as it is, its uid slot kept from new sandboxes
-- (its files carry those uids). Two records naming the same uid slot
-- are both skipped (which one owns the uids cannot be told). A list of
-- messages saying which and why.
function M.load(reg)
  local skipped = {}
  -- what a server that ended in the middle of a fork or a restore left
  -- in .staging: a restore cut between its two renames moves the
  -- sandbox's own directory back; everything else there goes
  local p = io.popen("ls -1 '" .. staging(reg, "") .. "' 2>/dev/null")
  for name in p:lines() do
    local id = name:match("^(.*)%.old$")
    local path = staging(reg, name)
    if id and not io.open(reg.dir .. "/" .. id .. "/meta.json") then
      os.rename(path, reg.dir .. "/" .. id)
    else
      local ok, err = pcall(core.box_destroy, path)
      if not ok then skipped[#skipped + 1] = tostring(err) end
    end
  end
  p:close()
  p = io.popen("ls -1 '" .. reg.dir .. "' 2>/dev/null")
  local ids = {}
  for id in p:lines() do
    -- a pooled sandbox of an earlier run (never handed out) goes
    local marker = io.open(reg.dir .. "/" .. id .. "/" .. M.POOLED)
    if marker then
      marker:close()
      local ok, err = pcall(core.box_destroy, reg.dir .. "/" .. id)
      if not ok then skipped[#skipped + 1] = tostring(err) end
    else
      ids[#ids + 1] = id
    end
  end
  p:close()
  local claims = {}	-- slot -> the ids whose records name it
  for _, id in ipairs(ids) do
    local doc = decode_record(reg, id)
    local slot = doc and math.type(doc.slot) == "integer" and doc.slot
    if slot then
      claims[slot] = claims[slot] or {}
      table.insert(claims[slot], id)
    end
  end
  local twice = {}	-- ids whose slot another record names too
  for slot, claimed in pairs(claims) do
    if #claimed > 1 then
      reg.slots[slot] = true
      for _, id in ipairs(claimed) do
        twice[id] = true
        skipped[#skipped + 1] = "skipped " .. reg.dir .. "/" .. id .. ": "
          .. "its uid slot " .. slot .. " is named by "
          .. table.concat(claimed, " and ")
      end
    end
  end
  for _, id in ipairs(ids) do
    local doc, why, slot
    if not twice[id] then doc, why, slot = read_record(reg, id) end
    if doc then
      local sb = setmetatable(doc, Sandbox)
      sb.dir, sb.registry = reg.dir .. "/" .. id, reg
      sb.metadata, sb.envs = sb.metadata or {}, sb.envs or {}
      reg.slots[sb.slot] = sb
      sb.sessions, sb.busy_count = {}, 0
      sb.last_activity = oc.now()
      sb.status = "hibernated"
      reg.by_id[id] = sb
    elseif why then
      if slot then reg.slots[slot] = true end
      skipped[#skipped + 1] = "skipped " .. reg.dir .. "/" .. id .. ": " .. why
    end
  end
  return skipped
end

function M.get(reg, id)
  return reg.by_id[id]
end

function M.list(reg)
  local out = {}
  for _, sb in pairs(reg.by_id) do out[#out + 1] = sb end
  table.sort(out, function(a, b) return a.started_at < b.started_at end)
  return out
end

--- Write the sandbox's record, meta.json, in its directory (or in `dir`,
-- one being prepared for it).
function Sandbox:save(dir)
  dir = dir or self.dir
  local doc = {
    id = self.id, status = self.status, template = self.template,
    started_at = self.started_at, metadata = self.metadata, envs = self.envs,
    memory_mb = self.memory_mb, cpu_count = self.cpu_count,
    disk_mb = self.disk_mb, network = self.network, slot = self.slot,
    timeout = self.timeout, template_dir = self.template_dir,
    disk_uid_base = self.disk_uid_base,
    from_checkpoint = self.from_checkpoint, patch_seq = self.patch_seq,
    patch_error = self.patch_error,
    previews = self.previews, preview_token = self.preview_token,
  }
  records.write(dir .. "/meta.json", doc)
end

--- The host uid that root of this sandbox is.
function Sandbox:uid_base()
  return self.registry.uid_base + self.slot * M.UID_RANGE
end

--- The host uid that root's files carry on disk: the uid base of the
-- sandbox that first wrote them (its own, unless it is a fork).
function Sandbox:disk_uid()
  return self.disk_uid_base or self:uid_base()
end

-- start the isolated environment (fresh: lay out its files first;
-- renamed: a fork's first boot, its /etc/hosts and /etc/hostname name
-- its origin), and a task that notices when its init dies
function Sandbox:boot(fresh, renamed)
  local reg = self.registry
  local limits = reg.limits
  local box = core.box_start({
    dir = self.dir, template = self.template_dir, hostname = self.id,
    fresh = fresh, uid_base = self:uid_base(),
    disk_uid_base = self:disk_uid(), renamed = renamed,
    memory_mb = limits and self.memory_mb or nil,
    cpu_count = limits and self.cpu_count or nil,
    pids_max = limits and M.PIDS_MAX or nil,
    shm_mb = math.max((self.memory_mb or 4096) // 2, 64),
    network = reg.network and self.network ~= false,
    host_loopback = reg.host_loopback,
  })
  self.box = box
  self.status = "running"
  self.stop_reason = nil
  oc.spawn(function()
    local why = box:wait_exit()
    if self.box ~= box then return end	-- stopped on purpose
    if self.pooled then	-- never handed out: nobody to tell
      self.box = nil
      discard(reg, self)
      return
    end
    self:change(function()
      if self.box ~= box then return end
      self.stop_reason = why == "oom" and "its init process was killed "
        .. "for lack of memory" or "its init process ended"
      self:end_all("stopped")
    end)
  end)
end

--- Take the sandbox's one state change at a time (a wake, a stop, a
-- delete, a checkpoint, a restore), waiting for the one under way:
-- callers that come meanwhile (every data-plane request, through
-- ensure_running) wait until the returned function is called, so a
-- request never meets a half-started, half-stopped or frozen
-- environment. For a change that answers its request first and finishes
-- in a task (checkpoint.lua); the function must be called exactly once.
function Sandbox:lock()
  while self.changing do self.changing:wait() end
  local done = task.condition()
  self.changing = done
  return function()
    self.changing = nil
    done:signal()
  end
end

-- Run fn as the sandbox's one state change at a time (Sandbox:lock).
function Sandbox:change(fn)
  local unlock = self:lock()
  local ok, err = pcall(fn)
  unlock()
  if not ok then error(err, 0) end
end

--- Record that the change under way failed, for the requests waiting on
-- it: their ensure_running() gives `message` (answered 502, protocol.md
-- 8.2: "a failed restore surfaces as 502 on those requests"); if none
-- was waiting, the next one gets it, so that the failure is not lost.
function Sandbox:change_failed(message)
  self.failures = (self.failures or 0) + 1
  self.failure = message
  self.unreported = true
end

--- Make sure the sandbox can run commands: resume it if paused, boot it
-- if deep-hibernated or stopped by the death of its init (concurrent
-- requests share one wake). `timeout`, if given, becomes its idle
-- timeout when this call is the one that boots it (a paused sandbox
-- keeps its own, protocol.md 2.7). Returns running (false once it has
-- been deleted), the message of a change this call waited for and that
-- failed (Sandbox:change_failed), and how it woke: "resumed" (paused),
-- "booted" (deep) or nil (it was running).
function Sandbox:ensure_running(timeout)
  if self.unreported and not self.changing then
    self.unreported = nil
    return false, self.failure
  end
  if self.status == "running" and not self.changing then return true end
  local failures = self.failures
  local how
  self:change(function()
    if self.status ~= "hibernated" and self.status ~= "stopped" then
      return
    end
    if self.paused and self:resume() then
      how = "resumed"
      return
    end
    if timeout then self.timeout = timeout end
    self:boot(false)
    self:save()
    self:touch()	-- the idle timeout counts from the wake
    self:watch_idle()
    how = "booted"
  end)
  if self.failures ~= failures then
    self.unreported = nil
    return false, self.failure
  end
  return self.status == "running", nil, how
end

-- (inside change()) thaw a paused sandbox in place: its processes go on
-- where they stopped, its idle timeout is kept. False when thawing
-- failed (the caller boots it again: its processes are ended).
function Sandbox:resume()
  local ok, why = self.box:freeze(false)
  self.paused = nil
  if not ok then
    io.stderr:write("oclua serve: ", self.id, ": thaw failed (", tostring(why),
      "): its processes are ended and it boots again\n")
    self:halt("stopped")
    return false
  end
  self.status = "running"
  self:save()
  self:touch()
  self:watch_idle()
  return true
end

--- Hibernate the sandbox into the paused tier (protocol.md 2.6, 2.7):
-- its processes frozen by the cgroup freezer, its sessions kept, status
-- "hibernated"; the next data-plane call thaws it (ensure_running).
-- Where there is no freezer (--allow-missing limits), deep instead
-- (Sandbox:stop). After the registry's pause_promote seconds paused
-- (M.registry; default PAUSE_PROMOTE) it goes deep.
function Sandbox:pause()
  local paused = false
  self:change(function()
    if self.deleted or self.status ~= "running" or not self.box then return end
    if not self.box:freeze(true) then
      self:end_all("hibernated")
      return
    end
    self.paused, paused = true, true
    self.status = "hibernated"
    self:save()
  end)
  if not paused then return end
  -- promoted to deep unless woken first (a wake replaces idle_token)
  local token = task.condition()
  self.idle_token = token
  oc.spawn(function()
    token:wait(self.registry.pause_promote)
    if self.idle_token == token and self.paused then self:stop("hibernated") end
  end)
end

--- The environment of a command: base, then sandbox envs (unless
-- `base_only`: a terminal's, protocol.md 6.1), then `env`.
function Sandbox:environment(env, base_only)
  local merged = {}
  for k, v in pairs(M.BASE_ENV) do merged[k] = v end
  for k, v in pairs(base_only and {} or self.envs or {}) do merged[k] = v end
  for k, v in pairs(env or {}) do merged[k] = v end
  local list = {}
  for k, v in pairs(merged) do list[#list + 1] = k .. "=" .. v end
  table.sort(list)
  return list
end

--- Start argv in the sandbox as the sandbox user; a process object (see
-- src/sandbox/box.c), or nil, a message and the errno name.
function Sandbox:spawn(argv, env, cwd)
  self:touch()
  return self.box:spawn(argv, self:environment(env), cwd or M.USER.home,
    M.USER.uid, M.USER.gid)
end

--- The sandbox's root directory, as an fd the box owns: what the files
-- API resolves paths in.
function Sandbox:root()
  return self.box:root()
end

--- The host uid and gid of the sandbox user: what the files API acts as.
function Sandbox:user_ids()
  local base = self:uid_base()
  return base + M.USER.uid, base + M.USER.gid
end

function Sandbox:touch()
  self.last_activity = oc.now()
end

-- running commands and attached clients keep a sandbox from idling
function Sandbox:busy(delta)
  self.busy_count = self.busy_count + delta
  self:touch()
end

--- Set the idle timeout (seconds, 0 = never).
function Sandbox:set_timeout(seconds)
  self.timeout = seconds
  self:touch()
  self:save()
  self:watch_idle()
end

-- one watcher task per sandbox and timeout setting: hibernate the
-- sandbox once nothing has happened for `timeout` seconds (protocol.md
-- section 2.6; the next data-plane call wakes it)
-- (it sleeps until the deadline as it stands, then looks again: activity
-- only moves the deadline, and unwatch_idle() ends it at once)
function Sandbox:watch_idle()
  self:unwatch_idle()
  if (self.timeout or 0) <= 0 then return end
  local token = task.condition()
  self.idle_token = token
  oc.spawn(function()
    while self.idle_token == token and self.status == "running" do
      local left = self.last_activity + self.timeout - oc.now()
      if left <= 0 then
        if self.busy_count == 0 then
          self.idle_token = nil
          self:pause()
          return
        end
        left = self.timeout	-- a command runs: its end counts as activity
      end
      token:wait(left)
    end
  end)
end

function Sandbox:unwatch_idle()
  local token = self.idle_token
  self.idle_token = nil
  if token then token:signal() end
end

-- End the isolated environment, if it runs, and take `status` (inside
-- change(): stop and delete share it). A paused one is thawed first: a
-- frozen process cannot die (cgroup v1), and its init must see the end.
function Sandbox:halt(status)
  self:unwatch_idle()
  local box = self.box
  self.box = nil
  self.status = status
  if box and self.paused then box:freeze(false) end
  self.paused = nil
  if box then box:stop() end
end

--- (inside change()) End every process and session and make the
-- sandbox's files a writable snapshot of the directory `src` (a
-- checkpoint of it, checkpoint.lua), then boot it: its id, uid slot and
-- configuration stay. Raises with what failed: before its processes
-- ended, nothing changed; after, the sandbox is "stopped" (the next
-- data-plane call boots it on whichever files it then has).
function Sandbox:replace_files(src)
  local reg = self.registry
  local new, old = staging(reg, self.id .. ".new"), staging(reg, self.id .. ".old")
  M.snapshot(reg, src, new, false)
  -- its environment is down for a moment, but the sandbox is not
  -- stopped: GET keeps saying running (requests wait meanwhile)
  self.restoring = true
  local ok, err = pcall(function()
    self:save(new)
    self:end_all("stopped")
    -- two renames; M.load puts .old back if a crash comes between them
    local moved, why = os.rename(self.dir, old)
    if not moved then error("move " .. self.dir .. ": " .. why, 0) end
    moved, why = os.rename(new, self.dir)
    if not moved then
      os.rename(old, self.dir)
      error("move " .. new .. ": " .. why, 0)
    end
  end)
  if not ok then
    self.restoring = nil
    pcall(core.box_destroy, new)
    error(err, 0)
  end
  pcall(core.box_destroy, old)
  ok, err = pcall(function()
    if reg.disk then core.disk_limit(self.dir, self.disk_mb * 1048576) end
    self:boot(false)
  end)
  self.restoring = nil
  if not ok then error(err, 0) end
  self:save()
  self:touch()
  self:watch_idle()
end

--- Kill every process and forget the sessions (as the reference does when
-- it hibernates a sandbox); the sandbox keeps its files.
function Sandbox:stop(status)
  self:change(function()
    if self.deleted then return end	-- deleted while this one waited
    self:end_all(status)
  end)
end

-- (inside change()) kill and forget every session, end the environment,
-- take `status` and save it
function Sandbox:end_all(status)
  for _, s in pairs(self.sessions) do s:kill(9) end
  self.sessions, self.finished_sessions = {}, nil
  self:halt(status)
  self:save()
end

--- Kill everything and remove the sandbox's files.
function Sandbox:delete()
  if self.deleted then return end
  self.deleted = true
  self.registry.by_id[self.id] = nil
  self:change(function()
    self:halt("stopped")
    core.box_destroy(self.dir)
    self.registry.slots[self.slot] = nil
  end)
end

function Sandbox:info()
  return {
    sandboxID = self.id, templateID = self.template,
    status = self.restoring and "running" or self.status,
    startedAt = os.date("!%Y-%m-%dT%H:%M:%SZ", self.started_at),
    endAt = (self.timeout or 0) > 0 and os.date("!%Y-%m-%dT%H:%M:%SZ",
      math.floor(os.time() + self.timeout)) or nil,
    metadata = next(self.metadata or {}) and self.metadata or nil,
    cpuCount = self.cpu_count, memoryMB = self.memory_mb,
    diskMB = self.disk_mb,
    stopReason = self.status == "stopped" and self.stop_reason or nil,
    patchError = self.patch_error,
    sandboxDomain = self.registry.preview_domain,
    tags = {}, tagsLastUpdatedAt = json.null,
  }
end

M.Sandbox = Sandbox
return M
