"""examples/compose-import end to end on the real engine: `devrun init` writes
nothing (compose.yaml runs as it is), `devrun up` serves the page, an edit
under ./site is synced and an edit under ./app restarts the service."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO, devrun
from tests.live_helpers import free_port, wait_until

SCHEMA = json.loads((REPO / "docs" / "events.schema.json").read_text())
PORT = free_port()  # compose.yaml publishes ${COMPOSE_IMPORT_PORT:-8083}
URL = f"http://127.0.0.1:{PORT}/"


def fetch() -> str:
    try:
        with urllib.request.urlopen(URL, timeout=2) as answer:
            return answer.read().decode()
    except OSError as e:
        return f"unreachable: {e}"


def while_running(proc: subprocess.Popen, check, what: str):
    """`check`, failing at once if `proc` (devrun up) has exited meanwhile."""

    def check_while_running():
        got = check()
        if not got and proc.poll() is not None:
            pytest.fail(
                f"devrun up exited with {proc.returncode} while waiting for {what}: {proc.stderr.read()}"  # type: ignore[union-attr]
            )
        return got

    return check_while_running


class EventReader:
    """Collects `up --json` events from a thread so the test can poll them."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.events: list[dict] = []
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line)

    def drain(self) -> list[dict]:
        while not self.lines.empty():
            self.events.append(json.loads(self.lines.get()))
        return self.events

    def saw(self, kind: str, **fields) -> bool:
        return any(e["event"] == kind and all(e.get(k) == v for k, v in fields.items()) for e in self.drain())


@pytest.mark.docker
def test_compose_import_example_runs(tmp_path: Path, docker_client, project_name: str) -> None:
    example = tmp_path / "compose-import"
    shutil.copytree(REPO / "examples" / "compose-import", example)
    (example / "devrun.yaml").unlink(missing_ok=True)
    assert devrun("init", cwd=example).returncode == 0
    assert not (example / "devrun.yaml").exists()

    proc = subprocess.Popen(
        [sys.executable, "-m", "devrun", "-p", project_name, "up", "--json"],
        cwd=example,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COMPOSE_IMPORT_PORT": str(PORT)},
    )
    reader = EventReader(proc)
    err = ""
    try:
        wait_until(while_running(proc, lambda: reader.saw("ready"), "ready"), 60, what="ready")
        wait_until(lambda: "Hello from a compose project" in fetch(), 10, what="the page (initial sync)")

        (example / "site" / "index.html").write_text("<h1>edited by the test</h1>\n")
        wait_until(lambda: "edited by the test" in fetch(), 10, what="the synced edit")

        (example / "app" / "greeting.txt").write_text("bonjour\n")
        wait_until(
            lambda: reader.saw("log", service="web", line="web: starting, greeting is bonjour"),
            15,
            what="the restart",
        )
        wait_until(lambda: "edited by the test" in fetch(), 10, what="the page after the restart")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert "Traceback" not in err, err
    for event in reader.drain():
        jsonschema.validate(event, SCHEMA)
