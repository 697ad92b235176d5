-- spec/run.lua - runs the busted specs inside oclua, so that specs may call
-- yielding functions, and ends with the closing line "N passed, N failed".
-- Usage: oclua spec/run.lua [busted options]; scripts/run-specs.sh starts
-- the peers first. Options and roots come from .busted.

-- busted ends with os.exit on failure; keep control so the summary prints
-- and the runtime shuts down cleanly
local EXIT = {}
require("busted.compatibility").exit = function() error(EXIT, 0) end

local ok, err = pcall(require("busted.runner"), { standalone = false })
if not ok and err ~= EXIT then
  io.stderr:write("spec/run.lua: ", tostring(err), "\n")
end

-- the specs' own local server, if one was started, and its sandboxes
require("spec.support.server").stop_shared()

local c = package.loaded["spec.counts"]
if not c then
  io.write("\n0 passed, 1 failed\n")
  os.exit(1)
end
local failed = c.failure + c.error
for _, line in ipairs(c.failed) do io.write("FAILED ", line, "\n") end
io.write(string.format("\n%d passed, %d failed%s\n", c.success, failed,
  c.pending > 0 and (", " .. c.pending .. " skipped") or ""))
io.flush()
-- the runtime ends once nothing is left open: a spec that leaves a
-- connection or task behind shows as a run that does not end
if failed > 0 then os.exit(1) end
