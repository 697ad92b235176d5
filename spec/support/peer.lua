-- spec/support/peer.lua - where the test peer (spec/support/peer.c,
-- started by scripts/run-specs.sh) listens, and the byte pattern it uses.

local M = {}

M.addr = os.getenv("OCLUA_TEST_PEER")
  or error("OCLUA_TEST_PEER is not set: run the specs with `make test`")
M.http = "http://" .. M.addr
M.ws = "ws://" .. M.addr

-- byte i (from 0) of every pattern stream is (i * 7 + 3) % 256; its
-- period is 256, so any slice can be cut from one repeated block
local block = {}
for i = 0, 255 do block[i + 1] = string.char((i * 7 + 3) % 256) end
block = table.concat(block)
local big = block:rep(4096)	-- 1 MiB

--- `n` pattern bytes starting at stream offset `off`.
function M.pattern(off, n)
  local out, start = {}, off % 256
  while n > 0 do
    local take = math.min(n, #big - start)
    out[#out + 1] = big:sub(start + 1, start + take)
    n, start = n - take, 0
  end
  return table.concat(out)
end

return M
