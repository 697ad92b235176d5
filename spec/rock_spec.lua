-- spec/rock_spec.lua - the rock (oclua-0.1.0-1.rockspec) as a user of a
-- stock Lua 5.4 installs and uses it: Debian's luarocks builds it from
-- this checkout into a temporary tree, and lua5.4 scripts, with the
-- tree's paths from `luarocks path`, drive sandboxes through oc.run, on a
-- real `oclua serve` started here and on the embedded local server.

local support = require("spec.support.server")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- run a shell command line without stopping this process's loop (the
-- server of the specs answers from it): its output, stderr included, and
-- its exit code
local function sh(cmd)
  return support.output({ "sh", "-c", cmd .. " 2>&1" })
end

local ROCKSPEC = "oclua-0.1.0-1.rockspec"
-- the rockspec's version is the runtime's (src/oclua.h)
local VERSION = ROCKSPEC:match("^oclua%-(.-)%-%d+%.rockspec$")
local root	-- the checkout (the specs run in it)
local tree, work	-- the rock's tree; the scripts' folder (their cwd)
local luarocks = "luarocks --lua-version 5.4 --tree "

-- run lua5.4 on a script of the work folder, with the tree's paths and
-- `env` (a string of assignments for env(1), or ""), under `wrapper`
-- (a command such as timeout, or nothing)
local function lua(script, env, wrapper)
  return sh("cd " .. q(work) .. " && eval \"$(" .. luarocks .. q(tree)
    .. " path)\" && env " .. env .. " ROCK_TREE=" .. q(tree) .. " "
    .. (wrapper or "") .. " lua5.4 " .. script)
end

local function write(name, text)
  local h = assert(io.open(work .. "/" .. name, "w"))
  h:write(text)
  h:close()
end

-- where require found the module, then a sandbox running a command
local SANDBOX = [[
local oc = require("opencomputer")
local tree = os.getenv("ROCK_TREE")
local function from_tree(path)
  return path and path:sub(1, #tree + 1) == tree .. "/" and "tree" or path
end
print("lua", from_tree(debug.getinfo(oc.run, "S").source:sub(2)))
print("core", from_tree(package.searchpath("opencomputer.core", package.cpath)))
print("host", require("opencomputer.core").host, oc.version)
local code, out = oc.run(function(cmd)
  local sb <close> = oc.Sandbox.create()
  local r = sb.exec:run(cmd)
  return r.exit_code, r.stdout
end, "echo hello from $(hostname); exit 7")
io.write("exit ", code, ": ", out)
]]

local function check_sandbox(out, code)
  assert.are.equal(0, code, out)
  assert.matches("lua\ttree\ncore\ttree\nhost\tlua\t" .. VERSION .. "\n",
    out, 1, true)
  assert.matches("\nexit 7: hello from sb%-%x+$", out)
end

setup(function()
  root = sh("pwd")
  local out, code = sh("mktemp -d")
  assert.are.equal(0, code, out)
  work = out
  tree = work .. "/tree"
  out, code = sh("cd " .. q(root) .. " && " .. luarocks .. q(tree)
    .. " make " .. ROCKSPEC)
  assert.are.equal(0, code, "luarocks make: " .. out)
  assert.matches("oclua " .. ROCKSPEC:match("%-(.-)%.rockspec$")
    .. " is now installed in " .. tree, out, 1, true)
  write("sandbox.lua", SANDBOX)
end)

teardown(function()
  if work then sh("rm -rf " .. q(work)) end
end)

describe("the rock under a stock lua5.4", function()
  it("installs the C module and the Lua files as they are", function()
    local out, code = sh("cd " .. q(tree) .. " && ls lib/lua/5.4/opencomputer"
      .. " && diff -r share/lua/5.4/opencomputer "
      .. q(root .. "/lua/opencomputer") .. " && echo same")
    assert.are.equal(0, code, out)
    assert.are.equal("core.so\nsame", out)
  end)

  it("drives a sandbox on `oclua serve` through oc.run", function()
    local srv = support.process()
    local out, code = lua("sandbox.lua", "OPENCOMPUTER_API_URL=" .. srv.url
      .. " OPENCOMPUTER_API_KEY=" .. support.KEY, "timeout 120")
    srv.proc:kill(15)
    srv.proc:wait()
    check_sandbox(out, code)
  end)

  it("drives a sandbox on the embedded local server", function()
    local out, code = lua("sandbox.lua",
      "-u OPENCOMPUTER_API_URL -u OPENCOMPUTER_API_KEY", "timeout 120")
    check_sandbox(out, code)
  end)

  it("exits non-zero with the message when main raises", function()
    write("fail.lua", [[
local oc = require("opencomputer")
oc.run(function() oc.sleep(0.01); error("main failed on purpose") end)
print("not reached")
]])
    local out, code = lua("fail.lua", "")
    assert.are.equal(1, code, out)
    assert.matches("^lua5.4: fail.lua:2: main failed on purpose\n", out)
    assert.not_matches("not reached", out, 1, true)
  end)

  it("ends at once on Ctrl-C (SIGINT) while oc.run waits, as oclua does", function()
    write("interrupt.lua", [[
local oc = require("opencomputer")
oc.run(function() oc.sleep(5) end)
]])
    local _, code = lua("interrupt.lua", "", "timeout -s INT --preserve-status 0.5")
    assert.are.equal(130, code)
  end)

  it("finds cjson linked into the module when the paths have none", function()
    write("fallback.lua", [[
local oc = require("opencomputer")
local cjson, where = require("cjson")
print(where, cjson.encode({ 1, 2 }))
]])
    local out, code = lua("fallback.lua", "LUA_CPATH=" .. q(tree .. "/lib/lua/5.4/?.so"))
    assert.are.equal(0, code, out)
    assert.are.equal(":linked into opencomputer.core\t[1,2]", out)
  end)

  it("oc.run waits for every task, and says when main cannot finish", function()
    write("loop.lua", [[
local oc = require("opencomputer")
local log = {}
print(oc.run(function(a, b)
  oc.spawn(function() oc.sleep(0.05); log[#log + 1] = "background" end)
  oc.sleep(0.01)
  log[#log + 1] = "main"
  return a + b, "x"
end, 2, 3))
print(table.concat(log, " "))
local t = oc.spawn(function() oc.sleep(0.01); return "spawned" end)
print(select("#", oc.run()), oc.run(function() return t:wait() end))
local obj = {}
local ok, err = pcall(oc.run, function() oc.sleep(0); error(obj) end)
print(ok, err == obj)
print(pcall(function()
  local r = oc.run(function() require("opencomputer.runtime.task").condition():wait() end)
  return r
end))
print(pcall(function() local r = oc.run(42); return r end))
print(oc.run(function() return oc.run(function() return "nested" end) end))
]])
    local out, code = lua("loop.lua", "")
    assert.are.equal(0, code, out)
    assert.are.equal(table.concat({
      "5\tx", "main background", "0\tspawned", "false\ttrue",
      "false\tloop.lua:16: oc.run: the main task never finished: it waits "
        .. "for a task or event that nothing can complete",
      "false\tloop.lua:19: oc.run: expected a function, got number",
      "nested" }, "\n"), out)
  end)
end)
