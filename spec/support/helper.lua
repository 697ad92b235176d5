-- spec/support/helper.lua - loaded by busted before the specs: counts
-- outcomes for spec/run.lua's closing line, and gives specs the addresses
-- of the peers that scripts/run-specs.sh started.

local busted = require("busted")

local counts = { success = 0, failure = 0, error = 0, pending = 0 }
package.loaded["spec.counts"] = counts
-- state that outlives busted's insulation of each spec file (it unloads
-- the modules a file loaded): the shared local server (support/server.lua)
package.loaded["spec.state"] = {}

busted.subscribe({ "test", "end" }, function(_, _, status)
  counts[status] = (counts[status] or 0) + 1
  return nil, true
end)
-- errors outside a test (describe bodies, hooks, loading a file)
busted.subscribe({ "error", "file" }, function()
  counts.error = counts.error + 1
  return nil, true
end)
busted.subscribe({ "error", "describe" }, function()
  counts.error = counts.error + 1
  return nil, true
end)
