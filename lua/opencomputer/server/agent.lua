-- opencomputer/server/agent.lua - agent sessions of the local server
-- (protocol.md section 7): an exec session (exec.lua) running the
-- program `claude-agent-wrapper` from the sandbox's PATH, with no
-- arguments and no environment of its own, that speaks JSON lines on its
-- stdin and stdout. Its output streams through the exec WebSocket
-- (GET /sandboxes/{id}/exec/{sid}, 7.2) and it is listed by GET /exec.
--
-- The project ships no wrapper. A sandbox without one gets a session all
-- the same, whose process writes the one `error` event 7.2 describes, with
-- how to install a wrapper, and exits with status 1: the failure of a
-- wrapper (7: "emits an error event and exits with status 1"), seen
-- through the normal stream. That process is `sh`; the session is listed
-- as `claude-agent-wrapper`, the program that was asked for.
--
-- Routes (7.1, 7.4), relative to /api:
--   POST /sandboxes/{id}/agent                    201 AgentSessionInfo
--   GET  /sandboxes/{id}/agent                    200 [AgentSessionInfo]
--   POST /sandboxes/{id}/agent/{sid}/prompt       204 ({"text"} required)
--   POST /sandboxes/{id}/agent/{sid}/interrupt    204
--   POST /sandboxes/{id}/agent/{sid}/kill         204 ({"signal"}, default 9)

local json = require("opencomputer.runtime.json")
local http = require("opencomputer.server.http")
local request = require("opencomputer.server.request")
local exec = require("opencomputer.server.exec")
local sandbox = require("opencomputer.server.sandbox")

local M = {}

M.PROGRAM = "claude-agent-wrapper"

-- how to get a wrapper, in the error event of a sandbox without one
M.INSTALL = "put an executable named claude-agent-wrapper on the "
  .. "sandbox's PATH (e.g. /usr/local/bin/claude-agent-wrapper) that reads "
  .. "configure, prompt and interrupt commands as JSON lines on stdin and "
  .. "writes events as JSON lines on stdout (protocol.md section 7); the "
  .. "OpenComputer wrapper is the Node.js program scripts/claude-agent-wrapper "
  .. "of github.com/diggerhq/opencomputer (npm install && npm run build, "
  .. "on Node 18 or later), which needs ANTHROPIC_API_KEY in the sandbox's "
  .. "envs"

-- The configuration fields of POST /agent in the order a configure line
-- lists them (7.1). As in the reference, a field is set when it is
-- present and not its type's zero value: an empty string, list or object,
-- or maxTurns 0 asks for the wrapper's default, as an absent field does.
M.CONFIG_FIELDS = { "model", "systemPrompt", "allowedTools",
  "permissionMode", "maxTurns", "cwd", "mcpServers", "resume" }

local function is_set(v)
  if v == nil or v == "" or v == 0 then return false end
  return type(v) ~= "table" or next(v) ~= nil
end

--- Is the exec session `s` an agent session? As in the reference (7.4):
-- its command is claude-agent-wrapper, whoever started it.
function M.is_agent(s)
  return s.argv[1] == M.PROGRAM
end

--- The configure command of the checked body `b` of POST /agent (the
-- line without its "\n"), or nil when no configuration field is set
-- (7.1). An MCP server's empty args or env are left out, as unset.
function M.configure_line(b)
  local parts = { '{"type":"configure"' }
  for _, k in ipairs(M.CONFIG_FIELDS) do
    local v = b[k]
    if is_set(v) then
      if k == "mcpServers" then
        for _, server in pairs(v) do
          if not is_set(server.args) then server.args = nil end
          if not is_set(server.env) then server.env = nil end
        end
      end
      parts[#parts + 1] = json.encode(k) .. ":" .. json.encode(v)
    end
  end
  if #parts == 1 then return nil end
  return table.concat(parts, ",") .. "}"
end

--- The prompt command for `text` (the line without its "\n"); `resume`
-- (a Claude session id) is added when set (7.1, single-process mode).
function M.prompt_line(text, resume)
  local line = '{"type":"prompt","text":' .. json.encode(text)
  if is_set(resume) then line = line .. ',"resume":' .. json.encode(resume) end
  return line .. "}"
end

-- the process of a sandbox where the wrapper cannot start (`err`: why,
-- `code`: the errno name): writes one error event and exits with 1
local function failing_argv(err, code)
  local message
  if code == "ENOENT" then
    message = M.PROGRAM .. " is not installed in this sandbox: " .. M.INSTALL
  else
    message = M.PROGRAM .. " cannot start in this sandbox (" .. tostring(err)
      .. "): " .. M.INSTALL
  end
  local line = '{"type":"error","message":' .. json.encode(message) .. "}"
  return { "sh", "-c", 'printf "%s\\n" "$1"; exit 1', "sh", line }
end

--- Start an agent session in the sandbox `sb` with the checked body `b`
-- of POST /agent (request.schemas.agent): the exec session, or nil and
-- why not even the stand-in of a missing wrapper could start. Writes the
-- configure line, then the prompt line, to the wrapper's stdin (7.1).
function M.start(sb, b)
  local how = { wait_for_client = true }
  local ok, s, err, code = pcall(exec.start, sb, { M.PROGRAM }, how)
  if not ok then return nil, s end
  if not s then
    how.listed_as = { M.PROGRAM }
    ok, s, err = pcall(exec.start, sb, failing_argv(err, code), how)
    if not ok then return nil, s end
    return s, err
  end
  local configure = M.configure_line(b)
  if configure then s.proc:write(configure .. "\n") end
  if is_set(b.prompt) then
    s.proc:write(M.prompt_line(b.prompt, b.resume) .. "\n")
  end
  return s
end

--- The AgentSessionInfo of the exec session `s` (7.1).
function M.info(s)
  return { sessionID = s.id, sandboxID = s.sandbox.id, running = s.running,
    startedAt = exec.rfc3339(s.started_at) }
end

-- the agent session `sid` of the sandbox `sb`, or a 404
local function session_of(sb, sid)
  local s = sb.sessions[request.id(sid, "session id")]
  if not s or not M.is_agent(s) then
    http.abort(404, "agent session " .. sid .. " not found")
  end
  return s
end

-- write a command line to a session that still runs, or a 400
local function command(s, line)
  if not s.running then
    http.abort(400, "agent session " .. s.id .. " is not running (it "
      .. "exited with code " .. tostring(s.exit_code) .. ")")
  end
  s.proc:write(line .. "\n")
end

--- Add the routes of agent sessions to the router `r` of the registry
-- `reg`; `sandbox_of(reg, id, data_plane)` is api.lua's lookup of a
-- route's sandbox (404, and a wake for the data plane).
function M.routes(r, reg, sandbox_of)
  r.add("POST", "/sandboxes/:id/agent", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    local b = request.body(req, "agent")
    local s, err = M.start(sb, b)
    if not s then
      http.abort(500, "create agent session: "
        .. sandbox.public(reg, err, sb.id .. ": agent"))
    end
    http.json(req, 201, M.info(s))
  end)

  r.add("GET", "/sandboxes/:id/agent", function(req, p)
    local sb = sandbox_of(reg, p.id)
    local list = {}
    for _, s in pairs(sb.sessions) do
      if M.is_agent(s) then list[#list + 1] = s end
    end
    table.sort(list, function(a, c) return a.seq < c.seq end)
    local out = json.array()
    for i, s in ipairs(list) do out[i] = M.info(s) end
    http.json(req, 200, out)
  end)

  -- the body first, as the reference: "text is required" before a 404
  r.add("POST", "/sandboxes/:id/agent/:sid/prompt", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    local b = request.body(req, "agent_prompt")
    command(session_of(sb, p.sid), M.prompt_line(b.text))
    http.no_content(req)
  end)

  r.add("POST", "/sandboxes/:id/agent/:sid/interrupt", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    request.body(req, "none")
    command(session_of(sb, p.sid), '{"type":"interrupt"}')
    http.no_content(req)
  end)

  -- an unknown session is a 404 here (the reference answers 500, as for
  -- exec sessions: protocol.md 7.4, 3.5); a finished one is a 204
  r.add("POST", "/sandboxes/:id/agent/:sid/kill", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    local sig = request.body(req, "kill").signal
    local s = session_of(sb, p.sid)
    if sig == nil or sig == 0 then sig = 9 end
    s:kill(sig)
    http.no_content(req)
  end)
end

return M
