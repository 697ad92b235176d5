-- opencomputer/runtime/base64.lua - standard base64 (RFC 4648 section 4,
-- with "=" padding), as protocol.md 8.6 carries file contents in an
-- image manifest.

local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- two digits for each 12-bit value, and the value of each digit
local pair, value = {}, {}
for i = 0, 63 do value[ALPHABET:byte(i + 1)] = i end
for i = 0, 4095 do
  pair[i] = ALPHABET:sub((i >> 6) + 1, (i >> 6) + 1)
    .. ALPHABET:sub((i & 63) + 1, (i & 63) + 1)
end

--- The base64 text of the bytes `s` (a string of any bytes).
function M.encode(s)
  local out, k, n = {}, 0, #s
  local whole = n - n % 3
  for i = 1, whole, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a << 16 | b << 8 | c
    k = k + 1
    out[k] = pair[v >> 12] .. pair[v & 4095]
  end
  local rest = n - whole
  if rest == 1 then
    local v = s:byte(n) << 16
    out[k + 1] = pair[v >> 12] .. "=="
  elseif rest == 2 then
    local a, b = s:byte(n - 1, n)
    local v = a << 16 | b << 8
    out[k + 1] = pair[v >> 12] .. pair[v & 4095]:sub(1, 1) .. "="
  end
  return table.concat(out)
end

--- The bytes of the base64 text `s`; nil and a message when it is not
-- base64 (a length not a multiple of 4, a character outside the
-- alphabet, padding anywhere but at the end, or non-zero bits under it).
function M.decode(s)
  local n = #s
  if n % 4 ~= 0 then
    return nil, "base64: the length " .. n .. " is not a multiple of 4"
  end
  local pad = s:sub(-2) == "==" and 2 or s:sub(-1) == "=" and 1 or 0
  local out, k = {}, 0
  for i = 1, n, 4 do
    local a, b, c, d = s:byte(i, i + 3)
    local last = i == n - 3
    local va, vb = value[a], value[b]
    local vc = value[c] or (last and pad == 2 and c == 61 and 0)
    local vd = value[d] or (last and pad >= 1 and d == 61 and 0)
    if not (va and vb and vc and vd) then
      return nil, "base64: a character outside the alphabet near offset " .. i - 1
    end
    local v = va << 18 | vb << 12 | vc << 6 | vd
    k = k + 1
    if last and pad == 2 then
      if v & 0xFFFF ~= 0 then return nil, "base64: non-zero bits under the padding" end
      out[k] = string.char(v >> 16)
    elseif last and pad == 1 then
      if v & 0xFF ~= 0 then return nil, "base64: non-zero bits under the padding" end
      out[k] = string.char(v >> 16, v >> 8 & 255)
    else
      out[k] = string.char(v >> 16, v >> 8 & 255, v & 255)
    end
  end
  return table.concat(out)
end

return M
