-- spec/examples_spec.lua - every script in examples/ runs as a new user
-- runs it: `oclua examples/NAME.lua` with no OPENCOMPUTER_* settings, so
-- against the embedded local server, and prints what it promises.

local run = require("spec.support.run")
local bin = os.getenv("OCLUA_BIN") or "./oclua"

local function example(name, args)
  local out, err, code = run("env -u OPENCOMPUTER_API_URL -u OPENCOMPUTER_API_KEY "
    .. bin .. " examples/" .. name .. ".lua " .. (args or ""))
  assert.are.equal(0, code, "exit code; stderr: " .. err)
  return out
end

describe("examples/", function()
  it("hello.lua: a sandbox, a command, a file", function()
    local out = example("hello")
    assert.matches("sandbox sb%-%x+ is running", out)
    assert.matches("hello from sb%-%x+\nsandbox\nLinux ", out)
    assert.matches("note.txt says: written by oclua\n", out, 1, true)
    assert.matches("exit code\t2\tls: cannot access '/no/such/dir'", out, 1, true)
  end)

  it("build-log.lua: streams make's lines, then runs the program", function()
    local out = example("build-log")
    assert.matches("%[ *%d+%.%d%ds%] cc %-O2 %-Wall %-o hello hello%.c\n", out)
    assert.matches("%[ *%d+%.%d%ds%] built hello\n", out)
    assert.matches("make exited with 0\nhello from a program built in a sandbox\n$", out)
  end)

  it("shell.lua: state that lasts, errors as results, one run at a time", function()
    assert.are.equal(table.concat({
      "hello from the shell, in /tmp/project, with 3 files",
      "exit code 1: cat: missing-file: No such file or directory",
      "second run refused: true (ShellBusyError)",
      "slow done", "" }, "\n"), example("shell"))
  end)

  it("files.lua: every files call, binary and streamed content", function()
    local out = example("files")
    assert.matches("binary round trip exact: true\n", out, 1, true)
    assert.matches("  raw/big.txt         16777216 bytes\n", out, 1, true)
    assert.matches("the sandbox counts 16777216 bytes in big.txt\n", out, 1, true)
    assert.matches("raw/ exists after remove: false\n", out, 1, true)
    assert.matches("\nNotFoundError: [^\n]+ %(HTTP 404%)\n$", out)
  end)

  it("fan-out.lua: 20 sandboxes at once, every answer in order", function()
    local out = example("fan-out")
    for i = 1, 20 do
      assert.matches(string.format("\n?%2d: %d from sb%%-%%x+\n", i, i * i), out)
    end
    assert.matches("20 sandboxes created, used and killed in [%d.]+ s\n$", out)
  end)
end)
