-- opencomputer/init.lua - the `opencomputer` module: the entry point of
-- API.md. Sub-modules load on first use, so `oclua -e ''` stays quick.

local core = require("opencomputer.core")
local task = require("opencomputer.runtime.task")

local oc = {
  version = core.version,
  spawn = task.spawn,
  all = task.all,
  sleep = task.sleep,
  now = task.now,
  run = task.run,
}

--- Process-wide defaults (api_url, api_key, retries) for every later call.
function oc.configure(t)
  require("opencomputer.sdk.config").configure(t)
end

local lazy = {
  errors = function() return require("opencomputer.sdk.errors") end,
  Sandbox = function() return require("opencomputer.sdk.sandbox").Sandbox end,
  Image = function() return require("opencomputer.sdk.image").Image end,
  Snapshot = function() return require("opencomputer.sdk.snapshot").Snapshot end,
  Template = function() return require("opencomputer.sdk.template").Template end,
}

return setmetatable(oc, { __index = function(t, k)
  local load = lazy[k]
  if load then
    local v = load()
    rawset(t, k, v)
    return v
  end
end })
