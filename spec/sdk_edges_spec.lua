-- spec/sdk_edges_spec.lua - the SDK at its edges (issue 10): a command's
-- stdin, which timeout tripped, timeout 0, string maps, the owner of a
-- callback's error, and a server that dies mid-stream.

local oc = require("opencomputer")
local support = require("spec.support.server")

local c = support.shared()
local E = oc.errors
local bin = os.getenv("OCLUA_BIN") or "./oclua"
local new_sandbox = require("spec.support.sdk").new_sandbox
local fails = require("spec.support.sdk").fails

-- one sandbox for the file (the server-killing cases make their own)
local sb
setup(function() sb = new_sandbox() end)
teardown(function() sb:kill() end)

-- a plain Lua error (a string), not an error object: misuse
local function misuse(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.are.equal("string", type(err), "got " .. tostring(err))
  assert.matches(pattern, err)
  return err
end

-- Run `text` as a script of its own (an oclua process on the shared
-- server, which keeps serving meanwhile): its stdout and stderr together.
local function script(text)
  local p = os.tmpname()
  local h = assert(io.open(p, "w"))
  h:write(string.format("local oc = require('opencomputer')\n"
    .. "oc.configure{ api_url = %q, api_key = %q }\n", c.url, support.KEY), text)
  h:close()
  local out = support.output({ "sh", "-c", bin .. " " .. p .. " 2>&1" })
  os.remove(p)
  return out
end

local function count(s, plain)
  local n, at = 0, 1
  while true do
    local i = s:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, i + #plain
  end
end

describe("a command that reads stdin, under exec:run", function()
  it("reads end-of-file at once, on every path", function()
    local want = { exit_code = 0, stdout = "", stderr = "" }
    for _, opts in ipairs{
      { timeout = 10 },					-- POST exec/run
      { timeout = 10, on_stdout = function() end },	-- a session
      { timeout = 10, on_stderr = function() end },
      { timeout = 0 },					-- a session, no limit
    } do
      local t0 = oc.now()
      assert.are.same(want, sb.exec:run("cat", opts))
      assert.is_true(oc.now() - t0 < 3, "cat took " .. (oc.now() - t0) .. " s")
    end
    local r = sb.exec:run('read x; echo "status $?"', { on_stdout = function() end })
    assert.are.equal("status 1\n", r.stdout)
  end)

  it("keeps the command's own text, $0 and line numbers in a session", function()
    local r = sb.exec:run('echo "$0 $#"\nfalse (', { on_stdout = function() end })
    local plain = sb.exec:run('echo "$0 $#"\nfalse (')
    assert.are.same(plain, r)
    assert.matches("sh: 2: Syntax error", r.stderr)
  end)

  it("leaves stdin to sessions that have one", function()
    local p = sb.exec:spawn("cat")
    p.stdin:write("kept\n")
    p.stdin:close()
    assert.are.equal("kept\n", p:wait().stdout)
  end)
end)

describe("a timeout's error", function()
  it("says which bound tripped, and names the command", function()
    local e = fails(E.TimeoutError, sb.exec.run, sb.exec, "sleep 5", { timeout = 1 })
    assert.are.equal("command timed out after 1 s (the wall-clock timeout): sleep 5",
      e.message)
    e = fails(E.TimeoutError, sb.exec.run, sb.exec, "echo up; sleep 5",
      { timeout = 1, on_stdout = function() end })
    assert.are.equal("command was silent for 1 s (the idle timeout of a run with "
      .. "callbacks): echo up; sleep 5", e.message)
    assert.are.equal("up\n", e.stdout)
  end)

  it("gives the bound the server kept: whole seconds, rounded up", function()
    local e = fails(E.TimeoutError, sb.exec.run, sb.exec, "echo so far; sleep 5",
      { timeout = 0.4 })
    assert.matches("^command timed out after 1 s ", e.message)
    assert.are.equal("so far\n", e.stdout)
    assert.are.equal("", e.stderr)
  end)
end)

describe("timeout = 0", function()
  it("means no limit in every call that takes a timeout", function()
    -- past exec/run's own default of 60 s would take too long; a run
    -- without a limit is a session, whose output is byte-exact
    local r = sb.exec:run("sleep 1.2; printf '\\377'", { timeout = 0 })
    assert.are.same({ exit_code = 0, stdout = "\255", stderr = "" }, r)
    local s = sb.exec:start("sleep 1.2; exit 5", { timeout = 0 })
    assert.are.equal(5, s:wait())
    local p = sb.exec:spawn("sleep 1.2; echo done", { timeout = 0 })
    assert.are.equal("done\n", p:wait().stdout)
    local other = new_sandbox{ timeout = 0 }
    other:set_timeout(0)
    other:wake{ timeout = 0 }
    assert.is_true(other:is_running())
    other:kill()
  end)

  it("is the bound; below it, and what is not a number, is refused alike", function()
    local function refused(name, fn, ...)
      misuse("^" .. name:gsub("%p", "%%%0") .. ": timeout must be a number of "
        .. "seconds from 0 to 2147483647 %(0: no limit%), got ", fn, ...)
    end
    -- above the server's range too (it would answer 400 after the check)
    for _, bad in ipairs{ -1, "10", 0 / 0, math.huge, 1e10, 2147483648 } do
      refused("exec:run", sb.exec.run, sb.exec, "true", { timeout = bad })
      refused("exec:start", sb.exec.start, sb.exec, "true", { timeout = bad })
      refused("exec:spawn", sb.exec.spawn, sb.exec, "true", { timeout = bad })
      refused("Sandbox.create", oc.Sandbox.create, { api_url = c.url,
        api_key = support.KEY, timeout = bad })
      refused("set_timeout", sb.set_timeout, sb, bad)
      refused("Sandbox:wake", sb.wake, sb, { timeout = bad })
    end
    misuse("^exec:start: max_run_after_disconnect must be a number of seconds",
      sb.exec.start, sb.exec, "true", { max_run_after_disconnect = -5 })
  end)
end)

describe("a string map or list", function()
  it("takes numbers, converted as Lua converts them", function()
    local env = { PORT = 8080, RATIO = 0.5, NAME = "x" }
    local want = "8080 0.5 x\n"
    local cmd = "echo $PORT $RATIO $NAME"
    assert.are.equal(want, sb.exec:run(cmd, { env = env }).stdout)
    assert.are.equal(want, sb.exec:run(cmd, { env = env,
      on_stdout = function() end }).stdout)
    local s = sb.exec:spawn(cmd, { env = env })
    assert.are.equal(want, s:wait().stdout)
    local sh = sb.exec:shell{ env = env }
    assert.are.equal(want, sh:run(cmd).stdout)
    sh:close()
    -- and so does a list of strings: a command's argv
    assert.are.equal("a 1 2.5\n", sb.exec:spawn("echo", { args = { "a", 1, 2.5 } })
      :wait().stdout)
    local other = new_sandbox{ envs = { PORT = 8080 }, metadata = { build = 42 } }
    assert.are.equal("8080\n", other.exec:run("echo $PORT").stdout)
    assert.are.equal("42", other.info.metadata.build)
    other:kill()
  end)

  it("refuses anything else with a plain error naming the key, before any request", function()
    local before = #sb.exec:list()
    misuse("^exec:run: env%.PORT must be a string %(without NUL bytes%) or a "
      .. "number, got the boolean true",
      sb.exec.run, sb.exec, "true", { env = { PORT = true } })
    misuse("^exec:run: env%.X must be a string .* or a number, got a table",
      sb.exec.run, sb.exec, "true", { env = { X = {} }, on_stdout = print })
    misuse("^exec:start: env has a key that is not a string: the number 1$",
      sb.exec.start, sb.exec, "true", { env = { "A=1" } })
    misuse('^exec:spawn: env must be a table of strings, got the string "A=1"$',
      sb.exec.spawn, sb.exec, "true", { env = "A=1" })
    misuse("^exec:shell: env%.F must be a string .* or a number, got a function",
      sb.exec.shell, sb.exec, { env = { F = print } })
    misuse("^exec:start: args%[2%] must be a string .* or a number, got the boolean true",
      sb.exec.start, sb.exec, "echo", { args = { "a", true } })
    misuse('^exec:spawn: args must be a list %(keys 1 to n%), but has the key the string "x"$',
      sb.exec.spawn, sb.exec, "echo", { args = { x = "1" } })
    assert.are.equal(before, #sb.exec:list())
    -- a server that is not there: a request would fail otherwise
    local nowhere = { api_url = "http://127.0.0.1:1", api_key = "k" }
    nowhere.envs = { ON = false }
    misuse("^Sandbox%.create: envs%.ON must be a string .* or a number, got the boolean false",
      oc.Sandbox.create, nowhere)
    nowhere.envs, nowhere.metadata = nil, { [true] = "x" }
    misuse("^Sandbox%.create: metadata has a key that is not a string: the boolean true",
      oc.Sandbox.create, nowhere)
  end)

  it("refuses a NUL byte in every string it sends, naming the argument, before any request", function()
    local before = #sb.exec:list()
    local nul = "a\0b"
    local shown = 'a\\0b"'	-- as %q shows it, at the end of the message
    local function refused(pattern, fn, ...)
      local err = misuse("^" .. pattern:gsub("%p", "%%%0"), fn, ...)
      assert.matches(shown:gsub("%p", "%%%0") .. "$", err)
    end
    for _, m in ipairs{ "run", "start", "spawn" } do
      local name = "exec:" .. m
      refused(name .. ": the command must be a string without NUL bytes, got the string ",
        sb.exec[m], sb.exec, nul)
      refused(name .. ": cwd must be a string without NUL bytes",
        sb.exec[m], sb.exec, "true", { cwd = nul })
      refused(name .. ": env.A must be a string (without NUL bytes)",
        sb.exec[m], sb.exec, "true", { env = { A = nul } })
    end
    refused("exec:start: args[1] must be a string (without NUL bytes)",
      sb.exec.start, sb.exec, "echo", { args = { nul } })
    misuse("^exec:start: env has a key with a NUL byte",
      sb.exec.start, sb.exec, "true", { env = { [nul] = "1" } })
    refused("exec:shell: cwd must be a string without NUL bytes",
      sb.exec.shell, sb.exec, { cwd = nul })
    for _, m in ipairs{ "read", "read_bytes", "list", "make_dir", "remove", "exists" } do
      refused("files:" .. m .. ": the path must be a string without NUL bytes",
        sb.files[m], sb.files, "/tmp/" .. nul)
    end
    refused("files:write: the path must be a string without NUL bytes",
      sb.files.write, sb.files, "/tmp/" .. nul, "x")
    misuse("^files:read: the path is empty: give the path of a file or directory$",
      sb.files.read, sb.files, "")
    assert.are.equal(before, #sb.exec:list())
    local nowhere = { api_url = "http://127.0.0.1:1", api_key = "k" }
    nowhere.metadata = { build = nul }
    refused("Sandbox.create: metadata.build must be a string (without NUL bytes)",
      oc.Sandbox.create, nowhere)
    nowhere.metadata, nowhere.template = nil, nul
    refused("Sandbox.create: template must be a string without NUL bytes",
      oc.Sandbox.create, nowhere)
    refused("Sandbox.connect: the sandbox id must be a string without NUL bytes",
      oc.Sandbox.connect, nul, nowhere)
    -- a string that looks like a number is shown as the string it is
    misuse('^exec:run: timeout must be .*, got the string "5"$',
      sb.exec.run, sb.exec, "true", { timeout = "5" })
  end)

  it("points at the caller's line", function()
    local ok, err = pcall(function()
      sb.exec:run("true", { env = { A = true } })
    end)
    assert.is_false(ok)
    assert.matches("sdk_edges_spec%.lua:%d+: exec:run: env%.A", err)
  end)
end)

describe("a callback's error", function()
  local real
  local printed = {}
  -- what the runtime prints goes here while a test runs
  local fake = {
    write = function(self, ...)
      for _, s in ipairs{ ... } do printed[#printed + 1] = tostring(s) end
      return self
    end,
    flush = function(self) return self end,
  }
  before_each(function() printed = {}; real = io.stderr; io.stderr = fake end)
  after_each(function() io.stderr = real end)

  local function boom() error("boom", 0) end

  it("prints nothing when the script catches it, whatever runs first", function()
    -- output before and after the stream's first frame, for the delivery
    -- and the waiter to meet in either order; then every session is
    -- collected, when an error nobody waited for would be printed
    for i = 1, 40 do
      local cmd = i % 2 == 0 and "echo x" or "sleep 0.01; echo x"
      local ok, err = pcall(sb.exec.run, sb.exec, cmd, { on_stdout = boom })
      assert.is_false(ok)
      assert.are.equal("boom", err)
    end
    for _, delay in ipairs{ 0, 0.001, 0.01, 0.05, 0.3 } do
      local s = sb.exec:start("echo x", { on_stdout = boom })
      oc.sleep(delay)
      assert.is_false(pcall(s.wait, s))
      s = sb.exec:start("echo x", { on_exit = boom })
      oc.sleep(delay)
      assert.is_false(pcall(s.wait, s))
      local p = sb.exec:spawn("echo x", { on_stdout = boom })
      oc.sleep(delay)
      assert.is_false(pcall(p.wait, p))
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal("", table.concat(printed))
  end)

  it("prints an uncaught one exactly once", function()
    for i = 1, 4 do
      local out = script(string.format([[
        local sb <close> = oc.Sandbox.create{ timeout = 0 }
        pcall(function()
          sb.exec:run(%q, { on_stdout = function() error("uncaught-boom") end })
        end)
        sb.exec:run("echo x", { on_stdout = function() error("uncaught-boom") end })]],
        i % 2 == 0 and "echo x" or "sleep 0.01; echo x"))
      assert.are.equal(1, count(out, "uncaught-boom"), out)
    end
    -- a session nobody waits for: printed once, when it is collected
    local out = script([[
      local sb = oc.Sandbox.create{ timeout = 0 }
      sb.exec:start("echo x", { on_stdout = function() error("unwaited-boom") end })
      oc.sleep(0.3)
      sb:kill()]])
    assert.are.equal(1, count(out, "unwaited-boom"), out)
    assert.matches("nobody waited for it", out)
  end)
end)

describe("a server that dies mid-stream", function()
  -- a separate `oclua serve`, killed with SIGKILL once the stream runs;
  -- fn(sb, kill) makes the call under test
  local function died(fn)
    local srv = support.process()
    local box = oc.Sandbox.create{ api_url = srv.url, api_key = support.KEY, timeout = 0 }
    local killed_at
    local function kill()
      killed_at = oc.now()
      srv.proc:kill(9)
    end
    local ok, res = pcall(fn, box, kill)
    srv.proc:wait()
    assert.is_not_nil(killed_at, "the server was not killed")
    assert.is_true(oc.now() - killed_at < 1, "took " .. (oc.now() - killed_at) .. " s")
    return ok, res
  end

  -- fn(sb, kill) must raise `class`, saying that the connection dropped
  local function dropped(class, fn)
    local ok, err = died(fn)
    assert.is_false(ok, "the call returned")
    assert.is_true(E.is(err, class), tostring(err))
    assert.matches("connection to the server dropped before the command ended",
      err.message)
    return err
  end

  local TICK = "while :; do echo tick; sleep 0.05; done"

  it("makes a streaming run raise SandboxError", function()
    local err = dropped(E.SandboxError, function(sb, kill)
      local first = true
      return sb.exec:run(TICK, { timeout = 30, on_stdout = function()
        if first then first = false; kill() end
      end })
    end)
    assert.matches("tick", err.stdout)
  end)

  it("makes spawn's wait raise SandboxError", function()
    dropped(E.SandboxError, function(sb, kill)
      local p = sb.exec:spawn(TICK)
      oc.sleep(0.2)
      kill()
      return p:wait()
    end)
  end)

  it("makes the shell raise ShellClosedError", function()
    dropped(E.ShellClosedError, function(sb, kill)
      local sh = sb.exec:shell{}
      oc.spawn(function() oc.sleep(0.3); kill() end)
      return sh:run("sleep 30")
    end)
  end)

  it("gives a start session -1 (API.md 4)", function()
    local ok, code = died(function(sb, kill)
      local s = sb.exec:start(TICK)
      oc.sleep(0.2)
      kill()
      return s:wait()
    end)
    assert.is_true(ok, tostring(code))
    assert.are.equal(-1, code)
  end)
end)

describe("one rule for every call", function()
  local sdk = require("spec.support.sdk")

  it("says \"unknown option\" in oc.configure as in every other call", function()
    misuse("oc%.configure: unknown option 'api_token'$", oc.configure,
      { api_token = "x" })
  end)

  it("checks the options of sb.exec:shell and shell:run, before any request", function()
    local before = #sb.exec:list()
    sdk.misuse("exec:shell: unknown option 'timeout'", sb.exec.shell, sb.exec,
      { timeout = 5 })
    sdk.misuse('exec:shell: options must be a table, got the string "/tmp"',
      sb.exec.shell, sb.exec, "/tmp")
    assert.are.equal(before, #sb.exec:list(), "a session was made")
    local sh = sb.exec:shell{ cwd = "/tmp" }
    sdk.misuse("shell:run: unknown option 'timeout'", sh.run, sh, "sleep 5",
      { timeout = 1 })
    sdk.misuse("shell:run: unknown option 'cwd'", sh.run, sh, "pwd", { cwd = "/" })
    -- nothing was sent: the shell is idle, where it was
    assert.are.same({ exit_code = 0, stdout = "/tmp\n", stderr = "" }, sh:run("pwd"))
    sh:close()
  end)

  it("checks the options table of every call that takes one", function()
    sdk.misuse("Sandbox.connect: unknown option 'apikey'", oc.Sandbox.connect,
      sb.sandbox_id, sdk.conn{ apikey = "x" })
    for _, case in ipairs{
      { "Sandbox.connect", oc.Sandbox.connect, sb.sandbox_id, "key" },
      { "Sandbox.create", oc.Sandbox.create, "base" },
      { "Sandbox.list", oc.Sandbox.list, "local" },
      { "Sandbox:wake", sb.wake, sb, 60 },
      { "exec:run", sb.exec.run, sb.exec, "true", 5 },
      { "exec:start", sb.exec.start, sb.exec, "true", "x" },
      { "download_url", sb.download_url, sb, "/x", 60 },
    } do
      sdk.misuse(case[1] .. ": options must be a table, got ", table.unpack(case, 2))
    end
  end)

  it("checks that every callback is a function, before any request", function()
    local before = #sb.exec:list()
    local sh = sb.exec:shell()
    local made = #sb.exec:list()
    for _, case in ipairs{
      { 'exec:start: on_exit must be a function, got the string "print"',
        sb.exec.start, sb.exec, "true", { on_exit = "print" } },
      { "exec:run: on_stdout must be a function, got the boolean true",
        sb.exec.run, sb.exec, "true", { on_stdout = true } },
      { "exec:spawn: on_stderr must be a function, got the number 1",
        sb.exec.spawn, sb.exec, "cat", { on_stderr = 1 } },
      { "exec:attach: on_scrollback_end must be a function, got a table",
        sb.exec.attach, sb.exec, "x", { on_scrollback_end = {} } },
      { "shell:run: on_stdout must be a function, got a table", sh.run, sh,
        "echo hi", { on_stdout = {} } },
    } do
      sdk.misuse(table.unpack(case))
    end
    assert.are.equal(before + 1, made)	-- the shell's session
    assert.are.equal(made, #sb.exec:list(), "a session was made")
    assert.are.same({ exit_code = 0, stdout = "hi\n", stderr = "" }, sh:run("echo hi"))
    sh:close()
  end)

  it("checks session ids and names as the other ids, before any request", function()
    local conn = sdk.conn()
    for _, case in ipairs{
      { "exec:attach: the session id is empty", sb.exec.attach, sb.exec, "" },
      { "exec:attach: the session id must be a string without NUL bytes, got nil",
        sb.exec.attach, sb.exec },
      { "exec:kill: the session id is empty", sb.exec.kill, sb.exec, "" },
      { "exec:kill: the session id must be a string without NUL bytes, got the number 5",
        sb.exec.kill, sb.exec, 5 },
      { "exec:reattach_shell: the session id is empty", sb.exec.reattach_shell,
        sb.exec, "" },
      { "exec:reattach_shell: the session id must be a string without NUL bytes, got a table",
        sb.exec.reattach_shell, sb.exec, {} },
      { "pty:attach: the session id is empty", sb.pty.attach, sb.pty, "" },
      { "agent:attach: the session id is empty", sb.agent.attach, sb.agent, "" },
      { "Sandbox.connect: the sandbox id is empty", oc.Sandbox.connect, "", conn },
      { "Snapshot.get: the name is empty", oc.Snapshot.get, "", conn },
      { "Snapshot.delete: the name is empty", oc.Snapshot.delete, "", conn },
      { "Template.get: the name is empty", oc.Template.get, "", conn },
      { "Template.delete: the name is empty", oc.Template.delete, "", conn },
    } do
      sdk.misuse(table.unpack(case))
    end
  end)

  it("puts every id, name and port into a path as one encoded segment", function()
    local seen = {}
    local _, stop, url = sdk.scripted(function(req)
      local h = { ["Content-Type"] = "application/json" }
      if req.method == "GET" and req.raw_path == "/api/sandboxes/sb-0000abcd" then
        req:respond(200, h, '{"sandboxID":"sb-0000abcd","status":"running"}')
      else
        seen[#seen + 1] = req.method .. " " .. req.raw_path
        req:respond(404, h, '{"error":"not found"}')
      end
    end)
    local conn = { api_url = url, api_key = "k" }
    local s = oc.Sandbox.connect("sb-0000abcd", conn)
    for _, call in ipairs{
      function() s.exec:kill("a/b?c") end,
      function() s.exec:attach("a b") end,
      function() s:delete_checkpoint("..") end,
      function() s:restore_checkpoint(".") end,
      function() s.pty:attach("x/y") end,
      function() s:delete_preview_url(8080) end,
      function() oc.Snapshot.delete("..", conn) end,
      function() oc.Template.get(".", conn) end,
      function() oc.Sandbox.delete_checkpoint_patch("..", "a/b", conn) end,
      function() oc.Sandbox.create_from_checkpoint("..", conn) end,
      function() oc.Sandbox.connect("..", conn) end,
    } do
      local ok, err = pcall(call)
      -- each reached the server: a 404 (ignored by the deletes)
      assert.is_true(ok or E.is(err, E.NotFoundError), tostring(err))
    end
    stop()
    assert.are.same({
      "POST /api/sandboxes/sb-0000abcd/exec/a%2Fb%3Fc/kill",
      "GET /api/sandboxes/sb-0000abcd/exec/a%20b",
      -- a dot-segment is encoded: curl would remove ".." with the
      -- segment before it (RFC 3986 5.2.4), deleting elsewhere
      "DELETE /api/sandboxes/sb-0000abcd/checkpoints/%2E%2E",
      "POST /api/sandboxes/sb-0000abcd/checkpoints/%2E/restore",
      "GET /api/sandboxes/sb-0000abcd/pty/x%2Fy",
      "DELETE /api/sandboxes/sb-0000abcd/preview/8080",
      "DELETE /api/snapshots/%2E%2E",
      "GET /api/templates/%2E",
      "DELETE /api/sandboxes/checkpoints/%2E%2E/patches/a%2Fb",
      "POST /api/sandboxes/from-checkpoint/%2E%2E",
      "GET /api/sandboxes/%2E%2E",
    }, seen)
  end)

  it("checks cpu_count and memory_mb alike in create and create_from_checkpoint", function()
    for _, case in ipairs{
      { "Sandbox.create: cpu_count must be an integer from 1 to 2147483647, "
        .. 'got the string "2"', oc.Sandbox.create, sdk.conn{ cpu_count = "2" } },
      { "Sandbox.create: memory_mb must be an integer from 1 to 2147483647, "
        .. "got the number 1024.5", oc.Sandbox.create, sdk.conn{ memory_mb = 1024.5 } },
      { "Sandbox.create: memory_mb must be an integer from 1 to 2147483647, "
        .. "got the number 0", oc.Sandbox.create,
        sdk.conn{ image = oc.Image.base(), memory_mb = 0 } },
      { "Sandbox.create_from_checkpoint: memory_mb must be an integer from 1 "
        .. "to 2147483647, got the number -1024", oc.Sandbox.create_from_checkpoint,
        "x", sdk.conn{ memory_mb = -1024 } },
    } do
      sdk.misuse(table.unpack(case))
    end
  end)
end)
