-- opencomputer/sdk/preview.lua - preview URLs (API.md 3 and 11,
-- protocol.md 8.8): the Sandbox methods create_preview_url,
-- list_preview_urls, delete_preview_url and rotate_preview_auth_token
-- (sandbox.lua installs them on oc.Sandbox), and the previewAuth body
-- of Sandbox.create{preview_auth=}.
--
-- A preview is a table with the server's fields in snake_case
-- (client.snake): id, sandbox_id, org_id, hostname, port, ssl_status,
-- auth_config (as given), created_at, custom_hostname when the server
-- has one; and `url`, the URL to open: "http://" .. hostname .. "/" for
-- a host under localhost (the local server, `oclua serve`), "https://"
-- for any other (the cloud). When the sandbox has a preview token, a
-- request to the URL must carry it (Authorization: Bearer, or
-- X-OC-Preview-Token; on the local server a browser opens
-- url .. "?oc_preview_token=" .. token once, and a cookie keeps it).

local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")

local M = {}

-- raise at the SDK call's caller unless `port` is an integer 1..65535
local function check_port(port, name)
  if math.type(port) ~= "integer" or port < 1 or port > 65535 then
    error(name .. ": port must be an integer from 1 to 65535, got "
      .. client.show(port), 3)
  end
  return port
end

--- The URL to open for the host name `hostname` (a preview object's):
-- http:// under localhost (RFC 6761: the local server), else https://.
function M.url(hostname)
  local host = hostname:lower():gsub(":%d+$", "")
  local plain = host == "localhost" or host:sub(-10) == ".localhost"
  return (plain and "http://" or "https://") .. hostname .. "/"
end

-- the preview table of the JSON object `doc`
local function preview(sb, doc)
  local p = client.snake(doc)
  if type(p) ~= "table" or type(p.hostname) ~= "string" then
    errors.raise(errors.SandboxError, "the server answered no preview "
      .. "object", { sandbox_id = sb.sandbox_id })
  end
  p.url = M.url(p.hostname)
  return p
end

local CREATE = { domain = true, auth_config = true }

--- sb:create_preview_url(port, {domain=, auth_config=}) -> the preview
-- of `port` (1 to 65535): a new one, or the one that port already has.
-- `domain`: a custom domain of the account (the local server takes only
-- its own); `auth_config`: a table, stored and echoed. Raises the
-- server's 400 (SandboxError) when the sandbox is not running.
function M.create(sb, port, opts)
  local name = "create_preview_url"
  check_port(port, name)
  opts = opts or {}
  client.check_options(opts, CREATE, name)
  if opts.domain ~= nil then client.check_text(opts.domain, "domain", name) end
  if opts.auth_config ~= nil and type(opts.auth_config) ~= "table" then
    error(name .. ": auth_config must be a table, got "
      .. client.show(opts.auth_config), 2)
  end
  local doc = sb:call("POST", "/preview", { body = { port = port,
    domain = opts.domain ~= "" and opts.domain or nil,
    authConfig = opts.auth_config or {} } })
  return preview(sb, doc)
end

--- sb:list_preview_urls() -> a list of the sandbox's previews (by port).
function M.list(sb)
  local out = {}
  for i, doc in ipairs(sb:call("GET", "/preview") or {}) do
    out[i] = preview(sb, doc)
  end
  return out
end

--- sb:delete_preview_url(port): its URL stops working (open connections
-- to it are closed by the local server). A port without one is fine (a
-- 404 is success, as in both official SDKs: protocol.md 9.3).
function M.delete(sb, port)
  check_port(port, "delete_preview_url")
  local ok, err = pcall(sb.call, sb, "DELETE", "/preview/" .. client.segment(port))
  if not ok and not errors.is(err, errors.NotFoundError) then error(err, 0) end
end

--- sb:rotate_preview_auth_token() -> a new preview token (also kept as
-- sb.preview_auth_token); the old one stops working at once, and a
-- sandbox without one has its previews gated from now on (8.8).
function M.rotate(sb)
  local doc = sb:call("POST", "/preview/rotate")
  if type(doc) ~= "table" or type(doc.previewAuthToken) ~= "string" then
    errors.raise(errors.SandboxError, "the server answered no preview "
      .. "token", { sandbox_id = sb.sandbox_id })
  end
  sb.preview_auth_token = doc.previewAuthToken
  return doc.previewAuthToken
end

--- The previewAuth field of a create body (protocol.md 2.2) for the
-- option preview_auth of Sandbox.create: true (a token the server
-- makes), a string (a token of your own, at least 16 characters), or
-- {token=}; nil for nil or false. Raises at the caller's caller.
function M.auth_body(v, name)
  if v == nil or v == false then return nil end
  if v == true then return { scheme = "bearer", token = "auto" } end
  if type(v) == "table" then client.check_options(v, { token = true }, name, 3) end
  local token = type(v) == "table" and v.token or v
  if token == nil then token = "auto" end
  if type(token) ~= "string" or (token ~= "auto" and #token < 16) then
    error(name .. ": preview_auth must be true, a token of at least 16 "
      .. "characters or {token=...}, got " .. client.show(v), 3)
  end
  return { scheme = "bearer", token = token }
end

return M
