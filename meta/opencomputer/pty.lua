---@meta _
-- meta/opencomputer/pty.lua - LuaCATS annotations of sb.pty
-- (lua/opencomputer/sdk/pty.lua, API.md 7, protocol.md 6).

---`sb.pty`: interactive terminals in the sandbox.
---@class oc.Pty
---@field private sandbox oc.Sandbox The sandbox it belongs to.
local Pty = {}

---A shell (bash, else sh) on a pseudo-terminal of cols x rows characters
---(each 1 to 4096) with TERM=xterm-256color. `on_output(data)` gets the
---output; without it, `session:recv()` pulls it. Raises a string error for
---a bad option; NotFoundError for a sandbox that is gone.
---@async
---@param opts? oc.PtyCreateOpts
---@return oc.PtySession
function Pty:create(opts) end

---The terminal `session_id` made earlier (here or in another process),
---attached again: output made while nothing was attached comes first (the
---local server keeps the last 64 KiB), then live output. NotFoundError
---when the terminal has ended or never was.
---@async
---@param session_id string
---@param opts? oc.PtyAttachOpts
---@return oc.PtySession
function Pty:attach(session_id, opts) end

---The options of `sb.pty:create`.
---@class oc.PtyCreateOpts
---@field cols? integer Columns (default 80; 1 to 4096).
---@field rows? integer Rows (default 24; 1 to 4096).
---@field on_output? fun(data: string) Gets raw terminal bytes in chunks, in order, one at a time; it may yield.

---The options of `sb.pty:attach`.
---@class oc.PtyAttachOpts
---@field on_output? fun(data: string) Gets raw terminal bytes in chunks.

---A terminal session; a `<close>` variable closes (detaches) it.
---@class oc.PtySession
---@field session_id string The terminal's id.
---@field sandbox_id string Its sandbox.
---@field private closed? boolean True once `close()` detached it.
---@field private sandbox oc.Sandbox Its sandbox object.
---@field private pty oc.Pty The `sb.pty` it came from.
---@field private pull boolean True when output is pulled with recv() (no on_output).
---@field private ws table The WebSocket.
---@field private finisher? oc.Task The task that waits for the end of on_output's stream.
---@field private waited? boolean True once wait() was called.
---@field private error? any on_output's error, re-raised by wait().
local PtySession = {}

---Type `data` (bytes: "\3" is Ctrl-C) into the terminal. SandboxError
---once the connection is closed; a string error unless it is a string.
---@param data string
function PtySession:send(data) end

---The next chunk of output, yielding until it comes; nil once the
---connection has closed and every chunk was taken. Only without
---on_output (else a string error).
---@async
---@return string?
function PtySession:recv() end

---Change the window to cols x rows characters (1 to 4096 each); the
---foreground program gets SIGWINCH. NotFoundError once the terminal has ended.
---@async
---@param cols integer
---@param rows integer
function PtySession:resize(cols, rows) end

---Detach: the connection closes, the shell keeps running (attach again
---with `sb.pty:attach(session_id)`).
function PtySession:close() end

---End the shell and every process it started (oclua's extension: DELETE
---.../pty/{sid}); a terminal already gone is not an error.
---@async
function PtySession:kill() end

---Yield until the connection has closed (the shell exited, or close());
---the close code (1000 after the shell's exit). With on_output, every
---chunk has been handled then, and the callback's error is re-raised here.
---@async
---@return integer? close_code
function PtySession:wait() end
