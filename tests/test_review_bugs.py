"""Regressions for bugs found by a fresh-eyes review, each on the real engine
where the behaviour depends on Docker."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from tests.conftest import BUSYBOX
from tests.live_helpers import DevrunUp, free_port

IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


def test_reload_to_a_taken_port_keeps_the_running_container(tmp_path: Path, project_name, docker_client):
    """Changing `ports:` to a port something else holds used to remove the
    running container first and then fail, leaving the service down."""
    port, taken = free_port(), socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()

    def config(published: int) -> str:
        return f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    ports: ["{published}:80"]
"""

    (tmp_path / "devrun.yaml").write_text(config(port))
    with taken, DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        before = docker_client.containers.get(f"{project_name}-app").id
        (tmp_path / "devrun.yaml").write_text(config(taken.getsockname()[1]))
        err = up.wait_for("error", timeout=30)[-1]
        assert "already in use" in err["message"]
        time.sleep(0.3)
        app = docker_client.containers.get(f"{project_name}-app")
        assert app.id == before and app.status == "running"
        assert up.proc.poll() is None
