-- opencomputer/sdk/config.lua - where the SDK's calls go (API.md section 1,
-- protocol.md section 1.1) and how often they are retried: per-call
-- options, then oc.configure, then the environment. With neither a URL
-- nor a key (or api_url = "local") the calls go to the local sandbox
-- server, started once per process as a child (`oclua serve
-- --exit-with-parent` on 127.0.0.1, a random key).
--
-- Why a child process and not the server on this runtime's loop: the
-- server needs root and namespaces, a script may call os.exit at any time
-- and must not leave sandboxes behind, and a busy sandbox's output should
-- not compete with the script for its loop. The child stops (and removes
-- its sandboxes) when this process exits.

local core = require("opencomputer.core")
local random = require("opencomputer.runtime.random")

local M = {}

M.CLOUD = "https://app.opencomputer.dev"

local defaults = {}
local local_server	-- {url, key, proc} once started, false if it failed

-- The retry policy of every SDK request unless configured (README
-- "Retries"): `count` retries after the first attempt (3 attempts in
-- all, as the TypeScript SDK's agents client: maxRetries 2), the first
-- backoff `base` and the longest wait `cap`, in seconds.
M.RETRIES = { count = 2, base = 0.5, cap = 10 }
M.RETRIES_MAX = 100	-- the most retries a setting may ask for
local RETRY_KEYS = { count = true, base = true, cap = true }

-- the value as argument errors show it (client/api.lua, which requires
-- this module: loaded when needed)
local function show(v)
  return require("opencomputer.client.api").show(v)
end

--- The setting `retries` of the call or setting `name` (nil when
-- absent) as a table {count=, base=, cap=} holding the fields given:
-- `retries` is the number of retries after the first attempt (an integer
-- 0..RETRIES_MAX; 0: none), or a table of count, base (the first backoff,
-- seconds) and cap (the longest wait, seconds; a Retry-After above it
-- ends the retries), each optional, base and cap numbers above 0 up to
-- 3600. Anything else raises "<name>: retries ..." at `level` (as error()
-- counts it from the caller; default 2), before any request is made.
function M.check_retries(v, name, level)
  level = (level or 2) + 1
  if v == nil then return nil end
  local t = v
  if type(v) ~= "table" then t = { count = v } end
  for k in pairs(t) do
    if not RETRY_KEYS[k] then
      error(string.format("%s: retries has an unknown field %s (it takes "
        .. "count, base, cap)", name, show(k)), level)
    end
  end
  local c = t.count
  if c ~= nil and not (math.type(c) == "integer" and c >= 0
      and c <= M.RETRIES_MAX) then
    error(string.format("%s: retries%s must be an integer from 0 to %d "
      .. "(retries after the first attempt; 0: none), got %s", name,
      type(v) == "table" and ".count" or "", M.RETRIES_MAX, show(c)), level)
  end
  for _, k in ipairs{ "base", "cap" } do
    local x = t[k]
    if x ~= nil and not (type(x) == "number" and x > 0 and x <= 3600) then
      error(string.format("%s: retries.%s must be a number of seconds "
        .. "above 0 up to 3600, got %s", name, k, show(x)), level)
    end
  end
  return { count = t.count, base = t.base, cap = t.cap }
end

--- Process-wide defaults: api_url, api_key, retries (check_retries).
-- A bad setting raises "oc.configure: ..." at `level` (as error() counts
-- it from the caller; default 2: the caller's caller, oc.configure's),
-- and no setting of `t` is taken.
function M.configure(t, level)
  level = (level or 2) + 1
  if t ~= nil and type(t) ~= "table" then
    error("oc.configure: give a table of settings, got " .. show(t), level)
  end
  local new = {}
  for k, v in pairs(t or {}) do
    if k ~= "api_url" and k ~= "api_key" and k ~= "retries" then
      error("oc.configure: unknown option '" .. tostring(k) .. "'", level)
    end
    if k == "retries" then v = M.check_retries(v, "oc.configure", level) end
    new[k] = v
  end
  for k, v in pairs(new) do defaults[k] = v end
end

--- The retry policy {count=, base=, cap=} of calls with `opts`: each
-- field from opts.retries (a table check_retries gave), else from
-- oc.configure's, else M.RETRIES.
function M.retry_policy(opts)
  local mine = opts and opts.retries or {}
  local set = defaults.retries or {}
  local p = {}
  for k, v in pairs(M.RETRIES) do
    if mine[k] ~= nil then p[k] = mine[k]
    elseif set[k] ~= nil then p[k] = set[k]
    else p[k] = v end
  end
  return p
end

--- The API base URL: trailing slashes stripped, "/api" appended unless
-- already there.
function M.api_base(url)
  url = url:gsub("/+$", "")
  if not url:find("/api$") then url = url .. "/api" end
  return url
end

--- Read the standard output of a starting `oclua serve` (a host
-- process, src/runtime/process.c) until it says where it listens: the
-- URL, or nil when it ended first; and, in both cases, the lines it
-- wrote until then, joined with "\n". Yields.
function M.listening(proc)
  local said = {}
  while true do
    local line = proc:read_line()
    if not line then return nil, table.concat(said, "\n") end
    said[#said + 1] = line
    local url = line:match("listening on (http://%S+)")
    if url then return url, table.concat(said, "\n") end
  end
end

-- How this program runs `oclua serve ARGS...`: the oclua binary (and a C
-- host, which has no other way) re-runs itself; a Lua interpreter that
-- loaded the rock's module (core.host == "lua") runs itself with -e and a
-- chunk that finds the module where this process found it (package.path,
-- package.cpath) and runs the serve command under oc.run.
local function serve_argv(args)
  local exe = core.executable()
  if core.host ~= "lua" then
    local argv = { exe, "serve" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return argv
  end
  if not exe:match("[^/]*$"):find("^lua") then
    error("the local sandbox server needs a Lua interpreter (lua5.4) or "
      .. "oclua to run it, and this program (" .. exe .. ") is neither: "
      .. "set OPENCOMPUTER_API_URL and OPENCOMPUTER_API_KEY to a server "
      .. "(oclua serve)", 0)
  end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = string.format("%q", a) end
  return { exe, "-e", string.format("package.path = %q package.cpath = %q "
    .. "local oc = require('opencomputer') "
    .. "oc.run(require('opencomputer.cli.serve').main, %s)",
    package.path, package.cpath, table.concat(quoted, ", ")) }
end

--- Start `oclua serve --listen 127.0.0.1:0 --exit-with-parent ARGS...`
-- (`args` a list of strings, may be nil) as a child process with the
-- environment `env` (a list of "NAME=value", nil: this process's); its
-- URL (http://127.0.0.1:PORT) and the process (src/runtime/process.c)
-- once it listens. Raises core.process_spawn's error when it cannot be
-- started, and "the local sandbox server did not start (exit code N
-- ...)" when it ends before it listens. Yields.
function M.spawn_server(args, env)
  local all = { "--listen", "127.0.0.1:0", "--exit-with-parent" }
  for _, a in ipairs(args or {}) do all[#all + 1] = a end
  -- a session of its own: the terminal's Ctrl-C (the REPL's, which only
  -- clears the line) must not stop it; it ends with this process
  -- (--exit-with-parent) all the same
  local proc = core.process_spawn(serve_argv(all), env, { session = true })
  local url = M.listening(proc)
  if url then return url, proc end
  error("the local sandbox server did not start (exit code "
    .. tostring(proc:wait()) .. "; see its message above)", 0)
end

-- One child for the whole process, however many tasks ask at once: the
-- first starts it, the others wait for it (and share its failure).
local starting	-- a condition while the first caller starts the child

local function start_local()
  while starting do starting:wait() end
  if local_server then return local_server end
  if local_server == false then
    error("the local sandbox server could not be started (see above)", 0)
  end
  starting = require("opencomputer.runtime.task").condition()
  local key = random.hex(24)
  local env = { "OCLUA_SERVE_API_KEY=" .. key }
  for _, kv in ipairs(core.environ()) do
    if not kv:find("^OCLUA_SERVE_API_KEY=") then env[#env + 1] = kv end
  end
  local ok, url, proc = pcall(M.spawn_server, {}, env)
  local_server = ok and { url = url, key = key, proc = proc } or false
  local waiting = starting
  starting = nil
  waiting:signal()
  if not ok then error(url, 0) end
  return local_server
end

--- Where calls with `opts` go, without starting anything: {url = as
-- configured (nil: the embedded local server), key = API key or nil,
-- is_local = true for the embedded local server} (API.md section 1).
function M.target(opts)
  opts = opts or {}
  local url = opts.api_url or defaults.api_url or os.getenv("OPENCOMPUTER_API_URL")
  local key = opts.api_key or defaults.api_key or os.getenv("OPENCOMPUTER_API_KEY")
  if url == "" then url = nil end
  if key == "" then key = nil end
  if url == "local" or (not url and not key) then return { is_local = true } end
  return { url = url or M.CLOUD, key = key }
end

--- {base = API base URL, key = API key or nil, url = as configured};
-- starts the embedded local server on the first call that needs it.
function M.resolve(opts)
  local t = M.target(opts)
  if t.is_local then
    local srv = start_local()
    return { base = M.api_base(srv.url), key = srv.key, url = srv.url,
      is_local = true }
  end
  return { base = M.api_base(t.url), key = t.key, url = t.url }
end

return M
