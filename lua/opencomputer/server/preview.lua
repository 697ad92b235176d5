-- opencomputer/server/preview.lua - preview URLs (protocol.md 8.8, and
-- previewAuth of 2.2): the routes that make, list and delete them and
-- rotate a sandbox's preview token, and the proxy that serves them.
--
-- A preview URL is http://<sandboxID>-p<port>.localhost:<server port>/
-- (browsers resolve every *.localhost name to the loopback, RFC 6761
-- 6.3): a request whose Host names one is not an API call. It needs no
-- API key; it is served only for a port made through the API (else a 404
-- page); when the sandbox has a preview token the request must carry it
-- (else a 401 page); a hibernated sandbox is woken; then the client's
-- connection is joined to a TCP connection to that port inside the
-- sandbox's network namespace (core.netns_connect: its 127.0.0.1, 0.0.0.0
-- and ::1 listeners), which first reads the request as it came
-- (req:tunnel, src/server/tunnel.c), and from then on everything passes
-- both ways untouched: keep-alive, chunked bodies, WebSocket upgrades, at
-- the speed of the slower side, never a whole body held. Nothing
-- listening is a 502 page.
--
-- The tunnel is per connection: the checks above are made on the first
-- request of a client connection, and later requests on it (keep-alive)
-- go straight through, to the same port of the same sandbox (a browser
-- keeps one connection per host name). Rotating the token closes the
-- sandbox's open tunnels, deleting a preview those of its port. An open
-- tunnel counts as an attached client: the sandbox does not idle into
-- hibernation while one is open (a paused sandbox would hang it); an
-- explicit hibernate ends its processes, and so the tunnels.
--
-- The token (8.8): `Authorization: Bearer <token>`, `X-OC-Preview-Token:
-- <token>`, or, for a browser, the query parameter oc_preview_token=<token>
-- once: a GET or HEAD carrying a good one is redirected (303) to the same
-- URL without it, with a cookie (oc_preview_token, the token in base64,
-- HttpOnly, SameSite=Lax, for that host name only) that carries it on
-- every later request. Only the token's SHA-256 is kept (meta.json).

local core = require("opencomputer.core")
local http = require("opencomputer.server.http")
local exec = require("opencomputer.server.exec")
local request = require("opencomputer.server.request")
local random = require("opencomputer.runtime.random")
local json = require("opencomputer.runtime.json")

local M = {}

M.TUNNELS_MAX = 1000	-- open tunnels per server; more get a 503 page
M.CONNECT_TIMEOUT = 10	-- s for a port in the sandbox to accept
M.COOKIE = "oc_preview_token"	-- the cookie and the query parameter
M.DOMAIN = "localhost"	-- previews are <id>-p<port>.localhost:<port>

local NOT_RUNNING = "sandbox is not running or not found"

-- the open tunnels: tunnels[reg] = {count = n, by_sb = {[sb] = {[tunnel] = port}}}
local tunnels = setmetatable({}, { __mode = "k" })

local function tunnels_of(reg)
  local t = tunnels[reg]
  if not t then
    t = { count = 0, by_sb = setmetatable({}, { __mode = "k" }) }
    tunnels[reg] = t
  end
  return t
end

--- Close the open tunnels of sandbox `sb` (only those to `port`, if
-- given): what rotating its token and deleting a preview do.
function M.close_tunnels(sb, port)
  local t = tunnels[sb.registry]
  for tun, p in pairs(t and t.by_sb[sb] or {}) do
    if not port or p == port then tun:close() end
  end
end

--- Close every open tunnel of registry `reg` (the server stops).
function M.close_all(reg)
  local t = tunnels[reg]
  for _, mine in pairs(t and t.by_sb or {}) do
    for tun in pairs(mine) do tun:close() end
  end
end

-- the preview record of `port`, and its index in sb.previews
local function find(sb, port)
  for i, rec in ipairs(sb.previews or {}) do
    if rec.port == port then return rec, i end
  end
end

--- The preview object of protocol.md 8.8 for record `rec` of `sb`.
function M.object(sb, rec)
  return {
    id = rec.id, sandboxId = sb.id, orgId = "",
    hostname = sb.id .. "-p" .. rec.port .. "." .. sb.registry.preview_domain,
    port = rec.port, sslStatus = "active",
    authConfig = rec.auth_config or {},
    createdAt = exec.rfc3339(rec.created_at),
  }
end

-- a new token: 32 random bytes in base64url without padding (2.2)
local function new_token()
  return (core.base64_encode(random.bytes(32)):gsub("[+/=]",
    { ["+"] = "-", ["/"] = "_", ["="] = "" }))
end

--- Turn the preview gate of `sb` on with `token` ("", "auto" or nil:
-- a new one, 2.2) and save it; the token in plain text, which is never
-- kept (only its SHA-256). Closes the tunnels the old token opened.
function M.set_token(sb, token)
  if token == nil or token == "" or token == "auto" then token = new_token() end
  sb.preview_token = core.sha256(token)
  sb:save()
  M.close_tunnels(sb)
  return token
end

--- The routes of 8.8 (relative to /api).
function M.routes(r, reg)
  -- the sandbox `id` for a management call: 404 when unknown
  local function sandbox_of(id)
    local sb = reg:get(request.id(id, "sandbox id"))
    if not sb then http.abort(404, "sandbox not found") end
    return sb
  end

  r.add("POST", "/sandboxes/:id/preview", function(req, p)
    local b = request.body(req, "preview")
    local sb = reg:get(request.id(p.id, "sandbox id"))
    if not sb or sb.status ~= "running" then http.abort(400, NOT_RUNNING) end
    if b.domain and b.domain ~= "" and b.domain ~= M.DOMAIN
        and b.domain ~= reg.preview_domain then
      http.abort(400, string.format("domain %q is not a verified custom "
        .. "domain of this server: its preview URLs are served under %s only",
        b.domain, reg.preview_domain))
    end
    local rec = find(sb, b.port)
    if rec then return http.json(req, 200, M.object(sb, rec)) end
    rec = { id = random.uuid(), port = b.port, created_at = os.time(),
      auth_config = b.authConfig }
    sb.previews = sb.previews or {}
    table.insert(sb.previews, rec)
    table.sort(sb.previews, function(x, y) return x.port < y.port end)
    sb:save()
    http.json(req, 201, M.object(sb, rec))
  end)

  r.add("GET", "/sandboxes/:id/preview", function(req, p)
    local sb = sandbox_of(p.id)
    local out = json.array()
    for i, rec in ipairs(sb.previews or {}) do out[i] = M.object(sb, rec) end
    http.json(req, 200, out)
  end)

  r.add("DELETE", "/sandboxes/:id/preview/:port", function(req, p)
    local sb = sandbox_of(p.id)
    local port = request.port(p.port)
    local _, i = find(sb, port)
    if not i then http.abort(404, "no preview URL for this port") end
    table.remove(sb.previews, i)
    if #sb.previews == 0 then sb.previews = nil end
    sb:save()
    M.close_tunnels(sb, port)
    http.no_content(req)
  end)

  -- a new token; the gate is on from now on (every state of a sandbox
  -- here can take one: never the reference's 410)
  r.add("POST", "/sandboxes/:id/preview/rotate", function(req, p)
    local sb = sandbox_of(p.id)
    request.body(req, "none")
    http.json(req, 200, { previewAuthToken = M.set_token(sb), scheme = "bearer" })
  end)
end

-- the proxy ------------------------------------------------------------------

--- The sandbox id and port a request's Host names, when it is a preview
-- host name (<id>-p<port>.localhost, any port after it); else nil.
function M.target(req)
  local host = req.headers.host
  if not host then return nil end
  host = host:lower():gsub(":%d+$", "")
  local id, port = host:match("^(sb%-[%w]+)%-p(%d%d?%d?%d?%d?)%.localhost%.?$")
  port = tonumber(port)
  if id and port >= 1 and port <= 65535 then return id, port end
end

local function escape(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;",
    [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

local STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:42em;"
  .. "margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}"
  .. "code{background:#f0f0f0;padding:.1em .3em;border-radius:3px}"
  .. "footer{margin-top:3em;color:#888;font-size:.85em}"

-- answer a preview request with an HTML page: `title`, then paragraphs
-- (HTML already: the callers escape what they put in)
local function page(req, status, title, paragraphs, extra)
  local body = { "<!doctype html>\n<html lang=\"en\"><head><meta charset="
    .. "\"utf-8\"><title>", escape(title), "</title><style>", STYLE,
    "</style></head><body><h1>", escape(title), "</h1>" }
  for _, p in ipairs(paragraphs) do body[#body + 1] = "<p>" .. p .. "</p>" end
  body[#body + 1] = "<footer>oclua preview proxy · HTTP " .. status
    .. "</footer></body></html>\n"
  local h = { ["Content-Type"] = "text/html; charset=utf-8",
    ["Cache-Control"] = "no-store" }
  for k, v in pairs(extra or {}) do h[k] = v end
  req:respond(status, h, table.concat(body))
end

-- the preview tokens a request carries (a list: headers, then every
-- cookie of that name, since a page of another preview, a sibling host
-- under localhost, can set one with Domain=localhost), and whether it
-- came in the query (then it is the only one)
local function given_tokens(req)
  local q = req.query[M.COOKIE]
  if q then return { q }, true end
  local out = { req.headers["x-oc-preview-token"] }
  local auth = req.headers["authorization"]
  out[#out + 1] = auth and auth:match("^[Bb]earer%s+(%S+)%s*$")
  for value in (req.headers["cookie"] or ""):gmatch("[^;,]+") do
    local v = value:match("^%s*" .. M.COOKIE .. "=\"?([%w+/=]+)\"?%s*$")
    out[#out + 1] = v and core.base64_decode(v)
  end
  return out
end

-- the request-target without the query parameter oc_preview_token
local function without_token(target)
  local path, query = target:match("^([^?]*)%??(.*)$")
  local kept = {}
  for part in query:gmatch("[^&]+") do
    if not part:find("^" .. M.COOKIE .. "=") and part ~= M.COOKIE then
      kept[#kept + 1] = part
    end
  end
  return #kept > 0 and path .. "?" .. table.concat(kept, "&") or path
end

-- the gate: true when the request may pass; else it was answered (401,
-- or the 303 that turns a query token into a cookie)
local function admitted(req, sb, host)
  if not sb.preview_token then return true end
  local tokens, in_query = given_tokens(req)
  local token
  for _, t in pairs(tokens) do
    if http.same_secret(core.sha256(t), sb.preview_token) then token = t end
  end
  if token then
    if not in_query or (req.method ~= "GET" and req.method ~= "HEAD") then
      return true
    end
    req:respond(303, { Location = without_token(req.target),
      ["Set-Cookie"] = M.COOKIE .. "=" .. core.base64_encode(token)
        .. "; Path=/; HttpOnly; SameSite=Lax",
      ["Cache-Control"] = "no-store" }, "")
    return false
  end
  page(req, 401, "This preview needs its token", {
    (next(tokens) and "The token given is not this preview's. " or "")
      .. "Open <code>http://" .. escape(host) .. "/?" .. M.COOKIE
      .. "=TOKEN</code> once (a cookie keeps it for this host), or send "
      .. "<code>Authorization: Bearer TOKEN</code> or "
      .. "<code>X-OC-Preview-Token: TOKEN</code> with each request.",
    "The token is the <code>previewAuthToken</code> that creating the "
      .. "sandbox with <code>previewAuth</code>, or rotating it "
      .. "(<code>POST /sandboxes/" .. escape(sb.id)
      .. "/preview/rotate</code>), answered.",
  }, { ["WWW-Authenticate"] = 'Bearer realm="oclua preview"' })
  return false
end

--- Serve a request to the preview host of sandbox `id`, port `port`
-- (M.target) of registry `reg`: a 404, 401, 502, 503 or 504 page, the
-- 303 of a query token, or the request joined to the port in the
-- sandbox until either side closes (yields that long).
function M.serve(reg, req, id, port)
  local host = req.headers.host
  local sb = reg:get(id)
  local what = "port " .. port .. " of sandbox " .. id
  if not sb or not find(sb, port) then
    return page(req, 404, "No preview URL here", {
      "There is no preview URL for " .. escape(what) .. " on this server. "
        .. "Make one with <code>POST /api/sandboxes/" .. escape(id)
        .. "/preview</code> <code>{\"port\": " .. port .. "}</code> "
        .. "(<code>sb:create_preview_url(" .. port .. ")</code>).",
    })
  end
  if not admitted(req, sb, host) then return end
  local all = tunnels_of(reg)
  if all.count >= M.TUNNELS_MAX then
    return page(req, 503, "Too many open preview connections", {
      "This server has " .. all.count .. " preview connections open; "
        .. "try again in a moment.",
    }, { ["Retry-After"] = "1" })
  end
  local running, failed = sb:ensure_running()	-- wakes a hibernated one
  if failed or not running or not sb.box then
    return page(req, failed and 502 or 404, failed and "The sandbox did not "
      .. "wake" or "No preview URL here", { escape(failed or
      ("sandbox " .. id .. " is gone")) })
  end
  sb:touch()
  local fd, why, code = core.netns_connect(sb.box:netns(), port,
    M.CONNECT_TIMEOUT)
  if not fd then
    local timeout = code == "ETIMEDOUT"
    return page(req, timeout and 504 or 502, timeout
      and "The app did not answer" or "Nothing is listening on port " .. port,
      { escape(why) .. ".",
        "Start a server in the sandbox that listens on port " .. port
          .. " (on <code>0.0.0.0</code>, <code>127.0.0.1</code> or "
          .. "<code>::1</code>), e.g. <code>python3 -m http.server " .. port
          .. "</code>, then reload this page." })
  end
  local ok, tun = pcall(req.tunnel, req, fd)	-- closes fd if it fails
  if not ok then	-- the client left meanwhile, or no descriptors left
    if not req:closed() then
      page(req, 503, "Cannot open a preview connection now",
        { escape(http.message(tun)) }, { ["Retry-After"] = "1" })
    end
    return
  end
  local mine = all.by_sb[sb] or setmetatable({}, { __mode = "k" })
  all.by_sb[sb] = mine
  mine[tun] = port
  all.count = all.count + 1
  sb:busy(1)
  local ok2, err = pcall(tun.wait, tun)
  sb:busy(-1)
  mine[tun] = nil
  all.count = all.count - 1
  if not ok2 then tun:close(); error(err, 0) end
end

return M
