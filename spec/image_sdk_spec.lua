-- spec/image_sdk_spec.lua - the SDK's images and snapshots (API.md 11,
-- protocol.md 2.2, 2.2.1, 8.5, 8.6): oc.Image manifests, the build
-- stream parser (client/sse.lua), and oc.Snapshot / Sandbox.create{image
-- =, snapshot =} against the local server.
--
-- The stream's edges that a working server never produces (a stream cut
-- before its result, an answer that is plain JSON, CRLF line ends) are
-- exercised against a scripted server on loopback (core.http_listen):
-- it stands in for a remote server; the SDK is not touched.

local oc = require("opencomputer")
local json = require("opencomputer.runtime.json")
local sse = require("opencomputer.client.sse")
local sdk = require("spec.support.sdk")

local E = oc.errors
local fails = sdk.fails
local scripted = sdk.scripted

local misuse = sdk.misuse
local conn = sdk.conn

describe("oc.Image", function()
  it("builds the manifest of protocol.md 8.6 by chained calls", function()
    local img = oc.Image.base():apt_install{ "curl", "git" }
      :pip_install{ "requests" }
      :run{ "echo one", "echo two" }
      :env{ PROJECT_ROOT = "/workspace", PORT = 8080 }
      :workdir("/workspace")
      :add_file("/etc/app.json", '{"key": "value"}')
      :add_dir("/opt/app", { ["b.txt"] = "bee", ["a/x.bin"] = "\0\255" })
      :builder_memory(8192)
    assert.are.same({
      base = "base",
      builderMemoryMB = 8192,
      steps = {
        { type = "apt_install", args = { packages = { "curl", "git" } } },
        { type = "pip_install", args = { packages = { "requests" } } },
        { type = "run", args = { commands = { "echo one", "echo two" } } },
        { type = "env", args = { vars = { PROJECT_ROOT = "/workspace", PORT = "8080" } } },
        { type = "workdir", args = { path = "/workspace" } },
        { type = "add_file", args = { path = "/etc/app.json",
          content = "eyJrZXkiOiAidmFsdWUifQ==", encoding = "base64" } },
        { type = "add_dir", args = { path = "/opt/app", files = {
          { relativePath = "a/x.bin", content = "AP8=" },	-- in path order
          { relativePath = "b.txt", content = "YmVl" } } } },
      },
    }, img:manifest())
    assert.are.equal("Image base + apt_install, pip_install, run, env, "
      .. "workdir, add_file, add_dir", tostring(img))
    -- lists are JSON arrays, even the empty steps of a bare base
    assert.are.equal('{"base":"base","steps":[]}',
      json.encode(oc.Image.base():manifest()))
    -- run takes its commands as arguments too (the TypeScript runCommands)
    assert.are.same(oc.Image.base():run{ "a", "b" }:manifest(),
      oc.Image.base():run_commands("a", "b"):manifest())
  end)

  it("is immutable: each call gives a new image", function()
    local base = oc.Image.base()
    local a = base:run{ "echo a" }
    local b = base:run{ "echo b" }
    assert.are.equal(0, #base:manifest().steps)
    assert.are.equal("echo a", a:manifest().steps[1].args.commands[1])
    assert.are.equal("echo b", b:manifest().steps[1].args.commands[1])
    -- the manifest is a copy
    local m = a:manifest()
    m.steps[1].args.commands[1] = "changed"
    m.steps[2] = { type = "run" }
    assert.are.same({ "echo a" }, a:manifest().steps[1].args.commands)
    assert.are.equal(1, #a:manifest().steps)
    misuse("an Image is immutable", function() a.base = "x" end)
    -- the memory knobs keep the steps
    assert.are.equal(1, #a:builder_memory(8192):runtime_memory(1024):manifest().steps)
    assert.are.equal(1024, a:runtime_memory(1024):manifest().runtimeMemoryMB)
  end)

  it("reads local files and directories when the step is added", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/sub && printf 'one' > " .. dir
      .. "/a.txt && printf '\\000\\001' > " .. dir .. "/sub/b.bin"))
    local img = oc.Image.base():add_local_file(dir .. "/a.txt", "/etc/a.txt")
      :add_local_dir(dir, "/opt/d")
    os.execute("rm -rf " .. dir)
    local steps = img:manifest().steps
    assert.are.same({ path = "/etc/a.txt", content = "b25l", encoding = "base64" },
      steps[1].args)
    assert.are.same({ path = "/opt/d", files = {
      { relativePath = "a.txt", content = "b25l" },
      { relativePath = "sub/b.bin", content = "AAE=" } } }, steps[2].args)
    misuse("Image:add_local_file: /no/such/file: No such file", function()
      oc.Image.base():add_local_file("/no/such/file", "/x")
    end)
    misuse("Image:add_local_dir: /no/such/dir", function()
      oc.Image.base():add_local_dir("/no/such/dir", "/x")
    end)
  end)

  it("refuses bad arguments at the call that adds the step", function()
    local b = oc.Image.base()
    for _, case in ipairs{
      { "Image:apt_install: packages must be a non-empty list of strings, got an empty list",
        function() b:apt_install{} end },
      { 'Image:apt_install: packages must be a list of strings, got the string "curl"',
        function() b:apt_install("curl") end },
      { "Image:pip_install: packages[2] is an empty string",
        function() b:pip_install{ "a", "" } end },
      { "Image:run: commands[1] must be a string",
        function() b:run{ true } end },
      { 'Image:env: the string "A=B" is not a variable name',
        function() b:env{ ["A=B"] = "c" } end },
      { "Image:env: vars must be a non-empty table",
        function() b:env{} end },
      { 'Image:workdir: the path must be an absolute path, got the string "w"',
        function() b:workdir("w") end },
      { "Image:add_file: the content must be a string (the file's bytes), got nil",
        function() b:add_file("/x") end },
      { 'Image:add_dir: the file "a/../../x" would be outside the directory',
        function() b:add_dir("/d", { ["a/../../x"] = "" }) end },
      { "Image:add_dir: the files' keys must be relative paths",
        function() b:add_dir("/d", { ["/abs"] = "" }) end },
      { "Image:builder_memory: give the memory in MiB as one of 1024, 4096, 8192, 16384, got the number 0",
        function() b:builder_memory(0) end },
      -- only the tiers the server takes (protocol.md 2.2), not any size
      { "Image:builder_memory: give the memory in MiB as one of 1024, 4096, 8192, 16384, got the number 2048",
        function() b:builder_memory(2048) end },
      { "Image:runtime_memory: give the memory in MiB as one of 1024, 4096, 8192, 16384, got the number 512",
        function() b:runtime_memory(512) end },
      { 'Image:runtime_memory: give the memory in MiB as one of 1024, 4096, 8192, 16384, got the string "1024"',
        function() b:runtime_memory("1024") end },
      { "Image:apt_install: call it with ':' on an image",
        function() b.apt_install{ "x" } end },
      { "Image.base: the base must be a string",
        function() oc.Image.base(5) end },
    } do
      local err = misuse(case[1], case[2])
      -- raised at the script's line, not inside the SDK
      assert.matches("^spec/image_sdk_spec.lua:%d+:", err)
    end
  end)
end)

describe("the build stream parser (client/sse.lua)", function()
  local text = ": keepalive\n\n"
    .. "event: build_log\ndata: {\"step\":1,\"type\":\"run\",\"message\":\"a\"}\n\n"
    .. "event: build_log\r\ndata: {\"message\":\"b\"}\r\n\r\n"
    .. "event: result\rdata: {\"x\":1}\r\r"
    .. "data: one\ndata: two\n\n"
    .. "event: ignored-without-data\n\n"
  local want = { 'build_log {"step":1,"type":"run","message":"a"}',
    'build_log {"message":"b"}', 'result {"x":1}', "message one\ntwo" }

  it("gives the same events however the bytes are split", function()
    for size = 1, #text do
      local got = {}
      local feed = sse.parser(function(name, data) got[#got + 1] = name .. " " .. data end)
      for i = 1, #text, size do feed(text:sub(i, i + size - 1)) end
      assert.are.same(want, got, "pieces of " .. size)
    end
  end)

  it("refuses a line longer than its bound", function()
    local saved = sse.MAX_LINE
    sse.MAX_LINE = 10
    local feed = sse.parser(function() end)
    local ok, err = pcall(function() feed("data: 0123"); feed("456789") end)
    sse.MAX_LINE = saved
    assert.is_false(ok)
    assert.matches("a line longer than 10 bytes", tostring(err))
  end)
end)

local SSE_HEAD = { ["Content-Type"] = "text/event-stream", ["Cache-Control"] = "no-cache" }

describe("a build stream (client/sse.lua build) from a scripted server", function()
  it("hands each line to on_build_log while the stream is still open", function()
    local cond = require("opencomputer.runtime.task").condition()
    local seen_by_server, sent
    local c, stop = scripted(function(req, say, body)
      seen_by_server = { accept = req.headers.accept, body = json.decode(body) }
      req:start(200, SSE_HEAD)
      sent = oc.now()
      say("event: build_log\ndata: {\"step\":0,\"type\":\"build\",\"message\":\"first\"}\n\n")
      -- the result only once the client has handled the first line: a
      -- client that read the whole body first would wait here forever
      assert(cond:wait(5), "the first line did not reach on_build_log")
      say(": keepalive\n\nevent: build_log\ndata: {\"step\":1,\"type\":\"run\",\"message\":\"second\"}\n\n")
      say("event: result\ndata: {\"sandboxID\":\"sb-12345678\",\"status\":\"running\"}\n\n")
      req:finish()
    end)
    local lines, events, latency = {}, {}, nil
    local doc = sse.build(c, "/sandboxes", { snapshot = "x" }, function(line, ev)
      latency = latency or oc.now() - sent
      lines[#lines + 1] = line
      events[#events + 1] = ev
      oc.sleep(0.01)	-- a callback may yield
      cond:signal()
    end)
    stop()
    assert.are.same({ sandboxID = "sb-12345678", status = "running" }, doc)
    assert.are.same({ "first", "second" }, lines)
    assert.are.same({ step = 1, type = "run", message = "second" }, events[2])
    assert.are.equal("text/event-stream", seen_by_server.accept)
    assert.are.same({ snapshot = "x" }, seen_by_server.body)
    print(string.format("\n  build stream: a line written reaches on_build_log "
      .. "after %.2f ms", latency * 1000))
  end)

  it("raises the error event, a stream without result, and refusals", function()
    local mode
    local c, stop = scripted(function(req, say)
      if mode == "refused" then
        req:respond(400, { ["Content-Type"] = "application/json" },
          '{"error":"image: steps[1].type: unknown step type"}')
        return
      elseif mode == "json" then	-- a server that ignores Accept
        req:respond(201, { ["Content-Type"] = "application/json" }, '{"name":"s1"}')
        return
      end
      req:start(200, SSE_HEAD)
      say("event: build_log\ndata: {\"message\":\"step 1\"}\n\n")
      if mode == "error" then
        say("event: error\ndata: {\"error\":\"step 0 (run) failed (exit 3): boom\"}\n\n")
      elseif mode == "unended" then
        say("event: result\ndata: {\"name\":\"s2\"}")	-- no blank line at the end
      end
      req:finish()
    end)
    mode = "error"
    local lines = {}
    local e = fails(E.SandboxError, sse.build, c, "/snapshots", {},
      function(l) lines[#lines + 1] = l end)
    assert.are.equal("Build failed: step 0 (run) failed (exit 3): boom", e.message)
    assert.are.same({ "step 1" }, lines)
    mode = "cut"
    e = fails(E.SandboxError, sse.build, c, "/snapshots", {})
    assert.are.equal("No result received from build stream", e.message)
    mode = "refused"
    e = fails(E.SandboxError, sse.build, c, "/snapshots", {})
    assert.are.equal(400, e.status)
    assert.are.equal("image: steps[1].type: unknown step type", e.message)
    mode = "json"
    assert.are.same({ name = "s1" }, sse.build(c, "/snapshots", {}))
    mode = "unended"
    assert.are.same({ name = "s2" }, sse.build(c, "/snapshots", {}))
    -- an error in the callback ends the stream and is raised
    mode = "error"
    local ok, err = pcall(sse.build, c, "/snapshots", {}, function() error("mine", 0) end)
    assert.is_false(ok)
    assert.are.equal("mine", err)
    stop()
  end)
end)

describe("oc.Snapshot against the local server", function()
  local name = "spec-snap-" .. require("opencomputer.runtime.random").hex(4)
  teardown(function() oc.Snapshot.delete(name, conn()) end)

  it("builds, streaming its log as the build runs; get, list, delete", function()
    local t0 = oc.now()
    local first, echoed, lines = nil, nil, {}
    local img = oc.Image.base()
      :run{ "echo building", "sleep 1" }
      :add_file("/home/sandbox/hello.txt", "hello from the image\n")
    local snap = oc.Snapshot.create(conn{ name = name, image = img,
      on_build_log = function(line, ev)
        first = first or oc.now() - t0
        if line == "building" then echoed = oc.now() - t0 end
        lines[#lines + 1] = ev.type .. ": " .. line
      end })
    local total = oc.now() - t0
    assert.are.equal(name, snap.name)
    assert.are.equal("ready", snap.status)
    assert.is_string(snap.id)
    assert.matches("^%x+$", snap.content_hash)
    assert.is_true(#lines >= 2, "log lines: " .. #lines)
    -- the command's output line came as it was written, while the build
    -- still ran (the command sleeps 1 s after it)
    assert.is_number(echoed, "no 'building' line: " .. table.concat(lines, " | "))
    assert.is_true(echoed < total - 0.5, string.format(
      "'building' after %.3f s, build done after %.3f s", echoed, total))
    print(string.format("\n  snapshot build: first log line after %.1f ms, "
      .. "the command's echo after %.1f ms, result after %.1f ms",
      first * 1000, echoed * 1000, total * 1000))
    local got = oc.Snapshot.get(name, conn())
    assert.are.equal(snap.id, got.id)
    assert.are.equal("ready", got.status)
    local listed = false
    for _, s in ipairs(oc.Snapshot.list(conn())) do
      if s.name == name then listed = true end
    end
    assert.is_true(listed)
    -- a sandbox from it has its files
    local sb <close> = oc.Sandbox.create(conn{ snapshot = name, timeout = 0 })
    assert.are.equal("hello from the image\n",
      sb.files:read("/home/sandbox/hello.txt"))
    -- a second snapshot of the same name is refused
    local e = fails(E.ConflictError, oc.Snapshot.create,
      conn{ name = name, image = img })
    assert.are.equal(409, e.status)
    oc.Snapshot.delete(name, conn())
    fails(E.NotFoundError, oc.Snapshot.get, name, conn())
    oc.Snapshot.delete(name, conn())	-- 404 ignored
  end)

  it("reports a failing step with its index", function()
    local lines = {}
    local e = fails(E.SandboxError, oc.Snapshot.create, conn{
      name = name .. "-bad",
      image = oc.Image.base():run{ "true" }:run{ "echo oops >&2; exit 3" },
      on_build_log = function(l) lines[#lines + 1] = l end })
    assert.matches("^Build failed: image build failed: step 1 %(run%) failed "
      .. "%(exit 3%): oops", e.message)
    assert.are.equal("oops", lines[#lines])	-- the step's output, as a line
    -- a failed snapshot keeps its name, as failed (README, images)
    assert.are.equal("failed", oc.Snapshot.get(name .. "-bad", conn()).status)
    oc.Snapshot.delete(name .. "-bad", conn())
    fails(E.NotFoundError, oc.Snapshot.get, name .. "-bad", conn())
  end)

  it("checks its arguments before any request", function()
    misuse("Snapshot.create: image must be an oc.Image", oc.Snapshot.create,
      { name = "x", image = { base = "base", steps = {} } })
    misuse("Snapshot.create: name must be a string", oc.Snapshot.create,
      { image = oc.Image.base() })
    misuse("Snapshot.create: unknown option 'on_build_logs'", oc.Snapshot.create,
      { name = "x", image = oc.Image.base(), on_build_logs = print })
    misuse("Snapshot.get: unknown option 'url'", oc.Snapshot.get, "x", { url = "y" })
  end)
end)

describe("Sandbox.create{image =} against the local server", function()
  it("builds the image once, streams the log, and starts from the cache", function()
    local img = oc.Image.base()
      :env{ FROM_IMAGE = "yes" }
      :add_dir("/home/sandbox/app", { ["main.lua"] = "print(1)\n", ["d/e.txt"] = "e" })
      :run{ "echo $((6 * 7)) > /home/sandbox/answer" }
    local lines = {}
    local sb <close> = oc.Sandbox.create(conn{ image = img, timeout = 0,
      envs = { MINE = "mine" }, metadata = { from = "spec" },
      on_build_log = function(l, ev) lines[#lines + 1] = ev.type end })
    assert.are.equal("running", sb.status)
    assert.is_true(#lines >= 1)
    assert.are.equal("42\n", sb.files:read("/home/sandbox/answer"))
    assert.are.equal("e", sb.files:read("/home/sandbox/app/d/e.txt"))
    assert.are.equal("mine yes\n", sb.exec:run('echo "$MINE $(. /etc/environment; echo $FROM_IMAGE)"').stdout)
    -- the same manifest again: a cache hit
    local again = {}
    local sb2 <close> = oc.Sandbox.create(conn{ image = img, timeout = 0,
      on_build_log = function(_, ev) again[#again + 1] = ev.type end })
    assert.is_truthy(table.concat(again, " "):find("cache_hit", 1, true),
      "log types: " .. table.concat(again, " "))
    assert.are.equal("42\n", sb2.files:read("/home/sandbox/answer"))
    -- the two diverge
    sb2.files:write("/home/sandbox/answer", "changed")
    assert.are.equal("42\n", sb.files:read("/home/sandbox/answer"))
  end)

  it("refuses what the image path ignores, before any request", function()
    misuse("Sandbox.create: template cannot be given with image", oc.Sandbox.create,
      { image = oc.Image.base(), template = "base" })
    misuse("Sandbox.create: give image or snapshot, not both", oc.Sandbox.create,
      { image = oc.Image.base(), snapshot = "x" })
    misuse("Sandbox.create: on_build_log needs image or snapshot", oc.Sandbox.create,
      { on_build_log = print })
    misuse("Sandbox.create: image must be an oc.Image", oc.Sandbox.create,
      { image = "base" })
  end)

  it("raises the server's failure for an unknown snapshot", function()
    local e = fails(E.SandboxError, oc.Sandbox.create,
      conn{ snapshot = "no-such-snapshot-here" })
    assert.matches("no%-such%-snapshot%-here", e.message)
  end)
end)
