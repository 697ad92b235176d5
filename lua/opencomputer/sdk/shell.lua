-- opencomputer/sdk/shell.lua - sb.exec:shell() (API.md section 5): one
-- long-lived bash over an exec session, with the per-run marker framing of
-- protocol.md section 4. cwd, exports and functions persist between runs.
--
-- Each run sends `{ CMD\n} </dev/null; __oc_rc=$?; printf M_out; printf
-- M_err >&2` with markers carrying a fresh random token; the run completes
-- when both markers have arrived. The command's stdin is at end-of-file:
-- bash's own stdin is where the next runs arrive, and API.md 5 gives a run
-- no input and no timeout, so a command reading it (`read x`, `cat`)
-- would wait forever and leave the shell busy. Streamed output holds back the last len(marker)-1
-- bytes of each stream so that a marker split across chunks never leaks.

local client = require("opencomputer.client.api")
local random = require("opencomputer.runtime.random")
local errors = require("opencomputer.sdk.errors")
local task = require("opencomputer.runtime.task")

local M = {}

local Shell = {}
Shell.__index = Shell

--- open(exec, {cwd=, env=}) -> a new shell: bash --noprofile --norc +m
-- started as an exec session of exec's sandbox (POST .../exec,
-- protocol.md 3.2) and attached. Called by sb.exec:shell, which checks
-- the option names; raises here, at the caller of exec:shell (a tail
-- call), for a bad cwd or env.
function M.open(exec, opts)
  local sh = setmetatable({ exec = exec, state = "idle",
    changed = task.condition() }, Shell)
  local info = exec.sandbox:call("POST", "/exec", { body = {
    cmd = "bash", args = { "--noprofile", "--norc", "+m" },
    envs = client.string_map(opts.env, "env", "exec:shell"),
    cwd = opts.cwd and client.check_text(opts.cwd, "cwd", "exec:shell") } })
  sh:connect(info.sessionID)
  return sh
end

--- reattach(exec, session_id) -> the shell running in exec session
-- `session_id` of exec's sandbox, attached again (Shell:connect); called
-- by sb.exec:reattach_shell, which checks the id.
function M.reattach(exec, sid)
  local sh = setmetatable({ exec = exec, state = "idle",
    changed = task.condition() }, Shell)
  sh:connect(sid)
  return sh
end

-- when the socket ends (with or without an exit frame) the shell is closed
local function watch(sh)
  local oc = require("opencomputer")
  oc.spawn(function()
    pcall(sh.session.wait, sh.session)
    sh:closed_by("the shell's connection closed")
  end).watched = true
end

--- Attach to the exec session `sid` bash runs in (exec:attach): output
-- replayed from before the attach is dropped, later output feeds the run
-- in flight; the shell is closed (state "closed") when bash exits or the
-- connection ends. Raises exec:attach's errors (NotFoundError for a
-- session that is gone). Internal: open and reattach call it.
function Shell:connect(sid)
  self.session_id = sid
  local gate = false	-- output before the end of the replay is history
  self.session = self.exec:attach(sid, {
    on_scrollback_end = function() gate = true end,
    on_stdout = function(d) if gate then self:feed("out", d) end end,
    on_stderr = function(d) if gate then self:feed("err", d) end end,
    on_exit = function(code)
      self.exit_code = code
      self:closed_by(self.session:drop_reason()
        or "bash exited with code " .. tostring(code))
    end,
  })
  watch(self)
end

--- Mark the shell closed (state "closed"; a later run raises
-- ShellClosedError): a run in flight ends with ShellClosedError `why`.
-- Internal: the socket's end and bash's exit call it.
function Shell:closed_by(why)
  if self.state == "closed" then return end
  local running = self.state == "running"
  self.state = "closed"
  if running then
    self.run_error = errors.ShellClosedError(why, { session_id = self.session_id,
      sandbox_id = self.exec.sandbox.sandbox_id })
  end
  self.changed:signal()
end

-- One stream of one run: text before the marker goes to the callback as
-- it arrives, except a held-back tail that may be the start of a marker
-- split across chunks. Work is linear in the output (no rescans).
local Stream = {}
Stream.__index = Stream

--- M.stream(marker, with_status): with_status reads `<integer>__\n` after
--- the marker (the stderr marker carries the exit status).
function M.stream(marker, with_status)
  return setmetatable({ marker = marker, with_status = with_status,
    tail = "", parts = {}, done = false }, Stream)
end

-- after the marker: the status, complete, partial or corrupt
function Stream:status(rest)
  local code = rest:match("^(%-?%d+)__\n")
  if code then
    self.code, self.done, self.pending = tonumber(code), true, nil
  elseif rest:find("__\n", 1, true) or #rest > 24 then
    self.corrupt, self.done = true, true
  else
    self.pending = rest
  end
end

--- stream:push(data) -> the part of the user's output that may be shown now
function Stream:push(data)
  if self.done then return "" end
  if self.pending then
    self:status(self.pending .. data)
    return ""
  end
  local s = self.tail .. data
  local at = s:find(self.marker, 1, true)
  local piece
  if at then
    piece, self.tail = s:sub(1, at - 1), ""
    if self.with_status then
      self:status(s:sub(at + #self.marker))
    else
      self.done = true
    end
  else
    local keep = math.min(#s, #self.marker - 1)
    piece, self.tail = s:sub(1, #s - keep), s:sub(#s - keep + 1)
  end
  self.parts[#self.parts + 1] = piece
  return piece
end

--- The user's output of this stream so far (the marker excluded).
function Stream:text() return table.concat(self.parts) end

--- Feed the chunk `data` of bash's "out" or "err" stream to the run in
-- flight (dropped when there is none): its callback gets what may be
-- shown, and the run ends once both markers have come; a corrupt marker
-- closes the shell. Internal: Shell:connect's callbacks call it.
function Shell:feed(which, data)
  local run = self.current
  if not run then return end	-- output outside a run is dropped
  local st = run[which]
  local piece = st:push(data)
  if st.corrupt then
    self.run_error = errors.ShellClosedError("corrupt shell marker",
      { session_id = self.session_id })
    self.current, self.state = nil, "closed"
    self.changed:signal()
    return
  end
  local cb = which == "out" and run.on_stdout or run.on_stderr
  if cb and piece ~= "" then cb(piece) end
  if run.out.done and run.err.done and self.current == run then
    self.current = nil
    self.state = "idle"
    self.changed:signal()
  end
end

local RUN = { on_stdout = true, on_stderr = true }

--- run(cmd, {on_stdout=, on_stderr=}) -> {exit_code, stdout, stderr}
-- (API.md 5): cmd runs in the shell itself, stdin at end-of-file (give
-- input in shell syntax: `read x <<< value`). A per-run timeout, cwd or
-- env is not an option (use shell syntax): an unknown option raises
-- before anything is sent. Raises ShellBusyError while another run is
-- in flight, ShellClosedError once the shell ended.
function Shell:run(cmd, opts)
  client.check_text(cmd, "the command", "shell:run")
  opts = opts or {}
  client.check_options(opts, RUN, "shell:run")
  client.check_callbacks(opts, "shell:run")
  if self.state == "closed" then
    errors.raise(errors.ShellClosedError, "the shell is closed",
      { session_id = self.session_id })
  end
  if self.state == "running" then
    errors.raise(errors.ShellBusyError, "a command is already running in this shell",
      { session_id = self.session_id })
  end
  local tok = random.hex(16)
  local m_out = "\n__OC_" .. tok .. "_DONE__\n"
  local m_err = "\n__OC_" .. tok .. "_EXIT_"
  local run = {
    on_stdout = opts.on_stdout, on_stderr = opts.on_stderr,
    out = M.stream(m_out, false),
    err = M.stream(m_err, true),
  }
  self.current, self.state, self.run_error = run, "running", nil
  if cmd:match("^%s*$") then cmd = ":" end
  -- the token is hex: safe inside printf's format
  self.session:send_stdin("{ " .. cmd .. "\n} </dev/null; __oc_rc=$?; printf '\\n__OC_"
    .. tok .. "_DONE__\\n'; printf '\\n__OC_" .. tok
    .. "_EXIT_%s__\\n' \"$__oc_rc\" >&2\n")
  while self.state == "running" do self.changed:wait() end
  if self.run_error then
    local e = self.run_error
    self.run_error = nil
    error(e, 0)
  end
  return { exit_code = run.err.code, stdout = run.out:text(), stderr = run.err:text() }
end

--- close(): `exit`, then wait for bash to end.
function Shell:close()
  if self.state == "closed" then return end
  self.state = "closing"
  pcall(self.session.send_stdin, self.session, "exit\n")
  pcall(self.session.wait, self.session)
  self.state = "closed"
end

return M
