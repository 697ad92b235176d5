-- opencomputer/server/sandbox.lua - the local server's sandboxes: the
-- registry, their lifecycle (create, hibernated when idle or after a
-- server restart, woken on use, deleted), their state on disk, and the
-- environment commands run with (protocol.md sections 2 and 3.1).
--
-- On disk, DATA/sandboxes/<id>/ holds meta.json and the isolated
-- environment's files (see src/sandbox/box.c). A sandbox found there when the
-- server starts is "hibernated": its files are intact, its processes are
-- gone, and the first exec or files call wakes it.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local json = require("opencomputer.runtime.json")
local task = require("opencomputer.runtime.task")

local M = {}

local Sandbox = {}
Sandbox.__index = Sandbox

M.USER = { uid = 1000, gid = 1000, name = "sandbox", home = "/home/sandbox" }
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

local function new_id(registry)
  local id
  repeat id = string.format("sb-%08x", math.random(0, 0xffffffff))
  until not registry.by_id[id]
  return id
end

--- The sandboxes kept in data_dir; new ones start from a template built
-- (once per change of the host's /etc) under template_base.
function M.registry(data_dir, template_base)
  local reg = { by_id = {}, dir = data_dir .. "/sandboxes" }
  os.execute("mkdir -p '" .. reg.dir .. "'")
  reg.template = core.box_template(template_base, M.USER.uid, M.USER.gid)
  return setmetatable(reg, { __index = M })
end

--- Create and start a sandbox.
function M.create(reg, o)
  local id = new_id(reg)
  local sb = setmetatable({
    id = id, status = "running", template = o.template or "base",
    started_at = os.time(), metadata = o.metadata or {}, envs = o.envs or {},
    memory_mb = o.memory_mb, cpu_count = o.cpu_count,
    timeout = o.timeout or 0, dir = reg.dir .. "/" .. id,
    template_dir = reg.template,
    sessions = {}, busy_count = 0, last_activity = oc.now(), registry = reg,
  }, Sandbox)
  reg.by_id[id] = sb
  local ok, err = pcall(Sandbox.boot, sb, true)
  if not ok then
    reg.by_id[id] = nil
    pcall(core.box_destroy, sb.dir)
    error(err, 0)
  end
  sb:save()
  sb:watch_idle()
  return sb
end

--- Sandboxes left on disk by an earlier run come back hibernated.
function M.load(reg)
  local p = io.popen("ls -1 '" .. reg.dir .. "' 2>/dev/null")
  for id in p:lines() do
    local f = io.open(reg.dir .. "/" .. id .. "/meta.json")
    local doc = f and json.decode(f:read("a"))
    if f then f:close() end
    if type(doc) == "table" and doc.id == id then
      local sb = setmetatable(doc, Sandbox)
      sb.dir, sb.registry = reg.dir .. "/" .. id, reg
      sb.sessions, sb.busy_count = {}, 0
      sb.last_activity = oc.now()
      sb.status = "hibernated"
      reg.by_id[id] = sb
    end
  end
  p:close()
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

function Sandbox:save()
  local doc = {
    id = self.id, status = self.status, template = self.template,
    started_at = self.started_at, metadata = self.metadata, envs = self.envs,
    memory_mb = self.memory_mb, cpu_count = self.cpu_count,
    timeout = self.timeout, template_dir = self.template_dir,
  }
  local tmp = self.dir .. "/meta.json.tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(json.encode(doc))
  f:close()
  os.rename(tmp, self.dir .. "/meta.json")
end

-- start the isolated environment (fresh: lay out its files first)
function Sandbox:boot(fresh)
  self.box = core.box_start({
    dir = self.dir, template = self.template_dir, hostname = self.id,
    fresh = fresh,
    uid = M.USER.uid, gid = M.USER.gid,
    memory_mb = self.memory_mb, cpu_count = self.cpu_count,
  })
  self.status = "running"
end

-- Run fn as the sandbox's one state change at a time (a wake, a stop, a
-- delete): a caller that comes meanwhile waits for the change to finish,
-- so a request never meets a half-started or half-stopped environment.
function Sandbox:change(fn)
  while self.changing do self.changing:wait() end
  local done = task.condition()
  self.changing = done
  local ok, err = pcall(fn)
  self.changing = nil
  done:signal()
  if not ok then error(err, 0) end
end

--- Make sure the sandbox can run commands: wake it if hibernated
-- (concurrent requests share one wake). `timeout`, if given, becomes its
-- idle timeout when this call is the one that wakes it. False once it has
-- been deleted.
function Sandbox:ensure_running(timeout)
  if self.status == "running" and not self.changing then return true end
  self:change(function()
    if self.status ~= "hibernated" then return end
    if timeout then self.timeout = timeout end
    self:boot(false)
    self:save()
    self:touch()	-- the idle timeout counts from the wake
    self:watch_idle()
  end)
  return self.status == "running"
end

--- The environment of a command: base, then sandbox envs, then `env`.
function Sandbox:environment(env)
  local merged = {}
  for k, v in pairs(M.BASE_ENV) do merged[k] = v end
  for k, v in pairs(self.envs or {}) do merged[k] = v end
  for k, v in pairs(env or {}) do merged[k] = v end
  local list = {}
  for k, v in pairs(merged) do list[#list + 1] = k .. "=" .. v end
  table.sort(list)
  return list
end

--- Start argv in the sandbox; a process object (see src/sandbox/box.c).
function Sandbox:spawn(argv, env, cwd)
  self:touch()
  return self.box:spawn(argv, self:environment(env), cwd or M.USER.home,
    M.USER.uid, M.USER.gid)
end

--- The directory the files API resolves paths in.
function Sandbox:root()
  return self.box:root()
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
          self:stop("hibernated")
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
-- change(): stop and delete share it).
function Sandbox:halt(status)
  self:unwatch_idle()
  local box = self.box
  self.box = nil
  self.status = status
  if box then box:stop() end
end

--- Kill every process and forget the sessions (as the reference does when
-- it hibernates a sandbox); the sandbox keeps its files.
function Sandbox:stop(status)
  self:change(function()
    if self.deleted then return end	-- deleted while this one waited
    for _, s in pairs(self.sessions) do s:kill(9) end
    self.sessions, self.finished_sessions = {}, nil
    self:halt(status)
    self:save()
  end)
end

--- Kill everything and remove the sandbox's files.
function Sandbox:delete()
  if self.deleted then return end
  self.deleted = true
  self.registry.by_id[self.id] = nil
  self:change(function()
    self:halt("stopped")
    core.box_destroy(self.dir)
  end)
end

function Sandbox:info()
  return {
    sandboxID = self.id, templateID = self.template, status = self.status,
    startedAt = os.date("!%Y-%m-%dT%H:%M:%SZ", self.started_at),
    endAt = (self.timeout or 0) > 0 and os.date("!%Y-%m-%dT%H:%M:%SZ",
      math.floor(os.time() + self.timeout)) or nil,
    metadata = next(self.metadata or {}) and self.metadata or nil,
    cpuCount = self.cpu_count, memoryMB = self.memory_mb,
    tags = {}, tagsLastUpdatedAt = json.null,
  }
end

M.Sandbox = Sandbox
return M
