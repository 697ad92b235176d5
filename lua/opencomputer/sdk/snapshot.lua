-- opencomputer/sdk/snapshot.lua - oc.Snapshot (API.md 11, protocol.md
-- 8.5): named, pre-built images. create builds one from an oc.Image and
-- streams the build's log (client/sse.lua); get, list, delete.
--
-- A snapshot is a table with the server's fields in snake_case
-- (client.snake): id, name, status ("building", "ready", "failed"),
-- content_hash, checkpoint_id, manifest (as sent), created_at,
-- last_used_at. Use one with oc.Sandbox.create{snapshot = name}.

local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")
local image = require("opencomputer.sdk.image")
local sse = require("opencomputer.client.sse")

local Snapshot = {}

local M = { Snapshot = Snapshot }

local function path(name)
  return "/snapshots/" .. client.segment(name)
end

local CREATE = client.with_connection{ "name", "image", "on_build_log" }

--- Snapshot.create{name=, image=, on_build_log=, api_url=, api_key=, retries=} ->
-- the snapshot, once built (status "ready"). `image` is an oc.Image;
-- `on_build_log(line, event)` gets each line of the build's log as it
-- arrives (event: {step=, type=, message=}, protocol.md 2.2.1), running
-- in this task (it may yield; the stream waits for it). Raises
-- ConflictError when the name is taken (409), SandboxError "Build failed:
-- ..." when a step fails (the message names the step and its stderr).
function Snapshot.create(opts)
  if type(opts) ~= "table" then
    error("Snapshot.create: give a table {name =, image =}, got "
      .. client.show(opts), 2)
  end
  client.check_options(opts, CREATE, "Snapshot.create")
  client.check_id(opts.name, "name", "Snapshot.create")
  if not image.is(opts.image) then
    error("Snapshot.create: image must be an oc.Image (oc.Image.base()...), got "
      .. client.show(opts.image), 2)
  end
  client.check_callbacks(opts, "Snapshot.create")
  local c = client.new(opts, "Snapshot.create")
  local doc = sse.build(c, "/snapshots", { name = opts.name,
    image = opts.image:manifest() }, opts.on_build_log)
  return client.snake(doc)
end

--- Snapshot.get(name, {api_url=, api_key=, retries=}) -> the snapshot;
-- NotFoundError when there is none of that name.
function Snapshot.get(name, opts)
  client.check_id(name, "the name", "Snapshot.get")
  local c = client.open(opts, "Snapshot.get")
  return client.snake((c:call("GET", path(name))))
end

--- Snapshot.list({api_url=, api_key=, retries=}) -> a list of the named snapshots.
function Snapshot.list(opts)
  local c = client.open(opts, "Snapshot.list")
  return client.snake_list(c:call("GET", "/snapshots"))
end

--- Snapshot.delete(name, {api_url=, api_key=, retries=}): gone; a name that does
-- not exist is fine (404 ignored, as the reference SDKs do: protocol.md 9.3).
function Snapshot.delete(name, opts)
  client.check_id(name, "the name", "Snapshot.delete")
  local c = client.open(opts, "Snapshot.delete")
  local ok, err = pcall(c.call, c, "DELETE", path(name))
  if not ok and not errors.is(err, errors.NotFoundError) then error(err, 0) end
end

return M
