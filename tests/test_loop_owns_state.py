"""One owner for the running state: a rebuild (on its worker), a config reload
(on the loop) and a restart, all at once while edits keep arriving, leave
devrun following the one current container, and every edit lands in it."""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from tests.conftest import BUSYBOX
from tests.live_helpers import DevrunUp, exec_out, wait_until, write_files

pytestmark = pytest.mark.docker


def config(greeting: str) -> str:
    return f"""
services:
  app:
    build: .
    command: ["sh", "-c", "echo started $$GREETING; exec sleep 3600"]
    environment:
      GREETING: {greeting}
    watch:
      - path: Dockerfile
        action: rebuild
      - path: src
        action: sync
        target: /src
      - path: src/restart.txt
        action: restart
"""


def test_rebuild_reload_and_restart_at_once_leave_one_current_container(
    tmp_path, project_name, docker_client
):
    write_files(
        tmp_path,
        {
            "devrun.yaml": config("one"),
            "Dockerfile": f"FROM {BUSYBOX}\nLABEL generation=1\n",
            "src/restart.txt": "0",
        },
    )
    try:
        with DevrunUp(tmp_path, project_name) as up:
            up.wait_for("ready", timeout=90)
            # all at once: a rebuild, a config reload that recreates, a restart, and edits arriving
            (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nLABEL generation=2\n")
            (tmp_path / "devrun.yaml").write_text(config("two"))
            (tmp_path / "src/restart.txt").write_text("1")
            for i in range(30):
                (tmp_path / "src" / f"f{i % 5}.txt").write_text(f"{i}")
                time.sleep(0.1)
            up.wait_for("config_reloaded", timeout=90)
            up.wait_for("action_finished", timeout=90, action="rebuild")
            up.settle(quiet=2.0, timeout=120)
            # one more edit once everything settled: it lands in the current container too
            (tmp_path / "src/after.txt").write_text("after")
            up.wait_for("action_finished", timeout=30, paths=["src/after.txt"])

            current = [
                c
                for c in docker_client.containers.list(
                    all=True, filters={"label": f"dev.devrun.project={project_name}"}
                )
            ]
            assert len(current) == 1, [c.name for c in current]
            app = current[0]
            assert app.status == "running"
            started = up.of("service_started", service="app")
            assert started[-1]["container"] == app.id, (started, app.id)  # the loop follows this one
            assert app.image.labels.get("generation") == "2"
            name = app.name
            assert exec_out(docker_client, name, "sh", "-c", "echo $GREETING").strip() == "two"
            for k in range(5):
                want = str(max(i for i in range(30) if i % 5 == k))
                got = wait_until(
                    lambda k=k, want=want: (
                        exec_out(docker_client, name, "cat", f"/src/f{k}.txt") == want or None
                    ),
                    10,
                    what=f"/src/f{k}.txt = {want}",
                )
                assert got
            assert exec_out(docker_client, name, "cat", "/src/after.txt") == "after"
            failed = [a for a in up.actions() if not a.get("ok")]
            assert failed == [], failed
            assert up.of("error") == [], up.of("error")
            assert up.of("container_exited") == [], up.of("container_exited")
            said = json.dumps(up.of("warning") + up.of("info"))
            assert "outside devrun" not in said, said
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(f"{project_name}-app", force=True)
