---@meta opencomputer
-- meta/opencomputer.lua - LuaCATS annotations (lua-language-server) of
-- the `opencomputer` module: the entry point, its task functions and the
-- task object. Not loaded at run time: the code is lua/opencomputer/
-- (embedded in the oclua binary). The other classes are in
-- meta/opencomputer/*.lua. spec/annotations_spec.lua checks that the
-- names here and the names the modules export are the same set.

---The `opencomputer` module: `local oc = require("opencomputer")` (API.md 0).
---Every call that talks to the network yields the running task (they are
---`---@async`); call it from a task (the main chunk of `oclua script.lua`,
---`oc.spawn` or `oc.run`), else it raises "call from a task: wrap it in
---oc.run or oc.spawn, or run it with oclua".
---@class opencomputer
---@field version string The runtime's version, e.g. "0.1.0" (OCLUA_VERSION of oclua.h).
---@field errors oc.errors The error classes and `oc.errors.is` (API.md 8).
---@field Sandbox oc.Sandbox Sandboxes: `oc.Sandbox.create{...}`, `connect`, `list`, checkpoints and patches (API.md 3).
---@field Image oc.Image Declarative image manifests: `oc.Image.base():apt_install{...}` (API.md 11).
---@field Snapshot oc.Snapshot Named pre-built images: `oc.Snapshot.create{name=, image=}`, `get`, `list`, `delete` (API.md 11).
---@field Template oc.Template Templates built from a Dockerfile: `oc.Template.build(name, dockerfile)`, `list`, `get`, `delete` (API.md 7).
local oc = {}

---Process-wide defaults for every later call (API.md 1): per-call options
---win over these, these win over OPENCOMPUTER_API_URL / OPENCOMPUTER_API_KEY.
---Raises "oc.configure: unknown option 'k'" for any other key, as every
---call does for an option it does not take.
---@param settings oc.ConfigureOpts
function oc.configure(settings) end

---Run `fn(...)` as a new task (a coroutine the runtime's loop drives). It
---starts at the next scheduling point: at once when called outside a
---task, else when the caller next yields. An error nobody waits for is
---printed with its traceback to stderr. Raises "oc.spawn: expected a
---function" when `fn` is neither a function nor callable.
---@param fn function
---@param ... any arguments for `fn`
---@return oc.Task task
function oc.spawn(fn, ...) end

---Run or await every task or function in `list` (functions are spawned);
---the list of their first results, in the order given (`n` holds the
---count). The first error in time is re-raised once all have settled.
---Raises "oc.all: ..." for a list item that is neither.
---@async
---@param list (oc.Task|function)[]
---@return any[] results
function oc.all(list) end

---Yield the running task for `seconds` (fractions allowed); the loop
---serves other tasks meanwhile. Outside a task it raises "call from a
---task: wrap it in oc.run or oc.spawn, or run it with oclua", as every
---yielding call does.
---@async
---@param seconds number seconds
function oc.sleep(seconds) end

---Run `main(...)` as a task and drive the loop until nothing is left: the
---entry point of a script run by a stock `lua5.4` (the rock), as luv's
---`uv.run` is. Returns main's results once every task, timer, request and
---connection has ended; raises main's error (the same object) once the
---loop is done, "oc.run: every pending operation waits for input ..." or
---"oc.run: the main task never finished ..." when what is left cannot end,
---"oc.run: expected a function" for another type. Inside a task (under
---`oclua`) it runs main as a task and waits for it; `oc.run()` without
---main raises there.
---@param main? function nil: only drive the loop (outside a task)
---@param ... any arguments for `main`
---@return any ... main's results
function oc.run(main, ...) end

---Monotonic time in seconds (a float), for measuring intervals.
---@return number seconds
function oc.now() end

---The settings `oc.configure` takes (API.md 1).
---@class oc.ConfigureOpts
---@field api_url? string The API URL ("https://app.opencomputer.dev", "http://host:port", or "local" for the embedded local server).
---@field api_key? string The API key (sent as X-API-Key).
---@field retries? integer|oc.RetryPolicy Retries after the first attempt of a request that is safe to send again (0 to 100; default 2), or a policy (README "Retries").

---The connection options every class function takes (API.md 1): they
---win over `oc.configure` and the environment.
---@class oc.ConnectionOpts
---@field api_url? string The API URL, or "local" for the embedded local server.
---@field api_key? string The API key.
---@field retries? integer|oc.RetryPolicy Retries after the first attempt (0 to 100; default 2), or a policy; the sandbox's later calls keep it.

---How the client sends a request again (README "Retries"): a request not
---sent, 429 and 503 for any method, 502/504 and a lost connection for
---idempotent ones; waits Retry-After, else capped exponential backoff
---with jitter (b = min(cap, base*2^(n-1)), a wait of b/2 + rand(0, b/2)).
---@class oc.RetryPolicy
---@field count? integer Retries after the first attempt (0 to 100; default 2; 0: none).
---@field base? number The first backoff in seconds (above 0 up to 3600; default 0.5).
---@field cap? number The longest wait in seconds (above 0 up to 3600; default 10); a longer Retry-After ends the retries.

---A task: `oc.spawn`'s result (API.md 2).
---@class oc.Task
---@field private co thread The task's coroutine.
---@field private done boolean True once the task has ended.
---@field private waiters? thread[] The threads waiting for it (nil once it has ended).
---@field private main boolean True for the host's main chunk.
---@field private watched boolean True when its error is someone's to re-raise (it is then not printed).
---@field private order? integer Its place in the order tasks ended (for `oc.all`'s first error).
---@field private ok? boolean Whether it returned (set when it ends).
---@field private results? table Its results, packed (set when it returned).
---@field private err? any Its error (set when it raised).
---@field private traceback? string The traceback of its error (set when it raised).
local Task = {}

---Yield until the task ends; its results, or its error re-raised as it
---was raised. Raises "a task cannot wait for itself".
---@async
---@return any ...
function Task:wait() end

return oc
