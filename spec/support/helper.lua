-- spec/support/helper.lua - loaded by busted before the specs: counts
-- outcomes for spec/run.lua's closing line, and gives specs the addresses
-- of the peers that scripts/run-specs.sh started.

local busted = require("busted")

local counts = { success = 0, failure = 0, error = 0, pending = 0,
  failed = {} }
package.loaded["spec.counts"] = counts
-- state that outlives busted's insulation of each spec file (it unloads
-- the modules a file loaded): the shared local server (support/server.lua)
package.loaded["spec.state"] = {}

-- "describe name test name", as busted's own output handlers name a test
local function full_name(element)
  local names = {}
  while element and element.descriptor ~= "file" do
    if element.name then table.insert(names, 1, element.name) end
    element = busted.parent(element)
  end
  return table.concat(names, " ")
end

-- the first line of a failure's message, for the run's closing list
local function first_line(message)
  return tostring(message or ""):match("^[^\n]*")
end

busted.subscribe({ "test", "end" }, function(_, _, status)
  counts[status] = (counts[status] or 0) + 1
  return nil, true
end)
-- a failing test, named with its message: the run ends with the list, so
-- that the tail of a CI log says what failed
local function note_failure(element, _, message)
  table.insert(counts.failed, full_name(element) .. ": " .. first_line(message))
  return nil, true
end
busted.subscribe({ "failure", "it" }, note_failure)
busted.subscribe({ "error", "it" }, note_failure)
-- errors outside a test (describe bodies, hooks, loading a file)
busted.subscribe({ "error", "file" }, function()
  counts.error = counts.error + 1
  return nil, true
end)
busted.subscribe({ "error", "describe" }, function()
  counts.error = counts.error + 1
  return nil, true
end)
