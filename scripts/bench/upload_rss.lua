-- scripts/bench/upload_rss.lua - a 1 GiB files:write from a chunk function
-- into a sandbox of the embedded server: throughput and the growth of this
-- process's RSS (the SDK streams; the target is a few MiB at most).
-- Usage: ./oclua scripts/bench/upload_rss.lua
local oc = require("opencomputer")
local rss = require("spec.support.rss")	-- run from the repository root
local sb <close> = oc.Sandbox.create()
local chunk, n, sent = ("0123456789abcdef"):rep(65536), 1024 * 1024 * 1024, 0
collectgarbage()
local before, peak = rss(), 0
local t0 = oc.now()
sb.files:write("/tmp/big.bin", function()
  if sent >= n then return nil end
  sent = sent + #chunk
  peak = math.max(peak, rss())
  return chunk
end)
print(string.format("1 GiB upload: %.2f s, %.0f MiB/s, RSS before %d KiB, peak %d KiB (+%d KiB)",
  oc.now() - t0, 1024 / (oc.now() - t0), before, peak, peak - before))
print(sb.exec:run("stat -c %s /tmp/big.bin").stdout)
