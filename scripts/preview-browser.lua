-- scripts/preview-browser.lua - a preview URL opened in a real browser:
-- headless Chromium (Debian's `chromium`) loads a page served by a web
-- app inside a sandbox, through its preview URL, with the preview token
-- given once in the query (the cookie carries it to the page's own
-- WebSocket); the page's script opens a WebSocket back through the proxy
-- and writes the echo into the page. Not part of `make test`: Chromium
-- is 130 Debian packages (290 MB) for this one check.
--
--   apt-get install chromium        (once)
--   ./oclua scripts/preview-browser.lua [SCREENSHOT.png]
--
-- Runs against the embedded local server (or OPENCOMPUTER_API_URL /
-- _KEY: an `oclua serve`), as root. Exit status 0 when the browser's
-- DOM shows the WebSocket echo; the screenshot (default
-- preview-browser.png) is there for a person to look at.

local oc = require("opencomputer")
local core = require("opencomputer.core")

local shot = arg[1] or "preview-browser.png"
local here = arg[0]:match("^(.*)/scripts/[^/]+$") or "."
local app = assert(io.open(here .. "/spec/support/preview_app.py")):read("a")

local function chromium()
  for _, name in ipairs({ "chromium", "chromium-browser", "google-chrome" }) do
    for dir in (os.getenv("PATH") or "/usr/bin"):gmatch("[^:]+") do
      local f = io.open(dir .. "/" .. name)
      if f then f:close(); return dir .. "/" .. name end
    end
  end
  io.stderr:write("preview-browser: no chromium found (apt-get install chromium)\n")
  os.exit(1)
end

local log = os.tmpname()

-- run argv on the host, its stderr to `log`; its stdout and exit code
local function run(argv)
  local p = core.process_spawn({ "sh", "-c", 'exec "$@" 2>>"$0"', log,
    table.unpack(argv) })
  local lines = {}
  for line in p.read_line, p do lines[#lines + 1] = line end
  return table.concat(lines, "\n"), p:wait()
end

local browser = chromium()
local sb <close> = oc.Sandbox.create{ timeout = 0, preview_auth = true }
sb.files:write("/home/sandbox/app.py", app)
sb.exec:run("nohup python3 /home/sandbox/app.py 3000 >/dev/null 2>&1 &")
local p = sb:create_preview_url(3000)
local url = p.url .. "?oc_preview_token=" .. sb.preview_auth_token
print("sandbox " .. sb.sandbox_id .. ", preview " .. p.url)
-- the app is up once its port answers through the proxy
local http = require("opencomputer.client.http")
local t0 = oc.now()
while http.request("GET", p.url, { raise = false, headers = {
    Authorization = "Bearer " .. sb.preview_auth_token,
    Connection = "close" } }).status ~= 200 do
  assert(oc.now() - t0 < 10, "the app did not start")
  oc.sleep(0.1)
end
local profile = os.tmpname()	-- a fresh browser profile: no cookie yet
os.remove(profile)
local common = { browser, "--headless=new", "--no-sandbox", "--disable-gpu",
  "--no-first-run", "--user-data-dir=" .. profile,
  "--window-size=900,500", "--virtual-time-budget=5000" }
-- the DOM once the page's script ran (a browser's first start, which
-- builds its caches, may use up the time budget before the echo: try
-- again, at most 3 times)
local argv = { table.unpack(common) }
argv[#argv + 1] = "--dump-dom"
argv[#argv + 1] = url
local dom, code, took, tries
for i = 1, 3 do
  t0 = oc.now()
  dom, code = run(argv)
  took, tries = oc.now() - t0, i
  if dom:find("echoed ping", 1, true) then break end
end
argv = { table.unpack(common) }
argv[#argv + 1] = "--screenshot=" .. shot
argv[#argv + 1] = url
run(argv)
os.execute("rm -rf '" .. profile .. "'")
local echoed = dom:match('<span id="ws">([^<]*)</span>')
print(string.format("chromium exit %d in %.1f s (try %d); the page's "
  .. "WebSocket: %s", code, took, tries, tostring(echoed)))
print("screenshot: " .. shot)
if echoed ~= "echoed ping" or not dom:find("Hello from the sandbox", 1, true) then
  error("the page did not show the echo (the browser's messages are in "
    .. log .. "); its DOM:\n" .. dom, 0)
end
os.remove(log)
print("ok: the browser loaded the page and its WebSocket through the preview URL")
