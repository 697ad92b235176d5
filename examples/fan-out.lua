-- examples/fan-out.lua - 20 sandboxes at once from one script: each task
-- creates a sandbox, runs a command and returns its answer; oc.all waits
-- for all of them. Every network call yields, so the 20 run concurrently
-- on one thread.
-- Run it: ./oclua examples/fan-out.lua [N]

local oc = require("opencomputer")

local n = tonumber(arg and arg[1]) or 20
local t0 = oc.now()

local jobs = {}
for i = 1, n do
  jobs[i] = function()
    local sb <close> = oc.Sandbox.create()
    local r = sb.exec:run(string.format("echo $(( %d * %d )) from $(hostname)", i, i))
    return r.stdout:gsub("\n$", "")
  end
end

local answers = oc.all(jobs)
for i, a in ipairs(answers) do print(string.format("%2d: %s", i, a)) end
print(string.format("%d sandboxes created, used and killed in %.2f s", n, oc.now() - t0))
