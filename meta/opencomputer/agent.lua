---@meta _
-- meta/opencomputer/agent.lua - LuaCATS annotations of sb.agent
-- (lua/opencomputer/sdk/agent.lua, API.md 7, protocol.md 7).

---`sb.agent`: agent sessions (a Claude agent wrapper in the sandbox that
---reads commands and writes events as JSON lines).
---@class oc.Agent
---@field private sandbox oc.Sandbox The sandbox it belongs to.
local Agent = {}

---Start an agent session (7.1). Only the options given are sent (the
---wrapper's defaults: max_turns 50, permission mode bypassPermissions, cwd
---$HOME); `prompt`, when given, is the first prompt. Raises a string
---error for a bad option.
---@async
---@param opts? oc.AgentStartOpts
---@return oc.AgentSession
function Agent:start(opts) end

---Attach to the agent session `session_id`; the events so far are replayed first (7.2).
---@async
---@param session_id string
---@param opts? oc.AgentAttachOpts
---@return oc.AgentSession
function Agent:attach(session_id, opts) end

---The sandbox's agent sessions, in the order they started (7.4).
---@async
---@return oc.AgentSessionInfo[]
function Agent:list() end

---The configuration options of `sb.agent:start` and `session:configure` (7.1, 7.3).
---@class oc.AgentConfig
---@field model? string The model.
---@field system_prompt? string The system prompt.
---@field allowed_tools? string[] The tools it may use.
---@field permission_mode? string e.g. "bypassPermissions" (the wrapper's default).
---@field max_turns? integer Turns per prompt (0 to 2147483647; the wrapper's default 50).
---@field cwd? string Its working directory (default $HOME).
---@field mcp_servers? table<string, oc.McpServer> MCP servers by name.
---@field resume? string A previous Claude session id to resume (a `turn_complete` event's `claude_session_id`).

---The options of `sb.agent:start`.
---@class oc.AgentStartOpts: oc.AgentConfig
---@field prompt? string The first prompt.
---@field on_event? fun(event: oc.AgentEvent) Gets each event; in order, one at a time, may yield.
---@field on_error? fun(message: string) Gets stdout lines that are not JSON ("non-JSON stdout: ..."), too-long lines, and stderr lines without on_stderr.
---@field on_stderr? fun(line: string) Gets the wrapper's stderr, line by line.
---@field on_exit? fun(exit_code: integer) Called once the agent's process ended.

---The options of `sb.agent:attach`.
---@class oc.AgentAttachOpts
---@field on_event? fun(event: oc.AgentEvent) Gets each event (the replay first).
---@field on_error? fun(message: string) As for start.
---@field on_stderr? fun(line: string) As for start.
---@field on_exit? fun(exit_code: integer) As for start.

---The options of `session:configure`: those of `start`'s configuration, and `disallowed_tools`.
---@class oc.AgentConfigureOpts: oc.AgentConfig
---@field disallowed_tools? string[] Tools it must not use.

---An MCP server of `mcp_servers`.
---@class oc.McpServer
---@field command string The program.
---@field args? (string|number)[] Its arguments.
---@field env? table<string, string|number> Its environment.

---An entry of `sb.agent:list()`.
---@class oc.AgentSessionInfo
---@field session_id string The session's id.
---@field sandbox_id string Its sandbox.
---@field running boolean Whether the agent runs.
---@field started_at string When it started (RFC 3339).

---An agent session; a `<close>` variable closes (detaches) it.
---@class oc.AgentSession
---@field session_id string The session's id.
---@field sandbox_id string Its sandbox.
---@field private events oc.AgentEvent[] Every event received so far (the replay included; collect_events gives a copy).
---@field private agent oc.Agent The `sb.agent` it came from.
---@field private exec oc.ExecSession The exec session under it.
local AgentSession = {}

---Yield until the agent's process has exited; its exit code (-1 when the
---connection ended without one). A callback's error is re-raised here.
---@async
---@return integer exit_code
function AgentSession:wait() end

---Yield until the agent has exited; every event this session object
---received (the replay included), in order.
---@async
---@return oc.AgentEvent[]
function AgentSession:collect_events() end

---Send a prompt (7.3): the agent answers with events, then
---`turn_complete`. SandboxError once the session ended or was closed.
---@param text string a non-empty string
function AgentSession:send_prompt(text) end

---Abort the prompt under way; the agent answers `interrupted` (7.3).
function AgentSession:interrupt() end

---Change the configuration for the next prompts (7.3): the options given
---are merged into it; the agent answers `configured`.
---@param opts oc.AgentConfigureOpts
function AgentSession:configure(opts) end

---End the agent's input: the wrapper finishes the commands sent and exits,
---so wait() returns without a kill (oclua's extension, frame 0x05).
function AgentSession:close_stdin() end

---Signal the agent's process (default 9, SIGKILL) (7.4).
---@async
---@param signal? oc.Signal
function AgentSession:kill(signal) end

---Detach: the agent keeps running (`sb.agent:attach` finds it again).
function AgentSession:close() end

---Send one command line on stdin. Internal to the SDK.
---@private
---@param line string
function AgentSession:send_line(line) end

---An agent event: a table with `type` and its data fields (7.2).
---@class oc.AgentEvent
---@field type string The wrapper's "ready", "configured", "turn_complete", "interrupted", "error", or the Claude Agent SDK's "assistant", "user", "result", "system", ...; "unknown" when the line had none.
---@field message? any The message ("error" events: a string; SDK events: the SDK's message).
local AgentEvent = {}

---The field `key` of the event, or `default` when it has none (JSON null counts as none).
---@param key string
---@param default? any
---@return any
function AgentEvent:get(key, default) end
