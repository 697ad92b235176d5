-- opencomputer/sdk/image.lua - oc.Image (API.md 11): a declarative image
-- manifest (protocol.md 8.6) built by chained calls, as the TypeScript
-- SDK's Image reads:
--
--   local img = oc.Image.base()
--     :apt_install{"curl"}:pip_install{"requests"}
--     :run{"mkdir -p /srv", "echo ok > /srv/ok"}
--     :env{PROJECT_ROOT = "/workspace"}:workdir("/workspace")
--     :add_file("/etc/app.json", '{"k": 1}')
--     :add_dir("/opt/app", {["a/b.txt"] = "hello"})
--
-- An image is immutable: each call returns a new image and leaves its
-- receiver as it was, so a common base can be shared. Use it with
-- oc.Sandbox.create{image = img} or oc.Snapshot.create{name =, image =};
-- img:manifest() is the table sent. Every argument is checked when the
-- step is added, with an error naming it, long before any request.

local client = require("opencomputer.client.api")
local json = require("opencomputer.runtime.json")

local Image = {}
Image.__name = "Image"

-- an image's manifest, out of the script's reach (immutability)
local manifests = setmetatable({}, { __mode = "k" })

Image.__index = Image
Image.__newindex = function()
  error("an Image is immutable: its methods return a new image", 2)
end

local M = { Image = Image }

-- RFC 4648 base64 of the bytes `s` (core.base64_encode, src/server/digest.c)
local function b64(s)
  return require("opencomputer.core").base64_encode(s)
end

local function make(m)
  local img = setmetatable({}, Image)
  manifests[img] = m
  return img
end

--- Is `v` an image (oc.Image)?
function M.is(v)
  return manifests[v] ~= nil
end

--- Image.base([name]) -> the image of the default environment (the
-- template `base`; protocol.md 8.6: "", "ubuntu" and "default" name it
-- too), with no steps. `name` is sent as the manifest's `base`.
function Image.base(name)
  if name ~= nil then client.check_text(name, "the base", "Image.base") end
  return make({ base = name or "base", steps = {} })
end

-- raise at the caller of method `name` unless `img` is an image (a
-- method called with '.')
local function check_self(img, name)
  if not manifests[img] then
    error(string.format("Image:%s: call it with ':' on an image "
      .. "(oc.Image.base():%s(...))", name, name), 3)
  end
end

-- a copy of the receiver with one more step (or another field)
local function with(img, step, field, value)
  local m = manifests[img]
  local steps = {}
  for i, s in ipairs(m.steps) do steps[i] = s end
  if step then steps[#steps + 1] = step end
  local copy = { base = m.base, steps = steps,
    builderMemoryMB = m.builderMemoryMB, runtimeMemoryMB = m.runtimeMemoryMB }
  if field then copy[field] = value end
  return make(copy)
end

-- a non-empty list of strings (numbers taken as Lua writes them)
local function nonempty_list(t, what, name)
  local list = client.string_list(t, what, name, 3)
  if list == nil or #list == 0 then
    error(string.format("%s: %s must be a non-empty list of strings, got %s",
      name, what, t == nil and "nil" or "an empty list"), 3)
  end
  for i, v in ipairs(list) do
    if v == "" then
      error(string.format("%s: %s[%d] is an empty string", name, what, i), 3)
    end
  end
  return list
end

-- an absolute path without NUL
local function abs_path(p, what, name)
  client.check_text(p, what, name, 3)
  if p:sub(1, 1) ~= "/" then
    error(string.format("%s: %s must be an absolute path, got %s", name,
      what, client.show(p)), 3)
  end
  return p
end

-- a relative path inside the directory of add_dir (protocol.md 8.6: it
-- must not escape with "..")
local function rel_path(p, name)
  if type(p) ~= "string" or p == "" or p:find("\0", 1, true)
      or p:sub(1, 1) == "/" then
    error(string.format("%s: the files' keys must be relative paths "
      .. "(non-empty strings without NUL, not starting with '/'), got %s",
      name, client.show(p)), 3)
  end
  for part in p:gmatch("[^/]+") do
    if part == ".." then
      error(string.format("%s: the file %q would be outside the directory "
        .. "(\"..\")", name, p), 3)
    end
  end
  return p
end

-- the content of a file to add: a string of any bytes
local function content_of(v, what, name)
  if type(v) ~= "string" then
    error(string.format("%s: %s must be a string (the file's bytes), got %s",
      name, what, client.show(v)), 3)
  end
  return v
end

--- img:apt_install{"pkg", ...} -> a new image that installs the Debian
-- packages (apt update + install, non-interactive: protocol.md 8.6).
function Image:apt_install(packages)
  check_self(self, "apt_install")
  local list = nonempty_list(packages, "packages", "Image:apt_install")
  return with(self, { type = "apt_install",
    args = { packages = list } })
end

--- img:pip_install{"pkg", ...} -> a new image that pip-installs them.
function Image:pip_install(packages)
  check_self(self, "pip_install")
  local list = nonempty_list(packages, "packages", "Image:pip_install")
  return with(self, { type = "pip_install",
    args = { packages = list } })
end

--- img:run{"cmd1", "cmd2"} or img:run("cmd1", "cmd2") -> a new image that
-- runs the shell commands, joined with && (protocol.md 8.6), as the
-- sandbox user. Alias: run_commands (the TypeScript runCommands).
function Image:run(first, ...)
  check_self(self, "run")
  local cmds = first
  if type(first) ~= "table" then cmds = table.pack(first, ...); cmds.n = nil end
  local list = nonempty_list(cmds, "commands", "Image:run")
  return with(self, { type = "run", args = { commands = list } })
end
Image.run_commands = Image.run

--- img:env{NAME = "value", ...} -> a new image whose environment has
-- them (appended to /etc/environment, exported from a profile script:
-- protocol.md 8.6). Names are shell variable names.
function Image:env(vars)
  check_self(self, "env")
  local map = client.string_map(vars, "vars", "Image:env")
  if map == nil or next(map) == nil then
    error("Image:env: vars must be a non-empty table of NAME = value, got "
      .. (vars == nil and "nil" or "an empty table"), 2)
  end
  for k in pairs(map) do
    if not k:match("^[%a_][%w_]*$") then
      error(string.format("Image:env: %s is not a variable name "
        .. "(letters, digits and _, not starting with a digit)",
        client.show(k)), 2)
    end
  end
  return with(self, { type = "env", args = { vars = map } })
end

--- img:workdir(path) -> a new image where the directory exists (it only
-- creates it: protocol.md 8.6; commands still start in /home/sandbox).
function Image:workdir(path)
  check_self(self, "workdir")
  return with(self, { type = "workdir",
    args = { path = abs_path(path, "the path", "Image:workdir") } })
end

--- img:add_file(path, content) -> a new image with the file at the
-- absolute `path` holding the bytes `content` (sent base64-encoded).
function Image:add_file(path, content)
  check_self(self, "add_file")
  abs_path(path, "the path", "Image:add_file")
  content_of(content, "the content", "Image:add_file")
  return with(self, { type = "add_file", args = { path = path,
    content = b64(content), encoding = "base64" } })
end

-- the bytes of the local file `p`; raises naming it
local function read_local(p, name)
  local f, err = io.open(p, "rb")
  if not f then error(name .. ": " .. err, 3) end
  local data = f:read("a")
  f:close()
  if not data then error(name .. ": cannot read " .. p, 3) end
  return data
end

--- img:add_local_file(local_path, path) -> add_file(path, the bytes of
-- the local file), read now.
function Image:add_local_file(local_path, path)
  check_self(self, "add_local_file")
  client.check_text(local_path, "the local path", "Image:add_local_file")
  abs_path(path, "the path", "Image:add_local_file")
  return with(self, { type = "add_file", args = {
    path = path, content = b64(read_local(local_path,
      "Image:add_local_file")), encoding = "base64" } })
end

-- the add_dir step for `files` (relative path -> bytes), in path order
-- so that equal contents give equal manifests (the server's cache key)
local function dir_step(path, files)
  local names = {}
  for rel in pairs(files) do names[#names + 1] = rel end
  table.sort(names)
  local list = json.array()
  for i, rel in ipairs(names) do
    list[i] = { relativePath = rel, content = b64(files[rel]) }
  end
  return { type = "add_dir", args = { path = path, files = list } }
end

--- img:add_dir(path, {["rel/path"] = content, ...}) -> a new image with
-- the files under the absolute directory `path`; keys are relative paths
-- (no "..", no leading "/"), values their bytes.
function Image:add_dir(path, files)
  check_self(self, "add_dir")
  abs_path(path, "the path", "Image:add_dir")
  if type(files) ~= "table" or next(files) == nil then
    error("Image:add_dir: files must be a non-empty table of relative path "
      .. "= content, got " .. (type(files) == "table" and "an empty table"
        or client.show(files)), 2)
  end
  local copy = {}
  for rel, v in pairs(files) do
    copy[rel_path(rel, "Image:add_dir")] = content_of(v,
      "files[" .. string.format("%q", rel) .. "]", "Image:add_dir")
  end
  return with(self, dir_step(path, copy))
end

-- every regular file under the directory `root` (core.fs_root) as
-- {relative path = bytes} into `files`; nil and a message on failure
local function read_tree(root, dir, files)
  local entries, err = root:list(dir == "" and "/" or dir)
  if not entries then return nil, (dir == "" and "." or dir) .. ": " .. tostring(err) end
  for _, e in ipairs(entries) do
    local rel = dir == "" and e.name or dir .. "/" .. e.name
    if e.is_dir then
      local ok, werr = read_tree(root, rel, files)
      if not ok then return nil, werr end
    else
      local f, ferr, code = root:open(rel, "r")
      if f then
        local parts = {}
        while true do
          local chunk = f:read(1 << 20)
          if not chunk then break end
          parts[#parts + 1] = chunk
        end
        f:close()
        files[rel] = table.concat(parts)
      elseif code ~= "ENOTREG" then	-- a FIFO, socket or device is skipped
        return nil, rel .. ": " .. tostring(ferr)
      end
    end
  end
  return true
end

--- img:add_local_dir(local_path, path) -> add_dir(path, every regular
-- file under the local directory, read now; symbolic links do not lead
-- out of it, FIFOs, sockets and devices are skipped).
function Image:add_local_dir(local_path, path)
  check_self(self, "add_local_dir")
  client.check_text(local_path, "the local path", "Image:add_local_dir")
  abs_path(path, "the path", "Image:add_local_dir")
  local root, err = require("opencomputer.core").fs_root(local_path)
  if not root then error("Image:add_local_dir: " .. tostring(err), 2) end
  local files = {}
  local ok, terr = read_tree(root, "", files)
  root:close()
  if not ok then
    error("Image:add_local_dir: " .. local_path .. ": " .. terr, 2)
  end
  if next(files) == nil then
    error("Image:add_local_dir: no files under " .. local_path, 2)
  end
  return with(self, dir_step(path, files))
end

-- the memory sizes in MiB a sandbox (a build's too) may have: the
-- resource tiers of protocol.md 2.2, which oclua's server also requires
-- of builderMemoryMB and runtimeMemoryMB (server/request.lua)
local TIERS = { 1024, 4096, 8192, 16384 }

-- a memory size in MiB, one of TIERS (a float with an integral value is
-- taken as that integer); raises at the caller of method `name`
local function check_mb(mb, name)
  local n = type(mb) == "number" and math.tointeger(mb)
  for _, t in ipairs(TIERS) do
    if n == t then return n end
  end
  error(string.format("%s: give the memory in MiB as one of %s, got %s",
    name, table.concat(TIERS, ", "), client.show(mb)), 3)
end

--- img:builder_memory(mb) -> a new image built in a sandbox of that
-- much memory (`builderMemoryMB`, default 4096); the image is the same.
-- `mb`: one of the tiers 1024, 4096, 8192, 16384 (protocol.md 2.2), else
-- an error at once.
function Image:builder_memory(mb)
  check_self(self, "builder_memory")
  return with(self, nil, "builderMemoryMB",
    check_mb(mb, "Image:builder_memory"))
end

--- img:runtime_memory(mb) -> a new image whose sandboxes get at least
-- that much memory (`runtimeMemoryMB`, default 1024); `mb` one of the
-- tiers, as for builder_memory.
function Image:runtime_memory(mb)
  check_self(self, "runtime_memory")
  return with(self, nil, "runtimeMemoryMB",
    check_mb(mb, "Image:runtime_memory"))
end

-- a deep copy, lists marked as JSON arrays
local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  if getmetatable(v) == getmetatable(json.array()) then json.array(out) end
  return out
end

--- img:manifest() -> the manifest table sent to the server (protocol.md
-- 8.6): {base =, steps = {{type =, args = {...}}, ...}, builderMemoryMB =,
-- runtimeMemoryMB =}, file contents in base64. A copy: changing it does
-- not change the image.
function Image:manifest()
  check_self(self, "manifest")
  local out = copy(manifests[self])
  out.steps = json.array(out.steps)
  return out
end

--- The steps as "type, type, ..." after the base.
function Image:__tostring()
  local m = manifests[self]
  local types = {}
  for i, s in ipairs(m.steps) do types[i] = s.type end
  return "Image " .. m.base .. (#types > 0 and " + " .. table.concat(types, ", ") or "")
end

return M
