-- spec/sdk_edges_spec.lua - the SDK at its edges (issue 10): which
-- timeout tripped, and the owner of a callback's error.

local oc = require("opencomputer")
local support = require("spec.support.server")

local c = support.shared()
local E = oc.errors
local bin = os.getenv("OCLUA_BIN") or "./oclua"
local new_sandbox = require("spec.support.sdk").new_sandbox
local fails = require("spec.support.sdk").fails

-- one sandbox for the file
local sb
setup(function() sb = new_sandbox() end)
teardown(function() sb:kill() end)

-- Run `text` as a script of its own (an oclua process on the shared
-- server, which keeps serving meanwhile): its stdout and stderr together.
local function script(text)
  local p = os.tmpname()
  local h = assert(io.open(p, "w"))
  h:write(string.format("local oc = require('opencomputer')\n"
    .. "oc.configure{ api_url = %q, api_key = %q }\n", c.url, support.KEY), text)
  h:close()
  local out = support.output({ "sh", "-c", bin .. " " .. p .. " 2>&1" })
  os.remove(p)
  return out
end

local function count(s, plain)
  local n, at = 0, 1
  while true do
    local i = s:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, i + #plain
  end
end

describe("a timeout's error", function()
  it("says which bound tripped, and names the command", function()
    local e = fails(E.TimeoutError, sb.exec.run, sb.exec, "sleep 5", { timeout = 1 })
    assert.are.equal("command timed out after 1 s (the wall-clock timeout): sleep 5",
      e.message)
    e = fails(E.TimeoutError, sb.exec.run, sb.exec, "echo up; sleep 5",
      { timeout = 1, on_stdout = function() end })
    assert.are.equal("command was silent for 1 s (the idle timeout of a run with "
      .. "callbacks): echo up; sleep 5", e.message)
    assert.are.equal("up\n", e.stdout)
  end)

  it("gives the bound the server kept: whole seconds, rounded up", function()
    local e = fails(E.TimeoutError, sb.exec.run, sb.exec, "echo so far; sleep 5",
      { timeout = 0.4 })
    assert.matches("^command timed out after 1 s ", e.message)
    assert.are.equal("so far\n", e.stdout)
    assert.are.equal("", e.stderr)
  end)
end)

describe("a callback's error", function()
  local real
  local printed = {}
  -- what the runtime prints goes here while a test runs
  local fake = {
    write = function(self, ...)
      for _, s in ipairs{ ... } do printed[#printed + 1] = tostring(s) end
      return self
    end,
    flush = function(self) return self end,
  }
  before_each(function() printed = {}; real = io.stderr; io.stderr = fake end)
  after_each(function() io.stderr = real end)

  local function boom() error("boom", 0) end

  it("prints nothing when the script catches it, whatever runs first", function()
    -- output before and after the stream's first frame, for the delivery
    -- and the waiter to meet in either order; then every session is
    -- collected, when an error nobody waited for would be printed
    for i = 1, 40 do
      local cmd = i % 2 == 0 and "echo x" or "sleep 0.01; echo x"
      local ok, err = pcall(sb.exec.run, sb.exec, cmd, { on_stdout = boom })
      assert.is_false(ok)
      assert.are.equal("boom", err)
    end
    for _, delay in ipairs{ 0, 0.001, 0.01, 0.05, 0.3 } do
      local s = sb.exec:start("echo x", { on_stdout = boom })
      oc.sleep(delay)
      assert.is_false(pcall(s.wait, s))
      s = sb.exec:start("echo x", { on_exit = boom })
      oc.sleep(delay)
      assert.is_false(pcall(s.wait, s))
      local p = sb.exec:spawn("echo x", { on_stdout = boom })
      oc.sleep(delay)
      assert.is_false(pcall(p.wait, p))
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal("", table.concat(printed))
  end)

  it("prints an uncaught one exactly once", function()
    for i = 1, 4 do
      local out = script(string.format([[
        local sb <close> = oc.Sandbox.create{ timeout = 0 }
        pcall(function()
          sb.exec:run(%q, { on_stdout = function() error("uncaught-boom") end })
        end)
        sb.exec:run("echo x", { on_stdout = function() error("uncaught-boom") end })]],
        i % 2 == 0 and "echo x" or "sleep 0.01; echo x"))
      assert.are.equal(1, count(out, "uncaught-boom"), out)
    end
    -- a session nobody waits for: printed once, when it is collected
    local out = script([[
      local sb = oc.Sandbox.create{ timeout = 0 }
      sb.exec:start("echo x", { on_stdout = function() error("unwaited-boom") end })
      oc.sleep(0.3)
      sb:kill()]])
    assert.are.equal(1, count(out, "unwaited-boom"), out)
    assert.matches("nobody waited for it", out)
  end)
end)

