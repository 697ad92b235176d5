-- spec/support/server.lua - a local sandbox server for the specs: started
-- in this process (on the specs' own loop) or as a separate `oclua serve`
-- process, and a raw API client for driving it over HTTP and WebSocket.

local http = require("opencomputer.client.http")
local json = require("opencomputer.runtime.json")
local websocket = require("opencomputer.client.websocket")

local M = {}

M.KEY = "spec-key-0123456789"

-- busted reloads this module for every spec file: the shared server is
-- kept in spec/support/helper.lua's state, which lasts the whole run
local state = package.loaded["spec.state"] or {}

--- The in-process server shared by the specs (started on first use).
function M.shared()
  if not state.server then
    state.server = require("opencomputer.server").start{
      listen = "127.0.0.1:0", api_key = M.KEY,
    }
  end
  return M.client(state.server.url, M.KEY)
end

--- Stop the shared server (spec/run.lua, after the specs): its
-- sandboxes and temporary data go.
function M.stop_shared()
  if state.server then state.server.stop(); state.server = nil end
end

--- Run argv on the host to its end without stopping the loop (the
-- shared server runs in this process): its standard output (lines joined
-- with "\n") and exit code.
function M.output(argv)
  local p = require("opencomputer.core").process_spawn(argv)
  local lines = {}
  while true do
    local line = p:read_line()
    if not line then break end
    lines[#lines + 1] = line
  end
  return table.concat(lines, "\n"), p:wait()
end

--- The URL a starting `oclua serve` process announces (nil if it ended
-- first), and what it wrote until then.
M.listening = require("opencomputer.sdk.config").listening

--- A separate `oclua serve` process; returns {url, proc, client}.
function M.process(args)
  local argv = { "--api-key", M.KEY }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local url, proc = require("opencomputer.sdk.config").spawn_server(argv)
  return { url = url, proc = proc, client = M.client(url, M.KEY) }
end

local Client = {}
Client.__index = Client

function M.client(url, key)
  return setmetatable({ url = url, key = key }, Client)
end

--- method, path under /api, opts {body (table -> JSON), raw, headers,
-- key (false: none), query (string)} -> status, decoded body, response
function Client:api(method, path, opts)
  opts = opts or {}
  local headers = { ["Content-Type"] = "application/json" }
  local key = opts.key
  if key == nil then key = self.key end
  if key then headers["X-API-Key"] = key end
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  local body = opts.raw
  if opts.body ~= nil then body = json.encode(opts.body) end
  local res = http.request(method, self.url .. (opts.prefix or "/api") .. path
    .. (opts.query and ("?" .. opts.query) or ""), {
    headers = headers, body = body, raise = false, timeout = opts.timeout or 60,
  })
  local doc = res.body and json.decode(res.body)
  return res.status, doc, res
end

--- Create a sandbox; its id.
function Client:create(body)
  local status, doc = self:api("POST", "/sandboxes", { body = body or {} })
  assert(status == 201, "create: " .. status .. " " .. json.encode(doc or {}))
  return doc.sandboxID
end

--- The ids of the exec sessions of sandbox `id` (GET .../exec; agent
-- sessions are some), as a set.
function Client:session_ids(id)
  local status, list = self:api("GET", "/sandboxes/" .. id .. "/exec")
  assert(status == 200, "GET .../exec answered " .. tostring(status))
  local ids = {}
  for _, s in ipairs(list) do ids[s.sessionID] = true end
  return ids
end

--- exec/run through sh -c; the decoded result.
function Client:run(id, cmd, extra)
  local body = { cmd = "sh", args = { "-c", cmd } }
  for k, v in pairs(extra or {}) do body[k] = v end
  local status, doc = self:api("POST", "/sandboxes/" .. id .. "/exec/run",
    { body = body })
  assert(status == 200, "run: " .. status .. " " .. json.encode(doc or {}))
  return doc
end

--- The bytes of one HTTP/1.1 request to `host` carrying the API key and
-- `body` (default "") as `ctype` (default application/json), with a
-- Content-Length of `length` (default #body: more announces a body cut
-- short) and Connection: close.
function M.raw_request(host, method, path, body, ctype, length)
  body = body or ""
  return table.concat({ method .. " " .. path .. " HTTP/1.1",
    "Host: " .. host, "X-API-Key: " .. M.KEY,
    "Content-Type: " .. (ctype or "application/json"),
    "Content-Length: " .. (length or #body), "Connection: close", "", body },
    "\r\n")
end

--- Percent-encode a query value.
function M.q(s)
  return (s:gsub("[^%w%-%._~/]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- The exec WebSocket of a session; frames go to `on_frame(kind, data)`.
function Client:attach(id, sid, on_frame, key)
  return websocket.connect(self.url:gsub("^http", "ws") .. "/api/sandboxes/"
    .. id .. "/exec/" .. sid .. "?api_key=" .. (key or self.key), {
    on_message = function(msg) on_frame(msg:byte(1), msg:sub(2)) end,
  })
end

return M
