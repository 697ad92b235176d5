-- opencomputer/cli/files.lua - `oclua files ID ls|get|put`: quick
-- transfers between this machine and a sandbox (protocol.md 5), streamed
-- both ways (one chunk in memory at a time), with a progress bar on
-- standard error when it is a terminal and the file is large.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local json = require("opencomputer.runtime.json")
local command = require("opencomputer.cli.command")

local M = {}

local NAME = "files"
local CHUNK = 256 * 1024	-- bytes per read of a local file (5: 256 KiB)
M.LARGE = 1024 * 1024		-- a transfer this big gets a progress bar

M.usage = [[
usage: oclua files ID ls|list [-l] [--json] [PATH]
       oclua files ID get [-q] REMOTE [LOCAL|-]
       oclua files ID put [-q] LOCAL|- [REMOTE]

  ls    the entries of the directory PATH (default /home/sandbox), one
        name a line, directories ending in /; -l adds their sizes;
        --json prints the list as JSON ({name, is_dir, path, size})
  get   copy the file REMOTE of the sandbox to LOCAL (default: its name,
        here; into LOCAL when that is a directory); - writes it to
        standard output. LOCAL is replaced only once the whole file is
        there.
  put   copy the file LOCAL (- for standard input) to REMOTE in the
        sandbox (default: its name in /home/sandbox; into REMOTE when it
        ends with /), parents made; an upload cut short leaves the old
        file as it was.

Relative sandbox paths are relative to /home/sandbox. Transfers stream:
a file of any size takes one chunk of memory. A progress bar is drawn on
standard error when it is a terminal and the file is 1 MiB or more;
-q, --quiet draws none.

Options of every command: --api-url URL, --api-key KEY, -h/--help.

]] .. command.SERVER_HELP .. [[

Exit status: 0 done, 1 failed (the message says what to do), 2 usage.
]]

local function basename(p)
  return (p:gsub("/+$", ""):match("([^/]*)$"))
end

-- is the local path `p` a directory?
local function is_dir(p)
  local f = io.open(p, "r")
  if not f then return false end
  local _, _, code = f:read(0)
  f:close()
  return code == 21	-- EISDIR
end

--- A progress bar for a transfer of `total` bytes (nil: unknown) named
-- `label`, drawn on stderr at most 10 times a second once the transfer
-- is large (M.LARGE), when stderr is a terminal and `quiet` is not set:
-- p:add(bytes), p:finish() (the last state, then a newline).
function M.progress(label, total, quiet)
  local p = { done = 0 }
  if quiet or not core.isatty(2) then
    function p.add(self, n) self.done = self.done + n end
    function p.finish() end
    return p
  end
  local t0, last, shown = oc.now(), -1, false
  local function draw(now)
    local cols = core.term_size(2) or 80
    local rate = p.done / math.max(now - t0, 1e-3)
    local right
    if total and total > 0 then
      right = string.format(" %3d%%  %s / %s  %s/s", p.done * 100 // total,
        command.bytes(p.done), command.bytes(total), command.bytes(rate))
    else
      right = string.format("  %s  %s/s", command.bytes(p.done), command.bytes(rate))
    end
    local name = label
    local room = cols - 1 - #right - 2
    local bar = ""
    if total and total > 0 and room - #name >= 12 then
      local w = room - #name - 2
      local full = math.min(w, w * p.done // total)
      bar = " [" .. ("="):rep(full) .. (full < w and ">" or "")
        .. (" "):rep(math.max(w - full - 1, 0)) .. "]"
    elseif #name > room then
      name = "..." .. name:sub(-(math.max(room - 3, 1)))
    end
    io.stderr:write("\r", name, bar, right, "\27[K")
    io.stderr:flush()
    shown = true
  end
  function p.add(self, n)
    self.done = self.done + n
    if (total or self.done) < M.LARGE then return end
    local now = oc.now()
    if now - last >= 0.1 then last = now; draw(now) end
  end
  function p.finish()
    if shown then draw(oc.now()); io.stderr:write("\n") end
  end
  return p
end

local function ls(sb, opts, args)
  local path = args[1] or "/home/sandbox"
  if #args > 1 then command.usage_error(NAME, "ls takes one PATH") end
  local list = sb.files:list(path)
  table.sort(list, function(a, b) return a.name < b.name end)
  if opts.json then
    command.print_json(json.array(list))
    return
  end
  if opts.long then
    local rows = {}
    for _, e in ipairs(list) do
      rows[#rows + 1] = { e.is_dir and "-" or command.bytes(e.size),
        e.name .. (e.is_dir and "/" or "") }
    end
    command.table(rows)
    return
  end
  for _, e in ipairs(list) do io.write(e.name, e.is_dir and "/" or "", "\n") end
end

local function get(sb, opts, args)
  local remote, dest = args[1], args[2]
  if not remote or #args > 2 then
    command.usage_error(NAME, "get takes REMOTE and, optionally, LOCAL or -")
  end
  dest = dest or basename(remote)
  if dest == "" then command.usage_error(NAME, "give LOCAL: " .. remote .. " names no file") end
  if dest ~= "-" and is_dir(dest) then dest = dest .. "/" .. basename(remote) end
  -- the size, for the progress bar (a server may not answer HEAD)
  local total
  local ok, _, res = pcall(sb.call, sb, "HEAD", "/files", { query = { path = remote } })
  if ok and res then total = tonumber(res.headers["content-length"]) end
  local out, tmp = io.stdout, nil
  if dest ~= "-" then
    tmp = dest:gsub("[^/]*$", function(n) return "." .. n .. ".oclua-part" end)
    local err
    out, err = io.open(tmp, "wb")
    if not out then error("cannot write " .. err, 0) end
  end
  local bar = M.progress(dest == "-" and remote or dest, total, opts.quiet)
  local done, err = pcall(sb.files.call, sb.files, "GET", "/files", remote,
    { on_body = function(chunk)
      local w, werr = out:write(chunk)
      if not w then error("cannot write " .. (dest == "-" and "standard output" or tmp)
        .. ": " .. tostring(werr), 0) end
      bar:add(#chunk)
    end })
  bar:finish()
  if tmp then
    local closed, cerr = out:close()
    if done and not closed then done, err = false, "cannot write " .. tmp .. ": " .. tostring(cerr) end
    if done then
      local moved, merr = os.rename(tmp, dest)
      if not moved then done, err = false, "cannot write " .. tostring(merr) end
    end
    if not done then os.remove(tmp) end
  else
    io.stdout:flush()
  end
  if not done then error(err, 0) end
end

local function put(sb, opts, args)
  local src, remote = args[1], args[2]
  if not src or #args > 2 then
    command.usage_error(NAME, "put takes LOCAL (or -) and, optionally, REMOTE")
  end
  if src == "-" and not remote then
    command.usage_error(NAME, "put - needs REMOTE: the name to give standard input")
  end
  remote = remote or basename(src)
  if remote:sub(-1) == "/" then remote = remote .. basename(src) end
  local next_chunk, total, input
  if src == "-" then
    input = core.stdin_reader()
    total = input:size()	-- a redirected file's; a pipe has none
    next_chunk = function() return input:read() end
  else
    local f, err = io.open(src, "rb")
    if not f then error("cannot read " .. err, 0) end
    if is_dir(src) then error("cannot read " .. src .. ": a directory", 0) end
    total = f:seek("end")
    f:seek("set", 0)
    input = f
    next_chunk = function()
      local chunk, rerr = f:read(CHUNK)
      if not chunk and rerr then error("cannot read " .. src .. ": " .. rerr, 0) end
      return chunk
    end
  end
  local bar = M.progress(remote, total, opts.quiet)
  local ok, err = pcall(sb.files.write, sb.files, remote, function()
    local chunk = next_chunk()
    if chunk then bar:add(#chunk) end
    return chunk
  end)
  bar:finish()
  input:close()
  if not ok then error(err, 0) end
end

local VERBS = { ls = ls, list = ls, get = get, put = put }

--- oclua files ID VERB ARGS...
function M.main(...)
  local opts, words = command.parse(NAME, { ... }, command.with_server({
    json = { key = "json" }, l = { key = "long" },
    quiet = { key = "quiet" }, q = { alias = "quiet" },
  }))
  if opts.help then io.write(M.usage); os.exit(0) end
  local id, verb = words[1], words[2]
  if not id then io.stderr:write(M.usage); os.exit(2) end
  if not verb then command.usage_error(NAME, "give ls, get or put after the ID") end
  local fn = VERBS[verb]
  if not fn then
    command.usage_error(NAME, "unknown command " .. string.format("%q", verb)
      .. " (ls, get or put)")
  end
  command.need_server(NAME, opts)
  command.run(NAME, opts, function()
    local sb = oc.Sandbox.connect(id, command.sdk_opts(opts))
    fn(sb, opts, { table.unpack(words, 3) })
  end, 1, id)
end

return M
