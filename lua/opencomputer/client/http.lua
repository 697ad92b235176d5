-- opencomputer/client/http.lua - the SDK's HTTP primitive over
-- core.http_request, and the retry policy of the SDK's calls.
--
--   http.request(method, url, {headers=, body=, length=, on_body=,
--                              timeout=, raise=, retry=})
--     -> {status=, headers=, body=, reused=, attempts=}
--        (reused: kept-alive connection; attempts: requests made)
--
-- `body` is a string or a function returning successive chunks and then
-- nil (a streamed upload: one chunk in memory at a time). With `on_body`
-- the response body is handed to it chunk by chunk, in order, in this task
-- (and `body` of the result is nil). Transport failures raise SandboxError
-- or TimeoutError; a status of 400 or more raises the class of
-- errors.from_http unless `raise = false`. `retry` (a policy from
-- config.retry_policy: {count=, base=, cap=}) sends the request again
-- after a failure that is safe to retry (M.retryable); without it the
-- request is made once. `timeout` (seconds, 0 or nil: none) bounds all
-- attempts and the waits between them together.

local core = require("opencomputer.core")
local errors = require("opencomputer.sdk.errors")

local M = {}

-- the methods RFC 9110 9.2.2 calls idempotent: sending one again has the
-- effect of sending it once
M.IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true,
  OPTIONS = true, TRACE = true }

local function transport_error(f, method, url, timeout)
  local kind, message = f.kind, f.message
  local fields = { attempts = f.attempts }
  if kind == "timeout" then
    errors.raise(errors.TimeoutError, string.format(
      "%s %s timed out after %gs (%s)", method, url, timeout or 0, message),
      fields)
  elseif kind == "connect" or kind == "resolve" then
    errors.raise(errors.SandboxError, string.format(
      "cannot connect for %s %s: %s", method, url, message), fields)
  end
  errors.raise(errors.SandboxError, string.format("%s %s failed: %s",
    method, url, message), fields)
end

-- One request. The response table, or nil and the failure: {kind=,
-- message=, sent=} for a transport error. st.fed is set once the body
-- function was called (the body cannot be sent again), st.delivered
-- once on_body had a chunk (the response cannot be taken again).
local function once(method, url, opts, timeout, st)
  local body, on_body = opts.body, opts.on_body
  local upload = type(body) == "function"
  local req <close> = core.http_request(method, url, opts.headers,
    not upload and body or nil, {
      timeout = timeout, length = opts.length,
      stream = on_body ~= nil, upload = upload,
    })
  while true do
    local ev, a, b, c, d = req:next()
    if ev == "data" then
      st.delivered = true
      on_body(a)
    elseif ev == "need" then
      st.fed = true
      local chunk = body()
      if chunk ~= nil and type(chunk) ~= "string" then
        error("http.request: the body function returned a " .. type(chunk)
          .. " (want a string, or nil at the end)", 3)
      end
      req:feed(chunk)
    elseif ev == "done" then
      return { status = a, headers = b, body = c, reused = d }
    else
      return nil, { kind = a, message = b, sent = c }
    end
  end
end

--- Whether a request that failed may be sent again (RFC 9110 9.2.2,
-- 15.5.20, 15.6.3 to 15.6.5): `res` the response (nil after a transport
-- failure `f` = {kind=, sent=}), `st` {fed=, delivered=} as once() sets
-- them. Safe: a request of which no byte went out (connection refused or
-- reset; never after a timeout, which has used the call's time, a name
-- that does not resolve, a certificate that does not verify or a bad
-- URL: src/client/http.c's kinds); 429 and 503, which say the request
-- was not processed (protocol.md 9.2: quota, no worker, waking,
-- migrating), for any method;
-- an idempotent method on 502 and 504 and on a connection lost after the
-- request went out. Never once a streamed body was read from its function
-- (it cannot be read again) or a streamed response was handed on.
function M.retryable(method, res, f, st)
  if st.fed or st.delivered then return false end
  if res then
    local s = res.status
    if s == 429 or s == 503 then return true end
    return (s == 502 or s == 504) and M.IDEMPOTENT[method] == true
  end
  if f.kind ~= "connect" and f.kind ~= "transport" then return false end
  return not f.sent or M.IDEMPOTENT[method] == true
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
  Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- seconds since 1970-01-01 of a UTC calendar date and time (the days from
-- the civil date by H. Hinnant's algorithm; os.time reads local time)
local function epoch(y, mo, d, h, mi, s)
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return ((era * 146097 + doe - 719468) * 24 + h) * 3600 + mi * 60 + s
end

--- The wait a Retry-After header value asks for, in seconds from `now`
-- (seconds since 1970, default os.time()): delay-seconds, or an HTTP-date
-- in any of the three forms RFC 9110 5.6.7 has a recipient accept
-- (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday,
-- 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"); a date
-- in the past is 0. nil for anything else (RFC 9110 10.2.3).
function M.retry_after(v, now)
  if type(v) ~= "string" then return nil end
  v = v:match("^%s*(.-)%s*$")
  if v:match("^%d+$") then return tonumber(v) end
  local d, mon, y, h, mi, s = v:match(
    "^%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d then
    d, mon, y, h, mi, s = v:match(
      "^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    if y then	-- two digits: not more than 50 years ahead (RFC 9110 5.6.7)
      y = tonumber(y) + 2000
      if y > os.date("!*t").year + 50 then y = y - 100 end
    end
  end
  if not d then
    mon, d, h, mi, s, y = v:match(
      "^%a%a%a (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  end
  if not d or not MONTHS[mon] then return nil end
  local t = epoch(tonumber(y), MONTHS[mon], tonumber(d), tonumber(h),
    tonumber(mi), tonumber(s))
  return math.max(0, t - (now or os.time()))
end

--- The wait before retry number `n` (1 for the first) under `policy`
-- {base=, cap=} when the server gave no Retry-After, in seconds:
-- capped exponential backoff with "equal jitter",
--   b = min(cap, base * 2^(n-1));  wait = b/2 + uniform(0, b/2)
-- (0.25..0.5 s, then 0.5..1 s, 1..2 s ... with base 0.5).
function M.backoff(policy, n)
  local b = math.min(policy.cap, policy.base * 2 ^ (n - 1))
  return b / 2 + math.random() * b / 2
end

--- The wait before retry `n` under `policy` after the response `res`
-- (nil after a transport failure), in seconds: its Retry-After when it
-- has one, else M.backoff; nil when the Retry-After asks for more than
-- policy.cap (the server is then not asked again).
function M.wait(policy, n, res)
  local after = res and M.retry_after(res.headers["retry-after"])
  if after and after > policy.cap then return nil end
  return after or M.backoff(policy, n)
end

--- With OCLUA_CURL_VERBOSE set, one line on stderr for a retry of
-- `method` `url` after the response `res` or transport failure `f`:
-- attempt `n` of `max` to come after `delay` seconds.
function M.trace(method, url, res, f, n, max, delay)
  if os.getenv("OCLUA_CURL_VERBOSE") == nil then return end
  local what = res and ("HTTP " .. res.status)
    or (f.kind .. " error: " .. tostring(f.message))
  io.stderr:write(string.format(
    "oclua: retry %s %s after %s: attempt %d of %d in %.3fs\n",
    method, url, what, n, max, delay))
end

function M.request(method, url, opts)
  opts = opts or {}
  local body = opts.body
  if body ~= nil and type(body) ~= "function" and type(body) ~= "string" then
    error("http.request: body must be a string or a function", 2)
  end
  local policy = opts.retry
  local max = policy and policy.count + 1 or 1
  local timeout = opts.timeout
  local deadline = timeout and timeout > 0 and core.now() + timeout or nil
  local st = {}
  local n = 0
  while true do
    n = n + 1
    local left = timeout
    if deadline then left = math.max(deadline - core.now(), 0.001) end
    local res, f = once(method, url, opts, left, st)
    if res and res.status < 400 then
      res.attempts = n
      return res
    end
    local delay
    if n < max and M.retryable(method, res, f, st) then
      delay = M.wait(policy, n, res)
      -- nor past the call's timeout
      if delay and deadline and core.now() + delay >= deadline then
        delay = nil
      end
    end
    if not delay then
      if f then
        f.attempts = n
        transport_error(f, method, url, timeout)
      end
      if opts.raise == false then
        res.attempts = n
        return res
      end
      error(errors.from_http(res.status, res.body, method .. " " .. url,
        { attempts = n }), 0)
    end
    M.trace(method, url, res, f, n + 1, max, delay)
    core.sleep(delay)
  end
end

return M
