-- opencomputer/cli/sandbox.lua - `oclua sandbox create|list|kill|
-- hibernate|wake`: sandboxes from the command line, through the SDK
-- (oc.Sandbox; protocol.md section 2).

local oc = require("opencomputer")
local json = require("opencomputer.runtime.json")
local command = require("opencomputer.cli.command")

local M = {}

M.usage = [[
usage: oclua sandbox create [options]
       oclua sandbox list|ls [--json]
       oclua sandbox kill ID...
       oclua sandbox hibernate ID...
       oclua sandbox wake [--timeout S] ID...

  create     make a sandbox; prints its id (with --json, the sandbox as
             the server describes it)
               --timeout S      idle timeout in seconds: hibernated after
                                S s without use, woken by the next call
                                (default 300; 0: never)
               -e, --env K=V    an environment variable of every command
                                (repeatable)
               --metadata K=V   a label kept with the sandbox (repeatable)
               --memory MB      memory: 1024, 4096 (default), 8192, 16384
               --cpus N         CPUs (default: what the memory tier gives)
               --template NAME  a template (default "base")
               --json           print the sandbox as JSON, not its id
  list, ls   the sandboxes: ID, STATUS, AGE, CPUS, MEMORY, TEMPLATE,
             METADATA as an aligned table; --json prints a JSON list of
             objects with the SDK's names (sandbox_id, status,
             started_at, ...), for scripts
  kill       end sandboxes: their processes and files
  hibernate  stop sandboxes' processes, keep their files (the next exec,
             files call or wake starts them again)
  wake       start hibernated sandboxes; --timeout S sets the idle
             timeout from then on (default 0: never)

Options of every command: --api-url URL, --api-key KEY, -h/--help.

]] .. command.SERVER_HELP .. [[

Without a server, `oclua sandbox create` is of little use: the sandbox
is gone when the command returns (it says so).

Exit status: 0 done, 1 failed (the message says what to do), 2 usage.
]]

local NAME = "sandbox"

local function human_age(stamp)
  local y, mo, d, h, mi, s = tostring(stamp or ""):match(
    "^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return "-" end
  -- os.time reads the table as local time: correct by this zone's offset
  local t = os.time({ year = y, month = mo, day = d, hour = h, min = mi,
    sec = s, isdst = false })
  local utc = os.time(os.date("!*t", t))
  local age = os.time() - (t + (t - utc))
  if age < 0 then age = 0 end
  if age < 120 then return age .. "s" end
  if age < 7200 then return age // 60 .. "m" end
  if age < 172800 then return age // 3600 .. "h" end
  return age // 86400 .. "d"
end

local function metadata_text(m)
  if type(m) ~= "table" then return "" end
  local keys = {}
  for k in pairs(m) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do keys[i] = k .. "=" .. tostring(m[k]) end
  return table.concat(keys, ",")
end

local function create(args)
  local opts, words = command.parse(NAME .. " create", args, command.with_server({
    timeout = { key = "timeout", value = true },
    env = { key = "env", value = true, list = true },
    e = { alias = "env" },
    metadata = { key = "metadata", value = true, list = true },
    memory = { key = "memory", value = true },
    cpus = { key = "cpus", value = true },
    template = { key = "template", value = true },
    json = { key = "json" },
  }))
  if opts.help then io.write(M.usage); os.exit(0) end
  local name = NAME .. " create"
  if #words > 0 then command.usage_error(name, "unexpected " .. words[1]) end
  local o = command.sdk_opts(opts)
  o.timeout = command.seconds(name, opts.timeout, "--timeout")
  o.envs = command.pairs_of(name, opts.env, "--env")
  o.metadata = command.pairs_of(name, opts.metadata, "--metadata")
  o.memory_mb = command.integer(name, opts.memory, "--memory")
  o.cpu_count = command.integer(name, opts.cpus, "--cpus")
  o.template = opts.template
  local sb = command.run(name, opts, function() return oc.Sandbox.create(o) end)
  if opts.json then
    command.print_json(command.run(name, opts, function() return sb:get_info() end))
  else
    io.write(sb.sandbox_id, "\n")
  end
  io.stdout:flush()
  if command.is_local(opts) then
    io.stderr:write("oclua sandbox create: note: no sandbox server is "
      .. "configured, so this command started its own, and " .. sb.sandbox_id
      .. " ends with it, now. To keep sandboxes, run `oclua serve` in "
      .. "another terminal and set OPENCOMPUTER_API_URL and "
      .. "OPENCOMPUTER_API_KEY to what it prints.\n")
  end
end

local function list(args)
  local opts, words = command.parse(NAME .. " list", args,
    command.with_server({ json = { key = "json" } }))
  if opts.help then io.write(M.usage); os.exit(0) end
  if #words > 0 then command.usage_error(NAME .. " list", "unexpected " .. words[1]) end
  local all = command.run(NAME .. " list", opts, function()
    return oc.Sandbox.list(command.sdk_opts(opts))
  end)
  if command.is_local(opts) then
    io.stderr:write("oclua sandbox list: note: no sandbox server is "
      .. "configured: this is a new local server, empty. Run `oclua serve` "
      .. "in another terminal and set OPENCOMPUTER_API_URL and "
      .. "OPENCOMPUTER_API_KEY.\n")
  end
  if opts.json then
    command.print_json(json.array(all))
    return
  end
  local rows = { { "ID", "STATUS", "AGE", "CPUS", "MEMORY", "TEMPLATE", "METADATA" } }
  for _, s in ipairs(all) do
    rows[#rows + 1] = { tostring(s.sandbox_id), tostring(s.status),
      human_age(s.started_at), tostring(s.cpu_count or "-"),
      s.memory_mb and s.memory_mb .. " MB" or "-",
      tostring(s.template_id or "-"), metadata_text(s.metadata) }
  end
  command.table(rows)
end

-- kill, hibernate, wake: each ID in turn; all are tried, the status is 1
-- when one failed. `act(sb, opts)` acts on one; `check(name, opts)`
-- checks the options first.
local function each(verb, args, spec, act, check)
  local name = NAME .. " " .. verb
  local opts, words = command.parse(name, args, command.with_server(spec or {}))
  if opts.help then io.write(M.usage); os.exit(0) end
  if check then check(name, opts) end
  if #words == 0 then command.usage_error(name, "give the ID of a sandbox") end
  command.need_server(name, opts)
  local failed = false
  for _, id in ipairs(words) do
    local ok, err = pcall(function()
      act(oc.Sandbox.connect(id, command.sdk_opts(opts)), opts)
    end)
    if not ok then
      failed = true
      io.stderr:write("oclua ", name, ": ", command.explain(err, opts, id), "\n")
    end
  end
  if failed then os.exit(1) end
end

local VERBS = {
  create = create,
  list = list,
  ls = list,
  kill = function(args) each("kill", args, nil, function(sb) sb:kill() end) end,
  hibernate = function(args)
    each("hibernate", args, nil, function(sb) sb:hibernate() end)
  end,
  wake = function(args)
    each("wake", args, { timeout = { key = "timeout", value = true } },
      function(sb, opts) sb:wake({ timeout = opts.timeout }) end,
      function(name, opts)
        opts.timeout = command.seconds(name, opts.timeout, "--timeout")
      end)
  end,
}

--- oclua sandbox VERB ARGS...
function M.main(verb, ...)
  if verb == nil or verb == "-h" or verb == "--help" then
    io.write(M.usage)
    os.exit(verb == nil and 2 or 0)
  end
  local fn = VERBS[verb]
  if not fn then
    command.usage_error(NAME, "unknown command " .. string.format("%q", verb)
      .. " (create, list, kill, hibernate or wake)")
  end
  fn({ ... })
end

return M
