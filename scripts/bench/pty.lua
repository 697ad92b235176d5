-- scripts/bench/pty.lua - a terminal's round trip: one key typed into a
-- sandbox's terminal (sb.pty, protocol.md 6) until its echo comes back,
-- N times (default 200), as a person at the prompt feels it. Two paths:
--
--   prompt   at bash's prompt: readline reads the key and echoes it
--            (then a DEL erases it again, not timed)
--   cat      while `cat >/dev/null` runs: the terminal's line discipline
--            echoes the key in the kernel, no program of the sandbox runs
--
-- Each key goes client -> WebSocket -> server -> the terminal's master
-- -> (bash) -> master -> server -> WebSocket -> client. Prints one JSON
-- line of figures in ms (median, p95, min, max).
--
--   oclua scripts/bench/pty.lua [N]
--
-- OPENCOMPUTER_API_URL / OPENCOMPUTER_API_KEY name the server; without
-- them the embedded local server (a child `oclua serve`) runs it.

local oc = require("opencomputer")
local cjson = require("cjson")

local N = tonumber(arg and arg[1]) or 200

local function stats(ms)
  table.sort(ms)
  local function pct(p) return ms[math.max(1, math.ceil(#ms * p))] end
  return { n = #ms, median = pct(0.5), p95 = pct(0.95), min = ms[1],
    max = ms[#ms] }
end

-- read the terminal until `text` has come; the time it took, in ms
local function until_seen(t, text, since)
  local got = ""
  while not got:find(text, 1, true) do
    local d = t:recv()
    if not d then error("the terminal closed while waiting for " .. text) end
    got = got .. d
  end
  return (oc.now() - since) * 1000
end

local function keys(t, erase)
  local ms = {}
  for i = 1, N do
    local key = string.char(97 + (i - 1) % 26)	-- a..z
    local t0 = oc.now()
    t:send(key)
    ms[i] = until_seen(t, key, t0)
    if erase then
      t:send("\127")	-- DEL: readline answers \b and erases
      until_seen(t, "\8", oc.now())
    end
  end
  return stats(ms)
end

local sb <close> = oc.Sandbox.create{ timeout = 0 }
local t = sb.pty:create{}
t:send("echo ready-$((6*7))\n")
until_seen(t, "ready-42", oc.now())
keys(t, true)	-- warm up
local prompt = keys(t, true)
-- what comes before cat runs is dropped: the line's echo, then the
-- marker the shell prints (cat prints nothing)
t:send("echo cat-$((2*3)); cat >/dev/null\n")
until_seen(t, "cat-6\r\n", oc.now())
oc.sleep(0.2)
local cat = keys(t, false)
t:kill()
print(cjson.encode({ workload = "pty_round_trip", prompt = prompt, cat = cat }))
