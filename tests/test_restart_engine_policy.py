"""`restart:` is the engine's own restart policy, as compose sets it, so a
crash is restarted after `up -d` too; an attached `up` leaves the restart to
the engine and only reports it (tests/test_faults_crash.py), and a stop devrun
makes stays a stop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devrun.plan import engine_policy
from devrun.session.restart_policy import engine_restarts
from tests.conftest import BUSYBOX, LABEL_PROJECT, cleanup_project, devrun
from tests.live_helpers import DevrunUp, wait_until, write_files
from tests.test_compose_hooks import compose

IDLE = '["sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 0.1; done"]'


def test_the_policy_and_who_restarts() -> None:
    assert engine_policy("no") is None
    assert engine_policy("on-failure:3") == ("on-failure", 3)
    assert engine_policy("unless-stopped") == ("unless-stopped", 0)
    assert engine_restarts("always", 0, 5) and engine_restarts("unless-stopped", 0, 0)
    assert engine_restarts("on-failure", 1, 9) and not engine_restarts("on-failure", 0, 0)
    assert engine_restarts("on-failure:2", 1, 1) and not engine_restarts("on-failure:2", 1, 2)
    assert not engine_restarts("no", 1, 0)


def test_a_policy_devrun_does_not_know_is_an_error(tmp_path: Path) -> None:
    write_files(
        tmp_path, {"compose.yaml": f"services:\n  a:\n    image: {BUSYBOX}\n    restart: sometimes\n"}
    )
    r = devrun("config", cwd=tmp_path)
    assert (
        r.returncode == 2 and "restart is no, always, unless-stopped, on-failure or on-failure:N" in r.stderr
    )


POLICIES = {"a": "always", "b": "unless-stopped", "c": "on-failure:2", "d": "on-failure", "e": '"no"'}


@pytest.mark.docker
def test_the_engine_policy_is_the_one_compose_sets(tmp_path: Path, project_name: str, docker_client) -> None:
    services = "".join(
        f"  {name}:\n    image: {BUSYBOX}\n    command: {IDLE}\n    restart: {policy}\n"
        for name, policy in POLICIES.items()
    )
    write_files(tmp_path, {"compose.yaml": f"services:\n{services}"})
    theirs = f"{project_name}c"

    def policies(label: str, project: str) -> dict[str, dict]:
        found = docker_client.containers.list(all=True, filters={"label": f"{label}={project}"})
        key = "com.docker.compose.service" if label.startswith("com.") else "dev.devrun.service"
        return {c.labels[key]: c.attrs["HostConfig"]["RestartPolicy"] for c in found}

    try:
        r = compose(tmp_path, theirs, "create")
        assert r.returncode == 0, r.stderr
        r = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        ours = policies(LABEL_PROJECT, project_name)
        assert ours == policies("com.docker.compose.project", theirs)
        assert ours["c"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    finally:
        cleanup_project(theirs, "com.docker.compose.project")
        devrun("down", "-p", project_name, "-t", "0", cwd=tmp_path)


@pytest.mark.docker
def test_after_up_d_the_engine_restarts_a_crash(tmp_path: Path, project_name: str, docker_client) -> None:
    """on-failure:2: the first run and two restarts, then it stays down."""
    write_files(
        tmp_path,
        {
            "compose.yaml": f"""
services:
  crash:
    image: {BUSYBOX}
    command: ["sh", "-c", "echo run >> /data/runs; exit 3"]
    restart: on-failure:2
    volumes: [data:/data]
volumes:
  data:
"""
        },
    )
    try:
        r = devrun("up", "-d", "-p", project_name, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        (c,) = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={project_name}"})

        def settled() -> bool:
            c.reload()
            return c.attrs["RestartCount"] == 2 and c.status == "exited"

        wait_until(settled, 20, what="two engine restarts, then exited")
        out = docker_client.containers.run(
            BUSYBOX, ["cat", "/data/runs"], volumes={f"{project_name}_data": {"bind": "/data"}}, remove=True
        )
        assert out.decode().split() == ["run"] * 3
    finally:
        devrun("down", "-v", "-p", project_name, "-t", "0", cwd=tmp_path)


@pytest.mark.docker
def test_a_stop_devrun_makes_stays_a_stop(tmp_path: Path, project_name: str, docker_client) -> None:
    """restart: always, attached: Ctrl-C stops it and the engine leaves it stopped."""
    write_files(
        tmp_path,
        {
            "devrun.yaml": f"services:\n  app:\n    image: {BUSYBOX}\n    command: {IDLE}\n    restart: always\n"
        },
    )
    try:
        with DevrunUp(tmp_path, project_name) as up:
            up.wait_for("ready", timeout=60)
            assert up.stop() is not None
        time.sleep(1.0)
        (c,) = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={project_name}"})
        assert c.status == "exited" and c.attrs["RestartCount"] == 0
        assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"
    finally:
        devrun("down", "-p", project_name, "-t", "0", cwd=tmp_path)
