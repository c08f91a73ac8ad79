"""A tiny HTTP app. The request handler lives in handler.py and is re-imported
on SIGHUP, so `signal: HUP` shows an edit without restarting the process."""

import http.server
import importlib
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
# no handler .pyc: it is checked by mtime in whole seconds and size, so a reload
# after a same-size edit within the same second would run the old code
sys.dont_write_bytecode = True
import handler  # noqa: E402

PORT = int(os.environ.get("PORT", "8000"))


def reload(signum, frame):
    importlib.reload(handler)
    print(f"reloaded handler (pid {os.getpid()})", flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = handler.respond(self.path)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


signal.signal(signal.SIGHUP, reload)
server = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
print(f"listening on :{PORT} (pid {os.getpid()})", flush=True)
server.serve_forever()
