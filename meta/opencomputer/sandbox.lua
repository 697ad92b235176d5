---@meta _
-- meta/opencomputer/sandbox.lua - LuaCATS annotations of oc.Sandbox
-- (lua/opencomputer/sdk/sandbox.lua, API.md 3): the class functions, the
-- sandbox object, its options and the info table. Checkpoints and
-- patches are in checkpoint.lua, preview and signed URLs in preview.lua.

---A sandbox (API.md 3). Class functions: `oc.Sandbox.create{...}`,
---`oc.Sandbox.connect(id)`, `oc.Sandbox.list()`, and the checkpoint ones.
---`local sb <close> = oc.Sandbox.create()` kills it when `sb` goes out of
---scope, on error too. Every method yields; errors are oc.Error (a plain
---string error for a bad argument, before any request).
---@class oc.Sandbox
---@field sandbox_id string The sandbox's id, e.g. "sb-1a2b3c4d".
---@field id string The same as `sandbox_id`.
---@field status string "running", "hibernated", "stopped", ... as last seen (refreshed by is_running, get_info, hibernate, wake, kill).
---@field exec oc.Exec Commands: `sb.exec:run(...)`, sessions, the shell (API.md 4).
---@field commands oc.Exec The same object as `sb.exec` (the older name).
---@field files oc.Files The sandbox's files (API.md 6).
---@field pty oc.Pty Interactive terminals (API.md 7).
---@field agent oc.Agent Agent sessions (API.md 7).
---@field info table The server's last answer about the sandbox, raw (camelCase keys); refreshed by get_info.
---@field preview_auth_token? string The preview token made by `create{preview_auth=}` or `rotate_preview_auth_token()` (the only time it is given).
---@field private closed? boolean True once `sb:close()` released this object.
---@field private client table The API client (URL, key) this object's calls go through.
---@field private sessions table<table, true> The sessions opened through this object, weakly (closed by sb:close()).
local Sandbox = {}

---Create a sandbox and wait until it runs (POST /sandboxes, protocol.md
---2.2). With `image` or `snapshot` the sandbox starts from that image,
---built first when the server has not cached it. Raises a string error for
---an unknown or bad option; SandboxError "Build failed: ..." for a failed
---build; AuthError, ConflictError, SandboxError for the server's refusals.
---@async
---@param opts? oc.SandboxCreateOpts
---@return oc.Sandbox
function Sandbox.create(opts) end

---A sandbox object for an existing sandbox (GET /sandboxes/{id}). A string
---error for an empty or non-string id or an unknown option, before any
---request; NotFoundError when there is none of that id.
---@async
---@param sandbox_id string
---@param opts? oc.ConnectionOpts
---@return oc.Sandbox
function Sandbox.connect(sandbox_id, opts) end

---The sandboxes of that server (GET /sandboxes, protocol.md 2.4), each as
---`get_info` gives it, in the server's order.
---@async
---@param opts? oc.ConnectionOpts
---@return oc.SandboxInfo[]
function Sandbox.list(opts) end

---Kill the sandbox: its processes and files are gone. A sandbox already
---gone is not an error. Sets `sb.status` to "stopped".
---@async
function Sandbox:kill() end

---Whether the sandbox is running (false when it is gone); refreshes `sb.status`.
---@async
---@return boolean
function Sandbox:is_running() end

---The sandbox as the server describes it now (GET /sandboxes/{id}), in
---snake_case; refreshes `sb.status` and `sb.info`. NotFoundError when gone.
---@async
---@return oc.SandboxInfo
function Sandbox:get_info() end

---Set the idle timeout: after `seconds` without activity the sandbox
---hibernates (paused, then deep after an hour; the next call wakes it;
---0: never). Raises a string error for a missing or bad value
---(a number from 0 to 2147483647).
---@async
---@param seconds number seconds, 0 for none
function Sandbox:set_timeout(seconds) end

---Hibernate the sandbox: its processes end, its files stay; the next
---command or file call wakes it (so does `wake`).
---@async
function Sandbox:hibernate() end

---Wake a hibernated sandbox (a running one is left as it is).
---@async
---@param opts? oc.WakeOpts
function Sandbox:wake(opts) end

---Release this object: its open sessions are detached (their processes
---keep running) and later calls through it raise SandboxError. The
---sandbox lives on; `kill` ends it.
function Sandbox:close() end

---The URL path of this sandbox's route `rest` ("/sandboxes/{id}" .. rest). Internal to the SDK.
---@private
---@param rest? string
---@return string
function Sandbox:path(rest) end

---One JSON request to this sandbox's route `rest`; the decoded answer. Internal to the SDK.
---@private
---@async
---@param method string
---@param rest string
---@param opts? table
---@return any
function Sandbox:call(method, rest, opts) end

---The options of `oc.Sandbox.create` (API.md 3, 11).
---@class oc.SandboxCreateOpts: oc.ConnectionOpts
---@field template? string The template to start from (default "base").
---@field timeout? number The idle timeout in seconds (default 300; 0: never).
---@field envs? table<string, string|number> Environment variables of every command.
---@field metadata? table<string, string|number> Labels kept with the sandbox.
---@field cpu_count? integer CPUs: a positive integer (else a string error); the server takes 1, 2 or 4 (protocol.md 2.2).
---@field memory_mb? integer Memory in MiB: a positive integer (else a string error); the server takes 1024, 4096, 8192 or 16384 (protocol.md 2.2).
---@field image? oc.Image Start from this image (built first if need be); only envs, metadata, memory_mb and timeout apply then.
---@field snapshot? string Start from the snapshot of this name (`oc.Snapshot.create`); as `image` otherwise.
---@field on_build_log? fun(line: string, event: oc.BuildLogEvent) Gets the build's log line by line (with image or snapshot only); it may yield.
---@field preview_auth? boolean|string|{token: string} Gate the preview URLs with a bearer token: true (the server makes one), a token of at least 16 characters, or {token=}; see `sb.preview_auth_token`.

---The options of `sb:wake`.
---@class oc.WakeOpts
---@field timeout? number The idle timeout from now on, in seconds (default 0: never).

---A sandbox as `sb:get_info()` and `oc.Sandbox.list()` give it: the
---server's fields in snake_case (protocol.md 2.3).
---@class oc.SandboxInfo
---@field sandbox_id string The sandbox's id.
---@field status string "running", "hibernated", "stopped", ...
---@field template_id? string The template it started from.
---@field started_at? string When it started (RFC 3339).
---@field end_at? string When it will stop if idle (RFC 3339), when the server says.
---@field cpu_count? integer CPUs.
---@field memory_mb? integer Memory in MiB.
---@field disk_mb? integer Disk in MiB.
---@field sandbox_domain? string The domain its preview host names are under.
---@field tags? table Tags.
---@field metadata? table<string, string> The labels given at create.
---@field patch_error? string The last checkpoint patch that failed in it (protocol.md 8.4).

---A line of a build's log, as `on_build_log(line, event)` gets it
---(protocol.md 2.2.1).
---@class oc.BuildLogEvent
---@field message string The log line.
---@field step? integer The build step it belongs to.
---@field type? string The kind of line.
