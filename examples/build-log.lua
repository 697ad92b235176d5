-- examples/build-log.lua - stream a build's log as it happens.
-- Writes a small C project into a sandbox, runs `make` with on_stdout /
-- on_stderr callbacks (each line shows as soon as the compiler prints it,
-- prefixed with the seconds since the start), then runs the result.
-- Run it: ./oclua examples/build-log.lua

local oc = require("opencomputer")

local sb <close> = oc.Sandbox.create()

sb.files:write("/home/sandbox/app/hello.c", [[
#include <stdio.h>
int main(void) { puts("hello from a program built in a sandbox"); return 0; }
]])
sb.files:write("/home/sandbox/app/Makefile",
  "hello: hello.c\n\tcc -O2 -Wall -o hello hello.c\n\t@echo built $@\n")

local t0 = oc.now()
-- a callback may receive several lines, or part of one: keep the rest
local function printer(prefix)
  local partial = ""
  return function(chunk)
    partial = partial .. chunk
    for line in partial:gmatch("([^\n]*)\n") do
      print(string.format("[%5.2fs] %s%s", oc.now() - t0, prefix, line))
    end
    partial = partial:match("[^\n]*$")
  end
end

-- with callbacks, `timeout` is an idle timeout: a build that keeps
-- printing never trips it, one that hangs silently does
local r = sb.exec:run("make -C /home/sandbox/app", {
  timeout = 120, on_stdout = printer(""), on_stderr = printer("stderr: ") })
print("make exited with " .. r.exit_code)
if r.exit_code ~= 0 then os.exit(1) end

io.write(sb.exec:run("/home/sandbox/app/hello").stdout)
