-- scripts/bench/ws_stream.lua - MiB/s of one WebSocket stream delivered
-- into a Lua on_message callback (each message checked for length).
-- Usage: oclua scripts/bench/ws_stream.lua WS_BASE MIB
local oc = require("opencomputer")
local websocket = require("opencomputer.client.websocket")
local base, mib = arg[1], tonumber(arg[2] or 256)
local n = mib * 1024 * 1024
local got = 0
local t0 = oc.now()
local ws = websocket.connect(base .. "/ws/stream?bytes=" .. n .. "&frame=65536", {
  on_message = function(msg, binary) if binary then got = got + #msg end end,
})
ws:wait()
local s = oc.now() - t0
assert(got == n, "got " .. got .. " of " .. n .. " bytes")
print(string.format("%d MiB in %.3f s: %.1f MiB/s", mib, s, mib / s))
