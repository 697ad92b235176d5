-- spec/bad_input/api.lua - bad input to the API routes (JSON bodies,
-- fields, ids): lua/opencomputer/server/api.lua and request.lua. Every
-- refused create is checked to leave no sandbox behind, every refused
-- call on the live sandbox to leave it running as it was.
local support = require("spec.support.server")

-- the ids in GET /sandboxes
local function listed(ctx)
  local status, list = ctx.client:api("GET", "/sandboxes")
  assert(status == 200, "GET /sandboxes answered " .. tostring(status))
  local ids = {}
  for _, sb in ipairs(list) do ids[sb.sandboxID] = true end
  return ids
end

-- POST /api/sandboxes with `body`: refused with `status` (default 400) and
-- a message matching `pattern`, and no sandbox more in the listing
local function create(name, body, pattern, status, ctype)
  local before
  return { name = "create: " .. name, status = status or 400, body = pattern,
    send = function(ctx)
      before = listed(ctx)
      return support.raw_request(ctx.host, "POST", "/api/sandboxes", body, ctype)
    end,
    check = function(ctx)
      for id in pairs(listed(ctx)) do
        assert(before[id], "a refused create left sandbox " .. id)
      end
    end }
end

-- `method` `route` of the live sandbox with `body`: refused, and the
-- sandbox still running with no idle timeout
local function live(name, method, route, body, pattern, status)
  return { name = name, status = status or 400, body = pattern,
    request = { method = method, path = "/api/sandboxes/{SANDBOX}" .. route,
      body = body },
    check = function(ctx)
      local s, doc = ctx.client:api("GET", "/sandboxes/" .. ctx.sandbox)
      assert(s == 200 and doc.status == "running",
        "the sandbox is " .. tostring(doc and doc.status))
      assert(doc.endAt == nil, "the refused call set an idle timeout")
    end }
end

-- `route` (POST, /snapshots or /templates) with `body`: refused with
-- `status` (default 400) and a message matching `pattern`, and nothing
-- more in the route's listing
local function refused_post(route, name, body, pattern, status)
  local before
  local function names(ctx)
    local s, list = ctx.client:api("GET", route)
    assert(s == 200, "GET " .. route .. " answered " .. tostring(s))
    local out = {}
    for _, x in ipairs(list) do out[x.name] = true end
    return out
  end
  return { name = route:sub(2) .. ": " .. name, status = status or 400,
    body = pattern,
    send = function(ctx)
      before = names(ctx)
      return support.raw_request(ctx.host, "POST", "/api" .. route, body)
    end,
    check = function(ctx)
      for x in pairs(names(ctx)) do
        assert(before[x], "a refused POST " .. route .. " left " .. x)
      end
    end }
end
local function snapshot(...) return refused_post("/snapshots", ...) end
local function template(...) return refused_post("/templates", ...) end
-- `method` `route` (a checkpoint route, from /api) with `body`:
-- refused, the live sandbox still running, and no checkpoint made
local function checkpoint(name, method, route, body, pattern, status)
  return { name = "checkpoints: " .. name, status = status or 400, body = pattern,
    request = { method = method, path = "/api" .. route, body = body },
    check = function(ctx)
      local s, doc = ctx.client:api("GET", "/sandboxes/" .. ctx.sandbox)
      assert(s == 200 and doc.status == "running",
        "the sandbox is " .. tostring(doc and doc.status))
      s, doc = ctx.client:api("GET", "/sandboxes/" .. ctx.sandbox .. "/checkpoints")
      assert(s == 200 and #doc == 0, "a refused call left a checkpoint")
    end }
end
local CK = "/sandboxes/{SANDBOX}/checkpoints"

-- terminals (protocol.md 6): `method` /pty`route` of the live sandbox
local function pty(name, method, route, body, pattern, status)
  return live("pty: " .. name, method, "/pty" .. route, body, pattern, status)
end
-- POST .../pty/{sid}/resize with `body` on a terminal made for the case:
-- refused with 400, and the terminal still there (it resizes), then
-- killed
local function resize(name, body, pattern)
  local sid
  local function path(ctx)
    return "/sandboxes/" .. ctx.sandbox .. "/pty/" .. sid
  end
  return { name = "pty: resize: " .. name, status = 400, body = pattern,
    send = function(ctx)
      local s, doc = ctx.client:api("POST", "/sandboxes/" .. ctx.sandbox
        .. "/pty", { body = {} })
      assert(s == 201, "POST /pty answered " .. tostring(s))
      sid = doc.sessionID
      return support.raw_request(ctx.host, "POST", "/api" .. path(ctx)
        .. "/resize", body)
    end,
    check = function(ctx)
      local s = ctx.client:api("POST", path(ctx) .. "/resize",
        { body = { cols = 80, rows = 24 } })
      assert(s == 200, "the terminal does not resize after: " .. tostring(s))
      s = ctx.client:api("DELETE", path(ctx))
      assert(s == 204, "DELETE answered " .. tostring(s))
    end }
end
local WS_HEADERS = { Upgrade = "websocket", Connection = "Upgrade",
  ["Sec-WebSocket-Version"] = "13",
  ["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ==" }
local NO_CK = "00000000-0000-4000-8000-000000000000"

local deep = ("["):rep(40) .. ("]"):rep(40)

return {
  -- JSON that RFC 8259 does not allow
  create("a body that is not JSON", "{", "invalid request body"),
  create("NaN", '{"timeout":NaN}',
    "invalid request body: expected a value but found an invalid token %(at byte offset 11%)"),
  create("Infinity", '{"timeout":Infinity}', "invalid request body"),
  create("-Infinity", '{"timeout":-Infinity}', "RFC 8259"),
  create("a hex number", '{"timeout":0x10}', "RFC 8259 allows: 0x10"),
  create("a leading zero", '{"timeout":010}', "RFC 8259 allows: 010"),
  create("a number ending in a point", '{"timeout":1.}', "RFC 8259 allows: 1%."),
  create("a number starting with a point", '{"timeout":.5}', "invalid request body"),
  create("a plus sign", '{"timeout":+1}', "invalid request body"),
  create("an exponent with no digits", '{"timeout":1e}', "RFC 8259 allows: 1e"),
  create("a number beyond a double", '{"diskMB":1e400}', "number is out of range"),
  create("the same key twice", '{"timeout":0,"timeout":1e308}',
    'key \\"timeout\\" appears twice'),
  create("the same key twice, once escaped", '{"t":1,"\\u0074":2}',
    'key \\"t\\" appears twice'),
  create("garbage after the object", '{"timeout":0} x',
    "expected nothing more but found an invalid token %(at byte offset 14%)"),
  create("two objects", "{}{}",
    "expected nothing more but found '{' %(at byte offset 2%)"),
  create("a body cut short", '{"timeout":',
    "expected a value but found the end of the body %(at byte offset 11%)"),
  create("an integer beyond a double's exact ones", '{"timeout":9007199254740993}',
    "timeout must be an integer from %-2147483647 to 2147483647, not 9007199254740993"),
  -- cjson stops at a NUL: what follows it must still be refused
  create("a NUL and garbage after the object", '{"metadata":{"k":"v"}}\0garbage',
    "NUL byte %(at byte offset 22%) is not allowed"),
  create("a NUL between two objects", '{}\0{"timeout":7}', "NUL byte"),
  create("a list", "[]", "expected a JSON object"),
  create("a string", '"x"', "expected a JSON object"),
  create("null", "null", "expected a JSON object"),
  create("nested 40 deep", '{"image":' .. deep .. "}", "nested deeper than 32"),
  create("a raw tab in a string", '{"alias":"a\tb"}', "control character %(0x09%)"),
  create("a raw newline in a string", '{"alias":"a\nb"}', "control character %(0x0a%)"),
  create("an unknown escape", '{"alias":"\\x41"}', "unknown escape"),
  create("a short \\u escape", '{"alias":"\\u12"}', "4 hex digits"),
  create("a lone surrogate", '{"metadata":{"k":"\\ud800"}}', "invalid unicode escape"),
  create("invalid UTF-8", '{"metadata":{"k":"\xff\xfe"}}',
    'metadata%[\\"k\\"%] must be valid UTF%-8'),
  create("invalid UTF-8 in a key", '{"metadata":{"\xff":"v"}}',
    'a key of metadata must be valid UTF%-8'),
  create("invalid UTF-8 in a list", '{"egressAllowlist":["a","\xff"]}',
    'egressAllowlist%[1%] must be valid UTF%-8'),
  create("an overlong UTF-8 encoding", '{"metadata":{"k":"\xc0\xaf"}}',
    'metadata%[\\"k\\"%] must be valid UTF%-8'),
  create("a body that is not JSON, as text/plain", "a=b",
    "Content%-Type must be application.*json", 400, "text/plain"),
  -- a body announced larger than 1 MiB: 413 at once from Content-Length,
  -- without a 100 Continue and without waiting for the body
  { name = "create: Content-Length 2000000 with Expect: 100-continue",
    status = 413, body = "at most 1 MiB", wait = 1,
    request = { method = "POST", path = "/api/sandboxes", headers = {
      ["Content-Length"] = "2000000", Expect = "100-continue" } } },
  { name = "create: Content-Length 2000000 and no body sent", status = 413,
    body = "at most 1 MiB", wait = 1,
    request = { method = "POST", path = "/api/sandboxes",
      headers = { ["Content-Length"] = "2000000" } } },
  { name = "timeout: Content-Length 2000000 and no body sent", status = 413,
    body = "at most 1 MiB", wait = 1,
    request = { method = "POST", path = "/api/sandboxes/{SANDBOX}/timeout",
      headers = { ["Content-Length"] = "2000000" } } },
  -- numbers out of range, or not whole
  create("timeout 1e308", '{"timeout":1e308}',
    "timeout must be an integer from %-2147483647 to 2147483647, not 1e%+308"),
  create("timeout 2^31", '{"timeout":2147483648}', "timeout must be an integer"),
  create("timeout 1.5", '{"timeout":1.5}', "timeout must be an integer .*not 1%.5"),
  create("timeout as a string", '{"timeout":"60"}', "timeout must be an integer .*not a string"),
  create("timeout true", '{"timeout":true}', "timeout must be an integer .*not true"),
  create("memoryMB 1e308", '{"memoryMB":1e308}', "memoryMB must be an integer"),
  create("memoryMB -4096", '{"memoryMB":-4096}', "memoryMB must be an integer from 1"),
  create("memoryMB off the tiers", '{"memoryMB":3000}', "memoryMB must be one of"),
  create("cpuCount 0.5", '{"cpuCount":0.5}', "cpuCount must be an integer"),
  create("cpuCount 3", '{"cpuCount":3}', "cpuCount must be 1, 2 or 4"),
  create("diskMB 1e20", '{"diskMB":1e20}', "diskMB must be an integer"),
  create("diskMB a list", '{"diskMB":[1]}', "diskMB must be an integer .*not a list"),
  create("diskMB below the least", '{"diskMB":100}', "diskMB must be at least 20480"),
  create("port 70000", '{"port":70000}', "port must be an integer from 1 to 65535"),
  -- strings and maps
  create("envs as a string", '{"envs":"A=1"}', "envs must be an object of strings"),
  create("envs as a list", '{"envs":["A=1"]}', "envs must be an object of strings"),
  create("an env value that is a number", '{"envs":{"A":1}}', 'envs%[\\"A\\"%] must be a string'),
  create("an empty env name", '{"envs":{"":"x"}}', "envs key must not be empty"),
  create("an env name with '='", '{"envs":{"A=B":"x"}}', "must not contain '='"),
  create("a NUL in an env value", '{"envs":{"A":"x\\u0000y"}}',
    'envs%[\\"A\\"%] must not contain a NUL byte'),
  create("a NUL in an env name", '{"envs":{"A\\u0000B":"x"}}', "envs key must not contain a NUL"),
  create("a NUL in a metadata value", '{"metadata":{"k":"\\u0000"}}',
    'metadata%[\\"k\\"%] must not contain a NUL byte'),
  create("a metadata value that is an object", '{"metadata":{"k":{}}}',
    'metadata%[\\"k\\"%] must be a string'),
  create("metadata of 300 entries", (function()
    local kv = {}
    for i = 1, 300 do kv[i] = '"k' .. i .. '":"v"' end
    return '{"metadata":{' .. table.concat(kv, ",") .. "}}"
  end)(), "metadata must have at most 256 entries"),
  create("a templateID that is a number", '{"templateID":7}', "templateID must be a string"),
  create("an unknown template", '{"templateID":"nope"}', "template not found: nope", 404),
  create("networkEnabled as a string", '{"networkEnabled":"yes"}', "networkEnabled must be true or false"),
  create("egressAllowlist with a number", '{"egressAllowlist":["a",1]}',
    "egressAllowlist%[1%] must be a string"),
  -- image manifests (protocol.md 8.6): refused before anything is built
  create("an image that is a list", '{"image":[1]}', "image must be an object"),
  create("an image with an unknown base", '{"image":{"base":"alpine"}}',
    'image.base must be one of'),
  create("an image step of an unknown type",
    '{"image":{"steps":[{"type":"copy","args":{}}]}}', "image.steps%[0%]%.type must be one of"),
  create("an image step without args", '{"image":{"steps":[{"type":"run"}]}}',
    "image.steps%[0%]%.args is required"),
  create("an image file that is not base64",
    '{"image":{"steps":[{"type":"add_file","args":{"path":"/x","content":"%%%%"}}]}}',
    "content must be base64: not a base64 character %(at character 0%)"),
  create("an image file at a relative path",
    '{"image":{"steps":[{"type":"add_file","args":{"path":"x","content":""}}]}}',
    "args%.path must be an absolute path"),
  create("an image dir entry escaping with ..",
    '{"image":{"steps":[{"type":"add_dir","args":{"path":"/o","files":[{"relativePath":"a/../../b","content":""}]}}]}}',
    "relativePath must not contain %.%."),
  create("an image env name that is not a shell name",
    '{"image":{"steps":[{"type":"env","args":{"vars":{"A-B":"x"}}}]}}',
    "must be a shell variable name"),
  create("an apt package that is an option",
    '{"image":{"steps":[{"type":"apt_install","args":{"packages":["-y"]}}]}}',
    "must be a Debian package name"),
  create("a snapshot name that is a number", '{"snapshot":7}', "snapshot must be a string"),
  snapshot("no name", '{"image":{}}', '"name is required"'),
  snapshot("no image", '{"name":"x"}', '"image is required"'),
  snapshot("a name with a slash", '{"name":"a/b","image":{}}', "name must be 1 to 128 letters"),
  snapshot("a name of 129 bytes", '{"name":"' .. ("a"):rep(129) .. '","image":{}}',
    "name must be 1 to 128 letters"),
  snapshot("a step that is a string", '{"name":"x","image":{"steps":["run"]}}',
    "image.steps%[0%] must be an object"),
  snapshot("builderMemoryMB off the tiers", '{"name":"x","image":{"builderMemoryMB":100}}',
    "builderMemoryMB must be one of 1024, 4096, 8192, 16384"),
  template("no dockerfile", '{"name":"t"}', '"dockerfile is required"'),
  template("a dockerfile that is a list", '{"name":"t","dockerfile":["FROM base"]}',
    "dockerfile must be a string"),
  template("an instruction outside the subset", '{"name":"t","dockerfile":"FROM base\\nVOLUME /x"}',
    "dockerfile line 2: VOLUME is not supported"),
  template("a FROM of another image", '{"name":"t","dockerfile":"FROM debian"}',
    "dockerfile line 1: FROM debian: only FROM base"),
  template("a tag with a space", '{"name":"t","dockerfile":"FROM base","tag":"a b"}',
    "tag must be 1 to 128 letters"),
  -- the live sandbox's own routes
  live("timeout: 1e308", "POST", "/timeout", '{"timeout":1e308}',
    "timeout must be an integer from 0 to 2147483647"),
  live("timeout: negative", "POST", "/timeout", '{"timeout":-1}',
    "timeout must be an integer from 0"),
  live("timeout: missing", "POST", "/timeout", "{}", '"timeout is required"'),
  live("timeout: NaN", "POST", "/timeout", '{"timeout":NaN}', "invalid request body"),
  live("timeout: a string", "POST", "/timeout", '{"timeout":"5"}', "not a string"),
  live("timeout: a NUL and a second object after the body", "POST", "/timeout",
    '{"timeout":5}\0{"timeout":7}', "NUL byte %(at byte offset 13%)"),
  live("wake: timeout 1e308", "POST", "/wake", '{"timeout":1e308}', "timeout must be an integer"),
  live("hibernate: a body that is not JSON", "POST", "/hibernate", "nope",
    "invalid request body"),
  live("hibernate: a list", "POST", "/hibernate", "[1]", "expected a JSON object"),
  -- checkpoints and patches (protocol.md 8.2, 8.4)
  checkpoint("no name", "POST", CK, "{}", '"name is required"'),
  checkpoint("an empty name", "POST", CK, '{"name":""}', '"name is required"'),
  checkpoint("a name that is a list", "POST", CK, '{"name":["a"]}', "name must be a string"),
  checkpoint("a NUL in the name", "POST", CK, '{"name":"a\\u0000b"}',
    "name must not contain a NUL byte"),
  checkpoint("a name that is not UTF-8", "POST", CK, '{"name":"\xff"}',
    "name must be valid UTF%-8"),
  checkpoint("the name twice", "POST", CK, '{"name":"a","name":"b"}',
    'key \\"name\\" appears twice'),
  checkpoint("a kind that is a number", "POST", CK, '{"name":"a","kind":1}',
    'kind must be one of \\"full\\", \\"disk_only\\", not 1'),
  checkpoint("promoteToFull with kind full", "POST", CK,
    '{"name":"a","promoteToFull":false}', "promoteToFull is only valid with kind"),
  checkpoint("a retentionPolicy that is a list", "POST", CK,
    '{"name":"a","retentionPolicy":[1]}', "retentionPolicy must be an object, not a list"),
  checkpoint("a maxCount of 1e308", "POST", CK,
    '{"name":"a","retentionPolicy":{"mode":"delete_oldest","maxCount":1e308}}',
    "retentionPolicy.maxCount must be an integer from 1 to 100, not 1e%+308"),
  checkpoint("a maxCount over the disk_only limit", "POST", CK,
    '{"name":"a","kind":"disk_only","retentionPolicy":{"maxCount":101}}',
    "retentionPolicy.maxCount must be an integer from 1 to 100"),
  checkpoint("a retention mode that is unknown", "POST", CK,
    '{"name":"a","retentionPolicy":{"mode":"all"}}', "retentionPolicy.mode must be one of"),
  checkpoint("a body that is not JSON", "POST", CK, "{name}", "invalid request body"),
  checkpoint("restore: an id that is not a UUID", "POST", CK .. "/x/restore", "",
    '"invalid checkpoint ID"'),
  checkpoint("restore: an id that is not UTF-8", "POST", CK .. "/%FF/restore", "",
    '"invalid checkpoint ID"'),
  checkpoint("restore: an unknown checkpoint", "POST", CK .. "/" .. NO_CK .. "/restore",
    "", '"checkpoint not found"', 404),
  checkpoint("restore: a body", "POST", CK .. "/" .. NO_CK .. "/restore",
    '{"x":', "invalid request body", 400),
  checkpoint("delete: a UUID one digit short", "DELETE", CK .. "/" .. NO_CK:sub(2), nil,
    '"invalid checkpoint ID"'),
  checkpoint("delete: a UUID with an encoded slash", "DELETE",
    CK .. "/00000000-0000-4000-8000-00000000%2F00", nil, '"invalid checkpoint ID"'),
  checkpoint("fork: an id that is not a UUID", "POST", "/sandboxes/from-checkpoint/x", "{}",
    '"invalid checkpoint ID"'),
  checkpoint("fork: a body that is not JSON", "POST", "/sandboxes/from-checkpoint/" .. NO_CK,
    "{", "invalid request body"),
  checkpoint("fork: memoryMB 1e308", "POST", "/sandboxes/from-checkpoint/" .. NO_CK,
    '{"memoryMB":1e308}', "memoryMB must be an integer"),
  checkpoint("fork: envs as a list", "POST", "/sandboxes/from-checkpoint/" .. NO_CK,
    '{"envs":["A=1"]}', "envs must be an object of strings"),
  checkpoint("fork: timeout as a string", "POST", "/sandboxes/from-checkpoint/" .. NO_CK,
    '{"timeout":"5"}', "timeout must be an integer"),
  checkpoint("fork: an unknown checkpoint", "POST", "/sandboxes/from-checkpoint/" .. NO_CK,
    "{}", '"checkpoint not found"', 404),
  checkpoint("patches: an id that is not a UUID", "GET", "/sandboxes/checkpoints/x/patches",
    nil, '"invalid checkpoint ID"'),
  checkpoint("patches: an unknown checkpoint", "POST",
    "/sandboxes/checkpoints/" .. NO_CK .. "/patches", '{"script":"true"}',
    '"checkpoint not found"', 404),
  -- terminals (protocol.md 6.1, 6.3, 6.4)
  pty("cols 0", "POST", "", '{"cols":0}',
    "invalid request body: cols must be an integer from 1 to 4096, not 0"),
  pty("cols 1e308", "POST", "", '{"cols":1e308}', "cols must be an integer"),
  pty("rows 4097", "POST", "", '{"rows":4097}', "rows must be an integer from 1 to 4096"),
  pty("rows as a string", "POST", "", '{"rows":"24"}', "rows must be an integer .*not a string"),
  pty("a shell that is a number", "POST", "", '{"shell":7}', "shell must be a string"),
  pty("an empty shell", "POST", "", '{"shell":""}', "shell must not be empty"),
  pty("a NUL in the shell", "POST", "", '{"shell":"/bin/\\u0000sh"}',
    "shell must not contain a NUL byte"),
  pty("a shell that does not exist", "POST", "", '{"shell":"/no/shell"}',
    "cannot start .-no.-shell: exec: No such file or directory"),
  pty("a body that is not JSON", "POST", "", "{", "invalid request body"),
  pty("a list", "POST", "", "[80,24]", "expected a JSON object"),
  pty("resize: an unknown terminal", "POST", "/00000000/resize", '{"cols":1,"rows":1}',
    '"pty session 00000000 not found"', 404),
  pty("resize: a session id that is not UTF-8", "POST", "/%FF/resize",
    '{"cols":1,"rows":1}', "invalid path: session id must be valid UTF%-8"),
  pty("kill: an unknown terminal", "DELETE", "/00000000", nil,
    '"pty session 00000000 not found"', 404),
  pty("a GET without an upgrade of an unknown terminal", "GET", "/00000000", nil,
    '"pty session 00000000 not found"', 404),
  resize("a body that is not JSON", "{", "invalid request body"),
  resize("no fields", "{}", '"%a+ is required"'),
  resize("no rows", '{"cols":80}', '"rows is required"'),
  resize("cols 0", '{"cols":0,"rows":24}', "cols must be an integer from 1 to 4096, not 0"),
  resize("rows 1.5", '{"cols":80,"rows":1.5}', "rows must be an integer .*not 1%.5"),
  resize("cols as a list", '{"cols":[80],"rows":24}', "cols must be an integer .*not a list"),
  { name = "pty: the WebSocket of an unknown terminal", status = 404,
    body = '"pty session 00000000 not found"',
    request = { path = "/api/sandboxes/{SANDBOX}/pty/00000000", headers = WS_HEADERS } },
  { name = "pty: the WebSocket of an unknown terminal, without /api", status = 404,
    body = '"pty session 00000000 not found"',
    request = { path = "/sandboxes/{SANDBOX}/pty/00000000", headers = WS_HEADERS } },
  { name = "pty: the WebSocket of a terminal of an unknown sandbox", status = 404,
    body = '"sandbox not found"',
    request = { path = "/api/sandboxes/sb-nope/pty/00000000", headers = WS_HEADERS } },
  { name = "a sandbox id that is not UTF-8", status = 400,
    body = "invalid path: sandbox id must be valid UTF%-8",
    request = { method = "DELETE", path = "/api/sandboxes/%FF" } },
  { name = "a sandbox id that does not exist", status = 404, body = "sandbox not found",
    request = { method = "GET", path = "/api/sandboxes/nope" } },
  -- the path is split at "/" before it is decoded: "%2F" is a character
  -- of a segment, never a separator
  { name = "an encoded slash in the sandbox id (an unknown id)", status = 404,
    body = "sandbox not found",
    request = { path = "/api/sandboxes/{SANDBOX}%2Ffiles?path=/etc/hostname" } },
  { name = "an encoded slash after the sandbox id", status = 404, body = "not found",
    request = { path = "/api/sandboxes/{SANDBOX}%2F" } },
  { name = "an encoded slash between api and sandboxes", status = 404,
    body = '"not found"', request = { path = "/api%2Fsandboxes" } },
  { name = "an encoded slash before the sandbox id", status = 404,
    body = '"not found"', request = { path = "/api/sandboxes%2F{SANDBOX}" } },
  { name = "an encoded slash in a session id", status = 404,
    body = "not found", request = { path = "/api/sandboxes/{SANDBOX}/exec/a%2Fresult" } },
  { name = "an encoded slash in the WebSocket route", status = 404,
    body = '"not found"',
    request = { path = "/api/sandboxes/{SANDBOX}/exec%2Fx", headers = {
      Upgrade = "websocket", Connection = "Upgrade", ["Sec-WebSocket-Version"] = "13",
      ["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ==" } } },
  { name = "/health with an encoded slash", status = 404,
    request = { path = "/health%2F" } },
}
