-- opencomputer/sdk/errors.lua - the error classes of API.md section 8.
--
-- An error is a table whose metatable is its class: `kind`, `message`, and
-- where known `status`, `body`, `sandbox_id`, `session_id`, `attempts`
-- (requests made, client/http.lua's retries). tostring gives one line:
-- "NotFoundError: sandbox sb-1a2b not found (HTTP 404)", "SandboxError:
-- no workers (HTTP 503, 3 attempts)".

local M = {}

local function describe(err)
  local s = err.kind .. ": " .. tostring(err.message)
  local n = math.type(err.attempts) == "integer" and err.attempts > 1
    and err.attempts .. " attempts"
  if err.status then
    s = s .. " (HTTP " .. err.status .. (n and ", " .. n or "") .. ")"
  elseif n then
    s = s .. " (" .. n .. ")"
  end
  return s
end

local function class(name, parent)
  local c = { __name = name, kind = name, parent = parent,
    __tostring = describe }
  c.__index = c
  -- Class(message, fields) -> a new error of that class
  return setmetatable(c, { __call = function(cls, message, fields)
    local e = {}
    if fields then for k, v in pairs(fields) do e[k] = v end end
    e.kind, e.message = cls.kind, message
    return setmetatable(e, cls)
  end, __tostring = function(cls) return "error class " .. cls.kind end })
end

M.SandboxError = class("SandboxError")
M.NotFoundError = class("NotFoundError", M.SandboxError)
M.ConflictError = class("ConflictError", M.SandboxError)
M.TimeoutError = class("TimeoutError", M.SandboxError)
M.SandboxTimeoutError = M.TimeoutError
M.AuthError = class("AuthError", M.SandboxError)
M.ShellBusyError = class("ShellBusyError", M.SandboxError)
M.ShellClosedError = class("ShellClosedError", M.SandboxError)

--- Is `err` an error of class `cls` (or of a class derived from it)?
function M.is(err, cls)
  if type(err) ~= "table" or type(cls) ~= "table" then return false end
  local c = getmetatable(err)
  while c do
    if c == cls then return true end
    c = rawget(c, "parent")
  end
  return false
end

--- Raise a new error of class `cls`.
function M.raise(cls, message, fields)
  error(cls(message, fields), 0)
end

local by_status = {
  [401] = M.AuthError, [403] = M.AuthError,
  [404] = M.NotFoundError, [409] = M.ConflictError,
}

-- The message an error body carries: `error`, then `message`, then the
-- raw body (protocol.md section 9.1).
local function body_message(body)
  if type(body) ~= "string" or body == "" then return nil end
  local ok, cjson = pcall(require, "cjson")
  if ok then
    local okd, doc = pcall(cjson.decode, body)
    if okd and type(doc) == "table" then
      local m = doc.error or doc.message
      if type(m) == "string" and m ~= "" then return m end
    end
  end
  body = body:gsub("^%s+", ""):gsub("%s+$", "")
  if #body > 200 then body = body:sub(1, 200) .. "..." end
  return body ~= "" and body or nil
end

--- The error for an HTTP answer with a status of 400 or more.
function M.from_http(status, body, what, fields)
  local cls = by_status[status] or M.SandboxError
  local e = cls(body_message(body) or (what or "request") .. " failed",
    fields)
  e.status, e.body = status, body
  return e
end

return M
