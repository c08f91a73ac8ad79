"""The benchmark's service: a tiny HTTP server on python:3.11-slim (no pip needed).

"snapshot" mode reads the value file at start and on SIGHUP, so only a restart or a
reload shows an edit; "live" mode reads it on every request, so a sync alone shows it.
The answer also carries $APP_TOKEN, which the rebuild scenario changes in the Dockerfile."""

from __future__ import annotations

IMAGE = "python:3.11-slim"
# the second service of the command-startup project
WORKER_IMAGE = "busybox:stable"
APP_PATH = "/app/app.py"
PORT = 8000

APP_SOURCE = """\
import os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("APP_MODE", "snapshot")
VALUE_FILE = os.environ.get("APP_VALUE_FILE", "/srv/value.txt")


def read():
    try:
        with open(VALUE_FILE) as f:
            return f.read().strip()
    except OSError:
        return ""


state = {"value": read()}


def on_hup(signum, frame):
    state["value"] = read()


signal.signal(signal.SIGHUP, on_hup)
signal.signal(signal.SIGTERM, lambda s, f: sys.exit(0))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        value = read() if MODE == "live" else state["value"]
        body = f"value={value} env={os.environ.get('APP_TOKEN', '')}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", PORT_NUMBER), Handler).serve_forever()
""".replace("PORT_NUMBER", str(PORT))


def dockerfile(token: str) -> str:
    """The rebuild scenario's Dockerfile; an edit changes only the ENV line."""
    return (
        f'FROM {IMAGE}\nCOPY app.py {APP_PATH}\nENV APP_TOKEN={token}\nCMD ["python3", "-u", "{APP_PATH}"]\n'
    )
