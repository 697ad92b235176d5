-- opencomputer/server/template_build.lua - templates (protocol.md 8.7):
-- a Dockerfile of a documented subset becomes an image manifest (8.6),
-- built by image.lua like any other, and a template names the result so
-- that POST /sandboxes with `templateID` starts from it.
--
-- The subset (anything else is a 400 naming the line and instruction):
--   FROM base            also ubuntu, default; the first instruction, once
--   RUN cmd              shell form; RUN ["prog", "arg"] (exec form) runs
--                        the words shell-quoted
--   ENV k=v ...          also the legacy ENV k v; quotes and \ escapes
--   WORKDIR path         created (a workdir step); relative to the last one
--   USER root|sandbox    (or 0, 1000, with :group): who runs the next RUNs
--   COPY <<EOF path      inline heredoc content written to path (an
--                        add_file step); <<-EOF strips leading tabs
-- Lines continue with a trailing \; # starts a comment line. As in
-- Docker, RUN starts as root; unlike Docker, USER, WORKDIR and ENV do not
-- change how commands run in sandboxes made from the template (they run
-- as `sandbox` in /home/sandbox, protocol.md 3.1); ENV values reach login
-- shells through /etc/environment and /etc/profile.d (the env step).
-- No variable is substituted: a `$` in ENV, WORKDIR, or COPY content under
-- an unquoted delimiter is refused rather than kept differently from Docker.
--
-- A template is DATA/images/templates/<name>.json: its name (also its
-- templateID), tag, status (building, ready, error) and the image record
-- (image.lua, unnamed: the cache entry of its manifest) it starts from.
-- Building again under a name replaces the template.

local core = require("opencomputer.core")
local json = require("opencomputer.runtime.json")
local random = require("opencomputer.runtime.random")
local http = require("opencomputer.server.http")
local request = require("opencomputer.server.request")
local records = require("opencomputer.server.records")
local exec = require("opencomputer.server.exec")
local image = require("opencomputer.server.image")

local M = {}

M.SUPPORTED = "FROM base, RUN, ENV, WORKDIR, USER root|sandbox, COPY <<EOF"

local function fail(line, message)
  http.abort(400, "dockerfile line " .. line .. ": " .. message)
end


-- Split Docker's words (ENV, WORKDIR, COPY's arguments): whitespace
-- separates; "..." (with \" \\ \$ escapes) and '...' quote; a \ outside
-- quotes escapes the next character. Each word's text, and whether it
-- holds a `$` no escape or single quote made literal.
local function words(s, line)
  local out, i, n = {}, 1, #s
  while true do
    i = s:find("%S", i)
    if not i then return out end
    local buf, dollar = {}, false
    while i <= n and not s:sub(i, i):find("%s") do
      local c = s:sub(i, i)
      if c == "\\" then
        buf[#buf + 1] = s:sub(i + 1, i + 1)
        i = i + 2
      elseif c == "'" then
        local e = s:find("'", i + 1, true) or fail(line, "a ' is not closed")
        buf[#buf + 1] = s:sub(i + 1, e - 1)
        i = e + 1
      elseif c == '"' then
        i = i + 1
        while true do
          local d = s:sub(i, i)
          if d == "" then fail(line, 'a " is not closed') end
          if d == '"' then break end
          if d == "\\" and s:sub(i + 1, i + 1):find('^["\\$]') then
            buf[#buf + 1] = s:sub(i + 1, i + 1)
            i = i + 2
          else
            if d == "$" then dollar = true end
            buf[#buf + 1] = d
            i = i + 1
          end
        end
        i = i + 1
      else
        if c == "$" then dollar = true end
        buf[#buf + 1] = c
        i = i + 1
      end
    end
    out[#out + 1] = { text = table.concat(buf), dollar = dollar }
  end
end

-- `path` made absolute against `cwd` (Docker's rule for WORKDIR and COPY)
local function absolute(path, cwd)
  if path:sub(1, 1) == "/" then return path end
  return (cwd == "/" and "" or cwd) .. "/" .. path
end

local USERS = { root = "root", ["0"] = "root", sandbox = "sandbox",
  ["1000"] = "sandbox" }

-- The instructions of `text`: {line = the first line's number, word =
-- the instruction in upper case, args = the rest (continuations joined),
-- heredoc = the body's lines, when the args open one}.
local function instructions(text)
  local lines = {}
  for l in (text:gsub("\r\n", "\n") .. "\n"):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = l
  end
  if text:sub(-1) == "\n" or text == "" then lines[#lines] = nil end
  local out, i, first = {}, 1, true
  while i <= #lines do
    local l = lines[i]
    if l:find("^%s*#") then
      -- parser directives may only lead the file; one that changes how
      -- the rest reads is refused, the others (syntax=) are comments
      if first and l:lower():find("^#%s*escape%s*=") then
        fail(i, "the parser directive escape is not supported")
      end
      i = i + 1
    elseif l:find("^%s*$") then
      i = i + 1
    else
      first = false
      local start, parts = i, {}
      while true do
        local body = lines[i]
        local cont = body:match("^(.-)\\%s*$")
        parts[#parts + 1] = cont or body
        i = i + 1
        if not cont then break end
        -- comment and empty lines inside a continuation are skipped
        while lines[i] and (lines[i]:find("^%s*#") or lines[i]:find("^%s*$")) do
          i = i + 1
        end
        if not lines[i] then break end
      end
      local joined = table.concat(parts)
      local word, args = joined:match("^%s*(%S+)%s*(.-)%s*$")
      local ins = { line = start, word = word:upper(), args = args }
      -- a heredoc's body: the lines after the instruction, to its end
      -- (COPY's; a RUN's is refused, but its lines are its own: a <<<
      -- here-string is not one)
      local dash, delim
      if ins.word == "COPY" or ins.word == "RUN" then
        dash, delim = (" " .. args):match("[^<]<<(%-?)([\"']?[%w_]+[\"']?)")
      end
      if delim then
        local quoted = delim:find("^[\"']")
        local bare = delim:gsub("[\"']", "")
        local body = {}
        while true do
          local b = lines[i]
          if b == nil then
            fail(start, "the heredoc " .. bare .. " is not closed")
          end
          i = i + 1
          if dash == "-" then b = b:gsub("^\t+", "") end
          if b == bare then break end
          body[#body + 1] = b
        end
        ins.heredoc = { name = bare, quoted = quoted ~= nil, lines = body,
          dash = dash == "-", token = "<<" .. dash .. delim }
      end
      out[#out + 1] = ins
    end
  end
  return out
end

--- The image manifest (protocol.md 8.6) a Dockerfile of the subset above
-- describes, as a decoded JSON object ({base, steps}), to be checked by
-- request.lua like any manifest. Raises http.abort(400, "dockerfile line
-- N: ...") for anything outside the subset; "dockerfile: ..." when
-- there is no FROM.
function M.parse(text)
  local steps = json.array()
  local env, cwd, user = {}, nil, "root"
  local seen_from = false
  for _, ins in ipairs(instructions(text)) do
    local n, word, args = ins.line, ins.word, ins.args
    if ins.heredoc and word ~= "COPY" then
      fail(n, word .. " with a heredoc is not supported (only COPY <<EOF)")
    end
    if word == "FROM" then
      if seen_from then fail(n, "FROM: only one FROM (no multi-stage builds)") end
      if args ~= "base" and args ~= "ubuntu" and args ~= "default" then
        fail(n, "FROM " .. args .. ": only FROM base (or ubuntu, default) "
          .. "is supported: templates build on this server's one base image")
      end
      seen_from = true
    elseif not seen_from then
      fail(n, word .. ": the first instruction must be FROM base")
    elseif word == "RUN" then
      local cmd
      if args:find("^%-%-") then
        fail(n, "RUN " .. args:match("^%S+") .. ": RUN flags are not supported")
      elseif args:find("^%[") then
        local ok, argv = pcall(json.decode, args)
        if not ok or type(argv) ~= "table" or #argv == 0 then
          fail(n, "RUN [...]: the exec form must be a JSON list of strings")
        end
        local quoted = {}
        for i, a in ipairs(argv) do
          if type(a) ~= "string" then
            fail(n, "RUN [...]: the exec form must be a JSON list of strings")
          end
          quoted[i] = image.quote(a)
        end
        cmd = table.concat(quoted, " ")
      elseif args == "" then
        fail(n, "RUN needs a command")
      else
        cmd = args
      end
      -- what Docker gives a RUN: the ENVs so far, the WORKDIR, the USER
      local pre = {}
      if cwd then pre[#pre + 1] = "cd -- " .. image.quote(cwd) end
      if #env > 0 then
        local kv = {}
        for i, e in ipairs(env) do kv[i] = e[1] .. "=" .. image.quote(e[2]) end
        pre[#pre + 1] = "export " .. table.concat(kv, " ")
      end
      pre[#pre + 1] = cmd
      cmd = table.concat(pre, " && ")
      if user == "root" then cmd = "sudo -- bash -c " .. image.quote(cmd) end
      steps[#steps + 1] = { type = "run", args = { commands = { cmd } } }
    elseif word == "ENV" then
      local ws = words(args, n)
      if #ws == 0 then fail(n, "ENV needs a name and a value") end
      local vars, order = {}, {}
      if not ws[1].text:find("=", 1, true) then
        -- the legacy form: ENV key the rest of the line
        local key, rest = args:match("^(%S+)%s+(.*)$")
        if not key then fail(n, "ENV " .. args .. ": no value") end
        if rest:find("$", 1, true) then
          fail(n, "ENV " .. key .. ": variable substitution ($) is not supported")
        end
        vars[key], order[1] = rest, key
      else
        for _, w in ipairs(ws) do
          local key, value = w.text:match("^([^=]*)=(.*)$")
          if not key then fail(n, "ENV " .. w.text .. ": expected key=value") end
          if w.dollar then
            fail(n, "ENV " .. key .. ": variable substitution ($) is not supported")
          end
          if not vars[key] then order[#order + 1] = key end
          vars[key] = value
        end
      end
      for _, key in ipairs(order) do
        if not key:find("^[%a_][%w_]*$") then
          fail(n, "ENV " .. key .. ": a name is letters, digits and _, "
            .. "not starting with a digit")
        end
        for i = #env, 1, -1 do
          if env[i][1] == key then table.remove(env, i) end
        end
        env[#env + 1] = { key, vars[key] }
      end
      steps[#steps + 1] = { type = "env", args = { vars = vars } }
    elseif word == "WORKDIR" then
      local ws = words(args, n)
      if #ws ~= 1 then fail(n, "WORKDIR needs one path") end
      if ws[1].dollar then
        fail(n, "WORKDIR: variable substitution ($) is not supported")
      end
      cwd = absolute(ws[1].text, cwd or "/")
      steps[#steps + 1] = { type = "workdir", args = { path = cwd } }
    elseif word == "USER" then
      local name, group = args:match("^([^:%s]+):?([^:%s]*)$")
      local who = name and USERS[name]
      if not who or (group ~= "" and USERS[group] ~= who) then
        fail(n, "USER " .. args .. ": only root and sandbox (0, 1000) exist")
      end
      user = who
    elseif word == "COPY" then
      local h = ins.heredoc
      if not h then
        fail(n, "COPY copies only inline content (COPY <<EOF /path): "
          .. "a template has no build context")
      end
      local rest = args:gsub(h.token:gsub("%p", "%%%0"), "", 1)
      if rest:find("%-%-") or rest:find("<<") then
        fail(n, "COPY takes one heredoc and a destination, no flags")
      end
      local ws = words(rest, n)
      if #ws ~= 1 then fail(n, "COPY <<" .. h.name .. " needs one destination") end
      local content = #h.lines > 0 and table.concat(h.lines, "\n") .. "\n" or ""
      if not h.quoted and content:find("$", 1, true) then
        fail(n, "COPY: variable substitution ($) is not supported: quote "
          .. "the delimiter (<<'" .. h.name .. "') to copy $ as it is")
      end
      local dest = absolute(ws[1].text, cwd or "/")
      if dest:sub(-1) == "/" then dest = dest .. h.name end
      steps[#steps + 1] = { type = "add_file", args = { path = dest,
        content = core.base64_encode(content), encoding = "base64" } }
    else
      fail(n, word .. " is not supported (the subset: " .. M.SUPPORTED .. ")")
    end
  end
  if not seen_from then
    http.abort(400, "dockerfile: the first instruction must be FROM base")
  end
  return { base = "base", steps = steps }
end

-- templates -----------------------------------------------------------------

local function state(reg)
  return assert(reg.template_state, "template_build.load was not called")
end

local RECORD = {
  name = request.required(request.string({ max = 128 })),
  tag = request.required(request.string({ max = 128 })),
  status = request.required(request.one_of({ "building", "ready", "error" })),
  image_id = request.string({ max = 36 }),
  build_id = request.required(request.string({ max = 36 })),
  created_at = request.required(request.integer(0, 2 ^ 40)),
  error_msg = request.string({ max = 64 * 1024 }),
}
local SAVED = { "name", "tag", "status", "image_id", "build_id",
  "created_at", "error_msg" }

local function file_of(reg, name)
  return state(reg).dir .. "/" .. name .. ".json"
end

local function save(reg, t)
  records.write(file_of(reg, t.name), t, SAVED)
end

--- The TemplateInfo of `t` (protocol.md 8.7): templateID is its name.
function M.info(t)
  return { templateID = t.name, name = t.name, tag = t.tag,
    imageID = t.image_id, buildID = t.build_id, status = t.status,
    createdAt = exec.rfc3339(t.created_at), errorMsg = t.error_msg }
end

--- The template named `name`, or nil.
function M.get(reg, name)
  return state(reg).by_name[name]
end

--- Load the templates of an earlier run (at start, after image.load). A
-- record that cannot be read or is not valid is skipped (left on disk);
-- one still building, or whose image is gone, becomes `error`. A list of
-- messages saying what was skipped or changed.
function M.load(reg, data_dir)
  local st = { dir = data_dir .. "/images/templates", by_name = {} }
  reg.template_state = st
  -- image.trim keeps the images templates start from
  image.add_user(reg, function(rec)
    for _, t in pairs(st.by_name) do
      if t.image_id == rec.id then return true end
    end
  end)
  local warnings = {}
  for _, r in ipairs(records.read_dir(st.dir, RECORD, "template record")) do
    local name, doc = r.key, r.doc
    local why = r.why or (doc.name ~= name and "the record is of " .. doc.name)
    if why then
      warnings[#warnings + 1] = "skipped template " .. st.dir .. "/" .. name
        .. ".json: " .. why
    else
      st.by_name[name] = doc
      local gone = doc.status == "ready"
        and not image.usable(reg, image.get(reg, doc.image_id or ""))
      if doc.status == "building" or gone then
        doc.status = "error"
        doc.error_msg = gone and "its image " .. tostring(doc.image_id)
          .. " is gone" or "the server stopped during the build"
        pcall(save, reg, doc)
        warnings[#warnings + 1] = "template " .. name .. ": " .. doc.error_msg
      end
    end
  end
  return warnings
end

--- Add the template routes (protocol.md 8.7) to the router `r`. POST
-- answers as POST /snapshots does (8.5): synchronous (201 TemplateInfo,
-- or 500 "image build failed: ..."), ?async=1 (202, building), or SSE.
function M.routes(r, reg)
  r.add("POST", "/templates", function(req)
    local b = request.body(req, "template")
    if b.name == "base" or b.name == "default" then
      http.abort(400, "invalid request body: name " .. b.name .. " is the "
        .. "built-in template")
    end
    local n = image.normalize(request.manifest_of(M.parse(b.dockerfile),
      "dockerfile"))
    local old = M.get(reg, b.name)
    if old and old.status == "building" then
      http.abort(409, "template " .. b.name .. " is being built")
    end
    local t = { name = b.name, tag = b.tag or "latest", status = "building",
      build_id = random.uuid(), created_at = os.time() }
    state(reg).by_name[t.name] = t
    save(reg, t)
    image.answer(reg, req, image.mode_of(req), 201, function(log)
      local ok, rec = pcall(image.resolve, reg, n, log)
      local there = M.get(reg, t.name) == t
      if ok then
        if there then t.status, t.image_id = "ready", rec.id end
        image.unpin(reg, rec)	-- the template keeps it now (or the cache)
      end
      if not there then
        http.abort(500, "image build failed: the template was deleted "
          .. "during its build")
      end
      if not ok then t.status, t.error_msg = "error", http.message(rec) end
      pcall(save, reg, t)
      if not ok then http.abort(500, "image build failed: " .. t.error_msg) end
      return M.info(t)
    end, M.info(t))
  end)

  r.add("GET", "/templates", function(req)
    local list = {}
    for _, t in pairs(state(reg).by_name) do list[#list + 1] = t end
    table.sort(list, function(a, b) return a.name < b.name end)
    local out = json.array()
    for i, t in ipairs(list) do out[i] = M.info(t) end
    http.json(req, 200, out)
  end)

  local function template_of(p)
    local name = request.id(p.name, "template name")
    local t = M.get(reg, name)
    if not t then http.abort(404, "template not found: " .. name) end
    return t
  end

  r.add("GET", "/templates/:name", function(req, p)
    http.json(req, 200, M.info(template_of(p)))
  end)

  r.add("DELETE", "/templates/:name", function(req, p)
    local t = template_of(p)
    state(reg).by_name[t.name] = nil
    os.remove(file_of(reg, t.name))
    image.trim(reg)	-- its image is one of the cache's now
    http.no_content(req)
  end)
end

--- POST /sandboxes with the `templateID` of template `t` (protocol.md
-- 2.2): a fork of its image's checkpoint with the body's envs, metadata,
-- timeout, networkEnabled and memory and disk (`memory_mb`, the create's
-- tier; `disk_mb`, its checked diskMB or nil for the image's), answered
-- 201 with the sandbox object, its templateID the template's. 400 when
-- the template is not ready.
function M.create_sandbox(req, reg, b, t, memory_mb, disk_mb)
  local rec = t.status == "ready" and image.get(reg, t.image_id)
  if not rec or not image.usable(reg, rec) then
    http.abort(400, "template " .. t.name .. " is not ready (status: "
      .. t.status .. ")")
  end
  local ok, sb = pcall(image.fork, reg, rec, { envs = b.envs,
    metadata = b.metadata, memory_mb = memory_mb, timeout = b.timeout,
    network = b.networkEnabled, disk_mb = disk_mb }, function() end)
  if not ok then
    http.abort(500, "fork from checkpoint: " .. reg:public(sb, "fork of template " .. t.name))
  end
  sb.template = t.name
  sb:save()
  if req:closed() then	-- nobody would learn its id: nothing stays
    sb:delete()
    return
  end
  http.json(req, 201, sb:info())
end

return M
