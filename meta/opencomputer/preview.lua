---@meta _
-- meta/opencomputer/preview.lua - LuaCATS annotations of preview URLs
-- (lua/opencomputer/sdk/preview.lua, protocol.md 8.8) and signed file
-- URLs (lua/opencomputer/sdk/signed.lua, protocol.md 5.1): the oc.Sandbox
-- methods, their options and the preview table.

---@class oc.Sandbox
local Sandbox = {}

---The preview of `port` (1 to 65535): a new one, or the one that port
---already has; `.url` is the URL to open. Raises a string error for a bad
---port or option; SandboxError (the server's 400) when the sandbox is not running.
---@async
---@param port integer
---@param opts? oc.PreviewCreateOpts
---@return oc.Preview
function Sandbox:create_preview_url(port, opts) end

---The sandbox's previews, by port.
---@async
---@return oc.Preview[]
function Sandbox:list_preview_urls() end

---Delete the preview of `port`: its URL stops working. A port without one
---is fine (404 ignored).
---@async
---@param port integer
function Sandbox:delete_preview_url(port) end

---A new preview token (also kept as `sb.preview_auth_token`); the old one
---stops working at once, and a sandbox without one has its previews gated
---from now on (protocol.md 8.8).
---@async
---@return string token
function Sandbox:rotate_preview_auth_token() end

---A signed URL that reads the file at `path` with a plain GET, no API key
---needed, until `expires_at`. The server checks neither the sandbox's
---files nor the path until the URL is used. Raises a string error for an
---empty path or a bad option.
---@async
---@param path string
---@param opts? oc.SignedUrlOpts
---@return string url
---@return string expires_at the server's RFC 3339 UTC time, e.g. "2025-01-02T03:04:05Z"
function Sandbox:download_url(path, opts) end

---A signed URL that writes the file at `path`: a PUT of its bytes (parents
---made, 204), no API key needed, until `expires_at`.
---@async
---@param path string
---@param opts? oc.SignedUrlOpts
---@return string url
---@return string expires_at the server's RFC 3339 UTC time
function Sandbox:upload_url(path, opts) end

---The options of `sb:create_preview_url`.
---@class oc.PreviewCreateOpts
---@field domain? string A custom domain of the account (the local server takes only its own).
---@field auth_config? table Stored and echoed as `auth_config`.

---The options of `sb:download_url` and `sb:upload_url`.
---@class oc.SignedUrlOpts
---@field expires_in? number Seconds the URL works (default 3600; 0 or less means 3600; more than 86400 means 86400).

---A preview URL: the server's fields in snake_case (protocol.md 8.8) and `url`.
---@class oc.Preview
---@field url string The URL to open: http:// for a host under localhost (the local server), else https://.
---@field id string The preview's id.
---@field sandbox_id string Its sandbox.
---@field org_id? string The account.
---@field hostname string The host name it is served under.
---@field port integer The sandbox's port.
---@field ssl_status? string The TLS certificate's state.
---@field auth_config? table As given at create.
---@field created_at string When it was made (RFC 3339).
---@field custom_hostname? string The custom domain's host name, when the server has one.
