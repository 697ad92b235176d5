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

--- fn(...) must raise an error of `class` (oc.errors); the error.
function M.fails(class, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_true(oc.errors.is(err, class), "got " .. tostring(err))
  return err
end

return M
