---@meta _
-- meta/opencomputer/exec.lua - LuaCATS annotations of sb.exec (alias
-- sb.commands; lua/opencomputer/sdk/exec.lua, API.md 4): run, live
-- sessions, spawned processes, their options and results.

---A signal: a number from 1 to 64, or a name such as "SIGTERM" or "TERM"
---(SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM, SIGCONT,
---SIGSTOP). Anything else raises "bad signal: ...".
---@alias oc.Signal integer|string

---`sb.exec` (also `sb.commands`): commands in the sandbox (API.md 4).
---Commands run via `sh -c` unless `args` is given. A non-zero exit code
---is a result, never an error.
---@class oc.Exec
---@field private sandbox oc.Sandbox The sandbox it belongs to.
local Exec = {}

---Run `command` and wait for it: {exit_code, stdout, stderr}, stdin at
---end-of-file. Without callbacks `timeout` is a wall-clock bound kept by
---the server; with `on_stdout`/`on_stderr` the output is also streamed to
---them and `timeout` is an idle timeout that restarts with every chunk.
---Raises TimeoutError (with `stdout`, `stderr`) when it expires,
---SandboxError when the connection drops before the command ends, a
---string error for a bad option.
---@async
---@param command string
---@param opts? oc.RunOpts
---@return oc.RunResult
function Exec:run(command, opts) end

---Start `command` as a live session: output goes to the callbacks as it
---arrives, the process runs on when this returns.
---@async
---@param command string
---@param opts? oc.StartOpts
---@return oc.ExecSession
function Exec:start(command, opts) end

---The same call as `start`.
---@async
---@param command string
---@param opts? oc.StartOpts
---@return oc.ExecSession
function Exec:background(command, opts) end

---Attach to the session `session_id` (started here or elsewhere): its
---output since the start is replayed first, then `on_scrollback_end`
---fires, then live output. A string error for an empty or non-string id
---before any request; NotFoundError for an unknown session.
---@async
---@param session_id string
---@param opts? oc.AttachOpts
---@return oc.ExecSession
function Exec:attach(session_id, opts) end

---An interactive process: write to `session.stdin`, `wait()` for its whole output.
---@async
---@param command string
---@param opts? oc.SpawnOpts
---@return oc.SpawnedSession
function Exec:spawn(command, opts) end

---The sandbox's exec sessions, running or ended.
---@async
---@return oc.ExecSessionInfo[]
function Exec:list() end

---Signal the process of session `session_id` (default 9, SIGKILL). A
---string error for an empty or non-string id or a bad signal before any
---request; NotFoundError for an unknown session.
---@async
---@param session_id string
---@param signal? oc.Signal
function Exec:kill(session_id, signal) end

---Open a stateful bash shell (API.md 5): cwd, exported variables and
---functions persist between runs. A string error for an unknown or bad
---option before any request.
---@async
---@param opts? oc.ShellOpts
---@return oc.Shell
function Exec:shell(opts) end

---A shell object for the shell session `session_id` opened earlier (by
---`exec:shell`, here or in another process). A string error for an empty
---or non-string id before any request; NotFoundError when it is gone.
---@async
---@param session_id string
---@return oc.Shell
function Exec:reattach_shell(session_id) end

---The options of `sb.exec:run`.
---@class oc.RunOpts
---@field timeout? number Seconds (default 60; 0: no limit): wall-clock without callbacks, idle with them.
---@field env? table<string, string|number> Environment variables.
---@field cwd? string Working directory.
---@field on_stdout? fun(data: string) Gets stdout chunks as they arrive (bytes, not lines); it may yield.
---@field on_stderr? fun(data: string) Gets stderr chunks as they arrive; it may yield.

---The options of `sb.exec:start` and `background`.
---@class oc.StartOpts
---@field args? (string|number)[] Run `command` with these arguments directly (no shell).
---@field env? table<string, string|number> Environment variables.
---@field cwd? string Working directory.
---@field timeout? number Seconds after which the server kills the process (0: none).
---@field max_run_after_disconnect? number Seconds the process may run on once no client is attached (0: no limit).
---@field on_stdout? fun(data: string) Gets stdout chunks; runs in order, one at a time, may yield.
---@field on_stderr? fun(data: string) Gets stderr chunks.
---@field on_exit? fun(exit_code: integer) Called once the stream ended, after every output callback (-1: ended without an exit code).
---@field on_scrollback_end? fun() Called when the replay of earlier output ends (attach).

---The options of `sb.exec:attach`.
---@class oc.AttachOpts
---@field on_stdout? fun(data: string) Gets stdout chunks (the replay first).
---@field on_stderr? fun(data: string) Gets stderr chunks.
---@field on_exit? fun(exit_code: integer) Called once the stream ended.
---@field on_scrollback_end? fun() Called when the replay of earlier output ends.

---The options of `sb.exec:spawn`.
---@class oc.SpawnOpts
---@field args? (string|number)[] Run `command` with these arguments directly (no shell).
---@field env? table<string, string|number> Environment variables.
---@field cwd? string Working directory.
---@field timeout? number Seconds after which the server kills the process (0: none).
---@field on_stdout? fun(data: string) Gets stdout chunks as they arrive (the result keeps them too).
---@field on_stderr? fun(data: string) Gets stderr chunks as they arrive.

---The result of `sb.exec:run`, `spawned:wait()` and `shell:run`.
---@class oc.RunResult
---@field exit_code integer The exit code (-1 when the process ended without one).
---@field stdout string The whole standard output (bytes).
---@field stderr string The whole standard error (bytes).

---An entry of `sb.exec:list()` (protocol.md 3).
---@class oc.ExecSessionInfo
---@field session_id string The session's id.
---@field sandbox_id string Its sandbox.
---@field command string The command (for `sh -c`: "sh").
---@field args string[] Its arguments.
---@field running boolean Whether the process runs.
---@field exit_code? integer Its exit code once ended.
---@field started_at string When it started (RFC 3339).
---@field attached_clients? integer How many clients are attached.

---A live exec session (`start`, `background`, `attach`). Its callbacks run
---in order, one at a time, and may yield; a callback's error is re-raised
---by `wait()`.
---@class oc.ExecSession
---@field session_id string The session's id.
---@field sandbox_id string Its sandbox.
---@field exit_code? integer The exit code once the process ended (-1: the stream ended without one).
---@field done oc.SessionFuture A future whose `:wait()` gives the exit code.
---@field private finished? boolean True once the stream has ended.
---@field private dropped? boolean True when the stream ended without an exit frame (drop_reason says why).
---@field private detached? boolean True once `close()` detached it.
---@field private sandbox oc.Sandbox Its sandbox object.
---@field private exec oc.Exec The `sb.exec` it came from.
---@field private cb table The callbacks.
---@field private ws table The WebSocket.
---@field private exited table The condition signalled when the stream ends.
---@field private finisher oc.Task The task that waits for the stream's end and runs on_exit.
---@field private waited? boolean True once wait() was called (an unwaited callback error is printed).
---@field private error? any A callback's error, re-raised by wait().
local ExecSession = {}

---Yield until the process has exited; its exit code (-1 when the stream
---ended without one: API.md 4). A callback's error is re-raised here.
---@async
---@return integer exit_code
function ExecSession:wait() end

---Why the stream of a finished session ended without its exit frame (the
---server died or the connection broke), or nil when it did not.
---@return string?
function ExecSession:drop_reason() end

---Send `data` (bytes) to the process's stdin ("" sends nothing). Raises a
---string error unless it is a string, and "WebSocket is closed" once the
---connection has closed.
---@param data string
function ExecSession:send_stdin(data) end

---End of input: the process reads end-of-file (oclua's exec WebSocket
---extension, frame 0x05; a server without it ignores the frame).
function ExecSession:close_stdin() end

---Signal the process (default 9, SIGKILL).
---@async
---@param signal? oc.Signal
function ExecSession:kill(signal) end

---Detach: the connection closes, the process keeps running.
function ExecSession:close() end

---`session.done`: the exit code as a future.
---@class oc.SessionFuture
---@field private session oc.ExecSession The session.
local SessionFuture = {}

---The same as `session:wait()`.
---@async
---@return integer exit_code
function SessionFuture:wait() end

---An interactive process from `sb.exec:spawn`; a `<close>` variable closes it.
---@class oc.SpawnedSession: oc.ExecSession
---@field stdin oc.SpawnedStdin Its standard input.
---@field private out string[] The stdout chunks so far.
---@field private err string[] The stderr chunks so far.
local SpawnedSession = {}

---Signal the process (default "SIGTERM").
---@async
---@param signal? oc.Signal
function SpawnedSession:kill(signal) end

---Yield until the process has exited: its whole output. SandboxError when
---the connection dropped before the process ended.
---@async
---@return oc.RunResult
function SpawnedSession:wait() end

---Kill the process (SIGKILL, unless it has ended) and close the connection.
---@async
function SpawnedSession:close() end

---`spawned.stdin`.
---@class oc.SpawnedStdin
---@field private session oc.SpawnedSession The process.
local SpawnedStdin = {}

---Send `data` (bytes) to the process.
---@param data string
function SpawnedStdin:write(data) end

---End of input: the process reads end-of-file.
function SpawnedStdin:close() end
