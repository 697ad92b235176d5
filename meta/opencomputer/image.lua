---@meta _
-- meta/opencomputer/image.lua - LuaCATS annotations of oc.Image
-- (lua/opencomputer/sdk/image.lua, API.md 11, protocol.md 8.6).

---A declarative image manifest, built by chained calls:
---`oc.Image.base():apt_install{"curl"}:run{"mkdir -p /srv"}:workdir("/srv")`.
---Immutable: each method returns a new image and leaves its receiver as it
---was (assigning a field raises). Use it with `oc.Sandbox.create{image=}`
---or `oc.Snapshot.create{name=, image=}`. Every argument is checked when
---the step is added (a string error naming it), before any request.
---@class oc.Image
local Image = {}

---The image of the default environment (the template "base"), with no
---steps; `name` is sent as the manifest's `base` ("", "ubuntu" and
---"default" name the default too).
---@param name? string
---@return oc.Image
function Image.base(name) end

---A new image that installs these Debian packages (apt update + install).
---@param packages string[] a non-empty list
---@return oc.Image
function Image:apt_install(packages) end

---A new image that pip-installs these packages.
---@param packages string[] a non-empty list
---@return oc.Image
function Image:pip_install(packages) end

---A new image that runs the shell commands (joined with &&) as the
---sandbox user: `img:run{"a", "b"}` or `img:run("a", "b")`.
---@param commands string|string[]
---@param ... string more commands
---@return oc.Image
function Image:run(commands, ...) end

---The same as `run` (the TypeScript SDK's runCommands).
---@param commands string|string[]
---@param ... string more commands
---@return oc.Image
function Image:run_commands(commands, ...) end

---A new image whose environment has these variables (NAME = value; names
---are shell variable names).
---@param vars table<string, string|number> a non-empty table
---@return oc.Image
function Image:env(vars) end

---A new image where the directory `path` (absolute) exists; commands still
---start in /home/sandbox.
---@param path string
---@return oc.Image
function Image:workdir(path) end

---A new image with the file at the absolute `path` holding the bytes `content`.
---@param path string
---@param content string bytes
---@return oc.Image
function Image:add_file(path, content) end

---add_file(path, the bytes of the local file `local_path`), read now.
---Raises a string error naming a file that cannot be read.
---@param local_path string
---@param path string
---@return oc.Image
function Image:add_local_file(local_path, path) end

---A new image with the files under the absolute directory `path`: keys are
---relative paths (no "..", no leading "/"), values their bytes.
---@param path string
---@param files table<string, string> a non-empty table
---@return oc.Image
function Image:add_dir(path, files) end

---add_dir(path, every regular file under the local directory, read now;
---symbolic links do not lead out of it; FIFOs, sockets, devices skipped).
---@param local_path string
---@param path string
---@return oc.Image
function Image:add_local_dir(local_path, path) end

---A new image built in a sandbox of `mb` MiB of memory (default 4096); the
---image is the same. `mb` is one of the resource tiers 1024, 4096, 8192,
---16384 (protocol.md 2.2); any other value raises a string error at once.
---@param mb 1024|4096|8192|16384 MiB
---@return oc.Image
function Image:builder_memory(mb) end

---A new image whose sandboxes get at least `mb` MiB of memory (default
---1024); one of the same tiers as `builder_memory`, else a string error.
---@param mb 1024|4096|8192|16384 MiB
---@return oc.Image
function Image:runtime_memory(mb) end

---The manifest table sent to the server (protocol.md 8.6), file contents
---in base64. A copy: changing it does not change the image.
---@return oc.ImageManifest
function Image:manifest() end

---An image manifest (protocol.md 8.6), as `img:manifest()` gives it.
---@class oc.ImageManifest
---@field base string The base image.
---@field steps {type: string, args: table}[] The steps in order.
---@field builderMemoryMB? integer The builder's memory in MiB.
---@field runtimeMemoryMB? integer The sandboxes' memory in MiB.
