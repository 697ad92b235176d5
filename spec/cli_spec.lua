-- spec/cli_spec.lua - the oclua command: scripts, chunks, stdin, arg,
-- exit status, the report of unwaited task errors, the exit rule.

local bin = os.getenv("OCLUA_BIN") or "./oclua"

local run = require("spec.support.run")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local scripts = {}
local function script(text)
  local p = os.tmpname()
  local h = io.open(p, "w"); h:write(text); h:close()
  scripts[#scripts + 1] = p
  return p
end

teardown(function()
  for _, p in ipairs(scripts) do os.remove(p) end
end)

describe("oclua", function()
  it("runs -e chunks in order", function()
    local out, _, code = run(bin .. " -e 'print(1)' -e 'print(2)'")
    assert.are.equal("1\n2\n", out)
    assert.are.equal(0, code)
  end)

  it("runs a script with arg and ... as lua does", function()
    local p = script("print(arg[0], arg[1], arg[2], #arg, ...)")
    local out, _, code = run(bin .. " " .. p .. " a 'b c'")
    assert.are.equal(p .. "\ta\tb c\t2\ta\tb c\n", out)
    assert.are.equal(0, code)
  end)

  it("runs standard input with -", function()
    local out = run(bin .. " - x", "print('stdin', ...)")
    assert.are.equal("stdin\tx\n", out)
  end)

  it("waits for spawned tasks after the main chunk returns", function()
    local out, _, code = run(bin .. " -e " .. q([[
      local oc = require("opencomputer")
      oc.spawn(function() oc.sleep(0.1); print("late") end)
      print("main done")]]))
    assert.are.equal("main done\nlate\n", out)
    assert.are.equal(0, code)
  end)

  it("runs a spawned task's sleep beside the main one (0.5 s, not 1 s)", function()
    local t0 = require("opencomputer").now()
    local out, _, code = run(bin .. " -e " .. q([[local oc = require("opencomputer"); oc.spawn(function() oc.sleep(0.5) end); oc.sleep(0.5); print("ok")]]))
    local dt = require("opencomputer").now() - t0
    assert.are.equal("ok\n", out)
    assert.are.equal(0, code)
    -- one after the other would take 1 s; the margin is for a busy machine
    assert.is_true(dt >= 0.5 and dt < 0.9, "took " .. dt)
  end)

  it("exits with status 1 and a traceback when the main task raises", function()
    local p = script("local function f() error('kaput') end\nf()\n")
    local _, err, code = run(bin .. " " .. p)
    assert.are.equal(1, code)
    assert.matches("kaput", err)
    assert.matches("stack traceback", err)
  end)

  it("prints the error of a task nobody waits for, and carries on", function()
    local out, err, code = run(bin .. " -e " .. q([[
      local oc = require("opencomputer")
      oc.spawn(function() error("lost in a task") end)
      oc.sleep(0.01)
      print("still here")]]))
    assert.are.equal("still here\n", out)
    assert.matches("nobody waits for.*lost in a task.*stack traceback", err)
    assert.are.equal(0, code)
  end)

  it("reports a main task that can never finish", function()
    local _, err, code = run(bin .. " -e " .. q([[
      local oc = require("opencomputer")
      local a, b
      a = oc.spawn(function() oc.sleep(0); b:wait() end)
      b = oc.spawn(function() oc.sleep(0); a:wait() end)
      a:wait()]]))
    assert.are.equal(1, code)
    assert.matches("never finished", err)
  end)

  it("reports a syntax error with status 1", function()
    local _, err, code = run(bin .. " -e 'x = = 1'")
    assert.are.equal(1, code)
    assert.matches("unexpected symbol", err)
  end)

  it("answers --help and --version", function()
    local out, _, code = run(bin .. " --help")
    assert.are.equal(0, code)
    assert.matches("usage: oclua", out)
    assert.matches("OCLUA_LUA_DIR", out)
    out, _, code = run(bin .. " --version")
    assert.are.equal(0, code)
    assert.matches("^oclua %d+%.%d+%.%d+ %(Lua 5%.4", out)
  end)

  it("ends with status 1 and says why when a script leaves input unread", function()
    -- a stream nobody receives from: its socket is no longer read once
    -- the queue is full, and nothing else is left to happen
    local p = script(string.format([[
      local ws = require("opencomputer.client.websocket")
      HOLD = ws.connect("ws://%s/ws/stream?bytes=16777216&frame=65536")
      print("left unread")]], os.getenv("OCLUA_TEST_PEER")))
    local out, err, code = run("timeout 20 " .. bin .. " " .. p)
    assert.are.equal("left unread\n", out)
    assert.matches("stalled: every pending operation waits for input that no task reads", err)
    assert.are.equal(1, code)
  end)

  it("refuses an unknown option with status 2 and a hint", function()
    local _, err, code = run(bin .. " --frobnicate")
    assert.are.equal(2, code)
    assert.matches("unknown option", err)
    assert.matches("oclua %-%-help", err)
  end)

  it("says what to do when the network plugin is missing", function()
    local _, err, code = run("OCLUA_NET_PLUGIN=/nonexistent " .. bin
      .. " -e 'require(\"opencomputer.client.http\").request(\"GET\", \"http://127.0.0.1:1/\")'")
    assert.are.equal(1, code)
    assert.matches("cannot load the network plugin", err)
    assert.matches("OCLUA_NET_PLUGIN", err)
  end)

  it("loads the Lua half from OCLUA_LUA_DIR when set", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert.is_true(os.execute("mkdir -p " .. dir .. " && cp -r lua/opencomputer " .. dir))
    local h = io.open(dir .. "/opencomputer/init.lua", "a")
    h:write("\n-- edited\n")
    h:close()
    local f = io.open(dir .. "/opencomputer/sdk/errors.lua", "a")
    f:write("\nreturn nil -- unreachable\n")
    f:close()
    local out, err, code = run("OCLUA_LUA_DIR=" .. dir .. " " .. bin
      .. " -e 'print(debug.getinfo(require(\"opencomputer\").spawn).source)'")
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert.matches("^@" .. dir:gsub("%p", "%%%0") .. "/opencomputer/runtime/task.lua", out)
    local out2 = run(bin .. " -e 'print(debug.getinfo(require(\"opencomputer\").spawn).source)'")
    assert.are.equal("@opencomputer/runtime/task.lua\n", out2)
  end)
end)

-- the sandbox commands (lua/opencomputer/cli/: sandbox.lua, exec.lua,
-- files.lua, shell.lua) against a separate `oclua serve`; the terminal
-- parts in tmux panes (a tmux server of their own: -L oclua-spec-RANDOM)
describe("oclua sandbox commands", function()
  local support = require("spec.support.server")
  local srv, env, id

  -- `oclua ARGS` against srv: stdout, stderr, status
  local function oclua(args, stdin)
    return run(env .. " " .. bin .. " " .. args, stdin)
  end

  setup(function()
    srv = support.process()
    env = "OPENCOMPUTER_API_URL=" .. srv.url .. " OPENCOMPUTER_API_KEY=" .. support.KEY
    id = srv.client:create({ timeout = 0 })
  end)
  teardown(function()
    if srv then srv.proc:kill(15); srv.proc:wait() end
  end)

  it("oclua --help lists them, and each has --help", function()
    local out = run(bin .. " --help")
    for _, c in ipairs({ "oclua sandbox create|list|kill|hibernate|wake",
        "oclua exec ID", "oclua files ID ls|get|put", "oclua shell %[ID%]" }) do
      assert.matches(c, out)
    end
    for _, c in ipairs({ "sandbox", "exec", "files", "shell" }) do
      local o, e, code = run(bin .. " " .. c .. " --help")
      assert.are.equal(0, code, c .. ": " .. e)
      assert.matches("^usage: oclua " .. c, o)
      assert.matches("Exit status:", o)
      assert.matches("oclua serve", o)	-- where the server comes from
    end
    local _, e, code = run(bin .. " sandbox frob")
    assert.are.equal(2, code)
    assert.matches('unknown command "frob" %(create, list, kill, hibernate or wake%)', e)
    assert.matches("oclua sandbox %-%-help", e)
  end)

  it("sandbox create prints the id; list shows it in a table and as JSON", function()
    local out, err, code = oclua("sandbox create --timeout 0 --memory 1024 "
      .. "--metadata team=cli --metadata n=2 --env A=1")
    assert.are.equal(0, code, err)
    local new = out:match("^(sb%-%x+)\n$")
    assert.is_truthy(new, out)
    assert.are.equal("", err)
    out, err, code = oclua("sandbox list")
    assert.are.equal(0, code, err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.matches("^ID +STATUS +AGE +CPUS +MEMORY +TEMPLATE +METADATA$", lines[1])
    local row
    for _, l in ipairs(lines) do if l:find(new, 1, true) then row = l end end
    assert.matches("^" .. new:gsub("%-", "%%-") .. " +running +%d+s +1 +1024 MB +base +n=2,team=cli$", row)
    -- aligned: each column starts where its header does
    local at = lines[1]:find("STATUS")
    assert.are.equal("running", row:sub(at, at + 6))
    local doc = require("opencomputer.runtime.json").decode((oclua("sandbox list --json")))
    local found
    for _, s in ipairs(doc) do if s.sandbox_id == new then found = s end end
    assert.are.same({ team = "cli", n = "2" }, found.metadata)
    assert.are.equal(1024, found.memory_mb)
    assert.are.equal("1\n", (oclua("exec " .. new .. " -- sh -c 'echo $A'")))
    -- hibernate, wake, kill
    assert.are.equal(0, select(3, oclua("sandbox hibernate " .. new)))
    assert.matches(new:gsub("%-", "%%-") .. " +hibernated", (oclua("sandbox list")))
    assert.are.equal(0, select(3, oclua("sandbox wake " .. new)))
    assert.matches(new:gsub("%-", "%%-") .. " +running", (oclua("sandbox list")))
    _, err, code = oclua("sandbox kill " .. new .. " sb-00000000")
    assert.are.equal(1, code)
    assert.matches("no sandbox sb%-00000000 on http://127%.0%.0%.1:%d+: `oclua sandbox list` shows", err)
    assert.is_nil((oclua("sandbox list")):find(new, 1, true))
  end)

  it("say what to do about a wrong key or an unreachable server", function()
    local _, err, code = run("OPENCOMPUTER_API_URL=" .. srv.url
      .. " OPENCOMPUTER_API_KEY=wrong " .. bin .. " sandbox list")
    assert.are.equal(1, code)
    assert.matches("refused the API key; set OPENCOMPUTER_API_KEY", err)
    _, err, code = run("OPENCOMPUTER_API_URL=http://127.0.0.1:1 OPENCOMPUTER_API_KEY=k "
      .. bin .. " files sb-1 ls")
    assert.are.equal(1, code)
    assert.matches("is the server running%? %(`oclua serve` starts one", err)
  end)

  it("without a server: create says the sandbox ends with it; an ID names none", function()
    local unset = "env -u OPENCOMPUTER_API_URL -u OPENCOMPUTER_API_KEY "
    local out, err, code = run(unset .. bin .. " sandbox create")
    assert.are.equal(0, code, err)
    assert.matches("^sb%-%x+\n$", out)
    assert.matches("ends with it, now%. To keep sandboxes, run `oclua serve` in another terminal", err)
    _, err, code = run(unset .. bin .. " exec sb-1 -- true")
    assert.are.equal(255, code)
    assert.matches("no sandbox server is configured.*oclua serve", err)
    _, err, code = run(unset .. bin .. " files sb-1 ls")
    assert.are.equal(1, code)
    assert.matches("no sandbox server is configured", err)
  end)

  it("exec streams stdout and stderr apart, and exits with the command's status", function()
    local out, err, code = oclua("exec " .. id .. " -- sh -c 'echo out; echo err >&2; exit 3'")
    assert.are.equal("out\n", out)
    assert.are.equal("err\n", err)
    assert.are.equal(3, code)
    -- argv, not a shell line: the words arrive as given
    out = oclua("exec " .. id .. " printf '<%s>' 'a b' '$HOME' ''")
    assert.are.equal("<a b><$HOME><>", out)
    -- options: env, cwd
    out = oclua("exec -e X=1 --cwd /tmp " .. id .. " -- sh -c 'echo $X $PWD'")
    assert.are.equal("1 /tmp\n", out)
    _, err, code = oclua("exec " .. id .. " -- no-such-program")
    assert.are.equal(127, code)
    assert.matches("not found", err)
  end)

  it("exec writes output as it comes, not at the end", function()
    local t0 = require("opencomputer").now()
    local p = io.popen(env .. " " .. bin .. " exec " .. id
      .. " -- sh -c 'echo first; sleep 3; echo second'")
    local first = p:read("l")
    local dt = require("opencomputer").now() - t0
    assert.are.equal("first", first)
    assert.is_true(dt < 2.5, "the first line came after " .. dt .. " s")
    assert.are.equal("second", p:read("l"))
    p:close()
  end)

  it("exec -i passes standard input (binary, then end of file); without it, input is empty", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local input = table.concat(bytes):rep(4096)	-- 1 MiB
    local out, err, code = oclua("exec -i " .. id .. " -- sha256sum", input)
    assert.are.equal(0, code, err)
    assert.are.equal(require("opencomputer.core").sha256(input) .. "  -\n", out)
    out, _, code = oclua("exec " .. id .. " -- cat", "ignored")
    assert.are.equal("", out)
    assert.are.equal(0, code)
  end)

  it("exec -i: 64 MiB into a command that writes meanwhile; the server holds it back", function()
    -- the server's reader of the process's output and its writer of
    -- stdin wait at once (box.c: a slot each; one slot made the reader
    -- fail and the session hang); stdin is paced, not queued whole
    local input = os.tmpname()
    assert(os.execute("head -c 67108864 /dev/zero > " .. input))
    finally(function() os.remove(input) end)
    local function hwm()
      for l in io.lines("/proc/" .. srv.proc:pid() .. "/status") do
        local v = l:match("^VmHWM:%s+(%d+)")
        if v then return tonumber(v) end
      end
    end
    local before = hwm()
    local out, err, code = run(env .. " timeout 60 " .. bin .. " exec -i " .. id
      .. " -- sh -c '(for i in 1 2 3 4 5 6 7 8 9 10; do echo tick; sleep 0.05; done) & "
      .. "sleep 0.3; exec wc -c' < " .. input)
    assert.are.equal(0, code, err)
    assert.matches("67108864\n", out)
    assert.are.equal(10, select(2, out:gsub("tick\n", "")))
    assert.is_true(os.getenv("OCLUA_SANITIZED") ~= nil or hwm() - before < 32 * 1024,
      "the server's peak RSS grew by " .. (hwm() - before) .. " KiB")
  end)

  it("exec: 255 for its own failures, 141 when its reader leaves, 124 past --timeout, 128+N for a passed signal", function()
    local _, err, code = oclua("exec sb-00000000 -- true")
    assert.are.equal(255, code)
    assert.matches("no sandbox sb%-00000000", err)
    _, err, code = oclua("exec " .. id)
    assert.are.equal(255, code)
    assert.matches("give the command", err)
    local out = run("bash -c '" .. env .. " " .. bin .. " exec " .. id
      .. " -- yes | head -2; echo ${PIPESTATUS[0]}'")
    assert.are.equal("y\ny\n141\n", out)
    _, err, code = oclua("exec --timeout 1 " .. id .. " -- sleep 30")
    assert.are.equal(124, code)
    assert.matches("ran past %-%-timeout 1", err)
    -- SIGINT (Ctrl-C) reaches the command; a command that traps it
    -- decides its own status
    out = run("bash -c '" .. env .. " " .. bin .. " exec " .. id
      .. [[ -- sh -c "trap \"echo caught; exit 7\" INT; echo ready; sleep 30 & wait" & ]]
      .. "sleep 1.5; kill -INT $!; wait $!; echo status $?'")
    assert.are.equal("ready\ncaught\nstatus 7\n", out)
    out = run("bash -c '" .. env .. " " .. bin .. " exec " .. id
      .. " -- sleep 30 & sleep 1.5; kill -TERM $!; wait $!; echo status $?'")
    assert.are.equal("status 143\n", out)
    -- a command that ignores Ctrl-C: the second one leaves
    local t0 = require("opencomputer").now()
    out, err = run("bash -c '" .. env .. " " .. bin .. " exec " .. id
      .. [[ -- sh -c "trap \"\" INT; sleep 30" & ]]
      .. "sleep 1.5; kill -INT $!; sleep 0.5; kill -INT $!; wait $!; echo status $?'")
    assert.are.equal("status 130\n", out)
    assert.are.equal("oclua exec: interrupted again: leaving without waiting for the command\n", err)
    assert.is_true(require("opencomputer").now() - t0 < 10)
  end)

  it("files put, ls, get: every byte, - for stdin and stdout, into a directory", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local content = table.concat(bytes):rep(20480)	-- 5 MiB
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    finally(function() os.execute("rm -rf " .. dir) end)
    local f = io.open(dir .. "/in.bin", "wb"); f:write(content); f:close()
    local out, err, code = oclua("files " .. id .. " put " .. dir .. "/in.bin up/")
    assert.are.equal(0, code, err)
    assert.are.equal("", err)	-- no progress bar: stderr is no terminal
    out = oclua("files " .. id .. " ls up")
    assert.are.equal("in.bin\n", out)
    out = oclua("files " .. id .. " ls -l /home/sandbox")
    assert.matches("%- +up/\n", out)
    out = oclua("files " .. id .. " ls -l up")
    assert.are.equal("5.0 MiB  in.bin\n", out)
    out, err, code = oclua("files " .. id .. " get up/in.bin " .. dir)
    assert.are.equal(0, code, err)
    f = io.open(dir .. "/in.bin", "rb")
    assert.is_true(f:read("a") == content, "get gave other bytes")
    f:close()
    out = oclua("files " .. id .. " get /home/sandbox/up/in.bin -")
    assert.is_true(out == content, "get - gave other bytes")
    out, err, code = oclua("files " .. id .. " put - /tmp/from-stdin", "piped\0in")
    assert.are.equal(0, code, err)
    assert.are.equal("piped\0in", (oclua("files " .. id .. " get /tmp/from-stdin -")))
    local doc = require("opencomputer.runtime.json").decode((oclua("files " .. id .. " ls --json /tmp")))
    local names = {}
    for _, e in ipairs(doc) do names[e.name] = e end
    assert.are.same({ name = "from-stdin", is_dir = false, path = "/tmp/from-stdin",
      size = 8 }, names["from-stdin"])
  end)

  it("files: a failed get leaves the local file as it was; errors name the file", function()
    local p = os.tmpname()
    local f = io.open(p, "w"); f:write("keep"); f:close()
    finally(function() os.remove(p) end)
    local _, err, code = oclua("files " .. id .. " get /nope " .. p)
    assert.are.equal(1, code)
    assert.matches("/nope: No such file or directory %(HTTP 404%)", err)
    f = io.open(p); assert.are.equal("keep", f:read("a")); f:close()
    assert.is_nil(io.open((p:gsub("[^/]*$", function(n) return "." .. n .. ".oclua-part" end))))
    _, err, code = oclua("files " .. id .. " put /nonexistent/x")
    assert.are.equal(1, code)
    assert.matches("cannot read /nonexistent/x: No such file", err)
    _, err, code = oclua("files " .. id .. " put -")
    assert.are.equal(2, code)
    assert.matches("put %- needs REMOTE", err)
  end)

  describe("in a terminal (tmux)", function()
    -- a socket of this run's own: two runs at once (CI jobs, helpers) must
    -- not share or kill each other's tmux server
    local TMUX = "tmux -L oclua-spec-" .. require("opencomputer.runtime.random").hex(6) .. " "
    local n = 0

    -- a new pane running bash with a fixed prompt and the server's
    -- variables; its name
    local function pane(cols, rows)
      n = n + 1
      local name = "p" .. n
      assert(os.execute(TMUX .. "new-session -d -s " .. name .. " -x " .. cols
        .. " -y " .. rows .. " -e OPENCOMPUTER_API_URL=" .. srv.url
        .. " -e OPENCOMPUTER_API_KEY=" .. support.KEY
        .. " -e PS1='$ ' 'bash --norc --noprofile'"))
      return name
    end
    local function keys(name, ...)
      local args = {}
      for _, k in ipairs({ ... }) do args[#args + 1] = q(k) end
      assert(os.execute(TMUX .. "send-keys -t " .. name .. " " .. table.concat(args, " ")))
    end
    local function screen(name)
      local p = io.popen(TMUX .. "capture-pane -p -J -S -200 -t " .. name)
      local s = p:read("a")
      p:close()
      return s
    end
    -- wait until the pane shows `pattern` (10 s at most); the screen
    local function see(name, pattern, what)
      local s
      for _ = 1, 100 do
        s = screen(name)
        if s:find(pattern) then return s end
        os.execute("sleep 0.1")
      end
      error((what or pattern) .. " did not appear; the pane shows:\n" .. s, 2)
    end

    teardown(function() os.execute(TMUX .. "kill-server 2>/dev/null") end)

    it("files put of a large file draws a progress bar", function()
      local big = os.tmpname()
      assert(os.execute("head -c 200000000 /dev/zero > " .. big))
      finally(function() os.remove(big) end)
      local p = pane(100, 10)
      keys(p, "clear; " .. bin .. " files " .. id .. " put " .. big
        .. " /tmp/big.bin; echo put-done-$?", "Enter")
      local s = see(p, "put%-done%-%d")
      assert.matches("put%-done%-0", s)
      assert.matches("/tmp/big%.bin %[=+%] 100%%  190%.7 MiB / 190%.7 MiB  [%d.]+ [KMG]iB/s\n", s)
      -- -q: none
      keys(p, "clear; " .. bin .. " files " .. id .. " put -q " .. big
        .. " /tmp/big.bin; echo quiet-put-done-$?", "Enter")
      s = see(p, "quiet%-put%-done%-%d")
      -- (clear erased the screen before this command ran)
      assert.is_nil(s:find("100%", 1, true), s)
    end)

    -- the pane's `stty -a` into file `f` (line 1, with the window size,
    -- left out when `no_size`); waits for it
    local tmp = os.tmpname()
    local function stty(p, f, no_size)
      keys(p, "clear; stty -a | " .. (no_size and "tail -n +2" or "cat") .. " > "
        .. tmp .. "." .. f .. "; echo stty-" .. f .. "-\"\"done", "Enter")
      see(p, "stty%-" .. f .. "%-done\n")
      local h = io.open(tmp .. "." .. f)
      local text = h:read("a")
      h:close()
      os.remove(tmp .. "." .. f)
      return text
    end

    it("shell: a command runs; Ctrl-C reaches the job; resize reaches stty size", function()
      local p = pane(100, 25)
      local before = stty(p, "before", true)
      keys(p, "clear; " .. bin .. " shell " .. id .. "; echo shell-rc-$?", "Enter")
      see(p, "Ctrl%-%] q quits, Ctrl%-%] d detaches")
      see(p, "sandbox@" .. id:gsub("%-", "%%-") .. ":~%$")
      keys(p, "echo sum-$((20+22)); stty size", "Enter")
      see(p, "sum%-42\n25 100\n")
      -- Ctrl-C is a byte here (raw mode), a SIGINT there
      keys(p, "sleep 100", "Enter")
      os.execute("sleep 0.5")
      keys(p, "C-c")
      keys(p, "echo after-$?", "Enter")
      see(p, "after%-130")
      -- the window resized: SIGWINCH here, POST .../resize, SIGWINCH there
      assert(os.execute(TMUX .. "resize-window -t " .. p .. " -x 90 -y 20"))
      os.execute("sleep 0.5")
      keys(p, "stty size", "Enter")
      see(p, "stty size\n20 90\n")
      -- a full-screen program draws through the raw terminal, and leaves
      keys(p, "clear; vi /tmp/cli-vi.txt", "Enter")
      see(p, "\n~ *\n~ *\n.*cli%-vi%.txt")
      keys(p, "i", "drawn by vi", "Escape")
      os.execute("sleep 0.3")
      keys(p, ":wq", "Enter")
      os.execute("sleep 1")	-- vi gone: what follows is the shell's
      keys(p, "cat /tmp/cli-vi.txt", "Enter")
      see(p, "cat /tmp/cli%-vi%.txt\ndrawn by vi\n")
      keys(p, "exit", "Enter")
      local s = see(p, "shell%-rc%-%d")
      assert.matches("shell%-rc%-0", s)
      assert.are.equal(before, stty(p, "after", true))
    end)

    it("shell: Ctrl-] d detaches with the terminal as it was; --attach takes it up again", function()
      local p = pane(100, 25)
      local before = stty(p, "before")
      keys(p, "clear; " .. bin .. " shell " .. id .. "; echo shell-rc-$?", "Enter")
      see(p, "sandbox@" .. id:gsub("%-", "%%-") .. ":~%$")
      keys(p, "cd /tmp; X=kept", "Enter")
      -- Ctrl-] Ctrl-] types one Ctrl-] (0x1d) there
      keys(p, "read -r k; printf %s \"$k\" | od -An -tx1", "Enter")
      keys(p, "C-]", "C-]", "Enter")
      see(p, " 1d\n")
      keys(p, "C-]", "?")
      see(p, "%[oclua shell: Ctrl%-%] q %(or %.%) quit, Ctrl%-%] d detach")
      keys(p, "C-]", "d")
      local s = see(p, "shell%-rc%-%d")
      assert.matches("shell%-rc%-0", s)
      local again = s:match("`(oclua shell " .. id:gsub("%-", "%%-") .. " %-%-attach %x+)` attaches again")
      assert.is_truthy(again, s)
      assert.are.equal(before, stty(p, "after"))
      keys(p, "clear; " .. bin .. again:sub(6) .. "; echo shell-rc-$?", "Enter")
      see(p, "Ctrl%-%] q quits")
      keys(p, "echo $X $PWD", "Enter")
      see(p, "kept /tmp\n")
      keys(p, "C-]", "q")
      s = see(p, "shell%-rc%-%d")
      assert.matches("shell%-rc%-0", s)
      assert.are.equal(before, stty(p, "after2"))
      -- quit ended it: it cannot be attached again
      local _, err, code = oclua(again:sub(7))
      assert.are.equal(1, code)
      assert.matches("no terminal %x+ in " .. id:gsub("%-", "%%-")
        .. " %(it ended, or never was%): `oclua shell " .. id:gsub("%-", "%%-")
        .. "` starts a new one", err)
    end)

    it("shell without ID: a new sandbox, killed at quit; SIGTERM restores the terminal", function()
      local p = pane(80, 24)
      local before = stty(p, "before")
      keys(p, "clear; " .. bin .. " shell; echo shell-rc-$?", "Enter")
      local s = see(p, "oclua shell: (sb%-%x+), terminal")
      local new = s:match("oclua shell: (sb%-%x+), terminal")
      see(p, "sandbox@" .. new:gsub("%-", "%%-") .. ":~%$")
      keys(p, "C-]", "q")
      see(p, "shell%-rc%-0")
      assert.is_nil((oclua("sandbox list")):find(new, 1, true))
      assert.are.equal(before, stty(p, "after"))
      -- a signal from outside: the remote shell ended, the terminal back
      keys(p, "clear; " .. bin .. " shell " .. id .. "; echo shell-rc-$?", "Enter")
      see(p, "sandbox@" .. id:gsub("%-", "%%-") .. ":~%$")
      assert(os.execute("pkill -TERM -f '^" .. bin .. " shell " .. id .. "$'"))
      s = see(p, "shell%-rc%-%d+")
      assert.matches("oclua shell: ended by signal 15\nshell%-rc%-143", s)
      assert.are.equal(before, stty(p, "after2"))
    end)
  end)
end)
