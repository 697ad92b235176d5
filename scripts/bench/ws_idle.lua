-- scripts/bench/ws_idle.lua - RSS of the process with N open, idle
-- WebSocket connections (each with an on_message delivery task).
-- Usage: oclua scripts/bench/ws_idle.lua WS_BASE N
local oc = require("opencomputer")
local websocket = require("opencomputer.client.websocket")
local base, n = arg[1], tonumber(arg[2] or 1000)

local rss_kib = require("spec.support.rss")

-- warm up the lws context and one connection, so the figure is per
-- connection and not the one-time set-up
local first = websocket.connect(base .. "/ws/hold", { on_message = function() end })
collectgarbage()
local before = rss_kib()
local conns = {}
for i = 1, n do
  conns[i] = websocket.connect(base .. "/ws/hold", { on_message = function() end })
end
oc.sleep(0.5)
collectgarbage()
local after = rss_kib()
print(string.format("%d idle connections: RSS %d KiB -> %d KiB, %.1f KiB per connection",
  n, before, after, (after - before) / n))
for i = 1, n do conns[i]:close() end
first:close()
