-- opencomputer/server/http.lua - what every route of the local server
-- shares: JSON answers and errors in the shapes of protocol.md section 9,
-- request body decoding with a field schema, the API key check, open CORS
-- (protocol.md 1.6), and the route table.

local json = require("opencomputer.runtime.json")

local M = {}

--- The headers of every answer, with `extra` added: CORS is open to any
-- origin, as the cloud's (protocol.md 1.6); the API key, not the origin,
-- is what grants access.
function M.headers(extra)
  local h = { ["Access-Control-Allow-Origin"] = "*",
    ["Access-Control-Expose-Headers"] = "X-Request-Id" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

local JSON = M.headers({ ["Content-Type"] = "application/json" })
local PLAIN = M.headers()
local PREFLIGHT = M.headers({
  ["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS",
  ["Access-Control-Allow-Headers"] =
    "Content-Type, Authorization, X-API-Key, X-Request-Id, X-OSB-Async-Wake",
  ["Access-Control-Max-Age"] = "86400",
})

--- Send `obj` as JSON with `status`.
function M.json(req, status, obj)
  req:respond(status, JSON, json.encode(obj))
end

--- Send {"error": message} with `status`.
function M.fail(req, status, message)
  req:respond(status, JSON, json.encode({ error = message }))
end

function M.no_content(req)
  req:respond(204, PLAIN, "")
end

--- Answer a browser's CORS preflight (it carries no API key).
function M.preflight(req)
  req:respond(204, PREFLIGHT, "")
end

-- An error a handler raises to answer with status and message.
local Answer = {}
Answer.__index = Answer
Answer.__tostring = function(a) return "HTTP " .. a.status .. ": " .. a.message end

--- Stop the handler and answer `status` {"error": message}.
function M.abort(status, message)
  error(setmetatable({ status = status, message = message }, Answer), 0)
end

function M.is_answer(err)
  return getmetatable(err) == Answer
end

local MAX_JSON = 1024 * 1024

-- Read a JSON body and check it against `schema`: field name -> type
-- ("string", "number", "integer", "boolean", "table", "strings" for a
-- string list, "map" for a string->string object, "any"). Unknown fields
-- are dropped, as the reference server ignores them (protocol.md section
-- 0): a newer SDK may send fields this server does not know. An empty
-- body is an empty object.
function M.body(req, schema)
  local parts, size = {}, 0
  while true do
    local chunk = req:read()
    if not chunk then break end
    size = size + #chunk
    if size > MAX_JSON then
      M.abort(413, "request body too large (at most 1 MiB of JSON)")
    end
    parts[#parts + 1] = chunk
  end
  local text = table.concat(parts)
  if text:match("^%s*$") then return {} end
  local ctype = (req.headers["content-type"] or ""):lower()
  if not ctype:find("^application/json") then
    M.abort(400, "invalid request body: Content-Type must be application/json")
  end
  local doc, err = json.decode(text)
  if doc == nil then M.abort(400, "invalid request body: " .. err) end
  if type(doc) ~= "table" or (#doc > 0) then
    M.abort(400, "invalid request body: expected a JSON object")
  end
  for k, v in pairs(doc) do
    local want = schema[k]
    if not want or v == json.null then
      doc[k] = nil
    elseif not M.has_type(v, want) then
      M.abort(400, string.format("invalid request body: field %q must be %s", k,
        want == "strings" and "a list of strings" or want == "map"
          and "an object of strings" or "a " .. want))
    end
  end
  return doc
end

function M.has_type(v, want)
  if want == "any" then return true end
  if want == "integer" then return math.type(v) == "integer"
    or (type(v) == "number" and v == math.floor(v) and v > -2^53 and v < 2^53) end
  if want == "strings" then
    if type(v) ~= "table" then return false end
    for k, s in pairs(v) do
      if math.type(k) ~= "integer" or type(s) ~= "string" then return false end
    end
    return true
  end
  if want == "map" then
    if type(v) ~= "table" then return false end
    for k, s in pairs(v) do
      if type(k) ~= "string" or type(s) ~= "string" then return false end
    end
    return true
  end
  return type(v) == want
end

-- Constant-time comparison: the time depends on the lengths only.
local function same_secret(given, expected)
  local diff = #given ~ #expected
  for i = 1, #expected do
    diff = diff | ((given:byte(i) or 0) ~ expected:byte(i))
  end
  return diff == 0
end

--- Does the request carry the server's API key (X-API-Key, or the
-- api_key / token query parameters that WebSocket clients use)?
function M.authorized(req, key)
  local given = req.headers["x-api-key"] or req.query.api_key or req.query.token
  if not given then
    local bearer = req.headers["authorization"]
    given = bearer and bearer:match("^[Bb]earer%s+(.+)$")
  end
  return given ~= nil and same_secret(given, key)
end

-- Routes: {method, pattern, handler}; ":name" segments are captured.
function M.router()
  local routes = {}
  local r = {}
  function r.add(method, pattern, handler)
    local names, lpat = {}, {}
    for seg in pattern:gmatch("[^/]+") do
      if seg:sub(1, 1) == ":" then
        names[#names + 1] = seg:sub(2)
        lpat[#lpat + 1] = "([^/]+)"
      else
        lpat[#lpat + 1] = seg:gsub("%p", "%%%0")
      end
    end
    routes[#routes + 1] = { method = method, names = names,
      pat = "^/" .. table.concat(lpat, "/") .. "$", handler = handler }
  end
  -- the handler and params for a request, or nil and 404/405
  function r.match(method, path)
    local path_known = false
    for _, rt in ipairs(routes) do
      local caps = { path:match(rt.pat) }
      if caps[1] or (#rt.names == 0 and path:match(rt.pat)) then
        path_known = true
        if rt.method == method or (method == "HEAD" and rt.method == "GET") then
          local params = {}
          for i, n in ipairs(rt.names) do params[n] = caps[i] end
          return rt.handler, params
        end
      end
    end
    return nil, path_known and 405 or 404
  end
  return r
end

return M
