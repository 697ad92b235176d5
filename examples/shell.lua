-- examples/shell.lua - a terminal tab: one bash whose state (working
-- directory, exported variables, functions) lasts between commands.
-- Run it: ./oclua examples/shell.lua

local oc = require("opencomputer")

local sb <close> = oc.Sandbox.create()
local sh = sb.exec:shell{ cwd = "/tmp" }

sh:run("mkdir -p project && cd project")
sh:run("export GREETING='hello from the shell'")
sh:run("count() { ls -1 | wc -l; }")
sh:run("touch a b c")

local r = sh:run('echo "$GREETING, in $(pwd), with $(count) files"')
io.write(r.stdout)

-- a failing command is a result, with its own exit code and stderr
r = sh:run("cat missing-file")
print("exit code " .. r.exit_code .. ": " .. r.stderr:gsub("\n$", ""))

-- one command at a time: a second run while one is in flight is refused
local slow = oc.spawn(function() return sh:run("sleep 0.3; echo slow done") end)
oc.sleep(0.05)
local ok, err = pcall(sh.run, sh, "echo too soon")
print("second run refused: " .. tostring(not ok) .. " (" .. err.kind .. ")")
io.write(slow:wait().stdout)

sh:close()
