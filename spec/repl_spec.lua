-- spec/repl_spec.lua - the REPL (`oclua -i`, `oclua` on a terminal): lines
-- run as tasks, values printed, tables pretty-printed, errors reported
-- without ending the session; on a terminal (through script(1)'s pty):
-- the prompt, output of background tasks drawn around the line being
-- typed, Ctrl-C, Ctrl-D; in a tmux window, typed as a person would: a
-- plain prompt where TERM names no terminal libedit can drive, editing
-- and history where it does.

local run = require("spec.support.run")
local repl = require("opencomputer.cli.repl")
local bin = os.getenv("OCLUA_BIN") or "./oclua"

local function piped(input, args)
  return run("env OCLUA_HISTORY= " .. bin .. " " .. (args or "-i"), input)
end

describe("the REPL on piped input", function()
  it("prints values of expressions and =expr, not of statements", function()
    local out, err, code = piped("1+1\n=2*3\nx = 5\nx\n'text'\nnil\n")
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("2\n6\n5\ntext\nnil\n", out)
  end)

  it("runs each line as a task: yielding calls work", function()
    local out = piped("oc.sleep(0.01) return 'slept', 2\n"
      .. "t = oc.spawn(function() oc.sleep(0.01) return 7 end)\nt:wait()\n")
    assert.are.equal("slept\t2\n7\n", out)
  end)

  it("continues incomplete lines and reports errors without stopping", function()
    local out, _, code = piped("for i = 1, 2 do\nprint(i)\nend\nerror('boom')\n"
      .. "x = = 1\n_VERSION\n")
    assert.are.equal(0, code)
    assert.are.equal("1\n2\nerror: stdin:1: boom\n"
      .. "stdin:1: unexpected symbol near '='\n" .. _VERSION .. "\n", out)
  end)

  it("keeps the last value in _ and runs -e chunks first", function()
    assert.are.equal("42\n43\n", piped("x\n_ + 1\n", "-e 'x = 42' -i"))
  end)

  it("drives a sandbox from the prompt", function()
    local out, err = piped("sb = oc.Sandbox.create()\n"
      .. "sb.exec:run('echo hi').stdout\nsb:kill()\n",
      "-i")
    assert.are.equal("hi\n\n", out, err)
  end)
end)

describe("repl.pretty", function()
  it("prints tables sorted, nested, quoted, and cycles safely", function()
    assert.are.equal('{ "a\\nb", 2, [3.5] = 1, flag = true, name = "x" }',
      repl.pretty({ "a\nb", 2, name = "x", flag = true, [3.5] = 1 }))
    local t = { list = { 1, 2 } }
    t.self = t
    assert.are.equal("{ list = { 1, 2 }, self = <cycle> }", repl.pretty(t))
    assert.are.equal("{ a = { b = { c = { d = {...} } } } }",
      repl.pretty({ a = { b = { c = { d = { e = 1 } } } } }))
    local long = {}
    for i = 1, 30 do long[i] = "item" .. i end
    local s = repl.pretty(long)
    assert.matches('^{\n  "item1", "item2", ', s)
    assert.matches('"item30"\n}$', s)
  end)

  it("uses __tostring where a value has one", function()
    local e = require("opencomputer.sdk.errors").NotFoundError("gone", { status = 404 })
    assert.are.equal("NotFoundError: gone (HTTP 404)", repl.pretty(e))
  end)
end)

describe("the REPL on a terminal", function()
  it("draws background output around the line being typed; Ctrl-C, Ctrl-D", function()
    -- keystrokes with pauses, through script(1)'s pseudo-terminal
    local keys = table.concat({
      "sleep 0.5; printf '1+2\\r'",
      "sleep 0.3; printf 'oc.spawn(function() oc.sleep(0.4) print(\"bg line\") end)\\r'",
      "sleep 0.1; printf 'abc'",
      "sleep 0.8; printf '\\003'",
      "sleep 0.3; printf \"'after'\\r\"",
      "sleep 0.3; printf 'oc.sleep(30)\\r'",
      "sleep 0.3; printf '\\003'",
      "sleep 0.3; printf '\\004'",
    }, "; ")
    -- "exec": script(1) runs the command through $SHELL -c; a shell that
    -- stays as oclua's parent (dash, when SHELL is /bin/sh or unset, as
    -- in CI) gets the Ctrl-C too and exits 130 on its own account.
    -- TERM: the drawing asserted is an xterm's (CI may set no TERM, and
    -- libedit draws a dumb terminal's line differently)
    local out, _, code = run("(" .. keys .. ") | TERM=xterm OCLUA_HISTORY= timeout 20 script -qfec 'exec "
      .. bin .. "' /dev/null")
    out = out:gsub("\r", "")
    assert.are.equal(0, code, out)
    assert.matches("Ctrl%-D quits", out)
    assert.matches("> 1%+2\n3\n", out)
    -- the background line replaced the half-typed one, which came back
    assert.matches("\27%[Kbg line\n> abc", out)
    out = out:gsub("\27%[K", "")
    assert.matches("> abc%^C\n> 'after'\nafter\n", out)
    assert.matches("> oc.sleep%(30%)\n%^C\n%(the line goes on in the background%)\n", out)
  end)
end)

-- A terminal driven as a person would: tmux(1) on a private socket, a
-- 100x30 window running `cmd`, keys sent one step at a time, each step
-- waiting for the screen it should produce. t.screen() is what the
-- window shows (trailing spaces kept); t.raw() every byte the program
-- wrote (tmux's pipe-pane, started before the program runs).
local function terminal(cmd)
  local oc = require("opencomputer")
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local function tmux(args)
    local out, err, code = run("tmux -S " .. dir .. "/sock " .. args)
    assert(code == 0, "tmux " .. args .. ": " .. err)
    return out
  end
  -- one command list: the pipe is in place before the server reads the
  -- pane's first output
  tmux("new-session -d -x 100 -y 30 "
    .. q(cmd .. '; echo "[exit $?]"; exec sleep 600')
    .. " \\; pipe-pane -o " .. q("cat >" .. dir .. "/raw"))
  local t = {}
  function t.keys(...) tmux("send-keys -t 0 " .. table.concat({ ... }, " ")) end
  function t.text(s) tmux("send-keys -t 0 -l " .. q(s)) end
  function t.screen()
    return (tmux("capture-pane -p -N -t 0"):gsub("\n+$", ""))
  end
  -- wait (10 s at most) until the screen matches `pattern`
  function t.wait(pattern)
    local s
    for _ = 1, 100 do
      s = t.screen()
      if s:find(pattern) then return s end
      oc.sleep(0.1)
    end
    error("the screen never matched " .. pattern .. ":\n" .. s, 2)
  end
  -- the program's exit status once it has ended (the shell around it
  -- prints it: tmux's own #{pane_dead_status} is missing when its
  -- server misses the child's SIGCHLD, which happens)
  function t.status()
    return tonumber(t.wait("\n%[exit %d+%]$"):match("%[exit (%d+)%]$"))
  end
  function t.raw()
    local f = assert(io.open(dir .. "/raw", "rb"))
    local s = f:read("a")
    f:close()
    return s
  end
  function t.close()
    pcall(tmux, "kill-server")
    os.execute("rm -rf " .. dir)
  end
  return t
end

describe("the REPL in a terminal window (tmux)", function()
  -- a terminal libedit cannot drive gets a plain prompt: the screen holds
  -- exactly what was typed and printed, and nothing was drawn with
  -- escape sequences or bare carriage returns (which a dumb terminal
  -- shows as they are; libedit redrew the prompt after Ctrl-C as "\r> "
  -- and spaces over the dropped line)
  for _, case in ipairs({ { "TERM unset", "env -u TERM" },
      { "TERM=dumb", "env TERM=dumb" } }) do
    it("falls back to a plain prompt with " .. case[1], function()
      local t = terminal(case[2] .. " OCLUA_HISTORY= " .. bin)
      local ok, err = pcall(function()
        t.wait("\n> $")
        t.text("1+2"); t.keys("Enter"); t.wait("\n3\n> $")
        t.text("abcdef"); t.wait("> abcdef$")
        t.keys("C-c"); t.wait("%^C\n> $")
        t.text("1"); t.keys("Enter"); t.wait("\n1\n> $")
        t.text("oc.spawn(function() oc.sleep(0.5) print('bg line') end)")
        t.keys("Enter"); t.wait("bg line\n> $")
        t.text("oc.sleep(30)"); t.keys("Enter"); t.wait("> oc.sleep%(30%)$")
        t.keys("C-c")
        local screen = t.wait("background%)\n> $")
        t.keys("C-d")
        assert.are.equal(0, t.status())
        assert.matches("A plain prompt, no line editing", screen)
        local from = screen:find("> 1+2", 1, true)
        assert.are.equal(table.concat({
          "> 1+2", "3",
          "> abcdef^C",
          "> 1", "1",
          "> oc.spawn(function() oc.sleep(0.5) print('bg line') end)",
          "task (running)",
          "> ", "bg line",
          "> oc.sleep(30)", "^C", "(the line goes on in the background)",
          "> " }, "\n"), screen:sub(from))
        local raw = t.raw()
        assert.is_nil(raw:find("\27", 1, true), "an escape sequence: " .. raw)
        assert.is_nil(raw:find("\r[^\n]"), "a bare carriage return: " .. raw)
      end)
      t.close()
      assert(ok, err)
    end)
  end

  -- Ctrl-C goes to the terminal's whole foreground process group: the
  -- embedded server (started on first use) must not be in it
  it("keeps its embedded server through Ctrl-C", function()
    local t = terminal("env -u OPENCOMPUTER_API_URL -u OPENCOMPUTER_API_KEY "
      .. "TERM=xterm-256color OCLUA_HISTORY= " .. bin)
    local ok, err = pcall(function()
      t.wait("\n> $")
      t.text("sb = oc.Sandbox.create(); print(sb.exec:run('echo one').stdout)")
      t.keys("Enter"); t.wait("\none\n\n> $")
      t.keys("C-c"); t.wait("\n> $")
      t.text("oc.sleep(30)"); t.keys("Enter"); t.keys("C-c")
      t.wait("background%)\n> $")
      t.text("print(sb.exec:run('echo two').stdout); sb:kill()")
      t.keys("Enter"); t.wait("\ntwo\n\n> $")
      t.keys("C-d")
      assert.are.equal(0, t.status())
    end)
    t.close()
    assert(ok, err)
  end)

  it("edits lines and keeps history where TERM names a terminal", function()
    local t = terminal("env TERM=xterm-256color OCLUA_HISTORY= " .. bin)
    local ok, err = pcall(function()
      t.wait("\n> $")
      assert.is_nil(t.screen():find("plain prompt", 1, true))
      -- "x = 1", back to the x, replace it: y = 1
      t.text("x = 1"); t.keys("Left Left Left Left BSpace")
      t.text("y"); t.keys("Enter"); t.wait("> y = 1\n> $")
      t.text("y * 2"); t.keys("Enter"); t.wait("\n2\n> $")
      t.keys("Up"); t.wait("> y %* 2$")
      t.keys("BSpace"); t.text("3"); t.keys("Enter"); t.wait("\n3\n> $")
      t.keys("C-d")
      assert.are.equal(0, t.status())
    end)
    t.close()
    assert(ok, err)
  end)
end)
