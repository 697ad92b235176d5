-- examples/files.lua - the files API: write, read, list, make_dir,
-- exists, remove, and a streamed upload that is never held in memory.
-- Run it: ./oclua examples/files.lua

local oc = require("opencomputer")

local sb <close> = oc.Sandbox.create()
local files = sb.files

files:make_dir("/home/sandbox/data/raw")
files:write("/home/sandbox/data/notes.txt", "first line\nsecond line\n")

-- binary content round-trips exactly
local bytes = {}
for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
files:write("/home/sandbox/data/raw/all-bytes.bin", table.concat(bytes))
print("binary round trip exact: "
  .. tostring(files:read_bytes("/home/sandbox/data/raw/all-bytes.bin") == table.concat(bytes)))

-- a function as content streams the upload: 16 MiB, 64 KiB at a time
local chunk, left = ("oclua "):rep(65536 // 6 + 1):sub(1, 65536), 256
files:write("/home/sandbox/data/raw/big.txt", function()
  if left == 0 then return nil end
  left = left - 1
  return chunk
end)

for _, e in ipairs(files:list("/home/sandbox/data")) do
  print(string.format("  %-10s %s %9d bytes", e.name, e.is_dir and "dir " or "file", e.size))
end
for _, e in ipairs(files:list("/home/sandbox/data/raw")) do
  print(string.format("  raw/%-14s %9d bytes", e.name, e.size))
end

io.write("notes.txt: ", files:read("/home/sandbox/data/notes.txt"))
print("the sandbox counts " .. sb.exec:run("wc -c < /home/sandbox/data/raw/big.txt").stdout:gsub("\n", "")
  .. " bytes in big.txt")

files:remove("/home/sandbox/data/raw")
print("raw/ exists after remove: " .. tostring(files:exists("/home/sandbox/data/raw")))

-- a missing path is a NotFoundError
local ok, err = pcall(files.read, files, "/home/sandbox/data/raw/big.txt")
print(ok and "read a removed file?!" or tostring(err))
