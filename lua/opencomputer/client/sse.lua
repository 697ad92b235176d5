-- opencomputer/client/sse.lua - a build streamed as server-sent events
-- (protocol.md 2.2.1): the image and snapshot paths of a sandbox create
-- and the snapshot create (8.5) answer `Accept: text/event-stream` with
-- `build_log` events, then one `result` or one `error`.
--
-- The body is parsed as its bytes arrive (the HTTP client's on_body, whose
-- transfer pauses while more than 1 MiB waits), so each build_log line
-- reaches the caller's callback while the build still runs.

local errors = require("opencomputer.sdk.errors")
local json = require("opencomputer.runtime.json")

local M = {}

-- the longest line of the stream held while it arrives (a `result` is one
-- line: a snapshot's manifest carries its files in base64)
M.MAX_LINE = 256 << 20

--- A parser for an event stream (the WHATWG event-stream format, which
-- protocol.md 2.2.1's `event: <name>\ndata: <json>\n\n` is an instance
-- of): returns feed(chunk), to call with each piece of the body in order.
-- `on_event(name, data)` is called in the caller of feed once per event
-- that has data (name "message" when the event has none; several data
-- lines joined with "\n"); comment lines (": keepalive") are skipped; a
-- line may end with "\n", "\r\n" or "\r". A line longer than MAX_LINE
-- raises SandboxError.
function M.parser(on_event)
  local pieces, held = {}, 0	-- the line under way
  local name, data = nil, nil
  local after_cr = false	-- the last chunk ended with "\r"

  local function line(text)
    if text == "" then
      if data then on_event(name or "message", table.concat(data, "\n")) end
      name, data = nil, nil
      return
    end
    if text:byte(1) == 58 then return end	-- ":" comment
    local field, value = text:match("^([^:]*):? ?(.*)$")	-- no colon: value ""
    if field == "event" then
      name = value
    elseif field == "data" then
      data = data or {}
      data[#data + 1] = value
    end	-- id, retry and unknown fields are of no use here
  end

  return function(chunk)
    local at, n = 1, #chunk
    if after_cr and chunk:byte(1) == 10 then at = 2 end	-- "\r" then "\n"
    after_cr = false
    while at <= n do
      local eol = chunk:find("[\r\n]", at)
      if not eol then
        held = held + (n - at + 1)
        if held > M.MAX_LINE then
          errors.raise(errors.SandboxError, "event stream: a line longer "
            .. "than " .. M.MAX_LINE .. " bytes")
        end
        pieces[#pieces + 1] = chunk:sub(at)
        break
      end
      local text = chunk:sub(at, eol - 1)
      if #pieces > 0 then
        pieces[#pieces + 1] = text
        text = table.concat(pieces)
        pieces, held = {}, 0
      end
      at = eol + 1
      if chunk:byte(eol) == 13 then
        if eol == n then after_cr = true
        elseif chunk:byte(at) == 10 then at = at + 1 end
      end
      line(text)
    end
  end
end

--- POST `path` on the API client `c` (client/api.lua) with the JSON
-- `body` and `Accept: text/event-stream`, following the build
-- (protocol.md 2.2.1): each `build_log` event's message goes to
-- `on_build_log(message, event)` (event: the decoded data, {step=, type=,
-- message=}) as it arrives, in this task, which it may suspend (the
-- stream then waits for it); an error it raises ends the stream (the
-- server may still finish the build) and is raised from here. Returns the
-- decoded `result`. Raises SandboxError "Build failed: <message>" on an
-- `error` event and "No result received from build stream" when the
-- stream ends without either; the HTTP status's class for an answer of
-- 400 or more (a request the server refused before streaming). A server
-- that answers plain JSON instead of a stream (it ignored the Accept
-- header) gives that JSON as the result. No timeout: a build takes what
-- it takes (the server writes a keepalive every 15 s).
function M.build(c, path, body, on_build_log, fields)
  local result, failure
  local raw, raw_len, seen = {}, 0, false	-- the body, until an event shows it is a stream
  local feed = M.parser(function(name, data)
    seen = true
    if result or failure then return end	-- nothing counts after the end
    if name == "build_log" then
      local ev = json.decode(data)
      local msg = type(ev) == "table" and type(ev.message) == "string"
        and ev.message or data
      if on_build_log then
        on_build_log(msg, type(ev) == "table" and ev or { message = msg })
      end
    elseif name == "error" then
      local ev = json.decode(data)
      failure = type(ev) == "table" and type(ev.error) == "string"
        and ev.error or data
    elseif name == "result" then
      result = json.decode(data)
      if type(result) ~= "table" then
        errors.raise(errors.SandboxError, "bad JSON in the build's result "
          .. "event: " .. data:sub(1, 200), fields)
      end
    end
  end)
  local _, res = c:call("POST", path, { body = body, fields = fields,
    headers = { Accept = "text/event-stream" },
    on_body = function(chunk)
      if not seen and raw_len < (1 << 20) then
        raw[#raw + 1] = chunk
        raw_len = raw_len + #chunk
      end
      feed(chunk)
      if failure then
        errors.raise(errors.SandboxError, "Build failed: " .. failure, fields)
      end
    end })
  feed("\n\n")	-- a last event the server did not end with a blank line
  if failure then
    errors.raise(errors.SandboxError, "Build failed: " .. failure, fields)
  end
  if result then return result end
  local ctype = res and res.headers and res.headers["content-type"] or ""
  if not seen and not ctype:find("text/event-stream", 1, true) then
    local doc = json.decode(table.concat(raw))
    if type(doc) == "table" then return doc end
  end
  errors.raise(errors.SandboxError, "No result received from build stream", fields)
end

return M
