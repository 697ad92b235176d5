-- opencomputer/server/signed.lua - signed file URLs (protocol.md 5.1):
-- an authenticated caller asks for a URL that reads or writes one path of
-- one sandbox until a time; whoever holds the URL may then use it without
-- the API key, and for nothing else.
--
--   POST /sandboxes/{id}/files/download-url, .../files/upload-url
--        {"path", "expiresIn"} -> 200 {"url", "expiresAt"}
--   GET  /sandboxes/{id}/files/download?path=&expires=&signature=
--   PUT  /sandboxes/{id}/files/upload?path=&expires=&signature=
--
-- The signature is the lower-case hex HMAC-SHA256 (core.hmac_sha256),
-- keyed with the server's signing secret, of the five lines
-- "opensandbox-signed-url", the sandbox id, the path exactly as given,
-- the operation ("download" or "upload") and the expiry in decimal Unix
-- seconds, joined with "\n". The secret is 32 random bytes made at the
-- first start and kept in DATA/signing-key (mode 0600), so URLs outlive a
-- restart with --data-dir; a temporary data dir makes one per run.
--
-- The keyless routes stream exactly as the files routes do (files.lua's
-- read and write: no body held whole). Nothing about the sandbox is
-- looked up before the signature holds, so a URL that does not verify
-- learns nothing of which sandboxes or paths exist.

local core = require("opencomputer.core")
local http = require("opencomputer.server.http")
local request = require("opencomputer.server.request")
local files = require("opencomputer.server.files")
local exec = require("opencomputer.server.exec")
local random = require("opencomputer.runtime.random")

local M = {}

M.DEFAULT_EXPIRY = 3600		-- s, for expiresIn <= 0 (5.1)
M.MAX_EXPIRY = 86400		-- s, larger values are clamped (5.1)
M.KEY_FILE = "signing-key"	-- in the data dir: 64 hex digits
local PREFIX = "opensandbox-signed-url"

local function unhex(hex)
  return (hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

--- The signing secret of the server whose data dir is `data_dir`:
-- DATA/signing-key's 32 bytes, made (from /dev/urandom, the file
-- written with mode 0600 and renamed into place) when it is missing or
-- unreadable. Sets reg.signing_key; returns a list of warnings (one when
-- a damaged file was replaced, which voids the URLs given before).
function M.load(reg, data_dir)
  local file = data_dir .. "/" .. M.KEY_FILE
  local warnings = {}
  local f = io.open(file, "rb")
  if f then
    local text = f:read("a")
    f:close()
    local hex = text:match("^(%x+)\n?$")
    if hex and #hex == 64 then
      reg.signing_key = unhex(hex)
      return warnings
    end
    warnings[#warnings + 1] = file .. " does not hold 64 hex digits: a new "
      .. "signing secret replaces it (signed URLs given before no longer "
      .. "verify)"
  end
  local hex = random.hex(32)
  -- umask 077 for the temporary file: the secret is never readable by
  -- another host user, not even for a moment
  local tmp = file .. ".tmp"
  local ok = os.execute("umask 077 && printf '%s\\n' " .. hex .. " > '"
    .. tmp .. "' && mv -f '" .. tmp .. "' '" .. file .. "'")
  if not ok then error("cannot write the signing secret " .. file, 0) end
  reg.signing_key = unhex(hex)
  return warnings
end

--- The lower-case hex signature of one URL (protocol.md 5.1): `op` is
-- "download" or "upload", `expires` an integer of Unix seconds.
function M.sign(key, id, path, op, expires)
  return core.hmac_sha256(key, table.concat({ PREFIX, id, path, op,
    string.format("%d", expires) }, "\n"))
end

-- Go's url.QueryEscape, as the reference writes the path: every byte but
-- letters, digits and - _ . ~ percent-encoded, a space as "+"
local function query_escape(s)
  return (s:gsub("[^%w%-_%.~ ]", function(c)
    return string.format("%%%02X", c:byte())
  end):gsub(" ", "+"))
end

-- a path segment: every byte but the unreserved ones percent-encoded
local function path_escape(s)
  return (s:gsub("[^%w%-_%.~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

-- "scheme://host" of the URLs given in answer to `req` (protocol.md
-- 5.1): https on TLS (this server has none), else X-Forwarded-Proto when
-- it says http or https (any other value is ignored), else http; the
-- host is the request's Host field, which http1.c checked (RFC 3986
-- reg-name or IP-literal, then a port: it cannot carry "/", "?", "#" or
-- "@", so it cannot move the path). It is the caller's own Host: the URL
-- goes back to the authenticated caller only, and the signature does not
-- cover it, so a forged Host misleads nobody but that caller.
local function origin(req)
  local host = req.headers["host"]
  if not host or host == "" then
    http.abort(400, "the request has no Host field, which a signed URL "
      .. "is built on (protocol.md 5.1): send Host: ADDR:PORT")
  end
  local proto = (req.headers["x-forwarded-proto"] or ""):lower()
  if proto ~= "https" then proto = "http" end
  return proto .. "://" .. host
end

-- POST .../files/download-url and upload-url
local function make_url(reg, op)
  return function(req, p)
    local id = request.id(p.id, "sandbox id")
    local b = request.body(req, "signed_url")
    local expires_in = b.expiresIn or 0
    if expires_in <= 0 then expires_in = M.DEFAULT_EXPIRY end
    expires_in = math.min(expires_in, M.MAX_EXPIRY)
    local expires = os.time() + expires_in
    local sig = M.sign(reg.signing_key, id, b.path, op, expires)
    http.json(req, 200, {
      url = origin(req) .. "/api/sandboxes/" .. path_escape(id) .. "/files/"
        .. op .. "?path=" .. query_escape(b.path) .. "&expires=" .. expires
        .. "&signature=" .. sig,
      expiresAt = exec.rfc3339(expires),
    })
  end
end

-- the five checks of a use (protocol.md 5.1), in its order: the three
-- parameters present, the expiry a decimal integer, not past, the
-- signature hex, and equal (in constant time) to the one made here
local function verify(reg, req, id, op)
  local q = req.query
  local path, expires, sig = q.path, q.expires, q.signature
  if not path or path == "" or not expires or expires == ""
      or not sig or sig == "" then
    http.abort(400, "path, expires, and signature are required")
  end
  local when = expires:find("^[+-]?%d+$") and math.tointeger(tonumber(expires))
  if not when then
    http.abort(400, "invalid expiration: " .. string.format("%q", expires)
      .. " is not a decimal Unix time in seconds")
  end
  if os.time() > when then http.abort(403, "signed URL expired") end
  if #sig % 2 ~= 0 or sig:find("%X") then
    http.abort(403, "invalid signature encoding")
  end
  if not http.same_secret(sig:lower(), M.sign(reg.signing_key, id, path, op,
      when)) then
    http.abort(403, "invalid signature")
  end
end

--- The keyless routes' check for server/init.lua: is `segs` (the path's
-- segments, "api" first) a signed-URL use, which carries its signature
-- instead of the API key?
function M.keyless(req, segs)
  return not req.upgrade and #segs == 5 and segs[1] == "api"
    and segs[2] == "sandboxes" and segs[4] == "files"
    and (segs[5] == "download" or segs[5] == "upload")
end

--- Add the routes to the router `r`; `data(fn)` is api.lua's wrapper
-- that finds the route's sandbox on the data plane (waking it) and
-- calls fn(req, sb).
function M.routes(r, reg, data)
  r.add("POST", "/sandboxes/:id/files/download-url", make_url(reg, "download"))
  r.add("POST", "/sandboxes/:id/files/upload-url", make_url(reg, "upload"))
  local read, write = data(files.read), data(files.write)
  r.add("GET", "/sandboxes/:id/files/download", function(req, p)
    verify(reg, req, request.id(p.id, "sandbox id"), "download")
    read(req, p)
  end)
  r.add("PUT", "/sandboxes/:id/files/upload", function(req, p)
    verify(reg, req, request.id(p.id, "sandbox id"), "upload")
    write(req, p)
  end)
end

return M
