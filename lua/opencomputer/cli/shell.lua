-- opencomputer/cli/shell.lua - `oclua shell [ID]`: this terminal attached
-- to a terminal (a PTY) in a sandbox (protocol.md 6; sb.pty of the SDK),
-- as ssh attaches one: raw mode here, every key typed there (Ctrl-C, Ctrl-Z
-- and Ctrl-D too), its output drawn here, the window size followed on
-- SIGWINCH (POST .../resize), and an escape key, Ctrl-], to quit or to
-- detach. The terminal's modes are put back on every way out: the shell's
-- exit, quit, detach, an error, SIGTERM or SIGHUP (and, by
-- core.term_raw's atexit handler, any other exit of the process).

local oc = require("opencomputer")
local core = require("opencomputer.core")
local command = require("opencomputer.cli.command")
local errors = require("opencomputer.sdk.errors")
local task = require("opencomputer.runtime.task")

local M = {}

local NAME = "shell"
local ESCAPE = "\29"	-- Ctrl-]
local SIGHUP, SIGINT, SIGTERM, SIGWINCH = 1, 2, 15, 28

M.usage = [[
usage: oclua shell [options] [ID]

Attaches this terminal to a new shell (bash, else sh) in sandbox ID, on a
terminal of this window's size that follows it when it is resized, as
user `sandbox` in /home/sandbox. Without ID, a new sandbox is made for
it, and killed when the shell ends (--keep keeps it).

Keys: everything typed goes to the sandbox's terminal (Ctrl-C to its
foreground job, Ctrl-D to the shell), except the escape key Ctrl-]
followed by
  q or .    quit: end the remote shell, and return here
  d         detach: return here, the shell keeps running in the
            sandbox (`oclua shell ID --attach SESSION` takes it up again;
            the command it prints says so)
  ?         list these keys
  Ctrl-]    type a Ctrl-] into the sandbox's terminal
(another key after Ctrl-] is sent as typed, with the Ctrl-]).

  --attach SESSION  attach to the terminal SESSION of sandbox ID, which
                    a detach left running (its recent output first)
  --keep            without ID: keep the new sandbox when the shell ends
  --api-url URL, --api-key KEY, -h/--help

The terminal here is put back as it was on every way out (the shell's
exit, quit, detach, an error, SIGTERM, SIGHUP); only a SIGKILL leaves it
raw (`stty sane` repairs it). Standard input that is not a terminal is
typed into the remote one as it comes, then Ctrl-D.

]] .. command.SERVER_HELP .. [[

Without a server configured, a new sandbox (no ID) still works: it lives
as long as this command, on the local server it starts.

Exit status: 0 when the shell ended, or after quit or detach; 129 and
143 after SIGHUP and SIGTERM; 1 failed (the server could not be reached,
no sandbox ID, the connection dropped); 2 usage. The remote shell's own
exit status does not travel (the PTY protocol has no exit frame).
]]

local HELP_KEYS = "\r\n[oclua shell: Ctrl-] q (or .) quit, Ctrl-] d detach, "
  .. "Ctrl-] Ctrl-] send Ctrl-], Ctrl-] ? this help]\r\n"

--- oclua shell ARGS...
function M.main(...)
  local opts, words = command.parse(NAME, { ... }, command.with_server({
    attach = { key = "attach", value = true },
    keep = { key = "keep" },
  }))
  if opts.help then io.write(M.usage); os.exit(0) end
  if #words > 1 then command.usage_error(NAME, "unexpected " .. words[2]) end
  local id = words[1]
  if opts.attach and not id then
    command.usage_error(NAME, "--attach needs the sandbox's ID")
  end
  if opts.keep and id then
    command.usage_error(NAME, "--keep is for a new sandbox (no ID)")
  end
  if id then command.need_server(NAME, opts) end
  local tty = core.isatty(0)
  local cols, rows = core.term_size(1)
  if not cols then cols, rows = core.term_size(0) end
  if not cols then cols, rows = 80, 24 end

  local sb, t, made
  local raw = false
  local at_line_start = true	-- the last byte of output was a newline
  local forced	-- {status, message} of a signal that ends the command
  -- leave: the terminal back as it was, then `msg` (if any) on stderr,
  -- the sandbox this command made killed unless kept, and exit
  local function leave(status, msg, keep_sandbox)
    -- (the socket may close, and the main task leave, while a signal's
    -- task still ends the remote shell: the signal's status wins)
    if forced then status, msg = forced[1], forced[2] end
    if raw then core.term_raw(false); raw = false end
    if not at_line_start then io.stdout:write("\n") end	-- our prompt below
    if msg then io.stderr:write("oclua shell: ", msg, "\n") end
    if made and not keep_sandbox and not opts.keep then pcall(sb.kill, sb) end
    io.stderr:flush()
    os.exit(status)
  end
  local function fail(err) leave(1, command.explain(err, opts, id)) end

  io.stdout:setvbuf("no")
  local function out(d)
    io.stdout:write(d)
    at_line_start = d:sub(-1) == "\n"
  end
  local ok, err = pcall(function()
    if id then
      sb = oc.Sandbox.connect(id, command.sdk_opts(opts))
    else
      local o = command.sdk_opts(opts)
      o.timeout = 0	-- it ends with the shell (or --keep: kill it later)
      sb = oc.Sandbox.create(o)
      made = true
    end
    if opts.attach then
      local attached, aerr = pcall(sb.pty.attach, sb.pty, opts.attach,
        { on_output = out })
      if not attached then
        if errors.is(aerr, errors.NotFoundError) then
          error("no terminal " .. opts.attach .. " in " .. id .. " (it ended, or "
            .. "never was): `oclua shell " .. id .. "` starts a new one", 0)
        end
        error(aerr, 0)
      end
      t = aerr
      pcall(t.resize, t, cols, rows)
    else
      t = sb.pty:create({ cols = cols, rows = rows, on_output = out })
    end
  end)
  if not ok then fail(err) end
  io.stderr:write("oclua shell: ", sb.sandbox_id, ", terminal ", t.session_id,
    "; Ctrl-] q quits, Ctrl-] d detaches, Ctrl-] ? for help\n")
  io.stderr:flush()
  if tty then
    local set, why = core.term_raw(true)
    if not set then leave(1, why) end
    raw = true
  end

  local function detach()
    t:close()
    local again = "oclua shell " .. sb.sandbox_id .. " --attach " .. t.session_id
    if command.is_local(opts) then
      leave(0, "detached; the shell ends with this command's local server, now")
    end
    leave(0, "detached; the shell keeps running: `" .. again .. "` attaches again",
      true)
  end
  local function quit()
    local killed, kerr = pcall(t.kill, t)
    if not killed then fail(kerr) end
    leave(0)
  end

  -- keys: everything goes to the terminal but the escape sequences
  oc.spawn(function()
    local input <close> = core.stdin_reader()
    local escaped = false
    while true do
      local data = input:read()
      if not data then break end
      local i = 1
      while i <= #data do
        if escaped then
          escaped = false
          local c = data:sub(i, i)
          i = i + 1
          if c == "q" or c == "." then return quit()
          elseif c == "d" then return detach()
          elseif c == "?" then out(HELP_KEYS)
          elseif c == ESCAPE then t:send(ESCAPE)
          else t:send(ESCAPE .. c) end
        else
          local e = data:find(ESCAPE, i, true)
          t:send(data:sub(i, (e or #data + 1) - 1))
          if not e then break end
          escaped = true
          i = e + 1
        end
      end
    end
    -- the end of input that is not a terminal: the shell's end of file
    if not tty then t:send("\4") end
  end)
  -- the window's size, followed: each signal wait is one-shot, so the
  -- next is armed at once (nothing yields in between) and a worker
  -- sends the size of the moment, never an old one
  local resized = task.condition()
  local stale = false
  oc.spawn(function()
    while true do
      core.signal_wait(SIGWINCH)
      stale = true
      resized:signal()
    end
  end)
  oc.spawn(function()
    while true do
      while not stale do resized:wait() end
      stale = false
      local c, r = core.term_size(1)
      if c and (c ~= cols or r ~= rows) then
        cols, rows = c, r
        pcall(t.resize, t, cols, rows)
      end
    end
  end)
  -- signals from outside: SIGINT (not from the keyboard in raw mode) is
  -- typed as a Ctrl-C; SIGTERM and SIGHUP (the window closed) end the
  -- remote shell, as ssh's hang-up does
  oc.spawn(function()
    while true do
      core.signal_wait(SIGINT)
      oc.spawn(function() pcall(t.send, t, "\3") end)
    end
  end)
  for _, sig in ipairs({ SIGTERM, SIGHUP }) do
    oc.spawn(function()
      core.signal_wait(sig)
      forced = { 128 + sig, "ended by signal " .. sig }
      pcall(t.kill, t)
      leave()
    end)
  end

  local waited, code = pcall(t.wait, t)
  if not waited then fail(code) end
  if code ~= 1000 then
    leave(1, "the connection to the terminal dropped (" .. ((code or 0) > 0
      and "close code " .. code or "no close frame: the server went away?")
      .. ")")
  end
  leave(0)
end

return M
