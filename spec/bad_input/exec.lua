-- spec/bad_input/exec.lua - bad input to the exec routes (protocol.md
-- section 3): lua/opencomputer/server/exec.lua and request.lua, and the
-- argv/env wire to the sandbox's init (src/sandbox/box.c, init.c). Every
-- refused start is checked to leave no session behind.
local support = require("spec.support.server")

-- the session ids of the live sandbox
local function sessions(ctx)
  return ctx.client:session_ids(ctx.sandbox)
end

local function post(ctx, path, body)
  return support.raw_request(ctx.host, "POST", path, body)
end

-- POST /api/sandboxes/{SANDBOX}/exec`route` with `body`: refused with
-- `status` (default 400) and a message matching `pattern`; no new session
local function start(name, route, body, pattern, status)
  local before
  return { name = (route == "" and "start" or route:sub(2)) .. ": " .. name, status = status or 400, body = pattern,
    send = function(ctx)
      before = sessions(ctx)
      return post(ctx, "/api/sandboxes/" .. ctx.sandbox .. "/exec" .. route, body)
    end,
    check = function(ctx)
      for id in pairs(sessions(ctx)) do
        assert(before[id], "a refused start left session " .. id)
      end
    end }
end

local function exec(name, body, pattern, status)
  return start(name, "", body, pattern, status)
end
local function run(name, body, pattern, status)
  return start(name, "/run", body, pattern, status)
end
local function async(name, body, pattern, status)
  return start(name, "/run-async", body, pattern, status)
end

-- POST .../exec/{sid}/kill of a running session with `body`: refused,
-- and the session still running
local function kill(name, body, pattern)
  local sid
  return { name = "kill: " .. name, status = 400, body = pattern,
    send = function(ctx)
      local status, info = ctx.client:api("POST", "/sandboxes/" .. ctx.sandbox
        .. "/exec", { body = { cmd = "sleep", args = { "600" } } })
      assert(status == 201, "could not start a session")
      sid = info.sessionID
      return post(ctx, "/api/sandboxes/" .. ctx.sandbox .. "/exec/" .. sid
        .. "/kill", body)
    end,
    check = function(ctx)
      local _, list = ctx.client:api("GET", "/sandboxes/" .. ctx.sandbox .. "/exec")
      for _, s in ipairs(list) do
        if s.sessionID == sid then
          assert(s.running, "the session was killed")
          ctx.client:api("POST", "/sandboxes/" .. ctx.sandbox .. "/exec/" .. sid
            .. "/kill", { body = {} })
          return
        end
      end
      error("the session is gone")
    end }
end

local many = {}
for i = 1, 1100 do many[i] = '"a"' end
many = "[" .. table.concat(many, ",") .. "]"

return {
  exec("no cmd", "{}", '"cmd is required"'),
  exec("an empty cmd", '{"cmd":""}', '"cmd is required"'),
  exec("cmd as a number", '{"cmd":7}', "cmd must be a string, not 7"),
  exec("cmd as a list", '{"cmd":["ls"]}', "cmd must be a string, not a list"),
  exec("a NUL in cmd", '{"cmd":"ls\\u0000-l"}', "cmd must not contain a NUL byte"),
  exec("a NUL in an arg", '{"cmd":"echo","args":["a","b\\u0000c"]}',
    "args%[1%] must not contain a NUL byte"),
  exec("args as a string", '{"cmd":"ls","args":"-l"}', "args must be a list of strings"),
  exec("args as an object", '{"cmd":"ls","args":{"a":"b"}}', "args must be a list of strings"),
  exec("an arg that is a number", '{"cmd":"echo","args":["a",1]}',
    "args%[1%] must be a string, not 1"),
  exec("an arg that is null", '{"cmd":"echo","args":["a",null]}', "args"),
  exec("1100 args", '{"cmd":"true","args":' .. many .. "}",
    "args must have at most 1022 entries"),
  exec("invalid UTF-8 in an arg", '{"cmd":"echo","args":["a","\xff"]}',
    "args%[1%] must be valid UTF%-8"),
  exec("invalid UTF-8 in cmd", '{"cmd":"\xff"}', "cmd must be valid UTF%-8"),
  exec("a NUL in cmd", '{"cmd":"ec\\u0000ho","args":["x"]}', "cmd must not contain a NUL"),
  exec("a NUL in cmd without args", '{"cmd":"ec\\u0000ho"}', "cmd must not contain a NUL"),
  exec("a command that is not executable", '{"cmd":"/etc/hostname","args":[]}',
    "cannot start .*hostname: exec: Permission denied"),
  exec("a NUL in an env value", '{"cmd":"env","envs":{"A":"1\\u00002"}}',
    'envs%[\\"A\\"%] must not contain a NUL byte'),
  exec("an env name with '='", '{"cmd":"env","envs":{"A=1":"2"}}', "must not contain '='"),
  exec("an empty env name", '{"cmd":"env","envs":{"":"2"}}', "envs key must not be empty"),
  exec("an env value that is a boolean", '{"cmd":"env","envs":{"A":true}}',
    'envs%[\\"A\\"%] must be a string, not true'),
  exec("an empty cwd", '{"cmd":"pwd","cwd":""}', "cwd must not be empty"),
  exec("a NUL in cwd", '{"cmd":"pwd","cwd":"/tmp\\u0000/x"}', "cwd must not contain a NUL byte"),
  exec("a cwd of 5000 bytes", '{"cmd":"pwd","cwd":"/' .. ("a"):rep(5000) .. '"}',
    "cwd must be at most 4095 bytes long"),
  exec("a cwd that does not exist", '{"cmd":"pwd","cwd":"/no/such/dir"}',
    "cannot start pwd: .*No such file or directory"),
  exec("a program that does not exist", '{"cmd":"no-such-program"}',
    "No such file or directory"),
  run("run: a program that does not exist", '{"cmd":"no-such-program"}',
    "No such file or directory"),
  exec("timeout 1e308", '{"cmd":"true","timeout":1e308}',
    "timeout must be an integer from 0 to 2147483647, not 1e%+308"),
  exec("timeout -1", '{"cmd":"true","timeout":-1}', "timeout must be an integer from 0"),
  exec("timeout 0.5", '{"cmd":"true","timeout":0.5}', "timeout must be an integer"),
  exec("timeout NaN", '{"cmd":"true","timeout":NaN}', "invalid request body"),
  exec("maxRunAfterDisconnect 1e308", '{"cmd":"true","maxRunAfterDisconnect":1e308}',
    "maxRunAfterDisconnect must be an integer"),
  exec("maxRunAfterDisconnect as a string", '{"cmd":"true","maxRunAfterDisconnect":"10"}',
    "maxRunAfterDisconnect must be an integer .*not a string"),
  exec("a list body", '["true"]', "expected a JSON object"),
  exec("the same key twice", '{"cmd":"true","cmd":"reboot"}', 'key \\"cmd\\" appears twice'),
  run("no cmd", '{"args":["x"]}', '"cmd is required"'),
  run("a NUL in an arg", '{"cmd":"echo","args":["\\u0000"]}', "args%[0%] must not contain a NUL"),
  run("a NUL in cmd, no args", '{"cmd":"echo a\\u0000b"}', "cmd must not contain a NUL"),
  run("timeout 1e308", '{"cmd":"true","timeout":1e308}', "timeout must be an integer"),
  run("an env value that is an object", '{"cmd":"env","envs":{"A":{}}}',
    'envs%[\\"A\\"%] must be a string'),
  async("timeout Infinity", '{"cmd":"true","timeout":Infinity}', "invalid request body"),
  async("a NUL in cwd", '{"cmd":"true","cwd":"\\u0000"}', "cwd must not contain a NUL"),
  async("args of numbers", '{"cmd":"echo","args":[1,2]}', "args%[0%] must be a string"),
  -- ids in the path are echoed in answers: they must be UTF-8 too
  { name = "result: an exec id that is not UTF-8", status = 400,
    body = "invalid path: exec id must be valid UTF%-8",
    request = { method = "GET", path = "/api/sandboxes/{SANDBOX}/exec/%FF%FE/result" } },
  { name = "kill: a session id that is not UTF-8", status = 400,
    body = "invalid path: session id must be valid UTF%-8",
    request = { method = "POST", path = "/api/sandboxes/{SANDBOX}/exec/a%FFb/kill",
      body = "{}" } },
  { name = "attach: a session id that is not UTF-8", status = 400,
    body = "invalid path: session id must be valid UTF%-8",
    send = "GET /api/sandboxes/{SANDBOX}/exec/%C0%AF HTTP/1.1\r\nHost: {HOST}\r\n"
      .. "X-API-Key: {KEY}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      .. "Sec-WebSocket-Version: 13\r\n\r\n" },
  kill("signal 1e308", '{"signal":1e308}', "signal must be an integer from 0 to 64"),
  kill("signal 65", '{"signal":65}', "signal must be an integer from 0 to 64, not 65"),
  kill("signal -9", '{"signal":-9}', "signal must be an integer from 0 to 64"),
  kill("signal as a string", '{"signal":"KILL"}', "signal must be an integer .*not a string"),
}
