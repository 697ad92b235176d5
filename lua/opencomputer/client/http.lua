-- opencomputer/client/http.lua - the SDK's HTTP primitive over core.http_request.
--
--   http.request(method, url, {headers=, body=, length=, on_body=,
--                              timeout=, raise=})
--     -> {status=, headers=, body=, reused=}   (reused: kept-alive connection)
--
-- `body` is a string or a function returning successive chunks and then
-- nil (a streamed upload: one chunk in memory at a time). With `on_body`
-- the response body is handed to it chunk by chunk, in order, in this task
-- (and `body` of the result is nil). Transport failures raise SandboxError
-- or TimeoutError; a status of 400 or more raises the class of
-- errors.from_http unless `raise = false`.

local core = require("opencomputer.core")
local errors = require("opencomputer.sdk.errors")

local M = {}

local function transport_error(kind, message, method, url, timeout)
  if kind == "timeout" then
    errors.raise(errors.TimeoutError, string.format(
      "%s %s timed out after %gs (%s)", method, url, timeout or 0, message))
  elseif kind == "connect" then
    errors.raise(errors.SandboxError, string.format(
      "cannot connect for %s %s: %s", method, url, message))
  end
  errors.raise(errors.SandboxError, string.format("%s %s failed: %s",
    method, url, message))
end

function M.request(method, url, opts)
  opts = opts or {}
  local body, on_body = opts.body, opts.on_body
  local upload = type(body) == "function"
  if body ~= nil and not upload and type(body) ~= "string" then
    error("http.request: body must be a string or a function", 2)
  end
  local req <close> = core.http_request(method, url, opts.headers,
    not upload and body or nil, {
      timeout = opts.timeout, length = opts.length,
      stream = on_body ~= nil, upload = upload,
    })
  while true do
    local ev, a, b, c, d = req:next()
    if ev == "data" then
      on_body(a)
    elseif ev == "need" then
      local chunk = body()
      if chunk ~= nil and type(chunk) ~= "string" then
        error("http.request: the body function returned a " .. type(chunk)
          .. " (want a string, or nil at the end)", 2)
      end
      req:feed(chunk)
    elseif ev == "done" then
      local res = { status = a, headers = b, body = c, reused = d }
      if a >= 400 and opts.raise ~= false then
        error(errors.from_http(a, c, method .. " " .. url), 0)
      end
      return res
    else
      transport_error(a, b, method, url, opts.timeout)
    end
  end
end

return M
