-- opencomputer/server/api.lua - the routes of the local server and their
-- handlers: sandboxes (protocol.md section 2), exec (section 3), files
-- (section 5); checkpoints (section 8) are checkpoint.lua's, terminals
-- (section 6) pty.lua's, signed file URLs (5.1) signed.lua's. Paths are
-- relative to the API base /api; WebSocket routes
-- are also served without the /api prefix (section 10.1).

local oc = require("opencomputer")
local http = require("opencomputer.server.http")
local exec = require("opencomputer.server.exec")
local files = require("opencomputer.server.files")
local checkpoint = require("opencomputer.server.checkpoint")
local preview = require("opencomputer.server.preview")
local signed = require("opencomputer.server.signed")
local image = require("opencomputer.server.image")
local templates = require("opencomputer.server.template_build")
local agent = require("opencomputer.server.agent")
local pty = require("opencomputer.server.pty")
local sandbox = require("opencomputer.server.sandbox")
local json = require("opencomputer.runtime.json")
local request = require("opencomputer.server.request")

local M = {}

local SHELL_CHARS = "[|&;<>()$`\\\"'*?%[%]{}~=!#\t\n]"

local function sandbox_of(reg, id, data_plane)
  local sb = reg:get(request.id(id, "sandbox id"))
  if not sb then http.abort(404, "sandbox not found") end
  if data_plane then
    local running, failed = sb:ensure_running()
    if failed then http.abort(502, failed) end	-- a restore it waited for
    if not running then http.abort(404, "sandbox not found") end
    sb:touch()
  end
  return sb
end

local function session_of(sb, sid)
  local s = sb.sessions[request.id(sid, "session id")]
  if not s then http.abort(404, "exec session " .. sid .. " not found") end
  return s
end

-- argv for exec/run: args given -> direct; else split plain words, or
-- /bin/sh -c for anything with a shell character (section 3.1)
local function run_argv(body)
  if body.args and #body.args > 0 then
    return { body.cmd, table.unpack(body.args) }
  end
  if body.cmd:find(SHELL_CHARS) then return { "/bin/sh", "-c", body.cmd } end
  local argv = {}
  for w in body.cmd:gmatch("%S+") do argv[#argv + 1] = w end
  return argv
end

-- `how`: exec.start's keep_all, wait_for_client and unlisted
local function start_session(sb, argv, body, how)
  local ok, s, err = pcall(exec.start, sb, argv, {
    env = body.envs, cwd = body.cwd, timeout = body.timeout,
    max_run_after_disconnect = body.maxRunAfterDisconnect,
    keep_all = how.keep_all, wait_for_client = how.wait_for_client,
    unlisted = how.unlisted,
  })
  if not ok then
    http.abort(400, "cannot start " .. tostring(argv[1]) .. ": "
      .. tostring(s):gsub("^.-: ", ""))
  end
  -- the request's cmd or cwd names what cannot run: a bad field, 400 for
  -- every errno (protocol.md 9.2; the reference answers 500), with the
  -- errno's words in the message
  if not s then http.abort(400, "cannot start " .. argv[1] .. ": " .. err) end
  return s
end

local RESULT_HEADERS = http.headers({ ["Content-Type"] = "application/json" })
local WRITE_PIECE = 64 * 1024	-- bytes of JSON text per req:write

-- Answer `status` with a session's result, {"exitCode", "stdout",
-- "stderr"} plus the fields of `extra` (protocol.md 3.6, 3.7, 3.9),
-- written in pieces as the output is encoded: a run's output (up to
-- 2 x RUN_OUTPUT_MAX) is never held joined nor encoded whole (64 MiB of
-- NULs is 384 MiB of JSON). `started`: req:start was already called (the
-- keepalive mode of exec/run); `stderr_tail` is appended to stderr.
local function write_result(req, status, s, extra, started, stderr_tail)
  if not started then req:start(status, RESULT_HEADERS) end
  local pending, size = {}, 0
  local function write(text)
    pending[#pending + 1] = text
    size = size + #text
    if size >= WRITE_PIECE then
      req:write(table.concat(pending))
      pending, size = {}, 0
    end
  end
  -- a running session has no exitCode: the key is absent, never null
  local head = json.encode(extra or {})
  write(head == "{}" and "{" or head:sub(1, -2) .. ",")
  if s.exit_code ~= nil then
    write('"exitCode":' .. json.encode(s.exit_code) .. ",")
  end
  for i, field in ipairs({ { "stdout", 1 }, { "stderr", 2 } }) do
    write((i > 1 and ',"' or '"') .. field[1] .. '":"')
    local w = json.string_writer(write)
    for bytes in s:pieces(field[2]) do w.add(bytes) end
    if field[2] == 2 and stderr_tail then w.add(stderr_tail) end
    w.finish()
    write('"')
  end
  write("}")
  req:write(table.concat(pending))
  req:finish()
end

function M.routes(reg)
  local r = http.router()
  checkpoint.routes(r, reg)	-- first: its literal segments win
  image.routes(r, reg)		-- snapshots and images (8.4, 8.5)
  templates.routes(r, reg)	-- 8.7
  preview.routes(r, reg)	-- 8.8
  agent.routes(r, reg, sandbox_of)	-- agent sessions (7)
  pty.routes(r, function(id) return sandbox_of(reg, id, true) end)	-- 6

  r.add("POST", "/sandboxes", function(req)
    local b = request.body(req, "create")
    local mem, cpus = sandbox.resources(b.memoryMB, b.cpuCount)
    if not mem then http.abort(400, cpus) end
    if b.image or b.snapshot then return image.create_sandbox(req, reg, b) end
    local disk, why = sandbox.disk(reg, b.diskMB)
    if not disk then http.abort(400, why) end
    if b.templateID and b.templateID ~= "" and b.templateID ~= "base"
        and b.templateID ~= "default" then
      local t = templates.get(reg, b.templateID)
      if t then
        return templates.create_sandbox(req, reg, b, t, mem, b.diskMB and disk)
      end
      http.abort(404, "template not found: " .. b.templateID)
    end
    local ok, sb = pcall(reg.create, reg, {
      template = "base", timeout = math.max(b.timeout or 0, 0),
      envs = b.envs, metadata = b.metadata, memory_mb = mem, cpu_count = cpus,
      disk_mb = disk, network = b.networkEnabled,
    })
    if not ok then http.abort(500, "create sandbox: " .. reg:public(sb, "create")) end
    if req:closed() then	-- nobody would learn its id: nothing stays
      sb:delete()
      return
    end
    local info = sb:info()
    -- the preview gate (2.2, 8.8): the token's plain text, this once
    if b.previewAuth then
      info.previewAuthToken = preview.set_token(sb, b.previewAuth.token)
    end
    http.json(req, 201, info)
  end)

  r.add("GET", "/sandboxes", function(req)
    local out = json.array()
    for _, sb in ipairs(reg:list()) do out[#out + 1] = sb:info() end
    http.json(req, 200, out)
  end)

  r.add("GET", "/sandboxes/:id", function(req, p)
    http.json(req, 200, sandbox_of(reg, p.id):info())
  end)

  r.add("DELETE", "/sandboxes/:id", function(req, p)
    sandbox_of(reg, p.id):delete()
    http.no_content(req)
  end)

  -- hibernate and wake (protocol.md 2.7): an explicit hibernate is the
  -- deep tier (processes end, files stay; a paused sandbox goes deep
  -- too); a data-plane call wakes it as well
  r.add("POST", "/sandboxes/:id/hibernate", function(req, p)
    local sb = sandbox_of(reg, p.id)
    request.body(req, "none")
    if sb.status ~= "hibernated" or sb.paused then sb:stop("hibernated") end
    if sb.deleted then http.abort(404, "sandbox not found") end
    http.json(req, 200, { sandboxID = sb.id, status = sb.status })
  end)

  -- the idle timeout is the body's (omitted: 0, never) when this call
  -- boots the sandbox from deep hibernation, as the cloud's deep-tier
  -- wake, and then the pending patches of the checkpoint it was forked
  -- from run in the background (8.4); a paused sandbox is thawed and
  -- keeps its timeout, and so does a running one, which answers the same
  r.add("POST", "/sandboxes/:id/wake", function(req, p)
    local sb = sandbox_of(reg, p.id)
    local b = request.body(req, "wake")
    local running, failed, how = sb:ensure_running(b.timeout or 0)
    if failed then http.abort(502, failed) end
    if not running then http.abort(404, "sandbox not found") end
    if how == "booted" then oc.spawn(checkpoint.apply_patches, reg, sb) end
    http.json(req, 200, { sandboxID = sb.id, status = sb.status })
  end)

  r.add("POST", "/sandboxes/:id/timeout", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    local b = request.body(req, "timeout")
    sb:set_timeout(b.timeout)
    http.no_content(req)
  end)

  -- exec ------------------------------------------------------------------

  r.add("POST", "/sandboxes/:id/exec", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    local b = request.body(req, "exec")
    local s = start_session(sb, { b.cmd, table.unpack(b.args or {}) }, b,
      { wait_for_client = true })
    http.json(req, 201, s:info())
  end)

  r.add("GET", "/sandboxes/:id/exec", function(req, p)
    local sb = sandbox_of(reg, p.id)
    local list = {}
    for _, s in pairs(sb.sessions) do list[#list + 1] = s end
    table.sort(list, function(a, b) return a.seq < b.seq end)
    local out = json.array()
    for i, s in ipairs(list) do out[i] = s:info() end
    http.json(req, 200, out)
  end)

  r.add("POST", "/sandboxes/:id/exec/:sid/kill", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    local s = session_of(sb, p.sid)
    local sig = request.body(req, "kill").signal
    if sig == nil or sig == 0 then sig = 9 end
    s:kill(sig)
    http.no_content(req)
  end)

  r.add("POST", "/sandboxes/:id/exec/run", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    local b = request.body(req, "run")
    local timeout = (b.timeout and b.timeout > 0) and b.timeout or 60
    local s = start_session(sb, run_argv(b), { envs = b.envs, cwd = b.cwd,
      timeout = timeout }, { keep_all = true, unlisted = true })
    local started = timeout > 30
    if started then
      -- keepalive mode: 200 at once, a space every 15 s, then the JSON
      req:start(200, RESULT_HEADERS)
      while not s:wait(15) do req:write(" ") end
    else
      s:wait()
    end
    write_result(req, 200, s, nil, started,
      s.timed_out and "\nProcess timed out" or nil)
  end)

  r.add("POST", "/sandboxes/:id/exec/run-async", function(req, p)
    local sb = sandbox_of(reg, p.id, true)
    local b = request.body(req, "run")
    local argv = { b.cmd, table.unpack(b.args or {}) }
    local s = start_session(sb, argv, { envs = b.envs, cwd = b.cwd,
      timeout = b.timeout }, { keep_all = true })
    if s:wait(0.4) and not s.truncated then
      write_result(req, 200, s)
    else
      http.json(req, 202, { execId = s.id, running = true,
        startedAt = exec.rfc3339(s.started_at) })
    end
  end)

  -- the session's WebSocket (M.websocket), asked for without an upgrade
  r.add("GET", "/sandboxes/:id/exec/:sid", function(req, p)
    session_of(sandbox_of(reg, p.id, true), p.sid)
    http.upgrade_required(req)
  end)
  r.add("GET", "/sandboxes/:id/exec/:sid/result", function(req, p)
    local sb = sandbox_of(reg, p.id)
    local s = sb.sessions[request.id(p.sid, "exec id")]
    if not s then http.abort(404, "exec " .. p.sid .. " not found") end
    sb:touch()
    s:wait(0.5)
    local ms = s:duration_ms()
    write_result(req, 200, s, { running = s.running,
      truncated = s.truncated or nil, commandMs = ms > 0 and ms or nil })
  end)

  -- files -----------------------------------------------------------------

  local function data(fn)
    return function(req, p) return fn(req, sandbox_of(reg, p.id, true)) end
  end
  r.add("GET", "/sandboxes/:id/files", data(files.read))
  r.add("PUT", "/sandboxes/:id/files", data(files.write))
  r.add("DELETE", "/sandboxes/:id/files", data(files.remove))
  r.add("GET", "/sandboxes/:id/files/list", data(files.list))
  r.add("POST", "/sandboxes/:id/files/mkdir", data(files.mkdir))
  signed.routes(r, reg, data)	-- signed file URLs (5.1)

  return r
end

--- The WebSocket route: GET /sandboxes/:id/exec/:sid. Checks happen
-- before the upgrade, so failures are plain HTTP answers. `segs`: the
-- path's segments after "api" (http.segments).
function M.websocket(reg, req, segs)
  local id, sid = segs[2], segs[4]
  if #segs ~= 4 or segs[1] ~= "sandboxes" or (segs[3] ~= "exec"
      and segs[3] ~= "pty") or id == "" or sid == "" then
    http.abort(404, "not found")
  end
  if segs[3] == "pty" then	-- a terminal (protocol.md 6.2)
    return pty.websocket(req, segs, function(i) return sandbox_of(reg, i, true) end)
  end
  local sb = sandbox_of(reg, id, true)
  local s = session_of(sb, sid)
  local ws = req:accept_websocket()
  if not ws then return end	-- a bad handshake, answered 400 or 426
  s:attach(ws)
end

M.run_argv = run_argv
return M
