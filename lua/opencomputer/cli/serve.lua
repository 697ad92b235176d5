-- opencomputer/cli/serve.lua - `oclua serve`: the local sandbox server,
-- standalone, until SIGINT or SIGTERM.

local core = require("opencomputer.core")
local oc = require("opencomputer")

local M = {}

M.usage = [[
usage: oclua serve [--listen ADDR:PORT] [--data-dir DIR] [--api-key KEY]
                   [--allow-host-loopback] [--uid-base N] [--disk-size GIB]
                   [--allow-missing FEATURE,...] [--exit-with-parent]
                   [--image-cache N] [--warm-pool N]
                   [--max-connections N] [--header-timeout S]
                   [--idle-timeout S] [--body-timeout S] [--send-timeout S]

Runs the local sandbox server: the OpenComputer HTTP and WebSocket API on
this machine. Each sandbox is a rootless-style container: its own user
namespace (its root is an unprivileged host uid), mount, PID, network,
UTS, IPC and cgroup namespaces, a seccomp filter, cgroup limits on memory,
CPU and processes, a disk quota, and outbound network through
slirp4netns. Its `sandbox` user has passwordless sudo inside. Needs root
(README: "Security model").

  --listen ADDR:PORT  where to listen (default 127.0.0.1:8787; port 0 picks
                      a free one)
  --data-dir DIR      keep sandboxes here; they survive a restart (as
                      "hibernated": files kept, processes gone, woken by
                      the next exec or files call). Without it, sandboxes
                      live in a temporary directory removed at exit.
  --api-key KEY       the key clients must send (X-API-Key, or ?api_key=);
                      default: $OCLUA_SERVE_API_KEY, else a new random key,
                      printed once
  --allow-host-loopback
                      let sandboxes reach this machine's 127.0.0.1 as
                      10.0.2.2 (off by default: a sandbox cannot reach the
                      host's own services, this server's API included)
  --uid-base N        host uids of sandboxes start at N, 65536 per
                      sandbox (default 1000000000); the range must belong
                      to no host user and no /etc/subuid entry
  --disk-size GIB     the size of the sparse image that holds every
                      sandbox's files (DIR/disk.img; default 1024, but at
                      most the free space less 5%, at least 4)
  --allow-missing FEATURE,...
                      start even though this machine cannot provide
                      FEATURE: limits (cgroups), network (slirp4netns),
                      disk (loop devices for the quota image). What is not
                      protected is printed at every start.
  --image-cache N     keep at most N unnamed images (built for a create's
                      `image`, or a template's) that no template uses,
                      the most recently used; older ones and their
                      checkpoints are deleted (default 16; snapshots are
                      kept until deleted)
  --warm-pool N       keep N sandboxes booted ahead of requests and hand
                      them to creates of the default shape (template
                      base, 4096 MB / 1 vCPU, network on); filled before
                      the server listens (about 20 ms each), refilled in
                      the background once creates pause; each idle one
                      costs about 1 MiB of memory and two sleeping
                      processes (README "Warm pool"). Default 16, 0 with
                      --exit-with-parent; 0: off
  --exit-with-parent  stop when the parent process exits (used by the SDK's
                      embedded default)
  --max-connections N more connections at once get 503 with Retry-After
                      (default: half of the descriptors left after 256)
  --header-timeout S  a request head must arrive within S seconds of its
                      first byte, else 408 (default 10; 0: no limit)
  --idle-timeout S    close a connection idle for S seconds (default 30)
  --body-timeout S    408 when an awaited request body sends nothing for
                      S seconds (default 60)
  --send-timeout S    close a connection whose client takes no byte of a
                      response for S seconds (default 60)
  -h, --help          this help

Point a script at it:
  OPENCOMPUTER_API_URL=http://127.0.0.1:8787 OPENCOMPUTER_API_KEY=KEY \
    oclua script.lua
]]

local function fail(msg)
  io.stderr:write("oclua serve: ", msg, "\nTry 'oclua serve --help'.\n")
  os.exit(2)
end

function M.parse(args)
  local o = { listen = "127.0.0.1:8787" }
  local i = 1
  while i <= #args do
    local a = args[i]
    local k, v = a:match("^(%-%-[%w-]+)=(.*)$")
    k = k or a
    local function value()
      if v then return v end
      i = i + 1
      if args[i] == nil then fail(k .. " needs a value") end
      return args[i]
    end
    if k == "-h" or k == "--help" then
      io.write(M.usage)
      os.exit(0)
    elseif k == "--listen" then
      o.listen = value()
      if not o.listen:match("^[^:]+:%d+$") then
        fail("--listen wants ADDR:PORT, e.g. 127.0.0.1:8787")
      end
    elseif k == "--data-dir" then
      o.data_dir = value()
    elseif k == "--api-key" then
      o.api_key = value()
      if o.api_key == "" then fail("--api-key must not be empty") end
    elseif k == "--exit-with-parent" then
      o.exit_with_parent = true
    elseif k == "--allow-host-loopback" then
      o.allow_host_loopback = true
    elseif k == "--uid-base" then
      local sandbox = require("opencomputer.server.sandbox")
      local top = 4294967294 - sandbox.SLOTS * sandbox.UID_RANGE
      o.uid_base = math.tointeger(tonumber(value()))
      if not o.uid_base or o.uid_base < 65536 or o.uid_base > top then
        fail("--uid-base wants a number from 65536 (above every ordinary "
          .. "host uid) to " .. top .. " (room for "
          .. sandbox.SLOTS .. " sandboxes of 65536 uids)")
      end
    elseif k == "--image-cache" then
      o.image_cache = math.tointeger(tonumber(value()))
      if not o.image_cache or o.image_cache < 0 then
        fail("--image-cache wants a number of images, 0 or more")
      end
    elseif k == "--warm-pool" then
      local sandbox = require("opencomputer.server.sandbox")
      o.warm_pool = math.tointeger(tonumber(value()))
      if not o.warm_pool or o.warm_pool < 0 or o.warm_pool > sandbox.SLOTS then
        fail("--warm-pool wants a number of sandboxes, 0 to "
          .. sandbox.SLOTS)
      end
    elseif k == "--disk-size" then
      o.disk_gib = tonumber(value())
      if not o.disk_gib or o.disk_gib < 1 then
        fail("--disk-size wants a number of GiB, at least 1")
      end
    elseif k == "--max-connections" or k:match("^%-%-%a+%-timeout$") then
      local name = k:sub(3):gsub("-", "_")
      local n = tonumber(value())
      if name ~= "max_connections" and name ~= "header_timeout" and
         name ~= "idle_timeout" and name ~= "body_timeout" and
         name ~= "send_timeout" then
        fail("unknown option " .. a)
      elseif not n or n < 0 or (name == "max_connections" and
          (n < 1 or math.type(n) ~= "integer")) then
        fail(k .. " wants " .. (name == "max_connections" and
          "a positive integer" or "a number of seconds (0: no limit)"))
      end
      o.http = o.http or {}
      o.http[name] = n
    elseif k == "--allow-missing" then
      o.allow_missing = o.allow_missing or {}
      for f in value():gmatch("[^,]+") do
        if f ~= "limits" and f ~= "network" and f ~= "disk" then
          fail("--allow-missing takes limits, network or disk, not " .. f)
        end
        o.allow_missing[f] = true
      end
    else
      fail("unknown option " .. a)
    end
    i = i + 1
  end
  return o
end

function M.main(...)
  local o = M.parse({ ... })
  if o.exit_with_parent then core.exit_with_parent() end
  local server = require("opencomputer.server")
  local given_key = o.api_key or os.getenv("OCLUA_SERVE_API_KEY")
  if given_key == "" then given_key = nil end
  o.api_key = given_key
  -- without --data-dir nothing may outlive this process, a SIGKILL
  -- included: its mounts (the sandboxes' disk image) are its own
  if not o.data_dir then
    local ok, err = pcall(core.private_mounts)
    if not ok then
      io.stderr:write("oclua serve: ", tostring(err), "\n")
      os.exit(1)
    end
  end
  if not o.warm_pool then	-- the embedded default keeps none
    o.warm_pool = o.exit_with_parent and 0
      or require("opencomputer.server.sandbox").WARM_POOL
  end
  -- SIGINT or SIGTERM stop it, whichever comes first, from now on: the
  -- start can take seconds (the warm pool boots before the server
  -- listens), and a signal's default action there would leave its
  -- sandboxes' cgroups and mounts behind
  local done = require("opencomputer.runtime.task").condition()
  local stopping = false
  local function on(sig)
    oc.spawn(function() core.signal_wait(sig); stopping = true; done:signal() end)
  end
  on(2)
  on(15)
  oc.sleep(0)	-- the waiters are in place
  o.interrupted = function() return stopping end
  local ok, srv = pcall(server.start, o)
  if not ok then
    -- the reason, without the Lua position of the call that raised it
    io.stderr:write("oclua serve: ", require("opencomputer.server.http").message(srv), "\n")
    os.exit(1)
  end
  for _, w in ipairs(srv.warnings) do
    io.stderr:write("oclua serve: WARNING: ", w, "\n")
  end
  if stopping then	-- asked to stop while it started
    srv.stop()
    io.stderr:write("oclua serve: stopped before it listened\n")
    return
  end
  io.write("oclua serve: listening on ", srv.url, "\n")
  if not given_key then
    io.write("API key (shown once): ", srv.api_key, "\n")
  end
  if o.data_dir then
    io.write("data: ", o.data_dir, "\n")
  end
  io.flush()
  if not stopping then done:wait() end
  srv.stop()
  if not o.exit_with_parent then	-- the embedded default stays quiet
    io.stderr:write("oclua serve: stopped\n")
  end
end

return M
