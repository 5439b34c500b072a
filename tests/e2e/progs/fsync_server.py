"""A small HTTP server for the off-CPU demo: every request appends to a
file and, unless --no-fsync, fsyncs it. It prints its port and pid, then
waits for a line on stdin before serving, so a trace can attach first."""

import http.server
import os
import sys

FSYNC = "--no-fsync" not in sys.argv
DATA = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(DATA, "ab") as f:
            f.write(b"x" * 262144)  # enough data that fsync waits on the disk
            if FSYNC:
                os.fsync(f.fileno())
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], os.getpid(), flush=True)
sys.stdin.readline()
server.serve_forever()
