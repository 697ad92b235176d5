-- opencomputer/init.lua - the `opencomputer` module: the entry point of
-- API.md. Sub-modules load on first use, so `oclua -e ''` stays quick.

local core = require("opencomputer.core")
local task = require("opencomputer.task")

local oc = {
  version = core.version,
  spawn = task.spawn,
  all = task.all,
  sleep = task.sleep,
  now = task.now,
}

local lazy = {
  errors = "opencomputer.errors",
}

return setmetatable(oc, { __index = function(t, k)
  local name = lazy[k]
  if name then
    local v = require(name)
    rawset(t, k, v)
    return v
  end
end })
