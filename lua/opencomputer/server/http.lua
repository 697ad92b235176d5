-- opencomputer/server/http.lua - what every route of the local server
-- shares: JSON answers and errors in the shapes of protocol.md section 9,
-- the API key check, open CORS (protocol.md 1.6), and the route table.
-- What a request may carry is checked by request.lua.

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

local UPGRADE = M.headers({ ["Content-Type"] = "application/json",
  Upgrade = "websocket", Connection = "Upgrade" })

--- Send {"error": message} with `status`.
function M.fail(req, status, message)
  req:respond(status, JSON, json.encode({ error = message }))
end

--- Refuse a plain request to a WebSocket-only route: 426 with
-- `Upgrade: websocket`, which RFC 9110 15.5.22 requires of a 426.
function M.upgrade_required(req)
  req:respond(426, UPGRADE, json.encode({ error = "this route is a "
    .. "WebSocket: send an HTTP/1.1 GET with Upgrade: websocket "
    .. "(RFC 6455 4.1)" }))
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

-- errno names (and src/sandbox/fs.c's own ENOTREG, a FIFO, socket or
-- device, and EREFUSED, a write to a kernel interface) -> status, for
-- every route whose failure is a system call's (protocol.md 9.2; unlike
-- the reference, which answers 500, a missing path is a 404)
local ERRNO_STATUS = {
  ENOENT = 404, ELOOP = 404,	-- a symlink loop names nothing
  ENOTDIR = 400, EISDIR = 400, ENOTREG = 400, ENAMETOOLONG = 400,
  EINVAL = 400,
  EACCES = 403, EPERM = 403, EROFS = 403, EREFUSED = 403, EXDEV = 403,
  EEXIST = 409, EBUSY = 409, ENOTEMPTY = 409, ETXTBSY = 409,
  EFBIG = 413, ENOSPC = 507, EDQUOT = 507,
}

--- Stop the handler and answer `message` with the status of the errno
-- name `code` (500 for one not in the table).
function M.fail_errno(message, code)
  M.abort(ERRNO_STATUS[code] or 500, message)
end

--- Refuse at once (413 `message`, before any 100 Continue: httpd sends
-- one on the first req:read()) a body whose Content-Length announces
-- more than `max` bytes; a chunked body is counted as it is read.
function M.limit_body(req, max, message)
  local length = tonumber(req.headers["content-length"])
  if length and length > max then M.abort(413, message) end
end

function M.is_answer(err)
  return getmetatable(err) == Answer
end

--- The message of the error `err`: an answer's (M.abort) message, else
-- its text without the Lua position of what raised it ("x.lua:12: ").
function M.message(err)
  if M.is_answer(err) then return err.message end
  return (tostring(err):gsub("^[%w/_.%-]+%.lua:%d+: ", ""))
end

--- Constant-time comparison of two strings (a key, a signature): the
-- time depends on the lengths only.
local function same_secret(given, expected)
  local diff = #given ~ #expected
  for i = 1, #expected do
    diff = diff | ((given:byte(i) or 0) ~ expected:byte(i))
  end
  return diff == 0
end
M.same_secret = same_secret

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

--- The segments of a request's raw (still percent-encoded) path, split
-- at "/" and then each decoded (httpd checked the escapes): an encoded
-- "/" ("%2F") is a character of its segment, never a separator, so
-- "/api/sandboxes/ID%2Ffiles" names the sandbox "ID/files". "/" is {""}.
function M.segments(raw_path)
  local segs = {}
  for seg in (raw_path:sub(2) .. "/"):gmatch("([^/]*)/") do
    segs[#segs + 1] = seg:gsub("%%(%x%x)", function(h)
      return string.char(tonumber(h, 16))
    end)
  end
  return segs
end

-- Routes: {method, pattern, handler}; ":name" segments are captured.
-- Requests are matched by their segments (M.segments), after "/api".
function M.router()
  local routes = {}
  local r = {}
  function r.add(method, pattern, handler)
    local segs = {}
    for seg in pattern:gmatch("[^/]+") do segs[#segs + 1] = seg end
    routes[#routes + 1] = { method = method, segs = segs, handler = handler }
  end
  -- the params of `segs` on `rt` ({name = segment}), or nil
  local function params_of(rt, segs)
    if #segs ~= #rt.segs then return nil end
    local params = {}
    for i, want in ipairs(rt.segs) do
      if want:sub(1, 1) == ":" then
        if segs[i] == "" then return nil end
        params[want:sub(2)] = segs[i]
      elseif want ~= segs[i] then
        return nil
      end
    end
    return params
  end
  -- the handler and params for a request's segments (after "api"), or
  -- nil and 404/405
  function r.match(method, segs)
    local path_known = false
    for _, rt in ipairs(routes) do
      local params = params_of(rt, segs)
      if params then
        path_known = true
        if rt.method == method or (method == "HEAD" and rt.method == "GET") then
          return rt.handler, params
        end
      end
    end
    return nil, path_known and 405 or 404
  end
  return r
end

return M
