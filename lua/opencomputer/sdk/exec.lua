-- opencomputer/sdk/exec.lua - sb.exec, alias sb.commands (API.md section
-- 4): run, start/background sessions, attach, spawn, list, kill, and the
-- shell (shell.lua).
--
-- A session is an exec WebSocket (protocol.md 3.4). Its frames go to one
-- delivery task (opencomputer.client.websocket), so callbacks run in order, one at
-- a time, may yield, and a slow callback slows the socket instead of losing
-- output. A callback's error closes the session's socket and is re-raised
-- by wait().

local oc = require("opencomputer")
local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")
local task = require("opencomputer.runtime.task")
local websocket = require("opencomputer.client.websocket")

local M = {}

local Exec = {}
Exec.__index = Exec

--- sb.exec for the sandbox object `sb` (sdk/sandbox.lua).
function M.new(sb)
  return setmetatable({ sandbox = sb }, Exec)
end

local SIGNALS = { SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGKILL = 9,
  SIGUSR1 = 10, SIGUSR2 = 12, SIGTERM = 15, SIGCONT = 18, SIGSTOP = 19 }

--- A signal number from a number or a name ("SIGTERM", "TERM").
function M.signal(sig, default)
  if sig == nil then return default end
  if math.type(sig) == "integer" and sig > 0 and sig < 65 then return sig end
  if type(sig) == "string" then
    local n = SIGNALS[sig:upper()] or SIGNALS["SIG" .. sig:upper()]
    if n then return n end
  end
  error("bad signal: " .. client.show(sig)
    .. " (give a number from 1 to 64 or a name such as \"SIGTERM\")", 3)
end

-- The request body of a session for `command` (protocol.md 3.2): through
-- sh -c, or argv when `opts.args`. Checks the options that go on the
-- wire and raises at `level` (1: the caller of command_body) for the
-- SDK call `name`.
local function command_body(command, opts, name, level)
  level = level + 1
  client.check_text(command, "the command", name, level)
  local timeout = client.check_duration(opts.timeout, "timeout", name, level)
  local body = { envs = client.string_map(opts.env, "env", name, level),
    cwd = opts.cwd and client.check_text(opts.cwd, "cwd", name, level),
    timeout = timeout and math.ceil(timeout),
    maxRunAfterDisconnect = client.check_duration(
      opts.max_run_after_disconnect, "max_run_after_disconnect", name, level) }
  if opts.args then
    body.cmd = command
    body.args = client.string_list(opts.args, "args", name, level)
  else
    body.cmd, body.args = "sh", { "-c", command }
  end
  return body
end

-- Session ------------------------------------------------------------

local Session = {}
Session.__index = Session
M.Session = Session

local STDOUT, STDERR, EXIT, REPLAY_END = 1, 2, 3, 4

-- Open the exec WebSocket of session `sid` and route its frames to the
-- callbacks in `cb`.
local function open_session(exec, sid, cb)
  local sb = exec.sandbox
  local s = setmetatable({ session_id = sid, sandbox_id = sb.sandbox_id,
    sandbox = sb, exec = exec, exit_code = nil, cb = cb,
    exited = task.condition() }, Session)
  local function on_message(data, _, kind)	-- split: kind is byte 0
    if kind == STDOUT then
      if cb.on_stdout then cb.on_stdout(data) end
    elseif kind == STDERR then
      if cb.on_stderr then cb.on_stderr(data) end
    elseif kind == EXIT and #data == 4 then
      s.exit_code = string.unpack(">i4", data)
    elseif kind == REPLAY_END then
      if cb.on_scrollback_end then cb.on_scrollback_end() end
    end
  end
  local ok, ws = pcall(websocket.connect, sb.client:ws_url(sb:path("/exec/" .. client.segment(sid))),
    { on_message = on_message, retry = sb.client.retry, split = true })
  if not ok then
    if type(ws) == "table" then ws.session_id = sid; ws.sandbox_id = sb.sandbox_id end
    error(ws, 0)
  end
  s.ws = ws
  sb.sessions[s] = true	-- for sb:close()
  s.done = setmetatable({ session = s }, {
    __index = { wait = function(f) return f.session:wait() end } })
  -- on_exit runs once the stream has ended, after every output callback;
  -- an error of a callback belongs to the session (wait() re-raises it,
  -- __gc reports it), never to the tasks that ran it
  s.finisher = task.owned(function()
    local okw, err = pcall(ws.wait, ws)
    s.dropped = s.exit_code == nil and not s.detached
    if s.exit_code == nil then s.exit_code = -1 end
    s.finished = true
    if not okw then s.error = err
    elseif cb.on_exit and not s.detached then
      local okx, e2 = pcall(cb.on_exit, s.exit_code)
      if not okx then s.error = e2 end
    end
    s.exited:signal()
  end)
  return s
end

--- Yield until the process has exited; its exit code (-1 when the stream
-- ended without one: API.md 4). A callback's error is re-raised here.
function Session:wait()
  self.waited = true
  while not self.finished do self.exited:wait() end
  if self.error ~= nil then error(self.error, 0) end
  return self.exit_code
end

-- A callback's error that no wait() re-raised is printed once, when the
-- session is collected (at the latest when the runtime closes): only then
-- is it sure that nobody will wait (API.md 2, "Callbacks").
function Session:__gc()
  if self.error ~= nil and not self.waited then
    io.stderr:write("oclua: error in a callback of session ", self.session_id,
      " (nobody waited for it): ", tostring(self.error), "\n")
  end
end

--- Why the stream of a finished session ended without its exit frame
-- (the server died or the connection broke), or nil when it did not.
function Session:drop_reason()
  if not self.dropped then return nil end
  local ws = self.ws
  local why = ws.close_error or (ws.close_code or 0) ~= 0
    and "close code " .. ws.close_code .. " " .. tostring(ws.close_reason)
    or "no close frame"
  return "the connection to the server dropped before the command ended ("
    .. why .. ")"
end

--- Write `data` (a string of bytes) to the process's stdin (frame 0x00,
-- protocol.md 3.4.1); "" sends nothing. Raises a plain error for
-- anything but a string, and "WebSocket is closed" once the connection
-- has closed.
function Session:send_stdin(data)
  if type(data) ~= "string" then
    error("send_stdin: data must be a string, got " .. client.show(data), 2)
  end
  if data == "" then return end
  self.ws:send("\0" .. data)
end

--- End of input: the process reads end-of-file (frame 0x05, oclua's
-- exec WebSocket extension; a server without it ignores the frame).
function Session:close_stdin()
  if self.ws:is_open() then self.ws:send("\5") end
end

--- Signal the process (default 9; a number or a name such as "SIGTERM").
function Session:kill(sig)
  self.exec:kill(self.session_id, M.signal(sig, 9))
end

--- Detach: the process keeps running.
function Session:close()
  self.detached = true
  if self.ws:is_open() then self.ws:close(1000, "detach") end
end

-- Exec ---------------------------------------------------------------

local START = { args = true, env = true, cwd = true, timeout = true,
  max_run_after_disconnect = true, on_stdout = true, on_stderr = true,
  on_exit = true, on_scrollback_end = true }

-- POST /exec for the SDK call `name` (its caller gets option errors)
local function create_session(exec, command, opts, name)
  return exec.sandbox:call("POST", "/exec",
    { body = command_body(command, opts, name, 3) })
end

--- start(command, opts) -> a live session (section 4).
function Exec:start(command, opts)
  opts = opts or {}
  client.check_options(opts, START, "exec:start")
  client.check_callbacks(opts, "exec:start")
  local info = create_session(self, command, opts, "exec:start")
  return open_session(self, info.sessionID, opts)
end
Exec.background = Exec.start

--- attach(session_id, {on_stdout=, on_stderr=, on_exit=,
-- on_scrollback_end=}) -> a live session of the process `session_id`
-- (a non-empty string: client.check_id) started earlier, by this process
-- or another: the output since the start is replayed first, then
-- on_scrollback_end fires, then live output (protocol.md 3.4). Raises
-- on a bad id or option before any request; the server's refusal of an
-- unknown session (NotFoundError) when the socket opens.
function Exec:attach(sid, opts)
  client.check_id(sid, "the session id", "exec:attach")
  opts = opts or {}
  client.check_options(opts, { on_stdout = true, on_stderr = true, on_exit = true,
    on_scrollback_end = true }, "exec:attach")
  client.check_callbacks(opts, "exec:attach")
  return open_session(self, sid, opts)
end

--- list() -> the sandbox's exec sessions (GET .../exec, protocol.md
-- 3.3), each {session_id, sandbox_id, command, args (a list, {} when
-- none), running (boolean), exit_code (nil while running), started_at
-- (the server's RFC 3339 time), attached_clients (a count)}, in the
-- server's order.
function Exec:list()
  local out = {}
  for i, e in ipairs(self.sandbox:call("GET", "/exec") or {}) do
    out[i] = { session_id = e.sessionID, sandbox_id = e.sandboxID,
      command = e.command, args = e.args or {}, running = e.running,
      exit_code = e.exitCode, started_at = e.startedAt,
      attached_clients = e.attachedClients }
  end
  return out
end

--- kill(session_id, signal): signal the process of the exec session
-- `session_id` (a non-empty string: client.check_id); `signal` a number
-- from 1 to 64 or a name such as "SIGTERM" (M.signal), default 9
-- (SIGKILL). POST .../exec/{id}/kill (protocol.md 3.5). Raises on a bad
-- id or signal before any request; NotFoundError for a session the
-- server does not know.
function Exec:kill(sid, sig)
  client.check_id(sid, "the session id", "exec:kill")
  self.sandbox:call("POST", "/exec/" .. client.segment(sid) .. "/kill",
    { body = { signal = M.signal(sig, 9) }, fields = { sandbox_id =
      self.sandbox.sandbox_id, session_id = sid } })
end

local RUN = { timeout = true, env = true, cwd = true, on_stdout = true,
  on_stderr = true }

-- Raise the TimeoutError of a run: `bound` says which timeout tripped,
-- "wall" (the server's wall-clock bound) or "idle" (the silence bound
-- of a run with callbacks).
local function timed_out(sb, command, bound, timeout, stdout, stderr)
  local what = bound == "idle"
    and string.format("was silent for %g s (the idle timeout of a run "
      .. "with callbacks)", timeout)
    or string.format("timed out after %g s (the wall-clock timeout)", timeout)
  errors.raise(errors.TimeoutError, "command " .. what .. ": " .. command,
    { sandbox_id = sb.sandbox_id, stdout = stdout, stderr = stderr })
end

-- A run has no stdin to give: its command reads end-of-file at once, as
-- exec/run's does. In a session, sh itself puts /dev/null on the
-- command's stdin (with the command as $1, so its text, its line numbers
-- and $0 are those of `sh -c command`): that holds on every server,
-- where the end-of-input frame 0x05 holds only on oclua's (the cloud
-- ignores it).
local RUN_NO_STDIN = 'exec sh -c "$1" </dev/null'

-- run as a session: with callbacks (the timeout is then an idle timeout
-- that restarts with every chunk) or without a limit (timeout 0); the
-- output is kept whole and byte-exact
local function run_session(self, command, opts, env, timeout)
  local out, err = {}, {}
  local last = oc.now()
  local function collect(into, cb)
    return function(d)
      last = oc.now(); into[#into + 1] = d
      if cb then cb(d) end
    end
  end
  local info = self.sandbox:call("POST", "/exec", { body = { cmd = "sh",
    args = { "-c", RUN_NO_STDIN, "sh", command }, envs = env,
    cwd = opts.cwd } })
  local s = open_session(self, info.sessionID, {
    on_stdout = collect(out, opts.on_stdout),
    on_stderr = collect(err, opts.on_stderr) })
  local expired, ended = false, task.condition()
  if timeout > 0 then
    oc.spawn(function()
      while not s.finished do
        local left = last + timeout - oc.now()
        if left <= 0 then
          expired = true
          pcall(s.kill, s, 9)
          return
        end
        if ended:wait(left) then return end
      end
    end)
  end
  local ok, code = pcall(s.wait, s)
  ended:signal()
  if not ok then error(code, 0) end
  local why = s:drop_reason()
  if why then
    errors.raise(errors.SandboxError, why .. ": " .. command,
      { sandbox_id = s.sandbox_id, session_id = s.session_id,
        stdout = table.concat(out), stderr = table.concat(err) })
  end
  if expired then
    timed_out(self.sandbox, command, "idle", timeout, table.concat(out),
      table.concat(err))
  end
  return { exit_code = code, stdout = table.concat(out), stderr = table.concat(err) }
end

--- run(command, {timeout=60, env=, cwd=, on_stdout=, on_stderr=})
-- -> {exit_code, stdout, stderr}: via sh -c, with stdin at end-of-file;
-- a non-zero exit code is a result. Without callbacks `timeout` is a
-- wall-clock bound kept by the server; with them it is an idle timeout
-- that restarts with every chunk; 0 is no limit (client.check_duration).
-- TimeoutError when it expires; SandboxError when the connection drops
-- before the command ends (API.md 4, 8).
function Exec:run(command, opts)
  client.check_text(command, "the command", "exec:run")
  opts = opts or {}
  client.check_options(opts, RUN, "exec:run")
  client.check_callbacks(opts, "exec:run")
  local timeout = client.check_duration(opts.timeout, "timeout", "exec:run") or 60
  local env = client.string_map(opts.env, "env", "exec:run")
  if opts.cwd ~= nil then client.check_text(opts.cwd, "cwd", "exec:run") end
  if opts.on_stdout or opts.on_stderr or timeout == 0 then
    return run_session(self, command, opts, env, timeout)
  end
  local sb = self.sandbox
  local doc = sb:call("POST", "/exec/run", {
    body = { cmd = "sh", args = { "-c", command }, envs = env,
      cwd = opts.cwd, timeout = math.ceil(timeout) },
    timeout = timeout + 60,
  })
  if doc.error then
    errors.raise(errors.SandboxError, doc.error, { sandbox_id = sb.sandbox_id })
  end
  local stderr = doc.stderr or ""
  if doc.exitCode == -1 and stderr:find("\nProcess timed out$") then
    timed_out(sb, command, "wall", math.ceil(timeout), doc.stdout,
      (stderr:gsub("\nProcess timed out$", "")))
  end
  return { exit_code = doc.exitCode, stdout = doc.stdout or "", stderr = stderr }
end

-- spawn --------------------------------------------------------------

local Stdin = {}
Stdin.__index = Stdin

--- Write `data` (a string of bytes) to the process's stdin
-- (Session:send_stdin: a plain error for anything but a string).
function Stdin:write(data) self.session:send_stdin(data) end

--- End of input: the process reads EOF (oclua's exec WebSocket extension).
function Stdin:close() self.session:close_stdin() end

local Spawned = setmetatable({}, { __index = Session })
Spawned.__index = Spawned
Spawned.__gc = Session.__gc

--- kill(signal): default SIGTERM
function Spawned:kill(sig)
  Session.kill(self, M.signal(sig, 15))
end

--- wait() -> {exit_code, stdout, stderr}: the whole output.
-- SandboxError when the connection dropped before the process ended.
function Spawned:wait()
  local code = Session.wait(self)
  local why = self:drop_reason()
  if why then
    errors.raise(errors.SandboxError, why, { sandbox_id = self.sandbox_id,
      session_id = self.session_id, stdout = table.concat(self.out),
      stderr = table.concat(self.err) })
  end
  return { exit_code = code, stdout = table.concat(self.out),
    stderr = table.concat(self.err) }
end

--- close(): kill the process and close the connection.
function Spawned:close()
  if not self.finished then pcall(Session.kill, self, 9) end
  Session.close(self)
end
Spawned.__close = Spawned.close

--- spawn(command, {args=, env=, cwd=, timeout=, on_stdout=, on_stderr=})
-- -> an interactive process with .stdin:write/close.
function Exec:spawn(command, opts)
  opts = opts or {}
  client.check_options(opts, { args = true, env = true, cwd = true, timeout = true,
    on_stdout = true, on_stderr = true }, "exec:spawn")
  client.check_callbacks(opts, "exec:spawn")
  local out, err = {}, {}
  local info = create_session(self, command, opts, "exec:spawn")
  local s = open_session(self, info.sessionID, {
    on_stdout = function(d)
      out[#out + 1] = d
      if opts.on_stdout then opts.on_stdout(d) end
    end,
    on_stderr = function(d)
      err[#err + 1] = d
      if opts.on_stderr then opts.on_stderr(d) end
    end,
  })
  s.out, s.err = out, err
  setmetatable(s, Spawned)
  s.stdin = setmetatable({ session = s }, Stdin)
  return s
end

local SHELL = { cwd = true, env = true }

--- shell{cwd=, env=} -> a stateful bash (API.md 5: sdk/shell.lua) whose
-- first working directory is `cwd` and whose environment has `env` (a
-- string map: client.string_map). Raises on a bad or unknown option
-- before any request.
function Exec:shell(opts)
  opts = opts or {}
  client.check_options(opts, SHELL, "exec:shell")
  return require("opencomputer.sdk.shell").open(self, opts)
end

--- reattach_shell(session_id) -> the shell (sdk/shell.lua) of the exec
-- session `session_id` (a non-empty string: client.check_id; a shell's
-- session_id), attached again, by this process or another: its output
-- while nothing was attached is dropped, its state (cwd, variables) is
-- kept. Raises on a bad id before any request; NotFoundError when the
-- session is gone.
function Exec:reattach_shell(sid)
  client.check_id(sid, "the session id", "exec:reattach_shell")
  return require("opencomputer.sdk.shell").reattach(self, sid)
end

return M
