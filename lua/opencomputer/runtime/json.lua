-- opencomputer/runtime/json.lua - JSON for the SDK and the local server, on
-- lua-cjson. Debian's lua-cjson 2.1.0 encodes every empty table as {}:
-- here a table marked with json.array (or any non-empty sequence) is a
-- JSON array, so an empty list can still be `[]`. Strings are written as
-- valid UTF-8 whatever they hold (invalid sequences become U+FFFD).

local cjson = require("cjson")

local M = {}

M.null = cjson.null

local array_mt = { __name = "json.array" }

--- Mark `t` (default: a new table) as a JSON array.
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

local cjson_encode = cjson.encode

-- `s` with every invalid UTF-8 sequence replaced by U+FFFD, as the
-- reference server (Go's encoding/json) does: whatever a string holds
-- (command output, a file name made inside a sandbox), the JSON written
-- is valid (RFC 8259 8.1).
local function valid_utf8(s)
  if utf8.len(s) then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local len, bad = utf8.len(s, i)
    if len then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = "\u{FFFD}"
    i = bad + 1
  end
  return table.concat(out)
end

local function encode_string(v)
  if type(v) == "string" then v = valid_utf8(v) end
  return cjson_encode(v)
end

local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, out)
  local tv = type(v)
  if tv == "table" then
    if getmetatable(v) == array_mt or is_sequence(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local first = true
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      for _, k in ipairs(keys) do
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode(val, out)
      end
      out[#out + 1] = "}"
    end
  elseif tv == "string" or tv == "number" or tv == "boolean" then
    out[#out + 1] = encode_string(v)
  elseif v == nil or v == cjson.null then
    out[#out + 1] = "null"
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

-- lua-cjson gives every number as a float: make whole ones integers, so
-- that an exit code prints as 2, not 2.0
local function integers(v)
  if type(v) == "number" then return math.tointeger(v) or v end
  if type(v) == "table" then
    for k, x in pairs(v) do
      if type(x) == "number" or type(x) == "table" then v[k] = integers(x) end
    end
  end
  return v
end

--- A writer of one JSON string's contents, without its quotes, fed in
-- pieces: w.add(bytes) any number of times, then w.finish(); `write(text)`
-- gets the encoded text. Invalid UTF-8 becomes U+FFFD as in M.encode; a
-- character split between two pieces stays whole. For values too large
-- to hold twice (command output: M.encode of 64 MiB of NULs is 384 MiB).
function M.string_writer(write)
  local carry = ""
  local function put(bytes)
    if #bytes > 0 then write(cjson_encode(valid_utf8(bytes)):sub(2, -2)) end
  end
  local w = {}
  function w.add(bytes)
    bytes = carry .. bytes
    -- hold back a sequence the next piece may complete (at most 3 bytes)
    local cut = #bytes + 1
    for i = #bytes, math.max(1, #bytes - 2), -1 do
      local b = bytes:byte(i)
      if b < 0x80 then break end
      if b >= 0xC0 then
        local need = b >= 0xF0 and 4 or b >= 0xE0 and 3 or 2
        if #bytes - i + 1 < need then cut = i end
        break
      end
    end
    carry = bytes:sub(cut)
    put(bytes:sub(1, cut - 1))
  end
  function w.finish()
    put(carry)
    carry = ""
  end
  return w
end

--- Decode; nil and a message for malformed JSON (never raises).
function M.decode(s)
  local ok, v = pcall(cjson.decode, s)
  if ok then return integers(v) end
  return nil, (tostring(v):gsub("^.-: ", ""))
end

return M
