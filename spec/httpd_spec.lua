-- spec/httpd_spec.lua - the local server's HTTP/1.1 + WebSocket primitive
-- (core.http_listen) serving from a task in this process, driven by the
-- SDK's own clients on the same loop, and by curl and raw bytes from child
-- processes (core.process_spawn: the loop goes on serving meanwhile).

local oc = require("opencomputer")
local core = require("opencomputer.core")
local http = require("opencomputer.client.http")
local websocket = require("opencomputer.client.websocket")
local errors = require("opencomputer.sdk.errors")
local peer = require("spec.support.peer")
local cjson = require("cjson")

local SANITIZED = os.getenv("OCLUA_SANITIZED") ~= nil
local JSON = { ["Content-Type"] = "application/json" }
local MiB = 1024 * 1024

local rss_kib = require("spec.support.rss")

local function read_all(req)
  local parts = {}
  while true do
    local chunk = req:read()
    if not chunk then return table.concat(parts) end
    parts[#parts + 1] = chunk
  end
end

-- what handlers saw, for the tests to look at
local seen = {}

local routes = {}

routes["/echo"] = function(req)
  local body = read_all(req)
  req:respond(200, JSON, cjson.encode({
    method = req.method, path = req.path, raw_path = req.raw_path,
    query = req.query, headers = req.headers, upgrade = req.upgrade,
    body = body,
  }))
end

routes["/fixed"] = function(req)
  req:respond(200, { ["Content-Type"] = "text/plain" }, "hello world")
end

-- checks the body against the pattern as it streams in
routes["/sink"] = function(req)
  local n, ok, pieces = 0, true, 0
  while true do
    local chunk = req:read()
    if not chunk then break end
    if chunk ~= peer.pattern(n, #chunk) then ok = false end
    n, pieces = n + #chunk, pieces + 1
  end
  seen.sink_headers = req.headers
  req:respond(200, JSON, cjson.encode({ length = n, pattern_ok = ok,
    pieces = pieces }))
end

-- /bytes?n=N[&len=1][&piece=P]: N pattern bytes streamed, chunked unless len
routes["/bytes"] = function(req)
  local n = tonumber(req.query.n) or 0
  local piece = tonumber(req.query.piece) or MiB
  req:start(200, { ["Content-Type"] = "application/octet-stream" },
    req.query.len and n or nil)
  local off = 0
  while off < n do
    local k = math.min(piece, n - off)
    req:write(peer.pattern(off, k))
    off = off + k
  end
  req:finish()
end

routes["/refuse"] = function(req)
  req:respond(401, JSON, '{"error":"no"}')
end

routes["/gc"] = function(req)
  seen.gc_ran = true	-- and no response
end

routes["/partial"] = function(req)
  req:start(200, {}, 100)
  req:write("0123456789")
  seen.partial_ran = true	-- and no finish
end

routes["/big"] = function(req)
  local body = string.rep("x", 16 * MiB)
  local done, ticks = false, 0
  -- runs only while respond() is suspended
  oc.spawn(function()
    while not done do ticks = ticks + 1; oc.sleep(0.01) end
  end)
  local t0 = oc.now()
  req:respond(200, {}, body)
  done = true
  seen.big = { secs = oc.now() - t0, ticks = ticks }
end

-- 64 MiB streamed to a client that does not read them (send_timeout)
routes["/stuck"] = function(req)
  local t0 = oc.now()
  seen.stuck = nil
  local ok, err = pcall(function()
    req:start(200, {}, 64 * MiB)
    for i = 0, 63 do req:write(peer.pattern(i * MiB, MiB)) end
    req:finish()
  end)
  seen.stuck = { ok = ok, err = err, secs = oc.now() - t0 }
end

routes["/truncated"] = function(req)
  seen.reading = true
  local ok, err = pcall(read_all, req)
  seen.truncated = { ok = ok, err = err, closed = req:closed() }
end

routes["/ws"] = function(req)
  if not req.upgrade then return req:respond(400, JSON, '{"error":"upgrade"}') end
  local ok, ws = pcall(req.accept_websocket, req)
  if not ok then
    seen.ws_error = ws
    return
  end
  if not ws then	-- a bad handshake, answered
    seen.ws_refused = true
    return
  end
  while true do
    local msg, binary, code, reason = ws:receive()
    if msg == nil then
      seen.ws_closed = { code = code, reason = reason }
      return
    end
    seen.ws_msg = msg
    local close_code = msg:match("^close (%d+)$")
    if close_code then
      ws:close(tonumber(close_code), "bye")
    else
      ws:send(msg, not binary)
    end
  end
end

-- a slow reader: the client must not lose a byte, the server must not
-- queue much
routes["/ws-slow"] = function(req)
  local ws = req:accept_websocket()
  local n, off, ok, max_in = 0, 0, true, 0
  while true do
    local msg = ws:receive()
    if msg == nil or msg == "end" then break end
    if msg ~= peer.pattern(off, #msg) then ok = false end
    off, n = off + #msg, n + 1
    max_in = math.max(max_in, (ws:queued()))
    oc.sleep(0.002)
  end
  ws:send(cjson.encode({ messages = n, bytes = off, pattern_ok = ok,
    max_queued = max_in }), true)
  ws:close()
end

routes["/ws-refuse"] = function(req)
  req:respond(404, JSON, '{"error":"no such session"}')
end

local served = 0

local function handle(req)
  served = served + 1
  local route = routes[req.path:match("^/[^/]*")]
  if not route then return req:respond(404, JSON, '{"error":"not found"}') end
  local ok, err = pcall(route, req)
  if not ok then
    seen.handler_error = err
    io.stderr:write("httpd_spec handler: ", tostring(err), "\n")
  end
end

local srv, port, base

local function serve(s)
  return oc.spawn(function()
    while true do
      local req = s:accept()
      if not req then return "closed" end
      oc.spawn(handle, req)
    end
  end)
end

local function start()
  if srv then return end
  srv = core.http_listen("127.0.0.1", 0)
  port = srv:port()
  base = "http://127.0.0.1:" .. port
  serve(srv)
end

local function stop()
  srv:close()
  srv = nil
end

-- run a child process; its standard output (lines joined with "\n")
local run = require("spec.support.server").output

-- send raw bytes on one connection (to `to_port`, default the shared
-- server's); what comes back before the server closes (or `wait` seconds
-- pass), and how long that took
local function raw(bytes, wait, to_port)
  local t0 = oc.now()
  local out = run({ "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" .. (to_port or port)
    .. '; printf "%s" "$1" >&3; timeout ' .. (wait or 3) .. " cat <&3",
    "bash", bytes })
  return out, oc.now() - t0
end

local function curl(...)
  return run({ "curl", "-s", "--noproxy", "*", ... })
end

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

local HEX16 = "^" .. ("%x"):rep(16) .. "$"

describe("core.http_listen", function()
  setup(start)
  teardown(stop)

  it("gives method, decoded path, raw path, query and headers", function()
    local res = http.request("POST", base .. "/echo/a%20b%2Fc"
      .. "?path=%2Fa+b%20c&api_key=k1&api_key=k2&flag&e=", {
      headers = { ["X-Test"] = "hello", ["Content-Type"] = "text/plain" },
      body = "payload",
    })
    local doc = cjson.decode(res.body)
    assert.are.equal("POST", doc.method)
    assert.are.equal("/echo/a b/c", doc.path)
    assert.are.equal("/echo/a%20b%2Fc", doc.raw_path)
    assert.are.same({ path = "/a b c", api_key = "k1", flag = "", e = "" },
      doc.query)
    assert.are.equal("hello", doc.headers["x-test"])
    assert.are.equal("text/plain", doc.headers["content-type"])
    assert.are.equal("127.0.0.1:" .. port, doc.headers.host)
    assert.are.equal("payload", doc.body)
    assert.is_false(doc.upgrade)
  end)

  it("joins repeated headers and serves plain upgrades (h2c) as requests", function()
    local out = raw("GET /echo HTTP/1.1\r\nHost: x\r\nX-Multi: a\r\n"
      .. "x-multi: b\r\nUpgrade: h2c\r\nConnection: Upgrade, close\r\n\r\n")
    local doc = cjson.decode(out:match("\r\n\r\n(.*)$"))
    assert.are.equal("a, b", doc.headers["x-multi"])
    assert.is_false(doc.upgrade)
    assert.matches("^HTTP/1.1 200 OK", out)
  end)

  it("keeps connections alive, draining a small unread body", function()
    http.request("GET", base .. "/fixed")
    assert.is_true(http.request("GET", base .. "/fixed").reused)
    local res = http.request("POST", base .. "/refuse", {
      body = string.rep("z", 100 * 1024), raise = false })
    assert.are.equal(401, res.status)
    assert.is_nil(res.headers.connection)
    assert.is_true(http.request("GET", base .. "/fixed").reused)
  end)

  it("closes after a response that leaves a big body unread", function()
    local res = http.request("POST", base .. "/refuse", {
      body = string.rep("z", 3 * MiB), raise = false })
    assert.are.equal(401, res.status)
    assert.are.equal("close", res.headers.connection)
    assert.is_false(http.request("GET", base .. "/fixed").reused)
  end)

  it("streams a chunked upload through req:read() in constant memory", function()
    local n = (SANITIZED and 128 or 1024) * MiB
    local sent, piece = 0, MiB
    collectgarbage()
    local before, peak = rss_kib(), 0
    local t0 = oc.now()
    local res = http.request("PUT", base .. "/sink", {
      body = function()
        if sent >= n then return nil end
        local c = peer.pattern(sent, piece)
        sent = sent + #c
        if sent % (32 * MiB) == 0 then
          collectgarbage()
          peak = math.max(peak, rss_kib())
        end
        return c
      end,
    })
    local doc = cjson.decode(res.body)
    assert.are.equal(n, doc.length)
    assert.is_true(doc.pattern_ok)
    assert.are.equal("chunked", seen.sink_headers["transfer-encoding"])
    io.stderr:write(string.format("\n  [%d MiB upload: %.2f s, %d reads, "
      .. "RSS +%d KiB]\n", n // MiB, oc.now() - t0, doc.pieces, peak - before))
    -- AddressSanitizer keeps freed memory in quarantine: RSS says nothing
    if SANITIZED then return end
    assert.is_true(peak - before < 32 * 1024,
      "RSS grew by " .. (peak - before) .. " KiB")
  end)

  it("answers Expect: 100-continue without a stall", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(peer.pattern(0, 4 * MiB))
    f:close()
    local out = curl("-o", "/dev/null", "-w", "%{http_code} %{time_total}",
      "-T", path, base .. "/sink")
    local code, secs = out:match("^(%d+) ([%d.]+)$")
    assert.are.equal("200", code)
    assert.are.equal("100-continue", seen.sink_headers.expect)
    -- curl waits 1 s for a 100 that does not come
    assert.is_true(tonumber(secs) < 0.9, "took " .. secs .. " s")
    -- a refusal does not wait for the body either
    out = curl("-o", "/dev/null", "-w", "%{http_code} %{time_total}",
      "-T", path, base .. "/refuse")
    code, secs = out:match("^(%d+) ([%d.]+)$")
    assert.are.equal("401", code)
    assert.is_true(tonumber(secs) < 0.9, "took " .. secs .. " s")
    os.remove(path)
  end)

  it("streams a 64 MiB chunked response", function()
    local n, got, ok = 64 * MiB, 0, true
    local res = http.request("GET", base .. "/bytes?n=" .. n, {
      on_body = function(chunk)
        if chunk ~= peer.pattern(got, #chunk) then ok = false end
        got = got + #chunk
      end,
    })
    assert.are.equal(200, res.status)
    assert.are.equal("chunked", res.headers["transfer-encoding"])
    assert.is_nil(res.headers["content-length"])
    assert.are.equal(n, got)
    assert.is_true(ok)
  end)

  it("sends Content-Length for respond() and for start() with a length", function()
    local res = http.request("GET", base .. "/fixed")
    assert.are.equal("11", res.headers["content-length"])
    assert.are.equal("hello world", res.body)
    res = http.request("GET", base .. "/bytes?len=1&n=" .. 3 * MiB)
    assert.are.equal(tostring(3 * MiB), res.headers["content-length"])
    assert.is_nil(res.headers["transfer-encoding"])
    assert.is_true(res.body == peer.pattern(0, 3 * MiB))
  end)

  it("sends no body to HEAD", function()
    local res = http.request("HEAD", base .. "/fixed")
    assert.are.equal(200, res.status)
    assert.are.equal("11", res.headers["content-length"])
    assert.are.equal("", res.body)
    res = http.request("HEAD", base .. "/bytes?n=5000")
    assert.are.equal("chunked", res.headers["transfer-encoding"])
    assert.are.equal("", res.body)
    -- nothing stray was sent: the connection goes on
    res = http.request("GET", base .. "/fixed")
    assert.is_true(res.reused)
    assert.are.equal("hello world", res.body)
  end)

  it("carries X-Request-Id: the client's, else a new one", function()
    local res = http.request("GET", base .. "/fixed",
      { headers = { ["X-Request-Id"] = "trace-42" } })
    assert.are.equal("trace-42", res.headers["x-request-id"])
    local a = http.request("GET", base .. "/fixed").headers["x-request-id"]
    local b = http.request("GET", base .. "/nothing-here",
      { raise = false }).headers["x-request-id"]
    assert.matches(HEX16, a)
    assert.matches(HEX16, b)
    assert.are_not.equal(a, b)
  end)

  it("answers 4xx to malformed requests without calling Lua, and closes", function()
    local before = served
    local bad = {
      "GARBAGE\r\n\r\n",
      "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /a?x=%4 HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        .. "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      { 431, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " ..
        string.rep("b", 70 * 1024) .. "\r\n\r\n" },
    }
    for _, req in ipairs(bad) do
      local status = 400
      if type(req) == "table" then status, req = req[1], req[2] end
      local out, secs = raw(req)
      assert.matches("^HTTP/1.1 " .. status .. " ", out)
      assert.matches("\r\nContent%-Type: application/json\r\n", out)
      assert.matches("\r\nConnection: close\r\n", out)
      assert.matches("\r\nX%-Request%-Id: " .. ("%x"):rep(16) .. "\r\n", out)
      assert.matches('\r\n\r\n{"error":"[^"]+"}$', out)
      assert.is_true(secs < 2, "the connection stayed open")
    end
    assert.are.equal(before, served)
  end)

  it("raises in read() when the body turns out malformed", function()
    seen.truncated, seen.reading = nil, nil
    -- the head first; the bad chunk once the handler reads (when C sees
    -- both at once it refuses before Lua ever gets the request)
    local go = os.tmpname()
    os.remove(go)
    local t = oc.spawn(run, { "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"
      .. port .. '; printf "%s" "$1" >&3; while [ ! -e "$3" ]; do sleep 0.01;'
      .. ' done; printf "%s" "$2" >&3; timeout 3 cat <&3', "bash",
      "PUT /truncated HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      "5\r\nhello\r\nzz\r\n", go })
    while not seen.reading do oc.sleep(0.01) end
    assert(io.open(go, "w")):close()
    local out = t:wait()
    os.remove(go)
    local t0 = oc.now()
    while not seen.truncated and oc.now() - t0 < 2 do oc.sleep(0.01) end
    assert.is_false(seen.truncated.ok)
    assert.matches("malformed request body", seen.truncated.err)
    assert.matches("^HTTP/1.1 400 Bad Request\r\n", out)
  end)

  it("serves pipelined requests in order, and HTTP/1.0", function()
    local out, secs = raw("GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n"
      .. "GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
      .. "HEAD /fixed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert.are.equal(3, count(out, "HTTP/1.1 200 OK\r\n"))
    local first, second = out:find("hello world", 1, true), out:find('"n":"2"', 1, true)
    assert.is_truthy(first and second and first < second)
    assert.is_true(secs < 2)
    -- HTTP/1.0: closed after the response; a stream ends with the close
    out, secs = raw("GET /fixed HTTP/1.0\r\n\r\n")
    assert.matches("^HTTP/1.1 200 OK\r\n.*Connection: close\r\n.*hello world$", out)
    assert.is_true(secs < 2)
    out, secs = raw("GET /bytes?n=1000 HTTP/1.0\r\n\r\n")
    assert.is_nil(out:find("Transfer-Encoding", 1, true))
    assert.are.equal(1000, #out:match("\r\n\r\n(.*)$"))
    assert.is_true(secs < 2)
    -- HTTP/1.0 keep-alive when asked for
    out = raw("GET /fixed HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0.3)
    assert.matches("\r\nConnection: keep%-alive\r\n", out)
  end)

  it("tells a handler when the body is cut short", function()
    seen.truncated = nil
    run({ "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" .. port .. '; printf "%s" "$1" >&3',
      "bash", "PUT /truncated HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789" })
    local t0 = oc.now()
    while not seen.truncated and oc.now() - t0 < 2 do oc.sleep(0.01) end
    assert.is_false(seen.truncated.ok)
    assert.matches("client closed the connection", seen.truncated.err)
    assert.is_true(seen.truncated.closed)
  end)

  it("waits in respond() while more than 1 MiB is queued for a slow client", function()
    seen.big = nil
    -- the client pauses once the response has begun: 16 MiB is more
    -- than the socket buffers hold
    local out = run({ "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" .. port
      .. '; printf "%s" "$1" >&3; head -c 16 <&3 >/dev/null; sleep 1;'
      .. " timeout 5 cat <&3 | wc -c",
      "bash", "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" })
    assert.is_true(tonumber(out) > 15 * MiB, out)
    assert.is_true(seen.big.ticks > 5 and seen.big.secs > 0.1,
      string.format("respond: %.2f s, %d ticks", seen.big.secs, seen.big.ticks))
  end)

  it("answers 500 for a request collected without a response", function()
    seen.gc_ran = nil
    local t = oc.spawn(function()
      return http.request("GET", base .. "/gc", { raise = false })
    end)
    while not seen.gc_ran do oc.sleep(0.01) end
    oc.sleep(0.02)
    collectgarbage()
    collectgarbage()
    local res = t:wait()
    assert.are.equal(500, res.status)
    assert.are.same({ error = "internal error" }, cjson.decode(res.body))
    assert.matches(HEX16, res.headers["x-request-id"])
  end)

  it("closes the connection of a half-sent response that is collected", function()
    seen.partial_ran = nil
    local t = oc.spawn(function()
      return pcall(http.request, "GET", base .. "/partial")
    end)
    while not seen.partial_ran do oc.sleep(0.01) end
    oc.sleep(0.02)
    collectgarbage()
    collectgarbage()
    local ok, err = t:wait()
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.SandboxError), tostring(err))
  end)

  it("raises when it cannot listen", function()
    local ok, err = pcall(core.http_listen, "127.0.0.1", port)
    assert.is_false(ok)
    assert.are.equal("cannot listen on 127.0.0.1:" .. port
      .. ": Address already in use", err:match("cannot listen.*$"))
  end)
end)

describe("core.http_listen WebSockets", function()
  setup(start)
  teardown(stop)

  it("echoes text, binary and a 4 MiB message; the server's close code arrives", function()
    local ws = websocket.connect("ws://127.0.0.1:" .. port .. "/ws")
    ws:send("hello", true)
    local msg, binary = ws:receive()
    assert.are.equal("hello", msg)
    assert.is_false(binary)
    ws:send("\0\1\2\255")
    msg, binary = ws:receive()
    assert.are.equal("\0\1\2\255", msg)
    assert.is_true(binary)
    local big = peer.pattern(3, 4 * MiB)
    ws:send(big)
    msg = ws:receive()
    assert.is_true(msg == big)
    ws:send("close 4001", true)
    assert.are.equal(4001, ws:wait())
  end)

  it("gives the server the client's close code", function()
    seen.ws_closed = nil
    local ws = websocket.connect("ws://127.0.0.1:" .. port .. "/ws")
    ws:send("x")
    ws:receive()
    ws:close(4002, "client done")
    ws:wait()
    local t0 = oc.now()
    while not seen.ws_closed and oc.now() - t0 < 2 do oc.sleep(0.01) end
    assert.are.same({ code = 4002, reason = "client done" }, seen.ws_closed)
  end)

  it("loses nothing to a slow server-side reader and queues little", function()
    local ws = websocket.connect("ws://127.0.0.1:" .. port .. "/ws-slow")
    local size, n = 128 * 1024, SANITIZED and 32 or 96
    for i = 0, n - 1 do ws:send(peer.pattern(i * size, size)) end
    ws:send("end", true)
    local doc = cjson.decode((ws:receive()))
    assert.are.same({ messages = n, bytes = n * size, pattern_ok = true },
      { messages = doc.messages, bytes = doc.bytes, pattern_ok = doc.pattern_ok })
    -- reading stops past 1 MiB queued: what waits stays near that
    assert.is_true(doc.max_queued < 2 * MiB, "queued " .. doc.max_queued)
    ws:wait()
  end)

  it("refuses an upgrade with a plain HTTP answer", function()
    local ok, err = pcall(websocket.connect, "ws://127.0.0.1:" .. port .. "/ws-refuse")
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.SandboxError), tostring(err))
    local out = raw("GET /ws-refuse HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      .. "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert.matches("^HTTP/1.1 404 Not Found\r\n", out)
    assert.matches("\r\nConnection: close\r\n", out)
    assert.matches('{"error":"no such session"}$', out)
  end)

  it("accepts clients with and without a subprotocol, echoing the first offered", function()
    local head = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      .. "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    local out = raw(head .. "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n", 0.3)
    assert.matches("^HTTP/1.1 101 Switching Protocols\r\n", out)
    assert.matches("\r\nSec%-WebSocket%-Accept: s3pPLMBiTxaQ9kYGzzhZRbK%+xOo=\r\n", out)
    assert.matches("\r\nSec%-WebSocket%-Protocol: chat\r\n", out)
    out = raw(head .. "\r\n", 0.3)
    assert.matches("^HTTP/1.1 101 Switching Protocols\r\n", out)
    assert.is_nil(out:find("Sec-WebSocket-Protocol", 1, true))
  end)

  it("refuses a handshake without Sec-WebSocket-Key with 400; accept_websocket() gives nil", function()
    seen.ws_error, seen.ws_refused = nil, nil
    local out, secs = raw("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      .. "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert.matches("^HTTP/1.1 400 Bad Request\r\n", out)
    assert.matches("\r\nConnection: close\r\n", out)
    assert.matches('{"error":"a WebSocket handshake needs one Sec%-WebSocket%-Key: 16 bytes in base64"}$', out)
    assert.is_true(secs < 2)
    assert.is_nil(seen.ws_error)
    assert.is_true(seen.ws_refused)
  end)

  it("answers a Sec-WebSocket-Version other than 13 with 426 naming 13", function()
    local out = raw("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      .. "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
      .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert.matches("^HTTP/1.1 426 ", out)
    assert.matches("\r\nSec%-WebSocket%-Version: 13\r\n", out)
    assert.matches("\r\nUpgrade: websocket\r\n", out)
  end)

  it("takes a message and a close sent with the handshake, answering the close", function()
    seen.ws_error, seen.ws_closed = nil, nil
    -- "hello" masked with 01 02 03 04, then close 1000 "ok" masked alike
    local out = raw("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      .. "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
      .. "\x81\x85\1\2\3\4igohn" .. "\x88\x84\1\2\3\4\2\234lo", 1)
    assert.matches("^HTTP/1.1 101 Switching Protocols\r\n", out)
    -- the close is answered at once, with its code; a message after
    -- our close frame may not be sent (RFC 6455 5.5.1)
    local frames = out:match("\r\n\r\n(.*)$")
    assert.matches("^\x88[\2-\125]\3\232", frames)
    assert.is_nil(seen.ws_error)
    assert.are.equal("hello", seen.ws_msg)
    assert.are.same({ code = 1000, reason = "ok" }, seen.ws_closed)
  end)
end)

describe("srv:close()", function()
  it("ends a waiting accept() with nil and stops counting the server", function()
    local before = core.pending()
    local s = core.http_listen("127.0.0.1", 0)
    assert.are.equal(before + 1, core.pending())
    local t = oc.spawn(function() return s:accept() end)
    oc.sleep(0.01)
    s:close()
    assert.is_nil(t:wait())
    assert.is_nil(s:accept())
    assert.are.equal(before, core.pending())
    local ok, err = pcall(http.request, "GET", "http://127.0.0.1:" .. s:port() .. "/")
    assert.is_false(ok)
    assert.matches("cannot connect", err.message)
  end)

  it("lets a request in flight finish, then closes its connection", function()
    local s = core.http_listen("127.0.0.1", 0)
    local started = false
    local loop = oc.spawn(function()
      local req = s:accept()
      started = true
      oc.sleep(0.1)
      req:respond(200, {}, "late")
      return s:accept()
    end)
    local t = oc.spawn(function()
      return http.request("GET", "http://127.0.0.1:" .. s:port() .. "/")
    end)
    while not started do oc.sleep(0.005) end
    s:close()
    local res = t:wait()
    assert.are.equal("late", res.body)
    assert.are.equal("close", res.headers.connection)
    assert.is_nil(loop:wait())
  end)
end)

describe("core.http_listen timeouts and connection cap", function()
  local s, p
  setup(function()
    s = core.http_listen("127.0.0.1", 0, { header_timeout = 0.5,
      idle_timeout = 1, body_timeout = 0.5, send_timeout = 0.5,
      max_connections = 50 })
    p = s:port()
    serve(s)
  end)
  teardown(function() s:close() end)

  it("refuses bad options", function()
    for _, opts in ipairs({ { idle_timeout = -1 }, { header_timeout = "x" },
      { send_timeout = -1 },
      { max_connections = 0 }, { max_connections = 1.5 } }) do
      local ok, err = pcall(core.http_listen, "127.0.0.1", 0, opts)
      assert.is_false(ok)
      assert.matches("http_listen: [%w_]+ must be", err)
    end
  end)

  it("closes a connection that sends nothing after the idle timeout, without an answer", function()
    local out, secs = raw("", 5, p)
    assert.are.equal("", out)
    assert.is_true(secs > 0.8 and secs < 3, secs .. " s")
  end)

  it("answers 408 to a head not complete within the header timeout, and closes", function()
    local before = served
    local out, secs = raw("GET /fixed HTTP/1.1\r\nHost: x\r\n", 5, p)
    assert.matches("^HTTP/1.1 408 Request Timeout\r\n", out)
    assert.matches("\r\nConnection: close\r\n", out)
    assert.matches('{"error":"request head not complete[^"]*"}$', out)
    assert.is_true(secs > 0.4 and secs < 3, secs .. " s")
    assert.are.equal(before, served)
  end)

  it("answers 408 to a body that stalls, and read() raises", function()
    seen.truncated = nil
    local out, secs = raw("PUT /truncated HTTP/1.1\r\nHost: x\r\n"
      .. "Content-Length: 100\r\n\r\n0123456789", 5, p)
    assert.matches("^HTTP/1.1 408 Request Timeout\r\n", out)
    assert.is_true(secs > 0.4 and secs < 3, secs .. " s")
    local t0 = oc.now()
    while not seen.truncated and oc.now() - t0 < 2 do oc.sleep(0.01) end
    assert.is_false(seen.truncated.ok)
    assert.matches("request body timed out", seen.truncated.err)
  end)

  it("counts chunk-size lines, extensions and trailers as body progress", function()
    -- 13 bytes of framing, one every 0.25 s: over 3 s, each within the
    -- 0.5 s body timeout
    local out = run({ "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" .. p
      .. [[; printf 'PUT /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n]]
      .. [[Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n' >&3; ]]
      .. [[for c in 0 ';' e '\r' '\n' X : ' ' 1 '\r' '\n' '\r' '\n'; do ]]
      .. [[printf "$c" >&3; sleep 0.25; done; timeout 3 cat <&3]] })
    assert.matches("^HTTP/1.1 200 OK\r\n", out)
    assert.matches('"body":"abc"', out)
  end)

  it("closes a connection whose client takes none of a response for the send timeout", function()
    local proc = core.process_spawn({ "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"
      .. p .. [[; printf 'GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n' >&3; sleep 10]] })
    local t0 = oc.now()
    while not seen.stuck and oc.now() - t0 < 5 do oc.sleep(0.05) end
    proc:kill()
    proc:wait()
    assert.is_table(seen.stuck, "the response still waits for the client")
    assert.is_false(seen.stuck.ok)
    assert.matches("client closed the connection", seen.stuck.err)
    assert.is_true(seen.stuck.secs > 0.4 and seen.stuck.secs < 3,
      seen.stuck.secs .. " s")
  end)

  it("answers 503 with Retry-After past max_connections, and serves once idle ones go", function()
    -- 60 connections that send nothing, then (once `go` exists) 240
    -- more: the 60th reads its answer; the 300th, past a quarter more
    -- than the cap, too, though it was closed at once
    local go = os.tmpname()
    os.remove(go)
    local open = "exec {fd}<>/dev/tcp/127.0.0.1/" .. p .. " || exit 1; fds+=($fd)"
    local proc = core.process_spawn({ "bash", "-c", "fds=(); for i in "
      .. "$(seq 60); do " .. open .. "; done; echo opened; while [ ! -e "
      .. go .. " ]; do sleep 0.01; done; for i in $(seq 240); do " .. open
      .. '; done; timeout 3 cat <&${fds[59]}; echo; echo "last: '
      .. '$(timeout 3 head -1 <&${fds[299]})"; sleep 2' })
    assert.are.equal("opened", proc:read_line())
    local res = http.request("GET", "http://127.0.0.1:" .. p .. "/fixed",
      { raise = false })
    assert.are.equal(503, res.status)
    assert.are.equal("1", res.headers["retry-after"])
    assert.are.equal("close", res.headers.connection)
    assert.matches("too many connections", res.body)
    assert(io.open(go, "w")):close()
    finally(function() os.remove(go) end)
    assert.are.equal("HTTP/1.1 503 Service Unavailable\r", proc:read_line())
    local line
    repeat line = proc:read_line() until not line or line:match("^last: ")
    assert.are.equal("last: HTTP/1.1 503 Service Unavailable\r", line)
    -- the idle ones are closed after 1 s, the refused ones sooner (until
    -- then a new one is refused, or closed unanswered)
    local t0 = oc.now()
    repeat
      oc.sleep(0.1)
      local ok, r = pcall(http.request, "GET", "http://127.0.0.1:" .. p
        .. "/fixed", { raise = false })
      res = ok and r or { status = 0 }
    until res.status == 200 or oc.now() - t0 > 5
    assert.are.equal(200, res.status)
    assert.is_true(oc.now() - t0 < 3, (oc.now() - t0) .. " s")
    proc:kill()
    proc:wait()
  end)

  it("answers 503, not a reset, to every request sent on a connection over the cap", function()
    -- cap 2: 2 idle connections, then 20 that each send a whole request
    -- while this process (the server's loop) sleeps, so that each request
    -- is there before its connection is accepted: the first 8 get the
    -- lingering 503, the rest (past 2 + 2/4 + 8) the one closed at once
    local s2 = core.http_listen("127.0.0.1", 0, { max_connections = 2 })
    serve(s2)
    local go = os.tmpname()
    os.remove(go)
    finally(function() os.remove(go); s2:close() end)
    local open = "exec {fd}<>/dev/tcp/127.0.0.1/" .. s2:port()
      .. " || exit 1; fds+=($fd)"
    local proc = core.process_spawn({ "bash", "-c", "fds=(); for i in 1 2; do "
      .. open .. "; done; echo opened; while [ ! -e " .. go .. " ]; do sleep "
      .. "0.01; done; for i in $(seq 20); do " .. open .. [[; printf ]]
      .. [['GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n' >&$fd; done; ]]
      .. [[for i in $(seq 2 21); do echo "$(timeout 3 head -1 <&${fds[$i]})"; ]]
      .. "done" })
    assert.are.equal("opened", proc:read_line())
    oc.sleep(0.3)		-- the 2 are accepted
    assert(io.open(go, "w")):close()
    os.execute("sleep 1")	-- blocks the loop: the 20 wait to be accepted
    for i = 1, 20 do
      assert.are.equal("HTTP/1.1 503 Service Unavailable\r", proc:read_line(),
        "connection " .. i)
    end
    proc:wait()
  end)

  it("serves with 300 idle connections open under the default cap", function()
    start()
    local proc = core.process_spawn({ "bash", "-c", "fds=(); for i in "
      .. "$(seq 300); do exec {fd}<>/dev/tcp/127.0.0.1/" .. port .. " || exit 1;"
      .. " fds+=($fd); done; echo opened; sleep 5" })
    assert.are.equal("opened", proc:read_line())
    assert.are.equal(200, http.request("GET", base .. "/fixed").status)
    proc:kill()
    proc:wait()
    stop()
  end)
end)
