-- spec/support/run.lua - run a shell command line from a spec (blocking:
-- for commands that do not need this process's loop); returns stdout,
-- stderr and the exit code.

return function(cmdline, stdin)
  local out, err = os.tmpname(), os.tmpname()
  local full = cmdline .. " >" .. out .. " 2>" .. err
  local input
  if stdin then
    input = os.tmpname()
    local h = io.open(input, "w"); h:write(stdin); h:close()
    full = full .. " <" .. input
  end
  local _, _, code = os.execute(full)
  if input then os.remove(input) end
  local function slurp(p)
    local h = io.open(p); local s = h:read("a"); h:close(); os.remove(p)
    return s
  end
  return slurp(out), slurp(err), code
end
