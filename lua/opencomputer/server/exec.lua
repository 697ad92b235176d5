-- opencomputer/server/exec.lua - exec sessions of the local server
-- (protocol.md section 3): a process in a sandbox, its scrollback, the
-- WebSocket clients attached to it, its timeouts, and the synchronous and
-- asynchronous run routes built on the same sessions.
--
-- Frames on the exec WebSocket: client -> server 0x00 stdin, and 0x05
-- "end of stdin" (oclua's extension: the cloud ignores frames that do not
-- start with 0x00); server -> client 0x01 stdout, 0x02 stderr, 0x03 exit
-- code (int32 big-endian), 0x04 end of the scrollback replay.

local oc = require("opencomputer")
local json = require("opencomputer.runtime.json")
local task = require("opencomputer.runtime.task")

local M = {}

M.SCROLLBACK = 1024 * 1024	-- bytes of output kept per session
M.CLIENT_QUEUE = 256 * 1024	-- bytes queued for one client before the
				-- session stops reading the process
M.RUN_OUTPUT_MAX = 64 * 1024 * 1024	-- per stream, for exec/run
-- A session created by POST /exec is about to be attached by the client
-- that created it. Until its first client comes (at most this long), a
-- full scrollback holds the process back instead of evicting output, so a
-- fast command's first MiBs are not lost in the moment before the attach
-- (the reference server evicts them: protocol.md 3.4.3). After that, or
-- for a session nobody attaches to, the scrollback evicts as usual.
M.FIRST_CLIENT_WAIT = 10
-- Finished sessions stay listed, and their output can be replayed or
-- fetched (protocol.md 3.3), but a long-lived sandbox must not keep every
-- command it ever ran: past these bounds the oldest finished ones are
-- forgotten (their ids then answer 404).
M.KEEP_FINISHED = 100		-- finished sessions per sandbox
M.KEEP_FINISHED_BYTES = 64 * 1024 * 1024	-- of their retained output

local Session = {}
Session.__index = Session

local STDIN, STDOUT, STDERR, EXIT, REPLAY_END, STDIN_EOF = 0, 1, 2, 3, 4, 5

local started = 0	-- sessions started so far: their order in lists

local function new_id()
  return string.format("%08x", math.random(0, 0xffffffff))
end

-- A timer: fn runs after `seconds` unless timer:cancel() comes first (a
-- cancelled timer ends at once, so it keeps nothing alive).
local Timer = {}
Timer.__index = Timer

local function after(seconds, fn)
  local t = setmetatable({ cond = task.condition() }, Timer)
  oc.spawn(function()
    if t.off then return end
    t.cond:wait(seconds)
    if not t.off then fn() end
  end)
  return t
end

function Timer:cancel()
  self.off = true
  self.cond:signal()
end

local function rfc3339(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

--- Start `argv` in the sandbox `sb` (see sandbox.lua) as a new session.
-- opts: env (table), cwd, timeout (s, 0 = none), max_run_after_disconnect,
-- keep_all (keep up to 2 x RUN_OUTPUT_MAX of output instead of the
-- scrollback's 1 MiB), wait_for_client (see FIRST_CLIENT_WAIT), unlisted
-- (exec/run's one-shot session: not in sb.sessions, so not listed, not
-- addressable, and gone once its answer is sent; no client can write
-- its stdin, so its process reads end-of-file at once, as it would with
-- stdin on /dev/null), listed_as (the argv that lists show, when it is
-- not the one that runs: agent.lua's stand-in for a missing wrapper).
-- Nil, a message and the errno name when the command cannot start (its
-- cwd or executable).
function M.start(sb, argv, opts)
  local id
  repeat id = new_id() until not sb.sessions[id]
  local proc, err, code = sb:spawn(argv, opts.env, opts.cwd)
  if not proc then return nil, err, code end
  if opts.unlisted then proc:close_stdin() end
  started = started + 1
  local s = setmetatable({
    seq = started,
    id = id, sandbox = sb, argv = opts.listed_as or argv, proc = proc,
    started_at = os.time(), running = true, exit_code = nil,
    chunks = {}, first = 1, last = 0, kept = 0, truncated = false,
    out_bytes = { [STDOUT] = 0, [STDERR] = 0 },
    clients = {}, nclients = 0, waiters = {},
    linger = opts.max_run_after_disconnect or 0,
    -- exec/run answers with the whole output: keep it all, up to a bound
    keep = opts.keep_all and 2 * M.RUN_OUTPUT_MAX or M.SCROLLBACK,
    unattached = opts.wait_for_client, first_client = task.condition(),
    created = oc.now(),
  }, Session)
  if not opts.unlisted then sb.sessions[id] = s end
  sb:busy(1)
  if opts.timeout and opts.timeout > 0 then
    s.timeout_timer = after(opts.timeout, function()
      s.timed_out = true
      s.proc:kill(9)
    end)
  end
  s.pump = oc.spawn(Session.pump, s)
  return s
end

-- Read the process until it exits: keep the scrollback, feed the clients.
function Session:pump()
  while true do
    local stream, frame = self.proc:read()	-- frame: stream byte .. output
    if not stream then
      self:exited(frame)
      return
    end
    while self.unattached and self.kept + #frame - 1 > self.keep do
      local left = self.created + M.FIRST_CLIENT_WAIT - oc.now()
      if left <= 0 or not self.first_client:wait(left) then
        self.unattached = false
      end
    end
    self:record(stream, frame)
    for c in pairs(self.clients) do c:push(frame) end
    -- a client that falls behind slows the process down, not the other way
    for c in pairs(self.clients) do c:drain_to(M.CLIENT_QUEUE) end
  end
end

-- the scrollback keeps frames as they go on the wire (stream byte first)
function Session:record(stream, frame)
  local last = self.last + 1
  self.last = last
  self.chunks[last] = frame
  self.kept = self.kept + #frame - 1
  self.out_bytes[stream] = self.out_bytes[stream] + #frame - 1
  while self.kept > self.keep and self.first < last do
    local old = self.chunks[self.first]
    self.chunks[self.first] = nil
    self.first = self.first + 1
    self.kept = self.kept - (#old - 1)
    self.truncated = true
  end
end

function Session:exited(code)
  self.running = false
  self.ended = oc.now()
  if self.timeout_timer then self.timeout_timer:cancel() end
  if self.linger_timer then self.linger_timer:cancel() end
  if self.timed_out then code = -1 end
  self.exit_code = code
  self.sandbox:busy(-1)
  local frame = string.char(EXIT) .. string.pack(">i4", code)
  for c in pairs(self.clients) do c:push(frame); c:finish() end
  local w = self.waiters
  self.waiters = {}
  for _, fn in ipairs(w) do fn() end
  self:forget_old()
end

-- Keep this finished session listed, and forget the oldest finished ones
-- of its sandbox beyond KEEP_FINISHED or KEEP_FINISHED_BYTES.
function Session:forget_old()
  local sb = self.sandbox
  if sb.sessions[self.id] ~= self then return end
  local done = sb.finished_sessions or {}	-- oldest first
  sb.finished_sessions = done
  done[#done + 1] = self
  local bytes = 0
  for _, s in ipairs(done) do bytes = bytes + s.kept end
  while #done > M.KEEP_FINISHED or bytes > M.KEEP_FINISHED_BYTES do
    local old = table.remove(done, 1)
    bytes = bytes - old.kept
    if sb.sessions[old.id] == old then sb.sessions[old.id] = nil end
  end
end

--- Yield until the session's process has exited or `timeout` seconds
-- have passed; true when it has exited.
function Session:wait(timeout)
  if not self.running then return true end
  local cond = task.condition()
  local function waiter() cond:signal() end
  self.waiters[#self.waiters + 1] = waiter
  if not cond:wait(timeout) then	-- timed out: stop waiting for the exit
    for i, w in ipairs(self.waiters) do
      if w == waiter then table.remove(self.waiters, i) break end
    end
  end
  return not self.running
end

--- Milliseconds the command has run: so far, or in all once it exited.
function Session:duration_ms()
  return math.floor(((self.ended or oc.now()) - self.created) * 1000)
end

--- The retained output of one stream (STDOUT, STDERR), piece by piece,
-- in order: `for bytes in s:pieces(STDOUT) do ... end`. Never joined here:
-- a run keeps up to 2 x RUN_OUTPUT_MAX.
function Session:pieces(stream)
  local i = self.first - 1
  return function()
    while i < self.last do
      i = i + 1
      local frame = self.chunks[i]
      if frame and frame:byte(1) == stream then return frame:sub(2) end
    end
  end
end

function Session:info()
  return {
    sessionID = self.id, sandboxID = self.sandbox.id,
    command = self.argv[1], args = json.array({ table.unpack(self.argv, 2) }),
    running = self.running, exitCode = self.exit_code,
    startedAt = rfc3339(self.started_at), attachedClients = self.nclients,
  }
end

function Session:kill(signal)
  if self.running then self.proc:kill(signal or 9) end
end

-- A WebSocket client of a session: an ordered queue of frames and one
-- writer task, so the replay and live output never interleave.
local Client = {}
Client.__index = Client

-- `reason`: of the close 1000 once finished (default "exec completed")
local function new_client(ws, reason)
  return setmetatable({ ws = ws, queue = {}, head = 1, tail = 0,
    queued = 0, cond = task.condition(), drained = task.condition(),
    reason = reason or "exec completed" }, Client)
end

function Client:push(frame)
  if self.closed then return end
  self.tail = self.tail + 1
  self.queue[self.tail] = frame
  self.queued = self.queued + #frame
  self.cond:signal()
end

function Client:finish()
  self.finishing = true
  self.cond:signal()
end

-- wait until at most `bound` bytes are queued (or the client is gone)
function Client:drain_to(bound)
  while self.queued > bound and not self.closed do self.drained:wait() end
end

function Client:writer()
  local ws = self.ws
  while true do
    if self.head > self.tail then
      if self.finishing or self.closed then break end
      self.cond:wait()
    else
      local frame = self.queue[self.head]
      self.queue[self.head] = nil
      self.head = self.head + 1
      self.queued = self.queued - #frame
      if not ws:is_open() then self.closed = true; break end
      ws:send(frame)
      self.drained:signal()
    end
  end
  self.closed = true
  self.drained:signal()
  if ws:is_open() then ws:close(1000, self.reason) end
end

--- Serve the client until its socket closes: its writer sends what is
-- pushed, and each frame it sends goes to on_frame(msg); then the writer
-- is stopped and waited for.
function Client:serve(on_frame)
  local writer = oc.spawn(Client.writer, self)
  while true do
    local msg = self.ws:receive()
    if not msg then break end
    on_frame(msg)
  end
  self.closed = true
  self.cond:signal()
  self.drained:signal()
  writer:wait()
end

--- Serve one attached WebSocket until it closes: replay, live output,
-- stdin from the client.
function Session:attach(ws)
  local c = new_client(ws)
  if self.unattached then
    self.unattached = false
    self.first_client:signal()
  end
  -- snapshot and subscribe in one step: nothing is missed or repeated
  for i = self.first, self.last do
    c:push(self.chunks[i])
  end
  c:push(string.char(REPLAY_END))
  if self.running then
    self.clients[c] = true
    self.nclients = self.nclients + 1
    if self.linger_timer then
      self.linger_timer:cancel()
      self.linger_timer = nil
    end
  else
    c:push(string.char(EXIT) .. string.pack(">i4", self.exit_code))
    c:finish()
  end
  self.sandbox:touch()
  c:serve(function(msg)
    self.sandbox:touch()
    local kind = msg:byte(1)
    if kind == STDIN and #msg > 1 and self.running then
      self.proc:write(msg:sub(2))
    elseif kind == STDIN_EOF and self.running then
      self.proc:close_stdin()
    end
  end)
  if self.clients[c] then
    self.clients[c] = nil
    self.nclients = self.nclients - 1
    self:detached()
  end
end

-- the last client left: a session with max_run_after_disconnect gets that
-- many seconds for a client to come back
function Session:detached()
  if self.nclients > 0 or not self.running or self.linger <= 0 then return end
  if self.linger_timer then self.linger_timer:cancel() end
  self.linger_timer = after(self.linger, function() self.proc:kill(9) end)
end

M.Session = Session
M.new_client = new_client	-- also for a terminal's sockets (pty.lua)
M.new_id = new_id
M.rfc3339 = rfc3339

return M
