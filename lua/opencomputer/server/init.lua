-- opencomputer/server/init.lua - the local sandbox server: the same HTTP
-- and WebSocket API as the OpenComputer cloud (protocol.md), serving real
-- isolated sandboxes on this machine. `oclua serve` runs it standalone;
-- the SDK starts it as a child process when no API URL is configured.
--
--   srv = server.start{listen = "127.0.0.1:0", api_key = "...",
--                      data_dir = "/var/lib/oclua", uid_base = N,
--                      allow_host_loopback = false, disk_gib = N,
--                      allow_missing = { limits = true, ... },
--                      image_cache = N, pause_promote = s,
--                      warm_pool = N,
--                      http = { header_timeout = s, idle_timeout = s,
--                               body_timeout = s, send_timeout = s,
--                               max_connections = n }}
--   srv.port, srv.url, srv.api_key, srv.warnings ; srv:stop()
--
-- Before it listens, it checks that this machine can isolate sandboxes
-- (a probe sandbox boots: user namespaces, idmapped mounts, seccomp) and
-- can bound them: cgroups ("limits"), slirp4netns ("network"), a quota
-- file system ("disk"). Without one of the last three it refuses to start
-- unless allow_missing names it; srv.warnings then says what is not
-- protected. Without the first it always refuses.
--
-- image_cache: how many unnamed images (image.lua's cache entries) are
-- kept that nothing uses (default image.CACHE_MAX); pause_promote:
-- seconds a paused sandbox waits before it goes deep (default
-- sandbox.PAUSE_PROMOTE, an hour); warm_pool: how many sandboxes are kept
-- booted ahead of creates (sandbox.lua "the warm pool"; default 0), filled
-- before the server listens; interrupted: a function that says the start
-- should stop waiting for that fill (a signal came; the caller stops the
-- server then).

local oc = require("opencomputer")
local random = require("opencomputer.runtime.random")
local core = require("opencomputer.core")
local http = require("opencomputer.server.http")
local api = require("opencomputer.server.api")
local sandbox = require("opencomputer.server.sandbox")
local checkpoint = require("opencomputer.server.checkpoint")
local image = require("opencomputer.server.image")
local templates = require("opencomputer.server.template_build")
local preview = require("opencomputer.server.preview")
local signed = require("opencomputer.server.signed")

local M = {}

local function handle(srv, req)
  local ok, err = pcall(function()
    -- a preview URL's host (preview.lua): the sandbox's app, not the API
    local pid, pport = preview.target(req)
    if pid then return preview.serve(srv.registry, req, pid, pport) end
    -- routed on the raw path, segment by segment (http.segments)
    local segs = http.segments(req.raw_path)
    local only = #segs == 1 and segs[1]
    if only == "health" or only == "healthz" then
      return http.json(req, 200, { status = only == "health" and "ok" or "alive" })
    end
    -- readyz also says how full the warm pool is (sandbox.lua; beyond
    -- protocol.md: `make bench` waits for a full pool before each client)
    -- (the pool's figures only with the API key: from a sandbox that
    -- reaches the host, --allow-host-loopback, they would show when
    -- others create sandboxes)
    if only == "readyz" then
      local reg = srv.registry
      return http.json(req, 200, { status = "ready",
        warmPool = http.authorized(req, srv.api_key)
          and { ready = #reg.pool, size = reg.pool_size } or nil })
    end
    if req.method == "OPTIONS" and not req.upgrade then
      return http.preflight(req)
    end
    -- a signed file URL's signature stands for the key (protocol.md 5.1)
    if not signed.keyless(req, segs) and not http.authorized(req, srv.api_key) then
      return http.fail(req, 401, "missing or invalid API key")
    end
    -- a WebSocket is also served without "/api" (as it always was)
    local under_api = segs[1] == "api"
    if under_api then table.remove(segs, 1) end
    if req.upgrade then return api.websocket(srv.registry, req, segs) end
    if not under_api then return http.fail(req, 404, "not found") end
    local handler, params = srv.router.match(req.method, segs)
    if not handler then
      return http.fail(req, params, params == 405 and "method not allowed"
        or "not found")
    end
    handler(req, params)
  end)
  if ok or req:closed() then return end
  if http.is_answer(err) then
    -- (the routes say what failed without host paths; this is the net)
    pcall(http.fail, req, err.status,
      srv.registry:public(err, req.method .. " " .. req.path))
  else
    io.stderr:write("oclua serve: ", req.method, " ", req.path, ": ",
      tostring(err), "\n")
    pcall(http.fail, req, 500, "internal error")
  end
end

function M.start(opts)
  opts = opts or {}
  local host, port = (opts.listen or "127.0.0.1:0"):match("^(.*):(%d+)$")
  if not host then error("listen address must be HOST:PORT", 2) end
  local data_dir = opts.data_dir
  local temporary = not data_dir
  if temporary then
    data_dir = os.tmpname()
    os.remove(data_dir)
  end
  os.execute("mkdir -p '" .. data_dir .. "'")
  local missing, warnings = {}, {}
  local allowed = opts.allow_missing or {}
  local function need(feature, ok, why, weaker)
    if ok then return end
    if not allowed[feature] then
      error("cannot bound sandboxes here: " .. why .. " (or start with "
        .. "--allow-missing " .. feature .. " to run without: " .. weaker
        .. ")", 0)
    end
    missing[feature] = true
    warnings[#warnings + 1] = "running without " .. feature .. " (" .. why
      .. "): " .. weaker
  end
  local ok, why = core.box_cgroups()
  need("limits", ok, why, "a sandbox can use all memory, CPUs and "
    .. "processes of this machine")
  ok, why = core.box_network()
  need("network", ok, why, "sandboxes have no outbound network")
  local sandboxes = data_dir .. "/sandboxes"
  os.execute("mkdir -p '" .. sandboxes .. "'")
  ok, why = core.disk_setup(data_dir .. "/disk.img", sandboxes,
    (opts.disk_gib or 1024) * 1073741824)
  -- temporary: the loop device holds the image open, and lets it go
  -- (and its disk space) with the last mount, however the server ends
  if ok and temporary then os.remove(data_dir .. "/disk.img") end
  need("disk", ok, why, "a sandbox can fill the disk of " .. data_dir)
  local reg = sandbox.registry(data_dir, opts.template_dir
    or (temporary and "/var/tmp/oclua/templates" or data_dir .. "/templates"),
    { uid_base = opts.uid_base, limits = not missing.limits,
      network = not missing.network, disk = not missing.disk,
      host_loopback = opts.allow_host_loopback,
      pause_promote = opts.pause_promote, warm_pool = opts.warm_pool })
  if opts.allow_host_loopback then
    warnings[#warnings + 1] = "--allow-host-loopback: sandboxes reach "
      .. "every service on this machine's 127.0.0.1 as 10.0.2.2, this "
      .. "server's API included"
  end
  ok, why = pcall(reg.probe, reg)
  if not ok then
    if not missing.disk then core.disk_teardown(sandboxes) end
    if temporary then os.execute("rm -rf '" .. data_dir .. "'") end
    error("cannot isolate sandboxes here: " .. tostring(why) .. " (oclua "
      .. "serve needs root, user namespaces (sysctl "
      .. "user.max_user_namespaces > 0) and Linux 5.19 or later for "
      .. "idmapped mounts)", 0)
  end
  for _, why in ipairs(reg:load()) do warnings[#warnings + 1] = why end
  for _, why in ipairs(checkpoint.load(reg)) do warnings[#warnings + 1] = why end
  for _, why in ipairs(image.load(reg, data_dir, { cache_max = opts.image_cache })) do
    warnings[#warnings + 1] = why
  end
  for _, why in ipairs(templates.load(reg, data_dir)) do warnings[#warnings + 1] = why end
  for _, why in ipairs(signed.load(reg, data_dir)) do warnings[#warnings + 1] = why end
  image.trim(reg)	-- once the templates say which images they use
  -- the warm pool is full before the first request (a fill meanwhile
  -- would take the CPU requests need); after a minute it goes on filling
  -- in the background
  reg:wait_pool(60, opts.interrupted)
  local listening, listener = pcall(core.http_listen, host, tonumber(port),
    opts.http)
  if not listening then
    reg:close_pool()
    error(listener, 0)
  end
  local srv = {
    api_key = opts.api_key or "oclua_" .. random.hex(24), registry = reg,
    router = api.routes(reg), listener = listener, port = listener:port(),
    data_dir = data_dir, temporary = temporary, warnings = warnings,
  }
  srv.url = "http://" .. host .. ":" .. srv.port
  reg.preview_domain = preview.DOMAIN .. ":" .. srv.port	-- 8.8
  srv.task = oc.spawn(function()
    while true do
      local req = listener:accept()
      if not req then return end
      oc.spawn(handle, srv, req)
    end
  end)
  function srv.stop()
    listener:close()
    preview.close_all(reg)
    reg:close_pool()
    for _, sb in pairs(reg.by_id) do
      -- (a paused sandbox has its box too: thawed and ended)
      if temporary then sb:delete() elseif sb.box then sb:stop("hibernated") end
    end
    if not missing.disk then core.disk_teardown(sandboxes) end
    if temporary then os.execute("rm -rf '" .. data_dir .. "'") end
  end
  return srv
end

return M
