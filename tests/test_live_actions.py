"""Live reload on the real engine: each action's effect inside the container,
editor saves causing exactly one action, a slow exec getting exactly one
follow-up, ignores (defaults, nested .gitignore, rule ignores) causing none.

One `devrun up` serves the whole module (it is the expensive part); each test
waits for the previous actions to settle first."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import BUSYBOX, cleanup_project, devrun
from tests.live_helpers import DevrunUp, read, wait_until

APP = r"""
mkdir -p /state
echo "start $$$$" >> /state/starts
trap 'echo hup >> /state/hups' HUP
while :; do sleep 0.05; done
"""

CONFIG = f"""
services:
  app:
    image: {BUSYBOX}
    command: ["sh", "-c", {json.dumps(APP)}]
    volumes: ["./src:/src", "./state:/state"]
    stop_grace_period: 2s
    watch:
      - path: src/reload
        action: signal
        signal: HUP
      - path: src/code
        ignore: ["*.tmp"]
        action: restart
      - path: src/exec.txt
        action: exec
        exec: cp /src/exec.txt /state/exec-out
      - path: src/slow.txt
        action: exec
        exec: echo run >> /state/slow-runs; sleep 1.5
      - path: synced
        action: sync
        target: /synced
      - path: both
        action: sync+exec
        target: /both
        exec: cat /both/value > /state/both-out
      - path: both2
        action: sync+restart
        target: /both2
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory, docker_client):
    folder = tmp_path_factory.mktemp("live")
    (folder / "devrun.yaml").write_text(CONFIG)
    for d in ("src/reload", "src/code/pkg", "state", "synced/sub", "both", "both2"):
        (folder / d).mkdir(parents=True, exist_ok=True)
    (folder / "src/reload/handler.txt").write_text("v0")
    (folder / "src/code/main.txt").write_text("v0")
    (folder / "src/exec.txt").write_text("e0")
    (folder / "src/slow.txt").write_text("s0")
    (folder / "synced/index.html").write_text("initial")
    (folder / "synced/sub/deep.txt").write_text("deep")
    (folder / "both/value").write_text("b0")
    (folder / "both2/value").write_text("c0")
    # nested .gitignore with a negation, inside a watched folder
    (folder / "src/code/.gitignore").write_text("*.log\nbuild/\n!keep.log\n")
    project = f"tlive{os.getpid()}"
    up = DevrunUp(folder, project)
    try:
        up.wait_for("ready", timeout=60)
        wait_until(lambda: read(folder / "state/starts"), what="app started")
        yield up, folder
    finally:
        up.stop()
        cleanup_project(project)
        shutil.rmtree(folder / "state", ignore_errors=True)


def container_read(docker_client, project: str, path: str) -> str:
    c = docker_client.containers.get(f"{project}-app")
    code, out = c.exec_run(["cat", path])
    return out.decode() if code == 0 else ""


def test_initial_sync_brings_container_level_with_host(live, docker_client):
    up, folder = live
    assert container_read(docker_client, up.project, "/synced/index.html") == "initial"
    assert container_read(docker_client, up.project, "/synced/sub/deep.txt") == "deep"


def test_signal_reaches_the_app_without_restart(live):
    up, folder = live
    up.settle()
    starts = read(folder / "state/starts")
    (folder / "src/reload/handler.txt").write_text("v1")
    wait_until(lambda: "hup" in read(folder / "state/hups"), 5, what="HUP handled")
    assert read(folder / "state/starts") == starts  # no restart
    ev = up.wait_for("action_finished", action="signal SIGHUP")[-1]
    assert ev["ok"] and ev["paths"] == ["src/reload/handler.txt"]


def test_restart_restarts_the_app_process(live):
    up, folder = live
    up.settle()
    before = read(folder / "state/starts").count("start")
    (folder / "src/code/main.txt").write_text("v1")
    wait_until(lambda: read(folder / "state/starts").count("start") == before + 1, 10, what="app restarted")
    ev = up.wait_for("action_finished", service="app", action="restart (process)")[-1]
    assert ev["ok"]


def test_exec_runs_in_the_container(live):
    up, folder = live
    up.settle()
    (folder / "src/exec.txt").write_text("e1")
    wait_until(lambda: read(folder / "state/exec-out") == "e1", 10, what="exec output")


def test_sync_copies_creates_and_deletes(live, docker_client):
    up, folder = live
    up.settle()
    (folder / "synced/index.html").write_text("v2")
    (folder / "synced/new").mkdir()
    (folder / "synced/new/file.txt").write_text("fresh")
    os.chmod(folder / "synced/new/file.txt", 0o751)
    wait_until(
        lambda: container_read(docker_client, up.project, "/synced/new/file.txt") == "fresh",
        10,
        what="new file synced",
    )
    assert container_read(docker_client, up.project, "/synced/index.html") == "v2"
    c = docker_client.containers.get(f"{up.project}-app")
    assert c.exec_run(["stat", "-c", "%a", "/synced/new/file.txt"]).output.decode().strip() == "751"
    (folder / "synced/sub/deep.txt").unlink()
    wait_until(
        lambda: c.exec_run(["test", "-e", "/synced/sub/deep.txt"]).exit_code != 0, 10, what="delete synced"
    )


def test_sync_then_exec_and_sync_then_restart(live):
    up, folder = live
    up.settle()
    (folder / "both/value").write_text("b1")
    wait_until(lambda: read(folder / "state/both-out") == "b1", 10, what="sync+exec")
    before = read(folder / "state/starts").count("start")
    (folder / "both2/value").write_text("c1")
    wait_until(
        lambda: read(folder / "state/starts").count("start") == before + 1, 10, what="sync+restart restarted"
    )


def _one_action_for(up: DevrunUp, save) -> int:
    up.settle()
    before = len(up.actions("app"))
    save()
    time.sleep(0.4)
    return up.settle() - before


@pytest.mark.parametrize("pattern", ["in_place", "rename_over", "vim", "jetbrains", "sed_i"])
def test_each_editor_save_causes_exactly_one_action(live, pattern):
    up, folder = live
    target = folder / "src/code/main.txt"
    d = target.parent

    def save():
        if pattern == "in_place":
            with open(target, "w") as f:
                f.write("in place")
        elif pattern == "rename_over":
            tmp = d / ".main.txt.tmp123"
            tmp.write_text("renamed")
            os.replace(tmp, target)
        elif pattern == "vim":
            (d / "4913").write_text("")
            (d / "4913").unlink()
            os.replace(target, d / "main.txt~")
            target.write_text("vim")
            (d / "main.txt~").unlink()
        elif pattern == "jetbrains":
            (d / "main.txt___jb_tmp___").write_text("jb")
            os.replace(target, d / "main.txt___jb_old___")
            os.replace(d / "main.txt___jb_tmp___", target)
            (d / "main.txt___jb_old___").unlink()
        elif pattern == "sed_i":
            subprocess.run(["sed", "-i", "s/.*/sed/", str(target)], check=True)

    assert _one_action_for(up, save) == 1


def test_ignored_files_cause_no_action(live):
    up, folder = live
    code = folder / "src/code"

    def save_ignored():
        (code / "x.tmp").write_text("rule ignore")
        (code / "debug.log").write_text("nested .gitignore")
        (code / "build").mkdir(exist_ok=True)
        (code / "build/out.txt").write_text("ignored dir")
        (code / "__pycache__").mkdir(exist_ok=True)
        (code / "__pycache__/m.pyc").write_text("default ignore")
        (code / ".main.txt.swp").write_text("vim swap")

    assert _one_action_for(up, save_ignored) == 0
    # the negation in the nested .gitignore brings keep.log back
    assert _one_action_for(up, lambda: (code / "keep.log").write_text("kept")) == 1


def test_change_during_slow_exec_gets_exactly_one_follow_up(live):
    up, folder = live
    up.settle()
    slow = folder / "src/slow.txt"
    slow.write_text("1")
    wait_until(lambda: read(folder / "state/slow-runs").count("run") == 1, 10, what="first slow run")
    for i in range(5):  # while the first run sleeps
        slow.write_text(f"edit {i}")
        time.sleep(0.15)
    up.settle(quiet=1.0, timeout=30)
    assert read(folder / "state/slow-runs").count("run") == 2


def test_ps_counts_devrun_restarts(live):
    """devrun restarts apps itself (process mode) so the engine's RestartCount
    stays 0; ps counts them from the engine's event history. That history is
    the engine's last 256 events of all containers, so on a busy engine the
    oldest restarts drop out of it: the count is at least the last one."""
    up, folder = live
    up.settle()
    before = len(up.of("action_finished", action="restart (process)"))
    (folder / "src/code/main.txt").write_text("counted")  # one restart just now, inside the history
    up.wait_for("action_finished", action="restart (process)", count=before + 1)
    result = devrun("ps", "--json", "-p", up.project, cwd=folder)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["restart_count"] >= 1 and row["restart_mode"] == "process"
