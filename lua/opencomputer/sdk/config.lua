-- opencomputer/sdk/config.lua - where the SDK's calls go (API.md section 1,
-- protocol.md section 1.1): per-call options, then oc.configure, then the
-- environment. With neither a URL nor a key (or api_url = "local") the
-- calls go to the local sandbox server, started once per process as a
-- child (`oclua serve --exit-with-parent` on 127.0.0.1, a random key).
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

--- Process-wide defaults: api_url, api_key.
function M.configure(t)
  for k, v in pairs(t or {}) do
    if k ~= "api_url" and k ~= "api_key" then
      error("oc.configure: unknown option '" .. tostring(k) .. "'", 2)
    end
    defaults[k] = v
  end
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

--- Start `oclua serve --listen 127.0.0.1:0 --exit-with-parent ARGS...`
-- (`args` a list of strings, may be nil) as a child process with the
-- environment `env` (a list of "NAME=value", nil: this process's); its
-- URL (http://127.0.0.1:PORT) and the process (src/runtime/process.c)
-- once it listens. Raises core.process_spawn's error when it cannot be
-- started, and "the local sandbox server did not start (exit code N
-- ...)" when it ends before it listens. Yields.
function M.spawn_server(args, env)
  local argv = { core.executable(), "serve", "--listen", "127.0.0.1:0",
    "--exit-with-parent" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local proc = core.process_spawn(argv, env)
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
