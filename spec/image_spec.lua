-- spec/image_spec.lua - image manifests, snapshots and templates of the
-- local server (protocol.md 2.2 with image/snapshot, 2.2.1, 8.4 by
-- snapshot name, 8.5, 8.6, 8.7) over real HTTP: validation, the content
-- hash and its cache, each step type's effect in a sandbox made from the
-- result, failing steps, the SSE build log as it happens, async builds,
-- snapshot patches, Dockerfile templates, records across a restart.
--
-- The server is this file's own (started here, in this process), so that
-- its image module is the one this file sets KEEPALIVE on. Nothing here
-- leaves this machine: apt_install and pip_install are checked against a
-- package repository and a wheel the build makes inside its sandbox (a
-- file: apt source, a pip find-links directory), never the network.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local json = require("opencomputer.runtime.json")
local http = require("opencomputer.client.http")
local support = require("spec.support.server")

local srv = require("opencomputer.server").start{
  listen = "127.0.0.1:0", api_key = support.KEY,
}
local c = support.client(srv.url, support.KEY)
local image = require("opencomputer.server.image")
local q = support.q

teardown(function() srv.stop() end)

local function b64(s) return core.base64_encode(s) end

-- POST /snapshots {name, image} synchronously: status, body
local function snapshot(name, manifest, query)
  return c:api("POST", "/snapshots", { body = { name = name, image = manifest },
    query = query, timeout = 120 })
end

-- a request answered with server-sent events: the response, and its
-- events {at = oc.now() when it arrived, name, data} (comments: {at,
-- comment}); every event must be exactly "event: X\ndata: {...}\n\n"
local function sse(path, body)
  local events, buf = {}, ""
  local res = http.request("POST", srv.url .. "/api" .. path, {
    headers = { ["Content-Type"] = "application/json",
      ["X-API-Key"] = support.KEY, Accept = "text/event-stream" },
    body = json.encode(body), raise = false, timeout = 120,
    on_body = function(chunk)
      buf = buf .. chunk
      while true do
        local s, e = buf:find("\n\n", 1, true)
        if not s then break end
        local block = buf:sub(1, s - 1)
        buf = buf:sub(e + 1)
        if block:sub(1, 1) == ":" then
          events[#events + 1] = { at = oc.now(), comment = block }
        else
          local name, data = block:match("^event: ([%w_]+)\ndata: ([^\n]+)$")
          assert(name, "not an event: " .. block)
          events[#events + 1] = { at = oc.now(), name = name,
            data = json.decode(data) }
        end
      end
    end,
  })
  assert.are.equal("", buf, "bytes after the last event")
  return res, events
end

-- the build_log messages of events (of `kind`, if given)
local function messages(events, kind)
  local out = {}
  for _, ev in ipairs(events) do
    if ev.name == "build_log" and (not kind or ev.data.type == kind) then
      out[#out + 1] = ev.data.message
    end
  end
  return out
end

local function contains(list, value)
  for _, v in ipairs(list) do if v == value then return true end end
  return false
end

local function sandbox_from(body)
  local status, doc = c:api("POST", "/sandboxes", { body = body, timeout = 120 })
  assert.are.equal(201, status, json.encode(doc))
  return doc.sandboxID, doc
end

local function run(id, cmd)
  return c:run(id, cmd).stdout
end

local function file_of(id, path)
  local status, _, res = c:api("GET", "/sandboxes/" .. id .. "/files",
    { query = "path=" .. q(path) })
  assert.are.equal(200, status)
  return res.body
end

local n = 0
local function unique(prefix)
  n = n + 1
  return prefix .. "-" .. n .. "-" .. math.random(1, 1e9)
end

describe("image manifests: validation", function()
  local function refused(manifest, pattern)
    local name = unique("bad")
    local status, doc = snapshot(name, manifest)
    assert.are.equal(400, status, json.encode(doc))
    assert.matches(pattern, doc.error)
    assert.are.equal(404, (c:api("GET", "/snapshots/" .. name)))
    -- the create path says the same about the same manifest
    local s2, d2 = c:api("POST", "/sandboxes", { body = { image = manifest } })
    assert.are.equal(400, s2)
    assert.are.equal(doc.error, d2.error)
  end

  it("refuses each malformed step with the field named", function()
    local ok = b64("x")
    for _, case in ipairs({
      { { base = "alpine" }, 'image.base must be one of "", "base", "ubuntu", "default", not "alpine"' },
      { { steps = { { type = "run" } } }, "image.steps%[0%].args is required" },
      { { steps = { { args = {} } } }, "image.steps%[0%].type is required" },
      { { steps = { { type = "copy", args = {} } } }, 'image.steps%[0%].type must be one of' },
      { { steps = "run" }, "image.steps must be a list" },
      { { steps = { { type = "apt_install", args = { packages = {} } } } },
        "image.steps%[0%].args.packages must not be empty" },
      { { steps = { { type = "apt_install", args = { packages = { "curl", "-oAPT::x=1" } } } } },
        "image.steps%[0%].args.packages%[1%] must be a Debian package name" },
      { { steps = { { type = "pip_install", args = { packages = { "-e ." } } } } },
        "packages%[0%] must be a pip requirement" },
      { { steps = { { type = "run", args = { commands = { "" } } } } },
        "commands%[0%] must not be empty" },
      { { steps = { { type = "run", args = { commands = "ls" } } } },
        "commands must be a list" },
      { { steps = { { type = "env", args = { vars = { ["1A"] = "x" } } } } },
        'must be a shell variable name' },
      { { steps = { { type = "env", args = { vars = { A = "x\ny" } } } } },
        'vars%["A"%] must be one line' },
      { { steps = { { type = "workdir", args = { path = "rel/dir" } } } },
        "args.path must be an absolute path" },
      { { steps = { { type = "add_file", args = { path = "etc/x", content = ok } } } },
        "args.path must be an absolute path" },
      { { steps = { { type = "add_file", args = { path = "/etc/", content = ok } } } },
        "args.path must name a file" },
      { { steps = { { type = "add_file", args = { path = "/x" } } } },
        "args.content is required" },
      { { steps = { { type = "add_file", args = { path = "/x", content = "eA" } } } },
        "args.content must be base64: base64 length must be a multiple of 4" },
      { { steps = { { type = "add_file", args = { path = "/x", content = "eR==" } } } },
        "padding bits must be zero" },
      { { steps = { { type = "add_file", args = { path = "/x", content = "e A=" } } } },
        "not a base64 character %(at character 1%)" },
      { { steps = { { type = "add_file", args = { path = "/x", content = ok, encoding = "gzip" } } } },
        'encoding must be one of "", "base64"' },
      { { steps = { { type = "add_dir", args = { path = "/opt", files = {
          { relativePath = "../etc/passwd", content = ok } } } } } },
        "files%[0%].relativePath must not contain %.%." },
      { { steps = { { type = "add_dir", args = { path = "/opt", files = {
          { relativePath = "/abs", content = ok } } } } } },
        "relativePath must be a relative path" },
      { { steps = { { type = "add_dir", args = { path = "/opt", files = {
          { relativePath = "a//b", content = ok } } } } } },
        "must not hold an empty or %. segment" },
      { { steps = { { type = "add_dir", args = { path = "/opt", files = {
          { relativePath = "a", content = ok }, { relativePath = "a", content = ok } } } } } },
        'files%[1%].relativePath "a" appears twice' },
      { { steps = { { type = "add_dir", args = { path = "/opt", files = {} } } } },
        "files must not be empty" },
      { { builderMemoryMB = 3000 }, "image.builderMemoryMB must be one of 1024, 4096, 8192, 16384" },
      { { name = "../x" }, "image.name must be 1 to 128 letters" },
    }) do
      refused(case[1], case[2])
    end
    local many = {}
    for i = 1, 257 do many[i] = { type = "run", args = { commands = { "true" } } } end
    refused({ steps = many }, "image.steps must have at most 256 entries")
  end)

  it("wants a name and an image, and a name that is a path segment", function()
    local status, doc = c:api("POST", "/snapshots", { body = { image = {} } })
    assert.are.equal(400, status)
    assert.are.same({ error = "name is required" }, doc)
    status, doc = c:api("POST", "/snapshots", { body = { name = "x" } })
    assert.are.equal(400, status)
    assert.are.same({ error = "image is required" }, doc)
    status, doc = snapshot("a/b", {})
    assert.are.equal(400, status)
    assert.matches("name must be 1 to 128 letters", doc.error)
  end)
end)

describe("image manifests: content hash and cache", function()
  it("hashes the canonical {base, steps}: key order, aliases, name and memory do not count", function()
    local content = b64("{}\n")
    local a = { base = "base", steps = {
      { type = "env", args = { vars = { B = "2", A = "1" } } },
      { type = "add_file", args = { path = "/etc/h.json", content = content, encoding = "base64" } },
    } }
    -- the same content written differently: keys in another order (the
    -- JSON text), an alias of base, no encoding, a name and memory knobs
    local text = '{"runtimeMemoryMB":4096,"steps":[{"args":{"vars":{"A":"1","B":"2"}},"type":"env"},'
      .. '{"args":{"content":"' .. content .. '","path":"/etc/h.json"},"type":"add_file"}],'
      .. '"base":"ubuntu","name":"' .. unique("named") .. '"}'
    local s1 = unique("hash")
    local status, one = snapshot(s1, a)
    assert.are.equal(201, status, json.encode(one))
    assert.are.equal("ready", one.status)
    -- the hash is SHA-256 of the canonical JSON, computed here on its own:
    -- the text the official TypeScript SDK's Image.cacheKey() hashes
    local canonical = '{"base":"base","steps":[{"type":"env","args":{"vars":{"A":"1","B":"2"}}},'
      .. '{"type":"add_file","args":{"path":"/etc/h.json","content":"' .. content
      .. '","encoding":"base64"}}]}'
    assert.are.equal(core.sha256(canonical), one.contentHash)
    local s2 = unique("hash")
    local res, events = sse("/snapshots", { name = s2, image = json.decode(text) })
    assert.are.equal(200, res.status)
    local last = events[#events]
    assert.are.equal("result", last.name)
    assert.are.equal(one.contentHash, last.data.contentHash)
    assert.are.equal(one.checkpointId, last.data.checkpointId)
    assert.are.equal(1, #messages(events, "cache_hit"))
    assert.are.same({}, messages(events, "build"))
    assert.are.same({}, messages(events, "env"))
    -- a different step is a different image
    a.steps[1].args.vars.A = "changed"
    local _, three = snapshot(unique("hash"), a)
    assert.are_not.equal(one.contentHash, three.contentHash)
    assert.are_not.equal(one.checkpointId, three.checkpointId)
  end)

  it("runs one build for identical manifests asked at once", function()
    local m = { steps = { { type = "run", args = { commands = {
      "sleep 0.5; echo " .. unique("once") } } } } }
    local results = {}
    local tasks = {}
    for i = 1, 3 do
      tasks[i] = oc.spawn(function()
        local res, events = sse("/sandboxes", { image = m })
        results[i] = { res = res, events = events }
      end)
    end
    for _, t in ipairs(tasks) do t:wait() end
    local built, waited, checkpoints = 0, 0, {}
    for _, r in ipairs(results) do
      local last = r.events[#r.events]
      assert.are.equal("result", last.name, json.encode(last.data))
      checkpoints[last.data.fromCheckpointId] = true
      for _, msg in ipairs(messages(r.events, "build")) do
        if msg:find("^building image") then built = built + 1 end
        if msg:find("^waiting for the identical build") then waited = waited + 1 end
      end
      assert.are.equal("running", last.data.status)
      assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. last.data.sandboxID)))
    end
    assert.are.equal(1, built)
    assert.are.equal(2, waited)
    assert.are.equal(1, #(function() local l = {} for k in pairs(checkpoints) do l[#l + 1] = k end return l end)())
  end)
end)

describe("image manifests: the effect of each step", function()
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  bytes = table.concat(bytes) .. "\r\n\0end"
  local name = unique("steps")

  setup(function()
    local status, doc = snapshot(name, { base = "", steps = {
      { type = "run", args = { commands = { "echo built > /tmp/run-1",
        "whoami >> /tmp/run-1" } } },
      { type = "env", args = { vars = { PROJECT_ROOT = "/workspace/proj",
        QUOTED = "it's \"x\" $HOME" } } },
      { type = "workdir", args = { path = "/workspace/proj/deep" } },
      { type = "add_file", args = { path = "/etc/app/bytes.bin", content = b64(bytes) } },
      { type = "add_file", args = { path = "/etc/app/empty", content = "", encoding = "" } },
      { type = "add_dir", args = { path = "/opt/tree/", files = {
        { relativePath = "a/b/c.txt", content = b64("c\n") },
        { relativePath = "top.txt", content = b64("top") },
        { relativePath = "a/d.txt", content = b64("d") } } } },
    } })
    assert.are.equal(201, status, json.encode(doc))
  end)

  it("has every step's result in a sandbox made from the snapshot", function()
    local id, doc = sandbox_from({ snapshot = name, envs = { MINE = "yes" },
      metadata = { who = "spec" } })
    assert.are.equal("running", doc.status)
    assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", doc.fromCheckpointId)
    assert.are.equal("", doc.token)
    assert.are.same({ who = "spec" }, doc.metadata)
    -- run: as the sandbox user
    assert.are.equal("built\nsandbox\n", run(id, "cat /tmp/run-1"))
    -- env: a login shell has it; /etc/environment holds the K=V lines
    assert.are.equal("/workspace/proj|it's \"x\" $HOME|yes\n",
      run(id, [[bash -lc 'echo "$PROJECT_ROOT|$QUOTED|$MINE"']]))
    assert.are.equal("PROJECT_ROOT=/workspace/proj\nQUOTED=it's \"x\" $HOME\n",
      run(id, "cat /etc/environment"))
    -- a plain exec does not read them (as the cloud's)
    assert.are.equal("[]\n", run(id, 'echo "[$PROJECT_ROOT]"'))
    -- workdir: made, the sandbox user's
    assert.are.equal("sandbox\n", run(id, "stat -c %U /workspace/proj/deep"))
    -- add_file: exact bytes, root's
    assert.are.equal(bytes, file_of(id, "/etc/app/bytes.bin"))
    assert.are.equal("", file_of(id, "/etc/app/empty"))
    assert.are.equal("root 644\n", run(id, "stat -c '%U %a' /etc/app/bytes.bin"))
    -- add_dir: the tree
    assert.are.equal("/opt/tree/a/b/c.txt\n/opt/tree/a/d.txt\n/opt/tree/top.txt\n",
      run(id, "find /opt/tree -type f | sort"))
    assert.are.equal("c\n", file_of(id, "/opt/tree/a/b/c.txt"))
    assert.are.equal("top", file_of(id, "/opt/tree/top.txt"))
    -- the build sandbox is gone; the new one diverges on its own
    run(id, "echo mine > /tmp/run-1")
    local other = sandbox_from({ snapshot = name })
    assert.are.equal("built\nsandbox\n", run(other, "cat /tmp/run-1"))
    local _, list = c:api("GET", "/sandboxes")
    for _, sb in ipairs(list) do
      assert.is_nil(sb.metadata and sb.metadata["oclua:image-build"])
    end
  end)

  it("installs apt packages (from a file: repository the build makes)", function()
    local prep = table.concat({
      "set -e",
      -- (until the sandbox template carries the system groups that the
      -- host's dpkg statoverride names: without them dpkg refuses to run)
      [[sudo sh -c 'for g in $(cut -d" " -f2 /var/lib/dpkg/statoverride 2>/dev/null); do getent group "$g" >/dev/null || groupadd -r "$g"; done']],
      "mkdir -p /tmp/repo /tmp/pkg/DEBIAN /tmp/pkg/usr/share/oclua-test",
      [[printf 'Package: oclua-test\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: test\n' > /tmp/pkg/DEBIAN/control]],
      "echo installed > /tmp/pkg/usr/share/oclua-test/marker",
      "dpkg-deb -Zgzip --build /tmp/pkg /tmp/repo/oclua-test_1.0_all.deb > /dev/null",
      "cd /tmp/repo",
      [[{ cat /tmp/pkg/DEBIAN/control; echo "Filename: ./oclua-test_1.0_all.deb"; echo "Size: $(stat -c %s oclua-test_1.0_all.deb)"; echo "SHA256: $(sha256sum oclua-test_1.0_all.deb | cut -d' ' -f1)"; echo; } > Packages]],
      "sudo rm -f /etc/apt/sources.list.d/*",
      "echo 'deb [trusted=yes] file:/tmp/repo ./' | sudo tee /etc/apt/sources.list > /dev/null",
    }, "\n")
    local name2 = unique("apt")
    local status, doc = snapshot(name2, { steps = {
      { type = "run", args = { commands = { prep } } },
      { type = "apt_install", args = { packages = { "oclua-test" } } } } })
    assert.are.equal(201, status, json.encode(doc))
    local id = sandbox_from({ snapshot = name2 })
    assert.are.equal("installed\n", run(id, "cat /usr/share/oclua-test/marker"))
    assert.matches("^ii", run(id, "dpkg -l oclua-test | tail -1"))
    -- a package the repository lacks: apt's own error, step 1
    status, doc = snapshot(unique("apt"), { steps = {
      { type = "run", args = { commands = { prep } } },
      { type = "apt_install", args = { packages = { "oclua-no-such-package" } } } } })
    assert.are.equal(500, status)
    assert.matches("^image build failed: step 1 %(apt_install%) failed %(exit 100%): .*"
      .. "Unable to locate package oclua%-no%-such%-package", doc.error)
  end)

  it("installs pip packages (from a wheel the build makes)", function()
    local prep = table.concat({
      "set -e",
      "mkdir -p /tmp/wh/src/ocltest /tmp/wh/src/ocltest-1.0.dist-info",
      "echo 'VALUE = 42' > /tmp/wh/src/ocltest/__init__.py",
      [[printf 'Metadata-Version: 2.1\nName: ocltest\nVersion: 1.0\n' > /tmp/wh/src/ocltest-1.0.dist-info/METADATA]],
      [[printf 'Wheel-Version: 1.0\nGenerator: spec\nRoot-Is-Purelib: true\nTag: py3-none-any\n' > /tmp/wh/src/ocltest-1.0.dist-info/WHEEL]],
      "printf 'ocltest/__init__.py,,\\nocltest-1.0.dist-info/METADATA,,\\nocltest-1.0.dist-info/WHEEL,,\\nocltest-1.0.dist-info/RECORD,,\\n' > /tmp/wh/src/ocltest-1.0.dist-info/RECORD",
      "cd /tmp/wh/src && python3 -m zipfile -c /tmp/wh/ocltest-1.0-py3-none-any.whl ocltest ocltest-1.0.dist-info",
      [[printf '[global]\nno-index = true\nfind-links = /tmp/wh\n' | sudo tee /etc/pip.conf > /dev/null]],
    }, "\n")
    local probe = sandbox_from({})
    local has_pip = c:run(probe, "python3 -m pip --version").exitCode == 0
    c:api("DELETE", "/sandboxes/" .. probe)
    local name2 = unique("pip")
    local status, doc = snapshot(name2, { steps = {
      { type = "run", args = { commands = { has_pip and prep or "true" } } },
      { type = "pip_install", args = { packages = { "ocltest" } } } } })
    if not has_pip then
      -- this host has no pip for python3: the step is pip's command all
      -- the same, and fails as pip's absence makes it
      assert.are.equal(500, status)
      assert.matches("step 1 %(pip_install%) failed %(exit %d+%): .*pip", doc.error)
      return
    end
    assert.are.equal(201, status, json.encode(doc))
    local id = sandbox_from({ snapshot = name2 })
    assert.are.equal("42\n", run(id, "python3 -c 'import ocltest; print(ocltest.VALUE)'"))
  end)
end)

describe("image manifests: a failing step", function()
  local failing = { steps = {
    { type = "run", args = { commands = { "echo fine" } } },
    { type = "run", args = { commands = { "echo out; echo 'it broke' >&2; exit 3" } } },
    { type = "run", args = { commands = { "echo never" } } } } }

  it("fails the synchronous build with the step's index, exit code and stderr", function()
    local name = unique("fail")
    local status, doc = snapshot(name, failing)
    assert.are.equal(500, status)
    assert.are.same({ error = "image build failed: step 1 (run) failed (exit 3): it broke" }, doc)
    status, doc = c:api("GET", "/snapshots/" .. name)
    assert.are.equal(200, status)
    assert.are.equal("failed", doc.status)
    assert.are.equal("step 1 (run) failed (exit 3): it broke", doc.errorMsg)
    assert.is_nil(doc.checkpointId)
    -- a failed snapshot's name is free again
    status, doc = snapshot(name, {})
    assert.are.equal(201, status, json.encode(doc))
    assert.are.equal("ready", doc.status)
  end)

  it("keeps the first 500 bytes of stderr", function()
    local status, doc = snapshot(unique("fail"), { steps = { { type = "run",
      args = { commands = { "head -c 2000 /dev/zero | tr '\\0' e >&2; exit 1" } } } } })
    assert.are.equal(500, status)
    assert.are.equal("image build failed: step 0 (run) failed (exit 1): "
      .. ("e"):rep(500), doc.error)
  end)

  it("answers 400 on the create path, and an SSE error event", function()
    local status, doc = c:api("POST", "/sandboxes", { body = { image = failing } })
    assert.are.equal(400, status)
    assert.are.same({ error = "image build failed: step 1 (run) failed (exit 3): it broke" }, doc)
    local res, events = sse("/sandboxes", { image = failing })
    assert.are.equal(200, res.status)
    assert.are.same({ error = "image build failed: step 1 (run) failed (exit 3): it broke" },
      events[#events].data)
    assert.are.equal("error", events[#events].name)
    assert.is_true(contains(messages(events, "run"), "fine"))
    assert.is_false(contains(messages(events, "run"), "never"))
    -- an unknown or unready snapshot
    status, doc = c:api("POST", "/sandboxes", { body = { snapshot = "no-such-snapshot" } })
    assert.are.equal(400, status)
    assert.are.same({ error = 'snapshot "no-such-snapshot" not found' }, doc)
  end)
end)

describe("image manifests: SSE", function()
  it("streams each line of a step as it is written, then the result", function()
    local marker = unique("sse")
    local res, events = sse("/sandboxes", { image = { steps = {
      { type = "run", args = { commands = { "echo " .. marker .. "; sleep 1; echo a; sleep 1; echo b" } } },
    } }, envs = { X = "1" } })
    assert.are.equal(200, res.status)
    assert.are.equal("text/event-stream", res.headers["content-type"])
    assert.are.equal("no-cache", res.headers["cache-control"])
    local at = {}
    local kinds = {}
    for _, ev in ipairs(events) do
      if ev.name == "build_log" then
        at[ev.data.message] = ev.at
        kinds[#kinds + 1] = ev.data.type .. ":" .. ev.data.step
        assert.are.equal("number", type(ev.data.step))
      end
    end
    local last = events[#events]
    assert.are.equal("result", last.name)
    -- `a` reached this client while the build still ran
    assert.is_truthy(at.a and at.b)
    assert.is_true(at.b - at.a > 0.7, "a and b came together")
    assert.is_true(last.at - at.a > 0.7, "a came with the result")
    -- build (step 0), the run step (1-based: start, lines, completed),
    -- checkpoint (steps + 1), create (0)
    assert.are.same({ "build:0", "run:1", "run:1", "run:1", "run:1", "run:1",
      "checkpoint:2", "create:0" }, kinds)
    assert.matches("^run completed", messages(events, "run")[5])
    local doc = last.data
    assert.are.equal("running", doc.status)
    assert.are.equal("", doc.token)
    assert.is_string(doc.fromCheckpointId)
    assert.are.equal("1\n", run(doc.sandboxID, "echo $X"))
    -- the snapshot path: resolve, then create
    local name = unique("sse")
    assert.are.equal(201, (snapshot(name, {})))
    res, events = sse("/sandboxes", { snapshot = name })
    kinds = {}
    for _, ev in ipairs(events) do
      if ev.name == "build_log" then kinds[#kinds + 1] = ev.data.type end
    end
    assert.are.same({ "resolve", "create" }, kinds)
    assert.are.equal("result", events[#events].name)
  end)

  it("writes a keepalive comment while a step is quiet", function()
    local was = image.KEEPALIVE
    image.KEEPALIVE = 0.3
    finally(function() image.KEEPALIVE = was end)
    local _, events = sse("/snapshots", { name = unique("quiet"), image = { steps = {
      { type = "run", args = { commands = { "sleep 1.2; echo " .. unique("q") } } } } } })
    local comments = 0
    for _, ev in ipairs(events) do
      if ev.comment then
        assert.are.equal(": keepalive", ev.comment)
        comments = comments + 1
      end
    end
    assert.is_true(comments >= 2, comments .. " keepalives")
    assert.are.equal("result", events[#events].name)
    assert.are.equal("ready", events[#events].data.status)
  end)
end)

describe("snapshots", function()
  it("builds with ?async=1: 202 building, then ready", function()
    local name = unique("async")
    local status, doc = snapshot(name, { steps = { { type = "run",
      args = { commands = { "sleep 0.5; echo " .. name } } } } }, "async=1")
    assert.are.equal(202, status)
    assert.are.equal("building", doc.status)
    assert.are.equal(name, doc.name)
    local t0 = oc.now()
    repeat
      oc.sleep(0.1)
      status, doc = c:api("GET", "/snapshots/" .. name)
    until doc.status ~= "building" or oc.now() - t0 > 30
    assert.are.equal(200, status)
    assert.are.equal("ready", doc.status)
    assert.is_string(doc.checkpointId)
    -- async and failing: failed, with the message
    local bad = unique("async")
    status = snapshot(bad, { steps = { { type = "run", args = { commands = { "exit 7" } } } } },
      "async=1")
    assert.are.equal(202, status)
    repeat
      oc.sleep(0.1)
      status, doc = c:api("GET", "/snapshots/" .. bad)
    until doc.status ~= "building"
    assert.are.equal("failed", doc.status)
    assert.are.equal("step 0 (run) failed (exit 7): ", doc.errorMsg)
  end)

  it("lists, gets, refuses a taken name, deletes", function()
    local name = unique("list")
    local status, doc = snapshot(name, {})
    assert.are.equal(201, status)
    assert.are.equal(name, doc.name)
    assert.are.equal("", doc.orgId)
    assert.are.same({ base = "base", steps = {} }, doc.manifest)
    status, doc = snapshot(name, {})
    assert.are.equal(409, status)
    assert.are.same({ error = "snapshot name already exists" }, doc)
    local _, list = c:api("GET", "/snapshots")
    local found = false
    for _, s in ipairs(list) do
      assert.is_string(s.name)
      found = found or s.name == name
    end
    assert.is_true(found)
    -- /images lists the unnamed cache entries as well
    local _, images = c:api("GET", "/images")
    local unnamed = false
    for _, s in ipairs(images) do unnamed = unnamed or s.name == nil end
    assert.is_true(unnamed)
    assert.are.equal(403, (c:api("POST", "/snapshots/" .. name .. "/publish")))
    assert.are.equal(204, (c:api("DELETE", "/snapshots/" .. name)))
    status, doc = c:api("GET", "/snapshots/" .. name)
    assert.are.equal(404, status)
    assert.are.same({ error = "snapshot not found" }, doc)
    assert.are.equal(404, (c:api("DELETE", "/snapshots/" .. name)))
    status, doc = c:api("POST", "/sandboxes", { body = { snapshot = name } })
    assert.are.equal(400, status)
  end)

  it("registers the manifest's name as a snapshot on the create path", function()
    local name = unique("via-create")
    local id = sandbox_from({ image = { name = name, steps = {
      { type = "run", args = { commands = { "echo " .. name .. " > /tmp/n" } } } } } })
    assert.are.equal(name .. "\n", run(id, "cat /tmp/n"))
    local status, doc = c:api("GET", "/snapshots/" .. name)
    assert.are.equal(200, status)
    assert.are.equal("ready", doc.status)
    local other = sandbox_from({ snapshot = name })
    assert.are.equal(name .. "\n", run(other, "cat /tmp/n"))
  end)

  it("applies the patches of a snapshot to sandboxes made from it", function()
    local name = unique("patched")
    assert.are.equal(201, (snapshot(name, { steps = { { type = "run",
      args = { commands = { "echo base > /tmp/state" } } } } })))
    local status, doc = c:api("POST", "/snapshots/" .. name .. "/patches",
      { body = { script = "echo patched >> /tmp/state", description = "one" } })
    assert.are.equal(201, status, json.encode(doc))
    local pid = doc.patch.id
    assert.are.equal(1, doc.patch.sequence)
    local _, list = c:api("GET", "/snapshots/" .. name .. "/patches")
    assert.are.equal(1, #list)
    assert.are.equal(pid, list[1].id)
    local id = sandbox_from({ snapshot = name })
    assert.are.equal("base\npatched\n", run(id, "cat /tmp/state"))
    -- the same patches by image id
    local _, snap = c:api("GET", "/snapshots/" .. name)
    _, list = c:api("GET", "/images/" .. snap.id .. "/patches")
    assert.are.equal(pid, list[1].id)
    assert.are.equal(204, (c:api("DELETE", "/snapshots/" .. name .. "/patches/" .. pid)))
    _, list = c:api("GET", "/snapshots/" .. name .. "/patches")
    assert.are.same({}, list)
    assert.are.equal("base\n", run(sandbox_from({ snapshot = name }), "cat /tmp/state"))
    -- unknown names
    status, doc = c:api("GET", "/snapshots/nope/patches")
    assert.are.equal(404, status)
    assert.are.same({ error = 'snapshot "nope" not found' }, doc)
    status, doc = c:api("POST", "/images/nope/patches", { body = { script = "true" } })
    assert.are.equal(404, status)
    assert.are.same({ error = 'image "nope" not found' }, doc)
  end)
end)

describe("templates", function()
  it("builds a Dockerfile; a sandbox from its templateID has its RUN, ENV, WORKDIR and COPY", function()
    local name = unique("tpl")
    local dockerfile = table.concat({
      "# syntax=docker/dockerfile:1",
      "FROM base",
      'ENV GREETING="hello world" \\',
      "    OTHER=2",
      "WORKDIR /srv/app",
      'RUN echo "$GREETING from $(whoami) in $(pwd)" > out.txt',
      "USER sandbox",
      'RUN ["sh", "-c", "whoami > /tmp/who"]',
      "COPY <<'EOF' notes.txt",
      "literal $HOME",
      "EOF",
    }, "\n")
    local status, doc = c:api("POST", "/templates", { body = { name = name,
      dockerfile = dockerfile }, timeout = 120 })
    assert.are.equal(201, status, json.encode(doc))
    assert.are.equal(name, doc.templateID)
    assert.are.equal(name, doc.name)
    assert.are.equal("latest", doc.tag)
    assert.are.equal("ready", doc.status)
    assert.is_string(doc.imageID)
    assert.is_string(doc.buildID)
    assert.matches("^%d+%-%d+%-%d+T", doc.createdAt)
    local id, sb = sandbox_from({ templateID = name, envs = { MINE = "m" } })
    assert.are.equal(name, sb.templateID)
    assert.are.equal("hello world from root in /srv/app\n", run(id, "cat /srv/app/out.txt"))
    assert.are.equal("sandbox\n", run(id, "cat /tmp/who"))
    assert.are.equal("literal $HOME\n", file_of(id, "/srv/app/notes.txt"))
    assert.are.equal("hello world 2 m\n", run(id, [[bash -lc 'echo "$GREETING $OTHER $MINE"']]))
    -- list, get, delete; then the name is unknown again
    local _, list = c:api("GET", "/templates")
    local found = false
    for _, t in ipairs(list) do found = found or t.name == name end
    assert.is_true(found)
    status, doc = c:api("GET", "/templates/" .. name)
    assert.are.equal(200, status)
    assert.are.equal("ready", doc.status)
    assert.are.equal(204, (c:api("DELETE", "/templates/" .. name)))
    status, doc = c:api("GET", "/templates/" .. name)
    assert.are.equal(404, status)
    assert.are.same({ error = "template not found: " .. name }, doc)
    status, doc = c:api("POST", "/sandboxes", { body = { templateID = name } })
    assert.are.equal(404, status)
    assert.are.same({ error = "template not found: " .. name }, doc)
  end)

  it("starts a sandbox from a template with the create's networkEnabled and diskMB", function()
    local name = unique("tplnet")
    local status, doc = c:api("POST", "/templates", { body = { name = name,
      dockerfile = "FROM base\nRUN echo built > /tmp/built\n" }, timeout = 120 })
    assert.are.equal(201, status, json.encode(doc))
    -- the disk quota of a sandbox's subvolume, as btrfs has it (MiB)
    local function quota_mb(id)
      local dir = srv.registry.by_id[id].dir
      local out = support.output({ "btrfs", "qgroup", "show", "-re", "--raw", dir })
      local max = out:match("%d+/%d+%s+%d+%s+%d+%s+(%d+)%s+%S+%s+" .. id:gsub("%-", "%%-"))
      return max and tonumber(max) // 1048576
    end
    local id, sb = sandbox_from({ templateID = name, networkEnabled = false, diskMB = 30720 })
    assert.are.equal(30720, sb.diskMB)
    assert.are.equal(30720, quota_mb(id))
    local r = run(id, "cat /tmp/built /proc/net/dev /etc/resolv.conf")
    assert.matches("^built\n", r)
    assert.is_nil(r:find("tap0"), r)
    assert.matches("no network", r)
    -- without them: the image's (network on, the default disk)
    local id2, sb2 = sandbox_from({ templateID = name })
    assert.are.equal(20480, sb2.diskMB)
    assert.are.equal(20480, quota_mb(id2))
    r = run(id2, "cat /proc/net/dev /etc/resolv.conf")
    assert.matches("tap0", r)
    assert.is_nil(r:find("no network"), r)
    -- a diskMB out of bounds is refused as on any create; nothing is made
    local _, before = c:api("GET", "/sandboxes")
    status, doc = c:api("POST", "/sandboxes", { body = { templateID = name, diskMB = 100 } })
    assert.are.equal(400, status)
    assert.are.same({ error = "diskMB must be at least 20480 (20GB)" }, doc)
    local _, after = c:api("GET", "/sandboxes")
    assert.are.equal(#before, #after)
    -- the fork route takes neither (protocol.md 8.2): a fork of the
    -- network-less sandbox keeps its network and disk
    status, doc = c:api("POST", "/sandboxes/" .. id .. "/checkpoints", { body = { name = "n" } })
    assert.are.equal(201, status)
    local t0 = oc.now()
    repeat
      oc.sleep(0.05)
      local _, list = c:api("GET", "/sandboxes/" .. id .. "/checkpoints")
      doc = list[1]
    until doc.status ~= "processing" or oc.now() - t0 > 10
    assert.are.equal("ready", doc.status)
    status, doc = c:api("POST", "/sandboxes/from-checkpoint/" .. doc.id,
      { body = { networkEnabled = true, diskMB = 40960 } })
    assert.are.equal(201, status, json.encode(doc))
    assert.are.equal(30720, quota_mb(doc.sandboxID))
    r = run(doc.sandboxID, "cat /proc/net/dev")
    assert.is_nil(r:find("tap0"), r)
    -- and neither does a create from an image (8.3)
    local id3, sb3 = sandbox_from({ image = { steps = { { type = "run", args = {
      commands = { "true" } } } } }, networkEnabled = false, diskMB = 30720 })
    assert.are.equal(20480, sb3.diskMB)
    assert.matches("tap0", run(id3, "cat /proc/net/dev"))
  end)

  it("refuses what is outside the subset, naming the line", function()
    for _, case in ipairs({
      { "FROM ubuntu:22.04\n", "dockerfile line 1: FROM ubuntu:22.04: only FROM base" },
      { "RUN true\n", "dockerfile line 1: RUN: the first instruction must be FROM base" },
      { "FROM base\n\n# c\nCMD [\"sh\"]\n", "dockerfile line 4: CMD is not supported" },
      { "FROM base\nRUN a \\\n  b\nEXPOSE 80\n", "dockerfile line 4: EXPOSE is not supported" },
      { "FROM base\nCOPY app.py /app/\n", "dockerfile line 2: COPY copies only inline content" },
      { "FROM base\nADD x /x\n", "dockerfile line 2: ADD is not supported" },
      { "FROM base\nUSER nobody\n", "dockerfile line 2: USER nobody: only root and sandbox" },
      { "FROM base\nENV A=$B\n", "dockerfile line 2: ENV A: variable substitution" },
      { "FROM base\nCOPY <<EOF /x\nno end\n", "dockerfile line 2: the heredoc EOF is not closed" },
      { "FROM base\nRUN --mount=type=cache true\n", "dockerfile line 2: RUN %-%-mount=type=cache: RUN flags" },
      { "# only a comment\n", "dockerfile: the first instruction must be FROM base" },
    }) do
      local name = unique("tplbad")
      local status, doc = c:api("POST", "/templates", { body = { name = name,
        dockerfile = case[1] } })
      assert.are.equal(400, status, case[1])
      assert.matches(case[2], doc.error)
      assert.are.equal(404, (c:api("GET", "/templates/" .. name)))
    end
    local status, doc = c:api("POST", "/templates", { body = { name = "base",
      dockerfile = "FROM base\n" } })
    assert.are.equal(400, status)
    assert.matches("built%-in template", doc.error)
    status, doc = c:api("POST", "/templates", { body = { name = "t", dockerfile = 7 } })
    assert.are.equal(400, status)
    assert.matches("dockerfile must be a string", doc.error)
  end)

  it("reports a failed RUN as the build's error", function()
    local name = unique("tplfail")
    local status, doc = c:api("POST", "/templates", { body = { name = name,
      dockerfile = "FROM base\nUSER sandbox\nRUN echo nope >&2; exit 4\n" } })
    assert.are.equal(500, status)
    assert.are.equal("image build failed: step 0 (run) failed (exit 4): nope", doc.error)
    status, doc = c:api("GET", "/templates/" .. name)
    assert.are.equal("error", doc.status)
    status, doc = c:api("POST", "/sandboxes", { body = { templateID = name } })
    assert.are.equal(400, status)
    assert.matches("is not ready %(status: error%)", doc.error)
  end)
end)

describe("the image cache and the checkpoints of images", function()
  -- a server of its own that keeps one unused unnamed image
  local s2, c2, ckpt
  setup(function()
    s2 = require("opencomputer.server").start{
      listen = "127.0.0.1:0", api_key = support.KEY, image_cache = 1,
    }
    c2 = support.client(s2.url, support.KEY)
    ckpt = require("opencomputer.server.checkpoint")
  end)
  teardown(function() if s2 then s2.stop() end end)

  local function manifest(tag)
    return { steps = { { type = "run", args = { commands = { "echo " .. tag .. " > /tmp/tag" } } } } }
  end
  -- is checkpoint `cid` on disk (its snapshot and its record)?
  local function on_disk(cid)
    local base = s2.data_dir .. "/sandboxes/.checkpoints/" .. cid
    local d, r = io.open(base .. "/."), io.open(base .. ".json")
    if d then d:close() end
    if r then r:close() end
    assert.are.equal(d ~= nil, r ~= nil, "checkpoint " .. cid .. ": snapshot and record disagree")
    return d ~= nil
  end
  -- the unnamed images listed, by checkpoint id
  local function unnamed()
    local status, list = c2:api("GET", "/images")
    assert.are.equal(200, status)
    local out = {}
    for _, im in ipairs(list) do
      if not im.name then out[im.checkpointId] = im end
    end
    return out
  end
  local function create(body)
    local status, doc = c2:api("POST", "/sandboxes", { body = body, timeout = 120 })
    assert.are.equal(201, status, json.encode(doc))
    return doc
  end

  it("holds an image's checkpoint (409), deletes it with its last holder, keeps the N most recently used", function()
    local a = unique("held")
    local status, snap = c2:api("POST", "/snapshots", { body = { name = a,
      image = manifest(a) }, timeout = 120 })
    assert.are.equal(201, status, json.encode(snap))
    local c1 = snap.checkpointId
    assert.is_true(on_disk(c1))
    -- the build's checkpoint cannot be deleted while a snapshot names it
    local rec = ckpt.get(s2.registry, c1)
    status, doc = c2:api("DELETE", "/sandboxes/" .. rec.sandbox_id .. "/checkpoints/" .. c1)
    assert.are.equal(409, status)
    assert.are.same({ error = 'checkpoint is held by snapshot "' .. a .. '": delete that first' }, doc)
    assert.is_true(on_disk(c1))
    -- the snapshot goes; the cache entry of the same content still holds it
    assert.are.equal(204, (c2:api("DELETE", "/snapshots/" .. a)))
    assert.is_true(on_disk(c1))
    assert.is_table(unnamed()[c1])
    status, doc = c2:api("DELETE", "/sandboxes/" .. rec.sandbox_id .. "/checkpoints/" .. c1)
    assert.are.equal(409, status)
    assert.matches("^checkpoint is held by image ", doc.error)
    -- a second image: one unnamed image is kept, the least recently used goes
    local t2 = unique("second")
    local c2id = create({ image = manifest(t2) }).fromCheckpointId
    assert.is_nil(unnamed()[c1])
    assert.is_false(on_disk(c1))
    assert.is_nil(ckpt.get(s2.registry, c1))
    assert.is_table(unnamed()[c2id])
    -- a snapshot of the cached content names the same checkpoint and
    -- keeps it when the cache lets it go; deleting it then deletes it
    local b = unique("named")
    status, snap = c2:api("POST", "/snapshots", { body = { name = b, image = manifest(t2) },
      timeout = 120 })
    assert.are.equal(201, status)
    assert.are.equal(c2id, snap.checkpointId)
    local c3 = create({ image = manifest(unique("third")) }).fromCheckpointId
    assert.is_nil(unnamed()[c2id])
    assert.is_true(on_disk(c2id))
    assert.are.equal(204, (c2:api("DELETE", "/snapshots/" .. b)))
    assert.is_false(on_disk(c2id))
    -- a template's image is kept while the template is there, whatever
    -- the bound; once it is deleted its image is the cache's
    local tpl = unique("tpl")
    status, doc = c2:api("POST", "/templates", { body = { name = tpl,
      dockerfile = "FROM base\nRUN echo " .. tpl .. " > /tmp/tag\n" }, timeout = 120 })
    assert.are.equal(201, status, json.encode(doc))
    local _, t = c2:api("GET", "/templates/" .. tpl)
    local ct
    for cid, im in pairs(unnamed()) do
      if im.id == t.imageID then ct = cid end
    end
    assert.is_string(ct, "the template's image is not listed")
    create({ templateID = tpl })
    local c4 = create({ image = manifest(unique("fourth")) }).fromCheckpointId
    assert.is_false(on_disk(c3))
    assert.is_true(on_disk(ct))
    local id = create({ templateID = tpl }).sandboxID
    assert.are.equal(tpl .. "\n", c2:run(id, "cat /tmp/tag").stdout)
    assert.are.equal(204, (c2:api("DELETE", "/templates/" .. tpl)))
    -- the template's image was used last: the other one goes
    assert.is_false(on_disk(c4))
    assert.is_true(on_disk(ct))
    -- a fork outlives its image's checkpoint
    create({ image = manifest(unique("fifth")) })
    assert.is_false(on_disk(ct))
    assert.are.equal(tpl .. "\n", c2:run(id, "cat /tmp/tag").stdout)
    -- a checkpoint a user made is never the cache's
    local own = c2:create({ timeout = 0 })
    status, doc = c2:api("POST", "/sandboxes/" .. own .. "/checkpoints", { body = { name = "mine" } })
    assert.are.equal(201, status)
    for _ = 1, 2 do create({ image = manifest(unique("more")) }) end
    assert.is_true(on_disk(doc.id))
  end)
end)

describe("images across a restart", function()
  it("keeps snapshots and templates, skips a bad record with a warning", function()
    local dir = os.tmpname()
    os.remove(dir)
    finally(function() os.execute("rm -rf " .. dir) end)
    local s1 = support.process({ "--data-dir", dir })
    assert.are.equal(201, (s1.client:api("POST", "/snapshots", { body = {
      name = "kept", image = { steps = { { type = "run", args = {
        commands = { "echo kept > /tmp/k" } } } } } }, timeout = 120 })))
    assert.are.equal(201, (s1.client:api("POST", "/templates", { body = {
      name = "tkept", dockerfile = "FROM base\nRUN echo t > /tmp/t\n" }, timeout = 120 })))
    local _, orphan = s1.client:api("POST", "/snapshots", { body = {
      name = "orphan", image = { steps = { { type = "run", args = {
        commands = { "echo orphan" } } } } } }, timeout = 120 })
    s1.proc:kill(15)
    assert.are.equal(0, s1.proc:wait())
    -- the records that named a build's checkpoint gone (as a server
    -- killed between forgetting them and deleting it leaves it)
    local p = io.popen("grep -l '" .. orphan.checkpointId .. "' " .. dir .. "/images/*.json")
    local gone = 0
    for file in p:lines() do gone = gone + (os.remove(file) and 1 or 0) end
    p:close()
    assert.are.equal(2, gone, "the snapshot's and the cache's records")
    local ck = dir .. "/sandboxes/.checkpoints/" .. orphan.checkpointId
    local f = assert(io.open(dir .. "/images/00000000-bad.json", "w"))
    f:write('{"id":"00000000-bad","hash":"x","status":"ready","created_at":1,'
      .. '"manifest":{"steps":[{"type":"copy","args":{}}]}}')
    f:close()
    -- (its warnings are on stderr: joined to stdout to be read)
    local proc = core.process_spawn({ "sh", "-c", 'exec "$0" "$@" 2>&1',
      core.executable(), "serve", "--listen", "127.0.0.1:0",
      "--exit-with-parent", "--api-key", support.KEY, "--data-dir", dir })
    local url, said = support.listening(proc)
    assert.is_string(url, said)
    finally(function() proc:kill(15); proc:wait() end)
    assert.matches("skipped image " .. dir:gsub("%p", "%%%0") .. "/images/00000000%-bad%.json: "
      .. "image record: manifest%.steps%[0%]%.type must be one of", said)
    assert.matches("checkpoint " .. orphan.checkpointId:gsub("%-", "%%-") .. " of an image "
      .. "build that no image names is deleted", said)
    assert.is_nil(io.open(ck .. ".json"))
    assert.is_nil(io.open(ck .. "/."))
    local c2 = support.client(url, support.KEY)
    local status, doc = c2:api("GET", "/snapshots/kept")
    assert.are.equal(200, status)
    assert.are.equal("ready", doc.status)
    local _, sb = c2:api("POST", "/sandboxes", { body = { snapshot = "kept" } })
    assert.are.equal("kept\n", c2:run(sb.sandboxID, "cat /tmp/k").stdout)
    _, sb = c2:api("POST", "/sandboxes", { body = { templateID = "tkept" } })
    assert.are.equal("t\n", c2:run(sb.sandboxID, "cat /tmp/t").stdout)
  end)
end)
