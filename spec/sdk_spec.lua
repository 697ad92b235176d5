-- spec/sdk_spec.lua - the Lua SDK (API.md sections 3 to 6 and 8) against
-- the local server: Sandbox, exec run/start/attach/spawn, the shell,
-- files, and the error classes.

local oc = require("opencomputer")
local support = require("spec.support.server")
local shell = require("opencomputer.sdk.shell")
local rss_kib = require("spec.support.rss")

local c = support.shared()
local E = oc.errors
local new_sandbox = require("spec.support.sdk").new_sandbox
local fails = require("spec.support.sdk").fails

describe("oc.Sandbox", function()
  it("creates, connects, checks and kills", function()
    local sb = new_sandbox()
    assert.matches("^sb%-%x+$", sb.sandbox_id)
    assert.are.equal(sb.sandbox_id, sb.id)
    assert.are.equal("running", sb.status)
    assert.are.equal(sb.exec, sb.commands)
    local again = oc.Sandbox.connect(sb.id, { api_url = c.url, api_key = support.KEY })
    assert.are.equal(sb.id, again.id)
    assert.is_true(sb:is_running())
    sb:set_timeout(120)
    sb:kill()
    assert.is_false(again:is_running())
  end)

  it("creates with every option: template, envs, metadata, limits", function()
    local sb = oc.Sandbox.create{ api_url = c.url, api_key = support.KEY,
      template = "base", timeout = 60, envs = { GREETING = "hi there" },
      metadata = { owner = "spec" }, cpu_count = 1, memory_mb = 1024 }
    assert.are.equal("hi there\n", sb.exec:run("echo $GREETING").stdout)
    assert.are.equal("spec", sb.info.metadata.owner)
    local again = oc.Sandbox.connect(sb.id, { api_url = c.url, api_key = support.KEY })
    assert.are.equal("spec", again.info.metadata.owner)
    sb:kill()
    -- limits outside the tier table are refused by the server
    local e = fails(E.SandboxError, oc.Sandbox.create, { api_url = c.url,
      api_key = support.KEY, cpu_count = 1, memory_mb = 512 })
    assert.are.equal(400, e.status)
  end)

  it("hibernates an idle sandbox after its timeout; the next command wakes it", function()
    local sb = oc.Sandbox.create{ api_url = c.url, api_key = support.KEY, timeout = 1 }
    assert.is_true(sb:is_running())
    local t0 = oc.now()
    while sb:is_running() and oc.now() - t0 < 10 do oc.sleep(0.2) end
    assert.is_false(sb:is_running())
    assert.is_true(oc.now() - t0 >= 0.9)
    assert.are.equal("awake\n", sb.exec:run("echo awake").stdout)
    assert.is_true(sb:is_running())
    sb:kill()
  end)

  it("hibernates and wakes on request", function()
    local sb <close> = new_sandbox()
    sb.files:write("/home/sandbox/kept", "still here")
    sb:hibernate()
    assert.are.equal("hibernated", sb.status)
    assert.is_false(sb:is_running())
    sb:wake{ timeout = 60 }
    assert.are.equal("running", sb.status)
    assert.are.equal("still here", sb.files:read("/home/sandbox/kept"))
    sb:hibernate()
    -- a command wakes it as well
    assert.are.equal("still here", sb.exec:run("cat /home/sandbox/kept").stdout)
    assert.is_true(sb:is_running())
    assert.has_error(function() sb:wake{ timout = 5 } end,
      "Sandbox:wake: unknown option 'timout'")
    assert.has_error(function() sb:wake{ timeout = -1 } end,
      "Sandbox:wake: timeout must be a number of seconds from 0 to 2147483647 "
      .. "(0: no limit), got the number -1")
  end)

  it("kills a <close> sandbox when it leaves scope, on error too", function()
    local id
    pcall(function()
      local sb <close> = new_sandbox()
      id = sb.id
      error("boom")
    end)
    fails(E.NotFoundError, oc.Sandbox.connect, id, { api_url = c.url, api_key = support.KEY })
  end)

  it("close() detaches the object's sessions and refuses later calls", function()
    local sb = new_sandbox()
    local got = {}
    local s = sb.exec:start("sleep 0.3; echo late", { on_stdout = function(d) got[#got + 1] = d end })
    sb:close()
    assert.are.equal(-1, s:wait())	-- detached: no exit frame
    fails(E.SandboxError, sb.exec.run, sb.exec, "true")
    local again = oc.Sandbox.connect(sb.id, { api_url = c.url, api_key = support.KEY })
    assert.is_true(again:is_running())
    local ended
    for _ = 1, 100 do
      local l = again.exec:list()
      if l[1] and not l[1].running then ended = l[1]; break end
      oc.sleep(0.05)
    end
    assert.are.equal(0, ended.exit_code)	-- it ran to its end
    assert.are.same({}, got)
    again:kill()
  end)

  it("raises NotFoundError for an unknown sandbox, with its id", function()
    local e = fails(E.NotFoundError, oc.Sandbox.connect, "sb-00000000",
      { api_url = c.url, api_key = support.KEY })
    assert.are.equal(404, e.status)
    assert.are.equal("sb-00000000", e.sandbox_id)
    assert.are.equal("NotFoundError: sandbox not found (HTTP 404)", tostring(e))
  end)

  it("raises AuthError for a wrong key", function()
    fails(E.AuthError, oc.Sandbox.create, { api_url = c.url, api_key = "nope" })
  end)

  it("refuses unknown options", function()
    assert.has_error(function() oc.Sandbox.create{ colour = "red" } end)
  end)
end)

describe("sb.exec:run", function()
  local sb
  setup(function() sb = new_sandbox() end)
  teardown(function() sb:kill() end)

  it("returns exit codes as results", function()
    local r = sb.exec:run("echo hi; echo oops >&2; exit 3")
    assert.are.same({ exit_code = 3, stdout = "hi\n", stderr = "oops\n" }, r)
  end)

  it("honours env and cwd, and pipes through sh -c", function()
    local r = sb.exec:run("echo $X $(pwd) | tr a-z A-Z", { env = { X = "val" }, cwd = "/tmp" })
    assert.are.equal("VAL /TMP\n", r.stdout)
  end)

  it("returns output past the 1 MiB scrollback whole", function()
    local r = sb.exec:run("head -c 3000000 /dev/zero | tr '\\0' a; echo; seq 3 | tail -1")
    assert.are.equal(3000000 + 3, #r.stdout)
    assert.are.equal("a\n3\n", r.stdout:sub(-4))
  end)

  it("returns 10,000 lines", function()
    local r = sb.exec:run("seq 10000")
    assert.are.equal(10000, select(2, r.stdout:gsub("\n", "")))
    assert.are.equal("9999\n10000\n", r.stdout:sub(-11))
  end)

  it("gives every byte value exactly when streaming, as text otherwise", function()
    local fmt, bytes = {}, {}
    for i = 0, 255 do
      fmt[#fmt + 1] = string.format("\\%03o", i)
      bytes[#bytes + 1] = string.char(i)
    end
    local cmd, all = "printf '" .. table.concat(fmt) .. "'", table.concat(bytes)
    local seen = {}
    local r = sb.exec:run(cmd, { on_stdout = function(d) seen[#seen + 1] = d end })
    assert.is_true(r.stdout == all and table.concat(seen) == all)
    -- exec/run carries JSON strings: bytes that are not UTF-8 become U+FFFD
    r = sb.exec:run(cmd)
    assert.is_true(r.stdout == all:sub(1, 128) .. ("\xEF\xBF\xBD"):rep(128))
  end)

  it("raises TimeoutError at the wall-clock timeout", function()
    local t0 = oc.now()
    fails(E.TimeoutError, sb.exec.run, sb.exec, "sleep 30", { timeout = 1 })
    assert.is_true(oc.now() - t0 < 3)
  end)

  it("streams to callbacks; the timeout becomes an idle timeout", function()
    local seen = {}
    -- 2.4 s in all, past a wall-clock 1.5 s, but never 1.5 s without output
    local r = sb.exec:run("for i in 1 2 3 4; do echo $i; sleep 0.6; done", {
      timeout = 1.5, on_stdout = function(d) seen[#seen + 1] = d end })
    assert.are.equal("1\n2\n3\n4\n", r.stdout)
    assert.are.equal("1\n2\n3\n4\n", table.concat(seen))
    fails(E.TimeoutError, sb.exec.run, sb.exec, "echo start; sleep 30",
      { timeout = 1, on_stdout = function() end })
  end)

  it("lets a callback run commands and write files itself", function()
    local r = sb.exec:run("printf 'a\\nb\\n'", { on_stdout = function(d)
      for line in d:gmatch("[^\n]+") do
        sb.files:write("/tmp/cb-" .. line, sb.exec:run("echo got " .. line).stdout)
      end
    end })
    assert.are.equal(0, r.exit_code)
    assert.are.equal("got a\n", sb.files:read("/tmp/cb-a"))
    assert.are.equal("got b\n", sb.files:read("/tmp/cb-b"))
  end)

  it("re-raises an error from a callback", function()
    local ok, err = pcall(sb.exec.run, sb.exec, "echo x", {
      on_stdout = function() error("cb broke", 0) end })
    assert.is_false(ok)
    assert.are.equal("cb broke", err)
  end)

  it("runs 100 commands from 100 tasks at once", function()
    local tasks = {}
    for i = 1, 100 do
      tasks[i] = oc.spawn(function() return sb.exec:run("echo " .. i).stdout end)
    end
    for i = 1, 100 do assert.are.equal(i .. "\n", tasks[i]:wait()) end
  end)
end)

describe("sb.exec sessions", function()
  local sb
  setup(function() sb = new_sandbox() end)
  teardown(function() sb:kill() end)

  it("delivers output in order to a callback that yields", function()
    local got, busy, overlap = {}, false, false
    local s = sb.exec:start("for i in $(seq 1 200); do echo line$i; done", {
      on_stdout = function(d)
        if busy then overlap = true end
        busy = true
        oc.sleep(0.001)
        got[#got + 1] = d
        busy = false
      end })
    assert.are.equal(0, s:wait())
    assert.is_false(overlap)
    local want = {}
    for i = 1, 200 do want[i] = "line" .. i .. "\n" end
    assert.are.equal(table.concat(want), table.concat(got))
  end)

  it("loses none of a fast command's first MiBs before the attach", function()
    local parts = {}
    local s = sb.exec:start("seq 1 1000000", { on_stdout = function(d) parts[#parts + 1] = d end })
    assert.are.equal(0, s:wait())
    local out, want = table.concat(parts), {}
    for i = 1, 1000000 do want[i] = i end
    assert.is_true(out == table.concat(want, "\n") .. "\n",
      "got " .. #out .. " bytes starting " .. out:sub(1, 20))
  end)

  it("slows a fast command to a slow callback: nothing lost, memory bounded", function()
    local n, total, calls = 32 * 1024 * 1024, 0, 0
    collectgarbage()
    local before, peak = rss_kib(), 0
    local s = sb.exec:start("head -c " .. n .. " /dev/zero", {
      on_stdout = function(d)
        total, calls = total + #d, calls + 1
        if calls % 16 == 0 then
          oc.sleep(0.002)
          peak = math.max(peak, rss_kib())
        end
      end })
    assert.are.equal(0, s:wait())
    assert.are.equal(n, total)
    -- client and (in these specs) server share this process
    assert.is_true(os.getenv("OCLUA_SANITIZED") ~= nil or peak - before < 16 * 1024,
      string.format("RSS grew by %d KiB", peak - before))
  end)

  it("streams 200 sessions at once, each byte accounted for", function()
    local n, size = 200, 256 * 1024
    local jobs = {}
    for i = 1, n do
      jobs[i] = function()
        -- each session's own bytes: "i\n" over and over; every chunk is
        -- checked against where it should fall in that pattern
        local pat, got, wrong = i .. "\n", 0, 0
        local s = sb.exec:start(string.format(
          "yes %d | head -c %d", i, size), { on_stdout = function(d)
            local phase = got % #pat
            local want = pat:rep((#d + phase) // #pat + 1):sub(phase + 1, phase + #d)
            if d ~= want then wrong = wrong + 1 end
            got = got + #d
          end })
        assert(s:wait() == 0)
        return got, wrong
      end
    end
    local tasks = {}
    for i = 1, n do tasks[i] = oc.spawn(jobs[i]) end
    for i = 1, n do
      local got, wrong = tasks[i]:wait()
      assert.are.same({ size, 0 }, { got, wrong })
    end
  end)

  it("re-raises a callback's error from wait", function()
    local s = sb.exec:start("echo x", { on_stdout = function() error("cb failed", 0) end })
    local ok, err = pcall(s.wait, s)
    assert.is_false(ok)
    assert.are.equal("cb failed", err)
  end)

  it("calls on_exit after the output, and done:wait gives the code", function()
    local order = {}
    local s = sb.exec:start("echo a; exit 4", {
      on_stdout = function() order[#order + 1] = "out" end,
      on_exit = function(code) order[#order + 1] = "exit " .. code end })
    assert.are.equal(4, s.done:wait())
    assert.are.same({ "out", "exit 4" }, order)
  end)

  it("sends stdin, kills by signal name, lists and attaches after detach", function()
    local out = {}
    local s = sb.exec:start("cat", { on_stdout = function(d) out[#out + 1] = d end })
    s:send_stdin("ping\n")
    while table.concat(out) ~= "ping\n" do oc.sleep(0.01) end
    s:close()
    local listed = false
    for _, e in ipairs(sb.exec:list()) do
      listed = listed or (e.session_id == s.session_id and e.running)
    end
    assert.is_true(listed)
    local replay, ended = {}, false
    local a = sb.exec:attach(s.session_id, {
      on_stdout = function(d) replay[#replay + 1] = d end,
      on_scrollback_end = function() ended = true end })
    while not ended do oc.sleep(0.01) end
    assert.are.equal("ping\n", table.concat(replay))
    a:kill("SIGTERM")
    assert.are.equal(-1, a:wait())
  end)

  it("spawns an interactive process: stdin, EOF, the whole result", function()
    local p = sb.exec:spawn("tr a-z A-Z")
    p.stdin:write("hello\n")
    p.stdin:write("world\n")
    p.stdin:close()
    assert.are.same({ exit_code = 0, stdout = "HELLO\nWORLD\n", stderr = "" }, p:wait())
  end)

  it("kills a spawned process with SIGTERM by default", function()
    local p <close> = sb.exec:spawn("sleep 30")
    p:kill()
    assert.are.equal(-1, p:wait().exit_code)
  end)

  it("kills by number, and by session id with SIGKILL by default", function()
    local s = sb.exec:start("sleep 30")
    s:kill(15)
    assert.are.equal(-1, s:wait())
    s = sb.exec:start("trap '' TERM; sleep 30")
    sb.exec:kill(s.session_id)
    assert.are.equal(-1, s:wait())
    local e
    for _, x in ipairs(sb.exec:list()) do
      if x.session_id == s.session_id then e = x end
    end
    assert.is_false(e.running)
  end)

  it("raises NotFoundError for an unknown session", function()
    local e = fails(E.NotFoundError, sb.exec.kill, sb.exec, "deadbeef")
    assert.are.equal("deadbeef", e.session_id)
    fails(E.NotFoundError, sb.exec.attach, sb.exec, "deadbeef")
  end)
end)

describe("a killed or unknown sandbox", function()
  it("raises NotFoundError from exec and files calls", function()
    local sb = new_sandbox()
    sb:kill()
    local e = fails(E.NotFoundError, sb.exec.run, sb.exec, "true")
    assert.are.equal(404, e.status)
    fails(E.NotFoundError, sb.exec.start, sb.exec, "true")
    fails(E.NotFoundError, sb.files.read, sb.files, "/etc/hostname")
    fails(E.NotFoundError, sb.files.write, sb.files, "/tmp/x", "y")
  end)
end)

describe("sb.exec:shell", function()
  local sb
  setup(function() sb = new_sandbox() end)
  teardown(function() sb:kill() end)

  it("keeps cwd, exports and functions between runs", function()
    local sh = sb.exec:shell{ cwd = "/tmp" }
    assert.are.equal("/tmp\n", sh:run("pwd").stdout)
    sh:run("cd /srv; export GREETING=hi; f() { echo \"f:$1\"; }")
    assert.are.equal("/srv hi f:x\n", sh:run('echo "$(pwd) $GREETING $(f x)"').stdout)
    local r = sh:run("echo err >&2; false")
    assert.are.same({ exit_code = 1, stdout = "", stderr = "err\n" }, r)
    sh:close()
  end)

  it("frames a marker split at every byte, holding back only its prefix", function()
    local marker, out = "\n__OC_0123_EXIT_", "user text\n"
    local wire = out .. marker .. "7__\n"
    for cut1 = 0, #wire do
      for cut2 = cut1, #wire do
        local st = shell.stream(marker, true)
        local shown = st:push(wire:sub(1, cut1)) .. st:push(wire:sub(cut1 + 1, cut2))
          .. st:push(wire:sub(cut2 + 1))
        assert.are.equal(out, shown)
        assert.are.equal(out, st:text())
        assert.is_true(st.done)
        assert.are.equal(7, st.code)
      end
    end
    local st = shell.stream(marker, true)
    st:push(out .. marker .. "x__\n")
    assert.is_true(st.corrupt)
  end)

  it("never leaks markers into callbacks, even split across chunks", function()
    local sh = sb.exec:shell{}
    local seen = {}
    -- many small writes make the markers likely to straddle chunks
    local r = sh:run("for i in $(seq 1 300); do printf 'x%s ' $i; done", {
      on_stdout = function(d) seen[#seen + 1] = d end })
    assert.are.equal(r.stdout, table.concat(seen))
    assert.is_nil(table.concat(seen):find("__OC_", 1, true))
    sh:close()
  end)

  it("reattaches by session id, skipping the replayed history", function()
    local sh = sb.exec:shell{}
    sh:run("export KEPT=yes; echo history-line")
    local again = sb.exec:reattach_shell(sh.session_id)
    local seen = {}
    local r = again:run("echo $KEPT", { on_stdout = function(d) seen[#seen + 1] = d end })
    assert.are.same({ exit_code = 0, stdout = "yes\n", stderr = "" }, r)
    assert.are.equal("yes\n", table.concat(seen))
    again:close()
    fails(E.ShellClosedError, sh.run, sh, "true")
  end)

  it("gives a run stdin at end-of-file, so a command that reads it ends", function()
    local sh = sb.exec:shell{}
    local t = oc.spawn(function()
      return sh:run('read x; echo "rc=$? x=$x"'), sh:run("cat").stdout
    end)
    for _ = 1, 50 do
      if t.done then break end
      oc.sleep(0.1)
    end
    assert.is_true(t.done, "the run still waits for input that never comes")
    local r, cat = t:wait()
    assert.are.same({ exit_code = 0, stdout = "rc=1 x=\n", stderr = "" }, r)
    assert.are.equal("", cat)
    -- input given in shell syntax, and the state, are the shell's as before
    assert.are.equal("v\n", sh:run("read y <<< v; echo $y").stdout)
    assert.are.equal("v\n", sh:run("echo $y").stdout)
    sh:close()
  end)

  it("raises ShellBusyError and ShellClosedError", function()
    local sh = sb.exec:shell{}
    local t = oc.spawn(function() return sh:run("sleep 0.5; echo done") end)
    oc.sleep(0.1)
    fails(E.ShellBusyError, sh.run, sh, "true")
    assert.are.equal("done\n", t:wait().stdout)
    fails(E.ShellClosedError, sh.run, sh, "exit 3")
    fails(E.ShellClosedError, sh.run, sh, "true")
  end)
end)

describe("sb.files", function()
  local sb
  setup(function() sb = new_sandbox() end)
  teardown(function() sb:kill() end)

  it("round-trips every byte value", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local blob = table.concat(bytes)
    sb.files:write("/tmp/all.bin", blob)
    assert.is_true(sb.files:read_bytes("/tmp/all.bin") == blob)
  end)

  it("lists, makes directories, removes, tells existence", function()
    sb.files:make_dir("/workspace/x/y")
    sb.files:write("/workspace/x/f.txt", "abc")
    local l = sb.files:list("/workspace/x")
    assert.are.same({ name = "f.txt", is_dir = false, path = "/workspace/x/f.txt", size = 3 }, l[1])
    assert.are.equal("y", l[2].name)
    assert.is_true(l[2].is_dir)
    assert.is_true(sb.files:exists("/workspace/x/f.txt"))
    assert.is_true(sb.files:exists("/workspace/x/y"))
    sb.files:remove("/workspace/x")
    assert.is_false(sb.files:exists("/workspace/x/f.txt"))
    fails(E.NotFoundError, sb.files.read, sb.files, "/workspace/x/f.txt")
    fails(E.NotFoundError, sb.files.list, sb.files, "/workspace/x")
  end)

  it("streams a 64 MiB upload from a function in bounded memory", function()
    local chunk, n, sent = ("0123456789abcdef"):rep(16384), 64 * 1024 * 1024, 0
    collectgarbage()
    local before, peak = rss_kib(), 0
    sb.files:write("/tmp/big.bin", function()
      if sent >= n then return nil end
      sent = sent + #chunk
      peak = math.max(peak, rss_kib())
      return chunk
    end)
    -- the chunk is the same string each time: growth would be buffering
    -- (not under AddressSanitizer, whose quarantine keeps freed memory)
    assert.is_true(os.getenv("OCLUA_SANITIZED") ~= nil or peak - before < 8 * 1024,
      string.format("RSS grew by %d KiB", peak - before))
    local r = sb.exec:run("stat -c %s /tmp/big.bin; fold -w 16 /tmp/big.bin | sort -u")
    assert.are.equal(n .. "\n0123456789abcdef\n", r.stdout)
  end)
end)
