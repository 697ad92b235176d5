-- spec/bad_input/files.lua - bad input to the files routes (protocol.md
-- section 5): lua/opencomputer/server/files.lua, the path rules of
-- request.lua, the errno -> status table of http.lua, and uploads that
-- end early (src/sandbox/fs.c writes a temporary file and renames it
-- only when the whole body is there). Each case works in a directory of
-- its own under /tmp/bad-files, and checks what is left there.
local support = require("spec.support.server")

local DIR = "/tmp/bad-files"
local n = 0

local q = support.q

-- the names in `dir` of the live sandbox, sorted, one a line
local function names(ctx, dir)
  return ctx.run("ls -A '" .. dir .. "' 2>/dev/null || echo missing")
end

local function put(ctx, path, body)
  local status = ctx.client:api("PUT", "/sandboxes/" .. ctx.sandbox .. "/files",
    { query = "path=" .. q(path), raw = body,
      headers = { ["Content-Type"] = "application/octet-stream" } })
  assert(status == 204, "could not write " .. path .. ": " .. tostring(status))
end

-- A case on a fresh directory holding the file "old" (content "old"):
-- `method` on the path `path(dir)` (raw query text; o.body, o.length
-- for its framing, or o.chunked: a chunked body's bytes) answers `status`
-- and `pattern`, and afterwards the directory holds `left` (default
-- "old\n": nothing new) and "old" still reads "old".
local function case(name, method, path, status, pattern, o)
  o = o or {}
  n = n + 1
  local dir = DIR .. "/" .. n
  return { name = name, status = status, body = pattern, wait = o.wait,
    send = function(ctx)
      put(ctx, dir .. "/old", "old")
      if o.setup then o.setup(ctx, dir) end
      local target = "/api/sandboxes/" .. ctx.sandbox .. "/files"
        .. (o.route or "") .. "?" .. path(dir)
      if o.chunked then	-- the body as given, framed by the case
        return method .. " " .. target .. " HTTP/1.1\r\nHost: " .. ctx.host
          .. "\r\nX-API-Key: " .. support.KEY .. "\r\nContent-Type: "
          .. "application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
          .. o.chunked
      end
      return support.raw_request(ctx.host, method, target, o.body,
        "application/octet-stream", o.length)
    end,
    check = function(ctx)
      local want = o.left or "old\n"
      -- an upload cut short ends when the server sees the connection go
      local got
      for _ = 1, 50 do
        got = names(ctx, dir)
        if got == want then break end
        ctx.run("sleep 0.1")
      end
      assert(got == want, dir .. " holds " .. got .. ", not " .. want)
      assert(ctx.run("cat " .. dir .. "/old") == "old", "old was changed")
    end }
end

-- the query naming `rel` (already percent-encoded) in the case's dir
local function at(rel)
  return function(dir) return "path=" .. q(dir) .. "/" .. rel end
end

local long = ("/a"):rep(3000)	-- 6000 bytes
local name300 = ("n"):rep(300)

return {
  case("read: no path", "GET", function() return "x=1" end, 400,
    '"path query parameter is required"'),
  case("write: an empty path", "PUT", function() return "path=" end, 400,
    '"path query parameter is required"', { body = "x" }),
  -- (refused by http1.c before any route sees it)
  case("write: a NUL in the path", "PUT", at("a%00b"), 400,
    "invalid percent%-encoding in the request%-target", { body = "x" }),
  case("write: invalid UTF-8 in the path", "PUT", at("%FF%FE"), 400,
    "path must be valid UTF%-8", { body = "x" }),
  case("read: a 6,000-byte path", "GET", function(dir) return "path=" .. dir .. long end,
    400, "path must be at most 4095 bytes long"),
  case("write: a 6,000-byte path", "PUT", function(dir) return "path=" .. dir .. long end,
    400, "path must be at most 4095 bytes long", { body = "x" }),
  case("list: a 6,000-byte path", "GET", function(dir) return "path=" .. dir .. long end,
    400, "path must be at most 4095 bytes long", { route = "/list" }),
  case("mkdir: a 6,000-byte path", "POST", function(dir) return "path=" .. dir .. long end,
    400, "path must be at most 4095 bytes long", { route = "/mkdir" }),
  case("delete: a 6,000-byte path", "DELETE", function(dir) return "path=" .. dir .. long end,
    400, "path must be at most 4095 bytes long"),
  case("write: a name of 300 bytes (ENAMETOOLONG)", "PUT", at(name300), 400,
    "File name too long", { body = "x" }),
  case("mkdir: an existing file (EEXIST)", "POST", at("old"), 409, "File exists",
    { route = "/mkdir" }),
  case("mkdir: under an existing file (ENOTDIR)", "POST", at("old/d"), 400,
    "Not a directory", { route = "/mkdir" }),
  case("mkdir: a name of 300 bytes", "POST", at(name300), 400, "File name too long",
    { route = "/mkdir" }),
  case("read: a missing file (ENOENT)", "GET", at("missing"), 404, "No such file"),
  case("list: a missing directory", "GET", at("missing"), 404, "No such file",
    { route = "/list" }),
  case("read: a directory (EISDIR)", "GET", function(dir) return "path=" .. q(dir) end,
    400, "Is a directory"),
  case("read: under a file (ENOTDIR)", "GET", at("old/x"), 400, "Not a directory"),
  case("list: a file (ENOTDIR)", "GET", at("old"), 400, "Not a directory",
    { route = "/list" }),
  case("write: over a directory (EISDIR)", "PUT", at("d"), 400, "Is a directory",
    { body = "x", left = "d\nold\n", setup = function(ctx, dir)
      ctx.run("mkdir " .. dir .. "/d")
    end }),
  case("write: under a file (ENOTDIR)", "PUT", at("old/x"), 400, "Not a directory",
    { body = "x" }),
  case("write: into a directory of root's (EACCES)", "PUT",
    function() return "path=/usr/bad-files-x" end, 403, "Permission denied",
    { body = "x" }),
  case("write: under /proc (a kernel interface)", "PUT",
    function() return "path=/proc/sys/kernel/hostname" end, 403, "are refused",
    { body = "x" }),
  case("delete: the root", "DELETE", function() return "path=/" end, 400,
    "refusing to remove the root"),
  case("write: a body cut short leaves the old file and no temporary file",
    "PUT", at("old"), nil, nil, { body = "garbage", length = 100, wait = 1 }),
  case("write: a body cut short leaves no new file", "PUT", at("new"), nil, nil,
    { body = "garbage", length = 100, wait = 1 }),
  case("write: a body cut short in a new directory leaves no file in it", "PUT",
    at("sub/new"), nil, nil,
    { body = "garbage", length = 1000000, wait = 1, left = "old\nsub\n" }),
  case("write: Content-Length over 2 GiB is refused at once", "PUT", at("new"),
    413, "larger than 2 GiB", { length = 3 * 1024 * 1024 * 1024, wait = 1 }),
  -- a malformed chunked body after a good first chunk (64 KiB, so the
  -- upload has begun writing): 400, closed, the old file intact
  case("write: a malformed chunked body leaves the old file intact", "PUT",
    at("old"), 400, "chunk", { wait = 5, chunked = "10000\r\n"
      .. ("x"):rep(0x10000) .. "\r\nzz\r\ngarbage\r\n0\r\n\r\n" }),
  case("write: a malformed chunked body leaves no new file", "PUT",
    at("new"), 400, "chunk", { wait = 5, chunked = "10000\r\n"
      .. ("x"):rep(0x10000) .. "XY1\r\nx\r\n0\r\n\r\n" }),
  -- a name made inside the sandbox that is not UTF-8: the listing is
  -- still valid JSON (RFC 8259 8.1), the name with U+FFFD as Go writes it
  case("list: a file name that is not UTF-8 gives valid JSON", "GET",
    function(dir) return "path=" .. q(dir) end, 200, "bad\xEF\xBF\xBD\xEF\xBF\xBD",
    { route = "/list", left = "bad\xEF\xBF\xBD\xEF\xBF\xBD\nold\n", setup = function(ctx, dir)
      ctx.run("touch " .. dir .. "/\"$(printf 'bad\\377\\376')\"")
    end }),
  { name = "read: a sandbox that does not exist", status = 404, body = "sandbox not found",
    request = { method = "GET", path = "/api/sandboxes/sb-00000000/files?path=/tmp" } },
}
