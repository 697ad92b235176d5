-- spec/cli_spec.lua - the oclua command: scripts, chunks, stdin, arg,
-- exit status, the report of unwaited task errors, the exit rule.

local bin = os.getenv("OCLUA_BIN") or "./oclua"

local run = require("spec.support.run")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local scripts = {}
local function script(text)
  local p = os.tmpname()
  local h = io.open(p, "w"); h:write(text); h:close()
  scripts[#scripts + 1] = p
  return p
end

teardown(function()
  for _, p in ipairs(scripts) do os.remove(p) end
end)

describe("oclua", function()
  it("runs -e chunks in order", function()
    local out, _, code = run(bin .. " -e 'print(1)' -e 'print(2)'")
    assert.are.equal("1\n2\n", out)
    assert.are.equal(0, code)
  end)

  it("runs a script with arg and ... as lua does", function()
    local p = script("print(arg[0], arg[1], arg[2], #arg, ...)")
    local out, _, code = run(bin .. " " .. p .. " a 'b c'")
    assert.are.equal(p .. "\ta\tb c\t2\ta\tb c\n", out)
    assert.are.equal(0, code)
  end)

  it("runs standard input with -", function()
    local out = run(bin .. " - x", "print('stdin', ...)")
    assert.are.equal("stdin\tx\n", out)
  end)

  it("waits for spawned tasks after the main chunk returns", function()
    local out, _, code = run(bin .. " -e " .. q([[
      local oc = require("opencomputer")
      oc.spawn(function() oc.sleep(0.1); print("late") end)
      print("main done")]]))
    assert.are.equal("main done\nlate\n", out)
    assert.are.equal(0, code)
  end)

  it("runs a spawned task's sleep beside the main one (0.5 s, not 1 s)", function()
    local t0 = require("opencomputer").now()
    local out, _, code = run(bin .. " -e " .. q([[local oc = require("opencomputer"); oc.spawn(function() oc.sleep(0.5) end); oc.sleep(0.5); print("ok")]]))
    local dt = require("opencomputer").now() - t0
    assert.are.equal("ok\n", out)
    assert.are.equal(0, code)
    -- one after the other would take 1 s; the margin is for a busy machine
    assert.is_true(dt >= 0.5 and dt < 0.9, "took " .. dt)
  end)

  it("exits with status 1 and a traceback when the main task raises", function()
    local p = script("local function f() error('kaput') end\nf()\n")
    local _, err, code = run(bin .. " " .. p)
    assert.are.equal(1, code)
    assert.matches("kaput", err)
    assert.matches("stack traceback", err)
  end)

  it("prints the error of a task nobody waits for, and carries on", function()
    local out, err, code = run(bin .. " -e " .. q([[
      local oc = require("opencomputer")
      oc.spawn(function() error("lost in a task") end)
      oc.sleep(0.01)
      print("still here")]]))
    assert.are.equal("still here\n", out)
    assert.matches("nobody waits for.*lost in a task.*stack traceback", err)
    assert.are.equal(0, code)
  end)

  it("reports a main task that can never finish", function()
    local _, err, code = run(bin .. " -e " .. q([[
      local oc = require("opencomputer")
      local a, b
      a = oc.spawn(function() oc.sleep(0); b:wait() end)
      b = oc.spawn(function() oc.sleep(0); a:wait() end)
      a:wait()]]))
    assert.are.equal(1, code)
    assert.matches("never finished", err)
  end)

  it("reports a syntax error with status 1", function()
    local _, err, code = run(bin .. " -e 'x = = 1'")
    assert.are.equal(1, code)
    assert.matches("unexpected symbol", err)
  end)

  it("answers --help and --version", function()
    local out, _, code = run(bin .. " --help")
    assert.are.equal(0, code)
    assert.matches("usage: oclua", out)
    assert.matches("OCLUA_LUA_DIR", out)
    out, _, code = run(bin .. " --version")
    assert.are.equal(0, code)
    assert.matches("^oclua %d+%.%d+%.%d+ %(Lua 5%.4", out)
  end)

  it("ends with status 1 and says why when a script leaves input unread", function()
    -- a stream nobody receives from: its socket is no longer read once
    -- the queue is full, and nothing else is left to happen
    local p = script(string.format([[
      local ws = require("opencomputer.client.websocket")
      HOLD = ws.connect("ws://%s/ws/stream?bytes=16777216&frame=65536")
      print("left unread")]], os.getenv("OCLUA_TEST_PEER")))
    local out, err, code = run("timeout 20 " .. bin .. " " .. p)
    assert.are.equal("left unread\n", out)
    assert.matches("stalled: every pending operation waits for input that no task reads", err)
    assert.are.equal(1, code)
  end)

  it("refuses an unknown option with status 2 and a hint", function()
    local _, err, code = run(bin .. " --frobnicate")
    assert.are.equal(2, code)
    assert.matches("unknown option", err)
    assert.matches("oclua %-%-help", err)
  end)

  it("says what to do when the network plugin is missing", function()
    local _, err, code = run("OCLUA_NET_PLUGIN=/nonexistent " .. bin
      .. " -e 'require(\"opencomputer.client.http\").request(\"GET\", \"http://127.0.0.1:1/\")'")
    assert.are.equal(1, code)
    assert.matches("cannot load the network plugin", err)
    assert.matches("OCLUA_NET_PLUGIN", err)
  end)

  it("loads the Lua half from OCLUA_LUA_DIR when set", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert.is_true(os.execute("mkdir -p " .. dir .. " && cp -r lua/opencomputer " .. dir))
    local h = io.open(dir .. "/opencomputer/init.lua", "a")
    h:write("\n-- edited\n")
    h:close()
    local f = io.open(dir .. "/opencomputer/sdk/errors.lua", "a")
    f:write("\nreturn nil -- unreachable\n")
    f:close()
    local out, err, code = run("OCLUA_LUA_DIR=" .. dir .. " " .. bin
      .. " -e 'print(debug.getinfo(require(\"opencomputer\").spawn).source)'")
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert.matches("^@" .. dir:gsub("%p", "%%%0") .. "/opencomputer/runtime/task.lua", out)
    local out2 = run(bin .. " -e 'print(debug.getinfo(require(\"opencomputer\").spawn).source)'")
    assert.are.equal("@opencomputer/runtime/task.lua\n", out2)
  end)
end)
