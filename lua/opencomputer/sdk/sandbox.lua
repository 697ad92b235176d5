-- opencomputer/sdk/sandbox.lua - oc.Sandbox (API.md section 3): create
-- (from a template, an oc.Image or a snapshot), connect, kill,
-- is_running, set_timeout, hibernate, wake, close, and the `<close>` form.
-- sb.exec (alias sb.commands), sb.files and sb.pty are in exec.lua,
-- files.lua and pty.lua; checkpoints, forks and patches in
-- checkpoint.lua; preview URLs in preview.lua.

local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")
local preview = require("opencomputer.sdk.preview")
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
  sb.agent = require("opencomputer.sdk.agent").new(sb)
  sb.pty = require("opencomputer.sdk.pty").new(sb)
  return sb
end
M.wrap = wrap	-- for checkpoint.lua's forks

local CREATE_OPTS = client.with_connection{ "template", "timeout", "envs",
  "metadata", "cpu_count", "memory_mb", "image", "snapshot", "on_build_log",
  "preview_auth" }

-- Sandbox.create{image = | snapshot =}: the fork path of protocol.md 2.2,
-- through the build stream of 2.2.1
local function create_built(opts, timeout, envs, metadata, memory_mb)
  local name = "Sandbox.create"
  if opts.image ~= nil and opts.snapshot ~= nil then
    error(name .. ": give image or snapshot, not both", 3)
  end
  for _, k in ipairs{ "template", "cpu_count", "preview_auth" } do
    if opts[k] ~= nil then
      error(string.format("%s: %s cannot be given with %s (the sandbox "
        .. "gets the image's configuration: protocol.md 2.2)", name, k,
        opts.image ~= nil and "image" or "snapshot"), 3)
    end
  end
  local body = { envs = envs, metadata = metadata, memoryMB = memory_mb,
    timeout = math.ceil(timeout) }
  if opts.image ~= nil then
    if not require("opencomputer.sdk.image").is(opts.image) then
      error(name .. ": image must be an oc.Image (oc.Image.base()...), got "
        .. client.show(opts.image), 3)
    end
    body.image = opts.image:manifest()
  else
    client.check_text(opts.snapshot, "snapshot", name, 3)
    body.snapshot = opts.snapshot
  end
  local c = client.new(opts, name, 3)
  local info = require("opencomputer.client.sse").build(c, "/sandboxes",
    body, opts.on_build_log)
  local sb = wrap(c, info)
  require("opencomputer.sdk.checkpoint").apply_timeout(sb, timeout)
  return sb
end

--- Sandbox.create{template="base", timeout=300, envs=, metadata=,
-- cpu_count=, memory_mb=, api_key=, api_url=, retries=, preview_auth=}
-- (retries: config.check_retries; the sandbox's later calls keep it);
-- timeout is the idle timeout in seconds, 0 for none
-- (client.check_duration); cpu_count (CPUs) and memory_mb (MiB) are
-- positive integers (client.check_integer), and the server takes only its
-- tiers (protocol.md 2.2: 1024/1, 4096/1, 8192/2, 16384/4; else its 400).
-- preview_auth (true, a token of your own, or {token=}) gates the
-- sandbox's preview URLs with a bearer token (protocol.md 2.2, 8.8): the
-- server's, or yours, is sb.preview_auth_token (the only time it is
-- given; sb:rotate_preview_auth_token() makes a new one).
-- With `image` (an oc.Image) or `snapshot` (a snapshot's name) instead of
-- a template, the sandbox starts from that image, built first if the
-- server has not cached it, and `on_build_log(line, event)` gets the
-- build's log line by line as it arrives (client/sse.lua); only envs,
-- metadata, memory_mb and timeout apply then (protocol.md 2.2, 8.3; the
-- timeout is set after the create, as the reference server ignores it
-- there). A failed build raises SandboxError "Build failed: ...".
function Sandbox.create(opts)
  opts = opts or {}
  client.check_options(opts, CREATE_OPTS, "Sandbox.create")
  local timeout = client.check_duration(opts.timeout, "timeout", "Sandbox.create")
  local envs = client.string_map(opts.envs, "envs", "Sandbox.create")
  local metadata = client.string_map(opts.metadata, "metadata", "Sandbox.create")
  local cpu_count = client.check_integer(opts.cpu_count, "cpu_count",
    "Sandbox.create", 1, client.MAX_INT)
  local memory_mb = client.check_integer(opts.memory_mb, "memory_mb",
    "Sandbox.create", 1, client.MAX_INT)
  client.check_callbacks(opts, "Sandbox.create")
  if opts.image ~= nil or opts.snapshot ~= nil then
    local sb = create_built(opts, timeout or 300, envs, metadata, memory_mb)
    return sb	-- not a tail call: create_built's errors count this frame
  end
  if opts.on_build_log ~= nil then
    error("Sandbox.create: on_build_log needs image or snapshot (a "
      .. "template is not built)", 2)
  end
  if opts.template ~= nil then
    client.check_text(opts.template, "template", "Sandbox.create")
  end
  local auth = preview.auth_body(opts.preview_auth, "Sandbox.create")
  local c = client.new(opts, "Sandbox.create")
  local info = c:call("POST", "/sandboxes", { body = {
    templateID = opts.template or "base",
    timeout = timeout and math.ceil(timeout) or 300,
    envs = envs, metadata = metadata,
    cpuCount = cpu_count, memoryMB = memory_mb, previewAuth = auth,
  } })
  local sb = wrap(c, info)
  sb.preview_auth_token = info.previewAuthToken	-- (preview.lua)
  return sb
end

--- Sandbox.connect(sandbox_id, {api_key=, api_url=, retries=}) -> the
-- sandbox object of an existing sandbox (GET /sandboxes/{id}, protocol.md
-- 2.3); its later calls keep these options.
-- sandbox_id: a non-empty string (client.check_id); an unknown option
-- or a bad id raises before any request; NotFoundError when there is no
-- such sandbox.
function Sandbox.connect(id, opts)
  client.check_id(id, "the sandbox id", "Sandbox.connect")
  local c = client.open(opts, "Sandbox.connect")
  local info = c:call("GET", "/sandboxes/" .. client.segment(id),
    { fields = { sandbox_id = id } })
  return wrap(c, info)
end

--- Sandbox.list{api_key=, api_url=, retries=} -> the sandboxes of that server
-- (GET /sandboxes, protocol.md 2.4), each a table as get_info() gives
-- it (sandbox_id, status, template_id, started_at, metadata, ...), in
-- the server's order. (Beyond API.md: the Python SDK's Sandbox.list;
-- `oclua sandbox list` prints it.)
function Sandbox.list(opts)
  return client.snake_list(client.open(opts, "Sandbox.list"):call("GET",
    "/sandboxes"))
end

--- sb:path(rest) -> the API path of this sandbox's route `rest` (a
-- string starting with "/", or nil for the sandbox itself):
-- "/sandboxes/{id}" .. rest, the id a path segment (client.segment).
-- Internal to the SDK: `rest` is not encoded.
function Sandbox:path(rest)
  return "/sandboxes/" .. client.segment(self.sandbox_id) .. (rest or "")
end

--- sb:call(method, rest, opts) -> the decoded JSON answer (nil for an
-- empty body) and the raw response of one request to this sandbox's
-- route `rest` (sb:path), as Client:call makes it: `opts` as there, its
-- `fields` defaulting to {sandbox_id =} so that a raised error names the
-- sandbox. Raises SandboxError once sb:close() released this object,
-- and the error classes of API.md 8 for the server's refusals. Internal
-- to the SDK (the sub-objects' requests go through it).
function Sandbox:call(method, rest, opts)
  if self.closed then
    errors.raise(errors.SandboxError, "this Sandbox object is closed "
      .. "(Sandbox.connect gives a new one)", { sandbox_id = self.sandbox_id })
  end
  opts = opts or {}
  opts.fields = opts.fields or { sandbox_id = self.sandbox_id }
  return self.client:call(method, self:path(rest), opts)
end

-- DELETE the sandbox; one already gone (404) is not an error
local function delete(sb)
  local ok, err = pcall(sb.client.call, sb.client, "DELETE", sb:path(),
    { fields = { sandbox_id = sb.sandbox_id } })
  if not ok and not errors.is(err, errors.NotFoundError) then error(err, 0) end
  sb.status = "stopped"
end

--- sb:kill(): kill the sandbox: its processes and files are gone
-- (DELETE /sandboxes/{id}, protocol.md 2.5); sb.status becomes
-- "stopped". A sandbox already gone is not an error (its 404 is
-- ignored: the sandbox is gone either way); other refusals raise their error
-- class (API.md 8), and a closed object SandboxError.
function Sandbox:kill()
  if self.closed then self:call("DELETE", "") end	-- raises
  delete(self)
end

--- sb:is_running() -> true when the server says the sandbox's status is
-- "running" (GET /sandboxes/{id}), false for any other status or when
-- it is gone (404); refreshes sb.status. Other errors are raised (a
-- closed object: SandboxError).
function Sandbox:is_running()
  local ok, info = pcall(self.call, self, "GET", "")
  if not ok then
    if errors.is(info, errors.NotFoundError) then return false end
    error(info, 0)
  end
  self.status = info.status
  return info.status == "running"
end

--- sb:get_info() -> the sandbox as the server describes it now (GET
-- /sandboxes/{id}, protocol.md 2.3), in snake_case: sandbox_id, status,
-- template_id, metadata, started_at, ..., and patch_error (the last
-- checkpoint patch that failed in it: protocol.md 8.4) when there is one.
-- Refreshes sb.status and sb.info (the raw answer).
function Sandbox:get_info()
  local doc = self:call("GET", "")
  self.info = doc
  self.status = type(doc) == "table" and doc.status or self.status
  return client.snake(doc)
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

-- checkpoints, forks and patches (checkpoint.lua)
local checkpoint = require("opencomputer.sdk.checkpoint")
Sandbox.create_checkpoint = checkpoint.create
Sandbox.list_checkpoints = checkpoint.list
Sandbox.wait_checkpoint = checkpoint.wait
Sandbox.restore_checkpoint = checkpoint.restore
Sandbox.delete_checkpoint = checkpoint.delete
Sandbox.create_from_checkpoint = checkpoint.create_from_checkpoint
Sandbox.create_checkpoint_patch = checkpoint.create_patch
Sandbox.list_checkpoint_patches = checkpoint.list_patches
Sandbox.delete_checkpoint_patch = checkpoint.delete_patch

-- preview URLs (preview.lua)
Sandbox.create_preview_url = preview.create
Sandbox.list_preview_urls = preview.list
Sandbox.delete_preview_url = preview.delete
Sandbox.rotate_preview_auth_token = preview.rotate
-- signed file URLs (API.md 11): sdk/signed.lua
Sandbox.download_url = signed.download_url
Sandbox.upload_url = signed.upload_url

function Sandbox:__tostring()
  return "Sandbox " .. tostring(self.sandbox_id) .. " (" .. tostring(self.status) .. ")"
end

return M
