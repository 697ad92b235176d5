-- spec/template_sdk_spec.lua - oc.Template (API.md 7, protocol.md 8.7)
-- against the local server: build from a Dockerfile (with and without
-- its log streamed), list, get, delete, and sandboxes started from a
-- template.

local oc = require("opencomputer")
local sdk = require("spec.support.sdk")

local E = oc.errors
local fails = sdk.fails

local conn = sdk.conn
local misuse = sdk.misuse

local DOCKERFILE = [[
FROM base
ENV GREETING=hello
RUN echo "built as $(whoami)" > /opt/built.txt
WORKDIR /srv/app
COPY <<EOF /srv/app/config.txt
key=value
EOF
USER sandbox
RUN echo "$GREETING from $(whoami)" > /home/sandbox/who.txt
]]

describe("oc.Template", function()
  local name = "spec-tpl-" .. require("opencomputer.runtime.random").hex(4)
  teardown(function() pcall(oc.Template.delete, name, conn()) end)

  it("builds from a Dockerfile; new sandboxes start from it", function()
    local t = oc.Template.build(name, DOCKERFILE, conn())
    assert.are.equal(name, t.template_id)
    assert.are.equal(name, t.name)
    assert.are.equal("latest", t.tag)
    assert.are.equal("ready", t.status)
    assert.is_string(t.image_id)
    assert.is_string(t.created_at)
    local got = oc.Template.get(name, conn())
    assert.are.same(t, got)
    local listed
    for _, x in ipairs(oc.Template.list(conn())) do
      if x.name == name then listed = x end
    end
    assert.are.same(t, listed)

    local sb <close> = oc.Sandbox.create(conn{ template = name, timeout = 0 })
    assert.are.equal("built as root\n", sb.files:read("/opt/built.txt"))
    assert.are.equal("key=value\n", sb.files:read("/srv/app/config.txt"))
    assert.are.equal("hello from sandbox\n", sb.files:read("/home/sandbox/who.txt"))
    assert.are.equal("hello\n", sb.exec:run("bash -lc 'echo $GREETING'").stdout)
    -- two sandboxes of one template are each their own
    local sb2 <close> = oc.Sandbox.create(conn{ template = name, timeout = 0 })
    sb.files:write("/home/sandbox/who.txt", "changed")
    assert.are.equal("hello from sandbox\n", sb2.files:read("/home/sandbox/who.txt"))
  end)

  it("streams the build's log to on_build_log, and keeps the tag", function()
    local lines = {}
    local t = oc.Template.build(name, "FROM base\nRUN echo streamed-line\n",
      conn{ tag = "v2", on_build_log = function(l) lines[#lines + 1] = l end })
    assert.are.equal("ready", t.status)
    assert.are.equal("v2", t.tag)
    assert.is_truthy(table.concat(lines, "\n"):find("streamed-line", 1, true),
      table.concat(lines, " | "))
    local sb <close> = oc.Sandbox.create(conn{ template = name, timeout = 0 })
    -- the rebuilt template replaced the first
    assert.is_false(sb.files:exists("/home/sandbox/who.txt"))
  end)

  it("refuses a Dockerfile it cannot build, naming the line", function()
    local e = fails(E.SandboxError, oc.Template.build, name .. "-x",
      "FROM base\nEXPOSE 80\n", conn())
    assert.are.equal(400, e.status)
    assert.matches("dockerfile line 2", e.message)
    fails(E.NotFoundError, oc.Template.get, name .. "-x", conn())
    -- a step that fails: the build fails and the template says so
    e = fails(E.SandboxError, oc.Template.build, name .. "-x",
      "FROM base\nRUN echo no >&2; exit 4\n", conn())
    assert.matches("image build failed: step 0 %(run%) failed %(exit 4%): no", e.message)
    local t = oc.Template.get(name .. "-x", conn())
    assert.are.equal("error", t.status)
    assert.matches("exit 4", t.error_msg)
    oc.Template.delete(name .. "-x", conn())
  end)

  it("deletes; a deleted template is not found", function()
    oc.Template.build(name, "FROM base\n", conn())
    oc.Template.delete(name, conn())
    fails(E.NotFoundError, oc.Template.get, name, conn())
    fails(E.NotFoundError, oc.Template.delete, name, conn())
    local e = fails(E.NotFoundError, oc.Sandbox.create, conn{ template = name })
    assert.matches("template not found", e.message)
  end)

  it("checks its arguments before any request", function()
    misuse("Template.build: the Dockerfile must be a string", oc.Template.build, "x")
    misuse("Template.build: the name is empty", oc.Template.build, "", "FROM base")
    misuse("Template.build: unknown option 'tags'", oc.Template.build, "x",
      "FROM base", { tags = "v1" })
    misuse("Template.build: on_build_log must be a function", oc.Template.build,
      "x", "FROM base", { on_build_log = true })
    misuse("Template.get: options must be a table", oc.Template.get, "x", "url")
    misuse("Template.delete: the name must be a string", oc.Template.delete)
  end)
end)
