-- spec/escape_spec.lua - the escape suite: attacks on the sandbox as a
-- security boundary, by code inside a sandbox (as its `sandbox` user and
-- as root through its passwordless sudo) and through the files API.
--
-- Every attack asserts, besides its own expected failure, that
--   (a) the host's marker files (a random secret, mode 0600, made here
--       under /root and /tmp) were not read: their secret, and the host's
--       /etc/shadow, appear in no command output and no API response; the
--       API key and the server's host paths appear in nothing a sandbox
--       produced;
--   (b) no host file changed: content hash and metadata of the host files
--       the attacks aim at (and paths they try to create) are the same
--       after as before;
--   (c) the server still answers: GET /health within 3 s.
--
-- The attacker's tools are compiled here on the host (cc) from
-- spec/support/escape_probe.c and copied in through the files API; they
-- are never run on the host. Network attacks only ever aim at 10.0.2.x
-- (the sandbox's own slirp4netns), the host's 127.0.0.1 through it, and
-- ranges the sandbox must refuse locally: nothing leaves this machine.
--
-- Numbers in comments, "-- (7)", are the attack routes of the issue that
-- asked for this suite. OCLUA_ESCAPE_VERBOSE=1 prints every command run
-- inside and its output.

local oc = require("opencomputer")
local core = require("opencomputer.core")
local support = require("spec.support.server")

local c = support.shared()
local q = support.q

-- ------------------------------------------------------------------
-- host side

--- Run a shell script on the host without stopping the loop (the
-- shared server runs in this process); its stdout and exit code.
local function host(script, ...)
  return support.output({ "sh", "-c", script, "sh", ... })
end

local function random_hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(n)
  f:close()
  return (bytes:gsub(".", function(ch) return string.format("%02x", ch:byte()) end))
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Values set up once (setup below)
local TOK = random_hex(6)
local SECRET = "oclua-secret-" .. random_hex(16)
local MARKERS = { "/root/oclua-escape-" .. TOK, "/tmp/oclua-escape-" .. TOK .. "-marker" }
local MARKER_NAME = "oclua-escape-" .. TOK
-- a host directory that sandboxes point symlinks at
local VICTIM = "/tmp/oclua-escape-" .. TOK .. "-victim"
local HOST_SHADOW = read_file("/etc/shadow")
local KEY = support.KEY
local SELF_PID = tonumber((read_file("/proc/self/stat") or ""):match("^(%d+)"))

-- host paths the attacks aim at, or try to create: compared before and
-- after every attack
local WATCHED = {
  MARKERS[1], MARKERS[2],
  "/etc/shadow", "/etc/gshadow", "/etc/passwd", "/etc/group", "/etc/sudoers",
  "/etc/ld.so.preload", "/etc/pam.d", "/etc/pam.d/su", "/etc/pam.d/sudo",
  "/etc/hostname", "/etc/hosts",
  "/usr/bin/sudo", "/usr/bin/su", "/usr/bin/passwd", "/usr/bin/chfn",
  "/usr/bin/bash",
  "/usr/bin/oclua-escape-" .. TOK, "/usr/oclua-escape-" .. TOK,
  "/etc/oclua-escape-" .. TOK, "/etc/pam.d/oclua-escape-" .. TOK,
  "/tmp/oclua-escape-" .. TOK .. "-x", "/tmp/oclua-escape-" .. TOK .. "-race",
  "/root/oclua-escape-" .. TOK .. "-x", "/oclua-escape-" .. TOK,
  VICTIM, VICTIM .. "/keep",
}
-- kernel settings: compared by value, and put back if an attack changed them
local SYSCTLS = {
  "/proc/sys/fs/lease-break-time", "/proc/sys/kernel/core_pattern",
  "/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname",
  "/proc/sys/kernel/sysrq", "/proc/sys/kernel/modprobe",
  "/proc/sys/net/ipv4/ip_forward",
}

local SNAPSHOT = [[
for p do
  if [ -L "$p" ] || [ -e "$p" ]; then
    h=
    if [ -f "$p" ] && [ ! -L "$p" ]; then h=$(sha256sum "$p" | cut -c1-64); fi
    printf '%s|%s|%s\n' "$p" "$(stat -c '%F %s %y %z %i %u:%g %a %h' "$p")" "$h"
  else
    printf '%s|absent\n' "$p"
  fi
done
]]

local function snapshot()
  local out, rc = host(SNAPSHOT, table.unpack(WATCHED))
  assert(rc == 0, "snapshot of host files failed")
  local snap = {}
  for line in out:gmatch("[^\n]+") do
    snap[line:match("^[^|]*")] = line
  end
  for _, p in ipairs(SYSCTLS) do snap[p] = read_file(p) or "unreadable" end
  return snap
end

-- ------------------------------------------------------------------
-- API side: everything that comes back is kept, for the leak checks

local seen, seen_inside = {}, {}

local function note(s, inside)
  if type(s) == "string" and s ~= "" then
    seen[#seen + 1] = s
    if inside then seen_inside[#seen_inside + 1] = s end
  end
end

--- c:api on any client, recording the response body.
local function api_on(client, method, path, opts)
  local status, doc, res = client:api(method, path, opts)
  note(res and res.body)
  return status, doc, res
end

local function api(method, path, opts) return api_on(c, method, path, opts) end

--- exec/run through sh -c on a client; the result (stdout, stderr,
-- exitCode), recorded as produced inside a sandbox.
local VERBOSE = os.getenv("OCLUA_ESCAPE_VERBOSE")	-- print every command's output

local function run_on(client, id, cmd, extra)
  local body = { cmd = "sh", args = { "-c", cmd }, timeout = 30 }
  for k, v in pairs(extra or {}) do body[k] = v end
  local status, doc, res = client:api("POST", "/sandboxes/" .. id .. "/exec/run",
    { body = body, timeout = (body.timeout or 30) + 30 })
  note(res and res.body, true)
  if VERBOSE then
    io.stderr:write("\n$ ", cmd, "\n", doc and doc.stdout or "", doc and doc.stderr or "",
      "[exit ", tostring(doc and doc.exitCode), "]\n")
  end
  assert(status == 200, "exec/run: " .. tostring(status) .. " " .. tostring(res and res.body))
  return doc
end

local function run(id, cmd, extra) return run_on(c, id, cmd, extra) end

--- a command that runs on: its session id
local function start(id, cmd, timeout)
  local status, doc = api("POST", "/sandboxes/" .. id .. "/exec", { body = {
    cmd = "sh", args = { "-c", cmd }, timeout = timeout or 30 } })
  assert(status == 201, "exec: " .. tostring(status))
  return doc.sessionID
end

local function stop_session(id, sid)
  api("POST", "/sandboxes/" .. id .. "/exec/" .. sid .. "/kill", { body = { signal = 9 } })
end

--- files API: status, body, seconds it took
local function get(id, path, timeout)
  local t0 = oc.now()
  local status, _, res = api("GET", "/sandboxes/" .. id .. "/files",
    { query = "path=" .. q(path), timeout = timeout or 10 })
  local body = res and res.body
  if status == 200 then note(body, true) end
  return status, body, oc.now() - t0
end

local function put(id, path, data, timeout)
  local t0 = oc.now()
  local status, doc = api("PUT", "/sandboxes/" .. id .. "/files", {
    query = "path=" .. q(path), raw = data, timeout = timeout or 10,
    headers = { ["Content-Type"] = "application/octet-stream" } })
  return status, doc, oc.now() - t0
end

local function list(id, path)
  local status, doc, res = api("GET", "/sandboxes/" .. id .. "/files/list",
    { query = "path=" .. q(path) })
  if status == 200 then note(res and res.body, true) end
  return status, doc
end

local function remove(id, path)
  return (api("DELETE", "/sandboxes/" .. id .. "/files", { query = "path=" .. q(path) }))
end

local function mkdir(id, path)
  return (api("POST", "/sandboxes/" .. id .. "/files/mkdir", { query = "path=" .. q(path) }))
end

--- "name=value" lines (the probe's output) as a table
local function kv(text)
  local t = {}
  for k, v in (text or ""):gmatch("([%w_%(%)/%.%-:]+)=([^\n]*)") do
    if t[k] == nil then t[k] = v end
  end
  return t
end

local function has(s, what) return s:find(what, 1, true) ~= nil end

--- `s` as a Lua pattern that matches it literally
local function esc(s) return (s:gsub("%W", "%%%0")) end

-- the start of the host's /etc/shadow as the probe shows a file read
local HOST_SHADOW_SHOWN = HOST_SHADOW and "ok:" .. HOST_SHADOW:sub(1, 200):gsub("\n", " ")

-- ------------------------------------------------------------------
-- the attacker's tools, and the sandboxes

local PROBE, PRELOAD	-- the compiled probe and preload library
local BUILD_DIR
local DATA_DIR, TEMPLATE_DIR, EXE_DIR
local HOST_DEV, LOOP_DEV	-- "major minor" of the host's / and of the sandboxes' disk
local A				-- the sandbox most attacks share
local made = {}			-- sandboxes to delete at the end

local function registry()
  local state = package.loaded["spec.state"]
  return state and state.server and state.server.registry
end

--- The PID namespace of sandbox `id` ("pid:[N]", as /proc/PID/ns/pid
-- links to it on the host too), read by a command inside.
local function pid_namespace(id)
  local ns = run(id, "readlink /proc/self/ns/pid").stdout:match("^pid:%[%d+%]")
  return assert(ns, "no PID namespace link inside the sandbox")
end

--- The host PIDs of a sandbox's processes: every process in its PID
-- namespace `ns` (pid_namespace) and every process under one of them
-- (a nested PID namespace's). Not by host uid: another oclua server on
-- this machine (another spec run, a script's embedded server) numbers
-- its uid slots from the same --uid-base, so one of its sandboxes can
-- have this one's uid range, and its processes would count here. (The
-- status files go through cat: mawk stops at the first file it cannot
-- open, a process that ended after the glob, and the rest went uncounted.)
local function host_pids(ns)
  local out = host([[
    { find /proc/[0-9]*/ns -maxdepth 1 -name pid -printf '%h %l\n' 2>/dev/null |
        awk -v ns="$1" '$2 == ns { split($1, d, "/"); print "in", d[3] }'
      cat /proc/[0-9]*/status 2>/dev/null |
        awk '/^Pid:/ { p = $2 } /^PPid:/ { print "parent", p, $2 }'
    } | awk '$1 == "in" { inside[$2] = 1; next } { up[$2] = $3 }
      END { for (p in up) { q = p; n = 0
              while (!(q in inside) && (q in up) && n++ < 4096) q = up[q]
              if (q in inside) print p } }']], ns)
  local pids = {}
  for pid in out:gmatch("%d+") do pids[#pids + 1] = tonumber(pid) end
  return pids
end

--- A new sandbox with the probe at /home/sandbox/probe.
local function new_sandbox(body)
  local b = { timeout = 0 }
  for k, v in pairs(body or {}) do b[k] = v end
  local id = c:create(b)
  made[#made + 1] = id
  local status = put(id, "/home/sandbox/probe", PROBE, 30)
  assert(status == 204, "could not copy the probe in: " .. tostring(status))
  local r = run(id, "chmod 755 /home/sandbox/probe && echo ok")
  assert(r.stdout == "ok\n", r.stderr)
  return id
end

-- ------------------------------------------------------------------
-- the three checks of every attack

local function health(client)
  local t0 = oc.now()
  local status = (client or c):api("GET", "/health", { prefix = "", key = false, timeout = 3 })
  return status == 200 and oc.now() - t0 < 3, oc.now() - t0
end

local function check_after(before)
  local problems = {}
  -- (a) nothing secret came out
  for _, s in ipairs(seen) do
    if has(s, SECRET) then
      problems[#problems + 1] = "the host marker's secret came out: " .. s:sub(1, 300)
    end
    if HOST_SHADOW and #HOST_SHADOW > 20 and has(s, HOST_SHADOW) then
      problems[#problems + 1] = "the host's /etc/shadow came out"
    end
  end
  for _, s in ipairs(seen_inside) do
    for _, leak in ipairs({ KEY, DATA_DIR, TEMPLATE_DIR }) do
      if leak and #leak > 4 and has(s, leak) then
        problems[#problems + 1] = "a sandbox saw " .. leak .. ": " .. s:sub(1, 300)
      end
    end
  end
  -- (b) no host file changed (kernel settings are put back first)
  local after = snapshot()
  for _, p in ipairs(SYSCTLS) do
    if before[p] ~= after[p] then
      local f = io.open(p, "w")
      if f then f:write(before[p]); f:close() end
    end
  end
  for k, v in pairs(before) do
    if after[k] ~= v then
      problems[#problems + 1] = "host file changed: " .. k .. "\n  before: "
        .. tostring(v):sub(1, 200) .. "\n  after:  " .. tostring(after[k]):sub(1, 200)
    end
  end
  -- (c) the server answers
  local ok, took = health()
  if not ok then
    problems[#problems + 1] = string.format("GET /health did not answer 200 within 3 s (%.1f s)", took)
  end
  return problems
end

local function is_pending(err)
  local mt = type(err) == "table" and getmetatable(err)
  return mt and mt.__type == "pending"
end

--- An attack: `fn` makes it and asserts its own expected failure; the
-- three checks run after it whatever happened.
local function attack(name, fn)
  it(name, function()
    seen, seen_inside = {}, {}
    local before = snapshot()
    local ok, err = pcall(fn)
    local problems = check_after(before)
    if #problems > 0 then
      local msg = "ESCAPE CHECK FAILED:\n  " .. table.concat(problems, "\n  ")
      if not ok and not is_pending(err) then
        msg = msg .. "\nand the attack's own assertion failed:\n" .. tostring(
          type(err) == "table" and (err.message or err[1]) or err)
      end
      error(msg, 0)
    end
    if not ok then error(err, 0) end
  end)
end

local function skip(why) require("busted").pending(why) end

-- ------------------------------------------------------------------

describe("escape suite", function()
  setup(function()
    -- the host's secrets
    for _, m in ipairs(MARKERS) do
      local f = assert(io.open(m, "w"))
      f:write(SECRET, "\n")
      f:close()
    end
    assert(select(2, host("chmod 600 \"$@\"", table.unpack(MARKERS))) == 0)
    assert(select(2, host("mkdir -p \"$1\" && echo host > \"$1/keep\"", VICTIM)) == 0)
    -- the tools
    local src = "spec/support/escape_probe.c"
    assert(read_file(src), "run from the repository root: " .. src)
    BUILD_DIR = host("mktemp -d /tmp/oclua-escape-build.XXXXXX")
    local out, rc = host("cc -static -O1 -o \"$1/probe\" \"$2\" 2>&1 && "
      .. "cc -shared -fPIC -O1 -DPRELOAD -o \"$1/preload.so\" \"$2\" 2>&1", BUILD_DIR, src)
    assert(rc == 0, "cc failed: " .. out)
    PROBE = assert(read_file(BUILD_DIR .. "/probe"))
    PRELOAD = assert(read_file(BUILD_DIR .. "/preload.so"))
    -- the server's own paths, which no sandbox may see
    local state = package.loaded["spec.state"]
    A = new_sandbox()
    local srv = state and state.server
    DATA_DIR = srv and srv.data_dir
    TEMPLATE_DIR = srv and srv.registry and srv.registry.template
    EXE_DIR = core.executable():match("^(.*)/[^/]*$")
    HOST_DEV = host("stat -c '%Hd %Ld' /")
    if DATA_DIR then
      -- the block device under the sandboxes' file system (a loop device)
      LOOP_DEV = host("src=$(findmnt -n -o SOURCE --target \"$1\") && "
        .. "stat -L -c '%Hr %Lr' \"$src\"", DATA_DIR .. "/sandboxes")
    end
  end)

  teardown(function()
    for _, id in ipairs(made) do c:api("DELETE", "/sandboxes/" .. id) end
    for _, m in ipairs(MARKERS) do os.remove(m) end
    host("rm -rf \"$1\"", VICTIM)
    if BUILD_DIR and BUILD_DIR:match("^/tmp/oclua%-escape%-build") then
      host("rm -rf \"$1\"", BUILD_DIR)
    end
  end)

  -- (1)
  attack("ld.so.preload and a setuid program give root inside only", function()
    local id = new_sandbox()
    -- the files API is the sandbox user: /etc is root's
    assert.are.equal(403, (put(id, "/etc/ld.so.preload", "/tmp/evil.so\n")))
    assert.are.equal(204, (put(id, "/tmp/evil.so", PRELOAD)))
    local cfg = { "read " .. MARKERS[1], "read " .. MARKERS[2],
      "read /proc/1/root" .. MARKERS[1], "read /proc/1/root" .. MARKERS[2],
      "read /proc/self/root" .. MARKERS[1], "read /etc/shadow" }
    if HOST_DEV:match("^%d+ %d+$") then cfg[#cfg + 1] = "disk " .. HOST_DEV end
    if LOOP_DEV and LOOP_DEV:match("^%d+ %d+$") then cfg[#cfg + 1] = "disk " .. LOOP_DEV end
    assert.are.equal(204, (put(id, "/tmp/preload-armed", table.concat(cfg, "\n") .. "\n")))
    -- root inside arms it, then a setuid program runs it as root
    local r = run(id, "sudo -n sh -c 'echo /tmp/evil.so > /etc/ld.so.preload' && "
      .. "sudo -n id -u; cat /tmp/preload.log")
    assert.matches("^0\n", r.stdout, r.stderr)
    local log = r.stdout
    assert.matches("preload pid=%d+ euid=0", log, "the preloaded code did not run as root: " .. r.stderr)
    local map = log:match("uid_map=ok:%s*0%s+(%d+)")
    assert.is_truthy(map, log)
    assert.is_true(tonumber(map) >= 1000000000, "root inside is host uid " .. tostring(map))
    local t = kv(log)
    for _, m in ipairs(MARKERS) do
      assert.is_falsy((t["read(" .. m .. ")"] or "ok"):match("^ok"), log)
      assert.is_falsy((t["read(/proc/1/root" .. m .. ")"] or "ok"):match("^ok"), log)
    end
    -- the sandbox's own /etc/shadow is root's to read inside: not the host's
    assert.are_not.equal(HOST_SHADOW_SHOWN, t["read(/etc/shadow)"])
    for k, v in pairs(t) do
      if k:match("^mknod") or k:match("^mount_") then
        assert.are.equal("EPERM", v, k .. " as root inside: " .. log)
      end
    end
    assert.is_truthy(t.mount_tmpfs, log)
    -- and the preload is the sandbox's alone: the host has none (snapshot)
  end)

  -- (2)
  attack("PUT under /etc/pam.d is refused and su's PAM file is unchanged", function()
    local before = run(A, "sha256sum /etc/pam.d/su").stdout
    local permit = "auth sufficient pam_permit.so\n"
    assert.are.equal(403, (put(A, "/etc/pam.d/" .. MARKER_NAME, permit)))
    assert.are.equal(403, (put(A, "/etc/pam.d/new-" .. TOK .. "/su", permit)))
    assert.are.equal(403, (put(A, "/etc/pam.d/su", permit)))
    assert.are.equal(403, (put(A, "/etc/pam.d/../pam.d/sudo", permit)))
    assert.are.equal(403, mkdir(A, "/etc/pam.d/dir-" .. TOK))
    local r = run(A, "sha256sum /etc/pam.d/su; ls /etc/pam.d | grep -c " .. TOK)
    assert.are.equal(before .. "0\n", r.stdout)
    -- and su does not let the sandbox user in without a password
    r = run(A, "su -c id root </dev/null; echo rc=$?")
    assert.is_falsy(r.stdout:match("uid=0"), r.stdout)
  end)

  -- (3)
  attack("the files API refuses writes to /proc/sys, /proc and /sys", function()
    for path, value in pairs({
      ["/proc/sys/fs/lease-break-time"] = "46\n",
      ["/proc/sys/kernel/core_pattern"] = "oclua-escape-core\n",
      ["/proc/sys/kernel/hostname"] = "oclua-escaped\n",
      ["/proc/sysrq-trigger"] = "h",
      ["/proc/1/oom_score_adj"] = "1000\n",
      ["/proc/self/attr/current"] = "unconfined\n",
      ["/sys/kernel/mm/ksm/run"] = "1\n",
      ["/proc/sys/new-" .. TOK] = "x",
    }) do
      local status, _, took = put(A, path, value)
      assert.are.equal(403, status, path)
      assert.is_true(took < 3, path .. " took " .. took)
    end
    assert.are.equal(403, mkdir(A, "/proc/sys/dir-" .. TOK))
    assert.are.equal(403, mkdir(A, "/sys/dir-" .. TOK))
    local status = remove(A, "/proc/sys/fs/lease-break-time")
    assert.is_true(status >= 400, "DELETE under /proc/sys: " .. status)
    -- inside, the values are the host's, unchanged (the snapshot checks the host)
    local r = run(A, "cat /proc/sys/fs/lease-break-time /proc/sys/kernel/core_pattern")
    assert.are.equal(read_file("/proc/sys/fs/lease-break-time")
      .. read_file("/proc/sys/kernel/core_pattern"), r.stdout)
  end)

  -- (4)
  attack("a FIFO or socket through the files API: 400 at once, the server keeps answering", function()
    local fifo, sock = "/tmp/fifo-" .. TOK, "/tmp/sock-" .. TOK
    local r = run(A, "mkfifo " .. fifo .. " && ln -sfn " .. fifo .. " /home/sandbox/fifolink-"
      .. TOK .. " && echo made; if command -v python3 >/dev/null; then python3 -c "
      .. shell_quote("import socket; socket.socket(socket.AF_UNIX).bind('" .. sock .. "')")
      .. " && echo sock; fi")
    assert.matches("made", r.stdout, r.stderr)
    -- a helper that opens the FIFO both ways now and then: a server that
    -- blocks on it comes back (late), rather than hang the suite
    local sid = start(A, "for i in 1 2 3 4 5 6 7 8; do sleep 2; timeout 1 sh -c 'echo x > "
      .. fifo .. "' & timeout 1 cat " .. fifo .. " >/dev/null; done")
    local reads = {}
    local bg = oc.spawn(function()
      reads[1] = { get(A, fifo, 15) }
    end)
    oc.sleep(0.2)
    local ok, took = health()
    assert.is_true(ok, "the server stalled while a FIFO was read: " .. took)
    bg:wait()
    assert.are.equal(400, reads[1][1])
    assert.is_true(reads[1][3] < 2, "GET of a FIFO took " .. reads[1][3])
    local status, _, t = get(A, "/home/sandbox/fifolink-" .. TOK, 15)
    assert.are.equal(400, status)
    assert.is_true(t < 2)
    status, _, t = put(A, fifo, "into the fifo", 15)
    assert.are.equal(400, status)
    assert.is_true(t < 2, "PUT of a FIFO took " .. t)
    if has(r.stdout, "sock") then
      status, _, t = get(A, sock, 15)
      assert.are.equal(400, status)
      assert.is_true(t < 2)
      status = put(A, sock, "x", 15)
      assert.are.equal(400, status)
    end
    stop_session(A, sid)
    assert.are.equal(200, (list(A, "/tmp")))
  end)

  -- (5)
  attack("/proc/kmsg: refused or empty at once, the host's kernel log untouched", function()
    local line = "oclua-escape-kmsg-" .. TOK
    local wrote = select(2, host("echo \"<6>$1\" > /dev/kmsg", line)) == 0
    local status, body, took = get(A, "/proc/kmsg", 5)
    assert.is_true(took < 2, "GET /proc/kmsg took " .. took)
    assert.is_true(status == 400 or status == 403 or status == 404
      or (status == 200 and body == ""), "GET /proc/kmsg: " .. status)
    local r = run(A, "timeout 2 cat /proc/kmsg | head -c 4096; sudo -n timeout 2 cat /proc/kmsg"
      .. " | head -c 4096; sudo -n dmesg 2>&1 | tail -n 5; echo end", { timeout = 10 })
    assert.matches("end\n$", r.stdout)
    assert.is_false(has(r.stdout, line), "the sandbox read the host's kernel log")
    if wrote then
      local out = host("dmesg | grep -c \"$1\"", line)
      assert.are.equal("1", out, "the host's kernel log lost its line")
    end
  end)

  -- (6)
  attack("/dev/tty and other devices through the files API: 400 at once", function()
    run(A, "ln -sfn /dev/zero /home/sandbox/zerolink-" .. TOK)
    for _, path in ipairs({ "/dev/tty", "/dev/zero", "/dev/urandom", "/dev/null",
        "/dev/full", "/dev/ptmx", "/dev/pts/ptmx", "/home/sandbox/zerolink-" .. TOK }) do
      local status, _, took = get(A, path, 5)
      assert.are.equal(400, status, "GET " .. path)
      assert.is_true(took < 2, "GET " .. path .. " took " .. took)
    end
    for _, path in ipairs({ "/dev/tty", "/dev/null", "/dev/full", "/home/sandbox/zerolink-" .. TOK }) do
      local status = put(A, path, "x", 5)
      -- a device is refused (400); so is any write under /dev (403)
      assert.is_true(status == 400 or status == 403, "PUT " .. path .. ": " .. status)
    end
    assert.are.equal(403, (put(A, "/dev/new-" .. TOK, "x")))
    assert.are.equal(403, (put(A, "/dev/shm/../new-" .. TOK, "x")))
  end)

  -- (7)
  attack("/proc/1 and mountinfo show no API key and no host path", function()
    local r = run(A, "for f in /proc/1/cmdline /proc/1/environ /proc/1/mountinfo "
      .. "/proc/self/mountinfo /proc/1/mounts /proc/self/environ /proc/1/cgroup "
      .. "/proc/1/status; do echo \"== $f\"; sudo -n cat $f | tr '\\0' ' '; echo; done; "
      .. "env; sudo -n sh -c 'cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline' | tr '\\0' '\\n'; "
      .. "sudo -n readlink /proc/1/exe /proc/1/cwd /proc/1/root; "
      .. "sudo -n ls -l /proc/1/fd/ /proc/1/map_files/ 2>&1", { timeout = 15 })
    local out = r.stdout .. r.stderr
    -- it did see the files (or the test means nothing)
    assert.matches("== /proc/1/mountinfo\n%d+ %d+ ", r.stdout)
    for _, leak in ipairs({ KEY, DATA_DIR, TEMPLATE_DIR, "/var/tmp/oclua", EXE_DIR }) do
      assert.is_false(has(out, leak), "a sandbox can see " .. leak .. ":\n" .. out)
    end
    -- through the files API too
    for _, path in ipairs({ "/proc/1/cmdline", "/proc/1/mountinfo", "/proc/1/environ",
        "/proc/self/mountinfo" }) do
      local status, body = get(A, path)
      if status == 200 then
        for _, leak in ipairs({ KEY, DATA_DIR, TEMPLATE_DIR, EXE_DIR }) do
          assert.is_false(has(body, leak), path .. " shows " .. leak)
        end
      end
    end
  end)

  -- (8)
  attack("killing init from inside, as root: the sandbox keeps working; init cannot be traced", function()
    local id = new_sandbox()
    local r = run(id, "for s in TERM INT HUP QUIT USR1 USR2 SEGV ABRT PIPE KILL STOP; do "
      .. "sudo -n kill -s $s 1; echo \"$s=$?\"; done; sudo -n kill -s CONT 1; echo sent",
      { timeout = 15 })
    local t0 = oc.now()
    local again = run(id, "echo still here", { timeout = 10 })
    assert.are.equal("still here\n", again.stdout, again.stderr)
    assert.is_true(oc.now() - t0 < 10)
    assert.are.equal("running", select(2, api("GET", "/sandboxes/" .. id)).status)
    -- ptrace and friends on PID 1, as the user and as root
    for _, who in ipairs({ "", "sudo -n " }) do
      r = run(id, who .. "./probe ptrace 1")
      local t = kv(r.stdout)
      assert.are.equal("1", t.done, r.stdout .. r.stderr)
      assert.are.equal("EPERM", t.ptrace_attach, who .. r.stdout)
      assert.are.equal("EPERM", t.ptrace_seize, who .. r.stdout)
      assert.are.equal("EPERM", t.process_vm_readv, who .. r.stdout)
      assert.is_falsy(t.proc_mem:match("^ok"), who .. r.stdout)
      assert.is_falsy(t.proc_environ:match("^ok"), who .. r.stdout)
      assert.is_falsy(t.pidfd_getfd:match("^ok"), who .. r.stdout)
    end
    -- and with strace, where the host's /usr has it
    r = run(id, "command -v strace >/dev/null || exit 0; sudo -n timeout 2 strace -p 1 "
      .. "-o /dev/null -e trace=none; echo rc=$?", { timeout = 10 })
    assert.is_false(has(r.stderr, "Process 1 attached"), r.stderr)
    assert.are_not.equal("0", kv(r.stdout).rc, "strace attached to PID 1")
  end)

  -- (9)
  attack("init killed from the host: stopped, woken by the next call, never a reused PID's files", function()
    local id = new_sandbox()
    local tag = tostring(40 + math.random(1, 9)) .. "." .. tostring(math.random(100000, 999999))
    local sid = start(id, "exec sleep " .. tag, 60)
    -- find the sandbox's init on the host: up from the sleep, the process
    -- whose PID in its own namespace is 1
    local init_pid
    for _ = 1, 20 do
      init_pid = host([[
        for p in $(pgrep -x -f "sleep $1"); do
          while [ "$p" -gt 1 ]; do
            ns=$(awk '/^NSpid:/{print $NF}' /proc/$p/status 2>/dev/null)
            n=$(awk '/^NSpid:/{print NF}' /proc/$p/status 2>/dev/null)
            if [ "$ns" = 1 ] && [ "$n" -gt 2 ]; then echo $p; exit 0; fi
            p=$(awk '/^PPid:/{print $2}' /proc/$p/status 2>/dev/null)
            [ -n "$p" ] || break
          done
        done]], tag)
      if init_pid ~= "" then break end
      oc.sleep(0.1)
    end
    if init_pid == "" then
      stop_session(id, sid)
      return skip("the sandbox's init cannot be found from the host (no process "
        .. "with NSpid 1 above the sandbox's 'sleep " .. tag .. "')")
    end
    init_pid = tonumber(init_pid)
    assert.is_true(init_pid ~= SELF_PID and init_pid > 1)
    assert.are.equal(0, select(2, host("kill -9 \"$1\"", init_pid)))
    local t0, doc = oc.now(), nil
    repeat
      oc.sleep(0.1)
      doc = select(2, api("GET", "/sandboxes/" .. id))
    until doc.status == "stopped" or oc.now() - t0 > 5
    assert.are.equal("stopped", doc.status)
    -- a host process takes the dead init's PID (the next PID handed out)
    local reused = host("echo $(( $1 - 1 )) > /proc/sys/kernel/ns_last_pid && "
      .. "{ sleep 30 </dev/null >/dev/null 2>&1 & echo $!; }", init_pid)
    local took_pid = tonumber(reused) == init_pid
    -- the files API: the sandbox's files, booted again, never the host's
    local status, body = get(id, "/etc/hostname")
    assert.are.equal(200, status)
    assert.are.equal(id .. "\n", body)
    for _, m in ipairs(MARKERS) do
      status = get(id, m)
      assert.is_true(status == 403 or status == 404, m .. ": " .. status)
    end
    assert.are_not.equal(200, (get(id, "/proc/" .. init_pid .. "/root" .. MARKERS[1])))
    assert.are.equal(204, (put(id, "/tmp/oclua-escape-" .. TOK .. "-x", "inside")))
    assert.are.equal("running", select(2, api("GET", "/sandboxes/" .. id)).status)
    assert.are.equal("back\n", run(id, "echo back").stdout)
    -- booted again, it is as confined as before
    local p = kv(run(id, "./probe syscalls").stdout)
    for _, k in ipairs({ "unshare_user", "mount_tmpfs", "keyctl", "bpf" }) do
      if p[k] then assert.are.equal("EPERM", p[k], k .. " after the reboot") end
    end
    assert.are.equal("EPERM", p.unshare_user)
    local map = run(id, "cat /proc/self/uid_map").stdout:match("^%s*0%s+(%d+)")
    assert.is_true(tonumber(map) >= 1000000000, "uid map after the reboot: " .. tostring(map))
    if tonumber(reused) then host("kill \"$1\" 2>/dev/null", reused) end
    if not took_pid then
      print("escape_spec: note: the host process did not get the dead init's PID "
        .. init_pid .. " (got " .. tostring(reused) .. "); the reuse half was weaker")
    end
  end)

  -- (10)
  attack("'..' and symlinks through the files API stay inside", function()
    local m = MARKERS[1]
    run(A, table.concat({
      "cd /home/sandbox",
      "ln -sfn / rootlink-" .. TOK,
      "ln -sfn /etc/shadow shadowlink-" .. TOK,
      "ln -sfn " .. m .. " markerlink-" .. TOK,
      "ln -sfn ../../../../../../../.." .. m .. " relmarker-" .. TOK,
      "ln -sfn /proc/self/root selfroot-" .. TOK,
      "ln -sfn /proc/1/root initroot-" .. TOK,
      "ln -sfn loop-b-" .. TOK .. " loop-a-" .. TOK,
      "ln -sfn loop-a-" .. TOK .. " loop-b-" .. TOK,
      "mkdir -p victim-" .. TOK .. " && echo keep > victim-" .. TOK .. "/keep",
      "ln -sfn /home/sandbox/victim-" .. TOK .. " dellink-" .. TOK,
    }, " && "))
    local function refused(path, want)
      local status, _, took = get(A, path, 5)
      if want then
        assert.are.equal(want, status, path)
      else
        assert.are_not.equal(200, status, path)
      end
      assert.is_true(took < 3, path .. " took " .. took)
    end
    -- the sandbox's own /etc/shadow is root's: 403 (or 404 without one)
    refused("../../etc/shadow")
    refused("/../../etc/shadow")
    refused("/etc/shadow")
    refused("../../../../../.." .. m)
    refused("shadowlink-" .. TOK)
    refused("markerlink-" .. TOK)
    refused("relmarker-" .. TOK)
    refused("rootlink-" .. TOK .. m)
    refused("rootlink-" .. TOK .. "/.." .. m)
    refused(MARKERS[2], 404)
    refused("/proc/self/root" .. m)
    refused("/proc/1/root" .. m)
    refused("/proc/1/root/etc/hostname")
    refused("/proc/1/cwd/etc/hostname")
    refused("/proc/self/fd/0")
    refused("/dev/stdin")
    refused("selfroot-" .. TOK .. "/etc/hostname")
    refused("initroot-" .. TOK .. "/etc/hostname")
    refused("loop-a-" .. TOK, 404)
    local status, body = get(A, "rootlink-" .. TOK .. "/etc/hostname")
    assert.are.equal(200, status)
    assert.are.equal(A .. "\n", body)
    assert.are_not.equal(200, (list(A, "/proc/1/root")))
    local ls, entries = list(A, "rootlink-" .. TOK)
    assert.are.equal(200, ls)
    for _, e in ipairs(entries) do
      assert.are_not.equal("work", e.name, "the host's / listed")
    end
    -- writes and deletes through them land inside, or nowhere
    put(A, "rootlink-" .. TOK .. m, "overwritten")
    put(A, "markerlink-" .. TOK, "overwritten")
    put(A, "relmarker-" .. TOK, "overwritten")
    assert.are.equal(204, (put(A, "rootlink-" .. TOK .. "/tmp/oclua-escape-" .. TOK .. "-x", "inside")))
    assert.are.equal(403, (put(A, "/proc/1/root/tmp/oclua-escape-" .. TOK .. "-x", "inside")))
    assert.are.equal(204, (put(A, "../../../../tmp/oclua-escape-" .. TOK .. "-x", "inside")))
    assert.are.equal("inside", run(A, "cat /tmp/oclua-escape-" .. TOK .. "-x").stdout)
    mkdir(A, "rootlink-" .. TOK .. "/oclua-escape-" .. TOK)
    remove(A, "rootlink-" .. TOK .. m)
    remove(A, "markerlink-" .. TOK)
    -- a DELETE of a symlink removes the link, not what it points to
    assert.are.equal(204, remove(A, "dellink-" .. TOK))
    assert.are.equal("keep\n", run(A, "cat /home/sandbox/victim-" .. TOK .. "/keep").stdout)
    assert.are.equal(400, remove(A, "/"))
    assert.are.equal(400, remove(A, "/../.."))
    -- a path of 4,000 bytes and a deep chain of ..
    refused(("../"):rep(1300) .. "etc/shadow")
  end)

  -- (11)
  attack("a symlink swapped in a loop during reads and writes never reaches the host", function()
    local x = "/home/sandbox/swap-" .. TOK
    run(A, "mkdir -p /tmp/swap-" .. TOK .. "/root && echo inside-copy > /tmp/swap-" .. TOK
      .. "/root/" .. MARKER_NAME .. " && ln -sfn / " .. x)
    local sid = start(A, "cd /home/sandbox; while :; do ln -sfn / swap-" .. TOK
      .. "; ln -sfn /tmp/swap-" .. TOK .. " swap-" .. TOK .. "; done", 30)
    oc.sleep(0.2)
    local bad = {}
    local function worker(n)
      for i = 1, 40 do
        local status, body = get(A, x .. MARKERS[1])
        if status == 200 and body ~= "inside-copy\n" and body ~= "race" then
          bad[#bad + 1] = "read: " .. body
        end
        status, body = get(A, x .. "/etc/hostname")
        if status == 200 and body ~= A .. "\n" then bad[#bad + 1] = "hostname: " .. body end
        put(A, x .. MARKERS[2], "race " .. n .. " " .. i)
        put(A, x .. "/tmp/oclua-escape-" .. TOK .. "-race", "race")
        put(A, x .. MARKERS[1], "race")
      end
    end
    local t1, t2 = oc.spawn(worker, 1), oc.spawn(worker, 2)
    t1:wait(); t2:wait()
    stop_session(A, sid)
    assert.are.same({}, bad)
  end)

  -- (12)
  attack("hard links to the sandbox's system files give nothing of the host's", function()
    local r = run(A, "cd /home/sandbox; "
      .. "ln /etc/shadow h1-" .. TOK .. "; echo rc1=$?; "
      .. "ln /etc/passwd h2-" .. TOK .. "; echo rc2=$?; "
      .. "ln /usr/bin/sudo h3-" .. TOK .. "; echo rc3=$?; "
      .. "sudo -n ln " .. MARKERS[1] .. " h4-" .. TOK .. "; echo rc4=$?; "
      .. "sudo -n ln /etc/passwd /home/sandbox/h5-" .. TOK .. "; echo rc5=$?; "
      .. "sudo -n ln /proc/1/root" .. MARKERS[1] .. " h6-" .. TOK .. "; echo rc6=$?")
    local t = kv(r.stdout)
    assert.are_not.equal("0", t.rc1, "a hard link to /etc/shadow")
    assert.are_not.equal("0", t.rc2, "the user hard-linked root's /etc/passwd")
    assert.are_not.equal("0", t.rc3, "a hard link to setuid sudo")
    assert.are_not.equal("0", t.rc4)
    assert.are_not.equal("0", t.rc6)
    assert.are.equal(404, (get(A, "h1-" .. TOK)))
    assert.are.equal(404, (get(A, "h4-" .. TOK)))
    if t.rc5 == "0" then
      local status, body = get(A, "h5-" .. TOK)
      assert.are.equal(200, status)
      assert.are.equal(run(A, "cat /etc/passwd").stdout, body)
    end
  end)

  -- (13)
  attack("mknod of devices as root inside: EPERM", function()
    local r = run(A, "sudo -n mknod /tmp/null-" .. TOK .. " c 1 3; echo rc1=$?; "
      .. "sudo -n mknod /tmp/mem-" .. TOK .. " c 1 1; echo rc2=$?; "
      .. "sudo -n mknod /tmp/disk-" .. TOK .. " b " .. HOST_DEV .. "; echo rc3=$?; "
      .. "sudo -n ./probe mknod /tmp/disk2-" .. TOK .. " " .. HOST_DEV .. "; "
      .. (LOOP_DEV and ("sudo -n ./probe mknod /tmp/loop-" .. TOK .. " " .. LOOP_DEV .. "; ") or "")
      .. "ls -l /tmp/null-" .. TOK .. " /tmp/mem-" .. TOK .. " 2>&1")
    local t = kv(r.stdout)
    for _, k in ipairs({ "rc1", "rc2", "rc3" }) do
      assert.are_not.equal("0", t[k], k .. ": " .. r.stdout .. r.stderr)
    end
    assert.matches("Operation not permitted", r.stderr)
    assert.are.equal("EPERM", t.mknod, r.stdout)
    assert.is_false(has(r.stdout, "read=ok"), r.stdout)
  end)

  -- (14)
  attack("mount as root inside (tmpfs, proc, bind, remount): fails", function()
    local mounts = run(A, "cat /proc/self/mountinfo | cut -d' ' -f5,9 | sort").stdout
    local r = run(A, "mkdir -p /tmp/m-" .. TOK .. "; "
      .. "sudo -n mount -t tmpfs none /tmp/m-" .. TOK .. "; echo rc1=$?; "
      .. "sudo -n mount -t proc proc /tmp/m-" .. TOK .. "; echo rc2=$?; "
      .. "sudo -n mount --bind / /tmp/m-" .. TOK .. "; echo rc3=$?; "
      .. "sudo -n mount -o remount,rw /proc/sys; echo rc4=$?; "
      .. "sudo -n umount -l /proc/kcore; echo rc5=$?; "
      .. "sudo -n umount -l /proc/sys; echo rc6=$?; "
      .. "sudo -n mount -t sysfs sysfs /tmp/m-" .. TOK .. "; echo rc7=$?")
    local t = kv(r.stdout)
    for i = 1, 7 do
      assert.are_not.equal("0", t["rc" .. i], "mount attempt " .. i .. ": " .. r.stderr)
    end
    for _, who in ipairs({ "", "sudo -n " }) do
      local p = kv(run(A, who .. "./probe syscalls").stdout)
      for _, k in ipairs({ "mount_tmpfs", "mount_proc", "mount_bind", "mount_remount_proc_sys",
          "umount_proc_sys", "fsopen", "open_tree", "pivot_root" }) do
        assert.are.equal("EPERM", p[k], who .. k)
      end
    end
    assert.are.equal(mounts, run(A, "cat /proc/self/mountinfo | cut -d' ' -f5,9 | sort").stdout)
  end)

  -- (15)
  attack("unshare and nsenter, as the user and as root: fail", function()
    local cmds = { "unshare -U true", "unshare -r true", "unshare -m true",
      "unshare -n true", "unshare -p -f true", "unshare -U -m -p -f -r true",
      "sudo -n unshare -m true", "sudo -n unshare -U true", "sudo -n unshare -n true",
      "sudo -n unshare -p -f true", "sudo -n nsenter -t 1 -m true",
      "sudo -n nsenter -t 1 -U true", "sudo -n nsenter -t 1 -n true",
      "sudo -n nsenter -t 1 -a true" }
    for _, cmd in ipairs(cmds) do
      local r = run(A, cmd .. "; echo rc=$?")
      assert.are_not.equal("0", kv(r.stdout).rc, cmd .. " succeeded")
    end
    for _, who in ipairs({ "", "sudo -n " }) do
      local r = run(A, who .. "./probe syscalls")
      local p = kv(r.stdout)
      assert.are.equal("1", p.done, r.stdout .. r.stderr)
      for _, k in ipairs({ "unshare_user", "unshare_mnt", "unshare_net", "unshare_pid",
          "unshare_uts", "unshare_ipc", "unshare_cgroup", "clone_user", "clone_mnt" }) do
        assert.are.equal("EPERM", p[k], who .. k)
      end
      assert.is_true(p.clone3_user == "EPERM" or p.clone3_user == "ENOSYS", who .. "clone3")
      for _, k in ipairs({ "setns_self_mnt", "setns_self_user", "setns_self_net" }) do
        assert.are.equal("EPERM", p[k], who .. k)
      end
      for _, k in ipairs({ "setns_mnt", "setns_user", "setns_net" }) do
        assert.is_true(p[k] == "EPERM" or p[k]:match("^open:") ~= nil, who .. k .. "=" .. p[k])
      end
    end
  end)

  -- (16)
  attack("keyctl, add_key, request_key: EPERM", function()
    for _, who in ipairs({ "", "sudo -n " }) do
      local p = kv(run(A, who .. "./probe syscalls").stdout)
      for _, k in ipairs({ "add_key", "keyctl", "request_key" }) do
        assert.are.equal("EPERM", p[k], who .. k)
      end
    end
    local r = run(A, "cat /proc/keys /proc/key-users 2>&1 | head -c 2000")
    assert.is_false(has(r.stdout, "keyring"), "/proc/keys shows the host's keys: " .. r.stdout)
  end)

  -- (17)
  attack("bpf, perf_event_open, open_by_handle_at: EPERM", function()
    for _, who in ipairs({ "", "sudo -n " }) do
      local p = kv(run(A, who .. "./probe syscalls").stdout)
      for _, k in ipairs({ "bpf", "perf_event_open", "open_by_handle_at" }) do
        assert.are.equal("EPERM", p[k], who .. k)
      end
    end
  end)

  -- (17b)
  attack("the rest of the filter: userfaultfd, kexec, modules, reboot, syslog, swapon, TIOCSTI", function()
    for _, who in ipairs({ "", "sudo -n " }) do
      local r = run(A, who .. "./probe syscalls")
      local p = kv(r.stdout)
      for _, k in ipairs({ "userfaultfd", "kexec_load", "init_module", "finit_module",
          "delete_module", "reboot", "syslog", "swapon", "swapoff", "tiocsti" }) do
        assert.are.equal("EPERM", p[k], who .. k .. "\n" .. r.stdout)
      end
      -- refused, by the filter or for want of the host's privilege
      for _, k in ipairs({ "acct", "iopl", "ioperm", "clock_settime", "sethostname",
          "setdomainname", "mknod_chr", "socket_packet" }) do
        assert.are_not.equal("ok", p[k], who .. k)
      end
    end
  end)

  -- (18)
  attack("sudo gives uid 0 inside, and that root reads no host file", function()
    local m1, m2 = MARKERS[1], MARKERS[2]
    local r = run(A, "sudo -n id -u; "
      .. "sudo -n cat " .. m1 .. " " .. m2 .. " /proc/1/root" .. m1 .. "; "
      .. "sudo -n ls -a /proc/1/root/ | tr '\\n' ' '; echo; "
      .. "sudo -n find / -xdev -name '" .. MARKER_NAME .. "*' -type f 2>/dev/null | "
      .. "xargs -r sudo -n cat 2>/dev/null | head -c 2000; "
      .. "sudo -n cp /bin/bash /tmp/rootbash-" .. TOK .. " && sudo -n chmod 4755 /tmp/rootbash-"
      .. TOK .. " && /tmp/rootbash-" .. TOK .. " -p -c 'echo euid=$(id -u -r):$EUID; cat "
      .. m1 .. "'", { timeout = 20 })
    assert.matches("^0\n", r.stdout, r.stderr)
    assert.matches("No such file", r.stderr)
    assert.is_false(has(r.stdout, " work "), "root inside sees the host's /")
  end)

  -- (19)
  attack("/proc/sys and /proc/sysrq-trigger writes as root inside: fail", function()
    local sysrq_before = host("dmesg | grep -c 'sysrq: HELP'")
    local r = run(A, "sudo -n sh -c 'echo 46 > /proc/sys/fs/lease-break-time'; echo rc1=$?; "
      .. "sudo -n sh -c 'echo oclua-escape-core > /proc/sys/kernel/core_pattern'; echo rc2=$?; "
      .. "sudo -n sysctl -w kernel.domainname=oclua-escaped; echo rc3=$?; "
      .. "sudo -n sh -c 'echo 1 > /proc/sys/kernel/sysrq'; echo rc4=$?; "
      .. "sudo -n sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'; echo rc5=$?; "
      .. "sudo -n sh -c 'echo /tmp/x > /proc/sys/kernel/modprobe'; echo rc6=$?; "
      .. "sudo -n sh -c 'echo h > /proc/sysrq-trigger'; echo rc7=$?; "
      .. "stat -c 'sysrq=%F:%t:%T' /proc/sysrq-trigger; "
      .. "cat /proc/sys/fs/lease-break-time")
    local t = kv(r.stdout)
    for i = 1, 6 do
      assert.are_not.equal("0", t["rc" .. i], "write " .. i .. ": " .. r.stdout)
    end
    assert.matches("Read%-only file system", r.stderr)
    -- /proc/sysrq-trigger: refused, or /dev/null bound over it (the write goes nowhere)
    assert.is_true(t.rc7 ~= "0" or t.sysrq == "character special file:1:3",
      "/proc/sysrq-trigger took a write: " .. r.stdout)
    assert.matches(read_file("/proc/sys/fs/lease-break-time") .. "$", r.stdout)
    assert.are.equal(sysrq_before, host("dmesg | grep -c 'sysrq: HELP'"),
      "the host's sysrq ran the sandbox's command")
  end)

  -- (20)
  attack("the sandbox's /etc/shadow is not the host's; no SSH host keys", function()
    local r = run(A, "sudo -n cat /etc/shadow /etc/gshadow; echo rc=$?; "
      .. "sudo -n sha256sum /etc/shadow 2>&1; ls /etc/ssh 2>&1")
    local host_hash = host("sha256sum /etc/shadow | cut -c1-64")
    assert.is_false(has(r.stdout, host_hash), "the sandbox's /etc/shadow is the host's")
    assert.is_nil(r.stdout:match("ssh_host_[%w_]+_key\n"), "SSH host keys inside: " .. r.stdout)
    for _, path in ipairs({ "/etc/shadow", "/etc/gshadow" }) do
      local status = get(A, path)
      assert.is_true(status == 403 or status == 404, path .. ": " .. status)
    end
  end)

  -- (21)
  attack("writes to /usr and /etc as root inside succeed inside only", function()
    local r = run(A, "sudo -n sh -c 'echo x > /usr/bin/oclua-escape-" .. TOK
      .. " && echo x > /usr/oclua-escape-" .. TOK
      .. " && echo y > /etc/oclua-escape-" .. TOK
      .. " && echo \"# oclua\" >> /etc/pam.d/su && touch /usr/bin/sudo /etc/passwd"
      .. " && chmod 0755 /usr/bin/passwd && rm -f /usr/bin/chfn'; echo rc=$?; "
      .. "cat /usr/bin/oclua-escape-" .. TOK .. " /etc/oclua-escape-" .. TOK .. "; "
      .. "test -e /usr/bin/chfn || echo chfn-gone; stat -c %a /usr/bin/passwd")
    assert.are.equal("rc=0\nx\ny\nchfn-gone\n755\n", r.stdout, r.stderr)
    -- the host's are unchanged: the snapshot compares them
  end)

  -- (22)
  attack("a fork loop stays under the process limit; the host's process count stays sane", function()
    local id = new_sandbox()
    local ns = pid_namespace(id)
    local function host_procs() return #host_pids(ns) end
    local r
    local forks = oc.spawn(function() r = run(id, "./probe forks 2000 50", { timeout = 60 }) end)
    -- the probe holds its children from forks.ready until forks.done
    local deadline = oc.now() + 45
    while get(id, "/home/sandbox/forks.ready") ~= 200 do
      assert(oc.now() < deadline, "the probe never said its children had started")
      oc.sleep(0.05)
    end
    local during = host_procs()
    assert.are.equal(204, (put(id, "/home/sandbox/forks.done", "")))
    forks:wait()
    local started, err = r.stdout:match("started=(%d+) error=(%S+)")
    assert.is_truthy(started, r.stdout .. r.stderr)
    started = tonumber(started)
    assert.is_true(started < 1024, "started " .. started .. " processes")
    assert.is_true(started > 100, "only " .. started .. " processes started")
    assert.are.equal("EAGAIN", err)
    assert.matches("reaped=" .. started, r.stdout)
    assert.is_true(during <= 1024, "the host saw " .. during .. " processes of the sandbox")
    assert.is_true(during >= started, "counted " .. during .. " host processes of the sandbox, "
      .. "fewer than it started (" .. started .. "): the count is wrong")
    assert.are.equal("ok\n", run(id, "echo ok").stdout)
    local after = host_procs()
    assert.is_true(after < 10, "the sandbox's processes left on the host: " .. after)
  end)

  -- (23, 24)
  describe("memory", function()
    local id
    setup(function() id = new_sandbox({ memoryMB = 1024 }) end)

    attack("an allocation past memoryMB is killed; the sandbox and the others go on", function()
      local other = start(A, "exec sleep 57.25", 60)
      local r = run(id, "./probe mem 1536; echo rc=$?", { timeout = 60 })
      assert.is_false(has(r.stdout, "allocated=1536"), "1.5 GiB allocated under a 1 GiB limit")
      assert.matches("rc=137", r.stdout, r.stderr)
      assert.are.equal("alive\n", run(id, "echo alive").stdout)
      assert.are.equal("running", select(2, api("GET", "/sandboxes/" .. id)).status)
      -- another sandbox's process lived through it
      local _, list_doc = api("GET", "/sandboxes/" .. A .. "/exec")
      local running = false
      for _, s in ipairs(list_doc or {}) do
        if s.sessionID == other then running = s.running end
      end
      assert.is_true(running, "a process of another sandbox died")
      stop_session(A, other)
    end)

    attack("/dev/shm past its bound: ENOSPC", function()
      local r = run(id, "df -m --output=size /dev/shm | tail -n 1; "
        .. "fallocate -l 600M /dev/shm/big; echo rc1=$?; rm -f /dev/shm/big; "
        .. "dd if=/dev/zero of=/dev/shm/fill bs=1M count=600 2>/tmp/dd.err; echo rc2=$?; "
        .. "cat /tmp/dd.err; rm -f /dev/shm/fill", { timeout = 30 })
      local size = tonumber(r.stdout:match("^%s*(%d+)"))
      assert.is_truthy(size, r.stdout)
      assert.is_true(size <= 512, "/dev/shm holds " .. size .. " MiB")
      local t = kv(r.stdout)
      assert.are_not.equal("0", t.rc1)
      assert.are_not.equal("0", t.rc2)
      assert.matches("No space left on device", r.stdout .. r.stderr)
      assert.are.equal("alive\n", run(id, "echo alive").stdout)
    end)
  end)

  -- (25)
  attack("a write past the disk bound fails at once; the host's disk is untouched", function()
    local function avail()
      return tonumber((host("df -B1M --output=avail \"$1\" | tail -n 1", DATA_DIR or "/tmp")))
    end
    local before = avail()
    local t0 = oc.now()
    local r = run(A, "fallocate -l 21G /home/sandbox/big-" .. TOK .. "; echo rc1=$?; "
      .. "rm -f /home/sandbox/big-" .. TOK .. "; "
      .. "sudo -n fallocate -l 21G /var/big-" .. TOK .. "; echo rc2=$?; "
      .. "sudo -n rm -f /var/big-" .. TOK .. "; "
      .. "fallocate -l 21G /workspace/big-" .. TOK .. "; echo rc3=$?; "
      .. "rm -f /workspace/big-" .. TOK, { timeout = 60 })
    local took = oc.now() - t0
    local t = kv(r.stdout)
    for i = 1, 3 do
      assert.are_not.equal("0", t["rc" .. i], "fallocate " .. i .. " of 21 GiB succeeded")
    end
    assert.is_truthy(r.stderr:match("Disk quota exceeded") or r.stderr:match("No space left"), r.stderr)
    assert.is_true(took < 15, "took " .. took)
    -- a subvolume of its own would have a quota of its own
    local b = run(A, "command -v btrfs >/dev/null || exit 0; sudo -n btrfs subvolume create "
      .. "/home/sandbox/sv-" .. TOK .. "; echo rc=$?")
    assert.are_not.equal("0", kv(b.stdout).rc, "root inside made a btrfs subvolume")
    assert.is_true(avail() > before - 1024, "the host's disk lost space")
  end)

  -- (26)
  describe("network", function()
    local srv, httpd, port, id2
    local hello = "hello-" .. TOK

    setup(function()
      httpd = core.http_listen("127.0.0.1", 0)
      port = httpd:port()
      oc.spawn(function()
        while true do
          local req = httpd:accept()
          if not req then return end
          req:respond(200, { ["Content-Type"] = "text/plain" }, hello)
        end
      end)
      srv = support.process({ "--allow-host-loopback" })
      id2 = srv.client:create({ timeout = 0 })
    end)

    teardown(function()
      if srv then
        srv.client:api("DELETE", "/sandboxes/" .. tostring(id2))
        srv.proc:kill(15)
        srv.proc:wait()
      end
      if httpd then httpd:close() end
    end)

    attack("the host's 127.0.0.1 as 10.0.2.2: only with allow_host_loopback", function()
      local r = run_on(srv.client, id2, "curl -s -m 5 http://10.0.2.2:" .. port .. "/")
      assert.are.equal(hello, r.stdout, r.stderr)
      r = run(A, "curl -s -m 3 http://10.0.2.2:" .. port .. "/; echo rc=$?", { timeout = 15 })
      assert.is_false(has(r.stdout, hello), "the host's loopback reached without allow_host_loopback")
      assert.are_not.equal("0", kv(r.stdout).rc)
      -- the shared server's own API
      local api_port = c.url:match(":(%d+)$")
      r = run(A, "curl -s -m 3 http://10.0.2.2:" .. api_port .. "/health; echo rc=$?", { timeout = 15 })
      assert.is_false(has(r.stdout, "status"), "the server's API reached from a sandbox")
      assert.are_not.equal("0", kv(r.stdout).rc)
      assert.is_true((health(srv.client)))
    end)

    attack("private, link-local and the host's own addresses: refused at once", function()
      local host_addrs = {}
      for a in host("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1"):gmatch("%S+") do
        host_addrs[#host_addrs + 1] = a
      end
      local routes = run(A, "ip -4 route show").stdout
      local targets = {
        { "169.254.169.254", "169.254.0.0/16" }, { "10.1.2.3", "10.0.0.0/8" },
        { "172.16.0.1", "172.16.0.0/12" }, { "192.168.1.1", "192.168.0.0/16" },
        { "100.64.0.1", "100.64.0.0/10" },
      }
      for _, a in ipairs(host_addrs) do targets[#targets + 1] = { a, a } end
      -- IPv6: an IPv4-mapped address takes IPv4's routes; and no IPv6
      -- route leads anywhere (without one, nothing can leave)
      local v6 = run(A, "ip -6 route show default").stdout
      assert.are.equal("", v6, "the sandbox has an IPv6 default route, and no fence for it")
      for _, a in ipairs(host_addrs) do
        local p = kv(run(A, "./probe connect6 ::ffff:" .. a .. " 80").stdout)
        assert.are.equal("EACCES", p.connect6, "::ffff:" .. a)
      end
      assert.are.equal("ENETUNREACH", kv(run(A, "./probe connect6 fd00::2 80").stdout).connect6)
      for _, t in ipairs(targets) do
        -- no connect is tried unless the route that refuses it is there:
        -- a missing fence fails here, before anything could leave
        local net = t[2]:gsub("/32$", "")
        assert.is_truthy(routes:find("prohibit " .. net:gsub("%.", "%%.") .. "[ /\n]")
          or routes:find("prohibit " .. net:gsub("%.", "%%.") .. "$"),
          "no prohibit route for " .. t[2] .. " in:\n" .. routes)
        for _, who in ipairs({ "", "sudo -n " }) do
          local r = run(A, who .. "./probe connect " .. t[1] .. " 80")
          local p = kv(r.stdout)
          assert.are.equal("EACCES", p.connect, who .. t[1] .. ": " .. r.stdout)
          assert.is_true(tonumber(p.ms) < 1000, t[1] .. " took " .. tostring(p.ms) .. " ms")
          assert.are.equal("EACCES", p.udp, who .. t[1] .. " (UDP)")
        end
      end
    end)

    -- (27)
    attack("routes and interfaces as root inside: EPERM", function()
      local before = run(A, "ip -4 route show; ip -o link show | cut -d' ' -f2-9").stdout
      local dev = before:match("dev (%S+)") or "tap0"
      local r = run(A, "sudo -n ip route del default; echo rc1=$?; "
        .. "sudo -n ip link set " .. dev .. " down; echo rc2=$?; "
        .. "sudo -n ip route del prohibit 169.254.0.0/16; echo rc3=$?; "
        .. "sudo -n ip route add 169.254.169.254/32 via 10.0.2.2; echo rc4=$?; "
        .. "sudo -n ip addr add 10.0.2.55/24 dev " .. dev .. "; echo rc5=$?; "
        .. "sudo -n ip link add oclua0 type dummy; echo rc6=$?; "
        .. "sudo -n ip rule add from all lookup 100 pref 1; echo rc7=$?")
      local t = kv(r.stdout)
      for i = 1, 7 do
        assert.are_not.equal("0", t["rc" .. i], "network change " .. i .. ": " .. r.stdout)
      end
      assert.matches("Operation not permitted", r.stderr)
      assert.are.equal(before, run(A, "ip -4 route show; ip -o link show | cut -d' ' -f2-9").stdout)
    end)
  end)

  -- (28)
  attack("changing the hostname as root inside: fails", function()
    local r = run(A, "sudo -n hostname oclua-escaped; echo rc1=$?; "
      .. "sudo -n sh -c 'echo oclua-escaped > /proc/sys/kernel/hostname'; echo rc2=$?; "
      .. "sudo -n ./probe syscalls | grep -E '^(sethostname|setdomainname)='; hostname")
    local t = kv(r.stdout)
    assert.are_not.equal("0", t.rc1)
    assert.are_not.equal("0", t.rc2)
    assert.are.equal("EPERM", t.sethostname, r.stdout)
    assert.matches(esc(A) .. "\n$", r.stdout)
  end)

  -- (29)
  attack("the chroot escape as root inside stays in the sandbox", function()
    local r = run(A, "sudo -n ./probe chroot " .. MARKERS[1] .. " " .. MARKERS[2]
      .. " /etc/shadow /work")
    local t = kv(r.stdout)
    assert.are.equal("1", t.done, r.stdout .. r.stderr)
    if t.hostname and t.hostname:match("^ok") then
      assert.are.equal("ok:" .. A .. " ", t.hostname)
    end
    -- the host's /root marker is nowhere; the /tmp one's path may hold
    -- what another attack wrote there inside (the global check looks for
    -- the secret)
    assert.is_falsy(t["read(" .. MARKERS[1] .. ")"]:match("^ok"), MARKERS[1])
    assert.are_not.equal(HOST_SHADOW_SHOWN, t["read(/etc/shadow)"])
    assert.is_falsy(t.root_entries:match(",work,"), "the host's / after the chroot escape")
  end)

  -- (30)
  attack("a sandbox cannot see or signal another sandbox's processes", function()
    local b = new_sandbox()
    local tag = "77." .. tostring(math.random(100000, 999999))
    local sid = start(b, "exec sleep " .. tag, 60)
    local host_pid
    for _ = 1, 20 do
      host_pid = tonumber((host("pgrep -x -f \"sleep $1\" | head -n 1", tag)))
      if host_pid then break end
      oc.sleep(0.1)
    end
    assert.is_truthy(host_pid, "the other sandbox's sleep is not running")
    local ps = run(A, "ps -e -o pid=,args=").stdout
    assert.is_false(has(ps, "sleep " .. tag), "another sandbox's process is visible:\n" .. ps)
    local own = {}
    for pid in ps:gmatch("(%d+)") do own[tonumber(pid)] = true end
    for _, target in ipairs({ host_pid, SELF_PID }) do
      if not own[target] then
        local r = run(A, "sudo -n kill -0 " .. target .. "; echo rc=$?; test -e /proc/"
          .. target .. " && echo visible")
        assert.are_not.equal("0", kv(r.stdout).rc, "signalled host pid " .. target)
        assert.is_false(has(r.stdout, "visible"))
      end
    end
    -- SysV IPC and /dev/shm are each sandbox's own
    local key = run(b, "ipcmk -M 4096 2>&1; touch /dev/shm/b-" .. TOK).stdout:match("(%d+)")
    local ipcs = run(A, "ipcs -m; ls /dev/shm").stdout
    if key then assert.is_false(has(ipcs, " " .. key .. " "), ipcs) end
    assert.is_false(has(ipcs, "b-" .. TOK))
    -- and the other's process lived through it
    assert.matches(esc("sleep " .. tag), run(b, "ps -e -o args=").stdout)
    stop_session(b, sid)
  end)

  -- (31)
  attack("the files API writes as sandbox:sandbox; on disk, never as host root", function()
    local name = "owned-" .. TOK
    assert.are.equal(204, (put(A, "/home/sandbox/" .. name, "x")))
    assert.are.equal("1000:1000\n", run(A, "stat -c %u:%g /home/sandbox/" .. name).stdout)
    run(A, "sudo -n touch /home/sandbox/rootowned-" .. TOK .. " && sudo -n cp /bin/true "
      .. "/tmp/suid-" .. TOK .. " && sudo -n chmod 4755 /tmp/suid-" .. TOK)
    local reg = registry()
    local sb = reg and reg.by_id and reg.by_id[A]
    if not sb or not sb.dir then
      return skip("the server's data directory is not reachable from the test: the on-disk half is not checked")
    end
    local base = sb:uid_base()
    assert.is_true(base >= 1000000000, "uid base " .. base)
    local out = host("find \"$1\" -xdev \\( -name \"$2\" -o -name \"$3\" -o -name \"$4\" \\) "
      .. "-printf '%f %U:%G %m\\n' 2>/dev/null | sort", sb.dir, name, "rootowned-" .. TOK, "suid-" .. TOK)
    local u = base + 1000
    assert.matches(esc(name .. " " .. u .. ":" .. u .. " 644"), out)
    assert.matches(esc("rootowned-" .. TOK .. " " .. base .. ":" .. base), out)
    assert.matches(esc("suid-" .. TOK .. " " .. base .. ":" .. base .. " 4755"), out)
    for owner in out:gmatch(" (%d+):%d+ ") do
      assert.is_true(tonumber(owner) >= 1000000000, "owned by host uid " .. owner .. ":\n" .. out)
    end
  end)

  -- (32)
  attack("/workspace exists and is the sandbox user's", function()
    local r = run(A, "stat -c '%U:%G:%F' /workspace && touch /workspace/w-" .. TOK .. " && echo writable")
    assert.are.equal("sandbox:sandbox:directory\nwritable\n", r.stdout, r.stderr)
  end)

  -- more attacks

  attack("a command holds only its stdio: not init's socket to the server", function()
    -- as the user, as root, and from a session made with POST /exec
    local id = A
    for _, cmd in ipairs{ "ls /proc/self/fd", "sudo ls /proc/self/fd" } do
      local r = run(id, cmd)
      assert.are.equal(0, r.exitCode, r.stderr)
      -- 0, 1, 2 and the fd ls opens to read the directory: nothing else
      assert.are.equal("0\n1\n2\n3\n", r.stdout, cmd)
    end
    local r = run(id, "for f in /proc/self/fd/*; do readlink $f; done | grep -c socket || true")
    assert.are.equal("0\n", r.stdout)
  end)

  attack("commands stopped before their exec hold up only themselves", function()
    -- a process of the sandbox user stops every child of init in the
    -- moment between its change to that user and its exec; init must go
    -- on serving (it used to wait for the exec and hung for good)
    local id = new_sandbox()
    local r = run(id, "nohup ./probe stop-init 6 > stopper.out 2>&1 & echo started")
    assert.are.equal("started\n", r.stdout)
    local stopper_ends = oc.now() + 7
    -- 200 commands at once: each answers (a stopped one is killed after
    -- 10 s and refused), and init serves the others meanwhile
    local tasks, t0 = {}, oc.now()
    for i = 1, 200 do
      tasks[i] = oc.spawn(function()
        return (c:api("POST", "/sandboxes/" .. id .. "/exec/run-async",
          { body = { cmd = "true" }, timeout = 30 }))
      end)
    end
    local answers = {}
    for i = 1, 200 do
      local status = tasks[i]:wait()
      answers[status] = (answers[status] or 0) + 1
      assert.is_true(status == 200 or status == 202 or status == 400, tostring(status))
    end
    assert.is_true(oc.now() - t0 < 25, "took " .. (oc.now() - t0))
    -- the stopper's 6 s are over before the next command starts (else
    -- it is stopped too, however fast the 200 were answered)
    oc.sleep(math.max(0, stopper_ends - oc.now()))
    r = run(id, "cat stopper.out; echo alive", { timeout = 20 })
    assert.matches("alive", r.stdout)
    assert.matches("stopped=[1-9]", r.stdout)	-- the race was won
    run(id, "pkill -CONT -x oclua-init; true")
    assert.are.equal("ok\n", run(A, "echo ok").stdout)
  end)

  attack("the template copies nothing of the host's /etc that its users may not read", function()
    -- a host with repository credentials (0600) and a private key: a
    -- separate server in a private mount namespace sees them there
    local dir = host("mktemp -d /tmp/oclua-escape-etc.XXXXXX")
    local secret = "apt-secret-" .. SECRET
    local script = "set -e; mount -t tmpfs none /etc/apt/auth.conf.d; "
      .. "printf 'machine r login u password %s\\n' \"$1\" > /etc/apt/auth.conf.d/t.conf; "
      .. "chmod 600 /etc/apt/auth.conf.d/t.conf; mkdir -p /etc/ssl/private; "
      .. "mount -t tmpfs -o mode=0710 none /etc/ssl/private; "
      .. "printf '%s\\n' \"$1\" > /etc/ssl/private/k.pem; chmod 640 /etc/ssl/private/k.pem; "
      .. "shift; exec \"$@\" 2>&1"
    local proc = core.process_spawn({ "unshare", "-m", "--propagation", "private",
      "sh", "-c", script, "sh", secret, core.executable(), "serve", "--listen",
      "127.0.0.1:0", "--api-key", support.KEY, "--data-dir", dir,
      "--exit-with-parent" })
    local url = support.listening(proc)
    local ok, err = pcall(function()
      assert.is_truthy(url, "the server in a private namespace did not start")
      local client = support.client(url, support.KEY)
      local id = client:create({ timeout = 0 })
      local out = run_on(client, id, "sudo grep -rl 'apt-secret' /etc 2>/dev/null; "
        .. "sudo ls /etc/apt/auth.conf.d /etc/ssl/private 2>&1; echo done")
      assert.is_nil(out.stdout:find("apt-secret", 1, true), out.stdout)
      assert.is_nil(out.stdout:find("t.conf", 1, true), out.stdout)
      assert.is_nil(out.stdout:find("k.pem", 1, true), out.stdout)
      assert.matches("done", out.stdout)
    end)
    proc:kill(15)
    proc:wait()
    host("rm -rf \"$1\"", dir)
    if not ok then error(err, 0) end
  end)

  attack("capabilities: the OCI default bounding set; seccomp is on", function()
    local r = run(A, "sudo -n grep -E '^(CapBnd|CapEff|Seccomp|NoNewPrivs):' /proc/self/status; "
      .. "grep -E '^(CapEff|Seccomp):' /proc/self/status")
    local bnd = r.stdout:match("CapBnd:%s*(%x+)")
    assert.is_truthy(bnd, r.stdout)
    bnd = tonumber(bnd, 16)
    local forbidden = { DAC_READ_SEARCH = 2, LINUX_IMMUTABLE = 9, NET_BROADCAST = 11,
      NET_ADMIN = 12, IPC_LOCK = 14, IPC_OWNER = 15, SYS_MODULE = 16, SYS_RAWIO = 17,
      SYS_PTRACE = 19, SYS_PACCT = 20, SYS_ADMIN = 21, SYS_BOOT = 22, SYS_NICE = 23,
      SYS_RESOURCE = 24, SYS_TIME = 25, SYS_TTY_CONFIG = 26, LEASE = 28, AUDIT_CONTROL = 30,
      MAC_OVERRIDE = 32, MAC_ADMIN = 33, SYSLOG = 34, WAKE_ALARM = 35, BLOCK_SUSPEND = 36,
      AUDIT_READ = 37, PERFMON = 38, BPF = 39, CHECKPOINT_RESTORE = 40 }
    for name, bit in pairs(forbidden) do
      assert.are.equal(0, (bnd >> bit) & 1, "CAP_" .. name .. " is in the bounding set")
    end
    for mode in r.stdout:gmatch("Seccomp:%s*(%d)") do
      assert.are.equal("2", mode, "a process without the seccomp filter")
    end
    assert.matches("CapEff:%s*0+\n", r.stdout)	-- the user has none
  end)

  attack("the sandbox's cgroup limits cannot be raised from inside", function()
    local r = run(A, "ls /sys/fs/cgroup 2>&1 | head -n 50; sudo -n sh -c 'for f in "
      .. "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.high "
      .. "/sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory/memory.limit_in_bytes "
      .. "/sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cgroup.procs; do "
      .. "[ -e $f ] || continue; echo max > $f 2>/dev/null; echo \"$f=$?\"; done; "
      .. "mkdir /sys/fs/cgroup/escape-" .. TOK .. " 2>/dev/null; echo mkdir=$?; "
      .. "echo 1 > /sys/kernel/mm/ksm/run 2>/dev/null; echo ksm=$?; "
      .. "echo 1 > /sys/kernel/debug/x 2>/dev/null; echo debug=$?'")
    for k, v in pairs(kv(r.stdout)) do
      if k:match("^/sys/") or k == "mkdir" or k == "ksm" or k == "debug" then
        assert.are_not.equal("0", v, k .. " was writable by root inside")
      end
    end
  end)

  attack("the kernel's memory, keys and timers are masked in /proc", function()
    local r = run(A, "for f in /proc/kcore /proc/kallsyms /proc/timer_list /proc/keys "
      .. "/proc/sched_debug /proc/kpagecount /proc/vmallocinfo /proc/slabinfo; do "
      .. "[ -e $f ] || continue; n=$(sudo -n head -c 4096 $f 2>/dev/null | wc -c); "
      .. "echo \"$f=$n\"; done", { timeout = 15 })
    for k, v in pairs(kv(r.stdout)) do
      assert.are.equal("0", v, k .. " is readable by root inside")
    end
    for _, path in ipairs({ "/proc/kcore", "/proc/kallsyms", "/proc/timer_list" }) do
      local status, body, took = get(A, path, 5)
      assert.is_true(status ~= 200 or body == "", path)
      assert.is_true(took < 2, path .. " took " .. took)
    end
  end)

  attack("a host abstract UNIX socket is out of reach", function()
    local name = "oclua-escape-" .. TOK
    local p = core.process_spawn({ "socat", "ABSTRACT-LISTEN:" .. name .. ",fork",
      "SYSTEM:echo leaked-" .. TOK })
    finally(function() p:kill(9); p:wait() end)
    oc.sleep(0.3)
    local r = run(A, "command -v socat >/dev/null || { echo nosocat; exit; }; "
      .. "timeout 3 socat -T2 - ABSTRACT-CONNECT:" .. name .. " </dev/null; echo rc=$?",
      { timeout = 15 })
    if has(r.stdout, "nosocat") then return skip("no socat in the sandbox") end
    assert.is_false(has(r.stdout, "leaked-" .. TOK), "a host abstract socket answered")
    assert.are_not.equal("0", kv(r.stdout).rc)
  end)

  attack("exec's cwd and envs do not reach the host", function()
    local status, doc = api("POST", "/sandboxes/" .. A .. "/exec/run", { body = {
      cmd = "sh", args = { "-c", "pwd; cat " .. MARKERS[1] .. " 2>&1; ls" },
      cwd = "/proc/1/root/root", envs = { LD_PRELOAD = "/tmp/evil.so" } } })
    note(doc and (doc.stdout or "") .. (doc.stderr or "") or "", true)
    assert.is_true(status == 200 or status == 400, "exec with a cwd under /proc/1/root: " .. status)
    status, doc = api("POST", "/sandboxes/" .. A .. "/exec/run", { body = {
      cmd = "cat", args = { MARKERS[1], MARKERS[2] }, cwd = "/../../root" } })
    note(doc and (doc.stdout or "") .. (doc.stderr or "") or "", true)
    assert.is_true(status == 200 or status == 400)
  end)

  attack("the files API has the sandbox user's rights, no more", function()
    local r = run(A, "cd /home/sandbox && sudo -n sh -c 'touch rootfile-" .. TOK .. " && "
      .. "mkdir -p rootdir-" .. TOK .. " && echo root > rootdir-" .. TOK .. "/f' && "
      .. "ln -sfn /etc/passwd pwlink-" .. TOK .. " && ln -sfn /etc pwdir-" .. TOK .. " && "
      .. "sha256sum /etc/passwd /etc/hostname rootdir-" .. TOK .. "/f")
    local before = r.stdout
    assert.are.equal(403, (put(A, "/etc/passwd", "root::0:0::/root:/bin/sh\n")))
    assert.are.equal(403, (put(A, "/home/sandbox/rootfile-" .. TOK, "x")))
    -- through symlinks of the user's own
    assert.are.equal(403, (put(A, "/home/sandbox/pwlink-" .. TOK, "x")))
    assert.are.equal(403, (put(A, "/home/sandbox/pwdir-" .. TOK .. "/passwd", "x")))
    assert.are.equal(403, (put(A, "/home/sandbox/pwdir-" .. TOK .. "/new-" .. TOK, "x")))
    assert.are.equal(403, (put(A, "/home/sandbox/rootdir-" .. TOK .. "/f", "x")))
    assert.are.equal(403, (put(A, "/home/sandbox/rootdir-" .. TOK .. "/new", "x")))
    assert.are.equal(403, mkdir(A, "/home/sandbox/rootdir-" .. TOK .. "/sub"))
    assert.are.equal(403, remove(A, "/home/sandbox/rootdir-" .. TOK .. "/f"))
    assert.are.equal(403, remove(A, "/etc/hostname"))
    assert.are.equal(403, (list(A, "/root")))
    assert.are.equal(403, (get(A, "/etc/sudoers")))
    assert.are.equal(before, run(A, "cd /home/sandbox && sha256sum /etc/passwd /etc/hostname rootdir-"
      .. TOK .. "/f").stdout)
  end)

  attack("a listing does not follow symlinks on the host", function()
    local d = "/home/sandbox/listdir-" .. TOK
    run(A, "mkdir -p " .. d .. " && cd " .. d .. " && ln -sfn /work work-link && ln -sfn "
      .. MARKERS[1] .. " marker-link && ln -sfn /proc/1/root init-root && ln -sfn "
      .. VICTIM .. " victim-link")
    local status, entries = list(A, d)
    assert.are.equal(200, status)
    if VERBOSE then io.stderr:write("\n[listing] ", require("opencomputer.runtime.json").encode(entries), "\n") end
    local host_size = #SECRET + 1
    for _, e in ipairs(entries) do
      if e.name == "work-link" or e.name == "victim-link" or e.name == "init-root" then
        assert.is_false(e.isDir, e.name .. " listed as the host's directory")
      end
      if e.name == "marker-link" then
        assert.are_not.equal(host_size, e.size, "marker-link has the host marker's size")
      end
    end
    assert.are.equal(404, (list(A, d .. "/work-link")))
    status = list(A, d .. "/victim-link")
    assert.are.equal(404, status, "listed the host's " .. VICTIM)
  end)

  attack("CPU use is bounded by cpuCount", function()
    local id = new_sandbox({ memoryMB = 4096 })	-- 1 vCPU
    local ns = pid_namespace(id)
    local hz = tonumber((host("getconf CLK_TCK"))) or 100
    -- CPU ticks of each process of the sandbox, by PID
    local function ticks_by_pid()
      local t = {}
      for _, pid in ipairs(host_pids(ns)) do
        local stat = read_file("/proc/" .. pid .. "/stat") or ""
        local fields = {}
        for f in (stat:match("%) (.*)$") or ""):gmatch("%S+") do fields[#fields + 1] = f end
        if fields[13] then t[pid] = tonumber(fields[12]) + tonumber(fields[13]) end
      end
      return t
    end
    -- ticks used since `before` by the processes alive at both readings
    -- (one that started or ended between them, the exec's own shell or a
    -- probe, would add or drop its whole count)
    local function ticks(before)
      local total = 0
      for pid, n in pairs(ticks_by_pid()) do
        if not before or before[pid] then total = total + n - (before and before[pid] or 0) end
      end
      return total
    end
    local sid = start(id, "for i in 1 2 3 4; do timeout 30 sh -c 'while :; do :; done' & done; wait", 40)
    -- the loops have started once their processes use CPU (seconds on a
    -- loaded machine)
    local deadline = oc.now() + 20
    while ticks() < hz / 10 do
      assert.is_true(oc.now() < deadline, "the busy loops did not run")
      oc.sleep(0.1)
    end
    -- reading /proc takes time of its own on a loaded machine: the ticks
    -- counted fall between the inner and the outer bound of the interval
    local t0 = oc.now()
    local c0 = ticks_by_pid()
    local t0_end = oc.now()
    oc.sleep(1.5)
    local t1 = oc.now()
    local used = ticks(c0) / hz
    local t1_end = oc.now()
    stop_session(id, sid)
    local least, most = used / (t1_end - t0), used / (t1 - t0_end)
    if VERBOSE then io.stderr:write(string.format("\n[CPUs used: %.2f..%.2f]\n", least, most)) end
    assert.is_true(most > 0.2, string.format("the busy loops did not run (%.2f CPUs)", most))
    assert.is_true(least < 1.3, string.format("a 1-vCPU sandbox used %.2f CPUs", least))
    assert.is_true((health()))
  end)

  attack("immutable flags and overlay xattrs cannot be set from inside", function()
    local r = run(A, "mkdir -p /home/sandbox/xd-" .. TOK .. " && cd /home/sandbox/xd-" .. TOK
      .. " && touch f && sudo -n chattr +i f; echo i=$?; sudo -n chattr +a f; echo a=$?; "
      .. "command -v python3 >/dev/null || { echo nopython; exit; }; "
      .. "for x in trusted.overlay.opaque trusted.overlay.redirect trusted.overlay.origin "
      .. "trusted.overlay.metacopy; do sudo -n python3 -c \"import os, sys; "
      .. "os.setxattr('.', sys.argv[1], b'/etc')\" $x 2>/dev/null; echo \"$x=$?\"; done")
    local t = kv(r.stdout)
    assert.are_not.equal("0", t.i, "root inside made a file immutable")
    assert.are_not.equal("0", t.a, "root inside made a file append-only")
    if not has(r.stdout, "nopython") then
      for _, x in ipairs({ "opaque", "redirect", "origin", "metacopy" }) do
        assert.are_not.equal("0", t["trusted.overlay." .. x], "set trusted.overlay." .. x)
      end
    end
  end)

  describe("the warm pool", function()
    -- sandboxes booted ahead of requests (sandbox.lua "the warm pool"):
    -- before hand-out nothing but their init runs and no API reaches
    -- them; handed out, each is what its request asked, with a uid range
    -- of its own
    local reg, size
    local function pool_full(n)
      local t0 = oc.now()
      while #reg.pool < n and oc.now() - t0 < 60 do oc.sleep(0.1) end
      assert(#reg.pool >= n, "the pool did not fill: " .. #reg.pool .. " of " .. n)
    end
    -- the host PID of the init whose hostname file says `id` (an
    -- oclua-init of this server's pool; /proc/PID/root is its root)
    local function init_pid(id)
      local out = host([[for p in $(pgrep -x oclua-init); do
        [ "$(cat /proc/$p/root/etc/hostname 2>/dev/null)" = "$1" ] && echo $p; done; true]], id)
      return tonumber(out:match("%d+"))
    end
    setup(function()
      reg = assert(registry(), "the warm pool is checked on the in-process server only")
      size = reg.pool_size
      reg:set_pool_size(3)
      pool_full(3)
    end)
    teardown(function() if reg then reg:set_pool_size(size) end end)

    attack("a pooled sandbox runs nothing but its init and no API reaches it", function()
      pool_full(3)
      local listed = {}
      local status, all = api("GET", "/sandboxes")
      assert.are.equal(200, status)
      for _, d in ipairs(all) do listed[d.sandboxID] = true end
      for _, sb in ipairs(reg.pool) do
        assert.is_nil(listed[sb.id], "a pooled sandbox is listed: " .. sb.id)
        assert.is_nil(reg.by_id[sb.id])
        assert.are.equal(404, (api("GET", "/sandboxes/" .. sb.id)))
        assert.are.equal(404, (api("POST", "/sandboxes/" .. sb.id .. "/exec/run",
          { body = { cmd = "true" } })))
        assert.are.equal(404, (get(sb.id, "/etc/hostname")))
        local pid = assert(init_pid(sb.id), "no init for pooled " .. sb.id)
        local ns = host("readlink /proc/$1/ns/pid", tostring(pid)):match("pid:%[%d+%]")
        local pids = host_pids(ns)
        assert.are.same({ pid }, pids, "processes in pooled " .. sb.id)
        assert.are.equal("", host("cat /proc/$1/task/$1/children", tostring(pid)),
          "init of pooled " .. sb.id .. " has children")
      end
    end)

    attack("a handed-out sandbox is what its request asked, with a uid range of its own", function()
      pool_full(3)
      local pooled_bases = {}
      for _, sb in ipairs(reg.pool) do pooled_bases[sb:uid_base()] = sb.id end
      local want = reg.pool[#reg.pool].id	-- the youngest goes first
      local t0 = os.time()
      local id = new_sandbox({ timeout = 300, metadata = { owner = "pool-" .. TOK },
        envs = { POOL_TOKEN = TOK } })
      assert.are.equal(want, id, "the create did not take the pooled sandbox")
      assert.is_nil(reg.pooled[want])
      local status, doc = api("GET", "/sandboxes/" .. id)
      assert.are.equal(200, status)
      assert.are.same({ owner = "pool-" .. TOK }, doc.metadata)
      assert.are.equal(4096, doc.memoryMB)
      assert.is_truthy(doc.endAt, "the request's timeout is not its own")
      local y, mo, d, h, mi, se = doc.startedAt:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
      local started = os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = se })
        - os.time(os.date("!*t", 0))
      assert.is_true(started >= t0 - 1, "startedAt " .. doc.startedAt .. " is before the create")
      local r = run(id, "hostname; cat /etc/hostname; grep -c " .. id .. " /etc/hosts; "
        .. "echo \"token=$POOL_TOKEN\"; cat /proc/self/uid_map; "
        .. "ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '; echo; "
        .. "ps -eo comm= | sort | tr '\\n' ' '")
      local lines = {}
      for l in r.stdout:gmatch("[^\n]*") do lines[#lines + 1] = l end
      assert.are.equal(id, lines[1], r.stdout)
      assert.are.equal(id, lines[2], r.stdout)
      assert.are.equal("1", lines[3], r.stdout)
      assert.matches("token=" .. TOK, r.stdout)
      -- init, this sh, ls, grep (and the other pipeline's): nothing older
      assert.matches("\noclua%-init ps sh sort tr %s*$", r.stdout)
      local base = tonumber(r.stdout:match("\n%s*0%s+(%d+)%s+65536"))
      assert.is_true(base and base >= 1000000000, r.stdout)
      -- the range it was prepared with, which no pooled one has
      assert.are.equal(want, pooled_bases[base], "uid base " .. tostring(base))
      for _, sb in ipairs(reg.pool) do assert.are_not.equal(base, sb:uid_base()) end
      -- a second one: another uid range; a request of another shape is
      -- made at once, not taken from the pool
      local id2 = new_sandbox({ timeout = 300 })
      local base2 = tonumber(run(id2, "cat /proc/self/uid_map").stdout:match("0%s+(%d+)%s+65536"))
      assert.are_not.equal(base, base2, "two sandboxes share a uid range")
      local before = {}
      for _, sb in ipairs(reg.pool) do before[sb.id] = true end
      local id3 = new_sandbox({ timeout = 300, memoryMB = 1024 })
      assert.is_nil(before[id3], "a 1024 MB create took a pooled (4096 MB) sandbox")
      local base3 = tonumber(run(id3, "cat /proc/self/uid_map").stdout:match("0%s+(%d+)%s+65536"))
      for _, other in ipairs({ base, base2 }) do assert.are_not.equal(other, base3) end
      for _, sb in ipairs(reg.pool) do
        assert.are_not.equal(base3, sb:uid_base(), "a pooled sandbox has the uid range of " .. id3)
      end
    end)
  end)

  describe("hibernate, wake, delete", function()
    local id
    setup(function() id = new_sandbox() end)

    attack("a woken sandbox is as confined as a new one", function()
      run(id, "echo before > /home/sandbox/kept")
      -- root inside tries to leave traps for init's next boot (which runs
      -- as host root): its mount points moved away, symlinks in their place
      local r0 = run(id, "for d in /dev /proc /usr /dev/shm /dev/pts; do sudo -n mv $d $d.moved; "
        .. "echo \"$d=$?\"; done; sudo -n ln -sfn /root /dev 2>/dev/null; "
        .. "sudo -n ln -sfn " .. VICTIM .. " /proc 2>/dev/null; echo done")
      for k, v in pairs(kv(r0.stdout)) do
        if k:match("^/") then assert.are_not.equal("0", v, "root inside moved " .. k) end
      end
      assert.are.equal(200, (api("POST", "/sandboxes/" .. id .. "/hibernate")))
      assert.are.equal(200, (api("POST", "/sandboxes/" .. id .. "/wake")))
      local r = run(id, "cat /home/sandbox/kept; cat /proc/self/uid_map; ip -4 route show; "
        .. "sudo -n grep CapBnd /proc/self/status; ./probe syscalls; sudo -n ./probe syscalls")
      assert.matches("^before\n", r.stdout)
      local map = r.stdout:match("\n%s*0%s+(%d+)%s+65536")
      assert.is_true(tonumber(map) >= 1000000000, "uid map after a wake: " .. tostring(map))
      assert.matches("prohibit 169%.254%.0%.0/16", r.stdout)
      assert.matches("CapBnd:%s*00000000a80425fb", r.stdout)
      local p = kv(r.stdout)
      for _, k in ipairs({ "unshare_user", "mount_tmpfs", "keyctl", "bpf", "perf_event_open",
          "open_by_handle_at", "userfaultfd", "tiocsti" }) do
        assert.are.equal("EPERM", p[k], k .. " after a wake")
      end
      for _, m in ipairs(MARKERS) do
        local status = get(id, m)
        assert.is_true(status == 403 or status == 404, m .. ": " .. status)
      end
    end)

    attack("deleting a sandbox full of symlinks into the host removes only its own files", function()
      run(id, "cd /home/sandbox && ln -sfn " .. VICTIM .. " v1 && mkdir -p d/e && "
        .. "ln -sfn " .. VICTIM .. "/ d/v2 && ln -sfn " .. VICTIM .. "/keep d/e/v3 && "
        .. "ln -sfn / d/rootlink && ln -sfn /tmp d/tmplink && mkfifo d/fifo && "
        .. "sudo -n mkdir -p " .. VICTIM .. " && sudo -n sh -c 'echo inside > " .. VICTIM .. "/keep' && "
        .. "sudo -n ln -sfn " .. VICTIM .. " /var/v4 && sudo -n ln -sfn /root /var/v5 && "
        .. "sudo -n ln -sfn " .. VICTIM .. "/keep /var/v6 && echo planted")
      -- through a hibernation and a wake, then deleted
      assert.are.equal(200, (api("POST", "/sandboxes/" .. id .. "/hibernate")))
      assert.are.equal("inside\n", run(id, "cat " .. VICTIM .. "/keep").stdout)
      local reg = registry()
      local sb = reg and reg.by_id and reg.by_id[id]
      local dir = sb and sb.dir
      assert.are.equal(204, (api("DELETE", "/sandboxes/" .. id)))
      assert.are.equal("host\n", read_file(VICTIM .. "/keep"))
      if dir then
        assert.is_nil(io.open(dir .. "/meta.json"), "the sandbox's files are still there")
      end
    end)
  end)

  describe("checkpoints and forks", function()
    -- a fork's first boot writes its /etc/hosts and /etc/hostname into
    -- the layer its checkpoint holds, as host root, before the sandbox
    -- runs: what root inside the origin left there must not send those
    -- writes to the host
    attack("a fork's first boot does not follow its origin's /etc symlink to the host", function()
      local id = new_sandbox()
      local r = run(id, "sudo -n sh -c 'cp -a /etc /etc.real && rm -rf /etc && ln -s "
        .. VICTIM .. " /etc' && readlink /etc")
      assert.are.equal(VICTIM .. "\n", r.stdout, r.stderr)
      local status, ck = api("POST", "/sandboxes/" .. id .. "/checkpoints", { body = { name = "trap" } })
      assert.are.equal(201, status)
      local t0 = oc.now()
      repeat
        oc.sleep(0.05)
        local _, list = api("GET", "/sandboxes/" .. id .. "/checkpoints")
        for _, k in ipairs(list) do if k.id == ck.id then ck = k end end
      until ck.status ~= "processing" or oc.now() - t0 > 10
      assert.are.equal("ready", ck.status)
      local _, before = api("GET", "/sandboxes")
      local fstatus, fork = api("POST", "/sandboxes/from-checkpoint/" .. ck.id, { body = {} })
      for _, name in ipairs({ "hosts", "hostname" }) do
        assert.is_nil(read_file(VICTIM .. "/" .. name), "a fork's first boot wrote the host's "
          .. VICTIM .. "/" .. name)
      end
      -- refused (its /etc is not a directory of its own), and nothing of it stays
      assert.are.equal(500, fstatus)
      assert.matches("/etc/hosts: Too many levels of symbolic links", fork.error)
      local _, after = api("GET", "/sandboxes")
      assert.are.equal(#before, #after)
    end)
  end)
end)