-- spec/embed_spec.lua - a C host embedding the runtime through oclua.h
-- (build/embed-host, linked with build/liboclua.a).

local peer = require("spec.support.peer")

local host = (os.getenv("OCLUA_SANITIZED") and "build/san" or "build")
  .. "/embed-host"

local function run(mode, chunk)
  local p = io.popen(host .. " " .. mode .. " '" .. chunk:gsub("'", "'\\''")
    .. "' 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

describe("embedding oclua in C", function()
  it("runs a chunk as a task that sleeps, spawns and makes requests", function()
    local out = run("task", [[
      local oc = require("opencomputer")
      local http = require("opencomputer.client.http")
      local t = oc.spawn(function() oc.sleep(0.01); return "t" end)
      print(t:wait(), http.request("GET", "]] .. peer.http .. [[/status/200").status)]])
    assert.are.equal("t\t200\nstatus 0\n", out)
  end)

  it("runs on a loop the host made", function()
    local out = run("own-loop", [[
      local oc = require("opencomputer"); oc.sleep(0.01); print("slept")]])
    assert.are.equal("slept\nstatus 0\n", out)
  end)

  it("reports a failing main task with status 1", function()
    local out = run("task", "error('host boom')")
    assert.matches("host boom", out)
    assert.matches("status 1\n$", out)
  end)

  it("raises a clear error for a yielding call outside any task", function()
    local out = run("plain", "require('opencomputer').sleep(0.1)")
    assert.matches("^error: .*call from a task: wrap it in oc.run or oc.spawn, or run it with oclua", out)
    assert.matches("status 1\n$", out)
  end)
end)
