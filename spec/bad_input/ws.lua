-- spec/bad_input/ws.lua - bad input to the server's WebSockets: the
-- opening handshake (src/server/httpd_ws.c, RFC 6455 4.2) and the frames
-- of an exec session's WebSocket after it (src/client/ws_frame.c in the
-- server role, RFC 6455 5 to 8). Each case makes an exec session first
-- (`sleep 30`, so it is still running when the frames arrive).
local support = require("spec.support.server")

local KEY = "dGhlIHNhbXBsZSBub25jZQ=="	-- RFC 6455's sample key

local function session(ctx)
  local status, doc = ctx.client:api("POST", "/sandboxes/" .. ctx.sandbox ..
    "/exec", { body = { cmd = "sleep", args = { "30" } } })
  assert(status == 201, "exec session: " .. tostring(status))
  return doc.sessionID
end

-- the upgrade request for a new session, with `headers` (name = value,
-- false to leave one out) over the usual ones
local function upgrade(ctx, headers, version_line)
  local h = { ["Upgrade"] = "websocket", ["Connection"] = "Upgrade",
    ["Sec-WebSocket-Key"] = KEY, ["Sec-WebSocket-Version"] = "13",
    ["Host"] = ctx.host }
  for k, v in pairs(headers or {}) do h[k] = v end
  local lines = { "GET /api/sandboxes/" .. ctx.sandbox .. "/exec/" ..
    session(ctx) .. "?api_key=" .. support.KEY .. " " ..
    (version_line or "HTTP/1.1") }
  for _, k in ipairs({ "Host", "Upgrade", "Connection", "Sec-WebSocket-Key",
      "Sec-WebSocket-Version", "Sec-WebSocket-Protocol" }) do
    if h[k] then lines[#lines + 1] = k .. ": " .. h[k] end
  end
  for k, v in pairs(headers or {}) do
    if type(k) == "number" then lines[#lines + 1] = v end	-- repeats
  end
  return table.concat(lines, "\r\n") .. "\r\n\r\n"
end

-- one frame: first byte b0 (FIN, RSV, opcode), masked unless opts.unmasked;
-- opts.len / opts.len64 claim a length other than the payload's
local function frame(b0, payload, opts)
  opts = opts or {}
  local mask = "\1\2\3\4"
  local b1 = opts.unmasked and 0 or 0x80
  local n = opts.len or #payload
  local h
  if opts.len64 then h = string.pack(">BBi8", b0, b1 | 127, opts.len64)
  elseif n < 126 then h = string.pack("BB", b0, b1 | n)
  elseif n < 65536 then h = string.pack(">BBI2", b0, b1 | 126, n)
  else h = string.pack(">BBI8", b0, b1 | 127, n) end
  if opts.unmasked then return h .. payload end
  local i = 0
  return h .. mask .. payload:gsub(".", function(c)
    i = i + 1
    return string.char(c:byte() ~ mask:byte((i - 1) % 4 + 1))
  end)
end

local function close_frame(code, reason)
  return frame(0x88, string.pack(">I2", code) .. (reason or ""))
end

-- a case whose frames follow a good handshake
local function frames(name, code, ...)
  local parts = { ... }
  return { name = name, status = 101, ws_close = code, send = function(ctx)
    return upgrade(ctx) .. table.concat(parts)
  end }
end

-- a case whose handshake is refused
local function refused(name, status, headers, version_line)
  return { name = name, status = status, closed = true, send = function(ctx)
    return upgrade(ctx, headers, version_line)
  end }
end

local cases = {
  -- the opening handshake (4.2.1)
  refused("no Sec-WebSocket-Key", 400, { ["Sec-WebSocket-Key"] = false }),
  refused("a Sec-WebSocket-Key of 15 bytes", 400,
    { ["Sec-WebSocket-Key"] = "YWJjZGVmZ2hpamtsbW5v" }),
  refused("a Sec-WebSocket-Key that is not base64", 400,
    { ["Sec-WebSocket-Key"] = "!!!!!!!!!!!!!!!!!!!!!!==" }),
  refused("two Sec-WebSocket-Key headers", 400,
    { "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==" }),
  refused("Sec-WebSocket-Version 8", 426, { ["Sec-WebSocket-Version"] = "8" }),
  refused("no Sec-WebSocket-Version", 400,
    { ["Sec-WebSocket-Version"] = false }),
  -- Upgrade is ignored in HTTP/1.0 (RFC 9110 7.8): a plain GET of the
  -- session's route, which answers 426 naming what it takes
  refused("an upgrade over HTTP/1.0", 426, nil, "HTTP/1.0"),
  refused("a Sec-WebSocket-Protocol with no token", 400,
    { ["Sec-WebSocket-Protocol"] = "@@, ((" }),
  -- an upgrade request carries no body (RFC 6455 4.1, RFC 9110 7.8): 400
  -- from the framing, not the route's 426
  { name = "an upgrade with Content-Length: 3", status = 400, closed = true,
    body = "carries no body", send = function(ctx)
      return upgrade(ctx, { "Content-Length: 3" }) .. "abc"
    end },
  { name = "a chunked upgrade", status = 400, closed = true,
    body = "carries no body", send = function(ctx)
      return upgrade(ctx, { "Transfer-Encoding: chunked" })
        .. "3\r\nabc\r\n0\r\n\r\n"
    end },

  -- frames (5.1 to 5.5)
  frames("an unmasked client frame", 1002, frame(0x81, "hi", { unmasked = true })),
  frames("RSV1 set", 1002, frame(0xc1, "hi")),
  frames("RSV2 set", 1002, frame(0xa1, "hi")),
  frames("RSV3 set", 1002, frame(0x91, "hi")),
  frames("reserved data opcode 3", 1002, frame(0x83, "hi")),
  frames("reserved control opcode 0xB", 1002, frame(0x8b, "hi")),
  frames("a ping of 126 bytes", 1002, frame(0x89, string.rep("p", 126))),
  frames("a fragmented ping", 1002, frame(0x09, "ping")),
  frames("a fragmented close", 1002, frame(0x08, "\3\232")),
  frames("a continuation with no message under way", 1002, frame(0x80, "hi")),
  frames("a new text frame inside a fragmented message", 1002,
    frame(0x01, "part"), frame(0x81, "new")),
  frames("a new binary frame inside a fragmented message", 1002,
    frame(0x02, "\0part"), frame(0x82, "\0new")),
  frames("a 64-bit length with its top bit set", 1002,
    frame(0x82, "", { len64 = math.mininteger })),
  -- UTF-8 (8.1)
  frames("a text message that is not UTF-8", 1007, frame(0x81, "a\xff")),
  frames("an overlong UTF-8 form", 1007, frame(0x81, "\xc0\xaf")),
  frames("a UTF-16 surrogate in UTF-8", 1007, frame(0x81, "\xed\xa0\x80")),
  frames("a text message ending inside a character, across fragments", 1007,
    frame(0x01, "ok \xe2"), frame(0x80, "\x82")),
  frames("bad UTF-8 split across fragments", 1007,
    frame(0x01, "\xe2\x82"), frame(0x80, "\x41")),
  -- close frames (5.5.1, 7.4)
  frames("a close payload of 1 byte", 1002, frame(0x88, "\3")),
  frames("close code 1005, which may not be sent", 1002, close_frame(1005)),
  frames("close code 1006, which may not be sent", 1002, close_frame(1006)),
  frames("close code 999", 1002, close_frame(999)),
  frames("close code 2000, reserved", 1002, close_frame(2000)),
  frames("close code 5000", 1002, close_frame(5000)),
  frames("a close reason that is not UTF-8", 1007, close_frame(1000, "\xff")),
  -- size (7.4.1: 1009)
  frames("a message over 64 MiB", 1009,
    frame(0x82, "", { len = 64 * 1024 * 1024 + 1 })),
  frames("a 1 TiB frame", 1009, frame(0x82, "", { len = 1 << 40 })),
  -- a good close is echoed with its code (5.5.1)
  frames("a close with code 4000 is answered with 4000", 4000,
    close_frame(4000, "bye")),
}

-- a ping is answered with a pong carrying its payload, then the close
local pong = frames("a ping gets a pong, then the close is echoed", 1000,
  frame(0x89, "ping"), close_frame(1000))
pong.body = "\138\4ping"
cases[#cases + 1] = pong

return cases
