-- spec/websocket_spec.lua - the WebSocket primitive against the test peer:
-- connect, send, receive, close, ordered delivery to a handler that yields,
-- and backpressure that bounds memory without losing a byte.

local oc = require("opencomputer")
local websocket = require("opencomputer.client.websocket")
local errors = require("opencomputer.sdk.errors")
local peer = require("spec.support.peer")
local cjson = require("cjson")
local core = require("opencomputer.core")
local http = require("opencomputer.client.http")

describe("websocket.connect", function()
  it("sends and receives binary and text messages", function()
    local ws = websocket.connect(peer.ws .. "/ws/echo")
    assert.is_true(ws:is_open())
    ws:send("\0\1\2\255")
    local msg, binary = ws:receive()
    assert.are.equal("\0\1\2\255", msg)
    assert.is_true(binary)
    ws:send("hello", true)
    msg, binary = ws:receive()
    assert.are.equal("hello", msg)
    assert.is_false(binary)
    ws:close()
    assert.are.equal(nil, (ws:receive()))
  end)

  it("round-trips a 4 MiB message", function()
    local ws = websocket.connect(peer.ws .. "/ws/echo")
    local big = peer.pattern(1, 4 * 1024 * 1024)
    ws:send(big)
    local msg = ws:receive()
    assert.are.equal(#big, #msg)
    assert.is_true(msg == big)
    ws:close()
  end)

  it("delivers to on_message in order", function()
    local got = {}
    local ws = websocket.connect(peer.ws .. "/ws/echo", {
      on_message = function(msg) got[#got + 1] = msg end,
    })
    for i = 1, 200 do ws:send("m" .. i) end
    while #got < 200 do oc.sleep(0.005) end
    ws:close()
    ws:wait()
    for i = 1, 200 do assert.are.equal("m" .. i, got[i]) end
  end)

  it("splits each message's first byte off for a handler that asks (split)", function()
    local got = {}
    local ws = websocket.connect(peer.ws .. "/ws/echo", {
      split = true,
      on_message = function(msg, binary, byte)
        got[#got + 1] = { msg, binary, byte }
      end,
    })
    ws:send("\1stdout")
    ws:send("\255")
    ws:send("")	-- empty: no byte to split
    ws:send("Atext", true)
    ws:send("\2" .. peer.pattern(2, 100000))	-- past one read, yielding
    while #got < 5 do oc.sleep(0.005) end
    ws:close()
    ws:wait()
    assert.are.same({ "stdout", true, 1 }, got[1])
    assert.are.same({ "", true, 255 }, got[2])
    assert.are.same({ "", true }, got[3])
    assert.are.same({ "text", false, 65 }, got[4])
    assert.are.equal(2, got[5][3])
    assert.is_true(got[5][1] == peer.pattern(2, 100000))
  end)

  it("runs a yielding handler one message at a time, in order", function()
    local got, busy, overlap = {}, false, false
    local ws = websocket.connect(peer.ws .. "/ws/echo", {
      on_message = function(msg)
        if busy then overlap = true end
        busy = true
        oc.sleep(0.002)
        got[#got + 1] = msg
        busy = false
      end,
    })
    for i = 1, 50 do ws:send(tostring(i)) end
    while #got < 50 do oc.sleep(0.01) end
    ws:close()
    ws:wait()
    assert.is_false(overlap)
    for i = 1, 50 do assert.are.equal(tostring(i), got[i]) end
  end)

  it("applies backpressure to a slow handler and loses no byte", function()
    local n = 48 * 1024 * 1024
    local got, max_queued, done = 0, 0, nil
    local ws
    ws = websocket.connect(peer.ws .. "/ws/stream?bytes=" .. n .. "&frame=65536", {
      on_message = function(msg, binary)
        if not binary then done = cjson.decode(msg); return end
        assert(msg == peer.pattern(got, #msg), "bytes differ at " .. got)
        got = got + #msg
        max_queued = math.max(max_queued, (ws:queued()))
        if got % (4 * 1024 * 1024) == 0 then oc.sleep(0.02) end
      end,
    })
    local code = ws:wait()
    assert.are.equal(1000, code)
    assert.are.equal(n, got)
    assert.are.same({ done = true, bytes = n }, done)
    -- the queue stays near its 1 MiB bound (plus one message in flight)
    assert.is_true(max_queued <= 1024 * 1024 + 2 * 65536,
      "queued up to " .. max_queued .. " bytes")
  end)

  it("holds a shared bound on input, and gives it back when unread connections close", function()
    -- 100 connections nobody reads, each sent 300,000-byte messages, fill the
    -- shared bound (8 MiB: a connection stops at its first whole message,
    -- past its own 64 KiB mark), and stop there; connections that are read
    -- meanwhile (each may finish the message it is in) all get to the end
    -- once the unread ones are closed
    local MiB = 1024 * 1024
    local hogs, readers, got = {}, {}, {}
    finally(function()
      for _, ws in ipairs(hogs) do ws:close() end
      for _, ws in ipairs(readers) do ws:close() end
    end)
    for i = 1, 100 do
      hogs[i] = websocket.connect(peer.ws .. "/ws/stream?frame=300000&bytes=" .. 4 * MiB)
    end
    local held, t = 0, oc.now()
    repeat
      oc.sleep(0.05)
      held = 0
      for _, ws in ipairs(hogs) do held = held + ws:queued() end
    until held > 6 * MiB or oc.now() - t > 5
    -- whole messages queued (parts of messages are not counted here)
    assert.is_true(held > 6 * MiB, "the unread connections hold " .. held .. " bytes")
    for i = 1, 10 do
      got[i] = 0
      readers[i] = websocket.connect(peer.ws .. "/ws/stream?frame=65536&bytes=" .. 2 * MiB, {
        on_message = function(msg, binary)
          if binary then
            assert(msg == peer.pattern(got[i], #msg), "bytes differ at " .. got[i])
            got[i] = got[i] + #msg
          end
        end,
      })
    end
    oc.sleep(0.3)
    local t0 = oc.now()
    for _, ws in ipairs(hogs) do ws:close() end
    for _, ws in ipairs(hogs) do ws:wait() end
    hogs = {}
    collectgarbage()
    collectgarbage()
    for i = 1, 10 do
      assert.are.equal(1000, readers[i]:wait())
      assert.are.equal(2 * MiB, got[i])
    end
    -- a stopped connection closes without waiting for the close timeout
    assert.is_true(oc.now() - t0 < 3, "took " .. (oc.now() - t0) .. " s")
  end)

  it("answers pings, joins fragments, keeps empty messages", function()
    local got, watchdog_done = {}, require("opencomputer.runtime.task").condition()
    local ws = websocket.connect(peer.ws .. "/ws/frames", {
      on_message = function(msg, binary) got[#got + 1] = { msg, binary } end,
    })
    -- the peer sends nothing more until its ping is answered
    oc.spawn(function()
      if not watchdog_done:wait(5) then ws:close(4000, "no progress") end
    end)
    local code = ws:wait()
    watchdog_done:signal()
    assert.are.equal(1000, code)
    assert.are.equal("frames done", ws.close_reason)
    assert.are.same({ { "fragmented", false }, { "", true } }, got)
  end)

  it("reports the peer's close code and reason", function()
    local closed
    local ws = websocket.connect(peer.ws .. "/ws/close?code=4001", {
      on_message = function() end,
      on_close = function(code, reason) closed = { code, reason } end,
    })
    assert.are.equal(4001, ws:wait())
    assert.are.same({ 4001, "bye" }, closed)
    assert.are.equal("bye", ws.close_reason)
    assert.is_false(ws:is_open())
    assert.has_error(function() ws:send("x") end)
  end)

  it("re-raises a handler's error from wait and closes the connection", function()
    local ws = websocket.connect(peer.ws .. "/ws/echo", {
      on_message = function(msg) error("bad message " .. msg, 0) end,
    })
    ws:send("7")
    local ok, err = pcall(ws.wait, ws)
    assert.is_false(ok)
    assert.are.equal("bad message 7", err)
    while ws:is_open() do oc.sleep(0.005) end
  end)

  it("raises SandboxError when it cannot connect", function()
    local ok, err = pcall(websocket.connect, "ws://127.0.0.1:1/ws/echo")
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.SandboxError), tostring(err))
  end)

  it("raises the class of the status a server refuses the upgrade with", function()
    local ok, err = pcall(websocket.connect, peer.ws .. "/ws/no-such-route?api_key=secret")
    assert.is_false(ok)
    assert.is_true(errors.is(err, errors.NotFoundError), tostring(err))
    assert.are.equal(404, err.status)
    assert.is_nil(tostring(err):find("secret", 1, true))
  end)

  it("refuses to send a close code RFC 6455 says may not be sent", function()
    local ws = websocket.connect(peer.ws .. "/ws/echo")
    for _, code in ipairs({ 1004, 1005, 1006, 1015, 2000 }) do
      local ok, err = pcall(ws.close, ws, code)
      assert.is_false(ok, code)
      assert.matches("close code that may be sent", tostring(err))
    end
    ws:close(3000)
    ws:wait()
  end)

  it("rejects a URL that is not ws:// or wss://", function()
    local ok, err = pcall(websocket.connect, "http://127.0.0.1/")
    assert.is_false(ok)
    assert.matches("bad WebSocket URL", tostring(err))
  end)

  it("serves many connections at once", function()
    local tasks = {}
    for i = 1, 50 do
      tasks[i] = oc.spawn(function()
        local ws = websocket.connect(peer.ws .. "/ws/echo")
        ws:send("c" .. i)
        local m = ws:receive()
        ws:close()
        return m
      end)
    end
    for i = 1, 50 do assert.are.equal("c" .. i, tasks[i]:wait()) end
  end)
end)

-- frames a server must not send (RFC 6455 5 to 8), from the peer's
-- /ws/raw: the client fails the connection with the close code the RFC
-- names, then closes TCP (7.1.7)
describe("the ws:// client", function()
  local function hex(s)
    return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
  end

  -- the end receive() reports after the peer sent `bytes`, and the close
  -- code the peer got back
  local function refused(bytes, no_close)
    -- a good close after the bad bytes: a client that let them pass
    -- answers it with 1000
    if not no_close then bytes = bytes .. "\x88\2\3\232" end
    local conn = core.ws_connect(peer.ws .. "/ws/raw?send=" .. hex(bytes))
    local msgs = {}
    while true do
      local msg, err, code = conn:receive()
      if msg == nil then
        local t0, got = oc.now()
        repeat
          got = cjson.decode(http.request("GET", peer.http .. "/ws/raw-close").body).code
          if got == 0 then oc.sleep(0.01) end
        until got ~= 0 or oc.now() - t0 > 3
        return err, got, msgs, code
      end
      msgs[#msgs + 1] = msg
    end
  end

  local cases = {
    { "a masked frame", 1002, "masked frame from a server", "\x81\x82\1\2\3\4ik" },
    { "RSV1 set", 1002, "RSV1%-3", "\xc1\2hi" },
    { "RSV3 set", 1002, "RSV1%-3", "\x91\2hi" },
    { "a reserved data opcode", 1002, "reserved data opcode", "\x83\2hi" },
    { "a reserved control opcode", 1002, "reserved control opcode", "\x8f\0" },
    { "a ping of 126 bytes", 1002, "over 125", "\x89\126\0\126" .. ("p"):rep(126) },
    { "a fragmented ping", 1002, "fragmented control", "\x09\0" },
    { "a continuation with no message", 1002, "continuation", "\x80\2hi" },
    { "a new message inside a fragmented one", 1002, "inside a fragmented",
      "\x01\2hi\x81\2hi" },
    { "a 64-bit length with its top bit set", 1002, "top bit",
      "\x82\127\128\0\0\0\0\0\0\0" },
    { "text that is not UTF-8", 1007, "not UTF%-8", "\x81\2a\xff" },
    { "text cut inside a character across fragments", 1007, "not UTF%-8",
      "\x01\2a\xe2\x80\1\x82" },
    { "a close payload of 1 byte", 1002, "1 byte", "\x88\1\3" },
    { "close code 1005", 1002, "may not be sent", "\x88\2\3\237" },
    { "a close reason that is not UTF-8", 1007, "close reason", "\x88\3\3\232\xff" },
    { "a message over 64 MiB", 1009, "size limit",
      "\x82\127" .. string.pack(">I8", 64 * 1024 * 1024 + 1) },
  }
  for _, c in ipairs(cases) do
    it("fails the connection with " .. c[2] .. " on " .. c[1], function()
      local err, sent = refused(c[4])
      assert.matches("WebSocket protocol error %(" .. c[2] .. "%): .*" .. c[3], err)
      assert.are.equal(c[2], sent)
    end)
  end

  it("takes a message split in fragments, answers a ping between them, then echoes the close", function()
    local err, sent, msgs, code = refused("\x01\3abc\x89\2hi\x80\3d\xc3\xa9" ..
      "\x88\5\15\160bye", true)
    assert.are.same({ "abcdé" }, msgs)
    assert.are.equal(4000, code)
    assert.are.equal("closed", err)
    assert.are.equal(4000, sent)
  end)
end)
