-- opencomputer/sdk/template.lua - oc.Template (API.md 7, protocol.md
-- 8.7): sandbox templates built from a Dockerfile. Start a sandbox from
-- one with oc.Sandbox.create{template = name}.
--
-- A template is a table with the server's fields in snake_case
-- (client.snake): template_id, name, tag, status ("ready", "building",
-- "error"), image_id, build_id, created_at.

local client = require("opencomputer.client.api")

local Template = {}

local M = { Template = Template }

local function path(name)
  return "/templates/" .. client.urlencode(name)
end

local BUILD = { tag = true, api_url = true, api_key = true }

--- Template.build(name, dockerfile, {tag=, api_url=, api_key=}) -> the
-- template as the server answers the build (its `status` says whether it
-- is ready). `dockerfile` is the Dockerfile's text; the local server's
-- README says which instructions it builds. A refused Dockerfile raises
-- the server's 400 (SandboxError, naming the line).
function Template.build(name, dockerfile, opts)
  client.check_text(name, "the name", "Template.build")
  if name == "" then error("Template.build: the name is empty", 2) end
  client.check_text(dockerfile, "the Dockerfile", "Template.build")
  local c = client.open(opts, "Template.build", BUILD)
  if opts and opts.tag ~= nil then client.check_text(opts.tag, "tag", "Template.build") end
  return client.snake(c:call("POST", "/templates", { body = {
    name = name, dockerfile = dockerfile, tag = opts and opts.tag } }))
end

--- Template.list({api_url=, api_key=}) -> a list of templates.
function Template.list(opts)
  local c = client.open(opts, "Template.list")
  local out = {}
  for i, t in ipairs(c:call("GET", "/templates") or {}) do
    out[i] = client.snake(t)
  end
  return out
end

--- Template.get(name, {api_url=, api_key=}) -> the template;
-- NotFoundError when there is none of that name.
function Template.get(name, opts)
  client.check_text(name, "the name", "Template.get")
  local c = client.open(opts, "Template.get")
  return client.snake(c:call("GET", path(name)))
end

--- Template.delete(name, {api_url=, api_key=}): gone. NotFoundError when
-- there is none of that name (protocol.md 9.3 lists no template among
-- the deletes whose 404 SDKs ignore, and the TypeScript SDK raises).
function Template.delete(name, opts)
  client.check_text(name, "the name", "Template.delete")
  local c = client.open(opts, "Template.delete")
  c:call("DELETE", path(name))
end

return M
