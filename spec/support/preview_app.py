# spec/support/preview_app.py - a small web app for the preview URL specs,
# the browser check and the proxy benchmark, run inside a sandbox with the
# Python standard library only:  python3 preview_app.py PORT
#
#   GET /              an HTML page whose script opens a WebSocket to /ws
#                      on its own host, sends "ping" and writes the echo
#                      into the page (#ws), for a browser
#   GET /big?n=N       N bytes of the pattern byte(i) = i % 251, streamed
#   GET /chunked?n=N   the same, in chunked encoding
#   GET /head          the request head as the app received it (text)
#   POST /count        reads the body (Content-Length or chunked) and
#                      answers {"bytes": n, "pattern": true|false}:
#                      whether it was the pattern above
#   POST /sink         the same without looking at the bytes (fast)
#   GET /ws            a WebSocket (RFC 6455) that echoes each message
#
# HTTP/1.1 with keep-alive; one thread per connection.
import base64
import hashlib
import json
import socketserver
import struct
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PERIOD = 251
BLOCK = bytes(i % PERIOD for i in range(PERIOD * 4177))  # 1048427 bytes
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>oclua preview</title>
<style>body{font:20px system-ui,sans-serif;margin:2em;background:#eef6ff}
h1{color:#0b4f8a}#ws{font-weight:bold}</style></head>
<body><h1>Hello from the sandbox</h1>
<p>Served by Python inside an oclua sandbox, through its preview URL.</p>
<p>WebSocket echo: <span id="ws">waiting...</span></p>
<script>
const ws = new WebSocket("ws://" + location.host + "/ws");
ws.onopen = () => ws.send("ping");
ws.onmessage = (e) => { document.getElementById("ws").textContent =
  "echoed " + e.data; ws.close(); };
ws.onerror = () => { document.getElementById("ws").textContent = "failed"; };
</script></body></html>
"""


def pattern(offset, n):
    """n bytes of the pattern from position offset"""
    if offset % PERIOD == 0 and n == len(BLOCK):
        return BLOCK
    out = []
    start = offset % PERIOD
    while n > 0:
        piece = BLOCK[start:start + n]
        out.append(piece)
        n -= len(piece)
        start = 0
    return b"".join(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        args = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if path == "/":
            self.send_body(200, "text/html; charset=utf-8", PAGE)
        elif path in ("/big", "/chunked"):
            n = int(args.get("n", "0"))
            chunked = path == "/chunked"
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(n))
            self.end_headers()
            sent = 0
            while sent < n:
                piece = pattern(sent, min(len(BLOCK), n - sent))
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
                sent += len(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        elif path == "/head":
            head = self.requestline + "\r\n" + str(self.headers)
            self.send_body(200, "text/plain", head.encode())
        elif path == "/ws":
            self.websocket()
        else:
            self.send_body(404, "text/plain", b"not here\n")

    def read_body(self):
        """yields the request body's pieces"""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    piece = self.rfile.read(min(left, 1 << 16))
                    left -= len(piece)
                    yield piece
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                piece = self.rfile.read1(min(left, 1 << 20))
                if not piece:
                    return
                left -= len(piece)
                yield piece

    def do_POST(self):
        if self.path not in ("/count", "/sink"):
            self.send_body(404, "text/plain", b"not here\n")
            return
        n, ok, look = 0, True, self.path == "/count"
        for piece in self.read_body():
            ok = ok and (not look or piece == pattern(n, len(piece)))
            n += len(piece)
        self.send_body(200, "application/json",
                       json.dumps({"bytes": n, "pattern": ok}).encode())

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        r, w = self.rfile, self.wfile
        while True:
            head = r.read(2)
            if len(head) < 2:
                break
            op, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", r.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", r.read(8))[0]
            mask = r.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytearray(r.read(n))
            for i in range(len(data)):
                data[i] ^= mask[i % 4]
            if n < 126:
                out = struct.pack("!BB", 0x80 | op, n)
            elif n < 65536:
                out = struct.pack("!BBH", 0x80 | op, 126, n)
            else:
                out = struct.pack("!BBQ", 0x80 | op, 127, n)
            w.write(out + bytes(data))
            if op == 8:
                break
        self.close_connection = True


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    Server(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
