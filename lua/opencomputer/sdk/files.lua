-- opencomputer/sdk/files.lua - sb.files (API.md section 6): read,
-- read_bytes, write (a string, or a function returning chunks: streamed in
-- constant memory), list, make_dir, remove, exists. A missing path raises
-- NotFoundError; the reference server's 500 for a missing file is mapped
-- to NotFoundError too.

local client = require("opencomputer.client.api")
local errors = require("opencomputer.sdk.errors")

local Files = {}
Files.__index = Files

local M = {}

--- sb.files for the sandbox object `sb` (sdk/sandbox.lua).
function M.new(sb)
  return setmetatable({ sandbox = sb }, Files)
end

-- raise at the caller's caller unless `path` is a non-empty string
-- without NUL (client.check_text)
local function check_path(path, fn)
  if path == "" then
    error("files:" .. fn .. ": the path is empty: give the path of a file "
      .. "or directory", 3)
  end
  client.check_text(path, "the path", "files:" .. fn, 3)
end

-- the reference server answers 500 "... no such file or directory"
local function not_found(err)
  return errors.is(err, errors.NotFoundError)
    or (errors.is(err, errors.SandboxError) and err.status == 500
      and tostring(err.message):lower():find("no such file"))
end

--- files:call(method, rest, path, opts) -> the decoded answer and the
-- raw response of one request to the sandbox's route `rest` (sb:call)
-- with `path` as the query's `path`; `opts` as Client:call's (its query
-- is replaced). A missing path raises NotFoundError "<path>: no such
-- file or directory", the reference server's 500 for one included;
-- other errors as sb:call raises them. Internal to the SDK.
function Files:call(method, rest, path, opts)
  opts = opts or {}
  opts.query = { path = path }
  local ok, doc, res = pcall(self.sandbox.call, self.sandbox, method, rest, opts)
  if ok then return doc, res end
  if not_found(doc) and not errors.is(doc, errors.NotFoundError) then
    doc = errors.NotFoundError(path .. ": no such file or directory",
      { status = doc.status, body = doc.body, sandbox_id = self.sandbox.sandbox_id })
  end
  error(doc, 0)
end

--- The file's exact bytes.
function Files:read_bytes(path)
  check_path(path, "read_bytes")
  local parts = {}
  self:call("GET", "/files", path, { on_body = function(c) parts[#parts + 1] = c end })
  return table.concat(parts)
end

--- The file as text (the same bytes: Lua strings hold any byte).
function Files:read(path)
  check_path(path, "read")
  return self:read_bytes(path)
end

--- Write a string, or a function returning chunks then nil.
function Files:write(path, content)
  check_path(path, "write")
  local tc = type(content)
  if tc ~= "string" and tc ~= "function" then
    error("files:write: content must be a string or a function, got "
      .. client.show(content), 2)
  end
  self:call("PUT", "/files", path, { raw_body = content,
    headers = { ["Content-Type"] = "application/octet-stream" } })
end

--- files:list(path) -> the entries of the directory `path` (default
-- "/"; GET .../files/list, protocol.md 5), each {name, is_dir (boolean),
-- path (absolute), size (bytes, 0 when the server gives none)}, in the
-- server's order. NotFoundError when there is no such directory.
function Files:list(path)
  path = path or "/"
  check_path(path, "list")
  local doc = self:call("GET", "/files/list", path)
  local out = {}
  for i, e in ipairs(doc or {}) do
    out[i] = { name = e.name, is_dir = e.isDir == true, path = e.path,
      size = e.size or 0 }
  end
  return out
end

--- files:make_dir(path): make the directory `path` and its parents
-- (POST .../files/mkdir, protocol.md 5); one already there is fine.
function Files:make_dir(path)
  check_path(path, "make_dir")
  self:call("POST", "/files/mkdir", path)
end

--- files:remove(path): remove the file or directory `path`, a
-- directory with everything under it (DELETE .../files, protocol.md 5);
-- a path that does not exist is not an error.
function Files:remove(path)
  check_path(path, "remove")
  self:call("DELETE", "/files", path)
end

--- files:exists(path) -> true when `path` is a file or a directory in
-- the sandbox: false when reading it gives NotFoundError; when the read
-- fails otherwise (a directory), a list of it decides, and when that
-- fails too the read's error is raised.
function Files:exists(path)
  check_path(path, "exists")
  local ok, err = pcall(self.call, self, "GET", "/files", path,
    { on_body = function() end })
  if ok then return true end
  if errors.is(err, errors.NotFoundError) then return false end
  -- a directory is there too
  local ok2 = pcall(self.call, self, "GET", "/files/list", path)
  if ok2 then return true end
  error(err, 0)
end

return M
