---@meta _
-- meta/opencomputer/files.lua - LuaCATS annotations of sb.files
-- (lua/opencomputer/sdk/files.lua, API.md 6).

---`sb.files`: the sandbox's files. A missing path raises NotFoundError;
---an empty path or one with a NUL byte raises a string error.
---@class oc.Files
---@field private sandbox oc.Sandbox The sandbox it belongs to.
local Files = {}

---The file as text (the same bytes as `read_bytes`: Lua strings hold any byte).
---@async
---@param path string
---@return string
function Files:read(path) end

---The file's exact bytes.
---@async
---@param path string
---@return string
function Files:read_bytes(path) end

---Write the file (parents made): `content` is a string, or a function
---returning successive chunks and then nil (streamed, never held whole).
---@async
---@param path string
---@param content string|fun(): string?
function Files:write(path, content) end

---The entries of the directory `path` (default "/").
---@async
---@param path? string
---@return oc.FileEntry[]
function Files:list(path) end

---Make the directory `path`, parents too.
---@async
---@param path string
function Files:make_dir(path) end

---Remove the file or directory `path` (a directory with everything under it); a missing one is not an error.
---@async
---@param path string
function Files:remove(path) end

---Whether `path` exists (a file or a directory).
---@async
---@param path string
---@return boolean
function Files:exists(path) end

---One request to a files route with `path` in the query. Internal to the SDK.
---@private
---@async
---@param method string
---@param rest string
---@param path string
---@param opts? table
---@return any
function Files:call(method, rest, path, opts) end

---An entry of `sb.files:list()`.
---@class oc.FileEntry
---@field name string Its name.
---@field is_dir boolean Whether it is a directory.
---@field path string Its absolute path.
---@field size integer Its size in bytes.
