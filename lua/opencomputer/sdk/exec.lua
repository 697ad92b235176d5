-- opencomputer/sdk/exec.lua - sb.exec (API.md section 4). This slice has
-- run() without streaming callbacks; sessions, spawn, attach and the
-- shell come with the SDK issue.

local errors = require("opencomputer.errors")

local Exec = {}
Exec.__index = Exec

local M = {}

function M.new(sb)
  return setmetatable({ sandbox = sb }, Exec)
end

local RUN_OPTS = { timeout = true, env = true, cwd = true }

--- run(command, {timeout=60, env=, cwd=}) -> {exit_code, stdout, stderr}
-- through `sh -c`; a non-zero exit code is a result; TimeoutError when
-- the command outlives `timeout` seconds.
function Exec:run(command, opts)
  if type(command) ~= "string" then
    error("exec:run: expected a command string", 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not RUN_OPTS[k] then
      if k == "on_stdout" or k == "on_stderr" then
        error("exec:run: streaming callbacks are not available yet", 2)
      end
      error("exec:run: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  local timeout = opts.timeout or 60
  local sb = self.sandbox
  local doc = sb:call("POST", "/exec/run", {
    body = { cmd = "sh", args = { "-c", command }, envs = opts.env,
      cwd = opts.cwd, timeout = math.ceil(timeout) },
    timeout = timeout + 30,
  })
  if doc.error then
    errors.raise(errors.SandboxError, doc.error, { sandbox_id = sb.sandbox_id })
  end
  if doc.exitCode == -1 and (doc.stderr or ""):find("\nProcess timed out$") then
    errors.raise(errors.TimeoutError, string.format(
      "command timed out after %gs: %s", timeout, command),
      { sandbox_id = sb.sandbox_id,
        stdout = doc.stdout, stderr = doc.stderr:gsub("\nProcess timed out$", "") })
  end
  return { exit_code = doc.exitCode, stdout = doc.stdout or "",
    stderr = doc.stderr or "" }
end

return M
