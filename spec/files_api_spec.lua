-- spec/files_api_spec.lua - the files API as a security boundary: what
-- core.fs_root (src/sandbox/fs.c) does on plain directories (acting as a
-- user, refusing FIFOs, devices and writes to kernel interfaces), then the
-- attacks on a sandbox's /files routes, each checked for its status AND
-- for nothing having happened (the host unchanged, the server answering).

local oc = require("opencomputer")
local core = require("opencomputer.core")
local support = require("spec.support.server")

local q = support.q

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local function host_read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- this thread's uids and effective capabilities, as the kernel says
local function creds()
  local s = host_read("/proc/thread-self/status")
  return s:match("\nUid:([^\n]*)") .. " " .. s:match("\nGid:([^\n]*)")
    .. " " .. s:match("\nGroups:([^\n]*)") .. " " .. s:match("\nCapEff:([^\n]*)")
end

describe("core.fs_root on plain directories", function()
  local dir, server_creds
  local NOBODY = 65534

  setup(function()
    server_creds = creds()
    dir = sh("mktemp -d"):gsub("%s+$", "")
    sh(table.concat({
      "chmod 0755 " .. dir, "mkdir -m 0777 " .. dir .. "/open",
      "echo secret > " .. dir .. "/secret", "chmod 0600 " .. dir .. "/secret",
      "echo public > " .. dir .. "/public",
      "mkfifo " .. dir .. "/fifo", "ln -s fifo " .. dir .. "/fifolink",
    }, " && "))
  end)
  teardown(function() sh("rm -rf '" .. dir .. "'") end)

  it("acts as the server without a uid", function()
    local root <close> = assert(core.fs_root(dir))
    local f <close> = assert(root:open("a/b/c.txt", "w"))
    assert(f:write("hello"))
    assert(f:commit())
    assert.are.equal("0:0\n", sh("stat -c %u:%g " .. dir .. "/a/b/c.txt"))
    local r <close> = assert(root:open("a/b/c.txt", "r"))
    assert.are.equal("hello", r:read())
    assert.is_nil(r:read())
    local size, exact = r:size()
    assert.are.equal(5, size)
    assert.is_true(exact)
  end)

  it("takes the root as a directory fd, and duplicates it", function()
    local h = assert(io.open(dir, "r"))	-- glibc opens a directory O_RDONLY
    local pid = host_read("/proc/self/stat"):match("^(%d+)")
    local fd = sh("for f in /proc/" .. pid .. "/fd/*; do [ \"$(readlink $f)\" = '"
      .. dir .. "' ] && echo ${f##*/}; done"):match("(%d+)")
    assert.is_not_nil(fd)
    local root <close> = assert(core.fs_root(tonumber(fd)))
    h:close()	-- the root keeps its own
    local f <close> = assert(root:open("public", "r"))
    assert.are.equal("public\n", f:read())
    local bad, _, code = core.fs_root(123456)
    assert.is_nil(bad)
    assert.are.equal("EBADF", code)
  end)

  it("acts as the given user: what it makes is that user's, what it may not do is EACCES", function()
    local root <close> = assert(core.fs_root(dir, NOBODY, NOBODY))
    local f <close> = assert(root:open("open/new/deeper/file.txt", "w"))
    assert(f:write("x"))
    assert(f:commit())
    assert.are.equal("65534:65534\n65534:65534\n65534:65534\n", sh("cd " .. dir
      .. "/open && stat -c %u:%g new new/deeper new/deeper/file.txt"))
    assert(root:mkdir("open/made"))
    assert.are.equal("65534:65534\n", sh("stat -c %u:%g " .. dir .. "/open/made"))
    -- the server's rights are not the user's
    local none, msg, code = root:open("secret", "r")
    assert.is_nil(none)
    assert.are.equal("EACCES", code)
    assert.matches("secret", msg)
    assert.are.equal("EACCES", select(3, root:open("public", "w")))
    assert.are.equal("public\n", host_read(dir .. "/public"))
    assert.are.equal("EACCES", select(3, root:open("new.txt", "w")))
    assert.are.equal("EACCES", select(3, root:mkdir("newdir")))
    assert.are.equal("EACCES", select(3, root:remove("public")))
    assert.is_nil(host_read(dir .. "/new.txt"))
    assert.are.equal("public\n", host_read(dir .. "/public"))
    -- and the thread is the server again after each, failed or not
    assert.are.equal(server_creds, creds())
  end)

  it("refuses FIFOs (directly or through a symlink) at once, for reading and writing", function()
    -- held open both ways for a while, so that an fs_root that opened it
    -- would not block this spec's loop forever on the open
    os.execute("(sleep 20 <> " .. dir .. "/fifo >/dev/null 2>&1 &)")
    local root <close> = assert(core.fs_root(dir, NOBODY, NOBODY))
    for _, path in ipairs{ "fifo", "fifolink" } do
      for _, mode in ipairs{ "r", "w" } do
        local f, msg, code = root:open(path, mode)
        assert.is_nil(f)
        assert.are.equal("ENOTREG", code)
        assert.matches("not a regular file or directory", msg)
      end
    end
    assert.are.equal("fifo\n", sh("test -p " .. dir .. "/fifo && echo fifo"))
  end)

  it("refuses devices and writes to kernel interfaces, even acting as the server", function()
    for _, uid in ipairs{ NOBODY, false } do
      local root <close> = assert(uid and core.fs_root("/", uid, uid) or core.fs_root("/"))
      for _, path in ipairs{ "dev/null", "dev/zero", "dev/tty" } do
        assert.are.equal("ENOTREG", select(3, root:open(path, "r")))
        assert.are.equal("ENOTREG", select(3, root:open(path, "w")))
      end
      if uid then
        local before = host_read("/proc/sys/fs/lease-break-time")
        local f, msg, code = root:open("proc/sys/fs/lease-break-time", "w")
        assert.is_nil(f)
        assert.are.equal("EREFUSED", code)
        assert.matches("refused", msg)
        assert.are.equal(before, host_read("/proc/sys/fs/lease-break-time"))
        assert.are.equal("EREFUSED", select(3, root:open("dev/shm/oclua-spec", "w")))
        assert.are.equal("EREFUSED", select(3, root:mkdir("dev/shm/oclua-spec")))
        assert.are.equal("EREFUSED", select(3, root:remove("proc/sys/fs/lease-break-time")))
        assert.is_nil(host_read("/dev/shm/oclua-spec"))
      end
    end
  end)

  it("says when a file's size is not its length (procfs)", function()
    local root <close> = assert(core.fs_root("/", NOBODY, NOBODY))
    local f <close> = assert(root:open("proc/cpuinfo", "r"))
    local size, exact = f:size()
    assert.are.equal(0, size)
    assert.is_false(exact)
    assert.matches("^processor", f:read())
  end)

  it("puts a written file in place only at commit: nothing half-written stays", function()
    local root <close> = assert(core.fs_root(dir, NOBODY, NOBODY))
    local f = assert(root:open("open/atomic/partial", "w"))
    assert(f:write(("p"):rep(1000)))
    f:close()	-- given up: gone, and so is its temporary file
    assert.is_nil(host_read(dir .. "/open/atomic/partial"))
    assert.has_error(function() f:write("more") end, "file is closed")
    f = assert(root:open("open/atomic/partial", "w"))
    assert(f:write("old"))
    assert(f:commit())
    f = assert(root:open("open/atomic/partial", "w"))
    assert(f:write("new, but only half"))
    assert.are.equal("old", host_read(dir .. "/open/atomic/partial"))
    f = nil
    collectgarbage()	-- a file never committed goes with its userdata
    assert.are.equal("old", host_read(dir .. "/open/atomic/partial"))
    local p = io.popen("ls -A " .. dir .. "/open/atomic")
    assert.are.equal("partial\n", p:read("a"))
    p:close()
  end)
end)

describe("the files API of a sandbox", function()
  local c = support.shared()
  local id

  local function api(method, path, body, timeout)
    local t0 = oc.now()
    local status, doc, res = c:api(method, "/sandboxes/" .. id .. "/files",
      { query = "path=" .. q(path), raw = body, timeout = timeout or 10,
        headers = { ["Content-Type"] = "application/octet-stream" } })
    return status, res, doc, oc.now() - t0
  end
  local function put(path, body) return api("PUT", path, body or "x") end
  local function get(path) return api("GET", path) end
  local function run(cmd) return c:run(id, cmd) end
  local function exists(path)
    return run("test -e '" .. path .. "' -o -L '" .. path .. "' && echo yes").stdout == "yes\n"
  end
  -- the server still answers at once
  local function answers()
    local t0 = oc.now()
    local status = c:api("GET", "/health", { prefix = "", key = false, timeout = 2 })
    assert.are.equal(200, status)
    assert.is_true(oc.now() - t0 < 1)
  end

  setup(function() id = c:create({ timeout = 0 }) end)
  teardown(function() c:api("DELETE", "/sandboxes/" .. id) end)

  describe("acts as the sandbox user", function()
    it("files and the parent directories a write makes are the user's", function()
      assert.are.equal(204, (put("/home/sandbox/own/a/b.txt", "mine")))
      assert.are.equal("1000:1000\n1000:1000\n1000:1000\n",
        run("cd /home/sandbox && stat -c %u:%g own own/a own/a/b.txt").stdout)
      assert.are.equal(204, (c:api("POST", "/sandboxes/" .. id .. "/files/mkdir",
        { query = "path=/tmp/made/here" })))
      assert.are.equal("1000:1000\n1000:1000\n",
        run("stat -c %u:%g /tmp/made /tmp/made/here").stdout)
    end)

    it("cannot write /etc/ld.so.preload", function()
      local status, _, doc = put("/etc/ld.so.preload", "/tmp/evil.so\n")
      assert.are.equal(403, status)
      assert.are.equal("/etc/ld.so.preload: Permission denied", doc.error)
      assert.is_false(exists("/etc/ld.so.preload"))
    end)

    it("cannot make a new directory under /etc (PUT /etc/pam.d/new/x)", function()
      assert.are.equal(403, (put("/etc/pam.d/new/x", "auth sufficient pam_permit.so\n")))
      assert.is_false(exists("/etc/pam.d/new"))
      assert.are.equal(403, (c:api("POST", "/sandboxes/" .. id .. "/files/mkdir",
        { query = "path=/etc/pam.d/new" })))
      assert.is_false(exists("/etc/pam.d/new"))
    end)

    it("cannot truncate a file it may not write, nor remove one", function()
      local before = select(2, get("/etc/hostname")).body
      assert.are.equal(id .. "\n", before)
      assert.are.equal(403, (put("/etc/hostname", "pwned\n")))
      assert.are.equal(before, select(2, get("/etc/hostname")).body)
      assert.are.equal(403, (api("DELETE", "/etc/hostname")))
      assert.are.equal(before, select(2, get("/etc/hostname")).body)
    end)

    it("cannot read or list what the user cannot", function()
      run("echo hidden > /home/sandbox/private && chmod 000 /home/sandbox/private")
      assert.are.equal(403, (get("/home/sandbox/private")))
      assert.are.equal(403, (c:api("GET", "/sandboxes/" .. id .. "/files/list",
        { query = "path=/root" })))
    end)

    it("leaves nothing behind in a directory it may not write", function()
      run("mkdir -p /home/sandbox/ro && chmod 555 /home/sandbox/ro")
      assert.are.equal(403, (put("/home/sandbox/ro/f", "x")))
      assert.are.equal(403, (put("/home/sandbox/ro/d/f", "x")))
      assert.are.equal("", run("ls -A /home/sandbox/ro").stdout)
    end)

    it("follows a symlink at the end inside the sandbox, creating its target", function()
      run("ln -s /tmp/link-target /home/sandbox/newlink")
      assert.are.equal(204, (put("/home/sandbox/newlink", "through")))
      assert.are.equal("through", run("cat /tmp/link-target").stdout)
      assert.are.equal("1000:1000\n", run("stat -c %u:%g /tmp/link-target").stdout)
    end)
  end)

  describe("never opens what is not a regular file or directory", function()
    it("a FIFO made by a command: GET and PUT are 400 at once, the server keeps answering", function()
      -- a command holds it open both ways for a while: a server that
      -- opened it would not block forever on the open (this spec's loop
      -- is the server's) but on the read, for 20 s, or write into it
      run("mkfifo /tmp/fifo && ln -s /tmp/fifo /home/sandbox/fifolink && "
        .. "(sleep 20 <> /tmp/fifo >/dev/null 2>&1 &)")
      for _, path in ipairs{ "/tmp/fifo", "/home/sandbox/fifolink" } do
        for _, method in ipairs{ "GET", "PUT" } do
          local status, res, doc, took = api(method, path, method == "PUT" and "x" or nil, 5)
          assert.are.equal(400, status, method .. " " .. path)
          assert.are.equal("not a regular file or directory: " .. path, doc.error)
          assert.is_true(took < 2, res.body)
          answers()
        end
      end
      assert.are.equal("fifo\n", run("test -p /tmp/fifo && echo fifo").stdout)
    end)

    it("a Unix socket: 400", function()
      local r = run("perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type => SOCK_STREAM(), "
        .. "Local => \"/tmp/sock\", Listen => 1) or die $!' && test -S /tmp/sock && echo ok")
      assert.are.equal("ok\n", r.stdout, r.stderr)
      assert.are.equal(400, (get("/tmp/sock")))
      assert.are.equal(400, (put("/tmp/sock", "x")))
      answers()
    end)

    it("/dev/null, /dev/zero, /dev/tty: 400 for GET and PUT", function()
      for _, dev in ipairs{ "/dev/null", "/dev/zero", "/dev/tty" } do
        local status, _, doc, took = get(dev)
        assert.are.equal(400, status, dev)
        assert.matches("not a regular file or directory", doc.error)
        assert.is_true(took < 2)
        assert.are.equal(400, (put(dev, "printed into the operator's terminal?\n")), dev)
      end
      answers()
    end)
  end)

  describe("refuses writes to /proc, /sys and /dev", function()
    local LBT = "/proc/sys/fs/lease-break-time"

    -- a regression would change the host's setting: put it back
    local function keep_host_setting()
      local before = host_read(LBT)
      finally(function()
        if host_read(LBT) ~= before then
          local f = io.open(LBT, "w")
          f:write(before)
          f:close()
        end
      end)
      return before
    end

    it("PUT /proc/sys/fs/lease-break-time: 403, the host's setting unchanged", function()
      local before = keep_host_setting()
      local status, _, doc = put(LBT, "7\n")
      assert.are.equal(403, status)
      assert.matches("refused", doc.error)
      assert.are.equal(before, host_read(LBT))
      assert.are.equal(403, (api("DELETE", LBT)))
      assert.are.equal(403, (c:api("POST", "/sandboxes/" .. id .. "/files/mkdir",
        { query = "path=/proc/sys/fs/oclua" })))
      assert.are.equal(before, host_read(LBT))
    end)

    it("through symlinks planted by a command (a parent, or the file itself): 403", function()
      local before = keep_host_setting()
      run("ln -s /proc/sys/fs /home/sandbox/fslink && ln -s " .. LBT .. " /home/sandbox/lbt")
      assert.are.equal(403, (put("/home/sandbox/fslink/lease-break-time", "7\n")))
      assert.are.equal(403, (put("/home/sandbox/lbt", "7\n")))
      assert.are.equal(403, (c:api("POST", "/sandboxes/" .. id .. "/files/mkdir",
        { query = "path=/home/sandbox/fslink/new" })))
      assert.are.equal(403, (api("DELETE", "/home/sandbox/fslink/lease-break-time")))
      assert.are.equal(before, host_read(LBT))
      -- the links themselves are the user's to remove
      assert.are.equal(204, (api("DELETE", "/home/sandbox/lbt")))
      assert.is_false(exists("/home/sandbox/lbt"))
    end)

    it("/dev/shm and /dev are refused; /tmp (tmpfs too) stays writable", function()
      assert.are.equal(403, (put("/dev/shm/x", "x")))
      assert.are.equal(403, (put("/dev/shm/d/x", "x")))
      assert.are.equal(403, (put("/dev/new", "x")))
      assert.are.equal(403, (c:api("POST", "/sandboxes/" .. id .. "/files/mkdir",
        { query = "path=/dev/shm/d" })))
      assert.are.equal(403, (api("DELETE", "/dev/shm")))
      assert.are.equal("", run("ls -A /dev/shm").stdout)
      assert.is_false(exists("/dev/new"))
      assert.are.equal(204, (put("/tmp/ok", "fine")))
      assert.are.equal("fine", select(2, get("/tmp/ok")).body)
    end)
  end)

  describe("reads kernel files whole and without blocking", function()
    it("GET /proc/kmsg is refused or empty, at once, and the kernel log is not read", function()
      local status, res, _, took = get("/proc/kmsg")
      assert.is_true(status ~= 200 or res.body == "", tostring(status))
      assert.is_true(took < 2)
      answers()
    end)

    it("GET /proc/cpuinfo: the whole file, with its real length", function()
      local status, res = get("/proc/cpuinfo")
      assert.are.equal(200, status)
      assert.matches("^processor", res.body)
      assert.are.equal(tostring(#res.body), res.headers["content-length"])
      local n = tonumber((run("grep -c ^processor /proc/cpuinfo").stdout))
      local _, got = res.body:gsub("\nprocessor", "")
      assert.are.equal(n, got + 1)
    end)

    it("GET /proc/1/status whole; HEAD says the length GET sends", function()
      local status, res = get("/proc/1/status")
      assert.are.equal(200, status)
      assert.matches("^Name:", res.body)
      local _, version = get("/proc/version")
      local hstatus, hres = api("HEAD", "/proc/version")
      assert.are.equal(200, hstatus)
      assert.is_true(#version.body > 0)
      assert.are.equal(tostring(#version.body), hres.headers["content-length"])
    end)

    it("an upload into a sandbox deleted mid-upload answers 404", function()
      local other = c:create({ timeout = 0 })
      local host = c.url:match("^http://(.*)$")
      local upload = oc.spawn(function()
        -- the head and half the body; the rest after the delete
        local head = support.raw_request(host, "PUT", "/api/sandboxes/"
          .. other .. "/files?path=/tmp/late", "", "application/octet-stream", 8)
        return support.output({ "bash", "-c", "exec 3<>/dev/tcp/" .. host:gsub(":", "/")
          .. ' && printf %s "$1" >&3 && printf 1234 >&3 && sleep 1.5 && '
          .. "printf 5678 >&3 && timeout 5 head -1 <&3", "bash", head })
      end)
      oc.sleep(0.5)
      assert.are.equal(204, (c:api("DELETE", "/sandboxes/" .. other)))
      assert.matches("^HTTP/1.1 404", upload:wait())
      answers()
    end)

    it("regular files still stream with their size; HEAD agrees", function()
      local blob = ("0123456789abcdef"):rep(65536)	-- 1 MiB
      assert.are.equal(204, (put("/home/sandbox/big", blob)))
      local status, res = get("/home/sandbox/big")
      assert.are.equal(200, status)
      assert.is_true(res.body == blob)
      local _, hres = api("HEAD", "/home/sandbox/big")
      assert.are.equal(tostring(#blob), hres.headers["content-length"])
    end)
  end)
end)
