-- opencomputer/server/request.lua - what the local server accepts: every
-- JSON body, query parameter and id in the path of its routes is read and
-- checked here, once, against a schema, and every refusal is the same
-- shape, a 400 {"error": "invalid request body: <field> <what is
-- allowed>"} ("invalid query: ...", "invalid path: ..." for the others;
-- a required field missing is the reference's "<field> is required")
-- (protocol.md section 9.1, shape 1), raised with http.abort before
-- anything is made.
--
-- JSON is RFC 8259, strictly: UTF-8 text, one object, numbers as the RFC
-- writes them (no NaN, Infinity, hex, leading zeros, "1." or ".5"), no raw
-- control characters in strings, no lone surrogates, at most MAX_DEPTH
-- levels of nesting, nothing after the value, and no key twice in one
-- object (the reference, in Go, takes the last; here a body that says two
-- things is refused). Unknown fields are ignored (protocol.md section 0),
-- and so is a null, as absence.
--
-- A schema maps field name -> rule; rules are made by the constructors
-- below (M.integer(min, max), M.string(o), ...), each saying what it
-- allows in its error message. Every string the server stores or echoes
-- is valid UTF-8 without a NUL byte.

local core = require("opencomputer.core")
local http = require("opencomputer.server.http")
local cjson = require("cjson").new()

local M = {}

M.MAX_BODY = 1024 * 1024	-- bytes of JSON in a request
M.MAX_DEPTH = 32		-- nested arrays and objects
M.MAX_SECONDS = 2147483647	-- any duration in seconds (int32)
M.MAX_PATH = 4095		-- bytes in a path (PATH_MAX - 1)

cjson.decode_invalid_numbers(false)
cjson.decode_max_depth(M.MAX_DEPTH)

--- Raise the 400 of a field: `where` (default "invalid request body")
-- .. ": " .. what.
local function invalid(what, where)
  http.abort(400, (where or "invalid request body") .. ": " .. what)
end

--- Is `err` a refusal of a request (an http.abort answer of 400 or 413)?
function M.is_invalid(err)
  return http.is_answer(err) and (err.status == 400 or err.status == 413)
end

-- JSON text ---------------------------------------------------------------

-- the end of the RFC 8259 number at `s` in `text`
-- (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?), not followed by what
-- would continue one; nil if there is none
local function number_end(text, s)
  local q = text:match("^%-?()", s)
  q = text:match("^0()", q) or text:match("^[1-9]%d*()", q)
  if q and text:find("^%.", q) then q = text:match("^%.%d+()", q) end
  if q and text:find("^[eE]", q) then q = text:match("^[eE][%+%-]?%d+()", q) end
  if q and not text:find("^[%w%.%+%-]", q) then return q end
end

local QUOTE, BACKSLASH, MINUS, COMMA = ("\"\\-,"):byte(1, 4)
local DIGIT_0, DIGIT_9 = ("09"):byte(1, 2)
local LBRACE, RBRACE, LBRACKET, RBRACKET = ("{}[]"):byte(1, 4)

-- The name of a field in messages: `key` (a string: an object's key; an
-- integer: a list's index, from 1) in the field `parent` (nil: the body):
-- timeout, metadata["k"], args[0].
local function field(parent, key)
  if type(key) == "number" then
    return string.format("%s[%d]", parent or "", key - 1)
  end
  return parent and string.format("%s[%q]", parent, key) or key
end

-- Check what cjson lets through and RFC 8259 does not (see the head of
-- this file), duplicate keys, and that each string is UTF-8 (its field
-- named); raises invalid(). Returns the source text of each integer
-- written without a fraction or exponent, by field name: cjson makes it a
-- double, which holds integers exactly only up to 2^53.
local function scan(text)
  -- cjson reads the text as a C string: a NUL would end it there
  local nul = text:find("\0", 1, true)
  if nul then
    invalid("a NUL byte (at byte offset " .. nul - 1 .. ") is not allowed "
      .. "in JSON")
  end
  local integers = {}
  local i, n = 1, #text
  -- per open container: {name, keys = set (an object) or nil (a list),
  -- at = the current key, or the index of the current item}
  local stack = {}
  local key_next = false
  -- the name of the value starting now (a list counts it as its next item)
  local function value_name()
    local top = stack[#stack]
    if not top then return nil end
    if not top.keys then top.at = top.at + 1 end
    return field(top.name, top.at)
  end
  while i <= n do
    local s = text:find("[^ \t\n\r]", i)
    if not s then break end
    local c = text:byte(s)
    if c == QUOTE then
      local j = s + 1
      local e
      while true do
        e = text:find('["\\\0-\31]', j)
        if not e then invalid("a string is not closed") end
        local b = text:byte(e)
        if b == QUOTE then break end
        if b ~= BACKSLASH then
          invalid(string.format("a control character (0x%02x) in a string "
            .. "must be escaped", b))
        end
        local esc = text:sub(e + 1, e + 1)
        if esc == "u" then
          if not text:find("^%x%x%x%x", e + 2) then
            invalid("\\u must be followed by 4 hex digits")
          end
          j = e + 6
        elseif esc ~= "" and ('"\\/bfnrt'):find(esc, 1, true) then
          j = e + 2
        else
          invalid("unknown escape \\" .. esc .. " in a string")
        end
      end
      local top = stack[#stack]
      local raw = text:sub(s, e)
      if top and key_next then
        if not utf8.len(raw) then
          invalid("a key " .. (top.name and "of " .. top.name .. " " or "")
            .. "must be valid UTF-8")
        end
        local key = raw:sub(2, -2)
        if raw:find("\\", 1, true) then
          local ok, decoded = pcall(cjson.decode, raw)
          key = ok and decoded or invalid("a key holds a bad \\u escape")
        end
        if top.keys[key] then invalid(string.format("key %q appears twice", key)) end
        top.keys[key] = true
        top.at = key
        key_next = false
      else
        local name = value_name()
        if not utf8.len(raw) then
          invalid((name or "the body") .. " must be valid UTF-8")
        end
      end
      i = e + 1
    elseif c == MINUS or (c >= DIGIT_0 and c <= DIGIT_9) then
      local name = value_name()
      i = number_end(text, s) or invalid("a number is not written as "
        .. "RFC 8259 allows: " .. text:match("^[^ \t\n\r,%]}]*", s):sub(1, 24))
      local literal = text:sub(s, i - 1)
      if name and literal:find("^%-?%d+$") then integers[name] = literal end
    elseif c == LBRACE or c == LBRACKET then
      if #stack >= M.MAX_DEPTH then
        invalid("nested deeper than " .. M.MAX_DEPTH .. " levels")
      end
      local name = value_name()
      stack[#stack + 1] = { name = name, keys = c == LBRACE and {} or nil,
        at = 0 }
      key_next = c == LBRACE
      i = s + 1
    elseif c == RBRACE or c == RBRACKET then
      stack[#stack] = nil
      key_next = false
      i = s + 1
    elseif c == COMMA then
      key_next = stack[#stack] and stack[#stack].keys and true or false
      i = s + 1
    else
      if text:find("^[tfn]", s) then value_name() end
      i = s + 1	-- ':' and literals: cjson checks them
    end
  end
  -- bytes outside strings (cjson would call them an invalid token)
  if not utf8.len(text) then invalid("the body is not valid UTF-8") end
  return integers
end

-- cjson gives every number as a float: whole ones become integers (so an
-- exit code prints as 2, not 2.0), and an integer written without a
-- fraction or exponent is its source text's (`integers`, by field name:
-- exact where a double is not); one out of a double's range is refused
local function numbers(v, integers, parent)
  for k, x in pairs(v) do
    local name = field(parent, k)
    if type(x) == "table" then
      numbers(x, integers, name)
    elseif type(x) == "number" then
      if x ~= x or x == math.huge or x == -math.huge then
        invalid("a number is out of range")
      end
      v[k] = integers[name] and tonumber(integers[name])
        or math.tointeger(x) or x
    end
  end
end

-- cjson's words for what it expected and found -> plain ones
local EXPECTED = {
  value = "a value", ["object key string"] = "a key (a string)",
  colon = "':'", ["comma or object end"] = "',' or '}'",
  ["comma or array end"] = "',' or ']'", ["the end"] = "nothing more",
}
local FOUND = {
  T_OBJ_BEGIN = "'{'", T_OBJ_END = "'}'", T_ARR_BEGIN = "'['",
  T_ARR_END = "']'", T_STRING = "a string", T_NUMBER = "a number",
  T_BOOLEAN = "true or false", T_NULL = "null", T_COLON = "':'",
  T_COMMA = "','", T_END = "the end of the body",
  ["invalid token"] = "an invalid token",
}

-- a cjson decoding error in plain words, with the byte offset
local function decode_error(err)
  err = tostring(err):gsub("^.-: ", "")
  local expected, found, at =
    err:match("^Expected (.-) but found (.-) at character (%d+)$")
  if not expected then return err end
  return string.format("expected %s but found %s (at byte offset %d)",
    EXPECTED[expected] or expected, FOUND[found] or found, tonumber(at) - 1)
end

--- Decode a request body that must be one JSON object; raises invalid().
function M.decode(text)
  if not text:find("^[ \t\n\r]*{") then
    invalid("expected a JSON object")
  end
  local integers = scan(text)
  local ok, doc = pcall(cjson.decode, text)
  if not ok then invalid(decode_error(doc)) end
  numbers(doc, integers)
  return doc
end

-- rules -------------------------------------------------------------------

local function describe(v)
  if type(v) == "string" then return "a string" end
  if v == cjson.null then return "null" end
  if math.type(v) == "float" then return tostring(v) end
  if type(v) == "table" then
    return (next(v) == nil and "an empty list or object")
      or (v[1] ~= nil and "a list") or "an object"
  end
  return tostring(v)
end

-- a string's own faults, or nil; `o`: nonempty, max (bytes)
local function string_fault(s, o)
  if s:find("\0", 1, true) then return "must not contain a NUL byte" end
  if not utf8.len(s) then return "must be valid UTF-8" end
  if o.nonempty and s == "" then return "must not be empty" end
  if o.max and #s > o.max then
    return "must be at most " .. o.max .. " bytes long"
  end
end

--- An integer from min to max (an integral JSON number: 5 or 5.0).
function M.integer(min, max)
  return function(v, name)
    if math.type(v) ~= "integer" or v < min or v > max then
      return string.format("%s must be an integer from %d to %d, not %s",
        name, min, max, describe(v))
    end
  end
end

M.boolean = function(v, name)
  if type(v) ~= "boolean" then
    return name .. " must be true or false, not " .. describe(v)
  end
end

--- A string: valid UTF-8, no NUL; o.nonempty, o.max (bytes, default 4096).
function M.string(o)
  o = o or {}
  o.max = o.max or 4096
  return function(v, name)
    if type(v) ~= "string" then
      return name .. " must be a string, not " .. describe(v)
    end
    local fault = string_fault(v, o)
    if fault then return name .. " " .. fault end
  end
end

--- A list of strings (each as M.string(o)), at most `max` of them.
function M.strings(max, o)
  local each = M.string(o)
  return function(v, name)
    if type(v) ~= "table" or (next(v) ~= nil and #v == 0) then
      return name .. " must be a list of strings, not " .. describe(v)
    end
    local count = 0
    for k in pairs(v) do
      count = count + 1
      if math.type(k) ~= "integer" then
        return name .. " must be a list of strings, not an object"
      end
    end
    if count ~= #v then return name .. " must be a list of strings" end
    if count > max then
      return name .. " must have at most " .. max .. " entries"
    end
    for i, s in ipairs(v) do
      local fault = each(s, string.format("%s[%d]", name, i - 1))
      if fault then return fault end
    end
  end
end

--- An object of strings: at most `max` entries and `bytes` in all; keys
-- as M.string{nonempty}, and for an environment (o.env) without "=";
-- values as M.string.
function M.map(max, bytes, o)
  o = o or {}
  return function(v, name)
    if type(v) ~= "table" or #v > 0 then
      return name .. " must be an object of strings, not " .. describe(v)
    end
    local count, total = 0, 0
    for k, s in pairs(v) do
      count = count + 1
      if type(k) ~= "string" then
        return name .. " must be an object of strings"
      end
      local fault = string_fault(k, { nonempty = true })
      if fault then return name .. " key " .. fault end
      if o.env and k:find("=", 1, true) then
        return string.format("%s key %q must not contain '='", name, k)
      end
      if type(s) ~= "string" then
        return string.format("%s[%q] must be a string, not %s", name, k,
          describe(s))
      end
      fault = string_fault(s, {})
      if fault then return string.format("%s[%q] %s", name, k, fault) end
      total = total + #k + #s
    end
    if count > max then
      return name .. " must have at most " .. max .. " entries"
    end
    if total > bytes then
      return name .. " must hold at most " .. bytes .. " bytes of keys and values"
    end
  end
end

--- Any JSON object (fields accepted for compatibility and not read).
M.object = function(v, name)
  if type(v) ~= "table" or #v > 0 then
    return name .. " must be an object, not " .. describe(v)
  end
end

--- Any JSON list.
M.list = function(v, name)
  if type(v) ~= "table" or (next(v) ~= nil and #v == 0) then
    return name .. " must be a list, not " .. describe(v)
  end
end

--- One of the strings in the list `values`.
function M.one_of(values)
  local allowed = {}
  for _, v in ipairs(values) do allowed[v] = true end
  local words = '"' .. table.concat(values, '", "') .. '"'
  return function(v, name)
    if type(v) ~= "string" or not allowed[v] then
      return string.format("%s must be one of %s, not %s", name, words,
        type(v) == "string" and string.format("%q", v) or describe(v))
    end
  end
end

--- An object whose fields are checked against `schema` (name -> rule or
-- M.required(rule)), named in messages as parent.field; unknown fields
-- and nulls in it are dropped, as M.check does for a body.
function M.object_of(schema)
  return function(v, name)
    if type(v) ~= "table" or #v > 0 then
      return name .. " must be an object, not " .. describe(v)
    end
    for k, x in pairs(v) do
      if schema[k] == nil or x == cjson.null then v[k] = nil end
    end
    for key, rule in pairs(schema) do
      local required = type(rule) == "table" and rule.required
      if type(rule) == "table" then rule = rule.rule end
      if v[key] ~= nil then
        local fault = rule(v[key], name .. "." .. key)
        if fault then return fault end
      elseif required then
        return name .. "." .. key .. " is required"
      end
    end
  end
end

--- A list of at most `max` values, each checked by `rule` (named
-- parent[i], from 0).
function M.list_of(rule, max)
  return function(v, name)
    if type(v) ~= "table" or (next(v) ~= nil and #v == 0) then
      return name .. " must be a list, not " .. describe(v)
    end
    local count = 0
    for k in pairs(v) do
      count = count + 1
      if math.type(k) ~= "integer" then return name .. " must be a list" end
    end
    if count ~= #v then return name .. " must be a list" end
    if count > max then
      return name .. " must have at most " .. max .. " entries"
    end
    for i, x in ipairs(v) do
      local fault = rule(x, string.format("%s[%d]", name, i - 1))
      if fault then return fault end
    end
  end
end

--- `rule`, and the field must be present.
function M.required(rule)
  return { rule = rule, required = true }
end

--- Check the decoded object `doc` against `schema` (name -> rule or
-- M.required(rule)); drops unknown fields and nulls; raises invalid().
function M.check(doc, schema, where)
  for k, v in pairs(doc) do
    if schema[k] == nil or v == cjson.null then doc[k] = nil end
  end
  for name, rule in pairs(schema) do
    local v = doc[name]
    local required = type(rule) == "table" and rule.required
    if type(rule) == "table" then rule = rule.rule end
    if v == nil or (required and v == "") then
      -- the reference's words for it (protocol.md 2.6, 3.2)
      if required then http.abort(400, name .. " is required") end
    else
      local fault = rule(v, name)
      if fault then invalid(fault, where) end
    end
  end
  return doc
end

-- the schemas of the routes ----------------------------------------------

local seconds = M.integer(0, M.MAX_SECONDS)
local text = M.string({ max = 256 })
local env = M.map(1024, 64 * 1024, { env = true })
local path = M.string({ nonempty = true, max = M.MAX_PATH })
-- argv: the command, then at most 1022 arguments (src/sandbox/init.c
-- takes 1023 strings)
local command = M.string({ nonempty = true, max = 64 * 1024 })
local args = M.strings(1022, { max = 64 * 1024 })

-- image manifests (protocol.md 8.6) ----------------------------------------

M.MAX_STEPS = 256	-- steps of a manifest
M.MAX_LIST = 1000	-- packages, commands or files of one step

--- The name of a snapshot or template: 1 to 128 bytes of letters,
-- digits, ".", "_" and "-", starting with a letter or digit (it is a
-- segment of their routes' paths).
function M.resource_name(v, name)
  if type(v) ~= "string" or not v:find("^[%w][%w%._%-]*$") or #v > 128 then
    return name .. " must be 1 to 128 letters, digits, '.', '_' or '-', "
      .. "starting with a letter or digit, not " .. (type(v) == "string"
      and string.format("%q", v) or describe(v))
  end
end

local function absolute(v, name)
  local fault = path(v, name)
  if fault then return fault end
  if v:sub(1, 1) ~= "/" then
    return name .. " must be an absolute path (starting with /)"
  end
end

local function file_path(v, name)
  local fault = absolute(v, name)
  if fault then return fault end
  if v:sub(-1) == "/" then return name .. " must name a file, not end with /" end
end

local function relative(v, name)
  local fault = path(v, name)
  if fault then return fault end
  if v:sub(1, 1) == "/" then return name .. " must be a relative path" end
  for seg in (v .. "/"):gmatch("([^/]*)/") do
    if seg == ".." then return name .. " must not contain .." end
    if seg == "" or seg == "." then
      return name .. " must not hold an empty or . segment"
    end
  end
end

-- base64 content, strictly (RFC 4648 4, padded: core.base64_decode)
local function base64(v, name)
  if type(v) ~= "string" then
    return name .. " must be a string of base64, not " .. describe(v)
  end
  local bytes, why = core.base64_decode(v)
  if not bytes then return name .. " must be base64: " .. why end
end

-- a non-empty list of at most MAX_LIST strings, each as `each` and
-- matching `pattern` (`what` says what that allows)
local function words(each, pattern, what)
  local rule = M.list_of(function(x, n)
    local fault = each(x, n)
    if fault then return fault end
    if pattern and not x:find(pattern) then return n .. " must be " .. what end
  end, M.MAX_LIST)
  return function(v, name)
    local fault = rule(v, name)
    if fault then return fault end
    if #v == 0 then return name .. " must not be empty" end
  end
end

local package = M.string({ nonempty = true, max = 256 })
local env_vars = M.map(256, 64 * 1024, { env = true })

local function vars(v, name)
  local fault = env_vars(v, name)
  if fault then return fault end
  if next(v) == nil then return name .. " must not be empty" end
  for k, x in pairs(v) do
    if not k:find("^[%a_][%w_]*$") then
      return string.format("%s key %q must be a shell variable name "
        .. "(letters, digits and _, not starting with a digit)", name, k)
    end
    if x:find("[\r\n]") then
      return string.format("%s[%q] must be one line", name, k)
    end
  end
end

local dir_files = M.list_of(M.object_of({
  relativePath = M.required(relative), content = M.required(base64),
}), M.MAX_LIST)

local function files(v, name)
  local fault = dir_files(v, name)
  if fault then return fault end
  if #v == 0 then return name .. " must not be empty" end
  local seen = {}
  for i, f in ipairs(v) do
    if seen[f.relativePath] then
      return string.format("%s[%d].relativePath %q appears twice", name,
        i - 1, f.relativePath)
    end
    seen[f.relativePath] = true
  end
end

local STEP_ARGS = {
  apt_install = M.object_of({ packages = M.required(words(package,
    "^[%w][%w%+%.:=~_/%-]*$", "a Debian package name (letters, digits "
    .. "and + . : = ~ _ / -, starting with a letter or digit)")) }),
  pip_install = M.object_of({ packages = M.required(words(package,
    "^[^%-%c][^%c]*$", "a pip requirement (no control character, not "
    .. "starting with -)")) }),
  run = M.object_of({ commands = M.required(words(command)) }),
  env = M.object_of({ vars = M.required(vars) }),
  workdir = M.object_of({ path = M.required(absolute) }),
  add_file = M.object_of({ path = M.required(file_path),
    content = M.required(base64), encoding = M.one_of({ "", "base64" }) }),
  add_dir = M.object_of({ path = M.required(absolute),
    files = M.required(files) }),
}
local step_head = M.object_of({
  type = M.required(M.one_of({ "apt_install", "pip_install", "run", "env",
    "workdir", "add_file", "add_dir" })),
  args = M.required(M.object),
})

local function step(v, name)
  local fault = step_head(v, name)
  if fault then return fault end
  return STEP_ARGS[v.type](v.args, name .. ".args")
end

local TIERS = { [1024] = true, [4096] = true, [8192] = true, [16384] = true }
local function memory(v, name)
  if not TIERS[v] then
    return name .. " must be one of 1024, 4096, 8192, 16384, not " .. describe(v)
  end
end

--- An image manifest (protocol.md 8.6): base ("", base, ubuntu, default),
-- at most MAX_STEPS steps {type, args} with each type's args checked
-- (absolute paths, relative ones without "..", strict base64, shell
-- variable names), name, builderMemoryMB and runtimeMemoryMB (tiers).
M.manifest = M.object_of({
  base = M.one_of({ "", "base", "ubuntu", "default" }),
  steps = M.list_of(step, M.MAX_STEPS),
  name = M.resource_name,
  builderMemoryMB = memory, runtimeMemoryMB = memory,
})

--- Check the manifest `m` made by the server (a Dockerfile's: `name`
-- names it in messages) as a body's; raises the 400 of a fault.
function M.manifest_of(m, name)
  local fault = M.manifest(m, name)
  if fault then invalid(fault) end
  return m
end

M.schemas = {
  -- POST /sandboxes (protocol.md 2.2); memoryMB, cpuCount and diskMB are
  -- checked against the tiers by the route; the fields marked as
  -- ignored there are still type-checked
  create = {
    templateID = text, timeout = M.integer(-M.MAX_SECONDS, M.MAX_SECONDS),
    envs = env, metadata = M.map(256, 64 * 1024),
    cpuCount = M.integer(1, 64), memoryMB = M.integer(1, 1048576),
    diskMB = M.integer(1, 1048576 * 1024),
    secretStore = text, image = M.manifest, snapshot = text,
    previewAuth = M.object, webhooks = M.list, alias = text,
    port = M.integer(1, 65535), networkEnabled = M.boolean,
    egressAllowlist = M.strings(1024, { max = 256 }),
    secretAllowedHosts = M.object, burst = M.boolean, sandboxFamily = text,
  },
  -- POST /sandboxes/{id}/exec (3.2)
  exec = { cmd = M.required(command), args = args, envs = env, cwd = path,
    timeout = seconds, maxRunAfterDisconnect = seconds },
  -- POST .../exec/run and .../exec/run-async (3.6, 3.7)
  run = { cmd = M.required(command), args = args, envs = env, cwd = path,
    timeout = seconds },
  -- POST .../exec/{sid}/kill (3.5): 0 is the default, 9
  kill = { signal = M.integer(0, 64) },
  -- POST .../timeout (2.6)
  timeout = { timeout = M.required(seconds) },
  -- POST .../wake (2.7)
  wake = { timeout = seconds },
  -- POST .../hibernate: no fields
  none = {},
  -- POST /sandboxes/{id}/checkpoints (8.2); retentionPolicy.maxCount is
  -- checked against the kind's limit by checkpoint.lua
  checkpoint = {
    name = M.required(M.string({ max = 255 })),
    kind = M.one_of({ "full", "disk_only" }),
    promoteToFull = M.boolean,
    retentionPolicy = M.object_of({
      mode = M.one_of({ "none", "delete_oldest" }),
      maxCount = M.integer(1, 100),
    }),
  },
  -- POST /sandboxes/from-checkpoint/{id} (8.2); memoryMB is clamped to
  -- the tiers by checkpoint.lua, a negative timeout is 0 as on create
  fork = {
    timeout = M.integer(-M.MAX_SECONDS, M.MAX_SECONDS), envs = env,
    metadata = M.map(256, 64 * 1024), memoryMB = M.integer(1, 1048576),
    secretStore = text,
  },
  -- POST .../patches (8.4)
  patch = {
    script = M.required(M.string({ max = 256 * 1024 })),
    description = M.string({ max = 4096 }),
  },
  -- POST /snapshots (8.5)
  snapshot = { name = M.required(M.resource_name),
    image = M.required(M.manifest) },
  -- terminals (6): POST /sandboxes/{id}/pty (6.1) and .../resize (6.3);
  -- a window is 1 to 4096 characters each way
  pty = { cols = M.integer(1, 4096), rows = M.integer(1, 4096),
    shell = path },
  pty_resize = { cols = M.required(M.integer(1, 4096)),
    rows = M.required(M.integer(1, 4096)) },
  -- POST /templates (8.7): the Dockerfile is template_build.lua's
  template = { name = M.required(M.resource_name),
    dockerfile = M.required(M.string({ max = M.MAX_BODY })),
    tag = M.resource_name },
}

-- agent sessions (protocol.md 7.1, 7.4) ----------------------------------

--- An object of at most `max` entries whose keys are M.string{nonempty,
-- max = 256} and whose values are checked by `rule` (named
-- parent["key"]).
function M.map_of(rule, max)
  local key = M.string({ nonempty = true, max = 256 })
  return function(v, name)
    if type(v) ~= "table" or #v > 0 then
      return name .. " must be an object, not " .. describe(v)
    end
    local count = 0
    for k, x in pairs(v) do
      count = count + 1
      if type(k) ~= "string" then return name .. " must be an object" end
      local fault = key(k, name .. " key") or rule(x, field(name, k))
      if fault then return fault end
    end
    if count > max then
      return name .. " must have at most " .. max .. " entries"
    end
  end
end

-- a permission mode of the Claude Agent SDK ("default", "acceptEdits",
-- "bypassPermissions", "plan", ... : the wrapper judges which): 1 to 64
-- ASCII letters; "" is unset
local function permission_mode(v, name)
  if type(v) ~= "string" or (v ~= "" and not v:find("^%a+$")) or #v > 64 then
    return name .. " must be a permission mode (1 to 64 ASCII letters, "
      .. "such as \"bypassPermissions\"), not " .. (type(v) == "string"
      and string.format("%q", v) or describe(v))
  end
end

-- POST /sandboxes/{id}/agent (7.1): every field optional; an empty
-- string, list or object and maxTurns 0 are unset (agent.lua); an MCP
-- server is {command, args?, env?} (the stdio kind)
M.schemas.agent = {
  prompt = M.string({ max = M.MAX_BODY }),
  model = text,
  systemPrompt = M.string({ max = M.MAX_BODY }),
  allowedTools = M.strings(1024, { nonempty = true, max = 256 }),
  permissionMode = permission_mode,
  maxTurns = M.integer(0, 2147483647),
  cwd = M.string({ max = M.MAX_PATH }),
  mcpServers = M.map_of(M.object_of({ command = M.required(command),
    args = args, env = env }), 64),
  resume = text,
}
-- POST .../agent/{sid}/prompt (7.4): the reference's "text is required"
-- for a missing or empty text
M.schemas.agent_prompt = { text = M.required(M.string({ max = M.MAX_BODY })) }

--- Read the JSON body of `req` (at most MAX_BODY bytes; empty: {}) and
-- check it against M.schemas[name]; the checked fields. Raises http.abort
-- answers: 413 for a body too large, 400 for anything invalid.
function M.body(req, name)
  local schema = (assert(M.schemas[name], name))
  local too_large = "request body too large (at most 1 MiB of JSON)"
  http.limit_body(req, M.MAX_BODY, too_large)
  local parts, size = {}, 0
  while true do
    local chunk = req:read()
    if not chunk then break end
    size = size + #chunk
    if size > M.MAX_BODY then http.abort(413, too_large) end
    parts[#parts + 1] = chunk
  end
  local body = table.concat(parts)
  if body:match("^[ \t\n\r]*$") then return M.check({}, schema) end
  local ctype = (req.headers["content-type"] or ""):lower()
  if not ctype:find("^application/json") then
    invalid("Content-Type must be application/json")
  end
  return M.check(M.decode(body), schema)
end

--- A segment of the request's path (a sandbox or session id: `name`
-- says which) as given, when it is valid UTF-8 of at most 256 bytes (it
-- may be echoed in an answer); else a 400.
local segment = M.string({ max = 256 })
function M.id(v, name)
  local fault = segment(v, name)
  if fault then invalid(fault, "invalid path") end
  return v
end

--- A UUID in a segment of the request's path (a checkpoint or patch id,
-- protocol.md 8.1): 8-4-4-4-12 hex digits, either case; returned in
-- lower case. Anything else is a 400 {"error": message} (the reference's
-- "invalid checkpoint ID").
function M.uuid(v, message)
  if type(v) ~= "string" or not v:find("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") then
    http.abort(400, message)
  end
  return v:lower()
end

--- The query parameter `name` of `req` as a path (valid UTF-8, no NUL,
-- at most MAX_PATH bytes), or nil when absent or empty; raises invalid().
function M.query_path(req, name)
  local v = req.query[name]
  if v == nil or v == "" then return nil end
  local fault = path(v, name)
  if fault then invalid(fault, "invalid query") end
  return v
end

return M
