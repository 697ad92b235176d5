-- opencomputer/runtime/random.lua - unguessable tokens (API keys, shell
-- markers) from the kernel's random source.

local M = {}

--- `n` random bytes from /dev/urandom as 2n lower-case hex digits.
-- Raises if /dev/urandom cannot be read.
function M.hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(n)
  f:close()
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

return M
