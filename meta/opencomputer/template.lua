---@meta _
-- meta/opencomputer/template.lua - LuaCATS annotations of oc.Template
-- (lua/opencomputer/sdk/template.lua, API.md 7, protocol.md 8.7).

---Sandbox templates built from a Dockerfile; start a sandbox from one with
---`oc.Sandbox.create{template = name}`.
---@class oc.Template
local Template = {}

---Build the template `name` from the Dockerfile's text; the template as
---the server answers (`status` says whether it is ready; the local server
---answers once the build has ended). Raises SandboxError for a refused
---Dockerfile (400, naming the line) or a failed build (500 "image build
---failed: ...", or with on_build_log "Build failed: ...").
---@async
---@param name string
---@param dockerfile string the Dockerfile's text
---@param opts? oc.TemplateBuildOpts
---@return oc.TemplateInfo
function Template.build(name, dockerfile, opts) end

---The templates.
---@async
---@param opts? oc.ConnectionOpts
---@return oc.TemplateInfo[]
function Template.list(opts) end

---The template `name`; NotFoundError when there is none.
---@async
---@param name string
---@param opts? oc.ConnectionOpts
---@return oc.TemplateInfo
function Template.get(name, opts) end

---Delete the template `name`; NotFoundError when there is none.
---@async
---@param name string
---@param opts? oc.ConnectionOpts
function Template.delete(name, opts) end

---The options of `oc.Template.build`.
---@class oc.TemplateBuildOpts: oc.ConnectionOpts
---@field tag? string The tag.
---@field on_build_log? fun(line: string, event: oc.BuildLogEvent) Gets the build's log line by line as it comes (an event stream: oclua's extension).

---A template: the server's fields in snake_case (protocol.md 8.7).
---@class oc.TemplateInfo
---@field template_id string Its id.
---@field name string Its name.
---@field tag? string Its tag.
---@field status string "ready", "building" or "error".
---@field image_id? string Its image.
---@field build_id? string Its build.
---@field created_at string When it was made (RFC 3339).
---@field error_msg? string A failed build's message.
