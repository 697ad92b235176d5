-- opencomputer/runtime/task.lua - tasks: coroutines that the runtime's loop runs.
--
-- Owns oc.spawn / task:wait / oc.all / oc.sleep / oc.now / oc.run, the report of
-- errors nobody waits for, and the coroutine.resume / coroutine.wrap
-- wrappers that let a script's own coroutines call yielding SDK functions:
-- the runtime's yields carry core.SUSPEND, and a wrapper that sees one
-- passes it up to the task and resumes the inner coroutine on wake-up.
-- It also replaces require, whose stock loader call a task cannot yield
-- across (below).

local core = require("opencomputer.core")

local SUSPEND = core.SUSPEND
local pack, unpack = table.pack, table.unpack

local M = {}

local Task = {}
Task.__index = Task
Task.__name = "oclua.task"

local by_thread = setmetatable({}, { __mode = "k" })	-- thread -> task
local finished = 0	-- finish order, for oc.all's "first error"

-- xpcall handler: keep the error object as raised, add the traceback.
-- tostring runs the object's __tostring where no task can be suspended:
-- one that fails (or yields) must not lose the error it describes.
local Failure = {}
local function on_error(err)
  local text = err
  if type(err) ~= "string" then
    local ok, s = pcall(tostring, err)
    text = ok and type(s) == "string" and s or string.format(
      "(error object is a %s value; its __tostring failed: %s)", type(err),
      tostring(s))
  end
  return setmetatable({ err = err, traceback = debug.traceback(text, 2) },
    Failure)
end

local function report(t)
  io.stderr:write("oclua: error in a task nobody waits for: ",
    t.traceback, "\n")
  io.stderr:flush()
end

-- watched: the error is someone's to re-raise, never to print here
local function callable(x)
  if type(x) == "function" then return true end
  local mt = getmetatable(x)
  return mt ~= nil and type(mt) == "table" and mt.__call ~= nil
end

local function start(fn, main, watched, ...)
  if not callable(fn) then
    error("oc.spawn: expected a function, got " .. type(fn), 3)
  end
  local args = pack(...)
  local co = coroutine.create(function()
    return xpcall(fn, on_error, unpack(args, 1, args.n))
  end)
  local t = setmetatable({ co = co, done = false, waiters = {},
    main = main, watched = watched }, Task)
  by_thread[co] = t
  core.wake(co)
  return t
end

--- Run fn(...) as a new task. It starts at the next scheduling point: at
-- once when called outside a task, else when the caller next yields.
function M.spawn(fn, ...)
  return start(fn, false, false, ...)
end

--- Run fn(...) as a task whose error belongs to the object it serves (a
-- WebSocket's delivery, a session's finisher): that object re-raises it
-- from its own wait(), or reports it, so the task is never reported as
-- one nobody waits for, whichever runs first. (Internal to the SDK.)
function M.owned(fn, ...)
  return start(fn, false, true, ...)
end

-- The host's entry point for a main chunk (oclua_run_*).
function M.main(fn, ...)
  return start(fn, true, true, ...)
end

core.on_task_done(function(co, ok, ...)
  local t = by_thread[co]
  by_thread[co] = nil
  finished = finished + 1
  t.done, t.order = true, finished
  if ok then
    t.ok, t.results = true, pack(...)
  else
    local failure = ...
    t.ok, t.err, t.traceback = false, failure.err, failure.traceback
    if t.main then
      io.stderr:write("oclua: ", t.traceback, "\n")
    elseif not t.watched then
      report(t)
    end
  end
  local waiters = t.waiters
  t.waiters = nil
  for i = 1, #waiters do core.wake(waiters[i]) end
  if t.main then core.main_done(ok) end
end)

--- Yield until the task ends; its results, or its error re-raised.
function Task:wait()
  self.watched = true
  if not self.done then
    local me = core.current()
    if me == self.co then error("a task cannot wait for itself", 2) end
    local w = self.waiters
    w[#w + 1] = me
    repeat core.suspend() until self.done
  end
  if self.ok then return unpack(self.results, 1, self.results.n) end
  error(self.err, 0)
end

--- Run main(...) as a task and drive the loop until nothing is left:
-- the entry point of a script run by a stock Lua interpreter (the rock),
-- as luv's uv.run and copas' loop are theirs.
--   main: a function (or callable), or nil to only drive the loop (for
--     tasks started with oc.spawn beforehand); ...: its arguments.
--   Returns main's results once no task, timer, request or connection is
--   left (every task main started has ended too).
--   Raises main's error, the same object (as task:wait), once the loop is
--   done; "oc.run: every pending operation waits for input ..." when what
--   is left can never end (a connection nobody reads); "oc.run: the main
--   task never finished ..." when main waits for something nothing can
--   complete; "oc.run: expected a function" for a main of another type.
-- Inside a task (a script run by `oclua`, the REPL, another oc.run's
-- main), where a loop runs already: runs main as a task and waits for it
-- (its results or its error); the tasks it leaves behind go on under the
-- running loop. oc.run() without main raises there.
function M.run(main, ...)
  if main ~= nil and not callable(main) then
    error("oc.run: expected a function, got " .. type(main), 2)
  end
  if pcall(core.current) then
    if main == nil then
      error("oc.run: a task cannot wait until nothing is left (the task "
        .. "itself is left): pass the function to run", 2)
    end
    return start(main, false, true, ...):wait()
  end
  local t = main ~= nil and start(main, false, true, ...) or nil
  local ok, stalled = core.run()
  if t and t.done and not t.ok then error(t.err, 0) end
  if not ok then error("oc.run: " .. stalled, 2) end
  if not t then return end
  if not t.done then
    error("oc.run: the main task never finished: it waits for a task or "
      .. "event that nothing can complete", 2)
  end
  return unpack(t.results, 1, t.results.n)
end

function Task:__tostring()
  return string.format("task (%s)", not self.done and "running"
    or self.ok and "done" or "failed")
end

--- Is `x` a task (what oc.spawn returns)? true or false; any value may
-- be given.
function M.is_task(x)
  return getmetatable(x) == Task
end

--- Run or await every task or function in the list; a list of their first
-- results. The first error (in time) is re-raised once all have settled.
function M.all(list)
  if type(list) ~= "table" then
    error("oc.all: expected a list of tasks or functions", 2)
  end
  local tasks = {}
  for i = 1, #list do
    local x = list[i]
    if type(x) == "function" then
      x = M.spawn(x)
    elseif getmetatable(x) ~= Task then
      error("oc.all: item " .. i .. " is neither a task nor a function", 2)
    end
    x.watched = true
    tasks[i] = x
  end
  local results, first = { n = #tasks }, nil
  for i, t in ipairs(tasks) do
    local ok, r = pcall(t.wait, t)
    if ok then
      results[i] = r
    elseif not first or t.order < first.order then
      first = t
    end
  end
  if first then error(first.err, 0) end
  return results
end

M.sleep = core.sleep
M.now = core.now

-- A condition for tasks: wait() yields until the next signal(), which
-- wakes every task waiting at that moment; wait(seconds) gives up after
-- that long and returns false (true when signalled). A waiter is a task's
-- thread, or the alarm (core.alarm) of a wait with a timeout. (Internal to
-- the SDK and the server.)
local Condition = {}
Condition.__index = Condition

--- A new condition (above).
function M.condition()
  return setmetatable({ waiters = {} }, Condition)
end

--- Yield until the next signal() -> true; with `timeout` (seconds), false
-- once that long has passed without one.
function Condition:wait(timeout)
  local w = self.waiters
  if not timeout then
    w[#w + 1] = core.current()
    core.suspend()
    return true
  end
  local alarm = core.alarm()
  w[#w + 1] = alarm
  if not alarm:wait(timeout) then return true end
  -- timed out: leave the list (a later signal() may have replaced it)
  w = self.waiters
  for i = #w, 1, -1 do
    if w[i] == alarm then table.remove(w, i) break end
  end
  return false
end

--- Wake every task waiting now (none: nothing happens; a later wait()
-- waits for the next signal).
function Condition:signal()
  local w = self.waiters
  if #w == 0 then return end
  self.waiters = {}
  for i = 1, #w do
    local x = w[i]
    if type(x) == "thread" then core.wake(x) else x:ring() end
  end
end

-- coroutine.resume / wrap that pass the runtime's yields through --------

local co_resume, co_yield = coroutine.resume, coroutine.yield
local co_status, co_close = coroutine.status, coroutine.close

local function relay(co, ok, first, ...)
  if ok and first == SUSPEND and co_status(co) == "suspended" then
    -- an SDK call inside co waits on the loop: suspend the enclosing
    -- task (or coroutine) too, and continue co once it is woken
    return relay(co, co_resume(co, co_yield(SUSPEND)))
  end
  return ok, first, ...
end

function coroutine.resume(co, ...)
  return relay(co, co_resume(co, ...))
end

local function unwrap(co, ok, ...)
  if ok then return ... end
  local err = ...
  if co_status(co) == "dead" then co_close(co) end
  error(err, type(err) == "string" and 2 or 0)
end

function coroutine.wrap(fn)
  local co = coroutine.create(fn)
  return function(...)
    return unwrap(co, relay(co, co_resume(co, ...)))
  end
end

-- xpcall and load, whose messages must name a refused yield ------------

-- A message handler that makes a yielding call fails, and Lua gives only
-- "error in error handling": core.xpcall adds which call and where.
xpcall, core.xpcall = core.xpcall, nil

-- load calls a reader function under the running message handler, which
-- in a task is on_error: an error in the reader (a yield it cannot make,
-- or any other) would come back as a Failure table. Return its message.
local stock_load = load
local function load_result(f, err, ...)
  if f == nil and getmetatable(err) == Failure then return nil, err.err end
  return f, err, ...
end

function load(...)
  return load_result(stock_load(...))
end

-- require, whose loader runs from Lua, so a module's top level may yield -

-- The stock require (loadlib.c) calls the loader from C, where a task
-- cannot be suspended: a module whose top level makes an SDK call would
-- fail. This one does what it does (package.loaded, package.searchers and
-- their "module 'x' not found:" message, the loader's two arguments, two
-- results) but calls the loader from Lua. Since a load may now yield,
-- another task that requires the module meanwhile waits for that load
-- instead of running the module twice, and a module that requires itself,
-- directly or not, raises "loop or previous error loading module" as in
-- Lua 5.1 instead of recursing without end.
local package, loaded = package, package.loaded
local loading = {}	-- name -> {owner = thread, done = condition}

local function find_loader(name)
  local searchers = package.searchers
  if type(searchers) ~= "table" then
    error("'package.searchers' must be a table", 3)
  end
  local msg = {}
  for i = 1, math.huge do
    local searcher = searchers[i]
    if searcher == nil then
      error(string.format("module '%s' not found:%s", name,
        table.concat(msg)), 3)
    end
    local loader, data = searcher(name)
    if type(loader) == "function" then return loader, data end
    if type(loader) == "string" then msg[#msg + 1] = "\n\t" .. loader end
  end
end

-- the task (or, outside tasks, the thread) on whose behalf this runs
local function owner()
  local ok, t = pcall(core.current)
  return ok and t or coroutine.running()
end

function require(name)
  if math.type(name) then name = tostring(name) end	-- as luaL_checkstring
  if type(name) ~= "string" then
    error(string.format("bad argument #1 to 'require' (string expected, "
      .. "got %s)", name == nil and "no value" or type(name)), 2)
  end
  while true do
    local mod = loaded[name]
    if mod then return mod end
    local l = loading[name]
    if not l then break end
    if l.owner == owner() then
      error("loop or previous error loading module '" .. name .. "'", 2)
    end
    l.done:wait()	-- another task loads it: take its result
  end
  local loader, data = find_loader(name)
  local l = { owner = owner(), done = M.condition() }
  loading[name] = l
  -- on success and on error alike (an error goes on as raised, traceback
  -- included), the waiters look again
  local _ <close> = setmetatable({}, { __close = function()
    loading[name] = nil
    l.done:signal()
  end })
  local mod = loader(name, data)
  if mod ~= nil then loaded[name] = mod end
  if loaded[name] == nil then loaded[name] = true end
  return loaded[name], data
end

return M
