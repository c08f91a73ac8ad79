"""The projects bench/remote.py runs on the remote engine, one per tool: an app
whose answer shows each kind of edit, and a 10,000-file tree."""

from __future__ import annotations

import os
import random
from pathlib import Path

PYTHON = os.environ.get("DEVRUN_PYTHON_IMAGE", "python:3.11-slim")
BUSYBOX = os.environ.get("DEVRUN_BUSYBOX_IMAGE", "busybox:stable")
KINDS = ("sync", "restart", "signal")
FILES = {"sync": "page.txt", "restart": "boot.txt", "signal": "sig.txt"}
TREE_DIRS, TREE_FILES, TREE_FILE_BYTES = 100, 100, 10_240  # 10,000 files, 102.4 MB

APP = """\
import http.server, signal
def read(name):
    with open("/code/" + name) as f:
        return f.read().strip()
boot = read("boot.txt")
state = {"sig": read("sig.txt")}
signal.signal(signal.SIGHUP, lambda *a: state.update(sig=read("sig.txt")))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"page={read('page.txt')} boot={boot} sig={state['sig']}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("serving", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""
# compose copies the files in after the container started: the app waits for them
COMMAND = '["sh", "-c", "until [ -f /code/server.py ]; do sleep 0.05; done; exec python3 -u /code/server.py"]'

COMPOSE_EDITS = """\
services:
  app:
    image: @PYTHON@
    command: @COMMAND@
    init: true  # the app is not PID 1, so SIGTERM stops it at once and the HUP reaches it
    ports: ["@PORT@:8000"]
    develop:
      watch:
        - {path: ./code/boot.txt, action: sync+restart, target: /code/boot.txt}
        - {path: ./code/sig.txt, action: sync+exec, target: /code/sig.txt, exec: {command: ["sh", "-c", "kill -HUP 1"]}}
        - {path: ./code, action: sync, target: /code, initial_sync: true}
"""
DEVRUN_EDITS = """\
services:
  app:
    image: @PYTHON@
    command: @COMMAND@
    ports: ["@PORT@:8000"]
    volumes: ["./code:/code"]
    x-devrun:
      watch:
        - {path: ./code/boot.txt, action: restart}
        - {path: ./code/sig.txt, action: signal, signal: SIGHUP}
"""
COMPOSE_TREE = """\
services:
  files:
    image: @BUSYBOX@
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - {path: ./tree, action: sync, target: /tree, initial_sync: true}
"""
DEVRUN_TREE = """\
services:
  files:
    image: @BUSYBOX@
    command: ["sleep", "3600"]
    init: true
    volumes: ["./tree:/tree"]
"""


def fill(template: str, port: int = 0) -> str:
    return (
        template.replace("@PYTHON@", PYTHON)
        .replace("@BUSYBOX@", BUSYBOX)
        .replace("@COMMAND@", COMMAND)
        .replace("@PORT@", str(port))
    )


def make_tree(root: Path) -> int:
    """10,000 files of source-like text (compresses about as code does), 102.4 MB."""
    words = [
        "def", "return", "self", "import", "value", "items", "for", "in", "if", "else", "config",
        "result", "None", "True", "print", "class", "name", "path", "data", "index", "=", "(", ")", ":",
    ]  # fmt: skip
    rng = random.Random(13)
    total = 0
    for d in range(TREE_DIRS):
        sub = root / f"pkg{d:03d}"
        sub.mkdir(parents=True)
        for f in range(TREE_FILES):
            out, size = [], 0
            while size < TREE_FILE_BYTES:
                line = (
                    "    "
                    + " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
                    + f"  # {rng.random()}\n"
                )
                out.append(line)
                size += len(line)
            body = "".join(out)[:TREE_FILE_BYTES].encode()
            (sub / f"mod{f:03d}.py").write_bytes(body)
            total += len(body)
    return total
