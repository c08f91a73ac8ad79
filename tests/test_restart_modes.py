"""How a service restarts: `restart_mode: process` on an image without
/bin/sh falls back to container restarts and says so, and container mode
restarts the whole container under a real `devrun up`, its logs reattached."""

from __future__ import annotations

import pytest

from tests.conftest import BUSYBOX
from tests.live_helpers import DevrunUp, read, wait_until, write_files


@pytest.mark.parametrize(
    ("svc", "has_shell", "says"),
    [
        ({"restart_mode": "process"}, False, "has no /bin/sh"),
        ({"watch": [{"path": ".", "action": "restart"}]}, False, "has no /bin/sh"),
        (
            {"restart_mode": "process", "watch": [{"path": ".", "action": "signal", "signal": "USR2"}]},
            True,
            "SIGUSR2",
        ),
        ({"restart_mode": "process"}, True, None),  # gets what it asked for
        ({"restart_mode": "container"}, False, None),  # asked for container restarts
        ({}, False, None),  # auto, nothing restarts: nothing to say
    ],
)
def test_process_restart_fallback_is_said(svc, has_shell, says):
    """`restart_mode: process` on an image without /bin/sh silently became
    container restarts; design.md promises devrun says so."""
    from devrun import plan
    from devrun.config.model import Project

    service = Project.model_validate({"services": {"s": {"image": "scratch-app", **svc}}}).services["s"]
    note = plan.restart_mode_note(
        "s", service, plan.ImageInfo("scratch-app", "sha256:1", has_shell=has_shell)
    )
    assert (note is None) if says is None else (says in note and note.startswith("service s:"))


def test_container_restart_mode_restarts_the_container(tmp_path, project_name, docker_client):
    write_files(
        tmp_path,
        {
            "devrun.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    restart_mode: container
    command: ["sh", "-c", "echo start >> /state/starts; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    volumes: ["./state:/state", "./src:/src"]
    watch:
      - path: src
        action: restart
""",
            "src/a.txt": "0",
            "state/.keep": "",
        },
    )
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=60)
        wait_until(lambda: read(tmp_path / "state/starts").count("start") == 1, 10)
        (tmp_path / "src/a.txt").write_text("1")
        ev = up.wait_for("action_finished", timeout=30)[-1]
        assert ev["action"] == "restart (container)" and ev["ok"]
        wait_until(lambda: read(tmp_path / "state/starts").count("start") == 2, 10)
        # logs reattach after the restart: a line printed after it still arrives
        docker_client.containers.get(f"{project_name}-app").exec_run(
            ["sh", "-c", "echo marker-after-restart > /proc/1/fd/1"]
        )
        up.wait_for("log", timeout=10, line="marker-after-restart")
