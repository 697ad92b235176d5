---@meta _
-- meta/opencomputer/shell.lua - LuaCATS annotations of the shell of
-- sb.exec:shell() (lua/opencomputer/sdk/shell.lua, API.md 5).

---A terminal tab: one long-lived bash (`--noprofile --norc`); cwd,
---exported variables and shell functions persist between runs. Foreground
---only: one run at a time.
---@class oc.Shell
---@field session_id string The shell's exec session id (for `exec:reattach_shell`).
---@field private exit_code? integer bash's exit code, once it exited.
---@field private state "idle"|"running"|"closing"|"closed" What the shell is doing.
---@field private exec oc.Exec The `sb.exec` it came from.
---@field private session oc.ExecSession The exec session bash runs in.
---@field private changed table The condition signalled when `state` changes.
---@field private current? table The run in flight.
---@field private run_error? oc.Error The error that ends the run in flight.
local Shell = {}

---Run `command` in the shell itself, stdin at end-of-file (give input in
---shell syntax: `read x <<< value`); {exit_code, stdout, stderr}. Output
---streamed to the callbacks never contains the framing markers. Raises
---ShellBusyError while another run is in flight, ShellClosedError once the
---shell ended (a user `exit` included). No timeout: use shell syntax.
---@async
---@param command string
---@param opts? oc.ShellRunOpts
---@return oc.RunResult
function Shell:run(command, opts) end

---Write `exit` and wait for bash to end.
---@async
function Shell:close() end

---Attach to the exec session `session_id` bash runs in (output replayed
---from before the attach is dropped). Internal to the SDK.
---@private
---@async
---@param session_id string
function Shell:connect(session_id) end

---Mark the shell closed for the reason `why`. Internal to the SDK.
---@private
---@param why string
function Shell:closed_by(why) end

---Feed a chunk of bash's output ("out" or "err") to the run in flight. Internal to the SDK.
---@private
---@param which "out"|"err"
---@param data string
function Shell:feed(which, data) end

---The options of `sb.exec:shell`.
---@class oc.ShellOpts
---@field cwd? string The shell's first working directory.
---@field env? table<string, string|number> Environment variables of the shell.

---The options of `shell:run`: a per-run cwd, env or timeout is not an
---option (use shell syntax) and, as any unknown option, raises a string
---error before anything is sent.
---@class oc.ShellRunOpts
---@field on_stdout? fun(data: string) Gets the command's stdout as it arrives; it may yield.
---@field on_stderr? fun(data: string) Gets the command's stderr as it arrives.
