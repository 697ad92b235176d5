---@meta _
-- meta/opencomputer/errors.lua - LuaCATS annotations of `oc.errors`
-- (lua/opencomputer/sdk/errors.lua, API.md 8): the error classes, the
-- error objects the SDK raises, and `is` / `raise` / `from_http`.

---The error classes (API.md 8). An error is a table whose metatable is its
---class, raised with `error(obj)`; `tostring(err)` gives one line such as
---"NotFoundError: sandbox not found (HTTP 404)" (the id is in
---`err.sandbox_id`).
---@class oc.errors
---@field SandboxError oc.ErrorClass The base class; also a connection dropped mid-stream without a final frame, a failed build, a server's 400/500.
---@field NotFoundError oc.ErrorClass A sandbox, session, checkpoint, snapshot, template or path that does not exist (HTTP 404).
---@field ConflictError oc.ErrorClass The sandbox's state forbids the call, or a name is taken (HTTP 409).
---@field TimeoutError oc.ErrorClass A timeout elapsed before the command (or checkpoint) finished.
---@field SandboxTimeoutError oc.ErrorClass The same class as TimeoutError (the Python SDK's name).
---@field AuthError oc.ErrorClass The key or token was refused (HTTP 401/403).
---@field ShellBusyError oc.ErrorClass `shell:run` while another run is in flight (API.md 5).
---@field ShellClosedError oc.ErrorClass `shell:run` after the shell ended (API.md 5).
local errors = {}

---Is `err` an error of class `cls`, or of a class derived from it? False
---for anything else (a string error, nil).
---@param err any
---@param cls oc.ErrorClass
---@return boolean
function errors.is(err, cls) end

---Raise a new error of class `cls` with `message`; `fields` (status,
---sandbox_id, session_id, ...) are copied into it. Never returns.
---@param cls oc.ErrorClass
---@param message string
---@param fields? table<string, any>
function errors.raise(cls, message, fields) end

---The error for an HTTP answer of status 400 or more: AuthError (401,
---403), NotFoundError (404), ConflictError (409), else SandboxError; its
---message is the body's `error`, then `message`, then the body itself
---(protocol.md 9.1), else "<what> failed".
---@param status integer HTTP status
---@param body? string the answer's body
---@param what? string what was asked, for the fallback message
---@param fields? table<string, any> fields copied into the error
---@return oc.Error
function errors.from_http(status, body, what, fields) end

---An error class: `oc.errors.NotFoundError` etc. Calling it makes an error
---of that class (not raised): `Class(message, fields)`.
---@class oc.ErrorClass
---@field kind string The class name, e.g. "NotFoundError".
---@field parent? oc.ErrorClass The base class (nil for SandboxError).
---@overload fun(message: string, fields?: table<string, any>): oc.Error

---An error object the SDK raises (API.md 8). A plain Lua error (a string)
---is raised instead for a misuse: a bad argument or unknown option, before
---any request is made.
---@class oc.Error
---@field kind string The class name, e.g. "NotFoundError".
---@field message string What went wrong.
---@field parent? oc.ErrorClass The base class of its class (through the metatable).
---@field status? integer The HTTP status, when a server's answer raised it.
---@field body? string The answer's body, when a server's answer raised it.
---@field attempts? integer How many times the request was sent, when it was sent more than once (README "Retries").
---@field sandbox_id? string The sandbox concerned.
---@field session_id? string The exec, pty or agent session concerned.
---@field checkpoint_id? string The checkpoint concerned.
---@field checkpoint? oc.Checkpoint The checkpoint table, for a checkpoint that failed or timed out in `wait_checkpoint`.
---@field stdout? string The output so far, for a command that timed out or whose connection dropped.
---@field stderr? string The error output so far, as `stdout`.
