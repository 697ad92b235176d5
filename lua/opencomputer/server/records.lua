-- opencomputer/server/records.lua - the local server's JSON records on
-- disk (under --data-dir): sandboxes' meta.json (sandbox.lua),
-- checkpoints (checkpoint.lua), images and snapshots (image.lua),
-- templates (template_build.lua). One writer, whole or not at all; one
-- reader, which checks a record against its schema (request.lua's rules)
-- since an older server or a hand may have changed it.

local json = require("opencomputer.runtime.json")
local http = require("opencomputer.server.http")
local request = require("opencomputer.server.request")

local M = {}

--- Write `doc` (a table, JSON-encodable) as the JSON file `file`,
-- whole or not at all: a temporary file beside it, renamed over it.
-- With `keys` (a list of field names) only those fields of `doc`.
-- Raises when it cannot be written.
function M.write(file, doc, keys)
  if keys then
    local picked = {}
    for _, k in ipairs(keys) do picked[k] = doc[k] end
    doc = picked
  end
  local f = assert(io.open(file .. ".tmp", "w"))
  local ok, err = f:write(json.encode(doc))
  f:close()
  if not ok then
    os.remove(file .. ".tmp")
    error(err, 0)
  end
  assert(os.rename(file .. ".tmp", file))
end

--- The record in the JSON file `path`, checked against `schema` as
-- request.check does (messages start with `where`): the decoded object,
-- or nil and why not. Never raises.
function M.read(path, schema, where)
  local f, err = io.open(path)
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  local ok, doc = pcall(function()
    return request.check(request.decode(text or ""), schema, where)
  end)
  if not ok then
    return nil, http.message(doc)
  end
  return doc
end

--- The records DIR/<key>.json (DIR is made if missing; names starting
-- with a dot are not listed), each read with M.read: a list of {key,
-- doc} or {key, why}, in the order of their names.
function M.read_dir(dir, schema, where)
  os.execute("mkdir -p '" .. dir .. "'")
  local out = {}
  local p = io.popen("ls -1 '" .. dir .. "' 2>/dev/null")
  for file in p:lines() do
    local key = file:match("^(.+)%.json$")
    if key then
      local doc, why = M.read(dir .. "/" .. file, schema, where)
      out[#out + 1] = { key = key, doc = doc, why = why }
    end
  end
  p:close()
  return out
end

return M
