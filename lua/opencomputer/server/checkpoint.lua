-- opencomputer/server/checkpoint.lua - checkpoints of the local server's
-- sandboxes, restoring one in place, forking new sandboxes from one, and
-- the patches applied to the sandboxes forked from one (protocol.md 8.1,
-- 8.2, 8.4).
--
-- A checkpoint is DATA/sandboxes/.checkpoints/<uuid>, a read-only btrfs
-- snapshot of the sandbox's directory (its files, and its meta.json as it
-- was), taken while the sandbox's processes are frozen; beside it
-- <uuid>.json, its record (what GET shows, the sandbox's configuration,
-- its patches). Both outlive the sandbox: a checkpoint is the durable
-- thing to fork from, and its list and delete routes keep answering for
-- the id of a deleted sandbox. A fork's directory is a writable snapshot
-- of the checkpoint: copy-on-write, so a fork costs the same for 1 MiB
-- and 1 GiB (sandbox.lua says how its uids stay its own).
--
-- Process memory is not captured: `full` and `disk_only` hold the same
-- files and configuration, and a restore or a fork starts new processes
-- (the cloud's `full` keeps the VM's memory; here that would take CRIU,
-- which fails its own `criu check` on this kernel, or a VM snapshot).
--
-- For holders (snapshots and templates, image.lua): M.take, M.fork,
-- M.get, M.hold and M.release, M.delete, M.patch_routes. A checkpoint a
-- holder made (M.take with `internal`, an image build's) is deleted when
-- its last holder releases it; one a user made (POST
-- /sandboxes/{id}/checkpoints) only by its DELETE route.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local json = require("opencomputer.runtime.json")
local random = require("opencomputer.runtime.random")
local task = require("opencomputer.runtime.task")
local http = require("opencomputer.server.http")
local request = require("opencomputer.server.request")
local records = require("opencomputer.server.records")
local sandbox = require("opencomputer.server.sandbox")
local exec = require("opencomputer.server.exec")

local M = {}

M.LIMITS = { full = 10, disk_only = 100 }	-- per sandbox (8.2)
M.FORK_WAIT = 30	-- seconds a fork waits for a processing checkpoint
M.PATCH_TIMEOUT = 300	-- seconds a patch may run (8.4)
M.PATCH_STDERR = 1000	-- bytes of a failed patch's stderr in patchError
M.PATCHES_MAX = 1000	-- per checkpoint

local BAD_ID = "invalid checkpoint ID"
local NO_PROMOTION = "not supported by the local server: a checkpoint "
  .. "here holds files and configuration, never process memory, so "
  .. "disk_only and full are the same (no CRIU)"

-- the state kept on the registry: records by id
local function state(reg)
  local st = reg.checkpoint_state
  if not st then
    st = { by_id = {}, order = 0 }
    reg.checkpoint_state = st
  end
  return st
end

--- DATA/sandboxes/.checkpoints: where checkpoints and their records are.
function M.dir(reg)
  return reg.dir .. "/.checkpoints"
end

--- The directory of the checkpoint with id `id` (its snapshot).
function M.path(reg, id)
  return M.dir(reg) .. "/" .. id
end

--- The record of checkpoint `id` (a lower-case UUID), or nil. Its fields:
-- id, sandbox_id, name, kind, status ("processing", "ready", "failed"),
-- size_bytes, created_at (s), error_msg, failed_at, held_by, internal
-- (made by M.take for a holder), config
-- (the sandbox's: template, template_dir, envs, metadata, memory_mb,
-- cpu_count, disk_mb, network, timeout, disk_uid_base, patch_seq),
-- patches.
function M.get(reg, id)
  return state(reg).by_id[id]
end

-- records in creation order, those of sandbox `sb_id` if given
local function list(reg, sb_id)
  local out = {}
  for _, rec in pairs(state(reg).by_id) do
    if not sb_id or rec.sandbox_id == sb_id then out[#out + 1] = rec end
  end
  table.sort(out, function(a, b) return a.order < b.order end)
  return out
end

--- Every checkpoint record (M.get), in creation order.
function M.list(reg)
  return list(reg)
end

-- tell waiters (a fork waiting for `ready`, a delete waiting for forks)
-- that the record changed
local function changed(rec)
  local c = rec.changed
  rec.changed = task.condition()
  if c then c:signal() end
end

-- The bytes of the files under `dir` (du's apparent sizes: a quota
-- group's figure would not do, since with btrfs simple quotas an extent
-- counts to the subvolume that wrote it, never to a snapshot); nil when
-- du gives none. (Yields.)
local function size_of(dir)
  local p = core.process_spawn({ "du", "-sb", "--", dir })
  local line = p:read_line()
  while p:read_line() do end
  p:wait()
  return line and tonumber(line:match("^(%d+)"))
end

-- what a record holds on disk, and how it is checked at load
local CONFIG = {
  template = request.string({ max = 256 }),
  template_dir = request.string({ max = 4096 }),
  envs = request.map(1024, 64 * 1024, { env = true }),
  metadata = request.map(256, 64 * 1024),
  memory_mb = request.required(request.integer(1, 1048576)),
  cpu_count = request.required(request.integer(1, 64)),
  disk_mb = request.required(request.integer(1, 1048576 * 1024)),
  network = request.boolean,
  timeout = request.integer(0, request.MAX_SECONDS),
  disk_uid_base = request.required(request.integer(0, 4294967295)),
  patch_seq = request.integer(0, 2 ^ 40),
}
local PATCH = {
  id = request.required(request.string({ max = 36 })),
  sequence = request.required(request.integer(1, 2 ^ 40)),
  script = request.required(request.string({ max = 256 * 1024 })),
  description = request.string({ max = 4096 }),
  created_at = request.required(request.integer(0, 2 ^ 40)),
}
local RECORD = {
  id = request.required(request.string({ max = 36 })),
  sandbox_id = request.required(request.string({ max = 64 })),
  name = request.required(request.string({ max = 255 })),
  kind = request.required(request.one_of({ "full", "disk_only" })),
  status = request.required(request.one_of({ "processing", "ready", "failed" })),
  promote = request.boolean,
  size_bytes = request.integer(0, 2 ^ 53),
  created_at = request.required(request.integer(0, 2 ^ 40)),
  order = request.required(request.integer(0, 2 ^ 53)),
  error_msg = request.string({ max = 64 * 1024 }),
  failed_at = request.integer(0, 2 ^ 40),
  held_by = request.string({ max = 1024 }),
  internal = request.boolean,
  config = request.required(request.object_of(CONFIG)),
  patches = request.list_of(request.object_of(PATCH), M.PATCHES_MAX),
  next_seq = request.integer(1, 2 ^ 40),
}

local SAVED = { "id", "sandbox_id", "name", "kind", "status", "promote",
  "size_bytes", "created_at", "order", "error_msg", "failed_at", "held_by",
  "internal", "config", "patches", "next_seq" }

--- Write the record of `rec` (DATA/sandboxes/.checkpoints/<id>.json).
-- Raises when it cannot be written.
function M.save(reg, rec)
  local doc = {}
  for _, k in ipairs(SAVED) do doc[k] = rec[k] end
  doc.patches = json.array(rec.patches)
  records.write(M.path(reg, rec.id) .. ".json", doc)
end

--- Load the records of an earlier run (at start, after the sandboxes:
-- sandbox.load). A record that cannot be read or is not valid, or whose
-- snapshot is missing, is skipped (not listed, left on disk); one that
-- was still processing when the server stopped becomes failed. A list
-- of messages saying which and why.
function M.load(reg)
  local st = state(reg)
  local skipped = {}
  local dir = M.dir(reg)
  for _, r in ipairs(records.read_dir(dir, RECORD, "checkpoint record")) do
    local id, doc = r.key, r.doc
    local snap = doc and io.open(M.path(reg, id) .. "/.")
    if snap then snap:close() end
    local why = r.why or (doc.id ~= id and "the record is of " .. doc.id)
      or (not snap and "its snapshot " .. M.path(reg, id) .. " is missing")
    if why then
      skipped[#skipped + 1] = "skipped checkpoint " .. dir .. "/" .. id
        .. ".json: " .. why
    else
      doc.patches = doc.patches or {}
      doc.next_seq = doc.next_seq or #doc.patches + 1
      changed(doc)
      st.by_id[id] = doc
      st.order = math.max(st.order, doc.order)
      if doc.status == "processing" then
        doc.status = "failed"
        doc.error_msg = "the server stopped before the checkpoint was ready"
        doc.failed_at = os.time()
        pcall(M.save, reg, doc)
      end
    end
  end
  return skipped
end

-- the checkpoint object of protocol.md 8.1 (orgId is always "": the local
-- server has no organizations)
local function object(rec)
  local c = rec.config
  local promotion = rec.kind == "disk_only" and rec.promote
  return {
    id = rec.id, sandboxId = rec.sandbox_id, orgId = "", name = rec.name,
    kind = rec.kind, status = rec.status, sizeBytes = rec.size_bytes or 0,
    isPublic = false, createdAt = exec.rfc3339(rec.created_at),
    sandboxConfig = {
      templateID = c.template or "base", envs = c.envs or {},
      metadata = c.metadata or {}, memoryMB = c.memory_mb,
      cpuCount = c.cpu_count, diskMB = c.disk_mb,
      networkEnabled = c.network ~= false, timeout = c.timeout or 0,
    },
    promotionStatus = promotion and "failed" or nil,
    promotionError = promotion and NO_PROMOTION or nil,
    errorMsg = rec.error_msg,
    failedAt = rec.failed_at and exec.rfc3339(rec.failed_at) or nil,
  }
end

local function patch_object(rec, patch)
  return {
    id = patch.id, checkpointId = rec.id, sequence = patch.sequence,
    script = patch.script, description = patch.description or "",
    strategy = "on_wake", createdAt = exec.rfc3339(patch.created_at),
  }
end

local function copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

local message = http.message

--- Delete checkpoint `rec`: its snapshot, then its record (what DELETE
-- /sandboxes/{id}/checkpoints/{cid} does, without the answer). Waits
-- until no fork or restore is reading it and it is not processing
-- (yields). Raises the 409 answer (http.abort) of a held one, also of
-- one held while this waited; nothing is removed then.
function M.delete(reg, rec)
  if rec.held_by then
    http.abort(409, "checkpoint is held by " .. rec.held_by
      .. ": delete that first")
  end
  while (rec.users or 0) > 0 or rec.status == "processing" do
    rec.changed:wait()
  end
  if rec.held_by then	-- taken meanwhile
    http.abort(409, "checkpoint is held by " .. rec.held_by
      .. ": delete that first")
  end
  if not state(reg).by_id[rec.id] then return end	-- deleted meanwhile
  state(reg).by_id[rec.id] = nil
  rec.deleted = true
  changed(rec)
  local ok, err = pcall(core.box_destroy, M.path(reg, rec.id))
  if not ok then
    io.stderr:write("oclua serve: checkpoint ", rec.id, ": ", message(err), "\n")
  end
  os.remove(M.path(reg, rec.id) .. ".json")
end
local remove = M.delete

--- Mark `rec` as held by `holder` (a string naming it, e.g. `snapshot
-- "x"`): deleting the checkpoint is refused (409) while it is held.
-- Saved with the record. Raises when it cannot be saved.
function M.hold(reg, rec, holder)
  rec.held_by = holder
  M.save(reg, rec)
end

--- Let go of `rec` (M.hold). One made for a holder (`internal`, M.take)
-- is deleted then (M.delete; yields): nothing else made it and no route
-- lists it by a live sandbox. Never raises: what fails is written to
-- stderr.
function M.release(reg, rec)
  rec.held_by = nil
  local ok, err = pcall(rec.internal and remove or M.save, reg, rec)
  if not ok then
    io.stderr:write("oclua serve: checkpoint ", rec.id, ": ", message(err), "\n")
  end
end

-- Validate a checkpoint of `sb` (`b`: a checked "checkpoint" body, or the
-- same fields from M.take) and make its record, processing; returns it
-- and the function that ends the sandbox's change (Sandbox:lock), which
-- is held from here until the snapshot is taken. Raises http.abort
-- answers (protocol.md 8.2) with nothing made.
local function begin(reg, sb, b, internal)
  local kind = b.kind or "full"
  if b.promoteToFull ~= nil and kind ~= "disk_only" then
    http.abort(400, 'invalid request body: promoteToFull is only valid with '
      .. 'kind "disk_only"')
  end
  local limit = M.LIMITS[kind]
  local policy = b.retentionPolicy or {}
  local max = policy.maxCount or limit
  if max > limit then
    http.abort(400, "invalid request body: retentionPolicy.maxCount must be "
      .. "an integer from 1 to " .. limit .. " for kind " .. kind .. ", not "
      .. max)
  end
  local function check()
    if sb.deleted then http.abort(404, "sandbox not found") end
    if sb.status ~= "running" then
      http.abort(400, "sandbox must be running to create a checkpoint")
    end
    for _, rec in ipairs(list(reg, sb.id)) do
      if rec.name == b.name then
        http.abort(409, "checkpoint name already exists for this sandbox")
      end
    end
  end
  check()
  local unlock = sb:lock()
  local ok, rec = pcall(function()
    check()	-- again: the sandbox may have changed while this waited
    local same = {}
    for _, r in ipairs(list(reg, sb.id)) do
      if r.kind == kind then same[#same + 1] = r end
    end
    local count = #same
    if policy.mode == "delete_oldest" then
      -- the oldest that nothing holds or uses go until one more fits
      -- under maxCount (8.2)
      for _, r in ipairs(same) do
        if count < max then break end
        if not r.held_by and (r.users or 0) == 0 and r.status ~= "processing" then
          remove(reg, r)
          count = count - 1
        end
      end
    end
    if count >= limit then
      http.abort(400, "checkpoint limit reached: at most " .. limit .. " "
        .. kind .. " checkpoints per sandbox (delete one, or send "
        .. 'retentionPolicy {"mode":"delete_oldest"})')
    end
    local st = state(reg)
    st.order = st.order + 1
    local r = {
      id = random.uuid(), sandbox_id = sb.id, name = b.name, kind = kind,
      status = "processing", promote = kind == "disk_only"
        and b.promoteToFull ~= false or nil,
      created_at = os.time(), order = st.order, patches = {}, next_seq = 1,
      internal = internal or nil,
      config = {
        template = sb.template, template_dir = sb.template_dir,
        envs = copy(sb.envs), metadata = copy(sb.metadata),
        memory_mb = sb.memory_mb or 4096, cpu_count = sb.cpu_count or 1,
        disk_mb = sb.disk_mb, network = sb.network ~= false,
        timeout = sb.timeout or 0, disk_uid_base = sb:disk_uid(),
        patch_seq = sb.patch_seq,
      },
    }
    changed(r)
    M.save(reg, r)
    st.by_id[r.id] = r
    return r
  end)
  if not ok then
    unlock()
    error(rec, 0)
  end
  return rec, unlock
end

-- Take the snapshot of `rec` (made by begin, whose lock is held): freeze
-- the sandbox's processes, snapshot its directory, thaw them, end the
-- change; then the record is ready (with its size) or failed (with
-- errorMsg and failedAt). Never raises.
local function capture(reg, sb, rec, unlock)
  local dst = M.path(reg, rec.id)
  local ok, err = pcall(function()
    local box = sb.box
    local frozen = false
    if box then
      local why
      frozen, why = box:freeze(true)
      if not frozen and why then
        io.stderr:write("oclua serve: ", sb.id, ": checkpoint taken without "
          .. "freezing (", tostring(why), ")\n")
      end
    end
    local taken, terr = pcall(sandbox.snapshot, reg, sb.dir, dst, true)
    if frozen then box:freeze(false) end
    if not taken then error(terr, 0) end
  end)
  unlock()
  if ok then
    rec.size_bytes = size_of(dst) or 0
    rec.status = "ready"
  else
    rec.status = "failed"
    rec.error_msg = "checkpoint failed: " .. reg:public(err, "checkpoint " .. rec.id)
    rec.failed_at = os.time()
    pcall(core.box_destroy, dst)
  end
  if not rec.deleted then
    local saved, serr = pcall(M.save, reg, rec)
    if not saved then
      io.stderr:write("oclua serve: checkpoint ", rec.id, ": ", message(serr), "\n")
    end
  end
  changed(rec)
end

--- Checkpoint the running sandbox `sb` and wait until it is taken. `o`:
-- name (unique among sb's checkpoints), kind ("full", default, or
-- "disk_only"), internal (true: made for a holder, image.lua; its
-- M.release deletes it). Returns the record (M.get),
-- ready. Raises a message (those of protocol.md 8.2: "sandbox must be
-- running to create a checkpoint", ...) when it cannot be taken;
-- nothing is left then.
function M.take(reg, sb, o)
  local ok, rec, unlock = pcall(begin, reg, sb, { name = o.name, kind = o.kind },
    o.internal)
  if not ok then error(message(rec), 0) end
  capture(reg, sb, rec, unlock)
  if rec.status ~= "ready" then
    local why = rec.error_msg
    remove(reg, rec)
    error(why, 0)
  end
  return rec
end

-- the smallest tier of at least `mb` MB, at most 16384 (protocol.md 2.2)
local function tier_of(mb)
  for _, tier in ipairs({ 1024, 4096, 8192, 16384 }) do
    if mb <= tier then return tier end
  end
  return 16384
end

--- Apply the patches of the checkpoint `sb` was forked from that it has
-- not applied yet, in sequence (protocol.md 8.4): each `bash -c script`
-- as user sandbox, at most PATCH_TIMEOUT seconds, once per sandbox (its
-- patch_seq, in meta.json). A failure stops the sequence and is kept as
-- sb.patch_error ("patch seq N failed: patch exited with code X:
-- <stderr>", GET /sandboxes/{id} shows it as patchError); the next call
-- retries from it. Yields until done; never raises. A call while one is
-- under way for the same sandbox does nothing.
function M.apply_patches(reg, sb)
  local rec = sb.from_checkpoint and M.get(reg, sb.from_checkpoint)
  if not rec or sb.patching then return end
  sb.patching = true
  local ok, err = pcall(function()
    local patches = copy(rec.patches)
    table.sort(patches, function(a, b) return a.sequence < b.sequence end)
    for _, patch in ipairs(patches) do
      if patch.sequence > (sb.patch_seq or 0) then
        if sb.deleted or sb.status ~= "running" then return end
        local s, why = exec.start(sb, { "bash", "-c", patch.script },
          { timeout = M.PATCH_TIMEOUT, unlisted = true })
        local code, stderr
        if s then
          s:wait()
          code = s.exit_code
          local parts = {}
          for bytes in s:pieces(2) do parts[#parts + 1] = bytes end
          stderr = table.concat(parts)
          if s.timed_out then
            stderr = stderr .. "(timed out after " .. M.PATCH_TIMEOUT .. " s)"
          end
        else
          code, stderr = -1, "cannot start bash: " .. tostring(why)
        end
        if code ~= 0 then
          if #stderr > M.PATCH_STDERR then
            stderr = stderr:sub(1, M.PATCH_STDERR) .. "..."
          end
          sb.patch_error = string.format("patch seq %d failed: patch exited "
            .. "with code %d: %s (fix or delete the patch: the next "
            .. "explicit wake retries from it)", patch.sequence, code,
            (stderr:gsub("%s+$", "")))
          if not sb.deleted then sb:save() end
          return
        end
        sb.patch_seq, sb.patch_error = patch.sequence, nil
        if not sb.deleted then sb:save() end
      end
    end
  end)
  sb.patching = nil
  if not ok then
    io.stderr:write("oclua serve: ", sb.id, ": patches: ", message(err), "\n")
  end
end

--- A new running sandbox from the ready checkpoint `rec` (protocol.md
-- 8.2): its files a writable snapshot of the checkpoint's, its own id
-- and uid range, the checkpoint's configuration with `o`'s envs and
-- metadata merged over it (o's win), memory_mb clamped to [the
-- checkpoint's memory, 16384] and rounded up to a tier, timeout
-- (seconds, default 0: persistent); network (false: loopback only) and
-- disk_mb (its quota, MB; checked by the caller: sandbox.disk) replace
-- the checkpoint's when given (a create with templateID, 2.2; the fork
-- route takes neither, 8.2). The checkpoint's patches are applied
-- before it returns. Raises a message when it cannot be made; nothing is
-- left then.
function M.fork(reg, rec, o)
  o = o or {}
  if rec.status ~= "ready" or rec.deleted then
    error("checkpoint " .. rec.id .. " is not ready (status: "
      .. (rec.deleted and "deleted" or rec.status) .. ")", 0)
  end
  local c = rec.config
  local envs, metadata = copy(c.envs), copy(c.metadata)
  for k, v in pairs(o.envs or {}) do envs[k] = v end
  for k, v in pairs(o.metadata or {}) do metadata[k] = v end
  local mem = tier_of(math.max(o.memory_mb or c.memory_mb, c.memory_mb))
  local network = c.network
  if o.network ~= nil then network = o.network end
  local cpus = c.cpu_count
  if mem ~= c.memory_mb then cpus = select(2, sandbox.resources(mem)) end
  -- the lower layer its files were made over, if it is still there
  local tpl = c.template_dir
  local root = tpl and io.open(tpl .. "/root/.")
  if root then root:close() else tpl = nil end
  rec.users = (rec.users or 0) + 1
  local ok, sb = pcall(sandbox.create, reg, {
    template = c.template, metadata = metadata, envs = envs,
    memory_mb = mem, cpu_count = cpus, disk_mb = o.disk_mb or c.disk_mb,
    network = network ~= false,
    timeout = math.max(o.timeout or 0, 0),
    files_from = M.path(reg, rec.id), template_dir = tpl,
    disk_uid_base = c.disk_uid_base, from_checkpoint = rec.id,
  })
  rec.users = rec.users - 1
  changed(rec)
  if not ok then error(message(sb), 0) end
  M.apply_patches(reg, sb)
  return sb
end

-- the sandbox of a route's :id, or 404; `or_checkpoints`: an id that
-- only checkpoints still name (its sandbox deleted) is accepted, as nil
local function sandbox_of(reg, id, or_checkpoints)
  local sb = reg:get(request.id(id, "sandbox id"))
  if sb then return sb end
  if or_checkpoints then
    for _, rec in pairs(state(reg).by_id) do
      if rec.sandbox_id == id then return nil end
    end
  end
  http.abort(404, "sandbox not found")
end

-- the checkpoint of a route's :cid, or 400 / 404
local function checkpoint_of(reg, cid)
  local rec = M.get(reg, request.uuid(cid, BAD_ID))
  if not rec then http.abort(404, "checkpoint not found") end
  return rec
end

--- The patch routes of protocol.md 8.4 under `prefix` (e.g.
-- "/sandboxes/checkpoints/:cid", "/snapshots/:name"): POST and GET
-- prefix/patches, DELETE prefix/patches/:pid. `resolve(params)` returns
-- the checkpoint record they act on, or raises an http.abort answer
-- (400 for a bad id, 404 for an unknown one).
function M.patch_routes(r, reg, prefix, resolve)
  r.add("POST", prefix .. "/patches", function(req, p)
    local rec = resolve(p)
    local b = request.body(req, "patch")
    if rec.status ~= "ready" then http.abort(400, "checkpoint is not ready") end
    if #rec.patches >= M.PATCHES_MAX then
      http.abort(400, "a checkpoint has at most " .. M.PATCHES_MAX .. " patches")
    end
    local patch = { id = random.uuid(), sequence = rec.next_seq,
      script = b.script, description = b.description or "",
      created_at = os.time() }
    rec.patches[#rec.patches + 1] = patch
    rec.next_seq = rec.next_seq + 1
    local ok, err = pcall(M.save, reg, rec)
    if not ok then
      rec.patches[#rec.patches] = nil
      rec.next_seq = rec.next_seq - 1
      error(err, 0)
    end
    http.json(req, 201, { patch = patch_object(rec, patch) })
  end)

  r.add("GET", prefix .. "/patches", function(req, p)
    local rec = resolve(p)
    local patches = copy(rec.patches)
    table.sort(patches, function(a, b) return a.sequence < b.sequence end)
    local out = json.array()
    for i, patch in ipairs(patches) do out[i] = patch_object(rec, patch) end
    http.json(req, 200, out)
  end)

  r.add("DELETE", prefix .. "/patches/:pid", function(req, p)
    local rec = resolve(p)
    local pid = request.uuid(p.pid, "invalid patch ID")
    for i, patch in ipairs(rec.patches) do
      if patch.id == pid then
        table.remove(rec.patches, i)
        local ok, err = pcall(M.save, reg, rec)
        if not ok then
          table.insert(rec.patches, i, patch)
          error(err, 0)
        end
        return http.no_content(req)
      end
    end
    http.abort(404, "patch not found")
  end)
end

--- Add the checkpoint routes (protocol.md 8.2, 8.4) to the router `r`.
-- Call it before the sandbox routes: "from-checkpoint" and
-- "checkpoints" in a path come before a sandbox id there.
function M.routes(r, reg)
  r.add("POST", "/sandboxes/from-checkpoint/:cid", function(req, p)
    local cid = request.uuid(p.cid, BAD_ID)
    local b = request.body(req, "fork")
    local rec = checkpoint_of(reg, cid)
    local deadline = oc.now() + M.FORK_WAIT
    while rec.status == "processing" and oc.now() < deadline do
      rec.changed:wait(deadline - oc.now())
    end
    if rec.deleted then http.abort(404, "checkpoint not found") end
    if rec.status == "failed" then http.abort(400, "checkpoint failed") end
    if rec.status ~= "ready" then
      http.abort(400, "checkpoint is not ready after " .. M.FORK_WAIT
        .. "s (status: " .. rec.status .. ")")
    end
    local ok, sb = pcall(M.fork, reg, rec, { envs = b.envs,
      metadata = b.metadata, memory_mb = b.memoryMB, timeout = b.timeout })
    if not ok then
      http.abort(500, "fork from checkpoint: " .. reg:public(sb, "fork of " .. rec.id))
    end
    if req:closed() then	-- nobody would learn its id: nothing stays
      sb:delete()
      return
    end
    local info = sb:info()
    info.token = ""
    info.fromCheckpointId = rec.id
    http.json(req, 201, info)
  end)

  M.patch_routes(r, reg, "/sandboxes/checkpoints/:cid", function(p)
    return checkpoint_of(reg, p.cid)
  end)

  r.add("POST", "/sandboxes/:id/checkpoints", function(req, p)
    local sb = sandbox_of(reg, p.id)
    local b = request.body(req, "checkpoint")
    local rec, unlock = begin(reg, sb, b)
    local answer = object(rec)
    oc.spawn(capture, reg, sb, rec, unlock)
    http.json(req, 201, answer)
  end)

  r.add("GET", "/sandboxes/:id/checkpoints", function(req, p)
    sandbox_of(reg, p.id, true)
    local out = json.array()
    for i, rec in ipairs(list(reg, p.id)) do out[i] = object(rec) end
    http.json(req, 200, out)
  end)

  r.add("DELETE", "/sandboxes/:id/checkpoints/:cid", function(req, p)
    sandbox_of(reg, p.id, true)
    local rec = checkpoint_of(reg, p.cid)
    if rec.sandbox_id ~= p.id then
      http.abort(400, "checkpoint does not belong to this sandbox")
    end
    remove(reg, rec)
    http.no_content(req)
  end)

  -- restore in place: 200 at once, the work in a task; the sandbox's
  -- change is taken before the answer, so every data-plane request
  -- after it waits for the restore (and gets 502 if it fails)
  r.add("POST", "/sandboxes/:id/checkpoints/:cid/restore", function(req, p)
    local sb = sandbox_of(reg, p.id)
    local cid = request.uuid(p.cid, BAD_ID)
    request.body(req, "none")
    local rec = checkpoint_of(reg, cid)
    if rec.sandbox_id ~= sb.id then
      http.abort(400, "checkpoint does not belong to this sandbox")
    end
    local function check()
      if sb.deleted then http.abort(404, "sandbox not found") end
      if rec.deleted then http.abort(404, "checkpoint not found") end
      if rec.status ~= "ready" then
        http.abort(400, "checkpoint is not ready (status: " .. rec.status .. ")")
      end
      if sb.status ~= "running" then
        http.abort(400, "sandbox must be running to restore a checkpoint")
      end
    end
    check()
    local unlock = sb:lock()
    local ok, err = pcall(check)
    if not ok then
      unlock()
      error(err, 0)
    end
    rec.users = (rec.users or 0) + 1
    oc.spawn(function()
      local done, why = pcall(sb.replace_files, sb, M.path(reg, rec.id))
      if done and sb.from_checkpoint then
        -- the patches its files had then: later ones run again on the
        -- next explicit wake
        sb.patch_seq, sb.patch_error = rec.config.patch_seq or 0, nil
        pcall(sb.save, sb)
      end
      if not done then
        why = "restore failed: " .. reg:public(why, sb.id .. ": restore of " .. rec.id)
        sb:change_failed("sandbox " .. sb.id .. ": " .. why)
        if sb.status == "stopped" then sb.stop_reason = why end
      end
      unlock()
      rec.users = rec.users - 1
      changed(rec)
    end)
    http.json(req, 200, { sandboxId = sb.id, checkpointId = rec.id,
      status = "restoring" })
  end)
end

return M
