-- spec/server_spec.lua - the local sandbox server over real HTTP and
-- WebSocket connections: lifecycle, auth, bad input, exec (run, sessions,
-- attach, replay, stdin, kill, timeouts), files, path escapes, isolation.

local oc = require("opencomputer")
local json = require("opencomputer.runtime.json")
local support = require("spec.support.server")

local c = support.shared()
local q = support.q

local function sandbox()
  return c:create({ timeout = 0 })
end

describe("local server: health and auth", function()
  it("answers /health without a key", function()
    local status, doc = c:api("GET", "/health", { prefix = "", key = false })
    assert.are.equal(200, status)
    assert.are.same({ status = "ok" }, doc)
  end)

  it("refuses every API route without the key, or with a wrong one, alike", function()
    local id = sandbox()
    local routes = {
      { "POST", "/sandboxes" }, { "GET", "/sandboxes" },
      { "GET", "/sandboxes/" .. id }, { "DELETE", "/sandboxes/" .. id },
      { "POST", "/sandboxes/" .. id .. "/timeout" },
      { "POST", "/sandboxes/" .. id .. "/hibernate" },
      { "POST", "/sandboxes/" .. id .. "/wake" },
      { "POST", "/sandboxes/" .. id .. "/exec" },
      { "GET", "/sandboxes/" .. id .. "/exec" },
      { "POST", "/sandboxes/" .. id .. "/exec/run" },
      { "POST", "/sandboxes/" .. id .. "/exec/run-async" },
      { "GET", "/sandboxes/" .. id .. "/exec/x/result" },
      { "POST", "/sandboxes/" .. id .. "/exec/x/kill" },
      { "GET", "/sandboxes/" .. id .. "/files", "path=/etc/hostname" },
      { "PUT", "/sandboxes/" .. id .. "/files", "path=/tmp/x" },
      { "DELETE", "/sandboxes/" .. id .. "/files", "path=/tmp/x" },
      { "GET", "/sandboxes/" .. id .. "/files/list", "path=/" },
      { "POST", "/sandboxes/" .. id .. "/files/mkdir", "path=/tmp/d" },
      { "GET", "/no/such/route" },
    }
    for _, r in ipairs(routes) do
      for _, key in ipairs{ false, "wrong-key", support.KEY .. "x", "" } do
        local status, doc = c:api(r[1], r[2], { key = key, query = r[3] })
        assert.are.equal(401, status, r[1] .. " " .. r[2])
        assert.are.same({ error = "missing or invalid API key" }, doc)
      end
    end
    -- and the sandbox is untouched
    assert.are.equal(200, (c:api("GET", "/sandboxes/" .. id)))
  end)

  it("accepts the key as ?api_key= and as a Bearer token", function()
    assert.are.equal(200, (c:api("GET", "/sandboxes", { key = false,
      query = "api_key=" .. support.KEY })))
    assert.are.equal(200, (c:api("GET", "/sandboxes", { key = false,
      headers = { Authorization = "Bearer " .. support.KEY } })))
  end)

  it("is open to any origin (CORS), answering preflights without a key", function()
    local status, _, res = c:api("OPTIONS", "/sandboxes", { key = false,
      headers = { Origin = "https://example.test",
        ["Access-Control-Request-Method"] = "POST",
        ["Access-Control-Request-Headers"] = "content-type, x-api-key" } })
    assert.are.equal(204, status)
    assert.are.equal("*", res.headers["access-control-allow-origin"])
    assert.matches("POST", res.headers["access-control-allow-methods"])
    assert.matches("X%-API%-Key", res.headers["access-control-allow-headers"])
    local id = sandbox()
    for _, r in ipairs({ { "GET", "/sandboxes" }, { "GET", "/no/such/route" },
        { "DELETE", "/sandboxes/sb-00000000" },
        { "POST", "/sandboxes/" .. id .. "/timeout", { timeout = 0 } } }) do
      status, _, res = c:api(r[1], r[2], { body = r[3],
        headers = { Origin = "https://example.test" } })
      assert.are.equal("*", res.headers["access-control-allow-origin"], r[2])
    end
    assert.are.equal(204, status)
    _, _, res = c:api("GET", "/sandboxes/" .. id .. "/files", { query = "path=/etc/hostname" })
    assert.are.equal("*", res.headers["access-control-allow-origin"])
  end)

  it("refuses a WebSocket without the key before the upgrade", function()
    local id = sandbox()
    local _, s = c:api("POST", "/sandboxes/" .. id .. "/exec", { body = { cmd = "true" } })
    local ok, err = pcall(c.attach, c, id, s.sessionID, function() end, "wrong")
    assert.is_false(ok)
    assert.are.equal("AuthError", err.kind, tostring(err))
    assert.are.equal(401, err.status)
  end)
end)

describe("local server: sandbox lifecycle", function()
  it("creates, gets, lists and deletes a sandbox", function()
    local status, doc = c:api("POST", "/sandboxes", { body = {
      templateID = "base", timeout = 0, metadata = { team = "a" },
      envs = { FOO = "bar" }, memoryMB = 8192 } })
    assert.are.equal(201, status)
    local id = doc.sandboxID
    assert.matches("^sb%-%x%x%x%x%x%x%x%x$", id)
    assert.are.equal("running", doc.status)
    assert.are.equal(8192, doc.memoryMB)
    assert.are.equal(2, doc.cpuCount)
    assert.are.same({ team = "a" }, doc.metadata)
    status, doc = c:api("GET", "/sandboxes/" .. id)
    assert.are.equal(200, status)
    assert.are.equal(id, doc.sandboxID)
    local _, list = c:api("GET", "/sandboxes")
    local found = false
    for _, s in ipairs(list) do found = found or s.sandboxID == id end
    assert.is_true(found)
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. id)))
    status, doc = c:api("GET", "/sandboxes/" .. id)
    assert.are.equal(404, status)
    assert.are.same({ error = "sandbox not found" }, doc)
  end)

  it("gives sandbox envs to commands, per-command envs winning", function()
    local id = c:create({ envs = { A = "sandbox", B = "sandbox" } })
    local r = c:run(id, 'echo "$A $B $HOME $USER"', { envs = { B = "command" } })
    assert.are.equal("sandbox command /home/sandbox sandbox\n", r.stdout)
  end)

  it("hibernates an idle sandbox after its timeout; the next call wakes it", function()
    local id = c:create({ timeout = 1 })
    assert.are.equal(204, (c:api("PUT", "/sandboxes/" .. id .. "/files?path=" ..
      q("/home/sandbox/kept"), { raw = "still here" })))
    assert.are.equal(201, (c:api("POST", "/sandboxes/" .. id .. "/exec",
      { body = { cmd = "true" } })))
    local t0 = oc.now()
    local doc
    repeat
      oc.sleep(0.2)
      doc = select(2, c:api("GET", "/sandboxes/" .. id))
    until doc.status ~= "running" or oc.now() - t0 > 10
    assert.are.equal("hibernated", doc.status)
    -- paused (protocol.md 2.7): nothing is lost, its sessions stay
    local sessions = select(2, c:api("GET", "/sandboxes/" .. id .. "/exec"))
    assert.are.equal(1, #sessions)
    assert.are.equal("true", sessions[1].command)
    -- files survive; a data-plane call wakes it
    local r = c:run(id, "cat /home/sandbox/kept")
    assert.are.equal("still here", r.stdout)
    doc = select(2, c:api("GET", "/sandboxes/" .. id))
    assert.are.equal("running", doc.status)
  end)

  it("hibernates and wakes on request", function()
    local id = c:create({ timeout = 0 })
    c:run(id, "echo kept > /home/sandbox/f")
    assert.are.equal(201, (c:api("POST", "/sandboxes/" .. id .. "/exec",
      { body = { cmd = "true" } })))
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/hibernate")
    assert.are.equal(200, status)
    assert.are.same({ sandboxID = id, status = "hibernated" }, doc)
    assert.are.equal("hibernated", select(2, c:api("GET", "/sandboxes/" .. id)).status)
    -- deep: sessions are forgotten, as the reference forgets them
    assert.are.same({}, select(2, c:api("GET", "/sandboxes/" .. id .. "/exec")))
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. id .. "/hibernate")))
    assert.are.equal(400, (c:api("POST", "/sandboxes/" .. id .. "/wake",
      { body = { timeout = -1 } })))
    status, doc = c:api("POST", "/sandboxes/" .. id .. "/wake", { body = { timeout = 30 } })
    assert.are.equal(200, status)
    assert.are.same({ sandboxID = id, status = "running" }, doc)
    doc = select(2, c:api("GET", "/sandboxes/" .. id))
    assert.are.equal("running", doc.status)
    assert.is_string(doc.endAt)	-- the wake's idle timeout
    assert.are.equal("kept\n", c:run(id, "cat /home/sandbox/f").stdout)
    -- waking a running sandbox answers the same and keeps its timeout
    status, doc = c:api("POST", "/sandboxes/" .. id .. "/wake")
    assert.are.equal(200, status)
    assert.are.equal("running", doc.status)
    assert.is_string(select(2, c:api("GET", "/sandboxes/" .. id)).endAt)
    assert.are.equal(404, (c:api("POST", "/sandboxes/sb-00000000/wake")))
    assert.are.equal(404, (c:api("POST", "/sandboxes/sb-00000000/hibernate")))
  end)

  it("wakes a hibernated sandbox once for many requests at once", function()
    local id = c:create({ timeout = 1 })
    local t0 = oc.now()
    repeat
      oc.sleep(0.2)
    until select(2, c:api("GET", "/sandboxes/" .. id)).status ~= "running"
      or oc.now() - t0 > 10
    local runs = {}
    for i = 1, 10 do
      runs[i] = oc.spawn(function() return c:run(id, "echo " .. i) end)
    end
    for i = 1, 10 do
      assert.are.equal(i .. "\n", runs[i]:wait().stdout)
    end
    assert.are.equal("running", select(2, c:api("GET", "/sandboxes/" .. id)).status)
  end)

  it("keeps a sandbox with a running command from idling", function()
    local id = c:create({ timeout = 1 })
    local r = c:run(id, "sleep 1.6; echo done")
    assert.are.equal("done\n", r.stdout)
    local _, doc = c:api("GET", "/sandboxes/" .. id)
    assert.are.equal("running", doc.status)
  end)

  it("sets the idle timeout", function()
    local id = sandbox()
    assert.are.equal(204, (c:api("POST", "/sandboxes/" .. id .. "/timeout",
      { body = { timeout = 30 } })))
    assert.are.equal(400, (c:api("POST", "/sandboxes/" .. id .. "/timeout",
      { body = { timeout = -1 } })))
  end)
end)

describe("local server: bad input gets a 4xx with a JSON error", function()
  local id
  setup(function() id = sandbox() end)

  local function bad(status_want, method, path, opts)
    local status, doc = c:api(method, path, opts)
    assert.are.equal(status_want, status)
    assert.is_string(doc and doc.error, "JSON error body")
    return doc.error
  end

  it("unknown fields are ignored, known ones still checked", function()
    local status, doc = c:api("POST", "/sandboxes", { body = {
      timeout = 0, colour = "red", futureOption = { nested = true } } })
    assert.are.equal(201, status)
    assert.are.equal("running", doc.status)
    status, doc = c:api("POST", "/sandboxes/" .. doc.sandboxID .. "/exec/run",
      { body = { cmd = "echo ok", shiny = 1 } })
    assert.are.equal(200, status)
    assert.are.equal("ok\n", doc.stdout)
    bad(400, "POST", "/sandboxes", { body = { colour = "red", timeout = "soon" } })
  end)
  it("malformed JSON", function()
    assert.matches("invalid request body", bad(400, "POST", "/sandboxes", { raw = "{nope" }))
  end)
  it("wrong types", function()
    assert.matches("timeout", bad(400, "POST", "/sandboxes", { body = { timeout = "soon" } }))
    assert.matches("envs", bad(400, "POST", "/sandboxes", { body = { envs = { A = 1 } } }))
    assert.matches("args", bad(400, "POST", "/sandboxes/" .. id .. "/exec",
      { body = { cmd = "ls", args = "-l" } }))
  end)
  it("a JSON array or string instead of an object", function()
    bad(400, "POST", "/sandboxes", { raw = "[1,2]" })
    bad(400, "POST", "/sandboxes", { raw = '"x"' })
  end)
  it("a body that is not JSON", function()
    bad(400, "POST", "/sandboxes", { raw = "a=b", headers = { ["Content-Type"] = "text/plain" } })
  end)
  it("huge bodies", function()
    bad(413, "POST", "/sandboxes", { raw = '{"metadata":{"a":"' .. ("x"):rep(2 * 1024 * 1024) .. '"}}' })
  end)
  it("resources outside the tiers", function()
    bad(400, "POST", "/sandboxes", { body = { memoryMB = 3000 } })
    bad(400, "POST", "/sandboxes", { body = { cpuCount = 64 } })
    bad(400, "POST", "/sandboxes", { body = { memoryMB = 1024, cpuCount = 4 } })
  end)
  it("diskMB outside protocol.md's bounds, or of the wrong type", function()
    assert.are.equal("diskMB must be at least 20480 (20GB)",
      bad(400, "POST", "/sandboxes", { body = { diskMB = 1000 } }))
    assert.are.equal("diskMB cannot exceed 262144 (256GB)",
      bad(400, "POST", "/sandboxes", { body = { diskMB = 300000 } }))
    bad(400, "POST", "/sandboxes", { body = { diskMB = "big" } })
    local status, doc = c:api("POST", "/sandboxes", { body = { diskMB = 30000 } })
    assert.are.equal(201, status)
    assert.are.equal(30000, doc.diskMB)
  end)
  it("unknown sandbox, session and exec ids", function()
    bad(404, "GET", "/sandboxes/sb-00000000")
    bad(404, "POST", "/sandboxes/sb-00000000/exec/run", { body = { cmd = "true" } })
    bad(404, "POST", "/sandboxes/" .. id .. "/exec/deadbeef/kill", { body = {} })
    bad(404, "GET", "/sandboxes/" .. id .. "/exec/deadbeef/result")
    bad(404, "GET", "/sandboxes/sb-00000000/files", { query = "path=/etc/hostname" })
  end)
  it("a missing cmd or path", function()
    assert.matches("cmd is required", bad(400, "POST", "/sandboxes/" .. id .. "/exec", { body = {} }))
    assert.matches("path", bad(400, "GET", "/sandboxes/" .. id .. "/files"))
  end)
  it("invalid UTF-8 and NUL in paths", function()
    bad(400, "GET", "/sandboxes/" .. id .. "/files", { query = "path=/tmp/%FF%FE" })
    bad(400, "PUT", "/sandboxes/" .. id .. "/files", { query = "path=/tmp/a%00b", raw = "x" })
  end)
  it("a program that does not exist", function()
    assert.matches("No such file or directory",
      bad(400, "POST", "/sandboxes/" .. id .. "/exec", { body = { cmd = "no-such-program" } }))
  end)
  it("and keeps serving", function()
    assert.are.equal(200, (c:api("GET", "/sandboxes/" .. id)))
  end)
end)

describe("local server: exec/run", function()
  local id
  setup(function() id = sandbox() end)

  it("returns exit code, stdout and stderr; a non-zero exit is a result", function()
    local r = c:run(id, "echo out; echo err >&2; exit 7")
    assert.are.same({ exitCode = 7, stdout = "out\n", stderr = "err\n" }, r)
  end)

  it("passes empty strings in args and envs intact", function()
    local _, doc = c:api("POST", "/sandboxes/" .. id .. "/exec/run",
      { body = { cmd = "printf", args = { "[%s]", "a", "", "b", "" } } })
    assert.are.equal("[a][][b][]", doc.stdout)
    _, doc = c:api("POST", "/sandboxes/" .. id .. "/exec/run", { body = {
      cmd = "sh", args = { "-c", 'echo "[$1][$2][$E][${F-unset}]"', "sh", "", "x" },
      envs = { E = "", F = "" } } })
    assert.are.equal("[][x][][]\n", doc.stdout)
    -- and a session lists them as given
    local status, info = c:api("POST", "/sandboxes/" .. id .. "/exec",
      { body = { cmd = "true", args = { "", "" } } })
    assert.are.equal(201, status)
    assert.are.same({ "", "" }, info.args)
  end)

  it("runs a plain command line without a shell, and a shell line with one", function()
    local _, doc = c:api("POST", "/sandboxes/" .. id .. "/exec/run",
      { body = { cmd = "echo a  b" } })
    assert.are.equal("a b\n", doc.stdout)
    _, doc = c:api("POST", "/sandboxes/" .. id .. "/exec/run",
      { body = { cmd = "echo a | tr a b" } })
    assert.are.equal("b\n", doc.stdout)
  end)

  it("looks a program up in the command's own PATH", function()
    c:run(id, "mkdir -p bin && printf '#!/bin/sh\\necho mine\\n' > bin/mytool && chmod +x bin/mytool")
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/exec/run", { body = {
      cmd = "mytool", envs = { PATH = "/home/sandbox/bin:/usr/bin:/bin" } } })
    assert.are.equal(200, status)
    assert.are.equal("mine\n", doc.stdout)
    status = c:api("POST", "/sandboxes/" .. id .. "/exec/run", { body = { cmd = "mytool" } })
    assert.are.equal(400, status)	-- ENOENT: not on its PATH
  end)

  it("honours cwd and runs as the sandbox user", function()
    local r = c:run(id, "pwd; id -un; echo $HOME", { cwd = "/tmp" })
    assert.are.equal("/tmp\nsandbox\n/home/sandbox\n", r.stdout)
  end)

  it("kills a command at its timeout: exit code -1 and a note on stderr", function()
    local t0 = oc.now()
    local r = c:run(id, "echo started; sleep 30", { timeout = 1 })
    assert.is_true(oc.now() - t0 < 3)
    assert.are.equal(-1, r.exitCode)
    assert.are.equal("started\n", r.stdout)
    assert.matches("\nProcess timed out$", r.stderr)
  end)

  it("returns 10,000 lines whole", function()
    local r = c:run(id, "seq 1 10000")
    local n = 0
    for _ in r.stdout:gmatch("\n") do n = n + 1 end
    assert.are.equal(10000, n)
  end)

  it("replaces invalid UTF-8 in output", function()
    local r = c:run(id, "printf 'a\\377b'")
    assert.are.equal("a\u{FFFD}b", r.stdout)
  end)
end)

describe("local server: exec sessions over the WebSocket", function()
  local id
  setup(function() id = sandbox() end)

  local function start(body)
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/exec", { body = body })
    assert.are.equal(201, status, json.encode(doc or {}))
    return doc
  end

  local function collect(sid)
    local got = { out = {}, err = {}, order = {} }
    local ws = c:attach(id, sid, function(kind, data)
      got.order[#got.order + 1] = kind
      if kind == 1 then got.out[#got.out + 1] = data
      elseif kind == 2 then got.err[#got.err + 1] = data
      elseif kind == 3 then got.exit = string.unpack(">i4", data)
      elseif kind == 4 then got.replayed = #got.order
      end
    end)
    got.ws = ws
    return got
  end

  it("describes a new session and lists it", function()
    local s = start({ cmd = "sleep", args = { "0.2" } })
    assert.matches("^%x%x%x%x%x%x%x%x$", s.sessionID)
    assert.are.equal(id, s.sandboxID)
    assert.are.equal("sleep", s.command)
    assert.are.same({ "0.2" }, s.args)
    assert.is_true(s.running)
    local _, list = c:api("GET", "/sandboxes/" .. id .. "/exec")
    local found
    for _, e in ipairs(list) do if e.sessionID == s.sessionID then found = e end end
    assert.is_table(found)
  end)

  it("streams stdout, stderr, the end of replay and the exit code", function()
    local s = start({ cmd = "sh", args = { "-c", "sleep 0.2; echo out; echo err >&2; exit 5" } })
    local got = collect(s.sessionID)
    got.ws:wait()
    assert.is_false(got.ws:is_open())
    assert.are.equal("out\n", table.concat(got.out))
    assert.are.equal("err\n", table.concat(got.err))
    assert.are.equal(5, got.exit)
    assert.are.equal(1, got.replayed)	-- nothing to replay: 0x04 first
    assert.are.equal(3, got.order[#got.order])
  end)

  it("replays the output since the start on every attach", function()
    local s = start({ cmd = "sh", args = { "-c", "echo one; echo two >&2" } })
    oc.sleep(0.3)
    for _ = 1, 2 do
      local got = collect(s.sessionID)
      got.ws:wait()
      assert.are.equal("one\n", table.concat(got.out))
      assert.are.equal("two\n", table.concat(got.err))
      assert.are.equal(0, got.exit)
      assert.are.equal(3, got.replayed)
    end
  end)

  it("feeds several clients at once, and stdin from any of them", function()
    local s = start({ cmd = "cat" })
    local a, b = collect(s.sessionID), collect(s.sessionID)
    a.ws:send("\0hello ")
    b.ws:send("\0world\n")
    local t0 = oc.now()
    while table.concat(a.out) ~= "hello world\n" and oc.now() - t0 < 5 do oc.sleep(0.02) end
    assert.are.equal("hello world\n", table.concat(a.out))
    while table.concat(b.out) ~= "hello world\n" and oc.now() - t0 < 5 do oc.sleep(0.02) end
    assert.are.equal("hello world\n", table.concat(b.out))
    a.ws:send("\5")	-- end of stdin (oclua's extension): cat exits
    a.ws:wait(); b.ws:wait()
    assert.are.equal(0, a.exit)
    assert.are.equal(0, b.exit)
  end)

  it("kills a session with a signal: exit code -1", function()
    local s = start({ cmd = "sleep", args = { "30" } })
    local got = collect(s.sessionID)
    assert.are.equal(204, (c:api("POST", "/sandboxes/" .. id .. "/exec/" .. s.sessionID
      .. "/kill", { body = { signal = 15 } })))
    got.ws:wait()
    assert.are.equal(-1, got.exit)
  end)

  it("ends a session at its timeout", function()
    local s = start({ cmd = "sleep", args = { "30" }, timeout = 1 })
    local got = collect(s.sessionID)
    local t0 = oc.now()
    got.ws:wait()
    assert.are.equal(-1, got.exit)
    assert.is_true(oc.now() - t0 < 3)
  end)

  it("keeps a session running after its clients leave, then kills it after maxRunAfterDisconnect", function()
    local s = start({ cmd = "sleep", args = { "30" }, maxRunAfterDisconnect = 1 })
    local got = collect(s.sessionID)
    oc.sleep(0.1)
    got.ws:close()
    got.ws:wait()
    oc.sleep(0.4)
    local function running()
      local _, list = c:api("GET", "/sandboxes/" .. id .. "/exec")
      for _, e in ipairs(list) do if e.sessionID == s.sessionID then return e.running end end
    end
    assert.is_true(running())
    oc.sleep(1.2)
    assert.is_false(running())
  end)

  it("runs asynchronously: run-async then result", function()
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/exec/run-async",
      { body = { cmd = "echo", args = { "quick" } } })
    assert.are.equal(200, status)	-- folded inline: it finished within 400 ms
    assert.are.same({ exitCode = 0, stdout = "quick\n", stderr = "" }, doc)
    status, doc = c:api("POST", "/sandboxes/" .. id .. "/exec/run-async",
      { body = { cmd = "sh", args = { "-c", "sleep 1.5; echo slow" } } })
    assert.are.equal(202, status)
    assert.is_true(doc.running)
    local eid = doc.execId
    local res
    status, doc, res = c:api("GET", "/sandboxes/" .. id .. "/exec/" .. eid .. "/result")
    assert.is_true(doc.running)
    -- no exit status yet: the key is absent, not null (protocol.md 3.7)
    assert.is_nil(res.body:find('"exitCode"', 1, true))
    repeat
      status, doc = c:api("GET", "/sandboxes/" .. id .. "/exec/" .. eid .. "/result")
      assert.are.equal(200, status)
    until not doc.running
    assert.are.equal(0, doc.exitCode)
    assert.are.equal("slow\n", doc.stdout)
  end)

  it("lists finished sessions, forgetting the oldest past 100; exec/run's are never listed", function()
    local own = sandbox()
    local ids = {}
    for i = 1, 105 do
      local status, doc = c:api("POST", "/sandboxes/" .. own .. "/exec/run-async",
        { body = { cmd = "echo", args = { tostring(i) } } })
      assert.are.equal(200, status)
      assert.are.equal(i .. "\n", doc.stdout)
      local _, list = c:api("GET", "/sandboxes/" .. own .. "/exec")
      ids[i] = list[#list] and list[#list].sessionID
    end
    c:run(own, "true")
    local _, list = c:api("GET", "/sandboxes/" .. own .. "/exec")
    assert.are.equal(100, #list)
    local listed = {}
    for _, e in ipairs(list) do
      listed[e.sessionID] = true
      assert.are.equal("echo", e.command)	-- not the exec/run
    end
    for i = 1, 5 do assert.is_nil(listed[ids[i]], "forgotten: " .. i) end
    for i = 6, 105 do assert.is_true(listed[ids[i]], "kept: " .. i) end
    assert.are.equal(404, (c:api("GET", "/sandboxes/" .. own .. "/exec/" .. ids[1] .. "/result")))
    local status, doc = c:api("GET", "/sandboxes/" .. own .. "/exec/" .. ids[105] .. "/result")
    assert.are.equal(200, status)
    assert.are.equal("105\n", doc.stdout)
  end)
end)

describe("local server: files", function()
  local id
  setup(function() id = sandbox() end)

  local function put(path, body)
    return c:api("PUT", "/sandboxes/" .. id .. "/files", { query = "path=" .. q(path),
      raw = body, headers = { ["Content-Type"] = "application/octet-stream" } })
  end
  local function get(path)
    local status, _, res = c:api("GET", "/sandboxes/" .. id .. "/files",
      { query = "path=" .. q(path) })
    return status, res.body
  end

  it("writes and reads every byte value exactly", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local blob = table.concat(bytes):rep(300)
    assert.are.equal(204, (put("/home/sandbox/bin.dat", blob)))
    local status, body = get("/home/sandbox/bin.dat")
    assert.are.equal(200, status)
    assert.is_true(body == blob)
  end)

  it("makes parent directories on write, relative paths from home", function()
    assert.are.equal(204, (put("a/b/c.txt", "deep")))
    local _, body = get("/home/sandbox/a/b/c.txt")
    assert.are.equal("deep", body)
    local r = c:run(id, "stat -c %U /home/sandbox/a/b/c.txt")
    assert.are.equal("sandbox\n", r.stdout)
  end)

  it("reads an empty file as an empty body", function()
    put("/tmp/empty", "")
    local status, body = get("/tmp/empty")
    assert.are.equal(200, status)
    assert.are.equal("", body)
  end)

  it("lists a directory in name order", function()
    c:api("POST", "/sandboxes/" .. id .. "/files/mkdir", { query = "path=/workspace/l/sub" })
    put("/workspace/l/b.txt", "bb")
    put("/workspace/l/a.txt", "a")
    local status, list = c:api("GET", "/sandboxes/" .. id .. "/files/list", { query = "path=/workspace/l" })
    assert.are.equal(200, status)
    assert.are.same({
      { name = "a.txt", isDir = false, size = 1, path = "/workspace/l/a.txt" },
      { name = "b.txt", isDir = false, size = 2, path = "/workspace/l/b.txt" },
      { name = "sub", isDir = true, size = list[3].size, path = "/workspace/l/sub" },
    }, list)
  end)

  it("removes files and directories; a missing path is fine", function()
    assert.are.equal(204, (put("/workspace/rm/x/y", "z")))
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. id .. "/files", { query = "path=/workspace/rm" })))
    assert.are.equal(404, (get("/workspace/rm/x/y")))
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. id .. "/files", { query = "path=/workspace/rm" })))
  end)

  it("removes trees deeper than PATH_MAX, and so does deleting the sandbox", function()
    local own = sandbox()
    -- two chains of 19 directories with 200-byte names, one moved into the
    -- other: 38 levels, about 7,600 bytes of path, with a file at each end
    local chain = ("/" .. ("d"):rep(200)):rep(19):sub(2)
    local r = c:run(own, "cd /home/sandbox && mkdir -p A/" .. chain .. " B/" .. chain ..
      " && echo deep > B/" .. chain .. "/f && echo top > A/f && mv B A/" .. chain ..
      "/ && find A -type f | wc -l")
    assert.are.equal("2\n", r.stdout, r.stderr)
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. own .. "/files",
      { query = "path=/home/sandbox/A" })))
    assert.are.equal("gone\n", c:run(own, "test -e A || echo gone").stdout)
    -- the sandbox's own files at that depth, when it is deleted
    c:run(own, "cd /home/sandbox && mkdir -p A/" .. chain .. " B/" .. chain ..
      " && mv B A/" .. chain .. "/")
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. own)))
    assert.are.equal(404, (c:api("GET", "/sandboxes/" .. own)))
  end)

  it("answers 404 for a missing file or directory", function()
    assert.are.equal(404, (get("/no/such/file")))
    assert.are.equal(404, (c:api("GET", "/sandboxes/" .. id .. "/files/list", { query = "path=/no/such" })))
  end)

  it("shares the files with commands", function()
    put("/tmp/shared.txt", "from the API")
    assert.are.equal("from the API", c:run(id, "cat /tmp/shared.txt").stdout)
    c:run(id, "echo from a command > /tmp/back.txt")
    assert.are.equal("from a command\n", select(2, get("/tmp/back.txt")))
  end)
end)

describe("local server: the files API cannot leave the sandbox", function()
  local id
  setup(function()
    id = sandbox()
    -- traps laid inside the sandbox by its own user
    c:run(id, table.concat({
      "ln -s / /home/sandbox/rootlink",
      "ln -s /etc /home/sandbox/etclink",
      "ln -s ../../../../../../../../etc /home/sandbox/rellink",
      "mkdir -p /home/sandbox/d && ln -s /root /home/sandbox/d/up",
    }, " && "))
  end)

  local function get(path)
    local status, _, res = c:api("GET", "/sandboxes/" .. id .. "/files", { query = "path=" .. q(path) })
    return status, res.body
  end
  local host_shadow = io.open("/etc/shadow") and io.open("/etc/shadow"):read("a")

  it("resolves .. inside the sandbox", function()
    local status, body = get("/../../../../etc/hostname")
    assert.are.equal(200, status)
    assert.are.equal(id .. "\n", body)
  end)

  it("resolves absolute symlinks inside the sandbox", function()
    local status, body = get("/home/sandbox/rootlink/etc/hostname")
    assert.are.equal(200, status)
    assert.are.equal(id .. "\n", body)
    -- the sandbox's own shadow, which its user may not read
    assert.are.equal(403, (get("/home/sandbox/rootlink/etc/shadow")))
  end)

  it("resolves relative symlinks that climb out inside the sandbox", function()
    local status, body = get("/home/sandbox/rellink/hostname")
    assert.are.equal(200, status)
    assert.are.equal(id .. "\n", body)
  end)

  it("resolves symlinked parent directories inside the sandbox", function()
    assert.are.equal(403, (get("/home/sandbox/etclink/shadow")))
    assert.are_not.equal(host_shadow, select(2, get("/home/sandbox/etclink/shadow")))
  end)

  it("refuses /proc/self/root and other procfs magic links", function()
    assert.are_not.equal(200, (get("/proc/self/root/etc/hostname")))
    assert.are_not.equal(200, (get("/proc/1/root/etc/hostname")))
    assert.are_not.equal(200, (get("/proc/1/cwd/etc/hostname")))
  end)

  it("writes through a symlink stay inside", function()
    local status = c:api("PUT", "/sandboxes/" .. id .. "/files",
      { query = "path=" .. q("/home/sandbox/rootlink/tmp/escape-test"), raw = "x" })
    assert.are.equal(204, status)
    assert.is_nil(io.open("/tmp/escape-test"))
    assert.are.equal("x", c:run(id, "cat /tmp/escape-test").stdout)
  end)

  it("survives a symlink swapped in while a write streams", function()
    -- the parent is resolved once, as a directory fd: a later swap of the
    -- path to a symlink does not redirect the write
    c:run(id, "mkdir -p /home/sandbox/race")
    local writer = oc.spawn(function()
      local n = 0
      return c:api("PUT", "/sandboxes/" .. id .. "/files", {
        query = "path=" .. q("/home/sandbox/race/f"),
        raw = function()
          n = n + 1
          if n == 3 then
            c:run(id, "mv /home/sandbox/race /home/sandbox/race.old && ln -s /root /home/sandbox/race")
          end
          if n > 6 then return nil end
          return ("y"):rep(65536)
        end,
      })
    end)
    assert.are.equal(204, writer:wait())
    assert.is_nil(io.open("/root/f"))
    -- the write went on into the directory it started in
    assert.are.equal(tostring(6 * 65536) .. "\n",
      c:run(id, "stat -c %s /home/sandbox/race.old/f").stdout)
  end)
end)

describe("local server: isolation", function()
  it("gives a sandbox created with networkEnabled false loopback only", function()
    local _, doc = c:api("POST", "/sandboxes", { body = { networkEnabled = false } })
    local r = c:run(doc.sandboxID, "cat /proc/net/dev /etc/resolv.conf")
    assert.is_nil(r.stdout:find("tap0"), r.stdout)
    assert.matches("lo:", r.stdout)
    assert.matches("no network", r.stdout)
    -- and one created without it has its network
    r = c:run(sandbox(), "cat /proc/net/dev")
    assert.matches("tap0", r.stdout)
  end)

  it("keeps writes to /usr and /etc inside the sandbox", function()
    local id = sandbox()
    -- the sandbox user cannot write there, through the files API or not
    local status = c:api("PUT", "/sandboxes/" .. id .. "/files",
      { query = "path=/usr/oclua-isolation-test", raw = "sandbox only" })
    assert.are.equal(403, status)
    -- root inside (sudo) can, and the host's /usr and /etc do not change
    local r = c:run(id, "echo 'sandbox only' | sudo tee /usr/oclua-isolation-test"
      .. " /etc/motd-oclua >/dev/null && cat /usr/oclua-isolation-test")
    assert.are.equal("sandbox only\n", r.stdout, r.stderr)
    assert.is_nil(io.open("/usr/oclua-isolation-test"))
    assert.is_nil(io.open("/etc/motd-oclua"))
  end)

  it("shows a command only its own sandbox's processes", function()
    local id = sandbox()
    local r = c:run(id, "ps -e -o pid= -o comm=")
    local pids = {}
    for pid in r.stdout:gmatch("(%d+)") do pids[#pids + 1] = tonumber(pid) end
    assert.is_true(#pids <= 4, r.stdout)
    assert.are.equal(1, pids[1])
  end)

  it("hides the host's private files", function()
    local id = sandbox()
    local r = c:run(id, "ls /root /work /home 2>&1; cat /etc/shadow 2>&1;"
      .. " cat /proc/1/environ >/dev/null 2>&1 && echo leaked")
    assert.is_nil(r.stdout:find("main"))
    assert.is_nil(r.stdout:find("leaked"))
    assert.matches("cannot access '/work'", r.stdout)
    assert.matches("/home:\nsandbox\n", r.stdout)
    assert.matches("cat: /etc/shadow: Permission denied", r.stdout)
    -- root inside reads the sandbox's own shadow: no host password hash
    local own = c:run(id, "sudo cat /etc/shadow").stdout
    assert.matches("^root:%*:", own)
    local f = io.open("/etc/shadow")
    if f then
      local host = f:read("a")
      f:close()
      assert.are_not.equal(host, own)
    end
  end)

  it("knows the host's system accounts by name, so dpkg and apt run", function()
    -- dpkg refuses to run when its statoverride names a group it cannot
    -- find (ssl-cert, messagebus on Debian): every group and user the
    -- copied dpkg database names resolves inside, and no host password or
    -- group member comes along
    local id = sandbox()
    local r = c:run(id, "sudo dpkg --audit && echo dpkg-ok; "
      .. "sudo dpkg-statoverride --list | while read u g m p; do "
      .. "getent passwd \"$u\" >/dev/null || echo \"no user $u\"; "
      .. "getent group \"$g\" >/dev/null || echo \"no group $g\"; done; "
      .. "awk -F: '$3 > 0 && $3 < 1000 && $4 != \"\" && $1 != \"sudo\"' /etc/group; "
      .. "sudo awk -F: '$2 != \"*\"' /etc/shadow")
    assert.are.equal("dpkg-ok\n", r.stdout, r.stderr)
  end)

  it("gives each sandbox its own network: two listen on port 3000", function()
    local a, b = sandbox(), sandbox()
    local listen = "perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => \"127.0.0.1:3000\", Listen => 1, ReuseAddr => 0) or die \"bind: $!\\n\"; print \"listening\\n\"; sleep 1'"
    local ra, rb
    local ta = oc.spawn(function() ra = c:run(a, listen) end)
    local tb = oc.spawn(function() rb = c:run(b, listen) end)
    ta:wait(); tb:wait()
    assert.are.equal("listening\n", ra.stdout, ra.stderr)
    assert.are.equal("listening\n", rb.stdout, rb.stderr)
  end)

  it("kills every process and removes the files on delete", function()
    local id = sandbox()
    local _, s = c:api("POST", "/sandboxes/" .. id .. "/exec",
      { body = { cmd = "sh", args = { "-c", "sleep 1000 & sleep 1001" } } })
    assert.is_table(s)
    oc.sleep(0.2)
    local function host_has(pat)
      local p = io.popen("pgrep -f '" .. pat .. "'")
      local out = p:read("a")
      p:close()
      return out ~= ""
    end
    assert.is_true(host_has("sleep 100[01]"))
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. id)))
    oc.sleep(0.2)
    assert.is_false(host_has("sleep 100[01]"))
  end)
end)
