---@meta _
-- meta/opencomputer/snapshot.lua - LuaCATS annotations of oc.Snapshot
-- (lua/opencomputer/sdk/snapshot.lua, API.md 11, protocol.md 8.5).

---Named, pre-built images: `oc.Snapshot.create{name=, image=}`, then
---`oc.Sandbox.create{snapshot = name}`.
---@class oc.Snapshot
local Snapshot = {}

---Build a snapshot from an oc.Image; returns once built (status "ready").
---`on_build_log(line, event)` gets each line of the build's log as it
---arrives, in this task (it may yield; the stream waits for it). Raises a
---string error for a bad option; ConflictError when the name is taken;
---SandboxError "Build failed: ..." when a step fails.
---@async
---@param opts oc.SnapshotCreateOpts
---@return oc.SnapshotInfo
function Snapshot.create(opts) end

---The snapshot `name`; NotFoundError when there is none.
---@async
---@param name string
---@param opts? oc.ConnectionOpts
---@return oc.SnapshotInfo
function Snapshot.get(name, opts) end

---The named snapshots.
---@async
---@param opts? oc.ConnectionOpts
---@return oc.SnapshotInfo[]
function Snapshot.list(opts) end

---Delete the snapshot `name`; one that does not exist is fine (404 ignored).
---@async
---@param name string
---@param opts? oc.ConnectionOpts
function Snapshot.delete(name, opts) end

---The options of `oc.Snapshot.create`.
---@class oc.SnapshotCreateOpts: oc.ConnectionOpts
---@field name string The snapshot's name (non-empty).
---@field image oc.Image The image to build.
---@field on_build_log? fun(line: string, event: oc.BuildLogEvent) Gets the build's log line by line.

---A snapshot: the server's fields in snake_case (protocol.md 8.5).
---@class oc.SnapshotInfo
---@field id string Its id.
---@field name string Its name.
---@field org_id? string The account.
---@field status string "building", "ready" or "failed".
---@field content_hash string The hash of its manifest (the server's cache key).
---@field checkpoint_id? string The checkpoint that backs it.
---@field manifest table The manifest, as sent.
---@field created_at string When it was made (RFC 3339).
---@field last_used_at? string When a sandbox last started from it (RFC 3339).
