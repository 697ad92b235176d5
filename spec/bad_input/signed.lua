-- spec/bad_input/signed.lua - bad input to the signed-URL routes
-- (protocol.md 5.1): lua/opencomputer/server/signed.lua and the
-- signed_url schema of request.lua. The keyless uses are sent without
-- X-API-Key; an upload refused, or cut short, leaves no file at its path.
local support = require("spec.support.server")

local q = support.q
local n = 0

-- POST .../files/<op>-url on the live sandbox with the raw `body`
local function make(name, op, body, pattern, status, ctype)
  return { name = op .. "-url: " .. name, status = status or 400, body = pattern,
    request = { method = "POST", body = body,
      path = "/api/sandboxes/{SANDBOX}/files/" .. op .. "-url",
      headers = ctype and { ["Content-Type"] = ctype } or nil } }
end

-- a signed upload URL for `path` (its path and query, after the host),
-- made with the key
local function upload_url(ctx, path)
  local s, doc = ctx.client:api("POST", "/sandboxes/" .. ctx.sandbox
    .. "/files/upload-url", { body = { path = path } })
  assert(s == 200, "upload-url answered " .. tostring(s))
  return doc.url:match("^https?://[^/]+(/.*)$")
end

-- the raw request `method` `target` without a key, `body` framed by
-- Content-Length (or o.chunked: the chunked body's bytes, or o.length)
local function keyless(ctx, method, target, body, o)
  o = o or {}
  body = body or ""
  local head = { method .. " " .. target .. " HTTP/1.1", "Host: " .. ctx.host,
    "Content-Type: application/octet-stream", "Connection: close" }
  if o.chunked then
    head[#head + 1] = "Transfer-Encoding: chunked"
    body = o.chunked
  else
    head[#head + 1] = "Content-Length: " .. (o.length or #body)
  end
  return table.concat(head, "\r\n") .. "\r\n\r\n" .. body
end

-- a keyless use of the upload URL of a fresh path, altered by
-- `alter(target)`, answered `status` and `pattern`; the path holds
-- nothing afterwards
local function upload(name, alter, status, pattern, o)
  o = o or {}
  n = n + 1
  local path = "/tmp/bad-signed/" .. n .. "/f"
  return { name = "upload: " .. name, status = status, body = pattern,
    wait = o.wait,
    send = function(ctx)
      return keyless(ctx, "PUT", alter(upload_url(ctx, path)), o.body or "x", o)
    end,
    check = function(ctx)
      local got
      for _ = 1, 30 do	-- a cut-short body ends when the server sees it
        got = ctx.run("ls -A /tmp/bad-signed/" .. n .. " 2>/dev/null || echo none")
        if got == "none\n" or got == "" then break end
        ctx.run("sleep 0.1")
      end
      assert(got == "none\n" or got == "", path .. ": left " .. got)
    end }
end

-- a keyless GET (o.method) of .../files/download with the raw `query`,
-- answered `status` and `pattern`; o.key: send the API key, o.headers
local function download(name, query, status, pattern, o)
  o = o or {}
  return { name = "download: " .. name, status = status, body = pattern,
    request = { method = o.method or "GET", key = o.key or false,
      headers = o.headers,
      path = "/api/sandboxes/{SANDBOX}/files/download" .. query } }
end

local function set(name, value)
  return function(target)
    return (target:gsub("([?&]" .. name .. "=)[^&]*", "%1" .. value))
  end
end
local function same(target) return target end

local long = ("/a"):rep(3000)	-- 6000 bytes

return {
  make("not JSON", "download", "{path", "invalid request body"),
  make("a JSON list", "upload", '["/x"]', "expected a JSON object"),
  make("no path", "download", '{"expiresIn":60}', '"path is required"'),
  make("an empty path", "upload", '{"path":""}', '"path is required"'),
  make("path a number", "download", '{"path":5}', "path must be a string"),
  make("path with a NUL", "download", '{"path":"/a\\u0000b"}',
    "path must not contain a NUL byte"),
  make("a 6,000-byte path", "upload", '{"path":"' .. long .. '"}',
    "path must be at most 4095 bytes long"),
  make("expiresIn a string", "download", '{"path":"/x","expiresIn":"60"}',
    "expiresIn must be an integer"),
  make("expiresIn a fraction", "upload", '{"path":"/x","expiresIn":0.5}',
    "expiresIn must be an integer"),
  make("expiresIn beyond a 64-bit integer", "download",
    '{"path":"/x","expiresIn":18446744073709551616}', "expiresIn must be an integer"),
  make("expiresIn true", "download", '{"path":"/x","expiresIn":true}',
    "expiresIn must be an integer"),
  make("a body that is not JSON by its Content-Type", "download", '{"path":"/x"}',
    "Content%-Type must be application\\/json", 400, "text/plain"),
  make("path twice", "upload", '{"path":"/x","path":"/y"}', 'key \\"path\\" appears twice'),
  { name = "download-url: without the key", status = 401,
    body = "missing or invalid API key",
    request = { method = "POST", key = false, body = '{"path":"/x"}',
      path = "/api/sandboxes/{SANDBOX}/files/download-url" } },
  download("no parameters", "", 400,
    '"path, expires, and signature are required"'),
  download("expires not a number", "?path=/x&expires=soon&signature=00", 400,
    '"invalid expiration: '),
  download("an expiry in 1970", "?path=/x&expires=1&signature=00", 403,
    '"signed URL expired"'),
  download("a signature of the wrong length",
    "?path=/x&expires=99999999999&signature=00", 403, '"invalid signature"'),
  download("the right key does not stand for a signature",
    "?path=/x&expires=99999999999&signature=00", 403, '"invalid signature"',
    { key = true }),
  download("a WebSocket upgrade is no signed use (the key is needed)",
    "?path=/x&expires=99999999999&signature=00", 401,
    "missing or invalid API key", { headers = { Upgrade = "websocket",
      Connection = "Upgrade", ["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ==",
      ["Sec-WebSocket-Version"] = "13" } }),
  download("POST is not a route", "?path=/x&expires=9&signature=00", 405, nil,
    { method = "POST" }),
  -- the control: the same request, unaltered, writes its file
  { name = "upload: a valid URL writes its file (the control case)", status = 204,
    send = function(ctx)
      return keyless(ctx, "PUT", upload_url(ctx, "/tmp/bad-signed/ok"), "ok")
    end,
    check = function(ctx)
      assert(ctx.run("cat /tmp/bad-signed/ok") == "ok", "not written")
    end },
  upload("a signature with a digit changed", function(t)
    return (t:gsub("(signature=%x*)(%x)$", function(a, d)
      return a .. (d == "0" and "1" or "0")
    end))
  end, 403, '"invalid signature"'),
  upload("another path", set("path", q("/tmp/bad-signed/elsewhere")), 403,
    '"invalid signature"'),
  upload("a signature that is not hex", set("signature", ("x"):rep(64)), 403,
    '"invalid signature encoding"'),
  upload("a signature of odd length", set("signature", "abc"), 403,
    '"invalid signature encoding"'),
  upload("an expiry in the past", set("expires", "1000"), 403, '"signed URL expired"'),
  upload("an expiry of 25 digits", set("expires", ("9"):rep(25)), 400,
    '"invalid expiration: '),
  upload("no signature", set("signature", ""), 400,
    '"path, expires, and signature are required"'),
  upload("a body cut short", same, nil, nil, { body = "garbage", length = 1000,
    wait = 1 }),
  upload("a malformed chunked body", same, 400, "chunk", { wait = 5,
    chunked = "10000\r\n" .. ("x"):rep(0x10000) .. "XY1\r\nx\r\n0\r\n\r\n" }),
  upload("Content-Length over 2 GiB", same, 413, "larger than 2 GiB",
    { length = 3 * 1024 * 1024 * 1024, wait = 1 }),
}
