-- opencomputer/cli/repl.lua - the interactive prompt of `oclua` / `oclua -i`
-- (API.md section 9): each line runs as a task, so yielding calls work at
-- the prompt; `=expr` and bare expressions print their values (tables
-- pretty-printed); output of background tasks is drawn around the line
-- being edited (src/term/editor.c). M.pretty is the value printer.

local M = {}

-- strings inside tables: quoted, control bytes escaped
local ESC = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t" }
local function quote(s)
  return '"' .. s:gsub('[%c\\"]', function(c)
    return ESC[c] or string.format("\\%d", c:byte())
  end) .. '"'
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local KEY_ORDER = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (KEY_ORDER[ta] or 9) < (KEY_ORDER[tb] or 9) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local MAX_DEPTH, MAX_ITEMS, WIDTH = 4, 100, 72

local function pretty(v, indent, seen, depth)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[v] = true
  local items, n = {}, #v
  for i = 1, math.min(n, MAX_ITEMS) do
    items[#items + 1] = pretty(v[i], indent .. "  ", seen, depth + 1)
  end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, key_less)
  for _, k in ipairs(keys) do
    if #items >= MAX_ITEMS then break end
    local ks = is_identifier(k) and k
      or "[" .. pretty(k, indent .. "  ", seen, depth + 1) .. "]"
    items[#items + 1] = ks .. " = " .. pretty(v[k], indent .. "  ", seen, depth + 1)
  end
  local total = math.min(n, MAX_ITEMS) + #keys
  if total > #items then
    items[#items + 1] = "... (" .. (total - #items) .. " more)"
  end
  seen[v] = nil
  if #items == 0 then return "{}" end
  local one = "{ " .. table.concat(items, ", ") .. " }"
  if #one + #indent <= WIDTH and not one:find("\n", 1, true) then return one end
  local short = true
  for _, it in ipairs(items) do
    if #it > 24 or it:find("\n", 1, true) then short = false break end
  end
  if short then		-- many small items: fill lines
    local lines, cur = {}, ""
    for i, it in ipairs(items) do
      local piece = it .. (i < #items and "," or "")
      if cur ~= "" and #indent + 2 + #cur + 1 + #piece > WIDTH then
        lines[#lines + 1] = cur
        cur = piece
      else
        cur = cur == "" and piece or cur .. " " .. piece
      end
    end
    lines[#lines + 1] = cur
    items = lines
    return "{\n" .. indent .. "  " .. table.concat(items, "\n" .. indent .. "  ")
      .. "\n" .. indent .. "}"
  end
  return "{\n" .. indent .. "  " .. table.concat(items, ",\n" .. indent .. "  ")
    .. "\n" .. indent .. "}"
end

--- M.pretty(value) -> a readable string (tables expanded, 4 levels deep).
function M.pretty(v)
  return pretty(v, "", {}, 0)
end

-- the chunk for `src`: an expression's value is returned; nil and the
-- message when it does not compile, with `incomplete` set when more lines
-- could complete it
local function compile(src)
  if src:sub(1, 1) == "=" then src = "return " .. src:sub(2) end
  local fn = load("return " .. src, "=stdin", "t")
  if fn then return fn end
  local err
  fn, err = load(src, "=stdin", "t")
  if fn then return fn end
  return nil, err, err:sub(-5) == "<eof>"
end

local function banner(oc, write, editing)
  local cfg = require("opencomputer.sdk.config")
  local url = os.getenv("OPENCOMPUTER_API_URL")
  local where = (url and url ~= "") and url
    or (os.getenv("OPENCOMPUTER_API_KEY") and cfg.CLOUD)
    or "the local sandbox server (started on first use)"
  -- lines that fit 80 columns
  write(string.format("oclua %s (%s).\nSandboxes: %s.\n"
    .. "`oc` is require(\"opencomputer\"); `=expr` or an expression prints "
    .. "its value.\nCtrl-C returns to the prompt; Ctrl-D quits.\n",
    oc.version or "", _VERSION, where))
  if not editing then
    local term = os.getenv("TERM")
    write("A plain prompt, no line editing or history:\n"
      .. ((term and term ~= "") and "TERM=" .. term .. " names no terminal"
        or "TERM is not set to a terminal")
      .. " whose line can be redrawn.\n")
  end
end

--- Run the prompt until the end of input, then exit the process.
function M.main()
  local oc = require("opencomputer")
  local core = require("opencomputer.core")
  local task = require("opencomputer.runtime.task")
  local history = os.getenv("OCLUA_HISTORY")
  if history == nil and os.getenv("HOME") then
    history = os.getenv("HOME") .. "/.oclua_history"
  end
  if history == "" then history = nil end
  local ed = core.line_editor(history)
  local tty = ed:is_terminal()
  local function write(s) ed:write(s) end

  -- everything printed goes around the prompt
  _G.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    write(table.concat(parts, "\t", 1, parts.n) .. "\n")
  end
  io.write = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do
      local x = parts[i]
      if type(x) ~= "string" and type(x) ~= "number" then
        error("bad argument #" .. i .. " to 'write' (string expected, got "
          .. type(x) .. ")", 2)
      end
      parts[i] = tostring(x)
    end
    write(table.concat(parts, "", 1, parts.n))
    return io.stdout
  end
  _G.oc = oc
  if tty then banner(oc, write, ed:is_editing()) end

  local current	-- the line being waited for: {done=, finished=, detached=}
  if tty then
    -- Ctrl-C while a line runs: back to the prompt; the line goes on
    oc.spawn(function()
      while true do
        ed:interrupt()
        if current then
          current.detached = true
          current.done:signal()
        end
      end
    end)
  end

  local function show(r)
    if not r[1] then
      write("error: " .. tostring(r[2]) .. "\n")
      return
    end
    if r.n < 2 then return end
    local out = {}
    for i = 2, r.n do
      local v = r[i]
      out[#out + 1] = type(v) == "string" and v or M.pretty(v)
    end
    _G._ = r[2]
    write(table.concat(out, "\t") .. "\n")
  end

  local function run(fn)
    local line = { done = task.condition() }
    current = line
    oc.spawn(function()
      local r = table.pack(pcall(fn))
      line.finished = true
      if line.detached then
        if not r[1] then write("error in a line left running: " .. tostring(r[2]) .. "\n") end
      else
        line.result = r
        line.done:signal()
      end
    end)
    while not line.finished and not line.detached do line.done:wait() end
    current = nil
    if line.detached then
      write("(the line goes on in the background)\n")
    else
      show(line.result)
    end
  end

  local pending
  while true do
    local text = ed:read(pending and ">> " or "> ")
    if not text then break end
    pending = pending and (pending .. "\n" .. text) or text
    if not pending:match("^%s*$") then
      local fn, err, incomplete = compile(pending)
      if fn then
        pending = nil
        run(fn)
      elseif not incomplete then
        pending = nil
        write(err .. "\n")
      end
    else
      pending = nil
    end
  end
  if tty then write("\n") end
  ed:close()
  io.stdout:flush()
  os.exit(0)
end

return M
