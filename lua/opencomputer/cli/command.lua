-- opencomputer/cli/command.lua - what the sandbox commands of `oclua`
-- share (`oclua sandbox`, `exec`, `files`, `shell`: sandbox.lua,
-- exec.lua, files.lua, shell.lua beside this file): option parsing, the
-- server they talk to, and errors that say what to do.
--
-- Exit statuses: 0 done, 1 a failure (the message names it and what to
-- do), 2 a usage error; `oclua exec` exits with the command's status and
-- uses 255 for its own failures.

local config = require("opencomputer.sdk.config")
local errors = require("opencomputer.sdk.errors")

local M = {}

--- The text every command's --help ends with: where it connects.
M.SERVER_HELP = [[
Where: OPENCOMPUTER_API_URL and OPENCOMPUTER_API_KEY (or --api-url and
--api-key) name the server: `oclua serve` on this machine, or the
OpenComputer cloud (a key alone means https://app.opencomputer.dev).
With neither, the command starts its own local server for as long as it
runs, and that server's sandboxes die with it: run `oclua serve` in
another terminal and set both variables to keep sandboxes between
commands.
]]

--- Print `msg` as "oclua NAME: msg" and the hint to ask for help, and
-- exit with `status` (default 2: a usage error).
function M.usage_error(name, msg, status)
  io.stderr:write("oclua ", name, ": ", msg, "\nTry 'oclua ", name,
    " --help'.\n")
  os.exit(status or 2)
end

--- Parse `args` (a list of strings) by `spec`: option name (without
-- dashes: "json", "env", or a one-letter alias) -> {key =, value = true
-- for an option that takes one, list = true for a repeatable one,
-- alias = "other name"}. "--name value", "--name=value", "-x value".
-- Options may come anywhere until "--"; with `o.stop_at_positional`
-- they end at the first word that is not one (what follows is a
-- command's). Returns the options {key = value, list = {...}} and the
-- positional words; usage errors exit through usage_error(`name`).
function M.parse(name, args, spec, o)
  o = o or {}
  local opts, words = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i + 1, #args do words[#words + 1] = args[j] end
      opts["--"] = true
      break
    end
    local key, value = a:match("^%-%-([%w][%w-]*)=(.*)$")
    if not key then key = a:match("^%-%-([%w][%w-]*)$") or a:match("^%-(%w)$") end
    if key then
      local s = spec[key]
      if s and s.alias then s = spec[s.alias] end
      if key == "h" or key == "help" then return { help = true }, words end
      if not s then M.usage_error(name, "unknown option " .. a) end
      if s.value then
        if not value then
          i = i + 1
          value = args[i]
          if value == nil then M.usage_error(name, a .. " needs a value") end
        end
        if s.list then
          opts[s.key] = opts[s.key] or {}
          table.insert(opts[s.key], value)
        else
          opts[s.key] = value
        end
      elseif value then
        M.usage_error(name, "--" .. key .. " takes no value")
      else
        opts[s.key] = true
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      M.usage_error(name, "unknown option " .. a)
    else
      words[#words + 1] = a
      if o.stop_at_positional and #words >= o.stop_at_positional then
        for j = i + 1, #args do words[#words + 1] = args[j] end
        break
      end
    end
    i = i + 1
  end
  return opts, words
end

--- The options every command takes: where the server is.
M.SERVER_OPTIONS = {
  ["api-url"] = { key = "api_url", value = true },
  ["api-key"] = { key = "api_key", value = true },
}

--- `spec` with SERVER_OPTIONS added.
function M.with_server(spec)
  for k, v in pairs(M.SERVER_OPTIONS) do spec[k] = v end
  return spec
end

--- The SDK options (api_url, api_key) of parsed options.
function M.sdk_opts(opts)
  return { api_url = opts.api_url, api_key = opts.api_key }
end

--- Is the server of `opts` the embedded one this process would start?
function M.is_local(opts)
  return config.target(M.sdk_opts(opts)).is_local == true
end

--- Refuse a command that names an existing sandbox when no server is
-- configured: the embedded one would be new and empty. Exits with
-- `status` (default 1).
function M.need_server(name, opts, status)
  if M.is_local(opts) then
    M.usage_error(name, "no sandbox server is configured, so no sandbox "
      .. "ID can name one: run `oclua serve` in another terminal and set "
      .. "OPENCOMPUTER_API_URL and OPENCOMPUTER_API_KEY to what it prints "
      .. "(or pass --api-url and --api-key)", status or 1)
  end
end

--- A map from repeated "K=V" option values (`what` names the option).
function M.pairs_of(name, list, what)
  if not list then return nil end
  local out = {}
  for _, kv in ipairs(list) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    if not k then
      M.usage_error(name, what .. " wants KEY=VALUE, not " .. string.format("%q", kv))
    end
    out[k] = v
  end
  return out
end

--- A number of seconds from option `what` (0 allowed), or a usage error.
function M.seconds(name, v, what)
  if v == nil then return nil end
  local n = tonumber(v)
  if not n or n < 0 or n ~= n or n == math.huge then
    M.usage_error(name, what .. " wants a number of seconds (0: no limit), not "
      .. string.format("%q", v))
  end
  return n
end

--- A positive integer from option `what`, or a usage error.
function M.integer(name, v, what)
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n or n < 1 then
    M.usage_error(name, what .. " wants a positive whole number, not "
      .. string.format("%q", v))
  end
  return n
end

-- where calls go, for messages
local function server_name(opts)
  local t = config.target(M.sdk_opts(opts))
  return t.is_local and "the local server this command started" or t.url
end

--- The one line that says what failed and what to do about it: `err`
-- (an SDK error object or a message) of the command `name`; `id` the
-- sandbox it concerned, if any.
function M.explain(err, opts, id)
  local msg = tostring(err)
  if type(err) == "table" and err.message then
    msg = tostring(err.message)
    if err.status then msg = msg .. " (HTTP " .. err.status .. ")" end
  end
  if errors.is(err, errors.NotFoundError) and id and
      msg:lower():find("^sandbox[%w%- ]* not found") then
    return "no sandbox " .. id .. " on " .. server_name(opts)
      .. ": `oclua sandbox list` shows the sandboxes there"
  end
  if errors.is(err, errors.AuthError) then
    return msg .. ": " .. server_name(opts) .. " refused the API key; set "
      .. "OPENCOMPUTER_API_KEY (or --api-key) to its key (`oclua serve` "
      .. "prints it at start)"
  end
  if errors.is(err, errors.SandboxError) and msg:find("^cannot connect") then
    return msg .. ": is the server running? (`oclua serve` starts one; "
      .. "OPENCOMPUTER_API_URL names it)"
  end
  return msg
end

--- Run `fn()` (the command's work) in a task; on error print "oclua
-- NAME: " and explain(), and exit with `status` (default 1).
function M.run(name, opts, fn, status, id)
  local ok, err = pcall(fn)
  if ok then return err end
  io.stderr:write("oclua ", name, ": ", M.explain(err, opts, id), "\n")
  io.stderr:flush()
  os.exit(status or 1)
end

--- Print rows (lists of strings) as columns separated by two spaces,
-- each as wide as its widest cell (UTF-8 counted as characters); no
-- line ends in spaces.
function M.table(rows)
  local widths = {}
  local function width(s) return utf8.len(s) or #s end
  for _, row in ipairs(rows) do
    for c, cell in ipairs(row) do
      widths[c] = math.max(widths[c] or 0, width(cell))
    end
  end
  for _, row in ipairs(rows) do
    local out = {}
    for c, cell in ipairs(row) do
      out[c] = c < #row and cell .. (" "):rep(widths[c] - width(cell)) or cell
    end
    io.write((table.concat(out, "  "):gsub(" +$", "")), "\n")
  end
end

--- A byte count for people: 512 B, 1.5 KiB, 20.0 MiB, 3.2 GiB.
function M.bytes(n)
  if n < 1024 then return string.format("%d B", n) end
  local units = { "KiB", "MiB", "GiB", "TiB" }
  local i = 0
  repeat n, i = n / 1024, i + 1 until n < 1024 or i == #units
  return string.format("%.1f %s", n, units[i])
end

--- Print `v` as JSON on stdout (json.lua; an empty list as []).
function M.print_json(v)
  io.write(require("opencomputer.runtime.json").encode(v), "\n")
end

return M
