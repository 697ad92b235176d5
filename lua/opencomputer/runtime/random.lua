-- opencomputer/runtime/random.lua - unguessable tokens (API keys, shell
-- markers, ids) from the kernel's random source.

local M = {}

--- `n` random bytes from /dev/urandom as 2n lower-case hex digits.
-- Raises if /dev/urandom cannot be read.
function M.hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(n)
  f:close()
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

--- A random (version 4) UUID, RFC 9562 5.4, from 16 bytes of
-- /dev/urandom: "xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx" in lower case,
-- Y one of 8, 9, a, b. Raises if /dev/urandom cannot be read.
function M.uuid()
  local h = M.hex(16)
  local variant = string.format("%x", 8 | (tonumber(h:sub(17, 17), 16) & 3))
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-"
    .. variant .. h:sub(18, 20) .. "-" .. h:sub(21, 32)
end

return M
