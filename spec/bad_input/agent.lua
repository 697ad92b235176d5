-- spec/bad_input/agent.lua - bad input to the agent routes (protocol.md
-- section 7): lua/opencomputer/server/agent.lua and request.lua's agent
-- schemas. Every refused start is checked to leave no session behind; a
-- refused kill leaves the agent running.
local support = require("spec.support.server")

local AGENT = "/api/sandboxes/{SANDBOX}/agent"

-- the ids of the live sandbox's exec sessions (agent sessions are some)
local function sessions(ctx)
  return ctx.client:session_ids(ctx.sandbox)
end

-- POST /agent with `body`: refused with `status` (default 400) and a
-- message matching `pattern`; no new session
local function start(name, body, pattern, status, ctype)
  local before
  return { name = "agent: " .. name, status = status or 400, body = pattern,
    send = function(ctx)
      before = sessions(ctx)
      return support.raw_request(ctx.host, "POST",
        "/api/sandboxes/" .. ctx.sandbox .. "/agent", body, ctype)
    end,
    check = function(ctx)
      for id in pairs(sessions(ctx)) do
        assert(before[id], "a refused start left session " .. id)
      end
    end }
end

-- `method` `route` under /agent with `body`: refused
local function call(name, method, route, body, pattern, status)
  return { name = "agent: " .. name, status = status, body = pattern,
    request = { method = method, path = AGENT .. route, body = body } }
end

-- A wrapper for the live sandbox that reads stdin until it ends, so an
-- agent session of it runs until it is killed
local WRAPPER = "printf '#!/bin/sh\\nexec cat >/dev/null\\n' | sudo tee "
  .. "/usr/local/bin/claude-agent-wrapper >/dev/null && sudo chmod 755 "
  .. "/usr/local/bin/claude-agent-wrapper"

-- POST .../agent/{sid}/kill of a running agent with `body`: refused, and
-- the agent still running
local function kill(name, body, pattern)
  local sid
  return { name = "agent: kill: " .. name, status = 400, body = pattern,
    send = function(ctx)
      ctx.client:run(ctx.sandbox, WRAPPER)
      local status, info = ctx.client:api("POST", "/sandboxes/" .. ctx.sandbox
        .. "/agent", { body = {} })
      assert(status == 201, "could not start an agent session")
      sid = info.sessionID
      return support.raw_request(ctx.host, "POST", "/api/sandboxes/"
        .. ctx.sandbox .. "/agent/" .. sid .. "/kill", body)
    end,
    check = function(ctx)
      local _, list = ctx.client:api("GET", "/sandboxes/" .. ctx.sandbox .. "/agent")
      for _, s in ipairs(list) do
        if s.sessionID == sid then
          assert(s.running, "the agent was killed")
          ctx.client:api("POST", "/sandboxes/" .. ctx.sandbox .. "/agent/"
            .. sid .. "/kill")
          return
        end
      end
      error("the agent session is not listed")
    end }
end

return {
  start("a list", "[1]", "expected a JSON object"),
  start("not JSON", "{", "invalid request body"),
  start("text/plain", "prompt=x", "Content%-Type must be application.*json",
    400, "text/plain"),
  start("prompt as a number", '{"prompt":5}', "prompt must be a string, not 5"),
  start("a NUL in the prompt", '{"prompt":"a\\u0000b"}',
    "prompt must not contain a NUL byte"),
  start("model too long", '{"model":"' .. ("m"):rep(257) .. '"}',
    "model must be at most 256 bytes long"),
  start("systemPrompt as a list", '{"systemPrompt":["x"]}',
    "systemPrompt must be a string, not a list"),
  start("allowedTools as a string", '{"allowedTools":"Read"}',
    "allowedTools must be a list of strings, not a string"),
  start("an empty tool name", '{"allowedTools":[""]}',
    "allowedTools%[0%] must not be empty"),
  start("a tool name that is a number", '{"allowedTools":["Read",1]}',
    "allowedTools%[1%] must be a string, not 1"),
  start("a permission mode with a space", '{"permissionMode":"by pass"}',
    'permissionMode must be a permission mode %(1 to 64 ASCII letters'),
  start("a permission mode as a number", '{"permissionMode":1}',
    "permissionMode must be a permission mode"),
  start("maxTurns negative", '{"maxTurns":-1}',
    "maxTurns must be an integer from 0 to 2147483647, not %-1"),
  start("maxTurns a fraction", '{"maxTurns":1.5}',
    "maxTurns must be an integer from 0 to 2147483647, not 1.5"),
  start("maxTurns beyond int32", '{"maxTurns":2147483648}',
    "maxTurns must be an integer from 0 to 2147483647, not 2147483648"),
  start("maxTurns a string", '{"maxTurns":"3"}', "maxTurns must be an integer"),
  start("cwd with a NUL", '{"cwd":"/tmp\\u0000x"}', "cwd must not contain a NUL byte"),
  start("resume as an object", '{"resume":{}}', "resume must be a string"),
  start("mcpServers as a list", '{"mcpServers":["x"]}',
    "mcpServers must be an object, not a list"),
  start("an MCP server that is a string", '{"mcpServers":{"a":"x"}}',
    'mcpServers%[\\"a\\"%] must be an object, not a string'),
  start("an MCP server without command", '{"mcpServers":{"a":{"args":[]}}}',
    'mcpServers%[\\"a\\"%]%.command is required'),
  start("an MCP server with an empty command", '{"mcpServers":{"a":{"command":""}}}',
    'mcpServers%[\\"a\\"%]%.command must not be empty'),
  start("an MCP server's args not strings",
    '{"mcpServers":{"a":{"command":"x","args":[true]}}}',
    'mcpServers%[\\"a\\"%]%.args%[0%] must be a string, not true'),
  start("an MCP server's env name with =",
    '{"mcpServers":{"a":{"command":"x","env":{"A=B":"1"}}}}',
    "must not contain '='"),
  start("an MCP server with an empty name", '{"mcpServers":{"":{"command":"x"}}}',
    "mcpServers key must not be empty"),
  start("the same key twice", '{"model":"a","model":"b"}', 'key \\"model\\" appears twice'),

  -- prompt: the body is checked before the session is looked up
  call("prompt: no text", "POST", "/abcdef12/prompt", "{}", '"text is required"', 400),
  call("prompt: empty text", "POST", "/abcdef12/prompt", '{"text":""}',
    '"text is required"', 400),
  call("prompt: text as a number", "POST", "/abcdef12/prompt", '{"text":5}',
    "text must be a string, not 5", 400),
  call("prompt: an unknown session", "POST", "/abcdef12/prompt", '{"text":"x"}',
    '"agent session abcdef12 not found"', 404),
  call("prompt: a session id that is not UTF-8", "POST", "/a%FFb/prompt",
    '{"text":"x"}', "invalid path: session id must be valid UTF%-8", 400),
  call("interrupt: a body that is not JSON", "POST", "/abcdef12/interrupt",
    "nope", "invalid request body", 400),
  call("interrupt: an unknown session", "POST", "/abcdef12/interrupt", "",
    '"agent session abcdef12 not found"', 404),
  call("kill: an unknown session", "POST", "/abcdef12/kill", "",
    '"agent session abcdef12 not found"', 404),
  call("kill: an unknown session, a bad signal first", "POST", "/abcdef12/kill",
    '{"signal":99}', "signal must be an integer from 0 to 64, not 99", 400),
  call("the agent WebSocket route is not served", "GET", "/abcdef12", nil,
    "not found", 404),
  kill("signal 65", '{"signal":65}', "signal must be an integer from 0 to 64, not 65"),
  kill("signal as a string", '{"signal":"9"}', "signal must be an integer"),
}
