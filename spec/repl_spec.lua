-- spec/repl_spec.lua - the REPL (`oclua -i`, `oclua` on a terminal): lines
-- run as tasks, values printed, tables pretty-printed, errors reported
-- without ending the session; on a terminal (through script(1)'s pty):
-- the prompt, output of background tasks drawn around the line being
-- typed, Ctrl-C, Ctrl-D.

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
