-- spec/errors_spec.lua - the error classes of API.md section 8.

local oc = require("opencomputer")
local errors = oc.errors

describe("oc.errors", function()
  it("has every class of the contract, derived from SandboxError", function()
    for _, name in ipairs{ "NotFoundError", "ConflictError", "TimeoutError",
        "AuthError", "ShellBusyError", "ShellClosedError" } do
      local e = errors[name]("m")
      assert.are.equal(name, e.kind)
      assert.is_true(errors.is(e, errors[name]))
      assert.is_true(errors.is(e, errors.SandboxError))
    end
    assert.are.equal(errors.TimeoutError, errors.SandboxTimeoutError)
  end)

  it("tells classes apart", function()
    local e = errors.NotFoundError("gone")
    assert.is_false(errors.is(e, errors.ConflictError))
    assert.is_false(errors.is(errors.SandboxError("x"), errors.NotFoundError))
    assert.is_false(errors.is("a string", errors.SandboxError))
    assert.is_false(errors.is(nil, errors.SandboxError))
  end)

  it("prints one readable line with the class, message and status", function()
    local e = errors.NotFoundError("sandbox sb-1a2b not found", { status = 404 })
    assert.are.equal("NotFoundError: sandbox sb-1a2b not found (HTTP 404)", tostring(e))
    assert.are.equal("TimeoutError: too slow", tostring(errors.TimeoutError("too slow")))
  end)

  it("keeps the fields it was given", function()
    local e = errors.SandboxError("x", { sandbox_id = "sb-1", session_id = "s1" })
    assert.are.equal("sb-1", e.sandbox_id)
    assert.are.equal("s1", e.session_id)
    assert.are.equal("x", e.message)
  end)

  it("is raised as an object that pcall returns intact", function()
    local ok, e = pcall(errors.raise, errors.ConflictError, "busy", { status = 409 })
    assert.is_false(ok)
    assert.is_true(errors.is(e, errors.ConflictError))
    assert.are.equal(409, e.status)
  end)

  it("reads an HTTP error body: error, then message, then raw text", function()
    assert.are.equal("a", errors.from_http(500, '{"error":"a"}').message)
    assert.are.equal("b", errors.from_http(500, '{"message":"b"}').message)
    assert.are.equal("plain text", errors.from_http(502, " plain text\n").message)
    assert.are.equal("GET /x failed", errors.from_http(500, "", "GET /x").message)
    local e = errors.from_http(404, '{"error":"sandbox not found"}')
    assert.is_true(errors.is(e, errors.NotFoundError))
    assert.are.equal(404, e.status)
    assert.are.equal('{"error":"sandbox not found"}', e.body)
    assert.is_true(errors.is(errors.from_http(401, ""), errors.AuthError))
    assert.is_true(errors.is(errors.from_http(403, ""), errors.AuthError))
    assert.is_true(errors.is(errors.from_http(409, ""), errors.ConflictError))
  end)
end)
