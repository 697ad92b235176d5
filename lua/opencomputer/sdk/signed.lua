-- opencomputer/sdk/signed.lua - signed file URLs (API.md 11, protocol.md
-- 5.1): sb:download_url(path, {expires_in=}) and sb:upload_url(path,
-- {expires_in=}). Whoever holds such a URL may GET (download) or PUT
-- (upload) that one path of that sandbox until it expires, with no API
-- key: give it to a browser, curl, or another program.

local client = require("opencomputer.client.api")

local M = {}

local OPTS = { expires_in = true }

-- POST .../files/<op>-url; the URL and its expiry
local function signed_url(sb, op, path, opts, fn)
  if path == "" then
    error(fn .. ": the path is empty: give the path of a file", 3)
  end
  client.check_text(path, "the path", fn, 3)
  opts = opts or {}
  client.check_options(opts, OPTS, fn)
  local e = opts.expires_in
  if e ~= nil and (type(e) ~= "number" or e ~= e) then
    error(fn .. ": expires_in must be a number of seconds, got "
      .. client.show(e), 3)
  end
  -- the server's rule (5.1): <= 0 means 3600, above 86400 is 86400;
  -- sent as a whole number of seconds (rounded up) within that range
  local seconds = e and math.tointeger(math.ceil(math.max(0,
    math.min(e, 86400)))) or 3600
  local doc = sb:call("POST", "/files/" .. op .. "-url",
    { body = { path = path, expiresIn = seconds } })
  return doc.url, doc.expiresAt
end

--- sb:download_url(path, {expires_in = 3600}) -> url, expires_at.
-- `url` (a string) reads the file with a plain GET, no key needed, until
-- `expires_at` (the server's RFC 3339 UTC time, e.g.
-- "2025-01-02T03:04:05Z"). expires_in: seconds, default 3600; 0 or less
-- means 3600, more than 86400 (a day) means 86400 (protocol.md 5.1).
-- The server checks neither the sandbox's files nor the path until the
-- URL is used. Raises SandboxError classes as other calls do.
function M.download_url(sb, path, opts)
  return signed_url(sb, "download", path, opts, "download_url")
end

--- sb:upload_url(path, {expires_in = 3600}) -> url, expires_at: a PUT of
-- the file's bytes to `url` writes it (parents made, 204), no key
-- needed, until `expires_at`; as download_url otherwise.
function M.upload_url(sb, path, opts)
  return signed_url(sb, "upload", path, opts, "upload_url")
end

return M
