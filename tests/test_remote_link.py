"""A link to a remote engine that drops mid-`up` (issue 13, faults): devrun warns,
reconnects when the link is back, and the edits made during the outage arrive
(a change, a new file, a delete), with the port forward and the logs working
again. The bed's `link down` cuts every connection through this machine's link
to the box and refuses new ones; `link up` restores it."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import PYTHON, devrun
from tests.live_helpers import free_port, wait_until, write_files
from tests.remote_bed import run_script
from tests.test_remote_up import Up, answers, get, how_env, remote_leftovers

pytestmark = [pytest.mark.remote, pytest.mark.timeout(240)]

SERVER = """\
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("page=" + open("/code/page.txt").read().strip() + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        print("served", flush=True)
print("serving", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""

COMPOSE = """\
services:
  web:
    image: {image}
    command: ["python3", "-u", "/code/server.py"]
    ports: ["{port}:8000"]
    volumes: ["./code:/code"]
    stop_grace_period: 1s
"""


def link(remote_bed, state: str) -> None:
    r = run_script("link", state, env={"DEVRUN_REMOTE_STATE": str(remote_bed.state)})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("how", ["tcp", "ssh"])
def test_edits_made_while_the_link_is_down_arrive_once_it_is_back(remote_bed, tmp_path, how):
    project = f"rlink-{how}-{uuid.uuid4().hex[:6]}"
    port = free_port()
    write_files(
        tmp_path,
        {
            "compose.yaml": COMPOSE.format(image=PYTHON, port=port),
            "code/server.py": SERVER,
            "code/page.txt": "first",
            "code/old.txt": "old",
        },
    )
    # checks go to the engine's own socket: the link under test carries only devrun
    box = remote_bed.client(remote_bed.socket)
    flags, env = how_env(remote_bed, how)
    env = {**env, "DEVRUN_ENGINE_TIMEOUT": "60"}
    up = Up(tmp_path, project, flags, env)

    def in_box(*argv: str) -> tuple[int, str]:
        code, out = box.containers.get(f"{project}-web").exec_run(list(argv))
        return code, out.decode()

    try:
        up.wait_for("ready", timeout=150)
        answers(port, "page=first")
        link(remote_bed, "down")
        try:
            wait_until(lambda: "lost the engine" in up.messages(), 20, what="the drop noticed")
            assert get(port, 2) is None  # the forward has nowhere to go
            (tmp_path / "code" / "page.txt").write_text("second")
            write_files(tmp_path, {"code/sub/new.txt": "new"})
            (tmp_path / "code" / "old.txt").unlink()
            wait_until(lambda: up.of("change"), 10, what="the edits seen")
        finally:
            link(remote_bed, "up")
        wait_until(lambda: "reconnected to the engine" in up.messages(), 60, what="reconnected")
        answers(port, "page=second", 30)  # the sync arrived, and the forward works again
        assert in_box("cat", "/code/sub/new.txt") == (0, "new")
        assert in_box("test", "-e", "/code/old.txt")[0] != 0
        # logs follow again: each request prints a line
        before = len(up.of("log"))
        answers(port, "page=second")
        wait_until(lambda: len(up.of("log")) > before, 10, what="a log line after the drop")
        # and the edits after it arrive as usual
        (tmp_path / "code" / "page.txt").write_text("third")
        answers(port, "page=third", 20)
        assert up.proc.poll() is None
    finally:
        link(remote_bed, "up")
        up.stop()
        print(up.messages(), "".join(up.stderr))
        r = devrun(*flags, "down", "-p", project, cwd=tmp_path, env=env, timeout=90)
        assert r.returncode == 0, r.stderr
        assert remote_leftovers(box, project) == []
        box.close()
