-- opencomputer/client/api.lua - one API endpoint as the SDK sees it: the
-- resolved base URL and key (config.lua), JSON requests with the auth
-- header, and error objects that name the sandbox they concern.

local config = require("opencomputer.sdk.config")
local errors = require("opencomputer.sdk.errors")
local http = require("opencomputer.client.http")
local json = require("opencomputer.runtime.json")

local M = {}

local Client = {}
Client.__index = Client

--- The client for the connection options `opts` ({api_url=, api_key=,
-- retries=}, nil: none) of the SDK call `name`: where its requests go
-- (config.resolve) and how they are retried (config.retry_policy). A bad
-- `retries` raises "<name>: retries ..." at `level` (as error() counts
-- it from the caller; default 2) before anything is started.
function M.new(opts, name, level)
  local retries = config.check_retries(opts and opts.retries,
    name or "the call", (level or 2) + 1)
  local c = config.resolve(opts)
  return setmetatable({ base = c.base, key = c.key, url = c.url,
    is_local = c.is_local,
    retry = config.retry_policy({ retries = retries }) }, Client)
end

--- The headers of a request: Content-Type JSON, X-API-Key when there is
-- a key, then `extra` (a table, may be nil) over them; checked as a
-- string map (a bad one raises "request: headers...").
function Client:headers(extra)
  local h = { ["Content-Type"] = "application/json" }
  if self.key then h["X-API-Key"] = self.key end
  for k, v in pairs(extra or {}) do h[k] = v end
  return M.string_map(h, "headers", "request")
end

--- `s` (a string, or a number as tostring gives it) percent-encoded for
-- a query: every byte but the unreserved ones of RFC 3986 section 2.3.
local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end
M.urlencode = urlencode

--- `v` (an id, a name, a port) as one segment of a URL path: urlencode's
-- text, and "." or ".." as "%2E" or "%2E%2E", which would otherwise be a
-- dot-segment that the client removes with the segment before it (RFC
-- 3986 section 5.2.4: DELETE .../checkpoints/.. would go to the sandbox
-- itself). The one way the SDK puts a value into a path.
function M.segment(v)
  local s = urlencode(v)
  if s == "." or s == ".." then s = s:gsub("%.", "%%2E") end
  return s
end

--- `path` with `query` (a table) appended, relative to the API base.
function Client:url_for(path, query)
  local u = self.base .. path
  if query then
    local parts = {}
    for k, v in pairs(query) do
      parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(v)
    end
    table.sort(parts)
    if #parts > 0 then u = u .. "?" .. table.concat(parts, "&") end
  end
  return u
end

--- A JSON request; the decoded answer (nil for an empty body) and the
-- raw response. opts: query, body (a table, sent as JSON), raw_body,
-- timeout (seconds, for all attempts together), fields (added to a
-- raised error: sandbox_id, session_id), on_body, raise (false: return
-- error statuses). Retried as the client's policy says (client/http.lua).
function Client:call(method, path, opts)
  opts = opts or {}
  local body = opts.raw_body
  if opts.body ~= nil then body = json.encode(opts.body) end
  local ok, res = pcall(http.request, method, self:url_for(path, opts.query), {
    headers = self:headers(opts.headers), body = body, timeout = opts.timeout,
    on_body = opts.on_body, length = opts.length,
    raise = opts.raise, retry = self.retry,
  })
  if not ok then
    if type(res) == "table" and opts.fields then
      for k, v in pairs(opts.fields) do
        if res[k] == nil then res[k] = v end
      end
    end
    error(res, 0)
  end
  local text = res.body
  if not text or text:match("^%s*$") then return nil, res end
  local doc = json.decode(text)
  if doc == nil then
    errors.raise(errors.SandboxError, "bad JSON from " .. method .. " "
      .. path .. ": " .. text:sub(1, 200), opts.fields)
  end
  return doc, res
end

--- Raise "<name>: unknown option 'k'" at the caller of the SDK call
-- for an option `opts` has that `allowed` does not (a misspelt option
-- should not be ignored). `level` as error() counts it from the caller
-- of check_options (default 2: the caller's caller, who made the call).
-- A value that is not a table raises "<name>: options must be a table".
function M.check_options(opts, allowed, name, level)
  if type(opts) ~= "table" then
    error(name .. ": options must be a table, got " .. M.show(opts),
      (level or 2) + 1)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      error(name .. ": unknown option '" .. tostring(k) .. "'", (level or 2) + 1)
    end
  end
end

--- Raise "<name>: <key> must be a function, got ..." at `level` (as
-- check_options counts it) for an option of `opts` whose name starts
-- with "on_" (a callback: on_stdout, on_exit, on_output, on_event,
-- on_build_log, ...) and that is not a function, before any request
-- (API.md 2: a callback's error would otherwise come later, from
-- another task).
function M.check_callbacks(opts, name, level)
  for k, v in pairs(opts) do
    if type(k) == "string" and k:sub(1, 3) == "on_"
        and type(v) ~= "function" then
      error(string.format("%s: %s must be a function, got %s", name, k,
        M.show(v)), (level or 2) + 1)
    end
  end
end

-- the options that choose a client (M.new), which every SDK call that
-- makes one takes
M.CONNECTION = { api_url = true, api_key = true, retries = true }

--- The client for the trailing options table `opts` of the SDK call
-- `name` (a class function: Template.get(name, {api_url=, api_key=,
-- retries=})): nil or a table whose keys are in `allowed` (default:
-- M.CONNECTION); else raises at `level` as check_options does.
function M.open(opts, name, allowed, level)
  level = (level or 2) + 1
  if opts ~= nil and type(opts) ~= "table" then
    error(name .. ": options must be a table, got " .. M.show(opts), level)
  end
  M.check_options(opts or {}, allowed or M.CONNECTION, name, level)
  return M.new(opts, name, level)
end

--- The options `list` (names) with the connection options added: the
-- allowed set of an SDK call that takes both.
function M.with_connection(list)
  local t = {}
  for _, k in ipairs(list) do t[k] = true end
  for k in pairs(M.CONNECTION) do t[k] = true end
  return t
end

--- The value `v` as an argument error shows it, with its type: a string
-- quoted (`"5"`, so that it does not pass for the number 5), a number or
-- boolean as "the number 5", "the boolean true", else "nil", "a table"...
function M.show(v)
  local t = type(v)
  if t == "string" then return string.format("the string %q", v) end
  if t == "number" or t == "boolean" then
    return "the " .. t .. " " .. tostring(v)
  end
  return v == nil and "nil" or "a " .. t
end

--- The string `v` that the SDK sends as argument or option `label` of
-- `name` (a command, its cwd, a files path, a sandbox id, ...): raises
-- "<name>: <label> must be a string without NUL, got ..." at `level` (as
-- error() counts it from the caller; default 2) unless it is a string
-- without a NUL byte, which the server refuses (protocol.md: every string
-- valid UTF-8 without NUL), before any request is made.
function M.check_text(v, label, name, level)
  if type(v) ~= "string" or v:find("\0", 1, true) then
    error(string.format("%s: %s must be a string without NUL bytes, got %s",
      name, label, M.show(v)), (level or 2) + 1)
  end
  return v
end

--- The id or name `v` that the SDK puts into a URL path as argument
-- `label` of `name` (a sandbox, session, checkpoint or patch id, a
-- snapshot's or template's name): check_text's rule, and not empty (an
-- empty segment would name another route). Raises at `level` as
-- check_text does.
function M.check_id(v, label, name, level)
  level = (level or 2) + 1
  M.check_text(v, label, name, level)
  if v == "" then error(name .. ": " .. label .. " is empty", level) end
  return v
end

--- The integer `v` given as option or argument `key` of `name`, from
-- `min` to `max` (a sandbox's cpu_count and memory_mb, a port, a
-- window size, ...): nil when absent; a float with an integral value is
-- taken as that integer. Anything else raises "<name>: <key> must be an
-- integer from <min> to <max>, got ..." at `level` (as check_text),
-- before any request is made.
function M.check_integer(v, key, name, min, max, level)
  if v == nil then return nil end
  local i = type(v) == "number" and math.tointeger(v)	-- not "5"
  if not i or i < min or i > max then
    error(string.format("%s: %s must be an integer from %d to %d, got %s",
      name, key, min, max, M.show(v)), (level or 2) + 1)
  end
  return i
end

-- `v` as a string for the wire, where the protocol wants one: numbers
-- are converted as Lua converts them (8080 -> "8080", 0.5 -> "0.5");
-- anything else, or a string with a NUL byte, raises "<name>: <label>
-- must be ..." at `level`.
local function wire_string(v, label, name, level)
  if type(v) == "number" then return tostring(v) end
  if type(v) ~= "string" or v:find("\0", 1, true) then
    error(string.format("%s: %s must be a string (without NUL bytes) or a "
      .. "number, got %s", name, label, M.show(v)), level + 1)
  end
  return v
end

-- raise unless `t` is a table
local function check_table(t, what, kind, name, level)
  if type(t) ~= "table" then
    error(string.format("%s: %s must be a %s of strings, got %s", name,
      what, kind, M.show(t)), level + 1)
  end
end

--- The string map `t` (a command's `env`, a sandbox's `envs` and
-- `metadata`, request headers) as it goes on the wire, where the protocol
-- wants strings (protocol.md 2.2, 3.2): a copy whose numbers are strings
-- (wire_string); nil for nil. Anything else raises "<name>:
-- <what>.<key> must be ..." before any request is made, at `level` as
-- error() counts it from the caller (default 2: the caller's caller, who
-- made the SDK call).
function M.string_map(t, what, name, level)
  if t == nil then return nil end
  level = (level or 2) + 1
  check_table(t, what, "table", name, level)
  local out = {}
  for k, v in pairs(t) do
    if type(k) ~= "string" then
      error(string.format("%s: %s has a key that is not a string: %s",
        name, what, M.show(k)), level)
    end
    if k:find("\0", 1, true) then
      error(string.format("%s: %s has a key with a NUL byte: %s", name,
        what, M.show(k)), level)
    end
    out[k] = wire_string(v, what .. "." .. k, name, level)
  end
  return out
end

--- The string list `t` (a command's `args`) as it goes on the wire, as
-- string_map does it: "<name>: <what>[i] must be ...".
function M.string_list(t, what, name, level)
  if t == nil then return nil end
  level = (level or 2) + 1
  check_table(t, what, "list", name, level)
  local out = json.array()
  for i, v in pairs(t) do
    if math.type(i) ~= "integer" or i < 1 or i > #t then
      error(string.format("%s: %s must be a list (keys 1 to n), but has "
        .. "the key %s", name, what, M.show(i)), level)
    end
    out[i] = wire_string(v, what .. "[" .. i .. "]", name, level)
  end
  return out
end

-- the longest duration the server takes, in seconds (protocol.md: every
-- duration 0..2147483647 s)
M.MAX_DURATION = 2147483647
-- the largest count (CPUs, MiB) the SDK sends: a 32-bit signed integer,
-- as the durations
M.MAX_INT = 2147483647

--- The duration `v` in seconds, given as option or argument `key` (a
-- command's `timeout`, `max_run_after_disconnect`, a sandbox's idle
-- `timeout`): nil when absent, else a number from 0 to MAX_DURATION
-- where 0 means no limit, the rule of protocol.md 3.8 for every call that
-- takes one (exec:run then runs a session, as exec/run would read 0 as
-- 60 s: 3.6). Raises "<name>: <key> must be ..." at `level` (as for
-- string_map), before any request is made.
function M.check_duration(v, key, name, level)
  if v ~= nil and (type(v) ~= "number"
      or not (v >= 0 and v <= M.MAX_DURATION)) then
    error(string.format("%s: %s must be a number of seconds from 0 to %d "
      .. "(0: no limit), got %s", name, key, M.MAX_DURATION, M.show(v)),
      (level or 2) + 1)
  end
  return v
end

--- The snake_case name of a camelCase JSON key of the protocol:
-- sandboxID -> sandbox_id, sizeBytes -> size_bytes, memoryMB ->
-- memory_mb, fromCheckpointId -> from_checkpoint_id, rootfsS3Key ->
-- rootfs_s3_key; a name without capitals is unchanged.
function M.snake_name(k)
  return (k:gsub("(%u)(%u%l)", "%1_%2"):gsub("([%l%d])(%u)", "%1_%2"):lower())
end

--- The SDK's table of a JSON object the server answered (a checkpoint, a
-- patch, a snapshot, a template: protocol.md 8): its top-level keys in
-- snake_case (snake_name), JSON null as nil. Values are kept as sent,
-- nested objects too: their keys are data (metadata, envs) or a wire
-- document to send back (a manifest, a sandbox configuration). nil for
-- anything but a table.
function M.snake(t)
  if type(t) ~= "table" then return nil end
  local out = {}
  for k, v in pairs(t) do
    if v == json.null then v = nil end
    out[type(k) == "string" and M.snake_name(k) or k] = v
  end
  return out
end

--- A JSON array the server answered (nil: none) as a list of snake()
-- tables.
function M.snake_list(list)
  local out = {}
  for i, t in ipairs(list or {}) do out[i] = M.snake(t) end
  return out
end

--- The WebSocket URL of `path` (http -> ws), with the key in the query.
function Client:ws_url(path)
  local u = self.base:gsub("^http", "ws") .. path
  if self.key then u = u .. "?api_key=" .. urlencode(self.key) end
  return u
end

return M
