-- spec/bad_input/http1.lua - bad HTTP/1.1 framing (RFC 9112): the request
-- line, the fields, Content-Length and Transfer-Encoding, chunked bodies;
-- refused by src/server/http1.c before any route runs. Each names the
-- rule's section; the few that must be accepted say so.

local H = "Host: {HOST}\r\n"
local CLOSE = "Connection: close\r\n"
local UPLOAD = "PUT /api/sandboxes/{SANDBOX}/files?path=/tmp/%s HTTP/1.1\r\n"
  .. H .. "X-API-Key: {KEY}\r\nTransfer-Encoding: chunked\r\n" .. CLOSE
  .. "\r\n"

-- a GET of /health with these field lines
local function health(fields, version)
  return "GET /health HTTP/" .. (version or "1.1") .. "\r\n" .. fields .. "\r\n"
end

-- a 400 (or `status`) whose error names `what`, and a closed connection
local function bad(name, send, what, status)
  return { name = name, send = send, status = status or 400, body = what,
    closed = true }
end

-- the file an upload case wrote must not be there
local function no_file(name)
  return function(ctx)
    local out = ctx.run("test -e /tmp/" .. name .. " && echo there || echo none")
    assert(out == "none\n", "/tmp/" .. name .. " is " .. out)
  end
end

local function upload(name, body, what, status)
  local case = bad(name, UPLOAD:format(name:gsub("%W", "-")) .. body, what,
    status)
  case.check = no_file((name:gsub("%W", "-")))
  return case
end

return {
  -- the request line (RFC 9112 3, 2.3)
  bad("two spaces in the request line", "GET  /health HTTP/1.1\r\n" .. H .. "\r\n",
    "request"),
  bad("a tab in the request-target", "GET /hea\tlth HTTP/1.1\r\n" .. H .. "\r\n",
    "request"),
  bad("a non-ASCII byte in the request-target",
    "GET /h\xc3\xa9alth HTTP/1.1\r\n" .. H .. "\r\n", "request"),
  bad("no HTTP version (HTTP/0.9)", "GET /health\r\n\r\n", "request"),
  bad("a lower-case version", "GET /health http/1.1\r\n" .. H .. "\r\n",
    "HTTP version"),
  bad("a version of three digits", "GET /health HTTP/1.10\r\n" .. H .. "\r\n",
    "HTTP version"),
  bad("HTTP/2.0 in a request line", health(H, "2.0"), "not supported", 505),
  bad("an unknown method", "BREW /health HTTP/1.1\r\n" .. H .. "\r\n",
    "unknown method", 501),
  bad("a method in lower case", "get /health HTTP/1.1\r\n" .. H .. "\r\n",
    "unknown method", 501),
  bad("asterisk-form without OPTIONS", "GET * HTTP/1.1\r\n" .. H .. "\r\n",
    "asterisk"),
  bad("a fragment in the request-target", "GET /health#top HTTP/1.1\r\n" .. H
    .. "\r\n", "fragment"),
  bad("a request-target of 9 KiB", "GET /health?" .. ("a"):rep(9 * 1024)
    .. " HTTP/1.1\r\n" .. H .. "\r\n", "longer than 8 KiB", 414),
  { name = "HTTP/1.2 is served as HTTP/1.1", status = 200, closed = true,
    send = health(H .. CLOSE, "1.2") },
  { name = "an empty line before the request line is ignored", status = 200,
    closed = true, send = "\r\n" .. health(H .. CLOSE) },

  -- line ends and field lines (RFC 9112 2.2, 5; RFC 9110 5.5)
  bad("lines ending in a bare LF", "GET /health HTTP/1.1\nHost: x\n\n", "bare LF"),
  bad("obsolete line folding", health(H .. "X-A: a\r\n b\r\n"), "folding"),
  bad("whitespace before the first field", "GET /health HTTP/1.1\r\n " .. H
    .. "\r\n", "folding"),
  bad("a space between a field name and its colon",
    "GET /health HTTP/1.1\r\nHost : {HOST}\r\n\r\n", "colon"),
  bad("a tab between a field name and its colon", health(H .. "X-A\t: 1\r\n"),
    "colon"),
  bad("a field line without a colon", health(H .. "NoColon\r\n"),
    "malformed field line"),
  bad("an empty field name", health(H .. ": x\r\n"), "malformed field line"),
  bad("a field name that is not a token", health(H .. "X(A): 1\r\n"),
    "malformed field line"),
  bad("a bare CR in a field value", health(H .. "X-A: a\rb\r\n"), "bare CR"),
  bad("a NUL in a field value", health(H .. "X-A: a\0b\r\n"), "NUL"),
  bad("a control byte in a field value", health(H .. "X-A: a\1b\r\n"),
    "control character"),
  bad("DEL in a field value", health(H .. "X-A: a\127b\r\n"), "control character"),
  bad("101 fields", health(H .. ("X-A: 1\r\n"):rep(100)), "more than 100", 431),
  bad("a head of 70 KiB", health(H .. "X-Big: " .. ("b"):rep(70 * 1024) .. "\r\n"),
    "larger than 64 KiB", 431),

  -- Host (RFC 9112 3.2)
  bad("HTTP/1.1 without Host", health(""), "without Host"),
  bad("two Host fields", health(H .. H), "more than one Host"),
  bad("a Host with a space", health("Host: a b\r\n"), "invalid Host"),
  bad("a Host with a bad port", health("Host: a:8x\r\n"), "invalid Host"),
  { name = "HTTP/1.0 without Host is served", status = 200, closed = true,
    send = health("", "1.0") },

  -- Content-Length (RFC 9110 8.6; RFC 9112 6.3)
  bad("a Content-Length that is not a number",
    health(H .. "Content-Length: abc\r\n"), "Content%-Length"),
  bad("a Content-Length with a sign", health(H .. "Content-Length: +5\r\n")
    .. "hello", "Content%-Length"),
  bad("a Content-Length list", health(H .. "Content-Length: 5, 5\r\n") .. "hello",
    "Content%-Length"),
  bad("two equal Content-Lengths", health(H .. "Content-Length: 5\r\n"
    .. "Content-Length: 5\r\n") .. "hello", "more than one Content%-Length"),
  bad("a Content-Length of 20 digits", health(H .. "Content-Length: "
    .. ("9"):rep(20) .. "\r\n"), "Content%-Length"),

  -- Transfer-Encoding (RFC 9112 6.1, 6.3)
  bad("Transfer-Encoding with Content-Length",
    health(H .. "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")
    .. "0\r\n\r\n", "both"),
  bad("a final coding other than chunked",
    health(H .. "Transfer-Encoding: gzip\r\n") .. "abc", "final"),
  bad("chunked, then another coding on a second line",
    health(H .. "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n")
    .. "0\r\n\r\n", "final"),
  bad("a coding before chunked", health(H .. "Transfer-Encoding: gzip, chunked\r\n")
    .. "0\r\n\r\n", "not implemented", 501),
  bad("chunked twice", health(H .. "Transfer-Encoding: chunked, chunked\r\n")
    .. "0\r\n\r\n", "more than once"),
  bad("Transfer-Encoding in HTTP/1.0", health(H ..
    "Transfer-Encoding: chunked\r\n", "1.0") .. "0\r\n\r\n", "HTTP/1%.0"),

  -- chunked bodies (RFC 9112 7.1): 400, closed, and no file
  upload("chunk data not followed by CRLF", "5\r\nhelloXY0\r\n\r\n", "CRLF"),
  upload("a chunk size that is not hexadecimal", "zz\r\nhello\r\n0\r\n\r\n",
    "hexadecimal"),
  upload("a space after the chunk size", "5 \r\nhello\r\n0\r\n\r\n",
    "chunk extension"),
  upload("a chunk size of 2^72", "1000000000000000000\r\nhello\r\n0\r\n\r\n",
    "2%^63"),
  upload("a chunk-size line ending in a bare LF", "5\nhello\r\n0\r\n\r\n",
    "bare LF"),
  upload("a control byte in a chunk extension", "5;a\1\r\nhello\r\n0\r\n\r\n",
    "chunk extension"),
  upload("a chunk extension without a name", "5;=x\r\nhello\r\n0\r\n\r\n",
    "without a name"),
  upload("an unterminated quoted chunk extension",
    "5;a=\"b\r\nhello\r\n0\r\n\r\n", "quoted"),
  upload("a trailer line that is not a field", "5\r\nhello\r\n0\r\n"
    .. "bad trailer\r\n\r\n", "field"),
  upload("obsolete folding in a trailer", "5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n",
    "folding"),
  upload("garbage after 1 MiB of good chunks", ("100000\r\n" .. ("z"):rep(0x100000)
    .. "\r\n"):rep(2) .. "5\r\nhelloXY", "CRLF"),
  { name = "chunk extensions and trailers that follow the grammar are accepted",
    status = 204, closed = true,
    send = UPLOAD:format("ext-ok") .. "5 ; a = b ;c=\"d \\\" e\"\r\nhello\r\n"
      .. "0;last\r\nX-Checksum: 1\r\n\r\n",
    check = function(ctx)
      assert(ctx.run("cat /tmp/ext-ok") == "hello", "the file is not 'hello'")
    end },
}
