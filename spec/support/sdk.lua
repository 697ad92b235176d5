-- spec/support/sdk.lua - what the SDK specs share: sandboxes on the
-- shared local server, and asserting the class of a raised error.

local oc = require("opencomputer")
local assert = require("luassert")
local support = require("spec.support.server")

local M = {}

--- A sandbox on the shared server, never idling out; `opts` adds to or
-- overrides the create options.
function M.new_sandbox(opts)
  local o = { api_url = support.shared().url, api_key = support.KEY, timeout = 0 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return oc.Sandbox.create(o)
end

--- `t` (default: a new table) with the shared server's api_url and
-- api_key added: the options of an SDK call to it.
function M.conn(t)
  t = t or {}
  t.api_url, t.api_key = support.shared().url, support.KEY
  return t
end

--- fn(...) must raise a plain Lua error (a string: misuse of the SDK)
-- that contains `text`, raised at its caller's line (here), never inside
-- the SDK; the message.
function M.misuse(text, fn, ...)
  local ok, err = pcall(function(...)
    local r = fn(...)	-- not a tail call: this line is the caller
    return r
  end, ...)
  assert.is_false(ok, "expected an error")
  assert.are.equal("string", type(err), "got " .. tostring(err))
  assert.is_truthy(err:find(text, 1, true), "got: " .. err)
  assert.matches("^[%./]*spec/[%w_/]+%.lua:%d+:", err)
  return err
end

--- fn(...) must raise an error of `class` (oc.errors); the error.
function M.fails(class, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_true(oc.errors.is(err, class), "got " .. tostring(err))
  return err
end

-- A scripted server on loopback: `script(req, say, body)` answers each
-- request (say(text) writes a piece of the event stream; body: the
-- request's); returns the API client for it, a stop function and its
-- URL. A
-- script's error closes the connection, so no call waits forever.
function M.scripted(script)
  local srv = require("opencomputer.core").http_listen("127.0.0.1", 0)
  oc.spawn(function()
    while true do
      local req = srv:accept()
      if not req then return end
      oc.spawn(function()
        local body = {}
        while true do
          local piece = req:read()
          if not piece then break end
          body[#body + 1] = piece
        end
        local ok, err = pcall(script, req, function(t) req:write(t) end,
          table.concat(body))
        if not ok then
          io.stderr:write("scripted server: ", tostring(err), "\n")
          pcall(req.finish, req)
        end
      end)
    end
  end)
  local url = "http://127.0.0.1:" .. srv:port()
  local c = require("opencomputer.client.api").new{ api_url = url, api_key = "k" }
  return c, function() srv:close() end, url
end

return M
