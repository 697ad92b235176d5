-- opencomputer/sdk/sandbox.lua - oc.Sandbox (API.md section 3): create,
-- connect, kill, is_running, set_timeout, hibernate, wake, close, and the
-- `<close>` form.
-- sb.exec (alias sb.commands) and sb.files are in exec.lua and files.lua.

local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")
local signed = require("opencomputer.sdk.signed")

local Sandbox = {}
Sandbox.__index = function(sb, k)
  local v = Sandbox[k]
  if v ~= nil then return v end
  if k == "id" then return rawget(sb, "sandbox_id") end
end
Sandbox.__name = "Sandbox"

local M = { Sandbox = Sandbox }

local function wrap(c, info)
  local sb = setmetatable({ sandbox_id = info.sandboxID,
    status = info.status, info = info, client = c,
    sessions = setmetatable({}, { __mode = "k" }) }, Sandbox)
  sb.exec = require("opencomputer.sdk.exec").new(sb)
  sb.commands = sb.exec
  sb.files = require("opencomputer.sdk.files").new(sb)
  return sb
end

local CREATE_OPTS = { template = true, timeout = true, envs = true,
  metadata = true, cpu_count = true, memory_mb = true, api_key = true,
  api_url = true }

--- Sandbox.create{template="base", timeout=300, envs=, metadata=,
-- cpu_count=, memory_mb=, api_key=, api_url=}; timeout is the idle
-- timeout in seconds, 0 for none (client.check_duration).
function Sandbox.create(opts)
  opts = opts or {}
  client.check_options(opts, CREATE_OPTS, "Sandbox.create")
  local timeout = client.check_duration(opts.timeout, "timeout", "Sandbox.create")
  local envs = client.string_map(opts.envs, "envs", "Sandbox.create")
  local metadata = client.string_map(opts.metadata, "metadata", "Sandbox.create")
  if opts.template ~= nil then
    client.check_text(opts.template, "template", "Sandbox.create")
  end
  local c = client.new(opts)
  local info = c:call("POST", "/sandboxes", { body = {
    templateID = opts.template or "base",
    timeout = timeout and math.ceil(timeout) or 300,
    envs = envs, metadata = metadata,
    cpuCount = opts.cpu_count, memoryMB = opts.memory_mb,
  } })
  return wrap(c, info)
end

--- Sandbox.connect(sandbox_id, {api_key=, api_url=})
function Sandbox.connect(id, opts)
  client.check_text(id, "the sandbox id", "Sandbox.connect")
  local c = client.new(opts)
  local info = c:call("GET", "/sandboxes/" .. client.urlencode(id),
    { fields = { sandbox_id = id } })
  return wrap(c, info)
end

function Sandbox:path(rest)
  return "/sandboxes/" .. client.urlencode(self.sandbox_id) .. (rest or "")
end

function Sandbox:call(method, rest, opts)
  if self.closed then
    errors.raise(errors.SandboxError, "this Sandbox object is closed "
      .. "(Sandbox.connect gives a new one)", { sandbox_id = self.sandbox_id })
  end
  opts = opts or {}
  opts.fields = opts.fields or { sandbox_id = self.sandbox_id }
  return self.client:call(method, self:path(rest), opts)
end

--- Kill the sandbox (its processes and files).
local function delete(sb)
  local ok, err = pcall(sb.client.call, sb.client, "DELETE", sb:path(),
    { fields = { sandbox_id = sb.sandbox_id } })
  if not ok and not errors.is(err, errors.NotFoundError) then error(err, 0) end
  sb.status = "stopped"
end

function Sandbox:kill()
  if self.closed then self:call("DELETE", "") end	-- raises
  delete(self)
end

function Sandbox:is_running()
  local ok, info = pcall(self.call, self, "GET", "")
  if not ok then
    if errors.is(info, errors.NotFoundError) then return false end
    error(info, 0)
  end
  self.status = info.status
  return info.status == "running"
end

--- Set the idle timeout in seconds (0: never; client.check_duration).
function Sandbox:set_timeout(seconds)
  if seconds == nil then
    error("set_timeout: give the idle timeout in seconds (0: never)", 2)
  end
  client.check_duration(seconds, "timeout", "set_timeout")
  self:call("POST", "/timeout", { body = { timeout = math.ceil(seconds) } })
end

--- Hibernate the sandbox: its processes end, its files stay, and the
-- next command or file call wakes it (so does wake()).
function Sandbox:hibernate()
  local info = self:call("POST", "/hibernate")
  self.status = type(info) == "table" and info.status or "hibernated"
end

local WAKE_OPTS = { timeout = true }

--- Wake a hibernated sandbox (a running one is left as it is).
-- opts.timeout: the idle timeout from now on, in seconds (0, the default:
-- never), as the cloud applies it to a sandbox it restores.
function Sandbox:wake(opts)
  opts = opts or {}
  client.check_options(opts, WAKE_OPTS, "Sandbox:wake")
  local timeout = client.check_duration(opts.timeout, "timeout", "Sandbox:wake") or 0
  local info = self:call("POST", "/wake", { body = { timeout = math.ceil(timeout) } })
  self.status = type(info) == "table" and info.status or "running"
end

--- Release what this object holds in this process: its open sessions
-- are detached (their processes keep running) and later calls through it
-- raise. The sandbox itself lives on; kill() ends it.
function Sandbox:close()
  if self.closed then return end
  for s in pairs(self.sessions) do s:close() end
  self.closed = true
end

-- `local sb <close> = ...` kills the sandbox on leaving scope, even when
-- sb:close() released the object before
function Sandbox:__close()
  if self.status ~= "stopped" then delete(self) end
end

-- signed file URLs (API.md 11): sdk/signed.lua
Sandbox.download_url = signed.download_url
Sandbox.upload_url = signed.upload_url

function Sandbox:__tostring()
  return "Sandbox " .. tostring(self.sandbox_id) .. " (" .. tostring(self.status) .. ")"
end

return M
