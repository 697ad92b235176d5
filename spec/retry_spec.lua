-- spec/retry_spec.lua - the SDK's retries (client/http.lua, README
-- "Retries") against the test peer's /flaky routes, which answer a
-- status a given number of times and then 200: what is retried, how
-- long it waits (lower bounds only, from Retry-After), the settings.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local http = require("opencomputer.client.http")
local config = require("opencomputer.sdk.config")
local errors = require("opencomputer.sdk.errors")
local peer = require("spec.support.peer")
local cjson = require("cjson")

-- a key no other run of the peer has counted
local serial = 0
local function key()
  serial = serial + 1
  return string.format("k%d-%d-%d", core.getpid and core.getpid() or 0,
    os.time(), serial) .. tostring(math.random(1e6))
end

-- the API URL whose requests the peer fails `fails` times with `status`
-- and Retry-After `after` ("-": none, "dN": an HTTP-date N s ahead)
local function flaky(k, fails, status, after, base)
  return (base or peer.http) .. "/flaky/" .. k .. "/" .. fails .. "/"
    .. status .. "/" .. (after or "-")
end

-- requests the peer at `base` saw for key `k`
local function seen_at(base, k)
  local res = http.request("GET", base .. "/flaky-count/" .. k)
  return cjson.decode(res.body).requests
end

local function seen(k) return seen_at(peer.http, k) end

-- quick retries, for the cases that do not look at the waits
local QUICK = { count = 2, base = 0.01, cap = 0.05 }

local function connect(k, fails, status, after, retries)
  return oc.Sandbox.connect("sb-1", { api_url = flaky(k, fails, status, after),
    retries = retries })
end

describe("retries", function()
  it("rides out 503 twice, then 200, waiting the Retry-After each time", function()
    local k = key()
    local t0 = oc.now()
    local sb = connect(k, 2, 503, "1")
    local took = oc.now() - t0
    assert.are.equal(k, sb.id)
    assert.are.equal(3, seen(k))
    assert.is_true(took >= 1.9, "waited " .. took .. " s, not 2 x 1 s")
  end)

  it("retries a 503 without Retry-After (backoff)", function()
    local k = key()
    assert.are.equal(k, connect(k, 2, 503, "-", QUICK).id)
    assert.are.equal(3, seen(k))
  end)

  it("honours a 429 with an HTTP-date Retry-After", function()
    local k = key()
    local t0 = oc.now()
    assert.are.equal(k, connect(k, 1, 429, "d3").id)
    local took = oc.now() - t0
    assert.are.equal(2, seen(k))
    -- the date has whole seconds: 3 s ahead of the peer's second is at
    -- least 2 s ahead of any moment in it
    assert.is_true(took >= 1.95, "waited " .. took .. " s for a date 3 s ahead")
  end)

  it("reads the three HTTP-date forms and delay-seconds (RFC 9110 5.6.7, 10.2.3)", function()
    local now = 784111777 - 5	-- 1994-11-06 08:49:32 UTC
    assert.are.equal(5, http.retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now))
    assert.are.equal(5, http.retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now))
    assert.are.equal(5, http.retry_after("Sun Nov  6 08:49:37 1994", now))
    assert.are.equal(0, http.retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now))
    assert.are.equal(120, http.retry_after(" 120 ", now))
    assert.is_nil(http.retry_after("soon", now))
    assert.is_nil(http.retry_after("-1", now))
    assert.is_nil(http.retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now))
  end)

  it("retries GET on 502 and 504, never a POST answered 502 or 504", function()
    for _, status in ipairs{ 502, 504 } do
      local k = key()
      assert.are.equal(k, connect(k, 1, status, "-", QUICK).id)
      assert.are.equal(2, seen(k))
      k = key()
      local ok, err = pcall(oc.Sandbox.create, { api_url = flaky(k, 1, status),
        retries = QUICK })
      assert.is_false(ok)
      assert.are.equal(status, err.status)
      assert.are.equal(1, seen(k), "a POST that may have been processed was sent again")
      assert.are.equal(tostring(err):find("attempts"), nil)
    end
  end)

  it("retries a POST answered 429 or 503 (not processed: protocol.md 9.2)", function()
    for _, status in ipairs{ 429, 503 } do
      local k = key()
      local sb = oc.Sandbox.create({ api_url = flaky(k, 2, status),
        retries = QUICK })
      assert.are.equal(k, sb.id)
      assert.are.equal(3, seen(k))
    end
  end)

  it("sends a string body again, never a streamed one once read", function()
    local k = key()
    local res = http.request("PUT", flaky(k, 1, 503), { body = "hello",
      retry = QUICK })
    assert.are.equal(200, res.status)
    assert.are.equal(2, res.attempts)
    assert.are.equal(2, seen(k))
    k = key()
    local parts = { "a", "b" }
    local ok, err = pcall(http.request, "PUT", flaky(k, 1, 503), {
      body = function() return table.remove(parts, 1) end, retry = QUICK })
    assert.is_false(ok)
    assert.are.equal(503, err.status)
    assert.are.equal(1, seen(k))
  end)

  it("retries a refused connection until the server listens", function()
    -- a port that refuses: a peer's, once it has ended
    local function start(port)
      local p = core.process_spawn({ "build/oclua-testpeer", "--port",
        tostring(port) })
      local line = p:read_line()
      return p, tonumber(line and line:match("^PORT (%d+)"))
    end
    local first, port = start(0)
    first:kill(15)
    first:wait()
    local k = key()
    local t0 = oc.now()
    local call = oc.spawn(function()
      return oc.Sandbox.connect("sb-1", {
        api_url = flaky(k, 0, 503, "-", "http://127.0.0.1:" .. port),
        retries = { count = 40, base = 0.05, cap = 0.25 } })
    end)
    oc.sleep(0.3)
    local late = start(port)
    finally(function() late:kill(15); late:wait() end)
    local sb = call:wait()
    assert.are.equal(k, sb.id)
    assert.is_true(oc.now() - t0 >= 0.3)
    assert.are.equal(1, seen_at("http://127.0.0.1:" .. port, k))
  end)

  it("sends a GET again after a lost connection, never a POST that went out", function()
    local function requests()
      return cjson.decode(http.request("GET", peer.http .. "/stats").body)
        .http_requests
    end
    -- by a host name that no connection kept alive was opened to: libcurl
    -- itself sends a request again (once) when a connection it reused
    -- was closed without an answer, whatever the method
    local fresh = "http://localhost:" .. peer.addr:match(":(%d+)$")
    local before = requests()
    local ok, err = pcall(http.request, "GET", fresh .. "/close",
      { retry = QUICK })
    assert.is_false(ok)
    assert.are.equal(3, err.attempts)
    assert.are.equal(before + 3 + 1, requests())
    before = requests()
    ok, err = pcall(http.request, "POST", fresh .. "/close",
      { body = "x", retry = QUICK })
    assert.is_false(ok)
    assert.are.equal(1, err.attempts)
    assert.are.equal(before + 1 + 1, requests())
  end)

  it("tries a WebSocket upgrade refused with 503 again, not one refused with 404", function()
    local websocket = require("opencomputer.client.websocket")
    local k = key()
    local ws = websocket.connect(flaky(k, 2, 503, "-", peer.ws) .. "/ws/echo",
      { retry = QUICK })
    ws:send("hello", true)
    assert.are.equal("hello", ws:receive())
    ws:close()
    ws:wait()
    assert.are.equal(3, seen(k))
    k = key()
    local ok, err = pcall(websocket.connect, flaky(k, 2, 404, "-", peer.ws)
      .. "/ws/echo", { retry = QUICK })
    assert.is_false(ok)
    assert.are.equal(404, err.status)
    assert.are.equal(1, seen(k))
  end)

  it("does not send again what failed for good: a certificate, a bad URL, a name", function()
    local function attempts(url)
      local ok, err = pcall(http.request, "GET", url, { retry = QUICK })
      assert.is_false(ok)
      return err.attempts, tostring(err)
    end
    local tls = os.getenv("OCLUA_TEST_TLS_PEER")
    assert(tls, "no TLS front for the test peer (run with make test)")
    -- (the spec process trusts the system's bundle only: tls_spec.lua)
    local n, msg = attempts("https://" .. tls .. "/status/200")
    assert.are.equal(1, n, msg)
    assert.is_truthy(msg:lower():find("certificate", 1, true), msg)
    assert.are.equal(1, (attempts("http://[::1/x")))
    assert.are.equal(1, (attempts("http://no-such-host.invalid/x")))
    -- while a refused connection is tried again
    assert.are.equal(3, (attempts("http://127.0.0.1:1/x")))
  end)

  it("waits the Retry-After of a refused upgrade, ws:// and wss://", function()
    local websocket = require("opencomputer.client.websocket")
    local k = key()
    local t0 = oc.now()
    local ws = websocket.connect(flaky(k, 2, 503, "1", peer.ws) .. "/ws/echo",
      { retry = { count = 2, base = 0.01, cap = 5 } })
    local took = oc.now() - t0
    ws:close()
    ws:wait()
    assert.are.equal(3, seen(k))
    assert.is_true(took >= 1.9, "waited " .. took .. " s, not 2 x 1 s")
    -- wss:// (libwebsockets) in a child that trusts the TLS front's CA
    local tls = os.getenv("OCLUA_TEST_TLS_PEER")
    assert(tls, "no TLS front for the test peer (run with make test)")
    k = key()
    local script = os.tmpname()
    finally(function() os.remove(script) end)
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
local oc = require("opencomputer")
local websocket = require("opencomputer.client.websocket")
local t0 = oc.now()
local ws = websocket.connect(%q, { retry = { count = 2, base = 0.01, cap = 5 } })
print(string.format("took %%.3f", oc.now() - t0))
ws:send("hi", true)
print("got " .. ws:receive())
ws:close()
]], flaky(k, 1, 503, "2", "wss://" .. tls) .. "/ws/echo"))
    f:close()
    local p = io.popen("SSL_CERT_FILE=" .. os.getenv("OCLUA_TEST_CA") .. " "
      .. (os.getenv("OCLUA_BIN") or "./oclua") .. " " .. script .. " 2>&1")
    local out = p:read("a")
    p:close()
    assert.matches("got hi", out)
    local waited = tonumber(out:match("took ([%d.]+)"))
    assert.is_true(waited and waited >= 1.95, out)
    assert.are.equal(2, seen(k))
  end)

  it("ends with an error naming the attempts and the last status", function()
    local k = key()
    local ok, err = pcall(connect, k, 9, 503, "-", QUICK)
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.SandboxError))
    assert.are.equal(503, err.status)
    assert.are.equal(3, err.attempts)
    assert.matches("%(HTTP 503, 3 attempts%)$", tostring(err))
    assert.are.equal(3, seen(k))
  end)

  it("does not wait past the cap nor past the call's timeout", function()
    local k = key()
    local ok, err = pcall(connect, k, 1, 503, "30")	-- cap 10 s
    assert.is_false(ok)
    assert.are.equal(503, err.status)
    assert.are.equal(1, seen(k))
    k = key()
    ok, err = pcall(http.request, "GET", flaky(k, 1, 503, "2"),
      { retry = config.retry_policy(), timeout = 1 })
    assert.is_false(ok)
    assert.are.equal(1, seen(k))
    -- within the timeout, it waits
    k = key()
    local res = http.request("GET", flaky(k, 1, 503, "1"),
      { retry = config.retry_policy(), timeout = 20 })
    assert.are.equal(200, res.status)
    assert.are.equal(2, seen(k))
  end)

  it("is off per call with retries = 0, and counted per call", function()
    local k = key()
    local ok, err = pcall(connect, k, 2, 503, "-", 0)
    assert.is_false(ok)
    assert.are.equal(503, err.status)
    assert.are.equal(1, seen(k))
    k = key()
    assert.are.equal(k, connect(k, 4, 503, "-",
      { count = 4, base = 0.01, cap = 0.02 }).id)
    assert.are.equal(5, seen(k))
    -- the sandbox's later calls keep the setting
    k = key()
    local sb = connect(k, 0, 503, "-", 0)
    local url = flaky(k, 0, 503)
    assert.are.equal(url .. "/api", sb.client.base)
    assert.are.equal(0, sb.client.retry.count)
  end)

  it("takes oc.configure{retries =}, which a call's own setting overrides", function()
    finally(function() oc.configure{ retries = config.RETRIES } end)
    oc.configure{ retries = { count = 1, base = 0.01, cap = 0.02 } }
    local k = key()
    local ok, err = pcall(connect, k, 5, 503, "-")
    assert.is_false(ok)
    assert.are.equal(2, err.attempts)
    assert.are.equal(2, seen(k))
    k = key()
    assert.are.equal(k, connect(k, 3, 503, "-", 3).id)	-- base and cap kept
    assert.are.equal(4, seen(k))
    oc.configure{ retries = 0 }
    k = key()
    ok = pcall(connect, k, 1, 503, "-")
    assert.is_false(ok)
    assert.are.equal(1, seen(k))
  end)

  it("refuses a bad setting by name, before any request", function()
    local k = key()
    local cases = {
      { -1, "Sandbox.connect: retries must be an integer from 0 to 100" },
      { 1.5, "retries must be an integer" },
      { "3", "got the string \"3\"" },
      { { count = 2, tries = 1 }, "retries has an unknown field the string \"tries\"" },
      { { base = 0 }, "retries.base must be a number of seconds above 0" },
      { { cap = "1" }, "retries.cap must be" },
      { { count = 101 }, "retries.count must be an integer from 0 to 100" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(connect, k, 0, 503, "-", c[1])
      assert.is_false(ok)
      assert.are.equal("string", type(err))
      assert.is_truthy(err:find(c[2], 1, true), err)
      assert.matches("retry_spec.lua:%d+: ", err)	-- the caller's line
    end
    assert.are.equal(0, seen(k))
    for what, f in pairs{
      ["Sandbox.list: retries must be"] = function()
        oc.Sandbox.list{ api_url = flaky(k, 0, 503), retries = -2 } end,
      ["Template.get: retries must be"] = function()
        oc.Template.get("t", { api_url = flaky(k, 0, 503), retries = -1 }) end,
      ["Sandbox.create: retries must be"] = function()
        oc.Sandbox.create{ api_url = flaky(k, 0, 503), retries = true } end,
      ["Snapshot.list: retries.cap must be"] = function()
        oc.Snapshot.list{ api_url = flaky(k, 0, 503), retries = { cap = -1 } } end,
    } do
      local ok, err = pcall(f)
      assert.is_false(ok, what)
      assert.is_truthy(tostring(err):find(what, 1, true), tostring(err))
    end
    assert.are.equal(0, seen(k))
    local ok, err = pcall(function()
      oc.configure{ retries = { count = -1 } }
    end)
    assert.is_false(ok)
    assert.matches("retry_spec.lua:%d+: oc.configure: retries.count must be", err)
    assert.are.equal(2, config.retry_policy().count)	-- as it was
  end)

  it("shows each retry on stderr with OCLUA_CURL_VERBOSE", function()
    local k = key()
    local script = os.tmpname()
    finally(function() os.remove(script) end)
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
local oc = require("opencomputer")
local sb = oc.Sandbox.connect("sb-1", { api_url = %q,
  retries = { count = 3, base = 0.01, cap = 0.02 } })
print("connected " .. sb.id)
]], flaky(k, 2, 503, "-")))
    f:close()
    local p = io.popen("OCLUA_CURL_VERBOSE=1 " .. (os.getenv("OCLUA_BIN")
      or "./oclua") .. " " .. script .. " 2>&1")
    local out = p:read("a")
    p:close()
    local lines = {}
    for l in out:gmatch("oclua: retry [^\n]*") do lines[#lines + 1] = l end
    assert.are.equal(2, #lines, out)
    local url = flaky(k, 2, 503) .. "/api/sandboxes/sb-1"
    for i, l in ipairs(lines) do
      local pre = "oclua: retry GET " .. url .. " after HTTP 503: attempt "
        .. (i + 1) .. " of 4 in "
      assert.are.equal(pre, l:sub(1, #pre))
      assert.matches("in %d+%.%d+s$", l)
    end
    assert.is_truthy(out:find("connected " .. k, 1, true), out)
  end)
end)
