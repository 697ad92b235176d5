-- opencomputer/server/files.lua - the files routes of the local server
-- (protocol.md section 5). Paths resolve inside the sandbox's root through
-- core.fs_root (openat2 with RESOLVE_IN_ROOT): nothing outside can be
-- reached. Unlike the reference server, a missing path is a 404.

local core = require("opencomputer.core")
local http = require("opencomputer.server.http")
local json = require("opencomputer.runtime.json")
local sandbox = require("opencomputer.server.sandbox")

local M = {}

local CHUNK = 256 * 1024
local MAX_FILE = 2 * 1024 * 1024 * 1024	-- 2 GiB, as the reference agent

-- Clean a path as the reference does (lexically, like Go's path.Clean);
-- relative paths are relative to the sandbox user's home.
function M.clean(path)
  if path:find("\0", 1, true) then return nil, "path contains a NUL byte" end
  if not utf8.len(path) then return nil, "path is not valid UTF-8" end
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
  local p = req.query.path
  if not p or p == "" then
    http.abort(400, "path query parameter is required")
  end
  local clean, err = M.clean(p)
  if not clean then http.abort(400, err) end
  return clean
end

local function root_of(sb)
  local root, err = core.fs_root(sb:root(), sandbox.USER.uid, sandbox.USER.gid)
  if not root then http.abort(500, "sandbox root: " .. tostring(err)) end
  return root
end

local STATUS = { ENOENT = 404, ENOTDIR = 404, EISDIR = 400, ELOOP = 404,
  EEXIST = 409, EACCES = 403, ENOSPC = 507 }

local function failed(msg, code)
  http.abort(STATUS[code] or 500, msg)
end

function M.read(req, sb)
  local path = path_of(req)
  local root <close> = root_of(sb)
  local f <close>, err, code = root:open(path, "r")
  if not f then failed(err, code) end
  local size = f:size()
  req:start(200, http.headers({ ["Content-Type"] = "application/octet-stream" }), size)
  if req.method == "HEAD" then req:finish(); return end
  while true do
    local chunk = f:read(CHUNK)
    if not chunk then break end
    req:write(chunk)
  end
  req:finish()
end

function M.write(req, sb)
  local path = path_of(req)
  local root <close> = root_of(sb)
  local f <close>, err, code = root:open(path, "w")
  if not f then failed(err, code) end
  local total = 0
  while true do
    local chunk = req:read()
    if not chunk then break end
    total = total + #chunk
    if total > MAX_FILE then
      f:close()
      root:remove(path)
      http.abort(413, "file larger than 2 GiB")
    end
    local ok, werr, wcode = f:write(chunk)
    if not ok then failed(werr, wcode) end
  end
  http.no_content(req)
end

function M.list(req, sb)
  local path = req.query.path
  if not path or path == "" then path = "/" end
  local clean, perr = M.clean(path)
  if not clean then http.abort(400, perr) end
  local root <close> = root_of(sb)
  local entries, err, code = root:list(clean)
  if not entries then failed(err, code) end
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
  if not ok then failed(err, code) end
  http.no_content(req)
end

function M.remove(req, sb)
  local path = path_of(req)
  if path == "/" then http.abort(400, "refusing to remove the root") end
  local root <close> = root_of(sb)
  local ok, err, code = root:remove(path)
  if not ok then failed(err, code) end
  http.no_content(req)
end

return M
