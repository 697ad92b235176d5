-- spec/signed_url_spec.lua - signed file URLs (protocol.md 5.1;
-- lua/opencomputer/server/signed.lua, sdk/signed.lua): made with the key,
-- used without it, streamed, and refused when expired or altered in any
-- part, with 5.1's exact messages and statuses.

local oc = require("opencomputer")
local http = require("opencomputer.client.http")
local json = require("opencomputer.runtime.json")
local support = require("spec.support.server")
local sdk = require("spec.support.sdk")
local rss_kib = require("spec.support.rss")

-- a keyless request to `url`: status, body (opts: method, body, headers)
local function use(url, opts)
  opts = opts or {}
  local res = http.request(opts.method or "GET", url, { body = opts.body,
    headers = opts.headers, raise = false, timeout = 60,
    on_body = opts.on_body })
  return res.status, res.body
end

-- the error message of a JSON answer
local function message(body)
  local doc = body and json.decode(body)
  return doc and doc.error
end

-- `url` with its query parameter `name` set to `value` (nil: removed)
local function with(url, name, value)
  local base, query = url:match("^([^?]*)%?(.*)$")
  local parts = {}
  for kv in query:gmatch("[^&]+") do
    local k = kv:match("^[^=]*")
    if k ~= name then parts[#parts + 1] = kv end
  end
  if value then parts[#parts + 1] = name .. "=" .. value end
  return base .. "?" .. table.concat(parts, "&")
end

-- `s` with the first `old` (plain text) replaced by `new`
local function replace(s, old, new)
  local i, j = s:find(old, 1, true)
  assert(i, old .. " not in " .. s)
  return s:sub(1, i - 1) .. new .. s:sub(j + 1)
end

local function param(url, name)
  return url:match("[?&]" .. name .. "=([^&]*)")
end

describe("signed URLs", function()
  local sb, api, base

  setup(function()
    sb = sdk.new_sandbox()
    api = support.shared()
    base = api.url
  end)
  teardown(function() if sb then sb:kill() end end)

  it("download a file without the key, as a normal read does", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local content = table.concat(bytes):rep(3)
    sb.files:write("/home/sandbox/dir with space/f+ü.bin", content)
    local url, expires_at = sb:download_url("/home/sandbox/dir with space/f+ü.bin")
    assert.are.equal(base .. "/api/sandboxes/" .. sb.id .. "/files/download?"
      .. "path=%2Fhome%2Fsandbox%2Fdir+with+space%2Ff%2B%C3%BC.bin&expires=",
      url:match("^(.-expires=)"))
    assert.matches("&signature=" .. ("%x"):rep(64) .. "$", url)
    assert.is_nil(url:find("%u%x*$"))	-- lower-case hex
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", expires_at)
    assert.are.equal(os.date("!%Y-%m-%dT%H:%M:%SZ", tonumber(param(url, "expires"))),
      expires_at)
    local status, body = use(url)
    assert.are.equal(200, status)
    assert.is_true(body == content, "the bytes differ")
    -- HEAD too, as GET's route
    assert.are.equal(200, (use(url, { method = "HEAD" })))
  end)

  it("upload a file without the key (parents made), as a normal write does", function()
    local url = sb:upload_url("up/new/file.txt", { expires_in = 120 })
    assert.matches("/files/upload%?path=up%%2Fnew%%2Ffile%.txt&", url)
    local status, body = use(url, { method = "PUT", body = "from afar\n" })
    assert.are.equal(204, status, body)
    assert.are.equal("from afar\n", sb.files:read("/home/sandbox/up/new/file.txt"))
    -- again: the URL is good until it expires, and replaces the file
    assert.are.equal(204, (use(url, { method = "PUT", body = "again" })))
    assert.are.equal("again", sb.files:read("up/new/file.txt"))
  end)

  it("answer what the files routes answer for a missing file", function()
    local status, body = use((sb:download_url("/nope/missing")))
    assert.are.equal(404, status)
    assert.matches("no such file", message(body):lower())
  end)

  it("stream a 64 MiB upload and download in bounded memory", function()
    local chunk, n = ("0123456789abcdef"):rep(16384), 64 * 1024 * 1024
    local sent, got = 0, 0
    collectgarbage()
    local before, peak = rss_kib(), 0
    local status = use(sb:upload_url("/tmp/big.bin"), { method = "PUT",
      body = function()
        if sent >= n then return nil end
        sent = sent + #chunk
        peak = math.max(peak, rss_kib())
        return chunk
      end })
    assert.are.equal(204, status)
    local wrong = 0
    status = use(sb:download_url("/tmp/big.bin"), { on_body = function(c)
      -- every chunk continues the pattern where the last one stopped
      local phase = got % 16
      if c ~= chunk:sub(phase + 1, phase + #c) and #c <= #chunk - 16 then
        wrong = wrong + 1
      end
      got = got + #c
      peak = math.max(peak, rss_kib())
    end })
    assert.are.equal(200, status)
    assert.are.equal(n, got)
    assert.are.equal(0, wrong)
    -- client and (in these specs) server share this process; the chunk
    -- is the same string each time: growth would be buffering
    assert.is_true(os.getenv("OCLUA_SANITIZED") ~= nil or peak - before < 16 * 1024,
      string.format("RSS grew by %d KiB", peak - before))
    assert.are.equal(tostring(n) .. "\n",
      sb.exec:run("stat -c %s /tmp/big.bin").stdout)
  end)

  it("clamp expiresIn: <= 0 is 3600, above 86400 is 86400", function()
    for _, c in ipairs({ { nil, 3600 }, { 0, 3600 }, { -5, 3600 },
        { 10, 10 }, { 86400, 86400 }, { 86401, 86400 },
        { 9007199254740993, 86400 }, { -9223372036854775807, 3600 } }) do
      local body = c[1] and string.format('{"path":"/x","expiresIn":%d}', c[1])
        or '{"path":"/x"}'
      local t0 = os.time()
      local status, doc = api:api("POST", "/sandboxes/" .. sb.id
        .. "/files/download-url", { raw = body })
      assert.are.equal(200, status, body)
      local expires = tonumber(param(doc.url, "expires"))
      local t1 = os.time()
      assert.is_true(expires >= t0 + c[2] and expires <= t1 + c[2],
        body .. " gave expires " .. expires .. " at " .. t0)
    end
    -- the SDK: fractions rounded up, the same rules
    local url = sb:download_url("/x", { expires_in = 0.2 })
    assert.is_true(tonumber(param(url, "expires")) - os.time() <= 1)
    url = sb:download_url("/x", { expires_in = 1e12 })
    assert.is_true(tonumber(param(url, "expires")) - os.time() >= 86399)
  end)

  it("refuse a URL once expired: 403 signed URL expired", function()
    sb.files:write("/tmp/soon.txt", "soon")
    local url = sb:download_url("/tmp/soon.txt", { expires_in = 1 })
    assert.are.equal(200, (use(url)))
    oc.sleep(2.1)
    local status, body = use(url)
    assert.are.equal(403, status)
    assert.are.equal("signed URL expired", message(body))
    -- and an upload, whose body is not written
    url = sb:upload_url("/tmp/soon.txt", { expires_in = 1 })
    oc.sleep(2.1)
    status, body = use(url, { method = "PUT", body = "late" })
    assert.are.equal(403, status)
    assert.are.equal("signed URL expired", message(body))
    assert.are.equal("soon", sb.files:read("/tmp/soon.txt"))
  end)

  it("refuse every altered part: 403 invalid signature", function()
    sb.files:write("/tmp/secret.txt", "s")
    sb.files:write("/tmp/other.txt", "o")
    local url = sb:download_url("/tmp/secret.txt")
    local sig = param(url, "signature")
    local flipped = sig:sub(1, -2) .. (sig:sub(-1) == "0" and "1" or "0")
    local other = oc.Sandbox.create({ api_url = base, api_key = support.KEY,
      timeout = 0 })
    finally(function() other:kill() end)
    other.files:write("/tmp/secret.txt", "other's")
    local cases = {
      ["another path"] = with(url, "path", "%2Ftmp%2Fother.txt"),
      ["the same file named otherwise"] = with(url, "path", "%2Ftmp%2F.%2Fsecret.txt"),
      ["a later expiry"] = with(url, "expires", tonumber(param(url, "expires")) + 1),
      ["a flipped signature digit"] = with(url, "signature", flipped),
      ["a short signature"] = with(url, "signature", sig:sub(1, 62)),
      ["a longer signature"] = with(url, "signature", sig .. "00"),
      ["another sandbox"] = replace(url, sb.id, other.id),
      ["the other operation"] = replace(url, "/download?", "/upload?"),
    }
    for what, u in pairs(cases) do
      local method = u:find("/upload?", 1, true) and "PUT" or "GET"
      local status, body = use(u, { method = method, body = method == "PUT"
        and "overwritten" or nil })
      assert.are.equal(403, status, what)
      assert.are.equal("invalid signature", message(body), what)
    end
    assert.are.equal("s", sb.files:read("/tmp/secret.txt"))
    -- upper-case hex is the same signature (the reference decodes the hex)
    assert.are.equal(200, (use(with(url, "signature", sig:upper()))))
    -- an upload URL does not download, and the other way round
    local up = sb:upload_url("/tmp/secret.txt")
    local status, body = use(replace(up, "/upload?", "/download?"))
    assert.are.equal(403, status)
    assert.are.equal("invalid signature", message(body))
  end)

  it("refuse a signature that is not hex: 403 invalid signature encoding", function()
    local url = sb:download_url("/tmp/x")
    for _, bad in ipairs({ "zz", "abc", ("g"):rep(64), "0x" .. ("0"):rep(62),
        "%20" .. ("0"):rep(63) }) do
      local status, body = use(with(url, "signature", bad))
      assert.are.equal(403, status, bad)
      assert.are.equal("invalid signature encoding", message(body), bad)
    end
  end)

  it("refuse missing parameters (400) and an unparsable expiry (400)", function()
    local url = sb:download_url("/tmp/x")
    for _, name in ipairs({ "path", "expires", "signature" }) do
      for _, u in ipairs({ with(url, name, nil), with(url, name, "") }) do
        local status, body = use(u)
        assert.are.equal(400, status, u)
        assert.are.equal("path, expires, and signature are required", message(body))
      end
    end
    for _, bad in ipairs({ "abc", "1.5", "1e9", "0x10", "99999999999999999999" }) do
      local status, body = use(with(url, "expires", bad))
      assert.are.equal(400, status, bad)
      assert.are.equal("invalid expiration: " .. string.format("%q", bad)
        .. " is not a decimal Unix time in seconds", message(body))
    end
  end)

  it("look nothing up before the signature holds", function()
    local url = sb:download_url("/tmp/x")
    -- a sandbox that does not exist: the same 403 as for any bad URL
    local status, body = use(replace(url, sb.id, "sb-doesnotexist"))
    assert.are.equal(403, status)
    assert.are.equal("invalid signature", message(body))
    -- a valid URL for a sandbox that does not exist (5.1: not checked when
    -- made): 404 only once used
    local s, doc = api:api("POST", "/sandboxes/sb-doesnotexist/files/download-url",
      { body = { path = "/x" } })
    assert.are.equal(200, s)
    status, body = use(doc.url)
    assert.are.equal(404, status)
    assert.are.equal("sandbox not found", message(body))
  end)

  it("need the key to make one, and give no other route without it", function()
    local s, doc = api:api("POST", "/sandboxes/" .. sb.id .. "/files/download-url",
      { body = { path = "/x" }, key = false })
    assert.are.equal(401, s)
    assert.are.equal("missing or invalid API key", doc.error)
    -- the signature of a download is no key for the plain files route
    local url = sb:download_url("/tmp/secret.txt")
    local status = use(replace(url, "/files/download?", "/files?"))
    assert.are.equal(401, status)
    status = use(replace(url, "/files/download?", "/files/list?"))
    assert.are.equal(401, status)
  end)

  it("refuse a create body without path (400 path is required)", function()
    for _, body in ipairs({ "{}", '{"path":""}', '{"expiresIn":5}', "" }) do
      local s, doc = api:api("POST", "/sandboxes/" .. sb.id
        .. "/files/upload-url", { raw = body })
      assert.are.equal(400, s, body)
      assert.are.equal("path is required", doc.error)
    end
    local s, doc = api:api("POST", "/sandboxes/" .. sb.id .. "/files/upload-url",
      { raw = '{"path":"/x","expiresIn":1.5}' })
    assert.are.equal(400, s)
    assert.matches("expiresIn must be an integer", doc.error)
  end)

  it("build the URL from Host and X-Forwarded-Proto (http or https only)", function()
    local path = "/sandboxes/" .. sb.id .. "/files/download-url"
    local s, doc = api:api("POST", path, { body = { path = "/x" },
      headers = { Host = "sandbox.example:8443", ["X-Forwarded-Proto"] = "https" } })
    assert.are.equal(200, s)
    assert.matches("^https://sandbox%.example:8443/api/sandboxes/", doc.url)
    s, doc = api:api("POST", path, { body = { path = "/x" },
      headers = { ["X-Forwarded-Proto"] = "javascript" } })
    assert.are.equal(200, s)
    assert.are.equal(base, doc.url:match("^(http://[^/]+)"))
  end)

  it("SDK: check their arguments before any request", function()
    assert.has_error(function() sb:download_url("") end,
      "download_url: the path is empty: give the path of a file")
    assert.has_error(function() sb:upload_url("a\0b") end)
    assert.has_error(function() sb:upload_url("/x", { expires = 5 }) end,
      "upload_url: unknown option 'expires'")
    assert.has_error(function() sb:download_url("/x", { expires_in = "5" }) end,
      'download_url: expires_in must be a number of seconds, got the string "5"')
  end)
end)

describe("signed URLs across a restart", function()
  it("stay valid with --data-dir; the secret is 0600 there", function()
    local dir = os.tmpname()
    os.remove(dir)
    local s1 = support.process({ "--data-dir", dir })
    local id = s1.client:create({ timeout = 0 })
    s1.client:run(id, "printf kept > /home/sandbox/k.txt")
    local _, doc = s1.client:api("POST", "/sandboxes/" .. id
      .. "/files/download-url", { body = { path = "k.txt" } })
    local url1 = doc.url
    assert.are.equal(200, (use(url1)))
    s1.proc:kill(15)
    s1.proc:wait()
    local mode = support.output({ "stat", "-c", "%a %s", dir .. "/signing-key" })
    assert.are.equal("600 65", mode)
    local s2 = support.process({ "--data-dir", dir })
    finally(function()
      s2.proc:kill(15); s2.proc:wait()
      os.execute("rm -rf '" .. dir .. "'")
    end)
    local port1, port2 = url1:match(":(%d+)/"), s2.url:match(":(%d+)$")
    local status, body = use(replace(url1, ":" .. port1 .. "/", ":" .. port2 .. "/"))
    assert.are.equal(200, status, body)	-- woke the hibernated sandbox
    assert.are.equal("kept", body)
  end)
end)
