-- spec/checkpoint_spec.lua - checkpoints, restore, forks and patches
-- (protocol.md 8.1, 8.2, 8.4) and the paused hibernation tier (2.7) of the
-- local server, over HTTP: lua/opencomputer/server/checkpoint.lua and
-- sandbox.lua.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local support = require("spec.support.server")

local c = support.shared()

local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local RFC3339 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"

local function sandbox(body)
  local b = body or {}
  b.timeout = b.timeout or 0
  return c:create(b)
end

-- the checkpoints of sandbox `id`, as listed
local function list(id, client)
  local status, doc = (client or c):api("GET", "/sandboxes/" .. id .. "/checkpoints")
  assert(status == 200, "list: " .. status)
  return doc
end

-- poll the list until checkpoint `cid` of `id` is no longer processing
local function settled(id, cid, client)
  local t0 = oc.now()
  while true do
    for _, ck in ipairs(list(id, client)) do
      if ck.id == cid and ck.status ~= "processing" then return ck end
    end
    assert(oc.now() - t0 < 10, "checkpoint " .. cid .. " still processing")
    oc.sleep(0.05)
  end
end

-- a ready checkpoint of `id` named `name`; its object
local function checkpoint(id, name, body, client)
  local b = body or {}
  b.name = name
  local status, doc = (client or c):api("POST", "/sandboxes/" .. id .. "/checkpoints",
    { body = b })
  assert(status == 201, "checkpoint: " .. status .. " " .. tostring(doc and doc.error))
  local ck = settled(id, doc.id, client)
  assert(ck.status == "ready", "checkpoint " .. ck.status .. ": " .. tostring(ck.errorMsg))
  return ck
end

-- fork checkpoint `cid`; the new sandbox's id and the answer
local function fork(cid, body, client)
  local status, doc = (client or c):api("POST", "/sandboxes/from-checkpoint/" .. cid,
    { body = body or {} })
  assert(status == 201, "fork: " .. status .. " " .. tostring(doc and doc.error))
  return doc.sandboxID, doc
end

local function get(id, client)
  local status, doc = (client or c):api("GET", "/sandboxes/" .. id)
  assert(status == 200, "get " .. id .. ": " .. status)
  return doc
end

local function out(id, cmd, client)
  return (client or c):run(id, cmd).stdout
end

describe("checkpoints", function()
  it("are processing at once, then ready, with the fields of protocol.md 8.1", function()
    local id = sandbox({ envs = { A = "1" }, metadata = { k = "v" }, memoryMB = 1024 })
    c:run(id, "head -c 100000 /dev/urandom > /home/sandbox/blob")
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/checkpoints",
      { body = { name = "first" } })
    assert.are.equal(201, status)
    assert.are.equal("processing", doc.status)
    assert.matches(UUID4, doc.id)
    assert.are.equal(id, doc.sandboxId)
    assert.are.equal("", doc.orgId)
    assert.are.equal("first", doc.name)
    assert.are.equal("full", doc.kind)
    assert.is_false(doc.isPublic)
    assert.matches(RFC3339, doc.createdAt)
    assert.are.same({ templateID = "base", envs = { A = "1" }, metadata = { k = "v" },
      memoryMB = 1024, cpuCount = 1, diskMB = 20480, networkEnabled = true,
      timeout = 0 }, doc.sandboxConfig)
    local ck = settled(id, doc.id)
    assert.are.equal("ready", ck.status)
    assert.is_true(ck.sizeBytes >= 100000, "sizeBytes " .. ck.sizeBytes)
    assert.is_nil(ck.errorMsg)
    -- a disk_only one says plainly that it cannot be promoted here
    local second = checkpoint(id, "second", { kind = "disk_only" })
    assert.are.equal("disk_only", second.kind)
    assert.are.equal("failed", second.promotionStatus)
    assert.matches("never process memory", second.promotionError)
    local third = checkpoint(id, "third", { kind = "disk_only", promoteToFull = false })
    assert.is_nil(third.promotionStatus)
    -- listed in creation order
    local names = {}
    for i, ck2 in ipairs(list(id)) do names[i] = ck2.name end
    assert.are.same({ "first", "second", "third" }, names)
    -- the sandbox ran on: nothing was lost
    assert.are.equal("100000\n", out(id, "wc -c < /home/sandbox/blob"))
  end)

  it("refuses a duplicate name, bad fields, bad ids and a sandbox that is not running", function()
    local id = sandbox()
    checkpoint(id, "one")
    local function create(body)
      local status, doc = c:api("POST", "/sandboxes/" .. id .. "/checkpoints", { body = body })
      return status, doc and doc.error
    end
    local status, err = create({ name = "one" })
    assert.are.equal(409, status)
    assert.are.equal("checkpoint name already exists for this sandbox", err)
    for _, case in ipairs({
      { {}, "name is required" },
      { { name = "" }, "name is required" },
      { { name = ("x"):rep(256) }, "name must be at most 255 bytes" },
      { { name = 7 }, "name must be a string" },
      { { name = "k", kind = "memory" }, 'kind must be one of "full", "disk_only", not "memory"' },
      { { name = "k", promoteToFull = true }, 'promoteToFull is only valid with kind "disk_only"' },
      { { name = "k", kind = "disk_only", promoteToFull = "yes" }, "promoteToFull must be true or false" },
      { { name = "k", retentionPolicy = { mode = "keep" } }, "retentionPolicy.mode must be one of" },
      { { name = "k", retentionPolicy = { mode = "delete_oldest", maxCount = 0 } },
        "retentionPolicy.maxCount must be an integer from 1" },
      { { name = "k", retentionPolicy = { mode = "delete_oldest", maxCount = 11 } },
        "retentionPolicy.maxCount must be an integer from 1 to 10 for kind full, not 11" },
      { { name = "k", retentionPolicy = "delete_oldest" }, "retentionPolicy must be an object" },
    }) do
      status, err = create(case[1])
      assert.are.equal(400, status, case[2])
      assert.matches(case[2], err, 1, true)
    end
    assert.are.equal(1, #list(id))	-- nothing was made
    -- every checkpoint route refuses an id that is not a UUID
    local cid = list(id)[1].id
    for _, route in ipairs({
      { "DELETE", "/sandboxes/" .. id .. "/checkpoints/nope" },
      { "POST", "/sandboxes/" .. id .. "/checkpoints/" .. cid .. "x/restore" },
      { "POST", "/sandboxes/from-checkpoint/" .. cid:sub(2) },
      { "POST", "/sandboxes/checkpoints/nope/patches" },
      { "GET", "/sandboxes/checkpoints/nope/patches" },
      { "DELETE", "/sandboxes/checkpoints/nope/patches/" .. cid },
    }) do
      status, err = c:api(route[1], route[2], { body = { script = "true" } })
      assert.are.equal(400, status, route[2])
      assert.are.same({ error = "invalid checkpoint ID" }, err, route[2])
    end
    local unknown = "00000000-0000-4000-8000-000000000000"
    status, err = c:api("DELETE", "/sandboxes/" .. id .. "/checkpoints/" .. unknown)
    assert.are.equal(404, status)
    assert.are.equal("checkpoint not found", err.error)
    status, err = c:api("POST", "/sandboxes/from-checkpoint/" .. unknown)
    assert.are.equal(404, status)
    assert.are.equal(404, (c:api("GET", "/sandboxes/sb-00000000/checkpoints")))
    assert.are.equal(404, (c:api("POST", "/sandboxes/sb-00000000/checkpoints",
      { body = { name = "x" } })))
    -- another sandbox's checkpoint
    local other = sandbox()
    status, err = c:api("DELETE", "/sandboxes/" .. other .. "/checkpoints/" .. cid)
    assert.are.equal(400, status)
    assert.are.equal("checkpoint does not belong to this sandbox", err.error)
    status, err = c:api("POST", "/sandboxes/" .. other .. "/checkpoints/" .. cid .. "/restore")
    assert.are.equal(400, status)
    assert.are.equal("checkpoint does not belong to this sandbox", err.error)
    -- a hibernated sandbox is not checkpointed, nor restored
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. id .. "/hibernate")))
    status, err = create({ name = "two" })
    assert.are.equal(400, status)
    assert.are.equal("sandbox must be running to create a checkpoint", err)
    status, err = c:api("POST", "/sandboxes/" .. id .. "/checkpoints/" .. cid .. "/restore")
    assert.are.equal(400, status)
    assert.are.equal("sandbox must be running to restore a checkpoint", err.error)
    assert.are.equal("hibernated", get(id).status)
  end)

  it("keeps at most 10 full per sandbox; delete_oldest makes room", function()
    local id = sandbox()
    for i = 1, 10 do checkpoint(id, "c" .. i) end
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/checkpoints",
      { body = { name = "c11" } })
    assert.are.equal(400, status)
    assert.matches("checkpoint limit reached: at most 10 full", doc.error)
    -- disk_only ones are counted apart
    checkpoint(id, "d1", { kind = "disk_only" })
    checkpoint(id, "c11", { retentionPolicy = { mode = "delete_oldest" } })
    local names = {}
    for _, ck in ipairs(list(id)) do names[#names + 1] = ck.name end
    assert.are.same({ "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "d1", "c11" }, names)
    -- maxCount 3: the oldest full ones go until two are left, and the
    -- new one makes 3 (the disk_only one is not counted)
    checkpoint(id, "c12", { retentionPolicy = { mode = "delete_oldest", maxCount = 3 } })
    names = {}
    for _, ck in ipairs(list(id)) do names[#names + 1] = ck.name end
    assert.are.same({ "c10", "d1", "c11", "c12" }, names)
    -- delete
    local cid = list(id)[1].id
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. id .. "/checkpoints/" .. cid)))
    assert.are.equal(404, (c:api("DELETE", "/sandboxes/" .. id .. "/checkpoints/" .. cid)))
    assert.are.equal(3, #list(id))
  end)

  it("restores in place: files revert, the id stays, a request meanwhile waits", function()
    local id = sandbox({ metadata = { k = "v" } })
    c:run(id, "echo one > /home/sandbox/f; mkdir -p /home/sandbox/d")
    local ck = checkpoint(id, "before")
    c:run(id, "echo two > /home/sandbox/f; echo new > /home/sandbox/g; "
      .. "sudo sh -c 'echo root > /etc/added'")
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/checkpoints/" .. ck.id .. "/restore")
    assert.are.equal(200, status)
    assert.are.same({ sandboxId = id, checkpointId = ck.id, status = "restoring" }, doc)
    -- sent at once: it waits for the restore, and sees its files
    local r = c:run(id, "cat /home/sandbox/f; ls /home/sandbox; ls /etc/added 2>&1; id -u")
    assert.are.equal("one\nd\nf\nls: cannot access '/etc/added': No such file or directory\n1000\n", r.stdout)
    doc = get(id)
    assert.are.equal(id, doc.sandboxID)
    assert.are.equal("running", doc.status)
    assert.are.same({ k = "v" }, doc.metadata)
    -- writable again, owned by the sandbox user, and again restorable
    assert.are.equal("sandbox\n", out(id, "echo three > /home/sandbox/d/x; stat -c %U /home/sandbox/d/x"))
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. id .. "/checkpoints/" .. ck.id .. "/restore")))
    -- GET is not held: while its environment is swapped it still says
    -- running (stopped means killed, 2.1)
    for _ = 1, 20 do assert.are.equal("running", get(id).status) end
    assert.are.equal("", out(id, "ls /home/sandbox/d"))
    -- the checkpoint is still there, ready
    assert.are.equal("ready", list(id)[1].status)
  end)

  it("forks: the checkpoint's files, a new id and uid range, diverging both ways", function()
    local origin = sandbox({ envs = { A = "a", B = "b" }, metadata = { k = "v", m = "1" },
      memoryMB = 1024 })
    c:run(origin, "echo shared > /home/sandbox/f; mkdir /home/sandbox/dir; "
      .. "sudo sh -c 'echo etc > /etc/made-by-origin'")
    local ck = checkpoint(origin, "base")
    local f1, doc = fork(ck.id, { envs = { B = "fork" }, metadata = { m = "2" } })
    assert.are_not.equal(origin, f1)
    assert.matches("^sb%-%x+$", f1)
    assert.are.equal("running", doc.status)
    assert.are.equal(ck.id, doc.fromCheckpointId)
    assert.are.equal(1024, doc.memoryMB)
    assert.are.equal("", doc.token)
    doc = get(f1)
    assert.are.same({ k = "v", m = "2" }, doc.metadata)
    assert.are.equal(1024, doc.memoryMB)
    assert.are.equal("a fork\n", out(f1, 'echo "$A $B"'))
    assert.are.equal("shared\netc\n", out(f1, "cat /home/sandbox/f /etc/made-by-origin"))
    -- its own uid range, and its files are its user's
    local function uid_map(id) return out(id, "cat /proc/self/uid_map"):match("%d+%s+(%d+)") end
    assert.are_not.equal(uid_map(origin), uid_map(f1))
    assert.are.equal("1000\nsandbox\n", out(f1, "id -u; stat -c %U /home/sandbox/f"))
    assert.are.equal("sandbox sandbox\n", out(f1,
      "echo mine > /home/sandbox/dir/new; stat -c '%U %G' /home/sandbox/dir/new"))
    assert.are.equal(f1 .. "\n" .. f1 .. "\n", out(f1, "hostname; cat /etc/hostname"))
    -- diverges both ways
    c:run(f1, "echo fork > /home/sandbox/f")
    c:run(origin, "echo origin > /home/sandbox/only-origin")
    assert.are.equal("shared\n", out(origin, "cat /home/sandbox/f"))
    assert.are.equal("no\n", out(origin, "test -e /home/sandbox/dir/new && echo yes || echo no"))
    assert.are.equal("no\n", out(f1, "test -e /home/sandbox/only-origin && echo yes || echo no"))
    -- memoryMB: at least the checkpoint's, rounded up to a tier, at most 16384
    local _, d2 = fork(ck.id, { memoryMB = 2000 })
    assert.are.equal(4096, d2.memoryMB)
    assert.are.equal(4096, get(d2.sandboxID).memoryMB)
    local _, d3 = fork(ck.id, { memoryMB = 100000 })
    assert.are.equal(16384, d3.memoryMB)
    assert.are.equal(4, get(d3.sandboxID).cpuCount)
    -- timeout: honoured (0 when omitted)
    local _, d4 = fork(ck.id, { timeout = 600 })
    assert.is_string(get(d4.sandboxID).endAt)
    assert.is_nil(get(f1).endAt)
    -- bad bodies
    local status, err = c:api("POST", "/sandboxes/from-checkpoint/" .. ck.id,
      { body = { memoryMB = "big" } })
    assert.are.equal(400, status)
    assert.matches("memoryMB must be an integer", err.error)
    status, err = c:api("POST", "/sandboxes/from-checkpoint/" .. ck.id,
      { body = { envs = { ["A=B"] = "x" } } })
    assert.are.equal(400, status)
    assert.matches("must not contain '='", err.error)
    for _, sb in ipairs({ d2.sandboxID, d3.sandboxID, d4.sandboxID }) do
      assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. sb)))
    end
  end)

  it("forks a fork, and a checkpoint whose sandbox was deleted", function()
    local origin = sandbox()
    c:run(origin, "mkdir /home/sandbox/w; echo 0 > /home/sandbox/w/origin")
    local ck1 = checkpoint(origin, "one")
    local f1 = fork(ck1.id)
    c:run(f1, "echo 1 > /home/sandbox/w/fork1")
    local ck2 = checkpoint(f1, "two")
    local f2 = fork(ck2.id)
    assert.are.equal("fork1\norigin\n", out(f2, "ls /home/sandbox/w"))
    assert.are.equal("sandbox\n", out(f2, "echo 2 > /home/sandbox/w/origin; stat -c %U /home/sandbox/w/origin"))
    assert.are.equal("0\n", out(origin, "cat /home/sandbox/w/origin"))
    assert.are.equal("0\n", out(f1, "cat /home/sandbox/w/origin"))
    -- the origin goes; its checkpoint stays, listed and forkable by its id
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. origin)))
    assert.are.equal(404, (c:api("GET", "/sandboxes/" .. origin)))
    local listed = list(origin)
    assert.are.equal(1, #listed)
    assert.are.equal(ck1.id, listed[1].id)
    local f3 = fork(ck1.id)
    assert.are.equal("origin\n", out(f3, "ls /home/sandbox/w"))
    -- and is deleted through the deleted sandbox's id
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. origin .. "/checkpoints/" .. ck1.id)))
    assert.are.equal(404, (c:api("GET", "/sandboxes/" .. origin .. "/checkpoints")))
    assert.are.equal(404, (c:api("POST", "/sandboxes/from-checkpoint/" .. ck1.id)))
    -- forks of it run on
    assert.are.equal("origin\n", out(f3, "ls /home/sandbox/w"))
  end)

  it("forks a checkpoint still processing once it is ready", function()
    local id = sandbox()
    c:run(id, "echo x > /home/sandbox/f")
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/checkpoints",
      { body = { name = "soon" } })
    assert.are.equal(201, status)
    assert.are.equal("processing", doc.status)
    local f = fork(doc.id)
    assert.are.equal("x\n", out(f, "cat /home/sandbox/f"))
  end)
end)

describe("checkpoint patches", function()
  local function add(cid, script, description)
    local status, doc = c:api("POST", "/sandboxes/checkpoints/" .. cid .. "/patches",
      { body = { script = script, description = description } })
    assert(status == 201, "patch: " .. status .. " " .. tostring(doc and doc.error))
    return doc.patch
  end

  -- explicit deep hibernate, then an explicit wake
  local function rewake(id)
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. id .. "/hibernate")))
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. id .. "/wake")))
  end

  -- poll until fn() is true (patches after a wake run in the background)
  local function eventually(fn, what)
    local t0 = oc.now()
    while not fn() do
      assert(oc.now() - t0 < 10, what)
      oc.sleep(0.05)
    end
  end

  it("run once each, in order, on fork and explicit wake; a failing one is reported and retried", function()
    local origin = sandbox()
    local ck = checkpoint(origin, "patched")
    local p1 = add(ck.id, "echo 1 $(id -u) >> /home/sandbox/p.log", "first")
    assert.matches(UUID4, p1.id)
    assert.are.same({ id = p1.id, checkpointId = ck.id, sequence = 1,
      script = "echo 1 $(id -u) >> /home/sandbox/p.log", description = "first",
      strategy = "on_wake", createdAt = p1.createdAt }, p1)
    assert.matches(RFC3339, p1.createdAt)
    add(ck.id, "echo 2 >> /home/sandbox/p.log")
    local status, patches = c:api("GET", "/sandboxes/checkpoints/" .. ck.id .. "/patches")
    assert.are.equal(200, status)
    assert.are.same({ 1, 2 }, { patches[1].sequence, patches[2].sequence })
    assert.are.equal("", patches[2].description)
    -- applied before the fork's answer, as the sandbox user
    local f = fork(ck.id)
    assert.are.equal("1 1000\n2\n", out(f, "cat /home/sandbox/p.log"))
    -- not on the origin, not on a running fork
    assert.are.equal("no\n", out(origin, "test -e /home/sandbox/p.log && echo yes || echo no"))
    local p3 = add(ck.id, "echo three >&2; echo to-stdout; exit 3")
    add(ck.id, "echo 4 >> /home/sandbox/p.log")
    assert.are.equal("1 1000\n2\n", out(f, "cat /home/sandbox/p.log"))
    assert.is_nil(get(f).patchError)
    -- an auto-wake applies nothing
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. f .. "/hibernate")))
    assert.are.equal("1 1000\n2\n", out(f, "cat /home/sandbox/p.log"))
    -- an explicit wake: 3 fails, 4 waits behind it
    rewake(f)
    eventually(function() return get(f).patchError end, "no patchError")
    assert.matches("^patch seq 3 failed: patch exited with code 3: three", get(f).patchError)
    assert.are.equal("1 1000\n2\n", out(f, "cat /home/sandbox/p.log"))
    -- fixed: the next explicit wake goes on from it, once
    assert.are.equal(204, (c:api("DELETE", "/sandboxes/checkpoints/" .. ck.id
      .. "/patches/" .. p3.id)))
    assert.are.equal(404, (c:api("DELETE", "/sandboxes/checkpoints/" .. ck.id
      .. "/patches/" .. p3.id)))
    rewake(f)
    eventually(function() return out(f, "cat /home/sandbox/p.log") == "1 1000\n2\n4\n" end,
      "patch 4 did not run")
    eventually(function() return get(f).patchError == nil end, "patchError stays")
    rewake(f)
    oc.sleep(0.3)
    assert.are.equal("1 1000\n2\n4\n", out(f, "cat /home/sandbox/p.log"))
    -- a new fork gets the remaining ones, in order; sequences go on
    local p5 = add(ck.id, "echo 5 >> /home/sandbox/p.log")
    assert.are.equal(5, p5.sequence)
    local f2 = fork(ck.id)
    assert.are.equal("1 1000\n2\n4\n5\n", out(f2, "cat /home/sandbox/p.log"))
    -- a fork whose patch fails still answers 201, with the error on GET
    add(ck.id, "exit 9")
    local f3 = fork(ck.id)
    assert.matches("^patch seq 6 failed: patch exited with code 9", get(f3).patchError)
  end)

  it("run again after a restore to a checkpoint taken before them", function()
    local origin = sandbox()
    local ck = checkpoint(origin, "base")
    add(ck.id, "echo 1 >> /home/sandbox/p.log")
    local f = fork(ck.id)
    local early = checkpoint(f, "after-1")
    add(ck.id, "echo 2 >> /home/sandbox/p.log")
    rewake(f)
    eventually(function() return out(f, "cat /home/sandbox/p.log") == "1\n2\n" end,
      "patch 2 did not run")
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. f .. "/checkpoints/"
      .. early.id .. "/restore")))
    assert.are.equal("1\n", out(f, "cat /home/sandbox/p.log"))
    rewake(f)
    eventually(function() return out(f, "cat /home/sandbox/p.log") == "1\n2\n" end,
      "patch 2 did not run again")
  end)

  it("refuses a missing script, bad ids and a checkpoint that is not ready", function()
    local id = sandbox()
    local ck = checkpoint(id, "p")
    local status, doc = c:api("POST", "/sandboxes/checkpoints/" .. ck.id .. "/patches",
      { body = { description = "no script" } })
    assert.are.equal(400, status)
    assert.are.equal("script is required", doc.error)
    status, doc = c:api("POST", "/sandboxes/checkpoints/" .. ck.id .. "/patches",
      { body = { script = 1 } })
    assert.are.equal(400, status)
    assert.matches("script must be a string", doc.error)
    status, doc = c:api("DELETE", "/sandboxes/checkpoints/" .. ck.id .. "/patches/nope")
    assert.are.equal(400, status)
    assert.are.equal("invalid patch ID", doc.error)
    status, doc = c:api("DELETE", "/sandboxes/checkpoints/" .. ck.id
      .. "/patches/00000000-0000-4000-8000-000000000000")
    assert.are.equal(404, status)
    assert.are.equal("patch not found", doc.error)
    status, doc = c:api("GET", "/sandboxes/checkpoints/00000000-0000-4000-8000-000000000000/patches")
    assert.are.equal(404, status)
    assert.are.equal("checkpoint not found", doc.error)
    assert.are.same({}, select(2, c:api("GET", "/sandboxes/checkpoints/" .. ck.id .. "/patches")))
    -- while it is processing
    status, doc = c:api("POST", "/sandboxes/" .. id .. "/checkpoints", { body = { name = "q" } })
    assert.are.equal(201, status)
    local status2, doc2 = c:api("POST", "/sandboxes/checkpoints/" .. doc.id .. "/patches",
      { body = { script = "true" } })
    if status2 ~= 201 then	-- it may be ready already
      assert.are.equal(400, status2)
      assert.are.equal("checkpoint is not ready", doc2.error)
    end
  end)
end)

describe("the paused tier", function()
  it("freezes an idle sandbox's processes and resumes them in place on the next call", function()
    local id = sandbox()
    local pid = out(id, "sh -c 'while :; do date +%s%N >> /tmp/t; sleep 0.05; done' "
      .. "> /dev/null 2>&1 & echo $!"):match("%d+")
    assert.are.equal(204, (c:api("POST", "/sandboxes/" .. id .. "/timeout",
      { body = { timeout = 1 } })))
    local t0 = oc.now()
    repeat oc.sleep(0.1) until get(id).status == "hibernated" or oc.now() - t0 > 10
    assert.are.equal("hibernated", get(id).status)
    oc.sleep(1.5)
    -- the auto-wake thaws it: the same process, with a gap of the pause
    local r = out(id, "cat /proc/" .. pid .. "/cmdline | tr '\\0' ' '; echo; "
      .. "sleep 0.3; cat /tmp/t")
    local cmdline, times = r:match("^(.-)\n(.*)$")
    assert.matches("while :", cmdline)
    local gap, prev = 0, nil
    for ns in times:gmatch("%d+") do
      local t = tonumber(ns) / 1e9
      if prev then gap = math.max(gap, t - prev) end
      prev = t
    end
    assert.is_true(gap > 1.4, "the longest gap between ticks was " .. gap .. " s")
    -- and it ticks again
    local n1 = tonumber(out(id, "wc -l < /tmp/t"))
    oc.sleep(0.3)
    assert.is_true(tonumber(out(id, "wc -l < /tmp/t")) > n1)
    -- the idle timeout is kept; a wake of a paused sandbox ignores its
    -- body's timeout
    assert.is_string(get(id).endAt)
    t0 = oc.now()
    repeat oc.sleep(0.1) until get(id).status == "hibernated" or oc.now() - t0 > 10
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/wake", { body = { timeout = 0 } })
    assert.are.equal(200, status)
    assert.are.same({ sandboxID = id, status = "running" }, doc)
    assert.is_string(get(id).endAt)
    assert.are.equal(pid .. "\n", out(id, "pgrep -f 'while [:]'"))
    -- an explicit hibernate is deep: the processes end
    assert.are.equal(204, (c:api("POST", "/sandboxes/" .. id .. "/timeout",
      { body = { timeout = 0 } })))
    assert.are.equal(200, (c:api("POST", "/sandboxes/" .. id .. "/hibernate")))
    assert.are.equal("", out(id, "pgrep -f 'while [:]' || true"))
  end)

  it("goes deep after pause_promote seconds paused (an hour by default)", function()
    assert.are.equal(3600, require("opencomputer.server.sandbox").PAUSE_PROMOTE)
    local srv = require("opencomputer.server").start{
      listen = "127.0.0.1:0", api_key = support.KEY, pause_promote = 1,
    }
    finally(function() srv.stop() end)
    local c2 = support.client(srv.url, support.KEY)
    local reg = srv.registry
    -- two sandboxes with a process each, paused by their idle timeout
    local ids, pids = {}, {}
    for i = 1, 2 do
      ids[i] = c2:create({ timeout = 0 })
      pids[i] = out(ids[i], "sleep 600 > /dev/null 2>&1 & echo $!", c2)
      assert.are.equal(204, (c2:api("POST", "/sandboxes/" .. ids[i] .. "/timeout",
        { body = { timeout = 1 } })))
    end
    local t0 = oc.now()
    repeat oc.sleep(0.05) until (reg.by_id[ids[1]].paused and reg.by_id[ids[2]].paused)
      or oc.now() - t0 > 10
    local paused_at = oc.now()
    -- within the second: still paused, thawed in place by a call
    assert.is_true(reg.by_id[ids[1]].paused, "not paused")
    assert.are.equal("hibernated", get(ids[1], c2).status)
    assert.are.equal(pids[1], out(ids[1], "pgrep -x sleep", c2))
    -- after it: deep, its processes ended; the next call boots it afresh
    repeat oc.sleep(0.05) until not reg.by_id[ids[2]].paused or oc.now() - paused_at > 5
    local after = oc.now() - paused_at
    local sb = reg.by_id[ids[2]]
    assert.is_nil(sb.paused, "still paused after " .. after .. " s")
    assert.is_nil(sb.box, "its processes still run")
    assert.is_true(after > 0.8, "went deep after " .. after .. " s, before 1 s")
    assert.are.equal("hibernated", get(ids[2], c2).status)
    assert.are.equal("", out(ids[2], "pgrep -x sleep || true", c2))
  end)

  it("holds requests while a checkpoint freezes the sandbox, and loses nothing", function()
    local id = sandbox()
    c:run(id, "head -c 20000000 /dev/urandom > /home/sandbox/big")
    local status, doc = c:api("POST", "/sandboxes/" .. id .. "/checkpoints",
      { body = { name = "busy" } })
    assert.are.equal(201, status)
    -- requests sent during the checkpoint succeed
    local results = oc.all({
      function() return out(id, "echo a") end,
      function() return select(1, c:api("PUT", "/sandboxes/" .. id .. "/files",
        { query = "path=/home/sandbox/up", raw = "up" })) end,
      function() return out(id, "echo b") end,
    })
    assert.are.same({ "a\n", 204, "b\n" }, { results[1], results[2], results[3] })
    assert.are.equal("ready", settled(id, doc.id).status)
  end)
end)

describe("checkpoints across a restart", function()
  it("keep their checkpoints, forks and patches, and skip a bad record", function()
    local dir = os.tmpname()
    os.remove(dir)
    finally(function() os.execute("rm -rf " .. dir) end)
    local s1 = support.process({ "--data-dir", dir })
    local c1 = s1.client
    local id = c1:create({ timeout = 0, envs = { E = "1" } })
    c1:run(id, "echo kept > /home/sandbox/f")
    local ck = checkpoint(id, "durable", nil, c1)
    local bad = checkpoint(id, "to-break", nil, c1)
    local f = fork(ck.id, nil, c1)
    c1:run(f, "echo forked > /home/sandbox/g")
    assert.are.equal(201, (c1:api("POST", "/sandboxes/checkpoints/" .. ck.id .. "/patches",
      { body = { script = "echo p >> /home/sandbox/p" } })))
    -- a record cut short (written while the sandboxes' disk is mounted)
    local record = dir .. "/sandboxes/.checkpoints/" .. bad.id .. ".json"
    local fh = assert(io.open(record, "w"))
    fh:write('{"id":"' .. bad.id .. '","status":"ready"')
    fh:close()
    s1.proc:kill(15)
    assert.are.equal(0, s1.proc:wait())

    -- stderr joined to stdout, to read the warnings
    local proc = core.process_spawn({ "sh", "-c", 'exec "$0" serve --listen 127.0.0.1:0 '
      .. '--exit-with-parent --api-key "$1" --data-dir "$2" 2>&1',
      os.getenv("OCLUA_BIN") or "./oclua", support.KEY, dir })
    finally(function() proc:kill(15); proc:wait() end)
    local url, said = support.listening(proc)
    assert.is_string(url, said)
    assert.matches("skipped checkpoint .*" .. bad.id:gsub("%-", "%%-") .. "%.json", said)
    local c2 = support.client(url, support.KEY)
    local listed = list(id, c2)
    assert.are.equal(1, #listed)
    assert.are.equal(ck.id, listed[1].id)
    assert.are.equal("ready", listed[1].status)
    -- the fork comes back hibernated, with its files and its own user
    assert.are.equal("hibernated", get(f, c2).status)
    assert.are.equal("kept\nforked\n", out(f, "cat /home/sandbox/f /home/sandbox/g", c2))
    assert.are.equal("sandbox\n", out(f, "echo x > /home/sandbox/h; stat -c %U /home/sandbox/h", c2))
    -- a new fork after the restart, with the patch
    local f2 = fork(ck.id, nil, c2)
    assert.are.equal("kept\np\n1\n", out(f2, "cat /home/sandbox/f /home/sandbox/p; echo $E", c2))
    -- restore works on the restarted server
    c2:run(id, "echo changed > /home/sandbox/f")
    assert.are.equal(200, (c2:api("POST", "/sandboxes/" .. id .. "/checkpoints/" .. ck.id .. "/restore")))
    assert.are.equal("kept\n", out(id, "cat /home/sandbox/f", c2))
  end)
end)

describe("a restore that fails", function()
  -- a server process of its own with a --data-dir, both gone after the
  -- test; the server ({url, proc, client}) and the directory
  local function own_server()
    local dir = os.tmpname()
    os.remove(dir)
    finally(function() os.execute("rm -rf " .. dir) end)
    local s = support.process({ "--data-dir", dir })
    finally(function() s.proc:kill(15); s.proc:wait() end)
    return s, dir
  end

  it("answers 502 to the request after it, and leaves the sandbox as it was", function()
    local s, dir = own_server()
    local id = s.client:create({ timeout = 0 })
    s.client:run(id, "echo before > /home/sandbox/f")
    local ck = checkpoint(id, "gone", nil, s.client)
    s.client:run(id, "echo after > /home/sandbox/f")
    -- its snapshot taken away behind the server's back
    local path = dir .. "/sandboxes/.checkpoints/" .. ck.id
    assert(os.rename(path, path .. ".away"))
    local status, doc = s.client:api("POST", "/sandboxes/" .. id .. "/checkpoints/"
      .. ck.id .. "/restore")
    assert.are.equal(200, status)
    assert.are.equal("restoring", doc.status)
    status, doc = s.client:api("POST", "/sandboxes/" .. id .. "/exec/run",
      { body = { cmd = "cat /home/sandbox/f" } })
    assert.are.equal(502, status)
    -- what failed, named without the server's data path
    assert.are.equal("sandbox " .. id .. ": restore failed: checkpoint " .. ck.id
      .. ": No such file or directory", doc.error)
    -- once: the sandbox runs on, on its own files
    assert.are.equal("after\n", out(id, "cat /home/sandbox/f", s.client))
    assert(os.rename(path .. ".away", path))
  end)

  it("and other failures tell the client what failed without the server's host paths", function()
    local s, dir = own_server()
    local c2 = s.client
    local id = c2:create({ timeout = 0 })
    local ck = checkpoint(id, "ok", nil, c2)
    -- directories made immutable (btrfs honours chattr +i, root included)
    local function immutable(path, on)
      local _, rc = support.output({ "chattr", on and "+i" or "-i", path })
      assert.are.equal(0, rc, "chattr " .. path)
    end
    local function no_path(doc, pattern)
      assert.is_nil(doc.error:find(dir, 1, true), doc.error)
      assert.matches(pattern, doc.error)
    end
    local checkpoints = dir .. "/sandboxes/.checkpoints"
    immutable(checkpoints .. "/.staging", true)
    finally(function() immutable(checkpoints .. "/.staging", false) end)
    local status, doc = c2:api("POST", "/sandboxes/from-checkpoint/" .. ck.id, { body = {} })
    assert.are.equal(500, status)
    no_path(doc, "^fork from checkpoint: snapshot checkpoint " .. ck.id:gsub("%-", "%%-")
      .. " as a directory being prepared: Operation not permitted$")
    immutable(checkpoints .. "/.staging", false)
    immutable(dir .. "/sandboxes", true)
    finally(function() immutable(dir .. "/sandboxes", false) end)
    status, doc = c2:api("POST", "/sandboxes", { body = {} })
    assert.are.equal(500, status)
    no_path(doc, "^create sandbox: .*sandbox sb%-%x+.*: Operation not permitted$")
    -- an image build: as a 500, and in the SSE error event
    status, doc = c2:api("POST", "/snapshots", { body = { name = "x", image = {} } })
    assert.are.equal(500, status)
    no_path(doc, "^image build failed: cannot start the build sandbox: .*sandbox sb%-%x+")
    immutable(dir .. "/sandboxes", false)
    immutable(checkpoints, true)
    finally(function() immutable(checkpoints, false) end)
    status, doc = c2:api("POST", "/snapshots", { body = { name = "y", image = {
      steps = { { type = "run", args = { commands = { "true" } } } } } } })
    assert.are.equal(500, status)
    no_path(doc, "^image build failed: checkpoint %x+%-[%x%-]+: Operation not permitted$")
    immutable(checkpoints, false)
  end)
end)
