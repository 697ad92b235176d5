-- spec/preview_spec.lua - preview URLs (protocol.md 8.8, previewAuth of
-- 2.2): the routes, the proxy at <id>-p<port>.localhost:<server port>
-- (lua/opencomputer/server/preview.lua, src/server/tunnel.c,
-- src/sandbox/netns.c) and the SDK's methods (sdk/preview.lua). A small
-- Python web app (spec/support/preview_app.py, standard library only)
-- runs in the sandboxes; the HTTP client reaches its preview URLs by
-- name (libcurl resolves every *.localhost name to the loopback, as
-- browsers do, RFC 6761 6.3).

local oc = require("opencomputer")
local http = require("opencomputer.client.http")
local websocket = require("opencomputer.client.websocket")
local json = require("opencomputer.runtime.json")
local support = require("spec.support.server")
local sdk = require("spec.support.sdk")

local c = support.shared()

local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local RFC3339 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"
local APP = assert(io.open("spec/support/preview_app.py")):read("a")
local PERIOD = 251

-- the server's port, as preview host names carry it
local function server_port(client)
  return tonumber((client or c).url:match(":(%d+)$"))
end

local function sandbox(body, client)
  local b = body or {}
  b.timeout = b.timeout or 0
  return (client or c):create(b)
end

-- POST .../preview with `body`: status and the answer
local function create(id, body, client)
  return (client or c):api("POST", "/sandboxes/" .. id .. "/preview",
    { body = body })
end

-- a preview of `port` (made), its URL
local function preview(id, port, client)
  local status, doc = create(id, { port = port }, client)
  assert(status == 201 or status == 200, "preview: " .. status .. " "
    .. json.encode(doc or {}))
  return "http://" .. doc.hostname .. "/", doc
end

-- GET `url` (nothing raised for an error status); the response
local function get(url, headers, opts)
  local o = { raise = false, headers = headers, timeout = 60 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return http.request(o.method or "GET", url, o)
end

-- GET `url` (a fresh connection each time) until it answers 200, at most
-- 10 s; the response
local function get_ok(url, headers)
  local h = { Connection = "close" }
  for k, v in pairs(headers or {}) do h[k] = v end
  local t0 = oc.now()
  while true do
    local res = get(url, h)
    if res.status == 200 then return res end
    assert(oc.now() - t0 < 10, "no 200 from " .. url .. ": " .. res.status)
    oc.sleep(0.05)
  end
end

-- wait until sandbox `id` is `status`, at most 10 s; its object
local function status_of(id, status)
  local t0 = oc.now()
  while true do
    local _, doc = c:api("GET", "/sandboxes/" .. id)
    if doc.status == status or oc.now() - t0 > 10 then
      assert.are.equal(status, doc.status)
      return doc
    end
    oc.sleep(0.2)
  end
end

-- WebSocket `ws` must be closed (by the server) within 5 s
local function closed_soon(ws)
  local t0 = oc.now()
  while ws:is_open() and oc.now() - t0 < 5 do oc.sleep(0.02) end
  assert.is_false(ws:is_open())
end

-- the app (spec/support/preview_app.py) started in sandbox `id` on
-- `port`, answering through its preview URL; the URL
local function start_app(id, port, client, headers)
  client = client or c
  local status = client:api("PUT", "/sandboxes/" .. id .. "/files", {
    query = "path=/home/sandbox/app.py", raw = APP,
    headers = { ["Content-Type"] = "application/octet-stream" } })
  assert(status == 200 or status == 204, "upload app: " .. status)
  -- in the background of a command that ends: no session keeps the
  -- sandbox from idling
  local doc
  status, doc = client:api("POST", "/sandboxes/" .. id .. "/exec/run", { body = {
    cmd = "nohup python3 /home/sandbox/app.py " .. port
      .. " >/dev/null 2>&1 &" } })
  assert(status == 200 and doc.exitCode == 0, "start app: " .. status)
  local url = preview(id, port, client)
  get_ok(url .. "head", headers)
  return url
end

-- the pattern byte(i) = i % 251 from position `offset`, `n` bytes
local BLOCK = {}
for i = 0, PERIOD - 1 do BLOCK[#BLOCK + 1] = string.char(i) end
BLOCK = string.rep(table.concat(BLOCK), 300)
local function pattern(offset, n)
  local out, start = {}, offset % PERIOD
  while n > 0 do
    local piece = BLOCK:sub(start + 1, start + n)
    out[#out + 1] = piece
    n = n - #piece
    start = 0
  end
  return table.concat(out)
end

describe("preview routes (protocol.md 8.8)", function()
  it("create a preview: 201 with the object of 8.8, 200 with the same one again", function()
    local id = sandbox()
    local status, doc = create(id, { port = 3000, authConfig = { mode = "x", n = { 1, 2 } } })
    assert.are.equal(201, status)
    assert.matches(UUID4, doc.id)
    assert.are.equal(id, doc.sandboxId)
    assert.are.equal("", doc.orgId)
    assert.are.equal(id .. "-p3000.localhost:" .. server_port(), doc.hostname)
    assert.are.equal(3000, doc.port)
    assert.are.equal("active", doc.sslStatus)
    assert.are.same({ mode = "x", n = { 1, 2 } }, doc.authConfig)
    assert.matches(RFC3339, doc.createdAt)
    local again_status, again = create(id, { port = 3000, authConfig = { other = true } })
    assert.are.equal(200, again_status)
    assert.are.same(doc, again)
    local _, plain = create(id, { port = 80 })
    assert.are.same({}, plain.authConfig)
    assert.are.equal("{}", json.encode(plain.authConfig))
  end)

  it("list them by port; delete one: 204, then 404; a bad port is 400", function()
    local id = sandbox()
    for _, port in ipairs({ 8080, 22, 65535, 1 }) do create(id, { port = port }) end
    local status, list = c:api("GET", "/sandboxes/" .. id .. "/preview")
    assert.are.equal(200, status)
    local ports = {}
    for i, p in ipairs(list) do ports[i] = p.port end
    assert.are.same({ 1, 22, 8080, 65535 }, ports)
    status = c:api("DELETE", "/sandboxes/" .. id .. "/preview/22")
    assert.are.equal(204, status)
    local doc
    status, doc = c:api("DELETE", "/sandboxes/" .. id .. "/preview/22")
    assert.are.equal(404, status)
    assert.are.equal("no preview URL for this port", doc.error)
    for _, bad in ipairs({ "abc", "0", "65536", "-1", "1.5", "1e3", "123456" }) do
      status, doc = c:api("DELETE", "/sandboxes/" .. id .. "/preview/" .. bad)
      assert.are.equal(400, status, bad)
      assert.are.equal("invalid port", doc.error)
    end
    status, list = c:api("GET", "/sandboxes/" .. id .. "/preview")
    assert.are.equal(3, #list)
    local empty = sandbox()
    local _, res
    status, _, res = c:api("GET", "/sandboxes/" .. empty .. "/preview")
    assert.are.equal(200, status)
    assert.are.equal("[]", res.body)
  end)

  it("refuse an unknown or hibernated sandbox, a bad port and a domain not the server's", function()
    local status, doc = create("sb-00000000", { port = 3000 })
    assert.are.equal(400, status)
    assert.are.equal("sandbox is not running or not found", doc.error)
    local id = sandbox()
    for _, bad in ipairs({ 0, 65536, -5, 1.5, "80" }) do
      status, doc = create(id, { port = bad })
      assert.are.equal(400, status)
      assert.matches("port must be an integer from 1 to 65535", doc.error)
    end
    status, doc = create(id, {})
    assert.are.equal(400, status)
    assert.are.equal("port is required", doc.error)
    status, doc = create(id, { port = 3000, domain = "example.com" })
    assert.are.equal(400, status)
    assert.matches("not a verified custom domain", doc.error)
    for _, own in ipairs({ "localhost", "localhost:" .. server_port() }) do
      status, doc = create(id, { port = 3001, domain = own })
      assert.is_truthy(status == 201 or status == 200, status)
      assert.is_nil(doc.customHostname)
    end
    status = c:api("POST", "/sandboxes/" .. id .. "/hibernate")
    assert.are.equal(200, status)
    status, doc = create(id, { port = 3002 })
    assert.are.equal(400, status)
    assert.are.equal("sandbox is not running or not found", doc.error)
    status, doc = c:api("GET", "/sandboxes/" .. id .. "/preview")
    assert.are.equal(1, #doc)	-- hibernated: still listed, and served
    status, doc = c:api("GET", "/sandboxes/sb-00000000/preview")
    assert.are.equal(404, status)
    status = c:api("DELETE", "/sandboxes/sb-00000000/preview/80")
    assert.are.equal(404, status)
  end)

  it("give sandboxDomain, so that the official SDKs build the same host names", function()
    local status, doc = c:api("POST", "/sandboxes", { body = { timeout = 0 } })
    assert.are.equal(201, status)
    assert.are.equal("localhost:" .. server_port(), doc.sandboxDomain)
    assert.is_nil(doc.previewAuthToken)
    local _, got = c:api("GET", "/sandboxes/" .. doc.sandboxID)
    assert.are.equal(doc.sandboxDomain, got.sandboxDomain)
    local _, p = create(doc.sandboxID, { port = 5173 })
    -- TypeScript SDK 0.12.4: `${sandboxId}-p${port}.${sandboxDomain}`
    assert.are.equal(doc.sandboxID .. "-p5173." .. doc.sandboxDomain, p.hostname)
  end)

  it("previewAuth on create: a token made (43 characters of base64url) or given; bad ones refused", function()
    local status, doc = c:api("POST", "/sandboxes", { body = { timeout = 0,
      previewAuth = { scheme = "bearer", token = "auto" } } })
    assert.are.equal(201, status)
    assert.matches("^[%w_%-]+$", doc.previewAuthToken)
    assert.are.equal(43, #doc.previewAuthToken)
    local _, got = c:api("GET", "/sandboxes/" .. doc.sandboxID)
    assert.is_nil(got.previewAuthToken)	-- only once
    status, doc = c:api("POST", "/sandboxes", { body = { timeout = 0,
      previewAuth = {} } })
    assert.are.equal(43, #doc.previewAuthToken)
    status, doc = c:api("POST", "/sandboxes", { body = { timeout = 0,
      previewAuth = { token = "my-own-token-of-16+" } } })
    assert.are.equal(201, status)
    assert.are.equal("my-own-token-of-16+", doc.previewAuthToken)
    for _, bad in ipairs({
      { { scheme = "basic" }, "previewAuth.scheme must be one of" },
      { { token = "short" }, "previewAuth.token must be \"auto\" or 16" },
      { { token = "sixteen chars yes" }, "no spaces" },
      { { token = 12345678901234567 }, "previewAuth.token must be a string" },
      { "bearer", "previewAuth must be an object" },
    }) do
      status, doc = c:api("POST", "/sandboxes", { body = { previewAuth = bad[1] } })
      assert.are.equal(400, status)
      assert.is_truthy(doc.error:find(bad[2], 1, true), doc.error)
    end
  end)

  it("rotate the token: 200 {previewAuthToken, scheme}, each one new; 404 for an unknown sandbox", function()
    local id = sandbox()
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/preview/rotate")
    assert.are.equal(200, status)
    assert.are.equal("bearer", doc.scheme)
    assert.are.equal(43, #doc.previewAuthToken)
    local _, again = c:api("POST", "/sandboxes/" .. id .. "/preview/rotate")
    assert.are_not.equal(doc.previewAuthToken, again.previewAuthToken)
    status = c:api("POST", "/sandboxes/sb-00000000/preview/rotate")
    assert.are.equal(404, status)
  end)
end)

describe("the preview proxy", function()
  local id, url, port
  setup(function()
    id = sandbox()
    port = 8000
    url = start_app(id, port)
  end)

  it("serves the app at its preview URL, by name or by Host header, with no API key", function()
    local res = get(url)
    assert.are.equal(200, res.status)
    assert.matches("Hello from the sandbox", res.body)
    assert.matches("^text/html", res.headers["content-type"])
    -- the same through 127.0.0.1 with the preview's Host (closed after:
    -- libcurl would reuse the connection, now the app's, for 127.0.0.1)
    res = get("http://127.0.0.1:" .. server_port() .. "/head",
      { Host = id .. "-p" .. port .. ".localhost:" .. server_port(),
        Connection = "close" })
    assert.are.equal(200, res.status)
    assert.matches("^GET /head HTTP/1.1\r\n", res.body)
    -- the app sees the request as sent: its Host, the query, our header
    res = get(url .. "head?a=1&b=%2F", { ["X-Mine"] = "yes" })
    assert.matches("^GET /head%?a=1&b=%%2F HTTP/1.1\r\n", res.body)
    -- (Python's http.server gives the fields with \n line ends)
    assert.matches("\n[Hh]ost: " .. id:gsub("%-", "%%-") .. "%-p8000%.localhost:"
      .. server_port() .. "\r?\n", res.body)
    assert.matches("\n[Xx]%-[Mm]ine: yes\r?\n", res.body)
    -- the API is not served on a preview host: its paths are the app's
    res = get(url .. "api/sandboxes", { ["X-API-Key"] = support.KEY })
    assert.are.equal(404, res.status)
    assert.are.equal("not here\n", res.body)
  end)

  it("keeps a connection alive across requests, and passes chunked bodies both ways", function()
    for i = 1, 5 do
      local res = get(url .. "big?n=" .. (1000 * i))
      assert.are.equal(200, res.status)
      assert.are.equal(pattern(0, 1000 * i), res.body)
    end
    local res = get(url .. "chunked?n=300000")
    assert.are.equal(200, res.status)
    assert.are.equal(300000, #res.body)
    assert.are.equal(pattern(0, 300000), res.body)
    -- a chunked upload (no length: libcurl sends it chunked)
    local sent, n = 0, 3 * 1024 * 1024 + 17
    res = get(url .. "count", { ["Content-Type"] = "application/octet-stream" },
      { method = "POST", body = function()
        if sent >= n then return nil end
        local piece = pattern(sent, math.min(100000, n - sent))
        sent = sent + #piece
        return piece
      end })
    assert.are.equal(200, res.status)
    assert.are.same({ bytes = n, pattern = true }, json.decode(res.body))
    -- and one with a Content-Length
    res = get(url .. "count", nil, { method = "POST", body = pattern(0, 70000) })
    assert.are.same({ bytes = 70000, pattern = true }, json.decode(res.body))
  end)

  it("re-frames a chunked body whose first bytes came with the head, whatever the split", function()
    -- raw requests from inside a sandbox on the host's loopback would
    -- need --allow-host-loopback: a host process writes them instead
    local host = id .. "-p" .. port .. ".localhost:" .. server_port()
    local body = pattern(0, 40)
    local chunked = "5\r\n" .. body:sub(1, 5) .. "\r\n1e;ext=1\r\n"
      .. body:sub(6, 35) .. "\r\n5\r\n" .. body:sub(36, 40) .. "\r\n0\r\nTr: x\r\n\r\n"
    local head = "POST /count HTTP/1.1\r\nHost: " .. host
      .. "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    -- cut at every point of the body: the proxy sees some of it with the
    -- head (parsed, re-framed), the rest raw
    local cuts = {}
    for cut = 0, #chunked do cuts[#cuts + 1] = cut end
    local script = [[
import socket, sys, time
port, head, body = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
for cut in range(len(body) + 1):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head + body[:cut])
    time.sleep(0.01)
    s.sendall(body[cut:])
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    print(cut, out.split(b"\r\n\r\n", 1)[1].decode())
]]
    local function hex(b) return (b:gsub(".", function(ch)
      return string.format("%02x", ch:byte()) end)) end
    local out = support.output({ "python3", "-c", script,
      tostring(server_port()), hex(head), hex(chunked) })
    local n = 0
    for line in out:gmatch("[^\n]+") do
      n = n + 1
      local cut, doc = line:match("^(%d+) (.*)$")
      assert.are.same({ bytes = 40, pattern = true }, json.decode(doc), "cut at " .. cut)
    end
    assert.are.equal(#cuts, n)
  end)

  it("upgrades to a WebSocket through the proxy and echoes both ways", function()
    local got = {}
    local ws = websocket.connect(url:gsub("^http", "ws") .. "ws", {
      on_message = function(msg) got[#got + 1] = msg end })
    ws:send("hello")
    ws:send(string.rep("z", 70000))
    local t0 = oc.now()
    while #got < 2 and oc.now() - t0 < 10 do oc.sleep(0.02) end
    assert.are.same({ "hello", string.rep("z", 70000) }, got)
    ws:close()
  end)

  it("answers a page: 502 when nothing listens, 404 for a port without a preview", function()
    local none = preview(id, 9999)
    local res = get(none)
    assert.are.equal(502, res.status)
    assert.matches("^text/html", res.headers["content-type"])
    assert.matches("Nothing is listening on port 9999", res.body)
    assert.matches("python3 %-m http.server 9999", res.body)
    res = get("http://" .. id .. "-p9998.localhost:" .. server_port() .. "/")
    assert.are.equal(404, res.status)
    assert.matches("^text/html", res.headers["content-type"])
    assert.matches("No preview URL here", res.body)
    res = get("http://sb-00000000-p80.localhost:" .. server_port() .. "/")
    assert.are.equal(404, res.status)
    -- a preview whose port gets a listener later works then
    c:api("POST", "/sandboxes/" .. id .. "/exec", { body = { cmd = "python3",
      args = { "-m", "http.server", "9999", "-d", "/etc" } } })
    assert.are.equal(id .. "\n", get_ok(none .. "hostname").body)
  end)

  it("stops serving a deleted preview, and closes its open connections", function()
    local other = start_app(id, 8001)
    local ws = websocket.connect(other:gsub("^http", "ws") .. "ws")
    ws:send("before")
    assert.are.equal("before", ws:receive())
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. id .. "/preview/8001")))
    closed_soon(ws)
    assert.are.equal(404, get(other).status)
  end)
end)

describe("the preview token", function()
  local id, url, token
  setup(function()
    local status, doc = c:api("POST", "/sandboxes", { body = { timeout = 0,
      previewAuth = { scheme = "bearer" } } })
    assert(status == 201)
    id, token = doc.sandboxID, doc.previewAuthToken
    url = start_app(id, 8000, nil, { Authorization = "Bearer " .. token })
  end)

  it("is required: 401 without it or with another; 200 with Authorization or X-OC-Preview-Token", function()
    local res = get(url .. "head")
    assert.are.equal(401, res.status)
    assert.matches("^text/html", res.headers["content-type"])
    assert.are.equal('Bearer realm="oclua preview"', res.headers["www-authenticate"])
    assert.matches("needs its token", res.body)
    res = get(url .. "head", { Authorization = "Bearer " .. token .. "x" })
    assert.are.equal(401, res.status)
    res = get(url .. "head", { ["X-OC-Preview-Token"] = "wrong-wrong-wrong-wrong" })
    assert.are.equal(401, res.status)
    res = get(url .. "head", { Authorization = "Bearer " .. token, Connection = "close" })
    assert.are.equal(200, res.status)
    res = get(url .. "head", { ["X-OC-Preview-Token"] = token, Connection = "close" })
    assert.are.equal(200, res.status)
    -- a WebSocket too
    local ok = pcall(websocket.connect, url:gsub("^http", "ws") .. "ws")
    assert.is_false(ok)
    local ws = websocket.connect(url:gsub("^http", "ws") .. "ws",
      { headers = { ["X-OC-Preview-Token"] = token } })
    ws:send("with")
    assert.are.equal("with", ws:receive())
    ws:close()
  end)

  it("in the query once: 303 to the URL without it and a cookie that carries it", function()
    local res = get(url .. "head?x=1&oc_preview_token=" .. token .. "&y=2")
    assert.are.equal(303, res.status)
    assert.are.equal("/head?x=1&y=2", res.headers.location)
    local cookie = res.headers["set-cookie"]:match("^(oc_preview_token=[^;]+);")
    assert.matches("HttpOnly", res.headers["set-cookie"])
    assert.matches("SameSite=Lax", res.headers["set-cookie"])
    res = get(url .. "head", { Cookie = "a=b; " .. cookie, Connection = "close" })
    assert.are.equal(200, res.status)
    res = get(url .. "head", { Cookie = "oc_preview_token=d3Jvbmc=" })
    assert.are.equal(401, res.status)
    -- another preview's page may have set one for Domain=localhost: any
    -- one of the cookies of that name that is good is enough
    res = get(url .. "head", { Cookie = "oc_preview_token=d3Jvbmc=; " .. cookie,
      Connection = "close" })
    assert.are.equal(200, res.status)
    res = get(url .. "?oc_preview_token=nope-nope-nope-nope")
    assert.are.equal(401, res.status)
  end)

  it("rotated: the old one stops working at once (its open connections closed), the new one works", function()
    local ws = websocket.connect(url:gsub("^http", "ws") .. "ws",
      { headers = { Authorization = "Bearer " .. token } })
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/preview/rotate")
    assert.are.equal(200, status)
    closed_soon(ws)
    assert.are.equal(401, get(url, { Authorization = "Bearer " .. token }).status)
    assert.are.equal(200, get(url, { Authorization = "Bearer " .. doc.previewAuthToken,
      Connection = "close" }).status)
    token = doc.previewAuthToken
  end)

  it("gates a sandbox made without one once rotated", function()
    local other = sandbox()
    local purl = start_app(other, 8000)
    assert.are.equal(200, get(purl, { Connection = "close" }).status)
    local _, doc = c:api("POST", "/sandboxes/" .. other .. "/preview/rotate")
    assert.are.equal(401, get(purl).status)
    assert.are.equal(200, get(purl, { Authorization = "Bearer " .. doc.previewAuthToken,
      Connection = "close" }).status)
  end)
end)

describe("an open preview connection", function()
  it("keeps the sandbox from idling into hibernation, as an attached client does", function()
    local id = sandbox()
    local url = start_app(id, 8000)
    local ws = websocket.connect(url:gsub("^http", "ws") .. "ws")
    assert.are.equal(204, (c:api("POST", "/sandboxes/" .. id .. "/timeout",
      { body = { timeout = 1 } })))
    oc.sleep(2.5)
    local _, doc = c:api("GET", "/sandboxes/" .. id)
    assert.are.equal("running", doc.status)
    ws:send("still here")
    assert.are.equal("still here", ws:receive())
    ws:close()
    status_of(id, "hibernated")
  end)
end)

describe("a request to a hibernated sandbox's preview", function()
  it("wakes it: a paused one goes on serving where it was", function()
    local id = sandbox()
    local url = start_app(id, 8000)
    assert.are.equal(204, (c:api("POST", "/sandboxes/" .. id .. "/timeout",
      { body = { timeout = 1 } })))
    status_of(id, "hibernated")
    local res = get(url .. "head", { Connection = "close" })
    assert.are.equal(200, res.status)
    local _, doc = c:api("GET", "/sandboxes/" .. id)
    assert.are.equal("running", doc.status)
  end)

  it("wakes it: a deep one boots (its processes were ended: then 502 until the app runs again)", function()
    local id = sandbox()
    local url = start_app(id, 8000)
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. id .. "/hibernate")))
    local res = get(url .. "head", { Connection = "close" })
    assert.are.equal(502, res.status)
    local _, doc = c:api("GET", "/sandboxes/" .. id)
    assert.are.equal("running", doc.status)
    -- and keeps its previews across a deep hibernation
    local _, list = c:api("GET", "/sandboxes/" .. id .. "/preview")
    assert.are.equal(1, #list)
  end)
end)

describe("a large body through the preview proxy", function()
  it("streams 200 MiB each way with the server's memory bounded", function()
    local s = support.process()
    local pid = s.proc:pid()
    local function hwm()	-- the server's peak resident set, KiB
      for line in io.lines("/proc/" .. pid .. "/status") do
        local v = line:match("^VmHWM:%s+(%d+)")
        if v then return tonumber(v) end
      end
    end
    local id = sandbox(nil, s.client)
    local url = start_app(id, 8000, s.client)
    get(url .. "big?n=1000000")	-- warm up
    local before = hwm()
    local n, got, ok = 200 * 1048576, 0, true
    local t0 = oc.now()
    local res = get(url .. "big?n=" .. n, nil, { on_body = function(piece)
      if ok and piece ~= pattern(got, #piece) then ok = false end
      got = got + #piece
    end })
    local down = oc.now() - t0
    assert.are.equal(200, res.status)
    assert.are.equal(n, got)
    assert.is_true(ok, "the bytes arrived changed")
    local sent = 0
    t0 = oc.now()
    res = get(url .. "count", { ["Content-Type"] = "application/octet-stream" },
      { method = "POST", length = n, body = function()
        if sent >= n then return nil end
        local piece = pattern(sent, math.min(65536 * 4, n - sent))
        sent = sent + #piece
        return piece
      end })
    local up = oc.now() - t0
    assert.are.equal(200, res.status)
    assert.are.same({ bytes = n, pattern = true }, json.decode(res.body))
    local grew = hwm() - before
    print(string.format("\n    200 MiB down %.0f MiB/s, up %.0f MiB/s; "
      .. "the server's peak RSS grew %d KiB", 200 / down, 200 / up, grew))
    assert.is_true(grew < 32 * 1024, "the server's peak RSS grew " .. grew .. " KiB")
    s.proc:kill(15)
    s.proc:wait()
  end)
end)

describe("previews after a restart (--data-dir)", function()
  it("are kept, with their token", function()
    local dir = os.tmpname()
    os.remove(dir)
    local s = support.process({ "--data-dir", dir })
    local status, doc = s.client:api("POST", "/sandboxes", { body = { timeout = 0,
      previewAuth = { token = "a-token-kept-over-restarts" } } })
    assert.are.equal(201, status)
    local id = doc.sandboxID
    local _, p = create(id, { port = 8000, authConfig = { k = "v" } }, s.client)
    s.proc:kill(15)
    s.proc:wait()
    s = support.process({ "--data-dir", dir })
    local _, list = s.client:api("GET", "/sandboxes/" .. id .. "/preview")
    assert.are.equal(1, #list)
    assert.are.equal(p.id, list[1].id)
    assert.are.same({ k = "v" }, list[1].authConfig)
    assert.are.equal(id .. "-p8000.localhost:" .. server_port(s.client), list[1].hostname)
    local purl = "http://" .. list[1].hostname .. "/"
    assert.are.equal(401, get(purl).status)
    -- the token passes the gate; the sandbox wakes, nothing listens yet
    assert.are.equal(502, get(purl, { Authorization = "Bearer a-token-kept-over-restarts" }).status)
    s.client:api("DELETE", "/sandboxes/" .. id)
    s.proc:kill(15)
    s.proc:wait()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

describe("the SDK's preview methods", function()
  it("create_preview_url gives the URL to open; list, delete (a 404 is fine)", function()
    local sb <close> = sdk.new_sandbox()
    sb.files:write("/home/sandbox/app.py", APP)
    sb.exec:start("python3 /home/sandbox/app.py 8000")
    local p = sb:create_preview_url(8000, { auth_config = { a = 1 } })
    assert.are.equal("http://" .. sb.sandbox_id .. "-p8000.localhost:"
      .. server_port() .. "/", p.url)
    assert.are.equal(8000, p.port)
    assert.are.equal(sb.sandbox_id, p.sandbox_id)
    assert.are.equal("active", p.ssl_status)
    assert.are.same({ a = 1 }, p.auth_config)
    assert.matches(UUID4, p.id)
    assert.matches("Hello from the sandbox", get_ok(p.url).body)
    assert.are.equal(p.id, sb:create_preview_url(8000).id)
    sb:create_preview_url(3000, { domain = "localhost" })
    local list = sb:list_preview_urls()
    assert.are.equal(2, #list)
    assert.are.equal(3000, list[1].port)
    assert.are.equal(p.url, list[2].url)
    sb:delete_preview_url(3000)
    sb:delete_preview_url(3000)
    assert.are.equal(1, #sb:list_preview_urls())
    sdk.misuse("port must be an integer from 1 to 65535", sb.create_preview_url, sb, 0)
    sdk.misuse("port must be an integer from 1 to 65535", sb.delete_preview_url, sb, "80")
    sdk.misuse("unknown option 'authConfig'", sb.create_preview_url, sb, 80, { authConfig = {} })
    local err = select(2, pcall(sb.create_preview_url, sb, 80, { domain = "example.com" }))
    assert.matches("not a verified custom domain", tostring(err))
  end)

  it("preview_auth on create, rotate_preview_auth_token", function()
    local sb <close> = sdk.new_sandbox({ preview_auth = true })
    assert.are.equal(43, #sb.preview_auth_token)
    local own <close> = sdk.new_sandbox({ preview_auth = "a-token-of-my-own-1" })
    assert.are.equal("a-token-of-my-own-1", own.preview_auth_token)
    local old = sb.preview_auth_token
    local new = sb:rotate_preview_auth_token()
    assert.are.equal(new, sb.preview_auth_token)
    assert.are_not.equal(old, new)
    sdk.misuse("preview_auth must be true", oc.Sandbox.create,
      sdk.conn({ preview_auth = "short" }))
    sdk.misuse("unknown option 'tok'", oc.Sandbox.create,
      sdk.conn({ preview_auth = { tok = "x" } }))
  end)
end)
