-- spec/bad_input_spec.lua - malformed requests against a separate
-- `oclua serve`: every case in spec/bad_input/*.lua is sent on a fresh
-- TCP connection, its answer checked, and then the server must still
-- answer /health and a sandbox made before the first case must still run
-- a command. The runner is here; the cases are tables, one file per part
-- of the server (the file says which).
--
-- A case file returns an array of cases:
--   name     what is wrong with the input
--   request  { method, path, headers = {name = value}, body = string,
--              key = false (no X-API-Key) }: composed into HTTP/1.1 with
--              Host, X-API-Key, Content-Type: application/json (unless
--              given), Content-Length (unless the headers give
--              Content-Length or Transfer-Encoding) and Connection: close
--   send     or: the raw bytes to write, with {KEY}, {SANDBOX} and {HOST}
--            replaced by the API key, the live sandbox's id, host:port;
--            or a function(ctx) returning them (e.g. after making an exec
--            session through ctx.client)
--   status   the HTTP status expected (nil: none must come, e.g. a request
--            the server must time out without answering)
--   body     a Lua pattern the response (after its head) must match
--   ws_close the close code the server's WebSocket close frame must carry
--            (the response then is a 101 and frames)
--   closed   true: the server must close the connection within `wait`
--   wait     seconds to read the answer (default 3)
--   check    function(ctx) run after the answer; ctx = {client, sandbox,
--            url, host, run = function(cmd) -> stdout}: raises if wrong

local oc = require("opencomputer")
local support = require("spec.support.server")

local cases = {}
for path in io.popen("ls spec/bad_input/*.lua 2>/dev/null"):lines() do
  local file = path:match("spec/bad_input/(.-)%.lua$")
  for _, case in ipairs(dofile(path)) do
    case.file = file
    cases[#cases + 1] = case
  end
end

local srv, host, sandbox, ctx

local function substitute(s)
  return (s:gsub("{(%u+)}", { KEY = support.KEY, SANDBOX = sandbox,
    HOST = host }))
end

local function compose(r)
  local lines = { (r.method or "GET") .. " " .. substitute(r.path) ..
    " HTTP/1.1", "Host: " .. host }
  local h = r.headers or {}
  if r.key ~= false then lines[#lines + 1] = "X-API-Key: " .. support.KEY end
  local framed, typed = false, false
  for k, v in pairs(h) do
    local lk = k:lower()
    framed = framed or lk == "content-length" or lk == "transfer-encoding"
    typed = typed or lk == "content-type"
    lines[#lines + 1] = k .. ": " .. substitute(v)
  end
  local body = r.body and substitute(r.body) or ""
  if not framed then lines[#lines + 1] = "Content-Length: " .. #body end
  if not typed and #body > 0 then
    lines[#lines + 1] = "Content-Type: application/json"
  end
  lines[#lines + 1] = "Connection: close"
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. body
end

-- write `bytes` on a new connection; everything read until the server
-- closes or `wait` s pass, and whether it closed
local function exchange(bytes, wait)
  local file = os.tmpname()
  local f = assert(io.open(file, "wb"))
  f:write(bytes)
  f:close()
  local port = host:match(":(%d+)$")
  local out = support.output({ "bash", "-c",
    "exec 3<>/dev/tcp/127.0.0.1/" .. port .. ' || exit 1; cat "$1" >&3; ' ..
    "timeout " .. wait .. ' cat <&3 | od -An -v -tx1; echo "rc=${PIPESTATUS[0]}"',
    "bash", file })
  os.remove(file)
  local rc = out:match("rc=(%d+)%s*$")
  local bytes_in = out:gsub("rc=%d+%s*$", ""):gsub("%s*(%x%x)%s*",
    function(h) return string.char(tonumber(h, 16)) end)
  return bytes_in, rc == "0"	-- timeout(1) says 124 when it waited out
end

-- the close code of the first close frame (opcode 8) after a 101 head
local function close_code(frames)
  local i = 1
  while i + 1 <= #frames do
    local b0, b1 = frames:byte(i, i + 1)
    local len, hdr = b1 & 0x7f, 2
    if len == 126 then len, hdr = string.unpack(">I2", frames, i + 2), 4
    elseif len == 127 then len, hdr = string.unpack(">I8", frames, i + 2), 10 end
    if b0 & 0x0f == 8 then
      if len < 2 then return 1005 end
      return (string.unpack(">I2", frames, i + hdr))
    end
    i = i + hdr + len
  end
end

describe("bad input", function()
  setup(function()
    srv = support.process()
    host = srv.url:match("^http://([^/]+)")
    sandbox = srv.client:create({ timeout = 0 })
    ctx = { client = srv.client, sandbox = sandbox, url = srv.url, host = host,
      run = function(cmd) return srv.client:run(sandbox, cmd).stdout end }
  end)
  teardown(function()
    if srv then srv.proc:kill(15); srv.proc:wait() end
  end)

  it("has at least 100 cases", function()
    assert.is_true(#cases >= 100, #cases .. " cases")
  end)

  for _, case in ipairs(cases) do
    it(case.file .. ": " .. case.name, function()
      local bytes
      if type(case.send) == "function" then bytes = case.send(ctx)
      elseif case.send then bytes = substitute(case.send)
      else bytes = compose(case.request) end
      local out, closed = exchange(bytes, case.wait or 3)
      local head, rest = out:match("^(.-\r\n)\r\n(.*)$")
      local status = tonumber(out:match("^HTTP/1%.1 (%d%d%d)"))
      assert.are.equal(case.status, status, "answer: " .. out:sub(1, 600))
      if case.body then
        assert.is_truthy((rest or ""):match(case.body),
          "body does not match " .. case.body .. ": " .. out:sub(1, 600))
      end
      if case.ws_close then
        assert.are.equal(case.ws_close, close_code(rest or ""),
          "close frame: " .. out:sub(1, 600))
      end
      if case.closed then
        assert.is_true(closed, "the connection stayed open: " .. (head or out))
      end
      if case.check then case.check(ctx) end
      -- and the server is whole
      local s = srv.client:api("GET", "/health", { prefix = "", key = false,
        timeout = 3 })
      assert.are.equal(200, s, "/health after the case")
      assert.are.equal("ok\n", ctx.run("echo ok"))
    end)
  end
end)
