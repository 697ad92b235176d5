-- opencomputer/sdk/pty.lua - sb.pty (API.md section 7): interactive
-- terminals in a sandbox (protocol.md section 6).
--
--   local t = sb.pty:create{cols = 80, rows = 24, on_output = fn}
--   t:send("ls\n") ; local chunk = t:recv() ; t:resize(120, 40)
--   t:close()          -- detach: the shell keeps running
--   t:kill()           -- end the shell (oclua's extension: DELETE)
--   t:wait()           -- until the socket closes (extension)
--   sb.pty:attach(session_id, {on_output = fn})   -- again (extension)
--
-- Output is raw terminal bytes (escape sequences included), in chunks
-- that need not end at a character or a line. Either `on_output(data)`
-- gets each chunk (in order, one at a time, in a task of its own: it may
-- yield), or recv() pulls them. Both are bounded with backpressure, as
-- exec sessions are: while chunks wait unread (about 64 KiB), the socket
-- is not read, the server stops reading the terminal and the shell's
-- writes block. Nothing is lost between recv() calls.

local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")
local exec = require("opencomputer.sdk.exec")
local task = require("opencomputer.runtime.task")
local websocket = require("opencomputer.client.websocket")

local M = {}

M.SIZE_MAX = 4096	-- columns or rows the local server accepts

local Pty = {}
Pty.__index = Pty

--- sb.pty for the sandbox object `sb` (sdk/sandbox.lua).
function M.new(sb)
  return setmetatable({ sandbox = sb }, Pty)
end

local Session = {}
Session.__index = Session
Session.__name = "PtySession"
-- an on_output error that no wait() re-raised is printed when collected
Session.__gc = exec.Session.__gc
M.Session = Session

-- a window size `v` given as `key` of `name`: an integer from 1 to
-- SIZE_MAX (client.check_integer), or nil for `default`; raises at the
-- caller of the SDK call
local function check_size(v, key, name, default)
  local n = client.check_integer(v, key, name, 1, M.SIZE_MAX, 3)
  if n == nil then return default end
  return n
end

-- Open the WebSocket of terminal `sid` of `pty`'s sandbox.
local function open(pty, sid, on_output)
  local sb = pty.sandbox
  local s = setmetatable({ session_id = sid, sandbox_id = sb.sandbox_id,
    sandbox = sb, pty = pty, pull = on_output == nil }, Session)
  local ok, ws = pcall(websocket.connect,
    sb.client:ws_url(sb:path("/pty/" .. client.segment(sid))),
    { on_message = on_output and function(msg) on_output(msg) end,
      retry = sb.client.retry })
  if not ok then
    if type(ws) == "table" then
      ws.session_id = sid
      ws.sandbox_id = sb.sandbox_id
    end
    error(ws, 0)
  end
  s.ws = ws
  sb.sessions[s] = true	-- for sb:close()
  if on_output then
    -- the callback's error belongs to the session: wait() re-raises it
    s.finisher = task.owned(function()
      local okw, err = pcall(ws.wait, ws)
      if not okw then s.error = err end
    end)
  end
  return s
end

local CREATE = { cols = true, rows = true, on_output = true }

--- sb.pty:create{cols=80, rows=24, on_output=} -> a terminal session:
-- a shell (bash, else sh) as the sandbox user on a pseudo-terminal of
-- cols x rows characters (1 to SIZE_MAX) with TERM=xterm-256color
-- (protocol.md 6.1). `on_output(data)` gets the output; without it,
-- session:recv() pulls it. Raises on bad options before any request;
-- NotFoundError for a sandbox that is gone.
function Pty:create(opts)
  opts = opts or {}
  local name = "pty:create"
  client.check_options(opts, CREATE, name)
  local cols = check_size(opts.cols, "cols", name, 80)
  local rows = check_size(opts.rows, "rows", name, 24)
  client.check_callbacks(opts, name)
  local info = self.sandbox:call("POST", "/pty",
    { body = { cols = cols, rows = rows } })
  return open(self, info.sessionID, opts.on_output)
end

--- sb.pty:attach(session_id, {on_output=}) -> the session of a terminal
-- made earlier (by this process or another), attached again: output made
-- while nothing was attached comes first (the local server keeps the
-- last 64 KiB of it), then live output. NotFoundError when the terminal
-- has ended or never was.
function Pty:attach(sid, opts)
  opts = opts or {}
  client.check_id(sid, "the session id", "pty:attach")
  client.check_options(opts, { on_output = true }, "pty:attach")
  client.check_callbacks(opts, "pty:attach")
  return open(self, sid, opts.on_output)
end

--- Type `data` (a string of bytes: "\3" is Ctrl-C) into the terminal.
function Session:send(data)
  if type(data) ~= "string" then
    error("pty:send: data must be a string, got " .. client.show(data), 2)
  end
  if data == "" then return end
  if not self.ws:is_open() then
    errors.raise(errors.SandboxError, "pty:send: the terminal's connection "
      .. "is closed", { sandbox_id = self.sandbox_id,
        session_id = self.session_id })
  end
  self.ws:send(data)
end

--- The next chunk of output (a string), yielding until it comes; nil once
-- the connection has closed (the shell exited, or close() was called)
-- and every chunk was taken. Only without on_output.
function Session:recv()
  if not self.pull then
    error("pty:recv: this session delivers its output to on_output", 2)
  end
  while true do
    local msg = self.ws:receive()
    if msg == nil then return nil end
    if msg ~= "" then return msg end	-- an empty frame is a keepalive
  end
end

--- Change the terminal's window to cols x rows characters (protocol.md
-- 6.3); the program in the foreground gets SIGWINCH. NotFoundError once
-- the terminal has ended.
function Session:resize(cols, rows)
  cols = check_size(cols, "cols", "pty:resize")
  rows = check_size(rows, "rows", "pty:resize")
  if cols == nil or rows == nil then
    error("pty:resize: give cols and rows", 2)
  end
  self.sandbox:call("POST", "/pty/" .. client.segment(self.session_id)
    .. "/resize", { body = { cols = cols, rows = rows },
      fields = { sandbox_id = self.sandbox_id, session_id = self.session_id } })
end

--- Detach: the connection closes, the shell keeps running (attach again
-- with sb.pty:attach(session_id)).
function Session:close()
  self.closed = true
  if self.ws:is_open() then self.ws:close(1000, "detach") end
end
Session.__close = Session.close

--- End the shell and every process it started (oclua's extension:
-- DELETE /sandboxes/{id}/pty/{sid}, protocol.md 6.4); the connection
-- then closes with 1000. A terminal already gone is not an error.
function Session:kill()
  local ok, err = pcall(self.sandbox.call, self.sandbox, "DELETE",
    "/pty/" .. client.segment(self.session_id),
    { fields = { sandbox_id = self.sandbox_id, session_id = self.session_id } })
  if not ok and not errors.is(err, errors.NotFoundError) then error(err, 0) end
end

--- Yield until the connection has closed (the shell exited, or close());
-- the close code (1000 after the shell's exit). With on_output, every
-- chunk has been handled then, and the callback's error is re-raised
-- here.
function Session:wait()
  self.waited = true
  -- pulling: output not yet taken is skipped (wait is for a caller done
  -- reading)
  if self.pull then return self.ws:wait() end
  self.finisher:wait()	-- never raises: it keeps the error in the session
  if self.error ~= nil then error(self.error, 0) end
  return self.ws.close_code
end

function Session:__tostring()
  return "PtySession " .. tostring(self.session_id) .. " of "
    .. tostring(self.sandbox_id)
end

return M
