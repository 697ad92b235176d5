-- examples/hello.lua - the first script: a sandbox, a command, a file.
-- With no OPENCOMPUTER_API_URL set, oclua serves it from its built-in
-- local server: no account, no network. Run it with `make demo` or
-- `./oclua examples/hello.lua`.

local oc = require("opencomputer")

local t0 = oc.now()
local sb <close> = oc.Sandbox.create()	-- killed when `sb` goes out of scope
print(string.format("sandbox %s is %s (%.0f ms)", sb.id, sb.status,
  (oc.now() - t0) * 1000))

local r = sb.exec:run("echo hello from $(hostname); id -un; uname -sr")
io.write(r.stdout)

sb.files:write("/home/sandbox/note.txt", "written by oclua\n")
io.write("note.txt says: ", sb.files:read("/home/sandbox/note.txt"))

-- a failing command is a result, not an error
r = sb.exec:run("ls /no/such/dir")
print("exit code", r.exit_code, (r.stderr:gsub("\n$", "")))
