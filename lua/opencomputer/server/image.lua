-- opencomputer/server/image.lua - declarative images (protocol.md 8.6),
-- the snapshots that name them (8.5), and creating sandboxes from either
-- (2.2, 2.2.1, 8.3).
--
-- A manifest (checked by request.lua's manifest rule) is built once per
-- content: its cache key is the SHA-256 (hex) of the canonical JSON of
-- {"base", "steps"} (M.canonical). A build boots a throw-away sandbox
-- (network on, builderMemoryMB), runs each step as a shell command of at
-- most STEP_TIMEOUT seconds, streaming each line of its output as it comes
-- to whoever listens (the SSE answers of 2.2.1), then checkpoints the
-- sandbox (checkpoint.lua) and deletes it. One build per content hash at
-- a time: an identical request while one is under way waits for it and
-- hears the rest of its log.
--
-- Records (the ImageCache objects of 8.5) are DATA/images/<uuid>.json:
-- for each content hash at most one unnamed record (the cache entry that
-- `image` creates and templates use), plus one record per snapshot name.
-- Records of one content share its checkpoint, and so its patches (8.4);
-- the checkpoint is held (checkpoint.hold) while any record names it and
-- deleted when the last one goes (checkpoint.release: a build's
-- checkpoint is internal). Snapshots stay until deleted; the unnamed
-- records are bounded (M.trim: the cache_max most recently used of those
-- nothing uses).
--
-- Step commands (the cloud's shapes, 8.6), run as the sandbox user:
--   apt_install  sudo DEBIAN_FRONTEND=noninteractive apt-get update &&
--                sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -- P...
--   pip_install  sudo PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install
--                --no-input -- P...   (system-wide, as root)
--   run          the commands joined with " && ", as written
--   env          K=V lines appended to /etc/environment, and `export K='V'`
--                to /etc/profile.d/oclua-image-env.sh (so `bash -lc` sees
--                them; a plain exec does not, as in the cloud)
--   workdir      sudo mkdir -p; a directory it makes is the sandbox user's
--   add_file     the bytes written as root (root-owned, mode 0644), parent
--   add_dir      directories made as needed
-- A script step's text reaches bash on its stdin (bash -c 'eval "$(cat)"'),
-- so its size is bounded only by the request's, and its commands read
-- end-of-file from stdin.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local json = require("opencomputer.runtime.json")
local random = require("opencomputer.runtime.random")
local task = require("opencomputer.runtime.task")
local http = require("opencomputer.server.http")
local request = require("opencomputer.server.request")
local records = require("opencomputer.server.records")
local sandbox = require("opencomputer.server.sandbox")
local checkpoint = require("opencomputer.server.checkpoint")
local exec = require("opencomputer.server.exec")

local M = {}

M.STEP_TIMEOUT = 300	-- seconds a step may run (8.6)
M.KEEPALIVE = 15	-- seconds between SSE keepalive comments (2.2.1)
M.STDERR_MAX = 500	-- bytes of a failed step's stderr in its message
M.LINE_MAX = 4096	-- bytes of output in one build_log message
M.SSE_QUEUE_MAX = 4 * 1024 * 1024	-- bytes of events queued for a
				-- slow client before log lines are dropped
M.FILE_BATCH = 400	-- files written by one command
M.FILE_BATCH_ARGS = 64 * 1024	-- bytes of paths in one command's argv
M.CACHE_MAX = 16	-- unnamed images kept that nothing uses (M.trim)

local ENV_FILE = "/etc/environment"
local PROFILE_FILE = "/etc/profile.d/oclua-image-env.sh"
local BASES = { [""] = true, base = true, ubuntu = true, default = true }

-- manifests ---------------------------------------------------------------

local function array(t) return json.array(t or {}) end

--- The manifest `m` (checked by request.lua) in its stored form: base
-- "base" (its aliases "", ubuntu, default are the same image), steps
-- with only their known fields, lists as JSON arrays; name and the
-- memory knobs kept when given.
function M.normalize(m)
  local steps = array()
  for i, s in ipairs(m.steps or {}) do
    local a, args = s.args, nil
    local t = s.type
    if t == "apt_install" or t == "pip_install" then
      args = { packages = array({ table.unpack(a.packages) }) }
    elseif t == "run" then
      args = { commands = array({ table.unpack(a.commands) }) }
    elseif t == "env" then
      local vars = {}
      for k, v in pairs(a.vars) do vars[k] = v end
      args = { vars = vars }
    elseif t == "workdir" then
      args = { path = a.path }
    elseif t == "add_file" then
      args = { path = a.path, content = a.content }
    elseif t == "add_dir" then
      local files = array()
      for j, f in ipairs(a.files) do
        files[j] = { relativePath = f.relativePath, content = f.content }
      end
      args = { path = a.path, files = files }
    end
    steps[i] = { type = t, args = args }
  end
  assert(BASES[m.base or ""], "unchecked manifest")
  return { base = "base", steps = steps, name = m.name,
    builderMemoryMB = m.builderMemoryMB, runtimeMemoryMB = m.runtimeMemoryMB }
end

-- the fields of each step's args, in the order the official TypeScript
-- SDK's Image writes them
local ARG_ORDER = {
  apt_install = { "packages" }, pip_install = { "packages" },
  run = { "commands" }, env = { "vars" }, workdir = { "path" },
  add_file = { "path", "content", "encoding" }, add_dir = { "path", "files" },
}

-- JSON of a string as JSON.stringify writes it: "/" not escaped
local function str(s)
  return (json.encode(s):gsub("\\/", "/"))
end

-- JSON of a value of a step's args, keys in a fixed order
local function value(v)
  if type(v) == "string" then return str(v) end
  if v[1] ~= nil or getmetatable(v) then	-- a list (json.array)
    local out = {}
    for i, x in ipairs(v) do out[i] = value(x) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  if v.relativePath then keys = { "relativePath", "content" }
  else table.sort(keys) end	-- env vars
  local out = {}
  for i, k in ipairs(keys) do out[i] = str(k) .. ":" .. value(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end

--- The canonical JSON of a normalized manifest's content (8.6: what the
-- cache key hashes): {"base", "steps"}, each step {"type", "args"}, the
-- args' fields in the order the official TypeScript SDK's Image writes
-- them (add_file with "encoding":"base64", however it was given), env
-- vars sorted, no spaces, "/" as is. Name and memory knobs are not part
-- of it. Its SHA-256 is that SDK's Image.cacheKey() for the manifests it
-- builds (env vars given in sorted order).
function M.canonical(n)
  local steps = {}
  for i, step in ipairs(n.steps) do
    local args = {}
    for _, k in ipairs(ARG_ORDER[step.type]) do
      local v = k == "encoding" and "base64" or step.args[k]
      args[#args + 1] = str(k) .. ":" .. value(v)
    end
    steps[i] = '{"type":' .. str(step.type) .. ',"args":{'
      .. table.concat(args, ",") .. "}}"
  end
  return '{"base":' .. str(n.base) .. ',"steps":[' .. table.concat(steps, ",")
    .. "]}"
end

--- The content hash (cache key) of a normalized manifest: 64 hex digits.
function M.content_hash(n)
  return core.sha256(M.canonical(n))
end

--- `s` as one word of a POSIX shell: single-quoted, ' written as '\''.
function M.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
local quote = M.quote

local function quote_all(list)
  local out = {}
  for i, s in ipairs(list) do out[i] = quote(s) end
  return table.concat(out, " ")
end

-- bash writes what its stdin carries, as root: args are (mode, path,
-- bytes) triples, mode "w" or "a"; each file's parents are made
local WRITER = [[
set -e
while [ "$#" -gt 0 ]; do
  mkdir -p -- "$(dirname -- "$2")"
  if [ "$1" = a ]; then head -c "$3" >> "$2"; else head -c "$3" > "$2"; fi
  shift 3
done]]

-- the commands of file writes {mode, path, bytes}, in batches
local function writes(files)
  local cmds, batch, data, size = {}, nil, nil, 0
  for _, f in ipairs(files) do
    if not batch or #batch >= 5 + 3 * M.FILE_BATCH
        or size + #f[2] > M.FILE_BATCH_ARGS then
      batch, data, size = { "sudo", "/bin/bash", "-c", WRITER, "bash" }, {}, 0
      cmds[#cmds + 1] = { argv = batch, stdin = data }
    end
    batch[#batch + 1] = f[1]
    batch[#batch + 1] = f[2]
    batch[#batch + 1] = tostring(#f[3])
    data[#data + 1] = f[3]
    size = size + #f[2]
  end
  for _, c in ipairs(cmds) do c.stdin = table.concat(c.stdin) end
  return cmds
end

local function script(text)
  return { argv = { "/bin/bash", "-c", 'eval "$(cat)"' }, stdin = text }
end

--- The commands of one normalized step: a list of {argv = {...}, stdin =
-- bytes}, run in order as the sandbox user; and a one-line description
-- for the build log.
function M.step_commands(step)
  local a, t = step.args, step.type
  if t == "apt_install" then
    local env = "sudo DEBIAN_FRONTEND=noninteractive "
    return { script(env .. "apt-get update && " .. env
      .. "apt-get install -y -- " .. quote_all(a.packages)) },
      table.concat(a.packages, " ")
  elseif t == "pip_install" then
    return { script("sudo PIP_BREAK_SYSTEM_PACKAGES=1 "
      .. "PIP_ROOT_USER_ACTION=ignore python3 -m pip install --no-input -- "
      .. quote_all(a.packages)) }, table.concat(a.packages, " ")
  elseif t == "run" then
    local text = table.concat(a.commands, " && ")
    return { script(text) }, text
  elseif t == "env" then
    local keys = {}
    for k in pairs(a.vars) do keys[#keys + 1] = k end
    table.sort(keys)
    local lines, exports = {}, {}
    for i, k in ipairs(keys) do
      lines[i] = k .. "=" .. a.vars[k] .. "\n"
      exports[i] = "export " .. k .. "=" .. quote(a.vars[k]) .. "\n"
    end
    return writes({ { "a", ENV_FILE, table.concat(lines) },
      { "a", PROFILE_FILE, table.concat(exports) } }), table.concat(keys, " ")
  elseif t == "workdir" then
    local p = quote(a.path)
    return { script("[ -d " .. p .. " ] || { sudo mkdir -p -- " .. p
      .. " && sudo chown sandbox:sandbox -- " .. p .. "; }") }, a.path
  elseif t == "add_file" then
    local bytes = assert(core.base64_decode(a.content))
    return writes({ { "w", a.path, bytes } }),
      a.path .. " (" .. #bytes .. " bytes)"
  elseif t == "add_dir" then
    local files = {}
    local root = a.path:gsub("/+$", "")
    for i, f in ipairs(a.files) do
      files[i] = { "w", root .. "/" .. f.relativePath,
        assert(core.base64_decode(f.content)) }
    end
    return writes(files), a.path .. " (" .. #files .. " files)"
  end
  error("unknown step type " .. tostring(t))
end

-- running a build ------------------------------------------------------------

-- Run one command in the sandbox `sb`; each line of its output goes to
-- line(text). Its exit code (-1 when killed, or when it cannot start),
-- the first STDERR_MAX bytes of its stderr, and whether it timed out.
local function run_command(sb, cmd, line)
  local proc, why = sb:spawn(cmd.argv)
  if not proc then return -1, "cannot start " .. cmd.argv[1] .. ": " .. why end
  if cmd.stdin and cmd.stdin ~= "" then
    oc.spawn(function()
      pcall(proc.write, proc, cmd.stdin)
      pcall(proc.close_stdin, proc)
    end)
  else
    proc:close_stdin()
  end
  local finished, timed_out = task.condition(), false
  oc.spawn(function()
    if not finished:wait(M.STEP_TIMEOUT) then
      timed_out = true
      proc:kill(9)
    end
  end)
  local partial, stderr = { "", "" }, {}
  local kept = 0
  local code
  while true do
    local stream, frame = proc:read()
    if not stream then code = frame break end
    local data = frame:sub(2)
    if stream == 2 and kept < M.STDERR_MAX then
      stderr[#stderr + 1] = data:sub(1, M.STDERR_MAX - kept)
      kept = kept + #stderr[#stderr]
    end
    local buf = partial[stream] .. data
    local last = 1
    for text, after in buf:gmatch("([^\n]*)\n()") do
      line((text:gsub("\r$", "")))
      last = after
    end
    buf = buf:sub(last)
    while #buf > M.LINE_MAX do
      line(buf:sub(1, M.LINE_MAX))
      buf = buf:sub(M.LINE_MAX + 1)
    end
    partial[stream] = buf
  end
  finished:signal()
  for _, rest in ipairs(partial) do
    if rest ~= "" then line((rest:gsub("\r$", ""))) end
  end
  return code, table.concat(stderr), timed_out
end

-- the state kept on the registry
local function state(reg)
  return assert(reg.image_state, "image.load was not called")
end

-- A build's log goes to every listener: fn(type, step, message).
local function emit(build, kind, step, message)
  for _, fn in ipairs(build.listeners) do pcall(fn, kind, step, message) end
end

local message_of = http.message

--- Run the steps of the normalized manifest `n` in a new throw-away
-- sandbox and checkpoint it; the checkpoint record. The log goes to
-- build's listeners. Raises the message of what failed ("step <i>
-- (<type>) failed (exit X): <stderr>"); nothing of the build stays then.
local function run_build(reg, build, n)
  local steps = n.steps
  emit(build, "build", 0, string.format("building image %s: %d step%s",
    build.hash:sub(1, 12), #steps, #steps == 1 and "" or "s"))
  local mem = n.builderMemoryMB or 4096
  local _, cpus = sandbox.resources(mem)
  local ok, sb = pcall(reg.create, reg, {
    template = "base", memory_mb = mem, cpu_count = cpus, network = true,
    timeout = 0, metadata = { ["oclua:image-build"] = build.hash },
  })
  if not ok then error("cannot start the build sandbox: " .. message_of(sb), 0) end
  build.sandbox = sb
  local done, result = pcall(function()
    for i, step in ipairs(steps) do
      local cmds, what = M.step_commands(step)
      if #what > 200 then what = what:sub(1, 200) .. "..." end
      emit(build, step.type, i, step.type .. ": " .. what)
      local started = oc.now()
      for _, cmd in ipairs(cmds) do
        if sb.deleted then error("the build sandbox was deleted", 0) end
        local code, stderr, timed_out = run_command(sb, cmd, function(text)
          emit(build, step.type, i, text)
        end)
        if sb.deleted then error("the build sandbox was deleted", 0) end
        if timed_out then
          stderr = stderr:gsub("%s+$", "") .. (stderr:find("%S") and "\n"
            or "") .. "(timed out after " .. M.STEP_TIMEOUT .. " s)"
        end
        if code ~= 0 then
          error(string.format("step %d (%s) failed (exit %d): %s", i - 1,
            step.type, code, (stderr:gsub("%s+$", ""))), 0)
        end
      end
      emit(build, step.type, i, string.format("%s completed (%.1f s)",
        step.type, oc.now() - started))
    end
    emit(build, "checkpoint", #steps + 1, "checkpointing the image")
    -- what sandboxes made from it start with (8.6: runtimeMemoryMB)
    sb.metadata = {}
    sb.memory_mb = n.runtimeMemoryMB or 1024
    sb.cpu_count = select(2, sandbox.resources(sb.memory_mb))
    return checkpoint.take(reg, sb, { name = "image " .. build.hash:sub(1, 12),
      internal = true })
  end)
  pcall(sb.delete, sb)
  if not done then error(message_of(result), 0) end
  return result
end

-- records -----------------------------------------------------------------

local RECORD = {
  id = request.required(request.string({ max = 36 })),
  hash = request.required(request.string({ max = 64 })),
  checkpoint_id = request.string({ max = 36 }),
  name = request.string({ max = 128 }),
  status = request.required(request.one_of({ "building", "ready", "failed" })),
  created_at = request.required(request.integer(0, 2 ^ 40)),
  last_used_at = request.integer(0, 2 ^ 40),
  error_msg = request.string({ max = 64 * 1024 }),
  manifest = request.required(request.manifest),
}

local SAVED = { "id", "hash", "checkpoint_id", "name", "status",
  "created_at", "last_used_at", "error_msg", "manifest" }

local function save(reg, rec)
  records.write(state(reg).dir .. "/" .. rec.id .. ".json", rec, SAVED)
end

--- The ImageCache object of a record (protocol.md 8.5; orgId is "":
-- the local server has no organizations).
function M.object(rec)
  return {
    id = rec.id, orgId = "", contentHash = rec.hash,
    checkpointId = rec.checkpoint_id, name = rec.name,
    manifest = rec.manifest, status = rec.status,
    createdAt = exec.rfc3339(rec.created_at),
    lastUsedAt = exec.rfc3339(rec.last_used_at or rec.created_at),
    errorMsg = rec.error_msg,
  }
end

-- what names a record in a checkpoint's held_by
local function label(rec)
  if rec.name then return string.format("snapshot %q", rec.name) end
  return "image " .. rec.id
end

-- Hold checkpoint `cid` for the records that name it (named ones first),
-- or release it when none does.
local function hold(reg, cid)
  local c = cid and checkpoint.get(reg, cid)
  if not c then return end
  local holder
  for _, rec in ipairs(M.list(reg)) do
    if rec.checkpoint_id == cid and rec.status == "ready" then
      holder = holder or label(rec)
      if rec.name then holder = label(rec) break end
    end
  end
  if holder == c.held_by then return end
  if holder then checkpoint.hold(reg, c, holder) else checkpoint.release(reg, c) end
end

--- Every record, oldest first.
function M.list(reg)
  local out = {}
  for _, rec in pairs(state(reg).by_id) do out[#out + 1] = rec end
  table.sort(out, function(a, b)
    if a.created_at ~= b.created_at then return a.created_at < b.created_at end
    return a.id < b.id
  end)
  return out
end

--- The record named `name` (a snapshot), or nil.
function M.named(reg, name)
  for _, rec in pairs(state(reg).by_id) do
    if rec.name == name then return rec end
  end
end

-- the checkpoint of a ready record, or nil
local function usable(reg, rec)
  local c = rec and rec.status == "ready" and rec.checkpoint_id
    and checkpoint.get(reg, rec.checkpoint_id)
  return c and c.status == "ready" and not c.deleted and c or nil
end

-- the unnamed (cache) record of `hash`, if any
local function cache_record(reg, hash)
  for _, rec in pairs(state(reg).by_id) do
    if rec.hash == hash and not rec.name then return rec end
  end
end

-- a ready record of content `hash` whose checkpoint is there (the cache
-- entry first), or nil
local function cached(reg, hash)
  local rec = cache_record(reg, hash)
  if usable(reg, rec) then return rec end
  for _, r in ipairs(M.list(reg)) do
    if r.hash == hash and usable(reg, r) then return r end
  end
end

local function new_record(reg, hash, n, name)
  local rec = { id = random.uuid(), hash = hash, name = name,
    status = "building", created_at = os.time(), manifest = n }
  state(reg).by_id[rec.id] = rec
  return rec
end

-- Record a use of `rec` now: its lastUsedAt (saved), and its place in
-- the least-recently-used order of the cache (M.trim; uses within one
-- second are told apart by their order)
local uses = 0
local function touch(reg, rec)
  uses = uses + 1
  rec.last_used_at, rec.use = os.time(), uses
end

-- Make `rec` ready on checkpoint `cid` and save it.
local function ready(reg, rec, cid)
  rec.status, rec.checkpoint_id, rec.error_msg = "ready", cid, nil
  touch(reg, rec)
  save(reg, rec)
  hold(reg, cid)
end

-- Make sure the unnamed record of `hash` is ready on checkpoint `cid`.
local function cache(reg, hash, n, cid)
  local rec = cache_record(reg, hash)
  if usable(reg, rec) then return rec end
  rec = rec or new_record(reg, hash, n)
  ready(reg, rec, cid)
  return rec
end

-- Remove `rec` (its file; its checkpoint is released if nothing else
-- names it, and so deleted: checkpoint.release). (Yields.)
local function forget(reg, rec)
  state(reg).by_id[rec.id] = nil
  os.remove(state(reg).dir .. "/" .. rec.id .. ".json")
  if rec.checkpoint_id then hold(reg, rec.checkpoint_id) end
end

--- Make `fn(rec)` say whether an image record is in use by something
-- this module does not know (a template names it: template_build.lua);
-- M.trim keeps those.
function M.add_user(reg, fn)
  local users = state(reg).users
  users[#users + 1] = fn
end

--- Bound the cache: of the unnamed records (the cache entries that
-- `image` creates and templates use) that nothing uses at the moment
-- (no template names it, no create or build holds it: M.resolve, M.unpin),
-- keep the cache_max (image.load) most recently used (lastUsedAt);
-- forget the others, and with them their checkpoints unless a snapshot
-- names the same one. Snapshots are never removed here. (Yields.)
function M.trim(reg)
  local st = state(reg)
  local idle = {}
  for _, rec in pairs(st.by_id) do
    local used = rec.name or (rec.pins or 0) > 0
    for _, fn in ipairs(st.users) do used = used or fn(rec) end
    if not used then idle[#idle + 1] = rec end
  end
  if #idle <= st.cache_max then return end
  table.sort(idle, function(a, b)
    local ta, tb = a.last_used_at or a.created_at, b.last_used_at or b.created_at
    if ta ~= tb then return ta < tb end
    if (a.use or 0) ~= (b.use or 0) then return (a.use or 0) < (b.use or 0) end
    return a.id < b.id
  end)
  for i = 1, #idle - st.cache_max do
    local rec = idle[i]
    if st.by_id[rec.id] == rec then
      local ok, err = pcall(forget, reg, rec)
      if not ok then
        io.stderr:write("oclua serve: image ", rec.id, ": ", message_of(err), "\n")
      end
    end
  end
end

--- Done with a record M.resolve returned: M.trim may remove it now.
function M.unpin(reg, rec)
  rec.pins = rec.pins - 1
  M.trim(reg)
end

--- Load the records of an earlier run (at start, after checkpoint.load).
-- A record that cannot be read or is not valid is skipped (left on disk,
-- not listed) with a message; one still building when the server stopped
-- becomes failed, and so does one whose checkpoint is gone. The
-- checkpoints of image builds that no record names any more (a server
-- that stopped between a build and its record, or between forgetting a
-- record and deleting its checkpoint) are deleted. `o`: cache_max, the
-- unnamed records M.trim keeps (default CACHE_MAX; call M.trim once the
-- users, M.add_user, are known). A list of messages saying what was
-- skipped or changed.
function M.load(reg, data_dir, o)
  o = o or {}
  local st = { dir = data_dir .. "/images", by_id = {}, builds = {},
    users = {}, cache_max = o.cache_max or M.CACHE_MAX }
  reg.image_state = st
  local warnings = {}
  for _, r in ipairs(records.read_dir(st.dir, RECORD, "image record")) do
    local id, doc = r.key, r.doc
    local why = r.why or (doc.id ~= id and "the record is of " .. doc.id)
      or (doc.name and M.named(reg, doc.name) and "the name "
        .. doc.name .. " is taken by another record")
    if why then
      warnings[#warnings + 1] = "skipped image " .. st.dir .. "/" .. id
        .. ".json: " .. why
    else
      doc.manifest = M.normalize(doc.manifest)
      st.by_id[id] = doc
      local gone = doc.status == "ready" and not usable(reg, doc)
      if doc.status == "building" or gone then
        doc.status = "failed"
        doc.error_msg = gone and "its checkpoint " .. tostring(doc.checkpoint_id)
          .. " is gone" or "the server stopped during the build"
        doc.checkpoint_id = nil
        pcall(save, reg, doc)
        warnings[#warnings + 1] = "image " .. id .. ": " .. doc.error_msg
      end
    end
  end
  local named = {}
  for _, rec in ipairs(M.list(reg)) do
    if rec.status == "ready" then
      local c = checkpoint.get(reg, rec.checkpoint_id)
      -- only builds make the checkpoints records name (records of an
      -- older server did not say so)
      if c and not c.internal then
        c.internal = true
        pcall(checkpoint.save, reg, c)
      end
      named[rec.checkpoint_id] = true
      hold(reg, rec.checkpoint_id)
    end
  end
  for _, c in ipairs(checkpoint.list(reg)) do
    if c.internal and not named[c.id] then
      warnings[#warnings + 1] = "checkpoint " .. c.id .. " of an image build "
        .. "that no image names is deleted"
      checkpoint.release(reg, c)
    end
  end
  return warnings
end

--- Resolve the normalized manifest `n` to a ready record: the cache's
-- (log "cache_hit"), else the result of a build (this one's, or an
-- identical one's under way). `log(type, step, message)` hears the
-- build's lines as they come. The record is pinned: M.trim keeps it
-- until the caller, done with it, calls M.unpin. Raises the build's
-- message on failure (nothing pinned then).
function M.resolve(reg, n, log)
  local st = state(reg)
  local hash = M.content_hash(n)
  local hit = cached(reg, hash)
  if hit then
    touch(reg, hit)
    pcall(save, reg, hit)
    log("cache_hit", 0, "image " .. hash:sub(1, 12) .. " is cached (checkpoint "
      .. hit.checkpoint_id .. ")")
    local rec = cache(reg, hash, n, hit.checkpoint_id)
    rec.pins = (rec.pins or 0) + 1
    return rec
  end
  local build = st.builds[hash]
  if build then
    log("build", 0, "waiting for the identical build of image "
      .. hash:sub(1, 12) .. " under way")
  else
    build = { hash = hash, listeners = {}, done = task.condition() }
    st.builds[hash] = build
    oc.spawn(function()
      local ok, rec = pcall(run_build, reg, build, n)
      if ok then ok, rec = pcall(cache, reg, hash, n, rec.id) end
      build.finished = true
      build.error = not ok and reg:public(rec, "image " .. hash:sub(1, 12)) or nil
      st.builds[hash] = nil
      if ok then
        -- one pin for each waiter, until it has what it waited for
        build.record = rec
        rec.pins = (rec.pins or 0) + #build.listeners
      end
      build.done:signal()
      if ok then M.trim(reg) end
    end)
  end
  build.listeners[#build.listeners + 1] = log
  while not build.finished do build.done:wait() end
  for i, fn in ipairs(build.listeners) do
    if fn == log then table.remove(build.listeners, i) break end
  end
  if build.error then error(build.error, 0) end
  return build.record
end

-- SSE (protocol.md 2.2.1) ---------------------------------------------------

local SSE_HEADERS = http.headers({ ["Content-Type"] = "text/event-stream",
  ["Cache-Control"] = "no-cache" })

--- Does the request ask for the build log as server-sent events (its
-- Accept header is exactly text/event-stream, 2.2.1)?
function M.wants_sse(req)
  local accept = req.headers["accept"]
  return accept ~= nil and accept:lower():match("^%s*(.-)%s*$")
    == "text/event-stream"
end

--- Start a 200 text/event-stream answer on `req`; a stream with
-- :log(type, step, message) (a build_log event), :finish(name, data)
-- (the terminal event; waits until written). Events go out in order
-- from one writer task, with a ": keepalive" comment every KEEPALIVE
-- seconds; past SSE_QUEUE_MAX queued bytes (a client that does not
-- read) log lines are dropped, never the terminal event. A client that
-- went away costs nothing more: writes stop.
function M.stream(req)
  req:start(200, SSE_HEADERS)
  local s = { queue = {}, bytes = 0, dropped = 0, cond = task.condition() }
  local function push(text)
    s.queue[#s.queue + 1] = text
    s.bytes = s.bytes + #text
    s.cond:signal()
  end
  local function write(text)
    if s.gone then return end
    local ok = pcall(req.write, req, text)
    if not ok or req:closed() then s.gone = true end
  end
  s.writer = oc.spawn(function()
    local next_keepalive = oc.now() + M.KEEPALIVE
    while true do
      if #s.queue > 0 then
        local text = table.concat(s.queue)
        s.queue, s.bytes = {}, 0
        write(text)
      elseif s.closing then
        return
      else
        local left = next_keepalive - oc.now()
        if left <= 0 or not s.cond:wait(left) then
          if oc.now() >= next_keepalive then
            write(": keepalive\n\n")
            next_keepalive = next_keepalive + M.KEEPALIVE
          end
        end
      end
    end
  end)
  function s.event(name, data)
    return "event: " .. name .. "\ndata: " .. json.encode(data) .. "\n\n"
  end
  function s.log(kind, step, message)
    if s.bytes > M.SSE_QUEUE_MAX then
      s.dropped = s.dropped + 1
      return
    end
    if s.dropped > 0 then
      push(s.event("build_log", { step = step, type = kind, message = "("
        .. s.dropped .. " lines dropped: the client read too slowly)" }))
      s.dropped = 0
    end
    push(s.event("build_log", { step = step, type = kind, message = message }))
  end
  function s.finish(name, data)
    push(s.event(name, data))
    s.closing = true
    s.cond:signal()
    s.writer:wait()
    if not s.gone then pcall(req.finish, req) end
  end
  return s
end

-- Answer a request in one of the three modes of protocol.md 8.5: SSE
-- (the log, then `result` or `error`), `?async=1` (202 at once, the work
-- goes on), or synchronous. `work(log)` does it and returns the answer's
-- object, or raises {status, message} (http.abort) for an error (an
-- SSE `error` event's message has no host paths: sandbox.public);
-- `started` is the 202's object (async mode only).
local function answer(reg, req, mode, status, work, started)
  if mode == "sse" then
    local s = M.stream(req)
    local ok, result = pcall(work, s.log)
    if ok then
      s.finish("result", result)
    else
      s.finish("error", { error = reg:public(result, req.method .. " " .. req.path) })
    end
    return
  end
  if mode == "async" then
    oc.spawn(function() pcall(work, function() end) end)
    return http.json(req, 202, started)
  end
  http.json(req, status, work(function() end))
end

local function mode_of(req)
  if M.wants_sse(req) then return "sse" end
  local async = req.query.async
  if async == "1" or async == "true" then return "async" end
  return "sync"
end

-- routes --------------------------------------------------------------------

local function snapshot_of(reg, name)
  local rec = M.named(reg, request.id(name, "snapshot name"))
  if not rec then http.abort(404, "snapshot not found") end
  return rec
end

-- the checkpoint a patch route of a snapshot or an image acts on
local function patch_target(reg, rec, what, key)
  if not rec then
    http.abort(404, string.format('%s "%s" not found', what, key))
  end
  local c = usable(reg, rec)
  if not c then
    http.abort(400, string.format('%s "%s" is not ready (status: %s)', what,
      key, rec.status))
  end
  return c
end

-- Build `n` for a named record `rec` (a snapshot, or a template's
-- image): rec ends ready or failed. `log` hears the build. Raises the
-- message of a failure (after saving the failed record).
local function build_into(reg, rec, n, log)
  local ok, result = pcall(M.resolve, reg, n, log)
  local there = state(reg).by_id[rec.id] == rec
  if ok then
    local made, err = true, nil
    if there then made, err = pcall(ready, reg, rec, result.checkpoint_id) end
    M.unpin(reg, result)
    if not made then ok, result = false, err end
  end
  if not there then error("deleted during the build", 0) end
  if ok then return rec end
  rec.status, rec.error_msg = "failed", message_of(result)
  pcall(save, reg, rec)
  error(rec.error_msg, 0)
end

--- Start building the snapshot `name` of the checked manifest `image`
-- (a new record in state building, saved); returns the record and a
-- function(log) that runs the build into it. 409 when the name is
-- taken (a failed snapshot's name is free: it is replaced).
function M.begin_snapshot(reg, name, image)
  local old = M.named(reg, name)
  if old and old.status ~= "failed" then
    http.abort(409, "snapshot name already exists")
  end
  if old then forget(reg, old) end
  local n = M.normalize(image)
  local rec = new_record(reg, M.content_hash(n), n, name)
  save(reg, rec)
  return rec, function(log)
    build_into(reg, rec, n, log)
    return rec
  end
end

--- Add the snapshot and image routes (protocol.md 8.4 by name, 8.5) to
-- the router `r`.
function M.routes(r, reg)
  r.add("POST", "/snapshots", function(req)
    local b = request.body(req, "snapshot")
    local rec, work = M.begin_snapshot(reg, b.name, b.image)
    answer(reg, req, mode_of(req), 201, function(log)
      local ok, err = pcall(work, log)
      if not ok then http.abort(500, "image build failed: " .. message_of(err)) end
      return M.object(rec)
    end, M.object(rec))
  end)

  r.add("GET", "/snapshots", function(req)
    local out = json.array()
    for _, rec in ipairs(M.list(reg)) do
      if rec.name then out[#out + 1] = M.object(rec) end
    end
    http.json(req, 200, out)
  end)

  r.add("GET", "/snapshots/:name", function(req, p)
    http.json(req, 200, M.object(snapshot_of(reg, p.name)))
  end)

  r.add("DELETE", "/snapshots/:name", function(req, p)
    forget(reg, snapshot_of(reg, p.name))
    http.no_content(req)
  end)

  -- publishing is the platform organization's (8.5); there is none here
  local function no_publish(req, p)
    snapshot_of(reg, p.name)
    http.abort(403, "only the platform organization may publish snapshots "
      .. "(the local server has none)")
  end
  r.add("POST", "/snapshots/:name/publish", no_publish)
  r.add("POST", "/snapshots/:name/unpublish", no_publish)

  r.add("GET", "/images", function(req)
    local out = json.array()
    for _, rec in ipairs(M.list(reg)) do out[#out + 1] = M.object(rec) end
    http.json(req, 200, out)
  end)

  checkpoint.patch_routes(r, reg, "/snapshots/:name", function(p)
    local name = request.id(p.name, "snapshot name")
    return patch_target(reg, M.named(reg, name), "snapshot", name)
  end)
  checkpoint.patch_routes(r, reg, "/images/:key", function(p)
    local key = request.id(p.key, "image name or id")
    return patch_target(reg, M.named(reg, key) or state(reg).by_id[key:lower()],
      "image", key)
  end)
end

--- Fork a new sandbox from the ready record `rec` (checkpoint.fork,
-- with its options `o`: envs, metadata, memory_mb, timeout, network,
-- disk_mb); `log(type, step, message)` hears that it starts. The
-- sandbox, and the checkpoint record. Raises a message.
function M.fork(reg, rec, o, log)
  local c = usable(reg, rec)
  if not c then error("the image's checkpoint is gone", 0) end
  log("create", 0, "creating the sandbox from checkpoint " .. c.id)
  touch(reg, rec)
  pcall(save, reg, rec)
  return checkpoint.fork(reg, c, o), c
end

--- POST /sandboxes with `image` or `snapshot` (protocol.md 2.2, 2.2.1,
-- 8.3): resolve it (building when needed), fork its checkpoint with the
-- body's envs, metadata, memoryMB and timeout, and answer 201 {sandboxID,
-- status, token, fromCheckpointId, ...} — or with SSE when the request
-- asks (Accept: text/event-stream): the build log, then `result` or
-- `error`. Resolution errors (unknown or not-ready snapshot, failed
-- build) are 400; a failed fork 500. `b`: the checked create body.
function M.create_sandbox(req, reg, b)
  if b.image and b.snapshot then
    http.abort(400, "invalid request body: give image or snapshot, not both")
  end
  local n = b.image and M.normalize(b.image)
  -- the manifest's name registers the image as a snapshot (8.6)
  local named = n and n.name and M.named(reg, n.name)
  if named and named.status ~= "failed" and named.hash ~= M.content_hash(n) then
    http.abort(409, "snapshot name already exists")
  end
  local function make(log, pin)
    local rec
    if b.snapshot then
      log("resolve", 0, 'resolving snapshot "' .. b.snapshot .. '"')
      rec = M.named(reg, b.snapshot)
      if not rec then http.abort(400, 'snapshot "' .. b.snapshot .. '" not found') end
      if not usable(reg, rec) then
        http.abort(400, 'snapshot "' .. b.snapshot .. '" is not ready (status: '
          .. rec.status .. ")")
      end
    else
      local ok, result = pcall(M.resolve, reg, n, log)
      if not ok then http.abort(400, "image build failed: " .. message_of(result)) end
      rec = pin(result)
      if n.name then
        named = M.named(reg, n.name)
        if named and named.status == "failed" then forget(reg, named) named = nil end
        if not named then
          named = new_record(reg, rec.hash, n, n.name)
          ready(reg, named, rec.checkpoint_id)
        end
      end
    end
    -- envs, metadata, memoryMB and timeout; the rest of the body is
    -- ignored, as protocol.md 8.3 says of the reference
    local ok, sb, c = pcall(M.fork, reg, rec, { envs = b.envs,
      metadata = b.metadata, memory_mb = b.memoryMB or (n and n.runtimeMemoryMB),
      timeout = b.timeout }, log)
    if not ok then
      http.abort(500, "fork from checkpoint: " .. reg:public(sb, "fork of image " .. rec.id))
    end
    if req:closed() then	-- nobody would learn its id: nothing stays
      sb:delete()
      http.abort(400, "the client went away")
    end
    local info = sb:info()
    info.token = ""
    info.fromCheckpointId = c.id
    return info
  end
  -- the image's record stays pinned (M.trim keeps it) until its fork is made
  local function work(log)
    local pinned
    local ok, info = pcall(make, log, function(rec) pinned = rec return rec end)
    if pinned then M.unpin(reg, pinned) end
    if not ok then error(info, 0) end
    return info
  end
  answer(reg, req, M.wants_sse(req) and "sse" or "sync", 201, work)
end

--- The record with id `id`, or nil.
function M.get(reg, id)
  return state(reg).by_id[id]
end

M.usable = usable
M.answer = answer
M.mode_of = mode_of
return M
