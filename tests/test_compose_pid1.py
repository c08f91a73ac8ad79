"""An image that must run as PID 1 (s6-overlay images refuse anything else)
runs from a compose file under devrun as under compose: the in-place restart
wrapper is used only where a watch rule restarts the app, and
`x-devrun: {restart_mode: container}` keeps it out even then."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import BUSYBOX, cleanup_project
from tests.live_helpers import wait_until

pytestmark = pytest.mark.docker

INIT = 'if [ "$$" != 1 ]; then echo "refused: pid $$, not 1"; exit 1; fi\necho "running as pid 1"\nexec sleep 3600\n'


def compose_binary() -> str | None:
    from tests.compose_diff import compose_binary as found

    return found()


def write(folder, name: str, extra: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(
        f'FROM {BUSYBOX}\nCOPY init.sh /init.sh\nENTRYPOINT ["/bin/sh", "/init.sh"]\n'
    )
    (folder / "init.sh").write_text(INIT)
    (folder / "src").mkdir(exist_ok=True)
    (folder / "compose.yaml").write_text(f"name: {name}\nservices:\n  app:\n    build: .\n{extra}")


def state(docker_client, label: str, name: str) -> tuple[str, str]:
    (c,) = docker_client.containers.list(all=True, filters={"label": f"{label}={name}"})
    return c.status, c.logs().decode()


def up(argv: list[str], folder) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*argv, "up", "-d"],
        cwd=folder,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )


WATCHED = """    develop:
      watch:
        - path: ./src
          action: sync+restart
          target: /src
"""


@pytest.mark.parametrize(
    "extra",
    ["", WATCHED + "    x-devrun:\n      restart_mode: container\n"],
    ids=["no-restart-rule", "restart-rule-container-mode"],
)
def test_an_image_that_must_be_pid_1_runs_as_under_compose(tmp_path, docker_client, extra):
    tag = uuid.uuid4().hex[:8]
    devrun_name, compose_name = f"tpidd{tag}", f"tpidc{tag}"
    compose = compose_binary()
    try:
        write(tmp_path / "d", devrun_name, extra)
        r = up([sys.executable, "-m", "devrun"], tmp_path / "d")
        assert r.returncode == 0, r.stderr
        got = wait_until(
            lambda: (s := state(docker_client, "dev.devrun.project", devrun_name))[1] and s,
            30,
            what="the app's line",
        )
        assert got[0] == "running" and "running as pid 1" in got[1], got
        if compose is not None:
            write(tmp_path / "c", compose_name, extra)
            r = up([compose], tmp_path / "c")
            assert r.returncode == 0, r.stderr
            want = wait_until(
                lambda: (s := state(docker_client, "com.docker.compose.project", compose_name))[1] and s,
                30,
                what="compose's app line",
            )
            assert want == got
    finally:
        cleanup_project(devrun_name)
        cleanup_project(compose_name, "com.docker.compose.project")
        for name in (devrun_name, compose_name):
            with contextlib.suppress(Exception):
                docker_client.images.remove(f"{name}-app", force=True)
