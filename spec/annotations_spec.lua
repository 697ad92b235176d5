-- spec/annotations_spec.lua - the LuaCATS annotations in meta/ (issue 13)
-- against the modules as they run: for every annotated class, the names
-- it annotates (fields and functions, its parent classes' included) and
-- the names the real objects carry (their keys and those of the tables
-- their metatables' __index chain leads to, names starting with "_"
-- skipped) must be the same set, both ways. The real objects come from
-- the shared local server: a sandbox and each of its sub-objects,
-- sessions of every kind, a checkpoint, a patch, a fork, a preview, a
-- snapshot, a template, errors of every kind of field. Option classes
-- are compared with the tables of allowed options in the code (found
-- as upvalues of the functions that check them). Without a
-- lua-language-server to run (neither Debian nor the npm registry has
-- one: README, "Editor set-up"), the annotations' own syntax is checked
-- here too: every type they name is defined, each function's ---@param
-- names are its parameters in order, and every oc.X, oc.Class.fn and
-- :method that examples/ calls is annotated.

local oc = require("opencomputer")
local sdk = require("spec.support.sdk")

local META = "meta"

-- Parsing meta/ ------------------------------------------------------------

local BUILTIN = { ["nil"] = true, any = true, boolean = true, string = true,
  number = true, integer = true, ["function"] = true, table = true,
  thread = true, userdata = true, lightuserdata = true, unknown = true,
  fun = true, self = true, ["true"] = true, ["false"] = true }

-- every meta file, sorted
local function meta_files()
  local p = assert(io.popen("find " .. META .. " -name '*.lua' | sort"))
  local files = {}
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  assert(#files > 0, "no file under " .. META .. "/")
  return files
end

-- The type names a type expression uses: string literals, parameter and
-- field names (`name:` in fun(...) and {...}) and `...` removed.
local function type_names(expr)
  expr = expr:gsub('"[^"]*"', ""):gsub("'[^']*'", "")
    :gsub("[%a_][%w_]*%s*%??%s*:", ""):gsub("%.%.%.", "")
  local out = {}
  for name in expr:gmatch("[%a_][%w_%.]*") do out[#out + 1] = name end
  return out
end

-- The first type expression at the start of `s` (up to the first blank
-- outside brackets); the rest is its description.
local function split_type(s)
  local depth = 0
  for i = 1, #s do
    local ch = s:sub(i, i)
    if ch == "(" or ch == "{" or ch == "<" or ch == "[" then
      depth = depth + 1
    elseif ch == ")" or ch == "}" or ch == ">" or ch == "]" then
      depth = depth - 1
    elseif ch:match("%s") and depth == 0
        and not s:sub(1, i - 1):match("[,|:]%s*$")
        and not s:sub(i):match("^%s*[|,]") then
      return s:sub(1, i - 1), s:sub(i + 1)
    end
  end
  return s, ""
end

--- Parse every meta file: {classes = {name -> {parent =, names = {name ->
-- {kind = "field"|"function", where =, type = a field's}}}}, aliases =
-- {name -> true},
-- uses = {{type =, where =}}, problems = {text, ...}}.
local function parse_meta()
  local m = { classes = {}, aliases = {}, uses = {}, problems = {} }
  local function class(name, where)
    local c = m.classes[name]
    if not c then
      c = { names = {}, where = where }
      m.classes[name] = c
    end
    return c
  end
  local function use(expr, where)
    for _, t in ipairs(type_names(expr)) do
      m.uses[#m.uses + 1] = { type = t, where = where }
    end
  end
  local function add(c, name, kind, where, type)
    if c.names[name] then
      m.problems[#m.problems + 1] = where .. ": " .. name
        .. " annotated twice (also " .. c.names[name].where .. ")"
    end
    c.names[name] = { kind = kind, where = where, type = type }
  end
  for _, file in ipairs(meta_files()) do
    local vars = {}	-- local variable -> class name
    local block_class, params = nil, {}
    local n = 0
    for line in io.lines(file) do
      n = n + 1
      local where = file .. ":" .. n
      local tag, rest = line:match("^%-%-%-@(%a+)%s*(.*)$")
      if tag == "class" then
        local name, parent = rest:match("^([%w_%.]+)%s*:%s*([%w_%.]+)")
        name = name or rest:match("^([%w_%.]+)")
        local c = class(name, where)
        if parent then c.parent = parent; use(parent, where) end
        block_class = name
      elseif tag == "field" then
        local r0 = rest:match("^private%s+(.*)$") or rest
        local name, r = r0:match("^([%w_]+%??)%s+(.*)$")
        if not block_class then
          m.problems[#m.problems + 1] = where .. ": ---@field outside a class"
        else
          add(class(block_class), (name:gsub("%?$", "")), "field", where,
            (split_type(r)))
        end
        use((split_type(r)), where)
      elseif tag == "param" then
        local name, r = rest:match("^([%w_%.]+%??)%s+(.*)$")
        params[#params + 1] = name:gsub("%?$", "")
        use((split_type(r)), where)
      elseif tag == "return" or tag == "alias" or tag == "overload" then
        if tag == "alias" then
          local name
          name, rest = rest:match("^([%w_%.]+)%s+(.*)$")
          m.aliases[name] = true
        end
        use((split_type(rest)), where)
      elseif tag and tag ~= "meta" and tag ~= "async" and tag ~= "private" then
        m.problems[#m.problems + 1] = where .. ": unknown tag ---@" .. tag
      elseif not line:match("^%-%-") then
        local var = line:match("^local%s+([%w_]+)%s*=%s*{}")
        if var and block_class then vars[var] = block_class end
        local obj, sep, fname, args = line:match(
          "^function%s+([%w_]+)([%.:])([%w_]+)%((.-)%)")
        if obj then
          local cname = vars[obj]
          if not cname then
            m.problems[#m.problems + 1] = where .. ": function of " .. obj
              .. ", which no ---@class names"
          else
            add(class(cname), fname, "function", where)
          end
          local got = {}
          for a in args:gmatch("[^,%s]+") do got[#got + 1] = a end
          if table.concat(got, ",") ~= table.concat(params, ",") then
            m.problems[#m.problems + 1] = string.format("%s: %s%s%s has "
              .. "parameters (%s) but ---@param (%s)", where, obj, sep, fname,
              table.concat(got, ", "), table.concat(params, ", "))
          end
        end
        block_class, params = nil, {}
      end
    end
  end
  return m
end

--- The names class `name` annotates, with its parents'; name -> entry.
local function annotated(m, name)
  local out, c = {}, m.classes[name]
  assert(c, "no ---@class " .. name .. " in " .. META .. "/")
  while c do
    for k, v in pairs(c.names) do if not out[k] then out[k] = v end end
    c = c.parent and m.classes[c.parent]
  end
  return out
end

-- The real side ---------------------------------------------------------------

-- the public names of `obj` and of the tables its metatables' __index
-- chain leads to, into `names` (name -> value); metamethods and names
-- starting with "_" skipped
local function walk(obj, names, seen)
  seen = seen or {}
  if type(obj) ~= "table" or seen[obj] then return names end
  seen[obj] = true
  for k, v in pairs(obj) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and names[k] == nil then
      names[k] = v
    end
  end
  local mt = getmetatable(obj)
  if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then
    walk(rawget(mt, "__index"), names, seen)
  end
  return names
end

-- the upvalue `name` of `fn`, or of a function among its upvalues (one
-- level down), or of a table's function among them (client.open)
local function upvalue(fn, name, depth)
  depth = depth or 0
  for i = 1, math.huge do
    local n, v = debug.getupvalue(fn, i)
    if not n then break end
    if n == name then return v end
    if depth < 2 then
      local found
      if type(v) == "function" then
        found = upvalue(v, name, depth + 1)
      elseif type(v) == "table" and depth == 0 then
        for _, f in pairs(v) do
          if type(f) == "function" then
            found = upvalue(f, name, depth + 1)
            if found then break end
          end
        end
      end
      if found then return found end
    end
  end
end

-- Compare: the names `real` holds (name -> value) against those class
-- `cname` annotates; a list of the differences, each naming its name.
-- `sometimes`: annotated names that the objects of this run may lack
-- (each with its reason); they must still be annotated. `options`: the
-- real names are the options a function takes.
local function compare(m, cname, real, sometimes, options)
  local ann = annotated(m, cname)
  local diffs = {}
  for k, v in pairs(real) do
    if not ann[k] then
      diffs[#diffs + 1] = cname .. "." .. k .. (options
        and ": an option the code takes, but not annotated"
        or ": exported (" .. type(v) .. ") but not annotated")
    elseif ann[k].kind == "function" and type(v) ~= "function" then
      diffs[#diffs + 1] = cname .. "." .. k .. ": annotated as a function ("
        .. ann[k].where .. ") but is a " .. type(v)
    end
  end
  for k, a in pairs(ann) do
    if real[k] == nil and not (sometimes and sometimes[k]) then
      diffs[#diffs + 1] = cname .. "." .. k .. ": annotated (" .. a.where
        .. (options and ") but not an option the code takes"
          or ") but not exported")
    end
  end
  for k in pairs(sometimes or {}) do
    if not ann[k] then
      diffs[#diffs + 1] = cname .. "." .. k .. ": listed as sometimes "
        .. "present in this spec but not annotated"
    end
  end
  table.sort(diffs)
  return diffs
end

-- the union of the names of several objects
local function names_of(...)
  local out = {}
  for i = 1, select("#", ...) do walk((select(i, ...)), out) end
  return out
end

-- a set of the keys of a table of allowed options (or of a CONFIG-like
-- list of {name, wire name})
local function option_set(t)
  assert(type(t) == "table", "no table of options found")
  local out = {}
  for k, v in pairs(t) do
    if type(k) == "string" then out[k] = v
    elseif type(v) == "table" and type(v[1]) == "string" then out[v[1]] = true end
  end
  return out
end

-- The objects ------------------------------------------------------------------

local function keys_copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- the error `fn(...)` raises (it must raise)
local function raised(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return err
end

local world, world_error	-- built once, by build()

local WRAPPER_PATH = "/usr/local/bin/claude-agent-wrapper"

local function make_world()
  local w = {}
  local conn = sdk.conn
  -- tasks: running, returned, failed
  w.task_running = oc.spawn(function() oc.sleep(0.05) end)
  local running_keys = keys_copy(w.task_running)
  w.task_running:wait()
  w.task_ok = oc.spawn(function() return 1 end)
  w.task_ok:wait()
  w.task_failed = oc.spawn(function() error("x") end)
  pcall(w.task_failed.wait, w.task_failed)
  w.task_running_keys = running_keys

  -- sandboxes: one with every field, a closed object of it
  local sb = sdk.new_sandbox{ preview_auth = true, metadata = { a = "b" } }
  w.sb = sb
  w.sb_closed = oc.Sandbox.connect(sb.id, conn())
  w.sb_closed:close()
  w.info = sb:get_info()
  w.list = oc.Sandbox.list(conn())

  -- exec: a finished and detached session, one whose callback failed
  local s = sb.exec:start("echo hi")
  s:wait()
  s:close()
  w.session = s
  local bad = sb.exec:start("echo x", { on_stdout = function() error("cb") end })
  pcall(bad.wait, bad)
  w.session_bad = bad
  w.exec_list = sb.exec:list()
  local sp = sb.exec:spawn("cat")
  sp.stdin:write("x")
  sp.stdin:close()
  w.run_result = sp:wait()
  sp:close()
  w.spawned = sp
  w.shell = sb.exec:shell()
  w.shell:run("true")
  w.shell:close()

  -- files
  sb.files:write("/tmp/f", "x")
  w.file_entries = sb.files:list("/tmp")

  -- pty: pulled, and one whose on_output failed
  local p = sb.pty:create()
  p:close()
  w.pty = p
  local p2 = sb.pty:create{ on_output = function() error("out") end }
  p2:send("echo hi\n")
  pcall(p2.wait, p2)
  w.pty_bad = p2

  -- agent: the test wrapper (spec/agent_spec.lua), and an exec session
  -- printing event lines attached as one
  local f <close> = assert(io.open("spec/support/claude-agent-wrapper.sh"))
  sb.files:write("/tmp/wrapper", f:read("a"))
  assert(sb.exec:run("sudo install -m 755 /tmp/wrapper " .. WRAPPER_PATH)
    .exit_code == 0)
  local ag = sb.agent:start{}
  w.agent_list = sb.agent:list()
  ag:close_stdin()
  ag:wait()
  w.agent = ag
  local printer = sb.exec:start([[printf '{"type":"error","message":"m"}\n']])
  printer:wait()
  local as = sb.agent:attach(printer.session_id)
  as:wait()
  w.event = as.events[1]
  assert(w.event, "no event")

  -- checkpoint, patch (a failing one), fork
  local cp = sb:create_checkpoint("annot")
  cp:wait()
  w.checkpoint = cp
  w.patch = oc.Sandbox.create_checkpoint_patch(cp.id, "exit 3",
    conn{ description = "fails" })
  local fork = oc.Sandbox.create_from_checkpoint(cp.id, conn{ timeout = 60 })
  w.fork_info = fork:get_info()
  fork:kill()

  -- preview, snapshot (with its build log), template
  w.preview = sb:create_preview_url(8080)
  local tag = tostring(os.time()) .. math.random(1000, 9999)
  local img = oc.Image.base():run{ "true" }:builder_memory(4096)
    :runtime_memory(1024)
  w.image = img
  w.manifest = img:manifest()
  w.snapshot = oc.Snapshot.create(conn{ name = "annot-" .. tag, image = img,
    on_build_log = function(_, ev) w.build_event = w.build_event or ev end })
  oc.Snapshot.delete(w.snapshot.name, conn())
  w.template = oc.Template.build("annot-" .. tag, "FROM base\n", conn())
  oc.Template.delete(w.template.name, conn())

  -- errors with each kind of field
  local E = oc.errors
  w.errors = {
    raised(oc.Sandbox.connect, "sb-nope", conn()),
    raised(sb.exec.kill, sb.exec, "nope"),
    raised(sb.wait_checkpoint, sb, "nope"),
    raised(sb.exec.run, sb.exec, "sleep 5", { timeout = 1 }),
  }
  for _, e in ipairs(w.errors) do
    assert(E.is(e, E.SandboxError), tostring(e))
  end
  return w
end

-- the objects, made by the first check that needs them; a failure to
-- make them fails every check that needs them, without trying again
local function build()
  if world_error ~= nil then error(world_error, 0) end
  if not world then
    local ok, w = pcall(make_world)
    if not ok then
      world_error = w
      error(w, 0)
    end
    world = w
  end
  return world
end

-- The comparisons --------------------------------------------------------------

local m = parse_meta()

-- each check: class name, and a function giving the real names (and the
-- annotated names allowed to be absent, with their reasons)
local CHECKS = {
  { "opencomputer", function()
    -- the lazily loaded names too (init.lua's `lazy`)
    local lazy = upvalue(getmetatable(oc).__index, "lazy")
    local names = walk(oc, {})
    for k in pairs(lazy) do names[k] = oc[k] end
    return names
  end },
  { "oc.Task", function(w)
    return names_of(w.task_running_keys, w.task_ok, w.task_failed,
      getmetatable(w.task_ok))
  end },
  { "oc.errors", function() return walk(oc.errors, {}) end },
  { "oc.ErrorClass", function() return walk(oc.errors.NotFoundError, {}) end },
  { "oc.Error", function(w) return names_of(table.unpack(w.errors)) end,
    { checkpoint = "only for a checkpoint that failed or timed out" } },
  { "oc.Sandbox", function(w)
    local names = names_of(w.sb, w.sb_closed, oc.Sandbox)
    names.id = w.sb.id	-- from Sandbox.__index, a function
    return names
  end },
  { "oc.SandboxInfo", function(w) return names_of(w.info, w.list[1], w.fork_info) end },
  { "oc.Exec", function(w) return walk(w.sb.exec, {}) end },
  { "oc.ExecSession", function(w) return names_of(w.session, w.session_bad) end },
  { "oc.SessionFuture", function(w) return walk(w.session.done, {}) end },
  { "oc.SpawnedSession", function(w) return names_of(w.spawned, w.session_bad) end },
  { "oc.SpawnedStdin", function(w) return walk(w.spawned.stdin, {}) end },
  { "oc.RunResult", function(w) return walk(w.run_result, {}) end },
  { "oc.ExecSessionInfo", function(w) return names_of(table.unpack(w.exec_list)) end },
  { "oc.Shell", function(w) return walk(w.shell, {}) end,
    { current = "only while a run is in flight",
      run_error = "only while a run in flight is being ended" } },
  { "oc.Files", function(w) return walk(w.sb.files, {}) end },
  { "oc.FileEntry", function(w) return walk(w.file_entries[1], {}) end },
  { "oc.Pty", function(w) return walk(w.sb.pty, {}) end },
  { "oc.PtySession", function(w) return names_of(w.pty, w.pty_bad) end },
  { "oc.Agent", function(w) return walk(w.sb.agent, {}) end },
  { "oc.AgentSession", function(w) return walk(w.agent, {}) end },
  { "oc.AgentSessionInfo", function(w) return walk(w.agent_list[1], {}) end },
  { "oc.AgentEvent", function(w) return walk(w.event, {}) end },
  { "oc.Checkpoint", function(w) return walk(w.checkpoint, {}) end,
    { error_msg = "only for a checkpoint that failed" } },
  { "oc.CheckpointPatch", function(w) return walk(w.patch, {}) end },
  { "oc.Preview", function(w) return walk(w.preview, {}) end,
    { custom_hostname = "only for a custom domain (the cloud)" } },
  { "oc.Image", function(w) return names_of(w.image, oc.Image) end },
  { "oc.ImageManifest", function(w) return walk(w.manifest, {}) end },
  { "oc.Snapshot", function() return walk(oc.Snapshot, {}) end },
  { "oc.SnapshotInfo", function(w) return walk(w.snapshot, {}) end },
  { "oc.Template", function() return walk(oc.Template, {}) end },
  { "oc.TemplateInfo", function(w) return walk(w.template, {}) end,
    { error_msg = "only for a failed build" } },
  { "oc.BuildLogEvent", function(w) return walk(w.build_event, {}) end },
}

-- option classes: the tables of allowed options the code checks against
local function exec_fn(name) return build().sb.exec[name] end
local OPTIONS = {
  { "oc.SandboxCreateOpts", function() return upvalue(oc.Sandbox.create, "CREATE_OPTS") end },
  { "oc.WakeOpts", function() return upvalue(oc.Sandbox.wake, "WAKE_OPTS") end },
  { "oc.ConnectionOpts", function() return require("opencomputer.client.api").CONNECTION end },
  { "oc.RetryPolicy", function() return upvalue(require("opencomputer.sdk.config").check_retries, "RETRY_KEYS") end },
  { "oc.RunOpts", function() return upvalue(exec_fn("run"), "RUN") end },
  { "oc.ShellOpts", function() return upvalue(exec_fn("shell"), "SHELL") end },
  { "oc.ShellRunOpts", function(w) return upvalue(w.shell.run, "RUN") end },
  { "oc.StartOpts", function() return upvalue(exec_fn("start"), "START") end },
  { "oc.CheckpointCreateOpts", function() return upvalue(oc.Sandbox.create_checkpoint, "CREATE") end },
  { "oc.CheckpointWaitOpts", function() return upvalue(oc.Sandbox.wait_checkpoint, "WAIT") end },
  { "oc.ForkOpts", function() return upvalue(oc.Sandbox.create_from_checkpoint, "FORK") end },
  { "oc.PatchOpts", function() return upvalue(oc.Sandbox.create_checkpoint_patch, "PATCH") end },
  { "oc.PreviewCreateOpts", function() return upvalue(oc.Sandbox.create_preview_url, "CREATE") end },
  { "oc.SignedUrlOpts", function() return upvalue(oc.Sandbox.download_url, "OPTS") end },
  { "oc.PtyCreateOpts", function() return upvalue(build().sb.pty.create, "CREATE") end },
  { "oc.AgentStartOpts", function() return upvalue(build().sb.agent.start, "START") end },
  { "oc.AgentAttachOpts", function() return upvalue(build().sb.agent.attach, "CALLBACKS") end },
  { "oc.AgentConfigureOpts", function() return upvalue(build().agent.configure, "CONFIG") end },
  { "oc.SnapshotCreateOpts", function() return upvalue(oc.Snapshot.create, "CREATE") end },
  { "oc.TemplateBuildOpts", function() return upvalue(oc.Template.build, "BUILD") end },
}

-- option classes whose allowed names the code keeps inline: each
-- annotated name must be accepted (the call's error, if any, is not
-- "unknown option 'name'"), and a made-up one refused
local function bad_call(fn)
  return function(key)
    local ok, err = pcall(fn, key)
    return not ok and tostring(err):find("unknown option '" .. key .. "'",
      1, true)
  end
end
local PROBED = {
  { "oc.ConfigureOpts", function()
    -- each probe puts the process-wide default back as it was
    local defaults = upvalue(require("opencomputer.sdk.config").configure,
      "defaults")
    return bad_call(function(k)
      local old = defaults[k]
      local ok, err = pcall(oc.configure, { [k] = "probe" })
      defaults[k] = old
      if not ok then error(err, 0) end
    end)
  end },
  { "oc.AttachOpts", function(w)
    return bad_call(function(k) return w.sb.exec:attach("nope", { [k] = 1 }) end)
  end },
  { "oc.SpawnOpts", function(w)
    return bad_call(function(k) return w.sb.exec:spawn("true", { [k] = {} }) end)
  end },
  { "oc.PtyAttachOpts", function(w)
    return bad_call(function(k) return w.sb.pty:attach("nope", { [k] = 1 }) end)
  end },
  { "oc.RetentionPolicy", function(w)
    return bad_call(function(k)
      return w.sb:create_checkpoint("x", { retention_policy = { [k] = {} } })
    end)
  end },
  { "oc.McpServer", function(w)
    return bad_call(function(k)
      return w.sb.agent:start{ mcp_servers = { s = { [k] = {} } } }
    end)
  end },
}

describe("meta/ (the LuaCATS annotations)", function()
  it("is well formed: known tags, defined types, ---@param names as the functions'", function()
    local problems = {}
    -- each file is Lua, as an editor's parser reads it (a doc line that
    -- lost its "---" is a syntax error there)
    for _, file in ipairs(meta_files()) do
      local ok, err = loadfile(file, "t")
      if not ok then problems[#problems + 1] = err end
    end
    for _, p in ipairs(m.problems) do problems[#problems + 1] = p end
    for _, u in ipairs(m.uses) do
      if not (BUILTIN[u.type] or m.classes[u.type] or m.aliases[u.type]) then
        problems[#problems + 1] = u.where .. ": undefined type " .. u.type
      end
    end
    assert.are.same({}, problems)
  end)

  it("has one class per checked name and nothing unchecked", function()
    local checked = {}
    for _, list in ipairs{ CHECKS, OPTIONS, PROBED } do
      for _, c in ipairs(list) do checked[c[1]] = true end
    end
    -- classes that only gather fields for their children
    for _, k in ipairs{ "oc.AgentConfig" } do
      checked[k] = true
    end
    local missing = {}
    for name in pairs(m.classes) do
      if not checked[name] then missing[#missing + 1] = name end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  it("covers what examples/ calls: oc.X, oc.Class.fn and every :method", function()
    -- the methods of Lua's strings and files the examples may call
    local std = {}
    for name in ("byte char find format gmatch gsub len lower match rep "
        .. "reverse sub upper close flush lines read seek setvbuf write")
        :gmatch("%S+") do std[name] = true end
    local any = {}	-- every name any class annotates
    for _, c in pairs(m.classes) do
      for k in pairs(c.names) do any[k] = true end
    end
    local top = annotated(m, "opencomputer")
    local p = assert(io.popen("ls examples/*.lua"))
    local missing, seen = {}, 0
    for file in p:lines() do
      local f <close> = assert(io.open(file))
      local text = f:read("a"):gsub("%-%-[^\n]*", "")	-- code, not comments
      for x, rest in text:gmatch("%f[%w_]oc%.([%a_][%w_]*)([%.%w_]*)") do
        seen = seen + 1
        local entry = top[x]
        if not entry then
          missing[#missing + 1] = file .. ": oc." .. x
        elseif rest ~= "" then
          local fn = rest:match("^%.([%a_][%w_]*)")
          local cls = entry.type and m.classes[entry.type]
          if fn and not (cls and annotated(m, entry.type)[fn]) then
            missing[#missing + 1] = file .. ": oc." .. x .. "." .. fn
          end
        end
      end
      for meth in text:gmatch(":([%a_][%w_]*)%s*[%(%{\"']") do
        seen = seen + 1
        if not (any[meth] or std[meth]) then
          missing[#missing + 1] = file .. ": :" .. meth
        end
      end
    end
    p:close()
    assert.is_true(seen > 10, "found almost no calls in examples/")
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  for _, c in ipairs(CHECKS) do
    it("annotates exactly what " .. c[1] .. " exports", function()
      local w = build()
      assert.are.same({}, compare(m, c[1], c[2](w), c[3]))
    end)
  end

  for _, c in ipairs(OPTIONS) do
    it("annotates exactly the options of " .. c[1], function()
      assert.are.same({}, compare(m, c[1], option_set(c[2](build())), nil, true))
    end)
  end

  for _, c in ipairs(PROBED) do
    it("annotates only options accepted by " .. c[1], function()
      local refused = c[2](build())
      local diffs = {}
      for k, a in pairs(annotated(m, c[1])) do
        if refused(k) then
          diffs[#diffs + 1] = c[1] .. "." .. k .. ": annotated (" .. a.where
            .. ") but refused as unknown"
        end
      end
      assert.is_truthy(refused("zz_no_such_option"),
        "the probe of " .. c[1] .. " cannot tell an unknown option")
      table.sort(diffs)
      assert.are.same({}, diffs)
    end)
  end

  it("fails naming a name on one side only (a compare that can fail)", function()
    local real = walk(oc.errors, {})
    real.zz_only_real = true
    local diffs = compare(m, "oc.errors", real)
    assert.are.same({ "oc.errors.zz_only_real: exported (boolean) but not "
      .. "annotated" }, diffs)
    real.zz_only_real, real.is = nil, nil
    diffs = compare(m, "oc.errors", real)
    assert.are.equal(1, #diffs)
    assert.matches("^oc%.errors%.is: annotated %(meta/.-%) but not exported$",
      diffs[1])
    assert.are.same({ "fun", "oc.Foo", "string", "integer" },
      type_names('fun(x: "x"|"y", ...): oc.Foo, {a: string}?, integer[]'))
  end)
end)
