---@meta _
-- meta/opencomputer/checkpoint.lua - LuaCATS annotations of checkpoints,
-- forks and checkpoint patches (lua/opencomputer/sdk/checkpoint.lua,
-- API.md 3 and 11, protocol.md 8.1, 8.2, 8.4): the oc.Sandbox methods and
-- class functions, the checkpoint and patch tables and their options.

---@class oc.Sandbox
local Sandbox = {}

---Take a checkpoint of the sandbox; the checkpoint as the server answers
---at once, status "processing" (`checkpoint:wait()` for "ready"). Raises a
---string error for an empty name or bad option; ConflictError when the
---sandbox has a checkpoint of that name; SandboxError (the server's 400)
---for a sandbox not running or past its limit.
---@async
---@param name string
---@param opts? oc.CheckpointCreateOpts
---@return oc.Checkpoint
function Sandbox:create_checkpoint(name, opts) end

---The sandbox's checkpoints.
---@async
---@return oc.Checkpoint[]
function Sandbox:list_checkpoints() end

---The checkpoint `id` once its status is "ready", polling the list with a
---backoff from 5 ms to 1 s. Raises SandboxError "checkpoint ... failed:
---..." (field `checkpoint`) when it failed, NotFoundError when the sandbox
---has none of that id, TimeoutError when `timeout` passes first.
---@async
---@param id string checkpoint id
---@param opts? oc.CheckpointWaitOpts
---@return oc.Checkpoint
function Sandbox:wait_checkpoint(id, opts) end

---Put the sandbox's files back to those of checkpoint `id` (ready, taken
---from this sandbox); returns once the restore is done and refreshes
---`sb.status` and `sb.info`. Processes do not survive it. SandboxError
---(400) for a checkpoint still processing, (502) for a failed restore.
---@async
---@param id string checkpoint id
function Sandbox:restore_checkpoint(id) end

---Delete checkpoint `id`; an id the server does not know is fine (404 ignored).
---@async
---@param id string checkpoint id
function Sandbox:delete_checkpoint(id) end

---A new sandbox (a fork) holding the checkpoint's files and configuration;
---its checkpoint patches have run when this returns (a failed one shows as
---`get_info().patch_error`). NotFoundError for an unknown checkpoint.
---@async
---@param checkpoint_id string
---@param opts? oc.ForkOpts
---@return oc.Sandbox
function Sandbox.create_from_checkpoint(checkpoint_id, opts) end

---Add a patch to a checkpoint: a bash script run as the sandbox user once
---in each sandbox later derived from it (at the fork, and after an
---explicit wake), in `sequence` order. Sandboxes already running are not touched.
---@async
---@param checkpoint_id string
---@param script string the bash script
---@param opts? oc.PatchOpts
---@return oc.CheckpointPatch
function Sandbox.create_checkpoint_patch(checkpoint_id, script, opts) end

---The checkpoint's patches in sequence order.
---@async
---@param checkpoint_id string
---@param opts? oc.ConnectionOpts
---@return oc.CheckpointPatch[]
function Sandbox.list_checkpoint_patches(checkpoint_id, opts) end

---Delete a patch; an unknown one is fine (404 ignored). Sandboxes that ran it keep what it did.
---@async
---@param checkpoint_id string
---@param patch_id string
---@param opts? oc.ConnectionOpts
function Sandbox.delete_checkpoint_patch(checkpoint_id, patch_id, opts) end

---A checkpoint: the server's fields in snake_case (protocol.md 8.2) and
---the method `wait`.
---@class oc.Checkpoint
---@field id string The checkpoint's id (a UUID).
---@field sandbox_id string The sandbox it was taken from.
---@field org_id? string The account it belongs to.
---@field name string Its name.
---@field kind string "full" or "disk_only".
---@field status string "processing", "ready" or "failed".
---@field size_bytes? integer Its size in bytes.
---@field created_at string When it was taken (RFC 3339).
---@field is_public? boolean Whether other accounts may fork it.
---@field sandbox_config? table The sandbox's configuration, as the server keeps it.
---@field error_msg? string Why it failed (status "failed").
local Checkpoint = {}

---Wait until this checkpoint is "ready" (as `sb:wait_checkpoint`) and
---update this table; returns it. Raises as `wait_checkpoint`.
---@async
---@param opts? oc.CheckpointWaitOpts
---@return oc.Checkpoint
function Checkpoint:wait(opts) end

---The options of `sb:create_checkpoint` (protocol.md 8.2).
---@class oc.CheckpointCreateOpts
---@field kind? "full"|"disk_only" What is kept (default "full").
---@field retention_policy? oc.RetentionPolicy How many checkpoints the sandbox keeps.
---@field promote_to_full? boolean Make a disk_only checkpoint full later.

---A checkpoint retention policy.
---@class oc.RetentionPolicy
---@field mode "none"|"delete_oldest" Keep all, or delete the oldest past max_count.
---@field max_count? integer How many to keep (a positive integer).

---The options of `sb:wait_checkpoint` and `checkpoint:wait`.
---@class oc.CheckpointWaitOpts
---@field timeout? number Seconds to wait (default 300; 0: no limit).

---The options of `oc.Sandbox.create_from_checkpoint`.
---@class oc.ForkOpts: oc.ConnectionOpts
---@field timeout? number The idle timeout in seconds (default 300; 0: never).
---@field envs? table<string, string|number> Merged over the checkpoint's (these win).
---@field metadata? table<string, string|number> Merged over the checkpoint's (these win).
---@field memory_mb? integer Memory in MiB (at least the checkpoint's): a positive integer, else a string error.

---The options of `oc.Sandbox.create_checkpoint_patch`.
---@class oc.PatchOpts: oc.ConnectionOpts
---@field description? string What the patch does.

---A checkpoint patch (protocol.md 8.4), in snake_case.
---@class oc.CheckpointPatch
---@field id string The patch's id.
---@field checkpoint_id string Its checkpoint.
---@field sequence integer Its place in the order patches run.
---@field script string The bash script.
---@field description string What it does.
---@field strategy string When it runs, e.g. "on_wake".
---@field created_at string When it was added (RFC 3339).
