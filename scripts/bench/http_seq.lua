-- scripts/bench/http_seq.lua - N sequential keep-alive GETs from a Lua
-- loop through the SDK's HTTP primitive.
-- Usage: oclua scripts/bench/http_seq.lua URL N
local oc = require("opencomputer")
local http = require("opencomputer.client.http")
local url, n = arg[1], tonumber(arg[2])
http.request("GET", url) -- open the connection
local t0 = oc.now()
for _ = 1, n do
  local res = http.request("GET", url)
  assert(res.status == 200)
end
local s = oc.now() - t0
print(string.format("%d requests in %.3f s: %.0f req/s", n, s, n / s))
