-- opencomputer/server/files.lua - the files routes of the local server
-- (protocol.md section 5). Paths resolve inside the sandbox's root through
-- core.fs_root (src/sandbox/fs.c: openat2 with RESOLVE_IN_ROOT), and every
-- operation is done as the sandbox user (its host uid and gid): nothing
-- outside can be reached, and inside, only what that user may. FIFOs,
-- sockets and devices are refused (400), and so are writes to kernel
-- interfaces (/proc, /sys, /dev: 403). Unlike the reference server, a
-- missing path is a 404.

local core = require("opencomputer.core")
local http = require("opencomputer.server.http")
local json = require("opencomputer.runtime.json")
local request = require("opencomputer.server.request")
local sandbox = require("opencomputer.server.sandbox")

local M = {}

local CHUNK = 256 * 1024
local MAX_FILE = 2 * 1024 * 1024 * 1024	-- 2 GiB, as the reference agent
local MAX_WHOLE = 16 * 1024 * 1024	-- a file of no known size, read first

-- Clean a path as the reference does (lexically, like Go's path.Clean);
-- relative paths are relative to the sandbox user's home.
function M.clean(path)
  if path:sub(1, 1) ~= "/" then path = sandbox.USER.home .. "/" .. path end
  local out = {}
  for seg in path:gmatch("[^/]+") do
    if seg == ".." then
      out[#out] = nil
    elseif seg ~= "." then
      out[#out + 1] = seg
    end
  end
  return "/" .. table.concat(out, "/")
end

local function path_of(req)
  local p = request.query_path(req, "path")
  if not p then http.abort(400, "path query parameter is required") end
  return M.clean(p)
end

-- the sandbox's root (a path or an fd), acting as its user's host ids
local function root_of(sb)
  local uid, gid = sb:user_ids()
  local root, err = core.fs_root(sb:root(), uid, gid)
  if not root then
    http.abort(500, "sandbox root: " .. sb.registry:public(err, sb.id .. ": files"))
  end
  return root
end

-- Raise 404 when `sb` was deleted since the route found it: a body read
-- or an answer written yields, and a DELETE may come meanwhile (its
-- files are gone; what is open in it is no longer the sandbox's).
local function still_there(sb)
  if sb.deleted then
    http.abort(404, "sandbox not found (deleted during the request)")
  end
end

-- the whole of a file whose size the kernel does not know (procfs and
-- its kin report 0 or a page), read before answering
local function read_whole(f, path)
  local parts, total = {}, 0
  while true do
    local chunk, err, code = f:read(CHUNK)
    if not chunk then
      if err then http.fail_errno(err, code) end
      return table.concat(parts)
    end
    total = total + #chunk
    if total > MAX_WHOLE then
      http.abort(413, path .. ": the kernel reports no size for it and "
        .. "it reads to more than 16 MiB")
    end
    parts[#parts + 1] = chunk
  end
end

function M.read(req, sb)
  local path = path_of(req)
  local root <close> = root_of(sb)
  local f <close>, err, code = root:open(path, "r")
  if not f then http.fail_errno(err, code) end
  local headers = http.headers({ ["Content-Type"] = "application/octet-stream" })
  local size, exact = f:size()
  if not exact then
    req:respond(200, headers, read_whole(f, path))	-- HEAD: the length alone
    return
  end
  -- a regular file: streamed, never past the size it had (a file cut
  -- short meanwhile, or the sandbox deleted, ends the connection early:
  -- finish() sees to it)
  req:start(200, headers, size)
  if req.method == "HEAD" then req:finish(); return end
  local left = size
  while left > 0 do
    local chunk = f:read(math.min(CHUNK, left))
    -- deleted meanwhile: ended short, so the client sees a failure
    if not chunk or sb.deleted then break end
    left = left - #chunk
    req:write(chunk)
  end
  req:finish()
end

-- The body goes to a temporary file beside the path, renamed over it
-- once the whole body is there (src/sandbox/fs.c): a body cut short or
-- malformed (req:read() raises), too large or beyond the disk quota
-- leaves the old file as it was and nothing new (protocol.md 5).
function M.write(req, sb)
  local path = path_of(req)
  local too_large = "file larger than 2 GiB"
  http.limit_body(req, MAX_FILE, too_large)
  local root <close> = root_of(sb)
  local f <close>, err, code = root:open(path, "w")	-- closed: discarded
  if not f then http.fail_errno(err, code) end
  local total = 0
  while true do
    local chunk = req:read()
    if not chunk then break end
    total = total + #chunk
    if total > MAX_FILE then http.abort(413, too_large) end
    local done, werr, wcode = f:write(chunk)
    if not done then http.fail_errno(werr, wcode) end
  end
  still_there(sb)	-- a file committed into a deleted sandbox is lost
  local done, cerr, ccode = f:commit()
  if not done then http.fail_errno(cerr, ccode) end
  http.no_content(req)
end

function M.list(req, sb)
  local clean = M.clean(request.query_path(req, "path") or "/")
  local root <close> = root_of(sb)
  local entries, err, code = root:list(clean)
  if not entries then http.fail_errno(err, code) end
  local out = json.array()
  for _, e in ipairs(entries) do
    out[#out + 1] = {
      name = e.name, isDir = e.is_dir,
      size = e.size > 0 and e.size or nil,
      path = (clean == "/" and "" or clean) .. "/" .. e.name,
    }
  end
  http.json(req, 200, out)
end

function M.mkdir(req, sb)
  local path = path_of(req)
  local root <close> = root_of(sb)
  local ok, err, code = root:mkdir(path)
  if not ok then http.fail_errno(err, code) end
  http.no_content(req)
end

function M.remove(req, sb)
  local path = path_of(req)
  if path == "/" then http.abort(400, "refusing to remove the root") end
  local root <close> = root_of(sb)
  local ok, err, code = root:remove(path)
  if not ok then http.fail_errno(err, code) end
  http.no_content(req)
end

return M
