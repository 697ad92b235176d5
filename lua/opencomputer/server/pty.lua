-- opencomputer/server/pty.lua - terminals of the local server (protocol.md
-- section 6): a shell on a real pseudo-terminal inside the sandbox (its
-- own devpts; the shell leads a session of its own with the terminal as
-- its controlling terminal, so job control, Ctrl-C and full-screen
-- programs work: src/sandbox/init.c), the raw WebSocket that carries its
-- bytes, resize and kill.
--
-- Choices where protocol.md is silent (README, "Terminals"):
-- * output produced while no WebSocket is attached is kept, the most
--   recent DETACHED_KEEP bytes of it (whole chunks, oldest dropped
--   first), and sent to the next socket that attaches before anything
--   live; output a socket already got is never sent again;
-- * any number of sockets may attach at once: each gets the live output,
--   and every frame of each is typed into the terminal; a socket that
--   falls CLIENT_QUEUE bytes behind holds the shell back (nothing is
--   dropped while one is attached);
-- * once the shell has exited, every socket is closed with 1000 and the
--   session is gone (404), unless output nobody has seen is left: then
--   the next attach within EXITED_KEEP seconds gets it and the close
--   (resize answers 404 meanwhile);
-- * DELETE kills the shell's whole session (its background jobs too).

local oc = require("opencomputer")
local http = require("opencomputer.server.http")
local request = require("opencomputer.server.request")
local exec = require("opencomputer.server.exec")
local sandbox = require("opencomputer.server.sandbox")

local M = {}

M.DETACHED_KEEP = 64 * 1024	-- bytes of output kept while detached
M.CLIENT_QUEUE = exec.CLIENT_QUEUE
M.EXITED_KEEP = 60	-- seconds an exited terminal's unseen output waits
M.SHELLS = { "/bin/bash", "/bin/sh" }	-- the default: the first present

local Pty = {}
Pty.__index = Pty

--- Start a terminal in the running sandbox `sb` (protocol.md 6.1):
-- `o.cols`, `o.rows` (characters, default 80 x 24), `o.shell` (default
-- /bin/bash, else /bin/sh). The shell runs as the sandbox user in its
-- home with the base environment of 3.1 (not the sandbox's envs, as the
-- reference agent) plus TERM=xterm-256color, COLUMNS and LINES.
-- The session, or nil, a message and the errno name when the shell
-- cannot start.
function M.create(sb, o)
  local cols, rows = o.cols or 80, o.rows or 24
  local env = sb:environment({ TERM = "xterm-256color",
    COLUMNS = tostring(cols), LINES = tostring(rows) }, true)
  local shells = o.shell and { o.shell } or M.SHELLS
  local proc, err, code
  for _, shell in ipairs(shells) do
    sb:touch()
    proc, err, code = sb.box:spawn_pty({ shell }, env, sandbox.USER.home,
      sandbox.USER.uid, sandbox.USER.gid, cols, rows)
    if proc or code ~= "ENOENT" then break end
  end
  if not proc then return nil, err, code end
  sb.ptys = sb.ptys or {}
  local id
  repeat id = exec.new_id() until not sb.ptys[id]
  local s = setmetatable({ id = id, sandbox = sb, proc = proc,
    running = true, clients = {}, nclients = 0,
    held = {}, first = 1, last = 0, held_bytes = 0 }, Pty)
  sb.ptys[id] = s
  s.pump = oc.spawn(Pty.pump, s)
  return s
end

-- Read the terminal until it ends: to the attached sockets, or kept for
-- the next one.
function Pty:pump()
  while true do
    local stream, frame = self.proc:read()
    if not stream then break end
    local data = frame:sub(2)	-- after the stream byte (always 1)
    self.sandbox:touch()	-- traffic resets the idle timer (6.2)
    if self.nclients == 0 then
      self:hold(data)
    else
      for c in pairs(self.clients) do c:push(data) end
      for c in pairs(self.clients) do c:drain_to(M.CLIENT_QUEUE) end
    end
  end
  self.running = false
  self.ended = oc.now()
  for c in pairs(self.clients) do c:finish() end
  -- unseen output waits for an attach (pty_of forgets it later)
  if self.held_bytes == 0 then self:forget() end
end

-- keep `data` for the next socket, within DETACHED_KEEP bytes
function Pty:hold(data)
  self.last = self.last + 1
  self.held[self.last] = data
  self.held_bytes = self.held_bytes + #data
  while self.held_bytes > M.DETACHED_KEEP do
    local old = self.held[self.first]
    self.held[self.first] = nil
    self.first = self.first + 1
    self.held_bytes = self.held_bytes - #old
  end
end

function Pty:forget()
  local ptys = self.sandbox.ptys
  if ptys and ptys[self.id] == self then ptys[self.id] = nil end
end

--- Serve one WebSocket until it closes (6.2): what was kept while
-- detached, then live output as binary frames; each frame it sends,
-- text or binary, is typed into the terminal. The shell's exit closes it
-- with 1000; its closing leaves the shell running.
function Pty:attach(ws)
  local sb = self.sandbox
  local c = exec.new_client(ws, "")
  for i = self.first, self.last do c:push(self.held[i]) end
  self.held, self.first, self.last, self.held_bytes = {}, 1, 0, 0
  if self.running then
    self.clients[c] = true
    self.nclients = self.nclients + 1
    sb:busy(1)	-- an attached terminal keeps the sandbox from idling
  else
    c:finish()
    self:forget()
  end
  local writer = oc.spawn(exec.Client.writer, c)
  while true do
    local msg = ws:receive()
    if not msg then break end
    sb:touch()
    if self.running and #msg > 0 then self.proc:write(msg) end
  end
  c.closed = true
  c.cond:signal()
  c.drained:signal()
  writer:wait()
  if self.clients[c] then
    self.clients[c] = nil
    self.nclients = self.nclients - 1
    sb:busy(-1)
  end
end

--- The terminal's new window (6.3); false when it has ended.
function Pty:resize(cols, rows)
  return self.running and self.proc:resize(cols, rows) == true
end

--- End the shell and every process of its session (6.4); the session is
-- forgotten at once.
function Pty:kill()
  self:forget()
  if self.running then self.proc:kill_session(9) end
end

-- routes -------------------------------------------------------------------

local function pty_of(sb, sid)
  sid = request.id(sid, "session id")	-- first: it is echoed below
  local s = sb.ptys and sb.ptys[sid]
  if s and s.ended and oc.now() > s.ended + M.EXITED_KEEP then
    s:forget()
    s = nil
  end
  if not s then http.abort(404, "pty session " .. sid .. " not found") end
  return s
end

--- Add the terminal routes (protocol.md 6.1, 6.3, 6.4) to the router
-- `r`; `sandbox_of(id)` is api.lua's data-plane lookup (wakes the
-- sandbox, 404s). The WebSocket is M.websocket.
function M.routes(r, sandbox_of)
  r.add("POST", "/sandboxes/:id/pty", function(req, p)
    local sb = sandbox_of(p.id)
    local b = request.body(req, "pty")
    local s, err = M.create(sb, b)
    -- the request's shell names what cannot run: a bad field (as exec)
    if not s then
      http.abort(400, "cannot start " .. (b.shell or "a shell") .. ": " .. err)
    end
    http.json(req, 201, { sessionID = s.id, sandboxID = sb.id })
  end)

  -- the session's WebSocket (M.websocket), asked for without an upgrade
  r.add("GET", "/sandboxes/:id/pty/:sid", function(req, p)
    pty_of(sandbox_of(p.id), p.sid)
    http.upgrade_required(req)
  end)

  r.add("POST", "/sandboxes/:id/pty/:sid/resize", function(req, p)
    local s = pty_of(sandbox_of(p.id), p.sid)
    local b = request.body(req, "pty_resize")
    if not s:resize(b.cols, b.rows) then
      http.abort(404, "pty session " .. p.sid .. " has ended")
    end
    req:respond(200, http.headers(), "")
  end)

  r.add("DELETE", "/sandboxes/:id/pty/:sid", function(req, p)
    pty_of(sandbox_of(p.id), p.sid):kill()
    http.no_content(req)
  end)
end

--- The WebSocket GET /sandboxes/:id/pty/:sid (6.2), with or without
-- /api: checks happen before the upgrade, so failures are plain HTTP
-- answers. `segs`: the path's segments after "api".
function M.websocket(req, segs, sandbox_of)
  local s = pty_of(sandbox_of(segs[2]), segs[4])
  local ws = req:accept_websocket()
  if not ws then return end	-- a bad handshake, answered 400 or 426
  s:attach(ws)
end

return M
