-- opencomputer/sdk/agent.lua - sb.agent (API.md section 7): agent
-- sessions, a Claude agent wrapper inside the sandbox that reads commands
-- and writes events as JSON lines (protocol.md section 7).
--
-- A session is an exec session (sdk/exec.lua) whose stdout is cut into
-- lines: a partial line waits for the rest across frames, blank lines are
-- skipped, each JSON object is an event for `on_event`, anything else goes
-- to `on_error` as "non-JSON stdout: <line>" (7.2). stderr carries the
-- wrapper's diagnostics, also line by line, to `on_stderr`, or without one
-- to `on_error`, as both reference SDKs do. The callbacks run in the
-- session's delivery task: in order, one at a time, and they may yield
-- (API.md 2); an error raised in one is re-raised by wait(). Commands
-- (prompt, interrupt, configure) go as stdin frames (0x00) on the
-- session's WebSocket, as the reference SDKs send them (7.3).

local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")
local exec = require("opencomputer.sdk.exec")
local json = require("opencomputer.runtime.json")

local M = {}

-- the longest line kept while waiting for its end (bytes): a longer one
-- is dropped, and on_error told, so a wrapper that never ends a line
-- cannot fill this process's memory
M.MAX_LINE = 64 * 1024 * 1024

local Agent = {}
Agent.__index = Agent

--- sb.agent for the sandbox object `sb` (sdk/sandbox.lua).
function M.new(sb)
  return setmetatable({ sandbox = sb }, Agent)
end

-- Event ------------------------------------------------------------------

local Event = {}
Event.__index = Event
Event.__name = "AgentEvent"
M.Event = Event

--- ev:get(key, default): the field `key` of the event, or `default` when
-- it has none (JSON null counts as none).
function Event:get(key, default)
  local v = rawget(self, key)
  if v == nil then return default end
  return v
end

function Event:__tostring()
  return "AgentEvent " .. tostring(rawget(self, "type"))
end

-- The event of one trimmed stdout line, or nil when it is not a JSON
-- object. Top-level nulls become nil (ev:get gives its default); an
-- object without a string `type` gets "unknown", as in the Python SDK.
local function event_of(text)
  if text:byte(1) ~= 123 then return nil end	-- "{"
  local doc = json.decode(text)
  if type(doc) ~= "table" then return nil end
  for k, v in pairs(doc) do
    if v == json.null then doc[k] = nil end
  end
  if type(doc.type) ~= "string" then doc.type = "unknown" end
  return setmetatable(doc, Event)
end

-- A function fed the output of one stream in pieces (nil at its end)
-- that calls on_line(line) for each line, without its "\n"; a last line
-- without one is given at the end. A line longer than MAX_LINE is
-- dropped up to its end, and on_long(bytes) told.
local function line_splitter(on_line, on_long)
  local pending, size, skipping = {}, 0, false
  return function(data)
    if data == nil then
      if size > 0 and not skipping then on_line(table.concat(pending)) end
      pending, size = {}, 0
      return
    end
    local start = 1
    while true do
      local nl = data:find("\n", start, true)
      if not nl then break end
      if skipping then
        skipping = false
      else
        pending[#pending + 1] = data:sub(start, nl - 1)
        local line = table.concat(pending)
        pending, size = {}, 0
        on_line(line)
      end
      start = nl + 1
    end
    if start <= #data and not skipping then
      pending[#pending + 1] = data:sub(start)
      size = size + #data - start + 1
      if size > M.MAX_LINE then
        pending, size, skipping = {}, 0, true
        on_long(M.MAX_LINE)
      end
    end
  end
end

-- `line` without the white space around it; nil when blank
local function trim(line)
  local first = line:find("%S")
  if not first then return nil end
  return line:sub(first, line:match(".*()%S"))
end

-- Session -----------------------------------------------------------------

local Session = {}
Session.__index = Session
Session.__name = "AgentSession"
M.Session = Session

local CALLBACKS = { on_event = true, on_error = true, on_stderr = true,
  on_exit = true }

-- Attach to the agent session `sid` of `agent`'s sandbox: its exec
-- WebSocket, replay first (7.2), with the callbacks of `opts`.
local function open(agent, sid, opts)
  local s = setmetatable({ session_id = sid,
    sandbox_id = agent.sandbox.sandbox_id, agent = agent, events = {} },
    Session)
  local on_event, on_error = opts.on_event, opts.on_error
  local on_stderr = opts.on_stderr or on_error
  local function too_long(what)
    return function(max)
      if on_error then
        on_error(string.format("%s line longer than %d bytes, dropped",
          what, max))
      end
    end
  end
  local stdout = line_splitter(function(line)
    local text = trim(line)
    if not text then return end
    local ev = event_of(text)
    if not ev then
      if on_error then on_error("non-JSON stdout: " .. text) end
      return
    end
    s.events[#s.events + 1] = ev
    if on_event then on_event(ev) end
  end, too_long("stdout"))
  local stderr = line_splitter(function(line)
    if on_stderr and line:find("%S") then on_stderr(line) end
  end, too_long("stderr"))
  s.exec = agent.sandbox.exec:attach(sid, {
    on_stdout = stdout, on_stderr = stderr,
    -- the stream ended: a last line without "\n" is still a line
    on_exit = function(code)
      stdout(nil)
      stderr(nil)
      if opts.on_exit then opts.on_exit(code) end
    end,
  })
  return s
end

--- Yield until the agent's process has exited; its exit code (-1 when
-- the connection ended without one, API.md 4). An error raised by a
-- callback is re-raised here.
function Session:wait()
  return self.exec:wait()
end

--- Yield until the agent has exited; the list of every event this
-- session object received (those replayed on attach included), in order.
function Session:collect_events()
  self:wait()
  return table.move(self.events, 1, #self.events, 1, {})
end

-- send one command line on stdin; SandboxError once the session ended or
-- was closed
function Session:send_line(line)
  local e = self.exec
  if e.detached then
    errors.raise(errors.SandboxError, "agent session " .. self.session_id
      .. " is closed in this process (sb.agent:attach gives a new one)",
      { sandbox_id = self.sandbox_id, session_id = self.session_id })
  end
  if e.finished or not e.ws:is_open() then
    errors.raise(errors.SandboxError, "agent session " .. self.session_id
      .. " has ended (exit code " .. tostring(e.exit_code) .. ")",
      { sandbox_id = self.sandbox_id, session_id = self.session_id })
  end
  e:send_stdin(line .. "\n")
end

--- Send a prompt (7.3): the agent answers with events and then
-- turn_complete. `text`: a non-empty string.
function Session:send_prompt(text)
  if type(text) ~= "string" or text == "" then
    error("send_prompt: text must be a non-empty string, got "
      .. client.show(text), 2)
  end
  self:send_line('{"type":"prompt","text":' .. json.encode(text) .. "}")
end

--- Abort the prompt under way; the agent answers `interrupted` (7.3).
function Session:interrupt()
  self:send_line('{"type":"interrupt"}')
end

-- The options of the agent's configuration (7.1, 7.3) -> their JSON
-- names, in the order a configure line gives them.
local CONFIG = {
  { "model", "model" }, { "system_prompt", "systemPrompt" },
  { "allowed_tools", "allowedTools" },
  { "disallowed_tools", "disallowedTools" },
  { "permission_mode", "permissionMode" }, { "max_turns", "maxTurns" },
  { "cwd", "cwd" }, { "mcp_servers", "mcpServers" }, { "resume", "resume" },
}

-- the wire value of the configuration option `k` = `v` of the SDK call
-- `name`; raises at `level` for a bad one
local function config_value(k, v, name, level)
  level = level + 1
  local out	-- never a tail call: `level` counts this function's frame
  if k == "allowed_tools" or k == "disallowed_tools" then
    out = client.string_list(v, k, name, level)
  elseif k == "max_turns" then
    out = client.check_integer(v, k, name, 0, client.MAX_INT, level)
  elseif k == "mcp_servers" then
    if type(v) ~= "table" then
      error(name .. ": mcp_servers must be a table of name = {command=, "
        .. "args=, env=}, got " .. client.show(v), level)
    end
    out = {}
    for sname, server in pairs(v) do
      local what = "mcp_servers." .. tostring(sname)
      if type(sname) ~= "string" or type(server) ~= "table" then
        error(string.format("%s: mcp_servers must map names to tables "
          .. "{command=, args=, env=}, got %s = %s", name, client.show(sname),
          client.show(server)), level)
      end
      client.check_options(server, { command = true, args = true, env = true },
        name .. ": " .. what, level)
      out[sname] = {
        command = client.check_text(server.command, what .. ".command", name, level),
        args = client.string_list(server.args, what .. ".args", name, level),
        env = client.string_map(server.env, what .. ".env", name, level),
      }
    end
  else
    out = client.check_text(v, k, name, level)
  end
  return out
end

-- the configuration options given in `opts` by their JSON names, and
-- those names in CONFIG order
local function config_of(opts, name, level)
  local out, names = {}, {}
  for _, kv in ipairs(CONFIG) do
    local v = opts[kv[1]]
    if v ~= nil then
      out[kv[2]] = config_value(kv[1], v, name, level + 1)
      names[#names + 1] = kv[2]
    end
  end
  return out, names
end

--- Change the agent's configuration for the next prompts (7.3): any of
-- model=, system_prompt=, allowed_tools=, disallowed_tools=,
-- permission_mode=, max_turns=, cwd=, mcp_servers=, resume=; the ones
-- given are merged into the current configuration and the agent answers
-- `configured`.
function Session:configure(opts)
  if type(opts) ~= "table" then
    error("configure: give a table of options, got " .. client.show(opts), 2)
  end
  local allowed = {}
  for _, kv in ipairs(CONFIG) do allowed[kv[1]] = true end
  client.check_options(opts, allowed, "configure")
  local config, names = config_of(opts, "configure", 2)
  local line = { '{"type":"configure"' }
  for _, k in ipairs(names) do
    line[#line + 1] = json.encode(k) .. ":" .. json.encode(config[k])
  end
  self:send_line(table.concat(line, ",") .. "}")
end

--- End the agent's input: the wrapper reads end-of-file after the
-- commands sent so far, finishes them and exits (the OpenComputer
-- wrapper with status 0), so wait() and collect_events() return without
-- a kill. oclua's exec WebSocket extension, frame 0x05: a server without
-- it ignores the frame (then use kill).
function Session:close_stdin()
  local e = self.exec
  if not e.finished and not e.detached and e.ws:is_open() then
    e.ws:send("\5")
  end
end

--- Signal the agent's process (default 9; a number or a name such as
-- "SIGTERM") through POST .../agent/{sid}/kill (7.4).
function Session:kill(sig)
  local sb = self.agent.sandbox
  sb:call("POST", "/agent/" .. client.segment(self.session_id) .. "/kill",
    { body = { signal = exec.signal(sig, 9) }, fields = {
      sandbox_id = self.sandbox_id, session_id = self.session_id } })
end

--- Detach: the agent keeps running (sb.agent:attach finds it again).
function Session:close()
  self.exec:close()
end
Session.__close = Session.close

-- Agent -------------------------------------------------------------------

local START = { prompt = true }
for _, kv in ipairs(CONFIG) do
  if kv[1] ~= "disallowed_tools" then START[kv[1]] = true end
end
for k in pairs(CALLBACKS) do START[k] = true end

--- sb.agent:start{prompt=, model=, system_prompt=, allowed_tools=,
-- permission_mode=, max_turns=, cwd=, mcp_servers=, resume=, on_event=,
-- on_error=, on_stderr=, on_exit=} -> a session (7.1). Only the options
-- given are sent (the wrapper's defaults: max_turns 50, permission mode
-- bypassPermissions, cwd $HOME); `prompt`, when given, is the first
-- prompt. mcp_servers maps a name to {command=, args=, env=}.
function Agent:start(opts)
  opts = opts or {}
  client.check_options(opts, START, "agent:start")
  client.check_callbacks(opts, "agent:start")
  if opts.prompt ~= nil then client.check_text(opts.prompt, "prompt", "agent:start") end
  local body = config_of(opts, "agent:start", 2)
  body.prompt = opts.prompt
  local info = self.sandbox:call("POST", "/agent", { body = body })
  return open(self, info.sessionID, opts)
end

--- sb.agent:attach(session_id, {on_event=, on_error=, on_stderr=,
-- on_exit=}) -> a session; the events so far are replayed first (7.2).
function Agent:attach(sid, opts)
  client.check_id(sid, "the session id", "agent:attach")
  opts = opts or {}
  client.check_options(opts, CALLBACKS, "agent:attach")
  client.check_callbacks(opts, "agent:attach")
  return open(self, sid, opts)
end

--- sb.agent:list() -> list of {session_id, sandbox_id, running,
-- started_at} (7.4), in the order they started.
function Agent:list()
  local out = {}
  for i, e in ipairs(self.sandbox:call("GET", "/agent") or {}) do
    out[i] = { session_id = e.sessionID, sandbox_id = e.sandboxID,
      running = e.running, started_at = e.startedAt }
  end
  return out
end

return M
