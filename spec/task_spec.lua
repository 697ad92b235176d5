-- spec/task_spec.lua - tasks, sleep, oc.all, oc.now, and coroutines that
-- wrap yielding calls (API.md section 2).

local oc = require("opencomputer")

describe("oc.spawn and task:wait", function()
  it("runs the function with its arguments and returns its results", function()
    local t = oc.spawn(function(a, b) oc.sleep(0.01); return a + b, "x" end, 2, 3)
    local r1, r2 = t:wait()
    assert.are.equal(5, r1)
    assert.are.equal("x", r2)
  end)

  it("starts the task when the caller next yields, not later", function()
    local log = {}
    local t = oc.spawn(function() log[#log + 1] = "task" end)
    log[#log + 1] = "caller"
    oc.sleep(0)
    assert.are.same({ "caller", "task" }, log)
    t:wait()
  end)

  it("re-raises the task's error object unchanged", function()
    local obj = { reason = "mine" }
    local t = oc.spawn(function() oc.sleep(0.01); error(obj) end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.are.equal(obj, err)
    -- and again on a second wait
    ok, err = pcall(t.wait, t)
    assert.are.equal(obj, err)
  end)

  it("gives the same results to several waiters", function()
    local t = oc.spawn(function() oc.sleep(0.02); return 42 end)
    local others = {}
    for i = 1, 5 do others[i] = oc.spawn(function() return t:wait() end) end
    for i = 1, 5 do assert.are.equal(42, others[i]:wait()) end
    assert.are.equal(42, t:wait())
  end)

  it("refuses to wait for itself", function()
    local t
    t = oc.spawn(function() oc.sleep(0); return t:wait() end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.matches("cannot wait for itself", err)
  end)

  it("rejects what cannot be called", function()
    assert.has_error(function() oc.spawn(42) end)
  end)

  it("runs 1,000 tasks at once", function()
    local sum, tasks = 0, {}
    for i = 1, 1000 do
      tasks[i] = oc.spawn(function() oc.sleep(0.01); sum = sum + i end)
    end
    for i = 1, 1000 do tasks[i]:wait() end
    assert.are.equal(500500, sum)
  end)

  it("treats a plain coroutine.yield at the top of a task as 'let others run'", function()
    local log = {}
    local a = oc.spawn(function()
      log[#log + 1] = "a1"; coroutine.yield(); log[#log + 1] = "a2"
    end)
    local b = oc.spawn(function() log[#log + 1] = "b" end)
    a:wait(); b:wait()
    assert.are.same({ "a1", "b", "a2" }, log)
  end)
end)

-- oc.run in a task (specs run in tasks, as scripts under oclua do); as
-- the entry point of a stock lua5.4 script: spec/rock_spec.lua
describe("oc.run in a task", function()
  it("runs main as a task with its arguments and returns its results", function()
    local outer = coroutine.running()
    local r = table.pack(oc.run(function(a, b)
      assert.are_not.equal(outer, coroutine.running())
      oc.sleep(0.01)
      return a + b, nil, "x"
    end, 2, 3))
    assert.are.same({ n = 3, 5, nil, "x" }, r)
  end)

  it("re-raises main's error object unchanged", function()
    local obj = {}
    local ok, err = pcall(oc.run, function() oc.sleep(0.01); error(obj) end)
    assert.is_false(ok)
    assert.are.equal(obj, err)
  end)

  it("returns when main does; the tasks main left behind go on", function()
    local log = {}
    oc.run(function()
      oc.spawn(function() oc.sleep(0.05); log[#log + 1] = "left behind" end)
      log[#log + 1] = "main"
    end)
    assert.are.same({ "main" }, log)
    oc.sleep(0.1)
    assert.are.same({ "main", "left behind" }, log)
  end)

  it("works from a coroutine inside the task", function()
    local gen = coroutine.wrap(function()
      coroutine.yield(oc.run(function() oc.sleep(0.01); return "inner" end))
    end)
    assert.are.equal("inner", gen())
  end)

  it("refuses a main that is not a function, and no main at all", function()
    assert.has_error(function() oc.run("main") end,
      "oc.run: expected a function, got string")
    assert.has_error(function() oc.run() end, "oc.run: a task cannot wait "
      .. "until nothing is left (the task itself is left): pass the "
      .. "function to run")
  end)

  it("under oclua: main's error ends the script with it, reported once", function()
    local run = require("spec.support.run")
    local out, err, code = run((os.getenv("OCLUA_BIN") or "./oclua")
      .. [[ -e 'require("opencomputer").run(function() error("run boom") end) print("not reached")']])
    assert.are.equal(1, code)
    assert.are.equal("", out)
    local _, n = err:gsub("run boom", "")
    assert.are.equal(1, n, err)
    assert.not_matches("nobody waits", err, 1, true)
  end)
end)

describe("oc.sleep", function()
  it("sleeps at least as long as asked, and not much longer", function()
    local t0 = oc.now()
    oc.sleep(0.1)
    local dt = oc.now() - t0
    assert.is_true(dt >= 0.1, "slept " .. dt)
    assert.is_true(dt < 0.15, "slept " .. dt)
  end)

  it("lets sleeping tasks overlap", function()
    local t0 = oc.now()
    oc.all{
      function() oc.sleep(0.1) end, function() oc.sleep(0.1) end,
      function() oc.sleep(0.1) end,
    }
    local dt = oc.now() - t0
    assert.is_true(dt < 0.15, "three 0.1 s sleeps took " .. dt)
  end)

  it("checks its argument", function()
    assert.has_error(function() oc.sleep(-1) end)
    assert.has_error(function() oc.sleep("soon") end)
  end)
end)

describe("oc.now", function()
  it("is monotonic seconds", function()
    local a = oc.now(); oc.sleep(0.01); local b = oc.now()
    assert.is_number(a)
    assert.is_true(b > a)
  end)
end)

describe("oc.all", function()
  it("returns the first result of each, in list order", function()
    local t = oc.spawn(function() oc.sleep(0.01); return "task", "ignored" end)
    local r = oc.all{
      function() oc.sleep(0.03); return "slow" end,
      t,
      function() return "quick" end,
    }
    assert.are.same({ "slow", "task", "quick", n = 3 }, r)
  end)

  it("re-raises the first error in time after all have settled", function()
    local finished = false
    local ok, err = pcall(oc.all, {
      function() oc.sleep(0.05); error("late", 0) end,
      function() oc.sleep(0.01); error("early", 0) end,
      function() oc.sleep(0.08); finished = true end,
    })
    assert.is_false(ok)
    assert.are.equal("early", err)
    assert.is_true(finished)
  end)

  it("rejects a bad list", function()
    assert.has_error(function() oc.all{ 42 } end)
    assert.has_error(function() oc.all(nil) end)
  end)
end)

describe("coroutines around yielding calls", function()
  it("lets coroutine.wrap generators sleep", function()
    local gen = coroutine.wrap(function()
      for i = 1, 3 do oc.sleep(0.001); coroutine.yield(i) end
    end)
    assert.are.same({ 1, 2, 3 }, { gen(), gen(), gen() })
  end)

  it("lets coroutine.resume drive a coroutine that waits for a task", function()
    local t = oc.spawn(function() oc.sleep(0.01); return "v" end)
    local co = coroutine.create(function() return "got " .. t:wait() end)
    local ok, v = coroutine.resume(co)
    assert.is_true(ok)
    assert.are.equal("got v", v)
    assert.are.equal("dead", coroutine.status(co))
  end)

  it("passes errors out of wrapped coroutines", function()
    local f = coroutine.wrap(function() oc.sleep(0); error({ "obj" }) end)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.are.same({ "obj" }, err)
  end)

  it("lets pcall catch errors across yields and close <close> variables", function()
    local closed = false
    local ok = pcall(function()
      local _ <close> = setmetatable({}, { __close = function()
        oc.sleep(0.001) -- a closing method may yield too
        closed = true
      end })
      oc.sleep(0.001)
      error("x")
    end)
    assert.is_false(ok)
    assert.is_true(closed)
  end)

end)

describe("a yield where Lua cannot make one", function()
  -- the error of a yield under `boundary`, made by `fn`
  local function refused(boundary, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    assert.matches("cannot yield inside " .. boundary:gsub("%p", "%%%0"), err)
    assert.is_nil(err:find("call from a task", 1, true), err)
    return err
  end

  it("names the C function and the line that called it", function()
    local err = refused("string.gsub", function()
      return ("ab"):gsub(".", function(ch) oc.sleep(0); return ch end)
    end)
    assert.matches("^[^:]*task_spec%.lua:%d+: cannot yield inside string%.gsub "
      .. "%(called at [^:]*task_spec%.lua:%d+%): Lua cannot suspend", err)
    refused("table.sort", function()
      table.sort({ 2, 1, 3 }, function(a, b) oc.sleep(0); return a < b end)
    end)
    -- a metamethod run by a C function (one run by Lua may yield)
    refused("tostring", function()
      return tostring(setmetatable({}, { __tostring = function()
        oc.sleep(0); return "x" end }))
    end)
    refused("string.format", function()
      return string.format("%s", setmetatable({}, { __tostring = function()
        oc.sleep(0); return "x" end }))
    end)
    refused("load", function()
      local f, why = load(function() oc.sleep(0) end)
      if not f then error(why, 0) end	-- load returns its reader's error
    end)
    local lazy = setmetatable({}, { __index = function(_, k) oc.sleep(0); return k end })
    assert.are.equal("k", lazy.k)
  end)

  it("names ipairs, coroutine.close and xpcall's handler with the line", function()
    local here = "[^:]*task_spec%.lua:%d+"
    local err = refused("ipairs", function()
      for _ in ipairs(setmetatable({}, { __index = function(_, i)
        if i < 3 then oc.sleep(0) return i end end })) do end
    end)
    assert.matches("ipairs %(called at " .. here .. "%)", err)
    local co = coroutine.create(function()
      local _ <close> = setmetatable({}, { __close = function() oc.sleep(0) end })
      coroutine.yield()
    end)
    coroutine.resume(co)
    local ok
    ok, err = coroutine.close(co)
    assert.is_false(ok)
    assert.matches("^" .. here .. ": cannot yield inside coroutine%.close "
      .. "%(called at " .. here .. "%)", err)
    ok, err = xpcall(error, function(m) oc.sleep(0) return m end, "e")
    assert.is_false(ok)
    assert.matches("^error in error handling: .*cannot yield inside xpcall's "
      .. "message handler %(called at " .. here .. "%)", err)
    -- an xpcall whose handler works is the stock one
    assert.are.same({ false, "E" }, { xpcall(error, string.upper, "e", 0) })
  end)

  it("gives load's caller a string, not the task's failure record", function()
    local f, why = oc.spawn(function()
      local g, msg = load(function() oc.sleep(0) end)
      return g, msg
    end):wait()
    assert.is_nil(f)
    assert.are.equal("string", type(why))
    assert.matches("cannot yield inside load %(called at [^:]*task_spec%.lua:%d+%)", why)
    f, why = oc.spawn(function() return load(function() error("no", 0) end) end):wait()
    assert.is_nil(f)
    assert.are.equal("no", why)
  end)

  it("keeps a task's error when its __tostring cannot run", function()
    local obj = setmetatable({}, { __tostring = function() oc.sleep(0) return "x" end })
    local t = oc.spawn(function() error(obj) end)
    t.watched = true	-- keep the report out of the spec's output
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.are.equal(obj, err)
    assert.matches("^%(error object is a table value; its __tostring failed: "
      .. ".*cannot yield inside tostring", t.traceback)
  end)

  it("prints a finalizer's refused yield, which Lua would only warn of", function()
    local run = require("spec.support.run")
    local p = os.tmpname()
    local h = io.open(p, "w")
    h:write("setmetatable({}, { __gc = function() require('opencomputer').sleep(0) end })\n",
      "collectgarbage() collectgarbage()\n")
    h:close()
    local _, err = run((os.getenv("OCLUA_BIN") or "./oclua") .. " " .. p)
    os.remove(p)
    assert.matches("error in a __gc finalizer: [^\n]*:1: cannot yield inside a __gc "
      .. "finalizer", err)
  end)

  it("says a finalizer cannot yield", function()
    local err
    setmetatable({}, { __gc = function() err = select(2, pcall(oc.sleep, 0)) end })
    collectgarbage()
    collectgarbage()
    assert.matches("cannot yield inside a __gc finalizer", err)
  end)
end)

describe("require", function()
  local dir, saved_path
  local log = {}
  local function module(name, text)
    local h = assert(io.open(dir .. "/" .. name .. ".lua", "w"))
    h:write(text)
    h:close()
  end
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    saved_path = package.path
    package.path = dir .. "/?.lua;" .. package.path
    package.loaded["spec.require_log"] = log
    module("yields_at_top", [[
      local oc = require("opencomputer")
      local log = require("spec.require_log")
      log[#log + 1] = ...
      oc.sleep(0.05)
      return { value = 42 }]])
    module("loop_a", "return { b = require('loop_b') }")
    module("loop_b", "return { a = require('loop_a') }")
    module("fails", "require('opencomputer').sleep(0); error('broken module', 0)")
  end)
  teardown(function()
    package.path = saved_path
    package.loaded["spec.require_log"] = nil
    os.execute("rm -rf " .. dir)
  end)

  it("loads a module whose top level yields, once for tasks that ask together", function()
    local tasks = {}
    for i = 1, 5 do tasks[i] = oc.spawn(require, "yields_at_top") end
    local first, path = tasks[1]:wait()
    assert.are.equal(42, first.value)
    assert.are.equal(dir .. "/yields_at_top.lua", path)	-- the loader's data
    for i = 2, 5 do assert.are.equal(first, (tasks[i]:wait())) end
    assert.are.same({ "yields_at_top" }, log)
    assert.are.equal(first, package.loaded.yields_at_top)
    assert.are.equal(first, require("yields_at_top"))
  end)

  it("raises on a loop instead of recursing", function()
    local ok, err = pcall(require, "loop_a")
    assert.is_false(ok)
    assert.matches("loop or previous error loading module 'loop_a'", err)
    assert.is_nil(package.loaded.loop_a)
  end)

  it("passes a loader's error on, and tries again next time", function()
    for _ = 1, 2 do
      local ok, err = pcall(require, "fails")
      assert.is_false(ok)
      assert.are.equal("broken module", err)
    end
    assert.is_nil(package.loaded.fails)
  end)

  it("lists where it looked for a missing module", function()
    local ok, err = pcall(require, "no_such_module_here")
    assert.is_false(ok)
    assert.matches("^module 'no_such_module_here' not found:\n\tno field "
      .. "package%.preload%['no_such_module_here'%]", err)
    assert.matches("no file '" .. dir:gsub("%p", "%%%0") .. "/no_such_module_here%.lua'", err)
  end)
end)

describe("task.condition with a timeout", function()
  local task = require("opencomputer.runtime.task")
  local bin = os.getenv("OCLUA_BIN") or "./oclua"

  it("returns false when the time is up, true when signalled first", function()
    local c = task.condition()
    local t0 = oc.now()
    assert.is_false(c:wait(0.05))
    assert.is_true(oc.now() - t0 >= 0.05)
    local waiter = oc.spawn(function() return c:wait(5) end)
    local plain = oc.spawn(function() return c:wait() end)
    oc.sleep(0.01)
    t0 = oc.now()
    c:signal()
    assert.is_true(waiter:wait())
    assert.is_true(plain:wait())
    assert.is_true(oc.now() - t0 < 0.5)
    assert.are.equal(0, #c.waiters)
  end)

  it("leaves nothing that keeps the process alive once signalled", function()
    local t0 = oc.now()
    local ok = os.execute(bin .. [[ -e '
      local task = require("opencomputer.runtime.task")
      local c = task.condition()
      local oc = require("opencomputer")
      local t = oc.spawn(function() return c:wait(30) end)
      oc.sleep(0.01)
      c:signal()
      assert(t:wait())']])
    assert.is_true(ok)
    assert.is_true(oc.now() - t0 < 2, "the process lingered")
  end)
end)
