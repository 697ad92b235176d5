-- opencomputer/client/websocket.lua - the SDK's WebSocket primitive.
--
--   ws = websocket.connect(url, {headers=, on_message=, on_close=, retry=,
--     split=})
--   ws:send(data [, text]) ; ws:close([code, reason]) ; ws:wait()
--   ws:receive() -> msg, is_binary   (only without on_message)
--
-- With `on_message`, a delivery task runs the handler for each message in
-- order, one at a time: while the handler is suspended (it may yield),
-- later messages queue in C and, past 64 KiB on this connection (or
-- 8 MiB on all of them: src/client/websocket.c RX_HIGH, POOL_HIGH), the
-- socket is no longer read until the queue drains. An error in the handler closes the
-- connection (1011) and is re-raised by ws:wait(), whose caller owns it
-- (it is never printed as a task's). With `split`, the handler gets each
-- message's first byte apart: on_message(rest, binary, byte) (byte an
-- integer, nil for an empty message), so a stream tag (the exec frames,
-- protocol.md 3.4.1) costs no copy of the output. Once closed:
-- ws.close_code and ws.close_reason (the peer's close frame),
-- ws.close_error (why it ended without one, when it did). `retry` (a
-- policy, as http.request's): a handshake the server refuses with 429,
-- 502, 503 or 504 (before any 101: no connection was made, and the
-- upgrade is a GET, idempotent) is tried again after http.wait's wait
-- (the refusal's Retry-After, else backoff); a connection that fails is
-- not (its error does not tell whether the server saw the request, nor a
-- refused certificate from a lost connection).

local core = require("opencomputer.core")
local errors = require("opencomputer.sdk.errors")
local http = require("opencomputer.client.http")
local task = require("opencomputer.runtime.task")

local M = {}

local WebSocket = {}
WebSocket.__index = WebSocket
WebSocket.__name = "oclua.websocket"

local function deliver(ws, on_message, on_close, split)
  local conn = ws.conn
  -- a handler error closes the connection on its way out
  local guard <close> = setmetatable({}, { __close = function(_, err)
    if err then conn:close(1011, "handler error") end
  end })
  while true do
    local msg, binary, code, reason = conn:receive(split)
    if msg == nil then	-- binary is then why it ended: "closed" or an error
      ws.close_code, ws.close_reason = code, reason
      if binary ~= "closed" then ws.close_error = binary end
      if on_close then on_close(code, reason) end
      return code
    end
    on_message(msg, binary, code)	-- code: the split byte, if any
  end
end

-- a URL fit for an error message: no API key or token in its query
local function redact(url)
  return (url:gsub("([?&][%w_]*[Kk][Ee][Yy]=)[^&]*", "%1***")
    :gsub("([?&][%w_]*[Tt][Oo][Kk][Ee][Nn]=)[^&]*", "%1***"))
end

function M.connect(url, opts)
  opts = opts or {}
  local policy = opts.retry
  local max = policy and policy.count + 1 or 1
  local n, ok, conn = 0, false, nil
  while not ok do
    n = n + 1
    ok, conn = pcall(core.ws_connect, url, opts.headers)
    if not ok then
      if type(conn) == "string" and (conn:find("^call from a task")
          or conn:find("^cannot yield")) then
        error(conn, 2)	-- misuse (runtime.c's yield_error), not the network
      end
      if type(conn) ~= "table" then
        errors.raise(errors.SandboxError, "WebSocket " .. redact(url) .. ": "
          .. tostring(conn), { attempts = n })
      end
      -- the server refused the upgrade
      local res = { status = conn.status,
        headers = { ["retry-after"] = conn.retry_after } }
      local delay = n < max and http.retryable("GET", res, nil, {})
        and http.wait(policy, n, res)
      if not delay then
        error(errors.from_http(conn.status, nil, "WebSocket upgrade of "
          .. redact(url), { attempts = n }), 2)
      end
      http.trace("GET", redact(url), res, nil, n + 1, max, delay)
      core.sleep(delay)
    end
  end
  local ws = setmetatable({ conn = conn, url = url }, WebSocket)
  if opts.on_message then
    -- the handler's error is ws:wait()'s to re-raise
    ws.delivery = task.owned(deliver, ws, opts.on_message, opts.on_close,
      opts.split and true or false)
  end
  return ws
end

function WebSocket:send(data, text)
  return self.conn:send(data, text)
end

function WebSocket:receive()
  if self.delivery then
    error("receive: this WebSocket delivers to on_message", 2)
  end
  return self.conn:receive()
end

function WebSocket:close(code, reason)
  return self.conn:close(code, reason)
end

function WebSocket:is_open()
  return self.conn:is_open()
end

--- Bytes waiting: received but not yet handled, and queued to send.
function WebSocket:queued()
  return self.conn:queued()
end

--- Yield until the connection has closed and every message was handled;
-- the close code, or the handler's error re-raised.
function WebSocket:wait()
  if self.delivery then return self.delivery:wait() end
  while true do
    local msg, _, code = self.conn:receive()
    if msg == nil then return code end
  end
end

return M
