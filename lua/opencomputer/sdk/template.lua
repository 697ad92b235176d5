-- opencomputer/sdk/template.lua - oc.Template (API.md 7, protocol.md
-- 8.7): sandbox templates built from a Dockerfile. Start a sandbox from
-- one with oc.Sandbox.create{template = name}.
--
-- A template is a table with the server's fields in snake_case
-- (client.snake): template_id, name, tag, status ("ready", "building",
-- "error"), image_id, build_id, created_at, error_msg (a failed build's).

local client = require("opencomputer.client.api")

local Template = {}

local M = { Template = Template }

local function path(name)
  return "/templates/" .. client.segment(name)
end

local BUILD = client.with_connection{ "tag", "on_build_log" }

--- Template.build(name, dockerfile, {tag=, on_build_log=, api_url=,
-- api_key=}) -> the template as the server answers the build (its
-- `status` says whether it is ready; the local server answers once the
-- build has ended). `dockerfile` is the Dockerfile's text; the local
-- server's README says which instructions it builds. A refused
-- Dockerfile raises the server's 400 (SandboxError, naming the line), a
-- failed build its 500 ("image build failed: ..."). With
-- `on_build_log(line, event)` the build is asked for as an event stream
-- (Accept: text/event-stream, as for a snapshot: client/sse.lua, an
-- extension of oclua's server to protocol.md 8.7) and each line of its
-- log reaches the callback as it comes; a failed build then raises
-- SandboxError "Build failed: ...".
function Template.build(name, dockerfile, opts)
  client.check_id(name, "the name", "Template.build")
  client.check_text(dockerfile, "the Dockerfile", "Template.build")
  local c = client.open(opts, "Template.build", BUILD)
  opts = opts or {}
  if opts.tag ~= nil then client.check_text(opts.tag, "tag", "Template.build") end
  client.check_callbacks(opts, "Template.build")
  local body = { name = name, dockerfile = dockerfile, tag = opts.tag }
  if opts.on_build_log then
    return client.snake(require("opencomputer.client.sse").build(c,
      "/templates", body, opts.on_build_log))
  end
  return client.snake((c:call("POST", "/templates", { body = body })))
end

--- Template.list({api_url=, api_key=, retries=}) -> a list of templates.
function Template.list(opts)
  local c = client.open(opts, "Template.list")
  return client.snake_list(c:call("GET", "/templates"))
end

--- Template.get(name, {api_url=, api_key=, retries=}) -> the template;
-- NotFoundError when there is none of that name.
function Template.get(name, opts)
  client.check_id(name, "the name", "Template.get")
  local c = client.open(opts, "Template.get")
  return client.snake((c:call("GET", path(name))))
end

--- Template.delete(name, {api_url=, api_key=, retries=}): gone. NotFoundError when
-- there is none of that name (protocol.md 9.3 lists no template among
-- the deletes whose 404 SDKs ignore, and the TypeScript SDK raises).
function Template.delete(name, opts)
  client.check_id(name, "the name", "Template.delete")
  local c = client.open(opts, "Template.delete")
  c:call("DELETE", path(name))
end

return M
