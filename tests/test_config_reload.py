"""Config hot reload under a real `devrun up`: a valid edit of devrun.yaml
recreates only the services it changes, an invalid one is shown while the
old config keeps running, a .env edit counts as a config edit, and a reload
to a port something else holds keeps the running container."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.conftest import BUSYBOX
from tests.live_helpers import IDLE, DevrunUp, exec_out, free_port, wait_until, write_files


def test_config_hot_reload_valid_then_invalid(tmp_path, project_name, docker_client):
    def config(greeting: str, extra: str = "") -> str:
        return f"""
services:
  app:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
    environment:
      GREETING: {greeting}
  other:
    image: {BUSYBOX}
    command: {json.dumps(IDLE)}
{extra}"""

    write_files(tmp_path, {"devrun.yaml": config("one")})
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        other_id = docker_client.containers.get(f"{project_name}-other").id
        (tmp_path / "devrun.yaml").write_text(config("two"))
        ev = up.wait_for("config_reloaded", timeout=30)[-1]
        assert ev["services_changed"] == ["app"]
        assert exec_out(docker_client, f"{project_name}-app", "sh", "-c", "echo $GREETING").strip() == "two"
        assert docker_client.containers.get(f"{project_name}-other").id == other_id  # untouched
        app_id = docker_client.containers.get(f"{project_name}-app").id
        # an invalid edit: the error is shown, the old config keeps running
        (tmp_path / "devrun.yaml").write_text(config("three", "    bogus: 1\n"))
        err = up.wait_for("error", timeout=30)[-1]
        assert "devrun.yaml:" in err["message"] and "bogus" in err["message"]
        # the warning that ends the refused reload: whatever it did is done by now
        wait_until(
            lambda: any("keep the previous config" in w["message"] for w in up.of("warning")),
            30,
            what="the refused reload's closing warning",
        )
        assert docker_client.containers.get(f"{project_name}-app").id == app_id
        assert up.proc.poll() is None
        # fixing it applies again; a .env edit counts as a config edit too
        (tmp_path / "devrun.yaml").write_text(config("${GREETING_FROM_ENV:-unset}"))
        up.wait_for("config_reloaded", timeout=30, count=2)
        (tmp_path / ".env").write_text("GREETING_FROM_ENV=from-dotenv\n")
        up.wait_for("config_reloaded", timeout=30, count=3)
        assert (
            exec_out(docker_client, f"{project_name}-app", "sh", "-c", "echo $GREETING").strip()
            == "from-dotenv"
        )


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
        # the error is the refused reload's last step: anything it stopped or
        # removed, it did before saying so
        err = up.wait_for("error", timeout=30)[-1]
        assert "already in use" in err["message"]
        app = docker_client.containers.get(f"{project_name}-app")
        assert app.id == before and app.status == "running"
        assert up.proc.poll() is None
