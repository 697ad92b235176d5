-- spec/checkpoint_sdk_spec.lua - the SDK's checkpoints, forks and
-- checkpoint patches (API.md 3 and 11, protocol.md 8.1, 8.2, 8.4)
-- against the local server: restore reverts files and keeps the
-- sandbox's id; a fork has the checkpoint's files and diverges on its
-- own; patches run once, in order, and a failing one is reported; the
-- wait helper.
--
-- A checkpoint that fails, or stays "processing" for long, is something
-- the local server does not produce at will: those two paths of the wait
-- helper run against a scripted server on loopback (spec/support/sdk.lua)
-- that answers the list as a slow or failing server would.

local oc = require("opencomputer")
local json = require("opencomputer.runtime.json")
local sdk = require("spec.support.sdk")

local E = oc.errors
local fails = sdk.fails
local new_sandbox = sdk.new_sandbox

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local conn = sdk.conn
local misuse = sdk.misuse

-- the names of a list of checkpoints, in list order
local function names(list)
  local out = {}
  for i, cp in ipairs(list) do out[i] = cp.name end
  return out
end

describe("sb:create_checkpoint", function()
  local sb
  setup(function() sb = new_sandbox() end)
  teardown(function() sb:kill() end)

  it("gives a checkpoint table; wait() makes it ready; the list has it", function()
    sb.files:write("/home/sandbox/f.txt", "at the checkpoint")
    local cp = sb:create_checkpoint("first")
    assert.matches(UUID, cp.id)
    assert.are.equal(sb.id, cp.sandbox_id)
    assert.are.equal("first", cp.name)
    assert.are.equal("full", cp.kind)
    assert.is_truthy(cp.status == "processing" or cp.status == "ready", cp.status)
    assert.is_string(cp.created_at)
    assert.are.equal(cp, cp:wait{ timeout = 30 })	-- the same table, updated
    assert.are.equal("ready", cp.status)
    assert.are.equal("integer", math.type(cp.size_bytes))
    assert.is_table(cp.sandbox_config)
    local same = sb:wait_checkpoint(cp.id)
    assert.are.equal(cp.id, same.id)
    local list = sb:list_checkpoints()
    assert.are.equal(1, #list)
    assert.are.equal(cp.id, list[1].id)
    assert.are.equal("ready", list[1].status)
    -- a name is unique per sandbox
    local e = fails(E.ConflictError, sb.create_checkpoint, sb, "first")
    assert.are.equal(409, e.status)
    -- disk_only is a kind
    local d = sb:create_checkpoint("disk", { kind = "disk_only" }):wait()
    assert.are.equal("disk_only", d.kind)
    sb:delete_checkpoint(d.id)
    sb:delete_checkpoint(cp.id)
    assert.are.same({}, sb:list_checkpoints())
    sb:delete_checkpoint(cp.id)	-- 404 ignored
    fails(E.NotFoundError, sb.wait_checkpoint, sb, cp.id)
  end)

  it("keeps at most max_count with retention_policy delete_oldest", function()
    for _, n in ipairs{ "r1", "r2", "r3" } do
      sb:create_checkpoint(n, { retention_policy = { mode = "delete_oldest",
        max_count = 2 } }):wait()
    end
    local got = names(sb:list_checkpoints())
    table.sort(got)
    assert.are.same({ "r2", "r3" }, got)
    for _, cp in ipairs(sb:list_checkpoints()) do sb:delete_checkpoint(cp.id) end
  end)

  it("checks its arguments before any request", function()
    misuse("create_checkpoint: the name must be a string", sb.create_checkpoint, sb)
    misuse("create_checkpoint: the name is empty", sb.create_checkpoint, sb, "")
    misuse('create_checkpoint: kind must be "full" or "disk_only", got the string "memory"',
      sb.create_checkpoint, sb, "x", { kind = "memory" })
    misuse("create_checkpoint: unknown option 'retention'",
      sb.create_checkpoint, sb, "x", { retention = {} })
    misuse('retention_policy.mode must be "none" or "delete_oldest"',
      sb.create_checkpoint, sb, "x", { retention_policy = { mode = "all" } })
    misuse("retention_policy.max_count must be an integer from 1 to 2147483647, got the number 0",
      sb.create_checkpoint, sb, "x", { retention_policy = { mode = "none", max_count = 0 } })
    misuse("create_checkpoint: retention_policy: unknown option 'maxCount'",
      sb.create_checkpoint, sb, "x", { retention_policy = { mode = "none", maxCount = 2 } })
    misuse("wait_checkpoint: timeout must be a number of seconds",
      sb.wait_checkpoint, sb, "x", { timeout = -1 })
    misuse("restore_checkpoint: the checkpoint id must be a string",
      sb.restore_checkpoint, sb, 7)
    misuse("delete_checkpoint: the checkpoint id is empty", sb.delete_checkpoint, sb, "")
    assert.are.same({}, sb:list_checkpoints())	-- nothing was made
  end)

  it("refuses ids the server does not know or cannot read", function()
    local e = fails(E.SandboxError, sb.restore_checkpoint, sb, "not-a-uuid")
    assert.are.equal(400, e.status)
    assert.are.equal("invalid checkpoint ID", e.message)
    fails(E.NotFoundError, sb.restore_checkpoint, sb,
      "00000000-0000-4000-8000-000000000000")
    fails(E.NotFoundError, oc.Sandbox.create_from_checkpoint,
      "00000000-0000-4000-8000-000000000000", conn())
  end)
end)

describe("sb:restore_checkpoint", function()
  it("reverts the files and keeps the sandbox's id", function()
    local sb <close> = new_sandbox()
    sb.files:write("/home/sandbox/kept.txt", "version 1")
    sb.files:write("/home/sandbox/removed-later.txt", "here")
    local cp = sb:create_checkpoint("v1"):wait()
    sb.files:write("/home/sandbox/kept.txt", "version 2")
    sb.files:write("/home/sandbox/new.txt", "after the checkpoint")
    sb.files:remove("/home/sandbox/removed-later.txt")
    local id = sb.id
    sb:restore_checkpoint(cp.id)
    -- done when it returns: the very next call sees the checkpoint's files
    assert.are.equal(id, sb.id)
    assert.are.equal("running", sb.status)
    assert.are.equal("version 1", sb.files:read("/home/sandbox/kept.txt"))
    assert.are.equal("here", sb.files:read("/home/sandbox/removed-later.txt"))
    assert.is_false(sb.files:exists("/home/sandbox/new.txt"))
    assert.are.equal(id .. "\n", sb.exec:run("hostname").stdout)
    assert.are.equal(id, sb:get_info().sandbox_id)
    -- a second restore of the same checkpoint works as well
    sb.files:write("/home/sandbox/kept.txt", "version 3")
    sb:restore_checkpoint(cp.id)
    assert.are.equal("version 1", sb.files:read("/home/sandbox/kept.txt"))
    -- another sandbox's checkpoint is refused
    local other <close> = new_sandbox()
    local e = fails(E.SandboxError, other.restore_checkpoint, other, cp.id)
    assert.are.equal(400, e.status)
  end)
end)

describe("Sandbox.create_from_checkpoint", function()
  it("forks: the checkpoint's files, then each sandbox on its own", function()
    local src <close> = new_sandbox{ envs = { FROM_SOURCE = "source", BOTH = "source" },
      metadata = { role = "source", keep = "yes" } }
    src.files:write("/home/sandbox/shared.txt", "from the checkpoint")
    local cp = src:create_checkpoint("fork-base"):wait()
    local fork <close> = oc.Sandbox.create_from_checkpoint(cp.id, conn{
      timeout = 0, envs = { BOTH = "fork" }, metadata = { role = "fork" } })
    assert.are_not.equal(src.id, fork.id)
    assert.matches("^sb%-%x+$", fork.id)
    assert.are.equal("running", fork.status)
    assert.are.equal("from the checkpoint", fork.files:read("/home/sandbox/shared.txt"))
    -- envs and metadata merged over the checkpoint's, the request's winning
    assert.are.equal("source fork\n",
      fork.exec:run('echo "$FROM_SOURCE $BOTH"').stdout)
    local info = fork:get_info()
    assert.are.same({ role = "fork", keep = "yes" }, info.metadata)
    -- they diverge
    fork.files:write("/home/sandbox/shared.txt", "changed in the fork")
    src.files:write("/home/sandbox/only-source.txt", "source")
    assert.are.equal("from the checkpoint", src.files:read("/home/sandbox/shared.txt"))
    assert.is_false(fork.files:exists("/home/sandbox/only-source.txt"))
    -- two forks of one checkpoint do not see each other
    local fork2 <close> = oc.Sandbox.create_from_checkpoint(cp.id, conn{ timeout = 0 })
    assert.are.equal("from the checkpoint", fork2.files:read("/home/sandbox/shared.txt"))
    -- a fork outlives its source and its checkpoint
    src:delete_checkpoint(cp.id)
    src:kill()
    assert.are.equal("changed in the fork", fork.files:read("/home/sandbox/shared.txt"))
    -- a checkpoint of a fork forks too
    local cp2 = fork:create_checkpoint("of-the-fork"):wait()
    local fork3 <close> = oc.Sandbox.create_from_checkpoint(cp2.id, conn{ timeout = 0 })
    assert.are.equal("changed in the fork", fork3.files:read("/home/sandbox/shared.txt"))
  end)

  it("sets the idle timeout it is given", function()
    local src <close> = new_sandbox()
    local cp = src:create_checkpoint("t"):wait()
    local fork <close> = oc.Sandbox.create_from_checkpoint(cp.id, conn{ timeout = 1 })
    local t0 = oc.now()
    while fork:is_running() and oc.now() - t0 < 10 do oc.sleep(0.2) end
    assert.is_false(fork:is_running(), "the fork did not idle out")
    assert.are.equal("awake\n", fork.exec:run("echo awake").stdout)
  end)

  it("checks its arguments before any request", function()
    misuse("Sandbox.create_from_checkpoint: the checkpoint id must be a string",
      oc.Sandbox.create_from_checkpoint, nil)
    misuse("Sandbox.create_from_checkpoint: unknown option 'template'",
      oc.Sandbox.create_from_checkpoint, "x", { template = "base" })
    misuse("Sandbox.create_from_checkpoint: envs.A must be a string",
      oc.Sandbox.create_from_checkpoint, "x", { envs = { A = true } })
    misuse("Sandbox.create_from_checkpoint: memory_mb must be an integer",
      oc.Sandbox.create_from_checkpoint, "x", { memory_mb = "big" })
    misuse("Sandbox.create_from_checkpoint: timeout must be a number",
      oc.Sandbox.create_from_checkpoint, "x", { timeout = "1" })
  end)
end)

describe("checkpoint patches", function()
  it("run once per fork, in order; a failing one stops them and is reported", function()
    local src <close> = new_sandbox()
    local cp = src:create_checkpoint("patched"):wait()
    local p1 = oc.Sandbox.create_checkpoint_patch(cp.id,
      "echo one >> /home/sandbox/log", conn{ description = "first" })
    assert.matches(UUID, p1.id)
    assert.are.equal(cp.id, p1.checkpoint_id)
    assert.are.equal(1, p1.sequence)
    assert.are.equal("first", p1.description)
    assert.are.equal("echo one >> /home/sandbox/log", p1.script)
    local p2 = oc.Sandbox.create_checkpoint_patch(cp.id,
      "echo two >> /home/sandbox/log", conn())
    assert.are.equal(2, p2.sequence)
    assert.are.equal("", p2.description)
    local list = oc.Sandbox.list_checkpoint_patches(cp.id, conn())
    assert.are.same({ p1.id, p2.id }, { list[1].id, list[2].id })
    -- the source sandbox, already running, is not touched
    assert.is_false(src.files:exists("/home/sandbox/log"))

    local fork <close> = oc.Sandbox.create_from_checkpoint(cp.id, conn{ timeout = 0 })
    -- applied before the fork answered, in sequence order
    assert.are.equal("one\ntwo\n", fork.files:read("/home/sandbox/log"))
    assert.is_nil(fork:get_info().patch_error)
    -- once: an explicit wake does not run them again
    fork:hibernate()
    fork:wake()
    oc.sleep(0.3)
    assert.are.equal("one\ntwo\n", fork.files:read("/home/sandbox/log"))

    -- a failing patch stops the sequence and is reported
    local p3 = oc.Sandbox.create_checkpoint_patch(cp.id,
      "echo broken >&2; exit 3", conn{ description = "fails" })
    oc.Sandbox.create_checkpoint_patch(cp.id, "echo four >> /home/sandbox/log", conn())
    local bad <close> = oc.Sandbox.create_from_checkpoint(cp.id, conn{ timeout = 0 })
    assert.are.equal("one\ntwo\n", bad.files:read("/home/sandbox/log"))
    local err = bad:get_info().patch_error
    assert.is_string(err)
    assert.matches("patch seq 3 failed", err)
    assert.matches("broken", err)
    -- without the failing patch, the next explicit wake goes on from it
    oc.Sandbox.delete_checkpoint_patch(cp.id, p3.id, conn())
    oc.Sandbox.delete_checkpoint_patch(cp.id, p3.id, conn())	-- 404 ignored
    bad:hibernate()
    bad:wake()
    local t0 = oc.now()	-- patches after a wake run in the background (8.4)
    while bad.files:read("/home/sandbox/log") ~= "one\ntwo\nfour\n"
        and oc.now() - t0 < 10 do
      oc.sleep(0.1)
    end
    assert.are.equal("one\ntwo\nfour\n", bad.files:read("/home/sandbox/log"))
    assert.is_nil(bad:get_info().patch_error)
    -- the first fork gets patch four on its next wake, once
    fork:hibernate()
    fork:wake()
    t0 = oc.now()
    while fork.files:read("/home/sandbox/log") ~= "one\ntwo\nfour\n"
        and oc.now() - t0 < 10 do
      oc.sleep(0.1)
    end
    assert.are.equal("one\ntwo\nfour\n", fork.files:read("/home/sandbox/log"))
    local left = oc.Sandbox.list_checkpoint_patches(cp.id, conn())
    assert.are.equal(3, #left)
  end)

  it("checks its arguments before any request", function()
    misuse("Sandbox.create_checkpoint_patch: the script must be a string",
      oc.Sandbox.create_checkpoint_patch, "x")
    misuse("Sandbox.create_checkpoint_patch: unknown option 'desc'",
      oc.Sandbox.create_checkpoint_patch, "x", "true", { desc = "" })
    misuse("Sandbox.delete_checkpoint_patch: the patch id must be a string",
      oc.Sandbox.delete_checkpoint_patch, "x")
    misuse("Sandbox.list_checkpoint_patches: options must be a table",
      oc.Sandbox.list_checkpoint_patches, "x", "y")
    fails(E.NotFoundError, oc.Sandbox.list_checkpoint_patches,
      "00000000-0000-4000-8000-000000000000", conn())
  end)
end)

describe("the wait helper against a scripted server", function()
  -- a sandbox whose one checkpoint goes through `statuses` (the last one
  -- stays), one per list request; the requests are counted
  local function serve(statuses)
    local lists = 0
    local _, stop, url = sdk.scripted(function(req)
      local h = { ["Content-Type"] = "application/json" }
      if req.path == "/api/sandboxes/sb-0000abcd" then
        req:respond(200, h, '{"sandboxID":"sb-0000abcd","status":"running"}')
      elseif req.path == "/api/sandboxes/sb-0000abcd/checkpoints" then
        lists = lists + 1
        local status = statuses[math.min(lists, #statuses)]
        req:respond(200, h, json.encode{ {
          id = "11111111-2222-4333-8444-555555555555", sandboxId = "sb-0000abcd",
          name = "slow", kind = "full", status = status, sizeBytes = 0,
          errorMsg = status == "failed" and "disk full" or nil } })
      else
        req:respond(404, h, '{"error":"not found"}')
      end
    end)
    local sb = oc.Sandbox.connect("sb-0000abcd", { api_url = url, api_key = "k" })
    return sb, stop, function() return lists end
  end
  local ID = "11111111-2222-4333-8444-555555555555"

  it("raises TimeoutError, polling with backoff meanwhile", function()
    local sb, stop, lists = serve{ "processing" }
    local t0 = oc.now()
    local e = fails(E.TimeoutError, sb.wait_checkpoint, sb, ID, { timeout = 0.5 })
    local took = oc.now() - t0
    stop()
    assert.are.equal("checkpoint " .. ID .. " (slow) is still processing after 0.5 s",
      e.message)
    assert.are.equal("processing", e.checkpoint.status)
    assert.is_true(took >= 0.5 and took < 1.5, "took " .. took)
    -- 5 ms, 7.5, 11, ... apart: about 11 requests in 0.5 s, not a busy loop
    assert.is_true(lists() >= 6 and lists() <= 14, "lists: " .. lists())
  end)

  it("raises SandboxError with the reason when the checkpoint failed", function()
    local sb, stop, lists = serve{ "processing", "processing", "failed" }
    local e = fails(E.SandboxError, sb.wait_checkpoint, sb, ID)
    stop()
    assert.is_false(E.is(e, E.TimeoutError))
    assert.are.equal("checkpoint " .. ID .. " (slow) failed: disk full", e.message)
    assert.are.equal("failed", e.checkpoint.status)
    assert.are.equal("disk full", e.checkpoint.error_msg)
    assert.are.equal(3, lists())
  end)

  it("returns once ready; checkpoint:wait updates its table", function()
    local sb, stop = serve{ "processing", "ready" }
    local cp = sb:list_checkpoints()[1]
    assert.are.equal("processing", cp.status)
    assert.are.equal(cp, cp:wait())
    assert.are.equal("ready", cp.status)
    stop()
  end)
end)
