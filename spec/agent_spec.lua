-- spec/agent_spec.lua - agent sessions (protocol.md section 7, API.md 7)
-- against the local server: the routes of 7.1 and 7.4 over raw HTTP and
-- the exec WebSocket, and sb.agent through the SDK.
--
-- oclua ships no agent wrapper: these specs write their own into the
-- sandbox, spec/support/claude-agent-wrapper.sh (its head says what it
-- does), at /usr/local/bin/claude-agent-wrapper.

local oc = require("opencomputer")
local json = require("opencomputer.runtime.json")
local task = require("opencomputer.runtime.task")
local support = require("spec.support.server")
local sdk = require("spec.support.sdk")

local E = oc.errors
local fails = sdk.fails
local misuse = sdk.misuse

-- the test wrapper (also the official SDK's, scripts/compat/suite.mjs)
local WRAPPER
do
  local f <close> = assert(io.open("spec/support/claude-agent-wrapper.sh"))
  WRAPPER = f:read("a")
end

local WRAPPER_PATH = "/usr/local/bin/claude-agent-wrapper"

-- write WRAPPER into the sandbox `sb` (an SDK sandbox) as the wrapper
local function install(sb, text, mode)
  sb.files:write("/tmp/wrapper", text or WRAPPER)
  local r = sb.exec:run("sudo install -m " .. (mode or "755")
    .. " /tmp/wrapper " .. WRAPPER_PATH)
  assert(r.exit_code == 0, r.stderr)
end

-- Raw HTTP and WebSocket -------------------------------------------------

-- A client of the exec WebSocket of session `sid`: its events (decoded
-- stdout lines), raw stdout frames, and exit code; wait_for(pred) yields
-- until an event satisfies pred (10 s at most).
local function watch(c, id, sid)
  local w = { events = {}, frames = {}, buf = "", changed = task.condition() }
  w.ws = c:attach(id, sid, function(kind, data)
    if kind == 1 then
      w.frames[#w.frames + 1] = data
      w.buf = w.buf .. data
      while true do
        local line, rest = w.buf:match("^([^\n]*)\n(.*)$")
        if not line then break end
        w.buf = rest
        if line:find("%S") then
          w.events[#w.events + 1] = json.decode(line) or { raw = line }
        end
      end
    elseif kind == 3 then
      w.exit = string.unpack(">i4", data)
    end
    w.changed:signal()
  end)
  function w.wait_for(pred, what)
    local deadline = oc.now() + 10
    while true do
      for i, ev in ipairs(w.events) do
        if pred(ev) then return ev, i end
      end
      local left = deadline - oc.now()
      assert(left > 0, "timed out waiting for " .. (what or "an event")
        .. "; events: " .. json.encode(w.events))
      w.changed:wait(left)
    end
  end
  function w.wait_type(t)
    return w.wait_for(function(ev) return ev.type == t end, t)
  end
  function w.wait_exit()
    local deadline = oc.now() + 10
    while w.exit == nil do
      local left = deadline - oc.now()
      assert(left > 0, "timed out waiting for the exit frame")
      w.changed:wait(left)
    end
    return w.exit
  end
  return w
end

-- the types of a list of events
local function types(events)
  local out = {}
  for i, ev in ipairs(events) do out[i] = ev.type end
  return out
end

describe("POST /sandboxes/{id}/agent", function()
  local c, sb, id
  setup(function()
    c = support.shared()
    sb = sdk.new_sandbox()
    id = sb.id
    install(sb)
  end)
  teardown(function() sb:kill() end)

  local function start(body)
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/agent",
      { body = body })
    assert.are.equal(201, status, json.encode(doc or {}))
    return doc
  end

  it("answers 201 AgentSessionInfo; the session is an exec session", function()
    local doc = start({})
    assert.matches("^%x%x%x%x%x%x%x%x$", doc.sessionID)
    assert.are.equal(id, doc.sandboxID)
    assert.is_true(doc.running)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", doc.startedAt)
    local keys = {}
    for k in pairs(doc) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "running", "sandboxID", "sessionID", "startedAt" }, keys)
    -- GET /exec lists it with the wrapper's command and no args (3.3)
    local status, list = c:api("GET", "/sandboxes/" .. id .. "/exec")
    assert.are.equal(200, status)
    local found
    for _, s in ipairs(list) do
      if s.sessionID == doc.sessionID then found = s end
    end
    assert.is_table(found)
    assert.are.equal("claude-agent-wrapper", found.command)
    assert.are.same({}, found.args)
    -- no configuration, no prompt: the wrapper only said ready
    local w = watch(c, id, doc.sessionID)
    w.wait_type("ready")
    oc.sleep(0.2)
    assert.are.same({ "ready" }, types(w.events))
    w.ws:close()
    c:api("POST", "/sandboxes/" .. id .. "/agent/" .. doc.sessionID .. "/kill")
  end)

  it("writes one configure line with exactly the fields set, then the prompt with resume", function()
    local doc = start({
      prompt = "hello", model = "claude-test", systemPrompt = "",
      allowedTools = { "Read", "Bash" }, permissionMode = "plan",
      maxTurns = 3, cwd = "", resume = "prev-session",
      mcpServers = { fs = { command = "npx", args = { "-y", "srv" },
        env = { A = "1" } }, bare = { command = "mcp-bare", args = {} } },
      unknownField = "ignored",
    })
    local w = watch(c, id, doc.sessionID)
    w.wait_type("turn_complete")
    assert.are.same({ "ready", "configured", "assistant", "turn_complete" },
      types(w.events))
    assert.are.same({ type = "configure", model = "claude-test",
      allowedTools = { "Read", "Bash" }, permissionMode = "plan",
      maxTurns = 3, resume = "prev-session",
      mcpServers = { fs = { command = "npx", args = { "-y", "srv" },
        env = { A = "1" } }, bare = { command = "mcp-bare" } } },
      w.events[2].got)
    -- the configure line starts with its type, as the reference's
    assert.matches('"got":{"type":"configure",', table.concat(w.frames), 1, true)
    assert.are.same({ type = "prompt", text = "hello", resume = "prev-session" },
      w.events[3].got)
    assert.are.equal(json.null, w.events[4].claude_session_id)
    w.ws:close()
    c:api("POST", "/sandboxes/" .. id .. "/agent/" .. doc.sessionID .. "/kill")
  end)

  it("writes no configure line when only zero values are set; a prompt alone", function()
    local doc = start({ prompt = "only", model = "", maxTurns = 0,
      allowedTools = {}, mcpServers = {}, resume = "" })
    local w = watch(c, id, doc.sessionID)
    w.wait_type("turn_complete")
    assert.are.same({ "ready", "assistant", "turn_complete" }, types(w.events))
    assert.are.same({ type = "prompt", text = "only" }, w.events[2].got)
    w.ws:close()
    c:api("POST", "/sandboxes/" .. id .. "/agent/" .. doc.sessionID .. "/kill")
  end)

  it("serves the list, prompt, interrupt and kill routes (7.4)", function()
    local base = "/sandboxes/" .. id .. "/agent"
    local doc = start({})
    local sid = doc.sessionID
    local w = watch(c, id, sid)
    -- an exec session that is not an agent's is neither listed nor
    -- addressed by the agent routes
    local st, other = c:api("POST", "/sandboxes/" .. id .. "/exec",
      { body = { cmd = "sleep", args = { "30" } } })
    assert.are.equal(201, st)
    local status, list = c:api("GET", base)
    assert.are.equal(200, status)
    local ids = {}
    for _, s in ipairs(list) do
      ids[s.sessionID] = s
      assert.are.equal(id, s.sandboxID)
    end
    assert.is_table(ids[sid])
    assert.is_true(ids[sid].running)
    assert.is_nil(ids[other.sessionID])

    status = c:api("POST", base .. "/" .. sid .. "/prompt",
      { body = { text = "by http" } })
    assert.are.equal(204, status)
    local ev = w.wait_type("assistant")
    assert.are.same({ type = "prompt", text = "by http" }, ev.got)
    w.wait_type("turn_complete")

    local doc2
    status, doc2 = c:api("POST", base .. "/" .. sid .. "/prompt", { body = {} })
    assert.are.equal(400, status)
    assert.are.equal("text is required", doc2.error)
    status, doc2 = c:api("POST", base .. "/" .. sid .. "/prompt",
      { body = { text = "" } })
    assert.are.equal(400, status)
    assert.are.equal("text is required", doc2.error)
    status, doc2 = c:api("POST", base .. "/abcdef12/prompt",
      { body = { text = "x" } })
    assert.are.equal(404, status)
    assert.are.equal("agent session abcdef12 not found", doc2.error)
    status = c:api("POST", base .. "/" .. other.sessionID .. "/prompt",
      { body = { text = "x" } })
    assert.are.equal(404, status)
    status = c:api("POST", base .. "/" .. other.sessionID .. "/interrupt")
    assert.are.equal(404, status)
    status = c:api("POST", base .. "/" .. other.sessionID .. "/kill")
    assert.are.equal(404, status)

    status = c:api("POST", base .. "/" .. sid .. "/interrupt")
    assert.are.equal(204, status)
    w.wait_type("interrupted")
    status = c:api("POST", base .. "/abcdef12/interrupt")
    assert.are.equal(404, status)

    -- kill: 204, the wrapper ends by the signal (-1); unknown: 404
    status = c:api("POST", base .. "/" .. sid .. "/kill",
      { body = { signal = 15 } })
    assert.are.equal(204, status)
    assert.are.equal(-1, w.wait_exit())
    status, doc2 = c:api("POST", base .. "/abcdef12/kill")
    assert.are.equal(404, status)
    assert.are.equal("agent session abcdef12 not found", doc2.error)
    -- a finished session: listed as not running; a prompt is a 400, a
    -- kill still a 204
    status, list = c:api("GET", base)
    for _, s in ipairs(list) do
      if s.sessionID == sid then assert.is_false(s.running) end
    end
    status, doc2 = c:api("POST", base .. "/" .. sid .. "/prompt",
      { body = { text = "late" } })
    assert.are.equal(400, status)
    assert.matches("is not running", doc2.error)
    status = c:api("POST", base .. "/" .. sid .. "/interrupt")
    assert.are.equal(400, status)
    status = c:api("POST", base .. "/" .. sid .. "/kill")
    assert.are.equal(204, status)
    c:api("POST", "/sandboxes/" .. id .. "/exec/" .. other.sessionID .. "/kill")
  end)

  it("answers 404 for an unknown sandbox", function()
    local status = c:api("POST", "/sandboxes/sb-00000000/agent", { body = {} })
    assert.are.equal(404, status)
    status = c:api("GET", "/sandboxes/sb-00000000/agent")
    assert.are.equal(404, status)
  end)
end)

describe("a sandbox without a wrapper", function()
  local c, sb
  setup(function()
    c = support.shared()
    sb = sdk.new_sandbox()
  end)
  teardown(function() sb:kill() end)

  it("fails the session as a wrapper fails: an error event saying how to install one, exit 1", function()
    local status, doc = c:api("POST", "/sandboxes/" .. sb.id .. "/agent",
      { body = { prompt = "hello", model = "m" } })
    assert.are.equal(201, status)
    assert.is_true(doc.running)
    local w = watch(c, sb.id, doc.sessionID)
    assert.are.equal(1, w.wait_exit())
    assert.are.equal(1, #w.events)
    local ev = w.events[1]
    assert.are.equal("error", ev.type)
    assert.matches("^claude%-agent%-wrapper is not installed in this sandbox: ",
      ev.message)
    assert.matches("/usr/local/bin/claude%-agent%-wrapper", ev.message)
    assert.matches("ANTHROPIC_API_KEY", ev.message)
    -- listed as an agent session, and by GET /exec as the wrapper
    local _, list = c:api("GET", "/sandboxes/" .. sb.id .. "/agent")
    assert.are.equal(1, #list)
    assert.are.equal(doc.sessionID, list[1].sessionID)
    assert.is_false(list[1].running)
    local _, execs = c:api("GET", "/sandboxes/" .. sb.id .. "/exec")
    assert.are.equal("claude-agent-wrapper", execs[1].command)
    assert.are.same({}, execs[1].args)
    assert.are.equal(1, execs[1].exitCode)
  end)

  it("the SDK sees the error event and exit code 1", function()
    local errs = {}
    local s = sb.agent:start{ prompt = "x", on_error = function(e) errs[#errs + 1] = e end }
    local events = s:collect_events()
    assert.are.same({ "error" }, types(events))
    assert.matches("not installed in this sandbox", events[1].message)
    assert.are.equal(1, s:wait())
    assert.are.same({}, errs)
  end)

  it("a wrapper that is not executable: the error event says why", function()
    install(sb, WRAPPER, "644")
    local s = sb.agent:start{}
    local events = s:collect_events()
    assert.are.equal(1, s:wait())
    assert.are.same({ "error" }, types(events))
    assert.matches("^claude%-agent%-wrapper cannot start in this sandbox %(",
      events[1].message)
    assert.matches("Permission denied", events[1].message)
    sb.exec:run("sudo rm -f " .. WRAPPER_PATH)
  end)
end)

-- SDK ----------------------------------------------------------------------

describe("sb.agent", function()
  local sb
  setup(function()
    sb = sdk.new_sandbox()
    install(sb)
  end)
  teardown(function() sb:kill() end)

  -- a session whose events, errors and stderr lines are recorded
  local function recorded(opts)
    local rec = { events = {}, errors = {}, stderr = {} }
    opts = opts or {}
    opts.on_event = function(ev) rec.events[#rec.events + 1] = ev end
    opts.on_error = function(e) rec.errors[#rec.errors + 1] = e end
    if opts.on_stderr == true then
      opts.on_stderr = function(l) rec.stderr[#rec.stderr + 1] = l end
    end
    return rec, opts
  end

  -- yield until rec.events has an event of type t (10 s at most)
  local function wait_type(rec, t, count)
    local deadline = oc.now() + 10
    while true do
      local n = 0
      for _, ev in ipairs(rec.events) do
        if ev.type == t then n = n + 1 end
      end
      if n >= (count or 1) then return end
      assert(oc.now() < deadline, "no " .. t .. " event; got "
        .. table.concat(types(rec.events), ","))
      oc.sleep(0.02)
    end
  end

  it("starts with a prompt: events in order, as tables with ev:get", function()
    local rec, opts = recorded({ prompt = "hi", model = "m1", max_turns = 7,
      system_prompt = "be brief", allowed_tools = { "Read" }, cwd = "/tmp",
      permission_mode = "acceptEdits", resume = "r-1",
      mcp_servers = { one = { command = "srv", args = { "a" }, env = { K = 1 } } } })
    local s = sb.agent:start(opts)
    assert.matches("^%x+$", s.session_id)
    assert.are.equal(sb.id, s.sandbox_id)
    wait_type(rec, "turn_complete")
    assert.are.same({ "ready", "configured", "assistant", "turn_complete" },
      types(rec.events))
    local got = rec.events[2].got
    assert.are.same({ type = "configure", model = "m1", maxTurns = 7,
      systemPrompt = "be brief", allowedTools = { "Read" }, cwd = "/tmp",
      permissionMode = "acceptEdits", resume = "r-1",
      mcpServers = { one = { command = "srv", args = { "a" }, env = { K = "1" } } } },
      got)
    local a = rec.events[3]
    assert.are.equal("assistant", a.type)
    assert.are.same({ type = "prompt", text = "hi", resume = "r-1" }, a:get("got"))
    assert.are.equal("dflt", a:get("missing", "dflt"))
    local done = rec.events[4]
    assert.is_nil(done.claude_session_id)	-- JSON null
    assert.are.equal("none", done:get("claude_session_id", "none"))
    assert.matches("AgentEvent turn_complete", tostring(done))
    s:kill()
    assert.are.equal(-1, s:wait())
    assert.are.same({}, rec.errors)
  end)

  it("sends prompts, configure and interrupt as stdin lines; wait gives the exit code", function()
    local rec, opts = recorded()
    local s = sb.agent:start(opts)
    s:send_prompt("one")
    wait_type(rec, "turn_complete")
    s:configure{ model = "m2", disallowed_tools = { "Bash" }, max_turns = 2 }
    wait_type(rec, "configured")
    s:interrupt()
    wait_type(rec, "interrupted")
    s:send_prompt("exit 3")
    assert.are.equal(3, s:wait())
    assert.are.same({ "ready", "assistant", "turn_complete", "configured",
      "interrupted" }, types(rec.events))
    assert.are.same({ type = "prompt", text = "one" }, rec.events[2].got)
    assert.are.same({ type = "configure", model = "m2",
      disallowedTools = { "Bash" }, maxTurns = 2 }, rec.events[4].got)
    -- after the exit, commands raise
    local e = fails(E.SandboxError, s.send_prompt, s, "more")
    assert.matches("has ended %(exit code 3%)", e.message)
    assert.are.equal(s.session_id, e.session_id)
  end)

  it("buffers partial lines across frames, a UTF-8 character split too", function()
    local rec, opts = recorded()
    local s = sb.agent:start(opts)
    s:send_prompt("split")
    wait_type(rec, "turn_complete")
    assert.are.same({ "ready", "assistant", "second", "assistant",
      "turn_complete" }, types(rec.events))
    assert.are.equal("café", rec.events[2].text)
    assert.are.same({}, rec.errors)
    -- the lines did come in pieces: the raw stream of the same session
    -- has a frame that ends inside a line
    local pieces = {}
    local x = sb.exec:attach(s.session_id, { on_stdout = function(d)
      pieces[#pieces + 1] = d
    end })
    s:send_prompt("exit 0")
    assert.are.equal(0, s:wait())
    x:wait()
    local split = 0
    for _, p in ipairs(pieces) do
      if p:sub(-1) ~= "\n" then split = split + 1 end
    end
    assert.is_true(split >= 3, "frames: " .. #pieces)
  end)

  it("skips blank lines and reports non-JSON lines to on_error", function()
    local rec, opts = recorded()
    local s = sb.agent:start(opts)
    s:send_prompt("noise")
    wait_type(rec, "turn_complete")
    assert.are.same({ "ready", "after_noise", "assistant", "turn_complete" },
      types(rec.events))
    assert.are.same({ "non-JSON stdout: not json at all",
      "non-JSON stdout: [1,2]" }, rec.errors)
    s:kill()
    s:wait()
  end)

  it("drops a partial line past MAX_LINE and says so in on_error", function()
    local agent = require("opencomputer.sdk.agent")
    local max = agent.MAX_LINE
    agent.MAX_LINE = 100
    local rec, opts = recorded()
    local ok, err = pcall(function()
      local s = sb.agent:start(opts)
      s:send_prompt("long")
      wait_type(rec, "turn_complete")
      s:kill()
      s:wait()
    end)
    agent.MAX_LINE = max
    assert(ok, err)
    assert.are.same({ "ready", "small", "assistant", "turn_complete" },
      types(rec.events))
    assert.are.same({ "stdout line longer than 100 bytes, dropped" }, rec.errors)
  end)

  it("gives stderr lines to on_stderr, or else to on_error", function()
    local rec, opts = recorded({ on_stderr = true })
    local s = sb.agent:start(opts)
    s:send_prompt("stderr")
    wait_type(rec, "turn_complete")
    s:kill()
    s:wait()
    assert.are.same({ "[claude-agent-wrapper] a diagnostic" }, rec.stderr)
    assert.are.same({}, rec.errors)
    local rec2, opts2 = recorded()
    local s2 = sb.agent:start(opts2)
    s2:send_prompt("stderr")
    wait_type(rec2, "turn_complete")
    s2:kill()
    s2:wait()
    assert.are.same({ "[claude-agent-wrapper] a diagnostic" }, rec2.errors)
  end)

  it("delivers a last line without its newline at the exit; collect_events lists all", function()
    local exit_code
    local s = sb.agent:start{ prompt = "tail",
      on_exit = function(code) exit_code = code end }
    local events = s:collect_events()
    assert.are.same({ "ready", "last" }, types(events))
    assert.are.equal(1, events[2].n)
    assert.are.equal(0, s:wait())
    assert.are.equal(0, exit_code)
  end)

  it("close_stdin() lets the wrapper finish its prompts and exit", function()
    local s = sb.agent:start{ prompt = "one" }
    s:send_prompt("two")
    s:close_stdin()
    local events = s:collect_events()
    assert.are.equal(0, s:wait())
    assert.are.same({ "ready", "assistant", "turn_complete", "assistant",
      "turn_complete" }, types(events))
    assert.are.equal("two", events[4].got.text)
    s:close_stdin()	-- after the exit: nothing to do
  end)

  it("runs callbacks in order, one at a time, even when they yield", function()
    local seen, busy = {}, false
    local s = sb.agent:start{ on_event = function(ev)
      assert(not busy, "two callbacks at once")
      busy = true
      oc.sleep(0.05)
      seen[#seen + 1] = ev.type
      busy = false
    end }
    s:send_prompt("a")
    s:send_prompt("b")
    s:send_prompt("exit 0")
    assert.are.equal(0, s:wait())
    assert.are.same({ "ready", "assistant", "turn_complete", "assistant",
      "turn_complete" }, seen)
  end)

  it("re-raises a callback's error in wait()", function()
    local s = sb.agent:start{ on_event = function(ev)
      if ev.type == "ready" then error("boom in on_event") end
    end }
    local ok, err = pcall(s.wait, s)
    assert.is_false(ok)
    assert.matches("boom in on_event", tostring(err))
    sb.agent:attach(s.session_id):kill()
  end)

  it("kill() ends the agent (-1); a signal by name", function()
    local s = sb.agent:start{}
    s:kill("SIGTERM")
    assert.are.equal(-1, s:wait())
    local s2 = sb.agent:start{}
    s2:kill()
    assert.are.equal(-1, s2:wait())
  end)

  it("lists agent sessions; attach replays the earlier events", function()
    local rec, opts = recorded()
    local s = sb.agent:start(opts)
    s:send_prompt("first")
    wait_type(rec, "turn_complete")
    s:close()	-- detached: the agent keeps running
    local found
    for _, info in ipairs(sb.agent:list()) do
      if info.session_id == s.session_id then found = info end
      assert.are.equal(sb.id, info.sandbox_id)
    end
    assert.are.same({ session_id = s.session_id, sandbox_id = sb.id,
      running = true, started_at = found.started_at }, found)
    assert.matches("^%d%d%d%d%-", found.started_at)
    local e = fails(E.SandboxError, s.send_prompt, s, "x")
    assert.matches("closed", e.message)

    local rec2, opts2 = recorded()
    local again = sb.agent:attach(s.session_id, opts2)
    wait_type(rec2, "turn_complete")
    assert.are.same({ "ready", "assistant", "turn_complete" }, types(rec2.events))
    assert.are.same({ type = "prompt", text = "first" }, rec2.events[2].got)
    again:send_prompt("second")
    wait_type(rec2, "turn_complete", 2)
    again:send_prompt("exit 5")
    assert.are.equal(5, again:wait())
    for _, info in ipairs(sb.agent:list()) do
      if info.session_id == s.session_id then assert.is_false(info.running) end
    end
    fails(E.NotFoundError, sb.agent.attach, sb.agent, "abcdef12")
  end)

  it("a <close> session detaches on leaving scope", function()
    local sid
    do
      local s <close> = sb.agent:start{}
      sid = s.session_id
    end
    local s = sb.agent:attach(sid)
    s:kill()
    assert.are.equal(-1, s:wait())
  end)

  it("refuses bad options at the caller, before any request", function()
    local before = #sb.agent:list()
    misuse("unknown option 'modle'", sb.agent.start, sb.agent, { modle = "x" })
    misuse("max_turns must be an integer", sb.agent.start, sb.agent, { max_turns = 1.5 })
    misuse("max_turns must be an integer", sb.agent.start, sb.agent, { max_turns = -1 })
    misuse("allowed_tools must be a list", sb.agent.start, sb.agent, { allowed_tools = "Read" })
    misuse("model must be a string", sb.agent.start, sb.agent, { model = 5 })
    misuse("on_event must be a function", sb.agent.start, sb.agent, { on_event = true })
    misuse("mcp_servers must map names", sb.agent.start, sb.agent, { mcp_servers = { "x" } })
    misuse("unknown option 'cmd'", sb.agent.start, sb.agent,
      { mcp_servers = { a = { cmd = "x" } } })
    misuse("mcp_servers.a.command must be a string", sb.agent.start, sb.agent,
      { mcp_servers = { a = { args = {} } } })
    misuse("unknown option 'on_stdout'", sb.agent.attach, sb.agent, "abcdef12",
      { on_stdout = print })
    misuse("the session id must be a string", sb.agent.attach, sb.agent, nil)
    assert.are.equal(before, #sb.agent:list())
    local s = sb.agent:start{}
    misuse("text must be a non-empty string", s.send_prompt, s, "")
    misuse("configure: give a table", s.configure, s, "m")
    misuse("unknown option 'prompt'", s.configure, s, { prompt = "x" })
    misuse("bad signal", s.kill, s, "SIGNOPE")
    s:kill()
    s:wait()
  end)

  it("the server refuses what the SDK cannot check: a bad permission mode", function()
    local e = fails(E.SandboxError, sb.agent.start, sb.agent,
      { permission_mode = "not a mode" })
    assert.are.equal(400, e.status)
    assert.matches("permissionMode must be a permission mode", e.message)
  end)
end)
