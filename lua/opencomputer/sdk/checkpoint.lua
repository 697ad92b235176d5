-- opencomputer/sdk/checkpoint.lua - checkpoints, forks and checkpoint
-- patches (API.md 3 and 11, protocol.md 8.1, 8.2, 8.4): the Sandbox
-- methods create_checkpoint, list_checkpoints, wait_checkpoint,
-- restore_checkpoint, delete_checkpoint, and the class
-- functions create_from_checkpoint, create_checkpoint_patch,
-- list_checkpoint_patches, delete_checkpoint_patch (sandbox.lua installs
-- them on oc.Sandbox).
--
-- A checkpoint is a table with the server's fields in snake_case
-- (client.snake): id, sandbox_id, name, kind ("full", "disk_only"),
-- status ("processing", "ready", "failed"), size_bytes, created_at,
-- sandbox_config (as sent), error_msg when it failed, ...; and the method
-- checkpoint:wait{timeout=}. A patch: id, checkpoint_id, sequence,
-- script, description, strategy, created_at.

local oc = require("opencomputer")
local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")

local M = {}

local Checkpoint = {}
Checkpoint.__index = Checkpoint
Checkpoint.__name = "Checkpoint"
M.Checkpoint = Checkpoint

-- the sandbox object each checkpoint table came through (for :wait)
local owner = setmetatable({}, { __mode = "k" })

-- the checkpoint table of the JSON object `doc`: a new one, or `into`
-- (an earlier table of it) updated
local function checkpoint(sb, doc, into)
  local cp = client.snake(doc)
  if type(cp) ~= "table" then
    errors.raise(errors.SandboxError, "the server answered no checkpoint "
      .. "object", { sandbox_id = sb.sandbox_id })
  end
  if into then
    for k in pairs(into) do into[k] = nil end
    for k, v in pairs(cp) do into[k] = v end
    cp = into
  end
  owner[cp] = sb
  return setmetatable(cp, Checkpoint)
end

local function cp_path(id)
  return "/checkpoints/" .. client.segment(id)
end

local KINDS = { full = true, disk_only = true }
local MODES = { none = true, delete_oldest = true }
local CREATE = { kind = true, retention_policy = true, promote_to_full = true }

--- sb:create_checkpoint(name, {kind=, retention_policy={mode=,
-- max_count=}, promote_to_full=}) -> the checkpoint, as the server
-- answers at once: status "processing" (wait for "ready" with
-- checkpoint:wait()). `kind`: "full" (the default) or "disk_only";
-- retention_policy.mode "none" or "delete_oldest" with max_count the
-- number to keep (protocol.md 8.2). Raises ConflictError when the
-- sandbox has a checkpoint of that name; the server's 400 for a sandbox
-- that is not running or past its limit.
function M.create(sb, name, opts)
  client.check_text(name, "the name", "create_checkpoint")
  if name == "" then error("create_checkpoint: the name is empty", 2) end
  opts = opts or {}
  client.check_options(opts, CREATE, "create_checkpoint")
  if opts.kind ~= nil and not KINDS[opts.kind] then
    error("create_checkpoint: kind must be \"full\" or \"disk_only\", got "
      .. client.show(opts.kind), 2)
  end
  if opts.promote_to_full ~= nil and type(opts.promote_to_full) ~= "boolean" then
    error("create_checkpoint: promote_to_full must be a boolean, got "
      .. client.show(opts.promote_to_full), 2)
  end
  local retention
  local rp = opts.retention_policy
  if rp ~= nil then
    if type(rp) ~= "table" then
      error("create_checkpoint: retention_policy must be a table {mode =, "
        .. "max_count =}, got " .. client.show(rp), 2)
    end
    client.check_options(rp, { mode = true, max_count = true },
      "create_checkpoint: retention_policy")
    if not MODES[rp.mode] then
      error("create_checkpoint: retention_policy.mode must be \"none\" or "
        .. "\"delete_oldest\", got " .. client.show(rp.mode), 2)
    end
    retention = { mode = rp.mode, maxCount = client.check_integer(
      rp.max_count, "retention_policy.max_count", "create_checkpoint", 1,
      client.MAX_INT) }
  end
  local doc = sb:call("POST", "/checkpoints", { body = { name = name,
    kind = opts.kind, promoteToFull = opts.promote_to_full,
    retentionPolicy = retention } })
  return checkpoint(sb, doc)
end

--- sb:list_checkpoints() -> the sandbox's checkpoints (a list).
function M.list(sb)
  local out = {}
  for i, doc in ipairs(sb:call("GET", "/checkpoints") or {}) do
    out[i] = checkpoint(sb, doc)
  end
  return out
end

local WAIT = { timeout = true }

-- polls of wait_checkpoint: one at once, the next after 5 ms, then each
-- pause 1.5 times longer, at most 1 s (a local checkpoint takes a few ms;
-- a cloud one may take minutes)
local FIRST_POLL, MAX_POLL = 0.005, 1

--- sb:wait_checkpoint(id, {timeout=300}) -> the checkpoint once its
-- status is "ready". The list is polled (protocol.md 8.2 gives no route
-- for one checkpoint) with a backoff from 5 ms to 1 s, sleeping in
-- between. Raises SandboxError "checkpoint ... failed: <error_msg>" (its
-- `checkpoint` field the table) when it failed, NotFoundError when the
-- sandbox has no checkpoint of that id, TimeoutError when `timeout`
-- seconds (client.check_duration; 0: no limit) pass first.
-- checkpoint:wait{timeout=} does the same and updates that table.
function M.wait(sb, id, opts, into)
  client.check_id(id, "the checkpoint id", "wait_checkpoint")
  opts = opts or {}
  client.check_options(opts, WAIT, "wait_checkpoint")
  local timeout = client.check_duration(opts.timeout, "timeout",
    "wait_checkpoint") or 300
  local deadline = timeout > 0 and oc.now() + timeout or math.huge
  local delay = FIRST_POLL
  local fields = { sandbox_id = sb.sandbox_id, checkpoint_id = id }
  while true do
    local found
    for _, doc in ipairs(sb:call("GET", "/checkpoints") or {}) do
      if type(doc) == "table" and doc.id == id then found = doc break end
    end
    if not found then
      errors.raise(errors.NotFoundError, "checkpoint " .. id
        .. " not found in sandbox " .. sb.sandbox_id, fields)
    end
    local cp = checkpoint(sb, found, into)
    if cp.status == "ready" then return cp end
    if cp.status == "failed" then
      fields.checkpoint = cp
      errors.raise(errors.SandboxError, string.format("checkpoint %s (%s) "
        .. "failed: %s", id, tostring(cp.name), tostring(cp.error_msg
          or "no reason given")), fields)
    end
    local left = deadline - oc.now()
    if left <= 0 then
      fields.checkpoint = cp
      errors.raise(errors.TimeoutError, string.format("checkpoint %s (%s) "
        .. "is still %s after %g s", id, tostring(cp.name),
        tostring(cp.status), timeout), fields)
    end
    oc.sleep(math.min(delay, left))
    delay = math.min(delay * 1.5, MAX_POLL)
  end
end

--- checkpoint:wait{timeout=300} -> this table, updated, once the
-- checkpoint is ready (sb:wait_checkpoint).
function Checkpoint:wait(opts)
  local sb = owner[self]
  if not sb then
    error("checkpoint:wait: call it with ':' on a checkpoint the SDK "
      .. "returned", 2)
  end
  return M.wait(sb, self.id, opts, self)
end

--- sb:restore_checkpoint(id): the sandbox's files go back to those of
-- the checkpoint, which must be "ready" (wait for it first: a checkpoint
-- still processing is the server's 400) and taken from this sandbox; the
-- sandbox keeps its id (and, on oclua's server, its configuration as it
-- is now: README, "Checkpoints"). Returns
-- once the restore is done: the server answers "restoring" at once and
-- holds data-plane requests until it has finished (protocol.md 8.2), so
-- the call then makes one (GET .../files/list of "/", which starts
-- nothing and changes nothing) and a restore that failed raises that
-- request's error (502).
-- Then sb.status and sb.info are refreshed. Processes do not survive a
-- restore; sessions open through this object end.
function M.restore(sb, id)
  client.check_id(id, "the checkpoint id", "restore_checkpoint")
  local fields = { sandbox_id = sb.sandbox_id, checkpoint_id = id }
  sb:call("POST", cp_path(id) .. "/restore", { fields = fields })
  sb:call("GET", "/files/list", { query = { path = "/" }, fields = fields })
  sb:get_info()
end

--- sb:delete_checkpoint(id): gone; an id the server does not know is
-- fine (404 ignored, as the reference SDKs do: protocol.md 8.2, 9.3).
function M.delete(sb, id)
  client.check_id(id, "the checkpoint id", "delete_checkpoint")
  local ok, err = pcall(sb.call, sb, "DELETE", cp_path(id),
    { fields = { sandbox_id = sb.sandbox_id, checkpoint_id = id } })
  if not ok and not errors.is(err, errors.NotFoundError) then error(err, 0) end
end

local FORK = client.with_connection{ "timeout", "envs", "metadata",
  "memory_mb" }

--- Sandbox.create_from_checkpoint(id, {timeout=300, envs=, metadata=,
-- memory_mb=, api_url=, api_key=, retries=}) -> a new sandbox (a fork) holding the
-- checkpoint's files and configuration; `envs` and `metadata` are merged
-- over the checkpoint's (these win), `memory_mb` is at least the
-- checkpoint's (protocol.md 8.2). Its checkpoint patches have run when
-- this returns; one that failed shows as sb:get_info().patch_error.
-- `timeout` is the idle timeout in seconds (0: never), sent with the
-- fork and then set with POST .../timeout, since the reference server
-- ignores the fork body's (protocol.md 8.2).
function M.create_from_checkpoint(id, opts)
  client.check_id(id, "the checkpoint id", "Sandbox.create_from_checkpoint")
  local name = "Sandbox.create_from_checkpoint"
  local c = client.open(opts, name, FORK)
  opts = opts or {}
  local timeout = client.check_duration(opts.timeout, "timeout", name) or 300
  local envs = client.string_map(opts.envs, "envs", name)
  local metadata = client.string_map(opts.metadata, "metadata", name)
  local memory_mb = client.check_integer(opts.memory_mb, "memory_mb", name,
    1, client.MAX_INT)
  local info = c:call("POST", "/sandboxes/from-checkpoint/"
    .. client.segment(id), { body = { timeout = math.ceil(timeout),
      envs = envs, metadata = metadata, memoryMB = memory_mb },
      fields = { checkpoint_id = id } })
  local sb = require("opencomputer.sdk.sandbox").wrap(c, info)
  M.apply_timeout(sb, timeout)
  return sb
end

--- Set the idle timeout of a sandbox the server made from a checkpoint
-- (a fork, an image, a snapshot: protocol.md 8.2, 8.3 say the
-- reference server ignores the body's); kills it when that fails, so
-- that no sandbox is left without the timeout asked for.
function M.apply_timeout(sb, timeout)
  local ok, err = pcall(sb.set_timeout, sb, timeout)
  if not ok then
    pcall(sb.kill, sb)
    error(err, 0)
  end
end

-- the patches route of checkpoint `id`
local function patches(id)
  return "/sandboxes/checkpoints/" .. client.segment(id) .. "/patches"
end

local PATCH = client.with_connection{ "description" }

--- Sandbox.create_checkpoint_patch(checkpoint_id, script, {description=,
-- api_url=, api_key=, retries=}) -> the patch: a bash script run, as the sandbox
-- user, once in each sandbox later derived from the checkpoint (at the
-- fork, and after an explicit wake), in `sequence` order (protocol.md
-- 8.4). Sandboxes already running are not touched.
function M.create_patch(id, script, opts)
  local name = "Sandbox.create_checkpoint_patch"
  client.check_id(id, "the checkpoint id", name)
  client.check_text(script, "the script", name)
  local c = client.open(opts, name, PATCH)
  local description = opts and opts.description
  if description ~= nil then client.check_text(description, "description", name) end
  local doc = c:call("POST", patches(id), { body = { script = script,
    description = description or "" }, fields = { checkpoint_id = id } })
  return client.snake(type(doc) == "table" and doc.patch or doc)
end

--- Sandbox.list_checkpoint_patches(checkpoint_id, {api_url=, api_key=, retries=})
-- -> the checkpoint's patches in sequence order (a list).
function M.list_patches(id, opts)
  client.check_id(id, "the checkpoint id", "Sandbox.list_checkpoint_patches")
  local c = client.open(opts, "Sandbox.list_checkpoint_patches")
  return client.snake_list(c:call("GET", patches(id),
    { fields = { checkpoint_id = id } }))
end

--- Sandbox.delete_checkpoint_patch(checkpoint_id, patch_id, {api_url=,
-- api_key=}): gone; an unknown patch is fine (404 ignored, as the
-- reference SDKs do: protocol.md 9.3). Sandboxes that ran it keep what
-- it did.
function M.delete_patch(id, pid, opts)
  local name = "Sandbox.delete_checkpoint_patch"
  client.check_id(id, "the checkpoint id", name)
  client.check_id(pid, "the patch id", name)
  local c = client.open(opts, name)
  local ok, err = pcall(c.call, c, "DELETE", patches(id) .. "/"
    .. client.segment(pid), { fields = { checkpoint_id = id } })
  if not ok and not errors.is(err, errors.NotFoundError) then error(err, 0) end
end

return M
