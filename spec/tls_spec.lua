-- spec/tls_spec.lua - https:// (libcurl) and wss:// (libwebsockets), the
-- only ways to the OpenComputer cloud, against the test peer behind a TLS
-- front with a throwaway self-signed certificate (scripts/run-specs.sh).
--
-- The clients read SSL_CERT_FILE when a request starts and when the
-- runtime's wss:// vhost is made (once per runtime), and Lua cannot set
-- the environment: each case runs in a child `oclua` with its own
-- SSL_CERT_FILE. The child's chunk returns a table, printed as JSON.

local cjson = require("cjson")
local run = require("spec.support.run")

local bin = os.getenv("OCLUA_BIN") or "./oclua"
local ca = os.getenv("OCLUA_TEST_CA")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- what every child starts with: the SDK's modules, the peer's byte
-- pattern, and `addr`, the TLS front's host:port
local PRELUDE = [[
local http = require("opencomputer.client.http")
local websocket = require("opencomputer.client.websocket")
local errors = require("opencomputer.sdk.errors")
local peer = require("spec.support.peer")
local addr = os.getenv("OCLUA_TEST_TLS_PEER")
-- what an expected failure raised: its class, and its message
local function failure(fn)
  local ok, err = pcall(fn)
  if ok then return { raised = false } end
  return { raised = true, kind = type(err) == "table" and err.kind or nil,
    sandbox_error = errors.is(err, errors.SandboxError),
    message = tostring(err) }
end
]]

-- Run `chunk` in a child oclua with SSL_CERT_FILE set to `cert_file`
-- (false: unset); returns the table it returned.
local function child(cert_file, chunk)
  if not os.getenv("OCLUA_TEST_TLS_PEER") then
    error("no TLS front for the test peer: " ..
      (os.getenv("OCLUA_TEST_TLS_ERROR")
        or "OCLUA_TEST_TLS_PEER is not set (run the specs with make test)"), 0)
  end
  local path = os.tmpname()
  local h = assert(io.open(path, "w"))
  h:write(PRELUDE, "local result = (function()\n", chunk, "\nend)()\n",
    "io.write(require('cjson').encode(result))\n")
  h:close()
  local env = cert_file and "env SSL_CERT_FILE=" .. q(cert_file)
    or "env -u SSL_CERT_FILE"
  local out, err, code = run(env .. " " .. bin .. " " .. path)
  os.remove(path)
  assert(code == 0, "the child oclua failed (" .. tostring(code) .. "): "
    .. err)
  return cjson.decode(out)
end

describe("TLS with SSL_CERT_FILE naming the peer's certificate", function()
  it("https:// returns status, headers and body on a kept-alive connection", function()
    local r = child(ca, [[
      local a = http.request("GET", "https://" .. addr .. "/status/201")
      local b = http.request("POST", "https://" .. addr .. "/echo?x=1", {
        headers = { ["X-Test"] = "over tls", ["Content-Type"] = "text/plain" },
        body = "payload" })
      local missing = failure(function()
        http.request("GET", "https://" .. addr .. "/no/such/route")
      end)
      return { a_status = a.status, a_body = a.body, b_status = b.status,
        b_body = b.body, b_type = b.headers["content-type"],
        b_test = b.headers["x-got-test"], b_query = b.headers["x-query"],
        b_reused = b.reused, missing = missing }
    ]])
    assert.are.equal(201, r.a_status)
    assert.are.same({ status = 201 }, cjson.decode(r.a_body))
    assert.are.equal(200, r.b_status)
    assert.are.equal("payload", r.b_body)
    assert.are.equal("text/plain", r.b_type)
    assert.are.equal("over tls", r.b_test)
    assert.are.equal("x=1", r.b_query)
    assert.is_true(r.b_reused)
    assert.are.equal("NotFoundError", r.missing.kind)
  end)

  it("https:// round-trips 3 MiB and reads 8 MiB byte for byte", function()
    local r = child(ca, [[
      local up = peer.pattern(5, 3 * 1024 * 1024)
      local echo = http.request("PUT", "https://" .. addr .. "/echo",
        { body = up })
      local n = 8 * 1024 * 1024
      local down = http.request("GET", "https://" .. addr .. "/bytes?n=" .. n)
      return { echo_len = #echo.body, echo_exact = echo.body == up,
        down_len = #down.body, down_exact = down.body == peer.pattern(0, n) }
    ]])
    assert.are.same({ echo_len = 3 * 1024 * 1024, echo_exact = true,
      down_len = 8 * 1024 * 1024, down_exact = true }, r)
  end)

  it("wss:// echoes text and binary messages, one of 3 MiB, and closes cleanly", function()
    local r = child(ca, [[
      -- a ':' in the query: the port is the URL's, not guessed from it
      local ws = websocket.connect("wss://" .. addr .. "/ws/echo?token=a:b")
      local got = {}
      local big_binary = peer.pattern(1, 3 * 1024 * 1024)
      local big_text = ("tls text \u{e9} "):rep(100000)	-- 1.2 MB
      local sent = { { "\0\1\2\255", false }, { "h\u{e9}llo", true },
        { big_binary, false }, { big_text, true } }
      for _, m in ipairs(sent) do
        ws:send(m[1], m[2])
        local msg, binary = ws:receive()
        got[#got + 1] = { exact = msg == m[1], len = #msg,
          binary = binary }
      end
      ws:close()
      local msg, reason = ws:receive()
      return { got = got, after_close = msg == nil,
        reason = reason, is_open = ws:is_open() }
    ]])
    assert.are.same({
      { exact = true, len = 4, binary = true },
      { exact = true, len = 6, binary = false },
      { exact = true, len = 3 * 1024 * 1024, binary = true },
      { exact = true, len = 1200000, binary = false },
    }, r.got)
    assert.is_true(r.after_close)
    assert.are.equal("closed", r.reason)	-- not an error's text
    assert.is_false(r.is_open)
  end)

  it("wss:// reports the peer's close code and reason", function()
    local r = child(ca, [[
      local closed
      local ws = websocket.connect("wss://" .. addr .. "/ws/close?code=4001",
        { on_message = function() end,
          on_close = function(code, reason) closed = { code, reason } end })
      return { code = ws:wait(), reason = ws.close_reason, closed = closed }
    ]])
    assert.are.same({ code = 4001, reason = "bye",
      closed = { 4001, "bye" } }, r)
  end)
end)

describe("TLS to a certificate that is not trusted", function()
  -- SSL_CERT_FILE unset (the system's bundle), or naming an empty file
  local empty = os.tmpname()
  teardown(function() os.remove(empty) end)
  local untrusting = { { "without SSL_CERT_FILE", false },
    { "with SSL_CERT_FILE naming an empty file", empty } }

  local function assert_tls_failure(f)
    assert.is_true(f.raised, "expected an error")
    -- the class of a failed connection (http.lua, websocket.lua)
    assert.are.equal("SandboxError", f.kind, f.message)
    assert.is_true(f.sandbox_error)
    assert.is_truthy(f.message:lower():find("certificate", 1, true),
      "no word of the certificate in: " .. f.message)
  end

  for _, case in ipairs(untrusting) do
    it("https:// fails " .. case[1], function()
      assert_tls_failure(child(case[2], [[
        return failure(function()
          http.request("GET", "https://" .. addr .. "/status/200")
        end)
      ]]))
    end)

    it("wss:// fails " .. case[1], function()
      local f = child(case[2], [[
        return failure(function()
          websocket.connect("wss://" .. addr .. "/ws/echo")
        end)
      ]])
      assert_tls_failure(f)
      assert.matches("TLS", f.message)
    end)
  end

  it("fails for a name the certificate is not for, its CA trusted", function()
    -- the certificate names IP 127.0.0.1 only; localhost is the same peer
    local r = child(ca, [[
      local port = addr:match(":(%d+)$")
      return {
        https = failure(function()
          http.request("GET", "https://localhost:" .. port .. "/status/200")
        end),
        wss = failure(function()
          websocket.connect("wss://localhost:" .. port .. "/ws/echo")
        end),
      }
    ]])
    assert_tls_failure(r.https)
    assert_tls_failure(r.wss)
  end)
end)
