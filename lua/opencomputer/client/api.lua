-- opencomputer/client/api.lua - one API endpoint as the SDK sees it: the
-- resolved base URL and key (config.lua), JSON requests with the auth
-- header, and error objects that name the sandbox they concern.

local config = require("opencomputer.sdk.config")
local errors = require("opencomputer.sdk.errors")
local http = require("opencomputer.client.http")
local json = require("opencomputer.runtime.json")

local M = {}

local Client = {}
Client.__index = Client

function M.new(opts)
  local c = config.resolve(opts)
  return setmetatable({ base = c.base, key = c.key, url = c.url,
    is_local = c.is_local }, Client)
end

function Client:headers(extra)
  local h = { ["Content-Type"] = "application/json" }
  if self.key then h["X-API-Key"] = self.key end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end
M.urlencode = urlencode

--- `path` with `query` (a table) appended, relative to the API base.
function Client:url_for(path, query)
  local u = self.base .. path
  if query then
    local parts = {}
    for k, v in pairs(query) do
      parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(v)
    end
    table.sort(parts)
    if #parts > 0 then u = u .. "?" .. table.concat(parts, "&") end
  end
  return u
end

--- A JSON request; the decoded answer (nil for an empty body) and the
-- raw response. opts: query, body (a table, sent as JSON), raw_body,
-- timeout, fields (added to a raised error: sandbox_id, session_id),
-- on_body, raise (false: return error statuses).
function Client:call(method, path, opts)
  opts = opts or {}
  local body = opts.raw_body
  if opts.body ~= nil then body = json.encode(opts.body) end
  local ok, res = pcall(http.request, method, self:url_for(path, opts.query), {
    headers = self:headers(opts.headers), body = body, timeout = opts.timeout,
    on_body = opts.on_body, length = opts.length,
    raise = opts.raise,
  })
  if not ok then
    if type(res) == "table" and opts.fields then
      for k, v in pairs(opts.fields) do
        if res[k] == nil then res[k] = v end
      end
    end
    error(res, 0)
  end
  local text = res.body
  if not text or text:match("^%s*$") then return nil, res end
  local doc = json.decode(text)
  if doc == nil then
    errors.raise(errors.SandboxError, "bad JSON from " .. method .. " "
      .. path .. ": " .. text:sub(1, 200), opts.fields)
  end
  return doc, res
end

--- Raise "<name>: unknown option 'k'" at the caller of the SDK call
-- for an option `opts` has that `allowed` does not (a misspelt option
-- should not be ignored).
function M.check_options(opts, allowed, name)
  for k in pairs(opts) do
    if not allowed[k] then
      error(name .. ": unknown option '" .. tostring(k) .. "'", 3)
    end
  end
end

--- The WebSocket URL of `path` (http -> ws), with the key in the query.
function Client:ws_url(path)
  local u = self.base:gsub("^http", "ws") .. path
  if self.key then u = u .. "?api_key=" .. urlencode(self.key) end
  return u
end

return M
