-- opencomputer/cli/exec.lua - `oclua exec ID -- CMD [ARGS...]`: a command
-- in a sandbox (an exec session: protocol.md 3.2, 3.4), its stdout and
-- stderr written here as they arrive, its exit status the command's.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local command = require("opencomputer.cli.command")

local M = {}

local NAME = "exec"
local FAILED = 255	-- oclua's own failure, as ssh has it

M.usage = [[
usage: oclua exec [options] ID [--] CMD [ARGS...]

Runs CMD with ARGS in sandbox ID as its user `sandbox` (an argument
vector, no shell: for pipes or $VARS run `sh -c '...'`), writes its
standard output and error here as they arrive, and exits with its exit
status. Ctrl-C (SIGINT) is passed on to the command, which decides what
to do with it (a second Ctrl-C leaves without waiting); SIGTERM and
SIGHUP are passed on, and this command ends at once.

  -i, --stdin       pass this standard input to the command (then end of
                    file); without it the command reads an empty input
  -e, --env K=V     an environment variable (repeatable)
  --cwd DIR         the working directory (default /home/sandbox)
  --timeout S       kill the command after S seconds (default: no limit)
  --api-url URL, --api-key KEY, -h/--help

]] .. command.SERVER_HELP .. [[

Exit status: the command's (0-255); 128+N when it was ended by the
signal N that this command passed on, or when SIGTERM, SIGHUP or a
second SIGINT ended this command (141, SIGPIPE, when the reader of
its output went away, as in `oclua exec ID -- yes | head`); 124 when
it ran past --timeout (as timeout(1)); 255 when oclua failed (the server
could not be reached, no sandbox ID, the connection dropped before the
command ended, a usage error) or the command was killed by a signal it
was not given here (the server does not say which).
]]

local SIGHUP, SIGINT, SIGTERM = 1, 2, 15	-- passed on to the command

--- oclua exec ARGS...
function M.main(...)
  local opts, words = command.parse(NAME, { ... }, command.with_server({
    stdin = { key = "stdin" }, i = { alias = "stdin" },
    env = { key = "env", value = true, list = true }, e = { alias = "env" },
    cwd = { key = "cwd", value = true },
    timeout = { key = "timeout", value = true },
  }), { stop_at_positional = 2 })
  if opts.help then io.write(M.usage); os.exit(0) end
  local function usage(msg) command.usage_error(NAME, msg, FAILED) end
  local id = table.remove(words, 1)
  if not id then usage("give the ID of a sandbox, then the command") end
  if #words == 0 then usage("give the command to run after the ID (oclua exec ID -- CMD ARGS...)") end
  local env = command.pairs_of(NAME, opts.env, "--env")
  local timeout = command.seconds(NAME, opts.timeout, "--timeout")
  command.need_server(NAME, opts, FAILED)
  io.stdout:setvbuf("no")	-- each chunk out as it came
  local s	-- the session
  local sent	-- the last signal passed on
  local function pass(sig)
    sent = sig
    pcall(s.kill, s, sig)
  end
  local broken = false
  local function out(f)
    return function(d)
      if broken then return end
      if not f:write(d) then	-- a closed pipe (| head): as a pipe would
        broken = true
        oc.spawn(pass, 13)	-- SIGPIPE
      end
    end
  end
  -- sh puts the command in place of itself (exec), with stdin on
  -- /dev/null unless -i: that holds on every server, where the end-of-
  -- input frame holds only on oclua's
  local args = { "-c", opts.stdin and 'exec "$@"' or 'exec "$@" </dev/null', "sh" }
  for _, w in ipairs(words) do args[#args + 1] = w end
  local started = oc.now()
  command.run(NAME, opts, function()
    local sb = oc.Sandbox.connect(id, command.sdk_opts(opts))
    s = sb.exec:start("sh", { args = args, env = env, cwd = opts.cwd,
      timeout = timeout, on_stdout = out(io.stdout), on_stderr = out(io.stderr) })
  end, FAILED, id)
  -- SIGINT (Ctrl-C) goes to the command, which decides: its status is
  -- ours; a second one while it still runs leaves without waiting.
  -- SIGTERM and SIGHUP go to the command, and this command ends at once
  -- (whoever sent them wants it gone, whatever the server does).
  -- (each wait is one-shot: the next is armed at once, before anything
  -- yields, so that no signal meets the default action meanwhile)
  oc.spawn(function()
    core.signal_wait(SIGINT)
    oc.spawn(pass, SIGINT)
    core.signal_wait(SIGINT)
    io.stderr:write("oclua exec: interrupted again: leaving without waiting "
      .. "for the command\n")
    os.exit(128 + SIGINT)
  end)
  for _, sig in ipairs({ SIGHUP, SIGTERM }) do
    oc.spawn(function()
      core.signal_wait(sig)
      pass(sig)
      os.exit(128 + sig)
    end)
  end
  if opts.stdin then
    oc.spawn(function()
      local input <close> = core.stdin_reader()
      while true do
        local data = input:read()
        if not data then break end
        s:send_stdin(data)
      end
      s:close_stdin()
    end)
  end
  local code = command.run(NAME, opts, function() return s:wait() end,
    FAILED, id)
  local dropped = s:drop_reason()
  if dropped then
    io.stderr:write("oclua exec: ", dropped, "\n")
    os.exit(FAILED)
  end
  if code == -1 then	-- ended by a signal; the server does not say which
    if sent then os.exit(128 + sent) end
    if timeout and timeout > 0 and oc.now() - started >= timeout then
      io.stderr:write("oclua exec: the command ran past --timeout ", opts.timeout,
        " and was killed\n")
      os.exit(124)	-- as timeout(1)
    end
    io.stderr:write("oclua exec: the command was killed by a signal\n")
    os.exit(FAILED)
  end
  io.stderr:flush()
  os.exit(code)
end

return M
