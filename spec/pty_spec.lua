-- spec/pty_spec.lua - terminals (protocol.md section 6, API.md 7) against
-- the local server: over the API (create, the raw WebSocket, resize,
-- kill) and through the SDK's sb.pty. The terminal must be a real one
-- inside the sandbox: its own devpts, the shell's controlling terminal in
-- a session of its own, so that Ctrl-C reaches the foreground job, job
-- control works and full-screen programs draw.

local oc = require("opencomputer")
local json = require("opencomputer.runtime.json")
local support = require("spec.support.server")
local sdk = require("spec.support.sdk")
local websocket = require("opencomputer.client.websocket")
local task = require("opencomputer.runtime.task")

local c = support.shared()
local E = oc.errors
local fails, misuse = sdk.fails, sdk.misuse

local WAIT = 15	-- seconds any expected output may take

-- A terminal's WebSocket, read by a task into one growing text:
-- term:expect(pattern) yields until the text after the last match
-- matches (or raises after WAIT s with what came).
local Term = {}
Term.__index = Term

local function attach(id, sid, prefix)
  local url = c.url:gsub("^http", "ws") .. (prefix or "/api") .. "/sandboxes/"
    .. id .. "/pty/" .. sid .. "?api_key=" .. support.KEY
  local t = setmetatable({ id = id, sid = sid, text = "", from = 1,
    frames = {}, cond = task.condition() }, Term)
  t.ws = websocket.connect(url, { on_message = function(msg, binary)
    t.frames[#t.frames + 1] = { len = #msg, binary = binary }
    t.text = t.text .. msg
    t.cond:signal()
  end, on_close = function(code)
    t.closed, t.code = true, code
    t.cond:signal()
  end })
  return t
end

function Term:send(data, text)
  self.ws:send(data, text)
end

function Term:expect(pattern, plain)
  local deadline = oc.now() + WAIT
  while true do
    local found = { self.text:find(pattern, self.from, plain) }
    if found[1] then
      self.from = found[2] + 1
      return found[3] or self.text:sub(found[1], found[2])
    end
    if self.closed or oc.now() > deadline then
      error(string.format("expected %q; the terminal %s after: %q", pattern,
        self.closed and "closed (" .. tostring(self.code) .. ")" or "said",
        self.text:sub(self.from)), 2)
    end
    self.cond:wait(deadline - oc.now())
  end
end

-- run a shell line and give its output, between two markers the shell
-- prints (made by $((...)), so that the echo of the typed line never
-- matches them)
function Term:line(cmd)
  self.n = (self.n or 0) + 1
  local n = self.n + 1000
  self:send("echo \"@@$((" .. n .. "))<@@\"; " .. cmd .. "; echo \"@@$(("
    .. n .. "))>@@\"\n")
  return self:expect("@@" .. n .. "<@@\r\n(.-)@@" .. n .. ">@@")
end

-- the exit status of the last command ($?)
function Term:status()
  self:send("echo rc=$?\n")
  return tonumber(self:expect("rc=(%d+)\r\n"))
end

function Term:wait_closed()
  local deadline = oc.now() + WAIT
  while not self.closed and oc.now() < deadline do
    self.cond:wait(deadline - oc.now())
  end
  return self.code
end

local function create_pty(id, body)
  local status, doc = c:api("POST", "/sandboxes/" .. id .. "/pty", { body = body or {} })
  assert.are.equal(201, status, json.encode(doc or {}))
  return doc.sessionID, doc
end

local function resize(id, sid, cols, rows)
  return c:api("POST", "/sandboxes/" .. id .. "/pty/" .. sid .. "/resize",
    { body = { cols = cols, rows = rows } })
end

describe("a terminal over the API", function()
  local id
  setup(function() id = c:create({ timeout = 0, envs = { FROM_ENVS = "set" } }) end)
  teardown(function() c:api("DELETE", "/sandboxes/" .. id) end)

  it("is created (201) as the sandbox user on a real terminal of 80 x 24", function()
    local sid, doc = create_pty(id)
    assert.matches("^%x%x%x%x%x%x%x%x$", sid)
    assert.are.same({ sessionID = sid, sandboxID = id }, doc)
    -- the WebSocket is also served without /api
    local t = attach(id, sid, "")
    local out = t:line("tty; stty size; echo $TERM $COLUMNS $LINES; id -u; pwd;"
      .. " echo ${FROM_ENVS-no-envs}; [ -t 0 ] && echo stdin-is-a-tty")
    assert.matches("/dev/pts/%d+\r\n24 80\r\nxterm%-256color 80 24\r\n1000\r\n"
      .. "/home/sandbox\r\nno%-envs\r\nstdin%-is%-a%-tty\r\n", out)
    -- the sandbox's own devpts: this is its first terminal; the shell
    -- leads its session and process group, and the command it runs is
    -- a job of its own, the terminal's foreground process group
    out = t:line("stat -f -c %T /dev/pts; ls /dev/pts; ps -o pid=,sid=,pgid=,tpgid= -p $$")
    local pid, sess, pgid, tpgid = out:match("devpts\r\n0%s+ptmx\r\n%s*(%d+)%s+(%d+)%s+(%d+)%s+(%d+)")
    assert.is_truthy(pid, out)
    assert.are.equal(pid, sess)
    assert.are.equal(pid, pgid)
    assert.are_not.equal(pid, tpgid)	-- ps's own group
    -- exec sessions do not list terminals
    local _, list = c:api("GET", "/sandboxes/" .. id .. "/exec")
    for _, s in ipairs(list) do assert.are_not.equal(sid, s.sessionID) end
    t:send("exit\n")
    assert.are.equal(1000, t:wait_closed())
  end)

  it("takes cols, rows and a shell; resize answers 200 with an empty body", function()
    local sid = create_pty(id, { cols = 132, rows = 43, shell = "/bin/sh" })
    local t = attach(id, sid)
    assert.matches("^/bin/sh\r\n43 132\r\n", t:line("echo $0; stty size"))
    local status, doc, res = resize(id, sid, 100, 30)
    assert.are.equal(200, status)
    assert.is_nil(doc)
    assert.are.equal("", res.body)
    assert.matches("^30 100\r\n", t:line("stty size"))
    t:send("exit\n")
    assert.are.equal(1000, t:wait_closed())
  end)

  it("sends SIGWINCH to the foreground on resize", function()
    local sid = create_pty(id)
    local t = attach(id, sid)
    t:line("trap 'echo \"winch $(stty size)\"' WINCH")
    assert.are.equal(200, (resize(id, sid, 91, 31)))
    t:expect("winch 31 91", true)
    t:send("exit\n")
    t:wait_closed()
  end)

  it("passes Ctrl-C to the foreground job; the prompt comes back", function()
    local sid = create_pty(id)
    local t = attach(id, sid)
    t:line("true")
    t:send("sleep 100\n")
    oc.sleep(0.3)
    local t0 = oc.now()
    t:send("\3")	-- typed: the terminal's line discipline makes it SIGINT
    assert.are.equal(130, t:status())
    assert.is_true(oc.now() - t0 < 5)
    t:send("exit\n")
    t:wait_closed()
  end)

  it("has job control: background, jobs, fg, Ctrl-C, Ctrl-Z", function()
    local sid = create_pty(id)
    local t = attach(id, sid)
    t:line("true")
    t:send("sleep 100 &\n")
    t:expect("%[1%] %d+")
    assert.matches("%[1%]%+%s+Running%s+sleep 100 &", t:line("jobs"))
    t:send("fg\n")
    t:expect("sleep 100\r\n", true)
    oc.sleep(0.3)
    t:send("\3")
    assert.are.equal(130, t:status())
    assert.are.equal("", t:line("jobs"))
    -- Ctrl-Z stops the foreground job; bg resumes it
    t:send("sleep 200\n")
    oc.sleep(0.3)
    t:send("\26")
    t:expect("Stopped%s+sleep 200")
    assert.matches("%[1%]%+ sleep 200 &", t:line("bg"))
    assert.matches("Running%s+sleep 200 &", t:line("jobs"))
    t:line("kill %1")
    t:send("exit\n")
    assert.are.equal(1000, t:wait_closed())
  end)

  it("runs full-screen programs: vi draws and :q leaves it; top draws and q leaves it", function()
    local sid = create_pty(id, { cols = 100, rows = 30 })
    local t = attach(id, sid)
    t:line("true")
    t:send("vi /tmp/pty-vi.txt\n")
    -- the alternate screen, cleared; the file's name on the last line
    t:expect("\27[?1049h", true)
    t:expect("\27[H\27[2J", true)
    t:expect("pty%-vi%.txt")
    oc.sleep(0.3)
    t:send("\27:q\r")
    t:expect("\27[?1049l", true)	-- back from the alternate screen
    assert.are.equal(0, t:status())
    t:send("top -d 1\n")
    t:expect("\27[H\27[2J", true)	-- home, clear the screen
    t:expect("load average", true)
    t:expect("load average", true)	-- drawn again a second later
    t:send("q")
    t:expect("\27[?2004h", true)	-- bash's prompt again
    assert.are.equal(0, t:status())
    t:send("exit\n")
    t:wait_closed()
  end)

  it("types text and binary frames verbatim and sends output in binary frames of at most 4 KiB", function()
    local sid = create_pty(id)
    local t = attach(id, sid)
    t:line("true")
    t:send("echo text-", true)
    t:send("frame\n", false)
    t:expect("text%-frame\r\n.*text%-frame\r\n")
    -- 100000 bytes: tr writes Q for each NUL (the typed line has no Q)
    local out = t:line("head -c 100000 /dev/zero | tr '\\0' '\\121'")
    local _, n = out:gsub("Q", "")
    assert.are.equal(100000, n)
    for _, f in ipairs(t.frames) do
      assert.is_true(f.binary)
      assert.is_true(f.len >= 1 and f.len <= 4096, "a frame of " .. f.len)
    end
    t:send("exit\n")
    t:wait_closed()
  end)

  it("keeps running when the socket closes; output made meanwhile comes on the next attach", function()
    local sid = create_pty(id)
    local t = attach(id, sid)
    local pid = t:line("echo pid=$$"):match("pid=(%d+)")
    t:send("sleep 1; echo made-$((1+1))-while-detached\n")
    t.ws:close()
    oc.sleep(2)
    local again = attach(id, sid)
    again:expect("made-2-while-detached", true)
    assert.matches("pid=" .. pid, again:line("echo pid=$$"))
    -- two sockets at once: both get the output, either types
    local third = attach(id, sid)
    third:send("echo third-$((3*3))\n")
    third:expect("third-9\r\n", true)
    again:expect("third-9\r\n", true)
    again:send("exit\n")
    assert.are.equal(1000, again:wait_closed())
    assert.are.equal(1000, third:wait_closed())
    -- gone: 404 for every route
    assert.are.equal(404, (resize(id, sid, 80, 24)))
    assert.are.equal(404, (c:api("DELETE", "/sandboxes/" .. id .. "/pty/" .. sid)))
    assert.are.equal(404, (c:api("GET", "/sandboxes/" .. id .. "/pty/" .. sid)))
  end)

  it("ends with its shell even while a background job holds the terminal", function()
    local sid = create_pty(id)
    local t = attach(id, sid)
    t:line("true")
    local t0 = oc.now()
    t:send("sleep 303 & echo bye-$((2*2)); exit\n")
    t:expect("bye-4\r\n", true)
    assert.are.equal(1000, t:wait_closed())
    assert.is_true(oc.now() - t0 < 5)
    assert.are.equal(404, (resize(id, sid, 80, 24)))
    c:run(id, "pkill -x sleep || true")
  end)

  it("is killed with its jobs by DELETE (204); the socket closes with 1000", function()
    local sid = create_pty(id)
    local t = attach(id, sid)
    t:line("sleep 301 & sleep 302 & true")
    local before = c:run(id, "ps -eo args").stdout
    assert.matches("sleep 301", before)
    local status, doc = c:api("DELETE", "/sandboxes/" .. id .. "/pty/" .. sid)
    assert.are.equal(204, status, json.encode(doc or {}))
    assert.are.equal(1000, t:wait_closed())
    local deadline = oc.now() + WAIT
    local after
    repeat
      after = c:run(id, "ps -eo args").stdout
    until not after:find("sleep 30[12]") or oc.now() > deadline
    assert.is_falsy(after:find("sleep 30[12]"), after)
    assert.are.equal(404, (c:api("DELETE", "/sandboxes/" .. id .. "/pty/" .. sid)))
    assert.are.equal(404, (resize(id, sid, 80, 24)))
  end)

  it("answers 404 for an unknown terminal or sandbox, 426 without an upgrade", function()
    local base = "/sandboxes/" .. id .. "/pty/"
    local status, doc = c:api("POST", base .. "00000000/resize", { body = { cols = 1, rows = 1 } })
    assert.are.equal(404, status)
    assert.are.equal("pty session 00000000 not found", doc.error)
    assert.are.equal(404, (c:api("DELETE", base .. "00000000")))
    assert.are.equal(404, (c:api("POST", "/sandboxes/sb-nope/pty", { body = {} })))
    local ok, err = pcall(attach, id, "00000000")
    assert.is_false(ok)
    assert.are.equal(404, err.status)
    local sid = create_pty(id)
    assert.are.equal(426, (c:api("GET", base .. sid)))
    assert.are.equal(204, (c:api("DELETE", base .. sid)))
  end)

  it("refuses bad bodies with 400 naming the field", function()
    local base = "/sandboxes/" .. id .. "/pty"
    local function refused(path, body, pattern)
      local status, doc = c:api("POST", path, { body = body })
      assert.are.equal(400, status)
      assert.matches(pattern, doc.error)
    end
    refused(base, { cols = 0 }, "^invalid request body: cols must be an integer from 1 to 4096")
    refused(base, { rows = "24" }, "rows must be an integer .*not a string")
    refused(base, { shell = "" }, "shell must not be empty")
    refused(base, { shell = "/no/such/shell" }, "^cannot start /no/such/shell: ")
    local sid = create_pty(id)
    refused(base .. "/" .. sid .. "/resize", {}, '^%a+ is required$')
    refused(base .. "/" .. sid .. "/resize", { cols = 80 }, '^rows is required$')
    refused(base .. "/" .. sid .. "/resize", { cols = 80, rows = 1e9 },
      "rows must be an integer from 1 to 4096")
    local status, doc = c:api("POST", base .. "/" .. sid .. "/resize", { raw = "{" })
    assert.are.equal(400, status)
    assert.matches("^invalid request body", doc.error)
    assert.are.equal(204, (c:api("DELETE", base .. "/" .. sid)))
  end)
end)

describe("a terminal and the idle timeout", function()
  it("keeps the sandbox from idling while attached, and not after", function()
    local id = c:create({ timeout = 0 })
    local sid = create_pty(id)
    local t = attach(id, sid)
    t:line("true")
    assert.are.equal(204, (c:api("POST", "/sandboxes/" .. id .. "/timeout",
      { body = { timeout = 1 } })))
    oc.sleep(2.5)
    assert.are.equal("running", select(2, c:api("GET", "/sandboxes/" .. id)).status)
    t.ws:close()
    local deadline = oc.now() + WAIT
    local status
    repeat
      oc.sleep(0.3)
      status = select(2, c:api("GET", "/sandboxes/" .. id)).status
    until status ~= "running" or oc.now() > deadline
    assert.are.equal("hibernated", status)
    c:api("DELETE", "/sandboxes/" .. id)
  end)
end)

describe("sb.pty", function()
  local sb
  setup(function() sb = sdk.new_sandbox() end)
  teardown(function() sb:kill() end)

  -- the text recv() gives until `pattern` matches it
  local function recv_until(t, pattern)
    local text = ""
    local deadline = oc.now() + WAIT
    while not text:find(pattern) do
      assert.is_true(oc.now() < deadline, "expected " .. pattern .. " in " .. text)
      local d = t:recv()
      assert.is_string(d, "the terminal closed after: " .. text)
      text = text .. d
    end
    return text
  end

  it("creates a terminal; send, recv, resize; exit ends it with 1000", function()
    local t = sb.pty:create{ cols = 70, rows = 20 }
    assert.matches("^%x%x%x%x%x%x%x%x$", t.session_id)
    assert.are.equal(sb.id, t.sandbox_id)
    t:send("stty size; echo @@$((6*7))@@\n")
    assert.matches("20 70\r\n@@42@@", recv_until(t, "@@42@@"))
    t:resize(120, 50)
    t:send("stty size; echo @@$((6*8))@@\n")
    assert.matches("50 120\r\n@@48@@", recv_until(t, "@@48@@"))
    t:send("sleep 100\n")
    oc.sleep(0.3)
    t:send("\3")
    t:send("echo rc=$?@@$((6*9))@@\n")
    assert.matches("rc=130@@54@@", recv_until(t, "@@54@@"))
    t:send("exit\n")
    while t:recv() do end
    assert.is_nil(t:recv())
    assert.are.equal(1000, t:wait())
    fails(E.NotFoundError, t.resize, t, 80, 24)
    t:kill()	-- gone already: not an error
  end)

  it("gives every chunk to on_output in order; wait() returns after the exit", function()
    local got = {}
    local t = sb.pty:create{ on_output = function(d)
      got[#got + 1] = d
      if #got % 5 == 0 then oc.sleep(0.01) end	-- a slow callback
    end }
    t:send("seq 1 20000; exit\n")
    assert.are.equal(1000, t:wait())
    local text = table.concat(got):gsub("\r\n", "\n")
    local numbers = text:match("[\r\n](1\n2\n.-\n20000\n)")
    assert.is_truthy(numbers, text:sub(1, 200))
    local n = 0
    for line in numbers:gmatch("(%d+)\n") do
      n = n + 1
      assert.are.equal(tostring(n), line)
    end
    assert.are.equal(20000, n)
  end)

  it("loses nothing while recv() is not called (backpressure)", function()
    local t = sb.pty:create{}
    -- 3 MiB written while nobody reads: the shell waits, nothing drops
    t:send("head -c 3145728 /dev/zero | tr '\\0' '\\121'; echo; echo @@$((1+1))@@\n")
    oc.sleep(2)
    local q, text = 0, ""
    repeat
      local d = t:recv()
      assert.is_string(d)
      q = q + select(2, d:gsub("Q", ""))
      text = (text .. d):sub(-64)
    until text:find("@@2@@")
    assert.are.equal(3145728, q)
    t:kill()
    assert.are.equal(1000, t:wait())
  end)

  it("detaches with close(); attach() gets what came meanwhile; kill() ends it", function()
    local t = sb.pty:create{}
    t:send("echo pid=$$\n")
    local pid = recv_until(t, "pid=%d+"):match("pid=(%d+)")
    t:send("sleep 1; echo meanwhile-@@$((2+2))@@\n")
    t:close()
    while t:recv() do end	-- what came before the close, then nil
    assert.is_nil(t:recv())
    fails(E.SandboxError, t.send, t, "x")
    oc.sleep(2)
    local got = {}
    local again = sb.pty:attach(t.session_id, { on_output = function(d) got[#got + 1] = d end })
    again:send("echo pid=$$\n")
    local deadline = oc.now() + WAIT
    while not table.concat(got):find("pid=%d+\r\n.*pid=%d+") and oc.now() < deadline do
      oc.sleep(0.05)
    end
    local text = table.concat(got)
    assert.matches("meanwhile%-@@4@@", text)
    assert.matches("pid=" .. pid, text)
    again:kill()
    assert.are.equal(1000, again:wait())
    fails(E.NotFoundError, sb.pty.attach, sb.pty, t.session_id)
  end)

  it("re-raises an error of on_output from wait()", function()
    local t = sb.pty:create{ on_output = function() error("boom in on_output") end }
    t:send("echo x\n")
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.matches("boom in on_output", tostring(err))
    t:kill()
  end)

  it("sb:close() detaches its terminals", function()
    local other = oc.Sandbox.connect(sb.id, sdk.conn())
    local t = other.pty:create{}
    other:close()
    while t:recv() do end
    assert.is_nil(t:recv())
    local again = sb.pty:attach(t.session_id)
    again:kill()
    assert.are.equal(1000, again:wait())
  end)

  it("checks its arguments before any request", function()
    misuse("cols must be an integer from 1 to 4096, got the number 0",
      sb.pty.create, sb.pty, { cols = 0 })
    misuse("rows must be an integer from 1 to 4096, got the number 2.5",
      sb.pty.create, sb.pty, { rows = 2.5 })
    misuse("cols must be an integer from 1 to 4096, got the string \"80\"",
      sb.pty.create, sb.pty, { cols = "80" })
    misuse("unknown option 'shell'", sb.pty.create, sb.pty, { shell = "/bin/sh" })
    misuse("on_output must be a function, got the boolean true",
      sb.pty.create, sb.pty, { on_output = true })
    misuse("options must be a table", sb.pty.create, sb.pty, 80)
    misuse("the session id must be a string", sb.pty.attach, sb.pty, 7)
    local t = sb.pty:create{ on_output = function() end }
    misuse("data must be a string, got the number 1", t.send, t, 1)
    misuse("delivers its output to on_output", t.recv, t)
    misuse("rows must be an integer from 1 to 4096", t.resize, t, 80, 0)
    misuse("give cols and rows", t.resize, t, 80)
    t:kill()
    t:wait()
  end)
end)
