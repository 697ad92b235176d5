-- spec/http_spec.lua - the HTTP primitive against the test peer: status
-- codes, headers, large and streamed bodies, keep-alive, failures.

local oc = require("opencomputer")
local http = require("opencomputer.client.http")
local errors = require("opencomputer.sdk.errors")
local peer = require("spec.support.peer")
local cjson = require("cjson")

local rss_kib = require("spec.support.rss")

describe("http.request", function()
  it("returns status, lower-case headers and body", function()
    local res = http.request("GET", peer.http .. "/status/200")
    assert.are.equal(200, res.status)
    assert.are.equal("application/json", res.headers["content-type"])
    assert.are.same({ status = 200 }, cjson.decode(res.body))
  end)

  it("returns 2xx statuses as results", function()
    assert.are.equal(201, http.request("GET", peer.http .. "/status/201").status)
    local res = http.request("GET", peer.http .. "/status/204")
    assert.are.equal(204, res.status)
    assert.are.equal("", res.body)
  end)

  it("sends method, headers, query and body", function()
    local res = http.request("POST", peer.http .. "/echo?a=1&b=x%20y", {
      headers = { ["X-Test"] = "hello", ["Content-Type"] = "text/plain" },
      body = "payload",
    })
    assert.are.equal("POST", res.headers["x-method"])
    assert.are.equal("a=1&b=x%20y", res.headers["x-query"])
    assert.are.equal("hello", res.headers["x-got-test"])
    assert.are.equal("text/plain", res.headers["content-type"])
    assert.are.equal("payload", res.body)
    for _, m in ipairs{ "PUT", "DELETE", "PATCH" } do
      assert.are.equal(m, http.request(m, peer.http .. "/echo").headers["x-method"])
    end
  end)

  it("round-trips a 3 MiB body byte for byte", function()
    local body = peer.pattern(5, 3 * 1024 * 1024)
    local res = http.request("PUT", peer.http .. "/echo", { body = body })
    assert.are.equal(#body, #res.body)
    assert.is_true(res.body == body)
  end)

  it("reads a 32 MiB body whole", function()
    local n = 32 * 1024 * 1024
    local res = http.request("GET", peer.http .. "/bytes?n=" .. n)
    assert.are.equal(n, #res.body)
    assert.is_true(res.body == peer.pattern(0, n))
  end)

  it("streams a response body to on_body, in order", function()
    local n, got, chunks = 64 * 1024 * 1024, 0, 0
    local res = http.request("GET", peer.http .. "/bytes?n=" .. n, {
      on_body = function(chunk)
        assert.is_true(chunk == peer.pattern(got, #chunk), "bytes at " .. got)
        got, chunks = got + #chunk, chunks + 1
      end,
    })
    assert.are.equal(200, res.status)
    assert.is_nil(res.body)
    assert.are.equal(n, got)
    assert.is_true(chunks > 1)
  end)

  it("keeps order when on_body yields between chunks", function()
    local seen = {}
    http.request("GET", peer.http .. "/drip?chunks=5&ms=10&size=3", {
      on_body = function(chunk)
        oc.sleep(0.02)
        seen[#seen + 1] = chunk
      end,
    })
    assert.is_true(table.concat(seen) == peer.pattern(0, 15))
  end)

  it("streams an upload from a function in constant memory", function()
    local chunk_size, n = 256 * 1024, 64 * 1024 * 1024
    local sent = 0
    collectgarbage()
    local before = rss_kib()
    local peak = before
    local res = http.request("PUT", peer.http .. "/sink", {
      body = function()
        if sent >= n then return nil end
        local c = peer.pattern(sent, chunk_size)
        sent = sent + #c
        if sent % (8 * 1024 * 1024) == 0 then
          collectgarbage()
          peak = math.max(peak, rss_kib())
        end
        return c
      end,
    })
    assert.are.same({ length = n, pattern_ok = true }, cjson.decode(res.body))
    -- AddressSanitizer keeps freed memory in quarantine: RSS says nothing
    if os.getenv("OCLUA_SANITIZED") then return end
    assert.is_true(peak - before < 16 * 1024,
      "RSS grew by " .. (peak - before) .. " KiB for a 64 MiB upload")
  end)

  it("sends a streamed upload of known length without chunking", function()
    local parts = { peer.pattern(0, 1000), peer.pattern(1000, 24) }
    local i = 0
    local res = http.request("POST", peer.http .. "/sink", {
      length = 1024,
      body = function() i = i + 1; return parts[i] end,
    })
    assert.are.same({ length = 1024, pattern_ok = true }, cjson.decode(res.body))
  end)

  it("reuses one connection for sequential requests", function()
    http.request("GET", peer.http .. "/status/200")
    for _ = 1, 200 do
      assert.is_true(http.request("GET", peer.http .. "/status/200").reused)
    end
  end)

  it("serves 100 concurrent requests from 100 tasks", function()
    local tasks = {}
    for i = 1, 100 do
      tasks[i] = oc.spawn(function()
        return http.request("POST", peer.http .. "/echo", { body = "n" .. i }).body
      end)
    end
    for i = 1, 100 do assert.are.equal("n" .. i, tasks[i]:wait()) end
  end)
end)

describe("http.request failures", function()
  local function fails(class, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    assert.is_true(errors.is(err, class), "got " .. tostring(err))
    return err
  end

  it("maps statuses to error classes with status and body", function()
    local e = fails(errors.NotFoundError, function()
      http.request("GET", peer.http .. "/no/such/route")
    end)
    assert.are.equal(404, e.status)
    assert.are.equal("not found", e.message)
    assert.matches('"error"', e.body)
    assert.are.equal("NotFoundError: not found (HTTP 404)", tostring(e))
    fails(errors.ConflictError, function() http.request("GET", peer.http .. "/status/409") end)
    fails(errors.AuthError, function() http.request("GET", peer.http .. "/status/401") end)
    fails(errors.AuthError, function() http.request("GET", peer.http .. "/status/403") end)
    e = fails(errors.SandboxError, function() http.request("GET", peer.http .. "/status/500") end)
    assert.are.equal(500, e.status)
  end)

  it("keeps a streamed request's error body for the error, not on_body", function()
    local streamed = 0
    local e = fails(errors.NotFoundError, function()
      http.request("GET", peer.http .. "/no/such/route",
        { on_body = function(c) streamed = streamed + #c end })
    end)
    assert.are.equal(0, streamed)
    assert.are.equal("not found", e.message)
  end)

  it("returns error statuses as results with raise = false", function()
    local res = http.request("GET", peer.http .. "/status/404", { raise = false })
    assert.are.equal(404, res.status)
  end)

  it("raises SandboxError when the connection is refused", function()
    local e = fails(errors.SandboxError, function()
      http.request("GET", "http://127.0.0.1:1/")
    end)
    assert.matches("cannot connect", e.message)
    assert.is_nil(e.status)
  end)

  it("raises TimeoutError when the answer does not come in time", function()
    local t0 = oc.now()
    fails(errors.TimeoutError, function()
      http.request("GET", peer.http .. "/hang", { timeout = 0.2 })
    end)
    local dt = oc.now() - t0
    assert.is_true(dt >= 0.19 and dt < 1, "timed out after " .. dt)
  end)

  it("raises SandboxError when the server drops the connection", function()
    fails(errors.SandboxError, function() http.request("GET", peer.http .. "/close") end)
  end)

  it("lets other tasks run while a request hangs", function()
    local t = oc.spawn(function()
      return pcall(http.request, "GET", peer.http .. "/slow?ms=300", { timeout = 2 })
    end)
    local t0 = oc.now()
    oc.sleep(0.05)
    -- well under the request's 0.3 s: the request did not block this task
    assert.is_true(oc.now() - t0 < 0.25)
    assert.is_true(t:wait())
  end)

  it("passes an error from on_body through and frees the request", function()
    local ok, err = pcall(http.request, "GET", peer.http .. "/bytes?n=10000000", {
      on_body = function() error("stop here", 0) end,
    })
    assert.is_false(ok)
    assert.are.equal("stop here", err)
    collectgarbage()
    assert.are.equal(200, http.request("GET", peer.http .. "/status/200").status)
  end)

  it("checks its arguments", function()
    assert.has_error(function() http.request("GET", peer.http, { body = 42 }) end)
    assert.has_error(function()
      http.request("PUT", peer.http .. "/sink", { body = function() return 42 end })
    end)
    assert.has_error(function()
      http.request("GET", peer.http, { headers = { ["Bad\nName"] = "x" } })
    end)
  end)
end)
